/* Disk full (issue 20): the JetStream store (case "jetstream") or
 * PostgreSQL's data folder (case "postgres") sits on a small tmpfs of its
 * own (mount -t tmpfs -o size=...), a filler file takes all of it but a
 * few KiB, and a burst of submissions fills the rest. Then the filler is
 * removed.
 *
 * Checked, for each case on its own mesh:
 *   - during the burst every answer is 201 or 503 with a reason (the
 *     problem's detail) and Retry-After: never another 5xx, never a
 *     request that hangs past 15 s; with the database full at least one is
 *     refused (the burst goes on until one is, at most BURST_MAX);
 *   - once the filler is gone the mesh accepts a submission again by
 *     itself (no restart), within RESUME_MS, and the time is printed;
 *     nats-server 2.9.10 instead wedges (below): then the liveness probe
 *     the manifests give it must fail, and the server is restarted as the
 *     probe would have it;
 *   - nothing accepted is lost: every submission accepted before, during
 *     and after gets exactly one verdict, AC, with agreeing judged events
 *     and no outbox row left unsent (cct_check_all).
 *
 * The mounts are made in a mount namespace of the test's own (unshare,
 * inherited by the servers it starts), so they vanish with the test even
 * when it is killed; they are also unmounted at exit. Where mounting is not
 * permitted (not root, no CAP_SYS_ADMIN) the test says so and is skipped
 * (77). CC_LOCAL_KEEP=1 keeps the logs. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cctest_http.h"
#include "cctest_mesh.h"

/* The nats-server liveness probe of k8s/base/nats.yaml and the chart. */
#define NATS_LIVENESS_PATH "/jsz"

enum {
    SLACK_KIB = 64,      /* left free by the filler: the burst fills it */
    BURST_MAX = 400,     /* submissions at most while the disk is full */
    REFUSED_ENOUGH = 10, /* refusals that end the burst */
    DEADLINE_MS = 15000, /* an answer later than this hung */
    RESUME_MS = 90000,
    WEDGED_MS = 30000,   /* JetStream silent this long with space back: wedged */
    NATS_LIVENESS_TIMEOUT_MS = 5000, /* the probe's timeoutSeconds in the manifests */
};

static char dir[4096], mnt[4200], filler[4300];
static bool mounted;

static void unmount_all(void)
{
    if (mounted && umount2(mnt, MNT_DETACH) != 0)
        fprintf(stderr, "umount %s: %s\n", mnt, strerror(errno));
    mounted = false;
}

/* A mount namespace of our own, the store's folder made and a tmpfs of
 * size_mib on it; false (with errno) when mounting is not permitted. */
static bool mount_store(const char *sub, int size_mib)
{
    if (unshare(CLONE_NEWNS) != 0)
        return false;
    /* Nothing mounted here propagates back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    snprintf(mnt, sizeof mnt, "%s/%s", dir, sub);
    if (mkdir(mnt, 0755) != 0 && errno != EEXIST)
        return false;
    char opts[64];
    snprintf(opts, sizeof opts, "size=%dm,mode=0755", size_mib);
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        return false;
    mounted = true;
    atexit(unmount_all);
    return true;
}

static long free_kib(void)
{
    struct statvfs v;
    return statvfs(mnt, &v) == 0 ? (long)(v.f_bavail * v.f_frsize / 1024) : -1;
}

/* Writes the filler until the filesystem is full, then gives back
 * SLACK_KIB. */
static void fill(void)
{
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        CCT_FAIL("open %s: %s", filler, strerror(errno));
        return;
    }
    static char chunk[1 << 16];
    off_t size = 0;
    for (size_t n = sizeof chunk; n >= 512;) {
        ssize_t w = write(fd, chunk, n);
        if (w > 0)
            size += w;
        else if (errno == ENOSPC)
            n /= 2;
        else {
            CCT_FAIL("write %s: %s", filler, strerror(errno));
            break;
        }
    }
    CCT_CHECK(ftruncate(fd, size - SLACK_KIB * 1024) == 0, "ftruncate: %s", strerror(errno));
    close(fd);
    fprintf(stderr, "diskfull: filler of %.1f MiB, %ld KiB left free\n",
            (double)(size - SLACK_KIB * 1024) / (1 << 20), free_kib());
}

