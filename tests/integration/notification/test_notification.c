/* End to end: cc-notify with cc-user and cc-gateway as real processes
 * against real NATS, PostgreSQL and Redis, and a real SMTP server
 * (aiosmtpd under Debian's /usr/bin/python3, smtp_capture.py) that saves
 * every message it accepts. Judge results are published on CC_EVENTS by
 * the test itself, as the judge would. Covers: the welcome email; a
 * verdict email sent or not as the preferences say (with HTML escaping);
 * a republished event giving one email; SMTP down then up giving exactly
 * one message; the in-app list, read and unread count through the
 * gateway; a live push reaching the WebSocket. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cc/text.h"
#include "cctest_http.h"
#include "cctest_ws.h"
#include "codecourt/v1/judge.pb-c.h"

static cc_local_stack stack;
static cc_local_proc user_proc, notify_proc, gw_proc, smtp_proc;
static char dir[4096], keypath[4200], maildir[4200];
static uint16_t gw_port, smtp_port;
static natsConnection *nc;

typedef struct account {
    char id[64];
    char token[4096];
} account;
static account bob, alice;

/* ---- the SMTP server ------------------------------------------------------------ */

static bool port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void smtp_start(void)
{
    char port[8], log[4300];
    snprintf(port, sizeof port, "%u", smtp_port);
    snprintf(log, sizeof log, "%s/smtp.log", dir);
    /* Debian's own interpreter, where python3-aiosmtpd is installed. */
    const char *argv[] = {"/usr/bin/python3", CC_SMTP_CAPTURE, "127.0.0.1", port, maildir, NULL};
    cc_local_spawn_opts o = {
        .name = "smtp", .path = "/usr/bin/python3", .argv = argv, .log_path = log};
    memset(&smtp_proc, 0, sizeof smtp_proc);
    assert_int_equal(cc_local_spawn(&smtp_proc, &o), CC_OK);
    for (int i = 0; i < 100 && !port_open(smtp_port); i++)
        usleep(100000);
    assert_true(port_open(smtp_port));
}

/* Messages saved so far that contain needle; the first one's text in
 * *first (malloc'd) when first is not NULL. */
static int mail_count(const char *needle, char **first)
{
    int n = 0;
    if (first)
        *first = NULL;
    DIR *d = opendir(maildir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
            continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", maildir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        char *buf = calloc(1, 1 << 16);
        size_t k = fread(buf, 1, (1 << 16) - 1, f);
        buf[k] = '\0';
        fclose(f);
        if (strstr(buf, needle)) {
            n++;
            if (first && !*first) {
                *first = buf;
                buf = NULL;
            }
        }
        free(buf);
    }
    closedir(d);
    return n;
}

static bool wait_mail(const char *needle, int want, int ms)
{
    for (int waited = 0; waited < ms; waited += 100) {
        if (mail_count(needle, NULL) >= want)
            return true;
        usleep(100000);
    }
    return false;
}

/* ---- the database (to read delivery status) -------------------------------------- */

