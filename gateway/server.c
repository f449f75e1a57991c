/* The front door: h2o on the actor's libuv loop. One port speaks
 * cleartext HTTP/1.1 and HTTP/2 with prior knowledge; another speaks TLS
 * with ALPN h2 / http/1.1. Every /v1 request goes through one pipeline,
 * written below in the order it runs:
 *
 *   on_api             the request arrives
 *   refuse_connection  its connection was cut, or its headers are a bomb
 *   read_request_id    X-Request-Id and traceparent into the envelope
 *   refuse_request     headers too large, or the gateway is stopping
 *   serve_other_path   /v1/openapi.json, /v1/live, the CLICS event feed,
 *                      the browser app: not rows of the route table
 *   call_new           route, body size, the call that outlives h2o's pool
 *   call_authenticate  the token, when the route wants or allows one
 *   call_login_object  a login's object, built before its rate check
 *   call_check_limits  Redis: revocation and rate limit, one script
 *   on_account_limit / on_limit   what Redis said
 *   dispatch           JSON to protobuf, the RPC over NATS
 *   on_rpc             the answer: protobuf to JSON, or a problem
 *
 * Answers go out through response.c; connections are tracked in conn.c. */
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
#include <sys/socket.h>
#include <unistd.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/text.h"
#include "codecourt/v1/contest.pb-c.h"
#include "gw.h"
#include "gw/json.h"

/* An account's rate key text: 32 hex digits, ':', an address. */
#define KEY_TEXT_MAX 112

/* One /v1 request on its way through the pipeline. */
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

static gw_state *G(h2o_handler_t *h);
static bool refuse_connection(gw_state *g, h2o_req_t *req);
static void read_request_id(h2o_req_t *req, cc_envelope *env);
static bool refuse_request(gw_state *g, h2o_req_t *req);
static bool serve_other_path(gw_state *g, h2o_req_t *req, const cc_envelope *env, int *ret);
static gw_call *call_new(gw_state *g, h2o_req_t *req, const cc_envelope *env);
static bool call_authenticate(gw_call *c);
static bool call_login_object(gw_call *c);
static void call_check_limits(gw_call *c);
static bool account_key(gw_call *c, char *out, size_t cap);
static void on_account_limit(cc_status s, const gw_limit_result *r, void *ud);
static void on_limit(cc_status s, const gw_limit_result *r, void *ud);
static void add_rate_headers(gw_call *c, const gw_limit_result *r);
static const char *decimal(char *v, int64_t n);
static void dispatch(gw_call *c);
static json_t *request_object(gw_call *c);
static json_t *body_object(h2o_req_t *req);
static bool add_query(h2o_req_t *req, json_t *obj);
static h2o_iovec_t unescape(h2o_mem_pool_t *pool, const char *s, size_t n);
static int hexval(char c);
static bool add_server_fields(gw_call *c, json_t *obj);
static void on_rpc(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud);
static void reply_ok(gw_call *c, const ProtobufCMessage *resp);
static void send_session(gw_call *c, const ProtobufCMessage *resp);
static void send_raw(h2o_req_t *req, const ProtobufCMessage *resp);
static void reply_error(gw_call *c, cc_status s, const char *errmsg);
static void on_req_disposed(void *p);
static void call_end(gw_call *c);
static void call_free(gw_call *c);

/* ---- the request pipeline -------------------------------------------------------- */

static int on_api(h2o_handler_t *self, h2o_req_t *req)
{
    gw_state *g = G(self);
    if (refuse_connection(g, req))
        return 0;
    cc_envelope env;
    read_request_id(req, &env);
    if (refuse_request(g, req))
        return 0;
    int ret;
    if (serve_other_path(g, req, &env, &ret))
        return ret;
    gw_call *c = call_new(g, req, &env);
    if (!c)
        return 0;
    if (!call_authenticate(c) || !call_login_object(c)) {
        call_free(c);
        return 0;
    }
    call_check_limits(c);
    return 0;
}

/* Nothing more is worked on for a connection that was cut (h2o still
 * hands over what it had read by then), and a request whose headers are a
 * bomb cuts its connection (conn.c). */
static bool refuse_connection(gw_state *g, h2o_req_t *req)
{
    switch (gw_conn_admit(g, req)) {
    case GW_CONN_CUT:
        gw_send_body(req, 503, "text/plain", "closing\n", 8);
        return true;
    case GW_CONN_HEADER_BOMB:
        gw_problem(req, GW_P_HEADERS_TOO_LARGE, "too many or too large headers", NULL);
        return true;
    default:
        return false;
    }
}

