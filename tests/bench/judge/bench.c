/* Measures, in one run, what one test run costs:
 *   bare     fork + execve + waitpid of a trivial static program
 *   bwrap    one bubblewrap launch per run (namespaces built every time)
 *   sandbox  one run through cc-judge's box (namespaces built once; per run
 *            a nested pid namespace, rlimits, seccomp, fresh /tmp, cgroup
 *            limits and accounting) -- all limits on, as for a real test
 * and prints medians and ratios; then, for every available language of
 * judge-pool/languages.yaml, the wall time of judging its hello world
 * (tests/judge/langs/<id>/hello.*) as one submission: box, compile, one
 * run, check. Usage: bench-judge-sandbox [RUNS] [--no-langs] */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Writes a one-test package expecting "Hello, World!" into dir. */
static bool hello_package(const char *dir)
{
    char p[512];
    const char *sub[] = {"", "/data", "/data/secret"};
    for (size_t i = 0; i < JUDGE_LEN(sub); i++) {
        snprintf(p, sizeof p, "%s%s", dir, sub[i]);
        if (mkdir(p, 0755) != 0)
            return false;
    }
    const char *files[][2] = {
        {"problem.yaml", "name: hello\nlimits:\n  time_limit: 10\n  memory: 512\n"},
        {"data/secret/1.in", ""},
        {"data/secret/1.ans", "Hello, World!\n"}};
    for (size_t i = 0; i < JUDGE_LEN(files); i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(p, "w");
        if (!f)
            return false;
        fputs(files[i][1], f);
        fclose(f);
    }
    return true;
}

/* Wall time of judging each language's hello world (compile + one run),
 * the median of `reps` submissions. */
static int bench_languages(const char *runner, int reps)
{
    judge_langs *langs;
    if (judge_langs_load(BENCH_LANGUAGES_FILE, &langs) != CC_OK) {
        fprintf(stderr, "languages: %s\n", cc_err_msg());
        return 1;
    }
    char tmpl[] = "/tmp/bench-langs-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    char *pkgdir = tmp ? judge__xasprintf("%s/pkg", tmp) : NULL;
    judge_package *pkg = NULL;
    if (!pkgdir || !hello_package(pkgdir) ||
        judge_package_load(pkgdir, langs, NULL, &pkg) != CC_OK) {
        fprintf(stderr, "hello package: %s\n", cc_err_msg());
        return 1;
    }
    judge_options o = {.runner_path = runner};
    judge_worker *w;
    if (judge_worker_new(pkg, langs, &o, &w) != CC_OK) {
        fprintf(stderr, "worker: %s\n", cc_err_msg());
        return 1;
    }
    printf("\nhello world per language (one submission: box, compile, one run; median of %d)\n",
           reps);
    printf("  %-13s %10s %10s %10s  %s\n", "language", "total ms", "compile", "run", "verdict");
    int bad = 0;
    for (size_t i = 0; i < judge_langs_count(langs); i++) {
        const judge_lang *l = judge_langs_at(langs, i);
        if (!judge_lang_available(l)) {
            printf("  %-13s %10s\n", judge_lang_id(l), "missing");
            continue;
        }
        char *dir = judge__xasprintf("%s/%s", BENCH_LANG_TESTS, judge_lang_id(l));
        DIR *d = opendir(dir);
        char *src = NULL;
        for (struct dirent *e; d && (e = readdir(d));)
            if (!strncasecmp(e->d_name, "hello.", 6)) {
                src = judge__xasprintf("%s/%s", dir, e->d_name);
                break;
            }
        if (d)
            closedir(d);
        free(dir);
        if (!src) {
            printf("  %-13s %10s\n", judge_lang_id(l), "no hello.*");
            continue;
        }
        double tot[9], comp[9], run[9];
        const char *verdict = "AC";
        for (int k = 0; k < reps; k++) {
            judge_result r;
            const char *srcs[] = {src};
            double s = now_ms();
            judge_worker_judge(w, l, srcs, 1, 0, &r);
            tot[k] = now_ms() - s;
            comp[k] = (double)r.compile_ms;
            run[k] = r.ntests ? (double)r.tests[0].wall_ms : 0;
            if (r.verdict != JUDGE_AC) {
                verdict = judge_verdict_str(r.verdict);
                bad = 1;
            }
            judge_result_clear(&r);
        }
        printf("  %-13s %10.0f %10.0f %10.0f  %s\n", judge_lang_id(l), median(tot, reps),
               median(comp, reps), median(run, reps), verdict);
        fflush(stdout);
        free(src);
    }
    judge_worker_free(w);
    judge_package_free(pkg);
    judge_langs_free(langs);
    char *rm = judge__xasprintf("rm -rf '%s'", tmp);
    if (system(rm) != 0)
        bad = 1;
    free(rm);
    free(pkgdir);
    return bad;
}

int main(int argc, char **argv)
{
    long runs = 200;
    bool langs = true;
    if (argc > 2 && !strcmp(argv[2], "--no-langs"))
        langs = false;
    if (argc > 1 && !strcmp(argv[1], "--no-langs"))
        langs = false;
    else if (argc > 1 && (!judge__parse_long(argv[1], &runs) || runs < 5 || runs > 100000)) {
        fprintf(stderr, "usage: bench-judge-sandbox [RUNS >= 5] [--no-langs]\n");
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
    int rc = langs ? bench_languages(runner, 3) : 0;
    free(t);
    free(truebin);
    free(runner);
    free(dir);
    return rc;
}