/* status|attempts|last_error of the email whose natural key is key, or "". */
static char *email_status(const char *key)
{
    static char out[1024];
    out[0] = '\0';
    PGconn *c = PQconnectdb(cc_local_pg_conninfo(&stack, "cc_notification"));
    if (PQstatus(c) == CONNECTION_OK) {
        const char *p[] = {key};
        PGresult *r = PQexecParams(c,
                                   "SELECT status || '|' || attempts || '|' || last_error "
                                   "FROM emails WHERE natural_key = $1",
                                   1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            snprintf(out, sizeof out, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(c);
    return out;
}

/* ---- events ------------------------------------------------------------------------ */

static void publish_judged(const char *msg_id, const char *user_id, const char *sub_id,
                           const char *verdict, const char *problem)
{
    Codecourt__V1__JudgeResult r = CODECOURT__V1__JUDGE_RESULT__INIT;
    r.submission_id = (char *)sub_id;
    r.attempt = 1;
    r.user_id = (char *)user_id;
    r.problem = (char *)problem;
    r.problem_version = "v1";
    r.verdict = (char *)verdict;
    r.score = strcmp(verdict, "AC") ? 0 : 100;
    r.max_score = 100;
    uint8_t buf[1024];
    size_t len = protobuf_c_message_get_packed_size(&r.base);
    assert_true(len <= sizeof buf);
    protobuf_c_message_pack(&r.base, buf);
    natsMsg *m = NULL, *reply = NULL;
    assert_int_equal(
        natsMsg_Create(&m, "cc.evt.submission.judged", NULL, (const char *)buf, (int)len), NATS_OK);
    natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    natsMsgHeader_Set(m, "Cc-Type", "codecourt.v1.JudgeResult");
    /* A request to a stream subject: the reply is the stream's ack. */
    assert_int_equal(natsConnection_RequestMsg(&reply, nc, m, 5000), NATS_OK);
    assert_non_null(strstr(natsMsg_GetData(reply), "\"seq\""));
    natsMsg_Destroy(reply);
    natsMsg_Destroy(m);
}

/* ---- HTTP helpers -------------------------------------------------------------------- */

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return json_integer_value(v);
    return 0;
}

static void new_user(const char *name, account *a)
{
    cct_resp r = cct_req(gw_port, "POST", "/v1/users",
                         cct_fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\","
                                 "\"password\":\"pw-%s-123\"}",
                                 name, name, name),
                         NULL);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    r = cct_req(gw_port, "POST", "/v1/auth/login",
                cct_fmt("{\"username\":\"%s\",\"password\":\"pw-%s-123\"}", name, name), NULL);
    assert_int_equal(r.status, 200);
    snprintf(a->token, sizeof a->token, "%s", cct_jstr(&r, "accessToken"));
    const char *id = json_string_value(json_object_get(json_object_get(r.json, "user"), "id"));
    snprintf(a->id, sizeof a->id, "%s", id ? id : "");
    cct_resp_free(&r);
}

static long long unread(const account *a)
{
    cct_resp r = cct_req(gw_port, "GET", "/v1/notifications/unread-count", NULL, a->token);
    assert_int_equal(r.status, 200);
    long long n = jint(r.json, "count");
    cct_resp_free(&r);
    return n;
}

static bool wait_unread(const account *a, long long want, int ms)
{
    for (int waited = 0; waited < ms; waited += 100) {
        if (unread(a) == want)
            return true;
        usleep(100000);
    }
    return false;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    cc_log_init("test-notification", CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    if (cc_local_stack_start(&stack, CC_LOCAL_ALL,
                             (const char *[]){"cc_user", "cc_notification", NULL}) != CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        return -1;
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    snprintf(maildir, sizeof maildir, "%s/mail", dir);
    mkdir(maildir, 0700);
    uint16_t um, nm, gm;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&nm) != CC_OK ||
        cc_local_free_port(&gm) != CC_OK || cc_local_free_port(&gw_port) != CC_OK ||
        cc_local_free_port(&smtp_port) != CC_OK)
        return -1;
    smtp_start();
    cct_spawn(&user_proc, "cc-user", CC_BIN_DIR, "cc-user", dir,
              (const char *[]){cct_nats_flag(&stack, "user"),
                               cct_fmt("--redis-url=%s", stack.redis_url),
                               cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                               cct_fmt("--metrics-port=%u", um), cct_fmt("--jwt-key=%s", keypath),
                               "--bcrypt-cost=4", NULL});
    cct_spawn(&notify_proc, "cc-notify", CC_BIN_DIR, "cc-notify", dir,
              (const char *[]){
                  cct_nats_flag(&stack, "notify"),
                  cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_notification")),
                  cct_fmt("--metrics-port=%u", nm),
                  cct_fmt("--smtp-url=smtp://127.0.0.1:%u", smtp_port), "--smtp-retry-min=200ms",
                  "--smtp-retry-max=1s", "--mail-poll=100ms", "--smtp-timeout=3s",
                  "--log-level=debug", NULL});
    if (!cct_wait_status(um, "/readyz", 200, 30000) ||
        !cct_wait_status(nm, "/readyz", 200, 30000)) {
        fprintf(stderr, "actors did not become ready (see %s/*.log)\n", dir);
        return -1;
    }
    if (!cct_start_gateway(&gw_proc, &stack, CC_BIN_DIR, keypath, gw_port, gm, NULL))
        return -1;
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    natsConnection_Destroy(nc);
    cc_local_proc_stop(&gw_proc, SIGTERM, 10000);
    cc_local_proc_stop(&notify_proc, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    cc_local_proc_stop(&smtp_proc, SIGTERM, 5000);
    if (getenv("TEST_KEEP")) {
        /* The stack's folder goes with the stack: keep a copy of it. */
        char cmd[16384];
        snprintf(cmd, sizeof cmd, "rm -rf '%s.kept' && cp -r '%s' '%s.kept'", dir, dir, dir);
        if (system(cmd) == 0)
            fprintf(stderr, "logs kept in %s.kept\n", dir);
    }
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

/* ---- cases ------------------------------------------------------------------------------- */

#define S1 "11111111-1111-4111-8111-000000000001"
#define S2 "11111111-1111-4111-8111-000000000002"
#define S3 "11111111-1111-4111-8111-000000000003"
#define S4 "11111111-1111-4111-8111-000000000004"

static void test_welcome_email(void **state)
{
    new_user("alice", &alice);
    assert_true(wait_mail("X-Rcpt: alice@example.org", 1, 20000));
    char *m = NULL;
    assert_int_equal(mail_count("X-Rcpt: alice@example.org", &m), 1);
    assert_non_null(strstr(m, "To: alice@example.org"));
    assert_non_null(strstr(m, "Subject: Welcome to CodeCourt, alice"));
    assert_non_null(strstr(m, "From: CodeCourt <noreply@localhost>"));
    assert_non_null(strstr(m, "Hello alice,"));
    assert_non_null(strstr(m, "Your account alice (alice@example.org) is ready."));
    assert_non_null(strstr(m, "Content-Type: text/html"));
    assert_non_null(strstr(m, "Your account <b>alice</b>"));
    free(m);
    /* The welcome is email only: nothing in-app. */
    assert_int_equal(unread(&alice), 0);
    new_user("bob", &bob);
    assert_true(wait_mail("X-Rcpt: bob@example.org", 1, 20000));
    usleep(500000);
    assert_int_equal(mail_count("X-Rcpt: alice@example.org", NULL), 1);
}

static void test_verdict_by_preference(void **state)
{
    /* Default: verdicts in-app only. */
    publish_judged("t-judged-1", bob.id, S1, "AC", "a<b>&c");
    assert_true(wait_unread(&bob, 1, 15000));
    usleep(1500000);
    assert_int_equal(mail_count(S1, NULL), 0);
    assert_string_equal(email_status("verdict:" S1 ":1"), "");

    cct_resp r = cct_req(gw_port, "GET", "/v1/notifications/preferences", NULL, bob.token);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "{\"event\":\"verdict\",\"channel\":\"inapp\",\"enabled\":true}"));
    assert_null(strstr(r.body, "{\"event\":\"verdict\",\"channel\":\"email\",\"enabled\":true}"));
    cct_resp_free(&r);
    /* An unknown event or channel is a 400 naming the field. */
    assert_int_equal(cct_status(gw_port, "PUT", "/v1/notifications/preferences",
                                "{\"preferences\":[{\"event\":\"nope\",\"channel\":\"email\","
                                "\"enabled\":true}]}",
                                bob.token),
                     400);
    assert_int_equal(cct_status(gw_port, "PUT", "/v1/notifications/preferences",
                                "{\"preferences\":[{\"event\":\"welcome\",\"channel\":\"inapp\","
                                "\"enabled\":true}]}",
                                bob.token),
                     400);
    r = cct_req(
        gw_port, "PUT", "/v1/notifications/preferences",
        "{\"preferences\":[{\"event\":\"verdict\",\"channel\":\"email\",\"enabled\":true}]}",
        bob.token);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "{\"event\":\"verdict\",\"channel\":\"email\",\"enabled\":true}"));
    cct_resp_free(&r);

    publish_judged("t-judged-2", bob.id, S2, "WA", "a<b>&c");
    assert_true(wait_mail(S2, 1, 15000));
    char *m = NULL;
    assert_int_equal(mail_count(S2, &m), 1);
    assert_non_null(strstr(m, "X-Rcpt: bob@example.org"));
    assert_non_null(strstr(m, "Subject: [CodeCourt] a<b>&c: WA"));
    assert_non_null(strstr(m, "was judged: WA"));
    /* Values are escaped in the HTML body, not in the text one. */
    assert_non_null(strstr(m, "<b>a&lt;b&gt;&amp;c</b>"));
    assert_null(strstr(m, "<b>a<b>&c</b>"));
    assert_non_null(strstr(m, "to a<b>&c was judged"));
    free(m);
    assert_non_null(strstr(email_status("verdict:" S2 ":1"), "sent|1|"));
    assert_true(wait_unread(&bob, 2, 15000));
}

