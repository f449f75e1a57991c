/* The language table: one row per language, read from languages.yaml, so
 * adding a language is a data change. */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Scripts ("scripts:" at the top of the table) that rows use as the word
 * {script:NAME}. */
typedef struct {
    const ynode *map;
} lang_scripts;

static bool load_strv(const ynode *n, jstrv *out)
{
    if (!n)
        return true;
    if (n->kind == YN_SCALAR) {
        jstrv_push(out, n->str);
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

/* An argv template: a list of strings where {script:NAME} stands for a
 * script's text. Returns the unknown script's name in *bad. */
static bool load_argv(const ynode *n, const lang_scripts *sc, jstrv *out, const char **bad)
{
    if (!load_strv(n, out))
        return false;
    for (size_t i = 0; i < out->n; i++) {
        const char *w = out->v[i];
        size_t len = strlen(w);
        if (strncmp(w, "{script:", 8) != 0 || len < 10 || w[len - 1] != '}')
            continue;
        char name[64];
        if (len - 9 >= sizeof name) {
            *bad = w;
            return false;
        }
        memcpy(name, w + 8, len - 9);
        name[len - 9] = '\0';
        const char *text = yscalar(ymap_get(sc->map, name));
        if (!text) {
            *bad = w;
            return false;
        }
        free(out->v[i]);
        out->v[i] = judge__xstrdup(text);
    }
    return true;
}

static bool uses_main(const jstrv *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (strstr(v->v[i], "{main}") || strstr(v->v[i], "{mainbase}") ||
            strstr(v->v[i], "{mainclass}"))
            return true;
    return false;
}

/* Compiles a list of POSIX extended regexes (one line at a time). */
static bool load_regexes(const ynode *n, regex_t **out, size_t *nout, char *err, size_t errlen)
{
    jstrv v = {0};
    if (!load_strv(n, &v)) {
        snprintf(err, errlen, "expected a list of regexes");
        return false;
    }
    *out = v.n ? judge__xcalloc(v.n, sizeof **out) : NULL;
    *nout = 0;
    for (size_t i = 0; i < v.n; i++) {
        int rc = regcomp(&(*out)[i], v.v[i], REG_EXTENDED | REG_NEWLINE | REG_NOSUB);
        if (rc != 0) {
            char e[120];
            regerror(rc, &(*out)[i], e, sizeof e);
            snprintf(err, errlen, "bad regex %.80s: %.100s", v.v[i], e);
            jstrv_free(&v);
            return false;
        }
        (*nout)++;
    }
    jstrv_free(&v);
    return true;
}

static void free_regexes(regex_t *re, size_t n)
{
    for (size_t i = 0; i < n; i++)
        regfree(&re[i]);
    free(re);
}

static void lang_clear(struct judge_lang *l)
{
    free(l->id);
    free(l->name);
    jstrv_free(&l->extensions);
    jstrv_free(&l->compile);
    jstrv_free(&l->run);
    jstrv_free(&l->version);
    jstrv_free(&l->requires);
    jstrv_free(&l->env);
    jstrv_free(&l->host_files);
    for (size_t i = 0; i < l->ncontent; i++) {
        free(l->content[i].ext);
        free_regexes(l->content[i].re, l->content[i].nre);
    }
    free(l->content);
    free_regexes(l->entry, l->nentry);
}

static bool num_field(const ynode *row, const char *key, long *out)
{
    const ynode *n = ymap_get(row, key);
    if (!n)
        return true;
    return judge__parse_long(yscalar(n), out) && *out >= 0;
}

/* content: {EXT: [REGEX...]} */
static bool load_content(const ynode *n, struct judge_lang *l, char *err, size_t errlen)
{
    if (!n)
        return true;
    if (n->kind != YN_MAP) {
        snprintf(err, errlen, "content must map extensions to lists of regexes");
        return false;
    }
    l->content = judge__xcalloc(n->n ? n->n : 1, sizeof *l->content);
    for (size_t i = 0; i < n->n; i++) {
        struct lang_content *c = &l->content[l->ncontent++];
        c->ext = judge__xstrdup(n->keys[i]);
        if (!load_regexes(n->items[i], &c->re, &c->nre, err, errlen))
            return false;
        bool listed = false;
        for (size_t k = 0; k < l->extensions.n; k++)
            listed |= !strcmp(l->extensions.v[k], c->ext);
        if (!listed) {
            snprintf(err, errlen, "content rule for '%.40s', which is not in extensions", c->ext);
            return false;
        }
    }
    return true;
}

cc_status judge_langs_load(const char *path, judge_langs **out)
{
    *out = NULL;
    ynode *doc;
    /* The table is configuration of this machine, not package data, so any
     * location is fine: the root check is the file's own folder. */
    cc_status s = ydoc_load_file("/", path, &doc);
    if (s != CC_OK)
        return s;
    const ynode *list = ymap_get(doc, "languages");
    if (!list || list->kind != YN_SEQ) {
        ynode_free(doc);
        return cc_err_set(CC_INVALID, "%s: expected a 'languages:' list", path);
    }
    lang_scripts sc = {.map = ymap_get(doc, "scripts")};
    if (sc.map && sc.map->kind != YN_MAP) {
        ynode_free(doc);
        return cc_err_set(CC_INVALID, "%s: 'scripts:' must map names to texts", path);
    }
    judge_langs *t = judge__xcalloc(1, sizeof *t);
    t->v = judge__xcalloc(list->n, sizeof *t->v);
    for (size_t i = 0; i < list->n; i++) {
        const ynode *row = list->items[i];
        struct judge_lang *l = &t->v[t->n];
        const char *id = yscalar(ymap_get(row, "id"));
        const char *name = yscalar(ymap_get(row, "name"));
        if (row->kind != YN_MAP || !id || !name) {
            s = cc_err_set(CC_INVALID, "%s:%d: a language needs 'id' and 'name'", path, row->line);
            break;
        }
        l->id = judge__xstrdup(id);
        l->name = judge__xstrdup(name);
        t->n++;
        bool as = false;
        const ynode *asn = ymap_get(row, "address_space_limit");
        if (asn && !ybool(asn, &as)) {
            s = cc_err_set(CC_INVALID, "%s:%d: address_space_limit must be true or false", path,
                           asn->line);
            break;
        }
        l->address_space_limit = as;
        const ynode *env = ymap_get(row, "env");
        if (env && env->kind == YN_MAP) {
            for (size_t k = 0; k < env->n; k++)
                if (yscalar(env->items[k]))
                    jstrv_push_own(&l->env, judge__xasprintf("%s=%s", env->keys[k],
                                                             env->items[k]->str));
        }
        const char *bad = NULL;
        if (!load_argv(ymap_get(row, "compile"), &sc, &l->compile, &bad) ||
            !load_argv(ymap_get(row, "run"), &sc, &l->run, &bad) ||
            !load_argv(ymap_get(row, "version"), &sc, &l->version, &bad)) {
            s = bad ? cc_err_set(CC_INVALID, "%s:%d: language '%s': no script '%.60s' in 'scripts:'",
                                 path, row->line, id, bad)
                    : cc_err_set(CC_INVALID, "%s:%d: language '%s': compile, run and version "
                                 "are lists of strings", path, row->line, id);
            break;
        }
        l->needs_main = uses_main(&l->compile) || uses_main(&l->run);
        char rerr[400] = "";
        if (!load_strv(ymap_get(row, "extensions"), &l->extensions) ||
            !load_content(ymap_get(row, "content"), l, rerr, sizeof rerr) ||
            !load_regexes(ymap_get(row, "entry"), &l->entry, &l->nentry, rerr, sizeof rerr)) {
            s = cc_err_set(CC_INVALID, "%s:%d: language '%s': %s", path, row->line, id,
                           rerr[0] ? rerr : "extensions must be a list of strings");
            break;
        }
        if (!load_strv(ymap_get(row, "requires"), &l->requires) ||
            !load_strv(ymap_get(row, "host_files"), &l->host_files) ||
            !num_field(row, "extra_processes", &l->extra_processes) ||
            !num_field(row, "memory_slack_mib", &l->memory_slack_mib) ||
            !num_field(row, "compile_memory_mib", &l->compile_memory_mib) || l->run.n == 0 ||
            l->extensions.n == 0) {
            s = cc_err_set(CC_INVALID,
                           "%s:%d: language '%s': extensions and run are required lists; "
                           "requires and host_files are lists of strings; numbers must be "
                           "non-negative",
                           path, row->line, id);
            break;
        }
        for (size_t k = 0; k < l->host_files.n; k++)
            if (l->host_files.v[k][0] != '/' || strstr(l->host_files.v[k], "..")) {
                s = cc_err_set(CC_INVALID, "%s:%d: language '%s': host_files must be absolute "
                               "paths without '..'", path, row->line, id);
                break;
            }
        if (s != CC_OK)
            break;
        for (size_t k = 0; k + 1 < t->n; k++)
            if (!strcmp(t->v[k].id, id)) {
                s = cc_err_set(CC_INVALID, "%s:%d: language id '%s' appears twice", path,
                               row->line, id);
                break;
            }
        if (s != CC_OK)
            break;
    }
    ynode_free(doc);
    if (s != CC_OK) {
        judge_langs_free(t);
        return s;
    }
    *out = t;
    return CC_OK;
}

void judge_langs_free(judge_langs *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        lang_clear(&t->v[i]);
    free(t->v);
    free(t);
}

size_t judge_langs_count(const judge_langs *t)
{
    return t->n;
}

const judge_lang *judge_langs_at(const judge_langs *t, size_t i)
{
    return i < t->n ? &t->v[i] : NULL;
}

const judge_lang *judge_langs_find(const judge_langs *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].id, id))
            return &t->v[i];
    return NULL;
}

