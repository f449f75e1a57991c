#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cc/status.h"

static void numbers_are_stable(void **state)
{
    /* These numbers cross processes: changing one breaks old peers. */
    assert_int_equal(CC_OK, 0);
    assert_int_equal(CC_TIMEOUT, 8);
    assert_int_equal(CC_UNKNOWN_METHOD, 13);
    assert_int_equal(CC_UNPROCESSABLE, 22);
}

static void names_and_messages(void **state)
{
    assert_string_equal(cc_status_str(CC_OK), "ok");
    assert_string_equal(cc_status_str(CC_TIMEOUT), "timed out");
    assert_string_equal(cc_status_name(CC_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(cc_status_str((cc_status)9999), "unknown status");
    assert_string_equal(cc_status_name((cc_status)-1), "UNKNOWN");
}

static void from_int_maps_unknown_to_err(void **state)
{
    assert_int_equal(cc_status_from_int(8), CC_TIMEOUT);
    assert_int_equal(cc_status_from_int(0), CC_OK);
    assert_int_equal(cc_status_from_int(12345), CC_ERR);
    assert_int_equal(cc_status_from_int(-3), CC_ERR);
}

static cc_status fails_here(void)
{
    return cc_err_set(CC_INVALID, "bad value %d", 42);
}

static void errors_carry_their_place(void **state)
{
    cc_err_clear();
    assert_int_equal(cc_err_last(), CC_OK);
    assert_int_equal(fails_here(), CC_INVALID);
    assert_string_equal(cc_err_msg(), "bad value 42");
    assert_non_null(strstr(cc_err_where(), "test_status.c:"));
    assert_non_null(strstr(cc_err_where(), "fails_here"));
    assert_int_equal(cc_err_last(), CC_INVALID);
}

/* A caller adds its own context to the message below it. */
static void errors_wrap_the_last_one(void **state)
{
    fails_here();
    assert_int_equal(cc_err_set(CC_UNAVAILABLE, "seed: %s", cc_err_msg()), CC_UNAVAILABLE);
    assert_string_equal(cc_err_msg(), "seed: bad value 42");
}

static void sys_errors_keep_errno(void **state)
{
    errno = ENOENT;
    assert_int_equal(cc_err_sys("open /nope"), CC_SYS);
    assert_non_null(strstr(cc_err_msg(), "open /nope"));
    assert_non_null(strstr(cc_err_msg(), "errno 2"));
    errno = ENOMEM;
    assert_int_equal(cc_err_sys("malloc"), CC_NOMEM);
}

static void ifok_stops_at_first_error(void **state)
{
    int calls = 0;
    cc_status s = CC_OK;
    IFOK(s, (calls++, CC_OK));
    IFOK(s, (calls++, CC_DENIED));
    IFOK(s, (calls++, CC_OK));
    assert_int_equal(s, CC_DENIED);
    assert_int_equal(calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers_are_stable),
        cmocka_unit_test(names_and_messages),
        cmocka_unit_test(from_int_maps_unknown_to_err),
        cmocka_unit_test(errors_carry_their_place),
        cmocka_unit_test(errors_wrap_the_last_one),
        cmocka_unit_test(sys_errors_keep_errno),
        cmocka_unit_test(ifok_stops_at_first_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
