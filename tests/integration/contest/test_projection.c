/* The read models of cc-contest and cc-stats against real NATS (JetStream)
 * and PostgreSQL, with the real processes. The test plays the services
 * whose events they read: it publishes contests, teams, submissions and
 * results on CC_EVENTS (as cc-contest's write side, cc-submission and the
 * judge would), with times it chose, so each board can be scored by hand.
 *
 *  - icpc_by_hand: three teams, three problems; penalties, a compile error
 *    and an internal error that do not count, first to solve, a try after
 *    the end, the freeze (the public board ranks them otherwise), the
 *    unfreeze, and a rejudge that moves the board;
 *  - ioi_subtasks: the best of each subtask across submissions;
 *  - killed_mid_stream: cc-contest killed (SIGKILL) while it applies a
 *    burst, restarted: every submission counted once;
 *  - rebuild_equals_live: cc-contest rebuild empties and replays; every
 *    table and both boards equal what the live process had, and a stored
 *    version other than the code's rebuilds at start;
 *  - stats: cc-stats' user and problem statistics, recommendations,
 *    suggestions of a new problem, its rebuild, and the rebuild at start
 *    when the stored version is not the code's. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/bus.h"
#include "cc/local.h"
#include "cc/log.h"
#include "cc/mesh.h"
#include "cctest_http.h"
#include "codecourt/v1/contest.pb-c.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/problem.pb-c.h"
#include "codecourt/v1/stats.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"
#include "codecourt/v1/user.pb-c.h"

/* User ids for the statistics test: UUIDs, as a principal must carry. */
#define SU1 "5a000000-0000-4000-8000-000000000001"
#define SU2 "5a000000-0000-4000-8000-000000000002"

#define ADMIN "00000000-0000-0000-0000-00000000000a:admin"
#define MINUTE 60000LL

static cc_local_stack stack;
static cc_local_proc contest_proc, stats_proc;
static uv_loop_t loop;
static cc_bus *bus;
static natsConnection *nc;
static jsCtx *js;
static char dir[4096];
static uint16_t contest_metrics, stats_metrics;
static int msg_serial;
static uint64_t top_seq; /* the last event published */

/* ---- the loop and calls ------------------------------------------------------- */

typedef cct_rpc_result result;

static cc_status call(const char *service, const char *method, const char *principal,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                      result *r)
{
    memset(r, 0, sizeof *r);
    cc_envelope env;
    cc_envelope_new(&env, NULL);
    if (principal)
        cc_envelope_set_principal(&env, principal);
    assert_int_equal(
        cc_rpc_call_async(bus, service, method, &env, req, resp_desc, 5000, cct_rpc_done, r), CC_OK);
    assert_true(cct_run_until(&loop, &r->done, 10000));
    return r->s;
}

static void rfree(result *r)
{
    if (r->resp)
        protobuf_c_message_free_unpacked(r->resp, NULL);
    r->resp = NULL;
}

/* ---- events, as their services would publish them ------------------------------- */

/* Publishes m on subject (JetStream, a fresh Nats-Msg-Id); its sequence. */
static uint64_t publish(const char *subject, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    jsPubOptions o;
    jsPubOptions_Init(&o);
    char id[64];
    snprintf(id, sizeof id, "test-%d-%d", (int)getpid(), ++msg_serial);
    o.MsgId = id;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_Publish(&ack, js, subject, buf, (int)n, &o, &jerr);
    free(buf);
    if (s != NATS_OK)
        fail_msg("publish %s: %s (%d)", subject, natsStatus_GetText(s), (int)jerr);
    uint64_t seq = ack->Sequence;
    jsPubAck_Destroy(ack);
    if (seq > top_seq)
        top_seq = seq;
    return seq;
}

static uint64_t contest_event(Codecourt__V1__Contest *c)
{
    Codecourt__V1__ContestChanged e = CODECOURT__V1__CONTEST_CHANGED__INIT;
    e.contest = c;
    return publish("cc.evt.contest.updated", &e.base);
}

static uint64_t team_event(const char *contest, const char *id, const char *name,
                           const char *member)
{
    Codecourt__V1__Team t = CODECOURT__V1__TEAM__INIT;
    t.id = (char *)id;
    t.contest = (char *)contest;
    t.name = (char *)name;
    t.organization = "Testing University";
    char *members[] = {(char *)member};
    t.members = members;
    t.n_members = 1;
    Codecourt__V1__TeamChanged e = CODECOURT__V1__TEAM_CHANGED__INIT;
    e.contest = (char *)contest;
    e.team = &t;
    return publish("cc.evt.contest.team", &e.base);
}

static uint64_t created(const char *contest, const char *id, const char *team, const char *user,
                        const char *problem, int64_t at_ms)
{
    Codecourt__V1__SubmissionCreated e = CODECOURT__V1__SUBMISSION_CREATED__INIT;
    e.submission_id = (char *)id;
    e.user_id = (char *)user;
    e.problem = (char *)problem;
    e.language = "c";
    e.contest = (char *)contest;
    e.team = (char *)team;
    e.created_at_ms = at_ms;
    return publish("cc.evt.submission.created", &e.base);
}

static uint64_t judged(const char *contest, const char *id, uint32_t attempt, const char *user,
                       const char *problem, const char *verdict, double score,
                       Codecourt__V1__GroupScore **groups, size_t ngroups)
{
    Codecourt__V1__JudgeResult r = CODECOURT__V1__JUDGE_RESULT__INIT;
    r.submission_id = (char *)id;
    r.attempt = attempt;
    r.user_id = (char *)user;
    r.problem = (char *)problem;
    r.verdict = (char *)verdict;
    r.score = score;
    r.max_score = 100;
    r.contest = (char *)contest;
    r.groups = groups;
    r.n_groups = ngroups;
    return publish("cc.evt.submission.judged", &r.base);
}

