/* bench-contest: issue 18's benchmark. A synthetic contest of 500 teams x
 * 13 problems in cc-contest (real nats-server and PostgreSQL from cclocal,
 * the real cc-contest process), fed 50,000 judged submissions (a
 * submission.created and a submission.judged event each) at a steady
 * rate, as cc-submission and the judges would publish them.
 *
 * Reports:
 *  - update latency: from publishing a judged event to receiving the live
 *    push that reflects it (its "position" at or past the event's
 *    sequence) on cc.live.contest.<id>.jury, p50 / p99 / max;
 *  - rebuild rate: `cc-contest rebuild` over the whole stream (its own
 *    figure: events applied per second, from the first event to the last
 *    store), against a raw nats.c pull consumer reading the same stream
 *    from the start in the same run (the ceiling), median of the rounds,
 *    alternating;
 *  - what the stream holds per event.
 * Usage: bench-contest [--subs N] [--rate R] [--rounds K] */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"
#include "codecourt/v1/contest.pb-c.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"

enum { TEAMS = 500, PROBLEMS = 13 };

static cc_local_stack stack;
static cc_local_proc contest_proc;
static char dir[4096];
static uint16_t metrics;
static int nsubs = 50000, rate = 1000, rounds = 3;
static natsConnection *nc;
static jsCtx *js;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- publishing ----------------------------------------------------------------- */

static uint64_t publish(const char *subject, const ProtobufCMessage *m, const char *id)
{
    uint8_t buf[2048];
    size_t n = protobuf_c_message_pack(m, buf);
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MsgId = id;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    if (js_Publish(&ack, js, subject, buf, (int)n, &o, &jerr) != NATS_OK) {
        fprintf(stderr, "publish %s failed (%d)\n", subject, (int)jerr);
        exit(1);
    }
    uint64_t seq = ack->Sequence;
    jsPubAck_Destroy(ack);
    return seq;
}

static void setup_contest(int64_t start_s)
{
    static Codecourt__V1__ContestProblem p[PROBLEMS];
    static Codecourt__V1__ContestProblem *ps[PROBLEMS];
    static char labels[PROBLEMS][4], slugs[PROBLEMS][16];
    for (int i = 0; i < PROBLEMS; i++) {
        codecourt__v1__contest_problem__init(&p[i]);
        snprintf(labels[i], sizeof labels[i], "%c", 'A' + i);
        snprintf(slugs[i], sizeof slugs[i], "p%02d", i);
        p[i].label = labels[i];
        p[i].problem = slugs[i];
        p[i].points = 100;
        ps[i] = &p[i];
    }
    Codecourt__V1__Contest c = CODECOURT__V1__CONTEST__INIT;
    c.id = "bench";
    c.title = "Bench";
    c.start_at = start_s;
    c.duration_s = 5 * 3600;
    c.freeze_s = 3600;
    c.scoring = CODECOURT__V1__SCORING__SCORING_ICPC;
    c.penalty_minutes = 20;
    c.owner_id = "owner";
    c.n_problems = PROBLEMS;
    c.problems = ps;
    Codecourt__V1__ContestChanged e = CODECOURT__V1__CONTEST_CHANGED__INIT;
    e.contest = &c;
    publish("cc.evt.contest.updated", &e.base, "bench-contest");
    for (int t = 0; t < TEAMS; t++) {
        char id[16], name[32], user[24], msg[32];
        snprintf(id, sizeof id, "t%d", t);
        snprintf(name, sizeof name, "Team %03d", t);
        snprintf(user, sizeof user, "user-%d", t);
        snprintf(msg, sizeof msg, "bench-team-%d", t);
        char *members[] = {user};
        Codecourt__V1__Team tm = CODECOURT__V1__TEAM__INIT;
        tm.id = id;
        tm.contest = "bench";
        tm.name = name;
        tm.organization = t % 2 ? "Odd University" : "Even College";
        tm.members = members;
        tm.n_members = 1;
        Codecourt__V1__TeamChanged te = CODECOURT__V1__TEAM_CHANGED__INIT;
        te.contest = "bench";
        te.team = &tm;
        publish("cc.evt.contest.team", &te.base, msg);
    }
}

/* ---- the live channel ------------------------------------------------------------- */

typedef struct push {
    uint64_t position;
    double at;
} push;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static push *pushes;
static size_t npushes, cappushes;
static volatile uint64_t last_position;

