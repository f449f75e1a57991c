/* End to end: cc-gateway and cc-user as real processes against real NATS,
 * PostgreSQL and Redis, driven over HTTP/2 (prior knowledge on the
 * cleartext port, ALPN h2 on the TLS port) with libcurl. Three gateways
 * share the services: A is roomy and fails open when Redis is down; B has
 * tight rate limits and fails closed; C has B's settings, so the two share
 * one allowance per key. */
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/jwt.h"
#include "cc/local.h"
#include "cc/log.h"
#include "cc/text.h"
#include "cctest_http.h"
#include "cctest_ws.h"

static cc_local_stack stack;
static cc_local_proc user_proc, gw_a, gw_b, gw_c;
static char dir[4096], keypath[4200];
static uint16_t port_a, port_a_tls, port_b, port_c;
static char admin_token[4096];
/* cc-user's refresh-grace here. */
enum { GRACE_MS = 3000 };

/* HTTP requests, responses and processes: tests/integration/common/cctest_http.h */

/* ---- processes ---------------------------------------------------------------- */



static void start_gateway(cc_local_proc *p, const char *name, uint16_t port, uint16_t tls,
                          const char *const *extra)
{
    uint16_t mport;
    assert_int_equal(cc_local_free_port(&mport), CC_OK);
    const char *args[32] = {cct_nats_flag(&stack, "gateway"),
                            cct_fmt("--redis-url=%s", stack.redis_url),
                            cct_fmt("--http-port=%u", port),
                            cct_fmt("--https-port=%d", tls ? (int)tls : -1),
                            cct_fmt("--metrics-port=%u", mport),
                            cct_fmt("--jwt-key=%s", keypath),
                            "--log-level=debug"};
    int n = 7;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    cct_spawn(p, name, CC_BIN_DIR, "cc-gateway", dir, args);
}


static int group_setup(void **state)
{
    if (!cct_start_stack(&stack, "test-gateway", (const char *[]){"cc_user", NULL}))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    uint16_t um;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&port_a) != CC_OK ||
        cc_local_free_port(&port_a_tls) != CC_OK || cc_local_free_port(&port_b) != CC_OK ||
        cc_local_free_port(&port_c) != CC_OK)
        return -1;
    const char *uargs[] = {cct_nats_flag(&stack, "user"),
                           cct_fmt("--redis-url=%s", stack.redis_url),
                           cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                           cct_fmt("--metrics-port=%u", um),
                           cct_fmt("--jwt-key=%s", keypath),
                           "--bcrypt-cost=4",
                           "--admin-username=root",
                           "--admin-email=root@example.org",
                           "--admin-password=rootpassword",
                           /* short, so test_refresh_lost_answer can wait it out */
                           cct_fmt("--refresh-grace=%dms", GRACE_MS),
                           "--log-level=debug",
                           NULL};
    cct_spawn(&user_proc, "cc-user", CC_BIN_DIR, "cc-user", dir, uargs);
    if (!cct_wait_status(um, "/readyz", 200, 30000)) {
        fprintf(stderr, "cc-user did not become ready (see %s/cc-user.log)\n", dir);
        return -1;
    }
    /* A built app's shape: index.html, a hashed asset and its brotli
     * sibling, a top-level file. */
    char web[4200];
    snprintf(web, sizeof web, "%s/web", dir);
    if (system(cct_fmt("mkdir -p '%s/assets' && printf '<!doctype html><title>app</title>' > "
                       "'%s/index.html' && printf 'console.log(1)' > '%s/assets/app-1234.js' && "
                       "printf 'console.log(1)' | gzip -c > '%s/assets/app-1234.js.gz' && "
                       "printf 'User-agent: *' > '%s/robots.txt'",
                       web, web, web, web, web)) != 0)
        return -1;
    start_gateway(&gw_a, "gw-a", port_a, port_a_tls,
                  (const char *[]){cct_fmt("--web-root=%s", web), "--rate-auth=100000", "--burst-auth=100000",
                                   "--rate-login=100000", "--burst-login=100000",
                                   "--rate-user=100000", "--burst-user=100000",
                                   "--rate-anon=100000", "--burst-anon=100000", "--max-body=4k",
                                   "--rate-limit-fail=open", NULL});
    /* auth: 3 at once, one more a second; user: 160 at once, one more a
     * minute (so none come back while a test runs); logins per account out
     * of the way (test_gateway_proxy covers them). */
    const char *const tight[] = {"--rate-period=60s",
                                 "--rate-auth=60",
                                 "--burst-auth=3",
                                 "--rate-login=100000",
                                 "--burst-login=100000",
                                 "--rate-user=1",
                                 "--burst-user=160",
                                 "--rate-limit-fail=closed",
                                 NULL};
    start_gateway(&gw_b, "gw-b", port_b, 0, tight);
    start_gateway(&gw_c, "gw-c", port_c, 0, tight);
    if (!cct_wait_status(port_a, "/readyz", 200, 30000) ||
        !cct_wait_status(port_b, "/readyz", 200, 30000) ||
        !cct_wait_status(port_c, "/readyz", 200, 30000)) {
        fprintf(stderr, "gateways did not become ready (see %s/gw-*.log)\n", dir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&gw_a, SIGTERM, 10000);
    cc_local_proc_stop(&gw_b, SIGTERM, 10000);
    cc_local_proc_stop(&gw_c, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

/* ---- helpers for accounts ------------------------------------------------------- */

typedef struct {
    char id[64];
    char access[4096];
    char refresh[128];
} account;

static void register_user(const char *name, account *a)
{
    cct_resp r = cct_req(port_a, "POST", "/v1/users",
                 cct_fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"password-%s\"}",
                     name, name, name),
                 NULL);
    assert_int_equal(r.status, 201);
    snprintf(a->id, sizeof a->id, "%s", cct_jstr(&r, "id"));
    cct_resp_free(&r);
}

static long login(uint16_t port, const char *name, const char *password, account *a)
{
    cct_resp r = cct_req(port, "POST", "/v1/auth/login",
                 cct_fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), NULL);
    long st = r.status;
    if (st == 200 && a) {
        snprintf(a->access, sizeof a->access, "%s", cct_jstr(&r, "accessToken"));
        snprintf(a->refresh, sizeof a->refresh, "%s", cct_jstr(&r, "refreshToken"));
        json_t *u = json_object_get(r.json, "user");
        snprintf(a->id, sizeof a->id, "%s", json_string_value(json_object_get(u, "id")));
    }
    cct_resp_free(&r);
    return st;
}

