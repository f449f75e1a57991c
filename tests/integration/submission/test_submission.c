/* End to end: a user submits code and watches it judged. cc-user,
 * cc-problem (with the seeded "aplusb"), cc-submission, cc-judge serve (its
 * own cache folder) and cc-gateway run as real processes against real
 * NATS, PostgreSQL and Redis; the test talks HTTP/2 to the gateway with
 * libcurl, listens to the live channel cc.live.user.<id> on NATS, runs the
 * `codecourt` CLI as a child. A setter's problem shows what a submitter
 * sees of a wrong answer on a secret test (through GetSubmission and the
 * gateway's live WebSocket) and what the problem's owner and an admin see.
 * The faults (judges killed, PostgreSQL and
 * NATS restarted, one Idempotency-Key sent concurrently) are in
 * test_faults.c. */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
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
#include "cctest_http.h"
#include "cctest_ws.h"

static cc_local_stack stack;
static cc_local_proc user_proc, prob_proc, sub_proc, judge_proc, gw_proc;
static char dir[4096], keypath[4200];
static uint16_t gw_port, sub_metrics;

/* HTTP requests, responses and processes: tests/integration/common/cctest_http.h */

static cct_resp req(const char *method, const char *path, const char *body, const char *token)
{
    return cct_req(gw_port, method, path, body, token);
}

static void start_submission(void)
{
    cct_spawn(
        &sub_proc, "cc-submission", CC_BIN_DIR, "cc-submission", dir,
        (const char *[]){cct_nats_flag(&stack, "submission"),
                         cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_submission")),
                         cct_fmt("--metrics-port=%u", sub_metrics), "--max-queued=40",
                         "--rate-per-min=1000", "--run-rate-per-min=4", "--run-ttl=10s",
                         "--log-level=debug", NULL});
}

static void start_judge(void)
{
    cct_spawn(&judge_proc, "cc-judge", CC_BIN_DIR, "cc-judge", dir,
              (const char *[]){"serve", cct_nats_flag(&stack, "judge"),
                               cct_fmt("--judge-cache=%s/judge-cache", dir), "--metrics-port=-1",
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
    cct_spawn(
        &user_proc, "cc-user", CC_BIN_DIR, "cc-user", dir,
        (const char *[]){cct_nats_flag(&stack, "user"), cct_fmt("--redis-url=%s", stack.redis_url),
                         cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                         cct_fmt("--metrics-port=%u", um), cct_fmt("--jwt-key=%s", keypath),
                         "--bcrypt-cost=4", "--admin-username=root",
                         "--admin-email=root@example.org", "--admin-password=rootpassword", NULL});
    cct_spawn(
        &prob_proc, "cc-problem", CC_BIN_DIR, "cc-problem", dir,
        (const char *[]){cct_nats_flag(&stack, "problem"),
                         cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_problem")),
                         cct_fmt("--metrics-port=%u", pm), NULL});
    start_submission();
    start_judge();
    if (!cct_wait_status(um, "/readyz", 200, 30000) ||
        !cct_wait_status(pm, "/readyz", 200, 30000) ||
        !cct_wait_status(sub_metrics, "/readyz", 200, 30000)) {
        fprintf(stderr, "actors did not become ready (see %s/*.log)\n", dir);
        return -1;
    }
    if (!cct_start_gateway(&gw_proc, &stack, CC_BIN_DIR, keypath, gw_port, gm, NULL))
        return -1;
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
    cct_resp r = req("POST", "/v1/auth/login",
                     cct_fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), NULL);
    assert_int_equal(r.status, 200);
    snprintf(a->token, sizeof a->token, "%s", cct_jstr(&r, "accessToken"));
    snprintf(a->id, sizeof a->id, "%s", cct_json_str(json_object_get(r.json, "user"), "id"));
    cct_resp_free(&r);
}

static void new_user(const char *name, account *a)
{
    cct_resp r =
        req("POST", "/v1/users",
            cct_fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"pw-%s-123\"}",
                    name, name, name),
            NULL);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    login(name, cct_fmt("pw-%s-123", name), a);
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

/* POSTs a submission to problem; returns the HTTP status and copies the
 * id. */
static long submit_to(const account *a, const char *problem, const char *src, const char *key,
                      char id[64])
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
    cct_resp r = cct_req_hdr(
        gw_port, "POST", "/v1/submissions",
        cct_fmt("{\"problem\":\"%s\",\"language\":\"c\",\"source\":\"%s\"}", problem, src),
        a->token, key ? hdr : NULL);
    long st = r.status;
    if (id)
        snprintf(id, 64, "%s", cct_jstr(&r, "id"));
    if (st >= 500)
        fprintf(stderr, "submit: %ld %s\n", st, r.body ? r.body : "");
    cct_resp_free(&r);
    return st;
}

