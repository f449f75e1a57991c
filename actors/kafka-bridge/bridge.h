/* cc-kafka-bridge: mirrors JetStream subjects to Kafka topics (to_kafka.c)
 * and Kafka topics into JetStream (from_kafka.c). Shared state and the
 * pure helpers of mapping.c.
 *
 * Threading: everything here runs on the actor's libuv loop. librdkafka
 * runs its own broker threads, but every callback we register (delivery
 * reports, errors, consumed messages) is served by rd_kafka_poll /
 * rd_kafka_consumer_poll, which we call only on the loop with a zero
 * timeout. The loop learns that a queue has something through
 * rd_kafka_queue_io_event_enable: librdkafka writes a byte to a pipe we
 * watch with uv_poll (see main.c). So no locks are needed. */
#ifndef KB_BRIDGE_H
#define KB_BRIDGE_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cc/actor.h"
#include "cc/metrics.h"

/* Header a publisher may set to name the aggregate an event belongs to
 * (e.g. the submission id on cc.evt.submission.*). It becomes the Kafka
 * key, so one aggregate's events stay in one partition, in order. */
#define KB_HDR_AGGREGATE CC_HDR_AGGREGATE
/* Extra Kafka headers the bridge writes next to the envelope's. */
#define KB_HDR_SUBJECT "Cc-Subject"

enum { KB_FORMAT_PROTOBUF = 0, KB_FORMAT_JSON = 1 };

typedef struct kb_settings {
    char *kafka_brokers;   /* bootstrap.servers; required */
    char *to_kafka;        /* "FILTER=TOPIC[@N];..." */
    char *from_kafka;      /* "TOPIC=SUBJECT;..." */
    int format;            /* KB_FORMAT_* for values written to Kafka */
    char *group;           /* Kafka consumer group of the from-Kafka side */
    char *durable_prefix;  /* JetStream durable names start with this */
    char *kafka_options;   /* extra librdkafka settings "k=v;k=v" (TLS, SASL...) */
    int64_t delivery_timeout_ms; /* message.timeout.ms of the producer */
    int64_t ack_wait_ms;   /* JetStream ack wait of the to-Kafka consumers */
    int64_t max_inflight;  /* messages in flight per mapping */
    int64_t commit_interval_ms; /* auto.commit.interval.ms of the consumer */
    int64_t retry_ms;      /* first retry delay after a failure */
} kb_settings;

/* One NATS-to-Kafka mapping. */
typedef struct kb_out_map {
    char *filter;   /* JetStream subject filter, e.g. "cc.evt.>" */
    char *topic;    /* Kafka topic */
    int key_token;  /* 1-based subject token holding the aggregate id; 0 = none */
} kb_out_map;

/* One Kafka-to-NATS mapping. */
typedef struct kb_in_map {
    char *topic;
    char *subject; /* JetStream subject the messages are published on */
} kb_in_map;

typedef struct kb_out kb_out; /* to_kafka.c */
typedef struct kb_in kb_in;   /* from_kafka.c */

typedef struct kb_bridge {
    cc_actor *actor;
    const kb_settings *cfg;
    kb_out_map *outs;
    size_t nouts;
    kb_in_map *ins;
    size_t nins;

    rd_kafka_t *producer; /* NULL when nothing maps to Kafka */
    rd_kafka_t *consumer; /* NULL when nothing maps from Kafka */
    rd_kafka_queue_t *producer_q;
    rd_kafka_queue_t *consumer_q;
    int wake[2];          /* pipe librdkafka writes to when a queue fills */
    uv_poll_t wake_poll;
    uv_timer_t tick;      /* safety-net polling, lag gauges, in-progress acks */
    bool handles_open;
    bool closing;         /* stop(): callbacks must not touch messages */
    bool draining;
    atomic_bool stop_waiting; /* read by start's wait on the thread pool */

    kb_out *out;          /* to_kafka.c state, one per mapping */
    kb_in *in;            /* from_kafka.c state */
} kb_bridge;

/* ---- mapping.c: parsing and pure helpers (no I/O) ------------------------ */

/* Parses "FILTER=TOPIC[@N];..." (spaces around items ignored, empty items
 * skipped). CC_INVALID (cc_err_set naming the wrong item) or CC_NOMEM, or
 * CC_OK with *out malloc'd, freed with kb_out_maps_free. */
cc_status kb_parse_out_maps(const char *spec, kb_out_map **out, size_t *n);
void kb_out_maps_free(kb_out_map *m, size_t n);
/* Parses "TOPIC=SUBJECT;..." (the subject has no wildcard). */
cc_status kb_parse_in_maps(const char *spec, kb_in_map **out, size_t *n);
void kb_in_maps_free(kb_in_map *m, size_t n);
/* CC_INVALID when a Kafka-to-NATS mapping publishes on a subject that a
 * NATS-to-Kafka mapping sends back to the same topic: a loop. */
cc_status kb_check_loops(const kb_out_map *outs, size_t nouts, const kb_in_map *ins, size_t nins);
/* NATS subject matching with '*' and '>' wildcards in filter. */
bool kb_subject_matches(const char *filter, const char *subject);
/* Token n (1-based) of subject into buf; false when it has fewer tokens
 * or the token does not fit. */
bool kb_subject_token(const char *subject, int n, char *buf, size_t cap);
/* A durable name for a mapping that stays the same while the mapping does
 * (prefix + hash of filter and topic), so reordering the setting does not
 * replay the stream. */
void kb_durable_name(const char *prefix, const kb_out_map *m, char *buf, size_t cap);
/* Base64 (RFC 4648, padded) of len bytes into a malloc'd string. */
char *kb_base64(const void *data, size_t len);
/* Pending messages in the consumer from a JetStream ack subject
 * ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>,
 * or the v2 form with domain and account hash); -1 when not one. */
int64_t kb_ack_pending(const char *reply);

/* ---- to_kafka.c ------------------------------------------------------------ */

/* Creates the durable consumers (on the thread pool) and starts them. */
cc_status kb_out_start(kb_bridge *br);
/* Delivery report, called from rd_kafka_poll on the loop. */
void kb_out_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
/* Every tick: in-progress acks for messages Kafka has not confirmed yet,
 * lag gauges. */
void kb_out_tick(kb_bridge *br);
int kb_out_inflight(const kb_bridge *br);
void kb_out_free(kb_bridge *br);

/* ---- from_kafka.c ---------------------------------------------------------- */

cc_status kb_in_start(kb_bridge *br);
/* Takes what the consumer queue holds, up to the in-flight bound. */
void kb_in_poll(kb_bridge *br);
void kb_in_tick(kb_bridge *br);
int kb_in_inflight(const kb_bridge *br);
void kb_in_free(kb_bridge *br);

/* ---- main.c ----------------------------------------------------------------- */

/* Applies the common librdkafka settings (brokers, client id, extra
 * options); CC_INVALID (cc_err_set naming the setting) when one is
 * refused. */
cc_status kb_conf_common(kb_bridge *br, rd_kafka_conf_t *conf);
cc_status kb_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v);

#endif
