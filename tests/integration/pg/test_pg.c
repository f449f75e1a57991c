/* Integration: cc/pg.h against a real PostgreSQL: async queries with text
 * and bytea parameters, transactions (commit, rollback, failure), the
 * pipelined paths, single queries sharing connections, prepared
 * statements, a statement timeout, and PostgreSQL crashing mid-query and
 * coming back. */
#include "cc/local.h"
#include "cc/pg.h"

#include <string.h>

#include "testutil.h"

static cc_local_stack stack;
static uv_loop_t loop;

/* The outcome of one callback. */
typedef struct res {
    bool done;
    cc_status s;
    char msg[256];
    int64_t n; /* first column of the first row, when an integer */
    int rows;
    char text[64];
    int order; /* when it ran, for ordering checks */
} res;

static int seq;

static void on_res(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    res *o = ud;
    o->done = true;
    o->s = s;
    o->order = ++seq;
    snprintf(o->msg, sizeof o->msg, "%s", errmsg ? errmsg : "");
    if (s == CC_OK) {
        o->rows = cc_pg_nrows(r);
        if (o->rows > 0 && cc_pg_ncols(r) > 0) {
            if (cc_pg_get_int64(r, 0, 0, &o->n) != CC_OK)
                o->n = -1;
            snprintf(o->text, sizeof o->text, "%s", cc_pg_get(r, 0, 0));
        }
    }
}

static void on_done(cc_status s, const char *errmsg, void *ud)
{
    res *o = ud;
    o->done = true;
    o->s = s;
    o->order = ++seq;
    snprintf(o->msg, sizeof o->msg, "%s", errmsg ? errmsg : "");
}

/* Runs one statement and waits for it. */
static res q(cc_pg *pg, const char *sql, const cc_pg_param *p, int n)
{
    res o = {0};
    cc_status s = cc_pg_query(pg, sql, p, n, on_res, &o);
    if (s != CC_OK) {
        o.s = s;
        return o;
    }
    CHECK(RUN_UNTIL(&loop, o.done, 15000));
    return o;
}

static int64_t count_rows(cc_pg *pg)
{
    res o = q(pg, "SELECT count(*) FROM t", NULL, 0);
    CHECK_OK(o.s);
    return o.n;
}

static void on_bytes(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    res *o = ud;
    o->done = true;
    o->s = s;
    CHECK_OK(s);
    CHECK(cc_pg_nrows(r) == 1 && cc_pg_ncols(r) == 4);
    int64_t v;
    CHECK_OK(cc_pg_get_int64(r, 0, 0, &v));
    CHECK(v == 42);
    unsigned char *b = NULL;
    size_t len = 0;
    CHECK_OK(cc_pg_get_bytea(r, 0, 1, &b, &len));
    CHECK(len == 4 && !memcmp(b,
                              "a\0\xff"
                              "b",
                              4));
    free(b);
    CHECK(cc_pg_isnull(r, 0, 2));
    CHECK(!strcmp(cc_pg_get(r, 0, 3), "it's; DROP TABLE t"));
    CHECK(cc_pg_colnum(r, "quoted") == 3);
}

static void test_query(cc_pg *pg)
{
    res o = {0};
    const unsigned char bytes[4] = {'a', 0, 0xff, 'b'};
    /* Values travel as parameters, never in the SQL text. */
    cc_pg_param p[4] = {CC_PG_TEXT("41"), CC_PG_BYTES(bytes, 4), CC_PG_NULL,
                        CC_PG_TEXT("it's; DROP TABLE t")};
    CHECK_OK(cc_pg_query(pg, "SELECT $1::int + 1, $2::bytea, $3::text, $4::text AS quoted", p, 4,
                         on_bytes, &o));
    CHECK(RUN_UNTIL(&loop, o.done, 10000));

    o = q(pg, "SELECT nosuchcolumn", NULL, 0);
    CHECK(o.s == CC_DB && strstr(o.msg, "nosuchcolumn"));
    CHECK_OK(q(pg, "CREATE TABLE t (id int PRIMARY KEY, v text)", NULL, 0).s);
    fprintf(stderr, "ok: async query, parameters, bytea, errors\n");
}

