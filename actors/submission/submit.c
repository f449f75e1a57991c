/* Submit: the handler of cc.rpc.submission.Submit, one asynchronous chain
 * written in call order:
 *   1. check_request   the problem, contest, key, file names and sizes;
 *   2. pick_language   named, or detected from the file names and texts;
 *   3. gather_files    one file named after the language, or the given files;
 *   4. body_hash       SHA-256 of what identifies the request;
 *   5. precheck        the Idempotency-Key (a retry gets its submission) and
 *                      the user's limits, in one query;
 *   6. check_contest   cc-contest says whether the caller may submit now
 *                      and for which team (only when a contest is named);
 *   7. lookup_problem  the problem as the caller may see it, then the
 *                      package files of its current version;
 *   8. store           the submission (its job sealed), its judge job and
 *                      its cc.evt.submission.created event in one
 *                      transaction (outbox);
 *   9. committed       the answer (a key taken concurrently goes back to 5).
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/log.h"
#include "sub.h"

typedef struct submit_ctx {
    cc_rpc_call *call;
    sub_state *st;
    const Codecourt__V1__SubmitRequest *rq;
    const char *who;                   /* the submitter's id (cc_rpc_principal) */
    const char *lang;                  /* id from the table */
    const judge_lang *lang_row;
    Codecourt__V1__SourceFile **files; /* in the call's arena */
    size_t nfiles;
    char hash[65];
    char problem_id[64], owner[64], version[65];
    Codecourt__V1__PackageFile **pkg;
    size_t npkg;
    char id[37];
    char team[64];  /* the contest team it counts for */
    int64_t created_ms;
    bool rechecked; /* the key was taken concurrently: looked up again */
} submit_ctx;

static bool check_request(submit_ctx *c);
static bool pick_language(submit_ctx *c);
static bool gather_files(submit_ctx *c);
static void body_hash(submit_ctx *c);
static void precheck(submit_ctx *c);
static void prechecked(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static void check_contest(submit_ctx *c);
static void contest_checked(cc_status s, const char *errmsg, const ProtobufCMessage *resp,
                            void *ud);
static void lookup_problem(submit_ctx *c);
static void got_problem(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud);
static void got_manifest(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud);
static void store(submit_ctx *c);
static void add_created_event(submit_ctx *c, cc_pg_tx *tx);
static void committed(cc_status s, const char *errmsg, void *ud);
static void reply_existing(submit_ctx *c);
static void reply_row(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud);
static bool path_ok(const char *p);
static bool slug_ok(const char *s);

void sub_submit(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    submit_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = sub_state_of(actor);
    c->rq = (const void *)req;
    c->who = cc_rpc_principal(call)->id; /* Submit is CC_RPC_AUTH: never "" */
    if (!check_request(c) || !pick_language(c) || !gather_files(c))
        return;
    body_hash(c);
    precheck(c);
}

/* ---- 1-4: the request ------------------------------------------------------------ */

/* Checks what needs no table and no database; false once it has failed
 * the call. */
static bool check_request(submit_ctx *c)
{
    const Codecourt__V1__SubmitRequest *rq = c->rq;
    cc_rpc_call *call = c->call;
    const sub_settings *cfg = c->st->cfg;
    if (!rq->problem[0]) {
        cc_rpc_fail(call, CC_INVALID, "problem: required (a problem slug such as 'aplusb')");
        return false;
    }
    if (!slug_ok(rq->problem)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "problem: no problem '%.64s'", rq->problem);
        return false;
    }
    if (strlen(rq->contest) > 64) {
        cc_rpc_fail(call, CC_NOT_FOUND, "contest: no contest '%.64s'", rq->contest);
        return false;
    }
    if (strlen(rq->idempotency_key) > 200) {
        cc_rpc_fail(call, CC_INVALID, "Idempotency-Key: at most 200 characters");
        return false;
    }
    bool has_source = rq->source[0] != '\0';
    if (has_source && rq->n_files) {
        cc_rpc_fail(call, CC_INVALID, "source: give either source or files, not both");
        return false;
    }
    if (!has_source && !rq->n_files) {
        cc_rpc_fail(call, CC_INVALID, "source: the submission has no code (source or files)");
        return false;
    }
    if (rq->n_files > (size_t)cfg->max_files) {
        cc_rpc_fail(call, CC_INVALID, "files: %zu files, at most %" PRId64, rq->n_files,
                    cfg->max_files);
        return false;
    }
    size_t total = has_source ? strlen(rq->source) : 0;
    for (size_t i = 0; i < rq->n_files; i++) {
        if (!rq->files[i]->name || !path_ok(rq->files[i]->name)) {
            cc_rpc_fail(call, CC_INVALID,
                        "files: bad file name '%.100s' (relative, [A-Za-z0-9._/-], no . or .., "
                        "no part starting with -)",
                        rq->files[i]->name ? rq->files[i]->name : "");
            return false;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(rq->files[k]->name, rq->files[i]->name)) {
                cc_rpc_fail(call, CC_INVALID, "files: '%s' appears twice", rq->files[i]->name);
                return false;
            }
        total += rq->files[i]->content.len;
    }
    if (total > (size_t)cfg->max_source) {
        cc_rpc_fail(call, CC_INVALID, "source: %zu bytes of code, at most %" PRId64, total,
                    cfg->max_source);
        return false;
    }
    return true;
}

