/* cc-judge serve, the job thread: decode the job, rebuild its package
 * folder from the content-addressed blob cache (fetching what is missing
 * over GetBlob, through the loop), write the sources, judge, and hand a
 * packed JudgeResult back to the loop. Everything here may block: it runs
 * on its own thread, never on the loop. */
#include "serve.h"

#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc/log.h"
#include "cc/trace.h"

static atomic_uint work_seq;

bool serve__id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return s[0] != '.';
}

void serve__result_id(const Codecourt__V1__JudgeJob *job, const char *job_msg_id, uint64_t sseq,
                      char *out, size_t cap)
{
    /* The id must be the same for every delivery of one job, so that a
     * result published twice (a worker died after publishing, before
     * acking) is stored once. */
    if (job && serve__id_ok(job->submission_id))
        snprintf(out, cap, "judged-%s-%" PRIu32, job->submission_id, job->attempt);
    else if (job_msg_id && !strncmp(job_msg_id, "job-", 4) && serve__id_ok(job_msg_id + 4))
        snprintf(out, cap, "judged-%s", job_msg_id + 4);
    else
        snprintf(out, cap, "judged-seq-%" PRIu64, sseq);
}

static char *str_or_empty(char *s)
{
    return s ? s : "";
}

void serve__ie_pack(const char *judge_name, const Codecourt__V1__JudgeJob *job,
                    const char *job_msg_id, uint64_t sseq, const char *reason, uint8_t **out,
                    size_t *len, char *id, size_t idcap)
{
    Codecourt__V1__JudgeResult r = CODECOURT__V1__JUDGE_RESULT__INIT;
    if (job) {
        r.submission_id = str_or_empty(job->submission_id);
        r.attempt = job->attempt;
        r.user_id = str_or_empty(job->user_id);
        r.problem = str_or_empty(job->problem);
        r.problem_version = str_or_empty(job->problem_version);
        r.contest = str_or_empty(job->contest);
    }
    r.verdict = "IE";
    r.max_score = 100;
    r.message = (char *)reason;
    r.judge = (char *)judge_name;
    size_t n = protobuf_c_message_get_packed_size(&r.base);
    *out = judge__xmalloc(n ? n : 1);
    *len = protobuf_c_message_pack(&r.base, *out);
    serve__result_id(job, job_msg_id, sseq, id, idcap);
}

/* ---- helpers ---------------------------------------------------------------- */

static bool sha_ok(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A relative path made only of ordinary names: no "/" at either end, no
 * empty, "." or ".." component, nothing outside printable ASCII. The
 * folders we build are ours alone, so such a path cannot leave them. */
static bool rel_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > 1000 || p[0] == '/' || p[n - 1] == '/')
        return false;
    const char *c = p;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || len > 255 || (len == 1 && c[0] == '.') ||
            (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)c[i] < 0x20 || (unsigned char)c[i] > 0x7e || c[i] == '\\')
                return false;
        c = e ? e + 1 : c + len;
    }
    return true;
}

/* Creates the folders leading to root/rel. */
static bool make_parents(const char *root, const char *rel)
{
    char *path = judge__xasprintf("%s/%s", root, rel);
    bool ok = true;
    for (char *s = path + strlen(root) + 1; ok && (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            ok = false;
        *s = '/';
    }
    free(path);
    return ok;
}

static bool write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return false;
    bool ok = write_all(fd, data, n);
    if (close(fd) != 0)
        ok = false;
    return ok;
}

/* ---- the blob cache ----------------------------------------------------------- */

typedef struct {
    serve_job *j;
    serve *sv;
    const Codecourt__V1__JudgeJob *job;
    const char *dir;  /* the job's folder (its package in pkg/, sources in src/) */
    char toolchain[256]; /* the language's version probe, once the language is known */
} jctx_t;

enum { COPY_OK = 1, COPY_MISSING = 0, COPY_CORRUPT = -1, COPY_DEST_FAILED = -2 };

/* Copies the cached blob src to dst (when dst is non-NULL) while hashing
 * it: what the judge reads is exactly what was verified. A cache entry
 * that is not a regular file, has the wrong size or the wrong hash is
 * removed, so the caller fetches it again. */
