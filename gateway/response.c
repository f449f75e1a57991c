/* How the gateway answers: every response with a body it writes goes out
 * through gw_send_body, which sets the headers every answer carries, counts
 * the status on /metrics and tells the connection accounting (conn.c) how
 * many bytes now wait for the client; problems (RFC 9457) have one table of
 * types, and a service's status maps to one of them here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/metrics.h"
#include "cc/text.h"
#include "gw.h"

#define PROBLEM_BASE "https://codecourt.dev/problems/"

void gw_add_header(h2o_req_t *req, const h2o_token_t *t, const char *v)
{
    h2o_add_header(&req->pool, &req->res.headers, t, NULL, h2o_strdup(&req->pool, v, SIZE_MAX).base,
                   strlen(v));
}

void gw_add_header_by_name(h2o_req_t *req, const char *name, const char *v)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL,
                          h2o_strdup(&req->pool, v, SIZE_MAX).base, strlen(v));
}

static const char *request_id(h2o_req_t *req)
{
    h2o_iovec_t *v = h2o_req_getenv(req, H2O_STRLIT("cc-request-id"), 0);
    return v ? v->base : "";
}

void gw_send_body(h2o_req_t *req, int status, const char *ctype, const char *body,
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
    gw_add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype);
    gw_add_header(req, H2O_TOKEN_CACHE_CONTROL, "no-store");
    gw_security_headers(req);
    const char *rid = request_id(req);
    if (rid[0])
        gw_add_header_by_name(req, "x-request-id", rid);
    char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(copy, body, len);
    h2o_send_inline(req, copy, len);
    gw_conn_answered(req, len);
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
        gw_send_body(req, 500, "application/problem+json", "{}", 2);
        return;
    }
    gw_send_body(req, status, "application/json", s, strlen(s));
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
    gw_send_body(req, status, "application/problem+json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
}

/* Maps a status from an actor to a problem type. */
void gw_problem_from_status(h2o_req_t *req, cc_status s, const char *msg)
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
        gw_add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer");
    if (code == 503)
        gw_add_header(req, H2O_TOKEN_RETRY_AFTER, "1"); /* temporary: a database or actor is away */
    if (code == 429) {
        /* An actor's own limit says when, as "...; retry after N s". */
        const char *at = strstr(msg, "retry after ");
        char *end;
        long n = at ? strtol(at + 12, &end, 10) : 0;
        char v[CC_DECIMAL_MAX];
        cc_i64_text(v, n > 0 && n < 86400 ? n : 60);
        gw_add_header(req, H2O_TOKEN_RETRY_AFTER, v);
    }
    gw_problem(req, t, code == 500 ? "internal error" : msg, field);
}
