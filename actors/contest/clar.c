/* Clarifications: a participant asks (about a problem or in general), the
 * jury answers the asking team or everyone, or announces. Each is one
 * transaction, in call order:
 *   read the contest and the caller's team -> decide -> insert the row ->
 *   read who it reaches -> its events (outbox) -> commit -> answer.
 * Events: cc.evt.contest.clarification (the read model, the feed, the
 * live channels) and cc.evt.contest.clarification_sent, one per user it
 * reaches (cc-notify's in-app notification, live to that user). The
 * context's head and the end of the transaction are write.c's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "contest.h"

typedef struct clar_ctx {
    con_write w; /* first: the call, the caller, the transaction */
    const char *contest;
    Codecourt__V1__Contest *def;
    char my_team[64];
    bool have_question;
    char q_team[64], q_problem[16];
    char *q_text;
    Codecourt__V1__Clarification out;
    char id[32];
    bool question;              /* a participant asks (the jury hears of it) */
    const char *ask_problem, *ask_text, *ask_to;
    const Codecourt__V1__AnswerClarificationRequest *ans;
} clar_ctx;

static void reply_clar(con_write *w)
{
    cc_rpc_reply(w->call, &((clar_ctx *)w)->out.base);
}

static clar_ctx *ctx_new(cc_rpc_call *call, void *actor, const char *contest)
{
    clar_ctx *c = con_write_new(call, actor, sizeof *c, reply_clar, "store clarification");
    if (!c)
        return NULL;
    c->contest = contest;
    codecourt__v1__clarification__init(&c->out);
    return c;
}

static bool jury_of(const clar_ctx *c)
{
    return con_def_jury(c->def, c->w.who, c->w.role);
}

/* ---- the statements' answers ---------------------------------------------------- */

static void got_def(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    if (cc_pg_nrows(r) != 1) {
        con_write_refuse(&c->w, CC_NOT_FOUND, "no contest '%s'", c->contest);
        return;
    }
    c->def = con_def_of(c->w.call, r, 0, 0);
    snprintf(c->my_team, sizeof c->my_team, "%s", cc_pg_get(r, 0, 1));
    if (!c->def)
        con_write_refuse(&c->w, CC_INTERNAL, "stored contest unreadable");
}

static void got_question(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    if (cc_pg_nrows(r) != 1)
        return;
    c->have_question = true;
    snprintf(c->q_team, sizeof c->q_team, "%s", cc_pg_get(r, 0, 0));
    snprintf(c->q_problem, sizeof c->q_problem, "%s", cc_pg_get(r, 0, 1));
    c->q_text = cc_arena_strdup(cc_rpc_arena(c->w.call), cc_pg_get(r, 0, 2));
}

static void got_id(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    if (!con_write_ok(&c->w, s))
        return;
    snprintf(c->id, sizeof c->id, "%s", cc_pg_get(r, 0, 0));
    c->out.id = c->id;
}

/* Who the clarification reaches, then its events and the commit. */
static void got_recipients(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    con_write_ok(&c->w, s);
    if (c->w.err != CC_OK) {
        con_write_end(&c->w);
        return;
    }
    const cc_envelope *env = cc_rpc_envelope(c->w.call);
    Codecourt__V1__ClarificationPosted ev = CODECOURT__V1__CLARIFICATION_POSTED__INIT;
    ev.clarification = &c->out;
    char msg_id[96];
    snprintf(msg_id, sizeof msg_id, "clar-%s-%s", c->contest, c->id);
    cc_status e = con_emit(c->w.tx, env, CON_EVT_CLAR, &ev.base, msg_id);
    /* A question reaches the jury; an answer or announcement its team or
     * everyone in the contest. */
    size_t n = c->question ? c->def->n_jury + 1 : (size_t)cc_pg_nrows(r);
    for (size_t i = 0; e == CC_OK && i < n; i++) {
        const char *user = !c->question     ? cc_pg_get(r, (int)i, 0)
                           : i < c->def->n_jury ? c->def->jury[i]
                                               : c->def->owner_id;
        Codecourt__V1__ClarificationNotice no = CODECOURT__V1__CLARIFICATION_NOTICE__INIT;
        no.user_id = (char *)user;
        no.contest = (char *)c->contest;
        no.clarification_id = c->id;
        no.problem = c->out.problem;
        no.text = c->out.text;
        no.question = c->question ? "" : (c->q_text ? c->q_text : "");
        snprintf(msg_id, sizeof msg_id, "clar-%s-%s-%.40s", c->contest, c->id, user);
        e = con_emit(c->w.tx, env, CON_EVT_CLAR_SENT, &no.base, msg_id);
    }
    if (e != CC_OK)
        con_write_refuse(&c->w, CC_NOMEM, "out of memory");
    con_write_end(&c->w);
}

/* Inserts c->out and reads its recipients (members of to_team, or every
 * participant when it is ""). */
