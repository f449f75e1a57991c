/* The front door: h2o on the actor's libuv loop. One port speaks
 * cleartext HTTP/1.1 and HTTP/2 with prior knowledge; another speaks TLS
 * with ALPN h2 / http/1.1. Every /v1 request goes through one pipeline:
 * route -> request id -> limits -> token -> Redis (revocation + rate
 * limit, one script) -> JSON to protobuf -> RPC over NATS -> protobuf to
 * JSON. Errors are RFC 9457 problems with a stable type per error. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/text.h"
#include "codecourt/v1/contest.pb-c.h"
#include "gw.h"
#include "gw/json.h"

#define PROBLEM_BASE "https://codecourt.dev/problems/"
/* An account's rate key text: 32 hex digits, ':', an address. */
#define KEY_TEXT_MAX 112

/* Connection limits (below, with the listeners). */
static void conn_abandoned(h2o_req_t *req);
static void conn_answered(h2o_req_t *req, size_t len);
static bool header_bomb(gw_state *g, h2o_req_t *req);

/* ---- responses ---------------------------------------------------------------- */

static void add_header(h2o_req_t *req, const h2o_token_t *t, const char *v)
{
    h2o_add_header(&req->pool, &req->res.headers, t, NULL, h2o_strdup(&req->pool, v, SIZE_MAX).base,
                   strlen(v));
}

static void add_header_by_name(h2o_req_t *req, const char *name, const char *v)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL,
                          h2o_strdup(&req->pool, v, SIZE_MAX).base, strlen(v));
}

static const char *request_id(h2o_req_t *req)
{
    h2o_iovec_t *v = h2o_req_getenv(req, H2O_STRLIT("cc-request-id"), 0);
    return v ? v->base : "";
}

static void send_body(h2o_req_t *req, int status, const char *ctype, const char *body,
                      size_t len)
{
    static const char *const reasons[600] = {
        [200] = "OK", [201] = "Created", [204] = "No Content", [400] = "Bad Request",
        [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
        [405] = "Method Not Allowed", [409] = "Conflict", [413] = "Payload Too Large",
        [422] = "Unprocessable Content", [429] = "Too Many Requests",
        [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
        [503] = "Service Unavailable", [504] = "Gateway Timeout"};
    req->res.status = status;
    req->res.reason = status > 0 && status < 600 && reasons[status] ? reasons[status] : "Unknown";
    add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype);
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    gw_security_headers(req);
    const char *rid = request_id(req);
    if (rid[0])
        add_header_by_name(req, "x-request-id", rid);
    char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(copy, body, len);
    h2o_send_inline(req, copy, len);
    conn_answered(req, len);
    /* One counter per status, looked up once (the loop is the only
     * caller). */
    static cc_counter *by_status[600];
    int si = status > 0 && status < 600 ? status : 0;
    if (!by_status[si]) {
        char labels[64];
        snprintf(labels, sizeof labels, "code=\"%d\"", status);
        by_status[si] = cc_metrics_counter("cc_gateway_responses_total",
                                           "HTTP responses of the gateway by status", labels);
    }
    cc_counter_inc(by_status[si]);
}

void gw_send_json(h2o_req_t *req, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!s) {
        send_body(req, 500, "application/problem+json", "{}", 2);
        return;
    }
    send_body(req, status, "application/json", s, strlen(s));
    free(s);
}

