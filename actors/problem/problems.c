/* GetProblem, DeleteProblem, ListProblems, ListVersions and
 * GetVersionManifest: reads and the soft delete, on the loop's pool. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "problem.h"

/* ---- GetProblem ------------------------------------------------------------- */

static void got(cc_rpc_call *call, Codecourt__V1__Problem *p, void *ud)
{
    cc_rpc_reply(call, &p->base);
}

void prob_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetProblemRequest *rq = (const void *)req;
    if (!prob_slug_ok(rq->slug)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "problem not found");
        return;
    }
    prob_load(call, prob_state_of(actor), rq->slug, rq->version, false, got, NULL);
}

/* ---- DeleteProblem ------------------------------------------------------------ */

typedef struct del_ctx {
    cc_rpc_call *call;
    prob_state *st;
    Codecourt__V1__Problem *p;
} del_ctx;

static void deleted(cc_status s, const char *errmsg, void *ud)
{
    del_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "delete problem");
        return;
    }
    c->p->deleted = true;
    cc_rpc_reply(c->call, &c->p->base);
}

static void del_loaded(cc_rpc_call *call, Codecourt__V1__Problem *p, void *ud)
{
    del_ctx *c = ud;
    const cc_principal *who = cc_rpc_principal(call);
    if (who->role != CC_ROLE_ADMIN &&
        !(who->role == CC_ROLE_SETTER && !strcmp(who->id, p->owner_id))) {
        cc_rpc_fail(call, CC_DENIED, "only the problem's owner or an admin may delete it");
        return;
    }
    c->p = p;
    cc_pg_tx *tx;
    cc_status s = cc_pg_begin(c->st->pg, &tx);
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, cc_err_msg(), "delete problem");
        return;
    }
    cc_pg_param prm[] = {CC_PG_TEXT(p->id)};
    cc_pg_tx_query(tx,
                   "UPDATE problems SET deleted_at = now(), updated_at = now() WHERE id = $1::uuid "
                   "AND deleted_at IS NULL",
                   prm, 1, NULL, NULL);
    Codecourt__V1__ProblemEvent ev = CODECOURT__V1__PROBLEM_EVENT__INIT;
    ev.problem_id = p->id;
    ev.slug = p->slug;
    ev.owner_id = p->owner_id;
    ev.version = p->version ? p->version->number : 0;
    ev.version_hash = p->version ? p->version->hash : "";
    ev.title = p->title;
    ev.n_tags = p->n_tags;
    ev.tags = p->tags;
    ev.difficulty = p->difficulty;
    ev.visibility = p->visibility;
    ev.deleted = true;
    size_t len = protobuf_c_message_get_packed_size(&ev.base);
    uint8_t *buf = cc_arena_alloc(cc_rpc_arena(call), len ? len : 1);
    if (buf) {
        protobuf_c_message_pack(&ev.base, buf);
        cc_outbox_add(tx, "cc.evt.problem.deleted", cc_rpc_envelope(call), p->slug,
                      "codecourt.v1.ProblemEvent", NULL, buf, len, NULL, NULL);
    }
    cc_pg_tx_commit(tx, deleted, c);
}

void prob_delete(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__DeleteProblemRequest *rq = (const void *)req;
    del_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = prob_state_of(actor);
    prob_load(call, c->st, rq->slug, 0, false, del_loaded, c);
}

/* ---- ListProblems ----------------------------------------------------------------- */

typedef struct list_ctx {
    cc_rpc_call *call;
    int size;
} list_ctx;

/* The cursor is the last row's (created_at in microseconds, id), base64
 * of "<us>:<uuid>": opaque to clients, stable under inserts. */
static void b64url(const char *in, char *out, size_t cap)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = t[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = t[v & 63];
    }
    out[o] = '\0';
}

