/* Names, rows to messages, and loading a problem as the caller may see
 * it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cc/log.h"
#include "problem.h"

bool prob_slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return false;
    }
    return true;
}

bool prob_sha_ok(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

const char *prob_difficulty_name(Codecourt__V1__Difficulty d)
{
    switch (d) {
    case CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY:
        return "easy";
    case CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM:
        return "medium";
    case CODECOURT__V1__DIFFICULTY__DIFFICULTY_HARD:
        return "hard";
    default:
        return "";
    }
}

Codecourt__V1__Difficulty prob_difficulty_parse(const char *s)
{
    if (!strcmp(s, "easy"))
        return CODECOURT__V1__DIFFICULTY__DIFFICULTY_EASY;
    if (!strcmp(s, "medium"))
        return CODECOURT__V1__DIFFICULTY__DIFFICULTY_MEDIUM;
    if (!strcmp(s, "hard"))
        return CODECOURT__V1__DIFFICULTY__DIFFICULTY_HARD;
    return CODECOURT__V1__DIFFICULTY__DIFFICULTY_UNSPECIFIED;
}

static const char *const type_names[] = {"", "pass-fail", "scoring", "interactive",
                                         "interactive-scoring"};

const char *prob_type_name(int t)
{
    return t >= 1 && t <= 4 ? type_names[t] : "pass-fail";
}

int prob_type_of(const pkg_meta *m)
{
    if (m->interactive)
        return m->scoring ? CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING
                          : CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE;
    return m->scoring ? CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_SCORING
                      : CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_PASS_FAIL;
}

int prob_type_parse(const char *s)
{
    for (int i = 1; i <= 4; i++)
        if (!strcmp(s, type_names[i]))
            return i;
    return CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_PASS_FAIL;
}

Codecourt__V1__Version *prob_version_from_row(cc_rpc_call *call, const cc_pg_result *r, int row,
                                              int c)
{
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__Version *v = cc_arena_alloc(a, sizeof *v);
    Codecourt__V1__Limits *l = cc_arena_alloc(a, sizeof *l);
    Codecourt__V1__Checker *k = cc_arena_alloc(a, sizeof *k);
    if (!v || !l || !k)
        return NULL;
    codecourt__v1__version__init(v);
    codecourt__v1__limits__init(l);
    codecourt__v1__checker__init(k);
    v->number = (int32_t)cc_pg_int(r, row, c);
    v->hash = cc_pg_text(a, r, row, c + 1);
    v->created_at = cc_pg_int(r, row, c + 2);
    v->created_by = cc_pg_text(a, r, row, c + 3);
    v->type = prob_type_parse(cc_pg_get(r, row, c + 4));
    l->time_limit_ms = (int32_t)cc_pg_int(r, row, c + 5);
    l->memory_mib = (int32_t)cc_pg_int(r, row, c + 6);
    l->output_mib = (int32_t)cc_pg_int(r, row, c + 7);
    k->kind = strcmp(cc_pg_get(r, row, c + 8), "custom") == 0
                  ? CODECOURT__V1__CHECKER_KIND__CHECKER_KIND_CUSTOM
                  : CODECOURT__V1__CHECKER_KIND__CHECKER_KIND_DEFAULT;
    k->validator_flags = cc_pg_text(a, r, row, c + 9);
    v->sample_count = (int32_t)cc_pg_int(r, row, c + 10);
    v->test_count = (int32_t)cc_pg_int(r, row, c + 11);
    v->file_count = (int32_t)cc_pg_int(r, row, c + 12);
    v->total_size = cc_pg_int(r, row, c + 13);
    v->limits = l;
    v->checker = k;
    return v->hash && v->created_by && k->validator_flags ? v : NULL;
}

Codecourt__V1__Problem *prob_from_row(cc_rpc_call *call, const cc_pg_result *r, int row,
                                      bool with_statement)
{
    cc_arena *a = cc_rpc_arena(call);
    Codecourt__V1__Problem *p = cc_arena_alloc(a, sizeof *p);
    if (!p)
        return NULL;
    codecourt__v1__problem__init(p);
    p->id = cc_pg_text(a, r, row, 0);
    p->slug = cc_pg_text(a, r, row, 1);
    p->title = cc_pg_text(a, r, row, 2);
    p->owner_id = cc_pg_text(a, r, row, 3);
    p->visibility = strcmp(cc_pg_get(r, row, 4), "public") == 0
                        ? CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC
                        : CODECOURT__V1__VISIBILITY__VISIBILITY_DRAFT;
    json_t *tags = json_loads(cc_pg_get(r, row, 5), 0, NULL);
    size_t nt = json_is_array(tags) ? json_array_size(tags) : 0;
    p->tags = nt ? cc_arena_alloc(a, nt * sizeof *p->tags) : NULL;
    for (size_t i = 0; p->tags && i < nt; i++) {
        const char *t = json_string_value(json_array_get(tags, i));
        p->tags[p->n_tags++] = cc_arena_strdup(a, t ? t : "");
    }
    json_decref(tags);
    p->difficulty = prob_difficulty_parse(cc_pg_get(r, row, 6));
    p->rating = (int32_t)cc_pg_int(r, row, 7);
    p->created_at = cc_pg_int(r, row, 8);
    p->updated_at = cc_pg_int(r, row, 9);
    p->deleted = cc_pg_bool(r, row, 10);
    if (!cc_pg_isnull(r, row, 11))
        p->version = prob_version_from_row(call, r, row, 11);
    int sc = 11 + PROB_NVCOLS;
    p->statement_markdown = with_statement ? cc_pg_text(a, r, row, sc) : "";
    p->statement_html = with_statement ? cc_pg_text(a, r, row, sc + 1) : "";
    if (!p->id || !p->slug || !p->title || !p->owner_id || !p->statement_markdown ||
        !p->statement_html)
        return NULL;
    return p;
}

/* ---- loading one problem ---------------------------------------------------- */

