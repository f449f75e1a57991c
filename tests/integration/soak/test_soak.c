/* Soak (issue 20): the whole mesh carries the mixed load of the chaos test
 * (cctest_load.h: submissions, problem reads, logins, registrations, live
 * sockets) for CC_SOAK_SECONDS (120 by default, what CI runs; the long run
 * is 1800), and every 10 s the test reads each process's resident memory
 * (VmRSS in /proc/PID/status) and open descriptors (/proc/PID/fd).
 *
 * After the warm-up (a tenth of the run, at least 30 s) a CodeCourt process
 * (the gateway, each actor, the judge) may grow at most 5% in RSS and not
 * at all in descriptors, else the test fails naming it. Growth compares two
 * quiet samples: the load is stopped for a few seconds at the end of the
 * warm-up and at the end of the run, and each process sampled then. Under
 * load a sample catches whatever is in flight (the live socket the load
 * keeps open most of the time, a job's pipes), which is not a leak; what
 * a leak holds stays when the load stops. The servers (NATS, PostgreSQL's
 * postmaster, Redis) are sampled and plotted but not judged: their caches
 * grow by design.
 *
 * Also checked, as in the chaos test: no 5xx, no 4xx, no request hung, every
 * accepted submission judged exactly once, no process exited.
 *
 * It writes the samples as CSV (soak.csv: seconds, then RSS KiB and
 * descriptors per process) and plots them with gnuplot (soak.png), into
 * CC_SOAK_OUT (a folder; default: the working folder, which ctest makes the
 * test's build folder). The long run's plot is docs/soak.png:
 *   CC_SOAK_SECONDS=1800 CC_SOAK_OUT=docs build/bin/test_soak */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cctest_http.h"
#include "cctest_load.h"
#include "cctest_mesh.h"

enum { SAMPLE_S = 10, MAX_SAMPLES = 4096, QUIET_S = 3 };
#define RSS_GROWTH_MAX 0.05

/* The sampled processes: the mesh's, then the servers'. */
enum { NSERVERS = 3, NPROCS = CCT_NPROCS + NSERVERS };

static cct_mesh mesh;

typedef struct {
    double t;
    long rss_kib[NPROCS], fds[NPROCS];
} sample;

static sample samples[MAX_SAMPLES];
static int nsamples;

static const char *proc_name(int k)
{
    static const char *const servers[NSERVERS] = {"nats-server", "postgres", "redis-server"};
    return k < CCT_NPROCS ? cct_proc_name((cct_proc_kind)k) : servers[k - CCT_NPROCS];
}

static pid_t proc_pid(int k)
{
    if (k < CCT_NPROCS)
        return mesh.procs[k].pid;
    const cc_local_proc *p = k == CCT_NPROCS       ? &mesh.stack.nats
                             : k == CCT_NPROCS + 1 ? &mesh.stack.pg
                                                   : &mesh.stack.redis;
    return p->pid;
}

/* The open descriptors of pid, or -1. */
static long fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void take_sample(double t)
{
    if (nsamples == MAX_SAMPLES)
        return;
    sample *s = &samples[nsamples++];
    s->t = t;
    for (int k = 0; k < NPROCS; k++) {
        pid_t pid = proc_pid(k);
        s->rss_kib[k] = pid > 0 ? cct_rss_kib(pid) : -1;
        s->fds[k] = pid > 0 ? fd_count(pid) : -1;
    }
}

/* ---- output ------------------------------------------------------------------ */

static void write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        CCT_FAIL("cannot write %s", path);
        return;
    }
    fprintf(f, "seconds");
    for (int k = 0; k < NPROCS; k++)
        fprintf(f, ",%s RSS KiB,%s fds", proc_name(k), proc_name(k));
    fputc('\n', f);
    for (int i = 0; i < nsamples; i++) {
        fprintf(f, "%.0f", samples[i].t);
        for (int k = 0; k < NPROCS; k++)
            fprintf(f, ",%ld,%ld", samples[i].rss_kib[k], samples[i].fds[k]);
        fputc('\n', f);
    }
    fclose(f);
}

