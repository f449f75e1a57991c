/* Blocking database work for the thread pool (imports, exports, new
 * versions) and for start (the seed): a synchronous libpq connection of
 * its own, so a long import never holds up the loop, and a whole import
 * (its blobs and its version) is one transaction. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "problem.h"

PGconn *prob_db_connect(const prob_state *st)
{
    PGconn *c = PQconnectdb(st->cfg->pg_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        cc_err_set(CC_UNAVAILABLE, "database: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGresult *prob_db_exec(PGconn *c, const char *sql, int n, const char *const *vals, bool binary,
                       cc_status *s)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, binary ? 1 : 0);
    ExecStatusType t = PQresultStatus(r);
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
        *s = CC_OK;
        return r;
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    *s = cc_pg_status_of_sqlstate(state ? state : "");
    if (*s == CC_OK)
        *s = CC_DB;
    cc_err_set(*s, "database: %s", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

static cc_status exec0(PGconn *c, const char *sql, int n, const char *const *vals)
{
    cc_status s;
    PGresult *r = prob_db_exec(c, sql, n, vals, false, &s);
    PQclear(r);
    return s;
}

static cc_status put_chunk(PGconn *c, const char *owner, int64_t off, const void *data, size_t len)
{
    char offs[32];
    snprintf(offs, sizeof offs, "%" PRId64, off);
    const char *vals[] = {owner, offs, data};
    int lens[] = {0, 0, (int)len};
    int fmts[] = {0, 0, 1};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO blob_chunks (owner, off, data) VALUES ($1, $2, $3) "
                               "ON CONFLICT DO NOTHING",
                               3, NULL, vals, lens, fmts, 0);
    cc_status s = CC_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        s = cc_err_set(CC_DB, "database: %s", PQresultErrorMessage(r));
    PQclear(r);
    return s;
}

/* Claims the blob row; *fresh tells whether this transaction must write
 * its chunks. A concurrent writer of the same blob makes this wait for
 * its outcome, so a blob row never exists without its chunks. */
static cc_status claim(PGconn *c, const char *sha, int64_t size, bool *fresh)
{
    char sz[32];
    snprintf(sz, sizeof sz, "%" PRId64, size);
    const char *vals[] = {sha, sz};
    cc_status s;
    PGresult *r = prob_db_exec(c,
                               "INSERT INTO blobs (sha256, size) VALUES ($1, $2) "
                               "ON CONFLICT DO NOTHING RETURNING 1",
                               2, vals, false, &s);
    if (r)
        *fresh = PQntuples(r) == 1;
    PQclear(r);
    return s;
}

cc_status prob_db_put_mem(PGconn *c, const void *data, size_t len, char sha[65])
{
    pkg_sha256_hex(data, len, sha);
    bool fresh = false;
    cc_status s = claim(c, sha, (int64_t)len, &fresh);
    const size_t piece = 512 * 1024;
    for (size_t off = 0; s == CC_OK && fresh && off < len; off += piece)
        s = put_chunk(c, sha, (int64_t)off, (const char *)data + off,
                      len - off < piece ? len - off : piece);
    return s;
}

cc_status prob_db_writer_begin(prob_blob_writer *w, PGconn *c, const char *sha, int64_t size,
                               size_t chunk)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    snprintf(w->sha, sizeof w->sha, "%s", sha);
    bool fresh = false;
    cc_status s = claim(c, sha, size, &fresh);
    w->skip = !fresh;
    if (s == CC_OK && fresh) {
        w->cap = chunk;
        if (!(w->buf = malloc(chunk)))
            return cc_err_set(CC_NOMEM, "blob writer: out of memory (%zu bytes)", chunk);
    }
    return s;
}

