/* Kattis / ICPC problem packages: problem.yaml, data/ with test groups,
 * the output validator, the statement and the example submissions, in the
 * legacy, 2023-07 and 2025-09 versions of the format. This is the one
 * parser of the format: it reads a package's file set (pkgfiles.c,
 * pkgzip.c), so the judge, cc-problem's import and the CLI decide alike.
 * Every error and warning names the file (and line); nothing in a package
 * can crash the judge.
 *
 * Steps of a parse (parse() below): problem.yaml, the .timelimit file,
 * the output validator, data/ group by group, the statement, the example
 * submissions and their expectations. */
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
    "brute_force",    "memory_limit_exceeded", "presentation_error",  "slow_accepted",
};

/* problem.yaml's keys by format: a key outside its list is refused in the
 * 2023-07 and later formats (never judged on a guess) and ignored with a
 * warning in the legacy one, whose readers always ignored unknown keys. */
static const char *const modern_keys[] = {
    "problem_format_version", "type", "name", "uuid", "version", "credits", "source",
    "license", "rights_owner", "embargo_until", "limits", "keywords", "languages",
    "allow_file_writing", "constants", NULL};
static const char *const legacy_keys[] = {
    "problem_format_version", "name", "uuid", "author", "source", "source_url", "license",
    "rights_owner", "limits", "validation", "validator_flags", "keywords", "grading", "type",
    "languages", "scoring", NULL};
static const char *const limit_keys[] = {
    "time_multipliers", "time_multiplier", "time_safety_margin", "time_limit",
    "time_resolution", "memory", "output", "code", "compilation_time", "compilation_memory",
    "validation_time", "validation_memory", "validation_output", "validation_passes", NULL};