/* A submission at a contest time (minutes, seconds) and its verdict (NULL:
 * not judged yet); returns the last sequence. */
static uint64_t sub(const char *contest, int64_t t0_ms, const char *id, const char *team,
                    const char *user, const char *problem, int minute, int second,
                    const char *verdict)
{
    uint64_t seq = created(contest, id, team, user, problem, t0_ms + minute * MINUTE + second * 1000);
    if (verdict)
        seq = judged(contest, id, 1, user, problem, verdict, !strcmp(verdict, "AC") ? 100 : 0,
                     NULL, 0);
    return seq;
}

/* ---- reading the boards -------------------------------------------------------- */

static Codecourt__V1__Scoreboard *board(const char *contest, bool public_view, result *r)
{
    Codecourt__V1__GetScoreboardRequest rq = CODECOURT__V1__GET_SCOREBOARD_REQUEST__INIT;
    rq.contest = (char *)contest;
    rq.public_view = public_view;
    cc_status s = call("contest", "GetScoreboard", ADMIN, &rq.base,
                       &codecourt__v1__scoreboard__descriptor, r);
    if (s != CC_OK)
        fail_msg("GetScoreboard %s: %s", contest, r->err);
    return (Codecourt__V1__Scoreboard *)r->resp;
}

/* The end of a log, for a failure's message. */
static const char *log_tail(const char *name)
{
    static char buf[4096];
    buf[0] = '\0';
    FILE *f = fopen(cct_fmt("%s/%s.log", dir, name), "r");
    if (!f)
        return buf;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, n > (long)sizeof buf - 1 ? n - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Waits until cc-contest's read model has applied position. */
static void caught_up(const char *contest, uint64_t position)
{
    uint64_t end = uv_hrtime() + 90ull * 1000000000ull;
    while (uv_hrtime() < end) {
        result r;
        Codecourt__V1__GetScoreboardRequest rq = CODECOURT__V1__GET_SCOREBOARD_REQUEST__INIT;
        rq.contest = (char *)contest;
        if (call("contest", "GetScoreboard", ADMIN, &rq.base,
                 &codecourt__v1__scoreboard__descriptor, &r) == CC_OK &&
            ((Codecourt__V1__Scoreboard *)r.resp)->position >= position) {
            rfree(&r);
            return;
        }
        rfree(&r);
        usleep(100000);
    }
    fail_msg("cc-contest never reached position %" PRIu64 "; its log ends with:\n%s", position,
             log_tail("cc-contest"));
}

static const Codecourt__V1__ScoreRow *row(const Codecourt__V1__Scoreboard *b, const char *team)
{
    for (size_t i = 0; i < b->n_rows; i++)
        if (!strcmp(b->rows[i]->team_id, team))
            return b->rows[i];
    fail_msg("no row for team %s", team);
    return NULL;
}

static void expect_row(const Codecourt__V1__Scoreboard *b, size_t index, const char *team,
                       int rank, int solved, int64_t penalty)
{
    assert_true(index < b->n_rows);
    const Codecourt__V1__ScoreRow *r = b->rows[index];
    if (strcmp(r->team_id, team) || r->rank != rank || r->solved != solved ||
        r->penalty != penalty)
        fail_msg("row %zu: %s rank %d solved %d penalty %" PRId64 ", expected %s rank %d solved "
                 "%d penalty %" PRId64,
                 index, r->team_id, r->rank, r->solved, r->penalty, team, rank, solved, penalty);
}

static const Codecourt__V1__ScoreCell *cell(const Codecourt__V1__ScoreRow *r, const char *label)
{
    for (size_t i = 0; i < r->n_cells; i++)
        if (!strcmp(r->cells[i]->label, label))
            return r->cells[i];
    fail_msg("no cell %s", label);
    return NULL;
}

/* ---- processes ------------------------------------------------------------------- */

static void start_contest(void)
{
    cct_spawn(&contest_proc, "cc-contest", CC_BIN_DIR, "cc-contest", dir,
              (const char *[]){
                  cct_nats_flag(&stack, "contest"),
                  cct_fmt("--reader-nats-url=%s", cc_local_nats_url(&stack, "contest-reader")),
                  cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_contest")),
                  cct_fmt("--metrics-port=%u", contest_metrics), "--log-level=info", NULL});
    assert_true(cct_wait_status(contest_metrics, "/readyz", 200, 60000));
}

static void start_stats(void)
{
    cct_spawn(
        &stats_proc, "cc-stats", CC_BIN_DIR, "cc-stats", dir,
        (const char *[]){cct_nats_flag(&stack, "stats"),
                         cct_fmt("--reader-nats-url=%s", cc_local_nats_url(&stack, "stats-reader")),
                         cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_stats")),
                         cct_fmt("--metrics-port=%u", stats_metrics), "--log-level=info", NULL});
    assert_true(cct_wait_status(stats_metrics, "/readyz", 200, 60000));
}

/* `cc-<service> rebuild`, with the service stopped; its exit status. */
static int rebuild(const char *service, const char *db)
{
    cc_local_proc p = {0};
    char name[64];
    snprintf(name, sizeof name, "cc-%s-rebuild", service);
    cct_spawn(&p, name, CC_BIN_DIR, cct_fmt("cc-%s", service), dir,
              (const char *[]){"rebuild", cct_nats_flag(&stack, service),
                               cct_fmt("--reader-nats-url=%s",
                                       cc_local_nats_url(&stack, cct_fmt("%s-reader", service))),
                               cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, db)),
                               "--metrics-port=-1", NULL});
    for (int i = 0; i < 1200 && !cc_local_proc_poll(&p); i++)
        usleep(100000);
    if (p.pid) {
        cc_local_proc_kill(&p);
        return -1;
    }
    return WIFEXITED(p.status) ? WEXITSTATUS(p.status) : -1;
}

