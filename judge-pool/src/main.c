/* cc-judge: the command line.
 *
 *   cc-judge verify PACKAGE_DIR [--json] [--check-only]
 *   cc-judge run PACKAGE_DIR --lang LANG SOURCE... [--json]
 *   cc-judge languages [--json]
 *   cc-judge serve [--setting value]...   (the mesh worker, serve.c)
 *
 * Exit status: verify 0 when every judged submission fits its folder,
 * run 0 when the submission is accepted, 1 otherwise, 2 when the package,
 * the language table or the command line is broken. */
#include "internal.h"
#include "serve.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef JUDGE_LANGUAGES_FILE
#define JUDGE_LANGUAGES_FILE "languages.yaml"
#endif

/* Used before the time limit is known, to time the accepted submissions. */
#define PROVISIONAL_TL 10.0

typedef struct {
    bool json;
    bool check_only;
    const char *lang;
    const char *languages;
    const char *pkg_dir;
    jstrv sources;
    double time_limit;
    int jobs;
    judge_options caps; /* max_* only */
} cli;

typedef struct {
    const judge_sub *sub;  /* NULL in run mode */
    const char *path;      /* as shown in the report */
    jstrv sources;
    const judge_lang *lang;
    double tl;
    judge_result res;
    bool known;            /* a folder the format defines */
    unsigned header;       /* verdicts of @EXPECTED_RESULTS@: in the source, 0 if none */
    bool checked;          /* some rule said what to expect */
    bool match;
    char *why;             /* why it does not match */
} job;

typedef struct {
    const judge_package *pkg;
    const judge_langs *langs;
    const judge_options *opts;
    job *jobs;
    size_t *order;
    size_t n;
    size_t next;
    pthread_mutex_t mu;
} pool;

static void usage(FILE *f)
{
    fprintf(f, "usage: cc-judge verify PACKAGE_DIR [--json] [--check-only] [--jobs N] "
               "[--languages FILE] [CAPS]\n"
               "       cc-judge run PACKAGE_DIR --lang LANG SOURCE... [--json] [--time-limit S] "
               "[CAPS]\n"
               "       cc-judge languages [--json] [--languages FILE]\n"
               "       cc-judge serve [--help | --SETTING VALUE...]\n"
               "       cc-judge selfcheck [--sandbox-strict]\n"
               "CAPS (the most a package may ask for; none by default):\n"
               "       --max-time-limit S --max-memory MIB --max-compile-time S "
               "--max-validation-time S\n");
}

/* Parses one of the CAPS options; false when s is none of them. */
static bool cap_option(cli *a, const char *s, const char *v, bool *bad)
{
    static const struct {
        const char *flag;
        size_t off;
        bool seconds_double;
    } caps[] = {
        {"--max-time-limit", offsetof(judge_options, max_time_limit), true},
        {"--max-memory", offsetof(judge_options, max_memory_mib), false},
        {"--max-compile-time", offsetof(judge_options, max_compile_time_s), false},
        {"--max-validation-time", offsetof(judge_options, max_validation_time_s), false},
    };
    for (size_t i = 0; i < JUDGE_LEN(caps); i++) {
        if (strcmp(s, caps[i].flag))
            continue;
        char *field = (char *)&a->caps + caps[i].off;
        double d;
        long l;
        if (caps[i].seconds_double && v && judge__parse_double(v, &d) && d > 0 && d <= 3600) {
            memcpy(field, &d, sizeof d);
        } else if (!caps[i].seconds_double && v && judge__parse_long(v, &l) && l > 0 &&
                   l <= 1000000) {
            memcpy(field, &l, sizeof l);
        } else {
            fprintf(stderr, "cc-judge: %s needs a positive number%s\n", s,
                    caps[i].seconds_double ? " of seconds up to 3600" : " up to 1000000");
            *bad = true;
        }
        return true;
    }
    return false;
}

