/* The host side of the sandbox: one bubblewrap box per submission (and one
 * per validator), a cgroup per box for memory, processes and CPU, and the
 * request/reply protocol with cc-judge-runner inside.
 *
 * The host never opens a path inside the box. Programs read their input
 * from sealed memfds and write into memfds or pipes the host created, so
 * there is no file the box could turn into a symlink, FIFO or device under
 * our feet; the few feedback files of a validator are read by the runner,
 * with O_NOFOLLOW and a size cap, and come back inside the reply. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The host uid boxes run as when the judge itself runs as root: nobody.
 * Inside the box's user namespace it is uid 65534 too, mapped to this. */
#define BOX_HOST_UID 65534
/* Room for bwrap's monitor, the runner and the kernel's own accounting
 * on top of what the program may use. */
#define BOX_MEM_SLACK (48ull << 20)
#define BOX_PIDS_SLACK 4
/* How often the host compares the cgroup's CPU time with the limit. */
#define WATCH_MS 50
/* Each run's fresh /dev/shm (POSIX shared memory, semaphores): small, and
 * within the memory limit (see send_run). */
#define BOX_SHM_MAX (16ull << 20)

enum { CG_MEM, CG_PIDS, CG_CPU, CG_COUNT };
static const char *const cg_ctrl[CG_COUNT] = {"memory", "pids", "cpuacct"};

struct box {
    pid_t pid;      /* bwrap */
    int sock;
    int err_fd;     /* memfd with bwrap's stderr, read when the box fails */
    bool dead;
    uint32_t seq;   /* of the last request sent; replies must repeat it */
    int cg;         /* 0 none, 1 cgroup v1, 2 cgroup v2 */
    char *cg_dir[CG_COUNT];
    uint64_t mem_limit, pids_limit;
};

static atomic_uint box_seq;

bool box_has_cgroup(const box *b)
{
    return b->cg != 0;
}

char *judge__default_runner(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return judge__xstrdup("cc-judge-runner");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        slash[1] = '\0';
    return judge__xasprintf("%scc-judge-runner", slash ? exe : "");
}

/* ---- cgroup files ---------------------------------------------------------- */

static int cg_write(const char *dir, const char *file, const char *val)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(val) ? 0 : -1;
}

