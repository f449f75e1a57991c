#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/config.h"

typedef struct {
    char *url;
    int64_t port;
    bool verbose;
    int64_t timeout_ms;
    int64_t max_body;
    int mode;
} settings;

static const char *const modes[] = {"fast", "safe", NULL};

static const cc_config_row rows[] = {
    {"url", CC_CFG_STRING, offsetof(settings, url), "nats://127.0.0.1:4222", 0, 0, NULL, "url"},
    {"port", CC_CFG_INT, offsetof(settings, port), "8080", 1, 65535, NULL, "port"},
    {"verbose", CC_CFG_BOOL, offsetof(settings, verbose), "false", 0, 0, NULL, "verbose"},
    {"timeout", CC_CFG_DURATION, offsetof(settings, timeout_ms), "5s", 0, 60000, NULL, "t"},
    {"max-body", CC_CFG_SIZE, offsetof(settings, max_body), "1M", 0, 0, NULL, "b"},
    {"mode", CC_CFG_ENUM, offsetof(settings, mode), "safe", 0, 0, modes, "m"},
};
#define NROWS (sizeof rows / sizeof rows[0])

/* cc_config_load, with its message copied into err. */
static cc_status load(settings *s, int argc, char **argv, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    cc_config_table t = {rows, NROWS, s};
    cc_status st = cc_config_load(&t, 1, argc, argv, NULL, 0, NULL);
    snprintf(err, errlen, "%s", st == CC_OK ? "" : cc_err_msg());
    return st;
}

static void free_settings(settings *s)
{
    cc_config_table t = {rows, NROWS, s};
    cc_config_free(&t, 1);
}

static int clear_env(void **state)
{
    unsetenv("CC_URL");
    unsetenv("CC_PORT");
    unsetenv("CC_MAX_BODY");
    unsetenv("CC_MODE");
    return 0;
}

static void defaults_apply(void **state)
{
    settings s;
    char err[256] = "";
    char *argv[] = {"prog", NULL};
    assert_int_equal(load(&s, 1, argv, err, sizeof err), CC_OK);
    assert_string_equal(s.url, "nats://127.0.0.1:4222");
    assert_int_equal(s.port, 8080);
    assert_false(s.verbose);
    assert_int_equal(s.timeout_ms, 5000);
    assert_int_equal(s.max_body, 1024 * 1024);
    assert_int_equal(s.mode, 1);
    free_settings(&s);
}

static void flags_beat_environment_beats_default(void **state)
{
    settings s;
    char err[256] = "";
    setenv("CC_PORT", "9000", 1);
    setenv("CC_URL", "nats://env:1", 1);
    char *argv[] = {"prog", "--port=7000", "--verbose", "--timeout", "250ms", "--mode=fast", NULL};
    assert_int_equal(load(&s, 6, argv, err, sizeof err), CC_OK);
    assert_int_equal(s.port, 7000);
    assert_string_equal(s.url, "nats://env:1");
    assert_true(s.verbose);
    assert_int_equal(s.timeout_ms, 250);
    assert_int_equal(s.mode, 0);
    free_settings(&s);
}

static void bad_value_names_the_setting(void **state)
{
    settings s;
    char err[256] = "";
    char *argv[] = {"prog", "--port=70000", NULL};
    assert_int_equal(load(&s, 2, argv, err, sizeof err), CC_INVALID);
    assert_non_null(strstr(err, "port"));
    assert_non_null(strstr(err, "out of range"));
    free_settings(&s);

    setenv("CC_MAX_BODY", "12X", 1);
    char *argv2[] = {"prog", NULL};
    assert_int_equal(load(&s, 1, argv2, err, sizeof err), CC_INVALID);
    assert_non_null(strstr(err, "max-body"));
    assert_non_null(strstr(err, "CC_MAX_BODY"));
    free_settings(&s);
}

static void unknown_flag_and_bad_enum_fail(void **state)
{
    settings s;
    char err[256] = "";
    char *argv[] = {"prog", "--colour=red", NULL};
    assert_int_equal(load(&s, 2, argv, err, sizeof err), CC_INVALID);
    assert_non_null(strstr(err, "--colour"));
    free_settings(&s);
    char *argv2[] = {"prog", "--mode=reckless", NULL};
    assert_int_equal(load(&s, 2, argv2, err, sizeof err), CC_INVALID);
    assert_non_null(strstr(err, "mode"));
    free_settings(&s);
    char *argv3[] = {"prog", "--timeout", "5 parsecs", NULL};
    assert_int_equal(load(&s, 3, argv3, err, sizeof err), CC_INVALID);
    assert_non_null(strstr(err, "timeout"));
    free_settings(&s);
    char *argv4[] = {"prog", "--port", NULL};
    assert_int_equal(load(&s, 2, argv4, err, sizeof err), CC_INVALID);
    assert_non_null(strstr(err, "needs a value"));
    free_settings(&s);
}

static void required_setting_missing(void **state)
{
    static const cc_config_row req[] = {
        {"secret", CC_CFG_STRING, 0, NULL, 0, 0, NULL, "secret"},
    };
    char *v = NULL;
    char *argv[] = {"prog", NULL};
    cc_config_table t = {req, 1, &v};
    unsetenv("CC_SECRET");
    assert_int_equal(cc_config_load(&t, 1, 1, argv, NULL, 0, NULL), CC_INVALID);
    assert_non_null(strstr(cc_err_msg(), "CC_SECRET"));
    cc_config_free(&t, 1);
}

static void overflow_is_rejected(void **state)
{
    int64_t v = 0;
    cc_config_row r = {"size", CC_CFG_SIZE, 0, "1", 0, 0, NULL, ""};
    assert_int_equal(cc_config_parse_value(&r, "9223372036854775807G", &v), CC_INVALID);
    assert_non_null(strstr(cc_err_msg(), "setting size"));
    cc_config_row d = {"d", CC_CFG_DURATION, 0, "1", 0, 0, NULL, ""};
    assert_int_equal(cc_config_parse_value(&d, "2m", &v), CC_OK);
    assert_int_equal(v, 120000);
}

static void positional_arguments(void **state)
{
    settings s;
    const char *extra[4];
    size_t n = 0;
    memset(&s, 0, sizeof s);
    char *argv[] = {"prog", "verify", "--port=1", "pkg", NULL};
    cc_config_table t = {rows, NROWS, &s};
    assert_int_equal(cc_config_load(&t, 1, 4, argv, extra, 4, &n), CC_OK);
    assert_int_equal(n, 2);
    assert_string_equal(extra[0], "verify");
    assert_string_equal(extra[1], "pkg");
    free_settings(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults_apply, clear_env),
        cmocka_unit_test_setup(flags_beat_environment_beats_default, clear_env),
        cmocka_unit_test_setup(bad_value_names_the_setting, clear_env),
        cmocka_unit_test_setup(unknown_flag_and_bad_enum_fail, clear_env),
        cmocka_unit_test_setup(required_setting_missing, clear_env),
        cmocka_unit_test(overflow_is_rejected),
        cmocka_unit_test_setup(positional_arguments, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