static int copy_verified(const char *src, const char *dst, const char *sha, int64_t size)
{
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? COPY_MISSING : (unlink(src), COPY_CORRUPT);
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || (size > 0 && st.st_size != size)) {
        close(in);
        unlink(src);
        return COPY_CORRUPT;
    }
    int out = -1;
    if (dst) {
        out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0) {
            close(in);
            return COPY_DEST_FAILED;
        }
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static _Thread_local char buf[1 << 16];
    int rc = COPY_OK;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = COPY_CORRUPT;
            break;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)r);
        if (out >= 0 && !write_all(out, buf, (size_t)r)) {
            rc = COPY_DEST_FAILED;
            break;
        }
    }
    char got[65];
    pkg__digest_hex(md, got);
    EVP_MD_CTX_free(md);
    close(in);
    if (out >= 0 && close(out) != 0 && rc == COPY_OK)
        rc = COPY_DEST_FAILED;
    if (rc == COPY_OK) {
        if (strcmp(got, sha) != 0)
            rc = COPY_CORRUPT;
    }
    if (rc == COPY_CORRUPT)
        unlink(src);
    return rc;
}

/* Asks the loop for one chunk and waits for the answer. */
static cc_status fetch_chunk(serve_job *j, serve_fetch *f)
{
    serve_ev *ev = judge__xcalloc(1, sizeof *ev);
    ev->kind = SERVE_EV_FETCH;
    ev->job = j;
    ev->fetch = f;
    if (atomic_load(&j->cancel) || !serve__post(j->sv, ev)) {
        free(ev);
        snprintf(f->err, sizeof f->err, "the worker is shutting down");
        return f->s = CC_CLOSED;
    }
    pthread_mutex_lock(&j->mu);
    while (!f->done)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    return f->s;
}

/* Fetches one blob into the cache: chunks go to a temporary file and into
 * the hash as they come (memory stays at one chunk), and the file is
 * renamed into the cache only when the hash matches. */
