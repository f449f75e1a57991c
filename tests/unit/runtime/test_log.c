#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cc/log.h"

static json_t *parse(char *line)
{
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    free(line);
    assert_non_null(o);
    return o;
}

static void line_has_standard_fields(void **state)
{
    cc_log_init("cc-test", CC_LOG_INFO);
    cc_envelope e;
    cc_envelope_new(&e, NULL);
    json_t *o = parse(cc_log_format(CC_LOG_WARN, &e, "hello", "{s:s, s:I}", "user", "ann",
                                    "n", (json_int_t)7));
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "cc-test");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "hello");
    assert_string_equal(json_string_value(json_object_get(o, "correlation_id")),
                        e.correlation_id);
    char tid[33];
    assert_string_equal(json_string_value(json_object_get(o, "trace_id")),
                        cc_envelope_trace_id(&e, tid));
    assert_string_equal(json_string_value(json_object_get(o, "user")), "ann");
    assert_int_equal(json_integer_value(json_object_get(o, "n")), 7);
    const char *t = json_string_value(json_object_get(o, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 24); /* 2026-11-26T11:04:58.123Z */
    assert_int_equal(t[23], 'Z');
    json_decref(o);
}

static void fields_cannot_forge_standard_keys(void **state)
{
    cc_log_init("cc-test", CC_LOG_INFO);
    json_t *o = parse(cc_log_format(CC_LOG_INFO, NULL, "m", "{s:s, s:s}", "level", "error",
                                    "service", "evil"));
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "cc-test");
    assert_string_equal(json_string_value(json_object_get(o, "field.level")), "error");
    assert_null(json_object_get(o, "correlation_id"));
    json_decref(o);
}

static void hostile_text_stays_one_line(void **state)
{
    cc_log_init("cc-test", CC_LOG_INFO);
    char *line = cc_log_format(CC_LOG_INFO, NULL, "a\nb\"c", "{s:s}", "x", "\r\n\t");
    assert_null(strchr(line, '\n'));
    json_t *o = parse(line);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "a\nb\"c");
    json_decref(o);
    /* invalid UTF-8 in the message still gives a valid line */
    o = parse(cc_log_format(CC_LOG_INFO, NULL, "\xff\xfe", NULL));
    assert_non_null(json_object_get(o, "msg"));
    json_decref(o);
}

static void levels_filter_and_parse(void **state)
{
    cc_log_level l;
    assert_int_equal(cc_log_level_parse("warn", &l), CC_OK);
    assert_int_equal(l, CC_LOG_WARN);
    assert_int_equal(cc_log_level_parse("loud", &l), CC_INVALID);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    cc_log_set_fd(fds[1]);
    cc_log_init("cc-test", CC_LOG_WARN);
    cc_log(CC_LOG_INFO, NULL, "dropped", NULL);
    cc_log(CC_LOG_ERROR, NULL, "kept", NULL);
    close(fds[1]);
    char buf[1024] = "";
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    cc_log_set_fd(2);
    assert_true(n > 0);
    assert_null(strstr(buf, "dropped"));
    assert_non_null(strstr(buf, "\"kept\""));
    assert_int_equal(buf[n - 1], '\n');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_has_standard_fields),
        cmocka_unit_test(fields_cannot_forge_standard_keys),
        cmocka_unit_test(hostile_text_stays_one_line),
        cmocka_unit_test(levels_filter_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
