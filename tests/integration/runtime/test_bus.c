/* Integration tests of the runtime's bus against a real nats-server with
 * JetStream, started by cclocal on a free loopback port in a temporary
 * folder: RPC round trip, timeout and no responders; error replies to
 * garbage; JetStream publish then consume; redelivery after a nak and after
 * a consumer dies without acking; a duplicate Nats-Msg-Id stored once;
 * SIGTERM drain with a request in flight; unsubscribed subscriptions
 * freed. */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/js.h"
#include "cc/local.h"
#include "cc/log.h"

#include "cctest_http.h"
#include "cctest_mesh.h"
#include "codecourt/v1/runtime.pb-c.h"

static cc_local_stack stack;
static uv_loop_t loop;
static cc_bus *bus;
static cc_rpc_server *echo_server;
static char testactor[4096];

static void sleep_loop(int ms)
{
    bool never = false;
    cct_run_until(&loop, &never, ms);
}

static cc_status ensure_streams(void *ud)
{
    return cc_js_ensure_defaults(cc_bus_nats(bus));
}

static cc_status offload_wait(cc_status (*fn)(void *), void *ud)
{
    return cct_offload_wait(bus, &loop, fn, ud, 20000);
}

static int group_setup(void **state)
{
    cc_log_init("test-bus", getenv("TEST_DEBUG") ? CC_LOG_DEBUG : CC_LOG_WARN);
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS, NULL) != CC_OK) {
        fprintf(stderr, "cannot start nats: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    uv_loop_init(&loop);
    cc_bus_options o = {
        .url = cc_local_nats_url(&stack, "admin"), .name = "test-bus", .send_asap = true};
    if (cc_bus_connect(&loop, &o, &bus) != CC_OK) {
        fprintf(stderr, "connect: %s\n", cc_err_msg());
        return -1;
    }
    if (offload_wait(ensure_streams, NULL) != CC_OK) {
        fprintf(stderr, "streams: %s\n", cc_err_msg());
        return -1;
    }
    if (cc_rpc_serve(bus, "echo", NULL, 0, NULL, &echo_server) != CC_OK)
        return -1;
    return 0;
}

static void closed(void *ud)
{
    *(bool *)ud = true;
}

static int group_teardown(void **state)
{
    bool done = false;
    cc_bus_close(bus, closed, &done);
    cct_run_until(&loop, &done, 5000);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    nats_Close();
    return 0;
}

/* ---- RPC ---------------------------------------------------------------- */

typedef struct {
    bool done;
    cc_status s;
    char err[256];
    char text[256];
    char service[64];
    size_t payload_len;
} ping_result;

static void ping_done(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    ping_result *r = ud;
    r->s = s;
    if (errmsg)
        snprintf(r->err, sizeof r->err, "%s", errmsg);
    if (resp) {
        const Codecourt__V1__PingReply *p = (const Codecourt__V1__PingReply *)resp;
        snprintf(r->text, sizeof r->text, "%s", p->text);
        snprintf(r->service, sizeof r->service, "%s", p->service);
        r->payload_len = p->payload.len;
    }
    r->done = true;
}

static cc_status ping(const char *service, const char *text, int64_t sleep_ms, int64_t timeout_ms,
                      ping_result *r)
{
    memset(r, 0, sizeof *r);
    Codecourt__V1__PingRequest req = CODECOURT__V1__PING_REQUEST__INIT;
    req.text = (char *)text;
    req.sleep_ms = sleep_ms;
    return cc_rpc_call_async(bus, service, "Ping", NULL, &req.base,
                             &codecourt__v1__ping_reply__descriptor, timeout_ms, ping_done, r);
}

static void rpc_round_trip(void **state)
{
    ping_result r;
    assert_int_equal(ping("echo", "hello", 0, 2000, &r), CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 3000));
    assert_int_equal(r.s, CC_OK);
    assert_string_equal(r.text, "hello");
    assert_string_equal(r.service, "echo");

    /* a big payload goes through too */
    Codecourt__V1__PingRequest req = CODECOURT__V1__PING_REQUEST__INIT;
    req.text = "big";
    static uint8_t blob[200000];
    memset(blob, 7, sizeof blob);
    req.payload.data = blob;
    req.payload.len = sizeof blob;
    memset(&r, 0, sizeof r);
    assert_int_equal(cc_rpc_call_async(bus, "echo", "Ping", NULL, &req.base,
                                       &codecourt__v1__ping_reply__descriptor, 3000, ping_done,
                                       &r),
                     CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 4000));
    assert_int_equal(r.s, CC_OK);
    assert_int_equal(r.payload_len, sizeof blob);
}