/* ---- parallel judging ------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    pool *pl = arg;
    judge_worker *w = NULL;
    if (judge_worker_new(pl->pkg, pl->langs, pl->opts, &w) != CC_OK) {
        fprintf(stderr, "cc-judge: %s\n", cc_err_msg());
        w = NULL;
    }
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        size_t i = pl->next < pl->n ? pl->order[pl->next++] : SIZE_MAX;
        pthread_mutex_unlock(&pl->mu);
        if (i == SIZE_MAX)
            break;
        job *j = &pl->jobs[i];
        if (!w) {
            j->res.verdict = JUDGE_IE;
            j->res.message = judge__xstrdup("sandbox runner missing");
            continue;
        }
        judge_worker_judge(w, j->lang, (const char *const *)j->sources.v, j->sources.n, j->tl,
                           &j->res);
    }
    judge_worker_free(w);
    return NULL;
}

static void judge_all(const judge_package *pkg, const judge_langs *langs,
                      const judge_options *opts, job *jobs, size_t *order, size_t n, int nthreads)
{
    if (n == 0)
        return;
    pool pl = {.pkg = pkg, .langs = langs, .opts = opts, .jobs = jobs, .order = order, .n = n};
    pthread_mutex_init(&pl.mu, NULL);
    if (nthreads < 1)
        nthreads = 1;
    if ((size_t)nthreads > n)
        nthreads = (int)n;
    pthread_t th[64];
    if (nthreads > 64)
        nthreads = 64;
    int started = 0;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker_main, &pl) == 0)
            started++;
    if (started == 0)
        worker_main(&pl);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pl.mu);
}

/* ---- matching verdicts with folders ---------------------------------------------------- */

static judge_verdict norm(judge_verdict v)
{
    /* The format's verdict classes: RTE covers MLE and OLE, WA covers PE. */
    if (v == JUDGE_MLE || v == JUDGE_OLE)
        return JUDGE_RE;
    if (v == JUDGE_PE)
        return JUDGE_WA;
    return v;
}

static bool fits_category(const char *cat, const judge_result *r, char **why)
{
    judge_verdict v = r->verdict;
    bool ok;
    if (!strcmp(cat, "accepted"))
        ok = v == JUDGE_AC;
    else if (!strcmp(cat, "wrong_answer"))
        ok = v == JUDGE_WA;
    else if (!strcmp(cat, "time_limit_exceeded"))
        ok = v == JUDGE_TLE;
    else if (!strcmp(cat, "run_time_error"))
        ok = v == JUDGE_RE || v == JUDGE_MLE;
    else if (!strcmp(cat, "memory_limit_exceeded"))
        ok = v == JUDGE_MLE;
    else if (!strcmp(cat, "compile_error"))
        ok = v == JUDGE_CE;
    else if (!strcmp(cat, "output_limit_exceeded"))
        ok = v == JUDGE_OLE;
    else if (!strcmp(cat, "presentation_error"))
        ok = v == JUDGE_PE;
    else if (!strcmp(cat, "partially_accepted"))
        ok = r->score > 0 && r->score < r->max_score && v != JUDGE_CE && v != JUDGE_IE;
    else if (!strcmp(cat, "rejected"))
        ok = v != JUDGE_AC && v != JUDGE_IE;
    else if (!strcmp(cat, "brute_force"))
        ok = v == JUDGE_TLE || v == JUDGE_RE || v == JUDGE_MLE;
    else if (!strcmp(cat, "slow_accepted"))
        ok = v == JUDGE_AC; /* judged with the time limit's safety margin */
    else
        ok = false;
    if (!ok)
        *why = judge__xasprintf("%s does not fit %s", judge_verdict_str(v), cat);
    return ok;
}

static bool check_expect(const judge_expect *e, const judge_result *r, char **why)
{
    if (e->message && e->message[0] == '\x01')
        return fits_category(e->message + 1, r, why);
    bool any_required = e->required == 0;
    for (size_t i = 0; i < r->ntests; i++) {
        if (e->group && !judge__glob_match(e->group, r->tests[i].name))
            continue;
        judge_verdict v = norm(r->tests[i].verdict);
        if (e->permitted && !(e->permitted & (1u << v))) {
            *why = judge__xasprintf("test %s: %s is not permitted", r->tests[i].name,
                                    judge_verdict_str(r->tests[i].verdict));
            return false;
        }
        if (e->required & (1u << v))
            any_required = true;
    }
    if (r->verdict == JUDGE_CE || r->verdict == JUDGE_IE) {
        *why = judge__xasprintf("%s", judge_verdict_str(r->verdict));
        return false;
    }
    if (!any_required) {
        *why = judge__xasprintf("no test has a required verdict");
        return false;
    }
    if (e->has_score && !e->group && (r->score < e->score_lo - 1e-9 || r->score > e->score_hi + 1e-9)) {
        *why = judge__xasprintf("score %g is outside [%g, %g]", r->score, e->score_lo,
                                e->score_hi);
        return false;
    }
    if (e->message) {
        bool found = false;
        for (size_t i = 0; i < r->ntests && !found; i++)
            found = r->tests[i].message && strstr(r->tests[i].message, e->message);
        if (!found) {
            *why = judge__xasprintf("no judge message contains '%s'", e->message);
            return false;
        }
    }
    return true;
}