static const struct {
    int status;
    const char *slug, *title;
} problem_types[GW_P_NTYPES] = {
    [GW_P_INTERNAL] = {500, "internal", "Internal error"},
    [GW_P_INVALID_ARGUMENT] = {400, "invalid-argument", "Invalid argument"},
    [GW_P_MALFORMED_JSON] = {400, "malformed-json", "Malformed JSON"},
    [GW_P_INVALID_BODY] = {400, "invalid-body", "Invalid request body"},
    [GW_P_WEBSOCKET_REQUIRED] = {400, "websocket-required", "WebSocket upgrade required"},
    [GW_P_UNAUTHENTICATED] = {401, "unauthenticated", "Authentication required"},
    [GW_P_INVALID_TOKEN] = {401, "invalid-token", "Invalid access token"},
    [GW_P_FORBIDDEN] = {403, "forbidden", "Forbidden"},
    [GW_P_NOT_FOUND] = {404, "not-found", "Not found"},
    [GW_P_NO_ROUTE] = {404, "no-route", "No such endpoint"},
    [GW_P_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method not allowed"},
    [GW_P_ALREADY_EXISTS] = {409, "already-exists", "Already exists"},
    [GW_P_CONFLICT] = {409, "conflict", "Conflict"},
    [GW_P_BODY_TOO_LARGE] = {413, "body-too-large", "Request body too large"},
    [GW_P_UNPROCESSABLE] = {422, "unprocessable", "Unprocessable"},
    [GW_P_RATE_LIMITED] = {429, "rate-limited", "Too many requests"},
    [GW_P_TOO_MANY_SOCKETS] = {429, "too-many-sockets", "Too many live sockets"},
    [GW_P_HEADERS_TOO_LARGE] = {431, "headers-too-large", "Request headers too large"},
    [GW_P_UNAVAILABLE] = {503, "unavailable", "Service unavailable"},
    [GW_P_TIMEOUT] = {504, "timeout", "Upstream timed out"},
};

void gw_problem(h2o_req_t *req, gw_problem_type t, const char *detail, const char *field)
{
    if ((unsigned)t >= GW_P_NTYPES || !problem_types[t].slug)
        t = GW_P_INTERNAL;
    int status = problem_types[t].status;
    char type[160], instance[512];
    snprintf(type, sizeof type, PROBLEM_BASE "%s", problem_types[t].slug);
    snprintf(instance, sizeof instance, "%.*s", (int)(req->path_normalized.len < 500
                                                          ? req->path_normalized.len
                                                          : 500),
             req->path_normalized.base);
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title",
                          problem_types[t].title, "status", status, "instance", instance,
                          "requestId", request_id(req));
    if (o && detail && detail[0])
        json_object_set_new(o, "detail", json_string(detail));
    if (o && field && field[0])
        json_object_set_new(o, "field", json_string(field));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    send_body(req, status, "application/problem+json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
}

/* Maps a status from an actor to a problem type. */
static void problem_from_status(h2o_req_t *req, cc_status s, const char *msg)
{
    gw_problem_type t;
    switch (s) {
    case CC_INVALID:
    case CC_PROTO:
        t = GW_P_INVALID_ARGUMENT;
        break;
    case CC_UNAUTHENTICATED:
        t = GW_P_UNAUTHENTICATED;
        break;
    case CC_DENIED:
        t = GW_P_FORBIDDEN;
        break;
    case CC_NOT_FOUND:
        t = GW_P_NOT_FOUND;
        break;
    case CC_EXISTS:
        t = GW_P_ALREADY_EXISTS;
        break;
    case CC_CONFLICT:
        t = GW_P_CONFLICT;
        break;
    case CC_UNPROCESSABLE:
        t = GW_P_UNPROCESSABLE;
        break;
    case CC_RATE_LIMITED:
        t = GW_P_RATE_LIMITED;
        break;
    case CC_UNAVAILABLE:
    case CC_DRAINING:
    case CC_CLOSED:
        t = GW_P_UNAVAILABLE;
        break;
    case CC_TIMEOUT:
        t = GW_P_TIMEOUT;
        break;
    default:
        t = GW_P_INTERNAL;
        break;
    }
    int code = problem_types[t].status;
    /* Actors write "field: reason" for bad input; the field is lifted out
     * so clients can point at it. */
    char field[64] = "";
    if (code == 400 || code == 409 || code == 422) {
        size_t n = strcspn(msg, ": ");
        if (n > 0 && n < sizeof field && msg[n] == ':' && msg[n + 1] == ' ') {
            memcpy(field, msg, n);
            field[n] = '\0';
        }
    }
    if (code == 401)
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer");
    if (code == 503)
        add_header(req, H2O_TOKEN_RETRY_AFTER, "1"); /* temporary: a database or actor is away */
    if (code == 429) {
        /* An actor's own limit says when, as "...; retry after N s". */
        const char *at = strstr(msg, "retry after ");
        char *end;
        long n = at ? strtol(at + 12, &end, 10) : 0;
        char v[CC_DECIMAL_MAX];
        cc_i64_text(v, n > 0 && n < 86400 ? n : 60);
        add_header(req, H2O_TOKEN_RETRY_AFTER, v);
    }
    gw_problem(req, t, code == 500 ? "internal error" : msg, field);
}

/* ---- the request pipeline -------------------------------------------------------- */

typedef struct gw_call {
    h2o_req_t *req; /* NULL once h2o disposed of the request (client gone) */
    gw_state *g;
    const gw_route *route;
    json_t *params;
    bool authed;
    gw_principal who;
    cc_envelope env;
    char ip[64];
    json_t *obj;          /* the request object, built before the rate check for logins */
    gw_limit_result acct; /* a login's account-and-address check, when it passed */
    bool have_acct;
    bool rpc_pending;
} gw_call;


static void call_free(gw_call *c)
{
    json_decref(c->params);
    json_decref(c->obj);
    free(c);
}

/* h2o frees the request's pool when the client goes away, maybe while an
 * RPC is still out: the call lives outside the pool and learns of that
 * through this disposer. */
static void on_req_disposed(void *p)
{
    gw_call *c = *(gw_call **)p;
    /* Disposed before any answer: the client gave up on it (an HTTP/2
     * RST_STREAM, or the connection went). */
    if (c->req && c->req->res.status == 0)
        conn_abandoned(c->req);
    c->req = NULL;
    if (!c->rpc_pending)
        call_free(c);
}

static void call_end(gw_call *c)
{
    c->rpc_pending = false;
    if (!c->req)
        call_free(c);
}

static gw_state *G(h2o_handler_t *h);

/* The client's address (proxy.c): the peer's, or what a trusted proxy
 * forwards. The lines of the configured header are read in order; only
 * the last GW_MAX_HOPS count (proxies write on the right, clients on the
 * left). */
void gw_request_ip(gw_state *g, h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return;
    h2o_iovec_t ring[GW_MAX_HOPS], values[GW_MAX_HOPS];
    size_t seen = 0;
    if (g->proxies.n > 0) {
        bool fwd = g->proxies.header == GW_PROXY_FORWARDED;
        for (ssize_t i = -1;;) {
            i = fwd ? h2o_find_header_by_str(&req->headers, H2O_STRLIT("forwarded"), i)
                    : h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, i);
            if (i < 0)
                break;
            ring[seen++ % GW_MAX_HOPS] = req->headers.entries[i].value;
        }
    }
    size_t n = seen < GW_MAX_HOPS ? seen : GW_MAX_HOPS;
    for (size_t k = 0; k < n; k++)
        values[k] = ring[(seen - n + k) % GW_MAX_HOPS];
    gw_client_addr(&g->proxies, (struct sockaddr *)&ss, values, n, out, cap);
}