/* Every row of the tables, ordered, as text: what "field for field" means. */
static char *dump(const char *db, const char *const *queries)
{
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&stack, db));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (const char *const *q = queries; *q; q++) {
        PGresult *r = PQexec(c, *q);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", *q, PQresultErrorMessage(r));
        for (int i = 0; i < PQntuples(r); i++)
            for (int k = 0; k < PQnfields(r); k++) {
                const char *v = PQgetvalue(r, i, k);
                size_t n = strlen(v) + 4;
                while (len + n >= cap)
                    out = realloc(out, cap *= 2);
                len += (size_t)snprintf(out + len, cap - len, "%s%s", v,
                                        k + 1 == PQnfields(r) ? "\n" : "|");
            }
        PQclear(r);
    }
    PQfinish(c);
    return out;
}

/* Fails naming the rows only one of the two dumps holds (a whole dump
 * is longer than a failure message can carry). */
static void same_tables(const char *live, const char *rebuilt)
{
    if (strcmp(live, rebuilt) == 0)
        return;
    const char *sides[2][2] = {{live, rebuilt}, {rebuilt, live}};
    const char *names[2] = {"only live", "only rebuilt"};
    for (int k = 0; k < 2; k++) {
        const char *a = sides[k][0], *b = sides[k][1];
        for (const char *line = a; *line;) {
            size_t n = strcspn(line, "\n");
            bool found = false;
            for (const char *o = b; *o && !found;) {
                size_t m = strcspn(o, "\n");
                found = m == n && memcmp(o, line, n) == 0;
                o += m + (o[m] == '\n');
            }
            if (!found)
                fprintf(stderr, "%s: %.*s\n", names[k], (int)n, line);
            line += n + (line[n] == '\n');
        }
    }
    fail_msg("the rebuilt tables differ from the live ones (rows above)");
}

/* Waits until the projection name has stored its state up to position in
 * db: the scoreboard answers from memory as soon as events are applied,
 * and the store follows. */
static void stored(const char *db, const char *name, uint64_t position)
{
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&stack, db));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    const char *params[] = {name};
    uint64_t at = 0;
    for (int i = 0; i < 900 && at < position; i++) {
        PGresult *r = PQexecParams(c, "SELECT position FROM cc_projections WHERE name = $1", 1,
                                   NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            at = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (at < position)
            usleep(100000);
    }
    PQfinish(c);
    if (at < position)
        fail_msg("%s stored up to %" PRIu64 ", never %" PRIu64, name, at, position);
}

/* Waits until projection name has stored everything CC_EVENTS holds now:
 * its service also publishes into the stream (cc-contest's contest
 * events, cc-stats' suggestions, through their outboxes), so the last
 * event the test sent is not the stream's end, and a rebuild reads to the
 * end. */
static void stored_all(const char *db, const char *name)
{
    jsStreamInfo *si = NULL;
    assert_int_equal(js_GetStreamInfo(&si, js, CC_STREAM_EVENTS, NULL, NULL), NATS_OK);
    uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    stored(db, name, last);
}

static const char *const contest_tables[] = {
    "SELECT id, encode(def, 'hex'), seq, first_seq, problem_seq, started_ms, frozen_ms, "
    "ended_ms, state_seq, unfrozen_seq FROM proj_contests ORDER BY id",
    "SELECT contest, id, encode(def, 'hex'), seq, deleted, org_id FROM proj_teams ORDER BY 1, 2",
    "SELECT contest, id, name, seq FROM proj_orgs ORDER BY 1, 2",
    "SELECT id, contest, team, user_id, problem, language, created_ms, created_seq, attempt, "
    "verdict, score, max_score, groups, judged_seq, judged_ms FROM proj_subs ORDER BY id",
    "SELECT contest, id, encode(def, 'hex'), seq FROM proj_clars ORDER BY 1, 2",
    "SELECT name, version, position FROM cc_projections ORDER BY name",
    NULL};

/* The bytes of a board, for "equal" (the clock's contest time left out). */
static char *packed_board(const char *contest, bool public_view, size_t *len)
{
    result r;
    Codecourt__V1__Scoreboard *b = board(contest, public_view, &r);
    b->contest_time_ms = 0;
    b->frozen = false;
    *len = protobuf_c_message_get_packed_size(&b->base);
    char *out = malloc(*len + 1);
    protobuf_c_message_pack(&b->base, (uint8_t *)out);
    rfree(&r);
    return out;
}

/* The whole feed of a contest as the jury reads it. */
static char *feed(const char *contest, const char *since)
{
    Codecourt__V1__EventFeedRequest rq = CODECOURT__V1__EVENT_FEED_REQUEST__INIT;
    rq.contest = (char *)contest;
    rq.since_token = (char *)since;
    rq.limit = 5000;
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    char token[32];
    snprintf(token, sizeof token, "%s", since);
    for (;;) {
        result r;
        rq.since_token = token;
        if (call("contest", "GetEventFeed", ADMIN, &rq.base,
                 &codecourt__v1__event_feed_page__descriptor, &r) != CC_OK)
            fail_msg("GetEventFeed: %s", r.err);
        const Codecourt__V1__EventFeedPage *p = (const void *)r.resp;
        while (len + p->ndjson.len + 1 >= cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, p->ndjson.data, p->ndjson.len);
        len += p->ndjson.len;
        out[len] = '\0';
        if (p->last_token[0])
            snprintf(token, sizeof token, "%s", p->last_token);
        bool more = p->more;
        rfree(&r);
        if (!more)
            break;
    }
    return out;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- setup -------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    cc_log_init("test-contest-projection", getenv("TEST_DEBUG") ? CC_LOG_DEBUG : CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    const char *const dbs[] = {"cc_contest", "cc_stats", NULL};
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS | CC_LOCAL_PG, dbs) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    if (cc_local_free_port(&contest_metrics) != CC_OK ||
        cc_local_free_port(&stats_metrics) != CC_OK)
        return -1;
    uv_loop_init(&loop);
    cc_bus_options bo = {.url = cc_local_nats_url(&stack, "admin"),
                         .name = "test-contest",
                         .send_asap = true};
    if (cc_bus_connect(&loop, &bo, &bus) != CC_OK)
        return -1;
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return -1;
    start_contest();
    start_stats();
    return 0;
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&contest_proc, SIGTERM, 10000);
    cc_local_proc_stop(&stats_proc, SIGTERM, 10000);
    bool done = false;
    cc_bus_close(bus, closed, &done);
    cct_run_until(&loop, &done, 5000);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (getenv("TEST_KEEP")) {
        fprintf(stderr, "logs kept in %s\n", dir);
        return 0;
    }
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    nats_Close();
    return 0;
}