/* ---- submissions ------------------------------------------------------------------ */

static cct_mesh mesh;
static cct_account root;
static char (*accepted)[64];
static int naccepted, n503, nother;

/* One submission under key: counted, a 503 checked for its reason and
 * Retry-After. The status. */
static long submit_one(const char *key, bool quiet)
{
    char id[64], detail[256];
    bool retry_after = false;
    double t0 = cct_now_s();
    long st = cct_submit(&mesh, &root, CCT_AC_C, key, id, &retry_after, detail);
    double took = cct_now_s() - t0;
    CCT_CHECK(took * 1000 < DEADLINE_MS, "submission %s hung %.1f s (status %ld)", key, took, st);
    if (st == 201) {
        snprintf(accepted[naccepted++], 64, "%s", id);
    } else if (st == 503) {
        n503++;
        CCT_CHECK(detail[0], "submission %s: 503 without a reason", key);
        CCT_CHECK(retry_after, "submission %s: 503 without Retry-After", key);
        if (!quiet && n503 <= 3)
            fprintf(stderr, "diskfull: %s refused: 503 \"%s\"\n", key, detail);
    } else {
        nother++;
        CCT_FAIL("submission %s: %ld \"%s\"", key, st, detail);
    }
    return st;
}

/* Submits (keys after-N) every half second until one is accepted: the
 * seconds that took, or -1 after ms. */
