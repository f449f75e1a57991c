/* RPC over core NATS: the server side decodes, checks, times, counts and
 * logs every call in one place; the client side is an asynchronous request
 * with a timeout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/bus.h"
#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/trace.h"
#include "codecourt/v1/runtime.pb-c.h"

typedef struct method_stats {
    cc_histogram *duration;
    cc_counter *by_status[32];
} method_stats;

struct cc_rpc_server {
    cc_bus *b;
    char service[64];
    char prefix[96]; /* "cc.rpc.<service>." */
    size_t prefix_len;
    const cc_rpc_method *methods;
    size_t n;
    method_stats *stats; /* n + 1: the last is the built-in Ping */
    void *actor;
    cc_bus_sub *sub;
    int inflight;
    bool stopped;
    cc_counter *unknown;
    cc_counter *malformed;
};

struct cc_rpc_call {
    cc_rpc_server *srv;
    const cc_rpc_method *method;
    char caller[64]; /* the calling service of a caller-scoped subject, or "" */
    cc_principal principal; /* parsed from env.principal before the handler runs */
    method_stats *stats;
    natsMsg *req;
    cc_envelope env; /* its traceparent is the server span's: calls it makes are children */
    cc_span span;
    cc_arena arena;
    uint64_t start_ns;
    /* Most requests decode into this without a malloc. */
    _Alignas(max_align_t) char arena_buf[1024];
};

static void ping_handler(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

static const cc_rpc_method builtin_ping = {
    "Ping", &codecourt__v1__ping_request__descriptor, &codecourt__v1__ping_reply__descriptor,
    ping_handler, 0};

const cc_envelope *cc_rpc_envelope(const cc_rpc_call *call)
{
    return &call->env;
}

cc_arena *cc_rpc_arena(cc_rpc_call *call)
{
    return &call->arena;
}

const cc_rpc_method *cc_rpc_method_of(const cc_rpc_call *call)
{
    return call->method;
}

cc_bus *cc_rpc_bus(const cc_rpc_call *call)
{
    return call->srv->b;
}

const cc_principal *cc_rpc_principal(const cc_rpc_call *call)
{
    return &call->principal;
}

bool cc_rpc_require_admin(cc_rpc_call *call, const char *what)
{
    if (call->principal.role == CC_ROLE_ADMIN)
        return true;
    cc_rpc_fail(call, CC_DENIED, "%s", what);
    return false;
}

const char *cc_rpc_caller(const cc_rpc_call *call)
{
    return call->caller[0] ? call->caller : NULL;
}

int cc_rpc_inflight(cc_rpc_server *s)
{
    return s->inflight;
}

static cc_counter *status_counter(cc_rpc_server *srv, method_stats *st, const char *method,
                                  cc_status s)
{
    unsigned idx = (unsigned)s < 32 ? (unsigned)s : 31;
    if (!st->by_status[idx]) {
        char labels[256];
        snprintf(labels, sizeof labels, "service=\"%s\",method=\"%s\",status=\"%s\"",
                 srv->service, method, cc_status_name(s));
        st->by_status[idx] =
            cc_metrics_counter("cc_rpc_server_requests_total", "RPC requests served", labels);
    }
    return st->by_status[idx];
}

/* Sends a reply: a success is the bare body; an error has no body and
 * carries Cc-Status and Cc-Error. */
static void send_reply(cc_rpc_server *srv, natsMsg *req, cc_status s, const char *err,
                       const void *body, size_t len)
{
    const char *reply = natsMsg_GetReply(req);
    if (!reply || !*reply)
        return; /* a publish without a reply subject: nobody to answer */
    if (!cc_bus_connected(srv->b))
        return; /* see cc_bus_connected: the caller's request times out */
    if (s == CC_OK) {
        natsConnection_Publish(cc_bus_nats(srv->b), reply, body, (int)len);
        return;
    }
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, reply, NULL, body, (int)len) != NATS_OK)
        return;
    char num[16];
    snprintf(num, sizeof num, "%d", (int)s);
    /* A success carries no header at all: the caller knows the type it
     * asked for and its own correlation id, and every header costs
     * allocations on both sides. An error carries Cc-Status (the
     * cc_status number) and Cc-Error (the message). */
    natsMsgHeader_Set(m, CC_HDR_STATUS, num);
    if (err)
        natsMsgHeader_Set(m, CC_HDR_ERROR, err);
    natsConnection_PublishMsg(cc_bus_nats(srv->b), m);
    cc_bus_msg_release(srv->b, m);
}

