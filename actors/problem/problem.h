/* cc-problem's internal contract: settings, state, the handlers of each
 * message family (problems.c, jobs.c, blobs.c) and the helpers they share
 * (store.c: blocking database work for the thread pool; util.c: names
 * and rows; statement.c: Markdown). Problem packages are read
 * and checked by the judge's one package reader (judge/package.h).
 * Internal prefix: prob_. */
#ifndef CC_PROBLEM_H
#define CC_PROBLEM_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "cc/actor.h"
#include "cc/bus.h"
#include "cc/outbox.h"
#include "cc/pg.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/problem.pb-c.h"
#include "judge/package.h"

/* Settings (one row each in main.c; env CC_<NAME>). */
typedef struct prob_settings {
    char *pg_conninfo;
    char *migrations;
    bool seed;              /* create the sample problem "aplusb" if missing */
    int64_t max_package;    /* bytes of a package, uncompressed */
    int64_t max_files;      /* entries of a package */
    int64_t max_blob;       /* largest blob an upload may announce */
    int64_t chunk;          /* largest PutChunk / GetBlob piece */
    int64_t upload_ttl_ms;  /* open uploads older than this are dropped */
} prob_settings;

typedef struct prob_state {
    cc_actor *actor;
    const prob_settings *cfg;
    cc_pg *pg;
    cc_outbox_relay *relay;
    uv_timer_t sweep_timer; /* blobs.c: drops expired uploads */
    bool sweep_open;        /* the timer is initialised and not closed */
    bool sweeping;          /* a sweep's statements are running */
} prob_state;

prob_state *prob_state_of(void *actor);