/* The language named, or the one the files' names and texts show; one
 * whose toolchain is installed. Sets c->lang and c->lang_row. */
static bool pick_language(submit_ctx *c)
{
    const Codecourt__V1__SubmitRequest *rq = c->rq;
    cc_rpc_call *call = c->call;
    cc_arena *a = cc_rpc_arena(call);
    const judge_lang *lang = NULL;
    if (rq->language[0]) {
        lang = judge_langs_find(c->st->langs, rq->language);
        if (!lang) {
            cc_rpc_fail(call, CC_INVALID,
                        "language: unknown language '%.40s' (GET /v1/languages lists them)",
                        rq->language);
            return false;
        }
    } else if (rq->n_files) {
        const char **names = cc_arena_alloc(a, rq->n_files * sizeof *names);
        const char **texts = cc_arena_alloc(a, rq->n_files * sizeof *texts);
        size_t *lens = cc_arena_alloc(a, rq->n_files * sizeof *lens);
        if (!names || !texts || !lens) {
            cc_rpc_fail(call, CC_NOMEM, "out of memory");
            return false;
        }
        /* The text decides ambiguous extensions (.pl Prolog or Perl, .m
         * Octave or Objective-C), as the judge does. */
        for (size_t i = 0; i < rq->n_files; i++) {
            names[i] = rq->files[i]->name;
            texts[i] = (const char *)rq->files[i]->content.data;
            lens[i] = rq->files[i]->content.len;
        }
        lang = judge_langs_detect_files(c->st->langs, names, texts, lens, rq->n_files);
        if (!lang) {
            cc_rpc_fail(call, CC_INVALID,
                        "language: cannot tell the language from the file names; set language");
            return false;
        }
    } else {
        cc_rpc_fail(call, CC_INVALID, "language: required with source");
        return false;
    }
    if (!sub_lang_available(c->st, lang)) {
        cc_rpc_fail(call, CC_UNPROCESSABLE, "language: '%s' is not installed on the judges",
                    judge_lang_id(lang));
        return false;
    }
    c->lang = judge_lang_id(lang);
    c->lang_row = lang;
    return true;
}

/* The job's files: the given ones, or the single source in one file named
 * after the language, so Java's public class Main sits in Main.java. */
static bool gather_files(submit_ctx *c)
{
    const Codecourt__V1__SubmitRequest *rq = c->rq;
    if (!rq->source[0]) {
        c->files = rq->files;
        c->nfiles = rq->n_files;
        return true;
    }
    cc_arena *a = cc_rpc_arena(c->call);
    Codecourt__V1__SourceFile *f = cc_arena_alloc(a, sizeof *f);
    c->files = cc_arena_alloc(a, sizeof *c->files);
    char name[64];
    const char *ext = judge_lang_extension(c->lang_row);
    snprintf(name, sizeof name, "%s%s%s", strcmp(c->lang, "java") ? "main" : "Main",
             ext[0] ? "." : "", ext);
    if (!f || !c->files) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return false;
    }
    codecourt__v1__source_file__init(f);
    f->name = cc_arena_strdup(a, name);
    f->content.data = (uint8_t *)rq->source;
    f->content.len = strlen(rq->source);
    c->files[0] = f;
    c->nfiles = 1;
    return true;
}

