/* End to end: contests run through the gateway with real judging.
 * cc-user, cc-problem (seeded "aplusb"), cc-submission, cc-judge serve,
 * cc-contest, cc-stats, cc-notify and cc-gateway run as real processes on
 * real NATS, PostgreSQL and Redis; the test speaks HTTP/2 to the gateway,
 * reads /v1/live sockets and the event feed as a streaming HTTP/1.1
 * client, and runs the `codecourt` CLI to import a package.
 *
 *  - outside_the_window: 404 for no contest, 403 naming why for not
 *    registered, the problem not in the contest, not started, ended;
 *    registration closed without the invite code;
 *  - icpc_live: three teams judged for real, the board by the rules
 *    (rejected tries, CE not counted, first to solve), pushed live to a
 *    public and a jury socket; a freeze hides a later solve from the
 *    public until the unfreeze; a rejudge that changes a verdict moves
 *    the board (the test plays the judge for that attempt);
 *  - clarifications: asked, answered to the team, announced to all; in-app
 *    notifications for those reached, the announcement on the public
 *    channel;
 *  - event_feed: read from the start by a streaming client, resumed with
 *    since_token;
 *  - ioi_subtasks: a scoring package imported with the CLI, two
 *    submissions each solving one subtask: the board keeps both;
 *  - stats: the contestants' statistics and recommendations, and the
 *    notification of a new problem in a tag they solve. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/text.h"
#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"
#include "cctest_ws.h"
#include "codecourt/v1/judge.pb-c.h"

static cc_local_stack stack;
static cc_local_proc user_proc, prob_proc, sub_proc, judge_proc, contest_proc, stats_proc,
    notify_proc, gw_proc;
static char dir[4096], keypath[4200];
static uint16_t gw_port;

typedef struct {
    char id[64];
    char token[4096];
} account;

static account root, sam, alice, bob, carol, dave;

/* ---- requests -------------------------------------------------------------------- */

static cct_resp req(const char *method, const char *path, const char *body, const account *a)
{
    return cct_req(gw_port, method, path, body, a ? a->token : NULL);
}

static long status_of(const char *method, const char *path, const char *body, const account *a,
                      char *detail, size_t cap)
{
    cct_resp r = req(method, path, body, a);
    long st = r.status;
    if (detail)
        snprintf(detail, cap, "%s", cct_jstr(&r, "detail"));
    cct_resp_free(&r);
    return st;
}

static void login(const char *name, const char *password, account *a)
{
    for (int i = 0; i < 20; i++) {
        cct_resp r = req("POST", "/v1/auth/login",
                         cct_fmt("{\"username\":\"%s\",\"password\":\"%s\"}", name, password), NULL);
        if (r.status == 200) {
            snprintf(a->token, sizeof a->token, "%s", cct_jstr(&r, "accessToken"));
            snprintf(a->id, sizeof a->id, "%s", cct_json_str(json_object_get(r.json, "user"), "id"));
            cct_resp_free(&r);
            return;
        }
        cct_resp_free(&r);
        usleep(250000);
    }
    fail_msg("cannot log in as %s", name);
}

static void new_user(const char *name, account *a)
{
    cct_resp r = req("POST", "/v1/users",
                     cct_fmt("{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":"
                             "\"pw-%s-123\"}",
                             name, name, name),
                     NULL);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    login(name, cct_fmt("pw-%s-123", name), a);
}

