/*
 * Unit tests for broker/metrics: where observations land among the fixed
 * buckets, cumulative rendering up to +Inf, the sum in seconds and the
 * count, merging, and the exact lines of the Prometheus text format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/metrics.h"
#include "common/buf.h"

enum { NS_PER_MS = 1000000 };

/* The rendered text of `histogram` as a NUL-terminated string; free with free(). */
static char *render(const struct broker_histogram *histogram, const char *name)
{
    struct ether_buf out = ETHER_BUF_INIT;
    broker_histogram_render(histogram, name, "Test durations.", &out);
    char *text = malloc(out.length + 1);
    assert_non_null(text);
    memcpy(text, out.data, out.length);
    text[out.length] = '\0';
    ether_buf_free(&out);
    return text;
}

static char *seconds_text(uint64_t ns)
{
    static char text[64];
    struct ether_buf out = ETHER_BUF_INIT;
    broker_metrics_append_seconds(&out, ns);
    assert_true(out.length < sizeof text);
    memcpy(text, out.data, out.length);
    text[out.length] = '\0';
    ether_buf_free(&out);
    return text;
}

/* The value on the line that starts with `prefix` (followed by a space). */
static uint64_t sample(const char *text, const char *prefix)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", prefix);
    const char *line = strstr(text, needle);
    assert_non_null(line);
    return strtoull(line + strlen(needle), NULL, 10);
}

static void test_bounds_strictly_increase_from_50_microseconds_to_60_seconds(void **state)
{
    (void)state;
    assert_int_equal(broker_histogram_bound_ns(0), 50000);
    assert_int_equal(broker_histogram_bound_ns(BROKER_HISTOGRAM_BOUNDS_COUNT - 1),
                     UINT64_C(60000000000));
    for (size_t i = 1; i < BROKER_HISTOGRAM_BOUNDS_COUNT; i++) {
        assert_true(broker_histogram_bound_ns(i - 1) < broker_histogram_bound_ns(i));
    }
}

static void test_observation_lands_in_the_first_bucket_whose_bound_is_not_below_it(void **state)
{
    (void)state;
    for (size_t i = 0; i < BROKER_HISTOGRAM_BOUNDS_COUNT; i++) {
        uint64_t bound = broker_histogram_bound_ns(i);
        struct broker_histogram histogram = {0};
        broker_histogram_observe(&histogram, bound); /* le: a value equal to the bound is in */
        assert_int_equal(histogram.buckets[i], 1);
        broker_histogram_observe(&histogram, bound + 1);
        assert_int_equal(histogram.buckets[i + 1], 1);
        assert_int_equal(histogram.count, 2);
    }
    struct broker_histogram histogram = {0};
    broker_histogram_observe(&histogram, 0);
    assert_int_equal(histogram.buckets[0], 1);
    broker_histogram_observe(&histogram, UINT64_MAX / 2);
    assert_int_equal(histogram.buckets[BROKER_HISTOGRAM_BOUNDS_COUNT], 1);
}

static void test_rendered_buckets_are_cumulative_and_inf_equals_the_count(void **state)
{
    (void)state;
    struct broker_histogram histogram = {0};
    broker_histogram_observe(&histogram, 30000);                 /* <= 0.00005 */
    broker_histogram_observe(&histogram, 2 * NS_PER_MS);         /* <= 0.0025 */
    broker_histogram_observe(&histogram, 2 * NS_PER_MS);         /* <= 0.0025 */
    broker_histogram_observe(&histogram, 700 * NS_PER_MS);       /* <= 1 */
    broker_histogram_observe(&histogram, UINT64_C(90000000000)); /* +Inf only */
    char *text = render(&histogram, "t_seconds");
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"0.00005\"}"), 1);
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"0.001\"}"), 1);
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"0.0025\"}"), 3);
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"0.5\"}"), 3);
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"1\"}"), 4);
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"60\"}"), 4);
    assert_int_equal(sample(text, "t_seconds_bucket{le=\"+Inf\"}"), 5);
    assert_int_equal(sample(text, "t_seconds_count"), 5);
    /* Never decreasing from one bucket line to the next. */
    uint64_t previous = 0;
    for (const char *line = strstr(text, "t_seconds_bucket"); line != NULL;
         line = strstr(line + 1, "t_seconds_bucket")) {
        uint64_t value = strtoull(strstr(line, "} ") + 2, NULL, 10);
        assert_true(value >= previous);
        previous = value;
    }
    assert_int_equal(previous, 5);
    free(text);
}

