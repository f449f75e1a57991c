/* The requests that make a new version — CreateProblem, UpdateProblem,
 * UploadTests, ImportPackage — and ExportPackage. Each runs on libuv's
 * thread pool with a blocking connection of its own: package parsing,
 * hashing, Markdown rendering and blob streaming never touch the loop,
 * and each request is one transaction (blobs, problem, version, events),
 * so a failure leaves nothing behind. */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/log.h"
#include "problem.h"

enum { J_CREATE, J_UPDATE, J_TESTS, J_IMPORT, J_EXPORT };

typedef struct job {
    int kind;
    cc_rpc_call *call;
    prob_state *st;
    const ProtobufCMessage *req; /* read-only while the job runs */
    const char *who;             /* the caller's id, owned by the call (outlives the job) */
    cc_role role;
    cc_envelope env;
    /* outputs */
    cc_status s;
    char err[600]; /* why it failed: cc_err_msg() of the job's thread, kept for the loop */
    bool db;       /* a database step failed: the runtime's policy answers (cc_rpc_fail_db) */
    char problem_id[40];
    bool created, new_version;
    char sha[65];
    int64_t size;
    char **warnings;
    size_t nwarnings;
} job;

static void free_warnings(job *j)
{
    for (size_t i = 0; i < j->nwarnings; i++)
        free(j->warnings[i]);
    free(j->warnings);
    j->warnings = NULL;
    j->nwarnings = 0;
}

/* The job refuses the request (st, and a message for the caller). */
#define FAIL(j, st, ...)                                                                           \
    (snprintf((j)->err, sizeof(j)->err, __VA_ARGS__), (j)->db = false, (j)->s = (st))

/* A database step failed with s; cc_err_msg() says how (store.c sets it
 * on this thread), and the loop answers by the database-failure policy. */
static cc_status db_failed(job *j, cc_status s)
{
    snprintf(j->err, sizeof j->err, "%s", cc_err_msg());
    j->db = true;
    return j->s = s;
}

static bool can_edit(const job *j, const char *owner)
{
    return j->role == CC_ROLE_ADMIN || (j->role == CC_ROLE_SETTER && !strcmp(owner, j->who));
}

/* Looks up a live problem by slug: id, owner, current version and
 * whether it is public. */
static cc_status find_problem(PGconn *c, job *j, const char *slug, char id[40], char owner[64],
                              int *cur, bool *public)
{
    const char *vals[] = {slug};
    cc_status s;
    PGresult *r = prob_db_exec(c,
                               "SELECT id::text, owner_id, current_version, visibility = 'public' "
                               "FROM problems WHERE slug = $1 AND deleted_at IS NULL",
                               1, vals, false, &s);
    if (!r)
        return db_failed(j, s);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return FAIL(j, CC_NOT_FOUND, "problem '%s' not found", slug);
    }
    snprintf(id, 40, "%s", PQgetvalue(r, 0, 0));
    snprintf(owner, 64, "%s", PQgetvalue(r, 0, 1));
    *cur = (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
    *public = PQgetvalue(r, 0, 3)[0] == 't';
    PQclear(r);
    return CC_OK;
}

/* find_problem for a change the caller means to make (to: "change it",
 * "export it" ...). A draft the caller may not see is "not found", as
 * GetProblem and DeleteProblem answer, so a mutating route does not tell
 * that the slug exists; a problem it sees but may not edit is CC_DENIED. */
static cc_status find_editable(PGconn *c, job *j, const char *slug, char id[40], char owner[64],
                               int *cur, const char *to)
{
    bool public = false;
    if (find_problem(c, j, slug, id, owner, cur, &public) != CC_OK)
        return j->s;
    bool sees = public || j->role == CC_ROLE_ADMIN || (j->who[0] && !strcmp(owner, j->who));
    if (!sees)
        return FAIL(j, CC_NOT_FOUND, "problem '%s' not found", slug);
    if (!can_edit(j, owner))
        return FAIL(j, CC_DENIED, "only the problem's owner or an admin may %s", to);
    return CC_OK;
}

/* Sorts p; a path given twice is the caller's error. */
static cc_status sort_files(job *j, pkg_files *p)
{
    if (pkg_sort(p, NULL) != CC_OK)
        return FAIL(j, CC_UNPROCESSABLE, "%s", cc_err_msg());
    return CC_OK;
}

/* The files of version v into p (empty on entry), sorted as a package
 * read would sort them; frees p on failure. */
