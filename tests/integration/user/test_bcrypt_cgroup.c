/* cc-user's bcrypt workers in their own cgroup with cpu.idle 1
 * (actors/user/idlegroup.c, setting bcrypt-cgroup), on a cgroup v1 cpu
 * hierarchy at /sys/fs/cgroup/cpu:
 *   - auto: /sys/fs/cgroup/cpu/cc-user-bcrypt-<pid> exists with cpu.idle 1
 *     and holds exactly the bcrypt-threads workers, threads of cc-user at
 *     SCHED_OTHER nice 19 (the group yields; passwords.c); a login (bcrypt on those workers) works; after SIGTERM
 *     cc-user exits cleanly and the folder is gone;
 *   - off: no folder, and the workers run at SCHED_IDLE instead;
 *   - an explicit folder: the child is made there, and an empty child a
 *     killed cc-user left behind there is swept;
 *   - a folder that is not a cgroup: a warning, and cc-user serves anyway.
 * Skipped (77) where /sys/fs/cgroup/cpu/cpu.idle is missing or not
 * writable (cgroup v2, an older kernel, no root). */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/local.h"
#include "cc/log.h"
#include "cctest_http.h"

#define CPU_ROOT "/sys/fs/cgroup/cpu"
enum { WORKERS = 3 };

static cc_local_stack stack;
static cc_local_proc gw;
static uint16_t port;
static char dir[4096], keypath[4200];

/* Starts cc-user as name with bcrypt-threads WORKERS and the flag extra
 * (or NULL), and waits for its /readyz. */
static void start_user(cc_local_proc *p, const char *name, const char *extra)
{
    uint16_t metrics;
    assert_int_equal(cc_local_free_port(&metrics), CC_OK);
    const char *args[] = {cct_nats_flag(&stack, "user"),
                          cct_fmt("--redis-url=%s", stack.redis_url),
                          cct_fmt("--pg-conninfo=%s", cc_local_pg_conninfo(&stack, "cc_user")),
                          cct_fmt("--metrics-port=%u", metrics),
                          cct_fmt("--jwt-key=%s", keypath),
                          cct_fmt("--bcrypt-threads=%d", WORKERS),
                          "--bcrypt-cost=4",
                          "--admin-username=root",
                          "--admin-email=root@example.org",
                          "--admin-password=rootpassword",
                          extra,
                          NULL};
    memset(p, 0, sizeof *p);
    cct_spawn(p, name, CC_BIN_DIR, "cc-user", dir, args);
    if (!cct_wait_status(metrics, "/readyz", 200, 30000))
        fail_msg("%s did not become ready (see %s/%s.log)", name, dir, name);
}

