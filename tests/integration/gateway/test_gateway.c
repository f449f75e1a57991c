/* End to end: cc-gateway and cc-user as real processes against real NATS,
 * PostgreSQL and Redis, driven over HTTP/2 (prior knowledge on the
 * cleartext port, ALPN h2 on the TLS port) with libcurl. Two gateways
 * share the services: A is roomy and fails open when Redis is down; B has
 * tight rate limits and fails closed. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <jwt.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/local.h"
#include "cc/log.h"

static cc_local_stack stack;
static cc_local_proc user_proc, gw_a, gw_b;
static char dir[4096], keypath[4200];
static uint16_t port_a, port_a_tls, port_b;
static char admin_token[4096];

/* ---- HTTP ------------------------------------------------------------------- */

typedef struct {
    long status;
    long version;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
    json_t *json;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

static void resp_free(resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* A header's value (lowercase name), or NULL. */
static const char *header(resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (char *line = r->headers; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)l, v);
            return out;
        }
    }
    return NULL;
}

static CURL *prepare(resp *r, struct curl_slist **hl, const char *method, const char *url,
                     const char *body, const char *token, const char *extra)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, strncmp(url, "https", 5) == 0
                                                  ? CURL_HTTP_VERSION_2TLS
                                                  : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    *hl = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[4200];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        *hl = curl_slist_append(*hl, auth);
    }
    if (extra)
        *hl = curl_slist_append(*hl, extra);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    return c;
}

static void finish(CURL *c, resp *r, struct curl_slist *hl)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r->version);
    if (r->body)
        r->json = json_loads(r->body, 0, NULL);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (getenv("TEST_DEBUG"))
        fprintf(stderr, "<- %ld %s\n", r->status, r->body ? r->body : "");
}

static resp req_url(const char *method, const char *url, const char *body, const char *token,
                    const char *extra)
{
    resp r = {0};
    struct curl_slist *hl;
    CURL *c = prepare(&r, &hl, method, url, body, token, extra);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s %s: %s\n", method, url, curl_easy_strerror(rc));
    finish(c, &r, hl);
    return r;
}

static resp req(uint16_t port, const char *method, const char *path, const char *body,
                const char *token)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    return req_url(method, url, body, token, NULL);
}

static const char *jstr(resp *r, const char *key)
{
    const char *s = json_string_value(json_object_get(r->json, key));
    return s ? s : "";
}

/* ---- processes ---------------------------------------------------------------- */

static void spawn(cc_local_proc *p, const char *name, const char *bin, const char *const *args)
{
    char path[4200], log[4200];
    snprintf(path, sizeof path, "%s/%s", CC_BIN_DIR, bin);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    const char *argv[40] = {path};
    int n = 1;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cc_local_spawn_opts o = {.name = name, .path = path, .argv = argv, .log_path = log};
    assert_int_equal(cc_local_spawn(p, &o), CC_OK);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char bufs[48][512];
    static int next;
    char *b = bufs[next++ % 48];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 512, f, ap);
    va_end(ap);
    return b;
}

static void start_gateway(cc_local_proc *p, const char *name, uint16_t port, uint16_t tls,
                          const char *const *extra)
{
    uint16_t mport;
    assert_int_equal(cc_local_free_port(&mport), CC_OK);
    const char *args[32] = {fmt("--nats-url=%s", stack.nats_url),
                            fmt("--redis-url=%s", stack.redis_url),
                            fmt("--http-port=%u", port),
                            fmt("--https-port=%d", tls ? (int)tls : -1),
                            fmt("--metrics-port=%u", mport),
                            fmt("--jwt-key=%s", keypath),
                            "--log-level=debug"};
    int n = 7;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    spawn(p, name, "cc-gateway", args);
}

static bool wait_status(uint16_t port, const char *path, long want, int ms)
{
    for (int waited = 0; waited < ms; waited += 100) {
        resp r = req(port, "GET", path, NULL, NULL);
        long st = r.status;
        resp_free(&r);
        if (st == want)
            return true;
        usleep(100000);
    }
    return false;
}

