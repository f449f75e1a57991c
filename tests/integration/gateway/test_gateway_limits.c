/* cc-gateway's connection limits and live-socket rules, end to end: the
 * HTTP/1.1 slow-request cut, the HTTP/2 idle timeout, the concurrent
 * streams limit (requests beyond it wait their turn on the connection),
 * 431 for oversized headers, the WebSocket token sent as a subprotocol,
 * and live sockets closed (1008) once their token is revoked or expires;
 * what a client may send on a live socket (a message too big: 1009, too
 * many frames: 1008); replicas sharing the port (--reuse-port).
 * One gateway with tight limits, cc-user with 4-second access tokens. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"
#include "cctest_ws.h"

#define fmt cct_fmt

static cc_local_stack stack;
static cc_local_proc user_proc, gw;
static char dir[4096];
static uint16_t port, gw_metrics;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int group_setup(void **state)
{
    if (!cct_start_stack(&stack, "test-gateway-limits", (const char *[]){"cc_user", NULL}))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    const char *key = fmt("--jwt-key=%s/jwt-key.pem", dir);
    uint16_t um, gm;
    if (cc_local_free_port(&um) != CC_OK || cc_local_free_port(&gm) != CC_OK ||
        cc_local_free_port(&port) != CC_OK)
        return -1;
    cct_spawn(&user_proc, "cc-user", CC_BIN_DIR, "cc-user", dir,
              (const char *[]){
                  cct_nats_flag(&stack, "user"), fmt("--redis-url=%s", stack.redis_url),
                  fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                  fmt("--metrics-port=%u", um), key, "--bcrypt-cost=4", "--access-ttl=4s", NULL});
    if (!cct_wait_status(um, "/readyz", 200, 30000))
        return -1;
    cct_spawn(&gw, "cc-gateway", CC_BIN_DIR, "cc-gateway", dir,
              (const char *[]){cct_nats_flag(&stack, "gateway"),
                               fmt("--redis-url=%s", stack.redis_url),
                               fmt("--http-port=%u", port),
                               "--https-port=-1",
                               fmt("--metrics-port=%u", gm),
                               key,
                               "--rate-auth=100000",
                               "--burst-auth=100000",
                               "--rate-login=100000",
                               "--burst-login=100000",
                               "--rate-user=100000",
                               "--burst-user=100000",
                               "--rate-anon=100000",
                               "--burst-anon=100000",
                               "--req-timeout=500ms",
                               "--idle-timeout=500ms",
                               "--max-streams=2",
                               "--max-header=2k",
                               "--live-check=200ms",
                               "--live-max-message=1k",
                               "--live-frame-rate=20",
                               "--rpc-timeout=1s",
                               "--reuse-port",
                               NULL});
    if (!cct_wait_status(port, "/readyz", 200, 30000))
        return -1;
    gw_metrics = gm;
    return 0;
}

static int group_teardown(void **state)
{
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    nats_Close();
    return 0;
}

static int tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads until EOF or ms pass; the milliseconds until EOF (-1: none). The
 * bytes read go to out (cap). */
static long until_eof(int fd, int ms, char *out, size_t cap, size_t *got)
{
    uint64_t start = now_ms();
    *got = 0;
    for (;;) {
        long left = (long)ms - (long)(now_ms() - start);
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) != 1)
            return -1;
        char buf[4096];
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0)
            return (long)(now_ms() - start);
        size_t n = (size_t)k < cap - *got ? (size_t)k : cap - *got;
        memcpy(out + *got, buf, n);
        *got += n;
    }
}

static void test_slow_request(void **state)
{
    /* Headers that never finish: cut after req-timeout (500 ms). */
    int fd = tcp();
    const char *part = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1";
    assert_int_equal(write(fd, part, strlen(part)), (ssize_t)strlen(part));
    char out[4096];
    size_t got;
    long t = until_eof(fd, 5000, out, sizeof out, &got);
    assert_true(t >= 300 && t < 3000);
    close(fd);
    /* A body that never finishes, likewise. */
    fd = tcp();
    const char *hdr = "POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: 100\r\n\r\n{\"username\":";
    assert_int_equal(write(fd, hdr, strlen(hdr)), (ssize_t)strlen(hdr));
    t = until_eof(fd, 5000, out, sizeof out, &got);
    assert_true(t >= 300 && t < 3000);
    close(fd);
    /* A whole request in time is served. */
    fd = tcp();
    const char *full = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(write(fd, full, strlen(full)), (ssize_t)strlen(full));
    t = until_eof(fd, 5000, out, sizeof out, &got);
    assert_true(t >= 0);
    out[got < sizeof out ? got : sizeof out - 1] = '\0';
    assert_non_null(strstr(out, " 200 "));
    close(fd);
}

