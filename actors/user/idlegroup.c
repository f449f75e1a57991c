/* The bcrypt workers' own cgroup, with cpu.idle = 1 (bcrypt-cgroup).
 *
 * SCHED_IDLE alone is not enough with autogroup (or any cgroup): the
 * scheduler first picks among groups, and cc-user's group, busy with
 * bcrypt, competes at full weight with nats-server's or the gateway's
 * group when they wake, so their requests wait for a bcrypt slice. A cgroup
 * whose cpu.idle is 1 is itself an idle entity at its level: any normal
 * task that wakes preempts it at once, while a login storm still gets
 * every cycle nothing else wants.
 *
 * At start cc-user makes the child cc-user-bcrypt-<pid> (the pid keeps
 * replicas and parallel tests apart) and each worker moves itself in by
 * writing its thread id: to `tasks` on cgroup v1; on cgroup v2, where only
 * a threaded cgroup takes single threads, to `cgroup.threads` of a
 * threaded child of the process's own cgroup. At stop, once the workers
 * are joined, the child is removed. Everything here is best effort: a
 * step that fails is one warning and the workers stay where they were,
 * still at SCHED_IDLE. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cc/log.h"
#include "user.h"

#define PREFIX "cc-user-bcrypt-"

static char group[PATH_MAX];       /* the child; "" when there is none */
static char attach[PATH_MAX + 32]; /* its tasks (v1) or cgroup.threads (v2) */
static atomic_int joined, join_err;

/* Writes text to path in one write: 0 or the errno. */
static int put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = w == (ssize_t)n ? 0 : w < 0 ? errno : EIO;
    close(fd);
    return e;
}

/* The first line of path, without its newline, or "" if unreadable. */
static void get_line(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)cap, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static bool exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void warn(const char *step, const char *path, int e)
{
    cc_log(CC_LOG_WARN, NULL, "bcrypt workers get no idle cgroup; they still run at SCHED_IDLE",
           "{s:s, s:s, s:s}", "step", step, "path", path, "error", strerror(e));
}

/* The process's own cgroup on v2 ("0::/path" in /proc/self/cgroup). */
static bool own_v2_cgroup(char *out, size_t cap)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return false;
    char line[PATH_MAX + 16];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::/", 4) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        const char *path = strcmp(line + 3, "/") == 0 ? "" : line + 3;
        found = snprintf(out, cap, "/sys/fs/cgroup%s", path) < (int)cap;
    }
    fclose(f);
    return found;
}

/* Removes the empty children that processes killed before their stop
 * left behind; one that still holds threads refuses rmdir anyway. */
static void sweep(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + strlen(PREFIX), &end, 10);
        if (errno || *end || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/%s", parent, e->d_name);
        rmdir(p);
    }
    closedir(d);
}

/* On v2 the cpu controller must be on in the parent's subtree_control for
 * the child to have cpu.idle. It is left on at stop: turning it off would
 * take cpu.idle away from another replica's child in the same cgroup. */
static int enable_cpu(const char *parent, char *path, size_t cap)
{
    snprintf(path, cap, "%s/cgroup.subtree_control", parent);
    char line[256], *save = NULL;
    get_line(path, line, sizeof line);
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save))
        if (strcmp(t, "cpu") == 0)
            return 0;
    return put(path, "+cpu");
}

/* Makes the child (group) with cpu.idle 1; 0 or the errno, with the step
 * that failed in *step and its file in p. */
static int make_group(bool v2, const char **step, char *p, size_t cap)
{
    snprintf(p, cap, "%s", group);
    *step = "mkdir";
    if (mkdir(group, 0755) != 0 && errno != EEXIST)
        return errno;
    int e = 0;
    *step = "write threaded";
    snprintf(p, cap, "%s/cgroup.type", group);
    if (v2 && (e = put(p, "threaded")) != 0)
        return e;
    *step = "write 1";
    snprintf(p, cap, "%s/cpu.idle", group);
    return put(p, "1");
}

/* The cgroup to make the child in, from the setting; false (warned) when
 * there is none. */
static bool find_parent(const char *setting, char *parent, size_t cap, bool *v2)
{
    if (strcmp(setting, "auto") != 0) {
        snprintf(parent, cap, "%s", setting);
        *v2 = !exists(parent, "tasks") && exists(parent, "cgroup.threads");
        if (!*v2 && !exists(parent, "tasks")) {
            warn("find tasks or cgroup.threads in bcrypt-cgroup", parent, ENOENT);
            return false;
        }
    } else if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
        *v2 = true;
        if (!own_v2_cgroup(parent, cap)) {
            warn("find the process's cgroup", "/proc/self/cgroup", ENOENT);
            return false;
        }
    } else {
        *v2 = false;
        snprintf(parent, cap, "/sys/fs/cgroup/cpu");
        if (!exists(parent, "cpu.idle")) {
            warn("find cpu.idle", parent, ENOENT);
            return false;
        }
    }
    return true;
}

void user_idle_open(const char *setting)
{
    group[0] = attach[0] = '\0';
    atomic_store(&joined, 0);
    atomic_store(&join_err, 0);
    char parent[PATH_MAX], p[PATH_MAX + 64];
    bool v2;
    if (strcmp(setting, "off") == 0 || !find_parent(setting, parent, sizeof parent, &v2))
        return;
    int e = v2 ? enable_cpu(parent, p, sizeof p) : 0;
    if (e != 0) {
        warn("write +cpu", p, e);
        return;
    }
    sweep(parent);
    if (snprintf(group, sizeof group, "%s/" PREFIX "%ld", parent, (long)getpid()) >=
        (int)sizeof group) {
        warn("name a child of", parent, ENAMETOOLONG);
        group[0] = '\0';
        return;
    }
    const char *step;
    if ((e = make_group(v2, &step, p, sizeof p)) != 0) {
        warn(step, p, e);
        rmdir(group);
        group[0] = '\0';
        return;
    }
    snprintf(attach, sizeof attach, "%s/%s", group, v2 ? "cgroup.threads" : "tasks");
}

bool user_idle_join(void)
{
    if (!group[0])
        return false;
    char tid[24];
    snprintf(tid, sizeof tid, "%ld", (long)gettid());
    int e = put(attach, tid);
    if (e == 0)
        atomic_fetch_add(&joined, 1);
    else
        atomic_store(&join_err, e);
    return e == 0;
}

void user_idle_report(int workers)
{
    int n = atomic_load(&joined), e = atomic_load(&join_err);
    if (e != 0)
        warn("move a worker thread", attach, e);
    if (n > 0)
        cc_log(CC_LOG_INFO, NULL, "bcrypt workers run in an idle cgroup (cpu.idle 1)",
               "{s:s, s:i, s:i}", "cgroup", group, "threads", n, "workers", workers);
    else
        cc_log(CC_LOG_INFO, NULL, "bcrypt workers run in cc-user's own cgroup, at SCHED_IDLE",
               "{s:i}", "workers", workers);
}

void user_idle_close(void)
{
    if (group[0]) {
        /* pthread_join wakes when a thread drops its memory, which the
         * kernel does before it unlinks the thread from its cgroup, so the
         * group may look busy for a moment (not seen on 6.18, but cheap):
         * retry EBUSY for up to a second. */
        int e = 0;
        for (int tries = 0; tries < 500; tries++) {
            e = rmdir(group) == 0 ? 0 : errno;
            if (e != EBUSY)
                break;
            nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
        }
        if (e != 0)
            warn("rmdir", group, e);
    }
    group[0] = attach[0] = '\0';
}
