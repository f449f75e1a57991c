/* cc-judge-runner: the small trusted process inside one bubblewrap box.
 *
 * bwrap builds the namespaces once per submission and starts this program as
 * pid 1 of the box (--as-pid-1), uid 65534 of the box's user namespace, with
 * CAP_SYS_ADMIN and CAP_SETPCAP kept in that namespace only. Every program the
 * judge wants to run (compiler, test run, validator) is one RP_OP_RUN request
 * on fd 3; the runner starts it with clone(CLONE_VM | CLONE_VFORK |
 * CLONE_NEWPID) so the program is pid 1 of a nested pid namespace: it can
 * neither see nor signal nor ptrace the runner, and killing it kills every
 * process it left behind (setsid and double-fork escapes included). Before
 * execve the child drops every capability, sets no_new_privs, applies the
 * rlimits and the seccomp filter.
 *
 * The child shares the runner's memory until execve (CLONE_VM | CLONE_VFORK),
 * so it only makes system calls and writes its own stack; everything it needs
 * is prepared by the parent beforehand.
 *
 * Every run also gets its own IPC namespace (System V segments and
 * semaphores die with the run) and a fresh, small /dev/shm, so nothing a
 * test leaves behind reaches the next one, nor stays charged to the box's
 * memory.
 *
 * Without a cgroup (RP_F_TREE_CPU) the host cannot see the CPU time of
 * processes the program never waits for: when the init of a pid namespace
 * dies, the kernel reaps the rest with SIGCHLD ignored and their time is
 * added to nobody. Then the namespace's init is the runner's own code
 * (run_init): it starts the program, reaps every process that ends up its
 * child, and when the program has ended kills and reaps the rest, so its
 * children's rusage holds the CPU time of every process of the run. A
 * child that the kernel reaps by itself (its parent ignores SIGCHLD or set
 * SA_NOCLDWAIT) is counted nowhere, so in a submission's tests
 * (RP_F_NO_AUTOREAP) the seccomp filter turns rt_sigaction on SIGCHLD into
 * a no-op that reports success; a test that relies on a SIGCHLD handler
 * (dash's `wait` does) then waits in vain. Compilers and validators keep
 * their SIGCHLD handlers. While the run goes on, the init adds up the CPU
 * time of the box's processes from /proc and kills the run when the sum
 * passes cpu_ms. */
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CTL_FD 3
#define CHILD_STACK (256 * 1024)
#define COPY_MAX_DEPTH 8
#define COPY_MAX_FILES 2000
/* RP_F_TREE_CPU: how often the runner adds up the run's CPU time, and how
 * far past cpu_ms it lets the sum go (the host's cgroup watchdog uses the
 * same figures). */
#define TREE_WATCH_US 50000u
#define CPU_GRACE_US 20000u

static struct sock_fprog filter;      /* every program */
static struct sock_fprog filter_tree; /* RP_F_NO_AUTOREAP: also no SIGCHLD dispositions */
static char *child_stack;
static char *init_stack; /* RP_F_TREE_CPU: the run's init (see run_init) */
static uint32_t cur_seq; /* of the request being answered */

/* What the child needs, prepared by the parent so the child only reads. */
struct child_args {
    const struct rp_req *req;
    const struct sock_fprog *prog; /* the seccomp program to load */
    char **argv;
    char **envp;
    int fds[RP_MAX_FDS];
    int nfds;
    volatile int err;   /* errno of the step that failed, written by the child */
    volatile int stage; /* which step failed, for the reply's message */
};

static void die(const char *what)
{
    /* The host reads our stderr only when the box fails to come up, so a
     * plain line is enough. */
    fprintf(stderr, "cc-judge-runner: %s: %s\n", what, strerror(errno));
    _exit(120);
}

/* The seccomp policy. The namespaces already remove network, mounts and
 * other processes; the filter closes the kernel interfaces that namespaces
 * do not cover (keyrings, io_uring, bpf, perf, ptrace...) and keeps the
 * program from creating namespaces of its own. Default allow keeps every
 * language runtime working; the list is what a judged program never needs. */