bool gw_request_principal(h2o_req_t *req, gw_principal *p, bool from_query)
{
    const char *tok = NULL;
    size_t len = 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (v.len > 7 && h2o_lcstris(v.base, 7, H2O_STRLIT("bearer "))) {
            tok = v.base + 7;
            len = v.len - 7;
        }
    }
    /* Browsers cannot set headers on a WebSocket: the token may come as a
     * subprotocol "cc.bearer.<token>" (kept out of URLs and access logs),
     * or as ?access_token=... */
    ssize_t pi = -1;
    while (!tok && from_query &&
           (pi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-protocol"),
                                        pi)) >= 0) {
        h2o_iovec_t v = req->headers.entries[pi].value;
        const char *k = memmem(v.base, v.len, "cc.bearer.", 10);
        if (k && (k == v.base || k[-1] == ' ' || k[-1] == ',')) {
            tok = k + 10;
            const char *end = v.base + v.len;
            len = 0;
            while (tok + len < end && tok[len] != ',' && tok[len] != ' ')
                len++;
        }
    }
    if (!tok && i < 0 && from_query && req->query_at != SIZE_MAX) {
        const char *q = req->path.base + req->query_at + 1;
        const char *end = req->path.base + req->path.len;
        const char *k = memmem(q, (size_t)(end - q), "access_token=", 13);
        if (k && (k == q || k[-1] == '&')) {
            tok = k + 13;
            const char *amp = memchr(tok, '&', (size_t)(end - tok));
            len = (size_t)((amp ? amp : end) - tok);
        }
    }
    if (!tok) {
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer");
        gw_problem(req, GW_P_UNAUTHENTICATED,
                   "an access token is required (Authorization: Bearer)", NULL);
        return false;
    }
    const char *why;
    cc_status s = gw_auth_verify(tok, len, p, &why);
    if (s != CC_OK) {
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
        gw_problem(req, GW_P_INVALID_TOKEN, why, NULL);
        return false;
    }
    return true;
}

/* A browser session's token pair: the refresh token goes into the
 * HttpOnly cookie and out of the JSON, so no script ever holds it; the
 * access token stays in the answer (the app keeps it in memory only). */
static void send_session(gw_call *c, const ProtobufCMessage *resp)
{
    h2o_req_t *req = c->req;
    json_t *o = gw_json_encode(resp);
    json_t *rt = o ? json_object_get(o, "refreshToken") : NULL;
    if (!json_is_string(rt) || json_string_length(rt) == 0) {
        json_decref(o);
        gw_problem(req, GW_P_INTERNAL, "no refresh token in the answer", NULL);
        return;
    }
    gw_session_set_cookie(req, c->g->cfg, json_string_value(rt), json_string_length(rt));
    json_object_del(o, "refreshToken");
    gw_send_json(req, c->route->ok_status, o);
    json_decref(o);
}

static void on_rpc(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    gw_call *c = ud;
    h2o_req_t *req = c->req;
    if (req) {
        if (s == CC_OK && (c->route->flags & GW_SESSION_SET)) {
            send_session(c, resp);
        } else if (s == CC_OK && (c->route->flags & GW_RAW)) {
            /* A body rendered by the service in a format of its own (the
             * CLICS API's JSON), readable from any origin as that
             * specification asks. */
            const Codecourt__V1__RawResponse *raw = (const void *)resp;
            add_header_by_name(req, "access-control-allow-origin", "*");
            send_body(req, raw->status > 0 ? raw->status : 200,
                      raw->content_type[0] ? raw->content_type : "application/json",
                      (const char *)raw->body.data, raw->body.len);
        } else if (s == CC_OK) {
            if (c->route->flags & GW_SESSION_CLEAR)
                gw_session_set_cookie(req, c->g->cfg, NULL, 0);
            size_t n = 0;
            char *text = c->route->ok_status == 204 ? NULL : gw_json_encode_text(resp, &n);
            if (c->route->ok_status == 204)
                send_body(req, 204, "application/json", "", 0);
            else if (!text)
                gw_problem(req, GW_P_INTERNAL, "out of memory", NULL);
            else
                send_body(req, c->route->ok_status, "application/json", text, n);
            free(text);
        } else if (s == CC_TIMEOUT && errmsg && strcmp(errmsg, CC_RPC_NO_REPLY) == 0) {
            /* No answer at all: the service is down, or the request or its
             * answer was lost with a NATS server that died. Nothing says
             * the request failed: 503, try again (with the same
             * Idempotency-Key where there is one). */
            char why[128];
            snprintf(why, sizeof why, "%s did not answer in time", c->route->service);
            problem_from_status(req, CC_UNAVAILABLE, why);
        } else {
            /* A refresh token that no longer works (used, expired,
             * revoked) is of no use in the browser either. */
            if ((c->route->flags & GW_SESSION_COOKIE) && s == CC_UNAUTHENTICATED)
                gw_session_set_cookie(req, c->g->cfg, NULL, 0);
            problem_from_status(req, s, errmsg ? errmsg : cc_status_str(s));
        }
    }
    call_end(c);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes a query component ('+' is a space) into the pool. */
static h2o_iovec_t unescape(h2o_mem_pool_t *pool, const char *s, size_t n)
{
    char *out = h2o_mem_alloc_pool(pool, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return h2o_iovec_init(out, o);
}

/* Query parameters become fields too (GET has no body): "true"/"false"
 * become booleans, the rest stay strings (the transcoder accepts numbers
 * in strings). */
static bool add_query(h2o_req_t *req, json_t *obj)
{
    if (req->query_at == SIZE_MAX)
        return true;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq && eq > p) {
            h2o_iovec_t k = unescape(&req->pool, p, (size_t)(eq - p));
            h2o_iovec_t v = unescape(&req->pool, eq + 1, (size_t)(e - eq - 1));
            json_t *jv = h2o_memis(v.base, v.len, H2O_STRLIT("true"))    ? json_true()
                         : h2o_memis(v.base, v.len, H2O_STRLIT("false")) ? json_false()
                                                                         : json_stringn(v.base, v.len);
            char key[64];
            if (k.len >= sizeof key) {
                json_decref(jv);
                return false;
            }
            memcpy(key, k.base, k.len);
            key[k.len] = '\0';
            json_object_set_new(obj, key, jv);
        }
        p = e + 1;
    }
    return true;
}

/* The request object: the JSON body, then the query parameters, then the
 * path parameters and server-set fields, which win. NULL when the input is
 * bad, with the problem sent. */
