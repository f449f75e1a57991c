/* The transactional outbox and its relay. See cc/outbox.h. */
#include "cc/outbox.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/seal.h"
#include "cc/trace.h"

/* The partial index keeps the relay's scan proportional to what is
 * unsent, however long the table grows. */
const char *const cc_outbox_schema_sql =
    "CREATE TABLE cc_outbox (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    subject text NOT NULL,\n"
    "    msg_id text,\n"
    "    type text NOT NULL DEFAULT '',\n"
    "    correlation_id text NOT NULL DEFAULT '',\n"
    "    traceparent text NOT NULL DEFAULT '',\n"
    "    principal text NOT NULL DEFAULT '',\n"
    "    payload bytea NOT NULL,\n"
    "    created_at timestamptz NOT NULL DEFAULT now(),\n"
    "    sent_at timestamptz\n"
    ");\n"
    "CREATE INDEX cc_outbox_unsent ON cc_outbox (id) WHERE sent_at IS NULL;\n";

/* payload_key: '' when the payload is in clear, else the id of the data
 * key it is sealed under; aggregate_id: the envelope's Cc-Aggregate-Id.
 * Additive, so a previous release's relay still reads its rows. */
const char *const cc_outbox_sealed_sql =
    "ALTER TABLE cc_outbox ADD COLUMN payload_key text NOT NULL DEFAULT '',\n"
    "    ADD COLUMN aggregate_id text NOT NULL DEFAULT '';\n";

/* One per process, set once at start by a service that seals (before its
 * loop runs), read on that loop only. */
static const cc_seal_service *outbox_seal;

void cc_outbox_seal_with(const cc_seal_service *svc)
{
    outbox_seal = svc;
}

/* The AAD of a row's payload: its msg id, or its subject when the relay
 * names it (the row id is not known before the insert). */
static size_t payload_aad(char *buf, size_t cap, const char *msg_id, const char *subject)
{
    return cc_seal_aad(buf, cap, "cc_outbox", msg_id && *msg_id ? msg_id : subject, "payload");
}

cc_status cc_outbox_add(cc_pg_tx *tx, const char *subject, const cc_envelope *env,
                        const char *aggregate, const char *type, const char *msg_id,
                        const void *payload, size_t len, cc_pg_cb cb, void *ud)
{
    if (!subject || !*subject)
        return cc_err_set(CC_INVALID, "outbox: a subject is required");
    if (len > 0x7fffffff)
        return cc_err_set(CC_LIMIT, "outbox: payload of %zu bytes is too large", len);
    static const char empty[1] = "";
    uint8_t *sealed = NULL;
    char key_id[CC_SEAL_ID_MAX] = "";
    if (outbox_seal) {
        char aad[512];
        size_t aadlen = payload_aad(aad, sizeof aad, msg_id, subject);
        sealed = aadlen ? malloc(len + CC_SEAL_OVERHEAD) : NULL;
        if (!sealed)
            return cc_err_set(CC_NOMEM, "outbox: cannot seal a payload of %zu bytes", len);
        cc_status s = cc_seal(cc_seal_service_keys(outbox_seal), aad, aadlen,
                              payload ? payload : empty, len, sealed, key_id);
        if (s != CC_OK) {
            free(sealed);
            return s;
        }
        payload = sealed;
        len += CC_SEAL_OVERHEAD;
    }
    cc_pg_param p[9] = {
        CC_PG_TEXT(subject),
        msg_id ? CC_PG_TEXT(msg_id) : CC_PG_NULL,
        CC_PG_TEXT(type  ? type
                   : env ? env->type
                         : ""),
        CC_PG_TEXT(env ? env->correlation_id : ""),
        CC_PG_TEXT(env ? env->traceparent : ""),
        CC_PG_TEXT(env ? env->principal : ""),
        CC_PG_BYTES(payload ? payload : empty, len),
        CC_PG_TEXT(key_id),
        CC_PG_TEXT(aggregate ? aggregate
                   : env ? env->aggregate_id
                         : ""),
    };
    /* One statement inserts and notifies; the notification is delivered
     * only if the transaction commits. Parameters are copied. */
    cc_status s = cc_pg_tx_query(tx,
                                 "WITH r AS (INSERT INTO cc_outbox (subject, msg_id, type, "
                                 "correlation_id, traceparent, principal, payload, payload_key, "
                                 "aggregate_id) "
                                 "VALUES ($1, $2, $3, $4, $5, $6, $7::bytea, $8, $9) "
                                 "RETURNING id) "
                                 "SELECT id, pg_notify('" CC_OUTBOX_CHANNEL "', '') FROM r",
                                 p, 9, cb, ud);
    free(sealed);
    return s;
}