static bool unb64url(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    uint32_t v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int d = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '-'             ? 62
                : c == '_'             ? 63
                                       : -1;
        if (d < 0)
            return false;
        v = (v << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return false;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return true;
}

static void listed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "list problems");
        return;
    }
    int n = cc_pg_nrows(r);
    bool more = n > c->size;
    if (more)
        n = c->size;
    Codecourt__V1__ProblemList l = CODECOURT__V1__PROBLEM_LIST__INIT;
    l.problems = n ? cc_arena_alloc(cc_rpc_arena(c->call), (size_t)n * sizeof *l.problems) : NULL;
    for (int i = 0; i < n; i++) {
        l.problems[i] = prob_from_row(c->call, r, i, false);
        if (!l.problems[i]) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
    }
    l.n_problems = (size_t)n;
    char cur[128] = "", enc[200] = "";
    if (more) {
        int cc = cc_pg_ncols(r) - 1;
        snprintf(cur, sizeof cur, "%s:%s", cc_pg_get(r, n - 1, cc), cc_pg_get(r, n - 1, 0));
        b64url(cur, enc, sizeof enc);
    }
    l.next_cursor = enc;
    cc_rpc_reply(c->call, &l.base);
}

void prob_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListProblemsRequest *rq = (const void *)req;
    list_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->size = rq->page_size <= 0 ? 20 : rq->page_size;
    if (c->size > 100) {
        cc_rpc_fail(call, CC_INVALID, "page_size: at most 100");
        return;
    }
    const cc_principal *who = cc_rpc_principal(call);
    if (rq->mine && who->role == CC_ROLE_ANON) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to list your problems");
        return;
    }
    char dec[128] = "", *us = NULL, *id = NULL;
    if (rq->cursor[0]) {
        char *colon;
        if (strlen(rq->cursor) > 180 || !unb64url(rq->cursor, dec, sizeof dec) ||
            !(colon = strchr(dec, ':')) || strlen(colon + 1) != 36) {
            cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor from this list");
            return;
        }
        *colon = '\0';
        us = dec;
        id = colon + 1;
        for (char *p = us; *p; p++)
            if (*p < '0' || *p > '9') {
                cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor from this list");
                return;
            }
    }
    char size[16];
    snprintf(size, sizeof size, "%d", c->size + 1);
    const char *diff = prob_difficulty_name(rq->difficulty);
    /* Who sees what: public problems for everyone; drafts for their owner
     * and for admins. */
    cc_pg_param p[] = {rq->tag[0] ? CC_PG_TEXT(rq->tag) : CC_PG_NULL,
                       diff[0] ? CC_PG_TEXT(diff) : CC_PG_NULL,
                       rq->query[0] ? CC_PG_TEXT(rq->query) : CC_PG_NULL,
                       us ? CC_PG_TEXT(us) : CC_PG_NULL,
                       id ? CC_PG_TEXT(id) : CC_PG_NULL,
                       CC_PG_TEXT(size),
                       CC_PG_TEXT(who->id),
                       CC_PG_TEXT(who->role == CC_ROLE_ADMIN ? "t" : "f"),
                       CC_PG_TEXT(rq->mine ? "t" : "f")};
    cc_status s = cc_pg_query(
        prob_state_of(actor)->pg,
        "SELECT " PROB_COLS ", (extract(epoch from p.created_at) * 1000000)::bigint FROM "
        "problems p LEFT JOIN versions v ON v.problem_id = p.id AND v.number = p.current_version "
        "WHERE p.deleted_at IS NULL "
        "AND ($1::text IS NULL OR $1 = ANY (p.tags)) "
        "AND ($2::text IS NULL OR p.difficulty = $2) "
        "AND ($3::text IS NULL OR strpos(lower(p.title), lower($3)) > 0 OR "
        "strpos(p.slug, lower($3)) > 0) "
        "AND ($4::bigint IS NULL OR ((extract(epoch from p.created_at) * 1000000)::bigint, "
        "p.id) < ($4::bigint, $5::uuid)) "
        "AND (p.visibility = 'public' OR $8::bool OR (p.owner_id = $7 AND $7 <> '')) "
        "AND (NOT $9::bool OR p.owner_id = $7) "
        "ORDER BY (extract(epoch from p.created_at) * 1000000)::bigint DESC, p.id DESC "
        "LIMIT $6::int",
        p, 9, listed, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list problems");
}

/* ---- ListVersions ------------------------------------------------------------------ */

static void versions_listed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, "list versions");
        return;
    }
    int n = cc_pg_nrows(r);
    Codecourt__V1__VersionList l = CODECOURT__V1__VERSION_LIST__INIT;
    l.versions = n ? cc_arena_alloc(cc_rpc_arena(call), (size_t)n * sizeof *l.versions) : NULL;
    for (int i = 0; i < n; i++)
        if (!(l.versions[i] = prob_version_from_row(call, r, i, 0))) {
            cc_rpc_fail(call, CC_NOMEM, "out of memory");
            return;
        }
    l.n_versions = (size_t)n;
    cc_rpc_reply(call, &l.base);
}