cc_status prob_db_writer_add(prob_blob_writer *w, const void *data, size_t len)
{
    if (w->skip)
        return CC_OK;
    const unsigned char *d = data;
    while (len > 0) {
        size_t take = w->cap - w->n < len ? w->cap - w->n : len;
        memcpy(w->buf + w->n, d, take);
        w->n += take;
        d += take;
        len -= take;
        if (w->n == w->cap) {
            cc_status s = put_chunk(w->c, w->sha, w->off, w->buf, w->n);
            if (s != CC_OK)
                return s;
            w->off += (int64_t)w->n;
            w->n = 0;
        }
    }
    return CC_OK;
}

cc_status prob_db_writer_end(prob_blob_writer *w)
{
    cc_status s = CC_OK;
    if (!w->skip && w->n > 0)
        s = put_chunk(w->c, w->sha, w->off, w->buf, w->n);
    free(w->buf);
    w->buf = NULL;
    return s;
}

int64_t prob_db_read(PGconn *c, const char *sha, int64_t off, void *buf, size_t cap)
{
    char offs[32], caps[32];
    snprintf(offs, sizeof offs, "%" PRId64, off);
    snprintf(caps, sizeof caps, "%zu", cap);
    const char *vals[] = {sha, offs, caps};
    cc_status s;
    /* The chunk holding off, cut server-side to what fits. */
    PGresult *r =
        prob_db_exec(c,
                     "SELECT substring(data from ($2::bigint - off + 1)::int for $3::int) "
                     "FROM blob_chunks WHERE owner = $1 AND off <= $2::bigint "
                     "ORDER BY off DESC LIMIT 1",
                     3, vals, true, &s);
    if (!r)
        return -1;
    int64_t n = 0;
    if (PQntuples(r) == 1) {
        n = PQgetlength(r, 0, 0);
        if ((size_t)n > cap)
            n = (int64_t)cap;
        memcpy(buf, PQgetvalue(r, 0, 0), (size_t)n);
    }
    PQclear(r);
    return n;
}

static char *files_json(const pkg_files *p)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < p->nfiles; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "path", p->files[i].path, "sha256",
                                           p->files[i].sha256, "size",
                                           (json_int_t)p->files[i].size));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

cc_status prob_db_event(PGconn *c, const char *verb, const char *problem_id,
                        const cc_envelope *e)
{
    /* The problem-level fields as this transaction leaves them, so a read
     * model of the events (cc-stats) needs no call back. */
    const char *ids[] = {problem_id};
    cc_status s;
    PGresult *row = prob_db_exec(
        c,
        "SELECT p.slug, p.owner_id, p.title, array_to_json(p.tags)::text, p.difficulty, "
        "p.visibility, p.deleted_at IS NOT NULL, p.current_version, coalesce(v.hash, '') "
        "FROM problems p LEFT JOIN versions v ON v.problem_id = p.id "
        "AND v.number = p.current_version WHERE p.id = $1",
        1, ids, false, &s);
    if (!row)
        return s;
    if (PQntuples(row) != 1) {
        PQclear(row);
        return cc_err_set(CC_NOT_FOUND, "problem %s vanished", problem_id);
    }
    json_t *tags = json_loads(PQgetvalue(row, 0, 3), 0, NULL);
    size_t ntags = json_is_array(tags) ? json_array_size(tags) : 0;
    char **tagv = calloc(ntags ? ntags : 1, sizeof *tagv);
    for (size_t i = 0; tagv && i < ntags; i++)
        tagv[i] = (char *)json_string_value(json_array_get(tags, i));
    Codecourt__V1__ProblemEvent ev = CODECOURT__V1__PROBLEM_EVENT__INIT;
    ev.problem_id = (char *)problem_id;
    ev.slug = PQgetvalue(row, 0, 0);
    ev.owner_id = PQgetvalue(row, 0, 1);
    ev.title = PQgetvalue(row, 0, 2);
    ev.n_tags = tagv ? ntags : 0;
    ev.tags = tagv;
    ev.difficulty = prob_difficulty_parse(PQgetvalue(row, 0, 4));
    ev.visibility = !strcmp(PQgetvalue(row, 0, 5), "public")
                        ? CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC
                        : CODECOURT__V1__VISIBILITY__VISIBILITY_DRAFT;
    ev.deleted = PQgetvalue(row, 0, 6)[0] == 't';
    ev.version = (int32_t)strtol(PQgetvalue(row, 0, 7), NULL, 10);
    ev.version_hash = PQgetvalue(row, 0, 8);
    size_t len = protobuf_c_message_get_packed_size(&ev.base);
    uint8_t *buf = malloc(len + 1);
    if (!buf || !tagv) {
        free(buf);
        free(tagv);
        json_decref(tags);
        PQclear(row);
        return cc_err_set(CC_NOMEM, "outbox: out of memory");
    }
    protobuf_c_message_pack(&ev.base, buf);
    free(tagv);
    json_decref(tags);
    PQclear(row);
    char subject[64];
    snprintf(subject, sizeof subject, "cc.evt.problem.%s", verb);
    const char *vals[] = {subject, "codecourt.v1.ProblemEvent", e ? e->correlation_id : "",
                          e ? e->traceparent : "", e ? e->principal : "", (const char *)buf};
    int lens[] = {0, 0, 0, 0, 0, (int)len};
    int fmts[] = {0, 0, 0, 0, 0, 1};
    /* Same row and NOTIFY as cc_outbox_add, which needs the async pool. */
    PGresult *r = PQexecParams(c,
                               "WITH r AS (INSERT INTO cc_outbox (subject, type, correlation_id, "
                               "traceparent, principal, payload) VALUES ($1, $2, $3, $4, $5, $6) "
                               "RETURNING id) SELECT id, pg_notify('" CC_OUTBOX_CHANNEL
                               "', '') FROM r",
                               6, NULL, vals, lens, fmts, 0);
    free(buf);
    s = CC_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        s = cc_err_set(CC_DB, "outbox: %s", PQresultErrorMessage(r));
    PQclear(r);
    return s;
}

