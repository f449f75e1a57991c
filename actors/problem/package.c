/* The Kattis / ICPC problem package: reading a zip (libarchive), checking
 * every entry and the package's structure, problem.yaml (libyaml), the
 * manifest hash, the canonical zip writer, and Markdown (cmark). Nothing
 * here touches the database or the loop. */
#include <archive.h>
#include <archive_entry.h>
#include <cmark.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "codecourt/v1/problem.pb-c.h"
#include "package.h"

#define PIECE (64 * 1024)

static cc_status fail(char *err, size_t errlen, cc_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cc_status fail(char *err, size_t errlen, cc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return s;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void pkg_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, 32, out);
}

/* ---- files ----------------------------------------------------------------- */

cc_status pkg_add(pkg *p, const char *path, const char *sha256, int64_t size, const char *text)
{
    if (p->nfiles == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 32;
        pkg_file *nf = realloc(p->files, nc * sizeof *nf);
        if (!nf)
            return CC_NOMEM;
        p->files = nf;
        p->cap = nc;
    }
    pkg_file *f = &p->files[p->nfiles];
    memset(f, 0, sizeof *f);
    f->path = xstrdup(path);
    f->text = text ? xstrdup(text) : NULL;
    if (!f->path || (text && !f->text)) {
        free(f->path);
        free(f->text);
        return CC_NOMEM;
    }
    snprintf(f->sha256, sizeof f->sha256, "%s", sha256);
    f->size = size;
    p->nfiles++;
    p->total_size += size;
    return CC_OK;
}

static cc_status warn(pkg *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cc_status warn(pkg *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nw = realloc(p->warnings, (p->nwarnings + 1) * sizeof *nw);
    if (!nw)
        return CC_NOMEM;
    p->warnings = nw;
    if (!(nw[p->nwarnings] = xstrdup(buf)))
        return CC_NOMEM;
    p->nwarnings++;
    return CC_OK;
}

void pkg_free(pkg *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].path);
        free(p->files[i].src);
        free(p->files[i].text);
    }
    free(p->files);
    for (size_t i = 0; i < p->nwarnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    free(p->top);
    free(p->meta.title);
    free(p->meta.validator_flags);
    memset(p, 0, sizeof *p);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const pkg_file *)a)->path, ((const pkg_file *)b)->path);
}

cc_status pkg_sort(pkg *p, char *err, size_t errlen)
{
    if (p->nfiles > 1)
        qsort(p->files, p->nfiles, sizeof *p->files, cmp_file);
    for (size_t i = 1; i < p->nfiles; i++)
        if (strcmp(p->files[i - 1].path, p->files[i].path) == 0)
            return fail(err, errlen, CC_UNPROCESSABLE, "%s: appears twice in the package",
                        p->files[i].path);
    return CC_OK;
}

static pkg_file *find(const pkg *p, const char *path)
{
    pkg_file key = {.path = (char *)path};
    return p->nfiles ? bsearch(&key, p->files, p->nfiles, sizeof *p->files, cmp_file) : NULL;
}

void pkg_manifest_hash(const pkg *p, char out[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < p->nfiles; i++) {
        char num[32];
        int n = snprintf(num, sizeof num, "\t%" PRId64 "\t", p->files[i].size);
        EVP_DigestUpdate(c, p->files[i].path, strlen(p->files[i].path));
        EVP_DigestUpdate(c, num, (size_t)n);
        EVP_DigestUpdate(c, p->files[i].sha256, 64);
        EVP_DigestUpdate(c, "\n", 1);
    }
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    to_hex(md, 32, out);
}

/* ---- names ----------------------------------------------------------------- */

/* Kattis test data names: ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$ */
bool pkg_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

/* Any entry: relative, no "." or ".." component, no empty component (a
 * trailing '/' is a folder), no backslash or control character. */
static cc_status check_path(const char *name, char *err, size_t errlen)
{
    if (!*name)
        return fail(err, errlen, CC_UNPROCESSABLE, "(empty name): an entry has no name");
    if (name[0] == '/' || (((name[0] | 32) >= 'a' && (name[0] | 32) <= 'z') && name[1] == ':'))
        return fail(err, errlen, CC_UNPROCESSABLE, "%.200s: absolute paths are not allowed",
                    name);
    size_t n = strlen(name);
    if (n > 1024)
        return fail(err, errlen, CC_UNPROCESSABLE, "%.200s...: path longer than 1024 bytes", name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return fail(err, errlen, CC_UNPROCESSABLE,
                        "%.200s: control characters and backslashes are not allowed in names",
                        name);
    }
    const char *s = name;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0)
            return fail(err, errlen, CC_UNPROCESSABLE, "%.200s: empty path component", name);
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return fail(err, errlen, CC_UNPROCESSABLE,
                        "%.200s: '.' and '..' components are not allowed (path traversal)", name);
        if (!e)
            break;
        s = e + 1;
    }
    return CC_OK;
}