/* DOMjudge's @EXPECTED_RESULTS@ names (its way of stating the verdicts a
 * jury submission may get); MEMORY-LIMIT and OUTPUT-LIMIT are run errors
 * there too. */
static unsigned domjudge_results(const char *name)
{
    static const struct {
        const char *name;
        unsigned set;
    } map[] = {
        {"CORRECT", 1u << JUDGE_AC},
        {"WRONG-ANSWER", 1u << JUDGE_WA | 1u << JUDGE_PE},
        {"NO-OUTPUT", 1u << JUDGE_WA},
        {"TIMELIMIT", 1u << JUDGE_TLE},
        {"RUN-ERROR", 1u << JUDGE_RE | 1u << JUDGE_MLE | 1u << JUDGE_OLE},
        {"MEMORY-LIMIT", 1u << JUDGE_MLE | 1u << JUDGE_RE},
        {"OUTPUT-LIMIT", 1u << JUDGE_OLE | 1u << JUDGE_RE},
        {"COMPILER-ERROR", 1u << JUDGE_CE},
    };
    for (size_t i = 0; i < JUDGE_LEN(map); i++)
        if (!strcasecmp(name, map[i].name))
            return map[i].set;
    return 0;
}

/* The verdicts an "@EXPECTED_RESULTS@: A, B" line in text allows. */
static unsigned header_of(const char *path, const char *text)
{
    const char *tag = strstr(text, "@EXPECTED_RESULTS@:");
    if (!tag)
        return 0;
    tag += strlen("@EXPECTED_RESULTS@:");
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(tag, "\r\n"), tag);
    unsigned set = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " ,\t", &save); w; w = strtok_r(NULL, " ,\t", &save)) {
        unsigned one = domjudge_results(w);
        if (!one)
            fprintf(stderr, "cc-judge: warning: %s: @EXPECTED_RESULTS@: unknown result '%s'\n",
                    path, w);
        set |= one;
    }
    return set;
}

/* Reads the @EXPECTED_RESULTS@ header of a submission (a file, or the
 * files of a folder). */
static unsigned expected_results(const judge_package *pkg, const judge_sub *sub)
{
    jstrv files = {0};
    char *abs = judge__xasprintf("%s/%s", pkg->dir, sub->path);
    if (sub->is_dir) {
        jstrv names = {0};
        judge__list_dir(abs, &names);
        for (size_t i = 0; i < names.n; i++)
            jstrv_push_own(&files, judge__xasprintf("%s/%s", abs, names.v[i]));
        jstrv_free(&names);
    } else {
        jstrv_push(&files, abs);
    }
    unsigned set = 0;
    for (size_t i = 0; i < files.n && !set; i++) {
        char *text = NULL;
        size_t len;
        if (judge__read_file(pkg->dir, files.v[i], 256 * 1024, &text, &len, NULL) == CC_OK)
            set = header_of(sub->path, text);
        free(text);
    }
    jstrv_free(&files);
    free(abs);
    return set;
}

/* Decides whether j fits what its package expects of it; false when no
 * rule says anything about it (an unknown folder without a rule). */