/* ---- ICPC, by hand --------------------------------------------------------------------- */

static Codecourt__V1__ContestProblem prob[3];
static Codecourt__V1__ContestProblem *probs[3] = {&prob[0], &prob[1], &prob[2]};
static Codecourt__V1__Contest icpc;
static int64_t t0_ms;
static uint64_t last_seq;

static void define_icpc(bool unfrozen)
{
    const char *labels[] = {"A", "B", "C"}, *slugs[] = {"pa", "pb", "pc"};
    for (int i = 0; i < 3; i++) {
        codecourt__v1__contest_problem__init(&prob[i]);
        prob[i].label = (char *)labels[i];
        prob[i].problem = (char *)slugs[i];
        prob[i].name = (char *)slugs[i];
        prob[i].points = 100;
    }
    codecourt__v1__contest__init(&icpc);
    icpc.id = "icpc1";
    icpc.title = "ICPC by hand";
    icpc.start_at = t0_ms / 1000;
    icpc.duration_s = 5 * 3600;
    icpc.freeze_s = 3600; /* frozen from 4:00:00 */
    icpc.scoring = CODECOURT__V1__SCORING__SCORING_ICPC;
    icpc.penalty_minutes = 20;
    icpc.public_ = true;
    icpc.owner_id = "00000000-0000-0000-0000-0000000000aa";
    icpc.n_problems = 3;
    icpc.problems = probs;
    icpc.unfrozen_at = unfrozen ? t0_ms / 1000 + 5 * 3600 + 600 : 0;
}

