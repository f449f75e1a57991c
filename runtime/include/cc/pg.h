/* PostgreSQL on the loop: a small pool of asynchronous libpq connections
 * driven by the actor's libuv loop (PQconnectStart/PQconnectPoll and
 * non-blocking sends, each socket watched by a uv_poll_t), so no call here
 * ever blocks the loop and every callback runs on the loop thread.
 *
 * Every connection stays in libpq's pipeline mode and every statement is
 * sent followed by its own Sync (a statement text seen before on that
 * connection runs as a prepared statement, so the server parses and plans
 * it once per connection). That is where the pipelining pays:
 *   - single queries (cc_pg_query) share connections, several in flight on
 *     each, so under load one wakeup of a server process serves many;
 *   - a transaction's statements (BEGIN, the queries, COMMIT) are written
 *     to its connection as soon as they are issued, without waiting for
 *     the previous result, so begin + N queries + commit issued together
 *     cost one round trip (cc_pg_tx_*);
 *   - a batch of independent queries runs on one connection in one round
 *     trip (cc_pg_batch_*); the Sync after each statement keeps them
 *     independent, so one failing does not abort the others.
 *
 * Only parameterised queries exist: the SQL text never holds a value.
 * Parameters are text, or binary for bytea (CC_PG_BYTES). Results are text.
 *
 * Failures: a lost connection (PostgreSQL restarted, network gone) fails
 * what ran on it with CC_UNAVAILABLE and is re-established in the
 * background with a backoff; while no connection is up, new queries are
 * refused at once with CC_UNAVAILABLE (callers answer 503) instead of
 * queueing without bound. A statement that outlives its timeout completes
 * with CC_TIMEOUT at once; the server is asked to cancel it, and the
 * connection is dropped if it does not come back soon after.
 *
 * Not thread-safe: one pool belongs to one loop and is used on its
 * thread only. */
#ifndef CC_PG_H
#define CC_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cc/arena.h"
#include "cc/buf.h"
#include "cc/status.h"

typedef struct cc_pg cc_pg;
typedef struct cc_pg_tx cc_pg_tx;
typedef struct cc_pg_batch cc_pg_batch;
/* A result is libpq's PGresult, lent to a callback: valid only until the
 * callback returns (copy what must outlive it). */
typedef struct pg_result cc_pg_result;

typedef struct cc_pg_options {
    const char *conninfo;       /* libpq conninfo; copied */
    int pool_size;              /* connections for queries; 0 = 4 */
    int max_waiting;            /* claims waiting for a connection; 0 = 4096 */
    int64_t query_timeout_ms;   /* per statement, from when it is issued; 0 = 5000 */
    int64_t connect_timeout_ms; /* one connection attempt; 0 = 5000 */
    int64_t reconnect_max_ms;   /* cap of the reconnect backoff; 0 = 2000 */
    const char *name;           /* for logs ("user" ...); copied; NULL = "pg" */
} cc_pg_options;

/* One query parameter. data == NULL is SQL NULL. Text parameters with
 * len < 0 are NUL-terminated. The bytes are copied when the query is
 * issued, so the caller may free them right after the call. */
typedef struct cc_pg_param {
    const void *data;
    int len;
    bool binary; /* binary format: use for bytea ($1::bytea) */
} cc_pg_param;

#define CC_PG_TEXT(s) ((cc_pg_param){(s), -1, false})
#define CC_PG_BYTES(p, n) ((cc_pg_param){(p), (int)(n), true})
#define CC_PG_NULL ((cc_pg_param){NULL, 0, false})

/* Called on the loop when a statement is done. s is CC_OK with r holding
 * the rows (or the command status), or an error: for an error reported by
 * the server r is that error result (cc_pg_sqlstate) and s is mapped from
 * its SQLSTATE (cc_pg_status_of_sqlstate); otherwise r is NULL and s is
 * CC_UNAVAILABLE (connection lost), CC_TIMEOUT or CC_CLOSED (pool closed).
 * errmsg is NULL on success, else a message valid during the callback. */