static cc_status load_files(PGconn *c, job *j, const char *id, int v, pkg_files *p)
{
    cc_status s = prob_db_load_files(c, id, v, p);
    if (s != CC_OK)
        db_failed(j, s);
    else
        sort_files(j, p);
    if (j->s != CC_OK)
        pkg_free(p);
    return j->s;
}

/* Size of stored blob sha as reader (prob_blob_reader's value, not NULL)
 * may see it: CC_NOT_FOUND (no message: the caller names the field) when
 * it was never uploaded or reader may not read it, the two alike. */
static cc_status blob_size(PGconn *c, job *j, const char *sha, const char *reader, int64_t *size)
{
    const char *vals[] = {sha, reader};
    cc_status s;
    PGresult *r = prob_db_exec(
        c, "SELECT size FROM blobs WHERE sha256 = $1 AND " PROB_BLOB_READABLE("$1", "$2"), 2, vals,
        false, &s);
    if (!r)
        return db_failed(j, s);
    if (PQntuples(r) == 1)
        *size = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        s = CC_NOT_FOUND;
    PQclear(r);
    return s;
}

static char *tags_json(char **tags, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(tags[i]));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static bool tags_ok(char **tags, size_t n)
{
    if (n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(tags[i]);
        if (l == 0 || l > 40)
            return false;
        for (size_t k = 0; k < l; k++)
            if ((unsigned char)tags[i][k] < 0x20)
                return false;
    }
    return true;
}

/* Replaces (or adds) path in p with content stored as a blob. */
static cc_status put_file(PGconn *c, job *j, pkg_files *p, const char *path, const char *content)
{
    char sha[65];
    size_t len = strlen(content);
    cc_status s = prob_db_put_mem(c, content, len, sha);
    if (s != CC_OK)
        return db_failed(j, s);
    for (size_t i = 0; i < p->nfiles; i++)
        if (!strcmp(p->files[i].path, path)) {
            p->total_size += (int64_t)len - p->files[i].size;
            snprintf(p->files[i].sha256, 65, "%s", sha);
            p->files[i].size = (int64_t)len;
            free(p->files[i].text);
            p->files[i].text = strdup(content);
            return p->files[i].text ? CC_OK : FAIL(j, CC_NOMEM, "out of memory");
        }
    pkg_add(p, path, sha, (int64_t)len, content);
    return sort_files(j, p);
}

static void drop_prefix(pkg_files *p, const char *prefix)
{
    size_t o = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        if (!strncmp(p->files[i].path, prefix, strlen(prefix))) {
            p->total_size -= p->files[i].size;
            free(p->files[i].path);
            free(p->files[i].src);
            free(p->files[i].text);
        } else {
            p->files[o++] = p->files[i];
        }
    }
    p->nfiles = o;
}

/* Checks p with the package reader (the judge's own); the warnings are
 * kept for the reply. */
static cc_status check(job *j, const pkg_files *p, bool allow_no_tests, pkg_meta *m)
{
    pkg_check_opts o = {.allow_no_tests = allow_no_tests};
    pkg_diags d = {0};
    if (pkg_check(p, &o, m, &d) != CC_OK) {
        pkg_diags_free(&d);
        return FAIL(j, CC_UNPROCESSABLE, "%s", cc_err_msg());
    }
    free_warnings(j);
    for (size_t i = 0; i < d.n; i++) {
        if (d.v[i].level != PKG_WARNING)
            continue;
        j->warnings = realloc(j->warnings, (j->nwarnings + 1) * sizeof *j->warnings);
        if (!j->warnings)
            abort();
        j->warnings[j->nwarnings++] = pkg_diag_str(&d.v[i]);
    }
    pkg_diags_free(&d);
    return CC_OK;
}

/* Checks p, renders its statement and commits it as a version. pc->title
 * NULL takes the package's name (or the slug). */
static void commit(PGconn *c, job *j, pkg_files *p, bool allow_no_tests, prob_commit *pc)
{
    pkg_meta m;
    if (check(j, p, allow_no_tests, &m) != CC_OK)
        return;
    char *html = prob_markdown_html(m.statement_md, strlen(m.statement_md));
    if (!html) {
        pkg_meta_free(&m);
        FAIL(j, CC_NOMEM, "out of memory");
        return;
    }
    if (!pc->title)
        pc->title = m.name[0] ? m.name : pc->slug;
    pc->files = p;
    pc->meta = &m;
    pc->statement_html = html;
    pc->env = &j->env;
    pc->created_by = j->who;
    cc_status s = prob_db_commit(c, pc);
    if (s != CC_OK && pc->out_refused)
        FAIL(j, s, "%s", cc_err_msg());
    else if (s != CC_OK)
        db_failed(j, s);
    free(html);
    pkg_meta_free(&m);
    if (j->s == CC_OK) {
        snprintf(j->problem_id, sizeof j->problem_id, "%s", pc->out_id);
        j->new_version = pc->out_new_version;
        j->created = !pc->problem_id;
    }
}