static bool is_text_name(const char *path)
{
    return ends_with(path, ".yaml") || ends_with(path, ".yml") || ends_with(path, ".md");
}

/* ---- reading an archive ---------------------------------------------------- */

typedef struct textbuf {
    char *d;
    size_t n, cap;
    bool over;
} textbuf;

static cc_status read_entries(struct archive *a, const pkg_limits *lim, pkg *out, char *err,
                              size_t errlen)
{
    struct archive_entry *e;
    size_t entries = 0;
    unsigned char *buf = malloc(PIECE);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cc_status s = CC_OK;
    if (!buf || !md) {
        s = fail(err, errlen, CC_NOMEM, "out of memory");
        goto done;
    }
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name) {
            s = fail(err, errlen, CC_UNPROCESSABLE, "(entry %zu): name is not readable", entries);
            goto done;
        }
        if (++entries > lim->max_files) {
            s = fail(err, errlen, CC_UNPROCESSABLE,
                     "%.200s: too many files in the package (more than %zu)", name, lim->max_files);
            goto done;
        }
        unsigned type = archive_entry_filetype(e);
        if (type == AE_IFLNK || archive_entry_symlink(e)) {
            s = fail(err, errlen, CC_UNPROCESSABLE, "%.200s: symbolic links are not allowed",
                     name);
            goto done;
        }
        if (archive_entry_hardlink(e)) {
            s = fail(err, errlen, CC_UNPROCESSABLE, "%.200s: hard links are not allowed", name);
            goto done;
        }
        char path[1100];
        snprintf(path, sizeof path, "%s", name);
        size_t pl = strlen(path);
        bool dir = type == AE_IFDIR || (pl > 0 && path[pl - 1] == '/');
        while (pl > 0 && path[pl - 1] == '/' && dir)
            path[--pl] = '\0';
        if ((s = check_path(dir && !pl ? name : path, err, errlen)) != CC_OK)
            goto done;
        if (dir)
            continue;
        if (type != AE_IFREG) {
            s = fail(err, errlen, CC_UNPROCESSABLE,
                     "%.200s: only regular files and folders are allowed", name);
            goto done;
        }
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        textbuf t = {0};
        bool want_text = is_text_name(path);
        int64_t size = 0;
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, PIECE)) > 0) {
            size += n;
            if (out->total_size + size > lim->max_total) {
                free(t.d);
                s = fail(err, errlen, CC_UNPROCESSABLE,
                         "%.200s: the package is larger than the limit of %" PRId64 " bytes",
                         name, lim->max_total);
                goto done;
            }
            EVP_DigestUpdate(md, buf, (size_t)n);
            if (want_text && !t.over) {
                if (t.n + (size_t)n > (size_t)lim->max_text) {
                    t.over = true;
                } else {
                    if (t.n + (size_t)n + 1 > t.cap) {
                        size_t nc = (t.n + (size_t)n + 1) * 2;
                        char *nd = realloc(t.d, nc);
                        if (!nd) {
                            free(t.d);
                            s = fail(err, errlen, CC_NOMEM, "out of memory");
                            goto done;
                        }
                        t.d = nd;
                        t.cap = nc;
                    }
                    memcpy(t.d + t.n, buf, (size_t)n);
                    t.n += (size_t)n;
                }
            }
        }
        if (n < 0) {
            free(t.d);
            s = fail(err, errlen, CC_UNPROCESSABLE, "%.200s: cannot read: %s", name,
                     archive_error_string(a));
            goto done;
        }
        unsigned char d[32];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        char hex[65];
        to_hex(d, 32, hex);
        const char *text = NULL;
        if (want_text && !t.over) {
            if (!t.d)
                t.d = calloc(1, 1);
            else
                t.d[t.n] = '\0';
            /* A NUL inside makes it binary, not text we can parse. */
            if (t.d && strlen(t.d) == t.n)
                text = t.d;
        }
        s = pkg_add(out, path, hex, size, text);
        free(t.d);
        if (s != CC_OK) {
            fail(err, errlen, s, "out of memory");
            goto done;
        }
        out->files[out->nfiles - 1].src = xstrdup(name);
        if (!out->files[out->nfiles - 1].src) {
            s = fail(err, errlen, CC_NOMEM, "out of memory");
            goto done;
        }
    }
    if (r != ARCHIVE_EOF)
        s = fail(err, errlen, CC_UNPROCESSABLE, "(archive): not a readable zip file: %s",
                 archive_error_string(a) ? archive_error_string(a) : "unknown error");