static void test_redelivered_event(void **state)
{
    /* The same event again under a new Nats-Msg-Id, so JetStream stores
     * and delivers it a second time: cc-notify's natural key holds. */
    publish_judged("t-judged-2-again", bob.id, S2, "WA", "a<b>&c");
    publish_judged("t-judged-1-again", bob.id, S1, "AC", "a<b>&c");
    usleep(2500000);
    assert_int_equal(mail_count(S2, NULL), 1);
    assert_int_equal(unread(&bob), 2);
}

static void test_smtp_down_then_up(void **state)
{
    assert_int_equal(cc_local_proc_stop(&smtp_proc, SIGTERM, 5000), CC_OK);
    publish_judged("t-judged-3", bob.id, S3, "TLE", "slow");
    /* Retried with backoff while the server is away, never lost. */
    const char *st = "";
    for (int i = 0; i < 100; i++) {
        st = email_status("verdict:" S3 ":1");
        if (!strncmp(st, "pending|", 8) && strtol(st + 8, NULL, 10) >= 2)
            break;
        usleep(100000);
    }
    assert_true(!strncmp(st, "pending|", 8) && strtol(st + 8, NULL, 10) >= 2);
    assert_non_null(strchr(st + 8, '|'));
    assert_true(strlen(strchr(st + 8, '|')) > 1); /* a reason is recorded */
    assert_int_equal(mail_count(S3, NULL), 0);
    smtp_start();
    assert_true(wait_mail(S3, 1, 20000));
    usleep(2500000);
    assert_int_equal(mail_count(S3, NULL), 1);
    assert_non_null(strstr(email_status("verdict:" S3 ":1"), "sent|"));
    assert_int_equal(mail_count(S2, NULL), 1);
}