static long status_of(uint16_t port, const char *method, const char *path, const char *body,
                      const char *token)
{
    cct_resp r = cct_req(port, method, path, body, token);
    long st = r.status;
    cct_resp_free(&r);
    return st;
}

/* POST /v1/auth/refresh with tok: the status, and the new refresh token
 * into out (when 200 and out is given). */
static long refresh_with(const char *tok, char *out, size_t cap)
{
    cct_resp r = cct_req(port_a, "POST", "/v1/auth/refresh",
                         cct_fmt("{\"refreshToken\":\"%s\"}", tok), NULL);
    long st = r.status;
    if (st == 200 && out)
        snprintf(out, cap, "%s", cct_jstr(&r, "refreshToken"));
    cct_resp_free(&r);
    return st;
}

/* The user's refresh tokens that can still be used, read in PostgreSQL. */
static int live_tokens(const char *user_id)
{
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&stack, "cc_user"));
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    const char *v[] = {user_id};
    PGresult *r = PQexecParams(c,
                               "SELECT count(*) FROM refresh_tokens WHERE user_id = $1::uuid AND "
                               "used_at IS NULL AND revoked_at IS NULL",
                               1, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return n;
}

/* ---- the account lifecycle ----------------------------------------------------- */

static void test_lifecycle(void **state)
{
    account alice = {0}, a2 = {0};
    register_user("alice", &alice);
    assert_int_equal(strlen(alice.id), 36);

    cct_resp r = cct_req(port_a, "POST", "/v1/users",
                 "{\"username\":\"ALICE\",\"email\":\"x@example.org\",\"password\":\"12345678\"}",
                 NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(cct_jstr(&r, "field"), "username");
    assert_string_equal(cct_jstr(&r, "type"), "https://codecourt.dev/problems/already-exists");
    cct_resp_free(&r);
    r = cct_req(port_a, "POST", "/v1/users",
            "{\"username\":\"alice2\",\"email\":\"Alice@example.org\",\"password\":\"12345678\"}",
            NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(cct_jstr(&r, "field"), "email");
    cct_resp_free(&r);
    r = cct_req(port_a, "POST", "/v1/users",
            "{\"username\":\"bob\",\"email\":\"not-an-email\",\"password\":\"12345678\"}", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(cct_jstr(&r, "field"), "email");
    cct_resp_free(&r);
    r = cct_req(port_a, "POST", "/v1/users",
            "{\"username\":\"bob\",\"email\":\"bob@example.org\",\"password\":\"short\"}", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(cct_jstr(&r, "field"), "password");
    cct_resp_free(&r);

    assert_int_equal(login(port_a, "alice", "wrong-password", NULL), 401);
    assert_int_equal(login(port_a, "nobody", "wrong-password", NULL), 401);
    assert_int_equal(login(port_a, "alice", "password-alice", &alice), 200);

    /* The request id is echoed, and a client's own is kept. */
    char url[256], v[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/users/me", port_a);
    r = cct_req_url("GET", url, NULL, alice.access, "X-Request-Id: test-req-42");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version, CURL_HTTP_VERSION_2_0);
    assert_string_equal(cct_jstr(&r, "username"), "alice");
    assert_string_equal(cct_jstr(&r, "role"), "ROLE_USER");
    assert_non_null(cct_header(&r, "x-request-id", v, sizeof v));
    assert_string_equal(v, "test-req-42");
    /* Times are RFC 3339 in UTC (Timestamp's JSON mapping), and this one
     * is the account's creation a moment ago. */
    {
        const char *ca = cct_jstr(&r, "createdAt");
        int64_t t = 0;
        assert_true(cc_rfc3339_parse(ca, strlen(ca), &t));
        assert_int_equal(strlen(ca), 20);
        assert_true(ca[19] == 'Z');
        assert_true(llabs((long long)(t - (int64_t)time(NULL))) < 600);
    }
    cct_resp_free(&r);

    r = cct_req(port_a, "PATCH", "/v1/users/me",
            "{\"displayName\":\"Alice A.\",\"preferences\":{\"theme\":\"dark\","
            "\"language\":\"cpp17\",\"emailNotifications\":true}}",
            alice.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(cct_jstr(&r, "displayName"), "Alice A.");
    json_t *prefs = json_object_get(r.json, "preferences");
    assert_string_equal(json_string_value(json_object_get(prefs, "theme")), "dark");
    assert_true(json_is_true(json_object_get(prefs, "emailNotifications")));
    cct_resp_free(&r);
    assert_int_equal(status_of(port_a, "PATCH", "/v1/users/me",
                               "{\"preferences\":{\"theme\":\"neon\"}}", alice.access),
                     400);

    /* Refresh rotates; once the successor has been used, the old token
     * revokes the whole family. */
    account b = alice;
    char c3[128];
    r = cct_req(port_a, "POST", "/v1/auth/refresh",
            cct_fmt("{\"refreshToken\":\"%s\"}", alice.refresh), NULL);
    assert_int_equal(r.status, 200);
    snprintf(b.refresh, sizeof b.refresh, "%s", cct_jstr(&r, "refreshToken"));
    snprintf(b.access, sizeof b.access, "%s", cct_jstr(&r, "accessToken"));
    assert_string_not_equal(b.refresh, alice.refresh);
    cct_resp_free(&r);
    assert_int_equal(status_of(port_a, "GET", "/v1/users/me", NULL, b.access), 200);
    assert_int_equal(refresh_with(b.refresh, c3, sizeof c3), 200);
    assert_int_equal(refresh_with(alice.refresh, NULL, 0), 401);
    assert_int_equal(refresh_with(c3, NULL, 0), 401);

    /* Logout revokes the access token and its refresh family. */
    assert_int_equal(login(port_a, "alice@example.org", "password-alice", &a2), 200);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/logout",
                               cct_fmt("{\"refreshToken\":\"%s\"}", a2.refresh), a2.access),
                     200);
    r = cct_req(port_a, "GET", "/v1/users/me", NULL, a2.access);
    assert_int_equal(r.status, 401);
    assert_string_equal(cct_jstr(&r, "detail"), "token revoked");
    cct_resp_free(&r);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/refresh",
                               cct_fmt("{\"refreshToken\":\"%s\"}", a2.refresh), NULL),
                     401);

    /* Admin: list, change a role, disable. */
    account root = {0}, al = {0};
    assert_int_equal(login(port_a, "root", "rootpassword", &root), 200);
    snprintf(admin_token, sizeof admin_token, "%s", root.access);
    assert_int_equal(login(port_a, "alice", "password-alice", &al), 200);
    assert_int_equal(status_of(port_a, "GET", "/v1/admin/users", NULL, al.access), 403);
    r = cct_req(port_a, "GET", "/v1/admin/users?pageSize=1", NULL, root.access);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 1);
    assert_string_not_equal(cct_jstr(&r, "nextPageToken"), "");
    cct_resp_free(&r);
    r = cct_req(port_a, "PUT", cct_fmt("/v1/admin/users/%s/role", al.id), "{\"role\":\"ROLE_SETTER\"}",
            root.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(cct_jstr(&r, "role"), "ROLE_SETTER");
    cct_resp_free(&r);
    assert_int_equal(status_of(port_a, "PUT", cct_fmt("/v1/admin/users/%s/role", al.id),
                               "{\"role\":\"ROLE_KING\"}", root.access),
                     400);
    assert_int_equal(status_of(port_a, "PUT", "/v1/admin/users/not-a-uuid/role",
                               "{\"role\":\"ROLE_USER\"}", root.access),
                     400);
    assert_int_equal(status_of(port_a, "PUT", cct_fmt("/v1/admin/users/%s/disabled", al.id),
                               "{\"disabled\":true}", root.access),
                     200);
    assert_int_equal(status_of(port_a, "GET", "/v1/users/me", NULL, al.access), 401);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/refresh",
                               cct_fmt("{\"refreshToken\":\"%s\"}", al.refresh), NULL),
                     401);
    assert_int_equal(login(port_a, "alice", "password-alice", NULL), 403);
    assert_int_equal(status_of(port_a, "PUT", cct_fmt("/v1/admin/users/%s/disabled", al.id),
                               "{\"disabled\":false}", root.access),
                     200);
    assert_int_equal(login(port_a, "alice", "password-alice", NULL), 200);
}