static bool decide_match(const judge_package *pkg, job *j)
{
    const char *rel = j->sub->path + strlen("submissions/");
    bool category_overridden = false, any_rule = false;
    j->match = true;
    for (size_t i = 0; i < pkg->nexpects; i++) {
        const judge_expect *e = &pkg->expects[i];
        if (!judge__glob_match(e->pattern, rel))
            continue;
        any_rule = true;
        /* A rule for the folder itself replaces the folder's default. */
        if (!strcmp(e->pattern, j->sub->category) && !e->group)
            category_overridden = true;
        if (e->message && e->message[0] == '\x01')
            category_overridden = true;
        char *why = NULL;
        if (!check_expect(e, &j->res, &why) && j->match) {
            j->match = false;
            j->why = judge__xasprintf("%s: %s", e->pattern, why);
        }
        free(why);
    }
    /* DOMjudge ignores the header in the format's four own folders and
     * honours it everywhere else. */
    static const char *const official[] = {"accepted", "wrong_answer", "time_limit_exceeded",
                                           "run_time_error"};
    bool is_official = false;
    for (size_t i = 0; i < JUDGE_LEN(official); i++)
        is_official |= !strcmp(j->sub->category, official[i]);
    if (!category_overridden && j->header && !is_official) {
        any_rule = category_overridden = true;
        if (j->match && !(j->header & (1u << j->res.verdict))) {
            j->match = false;
            j->why = judge__xasprintf("%s is not one of its @EXPECTED_RESULTS@",
                                      judge_verdict_str(j->res.verdict));
        }
    }
    if (!category_overridden && j->known) {
        any_rule = true;
        char *why = NULL; /* set on a mismatch only */
        if (j->match && !fits_category(j->sub->category, &j->res, &why)) {
            j->match = false;
            j->why = why;
        }
    }
    return any_rule;
}

/* ---- output ------------------------------------------------------------------------------ */

static json_t *num(double v)
{
    if (isnan(v) || isinf(v))
        return json_null();
    if (fabs(v - round(v)) < 1e-9 && fabs(v) < 1e15)
        return json_integer((json_int_t)llround(v));
    return json_real(v);
}

static json_t *job_json(const judge_package *pkg, const job *j)
{
    const judge_result *r = &j->res;
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(j->path));
    json_object_set_new(o, "language", r->language ? json_string(r->language) : json_null());
    json_object_set_new(o, "expected", j->sub ? json_string(j->sub->category) : json_null());
    json_object_set_new(o, "verdict", json_string(judge_verdict_str(r->verdict)));
    json_object_set_new(o, "score", num(r->score));
    json_object_set_new(o, "max_score", num(r->max_score));
    json_object_set_new(o, "match", j->sub && j->checked ? json_boolean(j->match) : json_null());
    json_t *tests = json_array();
    for (size_t i = 0; i < r->ntests; i++) {
        const judge_test_result *t = &r->tests[i];
        json_t *to = json_object();
        json_object_set_new(to, "name", json_string(t->name));
        json_object_set_new(to, "verdict", json_string(judge_verdict_str(t->verdict)));
        json_object_set_new(to, "sample", json_boolean(t->sample));
        json_object_set_new(to, "cpu_ms", json_integer(t->cpu_ms));
        json_object_set_new(to, "wall_ms", json_integer(t->wall_ms));
        json_object_set_new(to, "memory_kib", json_integer(t->memory_kib));
        if (pkg->scoring)
            json_object_set_new(to, "score", num(t->score));
        if (t->term_signal)
            json_object_set_new(to, "signal", json_integer(t->term_signal));
        else
            json_object_set_new(to, "exit_code", json_integer(t->exit_code));
        if (t->message)
            json_object_set_new(to, "message", json_string(t->message));
        json_array_append_new(tests, to);
    }
    json_object_set_new(o, "tests", tests);
    const char *msg = j->why ? j->why : r->message;
    if (j->why && r->message) {
        char *both = judge__xasprintf("%s; %s", j->why, r->message);
        json_object_set_new(o, "message", json_string(both));
        free(both);
    } else {
        json_object_set_new(o, "message", msg ? json_string(msg) : json_null());
    }
    return o;
}

static void print_json(const judge_package *pkg, job *jobs, size_t n, size_t matched,
                       size_t total, size_t skipped, json_t *package)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "problem", json_string(judge_package_name(pkg)));
    if (package)
        json_object_set(doc, "package", package);
    json_object_set_new(doc, "time_limit", num(pkg->time_limit));
    json_t *subs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(subs, job_json(pkg, &jobs[i]));
    json_object_set_new(doc, "submissions", subs);
    json_object_set_new(doc, "matched", json_integer((json_int_t)matched));
    json_object_set_new(doc, "total", json_integer((json_int_t)total));
    json_object_set_new(doc, "skipped", json_integer((json_int_t)skipped));
    json_t *unknown = json_array();
    for (size_t i = 0; i < n; i++)
        if (jobs[i].sub && !jobs[i].known)
            json_array_append_new(unknown, json_string(jobs[i].path));
    json_object_set_new(doc, "unknown", unknown);
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(doc);
}

