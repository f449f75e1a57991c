/* Kafka to NATS: the configured topics are consumed in one consumer group
 * and every record is published into JetStream with Nats-Msg-Id =
 * "<topic>/<partition>/<offset>". A record's offset is stored (and so
 * committed by the next auto-commit) only once JetStream has acked it and
 * every earlier record of its partition, so a restart replays at most
 * records that JetStream already has, and the stream's duplicate window
 * drops those. A publish that fails is retried until it succeeds: a
 * record is never skipped.
 *
 * Headers: Cc-Type, Cc-Correlation-Id and traceparent are taken from the
 * Kafka record when valid (a fresh correlation id and trace otherwise);
 * Cc-Principal is never taken from Kafka, since only the gateway may set
 * it. The value is published as it is. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "cc/log.h"

typedef enum { REC_PUBLISHING, REC_WAITING, REC_DONE } rec_state;

typedef struct kb_part kb_part;

typedef struct kb_rec {
    kb_part *part;
    int64_t offset;
    rec_state state;
    uint64_t retry_at_ns;
    int attempts;
    cc_envelope env;
    char id[320];
    void *data; /* a copy of the value, so the Kafka message is released at once */
    size_t len;
    struct kb_rec *next;
} kb_rec;

struct kb_part {
    char *topic;
    int32_t partition;
    size_t map; /* index into br->ins */
    kb_in *in;
    kb_rec *head, *tail; /* records in offset order, not yet stored */
    kb_part *next;
};

typedef struct kb_topic_metrics {
    cc_counter *delivered, *failed, *retried, *duplicates;
    cc_gauge *lag;
} kb_topic_metrics;

struct kb_in {
    kb_bridge *br;
    kb_part *parts;
    int inflight;
    kb_topic_metrics *m; /* one per mapping */
    uint64_t last_lag_ns;
};

static void publish(kb_rec *r);

