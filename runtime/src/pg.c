/* Asynchronous libpq on the loop. See cc/pg.h for the model.
 *
 * Shape: a pool of connection slots (plus one listener slot), and
 * "claims": a query, a batch or a transaction that needs one connection
 * for a while. A claim waits in a FIFO until a connection can take it. A
 * transaction or a batch then owns its connection until its last
 * statement is done; single queries share connections instead, up to
 * PIPE_MAX in flight on one (they are independent: each has its own
 * Sync), so under load one wakeup of a backend serves many queries.
 * Statements are written at once (pipeline mode, a Sync after each) and
 * their results are read back in order from the connection's in-flight
 * list.
 *
 * Prepared statements: a statement text seen a second time on a
 * connection is prepared there (named cc_p<slot>) and executed by name
 * from then on, which spares the server parsing and planning it again.
 * The Parse travels in the same pipeline as the first execution.
 *
 * Re-entrancy: user callbacks may issue queries, end transactions or close
 * the pool. So a lost connection found while sending is only marked
 * (c->broken) and handled from the kick timer, and closing happens from the
 * kick timer too, never inside a read loop. */
#include "cc/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/trace.h"

enum { C_DOWN, C_CONNECTING, C_READY };
enum { K_USER, K_BEGIN, K_END, K_INTERNAL };
enum { CL_QUERY, CL_BATCH, CL_TX };
enum { MAX_CHANNELS = 8, SWEEP_MS = 50 };
/* Single queries in flight on one connection; statement texts remembered
 * per connection (a power of two; once full, new texts run unprepared). */
enum { PIPE_MAX = 16, PREP_SLOTS = 256 };

typedef struct claim claim;
typedef struct conn conn;

typedef struct stmt {
    struct stmt *next;
    claim *cl; /* NULL once reported early (timeout) or for internal ones */
    const char *sql;
    int n;
    const char **values;
    int *lengths;
    int *formats;
    cc_pg_cb cb;
    void *ud;
    int kind;
    bool reported;
    bool got_null; /* every result read; the Sync is next */
    int prep_pending;  /* a Parse was sent first: its NULL is still to come */
    bool prep_failed;  /* and it failed: the name was not created */
    int prep_slot;     /* the connection's prepared slot used, or -1 */
    uint64_t deadline_ns;
    PGresult *res;
    cc_span span;    /* from issue to result: "<OPERATION> <table>" */
    char parent[56]; /* the issuer's traceparent, current again in cb */
} stmt;

struct claim {
    cc_pg *pg;
    int kind;
    conn *c;
    stmt *pend_h, *pend_t; /* issued, waiting for a connection */
    int outstanding;       /* issued and not yet reported */
    claim *qnext;          /* wait queue */
    claim *lprev, *lnext;  /* every live claim of the pool */
    claim *later_next;     /* deferred finish */
    bool queued, ended, broken, rollback, finished, on_later;
    cc_status first_err;
    char errmsg[256];
    cc_status end_status; /* ROLLBACK's own outcome */
    cc_pg_done_cb done;
    void *done_ud;
    uint64_t wait_deadline_ns;
};

struct cc_pg_tx {
    claim cl;
};
struct cc_pg_batch {
    claim cl;
};

/* A statement text known on one connection: seen once, or prepared. */
typedef struct prep {
    uint64_t hash;
    char *sql;
    bool prepared;
    bool unnamed; /* its plan went stale (the schema changed): run it unprepared */
} prep;

struct conn {
    cc_pg *pg;
    int idx;
    bool listener;
    PGconn *pq;
    uv_poll_t *poll;
    int poll_fd;
    ino_t poll_ino;
    int poll_events;
    int state;
    uv_timer_t retry;
    int64_t backoff_ms;
    uint64_t connect_deadline_ns;
    uint64_t cancel_deadline_ns; /* drop the connection if still stuck then */
    claim *cl; /* the transaction or batch that owns it; NULL for shared queries */
    stmt *inf_h, *inf_t;
    int ninf;
    prep *preps; /* PREP_SLOTS, open addressing; allocated on first use */
    int npreps;
    bool broken;
    bool ever_up;
    char why[256];
};

typedef struct listen_ch {
    char name[64];
    cc_pg_notify_cb cb;
    void *ud;
    bool active;
} listen_ch;

struct cc_pg {
    uv_loop_t *loop;
    char *conninfo;
    char name[64];
    int nconns; /* query connections; conns[nconns] is the listener */
    conn *conns;
    bool listener_on;
    listen_ch channels[MAX_CHANNELS];
    claim *wait_h, *wait_t;
    int nwaiting, max_waiting;
    claim *claims;
    claim *later;
    int64_t query_timeout_ms, connect_timeout_ms, reconnect_max_ms;
    int up;
    bool unavailable;
    char last_err[256];
    bool closing, torn_down;
    uv_timer_t sweep, kick;
    int handles;
    void (*close_done)(void *);
    void *close_ud;
};

static cc_counter *m_queries, *m_errors, *m_lost;
static cc_histogram *m_latency;

static void metrics_init(void)
{
    if (m_queries)
        return;
    m_queries = cc_metrics_counter("cc_pg_statements_total", "PostgreSQL statements run", NULL);
    m_errors = cc_metrics_counter("cc_pg_statement_errors_total",
                                  "PostgreSQL statements that failed", NULL);
    m_lost = cc_metrics_counter("cc_pg_connections_lost_total",
                                "PostgreSQL connections lost or refused", NULL);
    m_latency = cc_metrics_histogram("cc_pg_pool_wait_seconds",
                                     "Time a claim waited for a free connection", NULL, NULL, 0);
}

static uint64_t ms_ns(int64_t ms)
{
    return (uint64_t)ms * 1000000ull;
}