static bool cg_read(const char *dir, const char *file, char *buf, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* Finds "key N" in a flat-keyed cgroup file. */
static uint64_t cg_key(const char *dir, const char *file, const char *key)
{
    char buf[4096];
    if (!cg_read(dir, file, buf, sizeof buf))
        return 0;
    size_t kl = strlen(key);
    for (char *p = buf; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == ' ')
            return strtoull(p + kl + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

/* Total CPU time of the box's cgroup in microseconds. */
static uint64_t cg_cpu_us(const box *b)
{
    char buf[64];
    if (b->cg == 1) {
        if (!cg_read(b->cg_dir[CG_CPU], "cpuacct.usage", buf, sizeof buf))
            return 0;
        return strtoull(buf, NULL, 10) / 1000u;
    }
    return cg_key(b->cg_dir[CG_MEM], "cpu.stat", "usage_usec");
}

static uint64_t cg_oom_kills(const box *b)
{
    if (b->cg == 1)
        return cg_key(b->cg_dir[CG_MEM], "memory.oom_control", "oom_kill");
    return cg_key(b->cg_dir[CG_MEM], "memory.events", "oom_kill");
}

/* Our own cgroup path for a controller, from /proc/self/cgroup. */
static char *self_cgroup(const char *ctrl)
{
    char buf[8192];
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *lsave = NULL;
    for (char *line = strtok_r(buf, "\n", &lsave); line; line = strtok_r(NULL, "\n", &lsave)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *list = c1 + 1;
        if (ctrl == NULL ? list[0] == '\0' : false)
            return judge__xstrdup(c2 + 1);
        if (ctrl) {
            /* The controller list is comma separated ("cpu,cpuacct"). */
            char *save = NULL, *dup = judge__xstrdup(list);
            for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (!strcmp(t, ctrl)) {
                    free(dup);
                    return judge__xstrdup(c2 + 1);
                }
            free(dup);
        }
    }
    return NULL;
}

static void cg_remove(box *b)
{
    for (int i = 0; i < CG_COUNT; i++) {
        if (!b->cg_dir[i])
            continue;
        /* Kill whatever is still in the group, then remove it; a process in
         * the middle of exiting can keep rmdir busy for a moment. */
        for (int tries = 0; tries < 200; tries++) {
            char buf[8192];
            bool any = false;
            if (cg_read(b->cg_dir[i], "cgroup.procs", buf, sizeof buf)) {
                for (char *p = buf; *p;) {
                    char *end;
                    long pid = strtol(p, &end, 10);
                    if (end == p)
                        break;
                    if (pid > 1) {
                        kill((pid_t)pid, SIGKILL);
                        any = true;
                    }
                    p = end;
                    while (*p == '\n')
                        p++;
                }
            }
            if (rmdir(b->cg_dir[i]) == 0 || errno == ENOENT)
                break;
            struct timespec ts = {0, any ? 2000000 : 10000000};
            nanosleep(&ts, NULL);
        }
        free(b->cg_dir[i]);
        b->cg_dir[i] = NULL;
    }
}

/* Whether pid is a process that still runs: not gone, and not a zombie
 * (kill(pid, 0) succeeds on a zombie, and a judge killed with SIGKILL stays
 * one until whoever started it reaps it). */
static bool pid_running(long pid)
{
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')'. */
    const char *r = strrchr(buf, ')');
    return !(r && r[1] == ' ' && r[2] == 'Z');
}

/* ---- cgroup v2: where the boxes' groups go ------------------------------------------
 * A box's group is a child of the judge's own group. In a container given a
 * delegated, writable cgroup v2 subtree (k8s/README.md, "The judge's
 * privileges") the judge's group is the root of its cgroup namespace and
 * holds the judge itself; a group with processes in it cannot enable the
 * memory and pids controllers for its children (cgroup v2's "no internal
 * processes" rule). The judge then moves the group's processes into a leaf,
 * V2_LEAF, and enables the controllers for the children, the boxes' groups
 * among them. A judge started from that leaf (a second cc-judge in the same
 * container) puts its boxes beside it, in the leaf's parent. Only the root
 * of a cgroup namespace is rearranged this way: a group elsewhere belongs
 * to whoever manages that tree (systemd), and without controllers there
 * the judge falls back to rlimits. */
#define V2_LEAF "cc-judge.leaf"

static pthread_once_t v2_once = PTHREAD_ONCE_INIT;
static char *v2_dir; /* parent of the boxes' groups, NULL = none */

static bool has_word(const char *dir, const char *file, const char *word)
{
    char buf[1024];
    if (!cg_read(dir, file, buf, sizeof buf))
        return false;
    size_t wl = strlen(word);
    for (char *p = buf; (p = strstr(p, word)) != NULL; p += wl)
        if ((p == buf || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
            return true;
    return false;
}

static void v2_delegate(const char *dir)
{
    char *leaf = judge__xasprintf("%s/%s", dir, V2_LEAF);
    if (mkdir(leaf, 0755) != 0 && errno != EEXIST) {
        free(leaf);
        return;
    }
    /* Every process of the group, ours included (all its threads move
     * with it); one may fork meanwhile, hence the rounds. */
    for (int round = 0; round < 20; round++) {
        char buf[8192];
        if (!cg_read(dir, "cgroup.procs", buf, sizeof buf) || !buf[0])
            break;
        for (char *p = buf; *p;) {
            char *end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            char v[32];
            snprintf(v, sizeof v, "%ld", pid);
            cg_write(leaf, "cgroup.procs", v);
            p = end;
            while (*p == '\n')
                p++;
        }
    }
    cg_write(dir, "cgroup.subtree_control", "+memory +pids");
    free(leaf);
}

static void v2_setup(void)
{
    char *self = self_cgroup(NULL);
    if (!self)
        return;
    char *dir = judge__xasprintf("/sys/fs/cgroup%s", strcmp(self, "/") ? self : "");
    char *slash = strrchr(dir, '/');
    bool in_leaf = slash && !strcmp(slash + 1, V2_LEAF);
    if (in_leaf)
        *slash = '\0';
    /* The root of the namespace, and not the host's root group (which has
     * no memory.max and may hold processes). */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/memory.max", dir);
    if ((in_leaf || !strcmp(self, "/")) && access(probe, F_OK) == 0 &&
        !(has_word(dir, "cgroup.subtree_control", "memory") &&
          has_word(dir, "cgroup.subtree_control", "pids")))
        v2_delegate(dir);
    free(self);
    v2_dir = dir;
}

static const char *v2_parent(void)
{
    pthread_once(&v2_once, v2_setup);
    return v2_dir;
}

/* Removes the cgroups of boxes whose judge died without closing them (a
 * worker killed with SIGKILL): named cc-judge-<pid>-<n>, kept while <pid>
 * lives. Their leftover processes are killed first. */
void judge_clean_stale_sandboxes(void)
{
    jstrv parents = {0};
    struct stat st;
    bool v1 = stat("/sys/fs/cgroup/memory", &st) == 0 && S_ISDIR(st.st_mode);
    for (int i = 0; v1 && i < CG_COUNT; i++) {
        char *self = self_cgroup(cg_ctrl[i]);
        if (!self)
            continue;
        const char *rel = strcmp(self, "/") ? self : "";
        jstrv_push_own(&parents, judge__xasprintf("/sys/fs/cgroup/%s%s", cg_ctrl[i], rel));
        free(self);
    }
    if (!v1 && v2_parent())
        jstrv_push(&parents, v2_parent());
    for (size_t i = 0; i < parents.n; i++) {
        jstrv names = {0};
        if (judge__list_dir(parents.v[i], &names) < 0)
            continue;
        for (size_t k = 0; k < names.n; k++) {
            const char *n = names.v[k];
            if (strncmp(n, "cc-judge-", 9) != 0)
                continue;
            char *end = NULL;
            long pid = strtol(n + 9, &end, 10);
            if (pid <= 0 || !end || *end != '-' || pid == (long)getpid())
                continue;
            if (pid_running(pid))
                continue;
            box b = {0};
            b.cg_dir[0] = judge__xasprintf("%s/%s", parents.v[i], n);
            cg_remove(&b);
        }
        jstrv_free(&names);
    }
    jstrv_free(&parents);
}

/* mkdir for a box's cgroup. This process never uses a name twice, so a
 * folder that exists already was left by an earlier judge that had the
 * same pid (pids are reused; one killed with SIGKILL leaves its groups
 * until a serve cleans them): its processes are killed and it is removed,
 * so the box gets a fresh group with its own limits. */
static int cg_mkdir(const char *dir)
{
    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    box stale = {0};
    stale.cg_dir[0] = judge__xstrdup(dir);
    cg_remove(&stale);
    return mkdir(dir, 0755);
}

/* Creates the box's cgroups; returns false (and leaves none behind) when
 * no writable hierarchy exists, and the box falls back to rlimits. */
static bool cg_create(box *b)
{
    unsigned seq = atomic_fetch_add(&box_seq, 1);
    char name[64];
    snprintf(name, sizeof name, "cc-judge-%ld-%u", (long)getpid(), seq);
    struct stat st;
    if (stat("/sys/fs/cgroup/memory", &st) == 0 && S_ISDIR(st.st_mode)) {
        for (int i = 0; i < CG_COUNT; i++) {
            char *self = self_cgroup(cg_ctrl[i]);
            char *dir = judge__xasprintf("/sys/fs/cgroup/%s%s/%s", cg_ctrl[i],
                                         self && strcmp(self, "/") ? self : "", name);
            free(self);
            if (cg_mkdir(dir) != 0) {
                free(dir);
                cg_remove(b);
                return false;
            }
            b->cg_dir[i] = dir;
        }
        b->cg = 1;
        /* Without swap accounting memsw may be absent; that is fine. */
        cg_write(b->cg_dir[CG_MEM], "memory.swappiness", "0");
        return true;
    }
    /* cgroup v2: one directory holds every controller. */
    const char *parent = v2_parent();
    if (!parent)
        return false;
    char *dir = judge__xasprintf("%s/%s", parent, name);
    if (cg_mkdir(dir) != 0) {
        free(dir);
        return false;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/memory.max", dir);
    if (access(path, W_OK) != 0) {
        rmdir(dir);
        free(dir);
        return false;
    }
    b->cg_dir[CG_MEM] = dir;
    b->cg = 2;
    cg_write(dir, "memory.swap.max", "0");
    return true;
}

bool judge_sandbox_cgroups(void)
{
    box b = {0};
    if (!cg_create(&b))
        return false;
    cg_remove(&b);
    return true;
}

static int cg_set_memory(box *b, uint64_t bytes)
{
    if (b->mem_limit == bytes)
        return 0;
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)bytes);
    int rc;
    if (b->cg == 1) {
        /* memsw must never be below the memory limit: raise it first when
         * growing, lower it last when shrinking. */
        bool grow = bytes > b->mem_limit;
        if (grow)
            cg_write(b->cg_dir[CG_MEM], "memory.memsw.limit_in_bytes", v);
        rc = cg_write(b->cg_dir[CG_MEM], "memory.limit_in_bytes", v);
        if (!grow)
            cg_write(b->cg_dir[CG_MEM], "memory.memsw.limit_in_bytes", v);
    } else {
        rc = cg_write(b->cg_dir[CG_MEM], "memory.max", v);
    }
    if (rc == 0)
        b->mem_limit = bytes;
    return rc;
}

static void cg_set_pids(box *b, uint64_t n)
{
    if (b->pids_limit == n)
        return;
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)n);
    if (cg_write(b->cg_dir[b->cg == 1 ? CG_PIDS : CG_MEM], "pids.max", v) == 0)
        b->pids_limit = n;
}

/* ---- starting the box -------------------------------------------------------- */

/* Host paths a language runtime reads besides /usr; each is bound
 * read-only when it exists. Nothing else of /etc is visible. */
static const char *const etc_binds[] = {
    "/etc/alternatives", "/etc/ld.so.cache",  "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/java-17-openjdk", "/etc/mono",     "/etc/php",        "/etc/fpc.cfg",
    "/etc/fpc-3.2.2.cfg", "/etc/ocamlfind.conf", "/etc/localtime", "/var/lib/ghc",
};

/* The bwrap command line of a box: namespaces, the read-only toolchains,
 * size-capped /box, /tmp and /feedback, the runner copied from fd 5 (so
 * bwrap, running as nobody, needs no permission on the folders above it;
 * the sources arrive later as an archive over the socket), and /dev,
 * /feedback and / read-only: a program can leave nothing there for the
 * next test. The runner stacks a fresh tmpfs on /dev/shm for every run
 * and on /feedback for every validator run; the device nodes are their
 * own mounts and stay usable. */
static void bwrap_argv(const box_config *cfg, jstrv *av)
{
    const char *bwrap = cfg->bwrap_path ? cfg->bwrap_path : "/usr/bin/bwrap";
    const char *fixed[] = {bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                           "--as-pid-1", "--uid", "65534", "--gid", "65534", "--hostname", "box",
                           "--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN", "--cap-add",
                           "CAP_SETPCAP", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin",
                           "/bin", "--symlink", "usr/sbin", "/sbin", "--symlink", "usr/lib",
                           "/lib", "--symlink", "usr/lib64", "/lib64"};
    for (size_t i = 0; i < JUDGE_LEN(fixed); i++)
        jstrv_push(av, fixed[i]);
    for (size_t i = 0; i < JUDGE_LEN(etc_binds); i++)
        if (access(etc_binds[i], F_OK) == 0) {
            jstrv_push(av, "--ro-bind");
            jstrv_push(av, etc_binds[i]);
            jstrv_push(av, etc_binds[i]);
        }
    const char *mid[] = {"--proc", "/proc", "--dev", "/dev"};
    for (size_t i = 0; i < JUDGE_LEN(mid); i++)
        jstrv_push(av, mid[i]);
    jstrv_push(av, "--size");
    jstrv_push_own(av, judge__xasprintf("%llu", (unsigned long long)cfg->box_bytes));
    jstrv_push(av, "--tmpfs");
    jstrv_push(av, "/box");
    jstrv_push(av, "--size");
    jstrv_push_own(av, judge__xasprintf("%llu", (unsigned long long)cfg->tmp_bytes));
    jstrv_push(av, "--tmpfs");
    jstrv_push(av, "/tmp");
    const char *end[] = {"--size", "4194304", "--tmpfs", "/feedback",
                         "--perms", "0555", "--ro-bind-data", "5", "/runner",
                         "--remount-ro", "/dev", "--remount-ro", "/feedback", "--remount-ro", "/",
                         "--chdir", "/box", "/runner"};
    for (size_t i = 0; i < JUDGE_LEN(end); i++)
        jstrv_push(av, end[i]);
}

/* What the forked child of box_open needs, prepared before the fork. */
typedef struct {
    const jstrv *av;
    int ctl, runner, err;           /* become fds 3, 5 and 2 */
    char procs[CG_COUNT][4200];     /* cgroup.procs files to join, "" for none */
    bool root;
} bwrap_child;

/* In the child of box_open: descriptors in place, the box's cgroups
 * joined, privileges dropped, bwrap started. Only async-signal-safe calls:
 * the judge may be multi-threaded. */
static void exec_bwrap(const bwrap_child *k) __attribute__((noreturn));
static void exec_bwrap(const bwrap_child *k)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
        (k->err >= 0 && dup2(k->err, 2) < 0) || dup2(k->ctl, 3) < 0 || dup2(k->runner, 5) < 0)
        _exit(126);
    close_range(6, ~0u, 0);
    for (int i = 0; i < CG_COUNT; i++) {
        if (!k->procs[i][0])
            continue;
        int fd = open(k->procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            _exit(125);
        close(fd);
    }
    if (k->root) {
        /* bwrap and the runner must survive a program's OOM; the runner
         * lets each program raise its own score. */
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "-1000", 5) < 0) {
                /* Not fatal: the cgroup still reports the OOM kill. */
            }
            close(fd);
        }
        gid_t g = BOX_HOST_UID;
        if (setgroups(1, &g) != 0 || setresgid(BOX_HOST_UID, BOX_HOST_UID, BOX_HOST_UID) != 0 ||
            setresuid(BOX_HOST_UID, BOX_HOST_UID, BOX_HOST_UID) != 0)
            _exit(124);
    }
    char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};
    execve(k->av->v[0], k->av->v, envp);
    _exit(123);
}