static const char AC_C[] = "#include <stdio.h>\\nint main(void){long long a,b;"
                           "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                           "printf(\\\"%lld\\\\n\\\",a+b);return 0;}\\n";
static const char WA_C[] = "#include <stdio.h>\\nint main(void){long long a,b;"
                           "if(scanf(\\\"%lld %lld\\\",&a,&b)!=2)return 1;"
                           "printf(\\\"%lld\\\\n\\\",a-b);return 0;}\\n";
static const char CE_C[] = "int main(void) { this is not C; }\\n";
static const char ONCE_C[] = "#include <stdio.h>\\nint main(void){long long n;"
                             "if(scanf(\\\"%lld\\\",&n)!=1)return 1;"
                             "printf(\\\"%lld\\\\n\\\",n);return 0;}\\n";
static const char TWICE_C[] = "#include <stdio.h>\\nint main(void){long long n;"
                              "if(scanf(\\\"%lld\\\",&n)!=1)return 1;"
                              "printf(\\\"%lld\\\\n\\\",2*n);return 0;}\\n";
/* The scoring package's subtasks: group 1 is n <= 5, group 2 n >= 7. */
static const char SMALL_C[] = "#include <stdio.h>\\nint main(void){long long n;"
                              "if(scanf(\\\"%lld\\\",&n)!=1)return 1;"
                              "printf(\\\"%lld\\\\n\\\",n<=5?n*n:0);return 0;}\\n";
static const char LARGE_C[] = "#include <stdio.h>\\nint main(void){long long n;"
                              "if(scanf(\\\"%lld\\\",&n)!=1)return 1;"
                              "printf(\\\"%lld\\\\n\\\",n>=7?n*n:0);return 0;}\\n";

/* Submits src to problem in contest; the status, the id in id (64). */
static long submit(const account *a, const char *contest, const char *problem, const char *src,
                   char *id, char *detail, size_t cap)
{
    cct_resp r = req("POST", "/v1/submissions",
                     cct_fmt("{\"problem\":\"%s\",\"contest\":\"%s\",\"language\":\"c\","
                             "\"source\":\"%s\"}",
                             problem, contest, src),
                     a);
    long st = r.status;
    if (id)
        snprintf(id, 64, "%s", cct_jstr(&r, "id"));
    if (detail)
        snprintf(detail, cap, "%s", cct_jstr(&r, "detail"));
    cct_resp_free(&r);
    return st;
}

/* Waits until submission id is judged; its verdict and createdAt. */
static void wait_judged(const account *a, const char *id, char verdict[8], int64_t *created)
{
    for (int waited = 0; waited < 120000; waited += 200) {
        cct_resp r = req("GET", cct_fmt("/v1/submissions/%s", id), NULL, a);
        if (r.status == 200 && !strcmp(cct_jstr(&r, "status"), "judged")) {
            snprintf(verdict, 8, "%s", cct_jstr(&r, "verdict"));
            if (created) {
                const char *at = cct_jstr(&r, "createdAt"); /* RFC 3339 */
                assert_true(cc_rfc3339_parse(at, strlen(at), created));
            }
            cct_resp_free(&r);
            return;
        }
        cct_resp_free(&r);
        usleep(200000);
    }
    fail_msg("submission %s was not judged in 2 minutes (see %s)", id, dir);
}

/* Submits, waits for the verdict, checks it; the created time (Unix s). */
static int64_t judged(const account *a, const char *contest, const char *problem,
                      const char *src, const char *want, char id[64])
{
    char detail[512];
    long st = submit(a, contest, problem, src, id, detail, sizeof detail);
    if (st != 201)
        fail_msg("submit %s/%s: %ld %s", contest, problem, st, detail);
    char verdict[8];
    int64_t created = 0;
    wait_judged(a, id, verdict, &created);
    assert_string_equal(verdict, want);
    return created;
}

/* The scoreboard as a's token sees it (publicView for the jury). */
static json_t *scoreboard(const char *contest, const account *a, bool public_view)
{
    cct_resp r = req("GET",
                     cct_fmt("/v1/contests/%s/scoreboard%s", contest,
                             public_view ? "?publicView=true" : ""),
                     NULL, a);
    assert_int_equal(r.status, 200);
    json_t *j = json_incref(r.json);
    cct_resp_free(&r);
    return j;
}

static json_t *row_of(json_t *board, const char *team_name)
{
    json_t *rows = json_object_get(board, "rows");
    for (size_t i = 0; i < json_array_size(rows); i++)
        if (!strcmp(cct_json_str(json_array_get(rows, i), "teamName"), team_name))
            return json_array_get(rows, i);
    fail_msg("no row for %s", team_name);
    return NULL;
}

static json_t *cell_of(json_t *row, const char *label)
{
    json_t *cells = json_object_get(row, "cells");
    for (size_t i = 0; i < json_array_size(cells); i++)
        if (!strcmp(cct_json_str(json_array_get(cells, i), "label"), label))
            return json_array_get(cells, i);
    fail_msg("no cell %s", label);
    return NULL;
}

static long long jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
}

/* Polls until the contest's jury board has team's cell label with solved
 * as given and tries as given (the read model follows the events). */
static json_t *board_when(const char *contest, const account *a, bool public_view,
                          const char *team, const char *label, bool solved, int tries)
{
    for (int i = 0; i < 150; i++) {
        json_t *b = scoreboard(contest, a, public_view);
        json_t *rows = json_object_get(b, "rows");
        for (size_t k = 0; k < json_array_size(rows); k++) {
            json_t *r = json_array_get(rows, k);
            if (strcmp(cct_json_str(r, "teamName"), team))
                continue;
            json_t *c = cell_of(r, label);
            if (json_is_true(json_object_get(c, "solved")) == solved &&
                jnum(c, "tries") == tries)
                return b;
        }
        json_decref(b);
        usleep(100000);
    }
    fail_msg("%s's %s never became solved=%d tries=%d", team, label, solved, tries);
    return NULL;
}

/* ---- live sockets ------------------------------------------------------------------ */

static int contest_socket(const account *a, const char *contest)
{
    char head[2048];
    int fd = cct_ws_connect(gw_port,
                            cct_fmt("/v1/live?access_token=%s&contest=%s", a->token, contest),
                            NULL, head, sizeof head);
    assert_true(fd >= 0);
    if (!strstr(head, " 101 "))
        fail_msg("no upgrade: %s", head);
    return fd;
}

/* Reads frames until one contains every needle (up to ms); true then. */
static bool live_until(int fd, int ms, const char *a, const char *b)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (uv_hrtime() < end) {
        char *m = cct_ws_read(fd, 500, NULL);
        if (!m)
            continue;
        bool hit = strstr(m, a) && (!b || strstr(m, b));
        free(m);
        if (hit)
            return true;
    }
    return false;
}

/* ---- the event feed, as a streaming HTTP/1.1 client --------------------------------- */

typedef struct feed_conn {
    int fd;
    char *raw;      /* bytes received, chunk framing included */
    size_t rlen, rcap;
    size_t rpos;    /* parsed up to here */
    bool in_body;
    char *body;     /* the decoded NDJSON */
    size_t blen;
} feed_conn;

