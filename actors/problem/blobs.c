/* Content-addressed blobs: the chunked upload (BeginUpload, PutChunk,
 * CommitUpload), the sweep of uploads never committed, GetBlob, the
 * judges' read path, and the rule of who may read a blob. A blob is
 * stored as rows of at most `chunk` bytes, so neither direction ever
 * holds more than one chunk of it in memory. The running SHA-256 of an
 * upload is kept in its row, so any replica can take its next chunk.
 *
 * Each method reads top-down, in the order its steps run:
 *  BeginUpload:  prob_begin_upload (the caller may upload; one statement
 *                finds the blob or opens an upload) -> begun (reply).
 *  PutChunk:     prob_put_chunk (bounds) -> upload_state (the row: owner,
 *                offset, hash state) -> hash_chunk on the pool -> hashed
 *                (one statement stores the chunk and advances the row)
 *                -> chunk_stored (reply).
 *  CommitUpload: prob_commit_upload -> commit_state (size and hash
 *                checked; one statement makes the blob or drops the
 *                upload) -> committed (reply).
 *  GetBlob:      prob_get_blob (who reads what) -> blob_read (one slice).
 *  The sweep:    prob_sweep_start -> sweep_tick (two statements, one
 *                batch) -> uploads_swept, chunks_swept -> sweep_done. */
/* SHA256_Init & co are deprecated in OpenSSL 3, but EVP contexts cannot be
 * saved between requests, and this state must live in the database. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <inttypes.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "cc/metrics.h"
#include "problem.h"

static void hex32(const unsigned char *d, char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = '\0';
}

typedef struct up_ctx {
    cc_rpc_call *call;
    prob_state *st;
    const void *req;
    const char *who; /* the caller's id (cc_rpc_principal) */
    cc_role role;
    SHA256_CTX sha;
    int64_t received, size;
    char upload_id[40];
} up_ctx;

static up_ctx *ctx_new(cc_rpc_call *call, void *actor, const void *req)
{
    up_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = prob_state_of(actor);
    c->req = req;
    /* The upload methods are CC_RPC_AUTH: the caller is signed in. */
    c->who = cc_rpc_principal(call)->id;
    c->role = cc_rpc_principal(call)->role;
    if (c->role != CC_ROLE_SETTER && c->role != CC_ROLE_ADMIN) {
        cc_rpc_fail(call, CC_DENIED, "only setters and admins may upload test data");
        return NULL;
    }
    return c;
}

static void reply_upload(up_ctx *c, const char *id, bool exists)
{
    Codecourt__V1__Upload u = CODECOURT__V1__UPLOAD__INIT;
    u.upload_id = (char *)id;
    u.received = exists ? c->size : c->received;
    u.max_chunk = (int32_t)c->st->cfg->chunk;
    u.exists = exists;
    cc_rpc_reply(c->call, &u.base);
}

/* ---- BeginUpload ---------------------------------------------------------------- */