static void tx_insert(cc_pg_tx *tx, const char *id, res *o)
{
    cc_pg_param p[2] = {CC_PG_TEXT(id), CC_PG_TEXT("v")};
    CHECK_OK(cc_pg_tx_query(tx, "INSERT INTO t (id, v) VALUES ($1::int, $2)", p, 2, on_res, o));
}

static void test_tx(cc_pg *pg)
{
    /* Commit. */
    cc_pg_tx *tx;
    res a = {0}, b = {0}, d = {0};
    CHECK_OK(cc_pg_begin(pg, &tx));
    tx_insert(tx, "1", &a);
    tx_insert(tx, "2", &b);
    cc_pg_tx_commit(tx, on_done, &d);
    CHECK(RUN_UNTIL(&loop, d.done, 10000));
    CHECK_OK(a.s);
    CHECK_OK(b.s);
    CHECK_OK(d.s);
    CHECK(a.order < b.order && b.order < d.order);
    CHECK(count_rows(pg) == 2);

    /* Rollback. */
    res c = {0};
    d = (res){0};
    CHECK_OK(cc_pg_begin(pg, &tx));
    tx_insert(tx, "3", &c);
    CHECK(RUN_UNTIL(&loop, c.done, 10000)); /* a statement, then decide */
    CHECK_OK(c.s);
    cc_pg_tx_rollback(tx, on_done, &d);
    CHECK(RUN_UNTIL(&loop, d.done, 10000));
    CHECK_OK(d.s);
    CHECK(count_rows(pg) == 2);

    /* A failing statement: commit reports it and nothing stays. */
    a = b = d = (res){0};
    CHECK_OK(cc_pg_begin(pg, &tx));
    tx_insert(tx, "4", &a);
    tx_insert(tx, "1", &b); /* duplicate key */
    cc_pg_tx_commit(tx, on_done, &d);
    CHECK(RUN_UNTIL(&loop, d.done, 10000));
    CHECK_OK(a.s);
    CHECK(b.s == CC_EXISTS);
    CHECK(d.s == CC_EXISTS && strstr(d.msg, "duplicate"));
    CHECK(count_rows(pg) == 2);
    fprintf(stderr, "ok: transactions commit, rollback, failure\n");
}

