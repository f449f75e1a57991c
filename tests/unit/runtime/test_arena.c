#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cc/arena.h"
#include "codecourt/v1/runtime.pb-c.h"

static void allocations_are_aligned_and_distinct(void **state)
{
    cc_arena a;
    cc_arena_init(&a);
    char *p1 = cc_arena_alloc(&a, 3);
    char *p2 = cc_arena_alloc(&a, 100000); /* bigger than a chunk */
    char *p3 = cc_arena_alloc(&a, 8);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_int_equal((uintptr_t)p1 % _Alignof(max_align_t), 0);
    assert_int_equal((uintptr_t)p3 % _Alignof(max_align_t), 0);
    memset(p2, 0xab, 100000);
    memset(p1, 1, 3);
    assert_int_equal((unsigned char)p2[99999], 0xab);
    assert_string_equal(cc_arena_strdup(&a, "hello"), "hello");
    assert_string_equal(cc_arena_strndup(&a, "hello", 2), "he");
    cc_arena_clear(&a);
    assert_null(a.chunks);
    assert_non_null(cc_arena_alloc(&a, 1)); /* usable again */
    cc_arena_clear(&a);
}

static void protobuf_decodes_into_the_arena(void **state)
{
    Codecourt__V1__PingRequest req = CODECOURT__V1__PING_REQUEST__INIT;
    req.text = "hi";
    req.sleep_ms = 5;
    uint8_t buf[64];
    size_t n = codecourt__v1__ping_request__pack(&req, buf);
    cc_arena a;
    cc_arena_init(&a);
    Codecourt__V1__PingRequest *out = codecourt__v1__ping_request__unpack(&a.pb, n, buf);
    assert_non_null(out);
    assert_string_equal(out->text, "hi");
    assert_int_equal(out->sleep_ms, 5);
    /* garbage is rejected, not crashed on */
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_null(codecourt__v1__ping_request__unpack(&a.pb, sizeof junk, junk));
    cc_arena_clear(&a); /* frees everything; ASan checks nothing leaks */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allocations_are_aligned_and_distinct),
        cmocka_unit_test(protobuf_decodes_into_the_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