static const char *ext_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : NULL;
}

static bool lists_ext(const struct judge_lang *l, const char *ext)
{
    for (size_t k = 0; k < l->extensions.n; k++)
        if (!strcmp(l->extensions.v[k], ext))
            return true;
    return false;
}

static const struct lang_content *content_rule(const struct judge_lang *l, const char *ext)
{
    for (size_t k = 0; k < l->ncontent; k++)
        if (!strcmp(l->content[k].ext, ext))
            return &l->content[k];
    return NULL;
}

/* Content rules look at a file's first 64 KiB, as text. */
#define CONTENT_CAP (64u * 1024u)

static bool any_match(const regex_t *re, size_t nre, const char *data, size_t len)
{
    if (!data || nre == 0)
        return false;
    char *text = judge__xstrndup(data, len < CONTENT_CAP ? len : CONTENT_CAP);
    bool hit = false;
    for (size_t i = 0; i < nre && !hit; i++)
        hit = regexec(&re[i], text, 0, NULL, 0) == 0;
    free(text);
    return hit;
}

/* The row a file counts for: the first whose content rule for the file's
 * extension matches; else the first listing the extension without a
 * content rule; else the first listing it at all. */
static const struct judge_lang *owner_of(const judge_langs *t, const char *name, const char *data,
                                         size_t len)
{
    const char *ext = ext_of(name);
    if (!ext)
        return NULL;
    const struct judge_lang *plain = NULL, *first = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const struct judge_lang *l = &t->v[i];
        if (!lists_ext(l, ext))
            continue;
        if (!first)
            first = l;
        const struct lang_content *c = content_rule(l, ext);
        if (!c) {
            if (!plain)
                plain = l;
        } else if (any_match(c->re, c->nre, data, len)) {
            return l;
        }
    }
    return plain ? plain : first;
}

