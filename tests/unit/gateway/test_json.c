/* The transcoder against the real schemas: names, every scalar mapping
 * used by CodeCourt's messages, nesting, repeated fields, enums, 64-bit
 * integers as strings, bytes as base64, and errors naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cc/arena.h"
#include "codecourt/v1/judge.pb-c.h"
#include "codecourt/v1/submission.pb-c.h"
#include "codecourt/v1/user.pb-c.h"
#include "gw/json.h"

static cc_arena arena;

static cc_status dec(const ProtobufCMessageDescriptor *d, const char *text, ProtobufCMessage **m,
                     gw_json_error *e)
{
    return gw_json_decode(d, text, strlen(text), &arena.pb, m, e);
}

static void test_names(void **state)
{
    char out[64];
    gw_json_name("user_id", out, sizeof out);
    assert_string_equal(out, "userId");
    gw_json_name("email_notifications", out, sizeof out);
    assert_string_equal(out, "emailNotifications");
    gw_json_name("id", out, sizeof out);
    assert_string_equal(out, "id");
}

static void test_roundtrip(void **state)
{
    ProtobufCMessage *m;
    gw_json_error e;
    assert_int_equal(dec(&codecourt__v1__user__descriptor,
                         "{\"id\":\"u1\",\"username\":\"al\",\"role\":\"ROLE_ADMIN\","
                         "\"disabled\":true,\"created_at\":\"2023-11-14T23:13:20+01:00\","
                         "\"preferences\":{\"theme\":\"dark\",\"emailNotifications\":false}}",
                         &m, &e),
                     CC_OK);
    Codecourt__V1__User *u = (Codecourt__V1__User *)m;
    assert_string_equal(u->username, "al");
    assert_int_equal(u->role, CODECOURT__V1__ROLE__ROLE_ADMIN);
    assert_true(u->disabled);
    assert_int_equal(u->created_at, 1700000000LL);
    assert_string_equal(u->preferences->theme, "dark");
    assert_string_equal(u->email, ""); /* absent: the proto3 default */
    json_t *j = gw_json_encode(m);
    /* Times go out as RFC 3339 in UTC (Timestamp's JSON mapping). */
    assert_string_equal(json_string_value(json_object_get(j, "createdAt")), "2023-11-14T22:13:20Z");
    assert_string_equal(json_string_value(json_object_get(j, "role")), "ROLE_ADMIN");
    assert_true(json_is_true(json_object_get(j, "disabled")));
    assert_string_equal(json_string_value(json_object_get(j, "displayName")), "");
    json_decref(j);
    cc_arena_clear(&arena);
}

static void test_repeated_bytes_numbers(void **state)
{
    ProtobufCMessage *m;
    gw_json_error e;
    assert_int_equal(dec(&codecourt__v1__judge_job__descriptor,
                         "{\"attempt\":3,\"sources\":[{\"name\":\"a.c\",\"content\":\"aGVsbG8=\"},"
                         "{\"name\":\"b.c\",\"content\":\"aGk\"}],\"package\":[{\"size\":42}]}",
                         &m, &e),
                     CC_OK);
    Codecourt__V1__JudgeJob *j = (Codecourt__V1__JudgeJob *)m;
    assert_int_equal(j->attempt, 3);
    assert_int_equal(j->n_sources, 2);
    assert_int_equal(j->sources[0]->content.len, 5);
    assert_memory_equal(j->sources[0]->content.data, "hello", 5);
    assert_memory_equal(j->sources[1]->content.data, "hi", 2);
    assert_int_equal(j->package[0]->size, 42);
    json_t *o = gw_json_encode(m);
    json_t *src = json_array_get(json_object_get(o, "sources"), 0);
    assert_string_equal(json_string_value(json_object_get(src, "content")), "aGVsbG8=");
    json_decref(o);
    /* An empty body is an empty message. */
    assert_int_equal(dec(&codecourt__v1__get_me_request__descriptor, "  \n", &m, &e), CC_OK);
    cc_arena_clear(&arena);
}

static void expect_error(const ProtobufCMessageDescriptor *d, const char *text,
                         const char *field)
{
    ProtobufCMessage *m;
    gw_json_error e;
    assert_int_equal(dec(d, text, &m, &e), CC_INVALID);
    assert_string_equal(e.field, field);
    assert_true(e.msg[0] != '\0');
    cc_arena_clear(&arena);
}

