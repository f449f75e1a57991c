/* Problem packages as zip files (libarchive): reading every entry with its
 * checks and hash, streaming the content again for storage, and writing
 * the canonical zip of an export. */
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define PIECE (64 * 1024)
#define STREAM_PIECE (1 << 20)

/* Any entry: relative, no "." or ".." component, no empty component (a
 * trailing '/' is a folder), no backslash or control character. */
static cc_status check_path(const char *name, pkg_diags *d)
{
    if (!*name)
        return pkg__fail(d, "(empty name)", 0, "an entry has no name");
    if (name[0] == '/' || (((name[0] | 32) >= 'a' && (name[0] | 32) <= 'z') && name[1] == ':'))
        return pkg__fail(d, name, 0, "absolute paths are not allowed");
    size_t n = strlen(name);
    if (n > 1024)
        return pkg__fail(d, "(long name)", 0, "path longer than 1024 bytes");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return pkg__fail(d, "(bad name)", 0,
                             "control characters and backslashes are not allowed in names");
    }
    for (const char *s = name; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0)
            return pkg__fail(d, name, 0, "empty path component");
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return pkg__fail(d, name, 0,
                             "'.' and '..' components are not allowed (path traversal)");
        if (!e)
            break;
        s = e + 1;
    }
    return CC_OK;
}

/* Reads one regular entry's content: hash, size, and its text when the
 * format may need it. */
static cc_status read_entry(struct archive *a, const char *name, const char *path,
                            const pkg_limits *lim, unsigned char *buf, EVP_MD_CTX *md, pkg_files *out,
                            pkg_diags *d)
{
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    jstr text = {0};
    bool want_text = pkg_is_text_file(path), over = false;
    int64_t size = 0;
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, PIECE)) > 0) {
        size += n;
        if (out->total_size + size > lim->max_total) {
            jstr_free(&text);
            return pkg__fail(d, name, 0, "the package is larger than the limit of %" PRId64
                                         " bytes", lim->max_total);
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        if (want_text && !over) {
            if (text.len + (size_t)n > (size_t)lim->max_text)
                over = true;
            else
                jstr_add(&text, buf, (size_t)n);
        }
    }
    if (n < 0) {
        jstr_free(&text);
        return pkg__fail(d, name, 0, "cannot read: %s", archive_error_string(a));
    }
    char hex[65];
    pkg__digest_hex(md, hex);
    /* A NUL inside makes it binary, not text the format can parse. */
    bool keep = want_text && !over && (!text.p || strlen(text.p) == text.len);
    if (keep && !text.p)
        jstr_add(&text, "", 0);
    pkg_add(out, path, hex, size, keep ? text.p : NULL);
    out->files[out->nfiles - 1].src = judge__xstrdup(name);
    jstr_free(&text);
    return CC_OK;
}

static cc_status read_entries(struct archive *a, const pkg_limits *lim, pkg_files *out, pkg_diags *d)
{
    struct archive_entry *e;
    size_t entries = 0;
    unsigned char *buf = judge__xmalloc(PIECE);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort();
    cc_status s = CC_OK;
    int r;
    while (s == CC_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name) {
            s = pkg__fail(d, "(archive)", 0, "entry %zu: name is not readable", entries);
            break;
        }
        if (++entries > lim->max_files) {
            s = pkg__fail(d, name, 0, "too many files in the package (more than %zu)",
                          lim->max_files);
            break;
        }
        unsigned type = archive_entry_filetype(e);
        if (type == AE_IFLNK || archive_entry_symlink(e)) {
            s = pkg__fail(d, name, 0, "symbolic links are not allowed in a zip");
            break;
        }
        if (archive_entry_hardlink(e)) {
            s = pkg__fail(d, name, 0, "hard links are not allowed");
            break;
        }
        char path[1100];
        snprintf(path, sizeof path, "%s", name);
        size_t pl = strlen(path);
        bool dir = type == AE_IFDIR || (pl > 0 && path[pl - 1] == '/');
        while (pl > 0 && path[pl - 1] == '/' && dir)
            path[--pl] = '\0';
        if ((s = check_path(dir && !pl ? name : path, d)) != CC_OK)
            break;
        if (dir)
            continue;
        if (type != AE_IFREG) {
            s = pkg__fail(d, name, 0, "only regular files and folders are allowed");
            break;
        }
        s = read_entry(a, name, path, lim, buf, md, out, d);
    }
    if (s == CC_OK && r != ARCHIVE_EOF)
        s = pkg__fail(d, "(archive)", 0, "not a readable zip file: %s",
                      archive_error_string(a) ? archive_error_string(a) : "unknown error");
    free(buf);
    EVP_MD_CTX_free(md);
    return s;
}