/* SHA-256 over what identifies the request: problem, language, contest
 * and every file's name and bytes, each length-prefixed. */
static void body_hash(submit_ctx *c)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_DigestInit_ex(m, EVP_sha256(), NULL);
    /* The contest only when there is one, so the hashes of submissions
     * made before contests existed still match their retries. */
    const char *parts[] = {c->rq->problem, c->lang, c->rq->contest};
    for (int i = 0; i < (c->rq->contest[0] ? 3 : 2); i++) {
        uint64_t l = strlen(parts[i]);
        EVP_DigestUpdate(m, &l, sizeof l);
        EVP_DigestUpdate(m, parts[i], l);
    }
    for (size_t i = 0; i < c->nfiles; i++) {
        uint64_t l = strlen(c->files[i]->name);
        EVP_DigestUpdate(m, &l, sizeof l);
        EVP_DigestUpdate(m, c->files[i]->name, l);
        l = c->files[i]->content.len;
        EVP_DigestUpdate(m, &l, sizeof l);
        EVP_DigestUpdate(m, c->files[i]->content.data, l);
    }
    EVP_DigestFinal_ex(m, d, &dl);
    EVP_MD_CTX_free(m);
    for (int i = 0; i < 32; i++)
        snprintf(c->hash + 2 * i, 3, "%02x", d[i]);
}

/* ---- 5: the key and the user's limits -------------------------------------------- */

static void precheck(submit_ctx *c)
{
    const char *key = c->rq->idempotency_key;
    cc_pg_param p[] = {CC_PG_TEXT(c->who), key[0] ? CC_PG_TEXT(key) : CC_PG_NULL};
    cc_status s = cc_pg_query(
        c->st->pg,
        "SELECT k.id::text, k.body_hash, "
        "(SELECT count(*) FROM submissions WHERE user_id = $1 AND status <> 'judged'), "
        "(SELECT count(*) FROM submissions WHERE user_id = $1 "
        " AND created_at > now() - interval '1 minute') "
        "FROM (SELECT 1) one LEFT JOIN submissions k ON k.user_id = $1 "
        "AND k.idempotency_key = $2",
        p, 2, prechecked, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "check submission limits");
}

static void prechecked(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    submit_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "check submission limits");
        return;
    }
    if (!cc_pg_isnull(r, 0, 0)) {
        if (strcmp(cc_pg_get(r, 0, 1), c->hash) != 0) {
            cc_rpc_fail(c->call, CC_UNPROCESSABLE,
                        "Idempotency-Key: the key was already used for a different submission");
            return;
        }
        snprintf(c->id, sizeof c->id, "%s", cc_pg_get(r, 0, 0));
        reply_existing(c);
        return;
    }
    int64_t queued = 0, recent = 0;
    cc_pg_get_int64(r, 0, 2, &queued);
    cc_pg_get_int64(r, 0, 3, &recent);
    const sub_settings *cfg = c->st->cfg;
    /* After the key lookup, so a retry whose 201 was lost still gets its
     * submission; before anything is written, so a 503 stores nothing. */
    int64_t down = cc_js_unavailable_ms();
    if (down > cfg->queue_down_ms) {
        cc_rpc_fail(c->call, CC_UNAVAILABLE,
                    "the judging queue is unavailable (its stream has not acked for %" PRId64
                    " ms); retry later",
                    down);
        return;
    }
    if (queued >= cfg->max_queued) {
        cc_rpc_fail(c->call, CC_RATE_LIMITED,
                    "you have %" PRId64 " submissions waiting to be judged (at most %" PRId64
                    "); wait for their verdicts",
                    queued, cfg->max_queued);
        return;
    }
    if (recent >= cfg->rate_per_min) {
        cc_rpc_fail(c->call, CC_RATE_LIMITED,
                    "at most %" PRId64 " submissions per minute; retry later", cfg->rate_per_min);
        return;
    }
    if (c->rq->contest[0])
        check_contest(c);
    else
        lookup_problem(c);
}

/* ---- 6: the contest -------------------------------------------------------------- */

/* Asks cc-contest, as this service, whether the caller may submit the
 * problem in the contest now: the answer names the team it counts for. */
