/* Measures, in one run, what one test run costs:
 *   bare     fork + execve + waitpid of a trivial static program
 *   bwrap    one bubblewrap launch per run (namespaces built every time)
 *   sandbox  one run through cc-judge's box (namespaces built once; per run
 *            a nested pid namespace, rlimits, seccomp, fresh /tmp, cgroup
 *            limits and accounting) -- all limits on, as for a real test
 * and prints medians and ratios. Usage: bench-judge-sandbox [RUNS] */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static void spawn_wait(char *const argv[])
{
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t p = fork();
    if (p == 0) {
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
}

int main(int argc, char **argv)
{
    long runs = 200;
    if (argc > 1 && (!judge__parse_long(argv[1], &runs) || runs < 5 || runs > 100000)) {
        fprintf(stderr, "usage: bench-judge-sandbox [RUNS >= 5]\n");
        return 2;
    }
    char *dir = judge__default_runner();
    *strrchr(dir, '/') = '\0';
    char *truebin = judge__xasprintf("%s/bench-true", dir);
    char *runner = judge__xasprintf("%s/cc-judge-runner", dir);
    double *t = judge__xcalloc((size_t)runs, sizeof *t);

    char *bare_argv[] = {truebin, NULL};
    for (long i = 0; i < runs; i++) {
        double s = now_ms();
        spawn_wait(bare_argv);
        t[i] = now_ms() - s;
    }
    double bare = median(t, (int)runs);

    char *bw_argv[] = {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session",
                       "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib64",
                       "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                       "--ro-bind", truebin, "/true", "/true", NULL};
    long bw_runs = runs < 50 ? runs : 50;
    for (long i = 0; i < bw_runs; i++) {
        double s = now_ms();
        spawn_wait(bw_argv);
        t[i] = now_ms() - s;
    }
    double bw = median(t, (int)bw_runs);

    /* The program goes into the box the way sources do: an archive. */
    int in = open(truebin, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0) {
        perror(truebin);
        return 1;
    }
    size_t len;
    char *data = judge__read_fd(in, (size_t)st.st_size, &len, NULL);
    close(in);
    int arc = memfd_create("arc", MFD_CLOEXEC);
    struct rp_file h = {.path_len = 4, .mode = 0755, .size = len};
    if (write(arc, &h, sizeof h) < 0 || write(arc, "true", 4) < 0 ||
        write(arc, data, len) != (ssize_t)len)
        return 1;
    free(data);
    box_config cfg = {.runner_path = runner, .box_bytes = 64u << 20, .tmp_bytes = 64u << 20};
    box *b;
    double open_s = now_ms();
    if (box_open(&cfg, &b) != CC_OK || box_prepare(b, arc) != CC_OK || box_seal(b) != CC_OK) {
        fprintf(stderr, "box: %s\n", cc_err_msg());
        return 1;
    }
    double open_ms = now_ms() - open_s;
    jstrv av = {0}, env = {0};
    jstrv_push(&av, "/box/true");
    jstrv_push(&env, "PATH=/usr/bin:/bin");
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    int out = memfd_create("out", MFD_CLOEXEC);
    box_run_req rq = {.argv = &av, .env = &env, .fds = {dn, out, out}, .nfds = 3,
                      .flags = RP_F_RESET_TMP, .cpu_ms = 1000, .wall_ms = 3000,
                      .memory_bytes = 256u << 20, .address_space_limit = true,
                      .fsize_bytes = 8u << 20, .stack_bytes = 64u << 20, .nofile = 64,
                      .pids = 16, .tmp_bytes = 64u << 20, .drain_fd = -1};
    bool cg = box_has_cgroup(b);
    for (long i = 0; i < runs; i++) {
        box_run_res r;
        double s = now_ms();
        cc_status rc = box_run(b, &rq, &r);
        t[i] = now_ms() - s;
        if (rc != CC_OK || r.exit_code != 0 || r.term_signal) {
            fprintf(stderr, "run %ld failed: %s\n", i, cc_err_msg());
            return 1;
        }
        box_run_res_clear(&r);
    }
    double sb = median(t, (int)runs);
    box_close(b);

    printf("sandbox cost benchmark (%ld runs, medians)\n", runs);
    printf("  bare fork+exec+wait          %7.3f ms\n", bare);
    printf("  bwrap launch per run         %7.3f ms  (%ld runs)\n", bw, bw_runs);
    printf("  cc-judge sandbox run         %7.3f ms  (all limits on, cgroup %s)\n", sb,
           cg ? "yes" : "no, rlimits");
    printf("  box setup once per submission %6.3f ms\n", open_ms);
    printf("  sandbox / bare               %7.2fx  (target <= 1.5x)\n", sb / bare);
    printf("  bwrap / sandbox              %7.2fx  (target >= 4x)\n", bw / sb);
    jstrv_free(&av);
    jstrv_free(&env);
    free(t);
    free(truebin);
    free(runner);
    free(dir);
    return 0;
}