static void test_tls_and_docs(void **state)
{
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/v1/openapi.json", port_a_tls);
    cct_resp r = cct_req_url("GET", url, NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version, CURL_HTTP_VERSION_2_0); /* ALPN chose h2 */
    json_t *paths = json_object_get(r.json, "paths");
    assert_non_null(json_object_get(paths, "/v1/auth/login"));
    assert_non_null(json_object_get(json_object_get(json_object_get(r.json, "components"),
                                                    "schemas"),
                                    "codecourt.v1.User"));
    cct_resp_free(&r);
    assert_int_equal(status_of(port_a, "GET", "/healthz", NULL, NULL), 200);
    r = cct_req(port_a, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "cc_gateway_responses_total"));
    cct_resp_free(&r);
}

/* ---- bad input -------------------------------------------------------------------- */

static void expect_problem(const char *body, long status, const char *type, const char *field)
{
    cct_resp r = cct_req(port_a, "POST", "/v1/users", body, NULL);
    assert_int_equal(r.status, status);
    char ct[128];
    assert_non_null(cct_header(&r, "content-type", ct, sizeof ct));
    assert_string_equal(ct, "application/problem+json");
    if (type)
        assert_string_equal(cct_jstr(&r, "type"), type);
    if (field)
        assert_string_equal(cct_jstr(&r, "field"), field);
    assert_true(strlen(cct_jstr(&r, "requestId")) > 0);
    cct_resp_free(&r);
}

static void test_bad_input(void **state)
{
    expect_problem("{\"username\":", 400, "https://codecourt.dev/problems/malformed-json", NULL);
    expect_problem("[1,2]", 400, "https://codecourt.dev/problems/invalid-body", NULL);
    expect_problem("{\"username\":5,\"email\":\"a@b.cd\",\"password\":\"12345678\"}", 400,
                   "https://codecourt.dev/problems/invalid-body", "username");
    expect_problem("{\"username\":\"carol\",\"isAdmin\":true}", 400,
                   "https://codecourt.dev/problems/invalid-body", "isAdmin");
    char *big = malloc(8192);
    memset(big, 'x', 8191);
    big[8191] = '\0';
    memcpy(big, "{\"username\":\"", 13);
    memcpy(big + 8189, "\"}", 3);
    cct_resp r = cct_req(port_a, "POST", "/v1/users", big, NULL);
    assert_int_equal(r.status, 413);
    cct_resp_free(&r);
    free(big);
    assert_int_equal(status_of(port_a, "GET", "/v1/users/me", NULL, NULL), 401);
    assert_int_equal(status_of(port_a, "GET", "/v1/nothing-here", NULL, NULL), 404);
    assert_int_equal(status_of(port_a, "DELETE", "/v1/users/me", NULL, NULL), 405);
    /* A path parameter wins over a body field of the same name. */
    assert_int_equal(status_of(port_a, "PUT", "/v1/admin/users/x/role",
                               "{\"role\":\"ROLE_ADMIN\",\"userId\":\"y\"}", admin_token),
                     400);
}

/* ---- token attacks --------------------------------------------------------------- */

