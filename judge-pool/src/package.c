/* Kattis / ICPC problem packages: problem.yaml, data/ with test groups,
 * the output validator and the example submissions, in the legacy, 2023-07
 * and 2025-09 versions of the format. Every error names the file and what
 * is wrong with it; nothing in a package can crash the judge. */
#include "internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Guards against packages that are huge by accident or on purpose. */
#define PKG_MAX_TESTS 20000
#define PKG_MAX_DEPTH 8
#define PKG_MAX_SUBS 2000

static const char *const known_categories[] = {
    "accepted",       "wrong_answer",       "time_limit_exceeded",   "run_time_error",
    "compile_error",  "output_limit_exceeded", "partially_accepted", "rejected",
    "brute_force",    "memory_limit_exceeded", "presentation_error",
};

static cc_status bad(const judge_package *p, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cc_status bad(const judge_package *p, const char *file, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cc_err_set(CC_INVALID, "%s/%s: %s", p->dir, file, what);
}

static char *path_in(const judge_package *p, const char *rel)
{
    return judge__xasprintf("%s/%s", p->dir, rel);
}

/* Accepts a YAML list of words or one string of space-separated words (the
 * legacy format used strings, later versions use lists). */
static bool words(const ynode *n, jstrv *out)
{
    if (!n)
        return true;
    if (n->kind == YN_SCALAR) {
        char *dup = judge__xstrdup(n->str), *save = NULL;
        for (char *t = strtok_r(dup, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
            jstrv_push(out, t);
        free(dup);
        return true;
    }
    if (n->kind != YN_SEQ)
        return false;
    for (size_t i = 0; i < n->n; i++) {
        if (n->items[i]->kind != YN_SCALAR)
            return false;
        jstrv_push(out, n->items[i]->str);
    }
    return true;
}

static void copy_strv(const jstrv *from, jstrv *to)
{
    for (size_t i = 0; i < from->n; i++)
        jstrv_push(to, from->v[i]);
}

/* ---- problem.yaml ------------------------------------------------------------ */

static cc_status limit_num(judge_package *p, const ynode *limits, const char *key, double lo,
                           double *out)
{
    const ynode *n = ymap_get(limits, key);
    if (!n)
        return CC_OK;
    double v;
    if (!ynum(n, &v) || v < lo)
        return bad(p, "problem.yaml", "line %d: limits.%s must be a number >= %g", n->line, key,
                   lo);
    *out = v;
    return CC_OK;
}

static cc_status limit_long(judge_package *p, const ynode *limits, const char *key, long *out)
{
    double v = (double)*out;
    cc_status s = limit_num(p, limits, key, 1, &v);
    if (s == CC_OK) {
        if (v > 1e6)
            return bad(p, "problem.yaml", "limits.%s is too large", key);
        *out = (long)v;
    }
    return s;
}

static cc_status parse_problem_yaml(judge_package *p, bool *custom_validation)
{
    char *path = path_in(p, "problem.yaml");
    ynode *doc = NULL;
    cc_status s = ydoc_load_file(p->dir, path, &doc);
    free(path);
    if (s == CC_NOT_FOUND)
        return bad(p, "problem.yaml", "missing (every problem package needs one)");
    if (s != CC_OK)
        return CC_INVALID; /* the message names the file already */
    if (doc && doc->kind != YN_MAP) {
        ynode_free(doc);
        return bad(p, "problem.yaml", "must be a mapping of keys to values");
    }
    const char *fmt = yscalar(ymap_get(doc, "problem_format_version"));
    p->format = judge__xstrdup(fmt ? fmt : "legacy");
    p->legacy = !fmt || !strncmp(fmt, "legacy", 6);

    const ynode *name = ymap_get(doc, "name");
    if (yscalar(name)) {
        p->name = judge__xstrdup(name->str);
    } else if (name && name->kind == YN_MAP && name->n > 0) {
        const char *en = yscalar(ymap_get(name, "en"));
        const char *first = yscalar(name->items[0]);
        p->name = judge__xstrdup(en ? en : first ? first : "");
    }
    if (!p->name) {
        const char *slash = strrchr(p->dir, '/');
        p->name = judge__xstrdup(slash ? slash + 1 : p->dir);
    }

    /* type: a string or (2023-07 and later) a list of strings. */
    const ynode *type = ymap_get(doc, "type");
    jstrv types = {0};
    if (!words(type, &types)) {
        ynode_free(doc);
        return bad(p, "problem.yaml", "line %d: type must be a string or a list of strings",
                   type->line);
    }
    for (size_t i = 0; i < types.n; i++) {
        const char *t = types.v[i];
        if (!strcmp(t, "scoring"))
            p->scoring = true;
        else if (!strcmp(t, "interactive"))
            p->interactive = true;
        else if (!strcmp(t, "pass-fail"))
            ;
        else if (!strcmp(t, "multi-pass") || !strcmp(t, "submit-answer")) {
            s = bad(p, "problem.yaml", "problem type '%s' is not supported by this judge", t);
            break;
        } else {
            s = bad(p, "problem.yaml", "unknown problem type '%s'", t);
            break;
        }
    }
    jstrv_free(&types);
    if (s != CC_OK) {
        ynode_free(doc);
        return s;
    }
    /* Legacy: "validation: custom interactive score" and validator_flags. */
    const char *validation = yscalar(ymap_get(doc, "validation"));
    if (validation) {
        if (strncmp(validation, "default", 7) && strncmp(validation, "custom", 6)) {
            ynode_free(doc);
            return bad(p, "problem.yaml", "validation must be 'default' or 'custom ...', not '%s'",
                       validation);
        }
        *custom_validation = !strncmp(validation, "custom", 6);
        if (strstr(validation, "interactive"))
            p->interactive = true;
    }
    if (!words(ymap_get(doc, "validator_flags"), &p->validator_flags)) {
        ynode_free(doc);
        return bad(p, "problem.yaml", "validator_flags must be a string");
    }

    const ynode *limits = ymap_get(doc, "limits");
    if (limits && limits->kind != YN_MAP) {
        ynode_free(doc);
        return bad(p, "problem.yaml", "line %d: limits must be a mapping", limits->line);
    }
    p->ac_to_tl = p->legacy ? 5.0 : 2.0;
    p->tl_to_tle = p->legacy ? 2.0 : 1.5;
    p->time_resolution = 1.0;
    IFOK(s, limit_num(p, limits, "time_multiplier", 1, &p->ac_to_tl));
    IFOK(s, limit_num(p, limits, "time_safety_margin", 1, &p->tl_to_tle));
    const ynode *tm = ymap_get(limits, "time_multipliers");
    if (tm) {
        IFOK(s, limit_num(p, tm, "ac_to_time_limit", 1, &p->ac_to_tl));
        IFOK(s, limit_num(p, tm, "time_limit_to_tle", 1, &p->tl_to_tle));
    }
    IFOK(s, limit_num(p, limits, "time_limit", 0.001, &p->time_limit));
    IFOK(s, limit_num(p, limits, "time_resolution", 0.001, &p->time_resolution));
    IFOK(s, limit_long(p, limits, "memory", &p->memory_mib));
    IFOK(s, limit_long(p, limits, "output", &p->output_mib));
    IFOK(s, limit_long(p, limits, "compilation_time", &p->compile_time_s));
    IFOK(s, limit_long(p, limits, "compilation_memory", &p->compile_memory_mib));
    IFOK(s, limit_long(p, limits, "validation_time", &p->validation_time_s));
    IFOK(s, limit_long(p, limits, "validation_memory", &p->validation_memory_mib));
    if (s == CC_OK && p->time_limit > 3600)
        s = bad(p, "problem.yaml", "limits.time_limit of %g s is not a sane time limit",
                p->time_limit);
    ynode_free(doc);
    return s;
}

/* ---- data/ ----------------------------------------------------------------------- */

typedef struct {
    judge_agg agg;
    double max_score;
    bool has_max;
    jstrv vargs;
    double accept_score, reject_score;
    bool break_on_reject;
} group_cfg;

static cc_status parse_group_yaml(judge_package *p, const char *rel, group_cfg *c, jstrv *req)
{
    char *path = path_in(p, rel);
    ynode *doc = NULL;
    cc_status s = ydoc_load_file(p->dir, path, &doc);
    free(path);
    if (s == CC_NOT_FOUND)
        return CC_OK;
    if (s != CC_OK)
        return CC_INVALID; /* the message names the file already */
    if (!doc)
        return CC_OK;
    if (doc->kind != YN_MAP) {
        ynode_free(doc);
        return bad(p, rel, "must be a mapping");
    }
    const ynode *n;
    jstrv args = {0};
    if ((n = ymap_get(doc, "output_validator_args")) || (n = ymap_get(doc, "output_validator_flags"))) {
        if (!words(n, &args)) {
            /* 2023-07 drafts allowed a map per validator; one validator is
             * all a package may have, so take the first entry. */
            if (n->kind == YN_MAP && n->n > 0 && words(n->items[0], &args)) {
            } else {
                s = bad(p, rel, "line %d: output_validator_args must be a list of strings",
                        n->line);
            }
        }
        jstrv_free(&c->vargs);
        c->vargs = args;
    }
    const char *agg = yscalar(ymap_get(doc, "score_aggregation"));
    const ynode *scoring = ymap_get(doc, "scoring");
    if (!agg && scoring)
        agg = yscalar(ymap_get(scoring, "aggregation"));
    if (agg) {
        if (!strcmp(agg, "sum"))
            c->agg = AGG_SUM;
        else if (!strcmp(agg, "min"))
            c->agg = AGG_MIN;
        else if (!strcmp(agg, "pass-fail"))
            c->agg = AGG_PASS_FAIL;
        else
            s = bad(p, rel, "score_aggregation must be pass-fail, sum or min, not '%s'", agg);
    }
    n = ymap_get(doc, "max_score");
    if (!n && scoring)
        n = ymap_get(scoring, "score");
    if (n) {
        double v;
        if (yscalar(n) && !strcmp(n->str, "unbounded")) {
            c->max_score = -1;
            c->has_max = true;
        } else if (ynum(n, &v) && v >= 0) {
            c->max_score = v;
            c->has_max = true;
        } else {
            s = bad(p, rel, "line %d: max_score must be a non-negative number or 'unbounded'",
                    n->line);
        }
    }
    /* Legacy grading keys. */
    const char *gf = yscalar(ymap_get(doc, "grader_flags"));
    if (gf) {
        if (strstr(gf, "min"))
            c->agg = AGG_MIN;
        else if (strstr(gf, "sum"))
            c->agg = AGG_SUM;
    }
    if ((n = ymap_get(doc, "accept_score")) && !ynum(n, &c->accept_score))
        s = bad(p, rel, "accept_score must be a number");
    if ((n = ymap_get(doc, "reject_score")) && !ynum(n, &c->reject_score))
        s = bad(p, rel, "reject_score must be a number");
    const char *onrej = yscalar(ymap_get(doc, "on_reject"));
    if (onrej)
        c->break_on_reject = !strcmp(onrej, "break");
    if ((n = ymap_get(doc, "require_pass")) && !words(n, req))
        s = bad(p, rel, "require_pass must be a string or a list of strings");
    ynode_free(doc);
    return s;
}

static judge_group *new_group(const char *name, bool sample)
{
    judge_group *g = judge__xcalloc(1, sizeof *g);
    g->name = judge__xstrdup(name);
    g->sample = sample;
    return g;
}

static void add_test_to(judge_package *p, judge_group *g, judge_test *t)
{
    if (p->ntests == p->captests) {
        p->captests = p->captests ? p->captests * 2 : 64;
        p->tests = judge__xrealloc(p->tests, p->captests * sizeof *p->tests);
    }
    p->tests[p->ntests] = *t;
    g->tests = judge__xrealloc(g->tests, (g->ntests + 1) * sizeof *g->tests);
    g->tests[g->ntests++] = p->ntests++;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Loads the test cases of folder rel ("data/secret/g1") into group g;
 * sub-folders become groups of their own in the legacy format and plain
 * folders of g's test cases in later versions. */
static cc_status load_dir(judge_package *p, judge_group *g, const char *rel, const group_cfg *cfg,
                          int depth)
{
    if (depth > PKG_MAX_DEPTH)
        return bad(p, rel, "test data nested too deeply");
    char *abs = path_in(p, rel);
    jstrv ents = {0};
    int n = judge__list_dir(abs, &ents);
    free(abs);
    if (n < 0) {
        jstrv_free(&ents);
        return bad(p, rel, "cannot list: %s", strerror(errno));
    }
    cc_status s = CC_OK;
    for (size_t i = 0; i < ents.n && s == CC_OK; i++) {
        const char *e = ents.v[i];
        char *erel = judge__xasprintf("%s/%s", rel, e);
        char *eabs = path_in(p, erel);
        if (ends_with(e, ".in") && judge__is_file(eabs)) {
            size_t bl = strlen(erel) - 3;
            judge_test t = {0};
            t.in_path = erel;
            erel = NULL;
            t.ans_path = judge__xasprintf("%.*s.ans", (int)bl, t.in_path);
            char *aabs = path_in(p, t.ans_path);
            bool has_ans = judge__is_file(aabs);
            free(aabs);
            /* "data/secret/g1/01" -> "secret/g1/01" */
            t.name = judge__xstrndup(t.in_path + 5, bl - 5);
            t.group = g;
            copy_strv(&cfg->vargs, &t.validator_args);
            char *yrel = judge__xasprintf("%.*s.yaml", (int)bl, t.in_path);
            char *yabs = path_in(p, yrel);
            if (judge__is_file(yabs)) {
                ynode *doc = NULL;
                s = ydoc_load_file(p->dir, yabs, &doc);
                if (s != CC_OK) {
                    s = CC_INVALID;
                } else {
                    const ynode *va = ymap_get(doc, "output_validator_args");
                    if (va) {
                        jstrv_free(&t.validator_args);
                        if (!words(va, &t.validator_args))
                            s = bad(p, yrel, "output_validator_args must be a list of strings");
                    }
                    if (s == CC_OK && !words(ymap_get(doc, "args"), &t.args))
                        s = bad(p, yrel, "args must be a list of strings");
                }
                ynode_free(doc);
            }
            free(yrel);
            free(yabs);
            if (s == CC_OK && !has_ans)
                s = bad(p, t.in_path, "has no matching .ans file");
            if (s == CC_OK && p->ntests >= PKG_MAX_TESTS)
                s = bad(p, rel, "more than %d test cases", PKG_MAX_TESTS);
            if (s == CC_OK) {
                add_test_to(p, g, &t);
            } else {
                free(t.name);
                free(t.in_path);
                free(t.ans_path);
                jstrv_free(&t.validator_args);
                jstrv_free(&t.args);
            }
        } else if (judge__is_dir(eabs) && !ends_with(e, ".files")) {
            if (p->legacy || depth == 0) {
                /* A group of its own, inheriting this group's settings. */
                judge_group *sub = new_group(erel + 5, g->sample);
                g->groups = judge__xrealloc(g->groups, (g->ngroups + 1) * sizeof *g->groups);
                g->groups[g->ngroups++] = sub;
                group_cfg c2 = *cfg;
                c2.vargs = (jstrv){0};
                copy_strv(&cfg->vargs, &c2.vargs);
                c2.has_max = false;
                if (!p->legacy)
                    c2.agg = AGG_PASS_FAIL; /* the 2025-09 default for groups */
                char *yrel = judge__xasprintf("%s/%s", erel,
                                              p->legacy ? "testdata.yaml" : "test_group.yaml");
                char *yabs = path_in(p, yrel);
                if (!p->legacy && !judge__is_file(yabs)) {
                    free(yrel);
                    yrel = judge__xasprintf("%s/testdata.yaml", erel);
                }
                free(yabs);
                s = parse_group_yaml(p, yrel, &c2, &sub->require_pass);
                free(yrel);
                sub->agg = c2.agg;
                sub->max_score = c2.has_max ? c2.max_score : -1;
                sub->accept_score = c2.accept_score;
                sub->reject_score = c2.reject_score;
                sub->break_on_reject = c2.break_on_reject;
                copy_strv(&c2.vargs, &sub->validator_args);
                if (s == CC_OK)
                    s = load_dir(p, sub, erel, &c2, depth + 1);
                if (s == CC_OK && !p->legacy && p->scoring && sub->max_score < 0 &&
                    p->secret->max_score >= 0 && !g->sample)
                    s = bad(p, erel, "a test group of a scoring problem needs max_score when "
                                     "secret's is bounded");
                jstrv_free(&c2.vargs);
            } else {
                s = load_dir(p, g, erel, cfg, depth + 1);
            }
        }
        free(erel);
        free(eabs);
    }
    jstrv_free(&ents);
    return s;
}

static cc_status load_data(judge_package *p)
{
    p->root = new_group("data", false);
    p->root->agg = AGG_SUM;
    char *secret = path_in(p, "data/secret");
    bool has_secret = judge__is_dir(secret);
    free(secret);
    if (!has_secret)
        return bad(p, "data/secret", "missing (a package needs secret test data)");
    group_cfg base = {.agg = AGG_SUM, .max_score = 100, .accept_score = 1, .reject_score = 0,
                      .break_on_reject = !p->scoring};
    copy_strv(&p->validator_flags, &base.vargs);
    cc_status s = parse_group_yaml(p, "data/testdata.yaml", &base, &p->root->require_pass);
    const char *names[] = {"sample", "secret"};
    for (int i = 0; i < 2 && s == CC_OK; i++) {
        char *rel = judge__xasprintf("data/%s", names[i]);
        char *abs = path_in(p, rel);
        bool exists = judge__is_dir(abs);
        free(abs);
        if (!exists) {
            free(rel);
            continue;
        }
        judge_group *g = new_group(names[i], i == 0);
        p->root->groups = judge__xrealloc(p->root->groups,
                                          (p->root->ngroups + 1) * sizeof *p->root->groups);
        p->root->groups[p->root->ngroups++] = g;
        if (i == 1)
            p->secret = g;
        group_cfg c = base;
        c.vargs = (jstrv){0};
        copy_strv(&base.vargs, &c.vargs);
        c.has_max = false;
        c.max_score = 100;
        c.agg = AGG_SUM;
        char *y2 = judge__xasprintf("%s/%s", rel, p->legacy ? "testdata.yaml" : "test_group.yaml");
        char *y2abs = path_in(p, y2);
        if (!p->legacy && !judge__is_file(y2abs)) {
            free(y2);
            y2 = judge__xasprintf("%s/testdata.yaml", rel);
        }
        free(y2abs);
        s = parse_group_yaml(p, y2, &c, &g->require_pass);
        free(y2);
        g->agg = c.agg;
        g->max_score = p->legacy ? -1 : (c.has_max ? c.max_score : 100);
        g->accept_score = c.accept_score;
        g->reject_score = c.reject_score;
        g->break_on_reject = c.break_on_reject;
        copy_strv(&c.vargs, &g->validator_args);
        if (s == CC_OK)
            s = load_dir(p, g, rel, &c, 0);
        jstrv_free(&c.vargs);
        free(rel);
    }
    jstrv_free(&base.vargs);
    if (s == CC_OK && (!p->secret || !p->secret->ntests) && p->secret && !p->secret->ngroups)
        s = bad(p, "data/secret", "contains no test cases");
    return s;
}

/* ---- output validator --------------------------------------------------------- */

static cc_status find_validator(judge_package *p, bool custom)
{
    const char *dirs[] = {"output_validator", "output_validators"};
    for (int i = 0; i < 2; i++) {
        char *abs = path_in(p, dirs[i]);
        bool d = judge__is_dir(abs);
        free(abs);
        if (!d)
            continue;
        if (i == 0) {
            /* 2023-07 and later: the folder is the one program. */
            p->validator = judge__xstrdup(dirs[i]);
        } else {
            /* Legacy: each entry is a program; the format allows several,
             * this judge uses the first in name order. */
            jstrv ents = {0};
            char *a2 = path_in(p, dirs[i]);
            judge__list_dir(a2, &ents);
            free(a2);
            if (ents.n > 0)
                p->validator = judge__xasprintf("%s/%s", dirs[i], ents.v[0]);
            jstrv_free(&ents);
        }
        if (p->validator)
            break;
    }
    if ((custom || p->interactive) && !p->validator)
        return bad(p, "output_validators",
                   "the problem asks for a custom%s output validator but none is present",
                   p->interactive ? " (interactive)" : "");
    if (!p->validator) {
        judge_checker_opts o;
        char err[200];
        if (!judge_checker_parse(&p->validator_flags, &o, err, sizeof err))
            return bad(p, "problem.yaml", "validator_flags: %s", err);
    }
    return CC_OK;
}

/* ---- submissions and expectations ------------------------------------------------ */

static unsigned verdict_set(const ynode *n, bool *ok)
{
    jstrv w = {0};
    unsigned set = 0;
    *ok = words(n, &w);
    for (size_t i = 0; *ok && i < w.n; i++) {
        judge_verdict v;
        if (!judge_verdict_parse(w.v[i], &v))
            *ok = false;
        else
            set |= 1u << v;
    }
    jstrv_free(&w);
    return set;
}

static cc_status add_expect(judge_package *p, const char *file, const char *pattern,
                            const char *group, const ynode *v)
{
    judge_expect e = {0};
    e.permitted = e.required = 0;
    bool ok = true;
    const ynode *n;
    if (yscalar(v)) {
        /* Shorthand: "pattern: accepted" means the folder's rule. */
        e.pattern = judge__xstrdup(pattern);
        e.message = NULL;
        e.group = group ? judge__xstrdup(group) : NULL;
        char *cat = judge__xstrdup(v->str);
        /* Stored as the message "category:" marker for the verifier. */
        e.message = judge__xasprintf("\x01%s", cat);
        free(cat);
    } else if (v && v->kind == YN_MAP) {
        e.pattern = judge__xstrdup(pattern);
        e.group = group ? judge__xstrdup(group) : NULL;
        if ((n = ymap_get(v, "permitted")))
            e.permitted = verdict_set(n, &ok);
        if (ok && (n = ymap_get(v, "required")))
            e.required = verdict_set(n, &ok);
        if (ok && (n = ymap_get(v, "score"))) {
            e.has_score = true;
            if (n->kind == YN_SEQ && n->n == 2) {
                ok = ynum(n->items[0], &e.score_lo) && ynum(n->items[1], &e.score_hi);
            } else {
                ok = ynum(n, &e.score_lo);
                e.score_hi = e.score_lo;
            }
        }
        if (ok && (n = ymap_get(v, "message")) && yscalar(n))
            e.message = judge__xstrdup(n->str);
        if (!ok) {
            free(e.pattern);
            free(e.group);
            free(e.message);
            return bad(p, file, "line %d: '%s': permitted/required must list AC, WA, TLE, RTE; "
                                "score a number or [low, high]",
                       v->line, pattern);
        }
        /* Keys naming test groups scope a rule to those tests. */
        for (size_t i = 0; i < v->n && !group; i++) {
            const char *k = v->keys[i];
            if (!strcmp(k, "permitted") || !strcmp(k, "required") || !strcmp(k, "score") ||
                !strcmp(k, "message") || !strcmp(k, "language") || !strcmp(k, "entrypoint") ||
                !strcmp(k, "authors") || !strcmp(k, "model_solution") ||
                !strcmp(k, "use_for_time_limit"))
                continue;
            if (v->items[i]->kind == YN_MAP) {
                cc_status s = add_expect(p, file, pattern, k, v->items[i]);
                if (s != CC_OK) {
                    free(e.pattern);
                    free(e.group);
                    free(e.message);
                    return s;
                }
            }
        }
        if (!e.permitted && !e.required && !e.has_score && !e.message) {
            free(e.pattern);
            free(e.group);
            return CC_OK;
        }
    } else {
        return bad(p, file, "'%s' must map to a folder name or to a set of rules", pattern);
    }
    p->expects = judge__xrealloc(p->expects, (p->nexpects + 1) * sizeof *p->expects);
    p->expects[p->nexpects++] = e;
    return CC_OK;
}

static cc_status load_expectations(judge_package *p)
{
    const char *files[] = {"submissions/expectations.yaml", "submissions/submissions.yaml"};
    for (int f = 0; f < 2; f++) {
        char *abs = path_in(p, files[f]);
        ynode *doc = NULL;
        cc_status s = ydoc_load_file(p->dir, abs, &doc);
        free(abs);
        if (s == CC_NOT_FOUND)
            continue;
        if (s != CC_OK)
            return CC_INVALID; /* the message names the file already */
        if (doc && doc->kind != YN_MAP) {
            ynode_free(doc);
            return bad(p, files[f], "must map submission patterns to rules");
        }
        for (size_t i = 0; doc && i < doc->n && s == CC_OK; i++)
            s = add_expect(p, files[f], doc->keys[i], NULL, doc->items[i]);
        ynode_free(doc);
        if (s != CC_OK)
            return s;
    }
    return CC_OK;
}

static cc_status load_submissions(judge_package *p)
{
    char *abs = path_in(p, "submissions");
    jstrv cats = {0};
    int n = judge__list_dir(abs, &cats);
    free(abs);
    for (int c = 0; c < n; c++) {
        char *crel = judge__xasprintf("submissions/%s", cats.v[c]);
        char *cabs = path_in(p, crel);
        if (judge__is_dir(cabs)) {
            jstrv ents = {0};
            judge__list_dir(cabs, &ents);
            for (size_t i = 0; i < ents.n && p->nsubs < PKG_MAX_SUBS; i++) {
                char *rel = judge__xasprintf("%s/%s", crel, ents.v[i]);
                char *eabs = path_in(p, rel);
                bool dir = judge__is_dir(eabs);
                if (!dir && !judge__is_file(eabs)) {
                    free(rel);
                    free(eabs);
                    continue;
                }
                free(eabs);
                p->subs = judge__xrealloc(p->subs, (p->nsubs + 1) * sizeof *p->subs);
                p->subs[p->nsubs++] =
                    (judge_sub){.path = rel, .category = judge__xstrdup(cats.v[c]), .is_dir = dir};
            }
            jstrv_free(&ents);
        }
        free(crel);
        free(cabs);
    }
    jstrv_free(&cats);
    return load_expectations(p);
}

bool judge__known_category(const char *c)
{
    for (size_t i = 0; i < JUDGE_LEN(known_categories); i++)
        if (!strcmp(known_categories[i], c))
            return true;
    return false;
}

/* ---- the whole package ------------------------------------------------------------- */

cc_status judge_package_load(const char *dir, const judge_langs *langs, judge_package **out)
{
    (void)langs;
    *out = NULL;
    char *real = realpath(dir, NULL);
    if (!real || !judge__is_dir(real)) {
        free(real);
        return cc_err_set(CC_NOT_FOUND, "%s: not a problem package folder", dir);
    }
    judge_package *p = judge__xcalloc(1, sizeof *p);
    p->dir = real;
    p->memory_mib = 2048;
    p->output_mib = 8;
    p->compile_time_s = 60;
    p->compile_memory_mib = 2048;
    p->validation_time_s = 60;
    p->validation_memory_mib = 2048;
    bool custom = false;
    cc_status s = parse_problem_yaml(p, &custom);
    if (s == CC_OK && p->time_limit == 0) {
        /* DOMjudge and older Kattis tools keep the limit in .timelimit. */
        char *tl = path_in(p, ".timelimit");
        char *data = NULL;
        size_t len;
        cc_status r = judge__read_file(p->dir, tl, 64, &data, &len, NULL);
        free(tl);
        if (r == CC_OK) {
            double v;
            if (!judge__parse_double(data, &v) || v <= 0 || v > 3600)
                s = bad(p, ".timelimit", "must hold a time limit in seconds");
            else
                p->time_limit = v;
        }
        free(data);
    }
    IFOK(s, find_validator(p, custom));
    IFOK(s, load_data(p));
    IFOK(s, load_submissions(p));
    if (s != CC_OK) {
        judge_package_free(p);
        return s;
    }
    *out = p;
    return CC_OK;
}

static void group_free(judge_group *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->ngroups; i++)
        group_free(g->groups[i]);
    free(g->groups);
    free(g->tests);
    free(g->name);
    jstrv_free(&g->validator_args);
    jstrv_free(&g->require_pass);
    free(g);
}

void judge_package_free(judge_package *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ntests; i++) {
        free(p->tests[i].name);
        free(p->tests[i].in_path);
        free(p->tests[i].ans_path);
        jstrv_free(&p->tests[i].validator_args);
        jstrv_free(&p->tests[i].args);
    }
    free(p->tests);
    group_free(p->root);
    for (size_t i = 0; i < p->nsubs; i++) {
        free(p->subs[i].path);
        free(p->subs[i].category);
    }
    free(p->subs);
    for (size_t i = 0; i < p->nexpects; i++) {
        free(p->expects[i].pattern);
        free(p->expects[i].group);
        free(p->expects[i].message);
    }
    free(p->expects);
    jstrv_free(&p->validator_flags);
    free(p->validator);
    free(p->format);
    free(p->name);
    free(p->dir);
    free(p);
}

const char *judge_package_name(const judge_package *p)
{
    return p->name;
}

double judge_package_time_limit(const judge_package *p)
{
    return p->time_limit;
}

void judge_package_set_time_limit(judge_package *p, double s)
{
    p->time_limit = s;
}

/* A pattern matches a path when it matches the path or one of its parent
 * folders ("accepted" matches "accepted/a.py"). */
bool judge__glob_match(const char *pattern, const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        if (fnmatch(pattern, buf, FNM_PATHNAME) == 0)
            return true;
        char *slash = strrchr(buf, '/');
        if (!slash)
            return false;
        *slash = '\0';
    }
}
