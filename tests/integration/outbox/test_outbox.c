/* Integration: the transactional outbox.
 *
 * 1. Rows added inside a committed transaction are published by the relay,
 *    woken by NOTIFY (its poll period is a minute); a rolled-back
 *    transaction publishes nothing; the relay drains on stop.
 * 2. Exactly once across a relay crash: the table is locked so a relay
 *    (a child process: this program re-executed as "relay") can publish
 *    and get every ack but cannot mark the rows sent; it is killed -9 then.
 *    A new relay publishes the same rows again with the same Nats-Msg-Id;
 *    the stream must hold each row once, with distinct message ids. */
#include "cc/bus.h"
#include "cc/js.h"
#include "cc/local.h"
#include "cc/migrate.h"
#include "cc/outbox.h"
#include "cc/pg.h"

#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

static cc_local_stack stack;
static uv_loop_t loop;

static int64_t scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        abort();
    }
    char *end;
    long long v = strtoll(PQgetvalue(r, 0, 0), &end, 10);
    PQclear(r);
    return v;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        abort();
    }
    PQclear(r);
}

/* ---- the relay as its own process ---------------------------------------- */

static int relay_child(const char *conninfo, const char *url)
{
    uv_loop_t l;
    uv_loop_init(&l);
    cc_bus *bus;
    cc_bus_options bo = {.url = url, .name = "relay-child"};
    CHECK_OK(cc_bus_connect(&l, &bo, &bus));
    cc_pg *pg;
    cc_pg_options po = {.conninfo = conninfo, .pool_size = 2, .name = "relay-child"};
    CHECK_OK(cc_pg_open(&l, &po, &pg));
    cc_outbox_relay *r;
    cc_outbox_relay_options ro = {.service = "ob", .batch = 50};
    CHECK_OK(cc_outbox_relay_start(pg, bus, &ro, &r));
    uv_run(&l, UV_RUN_DEFAULT); /* until killed */
    return 0;
}

/* ---- stream inspection on its own connection (blocking nats.c) ------------ */

static natsConnection *snc;
static jsCtx *sjs;

static uint64_t stream_msgs(void)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus ns = js_GetStreamInfo(&si, sjs, CC_STREAM_EVENTS, NULL, &jerr);
    CHECK(ns == NATS_OK);
    uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* Checks the stream holds exactly n messages: payloads payload-1..n once
 * each, and distinct Nats-Msg-Ids of the form ob-outbox-<row id>. (Row ids
 * are not 1..n: a rolled-back insert still used up its ids.) */
static void check_stream(int n)
{
    CHECK(stream_msgs() == (uint64_t)n);
    bool *seen = calloc((size_t)n + 1, 1);
    char(*ids)[64] = calloc((size_t)n, 64);
    CHECK(seen && ids);
    for (int seq = 1; seq <= n; seq++) {
        natsMsg *m = NULL;
        jsErrCode jerr = 0;
        CHECK(js_GetMsg(&m, sjs, CC_STREAM_EVENTS, (uint64_t)seq, NULL, &jerr) == NATS_OK);
        const char *id = NULL;
        CHECK(natsMsgHeader_Get(m, CC_HDR_MSG_ID, &id) == NATS_OK);
        CHECK(!strncmp(id, "ob-outbox-", 10));
        for (int j = 0; j < seq - 1; j++)
            CHECK(strcmp(ids[j], id) != 0);
        snprintf(ids[seq - 1], 64, "%s", id);
        const char *type = NULL;
        CHECK(natsMsgHeader_Get(m, CC_HDR_TYPE, &type) == NATS_OK);
        CHECK(!strcmp(type, "codecourt.v1.Test"));
        const char *corr = NULL;
        CHECK(natsMsgHeader_Get(m, CC_HDR_CORRELATION, &corr) == NATS_OK);
        CHECK(!strcmp(corr, "corr-1"));
        char data[64];
        int len = natsMsg_GetDataLength(m);
        CHECK(len > 8 && len < 64);
        memcpy(data, natsMsg_GetData(m), (size_t)len);
        data[len] = '\0';
        CHECK(!strncmp(data, "payload-", 8));
        char *end;
        long k = strtol(data + 8, &end, 10);
        CHECK(*end == '\0' && k >= 1 && k <= n);
        CHECK(!seen[k]);
        seen[k] = true;
        /* The row's aggregate travels as Cc-Aggregate-Id. */
        const char *agg = NULL;
        char want[64];
        snprintf(want, sizeof want, "agg-%ld", k);
        CHECK(natsMsgHeader_Get(m, CC_HDR_AGGREGATE, &agg) == NATS_OK);
        CHECK(!strcmp(agg, want));
        natsMsg_Destroy(m);
    }
    free(ids);
    free(seen);
}