static void test_pipeline(cc_pg *pg)
{
    /* Begin + 200 inserts + commit, all issued before any result: they
     * share one connection and go out without waiting for each other. */
    enum { N = 200 };
    static res r[N];
    memset(r, 0, sizeof r);
    res d = {0};
    cc_pg_tx *tx;
    uint64_t t0 = cc_now_ns();
    CHECK_OK(cc_pg_begin(pg, &tx));
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", 1000 + i);
        tx_insert(tx, id, &r[i]);
    }
    cc_pg_tx_commit(tx, on_done, &d);
    CHECK(RUN_UNTIL(&loop, d.done, 20000));
    uint64_t pipelined = cc_now_ns() - t0;
    CHECK_OK(d.s);
    for (int i = 0; i < N; i++) {
        CHECK_OK(r[i].s);
        if (i)
            CHECK(r[i].order == r[i - 1].order + 1);
    }
    CHECK(count_rows(pg) == 2 + N);

    /* The same small statement N times: pipelined in one batch, then one
     * round trip at a time. */
    cc_pg_batch *pb;
    res pd = {0};
    t0 = cc_now_ns();
    CHECK_OK(cc_pg_batch_new(pg, &pb));
    for (int i = 0; i < N; i++) {
        cc_pg_param p[1] = {CC_PG_TEXT("1")};
        CHECK_OK(cc_pg_batch_add(pb, "SELECT $1::int", p, 1, NULL, NULL));
    }
    CHECK_OK(cc_pg_batch_run(pb, on_done, &pd));
    CHECK(RUN_UNTIL(&loop, pd.done, 20000));
    CHECK_OK(pd.s);
    uint64_t batched = cc_now_ns() - t0;
    t0 = cc_now_ns();
    for (int i = 0; i < N; i++) {
        cc_pg_param p[1] = {CC_PG_TEXT("1")};
        CHECK_OK(q(pg, "SELECT $1::int", p, 1).s);
    }
    uint64_t serial = cc_now_ns() - t0;
    fprintf(stderr,
            "pipelined tx of %d inserts: %.2f ms; %d selects: batched %.2f ms, serial %.2f ms\n", N,
            pipelined / 1e6, N, batched / 1e6, serial / 1e6);

    /* A batch of independent statements: one failing leaves the others. */
    cc_pg_batch *b;
    res x = {0}, y = {0}, z = {0};
    d = (res){0};
    CHECK_OK(cc_pg_batch_new(pg, &b));
    CHECK_OK(cc_pg_batch_add(b, "SELECT count(*) FROM t", NULL, 0, on_res, &x));
    CHECK_OK(cc_pg_batch_add(b, "SELECT 1/0", NULL, 0, on_res, &y));
    CHECK_OK(cc_pg_batch_add(b, "SELECT 7", NULL, 0, on_res, &z));
    CHECK_OK(cc_pg_batch_run(b, on_done, &d));
    CHECK(RUN_UNTIL(&loop, d.done, 10000));
    CHECK(x.s == CC_OK && x.n == 2 + N);
    CHECK(y.s == CC_DB && strstr(y.msg, "division by zero"));
    CHECK(z.s == CC_OK && z.n == 7);
    CHECK(d.s == CC_DB);
    CHECK(x.order < y.order && y.order < z.order && z.order < d.order);
    fprintf(stderr, "ok: pipelined transaction and batch\n");
}

/* Many single queries at once on a pool of 3: they share connections
 * (several in flight on each), every one gets its own answer, a failing
 * one in the middle harms none of its neighbours, and a transaction
 * issued behind them still gets a connection to itself. */
static void test_shared(cc_pg *pg)
{
    enum { N = 300 };
    static res r[N];
    static char vals[N][16];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i % 50 == 7 ? 0 : i + 1);
        cc_pg_param p[1] = {CC_PG_TEXT(vals[i])};
        CHECK_OK(cc_pg_query(pg, "SELECT 1000000 / $1::int", p, 1, on_res, &r[i]));
    }
    res d = {0}, a = {0};
    cc_pg_tx *tx;
    CHECK_OK(cc_pg_begin(pg, &tx));
    tx_insert(tx, "7000", &a);
    cc_pg_tx_commit(tx, on_done, &d);
    CHECK(RUN_UNTIL(&loop, d.done, 20000));
    for (int i = 0; i < N; i++) {
        CHECK(RUN_UNTIL(&loop, r[i].done, 20000));
        if (i % 50 == 7) {
            CHECK(r[i].s == CC_DB && strstr(r[i].msg, "division by zero"));
        } else {
            CHECK_OK(r[i].s);
            CHECK(r[i].n == 1000000 / (i + 1));
        }
    }
    CHECK_OK(d.s);
    CHECK_OK(a.s);
    fprintf(stderr, "ok: %d single queries shared 3 connections, failures isolated\n", N);
}

/* On a one-connection pool, where the session is known: a text seen twice
 * is prepared and runs by name; a text whose Parse fails is prepared
 * again next time; an execution that fails keeps its prepared name; a
 * table changing shape under a prepared SELECT * does not break it. */