static json_t *request_object(gw_call *c)
{
    h2o_req_t *req = c->req;
    const gw_route *r = c->route;
    json_t *obj;
    if (req->entity.base && req->entity.len > 0) {
        json_error_t je;
        obj = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &je);
        if (!obj) {
            char detail[256];
            snprintf(detail, sizeof detail, "malformed JSON at line %d column %d: %s", je.line,
                     je.column, je.text);
            gw_problem(req, GW_P_MALFORMED_JSON, detail, NULL);
            return NULL;
        }
        if (!json_is_object(obj)) {
            json_decref(obj);
            gw_problem(req, GW_P_INVALID_BODY, "the body must be a JSON object", NULL);
            return NULL;
        }
    } else {
        obj = json_object();
    }
    if (!add_query(req, obj)) {
        json_decref(obj);
        gw_problem(req, GW_P_INVALID_BODY, "query key too long", NULL);
        return NULL;
    }
    /* Path parameters and server-set fields win over the body: a client
     * cannot aim an admin call elsewhere or forge a token id. */
    json_object_update(obj, c->params);
    if (r->flags & GW_INJECT_TOKEN) {
        json_object_set_new(obj, "tokenId", json_string(c->who.jti));
        json_object_set_new(obj, "tokenExp", json_integer(c->who.exp));
    }
    if (r->flags & GW_SESSION_COOKIE) {
        /* Only the cookie names the token (a body's is ignored), and only
         * a call from our own pages may use it. */
        h2o_iovec_t tok;
        if (!gw_same_origin(req)) {
            json_decref(obj);
            gw_problem(req, GW_P_FORBIDDEN, "the session cookie is usable from this site only",
                       NULL);
            return NULL;
        }
        if (!gw_session_cookie(req, &tok)) {
            json_decref(obj);
            gw_problem(req, GW_P_UNAUTHENTICATED, "no session: sign in", NULL);
            return NULL;
        }
        json_object_set_new(obj, "refreshToken", json_stringn(tok.base, tok.len));
    }
    if (r->flags & GW_SESSION_CLEAR) {
        /* Signing out ends the cookie's refresh token family too. */
        h2o_iovec_t tok;
        if (gw_session_cookie(req, &tok))
            json_object_set_new(obj, "refreshToken", json_stringn(tok.base, tok.len));
    }
    if (r->flags & GW_RAW)
        json_object_set_new(obj, "path",
                            json_stringn(req->path_normalized.base, req->path_normalized.len));
    if (r->flags & GW_IDEMPOTENCY) {
        /* Only the header names the key (RFC draft "Idempotency-Key"). */
        ssize_t ki = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1);
        json_object_set_new(obj, "idempotencyKey",
                            ki >= 0 ? json_stringn(req->headers.entries[ki].value.base,
                                                   req->headers.entries[ki].value.len)
                                    : json_string(""));
    }
    return obj;
}

static void dispatch(gw_call *c)
{
    h2o_req_t *req = c->req;
    const gw_route *r = c->route;
    /* A login's object was built before its rate check (it names the
     * account). */
    json_t *obj = c->obj ? c->obj : request_object(c);
    c->obj = NULL;
    if (!obj)
        return;
    cc_arena arena;
    cc_arena_init(&arena);
    ProtobufCMessage *msg = NULL;
    gw_json_error err;
    cc_status s = gw_json_decode_value(r->request, obj, &arena.pb, &msg, &err);
    json_decref(obj);
    if (s != CC_OK) {
        char detail[360];
        snprintf(detail, sizeof detail, "%s%s%s", err.field, err.field[0] ? ": " : "", err.msg);
        gw_problem(req, s == CC_NOMEM ? GW_P_INTERNAL : GW_P_INVALID_BODY, detail, err.field);
        cc_arena_clear(&arena);
        return;
    }
    s = cc_rpc_call_async(cc_actor_bus(c->g->actor), r->service, r->rpc, &c->env, msg,
                          r->response, cc_actor_runtime(c->g->actor)->rpc_timeout_ms, on_rpc, c);
    cc_arena_clear(&arena);
    if (s != CC_OK) {
        problem_from_status(req, CC_UNAVAILABLE, "cannot reach the service");
        return;
    }
    c->rpc_pending = true;
}

/* n in decimal into v (CC_DECIMAL_MAX bytes); returns v. Every answer
 * carries three of these. */
static const char *decimal(char *v, int64_t n)
{
    cc_i64_text(v, n);
    return v;
}

static void on_limit(cc_status s, const gw_limit_result *r, void *ud)
{
    gw_call *c = ud;
    h2o_req_t *req = c->req;
    if (!req) {
        call_end(c);
        return;
    }
    c->rpc_pending = false;
    if (s != CC_OK) {
        /* Authentication never fails open: without Redis, revocation
         * cannot be checked. Anonymous calls follow the configured
         * choice. */
        if (c->authed || c->g->cfg->rate_fail == 1) {
            problem_from_status(req, CC_UNAVAILABLE, "rate limiting and revocation checks are "
                                                     "unavailable");
            return;
        }
        dispatch(c);
        return;
    }
    if (r->revoked) {
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
        gw_problem(req, GW_P_INVALID_TOKEN, "token revoked", NULL);
        return;
    }
    /* A login passed two limits: the headers tell of the tighter. */
    const gw_limit_result *h = r;
    if (r->allowed && c->have_acct && c->acct.remaining < r->remaining)
        h = &c->acct;
    char v[CC_DECIMAL_MAX];
    add_header_by_name(req, "ratelimit-limit", decimal(v, h->limit));
    add_header_by_name(req, "ratelimit-remaining", decimal(v, h->remaining));
    add_header_by_name(req, "ratelimit-reset", decimal(v, (h->reset_ms + 999) / 1000));
    if (!r->allowed) {
        add_header(req, H2O_TOKEN_RETRY_AFTER, decimal(v, (r->retry_after_ms + 999) / 1000));
        gw_problem(req, GW_P_RATE_LIMITED, "rate limit exceeded; retry later",
                   NULL);
        return;
    }
    dispatch(c);
}