/* Statement files in order of preference. */
static const char *const statement_files[] = {
    "statement/problem.en.md", "problem_statement/problem.en.md", "statement/problem.md",
    "problem_statement/problem.md", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

/* Records a diagnostic about file (line 0: the whole file); an error
 * also becomes cc_err_msg() and CC_UNPROCESSABLE. */
static cc_status say(const judge_package *p, pkg_level level, const char *file, int line,
                     const char *fmt, va_list ap)
{
    char what[600];
    vsnprintf(what, sizeof what, fmt, ap);
    if (level == PKG_ERROR)
        return pkg__fail(p->diags, file, line, "%s", what);
    pkg_diags_add(p->diags, level, file, line, "%s", what);
    return CC_OK;
}

static cc_status bad(const judge_package *p, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cc_status bad(const judge_package *p, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cc_status s = say(p, PKG_ERROR, file, line, fmt, ap);
    va_end(ap);
    return s;
}

static void warn(const judge_package *p, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(const judge_package *p, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(p, PKG_WARNING, file, line, fmt, ap);
    va_end(ap);
}

static int line_of(const ynode *n)
{
    return n ? n->line : 0;
}

/* Parses package file rel as YAML: CC_NOT_FOUND (no message) when the
 * package has no such file, CC_UNPROCESSABLE with the error recorded. */
static cc_status load_yaml(const judge_package *p, const char *rel, ynode **out)
{
    *out = NULL;
    const pkg_file *f = pkg_find(p->files, rel);
    if (!f)
        return CC_NOT_FOUND;
    if (!f->text)
        return bad(p, rel, 0, "larger than %lld bytes or not text",
                   (long long)pkg_local_limits.max_text);
    return ydoc_load_mem(rel, f->text, strlen(f->text), p->diags, out);
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
        return bad(p, "problem.yaml", n->line, "limits.%s must be a number >= %g", key, lo);
    *out = v;
    return CC_OK;
}

static cc_status limit_long(judge_package *p, const ynode *limits, const char *key, long *out)
{
    double v = (double)*out;
    cc_status s = limit_num(p, limits, key, 1, &v);
    if (s == CC_OK) {
        if (v > 1e6)
            return bad(p, "problem.yaml", line_of(ymap_get(limits, key)), "limits.%s is too large",
                       key);
        *out = (long)v;
    }
    return s;
}

/* problem_format_version, and every top-level key against the format's
 * list. */
static cc_status parse_format(judge_package *p, const ynode *doc)
{
    const ynode *fv = ymap_get(doc, "problem_format_version");
    const char *fmt = yscalar(fv);
    if (fv && !fmt)
        return bad(p, "problem.yaml", fv->line, "problem_format_version must be a string");
    p->format = judge__xstrdup(fmt ? fmt : "legacy");
    p->legacy = !fmt || !strncmp(fmt, "legacy", 6);
    if (!p->legacy && strncmp(fmt, "2023-07", 7) && strncmp(fmt, "2025-", 5) &&
        strcmp(fmt, "draft"))
        return bad(p, "problem.yaml", fv->line,
                   "unknown problem_format_version '%.100s' (legacy, 2023-07, 2025-09 or draft)",
                   fmt);
    for (size_t i = 0; doc && i < doc->n; i++) {
        const char *k = doc->keys[i];
        if (p->legacy && !in_list(k, legacy_keys))
            warn(p, "problem.yaml", doc->items[i]->line,
                 "unknown key '%.100s' ignored (legacy format)", k);
        else if (!p->legacy && !in_list(k, modern_keys))
            return bad(p, "problem.yaml", doc->items[i]->line,
                       "key '%.100s' is not allowed in format %.40s", k, p->format);
    }
    return CC_OK;
}

static cc_status parse_name(judge_package *p, const ynode *doc)
{
    const ynode *name = ymap_get(doc, "name");
    if (yscalar(name)) {
        p->name = judge__xstrdup(name->str);
    } else if (name && name->kind == YN_MAP && name->n > 0) {
        const char *en = yscalar(ymap_get(name, "en"));
        const char *first = yscalar(name->items[0]);
        p->name = judge__xstrdup(en ? en : first ? first : "");
    } else if (name && name->kind != YN_MAP) {
        return bad(p, "problem.yaml", name->line, "name must be a string or a map");
    }
    return CC_OK;
}

/* type: a string or (2023-07 and later) a list of strings. */
static cc_status parse_type(judge_package *p, const ynode *doc)
{
    const ynode *type = ymap_get(doc, "type");
    jstrv types = {0};
    if (!words(type, &types)) {
        jstrv_free(&types);
        return bad(p, "problem.yaml", type->line, "type must be a string or a list of strings");
    }
    cc_status s = CC_OK;
    for (size_t i = 0; i < types.n && s == CC_OK; i++) {
        const char *t = types.v[i];
        if (!strcmp(t, "scoring"))
            p->scoring = true;
        else if (!strcmp(t, "interactive"))
            p->interactive = true;
        else if (!strcmp(t, "pass-fail"))
            ;
        else if (!strcmp(t, "multi-pass"))
            p->multipass = true;
        else if (!strcmp(t, "submit-answer"))
            s = bad(p, "problem.yaml", type->line,
                    "problem type '%s' is not supported by this judge", t);
        else
            s = bad(p, "problem.yaml", type->line, "unknown problem type '%.60s'", t);
    }
    jstrv_free(&types);
    return s;
}

/* Legacy: "validation: custom [interactive] [score]" and validator_flags. */
static cc_status parse_validation(judge_package *p, const ynode *doc, bool *custom)
{
    const ynode *v = ymap_get(doc, "validation");
    if (v) {
        jstrv w = {0};
        if (!yscalar(v) || !words(v, &w) || w.n == 0 ||
            (strcmp(w.v[0], "default") && strcmp(w.v[0], "custom"))) {
            jstrv_free(&w);
            return bad(p, "problem.yaml", v->line,
                       "validation must be 'default' or 'custom [interactive] [score]'");
        }
        *custom = !strcmp(w.v[0], "custom");
        cc_status s = CC_OK;
        for (size_t i = 1; i < w.n && s == CC_OK; i++) {
            if (!strcmp(w.v[i], "interactive"))
                p->interactive = true;
            else if (!strcmp(w.v[i], "score"))
                ; /* the validator may report a score: read when present */
            else if (!strcmp(w.v[i], "multi-pass"))
                p->multipass = true;
            else
                s = bad(p, "problem.yaml", v->line, "unknown validation word '%.40s'", w.v[i]);
        }
        jstrv_free(&w);
        if (s != CC_OK)
            return s;
    }
    const ynode *fl = ymap_get(doc, "validator_flags");
    if (fl && !yscalar(fl))
        return bad(p, "problem.yaml", fl->line, "validator_flags must be a string");
    words(fl, &p->validator_flags);
    return CC_OK;
}

static cc_status parse_limits(judge_package *p, const ynode *doc)
{
    const ynode *limits = ymap_get(doc, "limits");
    if (limits && limits->kind != YN_MAP)
        return bad(p, "problem.yaml", limits->line, "limits must be a mapping");
    for (size_t i = 0; limits && i < limits->n; i++) {
        const char *k = limits->keys[i];
        if (in_list(k, limit_keys))
            continue;
        if (!p->legacy)
            return bad(p, "problem.yaml", limits->items[i]->line, "limits.%.60s is not allowed",
                       k);
        warn(p, "problem.yaml", limits->items[i]->line, "unknown limit '%.60s' ignored", k);
    }
    p->ac_to_tl = p->legacy ? 5.0 : 2.0;
    p->tl_to_tle = p->legacy ? 2.0 : 1.5;
    p->time_resolution = 1.0;
    cc_status s = CC_OK;
    IFOK(s, limit_num(p, limits, "time_multiplier", 1, &p->ac_to_tl));
    IFOK(s, limit_num(p, limits, "time_safety_margin", 1, &p->tl_to_tle));
    const ynode *tm = ymap_get(limits, "time_multipliers");
    if (s == CC_OK && tm && tm->kind != YN_MAP)
        s = bad(p, "problem.yaml", tm->line, "limits.time_multipliers must be a mapping");
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
    p->validation_passes = 2;
    IFOK(s, limit_long(p, limits, "validation_passes", &p->validation_passes));
    if (s == CC_OK && ymap_get(limits, "validation_passes") && p->validation_passes < 2)
        s = bad(p, "problem.yaml", line_of(ymap_get(limits, "validation_passes")),
                "limits.validation_passes must be at least 2");
    if (s == CC_OK && p->time_limit > 3600)
        s = bad(p, "problem.yaml", line_of(ymap_get(limits, "time_limit")),
                "limits.time_limit of %g s is not a sane time limit", p->time_limit);
    return s;
}

static cc_status parse_problem_yaml(judge_package *p, bool *custom_validation)
{
    ynode *doc = NULL;
    cc_status s = load_yaml(p, "problem.yaml", &doc);
    if (s == CC_NOT_FOUND)
        return bad(p, "problem.yaml", 0, "missing (every problem package needs one)");
    if (s != CC_OK)
        return s;
    if (doc && doc->kind != YN_MAP) {
        ynode_free(doc);
        return bad(p, "problem.yaml", 0, "must be a mapping of keys to values");
    }
    s = parse_format(p, doc);
    IFOK(s, parse_name(p, doc));
    IFOK(s, parse_type(p, doc));
    IFOK(s, parse_validation(p, doc, custom_validation));
    IFOK(s, parse_limits(p, doc));
    ynode_free(doc);
    return s;
}

/* DOMjudge and older Kattis tools keep the time limit in .timelimit. */
static cc_status parse_timelimit_file(judge_package *p)
{
    const pkg_file *f = pkg_find(p->files, ".timelimit");
    if (p->time_limit > 0 || !f)
        return CC_OK;
    double v;
    if (!f->text || !judge__parse_double(f->text, &v) || v <= 0 || v > 3600)
        return bad(p, ".timelimit", 0, "must hold a time limit in seconds");
    p->time_limit = v;
    return CC_OK;
}

/* ---- data/ ----------------------------------------------------------------------- */

typedef struct {
    judge_agg agg;
    double max_score;
    bool has_max;
    jstrv vargs;
    double accept_score, reject_score;
    bool break_on_reject;
    bool legacy_keys; /* the legacy grader's keys were given here or above */
    judge_vagg vagg;
    bool accept_if_any, ignore_sample;
    double range_lo, range_hi;
} group_cfg;

/* The legacy default grader's flags: the last of conflicting modes wins,
 * as the format says. */
static cc_status parse_grader_flags(judge_package *p, const char *rel, const ynode *n,
                                    group_cfg *c)
{
    jstrv w = {0};
    if (!yscalar(n) || !words(n, &w)) {
        jstrv_free(&w);
        return bad(p, rel, n->line, "grader_flags must be a string");
    }
    cc_status s = CC_OK;
    for (size_t i = 0; i < w.n && s == CC_OK; i++) {
        const char *f = w.v[i];
        if (!strcmp(f, "worst_error"))
            c->vagg = VAGG_WORST_ERROR;
        else if (!strcmp(f, "first_error"))
            c->vagg = VAGG_FIRST_ERROR;
        else if (!strcmp(f, "always_accept"))
            c->vagg = VAGG_ALWAYS_ACCEPT;
        else if (!strcmp(f, "sum"))
            c->agg = AGG_SUM;
        else if (!strcmp(f, "avg"))
            c->agg = AGG_AVG;
        else if (!strcmp(f, "min"))
            c->agg = AGG_MIN;
        else if (!strcmp(f, "max"))
            c->agg = AGG_MAX;
        else if (!strcmp(f, "ignore_sample"))
            c->ignore_sample = true;
        else if (!strcmp(f, "accept_if_any_accepted"))
            c->accept_if_any = true;
        else
            s = bad(p, rel, n->line, "grader_flags: unknown flag '%.40s'", f);
    }
    jstrv_free(&w);
    return s;
}

/* "range: A B", two numbers where inf, -inf and +inf are allowed. */
static cc_status parse_range(judge_package *p, const char *rel, const ynode *n, group_cfg *c)
{
    jstrv w = {0};
    double v[2];
    bool ok = yscalar(n) && words(n, &w) && w.n == 2;
    for (size_t i = 0; ok && i < 2; i++) {
        const char *t = w.v[i];
        if (!strcmp(t, "inf") || !strcmp(t, "+inf"))
            v[i] = INFINITY;
        else if (!strcmp(t, "-inf"))
            v[i] = -INFINITY;
        else
            ok = judge__parse_double(t, &v[i]);
    }
    jstrv_free(&w);
    if (!ok || v[0] > v[1])
        return bad(p, rel, n->line, "range must be two numbers, low and high (inf allowed)");
    c->range_lo = v[0];
    c->range_hi = v[1];
    return CC_OK;
}

static cc_status parse_score_keys(judge_package *p, const char *rel, const ynode *doc,
                                  group_cfg *c)
{
    cc_status s = CC_OK;
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
            s = bad(p, rel, 0, "score_aggregation must be pass-fail, sum or min, not '%.40s'",
                    agg);
    }
    const ynode *n = ymap_get(doc, "max_score");
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
            s = bad(p, rel, n->line, "max_score must be a non-negative number or 'unbounded'");
        }
    }
    /* The legacy default grader's keys, also found in test groups of
     * 2023-07 packages converted from legacy ones. */
    static const char *const legacy_grading_keys[] = {"grader_flags", "accept_score",
                                                      "reject_score", "range", "on_reject",
                                                      NULL};
    for (const char *const *k = legacy_grading_keys; *k; k++)
        if (ymap_get(doc, *k) && !c->legacy_keys) {
            c->legacy_keys = true;
            c->agg = AGG_SUM; /* the legacy grader's default */
        }
    if (s == CC_OK && (n = ymap_get(doc, "grader_flags")))
        s = parse_grader_flags(p, rel, n, c);
    if (s == CC_OK && (n = ymap_get(doc, "accept_score")) && !ynum(n, &c->accept_score))
        s = bad(p, rel, n->line, "accept_score must be a number");
    if (s == CC_OK && (n = ymap_get(doc, "reject_score")) && !ynum(n, &c->reject_score))
        s = bad(p, rel, n->line, "reject_score must be a number");
    if (s == CC_OK && (n = ymap_get(doc, "range")))
        s = parse_range(p, rel, n, c);
    const ynode *onrej = ymap_get(doc, "on_reject");
    if (s == CC_OK && onrej) {
        const char *v = yscalar(onrej);
        if (v && (!strcmp(v, "break") || !strcmp(v, "continue")))
            c->break_on_reject = !strcmp(v, "break");
        else
            s = bad(p, rel, onrej->line, "on_reject must be 'break' or 'continue'");
    }
    const ynode *grading = ymap_get(doc, "grading");
    if (s == CC_OK && grading && yscalar(grading) && !strcmp(grading->str, "custom"))
        s = bad(p, rel, grading->line, "custom graders (grading: custom) are not supported by "
                                       "this judge");
    else if (s == CC_OK && grading && !(yscalar(grading) && !strcmp(grading->str, "default")) &&
             p->legacy)
        s = bad(p, rel, grading->line, "grading must be 'default' or 'custom'");
    return s;
}