static void test_inapp_through_gateway(void **state)
{
    assert_true(wait_unread(&bob, 3, 15000));
    cct_resp r = cct_req(gw_port, "GET", "/v1/notifications?pageSize=2", NULL, bob.token);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "notifications");
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(jint(r.json, "unreadCount"), 3);
    /* Newest first among unread: S3, then S2. */
    assert_non_null(strstr(cct_json_str(json_array_get(list, 0), "link"), S3));
    char first[64], cursor[128];
    snprintf(first, sizeof first, "%s",
             json_string_value(json_object_get(json_array_get(list, 0), "id")));
    snprintf(cursor, sizeof cursor, "%s", cct_jstr(&r, "nextCursor"));
    assert_true(cursor[0] != '\0');
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "title")),
                        "slow: TLE");
    cct_resp_free(&r);
    r = cct_req(gw_port, "GET", cct_fmt("/v1/notifications?pageSize=2&cursor=%s", cursor), NULL,
                bob.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "notifications")), 1);
    assert_string_equal(cct_jstr(&r, "nextCursor"), "");
    cct_resp_free(&r);

    /* One notification with its delivery per channel: S3's email was
     * retried while SMTP was down, then sent. */
    r = cct_req(gw_port, "GET", cct_fmt("/v1/notifications/%s", first), NULL, bob.token);
    assert_int_equal(r.status, 200);
    assert_string_equal(cct_jstr(&r, "id"), first);
    json_t *dl = json_object_get(r.json, "deliveries");
    assert_int_equal(json_array_size(dl), 2);
    json_t *inapp = json_array_get(dl, 0), *mail = json_array_get(dl, 1);
    assert_string_equal(cct_json_str(inapp, "channel"), "inapp");
    assert_string_equal(cct_json_str(inapp, "status"), "delivered");
    assert_string_equal(cct_json_str(mail, "channel"), "email");
    assert_string_equal(cct_json_str(mail, "status"), "sent");
    assert_true(jint(mail, "attempts") >= 2);
    assert_non_null(json_object_get(mail, "sentAt"));
    cct_resp_free(&r);
    assert_int_equal(
        cct_status(gw_port, "GET", cct_fmt("/v1/notifications/%s", first), NULL, alice.token),
        404);
    assert_int_equal(cct_status(gw_port, "GET", "/v1/notifications/99999999", NULL, bob.token),
                     404);

    /* Someone else's notification does not exist for alice. */
    assert_int_equal(
        cct_status(gw_port, "POST", cct_fmt("/v1/notifications/%s/read", first), "{}", alice.token),
        404);
    r = cct_req(gw_port, "POST", cct_fmt("/v1/notifications/%s/read", first), "{}", bob.token);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "read")));
    cct_resp_free(&r);
    assert_int_equal(unread(&bob), 2);
    /* Unread first: the one just read is now last. */
    r = cct_req(gw_port, "GET", "/v1/notifications", NULL, bob.token);
    assert_int_equal(r.status, 200);
    list = json_object_get(r.json, "notifications");
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "id")), first);
    cct_resp_free(&r);
    r = cct_req(gw_port, "POST", "/v1/notifications/read-all", "{}", bob.token);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "marked"), 2);
    cct_resp_free(&r);
    assert_int_equal(unread(&bob), 0);
    assert_int_equal(cct_status(gw_port, "GET", "/v1/notifications", NULL, NULL), 401);
}

