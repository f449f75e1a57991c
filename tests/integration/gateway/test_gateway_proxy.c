/* Rate limits behind a proxy, end to end over HTTP/2 with libcurl: the
 * client address comes from X-Forwarded-For (gateway X) or Forwarded
 * (gateway F) only when the connection comes from a trusted proxy, and
 * logins are limited per account and address before the address's own
 * allowance. A "proxy" here is a client bound to a loopback address listed
 * in --trusted-proxies (127.0.0.2 for X, 127.0.0.3 for F); a direct client
 * uses any other loopback address. Both gateways share Redis, so each test
 * uses client addresses of its own. Limits: 6 auth calls at once per
 * address, 3 logins at once per account and address, one more of each an
 * hour (so none come back while the tests run). */
#include <curl/curl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"

#define fmt cct_fmt

static cc_local_stack stack;
static cc_local_proc user_proc, gw_x, gw_f;
static char dir[4096];
static uint16_t port_x, port_f;

static const char *const limits[] = {"--rate-period=1h", "--rate-auth=1", "--burst-auth=6",
                                     "--rate-login=1", "--burst-login=3"};

static bool start_gateway(cc_local_proc *p, const char *name, uint16_t port, const char *trusted,
                          const char *header)
{
    uint16_t m;
    if (cc_local_free_port(&m) != CC_OK)
        return false;
    const char *args[24] = {cct_nats_flag(&stack, "gateway"),
                            fmt("--redis-url=%s", stack.redis_url),
                            fmt("--http-port=%u", port),
                            "--https-port=-1",
                            fmt("--metrics-port=%u", m),
                            fmt("--jwt-key=%s/jwt-key.pem", dir),
                            fmt("--trusted-proxies=%s", trusted),
                            fmt("--proxy-header=%s", header),
                            "--rate-anon=100000",
                            "--burst-anon=100000",
                            "--rate-user=100000",
                            "--burst-user=100000"};
    size_t n = 12;
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        args[n++] = limits[i];
    args[n] = NULL;
    cct_spawn(p, name, CC_BIN_DIR, "cc-gateway", dir, args);
    return cct_wait_status(port, "/readyz", 200, 30000);
}

static int group_setup(void **state)
{
    if (!cct_start_stack(&stack, "test-gateway-proxy", (const char *[]){"cc_user", NULL}))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    uint16_t um;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&port_x) != CC_OK ||
        cc_local_free_port(&port_f) != CC_OK)
        return -1;
    cct_spawn(&user_proc, "cc-user", CC_BIN_DIR, "cc-user", dir,
              (const char *[]){cct_nats_flag(&stack, "user"),
                               fmt("--redis-url=%s", stack.redis_url),
                               fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                               fmt("--metrics-port=%u", um), fmt("--jwt-key=%s/jwt-key.pem", dir),
                               "--bcrypt-cost=4", NULL});
    if (!cct_wait_status(um, "/readyz", 200, 30000))
        return -1;
    /* An IPv6 network too: a trusted hop inside the chain. */
    if (!start_gateway(&gw_x, "gw-x", port_x, "127.0.0.2/32, fd00:cc::/64", "x-forwarded-for") ||
        !start_gateway(&gw_f, "gw-f", port_f, "127.0.0.3, fd00:cc::/64", "forwarded")) {
        fprintf(stderr, "gateways did not become ready (see %s/gw-*.log)\n", dir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&gw_x, SIGTERM, 10000);
    cc_local_proc_stop(&gw_f, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    nats_Close();
    return 0;
}

/* POST path with body to port from the loopback address `from`, with the
 * header lines hdrs (NULL-terminated, or NULL); the response. */
static cct_resp post_from(uint16_t port, const char *from, const char *path, const char *body,
                          const char *const *hdrs)
{
    cct_resp r = {0};
    struct curl_slist *hl = NULL;
    CURL *c =
        cct_prepare(&r, &hl, "POST", fmt("http://127.0.0.1:%u%s", port, path), body, NULL, NULL);
    for (int i = 0; hdrs && hdrs[i]; i++)
        hl = curl_slist_append(hl, hdrs[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_INTERFACE, fmt("host!%s", from));
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "POST %s from %s: %s\n", path, from, curl_easy_strerror(rc));
    cct_finish(c, &r, hl);
    return r;
}

/* A login as name with password, through post_from; the status. */
static long login(uint16_t port, const char *from, const char *const *hdrs, const char *name,
                  const char *password)
{
    cct_resp r = post_from(port, from, "/v1/auth/login",
                           fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), hdrs);
    long st = r.status;
    cct_resp_free(&r);
    return st;
}

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A failed login for a made-up account (each call its own), through
 * post_from: 401 while allowed. Spends one token of the address only. */
