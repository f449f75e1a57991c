/* cc-judge selfcheck: what the sandbox enforces on this host, found by
 * opening a real box and looking from inside it (the same box a judging
 * uses), printed one line each; the exit status says whether it can
 * enforce what was asked (--sandbox-strict: a cgroup per sandbox). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* Runs `sh -c script` in b with its stdout into out (cap bytes, NUL
 * ended); the exit code, or -1 when the box could not run it. */
static int probe(box *b, const char *script, char *out, size_t cap)
{
    jstrv av = {0}, env = {0};
    jstrv_push(&av, "/bin/sh");
    jstrv_push(&av, "-c");
    jstrv_push(&av, script);
    jstrv_push(&env, "PATH=/usr/bin:/bin");
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    int mo = memfd_create("probe", MFD_CLOEXEC);
    box_run_req rq = {.argv = &av, .env = &env, .fds = {dn, mo, dn}, .nfds = 3,
                      .flags = RP_F_RESET_TMP, .cpu_ms = 5000, .wall_ms = 10000,
                      .memory_bytes = 256u << 20, .fsize_bytes = 1u << 20,
                      .stack_bytes = 8u << 20, .nofile = 64, .pids = 16,
                      .tmp_bytes = 1u << 20, .drain_fd = -1};
    box_run_res r;
    int code = -1;
    out[0] = '\0';
    if (dn >= 0 && mo >= 0 && box_run(b, &rq, &r) == CC_OK) {
        code = r.term_signal ? 1000 + r.term_signal : r.exit_code;
        ssize_t n = pread(mo, out, cap - 1, 0);
        out[n > 0 ? n : 0] = '\0';
        out[strcspn(out, "\n")] = '\0';
        box_run_res_clear(&r);
    }
    if (dn >= 0)
        close(dn);
    if (mo >= 0)
        close(mo);
    jstrv_free(&av);
    jstrv_free(&env);
    return code;
}

void judge_box_check(judge_box_report *rep)
{
    memset(rep, 0, sizeof *rep);
    char *runner = judge__default_runner();
    box_config cfg = {.runner_path = runner, .box_bytes = 16u << 20, .tmp_bytes = 16u << 20};
    box *b = NULL;
    int arc = memfd_create("empty", MFD_CLOEXEC);
    cc_status s = arc < 0 ? cc_err_sys("memfd_create") : box_open(&cfg, &b);
    if (s == CC_OK)
        s = box_prepare(b, arc);
    if (s == CC_OK)
        s = box_seal(b);
    if (arc >= 0)
        close(arc);
    free(runner);
    if (s != CC_OK) {
        snprintf(rep->error, sizeof rep->error, "%s", cc_err_msg());
        if (b)
            box_close(b);
        return;
    }
    char out[256];
    rep->sandbox = probe(b, "exit 0", out, sizeof out) == 0;
    if (!rep->sandbox)
        snprintf(rep->error, sizeof rep->error, "a program did not run in it");
    rep->cgroup = box_has_cgroup(b);
    probe(b, "id -u", out, sizeof out);
    snprintf(rep->uid, sizeof rep->uid, "%.15s", out[0] ? out : "?");
    /* The interfaces the box sees: only lo in a network namespace of its own. */
    probe(b, "grep -c : /proc/net/dev", out, sizeof out);
    rep->network_isolated = !strcmp(out, "1");
    probe(b, "grep '^Seccomp:' /proc/self/status | tr -dc 0-9", out, sizeof out);
    rep->seccomp = !strcmp(out, "2");
    rep->shm_private = probe(b, "echo x > /dev/shm/p && rm /dev/shm/p", out, sizeof out) == 0;
    rep->dev_readonly = probe(b, "touch /dev/x 2>/dev/null", out, sizeof out) != 0;
    box_close(b);
}

int judge_selfcheck(bool strict)
{
    judge_box_report r;
    judge_box_check(&r);
    if (r.error[0] && !r.sandbox && !r.uid[0]) {
        printf("sandbox: NO (%s)\n", r.error);
        return 1;
    }
    printf("sandbox: %s (bubblewrap; user, pid, mount, ipc and network namespaces)\n",
           r.sandbox ? "yes" : "NO: a program did not run in it");
    printf("cgroup per sandbox: %s\n",
           r.cgroup ? "yes (memory with OOM kill, process count, CPU of every process)"
                    : "no (rlimits, and the runner's own CPU accounting of every process)");
    printf("runs as uid: %s\n", r.uid);
    printf("network: %s\n", r.network_isolated ? "none (loopback only)" : "NOT isolated");
    printf("seccomp filter: %s\n", r.seccomp ? "yes" : "no");
    printf("/dev/shm: %s\n", r.shm_private ? "private and writable" : "not writable");
    printf("/dev: %s\n", r.dev_readonly ? "read-only" : "WRITABLE");
    if (!r.sandbox)
        return 1;
    if (strict && !r.cgroup) {
        printf("strict: refused: sandbox-strict asks for a cgroup per sandbox\n");
        return 1;
    }
    return 0;
}
