#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cc/metrics.h"

static void counters_and_gauges_render(void **state)
{
    cc_counter *c = cc_metrics_counter("t_requests_total", "Requests", "method=\"Ping\"");
    assert_ptr_equal(c, cc_metrics_counter("t_requests_total", "Requests", "method=\"Ping\""));
    cc_counter_add(c, 3);
    cc_counter_inc(c);
    cc_gauge *g = cc_metrics_gauge("t_inflight", "In flight", NULL);
    cc_gauge_set(g, 5);
    cc_gauge_add(g, -2);
    size_t len = 0;
    char *text = cc_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "# TYPE t_requests_total counter\n"));
    assert_non_null(strstr(text, "t_requests_total{method=\"Ping\"} 4\n"));
    assert_non_null(strstr(text, "t_inflight 3\n"));
    free(text);
}

static void histogram_buckets_are_cumulative(void **state)
{
    static const double b[] = {0.001, 0.01, 0.1};
    cc_histogram *h = cc_metrics_histogram("t_latency_seconds", "Latency", "x=\"1\"", b, 3);
    cc_histogram_observe(h, 0.0005);
    cc_histogram_observe(h, 0.005);
    cc_histogram_observe(h, 0.005);
    cc_histogram_observe(h, 5);
    assert_int_equal(cc_histogram_count(h), 4);
    char *text = cc_metrics_render(NULL);
    assert_non_null(strstr(text, "t_latency_seconds_bucket{x=\"1\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{x=\"1\",le=\"0.01\"} 3\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{x=\"1\",le=\"0.1\"} 3\n"));
    assert_non_null(strstr(text, "t_latency_seconds_bucket{x=\"1\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "t_latency_seconds_count{x=\"1\"} 4\n"));
    /* HELP and TYPE once per name even with two label sets */
    cc_metrics_histogram("t_latency_seconds", "Latency", "x=\"2\"", b, 3);
    free(text);
    text = cc_metrics_render(NULL);
    char *first = strstr(text, "# TYPE t_latency_seconds histogram");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE t_latency_seconds histogram"));
    free(text);
}

static void escape_label_values(void **state)
{
    char out[64];
    cc_metrics_escape("a\"b\\c\nd", out, sizeof out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
}

static void null_series_are_ignored(void **state)
{
    cc_counter_inc(NULL);
    cc_gauge_set(NULL, 1);
    cc_histogram_observe(NULL, 1);
    assert_int_equal(cc_counter_value(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_and_gauges_render),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(escape_label_values),
        cmocka_unit_test(null_series_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
