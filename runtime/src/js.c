/* JetStream on the loop. See cc/js.h for why pulling is done here. */
#include "cc/js.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cc/base64.h"
#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/trace.h"
#include "cc/text.h"

/* ---- management (blocking, thread pool) ---------------------------------- */

static cc_status js_err(natsStatus ns, jsErrCode jerr, const char *what, const char *name)
{
    const char *last = nats_GetLastError(NULL);
    return cc_err_set(CC_NATS, "%s %s: %s (jetstream error %d%s%s)", what, name,
                      natsStatus_GetText(ns), (int)jerr, last ? ": " : "", last ? last : "");
}

cc_status cc_js_ensure_stream(natsConnection *nc, const cc_js_stream_config *cfg)
{
    jsCtx *js = NULL;
    natsStatus ns = natsConnection_JetStream(&js, nc, NULL);
    if (ns != NATS_OK)
        return js_err(ns, 0, "jetstream context for", cfg->name);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[1] = {cfg->subjects};
    sc.Name = cfg->name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = cfg->work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
    sc.Storage = cfg->memory ? js_MemoryStorage : js_FileStorage;
    sc.Duplicates = (cfg->duplicate_window_ms ? cfg->duplicate_window_ms : 120000) * 1000000LL;
    sc.MaxAge = cfg->max_age_ms * 1000000LL;
    sc.Replicas = cfg->replicas > 0 ? cfg->replicas : 1;
    sc.MaxMsgsPerSubject = cfg->max_msgs_per_subject > 0 ? cfg->max_msgs_per_subject : -1;
    if (cfg->kv) {
        sc.AllowRollup = true;
        sc.DenyDelete = true;
        sc.AllowDirect = true;
        sc.Discard = js_DiscardNew;
    }
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    ns = js_AddStream(&si, js, &sc, NULL, &jerr);
    if (ns != NATS_OK && jerr == JSStreamNameExistErr) {
        /* Another process declared it first, perhaps with an older
         * configuration: bring it to ours. */
        jerr = 0;
        ns = js_UpdateStream(&si, js, &sc, NULL, &jerr);
    }
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    return ns == NATS_OK ? CC_OK : js_err(ns, jerr, "declare stream", cfg->name);
}

/* The shared streams; cc/mesh.h says which service declares each. */
static const cc_js_stream_config shared_streams[] = {
    {.name = CC_STREAM_EVENTS, .subjects = CC_STREAM_EVENTS_SUBJECTS},
    {.name = CC_STREAM_JUDGE, .subjects = CC_STREAM_JUDGE_SUBJECTS, .work_queue = true},
    {.name = CC_STREAM_JUDGE_DEAD, .subjects = CC_STREAM_JUDGE_DEAD_SUBJECTS, .work_queue = true},
    /* The judges' registry: the last value of each key, a day at most
     * (a judge gone for a day drops out of the list). */
    {.name = CC_STREAM_JUDGES_KV,
     .subjects = CC_KV_JUDGES_SUBJECTS,
     .max_msgs_per_subject = 1,
     .max_age_ms = 24 * 3600 * 1000LL,
     .kv = true},
};

int cc_js_replicas_auto(natsConnection *nc)
{
    char **servers = NULL;
    int n = 0;
    if (natsConnection_GetServers(nc, &servers, &n) != NATS_OK)
        return 1;
    for (int i = 0; i < n; i++)
        free(servers[i]);
    free(servers);
    return n >= 3 ? 3 : 1;
}

static cc_status ensure_shared(natsConnection *nc, const cc_js_stream_config *shared, int replicas)
{
    cc_js_stream_config cfg = *shared;
    cfg.replicas = replicas > 0 ? replicas : cc_js_replicas_auto(nc);
    return cc_js_ensure_stream(nc, &cfg);
}

cc_status cc_js_ensure_defaults(natsConnection *nc)
{
    cc_status s = CC_OK;
    for (size_t i = 0; i < sizeof shared_streams / sizeof shared_streams[0]; i++)
        IFOK(s, ensure_shared(nc, &shared_streams[i], 0));
    return s;
}

