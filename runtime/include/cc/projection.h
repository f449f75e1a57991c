/* A read model projected from CC_EVENTS: a service's state that is a pure
 * function of the event log (scoreboards, user statistics), kept in memory
 * for its reads and stored in the service's own tables so a restart
 * resumes instead of replaying.
 *
 * Position: the stream sequence of the last event applied is stored in
 * cc_projections(name, version, position) in the same transaction as the
 * state it produced, so what is stored is always "every event up to
 * position, and none after". At start the projection reads its position
 * and makes its consumer again (deleted, then created to deliver from
 * position + 1, without acks): the position belongs to the database, not
 * to the server, so an event applied but not yet stored when the process
 * died (SIGKILL, a crash) is delivered again and one that was stored is
 * not. Events arrive in stream order on the loop, one consumer, one pull
 * at a time; an event at or before the position is skipped, so a
 * redelivered event changes nothing.
 *
 * Rebuild: cc_projection_open with rebuild (the service's `rebuild`
 * command), or a stored version other than the code's (the meaning of the
 * state changed), empties the tables the definition names, sets the
 * position to 0 and replays the stream from its first event. The result
 * is the same as live by construction: apply sees the same events in the
 * same order, and nothing it reads comes from outside the log (no clock,
 * no call to another service: an event's time is the time the stream
 * stored it).
 *
 * Single writer: the projection holds a PostgreSQL advisory lock on a
 * connection of its own for as long as it is open, so a second process
 * (a replica, or `rebuild` while the service runs) waits for it and then
 * gives up (CC_CONFLICT). A service with a projection runs one replica.
 *
 * Batching: events are applied to memory as they come and stored by one
 * transaction for many: when the stream has nothing more for now, when
 * flush_events are waiting, or max_delay after the first waiting one
 * (rebuilds use larger batches and delays), so a live verdict is stored
 * within milliseconds and a replay writes each row about once.
 *
 * Reader: the stream is read through a NATS connection of its own, as
 * the service's reader user ("<service>-reader" in cc/mesh.h), whose row
 * names the consumer "CC_EVENTS.<name>" and js_api
 * "CONSUMER.DELETE.CC_EVENTS.<name>" and has no allow_responses: with
 * them nats-server 2.9 tracks every delivered message's reply subject
 * and a pull consumer reads some 40 times slower.
 *
 * Threads: cc_projection_open is BLOCKING (start only); everything else
 * runs on the loop.
 *
 * An actor whose state is a projection (cc-contest, cc-stats) starts,
 * drains and stops it the same way, and has the same `rebuild` command:
 * cc_projection_actor below does that once. */
#ifndef CC_PROJECTION_H
#define CC_PROJECTION_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/config.h"
#include "cc/envelope.h"
#include "cc/pg.h"

/* The table of positions, made by cc_projection_open when missing. */
#define CC_PROJECTION_TABLE "cc_projections"

typedef struct cc_projection cc_projection;

/* One event of the stream, lent to apply. */
typedef struct cc_projection_event {
    const char *subject;
    const void *data;
    size_t len;
    uint64_t seq;    /* stream sequence */
    int64_t time_ms; /* when the stream stored it, Unix milliseconds */
    const cc_envelope *env;
} cc_projection_event;

typedef struct cc_projection_def {
    const char *name;          /* "contest": its row in cc_projections and its consumer */
    int version;               /* of the state's meaning: another stored version rebuilds */
    const char *const *tables; /* emptied by a rebuild (NULL-terminated) */
    /* BLOCKING, from cc_projection_open: reads the stored state into memory
     * through conn (synchronous libpq, inside a read-only transaction). */
    cc_status (*load)(PGconn *conn, void *ud);
    /* Forgets the in-memory state: called before load on a rebuild. */
    void (*reset)(void *ud);
    /* Applies one event to memory, on the loop, in stream order, once per
     * sequence past the stored position. It cannot fail: an event it
     * cannot read is logged and skipped (the next rebuild skips it too). */
    void (*apply)(const cc_projection_event *ev, void *ud);
    /* After one or more applies, once the loop has taken what it had:
     * caught_up when the stream had nothing more. For live pushes. May be
     * NULL. */
    void (*tick)(bool caught_up, void *ud);
    /* Adds to tx the statements that store what changed after position
     * from and up to upto (every change an apply made since the last
     * flush that succeeded: a failed flush is written again by the next).
     * Parameters are copied when issued. */
    cc_status (*flush)(cc_pg_tx *tx, uint64_t from, uint64_t upto, void *ud);
    /* After the transaction: CC_OK when what flush wrote up to upto is
     * stored (the service may forget its record of those changes). */
    void (*flushed)(cc_status s, uint64_t upto, void *ud);
    void *ud;
} cc_projection_def;

typedef struct cc_projection_options {
    /* The reader's connection: its URL, user and password (NULL or "":
     * those of the URL). Without a URL the stream is read through the bus
     * given to cc_projection_start (which must then be allowed the
     * consumer). */
    const char *reader_url;
    const char *reader_user;
    const char *reader_password;
    const char *reader_service; /* its inbox prefix: "contest-reader" */
    bool until_caught_up; /* replay to the stream's end as it was at start, then done */
    int batch;            /* events per pull; 0 = 1024 */
    int flush_events;     /* 0 = 4096 live, 50000 while rebuilding */
    int64_t max_delay_ms; /* 0 = 20 live, 1000 while rebuilding */
    int max_unflushed;    /* stop pulling beyond this many applied, unstored; 0 = 200000 */
    /* Called once on the loop: with until_caught_up when everything up to
     * the end is stored (CC_OK), or on a failure that stops the
     * projection (the consumer could not be made). May be NULL. */
    void (*done)(cc_status s, void *ud);
    void *ud;
} cc_projection_options;