/* POSTs a submission to aplusb. */
static long submit(const account *a, const char *src, const char *key, char id[64])
{
    return submit_to(a, "aplusb", src, key, id);
}

/* Polls until judged; returns the submission (caller decrefs) or NULL. */
static json_t *wait_judged(const account *a, const char *id, int ms)
{
    for (int waited = 0; waited < ms; waited += 200) {
        cct_resp r = req("GET", cct_fmt("/v1/submissions/%s", id), NULL, a->token);
        if (r.status == 200 && !strcmp(cct_jstr(&r, "status"), "judged")) {
            json_t *j = json_incref(r.json);
            cct_resp_free(&r);
            return j;
        }
        cct_resp_free(&r);
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
    cct_resp r = req("GET", "/v1/languages", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *langs = json_object_get(r.json, "languages");
    bool c_ok = false;
    for (size_t i = 0; i < json_array_size(langs); i++) {
        json_t *l = json_array_get(langs, i);
        if (!strcmp(cct_json_str(l, "id"), "c"))
            c_ok = json_is_true(json_object_get(l, "available"));
    }
    assert_true(c_ok);
    cct_resp_free(&r);
}

static void test_validation(void **state)
{
    new_user("alice", &alice);
    new_user("bob", &bob);
    login("root", "rootpassword", &root);
    cct_resp r = req("POST", "/v1/submissions",
                     "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"x\"}", NULL);
    assert_int_equal(r.status, 401);
    cct_resp_free(&r);
    r = req("POST", "/v1/submissions",
            "{\"problem\":\"no-such-problem\",\"language\":\"c\",\"source\":\"x\"}", alice.token);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "no-such-problem"));
    cct_resp_free(&r);
    r = req("POST", "/v1/submissions",
            "{\"problem\":\"aplusb\",\"language\":\"intercal\",\"source\":\"x\"}", alice.token);
    assert_int_equal(r.status, 400);
    assert_string_equal(cct_jstr(&r, "field"), "language");
    cct_resp_free(&r);
    r = req("POST", "/v1/submissions", "{\"problem\":\"aplusb\",\"language\":\"c\"}", alice.token);
    assert_int_equal(r.status, 400);
    cct_resp_free(&r);
    /* A file name that would be an option on the compiler's command line. */
    r = req("POST", "/v1/submissions",
            "{\"problem\":\"aplusb\",\"language\":\"c\",\"files\":[{\"name\":\"-o.c\","
            "\"content\":\"aW50IG1haW47\"}]}",
            alice.token);
    assert_int_equal(r.status, 400);
    assert_string_equal(cct_jstr(&r, "field"), "files");
    cct_resp_free(&r);
    r = req("POST", "/v1/submissions",
            "{\"problem\":\"aplusb\",\"language\":\"c\",\"files\":[{\"name\":\"src/-x.c\","
            "\"content\":\"aW50IG1haW47\"}]}",
            alice.token);
    assert_int_equal(r.status, 400);
    assert_string_equal(cct_jstr(&r, "field"), "files");
    cct_resp_free(&r);
    size_t big = 70 * 1024;
    char *body = malloc(big + 128);
    int n = snprintf(body, 128, "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"");
    memset(body + n, 'x', big);
    snprintf(body + n + big, 8, "\"}");
    r = req("POST", "/v1/submissions", body, alice.token);
    free(body);
    assert_true(r.status == 400 || r.status == 413);
    cct_resp_free(&r);
}

static void test_submit_and_judge(void **state)
{
    /* The live channel, as the gateway would receive it. */
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    assert_int_equal(cc_local_nats_connect(&stack, "admin", &nc), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&sub, nc, cct_fmt("cc.live.user.%s", alice.id)),
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
    assert_string_equal(cct_json_str(ac, "verdict"), "AC");
    json_t *tests = json_object_get(ac, "tests");
    assert_int_equal(json_array_size(tests), 11); /* sample + 10 secret */
    for (size_t i = 0; i < json_array_size(tests); i++)
        assert_string_equal(cct_json_str(json_array_get(tests, i), "verdict"), "AC");
    assert_non_null(json_object_get(ac, "files"));
    json_decref(ac);

    json_t *wa = wait_judged(&alice, wa_id, 90000);
    assert_non_null(wa);
    assert_string_equal(cct_json_str(wa, "verdict"), "WA");
    bool some_wa = false;
    tests = json_object_get(wa, "tests");
    for (size_t i = 0; i < json_array_size(tests); i++)
        some_wa = some_wa || !strcmp(cct_json_str(json_array_get(tests, i), "verdict"), "WA");
    assert_true(some_wa);
    json_decref(wa);

    json_t *ce = wait_judged(&alice, ce_id, 90000);
    assert_non_null(ce);
    assert_string_equal(cct_json_str(ce, "verdict"), "CE");
    assert_true(strlen(cct_json_str(ce, "compileOutput")) > 0);
    json_decref(ce);
    json_t *b = wait_judged(&bob, bobs, 90000);
    assert_non_null(b);
    json_decref(b);

    /* Live: queued, compiling, running k of n and judged reached NATS. */
    bool queued = false, compiling = false, running = false, judged = false;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
        json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
        if (j && !strcmp(cct_json_str(j, "id"), ac_id)) {
            const char *st = cct_json_str(j, "status");
            queued = queued || !strcmp(st, "queued");
            compiling = compiling || !strcmp(st, "compiling");
            running = running || (!strcmp(st, "running") &&
                                  json_integer_value(json_object_get(j, "testCount")) == 11 &&
                                  json_object_get(j, "test"));
            judged = judged || (!strcmp(st, "judged") && !strcmp(cct_json_str(j, "verdict"), "AC"));
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
    cct_resp r = req("GET", cct_fmt("/v1/submissions/%s", ac_id), NULL, bob.token);
    assert_int_equal(r.status, 404);
    cct_resp_free(&r);
    r = req("GET", cct_fmt("/v1/submissions/%s", ac_id), NULL, root.token);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
    r = req("GET", cct_fmt("/v1/submissions/%s", ac_id), NULL, NULL);
    assert_int_equal(r.status, 401);
    cct_resp_free(&r);

    /* Own list, two per page. */
    r = req("GET", "/v1/submissions?pageSize=2", NULL, alice.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 2);
    char cursor[256];
    snprintf(cursor, sizeof cursor, "%s", cct_jstr(&r, "nextCursor"));
    assert_true(cursor[0]);
    cct_resp_free(&r);
    r = req("GET", cct_fmt("/v1/submissions?pageSize=2&cursor=%s", cursor), NULL, alice.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 1);
    assert_string_equal(cct_jstr(&r, "nextCursor"), "");
    cct_resp_free(&r);
    r = req("GET", "/v1/submissions?verdict=WA", NULL, alice.token);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 1);
    cct_resp_free(&r);
    /* A problem's submissions: an admin sees everyone's, bob his own. */
    r = req("GET", "/v1/problems/aplusb/submissions", NULL, root.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 4);
    cct_resp_free(&r);
    r = req("GET", "/v1/problems/aplusb/submissions", NULL, bob.token);
    assert_int_equal(json_array_size(json_object_get(r.json, "submissions")), 1);
    cct_resp_free(&r);
}

static void test_rejudge(void **state)
{
    cct_resp r = req("POST", cct_fmt("/v1/submissions/%s/rejudge", wa_id), "{}", alice.token);
    assert_int_equal(r.status, 403);
    cct_resp_free(&r);
    r = req("POST", cct_fmt("/v1/submissions/%s/rejudge", wa_id), "{}", root.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "attempt")), 2);
    cct_resp_free(&r);
    json_t *wa = wait_judged(&alice, wa_id, 90000);
    assert_non_null(wa);
    assert_string_equal(cct_json_str(wa, "verdict"), "WA");
    assert_int_equal(json_integer_value(json_object_get(wa, "attempt")), 2);
    json_decref(wa);
    r = req("POST", "/v1/problems/aplusb/rejudge", "{}", root.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 4);
    cct_resp_free(&r);
    json_t *ac = wait_judged(&alice, ac_id, 90000);
    assert_non_null(ac);
    assert_string_equal(cct_json_str(ac, "verdict"), "AC");
    json_decref(ac);
}

