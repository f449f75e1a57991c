/* The write side's requests: CreateContest, PutContest, Unfreeze,
 * RegisterForContest and PutTeam. Each runs in call order:
 *   validate -> (contests: each problem looked up in cc-problem as the
 *   caller sees it) -> one transaction: read the row FOR UPDATE, decide,
 *   write it and its cc.evt.contest.* event (outbox) -> answer.
 * The read model learns of every change only from the event. The
 * context's head, the first checks and the end of the transaction are
 * write.c's (con_write), shared with clar.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "codecourt/v1/problem.pb-c.h"
#include "contest.h"

typedef struct wr_ctx wr_ctx;
typedef void (*wr_step)(wr_ctx *c);

struct wr_ctx {
    con_write w;                     /* first: the call, the caller, the transaction */
    Codecourt__V1__Contest *def;     /* the definition asked for (create, put) */
    Codecourt__V1__Contest *old;     /* the stored one, unpacked in the arena */
    size_t next_problem;             /* the problem being looked up */
    const char *contest_id;          /* for messages */
    char exists[120];                /* create: the id is taken */
    bool created;                    /* register made a new team */
    /* register and put team */
    const Codecourt__V1__ContestRegisterRequest *reg;
    const Codecourt__V1__PutTeamRequest *put_team;
    char my_team[64];
    int64_t next_team;
    bool team_found;
    Codecourt__V1__Team team;        /* what the team becomes */
    char team_id[40];
    char **members;
    size_t nmembers;
    Codecourt__V1__Contest reply;
};

static void problems_next(wr_ctx *c, wr_step then);

/* ---- validation --------------------------------------------------------------- */

static bool rgb_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return true;
    if (s[0] != '#' || (n != 4 && n != 7))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    return true;
}

static bool label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* Checks what a contest may be; fails the call and returns false when not. */
static bool valid_contest(cc_rpc_call *call, const Codecourt__V1__Contest *d, int64_t max_problems)
{
#define BAD(...)                                                                                   \
    do {                                                                                           \
        cc_rpc_fail(call, CC_INVALID, __VA_ARGS__);                                                \
        return false;                                                                              \
    } while (0)
    if (!con_slug_ok(d->id))
        BAD("id: a contest id is [a-z0-9][a-z0-9-]{1,63}");
    if (!d->title[0] || strlen(d->title) > 200)
        BAD("title: 1 to 200 characters");
    if (strlen(d->formal_name) > 300)
        BAD("formalName: at most 300 characters");
    if (d->start_at <= 0)
        BAD("startAt: required (an RFC 3339 time)");
    if (d->duration_s < 60 || d->duration_s > 30 * 86400)
        BAD("durationS: from 60 seconds to 30 days");
    if (d->freeze_s < 0 || d->freeze_s > d->duration_s)
        BAD("freezeS: from 0 to the duration");
    if (d->penalty_minutes < 0 || d->penalty_minutes > 1000)
        BAD("penaltyMinutes: from 0 (the default, 20) to 1000");
    if (d->scoring < 0 || d->scoring > CODECOURT__V1__SCORING__SCORING_IOI)
        BAD("scoring: SCORING_ICPC or SCORING_IOI");
    if (strlen(d->invite_code) > 64)
        BAD("inviteCode: at most 64 characters");
    if (d->n_problems > (size_t)max_problems)
        BAD("problems: at most %" PRId64, max_problems);
    for (size_t i = 0; i < d->n_problems; i++) {
        const Codecourt__V1__ContestProblem *p = d->problems[i];
        if (!label_ok(p->label))
            BAD("problems: label '%.20s' is not 1 to 10 letters or digits", p->label);
        if (!con_slug_ok(p->problem) && !(strlen(p->problem) == 1 && p->problem[0] >= 'a'))
            BAD("problems: '%.70s' is not a problem slug", p->problem);
        if (strlen(p->name) > 200 || strlen(p->color) > 32 || !rgb_ok(p->rgb))
            BAD("problems: %s: name at most 200 characters, rgb like #1a2b3c", p->label);
        if (p->points < 0 || p->points > 1e6)
            BAD("problems: %s: points from 0 (100) to 1000000", p->label);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(d->problems[k]->label, p->label) ||
                !strcmp(d->problems[k]->problem, p->problem))
                BAD("problems: %s appears twice", p->label);
    }
    if (d->n_jury > 100)
        BAD("jury: at most 100 members");
    for (size_t i = 0; i < d->n_jury; i++)
        if (!d->jury[i][0] || strlen(d->jury[i]) > 64)
            BAD("jury: user ids of 1 to 64 characters");
    return true;