/* A login is checked per account and address first, and only when that
 * passes against the address's own allowance: so attempts refused for one
 * account do not use up what others behind the same address (a campus, an
 * office) have to log in with, while one address still cannot try
 * account after account without limit. */
static void on_account_limit(cc_status s, const gw_limit_result *r, void *ud)
{
    gw_call *c = ud;
    if (!c->req || s != CC_OK || !r->allowed) {
        on_limit(s, r, c);
        return;
    }
    c->acct = *r;
    c->have_acct = true;
    if (gw_limit_check(c->g->redis, GW_RATE_AUTH, c->ip, NULL, on_limit, c) != CC_OK)
        on_limit(CC_UNAVAILABLE, NULL, c);
}

/* The account a login names, as its rate key knows it: "<hash>:<ip>", the
 * hash (SHA-256, first 16 bytes in hex) of the username or email in ASCII
 * lowercase, as cc-user matches it, so case variants count as one. Hashed
 * to bound the key's length and keep email addresses out of Redis' key names. */
static bool account_key(gw_call *c, char *out, size_t cap)
{
    json_t *u = json_object_get(c->obj, "username");
    size_t n = json_is_string(u) ? json_string_length(u) : 0;
    const char *name = n ? json_string_value(u) : "";
    unsigned char *low = malloc(n + 1), md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!low)
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = name[i] >= 'A' && name[i] <= 'Z' ? (unsigned char)(name[i] + 32)
                                                  : (unsigned char)name[i];
    bool ok = EVP_Digest(low, n, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen >= 16 &&
              cap >= 34 + strlen(c->ip);
    free(low);
    if (!ok)
        return false;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = ':';
    memcpy(out + 33, c->ip, strlen(c->ip) + 1);
    return true;
}

static size_t header_bytes(h2o_req_t *req)
{
    size_t n = req->path.len + req->method.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

static int on_api(h2o_handler_t *self, h2o_req_t *req)
{
    gw_state *g = G(self);
    if (header_bomb(g, req))
        return 0;
    /* The request id: the client's X-Request-Id when it is usable, else a
     * new one; it becomes the correlation id every actor logs. */
    cc_envelope env;
    cc_envelope_new(&env, NULL);
    ssize_t hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (hi >= 0) {
        h2o_iovec_t v = req->headers.entries[hi].value;
        char buf[65];
        if (v.len > 0 && v.len < sizeof buf) {
            memcpy(buf, v.base, v.len);
            buf[v.len] = '\0';
            if (cc_envelope_set_correlation(&env, buf) != CC_OK)
                cc_envelope_new(&env, NULL);
        }
    }
    hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
    if (hi >= 0 && req->headers.entries[hi].value.len < 56) {
        char buf[56];
        h2o_iovec_t v = req->headers.entries[hi].value;
        memcpy(buf, v.base, v.len);
        buf[v.len] = '\0';
        if (cc_traceparent_valid(buf))
            cc_envelope_set_traceparent(&env, buf);
    }
    gw_request_span(req, &env);
    h2o_iovec_t *rid = h2o_req_getenv(req, H2O_STRLIT("cc-request-id"), 1);
    *rid = h2o_strdup(&req->pool, env.correlation_id, SIZE_MAX);

    if (header_bytes(req) > (size_t)g->cfg->max_header) {
        gw_problem(req, GW_P_HEADERS_TOO_LARGE, NULL, NULL);
        return 0;
    }
    if (g->closed) {
        /* A request that still arrives after the drain (the client did not
         * heed the GOAWAY): the token keys and Redis are let go, so nothing
         * can be checked. During the drain requests are still served. */
        problem_from_status(req, CC_UNAVAILABLE, "the gateway is stopping");
        return 0;
    }
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len;
    if (h2o_memis(path, plen, H2O_STRLIT("/v1/openapi.json"))) {
        size_t n = 0;
        char *doc = gw_openapi(&n);
        if (!doc) {
            gw_problem(req, GW_P_INTERNAL, NULL, NULL);
            return 0;
        }
        send_body(req, 200, "application/json", doc, n);
        free(doc);
        return 0;
    }
    if (h2o_memis(path, plen, H2O_STRLIT("/v1/live")))
        return gw_live_handle(g, req);
    /* /api/contests/<id>/event-feed streams: not a row of the table. */
    static const char feed_prefix[] = "/api/contests/", feed_suffix[] = "/event-feed";
    size_t fp = sizeof feed_prefix - 1, fs = sizeof feed_suffix - 1;
    if (plen > fp + fs && !memcmp(path, feed_prefix, fp) &&
        !memcmp(path + plen - fs, feed_suffix, fs) &&
        !memchr(path + fp, '/', plen - fp - fs))
        return gw_feed_handle(g, req, path + fp, plen - fp - fs, &env);

    /* Outside /v1 is the browser app, when there is one. */
    if (!(plen >= 4 && memcmp(path, "/v1/", 4) == 0) && !h2o_memis(path, plen, H2O_STRLIT("/v1")) &&
        gw_web_handle(g, req))
        return 0;

    json_t *params = NULL;
    bool known = false;
    const gw_route *r = gw_route_match(req->method.base, req->method.len, path, plen, &params,
                                       &known);
    if (!r) {
        if (known)
            gw_problem(req, GW_P_METHOD_NOT_ALLOWED, NULL, NULL);
        else
            gw_problem(req, GW_P_NO_ROUTE, NULL, NULL);
        return 0;
    }
    if (req->entity.len > (size_t)g->cfg->max_body) {
        json_decref(params);
        gw_problem(req, GW_P_BODY_TOO_LARGE, NULL, NULL);
        return 0;
    }
    gw_call *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(params);
        gw_problem(req, GW_P_INTERNAL, "out of memory", NULL);
        return 0;
    }
    c->req = req;
    c->g = g;
    c->route = r;
    c->params = params;
    c->env = env;
    cc_envelope_set_type(&c->env, r->request->name);
    /* An optional token is still checked when present: a bad one is a
     * 401, never a silent downgrade to anonymous. */
    bool want_auth = (r->flags & GW_AUTH) ||
                     ((r->flags & GW_AUTH_OPT) &&
                      h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) >= 0);
    if (want_auth) {
        if (!gw_request_principal(req, &c->who, false)) {
            json_decref(params);
            free(c);
            return 0;
        }
        c->authed = true;
        /* "user_id:role"; each part fits its field, so the whole fits. */
        char principal[sizeof c->who.user_id + sizeof c->who.role];
        size_t lu = strnlen(c->who.user_id, sizeof c->who.user_id - 1);
        memcpy(principal, c->who.user_id, lu);
        principal[lu] = ':';
        size_t lr = strnlen(c->who.role, sizeof c->who.role - 1);
        memcpy(principal + lu + 1, c->who.role, lr);
        principal[lu + 1 + lr] = '\0';
        cc_envelope_set_principal(&c->env, principal);
    }
    /* A login's rate key names its account, so its object is built first:
     * a malformed one is answered (400) without counting, and reaches no
     * service either. */
    char acct[KEY_TEXT_MAX];
    if (r->flags & GW_LOGIN_ACCOUNT) {
        c->obj = request_object(c);
        if (!c->obj) {
            call_free(c);
            return 0;
        }
    }
    gw_call **slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, on_req_disposed);
    *slot = c;
    int cls = (r->flags & GW_RATE_LOGIN) ? GW_RATE_AUTH : c->authed ? GW_RATE_USER : GW_RATE_ANON;
    if (!c->authed)
        gw_request_ip(g, req, c->ip, sizeof c->ip); /* anonymous calls are limited per IP */
    c->rpc_pending = true; /* the Redis step holds the call like an RPC */
    cc_status s;
    if (!g->redis)
        s = CC_UNAVAILABLE;
    else if (!(r->flags & GW_LOGIN_ACCOUNT))
        s = gw_limit_check(g->redis, cls, c->authed ? c->who.user_id : c->ip,
                           c->authed ? &c->who : NULL, on_limit, c);
    else if (account_key(c, acct, sizeof acct))
        s = gw_limit_check(g->redis, GW_RATE_ACCOUNT, acct, NULL, on_account_limit, c);
    else
        s = CC_NOMEM;
    if (s != CC_OK)
        on_limit(CC_UNAVAILABLE, NULL, c);
    return 0;
}