static void rpc_timeout_and_no_responders(void **state)
{
    ping_result r;
    uint64_t t0 = uv_hrtime();
    assert_int_equal(ping("echo", "slow", 2000, 200, &r), CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 3000));
    assert_int_equal(r.s, CC_TIMEOUT);
    uint64_t ms = (uv_hrtime() - t0) / 1000000u;
    assert_true(ms >= 190 && ms < 1500);

    /* nobody serves "ghost": the call ends at its timeout */
    t0 = uv_hrtime();
    assert_int_equal(ping("ghost", "x", 0, 300, &r), CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 3000));
    assert_int_equal(r.s, CC_TIMEOUT);
    assert_true((uv_hrtime() - t0) / 1000000u >= 290);

    /* the echo server still answers after the late reply to the slow call
     * arrives and is dropped */
    sleep_loop(2000);
    assert_int_equal(ping("echo", "after", 0, 2000, &r), CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 3000));
    assert_int_equal(r.s, CC_OK);
}

typedef struct {
    bool done;
    cc_status s;
    char status[16];
    char error[300];
} raw_result;

static void raw_done(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    raw_result *r = ud;
    r->s = s;
    if (reply) {
        const char *v = NULL;
        if (natsMsgHeader_Get(reply, CC_HDR_STATUS, &v) == NATS_OK)
            snprintf(r->status, sizeof r->status, "%s", v);
        if (natsMsgHeader_Get(reply, CC_HDR_ERROR, &v) == NATS_OK)
            snprintf(r->error, sizeof r->error, "%s", v);
        natsMsg_Destroy(reply);
    }
    r->done = true;
}

static void raw_request(const char *subject, const cc_envelope *env, const void *data, size_t len,
                        raw_result *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(cc_bus_request(bus, subject, env, NULL, NULL, data, len, 2000, raw_done, r),
                     CC_OK);
    assert_true(cct_run_until(&loop, &r->done, 3000));
    assert_int_equal(r->s, CC_OK);
}

static void rpc_error_replies_to_garbage(void **state)
{
    raw_result r;
    /* bytes that are not a PingRequest */
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    raw_request("cc.rpc.echo.Ping", NULL, junk, sizeof junk, &r);
    assert_int_equal((int)strtol(r.status, NULL, 10), CC_PROTO);
    assert_non_null(strstr(r.error, "malformed codecourt.v1.PingRequest"));

    /* a method the service lacks */
    raw_request("cc.rpc.echo.Explode", NULL, "", 0, &r);
    assert_int_equal((int)strtol(r.status, NULL, 10), CC_UNKNOWN_METHOD);
    assert_non_null(strstr(r.error, "Explode"));

    /* a message of the wrong type */
    cc_envelope env;
    cc_envelope_new(&env, "codecourt.v1.Nonsense");
    raw_request("cc.rpc.echo.Ping", &env, "", 0, &r);
    assert_int_equal((int)strtol(r.status, NULL, 10), CC_PROTO);
    assert_non_null(strstr(r.error, "codecourt.v1.Nonsense"));

    /* a forged traceparent header */
    natsMsg *m = NULL;
    memset(&r, 0, sizeof r);
    natsMsg_Create(&m, "cc.rpc.echo.Ping", NULL, NULL, 0);
    natsMsgHeader_Set(m, CC_HDR_TRACEPARENT, "not-a-trace");
    cc_envelope bad;
    assert_int_equal(cc_envelope_from_msg(&bad, m), CC_PROTO);
    natsMsg_Destroy(m);

    /* and the server is still alive */
    ping_result p;
    assert_int_equal(ping("echo", "alive", 0, 2000, &p), CC_OK);
    assert_true(cct_run_until(&loop, &p.done, 3000));
    assert_int_equal(p.s, CC_OK);
    assert_string_equal(p.text, "alive");
}

/* ---- JetStream ---------------------------------------------------------- */

typedef struct {
    bool done;
    int acked;
    int failed;
    int duplicates;
    uint64_t last_seq;
} pub_result;

static void pub_done(cc_status s, const char *err, const cc_js_pub_ack *ack, void *ud)
{
    pub_result *r = ud;
    if (s == CC_OK) {
        r->acked++;
        r->duplicates += ack->duplicate;
        r->last_seq = ack->seq;
    } else {
        r->failed++;
    }
}