cc_status cc_js_ensure_declared(natsConnection *nc, const char *service, int replicas)
{
    const cc_mesh_service *row = cc_mesh_find(service);
    if (!row)
        return cc_js_ensure_defaults(nc);
    cc_status s = CC_OK;
    for (const char *const *d = row->declares; d && *d && s == CC_OK; d++) {
        const cc_js_stream_config *cfg = NULL;
        for (size_t i = 0; i < sizeof shared_streams / sizeof shared_streams[0]; i++)
            if (strcmp(shared_streams[i].name, *d) == 0)
                cfg = &shared_streams[i];
        s = cfg ? ensure_shared(nc, cfg, replicas)
                : cc_err_set(CC_INVALID, "%s declares stream %s, which has no configuration",
                             service, *d);
    }
    return s;
}

cc_status cc_js_ensure_consumer(natsConnection *nc, const cc_js_consumer_config *cfg)
{
    jsCtx *js = NULL;
    natsStatus ns = natsConnection_JetStream(&js, nc, NULL);
    if (ns != NATS_OK)
        return js_err(ns, 0, "jetstream context for", cfg->durable);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = cfg->durable;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = (cfg->ack_wait_ms ? cfg->ack_wait_ms : 30000) * 1000000LL;
    cc.MaxDeliver = cfg->max_deliver ? cfg->max_deliver : 5;
    cc.FilterSubject = cfg->filter;
    cc.MaxAckPending = 10000;
    cc.MaxWaiting = 512;
    jsErrCode jerr = 0;
    jsConsumerInfo *ci = NULL;
    ns = js_AddConsumer(&ci, js, cfg->stream, &cc, NULL, &jerr);
    /* A service may consume a stream another declares (and its NATS user
     * may not create it): wait for it, as when the services start
     * together. On a cluster a stream just made (or whose leader just
     * died) has no leader for a while: the request times out or JetStream
     * says it is unavailable; wait for that too. */
    uint64_t give_up = cc_now_ns() + 30000000000ull; /* 30 s of wall time */
    while (ns != NATS_OK &&
           (jerr == JSStreamNotFoundErr || jerr == JSClusterNotAvailErr ||
            (ns == NATS_TIMEOUT && jerr == 0)) &&
           cc_now_ns() < give_up) {
        uv_sleep(250);
        jerr = 0;
        ns = js_AddConsumer(&ci, js, cfg->stream, &cc, NULL, &jerr);
    }
    if (ns != NATS_OK && (jerr == JSConsumerNameExistErr || jerr == JSConsumerExistingActiveErr)) {
        jerr = 0;
        ns = js_UpdateConsumer(&ci, js, cfg->stream, &cc, NULL, &jerr);
    }
    jsConsumerInfo_Destroy(ci);
    jsCtx_Destroy(js);
    return ns == NATS_OK ? CC_OK : js_err(ns, jerr, "declare consumer", cfg->durable);
}

/* ---- the JetStream API on the loop ---------------------------------------- */

json_t *cc_js_api_reply(cc_status s, natsMsg *reply)
{
    json_t *o = NULL;
    if (s == CC_OK && reply)
        o = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
    /* At once rather than batched (cc_bus_msg_release): replies are few,
     * and this may run while the bus closes. */
    natsMsg_Destroy(reply);
    return o;
}

/* Decodes the base64 member key of o into a malloc'd buffer. */
static bool b64_member(json_t *o, const char *key, uint8_t **out, size_t *len)
{
    const char *v = json_string_value(json_object_get(o, key));
    *out = NULL;
    *len = 0;
    if (!v)
        return false;
    size_t n = strlen(v);
    *out = malloc(n ? n : 1);
    if (*out && cc_b64_decode(v, n, CC_B64_STD, *out, n ? n : 1, len))
        return true;
    free(*out);
    *out = NULL;
    return false;
}

/* The value of header name in a NATS header block ("NATS/1.0\r\nK: V\r\n"). */
static void header_value(const uint8_t *h, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = (const char *)h, *end = p + len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)((eol ? eol : end) - p);
        if (ll > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + ll - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, cap, "%.*s", (int)(vl < cap ? vl : cap - 1), v);
            return;
        }
        p = eol ? eol + 1 : end;
    }
}