/* ---- what a submitter sees of a secret test -------------------------------------- */

/* The answer of the one secret test of "hidden": no part of it may reach
 * the submitter. */
#define SECRET_IN "40000 2345\n"
#define SECRET_ANS "42345"
/* Right on the sample (1 2 -> 3), wrong on the secret test. */
static const char THREE_C[] = "#include <stdio.h>\\nint main(void){puts(\\\"3\\\");return 0;}\\n";
/* Wrong on the sample. */
static const char FOUR_C[] = "#include <stdio.h>\\nint main(void){puts(\\\"4\\\");return 0;}\\n";

/* The test named name in a submission's tests, or NULL. */
static json_t *test_named(json_t *sub, const char *name)
{
    json_t *tests = json_object_get(sub, "tests");
    for (size_t i = 0; i < json_array_size(tests); i++)
        if (!strcmp(cct_json_str(json_array_get(tests, i), "name"), name))
            return json_array_get(tests, i);
    return NULL;
}

/* GET /v1/submissions/id as a; the whole body as text (caller frees) and
 * the parsed submission in *j (caller decrefs). */
static char *get_submission(const account *a, const char *id, json_t **j)
{
    cct_resp r = req("GET", cct_fmt("/v1/submissions/%s", id), NULL, a->token);
    assert_int_equal(r.status, 200);
    char *body = strndup(r.body, r.len);
    *j = json_incref(r.json);
    cct_resp_free(&r);
    return body;
}