cc_status prob_db_commit(PGconn *c, prob_commit *pc)
{
    cc_status s;
    int cur = 0;
    const pkg_files *p = pc->files;
    const pkg_meta *m = pc->meta;
    if (!pc->problem_id) {
        char rating[16];
        snprintf(rating, sizeof rating, "%d", pc->rating);
        const char *vals[] = {pc->slug, pc->title, pc->owner_id, pc->visibility,
                              pc->tags_json ? pc->tags_json : "[]", pc->difficulty, rating};
        PGresult *r = prob_db_exec(
            c,
            "INSERT INTO problems (slug, title, owner_id, visibility, tags, difficulty, rating) "
            "VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7) "
            "RETURNING id::text",
            7, vals, false, &s);
        if (!r) {
            if (s == CC_EXISTS) {
                pc->out_refused = true;
                return cc_err_set(s, "slug: '%s' is already taken", pc->slug);
            }
            return s;
        }
        snprintf(pc->out_id, sizeof pc->out_id, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    } else {
        const char *vals[] = {pc->problem_id};
        PGresult *r =
            prob_db_exec(c,
                         "SELECT current_version, slug, owner_id FROM problems WHERE id = $1 "
                         "AND deleted_at IS NULL FOR UPDATE",
                         1, vals, false, &s);
        if (!r)
            return s;
        if (PQntuples(r) != 1) {
            PQclear(r);
            pc->out_refused = true;
            return cc_err_set(CC_NOT_FOUND, "problem not found");
        }
        cur = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(pc->out_id, sizeof pc->out_id, "%s", pc->problem_id);
        PQclear(r);
    }
    char hash[65];
    pkg_manifest_hash(p, hash);
    if (cur > 0) {
        char num[16];
        snprintf(num, sizeof num, "%d", cur);
        const char *vals[] = {pc->out_id, num};
        PGresult *r =
            prob_db_exec(c, "SELECT hash FROM versions WHERE problem_id = $1 AND number = $2", 2,
                         vals, false, &s);
        if (!r)
            return s;
        bool same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), hash) == 0;
        PQclear(r);
        if (same) {
            pc->out_version = cur;
            pc->out_new_version = false;
            return CC_OK;
        }
    }
    char *files = files_json(p);
    if (!files)
        return cc_err_set(CC_NOMEM, "files: out of memory");
    char num[16], tl[24], mem[24], out[24], samples[16], tests[16], nfiles[16], total[32];
    snprintf(num, sizeof num, "%d", cur + 1);
    snprintf(tl, sizeof tl, "%" PRId64, m->time_limit_ms);
    snprintf(mem, sizeof mem, "%" PRId64, m->memory_mib);
    snprintf(out, sizeof out, "%" PRId64, m->output_mib);
    snprintf(samples, sizeof samples, "%d", m->sample_count);
    snprintf(tests, sizeof tests, "%d", m->test_count);
    snprintf(nfiles, sizeof nfiles, "%zu", p->nfiles);
    snprintf(total, sizeof total, "%" PRId64, p->total_size);
    const char *vals[] = {pc->out_id,
                          num,
                          hash,
                          files,
                          prob_type_name(prob_type_of(m)),
                          tl,
                          mem,
                          out,
                          m->custom_validator ? "custom" : "default",
                          m->validator_flags ? m->validator_flags : "",
                          m->statement_md ? m->statement_md : "",
                          pc->statement_html ? pc->statement_html : "",
                          samples,
                          tests,
                          nfiles,
                          total,
                          pc->created_by ? pc->created_by : ""};
    s = exec0(c,
              "INSERT INTO versions (problem_id, number, hash, files, type, time_limit_ms, "
              "memory_mib, output_mib, checker, validator_flags, statement_md, statement_html, "
              "sample_count, test_count, file_count, total_size, created_by) VALUES ($1, $2, $3, "
              "$4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
              17, vals);
    free(files);
    if (s != CC_OK)
        return s;
    const char *uvals[] = {pc->out_id, num};
    IFOK(s, exec0(c, "UPDATE problems SET current_version = $2, updated_at = now() WHERE id = $1",
                  2, uvals));
    pc->out_version = cur + 1;
    pc->out_new_version = true;
    if (!pc->problem_id)
        IFOK(s, prob_db_event(c, "created", pc->out_id, pc->env));
    IFOK(s, prob_db_event(c, "version_created", pc->out_id, pc->env));
    return s;
}

