/* Rows into a call's messages (cc/pg.h): a value's text in the call's
 * arena, numbers and booleans, and "one row or not found"; and the array
 * literals many rows are written with; so no actor keeps its own copy of
 * these. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "cc/bus.h"
#include "cc/pg.h"

char *cc_pg_text(cc_arena *a, const cc_pg_result *r, int row, int col)
{
    return cc_arena_strndup(a, cc_pg_get(r, row, col), (size_t)cc_pg_len(r, row, col));
}

int64_t cc_pg_int(const cc_pg_result *r, int row, int col)
{
    int64_t v = 0;
    if (cc_pg_get_int64(r, row, col, &v) != CC_OK)
        return 0;
    return v;
}

bool cc_pg_bool(const cc_pg_result *r, int row, int col)
{
    return cc_pg_get(r, row, col)[0] == 't';
}

bool cc_rpc_one_row(cc_rpc_call *call, cc_status s, const char *errmsg, const cc_pg_result *r,
                    const char *what, const char *fmt, ...)
{
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, what);
        return false;
    }
    if (cc_pg_nrows(r) == 1)
        return true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cc_rpc_fail(call, CC_NOT_FOUND, "%s", msg);
    return false;
}

void cc_pg_array_add(cc_buf *b, const char *v)
{
    cc_buf_put(b, b->len ? ",\"" : "{\"", 2);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            cc_buf_put(b, "\\", 1);
        cc_buf_put(b, p, 1);
    }
    cc_buf_put(b, "\"", 1);
}

void cc_pg_array_num(cc_buf *b, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%" PRId64, v);
    cc_pg_array_add(b, t);
}

const char *cc_pg_array_end(cc_buf *b)
{
    if (!b->len)
        cc_buf_put(b, "{", 1);
    cc_buf_put(b, "}", 1);
    return b->oom ? NULL : b->p;
}