static void test_idle_timeout(void **state)
{
    /* An HTTP/2 connection (prior knowledge) that does nothing after its
     * SETTINGS: a GOAWAY and the close after idle-timeout (500 ms). */
    int fd = tcp();
    static const unsigned char hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                         "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    assert_int_equal(write(fd, hello, sizeof hello - 1), (ssize_t)(sizeof hello - 1));
    char out[8192];
    size_t got;
    long t = until_eof(fd, 5000, out, sizeof out, &got);
    assert_true(t >= 300 && t < 3000);
    /* Among the frames: a GOAWAY (type 7). */
    bool goaway = false;
    for (size_t off = 0; off + 9 <= got;) {
        size_t len = (size_t)(unsigned char)out[off] << 16 |
                     (size_t)(unsigned char)out[off + 1] << 8 | (unsigned char)out[off + 2];
        if (out[off + 3] == 7)
            goaway = true;
        off += 9 + len;
    }
    assert_true(goaway);
    close(fd);
}

static void test_header_limit(void **state)
{
    char big[3100] = "X-Padding: ";
    memset(big + 11, 'a', 3000);
    big[3011] = '\0';
    cct_resp r = cct_req_url("GET", fmt("http://127.0.0.1:%u/v1/users/me", port), NULL, NULL, big);
    assert_int_equal(r.status, 431);
    assert_string_equal(cct_jstr(&r, "type"), "https://codecourt.dev/problems/headers-too-large");
    cct_resp_free(&r);
    /* Just under the limit is fine (401: the route needs a token). */
    big[11 + 1500] = '\0';
    r = cct_req_url("GET", fmt("http://127.0.0.1:%u/v1/users/me", port), NULL, NULL, big);
    assert_int_equal(r.status, 401);
    cct_resp_free(&r);
}

/* ---- live sockets --------------------------------------------------------------------------- */

/* The gateway's RPC timeout here is 1 s (test_max_streams counts in it),
 * which a login on a loaded machine can overrun: a 503 (no answer in time) is tried again. */
static void login(const char *name, char *token, size_t cap, char *id, size_t idcap)
{
    cct_resp r;
    for (int tries = 0;; tries++) {
        r = cct_req(port, "POST", "/v1/auth/login",
                    fmt("{\"username\":\"%s\",\"password\":\"password-%s\"}", name, name), NULL);
        if (r.status != 503 || tries == 4)
            break;
        cct_resp_free(&r);
    }
    assert_int_equal(r.status, 200);
    snprintf(token, cap, "%s", cct_jstr(&r, "accessToken"));
    snprintf(id, idcap, "%s",
             json_string_value(json_object_get(json_object_get(r.json, "user"), "id")));
    cct_resp_free(&r);
}

/* ---- concurrent streams --------------------------------------------------------------- */

typedef struct {
    uint64_t at[16];
    int n;
    pthread_mutex_t mu;
} arrivals;

static void on_rpc_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ud)
{
    arrivals *a = ud;
    pthread_mutex_lock(&a->mu);
    if (a->n < 16)
        a->at[a->n++] = now_ms();
    pthread_mutex_unlock(&a->mu);
    natsMsg_Destroy(m); /* never answered: the gateway's RPC times out (1 s) */
}