/* ---- adding rows through the API ------------------------------------------ */

static void on_done(cc_status s, const char *errmsg, void *ud)
{
    cc_status *out = ud;
    *out = s;
}

static int next_payload = 1;

/* Adds n rows in one transaction and commits (or rolls back). */
static void add_rows(cc_pg *pg, int n, bool commit)
{
    cc_envelope env;
    cc_envelope_new(&env, "codecourt.v1.Test");
    CHECK_OK(cc_envelope_set_correlation(&env, "corr-1"));
    cc_pg_tx *tx;
    CHECK_OK(cc_pg_begin(pg, &tx));
    for (int i = 0; i < n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "payload-%d", commit ? next_payload + i : 9999);
        char agg[32];
        snprintf(agg, sizeof agg, "agg-%d", commit ? next_payload + i : 9999);
        CHECK_OK(cc_outbox_add(tx, "cc.evt.test.happened", &env, agg, NULL, NULL, payload,
                               strlen(payload), NULL, NULL));
    }
    cc_status s;
    static cc_status result;
    result = (cc_status)-1;
    if (commit)
        cc_pg_tx_commit(tx, on_done, &result);
    else
        cc_pg_tx_rollback(tx, on_done, &result);
    CHECK(RUN_UNTIL(&loop, result != (cc_status)-1, 10000));
    s = result;
    CHECK_OK(s);
    if (commit)
        next_payload += n;
}

static void on_stopped(void *ud)
{
    *(bool *)ud = true;
}

