/* Custom invocations (the app's Run): a user's source on the user's own
 * input, no problem, judged in the same sandbox as submissions.
 *
 *   CreateRun: validate -> the user's run limits (one query) -> store the
 *              run -> publish its job (kind "run") to CC_JUDGE -> reply.
 *   FinishRun: the judge's RunResult (caller-scoped: only the judge may
 *              call it) -> store it -> push it live to the user.
 *   GetRun:    the run, to its user.
 *   sweep:     a timer deletes runs past run-ttl.
 *
 * The job is published straight to CC_JUDGE, not through the outbox: the
 * outbox keeps what it relays, and nothing of a run (code, input, output)
 * may outlive run-ttl. CC_JUDGE is a work queue, so the job is gone once
 * a judge acks it; the table holds only the answer, until the sweep. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/log.h"
#include "codecourt/v1/user.pb-c.h"
#include "sub.h"

/* The columns run_from_row reads, in order. */
#define RUN_COLS                                                                                   \
    "id::text, user_id, language, status, verdict, result, "                                     \
    "extract(epoch from created_at)::bigint, extract(epoch from expires_at)::bigint"

typedef struct run_ctx {
    cc_rpc_call *call;
    sub_state *st;
    const Codecourt__V1__CreateRunRequest *rq;
    char who[64];
    const judge_lang *lang;
    char id[37];
    int64_t created_at, expires_at;
} run_ctx;

static void run_limits(run_ctx *c);
static void run_store(run_ctx *c);
static void run_publish(run_ctx *c);

/* ---- CreateRun ------------------------------------------------------------------ */

void sub_create_run(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__CreateRunRequest *rq = (const void *)req;
    run_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = sub_state_of(actor);
    c->rq = rq;
    const sub_settings *cfg = c->st->cfg;
    if (cc_rpc_principal(call)->role == CC_ROLE_ANON) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to run code");
        return;
    }
    snprintf(c->who, sizeof c->who, "%s", cc_rpc_principal(call)->id);
    if (!rq->language[0]) {
        cc_rpc_fail(call, CC_INVALID, "language: required (GET /v1/languages lists them)");
        return;
    }
    c->lang = judge_langs_find(c->st->langs, rq->language);
    if (!c->lang) {
        cc_rpc_fail(call, CC_INVALID,
                    "language: unknown language '%.40s' (GET /v1/languages lists them)",
                    rq->language);
        return;
    }
    if (!sub_lang_available(c->st, c->lang)) {
        cc_rpc_fail(call, CC_UNPROCESSABLE, "language: '%s' is not installed on the judges",
                    judge_lang_id(c->lang));
        return;
    }
    if (!rq->source[0]) {
        cc_rpc_fail(call, CC_INVALID, "source: the run has no code");
        return;
    }
    if (strlen(rq->source) > (size_t)cfg->max_source) {
        cc_rpc_fail(call, CC_INVALID, "source: %zu bytes of code, at most %" PRId64,
                    strlen(rq->source), cfg->max_source);
        return;
    }
    if (strlen(rq->stdin) > (size_t)cfg->max_stdin) {
        cc_rpc_fail(call, CC_INVALID, "stdin: %zu bytes of input, at most %" PRId64,
                    strlen(rq->stdin), cfg->max_stdin);
        return;
    }
    run_limits(c);
}

static void limits_read(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    run_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "check run limits");
        return;
    }
    int64_t queued = 0, recent = 0, wait_s = 0;
    cc_pg_get_int64(r, 0, 0, &queued);
    cc_pg_get_int64(r, 0, 1, &recent);
    cc_pg_get_int64(r, 0, 2, &wait_s);
    const sub_settings *cfg = c->st->cfg;
    /* "; retry after N s" lets the gateway send Retry-After. */
    if (queued >= cfg->run_max_queued) {
        cc_rpc_fail(c->call, CC_RATE_LIMITED,
                    "you have %" PRId64 " runs waiting (at most %" PRId64 "); retry after 2 s",
                    queued, cfg->run_max_queued);
        return;
    }
    if (recent >= cfg->run_rate_per_min) {
        cc_rpc_fail(c->call, CC_RATE_LIMITED,
                    "at most %" PRId64 " runs per minute; retry after %" PRId64 " s",
                    cfg->run_rate_per_min, wait_s > 0 ? wait_s : 1);
        return;
    }
    run_store(c);
}

/* How many of the user's runs wait, how many were made in the last
 * minute, and in how many seconds the oldest of those leaves the window. */
