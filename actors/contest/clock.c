/* The contest clock: when a contest's start, freeze or end comes, it is
 * written once as cc.evt.contest.state (outbox), so the event log holds
 * the transition as a fact and the read model (the CLICS state object,
 * the feed) never reads a clock of its own. Each tick, in call order:
 *   due contests (a transition past, not yet written) -> for the first
 *   one: its flags updated where they still are what was read, and the
 *   event, in one transaction -> the next one, until none is left.
 * The conditional update makes two clocks (a replica starting while the
 * old one drains) write each transition once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "contest.h"

typedef struct tick_ctx {
    con_state *st;
    char id[72];
    int64_t start, duration, freeze;
    bool started, frozen, ended;     /* as read */
    bool wrote;
} tick_ctx;

static void look(con_state *st);

static void written(cc_status s, const char *errmsg, void *ud)
{
    tick_ctx *t = ud;
    con_state *st = t->st;
    if (s != CC_OK)
        cc_log(CC_LOG_WARN, NULL, "contest state not written; next tick retries", "{s:s, s:s}",
               "contest", t->id, "error", errmsg ? errmsg : cc_status_str(s));
    bool again = s == CC_OK && t->wrote;
    free(t);
    st->clock_busy = false;
    if (again && !st->stopping)
        look(st); /* another contest may be due too */
}

static void updated(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    tick_ctx *t = ud;
    t->wrote = s == CC_OK && cc_pg_affected(r) == 1;
}

static void write_due(con_state *st, tick_ctx *t)
{
    int64_t now = con_now_ms(), start = t->start * 1000, end = (t->start + t->duration) * 1000,
            freeze = t->freeze > 0 ? end - t->freeze * 1000 : 0;
    bool started = now >= start, frozen = t->freeze > 0 && now >= freeze, ended = now >= end;
    cc_pg_tx *tx;
    if (cc_pg_begin(st->rm.pg, &tx) != CC_OK) {
        written(CC_UNAVAILABLE, cc_err_msg(), t);
        return;
    }
    char sv[8], fv[8], ev[8];
    snprintf(sv, sizeof sv, "%s", t->started ? "t" : "f");
    snprintf(fv, sizeof fv, "%s", t->frozen ? "t" : "f");
    snprintf(ev, sizeof ev, "%s", t->ended ? "t" : "f");
    cc_pg_param p[] = {CC_PG_TEXT(t->id), CC_PG_TEXT(sv), CC_PG_TEXT(fv), CC_PG_TEXT(ev),
                       CC_PG_TEXT(started ? "t" : "f"), CC_PG_TEXT(frozen || !t->freeze ? "t" : "f"),
                       CC_PG_TEXT(ended ? "t" : "f")};
    cc_pg_tx_query(tx,
                   "UPDATE contests SET started_sent = $5::boolean, frozen_sent = $6::boolean, "
                   "ended_sent = $7::boolean WHERE id = $1 AND started_sent = $2::boolean "
                   "AND frozen_sent = $3::boolean AND ended_sent = $4::boolean",
                   p, 7, updated, t);
    Codecourt__V1__ContestStateChanged e = CODECOURT__V1__CONTEST_STATE_CHANGED__INIT;
    e.contest = t->id;
    e.started_at_ms = started ? start : 0;
    e.frozen_at_ms = frozen ? freeze : 0;
    e.ended_at_ms = ended ? end : 0;
    char msg_id[128];
    snprintf(msg_id, sizeof msg_id, "state-%s-%d%d%d-%" PRId64, t->id, started, frozen, ended,
             t->start);
    con_emit(tx, NULL, CON_EVT_STATE, &e.base, msg_id);
    cc_pg_tx_commit(tx, written, t);
}

static void got_due(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    con_state *st = ud;
    if (s != CC_OK || cc_pg_nrows(r) == 0 || st->stopping) {
        st->clock_busy = false;
        return;
    }
    tick_ctx *t = calloc(1, sizeof *t);
    if (!t) {
        st->clock_busy = false;
        return;
    }
    t->st = st;
    snprintf(t->id, sizeof t->id, "%s", cc_pg_get(r, 0, 0));
    t->start = strtoll(cc_pg_get(r, 0, 1), NULL, 10);
    t->duration = strtoll(cc_pg_get(r, 0, 2), NULL, 10);
    t->freeze = strtoll(cc_pg_get(r, 0, 3), NULL, 10);
    t->started = cc_pg_get(r, 0, 4)[0] == 't';
    t->frozen = cc_pg_get(r, 0, 5)[0] == 't';
    t->ended = cc_pg_get(r, 0, 6)[0] == 't';
    write_due(st, t);
}

static void look(con_state *st)
{
    if (st->clock_busy || st->stopping || !st->rm.pg)
        return;
    st->clock_busy = true;
    char now[32];
    snprintf(now, sizeof now, "%" PRId64, con_now_ms());
    cc_pg_param p[] = {CC_PG_TEXT(now)};
    /* A contest is due when a transition has come and its flag is unset
     * (a contest without a freeze has frozen_sent set with its start). */
    cc_status s = cc_pg_query(
        st->rm.pg,
        "SELECT id, start_time, duration_s, freeze_s, started_sent, frozen_sent, ended_sent "
        "FROM contests WHERE NOT (started_sent AND frozen_sent AND ended_sent) "
        "AND ((NOT started_sent AND start_time * 1000 <= $1::bigint) "
        "OR (NOT frozen_sent AND (freeze_s = 0 AND start_time * 1000 <= $1::bigint "
        "OR freeze_s > 0 AND (start_time + duration_s - freeze_s) * 1000 <= $1::bigint)) "
        "OR (NOT ended_sent AND (start_time + duration_s) * 1000 <= $1::bigint)) "
        "ORDER BY start_time, id LIMIT 1",
        p, 1, got_due, st);
    if (s != CC_OK)
        st->clock_busy = false;
}

static void on_tick(uv_timer_t *t)
{
    look(t->data);
}

cc_status con_clock_start(con_state *st)
{
    uv_timer_init(cc_actor_loop(st->actor), &st->clock);
    st->clock.data = st;
    st->clock_open = true;
    uint64_t every = (uint64_t)(st->cfg->clock_ms > 0 ? st->cfg->clock_ms : 1000);
    uv_timer_start(&st->clock, on_tick, 0, every);
    return CC_OK;
}

void con_clock_stop(con_state *st)
{
    if (!st->clock_open)
        return;
    st->clock_open = false;
    uv_timer_stop(&st->clock);
    uv_close((uv_handle_t *)&st->clock, NULL);
}
