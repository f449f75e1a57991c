/* Rolling replacement of one mesh process: see cctest_roll.h. */
#include "cctest_roll.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cc/log.h"
#include "cctest_http.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Stops the process of kind k with SIGTERM (its drain) and says whether it
 * exited 0; *old is left with its wait status. */
static bool drain_old(cct_mesh *m, cct_proc_kind k, const char *verb, cc_local_proc *old)
{
    *old = m->procs[k];
    cc_status st = cc_local_proc_stop(old, SIGTERM, 30000);
    bool clean = st == CC_OK && WIFEXITED(old->status) && WEXITSTATUS(old->status) == 0;
    if (!clean)
        CCT_FAIL("%s %s: the old one did not drain and exit 0 (wait status 0x%x%s%s)", verb,
                 cct_proc_name(k), old->status, st != CC_OK ? ": " : "",
                 st != CC_OK ? cc_err_msg() : "");
    return clean;
}

bool cct_mesh_replace(cct_mesh *m, cct_proc_kind k, const char *bin_dir, cct_roll_figures *f)
{
    const char *name = cct_proc_name(k);
    cc_local_proc old;
    double t0 = now_ms();
    bool clean = drain_old(m, k, "replace", &old);
    double t1 = now_ms();
    m->procs[k] = old;
    m->bin_dir[k] = bin_dir ? bin_dir : CC_BIN_DIR;
    bool ready = cct_mesh_start_proc(m, k);
    if (!ready)
        CCT_FAIL("replace %s: the new one did not become ready", name);
    if (f)
        *f = (cct_roll_figures){.ready_ms = now_ms() - t1, .drain_ms = t1 - t0};
    return clean && ready;
}

bool cct_mesh_roll(cct_mesh *m, cct_proc_kind k, const char *bin_dir, int overlap_ms,
                   cct_roll_figures *f)
{
    static int generation;
    const char *name = cct_proc_name(k);
    char log_name[64];
    snprintf(log_name, sizeof log_name, "%s.r%d", name, ++generation);
    uint16_t port;
    if (cc_local_free_port(&port) != CC_OK) {
        CCT_FAIL("roll %s: no free port: %s", name, cc_err_msg());
        return false;
    }
    cc_local_proc fresh = {0};
    double t0 = now_ms();
    if (!cct_mesh_spawn_as(m, k, &fresh, port, log_name, bin_dir)) {
        CCT_FAIL("roll %s: cannot start the new one", name);
        return false;
    }
    bool ready = cct_wait_status(port, "/readyz", 200, 60000) &&
                 (k != CCT_JUDGE || cct_wait_judge_taking(m, &fresh, log_name, 60000));
    if (!ready) {
        CCT_FAIL("roll %s: the new one did not become ready (see %s/%s.log)", name, m->dir,
                 log_name);
        cc_local_proc_stop(&fresh, SIGKILL, 5000);
        return false;
    }
    double t1 = now_ms();
    usleep((useconds_t)overlap_ms * 1000);
    cc_local_proc old;
    double t2 = now_ms();
    bool clean = drain_old(m, k, "roll", &old);
    double t3 = now_ms();
    m->procs[k] = fresh;
    m->metrics[k] = port;
    m->bin_dir[k] = bin_dir ? bin_dir : CC_BIN_DIR;
    if (f)
        *f = (cct_roll_figures){.ready_ms = t1 - t0, .drain_ms = t3 - t2};
    return clean;
}