/* Moves fd above the numbers the child dup2s onto, so no dup2 overwrites
 * a descriptor still to be moved. */
static int park(int fd)
{
    if (fd < 0)
        return fd;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    if (d < 0)
        return fd;
    close(fd);
    return d;
}

cc_status box_open(const box_config *cfg, box **out)
{
    *out = NULL;
    box *b = judge__xcalloc(1, sizeof *b);
    b->pid = -1;
    b->sock = -1;
    b->err_fd = -1;
    cg_create(b);
    int sv[2] = {-1, -1};
    int runner_fd = open(cfg->runner_path, O_RDONLY | O_CLOEXEC);
    cc_status s = CC_OK;
    if (runner_fd < 0)
        s = cc_err_sys("open the sandbox runner");
    else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        s = cc_err_sys("socketpair");
    jstrv av = {0};
    bwrap_child k = {.av = &av, .root = geteuid() == 0};
    pid_t pid = -1;
    if (s == CC_OK) {
        bwrap_argv(cfg, &av);
        b->err_fd = memfd_create("bwrap-stderr", MFD_CLOEXEC);
        k.ctl = sv[1] = park(sv[1]);
        k.runner = runner_fd = park(runner_fd);
        k.err = b->err_fd = park(b->err_fd);
        for (int i = 0; i < CG_COUNT; i++)
            if (b->cg_dir[i])
                snprintf(k.procs[i], sizeof k.procs[i], "%s/cgroup.procs", b->cg_dir[i]);
        pid = fork();
        if (pid < 0)
            s = cc_err_sys("fork");
        else if (pid == 0)
            exec_bwrap(&k);
    }
    jstrv_free(&av);
    if (runner_fd >= 0)
        close(runner_fd);
    if (sv[1] >= 0)
        close(sv[1]);
    if (s != CC_OK) {
        if (sv[0] >= 0)
            close(sv[0]);
        if (b->err_fd >= 0)
            close(b->err_fd);
        cg_remove(b);
        free(b);
        return s;
    }
    b->pid = pid;
    b->sock = sv[0];
    *out = b;
    return CC_OK;
}

