/* The bus: one NATS connection per process, driven by the actor's libuv
 * loop through nats.c's libuv adapter. nats.c calls subscription callbacks
 * on its own threads; the bus only queues those messages and wakes the
 * loop, so every handler below runs on the loop thread.
 *
 * Rule for callers: never call a blocking nats.c function (a synchronous
 * request, Flush, js_* management calls, Fetch) on the loop thread. The
 * socket is read by the loop, so such a call would wait forever. Use the
 * asynchronous calls here, or cc_bus_offload() to run blocking work on the
 * thread pool. */
#ifndef CC_BUS_H
#define CC_BUS_H

#include <nats/nats.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cc/arena.h"
#include "cc/envelope.h"
#include "cc/status.h"

typedef struct cc_bus cc_bus;

typedef struct cc_bus_options {
    const char *url;       /* "nats://127.0.0.1:4222", or with "user:password@" */
    const char *name;      /* connection name shown by the server */
    const char *user;      /* NULL = none, or those of the URL */
    const char *password;
    /* The service this connection speaks for ("user"), or NULL. Its
     * replies come to inboxes under _INBOX.<service>, the only ones its
     * NATS user may subscribe to (cc/mesh.h), and its caller-scoped calls
     * (cc_rpc_call_as_service_async) name it. NULL: plain _INBOX, for
     * tests and tools connected as a user that may read any. */
    const char *service;
    bool send_asap;        /* natsOptions_SetSendAsap: lower RPC latency */
    int connect_timeout_ms;
    /* PEM file of the CA that signed the server's certificate: the
     * connection is TLS and verifies the server against that CA only.
     * NULL: CC_NATS_CA from the environment when set (the variable of an
     * actor's nats-ca setting, so a tool or test connects as its actors
     * do); "" or unset: no TLS unless the server requires it, then
     * verified against the system's CAs. */
    const char *ca_file;
} cc_bus_options;

/* Connects (blocking, before the loop serves anything) and attaches the
 * connection to loop. Reconnects forever afterwards. On success *out is a
 * bus owned by the caller, released with cc_bus_close. Must be called on
 * the loop's thread. */
cc_status cc_bus_connect(uv_loop_t *loop, const cc_bus_options *o, cc_bus **out);

/* The CA file this bus verifies its server with, or NULL: a second
 * connection of the same process (a projection's reader) passes it on. */
const char *cc_bus_ca_file(const cc_bus *b);

/* Stops every subscription, lets the loop write out what was published
 * (waiting at most 0.5 s), closes the connection and frees the bus once
 * the loop has closed its handles; done (may be NULL) is called on the
 * loop when that has happened. Pending requests complete with CC_CLOSED
 * first. */
void cc_bus_close(cc_bus *b, void (*done)(void *ud), void *ud);

uv_loop_t *cc_bus_loop(cc_bus *b);
/* cc_bus_options.service, or NULL. */
const char *cc_bus_service(const cc_bus *b);
/* Writes a fresh inbox prefix of this bus, "_INBOX[.<service>].<nuid>.",
 * into out (n bytes, at least 96) and returns its length; a subscription
 * to it plus "*" receives what is sent to any subject under it. */
size_t cc_bus_new_inbox(cc_bus *b, char *out, size_t n);
/* url (one or a comma-separated list) with every password replaced by
 * "***", for logs and messages; cut to fit out (n bytes). */
void cc_bus_redact_url(const char *url, char *out, size_t n);
/* The underlying connection, for nats.c calls the bus does not wrap. */
natsConnection *cc_bus_nats(cc_bus *b);
bool cc_bus_connected(cc_bus *b);

/* Runs work(ud) on libuv's thread pool (it may block on NATS), then
 * done(status, ud) on the loop. Returns CC_OK or the uv_queue_work error;
 * on error done is not called. */
cc_status cc_bus_offload(cc_bus *b, cc_status (*work)(void *ud), void (*done)(cc_status, void *ud),
                         void *ud);

/* ---- messages ---------------------------------------------------------- */

/* Reads the envelope from a message's headers. A message without headers
 * gets a fresh envelope. Invalid header values are CC_PROTO with
 * cc_err_set naming the header. */