bool cc_js_stored_from(json_t *reply, cc_js_stored *out)
{
    memset(out, 0, sizeof *out);
    json_t *m = json_object_get(reply, "message");
    if (!json_is_object(m))
        return false;
    out->subject = json_string_value(json_object_get(m, "subject"));
    if (!json_object_get(m, "data")) {
        out->data = malloc(1); /* an empty body */
    } else if (!b64_member(m, "data", &out->data, &out->len)) {
        return false;
    }
    uint8_t *h = NULL;
    size_t hl = 0;
    if (b64_member(m, "hdrs", &h, &hl))
        header_value(h, hl, CC_HDR_MSG_ID, out->msg_id, sizeof out->msg_id);
    free(h);
    return out->data != NULL;
}

void cc_js_stored_clear(cc_js_stored *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* ---- publish --------------------------------------------------------------- */

typedef struct pub {
    cc_bus *b;
    char *subject;
    char *msg_id;
    cc_envelope env;
    bool has_env;
    char *type;
    void *data;
    size_t len;
    int attempt;
    int max_attempts;
    int64_t timeout_ms;
    int64_t backoff_ms;
    uv_timer_t retry;
    cc_js_publish_cb cb;
    void *ud;
    char last_err[256];
    cc_status last_status;
    uint64_t start_ns;
    cc_span span;    /* the producer span, from publish to the stream's ack */
    char parent[56]; /* the publisher's traceparent, current again in cb */
} pub;

static cc_histogram *pub_latency;
/* When attempts started failing (cc_now_ns), 0 while the last was acked. */
static uint64_t failing_since_ns;

int64_t cc_js_unavailable_ms(void)
{
    return failing_since_ns ? (int64_t)((cc_now_ns() - failing_since_ns) / 1000000) : 0;
}

static void attempt_failed(void)
{
    if (!failing_since_ns)
        failing_since_ns = cc_now_ns();
}
static cc_counter *pub_retries, *pub_failed, *pub_ok, *pub_dups;

static void pub_metrics_init(void)
{
    if (pub_latency)
        return;
    pub_latency = cc_metrics_histogram("cc_js_publish_duration_seconds",
                                       "Time from publish to the stream's ack", NULL, NULL, 0);
    pub_retries = cc_metrics_counter("cc_js_publish_retries_total", "Publish attempts retried",
                                     NULL);
    pub_failed = cc_metrics_counter("cc_js_publish_failed_total",
                                    "Publishes given up after every retry", NULL);
    pub_ok = cc_metrics_counter("cc_js_publish_acked_total", "Publishes stored by a stream", NULL);
    pub_dups = cc_metrics_counter("cc_js_publish_duplicates_total",
                                  "Publishes the stream already had (same Nats-Msg-Id)", NULL);
}

static void pub_free_handle(uv_handle_t *h)
{
    pub *p = h->data;
    free(p->subject);
    free(p->msg_id);
    free(p->type);
    free(p->data);
    free(p);
}

static void pub_done(pub *p, cc_status s, const cc_js_pub_ack *ack)
{
    cc_histogram_observe(pub_latency, (double)(cc_now_ns() - p->start_ns) / 1e9);
    if (s == CC_OK) {
        cc_counter_inc(pub_ok);
        if (ack->duplicate)
            cc_counter_inc(pub_dups);
    } else {
        cc_counter_inc(pub_failed);
        cc_log(CC_LOG_ERROR, p->has_env ? &p->env : NULL, "jetstream publish failed",
               "{s:s, s:s, s:i, s:s}", "subject", p->subject, "msg_id", p->msg_id, "attempts",
               p->attempt, "error", p->last_err);
    }
    if (s != CC_OK)
        cc_span_fail(&p->span, p->last_err);
    cc_span_end(&p->span);
    cc_bus_work_end(p->b);
    char saved[56];
    cc_trace_push(p->parent, saved);
    if (p->cb)
        p->cb(s, s == CC_OK ? NULL : p->last_err, ack, p->ud);
    cc_trace_pop(saved);
    uv_close((uv_handle_t *)&p->retry, pub_free_handle);
}

static void pub_attempt(pub *p);

static void pub_retry_timer(uv_timer_t *t)
{
    pub_attempt(t->data);
}

static void pub_retry_or_fail(pub *p)
{
    if (p->attempt >= p->max_attempts) {
        pub_done(p, p->last_status, NULL);
        return;
    }
    cc_counter_inc(pub_retries);
    int64_t delay = p->backoff_ms << (p->attempt - 1 < 6 ? p->attempt - 1 : 6);
    if (delay > 2000)
        delay = 2000;
    uv_timer_start(&p->retry, pub_retry_timer, (uint64_t)delay, 0);
}

/* Reads the success form of a PubAck, {"stream":"S","seq":N} with an
 * optional "domain" and "duplicate":true, without building a JSON tree:
 * one ack per published message made jansson's allocations a visible cost.
 * Anything else (an error, an unexpected shape) returns false and goes to
 * jansson. */
static bool parse_pub_ack(const char *b, size_t n, cc_js_pub_ack *ack)
{
    if (n < 2 || n > 1024 || b[0] != '{' || memchr(b, '\\', n))
        return false;
    /* Copy without the blanks outside strings: the server writes
     * "duplicate": true with a space. */
    char buf[1025];
    size_t j = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '"')
            in_str = !in_str;
        if (!in_str && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
            continue;
        buf[j++] = b[i];
    }
    buf[j] = '\0';
    if (strstr(buf, "\"error\""))
        return false;
    const char *st = strstr(buf, "\"stream\":\"");
    const char *sq = strstr(buf, "\"seq\":");
    if (!st || !sq)
        return false;
    st += 10;
    const char *end = strchr(st, '"');
    if (!end || (size_t)(end - st) >= sizeof ack->stream)
        return false;
    memcpy(ack->stream, st, (size_t)(end - st));
    ack->stream[end - st] = '\0';
    char *after = NULL;
    errno = 0;
    unsigned long long seq = strtoull(sq + 6, &after, 10);
    if (errno || after == sq + 6)
        return false;
    ack->seq = seq;
    ack->duplicate = strstr(buf, "\"duplicate\":true") != NULL;
    return true;
}

