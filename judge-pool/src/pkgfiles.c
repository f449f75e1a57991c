/* The files of a problem package, wherever they come from: diagnostics,
 * the sorted file set, the folder reader (every path resolved beneath the
 * package root), the manifest hash and the names the format allows. The
 * zip side is pkgzip.c; what the files mean is package.c. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Folders nested deeper than this in a package folder are refused: it is
 * also what ends a symbolic-link loop that stays inside the package. */
#define WALK_MAX_DEPTH 16

const pkg_limits pkg_local_limits = {
    .max_files = 200000,
    .max_total = INT64_MAX,
    .max_text = 1 << 20,
};

/* ---- diagnostics ------------------------------------------------------------ */

static void diag_vadd(pkg_diags *d, pkg_level level, const char *file, int line, const char *fmt,
                      va_list ap)
{
    if (!d)
        return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->v = judge__xrealloc(d->v, d->cap * sizeof *d->v);
    }
    char text[700];
    vsnprintf(text, sizeof text, fmt, ap);
    d->v[d->n++] = (pkg_diag){.level = level,
                              .file = judge__xstrdup(file ? file : ""),
                              .line = line > 0 ? line : 0,
                              .text = judge__xstrdup(text)};
}

void pkg_diags_add(pkg_diags *d, pkg_level level, const char *file, int line, const char *fmt,
                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, level, file, line, fmt, ap);
    va_end(ap);
}

cc_status pkg__fail(pkg_diags *d, const char *file, int line, const char *fmt, ...)
{
    pkg_diags one = {0};
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(&one, PKG_ERROR, file, line, fmt, ap);
    va_end(ap);
    char *s = pkg_diag_str(&one.v[0]);
    cc_err_set(CC_UNPROCESSABLE, "%s", s);
    free(s);
    if (d) {
        pkg_diags_add(d, PKG_ERROR, one.v[0].file, one.v[0].line, "%s", one.v[0].text);
    }
    pkg_diags_free(&one);
    return CC_UNPROCESSABLE;
}

size_t pkg_diags_count(const pkg_diags *d, pkg_level level)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++)
        n += d->v[i].level == level;
    return n;
}

const pkg_diag *pkg_diags_first_error(const pkg_diags *d)
{
    for (size_t i = 0; d && i < d->n; i++)
        if (d->v[i].level == PKG_ERROR)
            return &d->v[i];
    return NULL;
}

char *pkg_diag_str(const pkg_diag *d)
{
    if (!d->file[0])
        return judge__xstrdup(d->text);
    if (d->line > 0)
        return judge__xasprintf("%s: line %d: %s", d->file, d->line, d->text);
    return judge__xasprintf("%s: %s", d->file, d->text);
}

void pkg_diags_free(pkg_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].text);
    }
    free(d->v);
    memset(d, 0, sizeof *d);
}

/* ---- the file set ------------------------------------------------------------- */

void pkg_add(pkg_files *p, const char *path, const char *sha256, int64_t size, const char *text)
{
    if (p->nfiles == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 32;
        p->files = judge__xrealloc(p->files, p->cap * sizeof *p->files);
    }
    pkg_file *f = &p->files[p->nfiles++];
    memset(f, 0, sizeof *f);
    f->path = judge__xstrdup(path);
    f->text = text ? judge__xstrdup(text) : NULL;
    snprintf(f->sha256, sizeof f->sha256, "%s", sha256 ? sha256 : "");
    f->size = size;
    p->total_size += size;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const pkg_file *)a)->path, ((const pkg_file *)b)->path);
}

cc_status pkg_sort(pkg_files *p, pkg_diags *d)
{
    if (p->nfiles > 1)
        qsort(p->files, p->nfiles, sizeof *p->files, cmp_file);
    for (size_t i = 1; i < p->nfiles; i++)
        if (!strcmp(p->files[i - 1].path, p->files[i].path))
            return pkg__fail(d, p->files[i].path, 0, "appears twice in the package");
    return CC_OK;
}