static void icpc_by_hand(void **state)
{
    /* A start on a whole second, far enough back that the contest is over. */
    t0_ms = ((int64_t)time(NULL) - 7 * 3600) * 1000;
    define_icpc(false);
    contest_event(&icpc);
    team_event("icpc1", "t1", "Alpha", "u1");
    team_event("icpc1", "t2", "Bravo", "u2");
    team_event("icpc1", "t3", "Charlie", "u3");
    const char *C = "icpc1";
    /* Alpha: A WA 10:00, A AC 15:30 (15 + 20); B CE 20:00 (not a try),
     * B AC 25:10 (25); in the freeze C WA 250:00, C AC 260:00 (260 + 20). */
    sub(C, t0_ms, "s-a1", "t1", "u1", "pa", 10, 0, "WA");
    sub(C, t0_ms, "s-a2", "t1", "u1", "pa", 15, 30, "AC");
    sub(C, t0_ms, "s-a3", "t1", "u1", "pb", 20, 0, "CE");
    sub(C, t0_ms, "s-a4", "t1", "u1", "pb", 25, 10, "AC");
    sub(C, t0_ms, "s-a5", "t1", "u1", "pc", 250, 0, "WA");
    sub(C, t0_ms, "s-a6", "t1", "u1", "pc", 260, 0, "AC");
    /* Bravo: A AC 12:00 (first); B WA 30, WA 40, AC 45:00 (45 + 40); C WA
     * 100:00; C AC 301:00, after the end: not counted. */
    sub(C, t0_ms, "s-b1", "t2", "u2", "pa", 12, 0, "AC");
    sub(C, t0_ms, "s-b2", "t2", "u2", "pb", 30, 0, "WA");
    sub(C, t0_ms, "s-b3", "t2", "u2", "pb", 40, 0, "WA");
    sub(C, t0_ms, "s-b4", "t2", "u2", "pb", 45, 0, "AC");
    sub(C, t0_ms, "s-b5", "t2", "u2", "pc", 100, 0, "WA");
    sub(C, t0_ms, "s-b6", "t2", "u2", "pc", 301, 0, "AC");
    /* Charlie: A TLE 5:00, IE 6:00 (never a try), AC 200:00 (200 + 20);
     * B AC 18:00 (first); in the freeze C AC 241:00 (first, for the jury);
     * one more A, not judged yet, after its AC: nothing. */
    sub(C, t0_ms, "s-c1", "t3", "u3", "pa", 5, 0, "TLE");
    sub(C, t0_ms, "s-c2", "t3", "u3", "pa", 6, 0, "IE");
    sub(C, t0_ms, "s-c3", "t3", "u3", "pa", 200, 0, "AC");
    sub(C, t0_ms, "s-c4", "t3", "u3", "pb", 18, 0, "AC");
    sub(C, t0_ms, "s-c5", "t3", "u3", "pc", 241, 0, "AC");
    last_seq = sub(C, t0_ms, "s-c6", "t3", "u3", "pa", 210, 0, NULL);
    caught_up(C, last_seq);

    /* The public sees the freeze: Alpha 2 (35 + 25), Bravo 2 (12 + 85),
     * Charlie 2 (220 + 18), in that order. */
    result r;
    Codecourt__V1__Scoreboard *b = board(C, true, &r);
    assert_int_equal(b->n_rows, 3);
    expect_row(b, 0, "t1", 1, 2, 60);
    expect_row(b, 1, "t2", 2, 2, 97);
    expect_row(b, 2, "t3", 3, 2, 238);
    const Codecourt__V1__ScoreCell *c = cell(row(b, "t1"), "C");
    assert_false(c->solved);
    assert_int_equal(c->pending, 2); /* both of the freeze's */
    assert_int_equal(c->tries, 0);
    assert_int_equal(cell(row(b, "t3"), "C")->pending, 1);
    assert_true(cell(row(b, "t2"), "A")->first_to_solve);
    assert_false(cell(row(b, "t1"), "A")->first_to_solve);
    assert_true(cell(row(b, "t3"), "B")->first_to_solve);
    assert_int_equal(cell(row(b, "t1"), "B")->tries, 1); /* the CE is not one */
    assert_int_equal(cell(row(b, "t3"), "A")->tries, 2); /* TLE and AC, not the IE */
    assert_int_equal(cell(row(b, "t3"), "A")->time_minutes, 200);
    assert_int_equal(cell(row(b, "t2"), "C")->tries, 1); /* the one after the end is not */
    rfree(&r);

    /* The jury sees everything: Alpha 3 (340), Charlie 3 (479), Bravo 2. */
    b = board(C, false, &r);
    expect_row(b, 0, "t1", 1, 3, 340);
    expect_row(b, 1, "t3", 2, 3, 479);
    expect_row(b, 2, "t2", 3, 2, 97);
    assert_true(cell(row(b, "t3"), "C")->first_to_solve);
    assert_false(cell(row(b, "t1"), "C")->first_to_solve);
    assert_int_equal(cell(row(b, "t1"), "C")->penalty, 280);
    rfree(&r);

    /* The unfreeze: the public sees what the jury sees. */
    define_icpc(true);
    last_seq = contest_event(&icpc);
    caught_up(C, last_seq);
    b = board(C, true, &r);
    expect_row(b, 0, "t1", 1, 3, 340);
    expect_row(b, 1, "t3", 2, 3, 479);
    expect_row(b, 2, "t2", 3, 2, 97);
    rfree(&r);

    /* A rejudge: Alpha's WA on A becomes AC (attempt 2), so A is solved at
     * 10:00 with no rejected try: 10 + 25 + 280 = 315. The old attempt's
     * result arriving late changes nothing. */
    judged(C, "s-a1", 2, "u1", "pa", "AC", 100, NULL, 0);
    last_seq = judged(C, "s-a1", 1, "u1", "pa", "WA", 0, NULL, 0);
    caught_up(C, last_seq);
    b = board(C, false, &r);
    expect_row(b, 0, "t1", 1, 3, 315);
    assert_int_equal(cell(row(b, "t1"), "A")->time_minutes, 10);
    assert_int_equal(cell(row(b, "t1"), "A")->tries, 1);
    /* Still not first: Bravo solved A at 12:00, Alpha now at 10:00. */
    assert_true(cell(row(b, "t1"), "A")->first_to_solve);
    assert_false(cell(row(b, "t2"), "A")->first_to_solve);
    rfree(&r);

    /* The feed: every submission once, each judgement in its latest
     * state, the tokens in order; resumed after a token, only what came
     * after. */
    char *all = feed(C, "");
    assert_int_equal(count(all, "\"type\":\"submissions\""), 18);
    assert_int_equal(count(all, "\"type\":\"judgements\""), 17);
    assert_int_equal(count(all, "\"type\":\"teams\""), 3);
    assert_int_equal(count(all, "\"type\":\"problems\""), 3);
    assert_non_null(strstr(all, "\"judgement_type_id\":\"TLE\""));
    assert_non_null(strstr(all, "\"judgement_type_id\":\"JE\"")); /* our IE */
    char since[32];
    snprintf(since, sizeof since, "%" PRIu64, last_seq - 2);
    char *tail = feed(C, since);
    assert_int_equal(count(tail, "\n"), 1); /* the rejudged judgement, nothing else */
    assert_non_null(strstr(tail, "\"submission_id\":\"s-a1\""));
    free(tail);
    free(all);
}

/* ---- IOI -------------------------------------------------------------------------------- */