typedef struct load_ctx {
    cc_rpc_call *call;
    prob_loaded_cb done;
    void *ud;
    const cc_principal *who;
} load_ctx;

static void loaded(cc_status s, const char *errmsg, const cc_pg_result *r, void *ud)
{
    load_ctx *c = ud;
    if (!cc_rpc_one_row(c->call, s, errmsg, r, "load problem", "problem not found"))
        return;
    Codecourt__V1__Problem *p = prob_from_row(c->call, r, 0, true);
    if (!p) {
        cc_rpc_fail(c->call, CC_NOMEM, "out of memory");
        return;
    }
    /* A draft is invisible (not forbidden) to whoever may not edit it, so
     * its slug does not leak. */
    bool editor =
        c->who->role == CC_ROLE_ADMIN || (c->who->id[0] && strcmp(c->who->id, p->owner_id) == 0);
    if (p->visibility != CODECOURT__V1__VISIBILITY__VISIBILITY_PUBLIC && !editor) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "problem not found");
        return;
    }
    if (!p->version) {
        cc_rpc_fail(c->call, CC_NOT_FOUND, "version not found");
        return;
    }
    c->done(c->call, p, c->ud);
}

void prob_load(cc_rpc_call *call, prob_state *st, const char *slug, int version, bool by_id,
               prob_loaded_cb done, void *ud)
{
    load_ctx *c = cc_arena_alloc(cc_rpc_arena(call), sizeof *c);
    if (!c) {
        cc_rpc_fail(call, CC_NOMEM, "out of memory");
        return;
    }
    c->call = call;
    c->done = done;
    c->ud = ud;
    c->who = cc_rpc_principal(call);
    char vs[16];
    snprintf(vs, sizeof vs, "%d", version);
    cc_pg_param p[] = {CC_PG_TEXT(slug), CC_PG_TEXT(vs)};
    const char *sql =
        by_id ? "SELECT " PROB_COLS " FROM problems p LEFT JOIN versions v ON v.problem_id = p.id "
                "AND v.number = CASE WHEN $2::int > 0 THEN $2::int ELSE p.current_version END "
                "WHERE p.id = $1::uuid AND p.deleted_at IS NULL"
              : "SELECT " PROB_COLS " FROM problems p LEFT JOIN versions v ON v.problem_id = p.id "
                "AND v.number = CASE WHEN $2::int > 0 THEN $2::int ELSE p.current_version END "
                "WHERE p.slug = $1 AND p.deleted_at IS NULL";
    cc_status s = cc_pg_query(st->pg, sql, p, 2, loaded, c);
    if (s != CC_OK)
        cc_rpc_fail_db(call, s, cc_err_msg(), "load problem");
}
