/* Integration test of `cc-judge serve` against a real nats-server (cclocal,
 * temporary folder, free loopback port), the worker connected as the
 * judge's own NATS user. The test process plays the problem service (it
 * answers the judge's cc.rpc.problem.judge.GetBlob from an A+B package
 * it builds in memory, counting calls) and cc-submission (it publishes
 * JudgeJobs and reads the results stored in CC_EVENTS).
 *
 * In order: AC, WA, CE and four bad jobs (malformed, unknown language, a
 * blob the problem service lacks, a blob whose content does not match its
 * hash) give the right verdicts; a second job of the same version fetches
 * nothing; a corrupted cache file is fetched again; a worker SIGKILLed in
 * the middle of a long (TLE) job leaves it to a second worker, which
 * publishes it once; a job whose deliveries ran out (the test takes it
 * and never acks) becomes an IE result and leaves the queue, also when the
 * server gave up on it while no worker was running. cc_judge_queue_pending
 * on the worker's /metrics follows the jobs waiting while every slot is
 * busy and comes back to 0, and cc_judge_queue_oldest_seconds grows while they
 * wait and comes back to 0 too. At the end every job has exactly one result in
 * the stream and the queue is empty. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/js.h"
#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"
#include "codecourt/v1/judge.pb-c.h"

static cc_local_stack stack;
static uv_loop_t loop;
static cc_bus *bus;
static cc_rpc_server *problem_server;
static cc_js_consumer *results_consumer;
static cc_bus_sub *progress_sub;
static char cache_dir[4200];

/* ---- loop helpers ------------------------------------------------------------ */

static bool never(void *ud)
{
    return false;
}

static void sleep_loop(int ms)
{
    cct_run_until_fn(&loop, never, NULL, ms);
}

static cc_status offload_wait(cc_status (*fn)(void *), void *ud)
{
    return cct_offload_wait(bus, &loop, fn, ud, 30000);
}

/* ---- the package and the problem service ---------------------------------------- */

typedef struct {
    const char *path;
    char *data;
    size_t len;
    char sha[65];
    int calls; /* GetBlob calls asking for it */
    bool served; /* false: the problem service says not found */
    bool lie;    /* served with different bytes than its hash */
    bool extra_only; /* in a job's package only when the job names it as extra */
} blob;

enum { NBLOBS = 16 };
static blob blobs[NBLOBS];
static size_t nblobs;
static int getblob_calls;