#undef BAD
}

/* A copy of the definition the request carries, to complete and store,
 * with the defaults written out (ICPC, 20 penalty minutes). */
static Codecourt__V1__Contest *copy_def(cc_rpc_call *call, const Codecourt__V1__Contest *d)
{
    size_t len;
    uint8_t *b = con_pack(call, &d->base, &len);
    if (!b)
        return NULL;
    Codecourt__V1__Contest *c = (Codecourt__V1__Contest *)protobuf_c_message_unpack(
        &codecourt__v1__contest__descriptor, &cc_rpc_arena(call)->pb, len, b);
    if (c && c->scoring == CODECOURT__V1__SCORING__SCORING_UNSPECIFIED)
        c->scoring = CODECOURT__V1__SCORING__SCORING_ICPC;
    if (c && c->penalty_minutes == 0)
        c->penalty_minutes = 20;
    for (size_t i = 0; c && i < c->n_problems; i++)
        if (c->problems[i]->points <= 0)
            c->problems[i]->points = 100;
    return c;
}

/* ---- the answer --------------------------------------------------------------- */

static void reply_contest(wr_ctx *c, const Codecourt__V1__Contest *d)
{
    c->reply = *d;
    c->reply.is_jury = true;
    c->reply.my_team = "";
    cc_rpc_reply(c->w.call, &c->reply.base);
}

/* A write that committed: the team for register and PutTeam, else the
 * contest. */
static void reply_written(con_write *w)
{
    wr_ctx *c = (wr_ctx *)w;
    if (c->put_team || c->reg)
        cc_rpc_reply(w->call, &c->team.base);
    else
        reply_contest(c, c->def);
}

static wr_ctx *ctx_new(cc_rpc_call *call, void *actor)
{
    return con_write_new(call, actor, sizeof(wr_ctx), reply_written, "store contest");
}

/* The definition's row and its event, in c->w.tx. */
static void write_contest(wr_ctx *c, bool insert)
{
    Codecourt__V1__Contest *d = c->def;
    size_t len;
    uint8_t *b = con_pack(c->w.call, &d->base, &len);
    json_t *jury = json_array();
    for (size_t i = 0; i < d->n_jury; i++)
        json_array_append_new(jury, json_string(d->jury[i]));
    char *jtext = json_dumps(jury, JSON_COMPACT);
    json_decref(jury);
    char start[32], dur[32], frz[32], now[32];
    snprintf(start, sizeof start, "%" PRId64, d->start_at);
    snprintf(dur, sizeof dur, "%" PRId64, d->duration_s);
    snprintf(frz, sizeof frz, "%" PRId64, d->freeze_s);
    snprintf(now, sizeof now, "%" PRId64, con_now_ms());
    if (!b || !jtext) {
        free(jtext);
        con_write_refuse(&c->w, CC_NOMEM, "out of memory");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(d->id),    CC_PG_BYTES(b, len),
                       CC_PG_TEXT(d->owner_id), CC_PG_TEXT(jtext),
                       CC_PG_TEXT(d->public_ ? "t" : "f"), CC_PG_TEXT(start),
                       CC_PG_TEXT(dur),      CC_PG_TEXT(frz),
                       CC_PG_TEXT(now)};
    /* The clock writes a transition once; when the times move, what is
     * already written stays only if it still lies in the past. */
    if (insert)
        cc_pg_tx_query(c->w.tx,
                       "INSERT INTO contests (id, def, owner_id, jury, public, start_time, "
                       "duration_s, freeze_s) VALUES ($1, $2::bytea, $3, "
                       "ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::boolean, "
                       "$6::bigint, $7::bigint, $8::bigint)",
                       p, 8, NULL, NULL);
    else
        cc_pg_tx_query(c->w.tx,
                       "UPDATE contests SET def = $2::bytea, owner_id = $3, "
                       "jury = ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
                       "public = $5::boolean, "
                       "started_sent = started_sent AND $6::bigint * 1000 <= $9::bigint, "
                       "frozen_sent = frozen_sent AND ($6::bigint + $7::bigint - $8::bigint) "
                       "* 1000 <= $9::bigint, "
                       "ended_sent = ended_sent AND ($6::bigint + $7::bigint) * 1000 "
                       "<= $9::bigint, start_time = $6::bigint, duration_s = $7::bigint, "
                       "freeze_s = $8::bigint WHERE id = $1",
                       p, 9, NULL, NULL);
    free(jtext);
    Codecourt__V1__ContestChanged ev = CODECOURT__V1__CONTEST_CHANGED__INIT;
    ev.contest = d;
    if (con_emit(c->w.tx, cc_rpc_envelope(c->w.call), CON_EVT_UPDATED, &ev.base, NULL) != CC_OK)
        con_write_refuse(&c->w, CC_NOMEM, "out of memory");
}

