/* NATS to Kafka: one durable JetStream pull consumer per mapping. Each
 * message is produced to the mapping's topic (idempotent producer,
 * acks=all) and acked on JetStream only when Kafka's delivery report says
 * the message is stored; a failed delivery is nak'd with a delay so
 * JetStream hands it back. Delivery is at least once: a bridge killed
 * between Kafka's ack and JetStream's sees the message again and writes
 * it again, so Kafka consumers dedupe on the Nats-Msg-Id header.
 *
 * Order: the JetStream consumer hands messages over in stream order and
 * the idempotent producer keeps the order of one partition through its
 * own retries, so one key's events stay in order. A delivery that fails
 * for good (after delivery-timeout) is nak'd and comes back later, and
 * only then can a later event of the same key overtake it. A bridge that
 * stops hands nothing back (keep_order): what it pulled and did not get
 * confirmed is redelivered after the ack wait in stream order, and the
 * next bridge waits that out before it pulls (ensure_all). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cc/log.h"

typedef struct kb_pending {
    kb_out *o;
    cc_js_msg *m;
    struct kb_pending *prev, *next;
} kb_pending;

struct kb_out {
    kb_bridge *br;
    const kb_out_map *map;
    char durable[128];
    cc_js_consumer_config cc;
    cc_js_consumer *c;
    kb_pending list; /* sentinel of a circular list of messages Kafka has not confirmed */
    int inflight;
    int64_t server_pending; /* the consumer's pending count from the last ack subject */
    uint64_t last_progress_ns;
    cc_counter *delivered, *failed, *retried;
    cc_gauge *lag;
};

static void unlink_pending(kb_pending *p)
{
    p->prev->next = p->next;
    p->next->prev = p->prev;
    p->o->inflight--;
}

/* The Kafka key: the Cc-Aggregate-Id header when the publisher set one,
 * else the mapping's key token of the subject, else the whole subject, so
 * every event that names the same aggregate lands in one partition. */
static const char *pick_key(const kb_out *o, cc_js_msg *m, char *buf, size_t cap)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(cc_js_msg_nats(m), KB_HDR_AGGREGATE, &v) == NATS_OK && v && *v)
        return v;
    const char *subject = cc_js_msg_subject(m);
    if (o->map->key_token > 0 && kb_subject_token(subject, o->map->key_token, buf, cap))
        return buf;
    return subject;
}

static void add_header(rd_kafka_headers_t *h, const char *name, const char *v)
{
    if (v && *v)
        rd_kafka_header_add(h, name, -1, v, -1);
}

/* The JSON value: the envelope and subject as fields, the protobuf body
 * as base64. Decoding the body itself would need its descriptor, which
 * the bridge does not have for every type on the stream. */
static char *json_value(cc_js_msg *m, const char *key, size_t *len)
{
    const cc_envelope *env = cc_js_msg_envelope(m);
    char *b64 = kb_base64(cc_js_msg_data(m), cc_js_msg_len(m));
    if (!b64)
        return NULL;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "subject",
                          cc_js_msg_subject(m), "id", cc_js_msg_id(m), "type", env->type,
                          "correlation_id", env->correlation_id, "traceparent", env->traceparent,
                          "aggregate_id", key, "stream_seq", (json_int_t)cc_js_msg_stream_seq(m),
                          "payload", b64);
    free(b64);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