done:
    free(buf);
    EVP_MD_CTX_free(md);
    return s;
}

/* A zip made by zipping the problem's folder has every path under one
 * folder: the package root is then inside it. */
static cc_status strip_top(pkg *p)
{
    if (p->nfiles == 0 || find(p, "problem.yaml"))
        return CC_OK;
    for (size_t i = 0; i < p->nfiles; i++)
        if (strcmp(p->files[i].path, "problem.yaml") == 0)
            return CC_OK;
    const char *first = p->files[0].path;
    const char *slash = strchr(first, '/');
    if (!slash)
        return CC_OK;
    size_t tl = (size_t)(slash - first) + 1;
    for (size_t i = 0; i < p->nfiles; i++)
        if (strncmp(p->files[i].path, first, tl) != 0)
            return CC_OK;
    p->top = malloc(tl);
    if (!p->top)
        return CC_NOMEM;
    memcpy(p->top, first, tl - 1);
    p->top[tl - 1] = '\0';
    for (size_t i = 0; i < p->nfiles; i++)
        memmove(p->files[i].path, p->files[i].path + tl, strlen(p->files[i].path + tl) + 1);
    return CC_OK;
}

static cc_status read_archive(struct archive *a, int r, const pkg_limits *lim, pkg *out,
                              char *err, size_t errlen)
{
    cc_status s;
    if (r != ARCHIVE_OK)
        s = fail(err, errlen, CC_UNPROCESSABLE, "(archive): not a readable zip file: %s",
                 archive_error_string(a) ? archive_error_string(a) : "unknown error");
    else
        s = read_entries(a, lim, out, err, errlen);
    archive_read_free(a);
    if (s == CC_OK && strip_top(out) != CC_OK)
        s = fail(err, errlen, CC_NOMEM, "out of memory");
    IFOK(s, pkg_sort(out, err, errlen));
    IFOK(s, pkg_validate(out, err, errlen));
    if (s != CC_OK)
        pkg_free(out);
    return s;
}

static struct archive *new_reader(void)
{
    struct archive *a = archive_read_new();
    if (a)
        archive_read_support_format_zip(a);
    return a;
}

cc_status pkg_read_memory(const void *buf, size_t len, const pkg_limits *lim, pkg *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct archive *a = new_reader();
    if (!a)
        return fail(err, errlen, CC_NOMEM, "out of memory");
    return read_archive(a, archive_read_open_memory(a, buf, len), lim, out, err, errlen);
}

cc_status pkg_read_file(const char *path, const pkg_limits *lim, pkg *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct archive *a = new_reader();
    if (!a)
        return fail(err, errlen, CC_NOMEM, "out of memory");
    return read_archive(a, archive_read_open_filename(a, path, 1 << 16), lim, out, err, errlen);
}

static int cmp_src(const void *key, const void *elem)
{
    return strcmp(key, (*(pkg_file *const *)elem)->src);
}

static int cmp_src_sort(const void *a, const void *b)
{
    return strcmp((*(pkg_file *const *)a)->src, (*(pkg_file *const *)b)->src);
}

cc_status pkg_stream_file(const char *path, const pkg *p, const bool *want, pkg_sink fn, void *ud,
                          char *err, size_t errlen)
{
    pkg_file **by_src = malloc((p->nfiles + 1) * sizeof *by_src);
    unsigned char *buf = malloc(1 << 20);
    struct archive *a = new_reader();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cc_status s = CC_OK;
    if (!by_src || !buf || !a || !md) {
        s = fail(err, errlen, CC_NOMEM, "out of memory");
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < p->nfiles; i++)
        if (p->files[i].src && (!want || want[i]))
            by_src[n++] = &p->files[i];
    qsort(by_src, n, sizeof *by_src, cmp_src_sort);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        s = fail(err, errlen, CC_IO, "(archive): %s", archive_error_string(a));
        goto done;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        pkg_file **hit = name ? bsearch(name, by_src, n, sizeof *by_src, cmp_src) : NULL;
        if (!hit)
            continue;
        const pkg_file *f = *hit;
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        la_ssize_t got;
        int64_t size = 0;
        bool sent_last = false;
        while ((got = archive_read_data(a, buf, 1 << 20)) > 0) {
            size += got;
            EVP_DigestUpdate(md, buf, (size_t)got);
            bool last = size == f->size;
            if ((s = fn(ud, f, buf, (size_t)got, last)) != CC_OK)
                goto done;
            sent_last = last;
        }
        if (got < 0) {
            s = fail(err, errlen, CC_UNPROCESSABLE, "%.200s: cannot read: %s", name,
                     archive_error_string(a));
            goto done;
        }
        if (!sent_last && (s = fn(ud, f, buf, 0, true)) != CC_OK)
            goto done;
        unsigned char d[32];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        char hex[65];
        to_hex(d, 32, hex);
        if (size != f->size || strcmp(hex, f->sha256) != 0) {
            s = fail(err, errlen, CC_UNPROCESSABLE, "%.200s: content changed while importing",
                     name);
            goto done;
        }
    }
    if (r != ARCHIVE_EOF)
        s = fail(err, errlen, CC_UNPROCESSABLE, "(archive): %s", archive_error_string(a));