/* ---- the problems, as the caller sees them ------------------------------------ */

typedef struct problems_ctx {
    wr_ctx *c;
    wr_step then;
} problems_ctx;

static void got_problem(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    problems_ctx *pc = ud;
    wr_ctx *c = pc->c;
    Codecourt__V1__ContestProblem *p = c->def->problems[c->next_problem];
    if (s == CC_NOT_FOUND || s == CC_DENIED) {
        cc_rpc_fail(c->w.call, CC_UNPROCESSABLE, "problems: %s: no problem '%s'", p->label,
                    p->problem);
        return;
    }
    if (s != CC_OK) {
        cc_rpc_fail(c->w.call, CC_UNAVAILABLE, "problems: cannot look up '%s': %s", p->problem,
                    errmsg ? errmsg : cc_status_str(s));
        return;
    }
    const Codecourt__V1__Problem *pr = (const void *)resp;
    if (pr->deleted) {
        cc_rpc_fail(c->w.call, CC_UNPROCESSABLE, "problems: %s: no problem '%s'", p->label,
                    p->problem);
        return;
    }
    if (!p->name[0])
        p->name = cc_arena_strdup(cc_rpc_arena(c->w.call), pr->title ? pr->title : "");
    if (!p->name)
        p->name = "";
    if (pr->version) {
        if (pr->version->limits)
            p->time_limit = pr->version->limits->time_limit_ms / 1000.0;
        p->test_data_count = pr->version->test_count;
    }
    c->next_problem++;
    problems_next(c, pc->then);
}

/* Looks up the problems from c->next_problem on, one by one, then runs
 * then. */
static void problems_next(wr_ctx *c, wr_step then)
{
    if (c->next_problem >= c->def->n_problems) {
        then(c);
        return;
    }
    problems_ctx *pc = cc_arena_alloc(cc_rpc_arena(c->w.call), sizeof *pc);
    if (!pc) {
        cc_rpc_fail(c->w.call, CC_NOMEM, "out of memory");
        return;
    }
    pc->c = c;
    pc->then = then;
    Codecourt__V1__GetProblemRequest rq = CODECOURT__V1__GET_PROBLEM_REQUEST__INIT;
    rq.slug = c->def->problems[c->next_problem]->problem;
    cc_envelope env;
    cc_envelope_child(&env, cc_rpc_envelope(c->w.call), NULL);
    cc_status s = cc_rpc_call_async(cc_rpc_bus(c->w.call), "problem", "GetProblem", &env, &rq.base,
                                    &codecourt__v1__problem__descriptor,
                                    cc_actor_runtime(c->w.st->actor)->rpc_timeout_ms, got_problem,
                                    pc);
    if (s != CC_OK)
        cc_rpc_fail(c->w.call, CC_UNAVAILABLE, "problems: the problem service is unreachable");
}

/* ---- CreateContest ---------------------------------------------------------- */

static void create_store(wr_ctx *c)
{
    if (!con_write_begin(&c->w, "store contest"))
        return;
    snprintf(c->exists, sizeof c->exists, "id: contest '%s' already exists", c->def->id);
    c->w.exists = c->exists;
    write_contest(c, true);
    con_write_end(&c->w);
}