static void sha256_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned ml = 0;
    EVP_Digest(d, n, md, &ml, EVP_sha256(), NULL);
    for (unsigned i = 0; i < ml; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static blob *add_blob(const char *path, const char *text, bool served)
{
    blob *b = &blobs[nblobs++];
    b->path = path;
    b->data = strdup(text);
    b->len = strlen(text);
    b->served = served;
    sha256_hex(b->data, b->len, b->sha);
    return b;
}

static blob *blob_of(const char *path)
{
    for (size_t i = 0; i < nblobs; i++)
        if (!strcmp(blobs[i].path, path))
            return &blobs[i];
    return NULL;
}

static void build_package(void)
{
    add_blob("problem.yaml",
             "problem_format_version: 2023-07-draft\nname: A plus B\ntype: pass-fail\n"
             "limits:\n  time_limit: 1\n",
             true);
    add_blob("data/sample/1.in", "1 2\n", true);
    add_blob("data/sample/1.ans", "3\n", true);
    add_blob("data/secret/1.in", "10 20\n", true);
    add_blob("data/secret/1.ans", "30\n", true);
    add_blob("data/secret/2.in", "-5 5\n", true);
    add_blob("data/secret/2.ans", "0\n", true);
    add_blob("data/secret/3.in", "7 8\n", true);
    add_blob("data/secret/3.ans", "15\n", true);
    /* Bigger than several GetBlob chunks (the worker asks 1000 bytes). */
    static char big[6000];
    int n = snprintf(big, sizeof big, "100 200\n");
    memset(big + n, ' ', sizeof big - (size_t)n - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    add_blob("data/secret/4.in", big, true);
    add_blob("data/secret/4.ans", "300\n", true);
}

static void get_blob(cc_rpc_call *call, const ProtobufCMessage *reqm, void *actor)
{
    const Codecourt__V1__GetBlobRequest *req = (const Codecourt__V1__GetBlobRequest *)reqm;
    getblob_calls++;
    blob *b = NULL;
    for (size_t i = 0; i < nblobs; i++)
        if (!strcmp(blobs[i].sha, req->sha256))
            b = &blobs[i];
    if (b)
        b->calls++;
    if (!b || !b->served) {
        cc_rpc_fail(call, CC_NOT_FOUND, "no blob %s", req->sha256);
        return;
    }
    if (req->offset < 0 || (size_t)req->offset > b->len) {
        cc_rpc_fail(call, CC_INVALID, "offset out of range");
        return;
    }
    size_t max = req->max_bytes > 0 ? (size_t)req->max_bytes : 65536;
    size_t n = b->len - (size_t)req->offset;
    if (n > max)
        n = max;
    static uint8_t tmp[65536];
    memcpy(tmp, b->data + req->offset, n);
    if (b->lie && n)
        tmp[0] ^= 1;
    Codecourt__V1__GetBlobReply rep = CODECOURT__V1__GET_BLOB_REPLY__INIT;
    rep.data.data = tmp;
    rep.data.len = n;
    rep.total_size = (int64_t)b->len;
    rep.eof = (size_t)req->offset + n == b->len;
    cc_rpc_reply(call, &rep.base);
}

static const cc_rpc_method problem_methods[] = {
    {"GetBlob", &codecourt__v1__get_blob_request__descriptor,
     &codecourt__v1__get_blob_reply__descriptor, get_blob, 0},
};

/* ---- sources -------------------------------------------------------------------- */

static const char *src_ac =
    "#include <stdio.h>\nint main(void){long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)"
    "return 1;printf(\"%lld\\n\",a+b);return 0;}\n";
static const char *src_wa =
    "#include <stdio.h>\nint main(void){long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)"
    "return 1;printf(\"%lld\\n\",a+b+1);return 0;}\n";
static const char *src_ce = "int main( {\n";
/* Slow on every test (wall time, no CPU) and spins on the last one: a job
 * of several seconds that ends in TLE, long enough to kill its worker. */
static const char *src_slow_tle =
    "#include <stdio.h>\n#include <unistd.h>\nint main(void){long long a,b;"
    "if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;usleep(400000);"
    "if(a==100)for(volatile int x=0;;x++){}printf(\"%lld\\n\",a+b);return 0;}\n";

/* ---- jobs and results --------------------------------------------------------------- */

typedef struct {
    char sid[64];
    char result_id[128];
    char verdict[8];
    char message[512];
    char judge[64];
    int count;    /* results stored in CC_EVENTS */
    int progress; /* highest test index seen in progress events */
} tracked;

enum { MAXJOBS = 32 };
static tracked jobs[MAXJOBS];
static size_t njobs;
static int results_total;

static tracked *track(const char *sid, const char *result_id)
{
    tracked *t = &jobs[njobs++];
    snprintf(t->sid, sizeof t->sid, "%s", sid);
    snprintf(t->result_id, sizeof t->result_id, "%s", result_id);
    return t;
}

static tracked *find_result(const char *result_id)
{
    for (size_t i = 0; i < njobs; i++)
        if (!strcmp(jobs[i].result_id, result_id))
            return &jobs[i];
    return NULL;
}

static void on_result(cc_js_msg *m, void *ud)
{
    results_total++;
    tracked *t = find_result(cc_js_msg_id(m));
    Codecourt__V1__JudgeResult *r = (Codecourt__V1__JudgeResult *)protobuf_c_message_unpack(
        &codecourt__v1__judge_result__descriptor, NULL, cc_js_msg_len(m), cc_js_msg_data(m));
    if (t && r) {
        t->count++;
        snprintf(t->verdict, sizeof t->verdict, "%s", r->verdict);
        snprintf(t->message, sizeof t->message, "%s", r->message);
        snprintf(t->judge, sizeof t->judge, "%s", r->judge);
    } else {
        fprintf(stderr, "unexpected result %s (decoded: %d)\n", cc_js_msg_id(m), r != NULL);
    }
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    cc_js_ack(m);
}

static void on_progress(cc_bus *b, natsMsg *m, void *ud)
{
    Codecourt__V1__JudgeProgress *p = (Codecourt__V1__JudgeProgress *)protobuf_c_message_unpack(
        &codecourt__v1__judge_progress__descriptor, NULL, (size_t)natsMsg_GetDataLength(m),
        (const uint8_t *)natsMsg_GetData(m));
    if (p) {
        for (size_t i = 0; i < njobs; i++)
            if (!strcmp(jobs[i].sid, p->submission_id) && p->test_index > jobs[i].progress)
                jobs[i].progress = p->test_index;
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    natsMsg_Destroy(m);
}

typedef struct {
    bool done;
    cc_status s;
} pub_wait;

static void pub_done(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud)
{
    pub_wait *w = ud;
    w->s = s;
    w->done = true;
}

static void publish_raw(const char *msg_id, const void *data, size_t len)
{
    pub_wait w = {0};
    assert_int_equal(cc_js_publish(bus, "cc.judge.job", msg_id, NULL, "codecourt.v1.JudgeJob",
                                   data, len, NULL, pub_done, &w),
                     CC_OK);
    assert_true(cct_run_until(&loop, &w.done, 10000));
    assert_int_equal(w.s, CC_OK);
}

/* Publishes a job for the whole package plus extra (may be NULL). */
static tracked *publish_job(const char *sid, const char *lang, const char *source,
                            const blob *extra)
{
    Codecourt__V1__JudgeJob job = CODECOURT__V1__JUDGE_JOB__INIT;
    job.submission_id = (char *)sid;
    job.attempt = 1;
    job.user_id = "u1";
    job.problem = "aplusb";
    job.problem_version = "v1";
    job.language = (char *)lang;
    Codecourt__V1__SourceFile sf = CODECOURT__V1__SOURCE_FILE__INIT;
    sf.name = "main.c";
    sf.content.data = (uint8_t *)source;
    sf.content.len = strlen(source);
    Codecourt__V1__SourceFile *sfs[1] = {&sf};
    job.n_sources = 1;
    job.sources = sfs;
    Codecourt__V1__PackageFile pfs[NBLOBS + 1];
    Codecourt__V1__PackageFile *pp[NBLOBS + 1];
    size_t n = 0;
    for (size_t i = 0; i < nblobs; i++) {
        const blob *b = &blobs[i];
        if (!b->served || b->lie || b->extra_only) {
            if (b != extra)
                continue;
        }
        codecourt__v1__package_file__init(&pfs[n]);
        pfs[n].path = (char *)b->path;
        pfs[n].sha256 = (char *)b->sha;
        pfs[n].size = (int64_t)b->len;
        pp[n] = &pfs[n];
        n++;
    }
    job.n_package = n;
    job.package = pp;
    uint8_t buf[65536];
    size_t len = protobuf_c_message_get_packed_size(&job.base);
    assert_true(len <= sizeof buf);
    protobuf_c_message_pack(&job.base, buf);
    char id[128], rid[128];
    snprintf(id, sizeof id, "job-%s-1", sid);
    snprintf(rid, sizeof rid, "judged-%s-1", sid);
    tracked *t = track(sid, rid);
    publish_raw(id, buf, len);
    return t;
}

typedef struct {
    tracked **ts;
    size_t n;
} all_of;

static bool all_done(void *ud)
{
    all_of *a = ud;
    for (size_t i = 0; i < a->n; i++)
        if (a->ts[i]->count == 0)
            return false;
    return true;
}

static void wait_results(tracked **ts, size_t n, int timeout_ms)
{
    all_of a = {ts, n};
    bool ok = cct_run_until_fn(&loop, all_done, &a, timeout_ms);
    for (size_t i = 0; i < n; i++)
        if (ts[i]->count == 0)
            fprintf(stderr, "no result for %s\n", ts[i]->sid);
    assert_true(ok);
}

static void expect(const tracked *t, const char *verdict, const char *in_message)
{
    if (strcmp(t->verdict, verdict) || (in_message && !strstr(t->message, in_message)))
        fprintf(stderr, "%s: verdict %s, message \"%s\"; expected %s with \"%s\"\n", t->sid,
                t->verdict, t->message, verdict, in_message ? in_message : "");
    assert_string_equal(t->verdict, verdict);
    if (in_message)
        assert_non_null(strstr(t->message, in_message));
}

/* ---- workers -------------------------------------------------------------------- */

static int worker_port; /* the running worker's /metrics port */

static void start_worker(cc_local_proc *p, const char *name)
{
    char log[4300];
    snprintf(log, sizeof log, "%s/logs/%s.log", stack.dir, name);
    const char *argv[] = {CC_JUDGE_BIN,
                          "serve",
                          "--nats-url",
                          cc_local_nats_url(&stack, "judge"),
                          "--judge-cache",
                          cache_dir,
                          "--concurrency",
                          "2",
                          "--ack-wait",
                          "2s",
                          "--max-deliver",
                          "3",
                          "--blob-chunk",
                          "1000",
                          "--blob-timeout",
                          "3s",
                          "--retry-delay",
                          "300ms",
                          "--metrics-port",
                          "0",
                          "--queue-poll",
                          "200ms",
                          "--drain-timeout",
                          "20s",
                          "--judge-name",
                          name,
                          "--log-level",
                          getenv("TEST_DEBUG") ? "debug" : "info",
                          NULL};
    cc_local_spawn_opts o = {.name = name, .path = CC_JUDGE_BIN, .argv = argv, .log_path = log};
    memset(p, 0, sizeof *p);
    assert_int_equal(cc_local_spawn(p, &o), CC_OK);
    worker_port = -1;
    uint64_t end = uv_hrtime() + 20000000000ull;
    while ((worker_port = cct_metrics_port_from_log(log, "\"ready\"")) <= 0 && uv_hrtime() < end)
        sleep_loop(50);
    assert_true(worker_port > 0);
}

/* One HTTP/1.1 GET on 127.0.0.1:port; the status, the body in body. */
/* The value of an unlabelled series in a /metrics body, -1 when absent. */
static long long series(const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, name, nl) && l[nl] == ' ')
            return strtoll(l + nl + 1, NULL, 10);
    return -1;
}

/* The running worker's /metrics ("" when it does not answer). */
static const char *scrape(void)
{
    static char body[1 << 17];
    cct_resp r = cct_req((uint16_t)worker_port, "GET", "/metrics", NULL, NULL);
    snprintf(body, sizeof body, "%s", r.status == 200 && r.body ? r.body : "");
    cct_resp_free(&r);
    return body;
}

static long long metric(const char *name)
{
    return series(scrape(), name);
}

typedef struct {
    const char *name;
    long long want;
    long long last;
} metric_wait;

static bool metric_is(void *ud)
{
    metric_wait *w = ud;
    w->last = metric(w->name);
    if (getenv("TEST_DEBUG"))
        fprintf(stderr, "%s = %lld\n", w->name, w->last);
    if (w->last != w->want)
        sleep_loop(50);
    return w->last == w->want;
}

/* Waits until the series reads want; returns the last value read. */
static long long wait_metric(const char *name, long long want, int timeout_ms)
{
    metric_wait w = {name, want, -1};
    if (!cct_run_until_fn(&loop, metric_is, &w, timeout_ms))
        fprintf(stderr, "%s is %lld, expected %lld\n", name, w.last, want);
    return w.last;
}

/* ---- JetStream API from the test ------------------------------------------------------- */

typedef struct {
    bool done;
    cc_status s;
    char body[8192];
    char reply[256];
    bool has_data;
} api_reply;

static void on_api(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    api_reply *r = ud;
    r->s = s;
    if (reply) {
        snprintf(r->body, sizeof r->body, "%.*s", natsMsg_GetDataLength(reply),
                 natsMsg_GetData(reply));
        snprintf(r->reply, sizeof r->reply, "%s",
                 natsMsg_GetReply(reply) ? natsMsg_GetReply(reply) : "");
        r->has_data = natsMsg_GetDataLength(reply) > 0;
        natsMsg_Destroy(reply);
    }
    r->done = true;
}

static void api(const char *subject, const char *body, api_reply *r, int64_t timeout_ms)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(cc_bus_request(bus, subject, NULL, NULL, NULL, body, strlen(body), timeout_ms,
                                    on_api, r),
                     CC_OK);
    assert_true(cct_run_until(&loop, &r->done, (int)timeout_ms + 2000));
}