static void do_create(PGconn *c, job *j)
{
    const Codecourt__V1__CreateProblemRequest *rq = (const void *)j->req;
    pkg_files p = {0};
    const Codecourt__V1__Limits *l = rq->limits;
    const Codecourt__V1__Checker *k = rq->checker;
    int type = rq->type ? (int)rq->type : CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_PASS_FAIL;
    bool scoring = type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_SCORING ||
                   type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING;
    bool interactive = type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE ||
                       type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING;
    char *yaml = pkg_problem_yaml(rq->title, scoring, interactive, l ? l->time_limit_ms : 0,
                                  l ? l->memory_mib : 0, l ? l->output_mib : 0,
                                  k && k->kind == CODECOURT__V1__CHECKER_KIND__CHECKER_KIND_CUSTOM,
                                  k ? k->validator_flags : "");
    char *tags = tags_json(rq->tags, rq->n_tags);
    if (!yaml || !tags) {
        FAIL(j, CC_NOMEM, "out of memory");
    } else if (put_file(c, j, &p, "problem.yaml", yaml) == CC_OK &&
               (!rq->statement_markdown[0] ||
                put_file(c, j, &p, "statement/problem.en.md", rq->statement_markdown) == CC_OK)) {
        /* A custom checker is named now and uploaded with a package. */
        prob_commit pc = {
            .slug = rq->slug,
            .title = rq->title,
            .owner_id = j->who,
            .visibility = rq->visibility == CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC ? "public"
                                                                                          : "draft",
            .difficulty = prob_difficulty_name(rq->difficulty),
            .tags_json = tags,
            .rating = rq->rating,
        };
        commit(c, j, &p, true, &pc);
        if (j->s == CC_UNPROCESSABLE && k &&
            k->kind == CODECOURT__V1__CHECKER_KIND__CHECKER_KIND_CUSTOM)
            FAIL(j, CC_UNPROCESSABLE, "checker: a custom checker comes with its output validator: "
                                      "import a package");
    }
    free(yaml);
    free(tags);
    pkg_free(&p);
}

