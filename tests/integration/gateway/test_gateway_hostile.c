/* Hostile clients against cc-gateway (issue 20): real servers, cc-user and
 * the gateway with its default limits (but shorter timeouts, so the test
 * runs in seconds), then
 *   - here, a WebSocket client on /v1/live that never reads while its
 *     user's live events pour in: the gateway must close it once its queue
 *     passes --live-max-queued, and its memory must stay bounded;
 *   - hostile_clients.py (python3-h2 and raw sockets): rapid reset,
 *     CONTINUATION flood, HPACK bomb, SETTINGS and PING floods, zero
 *     windows, thousands of idle connections, slowloris on headers and
 *     bodies, an oversized WebSocket frame; a normal client is served
 *     throughout and the gateway's memory and files stay bounded.
 * Figures are printed per attack; see gateway/README.md, Limits. */
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cc/local.h"
#include "cctest_http.h"
#include "cctest_mesh.h"
#include "cctest_ws.h"

static cc_local_stack stack;
static cc_local_proc user_proc, gw;
static uint16_t port, gw_metrics;
static int failures;

static double counter(const char *name)
{
    static char body[1 << 18];
    if (cct_get_http1(gw_metrics, "/metrics", body, sizeof body) != 200)
        return -1;
    const char *p = strstr(body, name);
    return p ? strtod(p + strlen(name), NULL) : 0;
}

/* A live socket that never reads while 40 MiB of events are published for
 * its user: the gateway drops it at --live-max-queued, and its memory
 * grows by far less than what was published. */
static void ws_never_reads(const char *token, const char *user_id)
{
    char head[1024];
    int fd = cct_ws_connect(port, cct_fmt("/v1/live?access_token=%s", token), NULL, head,
                            sizeof head);
    if (fd < 0 || strncmp(head, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "FAIL ws-never-reads: no upgrade: %s\n", head);
        failures++;
        return;
    }
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    natsConnection *nc = NULL;
    if (cc_local_nats_connect(&stack, "admin", &nc) != NATS_OK) {
        fprintf(stderr, "FAIL ws-never-reads: NATS\n");
        failures++;
        close(fd);
        return;
    }
    double before = counter("cc_gateway_connections_closed_total{reason=\"live-backlog\"}");
    long rss0 = cct_rss_kib(gw.pid), peak = rss0;
    static char msg[4096];
    memset(msg, 'x', sizeof msg);
    char subject[80];
    snprintf(subject, sizeof subject, "cc.live.user.%s", user_id);
    for (int i = 0; i < 10240; i++) {
        natsConnection_Publish(nc, subject, msg, sizeof msg);
        if (i % 256 == 0) {
            natsConnection_Flush(nc);
            long r = cct_rss_kib(gw.pid);
            peak = r > peak ? r : peak;
        }
    }
    natsConnection_Flush(nc);
    usleep(500000);
    long r = cct_rss_kib(gw.pid);
    peak = r > peak ? r : peak;
    double after = counter("cc_gateway_connections_closed_total{reason=\"live-backlog\"}");
    /* The gateway closed it: reading now ends in EOF after what was sent. */
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    long got = 0, n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        got += n;
    bool eof = n == 0;
    close(fd);
    natsConnection_Destroy(nc);
    fprintf(stderr,
            "ws-never-reads: 40 MiB published, the socket received %ld KiB before it was %s; "
            "gateway RSS %.1f -> %.1f MiB\n",
            got >> 10, eof ? "closed" : "left open", rss0 / 1024.0, peak / 1024.0);
    if (!eof || after <= before) {
        fprintf(stderr, "FAIL ws-never-reads: the socket was not closed for its backlog\n");
        failures++;
    }
    if (peak - rss0 > 48 * 1024) {
        fprintf(stderr, "FAIL ws-never-reads: RSS grew %ld KiB\n", peak - rss0);
        failures++;
    }
}

int main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : NULL;
    if (!script || !cct_start_stack(&stack, "test-gateway-hostile", (const char *[]){"cc_user", NULL}))
        return 1;
    char key[4200];
    snprintf(key, sizeof key, "%s/jwt-key.pem", stack.dir);
    if (cc_local_free_port(&port) != CC_OK || cc_local_free_port(&gw_metrics) != CC_OK)
        return 1;
    if (!cct_start_user(&user_proc, &stack, CC_BIN_DIR, key, NULL))
        return 1;
    /* The defaults, but timeouts of seconds: the attacks last 6 s each. */
    if (!cct_start_gateway(&gw, &stack, CC_BIN_DIR, key, port, gw_metrics,
                           (const char *[]){"--req-timeout=3s", "--idle-timeout=5s",
                                            "--write-stall=3s", "--max-unsent=1M", NULL}))
        return 1;
    cct_resp r = cct_req(port, "POST", "/v1/auth/login",
                         "{\"username\":\"root\",\"password\":\"rootpassword\"}", NULL);
    if (r.status != 200)
        return 1;
    char token[4096], user_id[64];
    snprintf(token, sizeof token, "%s", cct_json_str(r.json, "accessToken"));
    snprintf(user_id, sizeof user_id, "%s", cct_json_str(json_object_get(r.json, "user"), "id"));
    cct_resp_free(&r);

    ws_never_reads(token, user_id);

    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)gw.pid);
    pid_t child = fork();
    if (child == 0) {
        char portarg[8];
        snprintf(portarg, sizeof portarg, "%u", port);
        execl("/usr/bin/python3", "python3", script, portarg, pid, token, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures++;
    if (cc_local_proc_poll(&gw)) {
        fprintf(stderr, "FAIL: the gateway exited (status 0x%x)\n", gw.status);
        failures++;
    }
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    cc_local_proc_stop(&user_proc, SIGTERM, 10000);
    if (failures)
        fprintf(stderr, "logs in %s (kept with CC_LOCAL_KEEP=1)\n", stack.dir);
    cc_local_stack_stop(&stack);
    fprintf(stderr, "%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