/* Three panels against minutes, the warm-up shaded: CodeCourt's RSS in
 * MiB, CodeCourt's descriptors, the servers' RSS. */
static void plot(const char *csv, const char *png, double warmup, double seconds)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "soak: no plot: gnuplot is missing (scripts/deps/base.txt has it)\n");
        return;
    }
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "gnuplot > '%s.log' 2>&1", png);
    FILE *g = popen(cmd, "w");
    if (!g) {
        CCT_FAIL("cannot run gnuplot");
        return;
    }
    fprintf(g, "names = '");
    for (int k = 0; k < NPROCS; k++)
        fprintf(g, "%s%s", k ? " " : "", proc_name(k));
    fprintf(g,
            "'\n"
            "set terminal pngcairo size 1200,1200 font 'sans,10'\n"
            "set output '%s'\n"
            "set termoption noenhanced\n"
            "set datafile separator ','\n"
            "set key outside right top\n"
            "set grid\n"
            "set xrange [0:%g]\n"
            "set object 1 rect from 0, graph 0 to %g, graph 1 fc rgb '#eeeeee' behind\n"
            "set multiplot layout 3,1 title 'CodeCourt soak: %.1f min of mixed load, sampled "
            "every %d s (shaded: warm-up)'\n"
            "set ylabel 'RSS (MiB)'\n"
            "plot for [k=1:%d] '%s' using ($1/60):(column(2*k)/1024.0) with linespoints "
            "pt 7 ps 0.3 title word(names, k)\n"
            "set ylabel 'open descriptors'\n"
            "plot for [k=1:%d] '%s' using ($1/60):(column(2*k+1)) with linespoints "
            "pt 7 ps 0.3 title word(names, k)\n"
            "set ylabel 'servers: RSS (MiB)'\n"
            "set xlabel 'minutes'\n"
            "plot for [k=%d:%d] '%s' using ($1/60):(column(2*k)/1024.0) with linespoints "
            "pt 7 ps 0.3 title word(names, k)\n"
            "unset multiplot\n",
            png, seconds / 60, warmup / 60, seconds / 60, SAMPLE_S, CCT_NPROCS, csv, CCT_NPROCS,
            csv, CCT_NPROCS + 1, NPROCS, csv);
    int rc = pclose(g);
    CCT_CHECK(rc == 0 && access(png, F_OK) == 0, "gnuplot failed (see %s.log)", png);
}

/* ---- the check ------------------------------------------------------------------ */

/* Stops the load, lets what is in flight finish and samples. */
static void quiet_sample(sample *q, double t)
{
    cct_load_stop();
    sleep(QUIET_S);
    q->t = t;
    for (int k = 0; k < NPROCS; k++) {
        pid_t pid = proc_pid(k);
        q->rss_kib[k] = pid > 0 ? cct_rss_kib(pid) : -1;
        q->fds[k] = pid > 0 ? fd_count(pid) : -1;
    }
}

static void check_growth(const sample *a, const sample *b)
{
    fprintf(stderr, "soak figures: growth from %.0f s to %.0f s (load stopped for %d s)\n", a->t,
            b->t, QUIET_S);
    for (int k = 0; k < NPROCS; k++) {
        long r0 = a->rss_kib[k], r1 = b->rss_kib[k], f0 = a->fds[k], f1 = b->fds[k];
        double g = r0 > 0 ? (double)(r1 - r0) / (double)r0 : 0;
        bool judged = k < CCT_NPROCS;
        fprintf(stderr, "  %-14s RSS %7.1f -> %7.1f MiB (%+5.1f%%), descriptors %3ld -> %3ld%s\n",
                proc_name(k), r0 / 1024.0, r1 / 1024.0, g * 100, f0, f1,
                judged ? "" : " (server: not judged)");
        if (!judged)
            continue;
        CCT_CHECK(r0 > 0 && r1 > 0 && f0 >= 0 && f1 >= 0, "%s: not sampled", proc_name(k));
        CCT_CHECK(g <= RSS_GROWTH_MAX, "%s: RSS grew %.1f%% (%ld -> %ld KiB) after the warm-up",
                  proc_name(k), g * 100, r0, r1);
        CCT_CHECK(f1 <= f0, "%s: open descriptors grew from %ld to %ld after the warm-up",
                  proc_name(k), f0, f1);
    }
}

