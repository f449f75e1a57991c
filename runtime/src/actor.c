#include "cc/trace.h"
#include "cc/actor.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/http.h"
#include "cc/log.h"
#include "cc/metrics.h"
#include "cc/migrate.h"

enum { MAX_CONSUMERS = 16 };

struct cc_actor {
    const cc_actor_def *def;
    cc_runtime_settings rt;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    uint64_t drain_started_ns;
    cc_bus *bus;
    cc_rpc_server *rpc;
    cc_ops_server *ops;
    cc_js_consumer *consumers[MAX_CONSUMERS];
    size_t nconsumers;
    void *state;
    bool ready;
    const char *not_ready_why;
    bool draining;
    int exit_code;
    char service_name[80];
};

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};

#define RT(field) offsetof(cc_runtime_settings, field)
static const cc_config_row runtime_rows[] = {
    {"nats-url", CC_CFG_STRING, RT(nats_url), "nats://127.0.0.1:4222", 0, 0, NULL,
     "NATS server URL(s), comma-separated; may carry user:password@ (logged without)"},
    {"nats-user", CC_CFG_STRING, RT(nats_user), "", 0, 0, NULL,
     "NATS user, cc-<service> (empty: none, or the URL's)"},
    {"nats-password", CC_CFG_STRING, RT(nats_password), "", 0, 0, NULL, "NATS password"},
    {"nats-ca", CC_CFG_STRING, RT(nats_ca), "", 0, 0, NULL,
     "PEM file of the CA that signed the NATS servers' certificates: TLS, verified against it "
     "(empty: cleartext unless the server requires TLS)"},
    {"metrics-host", CC_CFG_STRING, RT(metrics_host), "127.0.0.1", 0, 0, NULL,
     "address of /healthz, /readyz and /metrics"},
    {"metrics-port", CC_CFG_INT, RT(metrics_port), "0", -1, 65535, NULL,
     "port of /healthz, /readyz and /metrics (0: any free port, -1: none)"},
    {"log-level", CC_CFG_ENUM, RT(log_level), "info", 0, 0, log_levels,
     "lowest level logged: debug, info, warn, error"},
    {"drain-timeout", CC_CFG_DURATION, RT(drain_timeout_ms), "10s", 0, 3600000, NULL,
     "how long SIGTERM waits for in-flight work"},
    {"rpc-timeout", CC_CFG_DURATION, RT(rpc_timeout_ms), "5s", 1, 3600000, NULL,
     "default timeout of RPC calls this process makes"},
    {"js-replicas", CC_CFG_INT, RT(js_replicas), "0", 0, 5, NULL,
     "replicas of the JetStream streams this service declares (0: 3 when NATS runs as a "
     "cluster of three or more, else 1)"},
};
#undef RT

uv_loop_t *cc_actor_loop(cc_actor *a)
{
    return &a->loop;
}

cc_bus *cc_actor_bus(cc_actor *a)
{
    return a->bus;
}

const cc_actor_def *cc_actor_def_of(cc_actor *a)
{
    return a->def;
}

const cc_runtime_settings *cc_actor_runtime(cc_actor *a)
{
    return &a->rt;
}

void cc_actor_set_state(cc_actor *a, void *state)
{
    a->state = state;
}

void *cc_actor_state(cc_actor *a)
{
    return a->state;
}

/* ---- consumers: ensured off the loop, consumed on it, stopped by the drain ---- */

typedef struct consume_op {
    cc_actor *a;
    cc_js_consumer_config cfg; /* its strings point into the buffers below */
    char stream[64], durable[128], filter[256];
    cc_js_handler h;
    void *ud;
    cc_actor_consuming_fn started;
} consume_op;

static cc_status consume_ensure(void *ud)
{
    consume_op *op = ud;
    /* A cluster electing a stream leader (a server just died) answers
     * with a timeout or "temporarily unavailable" for a few seconds:
     * retry for a minute before giving up the process. */
    cc_status s = CC_ERR;
    for (int i = 0; i < 60 && !op->a->draining; i++) {
        s = cc_js_ensure_consumer(cc_bus_nats(op->a->bus), &op->cfg);
        if (s == CC_OK)
            break;
        cc_log(CC_LOG_WARN, NULL, "consumer not declared yet, retrying", "{s:s, s:s, s:s}",
               "stream", op->stream, "durable", op->durable, "error", cc_err_msg());
        uv_sleep(1000);
    }
    return s;
}