static void run_limits(run_ctx *c)
{
    cc_pg_param p[] = {CC_PG_TEXT(c->who)};
    cc_status s = cc_pg_query(
        c->st->pg,
        "SELECT count(*) FILTER (WHERE status = 'queued' AND expires_at > now()), "
        "count(*) FILTER (WHERE created_at > now() - interval '1 minute'), "
        "coalesce(ceil(extract(epoch from min(created_at) FILTER (WHERE created_at > now() - "
        "interval '1 minute') + interval '1 minute' - now()))::bigint, 0) "
        "FROM runs WHERE user_id = $1",
        p, 1, limits_read, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "check run limits");
}

static void stored(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    run_ctx *c = ud;
    if (s != CC_OK || cc_pg_nrows(r) != 1) {
        cc_rpc_fail_db(c->call, s == CC_OK ? CC_INTERNAL : s, errmsg, "store run");
        return;
    }
    cc_pg_get_int64(r, 0, 0, &c->created_at);
    cc_pg_get_int64(r, 0, 1, &c->expires_at);
    run_publish(c);
}

static void run_store(run_ctx *c)
{
    sub_uuid_new(c->id);
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%" PRId64, c->st->cfg->run_ttl_ms);
    cc_pg_param p[] = {CC_PG_TEXT(c->id), CC_PG_TEXT(c->who), CC_PG_TEXT(judge_lang_id(c->lang)),
                       CC_PG_TEXT(ttl)};
    cc_status s = cc_pg_query(c->st->pg,
                              "INSERT INTO runs (id, user_id, language, expires_at) VALUES "
                              "($1::uuid, $2, $3, now() + $4::bigint * interval '1 millisecond') "
                              "RETURNING extract(epoch from created_at)::bigint, "
                              "extract(epoch from expires_at)::bigint",
                              p, 4, stored, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "store run");
}

static void forgotten(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    (void)s, (void)errmsg, (void)r, (void)ud; /* the sweep removes it otherwise */
}

static void published(cc_status s, const char *errmsg, const cc_js_pub_ack *ack, void *ud)
{
    (void)ack;
    run_ctx *c = ud;
    if (s != CC_OK) {
        /* Nobody will answer this run: it goes, and the user may retry. */
        cc_pg_param p[] = {CC_PG_TEXT(c->id)};
        cc_pg_query(c->st->pg, "DELETE FROM runs WHERE id = $1::uuid", p, 1, forgotten, NULL);
        cc_rpc_fail(c->call, CC_UNAVAILABLE, "the judges' queue is unavailable: %s",
                    errmsg ? errmsg : cc_status_str(s));
        return;
    }
    cc_log(CC_LOG_INFO, cc_rpc_envelope(c->call), "run queued", "{s:s, s:s, s:s}", "id", c->id,
           "user", c->who, "language", judge_lang_id(c->lang));
    Codecourt__V1__Run run = CODECOURT__V1__RUN__INIT;
    run.id = c->id;
    run.user_id = c->who;
    run.language = (char *)judge_lang_id(c->lang);
    run.status = "queued";
    run.created_at = c->created_at;
    run.expires_at = c->expires_at;
    cc_rpc_reply(c->call, &run.base);
}

static void run_publish(run_ctx *c)
{
    cc_arena *a = cc_rpc_arena(c->call);
    Codecourt__V1__SourceFile f = CODECOURT__V1__SOURCE_FILE__INIT;
    Codecourt__V1__SourceFile *files[1] = {&f};
    char name[64];
    const char *ext = judge_lang_extension(c->lang);
    /* One file named as a submission's is, so Java's Main sits in Main.java. */
    snprintf(name, sizeof name, "%s%s%s", strcmp(judge_lang_id(c->lang), "java") ? "main" : "Main",
             ext[0] ? "." : "", ext);
    f.name = name;
    f.content.data = (uint8_t *)c->rq->source;
    f.content.len = strlen(c->rq->source);
    Codecourt__V1__JudgeJob job = CODECOURT__V1__JUDGE_JOB__INIT;
    job.submission_id = c->id;
    job.attempt = 1;
    job.user_id = c->who;
    job.language = (char *)judge_lang_id(c->lang);
    job.n_sources = 1;
    job.sources = files;
    job.kind = "run";
    job.stdin.data = (uint8_t *)c->rq->stdin;
    job.stdin.len = strlen(c->rq->stdin);
    size_t len = protobuf_c_message_get_packed_size(&job.base);
    uint8_t *buf = cc_arena_alloc(a, len ? len : 1);
    if (!buf) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    protobuf_c_message_pack(&job.base, buf);
    char msg_id[64];
    snprintf(msg_id, sizeof msg_id, "run-%s", c->id);
    /* As a submission's job: the judge works for the system, so the
     * user's principal stays behind. */
    cc_envelope e;
    cc_envelope_child(&e, cc_rpc_envelope(c->call), NULL);
    e.principal[0] = '\0';
    cc_status s = cc_js_publish(cc_actor_bus(c->st->actor), SUB_JOB_SUBJECT, msg_id, &e,
                                "codecourt.v1.JudgeJob", buf, len, NULL, published, c);
    if (s != CC_OK)
        published(s, cc_err_msg(), NULL, c);
}