static int group_setup(void **state)
{
    cc_log_init("test-gateway", CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (cc_local_stack_start(&stack, CC_LOCAL_ALL, (const char *[]){"cc_user", NULL}) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    uint16_t um;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&port_a) != CC_OK ||
        cc_local_free_port(&port_a_tls) != CC_OK || cc_local_free_port(&port_b) != CC_OK)
        return -1;
    const char *uargs[] = {fmt("--nats-url=%s", stack.nats_url),
                           fmt("--redis-url=%s", stack.redis_url),
                           fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                           fmt("--metrics-port=%u", um),
                           fmt("--jwt-key=%s", keypath),
                           "--bcrypt-cost=4",
                           "--admin-username=root",
                           "--admin-email=root@example.org",
                           "--admin-password=rootpassword",
                           "--log-level=debug",
                           NULL};
    spawn(&user_proc, "cc-user", "cc-user", uargs);
    if (!wait_status(um, "/readyz", 200, 30000)) {
        fprintf(stderr, "cc-user did not become ready (see %s/cc-user.log)\n", dir);
        return -1;
    }
    start_gateway(&gw_a, "gw-a", port_a, port_a_tls,
                  (const char *[]){"--rate-auth=100000", "--burst-auth=100000",
                                   "--rate-user=100000", "--burst-user=100000",
                                   "--rate-anon=100000", "--burst-anon=100000",
                                   "--max-body=4k", "--rate-limit-fail=open", NULL});
    start_gateway(&gw_b, "gw-b", port_b, 0,
                  (const char *[]){"--rate-auth=3", "--burst-auth=3", "--rate-period=3s",
                                   "--rate-limit-fail=closed", NULL});
    if (!wait_status(port_a, "/readyz", 200, 30000) || !wait_status(port_b, "/readyz", 200, 30000)) {
        fprintf(stderr, "gateways did not become ready (see %s/gw-*.log)\n", dir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&gw_a, SIGTERM, 10000);
    cc_local_proc_stop(&gw_b, SIGTERM, 10000);
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
    resp r = req(port_a, "POST", "/v1/users",
                 fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"password-%s\"}",
                     name, name, name),
                 NULL);
    assert_int_equal(r.status, 201);
    snprintf(a->id, sizeof a->id, "%s", jstr(&r, "id"));
    resp_free(&r);
}

static long login(uint16_t port, const char *name, const char *password, account *a)
{
    resp r = req(port, "POST", "/v1/auth/login",
                 fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), NULL);
    long st = r.status;
    if (st == 200 && a) {
        snprintf(a->access, sizeof a->access, "%s", jstr(&r, "accessToken"));
        snprintf(a->refresh, sizeof a->refresh, "%s", jstr(&r, "refreshToken"));
        json_t *u = json_object_get(r.json, "user");
        snprintf(a->id, sizeof a->id, "%s", json_string_value(json_object_get(u, "id")));
    }
    resp_free(&r);
    return st;
}

static long status_of(uint16_t port, const char *method, const char *path, const char *body,
                      const char *token)
{
    resp r = req(port, method, path, body, token);
    long st = r.status;
    resp_free(&r);
    return st;
}

/* ---- the account lifecycle ----------------------------------------------------- */