static double resume(int *n, int ms)
{
    double t0 = cct_now_s();
    while (cct_now_s() - t0 < ms / 1000.0) {
        if (submit_one(cct_fmt("after-%d", (*n)++), true) == 201)
            return cct_now_s() - t0;
        usleep(500000);
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    bool pg = !strcmp(which, "postgres");
    if (!pg && strcmp(which, "jetstream") != 0) {
        fprintf(stderr, "usage: test_diskfull jetstream|postgres\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s/cc-diskfull-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755); /* PostgreSQL runs as postgres and walks down to DIR/pg */
    /* PostgreSQL's cluster with three databases takes about 60 MiB. */
    if (!mount_store(pg ? "pg" : "nats", pg ? 160 : 48)) {
        fprintf(stderr, "diskfull: skipped: cannot mount a tmpfs (%s); the test needs root or "
                        "CAP_SYS_ADMIN\n",
                strerror(errno));
        rmdir(mnt);
        rmdir(dir);
        return 77;
    }
    accepted = calloc(BURST_MAX + 64, sizeof *accepted);
    cct_mesh_options o = {.dir = dir, .max_queued = BURST_MAX + 64};
    cct_mesh_start(&mesh, "test-diskfull", &o);
    /* The folder holds the mount: removed below once it is unmounted. */
    mesh.stack.owns_dir = false;
    if (!cct_login_root(&mesh, &root))
        exit(1);
    for (int i = 0; i < 3; i++)
        CCT_CHECK(submit_one(cct_fmt("before-%d", i), false) == 201, "before the burst");

    /* ---- the disk fills ------------------------------------------------------------- */
    fill();
    double t0 = cct_now_s();
    int burst = 0;
    for (; burst < BURST_MAX && n503 < REFUSED_ENOUGH && !atomic_load(&cct_failed); burst++)
        submit_one(cct_fmt("burst-%d", burst), false);
    int burst_accepted = naccepted - 3;
    fprintf(stderr,
            "diskfull figures (%s full): %d submissions in %.1f s: %d accepted, %d refused "
            "with 503, %d other; %ld KiB free\n",
            which, burst, cct_now_s() - t0, burst_accepted, n503, nother, free_kib());
    if (pg)
        CCT_CHECK(n503 > 0, "the database's disk filled and no submission was refused");
    /* Still full: what comes is refused or accepted, never a 500. */
    for (int i = 0; i < 5; i++)
        submit_one(cct_fmt("full-%d", i), true);

    /* ---- space comes back ---------------------------------------------------------- */
    CCT_CHECK(unlink(filler) == 0, "unlink %s: %s", filler, strerror(errno));
    double t1 = cct_now_s();
    bool restarted = false;
    int tries = 0;
    double resumed = resume(&tries, pg ? RESUME_MS : WEDGED_MS);
    if (resumed < 0 && !pg) {
        /* nats-server 2.9.10 deadlocks when a write of its file store
         * fails with ENOSPC (a goroutine in fileStore.rebuildStateLocked
         * waits for a lock its caller holds): JetStream answers nothing,
         * not even /jsz, until the server is restarted, space or not. What
         * a probe of /jsz would do: kill it and start it again on the same
         * store; nothing of CodeCourt is restarted. */
        /* The manifests' liveness probe (k8s/base/nats.yaml, the chart)
         * is GET /jsz with a 5 s timeout: it must see the wedge, which
         * /healthz?js-enabled-only=true does not look for. */
        char body[256];
        long live = cct_get_http1_within(mesh.stack.nats_monitor_port, NATS_LIVENESS_PATH, body,
                                         sizeof body, NATS_LIVENESS_TIMEOUT_MS);
        long enabled = cct_get_http1_within(mesh.stack.nats_monitor_port,
                                            "/healthz?js-enabled-only=true", body, sizeof body,
                                            NATS_LIVENESS_TIMEOUT_MS);
        fprintf(stderr,
                "diskfull: JetStream still silent %.0f s after the space came back "
                "(" NATS_LIVENESS_PATH ": %ld, /healthz?js-enabled-only=true: %ld; 0 = no answer "
                "in %d s): nats-server wedged on ENOSPC; restarting it as the liveness probe "
                "would\n",
                cct_now_s() - t1, live, enabled, NATS_LIVENESS_TIMEOUT_MS / 1000);
        CCT_CHECK(live != 200, "nats-server is wedged but its liveness probe " NATS_LIVENESS_PATH
                               " answered 200: the probe would never restart it");
        CCT_CHECK(cc_local_nats_crash(&mesh.stack, 0) == CC_OK, "kill nats");
        CCT_CHECK(cc_local_nats_start(&mesh.stack, 0) == CC_OK, "start nats: %s", cc_err_msg());
        restarted = true;
        /* The restarted server forgot the judge's last progress events
         * (its dedupe window): a retry may store one twice. Verdicts and
         * the outbox's events must still be stored once. */
        cct_dup_ok_prefix = "progress-";
        double t2 = cct_now_s();
        resumed = resume(&tries, RESUME_MS);
        if (resumed >= 0)
            resumed += t2 - t1;
    }
    CCT_CHECK(resumed >= 0, "no submission accepted within %d s of freeing the space%s",
              RESUME_MS / 1000, restarted ? " and restarting nats-server" : "");
    fprintf(stderr,
            "diskfull figures (%s full): first submission accepted %.1f s after the filler was "
            "removed%s\n",
            which, resumed, restarted ? " (nats-server restarted once: wedged)" : " (by itself)");
    for (int i = 0; i < 3; i++)
        CCT_CHECK(submit_one(cct_fmt("resumed-%d", i), false) == 201, "after resuming");

    int stored = cct_check_all(&mesh, &root, accepted, naccepted, 240000);
    fprintf(stderr, "diskfull figures (%s full): %d accepted in all, %d stored, %d refused\n",
            which, naccepted, stored, n503);
    cct_mesh_stop(&mesh);
    unmount_all();
    bool failed = atomic_load(&cct_failed);
    if (failed || getenv("CC_LOCAL_KEEP"))
        fprintf(stderr, "diskfull: logs kept in %s\n", dir);
    else
        cc_local_rmtree(dir);
    free(accepted);
    fprintf(stderr, "diskfull %s: %s\n", which, failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