/* ---- the live WebSocket (client: tests/integration/common/cctest_ws.h) ------------------- */

static void test_live_push(void **state)
{
    int fd = cct_ws_live(gw_port, bob.token);
    usleep(500000); /* the gateway subscribes to cc.live.user.<id> */
    publish_judged("t-judged-4", bob.id, S4, "RE", "crashy");
    char *found = NULL;
    for (int i = 0; i < 50 && !found; i++) {
        char *m = cct_ws_read(fd, 300, NULL);
        if (m && strstr(m, "\"type\":\"notification\"") && strstr(m, S4))
            found = m;
        else
            free(m);
    }
    assert_non_null(found);
    json_t *o = json_loads(found, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "verdict");
    assert_string_equal(json_string_value(json_object_get(o, "title")), "crashy: RE");
    /* The live push writes its time as the API does: RFC 3339. */
    const char *ca = json_string_value(json_object_get(o, "createdAt"));
    int64_t t = 0;
    assert_non_null(ca);
    assert_true(cc_rfc3339_parse(ca, strlen(ca), &t));
    assert_true(llabs((long long)(t - (int64_t)time(NULL))) < 600);
    json_decref(o);
    free(found);
    close(fd);
    assert_int_equal(unread(&bob), 1);
}

/* A template naming a variable the event does not have stops cc-notify
 * at start (exit 1) with a message naming the file and the variable. */
static void test_unknown_variable_fails_at_start(void **state)
{
    char tdir[4300], cmd[9000];
    snprintf(tdir, sizeof tdir, "%s/bad-templates", dir);
    snprintf(cmd, sizeof cmd,
             "cp -r '%s' '%s' && "
             "printf '{{problem}} {{ nope }}\\n' > '%s/verdict.inapp.title'",
             CC_NOTIFY_TEMPLATES, tdir, tdir);
    assert_int_equal(system(cmd), 0);
    cc_local_proc p;
    memset(&p, 0, sizeof p);
    cct_spawn(&p, "cc-notify-bad", CC_BIN_DIR, "cc-notify", dir,
              (const char *[]){
                  cct_nats_flag(&stack, "notify"),
                  cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_notification")),
                  "--metrics-port=-1", cct_fmt("--templates=%s", tdir), NULL});
    bool exited = false;
    for (int i = 0; i < 100 && !exited; i++) {
        exited = cc_local_proc_poll(&p);
        if (!exited)
            usleep(100000);
    }
    if (!exited)
        cc_local_proc_stop(&p, SIGKILL, 1000);
    assert_true(exited);
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1);
    char log[4400];
    snprintf(log, sizeof log, "%s/cc-notify-bad.log", dir);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char buf[8192];
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    buf[k] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "unknown variable 'nope'"));
    assert_non_null(strstr(buf, "verdict.inapp.title"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_welcome_email),
        cmocka_unit_test(test_verdict_by_preference),
        cmocka_unit_test(test_redelivered_event),
        cmocka_unit_test(test_smtp_down_then_up),
        cmocka_unit_test(test_inapp_through_gateway),
        cmocka_unit_test(test_live_push),
        cmocka_unit_test(test_unknown_variable_fails_at_start),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
