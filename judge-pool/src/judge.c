/* Judging one submission against one package: compile in a fresh box, run
 * every test there, check each output, aggregate verdict and score. This is
 * the function `verify`, `run` and (later) the mesh worker share. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
/* Compiler diagnostics kept for the report. */
#define DIAG_CAP (64u * 1024u)
/* At most this much of a program's stderr, a validator's or the
 * compiler's output goes into a message. */
#define STDERR_SHOWN 4096
#define MSG_CAP 2000
/* Size of the box's /box and scratch /tmp. */
#define BOX_BYTES (512ull * MIB)
#define TMP_BYTES (256ull * MIB)
#define RUN_TMP_BYTES (64ull * MIB)
/* A judged program may start a few threads of its own; runtimes that need
 * more say so with extra_processes in the language table. */
#define RUN_PIDS 16
#define RUN_MIN_FSIZE_MIB 64u
#define COMPILE_PIDS 64

static const char *const base_env[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp",
                                       "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};

struct judge_worker {
    const judge_package *pkg; /* &capped */
    judge_package capped;     /* the package's struct with the operator's caps applied */
    const judge_langs *langs;
    judge_options opts;
    char *runner;
    /* The output validator, built once per worker in its own box. */
    bool vtried;
    box *vbox;
    jstrv vrun, venv;
    long vextra;
    char *verr;
    judge_checker_opts chk;
};

static void cap_long(long *v, long cap)
{
    if (cap > 0 && *v > cap)
        *v = cap;
}

/* A setter's limits stay within the operator's (judge_options). */
static void cap_limits(judge_package *p, const judge_options *o)
{
    if (o->max_time_limit > 0 && p->time_limit > o->max_time_limit)
        p->time_limit = o->max_time_limit;
    cap_long(&p->memory_mib, o->max_memory_mib);
    cap_long(&p->compile_memory_mib, o->max_memory_mib);
    cap_long(&p->validation_memory_mib, o->max_memory_mib);
    cap_long(&p->compile_time_s, o->max_compile_time_s);
    cap_long(&p->validation_time_s, o->max_validation_time_s);
}

cc_status judge_worker_new(const judge_package *pkg, const judge_langs *langs,
                           const judge_options *opts, judge_worker **out)
{
    judge_worker *w = judge__xcalloc(1, sizeof *w);
    w->langs = langs;
    if (opts)
        w->opts = *opts;
    /* A shallow copy: the worker only reads the package, which outlives it. */
    w->capped = *pkg;
    w->pkg = &w->capped;
    cap_limits(&w->capped, &w->opts);
    w->runner = opts && opts->runner_path ? judge__xstrdup(opts->runner_path)
                                          : judge__default_runner();
    if (access(w->runner, X_OK) != 0) {
        cc_status s = cc_err_set(CC_NOT_FOUND, "sandbox runner %s: %s", w->runner,
                                 strerror(errno));
        free(w->runner);
        free(w);
        return s;
    }
    *out = w;
    return CC_OK;
}

void judge_worker_free(judge_worker *w)
{
    if (!w)
        return;
    box_close(w->vbox);
    jstrv_free(&w->vrun);
    jstrv_free(&w->venv);
    free(w->verr);
    free(w->runner);
    free(w);
}

void judge_result_clear(judge_result *r)
{
    for (size_t i = 0; i < r->ntests; i++) {
        free(r->tests[i].name);
        free(r->tests[i].message);
        free(r->tests[i].stdout_text);
        free(r->tests[i].stderr_text);
    }
    free(r->tests);
    for (size_t i = 0; i < r->ngroups; i++)
        free(r->groups[i].name);
    free(r->groups);
    free(r->language);
    free(r->message);
    memset(r, 0, sizeof *r);
}

/* ---- staging sources ------------------------------------------------------------
 * Sources are read (with the package file checks) into an in-memory
 * archive that the runner unpacks into /box: no host folder is mounted
 * into the box and no staging file is left on the host. */

#define STAGE_FILE_CAP (16u << 20)

typedef struct {
    jstrv names;      /* relative paths, in archive order */
    jstr arc;         /* the archive (struct rp_file records) */
    size_t *off;      /* where each file's bytes start in arc */
    size_t *len;
} stage;

static void stage_free(stage *st)
{
    jstrv_free(&st->names);
    jstr_free(&st->arc);
    free(st->off);
    free(st->len);
    memset(st, 0, sizeof *st);
}

static bool stage_file(const char *root, const char *from, stage *st, const char *rel)
{
    int fd = judge__open_pkg_file(root, from);
    if (fd < 0)
        return false;
    struct stat sb;
    bool exec = fstat(fd, &sb) == 0 && (sb.st_mode & 0111);
    size_t len;
    bool trunc;
    char *data = judge__read_fd(fd, STAGE_FILE_CAP, &len, &trunc);
    close(fd);
    if (trunc || st->arc.len + len > RP_ARCHIVE_MAX || st->names.n >= 2000) {
        free(data);
        return false;
    }
    struct rp_file h = {.path_len = (uint32_t)strlen(rel), .mode = exec ? 0755 : 0644,
                        .size = len};
    jstr_add(&st->arc, &h, sizeof h);
    jstr_add(&st->arc, rel, h.path_len);
    size_t n = st->names.n;
    st->off = judge__xrealloc(st->off, (n + 1) * sizeof *st->off);
    st->len = judge__xrealloc(st->len, (n + 1) * sizeof *st->len);
    st->off[n] = st->arc.len;
    st->len[n] = len;
    jstr_add(&st->arc, data, len);
    jstrv_push(&st->names, rel);
    free(data);
    return true;
}

static bool stage_tree(const char *root, const char *dir, stage *st, const char *prefix,
                       int depth)
{
    if (depth > 8)
        return false;
    jstrv ents = {0};
    if (judge__list_dir(dir, &ents) < 0)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < ents.n; i++) {
        char *from = judge__xasprintf("%s/%s", dir, ents.v[i]);
        char *rel = prefix[0] ? judge__xasprintf("%s/%s", prefix, ents.v[i])
                              : judge__xstrdup(ents.v[i]);
        if (judge__is_dir(from))
            ok = stage_tree(root, from, st, rel, depth + 1);
        else
            ok = stage_file(root, from, st, rel);
        free(from);
        free(rel);
    }
    jstrv_free(&ents);
    return ok;
}

static const char *stage_data(const stage *st, const char *name, size_t *len)
{
    for (size_t i = 0; i < st->names.n; i++)
        if (!strcmp(st->names.v[i], name)) {
            *len = st->len[i];
            return st->arc.p + st->off[i];
        }
    *len = 0;
    return NULL;
}

/* The archive as a memfd for box_prepare. */
static int stage_fd(const stage *st)
{
    int m = memfd_create("sources", MFD_CLOEXEC);
    if (m < 0)
        return -1;
    if (st->arc.len && write(m, st->arc.p, st->arc.len) != (ssize_t)st->arc.len) {
        close(m);
        return -1;
    }
    return m;
}

/* Source names reach the compiler's and the program's command lines as
 * arguments: one starting with '-' would be read as an option, '@' as a
 * response file, and any other character than these has no business in a
 * file name anyway. */
static bool source_name_ok(const char *rel)
{
    for (const char *p = rel; *p; p++) {
        char ch = *p;
        if ((p == rel || p[-1] == '/') && ch == '-')
            return false;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '+' || ch == '-' || ch == '/'))
            return false;
    }
    return rel[0] != '\0';
}

