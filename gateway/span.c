/* The request's tracing span and duration: one OpenTelemetry SERVER span
 * per HTTP request (when tracing is on) and one observation of
 * cc_gateway_request_duration_seconds (always), both from on_api to the
 * moment h2o frees the request. The span is named after its route
 * ("GET /v1/submissions/{id}") rather than its path. */
#include <string.h>

#include "cc/metrics.h"
#include "cc/trace.h"
#include "gw.h"

typedef struct req_timing {
    h2o_req_t *req;
    uint64_t start_ns;
    bool streams;  /* a WebSocket or an event feed: not a request's latency */
    bool has_span; /* span below is allocated */
    cc_span span;
} req_timing;

static cc_histogram *duration;

/* The request's pool is freed when the response is done (or the stream
 * reset): that is the end, with the status h2o sent. */
static void end_request(void *p)
{
    req_timing *t = p;
    if (!t->streams)
        cc_histogram_observe(duration, (double)(cc_now_ns() - t->start_ns) / 1e9);
    if (!t->has_span)
        return;
    int status = t->req->res.status;
    cc_span_attr_int(&t->span, "http.response.status_code", status);
    if (status >= 500 || status == 0)
        cc_span_fail(&t->span, status ? "server error" : "no response");
    cc_span_end(&t->span);
}

static bool is_stream(const char *path, size_t plen)
{
    static const char feed[] = "/event-feed";
    return h2o_memis(path, plen, H2O_STRLIT("/v1/live")) ||
           (plen > sizeof feed - 1 && !memcmp(path + plen - (sizeof feed - 1), feed, sizeof feed - 1));
}

static void name_span(h2o_req_t *req, cc_span *s)
{
    const char *path = req->path_normalized.base;
    size_t plen = req->path_normalized.len;
    bool known = false;
    json_t *params = NULL;
    const gw_route *r =
        gw_route_match(req->method.base, req->method.len, path, plen, &params, &known);
    json_decref(params);
    snprintf(s->name, sizeof s->name, "%.*s %s", (int)req->method.len, req->method.base,
             r ? r->pattern : "(no route)");
    char method[16];
    snprintf(method, sizeof method, "%.*s", (int)req->method.len, req->method.base);
    cc_span_attr(s, "http.request.method", method);
    if (r)
        cc_span_attr(s, "http.route", r->pattern);
}

void gw_request_span(h2o_req_t *req, cc_envelope *env)
{
    if (!duration)
        duration = cc_metrics_histogram("cc_gateway_request_duration_seconds",
                                        "Time from a request's arrival to its response's end "
                                        "(WebSockets and event feeds left out)",
                                        NULL, NULL, 0);
    bool tracing = cc_trace_enabled();
    /* Without tracing the span's room is not allocated. */
    size_t size = tracing ? sizeof(req_timing) : offsetof(req_timing, span);
    req_timing *t = h2o_mem_alloc_shared(&req->pool, size, end_request);
    t->req = req;
    t->start_ns = cc_now_ns();
    t->streams = is_stream(req->path_normalized.base, req->path_normalized.len);
    t->has_span = false;
    if (!tracing)
        return; /* env keeps the ids cc_envelope_new made */
    /* Only a traceparent the client sent is a parent; the one
     * cc_envelope_new made is not a span anybody records. */
    char parent[56] = "";
    ssize_t hi = h2o_find_header_by_str(&req->headers, H2O_STRLIT("traceparent"), -1);
    if (hi >= 0 && req->headers.entries[hi].value.len == 55) {
        memcpy(parent, req->headers.entries[hi].value.base, 55);
        parent[55] = '\0';
    }
    char saved[56];
    cc_trace_push(NULL, saved); /* an HTTP request starts its own trace */
    cc_span_start(&t->span, "HTTP", CC_SPAN_SERVER, parent[0] ? parent : NULL);
    cc_trace_pop(saved);
    t->has_span = true;
    cc_span_traceparent(&t->span, env->traceparent);
    if (t->span.recording)
        name_span(req, &t->span);
}