static void print_table(const judge_package *pkg, job *jobs, size_t n, bool verify)
{
    printf("problem %s (%s%s%s), time limit %.3g s, %zu tests\n", judge_package_name(pkg),
           pkg->format, pkg->scoring ? ", scoring" : "", pkg->interactive ? ", interactive" : "",
           pkg->time_limit, pkg->ntests);
    printf("%-44s %-8s %-22s %-7s %9s %8s %9s  %s\n", "submission", "lang", "expected", "verdict",
           "score", "max cpu", "max mem", verify ? "match" : "");
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        long cpu = 0, mem = 0;
        for (size_t k = 0; k < j->res.ntests; k++) {
            if (j->res.tests[k].cpu_ms > cpu)
                cpu = j->res.tests[k].cpu_ms;
            if (j->res.tests[k].memory_kib > mem)
                mem = j->res.tests[k].memory_kib;
        }
        printf("%-44s %-8s %-22s %-7s %9.4g %6ldms %6ldKiB  %s\n", j->path,
               j->res.language ? j->res.language : "?", j->sub ? j->sub->category : "-",
               judge_verdict_str(j->res.verdict), j->res.score, cpu, mem,
               !verify ? ""
               : j->res.verdict == JUDGE_SKIPPED ? "skipped"
               : !j->checked                     ? "-"
               : j->match                        ? "yes"
                                                 : "NO");
        for (size_t k = 0; k < j->res.ntests; k++) {
            const judge_test_result *t = &j->res.tests[k];
            if (t->verdict != JUDGE_AC)
                printf("    %s: %s %s\n", t->name, judge_verdict_str(t->verdict),
                       t->message ? t->message : "");
        }
        if (j->why)
            printf("    mismatch: %s\n", j->why);
        if (j->res.message && j->res.verdict != JUDGE_AC) {
            /* Compiler output can be long; the first lines say enough. */
            printf("    %.600s\n", j->res.message);
        }
    }
}

/* ---- commands ---------------------------------------------------------------------------- */

static void job_sources(const judge_package *pkg, job *j)
{
    jstrv_push_own(&j->sources, judge__xasprintf("%s/%s", pkg->dir, j->sub->path));
}

static double max_cpu(const judge_result *r)
{
    long m = 0;
    for (size_t i = 0; i < r->ntests; i++)
        if (r->tests[i].cpu_ms > m)
            m = r->tests[i].cpu_ms;
    return (double)m / 1000.0;
}

/* When the package gives no time limit, the format derives it from the
 * slowest accepted submission: the smallest multiple of time_resolution at
 * least T_ac * ac_to_time_limit. */
static bool derive_time_limit(judge_package *pkg, job *jobs, size_t n, size_t *order, int threads,
                              const judge_langs *langs, const judge_options *opts)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].known && !strcmp(jobs[i].sub->category, "accepted")) {
            jobs[i].tl = PROVISIONAL_TL;
            order[k++] = i;
        }
    if (k == 0)
        return false;
    judge_all(pkg, langs, opts, jobs, order, k, threads);
    double t_ac = 0;
    for (size_t i = 0; i < k; i++) {
        const judge_result *r = &jobs[order[i]].res;
        if (r->verdict == JUDGE_AC && max_cpu(r) > t_ac)
            t_ac = max_cpu(r);
    }
    double res = pkg->time_resolution > 0 ? pkg->time_resolution : 1.0;
    double tl = ceil(t_ac * pkg->ac_to_tl / res - 1e-9) * res;
    if (tl < res)
        tl = res;
    judge_package_set_time_limit(pkg, tl);
    return true;
}

/* ---- the package check ------------------------------------------------------------ */

/* The package's warnings and errors, as every tool shows them. */
static json_t *diags_json(const pkg_diags *d, pkg_level level)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i].level != level)
            continue;
        char *s = pkg_diag_str(&d->v[i]);
        json_array_append_new(arr, json_string(s));
        free(s);
    }
    return arr;
}

