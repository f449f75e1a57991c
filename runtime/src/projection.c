/* Read models projected from CC_EVENTS (see cc/projection.h). The steps:
 * open (blocking: lock, position, rebuild, load) -> start (the consumer
 * made again on the thread pool) -> pull -> apply each event -> tick ->
 * flush (one transaction: the service's rows and the position) ->
 * flushed -> pull more; stop flushes what is applied, then lets go. */
#include "cc/projection.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/mesh.h"
#include "cc/metrics.h"

/* A failed store is tried again after this long. */
#define RETRY_MS 1000
/* How long one pull waits for events before the server ends it. */
#define PULL_EXPIRES_MS 5000

struct cc_projection {
    const cc_projection_def *def;
    PGconn *lock_conn;
    cc_bus *bus;      /* what the stream is read through */
    cc_bus *work_bus; /* the actor's: its drain counts the projection's work */
    bool own_bus;     /* bus is the reader's own connection */
    cc_pg *pg;
    cc_projection_options o;
    uint64_t stored, applied;
    bool rebuilding;     /* replaying from nothing, not yet at the end */
    bool caught_up;      /* the last event said nothing more was pending */
    bool caught_up_once;
    uint64_t initial_pending;
    /* the consumer */
    char inbox[128];
    size_t inbox_len;
    cc_bus_sub *sub;
    bool pull_open;
    int pull_remaining;
    bool recreating;
    /* timers, on the bus's loop */
    uv_timer_t watchdog, tick_timer, flush_timer;
    int open_handles;
    bool handles_init;
    bool tick_pending, flush_timer_on;
    /* storing */
    bool flushing;
    uint64_t flush_started_ns;
    bool flush_failed; /* the service's flush failed: the rollback is no success */
    uint64_t flushing_upto, flushing_count;
    uint64_t unflushed;           /* applied and not stored */
    uint64_t first_unflushed_ms;  /* loop time of the oldest of those */
    /* life */
    bool started, stopped, work_counted, done_called, freed;
    bool bus_closing, bus_closed;
    void (*stop_done)(void *ud);
    void *stop_ud;
    cc_projection_stats stats;
    uint64_t t0_ns;
    cc_gauge *g_applied, *g_stored;
    cc_counter *c_events;
};

static void pull(cc_projection *p);
static void maybe_flush(cc_projection *p);
static void flush_now(cc_projection *p);
static void recreate(cc_projection *p);

/* ---- the reply subject ------------------------------------------------------ */

bool cc_projection_parse_reply(const char *reply, uint64_t *seq, int64_t *time_ns,
                               uint64_t *pending)
{
    if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0)
        return false;
    const char *tok[16];
    int n = 0;
    for (const char *q = reply; q && n < 16; q = strchr(q, '.') ? strchr(q, '.') + 1 : NULL)
        tok[n++] = q;
    /* 9 tokens: $JS ACK stream consumer delivered sseq cseq ns pending;
     * 11 or 12 with a domain and account hash before the stream. */
    int base = n == 9 ? 4 : (n == 11 || n == 12) ? 6 : -1;
    if (base < 0)
        return false;
    char *end;
    *seq = strtoull(tok[base + 1], &end, 10);
    if (*end != '.')
        return false;
    *time_ns = strtoll(tok[base + 3], &end, 10);
    if (*end != '.')
        return false;
    *pending = strtoull(tok[base + 4], &end, 10);
    return *end == '\0' || *end == '.';
}

/* ---- open (blocking) ---------------------------------------------------------- */

static int64_t lock_key(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *q = "cc-projection:"; *q; q++)
        h = (h ^ (unsigned char)*q) * 1099511628211ull;
    for (const char *q = name; *q; q++)
        h = (h ^ (unsigned char)*q) * 1099511628211ull;
    return (int64_t)h;
}

static cc_status exec_ok(PGconn *c, const char *sql, int n, const char *const *vals,
                         PGresult **out)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        cc_status s = cc_err_set(CC_DB, "projection: %s", PQresultErrorMessage(r));
        PQclear(r);
        return s;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return CC_OK;
}