void con_create(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    wr_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    if (c->w.role == CON_ANON) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to create contests");
        return;
    }
    if (c->w.role != CON_SETTER && c->w.role != CON_ADMIN) {
        cc_rpc_fail(call, CC_DENIED, "only setters and admins create contests");
        return;
    }
    if (!valid_contest(call, (const void *)req, c->w.st->cfg->max_problems))
        return;
    if (!(c->def = copy_def(call, (const void *)req))) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->def->owner_id = c->w.who;
    c->def->created_at = con_now_ms() / 1000;
    c->def->unfrozen_at = 0;
    c->def->my_team = "";
    c->def->is_jury = false;
    problems_next(c, create_store);
}

/* ---- the stored contest, FOR UPDATE ---------------------------------------------- */

typedef void (*wr_loaded)(wr_ctx *c);

typedef struct load_ctx {
    wr_ctx *c;
    wr_loaded then;
    bool need_jury;
} load_ctx;

static void decide_later(wr_ctx *c);

/* The row's answer: put and unfreeze decide here and end the
 * transaction; register and PutTeam decide after their other statements. */
static void loaded(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    load_ctx *lc = ud;
    wr_ctx *c = lc->c;
    bool finishes = lc->then != decide_later;
    if (con_write_ok(&c->w, s) && cc_pg_nrows(r) != 1)
        con_write_refuse(&c->w, CC_NOT_FOUND, "no contest '%s'",
                         c->contest_id ? c->contest_id : "");
    if (c->w.err == CC_OK) {
        c->old = con_def_of(c->w.call, r, 0, 0);
        cc_pg_get_int64(r, 0, 1, &c->next_team);
    }
    if (c->w.err == CC_OK && !c->old)
        con_write_refuse(&c->w, CC_INTERNAL, "stored contest unreadable");
    if (c->w.err == CC_OK && lc->need_jury && !con_def_jury(c->old, c->w.who, c->w.role))
        con_write_refuse(&c->w, CC_DENIED, "only the contest's jury may change it");
    if (c->w.err == CC_OK)
        lc->then(c);
    if (finishes)
        con_write_end(&c->w);
}

/* Begins c->w.tx with the contest's row locked, then runs then inside it
 * and ends the transaction (when the row is missing or, with need_jury,
 * the caller is not jury, the commit answers that instead). With
 * decide_later, the caller adds its own statements and ends the
 * transaction in the last one's callback. False with the call failed. */
static bool load_for_update(wr_ctx *c, const char *id, bool need_jury, wr_loaded then,
                            const char *what)
{
    load_ctx *lc = cc_arena_alloc(cc_rpc_arena(c->w.call), sizeof *lc);
    if (!lc) {
        cc_rpc_fail(c->w.call, CC_NOMEM, "out of memory");
        return false;
    }
    *lc = (load_ctx){c, then, need_jury};
    if (!con_write_begin(&c->w, what))
        return false;
    cc_pg_param p[] = {CC_PG_TEXT(id)};
    cc_pg_tx_query(c->w.tx, "SELECT def, next_team FROM contests WHERE id = $1 FOR UPDATE", p, 1,
                   loaded, lc);
    return true;
}

/* ---- PutContest ---------------------------------------------------------------- */

static void put_decide(wr_ctx *c)
{
    /* Who owns it, when it was made and whether it was unfrozen are not
     * the request's to change. */
    c->def->owner_id = c->old->owner_id;
    c->def->created_at = c->old->created_at;
    c->def->unfrozen_at = c->old->unfrozen_at;
    c->def->my_team = "";
    c->def->is_jury = false;
    write_contest(c, false);
}

static void put_store(wr_ctx *c)
{
    load_for_update(c, c->def->id, true, put_decide, "load contest");
}

void con_put(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    wr_ctx *c = ctx_new(call, actor);
    if (!c)
        return;
    if (c->w.role == CON_ANON) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to change contests");
        return;
    }
    if (!valid_contest(call, (const void *)req, c->w.st->cfg->max_problems))
        return;
    if (!(c->def = copy_def(call, (const void *)req))) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->contest_id = c->def->id;
    problems_next(c, put_store);
}

/* ---- Unfreeze ------------------------------------------------------------------- */

static void unfreeze_decide(wr_ctx *c)
{
    c->def = c->old;
    if (c->old->freeze_s == 0) {
        con_write_refuse(&c->w, CC_UNPROCESSABLE, "contest '%s' has no freeze", c->old->id);
        return;
    }
    if (c->old->unfrozen_at)
        return; /* already: the answer is the contest as it is */
    c->def->unfrozen_at = con_now_ms() / 1000;
    write_contest(c, false);
}