static void check_contest(submit_ctx *c)
{
    Codecourt__V1__CheckSubmissionRequest rq = CODECOURT__V1__CHECK_SUBMISSION_REQUEST__INIT;
    rq.contest = (char *)c->rq->contest;
    rq.problem = (char *)c->rq->problem;
    rq.user_id = (char *)c->who;
    cc_envelope env;
    cc_envelope_child(&env, cc_rpc_envelope(c->call), NULL);
    cc_status s = cc_rpc_call_as_service_async(
        cc_rpc_bus(c->call), "contest", "CheckSubmission", &env, &rq.base,
        &codecourt__v1__check_submission_reply__descriptor,
        cc_actor_runtime(c->st->actor)->rpc_timeout_ms, contest_checked, c);
    if (s != CC_OK)
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "contest: the contest service is unreachable");
}

static void contest_checked(cc_status s, const char *errmsg, const ProtobufCMessage *resp,
                            void *ud)
{
    submit_ctx *c = ud;
    if (s != CC_OK) {
        /* cc-contest names why (not started, ended, not a participant,
         * problem not in it); a contest that does not exist is a 404. */
        cc_status out = s == CC_DENIED || s == CC_NOT_FOUND || s == CC_INVALID ? s
                        : s == CC_TIMEOUT                                      ? CC_UNAVAILABLE
                                                                               : s;
        cc_rpc_fail(c->call, out, "contest: %s", errmsg ? errmsg : cc_status_str(s));
        return;
    }
    const Codecourt__V1__CheckSubmissionReply *r = (const void *)resp;
    snprintf(c->team, sizeof c->team, "%s", r->team ? r->team : "");
    lookup_problem(c);
}

/* ---- 7: the problem, as the caller may see it ----------------------------------- */

static void lookup_problem(submit_ctx *c)
{
    Codecourt__V1__GetProblemRequest pr = CODECOURT__V1__GET_PROBLEM_REQUEST__INIT;
    pr.slug = (char *)c->rq->problem;
    cc_envelope env;
    cc_envelope_child(&env, cc_rpc_envelope(c->call), NULL);
    cc_status s = cc_rpc_call_async(cc_rpc_bus(c->call), "problem", "GetProblem", &env, &pr.base,
                                    &codecourt__v1__problem__descriptor,
                                    cc_actor_runtime(c->st->actor)->rpc_timeout_ms, got_problem, c);
    if (s != CC_OK)
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "problem: the problem service is unreachable");
}

static void got_problem(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    submit_ctx *c = ud;
    if (s == CC_NOT_FOUND || s == CC_DENIED) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "problem: no problem '%s'", c->rq->problem);
        return;
    }
    if (s != CC_OK) {
        cc_rpc_fail(c->call, s == CC_TIMEOUT ? CC_UNAVAILABLE : s,
                    "problem: cannot look up '%s': %s", c->rq->problem,
                    errmsg ? errmsg : cc_status_str(s));
        return;
    }
    const Codecourt__V1__Problem *p = (const void *)resp;
    if (p->deleted) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "problem: no problem '%s'", c->rq->problem);
        return;
    }
    if (!p->version || !p->version->hash || !p->version->hash[0]) {
        cc_rpc_fail(c->call, CC_UNPROCESSABLE, "problem: '%s' has no version to judge against",
                    c->rq->problem);
        return;
    }
    snprintf(c->problem_id, sizeof c->problem_id, "%s", p->id ? p->id : "");
    snprintf(c->owner, sizeof c->owner, "%s", p->owner_id ? p->owner_id : "");
    snprintf(c->version, sizeof c->version, "%s", p->version->hash);
    Codecourt__V1__GetVersionManifestRequest mr = CODECOURT__V1__GET_VERSION_MANIFEST_REQUEST__INIT;
    mr.slug = (char *)c->rq->problem;
    mr.hash = c->version;
    cc_envelope env;
    cc_envelope_child(&env, cc_rpc_envelope(c->call), NULL);
    s = cc_rpc_call_async(cc_rpc_bus(c->call), "problem", "GetVersionManifest", &env, &mr.base,
                          &codecourt__v1__version_manifest__descriptor,
                          cc_actor_runtime(c->st->actor)->rpc_timeout_ms, got_manifest, c);
    if (s != CC_OK)
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "problem: the problem service is unreachable");
}