/* BLOCKING: takes the projection's lock (waiting up to 30 s), makes
 * cc_projections when missing, reads def's row, empties def's tables and
 * sets the position to 0 when rebuild is asked or the stored version
 * differs, then calls def->load. def must outlive the projection. On
 * CC_OK *out is the caller's until cc_projection_free. */
cc_status cc_projection_open(const char *conninfo, const cc_projection_def *def, bool rebuild,
                             cc_projection **out);

/* Starts reading CC_EVENTS after the stored position on b's loop, storing
 * through pg (both must outlive the projection; the consumer is made on
 * the thread pool first). With reader settings in o, connects the
 * reader's own connection first (BLOCKING: from start). Work is counted
 * on b, so the actor's drain waits for the last store. */
cc_status cc_projection_start(cc_projection *p, cc_bus *b, cc_pg *pg,
                              const cc_projection_options *o);

/* Stops pulling; what is applied is still stored, then done (may be NULL)
 * runs on the loop. Counted as work on the bus until then, so an actor's
 * drain waits for it. */
void cc_projection_stop(cc_projection *p, void (*done)(void *ud), void *ud);

/* Frees a stopped projection (or one never started) and lets go of its
 * lock. */
void cc_projection_free(cc_projection *p);

/* The last sequence applied to memory, and the last stored. */
uint64_t cc_projection_applied(const cc_projection *p);
uint64_t cc_projection_stored(const cc_projection *p);
/* True while a rebuild has not yet reached the stream's end. */
bool cc_projection_rebuilding(const cc_projection *p);
/* True once the projection has seen the end of the stream at least once
 * since start. */
bool cc_projection_caught_up(const cc_projection *p);

/* What the last replay did, for `rebuild` to report. */
typedef struct cc_projection_stats {
    uint64_t events;   /* applied since start */
    uint64_t skipped;  /* at or before the position */
    uint64_t flushes;
    double seconds;    /* from the first event to the last store */
} cc_projection_stats;
void cc_projection_get_stats(const cc_projection *p, cc_projection_stats *out);

/* The parts of a JetStream delivery's reply subject
 * ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>,
 * with a domain and account hash two more tokens before the stream and
 * one at the end). False when reply is not one. Pure. */
bool cc_projection_parse_reply(const char *reply, uint64_t *seq, int64_t *time_ns,
                               uint64_t *pending);

/* ---- an actor whose state is a projection --------------------------------- */

/* The reader's settings (cc_projection_options), as the actor's
 * reader-nats-* settings fill them. */
typedef struct cc_projection_reader {
    char *url;      /* "": the actor's nats-url, when user is set */
    char *user;     /* "": read through the service's own connection */
    char *password;
} cc_projection_reader;

/* The three config rows of the reader's settings, for the actor's table:
 * settings is its settings struct, member the cc_projection_reader in it,
 * name the NATS user's name in the help text ("cc-contest-reader"). */
#define CC_PROJECTION_READER_ROWS(settings, member, name)                                          \
    {"reader-nats-url", CC_CFG_STRING, offsetof(settings, member.url), "", 0, 0, NULL,             \
     "NATS URL of the read model's reader (\"\": nats-url when reader-nats-user is set)"},         \
        {"reader-nats-user", CC_CFG_STRING, offsetof(settings, member.user), "", 0, 0, NULL,      \
         "its NATS user, " name " (\"\": read through the service's own connection)"},            \
        {"reader-nats-password", CC_CFG_STRING, offsetof(settings, member.password), "", 0, 0,    \
         NULL, "its NATS password"}

/* The part of an actor's state that its projection brings: the caller sets
 * the first fields, cc_projection_actor_start the rest. */
typedef struct cc_projection_actor {
    const char *conninfo;               /* the service's database */
    const char *migrations;             /* its migrations' folder */
    const cc_projection_reader *reader; /* the reader-nats-* settings */
    bool rebuild; /* `<service> rebuild`: replay, store, report, exit (cc_projection_actor_args) */
    cc_actor *actor;
    cc_projection *proj;
    cc_pg *pg;
    cc_outbox_relay *relay; /* NULL for a rebuild, which publishes nothing */
    char reader_service[48]; /* "<service>-reader" */
} cc_projection_actor;

/* For main: `<binary> rebuild [flags]` sets pa->rebuild, takes the word
 * out of argv and the methods out of def (a replay serves nothing:
 * requests go to the service, not to a read model being made again). */
void cc_projection_actor_args(cc_projection_actor *pa, cc_actor_def *def, int *argc,
                              char ***argv);

/* For the actor's start (BLOCKING, like the migrations): migrates, opens
 * the projection of def (loads it, or empties it for a rebuild) before
 * anything is served, opens the service's pool and outbox relay (no relay
 * for a rebuild), sets state as the actor's, and starts reading, as the
 * reader "<service>-reader" when reader settings are given. A failure
 * that stops the projection later ends the process (status 1); a rebuild
 * prints its figures on stdout when it is done and shuts the actor down. */
cc_status cc_projection_actor_start(cc_projection_actor *pa, cc_actor *a,
                                    const cc_projection_def *def, void *state);
/* For drain: stops reading (what is applied is still stored) and the
 * relay. */
void cc_projection_actor_drain(cc_projection_actor *pa);
/* For stop: frees the projection and closes the pool. */
void cc_projection_actor_stop(cc_projection_actor *pa);

#endif