cc_status cc_actor_consume_ensured(cc_actor *a, const cc_js_consumer_config *cfg,
                                   cc_js_handler h, void *ud, cc_js_consumer **out)
{
    cc_js_consumer *c = NULL;
    if (out)
        *out = NULL;
    if (a->nconsumers == MAX_CONSUMERS)
        return cc_err_set(CC_LIMIT, "more than %d consumers", MAX_CONSUMERS);
    cc_status s = cc_js_consume(a->bus, cfg, h, ud, &c);
    if (s != CC_OK)
        return s;
    a->consumers[a->nconsumers++] = c;
    if (out)
        *out = c;
    return CC_OK;
}

static void consume_start(cc_status s, void *ud)
{
    consume_op *op = ud;
    cc_actor *a = op->a;
    cc_js_consumer *c = NULL;
    if (s == CC_OK && !a->draining)
        s = cc_actor_consume_ensured(a, &op->cfg, op->h, op->ud, &c);
    if (s != CC_OK && !a->draining) {
        cc_log(CC_LOG_ERROR, NULL, "cannot consume", "{s:s, s:s, s:s}", "stream", op->stream,
               "durable", op->durable, "error", cc_err_msg());
        a->exit_code = 1;
        cc_actor_shutdown(a);
    }
    if (op->started)
        op->started(a, c, op->ud);
    free(op);
}

cc_status cc_actor_consume(cc_actor *a, const cc_js_consumer_config *cfg, cc_js_handler h,
                           void *ud, cc_actor_consuming_fn started)
{
    consume_op *op = calloc(1, sizeof *op);
    if (!op)
        return cc_err_set(CC_NOMEM, "out of memory");
    *op = (consume_op){.a = a, .cfg = *cfg, .h = h, .ud = ud, .started = started};
    snprintf(op->stream, sizeof op->stream, "%s", cfg->stream ? cfg->stream : "");
    snprintf(op->durable, sizeof op->durable, "%s", cfg->durable ? cfg->durable : "");
    snprintf(op->filter, sizeof op->filter, "%s", cfg->filter ? cfg->filter : "");
    op->cfg.stream = op->stream;
    op->cfg.durable = op->durable;
    op->cfg.filter = cfg->filter ? op->filter : NULL;
    cc_status s = cc_bus_offload(a->bus, consume_ensure, consume_start, op);
    if (s != CC_OK)
        free(op);
    return s;
}

void cc_actor_set_ready(cc_actor *a, bool ready, const char *why)
{
    a->ready = ready;
    a->not_ready_why = why;
}

cc_status cc_actor_migrate(cc_actor *a, const char *conninfo, const char *dir)
{
    cc_migrate_options mo = {.conninfo = conninfo, .service = a->def->service, .dir = dir};
    int applied = 0;
    cc_status s = cc_migrate(&mo, &applied);
    if (s == CC_OK)
        cc_log(CC_LOG_INFO, NULL, "migrations applied", "{s:i}", "count", applied);
    return s;
}

cc_status cc_actor_open_db(cc_actor *a, const char *conninfo, cc_pg **pg, cc_outbox_relay **relay)
{
    *pg = NULL;
    if (relay)
        *relay = NULL;
    cc_pg_options po = {.conninfo = conninfo, .name = a->def->service};
    cc_status s = cc_pg_open(&a->loop, &po, pg);
    if (s != CC_OK || !relay)
        return s;
    cc_outbox_relay_options ro = {.service = a->def->service};
    s = cc_outbox_relay_start(*pg, a->bus, &ro, relay);
    if (s != CC_OK)
        cc_actor_close_db(pg);
    return s;
}

void cc_actor_stop_relay(cc_outbox_relay **relay)
{
    if (*relay)
        cc_outbox_relay_stop(*relay, NULL, NULL);
    *relay = NULL;
}

void cc_actor_close_db(cc_pg **pg)
{
    if (*pg)
        cc_pg_close(*pg, NULL, NULL);
    *pg = NULL;
}

static bool is_ready(void *ud, const char **why)
{
    cc_actor *a = ud;
    if (a->draining) {
        *why = "draining";
        return false;
    }
    if (!a->bus || !cc_bus_connected(a->bus)) {
        *why = "not connected to NATS";
        return false;
    }
    if (!a->ready) {
        *why = a->not_ready_why ? a->not_ready_why : "starting";
        return false;
    }
    return true;
}

/* An actor whose loop could not be closed (see cc_actor_main's end). */
static cc_actor *left_open;

static void unref_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    uv_unref(h);
}