int main(void)
{
    const char *e = getenv("CC_SOAK_SECONDS");
    double seconds = e && *e ? strtod(e, NULL) : 120;
    double warmup = seconds / 10 > 30 ? seconds / 10 : 30;
    e = getenv("CC_SOAK_OUT");
    const char *out = e && *e ? e : ".";
    char csv[4200], png[4200];
    snprintf(csv, sizeof csv, "%s/soak.csv", out);
    snprintf(png, sizeof png, "%s/soak.png", out);
    fprintf(stderr, "soak: %.0f s, samples every %d s, warm-up %.0f s, into %s and %s\n", seconds,
            SAMPLE_S, warmup, csv, png);

    /* The per-user queue is not what a soak measures: a machine too busy
     * to judge a submission every 1.5 s builds a queue instead of
     * refusing (the end check waits for it). */
    cct_mesh_options o = {.max_queued = 100000};
    cct_mesh_start(&mesh, "test-soak", &o);
    cct_account root;
    if (!cct_login_root(&mesh, &root))
        exit(1);
    cct_load_start(&mesh, &root, 2);

    double start = cct_now_s(), renewed = start, paused = 0;
    sample quiet[2] = {0};
    bool warm = false;
    for (int i = 0;; i++) {
        /* Samples on a fixed grid of load time, whatever a sample costs. */
        double at = start + paused + (double)i * SAMPLE_S;
        while (cct_now_s() < at)
            usleep(50000);
        double t = cct_now_s() - start - paused;
        take_sample(t);
        if (t >= seconds)
            break;
        if (!warm && t >= warmup) {
            double p0 = cct_now_s();
            quiet_sample(&quiet[0], t);
            cct_load_start(&mesh, &root, 2);
            paused += cct_now_s() - p0;
            warm = true;
        }
        /* An access token lasts 15 minutes. */
        cct_account a;
        if (cct_now_s() - renewed > 600 && cct_login_root(&mesh, &a)) {
            root = a;
            cct_load_set_root(&a);
            renewed = cct_now_s();
        }
        for (int k = 0; k < CCT_NPROCS; k++)
            if (cc_local_proc_poll(&mesh.procs[k]))
                CCT_FAIL("%s exited by itself (wait status 0x%x) at %.0f s",
                         cct_proc_name((cct_proc_kind)k), mesh.procs[k].status, t);
    }
    quiet_sample(&quiet[1], samples[nsamples - 1].t);

    write_csv(csv);
    plot(csv, png, warmup, samples[nsamples - 1].t);
    CCT_CHECK(warm, "the run ended before the warm-up did: run longer");
    if (warm)
        check_growth(&quiet[0], &quiet[1]);
    cct_load_print("soak figures: ");
    CCT_CHECK(atomic_load(&cct_load.s5xx) == 0, "%ld answers 5xx other than 503",
              atomic_load(&cct_load.s5xx));
    CCT_CHECK(atomic_load(&cct_load.hung) == 0, "%ld requests hung", atomic_load(&cct_load.hung));
    int naccepted;
    char(*accepted)[64] = cct_load_accepted(&naccepted);
    cct_check_all(&mesh, &root, accepted, naccepted, 600000);
    cct_mesh_stop(&mesh);
    bool failed = atomic_load(&cct_failed);
    fprintf(stderr, "soak: %s in %.1f s\n", failed ? "FAILED" : "ok", cct_now_s() - start);
    return failed ? 1 : 0;
}