static char *b64url(const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = malloc(n * 4 / 3 + 4);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        o[k++] = a[v >> 18 & 63];
        o[k++] = a[v >> 12 & 63];
        if (i + 1 < n)
            o[k++] = a[v >> 6 & 63];
        if (i + 2 < n)
            o[k++] = a[v & 63];
    }
    o[k] = '\0';
    return o;
}

/* Decodes base64url without padding (n chars at s) into out; the byte
 * count, or -1. */
static long unb64url(const char *s, size_t n, unsigned char *out)
{
    char buf[4100];
    assert_true(n + 3 < sizeof buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (n % 4)
        buf[n++] = '=';
    return cct_unbase64(buf, n, out);
}

static char pub_pem[4096], kid[33];
static EVP_PKEY *priv; /* the key cc-user made on its first run */

static void load_keys(void)
{
    FILE *f = fopen(keypath, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    /* A first local run makes an EC P-256 key, so tokens are ES256. */
    assert_int_equal(cc_jwt_alg_of(k), CC_JWT_ES256);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *d;
    long n = BIO_get_mem_data(b, &d);
    snprintf(pub_pem, sizeof pub_pem, "%.*s", (int)n, d);
    BIO_free(b);
    /* The kid computed here, independently of cc/jwt.h. */
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    unsigned char md[32];
    SHA256(der, (size_t)dl, md);
    OPENSSL_free(der);
    for (int i = 0; i < 16; i++)
        snprintf(kid + 2 * i, 3, "%02x", md[i]);
    EVP_PKEY_free(priv);
    priv = k;
}

static json_t *claims_of(const char *iss, const char *aud, long exp_delta, const char *sub)
{
    long now = (long)time(NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", iss, "aud", aud, "sub", sub,
                     "role", "admin", "jti", "forged0001", "iat", (json_int_t)now, "nbf",
                     (json_int_t)(now - 10), "exp", (json_int_t)(now + exp_delta));
}

/* A correctly signed ES256 token, made with our private key. */
static char *forge(const char *iss, const char *aud, long exp_delta, const char *sub)
{
    json_t *c = claims_of(iss, aud, exp_delta, sub);
    char *t = NULL;
    assert_int_equal(cc_jwt_sign(priv, kid, c, &t), CC_OK);
    json_decref(c);
    return t;
}

/* The signing input "header.payload" with alg in the header and our kid,
 * in a buffer with room for a signature. */
static char *forge_input(const char *alg, const char *sub)
{
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid);
    json_t *c = claims_of("codecourt", "codecourt-api", 300, sub);
    char *ct = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    char *h = b64url((unsigned char *)hdr, strlen(hdr)),
         *p = b64url((unsigned char *)ct, strlen(ct));
    char *in = malloc(4096);
    snprintf(in, 4096, "%s.%s", h, p);
    free(h);
    free(p);
    free(ct);
    return in;
}

/* Appends '.' and sig (n bytes) to a forge_input string. */
static char *with_sig(char *in, const unsigned char *sig, size_t n)
{
    char *s = b64url(sig, n);
    size_t l = strlen(in);
    snprintf(in + l, 4096 - l, ".%s", s);
    free(s);
    return in;
}

/* Token tok with its signature replaced by sig (n bytes). */
static char *resigned(const char *tok, const unsigned char *sig, size_t n)
{
    const char *dot = strrchr(tok, '.');
    char *in = malloc(4096);
    snprintf(in, 4096, "%.*s", (int)(dot - tok), tok);
    return with_sig(in, sig, n);
}

/* The status of GET /v1/users/me with tok, and its problem detail. */
static long me_why(const char *tok, char *why, size_t cap)
{
    cct_resp r = cct_req(port_a, "GET", "/v1/users/me", NULL, tok);
    long st = r.status;
    snprintf(why, cap, "%s", r.json ? cct_jstr(&r, "detail") : "");
    cct_resp_free(&r);
    return st;
}

static long me_with(const char *tok)
{
    return status_of(port_a, "GET", "/v1/users/me", NULL, tok);
}

static void test_token_attacks(void **state)
{
    load_keys();
    const char *nobody = "00000000-0000-4000-8000-000000000000";
    char why[256];
    /* Control: a token we sign correctly passes authentication (the user
     * does not exist, so cc-user answers 404). */
    char *good = forge("codecourt", "codecourt-api", 300, nobody);
    assert_int_equal(me_with(good), 404);
    char *t = forge("codecourt", "codecourt-api", -120, nobody);
    assert_int_equal(me_with(t), 401); /* expired */
    free(t);
    t = forge("evil", "codecourt-api", 300, nobody);
    assert_int_equal(me_with(t), 401); /* wrong iss */
    free(t);
    t = forge("codecourt", "other-api", 300, nobody);
    assert_int_equal(me_with(t), 401); /* wrong aud */
    free(t);

    /* HS256 keyed with our public key's PEM text: refused on its alg,
     * before any cryptography. */
    char *in = forge_input("HS256", nobody);
    unsigned char mac[32];
    unsigned int maclen = sizeof mac;
    assert_non_null(HMAC(EVP_sha256(), pub_pem, (int)strlen(pub_pem), (unsigned char *)in,
                         strlen(in), mac, &maclen));
    t = with_sig(in, mac, maclen);
    assert_int_equal(me_why(t, why, sizeof why), 401);
    assert_string_equal(why, "token algorithm not accepted");
    free(t);

    /* The other family: RS256 signed by a fresh RSA key under our kid. */
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    assert_non_null(rsa);
    unsigned char sig[CC_JWT_SIG_MAX];
    size_t sl;
    in = forge_input("RS256", nobody);
    assert_int_equal(cc_jwt_sign_bytes(rsa, in, strlen(in), sig, sizeof sig, &sl), CC_OK);
    assert_int_equal(sl, 256);
    t = with_sig(in, sig, sl);
    assert_int_equal(me_why(t, why, sizeof why), 401);
    assert_string_equal(why, "token algorithm not accepted");
    free(t);
    EVP_PKEY_free(rsa);

    /* ES256 by another P-256 key that claims our kid. */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    assert_non_null(other);
    in = forge_input("ES256", nobody);
    assert_int_equal(cc_jwt_sign_bytes(other, in, strlen(in), sig, sizeof sig, &sl), CC_OK);
    t = with_sig(in, sig, sl);
    assert_int_equal(me_why(t, why, sizeof why), 401);
    assert_string_equal(why, "bad token signature");
    free(t);
    EVP_PKEY_free(other);

    /* A good signature in the wrong shape: only R||S, exactly 64 bytes. */
    unsigned char rs[80], der[CC_JWT_ES256_DER_MAX];
    const char *s64 = strrchr(good, '.') + 1;
    assert_int_equal(strlen(s64), 86);
    assert_int_equal(unb64url(s64, 86, rs), 64);
    size_t dl = cc_jwt_ecdsa_from_jose(rs, der);
    assert_true(dl >= 8);
    t = resigned(good, der, dl); /* the DER that OpenSSL signs with */
    assert_int_equal(me_why(t, why, sizeof why), 401);
    assert_string_equal(why, "bad token signature");
    free(t);
    t = resigned(good, rs, 63);
    assert_int_equal(me_why(t, why, sizeof why), 401);
    assert_string_equal(why, "bad token signature");
    free(t);
    rs[64] = 0;
    t = resigned(good, rs, 65);
    assert_int_equal(me_why(t, why, sizeof why), 401);
    assert_string_equal(why, "bad token signature");
    free(t);
    t = resigned(good, rs, 64); /* control: the same 64 bytes again */
    assert_int_equal(me_with(t), 404);
    free(t);
    free(good);

    /* A token from a real login is ES256, its signature 86 characters. */
    account u = {0};
    register_user("mallory", &u);
    assert_int_equal(login(port_a, "mallory", "password-mallory", &u), 200);
    unsigned char hb[256];
    long hl = unb64url(u.access, (size_t)(strchr(u.access, '.') - u.access), hb);
    assert_true(hl > 0);
    json_t *hj = json_loadb((char *)hb, (size_t)hl, 0, NULL);
    assert_string_equal(cct_json_str(hj, "alg"), "ES256");
    assert_string_equal(cct_json_str(hj, "kid"), kid);
    json_decref(hj);
    assert_int_equal(strlen(strrchr(u.access, '.') + 1), 86);

    /* alg none, with and without a signature part. */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *h = b64url((unsigned char *)hdr, strlen(hdr));
    char *payload = strchr(u.access, '.') + 1;
    char *sigp = strchr(payload, '.');
    char tok[4096];
    snprintf(tok, sizeof tok, "%s.%.*s.", h, (int)(sigp - payload), payload);
    assert_int_equal(me_with(tok), 401);
    snprintf(tok, sizeof tok, "%s.%.*s", h, (int)(sigp - payload), payload);
    assert_int_equal(me_with(tok), 401);
    free(h);

    /* Tampered payload: role raised to admin, signature kept. */
    char claims[512];
    snprintf(claims, sizeof claims,
             "{\"sub\":\"%s\",\"role\":\"admin\",\"iss\":\"codecourt\",\"aud\":\"codecourt-api\","
             "\"jti\":\"x1\",\"exp\":%ld,\"nbf\":0}",
             u.id, (long)time(NULL) + 600);
    char *p = b64url((unsigned char *)claims, strlen(claims));
    snprintf(tok, sizeof tok, "%.*s.%s%s", (int)(strchr(u.access, '.') - u.access), u.access, p,
             sigp);
    assert_int_equal(status_of(port_a, "GET", "/v1/admin/users", NULL, tok), 401);
    free(p);
    assert_int_equal(me_with("garbage"), 401);
    assert_int_equal(me_with(u.access), 200);
    EVP_PKEY_free(priv);
    priv = NULL;

    /* Two refreshes racing with the same token: exactly one wins. */
    CURLM *m = curl_multi_init();
    cct_resp r1 = {0}, r2 = {0};
    struct curl_slist *h1, *h2;
    const char *body = cct_fmt("{\"refreshToken\":\"%s\"}", u.refresh);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/auth/refresh", port_a);
    CURL *c1 = cct_prepare(&r1, &h1, "POST", url, body, NULL, NULL);
    CURL *c2 = cct_prepare(&r2, &h2, "POST", url, body, NULL, NULL);
    curl_easy_setopt(c1, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c2, CURLOPT_FORBID_REUSE, 1L);
    curl_multi_add_handle(m, c1);
    curl_multi_add_handle(m, c2);
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(m, c1);
    curl_multi_remove_handle(m, c2);
    curl_multi_cleanup(m);
    cct_finish(c1, &r1, h1);
    cct_finish(c2, &r2, h2);
    /* The one that lost the race is a retry within the grace (its client
     * may not get the other's answer): both answer, and whichever token
     * the client goes on with revokes the other. */
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.status, 200);
    char t1[128], t2[128];
    snprintf(t1, sizeof t1, "%s", json_string_value(json_object_get(r1.json, "refreshToken")));
    snprintf(t2, sizeof t2, "%s", json_string_value(json_object_get(r2.json, "refreshToken")));
    assert_string_not_equal(t1, t2);
    assert_int_equal(live_tokens(u.id), 2);
    assert_int_equal(refresh_with(t2, NULL, 0), 200);
    assert_int_equal(live_tokens(u.id), 1);
    assert_int_equal(refresh_with(t1, NULL, 0), 401);
    assert_int_equal(live_tokens(u.id), 0);
    cct_resp_free(&r1);
    cct_resp_free(&r2);
}

