/* Integration: distributed tracing (runtime/include/cc/trace.h) on real
 * processes, with a real OTLP/HTTP JSON receiver (cctest_otlp.h).
 *
 * whole_trace: `make run`'s supervisor (cc-local: every actor, the judge
 * and the gateway on real NATS, PostgreSQL and Redis) with
 * CC_OTLP_ENDPOINT set; one submission must arrive as one connected
 * trace: one root (the gateway's POST /v1/submissions), every span's
 * parent present, and spans from cc-gateway, cc-submission, cc-judge
 * (its compile and tests) and cc-notify (the verdict's delivery).
 *
 * dead_collector: cc-user and cc-gateway exporting to a collector that
 * accepts connections and never answers; requests stay fast, and the
 * spans that could not be sent are dropped and counted in /metrics. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"
#include "cctest_mesh.h"
#include "cctest_otlp.h"

static void set_endpoint(uint16_t port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    setenv("CC_OTLP_ENDPOINT", url, 1);
    setenv("CC_TRACE_SAMPLE", "1", 1);
}

/* ---- one submission, one trace ------------------------------------------------ */

static cc_local_proc local;

static void stop_local(void)
{
    if (local.pid > 0)
        cc_local_proc_stop(&local, SIGINT, 30000);
}

/* Waits until cc-local's log says it is ready; false when it exited. */
static bool wait_ready(const char *log, int ms)
{
    char line[4096];
    for (double end = cct_now_s() + ms / 1000.0; cct_now_s() < end; usleep(200000)) {
        FILE *f = fopen(log, "r");
        bool ready = false;
        while (f && !ready && fgets(line, sizeof line, f))
            ready = strstr(line, "cc-local: ready") != NULL;
        if (f)
            fclose(f);
        if (ready)
            return true;
        if (cc_local_proc_poll(&local))
            return false;
    }
    return false;
}

static json_t *trace_of(json_t *spans, const char *trace_id)
{
    json_t *out = json_array(), *s;
    size_t i;
    json_array_foreach(spans, i, s) if (!strcmp(cct_json_str(s, "traceId"), trace_id))
        json_array_append(out, s);
    return out;
}

static bool has_span(json_t *trace, const char *service, const char *name_prefix)
{
    json_t *s;
    size_t i;
    json_array_foreach(trace, i, s) if (!strcmp(cct_json_str(s, "service"), service) &&
                                        !strncmp(cct_json_str(s, "name"), name_prefix,
                                                 strlen(name_prefix))) return true;
    return false;
}

/* The trace whose root is the gateway's POST /v1/submissions, once it
 * holds the verdict's delivery by cc-notify; NULL after ms. */
static json_t *wait_trace(cct_otlp *o, int ms)
{
    for (double end = cct_now_s() + ms / 1000.0; cct_now_s() < end; usleep(300000)) {
        json_t *spans = cct_otlp_spans(o), *s;
        size_t i;
        json_array_foreach(spans, i, s)
        {
            if (strcmp(cct_json_str(s, "name"), "POST /v1/submissions") != 0)
                continue;
            json_t *t = trace_of(spans, cct_json_str(s, "traceId"));
            if (has_span(t, "cc-notify", "notify deliver verdict")) {
                json_decref(spans);
                return t;
            }
            json_decref(t);
        }
        json_decref(spans);
    }
    return NULL;
}

static void print_trace(json_t *t)
{
    json_t *s;
    size_t i;
    json_array_foreach(t, i, s)
        fprintf(stderr, "  %-14s %-48s span %s parent %s\n", cct_json_str(s, "service"),
                cct_json_str(s, "name"), cct_json_str(s, "spanId"),
                cct_json_str(s, "parentSpanId"));
}