static void begun(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

void prob_begin_upload(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__BeginUploadRequest *rq = (const void *)req;
    up_ctx *c = ctx_new(call, actor, req);
    if (!c)
        return;
    if (!prob_sha_ok(rq->sha256)) {
        cc_rpc_fail(call, CC_INVALID, "sha256: must be 64 lowercase hex digits");
        return;
    }
    if (rq->size < 0 || rq->size > c->st->cfg->max_blob) {
        cc_rpc_fail(call, CC_INVALID, "size: must be 0 to %" PRId64 " bytes", c->st->cfg->max_blob);
        return;
    }
    c->size = rq->size;
    SHA256_Init(&c->sha);
    char size[32];
    snprintf(size, sizeof size, "%" PRId64, rq->size);
    /* ctx_new let only setters and admins through: reader is not NULL. */
    cc_pg_param p[] = {CC_PG_TEXT(rq->sha256), CC_PG_TEXT(size), CC_PG_TEXT(c->who),
                       CC_PG_BYTES(&c->sha, sizeof c->sha),
                       CC_PG_TEXT(prob_blob_reader(c->role, c->who))};
    /* "Exists" only to a caller who may read the blob. Anyone else sends
     * the bytes like a first uploader: that proves it holds them, makes it
     * a reader at commit (so it may import the zip), and tells nothing
     * about what is stored. */
    cc_status s = cc_pg_query(
        c->st->pg,
        "WITH e AS (SELECT 1 FROM blobs WHERE sha256 = $1 AND size = $2::bigint AND "
        PROB_BLOB_READABLE("$1", "$5") "), "
        "u AS (INSERT INTO uploads (owner_id, size, sha256, hash_state) SELECT $3, $2::bigint, "
        "$1, $4::bytea WHERE NOT EXISTS (SELECT 1 FROM e) RETURNING id::text) "
        "SELECT 'blob' FROM e UNION ALL SELECT id FROM u",
        p, 5, begun, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "begin upload");
}

static void begun(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    up_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "begin upload");
        return;
    }
    /* Column 0: 'blob' when the blob exists, else the new upload's id. */
    const char *v = cc_pg_get(r, 0, 0);
    if (!strcmp(v, "blob"))
        reply_upload(c, "", true);
    else
        reply_upload(c, v, false);
}

/* ---- PutChunk -------------------------------------------------------------------- */

static void upload_state(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static cc_status hash_chunk(void *ud);
static void hashed(cc_status s, void *ud);
static void chunk_stored(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

void prob_put_chunk(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__PutChunkRequest *rq = (const void *)req;
    up_ctx *c = ctx_new(call, actor, req);
    if (!c)
        return;
    if (strlen(rq->upload_id) != 36) {
        cc_rpc_fail(call, CC_NOT_FOUND, "upload_id: no such upload");
        return;
    }
    if (rq->offset < 0 || rq->data.len == 0 || (int64_t)rq->data.len > c->st->cfg->chunk) {
        cc_rpc_fail(call, CC_INVALID, "data: 1 to %" PRId64 " bytes at a non-negative offset",
                    c->st->cfg->chunk);
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->upload_id)};
    cc_status s = cc_pg_query(c->st->pg,
                              "SELECT received, size, owner_id, hash_state FROM uploads WHERE id = "
                              "$1::uuid",
                              p, 1, upload_state, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "put chunk");
}

static void upload_state(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    up_ctx *c = ud;
    const Codecourt__V1__PutChunkRequest *rq = c->req;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "put chunk");
        return;
    }
    if (cc_pg_nrows(r) != 1 || strcmp(cc_pg_get(r, 0, 2), c->who) != 0) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "upload_id: no such upload");
        return;
    }
    cc_pg_get_int64(r, 0, 0, &c->received);
    cc_pg_get_int64(r, 0, 1, &c->size);
    int64_t end = rq->offset + (int64_t)rq->data.len;
    if (end <= c->received) {
        reply_upload(c, rq->upload_id, false); /* a resent chunk */
        return;
    }
    if (rq->offset != c->received) {
        cc_rpc_fail(c->call, CC_CONFLICT, "offset: expected %" PRId64, c->received);
        return;
    }
    if (end > c->size) {
        cc_rpc_fail(c->call, CC_INVALID, "data: goes past the announced size %" PRId64, c->size);
        return;
    }
    unsigned char *st = NULL;
    size_t sl = 0;
    if (cc_pg_get_bytea(r, 0, 3, &st, &sl) != CC_OK || sl != sizeof c->sha) {
        free(st);
        cc_rpc_fail(c->call, CC_INTERNAL, "upload state unreadable");
        return;
    }
    memcpy(&c->sha, st, sizeof c->sha);
    free(st);
    /* Hashing half a megabyte is work for the pool, not the loop. */
    if (cc_bus_offload(cc_rpc_bus(c->call), hash_chunk, hashed, c) != CC_OK)
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "cannot queue the work");
}

