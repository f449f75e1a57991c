/* GetSubmission, ListSubmissions and ListLanguages: reads on the loop's
 * pool. A submission is visible to its owner, the owner of its problem and
 * admins; to anyone else it does not exist (404, so ids do not leak). Its
 * secret tests' messages reach only those sub_sees_secret lets through. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "sub.h"

/* ---- GetSubmission ------------------------------------------------------------- */

typedef struct get_ctx {
    cc_rpc_call *call;
    sub_state *st;
    const char *id;
    Codecourt__V1__Submission *sub;
    bool sees_secret; /* the caller may read secret tests' messages */
} get_ctx;

/* Unpacks a bytea column into the call's arena; NULL when NULL or bad. */
static ProtobufCMessage *unpack_col(cc_rpc_call *call, const ProtobufCMessageDescriptor *d,
                                    const cc_pg_result *r, int row, int col)
{
    if (cc_pg_isnull(r, row, col))
        return NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (cc_pg_get_bytea(r, row, col, &buf, &len) != CC_OK)
        return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &cc_rpc_arena(call)->pb, len, buf);
    free(buf);
    return m;
}

static void got_tests(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    get_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "load test results");
        return;
    }
    int n = cc_pg_nrows(r);
    c->sub->tests = cc_arena_alloc(cc_rpc_arena(c->call), (size_t)(n ? n : 1) * sizeof(void *));
    if (!c->sub->tests) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        ProtobufCMessage *t =
            unpack_col(c->call, &codecourt__v1__test_result__descriptor, r, i, 0);
        if (t)
            c->sub->tests[c->sub->n_tests++] = (Codecourt__V1__TestResult *)t;
    }
    sub_redact_tests(c->sub->tests, c->sub->n_tests, c->sees_secret);
    cc_rpc_reply(c->call, &c->sub->base);
}

static void got_one(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    get_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "load submission");
        return;
    }
    const cc_principal *who = cc_rpc_principal(c->call);
    if (cc_pg_nrows(r) != 1 ||
        !(who->role == CC_ROLE_ADMIN || !strcmp(cc_pg_get(r, 0, 1), who->id) ||
          !strcmp(cc_pg_get(r, 0, SUB_NCOLS), who->id))) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "id: no submission %s", c->id);
        return;
    }
    Codecourt__V1__Submission *sub = sub_from_row(c->call, r, 0);
    if (!sub) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    c->sub = sub;
    c->sees_secret = sub_sees_secret(who->role, who->id, cc_pg_get(r, 0, SUB_NCOLS));
    cc_arena *a = cc_rpc_arena(c->call);
    Codecourt__V1__JudgeJob *job = (Codecourt__V1__JudgeJob *)sub_open_msg(
        c->st, a, &codecourt__v1__judge_job__descriptor, r, 0, SUB_NCOLS + 3, SUB_NCOLS + 4,
        sub->id, "job_sealed");
    if (job) {
        sub->n_files = job->n_sources;
        sub->files = job->sources;
    }
    Codecourt__V1__JudgeResult *res = (Codecourt__V1__JudgeResult *)sub_open_msg(
        c->st, a, &codecourt__v1__judge_result__descriptor, r, 0, SUB_NCOLS + 1, SUB_NCOLS + 2,
        sub->id, "result_sealed");
    if (res) {
        sub->n_tests = res->n_tests;
        sub->tests = res->tests;
        sub_redact_tests(sub->tests, sub->n_tests, c->sees_secret);
        sub->compile_output = res->compile_output;
        sub->message = res->message;
        cc_rpc_reply(c->call, &sub->base);
        return;
    }
    /* Not judged yet: the tests finished so far. */
    char att[16];
    snprintf(att, sizeof att, "%" PRIu32, sub->attempt);
    cc_pg_param p[] = {CC_PG_TEXT(sub->id), CC_PG_TEXT(att)};
    s = cc_pg_query(c->st->pg,
                    "SELECT result FROM submission_tests WHERE submission_id = $1::uuid "
                    "AND attempt = $2::int ORDER BY idx",
                    p, 2, got_tests, c);
    if (s != CC_OK)
        cc_rpc_fail_db(c->call, s, cc_err_msg(), "load test results");
}

void sub_get(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__GetSubmissionRequest *rq = (const void *)req;
    if (!sub_uuid_ok(rq->id)) {
        cc_rpc_fail(call, CC_NOT_FOUND, "id: no submission '%.40s'", rq->id);
        return;
    }
    get_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    memset(c, 0, sizeof *c);
    c->call = call;
    c->st = sub_state_of(actor);
    c->id = rq->id;
    cc_pg_param p[] = {CC_PG_TEXT(rq->id)};
    cc_status s = cc_pg_query(c->st->pg,
                              "SELECT " SUB_COLS ", s.problem_owner, s.result_sealed, s.result_key, "
                              "s.job_sealed, s.job_key "
                              "FROM submissions s WHERE s.id = $1::uuid",
                              p, 1, got_one, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "load submission");
}

/* ---- ListSubmissions -------------------------------------------------------------- */

typedef struct list_ctx {
    cc_rpc_call *call;
    int size;
} list_ctx;