static json_int_t json_path_int(const char *body, const char *k1, const char *k2)
{
    json_t *o = json_loads(body, 0, NULL);
    json_t *v = o ? json_object_get(o, k1) : NULL;
    if (v && k2)
        v = json_object_get(v, k2);
    json_int_t n = v ? json_integer_value(v) : -1;
    json_decref(o);
    return n;
}

/* ---- setup ---------------------------------------------------------------------- */

static cc_status ensure_streams(void *ud)
{
    return cc_js_ensure_defaults(cc_bus_nats(bus));
}

static cc_status ensure_results(void *ud)
{
    return cc_js_ensure_consumer(cc_bus_nats(bus), ud);
}

static int group_setup(void **state)
{
    cc_log_init("test-judge", getenv("TEST_DEBUG") ? CC_LOG_DEBUG : CC_LOG_WARN);
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS, NULL) != CC_OK) {
        fprintf(stderr, "cannot start nats: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    snprintf(cache_dir, sizeof cache_dir, "%s/judge-cache", stack.dir);
    uv_loop_init(&loop);
    /* The test plays cc-problem and cc-submission: the admin user. */
    cc_bus_options o = {
        .url = cc_local_nats_url(&stack, "admin"), .name = "test-judge", .send_asap = true};
    if (cc_bus_connect(&loop, &o, &bus) != CC_OK)
        return -1;
    if (offload_wait(ensure_streams, NULL) != CC_OK)
        return -1;
    static cc_js_consumer_config rc = {.stream = CC_STREAM_EVENTS,
                                       .durable = "test-results",
                                       .filter = "cc.evt.submission.judged",
                                       .ack_wait_ms = 10000};
    if (offload_wait(ensure_results, &rc) != CC_OK)
        return -1;
    if (cc_js_consume(bus, &rc, on_result, NULL, &results_consumer) != CC_OK)
        return -1;
    if (cc_bus_subscribe(bus, "cc.evt.submission.progress", NULL, on_progress, NULL,
                         &progress_sub) != CC_OK)
        return -1;
    if (cc_rpc_serve(bus, "problem", problem_methods, 1, NULL, &problem_server) != CC_OK)
        return -1;
    build_package();
    return 0;
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static int group_teardown(void **state)
{
    cc_js_consumer_stop(results_consumer);
    cc_js_consumer_nak_all(results_consumer);
    cc_js_consumer_free(results_consumer);
    bool done = false;
    cc_bus_close(bus, closed, &done);
    cct_run_until(&loop, &done, 5000);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    nats_Close();
    for (size_t i = 0; i < nblobs; i++)
        free(blobs[i].data);
    return 0;
}

/* ---- the scenario ------------------------------------------------------------------ */

static cc_local_proc worker;

static void verdicts_and_bad_jobs(void **state)
{
    start_worker(&worker, "wA");
    blob *missing = add_blob("data/secret/9.in", "1 1\n", false);
    blob *liar = add_blob("data/secret/8.in", "2 2\n", true);
    liar->lie = true;
    /* An input without its answer: the package does not load. */
    blob *lone = add_blob("data/secret/7.in", "3 3\n", true);
    lone->extra_only = true;

    tracked *ts[9];
    size_t n = 0;
    ts[n++] = publish_job("ac1", "c", src_ac, NULL);
    ts[n++] = publish_job("wa1", "c", src_wa, NULL);
    ts[n++] = publish_job("ce1", "c", src_ce, NULL);
    ts[n++] = publish_job("lang1", "cobol-2099", src_ac, NULL);
    ts[n++] = publish_job("miss1", "c", src_ac, missing);
    ts[n++] = publish_job("liar1", "c", src_ac, liar);
    ts[n++] = publish_job("noload1", "c", src_ac, lone);
    ts[n++] = track("bad", "judged-bad-1");
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0a, 0x01};
    publish_raw("job-bad-1", garbage, sizeof garbage);
    wait_results(ts, n, 120000);

    expect(ts[0], "AC", NULL);
    expect(ts[1], "WA", NULL);
    expect(ts[2], "CE", NULL);
    expect(ts[3], "IE", "unknown language");
    expect(ts[4], "IE", "cannot fetch package file data/secret/9.in");
    expect(ts[5], "IE", "hash mismatch");
    /* The submitter sees the package's file by its name in the package,
     * never this host's folders (the cache, the job's folder). */
    expect(ts[6], "IE", "the problem package does not load");
    assert_non_null(strstr(ts[6]->message, "data/secret/7.in"));
    assert_null(strstr(ts[6]->message, cache_dir));
    assert_null(strstr(ts[6]->message, stack.dir));
    assert_null(strstr(ts[6]->message, " /"));
    expect(ts[7], "IE", "malformed JudgeJob");
    /* Chunked: the 6000-byte input took several calls. */
    assert_true(blob_of("data/secret/4.in")->calls >= 6);
    assert_true(ts[0]->progress >= 1);
}

static void cache_hit_and_corruption(void **state)
{
    /* Every blob of the package is in the cache now: nothing is fetched. */
    int before = getblob_calls;
    tracked *t = publish_job("ac2", "c", src_ac, NULL);
    wait_results(&t, 1, 60000);
    expect(t, "AC", NULL);
    assert_int_equal(getblob_calls, before);

    /* A cache file with the right size and the wrong bytes is noticed by
     * its hash, removed and fetched again (one call: it is small). */
    blob *b = blob_of("data/secret/1.ans");
    char path[4400];
    snprintf(path, sizeof path, "%s/blobs/%s", cache_dir, b->sha);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "31\n", 3), 3);
    close(fd);
    int calls_before = b->calls;
    before = getblob_calls;
    t = publish_job("ac3", "c", src_ac, NULL);
    wait_results(&t, 1, 60000);
    expect(t, "AC", NULL);
    assert_int_equal(b->calls, calls_before + 1);
    assert_int_equal(getblob_calls, before + 1);
}