static void ioi_subtasks(void **state)
{
    int64_t start = ((int64_t)time(NULL) - 3600) * 1000;
    Codecourt__V1__ContestProblem p = CODECOURT__V1__CONTEST_PROBLEM__INIT;
    p.label = "A";
    p.problem = "square";
    p.points = 100;
    Codecourt__V1__ContestProblem *ps[] = {&p};
    Codecourt__V1__Contest c = CODECOURT__V1__CONTEST__INIT;
    c.id = "ioi1";
    c.title = "IOI";
    c.start_at = start / 1000;
    c.duration_s = 5 * 3600;
    c.scoring = CODECOURT__V1__SCORING__SCORING_IOI;
    c.public_ = true;
    c.owner_id = "00000000-0000-0000-0000-0000000000aa";
    c.n_problems = 1;
    c.problems = ps;
    contest_event(&c);
    team_event("ioi1", "t1", "One", "u1");
    team_event("ioi1", "t2", "Two", "u2");
    Codecourt__V1__GroupScore g[4];
    for (int i = 0; i < 4; i++)
        codecourt__v1__group_score__init(&g[i]);
    g[0] = g[1] = g[2] = g[3];
    g[0].name = g[2].name = "secret/group1";
    g[1].name = g[3].name = "secret/group2";
    g[0].score = 40, g[0].max_score = 40, g[1].score = 0, g[1].max_score = 60;
    g[2].score = 0, g[2].max_score = 40, g[3].score = 60, g[3].max_score = 60;
    Codecourt__V1__GroupScore *first[] = {&g[0], &g[1]}, *second[] = {&g[2], &g[3]};
    /* One: 40 (group 1 only), then 60 (group 2 only): 100. Two: 60 once. */
    created("ioi1", "i-1", "t1", "u1", "square", start + 10 * MINUTE);
    judged("ioi1", "i-1", 1, "u1", "square", "WA", 40, first, 2);
    created("ioi1", "i-2", "t1", "u1", "square", start + 20 * MINUTE);
    judged("ioi1", "i-2", 1, "u1", "square", "WA", 60, second, 2);
    created("ioi1", "i-3", "t2", "u2", "square", start + 15 * MINUTE);
    uint64_t seq = judged("ioi1", "i-3", 1, "u2", "square", "WA", 60, second, 2);
    caught_up("ioi1", seq);
    result r;
    Codecourt__V1__Scoreboard *b = board("ioi1", false, &r);
    assert_int_equal(b->scoring, CODECOURT__V1__SCORING__SCORING_IOI);
    assert_string_equal(b->rows[0]->team_id, "t1");
    assert_true(b->rows[0]->score > 99.99 && b->rows[0]->score < 100.01);
    assert_true(b->rows[0]->cells[0]->solved);
    assert_int_equal(b->rows[0]->cells[0]->tries, 2);
    assert_string_equal(b->rows[1]->team_id, "t2");
    assert_true(b->rows[1]->score > 59.99 && b->rows[1]->score < 60.01);
    assert_int_equal(b->rows[1]->rank, 2);
    rfree(&r);
}

/* ---- SIGKILL in the middle of a burst ------------------------------------------------------ */

enum { BIG_TEAMS = 40, BIG_SUBS = 20 };

static void killed_mid_stream(void **state)
{
    int64_t start = ((int64_t)time(NULL) - 3600) * 1000;
    Codecourt__V1__ContestProblem p = CODECOURT__V1__CONTEST_PROBLEM__INIT;
    p.label = "A";
    p.problem = "pa";
    Codecourt__V1__ContestProblem *ps[] = {&p};
    Codecourt__V1__Contest c = CODECOURT__V1__CONTEST__INIT;
    c.id = "burst";
    c.title = "Burst";
    c.start_at = start / 1000;
    c.duration_s = 5 * 3600;
    c.scoring = CODECOURT__V1__SCORING__SCORING_ICPC;
    c.penalty_minutes = 20;
    c.owner_id = "00000000-0000-0000-0000-0000000000aa";
    c.n_problems = 1;
    c.problems = ps;
    contest_event(&c);
    char team[16], user[16], id[32];
    for (int t = 0; t < BIG_TEAMS; t++) {
        snprintf(team, sizeof team, "b%d", t);
        snprintf(user, sizeof user, "bu%d", t);
        team_event("burst", team, team, user);
    }
    /* Every team: 19 WA, then an AC at minute 50: 1 solved, 50 + 19 * 20. */
    uint64_t seq = 0;
    bool killed = false;
    for (int k = 0; k < BIG_SUBS; k++)
        for (int t = 0; t < BIG_TEAMS; t++) {
            snprintf(team, sizeof team, "b%d", t);
            snprintf(user, sizeof user, "bu%d", t);
            snprintf(id, sizeof id, "burst-%d-%d", t, k);
            seq = sub("burst", start, id, team, user, "pa", k == BIG_SUBS - 1 ? 50 : 1 + k, 0,
                      k == BIG_SUBS - 1 ? "AC" : "WA");
            if (!killed && k == BIG_SUBS / 2 && t == 0) {
                /* Halfway: killed while it applies and stores. */
                assert_int_equal(cc_local_proc_kill(&contest_proc), CC_OK);
                killed = true;
            }
        }
    start_contest();
    caught_up("burst", seq);
    result r;
    Codecourt__V1__Scoreboard *b = board("burst", false, &r);
    assert_int_equal(b->n_rows, BIG_TEAMS);
    for (size_t i = 0; i < b->n_rows; i++) {
        assert_int_equal(b->rows[i]->solved, 1);
        assert_int_equal(b->rows[i]->penalty, 50 + (BIG_SUBS - 1) * 20);
        assert_int_equal(b->rows[i]->cells[0]->tries, BIG_SUBS);
        assert_int_equal(b->rows[i]->rank, 1);
    }
    rfree(&r);
    char *all = feed("burst", "");
    assert_int_equal(count(all, "\"type\":\"submissions\""), BIG_TEAMS * BIG_SUBS);
    assert_int_equal(count(all, "\"type\":\"judgements\""), BIG_TEAMS * BIG_SUBS);
    free(all);
    /* And what is stored: one row per submission. */
    stored("cc_contest", "contest", seq);
    const char *q[] = {"SELECT count(*), count(DISTINCT id) FROM proj_subs WHERE contest = 'burst'",
                       NULL};
    char *d = dump("cc_contest", q);
    assert_string_equal(d, cct_fmt("%d|%d\n", BIG_TEAMS * BIG_SUBS, BIG_TEAMS * BIG_SUBS));
    free(d);
}

/* ---- rebuild ------------------------------------------------------------------------------- */