/* Kattis's rule: every file votes for its owner, the most votes win, ties
 * go to the earlier row; files nobody owns (headers, data) do not vote. C
 * sources with C++ ones build as C++. */
const judge_lang *judge__langs_detect(const judge_langs *t, const char *const *names,
                                      const char *const *data, const size_t *lens, size_t n)
{
    if (t->n == 0)
        return NULL;
    size_t *votes = judge__xcalloc(t->n, sizeof *votes);
    const struct judge_lang *cpp = judge_langs_find(t, "cpp");
    for (size_t f = 0; f < n; f++) {
        const struct judge_lang *o =
            owner_of(t, names[f], data ? data[f] : NULL, data && lens ? lens[f] : 0);
        if (o)
            votes[o - t->v]++;
    }
    const struct judge_lang *c = judge_langs_find(t, "c");
    if (c && cpp && votes[cpp - t->v]) {
        votes[cpp - t->v] += votes[c - t->v];
        votes[c - t->v] = 0;
    }
    size_t best = 0;
    for (size_t i = 1; i < t->n; i++)
        if (votes[i] > votes[best])
            best = i;
    const judge_lang *r = votes[best] ? &t->v[best] : NULL;
    free(votes);
    return r;
}

const judge_lang *judge_langs_detect(const judge_langs *t, const char *const *files,
                                     size_t nfiles)
{
    return judge__langs_detect(t, files, NULL, NULL, nfiles);
}