/* ---- relay ------------------------------------------------------------------ */

enum { R_IDLE, R_SELECT, R_PUBLISH, R_MARK };

typedef struct item {
    cc_outbox_relay *r;
    int64_t id;
    bool acked;
    cc_span span; /* "outbox relay": from the row read to the stream's ack */
} item;

struct cc_outbox_relay {
    cc_pg *pg;
    cc_bus *bus;
    char service[64];
    int batch;
    int64_t poll_ms, retry_ms;
    cc_js_publish_options pub;
    bool has_pub;
    uv_timer_t timer;
    int state;
    bool again; /* woken during a pass: run another at once */
    bool stopping;
    bool failed; /* the current pass lost something: pause before the next */
    item *items;
    int nitems, pending;
    bool full; /* the pass got a full batch: more may wait */
    uint64_t marked;
    void (*done)(void *);
    void *done_ud;
    cc_gauge *oldest; /* age of the oldest unsent row at the last pass */
};

static cc_counter *m_published, *m_failed;

static void relay_pass(cc_outbox_relay *r);

static void relay_closed(uv_handle_t *h)
{
    cc_outbox_relay *r = h->data;
    void (*done)(void *) = r->done;
    void *ud = r->done_ud;
    free(r->items);
    free(r);
    if (done)
        done(ud);
}

static void relay_finish(cc_outbox_relay *r)
{
    cc_pg_unlisten(r->pg, CC_OUTBOX_CHANNEL);
    uv_close((uv_handle_t *)&r->timer, relay_closed);
}

static void on_timer(uv_timer_t *t)
{
    relay_pass(t->data);
}

/* A pass ended: decide when the next one runs. */
static void relay_idle(cc_outbox_relay *r)
{
    r->state = R_IDLE;
    free(r->items);
    r->items = NULL;
    r->nitems = 0;
    if (r->stopping) {
        relay_finish(r);
        return;
    }
    if (r->failed) {
        r->failed = false;
        uv_timer_start(&r->timer, on_timer, (uint64_t)r->retry_ms, 0);
        return;
    }
    if (r->again || r->full) {
        r->again = false;
        uv_timer_start(&r->timer, on_timer, 0, 0);
        return;
    }
    uv_timer_start(&r->timer, on_timer, (uint64_t)r->poll_ms, 0);
}

static void on_mark(cc_status s, const char *errmsg, const cc_pg_result *res, void *ud)
{
    cc_outbox_relay *r = ud;
    if (s != CC_OK) {
        /* The rows stay unsent and are published again (and deduplicated
         * by the stream) on a later pass. */
        cc_log(CC_LOG_WARN, NULL, "outbox mark failed", "{s:s, s:s}", "outbox", r->service, "error",
               errmsg);
        r->failed = true;
    } else {
        r->marked += (uint64_t)cc_pg_affected(res);
    }
    relay_idle(r);
}

static void relay_mark(cc_outbox_relay *r)
{
    /* "{1,2,3}": one array parameter marks the whole pass in one statement. */
    size_t cap = (size_t)r->nitems * 21 + 3, len = 0;
    char *arr = malloc(cap);
    if (!arr) {
        r->failed = true;
        relay_idle(r);
        return;
    }
    arr[len++] = '{';
    int n = 0;
    for (int i = 0; i < r->nitems; i++) {
        if (!r->items[i].acked)
            continue;
        int w = snprintf(arr + len, cap - len, "%s%" PRId64, n ? "," : "", r->items[i].id);
        len += (size_t)w;
        n++;
    }
    arr[len++] = '}';
    arr[len] = '\0';
    if (n == 0) {
        free(arr);
        relay_idle(r);
        return;
    }
    r->state = R_MARK;
    cc_pg_param p[1] = {CC_PG_TEXT(arr)};
    char saved[56];
    cc_trace_push(NULL, saved); /* the pass's, not the last row's trace */
    cc_status s = cc_pg_query(r->pg,
                              "UPDATE cc_outbox SET sent_at = now() "
                              "WHERE id = ANY($1::bigint[]) AND sent_at IS NULL",
                              p, 1, on_mark, r);
    cc_trace_pop(saved);
    free(arr);
    if (s != CC_OK) {
        r->failed = true;
        relay_idle(r);
    }
}

static void on_published(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud)
{
    item *it = ud;
    cc_outbox_relay *r = it->r;
    if (s != CC_OK)
        cc_span_fail(&it->span, errmsg);
    cc_span_end(&it->span);
    if (s == CC_OK) {
        it->acked = true;
        cc_counter_inc(m_published);
    } else {
        r->failed = true;
        cc_counter_inc(m_failed);
        cc_log(CC_LOG_WARN, NULL, "outbox publish failed", "{s:s, s:I, s:s}", "outbox", r->service,
               "id", (json_int_t)it->id, "error", errmsg ? errmsg : "");
    }
    if (--r->pending == 0)
        relay_mark(r);
}