static void do_update(PGconn *c, job *j)
{
    const Codecourt__V1__UpdateProblemRequest *rq = (const void *)j->req;
    char id[40], owner[64];
    int cur = 0;
    if (find_editable(c, j, rq->slug, id, owner, &cur, "change it") != CC_OK)
        return;
    /* Problem-level fields: no new version. */
    char *tags = rq->replace_tags ? tags_json(rq->tags, rq->n_tags) : NULL;
    char rating[16];
    snprintf(rating, sizeof rating, "%d", rq->rating);
    const char *vis = rq->visibility == CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC  ? "public"
                      : rq->visibility == CODECOURT__V1__VISIBILITY__VISIBILITY_DRAFT ? "draft"
                                                                                      : NULL;
    const char *vals[] = {id, rq->title[0] ? rq->title : NULL, tags,
                          rq->difficulty ? prob_difficulty_name(rq->difficulty) : NULL,
                          rq->rating ? rating : NULL, vis};
    cc_status s;
    PGresult *r = prob_db_exec(
        c,
        /* ARRAY(SELECT ...) of a NULL document is an empty array, not
         * NULL, so "keep the tags" must be said with CASE. */
        "UPDATE problems SET title = COALESCE($2, title), tags = CASE WHEN $3::jsonb IS NULL "
        "THEN tags ELSE ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) END, "
        "difficulty = COALESCE($4, difficulty), "
        "rating = CASE WHEN $5::int IS NULL THEN rating WHEN $5::int < 0 THEN 0 ELSE $5::int END, "
        "visibility = COALESCE($6, visibility), updated_at = now() WHERE id = $1",
        6, vals, false, &s);
    free(tags);
    PQclear(r);
    if (s != CC_OK) {
        db_failed(j, s);
        return;
    }
    snprintf(j->problem_id, sizeof j->problem_id, "%s", id);
    bool leveled = rq->title[0] || rq->replace_tags || rq->difficulty || rq->visibility;
    if (leveled) {
        cc_status es = prob_db_event(c, "updated", id, &j->env);
        if (es != CC_OK) {
            db_failed(j, es);
            return;
        }
    }
    bool versioned = rq->statement_markdown[0] || rq->limits || rq->checker;
    if (!versioned)
        return;
    pkg_files p = {0};
    if (load_files(c, j, id, cur, &p) != CC_OK)
        return;
    /* The current metadata, from the current files. */
    pkg_meta m;
    if (check(j, &p, true, &m) != CC_OK) {
        pkg_free(&p);
        return;
    }
    const char *st_path = m.statement_path ? m.statement_path : "statement/problem.en.md";
    char *st_copy = strdup(st_path);
    if (!st_copy || (rq->statement_markdown[0] &&
                     put_file(c, j, &p, st_copy, rq->statement_markdown) != CC_OK)) {
        if (!st_copy)
            FAIL(j, CC_NOMEM, "out of memory");
        free(st_copy);
        pkg_meta_free(&m);
        pkg_free(&p);
        return;
    }
    free(st_copy);
    if (rq->limits || rq->checker) {
        int64_t tl = rq->limits ? rq->limits->time_limit_ms
                                : (m.time_limit_given ? m.time_limit_ms : 0);
        int64_t mem = rq->limits ? rq->limits->memory_mib : m.memory_mib;
        int64_t out = rq->limits ? rq->limits->output_mib : m.output_mib;
        bool custom = rq->checker ? rq->checker->kind ==
                                        CODECOURT__V1__CHECKER_KIND__CHECKER_KIND_CUSTOM
                                  : m.custom_validator;
        const char *flags = rq->checker ? rq->checker->validator_flags : m.validator_flags;
        const char *title = rq->title[0] ? rq->title : m.name;
        /* problem.yaml is rewritten in the legacy form the judge reads;
         * keys the service does not model are not kept. */
        char *yaml = pkg_problem_yaml(title, m.scoring, m.interactive, tl, mem, out, custom,
                                      flags ? flags : "");
        if (put_file(c, j, &p, "problem.yaml", yaml) != CC_OK) {
            free(yaml);
            pkg_meta_free(&m);
            pkg_free(&p);
            return;
        }
        free(yaml);
    }
    pkg_meta_free(&m);
    prob_commit pc = {.problem_id = id, .slug = rq->slug, .owner_id = owner, .title = ""};
    commit(c, j, &p, true, &pc);
    pkg_free(&p);
}

static void do_tests(PGconn *c, job *j)
{
    const Codecourt__V1__UploadTestsRequest *rq = (const void *)j->req;
    char id[40], owner[64];
    int cur = 0;
    if (find_editable(c, j, rq->slug, id, owner, &cur, "change its tests") != CC_OK)
        return;
    pkg_files p = {0};
    if (load_files(c, j, id, cur, &p) != CC_OK)
        return;
    drop_prefix(&p, "data/");
    /* Only blobs the caller may read, by GetBlob's rule: naming a hash
     * is not holding the bytes, and ExportPackage would hand back what is
     * attached here. An unreadable blob is answered as one never
     * uploaded, so hashes cannot be probed. find_editable let only
     * setters and admins through, so the reader is not NULL. */
    const char *reader = prob_blob_reader(j->role, j->who);
    for (size_t i = 0; i < rq->n_tests && j->s == CC_OK; i++) {
        const Codecourt__V1__TestCase *t = rq->tests[i];
        if (strncmp(t->path, "sample/", 7) && strncmp(t->path, "secret/", 7)) {
            FAIL(j, CC_INVALID, "tests[%zu].path: must start with sample/ or secret/", i);
            break;
        }
        const char *sh[2] = {t->input_sha256, t->answer_sha256};
        static const char *const field[2] = {"input_sha256", "answer_sha256"};
        for (int k = 0; k < 2 && j->s == CC_OK; k++) {
            int64_t size = 0;
            cc_status s = blob_size(c, j, sh[k], reader, &size);
            if (s == CC_NOT_FOUND) {
                FAIL(j, CC_NOT_FOUND, "tests[%zu].%s: no such blob (upload it first)", i, field[k]);
            } else if (s == CC_OK) {
                char path[600];
                snprintf(path, sizeof path, "data/%.500s.%s", t->path, k ? "ans" : "in");
                pkg_add(&p, path, sh[k], size, NULL);
            }
        }
    }
    for (size_t i = 0; i < rq->n_groups && j->s == CC_OK; i++) {
        char path[600];
        snprintf(path, sizeof path, "data/%.500s/testdata.yaml", rq->groups[i]->path);
        put_file(c, j, &p, path, rq->groups[i]->testdata_yaml);
    }
    if (j->s == CC_OK && pkg_sort(&p, NULL) != CC_OK)
        FAIL(j, CC_INVALID, "%s", cc_err_msg());
    if (j->s == CC_OK) {
        prob_commit pc = {.problem_id = id, .slug = rq->slug, .owner_id = owner, .title = ""};
        commit(c, j, &p, false, &pc);
    }
    pkg_free(&p);
}