static void end_call(cc_rpc_call *call, cc_status s)
{
    cc_rpc_server *srv = call->srv;
    double secs = (double)(cc_now_ns() - call->start_ns) / 1e9;
    cc_histogram_observe(call->stats->duration, secs);
    if (s != CC_OK)
        cc_span_fail(&call->span, cc_status_name(s));
    cc_span_end(&call->span);
    cc_counter_inc(status_counter(srv, call->stats, call->method->name, s));
    cc_bus_msg_release(srv->b, call->req);
    cc_arena_clear(&call->arena);
    srv->inflight--;
    cc_bus_work_end(srv->b);
    free(call);
}

void cc_rpc_reply(cc_rpc_call *call, const ProtobufCMessage *resp)
{
    size_t len = protobuf_c_message_get_packed_size(resp);
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf) {
        cc_rpc_fail(call, CC_NOMEM, "reply of %zu bytes: out of memory", len);
        return;
    }
    protobuf_c_message_pack(resp, buf);
    send_reply(call->srv, call->req, CC_OK, NULL, buf, len);
    if (buf != stackbuf)
        free(buf);
    end_call(call, CC_OK);
}

void cc_rpc_reply_packed(cc_rpc_call *call, const void *body, size_t len)
{
    send_reply(call->srv, call->req, CC_OK, NULL, body, len);
    end_call(call, CC_OK);
}

void cc_rpc_fail(cc_rpc_call *call, cc_status s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s == CC_OK)
        s = CC_ERR;
    cc_log(s == CC_INTERNAL || s == CC_DB || s == CC_NOMEM ? CC_LOG_ERROR : CC_LOG_INFO,
           &call->env, "rpc failed", "{s:s, s:s, s:s, s:s}", "service", call->srv->service,
           "method", call->method->name, "status", cc_status_name(s), "error", msg);
    send_reply(call->srv, call->req, s, msg, NULL, 0);
    end_call(call, s);
}

static method_stats *stats_for(cc_rpc_server *srv, const cc_rpc_method *m)
{
    size_t i = m == &builtin_ping ? srv->n : (size_t)(m - srv->methods);
    method_stats *st = &srv->stats[i];
    if (!st->duration) {
        char labels[200];
        snprintf(labels, sizeof labels, "service=\"%s\",method=\"%s\"", srv->service, m->name);
        st->duration = cc_metrics_histogram("cc_rpc_server_duration_seconds",
                                            "Time from request arrival to reply", labels, NULL, 0);
    }
    return st;
}