static cc_status parse_group_yaml(judge_package *p, const char *rel, group_cfg *c, jstrv *req)
{
    ynode *doc = NULL;
    cc_status s = load_yaml(p, rel, &doc);
    if (s == CC_NOT_FOUND)
        return CC_OK;
    if (s != CC_OK || !doc)
        return s;
    if (doc->kind != YN_MAP) {
        ynode_free(doc);
        return bad(p, rel, 0, "must be a mapping");
    }
    const ynode *n;
    if ((n = ymap_get(doc, "output_validator_args")) ||
        (n = ymap_get(doc, "output_validator_flags"))) {
        jstrv args = {0};
        /* 2023-07 drafts allowed a map per validator; one validator is
         * all a package may have, so take the first entry. */
        if (!words(n, &args) && !(n->kind == YN_MAP && n->n > 0 && words(n->items[0], &args)))
            s = bad(p, rel, n->line, "output_validator_args must be a list of strings");
        jstrv_free(&c->vargs);
        c->vargs = args;
    }
    IFOK(s, parse_score_keys(p, rel, doc, c));
    if (s == CC_OK && (n = ymap_get(doc, "require_pass")) && !words(n, req))
        s = bad(p, rel, n->line, "require_pass must be a string or a list of strings");
    ynode_free(doc);
    return s;
}

