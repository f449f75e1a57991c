/* Reliability of the submission pipeline (issue 6), with real servers and
 * processes really killed. One binary, one case per run (argv[1]), each
 * case its own ctest test with its own stack so they run side by side:
 *
 *   judge-kill-compiling  kill -9 of the judge while it compiles
 *   judge-kill-running    kill -9 of the judge while it runs the tests
 *   pg-crash              a burst, the judge killed -9, PostgreSQL killed -9
 *                         and started again while submitting
 *   pg-restart            PostgreSQL stopped and started during a burst:
 *                         503 + Retry-After while it is down, never 500,
 *                         and it recovers by itself
 *   nats-restart          nats-server restarted during a burst
 *   idempotency           N concurrent requests with one Idempotency-Key
 *
 * Through every case, every submission the API accepted (and every
 * submission the user has, which covers a request whose answer was lost)
 * ends judged with exactly one verdict, attempt 1, a result per test, and
 * CC_EVENTS holds judged events for it that all agree: none is judged twice
 * into different results. CC_LOCAL_KEEP=1 keeps the folder with every
 * process's log. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cc/local.h"
#include "cctest_http.h"
#include "cc/log.h"
#include "codecourt/v1/judge.pb-c.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                       \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        failed = true;                                                                             \
    } while (0)
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FAIL(__VA_ARGS__);                                                                     \
    } while (0)

static bool failed;
static cc_local_stack stack;
static cc_local_proc user_proc, prob_proc, sub_proc, judge_proc, gw_proc;
static char dir[4096], keypath[4200];
static uint16_t gw_port, sub_metrics;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- HTTP (thread-safe: every buffer is the caller's) ----------------------------- */

/* One request to the gateway under test (helpers in
 * tests/integration/common/cctest_http.h). */
static cct_resp req_h(const char *method, const char *path, const char *body, const char *token,
                      const char *extra)
{
    char url[1100];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", gw_port, path);
    return cct_req_url(method, url, body, token, extra);
}

/* ---- processes ---------------------------------------------------------------- */

/* Starts CC_BIN_DIR/bin, logging to dir/name.log, or ends the run: the
 * cases do not run under cmocka, so cct_spawn's assertion is no use. */
static void spawn(cc_local_proc *p, const char *name, const char *bin, const char *const *args)
{
    if (cct_try_spawn(p, name, CC_BIN_DIR, bin, dir, args) != CC_OK) {
        fprintf(stderr, "cannot start %s: %s\n", name, cc_err_msg());
        exit(1);
    }
}

static char judge_cache[4200];

static void start_judge(void)
{
    char nats[128];
    snprintf(nats, sizeof nats, "%s", cct_nats_flag(&stack, "judge"));
    /* A short ack wait: a killed worker's job comes back within seconds. */
    spawn(&judge_proc, "cc-judge", "cc-judge",
          (const char *[]){"serve", nats, judge_cache, "--metrics-port=-1", "--concurrency=2",
                           "--ack-wait=3s", "--log-level=info", NULL});
}