static void test_max_streams(void **state)
{
    /* Requests that are never answered: with max-streams 2, six requests
     * on one connection reach NATS two at a time, one second (the RPC
     * timeout) apart. */
    arrivals a = {.n = 0};
    pthread_mutex_init(&a.mu, NULL);
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    assert_int_equal(cc_local_nats_connect(&stack, "admin", &nc), NATS_OK);
    assert_int_equal(cct_status(port, "POST", "/v1/users",
                                "{\"username\":\"streamer\",\"email\":\"s@example.org\","
                                "\"password\":\"password-streamer\"}",
                                NULL),
                     201);
    char tok[4096], id[64];
    login("streamer", tok, sizeof tok, id, sizeof id);
    char auth[4200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    /* A plain subscription sees every GetMe request; cc-user, paused,
     * answers none of them. */
    assert_int_equal(natsConnection_Subscribe(&sub, nc, "cc.rpc.user.GetMe", on_rpc_msg, &a),
                     NATS_OK);
    natsConnection_Flush(nc);
    kill(user_proc.pid, SIGSTOP);
    /* h2load (nghttp2-client): one connection, six streams at once. */
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "h2load -n 6 -c 1 -m 6 -H 'authorization: Bearer %s' "
             "http://127.0.0.1:%u/v1/users/me 2>&1",
             tok, port);
    uint64_t start = now_ms();
    FILE *h = popen(cmd, "r");
    assert_non_null(h);
    /* Meanwhile, halfway through the first RPC timeout, count arrivals. */
    usleep(500000);
    pthread_mutex_lock(&a.mu);
    int seen_at_500 = a.n;
    pthread_mutex_unlock(&a.mu);
    char out[8192];
    size_t got = fread(out, 1, sizeof out - 1, h);
    out[got] = '\0';
    int rc = pclose(h);
    uint64_t took = now_ms() - start;
    kill(user_proc.pid, SIGCONT);
    if (rc != 0 || !strstr(out, "6 done"))
        fprintf(stderr, "h2load: %s\n", out);
    assert_int_equal(rc, 0);
    /* Every stream completed, each a 503 (no answer within rpc-timeout). */
    assert_non_null(strstr(out, "6 done"));
    assert_non_null(strstr(out, "6 5xx"));
    assert_int_equal(seen_at_500, 2);
    assert_int_equal(a.n, 6);
    /* Three waves: the second and third start a timeout after the one before. */
    assert_true(a.at[2] - a.at[0] >= 800 && a.at[4] - a.at[2] >= 800);
    assert_true(took >= 2500);
    /* Without the limit all six would arrive at once. */
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    pthread_mutex_destroy(&a.mu);
    /* cc-user catches up with what waited for it. */
    assert_true(cct_wait_status(port, "/readyz", 200, 10000));
}

/* Opens /v1/live offering the subprotocols before (e.g. "cc.live, ")
 * and then cc.bearer.<token>; the status line and headers go to head. */
static int ws_open_bearer(const char *before, const char *token, char *head, size_t cap)
{
    /* A whole token, however long: fmt's buffers hold 1 KiB. */
    size_t n = strlen(before) + strlen(token) + 64;
    char *hdr = malloc(n);
    snprintf(hdr, n, "Sec-WebSocket-Protocol: %scc.bearer.%s\r\n", before, token);
    int fd = cct_ws_connect(port, "/v1/live", hdr, head, cap);
    free(hdr);
    assert_true(fd >= 0);
    return fd;
}

/* Reads one frame within ms into *msg (freeing the one before; NULL when
 * none came); its opcode, or -1. */
static int ws_frame(int fd, int ms, char **msg)
{
    int op = -1;
    free(*msg);
    *msg = cct_ws_read(fd, ms, &op);
    return *msg ? op : -1;
}

static void test_live_subprotocol_and_revocation(void **state)
{
    assert_int_equal(cct_status(port, "POST", "/v1/users",
                                "{\"username\":\"wsuser\",\"email\":\"ws@example.org\","
                                "\"password\":\"password-wsuser\"}",
                                NULL),
                     201);
    char tok[4096], id[64], head[2048], *buf = NULL;
    login("wsuser", tok, sizeof tok, id, sizeof id);
    /* A bad token as a subprotocol: 401. */
    int fd = ws_open_bearer("cc.live, ", "not-a-token", head, sizeof head);
    assert_non_null(strstr(head, " 401 "));
    close(fd);
    /* The token as a subprotocol: upgraded, and cc.live chosen (never the token). */
    fd = ws_open_bearer("cc.live, ", tok, head, sizeof head);
    assert_non_null(strstr(head, " 101 "));
    assert_non_null(strcasestr(head, "sec-websocket-protocol: cc.live\r\n"));
    assert_null(strstr(head, "cc.bearer"));
    natsConnection *nc = NULL;
    assert_int_equal(cc_local_nats_connect(&stack, "admin", &nc), NATS_OK);
    int op = -1;
    for (int i = 0; i < 30 && op != 1; i++) {
        natsConnection_PublishString(nc, fmt("cc.live.user.%s", id), "{\"hello\":1}");
        natsConnection_Flush(nc);
        op = ws_frame(fd, 200, &buf);
    }
    assert_int_equal(op, 1);
    assert_string_equal(buf, "{\"hello\":1}");
    while (ws_frame(fd, 300, &buf) == 1)
        ;
    /* Logging out revokes the token: the socket gets a close frame (1008). */
    assert_int_equal(cct_status(port, "POST", "/v1/auth/logout", "{}", tok), 200);
    uint64_t start = now_ms();
    do
        op = ws_frame(fd, 2000, &buf);
    while (op == 1);
    assert_int_equal(op, 8);
    assert_int_equal((unsigned char)buf[0] << 8 | (unsigned char)buf[1], 1008);
    assert_string_equal(buf + 2, "token revoked");
    assert_true(now_ms() - start < 2000);
    close(fd);

    /* An expiring token (4 s here): closed soon after it expires. */
    login("wsuser", tok, sizeof tok, id, sizeof id);
    fd = ws_open_bearer("", tok, head, sizeof head);
    assert_non_null(strstr(head, " 101 "));
    assert_null(strcasestr(head, "sec-websocket-protocol")); /* cc.live not offered */
    start = now_ms();
    op = ws_frame(fd, 8000, &buf);
    assert_int_equal(op, 8);
    assert_string_equal(buf + 2, "token expired");
    uint64_t t = now_ms() - start;
    assert_true(t >= 2000 && t < 6500);
    free(buf);
    close(fd);
    natsConnection_Destroy(nc);
}

