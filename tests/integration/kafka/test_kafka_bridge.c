/* Integration tests of cc-kafka-bridge: a real nats-server with JetStream
 * (cclocal, temporary folder) and librdkafka's mock cluster, a Kafka
 * protocol peer running inside this test process, whose bootstrap
 * address the bridge (a child process) connects to.
 *
 * - every event published on NATS arrives on its topic, in order per key,
 *   with its key and headers;
 * - injected broker errors and a broker going down mid-stream lose nothing;
 * - a bridge killed with SIGKILL and started again resumes without loss;
 * - with --kafka-format=json a record's value is the JSON document of
 *   README.md (envelope fields, aggregate id, stream sequence, the body in
 *   base64);
 * - Kafka records arrive in JetStream with Nats-Msg-Id topic/partition/
 *   offset, and a replay of the same offsets is dropped by the stream's
 *   duplicate window.
 *
 * The test itself uses blocking nats.c and librdkafka calls: it has no
 * loop of its own to block. */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <nats/nats.h>
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

#include "cc/js.h"
#include "cc/local.h"
#include "cc/status.h"

#include "cctest_http.h"

#define NKEYS 10
#define MAXMSGS 4000

static cc_local_stack stack;
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static char bootstraps[512];
static char bridge_bin[4096];
static natsConnection *nc;
static jsCtx *js;
static cc_local_proc bridge;
static char bridge_log[4200];
static int bridge_runs;

/* Topics (mock cluster) and the mappings of the bridge under test. */
static const char *const topics[] = {"t.order", "t.errors", "t.down", "t.restart", "in.one",
                                      "t.json"};
static const char *to_kafka = "cc.evt.k1.>=t.order;cc.evt.k2.>=t.errors;"
                              "cc.evt.k3.>=t.down@5;cc.evt.k4.>=t.restart";
static const char *from_kafka = "in.one=cc.evt.kafka.in.one";
static const char *kafka_options = "session.timeout.ms=6000;heartbeat.interval.ms=300;"
                                   "retry.backoff.ms=50;reconnect.backoff.max.ms=500";

static void msleep(int ms)
{
    usleep((useconds_t)ms * 1000u);
}

static bool log_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[8192];
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
        msleep(20);
    }
    return false;
}