static void test_prepared(void)
{
    cc_pg *pg;
    cc_pg_options o = {.conninfo = cc_local_pg_conninfo(&stack, "cc_t"),
                       .pool_size = 1,
                       .name = "prepared"};
    CHECK_OK(cc_pg_open(&loop, &o, &pg));
    static const char dbl[] = "SELECT $1::int * 2";
    for (int i = 1; i <= 4; i++) {
        char v[8];
        snprintf(v, sizeof v, "%d", i);
        cc_pg_param p[1] = {CC_PG_TEXT(v)};
        res x = q(pg, dbl, p, 1);
        CHECK_OK(x.s);
        CHECK(x.n == 2 * i);
    }
    cc_pg_param pd[1] = {CC_PG_TEXT(dbl)};
    static const char count_sql[] = "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1";
    res c = q(pg, count_sql, pd, 1);
    CHECK_OK(c.s);
    CHECK(c.n == 1);

    /* The Parse itself fails: the same clear error every time, and the
     * connection keeps serving. */
    for (int i = 0; i < 3; i++) {
        res e = q(pg, "SELECT $1::int + nosuchcolumn", pd, 0);
        CHECK(e.s == CC_DB && strstr(e.msg, "nosuchcolumn"));
    }
    cc_pg_param p2[1] = {CC_PG_TEXT("21")};
    res x = q(pg, dbl, p2, 1);
    CHECK(x.s == CC_OK && x.n == 42);

    /* A prepared INSERT whose execution fails keeps its name. */
    CHECK_OK(q(pg, "CREATE TABLE prep (id int PRIMARY KEY)", NULL, 0).s);
    static const char ins[] = "INSERT INTO prep (id) VALUES ($1::int)";
    const char *ids[] = {"1", "2", "2", "3"};
    cc_status want[] = {CC_OK, CC_OK, CC_EXISTS, CC_OK};
    for (int i = 0; i < 4; i++) {
        cc_pg_param p[1] = {CC_PG_TEXT(ids[i])};
        CHECK(q(pg, ins, p, 1).s == want[i]);
    }

    /* SELECT * prepared, then the table gains a column. */
    static const char star[] = "SELECT * FROM prep WHERE id = $1::int";
    cc_pg_param p1[1] = {CC_PG_TEXT("1")};
    for (int i = 0; i < 2; i++)
        CHECK_OK(q(pg, star, p1, 1).s);
    CHECK_OK(q(pg, "ALTER TABLE prep ADD COLUMN extra text DEFAULT 'x'", NULL, 0).s);
    res first = q(pg, star, p1, 1);
    res again = q(pg, star, p1, 1);
    CHECK_OK(again.s);
    CHECK(again.rows == 1);
    fprintf(stderr, "ok: prepared statements (after a schema change: %s, then ok)\n",
            cc_status_name(first.s));
    cc_pg_close(pg, NULL, NULL);
    run_ms(&loop, 50);
}

static void test_timeout(void)
{
    cc_pg *pg;
    cc_pg_options o = {.conninfo = cc_local_pg_conninfo(&stack, "cc_t"),
                       .pool_size = 1,
                       .query_timeout_ms = 300,
                       .name = "timeout"};
    CHECK_OK(cc_pg_open(&loop, &o, &pg));
    uint64_t t0 = cc_now_ns();
    res r = q(pg, "SELECT pg_sleep(10)", NULL, 0);
    double took = (cc_now_ns() - t0) / 1e9;
    CHECK(r.s == CC_TIMEOUT);
    CHECK(took < 2.0);
    /* The server cancelled it, so the one connection serves again soon. */
    res r2 = q(pg, "SELECT 5", NULL, 0);
    CHECK(r2.s == CC_OK && r2.n == 5);
    CHECK(cc_now_ns() - t0 < 5000000000ull);
    cc_pg_close(pg, NULL, NULL);
    run_ms(&loop, 50);
    fprintf(stderr, "ok: statement timeout %.2fs and cancel\n", took);
}

static void on_crash_timer(uv_timer_t *t)
{
    /* Runs on the loop while a statement is in flight. */
    CHECK_OK(cc_local_stack_crash(&stack, CC_LOCAL_PG));
    uv_close((uv_handle_t *)t, NULL);
}

