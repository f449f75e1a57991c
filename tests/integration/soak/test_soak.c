/* Soak (issue 20): the whole mesh carries the mixed load of the chaos test
 * (cctest_load.h: submissions, problem reads, logins, registrations, live
 * sockets) for CC_SOAK_SECONDS (120 by default, what CI runs; the long run
 * is 1800), and every 10 s the test reads each process's resident memory
 * (VmRSS in /proc/PID/status) and open descriptors (/proc/PID/fd).
 *
 * After the warm-up (a tenth of the run, at least 30 s) a CodeCourt process
 * (the gateway, each actor, the judge) may grow at most 5% in RSS and not
 * at all in descriptors, else the test fails naming it. Growth compares the
 * lowest of the last three samples with the lowest of the first three after
 * the warm-up: a request in flight holds a socket and buffers for a moment
 * (a sample may catch the live socket the load keeps opening, or a job's
 * pipes), while a leak raises the floor itself. The servers (NATS,
 * PostgreSQL's postmaster, Redis) are sampled and plotted but not judged:
 * their caches grow by design.
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

enum { SAMPLE_S = 10, MAX_SAMPLES = 4096, FLOOR_OF = 3 };
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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* VmRSS of pid in KiB, or -1. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
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
        s->rss_kib[k] = pid > 0 ? rss_kib(pid) : -1;
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

/* Two panels, RSS in MiB and descriptors, against minutes; the warm-up
 * shaded. */
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
    fprintf(g,
            "set terminal pngcairo size 1200,900 font 'sans,10'\n"
            "set output '%s'\n"
            "set termoption noenhanced\n"
            "set datafile separator ','\n"
            "set key outside right top\n"
            "set grid\n"
            "set xrange [0:%g]\n"
            "set object 1 rect from 0, graph 0 to %g, graph 1 fc rgb '#eeeeee' behind\n"
            "set multiplot layout 2,1 title 'CodeCourt soak: %.1f min of mixed load, sampled "
            "every %d s (shaded: warm-up)'\n"
            "set ylabel 'RSS (MiB)'\n"
            "plot for [k=0:%d] '%s' using ($1/60):(column(2+2*k)/1024.0) with linespoints "
            "pt 7 ps 0.4 title columnhead(2+2*k)\n"
            "set ylabel 'open descriptors'\n"
            "set xlabel 'minutes'\n"
            "plot for [k=0:%d] '%s' using ($1/60):(column(3+2*k)) with linespoints "
            "pt 7 ps 0.4 title columnhead(3+2*k)\n"
            "unset multiplot\n",
            png, seconds / 60, warmup / 60, seconds / 60, SAMPLE_S, NPROCS - 1, csv, NPROCS - 1,
            csv);
    int rc = pclose(g);
    CCT_CHECK(rc == 0 && access(png, F_OK) == 0, "gnuplot failed (see %s.log)", png);
}

/* ---- the check ------------------------------------------------------------------ */

/* The lowest value of field over samples [from, from + FLOOR_OF). */
static long floor_of(int from, int k, bool fds)
{
    long v = -1;
    for (int i = from; i < from + FLOOR_OF && i < nsamples; i++) {
        long x = fds ? samples[i].fds[k] : samples[i].rss_kib[k];
        if (x >= 0 && (v < 0 || x < v))
            v = x;
    }
    return v;
}

static void check_growth(double warmup)
{
    int first = 0;
    while (first < nsamples && samples[first].t < warmup)
        first++;
    int last = nsamples - FLOOR_OF;
    if (last < first + FLOOR_OF) {
        CCT_FAIL("too few samples after the warm-up (%d): run longer", nsamples - first);
        return;
    }
    fprintf(stderr, "soak figures: growth from %.0f s to %.0f s (lowest of %d samples each)\n",
            samples[first].t, samples[nsamples - 1].t, FLOOR_OF);
    for (int k = 0; k < NPROCS; k++) {
        long r0 = floor_of(first, k, false), r1 = floor_of(last, k, false);
        long f0 = floor_of(first, k, true), f1 = floor_of(last, k, true);
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

    cct_mesh_start(&mesh, "test-soak", NULL);
    cct_account root;
    if (!cct_login_root(&mesh, &root))
        exit(1);
    cct_load_start(&mesh, &root, 2);

    double start = now_s(), renewed = start;
    for (int i = 0;; i++) {
        /* Samples on a fixed grid, whatever a sample costs. */
        double at = start + (double)i * SAMPLE_S;
        while (now_s() < at)
            usleep(50000);
        take_sample(now_s() - start);
        if (now_s() - start >= seconds)
            break;
        /* An access token lasts 15 minutes. */
        cct_account a;
        if (now_s() - renewed > 600 && cct_login_root(&mesh, &a)) {
            root = a;
            cct_load_set_root(&a);
            renewed = now_s();
        }
        for (int k = 0; k < CCT_NPROCS; k++)
            if (cc_local_proc_poll(&mesh.procs[k]))
                CCT_FAIL("%s exited by itself (wait status 0x%x) at %.0f s",
                         cct_proc_name((cct_proc_kind)k), mesh.procs[k].status, now_s() - start);
    }
    cct_load_stop();

    write_csv(csv);
    plot(csv, png, warmup, samples[nsamples - 1].t);
    check_growth(warmup);
    cct_load_print("soak figures: ");
    CCT_CHECK(atomic_load(&cct_load.s5xx) == 0, "%ld answers 5xx other than 503",
              atomic_load(&cct_load.s5xx));
    CCT_CHECK(atomic_load(&cct_load.hung) == 0, "%ld requests hung", atomic_load(&cct_load.hung));
    int naccepted;
    char(*accepted)[64] = cct_load_accepted(&naccepted);
    cct_check_all(&mesh, &root, accepted, naccepted, 120000);
    cct_mesh_stop(&mesh);
    bool failed = atomic_load(&cct_failed);
    fprintf(stderr, "soak: %s in %.1f s\n", failed ? "FAILED" : "ok", now_s() - start);
    return failed ? 1 : 0;
}