static cc_status fetch_blob(jctx_t *c, const Codecourt__V1__PackageFile *pf, const char *final,
                            char *err, size_t errlen)
{
    serve *sv = c->sv;
    static atomic_uint tmp_seq;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/tmp/%s.%ld.%u", sv->cfg->cache_dir, pf->sha256, (long)getpid(),
             atomic_fetch_add(&tmp_seq, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %.300s: %s", tmp, strerror(errno));
        return CC_IO;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    cc_status s = CC_OK;
    int64_t off = 0;
    for (;;) {
        serve_fetch f = {.offset = off, .max_bytes = (int32_t)sv->cfg->blob_chunk};
        memcpy(f.sha256, pf->sha256, 65);
        s = fetch_chunk(c->j, &f);
        if (s != CC_OK) {
            snprintf(err, errlen, "GetBlob %s (offset %" PRId64 "): %s", pf->sha256, off, f.err);
            free(f.data);
            break;
        }
        int64_t total = f.total_size;
        if ((int64_t)f.len > sv->cfg->blob_chunk || total < 0 || total > sv->cfg->blob_max ||
            off + (int64_t)f.len > total || (f.eof && off + (int64_t)f.len != total) ||
            (!f.eof && f.len == 0 && off < total)) {
            snprintf(err, errlen,
                     "GetBlob %s: reply out of bounds (offset %" PRId64 ", %zu bytes, total %" PRId64
                     ", eof %d)",
                     pf->sha256, off, f.len, total, (int)f.eof);
            free(f.data);
            s = CC_PROTO;
            break;
        }
        if (pf->size > 0 && total != pf->size) {
            snprintf(err, errlen, "blob %s: the problem service has %" PRId64
                     " bytes, the job says %" PRId64, pf->sha256, total, pf->size);
            free(f.data);
            s = CC_INVALID;
            break;
        }
        EVP_DigestUpdate(md, f.data, f.len);
        bool wrote = write_all(fd, f.data, f.len);
        free(f.data);
        if (!wrote) {
            snprintf(err, errlen, "cannot write %.300s: %s", tmp, strerror(errno));
            s = CC_IO;
            break;
        }
        off += (int64_t)f.len;
        cc_counter_add(sv->blob_bytes, f.len);
        if (f.eof || off == total)
            break;
    }
    char got[65];
    pkg__digest_hex(md, got);
    EVP_MD_CTX_free(md);
    if (close(fd) != 0 && s == CC_OK) {
        snprintf(err, errlen, "cannot write %.300s: %s", tmp, strerror(errno));
        s = CC_IO;
    }
    if (s == CC_OK) {
        if (strcmp(got, pf->sha256) != 0) {
            snprintf(err, errlen, "blob hash mismatch for %s: the problem service sent %s",
                     pf->sha256, got);
            s = CC_INVALID;
        }
    }
    if (s == CC_OK && rename(tmp, final) != 0) {
        snprintf(err, errlen, "cannot store %s: %s", final, strerror(errno));
        s = CC_IO;
    }
    if (s != CC_OK)
        unlink(tmp);
    return s;
}

/* How a failure to get the package ends: shutting down drops the job (the
 * runtime hands it back); the problem service being away is worth a retry
 * unless this was the last delivery; the rest is a bad job. */
static serve_outcome fail_outcome(serve_job *j, cc_status s)
{
    if (s == CC_CLOSED || atomic_load(&j->cancel))
        return SERVE_OUT_DROP;
    if ((s == CC_TIMEOUT || s == CC_UNAVAILABLE || s == CC_NATS || s == CC_IO) &&
        !j->last_delivery)
        return SERVE_OUT_RETRY;
    return SERVE_OUT_RESULT;
}

/* Rebuilds the package folder; on failure fills reason and returns the
 * outcome. */
static bool materialise(jctx_t *c, const char *pkgdir, serve_outcome *oc, char *reason,
                        size_t rlen)
{
    serve *sv = c->sv;
    const Codecourt__V1__JudgeJob *job = c->job;
    for (size_t i = 0; i < job->n_package; i++) {
        const Codecourt__V1__PackageFile *pf = job->package[i];
        if (!rel_ok(pf->path) || !sha_ok(pf->sha256) || pf->size < 0 ||
            pf->size > sv->cfg->blob_max) {
            snprintf(reason, rlen, "bad package file entry %zu (path \"%.200s\", sha256 \"%.80s\")",
                     i, pf->path ? pf->path : "", pf->sha256 ? pf->sha256 : "");
            *oc = SERVE_OUT_RESULT;
            return false;
        }
        char *dst = judge__xasprintf("%s/%s", pkgdir, pf->path);
        char *blob = judge__xasprintf("%s/blobs/%s", sv->cfg->cache_dir, pf->sha256);
        bool ok = make_parents(pkgdir, pf->path);
        int rc = ok ? copy_verified(blob, dst, pf->sha256, pf->size) : COPY_DEST_FAILED;
        if (rc == COPY_OK) {
            cc_counter_inc(sv->cache_hits);
        } else if (rc == COPY_MISSING || rc == COPY_CORRUPT) {
            if (rc == COPY_CORRUPT) {
                cc_counter_inc(sv->cache_corrupt);
                cc_log(CC_LOG_WARN, &c->j->env, "corrupt cache entry removed, fetching again",
                       "{s:s}", "sha256", pf->sha256);
            }
            cc_counter_inc(sv->cache_misses);
            char err[512] = "";
            cc_status s = fetch_blob(c, pf, blob, err, sizeof err);
            if (s == CC_OK)
                rc = copy_verified(blob, dst, pf->sha256, pf->size);
            if (s != CC_OK) {
                *oc = fail_outcome(c->j, s);
                snprintf(reason, rlen, "cannot fetch package file %.200s: %s", pf->path, err);
            } else if (rc != COPY_OK) {
                *oc = SERVE_OUT_RETRY;
                snprintf(reason, rlen, "package file %.200s changed in the cache while copied",
                         pf->path);
            }
            ok = s == CC_OK && rc == COPY_OK;
        } else {
            *oc = fail_outcome(c->j, CC_IO);
            snprintf(reason, rlen, "cannot write package file %.200s: %s", pf->path,
                     strerror(errno));
            ok = false;
        }
        free(dst);
        free(blob);
        if (!ok)
            return false;
    }
    return true;
}

/* ---- progress and results ---------------------------------------------------------- */

/* An internal error's text goes to the submitter, who has no business
 * with this host's folders: files of the job's package and sources are
 * named relative to them, and any other absolute path (the cache, the
 * runner, a tool) keeps its last component only. In place: the text only
 * gets shorter. */
static void scrub_paths(char *s, const char *dir)
{
    for (int k = 0; dir && k < 2; k++) {
        char prefix[4200];
        snprintf(prefix, sizeof prefix, "%s/%s/", dir, k ? "src" : "pkg");
        size_t pl = strlen(prefix);
        for (char *q; (q = strstr(s, prefix)) != NULL;)
            memmove(q, q + pl, strlen(q + pl) + 1);
    }
    char *w = s, prev = ' ';
    for (const char *r = s; *r;) {
        if (*r != '/' || !strchr(" \t\n'\"(:=,[", prev)) {
            prev = *r;
            *w++ = *r++;
            continue;
        }
        const char *end = r, *base = r + 1;
        while (*end && !strchr(" \t\n'\")],:;", *end))
            if (*end++ == '/')
                base = end;
        prev = end[-1];
        while (base < end)
            *w++ = *base++;
        r = end;
    }
    *w = '\0';
}

/* The message an IE test shows: a scrubbed copy in *owned (freed by the
 * caller), else the judge's own. */
static void fill_test(Codecourt__V1__TestResult *t, const judge_test_result *r, const char *dir,
                      char **owned)
{
    *owned = NULL;
    if (r->verdict == JUDGE_IE && r->message) {
        *owned = judge__xstrdup(r->message);
        scrub_paths(*owned, dir);
    }
    codecourt__v1__test_result__init(t);
    t->name = r->name ? r->name : "";
    t->verdict = (char *)judge_verdict_str(r->verdict);
    t->cpu_ms = r->cpu_ms;
    t->wall_ms = r->wall_ms;
    t->memory_kib = r->memory_kib;
    t->exit_code = r->exit_code;
    t->signal = r->term_signal;
    t->score = r->score;
    t->message = *owned ? *owned : r->message ? r->message : "";
    t->sample = r->sample;
}

static bool on_progress(void *ud, const judge_progress *p)
{
    jctx_t *c = ud;
    serve_job *j = c->j;
    if (atomic_load(&j->cancel))
        return false;
    Codecourt__V1__JudgeProgress pr = CODECOURT__V1__JUDGE_PROGRESS__INIT;
    Codecourt__V1__TestResult t;
    char *owned = NULL;
    pr.submission_id = c->job->submission_id;
    pr.attempt = c->job->attempt;
    pr.user_id = c->job->user_id;
    pr.stage = (char *)p->stage;
    pr.test_index = (int32_t)p->test_index;
    pr.test_count = (int32_t)p->test_count;
    pr.judge = c->sv->judge_name;
    if (p->test) {
        fill_test(&t, p->test, c->dir, &owned);
        pr.test = &t;
    }
    serve_ev *ev = judge__xcalloc(1, sizeof *ev);
    ev->kind = SERVE_EV_PROGRESS;
    ev->job = j;
    ev->len = protobuf_c_message_get_packed_size(&pr.base);
    ev->data = judge__xmalloc(ev->len ? ev->len : 1);
    protobuf_c_message_pack(&pr.base, ev->data);
    free(owned);
    /* Numbered by step (0 = compiling, k = test k), so a redelivered job
     * repeats the same ids and the stream keeps one event per step. */
    snprintf(ev->msg_id, sizeof ev->msg_id, "progress-%s-%" PRIu32 "-%zu",
             c->job->submission_id, c->job->attempt, p->test_index);
    if (!serve__post(c->sv, ev)) {
        free(ev->data);
        free(ev);
    }
    return !atomic_load(&j->cancel);
}

static void pack_result(jctx_t *c, const judge_result *r, long sandbox_ms)
{
    const Codecourt__V1__JudgeJob *job = c->job;
    Codecourt__V1__JudgeResult out = CODECOURT__V1__JUDGE_RESULT__INIT;
    out.submission_id = job->submission_id;
    out.attempt = job->attempt;
    out.user_id = job->user_id;
    out.problem = job->problem;
    out.problem_version = job->problem_version;
    judge_verdict v = r->verdict == JUDGE_SKIPPED ? JUDGE_IE : r->verdict;
    out.verdict = (char *)judge_verdict_str(v);
    out.score = r->score;
    out.max_score = r->max_score;
    Codecourt__V1__TestResult *tests = judge__xcalloc(r->ntests ? r->ntests : 1, sizeof *tests);
    Codecourt__V1__TestResult **tp = judge__xcalloc(r->ntests ? r->ntests : 1, sizeof *tp);
    char **owned = judge__xcalloc(r->ntests ? r->ntests : 1, sizeof *owned);
    for (size_t i = 0; i < r->ntests; i++) {
        fill_test(&tests[i], &r->tests[i], c->dir, &owned[i]);
        tp[i] = &tests[i];
    }
    char *msg = NULL;
    out.n_tests = r->ntests;
    out.tests = tp;
    if (r->verdict == JUDGE_CE) {
        out.compile_output = r->message ? r->message : "";
        out.message = "compile error";
    } else if (v == JUDGE_IE && r->message) {
        msg = judge__xstrdup(r->message);
        scrub_paths(msg, c->dir);
        out.message = msg;
    } else {
        out.message = r->message ? r->message : "";
    }
    out.judge = c->sv->judge_name;
    out.toolchain = c->toolchain;
    out.sandbox_ms = sandbox_ms;
    out.contest = job->contest;
    /* Group scores only with their verdict's meaning: a compile error or
     * an internal error scored nothing anywhere. */
    size_t ng = r->verdict == JUDGE_CE || v == JUDGE_IE ? 0 : r->ngroups;
    Codecourt__V1__GroupScore *groups = judge__xcalloc(ng ? ng : 1, sizeof *groups);
    Codecourt__V1__GroupScore **gp = judge__xcalloc(ng ? ng : 1, sizeof *gp);
    for (size_t i = 0; i < ng; i++) {
        codecourt__v1__group_score__init(&groups[i]);
        groups[i].name = r->groups[i].name;
        groups[i].score = r->groups[i].score;
        groups[i].max_score = r->groups[i].max_score;
        gp[i] = &groups[i];
    }
    out.n_groups = ng;
    out.groups = gp;
    size_t n = protobuf_c_message_get_packed_size(&out.base);
    c->j->result = judge__xmalloc(n ? n : 1);
    c->j->result_len = protobuf_c_message_pack(&out.base, c->j->result);
    serve__result_id(job, c->j->job_msg_id, c->j->sseq, c->j->result_id,
                     sizeof c->j->result_id);
    snprintf(c->j->verdict, sizeof c->j->verdict, "%s", judge_verdict_str(v));
    c->j->outcome = SERVE_OUT_RESULT;
    for (size_t i = 0; i < r->ntests; i++)
        free(owned[i]);
    free(owned);
    free(msg);
    free(tests);
    free(tp);
    free(groups);
    free(gp);
}

static void set_ie(jctx_t *c, const char *reason)
{
    serve_job *j = c->j;
    char *text = judge__xstrdup(reason);
    scrub_paths(text, c->dir);
    serve__ie_pack(c->sv->judge_name, c->job, j->job_msg_id, j->sseq, text, &j->result,
                   &j->result_len, j->result_id, sizeof j->result_id);
    free(text);
    snprintf(j->verdict, sizeof j->verdict, "IE");
    j->outcome = SERVE_OUT_RESULT;
}

/* ---- the thread ------------------------------------------------------------------------ */

/* ---- custom runs ---------------------------------------------------------------------- */

/* Text that a JSON string can carry: valid UTF-8, nothing else replaced
 * (control characters are escaped by the encoders). Bytes that do not
 * form a character become U+FFFD; a NUL would end the C string early and
 * becomes U+FFFD too. malloc'd. */
static char *utf8_text(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *out = judge__xmalloc(n * 3 + 1), *o = out;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t k = 1; ok && k < len; k++) {
            unsigned char cc = (unsigned char)s[i + k];
            ok = (cc >> 6) == 2;
            cp = (cp << 6) | (cc & 0x3f);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
            ok = false;
        if (!ok) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(o, s + i, len);
        o += len;
        i += len;
    }
    *o = '\0';
    return out;
}