static void on_msg(cc_js_msg *m, void *ud)
{
    kb_out *o = ud;
    kb_bridge *br = o->br;
    if (cc_js_msg_delivered(m) > 1)
        cc_counter_inc(o->retried);
    int64_t pending = kb_ack_pending(natsMsg_GetReply(cc_js_msg_nats(m)));
    if (pending >= 0)
        o->server_pending = pending;

    char keybuf[256];
    const char *key = pick_key(o, m, keybuf, sizeof keybuf);
    const cc_envelope *env = cc_js_msg_envelope(m);
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    add_header(h, CC_HDR_TYPE, env->type);
    add_header(h, CC_HDR_CORRELATION, env->correlation_id);
    add_header(h, CC_HDR_TRACEPARENT, env->traceparent);
    add_header(h, CC_HDR_MSG_ID, cc_js_msg_id(m));
    add_header(h, KB_HDR_SUBJECT, cc_js_msg_subject(m));
    add_header(h, KB_HDR_AGGREGATE, key);
    /* The principal is not exported: it is an internal credential. */

    char *json = NULL;
    const void *value = cc_js_msg_data(m);
    size_t vlen = cc_js_msg_len(m);
    if (br->cfg->format == KB_FORMAT_JSON) {
        json = json_value(m, key, &vlen);
        if (!json) {
            rd_kafka_headers_destroy(h);
            cc_counter_inc(o->failed);
            cc_js_nak(m, br->cfg->retry_ms);
            return;
        }
        value = json;
    }
    kb_pending *p = calloc(1, sizeof *p);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    if (p) {
        p->o = o;
        p->m = m;
        err = rd_kafka_producev(br->producer, RD_KAFKA_V_TOPIC(o->map->topic),
                                RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)value, vlen),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    }
    free(json);
    if (err) {
        /* On failure the headers are still ours. */
        rd_kafka_headers_destroy(h);
        free(p);
        cc_counter_inc(o->failed);
        cc_log(CC_LOG_WARN, env, "kafka produce refused, handed back", "{s:s, s:s, s:s}",
               "topic", o->map->topic, "id", cc_js_msg_id(m), "error", rd_kafka_err2str(err));
        cc_js_nak(m, br->cfg->retry_ms);
        return;
    }
    p->next = &o->list;
    p->prev = o->list.prev;
    o->list.prev->next = p;
    o->list.prev = p;
    o->inflight++;
}

void kb_out_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kb_bridge *br = opaque;
    /* After stop the messages belong to nobody: JetStream redelivers them. */
    if (br->closing || !msg->_private)
        return;
    kb_pending *p = msg->_private;
    kb_out *o = p->o;
    unlink_pending(p);
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        cc_js_ack(p->m);
        cc_counter_inc(o->delivered);
    } else {
        cc_counter_inc(o->failed);
        cc_log(CC_LOG_WARN, cc_js_msg_envelope(p->m), "kafka delivery failed, handed back",
               "{s:s, s:s, s:s}", "topic", o->map->topic, "id", cc_js_msg_id(p->m), "error",
               rd_kafka_err2str(msg->err));
        cc_js_nak(p->m, br->cfg->retry_ms);
    }
    free(p);
}

void kb_out_tick(kb_bridge *br)
{
    uint64_t now = cc_now_ns();
    for (size_t i = 0; br->out && i < br->nouts; i++) {
        kb_out *o = &br->out[i];
        /* A delivery can take longer than the ack wait while a broker is
         * down: keep JetStream from redelivering what is still on its way. */
        uint64_t every = (uint64_t)br->cfg->ack_wait_ms * 1000000u / 3;
        if (now - o->last_progress_ns >= every) {
            o->last_progress_ns = now;
            for (kb_pending *p = o->list.next; p != &o->list; p = p->next)
                cc_js_in_progress(p->m);
        }
        cc_gauge_set(o->lag, o->server_pending + o->inflight);
    }
}

int kb_out_inflight(const kb_bridge *br)
{
    int n = 0;
    for (size_t i = 0; br->out && i < br->nouts; i++)
        n += br->out[i].inflight;
    return n;
}

/* ---- start: durable consumers are created on the thread pool ------------- */

static cc_status ensure_all(void *ud)
{
    kb_bridge *br = ud;
    natsConnection *nc = cc_bus_nats(cc_actor_bus(br->actor));
    for (size_t i = 0; i < br->nouts; i++) {
        cc_status s = CC_ERR;
        /* The stream may be new on a fresh server: retry briefly. */
        for (int attempt = 0; attempt < 20; attempt++) {
            s = cc_js_ensure_consumer(nc, &br->out[i].cc);
            if (s == CC_OK)
                break;
            uv_sleep(250);
        }
        if (s != CC_OK)
            return s;
    }
    /* A previous run that died leaves messages pulled and never acked.
     * JetStream redelivers them once their ack wait has passed, but a
     * pull made before that gets newer messages first, which would put a
     * key's later event on Kafka before its earlier one. So wait out the
     * ack wait first: then the server hands the old ones over before
     * anything new. One bridge per durable (see README.md). */
    jsCtx *js = NULL;
    if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return CC_OK;
    bool unacked = false;
    for (size_t i = 0; i < br->nouts && !unacked; i++) {
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        if (js_GetConsumerInfo(&ci, js, CC_STREAM_EVENTS, br->out[i].durable, NULL, &jerr) ==
            NATS_OK) {
            unacked = ci->NumAckPending > 0;
            jsConsumerInfo_Destroy(ci);
        }
    }
    jsCtx_Destroy(js);
    if (unacked) {
        cc_log(CC_LOG_INFO, NULL, "messages of a previous run are still unacked: waiting out "
               "the ack wait so they go to Kafka first", "{s:I}", "ack_wait_ms",
               (json_int_t)br->cfg->ack_wait_ms);
        for (int64_t waited = 0; waited < br->cfg->ack_wait_ms + 500 && !br->stop_waiting;
             waited += 100)
            uv_sleep(100);
    }
    return CC_OK;
}