static long probe(uint16_t port, const char *from, const char *const *hdrs)
{
    static int n;
    return login(port, from, hdrs, fmt("nobody%d", n++), "password-x");
}

/* Registers name (password "password-<name>") through gateway X's proxy,
 * from an address of its own. */
static void register_user(const char *name)
{
    static int n;
    cct_resp r = post_from(port_x, "127.0.0.2", "/v1/users",
                           fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\","
                               "\"password\":\"password-%s\"}",
                               name, name, name),
                           H(fmt("X-Forwarded-For: 192.0.2.%d", 100 + n++)));
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
}

static void test_untrusted_peer_ignored(void **state)
{
    /* 127.0.0.1 is no proxy of X's: whatever it claims, its calls are
     * counted as its own, and the address it names is untouched. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(probe(port_x, "127.0.0.1",
                               H(fmt("X-Forwarded-For: 203.0.113.%d", i + 1),
                                 fmt("Forwarded: for=203.0.113.%d", i + 1))),
                         401);
    assert_int_equal(probe(port_x, "127.0.0.1", H("X-Forwarded-For: 203.0.113.50")), 429);
    assert_int_equal(probe(port_x, "127.0.0.2", H("X-Forwarded-For: 203.0.113.50")), 401);
    /* The same at F with Forwarded. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(probe(port_f, "127.0.0.4", H(fmt("Forwarded: for=203.0.113.%d", i + 60))),
                         401);
    assert_int_equal(probe(port_f, "127.0.0.4", H("Forwarded: for=203.0.113.70")), 429);
}

static void test_trusted_proxy_separates_clients(void **state)
{
    /* Two clients behind one proxy: one uses up its allowance... */
    const char *a = "X-Forwarded-For: 198.51.100.7";
    for (int i = 0; i < 6; i++)
        assert_int_equal(probe(port_x, "127.0.0.2", H(a)), 401);
    cct_resp r = post_from(port_x, "127.0.0.2", "/v1/auth/login",
                           "{\"username\":\"nobody\",\"password\":\"password-x\"}", H(a));
    assert_int_equal(r.status, 429);
    char v[32];
    assert_non_null(cct_header(&r, "retry-after", v, sizeof v));
    cct_resp_free(&r);
    /* ... the other is unaffected, and so is the proxy's own address. */
    assert_int_equal(probe(port_x, "127.0.0.2", H("X-Forwarded-For: 198.51.100.8")), 401);
    assert_int_equal(probe(port_x, "127.0.0.2", NULL), 401);
    /* The right-most address that is no trusted proxy is the client: what
     * the client wrote on the left is not believed, a trusted IPv6 hop on
     * the right is skipped, and several header lines read as one list. */
    assert_int_equal(
        probe(port_x, "127.0.0.2", H("X-Forwarded-For: 192.0.2.1, 198.51.100.7, fd00:cc::1")), 429);
    assert_int_equal(probe(port_x, "127.0.0.2",
                           H("X-Forwarded-For: 192.0.2.2", "X-Forwarded-For: 198.51.100.7")),
                     429);
    assert_int_equal(probe(port_x, "127.0.0.2", H("X-Forwarded-For: 198.51.100.7:4711")), 429);
    /* X reads X-Forwarded-For only: a Forwarded header cannot free it. */
    assert_int_equal(probe(port_x, "127.0.0.2", H(a, "Forwarded: for=198.51.100.9")), 429);
    /* IPv6 clients count by their /64. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(
            probe(port_x, "127.0.0.2", H(fmt("X-Forwarded-For: 2001:db8:7:7::%x", i + 1))), 401);
    assert_int_equal(probe(port_x, "127.0.0.2", H("X-Forwarded-For: 2001:db8:7:7:ffff::1")), 429);
    assert_int_equal(probe(port_x, "127.0.0.2", H("X-Forwarded-For: 2001:db8:7:8::1")), 401);
}

static void test_forwarded_header(void **state)
{
    /* F believes RFC 7239's Forwarded from its proxy, 127.0.0.3. */
    const char *a = "Forwarded: for=192.0.2.77;proto=https";
    for (int i = 0; i < 6; i++)
        assert_int_equal(probe(port_f, "127.0.0.3", H(a)), 401);
    assert_int_equal(probe(port_f, "127.0.0.3", H(a)), 429);
    assert_int_equal(probe(port_f, "127.0.0.3",
                           H("Forwarded: for=192.0.2.1, for=192.0.2.77, for=\"[fd00:cc::1]:443\"")),
                     429);
    assert_int_equal(probe(port_f, "127.0.0.3", H("Forwarded: For=\"[2001:db8:77::1]:443\"")), 401);
    assert_int_equal(probe(port_f, "127.0.0.3", H("Forwarded: for=192.0.2.78")), 401);
    /* X-Forwarded-For means nothing to F: each of these is the proxy's
     * own address, which runs out. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(probe(port_f, "127.0.0.3", H(fmt("X-Forwarded-For: 192.0.2.%d", i + 200))),
                         401);
    assert_int_equal(probe(port_f, "127.0.0.3", H("X-Forwarded-For: 192.0.2.210")), 429);
}

static void test_login_storm(void **state)
{
    register_user("alice");
    register_user("bob");
    const char *const *attacker = H("X-Forwarded-For: 203.0.113.66");
    /* A storm of bad passwords for alice from one address: 3 tried, then
     * refused, however long it goes on. */
    cct_resp r = post_from(port_x, "127.0.0.2", "/v1/auth/login",
                           "{\"username\":\"alice\",\"password\":\"guess-0\"}", attacker);
    assert_int_equal(r.status, 401);
    char v[32];
    /* The tighter of the two limits is the one told. */
    assert_string_equal(cct_header(&r, "ratelimit-limit", v, sizeof v), "3");
    assert_string_equal(cct_header(&r, "ratelimit-remaining", v, sizeof v), "2");
    cct_resp_free(&r);
    for (int i = 1; i < 3; i++)
        assert_int_equal(login(port_x, "127.0.0.2", attacker, "alice", fmt("guess-%d", i)), 401);
    for (int i = 3; i < 30; i++)
        assert_int_equal(login(port_x, "127.0.0.2", attacker, "alice", fmt("guess-%d", i)), 429);
    /* Case does not make another account of it. */
    assert_int_equal(login(port_x, "127.0.0.2", attacker, "ALICE", "guess-x"), 429);
    /* Bob logs in from elsewhere, and so does alice herself. */
    assert_int_equal(
        login(port_x, "127.0.0.2", H("X-Forwarded-For: 203.0.113.67"), "bob", "password-bob"), 200);
    assert_int_equal(
        login(port_x, "127.0.0.2", H("X-Forwarded-For: 203.0.113.68"), "alice", "password-alice"),
        200);
    /* The refused attempts did not use up the address's own allowance
     * (others behind it, a campus, an office, still log in): 3 of 6 went. */
    assert_int_equal(login(port_x, "127.0.0.2", attacker, "bob", "password-bob"), 200);
}

static void test_many_accounts_one_address(void **state)
{
    /* One address trying account after account: the address's allowance
     * (6) stops it, whichever accounts come next. */
    const char *const *sprayer = H("X-Forwarded-For: 203.0.113.90");
    for (int i = 0; i < 6; i++)
        assert_int_equal(login(port_x, "127.0.0.2", sprayer, fmt("victim%d", i), "123456"), 401);
    for (int i = 6; i < 12; i++)
        assert_int_equal(login(port_x, "127.0.0.2", sprayer, fmt("victim%d", i), "123456"), 429);
    assert_int_equal(
        login(port_x, "127.0.0.2", H("X-Forwarded-For: 203.0.113.91"), "victim0", "123456"), 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_ignored),
        cmocka_unit_test(test_trusted_proxy_separates_clients),
        cmocka_unit_test(test_forwarded_header),
        cmocka_unit_test(test_login_storm),
        cmocka_unit_test(test_many_accounts_one_address),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