/* A client that lost a refresh's answer (a browser tab left mid-refresh
 * never stores the rotated cookie) presents the used token again: within
 * the grace, while its successor is unused, that is a retry and not a
 * theft, and the session goes on. */
static void test_refresh_lost_answer(void **state)
{
    account u = {0};
    char lost[128], got[128], next[128];
    register_user("losty", &u);

    /* The answer with `lost` never arrived: the same token again gets
     * another successor; the client goes on with it, which revokes
     * `lost`. */
    assert_int_equal(login(port_a, "losty", "password-losty", &u), 200);
    assert_int_equal(refresh_with(u.refresh, lost, sizeof lost), 200);
    assert_int_equal(refresh_with(u.refresh, got, sizeof got), 200);
    assert_string_not_equal(got, lost);
    assert_int_equal(live_tokens(u.id), 2);
    assert_int_equal(refresh_with(got, next, sizeof next), 200);
    assert_int_equal(live_tokens(u.id), 1);
    /* A token of its family used since: the old token is a copy again,
     * and revokes the family. */
    assert_int_equal(refresh_with(u.refresh, NULL, 0), 401);
    assert_int_equal(live_tokens(u.id), 0);
    assert_int_equal(refresh_with(next, NULL, 0), 401);

    /* The answer that seemed lost lands after all (a cancelled request's
     * cookie stored late): the client goes on with `lost`; the successor
     * left behind turning up later is a copy, and the family goes. */
    assert_int_equal(login(port_a, "losty", "password-losty", &u), 200);
    assert_int_equal(refresh_with(u.refresh, lost, sizeof lost), 200);
    assert_int_equal(refresh_with(u.refresh, got, sizeof got), 200);
    assert_int_equal(refresh_with(lost, next, sizeof next), 200);
    assert_int_equal(refresh_with(got, NULL, 0), 401);
    assert_int_equal(refresh_with(next, NULL, 0), 401);
    assert_int_equal(live_tokens(u.id), 0);

    /* After the grace, a used token revokes the family as before. */
    assert_int_equal(login(port_a, "losty", "password-losty", &u), 200);
    assert_int_equal(refresh_with(u.refresh, lost, sizeof lost), 200);
    struct timespec past = {(GRACE_MS + 500) / 1000, (GRACE_MS + 500) % 1000 * 1000000L};
    nanosleep(&past, NULL);
    assert_int_equal(refresh_with(u.refresh, NULL, 0), 401);
    assert_int_equal(refresh_with(lost, NULL, 0), 401);
    assert_int_equal(live_tokens(u.id), 0);
}

