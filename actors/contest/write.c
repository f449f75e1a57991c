/* What cc-contest's write requests share (admin.c, clar.c): the head of
 * their context (the call, the caller, the transaction, the first
 * refusal), the checks each makes first, and the end of the transaction:
 * a commit when nothing was refused, else a rollback, then the answer,
 * the refusal, or what the database said. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contest.h"

void *con_write_new(cc_rpc_call *call, void *actor, size_t size, con_write_reply reply,
                    const char *what)
{
    con_write *w = cc_arena_alloc(cc_rpc_arena(call), size);
    if (!w) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return NULL;
    }
    memset(w, 0, size);
    w->call = call;
    w->st = con_state_of(actor);
    w->role = con_principal(call, w->who);
    w->reply = reply;
    w->what = what;
    return w;
}

bool con_write_check(con_write *w, const char *contest, const char *anon_msg)
{
    if (w->role == CON_ANON) {
        cc_rpc_fail(w->call, CC_UNAUTHENTICATED, "%s", anon_msg);
        return false;
    }
    if (!con_slug_ok(contest)) {
        cc_rpc_fail(w->call, CC_NOT_FOUND, "no contest '%.64s'", contest);
        return false;
    }
    return true;
}

bool con_write_begin(con_write *w, const char *what)
{
    cc_status s = cc_pg_begin(w->st->rm.pg, &w->tx);
    if (s != CC_OK) {
        cc_rpc_fail_db(w->call, s, cc_err_msg(), what);
        return false;
    }
    return true;
}

void con_write_refuse(con_write *w, cc_status s, const char *fmt, ...)
{
    if (w->err != CC_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
    va_end(ap);
    w->err = s;
}

bool con_write_ok(con_write *w, cc_status s)
{
    if (s != CC_OK && w->err == CC_OK)
        w->err = s;
    return w->err == CC_OK;
}

static void committed(cc_status s, const char *errmsg, void *ud)
{
    con_write *w = ud;
    if (s == CC_OK && w->err != CC_OK)
        s = w->err;
    if (s == CC_OK)
        w->reply(w);
    else if (w->errmsg[0])
        cc_rpc_fail(w->call, s, "%s", w->errmsg);
    else if (s == CC_EXISTS && w->exists)
        cc_rpc_fail(w->call, s, "%s", w->exists);
    else
        cc_rpc_fail_db(w->call, s, errmsg ? errmsg : cc_err_msg(), w->what);
}

void con_write_end(con_write *w)
{
    if (w->err != CC_OK)
        cc_pg_tx_rollback(w->tx, committed, w);
    else
        cc_pg_tx_commit(w->tx, committed, w);
}