void con_unfreeze(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__UnfreezeRequest *rq = (const void *)req;
    wr_ctx *c = ctx_new(call, actor);
    if (!c || !con_write_check(&c->w, rq->id, "sign in to unfreeze"))
        return;
    c->contest_id = rq->id;
    load_for_update(c, rq->id, true, unfreeze_decide, "load contest");
}

/* ---- teams ------------------------------------------------------------------------ */

/* Writes c->team (its row, its members replacing the old ones) and its
 * event, in c->w.tx. */
static void write_team(wr_ctx *c)
{
    Codecourt__V1__Team *t = &c->team;
    json_t *ms = json_array();
    for (size_t i = 0; i < t->n_members; i++)
        json_array_append_new(ms, json_string(t->members[i]));
    char *mtext = json_dumps(ms, JSON_COMPACT);
    json_decref(ms);
    if (!mtext) {
        con_write_refuse(&c->w, CC_NOMEM, "out of memory");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(t->contest), CC_PG_TEXT(t->id), CC_PG_TEXT(t->name),
                       CC_PG_TEXT(t->organization), CC_PG_TEXT(t->hidden ? "t" : "f"),
                       CC_PG_TEXT(mtext)};
    cc_pg_tx_query(c->w.tx,
                   "INSERT INTO teams (contest, id, name, organization, hidden) "
                   "VALUES ($1, $2, $3, $4, $5::boolean) ON CONFLICT (contest, id) DO UPDATE SET "
                   "name = EXCLUDED.name, organization = EXCLUDED.organization, "
                   "hidden = EXCLUDED.hidden",
                   p, 5, NULL, NULL);
    cc_pg_tx_query(c->w.tx, "DELETE FROM team_members WHERE contest = $1 AND team = $2", p, 2,
                   NULL, NULL);
    cc_pg_param mp[] = {p[0], p[1], p[5]};
    cc_pg_tx_query(c->w.tx,
                   "INSERT INTO team_members (contest, user_id, team) SELECT $1, u, $2 "
                   "FROM jsonb_array_elements_text($3::jsonb) u",
                   mp, 3, NULL, NULL);
    free(mtext);
    Codecourt__V1__TeamChanged ev = CODECOURT__V1__TEAM_CHANGED__INIT;
    ev.contest = t->contest;
    ev.team = t;
    if (con_emit(c->w.tx, cc_rpc_envelope(c->w.call), CON_EVT_TEAM, &ev.base, NULL) != CC_OK)
        con_write_refuse(&c->w, CC_NOMEM, "out of memory");
}

static void members_of(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    wr_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    int n = cc_pg_nrows(r);
    c->members = cc_arena_alloc(cc_rpc_arena(c->w.call), (size_t)(n + 1) * sizeof *c->members);
    if (!c->members) {
        con_write_refuse(&c->w, CC_NOMEM, "out of memory");
        return;
    }
    c->nmembers = 0;
    for (int i = 0; i < n; i++)
        c->members[c->nmembers++] = cc_arena_strdup(cc_rpc_arena(c->w.call), cc_pg_get(r, i, 0));
}

static void my_team_of(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    wr_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    if (cc_pg_nrows(r) == 1)
        snprintf(c->my_team, sizeof c->my_team, "%s", cc_pg_get(r, 0, 0));
}

static void named_team(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    wr_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    if (cc_pg_nrows(r) != 1)
        return;
    cc_arena *a = cc_rpc_arena(c->w.call);
    c->team_found = true;
    c->team.name = cc_arena_strdup(a, cc_pg_get(r, 0, 0));
    c->team.organization = cc_arena_strdup(a, cc_pg_get(r, 0, 1));
    c->team.hidden = cc_pg_get(r, 0, 2)[0] == 't';
}

/* Register and PutTeam decide once every statement after the lock has
 * answered (their last statement's callback). */
static void decide_later(wr_ctx *c)
{
    (void)c;
}

