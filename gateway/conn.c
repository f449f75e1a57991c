/* Every client connection, tracked so that the limits h2o 2.2.5 lacks
 * are the gateway's (gw.h, section conn.c): accepting (max-conns), counting
 * what each one abandons and leaves unread, the once-a-second sweep for
 * resets and stalls, and cutting one that crosses a limit. Answers report
 * to it through gw_conn_answered (response.c); it sends nothing itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "gw.h"

struct gw_conn {
    uv_tcp_t tcp;          /* first: h2o's close callback frees the struct through it */
    gw_state *g;
    h2o_socket_t *sock;    /* NULL once h2o disposed of it */
    h2o_linklist_t link;   /* in g->conns */
    uint32_t abandoned;    /* requests given up before their answer, this second */
    size_t answered;       /* bytes of answers given to h2o for this connection */
    size_t written;        /* sock->bytes_written when last seen moving */
    uint64_t stalled_since; /* loop ms since output waits with none taken; 0: not */
    bool cut;
};

/* The gateway whose listeners accept (libuv hands gw_conn_accept only the
 * listener, whose data is h2o's accept context). */
static gw_state *conns_g;

size_t gw_header_bytes(h2o_req_t *req)
{
    size_t n = req->path.len + req->method.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

void gw_count_closed(const char *reason)
{
    static const char *const reasons[] = {"too-many-connections", "rapid-reset", "write-stall",
                                          "unread-answers", "header-bomb", "live-backlog"};
    static cc_counter *counters[sizeof reasons / sizeof reasons[0]];
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (strcmp(reasons[i], reason) != 0)
            continue;
        if (!counters[i]) {
            char labels[64];
            snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
            counters[i] = cc_metrics_counter("cc_gateway_connections_closed_total",
                                             "Client connections the gateway closed for crossing "
                                             "a limit, by limit",
                                             labels);
        }
        cc_counter_inc(counters[i]);
    }
}

static cc_gauge *conns_gauge(void)
{
    static cc_gauge *g;
    if (!g)
        g = cc_metrics_gauge("cc_gateway_connections", "Open client connections", NULL);
    return g;
}

/* Ends the connection under h2o: with both directions shut down, its next
 * read sees the end and its next write fails, and h2o closes it as it
 * closes any connection the peer dropped. */
static void conn_cut(gw_conn *c, const char *reason)
{
    if (c->cut || !c->sock)
        return;
    c->cut = true;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        shutdown(fd, SHUT_RDWR);
    gw_count_closed(reason);
    char peer[64] = "";
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        uv_ip4_name((struct sockaddr_in *)&ss, peer, sizeof peer);
    cc_log(CC_LOG_WARN, NULL, "connection cut", "{s:s, s:s}", "reason", reason, "peer", peer);
}

static void on_sock_close(void *data)
{
    gw_conn *c = data;
    c->sock = NULL;
}

static void on_conn_freed(uv_handle_t *h)
{
    gw_conn *c = (gw_conn *)h;
    gw_state *g = c->g;
    h2o_linklist_unlink(&c->link);
    g->nconns--;
    cc_gauge_set(conns_gauge(), g->nconns);
    free(c);
}

static gw_conn *conn_of(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn)
                                                           : NULL;
    return sock && sock->on_close.cb == on_sock_close ? sock->on_close.data : NULL;
}

/* An HTTP/2 client may open a stream and cancel it at once, as often as it
 * likes (rapid reset): the request's work (token, Redis, an RPC) is done
 * for nothing while no stream stays open to count against max-streams.
 * More than max-resets such requests in one second end the connection. */
void gw_conn_abandoned(h2o_req_t *req)
{
    gw_conn *c = conn_of(req);
    if (c && ++c->abandoned > (uint32_t)c->g->cfg->max_resets)
        conn_cut(c, "rapid-reset");
}

/* Answers wait in h2o until the client's flow-control window takes them:
 * one that opens streams with a window of 0 (or simply never reads) makes
 * the gateway hold every answer. Past max-unsent bytes given to h2o and
 * not yet written to the socket, the connection is cut. */