static void insert(clar_ctx *c)
{
    char ms[32];
    snprintf(ms, sizeof ms, "%" PRId64, c->out.time_ms);
    cc_pg_param p[] = {CC_PG_TEXT(c->contest),      CC_PG_TEXT(c->out.from_team),
                       CC_PG_TEXT(c->out.to_team),  c->out.reply_to[0] ? CC_PG_TEXT(c->out.reply_to)
                                                                       : CC_PG_NULL,
                       CC_PG_TEXT(c->out.problem),  CC_PG_TEXT(c->out.text),
                       CC_PG_TEXT(c->w.who),          CC_PG_TEXT(ms)};
    cc_pg_tx_query(c->w.tx,
                   "INSERT INTO clarifications (contest, from_team, to_team, reply_to, problem, "
                   "text, author, time_ms) VALUES ($1, $2, $3, $4::bigint, $5, $6, $7, $8::bigint) "
                   "RETURNING id::text",
                   p, 8, got_id, c);
    cc_pg_param q[] = {CC_PG_TEXT(c->contest), CC_PG_TEXT(c->out.to_team)};
    cc_pg_tx_query(c->w.tx,
                   "SELECT DISTINCT user_id FROM team_members WHERE contest = $1 "
                   "AND ($2 = '' OR team = $2) ORDER BY user_id",
                   q, 2, got_recipients, c);
}

static bool has_label(const Codecourt__V1__Contest *d, const char *label)
{
    for (size_t i = 0; i < d->n_problems; i++)
        if (!strcmp(d->problems[i]->label, label))
            return true;
    return false;
}

/* ---- AskClarification -------------------------------------------------------------- */

static void ask_decide(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    (void)r;
    con_write_ok(&c->w, s);
    if (c->w.err != CC_OK) {
        con_write_end(&c->w);
        return;
    }
    bool jury = jury_of(c);
    if (!jury && !c->my_team[0])
        con_write_refuse(&c->w, CC_DENIED, "you do not take part in this contest");
    else if (c->ask_problem[0] && !has_label(c->def, c->ask_problem))
        con_write_refuse(&c->w, CC_INVALID, "problem: no such problem label in this contest");
    if (c->w.err != CC_OK) {
        con_write_end(&c->w);
        return;
    }
    c->question = !jury;
    c->out.contest = (char *)c->contest;
    c->out.from_team = jury ? "" : c->my_team;
    c->out.to_team = jury ? (char *)c->ask_to : "";
    c->out.reply_to = "";
    c->out.problem = (char *)c->ask_problem;
    c->out.text = (char *)c->ask_text;
    c->out.time_ms = con_now_ms();
    c->out.author = c->w.who;
    insert(c);
}

static bool start(clar_ctx *c, const char *question_id, cc_pg_cb decide)
{
    if (!con_write_begin(&c->w, "clarification"))
        return false;
    cc_pg_param p[] = {CC_PG_TEXT(c->contest), CC_PG_TEXT(c->w.who)};
    cc_pg_tx_query(c->w.tx,
                   "SELECT c.def, coalesce(m.team, '') FROM contests c LEFT JOIN team_members m "
                   "ON m.contest = c.id AND m.user_id = $2 WHERE c.id = $1",
                   p, 2, got_def, c);
    if (question_id) {
        cc_pg_param q[] = {CC_PG_TEXT(c->contest), CC_PG_TEXT(question_id)};
        cc_pg_tx_query(c->w.tx,
                       "SELECT from_team, problem, text FROM clarifications WHERE contest = $1 "
                       "AND id = $2::bigint AND from_team <> ''",
                       q, 2, got_question, c);
    }
    cc_pg_tx_query(c->w.tx, "SELECT 1", NULL, 0, decide, c);
    return true;
}

static bool text_ok(cc_rpc_call *call, const char *text)
{
    if (!text[0] || strlen(text) > 2000) {
        cc_rpc_fail(call, CC_INVALID, "text: 1 to 2000 characters");
        return false;
    }
    return true;
}

void con_ask(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__AskClarificationRequest *rq = (const void *)req;
    clar_ctx *c = ctx_new(call, actor, rq->contest);
    if (!c || !con_write_check(&c->w, rq->contest, "sign in to ask"))
        return;
    if (!text_ok(call, rq->text))
        return;
    if (strlen(rq->problem) > 10 || (rq->to_team[0] && !con_id_ok(rq->to_team))) {
        cc_rpc_fail(call, CC_INVALID, "problem: a label of the contest (toTeam: a team id)");
        return;
    }
    c->ask_problem = rq->problem;
    c->ask_text = rq->text;
    c->ask_to = rq->to_team;
    start(c, NULL, ask_decide);
}

/* ---- AnswerClarification ------------------------------------------------------------- */