typedef struct {
    long long pending, ack_pending; /* as last read */
} backlog;

/* At least 3 of the 5 jobs wait (the worker has 2 slots, both taken by
 * slow jobs for seconds) and, no job being acked yet, the other ones are
 * taken: both gauges come from one consumer info. */
static bool backlog_seen(void *ud)
{
    backlog *b = ud;
    const char *body = scrape();
    b->pending = series(body, "cc_judge_queue_pending");
    b->ack_pending = series(body, "cc_judge_queue_ack_pending");
    bool ok = b->pending >= 3 && b->pending + b->ack_pending == 5;
    if (!ok)
        sleep_loop(50);
    return ok;
}

/* The oldest waiting job has waited a second or more. */
static bool oldest_aged(void *ud)
{
    long long *v = ud;
    *v = series(scrape(), "cc_judge_queue_oldest_seconds");
    bool ok = *v >= 1;
    if (!ok)
        sleep_loop(50);
    return ok;
}

static void queue_gauge_follows_backlog(void **state)
{
    /* Nothing waits now. */
    assert_int_equal(wait_metric("cc_judge_queue_pending", 0, 10000), 0);
    assert_int_equal(wait_metric("cc_judge_queue_ack_pending", 0, 10000), 0);
    /* Two slow jobs (seconds each) for the worker's two slots, then three
     * quick ones that can only wait behind them. */
    tracked *ts[5];
    ts[0] = publish_job("busy1", "c", src_slow_tle, NULL);
    ts[1] = publish_job("busy2", "c", src_slow_tle, NULL);
    ts[2] = publish_job("queued1", "c", src_ac, NULL);
    ts[3] = publish_job("queued2", "c", src_ac, NULL);
    ts[4] = publish_job("queued3", "c", src_ac, NULL);
    backlog b = {-1, -1};
    bool seen = cct_run_until_fn(&loop, backlog_seen, &b, 10000);
    if (!seen)
        fprintf(stderr, "queue gauges: pending %lld, ack pending %lld\n", b.pending,
                b.ack_pending);
    assert_true(seen);
    long long oldest = -1;
    if (!cct_run_until_fn(&loop, oldest_aged, &oldest, 10000))
        fail_msg("cc_judge_queue_oldest_seconds stayed at %lld with jobs waiting", oldest);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ts[i]->count, 0);
    wait_results(ts, 5, 120000);
    expect(ts[0], "TLE", NULL);
    expect(ts[1], "TLE", NULL);
    for (int i = 2; i < 5; i++)
        expect(ts[i], "AC", NULL);
    /* Judged and acked: back to 0. */
    assert_int_equal(wait_metric("cc_judge_queue_pending", 0, 10000), 0);
    assert_int_equal(wait_metric("cc_judge_queue_ack_pending", 0, 10000), 0);
    assert_int_equal(wait_metric("cc_judge_queue_oldest_seconds", 0, 10000), 0);
}