/* A zip made by zipping the problem's folder has every path under one
 * folder: the package root is then inside it. */
static void strip_top(pkg_files *p)
{
    if (p->nfiles == 0)
        return;
    for (size_t i = 0; i < p->nfiles; i++)
        if (!strcmp(p->files[i].path, "problem.yaml"))
            return;
    const char *first = p->files[0].path;
    const char *slash = strchr(first, '/');
    if (!slash)
        return;
    size_t tl = (size_t)(slash - first) + 1;
    for (size_t i = 0; i < p->nfiles; i++)
        if (strncmp(p->files[i].path, first, tl) != 0)
            return;
    p->top = judge__xstrndup(first, tl - 1);
    for (size_t i = 0; i < p->nfiles; i++)
        memmove(p->files[i].path, p->files[i].path + tl, strlen(p->files[i].path + tl) + 1);
}

static struct archive *new_reader(void)
{
    struct archive *a = archive_read_new();
    if (!a)
        abort();
    archive_read_support_format_zip(a);
    return a;
}

static cc_status read_archive(struct archive *a, int r, const pkg_limits *lim, pkg_files *out,
                              pkg_diags *d)
{
    cc_status s;
    if (r != ARCHIVE_OK)
        s = pkg__fail(d, "(archive)", 0, "not a readable zip file: %s",
                      archive_error_string(a) ? archive_error_string(a) : "unknown error");
    else
        s = read_entries(a, lim, out, d);
    archive_read_free(a);
    if (s == CC_OK)
        strip_top(out);
    IFOK(s, pkg_sort(out, d));
    if (s != CC_OK)
        pkg_free(out);
    return s;
}

cc_status pkg_read_zip_memory(const void *buf, size_t len, const pkg_limits *lim, pkg_files *out,
                              pkg_diags *d)
{
    memset(out, 0, sizeof *out);
    struct archive *a = new_reader();
    return read_archive(a, archive_read_open_memory(a, buf, len), lim, out, d);
}

cc_status pkg_read_zip_file(const char *path, const pkg_limits *lim, pkg_files *out, pkg_diags *d)
{
    memset(out, 0, sizeof *out);
    struct archive *a = new_reader();
    return read_archive(a, archive_read_open_filename(a, path, 1 << 16), lim, out, d);
}

/* ---- streaming the content again ------------------------------------------------- */

static int cmp_src(const void *key, const void *elem)
{
    return strcmp(key, (*(pkg_file *const *)elem)->src);
}

static int cmp_src_sort(const void *a, const void *b)
{
    return strcmp((*(pkg_file *const *)a)->src, (*(pkg_file *const *)b)->src);
}

/* Streams one entry's content to fn and checks it against what the read
 * saw. */