static void print_doc(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(doc);
}

/* What the package check decided, with the same fields the import API
 * answers with: name, type, limits, test counts. */
static json_t *meta_json(const pkg_meta *m, const pkg_diags *d)
{
    const char *type = m->interactive ? (m->scoring ? "interactive scoring" : "interactive")
                       : m->scoring   ? "scoring"
                                      : "pass-fail";
    return json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:i, s:i, s:o}", "name", m->name,
                     "format", m->format, "type", type, "custom_validator", m->custom_validator,
                     "time_limit_ms", (json_int_t)m->time_limit_ms, "memory_mib",
                     (json_int_t)m->memory_mib, "output_mib", (json_int_t)m->output_mib, "tests",
                     m->test_count, "samples", m->sample_count, "warnings",
                     diags_json(d, PKG_WARNING));
}

/* Reads and checks the package with the one package reader; prints its
 * warnings (stderr) and, on failure, its error. Returns 0, or 2 when the
 * package is refused. With --check-only the check is all verify does. */
static int check_package(const cli *a, json_t **package)
{
    pkg_files files;
    pkg_meta m;
    pkg_diags d = {0};
    cc_status s = pkg_read_dir(a->pkg_dir, &pkg_local_limits, &files, &d);
    if (s == CC_OK) {
        s = pkg_check(&files, NULL, &m, &d);
        pkg_free(&files);
    }
    for (size_t i = 0; i < d.n; i++) {
        char *line = pkg_diag_str(&d.v[i]);
        fprintf(stderr, "cc-judge: %s%s\n", d.v[i].level == PKG_WARNING ? "warning: " : "", line);
        free(line);
    }
    if (s != CC_OK) {
        if (a->json) {
            const pkg_diag *e = pkg_diags_first_error(&d);
            char *msg = e ? pkg_diag_str(e) : judge__xstrdup(cc_err_msg());
            print_doc(json_pack("{s:s, s:o}", "error", msg, "warnings",
                                diags_json(&d, PKG_WARNING)));
            free(msg);
        }
        pkg_diags_free(&d);
        return 2;
    }
    *package = meta_json(&m, &d);
    pkg_meta_free(&m);
    pkg_diags_free(&d);
    return 0;
}

/* The report shows the time limit the tests ran with: the package's (or
 * the derived one) within the operator's cap. */
static void cap_time_limit(judge_package *pkg, const judge_options *opts)
{
    if (opts->max_time_limit > 0 && pkg->time_limit > opts->max_time_limit)
        judge_package_set_time_limit(pkg, opts->max_time_limit);
}