static void test_errors(void **state)
{
    const ProtobufCMessageDescriptor *u = &codecourt__v1__user__descriptor;
    expect_error(u, "{", "");
    expect_error(u, "[]", "");
    expect_error(u, "{\"nope\":1}", "nope");
    expect_error(u, "{\"username\":5}", "username");
    expect_error(u, "{\"disabled\":\"yes\"}", "disabled");
    expect_error(u, "{\"role\":\"ROLE_KING\"}", "role");
    expect_error(u, "{\"createdAt\":\"12x\"}", "createdAt");
    expect_error(u, "{\"createdAt\":1.5}", "createdAt");
    /* A time is RFC 3339, never Unix seconds. */
    expect_error(u, "{\"createdAt\":\"1700000000\"}", "createdAt");
    expect_error(u, "{\"createdAt\":1700000000}", "createdAt");
    expect_error(u, "{\"preferences\":{\"theme\":[]}}", "preferences.theme");
    expect_error(u, "{\"preferences\":7}", "preferences");
    /* jansson refuses \u0000 when parsing: a NUL never reaches a C string. */
    expect_error(u, "{\"username\":\"a\\u0000b\"}", "");
    expect_error(u, "{\"id\":\"a\",\"id\":\"b\"}", "");
    const ProtobufCMessageDescriptor *j = &codecourt__v1__judge_job__descriptor;
    expect_error(j, "{\"attempt\":-1}", "attempt");
    expect_error(j, "{\"attempt\":4294967296}", "attempt");
    expect_error(j, "{\"sources\":{}}", "sources");
    expect_error(j, "{\"sources\":[{\"name\":\"a\"},{\"content\":\"***\"}]}", "sources[1].content");
    expect_error(j, "{\"sources\":[null]}", "sources[0]");
}

/* The text encoder: JSON escapes, bytes that are not UTF-8, doubles
 * written as reals that read back exactly. */
static void test_text(void **state)
{
    Codecourt__V1__User u = CODECOURT__V1__USER__INIT;
    u.display_name = "q\"b\\s\n\x01 caf\xc3\xa9 bad\xff end";
    u.username = "";
    u.created_at = -5;
    size_t n = 0;
    char *t = gw_json_encode_text(&u.base, &n);
    assert_non_null(t);
    assert_int_equal(strlen(t), n);
    assert_non_null(strstr(t, "\"displayName\":\"q\\\"b\\\\s\\n\\u0001 caf\xc3\xa9 bad\xef\xbf\xbd end\""));
    assert_non_null(strstr(t, "\"createdAt\":\"1969-12-31T23:59:55Z\""));
    json_t *j = json_loadb(t, n, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "displayName")),
                        "q\"b\\s\n\x01 caf\xc3\xa9 bad\xef\xbf\xbd end");
    json_decref(j);
    free(t);

    Codecourt__V1__TestResult r = CODECOURT__V1__TEST_RESULT__INIT;
    const double vals[] = {0.1, 1.0, -2.5e-300, 123456789.125, 1e21};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        r.score = vals[i];
        t = gw_json_encode_text(&r.base, &n);
        assert_non_null(t);
        j = json_loadb(t, n, 0, NULL);
        json_t *v = json_object_get(j, "score");
        assert_true(json_is_real(v));
        assert_true(json_real_value(v) == vals[i]);
        json_decref(j);
        free(t);
    }
}

/* A time not yet set (a submission's judgedAt before its verdict) is
 * null, as Timestamp's mapping leaves it out; a non-time int64 stays a
 * decimal string. */
static void test_unset_time(void **state)
{
    Codecourt__V1__Submission sub = CODECOURT__V1__SUBMISSION__INIT;
    sub.created_at = 1796544847;
    sub.sandbox_ms = 12;
    json_t *j = gw_json_encode(&sub.base);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "createdAt")), "2026-12-06T08:14:07Z");
    assert_true(json_is_null(json_object_get(j, "judgedAt")));
    assert_string_equal(json_string_value(json_object_get(j, "sandboxMs")), "12");
    json_decref(j);
}

int main(void)
{
    cc_arena_init(&arena);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_repeated_bytes_numbers),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_unset_time),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cc_arena_clear(&arena);
    return rc;
}
