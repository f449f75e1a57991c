#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* RFC 3339 times read the same as gmtime and strftime write them, across
 * leap years, the epoch and both ends of Timestamp's range. */
static void rfc3339_matches_gmtime(void **state)
{
    (void)state;
    static const int64_t t[] = {0,           1,          -1,          86399,      86400,
                                951782400,   951868799,  1709164800,  1765000000, 4107542399,
                                -2208988800, 253402300799, -62135596800};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        time_t tt = (time_t)t[i];
        struct tm tm;
        gmtime_r(&tt, &tm);
        char want[40], got[CC_RFC3339_MAX];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_int_equal(cc_rfc3339_text(got, t[i]), strlen(want));
        assert_string_equal(got, want);
        int64_t back = 0;
        assert_true(cc_rfc3339_parse(got, strlen(got), &back));
        assert_int_equal(back, t[i]);
    }
    char out[CC_RFC3339_MAX];
    cc_rfc3339_text(out, INT64_MAX); /* clamped, not garbage */
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    cc_rfc3339_text(out, INT64_MIN);
    assert_string_equal(out, "0001-01-01T00:00:00Z");
}

/* Offsets and fractions are read; anything else is refused. */
static void rfc3339_parse_forms(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        int64_t t;
    } c[] = {
        {"2026-12-06T08:14:07Z", true, 1796544847},
        {"2026-12-06t08:14:07z", true, 1796544847},
        {"2026-12-06T08:14:07.123456789Z", true, 1796544847},
        {"2026-12-06T09:14:07+01:00", true, 1796544847},
        {"2026-12-06T07:44:07-00:30", true, 1796544847},
        {"2024-02-29T00:00:00Z", true, 1709164800},
        {"2023-02-29T00:00:00Z", false, 0},
        {"2026-13-06T08:14:07Z", false, 0},
        {"2026-12-06T24:00:00Z", false, 0},
        {"2026-12-06T08:14:07", false, 0},
        {"2026-12-06 08:14:07Z", false, 0},
        {"2026-12-06T08:14:07.Z", false, 0},
        {"2026-12-06T08:14:07+0100", false, 0},
        {"2026-12-06T08:14:07Zjunk", false, 0},
        {"1796544847", false, 0},
        {"", false, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t t = -7;
        bool ok = cc_rfc3339_parse(c[i].s, strlen(c[i].s), &t);
        if (ok != c[i].ok)
            fail_msg("%s: expected %s", c[i].s, c[i].ok ? "accepted" : "refused");
        if (ok)
            assert_int_equal(t, c[i].t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_printf),
        cmocka_unit_test(stays_in_bounds),
        cmocka_unit_test(rfc3339_matches_gmtime),
        cmocka_unit_test(rfc3339_parse_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