static void test_lifecycle(void **state)
{
    account alice = {0}, a2 = {0};
    register_user("alice", &alice);
    assert_int_equal(strlen(alice.id), 36);

    resp r = req(port_a, "POST", "/v1/users",
                 "{\"username\":\"ALICE\",\"email\":\"x@example.org\",\"password\":\"12345678\"}",
                 NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(jstr(&r, "field"), "username");
    assert_string_equal(jstr(&r, "type"), "https://codecourt.dev/problems/already-exists");
    resp_free(&r);
    r = req(port_a, "POST", "/v1/users",
            "{\"username\":\"alice2\",\"email\":\"Alice@example.org\",\"password\":\"12345678\"}",
            NULL);
    assert_int_equal(r.status, 409);
    assert_string_equal(jstr(&r, "field"), "email");
    resp_free(&r);
    r = req(port_a, "POST", "/v1/users",
            "{\"username\":\"bob\",\"email\":\"not-an-email\",\"password\":\"12345678\"}", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(&r, "field"), "email");
    resp_free(&r);
    r = req(port_a, "POST", "/v1/users",
            "{\"username\":\"bob\",\"email\":\"bob@example.org\",\"password\":\"short\"}", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(&r, "field"), "password");
    resp_free(&r);

    assert_int_equal(login(port_a, "alice", "wrong-password", NULL), 401);
    assert_int_equal(login(port_a, "nobody", "wrong-password", NULL), 401);
    assert_int_equal(login(port_a, "alice", "password-alice", &alice), 200);

    /* The request id is echoed, and a client's own is kept. */
    char url[256], v[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/users/me", port_a);
    r = req_url("GET", url, NULL, alice.access, "X-Request-Id: test-req-42");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version, CURL_HTTP_VERSION_2_0);
    assert_string_equal(jstr(&r, "username"), "alice");
    assert_string_equal(jstr(&r, "role"), "ROLE_USER");
    assert_string_equal(jstr(&r, "createdAt") , jstr(&r, "createdAt"));
    assert_non_null(header(&r, "x-request-id", v, sizeof v));
    assert_string_equal(v, "test-req-42");
    assert_true(json_is_string(json_object_get(r.json, "createdAt"))); /* int64 as a string */
    resp_free(&r);

    r = req(port_a, "PATCH", "/v1/users/me",
            "{\"displayName\":\"Alice A.\",\"preferences\":{\"theme\":\"dark\","
            "\"language\":\"cpp17\",\"emailNotifications\":true}}",
            alice.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "displayName"), "Alice A.");
    json_t *prefs = json_object_get(r.json, "preferences");
    assert_string_equal(json_string_value(json_object_get(prefs, "theme")), "dark");
    assert_true(json_is_true(json_object_get(prefs, "emailNotifications")));
    resp_free(&r);
    assert_int_equal(status_of(port_a, "PATCH", "/v1/users/me",
                               "{\"preferences\":{\"theme\":\"neon\"}}", alice.access),
                     400);

    /* Refresh rotates; the old token then revokes the whole family. */
    account b = alice;
    r = req(port_a, "POST", "/v1/auth/refresh",
            fmt("{\"refreshToken\":\"%s\"}", alice.refresh), NULL);
    assert_int_equal(r.status, 200);
    snprintf(b.refresh, sizeof b.refresh, "%s", jstr(&r, "refreshToken"));
    snprintf(b.access, sizeof b.access, "%s", jstr(&r, "accessToken"));
    assert_string_not_equal(b.refresh, alice.refresh);
    resp_free(&r);
    assert_int_equal(status_of(port_a, "GET", "/v1/users/me", NULL, b.access), 200);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/refresh",
                               fmt("{\"refreshToken\":\"%s\"}", alice.refresh), NULL),
                     401);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/refresh",
                               fmt("{\"refreshToken\":\"%s\"}", b.refresh), NULL),
                     401);

    /* Logout revokes the access token and its refresh family. */
    assert_int_equal(login(port_a, "alice@example.org", "password-alice", &a2), 200);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/logout",
                               fmt("{\"refreshToken\":\"%s\"}", a2.refresh), a2.access),
                     200);
    r = req(port_a, "GET", "/v1/users/me", NULL, a2.access);
    assert_int_equal(r.status, 401);
    assert_string_equal(jstr(&r, "detail"), "token revoked");
    resp_free(&r);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/refresh",
                               fmt("{\"refreshToken\":\"%s\"}", a2.refresh), NULL),
                     401);

    /* Admin: list, change a role, disable. */
    account root = {0}, al = {0};
    assert_int_equal(login(port_a, "root", "rootpassword", &root), 200);
    snprintf(admin_token, sizeof admin_token, "%s", root.access);
    assert_int_equal(login(port_a, "alice", "password-alice", &al), 200);
    assert_int_equal(status_of(port_a, "GET", "/v1/admin/users", NULL, al.access), 403);
    r = req(port_a, "GET", "/v1/admin/users?pageSize=1", NULL, root.access);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 1);
    assert_string_not_equal(jstr(&r, "nextPageToken"), "");
    resp_free(&r);
    r = req(port_a, "PUT", fmt("/v1/admin/users/%s/role", al.id), "{\"role\":\"ROLE_SETTER\"}",
            root.access);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(&r, "role"), "ROLE_SETTER");
    resp_free(&r);
    assert_int_equal(status_of(port_a, "PUT", fmt("/v1/admin/users/%s/role", al.id),
                               "{\"role\":\"ROLE_KING\"}", root.access),
                     400);
    assert_int_equal(status_of(port_a, "PUT", "/v1/admin/users/not-a-uuid/role",
                               "{\"role\":\"ROLE_USER\"}", root.access),
                     400);
    assert_int_equal(status_of(port_a, "PUT", fmt("/v1/admin/users/%s/disabled", al.id),
                               "{\"disabled\":true}", root.access),
                     200);
    assert_int_equal(status_of(port_a, "GET", "/v1/users/me", NULL, al.access), 401);
    assert_int_equal(status_of(port_a, "POST", "/v1/auth/refresh",
                               fmt("{\"refreshToken\":\"%s\"}", al.refresh), NULL),
                     401);
    assert_int_equal(login(port_a, "alice", "password-alice", NULL), 403);
    assert_int_equal(status_of(port_a, "PUT", fmt("/v1/admin/users/%s/disabled", al.id),
                               "{\"disabled\":false}", root.access),
                     200);
    assert_int_equal(login(port_a, "alice", "password-alice", NULL), 200);
}