static cc_status take_lock(cc_projection *p)
{
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, lock_key(p->def->name));
    const char *vals[] = {key};
    for (int waited = 0; waited <= 30000; waited += 500) {
        PGresult *r = NULL;
        cc_status s = exec_ok(p->lock_conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, vals, &r);
        if (s != CC_OK)
            return s;
        bool got = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (got)
            return CC_OK;
        if (waited == 0)
            cc_log(CC_LOG_WARN, NULL, "another process holds the projection; waiting",
                   "{s:s}", "projection", p->def->name);
        uv_sleep(500);
    }
    return cc_err_set(CC_CONFLICT,
                      "projection %s is held by another process (is the service running? stop "
                      "it before a rebuild; a projection runs in one replica)",
                      p->def->name);
}

/* Empties the tables and sets the position to 0 at the code's version, in
 * one transaction. */
static cc_status reset_tables(cc_projection *p)
{
    cc_status s = exec_ok(p->lock_conn, "BEGIN", 0, NULL, NULL);
    for (const char *const *t = p->def->tables; s == CC_OK && t && *t; t++) {
        char sql[256];
        snprintf(sql, sizeof sql, "TRUNCATE %s", *t);
        s = exec_ok(p->lock_conn, sql, 0, NULL, NULL);
    }
    char version[16];
    snprintf(version, sizeof version, "%d", p->def->version);
    const char *vals[] = {p->def->name, version};
    if (s == CC_OK)
        s = exec_ok(p->lock_conn,
                    "INSERT INTO " CC_PROJECTION_TABLE " (name, version, position, rebuilt_at) "
                    "VALUES ($1, $2::int, 0, now()) ON CONFLICT (name) DO UPDATE SET "
                    "version = EXCLUDED.version, position = 0, rebuilt_at = now(), "
                    "updated_at = now()",
                    2, vals, NULL);
    cc_status e = exec_ok(p->lock_conn, s == CC_OK ? "COMMIT" : "ROLLBACK", 0, NULL, NULL);
    return s != CC_OK ? s : e;
}