static const int denied_syscalls[] = {
    SCMP_SYS(ptrace),          SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
    SCMP_SYS(keyctl),          SCMP_SYS(add_key),          SCMP_SYS(request_key),
    SCMP_SYS(bpf),             SCMP_SYS(perf_event_open),  SCMP_SYS(userfaultfd),
    SCMP_SYS(io_uring_setup),  SCMP_SYS(io_uring_enter),   SCMP_SYS(io_uring_register),
    SCMP_SYS(mount),           SCMP_SYS(umount2),          SCMP_SYS(pivot_root),
    SCMP_SYS(chroot),          SCMP_SYS(setns),            SCMP_SYS(unshare),
    SCMP_SYS(move_mount),      SCMP_SYS(open_tree),        SCMP_SYS(fsopen),
    SCMP_SYS(fsconfig),        SCMP_SYS(fsmount),          SCMP_SYS(fspick),
    SCMP_SYS(mount_setattr),   SCMP_SYS(swapon),           SCMP_SYS(swapoff),
    SCMP_SYS(reboot),          SCMP_SYS(kexec_load),       SCMP_SYS(kexec_file_load),
    SCMP_SYS(init_module),     SCMP_SYS(finit_module),     SCMP_SYS(delete_module),
    SCMP_SYS(acct),            SCMP_SYS(settimeofday),     SCMP_SYS(clock_settime),
    SCMP_SYS(clock_adjtime),   SCMP_SYS(adjtimex),         SCMP_SYS(syslog),
    SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(quotactl),
    SCMP_SYS(vhangup),         SCMP_SYS(fanotify_init),    SCMP_SYS(iopl),
    SCMP_SYS(ioperm),          SCMP_SYS(uselib),           SCMP_SYS(pidfd_getfd),
    SCMP_SYS(sethostname),     SCMP_SYS(setdomainname),    SCMP_SYS(lookup_dcookie),
};

/* Namespace flags a program may not pass to clone(). */
static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUSER,   CLONE_NEWPID,
                                         CLONE_NEWNET, CLONE_NEWIPC,    CLONE_NEWUTS,
                                         CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */};

static void build_filter(struct sock_fprog *out, bool no_autoreap)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        die("seccomp_init");
    int rc = 0;
    for (size_t i = 0; i < sizeof denied_syscalls / sizeof denied_syscalls[0]; i++)
        if (denied_syscalls[i] >= 0)
            rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied_syscalls[i], 0);
    for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                               SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    /* clone3 passes its flags in memory the filter cannot read; ENOSYS makes
     * glibc and Go fall back to clone(), which the rules above inspect. */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Only local sockets: no IPv4, IPv6, netlink, packet... even though the
     * empty network namespace has nothing to reach, loopback included. */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                           SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                           SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    /* Pushing bytes into a terminal's input queue is the classic escape from
     * a sandbox that shares a tty; there is no tty here, deny it anyway. */
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
    /* Counting every process without a cgroup (see the top): a parent
     * that ignores SIGCHLD (or sets SA_NOCLDWAIT) makes the kernel reap its
     * children at once, and their CPU time is added to nobody. Setting a
     * SIGCHLD disposition succeeds without doing anything; reading it
     * works. Only a program that relies on a SIGCHLD handler notices. */
    if (no_autoreap)
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(rt_sigaction), 2,
                               SCMP_A0(SCMP_CMP_EQ, SIGCHLD), SCMP_A1(SCMP_CMP_NE, 0));
    if (rc != 0) {
        errno = -rc;
        die("seccomp_rule_add");
    }
    /* Export once; every child loads the same program with one prctl. */
    int mfd = memfd_create("seccomp", MFD_CLOEXEC);
    if (mfd < 0 || seccomp_export_bpf(ctx, mfd) != 0)
        die("seccomp_export_bpf");
    off_t len = lseek(mfd, 0, SEEK_END);
    if (len <= 0 || len % (off_t)sizeof(struct sock_filter) != 0)
        die("seccomp program size");
    struct sock_filter *prog = malloc((size_t)len);
    if (!prog || pread(mfd, prog, (size_t)len, 0) != len)
        die("seccomp program read");
    close(mfd);
    out->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
    out->filter = prog;
    seccomp_release(ctx);
}