typedef struct {
    int received;
    char ids[512][64];
    uint64_t delivered[512];
    int nak_first; /* nak each message's first delivery with this delay (ms); -1 = never */
    bool done;
    int want;
} consume_state;

static void on_consume(cc_js_msg *m, void *ud)
{
    consume_state *st = ud;
    if (st->nak_first >= 0 && cc_js_msg_delivered(m) == 1) {
        cc_js_nak(m, st->nak_first);
        return;
    }
    if (st->received < 512) {
        snprintf(st->ids[st->received], sizeof st->ids[0], "%s", cc_js_msg_id(m));
        st->delivered[st->received] = cc_js_msg_delivered(m);
    }
    st->received++;
    cc_js_in_progress(m); /* harmless before an ack, and exercised */
    cc_js_ack(m);
    if (st->received >= st->want)
        st->done = true;
}

static cc_status ensure_consumer(void *ud)
{
    return cc_js_ensure_consumer(cc_bus_nats(bus), ud);
}

static uint64_t stream_msgs(const char *stream)
{
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    uint64_t n = UINT64_MAX;
    /* A separate connection: this one blocks, which the bus must never do. */
    natsConnection *nc = NULL;
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK)
        return n;
    if (natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
        js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK) {
        n = si->State.Msgs;
        jsStreamInfo_Destroy(si);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n;
}

