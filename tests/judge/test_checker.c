/* Unit tests of the default output validator and the YAML loader: each
 * case is a row (flags, output, answer, expected verdict). */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

typedef struct {
    const char *flags[4];
    const char *out, *ans;
    judge_verdict want;
} check_case;

static const check_case cases[] = {
    {{NULL}, "3\n", "3\n", JUDGE_AC},
    {{NULL}, "  3  \n\n", "3", JUDGE_AC},
    {{NULL}, "4\n", "3\n", JUDGE_WA},
    {{NULL}, "3 4\n", "3\n", JUDGE_WA},
    {{NULL}, "", "3\n", JUDGE_WA},
    {{NULL}, "YES\n", "yes\n", JUDGE_AC},
    {{"case_sensitive"}, "YES\n", "yes\n", JUDGE_WA},
    {{"space_change_sensitive"}, "1  2\n", "1 2\n", JUDGE_WA},
    {{"space_change_sensitive"}, "1 2\n", "1 2\n", JUDGE_AC},
    {{"float_tolerance", "1e-6"}, "0.5000001\n", "0.5\n", JUDGE_AC},
    {{"float_tolerance", "1e-6"}, "0.51\n", "0.5\n", JUDGE_WA},
    {{"float_absolute_tolerance", "0.1"}, "1.05e0\n", "1\n", JUDGE_AC},
    {{"float_relative_tolerance", "0.01"}, "1005\n", "1000\n", JUDGE_AC},
    {{"float_relative_tolerance", "0.01"}, "1020\n", "1000\n", JUDGE_WA},
    {{"float_tolerance", "1e-6"}, "nan\n", "0.5\n", JUDGE_WA},
    {{"float_tolerance", "1e-6"}, "inf\n", "0.5\n", JUDGE_WA},
    {{"float_tolerance", "1e-6"}, "abc\n", "abc\n", JUDGE_AC},
};

static void test_checker_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jstrv f = {0};
        for (int k = 0; k < 4 && cases[i].flags[k]; k++)
            jstrv_push(&f, cases[i].flags[k]);
        judge_checker_opts o;
        char err[128], msg[256];
        assert_true(judge_checker_parse(&f, &o, err, sizeof err));
        judge_verdict v = judge_checker_run(&o, cases[i].out, strlen(cases[i].out), cases[i].ans,
                                            strlen(cases[i].ans), msg, sizeof msg);
        if (v != cases[i].want)
            fail_msg("case %zu: got %s", i, judge_verdict_str(v));
        jstrv_free(&f);
    }
}

static void test_checker_bad_flags(void **state)
{
    (void)state;
    const char *bad[][3] = {{"float_tolerance", NULL}, {"float_tolerance", "x"}, {"bogus", NULL},
                            {"float_tolerance", "-1"}};
    for (size_t i = 0; i < 4; i++) {
        jstrv f = {0};
        for (int k = 0; k < 2 && bad[i][k]; k++)
            jstrv_push(&f, bad[i][k]);
        judge_checker_opts o;
        char err[128];
        assert_false(judge_checker_parse(&f, &o, err, sizeof err));
        assert_true(strlen(err) > 0);
        jstrv_free(&f);
    }
}

static void test_yaml_rejects_aliases_and_depth(void **state)
{
    (void)state;
    ynode *n = NULL;
    const char *alias = "a: &x [1, 2]\nb: *x\n";
    assert_int_not_equal(ydoc_load_mem("t.yaml", alias, strlen(alias), NULL, &n), CC_OK);
    char deep[400];
    memset(deep, '[', 200);
    deep[200] = '\0';
    assert_int_not_equal(ydoc_load_mem("t.yaml", deep, strlen(deep), NULL, &n), CC_OK);
    const char *ok = "limits:\n  time_limit: 2.5\n";
    assert_int_equal(ydoc_load_mem("t.yaml", ok, strlen(ok), NULL, &n), CC_OK);
    double v;
    assert_true(ynum(ymap_get(ymap_get(n, "limits"), "time_limit"), &v));
    assert_true(v == 2.5);
    ynode_free(n);
}

/* The short diff a wrong answer on a sample shows: the first line that
 * differs, trailing whitespace and empty last lines not counting. */
static void test_first_diff(void **state)
{
    (void)state;
    static const struct {
        const char *out, *ans, *want; /* want NULL: no difference */
    } diffs[] = {
        {"1\n2\n3\n", "1\n2\n3\n", NULL},
        {"1 \n2\r\n3", "1\n2\n3\n\n\n", NULL},
        {"1\n5\n3\n", "1\n2\n3\n", "line 2: expected '2', got '5'"},
        {"1\n", "1\n2\n", "line 2: expected '2', got (no line)"},
        {"1\n2\nextra\n", "1\n2\n", "line 3: expected (no line), got 'extra'"},
        {"a\x01" "b\n", "ab\n", "line 1: expected 'ab', got 'a?b'"},
        {"", "", NULL},
    };
    for (size_t i = 0; i < sizeof diffs / sizeof diffs[0]; i++) {
        char *d = judge__first_diff(diffs[i].out, strlen(diffs[i].out), diffs[i].ans,
                                    strlen(diffs[i].ans));
        if (!diffs[i].want)
            assert_null(d);
        else
            assert_string_equal(d, diffs[i].want);
        free(d);
    }
    char long_out[300], long_ans[300];
    memset(long_out, 'x', 200);
    long_out[200] = '\0';
    memset(long_ans, 'y', 200);
    long_ans[200] = '\0';
    char *d = judge__first_diff(long_out, 200, long_ans, 200);
    assert_non_null(d);
    assert_true(strlen(d) < 220); /* both sides cut to 80 bytes */
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_table),
        cmocka_unit_test(test_checker_bad_flags),
        cmocka_unit_test(test_yaml_rejects_aliases_and_depth),
        cmocka_unit_test(test_first_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
