/* Integration: cclocal starts real servers, restarts and crashes them, and
 * leaves nothing behind. */
#include "cc/local.h"

#include <errno.h>
#include <hiredis.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc/js.h"

#include <cmocka.h>

static const char *const services[] = {"cc_user", "cc_problem", "cc_submission", "cc_notification",
                                       NULL};

static void must(cc_status s)
{
    if (s != CC_OK)
        fail_msg("%s: %s (%s)", cc_status_name(s), cc_err_msg(), cc_err_where());
}

static void pg_select1(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", conninfo, PQerrorMessage(c));
    PGresult *r = PQexec(c, "SELECT 1");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    PQfinish(c);
}

static void redis_ping(const cc_local_stack *s)
{
    redisContext *c = redisConnect(s->redis_host, s->redis_port);
    assert_non_null(c);
    if (c->err)
        fail_msg("redis connect: %s", c->errstr);
    redisReply *r = redisCommand(c, "PING");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->str, "PONG");
    freeReplyObject(r);
    redisFree(c);
}

/* Sends a JetStream API request and returns its JSON reply (caller frees). */
static char *js_request(const cc_local_stack *s, const char *subject, const char *body)
{
    natsConnection *nc = NULL;
    natsMsg *m = NULL;
    natsStatus ns = cc_local_nats_connect(s, "admin", &nc);
    if (ns != NATS_OK)
        fail_msg("nats connect %s as admin: %s", s->nats_url, natsStatus_GetText(ns));
    ns = natsConnection_RequestString(&m, nc, subject, body, 5000);
    if (ns != NATS_OK)
        fail_msg("request %s: %s", subject, natsStatus_GetText(ns));
    char *out = strndup(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    natsConnection_Destroy(nc);
    return out;
}

static void js_enabled(const cc_local_stack *s)
{
    char *r = js_request(s, "$JS.API.INFO", "");
    assert_non_null(strstr(r, "account_info_response"));
    assert_null(strstr(r, "\"error\""));
    free(r);
}

static void assert_gone(pid_t pid)
{
    assert_false(cc_local_pid_alive(pid));
    assert_false(cc_local_group_alive(pid)); /* nothing left in its group */
}

static void test_all_three_restart_crash(void **state)
{
    (void)state;
    static cc_local_stack s; /* static: the guard may see it at exit */
    must(cc_local_stack_start(&s, CC_LOCAL_ALL, services));
    must(cc_local_guard(&s));
    assert_true(s.owns_dir);
    assert_int_equal(s.pg_nservices, 4);

    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u", s.tls ? "tls" : "nats", (unsigned)s.nats_port);
    assert_string_equal(s.nats_url, url);

    for (size_t i = 0; services[i]; i++) {
        const char *ci = cc_local_pg_conninfo(&s, services[i]);
        assert_non_null(ci);
        pg_select1(ci);
    }
    pg_select1(s.pg_super_conninfo);
    /* One service's role cannot open another service's database. */
    char other[CC_LOCAL_CONNINFO_MAX];
    must(cc_local_conninfo(other, sizeof other, "127.0.0.1", s.pg_port, "cc_problem", "cc_user",
                           s.pg_services[0].password));
    PGconn *c = PQconnectdb(other);
    assert_int_not_equal(PQstatus(c), CONNECTION_OK);
    PQfinish(c);

    redis_ping(&s);
    js_enabled(&s);
    /* NATS takes only the mesh's users: no credentials, or a wrong
     * password, and the server closes the connection. */
    natsConnection *anon = NULL;
    assert_int_not_equal(cc_local_nats_connect_url(&s, s.nats_url, &anon), NATS_OK);
    char wrong[256];
    snprintf(wrong, sizeof wrong, "nats://cc-user:not-its-password@127.0.0.1:%u",
             (unsigned)s.nats_port);
    assert_int_not_equal(cc_local_nats_connect_url(&s, wrong, &anon), NATS_OK);
    assert_non_null(cc_local_nats_url(&s, "judge"));
    assert_null(cc_local_nats_url(&s, "nobody"));
    free(js_request(&s, "$JS.API.STREAM.CREATE.T",
                    "{\"name\":\"T\",\"subjects\":[\"t.>\"],\"storage\":\"file\"}"));

    pid_t seen[16];
    size_t nseen = 0;
    seen[nseen++] = s.nats.pid;
    seen[nseen++] = s.pg.pid;
    seen[nseen++] = s.redis.pid;
    uint16_t ports[3] = {s.nats_port, s.pg_port, s.redis_port};

    /* Graceful restart: same ports, and the JetStream store survives. */
    must(cc_local_stack_restart(&s, CC_LOCAL_ALL));
    assert_int_equal(s.nats_port, ports[0]);
    assert_int_equal(s.pg_port, ports[1]);
    assert_int_equal(s.redis_port, ports[2]);
    seen[nseen++] = s.nats.pid;
    seen[nseen++] = s.pg.pid;
    seen[nseen++] = s.redis.pid;
    for (size_t i = 0; services[i]; i++)
        pg_select1(cc_local_pg_conninfo(&s, services[i]));
    redis_ping(&s);
    js_enabled(&s);
    char *info = js_request(&s, "$JS.API.STREAM.INFO.T", "");
    assert_null(strstr(info, "\"error\""));
    free(info);

    /* kill -9, then start again. */
    must(cc_local_stack_crash(&s, CC_LOCAL_ALL));
    assert_int_equal(s.nats.pid, 0);
    assert_int_equal(cc_local_stack_poll(&s), 0);
    must(cc_local_stack_start_some(&s, CC_LOCAL_ALL));
    seen[nseen++] = s.nats.pid;
    seen[nseen++] = s.pg.pid;
    seen[nseen++] = s.redis.pid;
    pg_select1(cc_local_pg_conninfo(&s, "cc_submission"));
    redis_ping(&s);
    js_enabled(&s);

    /* A supervisor sees a server die. */
    kill(s.redis.pid, SIGKILL);
    unsigned died = 0;
    for (int i = 0; i < 500 && !died; i++) {
        died = cc_local_stack_poll(&s);
        usleep(10000);
    }
    assert_int_equal(died, CC_LOCAL_REDIS);
    must(cc_local_stack_start_some(&s, CC_LOCAL_REDIS));
    seen[nseen++] = s.redis.pid;
    redis_ping(&s);

    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", s.dir);
    must(cc_local_stack_stop(&s));
    for (size_t i = 0; i < nseen; i++)
        assert_gone(seen[i]);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
    must(cc_local_stack_stop(&s)); /* twice is harmless */
}

static void test_two_side_by_side(void **state)
{
    (void)state;
    static cc_local_stack a, b;
    static const char *const one[] = {"cc_user", NULL};
    must(cc_local_stack_start(&a, CC_LOCAL_ALL, one));
    must(cc_local_guard(&a));
    must(cc_local_stack_start(&b, CC_LOCAL_ALL, one));
    must(cc_local_guard(&b));
    assert_string_not_equal(a.dir, b.dir);
    assert_int_not_equal(a.nats_port, b.nats_port);
    assert_int_not_equal(a.pg_port, b.pg_port);
    assert_int_not_equal(a.redis_port, b.redis_port);
    const cc_local_stack *both[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        pg_select1(cc_local_pg_conninfo(both[i], "cc_user"));
        redis_ping(both[i]);
        js_enabled(both[i]);
    }
    /* Restarting one leaves the other serving. */
    must(cc_local_stack_restart(&a, CC_LOCAL_PG | CC_LOCAL_NATS));
    pg_select1(cc_local_pg_conninfo(&b, "cc_user"));
    pg_select1(cc_local_pg_conninfo(&a, "cc_user"));
    js_enabled(&a);
    pid_t pids[6] = {a.nats.pid, a.pg.pid, a.redis.pid, b.nats.pid, b.pg.pid, b.redis.pid};
    must(cc_local_stack_stop(&a));
    must(cc_local_stack_stop(&b));
    for (int i = 0; i < 6; i++)
        assert_gone(pids[i]);
}

static void test_only_redis_and_bad_name(void **state)
{
    (void)state;
    static cc_local_stack s;
    must(cc_local_stack_start(&s, CC_LOCAL_REDIS, NULL));
    assert_int_equal(s.pg.pid, 0);
    assert_int_equal(s.nats.pid, 0);
    redis_ping(&s);
    must(cc_local_stack_stop(&s));

    static const char *const bad[] = {"Robert'); DROP", NULL};
    assert_int_equal(cc_local_stack_start(&s, CC_LOCAL_PG, bad), CC_INVALID);
    assert_int_equal(s.pg.pid, 0);
}

/* A NATS cluster of three: every user's URL lists the three servers, the
 * shared streams get 3 replicas, each store is synchronous (FS_SYNC_FL)
 * when asked, and the streams stay writable with one server killed, then
 * refuse (rather than lose) writes with two down. */
static void test_nats_cluster(void **state)
{
    (void)state;
    static cc_local_stack s;
    cc_local_options o = {.what = CC_LOCAL_NATS, .nats_servers = CC_LOCAL_NATS_MAX,
                          .nats_sync = CC_LOCAL_SYNC_ALWAYS};
    must(cc_local_stack_start_with(&s, &o));
    cc_local_guard(&s);
    assert_int_equal(s.nats_servers, 3);
    const char *url = cc_local_nats_url(&s, "admin");
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)cc_local_nats_port(&s, i));
        assert_non_null(strstr(url, want));
        assert_true(cc_local_nats_proc(&s, i)->pid > 0);
    }
    /* The test's own client stays on server 0, which is never stopped:
     * what is tested here is the cluster, not the client's reconnect. */
    char first[512];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(url, ","), url);
    natsConnection *nc = NULL;
    assert_int_equal(cc_local_nats_connect_url(&s, url, &nc), NATS_OK);
    assert_int_equal(cc_js_replicas_auto(nc), 3);
    natsConnection_Destroy(nc);
    nc = NULL;
    assert_int_equal(cc_local_nats_connect_url(&s, first, &nc), NATS_OK);
    must(cc_js_ensure_defaults(nc));
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    jsStreamInfo *si = NULL;
    assert_int_equal(js_GetStreamInfo(&si, js, "CC_JUDGE", NULL, NULL), NATS_OK);
    assert_int_equal(si->Config->Replicas, 3);
    jsStreamInfo_Destroy(si);
    /* Every server's store is synchronous, down to the stream's files. */
    if (s.nats_sync) {
        for (int i = 0; i < 3; i++) {
            char store[4096];
            assert_non_null(cc_local_nats_store(&s, i, store, sizeof store));
            int fd = open(store, O_RDONLY | O_DIRECTORY);
            assert_true(fd >= 0);
            int flags = 0;
            assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
            close(fd);
            assert_true(flags & FS_SYNC_FL);
        }
    }
    jsPubAck *pa = NULL;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    assert_int_equal(js_Publish(&pa, js, "cc.judge.job", "a", 1, &po, NULL), NATS_OK);
    jsPubAck_Destroy(pa);
    pa = NULL; /* a failed js_Publish leaves it as it was: never destroy it twice */
    must(cc_local_nats_crash(&s, 2));
    /* One down: a majority still acks (after a leader election if the
     * leader was the one killed). */
    natsStatus ns = NATS_ERR;
    for (int i = 0; i < 40 && ns != NATS_OK; i++) {
        ns = js_Publish(&pa, js, "cc.judge.job", "b", 1, &po, NULL);
        jsPubAck_Destroy(pa);
        pa = NULL;
        if (ns != NATS_OK)
            usleep(250000);
    }
    assert_int_equal(ns, NATS_OK);
    must(cc_local_nats_crash(&s, 1));
    /* Quorum lost: not acked. The proposal may still be in the last
     * server's log and commit once the others are back, so it is sent
     * again then, as the outbox does, under the same Nats-Msg-Id. */
    po.MaxWait = 1000;
    po.MsgId = "c";
    assert_int_not_equal(js_Publish(&pa, js, "cc.judge.job", "c", 1, &po, NULL), NATS_OK);
    /* Both back, and the one whose store is gone catches up. */
    char store[4096];
    must(cc_local_rmtree(cc_local_nats_store(&s, 1, store, sizeof store)));
    must(cc_local_nats_start(&s, 1));
    must(cc_local_nats_start(&s, 2));
    po.MaxWait = 5000;
    const char *again[] = {"c", "d"};
    for (int k = 0; k < 2; k++) {
        po.MsgId = again[k];
        ns = NATS_ERR;
        for (int i = 0; i < 40 && ns != NATS_OK; i++) {
            ns = js_Publish(&pa, js, "cc.judge.job", again[k], 1, &po, NULL);
            jsPubAck_Destroy(pa);
            pa = NULL;
            if (ns != NATS_OK)
                usleep(250000);
        }
        assert_int_equal(ns, NATS_OK);
    }
    /* a, b, c once, d. */
    assert_int_equal(js_GetStreamInfo(&si, js, "CC_JUDGE", NULL, NULL), NATS_OK);
    assert_int_equal(si->State.Msgs, 4);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    pid_t pids[3] = {s.nats.pid, s.nats_peer[0].pid, s.nats_peer[1].pid};
    must(cc_local_stack_stop(&s));
    for (int i = 0; i < 3; i++)
        assert_gone(pids[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_three_restart_crash),
        cmocka_unit_test(test_two_side_by_side),
        cmocka_unit_test(test_only_redis_and_bad_name),
        cmocka_unit_test(test_nats_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