done:
    free(by_src);
    free(buf);
    if (a)
        archive_read_free(a);
    EVP_MD_CTX_free(md);
    return s;
}

/* ---- YAML ------------------------------------------------------------------ */

enum { Y_SCALAR, Y_SEQ, Y_MAP };

typedef struct ynode {
    int kind;
    int line;
    char *s;              /* scalar */
    struct ynode **k, **v; /* map: k[i] -> v[i]; sequence: v[i] */
    size_t n, cap;
} ynode;

static void yfree(ynode *y)
{
    if (!y)
        return;
    for (size_t i = 0; i < y->n; i++) {
        if (y->k)
            yfree(y->k[i]);
        yfree(y->v[i]);
    }
    free(y->k);
    free(y->v);
    free(y->s);
    free(y);
}

typedef struct yload {
    yaml_parser_t p;
    size_t nodes;
    char *err;
    size_t errlen;
    const char *file;
} yload;

static cc_status yerr(yload *L, int line, const char *what)
{
    return fail(L->err, L->errlen, CC_UNPROCESSABLE, "%s: line %d: %s", L->file, line, what);
}

static cc_status ynext(yload *L, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&L->p, ev)) {
        char what[256];
        snprintf(what, sizeof what, "bad YAML: %s", L->p.problem ? L->p.problem : "syntax error");
        return yerr(L, (int)L->p.problem_mark.line + 1, what);
    }
    return CC_OK;
}

static cc_status yparse_node(yload *L, yaml_event_t *ev, int depth, ynode **out);

static cc_status ypush(ynode *y, ynode *k, ynode *v)
{
    if (y->n == y->cap) {
        size_t nc = y->cap ? y->cap * 2 : 8;
        ynode **nv = realloc(y->v, nc * sizeof *nv);
        if (!nv)
            return CC_NOMEM;
        y->v = nv;
        if (y->kind == Y_MAP) {
            ynode **nk = realloc(y->k, nc * sizeof *nk);
            if (!nk)
                return CC_NOMEM;
            y->k = nk;
        }
        y->cap = nc;
    }
    if (y->kind == Y_MAP)
        y->k[y->n] = k;
    y->v[y->n++] = v;
    return CC_OK;
}

/* Builds the node that starts with ev (consumed). Aliases are refused:
 * they are what makes "billion laughs" documents explode. */
static cc_status yparse_node(yload *L, yaml_event_t *ev, int depth, ynode **out)
{
    *out = NULL;
    int line = (int)ev->start_mark.line + 1;
    if (depth > 32 || ++L->nodes > 200000) {
        yaml_event_delete(ev);
        return yerr(L, line, "YAML nested too deeply or too large");
    }
    ynode *y = calloc(1, sizeof *y);
    if (!y) {
        yaml_event_delete(ev);
        return CC_NOMEM;
    }
    y->line = line;
    cc_status s = CC_OK;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        y->kind = Y_SCALAR;
        y->s = malloc(ev->data.scalar.length + 1);
        if (!y->s) {
            s = CC_NOMEM;
            break;
        }
        memcpy(y->s, ev->data.scalar.value, ev->data.scalar.length);
        y->s[ev->data.scalar.length] = '\0';
        yaml_event_delete(ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool map = ev->type == YAML_MAPPING_START_EVENT;
        y->kind = map ? Y_MAP : Y_SEQ;
        yaml_event_delete(ev);
        for (;;) {
            yaml_event_t e;
            if ((s = ynext(L, &e)) != CC_OK)
                break;
            if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                break;
            }
            ynode *k = NULL, *v = NULL;
            if (map) {
                if ((s = yparse_node(L, &e, depth + 1, &k)) != CC_OK)
                    break;
                if (k->kind != Y_SCALAR) {
                    s = yerr(L, k->line, "mapping keys must be plain strings");
                    yfree(k);
                    break;
                }
                for (size_t i = 0; i < y->n; i++)
                    if (strcmp(y->k[i]->s, k->s) == 0) {
                        char what[300];
                        snprintf(what, sizeof what, "duplicate key '%.200s'", k->s);
                        s = yerr(L, k->line, what);
                    }
                if (s == CC_OK && (s = ynext(L, &e)) != CC_OK) {
                    yfree(k);
                    break;
                }
                if (s != CC_OK) {
                    yfree(k);
                    break;
                }
            }
            if ((s = yparse_node(L, &e, depth + 1, &v)) != CC_OK) {
                yfree(k);
                break;
            }
            if ((s = ypush(y, k, v)) != CC_OK) {
                yfree(k);
                yfree(v);
                break;
            }
        }
        break;
    }
    case YAML_ALIAS_EVENT:
        yaml_event_delete(ev);
        s = yerr(L, line, "YAML aliases are not allowed");
        break;
    default:
        yaml_event_delete(ev);
        s = yerr(L, line, "unexpected YAML event");
        break;
    }
    if (s != CC_OK) {
        yfree(y);
        if (s == CC_NOMEM)
            fail(L->err, L->errlen, s, "out of memory");
        return s;
    }
    *out = y;
    return CC_OK;
}