static int set_limit(int res, uint64_t soft, uint64_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    return setrlimit(res, &rl);
}

#define CHILD_FAIL(st)                                                                             \
    do {                                                                                           \
        a->err = errno;                                                                            \
        a->stage = (st);                                                                           \
        _exit(127);                                                                                \
    } while (0)

static int child_main(void *p)
{
    struct child_args *a = p;
    const struct rp_req *req = a->req;
    int tmp[RP_MAX_FDS];

    /* Move the received descriptors out of the way first so that dup2 onto
     * 0..n-1 never overwrites one that is still to be placed. */
    for (int i = 0; i < a->nfds; i++)
        if ((tmp[i] = fcntl(a->fds[i], F_DUPFD, 64)) < 0)
            CHILD_FAIL(1);
    for (int i = 0; i < a->nfds; i++)
        if (dup2(tmp[i], i) < 0)
            CHILD_FAIL(2);
    if (close_range((unsigned)a->nfds, ~0u, 0) != 0)
        CHILD_FAIL(3);
    if (setsid() < 0)
        CHILD_FAIL(4);
    if (chdir(req->cwd[0] ? req->cwd : "/box") != 0)
        CHILD_FAIL(5);
    if (req->flags & RP_F_OOM_FIRST) {
        /* Raising our own score needs no privilege; the runner stays at the
         * -1000 the host gave bwrap, so an OOM kill lands on the program. */
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "1000", 4) < 0) {
                /* Best effort: the cgroup still counts the OOM kill. */
            }
            close(fd);
        }
    }
    uint64_t cpu_s = (req->cpu_ms + 999) / 1000;
    if (cpu_s == 0)
        cpu_s = 1;
    if (set_limit(RLIMIT_CPU, cpu_s, cpu_s + 1) != 0 || set_limit(RLIMIT_CORE, 0, 0) != 0 ||
        set_limit(RLIMIT_NOFILE, req->nofile, req->nofile) != 0 ||
        set_limit(RLIMIT_FSIZE, req->fsize_bytes, req->fsize_bytes) != 0 ||
        set_limit(RLIMIT_MEMLOCK, 0, 0) != 0 || set_limit(RLIMIT_MSGQUEUE, 0, 0) != 0)
        CHILD_FAIL(6);
    if (req->stack_bytes && set_limit(RLIMIT_STACK, req->stack_bytes, req->stack_bytes) != 0)
        CHILD_FAIL(7);
    if (req->as_bytes && set_limit(RLIMIT_AS, req->as_bytes, req->as_bytes) != 0)
        CHILD_FAIL(8);
    if (req->nproc && set_limit(RLIMIT_NPROC, req->nproc, req->nproc) != 0)
        CHILD_FAIL(9);

    /* Drop every capability: ambient (bwrap set them so the runner keeps
     * them across its own execve), bounding, then the sets themselves. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        CHILD_FAIL(10);
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
            CHILD_FAIL(11);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0)
        CHILD_FAIL(12);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        CHILD_FAIL(13);
    if (!(req->flags & RP_F_NO_SECCOMP) &&
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, a->prog) != 0)
        CHILD_FAIL(14);
    execve(a->argv[0], a->argv, a->envp);
    CHILD_FAIL(15);
    return 127;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int fresh_tmpfs(const char *dir, uint64_t bytes, unsigned inodes)
{
    char opts[96];
    snprintf(opts, sizeof opts, "size=%llu,nr_inodes=%u,mode=0777",
             (unsigned long long)bytes, inodes);
    /* A lazy unmount cannot fail on a busy mount; the previous program's
     * pid namespace is gone by now anyway. */
    if (umount2(dir, MNT_DETACH) != 0 && errno != EINVAL)
        return -1;
    return mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts);
}