static void on_request(cc_bus *b, natsMsg *m, void *ud)
{
    cc_rpc_server *srv = ud;
    const char *subj = natsMsg_GetSubject(m);
    const char *name = subj + srv->prefix_len;
    /* cc.rpc.<service>.<caller>.<Method>: a service calling as itself,
     * on a subject only its NATS user may publish (cc/mesh.h). */
    char caller[64] = "";
    const char *dot = strchr(name, '.');
    if (dot && (size_t)(dot - name) < sizeof caller && dot > name) {
        memcpy(caller, name, (size_t)(dot - name));
        caller[dot - name] = '\0';
        name = dot + 1;
    }
    cc_envelope env;
    if (cc_envelope_from_msg(&env, m) != CC_OK) {
        cc_counter_inc(srv->malformed);
        char why[600];
        snprintf(why, sizeof why, "bad envelope: %s", cc_err_msg());
        cc_log(CC_LOG_WARN, NULL, "rpc rejected", "{s:s, s:s}", "subject", subj, "error", why);
        send_reply(srv, m, CC_PROTO, why, NULL, 0);
        cc_bus_msg_release(b, m);
        return;
    }
    /* A caller-scoped request speaks for the calling service, not for a
     * user: a principal in it did not come from the gateway, so it is
     * dropped and the handler sees cc_rpc_caller() instead. */
    if (caller[0])
        env.principal[0] = '\0';
    /* The one reading of the principal (cc/envelope.h): a malformed one
     * is refused here, the same in every actor, before any handler. */
    cc_principal principal;
    if (cc_principal_parse(env.principal, &principal) != CC_OK) {
        cc_counter_inc(srv->malformed);
        char why[300];
        snprintf(why, sizeof why, "bad principal: %s", cc_err_msg());
        cc_log(CC_LOG_WARN, &env, "rpc rejected", "{s:s, s:s}", "subject", subj, "error", why);
        send_reply(srv, m, CC_PROTO, why, NULL, 0);
        cc_bus_msg_release(b, m);
        return;
    }
    const cc_rpc_method *method = NULL;
    for (size_t i = 0; i < srv->n; i++)
        if (strcmp(srv->methods[i].name, name) == 0)
            method = &srv->methods[i];
    if (!method && strcmp(name, "Ping") == 0)
        method = &builtin_ping;
    if (!method) {
        cc_counter_inc(srv->unknown);
        char why[300];
        snprintf(why, sizeof why, "unknown method '%.100s' on service %s", name, srv->service);
        cc_log(CC_LOG_WARN, &env, "rpc rejected", "{s:s, s:s}", "subject", subj, "error", why);
        send_reply(srv, m, CC_UNKNOWN_METHOD, why, NULL, 0);
        cc_bus_msg_release(b, m);
        return;
    }
    /* malloc, not calloc: the inline arena buffer needs no zeroing. */
    cc_rpc_call *call = malloc(sizeof *call);
    if (call)
        memset(call, 0, offsetof(cc_rpc_call, arena_buf));
    if (!call) {
        send_reply(srv, m, CC_NOMEM, "out of memory", NULL, 0);
        cc_bus_msg_release(b, m);
        return;
    }
    call->srv = srv;
    call->method = method;
    memcpy(call->caller, caller, sizeof caller);
    call->principal = principal;
    call->stats = stats_for(srv, method);
    call->req = m;
    call->env = env;
    call->start_ns = cc_now_ns();
    /* The serving side's span: "<service>/<Method>", a child of the
     * caller's client span (its traceparent came with the request). */
    char span_name[160];
    snprintf(span_name, sizeof span_name, "%s/%s", srv->service, method->name);
    cc_span_enter(&call->span, span_name, CC_SPAN_SERVER, &call->env);
    if (call->span.recording) {
        cc_span_attr(&call->span, "rpc.system", "nats");
        cc_span_attr(&call->span, "rpc.service", srv->service);
        cc_span_attr(&call->span, "rpc.method", method->name);
        if (caller[0])
            cc_span_attr(&call->span, "codecourt.caller", caller);
    }
    cc_arena_init_inline(&call->arena, call->arena_buf, sizeof call->arena_buf);
    srv->inflight++;
    cc_bus_work_begin(b);
    const char *type = env.type;
    if (type[0] && strcmp(type, method->request->name) != 0) {
        cc_counter_inc(srv->malformed);
        cc_rpc_fail(call, CC_PROTO, "%s expects %s, got %s", method->name, method->request->name,
                    type);
        return;
    }
    ProtobufCMessage *req =
        protobuf_c_message_unpack(method->request, &call->arena.pb,
                                  (size_t)natsMsg_GetDataLength(m),
                                  (const uint8_t *)natsMsg_GetData(m));
    if (!req) {
        cc_counter_inc(srv->malformed);
        cc_rpc_fail(call, CC_PROTO, "malformed %s (%d bytes)", method->request->name,
                    natsMsg_GetDataLength(m));
        return;
    }
    if ((method->flags & CC_RPC_AUTH) && principal.role == CC_ROLE_ANON) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "%s needs an authenticated caller", method->name);
        return;
    }
    char saved[56];
    cc_trace_push(call->env.traceparent, saved);
    method->handler(call, req, srv->actor);
    cc_trace_pop(saved);
}