static bool progressed(void *ud)
{
    return ((tracked *)ud)->progress >= 2;
}

static void worker_killed_mid_job(void **state)
{
    tracked *t = publish_job("slow1", "c", src_slow_tle, NULL);
    assert_true(cct_run_until_fn(&loop, progressed, t, 60000));
    assert_int_equal(t->count, 0);
    pid_t killed = worker.pid;
    assert_int_equal(cc_local_proc_kill(&worker), CC_OK);
    /* The new worker gets it after the ack wait (2 s) and judges it again. */
    start_worker(&worker, "wB");
    wait_results(&t, 1, 90000);
    expect(t, "TLE", NULL);
    assert_string_equal(t->judge, "wB");
    /* The killed worker's sandbox cgroups were removed by the new one. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "test -z \"$(find /sys/fs/cgroup -maxdepth 6 -name 'cc-judge-%ld-*' 2>/dev/null)\"",
             (long)killed);
    assert_int_equal(system(cmd), 0);
}

typedef struct {
    const char *msg_id; /* the job whose deliveries are counted */
    uint64_t delivered;
} pull_count;

static void on_pulled(cc_bus *b, natsMsg *m, void *ud)
{
    pull_count *pc = ud;
    uint64_t *delivered = &pc->delivered;
    const char *reply = natsMsg_GetReply(m);
    const char *id = NULL;
    natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
    /* Only the dead job counts; anything else taken here (a redelivery
     * of an earlier job) is left unacked for the next worker. */
    if (natsMsg_GetDataLength(m) > 0 && reply && !strncmp(reply, "$JS.ACK.", 8) && id &&
        !strcmp(id, pc->msg_id)) {
        /* $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>... */
        const char *p = reply;
        for (int dots = 0; dots < 4 && p; dots++)
            p = strchr(p + 1, '.');
        if (p)
            *delivered = strtoull(p + 1, NULL, 10);
        if (getenv("TEST_DEBUG"))
            fprintf(stderr, "took %s, delivery %" PRIu64 "\n", natsMsg_GetSubject(m), *delivered);
    }
    natsMsg_Destroy(m);
}