static void feed_open(feed_conn *f, const char *contest, const char *since)
{
    memset(f, 0, sizeof *f);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(gw_port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *q = cct_fmt("GET /api/contests/%s/event-feed%s%s HTTP/1.1\r\nHost: localhost\r\n\r\n",
                            contest, since ? "?since_token=" : "", since ? since : "");
    assert_int_equal(write(f->fd, q, strlen(q)), (ssize_t)strlen(q));
    f->rcap = 1 << 16;
    f->raw = malloc(f->rcap);
    f->body = calloc(1, f->rcap);
}

/* Decodes what arrived: headers once, then chunks. */
static void feed_parse(feed_conn *f)
{
    if (!f->in_body) {
        char *end = memmem(f->raw, f->rlen, "\r\n\r\n", 4);
        if (!end)
            return;
        if (strncmp(f->raw, "HTTP/1.1 200", 12) != 0)
            fail_msg("event feed: %.*s", (int)f->rlen, f->raw);
        f->rpos = (size_t)(end - f->raw) + 4;
        f->in_body = true;
    }
    for (;;) {
        char *crlf = memmem(f->raw + f->rpos, f->rlen - f->rpos, "\r\n", 2);
        if (!crlf)
            return;
        size_t n = strtoul(f->raw + f->rpos, NULL, 16);
        size_t start = (size_t)(crlf - f->raw) + 2;
        if (f->rlen < start + n + 2)
            return;
        memcpy(f->body + f->blen, f->raw + start, n);
        f->blen += n;
        f->body[f->blen] = '\0';
        f->rpos = start + n + 2;
    }
}

/* Reads until the decoded feed contains needle (up to ms). */
static bool feed_until(feed_conn *f, const char *needle, int ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    while (!strstr(f->body, needle) && uv_hrtime() < end) {
        struct pollfd p = {f->fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        if (f->rlen + 4096 >= f->rcap) {
            f->rcap *= 2;
            f->raw = realloc(f->raw, f->rcap);
            f->body = realloc(f->body, f->rcap);
        }
        ssize_t n = read(f->fd, f->raw + f->rlen, f->rcap - f->rlen - 1);
        if (n <= 0)
            break;
        f->rlen += (size_t)n;
        feed_parse(f);
    }
    return strstr(f->body, needle) != NULL;
}

static void feed_close(feed_conn *f)
{
    close(f->fd);
    free(f->raw);
    free(f->body);
}

/* The token of the last line of an NDJSON text. */
static uint64_t last_token(const char *body)
{
    uint64_t t = 0;
    for (const char *p = body; (p = strstr(p, "\"token\":\"")); p += 9)
        t = strtoull(p + 9, NULL, 10);
    return t;
}

/* ---- setup ---------------------------------------------------------------------------- */

static void spawn_actor(cc_local_proc *p, const char *name, const char *service, const char *db,
                        const char *const *more)
{
    uint16_t m;
    assert_int_equal(cc_local_free_port(&m), CC_OK);
    const char *args[16] = {cct_nats_flag(&stack, service),
                            cct_fmt("--metrics-port=%u", m)};
    int n = 2;
    if (db)
        args[n++] = cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, db));
    for (int i = 0; more && more[i] && n < 15; i++)
        args[n++] = more[i];
    args[n] = NULL;
    cct_spawn(p, name, CC_BIN_DIR, name, dir, args);
    if (!cct_wait_status(m, "/readyz", 200, 60000))
        fail_msg("%s did not become ready (see %s/%s.log)", name, dir, name);
}

static void start_judge(void)
{
    cct_spawn(&judge_proc, "cc-judge", CC_BIN_DIR, "cc-judge", dir,
              (const char *[]){"serve", cct_nats_flag(&stack, "judge"),
                               cct_fmt("--judge-cache=%s/judge-cache", dir), "--metrics-port=-1",
                               "--concurrency=2", "--ack-wait=5s", NULL});
}

static int group_setup(void **state)
{
    if (!cct_start_stack(&stack, "test-contest",
                         (const char *[]){"cc_user", "cc_problem", "cc_submission",
                                          "cc_notification", "cc_contest", "cc_stats", NULL}))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    uint16_t gm;
    if (cc_local_free_port(&gw_port) != CC_OK || cc_local_free_port(&gm) != CC_OK)
        return -1;
    if (!cct_start_user(&user_proc, &stack, CC_BIN_DIR, keypath, NULL))
        return -1;
    spawn_actor(&prob_proc, "cc-problem", "problem", "cc_problem", NULL);
    spawn_actor(&sub_proc, "cc-submission", "submission", "cc_submission",
                (const char *[]){"--max-queued=50", "--rate-per-min=1000", NULL});
    spawn_actor(
        &contest_proc, "cc-contest", "contest", "cc_contest",
        (const char *[]){
            cct_fmt("--reader-nats-url=%s", cc_local_nats_url(&stack, "contest-reader")), NULL});
    spawn_actor(
        &stats_proc, "cc-stats", "stats", "cc_stats",
        (const char *[]){cct_fmt("--reader-nats-url=%s", cc_local_nats_url(&stack, "stats-reader")),
                         NULL});
    spawn_actor(&notify_proc, "cc-notify", "notify", "cc_notification", NULL);
    start_judge();
    if (!cct_start_gateway(&gw_proc, &stack, CC_BIN_DIR, keypath, gw_port, gm, NULL))
        return -1;
    login("root", "rootpassword", &root);
    new_user("sam", &sam);
    cct_resp r = req("PUT", cct_fmt("/v1/admin/users/%s/role", sam.id), "{\"role\":\"ROLE_SETTER\"}",
                     &root);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
    login("sam", "pw-sam-123", &sam);
    new_user("alice", &alice);
    new_user("bob", &bob);
    new_user("carol", &carol);
    new_user("dave", &dave);
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc *procs[] = {&gw_proc,   &judge_proc,  &notify_proc, &stats_proc,
                              &contest_proc, &sub_proc, &prob_proc,   &user_proc};
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++)
        cc_local_proc_stop(procs[i], SIGTERM, 15000);
    if (getenv("TEST_KEEP")) {
        fprintf(stderr, "logs kept in %s\n", dir);
        return 0;
    }
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

