/* The growable text buffer (cc/buf.h): pieces, formatted pieces of any
 * length, bytes with NULs, and a failure that stays failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/buf.h"

static void pieces_make_one_string(void **state)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_puts(&b, "Subject: ");
    cc_buf_put(&b, "hello world", 5);
    cc_buf_printf(&b, " #%d\r\n", 42);
    assert_string_equal(b.p, "Subject: hello #42\r\n");
    size_t len = 0;
    char *s = cc_buf_take(&b, &len);
    assert_string_equal(s, "Subject: hello #42\r\n");
    assert_int_equal(len, strlen(s));
    assert_null(b.p); /* handed over */
    free(s);
}

static void nothing_is_an_empty_string(void **state)
{
    cc_buf b = CC_BUF_INIT;
    size_t len = 99;
    char *s = cc_buf_take(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
}

/* Past any first size and past the formatter's stack piece. */
static void grows_past_every_size(void **state)
{
    cc_buf b = CC_BUF_INIT;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 100; i++)
        cc_buf_printf(&b, "%d:%s;", i, big);
    assert_false(b.oom);
    assert_int_equal(b.len, 100 * (sizeof big - 1 + 2) + 10 + 2 * 90);
    assert_int_equal(strlen(b.p), b.len);
    assert_memory_equal(b.p + b.len - 5, "xxxx;", 5);
    cc_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void bytes_keep_their_nuls(void **state)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_put(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "a\0b\0", 4);
    cc_buf_free(&b);
}

/* A put that cannot fit fails the whole build: later puts do nothing and
 * take answers NULL, so a caller looks once at the end. */
static void a_failure_stays(void **state)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_puts(&b, "start");
    cc_buf_put(&b, "x", SIZE_MAX - 2); /* more than any memory: never copied */
    assert_true(b.oom);
    cc_buf_puts(&b, "more");
    assert_string_equal(b.p, "start");
    size_t len = 7;
    assert_null(cc_buf_take(&b, &len));
    assert_int_equal(len, 0);
    assert_null(b.p);
    assert_false(b.oom); /* empty again, usable */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pieces_make_one_string), cmocka_unit_test(nothing_is_an_empty_string),
        cmocka_unit_test(grows_past_every_size),  cmocka_unit_test(bytes_keep_their_nuls),
        cmocka_unit_test(a_failure_stays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