static void on_pub_ack(cc_bus *b, cc_status s, natsMsg *reply, void *ud)
{
    pub *p = ud;
    if (s == CC_CLOSED) {
        p->last_status = s;
        snprintf(p->last_err, sizeof p->last_err, "bus closed before the stream acked");
        p->attempt = p->max_attempts;
        pub_retry_or_fail(p);
        return;
    }
    if (s != CC_OK) {
        attempt_failed();
        p->last_status = s;
        snprintf(p->last_err, sizeof p->last_err, "%s",
                 s == CC_TIMEOUT ? "no ack from the stream in time"
                                 : "no stream listens on this subject");
        pub_retry_or_fail(p);
        return;
    }
    cc_js_pub_ack ack = {0};
    const char *body = natsMsg_GetData(reply);
    int blen = natsMsg_GetDataLength(reply);
    if (parse_pub_ack(body, (size_t)blen, &ack)) {
        natsMsg_Destroy(reply);
        failing_since_ns = 0;
        pub_done(p, CC_OK, &ack);
        return;
    }
    attempt_failed();
    json_error_t jerr;
    json_t *o = json_loadb(body, (size_t)blen, 0, &jerr);
    natsMsg_Destroy(reply);
    json_t *err = o ? json_object_get(o, "error") : NULL;
    int code = err ? (int)json_integer_value(json_object_get(err, "code")) : 0;
    const char *desc = err ? json_string_value(json_object_get(err, "description")) : NULL;
    p->last_status = code == 503 ? CC_UNAVAILABLE : CC_NATS;
    snprintf(p->last_err, sizeof p->last_err, "stream refused: %s (code %d)",
             desc ? desc : (o ? "unknown error" : "unreadable ack"), code);
    json_decref(o);
    /* 503 is "JetStream not ready"; anything else (a wrong subject, a full
     * stream) will not heal by retrying quickly, but a bounded retry costs
     * little and covers leader elections. */
    pub_retry_or_fail(p);
}