static cc_status hash_chunk(void *ud)
{
    up_ctx *c = ud;
    const Codecourt__V1__PutChunkRequest *rq = c->req;
    SHA256_Update(&c->sha, rq->data.data, rq->data.len);
    return CC_OK;
}

static void hashed(cc_status s, void *ud)
{
    up_ctx *c = ud;
    const Codecourt__V1__PutChunkRequest *rq = c->req;
    char off[32], len[32];
    snprintf(off, sizeof off, "%" PRId64, rq->offset);
    snprintf(len, sizeof len, "%zu", rq->data.len);
    /* One statement: the row advances only from the offset this chunk
     * was hashed after, so a racing duplicate stores nothing. */
    cc_pg_param p[] = {CC_PG_TEXT(rq->upload_id), CC_PG_TEXT(off), CC_PG_TEXT(len),
                       CC_PG_BYTES(&c->sha, sizeof c->sha), CC_PG_BYTES(rq->data.data, rq->data.len)};
    s = cc_pg_query(c->st->pg,
                    "WITH u AS (UPDATE uploads SET received = received + $3::bigint, hash_state = "
                    "$4::bytea WHERE id = $1::uuid AND received = $2::bigint RETURNING id) "
                    "INSERT INTO blob_chunks (owner, off, data) SELECT 'upload:' || $1, "
                    "$2::bigint, $5::bytea FROM u RETURNING 1",
                    p, 5, chunk_stored, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "store chunk");
}

static void chunk_stored(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    up_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "store chunk");
        return;
    }
    if (cc_pg_nrows(r) != 1) {
        cc_rpc_fail(c->call, CC_CONFLICT, "offset: another chunk was stored at this offset first");
        return;
    }
    const Codecourt__V1__PutChunkRequest *rq = c->req;
    c->received += (int64_t)rq->data.len;
    reply_upload(c, rq->upload_id, false);
}

/* ---- CommitUpload ------------------------------------------------------------------- */

typedef struct commit_ctx {
    up_ctx *c;
    char sha[65];
    bool bad;
    char why[200];
} commit_ctx;