/* Replaces *payload (malloc'd, sealed under key_id) by its opened value.
 * A process that does not seal cannot open it: the row stays unsent. */
static cc_status open_payload(const char *key_id, const char *msg_id, const char *subject,
                              unsigned char **payload, size_t *len)
{
    if (!outbox_seal)
        return cc_err_set(CC_INVALID, "outbox: a payload is sealed under key %s, and this "
                          "process has no keys (master key setting)", key_id);
    char aad[512];
    size_t aadlen = payload_aad(aad, sizeof aad, msg_id, subject);
    uint8_t *plain = *len >= CC_SEAL_OVERHEAD ? malloc(*len - CC_SEAL_OVERHEAD + 1) : NULL;
    size_t n = 0;
    cc_status s = plain ? cc_open(cc_seal_service_keys(outbox_seal), key_id, aad, aadlen, *payload,
                                  *len, plain, &n)
                        : cc_err_set(CC_INVALID, "outbox: a sealed payload of %zu bytes", *len);
    free(*payload);
    *payload = plain;
    *len = n;
    return s;
}

static cc_status publish_row(cc_outbox_relay *r, const cc_pg_result *res, int row, item *it)
{
    cc_status s = cc_pg_get_int64(res, row, 0, &it->id);
    if (s != CC_OK)
        return s;
    char msg_id[128];
    if (cc_pg_isnull(res, row, 2))
        snprintf(msg_id, sizeof msg_id, "%s-outbox-%" PRId64, r->service, it->id);
    else
        snprintf(msg_id, sizeof msg_id, "%s", cc_pg_get(res, row, 2));
    cc_envelope env;
    memset(&env, 0, sizeof env);
    /* Rows were written through cc_outbox_add from checked envelopes; a
     * value that fails the checks now is dropped rather than sent. */
    (void)cc_envelope_set_type(&env, cc_pg_get(res, row, 3));
    (void)cc_envelope_set_correlation(&env, cc_pg_get(res, row, 4));
    (void)cc_envelope_set_traceparent(&env, cc_pg_get(res, row, 5));
    (void)cc_envelope_set_principal(&env, cc_pg_get(res, row, 6));
    (void)cc_envelope_set_aggregate(&env, cc_pg_get(res, row, 10));
    unsigned char *payload = NULL;
    size_t len = 0;
    s = cc_pg_get_bytea(res, row, 7, &payload, &len);
    if (s == CC_OK && *cc_pg_get(res, row, 9))
        s = open_payload(cc_pg_get(res, row, 9), cc_pg_isnull(res, row, 2) ? NULL : msg_id,
                         cc_pg_get(res, row, 1), &payload, &len);
    if (s != CC_OK) {
        free(payload);
        return s;
    }
    /* The relay's span continues the trace of the transaction that wrote
     * the row (its traceparent was stored with it); the publish is its
     * child. A row written without one starts no trace of its own. */
    if (env.traceparent[0]) {
        char name[160];
        snprintf(name, sizeof name, "outbox relay %s", cc_pg_get(res, row, 1));
        cc_span_enter(&it->span, name, CC_SPAN_INTERNAL, &env);
        cc_span_attr(&it->span, "codecourt.outbox", r->service);
        cc_span_attr_int(&it->span, "codecourt.outbox.id", it->id);
    }
    s = cc_js_publish(r->bus, cc_pg_get(res, row, 1), msg_id, &env, NULL, payload, len,
                      r->has_pub ? &r->pub : NULL, on_published, it);
    if (s != CC_OK) {
        cc_span_fail(&it->span, cc_err_msg());
        cc_span_end(&it->span);
    }
    free(payload);
    return s;
}

