/* cc/projection.h's pure part: reading a delivery's stream sequence, time
 * and pending count from its reply subject, in the plain and the domain
 * forms, and refusing what is not one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cc/projection.h"

static void reply_subjects(void **state)
{
    uint64_t seq = 0, pending = 0;
    int64_t ns = 0;
    assert_true(cc_projection_parse_reply("$JS.ACK.CC_EVENTS.contest.1.4711.12.1700000000123456789.3",
                                          &seq, &ns, &pending));
    assert_int_equal(seq, 4711);
    assert_int_equal(ns, 1700000000123456789LL);
    assert_int_equal(pending, 3);
    /* With a domain and an account hash (and the trailing token). */
    assert_true(cc_projection_parse_reply(
        "$JS.ACK.hub.ACCHASH.CC_EVENTS.stats.2.99.5.1700000000000000000.0.rand", &seq, &ns,
        &pending));
    assert_int_equal(seq, 99);
    assert_int_equal(pending, 0);
    assert_false(cc_projection_parse_reply("_INBOX.contest.abc.1", &seq, &ns, &pending));
    assert_false(cc_projection_parse_reply("$JS.ACK.CC_EVENTS.contest.1.x.1.2.3", &seq, &ns,
                                           &pending));
    assert_false(cc_projection_parse_reply("$JS.ACK.a.b", &seq, &ns, &pending));
    assert_false(cc_projection_parse_reply(NULL, &seq, &ns, &pending));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(reply_subjects)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