/* ---- handlers (cc_rpc_fn) ----------------------------------------------- */
void prob_create(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_update(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_delete(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_list_versions(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_list_samples(cc_rpc_call *call, const ProtobufCMessage *req, void *actor); /* samples.c */
void prob_get_manifest(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_upload_tests(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_begin_upload(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_put_chunk(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_commit_upload(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_get_blob(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_import(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);
void prob_export(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* ---- blobs.c: expired uploads ---------------------------------------------- */

/* Starts the upload sweep on st's loop: every quarter of upload_ttl
 * (within 250 ms and 15 minutes) it drops the uploads begun more than
 * upload_ttl ago and never committed, with their chunks. Needs st->pg. */
cc_status prob_sweep_start(prob_state *st);
/* Stops the sweep and closes its timer; a sweep already running ends on
 * its own (or with CC_CLOSED when the pool closes). Idempotent. */
void prob_sweep_stop(prob_state *st);

/* ---- util.c --------------------------------------------------------------- */

/* True for a slug: [a-z0-9][a-z0-9-]{1,63}. */
bool prob_slug_ok(const char *s);
bool prob_sha_ok(const char *s);
const char *prob_difficulty_name(Codecourt__V1__Difficulty d);
Codecourt__V1__Difficulty prob_difficulty_parse(const char *s);
const char *prob_type_name(int t);
/* The ProblemType of a checked package. */
int prob_type_of(const pkg_meta *m);
int prob_type_parse(const char *s);

/* The columns prob_from_row reads (problem p joined with version v). */
#define PROB_COLS                                                                                  \
    "p.id::text, p.slug, p.title, p.owner_id, p.visibility, array_to_json(p.tags)::text, "       \
    "p.difficulty, p.rating, extract(epoch from p.created_at)::bigint, "                          \
    "extract(epoch from p.updated_at)::bigint, p.deleted_at IS NOT NULL, " PROB_VCOLS            \
    ", v.statement_md, v.statement_html"
#define PROB_VCOLS                                                                                 \
    "v.number, v.hash, extract(epoch from v.created_at)::bigint, v.created_by, v.type, "          \
    "v.time_limit_ms, v.memory_mib, v.output_mib, v.checker, v.validator_flags, "                 \
    "v.sample_count, v.test_count, v.file_count, v.total_size"
#define PROB_NVCOLS 14
/* A Problem from row (PROB_COLS from column 0) in the call's arena;
 * with_statement false leaves the statement out (lists). */
Codecourt__V1__Problem *prob_from_row(cc_rpc_call *call, const cc_pg_result *r, int row,
                                      bool with_statement);
/* A Version from PROB_VCOLS starting at col. */
Codecourt__V1__Version *prob_version_from_row(cc_rpc_call *call, const cc_pg_result *r, int row,
                                              int col);

/* Loads problem slug (version 0 = current) as the caller may see it and
 * calls done with it, or answers the call with an error itself. */
typedef void (*prob_loaded_cb)(cc_rpc_call *call, Codecourt__V1__Problem *p, void *ud);
void prob_load(cc_rpc_call *call, prob_state *st, const char *slug, int version, bool by_id,
               prob_loaded_cb done, void *ud);

/* ---- blobs.c: who may read a blob ------------------------------------------- */

/* The rule GetBlob, BeginUpload, ImportPackage and UploadTests share. An
 * admin may read any blob; a setter only those blob_readers lists for it
 * (it uploaded the bytes, exported the package, or imported a package
 * holding the file); a user none, whatever the hash; a caller without a
 * principal none either (anonymous: anyone on the mesh can leave the
 * header out). Judges read any blob, proven by their NATS user, not by a
 * missing principal: GetBlob's caller-scoped subject (blobs.c). A blob a
 * setter may not read is answered as one that does not exist, so a hash
 * that leaks, or is guessed, neither reads nor names anything.
 *
 * prob_blob_reader gives what PROB_BLOB_READABLE's reader parameter takes:
 * "" (any blob) for an admin, who (borrowed: the caller's id,
 * cc_rpc_principal) for a setter, NULL for a user or anonymous caller (no
 * blob). */
const char *prob_blob_reader(cc_role role, const char *who);
/* An SQL condition: the blob whose hash is parameter sha may be read by
 * parameter reader (prob_blob_reader's value), as in
 * PROB_BLOB_READABLE("$1", "$4"). The one copy of the rule's query. */
#define PROB_BLOB_READABLE(sha, reader)                                                            \
    "(" reader " = '' OR EXISTS (SELECT 1 FROM blob_readers br WHERE br.sha256 = " sha           \
    " AND br.user_id = " reader "))"

/* ---- store.c: blocking, for the thread pool and start -----------------------
 * A failure returns its status (a database's as cc_pg_status_of_sqlstate
 * maps it, CC_UNAVAILABLE when no connection is made, CC_NOMEM) with
 * cc_err_set saying what failed, on the calling thread. */

/* A synchronous connection to the service's database, or NULL
 * (CC_UNAVAILABLE in cc_err_last). */
PGconn *prob_db_connect(const prob_state *st);
/* Runs a statement with text parameters (NULL = SQL NULL); results in
 * text, or binary when binary is true. Returns the result (PQclear it) or
 * NULL with the status in *s. */
PGresult *prob_db_exec(PGconn *c, const char *sql, int n, const char *const *vals, bool binary,
                       cc_status *s);
/* Stores a blob from memory (no-op if it exists). sha (65) receives its
 * hash. Inside the caller's transaction. */
cc_status prob_db_put_mem(PGconn *c, const void *data, size_t len, char sha[65]);
/* Streams a blob whose hash and size are known into the store: chunks
 * are written as they come. */
typedef struct prob_blob_writer {
    PGconn *c;
    char sha[65];
    int64_t off;
    bool skip; /* already stored */
    unsigned char *buf;
    size_t n, cap;
} prob_blob_writer;
cc_status prob_db_writer_begin(prob_blob_writer *w, PGconn *c, const char *sha, int64_t size,
                               size_t chunk);
cc_status prob_db_writer_add(prob_blob_writer *w, const void *data, size_t len);
cc_status prob_db_writer_end(prob_blob_writer *w);
/* Reads up to cap bytes of blob sha from off into buf; returns the count
 * (0 at the end) or -1. */
int64_t prob_db_read(PGconn *c, const char *sha, int64_t off, void *buf, size_t cap);

/* What a new version is made of. */
typedef struct prob_commit {
    /* existing problem, or NULL to create one from the fields below */
    const char *problem_id;
    const char *slug, *title, *owner_id, *visibility, *difficulty, *tags_json;
    int rating;
    const char *created_by;
    const pkg_files *files;          /* sorted, checked */
    const pkg_meta *meta;      /* what pkg_check said of them */
    const char *statement_html;
    const cc_envelope *env;
    /* outputs */
    char out_id[40];
    int out_version;
    bool out_new_version;
    /* On a failure: the request is refused (the slug is taken, CC_EXISTS;
     * the problem is gone, CC_NOT_FOUND), not the database at fault. */
    bool out_refused;
} prob_commit;
/* Inside the caller's transaction: the outbox row of event
 * cc.evt.problem.<verb> (ProblemEvent) for problem_id, with its fields as
 * the transaction leaves them. */
cc_status prob_db_event(PGconn *c, const char *verb, const char *problem_id,
                        const cc_envelope *env);
/* Inside the caller's transaction: creates the problem if asked, and a
 * new version unless the files hash to the current version's hash, and
 * the events. */
cc_status prob_db_commit(PGconn *c, prob_commit *pc);
/* Loads the files of a version (with the texts pkg_is_text_file names,
 * as a package read would) into p, unsorted. */
cc_status prob_db_load_files(PGconn *c, const char *problem_id, int version, pkg_files *p);

/* ---- statement.c ------------------------------------------------------------ */

/* Renders Markdown to HTML with cmark in safe mode: raw HTML is dropped
 * and links or images with javascript:, vbscript:, file: or data: (except
 * images) URLs are emptied. malloc'd; NULL when out of memory. */
char *prob_markdown_html(const char *md, size_t len);
/* RenderStatement (setters, admins): the preview of an unsaved statement. */
void prob_render_statement(cc_rpc_call *call, const ProtobufCMessage *req, void *actor);

/* ---- seed.c ------------------------------------------------------------------- */

/* Creates the sample problem "aplusb" when no problem has that slug. */
cc_status prob_seed(prob_state *st);

#endif