static void test_tls_and_docs(void **state)
{
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/v1/openapi.json", port_a_tls);
    resp r = req_url("GET", url, NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.version, CURL_HTTP_VERSION_2_0); /* ALPN chose h2 */
    json_t *paths = json_object_get(r.json, "paths");
    assert_non_null(json_object_get(paths, "/v1/auth/login"));
    assert_non_null(json_object_get(json_object_get(json_object_get(r.json, "components"),
                                                    "schemas"),
                                    "codecourt.v1.User"));
    resp_free(&r);
    assert_int_equal(status_of(port_a, "GET", "/healthz", NULL, NULL), 200);
    r = req(port_a, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "cc_gateway_responses_total"));
    resp_free(&r);
}

/* ---- bad input -------------------------------------------------------------------- */

static void expect_problem(const char *body, long status, const char *type, const char *field)
{
    resp r = req(port_a, "POST", "/v1/users", body, NULL);
    assert_int_equal(r.status, status);
    char ct[128];
    assert_non_null(header(&r, "content-type", ct, sizeof ct));
    assert_string_equal(ct, "application/problem+json");
    if (type)
        assert_string_equal(jstr(&r, "type"), type);
    if (field)
        assert_string_equal(jstr(&r, "field"), field);
    assert_true(strlen(jstr(&r, "requestId")) > 0);
    resp_free(&r);
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
    resp r = req(port_a, "POST", "/v1/users", big, NULL);
    assert_int_equal(r.status, 413);
    resp_free(&r);
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

static char pub_pem[4096], kid[33];

static void load_keys(void)
{
    FILE *f = fopen(keypath, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *d;
    long n = BIO_get_mem_data(b, &d);
    snprintf(pub_pem, sizeof pub_pem, "%.*s", (int)n, d);
    BIO_free(b);
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    unsigned char md[32];
    SHA256(der, (size_t)dl, md);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    for (int i = 0; i < 16; i++)
        snprintf(kid + 2 * i, 3, "%02x", md[i]);
}

/* Signs claims with alg and key (the private key file for RS256, the
 * public key PEM as an HMAC secret for the HS256 confusion attack). */
static char *forge(jwt_alg_t alg, const char *iss, const char *aud, long exp_delta,
                   const char *sub)
{
    jwt_t *j;
    jwt_new(&j);
    long now = (long)time(NULL);
    jwt_add_header(j, "kid", kid);
    jwt_add_grant(j, "iss", iss);
    jwt_add_grant(j, "aud", aud);
    jwt_add_grant(j, "sub", sub);
    jwt_add_grant(j, "role", "admin");
    jwt_add_grant(j, "jti", "forged0001");
    jwt_add_grant_int(j, "iat", now);
    jwt_add_grant_int(j, "nbf", now - 10);
    jwt_add_grant_int(j, "exp", now + exp_delta);
    if (alg == JWT_ALG_RS256) {
        FILE *f = fopen(keypath, "r");
        char key[8192];
        size_t n = fread(key, 1, sizeof key, f);
        fclose(f);
        jwt_set_alg(j, alg, (unsigned char *)key, (int)n);
    } else {
        jwt_set_alg(j, alg, (unsigned char *)pub_pem, (int)strlen(pub_pem));
    }
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

static long me_with(const char *tok)
{
    return status_of(port_a, "GET", "/v1/users/me", NULL, tok);
}

static void test_token_attacks(void **state)
{
    load_keys();
    const char *nobody = "00000000-0000-4000-8000-000000000000";
    /* Control: a token we sign correctly passes authentication (the user
     * does not exist, so cc-user answers 404). */
    char *t = forge(JWT_ALG_RS256, "codecourt", "codecourt-api", 300, nobody);
    assert_int_equal(me_with(t), 404);
    free(t);
    t = forge(JWT_ALG_RS256, "codecourt", "codecourt-api", -120, nobody);
    assert_int_equal(me_with(t), 401); /* expired */
    free(t);
    t = forge(JWT_ALG_RS256, "evil", "codecourt-api", 300, nobody);
    assert_int_equal(me_with(t), 401); /* wrong iss */
    free(t);
    t = forge(JWT_ALG_RS256, "codecourt", "other-api", 300, nobody);
    assert_int_equal(me_with(t), 401); /* wrong aud */
    free(t);
    t = forge(JWT_ALG_HS256, "codecourt", "codecourt-api", 300, nobody);
    assert_int_equal(me_with(t), 401); /* HS256 keyed with our public key */
    free(t);

    /* alg none, with and without a signature part. */
    account u = {0};
    register_user("mallory", &u);
    assert_int_equal(login(port_a, "mallory", "password-mallory", &u), 200);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *h = b64url((unsigned char *)hdr, strlen(hdr));
    char *payload = strchr(u.access, '.') + 1;
    char *sig = strchr(payload, '.');
    char tok[4096];
    snprintf(tok, sizeof tok, "%s.%.*s.", h, (int)(sig - payload), payload);
    assert_int_equal(me_with(tok), 401);
    snprintf(tok, sizeof tok, "%s.%.*s", h, (int)(sig - payload), payload);
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
             sig);
    assert_int_equal(status_of(port_a, "GET", "/v1/admin/users", NULL, tok), 401);
    free(p);
    assert_int_equal(me_with("garbage"), 401);
    assert_int_equal(me_with(u.access), 200);

    /* Two refreshes racing with the same token: exactly one wins. */
    CURLM *m = curl_multi_init();
    resp r1 = {0}, r2 = {0};
    struct curl_slist *h1, *h2;
    const char *body = fmt("{\"refreshToken\":\"%s\"}", u.refresh);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/auth/refresh", port_a);
    CURL *c1 = prepare(&r1, &h1, "POST", url, body, NULL, NULL);
    CURL *c2 = prepare(&r2, &h2, "POST", url, body, NULL, NULL);
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
    finish(c1, &r1, h1);
    finish(c2, &r2, h2);
    assert_true((r1.status == 200 && r2.status == 401) || (r1.status == 401 && r2.status == 200));
    resp_free(&r1);
    resp_free(&r2);
}

/* ---- the live WebSocket --------------------------------------------------------------- */

static int ws_open(const char *token)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port_a)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char rq[4500];
    int n = snprintf(rq, sizeof rq,
                     "GET /v1/live?access_token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     token);
    assert_int_equal(write(fd, rq, (size_t)n), n);
    char resp_buf[1024];
    size_t got = 0;
    while (got < sizeof resp_buf - 1) {
        ssize_t k = read(fd, resp_buf + got, 1);
        assert_true(k == 1);
        got++;
        resp_buf[got] = '\0';
        if (got >= 4 && memcmp(resp_buf + got - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    assert_non_null(strstr(resp_buf, " 101 "));
    assert_non_null(strstr(resp_buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    return fd;
}

/* Reads one unmasked text frame within ms; its payload, or NULL. */
static char *ws_read(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return NULL;
    unsigned char h[2];
    if (read(fd, h, 2) != 2)
        return NULL;
    size_t len = h[1] & 0x7f;
    if (len == 126) {
        unsigned char e[2];
        if (read(fd, e, 2) != 2)
            return NULL;
        len = (size_t)e[0] << 8 | e[1];
    }
    char *buf = calloc(1, len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t k = read(fd, buf + got, len - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return buf;
}

static void test_live(void **state)
{
    account u1 = {0}, u2 = {0};
    register_user("livea", &u1);
    register_user("liveb", &u2);
    assert_int_equal(login(port_a, "livea", "password-livea", &u1), 200);
    assert_int_equal(login(port_a, "liveb", "password-liveb", &u2), 200);
    /* No token, no socket. */
    assert_int_equal(status_of(port_a, "GET", "/v1/live", NULL, NULL), 401);
    int fd = ws_open(u1.access);
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, stack.nats_url), NATS_OK);
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
        m = ws_read(fd, 200);
    }
    assert_non_null(m);
    assert_string_equal(m, "{\"for\":\"a\"}");
    free(m);
    /* Drain copies of a's message from the retries; none may be b's. */
    while ((m = ws_read(fd, 300)) != NULL) {
        assert_string_equal(m, "{\"for\":\"a\"}");
        free(m);
    }
    natsConnection_PublishString(nc, subj_b, "{\"for\":\"b\"}");
    natsConnection_Flush(nc);
    m = ws_read(fd, 500);
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
        resp r = req(port_b, "POST", "/v1/auth/login",
                     "{\"username\":\"nobody\",\"password\":\"whatever1\"}", NULL);
        st = r.status;
        char v[32];
        if (st == 429) {
            assert_non_null(header(&r, "retry-after", v, sizeof v));
            assert_true(strtol(v, NULL, 10) >= 1);
            assert_non_null(header(&r, "ratelimit-remaining", v, sizeof v));
            assert_string_equal(v, "0");
            assert_string_equal(jstr(&r, "type"), "https://codecourt.dev/problems/rate-limited");
            resp_free(&r);
            break;
        }
        assert_int_equal(st, 401);
        assert_non_null(header(&r, "ratelimit-limit", v, sizeof v));
        resp_free(&r);
    }
    assert_int_equal(st, 429);
    assert_int_equal(i, 3);
    sleep(2); /* one emission interval (3 s / 3 = 1 s) and some */
    assert_int_equal(status_of(port_b, "POST", "/v1/auth/login",
                               "{\"username\":\"nobody\",\"password\":\"whatever1\"}", NULL),
                     401);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),   cmocka_unit_test(test_tls_and_docs),
        cmocka_unit_test(test_bad_input),   cmocka_unit_test(test_token_attacks),
        cmocka_unit_test(test_live),        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