const judge_lang *judge_langs_detect_files(const judge_langs *t, const char *const *names,
                                           const char *const *data, const size_t *lens,
                                           size_t n)
{
    return judge__langs_detect(t, names, data, lens, n);
}

static const char *base_of(const char *f)
{
    const char *slash = strrchr(f, '/');
    return slash ? slash + 1 : f;
}

static bool named_main(const char *f)
{
    return !strncasecmp(base_of(f), "main.", 5);
}

static void list_names(jstr *s, const char *const *names, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jstr_addf(s, "%s%s", i ? ", " : "", names[idx[i]]);
}

long judge__pick_entry(const judge_lang *l, const char *const *names, const char *const *data,
                       const size_t *lens, size_t n, char **why)
{
    *why = NULL;
    if (n == 0)
        return -1;
    if (n == 1 || !l->needs_main)
        return 0;
    size_t *cand = judge__xcalloc(n, sizeof *cand), nc = 0;
    for (size_t i = 0; i < n; i++)
        if (any_match(l->entry, l->nentry, data ? data[i] : NULL, data && lens ? lens[i] : 0))
            cand[nc++] = i;
    long pick = -1;
    if (nc == 1) {
        pick = (long)cand[0];
    } else {
        /* Among several candidates, or among all files when none holds an
         * entry marker, the one file named main.* (Kattis). */
        size_t from = nc ? nc : n, mains = 0;
        for (size_t i = 0; i < from; i++) {
            size_t f = nc ? cand[i] : i;
            if (named_main(names[f])) {
                mains++;
                pick = (long)f;
            }
        }
        if (mains != 1)
            pick = -1;
    }
    if (pick < 0) {
        jstr s = {0};
        if (nc > 1) {
            jstr_adds(&s, "several entry points: ");
            list_names(&s, names, cand, nc);
            jstr_adds(&s, " each look like the main program; keep one, or name it main.*\n");
        } else {
            for (size_t i = 0; i < n; i++)
                cand[i] = i;
            jstr_addf(&s, "no entry point: none of ");
            list_names(&s, names, cand, n);
            jstr_addf(&s, " is %s; name the main file main.*\n",
                      l->nentry ? "marked as the main program" : "the main program");
        }
        *why = jstr_take(&s);
    }
    free(cand);
    return pick;
}

const char *judge_lang_id(const judge_lang *l)
{
    return l->id;
}

