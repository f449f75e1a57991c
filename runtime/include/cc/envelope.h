/* The envelope: what travels in the headers of every message on the mesh,
 * next to the protobuf body. The gateway is the only process that sets the
 * principal from a verified token; actors pass it on unchanged. */
#ifndef CC_ENVELOPE_H
#define CC_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "cc/status.h"

/* Header names, shared by every process (and by the Kafka bridge). */
#define CC_HDR_TYPE "Cc-Type"
#define CC_HDR_CORRELATION "Cc-Correlation-Id"
#define CC_HDR_TRACEPARENT "traceparent"
#define CC_HDR_PRINCIPAL "Cc-Principal"
#define CC_HDR_STATUS "Cc-Status"
#define CC_HDR_ERROR "Cc-Error"
#define CC_HDR_MSG_ID "Nats-Msg-Id"
/* Optional on events: the id of the aggregate the event is about (a
 * submission id for cc.evt.submission.*), which keeps one aggregate's
 * events in order in one Kafka partition (cc-kafka-bridge). */
#define CC_HDR_AGGREGATE "Cc-Aggregate-Id"

/* Fixed-size fields keep an envelope copyable by value and free of
 * allocation; a longer incoming value is rejected, never truncated. */
typedef struct cc_envelope {
    char type[128];          /* protobuf full name, e.g. "codecourt.v1.PingRequest" */
    char correlation_id[65]; /* request id from the edge, or made here */
    char traceparent[56];    /* W3C: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags> */
    char principal[256];     /* "" for anonymous, else "<user id>:<role>" */
} cc_envelope;

/* Starts a new envelope for a message that has no parent: a fresh random
 * correlation id and a fresh trace. type may be NULL. */
void cc_envelope_new(cc_envelope *e, const char *type);

/* Makes an envelope for a message caused by parent: same correlation id,
 * trace id and principal, a new span id. */
void cc_envelope_child(cc_envelope *child, const cc_envelope *parent, const char *type);

/* Sets one field from text, checking it: CC_INVALID (with cc_err_set
 * naming the field) when the value is too long or, for the traceparent,
 * not in W3C form, or for the correlation id, holds characters outside
 * [A-Za-z0-9._:-]. A NULL or empty value leaves the field empty. */
cc_status cc_envelope_set_type(cc_envelope *e, const char *v);
cc_status cc_envelope_set_correlation(cc_envelope *e, const char *v);
cc_status cc_envelope_set_traceparent(cc_envelope *e, const char *v);
cc_status cc_envelope_set_principal(cc_envelope *e, const char *v);

/* True when v is a valid W3C traceparent of version 00 (all-zero ids are
 * invalid). */
bool cc_traceparent_valid(const char *v);

/* Copies the 32-hex trace id of e into out (33 bytes), or "" when e has no
 * traceparent. Returns out. */
char *cc_envelope_trace_id(const cc_envelope *e, char out[33]);

/* Fills buf with n random lowercase hex digits and a NUL (buf holds n+1). */
void cc_random_hex(char *buf, size_t n);

#endif