/* The judge library's tracing hooks (judge_options.span_begin): spans of
 * the job's trace, children of its consumer span, which this thread has
 * as its current one (serve__job_main). */
static void *span_begin(void *ud, const char *name, long test)
{
    (void)ud;
    if (!cc_trace_enabled())
        return NULL;
    cc_span *s = judge__xcalloc(1, sizeof *s);
    cc_span_start(s, name, CC_SPAN_INTERNAL, NULL);
    if (test >= 0)
        cc_span_attr_int(s, "codecourt.test", test + 1);
    return s;
}

static void span_end(void *ud, void *span, judge_verdict v)
{
    (void)ud;
    cc_span *s = span;
    if (!s)
        return;
    cc_span_attr(s, "codecourt.verdict", judge_verdict_str(v));
    if (v == JUDGE_IE)
        cc_span_fail(s, "internal error");
    cc_span_end(s);
    free(s);
}

/* Runs report nothing while judged: the answer comes at once, and a
 * progress event would keep the user's input in CC_EVENTS. Only a
 * shutdown stops one. */
static bool run_progress(void *ud, const judge_progress *p)
{
    (void)p;
    return !atomic_load(&((serve_job *)ud)->cancel);
}

static void run_pack(serve_job *j, const Codecourt__V1__JudgeJob *job, const char *verdict,
                     const judge_test_result *t, const char *compile_output, const char *message)
{
    Codecourt__V1__RunResult r = CODECOURT__V1__RUN_RESULT__INIT;
    char *out = utf8_text(t ? t->stdout_text : NULL), *err = utf8_text(t ? t->stderr_text : NULL);
    char *co = utf8_text(compile_output), *msg = utf8_text(message);
    r.run_id = job->submission_id;
    r.user_id = job->user_id ? job->user_id : "";
    r.verdict = (char *)verdict;
    r.stdout = out;
    r.stderr = err;
    r.stdout_truncated = t && t->stdout_truncated;
    r.stderr_truncated = t && t->stderr_truncated;
    r.compile_output = co;
    r.message = msg;
    if (t) {
        r.cpu_ms = t->cpu_ms;
        r.wall_ms = t->wall_ms;
        r.memory_kib = t->memory_kib;
        r.exit_code = t->exit_code;
        r.signal = t->term_signal;
    }
    r.judge = j->sv->judge_name;
    size_t n = protobuf_c_message_get_packed_size(&r.base);
    j->result = judge__xmalloc(n ? n : 1);
    j->result_len = protobuf_c_message_pack(&r.base, j->result);
    snprintf(j->verdict, sizeof j->verdict, "%s", verdict);
    snprintf(j->result_id, sizeof j->result_id, "run-%.100s", job->submission_id);
    j->outcome = SERVE_OUT_RUN;
    free(out);
    free(err);
    free(co);
    free(msg);
}