/* ---- ops paths on the public port --------------------------------------------- */

static int on_ops(h2o_handler_t *self, h2o_req_t *req)
{
    gw_state *g = G(self);
    if (header_bomb(g, req))
        return 0;
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len;
    if (h2o_memis(path, plen, H2O_STRLIT("/healthz"))) {
        send_body(req, 200, "text/plain", "ok\n", 3);
    } else if (h2o_memis(path, plen, H2O_STRLIT("/readyz"))) {
        bool bus = cc_bus_connected(cc_actor_bus(g->actor));
        bool redis = g->redis && cc_redis_connected(g->redis);
        if (bus && redis && !g->stopping)
            send_body(req, 200, "text/plain", "ready\n", 6);
        else
            send_body(req, 503, "text/plain", "not ready\n", 10);
    } else if (h2o_memis(path, plen, H2O_STRLIT("/metrics"))) {
        size_t n = 0;
        char *text = cc_metrics_render(&n);
        if (!text) {
            send_body(req, 500, "text/plain", "no memory\n", 10);
            return 0;
        }
        send_body(req, 200, "text/plain; version=0.0.4", text, n);
        free(text);
    } else {
        gw_problem(req, GW_P_NO_ROUTE, NULL, NULL);
    }
    return 0;
}

typedef struct {
    h2o_handler_t super;
    gw_state *g;
} gw_handler;

static gw_state *G(h2o_handler_t *h)
{
    return ((gw_handler *)h)->g;
}

static void add_handler(gw_state *g, h2o_hostconf_t *host, const char *path,
                        int (*fn)(h2o_handler_t *, h2o_req_t *))
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    gw_handler *h = (gw_handler *)h2o_create_handler(pc, sizeof *h);
    h->super.on_req = fn;
    h->g = g;
}

/* ---- TLS ------------------------------------------------------------------------ */

/* A self-signed certificate for localhost and 127.0.0.1, made in memory
 * at start, so local runs get HTTPS and h2 via ALPN with no setup. */
static cc_status self_signed(SSL_CTX *ctx)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    cc_status s = CC_INTERNAL;
    if (k && x) {
        ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(cc_now_ns() & 0x7fffffff));
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
        X509_set_pubkey(x, k);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                                   -1, 0);
        X509_set_issuer_name(x, n);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                                  "DNS:localhost,IP:127.0.0.1");
        if (ext) {
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        if (X509_sign(x, k, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, x) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, k) == 1)
            s = CC_OK;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    return s == CC_OK ? s : cc_err_set(s, "cannot make a self-signed certificate");
}