static char *bwrap_stderr(box *b)
{
    if (b->err_fd < 0)
        return judge__xstrdup("");
    size_t len;
    char *s = judge__read_fd(b->err_fd, 2000, &len, NULL);
    while (len && (s[len - 1] == '\n'))
        s[--len] = '\0';
    return s;
}

static cc_status box_failed(box *b, const char *what)
{
    b->dead = true;
    /* Give bwrap a moment to print why it failed. */
    int st;
    for (int i = 0; i < 50 && waitpid(b->pid, &st, WNOHANG) == 0; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    char *msg = bwrap_stderr(b);
    cc_status s = cc_err_set(CC_INTERNAL, "sandbox: %s%s%s", what, msg[0] ? ": " : "", msg);
    free(msg);
    return s;
}

/* Sends op (0 = already sent, numbered b->seq) and waits for the runner's
 * plain reply to it. */
static cc_status simple_op(box *b, uint32_t op)
{
    if (b->dead)
        return cc_err_set(CC_INTERNAL, "sandbox is gone");
    struct rp_req rq;
    memset(&rq, 0, sizeof rq);
    rq.magic = RP_MAGIC;
    rq.op = op;
    if (op)
        rq.seq = ++b->seq;
    if (op && send(b->sock, &rq, sizeof rq, MSG_NOSIGNAL) != (ssize_t)sizeof rq)
        return box_failed(b, "cannot talk to the runner");
    struct rp_reply rep;
    for (;;) {
        struct pollfd pf = {.fd = b->sock, .events = POLLIN};
        if (poll(&pf, 1, 30000) <= 0)
            return box_failed(b, "the runner does not answer");
        ssize_t n = recv(b->sock, &rep, sizeof rep, 0);
        if (n < (ssize_t)sizeof rep || rep.magic != RP_MAGIC)
            return box_failed(b, "the runner did not start");
        if (rep.seq == b->seq)
            break;
        /* An answer to an earlier request: not ours (see proto.h). */
    }
    if (rep.flags & RP_R_SETUP_FAILED)
        return cc_err_set(CC_INTERNAL, "sandbox: runner operation %u failed: %s", op ? op : 3,
                          strerror((int)rep.err));
    return CC_OK;
}

cc_status box_prepare(box *b, int archive_fd)
{
    if (b->dead)
        return cc_err_set(CC_INTERNAL, "sandbox is gone");
    struct rp_req rq;
    memset(&rq, 0, sizeof rq);
    rq.magic = RP_MAGIC;
    rq.op = RP_OP_PREPARE;
    rq.seq = ++b->seq;
    rq.nfds = 1;
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = &rq, .iov_len = sizeof rq};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &archive_fd, sizeof archive_fd);
    if (sendmsg(b->sock, &mh, MSG_NOSIGNAL) < 0)
        return box_failed(b, "cannot talk to the runner");
    return simple_op(b, 0);
}