static void commit_state(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void committed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

void prob_commit_upload(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__CommitUploadRequest *rq = (const void *)req;
    up_ctx *c = ctx_new(call, actor, req);
    if (!c)
        return;
    if (strlen(rq->upload_id) != 36) {
        cc_rpc_fail(call, CC_NOT_FOUND, "upload_id: no such upload");
        return;
    }
    cc_pg_param p[] = {CC_PG_TEXT(rq->upload_id)};
    cc_status s = cc_pg_query(c->st->pg,
                              "SELECT received, size, owner_id, hash_state, sha256 FROM uploads "
                              "WHERE id = $1::uuid",
                              p, 1, commit_state, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "commit upload");
}

static void commit_state(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    up_ctx *c = ud;
    const Codecourt__V1__CommitUploadRequest *rq = c->req;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "commit upload");
        return;
    }
    if (cc_pg_nrows(r) != 1 || strcmp(cc_pg_get(r, 0, 2), c->who) != 0) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "upload_id: no such upload");
        return;
    }
    commit_ctx *k = cc_arena_alloc(cc_rpc_arena(c->call), sizeof *k);
    unsigned char *st = NULL;
    size_t sl = 0;
    if (!k || cc_pg_get_bytea(r, 0, 3, &st, &sl) != CC_OK || sl != sizeof c->sha) {
        free(st);
        cc_rpc_fail(c->call, CC_INTERNAL, "upload state unreadable");
        return;
    }
    memset(k, 0, sizeof *k);
    k->c = c;
    memcpy(&c->sha, st, sizeof c->sha);
    free(st);
    cc_pg_get_int64(r, 0, 0, &c->received);
    cc_pg_get_int64(r, 0, 1, &c->size);
    unsigned char d[32];
    SHA256_Final(d, &c->sha);
    hex32(d, k->sha);
    const char *want = cc_pg_get(r, 0, 4);
    if (c->received != c->size) {
        k->bad = true;
        snprintf(k->why, sizeof k->why, "size: received %" PRId64 " of %" PRId64 " bytes",
                 c->received, c->size);
    } else if (strcmp(k->sha, want) != 0) {
        k->bad = true;
        snprintf(k->why, sizeof k->why, "sha256: the data hashes to %s, not %.64s", k->sha, want);
    }
    if (k->bad && c->received != c->size) {
        /* Incomplete: keep it so the client can go on sending. */
        cc_rpc_fail(c->call, CC_UNPROCESSABLE, "%s", k->why);
        return;
    }
    char size[32];
    snprintf(size, sizeof size, "%" PRId64, c->size);
    /* A wrong hash drops the upload; a right one becomes the blob (or is
     * dropped when the same blob was stored meanwhile). */
    cc_pg_param p[] = {CC_PG_TEXT(rq->upload_id), CC_PG_TEXT(k->sha), CC_PG_TEXT(size),
                       CC_PG_TEXT(k->bad ? "t" : "f"), CC_PG_TEXT(c->who)};
    s = cc_pg_query(c->st->pg,
                    "WITH b AS (INSERT INTO blobs (sha256, size) SELECT $2, $3::bigint WHERE NOT "
                    "$4::bool ON CONFLICT DO NOTHING RETURNING 1), "
                    "m AS (UPDATE blob_chunks SET owner = $2 WHERE owner = 'upload:' || $1 AND "
                    "EXISTS (SELECT 1 FROM b) RETURNING 1), "
                    "d AS (DELETE FROM blob_chunks WHERE owner = 'upload:' || $1 AND NOT EXISTS "
                    "(SELECT 1 FROM b) RETURNING 1), "
                    "u AS (DELETE FROM uploads WHERE id = $1::uuid RETURNING 1), "
                    /* Sending every byte proves the uploader holds them: it
                     * may read the blob back through the gateway. */
                    "g AS (INSERT INTO blob_readers (sha256, user_id) SELECT $2, $5 WHERE NOT "
                    "$4::bool ON CONFLICT DO NOTHING RETURNING 1) "
                    "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM d), (SELECT count(*) "
                    "FROM u)",
                    p, 5, committed, k);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "commit upload");
}

static void committed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    commit_ctx *k = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(k->c->call, s, errmsg, "commit upload");
        return;
    }
    if (k->bad) {
        cc_rpc_fail(k->c->call, CC_UNPROCESSABLE, "%s", k->why);
        return;
    }
    Codecourt__V1__Blob b = CODECOURT__V1__BLOB__INIT;
    b.sha256 = k->sha;
    b.size = k->c->size;
    cc_rpc_reply(k->c->call, &b.base);
}

/* ---- who may read a blob ------------------------------------------------------------ */

const char *prob_blob_reader(cc_role role, const char *who)
{
    switch (role) {
    case CC_ROLE_ADMIN:
        return "";
    case CC_ROLE_SETTER:
        return who;
    case CC_ROLE_ANON:
    case CC_ROLE_USER:
        break;
    }
    return NULL;
}

/* Judges read every blob, but a judge is not whoever sends no principal
 * (any process on the mesh can leave the header out): it is a request
 * that came on cc.rpc.problem.judge.GetBlob, a subject only the judge's
 * NATS user may publish, so the server checked who sent it (cc/mesh.h,
 * cc_rpc_caller). Everyone else is judged by principal. */
static const char *blob_reader_of(cc_rpc_call *call)
{
    const char *caller = cc_rpc_caller(call);
    if (caller && strcmp(caller, "judge") == 0)
        return "";
    const cc_principal *who = cc_rpc_principal(call);
    return prob_blob_reader(who->role, who->id);
}

/* ---- GetBlob ------------------------------------------------------------------------ */

static void blob_read(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);