typedef struct {
    uint64_t *delivered;
    uint64_t before;
} pull_wait;

static bool pulled_more(void *ud)
{
    pull_wait *w = ud;
    return *w->delivered > w->before;
}

static int pull_seq;

/* Sends one pull request (batch 1, 2.5 s) on the judges consumer whose
 * answers go to the test's _INBOX.testpull.* subscription. */
static void pull_once(void)
{
    /* JetStream sends a pulled message under its own subject to the
     * pull's inbox, so cc_bus_request (which matches replies by
     * subject) cannot be used: a plain subscription takes them. */
    char inbox[64];
    snprintf(inbox, sizeof inbox, "_INBOX.testpull.%d", pull_seq++);
    const char *body = "{\"batch\":1,\"expires\":2500000000}";
    assert_int_equal(natsConnection_PublishRequest(cc_bus_nats(bus),
                                                   "$JS.API.CONSUMER.MSG.NEXT.CC_JUDGE.judges",
                                                   inbox, body, (int)strlen(body)),
                     NATS_OK);
}

/* Stops the worker cleanly, publishes a job and takes it max-deliver (3)
 * times without acking it, as three workers that died would. */
static tracked *exhaust_deliveries(const char *sid, cc_bus_sub **sub, pull_count *pc)
{
    /* A clean stop: SIGTERM drains and exits 0. */
    assert_int_equal(cc_local_proc_stop(&worker, SIGTERM, 30000), CC_OK);
    assert_true(WIFEXITED(worker.status));
    assert_int_equal(WEXITSTATUS(worker.status), 0);
    worker_port = -1;

    tracked *t = publish_job(sid, "c", src_ac, NULL);
    /* A pull the stopped worker left waiting may still take a delivery in
     * the server, so count deliveries from the ack subject
     * ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...). */
    assert_int_equal(cc_bus_subscribe(bus, "_INBOX.testpull.*", NULL, on_pulled, pc, sub), CC_OK);
    uint64_t end = uv_hrtime() + 40000000000ull;
    while (pc->delivered < 3 && uv_hrtime() < end) {
        uint64_t before = pc->delivered;
        pull_once();
        pull_wait pw = {&pc->delivered, before};
        cct_run_until_fn(&loop, pulled_more, &pw, 3000);
    }
    assert_int_equal(pc->delivered, 3);
    return t;
}