/* ---- reading a run ------------------------------------------------------------------- */

/* A Run from row (RUN_COLS) in the call's arena; NULL when out of memory. */
static Codecourt__V1__Run *run_from_row(cc_rpc_call *call, const cc_pg_result *r)
{
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__Run *run = cc_arena_alloc(a, sizeof *run);
    if (!run)
        return NULL;
    codecourt__v1__run__init(run);
    run->id = cc_arena_strdup(a, cc_pg_get(r, 0, 0));
    run->user_id = cc_arena_strdup(a, cc_pg_get(r, 0, 1));
    run->language = cc_arena_strdup(a, cc_pg_get(r, 0, 2));
    run->status = cc_arena_strdup(a, cc_pg_get(r, 0, 3));
    run->verdict = cc_arena_strdup(a, cc_pg_get(r, 0, 4));
    cc_pg_get_int64(r, 0, 6, &run->created_at);
    cc_pg_get_int64(r, 0, 7, &run->expires_at);
    if (!run->id || !run->user_id || !run->language || !run->status || !run->verdict)
        return NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    if (!cc_pg_isnull(r, 0, 5) && cc_pg_get_bytea(r, 0, 5, &raw, &n) == CC_OK) {
        Codecourt__V1__RunResult *res = (Codecourt__V1__RunResult *)protobuf_c_message_unpack(
            &codecourt__v1__run_result__descriptor, &a->pb, n, raw);
        if (res) {
            run->stdout = res->stdout;
            run->stderr = res->stderr;
            run->stdout_truncated = res->stdout_truncated;
            run->stderr_truncated = res->stderr_truncated;
            run->compile_output = res->compile_output;
            run->message = res->message;
            run->cpu_ms = res->cpu_ms;
            run->wall_ms = res->wall_ms;
            run->memory_kib = res->memory_kib;
            run->exit_code = res->exit_code;
            run->signal = res->signal;
        }
    }
    free(raw);
    return run;
}

static void got_run(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    cc_rpc_call *call = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(call, s, errmsg, "load run");
        return;
    }
    if (cc_pg_nrows(r) != 1) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no such run (runs are kept only for a while)");
        return;
    }
    Codecourt__V1__Run *run = run_from_row(call, r);
    if (!run) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    cc_rpc_reply(call, &run->base);
}

void sub_get_run(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetRunRequest *rq = (const void *)req;
    sub_state *st = sub_state_of(actor);
    const char *who = cc_rpc_principal(call)->id;
    if (cc_rpc_principal(call)->role == CC_ROLE_ANON) {
        cc_rpc_fail(call, CC_UNAUTHENTICATED, "sign in to read your runs");
        return;
    }
    if (!sub_uuid_ok(rq->id)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no such run");
        return;
    }
    /* Only its own user: another's run (code output, input) is not even
     * said to exist. */
    cc_pg_param p[] = {CC_PG_TEXT(rq->id), CC_PG_TEXT(who)};
    cc_status s = cc_pg_query(st->pg,
                              "SELECT " RUN_COLS " FROM runs WHERE id = $1::uuid AND user_id = $2 "
                              "AND expires_at > now()",
                              p, 2, got_run, call);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "load run");
}

/* ---- FinishRun: the judge's answer ------------------------------------------------------- */

typedef struct finish_ctx {
    cc_rpc_call *call;
    sub_state *st;
    const Codecourt__V1__RunResult *res;
} finish_ctx;