/* The settings file of group folder rel: test_group.yaml in 2023-07 and
 * later (testdata.yaml accepted there too), testdata.yaml in legacy. */
static char *group_yaml_path(const judge_package *p, const char *rel)
{
    if (!p->legacy) {
        char *y = judge__xasprintf("%s/test_group.yaml", rel);
        if (pkg__is_file(p->files, y))
            return y;
        free(y);
    }
    return judge__xasprintf("%s/testdata.yaml", rel);
}

static judge_group *new_group(const char *name, bool sample)
{
    judge_group *g = judge__xcalloc(1, sizeof *g);
    g->name = judge__xstrdup(name);
    g->sample = sample;
    return g;
}

static void add_child(judge_group *parent, judge_group *g)
{
    parent->groups = judge__xrealloc(parent->groups, (parent->ngroups + 1) * sizeof *g);
    parent->groups[parent->ngroups++] = g;
}

static void group_take_cfg(const judge_package *p, judge_group *g, const group_cfg *c,
                           double max_score)
{
    g->agg = c->agg;
    g->max_score = max_score;
    g->accept_score = c->accept_score;
    g->reject_score = c->reject_score;
    g->break_on_reject = c->break_on_reject;
    g->legacy_grading = p->legacy || c->legacy_keys;
    g->vagg = c->vagg;
    g->accept_if_any = c->accept_if_any;
    g->ignore_sample = c->ignore_sample;
    g->range_lo = c->range_lo;
    g->range_hi = c->range_hi;
    copy_strv(&c->vargs, &g->validator_args);
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

static void test_free(judge_test *t)
{
    free(t->name);
    free(t->in_path);
    free(t->ans_path);
    jstrv_free(&t->validator_args);
    jstrv_free(&t->args);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* A test case's own settings file (<name>.yaml). */
static cc_status parse_test_yaml(judge_package *p, const char *yrel, judge_test *t)
{
    ynode *doc = NULL;
    cc_status s = load_yaml(p, yrel, &doc);
    if (s == CC_NOT_FOUND)
        return CC_OK;
    if (s != CC_OK)
        return s;
    const ynode *va = ymap_get(doc, "output_validator_args");
    if (va) {
        jstrv_free(&t->validator_args);
        if (!words(va, &t->validator_args))
            s = bad(p, yrel, va->line, "output_validator_args must be a list of strings");
    }
    const ynode *args = ymap_get(doc, "args");
    if (s == CC_OK && !words(args, &t->args))
        s = bad(p, yrel, line_of(args), "args must be a list of strings");
    ynode_free(doc);
    return s;
}

/* One test case: erel is "data/secret/g1/03.in". */
static cc_status load_test(judge_package *p, judge_group *g, const char *erel,
                           const group_cfg *cfg)
{
    size_t bl = strlen(erel) - 3;
    judge_test t = {0};
    t.in_path = judge__xstrdup(erel);
    t.ans_path = judge__xasprintf("%.*s.ans", (int)bl, erel);
    /* "data/secret/g1/01" -> "secret/g1/01" */
    t.name = judge__xstrndup(erel + 5, bl - 5);
    t.group = g;
    copy_strv(&cfg->vargs, &t.validator_args);
    char *yrel = judge__xasprintf("%.*s.yaml", (int)bl, erel);
    cc_status s = parse_test_yaml(p, yrel, &t);
    free(yrel);
    if (s == CC_OK && !pkg__is_file(p->files, t.ans_path))
        s = bad(p, t.in_path, 0, "has no matching .ans file");
    if (s == CC_OK && p->ntests >= PKG_MAX_TESTS)
        s = bad(p, t.in_path, 0, "more than %d test cases", PKG_MAX_TESTS);
    if (s == CC_OK)
        add_test_to(p, g, &t);
    else
        test_free(&t);
    return s;
}

static cc_status load_dir(judge_package *p, judge_group *g, const char *rel, const group_cfg *cfg,
                          int depth);

/* A sub-folder that is a test group of its own, inheriting cfg. */
static cc_status load_subgroup(judge_package *p, judge_group *g, const char *erel,
                               const group_cfg *cfg, int depth)
{
    judge_group *sub = new_group(erel + 5, g->sample);
    add_child(g, sub);
    group_cfg c2 = *cfg;
    c2.vargs = (jstrv){0};
    copy_strv(&cfg->vargs, &c2.vargs);
    c2.has_max = false;
    c2.ignore_sample = false; /* a root-level flag only */
    if (!p->legacy && !c2.legacy_keys)
        c2.agg = AGG_PASS_FAIL; /* the 2025-09 default for groups */
    char *yrel = group_yaml_path(p, erel);
    cc_status s = parse_group_yaml(p, yrel, &c2, &sub->require_pass);
    free(yrel);
    group_take_cfg(p, sub, &c2, c2.has_max ? c2.max_score : -1);
    IFOK(s, load_dir(p, sub, erel, &c2, depth + 1));
    if (s == CC_OK && !sub->legacy_grading && p->scoring && sub->max_score < 0 && p->secret &&
        p->secret->max_score >= 0 && !g->sample)
        s = bad(p, erel, 0, "a test group of a scoring problem needs max_score when secret's is "
                            "bounded");
    jstrv_free(&c2.vargs);
    return s;
}

/* Loads the test cases of folder rel ("data/secret/g1") into group g;
 * sub-folders become groups of their own in the legacy format and plain
 * folders of g's test cases in later versions. */
static cc_status load_dir(judge_package *p, judge_group *g, const char *rel, const group_cfg *cfg,
                          int depth)
{
    if (depth > PKG_MAX_DEPTH)
        return bad(p, rel, 0, "test data nested too deeply");
    jstrv ents = {0};
    pkg__list(p->files, rel, &ents);
    cc_status s = CC_OK;
    for (size_t i = 0; i < ents.n && s == CC_OK; i++) {
        const char *e = ents.v[i];
        char *erel = judge__xasprintf("%s/%s", rel, e);
        bool file = pkg__is_file(p->files, erel), dir = !file && pkg__is_dir(p->files, erel);
        if (!pkg_name_ok(e))
            s = bad(p, erel, 0, "test data names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*");
        else if (file && ends_with(e, ".in"))
            s = load_test(p, g, erel, cfg);
        else if (file && ends_with(e, ".ans")) {
            char *in = judge__xasprintf("%.*s.in", (int)(strlen(erel) - 4), erel);
            if (!pkg__is_file(p->files, in))
                warn(p, erel, 0, "has no matching .in file; ignored");
            free(in);
        } else if (dir && !ends_with(e, ".files")) {
            s = p->legacy || depth == 0 ? load_subgroup(p, g, erel, cfg, depth)
                                        : load_dir(p, g, erel, cfg, depth + 1);
        }
        free(erel);
    }
    jstrv_free(&ents);
    return s;
}

/* data/sample or data/secret under the root group. */
static cc_status load_top_group(judge_package *p, const char *name, const group_cfg *base)
{
    char *rel = judge__xasprintf("data/%s", name);
    bool sample = !strcmp(name, "sample");
    judge_group *g = new_group(name, sample);
    add_child(p->root, g);
    if (!sample)
        p->secret = g;
    group_cfg c = *base;
    c.vargs = (jstrv){0};
    copy_strv(&base->vargs, &c.vargs);
    c.has_max = false;
    c.max_score = 100;
    c.agg = AGG_SUM;
    c.ignore_sample = false;
    char *y = group_yaml_path(p, rel);
    cc_status s = parse_group_yaml(p, y, &c, &g->require_pass);
    free(y);
    group_take_cfg(p, g, &c, p->legacy || c.legacy_keys ? -1 : (c.has_max ? c.max_score : 100));
    IFOK(s, load_dir(p, g, rel, &c, 0));
    jstrv_free(&c.vargs);
    free(rel);
    return s;
}

static cc_status load_data(judge_package *p, bool allow_no_tests)
{
    p->root = new_group("data", false);
    p->root->agg = AGG_SUM;
    bool has_secret = pkg__is_dir(p->files, "data/secret");
    /* The legacy grader's defaults: accept_score 1, reject_score 0,
     * on_reject break, worst_error, sum, any range. */
    group_cfg base = {.agg = AGG_SUM, .max_score = 100, .accept_score = 1, .reject_score = 0,
                      .break_on_reject = true, .vagg = VAGG_WORST_ERROR,
                      .range_lo = -INFINITY, .range_hi = INFINITY};
    copy_strv(&p->validator_flags, &base.vargs);
    cc_status s = parse_group_yaml(p, "data/testdata.yaml", &base, &p->root->require_pass);
    group_take_cfg(p, p->root, &base, -1);
    p->root->agg = AGG_SUM;
    if (s == CC_OK && pkg__is_dir(p->files, "data/sample"))
        s = load_top_group(p, "sample", &base);
    if (s == CC_OK && has_secret)
        s = load_top_group(p, "secret", &base);
    jstrv_free(&base.vargs);
    size_t secret = 0;
    for (size_t i = 0; i < p->ntests; i++)
        secret += !p->tests[i].group->sample;
    if (s != CC_OK || secret > 0)
        return s;
    /* Sample-only packages (no data/secret, or one holding only files
     * such as .gitkeep) are judged on their samples, as DOMjudge and
     * BAPCtools judge them. */
    p->secret = NULL;
    if (p->ntests > 0)
        warn(p, "data/secret", 0, "no secret test cases: submissions are judged on the samples");
    else if (!allow_no_tests)
        s = bad(p, "data", 0, "the package has no test cases (none in data/sample or "
                              "data/secret)");
    return s;
}

/* ---- output validator --------------------------------------------------------- */

static cc_status find_validator(judge_package *p, bool custom)
{
    if (pkg__is_dir(p->files, "output_validator")) {
        /* 2023-07 and later: the folder is the one program. */
        p->validator = judge__xstrdup("output_validator");
    } else if (pkg__is_dir(p->files, "output_validators")) {
        /* Legacy: each entry is a program; the format allows several,
         * this judge uses the first in name order. */
        jstrv ents = {0};
        pkg__list(p->files, "output_validators", &ents);
        if (ents.n > 0)
            p->validator = judge__xasprintf("output_validators/%s", ents.v[0]);
        jstrv_free(&ents);
    }
    if ((custom || p->interactive || p->multipass) && !p->validator)
        return bad(p, "output_validators", 0,
                   "the problem asks for a custom%s output validator but none is present",
                   p->multipass ? " (multi-pass)" : p->interactive ? " (interactive)" : "");
    if (!p->validator) {
        judge_checker_opts o;
        char err[200];
        if (!judge_checker_parse(&p->validator_flags, &o, err, sizeof err))
            return bad(p, "problem.yaml", 0, "validator_flags: %s", err);
    }
    return CC_OK;
}

/* ---- statement ------------------------------------------------------------------- */

static cc_status find_statement(judge_package *p)
{
    const pkg_file *st = NULL;
    for (const char *const *s = statement_files; *s && !st; s++)
        st = pkg_find(p->files, *s);
    for (size_t i = 0; i < p->files->nfiles && !st; i++) {
        const char *path = p->files->files[i].path;
        if ((!strncmp(path, "statement/", 10) || !strncmp(path, "problem_statement/", 18)) &&
            ends_with(path, ".md"))
            st = &p->files->files[i];
    }
    if (!st) {
        warn(p, "statement", 0, "no Markdown statement (statement/problem.en.md)");
        return CC_OK;
    }
    if (!st->text)
        return bad(p, st->path, 0, "statement larger than %lld bytes or not text",
                   (long long)pkg_local_limits.max_text);
    p->statement = judge__xstrdup(st->path);
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

static void expect_free(judge_expect *e)
{
    free(e->pattern);
    free(e->group);
    free(e->message);
}

static bool is_rule_key(const char *k)
{
    static const char *const rule_keys[] = {
        "permitted", "required", "score", "message", "language", "entrypoint", "authors",
        "model_solution", "use_for_time_limit", NULL};
    return in_list(k, rule_keys);
}

static cc_status add_expect(judge_package *p, const char *file, const char *pattern,
                            const char *group, const ynode *v);

/* The rule of one pattern given as a mapping; *keep false when it says
 * nothing the verifier checks. */
static cc_status expect_rules(judge_package *p, const char *file, const char *pattern,
                              const char *group, const ynode *v, judge_expect *e, bool *keep)
{
    bool ok = true;
    const ynode *n;
    if ((n = ymap_get(v, "permitted")))
        e->permitted = verdict_set(n, &ok);
    if (ok && (n = ymap_get(v, "required")))
        e->required = verdict_set(n, &ok);
    if (ok && (n = ymap_get(v, "score"))) {
        e->has_score = true;
        if (n->kind == YN_SEQ && n->n == 2) {
            ok = ynum(n->items[0], &e->score_lo) && ynum(n->items[1], &e->score_hi);
        } else {
            ok = ynum(n, &e->score_lo);
            e->score_hi = e->score_lo;
        }
    }
    if (ok && (n = ymap_get(v, "message")) && yscalar(n))
        e->message = judge__xstrdup(n->str);
    if (!ok)
        return bad(p, file, v->line,
                   "'%s': permitted/required must list AC, WA, TLE, RTE; score a number or "
                   "[low, high]",
                   pattern);
    /* Keys naming test groups scope a rule to those tests. */
    for (size_t i = 0; i < v->n && !group; i++) {
        if (is_rule_key(v->keys[i]) || v->items[i]->kind != YN_MAP)
            continue;
        cc_status s = add_expect(p, file, pattern, v->keys[i], v->items[i]);
        if (s != CC_OK)
            return s;
    }
    *keep = e->permitted || e->required || e->has_score || e->message;
    return CC_OK;
}

static cc_status add_expect(judge_package *p, const char *file, const char *pattern,
                            const char *group, const ynode *v)
{
    judge_expect e = {0};
    e.pattern = judge__xstrdup(pattern);
    e.group = group ? judge__xstrdup(group) : NULL;
    bool keep = true;
    cc_status s = CC_OK;
    if (yscalar(v)) {
        /* Shorthand: "pattern: accepted" means the folder's rule, kept as
         * the message "\1category" for the verifier. */
        e.message = judge__xasprintf("\x01%s", v->str);
    } else if (v && v->kind == YN_MAP) {
        s = expect_rules(p, file, pattern, group, v, &e, &keep);
    } else {
        s = bad(p, file, line_of(v), "'%s' must map to a folder name or to a set of rules",
                pattern);
    }
    if (s != CC_OK || !keep) {
        expect_free(&e);
        return s;
    }
    p->expects = judge__xrealloc(p->expects, (p->nexpects + 1) * sizeof *p->expects);
    p->expects[p->nexpects++] = e;
    return CC_OK;
}

static cc_status load_expectations(judge_package *p)
{
    const char *files[] = {"submissions/expectations.yaml", "submissions/submissions.yaml"};
    for (int f = 0; f < 2; f++) {
        ynode *doc = NULL;
        cc_status s = load_yaml(p, files[f], &doc);
        if (s == CC_NOT_FOUND)
            continue;
        if (s != CC_OK)
            return s;
        if (doc && doc->kind != YN_MAP) {
            ynode_free(doc);
            return bad(p, files[f], 0, "must map submission patterns to rules");
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
    jstrv cats = {0};
    pkg__list(p->files, "submissions", &cats);
    for (size_t c = 0; c < cats.n; c++) {
        char *crel = judge__xasprintf("submissions/%s", cats.v[c]);
        jstrv ents = {0};
        if (pkg__is_dir(p->files, crel))
            pkg__list(p->files, crel, &ents);
        for (size_t i = 0; i < ents.n && p->nsubs < PKG_MAX_SUBS; i++) {
            /* Names ending in .disabled are kept out, as the 2025-09
             * format says (names starting with a dot never get here). */
            size_t el = strlen(ents.v[i]);
            if (el > 9 && !strcmp(ents.v[i] + el - 9, ".disabled"))
                continue;
            char *rel = judge__xasprintf("%s/%s", crel, ents.v[i]);
            p->subs = judge__xrealloc(p->subs, (p->nsubs + 1) * sizeof *p->subs);
            p->subs[p->nsubs++] = (judge_sub){.path = rel,
                                              .category = judge__xstrdup(cats.v[c]),
                                              .is_dir = pkg__is_dir(p->files, rel)};
        }
        jstrv_free(&ents);
        free(crel);
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

static cc_status parse(const pkg_files *files, const char *dir, bool allow_no_tests, pkg_diags *d,
                       judge_package **out)
{
    *out = NULL;
    judge_package *p = judge__xcalloc(1, sizeof *p);
    p->files = files;
    p->diags = d;
    p->dir = dir ? judge__xstrdup(dir) : NULL;
    p->memory_mib = 2048;
    p->output_mib = 8;
    p->compile_time_s = 60;
    p->compile_memory_mib = 2048;
    p->validation_time_s = 60;
    p->validation_memory_mib = 2048;
    bool custom = false;
    cc_status s = parse_problem_yaml(p, &custom);
    IFOK(s, parse_timelimit_file(p));
    IFOK(s, find_validator(p, custom));
    IFOK(s, load_data(p, allow_no_tests));
    IFOK(s, find_statement(p));
    IFOK(s, load_submissions(p));
    p->files = NULL;
    p->diags = NULL;
    if (s != CC_OK) {
        judge_package_free(p);
        return s;
    }
    *out = p;
    return CC_OK;
}

cc_status judge_package_load(const char *dir, const judge_langs *langs, pkg_diags *d,
                             judge_package **out)
{
    (void)langs;
    *out = NULL;
    char *real = realpath(dir, NULL);
    if (!real) {
        return pkg__fail(d, "", 0, "%s: not a problem package folder (%s)", dir,
                         strerror(errno));
    }
    pkg_files files;
    cc_status s = pkg_read_dir(real, &pkg_local_limits, &files, d);
    if (s == CC_OK) {
        s = parse(&files, real, false, d, out);
        pkg_free(&files);
    }
    if (s == CC_OK && !(*out)->name) {
        const char *slash = strrchr(real, '/');
        (*out)->name = judge__xstrdup(slash ? slash + 1 : real);
    }
    free(real);
    return s;
}

cc_status pkg_check(const pkg_files *files, const pkg_check_opts *o, pkg_meta *m, pkg_diags *d)
{
    memset(m, 0, sizeof *m);
    judge_package *p;
    cc_status s = parse(files, NULL, o && o->allow_no_tests, d, &p);
    if (s != CC_OK)
        return s;
    m->name = judge__xstrdup(p->name ? p->name : "");
    m->format = judge__xstrdup(p->format);
    m->scoring = p->scoring;
    m->interactive = p->interactive;
    m->custom_validator = p->validator != NULL;
    m->time_limit_given = p->time_limit > 0;
    m->time_limit_ms = m->time_limit_given ? (int64_t)llround(p->time_limit * 1000)
                                           : PKG_DEFAULT_TIME_LIMIT_MS;
    m->memory_mib = p->memory_mib;
    m->output_mib = p->output_mib;
    jstr flags = {0};
    for (size_t i = 0; i < p->validator_flags.n; i++)
        jstr_addf(&flags, "%s%s", i ? " " : "", p->validator_flags.v[i]);
    m->validator_flags = jstr_take(&flags);
    const pkg_file *st = p->statement ? pkg_find(files, p->statement) : NULL;
    m->statement_path = st ? st->path : NULL;
    m->statement_md = st ? st->text : "";
    for (size_t i = 0; i < p->ntests; i++)
        m->sample_count += p->tests[i].group->sample;
    m->test_count = (int)p->ntests;
    judge_package_free(p);
    return CC_OK;
}

void pkg_meta_free(pkg_meta *m)
{
    free(m->name);
    free(m->format);
    free(m->validator_flags);
    memset(m, 0, sizeof *m);
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
    for (size_t i = 0; i < p->ntests; i++)
        test_free(&p->tests[i]);
    free(p->tests);
    group_free(p->root);
    for (size_t i = 0; i < p->nsubs; i++) {
        free(p->subs[i].path);
        free(p->subs[i].category);
    }
    free(p->subs);
    for (size_t i = 0; i < p->nexpects; i++)
        expect_free(&p->expects[i]);
    free(p->expects);
    jstrv_free(&p->validator_flags);
    free(p->validator);
    free(p->statement);
    free(p->format);
    free(p->name);
    free(p->dir);
    free(p);
}

const char *judge_package_name(const judge_package *p)
{
    return p->name ? p->name : "";
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

/* ---- writing problem.yaml ----------------------------------------------------------- */

static void yaml_quote(jstr *out, const char *s)
{
    jstr_add(out, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            jstr_addf(out, "\\%c", c);
        else if (c < 0x20)
            jstr_addf(out, "\\x%02x", c);
        else
            jstr_add(out, s, 1);
    }
    jstr_add(out, "\"", 1);
}

char *pkg_problem_yaml(const char *title, bool scoring, bool interactive, int64_t time_limit_ms,
                       int64_t memory_mib, int64_t output_mib, bool custom, const char *flags)
{
    jstr o = {0};
    jstr_adds(&o, "name: ");
    yaml_quote(&o, title);
    jstr_adds(&o, "\n");
    if (scoring)
        jstr_adds(&o, "type: scoring\n");
    if (interactive || custom)
        jstr_addf(&o, "validation: custom%s\n", interactive ? " interactive" : "");
    if (flags && *flags) {
        jstr_adds(&o, "validator_flags: ");
        yaml_quote(&o, flags);
        jstr_adds(&o, "\n");
    }
    if (time_limit_ms > 0 || memory_mib > 0 || output_mib > 0) {
        jstr_adds(&o, "limits:\n");
        if (time_limit_ms > 0)
            jstr_addf(&o, "  time_limit: %lld.%03lld\n", (long long)(time_limit_ms / 1000),
                      (long long)(time_limit_ms % 1000));
        if (memory_mib > 0)
            jstr_addf(&o, "  memory: %lld\n", (long long)memory_mib);
        if (output_mib > 0)
            jstr_addf(&o, "  output: %lld\n", (long long)output_mib);
    }
    return jstr_take(&o);
}
