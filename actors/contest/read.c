/* The reads. The write side's tables answer GetContest, ListContests,
 * ListTeams and CheckSubmission (exact: a registration just made counts
 * at once); the read model answers GetScoreboard, the CLICS API and the
 * event feed (each reflects CC_EVENTS up to its position, milliseconds
 * behind the write side). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "contest.h"

typedef struct rd_ctx {
    cc_rpc_call *call;
    con_state *st;
    char who[64];
    con_role role;
    const char *id;
} rd_ctx;

static rd_ctx *ctx_new(cc_rpc_call *call, void *actor)
{
    rd_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = con_state_of(actor);
    c->role = con_principal(call, c->who);
    return c;
}

/* What a reader who is not jury may see of a definition. */
static void for_viewer(Codecourt__V1__Contest *d, const char *who, con_role role,
                       const char *my_team)
{
    d->is_jury = con_def_jury(d, who, role);
    d->my_team = (char *)my_team;
    if (!d->is_jury) {
        d->invite_code = "";
        d->n_jury = 0;
    }
}

/* ---- GetContest ---------------------------------------------------------------- */

static void got_contest(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    rd_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "load contest");
        return;
    }
    Codecourt__V1__Contest *d = cc_pg_nrows(r) == 1 ? con_def_of(c->call, r, 0, 0) : NULL;
    const char *team = d ? cc_arena_strdup(cc_rpc_arena(c->call), cc_pg_get(r, 0, 1)) : NULL;
    if (!d || !team || (!d->public_ && !team[0] && !con_def_jury(d, c->who, c->role))) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "no contest '%s'", c->id);
        return;
    }
    for_viewer(d, c->who, c->role, team);
    cc_rpc_reply(c->call, &d->base);
}

void con_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetContestRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    c->id = rq->id;
    if (!con_slug_ok(rq->id)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "no contest '%.64s'", rq->id);
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->id), CC_PG_TEXT(c->who)};
    cc_status s = cc_pg_query(c->st->rm.pg,
                              "SELECT c.def, coalesce(m.team, '') FROM contests c LEFT JOIN "
                              "team_members m ON m.contest = c.id AND m.user_id = $2 "
                              "WHERE c.id = $1",
                              p, 2, got_contest, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "load contest");
}

/* ---- ListContests ------------------------------------------------------------------- */

typedef struct list_ctx {
    rd_ctx *c;
    int size;
} list_ctx;

static void got_list(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *l = ud;
    rd_ctx *c = l->c;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "list contests");
        return;
    }
    cc_arena *a = cc_rpc_arena(c->call);
    int n = cc_pg_nrows(r), shown = n > l->size ? l->size : n;
    Codecourt__V1__ContestList *out = cc_arena_alloc(a, sizeof *out);
    Codecourt__V1__Contest **v = cc_arena_alloc(a, (size_t)(shown ? shown : 1) * sizeof *v);
    if (!out || !v) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__contest_list__init(out);
    for (int i = 0; i < shown; i++) {
        Codecourt__V1__Contest *d = con_def_of(c->call, r, i, 0);
        if (!d) {
            cc_rpc_fail(c->call, CC_INTERNAL, "stored contest unreadable");
            return;
        }
        for_viewer(d, c->who, c->role, cc_arena_strdup(a, cc_pg_get(r, i, 1)));
        v[out->n_contests++] = d;
    }
    out->contests = v;
    out->next_cursor = "";
    if (n > l->size && shown > 0) {
        char cur[128];
        snprintf(cur, sizeof cur, "%" PRId64 ".%s", v[shown - 1]->start_at, v[shown - 1]->id);
        out->next_cursor = cc_arena_strdup(a, cur);
    }
    cc_rpc_reply(c->call, &out->base);
}