const pkg_file *pkg_find(const pkg_files *p, const char *path)
{
    pkg_file key = {.path = (char *)path};
    return p->nfiles ? bsearch(&key, p->files, p->nfiles, sizeof *p->files, cmp_file) : NULL;
}

void pkg_free(pkg_files *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].path);
        free(p->files[i].src);
        free(p->files[i].text);
    }
    free(p->files);
    free(p->top);
    memset(p, 0, sizeof *p);
}

/* The first file whose path is not below prefix (bytewise), by binary
 * search: files under one folder are consecutive in a sorted set. */
static size_t lower_bound(const pkg_files *p, const char *prefix)
{
    size_t lo = 0, hi = p->nfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(p->files[mid].path, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int pkg__list(const pkg_files *p, const char *dir, jstrv *out)
{
    char *prefix = dir[0] ? judge__xasprintf("%s/", dir) : judge__xstrdup("");
    size_t pl = strlen(prefix), start = out->n;
    const char *last = NULL;
    size_t lastlen = 0;
    for (size_t i = lower_bound(p, prefix); i < p->nfiles; i++) {
        const char *path = p->files[i].path;
        if (strncmp(path, prefix, pl))
            break;
        const char *name = path + pl;
        size_t len = strcspn(name, "/");
        /* Names starting with a dot are not part of the format (.gitkeep,
         * editor files); children of one folder are consecutive. */
        if (name[0] == '.' || (last && len == lastlen && !strncmp(last, name, len)))
            continue;
        jstrv_push_own(out, judge__xstrndup(name, len));
        last = name;
        lastlen = len;
    }
    free(prefix);
    if (out->n > start + 1)
        judge__sort_strv(out, start);
    return (int)(out->n - start);
}

bool pkg__is_dir(const pkg_files *p, const char *dir)
{
    char *prefix = judge__xasprintf("%s/", dir);
    size_t i = lower_bound(p, prefix);
    bool yes = i < p->nfiles && !strncmp(p->files[i].path, prefix, strlen(prefix));
    free(prefix);
    return yes;
}

bool pkg__is_file(const pkg_files *p, const char *path)
{
    return pkg_find(p, path) != NULL;
}

/* ---- reading a folder ----------------------------------------------------------- */

bool pkg_is_text_file(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    return !strcmp(base, ".timelimit") || (n > 5 && !strcmp(base + n - 5, ".yaml")) ||
           (n > 4 && !strcmp(base + n - 4, ".yml")) || (n > 3 && !strcmp(base + n - 3, ".md"));
}

typedef struct {
    int root;
    const pkg_limits *lim;
    pkg_files *out;
    pkg_diags *d;
    size_t entries;
} walk;

static cc_status open_failed(walk *w, const char *rel)
{
    switch (errno) {
    case EXDEV:
        return pkg__fail(w->d, rel, 0, "a symbolic link that leaves the package");
    case ELOOP:
        return pkg__fail(w->d, rel, 0, "a symbolic link loop, or a link this system cannot "
                                       "follow safely");
    case ENOENT:
        return pkg__fail(w->d, rel, 0, "a symbolic link to nothing");
    default:
        return pkg__fail(w->d, rel, 0, "cannot open: %s", strerror(errno));
    }
}

/* Adds the regular file rel (open as fd, stat st) to the set. */
static cc_status walk_file(walk *w, const char *rel, const struct stat *st)
{
    if (w->out->total_size + st->st_size > w->lim->max_total)
        return pkg__fail(w->d, rel, 0, "the package is larger than the limit of %" PRId64 " bytes",
                         w->lim->max_total);
    char *text = NULL;
    if (pkg_is_text_file(rel) && st->st_size <= w->lim->max_text) {
        int fd = judge__open_beneath(w->root, rel, O_RDONLY | O_NONBLOCK);
        if (fd < 0)
            return open_failed(w, rel);
        size_t len;
        bool trunc;
        text = judge__read_fd(fd, (size_t)w->lim->max_text, &len, &trunc);
        close(fd);
        if (trunc || strlen(text) != len) { /* grew meanwhile, or binary */
            free(text);
            text = NULL;
        }
    }
    pkg_add(w->out, rel, "", st->st_size, text);
    free(text);
    return CC_OK;
}

static cc_status walk_dir(walk *w, const char *rel, int depth)
{
    if (depth > WALK_MAX_DEPTH)
        return pkg__fail(w->d, rel, 0, "folders nested too deeply (a symbolic link loop?)");
    int fd = judge__open_beneath(w->root, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return open_failed(w, rel[0] ? rel : ".");
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return pkg__fail(w->d, rel, 0, "cannot list: %s", strerror(errno));
    }
    jstrv names = {0};
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            jstrv_push(&names, e->d_name);
    closedir(dir);
    judge__sort_strv(&names, 0);
    cc_status s = CC_OK;
    for (size_t i = 0; i < names.n && s == CC_OK; i++) {
        char *child = rel[0] ? judge__xasprintf("%s/%s", rel, names.v[i])
                             : judge__xstrdup(names.v[i]);
        struct stat st;
        int cfd = -1;
        if (++w->entries > w->lim->max_files)
            s = pkg__fail(w->d, child, 0, "too many files in the package (more than %zu)",
                          w->lim->max_files);
        else if ((cfd = judge__open_beneath(w->root, child, O_PATH)) < 0)
            s = open_failed(w, child);
        else if (fstat(cfd, &st) != 0)
            s = pkg__fail(w->d, child, 0, "cannot stat: %s", strerror(errno));
        else if (S_ISDIR(st.st_mode))
            s = walk_dir(w, child, depth + 1);
        else if (S_ISREG(st.st_mode))
            s = walk_file(w, child, &st);
        else
            s = pkg__fail(w->d, child, 0, "only regular files and folders are allowed");
        if (cfd >= 0)
            close(cfd);
        free(child);
    }
    jstrv_free(&names);
    return s;
}

cc_status pkg_read_dir(const char *dir, const pkg_limits *lim, pkg_files *out, pkg_diags *d)
{
    memset(out, 0, sizeof *out);
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return pkg__fail(d, "", 0, "%s: not a problem package folder (%s)", dir,
                         strerror(errno));
    walk w = {.root = root, .lim = lim ? lim : &pkg_local_limits, .out = out, .d = d};
    cc_status s = walk_dir(&w, "", 0);
    close(root);
    IFOK(s, pkg_sort(out, d));
    if (s != CC_OK)
        pkg_free(out);
    return s;
}

int64_t pkg_dir_reader(void *ud, const pkg_file *f, int64_t off, void *buf, size_t cap)
{
    int fd = judge__open_pkg_file((const char *)ud, f->path);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = pread(fd, buf, cap, off);
    while (n < 0 && errno == EINTR);
    close(fd);
    return n;
}

/* ---- hashes and names ------------------------------------------------------------- */

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void pkg__digest_hex(void *md_ctx, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md_ctx, md, &n);
    to_hex(md, 32, out);
}

void pkg_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, 32, out);
}

void pkg_manifest_hash(const pkg_files *p, char out[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        abort();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < p->nfiles; i++) {
        char num[32];
        int n = snprintf(num, sizeof num, "\t%" PRId64 "\t", p->files[i].size);
        EVP_DigestUpdate(c, p->files[i].path, strlen(p->files[i].path));
        EVP_DigestUpdate(c, num, (size_t)n);
        EVP_DigestUpdate(c, p->files[i].sha256, 64);
        EVP_DigestUpdate(c, "\n", 1);
    }
    pkg__digest_hex(c, out);
    EVP_MD_CTX_free(c);
}

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