static void register_after(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    wr_ctx *c = ud;
    (void)r;
    con_write_ok(&c->w, s);
    if (c->w.err != CC_OK || !c->old) {
        con_write_end(&c->w);
        return;
    }
    const Codecourt__V1__ContestRegisterRequest *rq = c->reg;
    const Codecourt__V1__Contest *d = c->old;
    cc_arena *a = cc_rpc_arena(c->w.call);
    int64_t now = con_now_ms();
    if (now >= (d->start_at + d->duration_s) * 1000)
        con_write_refuse(&c->w, CC_DENIED, "contest '%s' has ended", d->id);
    else if (con_def_jury(c->old, c->w.who, c->w.role))
        con_write_refuse(&c->w, CC_DENIED, "the jury of contest '%s' does not take part in it",
                         d->id);
    else if (c->my_team[0])
        con_write_refuse(&c->w, CC_EXISTS, "you are already in team '%s' of contest '%s'",
                         c->my_team, d->id);
    else if (!d->registration_open &&
             (!d->invite_code[0] || strcmp(rq->invite_code, d->invite_code)))
        con_write_refuse(&c->w, CC_DENIED,
                         rq->invite_code[0]
                             ? "inviteCode: the invite code of contest '%s' is wrong"
                             : "registration to contest '%s' is closed: an invite code is "
                               "required",
                         d->id);
    if (c->w.err != CC_OK) {
        con_write_end(&c->w);
        return;
    }
    codecourt__v1__team__init(&c->team);
    c->team.contest = d->id;
    bool join = d->team_registration && rq->team_id[0];
    if (join) {
        if (!d->invite_code[0] || strcmp(rq->invite_code, d->invite_code)) {
            con_write_refuse(&c->w, CC_DENIED,
                             "inviteCode: joining a team of contest '%s' takes its invite code",
                             d->id);
        } else if (!c->team_found) {
            con_write_refuse(&c->w, CC_NOT_FOUND, "teamId: no team '%s' in contest '%s'",
                             rq->team_id, d->id);
        } else if (c->nmembers >= 10) {
            con_write_refuse(&c->w, CC_UNPROCESSABLE, "teamId: team '%s' is full", rq->team_id);
        }
        if (c->w.err != CC_OK) {
            con_write_end(&c->w);
            return;
        }
        c->team.id = (char *)rq->team_id;
        c->members[c->nmembers++] = c->w.who;
    } else {
        const char *name = rq->team_name;
        char fallback[64];
        if (!name[0]) {
            if (d->team_registration) {
                con_write_refuse(&c->w, CC_INVALID,
                                 "teamName: a new team needs a name (or teamId to join one)");
                con_write_end(&c->w);
                return;
            }
            snprintf(fallback, sizeof fallback, "user-%.8s", c->w.who);
            name = fallback;
        }
        if (strlen(name) > 100 || strlen(rq->organization) > 100) {
            con_write_refuse(&c->w, CC_INVALID,
                             "teamName: at most 100 characters (organization too)");
            con_write_end(&c->w);
            return;
        }
        snprintf(c->team_id, sizeof c->team_id, "t%" PRId64, c->next_team);
        c->team.id = c->team_id;
        c->team.name = cc_arena_strdup(a, name);
        c->team.organization = (char *)rq->organization;
        c->members = cc_arena_alloc(a, sizeof *c->members);
        if (!c->members || !c->team.name) {
            con_write_refuse(&c->w, CC_NOMEM, "out of memory");
            con_write_end(&c->w);
            return;
        }
        c->members[0] = c->w.who;
        c->nmembers = 1;
        c->created = true;
        cc_pg_param p[] = {CC_PG_TEXT(d->id)};
        cc_pg_tx_query(c->w.tx, "UPDATE contests SET next_team = next_team + 1 WHERE id = $1", p, 1,
                       NULL, NULL);
    }
    c->team.members = c->members;
    c->team.n_members = c->nmembers;
    write_team(c);
    con_write_end(&c->w);
}