cc_status cc_envelope_from_msg(cc_envelope *e, natsMsg *m);
/* Writes the envelope into a message's headers (empty fields are left
 * out). */
cc_status cc_envelope_to_msg(const cc_envelope *e, natsMsg *m);

/* A raw subscription whose handler runs on the loop. The handler owns m
 * and must release it (cc_bus_msg_release, or natsMsg_Destroy). queue may
 * be NULL. The subscription lives
 * until cc_bus_unsubscribe or cc_bus_close. */
typedef void (*cc_bus_handler)(cc_bus *b, natsMsg *m, void *ud);
typedef struct cc_bus_sub cc_bus_sub;
cc_status cc_bus_subscribe(cc_bus *b, const char *subject, const char *queue, cc_bus_handler h,
                           void *ud, cc_bus_sub **out);
/* Stops delivery; messages already queued for the loop are dropped.
 * Safe to call from the handler itself. s is freed on the loop soon
 * after: call this once and forget s. */
void cc_bus_unsubscribe(cc_bus_sub *s);

/* Publishes data with the envelope's headers (core NATS, fire and
 * forget). type overrides env->type when non-NULL. */
cc_status cc_bus_publish(cc_bus *b, const char *subject, const cc_envelope *env, const char *type,
                         const void *data, size_t len);

/* Asynchronous request: publishes data to subject with the envelope's
 * headers (env may be NULL; type, when non-NULL, overrides env->type;
 * msg_id, when non-NULL, is sent as Nats-Msg-Id) and a reply subject of the
 * bus's inbox, then calls cb on the loop with the reply, or with
 * CC_TIMEOUT after timeout_ms (also when nobody serves the subject: the
 * bus does not use NATS's "no responders" status), CC_CLOSED when the bus
 * closes. cb owns reply (NULL on
 * error) and must release it (cc_bus_msg_release). On a returned error cb is not
 * called. */
/* Replies are matched by the subject they arrive on, so this is for
 * services that answer on the reply subject (RPC, the JetStream API, stream
 * publishes), not for JetStream pulls, whose messages arrive under their
 * original subject (cc_js_consume handles those). */
typedef void (*cc_bus_reply_cb)(cc_bus *b, cc_status s, natsMsg *reply, void *ud);
cc_status cc_bus_request(cc_bus *b, const char *subject, const cc_envelope *env, const char *type,
                         const char *msg_id, const void *data, size_t len, int64_t timeout_ms,
                         cc_bus_reply_cb cb, void *ud);

/* Releases m like natsMsg_Destroy, later: 256 at a time, or on the bus's
 * 50 ms timer. nats.c hands every destroyed message to its collector
 * thread under a mutex and wakes that thread when it sleeps; one hand-over
 * per message, or even one batch per loop iteration, kept that thread
 * waking and the two contending for the lock (about a tenth of a busy
 * actor's CPU in futex calls and context switches). Loop thread only. */
void cc_bus_msg_release(cc_bus *b, natsMsg *m);

/* Counts work that is still running, so a drain can wait for it. */
void cc_bus_work_begin(cc_bus *b);
void cc_bus_work_end(cc_bus *b);
int cc_bus_work_count(cc_bus *b);

/* ---- RPC: cc.rpc.<service>.<Method> --------------------------------------
 * An actor declares a const table of methods; the runtime decodes,
 * validates, times, counts, logs and answers errors in one place, so a
 * handler holds only the business logic. A successful reply is the bare
 * response message; an error reply has no body and carries the Cc-Status
 * header (a cc_status number) and Cc-Error (a message). */