static void on_select(cc_status s, const char *errmsg, const cc_pg_result *res, void *ud)
{
    cc_outbox_relay *r = ud;
    if (s != CC_OK) {
        cc_log(CC_LOG_WARN, NULL, "outbox read failed", "{s:s, s:s}", "outbox", r->service, "error",
               errmsg);
        r->failed = true;
        relay_idle(r);
        return;
    }
    int n = cc_pg_nrows(res);
    r->full = n >= r->batch;
    /* Rows come oldest first: the first one's age is the relay's lag. */
    cc_gauge_set(r->oldest, n ? cc_pg_int(res, 0, 8) : 0);
    if (n == 0) {
        relay_idle(r);
        return;
    }
    r->items = calloc((size_t)n, sizeof *r->items);
    if (!r->items) {
        r->failed = true;
        relay_idle(r);
        return;
    }
    r->nitems = n;
    r->state = R_PUBLISH;
    /* Every publish is started before any ack comes back (the bus is
     * only read by this loop), so pending cannot reach 0 early. */
    r->pending = n;
    int sync_fail = 0;
    for (int i = 0; i < n; i++) {
        item *it = &r->items[i];
        it->r = r;
        if (publish_row(r, res, i, it) != CC_OK) {
            cc_log_last_error(NULL, "outbox publish not started");
            r->failed = true;
            sync_fail++;
        }
    }
    r->pending -= sync_fail;
    if (r->pending == 0)
        relay_mark(r);
}

static void relay_pass(cc_outbox_relay *r)
{
    if (r->stopping)
        return;
    if (r->state != R_IDLE) {
        r->again = true;
        return;
    }
    uv_timer_stop(&r->timer);
    r->again = false;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", r->batch);
    cc_pg_param p[1] = {CC_PG_TEXT(lim)};
    r->state = R_SELECT;
    /* The relay's own reads belong to no request's trace, even when a
     * commit inside a traced hop is what woke it. */
    char saved[56];
    cc_trace_push(NULL, saved);
    cc_status s = cc_pg_query(r->pg,
                              "SELECT id, subject, msg_id, type, correlation_id, traceparent, "
                              "principal, payload, "
                              "extract(epoch from now() - created_at)::bigint, payload_key, aggregate_id "
                              "FROM cc_outbox WHERE sent_at IS NULL "
                              "ORDER BY id LIMIT $1::integer",
                              p, 1, on_select, r);
    cc_trace_pop(saved);
    if (s != CC_OK) {
        r->failed = true;
        relay_idle(r);
    }
}

static void on_notify(const char *channel, const char *payload, void *ud)
{
    /* A notification, or the listener (re)connected and may have missed
     * some: either way look now. */
    relay_pass(ud);
}

cc_status cc_outbox_relay_start(cc_pg *pg, cc_bus *bus, const cc_outbox_relay_options *o,
                                cc_outbox_relay **out)
{
    if (!o || !o->service || !*o->service || strlen(o->service) >= 64)
        return cc_err_set(CC_INVALID, "outbox relay: a service name (< 64 bytes) is required");
    if (!m_published) {
        m_published = cc_metrics_counter("cc_outbox_published_total",
                                         "Outbox rows acked by the stream", NULL);
        m_failed = cc_metrics_counter("cc_outbox_publish_failed_total",
                                      "Outbox publishes given up (retried on a later pass)", NULL);
    }
    cc_outbox_relay *r = calloc(1, sizeof *r);
    if (!r)
        return cc_err_set(CC_NOMEM, "outbox relay: out of memory");
    r->pg = pg;
    r->bus = bus;
    snprintf(r->service, sizeof r->service, "%s", o->service);
    char labels[100];
    snprintf(labels, sizeof labels, "outbox=\"%s\"", r->service);
    r->oldest = cc_metrics_gauge("cc_outbox_oldest_unsent_seconds",
                                 "Age of the oldest outbox row not yet published, at the last "
                                 "relay pass (0: none)",
                                 labels);
    r->batch = o->batch > 0 ? o->batch : 100;
    r->poll_ms = o->poll_ms > 0 ? o->poll_ms : 1000;
    r->retry_ms = o->retry_ms > 0 ? o->retry_ms : 500;
    if (o->publish) {
        r->pub = *o->publish;
        r->has_pub = true;
    }
    uv_timer_init(cc_bus_loop(bus), &r->timer);
    r->timer.data = r;
    cc_status s = cc_pg_listen(pg, CC_OUTBOX_CHANNEL, on_notify, r);
    if (s != CC_OK) {
        /* Polling alone still delivers, only later. */
        cc_log_last_error(NULL, "outbox relay cannot listen; polling only");
    }
    uv_timer_start(&r->timer, on_timer, 0, 0);
    *out = r;
    return CC_OK;
}

void cc_outbox_relay_stop(cc_outbox_relay *r, void (*done)(void *ud), void *ud)
{
    if (r->stopping)
        return;
    r->stopping = true;
    r->done = done;
    r->done_ud = ud;
    cc_pg_unlisten(r->pg, CC_OUTBOX_CHANNEL);
    uv_timer_stop(&r->timer);
    if (r->state == R_IDLE)
        relay_finish(r);
}

uint64_t cc_outbox_relay_marked(const cc_outbox_relay *r)
{
    return r->marked;
}