static cc_status tls_init(gw_state *g)
{
    g->ssl = SSL_CTX_new(TLS_server_method());
    if (!g->ssl)
        return cc_err_set(CC_INTERNAL, "SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(g->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(g->ssl, SSL_OP_NO_COMPRESSION);
    if (g->cfg->tls_cert[0]) {
        if (SSL_CTX_use_certificate_chain_file(g->ssl, g->cfg->tls_cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(g->ssl, g->cfg->tls_key, SSL_FILETYPE_PEM) != 1)
            return cc_err_set(CC_INVALID, "tls-cert/tls-key: cannot load '%s' / '%s'",
                              g->cfg->tls_cert, g->cfg->tls_key);
    } else {
        cc_status s = self_signed(g->ssl);
        if (s != CC_OK)
            return s;
    }
    h2o_ssl_register_alpn_protocols(g->ssl, h2o_http2_alpn_protocols);
    return CC_OK;
}

/* ---- listeners --------------------------------------------------------------------- */

/* ---- connections ------------------------------------------------------------------ */

struct gw_conn {
    uv_tcp_t tcp;          /* first: h2o's close callback frees the struct through it */
    gw_state *g;
    h2o_socket_t *sock;    /* NULL once h2o disposed of it */
    gw_conn *prev, *next;
    uint32_t abandoned;    /* requests given up before their answer, this second */
    size_t answered;       /* bytes of answers given to h2o for this connection */
    size_t written;        /* sock->bytes_written when last seen moving */
    uint64_t stalled_since; /* loop ms since output waits with none taken; 0: not */
    bool cut;
};

static gw_state *conns_g;

void gw_count_closed(const char *reason)
{
    static const char *const reasons[] = {"too-many-connections", "rapid-reset", "write-stall",
                                          "unread-answers", "header-bomb", "live-backlog"};
    static cc_counter *counters[sizeof reasons / sizeof reasons[0]];
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (strcmp(reasons[i], reason) != 0)
            continue;
        if (!counters[i]) {
            char labels[64];
            snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
            counters[i] = cc_metrics_counter("cc_gateway_connections_closed_total",
                                             "Client connections the gateway closed for crossing "
                                             "a limit, by limit",
                                             labels);
        }
        cc_counter_inc(counters[i]);
    }
}

static cc_gauge *conns_gauge(void)
{
    static cc_gauge *g;
    if (!g)
        g = cc_metrics_gauge("cc_gateway_connections", "Open client connections", NULL);
    return g;
}

/* Ends the connection under h2o: with both directions shut down, its next
 * read sees the end and its next write fails, and h2o closes it as it
 * closes any connection the peer dropped. */
static void conn_cut(gw_conn *c, const char *reason)
{
    if (c->cut || !c->sock)
        return;
    c->cut = true;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        shutdown(fd, SHUT_RDWR);
    gw_count_closed(reason);
    char peer[64] = "";
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        uv_ip4_name((struct sockaddr_in *)&ss, peer, sizeof peer);
    cc_log(CC_LOG_WARN, NULL, "connection cut", "{s:s, s:s}", "reason", reason, "peer", peer);
}

static void on_sock_close(void *data)
{
    gw_conn *c = data;
    c->sock = NULL;
}

static void on_conn_freed(uv_handle_t *h)
{
    gw_conn *c = (gw_conn *)h;
    gw_state *g = c->g;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    g->nconns--;
    cc_gauge_set(conns_gauge(), g->nconns);
    free(c);
}

static gw_conn *conn_of(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn)
                                                           : NULL;
    return sock && sock->on_close.cb == on_sock_close ? sock->on_close.data : NULL;
}

/* An HTTP/2 client may open a stream and cancel it at once, as often as it
 * likes (rapid reset): the request's work (token, Redis, an RPC) is done
 * for nothing while no stream stays open to count against max-streams.
 * More than max-resets such requests in one second end the connection. */
static void conn_abandoned(h2o_req_t *req)
{
    gw_conn *c = conn_of(req);
    if (c && ++c->abandoned > (uint32_t)c->g->cfg->max_resets)
        conn_cut(c, "rapid-reset");
}

/* Answers wait in h2o until the client's flow-control window takes them:
 * one that opens streams with a window of 0 (or simply never reads) makes
 * the gateway hold every answer. Past max-unsent bytes given to h2o and
 * not yet written to the socket, the connection is cut. */
static void conn_answered(h2o_req_t *req, size_t len)
{
    gw_conn *c = conn_of(req);
    if (!c || !c->sock)
        return;
    c->answered += len;
    if (c->answered > c->sock->bytes_written + (size_t)c->g->cfg->max_unsent)
        conn_cut(c, "unread-answers");
}

/* h2o 2.2.5 bounds an HTTP/2 request's header block as sent, not as
 * decoded: a 4 KiB header put in the HPACK table once and then named by
 * its one-byte index 16000 times makes a 64 MiB header list out of a
 * 16 KiB frame (and a header vector of 16000 entries). HTTP/1.1 requests
 * have at most 100 headers (h2o's own limit); an HTTP/2 request with more,
 * or whose decoded headers exceed 4 x max-header, ends its connection. */
static bool header_bomb(gw_state *g, h2o_req_t *req)
{
    gw_conn *c = conn_of(req);
    if (c && c->cut) {
        /* h2o still hands over what it had read when the connection was
         * cut: nothing more is worked on for it. */
        send_body(req, 503, "text/plain", "closing\n", 8);
        return true;
    }
    if (req->headers.size <= 100 && header_bytes(req) <= 4 * (size_t)g->cfg->max_header)
        return false;
    if (c)
        conn_cut(c, "header-bomb");
    gw_problem(req, GW_P_HEADERS_TOO_LARGE, "too many or too large headers", NULL);
    return true;
}

/* Once a second: the counts of abandoned requests start again, and a
 * connection whose answers wait in the kernel with none taken (it keeps
 * sending, or just sits) for write-stall is cut: h2o 2.2.5 keeps reading
 * and answering a client that reads nothing (each PING and SETTINGS is
 * answered), and buffers the answers without a bound. */
static void on_sweep(uv_timer_t *t)
{
    gw_state *g = t->data;
    uint64_t now = uv_now(g->loop);
    for (gw_conn *c = g->conns; c; c = c->next) {
        c->abandoned = 0;
        if (!c->sock || c->cut)
            continue;
        uv_os_fd_t fd;
        int outq = 0;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0)
            continue;
        bool waiting = outq > 0 || c->answered > c->sock->bytes_written;
        if (!waiting || c->sock->bytes_written != c->written) {
            c->written = c->sock->bytes_written;
            c->stalled_since = 0;
        } else if (!c->stalled_since) {
            c->stalled_since = now;
        } else if (now - c->stalled_since >= (uint64_t)g->cfg->write_stall_ms) {
            conn_cut(c, "write-stall");
        }
    }
}

