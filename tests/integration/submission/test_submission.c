/* End to end: a user submits code and watches it judged. cc-user,
 * cc-problem (with the seeded "aplusb"), cc-submission, cc-judge serve (its
 * own cache folder) and cc-gateway run as real processes against real
 * NATS, PostgreSQL and Redis; the test talks HTTP/2 to the gateway with
 * libcurl, listens to the live channel cc.live.user.<id> on NATS, runs the
 * `codecourt` CLI as a child. The faults (judges killed, PostgreSQL and
 * NATS restarted, one Idempotency-Key sent concurrently) are in
 * test_faults.c. */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/local.h"
#include "cc/log.h"

static cc_local_stack stack;
static cc_local_proc user_proc, prob_proc, sub_proc, judge_proc, gw_proc;
static char dir[4096], keypath[4200];
static uint16_t gw_port, sub_metrics;

/* ---- HTTP ------------------------------------------------------------------- */

typedef struct {
    long status;
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

static resp req_h(const char *method, const char *path, const char *body, const char *token,
                  const char *extra)
{
    resp r = {0};
    char url[1024], auth[4200];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", gw_port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    if (extra)
        hl = curl_slist_append(hl, extra);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s %s: %s\n", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.body)
        r.json = json_loads(r.body, 0, NULL);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (getenv("TEST_DEBUG"))
        fprintf(stderr, "%s %s <- %ld %s\n", method, path, r.status, r.body ? r.body : "");
    return r;
}

static resp req(const char *method, const char *path, const char *body, const char *token)
{
    return req_h(method, path, body, token, NULL);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char bufs[64][2048];
    static int next;
    char *b = bufs[next++ % 64];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 2048, f, ap);
    va_end(ap);
    return b;
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
    memset(p, 0, sizeof *p);
    assert_int_equal(cc_local_spawn(p, &o), CC_OK);
}

static bool wait_ready(uint16_t port, int ms)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", port);
    for (int waited = 0; waited < ms; waited += 100) {
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
        long st = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_cleanup(c);
        if (st == 200)
            return true;
        usleep(100000);
    }
    return false;
}

static void start_submission(void)
{
    spawn(&sub_proc, "cc-submission", "cc-submission",
          (const char *[]){fmt("--nats-url=%s", stack.nats_url),
                           fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_submission")),
                           fmt("--metrics-port=%u", sub_metrics), "--max-queued=40",
                           "--rate-per-min=1000", "--log-level=debug", NULL});
}

static void start_judge(void)
{
    spawn(&judge_proc, "cc-judge", "cc-judge",
          (const char *[]){"serve", fmt("--nats-url=%s", stack.nats_url),
                           fmt("--judge-cache=%s/judge-cache", dir), "--metrics-port=-1",
                           "--concurrency=2", "--ack-wait=3s", "--log-level=info", NULL});
}