/* Writes the run's one-test package (problem.yaml with the format's
 * default limits, data/secret/run.in from the job, an empty answer) and
 * its sources; false with reason filled when the folder cannot be
 * written. */
static bool run_stage(const Codecourt__V1__JudgeJob *job, const char *pkgdir, const char *srcdir,
                      jstrv *sources, char *reason, size_t rlen)
{
    char *yaml = pkg_problem_yaml("Custom run", false, false, 0, 0, 0, false, NULL);
    char *py = judge__xasprintf("%s/problem.yaml", pkgdir);
    char *in = judge__xasprintf("%s/data/secret/run.in", pkgdir);
    char *ans = judge__xasprintf("%s/data/secret/run.ans", pkgdir);
    bool ok = write_file(py, yaml, strlen(yaml)) && make_parents(pkgdir, "data/secret/run.in") &&
              write_file(in, job->stdin.data, job->stdin.len) && write_file(ans, "", 0);
    if (!ok)
        snprintf(reason, rlen, "cannot write the run's package: %s", strerror(errno));
    free(yaml);
    free(py);
    free(in);
    free(ans);
    for (size_t i = 0; ok && i < job->n_sources; i++) {
        const Codecourt__V1__SourceFile *f = job->sources[i];
        if (!rel_ok(f->name)) {
            snprintf(reason, rlen, "bad source file name \"%.200s\"", f->name ? f->name : "");
            return false;
        }
        char *p = judge__xasprintf("%s/%s", srcdir, f->name);
        ok = make_parents(srcdir, f->name) && write_file(p, f->content.data, f->content.len);
        if (!ok)
            snprintf(reason, rlen, "cannot write source %.200s: %s", f->name, strerror(errno));
        if (ok && job->n_sources == 1)
            jstrv_push_own(sources, p);
        else
            free(p);
    }
    if (ok && job->n_sources > 1)
        jstrv_push(sources, srcdir);
    return ok;
}