static bool has_ext(const judge_lang *l, const char *file)
{
    const char *dot = strrchr(file, '.');
    const char *slash = strrchr(file, '/');
    if (!dot || (slash && dot < slash))
        return false;
    for (size_t i = 0; i < l->extensions.n; i++)
        if (!strcmp(dot + 1, l->extensions.v[i]))
            return true;
    return false;
}

/* The text of each named file, for the language table's content and entry
 * rules (judge__langs_detect, judge__pick_entry). */
static void stage_texts(const stage *st, const jstrv *names, const char ***data, size_t **lens)
{
    *data = judge__xcalloc(names->n ? names->n : 1, sizeof **data);
    *lens = judge__xcalloc(names->n ? names->n : 1, sizeof **lens);
    for (size_t i = 0; i < names->n; i++)
        (*data)[i] = stage_data(st, names->v[i], &(*lens)[i]);
}

static const judge_lang *stage_detect(const judge_langs *t, const stage *st)
{
    const char **data;
    size_t *lens;
    stage_texts(st, &st->names, &data, &lens);
    const judge_lang *l =
        judge__langs_detect(t, (const char *const *)st->names.v, data, lens, st->names.n);
    free(data);
    free(lens);
    return l;
}

/* The entry point of a multi-file program (languages.yaml says how); NULL
 * with *why set when there is none or more than one. */
static const char *pick_main(const judge_lang *l, const jstrv *files, const stage *st, char **why)
{
    const char **data;
    size_t *lens;
    stage_texts(st, files, &data, &lens);
    long i = judge__pick_entry(l, (const char *const *)files->v, data, lens, files->n, why);
    free(data);
    free(lens);
    return i >= 0 ? files->v[i] : NULL;
}

/* Configuration a toolchain reads outside /usr (languages.yaml's
 * host_files) goes into the box as /box/.host/<path>. */
static bool stage_host_files(const judge_lang *l, stage *st)
{
    for (size_t i = 0; i < l->host_files.n; i++) {
        const char *p = l->host_files.v[i];
        char *rel = judge__xasprintf(".host%s", p);
        bool ok;
        if (judge__is_dir(p)) {
            ok = stage_tree(p, p, st, rel, 0);
        } else {
            char *dir = judge__xstrdup(p);
            *strrchr(dir, '/') = '\0';
            ok = stage_file(dir[0] ? dir : "/", p, st, rel);
            free(dir);
        }
        free(rel);
        if (!ok)
            return false;
    }
    return true;
}

static void make_env(const judge_lang *l, jstrv *env)
{
    for (size_t i = 0; i < JUDGE_LEN(base_env); i++)
        jstrv_push(env, base_env[i]);
    for (size_t i = 0; l && i < l->env.n; i++)
        jstrv_push(env, l->env.v[i]);
}

static char *signal_text(int sig)
{
    const char *d = sigdescr_np(sig);
    const char *n = sigabbrev_np(sig);
    return judge__xasprintf("killed by signal %d (SIG%s, %s)", sig, n ? n : "?", d ? d : "?");
}

/* Compiles what is in /box with the language's compile command. Returns
 * CC_OK with *ce = NULL on success, or a compile-error text in *ce. */
static cc_status compile_in(box *b, const judge_lang *l, const jstrv *files, const char *main,
                            long time_s, long mem_mib, char **ce, long *ms)
{
    *ce = NULL;
    if (l->compile.n == 0)
        return CC_OK;
    jstrv argv = {0}, env = {0};
    judge_expand_ctx ctx = {.files = files, .main = main, .memory_mib = mem_mib};
    judge__expand(&l->compile, &ctx, &argv);
    make_env(l, &env);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        jstrv_free(&argv);
        jstrv_free(&env);
        return cc_err_sys("pipe2");
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    box_run_req rq = {.argv = &argv,
                      .env = &env,
                      .fds = {devnull, pfd[1], pfd[1]},
                      .nfds = 3,
                      .close_mask = 0x6,
                      .flags = RP_F_RESET_TMP,
                      .cpu_ms = (uint64_t)time_s * 2000u,
                      .wall_ms = (uint64_t)time_s * 1000u,
                      .memory_bytes = (uint64_t)mem_mib * MIB,
                      .fsize_bytes = 256 * MIB,
                      .nofile = 1024,
                      .pids = COMPILE_PIDS + (uint64_t)l->extra_processes,
                      .tmp_bytes = TMP_BYTES,
                      .drain_fd = pfd[0],
                      .drain_cap = DIAG_CAP};
    box_run_res res;
    cc_status s = box_run(b, &rq, &res);
    close(devnull);
    close(pfd[0]);
    jstrv_free(&argv);
    jstrv_free(&env);
    *ms = (long)(res.wall_us / 1000u);
    if (s == CC_OK) {
        jstr msg = {0};
        if (res.flags & RP_R_EXEC_FAILED)
            jstr_addf(&msg, "cannot run the compiler: %s\n", strerror(res.err));
        else if (res.oom)
            jstr_addf(&msg, "compiler ran out of memory (%ld MiB)\n", mem_mib);
        else if (res.cpu_exceeded || (res.flags & RP_R_WALL_TIMEOUT))
            jstr_addf(&msg, "compilation took longer than %ld s\n", time_s);
        else if (res.term_signal == SIGXFSZ)
            jstr_adds(&msg, "compiler output exceeded the file size limit\n");
        else if (res.term_signal) {
            char *t = signal_text(res.term_signal);
            jstr_addf(&msg, "compiler %s\n", t);
            free(t);
        } else if (res.exit_code != 0)
            jstr_addf(&msg, "compiler exited with code %d\n", res.exit_code);
        if (msg.len || res.flags) {
            /* The first STDERR_SHOWN bytes of what the compiler said. */
            size_t n = res.drained.len < STDERR_SHOWN ? res.drained.len : STDERR_SHOWN;
            jstr_add(&msg, res.drained.p ? res.drained.p : "", n);
            if (n < res.drained.len)
                jstr_adds(&msg, "\n[...]");
            *ce = jstr_take(&msg);
        }
        jstr_free(&msg);
    }
    box_run_res_clear(&res);
    return s;
}

/* ---- the output validator --------------------------------------------------------- */