/* The request id: the client's X-Request-Id when it is usable, else a new
 * one; it becomes the correlation id every actor logs, and every answer
 * echoes it (response.c reads it back from the request's env). A valid
 * traceparent is carried on. */
static void read_request_id(h2o_req_t *req, cc_envelope *env)
{
    cc_envelope_new(env, NULL);
    ssize_t hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (hi >= 0) {
        h2o_iovec_t v = req->headers.entries[hi].value;
        char buf[65];
        if (v.len > 0 && v.len < sizeof buf) {
            memcpy(buf, v.base, v.len);
            buf[v.len] = '\0';
            if (cc_envelope_set_correlation(env, buf) != CC_OK)
                cc_envelope_new(env, NULL);
        }
    }
    hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
    if (hi >= 0 && req->headers.entries[hi].value.len < 56) {
        char buf[56];
        h2o_iovec_t v = req->headers.entries[hi].value;
        memcpy(buf, v.base, v.len);
        buf[v.len] = '\0';
        if (cc_traceparent_valid(buf))
            cc_envelope_set_traceparent(env, buf);
    }
    gw_request_span(req, env);
    h2o_iovec_t *rid = h2o_req_getenv(req, H2O_STRLIT("cc-request-id"), 1);
    *rid = h2o_strdup(&req->pool, env->correlation_id, SIZE_MAX);
}

static bool refuse_request(gw_state *g, h2o_req_t *req)
{
    if (gw_header_bytes(req) > (size_t)g->cfg->max_header) {
        gw_problem(req, GW_P_HEADERS_TOO_LARGE, NULL, NULL);
        return true;
    }
    if (g->closed) {
        /* A request that still arrives after the drain (the client did not
         * heed the GOAWAY): the token keys and Redis are let go, so nothing
         * can be checked. During the drain requests are still served. */
        gw_problem_from_status(req, CC_UNAVAILABLE, "the gateway is stopping");
        return true;
    }
    return false;
}

static void serve_openapi(h2o_req_t *req)
{
    size_t n = 0;
    char *doc = gw_openapi(&n);
    if (!doc) {
        gw_problem(req, GW_P_INTERNAL, NULL, NULL);
        return;
    }
    gw_send_body(req, 200, "application/json", doc, n);
    free(doc);
}

/* Whether path is /api/contests/<id>/event-feed, with the id's place in
 * *id and its length in *idlen. */
static bool feed_path(const char *path, size_t plen, const char **id, size_t *idlen)
{
    static const char prefix[] = "/api/contests/", suffix[] = "/event-feed";
    size_t fp = sizeof prefix - 1, fs = sizeof suffix - 1;
    if (plen <= fp + fs || memcmp(path, prefix, fp) != 0 ||
        memcmp(path + plen - fs, suffix, fs) != 0 || memchr(path + fp, '/', plen - fp - fs))
        return false;
    *id = path + fp;
    *idlen = plen - fp - fs;
    return true;
}

/* The paths that are not rows of the route table: true when req was one
 * of them, with h2o's return value in *ret. Outside /v1 is the browser
 * app, when there is one. */
static bool serve_other_path(gw_state *g, h2o_req_t *req, const cc_envelope *env, int *ret)
{
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len, idlen;
    const char *id;
    *ret = 0;
    if (h2o_memis(path, plen, H2O_STRLIT("/v1/openapi.json"))) {
        serve_openapi(req);
        return true;
    }
    if (h2o_memis(path, plen, H2O_STRLIT("/v1/live"))) {
        *ret = gw_live_handle(g, req);
        return true;
    }
    if (feed_path(path, plen, &id, &idlen)) {
        *ret = gw_feed_handle(g, req, id, idlen, env);
        return true;
    }
    bool api = (plen >= 4 && memcmp(path, "/v1/", 4) == 0) ||
               h2o_memis(path, plen, H2O_STRLIT("/v1"));
    return !api && gw_web_handle(g, req);
}

/* The route and the call that carries the request through the pipeline
 * (it lives outside the request's pool: see on_req_disposed). NULL with
 * the problem sent. */