/* Reads one feedback file the validator may have written, refusing
 * anything but a regular file and reading at most RP_FEEDBACK_CAP bytes. */
static uint32_t read_feedback(const char *name, char *out)
{
    int dfd = open("/feedback", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return 0;
    struct stat st;
    ssize_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = pread(fd, out, RP_FEEDBACK_CAP, 0);
    close(fd);
    return n > 0 ? (uint32_t)n : 0;
}

/* Copies feedback/nextpass.in, when the validator wrote one (a regular
 * file, not followed through a link), to sink; true when it was there. */
static bool copy_nextpass(int sink)
{
    int dfd = open("/feedback", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return false;
    int fd = openat(dfd, "nextpass.in", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    static char buf[65536];
    for (off_t off = 0; ok;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t w = 0; ok && w < n;) {
            ssize_t k = write(sink, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            ok = k > 0;
            w += k > 0 ? k : 0;
        }
        off += n;
    }
    close(fd);
    return ok;
}

static void send_reply(struct rp_reply *rep, size_t len)
{
    rep->magic = RP_MAGIC;
    rep->seq = cur_seq;
    if (send(CTL_FD, rep, len, MSG_NOSIGNAL) < 0)
        _exit(0); /* the host is gone; bwrap's --die-with-parent follows */
}

static ssize_t recv_req(void *buf, size_t cap, int *fds, int *nfds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * RP_MAX_FDS)];
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(CTL_FD, &mh, MSG_CMSG_CLOEXEC);
    *nfds = 0;
    if (n <= 0)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < cnt; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfds < RP_MAX_FDS)
                fds[(*nfds)++] = fd;
            else
                close(fd);
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return -2;
    return n;
}

/* Splits the blob into argv and env; every string must end inside it. */
static bool split_blob(const struct rp_req *req, size_t msglen, char **argv, char **envp)
{
    if (req->argc == 0 || req->argc > 512 || req->envc > 256 ||
        sizeof *req + req->blob_len > msglen)
        return false;
    const char *p = req->blob, *end = req->blob + req->blob_len;
    for (uint32_t i = 0; i < req->argc + req->envc; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul)
            return false;
        if (i < req->argc)
            argv[i] = (char *)p;
        else
            envp[i - req->argc] = (char *)p;
        p = nul + 1;
    }
    argv[req->argc] = NULL;
    envp[req->envc] = NULL;
    return memchr(req->cwd, '\0', sizeof req->cwd) != NULL;
}

/* ---- watching a run -------------------------------------------------------------- */

/* CPU time so far of every process in the box but the runner: its own
 * time and that of the children it reaped, from /proc/<pid>/stat. A
 * process reaped between two reads may be missed or counted twice once;
 * the next sample is right again. Only the watchdog uses it: the reply's
 * figure is the exact rusage of the run's init. */
static uint64_t tree_cpu_us(pid_t runner)
{
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    uint64_t ticks = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == (long)runner)
            continue;
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* "pid (comm) state ppid ...": utime, stime, cutime and cstime are
         * fields 14 to 17, the 12th to 15th after the last ')'. */
        char *q = strrchr(buf, ')');
        for (int field = 3; q && field <= 14; field++)
            q = strchr(q + 1, ' '); /* the space before field `field` */
        for (int k = 0; q && k < 4; k++)
            ticks += strtoull(q + 1, &q, 10);
    }
    closedir(d);
    return ticks * 1000000u / (uint64_t)hz;
}

/* One run being watched, by the runner (with a cgroup) or by the run's
 * init (RP_F_TREE_CPU). */
struct watch {
    const struct rp_req *req;
    struct rp_reply *rep;   /* the flags of why it was killed go here */
    pid_t runner;           /* the runner's pid: not part of the run */
    pid_t kill_pid;         /* what kill() takes: the program (the namespace's
                               init), or -1 (all but the init) */
    uint64_t start;
    uint64_t tree_us;       /* RP_F_TREE_CPU: the largest sample */
};