static int cmd_verify(cli *a, const judge_langs *langs, judge_options *opts)
{
    json_t *package = NULL;
    if (check_package(a, &package) != 0)
        return 2;
    if (a->check_only) {
        if (a->json)
            print_doc(json_pack("{s:o}", "package", package));
        else
            json_decref(package);
        return 0;
    }
    judge_package *pkg;
    if (judge_package_load(a->pkg_dir, langs, NULL, &pkg) != CC_OK) {
        fprintf(stderr, "cc-judge: %s\n", cc_err_msg());
        json_decref(package);
        return 2;
    }
    size_t n = pkg->nsubs;
    job *jobs = judge__xcalloc(n ? n : 1, sizeof *jobs);
    size_t *order = judge__xcalloc(n ? n : 1, sizeof *order);
    for (size_t i = 0; i < n; i++) {
        jobs[i].sub = &pkg->subs[i];
        jobs[i].path = pkg->subs[i].path;
        jobs[i].known = judge__known_category(pkg->subs[i].category);
        jobs[i].header = expected_results(pkg, &pkg->subs[i]);
        job_sources(pkg, &jobs[i]);
    }
    int threads = a->jobs > 0 ? a->jobs : judge__nproc();
    bool derived = false;
    if (a->time_limit > 0)
        judge_package_set_time_limit(pkg, a->time_limit);
    else if (pkg->time_limit <= 0)
        derived = derive_time_limit(pkg, jobs, n, order, threads, langs, opts);
    if (pkg->time_limit <= 0)
        judge_package_set_time_limit(pkg, PROVISIONAL_TL);
    cap_time_limit(pkg, opts);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *cat = jobs[i].sub->category;
        if (derived && !strcmp(cat, "accepted"))
            continue;
        /* A time_limit_exceeded submission must still time out with the
         * format's safety margin on top of the limit; a slow_accepted one
         * must pass within it. */
        bool margin = !strcmp(cat, "time_limit_exceeded") || !strcmp(cat, "slow_accepted");
        jobs[i].tl = pkg->time_limit * (margin ? pkg->tl_to_tle : 1.0);
        order[k++] = i;
    }
    judge_all(pkg, langs, opts, jobs, order, k, threads);

    size_t matched = 0, total = 0, skipped = 0;
    bool all_ok = true;
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        if (j->res.verdict == JUDGE_SKIPPED) {
            total++;
            skipped++;
            j->match = false;
            continue;
        }
        j->checked = decide_match(pkg, j);
        if (!j->checked) {
            fprintf(stderr,
                    "cc-judge: warning: %s: folder '%s' is not one the format defines and no "
                    "rule names it: judged (%s), nothing to check\n",
                    j->path, j->sub->category, judge_verdict_str(j->res.verdict));
            continue;
        }
        total++;
        if (j->match)
            matched++;
        else
            all_ok = false;
    }
    if (a->json)
        print_json(pkg, jobs, n, matched, total, skipped, package);
    else {
        print_table(pkg, jobs, n, true);
        printf("%zu of %zu submissions match their folder%s", matched, total,
               skipped ? "" : "\n");
        if (skipped)
            printf(" (%zu skipped: toolchain not installed)\n", skipped);
    }
    for (size_t i = 0; i < n; i++) {
        judge_result_clear(&jobs[i].res);
        jstrv_free(&jobs[i].sources);
        free(jobs[i].why);
    }
    free(jobs);
    free(order);
    json_decref(package);
    judge_package_free(pkg);
    return all_ok ? 0 : 1;
}

static int cmd_run(cli *a, const judge_langs *langs, judge_options *opts)
{
    const judge_lang *l = judge_langs_find(langs, a->lang);
    if (!l) {
        fprintf(stderr, "cc-judge: unknown language '%s' (see cc-judge languages)\n", a->lang);
        return 2;
    }
    judge_package *pkg;
    pkg_diags d = {0};
    cc_status ls = judge_package_load(a->pkg_dir, langs, &d, &pkg);
    for (size_t i = 0; i < d.n; i++) {
        char *line = pkg_diag_str(&d.v[i]);
        fprintf(stderr, "cc-judge: %s%s\n", d.v[i].level == PKG_WARNING ? "warning: " : "", line);
        free(line);
    }
    pkg_diags_free(&d);
    if (ls != CC_OK)
        return 2;
    if (a->time_limit > 0)
        judge_package_set_time_limit(pkg, a->time_limit);
    if (pkg->time_limit <= 0) {
        size_t n = pkg->nsubs;
        job *jobs = judge__xcalloc(n ? n : 1, sizeof *jobs);
        size_t *order = judge__xcalloc(n ? n : 1, sizeof *order);
        for (size_t i = 0; i < n; i++) {
            jobs[i].sub = &pkg->subs[i];
            jobs[i].known = judge__known_category(pkg->subs[i].category);
            if (jobs[i].known)
                job_sources(pkg, &jobs[i]);
        }
        derive_time_limit(pkg, jobs, n, order, judge__nproc(), langs, opts);
        for (size_t i = 0; i < n; i++) {
            judge_result_clear(&jobs[i].res);
            jstrv_free(&jobs[i].sources);
        }
        free(jobs);
        free(order);
        if (pkg->time_limit <= 0)
            judge_package_set_time_limit(pkg, PROVISIONAL_TL);
    }
    cap_time_limit(pkg, opts);
    job j = {.path = a->sources.v[0], .lang = l, .known = true, .tl = pkg->time_limit};
    for (size_t i = 0; i < a->sources.n; i++)
        jstrv_push(&j.sources, a->sources.v[i]);
    size_t order = 0;
    judge_all(pkg, langs, opts, &j, &order, 1, 1);
    if (a->json)
        print_json(pkg, &j, 1, 0, 1, j.res.verdict == JUDGE_SKIPPED, NULL);
    else
        print_table(pkg, &j, 1, false);
    int rc = j.res.verdict == JUDGE_AC ? 0 : 1;
    judge_result_clear(&j.res);
    jstrv_free(&j.sources);
    judge_package_free(pkg);
    return rc;
}