static void whole_trace(void **state)
{
    (void)state;
    cct_otlp *o = cct_otlp_start(true);
    assert_non_null(o);
    set_endpoint(cct_otlp_port(o));
    char dir[] = "/tmp/cctrace-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uint16_t http, https;
    assert_int_equal(cc_local_free_port(&http), CC_OK);
    assert_int_equal(cc_local_free_port(&https), CC_OK);
    char state_dir[4200], log[4200], hp[16], sp[16], cc_local_bin[4200];
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    snprintf(log, sizeof log, "%s/cc-local.log", dir);
    snprintf(hp, sizeof hp, "%u", http);
    snprintf(sp, sizeof sp, "%u", https);
    snprintf(cc_local_bin, sizeof cc_local_bin, "%s/cc-local", CC_BIN_DIR);
    const char *argv[] = {"cc-local", "--state", state_dir, "--http-port", hp,
                          "--https-port", sp, "--log-level", "warn", NULL};
    /* cc-user's bcrypt at the tests' cost: the default takes seconds a
     * hash on a loaded machine. */
    setenv("CC_BCRYPT_COST", "4", 1);
    cc_local_spawn_opts so = {.name = "cc-local", .path = cc_local_bin, .argv = argv,
                              .log_path = log};
    assert_int_equal(cc_local_spawn(&local, &so), CC_OK);
    atexit(stop_local);
    if (!wait_ready(log, 180000)) {
        fprintf(stderr, "cc-local did not get ready; see %s\n", log);
        fail();
    }
    /* cc-local is ready once it started everything; the gateway is ready
     * once its actors answer, and the judge once it takes jobs. */
    assert_true(cct_wait_status(http, "/readyz", 200, 120000));
    cct_mesh m = {.gw_port = http};
    cct_account a;
    /* cc-user may still be connecting to PostgreSQL on a busy machine. */
    bool registered = false;
    for (double end = cct_now_s() + 90; !registered && cct_now_s() < end; sleep(1))
        registered = cct_register(&m, "tracer", &a);
    assert_true(registered);
    char id[64];
    assert_int_equal(cct_submit(&m, &a, CCT_AC_C, NULL, id, NULL, NULL), 201);
    assert_true(cct_wait_submission(&m, &a, id, "judged", 120000));
    json_t *t = wait_trace(o, 30000);
    if (!t) {
        char path[4300];
        snprintf(path, sizeof path, "%s/spans.json", dir);
        json_t *all = cct_otlp_spans(o);
        json_dump_file(all, path, JSON_INDENT(1));
        json_decref(all);
        fprintf(stderr, "spans in %s\n", path);
        fprintf(stderr, "no trace of POST /v1/submissions reached cc-notify (%llu spans; logs in %s)\n",
                (unsigned long long)cct_otlp_count(o), state_dir);
        fail();
    }
    /* One root, the gateway's request; every parent present. */
    int roots = 0, orphans = 0;
    json_t *s;
    size_t i;
    json_array_foreach(t, i, s)
    {
        const char *parent = cct_json_str(s, "parentSpanId");
        if (!parent[0]) {
            roots++;
            assert_string_equal(cct_json_str(s, "service"), "cc-gateway");
            assert_string_equal(cct_json_str(s, "name"), "POST /v1/submissions");
            continue;
        }
        bool found = false;
        json_t *p;
        size_t k;
        json_array_foreach(t, k, p) found = found || !strcmp(cct_json_str(p, "spanId"), parent);
        if (!found) {
            fprintf(stderr, "orphan: %s %s (parent %s)\n", cct_json_str(s, "service"),
                    cct_json_str(s, "name"), parent);
            orphans++;
        }
    }
    fprintf(stderr, "the submission's trace: %zu spans\n", json_array_size(t));
    if (roots != 1 || orphans)
        print_trace(t);
    assert_int_equal(roots, 1);
    assert_int_equal(orphans, 0);
    /* Every hop of the submission's way. */
    assert_true(has_span(t, "cc-gateway", "submission/Submit"));     /* RPC client */
    assert_true(has_span(t, "cc-submission", "submission/Submit"));  /* RPC server */
    assert_true(has_span(t, "cc-submission", "INSERT submissions")); /* a query, by name */
    assert_true(has_span(t, "cc-notify", "INSERT notifications"));
    assert_true(has_span(t, "cc-submission", "outbox relay "));
    assert_true(has_span(t, "cc-judge", "judge compile"));
    assert_true(has_span(t, "cc-judge", "judge test"));
    assert_true(has_span(t, "cc-judge", "cc.judge."));               /* consume, publish */
    assert_true(has_span(t, "cc-notify", "notify deliver verdict"));
    /* No statement text, only its name. */
    json_array_foreach(t, i, s) assert_null(strchr(cct_json_str(s, "name"), '$'));
    json_decref(t);
    assert_int_equal(cct_otlp_bad(o), 0);
    stop_local();
    cct_otlp_stop(o);
    cc_local_rmtree(dir);
}