static void spawn_bridge(cc_local_proc *p, const char *log, const char *const *extra)
{
    char url[128], brokers[600], opts[600];
    snprintf(url, sizeof url, "--nats-url=%s", cc_local_nats_url(&stack, "kafka-bridge"));
    snprintf(brokers, sizeof brokers, "--kafka-brokers=%s", bootstraps);
    snprintf(opts, sizeof opts, "--kafka-options=%s", kafka_options);
    const char *argv[24] = {bridge_bin, url, brokers, opts, "--metrics-port=0", "--retry=100ms",
                            "--ack-wait=5s", "--commit-interval=200ms"};
    int n = 8;
    for (; extra && *extra && n < 23; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    memset(p, 0, sizeof *p);
    cc_local_spawn_opts o = {.name = "cc-kafka-bridge", .path = bridge_bin, .argv = argv,
                             .log_path = log};
    assert_int_equal(cc_local_spawn(p, &o), CC_OK);
}

/* Starts the main bridge (both directions) with a fresh log. */
static void start_bridge(void)
{
    char tk[512], fk[512];
    snprintf(tk, sizeof tk, "--to-kafka=%s", to_kafka);
    snprintf(fk, sizeof fk, "--from-kafka=%s", from_kafka);
    const char *extra[] = {tk, fk, NULL};
    snprintf(bridge_log, sizeof bridge_log, "%s/logs/bridge-%d.log", stack.dir, ++bridge_runs);
    spawn_bridge(&bridge, bridge_log, extra);
    assert_true(wait_log(bridge_log, "bridging to kafka", 20000));
    assert_true(wait_log(bridge_log, "\"ready\"", 20000));
}

static int group_setup(void **state)
{
    if (cc_local_stack_start(&stack, CC_LOCAL_NATS, NULL) != CC_OK) {
        fprintf(stderr, "cannot start nats: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", getenv("TEST_DEBUG") ? "7" : "3", err, sizeof err);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!mock_rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return -1;
    }
    mock = rd_kafka_mock_cluster_new(mock_rk, 3);
    if (!mock) {
        fprintf(stderr, "no mock cluster\n");
        return -1;
    }
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (rd_kafka_mock_topic_create(mock, topics[i], 4, 3) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return -1;
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return -1;
    /* The services that declare CC_EVENTS are not running: the test plays
     * them (the bridge's NATS user may not create a stream). */
    if (cc_js_ensure_defaults(nc) != CC_OK) {
        fprintf(stderr, "cannot declare the streams: %s\n", cc_err_msg());
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&bridge, SIGTERM, 10000);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    nats_Close();
    return 0;
}

/* ---- NATS side ----------------------------------------------------------- */

/* Publishes event i on subject with id prefix-i, an envelope and, when
 * aggregate is set, Cc-Aggregate-Id. Blocking: waits for the stream's ack
 * (retrying while the stream is not there yet). */
static void publish_event(const char *subject, const char *prefix, int i, const char *aggregate)
{
    natsMsg *m = NULL;
    char id[64], body[96];
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    snprintf(body, sizeof body, "body of %s", id);
    assert_int_equal(natsMsg_Create(&m, subject, NULL, body, (int)strlen(body)), NATS_OK);
    natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    natsMsgHeader_Set(m, "Cc-Type", "codecourt.v1.TestEvent");
    natsMsgHeader_Set(m, "Cc-Correlation-Id", "corr-1");
    natsMsgHeader_Set(m, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    if (aggregate)
        natsMsgHeader_Set(m, "Cc-Aggregate-Id", aggregate);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = NATS_ERR;
    for (int attempt = 0; attempt < 50 && s != NATS_OK; attempt++) {
        s = js_PublishMsg(&pa, js, m, NULL, &jerr);
        if (s != NATS_OK)
            msleep(100);
    }
    assert_int_equal(s, NATS_OK);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
}

/* Publishes n events prefix-start..start+n-1, key k<i % NKEYS. */
static void publish_range(const char *subject_base, const char *prefix, int start, int n,
                          bool aggregate_header)
{
    for (int i = start; i < start + n; i++) {
        char key[16], subject[128];
        snprintf(key, sizeof key, "k%d", i % NKEYS);
        if (aggregate_header)
            snprintf(subject, sizeof subject, "%s.created", subject_base);
        else
            snprintf(subject, sizeof subject, "%s.%s.created", subject_base, key);
        publish_event(subject, prefix, i, aggregate_header ? key : NULL);
    }
}

/* ---- Kafka side -------------------------------------------------------------- */

typedef struct {
    int n;       /* records read */
    int unique;  /* distinct ids */
    int dups;
    bool seen[MAXMSGS];
    /* Per key: the event numbers in the order their first copy arrived. */
    int order[NKEYS][MAXMSGS / NKEYS + 1];
    int norder[NKEYS];
    bool headers_ok;
    bool keys_ok;
    char bad[640];
} topic_read;

static bool header(rd_kafka_headers_t *h, const char *name, char *buf, size_t cap)
{
    const void *v = NULL;
    size_t n = 0;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v || n >= cap)
        return false;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return true;
}

/* Reads topic from the beginning until want distinct ids prefix-<i> were
 * seen or timeout_ms passed. */
static void read_topic(const char *topic, const char *prefix, int want, int timeout_ms,
                       topic_read *r)
{
    memset(r, 0, sizeof *r);
    r->headers_ok = r->keys_ok = true;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    size_t plen = strlen(prefix);
    for (int waited = 0; waited < timeout_ms && r->unique < want;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            waited += 100;
            continue;
        }
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        r->n++;
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(m, &h);
        char id[128] = "", type[128] = "", corr[128] = "", tp[128] = "", agg[64] = "";
        header(h, "Nats-Msg-Id", id, sizeof id);
        if (!header(h, "Cc-Type", type, sizeof type) ||
            strcmp(type, "codecourt.v1.TestEvent") != 0 ||
            !header(h, "Cc-Correlation-Id", corr, sizeof corr) || strcmp(corr, "corr-1") != 0 ||
            !header(h, "traceparent", tp, sizeof tp) || strlen(tp) != 55) {
            r->headers_ok = false;
            snprintf(r->bad, sizeof r->bad, "headers of %s: type=%s corr=%s tp=%s", id, type,
                     corr, tp);
        }
        header(h, "Cc-Aggregate-Id", agg, sizeof agg);
        if (strncmp(id, prefix, plen) == 0 && id[plen] == '-') {
            long i = strtol(id + plen + 1, NULL, 10);
            char key[16];
            snprintf(key, sizeof key, "k%ld", i % NKEYS);
            if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len) != 0 ||
                strcmp(agg, key) != 0) {
                r->keys_ok = false;
                snprintf(r->bad, sizeof r->bad, "key of %s: %.*s (header %s)", id,
                         (int)m->key_len, (const char *)m->key, agg);
            }
            if (i >= 0 && i < MAXMSGS) {
                if (r->seen[i]) {
                    r->dups++;
                } else {
                    r->seen[i] = true;
                    r->unique++;
                    int k = (int)(i % NKEYS);
                    r->order[k][r->norder[k]++] = (int)i;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void assert_complete_in_order(const topic_read *r, int want)
{
    if (!r->headers_ok || !r->keys_ok)
        fprintf(stderr, "bad record: %s\n", r->bad);
    assert_true(r->headers_ok);
    assert_true(r->keys_ok);
    if (r->unique != want)
        fprintf(stderr, "got %d distinct of %d (%d records, %d duplicates)\n", r->unique, want,
                r->n, r->dups);
    assert_int_equal(r->unique, want);
    for (int i = 0; i < want; i++)
        assert_true(r->seen[i]);
    /* One key's events arrive in the order they were published. */
    for (int k = 0; k < NKEYS; k++)
        for (int j = 1; j < r->norder[k]; j++) {
            if (r->order[k][j] < r->order[k][j - 1])
                fprintf(stderr, "key k%d: event %d arrived before event %d\n", k,
                        r->order[k][j - 1], r->order[k][j]);
            assert_true(r->order[k][j] > r->order[k][j - 1]);
        }
}

/* The value of one metric line (name with labels) or -1. */
static long long metric(int port, const char *series)
{
    static char body[1 << 17];
    if (cct_get_http1((uint16_t)port, "/metrics", body, sizeof body) != 200)
        return -1;
    const char *p = strstr(body, series);
    if (!p)
        return -1;
    return strtoll(p + strlen(series), NULL, 10);
}

/* ---- tests ------------------------------------------------------------------------ */

static void every_event_arrives_in_order_per_key(void **state)
{
    start_bridge();
    publish_range("cc.evt.k1.submission", "ord", 0, 300, true);
    topic_read r;
    read_topic("t.order", "ord", 300, 20000, &r);
    assert_complete_in_order(&r, 300);
    assert_int_equal(r.dups, 0);
    /* the counters say so too */
    int port = cct_metrics_port_from_log(bridge_log, NULL);
    assert_true(port > 0);
    long long delivered = 0;
    for (int i = 0; i < 100 && delivered < 300; i++, msleep(50))
        delivered = metric(port, "cc_kafka_bridge_delivered_total{direction=\"to_kafka\","
                                 "topic=\"t.order\"} ");
    assert_int_equal(delivered, 300);
    /* The lag gauge is set on the bridge's periodic tick, a moment after
     * the last delivery. */
    long long lag = -1;
    for (int i = 0; i < 100 && lag != 0; i++, msleep(50))
        lag = metric(port, "cc_kafka_bridge_lag{direction=\"to_kafka\",topic=\"t.order\"} ");
    assert_int_equal(lag, 0);
}

static void broker_errors_lose_nothing(void **state)
{
    /* Produce requests fail with retriable errors, then succeed. */
    rd_kafka_mock_push_request_errors(mock, 0 /* Produce */, 6,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    publish_range("cc.evt.k2.submission", "err", 0, 200, true);
    topic_read r;
    read_topic("t.errors", "err", 200, 30000, &r);
    assert_complete_in_order(&r, 200);
}

static void broker_down_mid_stream_loses_nothing(void **state)
{
    /* Here the key comes from the subject's fifth token (mapping @5). */
    publish_range("cc.evt.k3.submission", "down", 0, 100, false);
    rd_kafka_mock_broker_set_down(mock, 1);
    rd_kafka_mock_broker_set_down(mock, 2);
    publish_range("cc.evt.k3.submission", "down", 100, 100, false);
    msleep(2000);
    rd_kafka_mock_broker_set_up(mock, 1);
    publish_range("cc.evt.k3.submission", "down", 200, 50, false);
    msleep(500);
    rd_kafka_mock_broker_set_up(mock, 2);
    publish_range("cc.evt.k3.submission", "down", 250, 50, false);
    topic_read r;
    read_topic("t.down", "down", 300, 60000, &r);
    assert_complete_in_order(&r, 300);
}

static void killed_bridge_resumes_without_loss(void **state)
{
    publish_range("cc.evt.k4.submission", "rs", 0, 200, true);
    assert_int_equal(cc_local_proc_kill(&bridge), CC_OK);
    publish_range("cc.evt.k4.submission", "rs", 200, 200, true);
    start_bridge();
    publish_range("cc.evt.k4.submission", "rs", 400, 100, true);
    topic_read r;
    read_topic("t.restart", "rs", 500, 30000, &r);
    /* At least once: a message Kafka stored but JetStream did not see
     * acked may come twice; none is missing and first copies keep their
     * per-key order. */
    assert_complete_in_order(&r, 500);
}

/* Fetches what the durable holds on subject; returns the count and checks
 * every Nats-Msg-Id is in.one/<partition>/<offset>, each once. */
static int fetch_subject(const char *durable, const char *subject, int want, int timeout_ms)
{
    jsErrCode jerr = 0;
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    assert_int_equal(js_PullSubscribe(&sub, js, subject, durable, NULL, &so, &jerr), NATS_OK);
    int n = 0;
    static char ids[MAXMSGS][64];
    /* Until want arrived, then a little longer to catch an extra copy. */
    for (int waited = 0, extra = 0; waited < timeout_ms && extra < 1500;) {
        if (n >= want)
            extra += 500;
        natsMsgList list = {0};
        natsStatus s = natsSubscription_Fetch(&list, sub, 200, 500, &jerr);
        if (s != NATS_OK || list.Count == 0) {
            natsMsgList_Destroy(&list);
            waited += 500;
            continue;
        }
        for (int i = 0; i < list.Count; i++) {
            const char *id = NULL;
            assert_int_equal(natsMsgHeader_Get(list.Msgs[i], "Nats-Msg-Id", &id), NATS_OK);
            assert_int_equal(strncmp(id, "in.one/", 7), 0);
            for (int j = 0; j < n && j < MAXMSGS; j++)
                assert_string_not_equal(ids[j], id);
            const char *type = NULL;
            assert_int_equal(natsMsgHeader_Get(list.Msgs[i], "Cc-Type", &type), NATS_OK);
            assert_string_equal(type, "codecourt.v1.FromKafka");
            /* a principal smuggled in through Kafka is dropped */
            const char *pr = NULL;
            assert_int_not_equal(natsMsgHeader_Get(list.Msgs[i], "Cc-Principal", &pr), NATS_OK);
            if (n < MAXMSGS)
                snprintf(ids[n], sizeof ids[0], "%s", id);
            n++;
            natsMsg_Ack(list.Msgs[i], NULL);
        }
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    return n;
}

/* Produces records start..start+n-1 to in.one, with an envelope type and
 * a forged principal. */
static void produce_records(int start, int n)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(p);
    for (int i = start; i < start + n; i++) {
        char key[16], body[64];
        snprintf(key, sizeof key, "k%d", i % NKEYS);
        snprintf(body, sizeof body, "record %d", i);
        rd_kafka_headers_t *h = rd_kafka_headers_new(3);
        rd_kafka_header_add(h, "Cc-Type", -1, "codecourt.v1.FromKafka", -1);
        rd_kafka_header_add(h, "Cc-Principal", -1, "1:admin", -1);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in.one"),
                                           RD_KAFKA_V_KEY(key, strlen(key)),
                                           RD_KAFKA_V_VALUE(body, strlen(body)),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static void kafka_records_reach_jetstream_and_replays_are_dropped(void **state)
{
    produce_records(0, 150);

    /* Everything arrives once. */
    assert_int_equal(fetch_subject("t_in", "cc.evt.kafka.in.one", 150, 30000), 150);

    /* A second bridge in another consumer group replays every offset: the
     * stream drops all of it as duplicates. */
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/bridge-replay.log", stack.dir);
    const char *extra[] = {"--to-kafka=", "--from-kafka=in.one=cc.evt.kafka.in.one",
                           "--kafka-group=replayer", NULL};
    cc_local_proc replay;
    spawn_bridge(&replay, log, extra);
    assert_true(wait_log(log, "\"ready\"", 20000));
    int port = cct_metrics_port_from_log(log, NULL);
    assert_true(port > 0);
    long long dups = 0;
    for (int i = 0; i < 300 && dups < 150; i++, msleep(100))
        dups = metric(port, "cc_kafka_bridge_duplicates_total{direction=\"from_kafka\","
                            "topic=\"in.one\"} ");
    assert_int_equal(dups, 150);
    assert_int_equal(fetch_subject("t_in", "cc.evt.kafka.in.one", 0, 1500), 0);
    assert_int_equal(cc_local_proc_stop(&replay, SIGTERM, 10000), CC_OK);
    assert_int_equal(WEXITSTATUS(replay.status), 0);
}

static void killed_bridge_replays_kafka_offsets_without_duplicates(void **state)
{
    /* Killed while records flow: offsets it published but had not
     * committed are read again by the next run and dropped by the
     * stream, so JetStream holds every record exactly once. */
    produce_records(150, 300);
    msleep(150);
    assert_int_equal(cc_local_proc_kill(&bridge), CC_OK);
    start_bridge();
    assert_int_equal(fetch_subject("t_in", "cc.evt.kafka.in.one", 300, 60000), 300);
}

static void sigterm_drains_and_exits_zero(void **state)
{
    publish_range("cc.evt.k1.submission", "ord", 300, 50, true);
    assert_int_equal(kill(bridge.pid, SIGTERM), 0);
    for (int i = 0; i < 500 && !cc_local_proc_poll(&bridge); i++)
        msleep(20);
    assert_int_equal(bridge.pid, 0);
    assert_true(WIFEXITED(bridge.status));
    assert_int_equal(WEXITSTATUS(bridge.status), 0);
    /* whatever it took before stopping is on Kafka or still in JetStream:
     * a new bridge finishes the job */
    start_bridge();
    topic_read r;
    read_topic("t.order", "ord", 350, 20000, &r);
    assert_complete_in_order(&r, 350);
}

/* --kafka-format=json: a second bridge on its own mapping (its own
 * durable) writes each event as one JSON document. */
static void json_value_format(void **state)
{
    (void)state;
    static cc_local_proc jb;
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/bridge-json.log", stack.dir);
    const char *extra[] = {"--to-kafka=cc.evt.k5.>=t.json", "--kafka-format=json", NULL};
    spawn_bridge(&jb, log, extra);
    assert_true(wait_log(log, "\"ready\"", 20000));
    for (int i = 0; i < 3; i++)
        publish_event("cc.evt.k5.submission", "js", i, i == 2 ? NULL : "sub-42");
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "test-json-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, "t.json", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    bool seen[3] = {false, false, false};
    int got = 0;
    for (int waited = 0; waited < 20000 && got < 3;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            waited += 100;
            continue;
        }
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        json_error_t jerr;
        json_t *v = json_loadb(m->payload, m->len, 0, &jerr);
        assert_non_null(v);
        const char *id = json_string_value(json_object_get(v, "id"));
        assert_non_null(id);
        assert_int_equal(strncmp(id, "js-", 3), 0);
        char *end = NULL;
        long i = strtol(id + 3, &end, 10);
        assert_true(*end == '\0' && i >= 0 && i < 3);
        assert_string_equal(json_string_value(json_object_get(v, "subject")),
                            "cc.evt.k5.submission");
        assert_string_equal(json_string_value(json_object_get(v, "type")),
                            "codecourt.v1.TestEvent");
        assert_string_equal(json_string_value(json_object_get(v, "correlation_id")), "corr-1");
        /* The same trace; the span is the bridge's own consume span. */
        const char *tp = json_string_value(json_object_get(v, "traceparent"));
        assert_non_null(tp);
        assert_int_equal(strlen(tp), 55);
        assert_memory_equal(tp, "00-0af7651916cd43dd8448eb211c80319c-", 36);
        /* The aggregate: the header when the publisher set one, else the
         * subject (this mapping names no key token); the record's key too. */
        const char *agg = i == 2 ? "cc.evt.k5.submission" : "sub-42";
        assert_string_equal(json_string_value(json_object_get(v, "aggregate_id")), agg);
        assert_int_equal(m->key_len, strlen(agg));
        assert_memory_equal(m->key, agg, m->key_len);
        assert_true(json_integer_value(json_object_get(v, "stream_seq")) > 0);
        assert_null(json_object_get(v, "principal"));
        const char *b64 = json_string_value(json_object_get(v, "payload"));
        assert_non_null(b64);
        unsigned char body[128];
        long n = cct_unbase64(b64, strlen(b64), body);
        char want[96];
        snprintf(want, sizeof want, "body of js-%ld", i);
        assert_int_equal(n, (long)strlen(want));
        assert_memory_equal(body, want, (size_t)n);
        if (!seen[i])
            got++;
        seen[i] = true;
        json_decref(v);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    assert_int_equal(got, 3);
    assert_int_equal(cc_local_proc_stop(&jb, SIGTERM, 10000), CC_OK);
}

static void bad_mappings_stop_the_process(void **state)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/logs/bridge-bad.log", stack.dir);
    /* in.one would be published on cc.evt.kafka.loop, which goes back to
     * in.one */
    const char *extra[] = {"--to-kafka=cc.evt.>=in.one", "--from-kafka=in.one=cc.evt.kafka.loop",
                           NULL};
    cc_local_proc p;
    spawn_bridge(&p, log, extra);
    for (int i = 0; i < 500 && !cc_local_proc_poll(&p); i++)
        msleep(20);
    assert_int_equal(p.pid, 0);
    assert_int_not_equal(WEXITSTATUS(p.status), 0);
    assert_true(log_has(log, "a loop"));

    /* A Kafka record must not pass for a judge's verdict: subjects from
     * Kafka stay under cc.evt.kafka. */
    snprintf(log, sizeof log, "%s/logs/bridge-forge.log", stack.dir);
    const char *forge[] = {"--to-kafka=", "--from-kafka=in.one=cc.evt.submission.judged", NULL};
    spawn_bridge(&p, log, forge);
    for (int i = 0; i < 500 && !cc_local_proc_poll(&p); i++)
        msleep(20);
    assert_int_equal(p.pid, 0);
    assert_int_not_equal(WEXITSTATUS(p.status), 0);
    assert_true(log_has(log, "records from Kafka go under cc.evt.kafka.>"));
}

int main(void)
{
    char self[2048];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(bridge_bin, sizeof bridge_bin, "%s/cc-kafka-bridge", self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_event_arrives_in_order_per_key),
        cmocka_unit_test(broker_errors_lose_nothing),
        cmocka_unit_test(broker_down_mid_stream_loses_nothing),
        cmocka_unit_test(killed_bridge_resumes_without_loss),
        cmocka_unit_test(kafka_records_reach_jetstream_and_replays_are_dropped),
        cmocka_unit_test(killed_bridge_replays_kafka_offsets_without_duplicates),
        cmocka_unit_test(sigterm_drains_and_exits_zero),
        cmocka_unit_test(json_value_format),
        cmocka_unit_test(bad_mappings_stop_the_process),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