static void publish_n(const char *subject, const char *prefix, int n, pub_result *r)
{
    for (int i = 0; i < n; i++) {
        char id[64], body[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        snprintf(body, sizeof body, "event %d", i);
        assert_int_equal(cc_js_publish(bus, subject, id, NULL, "test.Event", body, strlen(body),
                                       NULL, pub_done, r),
                         CC_OK);
    }
}

/* Publishes n events and waits until the stream acked each. */
static void publish_acked(const char *subject, const char *prefix, int n)
{
    pub_result pr = {0};
    publish_n(subject, prefix, n, &pr);
    while (pr.acked + pr.failed < n)
        sleep_loop(10);
    assert_int_equal(pr.acked, n);
}

static void js_publish_then_consume(void **state)
{
    pub_result pr = {0};
    uint64_t before = stream_msgs(CC_STREAM_EVENTS);
    publish_n("cc.evt.test.created", "pc", 100, &pr);
    int want = 100;
    while (pr.acked + pr.failed < want)
        sleep_loop(10);
    assert_int_equal(pr.acked, 100);
    assert_int_equal(pr.duplicates, 0);
    assert_int_equal(stream_msgs(CC_STREAM_EVENTS), before + 100);

    cc_js_consumer_config cfg = {.stream = CC_STREAM_EVENTS,
                                 .durable = "t_consume",
                                 .filter = "cc.evt.test.created",
                                 .max_inflight = 16};
    cc_status es = offload_wait(ensure_consumer, &cfg);
    if (es != CC_OK)
        fprintf(stderr, "ensure consumer: %s\n", cc_err_msg());
    assert_int_equal(es, CC_OK);
    consume_state *st = calloc(1, sizeof *st);
    st->nak_first = -1;
    st->want = 100;
    cc_js_consumer *c = NULL;
    assert_int_equal(cc_js_consume(bus, &cfg, on_consume, st, &c), CC_OK);
    cct_run_until(&loop, &st->done, 10000);
    assert_int_equal(st->received, 100);
    for (int i = 0; i < 100; i++) {
        char want_id[64];
        snprintf(want_id, sizeof want_id, "pc-%d", i);
        assert_string_equal(st->ids[i], want_id); /* in order */
        assert_int_equal(st->delivered[i], 1);
    }
    /* acked messages are not delivered again */
    sleep_loop(1500);
    assert_int_equal(st->received, 100);
    cc_js_consumer_free(c);
    free(st);
}

static void js_redelivery_after_nak(void **state)
{
    publish_acked("cc.evt.test.nak", "nk", 3);
    cc_js_consumer_config cfg = {
        .stream = CC_STREAM_EVENTS, .durable = "t_nak", .filter = "cc.evt.test.nak"};
    cc_status es = offload_wait(ensure_consumer, &cfg);
    if (es != CC_OK)
        fprintf(stderr, "ensure consumer: %s\n", cc_err_msg());
    assert_int_equal(es, CC_OK);
    consume_state *st = calloc(1, sizeof *st);
    st->nak_first = 300;
    st->want = 3;
    cc_js_consumer *c = NULL;
    uint64_t t0 = uv_hrtime();
    assert_int_equal(cc_js_consume(bus, &cfg, on_consume, st, &c), CC_OK);
    assert_true(cct_run_until(&loop, &st->done, 10000));
    /* every message came back once, after the nak's delay */
    assert_true((uv_hrtime() - t0) / 1000000u >= 290);
    for (int i = 0; i < 3; i++)
        assert_int_equal(st->delivered[i], 2);
    cc_js_consumer_free(c);
    free(st);
}

/* Holds every message (no answer), counting them. */
static void on_hold(cc_js_msg *m, void *ud)
{
    (void)m;
    ++*(int *)ud;
}

/* keep_order: what a stopped consumer still holds is not handed back, so
 * the server redelivers it after the ack wait, in stream order (a message
 * handed back at once would go behind later ones of its key). */
static void js_keep_order_leaves_held_messages_to_ack_wait(void **state)
{
    publish_acked("cc.evt.test.keep", "ko", 3);
    cc_js_consumer_config cfg = {.stream = CC_STREAM_EVENTS,
                                 .durable = "t_keep",
                                 .filter = "cc.evt.test.keep",
                                 .ack_wait_ms = 2000,
                                 .keep_order = true};
    assert_int_equal(offload_wait(ensure_consumer, &cfg), CC_OK);
    int held = 0;
    bool never = false;
    cc_js_consumer *c = NULL;
    assert_int_equal(cc_js_consume(bus, &cfg, on_hold, &held, &c), CC_OK);
    for (int i = 0; i < 500 && held < 3; i++)
        sleep_loop(10);
    assert_int_equal(held, 3);
    uint64_t t0 = uv_hrtime();
    cc_js_consumer_nak_all(c);
    cc_js_consumer_free(c);
    consume_state *st = calloc(1, sizeof *st);
    st->nak_first = -1;
    st->want = 3;
    assert_int_equal(cc_js_consume(bus, &cfg, on_consume, st, &c), CC_OK);
    /* Nothing comes back before the ack wait... */
    cct_run_until(&loop, &never, 1000);
    assert_int_equal(st->received, 0);
    /* ...then all three, in order, each on its second delivery. */
    assert_true(cct_run_until(&loop, &st->done, 10000));
    assert_true((uv_hrtime() - t0) / 1000000u >= 1500);
    for (int i = 0; i < 3; i++) {
        char want_id[64];
        snprintf(want_id, sizeof want_id, "ko-%d", i);
        assert_string_equal(st->ids[i], want_id);
        assert_int_equal(st->delivered[i], 2);
    }
    cc_js_consumer_free(c);
    free(st);
}

static void js_duplicate_msg_id_stored_once(void **state)
{
    pub_result pr = {0};
    uint64_t before = stream_msgs(CC_STREAM_EVENTS);
    for (int i = 0; i < 5; i++)
        assert_int_equal(cc_js_publish(bus, "cc.evt.test.dup", "same-id", NULL, NULL, "x", 1,
                                       NULL, pub_done, &pr),
                         CC_OK);
    while (pr.acked + pr.failed < 5)
        sleep_loop(10);
    assert_int_equal(pr.acked, 5);
    assert_int_equal(pr.duplicates, 4);
    assert_int_equal(stream_msgs(CC_STREAM_EVENTS), before + 1);
}

static void js_publish_without_stream_gives_up(void **state)
{
    pub_result pr = {0};
    cc_js_publish_options o = {.max_attempts = 3, .timeout_ms = 200, .backoff_ms = 10};
    assert_int_equal(cc_js_publish(bus, "nostream.subject", "x-1", NULL, NULL, "x", 1, &o,
                                   pub_done, &pr),
                     CC_OK);
    while (pr.acked + pr.failed < 1)
        sleep_loop(10);
    assert_int_equal(pr.failed, 1);
    /* a publish without a message id is refused up front */
    assert_int_equal(cc_js_publish(bus, "cc.evt.test.x", "", NULL, NULL, "x", 1, NULL, NULL, NULL),
                     CC_INVALID);
}

/* ---- processes: redelivery after a death, drain ---------------------------- */

static void spawn_actor(cc_local_proc *p, const char *log, const char *const *extra)
{
    char url[128];
    snprintf(url, sizeof url, "--nats-url=%s", cc_local_nats_url(&stack, "admin"));
    const char *argv[16] = {testactor, url, "--metrics-port=-1"};
    int n = 3;
    for (; extra && *extra && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    cc_local_spawn_opts o = {.name = "testactor", .path = testactor, .argv = argv, .log_path = log};
    assert_int_equal(cc_local_spawn(p, &o), CC_OK);
}

static bool log_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static bool wait_log(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (log_has(path, needle))
            return true;
        sleep_loop(20);
    }
    return false;
}

static void js_redelivery_after_consumer_dies(void **state)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/testactor-dies.log", stack.dir);
    const char *args[] = {"--consume=t_dies", "--filter=cc.evt.test.dies", "--never-ack",
                          "--ack-wait=1s", NULL};
    cc_local_proc p;
    spawn_actor(&p, log, args);
    assert_true(wait_log(log, "consuming", 15000));
    pub_result pr = {0};
    publish_n("cc.evt.test.dies", "dies", 1, &pr);
    while (pr.acked + pr.failed < 1)
        sleep_loop(10);
    assert_true(wait_log(log, "got dies-0 1", 5000));
    assert_int_equal(cc_local_proc_kill(&p), CC_OK);

    cc_js_consumer_config cfg = {.stream = CC_STREAM_EVENTS,
                                 .durable = "t_dies",
                                 .filter = "cc.evt.test.dies",
                                 .ack_wait_ms = 1000,
                                 .max_deliver = 10};
    consume_state *st = calloc(1, sizeof *st);
    st->nak_first = -1;
    st->want = 1;
    cc_js_consumer *c = NULL;
    assert_int_equal(cc_js_consume(bus, &cfg, on_consume, st, &c), CC_OK);
    assert_true(cct_run_until(&loop, &st->done, 10000));
    assert_string_equal(st->ids[0], "dies-0");
    assert_true(st->delivered[0] >= 2);
    cc_js_consumer_free(c);
    free(st);
}