cc_status box_seal(box *b)
{
    return simple_op(b, RP_OP_SEAL);
}

/* ---- running ----------------------------------------------------------------- */

typedef struct {
    box *b;
    const box_run_req *rq;
    box_run_res *res;
    uint32_t seq;            /* of the RUN request */
    bool done, kill_sent, released;
    uint64_t cpu0, oom0;
} run_slot;

/* Closes the descriptors of close_mask, each distinct one once (one pipe
 * end may be both stdout and stderr), and only once per run.
 *
 * The host keeps them open until the run's reply has been read. In an
 * interactive run they are one side's ends of the two pipes, so the other
 * side sees end of file, EPIPE or SIGPIPE only after this side's runner
 * stamped its end and replied: whichever side dies of the closed pipe is
 * stamped after the one that closed it, however late the scheduler runs
 * either runner. problemtools' interactive holds the write ends until it
 * has reaped their owner for the same reason, and DOMjudge's runpipe
 * passes the end of file on only after noting who exited first. */
static void release_fds(run_slot *s)
{
    const box_run_req *rq = s->rq;
    if (s->released)
        return;
    s->released = true;
    for (int i = 0; i < rq->nfds; i++) {
        if (!(rq->close_mask & (1u << i)))
            continue;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = (rq->close_mask & (1u << j)) && rq->fds[j] == rq->fds[i];
        if (!seen)
            close(rq->fds[i]);
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static cc_status send_run(run_slot *s)
{
    box *b = s->b;
    const box_run_req *rq = s->rq;
    if (b->dead)
        return cc_err_set(CC_INTERNAL, "sandbox is gone");
    static _Thread_local char buf[RP_MAX_MSG] __attribute__((aligned(16)));
    struct rp_req *m = (struct rp_req *)buf;
    memset(m, 0, sizeof *m);
    m->magic = RP_MAGIC;
    m->op = RP_OP_RUN;
    m->flags = rq->flags;
    m->nfds = (uint32_t)rq->nfds;
    m->cpu_ms = rq->cpu_ms;
    m->wall_ms = rq->wall_ms;
    m->fsize_bytes = rq->fsize_bytes;
    m->stack_bytes = rq->stack_bytes;
    m->nofile = rq->nofile ? rq->nofile : 64;
    m->tmp_bytes = rq->tmp_bytes ? rq->tmp_bytes : (64u << 20);
    /* /dev/shm counts against the memory limit: its pages are charged to
     * the box's cgroup, and without one the address space limit is that
     * much lower. A quarter of the limit at most, so a small limit keeps
     * room for the program itself. */
    m->shm_bytes = BOX_SHM_MAX;
    if (rq->memory_bytes && m->shm_bytes > rq->memory_bytes / 4)
        m->shm_bytes = rq->memory_bytes / 4 > (1u << 20) ? rq->memory_bytes / 4 : (1u << 20);
    if (b->cg) {
        if (cg_set_memory(b, rq->memory_bytes + BOX_MEM_SLACK) != 0) {
            /* The old limit stays; MLE is still told from the peak RSS. */
        }
        cg_set_pids(b, rq->pids + BOX_PIDS_SLACK);
        if (rq->memory_bytes)
            m->flags |= RP_F_OOM_FIRST;
        s->cpu0 = cg_cpu_us(b);
        s->oom0 = cg_oom_kills(b);
    } else {
        /* No cgroup: rlimits are the fallback, address space for the
         * languages where that is meaningful, a process count per box;
         * the runner counts the CPU time of every process of the run. */
        if (rq->address_space_limit)
            m->as_bytes = rq->memory_bytes > 2 * m->shm_bytes ? rq->memory_bytes - m->shm_bytes
                                                              : rq->memory_bytes;
        m->nproc = rq->pids + BOX_PIDS_SLACK;
        m->flags |= RP_F_TREE_CPU;
    }
    if (rq->cwd)
        snprintf(m->cwd, sizeof m->cwd, "%s", rq->cwd);
    size_t off = 0, cap = sizeof buf - sizeof *m;
    for (size_t i = 0; i < rq->argv->n; i++) {
        size_t l = strlen(rq->argv->v[i]) + 1;
        if (off + l > cap)
            return cc_err_set(CC_LIMIT, "command line too long");
        memcpy(m->blob + off, rq->argv->v[i], l);
        off += l;
    }
    for (size_t i = 0; rq->env && i < rq->env->n; i++) {
        size_t l = strlen(rq->env->v[i]) + 1;
        if (off + l > cap)
            return cc_err_set(CC_LIMIT, "environment too long");
        memcpy(m->blob + off, rq->env->v[i], l);
        off += l;
    }
    m->argc = (uint32_t)rq->argv->n;
    m->envc = rq->env ? (uint32_t)rq->env->n : 0;
    m->blob_len = (uint32_t)off;

    char cbuf[CMSG_SPACE(sizeof(int) * RP_MAX_FDS)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof *m + off};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (rq->nfds > 0) {
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)rq->nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)rq->nfds);
        memcpy(CMSG_DATA(c), rq->fds, sizeof(int) * (size_t)rq->nfds);
    }
    m->seq = s->seq = ++b->seq;
    if (sendmsg(b->sock, &mh, MSG_NOSIGNAL) < 0)
        return box_failed(b, "cannot talk to the runner");
    /* The close_mask descriptors stay open here until the reply: see
     * release_fds. */
    return CC_OK;
}