/* A contest of sam's: start (Unix s), duration, freeze; problems as JSON. */
static void create_contest(const char *id, int64_t start, int64_t duration, int64_t freeze,
                           const char *scoring, const char *problems, const char *more)
{
    char at[CC_RFC3339_MAX];
    cc_rfc3339_text(at, start);
    cct_resp r = req("POST", "/v1/contests",
                     cct_fmt("{\"id\":\"%s\",\"title\":\"%s\",\"startAt\":\"%s"
                             "\",\"durationS\":\"%" PRId64 "\",\"freezeS\":\"%" PRId64
                             "\",\"scoring\":\"%s\",\"public\":true,\"registrationOpen\":true,"
                             "\"problems\":%s%s}",
                             id, id, at, duration, freeze, scoring, problems, more ? more : ""),
                     &sam);
    if (r.status != 201)
        fail_msg("create %s: %ld %s", id, r.status, r.body ? r.body : "");
    cct_resp_free(&r);
}

static void register_as(const account *a, const char *contest, const char *team)
{
    cct_resp r = req("POST", cct_fmt("/v1/contests/%s/register", contest),
                     cct_fmt("{\"teamName\":\"%s\"}", team), a);
    if (r.status != 201)
        fail_msg("register %s: %ld %s", team, r.status, r.body ? r.body : "");
    cct_resp_free(&r);
}

/* sam's public problem "twice": n -> 2n. */
static void make_twice(void)
{
    cct_resp r = req("POST", "/v1/problems",
                     "{\"slug\":\"twice\",\"title\":\"Twice\",\"statementMarkdown\":\"# Twice\","
                     "\"tags\":[\"math\"],\"visibility\":\"VISIBILITY_PUBLIC\","
                     "\"limits\":{\"timeLimitMs\":2000}}",
                     &sam);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    char a[65], b[65], c[65], d[65];
    cct_upload(gw_port, "2\n", 2, sam.token, 0, a);
    cct_upload(gw_port, "4\n", 2, sam.token, 0, b);
    cct_upload(gw_port, "21\n", 3, sam.token, 0, c);
    cct_upload(gw_port, "42\n", 3, sam.token, 0, d);
    r = req("PUT", "/v1/problems/twice/tests",
            cct_fmt("{\"tests\":[{\"path\":\"sample/1\",\"inputSha256\":\"%s\",\"answerSha256\":"
                    "\"%s\"},{\"path\":\"secret/1\",\"inputSha256\":\"%s\",\"answerSha256\":\"%s\"}]}",
                    a, b, c, d),
            &sam);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
}

/* ---- outside the window ------------------------------------------------------------- */