static void rebuild_equals_live(void **state)
{
    const char *contests[] = {"icpc1", "ioi1", "burst"};
    char *boards[3][2], *feeds[3];
    size_t lens[3][2];
    for (int i = 0; i < 3; i++) {
        boards[i][0] = packed_board(contests[i], false, &lens[i][0]);
        boards[i][1] = packed_board(contests[i], true, &lens[i][1]);
        feeds[i] = feed(contests[i], "");
    }
    stored_all("cc_contest", "contest");
    assert_int_equal(cc_local_proc_stop(&contest_proc, SIGTERM, 15000), CC_OK);
    char *before = dump("cc_contest", contest_tables);
    /* Emptied first, so equal after means made again. */
    assert_int_equal(rebuild("contest", "cc_contest"), 0);
    char *after = dump("cc_contest", contest_tables);
    same_tables(before, after);
    free(after);
    /* A stored version other than the code's: the next start rebuilds. */
    PGconn *pc = PQconnectdb(cc_local_pg_conninfo(&stack, "cc_contest"));
    PQclear(PQexec(pc, "UPDATE cc_projections SET version = version - 1 WHERE name = 'contest'"));
    PQclear(PQexec(pc, "UPDATE proj_subs SET verdict = 'XX'"));
    PQfinish(pc);
    start_contest();
    caught_up("burst", top_seq);
    for (int i = 0; i < 3; i++) {
        size_t l0, l1;
        char *b0 = packed_board(contests[i], false, &l0), *b1 = packed_board(contests[i], true, &l1);
        assert_int_equal(l0, lens[i][0]);
        assert_memory_equal(b0, boards[i][0], l0);
        assert_int_equal(l1, lens[i][1]);
        assert_memory_equal(b1, boards[i][1], l1);
        char *f = feed(contests[i], "");
        assert_string_equal(f, feeds[i]);
        free(f);
        free(b0);
        free(b1);
        free(boards[i][0]);
        free(boards[i][1]);
        free(feeds[i]);
    }
    /* Wait for the restarted process to store what it replayed. */
    char *again = NULL;
    for (int i = 0; i < 100; i++) {
        free(again);
        again = dump("cc_contest", contest_tables);
        if (!strcmp(again, before))
            break;
        usleep(100000);
    }
    assert_string_equal(again, before);
    free(again);
    free(before);
}

/* ---- statistics ------------------------------------------------------------------------------ */

static uint64_t problem_event(const char *verb, const char *slug, const char *title,
                              const char *tag, Codecourt__V1__Difficulty d, bool public_)
{
    Codecourt__V1__ProblemEvent e = CODECOURT__V1__PROBLEM_EVENT__INIT;
    e.problem_id = (char *)slug;
    e.slug = (char *)slug;
    e.title = (char *)title;
    e.owner_id = "setter-1";
    char *tags[] = {(char *)tag};
    e.tags = tags;
    e.n_tags = 1;
    e.difficulty = d;
    e.visibility = public_ ? CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC
                           : CODECOURT__V1__VISIBILITY__VISIBILITY_DRAFT;
    return publish(cct_fmt("cc.evt.problem.%s", verb), &e.base);
}

static Codecourt__V1__UserStats *user_stats(const char *user, result *r, uint64_t position)
{
    for (int i = 0; i < 300; i++) {
        Codecourt__V1__GetUserStatsRequest rq = CODECOURT__V1__GET_USER_STATS_REQUEST__INIT;
        rq.user_id = (char *)user;
        if (call("stats", "GetUserStats", NULL, &rq.base, &codecourt__v1__user_stats__descriptor,
                 r) == CC_OK &&
            ((Codecourt__V1__UserStats *)r->resp)->position >= position)
            return (Codecourt__V1__UserStats *)r->resp;
        rfree(r);
        usleep(100000);
    }
    fail_msg("cc-stats never reached %" PRIu64, position);
    return NULL;
}

static const char *const stats_tables[] = {
    "SELECT id, registered_ms, seq FROM stats_users ORDER BY id",
    "SELECT slug, title, tags, difficulty, public, deleted, owner_id, published_seq, seq "
    "FROM stats_problems ORDER BY slug",
    "SELECT id, user_id, problem, attempt, verdict, judged_ms, seq FROM stats_subs ORDER BY id",
    "SELECT name, version, position FROM cc_projections ORDER BY name",
    NULL};