static void on_bus_closed(void *ud)
{
    cc_actor *a = ud;
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->drain_timer, NULL);
    /* The actor has stopped: what a library still holds open must not keep
     * the process alive (h2o's context keeps an async handle for its
     * cross-thread queue until h2o_context_dispose, which needs every
     * connection gone first). The loop ends once the closes under way are
     * done; cc_actor_main then keeps a loop it cannot close. */
    uv_walk(&a->loop, unref_handle, NULL);
}

static void finish(cc_actor *a)
{
    uv_timer_stop(&a->drain_timer);
    for (size_t i = 0; i < a->nconsumers; i++)
        cc_js_consumer_free(a->consumers[i]);
    a->nconsumers = 0;
    if (a->def->stop)
        a->def->stop(a);
    cc_rpc_free(a->rpc);
    a->rpc = NULL;
    if (a->ops) {
        cc_ops_stop(a->ops);
        a->ops = NULL;
    }
    cc_log(CC_LOG_INFO, NULL, "stopped", "{s:i}", "exit_code", a->exit_code);
    cc_bus_close(a->bus, on_bus_closed, a);
}

static void drain_tick(uv_timer_t *t)
{
    cc_actor *a = t->data;
    int left = cc_bus_work_count(a->bus);
    uint64_t waited_ms = (cc_now_ns() - a->drain_started_ns) / 1000000;
    if (left > 0 && waited_ms < (uint64_t)a->rt.drain_timeout_ms)
        return;
    if (left > 0) {
        int handed_back = 0;
        for (size_t i = 0; i < a->nconsumers; i++) {
            handed_back += cc_js_consumer_inflight(a->consumers[i]);
            cc_js_consumer_nak_all(a->consumers[i]);
        }
        cc_log(CC_LOG_WARN, NULL, "drain timed out", "{s:i, s:i}", "work_left", left,
               "messages_handed_back", handed_back);
    }
    finish(a);
}

void cc_actor_shutdown(cc_actor *a)
{
    if (a->draining)
        return;
    a->draining = true;
    cc_log(CC_LOG_INFO, NULL, "draining", "{s:i}", "work_in_flight",
           a->bus ? cc_bus_work_count(a->bus) : 0);
    if (!a->bus) {
        uv_close((uv_handle_t *)&a->sigterm, NULL);
        uv_close((uv_handle_t *)&a->sigint, NULL);
        uv_close((uv_handle_t *)&a->drain_timer, NULL);
        return;
    }
    cc_rpc_stop(a->rpc);
    for (size_t i = 0; i < a->nconsumers; i++)
        cc_js_consumer_stop(a->consumers[i]);
    if (a->def->drain)
        a->def->drain(a);
    a->drain_started_ns = cc_now_ns();
    uv_timer_start(&a->drain_timer, drain_tick, 0, 20);
}

void cc_actor_exit(cc_actor *a, int code)
{
    if (code != 0)
        a->exit_code = code;
    cc_actor_shutdown(a);
}

static void on_signal(uv_signal_t *h, int signum)
{
    cc_actor_shutdown(h->data);
}

static void after_streams(cc_status s, void *ud)
{
    cc_actor *a = ud;
    if (a->draining)
        return;
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "cannot declare JetStream streams", "{s:s}", "error",
               cc_err_msg());
        a->exit_code = 1;
        cc_actor_shutdown(a);
        return;
    }
    /* The actor's own start (migrations, pools, consumers) comes first so
     * that no request arrives before its handlers can serve it. */
    s = a->def->start ? a->def->start(a) : CC_OK;
    for (size_t i = 0; s == CC_OK && i < a->def->nconsumers; i++)
        s = cc_actor_consume(a, &a->def->consumers[i].config, a->def->consumers[i].handler,
                             a->state, NULL);
    if (s == CC_OK)
        s = cc_rpc_serve(a->bus, a->def->service, a->def->methods, a->def->nmethods, a,
                         &a->rpc);
    if (s != CC_OK) {
        cc_log(CC_LOG_ERROR, NULL, "start failed", "{s:s, s:s}", "error", cc_err_msg(), "where",
               cc_err_where());
        a->exit_code = 1;
        cc_actor_shutdown(a);
        return;
    }
    a->ready = true;
    char url[256];
    cc_bus_redact_url(a->rt.nats_url, url, sizeof url);
    cc_log(CC_LOG_INFO, NULL, "ready", "{s:s, s:i, s:s}", "nats", url, "metrics_port",
           a->ops ? cc_ops_port(a->ops) : -1, "rpc", a->def->service);
}