/* ---- import ------------------------------------------------------------------ */

typedef struct sink_ctx {
    PGconn *c;
    job *j;
    prob_blob_writer w;
    const pkg_file *cur;
    size_t chunk;
} sink_ctx;

/* A failure here is the store's (db_failed keeps its message before the
 * zip reader wraps it); any other failure of the stream is the package's. */
static cc_status sink(void *ud, const pkg_file *f, const void *data, size_t len, bool last)
{
    sink_ctx *s = ud;
    cc_status st = CC_OK;
    if (s->cur != f) {
        s->cur = f;
        st = prob_db_writer_begin(&s->w, s->c, f->sha256, f->size, s->chunk);
    }
    IFOK(st, prob_db_writer_add(&s->w, data, len));
    if (last) {
        IFOK(st, prob_db_writer_end(&s->w));
        free(s->w.buf);
        s->w.buf = NULL;
        s->cur = NULL;
    }
    return st == CC_OK ? CC_OK : db_failed(s->j, st);
}

/* Copies blob sha into a new temporary file; returns its fd or -1. */
static int blob_to_temp(PGconn *c, job *j, const char *sha, char path[64])
{
    snprintf(path, 64, "/tmp/cc-problem-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        FAIL(j, CC_IO, "cannot create a temporary file");
        return -1;
    }
    unlink(path);
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    unsigned char *buf = malloc(512 * 1024);
    int64_t off = 0, n;
    while (buf && (n = prob_db_read(c, sha, off, buf, 512 * 1024)) > 0) {
        if (write(fd, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
        off += n;
    }
    free(buf);
    if (!buf || off != j->size) {
        close(fd);
        FAIL(j, CC_IO, "cannot read the package blob");
        return -1;
    }
    return fd;
}

/* Lists the importer as a reader of every file of package p: it holds
 * the zip, so it holds each file's bytes, and may name them (UploadTests)
 * or read them (GetBlob) as if it had uploaded them one by one. A caller
 * who reads any blob (prob_blob_reader's "") needs no rows. Inside the
 * import's transaction, so a failed import lists nobody. */
static cc_status grant_files(PGconn *c, job *j, const pkg_files *p)
{
    const char *reader = prob_blob_reader(j->role, j->who);
    if (!reader || !reader[0] || p->nfiles == 0)
        return CC_OK;
    /* A text[] literal: hashes are hex, so nothing needs quoting. */
    char *shas = malloc(p->nfiles * 65 + 2);
    if (!shas)
        return FAIL(j, CC_NOMEM, "out of memory");
    size_t n = 0;
    shas[n++] = '{';
    for (size_t i = 0; i < p->nfiles; i++) {
        memcpy(shas + n, p->files[i].sha256, 64);
        n += 64;
        shas[n++] = i + 1 < p->nfiles ? ',' : '}';
    }
    shas[n] = '\0';
    const char *vals[] = {shas, reader};
    cc_status s;
    PQclear(prob_db_exec(c,
                         "INSERT INTO blob_readers (sha256, user_id) SELECT DISTINCT "
                         "unnest($1::text[]), $2 ON CONFLICT DO NOTHING",
                         2, vals, false, &s));
    free(shas);
    return s == CC_OK ? CC_OK : db_failed(j, s);
}

static void do_import(PGconn *c, job *j)
{
    const Codecourt__V1__ImportPackageRequest *rq = (const void *)j->req;
    if (j->role != CC_ROLE_ADMIN && j->role != CC_ROLE_SETTER) {
        FAIL(j, CC_DENIED, "only setters and admins may import problems");
        return;
    }
    /* Only a zip the caller may read, by GetBlob's rule: another setter's
     * zip, whose hash leaked, is "no such blob" as a hash never uploaded
     * is, so the answer does not tell that it exists. Only setters and
     * admins get here, so the reader is not NULL. */
    cc_status s = blob_size(c, j, rq->sha256, prob_blob_reader(j->role, j->who), &j->size);
    if (s == CC_NOT_FOUND)
        FAIL(j, CC_NOT_FOUND, "sha256: no such blob (upload the zip first)");
    if (s != CC_OK)
        return;
    char path[64];
    int fd = blob_to_temp(c, j, rq->sha256, path);
    if (fd < 0)
        return;
    pkg_files p;
    pkg_limits lim = {.max_files = (size_t)j->st->cfg->max_files,
                      .max_total = j->st->cfg->max_package,
                      .max_text = pkg_local_limits.max_text};
    /* Read and checked before anything is stored: a refused package
     * writes nothing. */
    pkg_meta m = {0};
    if (pkg_read_zip_file(path, &lim, &p, NULL) != CC_OK) {
        FAIL(j, CC_UNPROCESSABLE, "%s", cc_err_msg());
        close(fd);
        return;
    }
    if (check(j, &p, false, &m) != CC_OK) {
        pkg_free(&p);
        close(fd);
        return;
    }
    const char *slug = rq->slug[0] ? rq->slug : (p.top ? p.top : "");
    char id[40] = "", owner[64] = "";
    int cur = 0;
    if (!prob_slug_ok(slug)) {
        FAIL(j, CC_INVALID, "slug: '%.80s' is not a valid slug ([a-z0-9][a-z0-9-]{1,63})", slug);
    } else if (find_editable(c, j, slug, id, owner, &cur, "change it") == CC_NOT_FOUND) {
        /* A new problem. Another's draft is not found either: creating
         * it then fails on the slug, as CreateProblem does. */
        j->s = CC_OK;
        id[0] = '\0';
    }
    if (j->s == CC_OK) {
        PQclear(prob_db_exec(c, "BEGIN", 0, NULL, false, &s));
        if (s != CC_OK)
            db_failed(j, s);
    }
    if (j->s == CC_OK) {
        sink_ctx sc = {.c = c, .j = j, .chunk = (size_t)j->st->cfg->chunk};
        cc_status ss = pkg_stream_zip(path, &p, sink, &sc);
        if (ss != CC_OK) {
            free(sc.w.buf);
            if (!j->db) /* else sink said why */
                FAIL(j, CC_UNPROCESSABLE, "%s", cc_err_msg());
        } else {
            char title[256];
            snprintf(title, sizeof title, "%s", m.name[0] ? m.name : slug);
            prob_commit pc = {.problem_id = id[0] ? id : NULL,
                              .slug = slug,
                              .title = title,
                              .owner_id = id[0] ? owner : j->who,
                              .visibility = rq->visibility ==
                                                    CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC
                                                ? "public"
                                                : "draft",
                              .difficulty = "",
                              .tags_json = "[]"};
            commit(c, j, &p, false, &pc);
            if (j->s == CC_OK)
                grant_files(c, j, &p);
        }
        PQclear(PQexec(c, j->s == CC_OK ? "COMMIT" : "ROLLBACK"));
    }
    pkg_meta_free(&m);
    pkg_free(&p);
    close(fd);
}

/* ---- export ------------------------------------------------------------------ */

static int64_t read_blob(void *ud, const pkg_file *f, int64_t off, void *buf, size_t cap)
{
    return prob_db_read(ud, f->sha256, off, buf, cap);
}

static void do_export(PGconn *c, job *j)
{
    const Codecourt__V1__ExportPackageRequest *rq = (const void *)j->req;
    char id[40], owner[64];
    int cur = 0;
    if (find_editable(c, j, rq->slug, id, owner, &cur, "export it (secret data)") != CC_OK)
        return;
    pkg_files p = {0};
    int v = rq->version > 0 ? rq->version : cur;
    if (load_files(c, j, id, v, &p) != CC_OK)
        return;
    if (p.nfiles == 0) {
        pkg_free(&p);
        FAIL(j, CC_NOT_FOUND, "version %d not found", v);
        return;
    }
    char path[] = "/tmp/cc-export-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        pkg_free(&p);
        FAIL(j, CC_IO, "cannot create a temporary file");
        return;
    }
    if (pkg_write_zip(path, rq->slug, &p, read_blob, c) != CC_OK) {
        FAIL(j, CC_IO, "%s", cc_err_msg());
    } else {
        /* Hash, then store: the blob's name must be known before its row. */
        FILE *f = fopen(path, "rb");
        unsigned char *buf = malloc(1 << 20);
        size_t n;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        j->size = 0;
        while (f && buf && (n = fread(buf, 1, 1 << 20, f)) > 0) {
            EVP_DigestUpdate(md, buf, n);
            j->size += (int64_t)n;
        }
        unsigned char d[32];
        unsigned int dl;
        EVP_DigestFinal_ex(md, d, &dl);
        EVP_MD_CTX_free(md);
        for (int i = 0; i < 32; i++)
            snprintf(j->sha + 2 * i, 3, "%02x", d[i]);
        cc_status s;
        PGresult *r = prob_db_exec(c, "BEGIN", 0, NULL, false, &s);
        PQclear(r);
        prob_blob_writer w;
        if (f && buf && s == CC_OK) {
            rewind(f);
            s = prob_db_writer_begin(&w, c, j->sha, j->size, (size_t)j->st->cfg->chunk);
            while (s == CC_OK && (n = fread(buf, 1, 1 << 20, f)) > 0)
                s = prob_db_writer_add(&w, buf, n);
            IFOK(s, prob_db_writer_end(&w));
            free(w.buf);
            /* The exporter may download it through the gateway. */
            if (s == CC_OK && j->who[0]) {
                const char *gv[] = {j->sha, j->who};
                PQclear(prob_db_exec(c,
                                     "INSERT INTO blob_readers (sha256, user_id) VALUES ($1, $2) "
                                     "ON CONFLICT DO NOTHING",
                                     2, gv, false, &s));
            }
        } else if (s == CC_OK) {
            s = cc_err_set(CC_NOMEM, "export: out of memory");
        }
        if (s != CC_OK)
            db_failed(j, s);
        PQclear(PQexec(c, s == CC_OK ? "COMMIT" : "ROLLBACK"));
        free(buf);
        if (f)
            fclose(f);
    }
    close(fd);
    unlink(path);
    pkg_free(&p);
}

/* ---- running a job --------------------------------------------------------------- */

static cc_status work(void *ud)
{
    job *j = ud;
    PGconn *c = prob_db_connect(j->st);
    if (!c)
        return db_failed(j, CC_UNAVAILABLE);
    j->s = CC_OK;
    switch (j->kind) {
    case J_IMPORT:
        do_import(c, j);
        break;
    case J_EXPORT:
        do_export(c, j);
        break;
    default: {
        cc_status s;
        PQclear(prob_db_exec(c, "BEGIN", 0, NULL, false, &s));
        if (s != CC_OK)
            db_failed(j, s);
        else if (j->kind == J_CREATE)
            do_create(c, j);
        else if (j->kind == J_UPDATE)
            do_update(c, j);
        else
            do_tests(c, j);
        PQclear(PQexec(c, j->s == CC_OK ? "COMMIT" : "ROLLBACK"));
        break;
    }
    }
    PQfinish(c);
    return j->s;
}

static void reply_loaded(cc_rpc_call *call, Codecourt__V1__Problem *p, void *ud)
{
    job *j = ud;
    /* The job lives in the call's arena, which the reply frees: take the
     * warnings (malloc'd) out first and free them after. */
    job keep = {.warnings = j->warnings, .nwarnings = j->nwarnings};
    j->warnings = NULL;
    j->nwarnings = 0;
    if (j->kind == J_IMPORT) {
        Codecourt__V1__ImportPackageReply rep = CODECOURT__V1__IMPORT_PACKAGE_REPLY__INIT;
        rep.problem = p;
        rep.created = j->created;
        rep.new_version = j->new_version;
        rep.warnings = keep.warnings;
        rep.n_warnings = keep.nwarnings;
        cc_rpc_reply(call, &rep.base);
    } else {
        cc_rpc_reply(call, &p->base);
    }
    free_warnings(&keep);
}

static const char *const job_names[] = {[J_CREATE] = "create problem",
                                        [J_UPDATE] = "update problem",
                                        [J_TESTS] = "upload tests",
                                        [J_IMPORT] = "import package",
                                        [J_EXPORT] = "export package"};

static void done(cc_status s, void *ud)
{
    job *j = ud;
    if (j->s != CC_OK) {
        free_warnings(j);
        if (j->db) {
            cc_rpc_fail_db(j->call, j->s, j->err, job_names[j->kind]);
        } else if (j->s == CC_NOMEM || j->s == CC_IO) {
            cc_log(CC_LOG_ERROR, &j->env, "problem job failed", "{s:s}", "error", j->err);
            cc_rpc_fail(j->call, CC_INTERNAL, "internal error");
        } else {
            cc_rpc_fail(j->call, j->s, "%s", j->err);
        }
        return;
    }
    if (j->kind == J_EXPORT) {
        Codecourt__V1__Blob b = CODECOURT__V1__BLOB__INIT;
        b.sha256 = j->sha;
        b.size = j->size;
        cc_rpc_reply(j->call, &b.base);
        return;
    }
    /* The reply is the problem as a Get would show it to the caller. */
    prob_load(j->call, j->st, j->problem_id, 0, true, reply_loaded, j);
}

static void start_job(cc_rpc_call *call, void *actor, int kind, const ProtobufCMessage *req)
{
    job *j = cc_arena_alloc(cc_rpc_arena(call), sizeof *j);
    if (!j) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->call = call;
    j->st = prob_state_of(actor);
    j->req = req;
    j->who = cc_rpc_principal(call)->id;
    j->role = cc_rpc_principal(call)->role;
    j->env = *cc_rpc_envelope(call);
    cc_status s = cc_bus_offload(cc_rpc_bus(call), work, done, j);
    if (s != CC_OK)
        cc_rpc_fail(call, CC_UNAVAILABLE, "cannot queue the work");
}

/* The fields CreateProblem and UpdateProblem share, with the same bounds.
 * An update may leave the title empty (kept) and send rating -1 (reset
 * to 0; 0 keeps it). Answers the call and returns false at the first bad
 * field, named first in the message. */
static bool fields_ok(cc_rpc_call *call, bool update, const char *title, char **tags, size_t n_tags,
                      int32_t rating, const char *statement, const Codecourt__V1__Limits *l)
{
    size_t tl = strlen(title);
    if ((tl == 0 && !update) || tl > 200) {
        cc_rpc_fail(call, CC_INVALID, "title: must be 1 to 200 bytes");
        return false;
    }
    if (!tags_ok(tags, n_tags)) {
        cc_rpc_fail(call, CC_INVALID, "tags: at most 20 tags of 1 to 40 bytes");
        return false;
    }
    if (rating < (update ? -1 : 0) || rating > 10000) {
        cc_rpc_fail(call, CC_INVALID, "rating: must be %s to 10000", update ? "-1 (reset)" : "0");
        return false;
    }
    if (strlen(statement) > (1 << 20)) {
        cc_rpc_fail(call, CC_INVALID, "statement_markdown: at most 1 MiB");
        return false;
    }
    if (l && (l->time_limit_ms < 0 || l->time_limit_ms > 60000 || l->memory_mib < 0 ||
              l->memory_mib > 65536 || l->output_mib < 0 || l->output_mib > 65536)) {
        cc_rpc_fail(call, CC_INVALID, "limits: time 0..60000 ms, memory and output 0..65536 MiB");
        return false;
    }
    return true;
}

void prob_create(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__CreateProblemRequest *rq = (const void *)req;
    cc_role role = cc_rpc_principal(call)->role;
    if (role != CC_ROLE_SETTER && role != CC_ROLE_ADMIN) {
        cc_rpc_fail(call, CC_DENIED, "only setters and admins may create problems");
        return;
    }
    if (!prob_slug_ok(rq->slug)) {
        cc_rpc_fail(call, CC_INVALID, "slug: must match [a-z0-9][a-z0-9-]{1,63}");
        return;
    }
    if (fields_ok(call, false, rq->title, rq->tags, rq->n_tags, rq->rating, rq->statement_markdown,
                  rq->limits))
        start_job(call, actor, J_CREATE, req);
}

void prob_update(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__UpdateProblemRequest *rq = (const void *)req;
    if (fields_ok(call, true, rq->title, rq->tags, rq->n_tags, rq->rating, rq->statement_markdown,
                  rq->limits))
        start_job(call, actor, J_UPDATE, req);
}

void prob_upload_tests(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__UploadTestsRequest *rq = (const void *)req;
    for (size_t i = 0; i < rq->n_tests; i++)
        if (!prob_sha_ok(rq->tests[i]->input_sha256) || !prob_sha_ok(rq->tests[i]->answer_sha256)) {
            cc_rpc_fail(call, CC_INVALID, "tests[%zu]: sha256 must be 64 lowercase hex digits", i);
            return;
        }
    start_job(call, actor, J_TESTS, req);
}

void prob_import(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ImportPackageRequest *rq = (const void *)req;
    if (!prob_sha_ok(rq->sha256)) {
        cc_rpc_fail(call, CC_INVALID, "sha256: must be 64 lowercase hex digits");
        return;
    }
    start_job(call, actor, J_IMPORT, req);
}

void prob_export(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    start_job(call, actor, J_EXPORT, req);
}