static int group_setup(void **state)
{
    cc_log_init("test-submission", CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (cc_local_stack_start(&stack, CC_LOCAL_ALL,
                             (const char *[]){"cc_user", "cc_problem", "cc_submission", NULL}) !=
        CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    uint16_t um, pm, gm;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&pm) != CC_OK ||
        cc_local_free_port(&gm) != CC_OK || cc_local_free_port(&sub_metrics) != CC_OK ||
        cc_local_free_port(&gw_port) != CC_OK)
        return -1;
    spawn(&user_proc, "cc-user", "cc-user",
          (const char *[]){fmt("--nats-url=%s", stack.nats_url),
                           fmt("--redis-url=%s", stack.redis_url),
                           fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                           fmt("--metrics-port=%u", um), fmt("--jwt-key=%s", keypath),
                           "--bcrypt-cost=4", "--admin-username=root",
                           "--admin-email=root@example.org", "--admin-password=rootpassword",
                           NULL});
    spawn(&prob_proc, "cc-problem", "cc-problem",
          (const char *[]){fmt("--nats-url=%s", stack.nats_url),
                           fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_problem")),
                           fmt("--metrics-port=%u", pm), NULL});
    start_submission();
    start_judge();
    if (!wait_ready(um, 30000) || !wait_ready(pm, 30000) || !wait_ready(sub_metrics, 30000)) {
        fprintf(stderr, "actors did not become ready (see %s/*.log)\n", dir);
        return -1;
    }
    spawn(&gw_proc, "cc-gateway", "cc-gateway",
          (const char *[]){fmt("--nats-url=%s", stack.nats_url),
                           fmt("--redis-url=%s", stack.redis_url),
                           fmt("--http-port=%u", gw_port), "--https-port=-1",
                           fmt("--metrics-port=%u", gm), fmt("--jwt-key=%s", keypath),
                           "--rate-user=100000", "--burst-user=100000", "--rate-auth=100000",
                           "--burst-auth=100000", "--rate-anon=100000", "--burst-anon=100000",
                           NULL});
    if (!wait_ready(gw_port, 30000)) {
        fprintf(stderr, "gateway did not become ready (see %s/cc-gateway.log)\n", dir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&gw_proc, SIGTERM, 10000);
    cc_local_proc_stop(&judge_proc, SIGTERM, 20000);
    cc_local_proc_stop(&sub_proc, SIGTERM, 10000);
    cc_local_proc_stop(&prob_proc, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    if (getenv("TEST_KEEP")) {
        fprintf(stderr, "logs kept in %s\n", dir);
        return 0;
    }
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

/* ---- accounts and submissions ----------------------------------------------------- */

typedef struct {
    char id[64];
    char token[4096];
} account;

static void login(const char *name, const char *password, account *a)
{
    resp r = req("POST", "/v1/auth/login",
                 fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), NULL);
    assert_int_equal(r.status, 200);
    snprintf(a->token, sizeof a->token, "%s", jstr(r.json, "accessToken"));
    snprintf(a->id, sizeof a->id, "%s", jstr(json_object_get(r.json, "user"), "id"));
    resp_free(&r);
}

static void new_user(const char *name, account *a)
{
    resp r = req("POST", "/v1/users",
                 fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"pw-%s-123\"}",
                     name, name, name),
                 NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    login(name, fmt("pw-%s-123", name), a);
}

static const char AC_C[] = "#include <stdio.h>\\nint main(void){long long a,b;"
                           "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                           "printf(\\\"%lld\\\\n\\\",a+b);return 0;}\\n";
/* Right on the sample (1 2 -> 3 is not a - b, but 0 0 is): some tests
 * pass, some fail. */
static const char WA_C[] = "#include <stdio.h>\\nint main(void){long long a,b;"
                           "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                           "printf(\\\"%lld\\\\n\\\",a-b);return 0;}\\n";
static const char CE_C[] = "int main(void) { this is not C; }\\n";

/* POSTs a submission; returns the HTTP status and copies the id. */
static long submit(const account *a, const char *src, const char *key, char id[64])
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
    resp r = req_h("POST", "/v1/submissions",
                   fmt("{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"%s\"}", src),
                   a->token, key ? hdr : NULL);
    long st = r.status;
    if (id)
        snprintf(id, 64, "%s", jstr(r.json, "id"));
    if (st >= 500)
        fprintf(stderr, "submit: %ld %s\n", st, r.body ? r.body : "");
    resp_free(&r);
    return st;
}

/* Polls until judged; returns the submission (caller decrefs) or NULL. */
static json_t *wait_judged(const account *a, const char *id, int ms)
{
    for (int waited = 0; waited < ms; waited += 200) {
        resp r = req("GET", fmt("/v1/submissions/%s", id), NULL, a->token);
        if (r.status == 200 && !strcmp(jstr(r.json, "status"), "judged")) {
            json_t *j = json_incref(r.json);
            resp_free(&r);
            return j;
        }
        resp_free(&r);
        usleep(200000);
    }
    fprintf(stderr, "submission %s not judged in %d ms\n", id, ms);
    return NULL;
}

static account alice, bob, root;
static char ac_id[64], wa_id[64], ce_id[64];

/* ---- tests ----------------------------------------------------------------------- */

static void test_languages(void **state)
{
    resp r = req("GET", "/v1/languages", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *langs = json_object_get(r.json, "languages");
    bool c_ok = false;
    for (size_t i = 0; i < json_array_size(langs); i++) {
        json_t *l = json_array_get(langs, i);
        if (!strcmp(jstr(l, "id"), "c"))
            c_ok = json_is_true(json_object_get(l, "available"));
    }
    assert_true(c_ok);
    resp_free(&r);
}

static void test_validation(void **state)
{
    new_user("alice", &alice);
    new_user("bob", &bob);
    login("root", "rootpassword", &root);
    resp r = req("POST", "/v1/submissions", "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"x\"}",
                 NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    r = req("POST", "/v1/submissions",
            "{\"problem\":\"no-such-problem\",\"language\":\"c\",\"source\":\"x\"}", alice.token);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "no-such-problem"));
    resp_free(&r);
    r = req("POST", "/v1/submissions",
            "{\"problem\":\"aplusb\",\"language\":\"cobol\",\"source\":\"x\"}", alice.token);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(r.json, "field"), "language");
    resp_free(&r);
    r = req("POST", "/v1/submissions", "{\"problem\":\"aplusb\",\"language\":\"c\"}", alice.token);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    size_t big = 70 * 1024;
    char *body = malloc(big + 128);
    int n = snprintf(body, 128, "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"");
    memset(body + n, 'x', big);
    snprintf(body + n + big, 8, "\"}");
    r = req("POST", "/v1/submissions", body, alice.token);
    free(body);
    assert_true(r.status == 400 || r.status == 413);
    resp_free(&r);
}

static void test_submit_and_judge(void **state)
{
    /* The live channel, as the gateway would receive it. */
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, stack.nats_url), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&sub, nc, fmt("cc.live.user.%s", alice.id)),
                     NATS_OK);
    natsConnection_Flush(nc);

    assert_int_equal(submit(&alice, AC_C, "key-ac", ac_id), 201);
    assert_int_equal(submit(&alice, WA_C, "key-wa", wa_id), 201);
    assert_int_equal(submit(&alice, CE_C, NULL, ce_id), 201);
    /* Idempotency: the same key and body is the same submission; another
     * body under the key is a 422. */
    char again[64];
    assert_int_equal(submit(&alice, AC_C, "key-ac", again), 201);
    assert_string_equal(again, ac_id);
    assert_int_equal(submit(&alice, WA_C, "key-ac", NULL), 422);
    /* Keys are per user. */
    char bobs[64];
    assert_int_equal(submit(&bob, AC_C, "key-ac", bobs), 201);
    assert_string_not_equal(bobs, ac_id);

    json_t *ac = wait_judged(&alice, ac_id, 90000);
    assert_non_null(ac);
    assert_string_equal(jstr(ac, "verdict"), "AC");
    json_t *tests = json_object_get(ac, "tests");
    assert_int_equal(json_array_size(tests), 11); /* sample + 10 secret */
    for (size_t i = 0; i < json_array_size(tests); i++)
        assert_string_equal(jstr(json_array_get(tests, i), "verdict"), "AC");
    assert_non_null(json_object_get(ac, "files"));
    json_decref(ac);

    json_t *wa = wait_judged(&alice, wa_id, 90000);
    assert_non_null(wa);
    assert_string_equal(jstr(wa, "verdict"), "WA");
    bool some_wa = false;
    tests = json_object_get(wa, "tests");
    for (size_t i = 0; i < json_array_size(tests); i++)
        some_wa = some_wa || !strcmp(jstr(json_array_get(tests, i), "verdict"), "WA");
    assert_true(some_wa);
    json_decref(wa);

    json_t *ce = wait_judged(&alice, ce_id, 90000);
    assert_non_null(ce);
    assert_string_equal(jstr(ce, "verdict"), "CE");
    assert_true(strlen(jstr(ce, "compileOutput")) > 0);
    json_decref(ce);
    json_t *b = wait_judged(&bob, bobs, 90000);
    assert_non_null(b);
    json_decref(b);

    /* Live: queued, compiling, running k of n and judged reached NATS. */
    bool queued = false, compiling = false, running = false, judged = false;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
        json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        if (j && !strcmp(jstr(j, "id"), ac_id)) {
            const char *st = jstr(j, "status");
            queued = queued || !strcmp(st, "queued");
            compiling = compiling || !strcmp(st, "compiling");
            running = running || (!strcmp(st, "running") &&
                                  json_integer_value(json_object_get(j, "testCount")) == 11 &&
                                  json_object_get(j, "test"));
            judged = judged || (!strcmp(st, "judged") && !strcmp(jstr(j, "verdict"), "AC"));
        }
        json_decref(j);
        natsMsg_Destroy(m);
    }
    assert_true(queued);
    assert_true(compiling);
    assert_true(running);
    assert_true(judged);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void test_permissions_and_lists(void **state)
{
    resp r = req("GET", fmt("/v1/submissions/%s", ac_id), NULL, bob.token);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    r = req("GET", fmt("/v1/submissions/%s", ac_id), NULL, root.token);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = req("GET", fmt("/v1/submissions/%s", ac_id), NULL, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);

    /* Own list, two per page. */
    r = req("GET", "/v1/submissions?pageSize=2", NULL, alice.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 2);
    char cursor[256];
    snprintf(cursor, sizeof cursor, "%s", jstr(r.json, "nextCursor"));
    assert_true(cursor[0]);
    resp_free(&r);
    r = req("GET", fmt("/v1/submissions?pageSize=2&cursor=%s", cursor), NULL, alice.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 1);
    assert_string_equal(jstr(r.json, "nextCursor"), "");
    resp_free(&r);
    r = req("GET", "/v1/submissions?verdict=WA", NULL, alice.token);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 1);
    resp_free(&r);
    /* A problem's submissions: an admin sees everyone's, bob his own. */
    r = req("GET", "/v1/problems/aplusb/submissions", NULL, root.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 4);
    resp_free(&r);
    r = req("GET", "/v1/problems/aplusb/submissions", NULL, bob.token);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 1);
    resp_free(&r);
}