static void test_restart(cc_pg *pg)
{
    res r = q(pg, "SELECT 1", NULL, 0);
    CHECK_OK(r.s);

    /* PostgreSQL dies under a running statement. */
    res slow = {0};
    CHECK_OK(cc_pg_query(pg, "SELECT pg_sleep(5)", NULL, 0, on_res, &slow));
    static uv_timer_t crash;
    uv_timer_init(&loop, &crash);
    uv_timer_start(&crash, on_crash_timer, 300, 0);
    CHECK(RUN_UNTIL(&loop, slow.done, 10000));
    CHECK(slow.s == CC_UNAVAILABLE);
    fprintf(stderr, "in-flight statement on crash: %s (%s)\n", cc_status_name(slow.s), slow.msg);

    /* While it is down, statements fail fast with CC_UNAVAILABLE. */
    run_ms(&loop, 300);
    uint64_t t0 = cc_now_ns();
    r = q(pg, "SELECT 1", NULL, 0);
    CHECK(r.s == CC_UNAVAILABLE);
    CHECK(cc_now_ns() - t0 < 1000000000ull);
    CHECK(!cc_pg_ready(pg));
    cc_pg_tx *tx;
    CHECK(cc_pg_begin(pg, &tx) == CC_UNAVAILABLE);

    /* It comes back; the pool reconnects by itself. */
    CHECK_OK(cc_local_stack_start_some(&stack, CC_LOCAL_PG));
    t0 = cc_now_ns();
    bool ok = false;
    while (!ok && cc_now_ns() - t0 < 20000000000ull) {
        r = q(pg, "SELECT count(*) FROM t", NULL, 0);
        ok = r.s == CC_OK;
        if (!ok)
            run_ms(&loop, 100);
    }
    CHECK(ok);
    fprintf(stderr, "ok: recovered %.2fs after PostgreSQL came back\n", (cc_now_ns() - t0) / 1e9);

    /* And transactions work again. */
    res d = {0}, a = {0};
    CHECK_OK(cc_pg_begin(pg, &tx));
    tx_insert(tx, "5000", &a);
    cc_pg_tx_commit(tx, on_done, &d);
    CHECK(RUN_UNTIL(&loop, d.done, 10000));
    CHECK_OK(d.s);

    /* A graceful restart too (idle connections get a FATAL and EOF). */
    CHECK_OK(cc_local_stack_restart(&stack, CC_LOCAL_PG));
    t0 = cc_now_ns();
    ok = false;
    int failures = 0;
    while (!ok && cc_now_ns() - t0 < 20000000000ull) {
        r = q(pg, "SELECT 1", NULL, 0);
        ok = r.s == CC_OK;
        if (!ok) {
            CHECK(r.s == CC_UNAVAILABLE);
            failures++;
            run_ms(&loop, 50);
        }
    }
    CHECK(ok);
    fprintf(stderr, "ok: after a graceful restart: %d failed tries then ok\n", failures);
}

static void on_closed(void *ud)
{
    *(bool *)ud = true;
}

int main(void)
{
    static const char *const services[] = {"cc_t", NULL};
    CHECK_OK(cc_local_stack_start(&stack, CC_LOCAL_PG, services));
    CHECK_OK(cc_local_guard(&stack));
    uv_loop_init(&loop);

    cc_pg *pg;
    cc_pg_options o = {.conninfo = cc_local_pg_conninfo(&stack, "cc_t"),
                       .pool_size = 3,
                       .query_timeout_ms = 8000,
                       .name = "test"};
    CHECK_OK(cc_pg_open(&loop, &o, &pg));
    test_query(pg);
    test_tx(pg);
    test_pipeline(pg);
    test_shared(pg);
    test_prepared();
    test_timeout();
    test_restart(pg);

    /* Close with statements still running: they end with CC_CLOSED. */
    res late = {0};
    CHECK_OK(cc_pg_query(pg, "SELECT pg_sleep(3)", NULL, 0, on_res, &late));
    run_ms(&loop, 50);
    bool closed = false;
    cc_pg_close(pg, on_closed, &closed);
    CHECK(RUN_UNTIL(&loop, closed, 5000));
    CHECK(late.done && late.s == CC_CLOSED);
    close_loop(&loop);
    CHECK_OK(cc_local_stack_stop(&stack));
    fprintf(stderr, "ok: all\n");
    return 0;
}
