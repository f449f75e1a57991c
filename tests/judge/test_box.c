/* Tests of the host/runner protocol of the sandbox (judge-pool/src/box.c,
 * runner.c) on a real box: bubblewrap, cc-judge-runner next to this test. */
#include "internal.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

static box *open_box(void)
{
    char *runner = judge__default_runner();
    box_config cfg = {.runner_path = runner, .box_bytes = 16u << 20, .tmp_bytes = 16u << 20};
    box *b = NULL;
    int arc = memfd_create("empty", MFD_CLOEXEC);
    assert_true(arc >= 0);
    cc_status s = box_open(&cfg, &b);
    if (s == CC_OK)
        s = box_prepare(b, arc);
    if (s == CC_OK)
        s = box_seal(b);
    if (s != CC_OK)
        fail_msg("box: %s", cc_err_msg());
    close(arc);
    free(runner);
    return b;
}

/* Runs `sh -c script` and returns its exit code (-1: the box failed,
 * 1000 + signal: killed). */
static int run_sh(box *b, const char *script)
{
    jstrv av = {0}, env = {0};
    jstrv_push(&av, "/bin/sh");
    jstrv_push(&av, "-c");
    jstrv_push(&av, script);
    jstrv_push(&env, "PATH=/usr/bin:/bin");
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    box_run_req rq = {.argv = &av, .env = &env, .fds = {dn, dn, dn}, .nfds = 3,
                      .flags = RP_F_RESET_TMP, .cpu_ms = 5000, .wall_ms = 10000,
                      .memory_bytes = 256u << 20, .fsize_bytes = 1u << 20,
                      .stack_bytes = 8u << 20, .nofile = 64, .pids = 16,
                      .tmp_bytes = 1u << 20, .drain_fd = -1};
    box_run_res r;
    cc_status s = box_run(b, &rq, &r);
    int code = s != CC_OK ? -1
               : (r.flags & RP_R_KILLED) || r.term_signal ? 1000 + r.term_signal
                                                          : r.exit_code;
    if (s != CC_OK)
        print_message("box_run: %s\n", cc_err_msg());
    box_run_res_clear(&r);
    close(dn);
    jstrv_free(&av);
    jstrv_free(&env);
    return code;
}

/* The host's CPU watchdog decides to kill from the CPU time it reads; the
 * run may have ended and been answered in between, so the KILL reaches
 * the runner after the reply. It must neither end the next run nor be
 * answered (an answer would be read as the next run's, and every reply
 * after it would belong to the run before). */
static void test_late_kill(void **state)
{
    (void)state;
    box *b = open_box();
    assert_int_equal(run_sh(b, "exit 3"), 3);
    box__send_kill(b);
    assert_int_equal(run_sh(b, "sleep 0.2; exit 4"), 4);
    box__send_kill(b);
    box__send_kill(b);
    assert_int_equal(run_sh(b, "exit 5"), 5);
    assert_int_equal(run_sh(b, "exit 6"), 6);
    box_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_kill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