/* Waits until pidfd (the program) is readable, enforcing the wall clock,
 * the host's KILL for this run and, with RP_F_TREE_CPU, the CPU time of
 * every process of the run. */
static void watch_run(struct watch *w, int pidfd)
{
    const struct rp_req *req = w->req;
    bool tree = req->flags & RP_F_TREE_CPU, killed = false;
    uint64_t deadline = w->start + req->wall_ms * 1000u;
    uint64_t next_watch = w->start + TREE_WATCH_US;
    for (;;) {
        struct pollfd pf[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = CTL_FD, .events = POLLIN}};
        uint64_t now = now_us();
        uint64_t until = deadline;
        if (tree && !killed && next_watch < until)
            until = next_watch;
        int timeout = now >= until ? 0 : (int)((until - now + 999) / 1000);
        int n = poll(pf, 2, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (pf[0].revents)
            return;
        now = now_us();
        if (now >= deadline && !(w->rep->flags & RP_R_WALL_TIMEOUT)) {
            /* Killing the namespace's init takes every process in it. */
            kill(w->kill_pid, SIGKILL);
            killed = true;
            w->rep->flags |= RP_R_WALL_TIMEOUT;
            deadline = UINT64_MAX / 2;
        }
        if (tree && !killed && now >= next_watch) {
            uint64_t c = tree_cpu_us(w->runner);
            if (c > w->tree_us)
                w->tree_us = c;
            if (w->tree_us > req->cpu_ms * 1000u + CPU_GRACE_US) {
                kill(w->kill_pid, SIGKILL);
                killed = true;
                w->rep->flags |= RP_R_CPU_LIMIT;
            }
            next_watch = now + TREE_WATCH_US;
        }
        if (pf[1].revents) {
            char kbuf[sizeof(struct rp_req) + 64];
            int kfds[RP_MAX_FDS], nk;
            ssize_t k = recv_req(kbuf, sizeof kbuf, kfds, &nk);
            for (int i = 0; i < nk; i++)
                close(kfds[i]);
            if (k <= 0) {
                kill(w->kill_pid, SIGKILL);
                _exit(0);
            }
            /* A KILL meant for an earlier run (it crossed that run's
             * reply) must not end this one. */
            struct rp_req *kr = (struct rp_req *)kbuf;
            if ((size_t)k >= sizeof *kr && kr->magic == RP_MAGIC && kr->op == RP_OP_KILL &&
                kr->seq == req->seq) {
                kill(w->kill_pid, SIGKILL);
                killed = true;
                w->rep->flags |= RP_R_KILLED;
            }
        }
    }
}

/* ---- counting every process without a cgroup (RP_F_TREE_CPU) ------------------ */

/* What the run's init leaves for the runner: they share their memory. */
struct tree_run {
    struct watch w;
    struct child_args *a;
    int clone_err;     /* errno of the program's clone that failed, 0 = it ran */
    int status;        /* the program's wait status */
    uint64_t end_us;   /* when the program was reaped */
    uint64_t cpu_us;   /* user+system of every process of the run */
    uint64_t maxrss_kib;
};

/* pid 1 of the run's namespace with RP_F_TREE_CPU: this runner's own code,
 * started with CLONE_VM | CLONE_VFORK | CLONE_FILES, so the runner sleeps
 * until it is done and it uses the runner's memory, stack aside, and its
 * descriptors. It starts the program, watches the run as the runner does
 * otherwise, and once the program has ended kills the rest and reaps every
 * process that became its child. Reaping adds each process's rusage to
 * ours, and in a submission's tests no process is reaped by the kernel
 * alone (the filter keeps SIGCHLD from being ignored), so our children's
 * rusage is the run's CPU time, exact even when the run was killed. A
 * namespace's init that has no signal handlers cannot be signalled by the
 * processes inside, and it is not dumpable (the runner is not). */