/* ---- the live WebSocket (client: tests/integration/common/cctest_ws.h) ---------------- */

static void test_live(void **state)
{
    account u1 = {0}, u2 = {0};
    register_user("livea", &u1);
    register_user("liveb", &u2);
    assert_int_equal(login(port_a, "livea", "password-livea", &u1), 200);
    assert_int_equal(login(port_a, "liveb", "password-liveb", &u2), 200);
    /* No token, no socket. */
    assert_int_equal(status_of(port_a, "GET", "/v1/live", NULL, NULL), 401);
    int fd = cct_ws_live(port_a, u1.access);
    natsConnection *nc = NULL;
    assert_int_equal(cc_local_nats_connect(&stack, "admin", &nc), NATS_OK);
    /* The gateway subscribes when the socket opens; live messages are
     * best effort, so publish until the subscription is in place. */
    char subj_a[80], subj_b[80];
    snprintf(subj_a, sizeof subj_a, "cc.live.user.%s", u1.id);
    snprintf(subj_b, sizeof subj_b, "cc.live.user.%s", u2.id);
    char *m = NULL;
    for (int i = 0; i < 50 && !m; i++) {
        natsConnection_PublishString(nc, subj_b, "{\"for\":\"b\"}");
        natsConnection_PublishString(nc, subj_a, "{\"for\":\"a\"}");
        natsConnection_Flush(nc);
        m = cct_ws_read(fd, 200, NULL);
    }
    assert_non_null(m);
    assert_string_equal(m, "{\"for\":\"a\"}");
    free(m);
    /* Drain copies of a's message from the retries; none may be b's. */
    while ((m = cct_ws_read(fd, 300, NULL)) != NULL) {
        assert_string_equal(m, "{\"for\":\"a\"}");
        free(m);
    }
    natsConnection_PublishString(nc, subj_b, "{\"for\":\"b\"}");
    natsConnection_Flush(nc);
    m = cct_ws_read(fd, 500, NULL);
    assert_null(m); /* b's message never reaches a's socket */
    natsConnection_Destroy(nc);
    close(fd);
}

/* ---- rate limits and Redis going away ------------------------------------------------ */