static void ensured(cc_status s, void *ud)
{
    kb_bridge *br = ud;
    if (br->draining)
        return;
    for (size_t i = 0; s == CC_OK && i < br->nouts; i++) {
        kb_out *o = &br->out[i];
        s = cc_actor_consume_ensured(br->actor, &o->cc, on_msg, o, &o->c);
    }
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "cannot start the JetStream consumers", "{s:s}", "error",
               cc_err_msg());
        cc_actor_shutdown(br->actor);
        return;
    }
    for (size_t i = 0; i < br->nouts; i++)
        cc_log(CC_LOG_INFO, NULL, "bridging to kafka", "{s:s, s:s, s:s}", "filter",
               br->outs[i].filter, "topic", br->outs[i].topic, "durable", br->out[i].durable);
}

cc_status kb_out_start(kb_bridge *br)
{
    if (br->nouts == 0)
        return CC_OK;
    br->out = calloc(br->nouts, sizeof *br->out);
    if (!br->out)
        return CC_NOMEM;
    for (size_t i = 0; i < br->nouts; i++) {
        kb_out *o = &br->out[i];
        o->br = br;
        o->map = &br->outs[i];
        o->list.next = o->list.prev = &o->list;
        o->last_progress_ns = cc_now_ns();
        kb_durable_name(br->cfg->durable_prefix, o->map, o->durable, sizeof o->durable);
        o->cc.stream = CC_STREAM_EVENTS;
        o->cc.durable = o->durable;
        o->cc.filter = o->map->filter;
        o->cc.ack_wait_ms = br->cfg->ack_wait_ms;
        /* JetStream must never give up on a message Kafka has not taken;
         * a huge bound stands in for "unlimited". */
        o->cc.max_deliver = 1000000;
        o->cc.max_inflight = (int)br->cfg->max_inflight;
        /* Stopping hands nothing back early: a message handed back goes
         * behind later ones of its key (see keep_order). */
        o->cc.keep_order = true;
        char labels[400], esc[300];
        cc_metrics_escape(o->map->topic, esc, sizeof esc);
        snprintf(labels, sizeof labels, "direction=\"to_kafka\",topic=\"%s\"", esc);
        o->delivered = cc_metrics_counter("cc_kafka_bridge_delivered_total",
                                          "Messages stored by the other side", labels);
        o->failed = cc_metrics_counter("cc_kafka_bridge_failed_total",
                                       "Deliveries that failed and were handed back", labels);
        o->retried = cc_metrics_counter("cc_kafka_bridge_retried_total",
                                        "Messages taken again after a failure", labels);
        o->lag = cc_metrics_gauge("cc_kafka_bridge_lag",
                                  "Messages not yet stored by the other side", labels);
    }
    return cc_bus_offload(cc_actor_bus(br->actor), ensure_all, ensured, br);
}

void kb_out_free(kb_bridge *br)
{
    for (size_t i = 0; br->out && i < br->nouts; i++) {
        kb_out *o = &br->out[i];
        /* The consumers were stopped (and nak'd if the drain timed out) by
         * the runtime; what is left here only needs its memory back. */
        while (o->list.next != &o->list) {
            kb_pending *p = o->list.next;
            unlink_pending(p);
            free(p);
        }
    }
    free(br->out);
    br->out = NULL;
}