static int run_init(void *p)
{
    struct tree_run *t = p;
    int pidfd = -1;
    pid_t prog = clone(child_main, child_stack + CHILD_STACK,
                       CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, t->a, &pidfd);
    /* The program has exec'd (or failed). The descriptor table is the
     * runner's too: these were its copies, which must not keep the
     * program's pipes open after the program closed them. */
    for (int i = 0; i < t->a->nfds; i++)
        close(t->a->fds[i]);
    if (prog < 0) {
        t->clone_err = errno;
        _exit(0);
    }
    watch_run(&t->w, pidfd);
    close(pidfd);
    while (waitpid(prog, &t->status, __WALL) < 0 && errno == EINTR)
        ;
    t->end_us = now_us();
    /* Every process of the namespace descends from us (orphans are ours),
     * so no child left means nobody left; kill(-1) walks every process of
     * the system, spared then. */
    siginfo_t si;
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0)
        kill(-1, SIGKILL);
    int st;
    while (waitpid(-1, &st, __WALL) >= 0 || errno == EINTR)
        ;
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    t->cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
                (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    t->maxrss_kib = (uint64_t)ru.ru_maxrss;
    _exit(0);
}

/* ---- running one program ------------------------------------------------------- */

static void do_run(struct rp_req *req, size_t msglen, int *fds, int nfds)
{
    static char *argv[513], *envp[257];
    static char rbuf[sizeof(struct rp_reply) + 3 * RP_FEEDBACK_CAP] __attribute__((aligned(16)));
    struct rp_reply *rep = (struct rp_reply *)rbuf;
    memset(rep, 0, sizeof *rep);
    bool tree = req->flags & RP_F_TREE_CPU;

    /* A multi-pass validator's next input goes to the last fd, which the
     * validator does not get. */
    int sink = -1;
    if ((req->flags & (RP_F_NEXTPASS | RP_F_FEEDBACK)) == (RP_F_NEXTPASS | RP_F_FEEDBACK) &&
        nfds > 3)
        sink = fds[--nfds];
    if (!split_blob(req, msglen, argv, envp) || nfds < 3) {
        rep->flags = RP_R_SETUP_FAILED;
        rep->err = EINVAL;
        goto out;
    }
    if ((req->flags & RP_F_RESET_TMP) && fresh_tmpfs("/tmp", req->tmp_bytes, 8192) != 0) {
        rep->flags = RP_R_SETUP_FAILED;
        rep->err = (uint32_t)errno;
        goto out;
    }
    /* /dev is read-only; /dev/shm is this run's own, small, and gone with
     * it: POSIX shared memory neither outlives a test nor (in a cgroup)
     * stays charged to the box after the program that wrote it died. */
    if (req->shm_bytes && fresh_tmpfs("/dev/shm", req->shm_bytes, 1024) != 0) {
        rep->flags = RP_R_SETUP_FAILED;
        rep->err = (uint32_t)errno;
        goto out;
    }
    if ((req->flags & RP_F_FEEDBACK) && (req->flags & RP_F_KEEP_FEEDBACK)) {
        /* The next pass of a multi-pass validator: its own notes stay, the
         * last pass's next input does not. */
        int dfd = open("/feedback", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 || (unlinkat(dfd, "nextpass.in", 0) != 0 && errno != ENOENT)) {
            rep->flags = RP_R_SETUP_FAILED;
            rep->err = (uint32_t)errno;
            if (dfd >= 0)
                close(dfd);
            goto out;
        }
        close(dfd);
    } else if ((req->flags & RP_F_FEEDBACK) && fresh_tmpfs("/feedback", 4u << 20, 64) != 0) {
        rep->flags = RP_R_SETUP_FAILED;
        rep->err = (uint32_t)errno;
        goto out;
    }
    bool no_autoreap = tree && (req->flags & RP_F_NO_AUTOREAP);
    if (no_autoreap && !filter_tree.filter)
        build_filter(&filter_tree, true);

    struct child_args a = {.req = req, .prog = no_autoreap ? &filter_tree : &filter,
                           .argv = argv, .envp = envp, .nfds = nfds};
    memcpy(a.fds, fds, sizeof(int) * (size_t)nfds);
    struct watch w = {.req = req, .rep = rep, .runner = getpid(), .start = now_us()};
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (tree) {
        /* Returns once the run's init has exited: the whole run is over. */
        struct tree_run t = {.w = w, .a = &a};
        t.w.kill_pid = -1;
        pid_t pid = clone(run_init, init_stack + CHILD_STACK,
                          CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWPID | CLONE_NEWIPC | SIGCHLD,
                          &t);
        if (pid < 0) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            rep->flags = RP_R_SETUP_FAILED;
            rep->err = (uint32_t)errno;
            goto out;
        }
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
            ;
        if (t.clone_err) {
            rep->flags |= RP_R_SETUP_FAILED;
            rep->err = (uint32_t)t.clone_err;
            goto out;
        }
        status = t.status;
        rep->end_us = t.end_us;
        rep->cpu_us = t.cpu_us; /* exact; the samples only drive the watchdog */
        rep->maxrss_kib = t.maxrss_kib;
    } else {
        int pidfd = -1;
        pid_t pid = clone(child_main, child_stack + CHILD_STACK,
                          CLONE_VM | CLONE_VFORK | CLONE_NEWPID | CLONE_NEWIPC | CLONE_PIDFD | SIGCHLD,
                          &a, &pidfd);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (pid < 0) {
            rep->flags = RP_R_SETUP_FAILED;
            rep->err = (uint32_t)errno;
            goto out;
        }
        w.kill_pid = pid;
        watch_run(&w, pidfd);
        while (wait4(pid, &status, __WALL, &ru) < 0 && errno == EINTR)
            ;
        rep->end_us = now_us();
        close(pidfd);
        rep->cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
                      (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
        rep->maxrss_kib = (uint64_t)ru.ru_maxrss;
    }
    rep->wall_us = rep->end_us - w.start;
    if (a.stage) {
        rep->flags |= a.stage == 15 ? RP_R_EXEC_FAILED : RP_R_SETUP_FAILED;
        rep->err = (uint32_t)a.err;
        rep->exit_code = a.stage;
    } else if (WIFSIGNALED(status)) {
        rep->term_signal = WTERMSIG(status);
    } else {
        rep->exit_code = WEXITSTATUS(status);
    }
    if (req->flags & RP_F_FEEDBACK) {
        char *d = rep->data;
        rep->score_len = read_feedback("score.txt", d);
        rep->judgemsg_len = read_feedback("judgemessage.txt", d + rep->score_len);
        rep->multiplier_len =
            read_feedback("score_multiplier.txt", d + rep->score_len + rep->judgemsg_len);
        if (sink >= 0 && copy_nextpass(sink))
            rep->flags |= RP_R_NEXTPASS;
    }
out:
    if (sink >= 0)
        close(sink);
    send_reply(rep, sizeof *rep + rep->score_len + rep->judgemsg_len + rep->multiplier_len);
}