static void build_validator(judge_worker *w)
{
    const judge_package *p = w->pkg;
    w->vtried = true;
    stage st = {0};
    char *vpath = judge__xasprintf("%s/%s", p->dir, p->validator);
    bool ok;
    if (judge__is_dir(vpath)) {
        ok = stage_tree(p->dir, vpath, &st, "", 0);
    } else {
        const char *slash = strrchr(p->validator, '/');
        const char *base = slash ? slash + 1 : p->validator;
        ok = stage_file(p->dir, vpath, &st, base);
    }
    free(vpath);
    const jstrv files = st.names;
    if (!ok) {
        w->verr = judge__xasprintf("%s: cannot copy the output validator", p->validator);
        stage_free(&st);
        return;
    }
    bool has_build = false, has_run = false;
    for (size_t i = 0; i < files.n; i++) {
        has_build |= !strcmp(files.v[i], "build");
        has_run |= !strcmp(files.v[i], "run");
    }
    const judge_lang *l = NULL;
    jstrv vfiles = {0};
    const char *main = NULL;
    if (!has_build && !has_run) {
        l = stage_detect(w->langs, &st);
        if (!l) {
            w->verr = judge__xasprintf("%s: cannot tell the validator's language", p->validator);
            stage_free(&st);
            return;
        }
        if (!judge_lang_available(l)) {
            w->verr = judge__xasprintf("%s: the validator's language %s is not installed",
                                       p->validator, l->id);
            stage_free(&st);
            return;
        }
        for (size_t i = 0; i < files.n; i++)
            if (has_ext(l, files.v[i]))
                jstrv_push(&vfiles, files.v[i]);
        char *why = NULL;
        main = pick_main(l, &vfiles, &st, &why);
        if (!main || !stage_host_files(l, &st)) {
            w->verr = judge__xasprintf("%s: %s", p->validator,
                                       why ? why : "cannot copy the toolchain's configuration");
            free(why);
            jstrv_free(&vfiles);
            stage_free(&st);
            return;
        }
    }
    box_config cfg = {.runner_path = w->runner,
                      .bwrap_path = w->opts.bwrap_path, .box_bytes = BOX_BYTES,
                      .tmp_bytes = TMP_BYTES};
    cc_status s = box_open(&cfg, &w->vbox);
    int afd = stage_fd(&st);
    if (s == CC_OK && afd < 0)
        s = cc_err_sys("memfd_create");
    IFOK(s, box_prepare(w->vbox, afd));
    if (afd >= 0)
        close(afd);
    char *ce = NULL;
    long ms = 0;
    if (s == CC_OK && has_build) {
        struct judge_lang sh = {0};
        jstrv_push(&sh.compile, "/bin/sh");
        jstrv_push(&sh.compile, "./build");
        s = compile_in(w->vbox, &sh, &files, NULL, p->compile_time_s, p->compile_memory_mib, &ce,
                       &ms);
        jstrv_free(&sh.compile);
    } else if (s == CC_OK && l) {
        s = compile_in(w->vbox, l, &vfiles, main, p->compile_time_s, p->compile_memory_mib, &ce,
                       &ms);
    }
    IFOK(s, box_seal(w->vbox));
    if (s != CC_OK) {
        w->verr = judge__xasprintf("output validator: %s", cc_err_msg());
    } else if (ce) {
        w->verr = judge__xasprintf("output validator does not compile: %.1500s", ce);
    } else if (has_build || has_run) {
        jstrv_push(&w->vrun, "/box/run");
        make_env(NULL, &w->venv);
    } else {
        judge_expand_ctx ctx = {.files = &vfiles, .main = main,
                                .memory_mib = p->validation_memory_mib};
        judge__expand(&l->run, &ctx, &w->vrun);
        make_env(l, &w->venv);
        w->vextra = l->extra_processes;
    }
    free(ce);
    jstrv_free(&vfiles);
    stage_free(&st);
}

/* ---- running tests ------------------------------------------------------------------- */

typedef struct {
    judge_worker *w;
    const judge_package *p;
    const judge_lang *l;
    box *b;
    jstrv run_argv, env;
    double tl;           /* seconds */
    judge_result *r;
    int *res_of;         /* package test index -> index in r->tests, -1 = not run */
    bool stop;           /* a pass-fail problem stops at the first failure */
    bool cancelled;      /* the progress callback asked to stop */
} jctx;

/* Tells the caller's progress callback; false when it asked to stop. */
static bool report(jctx *c, const judge_progress *pr)
{
    if (!c->w->opts.progress)
        return true;
    if (!c->w->opts.progress(c->w->opts.progress_ud, pr)) {
        c->cancelled = true;
        c->stop = true;
        return false;
    }
    return true;
}

static judge_test_result *new_test(jctx *c, size_t ti)
{
    judge_result *r = c->r;
    r->tests = judge__xrealloc(r->tests, (r->ntests + 1) * sizeof *r->tests);
    judge_test_result *t = &r->tests[r->ntests];
    memset(t, 0, sizeof *t);
    t->name = judge__xstrdup(c->p->tests[ti].name);
    t->sample = c->p->tests[ti].group && c->p->tests[ti].group->sample;
    c->res_of[ti] = (int)r->ntests++;
    return t;
}

