/* The archive file: a POSIX tar (libarchive) holding manifest.json and the
 * parts, each part checked against the SHA-256 and size the manifest
 * gives it before anything is restored. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"

cc_status admin_sha256_file(const char *path, char hex[65], int64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cc_err_set(CC_IO, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static unsigned char buf[1 << 16];
    int64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        EVP_DigestUpdate(md, buf, n);
        total += (int64_t)n;
    }
    bool bad = ferror(f);
    fclose(f);
    unsigned char d[32];
    EVP_DigestFinal_ex(md, d, NULL);
    EVP_MD_CTX_free(md);
    if (bad)
        return cc_err_set(CC_IO, "%s: read error", path);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    *size = total;
    return CC_OK;
}

/* ---- writing ----------------------------------------------------------------- */

static cc_status add_bytes(struct archive *a, const char *name, const void *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_mtime(e, time(NULL), 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK || (len && archive_write_data(a, data, len) != (la_ssize_t)len))
        return cc_err_set(CC_IO, "archive: writing %s: %s", name, archive_error_string(a));
    return CC_OK;
}

static cc_status add_file(struct archive *a, const admin_part *p)
{
    struct stat sb;
    if (stat(p->file, &sb) != 0)
        return cc_err_set(CC_IO, "%s: %s", p->file, strerror(errno));
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, p->path);
    archive_entry_set_size(e, sb.st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_mtime(e, sb.st_mtime, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return cc_err_set(CC_IO, "archive: writing %s: %s", p->path, archive_error_string(a));
    FILE *f = fopen(p->file, "rb");
    if (!f)
        return cc_err_set(CC_IO, "%s: %s", p->file, strerror(errno));
    static char buf[1 << 16];
    size_t n;
    cc_status s = CC_OK;
    while (s == CC_OK && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (archive_write_data(a, buf, n) != (la_ssize_t)n)
            s = cc_err_set(CC_IO, "archive: writing %s: %s", p->path, archive_error_string(a));
    fclose(f);
    return s;
}

cc_status admin_archive_write(const char *path, json_t *manifest, const admin_part *parts,
                              size_t nparts)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *text = json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return cc_err_set(CC_NOMEM, "out of memory");
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    cc_status s = CC_OK;
    if (archive_write_open_filename(a, tmp) != ARCHIVE_OK)
        s = cc_err_set(CC_IO, "%s: %s", tmp, archive_error_string(a));
    IFOK(s, add_bytes(a, "manifest.json", text, strlen(text)));
    for (size_t i = 0; i < nparts && s == CC_OK; i++)
        s = add_file(a, &parts[i]);
    if (archive_write_close(a) != ARCHIVE_OK && s == CC_OK)
        s = cc_err_set(CC_IO, "%s: %s", tmp, archive_error_string(a));
    archive_write_free(a);
    free(text);
    /* The archive is on disk before it takes its name. */
    int fd = s == CC_OK ? open(tmp, O_RDONLY) : -1;
    if (fd >= 0) {
        /* It holds every user's data (and secrets, when asked): owner only. */
        if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
            s = cc_err_set(CC_IO, "fsync %s: %s", tmp, strerror(errno));
        close(fd);
    }
    if (s == CC_OK && rename(tmp, path) != 0)
        s = cc_err_set(CC_IO, "rename %s: %s", tmp, strerror(errno));
    if (s != CC_OK)
        unlink(tmp);
    return s;
}

/* ---- reading ----------------------------------------------------------------- */

/* A part's path: relative, no "..", no empty or "." segment. */
static bool plain_path(const char *p)
{
    if (!*p || *p == '/' || strlen(p) > 200)
        return false;
    for (const char *seg = p; seg;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && !strncmp(seg, "..", 2)))
            return false;
        seg = end ? end + 1 : NULL;
    }
    return true;
}

static cc_status mkdirs_for(const char *file)
{
    char d[4352];
    snprintf(d, sizeof d, "%s", file);
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(d, 0700) != 0 && errno != EEXIST)
                return cc_err_set(CC_IO, "mkdir %s: %s", d, strerror(errno));
            *p = '/';
        }
    return CC_OK;
}

