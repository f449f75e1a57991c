/* The same malformed principal sent to every actor of the mesh gets the
 * same answer from each, before any handler runs; a missing principal is
 * the anonymous caller everywhere. Every actor runs as a real process on
 * real servers (cclocal); the test speaks raw NATS with headers it writes
 * itself, as the admin user, so it can send what the gateway never would
 * (the one parser: runtime/src/envelope.c, its table test:
 * tests/unit/runtime/test_principal.c). */
#include <nats/nats.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/envelope.h"
#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"

#define ID "0f8e2b6c-1d3a-4c5e-9f70-a1b2c3d4e5f6"

/* One actor and the method of its own it is asked for (Ping for those
 * that serve no other). auth: the method is CC_RPC_AUTH in its table. */
typedef struct actor {
    const char *service; /* as in cc.rpc.<service>.* */
    const char *bin;
    const char *db; /* its database, or NULL */
    const char *method;
    bool auth;
    cc_local_proc proc;
    uint16_t metrics;
} actor;

static actor actors[] = {
    {"user", "cc-user", "cc_user", "GetMe", true},
    {"problem", "cc-problem", "cc_problem", "ListProblems", false},
    {"submission", "cc-submission", "cc_submission", "ListSubmissions", true},
    {"notify", "cc-notify", "cc_notification", "GetUnreadCount", true},
    {"kafka-bridge", "cc-kafka-bridge", NULL, "Ping", false},
    {"judge", "cc-judge", NULL, "Ping", false},
};
#define NACTORS (sizeof actors / sizeof *actors)

static cc_local_stack stack;
static natsConnection *nc; /* the admin NATS user: it may call anything */

/* ---- setup ---------------------------------------------------------------------- */

/* Each actor with the flags its own integration tests start it with. */
static void spawn(actor *a)
{
    const char *dir = stack.dir;
    const char *nats = cct_nats_flag(&stack, a->service);
    const char *metrics = cct_fmt("--metrics-port=%u", a->metrics);
    const char *args[12] = {nats, metrics};
    int n = 2;
    if (!strcmp(a->service, "kafka-bridge")) {
        /* librdkafka's own mock cluster: the bridge needs brokers to
         * start, and this test needs nothing of Kafka. */
        args[n++] = "--kafka-brokers=127.0.0.1:9";
        args[n++] = "--kafka-options=test.mock.num.brokers=1";
    } else if (!strcmp(a->service, "judge")) {
        args[0] = "serve"; /* a subcommand comes first */
        args[n++] = nats;
        args[n++] = cct_fmt("--judge-cache=%s/judge-cache", dir);
        args[n++] = "--concurrency=1";
    } else {
        args[n++] = cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, a->db));
    }
    if (!strcmp(a->service, "user")) {
        args[n++] = cct_fmt("--redis-url=%s", stack.redis_url);
        args[n++] = cct_fmt("--jwt-key=%s/jwt-key.pem", dir);
        args[n++] = "--bcrypt-cost=4";
    }
    args[n] = NULL;
    cct_spawn(&a->proc, a->bin, CC_BIN_DIR, a->bin, dir, args);
}