static void listed(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    list_ctx *c = ud;
    if (s != CC_OK) {
        cc_rpc_fail_db(c->call, s, errmsg, "list submissions");
        return;
    }
    int n = cc_pg_nrows(r);
    bool more = n > c->size;
    if (more)
        n = c->size;
    Codecourt__V1__SubmissionList *l = cc_arena_alloc(cc_rpc_arena(c->call), sizeof *l);
    void **v = cc_arena_alloc(cc_rpc_arena(c->call), (size_t)(n ? n : 1) * sizeof *v);
    if (!l || !v) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__submission_list__init(l);
    l->submissions = (Codecourt__V1__Submission **)v;
    for (int i = 0; i < n; i++) {
        Codecourt__V1__Submission *sub = sub_from_row(c->call, r, i);
        if (!sub) {
            cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
            return;
        }
        l->submissions[l->n_submissions++] = sub;
    }
    if (more) {
        /* Opaque to clients: "<created_at in µs>.<id>" of the last row. */
        char cur[96];
        snprintf(cur, sizeof cur, "%s.%s", cc_pg_get(r, n - 1, SUB_NCOLS), cc_pg_get(r, n - 1, 0));
        l->next_cursor = cc_arena_strdup(cc_rpc_arena(c->call), cur);
    }
    cc_rpc_reply(c->call, &l->base);
}

static bool filter_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    return true;
}

void sub_list(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    const Codecourt__V1__ListSubmissionsRequest *rq = (const void *)req;
    /* ListSubmissions is CC_RPC_AUTH: the caller is signed in. */
    const cc_principal *who = cc_rpc_principal(call);
    if (rq->page_size < 0 || rq->page_size > 100) {
        cc_rpc_fail(call, CC_INVALID, "pageSize: between 1 and 100");
        return;
    }
    if (!filter_ok(rq->problem, 64) || !filter_ok(rq->verdict, 8) ||
        !filter_ok(rq->language, 40) || !filter_ok(rq->status, 16) ||
        (rq->user_id[0] && !sub_uuid_ok(rq->user_id))) {
        cc_rpc_fail(call, CC_INVALID, "filter: a filter value is malformed");
        return;
    }
    if (rq->user_id[0] && who->role != CC_ROLE_ADMIN && strcmp(rq->user_id, who->id) != 0) {
        cc_rpc_fail(call, CC_DENIED, "userId: only admins list other users' submissions");
        return;
    }
    /* Without a problem or a user, the list is the caller's own. */
    bool mine = rq->mine || (!rq->problem[0] && !rq->user_id[0]);
    char cur_us[32] = "", cur_id[40] = "";
    if (rq->cursor[0]) {
        const char *dot = strchr(rq->cursor, '.');
        if (!dot || dot == rq->cursor || (size_t)(dot - rq->cursor) >= sizeof cur_us ||
            !sub_uuid_ok(dot + 1)) {
            cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor from nextCursor");
            return;
        }
        memcpy(cur_us, rq->cursor, (size_t)(dot - rq->cursor));
        cur_us[dot - rq->cursor] = '\0';
        for (char *q = cur_us; *q; q++)
            if (*q < '0' || *q > '9') {
                cc_rpc_fail(call, CC_INVALID, "cursor: not a cursor from nextCursor");
                return;
            }
        snprintf(cur_id, sizeof cur_id, "%s", dot + 1);
    }
    list_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->size = rq->page_size ? rq->page_size : 20;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", c->size + 1);
    cc_pg_param p[] = {CC_PG_TEXT(who->role == CC_ROLE_ADMIN ? "true" : "false"),
                       CC_PG_TEXT(who->id),
                       CC_PG_TEXT(rq->problem),
                       CC_PG_TEXT(mine ? "true" : "false"),
                       CC_PG_TEXT(rq->user_id),
                       CC_PG_TEXT(rq->verdict),
                       CC_PG_TEXT(rq->language),
                       CC_PG_TEXT(rq->status),
                       cur_us[0] ? CC_PG_TEXT(cur_us) : CC_PG_NULL,
                       cur_id[0] ? CC_PG_TEXT(cur_id) : CC_PG_NULL,
                       CC_PG_TEXT(lim)};
    cc_status s = cc_pg_query(
        sub_state_of(actor)->pg,
        "SELECT " SUB_COLS ", (extract(epoch from s.created_at) * 1000000)::bigint "
        "FROM submissions s WHERE ($1::bool OR s.user_id = $2 OR s.problem_owner = $2) "
        "AND ($3 = '' OR s.problem = $3) AND (NOT $4::bool OR s.user_id = $2) "
        "AND ($5 = '' OR s.user_id = $5) AND ($6 = '' OR s.verdict = $6) "
        "AND ($7 = '' OR s.language = $7) AND ($8 = '' OR s.status = $8) "
        "AND ($9::bigint IS NULL OR ((extract(epoch from s.created_at) * 1000000)::bigint, s.id) "
        "< ($9::bigint, $10::uuid)) "
        "ORDER BY s.created_at DESC, s.id DESC LIMIT $11::int",
        p, 11, listed, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "list submissions");
}

/* ---- ListLanguages ------------------------------------------------------------------ */

void sub_languages(cc_rpc_call *call, const ProtobufCMessage *req, void *actor)
{
    sub_state *st = sub_state_of(actor);
    cc_arena *a = cc_rpc_arena(call);
    size_t n = judge_langs_count(st->langs);
    Codecourt__V1__LanguageList *l = cc_arena_alloc(a, sizeof *l);
    Codecourt__V1__Language *v = cc_arena_alloc(a, (n ? n : 1) * sizeof *v);
    Codecourt__V1__Language **pv = cc_arena_alloc(a, (n ? n : 1) * sizeof *pv);
    if (!l || !v || !pv) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    codecourt__v1__language_list__init(l);
    l->languages = pv;
    l->n_languages = n;
    for (size_t i = 0; i < n; i++) {
        const judge_lang *lang = judge_langs_at(st->langs, i);
        codecourt__v1__language__init(&v[i]);
        v[i].id = (char *)judge_lang_id(lang);
        v[i].name = (char *)judge_lang_name(lang);
        v[i].extension = (char *)judge_lang_extension(lang);
        v[i].available = sub_lang_available(st, lang);
        pv[i] = &v[i];
    }
    cc_rpc_reply(call, &l->base);
}
