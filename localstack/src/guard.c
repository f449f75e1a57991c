/* Stops guarded stacks when a test exits or dies, so a failing test never
 * leaves servers running. */
#include "cc/local.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_GUARDED 8

static _Atomic(cc_local_stack *) guarded[MAX_GUARDED];
static atomic_bool keep_dirs;
static bool installed;
static const int guard_signals[] = {SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGQUIT};
static struct sigaction previous[sizeof guard_signals / sizeof guard_signals[0]];

static void at_exit(void)
{
    for (size_t i = 0; i < MAX_GUARDED; i++) {
        cc_local_stack *s = atomic_exchange(&guarded[i], NULL);
        if (s)
            cc_local_stack_stop(s);
    }
}

/* Only async-signal-safe calls: kill the groups, then rm -rf the temporary
 * folders through fork+execve (both safe), then let the signal do what it
 * would have done without us. */
static void on_signal(int sig)
{
    for (size_t i = 0; i < MAX_GUARDED; i++) {
        cc_local_stack *s = atomic_exchange(&guarded[i], NULL);
        if (!s)
            continue;
        pid_t pids[3 + CC_LOCAL_NATS_MAX - 1] = {s->nats.pid, s->pg.pid, s->redis.pid};
        for (size_t k = 0; k < CC_LOCAL_NATS_MAX - 1; k++)
            pids[3 + k] = s->nats_peer[k].pid;
        size_t npids = sizeof pids / sizeof pids[0];
        for (size_t k = 0; k < npids; k++)
            if (pids[k] > 0) {
                killpg(pids[k], SIGKILL);
                kill(pids[k], SIGKILL);
            }
        for (size_t k = 0; k < npids; k++)
            if (pids[k] > 0)
                waitpid(pids[k], NULL, 0);
        if (s->owns_dir && s->dir[0] && !atomic_load(&keep_dirs)) {
            pid_t rm = fork();
            if (rm == 0) {
                char *const argv[] = {"rm", "-rf", "--", s->dir, NULL};
                char *const envp[] = {NULL};
                execve("/bin/rm", argv, envp);
                _exit(127);
            }
            if (rm > 0)
                waitpid(rm, NULL, 0);
        }
    }
    for (size_t i = 0; i < sizeof guard_signals / sizeof guard_signals[0]; i++)
        if (guard_signals[i] == sig)
            sigaction(sig, &previous[i], NULL);
    raise(sig);
}

cc_status cc_local_guard(cc_local_stack *s)
{
    if (!s)
        return cc_err_set(CC_INVALID, "cc_local_guard: NULL stack");
    if (!installed) {
        const char *keep = getenv("CC_LOCAL_KEEP");
        atomic_store(&keep_dirs, keep && strcmp(keep, "1") == 0);
        if (atexit(at_exit) != 0)
            return cc_err_set(CC_SYS, "atexit failed");
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof guard_signals / sizeof guard_signals[0]; i++)
            sigaction(guard_signals[i], &sa, &previous[i]);
        installed = true;
    }
    for (size_t i = 0; i < MAX_GUARDED; i++) {
        cc_local_stack *expected = NULL;
        if (atomic_load(&guarded[i]) == s)
            return CC_OK;
        if (atomic_compare_exchange_strong(&guarded[i], &expected, s))
            return CC_OK;
    }
    return cc_err_set(CC_LIMIT, "at most %d guarded stacks", MAX_GUARDED);
}

void cc_local_unguard(cc_local_stack *s)
{
    for (size_t i = 0; i < MAX_GUARDED; i++) {
        cc_local_stack *expected = s;
        atomic_compare_exchange_strong(&guarded[i], &expected, NULL);
    }
}