void con_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListContestsRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    list_ctx *l = c ? cc_arena_alloc(cc_rpc_arena(call), sizeof *l) : NULL;
    if (!c || !l) {
        if (c)
            cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    l->c = c;
    l->size = rq->page_size > 0 && rq->page_size <= 100 ? rq->page_size : 20;
    /* The cursor is "<start>.<id>" of the last one shown. */
    char start[32] = "9223372036854775807", after[80] = "";
    if (rq->cursor[0]) {
        const char *dot = strchr(rq->cursor, '.');
        if (!dot || dot - rq->cursor >= 20 || strlen(dot + 1) >= sizeof after) {
            cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor of this list");
            return;
        }
        snprintf(start, sizeof start, "%.*s", (int)(dot - rq->cursor), rq->cursor);
        snprintf(after, sizeof after, "%s", dot + 1);
        for (const char *p = start; *p; p++)
            if (*p < '0' || *p > '9') {
                cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor of this list");
                return;
            }
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%d", l->size + 1);
    cc_pg_param p[] = {CC_PG_TEXT(c->who), CC_PG_TEXT(c->role == CON_ADMIN ? "t" : "f"),
                       CC_PG_TEXT(start), CC_PG_TEXT(after), CC_PG_TEXT(lim)};
    cc_status s = cc_pg_query(
        c->st->rm.pg,
        "SELECT c.def, coalesce(m.team, '') FROM contests c LEFT JOIN team_members m "
        "ON m.contest = c.id AND m.user_id = $1 "
        "WHERE (c.public OR $2::boolean OR m.team IS NOT NULL OR c.owner_id = $1 "
        "OR $1 = ANY(c.jury)) AND (c.start_time < $3::bigint OR (c.start_time = $3::bigint "
        "AND c.id > $4)) ORDER BY c.start_time DESC, c.id LIMIT $5::int",
        p, 5, got_list, l);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list contests");
}

/* ---- ListTeams ---------------------------------------------------------------------- */

static void got_teams(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    rd_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "list teams");
        return;
    }
    cc_arena *a = cc_rpc_arena(c->call);
    int n = cc_pg_nrows(r);
    /* Row 0 of every result carries the contest's definition and the
     * caller's team: who may read, and whose members show. */
    Codecourt__V1__Contest *d = n > 0 ? con_def_of(c->call, r, 0, 0) : NULL;
    const char *mine = n > 0 ? cc_pg_get(r, 0, 1) : "";
    if (!d || (!d->public_ && !mine[0] && !con_def_jury(d, c->who, c->role))) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "no contest '%s'", c->id);
        return;
    }
    bool jury = con_def_jury(d, c->who, c->role);
    Codecourt__V1__TeamList *out = cc_arena_alloc(a, sizeof *out);
    Codecourt__V1__Team **v = cc_arena_alloc(a, (size_t)(n ? n : 1) * sizeof *v);
    if (!out || !v) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__team_list__init(out);
    for (int i = 0; i < n; i++) {
        if (cc_pg_isnull(r, i, 2))
            continue; /* the contest has no team yet */
        Codecourt__V1__Team *t = cc_arena_alloc(a, sizeof *t);
        if (!t) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
        codecourt__v1__team__init(t);
        t->contest = (char *)c->id;
        t->id = cc_arena_strdup(a, cc_pg_get(r, i, 2));
        t->name = cc_arena_strdup(a, cc_pg_get(r, i, 3));
        t->organization = cc_arena_strdup(a, cc_pg_get(r, i, 4));
        t->hidden = cc_pg_get(r, i, 5)[0] == 't';
        /* Members: for the jury and the team itself. */
        if (jury || !strcmp(t->id, mine)) {
            json_t *ms = json_loads(cc_pg_get(r, i, 6), 0, NULL);
            size_t nm = json_array_size(ms);
            t->members = cc_arena_alloc(a, (nm ? nm : 1) * sizeof *t->members);
            for (size_t k = 0; t->members && k < nm; k++)
                t->members[t->n_members++] =
                    cc_arena_strdup(a, json_string_value(json_array_get(ms, k)));
            json_decref(ms);
        }
        if (t->hidden && !jury)
            continue;
        v[out->n_teams++] = t;
    }
    out->teams = v;
    cc_rpc_reply(c->call, &out->base);
}

void con_list_teams(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListTeamsRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    c->id = rq->contest;
    if (!con_slug_ok(rq->contest)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "no contest '%.64s'", rq->contest);
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->contest), CC_PG_TEXT(c->who)};
    cc_status s = cc_pg_query(
        c->st->rm.pg,
        "SELECT c.def, coalesce((SELECT team FROM team_members WHERE contest = c.id "
        "AND user_id = $2), ''), t.id, t.name, t.organization, t.hidden, "
        "coalesce((SELECT json_agg(user_id ORDER BY user_id) FROM team_members "
        "WHERE contest = c.id AND team = t.id), '[]')::text "
        "FROM contests c LEFT JOIN teams t ON t.contest = c.id WHERE c.id = $1 ORDER BY t.id",
        p, 2, got_teams, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list teams");
}

/* ---- the read model ----------------------------------------------------------------- */

/* The contest as the read model has it, when the caller may read it:
 * else the call is answered (404) and NULL returned. */
static con_contest *readable(rd_ctx *c, const char *id, con_viewer *v)
{
    con_contest *k = con_slug_ok(id) ? con_model_contest(c->st->model, id) : NULL;
    if (!k || !con_viewer_for(k, c->who, c->role == CON_ADMIN, v)) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "no contest '%.64s'", id);
        return NULL;
    }
    return k;
}

void con_get_scoreboard(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetScoreboardRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    con_viewer v;
    con_contest *k = readable(c, rq->contest, &v);
    if (!k)
        return;
    Codecourt__V1__Scoreboard *b =
        con_scoreboard(cc_rpc_arena(call), k, v.jury && !rq->public_view,
                       cc_projection_applied(c->st->rm.proj), con_now_ms());
    if (!b) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    cc_rpc_reply(call, &b->base);
}