/* Copies the first line of a libpq message (they end with a newline). */
static void copy_msg(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strcspn(src, "\n") : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void on_kick(uv_timer_t *t);

/* Runs deferred work from a fresh stack on the next loop iteration. */
static void kick(cc_pg *pg)
{
    if (!pg->torn_down)
        uv_timer_start(&pg->kick, on_kick, 0, 0);
}

/* ---- handles ---------------------------------------------------------------- */

static void maybe_free_pool(cc_pg *pg)
{
    if (!pg->torn_down || pg->handles > 0)
        return;
    void (*done)(void *) = pg->close_done;
    void *ud = pg->close_ud;
    free(pg->conninfo);
    free(pg->conns);
    free(pg);
    if (done)
        done(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    cc_pg *pg = h->data;
    pg->handles--;
    maybe_free_pool(pg);
}

static void on_poll_closed(uv_handle_t *h)
{
    cc_pg *pg = ((conn *)h->data)->pg;
    free(h);
    pg->handles--;
    maybe_free_pool(pg);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void poll_drop(conn *c)
{
    if (!c->poll)
        return;
    /* Stopping removes the fd from epoll at once, so libpq may close it
     * right after this. */
    uv_poll_stop(c->poll);
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
}

static void poll_set(conn *c, int events)
{
    if (c->poll && events != c->poll_events) {
        uv_poll_start(c->poll, events, on_poll);
        c->poll_events = events;
    }
}

/* Watches the connection's current socket. libpq may open a new socket
 * during connection (another address, SSL fallback), possibly with the
 * same number, so the inode tells sockets apart. */
static int poll_attach(conn *c)
{
    int fd = PQsocket(c->pq);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    if (c->poll && c->poll_fd == fd && c->poll_ino == st.st_ino)
        return 0;
    poll_drop(c);
    uv_poll_t *p = malloc(sizeof *p);
    if (!p)
        return -1;
    if (uv_poll_init(c->pg->loop, p, fd) != 0) {
        free(p);
        return -1;
    }
    p->data = c;
    c->pg->handles++;
    c->poll = p;
    c->poll_fd = fd;
    c->poll_ino = st.st_ino;
    c->poll_events = 0;
    return 0;
}

/* ---- statements ------------------------------------------------------------ */

/* A statement's name for its span, "SELECT submissions": the first word
 * and the table after the first FROM, INTO or UPDATE outside parentheses
 * (so not extract(epoch FROM ...)). Never the text itself, which may hold
 * literal values. */
static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

static void stmt_span_name(const char *sql, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = sql;
    while (*p && !is_word(*p))
        p++;
    while (n + 1 < cap && n < 16 && is_word(*p) && *p != '.')
        out[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p), p++;
    out[n] = '\0';
    bool update = !strcmp(out, "UPDATE");
    int depth = 0;
    const char *table = update ? p : NULL;
    for (; *p && !table; p++) {
        if (*p == '(' || *p == ')') {
            depth += *p == '(' ? 1 : -1;
            continue;
        }
        if (*p == '\'') { /* a literal: skip it whole */
            for (p++; *p && *p != '\''; p++)
                ;
            if (!*p)
                break;
            continue;
        }
        if (depth == 0 && p > sql && !is_word(p[-1]) &&
            (!strncasecmp(p, "FROM", 4) || !strncasecmp(p, "INTO", 4)) && !is_word(p[4]))
            table = p + 4;
    }
    if (!table || n + 2 >= cap)
        return;
    while (*table && !is_word(*table))
        table++;
    out[n++] = ' ';
    while (n + 1 < cap && is_word(*table))
        out[n++] = *table++;
    out[n] = '\0';
}

static stmt *stmt_new(const char *sql, const cc_pg_param *params, int n, cc_pg_cb cb, void *ud,
                      int kind, int64_t timeout_ms)
{
    size_t sqllen = strlen(sql) + 1;
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i].data)
            continue;
        size_t l = params[i].len < 0 ? strlen(params[i].data) : (size_t)params[i].len;
        bytes += l + 1;
    }
    size_t size = sizeof(stmt) + (size_t)n * (sizeof(char *) + 2 * sizeof(int)) + sqllen + bytes;
    stmt *st = calloc(1, size);
    if (!st)
        return NULL;
    char *p = (char *)(st + 1);
    st->values = (const char **)p;
    p += (size_t)n * sizeof(char *);
    st->lengths = (int *)p;
    p += (size_t)n * sizeof(int);
    st->formats = (int *)p;
    p += (size_t)n * sizeof(int);
    memcpy(p, sql, sqllen);
    st->sql = p;
    p += sqllen;
    for (int i = 0; i < n; i++) {
        st->formats[i] = params[i].binary ? 1 : 0;
        if (!params[i].data) {
            st->values[i] = NULL;
            st->lengths[i] = 0;
            continue;
        }
        size_t l = params[i].len < 0 ? strlen(params[i].data) : (size_t)params[i].len;
        memcpy(p, params[i].data, l);
        p[l] = '\0';
        st->values[i] = p;
        st->lengths[i] = (int)l;
        p += l + 1;
    }
    st->n = n;
    st->cb = cb;
    st->ud = ud;
    st->kind = kind;
    st->prep_slot = -1;
    st->deadline_ns = cc_now_ns() + ms_ns(timeout_ms);
    if (kind != K_INTERNAL && cc_trace_enabled() && cc_trace_current()) {
        memcpy(st->parent, cc_trace_current(), sizeof st->parent);
        char name[64];
        stmt_span_name(sql, name, sizeof name);
        cc_span_start(&st->span, name, CC_SPAN_CLIENT, st->parent);
        cc_span_attr(&st->span, "db.system", "postgresql");
        cc_span_attr(&st->span, "db.operation", name);
    }
    return st;
}

static cc_status check_args(const char *sql, const cc_pg_param *params, int n)
{
    if (!sql || n < 0 || n > 65535 || (n > 0 && !params))
        return cc_err_set(CC_INVALID, "pg: bad statement arguments (%d parameters)", n);
    for (int i = 0; i < n; i++)
        if (params[i].data && params[i].binary && params[i].len < 0)
            return cc_err_set(CC_INVALID, "pg: binary parameter $%d needs a length", i + 1);
    return CC_OK;
}

static void claim_check(claim *cl);
static void claim_break(claim *cl, cc_status s, const char *why);