typedef void (*cc_pg_cb)(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

/* Called once when a transaction or a batch has ended. */
typedef void (*cc_pg_done_cb)(cc_status s, const char *errmsg, void *ud);

/* Creates the pool and starts connecting in the background (never
 * blocks). Queries issued before a connection is up wait for one. On
 * CC_OK *out is owned by the caller and released with cc_pg_close. The
 * options are copied. */
cc_status cc_pg_open(uv_loop_t *loop, const cc_pg_options *o, cc_pg **out);

/* Fails every statement not yet finished with CC_CLOSED, closes the
 * connections and frees the pool once the loop has closed its handles;
 * done (may be NULL) is then called on the loop. Open transactions are
 * rolled back by the server when their connection closes; the caller must
 * not use its tx pointers afterwards except to end them (their done
 * callback gets CC_CLOSED). Call it when the work that matters is done. */
void cc_pg_close(cc_pg *pg, void (*done)(void *ud), void *ud);

/* True while at least one connection is up. */
bool cc_pg_ready(const cc_pg *pg);

/* Runs one statement on any free connection. params (n of them) are
 * copied. cb (may be NULL) runs on the loop exactly once, unless an error
 * is returned: CC_UNAVAILABLE when no connection is up (cc_err_msg says
 * why), CC_LIMIT when too many claims wait, CC_CLOSED after cc_pg_close,
 * CC_INVALID for a bad argument. */
cc_status cc_pg_query(cc_pg *pg, const char *sql, const cc_pg_param *params, int n, cc_pg_cb cb,
                      void *ud);

/* ---- transactions ----------------------------------------------------------
 * A transaction holds one connection from its BEGIN to its COMMIT or
 * ROLLBACK. Statements are pipelined: each is sent as soon as it is
 * issued (once the transaction has its connection), and their callbacks
 * run in order. After a statement fails, later ones fail too (the server
 * refuses them) and commit rolls back and reports the first failure. */

/* Starts a transaction (BEGIN is queued; the call never waits). On CC_OK
 * *out belongs to the caller until it passes it to cc_pg_tx_commit or
 * cc_pg_tx_rollback, which must happen exactly once. Errors as
 * cc_pg_query. */
cc_status cc_pg_begin(cc_pg *pg, cc_pg_tx **out);

/* Adds a statement to the transaction. cb as for cc_pg_query. Returns
 * CC_UNAVAILABLE (cb not called) when the transaction's connection is
 * already lost, CC_INVALID after commit or rollback was called. */
cc_status cc_pg_tx_query(cc_pg_tx *tx, const char *sql, const cc_pg_param *params, int n,
                         cc_pg_cb cb, void *ud);

/* True when a statement of tx has failed (commit will roll back). */
bool cc_pg_tx_failed(const cc_pg_tx *tx);

/* Ends the transaction: COMMIT if every statement succeeded, ROLLBACK
 * otherwise. done runs on the loop exactly once, after the callbacks of
 * every statement: CC_OK when committed, else the first failure (or the
 * COMMIT's own, e.g. CC_CONFLICT for a serialization failure). CC_TIMEOUT
 * or CC_UNAVAILABLE here mean the outcome is unknown (the COMMIT may have
 * reached the server): callers retry idempotently. Takes ownership of tx:
 * it is freed after done. */
void cc_pg_tx_commit(cc_pg_tx *tx, cc_pg_done_cb done, void *ud);

/* Ends the transaction with ROLLBACK. done gets CC_OK once rolled back
 * (or CC_UNAVAILABLE if the connection was lost, which rolls it back as
 * well). Takes ownership of tx. */
void cc_pg_tx_rollback(cc_pg_tx *tx, cc_pg_done_cb done, void *ud);

/* ---- batches ---------------------------------------------------------------
 * Independent statements run pipelined on one connection in one round
 * trip. Each keeps its own outcome (each is its own implicit
 * transaction). */

/* Creates an empty batch owned by the caller until cc_pg_batch_run. */
cc_status cc_pg_batch_new(cc_pg *pg, cc_pg_batch **out);
/* Adds a statement (copied). cb may be NULL. */
cc_status cc_pg_batch_add(cc_pg_batch *b, const char *sql, const cc_pg_param *params, int n,
                          cc_pg_cb cb, void *ud);
/* Sends every statement on one connection; each cb runs in order, then
 * done (may be NULL) with CC_OK if all succeeded, else the first failure.
 * Takes ownership of b (even on a returned error, when it frees b and
 * calls nothing). Errors as cc_pg_query. */
cc_status cc_pg_batch_run(cc_pg_batch *b, cc_pg_done_cb done, void *ud);

/* ---- notifications -------------------------------------------------------- */

/* Called on the loop for each NOTIFY on a listened channel (payload may be
 * ""), and with channel == NULL each time the listening connection has
 * (re)connected: notifications sent while it was down are lost, so a
 * listener should look for missed work then. */
typedef void (*cc_pg_notify_cb)(const char *channel, const char *payload, void *ud);

/* LISTENs on channel on a connection of its own (opened on first use and
 * re-established, LISTEN included, after a loss). channel is copied; at
 * most 8 channels per pool. cb runs until cc_pg_close or cc_pg_unlisten. */
cc_status cc_pg_listen(cc_pg *pg, const char *channel, cc_pg_notify_cb cb, void *ud);
/* True while the listening connection is up (its LISTENs sent), so no
 * NOTIFY is being missed. */
bool cc_pg_listening(const cc_pg *pg);
/* Stops calling cb for channel (the server LISTEN stays until close). */
void cc_pg_unlisten(cc_pg *pg, const char *channel);

/* ---- results (valid during a callback) ------------------------------------ */

int cc_pg_nrows(const cc_pg_result *r);
int cc_pg_ncols(const cc_pg_result *r);
/* Column number of name, or -1. */
int cc_pg_colnum(const cc_pg_result *r, const char *name);
/* The text of a value ("" for NULL), owned by the result. */
const char *cc_pg_get(const cc_pg_result *r, int row, int col);
bool cc_pg_isnull(const cc_pg_result *r, int row, int col);
int cc_pg_len(const cc_pg_result *r, int row, int col);
/* Parses an integer value (int2/4/8, or any text that is one) into *out.
 * CC_INVALID (with cc_err_set) for NULL or non-numbers. */
cc_status cc_pg_get_int64(const cc_pg_result *r, int row, int col, int64_t *out);
/* Decodes a bytea value (text format "\x..") into a malloc'd buffer the
 * caller frees (*len its size). CC_INVALID for NULL, CC_NOMEM. */
cc_status cc_pg_get_bytea(const cc_pg_result *r, int row, int col, unsigned char **out,
                          size_t *len);
/* ---- rows into a call's messages (runtime/src/pg_rows.c) ---------------- */

/* The text of a value copied into arena a (NUL-terminated, NULs inside
 * kept; "" for NULL), or NULL when out of memory. */
char *cc_pg_text(cc_arena *a, const cc_pg_result *r, int row, int col);
/* An integer value, or 0 for NULL or a value that is not one: for columns
 * whose missing value reads as 0 (counts, times, limits). */
int64_t cc_pg_int(const cc_pg_result *r, int row, int col);
/* A boolean value as PostgreSQL writes it: true for "t". */
bool cc_pg_bool(const cc_pg_result *r, int row, int col);

/* Rows affected by INSERT/UPDATE/DELETE (0 for others). */
int64_t cc_pg_affected(const cc_pg_result *r);
/* The 5-character SQLSTATE of an error result, or "". */
const char *cc_pg_sqlstate(const cc_pg_result *r);
/* The underlying PGresult, for libpq calls not wrapped here. */
const PGresult *cc_pg_result_pq(const cc_pg_result *r);

/* ---- the database-failure policy ------------------------------------------
 * One rule for every actor, so the same failure gets the same answer
 * whichever service met it (runtime/src/pg_failure.c; the API's side of
 * it is the table "When the database fails" in the README's API section,
 * which tests/unit/runtime/test_pg_failure.c checks against this code).
 *
 *   status from this layer   cause                           answer          HTTP
 *   CC_UNAVAILABLE           connection lost or refused,     CC_UNAVAILABLE  503, Retry-After
 *                            server starting or stopping,
 *                            out of resources (08, 57P0x, 53)
 *   CC_LIMIT                 pool exhausted (max_waiting)    CC_UNAVAILABLE  503, Retry-After
 *   CC_CLOSED                pool closed: the actor stops    CC_UNAVAILABLE  503, Retry-After
 *   CC_CONFLICT              serialization failure or        CC_UNAVAILABLE  503, Retry-After
 *                            deadlock (40001, 40P01)
 *   CC_TIMEOUT               statement timeout (57014)       CC_TIMEOUT      504
 *   CC_EXISTS                unique or exclusion violation   CC_EXISTS       409
 *                            (23505, 23P01)
 *   CC_UNPROCESSABLE         any other constraint violation  CC_UNPROCESSABLE 422
 *                            (class 23: not null, foreign
 *                            key, check)
 *   CC_DB, CC_INVALID,       any other server error, a bad   CC_INTERNAL     500
 *   CC_NOMEM, anything else  call, out of memory
 *
 * The first four are retryable: nothing was wrong with the request, the
 * same one may well succeed a moment later (a serialization failure or
 * deadlock rolled the transaction back). A statement timeout is not
 * called retryable: the statement may still be what is too slow. Only
 * CC_INTERNAL failures are ours: logged as errors; the others are logged
 * as warnings. No answer quotes the database's own message (it names
 * tables and constraints); the log line does. */

/* Maps a SQLSTATE to the status the callbacks use (see cc_pg_cb and the
 * table above). */
cc_status cc_pg_status_of_sqlstate(const char *sqlstate);

typedef struct cc_pg_failure {
    cc_status answer; /* the status to answer with */
    bool retryable;   /* the same request may succeed soon (503 with Retry-After) */
    bool ours;        /* a fault of ours or unknown: logged as an error */
    const char *what; /* static: "database unavailable", ... for the message */
} cc_pg_failure;

/* What a failure of this layer with status s means to a caller (the table
 * above). Pure; CC_OK, which is no failure, is CC_INTERNAL like any
 * status the layer does not return. */
cc_pg_failure cc_pg_failure_of(cc_status s);

typedef struct cc_rpc_call cc_rpc_call; /* cc/bus.h */

/* Answers call for a database step that failed with s (and the database's
 * message errmsg, or NULL), by the table above: the answer is "<what>:
 * <failure.what>", e.g. "list notifications: database unavailable"; the
 * log line adds errmsg. Ends the call, as cc_rpc_fail does. */
void cc_rpc_fail_db(cc_rpc_call *call, cc_status s, const char *errmsg, const char *what);

/* "One row or not found", the opening of a statement's callback that
 * answers with one row: true when the statement succeeded (s) with exactly
 * one row in r; otherwise the call is answered, by cc_rpc_fail_db for a
 * failure (what names the step) or CC_NOT_FOUND with the message fmt when
 * there is no row, and false returned. */
bool cc_rpc_one_row(cc_rpc_call *call, cc_status s, const char *errmsg, const cc_pg_result *r,
                    const char *what, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* PostgreSQL array literals, for one statement over many rows
 * (unnest($1::text[], $2::bigint[], ...)): values quoted, " and \
 * escaped, in a cc_buf started empty. cc_pg_array_end closes it and
 * returns the text ("{}" for no value), owned by b; NULL after a failed
 * allocation. */
void cc_pg_array_add(cc_buf *b, const char *v);
void cc_pg_array_num(cc_buf *b, int64_t v);
const char *cc_pg_array_end(cc_buf *b);

#endif
