/* The tracer (cc/trace.h): spans into a bounded queue, and one exporter
 * thread that POSTs them to the collector as OTLP/HTTP JSON.
 *
 * The exporter uses libcurl, which the runtime's dependencies already
 * include (cc-notify sends email with it): one easy handle, kept alive
 * between batches, with short timeouts, on the exporter's own thread, so
 * nothing about the collector ever reaches a loop. */
#include "cc/trace.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/buf.h"
#include "cc/log.h"
#include "cc/metrics.h"

enum {
    QUEUE_CAP = 4096,   /* spans waiting for the exporter; past it they are dropped */
    BATCH_MAX = 512,    /* spans in one POST */
    FLUSH_MS = 200,     /* the longest a span waits in the queue */
    POST_TIMEOUT_MS = 2000,
    CONNECT_TIMEOUT_MS = 500,
};

static struct {
    bool on;
    double sample;
    char service[64];
    char url[512];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake, drained;
    cc_span *queue; /* ring of QUEUE_CAP */
    size_t head, len;
    bool stopping, busy;
    cc_counter *exported, *dropped_full, *dropped_failed;
} tr = {.mu = PTHREAD_MUTEX_INITIALIZER,
        .wake = PTHREAD_COND_INITIALIZER,
        .drained = PTHREAD_COND_INITIALIZER,
        .sample = 1.0};

bool cc_trace_enabled(void)
{
    return tr.on;
}

uint64_t cc_trace_exported(void)
{
    return cc_counter_value(tr.exported);
}

uint64_t cc_trace_dropped(void)
{
    return cc_counter_value(tr.dropped_full) + cc_counter_value(tr.dropped_failed);
}

/* ---- spans ------------------------------------------------------------------ */


static uint64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The root's decision, from the trace id's first 8 hex digits (random),
 * so no second random number is drawn. */
static bool sample_root(const char *trace_id)
{
    if (tr.sample >= 1.0)
        return true;
    if (tr.sample <= 0.0)
        return false;
    char hex[9];
    memcpy(hex, trace_id, 8);
    hex[8] = '\0';
    return (double)strtoul(hex, NULL, 16) / 4294967296.0 < tr.sample;
}

void cc_span_start(cc_span *s, const char *name, cc_span_kind kind, const char *parent)
{
    s->kind = (uint8_t)kind;
    s->nattrs = 0;
    s->error = false;
    s->status_msg[0] = '\0';
    copy_cut(s->name, sizeof s->name, name);
    cc_random_hex(s->span_id, 16);
    if (!parent || !*parent)
        parent = cc_trace_current();
    if (parent && cc_traceparent_valid(parent)) {
        memcpy(s->trace_id, parent + 3, 32);
        s->trace_id[32] = '\0';
        memcpy(s->parent_id, parent + 36, 16);
        s->parent_id[16] = '\0';
        /* The sampled flag is bit 0 of the flags' low hex digit. */
        char lo = parent[54];
        int v = lo >= 'a' ? lo - 'a' + 10 : lo - '0';
        s->sampled = (v & 1) != 0;
    } else {
        cc_random_hex(s->trace_id, 32);
        s->parent_id[0] = '\0';
        s->sampled = sample_root(s->trace_id);
    }
    s->recording = tr.on && s->sampled;
    s->start_unix_ns = s->recording ? unix_ns() : 0;
}

void cc_span_traceparent(const cc_span *s, char out[56])
{
    memcpy(out, "00-", 3);
    memcpy(out + 3, s->trace_id, 32);
    out[35] = '-';
    memcpy(out + 36, s->span_id, 16);
    memcpy(out + 52, s->sampled ? "-01" : "-00", 4);
}

void cc_span_enter(cc_span *s, const char *name, cc_span_kind kind, cc_envelope *env)
{
    cc_span_start(s, name, kind, env->traceparent);
    cc_span_traceparent(s, env->traceparent);
}

void cc_span_attr(cc_span *s, const char *key, const char *value)
{
    if (!s->recording || s->nattrs >= CC_SPAN_MAX_ATTRS)
        return;
    copy_cut(s->attrs[s->nattrs].key, sizeof s->attrs[0].key, key);
    copy_cut(s->attrs[s->nattrs].value, sizeof s->attrs[0].value, value);
    s->nattrs++;
}