/* Creates the parent folders of rel under dfd; every component must be a
 * plain name (no "", ".", ".."), checked before anything is created. */
static int make_parents(int dfd, char *rel)
{
    for (char *p = rel; (p = strchr(p, '/')); p++) {
        *p = '\0';
        int rc = mkdirat(dfd, rel, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

static bool safe_rel(const char *rel, size_t len)
{
    if (len == 0 || len >= 1024 || rel[0] == '/')
        return false;
    const char *p = rel, *end = rel + len;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n + 1;
    }
    return memchr(rel, '\0', len) == NULL;
}

/* Unpacks the host's source archive into /box: many compilers write next
 * to their input (fpc, ghc), and the box is the only place a program can
 * write. Nothing of the host's file system is mounted for this. */
static int unpack(int afd)
{
    int dfd = open("/box", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    off_t off = 0;
    int files = 0, err = 0;
    static char buf[65536];
    for (;;) {
        struct rp_file h;
        ssize_t n = pread(afd, &h, sizeof h, off);
        if (n == 0)
            break;
        if (n != (ssize_t)sizeof h || h.path_len >= 1024 || h.size > RP_ARCHIVE_MAX ||
            ++files > COPY_MAX_FILES) {
            err = EPROTO;
            break;
        }
        off += n;
        char rel[1024];
        if (pread(afd, rel, h.path_len, off) != (ssize_t)h.path_len || !safe_rel(rel, h.path_len)) {
            err = EPROTO;
            break;
        }
        rel[h.path_len] = '\0';
        off += h.path_len;
        if (make_parents(dfd, rel) != 0) {
            err = errno;
            break;
        }
        int out = openat(dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         (h.mode & 0100) ? 0755 : 0644);
        if (out < 0) {
            err = errno;
            break;
        }
        for (uint64_t left = h.size; left > 0 && !err;) {
            size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
            ssize_t r = pread(afd, buf, want, off);
            if (r <= 0 || write(out, buf, (size_t)r) != r)
                err = r == 0 ? EPROTO : errno;
            else {
                off += r;
                left -= (uint64_t)r;
            }
        }
        close(out);
        if (err)
            break;
    }
    close(dfd);
    return err;
}

static void simple_reply(int err)
{
    struct rp_reply rep;
    memset(&rep, 0, sizeof rep);
    if (err) {
        rep.flags = RP_R_SETUP_FAILED;
        rep.err = (uint32_t)err;
    }
    send_reply(&rep, sizeof rep);
}

int main(void)
{
    /* Non-dumpable: the programs we start run as our uid, and this keeps
     * them out of /proc/<runner>/mem, environ and fd even if they found us. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        die("PR_SET_DUMPABLE");
    /* The box dies with us: if the host goes away we must not linger. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    /* bwrap's mounts belong to an outer user namespace (it nests a second
     * one to set our uid), so our capabilities cannot touch them. In a
     * mount namespace of our own we can stack a fresh tmpfs over /tmp for
     * every run and remount /box read-only. */
    if (unshare(CLONE_NEWNS) != 0)
        die("unshare(CLONE_NEWNS)");
    build_filter(&filter, false);
    child_stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    init_stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (child_stack == MAP_FAILED || init_stack == MAP_FAILED)
        die("mmap stack");
    static char buf[RP_MAX_MSG] __attribute__((aligned(16)));
    for (;;) {
        int fds[RP_MAX_FDS], nfds;
        ssize_t n = recv_req(buf, sizeof buf, fds, &nfds);
        if (n == 0)
            return 0;
        struct rp_req *req = (struct rp_req *)buf;
        if (n < (ssize_t)sizeof *req || req->magic != RP_MAGIC) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            if (n < 0 && n != -2)
                return 0;
            cur_seq = 0;
            simple_reply(EPROTO);
            continue;
        }
        cur_seq = req->seq;
        switch (req->op) {
        case RP_OP_KILL:
            /* Its run has ended and been answered already: the host's
             * watchdog read the CPU time before the reply reached it. A
             * KILL is never answered, or the answer would be taken for
             * the next request's. */
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            break;
        case RP_OP_RUN:
            if (nfds > RP_MAX_FDS) {
                simple_reply(EINVAL);
                break;
            }
            do_run(req, (size_t)n, fds, nfds);
            break;
        case RP_OP_PREPARE:
            simple_reply(nfds == 1 ? unpack(fds[0]) : EINVAL);
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            break;
        case RP_OP_SEAL:
            /* The flags bwrap locked on this mount (nosuid, nodev) must be
             * repeated or the remount is refused. */
            simple_reply(mount("none", "/box", NULL,
                               MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                               NULL) != 0
                             ? errno
                             : 0);
            break;
        case RP_OP_EXIT:
            return 0;
        default:
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            simple_reply(EINVAL);
        }
    }
}