/* Parses the first document of text. An empty document is an empty
 * mapping. */
static cc_status yload_text(const char *file, const char *text, ynode **out, char *err,
                            size_t errlen)
{
    yload L = {.err = err, .errlen = errlen, .file = file};
    *out = NULL;
    if (!yaml_parser_initialize(&L.p))
        return fail(err, errlen, CC_NOMEM, "out of memory");
    yaml_parser_set_input_string(&L.p, (const unsigned char *)text, strlen(text));
    cc_status s = CC_OK;
    yaml_event_t ev;
    bool got = false;
    while (s == CC_OK && !got) {
        if ((s = ynext(&L, &ev)) != CC_OK)
            break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
            yaml_event_delete(&ev);
            break;
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            yaml_event_delete(&ev);
            got = true;
            break;
        default:
            s = yparse_node(&L, &ev, 0, out);
            got = true;
            break;
        }
    }
    /* The rest of the document must parse too: a trailing syntax error is
     * still a bad file. */
    while (s == CC_OK) {
        if ((s = ynext(&L, &ev)) != CC_OK)
            break;
        bool end = ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_DOCUMENT_START_EVENT;
        yaml_event_delete(&ev);
        if (end)
            break;
    }
    yaml_parser_delete(&L.p);
    if (s != CC_OK) {
        yfree(*out);
        *out = NULL;
        return s;
    }
    if (!*out) {
        *out = calloc(1, sizeof **out);
        if (!*out)
            return fail(err, errlen, CC_NOMEM, "out of memory");
        (*out)->kind = Y_MAP;
    }
    return CC_OK;
}

static const ynode *yget(const ynode *m, const char *key)
{
    if (!m || m->kind != Y_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->k[i]->s, key) == 0)
            return m->v[i];
    return NULL;
}

static const char *yscalar(const ynode *y)
{
    return y && y->kind == Y_SCALAR ? y->s : NULL;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* A positive number ("2", "1.5"). */
static bool ynum(const ynode *y, double *out)
{
    const char *s = yscalar(y);
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !(d > 0) || d > 1e9)
        return false;
    *out = d;
    return true;
}

/* ---- validation ------------------------------------------------------------ */

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
static const char *const modern_types[] = {"pass-fail", "scoring", "interactive", "multi-pass",
                                           "submit-answer", NULL};