void cc_span_attr_int(cc_span *s, const char *key, int64_t value)
{
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)value);
    cc_span_attr(s, key, v);
}

void cc_span_fail(cc_span *s, const char *msg)
{
    s->error = true;
    if (s->recording)
        copy_cut(s->status_msg, sizeof s->status_msg, msg);
}

void cc_span_end(cc_span *s)
{
    if (!s->recording)
        return;
    s->recording = false; /* ended once, even if called again */
    uint64_t end = unix_ns();
    pthread_mutex_lock(&tr.mu);
    if (tr.len == QUEUE_CAP || tr.stopping) {
        pthread_mutex_unlock(&tr.mu);
        cc_counter_inc(tr.dropped_full);
        return;
    }
    s->end_unix_ns = end;
    tr.queue[(tr.head + tr.len) % QUEUE_CAP] = *s;
    tr.len++;
    bool full_batch = tr.len >= BATCH_MAX;
    pthread_mutex_unlock(&tr.mu);
    if (full_batch)
        pthread_cond_signal(&tr.wake);
}

/* ---- the current span of a thread --------------------------------------------- */

static _Thread_local char current[56];

const char *cc_trace_current(void)
{
    return current[0] ? current : NULL;
}

void cc_trace_push(const char *tp, char saved[56])
{
    memcpy(saved, current, 56);
    if (tp && *tp)
        memcpy(current, tp, 56);
    else
        current[0] = '\0';
}

void cc_trace_pop(const char saved[56])
{
    memcpy(current, saved, 56);
}

/* ---- the exporter thread ------------------------------------------------------- */

/* JSON is written straight into one buffer per batch: a jansson tree per
 * span cost more CPU than the request it described (bench-gateway). */
static void put_str(cc_buf *b, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    cc_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            cc_buf_put(b, e, 2);
        } else if (*p < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            cc_buf_put(b, e, 6);
        } else {
            cc_buf_put(b, p, 1);
        }
    }
    cc_buf_put(b, "\"", 1);
}

static void put_kv(cc_buf *b, const char *key, const char *value)
{
    cc_buf_puts(b, "{\"key\":");
    put_str(b, key);
    cc_buf_puts(b, ",\"value\":{\"stringValue\":");
    put_str(b, value);
    cc_buf_puts(b, "}}");
}

/* OTLP JSON: ids in hex (not base64), times as decimal strings. */
static void put_span(cc_buf *b, const cc_span *s)
{
    cc_buf_printf(b,
                  "{\"traceId\":\"%s\",\"spanId\":\"%s\",%s%s%s\"kind\":%d,"
                  "\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\",\"name\":",
                  s->trace_id, s->span_id, s->parent_id[0] ? "\"parentSpanId\":\"" : "",
                  s->parent_id, s->parent_id[0] ? "\"," : "", (int)s->kind,
                  (unsigned long long)s->start_unix_ns, (unsigned long long)s->end_unix_ns);
    put_str(b, s->name);
    cc_buf_puts(b, ",\"attributes\":[");
    for (int i = 0; i < s->nattrs; i++) {
        if (i)
            cc_buf_put(b, ",", 1);
        put_kv(b, s->attrs[i].key, s->attrs[i].value);
    }
    cc_buf_put(b, "]", 1);
    /* STATUS_CODE_ERROR = 2; an unset status is a success. */
    if (s->error) {
        cc_buf_puts(b, ",\"status\":{\"code\":2,\"message\":");
        put_str(b, s->status_msg);
        cc_buf_put(b, "}", 1);
    }
    cc_buf_put(b, "}", 1);
}

static char *batch_json(const cc_span *spans, size_t n)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_puts(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    put_kv(&b, "service.name", tr.service);
    cc_buf_puts(&b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"codecourt\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            cc_buf_put(&b, ",", 1);
        put_span(&b, &spans[i]);
    }
    cc_buf_puts(&b, "]}]}]}");
    size_t len;
    return cc_buf_take(&b, &len);
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

static bool post(CURL *h, const char *body)
{
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return rc == CURLE_OK && code >= 200 && code < 300;
}

static CURL *new_handle(struct curl_slist *headers)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, tr.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    return h;
}