/* sam, a setter, owns the public problem "hidden": one sample (1 2 -> 3)
 * and one secret test whose answer is SECRET_ANS. */
static void make_hidden_problem(account *sam)
{
    new_user("sam", sam);
    cct_resp r = req("PUT", cct_fmt("/v1/admin/users/%s/role", sam->id),
                     "{\"role\":\"ROLE_SETTER\"}", root.token);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
    login("sam", "pw-sam-123", sam); /* the role travels in the token */
    r = req("POST", "/v1/problems",
            "{\"slug\":\"hidden\",\"title\":\"Hidden\",\"statementMarkdown\":\"# Hidden\","
            "\"visibility\":\"VISIBILITY_PUBLIC\",\"limits\":{\"timeLimitMs\":2000}}",
            sam->token);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    char sin[65], sans[65], xin[65], xans[65];
    cct_upload(gw_port, "1 2\n", 4, sam->token, 0, sin);
    cct_upload(gw_port, "3\n", 2, sam->token, 0, sans);
    cct_upload(gw_port, SECRET_IN, strlen(SECRET_IN), sam->token, 0, xin);
    cct_upload(gw_port, SECRET_ANS "\n", strlen(SECRET_ANS) + 1, sam->token, 0, xans);
    r = req("PUT", "/v1/problems/hidden/tests",
            cct_fmt("{\"tests\":[{\"path\":\"sample/1\",\"inputSha256\":\"%s\",\"answerSha256\":"
                    "\"%s\"},{\"path\":\"secret/1\",\"inputSha256\":\"%s\",\"answerSha256\":\"%s\"}]}",
                    sin, sans, xin, xans),
            sam->token);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
}

/* Opens eve's live socket and waits until the gateway forwards her
 * channel (it subscribes once the socket is open; live is best effort). */
static int live_socket(const account *eve)
{
    int fd = cct_ws_live(gw_port, eve->token);
    natsConnection *nc = NULL;
    assert_int_equal(cc_local_nats_connect(&stack, "admin", &nc), NATS_OK);
    char *m = NULL;
    for (int i = 0; i < 50 && !m; i++) {
        natsConnection_PublishString(nc, cct_fmt("cc.live.user.%s", eve->id), "{\"probe\":1}");
        natsConnection_Flush(nc);
        m = cct_ws_read(fd, 200, NULL);
    }
    assert_non_null(m);
    free(m);
    while ((m = cct_ws_read(fd, 300, NULL)) != NULL)
        free(m);
    natsConnection_Destroy(nc);
    return fd;
}