static void pub_attempt(pub *p)
{
    p->attempt++;
    cc_status s = cc_bus_request(p->b, p->subject, p->has_env ? &p->env : NULL, p->type, p->msg_id,
                                 p->data, p->len, p->timeout_ms, on_pub_ack, p);
    if (s != CC_OK) {
        p->last_status = s;
        snprintf(p->last_err, sizeof p->last_err, "%s", cc_err_msg());
        if (s == CC_CLOSED)
            p->attempt = p->max_attempts;
        pub_retry_or_fail(p);
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

cc_status cc_js_publish(cc_bus *b, const char *subject, const char *msg_id,
                        const cc_envelope *env, const char *type, const void *data, size_t len,
                        const cc_js_publish_options *opts, cc_js_publish_cb cb, void *ud)
{
    if (!msg_id || !*msg_id)
        return cc_err_set(CC_INVALID, "jetstream publish to %s needs a Nats-Msg-Id", subject);
    pub_metrics_init();
    pub *p = calloc(1, sizeof *p);
    if (!p)
        return CC_NOMEM;
    p->b = b;
    p->subject = strdup(subject);
    p->msg_id = strdup(msg_id);
    p->type = dup_or_null(type);
    p->data = malloc(len ? len : 1);
    if (!p->subject || !p->msg_id || (type && !p->type) || !p->data) {
        free(p->subject);
        free(p->msg_id);
        free(p->type);
        free(p->data);
        free(p);
        return CC_NOMEM;
    }
    if (len)
        memcpy(p->data, data, len);
    p->len = len;
    if (env) {
        p->env = *env;
        p->has_env = true;
    } else if (cc_trace_current()) {
        /* No envelope given, but the publish happens inside a traced
         * hop: the event belongs to that trace. */
        cc_envelope_new(&p->env, NULL);
        memcpy(p->env.traceparent, cc_trace_current(), sizeof p->env.traceparent);
        p->has_env = true;
    }
    if (p->has_env) {
        /* "<subject> publish": the message carries the producer span's
         * id, so its consumer's span is a child of it. */
        memcpy(p->parent, p->env.traceparent, sizeof p->parent);
        char name[160];
        snprintf(name, sizeof name, "%s publish", subject);
        cc_span_enter(&p->span, name, CC_SPAN_PRODUCER, &p->env);
        cc_span_attr(&p->span, "messaging.system", "nats");
        cc_span_attr(&p->span, "messaging.destination.name", subject);
        cc_span_attr(&p->span, "messaging.message.id", msg_id);
    }
    p->max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : 10;
    p->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 2000;
    p->backoff_ms = opts && opts->backoff_ms > 0 ? opts->backoff_ms : 50;
    p->cb = cb;
    p->ud = ud;
    p->start_ns = cc_now_ns();
    uv_timer_init(cc_bus_loop(b), &p->retry);
    p->retry.data = p;
    cc_bus_work_begin(b);
    pub_attempt(p);
    return CC_OK;
}

/* ---- pull consumer ---------------------------------------------------------- */

struct cc_js_msg {
    cc_js_consumer *c;
    natsMsg *m;
    cc_envelope env; /* its traceparent is the consumer span's */
    cc_span span;    /* from delivery to ack, nak or term */
    uint64_t delivered;
    uint64_t sseq;
    cc_js_msg *prev, *next; /* in flight list */
};

struct cc_js_consumer {
    cc_bus *b;
    cc_js_consumer_config cfg;
    char *stream, *durable, *filter;
    cc_js_handler h;
    void *ud;
    char inbox[128]; /* "_INBOX.<service>.<nuid>." for this consumer's pulls */
    size_t inbox_len;
    cc_bus_sub *sub;
    uint64_t pull_seq;     /* sequence of the outstanding pull request */
    int pull_remaining;    /* messages the outstanding pull may still bring */
    bool pull_open;
    uv_timer_t watchdog;   /* re-pulls when a pull request was lost */
    int inflight;
    cc_js_msg *head;
    bool stopped;
    bool paused;
    cc_counter *received, *redelivered, *acked, *naked, *termed;
    cc_gauge *inflight_g;
};

static void pull(cc_js_consumer *c);

static void parse_ack_subject(const char *reply, uint64_t *delivered, uint64_t *sseq)
{
    /* $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
     * or, with a domain and account hash, two more tokens before the
     * stream and one at the end. */
    const char *tok[16];
    int n = 0;
    const char *p = reply;
    tok[n++] = p;
    while ((p = strchr(p, '.')) != NULL && n < 16) {
        p++;
        tok[n++] = p;
    }
    int base = n == 9 ? 4 : (n >= 11 ? 6 : -1);
    if (base < 0)
        return;
    *delivered = strtoull(tok[base], NULL, 10);
    *sseq = strtoull(tok[base + 1], NULL, 10);
}

static void track(cc_js_consumer *c, cc_js_msg *m)
{
    m->next = c->head;
    if (c->head)
        c->head->prev = m;
    c->head = m;
    c->inflight++;
    cc_gauge_set(c->inflight_g, c->inflight);
}

static void untrack(cc_js_msg *m)
{
    cc_js_consumer *c = m->c;
    if (m->prev)
        m->prev->next = m->next;
    else
        c->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    c->inflight--;
    cc_gauge_set(c->inflight_g, c->inflight);
}

static void respond(cc_js_msg *m, const char *body)
{
    const char *reply = natsMsg_GetReply(m->m);
    /* Not while disconnected (see cc_bus_connected): the server then
     * redelivers the message after its ack wait. */
    if (reply && *reply && cc_bus_connected(m->c->b))
        natsConnection_Publish(cc_bus_nats(m->c->b), reply, body, (int)strlen(body));
}

/* Ends m here with body as its answer to the server (NULL: none, so the
 * server redelivers it after its ack wait). */
static void finish(cc_js_msg *m, const char *body)
{
    cc_js_consumer *c = m->c;
    if (m->span.recording) {
        cc_span_attr(&m->span, "codecourt.outcome",
                     !body                                ? "left to ack wait"
                     : body[0] == '+' && body[1] == 'A' ? "ack"
                     : body[1] == 'T'                     ? "term"
                                                          : "nak");
        if (body && body[1] == 'T')
            cc_span_fail(&m->span, "terminated");
    }
    cc_span_end(&m->span);
    if (body)
        respond(m, body);
    untrack(m);
    natsMsg_Destroy(m->m);
    free(m);
    cc_bus_work_end(c->b);
    if (!c->stopped)
        pull(c);
}

void cc_js_ack(cc_js_msg *m)
{
    cc_counter_inc(m->c->acked);
    finish(m, "+ACK");
}

void cc_js_nak(cc_js_msg *m, int64_t delay_ms)
{
    cc_counter_inc(m->c->naked);
    if (delay_ms <= 0) {
        finish(m, "-NAK");
        return;
    }
    char body[64];
    snprintf(body, sizeof body, "-NAK {\"delay\": %lld}", (long long)delay_ms * 1000000LL);
    finish(m, body);
}

void cc_js_term(cc_js_msg *m)
{
    cc_counter_inc(m->c->termed);
    finish(m, "+TERM");
}

void cc_js_in_progress(cc_js_msg *m)
{
    respond(m, "+WPI");
}

const char *cc_js_msg_subject(const cc_js_msg *m)
{
    return natsMsg_GetSubject(m->m);
}

const void *cc_js_msg_data(const cc_js_msg *m)
{
    return natsMsg_GetData(m->m);
}

size_t cc_js_msg_len(const cc_js_msg *m)
{
    return (size_t)natsMsg_GetDataLength(m->m);
}

const cc_envelope *cc_js_msg_envelope(const cc_js_msg *m)
{
    return &m->env;
}

const char *cc_js_msg_id(const cc_js_msg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m->m, CC_HDR_MSG_ID, &v) != NATS_OK || !v)
        return "";
    return v;
}