static void *exporter(void *arg)
{
    (void)arg;
    cc_span *batch = malloc(BATCH_MAX * sizeof *batch);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = new_handle(headers);
    pthread_mutex_lock(&tr.mu);
    for (;;) {
        if (tr.len < BATCH_MAX && !tr.stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += FLUSH_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&tr.wake, &tr.mu, &until);
        }
        size_t n = tr.len < BATCH_MAX ? tr.len : BATCH_MAX;
        if (n == 0) {
            pthread_cond_broadcast(&tr.drained);
            if (tr.stopping)
                break;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            batch[i] = tr.queue[(tr.head + i) % QUEUE_CAP];
        tr.head = (tr.head + n) % QUEUE_CAP;
        tr.len -= n;
        tr.busy = true;
        pthread_mutex_unlock(&tr.mu);
        char *body = batch ? batch_json(batch, n) : NULL;
        bool ok = body && h && post(h, body);
        free(body);
        cc_counter_add(ok ? tr.exported : tr.dropped_failed, n);
        pthread_mutex_lock(&tr.mu);
        tr.busy = false;
    }
    pthread_mutex_unlock(&tr.mu);
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(batch);
    return NULL;
}

/* ---- settings ------------------------------------------------------------------- */

cc_status cc_trace_init(const char *service)
{
    const char *endpoint = getenv("CC_OTLP_ENDPOINT");
    const char *sample = getenv("CC_TRACE_SAMPLE");
    if (sample && *sample) {
        char *end;
        errno = 0;
        double v = strtod(sample, &end);
        if (errno || *end || end == sample || !(v >= 0.0 && v <= 1.0))
            return cc_err_set(CC_INVALID, "CC_TRACE_SAMPLE: '%s' is not a number within 0..1",
                              sample);
        tr.sample = v;
    }
    copy_cut(tr.service, sizeof tr.service, service);
    tr.exported = cc_metrics_counter("cc_trace_spans_exported_total",
                                     "Spans the collector accepted", NULL);
    tr.dropped_full = cc_metrics_counter("cc_trace_spans_dropped_total",
                                         "Spans not exported", "reason=\"queue_full\"");
    tr.dropped_failed = cc_metrics_counter("cc_trace_spans_dropped_total", "Spans not exported",
                                           "reason=\"export_failed\"");
    if (!endpoint || !*endpoint)
        return CC_OK;
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
        return cc_err_set(CC_INVALID, "CC_OTLP_ENDPOINT: '%s' is not an http(s):// URL", endpoint);
    size_t n = strlen(endpoint);
    while (n && endpoint[n - 1] == '/')
        n--;
    if (n + sizeof "/v1/traces" > sizeof tr.url)
        return cc_err_set(CC_INVALID, "CC_OTLP_ENDPOINT: longer than %zu bytes", sizeof tr.url - 11);
    memcpy(tr.url, endpoint, n);
    memcpy(tr.url + n, "/v1/traces", sizeof "/v1/traces");
    tr.queue = malloc(QUEUE_CAP * sizeof *tr.queue);
    if (!tr.queue)
        return CC_NOMEM;
    /* Before any other thread uses curl (not thread-safe itself). */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&tr.thread, NULL, exporter, NULL) != 0) {
        free(tr.queue);
        tr.queue = NULL;
        return cc_err_set(CC_INTERNAL, "cannot start the span exporter thread");
    }
    tr.on = true;
    cc_log(CC_LOG_INFO, NULL, "tracing on", "{s:s, s:f}", "endpoint", tr.url, "sample",
           tr.sample);
    return CC_OK;
}

void cc_trace_shutdown(int timeout_ms)
{
    if (!tr.on)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&tr.mu);
    pthread_cond_signal(&tr.wake);
    while ((tr.len || tr.busy) &&
           pthread_cond_timedwait(&tr.drained, &tr.mu, &until) != ETIMEDOUT)
        pthread_cond_signal(&tr.wake);
    /* What is still queued after the wait is dropped and counted. */
    cc_counter_add(tr.dropped_full, tr.len);
    tr.len = 0;
    tr.stopping = true;
    tr.on = false;
    pthread_cond_signal(&tr.wake);
    pthread_mutex_unlock(&tr.mu);
    pthread_join(tr.thread, NULL);
    free(tr.queue);
    tr.queue = NULL;
}
