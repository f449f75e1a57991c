/* bench-submission: issue 6's benchmark. N users (default 8) each open the
 * /v1/live WebSocket on the gateway and submit an A+B in C to the seeded
 * "aplusb" (1 sample + 10 secret tests), one after another, waiting for
 * the "judged" message on their socket before the next. Each source differs
 * by a comment, so every submission is compiled (no compile-cache hits).
 *
 * Reports submissions/s and the submit-to-verdict latency p50 / p99 (from
 * sending the POST to reading "judged" on the WebSocket), split into the
 * time in the sandbox (Submission.sandboxMs: the judge's wall time compiling
 * and running the tests) and the rest (the mesh: gateway, NATS, cc-submission,
 * PostgreSQL, the outbox relay, JetStream and the queue wait).
 *
 * libcurl 7.88 has no WebSocket support: the handshake and the (unmasked,
 * server-to-client) frames are read here over a plain TCP socket to the
 * gateway's HTTP/1.1 port. Servers are started by cclocal in a temporary
 * folder and stopped at the end.
 * Usage: bench-submission [--users N] [--per-user K] [--same-source] */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cc/local.h"
#include "cc/log.h"

static cc_local_stack stack;
static cc_local_proc procs[5];
static char dir[4096], keypath[4200];
static uint16_t gw_port;
static int users = 8, per_user = 10;
static bool same_source;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    long status;
    char *body;
    size_t len;
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

/* One HTTP/2 request on a fresh connection, as a browser tab's first
 * request would be (reusing one handle across requests met "Error in the
 * HTTP2 framing layer" with libcurl 7.88 here; see the report). c is
 * unused. */
static resp req(CURL *unused, const char *method, const char *path, const char *body, const char *token)
{
    resp r = {0};
    char url[512], auth[4200];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", gw_port, path);
    (void)unused;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else
        fprintf(stderr, "%s %s: %s\n", method, path, curl_easy_strerror(rc));
    if (r.body)
        r.json = json_loads(r.body, 0, NULL);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
}

static void resp_free(resp *r)
{
    free(r->body);
    json_decref(r->json);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* ---- servers ---------------------------------------------------------------------- */

static void spawn(cc_local_proc *p, const char *name, const char *const *args)
{
    char path[4200], log[4200];
    snprintf(path, sizeof path, "%s/%s", CC_BIN_DIR, name);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    const char *argv[40] = {path};
    int n = 1;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cc_local_spawn_opts o = {.name = name, .path = path, .argv = argv, .log_path = log};
    if (cc_local_spawn(p, &o) != CC_OK) {
        fprintf(stderr, "cannot start %s: %s\n", name, cc_err_msg());
        exit(1);
    }
}

static bool wait_ready(uint16_t port)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", port);
    for (int i = 0; i < 300; i++) {
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

static void start_all(void)
{
    if (cc_local_stack_start(&stack, CC_LOCAL_ALL,
                             (const char *[]){"cc_user", "cc_problem", "cc_submission", NULL}) !=
        CC_OK) {
        fprintf(stderr, "cannot start servers: %s\n", cc_err_msg());
        exit(1);
    }
    cc_local_guard(&stack);
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    uint16_t um, pm, sm, gm;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&pm) != CC_OK ||
        cc_local_free_port(&sm) != CC_OK || cc_local_free_port(&gm) != CC_OK ||
        cc_local_free_port(&gw_port) != CC_OK)
        exit(1);
    static char a[16][4400];
    snprintf(a[0], sizeof a[0], "--nats-url=%s", stack.nats_url);
    snprintf(a[1], sizeof a[1], "--redis-url=%s", stack.redis_url);
    snprintf(a[2], sizeof a[2], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user"));
    snprintf(a[3], sizeof a[3], "--metrics-port=%u", um);
    snprintf(a[4], sizeof a[4], "--jwt-key=%s", keypath);
    spawn(&procs[0], "cc-user",
          (const char *[]){a[0], a[1], a[2], a[3], a[4], "--bcrypt-cost=4",
                           "--admin-username=root", "--admin-email=root@example.org",
                           "--admin-password=rootpassword", NULL});
    snprintf(a[5], sizeof a[5], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_problem"));
    snprintf(a[6], sizeof a[6], "--metrics-port=%u", pm);
    spawn(&procs[1], "cc-problem", (const char *[]){a[0], a[5], a[6], NULL});
    snprintf(a[7], sizeof a[7], "--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_submission"));
    snprintf(a[8], sizeof a[8], "--metrics-port=%u", sm);
    spawn(&procs[2], "cc-submission",
          (const char *[]){a[0], a[7], a[8], "--max-queued=1000", "--rate-per-min=1000000", NULL});
    snprintf(a[9], sizeof a[9], "--judge-cache=%s/judge-cache", dir);
    spawn(&procs[3], "cc-judge", (const char *[]){"serve", a[0], a[9], "--metrics-port=-1", NULL});
    if (!wait_ready(um) || !wait_ready(pm) || !wait_ready(sm)) {
        fprintf(stderr, "actors not ready (see %s)\n", dir);
        exit(1);
    }
    snprintf(a[10], sizeof a[10], "--http-port=%u", gw_port);
    snprintf(a[11], sizeof a[11], "--metrics-port=%u", gm);
    spawn(&procs[4], "cc-gateway",
          (const char *[]){a[0], a[1], a[10], "--https-port=-1", a[11], a[4],
                           "--rate-user=100000", "--burst-user=100000", "--rate-auth=100000",
                           "--burst-auth=100000", "--rate-anon=100000", "--burst-anon=100000",
                           NULL});
    if (!wait_ready(gw_port)) {
        fprintf(stderr, "gateway not ready (see %s)\n", dir);
        exit(1);
    }
}

/* ---- WebSocket over a plain socket ------------------------------------------------ */

static int ws_open(const char *token)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(gw_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char hs[5000];
    int n = snprintf(hs, sizeof hs,
                     "GET /v1/live HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                     gw_port, token);
    if (write(fd, hs, (size_t)n) != n)
        return -1;
    /* Reads the answer byte by byte up to the blank line, so no frame
     * byte is swallowed. */
    char head[4096];
    size_t len = 0;
    while (len < sizeof head - 1) {
        if (read(fd, head + len, 1) != 1)
            return -1;
        len++;
        if (len >= 4 && !memcmp(head + len - 4, "\r\n\r\n", 4))
            break;
    }
    head[len] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "no WebSocket: %s\n", head);
        return -1;
    }
    return fd;
}