static void sigterm_drains_request_in_flight(void **state)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/testactor-drain.log", stack.dir);
    setenv("CC_TEST_SERVICE", "drainme", 1);
    cc_local_proc p;
    spawn_actor(&p, log, NULL);
    unsetenv("CC_TEST_SERVICE");
    assert_true(wait_log(log, "\"ready\"", 15000));

    ping_result r;
    assert_int_equal(ping("drainme", "in flight", 1000, 5000, &r), CC_OK);
    sleep_loop(200); /* the actor has the request and sleeps on it */
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    assert_true(cct_run_until(&loop, &r.done, 5000));
    assert_int_equal(r.s, CC_OK);
    assert_string_equal(r.text, "in flight");

    /* the process drains and exits 0 */
    for (int i = 0; i < 250 && !cc_local_proc_poll(&p); i++)
        sleep_loop(20);
    assert_int_equal(p.pid, 0);
    assert_true(WIFEXITED(p.status));
    assert_int_equal(WEXITSTATUS(p.status), 0);
    assert_true(log_has(log, "\"draining\""));

    /* nobody serves it any more */
    assert_int_equal(ping("drainme", "late", 0, 500, &r), CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 3000));
    assert_int_equal(r.s, CC_TIMEOUT);
}

static void ops_endpoint_serves_health_and_metrics(void **state)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/testactor-ops.log", stack.dir);
    setenv("CC_TEST_SERVICE", "opsy", 1);
    const char *args[] = {"--metrics-port=0", NULL};
    cc_local_proc p;
    spawn_actor(&p, log, args);
    unsetenv("CC_TEST_SERVICE");
    assert_true(wait_log(log, "\"ready\"", 15000));
    int port = cct_metrics_port_from_log(log, NULL);
    assert_true(port > 0);
    ping_result r;
    assert_int_equal(ping("opsy", "count me", 0, 2000, &r), CC_OK);
    assert_true(cct_run_until(&loop, &r.done, 3000));
    assert_int_equal(r.s, CC_OK);
    static char body[1 << 16];
    assert_int_equal(cct_get_http1((uint16_t)port, "/healthz", body, sizeof body), 200);
    assert_int_equal(cct_get_http1((uint16_t)port, "/readyz", body, sizeof body), 200);
    assert_int_equal(cct_get_http1((uint16_t)port, "/metrics", body, sizeof body), 200);
    /* the RPC just served is counted and timed without code in a handler */
    assert_non_null(strstr(body, "cc_rpc_server_requests_total{service=\"opsy\",method=\"Ping\","
                                 "status=\"OK\"} 1"));
    assert_non_null(strstr(body, "cc_rpc_server_duration_seconds_count{service=\"opsy\","
                                 "method=\"Ping\"} 1"));
    assert_int_equal(cct_get_http1((uint16_t)port, "/nope", body, sizeof body), 404);
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    for (int i = 0; i < 250 && !cc_local_proc_poll(&p); i++)
        sleep_loop(20);
    assert_int_equal(WEXITSTATUS(p.status), 0);
}