static void outside_the_window(void **state)
{
    int64_t now = (int64_t)time(NULL);
    char detail[512];
    create_contest("later", now + 3600, 7200, 0, "SCORING_ICPC",
                   "[{\"label\":\"A\",\"problem\":\"aplusb\"}]", NULL);
    create_contest("over", now - 3 * 3600, 3600, 0, "SCORING_ICPC",
                   "[{\"label\":\"A\",\"problem\":\"aplusb\"}]", NULL);
    create_contest("closed", now - 60, 7200, 0, "SCORING_ICPC",
                   "[{\"label\":\"A\",\"problem\":\"aplusb\"}]",
                   ",\"inviteCode\":\"open-sesame\"");
    /* "closed" is created open; close its registration. */
    cct_resp r = req("GET", "/v1/contests/closed", NULL, &sam);
    json_t *def = json_incref(r.json);
    cct_resp_free(&r);
    json_object_set_new(def, "registrationOpen", json_false());
    char *body = json_dumps(def, JSON_COMPACT);
    json_decref(def);
    assert_int_equal(status_of("PUT", "/v1/contests/closed", body, &sam, NULL, 0), 200);
    free(body);

    /* No such contest: 404. */
    assert_int_equal(submit(&dave, "no-such", "aplusb", AC_C, NULL, detail, sizeof detail), 404);
    assert_non_null(strstr(detail, "no contest 'no-such'"));
    /* Not started. */
    register_as(&dave, "later", "Dave");
    assert_int_equal(submit(&dave, "later", "aplusb", AC_C, NULL, detail, sizeof detail), 403);
    assert_non_null(strstr(detail, "contest 'later' has not started: it starts at"));
    /* Not a problem of the contest. */
    create_contest("short", now - 60, 3600, 0, "SCORING_ICPC",
                   "[{\"label\":\"A\",\"problem\":\"aplusb\"}]", NULL);
    register_as(&dave, "short", "Dave");
    make_twice();
    assert_int_equal(submit(&dave, "short", "twice", TWICE_C, NULL, detail, sizeof detail), 403);
    assert_non_null(strstr(detail, "problem 'twice' is not in contest 'short'"));
    /* Not registered. */
    assert_int_equal(submit(&bob, "short", "aplusb", AC_C, NULL, detail, sizeof detail), 403);
    assert_non_null(strstr(detail, "you do not take part in contest 'short'"));
    /* Ended: no registration, and a team the jury made cannot submit. */
    assert_int_equal(status_of("POST", "/v1/contests/over/register", "{}", &dave, detail,
                               sizeof detail),
                     403);
    assert_non_null(strstr(detail, "contest 'over' has ended"));
    assert_int_equal(status_of("PUT", "/v1/contests/over/teams/late",
                               cct_fmt("{\"name\":\"Late\",\"members\":[\"%s\"]}", dave.id), &sam,
                               NULL, 0),
                     200);
    assert_int_equal(submit(&dave, "over", "aplusb", AC_C, NULL, detail, sizeof detail), 403);
    assert_non_null(strstr(detail, "contest 'over' ended at"));
    /* Closed registration: the invite code, and only the jury sees it. */
    assert_int_equal(status_of("POST", "/v1/contests/closed/register", "{}", &dave, detail,
                               sizeof detail),
                     403);
    assert_non_null(strstr(detail, "invite code is required"));
    r = req("GET", "/v1/contests/closed", NULL, &dave);
    assert_string_equal(cct_jstr(&r, "inviteCode"), "");
    cct_resp_free(&r);
    assert_int_equal(status_of("POST", "/v1/contests/closed/register",
                               "{\"inviteCode\":\"open-sesame\"}", &dave, NULL, 0),
                     201);
    /* Only the jury changes a contest. */
    assert_int_equal(status_of("POST", "/v1/contests/short/unfreeze", "{}", &dave, NULL, 0), 403);
}

/* ---- ICPC, live ------------------------------------------------------------------------- */

static int64_t start_live;
static char carol_ac[64], alice_ac[64];

/* The minute of a submission created at Unix second s. */
static int64_t minute(int64_t s)
{
    return (s - start_live) / 60;
}