static void versions_loaded(cc_rpc_call *call, Codecourt__V1__Problem *p, void *ud)
{
    cc_pg_param prm[] = {CC_PG_TEXT(p->id)};
    cc_status s = cc_pg_query(prob_state_of(ud)->pg,
                              "SELECT " PROB_VCOLS " FROM versions v WHERE v.problem_id = $1::uuid "
                              "ORDER BY v.number DESC",
                              prm, 1, versions_listed, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list versions");
}

void prob_list_versions(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListVersionsRequest *rq = (const void *)req;
    prob_load(call, prob_state_of(actor), rq->slug, 0, false, versions_loaded, actor);
}

/* ---- GetVersionManifest --------------------------------------------------------------- */

static void manifest_got(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, "get manifest");
        return;
    }
    if (cc_pg_nrows(r) < 1) {
        cc_rpc_fail(call, CC_NOT_FOUND, "version not found");
        return;
    }
    const Codecourt__V1__GetVersionManifestRequest *rq = (const void *)NULL;
    (void)rq;
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__VersionManifest m = CODECOURT__V1__VERSION_MANIFEST__INIT;
    m.problem_id = cc_arena_strdup(a, cc_pg_get(r, 0, 0));
    m.slug = cc_arena_strdup(a, cc_pg_get(r, 0, 1));
    int64_t num = 0;
    cc_pg_get_int64(r, 0, 2, &num);
    m.number = (int32_t)num;
    m.hash = cc_arena_strdup(a, cc_pg_get(r, 0, 3));
    int n = cc_pg_nrows(r);
    m.files = cc_arena_alloc(a, (size_t)n * sizeof *m.files);
    for (int i = 0; i < n; i++) {
        if (cc_pg_isnull(r, i, 4))
            continue;
        Codecourt__V1__PackageFile *f = cc_arena_alloc(a, sizeof *f);
        if (!f || !m.files) {
            cc_rpc_fail(call, CC_NOMEM, "out of memory");
            return;
        }
        codecourt__v1__package_file__init(f);
        f->path = cc_arena_strdup(a, cc_pg_get(r, i, 4));
        f->sha256 = cc_arena_strdup(a, cc_pg_get(r, i, 5));
        cc_pg_get_int64(r, i, 6, &f->size);
        m.files[m.n_files++] = f;
    }
    cc_rpc_reply(call, &m.base);
}

void prob_get_manifest(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetVersionManifestRequest *rq = (const void *)req;
    char num[16];
    snprintf(num, sizeof num, "%d", rq->number);
    /* Files come sorted (jsonb keeps the array's order, written sorted);
     * submissions/ only when asked. A deleted problem's versions stay
     * readable: a submission pinned to one may still be rejudged. */
    cc_pg_param p[] = {CC_PG_TEXT(rq->slug), rq->hash[0] ? CC_PG_TEXT(rq->hash) : CC_PG_NULL,
                       CC_PG_TEXT(num), CC_PG_TEXT(rq->include_submissions ? "t" : "f")};
    cc_status s = cc_pg_query(
        prob_state_of(actor)->pg,
        "WITH v AS (SELECT p.id, p.slug, v.number, v.hash, v.files FROM problems p JOIN versions "
        "v ON v.problem_id = p.id WHERE p.slug = $1 AND (CASE WHEN $2::text IS NOT NULL THEN "
        "v.hash = $2 WHEN $3::int > 0 THEN v.number = $3::int ELSE v.number = p.current_version "
        "END) ORDER BY p.deleted_at IS NULL DESC, p.created_at DESC, v.number DESC LIMIT 1) "
        "SELECT v.id::text, v.slug, v.number, v.hash, f->>'path', f->>'sha256', "
        "(f->>'size')::bigint FROM v LEFT JOIN LATERAL jsonb_array_elements(v.files) f ON "
        "$4::bool OR f->>'path' NOT LIKE 'submissions/%'",
        p, 4, manifest_got, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "get manifest");
}