static cc_status check_problem_yaml(pkg *p, const ynode *doc, char *err, size_t errlen)
{
    pkg_meta *m = &p->meta;
    if (doc->kind != Y_MAP)
        return fail(err, errlen, CC_UNPROCESSABLE, "problem.yaml: must be a mapping");
    const ynode *fv = yget(doc, "problem_format_version");
    const char *fmt = fv ? yscalar(fv) : NULL;
    if (fv && !fmt)
        return fail(err, errlen, CC_UNPROCESSABLE,
                    "problem.yaml: problem_format_version must be a string");
    bool legacy = !fmt || starts_with(fmt, "legacy");
    if (!legacy && !starts_with(fmt, "2023-07") && !starts_with(fmt, "2025-") &&
        strcmp(fmt, "draft") != 0)
        return fail(err, errlen, CC_UNPROCESSABLE,
                    "problem.yaml: unknown problem_format_version '%.100s' (legacy, 2023-07, "
                    "2025-09 or draft)",
                    fmt);
    for (size_t i = 0; i < doc->n; i++) {
        const char *k = doc->k[i]->s;
        if (legacy && !in_list(k, legacy_keys)) {
            if (warn(p, "problem.yaml: unknown key '%.100s' ignored (legacy format)", k) != CC_OK)
                return CC_NOMEM;
        } else if (!legacy && !in_list(k, modern_keys)) {
            return fail(err, errlen, CC_UNPROCESSABLE,
                        "problem.yaml: line %d: key '%.100s' is not allowed in format %.40s",
                        doc->k[i]->line, k, fmt);
        }
    }
    /* name: a string, or a map of language -> string */
    const ynode *name = yget(doc, "name");
    const char *title = yscalar(name);
    if (name && name->kind == Y_MAP) {
        title = yscalar(yget(name, "en"));
        if (!title && name->n)
            title = yscalar(name->v[0]);
    } else if (name && !title) {
        return fail(err, errlen, CC_UNPROCESSABLE, "problem.yaml: name must be a string or a map");
    }
    free(m->title);
    m->title = xstrdup(title ? title : "");
    bool scoring = false, interactive = false, custom = false;
    const ynode *type = yget(doc, "type");
    if (type) {
        size_t n = type->kind == Y_SEQ ? type->n : 1;
        for (size_t i = 0; i < n; i++) {
            const char *t = yscalar(type->kind == Y_SEQ ? type->v[i] : type);
            bool ok = t && (legacy ? (!strcmp(t, "pass-fail") || !strcmp(t, "scoring"))
                                   : in_list(t, modern_types));
            if (!ok)
                return fail(err, errlen, CC_UNPROCESSABLE,
                            "problem.yaml: line %d: type '%.60s' is not a known problem type",
                            type->line, t ? t : "(not a string)");
            scoring |= !strcmp(t, "scoring");
            interactive |= !strcmp(t, "interactive");
        }
    }
    free(m->validator_flags);
    m->validator_flags = NULL;
    if (legacy) {
        const ynode *v = yget(doc, "validation");
        if (v) {
            const char *vs = yscalar(v);
            if (!vs || (strncmp(vs, "default", 7) && strncmp(vs, "custom", 6)))
                return fail(err, errlen, CC_UNPROCESSABLE,
                            "problem.yaml: validation must be 'default' or 'custom [interactive] "
                            "[score]'");
            custom = !strncmp(vs, "custom", 6);
            interactive |= strstr(vs, "interactive") != NULL;
            scoring |= strstr(vs, "score") != NULL;
        }
        const ynode *fl = yget(doc, "validator_flags");
        if (fl && !yscalar(fl))
            return fail(err, errlen, CC_UNPROCESSABLE,
                        "problem.yaml: validator_flags must be a string");
        m->validator_flags = xstrdup(fl ? fl->s : "");
    } else {
        m->validator_flags = xstrdup("");
    }
    if (!m->validator_flags)
        return CC_NOMEM;
    const ynode *lim = yget(doc, "limits");
    m->time_limit_ms = m->memory_mib = m->output_mib = 0;
    if (lim) {
        if (lim->kind != Y_MAP)
            return fail(err, errlen, CC_UNPROCESSABLE, "problem.yaml: limits must be a mapping");
        for (size_t i = 0; i < lim->n; i++) {
            const char *k = lim->k[i]->s;
            if (!in_list(k, limit_keys)) {
                if (!legacy)
                    return fail(err, errlen, CC_UNPROCESSABLE,
                                "problem.yaml: line %d: limits.%.60s is not allowed",
                                lim->k[i]->line, k);
                if (warn(p, "problem.yaml: unknown limit '%.60s' ignored", k) != CC_OK)
                    return CC_NOMEM;
                continue;
            }
            double d;
            if (!strcmp(k, "time_multipliers")) {
                if (lim->v[i]->kind != Y_MAP)
                    return fail(err, errlen, CC_UNPROCESSABLE,
                                "problem.yaml: limits.time_multipliers must be a mapping");
                for (size_t j = 0; j < lim->v[i]->n; j++)
                    if (!ynum(lim->v[i]->v[j], &d))
                        return fail(err, errlen, CC_UNPROCESSABLE,
                                    "problem.yaml: limits.time_multipliers.%.60s must be a "
                                    "positive number",
                                    lim->v[i]->k[j]->s);
                continue;
            }
            if (!ynum(lim->v[i], &d))
                return fail(err, errlen, CC_UNPROCESSABLE,
                            "problem.yaml: line %d: limits.%.60s must be a positive number",
                            lim->v[i]->line, k);
            if (!strcmp(k, "time_limit"))
                m->time_limit_ms = (int64_t)(d * 1000 + 0.5);
            else if (!strcmp(k, "memory"))
                m->memory_mib = (int64_t)d;
            else if (!strcmp(k, "output"))
                m->output_mib = (int64_t)d;
        }
    }
    m->custom_checker = custom;
    m->type = interactive ? (scoring ? CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING
                                     : CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE)
              : scoring   ? CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_SCORING
                          : CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_PASS_FAIL;
    return CC_OK;
}