static void test_secret_details(void **state)
{
    account sam, eve;
    make_hidden_problem(&sam);
    new_user("eve", &eve);
    int fd = live_socket(&eve);
    char secret_id[64], sample_id[64];
    assert_int_equal(submit_to(&eve, "hidden", THREE_C, NULL, secret_id), 201);
    assert_int_equal(submit_to(&eve, "hidden", FOUR_C, NULL, sample_id), 201);
    json_t *j = wait_judged(&eve, secret_id, 90000);
    assert_non_null(j);
    json_decref(j);
    j = wait_judged(&eve, sample_id, 90000);
    assert_non_null(j);
    json_decref(j);

    /* The submitter: WA on secret/1 with its verdict and figures, but no
     * message and nothing of the answer anywhere in the reply. */
    char *body = get_submission(&eve, secret_id, &j);
    assert_string_equal(cct_json_str(j, "verdict"), "WA");
    json_t *sample = test_named(j, "sample/1"), *secret = test_named(j, "secret/1");
    assert_non_null(sample);
    assert_non_null(secret);
    assert_true(json_is_true(json_object_get(sample, "sample")));
    assert_false(json_is_true(json_object_get(secret, "sample")));
    assert_string_equal(cct_json_str(secret, "verdict"), "WA");
    assert_string_equal(cct_json_str(secret, "message"), "");
    assert_null(strstr(body, SECRET_ANS));
    free(body);
    json_decref(j);
    /* The problem's owner and an admin see why. */
    const account *privileged[] = {&sam, &root};
    for (int i = 0; i < 2; i++) {
        body = get_submission(privileged[i], secret_id, &j);
        secret = test_named(j, "secret/1");
        assert_non_null(secret);
        assert_non_null(strstr(cct_json_str(secret, "message"), "expected '" SECRET_ANS "'"));
        free(body);
        json_decref(j);
    }
    /* A sample's message is the submitter's to read. */
    body = get_submission(&eve, sample_id, &j);
    assert_string_equal(cct_json_str(j, "verdict"), "WA");
    sample = test_named(j, "sample/1");
    assert_non_null(sample);
    assert_non_null(strstr(cct_json_str(sample, "message"), "expected '3', got '4'"));
    free(body);
    json_decref(j);

    /* The live channel, through the gateway's WebSocket, follows the
     * same rule. */
    bool secret_live = false, sample_live = false;
    int judged = 0;
    char *m;
    while (judged < 2 && (m = cct_ws_read(fd, 5000, NULL)) != NULL) {
        assert_null(strstr(m, SECRET_ANS));
        json_t *o = json_loads(m, 0, NULL);
        json_t *t = json_object_get(o, "test");
        const char *id = cct_json_str(o, "id"), *name = cct_json_str(t, "name");
        if (!strcmp(cct_json_str(o, "status"), "judged"))
            judged++;
        if (!strcmp(id, secret_id) && !strcmp(name, "secret/1")) {
            assert_string_equal(cct_json_str(t, "verdict"), "WA");
            assert_string_equal(cct_json_str(t, "message"), "");
            secret_live = true;
        }
        if (!strcmp(id, sample_id) && !strcmp(name, "sample/1")) {
            assert_non_null(strstr(cct_json_str(t, "message"), "expected '3', got '4'"));
            sample_live = true;
        }
        json_decref(o);
        free(m);
    }
    assert_int_equal(judged, 2);
    assert_true(secret_live);
    assert_true(sample_live);
    close(fd);
}

/* ---- custom runs (POST /v1/runs) -------------------------------------------------- */

static const char ECHO_C[] = "#include <stdio.h>\\nint main(void){int a,b;"
                             "if(scanf(\\\"%d %d\\\",&a,&b)!=2)return 3;"
                             "printf(\\\"%d\\\\n\\\",a*b);fputs(\\\"note\\\\n\\\",stderr);"
                             "return 0;}\\n";

/* POSTs a run; returns the status and copies the id. */
static long post_run(const account *a, const char *src, const char *input, char id[64])
{
    cct_resp r = req("POST", "/v1/runs",
                     cct_fmt("{\"language\":\"c\",\"source\":\"%s\",\"stdin\":\"%s\"}", src,
                             input),
                     a->token);
    long st = r.status;
    if (id)
        snprintf(id, 64, "%s", st == 201 ? cct_jstr(&r, "id") : "");
    if (st == 429) {
        char v[32];
        assert_non_null(cct_header(&r, "retry-after", v, sizeof v));
        long secs = strtol(v, NULL, 10);
        assert_true(secs >= 1 && secs <= 60);
    }
    cct_resp_free(&r);
    return st;
}