static void dead_letter_becomes_ie(void **state)
{
    pull_count pc = {"job-dead1-1", 0};
    cc_bus_sub *sub = NULL;
    tracked *t = exhaust_deliveries("dead1", &sub, &pc);
    cc_bus_unsubscribe(sub);
    /* The next worker's pull finds it exhausted; the server advises, and
     * the worker publishes IE and deletes the job. */
    start_worker(&worker, "wC");
    wait_results(&t, 1, 60000);
    expect(t, "IE", "delivered 3 times");
}

static int advisories;

static void on_advisory_seen(cc_bus *b, natsMsg *m, void *ud)
{
    json_t *o = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    if (o && json_integer_value(json_object_get(o, "stream_seq")) == *(json_int_t *)ud)
        advisories++;
    json_decref(o);
    natsMsg_Destroy(m);
}

static bool advised(void *ud)
{
    if (advisories == 0 && *(int *)ud % 100 == 0)
        pull_once(); /* the server checks a job's deliveries when a pull comes */
    (*(int *)ud)++;
    return advisories > 0;
}

static void dead_letter_without_a_worker(void **state)
{
    pull_count pc = {"job-dead2-1", 0};
    cc_bus_sub *sub = NULL;
    tracked *t = exhaust_deliveries("dead2", &sub, &pc);
    /* Its sequence in CC_JUDGE, the only message there. */
    api_reply r;
    api("$JS.API.STREAM.INFO.CC_JUDGE", "", &r, 3000);
    json_int_t seq = json_path_int(r.body, "state", "last_seq");
    assert_int_equal(json_path_int(r.body, "state", "messages"), 1);
    /* Still no worker: after the ack wait the test's next pull makes the
     * server give up on the job and publish the advisory, which nobody
     * but the test (and the CC_JUDGE_DEAD stream) hears. */
    cc_bus_sub *adv = NULL;
    assert_int_equal(cc_bus_subscribe(bus,
                                      "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.CC_JUDGE.judges",
                                      NULL, on_advisory_seen, &seq, &adv),
                     CC_OK);
    int ticks = 0;
    assert_true(cct_run_until_fn(&loop, advised, &ticks, 30000));
    cc_bus_unsubscribe(adv);
    cc_bus_unsubscribe(sub);
    assert_int_equal(pc.delivered, 3);
    assert_int_equal(advisories, 1);
    /* The job is in the queue, the advisory in CC_JUDGE_DEAD, no result. */
    api("$JS.API.STREAM.INFO.CC_JUDGE", "", &r, 3000);
    assert_int_equal(json_path_int(r.body, "state", "messages"), 1);
    api("$JS.API.STREAM.INFO.CC_JUDGE_DEAD", "", &r, 3000);
    assert_int_equal(json_path_int(r.body, "state", "messages"), 1);
    api("$JS.API.CONSUMER.INFO.CC_JUDGE.judges", "", &r, 3000);
    assert_int_equal(json_path_int(r.body, "num_pending", NULL), 0);
    assert_int_equal(json_path_int(r.body, "num_ack_pending", NULL), 0);
    /* The advisories' consumer never gives up on one. */
    api("$JS.API.CONSUMER.INFO.CC_JUDGE_DEAD.judges", "", &r, 3000);
    assert_int_equal(json_path_int(r.body, "config", "max_deliver"), -1);
    sleep_loop(500);
    assert_int_equal(t->count, 0);
    /* A worker that starts later finds the advisory and finishes the job. */
    start_worker(&worker, "wD");
    wait_results(&t, 1, 60000);
    expect(t, "IE", "delivered 3 times");
}