void serve__run_job(serve_job *j, const Codecourt__V1__JudgeJob *job, const char *dir)
{
    serve *sv = j->sv;
    char reason[1024] = "";
    const judge_lang *lang = judge_langs_find(sv->langs, job->language ? job->language : "");
    if (!serve__id_ok(job->submission_id)) {
        /* No id to answer to: nobody waits for this one. */
        j->outcome = SERVE_OUT_DROP;
        return;
    }
    if (!lang || !judge_lang_available(lang) || job->n_sources == 0) {
        snprintf(reason, sizeof reason, "%s \"%.100s\"",
                 job->n_sources == 0 ? "no source for language" : "language not installed:",
                 job->language ? job->language : "");
        run_pack(j, job, "IE", NULL, NULL, reason);
        return;
    }
    char *pkgdir = judge__xasprintf("%s/pkg", dir), *srcdir = judge__xasprintf("%s/src", dir);
    judge_package *pkg = NULL;
    judge_worker *w = NULL;
    jstrv sources = {0};
    if (mkdir(pkgdir, 0755) != 0 || mkdir(srcdir, 0755) != 0 ||
        !run_stage(job, pkgdir, srcdir, &sources, reason, sizeof reason)) {
        if (!reason[0])
            snprintf(reason, sizeof reason, "cannot create the run's folder: %s", strerror(errno));
        run_pack(j, job, "IE", NULL, NULL, reason);
        goto out;
    }
    if (judge_package_load(pkgdir, sv->langs, NULL, &pkg) != CC_OK) {
        snprintf(reason, sizeof reason, "the run's package does not load: %.900s", cc_err_msg());
        run_pack(j, job, "IE", NULL, NULL, reason);
        goto out;
    }
    const serve_settings *cfg = sv->cfg;
    judge_options opts = {.progress = run_progress,
                          .progress_ud = j,
                          .span_begin = span_begin,
                          .span_end = span_end,
                          .capture_output = SERVE_RUN_CAPTURE,
                          .max_time_limit = (double)cfg->max_time_limit_ms / 1000.0,
                          .max_memory_mib = (long)(cfg->max_memory >> 20),
                          .max_compile_time_s = (long)((cfg->max_compile_time_ms + 999) / 1000),
                          .max_validation_time_s =
                              (long)((cfg->max_validation_time_ms + 999) / 1000)};
    if (judge_worker_new(pkg, sv->langs, &opts, &w) != CC_OK) {
        snprintf(reason, sizeof reason, "cannot start the sandbox: %.900s", cc_err_msg());
        run_pack(j, job, "IE", NULL, NULL, reason);
        goto out;
    }
    judge_result r;
    judge_worker_judge(w, lang, (const char *const *)sources.v, sources.n, 0, &r);
    if (atomic_load(&j->cancel)) {
        j->outcome = SERVE_OUT_DROP;
    } else if (r.verdict == JUDGE_CE) {
        run_pack(j, job, "CE", NULL, r.message, NULL);
    } else if (r.ntests == 1) {
        const judge_test_result *t = &r.tests[0];
        char *msg = NULL;
        if (t->verdict == JUDGE_IE && t->message) {
            msg = judge__xstrdup(t->message);
            scrub_paths(msg, dir);
        }
        run_pack(j, job, t->verdict == JUDGE_AC ? "OK" : judge_verdict_str(t->verdict), t, NULL,
                 msg ? msg : t->verdict == JUDGE_AC ? NULL : t->message);
        free(msg);
    } else {
        char *msg = judge__xstrdup(r.message ? r.message : "the run did not run");
        scrub_paths(msg, dir);
        run_pack(j, job, "IE", NULL, NULL, msg);
        free(msg);
    }
    judge_result_clear(&r);
out:
    judge_worker_free(w);
    judge_package_free(pkg);
    jstrv_free(&sources);
    free(pkgdir);
    free(srcdir);
}