void con_clics(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ClicsRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    int status = 200;
    char *body = con_clics_get(c->st->model, rq, c->who, c->role == CON_ADMIN, &status);
    if (!body) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    Codecourt__V1__RawResponse out = CODECOURT__V1__RAW_RESPONSE__INIT;
    out.content_type = "application/json";
    out.body.data = (uint8_t *)body;
    out.body.len = strlen(body);
    out.status = status;
    cc_rpc_reply(call, &out.base);
    free(body);
}

void con_event_feed(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__EventFeedRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    con_viewer v;
    con_contest *k = readable(c, rq->contest, &v);
    if (!k)
        return;
    uint64_t since = 0;
    if (rq->since_token[0]) {
        char *end;
        since = strtoull(rq->since_token, &end, 10);
        if (*end || rq->since_token[0] == '-' || strlen(rq->since_token) > 20) {
            cc_rpc_fail(call, CC_INVALID, "since_token: not a token of this feed");
            return;
        }
    }
    int limit = rq->limit > 0 && rq->limit <= 5000 ? rq->limit : 1000;
    char *text = NULL;
    size_t len = 0;
    uint64_t last = since;
    bool more = false;
    cc_status s = con_feed_page(c->st->model, k, &v, since, limit, rq->types, &text, &len, &last,
                                &more);
    if (s != CC_OK) {
        cc_rpc_fail(call, s, "%s", cc_err_msg());
        return;
    }
    char tok[32];
    snprintf(tok, sizeof tok, "%" PRIu64, last);
    Codecourt__V1__EventFeedPage out = CODECOURT__V1__EVENT_FEED_PAGE__INIT;
    out.ndjson.data = (uint8_t *)text;
    out.ndjson.len = len;
    out.last_token = len ? tok : "";
    out.more = more;
    out.jury = v.jury;
    cc_rpc_reply(call, &out.base);
    free(text);
}

/* ---- CheckSubmission ------------------------------------------------------------------ */

static void checked(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    rd_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "check contest");
        return;
    }
    if (cc_pg_nrows(r) != 1) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "no contest '%s'", c->id);
        return;
    }
    Codecourt__V1__Contest *d = con_def_of(c->call, r, 0, 0);
    if (!d) {
        cc_rpc_fail(c->call, CC_INTERNAL, "stored contest unreadable");
        return;
    }
    const char *team = cc_pg_get(r, 0, 1);
    const char *problem = cc_pg_get(r, 0, 2);
    int64_t now = con_now_ms(), start = d->start_at * 1000,
            end = (d->start_at + d->duration_s) * 1000;
    char when[40];
    if (!team[0]) {
        cc_rpc_fail(c->call, CC_DENIED, "you do not take part in contest '%s' (register first)",
                    d->id);
        return;
    }
    const Codecourt__V1__ContestProblem *p = NULL;
    for (size_t i = 0; i < d->n_problems && !p; i++)
        if (!strcmp(d->problems[i]->problem, problem))
            p = d->problems[i];
    if (!p) {
        cc_rpc_fail(c->call, CC_DENIED, "problem '%s' is not in contest '%s'", problem, d->id);
        return;
    }
    if (now < start) {
        con_iso_time(start, when);
        cc_rpc_fail(c->call, CC_DENIED, "contest '%s' has not started: it starts at %s", d->id,
                    when);
        return;
    }
    if (now >= end) {
        con_iso_time(end, when);
        cc_rpc_fail(c->call, CC_DENIED, "contest '%s' ended at %s", d->id, when);
        return;
    }
    Codecourt__V1__CheckSubmissionReply out = CODECOURT__V1__CHECK_SUBMISSION_REPLY__INIT;
    out.team = (char *)team;
    out.label = p->label;
    cc_rpc_reply(c->call, &out.base);
}

void con_check_submission(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__CheckSubmissionRequest *rq = (const void *)req;
    rd_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    /* Only cc-submission asks, as itself: NATS vouched for the caller, so
     * the user id it names is the submitter. */
    const char *caller = cc_rpc_caller(call);
    if (!caller || strcmp(caller, "submission") != 0) {
        cc_rpc_fail(call, CC_DENIED, "CheckSubmission is cc-submission's");
        return;
    }
    c->id = rq->contest;
    if (!con_slug_ok(rq->contest)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "no contest '%.64s'", rq->contest);
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->contest), CC_PG_TEXT(rq->user_id), CC_PG_TEXT(rq->problem)};
    cc_status s = cc_pg_query(c->st->rm.pg,
                              "SELECT c.def, coalesce(m.team, ''), $3::text FROM contests c "
                              "LEFT JOIN team_members m ON m.contest = c.id AND m.user_id = $2 "
                              "WHERE c.id = $1",
                              p, 3, checked, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "check contest");
}