const char *judge_lang_name(const judge_lang *l)
{
    return l->name;
}

static bool tool_present(const char *p)
{
    return p[0] != '/' || access(p, X_OK) == 0 || access(p, R_OK) == 0;
}

const char *judge_lang_extension(const judge_lang *l)
{
    return l->extensions.n ? l->extensions.v[0] : "";
}

bool judge_lang_available(const judge_lang *l)
{
    if (l->compile.n && !tool_present(l->compile.v[0]))
        return false;
    if (l->run.n && !tool_present(l->run.v[0]))
        return false;
    for (size_t i = 0; i < l->requires.n; i++)
        if (access(l->requires.v[i], F_OK) != 0)
            return false;
    return true;
}

void judge_lang_version(const judge_lang *l, char *out, size_t n)
{
    out[0] = '\0';
    if (n < 2 || !l->version.n || !judge_lang_available(l))
        return;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec: the worker
         * has threads. The probe yields to judging: the table's 44 probes
         * cost about 10 s of CPU (the JVM languages most), which a worker
         * that just started must not take from its first jobs. */
        setpriority(PRIO_PROCESS, 0, 19);
        /* Its own process group (killed whole below: `sh -c` pipelines),
         * and none of the worker's descriptors: a job thread's sandbox
         * pipes, created at the same time, must not stay open in a probe. */
        setpgid(0, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close_range(3, ~0u, 0);
        char *envp[] = {"PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", NULL};
        execve(l->version.v[0], l->version.v, envp);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (pid > 0 && got < n - 1) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = 30000 - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(pfd[0], out + got, n - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(pfd[0]);
    out[got] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    if (pid > 0) {
        kill(-pid, SIGKILL); /* ended already, or past its time */
        waitpid(pid, NULL, 0);
    }
}

static char *base_noext(const char *main)
{
    const char *slash = strrchr(main, '/');
    const char *base = slash ? slash + 1 : main;
    const char *dot = strrchr(base, '.');
    return judge__xstrndup(base, dot && dot != base ? (size_t)(dot - base) : strlen(base));
}

void judge__expand(const jstrv *tmpl, const judge_expand_ctx *ctx, jstrv *out)
{
    for (size_t i = 0; i < tmpl->n; i++) {
        const char *w = tmpl->v[i];
        if (!strcmp(w, "{files}")) {
            for (size_t k = 0; ctx->files && k < ctx->files->n; k++)
                jstrv_push(out, ctx->files->v[k]);
            continue;
        }
        /* Substitute every {name} inside the word. */
        jstr s = {0};
        jstr_add(&s, "", 0);
        for (const char *p = w; *p;) {
            const char *close = *p == '{' ? strchr(p, '}') : NULL;
            if (!close) {
                jstr_add(&s, p, 1);
                p++;
                continue;
            }
            size_t kl = (size_t)(close - p - 1);
            char key[32];
            if (kl >= sizeof key) {
                jstr_add(&s, p, 1);
                p++;
                continue;
            }
            memcpy(key, p + 1, kl);
            key[kl] = '\0';
            if (!strcmp(key, "main")) {
                jstr_adds(&s, ctx->main ? ctx->main : "");
            } else if (!strcmp(key, "mainbase")) {
                char *b = base_noext(ctx->main ? ctx->main : "main");
                jstr_adds(&s, b);
                free(b);
            } else if (!strcmp(key, "mainclass")) {
                char *b = base_noext(ctx->main ? ctx->main : "main");
                if (b[0])
                    b[0] = (char)toupper((unsigned char)b[0]);
                jstr_adds(&s, b);
                jstr_adds(&s, "Kt");
                free(b);
            } else if (!strcmp(key, "memory_mib")) {
                jstr_addf(&s, "%ld", ctx->memory_mib);
            } else {
                jstr_add(&s, p, kl + 2);
            }
            p = close + 1;
        }
        jstrv_push_own(out, jstr_take(&s));
    }
}
