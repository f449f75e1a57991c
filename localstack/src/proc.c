/* Child processes: spawn in their own session, stop by pid, reap. */
#include "cc/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Only async-signal-safe calls between fork and exec: the caller may have
 * threads (nats.c, libuv), and a lock held by one of them at fork time
 * would never be released in the child. */
static void child_fail(int errpipe, int fd_log, const char *what)
{
    int e = errno;
    if (fd_log >= 0) {
        static const char pre[] = "cclocal: spawn failed at ";
        (void)!write(fd_log, pre, sizeof pre - 1);
        (void)!write(fd_log, what, strlen(what));
        (void)!write(fd_log, "\n", 1);
    }
    (void)!write(errpipe, &e, sizeof e);
    _exit(127);
}

static int write_pidfile(const char *path, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)pid);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, buf, (size_t)n);
    close(fd);
    return w == n ? 0 : -1;
}

cc_status cc_local_spawn(cc_local_proc *p, const cc_local_spawn_opts *o)
{
    if (!p || !o || !o->path || !o->argv || !o->argv[0])
        return cc_err_set(CC_INVALID, "cc_local_spawn: path and argv are required");
    snprintf(p->name, sizeof p->name, "%s", o->name ? o->name : o->argv[0]);
    p->pid = 0;
    p->status = -1;

    /* The log is opened here, by the caller's user, so a child that drops
     * to the postgres user can still write to a root-owned logs folder. */
    int fd_log = open(o->log_path ? o->log_path : "/dev/null",
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_log < 0)
        return cc_err_set(CC_SYS, "open log %s: %s", o->log_path ? o->log_path : "/dev/null",
                          strerror(errno));
    int fd_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int errpipe[2];
    if (fd_null < 0 || pipe2(errpipe, O_CLOEXEC) != 0) {
        int e = errno;
        close(fd_log);
        if (fd_null >= 0)
            close(fd_null);
        return cc_err_set(CC_SYS, "spawn %s: %s", p->name, strerror(e));
    }
    pid_t parent = getpid();
    char *const *envp = (char *const *)(o->envp ? o->envp : (const char *const *)environ);

    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd_log);
        close(fd_null);
        close(errpipe[0]);
        close(errpipe[1]);
        return cc_err_set(CC_SYS, "fork for %s: %s", p->name, strerror(e));
    }
    if (pid == 0) {
        /* The parent may have blocked or ignored signals (cc-local blocks
         * SIGINT/SIGTERM for signalfd); servers need the defaults. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                signal(sig, SIG_DFL);
        close(errpipe[0]);
        if (setsid() < 0)
            child_fail(errpipe[1], fd_log, "setsid");
        if (dup2(fd_null, 0) < 0 || dup2(fd_log, 1) < 0 || dup2(fd_log, 2) < 0)
            child_fail(errpipe[1], fd_log, "dup2");
        if (o->as_user) {
            if (setgroups(0, NULL) != 0 || setgid(o->gid) != 0 || setuid(o->uid) != 0)
                child_fail(errpipe[1], fd_log, "setuid");
        }
        /* Set after the uid change: the kernel clears it on credential
         * changes. Then check the parent did not die before we set it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            child_fail(errpipe[1], fd_log, "prctl");
        if (getppid() != parent)
            _exit(127);
        if (o->cwd && chdir(o->cwd) != 0)
            child_fail(errpipe[1], fd_log, "chdir");
        execve(o->path, (char *const *)o->argv, envp);
        child_fail(errpipe[1], fd_log, o->path);
    }
    close(errpipe[1]);
    close(fd_log);
    close(fd_null);
    int child_errno = 0;
    ssize_t r;
    do {
        r = read(errpipe[0], &child_errno, sizeof child_errno);
    } while (r < 0 && errno == EINTR);
    close(errpipe[0]);
    if (r > 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        return cc_err_set(CC_SYS, "start %s (%s): %s", p->name, o->path, strerror(child_errno));
    }
    p->pid = pid;
    if (o->pid_path && write_pidfile(o->pid_path, pid) != 0)
        return cc_err_set(CC_SYS, "write pidfile %s: %s", o->pid_path, strerror(errno));
    return CC_OK;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool cc_local_proc_poll(cc_local_proc *p)
{
    if (!p || p->pid <= 0)
        return false;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->status = st;
        p->pid = 0;
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        /* Not our child (reaped elsewhere): treat as gone. */
        p->status = -1;
        p->pid = 0;
        return true;
    }
    return false;
}

static bool wait_exit(cc_local_proc *p, pid_t pid, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        if (cc_local_proc_poll(p))
            return true;
        if (waited >= timeout_ms)
            return false;
        sleep_ms(10);
    }
    (void)pid;
}

cc_status cc_local_proc_stop(cc_local_proc *p, int sig, int timeout_ms)
{
    if (!p || p->pid <= 0)
        return CC_OK;
    pid_t pid = p->pid;
    cc_status s = CC_OK;
    if (!cc_local_proc_poll(p)) {
        kill(pid, sig);
        if (!wait_exit(p, pid, timeout_ms)) {
            s = cc_err_set(CC_TIMEOUT, "%s (pid %ld) ignored signal %d for %d ms: killed", p->name,
                           (long)pid, sig, timeout_ms);
            killpg(pid, SIGKILL);
            wait_exit(p, pid, 10000);
        }
    }
    /* The leader is gone; anything it left in its group goes too. The pgid
     * cannot have been reused while members remained. SIGKILL is sent at
     * once but each member dies when it next runs: wait (2 s at most) until
     * none is left, so the group is gone when this returns. */
    if (killpg(pid, SIGKILL) == 0)
        for (int i = 0; i < 400 && cc_local_group_alive(pid); i++)
            usleep(5000);
    return s;
}

cc_status cc_local_proc_kill(cc_local_proc *p)
{
    if (!p || p->pid <= 0)
        return CC_OK;
    pid_t pid = p->pid;
    killpg(pid, SIGKILL);
    kill(pid, SIGKILL);
    if (!wait_exit(p, pid, 10000))
        return cc_err_set(CC_TIMEOUT, "%s (pid %ld) survived SIGKILL", p->name, (long)pid);
    return CC_OK;
}

bool cc_local_pid_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    /* A zombie still answers kill(0); its state letter in /proc says Z. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

bool cc_local_group_alive(pid_t pgid)
{
    if (pgid <= 0)
        return false;
    DIR *d = opendir("/proc");
    if (!d)
        return killpg(pgid, 0) == 0;
    bool alive = false;
    for (struct dirent *e; !alive && (e = readdir(d));) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* After "(comm)": state, ppid, pgrp. comm may hold spaces and ')'. */
        const char *rp = strrchr(buf, ')');
        char st;
        long ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %ld %ld", &st, &ppid, &pgrp) == 3 && pgrp == (long)pgid &&
            st != 'Z' && st != 'X')
            alive = true;
    }
    closedir(d);
    return alive;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    return r != 0 && errno != ENOENT ? -1 : 0;
}

cc_status cc_local_rmtree(const char *path)
{
    if (!path || !path[0] || strcmp(path, "/") == 0)
        return cc_err_set(CC_INVALID, "rmtree refuses '%s'", path ? path : "(null)");
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? CC_OK : cc_err_set(CC_SYS, "stat %s: %s", path, strerror(errno));
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
        return cc_err_set(CC_SYS, "remove %s: %s", path, strerror(errno));
    return CC_OK;
}