void prob_get_blob(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetBlobRequest *rq = (const void *)req;
    prob_state *st = prob_state_of(actor);
    if (!prob_sha_ok(rq->sha256)) {
        cc_rpc_fail(call, CC_INVALID, "sha256: must be 64 lowercase hex digits");
        return;
    }
    if (rq->offset < 0 || rq->max_bytes < 0) {
        cc_rpc_fail(call, CC_INVALID, "offset and max_bytes: must not be negative");
        return;
    }
    /* The gateway always sets a principal (its blob route needs a
     * token); judges call as themselves. blob_reader_of says who reads
     * what, and an unreadable blob is "not found", so hashes cannot be
     * probed. */
    const char *reader = blob_reader_of(call);
    if (!reader) {
        if (!cc_rpc_caller(call) && cc_rpc_principal(call)->role == CC_ROLE_ANON)
            cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to read blobs");
        else
            cc_rpc_fail(call, CC_DENIED, "only setters, admins and judges may read blobs");
        return;
    }
    int64_t max = rq->max_bytes == 0 || rq->max_bytes > st->cfg->chunk ? st->cfg->chunk
                                                                       : rq->max_bytes;
    char off[32], mx[32];
    snprintf(off, sizeof off, "%" PRId64, rq->offset);
    snprintf(mx, sizeof mx, "%" PRId64, max);
    cc_pg_param p[] = {CC_PG_TEXT(rq->sha256), CC_PG_TEXT(off), CC_PG_TEXT(mx),
                       CC_PG_TEXT(reader)};
    /* The chunk that holds offset, cut by the server to the slice asked:
     * only that slice crosses the socket (EXTERNAL storage makes
     * substring read only those bytes). */
    cc_status s = cc_pg_query(
        st->pg,
        "SELECT b.size, c.piece, $2::bigint FROM blobs b LEFT JOIN LATERAL (SELECT "
        "substring(data from ($2::bigint - off + 1)::int for $3::int) AS piece FROM blob_chunks "
        "WHERE owner = b.sha256 AND off <= $2::bigint AND $2::bigint < b.size ORDER BY off DESC "
        "LIMIT 1) c ON true WHERE b.sha256 = $1 AND " PROB_BLOB_READABLE("$1", "$4"),
        p, 4, blob_read, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "get blob");
}

static void blob_read(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (!cc_rpc_one_row(call, s, errmsg, r, "get blob", "blob not found"))
        return;
    int64_t total = 0, off = 0;
    cc_pg_get_int64(r, 0, 0, &total);
    cc_pg_get_int64(r, 0, 2, &off);
    if (off > total) {
        cc_rpc_fail(call, CC_INVALID, "offset: past the end (%" PRId64 " bytes)", total);
        return;
    }
    Codecourt__V1__GetBlobReply rep = CODECOURT__V1__GET_BLOB_REPLY__INIT;
    unsigned char *data = NULL;
    size_t len = 0;
    if (!cc_pg_isnull(r, 0, 1) && cc_pg_get_bytea(r, 0, 1, &data, &len) != CC_OK) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    rep.data.data = data;
    rep.data.len = len;
    rep.total_size = total;
    rep.eof = off + (int64_t)len >= total;
    cc_rpc_reply(call, &rep.base);
    free(data);
}

/* ---- the upload sweep ------------------------------------------------------------------ */

/* Only chunks owned by 'upload:<id>' are ever dropped here. A finished
 * blob's chunks are owned by its hash (CommitUpload renames them in the
 * statement that ends the upload), and versions and blob_readers name
 * blobs by hash, so nothing a blob or a version references is touched,
 * even when an abandoned upload carried the same bytes as a stored blob.
 *
 * Two statements, each its own transaction, in this order:
 *  1. Drop the expired upload rows. A PutChunk racing with it either
 *     finds no row (and stores nothing: its chunk insert needs the row
 *     it updates) or holds the row's lock, so the DELETE waits for its
 *     chunk to commit.
 *  2. Drop every 'upload:' chunk whose upload row is gone. Its snapshot
 *     is taken after statement 1 committed, so it sees the chunks of the
 *     uploads just dropped, including a racing PutChunk's, and those a
 *     crash between the two statements left. A live upload's chunk is
 *     never taken: it commits after its upload row, and a chunk renamed
 *     by a concurrent CommitUpload no longer matches 'upload:%'. */