static void set_msg(judge_test_result *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_msg(judge_test_result *t, const char *fmt, ...)
{
    char buf[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(t->message);
    t->message = judge__xstrdup(buf);
}

/* Verdict of a finished submission run before any output check. Returns
 * true when the run ended normally and its output must be checked. */
/* The wall-clock limit of a test run: the time limit with the package's
 * safety margin (time_limit_to_tle: 2 in the legacy format, 1.5 later).
 * A run past it is TLE whatever CPU time it used, so a program that
 * sleeps, waits or stops itself cannot come back WA or AC after the
 * limit; the margin keeps a CPU-bound run that the machine delayed from
 * being one. */
static uint64_t wall_limit_ms(const jctx *c)
{
    double margin = c->p->tl_to_tle >= 1 ? c->p->tl_to_tle : 1;
    return (uint64_t)ceil(c->tl * margin * 1000.0);
}

/* Appends the first STDERR_SHOWN bytes of what fd holds to t's message. */
static void add_stderr(judge_test_result *t, int fd)
{
    size_t len;
    bool more;
    char *err = fd >= 0 ? judge__read_fd(fd, STDERR_SHOWN, &len, &more) : NULL;
    if (err && len > 0)
        set_msg(t, "%s\nstderr:\n%s%s", t->message ? t->message : "", err, more ? "\n[...]" : "");
    free(err);
}

static bool classify(jctx *c, const box_run_res *res, int out_fd, judge_test_result *t)
{
    const judge_package *p = c->p;
    /* The runs of one test (multi-pass) add up. */
    t->cpu_ms += (long)(res->cpu_us / 1000u);
    t->wall_ms += (long)(res->wall_us / 1000u);
    if ((long)res->maxrss_kib > t->memory_kib)
        t->memory_kib = (long)res->maxrss_kib;
    t->exit_code = res->exit_code;
    t->term_signal = res->term_signal;
    struct stat st;
    long long out_size = out_fd >= 0 && fstat(out_fd, &st) == 0 ? (long long)st.st_size : 0;
    uint64_t mem_kib = (uint64_t)p->memory_mib * 1024u;
    double tl_ms = c->tl * 1000.0;
    bool wall_over = (res->flags & RP_R_WALL_TIMEOUT) || res->wall_us / 1000u > wall_limit_ms(c);
    if (res->flags & RP_R_EXEC_FAILED) {
        t->verdict = JUDGE_RE;
        set_msg(t, "cannot start the program: %s", strerror(res->err));
    } else if (res->term_signal == SIGXFSZ || out_size > (long long)p->output_mib * (long long)MIB) {
        t->verdict = JUDGE_OLE;
        set_msg(t, "output larger than %ld MiB", p->output_mib);
    } else if (res->oom || (uint64_t)res->maxrss_kib > mem_kib) {
        t->verdict = JUDGE_MLE;
        set_msg(t, "memory limit of %ld MiB exceeded", p->memory_mib);
    } else if (res->cpu_exceeded || res->term_signal == SIGXCPU ||
               (double)(res->cpu_us / 1000u) > tl_ms || wall_over) {
        t->verdict = JUDGE_TLE;
        if (!res->cpu_exceeded && res->term_signal != SIGXCPU &&
            (double)(res->cpu_us / 1000u) <= tl_ms)
            set_msg(t, "wall-clock limit of %.3g s exceeded (%.3g s time limit with its safety "
                       "margin)",
                    (double)wall_limit_ms(c) / 1000.0, c->tl);
        else
            set_msg(t, "CPU time limit of %.3g s exceeded", c->tl);
    } else if (res->term_signal) {
        t->verdict = JUDGE_RE;
        char *s = signal_text(res->term_signal);
        set_msg(t, "%s", s);
        free(s);
    } else if (res->exit_code != 0) {
        t->verdict = JUDGE_RE;
        set_msg(t, "exit code %d", res->exit_code);
    } else {
        return true;
    }
    return false;
}

static void test_ie(judge_test_result *t, const char *what)
{
    t->verdict = JUDGE_IE;
    set_msg(t, "%s", what);
}

static bool validator_ready(jctx *c, judge_test_result *t)
{
    if (!c->w->vtried)
        build_validator(c->w);
    if (c->w->verr) {
        test_ie(t, c->w->verr);
        return false;
    }
    return true;
}

/* The run of the contestant's program on one test: its argv and every
 * limit, built in this one place for pass-fail, interactive and
 * multi-pass runs alike. The caller sets the descriptors. */
static void contestant_request(jctx *c, const judge_test *test, jstrv *argv, box_run_req *rq)
{
    const judge_package *p = c->p;
    for (size_t i = 0; i < c->run_argv.n; i++)
        jstrv_push(argv, c->run_argv.v[i]);
    for (size_t i = 0; i < test->args.n; i++)
        jstrv_push(argv, test->args.v[i]);
    *rq = (box_run_req){
        .argv = argv,
        .env = &c->env,
        .flags = RP_F_RESET_TMP | RP_F_NO_AUTOREAP,
        .cpu_ms = (uint64_t)(c->tl * 1000.0),
        .wall_ms = wall_limit_ms(c),
        .memory_bytes = ((uint64_t)p->memory_mib + (uint64_t)c->l->memory_slack_mib) * MIB,
        .address_space_limit = c->l->address_space_limit,
        /* OLE is decided by the size of what stdout received; the file
         * size limit only bounds it, and is never below 64 MiB because
         * runtimes write files of their own (Erlang keeps its loaded code
         * in a memory file) that have nothing to do with the output. */
        .fsize_bytes = ((uint64_t)p->output_mib > RUN_MIN_FSIZE_MIB ? (uint64_t)p->output_mib
                                                                    : RUN_MIN_FSIZE_MIB) *
                           MIB +
                       1,
        .stack_bytes = (uint64_t)p->memory_mib * MIB,
        .nofile = 256,
        .pids = RUN_PIDS + (uint64_t)c->l->extra_processes,
        .tmp_bytes = RUN_TMP_BYTES,
        .drain_fd = -1,
    };
}

/* The output validator's run: input is this pass's input; pass > 1 keeps
 * the validator's feedback folder from the pass before (multi-pass). */
static void validator_request(jctx *c, const judge_test *test, int pass, box_run_req *rq,
                              jstrv *argv)
{
    const judge_package *p = c->p;
    for (size_t i = 0; i < c->w->vrun.n; i++)
        jstrv_push(argv, c->w->vrun.v[i]);
    jstrv_push(argv, "/proc/self/fd/3");
    jstrv_push(argv, "/proc/self/fd/4");
    jstrv_push(argv, "/feedback/");
    for (size_t i = 0; i < test->validator_args.n; i++)
        jstrv_push(argv, test->validator_args.v[i]);
    memset(rq, 0, sizeof *rq);
    rq->argv = argv;
    rq->env = &c->w->venv;
    rq->flags = RP_F_RESET_TMP | RP_F_FEEDBACK;
    if (p->multipass)
        rq->flags |= RP_F_NEXTPASS | (pass > 1 ? RP_F_KEEP_FEEDBACK : 0);
    rq->cpu_ms = (uint64_t)p->validation_time_s * 1000u;
    rq->wall_ms = (uint64_t)p->validation_time_s * 1000u + wall_limit_ms(c) + 1000u;
    rq->memory_bytes = (uint64_t)p->validation_memory_mib * MIB;
    rq->fsize_bytes = 64 * MIB;
    rq->nofile = 256;
    rq->pids = RUN_PIDS + (uint64_t)c->w->vextra;
    rq->tmp_bytes = RUN_TMP_BYTES;
    rq->drain_fd = -1;
}

/* Turns a validator's exit into a verdict; score feedback is read too. */
static void validator_verdict(jctx *c, const box_run_res *v, int verr_fd, judge_test_result *t)
{
    (void)c;
    if (v->judgemsg)
        set_msg(t, "%s", v->judgemsg);
    if (v->score) {
        double sc;
        if (!judge__parse_double(v->score, &sc) || sc < 0) {
            test_ie(t, "output validator wrote an invalid score.txt");
            return;
        }
        t->score = sc;
    } else if (v->multiplier) {
        double m;
        if (!judge__parse_double(v->multiplier, &m) || m < 0 || m > 1) {
            test_ie(t, "output validator wrote an invalid score_multiplier.txt");
            return;
        }
        t->score = -1 - m; /* marked; scaled by the test's maximum later */
    } else {
        t->score = NAN;
    }
    if (v->term_signal == 0 && v->exit_code == 42) {
        t->verdict = JUDGE_AC;
    } else if (v->term_signal == 0 && v->exit_code == 43) {
        t->verdict = JUDGE_WA;
        if (!t->message)
            set_msg(t, "rejected by the output validator");
    } else {
        char *why = v->term_signal ? signal_text(v->term_signal)
                                   : judge__xasprintf("exit code %d", v->exit_code);
        t->verdict = JUDGE_IE;
        set_msg(t, "output validator failed (%s%s)", why,
                (v->flags & RP_R_WALL_TIMEOUT) || v->cpu_exceeded ? ", time limit" : "");
        free(why);
        add_stderr(t, verr_fd);
    }
}

/* The default validator's verdict on out against the test's answer. */
static void default_check(jctx *c, const judge_test *test, int out, judge_test_result *t)
{
    const judge_package *p = c->p;
    judge_checker_opts o;
    char emsg[200];
    if (!judge_checker_parse(&test->validator_args, &o, emsg, sizeof emsg)) {
        test_ie(t, emsg);
        return;
    }
    size_t olen, alen;
    bool otr;
    char *o_data = judge__read_fd(out, (size_t)p->output_mib * MIB, &olen, &otr);
    char *ans = NULL;
    if (judge__read_file(p->dir, test->ans_path, 1024 * MIB, &ans, &alen, NULL) != CC_OK) {
        test_ie(t, cc_err_msg());
    } else {
        char why[300];
        t->verdict = judge_checker_run(&o, o_data, olen, ans, alen, why, sizeof why);
        if (t->verdict != JUDGE_AC) {
            char *diff = judge__first_diff(o_data, olen, ans, alen);
            set_msg(t, "%s%s%s", why, diff ? "\n" : "", diff ? diff : "");
            free(diff);
        }
    }
    free(o_data);
    free(ans);
}

/* A sealed copy of the test's answer file, or -1. */
static int open_answer(jctx *c, const judge_test *test)
{
    int afd = judge__open_pkg_file(c->p->dir, test->ans_path);
    int ans = afd >= 0 ? judge__sealed_copy(afd, "answer") : -1;
    if (afd >= 0)
        close(afd);
    return ans;
}

static void close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* One run of the program on input in_fd and the custom validator on its
 * output: AC, a failed verdict, or (*next >= 0) AC with the next pass's
 * input in the memfd *next. */
static void run_validated_pass(jctx *c, const judge_test *test, int pass, int in_fd, int ans,
                               judge_test_result *t, int *next)
{
    *next = -1;
    int out = memfd_create("stdout", MFD_CLOEXEC);
    int err = memfd_create("stderr", MFD_CLOEXEC);
    int vout = memfd_create("vstdout", MFD_CLOEXEC);
    int verr = memfd_create("vstderr", MFD_CLOEXEC);
    int sink = c->p->multipass ? memfd_create("nextpass", MFD_CLOEXEC | MFD_ALLOW_SEALING) : -1;
    if (out < 0 || err < 0 || vout < 0 || verr < 0 || (c->p->multipass && sink < 0)) {
        test_ie(t, "cannot create output buffers");
        goto done;
    }
    jstrv argv = {0};
    box_run_req rq;
    contestant_request(c, test, &argv, &rq);
    int fds[3] = {in_fd, out, err};
    memcpy(rq.fds, fds, sizeof fds);
    rq.nfds = 3;
    box_run_res res;
    cc_status s = box_run(c->b, &rq, &res);
    jstrv_free(&argv);
    bool ran = s == CC_OK && classify(c, &res, out, t);
    if (s != CC_OK)
        test_ie(t, cc_err_msg());
    else if (!ran && t->verdict == JUDGE_RE)
        add_stderr(t, err);
    box_run_res_clear(&res);
    if (s == CC_OK && c->w->opts.capture_output > 0) {
        /* A custom run: what the program wrote is the answer, unchecked. */
        size_t cap = c->w->opts.capture_output;
        t->stdout_text = judge__read_fd(out, cap, &(size_t){0}, &t->stdout_truncated);
        t->stderr_text = judge__read_fd(err, cap, &(size_t){0}, &t->stderr_truncated);
        if (ran)
            t->verdict = JUDGE_AC;
        goto done;
    }
    if (!ran)
        goto done;
    if (!c->p->validator) {
        default_check(c, test, out, t);
        goto done;
    }
    if (lseek(out, 0, SEEK_SET) != 0 || lseek(in_fd, 0, SEEK_SET) != 0) {
        test_ie(t, "cannot prepare the output validator's files");
        goto done;
    }
    jstrv vargv = {0};
    box_run_req vr;
    validator_request(c, test, pass, &vr, &vargv);
    int vfds[6] = {out, vout, verr, in_fd, ans, sink};
    memcpy(vr.fds, vfds, sizeof vfds);
    vr.nfds = sink >= 0 ? 6 : 5;
    box_run_res v;
    if (box_run(c->w->vbox, &vr, &v) != CC_OK)
        test_ie(t, cc_err_msg());
    else
        validator_verdict(c, &v, verr, t);
    if (t->verdict == JUDGE_AC && (v.flags & RP_R_NEXTPASS)) {
        *next = sink;
        sink = -1;
    }
    box_run_res_clear(&v);
    jstrv_free(&vargv);
done:
    close_all((const int[]){out, err, vout, verr, sink}, 5);
}

/* One interactive pass: the program and the validator talk through two
 * pipes; *next as in run_validated_pass. */
static void run_interactive_pass(jctx *c, const judge_test *test, int pass, int in_fd, int ans,
                                 judge_test_result *t, int *next)
{
    *next = -1;
    int to_sub[2] = {-1, -1}, to_val[2] = {-1, -1};
    int err = memfd_create("stderr", MFD_CLOEXEC);
    int verr = memfd_create("vstderr", MFD_CLOEXEC);
    int sink = c->p->multipass ? memfd_create("nextpass", MFD_CLOEXEC | MFD_ALLOW_SEALING) : -1;
    if (err < 0 || verr < 0 || (c->p->multipass && sink < 0) || pipe2(to_sub, O_CLOEXEC) != 0 ||
        pipe2(to_val, O_CLOEXEC) != 0 || lseek(in_fd, 0, SEEK_SET) != 0) {
        test_ie(t, "cannot prepare the interaction");
        goto done;
    }
    jstrv argv = {0};
    box_run_req rq;
    contestant_request(c, test, &argv, &rq);
    int fds[3] = {to_sub[0], to_val[1], err};
    memcpy(rq.fds, fds, sizeof fds);
    rq.nfds = 3;
    rq.close_mask = 0x3;
    jstrv vargv = {0};
    box_run_req vr;
    validator_request(c, test, pass, &vr, &vargv);
    int vfds[6] = {to_val[0], to_sub[1], verr, in_fd, ans, sink};
    memcpy(vr.fds, vfds, sizeof vfds);
    vr.nfds = sink >= 0 ? 6 : 5;
    vr.close_mask = 0x3;
    box_run_res rs, vs;
    cc_status s = box_run_pair(c->b, &rq, &rs, c->w->vbox, &vr, &vs);
    /* box_run_pair closed the pipe ends it handed over. */
    to_sub[0] = to_sub[1] = to_val[0] = to_val[1] = -1;
    jstrv_free(&argv);
    jstrv_free(&vargv);
    if (s != CC_OK) {
        test_ie(t, cc_err_msg());
    } else {
        judge_test_result vt = {0};
        validator_verdict(c, &vs, verr, &vt);
        bool normal = classify(c, &rs, -1, t);
        /* Whoever ended first decides, as in Kattis' problemtools: a
         * program that failed before the validator finished gets its own
         * verdict (the validator then only saw the end of its output); a
         * validator that rejected first gives WA even if the program then
         * died of the closed pipe (end of file, EPIPE, SIGPIPE) or ran out
         * of time. The runners stamp each end with the system-wide
         * monotonic clock when they reap it, which alone would depend on
         * which runner got the CPU first; but box_run_pair keeps each
         * side's pipe ends open until that side's reply is in, so neither
         * side can see the other's end before it was stamped. An end that
         * the other's end caused is always stamped later; only ends that
         * do not depend on each other are ordered by the scheduler, and
         * then either order is a true one. A validator that accepted never
         * covers a program that then failed: that is the program's own
         * verdict whatever the order. */
        bool program_first = rs.end_us <= vs.end_us;
        if (normal || (!program_first && vt.verdict != JUDGE_AC)) {
            t->verdict = vt.verdict;
            t->score = vt.score;
            free(t->message);
            t->message = vt.message;
            vt.message = NULL;
        } else if (t->verdict == JUDGE_RE) {
            add_stderr(t, err);
        }
        free(vt.message);
        if (normal && t->verdict == JUDGE_AC && (vs.flags & RP_R_NEXTPASS)) {
            *next = sink;
            sink = -1;
        }
    }
    box_run_res_clear(&rs);
    box_run_res_clear(&vs);
done:
    for (int i = 0; i < 2; i++) {
        if (to_sub[i] >= 0)
            close(to_sub[i]);
        if (to_val[i] >= 0)
            close(to_val[i]);
    }
    close_all((const int[]){err, verr, sink}, 3);
}

typedef void (*pass_fn)(jctx *c, const judge_test *test, int pass, int in_fd, int ans,
                        judge_test_result *t, int *next);

/* Every run of one test: one for most problems; for a multi-pass one the
 * program runs again on each nextpass.in the validator writes, at most
 * validation_passes times (a validator that asks for another pass after
 * the last is a judging error, as the format says). The last pass's
 * verdict is the test's; the runs' times add up. */
static void run_passes(jctx *c, const judge_test *test, judge_test_result *t, int in_fd, int ans,
                       pass_fn one)
{
    int input = in_fd;
    long passes = c->p->multipass ? c->p->validation_passes : 1;
    for (int pass = 1;; pass++) {
        int next;
        one(c, test, pass, input, ans, t, &next);
        if (input != in_fd)
            close(input);
        if (next < 0)
            break;
        if (pass >= passes) {
            close(next);
            test_ie(t, "the output validator asked for another pass after the last one allowed "
                       "(limits.validation_passes)");
            break;
        }
        input = judge__sealed_copy(next, "nextpass");
        close(next);
        if (input < 0) {
            test_ie(t, "cannot read the validator's nextpass.in");
            break;
        }
        free(t->message);
        t->message = NULL;
    }
}

static void run_test_steps(jctx *c, size_t ti);

/* One test, inside a tracing span when the options ask for one. */
static void run_test(jctx *c, size_t ti)
{
    const judge_options *o = &c->w->opts;
    void *span = o->span_begin ? o->span_begin(o->span_ud, "judge test", (long)ti) : NULL;
    run_test_steps(c, ti);
    if (o->span_end)
        o->span_end(o->span_ud, span,
                    c->res_of[ti] >= 0 ? c->r->tests[c->res_of[ti]].verdict : JUDGE_IE);
}

static void run_test_steps(jctx *c, size_t ti)
{
    const judge_package *p = c->p;
    judge_test_result *t = new_test(c, ti);
    t->score = NAN;
    int fd = judge__open_pkg_file(p->dir, p->tests[ti].in_path);
    int in = fd >= 0 ? judge__sealed_copy(fd, "input") : -1;
    if (fd >= 0)
        close(fd);
    if (in < 0) {
        test_ie(t, "cannot read the test input");
        return;
    }
    const judge_test *test = &p->tests[ti];
    bool custom = p->validator || p->interactive;
    int ans = custom && validator_ready(c, t) ? open_answer(c, test) : -1;
    if (custom && ans < 0 && !t->message)
        test_ie(t, "cannot read the test's answer");
    if (!custom || ans >= 0)
        run_passes(c, test, t, in, ans,
                   p->interactive ? run_interactive_pass : run_validated_pass);
    if (ans >= 0)
        close(ans);
    close(in);
}

static bool group_all_ac(jctx *c, const judge_group *g)
{
    for (size_t i = 0; i < g->ntests; i++) {
        int k = c->res_of[g->tests[i]];
        if (k < 0 || c->r->tests[k].verdict != JUDGE_AC)
            return false;
    }
    for (size_t i = 0; i < g->ngroups; i++)
        if (!group_all_ac(c, g->groups[i]))
            return false;
    return true;
}

static const judge_group *find_group(const judge_group *g, const char *name)
{
    if (!strcmp(g->name, name))
        return g;
    for (size_t i = 0; i < g->ngroups; i++) {
        const judge_group *f = find_group(g->groups[i], name);
        if (f)
            return f;
    }
    return NULL;
}

static void run_group(jctx *c, const judge_group *g)
{
    /* A group whose required groups failed is not run (its tests count as
     * not accepted). */
    for (size_t i = 0; i < g->require_pass.n; i++) {
        const judge_group *dep = find_group(c->p->root, g->require_pass.v[i]);
        if (dep && !group_all_ac(c, dep))
            return;
    }
    bool group_stop = false;
    for (size_t i = 0; i < g->ntests && !c->stop && !group_stop; i++) {
        run_test(c, g->tests[i]);
        judge_verdict v = c->r->tests[c->r->ntests - 1].verdict;
        judge_progress pr = {.stage = "running",
                             .test_index = c->r->ntests,
                             .test_count = c->p->ntests,
                             .test = &c->r->tests[c->r->ntests - 1]};
        if (!report(c, &pr))
            break;
        if (v != JUDGE_AC) {
            if (!c->p->scoring && !c->w->opts.keep_going)
                c->stop = true;
            else if (c->p->scoring && !g->sample &&
                     (g->legacy_grading ? g->break_on_reject : g->agg != AGG_SUM))
                group_stop = true;
        }
    }
    for (size_t i = 0; i < g->ngroups && !c->stop; i++)
        run_group(c, g->groups[i]);
}

/* ---- scores ---------------------------------------------------------------------------- */

static double test_score(jctx *c, size_t ti, double max, const judge_group *g)
{
    int k = c->res_of[ti];
    if (k < 0)
        return 0;
    judge_test_result *t = &c->r->tests[k];
    if (t->verdict != JUDGE_AC) {
        t->score = g->legacy_grading ? g->reject_score : 0;
        return t->score;
    }
    double s;
    if (isnan(t->score))
        s = g->legacy_grading ? g->accept_score : (max >= 0 ? max : 0);
    else if (t->score <= -1)
        s = (-1 - t->score) * (max >= 0 ? max : 0);
    else
        s = (max >= 0 && t->score > max) ? max : t->score;
    t->score = s;
    return s;
}

/* ---- the legacy default grader ---------------------------------------------------------- */

/* The format's order of errors for worst_error: JE, IF, RTE, MLE, TLE,
 * OLE, WA (PE is a kind of WA); a higher rank is worse. */
static int error_rank(judge_verdict v)
{
    switch (v) {
    case JUDGE_IE:
        return 7;
    case JUDGE_RE:
        return 6;
    case JUDGE_MLE:
        return 5;
    case JUDGE_TLE:
        return 4;
    case JUDGE_OLE:
        return 3;
    case JUDGE_WA:
        return 2;
    case JUDGE_PE:
        return 1;
    default:
        return 0;
    }
}

/* What the grader aggregates: the sub-results of one group. */
typedef struct {
    size_t n;
    bool any_ac;
    judge_verdict first, worst;
    double sum, min, max, msum, mmin, mmax; /* scores, then their maxima */
} grade_acc;

static void grade_add(grade_acc *a, judge_verdict v, double score, double max)
{
    if (a->n++ == 0) {
        a->min = a->max = score;
        a->mmin = a->mmax = max;
    }
    a->sum += score;
    a->msum += max;
    a->min = fmin(a->min, score);
    a->max = fmax(a->max, score);
    a->mmin = fmin(a->mmin, max);
    a->mmax = fmax(a->mmax, max);
    if (v == JUDGE_AC) {
        a->any_ac = true;
        return;
    }
    if (a->first == JUDGE_AC)
        a->first = v;
    if (error_rank(v) > error_rank(a->worst))
        a->worst = v;
}

static bool group_ran(const jctx *c, const judge_group *g)
{
    for (size_t i = 0; i < g->ntests; i++)
        if (c->res_of[g->tests[i]] >= 0)
            return true;
    for (size_t i = 0; i < g->ngroups; i++)
        if (group_ran(c, g->groups[i]))
            return true;
    return false;
}

static double group_score(jctx *c, const judge_group *g, double *max_out);

/* Keeps the score of g when it sits directly under data/secret (once per
 * group: a group graded again overwrites its entry). */
static void record_group(jctx *c, const judge_group *parent, const judge_group *g, double score,
                         double max)
{
    if (parent != c->p->secret || !g->name)
        return;
    judge_result *r = c->r;
    for (size_t i = 0; i < r->ngroups; i++)
        if (!strcmp(r->groups[i].name, g->name)) {
            r->groups[i].score = score;
            r->groups[i].max_score = max;
            return;
        }
    judge_group_score *ng = realloc(r->groups, (r->ngroups + 1) * sizeof *ng);
    if (!ng)
        return; /* the total still stands; only the breakdown is lost */
    r->groups = ng;
    r->groups[r->ngroups++] = (judge_group_score){judge__xstrdup(g->name), score, max};
}

/* The legacy default grader over the sub-results judged so far (tests not
 * run after an on_reject: break count for nothing): the verdict by
 * worst_error, first_error or always_accept (and accept_if_any_accepted),
 * the score and its maximum by sum, avg, min or max, clamped to range. */
static double legacy_grade(jctx *c, const judge_group *g, judge_verdict *v_out, double *max_out)
{
    grade_acc a = {.first = JUDGE_AC, .worst = JUDGE_AC};
    for (size_t i = 0; i < g->ntests; i++) {
        int k = c->res_of[g->tests[i]];
        if (k < 0)
            continue;
        double s = test_score(c, g->tests[i], -1, g);
        grade_add(&a, c->r->tests[k].verdict, s, g->accept_score);
    }
    for (size_t i = 0; i < g->ngroups; i++) {
        const judge_group *sub = g->groups[i];
        if (!group_ran(c, sub) || (g->ignore_sample && sub->sample))
            continue;
        judge_verdict v = JUDGE_AC;
        double m, s = sub->legacy_grading ? legacy_grade(c, sub, &v, &m) : group_score(c, sub, &m);
        if (!sub->legacy_grading && !group_all_ac(c, sub))
            v = JUDGE_WA;
        record_group(c, g, sub, s, m);
        grade_add(&a, v, s, m);
    }
    judge_verdict v = g->vagg == VAGG_FIRST_ERROR   ? a.first
                      : g->vagg == VAGG_WORST_ERROR ? a.worst
                                                    : JUDGE_AC;
    if (g->accept_if_any && a.any_ac)
        v = JUDGE_AC;
    double score, max;
    switch (g->agg) {
    case AGG_AVG:
        score = a.n ? a.sum / (double)a.n : 0;
        max = a.n ? a.msum / (double)a.n : 0;
        break;
    case AGG_MIN:
        score = a.min;
        max = a.mmin;
        break;
    case AGG_MAX:
        score = a.max;
        max = a.mmax;
        break;
    default:
        score = a.sum;
        max = a.msum;
        break;
    }
    score = fmax(g->range_lo, fmin(g->range_hi, score));
    if (isfinite(g->range_hi))
        max = fmin(max, g->range_hi);
    *v_out = v;
    *max_out = max;
    return score;
}

/* Score and maximum of a group, from the 2025-09 rules (pass-fail, sum and
 * min aggregation, per-test maximum max/N in sum groups), or the legacy
 * grader's for groups that use it. */
static double group_score(jctx *c, const judge_group *g, double *max_out)
{
    size_t n = g->ntests + g->ngroups;
    if (n == 0) {
        *max_out = 0;
        return 0;
    }
    if (g->legacy_grading) {
        judge_verdict v;
        return legacy_grade(c, g, &v, max_out);
    }
    double max = g->max_score;
    if (g->agg == AGG_PASS_FAIL) {
        *max_out = max >= 0 ? max : 0;
        bool ok = group_all_ac(c, g);
        for (size_t i = 0; i < g->ntests; i++) {
            int k = c->res_of[g->tests[i]];
            if (k >= 0)
                c->r->tests[k].score = 0;
        }
        return ok ? *max_out : 0;
    }
    double per = max >= 0 ? (g->agg == AGG_SUM ? max / (double)n : max) : -1;
    double sum = 0, mn = INFINITY, maxsum = 0;
    for (size_t i = 0; i < g->ntests; i++) {
        double s = test_score(c, g->tests[i], per, g);
        sum += s;
        if (s < mn)
            mn = s;
    }
    for (size_t i = 0; i < g->ngroups; i++) {
        double m;
        double s = group_score(c, g->groups[i], &m);
        record_group(c, g, g->groups[i], s, m);
        sum += s;
        maxsum += m;
        if (s < mn)
            mn = s;
    }
    *max_out = max >= 0 ? max : maxsum;
    return g->agg == AGG_MIN ? mn : sum;
}

/* ---- one submission ------------------------------------------------------------------------ */

/* What judging one submission builds up, stage by stage. */
typedef struct {
    jctx c;
    stage st;     /* the submission's files (and the package's include/) */
    jstrv files;  /* its sources in the chosen language */
    const char *main;
} judging;

static void fail_with(judge_result *r, judge_verdict v, char *message)
{
    r->verdict = v;
    r->message = message;
}

/* Stage 1: the caller's files into the archive the box unpacks. Sources
 * are the caller's; the folder of each is its trust root. */
static bool stage_sources(const char *const *sources, size_t nsources, stage *st)
{
    for (size_t i = 0; i < nsources; i++) {
        char *real = realpath(sources[i], NULL);
        if (!real)
            return false;
        char *root = judge__xstrdup(real);
        bool ok;
        if (judge__is_dir(real)) {
            ok = stage_tree(root, real, st, "", 0);
        } else {
            char *slash = strrchr(root, '/');
            if (slash)
                *slash = '\0';
            const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
            ok = stage_file(root, real, st, base);
        }
        free(root);
        free(real);
        if (!ok)
            return false;
    }
    return st->names.n > 0;
}

/* Stage 2: the language (given, or detected from the files), its sources
 * with the package's include/<language>/, their names, the entry file and
 * the toolchain's host files. False with r's verdict set otherwise. */
static bool choose_language(judging *j, const judge_lang *l)
{
    judge_result *r = j->c.r;
    const judge_package *p = j->c.p;
    if (!l)
        l = stage_detect(j->c.w->langs, &j->st);
    if (!l) {
        fail_with(r, JUDGE_IE, judge__xstrdup("cannot tell the language from the file names"));
        return false;
    }
    r->language = judge__xstrdup(l->id);
    j->c.l = l;
    if (!judge_lang_available(l)) {
        fail_with(r, JUDGE_SKIPPED,
                  judge__xasprintf("%s toolchain is not installed (%s)", l->name,
                                   l->compile.n ? l->compile.v[0] : l->run.v[0]));
        return false;
    }
    /* Included files of the package join the sources before building, as
     * the format says. */
    char *inc = judge__xasprintf("%s/include/%s", p->dir, l->id);
    if (judge__is_dir(inc))
        stage_tree(p->dir, inc, &j->st, "", 0);
    free(inc);
    for (size_t i = 0; i < j->st.names.n; i++)
        if (has_ext(l, j->st.names.v[i]))
            jstrv_push(&j->files, j->st.names.v[i]);
    for (size_t i = 0; i < j->files.n; i++)
        if (!source_name_ok(j->files.v[i])) {
            fail_with(r, JUDGE_CE,
                      judge__xasprintf("source file name %.200s is refused: each part of a name is "
                                       "made of A-Z a-z 0-9 . _ + - and does not start with '-'",
                                       j->files.v[i]));
            return false;
        }
    if (j->files.n == 0) {
        fail_with(r, JUDGE_CE, judge__xasprintf("no %s source file in the submission", l->name));
        return false;
    }
    char *why = NULL;
    j->main = pick_main(l, &j->files, &j->st, &why);
    if (!j->main) {
        fail_with(r, JUDGE_CE, why ? why : judge__xstrdup("no entry point"));
        return false;
    }
    if (!stage_host_files(l, &j->st)) {
        fail_with(r, JUDGE_IE,
                  judge__xasprintf("cannot copy %s's configuration into the sandbox", l->name));
        return false;
    }
    return true;
}

/* Stage 3: a fresh box with the sources, compiled, then sealed. */
static bool compile_stage(judging *j);

/* Stage 3, inside a tracing span when the options ask for one. */
static bool compile_submission(judging *j)
{
    const judge_options *o = &j->c.w->opts;
    void *span = o->span_begin ? o->span_begin(o->span_ud, "judge compile", -1) : NULL;
    bool ok = compile_stage(j);
    if (o->span_end)
        o->span_end(o->span_ud, span, ok ? JUDGE_AC : j->c.r->verdict);
    return ok;
}

static bool compile_stage(judging *j)
{
    judge_result *r = j->c.r;
    judge_worker *w = j->c.w;
    const judge_package *p = j->c.p;
    const judge_lang *l = j->c.l;
    judge_progress cpr = {.stage = "compiling", .test_count = p->ntests};
    if (!report(&j->c, &cpr)) {
        fail_with(r, JUDGE_IE, judge__xstrdup("judging cancelled"));
        return false;
    }
    box_config cfg = {.runner_path = w->runner,
                      .bwrap_path = w->opts.bwrap_path,
                      .box_bytes = BOX_BYTES,
                      .tmp_bytes = TMP_BYTES};
    cc_status s = box_open(&cfg, &j->c.b);
    int afd = stage_fd(&j->st);
    if (s == CC_OK && afd < 0)
        s = cc_err_sys("memfd_create");
    IFOK(s, box_prepare(j->c.b, afd));
    if (afd >= 0)
        close(afd);
    char *ce = NULL;
    long cmem = p->compile_memory_mib > l->compile_memory_mib ? p->compile_memory_mib
                                                              : l->compile_memory_mib;
    IFOK(s, compile_in(j->c.b, l, &j->files, j->main, p->compile_time_s, cmem, &ce,
                       &r->compile_ms));
    if (s == CC_OK && ce) {
        fail_with(r, JUDGE_CE, ce);
        return false;
    }
    IFOK(s, box_seal(j->c.b));
    if (s != CC_OK) {
        fail_with(r, JUDGE_IE, judge__xstrdup(cc_err_msg()));
        return false;
    }
    return true;
}

/* Stage 4: every test group, with the time limit (the caller's, the
 * options', the package's or the default, within the operator's cap). */
static bool run_tests(judging *j, double time_limit)
{
    jctx *c = &j->c;
    const judge_package *p = c->p;
    const judge_options *o = &c->w->opts;
    c->tl = time_limit > 0   ? time_limit
            : o->time_limit > 0 ? o->time_limit
            : p->time_limit > 0 ? p->time_limit
                                : PKG_DEFAULT_TIME_LIMIT_MS / 1000.0;
    if (o->max_time_limit > 0 && c->tl > o->max_time_limit)
        c->tl = o->max_time_limit;
    judge_expand_ctx ctx = {.files = &j->files, .main = j->main, .memory_mib = p->memory_mib};
    judge__expand(&c->l->run, &ctx, &c->run_argv);
    make_env(c->l, &c->env);
    c->res_of = judge__xmalloc((p->ntests ? p->ntests : 1) * sizeof *c->res_of);
    for (size_t i = 0; i < p->ntests; i++)
        c->res_of[i] = -1;
    run_group(c, p->root);
    if (c->cancelled) {
        fail_with(c->r, JUDGE_IE, judge__xstrdup("judging cancelled"));
        return false;
    }
    return true;
}

/* Stage 5: the submission's verdict, score and message from its tests. */
static void aggregate(jctx *c)
{
    judge_result *r = c->r;
    const judge_package *p = c->p;
    r->verdict = JUDGE_AC;
    for (size_t i = 0; i < r->ntests; i++)
        if (r->tests[i].verdict != JUDGE_AC) {
            r->verdict = r->tests[i].verdict;
            break;
        }
    if (r->verdict == JUDGE_AC && r->ntests < p->ntests && !p->scoring)
        r->verdict = JUDGE_IE; /* cannot happen: every test ran */
    if (p->scoring && p->secret && p->secret->legacy_grading) {
        /* The legacy grader gives the verdict too (always_accept makes a
         * partial solution AC with its score); a rejected result's score
         * is ignored, as the format says. The samples are left out unless
         * the root's grader_flags lack ignore_sample and say otherwise. */
        double mx;
        judge_verdict gv;
        const judge_group *top = p->root->vagg != VAGG_WORST_ERROR || p->root->ignore_sample ||
                                         p->root->agg != AGG_SUM
                                     ? p->root
                                     : p->secret;
        r->score = legacy_grade(c, top, &gv, &mx);
        r->max_score = mx;
        if (r->verdict != JUDGE_CE && r->verdict != JUDGE_IE)
            r->verdict = gv;
        if (r->verdict != JUDGE_AC)
            r->score = 0;
    } else if (p->scoring && p->secret) {
        double mx;
        r->score = group_score(c, p->secret, &mx);
        r->max_score = mx;
    } else {
        r->score = r->verdict == JUDGE_AC ? 100 : 0;
        for (size_t i = 0; i < r->ntests; i++)
            r->tests[i].score = 0;
    }
    for (size_t i = 0; i < r->ntests; i++)
        if (isnan(r->tests[i].score))
            r->tests[i].score = 0;
    /* The first internal error explains the submission. A secret test's
     * message stays on the test, where cc-submission shows it only to
     * those who may see secret details: the submission's own message goes
     * to the submitter, and a validator's stderr or judgemessage.txt may
     * quote the expected output. */
    for (size_t i = 0; i < r->ntests; i++)
        if (r->tests[i].verdict == JUDGE_IE && !r->message)
            r->message = r->tests[i].sample
                             ? judge__xasprintf("test %s: %s", r->tests[i].name,
                                                r->tests[i].message ? r->tests[i].message : "")
                             : judge__xasprintf("test %s: internal error", r->tests[i].name);
}

cc_status judge_worker_judge(judge_worker *w, const judge_lang *l, const char *const *sources,
                             size_t nsources, double time_limit, judge_result *r)
{
    memset(r, 0, sizeof *r);
    r->max_score = 100;
    judging j = {.c = {.w = w, .p = w->pkg, .r = r}};
    if (!stage_sources(sources, nsources, &j.st))
        fail_with(r, JUDGE_IE, judge__xstrdup("cannot read the submission's files"));
    else if (choose_language(&j, l) && compile_submission(&j) && run_tests(&j, time_limit))
        aggregate(&j.c);
    box_close(j.c.b);
    stage_free(&j.st);
    free(j.c.res_of);
    jstrv_free(&j.c.run_argv);
    jstrv_free(&j.c.env);
    jstrv_free(&j.files);
    return CC_OK;
}