/* Runs the statement's callback once and counts it done for its claim. */
static void report(stmt *st, cc_status s, const char *msg)
{
    if (st->reported)
        return;
    st->reported = true;
    claim *cl = st->cl;
    st->cl = NULL;
    char buf[256];
    const PGresult *r = st->res;
    if (s == CC_OK && r) {
        ExecStatusType es = PQresultStatus(r);
        if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK && es != PGRES_EMPTY_QUERY) {
            s = cc_pg_status_of_sqlstate(PQresultErrorField(r, PG_DIAG_SQLSTATE));
            if (es == PGRES_PIPELINE_ABORTED)
                s = CC_DB;
            copy_msg(buf, sizeof buf, PQresultErrorMessage(r));
            msg = buf[0] ? buf : "statement failed";
        }
    }
    cc_counter_inc(m_queries);
    if (s != CC_OK) {
        cc_counter_inc(m_errors);
        if (!msg)
            msg = cc_status_str(s);
    } else {
        msg = NULL;
    }
    if (cl) {
        if (st->kind == K_END) {
            cl->end_status = s;
            /* COMMIT of a transaction the server had already aborted
             * answers "ROLLBACK" without an error. */
            if (s == CC_OK && !cl->rollback && r &&
                !strcmp(PQcmdStatus((PGresult *)r), "ROLLBACK") && cl->first_err == CC_OK) {
                cl->first_err = CC_CONFLICT;
                copy_msg(cl->errmsg, sizeof cl->errmsg, "transaction was rolled back");
            }
        }
        if (s != CC_OK && cl->first_err == CC_OK) {
            cl->first_err = s;
            copy_msg(cl->errmsg, sizeof cl->errmsg, msg);
        }
    } else if (st->kind == K_INTERNAL && s != CC_OK) {
        cc_log(CC_LOG_WARN, NULL, "pg internal statement failed", "{s:s, s:s}", "sql", st->sql,
               "error", msg);
    }
    if (s != CC_OK)
        cc_span_fail(&st->span, cc_status_name(s));
    cc_span_end(&st->span);
    char saved[56];
    cc_trace_push(st->parent, saved);
    if (st->cb)
        st->cb(s, msg, r, st->ud);
    cc_trace_pop(saved);
    if (cl) {
        cl->outstanding--;
        claim_check(cl);
    }
}

static void stmt_free(stmt *st)
{
    PQclear(st->res);
    free(st);
}

/* ---- connections ------------------------------------------------------------- */

static void conn_start(conn *c);
static void dispatch(cc_pg *pg);

static void on_retry(uv_timer_t *t)
{
    conn *c = t->data;
    if (!c->pg->closing)
        conn_start(c);
}