static void on_accept(uv_stream_t *listener, int status)
{
    h2o_accept_ctx_t *actx = listener->data;
    gw_state *g = conns_g;
    if (status != 0)
        return;
    gw_conn *c = h2o_mem_alloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->g = g;
    uv_tcp_init(listener->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    /* Over max-conns a new connection is closed at once: its file and
     * memory are what the limit bounds. */
    if (g->nconns >= g->cfg->max_conns) {
        gw_count_closed("too-many-connections");
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    g->nconns++;
    cc_gauge_set(conns_gauge(), g->nconns);
    uv_tcp_nodelay(&c->tcp, 1);
    c->sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_freed);
    c->sock->on_close.cb = on_sock_close;
    c->sock->on_close.data = c;
    h2o_accept(actx, c->sock);
}

/* Thousands of connections need thousands of files: the soft limit is
 * raised to the hard one (often 1024 against 1048576), capped at what
 * max-conns needs plus room for everything else. */
static void raise_nofile(int64_t max_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_conns + 1024;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static cc_status listen_on(gw_state *g, uv_tcp_t *l, h2o_accept_ctx_t *actx, int port,
                           int *bound_port)
{
    struct sockaddr_in addr;
    if (uv_ip4_addr(g->cfg->http_host, port, &addr) != 0)
        return cc_err_set(CC_INVALID, "http-host '%s': not an IPv4 address", g->cfg->http_host);
    uv_tcp_init(g->loop, l);
    l->data = actx;
    g->open_handles++;
    int r;
    if (g->cfg->reuse_port) {
        /* libuv 1.44 cannot set SO_REUSEPORT (UV_TCP_REUSEPORT came in
         * 1.49), so the socket is made here and handed over. */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0)
            return cc_err_set(CC_SYS, "socket: %s", strerror(errno));
        r = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 &&
                    bind(fd, (const struct sockaddr *)&addr, sizeof addr) == 0
                ? 0
                : -errno;
        if (r == 0)
            r = uv_tcp_open(l, fd);
        if (r != 0)
            close(fd);
    } else {
        r = uv_tcp_bind(l, (const struct sockaddr *)&addr, 0);
    }
    if (r == 0)
        r = uv_listen((uv_stream_t *)l, 1024, on_accept);
    if (r != 0)
        return cc_err_set(CC_SYS, "listen on %s:%d: %s", g->cfg->http_host, port, uv_strerror(r));
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(l, (struct sockaddr *)&ss, &len);
    *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return CC_OK;
}

cc_status gw_server_start(gw_state *g)
{
    const gw_settings *cfg = g->cfg;
    h2o_config_init(&g->config);
    /* h2o's own limit sits a little above ours: a body just over
     * max-body gets our 413 problem, a huge one is cut by h2o before it
     * is buffered. */
    g->config.max_request_entity_size = (size_t)cfg->max_body + 65536;
    g->config.http1.req_timeout = (uint64_t)cfg->req_timeout_ms;
    g->config.http2.idle_timeout = (uint64_t)cfg->idle_timeout_ms;
    g->config.http2.max_concurrent_requests_per_connection = (size_t)cfg->max_streams;
    h2o_hostconf_t *hc =
        h2o_config_register_host(&g->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    add_handler(g, hc, "/healthz", on_ops);
    add_handler(g, hc, "/readyz", on_ops);
    add_handler(g, hc, "/metrics", on_ops);
    cc_status s = gw_web_register(g, hc);
    if (s != CC_OK)
        return s;
    add_handler(g, hc, "/", on_api);
    h2o_context_init(&g->ctx, g->loop, &g->config);
    conns_g = g;
    raise_nofile(cfg->max_conns);
    uv_timer_init(g->loop, &g->sweep);
    g->sweep.data = g;
    uv_timer_start(&g->sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&g->sweep);
    g->sweep_on = true;
    g->accept_plain.ctx = &g->ctx;
    g->accept_plain.hosts = g->config.hosts;
    s = listen_on(g, &g->listen_plain, &g->accept_plain, (int)cfg->http_port,
                            &g->http_port);
    if (s == CC_OK && cfg->https_port >= 0) {
        s = tls_init(g);
        g->accept_tls.ctx = &g->ctx;
        g->accept_tls.hosts = g->config.hosts;
        g->accept_tls.ssl_ctx = g->ssl;
        g->has_tls = true;
        IFOK(s, listen_on(g, &g->listen_tls, &g->accept_tls, (int)cfg->https_port,
                          &g->https_port));
    }
    return s;
}

void gw_server_stop(gw_state *g)
{
    if (g->stopping)
        return;
    g->stopping = true;
    gw_live_close_all();
    gw_feed_close_all();
    if (g->sweep_on) {
        uv_close((uv_handle_t *)&g->sweep, NULL);
        g->sweep_on = false;
    }
    /* HTTP/2 connections get a GOAWAY (streams already open finish, no
     * new ones) and HTTP/1.1 ones close after their current answer; what
     * is still open is cut when the process exits. The drain already
     * waited for RPCs in flight. */
    if (g->ctx.globalconf) /* the context was made (start got that far) */
        h2o_context_request_shutdown(&g->ctx);
    if (!uv_is_closing((uv_handle_t *)&g->listen_plain))
        uv_close((uv_handle_t *)&g->listen_plain, NULL);
    if (g->has_tls && !uv_is_closing((uv_handle_t *)&g->listen_tls))
        uv_close((uv_handle_t *)&g->listen_tls, NULL);
}