typedef struct cc_rpc_call cc_rpc_call;
typedef void (*cc_rpc_fn)(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

enum {
    /* The caller must not be anonymous: without a principal the runtime
     * answers CC_UNAUTHENTICATED and the handler does not run. */
    CC_RPC_AUTH = 1 << 0,
};

typedef struct cc_rpc_method {
    const char *name; /* "Ping" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    cc_rpc_fn handler;
    unsigned flags;
} cc_rpc_method;

typedef struct cc_rpc_server cc_rpc_server;

/* Serves cc.rpc.<service>.* and the caller-scoped
 * cc.rpc.<service>.<caller>.* in queue group <service>. methods must stay
 * valid while served (a static const table). actor is passed to every
 * handler. Every service also answers "Ping" (codecourt.v1.PingRequest)
 * unless the table has its own. */
cc_status cc_rpc_serve(cc_bus *b, const char *service, const cc_rpc_method *methods, size_t n,
                       void *actor, cc_rpc_server **out);
/* Stops taking new requests; in-flight calls still reply. */
void cc_rpc_stop(cc_rpc_server *s);
/* Frees a server that was stopped and has no call in flight. */
void cc_rpc_free(cc_rpc_server *s);
int cc_rpc_inflight(cc_rpc_server *s);

/* Inside a handler. The call owns an arena freed when it is answered:
 * the request and anything allocated with cc_rpc_arena live until then. */
const cc_envelope *cc_rpc_envelope(const cc_rpc_call *call);
cc_arena *cc_rpc_arena(cc_rpc_call *call);
const cc_rpc_method *cc_rpc_method_of(const cc_rpc_call *call);
/* Whom the call speaks for, parsed once from its Cc-Principal header when
 * the request arrived (cc/envelope.h has the format): CC_ROLE_ANON with
 * id "" for no principal; a malformed one never reaches a handler. Owned
 * by the call: valid until it is answered. Never NULL. */
const cc_principal *cc_rpc_principal(const cc_rpc_call *call);
/* True when the call speaks for an admin; otherwise answers CC_DENIED with
 * the message what (e.g. "only admins rejudge") and returns false. */
bool cc_rpc_require_admin(cc_rpc_call *call, const char *what);
/* The service that made a caller-scoped call (it arrived on
 * cc.rpc.<service>.<caller>.<Method>, a subject only that caller's NATS
 * user may publish, so NATS vouches for it), or NULL for an ordinary call
 * (cc.rpc.<service>.<Method>), whose only identity is its principal. A
 * caller-scoped call never carries a principal. */
const char *cc_rpc_caller(const cc_rpc_call *call);
cc_bus *cc_rpc_bus(const cc_rpc_call *call);
/* Answers with resp (of the method's response type) and ends the call. */
void cc_rpc_reply(cc_rpc_call *call, const ProtobufCMessage *resp);
/* The same with the response already packed (len bytes of the method's
 * response type), e.g. kept from an earlier answer. */
void cc_rpc_reply_packed(cc_rpc_call *call, const void *body, size_t len);
/* Answers with an error and ends the call. The message goes to the caller
 * and to the log with the correlation id. */
void cc_rpc_fail(cc_rpc_call *call, cc_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Calls cc.rpc.<service>.<method> asynchronously. resp_desc decodes the
 * reply. cb runs on the loop with CC_OK and the response, or an error
 * status and message (the remote's Cc-Error, or a local reason); resp and
 * errmsg are valid only during cb. On a returned error cb is not called.
 * No answer within timeout_ms is CC_TIMEOUT with exactly CC_RPC_NO_REPLY
 * as its message (a service's own timeout, e.g. a statement's, says
 * something else): the request or its answer may have been lost with a
 * NATS server, so the caller may tell its own caller to retry. */
#define CC_RPC_NO_REPLY "request timed out"
typedef void (*cc_rpc_done)(cc_status s, const char *errmsg, const ProtobufCMessage *resp,
                            void *ud);
cc_status cc_rpc_call_async(cc_bus *b, const char *service, const char *method,
                            const cc_envelope *env, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                            cc_rpc_done cb, void *ud);

/* The same as this bus's service itself (cc_bus_options.service, which
 * must be set), not for a user: the request goes to
 * cc.rpc.<service>.<caller>.<method> without a principal, and the server
 * learns the caller from cc_rpc_caller(). The mesh's permissions say which
 * service may call which method this way (cc/mesh.h). */
cc_status cc_rpc_call_as_service_async(cc_bus *b, const char *service, const char *method,
                                       const cc_envelope *env, const ProtobufCMessage *req,
                                       const ProtobufCMessageDescriptor *resp_desc,
                                       int64_t timeout_ms, cc_rpc_done cb, void *ud);

#endif