void con_register(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ContestRegisterRequest *rq = (const void *)req;
    wr_ctx *c = ctx_new(call, actor);
    if (!c || !con_write_check(&c->w, rq->contest, "sign in to take part"))
        return;
    if (rq->team_id[0] && !con_id_ok(rq->team_id)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "teamId: no team '%.40s'", rq->team_id);
        return;
    }
    c->reg = rq;
    c->contest_id = rq->contest;
    if (!load_for_update(c, rq->contest, false, decide_later, "register"))
        return;
    cc_pg_param m[] = {CC_PG_TEXT(rq->contest), CC_PG_TEXT(c->w.who)};
    cc_pg_tx_query(c->w.tx, "SELECT team FROM team_members WHERE contest = $1 AND user_id = $2", m,
                   2, my_team_of, c);
    cc_pg_param q[] = {CC_PG_TEXT(rq->contest), CC_PG_TEXT(rq->team_id)};
    cc_pg_tx_query(c->w.tx,
                   "SELECT name, organization, hidden FROM teams WHERE contest = $1 AND id = $2",
                   q, 2, named_team, c);
    cc_pg_tx_query(c->w.tx,
                   "SELECT user_id FROM team_members WHERE contest = $1 AND team = $2 "
                   "ORDER BY user_id",
                   q, 2, members_of, c);
    /* Its callback decides, once the three answers above are in. */
    cc_pg_tx_query(c->w.tx, "SELECT 1", NULL, 0, register_after, c);
}

/* ---- PutTeam ----------------------------------------------------------------------- */

static void taken_members(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    wr_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    for (int i = 0; i < cc_pg_nrows(r) && c->w.err == CC_OK; i++)
        if (strcmp(cc_pg_get(r, i, 1), c->put_team->team_id) != 0)
            con_write_refuse(&c->w, CC_CONFLICT, "members: user %s is in team '%s' of this contest",
                   cc_pg_get(r, i, 0), cc_pg_get(r, i, 1));
}

static void put_team_after(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    wr_ctx *c = ud;
    (void)r;
    con_write_ok(&c->w, s);
    if (c->w.err != CC_OK || !c->old) {
        con_write_end(&c->w);
        return;
    }
    if (!con_def_jury(c->old, c->w.who, c->w.role)) {
        con_write_refuse(&c->w, CC_DENIED, "only the contest's jury manages its teams");
        con_write_end(&c->w);
        return;
    }
    const Codecourt__V1__PutTeamRequest *rq = c->put_team;
    codecourt__v1__team__init(&c->team);
    c->team.contest = (char *)rq->contest;
    c->team.id = (char *)rq->team_id;
    c->team.name = (char *)rq->name;
    c->team.organization = (char *)rq->organization;
    c->team.members = rq->members;
    c->team.n_members = rq->n_members;
    c->team.hidden = rq->hidden;
    write_team(c);
    con_write_end(&c->w);
}

void con_put_team(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__PutTeamRequest *rq = (const void *)req;
    wr_ctx *c = ctx_new(call, actor);
    if (!c || !con_write_check(&c->w, rq->contest, "sign in to manage teams"))
        return;
    if (!con_id_ok(rq->team_id)) {
        cc_rpc_fail(call, CC_INVALID, "teamId: [A-Za-z0-9_.-]{1,36}");
        return;
    }
    if (!rq->name[0] || strlen(rq->name) > 100 || strlen(rq->organization) > 100) {
        cc_rpc_fail(call, CC_INVALID, "name: 1 to 100 characters (organization at most 100)");
        return;
    }
    if (rq->n_members > 10) {
        cc_rpc_fail(call, CC_INVALID, "members: at most 10");
        return;
    }
    json_t *ms = json_array();
    for (size_t i = 0; i < rq->n_members; i++) {
        if (!rq->members[i][0] || strlen(rq->members[i]) > 64) {
            json_decref(ms);
            cc_rpc_fail(call, CC_INVALID, "members: user ids of 1 to 64 characters");
            return;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(rq->members[k], rq->members[i])) {
                json_decref(ms);
                cc_rpc_fail(call, CC_INVALID, "members: %s appears twice", rq->members[i]);
                return;
            }
        json_array_append_new(ms, json_string(rq->members[i]));
    }
    char *mtext = json_dumps(ms, JSON_COMPACT);
    json_decref(ms);
    c->put_team = rq;
    c->contest_id = rq->contest;
    if (!mtext) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    if (!load_for_update(c, rq->contest, false, decide_later, "store team")) {
        free(mtext);
        return;
    }
    cc_pg_param q[] = {CC_PG_TEXT(rq->contest), CC_PG_TEXT(mtext)};
    cc_pg_tx_query(c->w.tx,
                   "SELECT user_id, team FROM team_members WHERE contest = $1 AND user_id IN "
                   "(SELECT jsonb_array_elements_text($2::jsonb))",
                   q, 2, taken_members, c);
    free(mtext);
    cc_pg_tx_query(c->w.tx, "SELECT 1", NULL, 0, put_team_after, c);
}
