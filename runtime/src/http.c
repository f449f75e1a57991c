#include "cc/http.h"

#include <h2o.h>
#include <stdlib.h>
#include <string.h>

#include "cc/metrics.h"

struct cc_ops_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    cc_ready_fn ready;
    void *ud;
    int port;
    bool stopping;
};

typedef struct {
    h2o_handler_t super;
    cc_ops_server *srv;
    int kind; /* 0 healthz, 1 readyz, 2 metrics */
} ops_handler;

static void respond(h2o_req_t *req, int status, const char *reason, const char *ctype,
                    const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    h2o_send_inline(req, body, len);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    ops_handler *h = (ops_handler *)self;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        respond(req, 405, "Method Not Allowed", "text/plain", H2O_STRLIT("method not allowed\n"));
        return 0;
    }
    switch (h->kind) {
    case 0:
        respond(req, 200, "OK", "text/plain", H2O_STRLIT("ok\n"));
        return 0;
    case 1: {
        const char *why = "not ready";
        bool ok = !h->srv->stopping && (!h->srv->ready || h->srv->ready(h->srv->ud, &why));
        if (ok) {
            respond(req, 200, "OK", "text/plain", H2O_STRLIT("ready\n"));
        } else {
            char *body = h2o_mem_alloc_pool(&req->pool, strlen(why) + 2);
            memcpy(body, why, strlen(why));
            body[strlen(why)] = '\n';
            respond(req, 503, "Service Unavailable", "text/plain", body, strlen(why) + 1);
        }
        return 0;
    }
    default: {
        size_t len = 0;
        char *text = cc_metrics_render(&len);
        if (!text) {
            respond(req, 500, "Internal Server Error", "text/plain", H2O_STRLIT("no memory\n"));
            return 0;
        }
        char *body = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(body, text, len);
        free(text);
        respond(req, 200, "OK", "text/plain; version=0.0.4", body, len);
        return 0;
    }
    }
}

static void add_path(cc_ops_server *s, h2o_hostconf_t *host, const char *path, int kind)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    ops_handler *h = (ops_handler *)h2o_create_handler(pc, sizeof *h);
    h->super.on_req = on_req;
    h->srv = s;
    h->kind = kind;
}

static void on_accept(uv_stream_t *listener, int status)
{
    cc_ops_server *s = listener->data;
    if (status != 0 || s->stopping)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof *conn);
    uv_tcp_init(s->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&s->accept, sock);
}

cc_status cc_ops_start(uv_loop_t *loop, const char *host, int port, cc_ready_fn ready, void *ud,
                       cc_ops_server **out)
{
    cc_ops_server *s = calloc(1, sizeof *s);
    if (!s)
        return CC_NOMEM;
    s->loop = loop;
    s->ready = ready;
    s->ud = ud;
    h2o_config_init(&s->config);
    h2o_hostconf_t *hc =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    add_path(s, hc, "/healthz", 0);
    add_path(s, hc, "/readyz", 1);
    add_path(s, hc, "/metrics", 2);
    h2o_context_init(&s->ctx, loop, &s->config);
    s->accept.ctx = &s->ctx;
    s->accept.hosts = s->config.hosts;
    struct sockaddr_in addr;
    uv_ip4_addr(host ? host : "127.0.0.1", port, &addr);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    int r = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, 128, on_accept);
    if (r != 0) {
        /* The listener was initialised, so it must be closed through the
         * loop; the rest of the server is torn down with it. */
        s->stopping = true;
        cc_ops_stop(s);
        return cc_err_set(CC_SYS, "ops endpoint on %s:%d: %s", host ? host : "127.0.0.1", port,
                          uv_strerror(r));
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return CC_OK;
}

int cc_ops_port(const cc_ops_server *s)
{
    return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
    cc_ops_server *s = h->data;
    h2o_context_dispose(&s->ctx);
    h2o_config_dispose(&s->config);
    free(s);
}

void cc_ops_stop(cc_ops_server *s)
{
    s->stopping = true;
    /* Connections still open are cut when the process exits; /readyz
     * already answers 503 so load balancers stop sending. */
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