static void test_rejudge(void **state)
{
    resp r = req("POST", fmt("/v1/submissions/%s/rejudge", wa_id), "{}", alice.token);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    r = req("POST", fmt("/v1/submissions/%s/rejudge", wa_id), "{}", root.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "attempt")), 2);
    resp_free(&r);
    json_t *wa = wait_judged(&alice, wa_id, 90000);
    assert_non_null(wa);
    assert_string_equal(jstr(wa, "verdict"), "WA");
    assert_int_equal(json_integer_value(json_object_get(wa, "attempt")), 2);
    json_decref(wa);
    r = req("POST", "/v1/problems/aplusb/rejudge", "{}", root.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 4);
    resp_free(&r);
    json_t *ac = wait_judged(&alice, ac_id, 90000);
    assert_non_null(ac);
    assert_string_equal(jstr(ac, "verdict"), "AC");
    json_decref(ac);
}

/* ---- the CLI -------------------------------------------------------------------- */

/* Runs build/bin/codecourt with args; returns its exit status and its
 * output in out. */
static int cli(char *out, size_t cap, const char *const *args)
{
    char path[4200], home[4200], server[128];
    snprintf(path, sizeof path, "%s/codecourt", CC_BIN_DIR);
    snprintf(home, sizeof home, "%s/cli-config", dir);
    snprintf(server, sizeof server, "http://127.0.0.1:%u", gw_port);
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        setenv("XDG_CONFIG_HOME", home, 1);
        setenv("CODECOURT_SERVER", server, 1);
        const char *argv[32] = {path};
        int n = 1;
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    ssize_t k;
    while ((k = read(pfd[0], out + len, cap - 1 - len)) > 0 && len + 1 < cap)
        len += (size_t)k;
    out[len] = '\0';
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (getenv("TEST_DEBUG"))
        fprintf(stderr, "codecourt %s -> %d\n%s\n", args[0], WEXITSTATUS(st), out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_cli(void **state)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/codecourt", CC_BIN_DIR);
    if (access(path, X_OK) != 0)
        skip();
    static char out[65536];
    assert_int_equal(cli(out, sizeof out,
                         (const char *[]){"register", "--username", "carol", "--email",
                                          "carol@example.org", "--password", "carol-password",
                                          NULL}),
                     0);
    assert_int_equal(cli(out, sizeof out,
                         (const char *[]){"login", "--username", "carol", "--password",
                                          "carol-password", NULL}),
                     0);
    struct stat sb;
    char tokfile[4300];
    snprintf(tokfile, sizeof tokfile, "%s/cli-config/codecourt/token", dir);
    assert_int_equal(stat(tokfile, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(cli(out, sizeof out, (const char *[]){"problems", "list", NULL}), 0);
    assert_non_null(strstr(out, "aplusb"));
    assert_int_equal(cli(out, sizeof out, (const char *[]){"problems", "show", "aplusb", NULL}), 0);
    assert_non_null(strstr(out, "A plus B"));

    char ac[4300], wa[4300];
    snprintf(ac, sizeof ac, "%s/sum.c", dir);
    snprintf(wa, sizeof wa, "%s/overflow.c", dir);
    write_file(ac, "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);"
                   "printf(\"%lld\\n\",a+b);return 0;}\n");
    write_file(wa, "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);"
                   "printf(\"%lld\\n\",a-b);return 0;}\n");
    assert_int_equal(cli(out, sizeof out, (const char *[]){"submit", ac, "--problem", "aplusb", NULL}),
                     0);
    assert_non_null(strstr(out, "AC"));
    assert_non_null(strstr(out, "test 11/11"));
    assert_int_equal(
        cli(out, sizeof out, (const char *[]){"submit", wa, "--problem", "aplusb", "--lang", "c", NULL}),
        1);
    assert_non_null(strstr(out, "WA"));
    assert_int_equal(cli(out, sizeof out, (const char *[]){"submissions", "list", NULL}), 0);
    assert_non_null(strstr(out, "aplusb"));
    /* An unreachable server is a clear error, not a hang or a crash. */
    char home[4200];
    snprintf(home, sizeof home, "%s/cli-config", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", 1);
        dup2(null, 1);
        dup2(null, 2);
        setenv("XDG_CONFIG_HOME", home, 1);
        setenv("CODECOURT_SERVER", "http://127.0.0.1:1", 1);
        execl(path, path, "problems", "list", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_languages),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_submit_and_judge),
        cmocka_unit_test(test_permissions_and_lists),
        cmocka_unit_test(test_rejudge),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