static cc_status open_steps(cc_projection *p, const char *conninfo, bool rebuild)
{
    p->lock_conn = PQconnectdb(conninfo);
    if (PQstatus(p->lock_conn) != CONNECTION_OK)
        return cc_err_set(CC_UNAVAILABLE, "projection %s: cannot connect: %s", p->def->name,
                          PQerrorMessage(p->lock_conn));
    cc_status s = take_lock(p);
    IFOK(s, exec_ok(p->lock_conn,
                    "CREATE TABLE IF NOT EXISTS " CC_PROJECTION_TABLE " ("
                    "name text PRIMARY KEY, version integer NOT NULL, "
                    "position bigint NOT NULL DEFAULT 0, rebuilt_at timestamptz, "
                    "updated_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL, NULL));
    PGresult *r = NULL;
    const char *vals[] = {p->def->name};
    IFOK(s, exec_ok(p->lock_conn,
                    "SELECT version, position FROM " CC_PROJECTION_TABLE " WHERE name = $1", 1,
                    vals, &r));
    if (s != CC_OK)
        return s;
    bool have = PQntuples(r) == 1;
    /* Integer columns: PostgreSQL writes them in decimal. */
    int version = have ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    uint64_t position = have ? strtoull(PQgetvalue(r, 0, 1), NULL, 10) : 0;
    PQclear(r);
    if (have && version != p->def->version && !rebuild)
        cc_log(CC_LOG_WARN, NULL, "projection version changed: rebuilding from the stream",
               "{s:s, s:i, s:i}", "projection", p->def->name, "stored", version, "code",
               p->def->version);
    if (rebuild || !have || version != p->def->version) {
        s = reset_tables(p);
        if (s != CC_OK)
            return s;
        position = 0;
        p->rebuilding = true;
        if (p->def->reset)
            p->def->reset(p->def->ud);
    }
    s = exec_ok(p->lock_conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL);
    IFOK(s, p->def->load ? p->def->load(p->lock_conn, p->def->ud) : CC_OK);
    cc_status e = exec_ok(p->lock_conn, s == CC_OK ? "COMMIT" : "ROLLBACK", 0, NULL, NULL);
    if (s != CC_OK)
        return s;
    p->stored = p->applied = position;
    cc_log(CC_LOG_INFO, NULL, "projection opened", "{s:s, s:I, s:b}", "projection", p->def->name,
           "position", (json_int_t)position, "rebuild", p->rebuilding);
    return e;
}

cc_status cc_projection_open(const char *conninfo, const cc_projection_def *def, bool rebuild,
                             cc_projection **out)
{
    *out = NULL;
    cc_projection *p = calloc(1, sizeof *p);
    if (!p)
        return cc_err_set(CC_NOMEM, "out of memory");
    p->def = def;
    cc_status s = open_steps(p, conninfo, rebuild);
    if (s != CC_OK) {
        PQfinish(p->lock_conn);
        free(p);
        return s;
    }
    char labels[128];
    snprintf(labels, sizeof labels, "projection=\"%s\"", def->name);
    p->g_applied = cc_metrics_gauge("cc_projection_applied", "Last CC_EVENTS sequence applied",
                                    labels);
    p->g_stored = cc_metrics_gauge("cc_projection_stored", "Last CC_EVENTS sequence stored", labels);
    p->c_events = cc_metrics_counter("cc_projection_events_total", "Events applied", labels);
    cc_gauge_set(p->g_applied, (int64_t)p->stored);
    cc_gauge_set(p->g_stored, (int64_t)p->stored);
    *out = p;
    return CC_OK;
}

/* ---- the consumer (made on the thread pool) -------------------------------------- */

typedef struct setup {
    cc_projection *p;
    uint64_t from;     /* first sequence to deliver */
    uint64_t pending;  /* what the server counted from there */
} setup;

static cc_status setup_work(void *ud)
{
    setup *su = ud;
    cc_projection *p = su->p;
    jsCtx *js = NULL;
    natsStatus ns = natsConnection_JetStream(&js, cc_bus_nats(p->bus), NULL);
    if (ns != NATS_OK)
        return cc_err_set(CC_NATS, "projection %s: jetstream: %s", p->def->name,
                          natsStatus_GetText(ns));
    jsErrCode jerr = 0;
    /* The consumer's state is the server's; ours is the database's. */
    ns = js_DeleteConsumer(js, CC_STREAM_EVENTS, p->def->name, NULL, &jerr);
    if (ns != NATS_OK && jerr != JSConsumerNotFoundErr && jerr != JSStreamNotFoundErr) {
        cc_status s = cc_err_set(CC_NATS, "projection %s: delete consumer: %s (%d: %s)",
                                 p->def->name, natsStatus_GetText(ns), (int)jerr,
                                 nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
        jsCtx_Destroy(js);
        return s;
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = p->def->name;
    cc.AckPolicy = js_AckNone;
    if (su->from > 1) {
        cc.DeliverPolicy = js_DeliverByStartSequence;
        cc.OptStartSeq = su->from;
    } else {
        cc.DeliverPolicy = js_DeliverAll;
    }
    cc.MaxWaiting = 16;
    jsConsumerInfo *ci = NULL;
    jerr = 0;
    ns = js_AddConsumer(&ci, js, CC_STREAM_EVENTS, &cc, NULL, &jerr);
    /* The stream is declared by whichever service starts first. */
    for (int waited = 0; ns != NATS_OK && jerr == JSStreamNotFoundErr && waited < 30000;
         waited += 250) {
        uv_sleep(250);
        jerr = 0;
        ns = js_AddConsumer(&ci, js, CC_STREAM_EVENTS, &cc, NULL, &jerr);
    }
    cc_status s = CC_OK;
    if (ns != NATS_OK)
        s = cc_err_set(CC_NATS, "projection %s: create consumer: %s (%d: %s)", p->def->name,
                       natsStatus_GetText(ns), (int)jerr,
                       nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
    else
        su->pending = ci->NumPending;
    jsConsumerInfo_Destroy(ci);
    jsCtx_Destroy(js);
    return s;
}

static void finish_if_done(cc_projection *p);

static void call_done(cc_projection *p, cc_status s)
{
    if (p->done_called || !p->o.done)
        return;
    p->done_called = true;
    p->o.done(s, p->o.ud);
}

static void on_msg(cc_bus *b, natsMsg *m, void *ud);

static void setup_done(cc_status s, void *ud)
{
    setup *su = ud;
    cc_projection *p = su->p;
    uint64_t pending = su->pending;
    free(su);
    p->recreating = false;
    if (p->stopped) {
        finish_if_done(p);
        return;
    }
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "projection cannot consume CC_EVENTS", "{s:s, s:s}",
               "projection", p->def->name, "error", cc_err_msg());
        call_done(p, s);
        return;
    }
    p->initial_pending = pending;
    if (pending == 0) {
        p->caught_up = p->caught_up_once = true;
        p->rebuilding = false;
    }
    if (!p->sub) {
        char wild[sizeof p->inbox + 1];
        snprintf(wild, sizeof wild, "%s*", p->inbox);
        s = cc_bus_subscribe(p->bus, wild, NULL, on_msg, p, &p->sub);
        if (s != CC_OK) {
            call_done(p, s);
            return;
        }
    }
    cc_log(CC_LOG_INFO, NULL, "projection consuming", "{s:s, s:I, s:I}", "projection",
           p->def->name, "from", (json_int_t)(p->applied + 1), "pending", (json_int_t)pending);
    p->pull_open = false;
    pull(p);
    maybe_flush(p);
    finish_if_done(p);
}

static void recreate(cc_projection *p)
{
    if (p->recreating || p->stopped)
        return;
    setup *su = calloc(1, sizeof *su);
    if (!su)
        return; /* the watchdog tries again */
    su->p = p;
    su->from = p->applied + 1;
    p->recreating = true;
    p->pull_open = false;
    if (cc_bus_offload(p->bus, setup_work, setup_done, su) != CC_OK) {
        p->recreating = false;
        free(su);
    }
}

/* ---- pulling ------------------------------------------------------------------- */

static void on_watchdog(uv_timer_t *t)
{
    cc_projection *p = t->data;
    /* No answer to the pull within its expiry and a margin: it was lost
     * (a reconnect, a server restart). */
    p->pull_open = false;
    pull(p);
}

static void pull(cc_projection *p)
{
    if (p->stopped || p->pull_open || p->recreating || !p->sub || !cc_bus_connected(p->bus))
        return;
    int max_unflushed = p->o.max_unflushed > 0 ? p->o.max_unflushed : 200000;
    if (p->unflushed >= (uint64_t)max_unflushed)
        return; /* flushed() pulls again */
    int batch = p->o.batch > 0 ? p->o.batch : 1024;
    char subject[256], reply[sizeof p->inbox + 8], body[96];
    snprintf(subject, sizeof subject, "$JS.API.CONSUMER.MSG.NEXT." CC_STREAM_EVENTS ".%s",
             p->def->name);
    snprintf(reply, sizeof reply, "%s1", p->inbox);
    snprintf(body, sizeof body, "{\"batch\":%d,\"expires\":%lld}", batch,
             (long long)PULL_EXPIRES_MS * 1000000LL);
    if (natsConnection_PublishRequest(cc_bus_nats(p->bus), subject, reply, body,
                                      (int)strlen(body)) != NATS_OK)
        return; /* the watchdog tries again */
    p->pull_open = true;
    p->pull_remaining = batch;
    cc_log(CC_LOG_DEBUG, NULL, "projection pull", "{s:s, s:I, s:I}", "projection", p->def->name,
           "applied", (json_int_t)p->applied, "unflushed", (json_int_t)p->unflushed);
    uv_timer_start(&p->watchdog, on_watchdog, PULL_EXPIRES_MS + 2000, PULL_EXPIRES_MS + 2000);
}

static void on_tick(uv_timer_t *t);

static void apply_one(cc_projection *p, natsMsg *m, uint64_t seq, int64_t time_ns)
{
    if (seq <= p->applied) {
        p->stats.skipped++;
        return;
    }
    cc_envelope env;
    if (cc_envelope_from_msg(&env, m) != CC_OK)
        cc_envelope_new(&env, NULL); /* the payload still counts */
    cc_projection_event ev = {
        .subject = natsMsg_GetSubject(m),
        .data = natsMsg_GetData(m),
        .len = (size_t)natsMsg_GetDataLength(m),
        .seq = seq,
        .time_ms = time_ns / 1000000,
        .env = &env,
    };
    if (p->stats.events == 0)
        p->t0_ns = cc_now_ns();
    p->def->apply(&ev, p->def->ud);
    p->applied = seq;
    p->stats.events++;
    cc_counter_inc(p->c_events);
    if (p->unflushed++ == 0)
        p->first_unflushed_ms = uv_now(cc_bus_loop(p->bus));
}

static void on_msg(cc_bus *b, natsMsg *m, void *ud)
{
    cc_projection *p = ud;
    const char *reply = natsMsg_GetReply(m);
    const char *status = NULL;
    natsMsgHeader_Get(m, "Status", &status);
    if (!reply || !*reply) {
        /* A status for the open pull: 404/408 it ended, 409 the consumer
         * went away (made again from what is applied), 100 a heartbeat. */
        if (status && strcmp(status, "100") != 0) {
            p->pull_open = false;
            uv_timer_stop(&p->watchdog);
            if (!strcmp(status, "409")) {
                const char *desc = NULL;
                natsMsgHeader_Get(m, "Description", &desc);
                cc_log(CC_LOG_WARN, NULL, "projection pull refused; consumer made again",
                       "{s:s, s:s}", "projection", p->def->name, "why", desc ? desc : "");
                recreate(p);
            } else {
                pull(p);
            }
        }
        cc_bus_msg_release(b, m);
        return;
    }
    uint64_t seq = 0, pending = 0;
    int64_t time_ns = 0;
    if (p->stopped || p->recreating || !cc_projection_parse_reply(reply, &seq, &time_ns, &pending)) {
        cc_bus_msg_release(b, m);
        return;
    }
    apply_one(p, m, seq, time_ns);
    cc_bus_msg_release(b, m);
    p->caught_up = pending == 0;
    if (p->caught_up && !p->caught_up_once) {
        p->caught_up_once = true;
        cc_log(CC_LOG_INFO, NULL, "projection caught up", "{s:s, s:I, s:I}", "projection",
               p->def->name, "position", (json_int_t)p->applied, "events",
               (json_int_t)p->stats.events);
    }
    if (p->caught_up)
        p->rebuilding = false;
    cc_gauge_set(p->g_applied, (int64_t)p->applied);
    if (p->pull_open && --p->pull_remaining <= 0) {
        p->pull_open = false;
        uv_timer_stop(&p->watchdog);
        pull(p);
    }
    if (!p->tick_pending) {
        p->tick_pending = true;
        uv_timer_start(&p->tick_timer, on_tick, 0, 0);
    }
}

/* ---- storing ---------------------------------------------------------------------- */

/* The oldest waiting event has waited max_delay (or a failed store its
 * retry delay): store now. */
static void on_flush_timer(uv_timer_t *t)
{
    cc_projection *p = t->data;
    p->flush_timer_on = false;
    if (!p->flushing && p->unflushed > 0 && p->pg)
        flush_now(p);
}

static void on_tick(uv_timer_t *t)
{
    cc_projection *p = t->data;
    p->tick_pending = false;
    if (p->def->tick && !p->stopped)
        p->def->tick(p->caught_up, p->def->ud);
    maybe_flush(p);
}

static void flushed(cc_status s, const char *errmsg, void *ud)
{
    cc_projection *p = ud;
    p->flushing = false;
    if (s == CC_OK && p->flush_failed) {
        s = CC_INTERNAL;
        errmsg = "the service could not write its rows";
    }
    p->flush_failed = false;
    cc_log(CC_LOG_DEBUG, NULL, "projection stored", "{s:s, s:I, s:I, s:f}", "projection",
           p->def->name, "upto", (json_int_t)p->flushing_upto, "events",
           (json_int_t)p->flushing_count, "ms", (double)(cc_now_ns() - p->flush_started_ns) / 1e6);
    if (s == CC_OK) {
        p->stored = p->flushing_upto;
        p->unflushed -= p->flushing_count;
        p->stats.flushes++;
        p->stats.seconds = (double)(cc_now_ns() - p->t0_ns) / 1e9;
        cc_gauge_set(p->g_stored, (int64_t)p->stored);
        if (p->unflushed > 0)
            p->first_unflushed_ms = uv_now(cc_bus_loop(p->bus));
    } else {
        cc_log(CC_LOG_WARN, NULL, "projection not stored; retrying", "{s:s, s:I, s:s}",
               "projection", p->def->name, "upto", (json_int_t)p->flushing_upto, "error",
               errmsg ? errmsg : cc_status_str(s));
    }
    p->def->flushed(s, p->flushing_upto, p->def->ud);
    if (s != CC_OK && !p->flush_timer_on) {
        p->flush_timer_on = true;
        uv_timer_start(&p->flush_timer, on_flush_timer, RETRY_MS, 0);
    }
    if (s == CC_OK) {
        pull(p);
        maybe_flush(p);
    }
    finish_if_done(p);
}

static void flush_now(cc_projection *p)
{
    if (p->flush_timer_on) {
        uv_timer_stop(&p->flush_timer);
        p->flush_timer_on = false;
    }
    cc_pg_tx *tx = NULL;
    cc_status s = cc_pg_begin(p->pg, &tx);
    if (s != CC_OK) {
        cc_log(CC_LOG_WARN, NULL, "projection not stored; retrying", "{s:s, s:s}", "projection",
               p->def->name, "error", cc_err_msg());
        p->flush_timer_on = true;
        uv_timer_start(&p->flush_timer, on_flush_timer, RETRY_MS, 0);
        return;
    }
    p->flushing = true;
    p->flush_started_ns = cc_now_ns();
    p->flushing_upto = p->applied;
    p->flushing_count = p->unflushed;
    s = p->def->flush(tx, p->stored, p->applied, p->def->ud);
    char pos[32], version[16];
    snprintf(pos, sizeof pos, "%" PRIu64, p->applied);
    snprintf(version, sizeof version, "%d", p->def->version);
    cc_pg_param prm[] = {CC_PG_TEXT(p->def->name), CC_PG_TEXT(version), CC_PG_TEXT(pos)};
    if (s == CC_OK)
        s = cc_pg_tx_query(tx,
                           "INSERT INTO " CC_PROJECTION_TABLE " (name, version, position) "
                           "VALUES ($1, $2::int, $3::bigint) ON CONFLICT (name) DO UPDATE SET "
                           "position = EXCLUDED.position, updated_at = now()",
                           prm, 3, NULL, NULL);
    if (s != CC_OK) {
        p->flush_failed = true;
        cc_pg_tx_rollback(tx, flushed, p);
    }
    else
        cc_pg_tx_commit(tx, flushed, p);
}

static void maybe_flush(cc_projection *p)
{
    if (p->flushing || p->unflushed == 0 || !p->pg)
        return;
    bool big = p->rebuilding || p->o.until_caught_up;
    uint64_t events = (uint64_t)(p->o.flush_events > 0 ? p->o.flush_events : big ? 50000 : 4096);
    int64_t delay = p->o.max_delay_ms > 0 ? p->o.max_delay_ms : big ? 1000 : 20;
    uint64_t age = uv_now(cc_bus_loop(p->bus)) - p->first_unflushed_ms;
    if (p->caught_up || p->stopped || p->unflushed >= events || age >= (uint64_t)delay) {
        flush_now(p);
        return;
    }
    if (p->flush_timer_on)
        return;
    p->flush_timer_on = true;
    uv_timer_start(&p->flush_timer, on_flush_timer, (uint64_t)delay - age, 0);
}

/* ---- start, stop, free -------------------------------------------------------------- */

cc_status cc_projection_start(cc_projection *p, cc_bus *b, cc_pg *pg,
                              const cc_projection_options *o)
{
    if (p->started)
        return cc_err_set(CC_INVALID, "projection %s started twice", p->def->name);
    p->bus = p->work_bus = b;
    p->pg = pg;
    if (o)
        p->o = *o;
    bool reader = p->o.reader_url && p->o.reader_url[0];
    if (reader) {
        char name[96];
        snprintf(name, sizeof name, "cc-%s", p->o.reader_service ? p->o.reader_service : "reader");
        cc_bus_options bo = {.url = p->o.reader_url,
                             .name = name,
                             .user =
                                 p->o.reader_user && p->o.reader_user[0] ? p->o.reader_user : NULL,
                             .password = p->o.reader_password ? p->o.reader_password : "",
                             .service = p->o.reader_service,
                             .send_asap = true,
                             .ca_file = cc_bus_ca_file(b) ? cc_bus_ca_file(b) : ""};
        cc_status s = cc_bus_connect(cc_bus_loop(b), &bo, &p->bus);
        if (s != CC_OK)
            return s;
        p->own_bus = true;
    } else {
        cc_log(CC_LOG_WARN, NULL,
               "projection reads CC_EVENTS through the service's own connection (set its reader)",
               "{s:s}", "projection", p->def->name);
    }
    /* The pull's replies come to the reading connection's inbox: the
     * reader may subscribe to _INBOX.<service>-reader only. */
    p->inbox_len = cc_bus_new_inbox(p->bus, p->inbox, sizeof p->inbox);
    uv_loop_t *loop = cc_bus_loop(b);
    uv_timer_t *timers[] = {&p->watchdog, &p->tick_timer, &p->flush_timer};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = p;
    }
    p->handles_init = true;
    p->started = true;
    cc_bus_work_begin(p->work_bus);
    p->work_counted = true;
    setup *su = calloc(1, sizeof *su);
    if (!su)
        return cc_err_set(CC_NOMEM, "out of memory");
    su->p = p;
    su->from = p->applied + 1;
    p->recreating = true;
    cc_status s = cc_bus_offload(b, setup_work, setup_done, su);
    if (s != CC_OK) {
        p->recreating = false;
        free(su);
    }
    return s;
}

static void stopped_now(cc_projection *p)
{
    if (p->work_counted) {
        p->work_counted = false;
        cc_bus_work_end(p->work_bus);
    }
    if (p->stop_done) {
        void (*d)(void *) = p->stop_done;
        p->stop_done = NULL;
        d(p->stop_ud);
    }
}

static void reader_closed(void *ud)
{
    cc_projection *p = ud;
    p->bus_closed = true;
    if (p->freed) {
        if (p->open_handles == 0)
            free(p);
        return;
    }
    stopped_now(p);
}

static void finish_if_done(cc_projection *p)
{
    if (p->o.until_caught_up && p->caught_up_once && p->unflushed == 0 && !p->flushing &&
        !p->recreating)
        call_done(p, CC_OK);
    if (!p->stopped || p->flushing || p->recreating)
        return;
    if (p->unflushed > 0 && p->pg && !p->flush_timer_on) {
        flush_now(p);
        return;
    }
    if (p->unflushed > 0 && p->flush_timer_on)
        return; /* a failed store is retried; the drain's timeout bounds the wait */
    if (p->own_bus && !p->bus_closing) {
        /* The reader's connection goes first; the work ends when it is
         * closed. */
        p->bus_closing = true;
        cc_bus_close(p->bus, reader_closed, p);
        return;
    }
    if (p->own_bus && !p->bus_closed)
        return;
    stopped_now(p);
}

void cc_projection_stop(cc_projection *p, void (*done)(void *ud), void *ud)
{
    if (p->stopped)
        return;
    p->stopped = true;
    p->stop_done = done;
    p->stop_ud = ud;
    if (!p->started) {
        if (done)
            done(ud);
        return;
    }
    if (p->sub) {
        cc_bus_unsubscribe(p->sub);
        p->sub = NULL;
    }
    uv_timer_stop(&p->watchdog);
    uv_timer_stop(&p->tick_timer);
    p->tick_pending = false;
    finish_if_done(p);
}

static void handle_closed(uv_handle_t *h)
{
    cc_projection *p = h->data;
    if (--p->open_handles == 0 && p->freed && (!p->own_bus || p->bus_closed))
        free(p);
}

void cc_projection_free(cc_projection *p)
{
    if (!p)
        return;
    if (!p->stopped)
        cc_projection_stop(p, NULL, NULL);
    if (p->work_counted) {
        p->work_counted = false;
        cc_bus_work_end(p->work_bus);
    }
    if (p->own_bus && !p->bus_closing) {
        p->bus_closing = true;
        cc_bus_close(p->bus, reader_closed, p);
    }
    PQfinish(p->lock_conn); /* lets go of the advisory lock */
    p->lock_conn = NULL;
    p->freed = true;
    if (!p->handles_init) {
        free(p);
        return;
    }
    uv_timer_t *timers[] = {&p->watchdog, &p->tick_timer, &p->flush_timer};
    for (int i = 0; i < 3; i++) {
        p->open_handles++;
        uv_close((uv_handle_t *)timers[i], handle_closed);
    }
}

uint64_t cc_projection_applied(const cc_projection *p)
{
    return p->applied;
}

uint64_t cc_projection_stored(const cc_projection *p)
{
    return p->stored;
}

bool cc_projection_rebuilding(const cc_projection *p)
{
    return p->rebuilding;
}

bool cc_projection_caught_up(const cc_projection *p)
{
    return p->caught_up_once;
}

void cc_projection_get_stats(const cc_projection *p, cc_projection_stats *out)
{
    *out = p->stats;
}

/* ---- an actor whose state is a projection ---------------------------------- */

void cc_projection_actor_args(cc_projection_actor *pa, cc_actor_def *def, int *argc,
                              char ***argv)
{
    if (*argc < 2 || strcmp((*argv)[1], "rebuild") != 0)
        return;
    pa->rebuild = true;
    def->methods = NULL;
    def->nmethods = 0;
    (*argv)[1] = (*argv)[0];
    (*argv)++;
    (*argc)--;
}

/* The projection's done: a failure ends the process; a rebuild that
 * reached the end reports and shuts the actor down. */
static void actor_done(cc_status s, void *ud)
{
    cc_projection_actor *pa = ud;
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "read model not made", "{s:s}", "error", cc_err_msg());
        cc_actor_exit(pa->actor, 1);
        return;
    }
    if (!pa->rebuild)
        return;
    cc_projection_stats ps;
    cc_projection_get_stats(pa->proj, &ps);
    double rate = ps.seconds > 0 ? (double)ps.events / ps.seconds : 0;
    uint64_t stored = cc_projection_stored(pa->proj);
    cc_log(CC_LOG_INFO, NULL, "rebuilt", "{s:I, s:I, s:f, s:f, s:I}", "events",
           (json_int_t)ps.events, "position", (json_int_t)stored, "seconds", ps.seconds,
           "events_per_second", rate, "flushes", (json_int_t)ps.flushes);
    printf("cc-%s rebuild: %" PRIu64 " events replayed to position %" PRIu64
           " in %.3f s (%.0f events/s, %" PRIu64 " stores)\n",
           cc_actor_def_of(pa->actor)->service, ps.events, stored, ps.seconds, rate,
           ps.flushes);
    fflush(stdout);
    cc_actor_shutdown(pa->actor);
}