static bool read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

/* Reads one frame; returns its payload (caller frees, NUL-terminated) and
 * opcode, or NULL when the socket closed. */
static char *ws_read(int fd, int *opcode)
{
    unsigned char h[2];
    if (!read_full(fd, h, 2))
        return NULL;
    *opcode = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        unsigned char e[2];
        if (!read_full(fd, e, 2))
            return NULL;
        len = ((uint64_t)e[0] << 8) | e[1];
    } else if (len == 127) {
        unsigned char e[8];
        if (!read_full(fd, e, 8))
            return NULL;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | e[i];
    }
    if (len > (1u << 24))
        return NULL;
    char *p = malloc(len + 1);
    if (!p || !read_full(fd, p, len)) {
        free(p);
        return NULL;
    }
    p[len] = '\0';
    return p;
}

/* ---- clients ---------------------------------------------------------------------- */

typedef struct {
    double total_ms, sandbox_ms, mesh_ms;
} sample;

static sample *samples;
static int nsamples;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int errors;

typedef struct {
    int index;
    char token[4096];
} client;

static void *client_main(void *ud)
{
    client *cl = ud;
    CURL *c = curl_easy_init();
    int fd = ws_open(cl->token);
    if (fd < 0) {
        __atomic_add_fetch(&errors, per_user, __ATOMIC_SEQ_CST);
        return NULL;
    }
    for (int k = 0; k < per_user; k++) {
        char body[1024], id[64];
        snprintf(body, sizeof body,
                 "{\"problem\":\"aplusb\",\"language\":\"c\",\"source\":\"/* user %d try %d */\\n"
                 "#include <stdio.h>\\nint main(void){long long a,b;"
                 "if(scanf(\\\"%%lld %%lld\\\",&a,&b)!=2)return 1;"
                 "printf(\\\"%%lld\\\\n\\\",a+b);return 0;}\\n\"}",
                 same_source ? 0 : cl->index, same_source ? 0 : k);
        double t0 = now_s();
        resp r = req(c, "POST", "/v1/submissions", body, cl->token);
        if (r.status != 201) {
            fprintf(stderr, "submit: %ld %s\n", r.status, r.body ? r.body : "");
            resp_free(&r);
            __atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        snprintf(id, sizeof id, "%s", jstr(r.json, "id"));
        resp_free(&r);
        double t1 = 0;
        for (;;) {
            int op = 0;
            char *p = ws_read(fd, &op);
            if (!p)
                break;
            if (op == 1) {
                json_t *j = json_loads(p, 0, NULL);
                if (j && !strcmp(jstr(j, "id"), id) && !strcmp(jstr(j, "status"), "judged"))
                    t1 = now_s();
                json_decref(j);
            }
            free(p);
            if (op == 8 || t1 > 0)
                break;
        }
        if (t1 == 0) {
            __atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
            break;
        }
        char path[128];
        snprintf(path, sizeof path, "/v1/submissions/%s", id);
        r = req(c, "GET", path, NULL, cl->token);
        /* int64 is a JSON string in the protobuf JSON mapping. */
        json_t *sv = json_object_get(r.json, "sandboxMs");
        double sandbox = json_is_string(sv) ? strtod(json_string_value(sv), NULL)
                                            : (double)json_integer_value(sv);
        if (strcmp(jstr(r.json, "verdict"), "AC") != 0)
            __atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
        resp_free(&r);
        double total = (t1 - t0) * 1000.0;
        pthread_mutex_lock(&mu);
        samples[nsamples++] = (sample){total, sandbox, total - sandbox};
        pthread_mutex_unlock(&mu);
    }
    close(fd);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

static bool login(CURL *c, const char *name, const char *pw, char *token, size_t cap)
{
    char body[512];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", name, pw);
    resp r = req(c, "POST", "/v1/auth/login", body, NULL);
    bool ok = r.status == 200;
    if (!ok && getenv("BENCH_DEBUG"))
        fprintf(stderr, "login %s: %ld %s\n", name, r.status, r.body ? r.body : "");
    if (ok)
        snprintf(token, cap, "%s", jstr(r.json, "accessToken"));
    resp_free(&r);
    return ok;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--users") && i + 1 < argc)
            users = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--per-user") && i + 1 < argc)
            per_user = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--same-source"))
            same_source = true;
        else {
            fprintf(stderr, "usage: %s [--users N] [--per-user K] [--same-source]\n", argv[0]);
            return 2;
        }
    }
    if (users < 1 || users > 256 || per_user < 1 || per_user > 1000)
        return 2;
    cc_log_init("bench-submission", CC_LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    signal(SIGPIPE, SIG_IGN);
    start_all();
    client *cls = calloc((size_t)users, sizeof *cls);
    samples = calloc((size_t)(users * per_user), sizeof *samples);
    CURL *c = curl_easy_init();
    int registered = 0;
    for (int i = 0; i < users; i++) {
        char name[64], pw[64], body[512];
        snprintf(name, sizeof name, "bench%d", i);
        snprintf(pw, sizeof pw, "bench-password-%d", i);
        snprintf(body, sizeof body,
                 "{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"%s\"}", name,
                 name, pw);
        resp r = req(c, "POST", "/v1/users", body, NULL);
        bool ok = r.status == 201 && login(c, name, pw, cls[i].token, sizeof cls[i].token);
        resp_free(&r);
        /* Registration is cc-user's; if it is unavailable the admin stands
         * in for every user (the sockets then also see the others'
         * submissions, which the clients skip by id). */
        for (int tries = 0; !ok && tries < 100; tries++) {
            ok = login(c, "root", "rootpassword", cls[i].token, sizeof cls[i].token);
            if (!ok)
                usleep(100000); /* the admin is created just after start */
            else
                registered--;
        }
        if (!ok) {
            fprintf(stderr, "cannot log in (see %s)\n", dir);
            return 1;
        }
        registered += ok;
        cls[i].index = i;
    }
    /* Warm-up: the judge's test data cache and the first compile. */
    {
        client w = {.index = 9999};
        snprintf(w.token, sizeof w.token, "%s", cls[0].token);
        int saved = per_user;
        per_user = 1;
        client_main(&w);
        per_user = saved;
        nsamples = 0;
        errors = 0;
    }
    pthread_t *ts = calloc((size_t)users, sizeof *ts);
    double t0 = now_s();
    for (int i = 0; i < users; i++)
        pthread_create(&ts[i], NULL, client_main, &cls[i]);
    for (int i = 0; i < users; i++)
        pthread_join(ts[i], NULL);
    double wall = now_s() - t0;
    int n = nsamples;
    double *tot = calloc((size_t)n + 1, sizeof *tot), *sb = calloc((size_t)n + 1, sizeof *sb),
           *me = calloc((size_t)n + 1, sizeof *me);
    for (int i = 0; i < n; i++) {
        tot[i] = samples[i].total_ms;
        sb[i] = samples[i].sandbox_ms;
        me[i] = samples[i].mesh_ms;
    }
    printf("bench-submission: %d users (%s) x %d submissions, A+B in C, 11 tests (1 sample + 10 "
           "secret), %s\n",
           users, registered == users ? "registered" : "admin stands in", per_user,
           same_source ? "one source (compile cache hits)" : "every source compiled");
    printf("judged %d, errors %d, in %.2f s: %.2f submissions/s\n\n", n, errors, wall,
           n / wall);
    printf("%-28s %10s %10s\n", "submit-to-verdict (ms)", "p50", "p99");
    printf("%-28s %10.1f %10.1f\n", "total", pct(tot, n, 0.5), pct(tot, n, 0.99));
    printf("%-28s %10.1f %10.1f\n", "sandbox (sandboxMs)", pct(sb, n, 0.5), pct(sb, n, 0.99));
    printf("%-28s %10.1f %10.1f\n", "mesh (total - sandbox)", pct(me, n, 0.5), pct(me, n, 0.99));
    printf("\nmesh p50 target <= 30 ms: %s\n", pct(me, n, 0.5) <= 30.0 ? "met" : "NOT met");
    curl_easy_cleanup(c);
    for (int i = 4; i >= 0; i--)
        cc_local_proc_stop(&procs[i], SIGTERM, 20000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    return errors ? 1 : 0;
}