static void judge_job(jctx_t *c, const char *dir)
{
    serve *sv = c->sv;
    const Codecourt__V1__JudgeJob *job = c->job;
    c->dir = dir;
    char reason[1024];
    if (job->kind && !strcmp(job->kind, "run")) {
        serve__run_job(c->j, job, dir);
        return;
    }
    if (job->kind && job->kind[0]) {
        snprintf(reason, sizeof reason, "unknown job kind \"%.40s\"", job->kind);
        set_ie(c, reason);
        return;
    }
    if (!serve__id_ok(job->submission_id) || job->attempt == 0) {
        set_ie(c, "malformed JudgeJob: submission_id must be 1-100 of [A-Za-z0-9._-] and "
                  "attempt at least 1");
        return;
    }
    const judge_lang *lang = judge_langs_find(sv->langs, job->language ? job->language : "");
    if (!lang) {
        snprintf(reason, sizeof reason, "unknown language \"%.100s\"", job->language);
        set_ie(c, reason);
        return;
    }
    if (!judge_lang_available(lang)) {
        snprintf(reason, sizeof reason, "language %s is not installed on judge %s",
                 judge_lang_id(lang), sv->judge_name);
        set_ie(c, reason);
        return;
    }
    serve__toolchain(sv, lang, c->toolchain, sizeof c->toolchain);
    if (job->n_sources == 0 || job->n_package == 0) {
        set_ie(c, job->n_sources == 0 ? "the job has no source files"
                                      : "the job names no package files");
        return;
    }
    char *pkgdir = judge__xasprintf("%s/pkg", dir);
    char *srcdir = judge__xasprintf("%s/src", dir);
    judge_package *pkg = NULL;
    judge_worker *w = NULL;
    jstrv sources = {0};
    if (mkdir(pkgdir, 0755) != 0 || mkdir(srcdir, 0755) != 0) {
        snprintf(reason, sizeof reason, "cannot create %s: %s", dir, strerror(errno));
        c->j->outcome = SERVE_OUT_RETRY;
        snprintf(c->j->reason, sizeof c->j->reason, "%.250s", reason);
        goto out;
    }
    serve_outcome oc = SERVE_OUT_RESULT;
    if (!materialise(c, pkgdir, &oc, reason, sizeof reason)) {
        if (oc == SERVE_OUT_RESULT) {
            set_ie(c, reason);
        } else {
            c->j->outcome = oc;
            snprintf(c->j->reason, sizeof c->j->reason, "%.250s", reason);
        }
        goto out;
    }
    for (size_t i = 0; i < job->n_sources; i++) {
        const Codecourt__V1__SourceFile *f = job->sources[i];
        if (!rel_ok(f->name)) {
            snprintf(reason, sizeof reason, "bad source file name \"%.200s\"",
                     f->name ? f->name : "");
            set_ie(c, reason);
            goto out;
        }
        char *p = judge__xasprintf("%s/%s", srcdir, f->name);
        bool ok = make_parents(srcdir, f->name) && write_file(p, f->content.data, f->content.len);
        if (!ok) {
            snprintf(reason, sizeof reason, "cannot write source %.200s: %s", f->name,
                     strerror(errno));
            free(p);
            set_ie(c, reason);
            goto out;
        }
        if (job->n_sources == 1)
            jstrv_push_own(&sources, p);
        else
            free(p);
    }
    if (job->n_sources > 1)
        jstrv_push(&sources, srcdir); /* a folder is a multi-file submission */
    if (judge_package_load(pkgdir, sv->langs, NULL, &pkg) != CC_OK) {
        snprintf(reason, sizeof reason, "the problem package does not load: %.900s",
                 cc_err_msg());
        set_ie(c, reason);
        goto out;
    }
    const serve_settings *cfg = sv->cfg;
    judge_options opts = {.progress = on_progress,
                          .progress_ud = c,
                          .span_begin = span_begin,
                          .span_end = span_end,
                          .max_time_limit = (double)cfg->max_time_limit_ms / 1000.0,
                          .max_memory_mib = (long)(cfg->max_memory >> 20),
                          .max_compile_time_s = (long)((cfg->max_compile_time_ms + 999) / 1000),
                          .max_validation_time_s =
                              (long)((cfg->max_validation_time_ms + 999) / 1000)};
    if (judge_worker_new(pkg, sv->langs, &opts, &w) != CC_OK) {
        snprintf(reason, sizeof reason, "cannot start the sandbox: %.900s", cc_err_msg());
        set_ie(c, reason);
        goto out;
    }
    judge_result r;
    uint64_t t0 = cc_now_ns();
    judge_worker_judge(w, lang, (const char *const *)sources.v, sources.n, 0, &r);
    long ms = (long)((cc_now_ns() - t0) / 1000000u);
    if (atomic_load(&c->j->cancel))
        c->j->outcome = SERVE_OUT_DROP;
    else
        pack_result(c, &r, ms);
    judge_result_clear(&r);
out:
    judge_worker_free(w);
    judge_package_free(pkg);
    jstrv_free(&sources);
    free(pkgdir);
    free(srcdir);
}

