/* Unit: the pure parts of cclocal (ports, names, conninfo, secrets, rmtree)
 * and process control with small stand-in children (sleep, sh). */
#include "cc/local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void test_free_port_is_bindable(void **state)
{
    (void)state;
    uint16_t a = 0, b = 0;
    assert_int_equal(cc_local_free_port(&a), CC_OK);
    assert_int_equal(cc_local_free_port(&b), CC_OK);
    assert_int_not_equal(a, 0);
    assert_int_not_equal(b, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(a)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    /* Below the ephemeral range, where outgoing connections cannot take
     * them, and never the same port twice in one process. */
    unsigned lo = 32768, hi = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        assert_int_equal(fscanf(f, "%u %u", &lo, &hi), 2);
        fclose(f);
    }
    uint16_t seen[200];
    for (int i = 0; i < 200; i++) {
        assert_int_equal(cc_local_free_port(&seen[i]), CC_OK);
        if (lo > 20000)
            assert_true(seen[i] < lo);
        assert_int_not_equal(seen[i], a);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(seen[i], seen[j]);
    }
}

static void test_service_names(void **state)
{
    (void)state;
    assert_true(cc_local_service_name_ok("cc_user"));
    assert_true(cc_local_service_name_ok("_x9"));
    assert_false(cc_local_service_name_ok(""));
    assert_false(cc_local_service_name_ok(NULL));
    assert_false(cc_local_service_name_ok("9abc"));
    assert_false(cc_local_service_name_ok("CcUser"));
    assert_false(cc_local_service_name_ok("a-b"));
    assert_false(cc_local_service_name_ok("x\"; DROP"));
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(cc_local_service_name_ok(longname));
    longname[63] = '\0';
    assert_true(cc_local_service_name_ok(longname));
}

static void test_conninfo(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(
        cc_local_conninfo(buf, sizeof buf, "127.0.0.1", 5432, "cc_user", "cc_user", "abc123"),
        CC_OK);
    assert_string_equal(buf,
                        "host=127.0.0.1 port=5432 dbname=cc_user user=cc_user password=abc123");
    assert_int_equal(cc_local_conninfo(buf, sizeof buf, "127.0.0.1", 1, "d", "u", NULL), CC_OK);
    assert_string_equal(buf, "host=127.0.0.1 port=1 dbname=d user=u");
    /* libpq's quoting: single quotes around, backslash before ' and \. */
    assert_int_equal(cc_local_conninfo(buf, sizeof buf, "h", 2, "d", "u", "a b'c\\"), CC_OK);
    assert_string_equal(buf, "host=h port=2 dbname=d user=u password='a b\\'c\\\\'");
    assert_int_equal(cc_local_conninfo(buf, sizeof buf, "h", 2, "d", "u", ""), CC_OK);
    assert_string_equal(buf, "host=h port=2 dbname=d user=u password=''");
    char small[20];
    assert_int_equal(cc_local_conninfo(small, sizeof small, "127.0.0.1", 5432, "db", "u", NULL),
                     CC_LIMIT);
    assert_string_equal(small, "");
    assert_int_equal(cc_local_conninfo(buf, sizeof buf, NULL, 1, "d", "u", NULL), CC_INVALID);
}

/* The TLS settings a stack appends: quoted like the rest; one that does
 * not fit leaves the conninfo as it was. */
static void test_conninfo_add(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(cc_local_conninfo(buf, sizeof buf, "h", 2, "d", "u", NULL), CC_OK);
    assert_int_equal(cc_local_conninfo_add(buf, sizeof buf, "sslmode", "verify-full"), CC_OK);
    assert_int_equal(cc_local_conninfo_add(buf, sizeof buf, "sslrootcert", "/tmp/a b/ca.crt"),
                     CC_OK);
    assert_string_equal(buf,
                        "host=h port=2 dbname=d user=u sslmode=verify-full "
                        "sslrootcert='/tmp/a b/ca.crt'");
    char small[40];
    assert_int_equal(cc_local_conninfo(small, sizeof small, "h", 2, "d", "u", NULL), CC_OK);
    assert_int_equal(cc_local_conninfo_add(small, sizeof small, "sslrootcert",
                                           "/a/rather/long/path/to/ca.crt"),
                     CC_LIMIT);
    assert_string_equal(small, "host=h port=2 dbname=d user=u");
}

