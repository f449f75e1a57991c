/* cc-kafka-bridge: CodeCourt's events on Kafka topics, and Kafka topics
 * into the mesh. See README.md for the settings and guarantees.
 *
 * How librdkafka meets the libuv loop: librdkafka's broker threads only
 * fill queues; callbacks run in whatever thread serves those queues. We
 * serve them on the loop, never blocking: rd_kafka_queue_io_event_enable
 * makes librdkafka write a byte to a pipe whenever the producer's main
 * queue (delivery reports, errors) or the consumer's queue (records,
 * rebalances, errors) goes from empty to non-empty; a uv_poll on the pipe
 * then calls rd_kafka_poll / rd_kafka_consumer_poll with a zero timeout.
 * This keeps every callback on the loop thread, next to the bus, with no
 * locks and no hand-off. A 100 ms timer polls as well, as a safety net
 * (the pipe is edge-like: a queue left non-empty on purpose, when the
 * in-flight bound is reached, does not write again).
 *
 * The only blocking librdkafka calls (final commit, consumer close, flush,
 * destroy) happen in stop(), after the drain, when the loop serves
 * nothing else any more. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "cc/log.h"

static kb_settings cfg;
/* One bridge per process; static so that late callbacks after stop() can
 * still read its closing flag. */
static kb_bridge bridge;

static const char *const formats[] = {"protobuf", "json", NULL};

#define S(f) offsetof(kb_settings, f)
static const cc_config_row rows[] = {
    {"kafka-brokers", CC_CFG_STRING, S(kafka_brokers), NULL, 0, 0, NULL,
     "Kafka bootstrap servers, host:port[,host:port]"},
    {"to-kafka", CC_CFG_STRING, S(to_kafka), "cc.evt.>=codecourt.events", 0, 0, NULL,
     "NATS to Kafka: FILTER=TOPIC[@N];... (N: subject token holding the key)"},
    {"from-kafka", CC_CFG_STRING, S(from_kafka), "", 0, 0, NULL,
     "Kafka to NATS: TOPIC=SUBJECT;... (subjects under cc.evt.kafka., in CC_EVENTS)"},
    {"kafka-format", CC_CFG_ENUM, S(format), "protobuf", 0, 0, formats,
     "value written to Kafka: the protobuf as is, or a JSON envelope"},
    {"kafka-group", CC_CFG_STRING, S(group), "cc-kafka-bridge", 0, 0, NULL,
     "Kafka consumer group of the Kafka-to-NATS side"},
    {"durable-prefix", CC_CFG_STRING, S(durable_prefix), "kafka_bridge", 0, 0, NULL,
     "JetStream durable consumer names start with this"},
    {"kafka-options", CC_CFG_STRING, S(kafka_options), "", 0, 0, NULL,
     "extra librdkafka settings, key=value;... (TLS, SASL, timeouts)"},
    {"delivery-timeout", CC_CFG_DURATION, S(delivery_timeout_ms), "5m", 1000, 86400000, NULL,
     "how long the producer keeps retrying one message before handing it back"},
    {"ack-wait", CC_CFG_DURATION, S(ack_wait_ms), "30s", 1000, 3600000, NULL,
     "JetStream ack wait of the NATS-to-Kafka consumers"},
    {"max-inflight", CC_CFG_INT, S(max_inflight), "256", 1, 100000, NULL,
     "messages in flight per mapping"},
    {"commit-interval", CC_CFG_DURATION, S(commit_interval_ms), "1s", 100, 600000, NULL,
     "how often acked Kafka offsets are committed"},
    {"retry", CC_CFG_DURATION, S(retry_ms), "500ms", 10, 600000, NULL,
     "first delay before a failed message is tried again"},
};
#undef S