static void icpc_live(void **state)
{
    start_live = (int64_t)time(NULL) - 30 * 60;
    create_contest("live", start_live, 3 * 3600, 0, "SCORING_ICPC",
                   "[{\"label\":\"A\",\"problem\":\"aplusb\",\"rgb\":\"#ff0000\"}]", NULL);
    register_as(&alice, "live", "Alpha");
    register_as(&bob, "live", "Bravo");
    register_as(&carol, "live", "Charlie");
    int pub_fd = contest_socket(&dave, "live"), jury_fd = contest_socket(&sam, "live");

    char id[64];
    int64_t t_carol = judged(&carol, "live", "aplusb", AC_C, "AC", carol_ac);
    /* The public socket hears of Charlie's solve. */
    assert_true(live_until(pub_fd, 20000, "\"teamName\":\"Charlie\"", "\"solved\":1"));
    judged(&bob, "live", "aplusb", CE_C, "CE", id);
    int64_t t_bob = judged(&bob, "live", "aplusb", AC_C, "AC", id);
    judged(&alice, "live", "aplusb", WA_C, "WA", id);
    int64_t t_alice = judged(&alice, "live", "aplusb", AC_C, "AC", alice_ac);

    /* By the rules: Charlie and Bravo solve with no rejected try (Bravo's
     * CE is none), Alpha's WA costs 20 minutes; Charlie was first. */
    json_t *b = board_when("live", &sam, false, "Alpha", "A", true, 2);
    int64_t pc = minute(t_carol), pb = minute(t_bob), pa = minute(t_alice) + 20;
    assert_int_equal(jnum(row_of(b, "Charlie"), "penalty"), pc);
    assert_int_equal(jnum(row_of(b, "Bravo"), "penalty"), pb);
    assert_int_equal(jnum(row_of(b, "Alpha"), "penalty"), pa);
    assert_int_equal(jnum(cell_of(row_of(b, "Bravo"), "A"), "tries"), 1);
    assert_true(json_is_true(json_object_get(cell_of(row_of(b, "Charlie"), "A"), "firstToSolve")));
    assert_false(json_is_true(json_object_get(cell_of(row_of(b, "Bravo"), "A"), "firstToSolve")));
    /* Ranks: by penalty; equal penalties (same minute) share a rank. */
    int rank_c = (int)jnum(row_of(b, "Charlie"), "rank"), rank_b = (int)jnum(row_of(b, "Bravo"), "rank");
    assert_int_equal(rank_c, 1);
    assert_int_equal(rank_b, pb == pc ? 1 : 2);
    assert_int_equal(jnum(row_of(b, "Alpha"), "rank"), 3);
    json_decref(b);

    /* The freeze begins now (the definition replaced by the jury, with a
     * second problem); Bravo then solves B: the public does not see it. */
    int64_t elapsed = (int64_t)time(NULL) - start_live;
    cct_resp r = req("GET", "/v1/contests/live", NULL, &sam);
    json_t *def = json_incref(r.json);
    cct_resp_free(&r);
    json_object_set_new(def, "freezeS", json_integer(3 * 3600 - elapsed));
    json_array_append_new(json_object_get(def, "problems"),
                          json_pack("{s:s, s:s}", "label", "B", "problem", "twice"));
    char *body = json_dumps(def, JSON_COMPACT);
    json_decref(def);
    assert_int_equal(status_of("PUT", "/v1/contests/live", body, &sam, NULL, 0), 200);
    free(body);
    sleep(1);
    judged(&bob, "live", "twice", TWICE_C, "AC", id);
    b = board_when("live", &sam, false, "Bravo", "B", true, 1);
    assert_int_equal(jnum(row_of(b, "Bravo"), "solved"), 2);
    assert_int_equal(jnum(row_of(b, "Bravo"), "rank"), 1);
    json_decref(b);
    b = scoreboard("live", &dave, false); /* the public's, whoever asks */
    assert_true(json_is_true(json_object_get(b, "frozen")));
    assert_int_equal(jnum(row_of(b, "Bravo"), "solved"), 1);
    assert_int_equal(jnum(cell_of(row_of(b, "Bravo"), "B"), "pending"), 1);
    json_decref(b);
    assert_true(live_until(jury_fd, 20000, "\"teamName\":\"Bravo\"", "\"solved\":2"));
    /* The public socket gets the row too, with B pending. */
    assert_true(live_until(pub_fd, 20000, "\"teamName\":\"Bravo\"", "\"pending\":1"));

    /* The unfreeze shows it. */
    assert_int_equal(status_of("POST", "/v1/contests/live/unfreeze", "{}", &sam, NULL, 0), 200);
    b = board_when("live", &dave, false, "Bravo", "B", true, 1);
    assert_int_equal(jnum(row_of(b, "Bravo"), "solved"), 2);
    json_decref(b);

    /* A rejudge that changes a verdict: the judge is stopped, the jury
     * rejudges Charlie's AC, and the test plays the judge for the new
     * attempt (a deterministic program cannot change its own verdict): WA.
     * Charlie loses A; Bravo becomes first to solve. */
    assert_int_equal(cc_local_proc_stop(&judge_proc, SIGTERM, 20000), CC_OK);
    r = req("POST", cct_fmt("/v1/submissions/%s/rejudge", carol_ac), "{}", &root);
    assert_int_equal(r.status, 200);
    assert_int_equal(jnum(r.json, "attempt"), 2);
    cct_resp_free(&r);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    assert_int_equal(cc_local_nats_connect(&stack, "admin", &nc), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    Codecourt__V1__JudgeResult jr = CODECOURT__V1__JUDGE_RESULT__INIT;
    jr.submission_id = carol_ac;
    jr.attempt = 2;
    jr.user_id = carol.id;
    jr.problem = "aplusb";
    jr.verdict = "WA";
    jr.max_score = 100;
    jr.contest = "live";
    uint8_t buf[512];
    size_t n = codecourt__v1__judge_result__pack(&jr, buf);
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MsgId = cct_fmt("judged-%s-2", carol_ac);
    assert_int_equal(js_Publish(NULL, js, "cc.evt.submission.judged", buf, (int)n, &o, NULL),
                     NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    b = board_when("live", &sam, false, "Charlie", "A", false, 1);
    assert_int_equal(jnum(row_of(b, "Charlie"), "solved"), 0);
    assert_int_equal(jnum(row_of(b, "Charlie"), "rank"), 3);
    assert_true(json_is_true(json_object_get(cell_of(row_of(b, "Bravo"), "A"), "firstToSolve")));
    json_decref(b);
    /* The judge comes back and judges attempt 2 for real (AC): the first
     * result stored for that attempt stands, in cc-submission and here. */
    start_judge();
    sleep(6);
    b = scoreboard("live", &sam, false);
    assert_int_equal(jnum(row_of(b, "Charlie"), "solved"), 0);
    json_decref(b);
    r = req("GET", cct_fmt("/v1/submissions/%s", carol_ac), NULL, &carol);
    assert_string_equal(cct_jstr(&r, "verdict"), "WA");
    cct_resp_free(&r);
    close(pub_fd);
    close(jury_fd);
}

/* ---- clarifications --------------------------------------------------------------------- */

static bool has_notification(const account *a, const char *event, const char *text, int ms)
{
    for (int waited = 0; waited < ms; waited += 250) {
        cct_resp r = req("GET", "/v1/notifications?pageSize=100", NULL, a);
        json_t *l = json_object_get(r.json, "notifications");
        for (size_t i = 0; i < json_array_size(l); i++) {
            json_t *x = json_array_get(l, i);
            if (!strcmp(cct_json_str(x, "event"), event) &&
                (!text || strstr(cct_json_str(x, "body"), text))) {
                cct_resp_free(&r);
                return true;
            }
        }
        cct_resp_free(&r);
        usleep(250000);
    }
    return false;
}

static void clarifications(void **state)
{
    int pub_fd = contest_socket(&dave, "live");
    cct_resp r = req("POST", "/v1/contests/live/clarifications",
                     "{\"problem\":\"A\",\"text\":\"Can a be negative?\"}", &alice);
    assert_int_equal(r.status, 201);
    char qid[32];
    snprintf(qid, sizeof qid, "%s", cct_jstr(&r, "id"));
    assert_true(cct_jstr(&r, "fromTeam")[0] != '\0');
    cct_resp_free(&r);
    /* The jury hears of the question in-app. */
    assert_true(has_notification(&sam, "clarification", "Can a be negative?", 20000));
    /* Bob may not read Alpha's question; the jury may not be answered by a
     * contestant. */
    r = req("GET", "/v1/contests/live/clarifications", NULL, &bob);
    assert_null(strstr(r.body, "Can a be negative?"));
    cct_resp_free(&r);
    assert_int_equal(status_of("POST", cct_fmt("/v1/contests/live/clarifications/%s/answer", qid),
                               "{\"text\":\"no\"}", &bob, NULL, 0),
                     403);
    /* Answered to Alpha only. */
    r = req("POST", cct_fmt("/v1/contests/live/clarifications/%s/answer", qid),
            "{\"text\":\"Yes, a may be negative.\"}", &sam);
    assert_int_equal(r.status, 201);
    assert_string_equal(cct_jstr(&r, "replyTo"), qid);
    cct_resp_free(&r);
    assert_true(has_notification(&alice, "clarification", "Yes, a may be negative.", 20000));
    assert_false(has_notification(&bob, "clarification", "Yes, a may be negative.", 1500));
    /* An announcement reaches everyone, and the public channel. */
    r = req("POST", "/v1/contests/live/clarifications",
            "{\"text\":\"Problem A: the output fits in 64 bits.\"}", &sam);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    assert_true(has_notification(&bob, "clarification", "fits in 64 bits", 20000));
    assert_true(has_notification(&carol, "clarification", "fits in 64 bits", 20000));
    assert_true(live_until(pub_fd, 20000, "\"type\":\"clarification\"", "fits in 64 bits"));
    r = req("GET", "/v1/contests/live/clarifications", NULL, &bob);
    assert_non_null(strstr(r.body, "fits in 64 bits"));
    assert_null(strstr(r.body, "a may be negative"));
    cct_resp_free(&r);
    close(pub_fd);
}

/* ---- the event feed ------------------------------------------------------------------------ */

static void event_feed(void **state)
{
    feed_conn f;
    feed_open(&f, "live", NULL);
    /* From the start: the contest, its problems, teams, and every
     * submission made so far (Charlie's first AC among them). */
    assert_true(feed_until(&f, cct_fmt("\"id\":\"%s\"", alice_ac), 20000));
    assert_non_null(strstr(f.body, "\"type\":\"contest\""));
    assert_non_null(strstr(f.body, "\"type\":\"judgement-types\""));
    assert_non_null(strstr(f.body, "\"type\":\"problems\",\"id\":\"aplusb\""));
    assert_non_null(strstr(f.body, "\"type\":\"teams\""));
    assert_non_null(strstr(f.body, cct_fmt("\"id\":\"%s\"", carol_ac)));
    /* Streaming: a new submission arrives on the open connection. */
    char id[64];
    judged(&alice, "live", "twice", ONCE_C, "WA", id);
    assert_true(feed_until(&f, cct_fmt("\"submission_id\":\"%s\"", id), 20000));
    uint64_t last = last_token(f.body);
    assert_true(last > 0);
    feed_close(&f);

    /* Resumed after the last token: only what came after. */
    char id2[64];
    judged(&alice, "live", "twice", TWICE_C, "AC", id2);
    feed_open(&f, "live", cct_fmt("%" PRIu64, last));
    assert_true(feed_until(&f, cct_fmt("\"submission_id\":\"%s\"", id2), 20000));
    assert_null(strstr(f.body, cct_fmt("\"id\":\"%s\"", carol_ac)));
    assert_null(strstr(f.body, "\"type\":\"contest\""));
    const char *first = strstr(f.body, "\"token\":\"");
    assert_non_null(first);
    assert_true(strtoull(first + 9, NULL, 10) > last);
    feed_close(&f);

    /* A token from the future is a 400, as the specification asks. */
    cct_resp r = req("GET", "/api/contests/live/event-feed?since_token=999999999&stream=false",
                     NULL, NULL);
    assert_int_equal(r.status, 400);
    cct_resp_free(&r);
    /* The REST side of the same API. */
    r = req("GET", "/api/contests/live/scoreboard", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"num_solved\""));
    cct_resp_free(&r);
    r = req("GET", "/api/contests/live/judgement-types/CE", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"penalty\":false"));
    cct_resp_free(&r);
    r = req("GET", "/api", NULL, NULL);
    assert_non_null(strstr(r.body, "\"version\":\"2022-07\""));
    cct_resp_free(&r);
}