static cc_status ensure_streams(void *ud)
{
    cc_actor *a = ud;
    /* Only the streams this service declares (cc/mesh.h): its NATS user
     * may not create the others. The server may still be starting its
     * JetStream: retry briefly. */
    cc_status s = CC_ERR;
    for (int i = 0; i < 50 && !a->draining; i++) {
        s = cc_js_ensure_declared(cc_bus_nats(a->bus), a->def->service, (int)a->rt.js_replicas);
        if (s == CC_OK)
            break;
        uv_sleep(200);
    }
    return s;
}

/* `--print-methods`: the actor's RPC table, "<service> <Method>" per line,
 * for the tests that hold the gateway's routes and docs/mesh.md to the
 * actors' tables. Nothing starts. */
static int print_methods(const cc_actor_def *def)
{
    for (size_t i = 0; i < def->nmethods; i++)
        printf("%s %s\n", def->service, def->methods[i].name);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cc_actor_main(const cc_actor_def *def, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--print-methods"))
        return print_methods(def);
    cc_actor *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    a->def = def;
    snprintf(a->service_name, sizeof a->service_name, "cc-%s", def->service);
    cc_config_table tables[2] = {{runtime_rows, sizeof runtime_rows / sizeof runtime_rows[0], &a->rt},
                                 {def->config, def->nconfig, def->settings}};
    size_t ntables = def->nconfig ? 2 : 1;
    cc_status s = cc_config_load(tables, ntables, argc, argv, NULL, 0, NULL);
    if (s != CC_OK) {
        int code = s == CC_CLOSED ? 0 : 2;
        if (s != CC_CLOSED)
            fprintf(stderr, "%s: %s\n", a->service_name, cc_err_msg());
        cc_config_free(tables, ntables);
        free(a);
        return code;
    }
    cc_log_init(a->service_name, (cc_log_level)a->rt.log_level);
    if (cc_trace_init(a->service_name) != CC_OK) {
        fprintf(stderr, "%s: %s\n", a->service_name, cc_err_msg());
        cc_config_free(tables, ntables);
        free(a);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&a->loop);
    uv_signal_init(&a->loop, &a->sigterm);
    uv_signal_init(&a->loop, &a->sigint);
    a->sigterm.data = a->sigint.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_timer_init(&a->loop, &a->drain_timer);
    a->drain_timer.data = a;

    if (a->rt.metrics_port >= 0) {
        s = cc_ops_start(&a->loop, a->rt.metrics_host, (int)a->rt.metrics_port, is_ready, a,
                         &a->ops);
        if (s != CC_OK) {
            cc_log(CC_LOG_ERROR, NULL, "cannot serve the ops endpoint", "{s:s}", "error",
                   cc_err_msg());
            a->exit_code = 1;
        }
    }
    if (a->exit_code == 0) {
        cc_bus_options bo = {.url = a->rt.nats_url,
                             .name = a->service_name,
                             .user = a->rt.nats_user[0] ? a->rt.nats_user : NULL,
                             .password = a->rt.nats_password,
                             .service = def->service,
                             .send_asap = true,
                             .ca_file = a->rt.nats_ca};
        s = cc_bus_connect(&a->loop, &bo, &a->bus);
        if (s != CC_OK) {
            char url[256];
            cc_bus_redact_url(a->rt.nats_url, url, sizeof url);
            cc_log(CC_LOG_ERROR, NULL, "cannot connect to NATS", "{s:s, s:s}", "url", url, "error",
                   cc_err_msg());
            a->exit_code = 1;
        }
    }
    if (a->exit_code == 0)
        s = cc_bus_offload(a->bus, ensure_streams, after_streams, a);
    if (a->exit_code != 0) {
        if (a->ops)
            cc_ops_stop(a->ops);
        a->ops = NULL;
        cc_actor_shutdown(a);
    }
    uv_run(&a->loop, UV_RUN_DEFAULT);
    int code = a->exit_code;
    cc_config_free(tables, ntables);
    if (uv_loop_close(&a->loop) == 0) {
        free(a);
    } else {
        /* A library's handles (unref'd in on_bus_closed) still point into
         * the loop: it is not closed, and it stays reachable until the
         * process exits rather than being freed under them. */
        left_open = a;
        cc_log(CC_LOG_DEBUG, NULL, "loop left with library handles open", NULL);
    }
    /* Spans of the drain go out before the process ends. */
    cc_trace_shutdown(1000);
    /* nats.c keeps library threads and buffers until told to release them. */
    nats_Close();
    return code;
}