/* Copies every entry into dir. A truncated archive fails here only when
 * the cut falls inside a header; a cut inside a part shows up as that
 * part's size or checksum below. */
static cc_status unpack(const char *path, const char *dir)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    cc_status s = CC_OK;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        s = cc_err_set(CC_IO, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return s;
    }
    struct archive_entry *e;
    int r;
    static char buf[1 << 16];
    while (s == CC_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name || !plain_path(name) || archive_entry_filetype(e) != AE_IFREG) {
            s = cc_err_set(CC_INVALID, "%s: entry '%s' is not a plain file of a backup", path,
                           name ? name : "");
            break;
        }
        char out[4352];
        snprintf(out, sizeof out, "%s/%s", dir, name);
        IFOK(s, mkdirs_for(out));
        int fd = s == CC_OK ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600) : -1;
        if (s == CC_OK && fd < 0)
            s = cc_err_set(CC_IO, "%s: %s", out, strerror(errno));
        la_ssize_t n;
        while (s == CC_OK && (n = archive_read_data(a, buf, sizeof buf)) != 0) {
            if (n < 0) {
                /* A cut inside this entry: keep what came, the checksum
                 * names the part. */
                break;
            }
            if (write(fd, buf, (size_t)n) != n)
                s = cc_err_set(CC_IO, "%s: %s", out, strerror(errno));
        }
        if (fd >= 0)
            close(fd);
    }
    archive_read_free(a);
    return s;
}

cc_status admin_archive_read(const char *path, const char *dir, json_t **manifest)
{
    *manifest = NULL;
    cc_status s = unpack(path, dir);
    if (s != CC_OK)
        return s;
    char mpath[4352];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    json_error_t je;
    json_t *m = json_load_file(mpath, 0, &je);
    if (!m)
        return cc_err_set(CC_INVALID, "%s: part manifest.json is missing or unreadable (%s)", path,
                          je.text);
    json_t *parts = json_object_get(m, "parts");
    if (!json_is_array(parts) || json_array_size(parts) == 0) {
        json_decref(m);
        return cc_err_set(CC_INVALID, "%s: manifest.json lists no parts", path);
    }
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "path"));
        const char *want = json_string_value(json_object_get(p, "sha256"));
        json_int_t size = json_integer_value(json_object_get(p, "size"));
        if (!name || !want || !plain_path(name)) {
            s = cc_err_set(CC_INVALID, "%s: manifest.json: part %zu has no valid path and sha256",
                           path, i);
            break;
        }
        char file[4352], got[65];
        int64_t got_size = 0;
        snprintf(file, sizeof file, "%s/%s", dir, name);
        if (access(file, F_OK) != 0) {
            s = cc_err_set(CC_INVALID, "%s: part %s is missing (a truncated archive?)", path, name);
            break;
        }
        if ((s = admin_sha256_file(file, got, &got_size)) != CC_OK)
            break;
        if (got_size != size || strcmp(got, want) != 0) {
            s = cc_err_set(CC_INVALID,
                           "%s: part %s fails its checksum (%" PRId64 " bytes, sha256 %s; the "
                           "manifest says %lld bytes, sha256 %s)",
                           path, name, got_size, got, (long long)size, want);
            break;
        }
    }
    if (s != CC_OK) {
        json_decref(m);
        return s;
    }
    *manifest = m;
    return CC_OK;
}

/* ---- the work folder ------------------------------------------------------------ */

cc_status admin_workdir(const char *archive, char *out, size_t cap)
{
    if (snprintf(out, cap, "%s.work-XXXXXX", archive) >= (int)cap)
        return cc_err_set(CC_INVALID, "%s: path too long", archive);
    if (!mkdtemp(out))
        return cc_err_set(CC_IO, "mkdtemp %s: %s", out, strerror(errno));
    return CC_OK;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void admin_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

double admin_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
