/* The operations endpoint every process serves on its metrics port:
 * /healthz (the process is alive), /readyz (it can do its job: connected
 * and not draining) and /metrics (Prometheus text). Served by h2o on the
 * process's libuv loop, HTTP/1.1 and cleartext HTTP/2 with prior
 * knowledge. */
#ifndef CC_HTTP_H
#define CC_HTTP_H

#include <stdbool.h>
#include <uv.h>

#include "cc/status.h"

typedef struct cc_ops_server cc_ops_server;

/* Asked on every /readyz; returns true when ready and may set *why (a
 * static string) when not. */
typedef bool (*cc_ready_fn)(void *ud, const char **why);

/* Listens on 127.0.0.1:port (host may be NULL for 127.0.0.1; port 0 picks
 * a free one, see cc_ops_port). */
cc_status cc_ops_start(uv_loop_t *loop, const char *host, int port, cc_ready_fn ready, void *ud,
                       cc_ops_server **out);
int cc_ops_port(const cc_ops_server *s);
/* Stops listening and closes connections; frees the server when the loop
 * has closed its handles. */
void cc_ops_stop(cc_ops_server *s);

#endif
