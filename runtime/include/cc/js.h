/* JetStream: streams declared idempotently, publishing with Nats-Msg-Id
 * whose ack is awaited asynchronously (with retries), and durable pull
 * consumers whose messages are handled on the loop with ack, nak (with a
 * delay), in-progress and term.
 *
 * nats.c 3.4 offers pull consumers only through the blocking
 * natsSubscription_Fetch, which cannot run on the loop that reads the
 * socket. The consumer here speaks JetStream's pull protocol directly
 * (a request on $JS.API.CONSUMER.MSG.NEXT, replies on its own inbox) so it
 * never blocks; stream and consumer management still go through nats.c's
 * jsCtx, on the thread pool. */
#ifndef CC_JS_H
#define CC_JS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc/bus.h"
#include "cc/mesh.h"

/* Subjects of the streams shared by the services (DESIGN.md); the names
 * are in cc/mesh.h, whose table says which service declares which. */
#define CC_STREAM_EVENTS_SUBJECTS "cc.evt.>"
#define CC_STREAM_JUDGE_SUBJECTS "cc.judge.>"
/* The server publishes this advisory, once, when a job of the judges'
 * consumer reached its last delivery without an ack. */
#define CC_STREAM_JUDGE_DEAD_SUBJECTS                                                              \
    "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." CC_STREAM_JUDGE "." CC_JUDGE_CONSUMER

/* The judges' registry, a key-value bucket (cc/mesh.h names it). */
#define CC_KV_JUDGES_SUBJECTS "$KV." CC_KV_JUDGES ".>"

typedef struct cc_js_stream_config {
    const char *name;
    const char *subjects;        /* one subject filter, e.g. "cc.evt.>" */
    bool work_queue;             /* work-queue retention instead of limits */
    bool memory;                 /* memory storage instead of file */
    int64_t duplicate_window_ms; /* 0 = 2 minutes */
    int64_t max_age_ms;          /* 0 = unlimited */
    int replicas;                /* 0 = 1 */
    int64_t max_msgs_per_subject; /* 0 = unlimited */
    /* A JetStream key-value bucket's stream (KV_<bucket>, subjects
     * $KV.<bucket>.>): rollups allowed, deletes denied, direct gets, as
     * the nats CLI makes one, so `nats kv` reads it. */
    bool kv;
} cc_js_stream_config;

/* The replicas a shared stream gets when none is configured: 3 when the
 * connection knows of three or more servers (a cluster: the URLs it was
 * given and those the servers advertise), else 1. An R3 stream stays
 * available while one server is down and refuses writes, rather than
 * losing them, while two are. */
int cc_js_replicas_auto(natsConnection *nc);

/* Creates the stream, or updates it to this configuration when it exists
 * (so starting any number of processes is safe). BLOCKING: call it before
 * the loop serves or through cc_bus_offload. */
cc_status cc_js_ensure_stream(natsConnection *nc, const cc_js_stream_config *cfg);

/* Ensures every shared stream: CC_EVENTS (limits retention, file storage,
 * duplicate window), CC_JUDGE and CC_JUDGE_DEAD (work-queue retention,
 * file storage), with cc_js_replicas_auto replicas. For tests and tools
 * whose NATS user may do it. BLOCKING, as above. */
cc_status cc_js_ensure_defaults(natsConnection *nc);

/* Ensures the shared streams that service declares in the mesh's table
 * (cc/mesh.h): none for a service that only uses streams others declare
 * (its NATS user may not create them); every one for a name the table
 * does not know (tests). replicas 0 = cc_js_replicas_auto (the actors'
 * js-replicas setting, CC_JS_REPLICAS). BLOCKING, as above. */
cc_status cc_js_ensure_declared(natsConnection *nc, const char *service, int replicas);

/* ---- publish ------------------------------------------------------------ */

typedef struct cc_js_pub_ack {
    uint64_t seq;   /* stream sequence the message is stored at */
    bool duplicate; /* the server already had this Nats-Msg-Id */
    char stream[64];
} cc_js_pub_ack;

/* Called on the loop once the stream has stored the message (s == CC_OK,
 * ack filled) or publishing gave up after every retry (s is the last
 * error, errmsg says why; ack is NULL). */
typedef void (*cc_js_publish_cb)(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud);

typedef struct cc_js_publish_options {
    int max_attempts;      /* 0 = 10 */
    int64_t timeout_ms;    /* per attempt; 0 = 2000 */
    int64_t backoff_ms;    /* first retry delay, doubled each time, capped at 2 s; 0 = 50 */
} cc_js_publish_options;

/* Publishes data (copied) to subject with Nats-Msg-Id msg_id (required,
 * so a retry is never a second message) and the envelope headers. type
 * overrides env->type. Retries on timeouts, on "no responders" (the
 * stream or the server is not there yet) and on JetStream errors that are
 * not final. cb may be NULL. opts may be NULL. */
cc_status cc_js_publish(cc_bus *b, const char *subject, const char *msg_id,
                        const cc_envelope *env, const char *type, const void *data, size_t len,
                        const cc_js_publish_options *opts, cc_js_publish_cb cb, void *ud);