static void test_sum_is_rendered_in_exact_seconds_and_count_follows(void **state)
{
    (void)state;
    struct broker_histogram histogram = {0};
    broker_histogram_observe(&histogram, 1234567);
    broker_histogram_observe(&histogram, UINT64_C(2000000001));
    assert_int_equal(histogram.sum_ns, UINT64_C(2001234568));
    char *text = render(&histogram, "t_seconds");
    assert_non_null(strstr(text, "\nt_seconds_sum 2.001234568\nt_seconds_count 2\n"));
    free(text);
    assert_string_equal(seconds_text(0), "0");
    assert_string_equal(seconds_text(1), "0.000000001");
    assert_string_equal(seconds_text(50000), "0.00005");
    assert_string_equal(seconds_text(UINT64_C(1500000000)), "1.5");
    assert_string_equal(seconds_text(UINT64_C(60000000000)), "60");
}

static void test_empty_histogram_renders_every_line_in_the_text_format(void **state)
{
    (void)state;
    struct broker_histogram histogram = {0};
    char *text = render(&histogram, "ether_test_latency_seconds");
    const char *expected = "# HELP ether_test_latency_seconds Test durations.\n"
                           "# TYPE ether_test_latency_seconds histogram\n"
                           "ether_test_latency_seconds_bucket{le=\"0.00005\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.0001\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.00025\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.0005\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.001\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.0025\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.005\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.01\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.025\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.05\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.1\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.25\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"0.5\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"1\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"2.5\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"5\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"10\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"30\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"60\"} 0\n"
                           "ether_test_latency_seconds_bucket{le=\"+Inf\"} 0\n"
                           "ether_test_latency_seconds_sum 0\n"
                           "ether_test_latency_seconds_count 0\n";
    assert_string_equal(text, expected);
    free(text);
}

static void test_render_appends_after_what_the_buffer_holds(void **state)
{
    (void)state;
    struct broker_histogram histogram = {0};
    broker_histogram_observe(&histogram, 3 * NS_PER_MS);
    struct ether_buf out = ETHER_BUF_INIT;
    ether_buf_append(&out, "before\n", 7);
    broker_histogram_render(&histogram, "t_seconds", "Test durations.", &out);
    assert_true(out.length > 7);
    assert_memory_equal(out.data, "before\n# HELP t_seconds ", 24);
    assert_int_equal(out.data[out.length - 1], '\n');
    ether_buf_free(&out);
}

static void test_merge_adds_buckets_count_and_sum_and_leaves_the_source(void **state)
{
    (void)state;
    struct broker_histogram into = {0};
    struct broker_histogram from = {0};
    broker_histogram_observe(&into, 1 * NS_PER_MS);
    broker_histogram_observe(&from, 1 * NS_PER_MS);
    broker_histogram_observe(&from, 20 * NS_PER_MS);
    struct broker_histogram from_before = from;
    broker_histogram_merge(&into, &from);
    assert_memory_equal(&from, &from_before, sizeof from);
    assert_int_equal(into.count, 3);
    assert_int_equal(into.sum_ns, 22 * NS_PER_MS);
    assert_int_equal(into.buckets[4], 2); /* <= 0.001 */
    assert_int_equal(into.buckets[8], 1); /* <= 0.025 */
    uint64_t total = 0;
    for (size_t i = 0; i <= BROKER_HISTOGRAM_BOUNDS_COUNT; i++) {
        total += into.buckets[i];
    }
    assert_int_equal(total, into.count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_strictly_increase_from_50_microseconds_to_60_seconds),
        cmocka_unit_test(test_observation_lands_in_the_first_bucket_whose_bound_is_not_below_it),
        cmocka_unit_test(test_rendered_buckets_are_cumulative_and_inf_equals_the_count),
        cmocka_unit_test(test_sum_is_rendered_in_exact_seconds_and_count_follows),
        cmocka_unit_test(test_empty_histogram_renders_every_line_in_the_text_format),
        cmocka_unit_test(test_render_appends_after_what_the_buffer_holds),
        cmocka_unit_test(test_merge_adds_buckets_count_and_sum_and_leaves_the_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