cc_status cc_projection_actor_start(cc_projection_actor *pa, cc_actor *a,
                                    const cc_projection_def *def, void *state)
{
    pa->actor = a;
    cc_status s = cc_actor_migrate(a, pa->conninfo, pa->migrations);
    IFOK(s, cc_projection_open(pa->conninfo, def, pa->rebuild, &pa->proj));
    IFOK(s, cc_actor_open_db(a, pa->conninfo, &pa->pg, pa->rebuild ? NULL : &pa->relay));
    if (s != CC_OK)
        return s;
    cc_actor_set_state(a, state);
    snprintf(pa->reader_service, sizeof pa->reader_service, "%s-reader",
             cc_actor_def_of(a)->service);
    cc_projection_options po = {.until_caught_up = pa->rebuild,
                                .done = actor_done,
                                .ud = pa,
                                .reader_service = pa->reader_service};
    const cc_projection_reader *r = pa->reader;
    if (r && (r->url[0] || r->user[0])) {
        po.reader_url = r->url[0] ? r->url : cc_actor_runtime(a)->nats_url;
        po.reader_user = r->user;
        po.reader_password = r->password;
    }
    return cc_projection_start(pa->proj, cc_actor_bus(a), pa->pg, &po);
}

void cc_projection_actor_drain(cc_projection_actor *pa)
{
    if (pa->proj)
        cc_projection_stop(pa->proj, NULL, NULL);
    cc_actor_stop_relay(&pa->relay);
}

void cc_projection_actor_stop(cc_projection_actor *pa)
{
    cc_projection_free(pa->proj);
    pa->proj = NULL;
    cc_actor_close_db(&pa->pg);
}