cc_status cc_rpc_serve(cc_bus *b, const char *service, const cc_rpc_method *methods, size_t n,
                       void *actor, cc_rpc_server **out)
{
    if (strlen(service) >= 64 || !*service || strpbrk(service, ".*> "))
        return cc_err_set(CC_INVALID, "bad service name '%s'", service);
    cc_rpc_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return CC_NOMEM;
    srv->stats = calloc(n + 1, sizeof *srv->stats);
    if (!srv->stats) {
        free(srv);
        return CC_NOMEM;
    }
    srv->b = b;
    snprintf(srv->service, sizeof srv->service, "%s", service);
    srv->prefix_len =
        (size_t)snprintf(srv->prefix, sizeof srv->prefix, "cc.rpc.%s.", service);
    srv->methods = methods;
    srv->n = n;
    srv->actor = actor;
    char labels[100];
    snprintf(labels, sizeof labels, "service=\"%s\"", service);
    srv->unknown = cc_metrics_counter("cc_rpc_server_unknown_method_total",
                                      "Requests naming a method the service lacks", labels);
    srv->malformed = cc_metrics_counter("cc_rpc_server_malformed_total",
                                        "Requests that could not be decoded", labels);
    /* ">" takes the public cc.rpc.<service>.<Method> and the
     * caller-scoped cc.rpc.<service>.<caller>.<Method> alike. */
    char subject[100];
    snprintf(subject, sizeof subject, "%s>", srv->prefix);
    cc_status s = cc_bus_subscribe(b, subject, service, on_request, srv, &srv->sub);
    if (s != CC_OK) {
        free(srv->stats);
        free(srv);
        return s;
    }
    *out = srv;
    return CC_OK;
}

void cc_rpc_stop(cc_rpc_server *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = true;
    cc_bus_unsubscribe(s->sub);
}

void cc_rpc_free(cc_rpc_server *s)
{
    if (!s)
        return;
    cc_rpc_stop(s);
    free(s->stats);
    free(s);
}

/* ---- built-in Ping -------------------------------------------------------- */

typedef struct {
    uv_timer_t t;
    cc_rpc_call *call;
    const Codecourt__V1__PingRequest *req;
} ping_wait;

static char instance_id[17];

static void ping_answer(cc_rpc_call *call, const Codecourt__V1__PingRequest *req)
{
    if (!instance_id[0])
        cc_random_hex(instance_id, 16);
    Codecourt__V1__PingReply r = CODECOURT__V1__PING_REPLY__INIT;
    r.text = req->text;
    r.service = call->srv->service;
    r.instance = instance_id;
    r.payload = req->payload;
    cc_rpc_reply(call, &r.base);
}

static void ping_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void ping_timer(uv_timer_t *t)
{
    ping_wait *w = t->data;
    ping_answer(w->call, w->req);
    uv_close((uv_handle_t *)t, ping_timer_closed);
}

static void ping_handler(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__PingRequest *p = (const Codecourt__V1__PingRequest *)req;
    if (p->sleep_ms < 0 || p->sleep_ms > 600000) {
        cc_rpc_fail(call, CC_INVALID, "sleep_ms must be within 0..600000");
        return;
    }
    if (p->sleep_ms == 0) {
        ping_answer(call, p);
        return;
    }
    /* Sleeping on a timer, not on the loop, keeps the actor serving: this
     * is how tests hold a request in flight. */
    ping_wait *w = calloc(1, sizeof *w);
    if (!w) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    w->call = call;
    w->req = p;
    uv_timer_init(cc_bus_loop(call->srv->b), &w->t);
    w->t.data = w;
    uv_timer_start(&w->t, ping_timer, (uint64_t)p->sleep_ms, 0);
}