static int group_setup(void **state)
{
    if (!cct_start_stack(
            &stack, "test-principal",
            (const char *[]){"cc_user", "cc_problem", "cc_submission", "cc_notification", NULL}))
        return -1;
    for (size_t i = 0; i < NACTORS; i++) {
        if (cc_local_free_port(&actors[i].metrics) != CC_OK)
            return -1;
        spawn(&actors[i]);
    }
    for (size_t i = 0; i < NACTORS; i++)
        if (!cct_wait_status(actors[i].metrics, "/readyz", 200, 60000)) {
            fprintf(stderr, "%s did not become ready (see %s/%s.log)\n", actors[i].bin, stack.dir,
                    actors[i].bin);
            return -1;
        }
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK) {
        fprintf(stderr, "cannot connect to NATS as the admin\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    natsConnection_Destroy(nc);
    for (size_t i = 0; i < NACTORS; i++)
        cc_local_proc_stop(&actors[i].proc, SIGTERM, 20000);
    if (getenv("TEST_KEEP")) {
        fprintf(stderr, "logs kept in %s\n", stack.dir);
        return 0;
    }
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    return 0;
}

/* ---- one request, as raw NATS -------------------------------------------------------- */

typedef struct answer {
    cc_status s;
    char err[600];
} answer;

/* Requests cc.rpc.<service>.<method> with an empty body (every request
 * message's defaults) and, unless principal is NULL, a Cc-Principal
 * header of exactly that text. */
static answer ask(const char *service, const char *method, const char *principal)
{
    answer a = {CC_OK, ""};
    char subject[128];
    snprintf(subject, sizeof subject, "cc.rpc.%s.%s", service, method);
    natsMsg *m = NULL, *reply = NULL;
    assert_int_equal(natsMsg_Create(&m, subject, NULL, NULL, 0), NATS_OK);
    if (principal)
        assert_int_equal(natsMsgHeader_Set(m, CC_HDR_PRINCIPAL, principal), NATS_OK);
    natsStatus ns = natsConnection_RequestMsg(&reply, nc, m, 20000);
    natsMsg_Destroy(m);
    if (ns != NATS_OK)
        fail_msg("%s.%s: no answer (%s)", service, method, natsStatus_GetText(ns));
    const char *st = NULL, *err = NULL;
    natsMsgHeader_Get(reply, CC_HDR_STATUS, &st);
    natsMsgHeader_Get(reply, CC_HDR_ERROR, &err);
    a.s = st ? cc_status_from_int(strtol(st, NULL, 10)) : CC_OK;
    snprintf(a.err, sizeof a.err, "%s", err ? err : "");
    natsMsg_Destroy(reply);
    return a;
}

/* ---- cases ------------------------------------------------------------------------------ */

static const char *const malformed[] = {
    ID ":wizard",                                 /* an unknown role */
    ID ":Admin",                                  /* a role in another case */
    ID,                                           /* no role */
    "garbage",                                    /* no form at all */
    "42:admin",                                   /* not a user id */
    "0F8E2B6C-1D3A-4C5E-9F70-A1B2C3D4E5F6:admin", /* another spelling of an id */
    ID ":admin:user",                             /* more after the role */
};

/* Each malformed principal, sent to each actor's own method and to its
 * Ping, is refused with one status and one message, the same for all: the
 * runtime answers before the handler runs. */
static void malformed_same_everywhere(void **state)
{
    for (size_t k = 0; k < sizeof malformed / sizeof *malformed; k++) {
        answer first = ask(actors[0].service, actors[0].method, malformed[k]);
        if (first.s != CC_PROTO || strncmp(first.err, "bad principal: ", 15) != 0)
            fail_msg("'%s' to user.%s: %s \"%s\"", malformed[k], actors[0].method,
                     cc_status_name(first.s), first.err);
        for (size_t i = 0; i < NACTORS; i++) {
            const char *methods[] = {actors[i].method, "Ping"};
            for (int j = 0; j < 2; j++) {
                answer a = ask(actors[i].service, methods[j], malformed[k]);
                if (a.s != first.s || strcmp(a.err, first.err) != 0)
                    fail_msg("'%s' to %s.%s: %s \"%s\", but user.%s answered %s \"%s\"",
                             malformed[k], actors[i].service, methods[j], cc_status_name(a.s),
                             a.err, actors[0].method, cc_status_name(first.s), first.err);
            }
        }
    }
}

/* A header too long for the envelope is refused the same everywhere too. */
static void overlong_same_everywhere(void **state)
{
    char big[1200];
    snprintf(big, sizeof big, "%s:admin%01000d", ID, 0);
    answer first = ask(actors[0].service, "Ping", big);
    assert_int_equal(first.s, CC_PROTO);
    for (size_t i = 0; i < NACTORS; i++) {
        answer a = ask(actors[i].service, actors[i].method, big);
        assert_int_equal(a.s, first.s);
        assert_string_equal(a.err, first.err);
    }
}

/* No principal, or an empty one, is the anonymous caller: a method that
 * needs a signed-in caller answers CC_UNAUTHENTICATED (from the runtime,
 * for every actor alike); the others serve it. */
static void missing_is_anonymous(void **state)
{
    for (size_t i = 0; i < NACTORS; i++) {
        for (int empty = 0; empty < 2; empty++) {
            answer a = ask(actors[i].service, actors[i].method, empty ? "" : NULL);
            if (actors[i].auth) {
                assert_int_equal(a.s, CC_UNAUTHENTICATED);
                char want[128];
                snprintf(want, sizeof want, "%s needs an authenticated caller", actors[i].method);
                assert_string_equal(a.err, want);
            } else if (a.s != CC_OK) {
                fail_msg("%s.%s anonymous: %s \"%s\"", actors[i].service, actors[i].method,
                         cc_status_name(a.s), a.err);
            }
        }
    }
}

/* A well-formed principal of each role passes the runtime everywhere
 * (Ping answers it), so the refusals above are about the form alone. */
static void wellformed_passes(void **state)
{
    static const char *const roles[] = {"user", "setter", "admin"};
    for (size_t i = 0; i < NACTORS; i++)
        for (size_t r = 0; r < 3; r++) {
            char p[64];
            snprintf(p, sizeof p, "%s:%s", ID, roles[r]);
            answer a = ask(actors[i].service, "Ping", p);
            if (a.s != CC_OK)
                fail_msg("%s.Ping as %s: %s \"%s\"", actors[i].service, p, cc_status_name(a.s),
                         a.err);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_same_everywhere),
        cmocka_unit_test(overlong_same_everywhere),
        cmocka_unit_test(missing_is_anonymous),
        cmocka_unit_test(wellformed_passes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