static gw_call *call_new(gw_state *g, h2o_req_t *req, const cc_envelope *env)
{
    json_t *params = NULL;
    bool known = false;
    const gw_route *r = gw_route_match(req->method.base, req->method.len,
                                       req->path_normalized.base, req->path_normalized.len,
                                       &params, &known);
    if (!r) {
        gw_problem(req, known ? GW_P_METHOD_NOT_ALLOWED : GW_P_NO_ROUTE, NULL, NULL);
        return NULL;
    }
    if (req->entity.len > (size_t)g->cfg->max_body) {
        json_decref(params);
        gw_problem(req, GW_P_BODY_TOO_LARGE, NULL, NULL);
        return NULL;
    }
    gw_call *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(params);
        gw_problem(req, GW_P_INTERNAL, "out of memory", NULL);
        return NULL;
    }
    c->req = req;
    c->g = g;
    c->route = r;
    c->params = params;
    c->env = *env;
    cc_envelope_set_type(&c->env, r->request->name);
    return c;
}

/* A route that needs a token, or allows one that was sent: an optional
 * token is still checked when present, a bad one is a 401, never a silent
 * downgrade to anonymous. The verified caller becomes the envelope's
 * principal, "user_id:role". False with the problem sent. */
static bool call_authenticate(gw_call *c)
{
    h2o_req_t *req = c->req;
    unsigned flags = c->route->flags;
    bool want = (flags & GW_AUTH) ||
                ((flags & GW_AUTH_OPT) &&
                 h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1) >= 0);
    if (!want)
        return true;
    if (!gw_request_principal(req, &c->who, false))
        return false;
    c->authed = true;
    /* Each part fits its field, so the whole fits. */
    char principal[sizeof c->who.user_id + sizeof c->who.role];
    size_t lu = strnlen(c->who.user_id, sizeof c->who.user_id - 1);
    memcpy(principal, c->who.user_id, lu);
    principal[lu] = ':';
    size_t lr = strnlen(c->who.role, sizeof c->who.role - 1);
    memcpy(principal + lu + 1, c->who.role, lr);
    principal[lu + 1 + lr] = '\0';
    cc_envelope_set_principal(&c->env, principal);
    return true;
}

/* A login's rate key names its account, so its object is built first: a
 * malformed one is answered (400) without counting, and reaches no
 * service either. False with the problem sent. */
static bool call_login_object(gw_call *c)
{
    if (!(c->route->flags & GW_LOGIN_ACCOUNT))
        return true;
    c->obj = request_object(c);
    return c->obj != NULL;
}

/* From here on h2o may drop the request while the call waits (on Redis,
 * then on the RPC): the request's pool holds a slot that tells the call.
 * Anonymous calls are limited per address, signed-in ones per user, and a
 * login per account and address first (on_account_limit). */
static void call_check_limits(gw_call *c)
{
    gw_state *g = c->g;
    unsigned flags = c->route->flags;
    gw_call **slot = h2o_mem_alloc_shared(&c->req->pool, sizeof *slot, on_req_disposed);
    *slot = c;
    int cls = (flags & GW_RATE_LOGIN) ? GW_RATE_AUTH : c->authed ? GW_RATE_USER : GW_RATE_ANON;
    if (!c->authed)
        gw_request_ip(g, c->req, c->ip, sizeof c->ip);
    c->rpc_pending = true; /* the Redis step holds the call like an RPC */
    char acct[KEY_TEXT_MAX];
    cc_status s;
    if (!g->redis)
        s = CC_UNAVAILABLE;
    else if (!(flags & GW_LOGIN_ACCOUNT))
        s = gw_limit_check(g->redis, cls, c->authed ? c->who.user_id : c->ip,
                           c->authed ? &c->who : NULL, on_limit, c);
    else if (account_key(c, acct, sizeof acct))
        s = gw_limit_check(g->redis, GW_RATE_ACCOUNT, acct, NULL, on_account_limit, c);
    else
        s = CC_NOMEM;
    if (s != CC_OK)
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

/* Redis answered (or could not): revoked, refused, or on to the service. */
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
            gw_problem_from_status(req, CC_UNAVAILABLE,
                                   "rate limiting and revocation checks are unavailable");
            return;
        }
        dispatch(c);
        return;
    }
    if (r->revoked) {
        gw_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
        gw_problem(req, GW_P_INVALID_TOKEN, "token revoked", NULL);
        return;
    }
    add_rate_headers(c, r);
    if (!r->allowed) {
        char v[CC_DECIMAL_MAX];
        gw_add_header(req, H2O_TOKEN_RETRY_AFTER, decimal(v, (r->retry_after_ms + 999) / 1000));
        gw_problem(req, GW_P_RATE_LIMITED, "rate limit exceeded; retry later", NULL);
        return;
    }
    dispatch(c);
}

