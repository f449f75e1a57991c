/* The one parser of the Cc-Principal header (cc/envelope.h), as a table:
 * each text, what it parses to or that it is refused. Every RPC server
 * runs this parser before its handlers, so this table is what every
 * actor accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cc/envelope.h"

#define ID "0f8e2b6c-1d3a-4c5e-9f70-a1b2c3d4e5f6"

typedef struct row {
    const char *why;
    const char *text; /* NULL: no header at all */
    cc_status want;
    cc_role role; /* when accepted */
    const char *id;
} row;

static const row rows[] = {
    {"missing", NULL, CC_OK, CC_ROLE_ANON, ""},
    {"anonymous (empty)", "", CC_OK, CC_ROLE_ANON, ""},
    {"user", ID ":user", CC_OK, CC_ROLE_USER, ID},
    {"setter", ID ":setter", CC_OK, CC_ROLE_SETTER, ID},
    {"admin", ID ":admin", CC_OK, CC_ROLE_ADMIN, ID},
    /* An unknown role was anonymous in one service and a user in another. */
    {"unknown role", ID ":wizard", CC_INVALID, 0, NULL},
    {"role in another case", ID ":Admin", CC_INVALID, 0, NULL},
    {"empty role", ID ":", CC_INVALID, 0, NULL},
    {"role with more after it", ID ":admin:user", CC_INVALID, 0, NULL},
    {"role with a space", ID ":admin ", CC_INVALID, 0, NULL},
    {"no role", ID, CC_INVALID, 0, NULL},
    {"no id", ":admin", CC_INVALID, 0, NULL},
    {"short id", "42:admin", CC_INVALID, 0, NULL},
    {"id in upper case", "0F8E2B6C-1D3A-4C5E-9F70-A1B2C3D4E5F6:user", CC_INVALID, 0, NULL},
    {"id without dashes", "0f8e2b6c01d3a04c5e09f700a1b2c3d4e5f6:user", CC_INVALID, 0, NULL},
    {"id with a non-hex digit", "0f8e2b6c-1d3a-4c5e-9f70-a1b2c3d4e5fg:user", CC_INVALID, 0, NULL},
    {"id one too long", "0f8e2b6c-1d3a-4c5e-9f70-a1b2c3d4e5f60:user", CC_INVALID, 0, NULL},
    {"role first", "admin:" ID, CC_INVALID, 0, NULL},
    {"garbage", "garbage", CC_INVALID, 0, NULL},
    {"spaces", "   ", CC_INVALID, 0, NULL},
    {"a colon alone", ":", CC_INVALID, 0, NULL},
    {"a byte outside ASCII", ID ":us\xc3\xa9r", CC_INVALID, 0, NULL},
};

static void each_row(void **state)
{
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const row *r = &rows[i];
        cc_principal p;
        memset(&p, 0x55, sizeof p); /* whatever was there before */
        cc_err_clear();
        cc_status s = cc_principal_parse(r->text, &p);
        if (s != r->want)
            fail_msg("%s: status %s, want %s", r->why, cc_status_name(s), cc_status_name(r->want));
        if (s == CC_OK) {
            assert_int_equal(p.role, r->role);
            assert_string_equal(p.id, r->id);
        } else {
            /* Refused: anonymous, never half a principal, and a reason. */
            assert_int_equal(p.role, CC_ROLE_ANON);
            assert_string_equal(p.id, "");
            assert_true(strncmp(cc_err_msg(), "principal: ", 11) == 0);
        }
    }
}

/* Long texts: an id or a role of hundreds of bytes is refused, not cut. */
static void overlong(void **state)
{
    char buf[1024];
    cc_principal p;
    snprintf(buf, sizeof buf, "%s:%0900d", ID, 0);
    assert_int_equal(cc_principal_parse(buf, &p), CC_INVALID);
    snprintf(buf, sizeof buf, "%s:admin%0900d", ID, 0);
    assert_int_equal(cc_principal_parse(buf, &p), CC_INVALID);
    memset(buf, 'a', 900);
    snprintf(buf + 900, sizeof buf - 900, ":admin");
    assert_int_equal(cc_principal_parse(buf, &p), CC_INVALID);
    /* The longest well-formed principal fits the envelope's field. */
    cc_envelope e;
    cc_envelope_new(&e, NULL);
    assert_int_equal(cc_envelope_set_principal(&e, ID ":setter"), CC_OK);
    assert_int_equal(cc_principal_parse(e.principal, &p), CC_OK);
    assert_int_equal(p.role, CC_ROLE_SETTER);
}

/* The names the parser reads are the names cc_role_name writes. */
static void role_names_round_trip(void **state)
{
    for (cc_role r = CC_ROLE_USER; r <= CC_ROLE_ADMIN; r++) {
        cc_role back;
        assert_true(cc_role_parse(cc_role_name(r), &back));
        assert_int_equal(back, r);
        char text[64];
        snprintf(text, sizeof text, "%s:%s", ID, cc_role_name(r));
        cc_principal p;
        assert_int_equal(cc_principal_parse(text, &p), CC_OK);
        assert_int_equal(p.role, r);
    }
    cc_role r;
    assert_string_equal(cc_role_name(CC_ROLE_ANON), "");
    assert_false(cc_role_parse("", &r));
    assert_string_equal(cc_role_name((cc_role)99), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_row),
        cmocka_unit_test(overlong),
        cmocka_unit_test(role_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