static const char sweep_uploads_sql[] =
    "DELETE FROM uploads WHERE created_at < now() - $1::bigint * interval '1 millisecond'";
/* The LIKE is written as in the partial index blob_chunks_open, so the
 * planner may use it (migrations/0003_upload_sweep.sql). */
static const char sweep_chunks_sql[] =
    "DELETE FROM blob_chunks b WHERE b.owner LIKE 'upload:%' AND NOT EXISTS (SELECT 1 FROM "
    "uploads u WHERE 'upload:' || u.id::text = b.owner)";

typedef struct sweep_counts {
    int64_t uploads, chunks;
} sweep_counts;

static sweep_counts swept;

static void sweep_tick(uv_timer_t *t);
static void uploads_swept(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void chunks_swept(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void sweep_done(cc_status s, const char *errmsg, void *ud);

cc_status prob_sweep_start(prob_state *st)
{
    int64_t every = st->cfg->upload_ttl_ms / 4;
    if (every < 250)
        every = 250;
    if (every > 15 * 60 * 1000)
        every = 15 * 60 * 1000;
    int e = uv_timer_init(cc_actor_loop(st->actor), &st->sweep_timer);
    if (e != 0)
        return cc_err_set(CC_INTERNAL, "upload sweep timer: %s", uv_strerror(e));
    st->sweep_timer.data = st;
    st->sweep_open = true;
    uv_timer_start(&st->sweep_timer, sweep_tick, (uint64_t)every, (uint64_t)every);
    return CC_OK;
}

static void sweep_tick(uv_timer_t *t)
{
    prob_state *st = t->data;
    if (st->sweeping)
        return; /* the last one is still running (a slow database) */
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%" PRId64, st->cfg->upload_ttl_ms);
    cc_pg_param p[] = {CC_PG_TEXT(ttl)};
    cc_pg_batch *b;
    cc_status s = cc_pg_batch_new(st->pg, &b);
    if (s != CC_OK)
        return;
    swept = (sweep_counts){0, 0};
    cc_pg_batch_add(b, sweep_uploads_sql, p, 1, uploads_swept, st);
    cc_pg_batch_add(b, sweep_chunks_sql, NULL, 0, chunks_swept, st);
    if (cc_pg_batch_run(b, sweep_done, st) == CC_OK)
        st->sweeping = true;
}

static void uploads_swept(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    if (s == CC_OK)
        swept.uploads = cc_pg_affected(r);
}

static void chunks_swept(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    if (s == CC_OK)
        swept.chunks = cc_pg_affected(r);
}

static void sweep_done(cc_status s, const char *errmsg, void *ud)
{
    prob_state *st = ud;
    st->sweeping = false;
    if (s != CC_OK) {
        /* The next tick tries again; CC_CLOSED is the drain. */
        if (s != CC_CLOSED)
            cc_log(CC_LOG_WARN, NULL, "upload sweep failed", "{s:s, s:s}", "status",
                   cc_status_str(s), "error", errmsg ? errmsg : "");
        return;
    }
    if (swept.uploads || swept.chunks) {
        static cc_counter *dropped;
        if (!dropped)
            dropped = cc_metrics_counter("cc_problem_uploads_expired_total",
                                         "unfinished uploads dropped after upload-ttl", NULL);
        cc_counter_add(dropped, (uint64_t)swept.uploads);
        cc_log(CC_LOG_INFO, NULL, "expired uploads dropped", "{s:I, s:I}", "uploads",
               (json_int_t)swept.uploads, "chunks", (json_int_t)swept.chunks);
    }
}

void prob_sweep_stop(prob_state *st)
{
    if (!st->sweep_open)
        return;
    uv_timer_stop(&st->sweep_timer);
    uv_close((uv_handle_t *)&st->sweep_timer, NULL);
    st->sweep_open = false;
}
