/* The row helpers of cc/pg.h on a result built in memory with libpq (no
 * server): text into an arena (NULL, NULs inside), integers and booleans
 * as the actors read them. */
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cc/pg.h"

static PGresult *one_row(const char *const *vals, const int *lens, int n)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[8];
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < n; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert_true(PQsetResultAttrs(r, n, attrs));
    for (int i = 0; i < n; i++)
        assert_true(PQsetvalue(r, 0, i, (char *)vals[i], vals[i] ? lens[i] : -1));
    return r;
}

static void values(void **state)
{
    const char *vals[] = {"hello", "a\0b", NULL, "42", "-7", "x", "t", "f"};
    const int lens[] = {5, 3, 0, 2, 2, 1, 1, 1};
    PGresult *r = one_row(vals, lens, 8);
    cc_arena a;
    cc_arena_init(&a);
    assert_string_equal(cc_pg_text(&a, r, 0, 0), "hello");
    assert_memory_equal(cc_pg_text(&a, r, 0, 1), "a\0b\0", 4);
    assert_string_equal(cc_pg_text(&a, r, 0, 2), ""); /* NULL reads as "" */
    assert_int_equal(cc_pg_int(r, 0, 3), 42);
    assert_int_equal(cc_pg_int(r, 0, 4), -7);
    assert_int_equal(cc_pg_int(r, 0, 2), 0); /* NULL */
    assert_int_equal(cc_pg_int(r, 0, 5), 0); /* not a number */
    assert_true(cc_pg_bool(r, 0, 6));
    assert_false(cc_pg_bool(r, 0, 7));
    assert_false(cc_pg_bool(r, 0, 2));
    cc_arena_clear(&a);
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(values)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