/* SIGTERM, then the exit must be clean. */
static void stop_user(cc_local_proc *p)
{
    assert_int_equal(cc_local_proc_stop(p, SIGTERM, 10000), CC_OK);
    assert_true(WIFEXITED(p->status));
    assert_int_equal(WEXITSTATUS(p->status), 0);
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool log_has(const char *name, const char *text)
{
    char path[4200], line[4096];
    snprintf(path, sizeof path, "%s/%s.log", dir, name);
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The child group holds cpu.idle 1 and exactly the WORKERS bcrypt threads
 * of pid: distinct, not its main thread, at SCHED_OTHER nice 19. */
static void assert_group(const char *group, pid_t pid)
{
    assert_true(is_dir(group));
    char path[4400], line[64];
    snprintf(path, sizeof path, "%s/cpu.idle", group);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "1\n");

    snprintf(path, sizeof path, "%s/tasks", group);
    f = fopen(path, "r");
    assert_non_null(f);
    long tids[16];
    int n = 0;
    while (n < 16 && fgets(line, sizeof line, f)) {
        char *end;
        tids[n] = strtol(line, &end, 10);
        assert_true(end != line && (*end == '\n' || *end == '\0'));
        n++;
    }
    fclose(f);
    assert_int_equal(n, WORKERS);
    for (int i = 0; i < n; i++) {
        assert_int_not_equal(tids[i], (long)pid);
        snprintf(path, sizeof path, "/proc/%ld/task/%ld", (long)pid, tids[i]);
        assert_true(is_dir(path));
        assert_int_equal(sched_getscheduler((pid_t)tids[i]), SCHED_OTHER);
        errno = 0;
        assert_int_equal(getpriority(PRIO_PROCESS, (id_t)tids[i]), 19);
        assert_int_equal(errno, 0);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(tids[i], tids[j]);
    }
}

static int setup(void **state)
{
    if (!cct_start_stack(&stack, "test-bcrypt-cgroup", (const char *[]){"cc_user", NULL}))
        return -1;
    snprintf(dir, sizeof dir, "%s", stack.dir);
    snprintf(keypath, sizeof keypath, "%s/jwt-key.pem", dir);
    return 0;
}

/* A login through the gateway: bcrypt on the workers. The gateway starts
 * on first use, once a cc-user has made the signing key. */
static void login(void)
{
    if (!gw.pid) {
        uint16_t gm;
        assert_int_equal(cc_local_free_port(&port), CC_OK);
        assert_int_equal(cc_local_free_port(&gm), CC_OK);
        assert_true(cct_start_gateway(&gw, &stack, CC_BIN_DIR, keypath, port, gm, NULL));
    }
    cct_resp r = cct_req(port, "POST", "/v1/auth/login",
                         "{\"username\":\"root\",\"password\":\"rootpassword\"}", NULL);
    assert_int_equal(r.status, 200);
    cct_resp_free(&r);
}

static int teardown(void **state)
{
    cc_local_proc_stop(&gw, SIGTERM, 10000);
    cc_local_stack_stop(&stack);
    cc_local_unguard(&stack);
    curl_global_cleanup();
    return 0;
}

static void test_auto(void **state)
{
    cc_local_proc u;
    start_user(&u, "cc-user-auto", NULL);
    char group[256];
    snprintf(group, sizeof group, CPU_ROOT "/cc-user-bcrypt-%ld", (long)u.pid);
    assert_group(group, u.pid);
    assert_true(log_has("cc-user-auto", "bcrypt workers run in an idle cgroup"));

    /* bcrypt still works on the workers in there. */
    login();
    assert_group(group, u.pid);

    stop_user(&u);
    assert_false(is_dir(group));
}

static void test_off(void **state)
{
    cc_local_proc u;
    start_user(&u, "cc-user-off", "--bcrypt-cgroup=off");
    char group[256];
    snprintf(group, sizeof group, CPU_ROOT "/cc-user-bcrypt-%ld", (long)u.pid);
    assert_false(is_dir(group));
    assert_true(log_has("cc-user-off", "bcrypt workers run in cc-user's own cgroup"));
    /* Without the group the workers, and only they, are at SCHED_IDLE. */
    char tasks[64];
    snprintf(tasks, sizeof tasks, "/proc/%ld/task", (long)u.pid);
    DIR *d = opendir(tasks);
    assert_non_null(d);
    int idle = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && sched_getscheduler((pid_t)strtol(e->d_name, NULL, 10)) == SCHED_IDLE)
            idle++;
    closedir(d);
    assert_int_equal(idle, WORKERS);
    stop_user(&u);
}

static void test_explicit(void **state)
{
    char parent[256], stale[300], group[300];
    snprintf(parent, sizeof parent, CPU_ROOT "/cc-test-bcrypt-%ld", (long)getpid());
    assert_int_equal(mkdir(parent, 0755), 0);
    /* An empty child of a process that is gone, as a kill -9 leaves. */
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    snprintf(stale, sizeof stale, "%s/cc-user-bcrypt-%ld", parent, (long)dead);
    assert_int_equal(mkdir(stale, 0755), 0);

    cc_local_proc u;
    start_user(&u, "cc-user-explicit", cct_fmt("--bcrypt-cgroup=%s", parent));
    snprintf(group, sizeof group, "%s/cc-user-bcrypt-%ld", parent, (long)u.pid);
    assert_group(group, u.pid);
    assert_false(is_dir(stale));
    stop_user(&u);
    assert_false(is_dir(group));
    assert_int_equal(rmdir(parent), 0);
}

static void test_not_a_cgroup(void **state)
{
    cc_local_proc u;
    start_user(&u, "cc-user-bad", cct_fmt("--bcrypt-cgroup=%s", dir));
    assert_true(log_has("cc-user-bad", "bcrypt workers get no idle cgroup"));
    char group[4200];
    snprintf(group, sizeof group, "%s/cc-user-bcrypt-%ld", dir, (long)u.pid);
    assert_false(is_dir(group));
    login();
    stop_user(&u);
}

int main(void)
{
    if (access(CPU_ROOT "/cpu.idle", W_OK) != 0 || access(CPU_ROOT "/tasks", W_OK) != 0) {
        printf("skip: %s/cpu.idle is missing or not writable (%s)\n", CPU_ROOT, strerror(errno));
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_explicit),
        cmocka_unit_test(test_not_a_cgroup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