/* ---- IOI with subtasks, judged for real -------------------------------------------------- */

static int cli(const char *const *args)
{
    char home[4200], server[128], path[4200];
    snprintf(home, sizeof home, "%s/cli-config", dir);
    snprintf(server, sizeof server, "http://127.0.0.1:%u", gw_port);
    snprintf(path, sizeof path, "%s/codecourt", CC_BIN_DIR);
    mkdir(home, 0700);
    mkdir(cct_fmt("%s/codecourt", home), 0700);
    FILE *f = fopen(cct_fmt("%s/codecourt/token", home), "w");
    assert_non_null(f);
    fputs(sam.token, f);
    fclose(f);
    chmod(cct_fmt("%s/codecourt/token", home), 0600);
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(cct_fmt("%s/cli.log", dir), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(out, 1);
        dup2(out, 2);
        setenv("XDG_CONFIG_HOME", home, 1);
        setenv("CODECOURT_SERVER", server, 1);
        const char *argv[16] = {path};
        int n = 1;
        for (int i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void ioi_subtasks(void **state)
{
    assert_int_equal(cli((const char *[]){"problems", "import", CC_SOURCE_DIR
                                          "/tests/judge/pkgs/scoring-2025",
                                          "--slug", "square", NULL}),
                     0);
    assert_int_equal(status_of("PATCH", "/v1/problems/square",
                               "{\"visibility\":\"VISIBILITY_PUBLIC\"}", &sam, NULL, 0),
                     200);
    create_contest("ioi", (int64_t)time(NULL) - 600, 3 * 3600, 0, "SCORING_IOI",
                   "[{\"label\":\"A\",\"problem\":\"square\",\"points\":100}]", NULL);
    register_as(&alice, "ioi", "Alpha");
    register_as(&bob, "ioi", "Bravo");
    char id[64];
    /* Alpha: group 1 only (40), then group 2 only (60): 100. Bravo: 60. */
    judged(&alice, "ioi", "square", SMALL_C, "WA", id);
    judged(&alice, "ioi", "square", LARGE_C, "WA", id);
    judged(&bob, "ioi", "square", LARGE_C, "WA", id);
    json_t *b = board_when("ioi", &sam, false, "Alpha", "A", true, 2);
    json_t *ra = row_of(b, "Alpha"), *rb = row_of(b, "Bravo");
    assert_true(json_real_value(json_object_get(ra, "score")) > 99.99);
    assert_true(json_real_value(json_object_get(rb, "score")) > 59.99 &&
                json_real_value(json_object_get(rb, "score")) < 60.01);
    assert_int_equal(jnum(ra, "rank"), 1);
    assert_int_equal(jnum(rb, "rank"), 2);
    json_decref(b);
}

/* ---- statistics ------------------------------------------------------------------------------ */

static void stats(void **state)
{
    /* Alice: aplusb (WA, AC), twice (WA, AC), square (two WA): solved 2,
     * tried 3, 6 judged submissions, 2 AC. */
    json_t *s = NULL;
    for (int i = 0; i < 100; i++) {
        cct_resp r = req("GET", "/v1/users/me/stats", NULL, &alice);
        assert_int_equal(r.status, 200);
        if (jnum(r.json, "submissions") == 6) {
            s = json_incref(r.json);
            cct_resp_free(&r);
            break;
        }
        cct_resp_free(&r);
        usleep(100000);
    }
    assert_non_null(s);
    assert_int_equal(jnum(s, "solved"), 2);
    assert_int_equal(jnum(s, "attempted"), 3);
    assert_int_equal(jnum(s, "accepted"), 2);
    assert_int_equal(jnum(s, "currentStreak"), 1);
    json_decref(s);
    cct_resp r = req("GET", "/v1/problems/aplusb/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jnum(r.json, "solvers"), 2); /* Alpha and Bravo; Charlie's AC was rejudged */
    cct_resp_free(&r);
    /* Carol's recommendations: aplusb, which she tried, first; never what
     * she solved. */
    r = req("GET", "/v1/users/me/recommendations", NULL, &carol);
    assert_int_equal(r.status, 200);
    json_t *l = json_object_get(r.json, "recommendations");
    assert_true(json_array_size(l) >= 1);
    assert_string_equal(cct_json_str(json_array_get(l, 0), "problem"), "aplusb");
    assert_non_null(strstr(cct_json_str(json_array_get(l, 0), "reason"), "you tried it"));
    cct_resp_free(&r);
    r = req("GET", "/v1/users/me/recommendations", NULL, &alice);
    assert_null(strstr(r.body, "\"problem\":\"aplusb\""));
    assert_null(strstr(r.body, "\"problem\":\"twice\""));
    cct_resp_free(&r);
    /* A new public math problem: Alice, who solves math problems, hears
     * of it in-app. */
    r = req("POST", "/v1/problems",
            "{\"slug\":\"thrice\",\"title\":\"Thrice\",\"statementMarkdown\":\"# Thrice\","
            "\"tags\":[\"math\"],\"visibility\":\"VISIBILITY_PUBLIC\"}",
            &sam);
    assert_int_equal(r.status, 201);
    cct_resp_free(&r);
    assert_true(has_notification(&alice, "new_problem", "Thrice", 20000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outside_the_window), cmocka_unit_test(icpc_live),
        cmocka_unit_test(clarifications),     cmocka_unit_test(event_feed),
        cmocka_unit_test(ioi_subtasks),       cmocka_unit_test(stats),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