/* The answer, live, as the app reads it: what GetRun gives, with "type". */
static void run_live(finish_ctx *c, const char *user_id)
{
    const Codecourt__V1__RunResult *r = c->res;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:I, s:I, s:I, "
                          "s:i, s:i}",
                          "type", "run", "id", r->run_id, "status", "done", "verdict", r->verdict,
                          "stdout", r->stdout, "stderr", r->stderr, "stdoutTruncated",
                          (int)r->stdout_truncated, "stderrTruncated", (int)r->stderr_truncated,
                          "compileOutput", r->compile_output, "message", r->message, "cpuMs",
                          (json_int_t)r->cpu_ms, "wallMs", (json_int_t)r->wall_ms, "memoryKib",
                          (json_int_t)r->memory_kib, "exitCode", r->exit_code, "signal",
                          r->signal);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return; /* not text a JSON string can hold: GetRun still has it */
    char subject[96];
    snprintf(subject, sizeof subject, "cc.live.user.%.64s", user_id);
    cc_envelope e;
    cc_envelope_child(&e, cc_rpc_envelope(c->call), "application/json");
    e.principal[0] = '\0';
    cc_bus_publish(cc_actor_bus(c->st->actor), subject, &e, NULL, text, strlen(text));
    free(text);
}

static void finished(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    finish_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "store run result");
        return;
    }
    /* No row: a second answer for the same run, or one already swept. */
    if (cc_pg_nrows(r) == 1)
        run_live(c, cc_pg_get(r, 0, 0));
    Codecourt__V1__Empty e = CODECOURT__V1__EMPTY__INIT;
    cc_rpc_reply(c->call, &e.base);
}

void sub_finish_run(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__RunResult *res = (const void *)req;
    const char *caller = cc_rpc_caller(call);
    if (!caller || strcmp(caller, "judge") != 0) {
        cc_rpc_fail(call, CC_DENIED, "only a judge reports runs");
        return;
    }
    if (!sub_uuid_ok(res->run_id)) {
        cc_rpc_fail(call, CC_INVALID, "run_id: not a run id");
        return;
    }
    finish_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    size_t len = protobuf_c_message_get_packed_size(&res->base);
    uint8_t *buf = cc_arena_alloc(cc_rpc_arena(call), len ? len : 1);
    if (!c || !buf) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->st = sub_state_of(actor);
    c->res = res;
    protobuf_c_message_pack(&res->base, buf);
    char verdict[8];
    snprintf(verdict, sizeof verdict, "%s", res->verdict[0] ? res->verdict : "IE");
    cc_pg_param p[] = {CC_PG_TEXT(res->run_id), CC_PG_TEXT(verdict), CC_PG_BYTES(buf, len)};
    cc_status s = cc_pg_query(c->st->pg,
                              "UPDATE runs SET status = 'done', verdict = $2, result = $3::bytea "
                              "WHERE id = $1::uuid AND status = 'queued' AND expires_at > now() "
                              "RETURNING user_id",
                              p, 3, finished, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "store run result");
}

/* ---- the sweep ------------------------------------------------------------------------ */

static void swept(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    (void)ud;
    if (s != CC_OK)
        cc_log(CC_LOG_WARN, NULL, "cannot delete expired runs", "{s:s}", "error",
               errmsg ? errmsg : cc_status_str(s));
    else if (cc_pg_affected(r) > 0)
        cc_log(CC_LOG_DEBUG, NULL, "expired runs deleted", "{s:I}", "count",
               (json_int_t)cc_pg_affected(r));
}

static void on_sweep(uv_timer_t *t)
{
    sub_state *st = t->data;
    if (!st->stopping && st->pg)
        cc_pg_query(st->pg, "DELETE FROM runs WHERE expires_at <= now()", NULL, 0, swept, NULL);
}

cc_status sub_runs_start(sub_state *st)
{
    /* Often enough that a run lives at most a quarter longer than run-ttl
     * (GetRun and FinishRun already ignore an expired one), at most once a
     * minute. */
    uint64_t every = (uint64_t)st->cfg->run_ttl_ms / 4;
    if (every > 60000)
        every = 60000;
    if (every < 100)
        every = 100;
    uv_timer_init(cc_actor_loop(st->actor), &st->sweep);
    st->sweep.data = st;
    st->sweep_open = true;
    uv_timer_start(&st->sweep, on_sweep, every, every);
    return CC_OK;
}

void sub_runs_stop(sub_state *st)
{
    if (st->sweep_open && !uv_is_closing((uv_handle_t *)&st->sweep)) {
        uv_timer_stop(&st->sweep);
        uv_close((uv_handle_t *)&st->sweep, NULL);
    }
}
