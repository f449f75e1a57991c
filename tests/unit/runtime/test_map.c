/* cc/map.h: puts, gets, replacing, deleting inside a probe run (the
 * backward shift keeps every other key reachable), growing, iterating. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cc/map.h"

static void basics(void **state)
{
    cc_map m = {0};
    assert_null(cc_map_get(&m, "a"));
    assert_null(cc_map_del(&m, "a"));
    int one = 1, two = 2;
    void *old = &one;
    assert_int_equal(cc_map_put(&m, "a", &one, &old), CC_OK);
    assert_null(old);
    assert_ptr_equal(cc_map_get(&m, "a"), &one);
    assert_int_equal(cc_map_put(&m, "a", &two, &old), CC_OK);
    assert_ptr_equal(old, &one);
    assert_int_equal(m.len, 1);
    assert_ptr_equal(cc_map_del(&m, "a"), &two);
    assert_int_equal(m.len, 0);
    assert_null(cc_map_get(&m, "a"));
    cc_map_free(&m);
}

static void many_keys_survive_growth_and_deletion(void **state)
{
    cc_map m = {0};
    char k[32];
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(k, sizeof k, "key-%ld", (long)i);
        assert_int_equal(cc_map_put(&m, k, (void *)i, NULL), CC_OK);
    }
    assert_int_equal(m.len, 5000);
    /* Delete every third key: the others must all still be found. */
    for (intptr_t i = 3; i <= 5000; i += 3) {
        snprintf(k, sizeof k, "key-%ld", (long)i);
        assert_int_equal((intptr_t)cc_map_del(&m, k), i);
    }
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(k, sizeof k, "key-%ld", (long)i);
        if (i % 3 == 0)
            assert_null(cc_map_get(&m, k));
        else
            assert_int_equal((intptr_t)cc_map_get(&m, k), i);
    }
    size_t it = 0, seen = 0;
    const char *key;
    void *v;
    while (cc_map_next(&m, &it, &key, &v)) {
        snprintf(k, sizeof k, "key-%ld", (long)(intptr_t)v);
        assert_string_equal(key, k);
        seen++;
    }
    assert_int_equal(seen, m.len);
    cc_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basics),
        cmocka_unit_test(many_keys_survive_growth_and_deletion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
