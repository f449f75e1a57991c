#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cc/envelope.h"

static void new_envelope_has_ids(void **state)
{
    cc_envelope e;
    cc_envelope_new(&e, "codecourt.v1.PingRequest");
    assert_string_equal(e.type, "codecourt.v1.PingRequest");
    assert_int_equal(strlen(e.correlation_id), 32);
    assert_true(cc_traceparent_valid(e.traceparent));
    assert_string_equal(e.principal, "");
    cc_envelope f;
    cc_envelope_new(&f, NULL);
    assert_string_not_equal(e.correlation_id, f.correlation_id);
}

static void child_keeps_trace_and_correlation(void **state)
{
    cc_envelope p, c;
    cc_envelope_new(&p, "a");
    assert_int_equal(cc_envelope_set_principal(&p, "42:admin"), CC_OK);
    cc_envelope_child(&c, &p, "b");
    assert_string_equal(c.correlation_id, p.correlation_id);
    assert_string_equal(c.principal, "42:admin");
    char t1[33], t2[33];
    assert_string_equal(cc_envelope_trace_id(&c, t1), cc_envelope_trace_id(&p, t2));
    /* the parent's span id: the span that sends the child is made where
     * it is sent (cc/trace.h), as a child of this one */
    assert_string_equal(c.traceparent, p.traceparent);
    assert_string_equal(c.type, "b");
}

static void traceparent_validation(void **state)
{
    assert_true(cc_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    /* all-zero trace id and span id are invalid */
    assert_false(cc_traceparent_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
    assert_false(cc_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
    /* upper case, wrong version, wrong length */
    assert_false(cc_traceparent_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_false(cc_traceparent_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(cc_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"));
    assert_false(cc_traceparent_valid(NULL));
    cc_envelope e;
    cc_envelope_new(&e, NULL);
    assert_int_equal(cc_envelope_set_traceparent(&e, "garbage"), CC_INVALID);
}

static void fields_are_checked_not_truncated(void **state)
{
    cc_envelope e;
    cc_envelope_new(&e, NULL);
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(cc_envelope_set_principal(&e, big), CC_INVALID);
    assert_int_equal(cc_envelope_set_correlation(&e, "abc def"), CC_INVALID);
    assert_int_equal(cc_envelope_set_correlation(&e, "req-1.2:3_x"), CC_OK);
    assert_string_equal(e.correlation_id, "req-1.2:3_x");
    assert_int_equal(cc_envelope_set_correlation(&e, "{\"x\":1}"), CC_INVALID);
}

static void random_hex_is_hex(void **state)
{
    char buf[41];
    cc_random_hex(buf, 40);
    assert_int_equal(strlen(buf), 40);
    assert_int_equal(strspn(buf, "0123456789abcdef"), 40);
    char odd[8];
    cc_random_hex(odd, 7);
    assert_int_equal(strlen(odd), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_envelope_has_ids),
        cmocka_unit_test(child_keeps_trace_and_correlation),
        cmocka_unit_test(traceparent_validation),
        cmocka_unit_test(fields_are_checked_not_truncated),
        cmocka_unit_test(random_hex_is_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
