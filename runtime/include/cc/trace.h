/* The tracer: OpenTelemetry spans for every hop, made from the W3C
 * traceparent each message already carries (cc/envelope.h), batched and
 * exported over OTLP/HTTP JSON by one background thread.
 *
 * Settings (read by cc_trace_init from the environment, so the gateway,
 * the judge and every actor share them without a row in each table):
 *
 *   CC_OTLP_ENDPOINT   base URL of an OTLP/HTTP collector, e.g.
 *                      "http://127.0.0.1:4318"; spans are POSTed to
 *                      <endpoint>/v1/traces. Unset or empty: tracing off
 *                      (ids still propagate, nothing is recorded).
 *   CC_TRACE_SAMPLE    share of new traces recorded, 0..1 (default 1).
 *                      Decided once, where a trace starts (the gateway),
 *                      and carried in the traceparent's sampled flag, so a
 *                      trace is whole or absent, never in pieces.
 *
 * Threads: any thread may start and end spans (the judge's job threads
 * do). cc_span_end copies the span into a bounded queue under a mutex and
 * returns; only the exporter thread formats and sends. A full queue or a
 * failed POST drops spans and counts them (cc_trace_spans_dropped_total
 * in /metrics): a dead or slow collector never slows a request.
 *
 * The model: a span's id is what the next hop sees as its parent. A hop
 * starts its span from the traceparent it received and writes the span's
 * own traceparent into the envelope it passes on (cc_span_enter). */
#ifndef CC_TRACE_H
#define CC_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "cc/envelope.h"
#include "cc/status.h"

/* OTLP's SpanKind numbers. */
typedef enum {
    CC_SPAN_INTERNAL = 1,
    CC_SPAN_SERVER = 2,
    CC_SPAN_CLIENT = 3,
    CC_SPAN_PRODUCER = 4,
    CC_SPAN_CONSUMER = 5,
} cc_span_kind;

#define CC_SPAN_MAX_ATTRS 5

/* One span, by value: no allocation, so it can live in a call's struct
 * or on a job thread's stack. */
typedef struct cc_span {
    bool recording; /* tracer on and the trace sampled: cc_span_end exports it */
    bool sampled;
    bool error;
    uint8_t kind;
    uint8_t nattrs;
    char trace_id[33];
    char span_id[17];
    char parent_id[17]; /* "" for a trace's root */
    char name[80];
    uint64_t start_unix_ns, end_unix_ns;
    struct {
        char key[32];
        char value[96];
    } attrs[CC_SPAN_MAX_ATTRS];
    char status_msg[128];
} cc_span;

/* Reads the settings above and, when an endpoint is set, starts the
 * exporter thread. service is the resource's service.name ("cc-user").
 * CC_INVALID (with cc_err_set naming the setting) for a bad value; the
 * process should stop then, like any bad setting. Once per process. */
cc_status cc_trace_init(const char *service);
/* Sends what is queued (waiting at most timeout_ms) and stops the thread.
 * Safe without init. */
void cc_trace_shutdown(int timeout_ms);
bool cc_trace_enabled(void);

/* Starts a span whose parent is the traceparent text (NULL, "" or an
 * invalid one: a new trace, sampled at CC_TRACE_SAMPLE). name is cut to
 * fit. */
void cc_span_start(cc_span *s, const char *name, cc_span_kind kind, const char *parent_traceparent);
/* Starts a span as a child of env's traceparent and makes env carry the
 * span's own traceparent from now on: what env causes is the span's
 * child. */
void cc_span_enter(cc_span *s, const char *name, cc_span_kind kind, cc_envelope *env);
/* Writes the span's traceparent (55 characters and a NUL). */
void cc_span_traceparent(const cc_span *s, char out[56]);
/* Adds an attribute (ignored past CC_SPAN_MAX_ATTRS; values cut to fit). */
void cc_span_attr(cc_span *s, const char *key, const char *value);
void cc_span_attr_int(cc_span *s, const char *key, int64_t value);
/* Marks the span failed, with a message (may be NULL). */
void cc_span_fail(cc_span *s, const char *msg);
/* Ends the span and queues it for export (a copy: s may be reused). */
void cc_span_end(cc_span *s);

/* ---- the current span of a thread ----------------------------------------
 * Code the runtime calls back (an RPC handler, a JetStream handler, the
 * reply of a call, a query's result) runs with the traceparent of the hop
 * that caused it as its thread's current one; a span started without an
 * explicit parent (a PostgreSQL query) becomes its child. The runtime
 * sets and restores it around each callback. */
const char *cc_trace_current(void);
/* Makes tp (may be NULL) current and saves the previous one into saved. */
void cc_trace_push(const char *tp, char saved[56]);
void cc_trace_pop(const char saved[56]);

/* Spans exported, dropped (queue full, collector down): for tests. */
uint64_t cc_trace_exported(void);
uint64_t cc_trace_dropped(void);

#endif