static void stats(void **state)
{
    Codecourt__V1__UserRegistered u = CODECOURT__V1__USER_REGISTERED__INIT;
    u.user_id = SU1;
    u.username = "ada";
    u.created_at = time(NULL);
    publish("cc.evt.user.registered", &u.base);
    problem_event("created", "g1", "Graph one", "graphs", CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY,
                  true);
    problem_event("created", "g2", "Graph two", "graphs", CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY,
                  true);
    problem_event("created", "g3", "Graph three", "graphs",
                  CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM, true);
    problem_event("created", "d1", "DP one", "dp", CODECOURT__V1__DIFFICULTY__DIFFICULTY_HARD, true);
    problem_event("created", "x1", "Draft", "graphs", CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY,
                  false);
    /* ada: g1 WA then AC, g2 AC, d1 WA twice. bob: g1, g3 AC. */
    judged("", "st-1", 1, SU1, "g1", "WA", 0, NULL, 0);
    judged("", "st-2", 1, SU1, "g1", "AC", 100, NULL, 0);
    judged("", "st-3", 1, SU1, "g2", "AC", 100, NULL, 0);
    judged("", "st-4", 1, SU1, "d1", "WA", 0, NULL, 0);
    judged("", "st-5", 1, SU1, "d1", "WA", 0, NULL, 0);
    judged("", "st-6", 1, SU2, "g1", "AC", 100, NULL, 0);
    judged("", "st-7", 1, SU2, "g3", "AC", 100, NULL, 0);
    /* A rejudge of ada's first WA: still a WA, not a sixth submission. */
    uint64_t seq = judged("", "st-1", 2, SU1, "g1", "WA", 0, NULL, 0);
    result r;
    Codecourt__V1__UserStats *s = user_stats(SU1, &r, seq);
    assert_int_equal(s->solved, 2);
    assert_int_equal(s->attempted, 3);
    assert_int_equal(s->submissions, 5);
    assert_int_equal(s->accepted, 2);
    assert_true(s->acceptance_rate > 0.399 && s->acceptance_rate < 0.401);
    assert_int_equal(s->current_streak, 1);
    assert_int_equal(s->longest_streak, 1);
    assert_int_equal(s->n_tags, 2);
    assert_string_equal(s->tags[0]->tag, "graphs");
    assert_int_equal(s->tags[0]->solved, 2);
    assert_int_equal(s->tags[0]->attempted, 2);
    assert_string_equal(s->tags[1]->tag, "dp");
    assert_int_equal(s->tags[1]->solved, 0);
    assert_int_equal(s->tags[1]->attempted, 1);
    rfree(&r);

    Codecourt__V1__GetProblemStatsRequest pq = CODECOURT__V1__GET_PROBLEM_STATS_REQUEST__INIT;
    pq.slug = "g1";
    assert_int_equal(call("stats", "GetProblemStats", NULL, &pq.base,
                          &codecourt__v1__problem_stats__descriptor, &r),
                     CC_OK);
    Codecourt__V1__ProblemStats *ps = (void *)r.resp;
    assert_int_equal(ps->solvers, 2);
    assert_int_equal(ps->attempters, 2);
    assert_int_equal(ps->submissions, 3);
    assert_int_equal(ps->accepted, 2);
    assert_string_equal(ps->first_solver, SU1);
    rfree(&r);
    pq.slug = "x1"; /* a draft */
    assert_int_equal(call("stats", "GetProblemStats", NULL, &pq.base,
                          &codecourt__v1__problem_stats__descriptor, &r),
                     CC_NOT_FOUND);
    rfree(&r);

    /* Recommendations for ada: d1 (tried twice) first, then g3 (graphs,
     * and solved by bob who solved g1 too); never g1, g2 or the draft. */
    Codecourt__V1__GetRecommendationsRequest rq = CODECOURT__V1__GET_RECOMMENDATIONS_REQUEST__INIT;
    assert_int_equal(call("stats", "GetRecommendations", SU1 ":user", &rq.base,
                          &codecourt__v1__recommendation_list__descriptor, &r),
                     CC_OK);
    Codecourt__V1__RecommendationList *l = (void *)r.resp;
    assert_int_equal(l->n_recommendations, 2);
    assert_string_equal(l->recommendations[0]->problem, "d1");
    assert_string_equal(l->recommendations[0]->reason,
                        "you tried it 2 times and it is still unsolved");
    assert_string_equal(l->recommendations[1]->problem, "g3");
    assert_string_equal(l->recommendations[1]->reason, "because you solved 2 graphs problems");
    rfree(&r);

    /* Publishing a graphs problem suggests it to its solvers: ada (2) and
     * bob (2), not in a replay. */
    natsSubscription *sugg = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sugg, nc, "cc.evt.stats.problem_suggested"),
                     NATS_OK);
    natsConnection_Flush(nc);
    problem_event("created", "g4", "Graph four", "graphs",
                  CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM, false);
    seq = problem_event("updated", "g4", "Graph four", "graphs",
                        CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM, true);
    int got = 0;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sugg, 5000) == NATS_OK) {
        Codecourt__V1__ProblemSuggested *e = codecourt__v1__problem_suggested__unpack(
            NULL, (size_t)natsMsg_GetDataLength(m), (const uint8_t *)natsMsg_GetData(m));
        assert_non_null(e);
        assert_string_equal(e->problem, "g4");
        assert_string_equal(e->tag, "graphs");
        assert_true(!strcmp(e->user_id, SU1) || !strcmp(e->user_id, SU2));
        got++;
        codecourt__v1__problem_suggested__free_unpacked(e, NULL);
        natsMsg_Destroy(m);
        if (got == 2)
            break;
    }
    assert_int_equal(got, 2);
    rfree(&r);
    s = user_stats(SU1, &r, seq);
    rfree(&r);

    /* Rebuild: the same rows, and no suggestion again. */
    stored_all("cc_stats", "stats");
    assert_int_equal(cc_local_proc_stop(&stats_proc, SIGTERM, 15000), CC_OK);
    char *before = dump("cc_stats", stats_tables);
    assert_int_equal(rebuild("stats", "cc_stats"), 0);
    char *after = dump("cc_stats", stats_tables);
    same_tables(before, after);
    free(after);
    assert_int_not_equal(natsSubscription_NextMsg(&m, sugg, 1500), NATS_OK);

    /* A stored version other than the code's: the next start rebuilds
     * (the damaged rows come back as they were), and suggests nothing. */
    PGconn *pc = PQconnectdb(cc_local_pg_conninfo(&stack, "cc_stats"));
    PQclear(PQexec(pc, "UPDATE cc_projections SET version = version - 1 WHERE name = 'stats'"));
    PQclear(PQexec(pc, "UPDATE stats_subs SET verdict = 'XX'"));
    PQclear(PQexec(pc, "DELETE FROM stats_users"));
    PQfinish(pc);
    start_stats();
    char *again = NULL;
    for (int i = 0; i < 150; i++) {
        free(again);
        again = dump("cc_stats", stats_tables);
        if (!strcmp(again, before))
            break;
        usleep(100000);
    }
    assert_string_equal(again, before);
    free(again);
    free(before);
    assert_int_not_equal(natsSubscription_NextMsg(&m, sugg, 1500), NATS_OK);
    natsSubscription_Destroy(sugg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(icpc_by_hand),      cmocka_unit_test(ioi_subtasks),
        cmocka_unit_test(killed_mid_stream), cmocka_unit_test(rebuild_equals_live),
        cmocka_unit_test(stats),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