/* How long JetStream publishes of this process have been failing, in ms:
 * since the first attempt that timed out or was refused after the last
 * one a stream acked; 0 when the last attempt was acked (or none failed).
 * A service that would accept work it cannot queue (the stream lost its
 * quorum, the store is full) answers 503 instead while this grows. Loop
 * thread only. */
int64_t cc_js_unavailable_ms(void);

/* ---- the JetStream API on the loop (cc_bus_request) ----------------------- */

/* The JSON body of a $JS.API reply as a cc_bus_request callback gets it
 * (reply is released here); NULL when s is not CC_OK or the body is not
 * JSON. A refusal is {"error": {"code", "description"}}. */
json_t *cc_js_api_reply(cc_status s, natsMsg *reply);

/* A message read back with $JS.API.STREAM.MSG.GET. */
typedef struct cc_js_stored {
    const char *subject; /* belongs to the reply's JSON */
    uint8_t *data;       /* the body, malloc'd (cc_js_stored_clear) */
    size_t len;
    char msg_id[160];    /* its Nats-Msg-Id, "" when it had none */
} cc_js_stored;

/* Reads the "message" of a STREAM.MSG.GET reply (body and headers are
 * base64 there); false when there is none (the error's code is then the
 * caller's to read) or it does not decode. */
bool cc_js_stored_from(json_t *reply, cc_js_stored *out);
void cc_js_stored_clear(cc_js_stored *m);

/* ---- pull consumers ------------------------------------------------------- */

typedef struct cc_js_consumer_config {
    const char *stream;
    const char *durable;
    const char *filter;      /* NULL = the whole stream */
    int64_t ack_wait_ms;     /* 0 = 30 s */
    int max_deliver;         /* 0 = 5; then the server gives up and advises */
    int max_inflight;        /* messages handled at once; 0 = 64 */
    int64_t pull_expires_ms; /* how long one pull request waits; 0 = 5 s */
    /* The runtime never hands a message back early: one that arrives
     * while the consumer is stopped or paused, or is still being handled
     * when the drain times out, is left for the server to redeliver after
     * ack_wait, which it does in stream order. For consumers that must
     * keep one key's order across a restart (the Kafka bridge): handed
     * back at once, such a message would go back behind later ones. */
    bool keep_order;
} cc_js_consumer_config;

/* Creates the durable consumer (explicit ack) or updates it. When the
 * stream does not exist yet, waits for the service that declares it (up
 * to 30 s). BLOCKING. */
cc_status cc_js_ensure_consumer(natsConnection *nc, const cc_js_consumer_config *cfg);

typedef struct cc_js_msg cc_js_msg;
typedef struct cc_js_consumer cc_js_consumer;

/* A handler owns m until it calls exactly one of cc_js_ack, cc_js_nak or
 * cc_js_term (now or later, on the loop). */
typedef void (*cc_js_handler)(cc_js_msg *m, void *ud);

/* Starts pulling from an existing durable consumer. cfg is copied. */
cc_status cc_js_consume(cc_bus *b, const cc_js_consumer_config *cfg, cc_js_handler h, void *ud,
                        cc_js_consumer **out);
/* Pauses (true) or resumes pulling: while paused no pull is asked and a
 * message that an earlier pull still brings is handed back at once (nak
 * without delay) for another consumer, or left to its ack wait with
 * keep_order; messages being handled stay with their handlers. */
void cc_js_consumer_pause(cc_js_consumer *c, bool paused);
/* Stops pulling. Messages that still arrive are handed back (nak without
 * delay; left to their ack wait with keep_order); messages being handled
 * stay with their handlers. */
void cc_js_consumer_stop(cc_js_consumer *c);
/* Hands back (nak; with keep_order, leaves to their ack wait) every
 * message still being handled; their handlers must not touch them
 * afterwards, so call it only when the loop is about to end. */
void cc_js_consumer_nak_all(cc_js_consumer *c);
int cc_js_consumer_inflight(const cc_js_consumer *c);
/* Frees a stopped consumer with nothing in flight. */
void cc_js_consumer_free(cc_js_consumer *c);

const char *cc_js_msg_subject(const cc_js_msg *m);
const void *cc_js_msg_data(const cc_js_msg *m);
size_t cc_js_msg_len(const cc_js_msg *m);
const cc_envelope *cc_js_msg_envelope(const cc_js_msg *m);
/* The Nats-Msg-Id the message was published with, or "". */
const char *cc_js_msg_id(const cc_js_msg *m);
/* How many times the server has delivered it (1 the first time). */
uint64_t cc_js_msg_delivered(const cc_js_msg *m);
uint64_t cc_js_msg_stream_seq(const cc_js_msg *m);
natsMsg *cc_js_msg_nats(cc_js_msg *m);

void cc_js_ack(cc_js_msg *m);
/* Asks for redelivery after delay_ms (0 = at once). */
void cc_js_nak(cc_js_msg *m, int64_t delay_ms);
/* Tells the server never to deliver it again. */
void cc_js_term(cc_js_msg *m);
/* Extends the ack wait while a long job runs; m stays with the handler. */
void cc_js_in_progress(cc_js_msg *m);

#endif
