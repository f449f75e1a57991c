#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cc/text.h"

/* Each number reads the same as printf writes it, the extremes included. */
static void matches_printf(void **state)
{
    (void)state;
    static const int64_t s[] = {0,   1,          -1,         9,         10,        -10,          99,
                                100, 1234567890, -987654321, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        char want[40], got[CC_DECIMAL_MAX];
        snprintf(want, sizeof want, "%" PRId64, s[i]);
        assert_int_equal(cc_i64_text(got, s[i]), strlen(want));
        assert_string_equal(got, want);
    }
    static const uint64_t u[] = {0, 7, 10, 18446744073709551615u, 10000000000000000000u};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        char want[40], got[CC_DECIMAL_MAX];
        snprintf(want, sizeof want, "%" PRIu64, u[i]);
        assert_int_equal(cc_u64_text(got, u[i]), strlen(want));
        assert_string_equal(got, want);
    }
}

/* The longest numbers fill CC_DECIMAL_MAX exactly and no byte past it. */
static void stays_in_bounds(void **state)
{
    (void)state;
    char buf[CC_DECIMAL_MAX + 1];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(cc_i64_text(buf, INT64_MIN), CC_DECIMAL_MAX - 1);
    assert_int_equal(buf[CC_DECIMAL_MAX], 'x');
    memset(buf, 'x', sizeof buf);
    assert_int_equal(cc_u64_text(buf, UINT64_MAX), CC_DECIMAL_MAX - 1);
    assert_int_equal(buf[CC_DECIMAL_MAX - 1], '\0');
    assert_int_equal(buf[CC_DECIMAL_MAX], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_printf),
        cmocka_unit_test(stays_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