static bool has_prefix_file(const pkg *p, const char *prefix)
{
    for (size_t i = 0; i < p->nfiles; i++)
        if (starts_with(p->files[i].path, prefix))
            return true;
    return false;
}

static cc_status check_data(pkg *p, char *err, size_t errlen)
{
    pkg_meta *m = &p->meta;
    m->sample_count = m->test_count = 0;
    int secret = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        pkg_file *f = &p->files[i];
        if (!starts_with(f->path, "data/"))
            continue;
        /* Every component under data/ follows Kattis' naming rule. */
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s", f->path + 5);
        for (char *save = NULL, *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save))
            if (!pkg_name_ok(c))
                return fail(err, errlen, CC_UNPROCESSABLE,
                            "%.300s: test data names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*",
                            f->path);
        const char *base = strrchr(f->path, '/') + 1;
        if (!strcmp(base, "testdata.yaml") || !strcmp(base, "test_group.yaml")) {
            if (!f->text)
                return fail(err, errlen, CC_UNPROCESSABLE, "%.300s: too large or not text",
                            f->path);
            ynode *y = NULL;
            cc_status s = yload_text(f->path, f->text, &y, err, errlen);
            if (s != CC_OK)
                return s;
            bool ok = y->kind == Y_MAP;
            yfree(y);
            if (!ok)
                return fail(err, errlen, CC_UNPROCESSABLE, "%.300s: must be a mapping", f->path);
            continue;
        }
        /* Invalid-input / invalid-output cases have no answer. */
        bool invalid = starts_with(f->path, "data/invalid_");
        size_t pl = strlen(f->path);
        char other[1100];
        if (ends_with(f->path, ".in")) {
            snprintf(other, sizeof other, "%.*s.ans", (int)(pl - 3), f->path);
            if (!invalid && !find(p, other))
                return fail(err, errlen, CC_UNPROCESSABLE, "%.300s: has no matching .ans file",
                            f->path);
            if (starts_with(f->path, "data/sample/")) {
                m->sample_count++;
                m->test_count++;
            } else if (starts_with(f->path, "data/secret/")) {
                m->test_count++;
                secret++;
            }
        } else if (ends_with(f->path, ".ans")) {
            snprintf(other, sizeof other, "%.*s.in", (int)(pl - 4), f->path);
            if (!invalid && !find(p, other))
                return fail(err, errlen, CC_UNPROCESSABLE, "%.300s: has no matching .in file",
                            f->path);
        }
    }
    if (secret == 0 && !p->allow_no_tests)
        return fail(err, errlen, CC_UNPROCESSABLE, "data/secret: the package has no secret test "
                                                   "cases");
    return CC_OK;
}

static const pkg_file *statement_file(const pkg *p)
{
    static const char *const pref[] = {"statement/problem.en.md", "problem_statement/problem.en.md",
                                       "statement/problem.md", "problem_statement/problem.md",
                                       NULL};
    for (const char *const *s = pref; *s; s++) {
        const pkg_file *f = find(p, *s);
        if (f)
            return f;
    }
    for (size_t i = 0; i < p->nfiles; i++)
        if ((starts_with(p->files[i].path, "statement/") ||
             starts_with(p->files[i].path, "problem_statement/")) &&
            ends_with(p->files[i].path, ".md"))
            return &p->files[i];
    return NULL;
}

cc_status pkg_validate(pkg *p, char *err, size_t errlen)
{
    const pkg_file *py = find(p, "problem.yaml");
    if (!py)
        return fail(err, errlen, CC_UNPROCESSABLE, "problem.yaml: missing from the package root");
    if (!py->text)
        return fail(err, errlen, CC_UNPROCESSABLE, "problem.yaml: too large or not text");
    ynode *doc = NULL;
    cc_status s = yload_text("problem.yaml", py->text, &doc, err, errlen);
    if (s != CC_OK)
        return s;
    s = check_problem_yaml(p, doc, err, errlen);
    yfree(doc);
    if (s == CC_NOMEM)
        return fail(err, errlen, s, "out of memory");
    if (s != CC_OK)
        return s;
    if ((s = check_data(p, err, errlen)) != CC_OK)
        return s;
    bool has_validator =
        has_prefix_file(p, "output_validators/") || has_prefix_file(p, "output_validator/");
    int t = p->meta.type;
    bool interactive = t == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE ||
                       t == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING;
    if ((p->meta.custom_checker || interactive) && !has_validator)
        return fail(err, errlen, CC_UNPROCESSABLE,
                    "output_validators: a %s problem needs an output validator",
                    interactive ? "interactive" : "custom-validation");
    /* 2023-07 has no 'validation' key: a validator folder means custom. */
    if (has_validator)
        p->meta.custom_checker = true;
    const pkg_file *st = statement_file(p);
    if (st && !st->text)
        return fail(err, errlen, CC_UNPROCESSABLE, "%.300s: statement too large or not text",
                    st->path);
    p->meta.statement_md = st ? st->text : "";
    if (!st && warn(p, "no Markdown statement (statement/problem.en.md)") != CC_OK)
        return CC_NOMEM;
    return CC_OK;
}