/* Prints the language table with each toolchain's version (the version
 * probe runs on the host: it only prints a version string). */
static int cmd_languages(cli *a, const judge_langs *langs)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < judge_langs_count(langs); i++) {
        const judge_lang *l = judge_langs_at(langs, i);
        bool avail = judge_lang_available(l);
        char ver[200];
        judge_lang_version(l, ver, sizeof ver);
        if (a->json) {
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(l->id));
            json_object_set_new(o, "name", json_string(l->name));
            json_object_set_new(o, "available", json_boolean(avail));
            json_object_set_new(o, "version", json_string(ver));
            json_array_append_new(arr, o);
        } else {
            printf("%-12s %-14s %-9s %s\n", l->id, l->name, avail ? "available" : "missing", ver);
        }
    }
    if (a->json) {
        char *s = json_dumps(arr, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
    }
    json_decref(arr);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* The mesh worker has its own settings table (cc_actor_main parses
     * them), so it leaves before the local modes' option parsing. */
    if (!strcmp(argv[1], "serve"))
        return judge_serve_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "selfcheck"))
        return judge_selfcheck(argc > 2 && !strcmp(argv[2], "--sandbox-strict"));
    if (!strcmp(argv[1], "--version")) {
        printf("cc-judge %s\n", CC_VERSION);
        return 0;
    }
    cli a = {.languages = getenv("CC_JUDGE_LANGUAGES")};
    const char *cmd = argv[1];
    bool bad_cap = false;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--json")) {
            a.json = true;
        } else if (!strcmp(s, "--check-only")) {
            a.check_only = true;
        } else if (!strcmp(s, "--lang") && i + 1 < argc) {
            a.lang = argv[++i];
        } else if (!strcmp(s, "--languages") && i + 1 < argc) {
            a.languages = argv[++i];
        } else if (!strcmp(s, "--time-limit") && i + 1 < argc) {
            if (!judge__parse_double(argv[++i], &a.time_limit) || a.time_limit <= 0 ||
                a.time_limit > 3600) {
                fprintf(stderr, "cc-judge: --time-limit needs seconds in (0, 3600]\n");
                return 2;
            }
        } else if (!strcmp(s, "--jobs") && i + 1 < argc) {
            long v;
            if (!judge__parse_long(argv[++i], &v) || v < 1 || v > 64) {
                fprintf(stderr, "cc-judge: --jobs needs a number from 1 to 64\n");
                return 2;
            }
            a.jobs = (int)v;
        } else if (!strncmp(s, "--max-", 6) && cap_option(&a, s, i + 1 < argc ? argv[i + 1] : NULL,
                                                          &bad_cap)) {
            if (bad_cap)
                return 2;
            i++;
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            return 0;
        } else if (s[0] == '-' && s[1] == '-') {
            fprintf(stderr, "cc-judge: unknown option %s\n", s);
            usage(stderr);
            return 2;
        } else if (!a.pkg_dir && strcmp(cmd, "languages")) {
            a.pkg_dir = s;
        } else {
            jstrv_push(&a.sources, s);
        }
    }
    judge_langs *langs;
    if (judge_langs_load(a.languages ? a.languages : JUDGE_LANGUAGES_FILE, &langs) != CC_OK) {
        fprintf(stderr, "cc-judge: %s\n", cc_err_msg());
        jstrv_free(&a.sources);
        return 2;
    }
    judge_options opts = a.caps;
    int rc;
    if (!strcmp(cmd, "verify") && a.pkg_dir && a.sources.n == 0) {
        rc = cmd_verify(&a, langs, &opts);
    } else if (!strcmp(cmd, "run") && a.pkg_dir && a.lang && a.sources.n > 0) {
        rc = cmd_run(&a, langs, &opts);
    } else if (!strcmp(cmd, "languages")) {
        rc = cmd_languages(&a, langs);
    } else {
        usage(stderr);
        rc = 2;
    }
    judge_langs_free(langs);
    jstrv_free(&a.sources);
    return rc;
}