static void schedule_retry(conn *c)
{
    uv_timer_start(&c->retry, on_retry, (uint64_t)c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
    if (c->backoff_ms > c->pg->reconnect_max_ms)
        c->backoff_ms = c->pg->reconnect_max_ms;
}

static void fail_waiting(cc_pg *pg, cc_status s, const char *why)
{
    while (pg->wait_h) {
        claim *cl = pg->wait_h;
        pg->wait_h = cl->qnext;
        if (!pg->wait_h)
            pg->wait_t = NULL;
        pg->nwaiting--;
        cl->queued = false;
        claim_break(cl, s, why);
    }
}

static void pool_unavailable(cc_pg *pg, const char *why)
{
    pg->unavailable = true;
    copy_msg(pg->last_err, sizeof pg->last_err, why);
    fail_waiting(pg, CC_UNAVAILABLE, why);
}

/* ---- prepared statements ------------------------------------------------------ */

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Forgets every statement the connection knew (its session is gone). */
static void prep_clear(conn *c)
{
    if (!c->preps)
        return;
    for (int i = 0; i < PREP_SLOTS; i++)
        free(c->preps[i].sql);
    free(c->preps);
    c->preps = NULL;
    c->npreps = 0;
}

/* The slot of sql on c: found, or made (*fresh: this is its first
 * sighting); -1 when the table is full or memory is short. */
static int prep_slot(conn *c, const char *sql, bool *fresh)
{
    *fresh = false;
    if (!c->preps && !(c->preps = calloc(PREP_SLOTS, sizeof *c->preps)))
        return -1;
    uint64_t h = sql_hash(sql);
    for (int k = 0; k < PREP_SLOTS; k++) {
        int i = (int)((h + (uint64_t)k) & (PREP_SLOTS - 1));
        prep *e = &c->preps[i];
        if (!e->sql) {
            /* Keep a quarter free so probes stay short. */
            if (c->npreps >= PREP_SLOTS * 3 / 4 || !(e->sql = strdup(sql)))
                return -1;
            e->hash = h;
            e->prepared = false;
            c->npreps++;
            *fresh = true;
            return i;
        }
        if (e->hash == h && strcmp(e->sql, sql) == 0)
            return i;
    }
    return -1;
}

/* Closes the socket and fails whatever ran on it with s. */
static void conn_reset(conn *c, cc_status s, const char *why)
{
    bool was_ready = c->state == C_READY;
    poll_drop(c);
    if (c->pq)
        PQfinish(c->pq);
    c->pq = NULL;
    c->state = C_DOWN;
    c->broken = false;
    c->cancel_deadline_ns = 0;
    if (was_ready && !c->listener)
        c->pg->up--;
    claim *cl = c->cl;
    c->cl = NULL;
    if (cl) {
        cl->c = NULL;
        cl->broken = true;
        if (cl->first_err == CC_OK) {
            cl->first_err = s;
            copy_msg(cl->errmsg, sizeof cl->errmsg, why);
        }
        cl->outstanding++; /* hold it while its statements are failed */
    }
    prep_clear(c);
    while (c->inf_h) {
        stmt *st = c->inf_h;
        c->inf_h = st->next;
        if (!c->inf_h)
            c->inf_t = NULL;
        c->ninf--;
        report(st, s, why);
        stmt_free(st);
    }
    if (cl) {
        cl->outstanding--;
        claim_check(cl);
    }
}

static void conn_lost(conn *c, const char *why)
{
    char msg[256];
    copy_msg(msg, sizeof msg, why);
    cc_counter_inc(m_lost);
    cc_log(CC_LOG_WARN, NULL, "pg connection lost", "{s:s, s:i, s:s}", "pool", c->pg->name, "slot",
           c->idx, "error", msg);
    conn_reset(c, CC_UNAVAILABLE, msg);
    c->backoff_ms = 0; /* try again at once: a restart is often quick */
    schedule_retry(c);
    if (!c->listener && c->pg->up == 0)
        copy_msg(c->pg->last_err, sizeof c->pg->last_err, msg);
}

static void conn_failed(conn *c, const char *why)
{
    char msg[256];
    copy_msg(msg, sizeof msg, why);
    cc_counter_inc(m_lost);
    cc_log(c->ever_up || c->backoff_ms <= 100 ? CC_LOG_WARN : CC_LOG_DEBUG, NULL,
           "pg connect failed", "{s:s, s:i, s:s}", "pool", c->pg->name, "slot", c->idx, "error",
           msg);
    c->ever_up = false;
    conn_reset(c, CC_UNAVAILABLE, msg);
    schedule_retry(c);
    if (!c->listener && c->pg->up == 0)
        pool_unavailable(c->pg, msg);
}

static void mark_broken(conn *c, const char *why)
{
    if (c->broken)
        return;
    c->broken = true;
    copy_msg(c->why, sizeof c->why, why);
    kick(c->pg);
}

static void conn_flush(conn *c)
{
    int r = PQflush(c->pq);
    if (r < 0)
        mark_broken(c, PQerrorMessage(c->pq));
    else
        poll_set(c, r ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

/* Writes st and its Sync; the results come back in order. A user
 * statement seen before on this connection runs prepared (its Parse goes
 * first, in the same pipeline, the second time it is seen). */
static void conn_send(conn *c, stmt *st)
{
    st->next = NULL;
    if (c->inf_t)
        c->inf_t->next = st;
    else
        c->inf_h = st;
    c->inf_t = st;
    c->ninf++;
    if (c->broken || c->state != C_READY)
        return; /* conn_lost will fail it */
    bool fresh = false;
    int slot = st->kind == K_USER ? prep_slot(c, st->sql, &fresh) : -1;
    bool ok;
    if (slot >= 0 && !fresh && !c->preps[slot].unnamed) {
        char name[16];
        snprintf(name, sizeof name, "cc_p%d", slot);
        ok = true;
        if (!c->preps[slot].prepared) {
            /* The second sighting: prepare now. */
            ok = PQsendPrepare(c->pq, name, st->sql, st->n, NULL) == 1;
            c->preps[slot].prepared = true;
            st->prep_pending = 1;
        }
        st->prep_slot = slot;
        ok = ok && PQsendQueryPrepared(c->pq, name, st->n, st->values, st->lengths, st->formats,
                                       0) == 1;
    } else {
        ok = PQsendQueryParams(c->pq, st->sql, st->n, NULL, st->values, st->lengths, st->formats,
                               0) == 1;
    }
    if (!ok || !PQpipelineSync(c->pq)) {
        mark_broken(c, PQerrorMessage(c->pq));
        return;
    }
    conn_flush(c);
}

static bool conn_usable(const conn *c)
{
    return c->state == C_READY && !c->broken && !c->listener && !c->cl;
}

static bool conn_free(const conn *c)
{
    return conn_usable(c) && !c->inf_h;
}

/* The connection cl should run on now, or NULL: a transaction or a batch
 * needs one to itself; a single query shares the least busy one. */
static conn *conn_for(cc_pg *pg, const claim *cl)
{
    conn *best = NULL;
    for (int i = 0; i < pg->nconns; i++) {
        conn *c = &pg->conns[i];
        if (cl->kind != CL_QUERY) {
            if (conn_free(c))
                return c;
        } else if (conn_usable(c) && c->ninf < PIPE_MAX && (!best || c->ninf < best->ninf)) {
            best = c;
        }
    }
    return best;
}

static void claim_assign(claim *cl, conn *c)
{
    cl->c = c;
    if (cl->kind != CL_QUERY)
        c->cl = cl;
    while (cl->pend_h) {
        stmt *st = cl->pend_h;
        cl->pend_h = st->next;
        conn_send(c, st);
    }
    cl->pend_t = NULL;
}

/* Hands waiting claims connections, in FIFO order: a transaction at the
 * head waits for a free connection and everything behind it waits too, so
 * shared queries cannot starve it. */
static void dispatch(cc_pg *pg)
{
    conn *c;
    while (pg->wait_h && (c = conn_for(pg, pg->wait_h)) != NULL) {
        claim *cl = pg->wait_h;
        pg->wait_h = cl->qnext;
        if (!pg->wait_h)
            pg->wait_t = NULL;
        pg->nwaiting--;
        cl->queued = false;
        uint64_t waited = cc_now_ns() + ms_ns(pg->query_timeout_ms) - cl->wait_deadline_ns;
        cc_histogram_observe(m_latency, (double)waited / 1e9);
        claim_assign(cl, c);
    }
}

static void send_listens(conn *c);

static void conn_ready(conn *c)
{
    cc_pg *pg = c->pg;
    c->state = C_READY;
    c->backoff_ms = 0;
    if (!PQenterPipelineMode(c->pq)) {
        conn_lost(c, PQerrorMessage(c->pq));
        return;
    }
    poll_set(c, UV_READABLE);
    c->ever_up = true;
    if (c->listener) {
        send_listens(c);
        for (int i = 0; i < MAX_CHANNELS; i++)
            if (pg->channels[i].active)
                pg->channels[i].cb(NULL, NULL, pg->channels[i].ud);
        return;
    }
    pg->up++;
    if (pg->unavailable)
        cc_log(CC_LOG_INFO, NULL, "pg available again", "{s:s}", "pool", pg->name);
    pg->unavailable = false;
    dispatch(pg);
}

static void notice_proc(void *arg, const char *message)
{
    conn *c = arg;
    char msg[256];
    copy_msg(msg, sizeof msg, message);
    cc_log(CC_LOG_DEBUG, NULL, "pg notice", "{s:s, s:s}", "pool", c->pg->name, "notice", msg);
}

static void conn_start(conn *c)
{
    cc_pg *pg = c->pg;
    c->pq = PQconnectStart(pg->conninfo);
    if (!c->pq) {
        conn_failed(c, "out of memory");
        return;
    }
    if (PQstatus(c->pq) == CONNECTION_BAD) {
        conn_failed(c, PQerrorMessage(c->pq));
        return;
    }
    PQsetnonblocking(c->pq, 1);
    PQsetNoticeProcessor(c->pq, notice_proc, c);
    c->state = C_CONNECTING;
    c->connect_deadline_ns = cc_now_ns() + ms_ns(pg->connect_timeout_ms);
    if (poll_attach(c) != 0) {
        conn_failed(c, "cannot watch the connection's socket");
        return;
    }
    /* libpq: behave as if PQconnectPoll had asked for writing. */
    poll_set(c, UV_WRITABLE);
}

static void conn_connect_step(conn *c)
{
    PostgresPollingStatusType r = PQconnectPoll(c->pq);
    if (r == PGRES_POLLING_FAILED) {
        conn_failed(c, PQerrorMessage(c->pq));
        return;
    }
    if (poll_attach(c) != 0) {
        conn_failed(c, "cannot watch the connection's socket");
        return;
    }
    if (r == PGRES_POLLING_READING)
        poll_set(c, UV_READABLE);
    else if (r == PGRES_POLLING_WRITING)
        poll_set(c, UV_WRITABLE);
    else if (r == PGRES_POLLING_OK)
        conn_ready(c);
}

static void deliver_notifies(conn *c)
{
    PGnotify *n;
    while (c->pq && (n = PQnotifies(c->pq)) != NULL) {
        for (int i = 0; i < MAX_CHANNELS; i++) {
            listen_ch *ch = &c->pg->channels[i];
            if (ch->active && !strcmp(ch->name, n->relname))
                ch->cb(n->relname, n->extra ? n->extra : "", ch->ud);
        }
        PQfreemem(n);
    }
}

static void conn_read(conn *c)
{
    if (!PQconsumeInput(c->pq)) {
        conn_lost(c, PQerrorMessage(c->pq));
        return;
    }
    while (c->inf_h && c->state == C_READY && !c->broken) {
        if (PQstatus(c->pq) == CONNECTION_BAD) {
            conn_lost(c, PQerrorMessage(c->pq));
            return;
        }
        if (PQisBusy(c->pq))
            break;
        stmt *st = c->inf_h;
        PGresult *r = PQgetResult(c->pq);
        if (!st->got_null) {
            if (!r) {
                if (st->prep_pending > 0)
                    st->prep_pending--; /* the Parse's end; the execution's follows */
                else
                    st->got_null = true;
                continue;
            }
            if (st->prep_pending > 0 && PQresultStatus(r) != PGRES_COMMAND_OK &&
                PQresultStatus(r) != PGRES_PIPELINE_SYNC)
                st->prep_failed = true;
            if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                mark_broken(c, "pg: pipeline out of step (unexpected Sync)");
                break;
            }
            /* One result per statement in the extended protocol; keep an
             * error over anything else should more arrive. */
            if (!st->res || PQresultStatus(st->res) == PGRES_TUPLES_OK ||
                PQresultStatus(st->res) == PGRES_COMMAND_OK) {
                PQclear(st->res);
                st->res = r;
            } else {
                PQclear(r);
            }
            continue;
        }
        if (!r)
            break;
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
            PQclear(r);
            mark_broken(c, "pg: pipeline out of step (expected Sync)");
            break;
        }
        PQclear(r);
        c->inf_h = st->next;
        if (!c->inf_h)
            c->inf_t = NULL;
        c->ninf--;
        if (!c->inf_h)
            c->cancel_deadline_ns = 0;
        if (st->prep_failed && c->preps) {
            /* The Parse failed, so the name does not exist: prepare again
             * next time (statements already sent with it fail like it). */
            c->preps[st->prep_slot].prepared = false;
        } else if (st->prep_slot >= 0 && c->preps && st->res &&
                   !strcmp(cc_pg_sqlstate(st->res), "0A000")) {
            /* "cached plan must not change result type": a table the
             * prepared text reads changed shape under it. */
            c->preps[st->prep_slot].unnamed = true;
        }
        report(st, CC_OK, NULL);
        stmt_free(st);
    }
    deliver_notifies(c);
    if (c->state == C_READY && !c->broken && PQstatus(c->pq) == CONNECTION_BAD) {
        conn_lost(c, PQerrorMessage(c->pq));
        return;
    }
    if (c->state == C_READY && !c->cl && c->ninf < PIPE_MAX)
        dispatch(c->pg);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    conn *c = h->data;
    if (c->pg->closing || c->poll != h)
        return;
    if (c->state == C_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    if (c->state != C_READY)
        return;
    if (status < 0) {
        /* libuv reports EPOLLERR as UV_EBADF; libpq knows the real reason. */
        if (!PQconsumeInput(c->pq) || PQstatus(c->pq) == CONNECTION_BAD)
            conn_lost(c, PQerrorMessage(c->pq));
        else
            conn_lost(c, "socket error (connection reset)");
        return;
    }
    if (events & UV_WRITABLE)
        conn_flush(c);
    if (c->state == C_READY && (events & UV_READABLE))
        conn_read(c);
}

/* ---- cancel on timeout ------------------------------------------------------- */

typedef struct cancel_req {
    uv_work_t w;
    PGcancel *pc;
    int ok;
    char err[256];
} cancel_req;

static void cancel_work(uv_work_t *w)
{
    cancel_req *q = (cancel_req *)w;
    q->ok = PQcancel(q->pc, q->err, (int)sizeof q->err);
}

static void cancel_after(uv_work_t *w, int status)
{
    cancel_req *q = (cancel_req *)w;
    if (!q->ok)
        cc_log(CC_LOG_WARN, NULL, "pg cancel failed", "{s:s}", "error", q->err);
    PQfreeCancel(q->pc);
    free(q);
}

/* PQcancel opens a new connection and blocks, so it runs on the thread
 * pool; the PGcancel object does not depend on the PGconn. */
static void conn_cancel(conn *c)
{
    if (c->cancel_deadline_ns)
        return;
    int64_t grace = c->pg->query_timeout_ms / 2;
    c->cancel_deadline_ns = cc_now_ns() + ms_ns(grace < 1000 ? 1000 : grace);
    cancel_req *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->pc = PQgetCancel(c->pq);
    if (!q->pc || uv_queue_work(c->pg->loop, &q->w, cancel_work, cancel_after) != 0) {
        PQfreeCancel(q->pc);
        free(q);
    }
}

/* ---- claims -------------------------------------------------------------------- */

static claim *claim_new(cc_pg *pg, int kind, size_t size)
{
    claim *cl = calloc(1, size);
    if (!cl)
        return NULL;
    cl->pg = pg;
    cl->kind = kind;
    cl->lnext = pg->claims;
    if (pg->claims)
        pg->claims->lprev = cl;
    pg->claims = cl;
    return cl;
}

static void claim_free(claim *cl)
{
    cc_pg *pg = cl->pg;
    if (cl->lprev)
        cl->lprev->lnext = cl->lnext;
    else
        pg->claims = cl->lnext;
    if (cl->lnext)
        cl->lnext->lprev = cl->lprev;
    while (cl->pend_h) {
        stmt *st = cl->pend_h;
        cl->pend_h = st->next;
        stmt_free(st);
    }
    free(cl);
}

static void claim_add(claim *cl, stmt *st)
{
    st->cl = cl;
    cl->outstanding++;
    if (cl->c) {
        conn_send(cl->c, st);
        return;
    }
    st->next = NULL;
    if (cl->pend_t)
        cl->pend_t->next = st;
    else
        cl->pend_h = st;
    cl->pend_t = st;
}

static cc_status pool_accepts(cc_pg *pg)
{
    if (pg->closing)
        return cc_err_set(CC_CLOSED, "pg pool %s is closed", pg->name);
    if (pg->unavailable && pg->up == 0)
        return cc_err_set(CC_UNAVAILABLE, "pg %s unavailable: %s", pg->name, pg->last_err);
    if (pg->nwaiting >= pg->max_waiting)
        return cc_err_set(CC_LIMIT, "pg %s: %d claims already wait for a connection", pg->name,
                          pg->nwaiting);
    return CC_OK;
}

/* Gives cl a free connection now, or queues it. */
static void claim_enqueue(claim *cl)
{
    cc_pg *pg = cl->pg;
    cl->wait_deadline_ns = cc_now_ns() + ms_ns(pg->query_timeout_ms);
    conn *c = pg->wait_h ? NULL : conn_for(pg, cl);
    if (c) {
        cc_histogram_observe(m_latency, 0);
        claim_assign(cl, c);
        return;
    }
    cl->queued = true;
    cl->qnext = NULL;
    if (pg->wait_t)
        pg->wait_t->qnext = cl;
    else
        pg->wait_h = cl;
    pg->wait_t = cl;
    pg->nwaiting++;
}

static void claim_finish(claim *cl)
{
    if (cl->finished)
        return;
    cl->finished = true;
    cc_status s;
    char msg[256];
    if (cl->kind == CL_TX && cl->rollback) {
        s = cl->broken ? (cl->first_err ? cl->first_err : CC_UNAVAILABLE) : cl->end_status;
        copy_msg(msg, sizeof msg,
                 s == CC_OK ? "" : (cl->errmsg[0] ? cl->errmsg : cc_status_str(s)));
    } else {
        s = cl->first_err;
        if (s == CC_OK && cl->broken)
            s = CC_UNAVAILABLE;
        copy_msg(msg, sizeof msg, cl->errmsg[0] ? cl->errmsg : cc_status_str(s));
    }
    conn *c = cl->c;
    cl->c = NULL;
    if (c && c->cl == cl)
        c->cl = NULL;
    cc_pg_done_cb done = cl->done;
    void *ud = cl->done_ud;
    cc_pg *pg = cl->pg;
    claim_free(cl);
    if (c && !pg->closing)
        dispatch(pg);
    if (done)
        done(s, s == CC_OK ? NULL : msg, ud);
}

static void claim_check(claim *cl)
{
    if (cl->outstanding == 0 && cl->ended && !cl->on_later)
        claim_finish(cl);
}

/* The claim can no longer run: fail its unsent statements with s. */
static void claim_break(claim *cl, cc_status s, const char *why)
{
    cl->broken = true;
    if (cl->first_err == CC_OK) {
        cl->first_err = s;
        copy_msg(cl->errmsg, sizeof cl->errmsg, why);
    }
    cl->outstanding++; /* hold it while callbacks run */
    while (cl->pend_h) {
        stmt *st = cl->pend_h;
        cl->pend_h = st->next;
        if (!cl->pend_h)
            cl->pend_t = NULL;
        report(st, s, why);
        stmt_free(st);
    }
    cl->outstanding--;
    claim_check(cl);
}

static void finish_later(claim *cl)
{
    cl->on_later = true;
    cl->later_next = cl->pg->later;
    cl->pg->later = cl;
    kick(cl->pg);
}

/* ---- timers ----------------------------------------------------------------- */

static void teardown(cc_pg *pg);

static void on_kick(uv_timer_t *t)
{
    cc_pg *pg = t->data;
    while (pg->later) {
        claim *cl = pg->later;
        pg->later = cl->later_next;
        cl->on_later = false;
        claim_check(cl);
    }
    if (pg->closing) {
        teardown(pg);
        return;
    }
    for (int i = 0; i <= pg->nconns; i++) {
        conn *c = &pg->conns[i];
        if (c->broken)
            conn_lost(c, c->why);
    }
}

static void on_sweep(uv_timer_t *t)
{
    cc_pg *pg = t->data;
    uint64_t now = cc_now_ns();
    while (pg->wait_h && pg->wait_h->wait_deadline_ns <= now) {
        claim *cl = pg->wait_h;
        pg->wait_h = cl->qnext;
        if (!pg->wait_h)
            pg->wait_t = NULL;
        pg->nwaiting--;
        cl->queued = false;
        claim_break(cl, CC_TIMEOUT, "no free connection within the query timeout");
    }
    for (int i = 0; i <= pg->nconns; i++) {
        conn *c = &pg->conns[i];
        if (c->state == C_CONNECTING && c->connect_deadline_ns <= now) {
            conn_failed(c, "connect timed out");
            continue;
        }
        if (c->state != C_READY)
            continue;
        if (c->cancel_deadline_ns && c->cancel_deadline_ns <= now && c->inf_h) {
            conn_lost(c, "statement timed out and the server did not cancel it");
            continue;
        }
        bool expired = false;
        for (stmt *st = c->inf_h; st; st = st->next) {
            if (!st->reported && st->deadline_ns <= now) {
                expired = true;
                claim *cl = st->cl;
                if (cl)
                    cl->outstanding++; /* keep cl while its callbacks run */
                report(st, CC_TIMEOUT, "statement timed out");
                if (cl) {
                    cl->outstanding--;
                    claim_check(cl);
                }
            }
        }
        if (expired && c->state == C_READY && c->pq)
            conn_cancel(c);
    }
}

/* ---- pool ------------------------------------------------------------------- */

cc_status cc_pg_open(uv_loop_t *loop, const cc_pg_options *o, cc_pg **out)
{
    if (!o || !o->conninfo)
        return cc_err_set(CC_INVALID, "pg: conninfo is required");
    metrics_init();
    cc_pg *pg = calloc(1, sizeof *pg);
    if (!pg)
        return CC_NOMEM;
    pg->loop = loop;
    pg->conninfo = strdup(o->conninfo);
    pg->nconns = o->pool_size > 0 ? o->pool_size : 4;
    pg->conns = calloc((size_t)pg->nconns + 1, sizeof *pg->conns);
    if (!pg->conninfo || !pg->conns) {
        free(pg->conninfo);
        free(pg->conns);
        free(pg);
        return CC_NOMEM;
    }
    snprintf(pg->name, sizeof pg->name, "%s", o->name ? o->name : "pg");
    pg->max_waiting = o->max_waiting > 0 ? o->max_waiting : 4096;
    pg->query_timeout_ms = o->query_timeout_ms > 0 ? o->query_timeout_ms : 5000;
    pg->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    pg->reconnect_max_ms = o->reconnect_max_ms > 0 ? o->reconnect_max_ms : 2000;
    uv_timer_init(loop, &pg->sweep);
    uv_timer_init(loop, &pg->kick);
    pg->sweep.data = pg->kick.data = pg;
    pg->handles = 2;
    for (int i = 0; i <= pg->nconns; i++) {
        conn *c = &pg->conns[i];
        c->pg = pg;
        c->idx = i;
        c->listener = i == pg->nconns;
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
        pg->handles++;
    }
    uv_timer_start(&pg->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    for (int i = 0; i < pg->nconns; i++)
        conn_start(&pg->conns[i]);
    *out = pg;
    return CC_OK;
}

bool cc_pg_ready(const cc_pg *pg)
{
    return pg->up > 0;
}

static void teardown(cc_pg *pg)
{
    if (pg->torn_down)
        return;
    fail_waiting(pg, CC_CLOSED, "pool closed");
    for (int i = 0; i <= pg->nconns; i++) {
        conn *c = &pg->conns[i];
        conn_reset(c, CC_CLOSED, "pool closed");
    }
    while (pg->later) {
        claim *cl = pg->later;
        pg->later = cl->later_next;
        cl->on_later = false;
        claim_check(cl);
    }
    /* Transactions the caller never ended go with the pool. */
    while (pg->claims)
        claim_free(pg->claims);
    pg->torn_down = true;
    for (int i = 0; i <= pg->nconns; i++) {
        conn *c = &pg->conns[i];
        c->retry.data = pg;
        uv_close((uv_handle_t *)&c->retry, on_handle_closed);
    }
    uv_close((uv_handle_t *)&pg->sweep, on_handle_closed);
    uv_close((uv_handle_t *)&pg->kick, on_handle_closed);
}

void cc_pg_close(cc_pg *pg, void (*done)(void *ud), void *ud)
{
    if (!pg || pg->closing)
        return;
    pg->closing = true;
    pg->close_done = done;
    pg->close_ud = ud;
    uv_timer_start(&pg->kick, on_kick, 0, 0);
}

cc_status cc_pg_query(cc_pg *pg, const char *sql, const cc_pg_param *params, int n, cc_pg_cb cb,
                      void *ud)
{
    cc_status s = check_args(sql, params, n);
    IFOK(s, pool_accepts(pg));
    if (s != CC_OK)
        return s;
    claim *cl = claim_new(pg, CL_QUERY, sizeof *cl);
    stmt *st = cl ? stmt_new(sql, params, n, cb, ud, K_USER, pg->query_timeout_ms) : NULL;
    if (!st) {
        if (cl)
            claim_free(cl);
        return cc_err_set(CC_NOMEM, "pg: out of memory");
    }
    cl->ended = true;
    claim_add(cl, st);
    claim_enqueue(cl);
    return CC_OK;
}

/* ---- transactions ------------------------------------------------------------ */

cc_status cc_pg_begin(cc_pg *pg, cc_pg_tx **out)
{
    cc_status s = pool_accepts(pg);
    if (s != CC_OK)
        return s;
    claim *cl = claim_new(pg, CL_TX, sizeof(cc_pg_tx));
    stmt *st = cl ? stmt_new("BEGIN", NULL, 0, NULL, NULL, K_BEGIN, pg->query_timeout_ms) : NULL;
    if (!st) {
        if (cl)
            claim_free(cl);
        return cc_err_set(CC_NOMEM, "pg: out of memory");
    }
    claim_add(cl, st);
    claim_enqueue(cl);
    *out = (cc_pg_tx *)cl;
    return CC_OK;
}

cc_status cc_pg_tx_query(cc_pg_tx *tx, const char *sql, const cc_pg_param *params, int n,
                         cc_pg_cb cb, void *ud)
{
    claim *cl = &tx->cl;
    cc_status s = check_args(sql, params, n);
    if (s != CC_OK)
        return s;
    if (cl->ended)
        return cc_err_set(CC_INVALID, "pg: statement after the transaction ended");
    if (cl->broken)
        return cc_err_set(cl->first_err ? cl->first_err : CC_UNAVAILABLE,
                          "pg: transaction lost its connection: %s", cl->errmsg);
    stmt *st = stmt_new(sql, params, n, cb, ud, K_USER, cl->pg->query_timeout_ms);
    if (!st)
        return cc_err_set(CC_NOMEM, "pg: out of memory");
    claim_add(cl, st);
    return CC_OK;
}

bool cc_pg_tx_failed(const cc_pg_tx *tx)
{
    return tx->cl.first_err != CC_OK;
}

static void tx_end(cc_pg_tx *tx, bool rollback, cc_pg_done_cb done, void *ud)
{
    claim *cl = &tx->cl;
    if (cl->ended)
        return;
    cl->ended = true;
    cl->done = done;
    cl->done_ud = ud;
    /* rollback records what the caller asked, which decides what done
     * reports; a failed transaction is rolled back either way. */
    cl->rollback = rollback;
    stmt *st = NULL;
    if (!cl->broken && !cl->pg->closing)
        st = stmt_new(rollback || cl->first_err ? "ROLLBACK" : "COMMIT", NULL, 0, NULL, NULL, K_END,
                      cl->pg->query_timeout_ms);
    if (st) {
        claim_add(cl, st);
        return;
    }
    if (!cl->broken) {
        cl->broken = true;
        if (cl->first_err == CC_OK) {
            cl->first_err = cl->pg->closing ? CC_CLOSED : CC_NOMEM;
            copy_msg(cl->errmsg, sizeof cl->errmsg, cc_status_str(cl->first_err));
        }
    }
    finish_later(cl);
}

void cc_pg_tx_commit(cc_pg_tx *tx, cc_pg_done_cb done, void *ud)
{
    tx_end(tx, false, done, ud);
}

void cc_pg_tx_rollback(cc_pg_tx *tx, cc_pg_done_cb done, void *ud)
{
    tx_end(tx, true, done, ud);
}

/* ---- batches ----------------------------------------------------------------- */

cc_status cc_pg_batch_new(cc_pg *pg, cc_pg_batch **out)
{
    if (pg->closing)
        return cc_err_set(CC_CLOSED, "pg pool %s is closed", pg->name);
    claim *cl = claim_new(pg, CL_BATCH, sizeof(cc_pg_batch));
    if (!cl)
        return cc_err_set(CC_NOMEM, "pg: out of memory");
    *out = (cc_pg_batch *)cl;
    return CC_OK;
}

cc_status cc_pg_batch_add(cc_pg_batch *b, const char *sql, const cc_pg_param *params, int n,
                          cc_pg_cb cb, void *ud)
{
    cc_status s = check_args(sql, params, n);
    if (s != CC_OK)
        return s;
    stmt *st = stmt_new(sql, params, n, cb, ud, K_USER, b->cl.pg->query_timeout_ms);
    if (!st)
        return cc_err_set(CC_NOMEM, "pg: out of memory");
    claim_add(&b->cl, st);
    return CC_OK;
}

cc_status cc_pg_batch_run(cc_pg_batch *b, cc_pg_done_cb done, void *ud)
{
    claim *cl = &b->cl;
    cc_status s = pool_accepts(cl->pg);
    if (s != CC_OK) {
        claim_free(cl);
        return s;
    }
    cl->done = done;
    cl->done_ud = ud;
    cl->ended = true;
    if (!cl->pend_h) {
        finish_later(cl);
        return CC_OK;
    }
    /* Deadlines count from now, not from when the statements were added. */
    uint64_t dl = cc_now_ns() + ms_ns(cl->pg->query_timeout_ms);
    for (stmt *st = cl->pend_h; st; st = st->next)
        st->deadline_ns = dl;
    claim_enqueue(cl);
    return CC_OK;
}

/* ---- notifications ----------------------------------------------------------- */

static void send_listens(conn *c)
{
    for (int i = 0; i < MAX_CHANNELS; i++) {
        listen_ch *ch = &c->pg->channels[i];
        if (!ch->active)
            continue;
        char *id = PQescapeIdentifier(c->pq, ch->name, strlen(ch->name));
        if (!id) {
            mark_broken(c, PQerrorMessage(c->pq));
            return;
        }
        char sql[160];
        snprintf(sql, sizeof sql, "LISTEN %s", id);
        PQfreemem(id);
        stmt *st = stmt_new(sql, NULL, 0, NULL, NULL, K_INTERNAL, c->pg->query_timeout_ms);
        if (!st) {
            mark_broken(c, "out of memory");
            return;
        }
        conn_send(c, st);
    }
}

cc_status cc_pg_listen(cc_pg *pg, const char *channel, cc_pg_notify_cb cb, void *ud)
{
    if (!channel || !*channel || strlen(channel) >= sizeof pg->channels[0].name || !cb)
        return cc_err_set(CC_INVALID, "pg: bad channel name");
    if (pg->closing)
        return cc_err_set(CC_CLOSED, "pg pool %s is closed", pg->name);
    listen_ch *slot = NULL;
    for (int i = 0; i < MAX_CHANNELS && !slot; i++)
        if (!pg->channels[i].active)
            slot = &pg->channels[i];
    if (!slot)
        return cc_err_set(CC_LIMIT, "pg: at most %d channels", MAX_CHANNELS);
    snprintf(slot->name, sizeof slot->name, "%s", channel);
    slot->cb = cb;
    slot->ud = ud;
    slot->active = true;
    conn *c = &pg->conns[pg->nconns];
    if (!pg->listener_on) {
        pg->listener_on = true;
        conn_start(c);
    } else if (c->state == C_READY) {
        /* Re-sending every LISTEN is harmless: LISTEN is idempotent. */
        send_listens(c);
    }
    return CC_OK;
}

bool cc_pg_listening(const cc_pg *pg)
{
    const conn *c = &pg->conns[pg->nconns];
    return pg->listener_on && c->state == C_READY && !c->broken;
}

void cc_pg_unlisten(cc_pg *pg, const char *channel)
{
    for (int i = 0; i < MAX_CHANNELS; i++)
        if (pg->channels[i].active && !strcmp(pg->channels[i].name, channel))
            pg->channels[i].active = false;
}

/* ---- results ------------------------------------------------------------------- */

int cc_pg_nrows(const cc_pg_result *r)
{
    return r ? PQntuples(r) : 0;
}

int cc_pg_ncols(const cc_pg_result *r)
{
    return r ? PQnfields(r) : 0;
}

int cc_pg_colnum(const cc_pg_result *r, const char *name)
{
    return r ? PQfnumber(r, name) : -1;
}

const char *cc_pg_get(const cc_pg_result *r, int row, int col)
{
    const char *v = r ? PQgetvalue(r, row, col) : NULL;
    return v ? v : "";
}

bool cc_pg_isnull(const cc_pg_result *r, int row, int col)
{
    return !r || PQgetisnull(r, row, col);
}

int cc_pg_len(const cc_pg_result *r, int row, int col)
{
    return r ? PQgetlength(r, row, col) : 0;
}

cc_status cc_pg_get_int64(const cc_pg_result *r, int row, int col, int64_t *out)
{
    if (cc_pg_isnull(r, row, col))
        return cc_err_set(CC_INVALID, "pg: value (%d,%d) is NULL", row, col);
    const char *v = PQgetvalue(r, row, col);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return cc_err_set(CC_INVALID, "pg: value (%d,%d) \"%.32s\" is not an integer", row, col, v);
    *out = (int64_t)x;
    return CC_OK;
}

cc_status cc_pg_get_bytea(const cc_pg_result *r, int row, int col, unsigned char **out, size_t *len)
{
    if (cc_pg_isnull(r, row, col))
        return cc_err_set(CC_INVALID, "pg: value (%d,%d) is NULL", row, col);
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!raw)
        return cc_err_set(CC_NOMEM, "pg: out of memory decoding bytea");
    /* PQunescapeBytea's buffer must go to PQfreemem; callers free(). */
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy) {
        PQfreemem(raw);
        return cc_err_set(CC_NOMEM, "pg: out of memory decoding bytea");
    }
    if (n)
        memcpy(copy, raw, n);
    PQfreemem(raw);
    *out = copy;
    *len = n;
    return CC_OK;
}

int64_t cc_pg_affected(const cc_pg_result *r)
{
    const char *t = r ? PQcmdTuples((PGresult *)r) : "";
    char *end = NULL;
    long long x = strtoll(t, &end, 10);
    return end == t ? 0 : (int64_t)x;
}

const char *cc_pg_sqlstate(const cc_pg_result *r)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

const PGresult *cc_pg_result_pq(const cc_pg_result *r)
{
    return r;
}