uint64_t cc_js_msg_delivered(const cc_js_msg *m)
{
    return m->delivered;
}

uint64_t cc_js_msg_stream_seq(const cc_js_msg *m)
{
    return m->sseq;
}

natsMsg *cc_js_msg_nats(cc_js_msg *m)
{
    return m->m;
}

static void on_pull_msg(cc_bus *b, natsMsg *nm, void *ud)
{
    cc_js_consumer *c = ud;
    const char *subj = natsMsg_GetSubject(nm);
    const char *status = NULL;
    natsMsgHeader_Get(nm, "Status", &status);
    if (status && natsMsg_GetDataLength(nm) == 0 && !natsMsg_GetReply(nm)) {
        /* 404 no messages, 408 request expired, 409 consumer changed or
         * too many waiting pulls, 100 heartbeat. Any of them (but a
         * heartbeat) ends the pull it answers. */
        uint64_t seq = strncmp(subj, c->inbox, c->inbox_len) == 0
                           ? strtoull(subj + c->inbox_len, NULL, 10)
                           : 0;
        if (seq == c->pull_seq && strcmp(status, "100") != 0) {
            c->pull_open = false;
            if (strcmp(status, "404") && strcmp(status, "408"))
                cc_log(CC_LOG_WARN, NULL, "jetstream pull ended", "{s:s, s:s, s:s}", "consumer",
                       c->durable, "status", status, "stream", c->stream);
            if (!c->stopped)
                pull(c);
        }
        natsMsg_Destroy(nm);
        return;
    }
    /* JetStream delivers a pulled message under its original subject, so
     * it cannot be matched to the pull that asked for it; count it
     * against the open pull. A stray from a pull the watchdog gave up on
     * only makes the next pull come a little early. */
    if (c->pull_open && --c->pull_remaining <= 0)
        c->pull_open = false;
    cc_counter_inc(c->received);
    cc_js_msg *m = calloc(1, sizeof *m);
    if (!m) {
        /* Not acked, so the server redelivers it after ack_wait. */
        natsMsg_Destroy(nm);
        return;
    }
    m->c = c;
    m->m = nm;
    m->delivered = 1;
    parse_ack_subject(natsMsg_GetReply(nm) ? natsMsg_GetReply(nm) : "", &m->delivered, &m->sseq);
    if (m->delivered > 1)
        cc_counter_inc(c->redelivered);
    cc_bus_work_begin(b);
    track(c, m);
    if (c->stopped || c->paused) {
        /* Draining or paused: hand it straight back for another worker,
         * or, to keep the stream's order, leave it to the ack wait. */
        if (c->cfg.keep_order)
            finish(m, NULL);
        else
            cc_js_nak(m, 0);
        return;
    }
    if (cc_envelope_from_msg(&m->env, nm) != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "jetstream message with a bad envelope, terminated",
               "{s:s, s:s, s:s}", "subject", subj, "consumer", c->durable, "error", cc_err_msg());
        cc_js_term(m);
        return;
    }
    /* "<subject> process": a child of the producer span that the
     * message names; what the handler causes is this span's child. */
    char name[160];
    snprintf(name, sizeof name, "%s process", subj);
    cc_span_enter(&m->span, name, CC_SPAN_CONSUMER, &m->env);
    cc_span_attr(&m->span, "messaging.system", "nats");
    cc_span_attr(&m->span, "messaging.destination.name", subj);
    cc_span_attr(&m->span, "messaging.consumer.group.name", c->durable);
    cc_span_attr_int(&m->span, "messaging.delivery.count", (int64_t)m->delivered);
    char saved[56];
    cc_trace_push(m->env.traceparent, saved);
    c->h(m, c->ud);
    cc_trace_pop(saved);
    /* The pull may have ended with this message while slots are free (it
     * was asked when more were busy, and some finished since): ask for
     * more now rather than when the next job ends. */
    if (!c->pull_open && !c->stopped)
        pull(c);
}

