/* The mesh's NATS users: who may publish and subscribe to what. This table
 * is the one source of truth for the nats-server authorization of
 * `make run` and the tests (cclocal writes it into the server's
 * configuration) and of Kubernetes (k8s/base/nats.yaml holds its
 * rendering, and tests/k8s compares the two), so they cannot drift. It
 * also tells the runtime which streams a service declares. The table and
 * the reasons for each rule: docs/nats-permissions.md.
 *
 * The rules every row follows:
 *  - a service connects as user cc-<service>;
 *  - it subscribes to its own RPC subjects, cc.rpc.<service>.>, and to its
 *    own inbox prefix, _INBOX.<service>.> (the bus sets nats.c's custom
 *    inbox prefix to _INBOX.<service>), so nobody reads another's replies;
 *  - it answers requests through allow_responses (a reply may go only to
 *    the reply subject of a request it received, once), so nobody may
 *    publish into another's inbox; a read model reads CC_EVENTS through a
 *    second user, <service>-reader, without them (cc_mesh_service.reader);
 *  - an RPC a service makes as itself, not for a user, goes to
 *    cc.rpc.<service>.<caller>.<Method>, which only the caller may publish:
 *    the server that receives it knows who called because NATS checked it
 *    (cc_rpc_caller), not because a header said so;
 *  - its JetStream API is the streams it declares (CREATE, UPDATE), its own
 *    durable consumers (DURABLE.CREATE, INFO, MSG.NEXT, and $JS.ACK of
 *    their deliveries) and the few calls listed in its row.
 *
 * Pure data and text: no I/O, nothing to free but what a function says. */
#ifndef CC_MESH_H
#define CC_MESH_H

#include <stdbool.h>
#include <stddef.h>

#include "cc/status.h"

/* Kafka records come into the mesh only under this prefix (cc-kafka-bridge
 * refuses any other --from-kafka subject): a Kafka producer must not be
 * able to speak as a service of the mesh, e.g. publish a judge's verdict
 * on cc.evt.submission.judged. */
#define CC_MESH_KAFKA_SUBJECTS "cc.evt.kafka.>"
#define CC_MESH_KAFKA_PREFIX "cc.evt.kafka."

/* The row of the operator's own user: everything, for the nats CLI and for
 * tests that play any part. Only in `make run` and the tests, never in
 * Kubernetes. */
#define CC_MESH_ADMIN "admin"

/* The streams and consumers the table names (their configurations are in
 * cc/js.h). */
#define CC_STREAM_EVENTS "CC_EVENTS"
#define CC_STREAM_JUDGE "CC_JUDGE"
/* Jobs past their last delivery: the server's max-deliveries advisories of
 * the judges' consumer, kept until a judge turned each job into an IE
 * result (judge-pool/src/serve.c). */
#define CC_STREAM_JUDGE_DEAD "CC_JUDGE_DEAD"
#define CC_JUDGE_CONSUMER "judges"
/* The judges' registry, a JetStream key-value bucket (its stream is
 * KV_<bucket>): key judges.<judge> holds each judge's JudgeStatus
 * (registration and heartbeat, written by the judge), key
 * control.<judge> the operator's last order to it (written by
 * cc-submission). judge.proto describes both. */
#define CC_KV_JUDGES "CC_JUDGES"
#define CC_STREAM_JUDGES_KV "KV_" CC_KV_JUDGES
#define CC_KV_JUDGES_STATUS "$KV." CC_KV_JUDGES ".judges."
#define CC_KV_JUDGES_CONTROL "$KV." CC_KV_JUDGES ".control."

typedef struct cc_mesh_service {
    const char *name;             /* "user": NATS user cc-user */
    const char *const *publish;   /* subjects it may publish (NULL-terminated) */
    const char *const *subscribe; /* beyond cc.rpc.<name>.> and its inbox */
    const char *const *declares;  /* streams it creates and may update */
    /* "STREAM.DURABLE": durable pull consumers it creates, reads, pulls
     * from and acks. DURABLE "*" is any name the other rows do not hold
     * (the Kafka bridge names its durables from its settings). */
    const char *const *consumers;
    const char *const *js_api; /* other $JS.API subjects, after "$JS.API." */
    bool local_only;           /* the admin row */
    /* A read model's stream reader ("contest-reader"): its consumers and
     * its inbox only; it serves no RPC and has no allow_responses, which
     * makes nats-server 2.9 track the reply subject of every message it
     * delivers to the user, JetStream deliveries included (measured: a pull
     * consumer read 4,800 msg/s with it, 229,000 without). */
    bool reader;
} cc_mesh_service;

/* Every row, in the order they are rendered. */
const cc_mesh_service *cc_mesh_services(size_t *n);
/* The row of service name, or NULL. */
const cc_mesh_service *cc_mesh_find(const char *name);

/* NATS user of a service ("cc-user"), its inbox prefix ("_INBOX.user")
 * and the variable of its password in Kubernetes
 * ("CC_NATS_PASSWORD_KAFKA_BRIDGE"). CC_LIMIT when out (n bytes) is too
 * small. */
cc_status cc_mesh_user(const char *service, char *out, size_t n);
cc_status cc_mesh_inbox_prefix(const char *service, char *out, size_t n);
cc_status cc_mesh_password_var(const char *service, char *out, size_t n);

/* The permissions of one row as nats-server takes them. Strings point into
 * buf. */
enum { CC_MESH_MAX_RULES = 64 };
typedef struct cc_mesh_perms {
    const char *pub_allow[CC_MESH_MAX_RULES];
    size_t npub_allow;
    const char *pub_deny[CC_MESH_MAX_RULES];
    size_t npub_deny;
    const char *sub_allow[CC_MESH_MAX_RULES];
    size_t nsub_allow;
    bool responses; /* allow_responses (every service; not the admin nor a reader) */
    char buf[8192];
    size_t used;
} cc_mesh_perms;

/* Expands row s into *out. CC_LIMIT when a list or buf overflows. */
cc_status cc_mesh_perms_of(const cc_mesh_service *s, cc_mesh_perms *out);

/* True when NATS subject pattern (with * and >) matches subject (a
 * literal subject, or a pattern whose wildcards are taken literally). */
bool cc_mesh_subject_matches(const char *pattern, const char *subject);

/* What s may do with subject, as nats-server decides from the rendered
 * permissions: publish (allow, not denied) or subscribe. Responses are
 * not subjects and are not covered. */
bool cc_mesh_may_publish(const cc_mesh_service *s, const char *subject);
bool cc_mesh_may_subscribe(const cc_mesh_service *s, const char *subject);

/* The authorization block of nats-server's configuration for every row:
 * for Kubernetes (k8s true) without the admin and with each password as
 * its $CC_NATS_PASSWORD_* variable; else with the admin and each password
 * as password(service, ud) returns it (quoted; it must not hold '"' or
 * '\\'). Returns malloc'd text, or NULL with cc_err_set. */
char *cc_mesh_nats_authorization(bool k8s, const char *(*password)(const char *service, void *ud),
                                 void *ud);

#endif