/* Asks the runner to kill the program of RUN number seq. The runner may
 * have answered that RUN already (the reply is on its way): it then drops
 * the KILL, which is never answered. */
static void send_kill(box *b, uint32_t seq)
{
    struct rp_req k;
    memset(&k, 0, sizeof k);
    k.magic = RP_MAGIC;
    k.op = RP_OP_KILL;
    k.seq = seq;
    send(b->sock, &k, sizeof k, MSG_NOSIGNAL);
}

void box__send_kill(box *b)
{
    send_kill(b, b->seq);
}

/* Reads one reply of the slot's box; *mine tells whether it answered the
 * slot's RUN (anything else is an answer to an earlier request, dropped). */
static cc_status read_reply(run_slot *s, bool *mine)
{
    static _Thread_local char buf[sizeof(struct rp_reply) + 3 * RP_FEEDBACK_CAP + 64]
        __attribute__((aligned(16)));
    box *b = s->b;
    *mine = true;
    ssize_t n = recv(b->sock, buf, sizeof buf, 0);
    struct rp_reply *rep = (struct rp_reply *)buf;
    if (n < (ssize_t)sizeof *rep || rep->magic != RP_MAGIC ||
        (size_t)n != sizeof *rep + rep->score_len + rep->judgemsg_len + rep->multiplier_len)
        return box_failed(b, "the runner died");
    if (rep->seq != s->seq) {
        *mine = false;
        return CC_OK;
    }
    box_run_res *r = s->res;
    r->flags = rep->flags;
    r->exit_code = rep->exit_code;
    r->term_signal = rep->term_signal;
    r->err = (int)rep->err;
    r->cpu_us = rep->cpu_us;
    r->wall_us = rep->wall_us;
    r->maxrss_kib = rep->maxrss_kib;
    r->end_us = rep->end_us;
    const char *d = rep->data;
    if (rep->score_len)
        r->score = judge__xstrndup(d, rep->score_len);
    d += rep->score_len;
    if (rep->judgemsg_len)
        r->judgemsg = judge__xstrndup(d, rep->judgemsg_len);
    d += rep->judgemsg_len;
    if (rep->multiplier_len)
        r->multiplier = judge__xstrndup(d, rep->multiplier_len);
    if (b->cg) {
        uint64_t cpu = cg_cpu_us(b) - s->cpu0;
        /* The cgroup sees every process of the program, including the
         * ones the program never waited for; rusage only the reaped ones. */
        if (cpu > r->cpu_us)
            r->cpu_us = cpu;
        r->oom = cg_oom_kills(b) > s->oom0;
    }
    if (r->flags & RP_R_CPU_LIMIT)
        r->cpu_exceeded = true;
    if (r->flags & RP_R_SETUP_FAILED)
        return cc_err_set(CC_INTERNAL, "sandbox: could not start the program (step %d): %s",
                          rep->exit_code, strerror((int)rep->err));
    return CC_OK;
}