static kb_part *find_part(kb_in *in, const char *topic, int32_t partition, size_t map)
{
    for (kb_part *p = in->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    kb_part *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->topic = strdup(topic);
    if (!p->topic) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->map = map;
    p->in = in;
    p->next = in->parts;
    in->parts = p;
    return p;
}

static void free_rec(kb_rec *r)
{
    free(r->data);
    free(r);
}

/* Stores the offset after the longest acked prefix of the partition. */
static void advance(kb_in *in, kb_part *p)
{
    int64_t next = -1;
    while (p->head && p->head->state == REC_DONE) {
        kb_rec *r = p->head;
        next = r->offset + 1;
        p->head = r->next;
        if (!p->head)
            p->tail = NULL;
        free_rec(r);
    }
    if (next < 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = next;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(in->br->consumer, l);
    /* A partition revoked meanwhile refuses the store: its new owner
     * replays from the last commit and JetStream drops the duplicates. */
    if (err && err != RD_KAFKA_RESP_ERR__STATE)
        cc_log(CC_LOG_DEBUG, NULL, "kafka offset not stored", "{s:s, s:i, s:I, s:s}", "topic",
               p->topic, "partition", (int)p->partition, "offset", (json_int_t)next, "error",
               rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

static void published(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud)
{
    kb_rec *r = ud;
    if (r->part == NULL) {
        /* Orphaned by stop(): the bridge is gone, only the memory is left. */
        free_rec(r);
        return;
    }
    kb_part *p = r->part;
    kb_in *st = p->in;
    kb_bridge *br = st->br;
    kb_topic_metrics *m = &st->m[p->map];
    if (s == CC_OK) {
        r->state = REC_DONE;
        st->inflight--;
        cc_counter_inc(m->delivered);
        if (ack && ack->duplicate)
            cc_counter_inc(m->duplicates);
        advance(st, p);
        kb_in_poll(br);
        return;
    }
    cc_counter_inc(m->failed);
    r->state = REC_WAITING;
    uint64_t delay_ms = (uint64_t)br->cfg->retry_ms << (r->attempts < 5 ? r->attempts : 5);
    r->retry_at_ns = cc_now_ns() + delay_ms * 1000000u;
    cc_log(CC_LOG_WARN, &r->env, "jetstream publish failed, will retry", "{s:s, s:s, s:s}",
           "id", r->id, "subject", br->ins[p->map].subject, "error",
           errmsg ? errmsg : cc_status_str(s));
}

static void publish(kb_rec *r)
{
    kb_bridge *br = r->part->in->br;
    r->state = REC_PUBLISHING;
    r->attempts++;
    cc_status s = cc_js_publish(cc_actor_bus(br->actor), br->ins[r->part->map].subject, r->id,
                                &r->env, NULL, r->data, r->len, NULL, published, r);
    if (s != CC_OK) {
        r->state = REC_WAITING;
        r->retry_at_ns = cc_now_ns() + (uint64_t)br->cfg->retry_ms * 1000000u;
        cc_counter_inc(br->in->m[r->part->map].failed);
    }
}

/* The envelope of a Kafka record: its headers when valid, else new. */
static void record_envelope(const rd_kafka_message_t *km, cc_envelope *env)
{
    cc_envelope_new(env, NULL);
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(km, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h)
        return;
    static const char *const names[] = {CC_HDR_TYPE, CC_HDR_CORRELATION, CC_HDR_TRACEPARENT};
    for (size_t i = 0; i < 3; i++) {
        const void *v = NULL;
        size_t n = 0;
        char buf[300];
        if (rd_kafka_header_get_last(h, names[i], &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v ||
            n == 0 || n >= sizeof buf)
            continue;
        memcpy(buf, v, n);
        buf[n] = '\0';
        cc_envelope tmp = *env;
        cc_status s = i == 0   ? cc_envelope_set_type(&tmp, buf)
                      : i == 1 ? cc_envelope_set_correlation(&tmp, buf)
                               : cc_envelope_set_traceparent(&tmp, buf);
        if (s == CC_OK)
            *env = tmp;
    }
    env->principal[0] = '\0';
}

static size_t map_of(const kb_bridge *br, const char *topic)
{
    for (size_t i = 0; i < br->nins; i++)
        if (strcmp(br->ins[i].topic, topic) == 0)
            return i;
    return br->nins;
}

static void take(kb_bridge *br, rd_kafka_message_t *km)
{
    kb_in *in = br->in;
    const char *topic = rd_kafka_topic_name(km->rkt);
    size_t map = map_of(br, topic);
    if (map == br->nins)
        return;
    kb_part *p = find_part(in, topic, km->partition, map);
    kb_rec *r = calloc(1, sizeof *r);
    if (!p || !r || (km->len && !(r->data = malloc(km->len)))) {
        /* Out of memory: this record's offset is never stored, so the
         * group replays it; log and go on. */
        cc_log(CC_LOG_ERROR, NULL, "out of memory taking a kafka record", NULL);
        free(r);
        return;
    }
    r->part = p;
    r->offset = km->offset;
    if (km->len)
        memcpy(r->data, km->payload, km->len);
    r->len = km->len;
    snprintf(r->id, sizeof r->id, "%s/%d/%lld", topic, (int)km->partition, (long long)km->offset);
    record_envelope(km, &r->env);
    if (p->tail)
        p->tail->next = r;
    else
        p->head = r;
    p->tail = r;
    in->inflight++;
    publish(r);
}

void kb_in_poll(kb_bridge *br)
{
    if (!br->consumer || !br->in || br->draining || br->closing)
        return;
    while (br->in->inflight < br->cfg->max_inflight) {
        rd_kafka_message_t *km = rd_kafka_consumer_poll(br->consumer, 0);
        if (!km)
            return;
        if (km->err) {
            if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                cc_log(CC_LOG_WARN, NULL, "kafka consumer error", "{s:s, s:s}", "error",
                       rd_kafka_message_errstr(km), "topic",
                       km->rkt ? rd_kafka_topic_name(km->rkt) : "");
        } else {
            take(br, km);
        }
        rd_kafka_message_destroy(km);
    }
}

void kb_in_tick(kb_bridge *br)
{
    kb_in *in = br->in;
    if (!in || br->closing)
        return;
    uint64_t now = cc_now_ns();
    for (kb_part *p = in->parts; p; p = p->next)
        for (kb_rec *r = p->head; r; r = r->next)
            if (r->state == REC_WAITING && now >= r->retry_at_ns) {
                cc_counter_inc(in->m[p->map].retried);
                publish(r);
            }
    if (now - in->last_lag_ns < 1000000000u)
        return;
    in->last_lag_ns = now;
    /* Lag: records on the broker not yet taken (high watermark minus the
     * position, from librdkafka's cache; no broker round trip) plus those
     * taken and not yet acked by JetStream. */
    int64_t *lag = calloc(br->nins, sizeof *lag);
    if (!lag)
        return;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(br->consumer, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        rd_kafka_position(br->consumer, l);
        for (int i = 0; i < l->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &l->elems[i];
            int64_t lo = 0, hi = 0;
            size_t map = map_of(br, tp->topic);
            if (map == br->nins ||
                rd_kafka_get_watermark_offsets(br->consumer, tp->topic, tp->partition, &lo, &hi))
                continue;
            int64_t pos = tp->offset >= 0 ? tp->offset : lo;
            if (hi > pos)
                lag[map] += hi - pos;
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    for (kb_part *p = in->parts; p; p = p->next)
        for (kb_rec *r = p->head; r; r = r->next)
            if (r->state != REC_DONE)
                lag[p->map]++;
    for (size_t i = 0; i < br->nins; i++)
        cc_gauge_set(in->m[i].lag, lag[i]);
    free(lag);
}

int kb_in_inflight(const kb_bridge *br)
{
    return br->in ? br->in->inflight : 0;
}

cc_status kb_in_start(kb_bridge *br)
{
    if (br->nins == 0)
        return CC_OK;
    kb_in *in = calloc(1, sizeof *in);
    if (!in)
        return CC_NOMEM;
    in->br = br;
    in->m = calloc(br->nins, sizeof *in->m);
    if (!in->m) {
        free(in);
        return CC_NOMEM;
    }
    br->in = in;
    for (size_t i = 0; i < br->nins; i++) {
        char labels[400], esc[300];
        cc_metrics_escape(br->ins[i].topic, esc, sizeof esc);
        snprintf(labels, sizeof labels, "direction=\"from_kafka\",topic=\"%s\"", esc);
        kb_topic_metrics *m = &in->m[i];
        m->delivered = cc_metrics_counter("cc_kafka_bridge_delivered_total",
                                          "Messages stored by the other side", labels);
        m->failed = cc_metrics_counter("cc_kafka_bridge_failed_total",
                                       "Deliveries that failed and were handed back", labels);
        m->retried = cc_metrics_counter("cc_kafka_bridge_retried_total",
                                        "Messages taken again after a failure", labels);
        m->duplicates = cc_metrics_counter("cc_kafka_bridge_duplicates_total",
                                           "Records JetStream already had (replayed offsets)",
                                           labels);
        m->lag = cc_metrics_gauge("cc_kafka_bridge_lag",
                                  "Messages not yet stored by the other side", labels);
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)br->nins);
    for (size_t i = 0; i < br->nins; i++)
        rd_kafka_topic_partition_list_add(topics, br->ins[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(br->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err)
        return cc_err_set(CC_INVALID, "kafka subscribe: %s", rd_kafka_err2str(err));
    for (size_t i = 0; i < br->nins; i++)
        cc_log(CC_LOG_INFO, NULL, "bridging from kafka", "{s:s, s:s, s:s}", "topic",
               br->ins[i].topic, "subject", br->ins[i].subject, "group", br->cfg->group);
    return CC_OK;
}

void kb_in_free(kb_bridge *br)
{
    kb_in *in = br->in;
    if (!in)
        return;
    while (in->parts) {
        kb_part *p = in->parts;
        in->parts = p->next;
        while (p->head) {
            kb_rec *r = p->head;
            p->head = r->next;
            if (r->state == REC_PUBLISHING)
                r->part = NULL; /* its publish callback frees it */
            else
                free_rec(r);
        }
        free(p->topic);
        free(p);
    }
    free(in->m);
    free(in);
    br->in = NULL;
}
