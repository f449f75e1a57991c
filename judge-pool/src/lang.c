/* The language table: one row per language, read from languages.yaml, so
 * adding a language is a data change. */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    jstrv_free(&l->entry_hints);
}

static bool num_field(const ynode *row, const char *key, long *out)
{
    const ynode *n = ymap_get(row, key);
    if (!n)
        return true;
    return judge__parse_long(yscalar(n), out) && *out >= 0;
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
        if (!load_strv(ymap_get(row, "extensions"), &l->extensions) ||
            !load_strv(ymap_get(row, "compile"), &l->compile) ||
            !load_strv(ymap_get(row, "run"), &l->run) ||
            !load_strv(ymap_get(row, "version"), &l->version) ||
            !load_strv(ymap_get(row, "requires"), &l->requires) ||
            !load_strv(ymap_get(row, "entry"), &l->entry_hints) ||
            !num_field(row, "extra_processes", &l->extra_processes) ||
            !num_field(row, "memory_slack_mib", &l->memory_slack_mib) ||
            !num_field(row, "compile_memory_mib", &l->compile_memory_mib) || l->run.n == 0 ||
            l->extensions.n == 0) {
            s = cc_err_set(CC_INVALID,
                           "%s:%d: language '%s': extensions and run are required lists; "
                           "compile, version, requires, entry are lists of strings; numbers "
                           "must be non-negative",
                           path, row->line, id);
            break;
        }
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

/* The first row listing an extension owns it ("py" belongs to python3, not
 * pypy3, because python3 comes first); files with an extension no language
 * claims (headers, data files) do not vote. */
const judge_lang *judge_langs_detect(const judge_langs *t, const char *const *files,
                                     size_t nfiles)
{
    const judge_lang *found = NULL;
    for (size_t f = 0; f < nfiles; f++) {
        const char *ext = ext_of(files[f]);
        if (!ext)
            continue;
        const judge_lang *owner = NULL;
        for (size_t i = 0; i < t->n && !owner; i++)
            for (size_t k = 0; k < t->v[i].extensions.n; k++)
                if (!strcmp(t->v[i].extensions.v[k], ext)) {
                    owner = &t->v[i];
                    break;
                }
        if (!owner)
            continue;
        if (found && found != owner) {
            /* C and C++ sources together build as C++. */
            if ((!strcmp(found->id, "c") && !strcmp(owner->id, "cpp")) ||
                (!strcmp(found->id, "cpp") && !strcmp(owner->id, "c"))) {
                found = judge_langs_find(t, "cpp");
                continue;
            }
            return NULL;
        }
        found = owner;
    }
    return found;
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