static json_t *wait_run(const account *a, const char *id, int ms)
{
    for (int waited = 0; waited < ms; waited += 200) {
        cct_resp r = req("GET", cct_fmt("/v1/runs/%s", id), NULL, a->token);
        if (r.status == 200 && !strcmp(cct_jstr(&r, "status"), "done")) {
            json_t *j = json_incref(r.json);
            cct_resp_free(&r);
            return j;
        }
        cct_resp_free(&r);
        usleep(200000);
    }
    fprintf(stderr, "run %s not done in %d ms\n", id, ms);
    return NULL;
}

/* A run answers with the program's own output, on the live channel and
 * from GET; it is its user's alone, rate-limited, and gone after run-ttl. */
static void test_runs(void **state)
{
    account rita, other;
    new_user("rita", &rita);
    new_user("otto", &other);
    int fd = live_socket(&rita);
    char id[64];
    assert_int_equal(post_run(&rita, ECHO_C, "6 7\\n", id), 201);
    json_t *run = wait_run(&rita, id, 60000);
    assert_non_null(run);
    assert_string_equal(json_string_value(json_object_get(run, "verdict")), "OK");
    assert_string_equal(json_string_value(json_object_get(run, "stdout")), "42\n");
    assert_string_equal(json_string_value(json_object_get(run, "stderr")), "note\n");
    assert_int_equal(json_integer_value(json_object_get(run, "exitCode")), 0);
    const char *exp = json_string_value(json_object_get(run, "expiresAt"));
    assert_non_null(exp);
    assert_int_equal(strlen(exp), 20);
    json_decref(run);
    /* The same answer came live, without asking. */
    char *live = NULL;
    for (int i = 0; i < 30 && !live; i++) {
        char *m = cct_ws_read(fd, 300, NULL);
        if (m && strstr(m, "\"type\":\"run\"") && strstr(m, id))
            live = m;
        else
            free(m);
    }
    assert_non_null(live);
    json_t *lj = json_loads(live, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(lj, "stdout")), "42\n");
    json_decref(lj);
    free(live);
    close(fd);
    /* Another user is not told it exists. */
    cct_resp r = req("GET", cct_fmt("/v1/runs/%s", id), NULL, other.token);
    assert_int_equal(r.status, 404);
    cct_resp_free(&r);
    /* A program that does not compile, and one that fails on its input. */
    char ce[64], re[64];
    assert_int_equal(post_run(&rita, CE_C, "", ce), 201);
    assert_int_equal(post_run(&rita, ECHO_C, "x", re), 201);
    run = wait_run(&rita, ce, 60000);
    assert_non_null(run);
    assert_string_equal(json_string_value(json_object_get(run, "verdict")), "CE");
    assert_true(strlen(json_string_value(json_object_get(run, "compileOutput"))) > 0);
    json_decref(run);
    run = wait_run(&rita, re, 60000);
    assert_non_null(run);
    assert_string_equal(json_string_value(json_object_get(run, "verdict")), "RE");
    assert_int_equal(json_integer_value(json_object_get(run, "exitCode")), 3);
    json_decref(run);
    /* Bad input is a 400 naming the field. */
    r = req("POST", "/v1/runs", "{\"language\":\"nope\",\"source\":\"x\"}", rita.token);
    assert_int_equal(r.status, 400);
    assert_string_equal(cct_jstr(&r, "field"), "language");
    cct_resp_free(&r);
    /* --run-rate-per-min=4: the fifth in a minute is a 429 with Retry-After. */
    assert_int_equal(post_run(&rita, ECHO_C, "1 1", NULL), 201);
    assert_int_equal(post_run(&rita, ECHO_C, "1 1", NULL), 429);
    /* --run-ttl=10s: the first run is gone (read as 404) after that. */
    sleep(11);
    r = req("GET", cct_fmt("/v1/runs/%s", id), NULL, rita.token);
    assert_int_equal(r.status, 404);
    cct_resp_free(&r);
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
        cmocka_unit_test(test_secret_details),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_runs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