void *serve__job_main(void *arg)
{
    serve_job *j = arg;
    serve *sv = j->sv;
    /* The loop thread takes the process's signals. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    jctx_t c = {.j = j, .sv = sv};
    Codecourt__V1__JudgeJob *job = (Codecourt__V1__JudgeJob *)protobuf_c_message_unpack(
        &codecourt__v1__judge_job__descriptor, NULL, j->rawlen, j->raw);
    if (!job) {
        serve__ie_pack(sv->judge_name, NULL, j->job_msg_id, j->sseq,
                       "malformed JudgeJob: the message is not a valid protobuf", &j->result,
                       &j->result_len, j->result_id, sizeof j->result_id);
        snprintf(j->verdict, sizeof j->verdict, "IE");
        j->outcome = SERVE_OUT_RESULT;
    } else {
        c.job = job;
        char *dir = judge__xasprintf("%s/j%u", sv->work_dir, atomic_fetch_add(&work_seq, 1));
        judge__rm_tree(dir);
        if (mkdir(dir, 0755) != 0) {
            j->outcome = SERVE_OUT_RETRY;
            snprintf(j->reason, sizeof j->reason, "cannot create %.200s: %s", dir, strerror(errno));
        } else {
            char saved[56];
            cc_trace_push(j->env.traceparent, saved);
            judge_job(&c, dir);
            cc_trace_pop(saved);
        }
        judge__rm_tree(dir);
        free(dir);
        protobuf_c_message_free_unpacked(&job->base, NULL);
    }
    serve_ev *ev = judge__xcalloc(1, sizeof *ev);
    ev->kind = SERVE_EV_DONE;
    ev->job = j;
    if (!serve__post(sv, ev))
        free(ev); /* closing: the loop joins this thread and frees the job */
    return NULL;
}

void serve__clean_stale_work(const char *cache_dir)
{
    char *root = judge__xasprintf("%s/work", cache_dir);
    DIR *d = opendir(root);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            long pid;
            if (!judge__parse_long(e->d_name, &pid) || pid <= 0 || pid == (long)getpid())
                continue;
            /* A worker that was killed left its job folders behind. */
            if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
                char *p = judge__xasprintf("%s/%s", root, e->d_name);
                judge__rm_tree(p);
                free(p);
            }
        }
        closedir(d);
    }
    free(root);
}