/* n in decimal into v (CC_DECIMAL_MAX bytes); returns v. Every answer
 * carries three of these. */
static const char *decimal(char *v, int64_t n)
{
    cc_i64_text(v, n);
    return v;
}

/* The RateLimit-* headers of every answer that passed Redis: of the
 * tighter limit when a login passed two. */
static void add_rate_headers(gw_call *c, const gw_limit_result *r)
{
    const gw_limit_result *h = r;
    if (r->allowed && c->have_acct && c->acct.remaining < r->remaining)
        h = &c->acct;
    char v[CC_DECIMAL_MAX];
    gw_add_header_by_name(c->req, "ratelimit-limit", decimal(v, h->limit));
    gw_add_header_by_name(c->req, "ratelimit-remaining", decimal(v, h->remaining));
    gw_add_header_by_name(c->req, "ratelimit-reset", decimal(v, (h->reset_ms + 999) / 1000));
}

/* The request object decoded into the route's message (from the
 * descriptors) and sent to the service; on_rpc gets the answer. */
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
        gw_problem_from_status(req, CC_UNAVAILABLE, "cannot reach the service");
        return;
    }
    c->rpc_pending = true;
}

/* The request object: the JSON body, then the query parameters, then the
 * path parameters and server-set fields, which win. NULL when the input is
 * bad, with the problem sent. */