static bool queue_empty(void *ud)
{
    api_reply r;
    api("$JS.API.CONSUMER.INFO.CC_JUDGE.judges", "", &r, 3000);
    json_int_t pending = json_path_int(r.body, "num_pending", NULL);
    json_int_t ack_pending = json_path_int(r.body, "num_ack_pending", NULL);
    api("$JS.API.STREAM.INFO.CC_JUDGE", "", &r, 3000);
    json_int_t msgs = json_path_int(r.body, "state", "messages");
    /* Every advisory was handled and acked too. */
    api("$JS.API.STREAM.INFO.CC_JUDGE_DEAD", "", &r, 3000);
    json_int_t dead = json_path_int(r.body, "state", "messages");
    if (pending || ack_pending || msgs || dead)
        sleep_loop(200);
    return pending == 0 && ack_pending == 0 && msgs == 0 && dead == 0;
}

static void one_result_per_job(void **state)
{
    sleep_loop(1500); /* time for a late duplicate to show up */
    for (size_t i = 0; i < njobs; i++) {
        if (jobs[i].count != 1)
            fprintf(stderr, "%s: %d results\n", jobs[i].sid, jobs[i].count);
        assert_int_equal(jobs[i].count, 1);
    }
    assert_int_equal(results_total, (int)njobs);
    assert_true(cct_run_until_fn(&loop, queue_empty, NULL, 10000));
    /* The stream holds exactly one judged event per job too. */
    api_reply r;
    api("$JS.API.STREAM.INFO.CC_EVENTS", "{\"subjects_filter\":\"cc.evt.submission.judged\"}", &r,
        3000);
    json_t *o = json_loads(r.body, 0, NULL);
    json_t *subj = json_object_get(json_object_get(json_object_get(o, "state"), "subjects"),
                                   "cc.evt.submission.judged");
    assert_int_equal(json_integer_value(subj), (json_int_t)njobs);
    json_decref(o);

    assert_int_equal(cc_local_proc_stop(&worker, SIGTERM, 30000), CC_OK);
    assert_true(WIFEXITED(worker.status));
    assert_int_equal(WEXITSTATUS(worker.status), 0);
    /* No job folder is left behind, the killed worker's included. */
    char work[4300];
    snprintf(work, sizeof work, "%s/work", cache_dir);
    struct stat st;
    assert_int_equal(stat(work, &st), 0);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -mindepth 2 -print -quit)\"", work);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts_and_bad_jobs),
        cmocka_unit_test(cache_hit_and_corruption),
        cmocka_unit_test(queue_gauge_follows_backlog),
        cmocka_unit_test(worker_killed_mid_job),
        cmocka_unit_test(dead_letter_becomes_ie),
        cmocka_unit_test(dead_letter_without_a_worker),
        cmocka_unit_test(one_result_per_job),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