static void start_all(void)
{
    cc_log_init("test-submission-faults", CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (cc_local_stack_start(&stack, CC_LOCAL_ALL,
                             (const char *[]){"cc_user", "cc_problem", "cc_submission", NULL}) !=
        CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        exit(1);
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    snprintf(judge_cache, sizeof judge_cache, "--judge-cache=%s/judge-cache", dir);
    uint16_t um, pm, gm;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&pm) != CC_OK ||
        cc_local_free_port(&gm) != CC_OK || cc_local_free_port(&sub_metrics) != CC_OK ||
        cc_local_free_port(&gw_port) != CC_OK)
        exit(1);
    char a[16][4400];
    snprintf(a[0], sizeof a[0], "%s", cct_nats_flag(&stack, "user"));
    snprintf(a[1], sizeof a[1], "--redis-url=%s", stack.redis_url);
    snprintf(a[2], sizeof a[2], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user"));
    snprintf(a[3], sizeof a[3], "--metrics-port=%u", um);
    snprintf(a[4], sizeof a[4], "--jwt-key=%s", keypath);
    spawn(&user_proc, "cc-user", "cc-user",
          (const char *[]){a[0], a[1], a[2], a[3], a[4], "--bcrypt-cost=4",
                           "--admin-username=root", "--admin-email=root@example.org",
                           "--admin-password=rootpassword", NULL});
    snprintf(a[5], sizeof a[5], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_problem"));
    snprintf(a[6], sizeof a[6], "--metrics-port=%u", pm);
    snprintf(a[11], sizeof a[11], "%s", cct_nats_flag(&stack, "problem"));
    spawn(&prob_proc, "cc-problem", "cc-problem", (const char *[]){a[11], a[5], a[6], NULL});
    snprintf(a[7], sizeof a[7], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_submission"));
    snprintf(a[8], sizeof a[8], "--metrics-port=%u", sub_metrics);
    snprintf(a[12], sizeof a[12], "%s", cct_nats_flag(&stack, "submission"));
    spawn(&sub_proc, "cc-submission", "cc-submission",
          (const char *[]){a[12], a[7], a[8], "--max-queued=200", "--rate-per-min=100000",
                           "--log-level=debug", NULL});
    start_judge();
    if (!cct_wait_status(um, "/readyz", 200, 30000) ||
        !cct_wait_status(pm, "/readyz", 200, 30000) ||
        !cct_wait_status(sub_metrics, "/readyz", 200, 30000)) {
        fprintf(stderr, "actors did not become ready (see %s/*.log)\n", dir);
        exit(1);
    }
    snprintf(a[9], sizeof a[9], "--http-port=%u", gw_port);
    snprintf(a[10], sizeof a[10], "--metrics-port=%u", gm);
    snprintf(a[13], sizeof a[13], "%s", cct_nats_flag(&stack, "gateway"));
    spawn(&gw_proc, "cc-gateway", "cc-gateway",
          (const char *[]){a[13], a[1], a[9], "--https-port=-1", a[10], a[4], "--rate-user=100000",
                           "--burst-user=100000", "--rate-auth=100000", "--burst-auth=100000",
                           "--rate-login=100000", "--burst-login=100000", "--rate-anon=100000",
                           "--burst-anon=100000", NULL});
    if (!cct_wait_status(gw_port, "/readyz", 200, 30000)) {
        fprintf(stderr, "gateway did not become ready (see %s/cc-gateway.log)\n", dir);
        exit(1);
    }
}

static void stop_all(void)
{
    /* A server process that died on its own is a failure of its own. */
    cc_local_proc *ps[] = {&gw_proc, &judge_proc, &sub_proc, &prob_proc, &user_proc};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (cc_local_proc_poll(ps[i]))
            FAIL("%s exited by itself (wait status 0x%x)", ps[i]->name, ps[i]->status);
    cc_local_proc_stop(&gw_proc, SIGTERM, 10000);
    cc_local_proc_stop(&judge_proc, SIGTERM, 20000);
    cc_local_proc_stop(&sub_proc, SIGTERM, 10000);
    cc_local_proc_stop(&prob_proc, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    if (failed || getenv("CC_LOCAL_KEEP"))
        fprintf(stderr, "logs in %s (kept with CC_LOCAL_KEEP=1)\n", dir);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
}

/* ---- accounts and submissions ----------------------------------------------------- */

typedef struct {
    char id[64];
    char token[4096];
} account;

/* Every case has its own servers, so the seeded admin is the only user it
 * needs: registration is cc-user's business and tested there. */
static void new_user(const char *name, account *a)
{
    (void)name;
    cct_resp r = req_h("POST", "/v1/auth/login",
                   "{\"username\":\"root\",\"password\":\"rootpassword\"}", NULL, NULL);
    if (r.status != 200) {
        fprintf(stderr, "login: %ld %s\n", r.status, r.body ? r.body : "");
        exit(1);
    }
    snprintf(a->token, sizeof a->token, "%s", cct_json_str(r.json, "accessToken"));
    snprintf(a->id, sizeof a->id, "%s", cct_json_str(json_object_get(r.json, "user"), "id"));
    cct_resp_free(&r);
}

/* Sources as JSON string bodies. All are right: every verdict must be AC. */
static const char AC_C[] = "#include <stdio.h>\\nint main(void){long long a,b;"
                           "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                           "printf(\\\"%lld\\\\n\\\",a+b);return 0;}\\n";
/* Sleeps 200 ms per test (wall time, not CPU): the judge spends seconds
 * running the tests, time to kill it there. */
static const char SLOW_RUN_C[] = "#include <stdio.h>\\n#include <unistd.h>\\n"
                                 "int main(void){long long a,b;usleep(200000);"
                                 "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                                 "printf(\\\"%lld\\\\n\\\",a+b);return 0;}\\n";
/* 2^21 terms of macro expansion: seconds of gcc, time to kill the judge
 * while it compiles. Built by slow_compile_src(). */
static char slow_compile[4096];

static void slow_compile_src(void)
{
    size_t n = 0;
    n += (size_t)snprintf(slow_compile + n, sizeof slow_compile - n,
                          "#include <stdio.h>\\n#define A0 1\\n");
    for (int i = 1; i <= 21; i++)
        n += (size_t)snprintf(slow_compile + n, sizeof slow_compile - n,
                              "#define A%d (A%d+A%d)\\n", i, i - 1, i - 1);
    snprintf(slow_compile + n, sizeof slow_compile - n,
             "static long long z = A21;\\nint main(void){long long a,b;"
             "if(scanf(\\\"%%lld %%lld\\\",&a,&b)!=2)return 1;"
             "printf(\\\"%%lld\\\\n\\\",a+b+(z-z));return 0;}\\n");
}

/* POSTs a submission; returns the status, copies the id (if any) and
 * whether a Retry-After header came with it. */
static long submit(const account *a, const char *src, const char *key, char id[64],
                   bool *retry_after)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
    size_t blen = strlen(src) + 128;
    char *body = malloc(blen);
    snprintf(body, blen, "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"%s\"}", src);
    cct_resp r = req_h("POST", "/v1/submissions", body, a->token, key ? hdr : NULL);
    free(body);
    long st = r.status;
    if (id)
        snprintf(id, 64, "%s", st == 201 ? cct_json_str(r.json, "id") : "");
    if (retry_after)
        *retry_after = strcasestr(r.headers, "\nretry-after:") != NULL;
    if (st != 201)
        fprintf(stderr, "submit %s: %ld %s\n", key ? key : "", st, r.body ? r.body : "");
    cct_resp_free(&r);
    return st;
}

static json_t *get_submission(const account *a, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/submissions/%s", id);
    cct_resp r = req_h("GET", path, NULL, a->token, NULL);
    json_t *j = r.status == 200 ? json_incref(r.json) : NULL;
    cct_resp_free(&r);
    return j;
}

/* Waits until the submission reaches status (or judged); true if it got
 * there in ms. */
static bool wait_status(const account *a, const char *id, const char *status, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (now_s() < end) {
        json_t *j = get_submission(a, id);
        const char *st = j ? cct_json_str(j, "status") : "";
        bool hit = !strcmp(st, status);
        bool past = !strcmp(st, "judged");
        json_decref(j);
        if (hit)
            return true;
        if (past)
            return false;
        usleep(20000);
    }
    return false;
}

/* ---- the checks ---------------------------------------------------------------- */

typedef struct {
    char id[64];
    char verdict[16];
    int events;
    bool mixed;
} seen;

/* Every judged event on CC_EVENTS, grouped per submission: each must agree
 * with the stored verdict. Read with an ephemeral consumer from the first
 * message; the read ends when the stream has nothing more for 1 s. */
static void check_events(seen *v, int n)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsSubOptions so;
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        FAIL("cannot reach NATS to read CC_EVENTS");
        goto out;
    }
    jsSubOptions_Init(&so);
    so.Stream = "CC_EVENTS";
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckPolicy = js_AckNone;
    if (js_SubscribeSync(&sub, js, "cc.evt.submission.judged", NULL, &so, NULL) != NATS_OK) {
        FAIL("cannot read CC_EVENTS: %s", nats_GetLastError(NULL));
        goto out;
    }
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 1000) == NATS_OK) {
        Codecourt__V1__JudgeResult *r = codecourt__v1__judge_result__unpack(
            NULL, (size_t)natsMsg_GetDataLength(m), (const uint8_t *)natsMsg_GetData(m));
        for (int i = 0; r && i < n; i++) {
            if (strcmp(v[i].id, r->submission_id) != 0)
                continue;
            if (r->attempt != 1)
                FAIL("%s: judged event of attempt %u", v[i].id, r->attempt);
            if (strcmp(v[i].verdict, r->verdict) != 0)
                v[i].mixed = true;
            v[i].events++;
        }
        if (r)
            codecourt__v1__judge_result__free_unpacked(r, NULL);
        natsMsg_Destroy(m);
    }
    for (int i = 0; i < n; i++) {
        CHECK(v[i].events >= 1, "%s: no judged event in CC_EVENTS", v[i].id);
        CHECK(!v[i].mixed, "%s: judged events with different verdicts", v[i].id);
        if (v[i].events > 1)
            fprintf(stderr, "note: %s has %d judged events (same verdict)\n", v[i].id,
                    v[i].events);
    }
out:
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Every accepted id and every submission of the user ends judged AC,
 * attempt 1, with one AC result per test, within ms; then the events. */
static void check_all(const account *a, char (*accepted)[64], int naccepted, int ms)
{
    enum { MAX = 256 };
    static seen v[MAX];
    int n = 0;
    /* The user's list holds everything the service stored for them,
     * including a submission whose 201 never reached us. */
    char cursor[512] = "";
    for (;;) {
        char path[1024];
        snprintf(path, sizeof path, "/v1/submissions?pageSize=100%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        cct_resp r = req_h("GET", path, NULL, a->token, NULL);
        if (r.status != 200) {
            FAIL("list: %ld", r.status);
            cct_resp_free(&r);
            return;
        }
        json_t *arr = json_object_get(r.json, "submissions");
        for (size_t i = 0; i < json_array_size(arr) && n < MAX; i++)
            snprintf(v[n++].id, 64, "%s", cct_json_str(json_array_get(arr, i), "id"));
        snprintf(cursor, sizeof cursor, "%s", cct_json_str(r.json, "nextCursor"));
        cct_resp_free(&r);
        if (!cursor[0])
            break;
    }
    for (int i = 0; i < naccepted; i++) {
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = !strcmp(v[k].id, accepted[i]);
        CHECK(found, "accepted submission %s is not stored", accepted[i]);
    }
    double end = now_s() + ms / 1000.0;
    for (int i = 0; i < n; i++) {
        json_t *j = NULL;
        for (;;) {
            j = get_submission(a, v[i].id);
            if (j && !strcmp(cct_json_str(j, "status"), "judged"))
                break;
            json_decref(j);
            j = NULL;
            if (now_s() > end)
                break;
            usleep(200000);
        }
        if (!j) {
            FAIL("submission %s not judged in time", v[i].id);
            continue;
        }
        snprintf(v[i].verdict, sizeof v[i].verdict, "%s", cct_json_str(j, "verdict"));
        CHECK(!strcmp(v[i].verdict, "AC"), "%s: verdict %s", v[i].id, v[i].verdict);
        CHECK(json_integer_value(json_object_get(j, "attempt")) == 1, "%s: attempt %lld",
              v[i].id, (long long)json_integer_value(json_object_get(j, "attempt")));
        json_t *tests = json_object_get(j, "tests");
        CHECK(json_array_size(tests) == 11, "%s: %zu test results", v[i].id,
              json_array_size(tests));
        for (size_t t = 0; t < json_array_size(tests); t++)
            CHECK(!strcmp(cct_json_str(json_array_get(tests, t), "verdict"), "AC"),
                  "%s: test %zu %s", v[i].id, t, cct_json_str(json_array_get(tests, t), "verdict"));
        json_decref(j);
    }
    check_events(v, n);
    fprintf(stderr, "%d accepted, %d stored, all checked\n", naccepted, n);
}

/* ---- a burst in the background ----------------------------------------------------- */

/* Submits count AC solutions one after the other, every gap_ms. A 503
 * must carry Retry-After; the request is then retried with the same
 * Idempotency-Key (as a client would), so nothing is submitted twice. 500
 * is never acceptable. */
typedef struct {
    const account *a;
    int count, gap_ms;
    const char *prefix;
    char ids[128][64];
    atomic_int accepted;
    atomic_int unavailable, other;
    bool allow_gateway_timeout; /* 504 while NATS itself is away */
} burst;

static void *burst_main(void *ud)
{
    burst *b = ud;
    for (int i = 0; i < b->count; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s-%d", b->prefix, i);
        for (int tries = 0; tries < 120; tries++) {
            bool ra = false;
            char id[64];
            long st = submit(b->a, AC_C, key, id, &ra);
            if (st == 201) {
                snprintf(b->ids[atomic_fetch_add(&b->accepted, 1)], 64, "%s", id);
                break;
            }
            if (st == 503) {
                CHECK(ra, "%s: 503 without Retry-After", key);
                atomic_fetch_add(&b->unavailable, 1);
            } else if (st == 504 && b->allow_gateway_timeout) {
                atomic_fetch_add(&b->other, 1);
            } else {
                if (st == 0 && cc_local_proc_poll(&gw_proc))
                    FAIL("the gateway exited (wait status 0x%x)", gw_proc.status);
                FAIL("%s: status %ld during the burst", key, st);
                atomic_fetch_add(&b->other, 1);
            }
            usleep(250000);
        }
        usleep((useconds_t)b->gap_ms * 1000);
    }
    return NULL;
}

/* ---- cases --------------------------------------------------------------------- */

static void kill_judge_at(const char *stage, const char *src)
{
    account a;
    new_user("killer", &a);
    char ids[3][64];
    /* Two at once so both of the worker's slots are busy with one. */
    for (int i = 0; i < 2; i++) {
        char key[32];
        snprintf(key, sizeof key, "k-%d", i);
        CHECK(submit(&a, src, key, ids[i], NULL) == 201, "submit");
    }
    bool hit = wait_status(&a, ids[0], stage, 60000);
    CHECK(hit, "never saw %s", stage);
    cc_local_proc_kill(&judge_proc);
    json_t *j = get_submission(&a, ids[0]);
    fprintf(stderr, "judge killed -9 with %s %s\n", ids[0], j ? cct_json_str(j, "status") : "?");
    json_decref(j);
    /* One more while no judge runs: it waits in CC_JUDGE. */
    CHECK(submit(&a, AC_C, "k-2", ids[2], NULL) == 201, "submit");
    start_judge();
    check_all(&a, ids, 3, 90000);
}

static void case_judge_kill_compiling(void)
{
    slow_compile_src();
    kill_judge_at("compiling", slow_compile);
}

static void case_judge_kill_running(void)
{
    kill_judge_at("running", SLOW_RUN_C);
}

/* The case that failed before issue 6's fix: a burst, the judge killed
 * -9, PostgreSQL killed -9 right after the last 201 and started again. A
 * submission answered 201 just before the crash must survive it. */
static void case_pg_crash(void)
{
    account a;
    new_user("crash", &a);
    enum { N = 12 };
    char ids[N + 2][64];
    int n = 0;
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "burst-%d", i);
        if (submit(&a, AC_C, key, ids[n], NULL) == 201)
            n++;
        else
            FAIL("burst submit %d", i);
    }
    usleep(300000);
    cc_local_proc_kill(&judge_proc);
    start_judge();
    CHECK(cc_local_stack_crash(&stack, CC_LOCAL_PG) == CC_OK, "crash pg");
    int unavailable = 0;
    for (int i = 0; i < 6; i++) {
        char key[32];
        bool ra = false;
        snprintf(key, sizeof key, "down-%d", i);
        long st = submit(&a, AC_C, key, ids[n], &ra);
        CHECK(st != 500, "500 while PostgreSQL is down");
        if (st == 201) {
            n++;
        } else {
            CHECK(st == 503 && ra, "down: %ld (Retry-After %d)", st, ra);
            unavailable++;
        }
    }
    CHECK(unavailable > 0, "no 503 while PostgreSQL was down");
    CHECK(cc_local_stack_start_some(&stack, CC_LOCAL_PG) == CC_OK, "start pg");
    long st = 0;
    for (int waited = 0; waited < 30000 && st != 201; waited += 500) {
        st = submit(&a, AC_C, "after-restart", ids[n], NULL);
        if (st != 201)
            usleep(500000);
    }
    CHECK(st == 201, "no recovery after PostgreSQL came back");
    if (st == 201)
        n++;
    check_all(&a, ids, n, 90000);
}

static void run_burst_with(unsigned server, bool crash_nats)
{
    (void)crash_nats;
    account a;
    new_user("burster", &a);
    static burst b;
    memset(&b, 0, sizeof b);
    b.a = &a;
    b.count = 30;
    b.gap_ms = 60;
    b.prefix = "b";
    b.allow_gateway_timeout = server == CC_LOCAL_NATS;
    pthread_t t;
    pthread_create(&t, NULL, burst_main, &b);
    while (atomic_load(&b.accepted) < 8)
        usleep(20000);
    if (server == CC_LOCAL_PG) {
        CHECK(cc_local_stack_stop_some(&stack, CC_LOCAL_PG) == CC_OK, "stop pg");
        usleep(2500000);
        CHECK(cc_local_stack_start_some(&stack, CC_LOCAL_PG) == CC_OK, "start pg");
    } else {
        CHECK(cc_local_stack_restart(&stack, CC_LOCAL_NATS) == CC_OK, "restart nats");
    }
    pthread_join(t, NULL);
    int acc = atomic_load(&b.accepted);
    fprintf(stderr, "burst: %d accepted, %d answered 503, %d other\n", acc,
            atomic_load(&b.unavailable), atomic_load(&b.other));
    CHECK(acc == b.count, "only %d of %d submissions accepted in the end", acc, b.count);
    if (server == CC_LOCAL_PG)
        CHECK(atomic_load(&b.unavailable) > 0, "no 503 while PostgreSQL was down");
    check_all(&a, b.ids, acc, 120000);
}

static void case_pg_restart(void)
{
    run_burst_with(CC_LOCAL_PG, false);
}

static void case_nats_restart(void)
{
    run_burst_with(CC_LOCAL_NATS, false);
}

typedef struct {
    const account *a;
    const char *src;
    const char *key;
    long status;
    char id[64];
    pthread_barrier_t *go;
} idem_req;

static void *idem_main(void *ud)
{
    idem_req *r = ud;
    pthread_barrier_wait(r->go);
    r->status = submit(r->a, r->src, r->key, r->id, NULL);
    return NULL;
}

/* N parallel requests with one key and one body: exactly one submission,
 * every answer names it. Then N parallel requests with one new key and N
 * different bodies: one wins, the others are 422. */
static void case_idempotency(void)
{
    account a;
    new_user("idem", &a);
    enum { N = 16 };
    static idem_req rs[N];
    pthread_t t[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        rs[i] = (idem_req){.a = &a, .src = AC_C, .key = "one-key", .go = &go};
        pthread_create(&t[i], NULL, idem_main, &rs[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECK(rs[i].status == 201, "request %d: %ld", i, rs[i].status);
        CHECK(!strcmp(rs[i].id, rs[0].id), "request %d named %s, not %s", i, rs[i].id, rs[0].id);
    }
    char ids[2][64];
    snprintf(ids[0], 64, "%s", rs[0].id);
    /* One key, N different bodies (the sources differ by a comment). */
    static char srcs[N][512];
    for (int i = 0; i < N; i++) {
        snprintf(srcs[i], sizeof srcs[i], "%s// variant %d\\n", AC_C, i);
        rs[i] = (idem_req){.a = &a, .src = srcs[i], .key = "two-key", .go = &go};
        pthread_create(&t[i], NULL, idem_main, &rs[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    int won = 0;
    for (int i = 0; i < N; i++) {
        if (rs[i].status == 201)
            snprintf(ids[1], 64, "%s", rs[i].id), won++;
        else
            CHECK(rs[i].status == 422, "different body %d: %ld", i, rs[i].status);
    }
    CHECK(won == 1, "%d winners for one key and different bodies", won);
    check_all(&a, ids, won == 1 ? 2 : 1, 60000);
    cct_resp r = req_h("GET", "/v1/submissions?pageSize=100", NULL, a.token, NULL);
    CHECK(json_array_size(json_object_get(r.json, "submissions")) == 2,
          "%zu submissions for two keys", json_array_size(json_object_get(r.json, "submissions")));
    cct_resp_free(&r);
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"judge-kill-compiling", case_judge_kill_compiling},
    {"judge-kill-running", case_judge_kill_running},
    {"pg-crash", case_pg_crash},
    {"pg-restart", case_pg_restart},
    {"nats-restart", case_nats_restart},
    {"idempotency", case_idempotency},
};

int main(int argc, char **argv)
{
    size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; argc == 2 && i < ncases; i++) {
        if (strcmp(argv[1], cases[i].name) != 0)
            continue;
        double t0 = now_s();
        start_all();
        cases[i].fn();
        stop_all();
        fprintf(stderr, "%s: %s in %.1f s\n", cases[i].name, failed ? "FAILED" : "ok",
                now_s() - t0);
        return failed ? 1 : 0;
    }
    fprintf(stderr, "usage: %s CASE\ncases:", argv[0]);
    for (size_t i = 0; i < ncases; i++)
        fprintf(stderr, " %s", cases[i].name);
    fputc('\n', stderr);
    return 2;
}