static void on_push(natsConnection *c, natsSubscription *s, natsMsg *m, void *ud)
{
    double at = now_s();
    const char *d = natsMsg_GetData(m);
    const char *p = d ? strstr(d, "\"position\":\"") : NULL;
    uint64_t pos = p ? strtoull(p + 12, NULL, 10) : 0;
    pthread_mutex_lock(&mu);
    if (npushes == cappushes) {
        cappushes = cappushes ? cappushes * 2 : 4096;
        pushes = realloc(pushes, cappushes * sizeof *pushes);
    }
    pushes[npushes++] = (push){pos, at};
    if (pos > last_position)
        last_position = pos;
    pthread_mutex_unlock(&mu);
    natsMsg_Destroy(m);
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the feed ---------------------------------------------------------------------- */

static void feed(void)
{
    int64_t start_s = (int64_t)time(NULL) - 3600;
    setup_contest(start_s);
    double *sent = calloc((size_t)nsubs, sizeof *sent);
    uint64_t *seqs = calloc((size_t)nsubs, sizeof *seqs);
    double t0 = now_s();
    char id[48], msg[64], team[16], user[24], problem[16];
    for (int i = 0; i < nsubs; i++) {
        /* The schedule: rate judged submissions per second. */
        double due = t0 + (double)i / rate;
        double wait = due - now_s();
        if (wait > 0)
            usleep((useconds_t)(wait * 1e6));
        int t = i % TEAMS, p = (i / TEAMS) % PROBLEMS;
        snprintf(id, sizeof id, "sub-%07d", i);
        snprintf(team, sizeof team, "t%d", t);
        snprintf(user, sizeof user, "user-%d", t);
        snprintf(problem, sizeof problem, "p%02d", p);
        Codecourt__V1__SubmissionCreated c = CODECOURT__V1__SUBMISSION_CREATED__INIT;
        c.submission_id = id;
        c.user_id = user;
        c.problem = problem;
        c.language = "cpp";
        c.contest = "bench";
        c.team = team;
        /* Spread over the contest's first four hours (before the freeze). */
        c.created_at_ms = start_s * 1000 + (int64_t)i * (4 * 3600000LL / nsubs);
        snprintf(msg, sizeof msg, "bench-created-%d", i);
        publish("cc.evt.submission.created", &c.base, msg);
        Codecourt__V1__JudgeResult r = CODECOURT__V1__JUDGE_RESULT__INIT;
        r.submission_id = id;
        r.attempt = 1;
        r.user_id = user;
        r.problem = problem;
        r.verdict = (i * 7919) % 4 == 0 ? "AC" : (i % 3 ? "WA" : "TLE");
        r.score = r.verdict[0] == 'A' ? 100 : 0;
        r.max_score = 100;
        r.contest = "bench";
        snprintf(msg, sizeof msg, "bench-judged-%d", i);
        sent[i] = now_s();
        seqs[i] = publish("cc.evt.submission.judged", &r.base, msg);
    }
    double t1 = now_s();
    for (int i = 0; i < 3000 && last_position < seqs[nsubs - 1]; i++)
        usleep(10000);
    /* Each judged event's latency: to the first push that covers it. */
    pthread_mutex_lock(&mu);
    double *lat = calloc((size_t)nsubs, sizeof *lat);
    size_t nlat = 0, k = 0;
    for (int i = 0; i < nsubs; i++) {
        while (k < npushes && pushes[k].position < seqs[i])
            k++;
        if (k == npushes)
            break;
        lat[nlat++] = (pushes[k].at - sent[i]) * 1000;
    }
    size_t np = npushes;
    pthread_mutex_unlock(&mu);
    qsort(lat, nlat, sizeof *lat, dcmp);
    printf("feed: %d judged submissions (%d events) in %.1f s: %.0f judged/s, %zu pushes\n", nsubs,
           2 * nsubs, t1 - t0, nsubs / (t1 - t0), np);
    if (nlat)
        printf("update latency, publish -> live push (%zu of %d covered): p50 %.2f ms, p99 %.2f "
               "ms, max %.2f ms\n",
               nlat, nsubs, lat[nlat / 2], lat[(size_t)(nlat * 0.99)], lat[nlat - 1]);
    free(lat);
    free(sent);
    free(seqs);
}

/* ---- rebuild against a raw consumer --------------------------------------------------- */

static double rebuild_rate(uint64_t *events, double *wall)
{
    char cmd[8192];
    snprintf(
        cmd, sizeof cmd,
        "%s%s/cc-contest rebuild %s --reader-nats-url='%s' --pg-conninfo='%s' --metrics-port=-1 "
        "--log-level=%s 2>>%s/cc-contest-rebuild.log",
        getenv("BENCH_WRAP") ? getenv("BENCH_WRAP") : "", CC_BIN_DIR,
        cct_nats_flag(&stack, "contest"), cc_local_nats_url(&stack, "contest-reader"),
        cc_local_pg_conninfo(&stack, "cc_contest"),
        getenv("BENCH_LOG") ? getenv("BENCH_LOG") : "warn", dir);
    double t0 = now_s();
    FILE *f = popen(cmd, "r");
    char line[512] = "";
    double r = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long ev = 0, pos = 0;
        double secs = 0, eps = 0;
        if (sscanf(line, "cc-contest rebuild: %llu events replayed to position %llu in %lf s (%lf",
                   &ev, &pos, &secs, &eps) == 4) {
            r = eps;
            *events = ev;
        }
    }
    int st = f ? pclose(f) : -1;
    *wall = now_s() - t0;
    if (st != 0) {
        fprintf(stderr, "rebuild failed (%d); see %s/cc-contest-rebuild.log\n", st, dir);
        exit(1);
    }
    return r;
}