/* ---- what a client may send on a live socket ------------------------------------------------ */

/* Reads frames for up to ms until a close frame: its status code (-1: none
 * came), its reason copied to why (cap bytes); the server then closes the
 * connection (asserted). Pongs are counted in *pongs when not NULL. */
static int ws_close(int fd, int ms, char *why, size_t cap, int *pongs)
{
    char *buf = NULL;
    int code = -1;
    why[0] = '\0';
    uint64_t end = now_ms() + (uint64_t)ms;
    for (int op; now_ms() < end && (op = ws_frame(fd, (int)(end - now_ms()), &buf)) >= 0;) {
        if (op == 8) {
            code = (unsigned char)buf[0] << 8 | (unsigned char)buf[1];
            snprintf(why, cap, "%s", buf + 2);
            break;
        }
        if (op == 10 && pongs)
            (*pongs)++;
    }
    free(buf);
    if (code >= 0) {
        char out[64];
        size_t got;
        assert_true(until_eof(fd, 3000, out, sizeof out, &got) >= 0);
    }
    return code;
}

/* A live socket of name's, with a token fresh from a login (they last 4 s
 * here, and an expired one closes the socket too). */
static int ws_fresh(const char *name)
{
    char tok[4096], id[64];
    login(name, tok, sizeof tok, id, sizeof id);
    return cct_ws_live(port, tok);
}

static void test_live_message_size(void **state)
{
    assert_int_equal(cct_status(port, "POST", "/v1/users",
                                "{\"username\":\"wsbig\",\"email\":\"wsbig@example.org\","
                                "\"password\":\"password-wsbig\"}",
                                NULL),
                     201);
    char *buf = NULL, why[128];
    /* Within the limits: a message just under it is taken (and ignored),
     * a ping answered. */
    int fd = ws_fresh("wsbig");
    char small[1000];
    memset(small, 'a', sizeof small);
    assert_true(cct_ws_send(fd, 1, true, small, sizeof small));
    assert_true(cct_ws_send(fd, 9, true, "hi", 2));
    assert_int_equal(ws_frame(fd, 2000, &buf), 10);
    assert_string_equal(buf, "hi");
    /* A frame that says it carries 2 GiB - 2 (under wslay's own maximum):
     * refused as it starts, 1009, whatever follows. */
    assert_true(cct_ws_send_head(fd, 2, true, (1ull << 31) - 2));
    char *chunk = calloc(1, 65536);
    assert_non_null(chunk);
    assert_true(write(fd, chunk, 65536) > 0);
    assert_int_equal(ws_close(fd, 3000, why, sizeof why, NULL), 1009);
    close(fd);
    /* Fragments count together: two of 600 bytes are one message of 1200. */
    fd = ws_fresh("wsbig");
    assert_true(cct_ws_send(fd, 1, false, chunk, 600));
    assert_true(cct_ws_send(fd, 0, false, chunk, 600));
    assert_int_equal(ws_close(fd, 3000, why, sizeof why, NULL), 1009);
    close(fd);
    free(chunk);
    free(buf);
    /* The gateway is unharmed. */
    assert_int_equal(cct_status(port, "GET", "/healthz", NULL, NULL), 200);
}