static void bad_setting_stops_the_process(void **state)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/testactor-bad.log", stack.dir);
    const char *args[] = {"--drain-timeout=forever", NULL};
    cc_local_proc p;
    spawn_actor(&p, log, args);
    for (int i = 0; i < 250 && !cc_local_proc_poll(&p); i++)
        sleep_loop(20);
    assert_int_equal(p.pid, 0);
    assert_int_equal(WEXITSTATUS(p.status), 2);
    assert_true(log_has(log, "drain-timeout"));
}

/* ---- subscriptions ---------------------------------------------------------- */

typedef struct {
    int got;
    cc_bus_sub *self; /* unsubscribes itself on its first message */
} churn_sink;

static void on_churn(cc_bus *b, natsMsg *m, void *ud)
{
    churn_sink *c = ud;
    c->got++;
    if (c->self) {
        cc_bus_unsubscribe(c->self);
        c->self = NULL;
    }
    cc_bus_msg_release(b, m);
}

/* A subscription that is unsubscribed is freed, not kept until the bus
 * closes: 20,000 subscribe-unsubscribe cycles (what the gateway does once
 * per live socket) leave the RSS where it was, and the subscriptions
 * around them, one of which unsubscribes itself from its handler, still
 * work. */
static void unsubscribed_subscriptions_are_freed(void **state)
{
    churn_sink keep = {0}, once = {0};
    cc_bus_sub *k = NULL;
    assert_int_equal(cc_bus_subscribe(bus, "test.churn.keep", NULL, on_churn, &keep, &k), CC_OK);
    assert_int_equal(cc_bus_subscribe(bus, "test.churn.once", NULL, on_churn, &once, &once.self),
                     CC_OK);
    sleep_loop(100);
    /* The first cycles warm the allocator up. */
    long before = -1;
    for (int i = 0; i < 22000; i++) {
        if (i == 2000) {
            sleep_loop(50);
            before = cct_rss_kib(getpid());
        }
        cc_bus_sub *s = NULL;
        char subject[64];
        snprintf(subject, sizeof subject, "test.churn.%d", i);
        assert_int_equal(cc_bus_subscribe(bus, subject, NULL, on_churn, &keep, &s), CC_OK);
        cc_bus_unsubscribe(s);
        if (i % 200 == 0)
            uv_run(&loop, UV_RUN_NOWAIT);
    }
    sleep_loop(200);
    long after = cct_rss_kib(getpid());
    fprintf(stderr, "20,000 subscribe-unsubscribe cycles: RSS %ld -> %ld KiB\n", before, after);
    assert_true(after - before < 4096);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cc_bus_publish(bus, "test.churn.keep", NULL, "t", "x", 1), CC_OK);
        assert_int_equal(cc_bus_publish(bus, "test.churn.once", NULL, "t", "x", 1), CC_OK);
    }
    for (int i = 0; i < 100 && keep.got < 3; i++)
        sleep_loop(20);
    assert_int_equal(keep.got, 3);
    assert_int_equal(once.got, 1);
    cc_bus_unsubscribe(k);
}

int main(int argc, char **argv)
{
    /* The test actor sits next to this program in build/bin. */
    char self[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(testactor, sizeof testactor, "%s/cc-testactor", self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rpc_round_trip),
        cmocka_unit_test(rpc_timeout_and_no_responders),
        cmocka_unit_test(rpc_error_replies_to_garbage),
        cmocka_unit_test(js_publish_then_consume),
        cmocka_unit_test(js_redelivery_after_nak),
        cmocka_unit_test(js_keep_order_leaves_held_messages_to_ack_wait),
        cmocka_unit_test(js_duplicate_msg_id_stored_once),
        cmocka_unit_test(js_publish_without_stream_gives_up),
        cmocka_unit_test(js_redelivery_after_consumer_dies),
        cmocka_unit_test(sigterm_drains_request_in_flight),
        cmocka_unit_test(ops_endpoint_serves_health_and_metrics),
        cmocka_unit_test(bad_setting_stops_the_process),
        cmocka_unit_test(unsubscribed_subscriptions_are_freed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