static void got_manifest(cc_status s, const char *errmsg, const ProtobufCMessage *resp, void *ud)
{
    submit_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail(c->call, s == CC_NOT_FOUND ? CC_UNPROCESSABLE : s,
                    "problem: cannot get the test data of '%s': %s", c->rq->problem,
                    errmsg ? errmsg : cc_status_str(s));
        return;
    }
    const Codecourt__V1__VersionManifest *m = (const void *)resp;
    cc_arena *a = cc_rpc_arena(c->call);
    c->npkg = m->n_files;
    c->pkg = cc_arena_alloc(a, (m->n_files ? m->n_files : 1) * sizeof *c->pkg);
    if (!c->pkg) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < m->n_files; i++) {
        Codecourt__V1__PackageFile *f = cc_arena_alloc(a, sizeof *f);
        if (!f) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
        codecourt__v1__package_file__init(f);
        f->path = cc_arena_strdup(a, m->files[i]->path);
        f->sha256 = cc_arena_strdup(a, m->files[i]->sha256);
        f->size = m->files[i]->size;
        if (!f->path || !f->sha256) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
        c->pkg[i] = f;
    }
    if (c->npkg == 0) {
        cc_rpc_fail(c->call, CC_UNPROCESSABLE, "problem: '%s' has no test data yet",
                    c->rq->problem);
        return;
    }
    store(c);
}

/* ---- 8: the transaction --------------------------------------------------------- */

static void store(submit_ctx *c)
{
    sub_uuid_new(c->id);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c->created_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    char created[32];
    snprintf(created, sizeof created, "%" PRId64, c->created_ms);
    Codecourt__V1__JudgeJob job = CODECOURT__V1__JUDGE_JOB__INIT;
    job.submission_id = c->id;
    job.attempt = 1;
    job.user_id = (char *)c->who;
    job.problem = (char *)c->rq->problem;
    job.problem_version = c->version;
    job.language = (char *)c->lang;
    job.n_sources = c->nfiles;
    job.sources = c->files;
    job.n_package = c->npkg;
    job.package = c->pkg;
    job.contest = (char *)c->rq->contest;
    size_t len = protobuf_c_message_get_packed_size(&job.base);
    uint8_t *packed = cc_arena_alloc(cc_rpc_arena(c->call), len ? len : 1);
    if (!packed) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    protobuf_c_message_pack(&job.base, packed);
    /* The stored job holds the sources: sealed (cc/seal.h). The outbox
     * row that queues it is emptied once the stream has it. */
    uint8_t *sealed = NULL;
    size_t slen = 0;
    char kid[CC_SEAL_ID_MAX];
    cc_status s = sub_seal(c->st, c->id, "job_sealed", packed, len, &sealed, &slen, kid);
    if (s != CC_OK) {
        cc_rpc_fail(c->call, s, "cannot seal the submission: %s", cc_err_msg());
        return;
    }
    cc_pg_tx *tx;
    s = cc_pg_begin(c->st->pg, &tx);
    if (s != CC_OK) {
        free(sealed);
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "store submission");
        return;
    }
    const char *key = c->rq->idempotency_key;
    cc_pg_param p[] = {CC_PG_TEXT(c->id),         CC_PG_TEXT(c->who),
                       CC_PG_TEXT(c->rq->problem), CC_PG_TEXT(c->problem_id),
                       CC_PG_TEXT(c->owner),      CC_PG_TEXT(c->version),
                       CC_PG_TEXT(c->lang),       key[0] ? CC_PG_TEXT(key) : CC_PG_NULL,
                       CC_PG_TEXT(c->hash),       CC_PG_BYTES(sealed, slen),
                       CC_PG_TEXT(c->rq->contest), CC_PG_TEXT(c->team),
                       CC_PG_TEXT(created),       CC_PG_TEXT(kid)};
    cc_pg_tx_query(tx,
                   "INSERT INTO submissions (id, user_id, problem, problem_id, problem_owner, "
                   "problem_version, language, idempotency_key, body_hash, job_sealed, contest, "
                   "team, created_at, job_key) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, "
                   "$10::bytea, $11, $12, to_timestamp($13::bigint / 1000.0), $14)",
                   p, 14, NULL, NULL);
    free(sealed);
    /* The event before the job: the stream has the submission before any
     * judge can report on it. */
    add_created_event(c, tx);
    sub_queue_job(tx, cc_rpc_envelope(c->call), &job);
    cc_pg_tx_commit(tx, committed, c);
}