static void test_random_hex(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_int_equal(cc_local_random_hex(a, 16), CC_OK);
    assert_int_equal(cc_local_random_hex(b, 16), CC_OK);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
    char big[200];
    assert_int_equal(cc_local_random_hex(big, 99), CC_INVALID);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void test_rmtree_does_not_follow_symlinks(void **state)
{
    (void)state;
    char root[] = "/tmp/cclocal-unit-XXXXXX", outside[] = "/tmp/cclocal-unit-XXXXXX";
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(outside));
    char p[512], keep[512];
    snprintf(keep, sizeof keep, "%s/keep", outside);
    touch(keep);
    snprintf(p, sizeof p, "%s/a", root);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/b", root);
    assert_int_equal(mkdir(p, 0000), 0); /* unreadable to others; root removes it */
    snprintf(p, sizeof p, "%s/a/f", root);
    touch(p);
    snprintf(p, sizeof p, "%s/a/link", root);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(cc_local_rmtree(root), CC_OK);
    struct stat st;
    assert_int_equal(stat(root, &st), -1);
    assert_int_equal(stat(keep, &st), 0);
    assert_int_equal(cc_local_rmtree(root), CC_OK); /* missing is fine */
    assert_int_equal(cc_local_rmtree("/"), CC_INVALID);
    assert_int_equal(cc_local_rmtree(outside), CC_OK);
}

static void test_spawn_stop_poll(void **state)
{
    (void)state;
    char dir[] = "/tmp/cclocal-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[512], pidpath[512], buf[64];
    snprintf(log, sizeof log, "%s/x.log", dir);
    snprintf(pidpath, sizeof pidpath, "%s/x.pid", dir);

    /* A child that runs until told: SIGTERM stops it, pidfile says its pid. */
    cc_local_proc p = {0};
    const char *sleep_argv[] = {"sleep", "100", NULL};
    cc_local_spawn_opts o = {.name = "sleeper",
                             .path = "/bin/sleep",
                             .argv = sleep_argv,
                             .log_path = log,
                             .pid_path = pidpath};
    assert_int_equal(cc_local_spawn(&p, &o), CC_OK);
    assert_true(p.pid > 0);
    assert_true(cc_local_pid_alive(p.pid));
    assert_int_equal(getpgid(p.pid), p.pid); /* its own group */
    int fd = open(pidpath, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(strtol(buf, NULL, 10), p.pid);
    assert_false(cc_local_proc_poll(&p));
    pid_t pid = p.pid;
    assert_int_equal(cc_local_proc_stop(&p, SIGTERM, 5000), CC_OK);
    assert_int_equal(p.pid, 0);
    assert_true(WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGTERM);
    assert_false(cc_local_pid_alive(pid));

    /* One that ignores SIGTERM is killed after the timeout, with its group. */
    const char *stubborn[] = {"sh", "-c", "trap '' TERM; sleep 100 & wait", NULL};
    o.path = "/bin/sh";
    o.argv = stubborn;
    o.pid_path = NULL;
    assert_int_equal(cc_local_spawn(&p, &o), CC_OK);
    pid = p.pid;
    usleep(100000);
    assert_int_equal(cc_local_proc_stop(&p, SIGTERM, 300), CC_TIMEOUT);
    assert_false(cc_local_pid_alive(pid));
    assert_false(cc_local_group_alive(pid));

    /* Exit status is reported. */
    const char *exit3[] = {"sh", "-c", "echo hello; exit 3", NULL};
    o.argv = exit3;
    assert_int_equal(cc_local_spawn(&p, &o), CC_OK);
    for (int i = 0; i < 500 && !cc_local_proc_poll(&p); i++)
        usleep(10000);
    assert_int_equal(p.pid, 0);
    assert_true(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 3);
    fd = open(log, O_RDONLY);
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    assert_non_null(strstr(buf, "hello"));

    /* kill -9 helper. */
    o.argv = sleep_argv;
    o.path = "/bin/sleep";
    assert_int_equal(cc_local_spawn(&p, &o), CC_OK);
    assert_int_equal(cc_local_proc_kill(&p), CC_OK);
    assert_true(WIFSIGNALED(p.status) && WTERMSIG(p.status) == SIGKILL);
    assert_int_equal(cc_local_proc_stop(&p, SIGTERM, 10), CC_OK); /* not running: fine */

    /* A missing binary fails at spawn, not later. */
    o.path = "/nonexistent/cc-nothing";
    assert_int_equal(cc_local_spawn(&p, &o), CC_SYS);
    assert_int_equal(p.pid, 0);

    assert_int_equal(cc_local_rmtree(dir), CC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_port_is_bindable),
        cmocka_unit_test(test_service_names),
        cmocka_unit_test(test_conninfo),
        cmocka_unit_test(test_conninfo_add),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_rmtree_does_not_follow_symlinks),
        cmocka_unit_test(test_spawn_stop_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