/* ---- client ---------------------------------------------------------------- */

typedef struct {
    cc_rpc_done cb;
    void *ud;
    const ProtobufCMessageDescriptor *desc;
    uint64_t start_ns;
    cc_histogram *duration;
    cc_span span;      /* the client span, sent as the request's parent */
    char parent[56];   /* the caller's traceparent, current again in cb */
} call_ctx;

static void on_call_reply(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    call_ctx *c = ud;
    cc_histogram_observe(c->duration, (double)(cc_now_ns() - c->start_ns) / 1e9);
    char saved[56];
    cc_trace_push(c->parent, saved);
    if (s != CC_OK) {
        cc_span_fail(&c->span, cc_status_name(s));
        cc_span_end(&c->span);
        c->cb(s,
              s == CC_TIMEOUT       ? CC_RPC_NO_REPLY
              : s == CC_UNAVAILABLE ? "no service is listening"
                                    : cc_status_str(s),
              NULL, c->ud);
        cc_trace_pop(saved);
        free(c);
        return;
    }
    const char *st = NULL, *err = NULL;
    natsMsgHeader_Get(reply, CC_HDR_STATUS, &st);
    natsMsgHeader_Get(reply, CC_HDR_ERROR, &err);
    /* No Cc-Status header means success (see send_reply). */
    cc_status rs = st ? cc_status_from_int(strtol(st, NULL, 10)) : CC_OK;
    if (rs != CC_OK)
        cc_span_fail(&c->span, cc_status_name(rs));
    cc_span_end(&c->span);
    if (rs != CC_OK) {
        c->cb(rs, err ? err : (st ? cc_status_str(rs) : "reply without a status"), NULL, c->ud);
    } else {
        cc_arena arena;
        _Alignas(max_align_t) char inline_buf[1024];
        cc_arena_init_inline(&arena, inline_buf, sizeof inline_buf);
        ProtobufCMessage *resp = protobuf_c_message_unpack(
            c->desc, &arena.pb, (size_t)natsMsg_GetDataLength(reply),
            (const uint8_t *)natsMsg_GetData(reply));
        if (resp)
            c->cb(CC_OK, NULL, resp, c->ud);
        else
            c->cb(CC_PROTO, "malformed reply", NULL, c->ud);
        cc_arena_clear(&arena);
    }
    cc_bus_msg_release(b, reply);
    cc_trace_pop(saved);
    free(c);
}

/* The client's histogram per (service, method), cached so a call does not
 * format labels and search the registry each time. Calls are made on
 * loop threads; the cache is per thread. */
static cc_histogram *client_histogram(const char *service, const char *method)
{
    enum { SLOTS = 64, NAME_MAX_LEN = 79 };
    static _Thread_local struct {
        char service[NAME_MAX_LEN + 1], method[NAME_MAX_LEN + 1];
        cc_histogram *h;
    } cache[SLOTS];
    uint32_t hash = 2166136261u;
    size_t ns = 0, nm = 0;
    for (; service[ns]; ns++)
        hash = (hash ^ (unsigned char)service[ns]) * 16777619u;
    for (; method[nm]; nm++)
        hash = (hash ^ (unsigned char)method[nm]) * 16777619u;
    if (ns > NAME_MAX_LEN || nm > NAME_MAX_LEN)
        return NULL;
    unsigned slot = hash % SLOTS;
    if (cache[slot].h && strcmp(cache[slot].service, service) == 0 &&
        strcmp(cache[slot].method, method) == 0)
        return cache[slot].h;
    char labels[200];
    snprintf(labels, sizeof labels, "service=\"%s\",method=\"%s\"", service, method);
    cc_histogram *h = cc_metrics_histogram("cc_rpc_client_duration_seconds",
                                           "Round trip of RPC calls made", labels, NULL, 0);
    memcpy(cache[slot].service, service, ns + 1);
    memcpy(cache[slot].method, method, nm + 1);
    cache[slot].h = h;
    return h;
}