static void drain(const box_run_req *rq, box_run_res *res)
{
    char buf[65536];
    ssize_t n = read(rq->drain_fd, buf, sizeof buf);
    if (n > 0 && res->drained.len < rq->drain_cap) {
        size_t take = (size_t)n;
        if (res->drained.len + take > rq->drain_cap)
            take = rq->drain_cap - res->drained.len;
        jstr_add(&res->drained, buf, take);
    }
}

static cc_status run_many(run_slot *slots, size_t n)
{
    cc_status st = CC_OK;
    size_t left = n;
    for (size_t i = 0; i < n; i++) {
        if (st == CC_OK)
            st = send_run(&slots[i]);
        if (st != CC_OK) {
            /* Of a pair half started, the side that did start still runs
             * (its peer's pipe ends, closed here, end it) and its reply is
             * still read, or it would be taken for the reply to the box's
             * next run. */
            slots[i].done = true;
            left--;
            release_fds(&slots[i]);
        }
    }
    uint64_t longest = 0;
    for (size_t i = 0; i < n; i++)
        if (slots[i].rq->wall_ms > longest)
            longest = slots[i].rq->wall_ms;
    /* The runner enforces the wall limit itself; this host-side deadline
     * only catches a runner that stopped answering. */
    uint64_t hard_deadline = mono_ms() + longest + 15000;
    while (left > 0) {
        struct pollfd pf[2 * 2];
        int map[2 * 2];
        int np = 0;
        bool watch = false;
        for (size_t i = 0; i < n; i++) {
            if (slots[i].done)
                continue;
            pf[np] = (struct pollfd){.fd = slots[i].b->sock, .events = POLLIN};
            map[np++] = (int)i;
            if (slots[i].rq->drain_fd >= 0) {
                pf[np] = (struct pollfd){.fd = slots[i].rq->drain_fd, .events = POLLIN};
                map[np++] = -(int)i - 1;
            }
            if (slots[i].b->cg)
                watch = true;
        }
        int rc = poll(pf, (nfds_t)np, watch ? WATCH_MS : 1000);
        if (rc < 0 && errno != EINTR) {
            st = cc_err_sys("poll");
            break;
        }
        for (int k = 0; rc > 0 && k < np; k++) {
            if (!pf[k].revents)
                continue;
            if (map[k] < 0) {
                run_slot *s = &slots[-map[k] - 1];
                drain(s->rq, s->res);
                continue;
            }
            run_slot *s = &slots[map[k]];
            bool mine;
            cc_status rs = read_reply(s, &mine);
            if (rs == CC_OK && !mine)
                continue;
            s->done = true;
            left--;
            release_fds(s);
            if (rs != CC_OK && st == CC_OK)
                st = rs;
        }
        /* CPU watchdog: the cgroup counts every thread and process, which
         * RLIMIT_CPU (per process) cannot. */
        for (size_t i = 0; i < n; i++) {
            run_slot *s = &slots[i];
            if (s->done || !s->b->cg || s->kill_sent)
                continue;
            if (cg_cpu_us(s->b) - s->cpu0 > s->rq->cpu_ms * 1000u + 20000u) {
                /* The run may have ended, its reply not yet read: the
                 * runner then ignores this KILL (proto.h). */
                send_kill(s->b, s->seq);
                s->kill_sent = true;
                s->res->cpu_exceeded = true;
            }
        }
        if (mono_ms() > hard_deadline) {
            for (size_t i = 0; i < n; i++)
                if (!slots[i].done) {
                    kill(slots[i].b->pid, SIGKILL);
                    slots[i].done = true;
                    if (st == CC_OK)
                        st = box_failed(slots[i].b, "the runner stopped answering");
                }
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        release_fds(&slots[i]);
    /* Whatever is still buffered in a drained pipe belongs to this run. */
    for (size_t i = 0; i < n; i++)
        if (slots[i].rq->drain_fd >= 0) {
            int fl = fcntl(slots[i].rq->drain_fd, F_GETFL);
            fcntl(slots[i].rq->drain_fd, F_SETFL, fl | O_NONBLOCK);
            size_t before;
            do {
                before = slots[i].res->drained.len;
                drain(slots[i].rq, slots[i].res);
            } while (slots[i].res->drained.len > before);
        }
    return st;
}

cc_status box_run(box *b, const box_run_req *rq, box_run_res *res)
{
    memset(res, 0, sizeof *res);
    run_slot s = {.b = b, .rq = rq, .res = res};
    return run_many(&s, 1);
}

cc_status box_run_pair(box *b1, const box_run_req *r1, box_run_res *o1, box *b2,
                       const box_run_req *r2, box_run_res *o2)
{
    memset(o1, 0, sizeof *o1);
    memset(o2, 0, sizeof *o2);
    run_slot s[2] = {{.b = b1, .rq = r1, .res = o1}, {.b = b2, .rq = r2, .res = o2}};
    return run_many(s, 2);
}

void box_run_res_clear(box_run_res *res)
{
    free(res->score);
    free(res->judgemsg);
    free(res->multiplier);
    jstr_free(&res->drained);
    memset(res, 0, sizeof *res);
}

void box_close(box *b)
{
    if (!b)
        return;
    if (b->sock >= 0) {
        struct rp_req rq;
        memset(&rq, 0, sizeof rq);
        rq.magic = RP_MAGIC;
        rq.op = RP_OP_EXIT;
        send(b->sock, &rq, sizeof rq, MSG_NOSIGNAL);
        close(b->sock);
    }
    if (b->pid > 0) {
        int st;
        bool gone = false;
        for (int i = 0; i < 200; i++) {
            pid_t r = waitpid(b->pid, &st, WNOHANG);
            if (r == b->pid || (r < 0 && errno == ECHILD)) {
                gone = true;
                break;
            }
            struct timespec ts = {0, i < 20 ? 500000 : 5000000};
            nanosleep(&ts, NULL);
        }
        if (!gone) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
        }
    }
    cg_remove(b);
    if (b->err_fd >= 0)
        close(b->err_fd);
    free(b);
}