static void pull(cc_js_consumer *c)
{
    if (c->stopped || c->paused || c->pull_open || !cc_bus_connected(c->b))
        return;
    int want = c->cfg.max_inflight - c->inflight;
    if (want <= 0)
        return;
    char subject[256], reply[sizeof c->inbox + CC_DECIMAL_MAX], body[128];
    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", c->stream, c->durable);
    c->pull_seq++;
    snprintf(reply, sizeof reply, "%s%llu", c->inbox, (unsigned long long)c->pull_seq);
    snprintf(body, sizeof body, "{\"batch\":%d,\"expires\":%lld}", want,
             (long long)c->cfg.pull_expires_ms * 1000000LL);
    if (natsConnection_PublishRequest(cc_bus_nats(c->b), subject, reply, body,
                                      (int)strlen(body)) != NATS_OK)
        return; /* the watchdog tries again */
    c->pull_open = true;
    c->pull_remaining = want;
    cc_log(CC_LOG_DEBUG, NULL, "jetstream pull", "{s:s, s:i, s:i}", "consumer", c->durable,
           "batch", want, "seq", (int)c->pull_seq);
    uv_timer_again(&c->watchdog);
}

static void on_watchdog(uv_timer_t *t)
{
    cc_js_consumer *c = t->data;
    /* No answer to the last pull within its expiry plus a margin: the
     * request was lost (a server restart, a reconnect). Forget it. */
    c->pull_open = false;
    pull(c);
}