static cc_status call_subject(cc_bus *b, const char *subject, const char *service,
                              const char *method, const cc_envelope *e, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                              cc_rpc_done cb, void *ud);

cc_status cc_rpc_call_async(cc_bus *b, const char *service, const char *method,
                            const cc_envelope *env, const ProtobufCMessage *req,
                            const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                            cc_rpc_done cb, void *ud)
{
    /* Built without snprintf: this runs for every call. */
    char subject[160];
    size_t ls = strlen(service), lm = strlen(method);
    if (sizeof "cc.rpc.." + ls + lm > sizeof subject)
        return cc_err_set(CC_INVALID, "rpc subject too long");
    memcpy(subject, "cc.rpc.", 7);
    memcpy(subject + 7, service, ls);
    subject[7 + ls] = '.';
    memcpy(subject + 8 + ls, method, lm + 1);
    cc_envelope e;
    if (env)
        e = *env;
    else
        cc_envelope_new(&e, NULL);
    return call_subject(b, subject, service, method, &e, req, resp_desc, timeout_ms, cb, ud);
}

cc_status cc_rpc_call_as_service_async(cc_bus *b, const char *service, const char *method,
                                       const cc_envelope *env, const ProtobufCMessage *req,
                                       const ProtobufCMessageDescriptor *resp_desc,
                                       int64_t timeout_ms, cc_rpc_done cb, void *ud)
{
    const char *self = cc_bus_service(b);
    if (!self)
        return cc_err_set(CC_INVALID, "a caller-scoped call to %s.%s needs a bus with a service",
                          service, method);
    char subject[200];
    int w = snprintf(subject, sizeof subject, "cc.rpc.%s.%s.%s", service, self, method);
    if (w < 0 || (size_t)w >= sizeof subject)
        return cc_err_set(CC_INVALID, "rpc subject too long");
    cc_envelope e;
    if (env)
        e = *env;
    else
        cc_envelope_new(&e, NULL);
    /* It speaks for the service: no user's principal rides along. */
    e.principal[0] = '\0';
    return call_subject(b, subject, service, method, &e, req, resp_desc, timeout_ms, cb, ud);
}

static cc_status call_subject(cc_bus *b, const char *subject, const char *service,
                              const char *method, const cc_envelope *e, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                              cc_rpc_done cb, void *ud)
{
    call_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return CC_NOMEM;
    c->cb = cb;
    c->ud = ud;
    c->desc = resp_desc;
    c->start_ns = cc_now_ns();
    c->duration = client_histogram(service, method);
    /* The calling side's span, "<service>/<Method>" too; the request
     * carries its id, so the serving side's span is its child. */
    memcpy(c->parent, e->traceparent, sizeof c->parent);
    char span_name[160];
    snprintf(span_name, sizeof span_name, "%s/%s", service, method);
    cc_envelope sent = *e;
    cc_span_enter(&c->span, span_name, CC_SPAN_CLIENT, &sent);
    if (c->span.recording) {
        cc_span_attr(&c->span, "rpc.system", "nats");
        cc_span_attr(&c->span, "rpc.service", service);
        cc_span_attr(&c->span, "rpc.method", method);
    }
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf) {
        free(c);
        return CC_NOMEM;
    }
    protobuf_c_message_pack(req, buf);
    cc_status s = cc_bus_request(b, subject, &sent, req->descriptor->name, NULL, buf, len,
                                 timeout_ms, on_call_reply, c);
    if (buf != stackbuf)
        free(buf);
    if (s != CC_OK)
        free(c);
    return s;
}
