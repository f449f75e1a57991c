/* The transactional outbox: a state change and the event announcing it are
 * written in one PostgreSQL transaction (cc_outbox_add inside the caller's
 * cc_pg_tx), and a relay on the loop publishes the rows to JetStream.
 *
 * The table, cc_outbox, is created by the runtime's built-in migration
 * (cc/migrate.h applies cc_outbox_schema_sql before the service's own
 * files):
 *   id bigserial, subject, msg_id (NULL = "<service>-outbox-<id>"),
 *   type, correlation_id, traceparent, principal (the envelope headers),
 *   payload bytea, created_at, sent_at (NULL until the stream acked it),
 *   payload_key, aggregate_id (the envelope's Cc-Aggregate-Id, sent with the event).
 *
 * Delivery: the relay takes unsent rows in id order, publishes each with
 * cc_js_publish and Nats-Msg-Id = the row's msg id, and marks rows sent
 * only after the stream acked them. A relay that dies between the ack and
 * the mark leaves the rows unsent; the next relay publishes them again with
 * the same Nats-Msg-Id and JetStream's duplicate window (CC_EVENTS: 2
 * minutes) drops the copies, so each row is stored in the stream exactly
 * once as long as the relay comes back within that window. Two replicas
 * relaying at once are safe for the same reason. Consumers stay idempotent
 * for what lies beyond the window.
 *
 * Sealing: a service that seals its own tables at rest (cc/seal.h) calls
 * cc_outbox_seal_with, and from then on every payload it adds is sealed
 * under its current data key (AAD "cc_outbox/<msg id or subject>/payload",
 * key id in payload_key, added by the second built-in migration) and
 * opened by its relay, so no cleartext copy of what its events carry (a
 * submission's sources in a judge job, an address in a user event) stays in
 * cc_outbox. Sent rows keep their payload: a restore from backup publishes
 * again the rows the restored streams lack (admin/README.md).
 *
 * Wake-up: cc_outbox_add also sends NOTIFY cc_outbox (delivered at
 * commit); the relay LISTENs and starts a pass at once, and polls every
 * poll_ms as well in case a notification was lost. */
#ifndef CC_OUTBOX_H
#define CC_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "cc/bus.h"
#include "cc/envelope.h"
#include "cc/js.h"
#include "cc/pg.h"

/* The NOTIFY channel the relay listens on. */
#define CC_OUTBOX_CHANNEL "cc_outbox"

/* The built-in migrations: the one that creates cc_outbox, then the one
 * that adds payload_key and aggregate_id (static text; cc/migrate.h applies them in this
 * order, as versions -1 and -2). */
extern const char *const cc_outbox_schema_sql;
extern const char *const cc_outbox_sealed_sql;

typedef struct cc_seal_service cc_seal_service;
/* Seals every payload this process adds from now on with svc's current
 * data key, and lets its relay open them (NULL: payloads in clear). svc
 * must outlive every cc_outbox_add and relay of the process. */
void cc_outbox_seal_with(const cc_seal_service *svc);

/* Adds an outbox row inside tx (one pipelined statement; nothing is sent
 * until the transaction commits). env may be NULL; aggregate (the id of
 * what the event is about, sent as Cc-Aggregate-Id, which the Kafka bridge
 * keys by) overrides env->aggregate_id when non-NULL; type overrides
 * env->type when non-NULL; msg_id NULL means "<service>-outbox-<id>".
 * Everything is copied. cb (may be NULL) gets the result, whose column 0
 * is the new row's id. Errors as cc_pg_tx_query. */
cc_status cc_outbox_add(cc_pg_tx *tx, const char *subject, const cc_envelope *env,
                        const char *aggregate, const char *type, const char *msg_id,
                        const void *payload, size_t len, cc_pg_cb cb, void *ud);

typedef struct cc_outbox_relay cc_outbox_relay;

typedef struct cc_outbox_relay_options {
    const char *service;                  /* msg id prefix: "<service>-outbox-<id>"; copied */
    int batch;                            /* rows per pass; 0 = 100 */
    int64_t poll_ms;                      /* fallback poll period; 0 = 1000 */
    int64_t retry_ms;                     /* pause after a failed pass; 0 = 500 */
    const cc_js_publish_options *publish; /* NULL = cc_js_publish defaults; copied */
} cc_outbox_relay_options;

/* Starts relaying on pg's loop (pg and bus must share it, and outlive the
 * relay). On CC_OK *out is owned by the caller until cc_outbox_relay_stop.
 * The first pass starts at once. */
cc_status cc_outbox_relay_start(cc_pg *pg, cc_bus *bus, const cc_outbox_relay_options *o,
                                cc_outbox_relay **out);

/* Drains: starts no new pass, lets in-flight publishes finish and their
 * rows be marked, then frees the relay and calls done (may be NULL) on the
 * loop. */
void cc_outbox_relay_stop(cc_outbox_relay *r, void (*done)(void *ud), void *ud);

/* Rows this relay has published and marked sent (for tests and metrics). */
uint64_t cc_outbox_relay_marked(const cc_outbox_relay *r);

#endif
