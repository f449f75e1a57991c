/* bench-h2o-static: h2o's own file handler on the same library, loop and
 * listener code as cc-gateway (libuv build, cleartext HTTP/1.1 and h2c
 * with prior knowledge), serving one folder. The baseline of
 * bench-gateway. With PROCS > 1 it runs as that many processes, each with
 * its own loop and listening socket on the port (SO_REUSEPORT, as
 * cc-gateway --reuse-port does): every socket is listening before the
 * first request is served. Usage: bench-h2o-static PORT DIR [PROCS] */
#include <h2o.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;

static void on_accept(uv_stream_t *listener, int status)
{
    if (status != 0)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof *conn);
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&accept_ctx, sock);
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench-h2o-static PORT DIR [PROCS]\n");
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end || port < 1 || port > 65535)
        return 2;
    long procs = argc == 4 ? strtol(argv[3], &end, 10) : 1;
    if (argc == 4 && (*end || procs < 1 || procs > 64))
        return 2;
    /* Every process's socket is bound and listening before any fork. */
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    int fds[64];
    for (long i = 0; i < procs; i++) {
        int one = 1;
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
            bind(fds[i], (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fds[i], 1024) != 0) {
            fprintf(stderr, "cannot listen on 127.0.0.1:%ld\n", port);
            return 1;
        }
    }
    long me = 0;
    for (long i = 1; i < procs && me == 0; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            /* Stopped with the parent (bench-gateway stops its group). */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            me = i;
        }
    }
    for (long i = 0; i < procs; i++)
        if (i != me)
            close(fds[i]);
    h2o_config_init(&config);
    h2o_hostconf_t *host =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_file_register(pc, argv[2], NULL, NULL, 0);
    uv_loop_t *loop = uv_default_loop();
    h2o_context_init(&ctx, loop, &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;
    uv_tcp_t listener;
    uv_tcp_init(loop, &listener);
    if (uv_tcp_open(&listener, fds[me]) != 0 ||
        uv_listen((uv_stream_t *)&listener, 1024, on_accept) != 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
