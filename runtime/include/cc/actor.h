/* An actor process: the runtime's main loop around a table. An actor
 * declares its service name, RPC methods, settings and start/drain hooks;
 * cc_actor_main does the rest: configuration (flags and CC_* variables,
 * checked at start), logging, the libuv loop, the NATS connection, the
 * JetStream streams, the RPC server, the ops endpoint (/healthz, /readyz,
 * /metrics) and the SIGTERM drain. */
#ifndef CC_ACTOR_H
#define CC_ACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cc/bus.h"
#include "cc/config.h"
#include "cc/js.h"
#include "cc/outbox.h"
#include "cc/pg.h"

typedef struct cc_actor cc_actor;

/* A JetStream durable consumer of the actor: its configuration and the
 * handler its messages go to, on the loop, with the actor's state
 * (cc_actor_state) as ud. */
typedef struct cc_actor_consumer {
    cc_js_consumer_config config;
    cc_js_handler handler;
} cc_actor_consumer;

typedef struct cc_actor_def {
    const char *service; /* "user": serves cc.rpc.user.*, logs as "cc-user" */
    const cc_rpc_method *methods;
    size_t nmethods;
    /* Durable consumers the runtime runs once start succeeded: each is
     * ensured off the loop, consumed on the loop and stopped by the drain
     * (cc_actor_consume). */
    const cc_actor_consumer *consumers;
    size_t nconsumers;
    /* The actor's own settings, loaded together with the runtime's. */
    const cc_config_row *config;
    size_t nconfig;
    void *settings;
    /* On the loop, once the bus is connected and the streams exist, before
     * requests are served. A failure stops the process (exit 1). */
    cc_status (*start)(cc_actor *a);
    /* On SIGTERM, after the RPC server and the registered consumers stopped
     * taking work: stop the actor's own sources of work (timers, relays).
     * Work still counted on the bus is awaited afterwards. May be NULL. */
    void (*drain)(cc_actor *a);
    /* Last call before the connection closes: free the actor's state. May
     * be NULL. */
    void (*stop)(cc_actor *a);
} cc_actor_def;

/* The runtime's own settings, shared by every actor. */
typedef struct cc_runtime_settings {
    char *nats_url;
    char *nats_user;
    char *nats_password;
    char *nats_ca; /* "": no CA of our own */
    char *metrics_host;
    int64_t metrics_port; /* 0 = a free port, -1 = none */
    int log_level;        /* cc_log_level */
    int64_t drain_timeout_ms;
    int64_t rpc_timeout_ms;
    int64_t js_replicas; /* replicas of the streams it declares; 0 = cc_js_replicas_auto */
} cc_runtime_settings;

/* Runs the actor until SIGTERM or SIGINT has drained it. Returns the
 * process exit status: 0 after a drain, 1 when start failed, 2 for bad
 * settings (the message names the setting). With the one argument
 * --print-methods it prints "<service> <Method>" for each row of the
 * method table and returns 0 without starting anything. */
int cc_actor_main(const cc_actor_def *def, int argc, char **argv);

uv_loop_t *cc_actor_loop(cc_actor *a);
cc_bus *cc_actor_bus(cc_actor *a);
const cc_actor_def *cc_actor_def_of(cc_actor *a);
const cc_runtime_settings *cc_actor_runtime(cc_actor *a);
/* The actor's own state, set in start. */
void cc_actor_set_state(cc_actor *a, void *state);
void *cc_actor_state(cc_actor *a);
/* What cc_actor_consume calls on the loop once the consumer runs (c), or
 * when it could not start or the actor began draining first (c NULL). */
typedef void (*cc_actor_consuming_fn)(cc_actor *a, cc_js_consumer *c, void *ud);

/* Runs one durable consumer for the actor, as its table's rows are run: it
 * is ensured (created or updated) on the thread pool, then consumed on the
 * loop with h(m, ud), and the drain stops it and hands back what it still
 * holds when the drain times out. For consumers whose configuration
 * comes from settings (the Kafka bridge's, the judges'). A consumer that
 * cannot start is logged and the actor shuts down (exit 1). cfg and its
 * strings are copied. started may be NULL. */
cc_status cc_actor_consume(cc_actor *a, const cc_js_consumer_config *cfg, cc_js_handler h,
                           void *ud, cc_actor_consuming_fn started);
/* The loop's half of cc_actor_consume, for a consumer its caller ensured
 * itself (the Kafka bridge first waits out a dead run's unacked messages):
 * consumes it and hands it to the drain. On the loop; *out (may be NULL)
 * gets the consumer, which the actor owns. */
cc_status cc_actor_consume_ensured(cc_actor *a, const cc_js_consumer_config *cfg,
                                   cc_js_handler h, void *ud, cc_js_consumer **out);
/* Marks the actor not ready (why: a static string) or ready again. */
void cc_actor_set_ready(cc_actor *a, bool ready, const char *why);
/* Starts the drain as SIGTERM would. */
void cc_actor_shutdown(cc_actor *a);
/* The same, with the exit status the process ends with (a one-shot
 * command such as `cc-contest rebuild` that failed). */
void cc_actor_exit(cc_actor *a, int code);

/* The actor's own PostgreSQL database, started the same way by every actor
 * that has one: start calls cc_actor_migrate, then any blocking step that
 * needs the tables, then cc_actor_open_db; drain calls cc_actor_stop_relay
 * and stop calls cc_actor_close_db. Everything is named after the service
 * (cc_actor_def.service): the migrations' advisory lock, the pool in logs,
 * the relay's msg ids. */

/* Applies the runtime's built-in migrations and then those in dir (NULL =
 * none) to the database at conninfo, and logs how many it applied.
 * BLOCKING (see cc/migrate.h): for start only. Errors as cc_migrate.
 * Borrowed pointers only; nothing to free. */
cc_status cc_actor_migrate(cc_actor *a, const char *conninfo, const char *dir);

/* Opens the service's pool on the actor's loop (conninfo is copied) and,
 * when relay is not NULL, starts relaying its outbox to the actor's bus.
 * On CC_OK the caller owns *pg until cc_actor_close_db and *relay until
 * cc_actor_stop_relay (the relay uses the pool: stop it first). On an
 * error (as cc_pg_open or cc_outbox_relay_start) nothing stays open and
 * *pg (and *relay) are NULL. */
cc_status cc_actor_open_db(cc_actor *a, const char *conninfo, cc_pg **pg, cc_outbox_relay **relay);

/* For drain: stops *relay unless it is NULL (rows in flight are still
 * published and marked; the relay frees itself), then sets it to NULL. */
void cc_actor_stop_relay(cc_outbox_relay **relay);

/* For stop: closes *pg unless it is NULL (cc_pg_close: statements not yet
 * finished fail with CC_CLOSED), then sets it to NULL. */
void cc_actor_close_db(cc_pg **pg);

#endif