static void answer_decide(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    (void)r;
    con_write_ok(&c->w, s);
    if (c->w.err == CC_OK && !jury_of(c))
        con_write_refuse(&c->w, CC_DENIED, "only the contest's jury answers clarifications");
    if (c->w.err == CC_OK && !c->have_question)
        con_write_refuse(&c->w, CC_NOT_FOUND, "no such question in this contest");
    if (c->w.err != CC_OK) {
        con_write_end(&c->w);
        return;
    }
    cc_arena *a = cc_rpc_arena(c->w.call);
    c->out.contest = (char *)c->contest;
    c->out.from_team = "";
    c->out.to_team = c->ans->to_all ? "" : cc_arena_strdup(a, c->q_team);
    c->out.reply_to = (char *)c->ans->id;
    c->out.problem = cc_arena_strdup(a, c->q_problem);
    c->out.text = (char *)c->ans->text;
    c->out.time_ms = con_now_ms();
    c->out.author = c->w.who;
    insert(c);
}

void con_answer(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__AnswerClarificationRequest *rq = (const void *)req;
    clar_ctx *c = ctx_new(call, actor, rq->contest);
    if (!c || !con_write_check(&c->w, rq->contest, "sign in to answer"))
        return;
    char *end = NULL;
    if (!rq->id[0] || strtoll(rq->id, &end, 10) <= 0 || *end || strlen(rq->id) > 18) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no question '%.20s'", rq->id);
        return;
    }
    if (!text_ok(call, rq->text))
        return;
    c->ans = rq;
    start(c, rq->id, answer_decide);
}

/* ---- ListClarifications ---------------------------------------------------------------- */

static void got_list(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    clar_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->w.call, s, errmsg, "list clarifications");
        return;
    }
    int n = cc_pg_nrows(r);
    cc_arena *a = cc_rpc_arena(c->w.call);
    c->def = con_def_of(c->w.call, r, 0, 0);
    const char *mine = n > 0 ? cc_pg_get(r, 0, 1) : "";
    if (!c->def || (!c->def->public_ && !mine[0] && !jury_of(c))) {
        cc_rpc_fail(c->w.call, CC_NOT_FOUND, "no contest '%s'", c->contest);
        return;
    }
    bool jury = jury_of(c);
    Codecourt__V1__ClarificationList *out = cc_arena_alloc(a, sizeof *out);
    Codecourt__V1__Clarification **v = cc_arena_alloc(a, (size_t)(n ? n : 1) * sizeof *v);
    if (!out || !v) {
        cc_rpc_fail(c->w.call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__clarification_list__init(out);
    for (int i = 0; i < n; i++) {
        if (cc_pg_isnull(r, i, 2))
            continue;
        const char *from = cc_pg_get(r, i, 3), *to = cc_pg_get(r, i, 4);
        bool visible = jury || (!from[0] && !to[0]) ||
                       (mine[0] && (!strcmp(from, mine) || !strcmp(to, mine)));
        if (!visible)
            continue;
        Codecourt__V1__Clarification *k = cc_arena_alloc(a, sizeof *k);
        if (!k) {
            cc_rpc_fail(c->w.call, CC_NOMEM, "out of memory");
            return;
        }
        codecourt__v1__clarification__init(k);
        k->id = cc_arena_strdup(a, cc_pg_get(r, i, 2));
        k->contest = (char *)c->contest;
        k->from_team = cc_arena_strdup(a, from);
        k->to_team = cc_arena_strdup(a, to);
        k->reply_to = cc_arena_strdup(a, cc_pg_get(r, i, 5));
        k->problem = cc_arena_strdup(a, cc_pg_get(r, i, 6));
        k->text = cc_arena_strdup(a, cc_pg_get(r, i, 7));
        k->time_ms = strtoll(cc_pg_get(r, i, 8), NULL, 10);
        k->author = jury ? cc_arena_strdup(a, cc_pg_get(r, i, 9)) : "";
        v[out->n_clarifications++] = k;
    }
    out->clarifications = v;
    cc_rpc_reply(c->w.call, &out->base);
}

void con_list_clars(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListClarificationsRequest *rq = (const void *)req;
    clar_ctx *c = ctx_new(call, actor, rq->contest);
    if (!c)
        return;
    if (!con_slug_ok(rq->contest)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "no contest '%.64s'", rq->contest);
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->contest), CC_PG_TEXT(c->w.who)};
    cc_status s = cc_pg_query(
        c->w.st->rm.pg,
        "SELECT c.def, coalesce(m.team, ''), k.id::text, k.from_team, k.to_team, "
        "coalesce(k.reply_to::text, ''), k.problem, k.text, k.time_ms, k.author "
        "FROM contests c LEFT JOIN team_members m ON m.contest = c.id AND m.user_id = $2 "
        "LEFT JOIN clarifications k ON k.contest = c.id WHERE c.id = $1 ORDER BY k.id",
        p, 2, got_list, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list clarifications");
}