cc_status prob_db_load_files(PGconn *c, const char *problem_id, int version, pkg_files *p)
{
    char num[16];
    snprintf(num, sizeof num, "%d", version);
    const char *vals[] = {problem_id, num};
    cc_status s;
    PGresult *r = prob_db_exec(c,
                               "SELECT f->>'path', f->>'sha256', (f->>'size')::bigint FROM "
                               "versions v, jsonb_array_elements(v.files) f WHERE "
                               "v.problem_id = $1 AND v.number = $2",
                               2, vals, false, &s);
    if (!r)
        return s;
    for (int i = 0; s == CC_OK && i < PQntuples(r); i++) {
        const char *path = PQgetvalue(r, i, 0), *sha = PQgetvalue(r, i, 1);
        int64_t size = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        char *text = NULL;
        bool small = size <= pkg_local_limits.max_text && pkg_is_text_file(path);
        if (small) {
            text = malloc((size_t)size + 1);
            if (!text) {
                s = cc_err_set(CC_NOMEM, "%s: out of memory (%" PRId64 " bytes)", path, size);
                break;
            }
            int64_t got = 0;
            while (got < size) {
                int64_t n = prob_db_read(c, sha, got, text + got, (size_t)(size - got));
                if (n <= 0)
                    break;
                got += n;
            }
            text[got] = '\0';
            /* Binary content is not text the reader can parse, as in a
             * package read from a zip. */
            if (strlen(text) != (size_t)got) {
                free(text);
                text = NULL;
            }
        }
        pkg_add(p, path, sha, size, text);
        free(text);
    }
    PQclear(r);
    return s;
}