cc_status kb_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char why[256];
    if (rd_kafka_conf_set(conf, k, v, why, sizeof why) != RD_KAFKA_CONF_OK)
        return cc_err_set(CC_INVALID, "librdkafka setting %s=%s: %s", k, v, why);
    return CC_OK;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* librdkafka logs from its own threads; cc_log is thread-safe. */
    cc_log_level l = level <= 3 ? CC_LOG_ERROR : level <= 4 ? CC_LOG_WARN
                     : level <= 6                 ? CC_LOG_INFO
                                                  : CC_LOG_DEBUG;
    cc_log(l, NULL, "librdkafka", "{s:s, s:s, s:s}", "client", rd_kafka_name(rk), "facility", fac,
           "detail", buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kb_bridge *br = opaque;
    if (br->closing)
        return;
    char fatal[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL &&
        rd_kafka_fatal_error(rk, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* The idempotent producer cannot go on (e.g. its sequence was
         * lost): stop; JetStream redelivers what was not acked. */
        cc_log(CC_LOG_ERROR, NULL, "kafka fatal error, stopping", "{s:s, s:s}", "client",
               rd_kafka_name(rk), "error", fatal);
        cc_actor_shutdown(br->actor);
        return;
    }
    /* Transient (broker down, all brokers down...): librdkafka retries. */
    cc_log(CC_LOG_WARN, NULL, "kafka error", "{s:s, s:s, s:s}", "client", rd_kafka_name(rk),
           "error", rd_kafka_err2str((rd_kafka_resp_err_t)err), "reason", reason);
}

cc_status kb_conf_common(kb_bridge *br, rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_opaque(conf, br);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    cc_status s = kb_conf_set(conf, "bootstrap.servers", br->cfg->kafka_brokers);
    IFOK(s, kb_conf_set(conf, "client.id", "cc-kafka-bridge"));
    if (s != CC_OK)
        return s;
    /* Extra settings last, so an operator can override ours. */
    const char *p = br->cfg->kafka_options;
    while (p && *p) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char item[1024];
        if (n >= sizeof item)
            return cc_err_set(CC_INVALID, "kafka-options: an item is longer than %zu bytes",
                              sizeof item - 1);
        memcpy(item, p, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        if (n > 0 && !eq)
            return cc_err_set(CC_INVALID, "kafka-options: \"%s\" is not key=value", item);
        if (eq) {
            *eq = '\0';
            if ((s = kb_conf_set(conf, item, eq + 1)) != CC_OK)
                return s;
        }
        p = e ? e + 1 : p + n;
    }
    return CC_OK;
}

static cc_status make_producer(kb_bridge *br)
{
    char ms[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(ms, sizeof ms, "%lld", (long long)br->cfg->delivery_timeout_ms);
    rd_kafka_conf_set_dr_msg_cb(conf, kb_out_delivery);
    /* Idempotent producer, acks from every in-sync replica: a delivery
     * report without error means the record is stored, exactly once per
     * produce call, in order within its partition. */
    cc_status s = kb_conf_set(conf, "enable.idempotence", "true");
    IFOK(s, kb_conf_set(conf, "acks", "all"));
    IFOK(s, kb_conf_set(conf, "message.timeout.ms", ms));
    IFOK(s, kb_conf_set(conf, "linger.ms", "5"));
    IFOK(s, kb_conf_common(br, conf));
    if (s != CC_OK) {
        rd_kafka_conf_destroy(conf);
        return s;
    }
    /* librdkafka's own (char *, size_t) report, made a cc_err_set here. */
    char err[512];
    br->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!br->producer) {
        rd_kafka_conf_destroy(conf);
        return cc_err_set(CC_INVALID, "kafka producer: %s", err);
    }
    br->producer_q = rd_kafka_queue_get_main(br->producer);
    rd_kafka_queue_io_event_enable(br->producer_q, br->wake[1], "1", 1);
    return CC_OK;
}

static cc_status make_consumer(kb_bridge *br)
{
    char ms[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(ms, sizeof ms, "%lld", (long long)br->cfg->commit_interval_ms);
    /* Offsets are stored by hand once JetStream acked (from_kafka.c); the
     * auto-commit then commits only what was stored. */
    cc_status s = kb_conf_set(conf, "group.id", br->cfg->group);
    IFOK(s, kb_conf_set(conf, "enable.auto.commit", "true"));
    IFOK(s, kb_conf_set(conf, "enable.auto.offset.store", "false"));
    IFOK(s, kb_conf_set(conf, "auto.commit.interval.ms", ms));
    IFOK(s, kb_conf_set(conf, "auto.offset.reset", "earliest"));
    IFOK(s, kb_conf_common(br, conf));
    if (s != CC_OK) {
        rd_kafka_conf_destroy(conf);
        return s;
    }
    char err[512];
    br->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!br->consumer) {
        rd_kafka_conf_destroy(conf);
        return cc_err_set(CC_INVALID, "kafka consumer: %s", err);
    }
    /* Errors and rebalances come through the consumer queue too. */
    rd_kafka_poll_set_consumer(br->consumer);
    br->consumer_q = rd_kafka_queue_get_consumer(br->consumer);
    rd_kafka_queue_io_event_enable(br->consumer_q, br->wake[1], "1", 1);
    return CC_OK;
}

static void serve(kb_bridge *br)
{
    if (br->closing)
        return;
    /* rd_kafka_poll serves what is queued; a bound keeps the loop fair. */
    for (int i = 0; br->producer && i < 64 && rd_kafka_poll(br->producer, 0) > 0; i++)
        ;
    kb_in_poll(br);
}

static void on_wake(uv_poll_t *h, int status, int events)
{
    kb_bridge *br = h->data;
    char buf[256];
    while (read(br->wake[0], buf, sizeof buf) > 0)
        ;
    serve(br);
}

static void on_tick(uv_timer_t *t)
{
    kb_bridge *br = t->data;
    serve(br);
    kb_out_tick(br);
    kb_in_tick(br);
}

static cc_status start(cc_actor *a)
{
    kb_bridge *br = &bridge;
    br->actor = a;
    br->cfg = &cfg;
    br->wake[0] = br->wake[1] = -1;
    cc_actor_set_state(a, br);
    if (!cfg.kafka_brokers[0])
        return cc_err_set(CC_INVALID, "kafka-brokers is empty: no Kafka broker configured");
    cc_status s = kb_parse_out_maps(cfg.to_kafka, &br->outs, &br->nouts);
    if (s != CC_OK)
        return cc_err_set(s, "to-kafka: %s", cc_err_msg());
    s = kb_parse_in_maps(cfg.from_kafka, &br->ins, &br->nins);
    if (s != CC_OK)
        return cc_err_set(s, "from-kafka: %s", cc_err_msg());
    s = kb_check_loops(br->outs, br->nouts, br->ins, br->nins);
    if (s != CC_OK)
        return s;
    if (br->nouts == 0 && br->nins == 0)
        return cc_err_set(CC_INVALID, "to-kafka and from-kafka are both empty: nothing to bridge");

    if (pipe2(br->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        return cc_err_sys("pipe2");
    uv_loop_t *loop = cc_actor_loop(a);
    uv_poll_init(loop, &br->wake_poll, br->wake[0]);
    br->wake_poll.data = br;
    uv_timer_init(loop, &br->tick);
    br->tick.data = br;
    br->handles_open = true;
    uv_poll_start(&br->wake_poll, UV_READABLE, on_wake);
    uv_timer_start(&br->tick, on_tick, 100, 100);

    if (br->nouts)
        IFOK(s, make_producer(br));
    if (br->nins)
        IFOK(s, make_consumer(br));
    IFOK(s, kb_in_start(br));
    IFOK(s, kb_out_start(br));
    if (s == CC_OK)
        cc_log(CC_LOG_INFO, NULL, "kafka bridge started", "{s:s, s:s, s:s, s:s}", "brokers",
               cfg.kafka_brokers, "to_kafka", cfg.to_kafka, "from_kafka", cfg.from_kafka,
               "format", formats[cfg.format]);
    return s;
}

static void drain(cc_actor *a)
{
    kb_bridge *br = cc_actor_state(a);
    if (!br)
        return;
    /* Take no more Kafka records; what is being published finishes and
     * is counted on the bus, so the runtime waits for it. Messages going
     * to Kafka are JetStream messages held by their handlers, also
     * counted: their delivery reports keep being served until done. */
    br->draining = true;
    br->stop_waiting = true;
}

static void stop(cc_actor *a)
{
    kb_bridge *br = cc_actor_state(a);
    if (!br)
        return;
    if (br->consumer) {
        /* Commit what JetStream acked, then leave the group so its
         * partitions move at once. Blocking, but the loop is done. */
        rd_kafka_commit(br->consumer, NULL, 0);
        br->closing = true;
        rd_kafka_consumer_close(br->consumer);
    }
    br->closing = true;
    kb_in_free(br);
    if (br->producer)
        rd_kafka_flush(br->producer, 2000); /* reports are ignored now */
    kb_out_free(br);
    if (br->producer_q)
        rd_kafka_queue_destroy(br->producer_q);
    if (br->consumer_q)
        rd_kafka_queue_destroy(br->consumer_q);
    br->producer_q = br->consumer_q = NULL;
    if (br->consumer)
        rd_kafka_destroy(br->consumer);
    if (br->producer)
        rd_kafka_destroy(br->producer);
    br->consumer = br->producer = NULL;
    if (br->handles_open) {
        uv_close((uv_handle_t *)&br->wake_poll, NULL);
        uv_close((uv_handle_t *)&br->tick, NULL);
        br->handles_open = false;
    }
    /* librdkafka's threads are gone, so nobody writes to the pipe. */
    if (br->wake[0] >= 0)
        close(br->wake[0]);
    if (br->wake[1] >= 0)
        close(br->wake[1]);
    br->wake[0] = br->wake[1] = -1;
    kb_out_maps_free(br->outs, br->nouts);
    kb_in_maps_free(br->ins, br->nins);
    br->outs = NULL;
    br->ins = NULL;
    br->nouts = br->nins = 0;
}

int main(int argc, char **argv)
{
    cc_actor_def def = {
        .service = "kafka-bridge",
        .config = rows,
        .nconfig = sizeof rows / sizeof rows[0],
        .settings = &cfg,
        .start = start,
        .drain = drain,
        .stop = stop,
    };
    return cc_actor_main(&def, argc, argv);
}