static double raw_rate(uint64_t total, int round)
{
    char durable[32];
    snprintf(durable, sizeof durable, "bench_raw_%d", round);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    if (js_PullSubscribe(&sub, js, "cc.evt.>", durable, NULL, &so, &jerr) != NATS_OK) {
        fprintf(stderr, "raw consumer: %d\n", (int)jerr);
        exit(1);
    }
    uint64_t got = 0;
    double t0 = 0;
    while (got < total) {
        natsMsgList list = {0};
        natsStatus s = natsSubscription_Fetch(&list, sub, 1024, 5000, NULL);
        if (s != NATS_OK)
            break;
        if (!t0)
            t0 = now_s();
        got += (uint64_t)list.Count;
        natsMsgList_Destroy(&list);
    }
    double t = now_s() - t0;
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    js_DeleteConsumer(js, "CC_EVENTS", durable, NULL, NULL);
    return got / t;
}

static int med_cmp(const void *a, const void *b)
{
    return dcmp(a, b);
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--subs") && i + 1 < argc)
            nsubs = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--subs N] [--rate R] [--rounds K]\n", argv[0]);
            return 2;
        }
    }
    if (nsubs < 1 || rate < 1 || rounds < 1 || rounds > 15)
        return 2;
    cc_log_init("bench-contest", CC_LOG_WARN);
    const char *const dbs[] = {"cc_contest", NULL};
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS | CC_LOCAL_PG, dbs) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return 1;
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    if (cc_local_free_port(&metrics) != CC_OK)
        return 1;
    const char *args[] = {
        cct_nats_flag(&stack, "contest"),
        cct_fmt("--reader-nats-url=%s", cc_local_nats_url(&stack, "contest-reader")),
        cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_contest")),
        cct_fmt("--metrics-port=%u", metrics),
        "--log-level=warn",
        NULL};
    if (cct_try_spawn(&contest_proc, "cc-contest", CC_BIN_DIR, "cc-contest", dir, args) != CC_OK ||
        !cct_wait_status(metrics, "/readyz", 200, 60000)) {
        fprintf(stderr, "cc-contest did not start (see %s)\n", dir);
        return 1;
    }
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return 1;
    natsConnection *lc = NULL;
    natsSubscription *live = NULL;
    if (cc_local_nats_connect(&stack, "admin", &lc) != NATS_OK ||
        natsConnection_Subscribe(&live, lc, "cc.live.contest.bench.jury", on_push, NULL) != NATS_OK)
        return 1;
    natsSubscription_SetPendingLimits(live, -1, -1);
    printf("bench-contest: %d teams x %d problems, %d judged submissions at %d/s, %d rounds\n",
           TEAMS, PROBLEMS, nsubs, rate, rounds);
    feed();

    jsStreamInfo *si = NULL;
    if (js_GetStreamInfo(&si, js, "CC_EVENTS", NULL, NULL) == NATS_OK) {
        printf("CC_EVENTS: %" PRIu64 " messages, %" PRIu64 " bytes: %.0f bytes per event\n",
               si->State.Msgs, si->State.Bytes, (double)si->State.Bytes / (double)si->State.Msgs);
    }
    uint64_t total = si ? si->State.Msgs : (uint64_t)(2 * nsubs);
    jsStreamInfo_Destroy(si);

    cc_local_proc_stop(&contest_proc, SIGTERM, 20000);
    double rb[16], raw[16], walls[16];
    uint64_t events = 0;
    for (int r = 0; r < rounds; r++) {
        /* Raw first in odd rounds, so neither always reads a warm stream. */
        if (r % 2) {
            raw[r] = raw_rate(total, r);
            rb[r] = rebuild_rate(&events, &walls[r]);
        } else {
            rb[r] = rebuild_rate(&events, &walls[r]);
            raw[r] = raw_rate(total, r);
        }
        printf("round %d: rebuild %.0f events/s (%" PRIu64 " events; %.2f s with the process's "
               "start), raw nats.c %.0f msg/s\n",
               r + 1, rb[r], events, walls[r], raw[r]);
    }
    qsort(rb, (size_t)rounds, sizeof *rb, med_cmp);
    qsort(raw, (size_t)rounds, sizeof *raw, med_cmp);
    printf("rebuild: median %.0f events/s against raw nats.c %.0f msg/s: %.2fx (target >= 0.5x)\n",
           rb[rounds / 2], raw[rounds / 2], rb[rounds / 2] / raw[rounds / 2]);
    natsSubscription_Destroy(live);
    natsConnection_Destroy(lc);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    nats_Close();
    return 0;
}