/* The cc.evt.submission.created row, in tx: the contest read model takes
 * the submission's time and team from it. */
static void add_created_event(submit_ctx *c, cc_pg_tx *tx)
{
    Codecourt__V1__SubmissionCreated ev = CODECOURT__V1__SUBMISSION_CREATED__INIT;
    ev.submission_id = c->id;
    ev.user_id = (char *)c->who;
    ev.problem = (char *)c->rq->problem;
    ev.language = (char *)c->lang;
    ev.contest = (char *)c->rq->contest;
    ev.team = c->team;
    ev.created_at_ms = c->created_ms;
    size_t len = protobuf_c_message_get_packed_size(&ev.base);
    uint8_t buf[1024];
    char msg_id[64];
    snprintf(msg_id, sizeof msg_id, "created-%s", c->id);
    if (len <= sizeof buf) {
        protobuf_c_message_pack(&ev.base, buf);
        cc_outbox_add(tx, SUB_CREATED_SUBJECT, cc_rpc_envelope(c->call), c->id,
                      "codecourt.v1.SubmissionCreated", msg_id, buf, len, NULL, NULL);
    }
}

/* ---- 9: the answer -------------------------------------------------------------- */

static void committed(cc_status s, const char *errmsg, void *ud)
{
    submit_ctx *c = ud;
    if (s == CC_EXISTS && c->rq->idempotency_key[0] && !c->rechecked) {
        /* The same key arrived twice at once and the other request won:
         * answer as a retry would be answered. */
        c->rechecked = true;
        precheck(c);
        return;
    }
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "store submission");
        return;
    }
    cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call), "submission queued", "{s:s, s:s, s:s, s:s}",
           "id", c->id, "user", c->who, "problem", c->rq->problem, "language", c->lang);
    sub_live(c->st, cc_rpc_envelope(c->call), c->who, c->id, 1, "queued", "", 0, 0, NULL, false,
             0);
    Codecourt__V1__Submission sub = CODECOURT__V1__SUBMISSION__INIT;
    sub.id = c->id;
    sub.user_id = (char *)c->who;
    sub.problem = (char *)c->rq->problem;
    sub.problem_version = c->version;
    sub.language = (char *)c->lang;
    sub.status = "queued";
    sub.attempt = 1;
    sub.created_at = c->created_ms / 1000;
    sub.contest = (char *)c->rq->contest;
    sub.team = c->team;
    cc_rpc_reply(c->call, &sub.base);
}

static void reply_existing(submit_ctx *c)
{
    cc_pg_param p[] = {CC_PG_TEXT(c->id)};
    cc_status s = cc_pg_query(c->st->pg, "SELECT " SUB_COLS " FROM submissions s WHERE s.id = $1::uuid",
                              p, 1, reply_row, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "load submission");
}

static void reply_row(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    submit_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "load submission");
        return;
    }
    Codecourt__V1__Submission *sub = cc_pg_nrows(r) == 1 ? sub_from_row(c->call, r, 0) : NULL;
    if (!sub) {
        cc_rpc_fail(c->call, CC_INTERNAL, "submission %s vanished", c->id);
        return;
    }
    cc_rpc_reply(c->call, &sub->base);
}

/* ---- names ---------------------------------------------------------------------- */

/* A source path: relative, at most 100 bytes of [A-Za-z0-9._/-], no "."
 * or ".." segment, no segment starting with '-' (a name reaches the
 * compiler's command line, where it would be an option; the judge refuses
 * it too). */
static bool path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 100 || p[0] == '/' || p[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || ch == '/'))
            return false;
    }
    for (const char *s = p; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL) {
        size_t l = strcspn(s, "/");
        if (l == 0 || s[0] == '-' || (l == 1 && s[0] == '.') ||
            (l == 2 && s[0] == '.' && s[1] == '.'))
            return false;
    }
    return true;
}

static bool slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || (s[i] == '-' && i)))
            return false;
    return true;
}