static cc_status stream_entry(struct archive *a, const pkg_file *f, unsigned char *buf,
                              EVP_MD_CTX *md, pkg_sink fn, void *ud)
{
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    la_ssize_t got;
    int64_t size = 0;
    bool sent_last = false;
    cc_status s;
    while ((got = archive_read_data(a, buf, STREAM_PIECE)) > 0) {
        size += got;
        EVP_DigestUpdate(md, buf, (size_t)got);
        bool last = size == f->size;
        if ((s = fn(ud, f, buf, (size_t)got, last)) != CC_OK)
            return s;
        sent_last = last;
    }
    if (got < 0)
        return cc_err_set(CC_UNPROCESSABLE, "%s: cannot read: %s", f->src,
                          archive_error_string(a));
    if (!sent_last && (s = fn(ud, f, buf, 0, true)) != CC_OK)
        return s;
    char hex[65];
    pkg__digest_hex(md, hex);
    if (size != f->size || strcmp(hex, f->sha256) != 0)
        return cc_err_set(CC_UNPROCESSABLE, "%s: content changed while importing", f->src);
    return CC_OK;
}

cc_status pkg_stream_zip(const char *path, const pkg_files *p, pkg_sink fn, void *ud)
{
    pkg_file **by_src = judge__xmalloc((p->nfiles + 1) * sizeof *by_src);
    unsigned char *buf = judge__xmalloc(STREAM_PIECE);
    struct archive *a = new_reader();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort();
    cc_status s = CC_OK;
    size_t n = 0;
    for (size_t i = 0; i < p->nfiles; i++)
        if (p->files[i].src)
            by_src[n++] = &p->files[i];
    qsort(by_src, n, sizeof *by_src, cmp_src_sort);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        s = cc_err_set(CC_IO, "(archive): %s", archive_error_string(a));
    } else {
        struct archive_entry *e;
        int r;
        while (s == CC_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
            const char *name = archive_entry_pathname(e);
            pkg_file **hit = name ? bsearch(name, by_src, n, sizeof *by_src, cmp_src) : NULL;
            if (hit)
                s = stream_entry(a, *hit, buf, md, fn, ud);
        }
        if (s == CC_OK && r != ARCHIVE_EOF)
            s = cc_err_set(CC_UNPROCESSABLE, "(archive): %s", archive_error_string(a));
    }
    free(by_src);
    free(buf);
    archive_read_free(a);
    EVP_MD_CTX_free(md);
    return s;
}

/* ---- writing ----------------------------------------------------------------------- */

static cc_status write_entry(struct archive *a, struct archive_entry *e, const char *top,
                             const pkg_file *f, unsigned char *buf, pkg_reader rd, void *ud)
{
    char name[1200];
    snprintf(name, sizeof name, "%s/%s", top, f->path);
    archive_entry_clear(e);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, f->size);
    /* Fixed: the same version always exports to the same bytes. */
    archive_entry_set_mtime(e, 946684800, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        return cc_err_set(CC_IO, "%s: %s", f->path, archive_error_string(a));
    for (int64_t off = 0; off < f->size;) {
        int64_t n = rd(ud, f, off, buf, STREAM_PIECE);
        if (n <= 0)
            return cc_err_set(CC_IO, "%s: cannot read its content", f->path);
        if (archive_write_data(a, buf, (size_t)n) != n)
            return cc_err_set(CC_IO, "%s: %s", f->path, archive_error_string(a));
        off += n;
    }
    return CC_OK;
}

cc_status pkg_write_zip(const char *out_path, const char *top, const pkg_files *p, pkg_reader rd,
                        void *ud)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    if (!a || !e)
        abort();
    unsigned char *buf = judge__xmalloc(STREAM_PIECE);
    cc_status s = CC_OK;
    if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
        archive_write_zip_set_compression_deflate(a) != ARCHIVE_OK ||
        archive_write_open_filename(a, out_path) != ARCHIVE_OK)
        s = cc_err_set(CC_IO, "%s: %s", out_path, archive_error_string(a));
    for (size_t i = 0; i < p->nfiles && s == CC_OK; i++)
        s = write_entry(a, e, top, &p->files[i], buf, rd, ud);
    if (s == CC_OK && archive_write_close(a) != ARCHIVE_OK)
        s = cc_err_set(CC_IO, "%s: %s", out_path, archive_error_string(a));
    archive_entry_free(e);
    archive_write_free(a);
    free(buf);
    return s;
}
