/* Small helpers: the allocation door, strings, and file access that never
 * trusts what it opens. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "cc-judge: out of memory allocating %zu bytes\n", n);
    abort();
}

void *judge__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *judge__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *judge__xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *judge__xstrdup(const char *s)
{
    return judge__xstrndup(s, strlen(s));
}

char *judge__xstrndup(const char *s, size_t n)
{
    char *p = judge__xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *judge__xasprintf(const char *fmt, ...)
{
    jstr s = {0};
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof tmp) {
        va_end(ap2);
        return judge__xstrndup(tmp, (size_t)n);
    }
    s.p = judge__xmalloc((size_t)n + 1);
    vsnprintf(s.p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s.p;
}

void jstr_add(jstr *s, const void *data, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->len + n + 1)
            cap *= 2;
        s->p = judge__xrealloc(s->p, cap);
        s->cap = cap;
    }
    if (n)
        memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
}

void jstr_adds(jstr *s, const char *str)
{
    jstr_add(s, str, strlen(str));
}

void jstr_addf(jstr *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        jstr_add(s, tmp, (size_t)n);
    } else {
        char *big = judge__xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        jstr_add(s, big, (size_t)n);
        free(big);
    }
    va_end(ap2);
}

char *jstr_take(jstr *s)
{
    char *p = s->p ? s->p : judge__xstrdup("");
    s->p = NULL;
    s->len = s->cap = 0;
    return p;
}

void jstr_free(jstr *s)
{
    free(s->p);
    s->p = NULL;
    s->len = s->cap = 0;
}

void jstrv_push_own(jstrv *a, char *s)
{
    if (a->n + 1 >= a->cap) {
        a->cap = a->cap ? a->cap * 2 : 8;
        a->v = judge__xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void jstrv_push(jstrv *a, const char *s)
{
    jstrv_push_own(a, judge__xstrdup(s));
}

void jstrv_free(jstrv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

bool judge__parse_long(const char *s, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0')
        return false;
    *out = v;
    return true;
}

bool judge__parse_double(const char *s, double *out)
{
    if (!s)
        return false;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (errno || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* The kernel's own walk (openat2 with RESOLVE_BENEATH) resolves every
 * component, links included, and refuses any step outside the root, with
 * no window between a check and the open. */
static int open_beneath_openat2(int root_fd, const char *rel, int flags)
{
    /* openat2 refuses flags that mean nothing with O_PATH (O_NOCTTY). */
    int extra = flags & O_PATH ? O_CLOEXEC : O_CLOEXEC | O_NOCTTY;
    struct open_how how = {.flags = (uint64_t)(flags | extra),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
}

/* Without openat2 (kernels before 5.6): component by component with
 * O_NOFOLLOW, so no link is followed at all. */
static int open_beneath_walk(int root_fd, const char *rel, int flags)
{
    char *copy = judge__xstrdup(rel), *save = NULL;
    int dfd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0), fd = -1;
    char *comp = strtok_r(copy, "/", &save);
    while (dfd >= 0 && comp) {
        char *next = strtok_r(NULL, "/", &save);
        if (!strcmp(comp, "..")) {
            errno = EXDEV;
            break;
        }
        if (!next) {
            fd = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY));
            break;
        }
        int nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dfd);
        errno = e;
        dfd = nfd;
        comp = next;
    }
    int e = errno;
    if (dfd >= 0)
        close(dfd);
    free(copy);
    errno = e;
    return fd;
}

int judge__open_beneath(int root_fd, const char *rel, int flags)
{
    static atomic_int no_openat2;
    if (!atomic_load(&no_openat2)) {
        int fd = open_beneath_openat2(root_fd, rel, flags);
        if (fd >= 0 || errno != ENOSYS)
            return fd;
        atomic_store(&no_openat2, 1);
    }
    return open_beneath_walk(root_fd, rel, flags);
}

/* A package may contain symlinks to other files of the package (the format
 * allows it), so a link is followed only while it stays inside the
 * package root; everything else is refused. */
int judge__open_pkg_file(const char *root_dir, const char *path)
{
    size_t rl = strlen(root_dir);
    while (rl > 0 && root_dir[rl - 1] == '/')
        rl--; /* "/" and "dir/" */
    const char *rel = path;
    if (path[0] == '/') {
        if (strncmp(path, root_dir, rl) || path[rl] != '/') {
            errno = EACCES;
            return -1;
        }
        rel = path + rl + 1;
    }
    int root = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -1;
    int fd = judge__open_beneath(root, rel, O_RDONLY | O_NONBLOCK);
    int e = errno;
    close(root);
    if (fd < 0) {
        errno = e == EXDEV ? EACCES : e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    /* Back to blocking reads now that we know it is a regular file. */
    fcntl(fd, F_SETFL, 0);
    return fd;
}

char *judge__read_fd(int fd, size_t cap, size_t *len, bool *trunc)
{
    jstr s = {0};
    jstr_add(&s, "", 0);
    char buf[65536];
    off_t off = 0;
    bool more = false;
    for (;;) {
        size_t want = sizeof buf;
        if (s.len + want > cap + 1)
            want = cap + 1 - s.len;
        if (want == 0)
            break;
        ssize_t n = pread(fd, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += n;
        jstr_add(&s, buf, (size_t)n);
    }
    if (s.len > cap) {
        more = true;
        s.len = cap;
        s.p[cap] = '\0';
    }
    if (len)
        *len = s.len;
    if (trunc)
        *trunc = more;
    return jstr_take(&s);
}

cc_status judge__read_file(const char *root_dir, const char *path, size_t cap, char **out,
                           size_t *len, bool *trunc)
{
    int fd = judge__open_pkg_file(root_dir, path);
    if (fd < 0)
        return cc_err_set(errno == ENOENT ? CC_NOT_FOUND : CC_IO, "%s: cannot read: %s", path,
                          errno == EINVAL ? "not a regular file" : strerror(errno));
    *out = judge__read_fd(fd, cap, len, trunc);
    close(fd);
    return CC_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int judge__list_dir(const char *path, jstrv *out)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    size_t start = out->n;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* the format ignores names starting with a dot */
        jstrv_push(out, e->d_name);
    }
    closedir(d);
    judge__sort_strv(out, start);
    return (int)(out->n - start);
}

void judge__sort_strv(jstrv *a, size_t from)
{
    if (a->n > from + 1) /* an empty list may have a->v NULL */
        qsort(a->v + from, a->n - from, sizeof *a->v, cmp_str);
}

bool judge__is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool judge__is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void rm_at(int dfd, const char *name, int depth)
{
    if (depth > 64)
        return;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    rm_at(dirfd(d), e->d_name, depth + 1);
            closedir(d);
        } else {
            close(fd);
        }
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

void judge__rm_tree(const char *path)
{
    rm_at(AT_FDCWD, path, 0);
}

int judge__sealed_copy(int fd, const char *name)
{
    int m = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0)
        return -1;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(m);
            return -1;
        }
        if (n == 0)
            break;
        if (write(m, buf, (size_t)n) != n) {
            close(m);
            return -1;
        }
        off += n;
    }
    if (fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0 ||
        lseek(m, 0, SEEK_SET) != 0) {
        close(m);
        return -1;
    }
    return m;
}

int judge__nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (int)n : 1;
}