static json_t *request_object(gw_call *c)
{
    json_t *obj = body_object(c->req);
    if (!obj)
        return NULL;
    if (!add_query(c->req, obj)) {
        json_decref(obj);
        gw_problem(c->req, GW_P_INVALID_BODY, "query key too long", NULL);
        return NULL;
    }
    if (!add_server_fields(c, obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* The body as a JSON object ({} when there is none); NULL with the
 * problem sent. */
static json_t *body_object(h2o_req_t *req)
{
    if (!req->entity.base || req->entity.len == 0)
        return json_object();
    json_error_t je;
    json_t *obj = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &je);
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
    return obj;
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

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Path parameters and server-set fields win over the body: a client
 * cannot aim an admin call elsewhere or forge a token id. False with the
 * problem sent. */
static bool add_server_fields(gw_call *c, json_t *obj)
{
    h2o_req_t *req = c->req;
    unsigned flags = c->route->flags;
    json_object_update(obj, c->params);
    if (flags & GW_INJECT_TOKEN) {
        json_object_set_new(obj, "tokenId", json_string(c->who.jti));
        json_object_set_new(obj, "tokenExp", json_integer(c->who.exp));
    }
    h2o_iovec_t tok;
    if (flags & GW_SESSION_COOKIE) {
        /* Only the cookie names the token (a body's is ignored), and only
         * a call from our own pages may use it. */
        if (!gw_same_origin(req)) {
            gw_problem(req, GW_P_FORBIDDEN, "the session cookie is usable from this site only",
                       NULL);
            return false;
        }
        if (!gw_session_cookie(req, &tok)) {
            gw_problem(req, GW_P_UNAUTHENTICATED, "no session: sign in", NULL);
            return false;
        }
        json_object_set_new(obj, "refreshToken", json_stringn(tok.base, tok.len));
    }
    /* Signing out ends the cookie's refresh token family too. */
    if ((flags & GW_SESSION_CLEAR) && gw_session_cookie(req, &tok))
        json_object_set_new(obj, "refreshToken", json_stringn(tok.base, tok.len));
    if (flags & GW_RAW)
        json_object_set_new(obj, "path",
                            json_stringn(req->path_normalized.base, req->path_normalized.len));
    if (flags & GW_IDEMPOTENCY) {
        /* Only the header names the key (RFC draft "Idempotency-Key"). */
        ssize_t ki = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1);
        json_object_set_new(obj, "idempotencyKey",
                            ki >= 0 ? json_stringn(req->headers.entries[ki].value.base,
                                                   req->headers.entries[ki].value.len)
                                    : json_string(""));
    }
    return true;
}

/* The service answered, or the call failed: the answer, or a problem. */
static void on_rpc(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    gw_call *c = ud;
    if (c->req && s == CC_OK)
        reply_ok(c, resp);
    else if (c->req)
        reply_error(c, s, errmsg);
    call_end(c);
}

static void reply_ok(gw_call *c, const ProtobufCMessage *resp)
{
    h2o_req_t *req = c->req;
    unsigned flags = c->route->flags;
    if (flags & GW_SESSION_SET) {
        send_session(c, resp);
        return;
    }
    if (flags & GW_RAW) {
        send_raw(req, resp);
        return;
    }
    if (flags & GW_SESSION_CLEAR)
        gw_session_set_cookie(req, c->g->cfg, NULL, 0);
    if (c->route->ok_status == 204) {
        gw_send_body(req, 204, "application/json", "", 0);
        return;
    }
    size_t n = 0;
    char *text = gw_json_encode_text(resp, &n);
    if (!text)
        gw_problem(req, GW_P_INTERNAL, "out of memory", NULL);
    else
        gw_send_body(req, c->route->ok_status, "application/json", text, n);
    free(text);
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

/* A body rendered by the service in a format of its own (the CLICS API's
 * JSON), readable from any origin as that specification asks. */
static void send_raw(h2o_req_t *req, const ProtobufCMessage *resp)
{
    const Codecourt__V1__RawResponse *raw = (const void *)resp;
    gw_add_header_by_name(req, "access-control-allow-origin", "*");
    gw_send_body(req, raw->status > 0 ? raw->status : 200,
                 raw->content_type[0] ? raw->content_type : "application/json",
                 (const char *)raw->body.data, raw->body.len);
}

static void reply_error(gw_call *c, cc_status s, const char *errmsg)
{
    h2o_req_t *req = c->req;
    if (s == CC_TIMEOUT && errmsg && strcmp(errmsg, CC_RPC_NO_REPLY) == 0) {
        /* No answer at all: the service is down, or the request or its
         * answer was lost with a NATS server that died. Nothing says the
         * request failed: 503, try again (with the same Idempotency-Key
         * where there is one). */
        char why[128];
        snprintf(why, sizeof why, "%s did not answer in time", c->route->service);
        gw_problem_from_status(req, CC_UNAVAILABLE, why);
        return;
    }
    /* A refresh token that no longer works (used, expired, revoked) is of
     * no use in the browser either. */
    if ((c->route->flags & GW_SESSION_COOKIE) && s == CC_UNAUTHENTICATED)
        gw_session_set_cookie(req, c->g->cfg, NULL, 0);
    gw_problem_from_status(req, s, errmsg ? errmsg : cc_status_str(s));
}

/* ---- the call's lifetime ---------------------------------------------------------- */

/* h2o frees the request's pool when the client goes away, maybe while an
 * RPC is still out: the call lives outside the pool and learns of that
 * through this disposer. */
static void on_req_disposed(void *p)
{
    gw_call *c = *(gw_call **)p;
    /* Disposed before any answer: the client gave up on it (an HTTP/2
     * RST_STREAM, or the connection went). */
    if (c->req && c->req->res.status == 0)
        gw_conn_abandoned(c->req);
    c->req = NULL;
    if (!c->rpc_pending)
        call_free(c);
}

/* The wait (Redis or the RPC) is over: the call goes when h2o already
 * let go of the request, else with it. */
static void call_end(gw_call *c)
{
    c->rpc_pending = false;
    if (!c->req)
        call_free(c);
}

static void call_free(gw_call *c)
{
    json_decref(c->params);
    json_decref(c->obj);
    free(c);
}

/* ---- ops paths on the public port --------------------------------------------- */

static int on_ops(h2o_handler_t *self, h2o_req_t *req)
{
    gw_state *g = G(self);
    if (refuse_connection(g, req))
        return 0;
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len;
    if (h2o_memis(path, plen, H2O_STRLIT("/healthz"))) {
        gw_send_body(req, 200, "text/plain", "ok\n", 3);
    } else if (h2o_memis(path, plen, H2O_STRLIT("/readyz"))) {
        bool bus = cc_bus_connected(cc_actor_bus(g->actor));
        bool redis = g->redis && cc_redis_connected(g->redis);
        if (bus && redis && !g->stopping)
            gw_send_body(req, 200, "text/plain", "ready\n", 6);
        else
            gw_send_body(req, 503, "text/plain", "not ready\n", 10);
    } else if (h2o_memis(path, plen, H2O_STRLIT("/metrics"))) {
        size_t n = 0;
        char *text = cc_metrics_render(&n);
        if (!text) {
            gw_send_body(req, 500, "text/plain", "no memory\n", 10);
            return 0;
        }
        gw_send_body(req, 200, "text/plain; version=0.0.4", text, n);
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
        r = uv_listen((uv_stream_t *)l, 1024, gw_conn_accept);
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
    gw_conns_start(g);
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
    gw_conns_stop(g);
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

