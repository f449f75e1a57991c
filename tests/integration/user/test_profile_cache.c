/* cc-user's profile cache (actors/user/cache.c) with two replicas sharing
 * one database behind one gateway, the cache's lifetime set to an hour so
 * only invalidation can make a change visible:
 *   - GetMe is served from memory (the hit counters move);
 *   - a change through UpdateMe, SetRole or SetDisabled, whichever replica
 *     makes it, is seen by every later GetMe on both replicas;
 *   - so is a change made straight in PostgreSQL (the trigger's NOTIFY). */
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"

enum { REPLICAS = 2 };

static cc_local_stack stack;
static cc_local_proc users[REPLICAS], gw;
static uint16_t user_metrics[REPLICAS], port;
static char dir[4096], keypath[4200];

static int setup(void **state)
{
    if (!cct_start_stack(&stack, "test-profile-cache", (const char *[]){"cc_user", NULL}))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    for (int i = 0; i < REPLICAS; i++) {
        if (cc_local_free_port(&user_metrics[i]) != CC_OK)
            return -1;
        const char *args[] = {cct_nats_flag(&stack, "user"),
                              cct_fmt("--redis-url=%s", stack.redis_url),
                              cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                              cct_fmt("--metrics-port=%u", user_metrics[i]),
                              cct_fmt("--jwt-key=%s", keypath),
                              "--bcrypt-cost=4",
                              "--admin-username=root",
                              "--admin-email=root@example.org",
                              "--admin-password=rootpassword",
                              "--profile-cache-ttl=1h",
                              NULL};
        cct_spawn(&users[i], i ? "cc-user-b" : "cc-user-a", CC_BIN_DIR, "cc-user", dir, args);
        /* One at a time: the second finds the migrations done. */
        if (!cct_wait_status(user_metrics[i], "/readyz", 200, 30000)) {
            fprintf(stderr, "cc-user %d did not become ready (see %s)\n", i, dir);
            return -1;
        }
    }
    uint16_t gm;
    if (cc_local_free_port(&port) != CC_OK || cc_local_free_port(&gm) != CC_OK)
        return -1;
    return cct_start_gateway(&gw, &stack, CC_BIN_DIR, keypath, port, gm, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    for (int i = 0; i < REPLICAS; i++)
        cc_local_proc_stop(&users[i], SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

static void token_of(const char *user, const char *password, char *out, size_t cap)
{
    cct_resp r = cct_req(port, "POST", "/v1/auth/login",
                         cct_fmt("{\"username\":\"%s\",\"password\":\"%s\"}", user, password), NULL);
    assert_int_equal(r.status, 200);
    snprintf(out, cap, "%s", cct_jstr(&r, "accessToken"));
    cct_resp_free(&r);
}

/* The sum of a counter over both replicas' /metrics. */
static long counter(const char *name)
{
    long sum = 0;
    for (int i = 0; i < REPLICAS; i++) {
        cct_resp r = cct_req(user_metrics[i], "GET", "/metrics", NULL, NULL);
        assert_int_equal(r.status, 200);
        char pat[128];
        snprintf(pat, sizeof pat, "\n%s ", name);
        const char *p = r.body ? strstr(r.body, pat) : NULL;
        if (p)
            sum += strtol(p + strlen(pat), NULL, 10);
        cct_resp_free(&r);
    }
    return sum;
}

/* GET /v1/users/me n times: how many answers had field == want. The
 * gateway's requests are spread over both replicas by NATS. */
static int me_matching(const char *token, int n, const char *field, const char *want)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        cct_resp r = cct_req(port, "GET", "/v1/users/me", NULL, token);
        assert_int_equal(r.status, 200);
        json_t *v = json_object_get(r.json, field);
        const char *s = json_is_string(v) ? json_string_value(v) : json_is_true(v) ? "true" : "";
        ok += strcmp(s, want) == 0;
        cct_resp_free(&r);
    }
    return ok;
}

/* Every later answer shows the change: allowed a moment for the NOTIFY to
 * reach the other replica, then 40 answers in a row must agree. */
static void assert_seen_everywhere(const char *token, const char *field, const char *want)
{
    bool all = false;
    for (int t = 0; t < 50 && !all; t++) {
        all = me_matching(token, 10, field, want) == 10;
        if (!all)
            usleep(20000);
    }
    assert_true(all);
    assert_int_equal(me_matching(token, 40, field, want), 40);
}

static void test_invalidation(void **state)
{
    cct_resp r = cct_req(port, "POST", "/v1/users",
                         "{\"username\":\"cachy\",\"email\":\"cachy@example.org\","
                         "\"password\":\"password-cachy\"}",
                         NULL);
    assert_int_equal(r.status, 201);
    char id[64];
    snprintf(id, sizeof id, "%s", cct_jstr(&r, "id"));
    cct_resp_free(&r);
    char token[4096], admin[4096];
    token_of("cachy", "password-cachy", token, sizeof token);
    token_of("root", "rootpassword", admin, sizeof admin);

    /* Warm both replicas; then GetMe is answered from memory. */
    long hits0 = counter("cc_user_profile_cache_hits_total");
    assert_int_equal(me_matching(token, 40, "displayName", ""), 40);
    long hits = counter("cc_user_profile_cache_hits_total") - hits0;
    fprintf(stderr, "cache hits over 40 GetMe: %ld\n", hits);
    assert_true(hits >= 30);

    /* Changes through the API, through whichever replica serves them. */
    for (int round = 0; round < 4; round++) {
        char name[32];
        snprintf(name, sizeof name, "name-%d", round);
        r = cct_req(port, "PATCH", "/v1/users/me", cct_fmt("{\"displayName\":\"%s\"}", name), token);
        assert_int_equal(r.status, 200);
        cct_resp_free(&r);
        /* The caller reads its own write at once, whichever replica answers
         * the next GET, as soon as the NOTIFY lands; at least the first
         * answer of the replica that made the change is fresh. */
        assert_seen_everywhere(token, "displayName", name);
    }
    r = cct_req(port, "PUT", cct_fmt("/v1/admin/users/%s/role", id), "{\"role\":\"ROLE_SETTER\"}",
                admin);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
    assert_seen_everywhere(token, "role", "ROLE_SETTER");

    /* A change made in PostgreSQL by something else entirely. */
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&stack, "cc_user"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    const char *params[] = {id};
    PGresult *pr = PQexecParams(c, "UPDATE users SET bio = 'set in sql' WHERE id = $1::uuid", 1,
                                NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(pr), PGRES_COMMAND_OK);
    PQclear(pr);
    PQfinish(c);
    assert_seen_everywhere(token, "bio", "set in sql");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_invalidation)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