cc_status cc_js_consume(cc_bus *b, const cc_js_consumer_config *cfg, cc_js_handler h, void *ud,
                        cc_js_consumer **out)
{
    cc_js_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return CC_NOMEM;
    c->b = b;
    c->cfg = *cfg;
    c->stream = strdup(cfg->stream);
    c->durable = strdup(cfg->durable);
    c->filter = dup_or_null(cfg->filter);
    c->cfg.stream = c->stream;
    c->cfg.durable = c->durable;
    c->cfg.filter = c->filter;
    if (c->cfg.max_inflight <= 0)
        c->cfg.max_inflight = 64;
    if (c->cfg.pull_expires_ms <= 0)
        c->cfg.pull_expires_ms = 5000;
    c->h = h;
    c->ud = ud;
    c->inbox_len = cc_bus_new_inbox(b, c->inbox, sizeof c->inbox);
    char labels[200];
    snprintf(labels, sizeof labels, "stream=\"%s\",consumer=\"%s\"", c->stream, c->durable);
    c->received = cc_metrics_counter("cc_js_consumer_received_total", "Messages received",
                                     labels);
    c->redelivered = cc_metrics_counter("cc_js_consumer_redelivered_total",
                                        "Messages received again (delivery count above 1)",
                                        labels);
    c->acked = cc_metrics_counter("cc_js_consumer_acked_total", "Messages acked", labels);
    c->naked = cc_metrics_counter("cc_js_consumer_naked_total", "Messages handed back", labels);
    c->termed = cc_metrics_counter("cc_js_consumer_termed_total", "Messages terminated", labels);
    c->inflight_g = cc_metrics_gauge("cc_js_consumer_inflight", "Messages being handled", labels);
    char wild[sizeof c->inbox + 1];
    snprintf(wild, sizeof wild, "%s*", c->inbox);
    cc_status s = cc_bus_subscribe(b, wild, NULL, on_pull_msg, c, &c->sub);
    if (s != CC_OK) {
        free(c->stream);
        free(c->durable);
        free(c->filter);
        free(c);
        return s;
    }
    uv_timer_init(cc_bus_loop(b), &c->watchdog);
    c->watchdog.data = c;
    uint64_t wd = (uint64_t)c->cfg.pull_expires_ms + 2000;
    uv_timer_start(&c->watchdog, on_watchdog, wd, wd);
    pull(c);
    *out = c;
    return CC_OK;
}

void cc_js_consumer_stop(cc_js_consumer *c)
{
    if (c->stopped)
        return;
    c->stopped = true;
    uv_timer_stop(&c->watchdog);
}

void cc_js_consumer_pause(cc_js_consumer *c, bool paused)
{
    c->paused = paused;
    if (!paused)
        pull(c);
}

void cc_js_consumer_nak_all(cc_js_consumer *c)
{
    cc_js_consumer_stop(c);
    while (c->head) {
        if (c->cfg.keep_order)
            finish(c->head, NULL);
        else
            cc_js_nak(c->head, 0);
    }
}

int cc_js_consumer_inflight(const cc_js_consumer *c)
{
    return c->inflight;
}

static void consumer_free_cb(uv_handle_t *h)
{
    cc_js_consumer *c = h->data;
    free(c->stream);
    free(c->durable);
    free(c->filter);
    free(c);
}

void cc_js_consumer_free(cc_js_consumer *c)
{
    cc_js_consumer_stop(c);
    cc_bus_unsubscribe(c->sub);
    uv_close((uv_handle_t *)&c->watchdog, consumer_free_cb);
}
