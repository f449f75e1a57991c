/* Rolling replacement of the mesh's processes (issue 25), as a Kubernetes
 * rolling update with maxUnavailable 0 does it: the new process starts
 * next to the old one, becomes ready, both serve side by side for a while,
 * then the old one gets SIGTERM, drains and exits. Used by the rolling
 * restart (tests/integration/rolling) and the previous-release tests
 * (tests/integration/upgrade). Call from the test's main thread. */
#ifndef CCTEST_ROLL_H
#define CCTEST_ROLL_H

#include "cctest_mesh.h"

typedef struct cct_roll_figures {
    double ready_ms; /* from the new one's start to ready (the judge: taking jobs) */
    double drain_ms; /* from the old one's SIGTERM to its exit */
} cct_roll_figures;

/* Replaces process k by one from bin_dir (NULL: this build's) without a
 * gap: starts it on a fresh ops port (logging to <name>.rN.log), waits
 * until its /readyz answers 200 (and the judge logs "taking jobs"), lets
 * both run for overlap_ms, then stops the old one with SIGTERM (30 s to
 * drain before SIGKILL) and puts the new one in k's place (m->procs[k],
 * m->metrics[k], m->bin_dir[k]; bin_dir must outlive the mesh). The
 * gateway shares its HTTP port only when the mesh runs it with
 * --reuse-port. False, with CCT_FAIL, when the new one never became ready
 * (it is stopped and the old one stays) or the old one did not exit 0. */
/* The same without overlap: stops the old one first (SIGTERM, it drains),
 * then starts the new one and waits until it is ready; for a release
 * whose process must not run beside the previous one (docs/releases.md). */
bool cct_mesh_replace(cct_mesh *m, cct_proc_kind k, const char *bin_dir, cct_roll_figures *f);
bool cct_mesh_roll(cct_mesh *m, cct_proc_kind k, const char *bin_dir, int overlap_ms,
                   cct_roll_figures *f);

#endif