static void spawn_relay(pid_t *pid, const char *ci)
{
    char *const args[] = {"test_outbox", "relay", (char *)ci,
                          (char *)cc_local_nats_url(&stack, "admin"), NULL};
    CHECK(posix_spawn(pid, "/proc/self/exe", NULL, NULL, args, environ) == 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "relay"))
        return relay_child(argv[2], argv[3]);

    static const char *const services[] = {"cc_ob", NULL};
    CHECK_OK(cc_local_stack_start(&stack, CC_LOCAL_NATS | CC_LOCAL_PG, services));
    CHECK_OK(cc_local_guard(&stack));
    const char *ci = cc_local_pg_conninfo(&stack, "cc_ob");

    /* The built-in migration creates cc_outbox. */
    cc_migrate_options mo = {.conninfo = ci, .service = "ob"};
    CHECK_OK(cc_migrate(&mo, NULL));

    CHECK(cc_local_nats_connect(&stack, "admin", &snc) == NATS_OK);
    CHECK(natsConnection_JetStream(&sjs, snc, NULL) == NATS_OK);
    CHECK_OK(cc_js_ensure_defaults(snc));

    uv_loop_init(&loop);
    cc_bus *bus;
    cc_bus_options bo = {.url = cc_local_nats_url(&stack, "admin"), .name = "test-outbox"};
    CHECK_OK(cc_bus_connect(&loop, &bo, &bus));
    cc_pg *pg;
    cc_pg_options po = {.conninfo = ci, .pool_size = 2, .name = "test"};
    CHECK_OK(cc_pg_open(&loop, &po, &pg));

    /* 1. NOTIFY wakes the relay; a rollback publishes nothing. */
    cc_outbox_relay *r;
    cc_outbox_relay_options ro = {.service = "ob", .poll_ms = 60000, .batch = 4};
    CHECK_OK(cc_outbox_relay_start(pg, bus, &ro, &r));
    run_ms(&loop, 300); /* the first pass finds nothing; then only NOTIFY wakes it */
    add_rows(pg, 3, false);
    uint64_t t0 = cc_now_ns();
    add_rows(pg, 10, true);
    CHECK(RUN_UNTIL(&loop, cc_outbox_relay_marked(r) == 10, 10000));
    fprintf(stderr, "ok: 10 rows relayed %.1f ms after commit (NOTIFY)\n",
            (cc_now_ns() - t0) / 1e6);
    check_stream(10);

    /* Drain with work in flight: stop right after rows arrive. */
    add_rows(pg, 5, true);
    run_ms(&loop, 1);
    bool stopped = false;
    cc_outbox_relay_stop(r, on_stopped, &stopped);
    CHECK(RUN_UNTIL(&loop, stopped, 10000));
    fprintf(stderr, "ok: relay drained\n");

    /* 2. A relay that gets the acks but dies before marking. */
    PGconn *lock = PQconnectdb(ci);
    CHECK(PQstatus(lock) == CONNECTION_OK);
    add_rows(pg, 20, true);
    /* The drain above left what it had not started on unsent. */
    int64_t before = scalar(lock, "SELECT count(*) FROM cc_outbox WHERE sent_at IS NULL");
    CHECK(before >= 20);
    int64_t total = scalar(lock, "SELECT count(*) FROM cc_outbox");
    CHECK(total == 35);
    exec_ok(lock, "BEGIN");
    /* EXCLUSIVE lets the relay read but not update. */
    exec_ok(lock, "LOCK TABLE cc_outbox IN EXCLUSIVE MODE");
    pid_t child;
    spawn_relay(&child, ci);
    t0 = cc_now_ns();
    while (stream_msgs() < 35 && cc_now_ns() - t0 < 20000000000ull)
        usleep(20000);
    CHECK(stream_msgs() == 35);
    usleep(200000); /* its UPDATE is now waiting for the lock */
    CHECK(kill(child, SIGKILL) == 0);
    int st;
    CHECK(waitpid(child, &st, 0) == child);
    /* The server would still run the dead relay's queued UPDATE once the
     * lock goes; end its sessions first, as a crash of its host would. */
    exec_ok(lock, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE usename = current_user AND pid <> pg_backend_pid() "
                  "AND backend_type = 'client backend'");
    exec_ok(lock, "ROLLBACK");
    int64_t unsent = scalar(lock, "SELECT count(*) FROM cc_outbox WHERE sent_at IS NULL");
    CHECK(unsent == before);
    fprintf(stderr, "relay killed after %llu acks; %lld rows still unsent\n",
            (unsigned long long)stream_msgs(), (long long)unsent);

    /* The pool's connections were terminated too: it reconnects. */
    cc_counter *dups =
        cc_metrics_counter("cc_js_publish_duplicates_total",
                           "Publishes the stream already had (same Nats-Msg-Id)", NULL);
    uint64_t dups0 = cc_counter_value(dups);
    ro.poll_ms = 200;
    ro.batch = 7;
    CHECK_OK(cc_outbox_relay_start(pg, bus, &ro, &r));
    CHECK(RUN_UNTIL(
        &loop, scalar(lock, "SELECT count(*) FROM cc_outbox WHERE sent_at IS NULL") == 0, 20000));
    stopped = false;
    cc_outbox_relay_stop(r, on_stopped, &stopped);
    CHECK(RUN_UNTIL(&loop, stopped, 10000));
    fprintf(stderr, "republished: %llu duplicates dropped by the stream\n",
            (unsigned long long)(cc_counter_value(dups) - dups0));
    CHECK(cc_counter_value(dups) - dups0 == (uint64_t)before);
    check_stream(35);
    fprintf(stderr, "ok: 35 rows, 35 messages, distinct ids, across a relay crash\n");

    PQfinish(lock);
    bool closed = false, bus_closed = false;
    cc_pg_close(pg, on_stopped, &closed);
    cc_bus_close(bus, on_stopped, &bus_closed);
    CHECK(RUN_UNTIL(&loop, closed && bus_closed, 10000));
    close_loop(&loop);
    jsCtx_Destroy(sjs);
    natsConnection_Destroy(snc);
    CHECK_OK(cc_local_stack_stop(&stack));
    fprintf(stderr, "ok: all\n");
    return 0;
}