/* ---- writing --------------------------------------------------------------- */

static void yaml_quote(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap < 3) {
        if (cap)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

char *pkg_problem_yaml(const char *title, int type, int64_t time_limit_ms, int64_t memory_mib,
                       int64_t output_mib, bool custom, const char *flags)
{
    size_t cap = 4 * (strlen(title) + strlen(flags)) + 512;
    char *out = malloc(cap), *q = malloc(cap);
    if (!out || !q) {
        free(out);
        free(q);
        return NULL;
    }
    size_t o = 0;
    yaml_quote(q, cap, title);
    o += (size_t)snprintf(out + o, cap - o, "name: %s\n", q);
    bool interactive = type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE ||
                       type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING;
    bool scoring = type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_SCORING ||
                   type == CODECOURT__V1__PROBLEM_TYPE__PROBLEM_TYPE_INTERACTIVE_SCORING;
    if (scoring)
        o += (size_t)snprintf(out + o, cap - o, "type: scoring\n");
    if (interactive || custom)
        o += (size_t)snprintf(out + o, cap - o, "validation: custom%s\n",
                              interactive ? " interactive" : "");
    if (flags && *flags) {
        yaml_quote(q, cap, flags);
        o += (size_t)snprintf(out + o, cap - o, "validator_flags: %s\n", q);
    }
    if (time_limit_ms > 0 || memory_mib > 0 || output_mib > 0) {
        o += (size_t)snprintf(out + o, cap - o, "limits:\n");
        if (time_limit_ms > 0)
            o += (size_t)snprintf(out + o, cap - o, "  time_limit: %" PRId64 ".%03" PRId64 "\n",
                                  time_limit_ms / 1000, time_limit_ms % 1000);
        if (memory_mib > 0)
            o += (size_t)snprintf(out + o, cap - o, "  memory: %" PRId64 "\n", memory_mib);
        if (output_mib > 0)
            o += (size_t)snprintf(out + o, cap - o, "  output: %" PRId64 "\n", output_mib);
    }
    free(q);
    return out;
}

cc_status pkg_write_zip(const char *out_path, const char *top, const pkg *p, pkg_reader rd,
                        void *ud, char *err, size_t errlen)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    unsigned char *buf = malloc(1 << 20);
    cc_status s = CC_OK;
    if (!a || !e || !buf) {
        s = fail(err, errlen, CC_NOMEM, "out of memory");
        goto done;
    }
    if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_zip_set_compression_deflate(a) != ARCHIVE_OK ||
        archive_write_open_filename(a, out_path) != ARCHIVE_OK) {
        s = fail(err, errlen, CC_IO, "export: %s", archive_error_string(a));
        goto done;
    }
    for (size_t i = 0; i < p->nfiles && s == CC_OK; i++) {
        const pkg_file *f = &p->files[i];
        char name[1200];
        snprintf(name, sizeof name, "%s/%s", top, f->path);
        archive_entry_clear(e);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, f->size);
        /* Fixed: the same version always exports to the same bytes. */
        archive_entry_set_mtime(e, 946684800, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK) {
            s = fail(err, errlen, CC_IO, "%s: %s", f->path, archive_error_string(a));
            break;
        }
        int64_t off = 0;
        while (off < f->size) {
            int64_t n = rd(ud, f, off, buf, 1 << 20);
            if (n <= 0) {
                s = fail(err, errlen, CC_IO, "%s: cannot read its content", f->path);
                break;
            }
            if (archive_write_data(a, buf, (size_t)n) != n) {
                s = fail(err, errlen, CC_IO, "%s: %s", f->path, archive_error_string(a));
                break;
            }
            off += n;
        }
    }
    if (s == CC_OK && archive_write_close(a) != ARCHIVE_OK)
        s = fail(err, errlen, CC_IO, "export: %s", archive_error_string(a));
done:
    if (e)
        archive_entry_free(e);
    if (a)
        archive_write_free(a);
    free(buf);
    return s;
}

char *pkg_markdown_html(const char *md, size_t len)
{
    /* CMARK_OPT_DEFAULT is safe since cmark 0.29 (raw HTML becomes a
     * comment, dangerous URLs become ""); CMARK_OPT_SAFE says so for older
     * versions. */
    return cmark_markdown_to_html(md, len, CMARK_OPT_DEFAULT | CMARK_OPT_SAFE);
}
