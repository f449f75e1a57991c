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

/* ---- the principal: who a user's request speaks for ----------------------
 *
 * The gateway is the only process that writes it, from a verified access
 * token, in the Cc-Principal header of the RPCs it makes for the user:
 *
 *     Cc-Principal: <user id>:<role>
 *
 *   <user id>  the user's id as cc-user makes it and every service stores
 *              it: a UUID in PostgreSQL's text form, 8-4-4-4-12 lowercase
 *              hex digits (36 characters), so one user has one spelling
 *              and an owner column compares equal;
 *   <role>     "user", "setter" or "admin", as in the token.
 *
 * No header, or an empty one, is the anonymous caller. Anything else is
 * malformed (no ':', another spelling of an id, an unknown role, anything
 * more), and the RPC server refuses the request before a handler runs,
 * with CC_PROTO "bad principal: <why>", the same in every actor; a
 * handler gets the parsed principal (cc_rpc_principal, cc/bus.h) and
 * never reads the header itself. A caller-scoped call
 * (cc.rpc.<service>.<caller>.<Method>, cc_rpc_caller) speaks for a
 * service, not a user: its principal is dropped, so it is anonymous. */

/* The roles of the wire format, and CC_ROLE_ANON for no principal. The
 * numbers never leave the process: the header carries the names. */
typedef enum {
    CC_ROLE_ANON = 0,
    CC_ROLE_USER,
    CC_ROLE_SETTER,
    CC_ROLE_ADMIN,
} cc_role;

#define CC_USER_ID_LEN 36

typedef struct cc_principal {
    cc_role role;
    char id[CC_USER_ID_LEN + 1]; /* "" for the anonymous caller */
} cc_principal;

/* Parses the text of a Cc-Principal header (NULL when there is none) into
 * *out. CC_OK for the anonymous caller (NULL or "") and for a well-formed
 * principal; CC_INVALID otherwise, with cc_err_set saying what is wrong
 * (never quoting the text) and *out anonymous. Pure: no allocation. */
cc_status cc_principal_parse(const char *text, cc_principal *out);
/* True when s is a user id in the form above. */
bool cc_user_id_valid(const char *s);
/* "user", "setter", "admin"; "" for CC_ROLE_ANON or a value not in the
 * enum. */
const char *cc_role_name(cc_role r);
/* The role named s ("user", "setter", "admin"; exact case), or false. */
bool cc_role_parse(const char *s, cc_role *out);

/* Fixed-size fields keep an envelope copyable by value and free of
 * allocation; a longer incoming value is rejected, never truncated. */
typedef struct cc_envelope {
    char type[128];          /* protobuf full name, e.g. "codecourt.v1.PingRequest" */
    char correlation_id[65]; /* request id from the edge, or made here */
    char traceparent[56];    /* W3C: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags> */
    char principal[256];     /* the Cc-Principal text, as received (see above) */
    char aggregate_id[65];   /* Cc-Aggregate-Id: the entity an event is about; "" for none */
} cc_envelope;

/* Starts a new envelope for a message that has no parent: a fresh random
 * correlation id and a fresh trace. type may be NULL. */
void cc_envelope_new(cc_envelope *e, const char *type);

/* Makes an envelope for a message caused by parent: same correlation id,
 * traceparent and principal (the span that sends it is made where it is
 * sent, as the child of the parent's span: cc/trace.h). */
void cc_envelope_child(cc_envelope *child, const cc_envelope *parent, const char *type);

/* Sets one field from text, checking it: CC_INVALID (with cc_err_set
 * naming the field) when the value is too long or, for the traceparent,
 * not in W3C form, or for the correlation id, holds characters outside
 * [A-Za-z0-9._:-]. A NULL or empty value leaves the field empty. */
cc_status cc_envelope_set_type(cc_envelope *e, const char *v);
cc_status cc_envelope_set_correlation(cc_envelope *e, const char *v);
cc_status cc_envelope_set_traceparent(cc_envelope *e, const char *v);
cc_status cc_envelope_set_principal(cc_envelope *e, const char *v);
/* The aggregate an event is about (at most 64 characters; NULL or "":
 * none). Each event's publisher sets it (a child envelope starts without
 * one): cc_outbox_add's aggregate, or this before cc_js_publish. */
cc_status cc_envelope_set_aggregate(cc_envelope *e, const char *v);

/* True when v is a valid W3C traceparent of version 00 (all-zero ids are
 * invalid). */
bool cc_traceparent_valid(const char *v);

/* Copies the 32-hex trace id of e into out (33 bytes), or "" when e has no
 * traceparent. Returns out. */
char *cc_envelope_trace_id(const cc_envelope *e, char out[33]);

/* Fills buf with n random lowercase hex digits and a NUL (buf holds n+1). */
void cc_random_hex(char *buf, size_t n);
/* A random (version 4) UUID in out (37 bytes): row ids a service makes
 * itself, e.g. when a sealed value's AAD must name its row before the
 * INSERT. */
void cc_uuid_new(char out[37]);

#endif