static void test_live_frame_rate(void **state)
{
    assert_int_equal(cct_status(port, "POST", "/v1/users",
                                "{\"username\":\"wsflood\",\"email\":\"wsflood@example.org\","
                                "\"password\":\"password-wsflood\"}",
                                NULL),
                     201);
    char *buf = NULL, why[128];
    /* A ping every 100 ms (10 a second, the limit is 20): all answered,
     * the socket stays. */
    int fd = ws_fresh("wsflood");
    for (int i = 0; i < 15; i++) {
        assert_true(cct_ws_send(fd, 9, true, "p", 1));
        assert_int_equal(ws_frame(fd, 2000, &buf), 10);
        usleep(100000);
    }
    assert_int_equal(ws_frame(fd, 300, &buf), -1);
    close(fd);
    /* Empty fragments cost no length: 2,000 of them at once are cut by
     * the frame rate, 1008, after one second's worth. */
    fd = ws_fresh("wsflood");
    unsigned char flood[2000 * 6];
    size_t n = 0;
    for (int i = 0; i < 2000; i++) {
        flood[n++] = i == 0 ? 0x01 : 0x00; /* text, then continuations; none FIN */
        flood[n++] = 0x80;                 /* masked, empty */
        memset(flood + n, 0, 4);
        n += 4;
    }
    assert_int_equal(write(fd, flood, n), (ssize_t)n);
    assert_int_equal(ws_close(fd, 3000, why, sizeof why, NULL), 1008);
    assert_string_equal(why, "too many frames");
    close(fd);
    /* So are 200 pings at once. */
    fd = ws_fresh("wsflood");
    for (int i = 0; i < 200; i++)
        assert_true(cct_ws_send(fd, 9, true, "p", 1));
    int pongs = 0;
    assert_int_equal(ws_close(fd, 3000, why, sizeof why, &pongs), 1008);
    assert_string_equal(why, "too many frames");
    /* 20 are answered at once (and one more each 50 ms), though wslay
     * sends the close frame ahead of the pongs it still holds. */
    assert_true(pongs <= 24);
    close(fd);
    free(buf);
}

/* ---- replicas on one port ------------------------------------------------------------ */

/* The 200 answers a gateway has counted, from its ops port. */
static long answered(uint16_t metrics)
{
    cct_resp r = cct_req(metrics, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    const char *line = strstr(r.body, "cc_gateway_responses_total{code=\"200\"}");
    long n = line ? strtol(strchr(line, '}') + 1, NULL, 10) : 0;
    cct_resp_free(&r);
    return n;
}

static void test_reuse_port(void **state)
{
    /* Without --reuse-port, a second gateway cannot take the port. */
    uint16_t m2, m3;
    assert_int_equal(cc_local_free_port(&m2), CC_OK);
    assert_int_equal(cc_local_free_port(&m3), CC_OK);
    const char *base[] = {cct_nats_flag(&stack, "gateway"),
                          fmt("--redis-url=%s", stack.redis_url),
                          fmt("--http-port=%u", port),
                          "--https-port=-1",
                          fmt("--jwt-key=%s/jwt-key.pem", dir),
                          NULL,
                          NULL,
                          NULL};
    cc_local_proc lone = {0}, twin = {0};
    base[5] = fmt("--metrics-port=%u", m2);
    cct_spawn(&lone, "gw-lone", CC_BIN_DIR, "cc-gateway", dir, base);
    bool exited = false;
    for (int i = 0; i < 100 && !exited; i++) {
        exited = cc_local_proc_poll(&lone);
        if (!exited)
            usleep(100000);
    }
    assert_true(exited);
    assert_true(WIFEXITED(lone.status) && WEXITSTATUS(lone.status) != 0);
    /* With it, both serve: new connections are spread between them. */
    base[5] = fmt("--metrics-port=%u", m3);
    base[6] = "--reuse-port";
    cct_spawn(&twin, "gw-twin", CC_BIN_DIR, "cc-gateway", dir, base);
    assert_true(cct_wait_status(m3, "/readyz", 200, 30000));
    long a0 = answered(gw_metrics), b0 = answered(m3);
    for (int i = 0; i < 40; i++) /* one connection each */
        assert_int_equal(cct_status(port, "GET", "/healthz", NULL, NULL), 200);
    long a = answered(gw_metrics) - a0, b = answered(m3) - b0;
    /* SIGTERM stops a gateway: it exits, with 0, well within the wait. */
    assert_int_equal(cc_local_proc_stop(&twin, SIGTERM, 5000), CC_OK);
    assert_true(WIFEXITED(twin.status) && WEXITSTATUS(twin.status) == 0);
    /* The ops port's own /metrics answers are counted by the runtime, not
     * here; every /healthz went to one of the two. */
    assert_int_equal(a + b, 40);
    assert_true(a > 0 && b > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_request),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_max_streams),
        cmocka_unit_test(test_live_subprotocol_and_revocation),
        cmocka_unit_test(test_live_message_size),
        cmocka_unit_test(test_live_frame_rate),
        cmocka_unit_test(test_reuse_port),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