void gw_conn_answered(h2o_req_t *req, size_t len)
{
    gw_conn *c = conn_of(req);
    if (!c || !c->sock)
        return;
    c->answered += len;
    if (c->answered > c->sock->bytes_written + (size_t)c->g->cfg->max_unsent)
        conn_cut(c, "unread-answers");
}

/* h2o 2.2.5 bounds an HTTP/2 request's header block as sent, not as
 * decoded: a 4 KiB header put in the HPACK table once and then named by
 * its one-byte index 16000 times makes a 64 MiB header list out of a
 * 16 KiB frame (and a header vector of 16000 entries). HTTP/1.1 requests
 * have at most 100 headers (h2o's own limit); an HTTP/2 request with more,
 * or whose decoded headers exceed 4 x max-header, ends its connection. */
gw_conn_verdict gw_conn_admit(gw_state *g, h2o_req_t *req)
{
    gw_conn *c = conn_of(req);
    if (c && c->cut)
        return GW_CONN_CUT;
    if (req->headers.size <= 100 && gw_header_bytes(req) <= 4 * (size_t)g->cfg->max_header)
        return GW_CONN_OK;
    if (c)
        conn_cut(c, "header-bomb");
    return GW_CONN_HEADER_BOMB;
}

/* Once a second: the counts of abandoned requests start again, and a
 * connection whose answers wait in the kernel with none taken (it keeps
 * sending, or just sits) for write-stall is cut: h2o 2.2.5 keeps reading
 * and answering a client that reads nothing (each PING and SETTINGS is
 * answered), and buffers the answers without a bound. */
static void on_sweep(uv_timer_t *t)
{
    gw_state *g = t->data;
    uint64_t now = uv_now(g->loop);
    for (h2o_linklist_t *l = g->conns.next; l != &g->conns; l = l->next) {
        gw_conn *c = H2O_STRUCT_FROM_MEMBER(gw_conn, link, l);
        c->abandoned = 0;
        if (!c->sock || c->cut)
            continue;
        uv_os_fd_t fd;
        int outq = 0;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0)
            continue;
        bool waiting = outq > 0 || c->answered > c->sock->bytes_written;
        if (!waiting || c->sock->bytes_written != c->written) {
            c->written = c->sock->bytes_written;
            c->stalled_since = 0;
        } else if (!c->stalled_since) {
            c->stalled_since = now;
        } else if (now - c->stalled_since >= (uint64_t)g->cfg->write_stall_ms) {
            conn_cut(c, "write-stall");
        }
    }
}

void gw_conn_accept(uv_stream_t *listener, int status)
{
    h2o_accept_ctx_t *actx = listener->data;
    gw_state *g = conns_g;
    if (status != 0)
        return;
    gw_conn *c = h2o_mem_alloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->g = g;
    uv_tcp_init(listener->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    /* Over max-conns a new connection is closed at once: its file and
     * memory are what the limit bounds. */
    if (g->nconns >= g->cfg->max_conns) {
        gw_count_closed("too-many-connections");
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    h2o_linklist_insert(&g->conns, &c->link);
    g->nconns++;
    cc_gauge_set(conns_gauge(), g->nconns);
    uv_tcp_nodelay(&c->tcp, 1);
    c->sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_freed);
    c->sock->on_close.cb = on_sock_close;
    c->sock->on_close.data = c;
    h2o_accept(actx, c->sock);
}

/* Thousands of connections need thousands of files: the soft limit is
 * raised to the hard one (often 1024 against 1048576), capped at what
 * max-conns needs plus room for everything else. */
static void raise_nofile(int64_t max_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_conns + 1024;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}


void gw_conns_start(gw_state *g)
{
    conns_g = g;
    h2o_linklist_init_anchor(&g->conns);
    raise_nofile(g->cfg->max_conns);
    uv_timer_init(g->loop, &g->sweep);
    g->sweep.data = g;
    uv_timer_start(&g->sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&g->sweep);
    g->sweep_on = true;
}

void gw_conns_stop(gw_state *g)
{
    if (g->sweep_on) {
        uv_close((uv_handle_t *)&g->sweep, NULL);
        g->sweep_on = false;
    }
}