/* ---- a dead collector ------------------------------------------------------------ */

/* A value of a counter series in /metrics text (0 when absent). */
static double metric(uint16_t port, const char *series)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", port);
    cct_resp r = cct_req_url("GET", url, NULL, NULL, NULL);
    double v = 0;
    const char *p = r.body ? strstr(r.body, series) : NULL;
    if (p)
        v = strtod(p + strlen(series), NULL);
    cct_resp_free(&r);
    return v;
}

static void dead_collector(void **state)
{
    (void)state;
    /* Listening, so connections are accepted by the kernel, but never
     * read nor answered: every export waits for its timeout. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    set_endpoint(ntohs(sa.sin_port));

    static cc_local_stack stack;
    static cc_local_proc user, gw;
    assert_true(cct_start_stack(&stack, "test_trace",
                                (const char *const[]){"cc_user", NULL}));
    char keypath[4200];
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", stack.dir);
    assert_true(cct_start_user(&user, &stack, CC_BIN_DIR, keypath, NULL));
    uint16_t port, mport;
    assert_int_equal(cc_local_free_port(&port), CC_OK);
    assert_int_equal(cc_local_free_port(&mport), CC_OK);
    assert_true(cct_start_gateway(&gw, &stack, CC_BIN_DIR, keypath, port, mport, NULL));
    cct_mesh m = {.gw_port = port};
    cct_account a;
    bool registered = false; /* a loaded machine may time the first one out */
    for (double end = cct_now_s() + 60; !registered && cct_now_s() < end; sleep(1))
        registered = cct_register(&m, "deadcollector", &a);
    assert_true(registered);
    /* 300 requests that each cross the mesh (gateway -> cc-user, a
     * query): 3 spans or more apiece, while the exporter is stuck. */
    double worst = 0, t0 = cct_now_s();
    for (int i = 0; i < 300; i++) {
        double s = cct_now_s();
        cct_resp r = cct_req(port, "GET", "/v1/users/me", NULL, a.token);
        assert_int_equal(r.status, 200);
        cct_resp_free(&r);
        if (cct_now_s() - s > worst)
            worst = cct_now_s() - s;
    }
    double total = cct_now_s() - t0;
    fprintf(stderr, "300 requests in %.2f s, slowest %.1f ms, with a dead collector\n", total,
            worst * 1000);
    /* An export waits up to 2 s for the dead collector: a request that
     * waited for one would take that long. */
    assert_true(worst < 0.5);
    /* The spans could not go anywhere: dropped and counted, on both. */
    double dropped = 0;
    for (double end = cct_now_s() + 15; cct_now_s() < end && dropped <= 0; usleep(250000))
        dropped = metric(mport, "cc_trace_spans_dropped_total{reason=\"export_failed\"} ");
    fprintf(stderr, "gateway: %.0f spans dropped\n", dropped);
    assert_true(dropped > 0);
    assert_true(metric(mport, "cc_trace_spans_exported_total ") == 0);
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    cc_local_proc_stop(&user, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    close(lfd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dead_collector),
        cmocka_unit_test(whole_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