static void test_rate_limit(void **state)
{
    long st = 0;
    int i;
    for (i = 0; i < 10; i++) {
        cct_resp r = cct_req(port_b, "POST", "/v1/auth/login",
                     "{\"username\":\"nobody\",\"password\":\"whatever1\"}", NULL);
        st = r.status;
        char v[32];
        if (st == 429) {
            assert_non_null(cct_header(&r, "retry-after", v, sizeof v));
            assert_true(strtol(v, NULL, 10) >= 1);
            assert_non_null(cct_header(&r, "ratelimit-remaining", v, sizeof v));
            assert_string_equal(v, "0");
            assert_string_equal(cct_jstr(&r, "type"), "https://codecourt.dev/problems/rate-limited");
            cct_resp_free(&r);
            break;
        }
        assert_int_equal(st, 401);
        assert_non_null(cct_header(&r, "ratelimit-limit", v, sizeof v));
        cct_resp_free(&r);
    }
    assert_int_equal(st, 429);
    assert_int_equal(i, 3);
    sleep(2); /* one emission interval (60 s / 60 = 1 s) and some */
    assert_int_equal(status_of(port_b, "POST", "/v1/auth/login",
                               "{\"username\":\"nobody\",\"password\":\"whatever1\"}", NULL),
                     401);

    /* A burst at once (the gateway checks the requests of one loop turn
     * in one Redis call): still exactly the burst allowance gets through. */
    sleep(4); /* the whole allowance back */
    enum { N = 8 };
    CURLM *m = curl_multi_init();
    cct_resp r[N] = {0};
    struct curl_slist *h[N];
    CURL *c[N];
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/auth/login", port_b);
    for (i = 0; i < N; i++) {
        c[i] = cct_prepare(&r[i], &h[i], "POST", url,
                           "{\"username\":\"nobody\",\"password\":\"whatever1\"}", NULL, NULL);
        curl_easy_setopt(c[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, c[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    int passed = 0, limited = 0;
    for (i = 0; i < N; i++) {
        curl_multi_remove_handle(m, c[i]);
        cct_finish(c[i], &r[i], h[i]);
        passed += r[i].status == 401;
        limited += r[i].status == 429;
        cct_resp_free(&r[i]);
    }
    curl_multi_cleanup(m);
    assert_int_equal(passed, 3);
    assert_int_equal(limited, N - 3);
}

/* A key that sends many requests leases its tokens from Redis several at
 * a time (ratelimit.c). B and C share one user's allowance of 160: what
 * B leased and did not use cannot be spent at C until B gives it back
 * (within a second or two), and the two together let exactly 160 through. */
static void test_rate_lease(void **state)
{
    account u = {0};
    register_user("leaser", &u);
    assert_int_equal(login(port_a, "leaser", "password-leaser", &u), 200);
    char v[32];
    for (int i = 0; i < 100; i++) {
        cct_resp r = cct_req(port_b, "GET", "/v1/users/me", NULL, u.access);
        assert_int_equal(r.status, 200);
        assert_non_null(cct_header(&r, "ratelimit-remaining", v, sizeof v));
        /* Counted exactly, leased tokens included. */
        assert_int_equal(strtol(v, NULL, 10), 160 - 1 - i);
        cct_resp_free(&r);
    }
    int passed = 0;
    cct_resp r = {0};
    for (int i = 0; i < 100; i++) {
        r = cct_req(port_c, "GET", "/v1/users/me", NULL, u.access);
        if (r.status != 200)
            break;
        passed++;
        cct_resp_free(&r);
    }
    assert_int_equal(r.status, 429);
    assert_non_null(cct_header(&r, "retry-after", v, sizeof v));
    assert_true(strtol(v, NULL, 10) >= 1);
    cct_resp_free(&r);
    /* B holds at most two leases' worth (burst / 16 = 10 each). */
    assert_true(passed >= 60 - 20 && passed <= 60);
    sleep(3);
    while (passed <= 60 && status_of(port_c, "GET", "/v1/users/me", NULL, u.access) == 200)
        passed++;
    assert_int_equal(passed, 60);
    /* The same for B now: nothing left. */
    assert_int_equal(status_of(port_b, "GET", "/v1/users/me", NULL, u.access), 429);
}

static void test_redis_down(void **state)
{
    account u = {0};
    register_user("redisless", &u);
    assert_int_equal(login(port_a, "redisless", "password-redisless", &u), 200);
    assert_int_equal(cc_local_stack_stop_some(&stack, CC_LOCAL_REDIS), CC_OK);
    /* Authentication never fails open. */
    assert_int_equal(me_with(u.access), 503);
    /* Gateway A fails open for anonymous calls; B fails closed. */
    assert_int_equal(login(port_a, "redisless", "password-redisless", NULL), 200);
    assert_int_equal(login(port_b, "redisless", "password-redisless", NULL), 503);
    assert_int_equal(cc_local_stack_start_some(&stack, CC_LOCAL_REDIS), CC_OK);
    bool back = false;
    for (int i = 0; i < 100 && !back; i++) {
        back = me_with(u.access) == 200;
        if (!back)
            usleep(100000);
    }
    assert_true(back);
}

/* ---- the browser app and its session ---------------------------------------------- */

static bool has_header(cct_resp *r, const char *name, const char *want)
{
    char v[1024];
    return cct_header(r, name, v, sizeof v) && strstr(v, want);
}

/* Every answer, API or app, carries the security headers. */
static void expect_security_headers(cct_resp *r)
{
    assert_true(has_header(r, "content-security-policy", "script-src 'self'"));
    assert_true(has_header(r, "content-security-policy", "frame-ancestors 'none'"));
    /* No inline script and no eval: script-src is 'self' alone. */
    char csp[1024];
    cct_header(r, "content-security-policy", csp, sizeof csp);
    const char *ss = strstr(csp, "script-src ");
    assert_non_null(ss);
    assert_int_equal(strncmp(ss, "script-src 'self';", 18), 0);
    assert_null(strstr(csp, "unsafe-eval"));
    assert_true(has_header(r, "x-content-type-options", "nosniff"));
    assert_true(has_header(r, "referrer-policy", "no-referrer"));
}

static void test_web_files(void **state)
{
    cct_resp r = cct_req(port_a, "GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<title>app</title>"));
    assert_true(has_header(&r, "content-type", "text/html"));
    assert_true(has_header(&r, "cache-control", "no-cache"));
    expect_security_headers(&r);
    cct_resp_free(&r);
    /* The app's own routes are index.html too; /v1 never is. */
    r = cct_req(port_a, "GET", "/problems/aplusb", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<title>app</title>"));
    cct_resp_free(&r);
    r = cct_req(port_a, "GET", "/v1/nothing-here", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_true(has_header(&r, "content-type", "application/problem+json"));
    expect_security_headers(&r);
    cct_resp_free(&r);
    r = cct_req(port_a, "GET", "/robots.txt", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "User-agent: *");
    cct_resp_free(&r);
    /* A hashed asset: h2o's file handler, its precompressed sibling to a
     * client that takes gzip, cached for a year. */
    r = cct_req_hdr(port_a, "GET", "/assets/app-1234.js", NULL, NULL, "Accept-Encoding: gzip");
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "content-encoding", "gzip"));
    assert_true(has_header(&r, "cache-control", "immutable"));
    assert_true(has_header(&r, "cache-control", "max-age=31536000"));
    assert_true(has_header(&r, "content-type", "javascript"));
    expect_security_headers(&r);
    cct_resp_free(&r);
    r = cct_req_hdr(port_a, "GET", "/assets/app-1234.js", NULL, NULL, "Accept-Encoding: identity");
    assert_int_equal(r.status, 200);
    assert_false(has_header(&r, "content-encoding", "gzip"));
    cct_resp_free(&r);
    r = cct_req(port_a, "GET", "/assets/../index.html", NULL, NULL);
    assert_true(r.status == 404 || r.status == 200);
    if (r.status == 200)
        assert_non_null(strstr(r.body, "<title>app</title>")); /* normalised to /index.html */
    cct_resp_free(&r);
    r = cct_req(port_a, "POST", "/somewhere", "{}", NULL);
    assert_int_equal(r.status, 405);
    cct_resp_free(&r);
}

/* The cookie's attributes, from a Set-Cookie line; the token into tok. */
static void parse_cookie(cct_resp *r, char *tok, size_t cap)
{
    char v[1024];
    assert_non_null(cct_header(r, "set-cookie", v, sizeof v));
    assert_int_equal(strncmp(v, "cc_refresh=", 11), 0);
    assert_non_null(strstr(v, "; HttpOnly"));
    assert_non_null(strstr(v, "; Secure"));
    assert_non_null(strstr(v, "; SameSite=Strict"));
    assert_non_null(strstr(v, "; Path=/v1/auth/session"));
    snprintf(tok, cap, "%.*s", (int)strcspn(v + 11, ";"), v + 11);
}

static void test_browser_session(void **state)
{
    account a;
    register_user("sessy", &a);
    cct_resp r = cct_req(port_a, "POST", "/v1/auth/session",
                         "{\"username\":\"sessy\",\"password\":\"password-sessy\"}", NULL);
    assert_int_equal(r.status, 200);
    /* The refresh token is in the HttpOnly cookie only, never in JSON. */
    assert_null(json_object_get(r.json, "refreshToken"));
    assert_true(strlen(cct_jstr(&r, "accessToken")) > 20);
    char tok[512], tok2[512];
    parse_cookie(&r, tok, sizeof tok);
    assert_true(strlen(tok) > 10);
    cct_resp_free(&r);
    /* Refresh with the cookie, from our own origin: a new access token and
     * a rotated cookie. */
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%u", port_a);
    r = cct_req_hdr(port_a, "POST", "/v1/auth/session/refresh", "{}", NULL,
                    cct_fmt("Cookie: other=1; cc_refresh=%s\nOrigin: http://%s\n"
                            "Sec-Fetch-Site: same-origin", tok, host));
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "refreshToken"));
    char access[4096];
    snprintf(access, sizeof access, "%s", cct_jstr(&r, "accessToken"));
    parse_cookie(&r, tok2, sizeof tok2);
    assert_string_not_equal(tok, tok2);
    cct_resp_free(&r);
    /* A body's token is ignored: only the cookie counts. */
    r = cct_req(port_a, "POST", "/v1/auth/session/refresh",
                cct_fmt("{\"refreshToken\":\"%s\"}", tok2), NULL);
    assert_int_equal(r.status, 401);
    cct_resp_free(&r);
    /* Another site cannot use the cookie (CSRF), whichever header says so. */
    r = cct_req_hdr(port_a, "POST", "/v1/auth/session/refresh", "{}", NULL,
                    cct_fmt("Cookie: cc_refresh=%s\nOrigin: https://evil.example", tok2));
    assert_int_equal(r.status, 403);
    cct_resp_free(&r);
    r = cct_req_hdr(port_a, "POST", "/v1/auth/session/refresh", "{}", NULL,
                    cct_fmt("Cookie: cc_refresh=%s\nSec-Fetch-Site: cross-site", tok2));
    assert_int_equal(r.status, 403);
    cct_resp_free(&r);
    /* Once its successor has been used, the used cookie is refused, and
     * removed. */
    char tok3[512];
    r = cct_req_hdr(port_a, "POST", "/v1/auth/session/refresh", "{}", NULL,
                    cct_fmt("Cookie: cc_refresh=%s", tok2));
    assert_int_equal(r.status, 200);
    parse_cookie(&r, tok3, sizeof tok3);
    cct_resp_free(&r);
    r = cct_req_hdr(port_a, "POST", "/v1/auth/session/refresh", "{}", NULL,
                    cct_fmt("Cookie: cc_refresh=%s", tok));
    assert_int_equal(r.status, 401);
    char v[512];
    assert_non_null(cct_header(&r, "set-cookie", v, sizeof v));
    assert_non_null(strstr(v, "Max-Age=0"));
    cct_resp_free(&r);
    /* Signing out removes the cookie and ends the session. */
    r = cct_req(port_a, "POST", "/v1/auth/session",
                "{\"username\":\"sessy\",\"password\":\"password-sessy\"}", NULL);
    assert_int_equal(r.status, 200);
    snprintf(access, sizeof access, "%s", cct_jstr(&r, "accessToken"));
    parse_cookie(&r, tok, sizeof tok);
    cct_resp_free(&r);
    r = cct_req_hdr(port_a, "DELETE", "/v1/auth/session", NULL, access,
                    cct_fmt("Cookie: cc_refresh=%s", tok));
    assert_int_equal(r.status, 200);
    assert_non_null(cct_header(&r, "set-cookie", v, sizeof v));
    assert_non_null(strstr(v, "cc_refresh=;"));
    assert_non_null(strstr(v, "Max-Age=0"));
    cct_resp_free(&r);
    r = cct_req_hdr(port_a, "POST", "/v1/auth/session/refresh", "{}", NULL,
                    cct_fmt("Cookie: cc_refresh=%s", tok));
    assert_int_equal(r.status, 401);
    cct_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),  cmocka_unit_test(test_tls_and_docs),
        cmocka_unit_test(test_bad_input),  cmocka_unit_test(test_token_attacks),
        cmocka_unit_test(test_refresh_lost_answer),
        cmocka_unit_test(test_live),       cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_web_files), cmocka_unit_test(test_browser_session),
        cmocka_unit_test(test_rate_lease), cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
