#include "broker/metrics.h"

#include "common/panic.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum {
    NS_PER_SECOND = 1000000000,
};

/* Chosen to resolve sub-millisecond fsyncs and to reach the longest fetch long poll (60 s). */
static const uint64_t BOUNDS_NS[] = {
    UINT64_C(50000),       UINT64_C(100000),      UINT64_C(250000),      UINT64_C(500000),
    UINT64_C(1000000),     UINT64_C(2500000),     UINT64_C(5000000),     UINT64_C(10000000),
    UINT64_C(25000000),    UINT64_C(50000000),    UINT64_C(100000000),   UINT64_C(250000000),
    UINT64_C(500000000),   UINT64_C(1000000000),  UINT64_C(2500000000),  UINT64_C(5000000000),
    UINT64_C(10000000000), UINT64_C(30000000000), UINT64_C(60000000000),
};
_Static_assert(sizeof BOUNDS_NS / sizeof BOUNDS_NS[0] == BROKER_HISTOGRAM_BOUNDS_COUNT,
               "one bound per finite bucket");

uint64_t broker_histogram_bound_ns(size_t bucket)
{
    ETHER_ASSERT(bucket < BROKER_HISTOGRAM_BOUNDS_COUNT);
    ETHER_ASSERT(bucket == 0 || BOUNDS_NS[bucket - 1] < BOUNDS_NS[bucket]);
    return BOUNDS_NS[bucket];
}

void broker_histogram_observe(struct broker_histogram *histogram, uint64_t value_ns)
{
    size_t bucket = 0;
    while (bucket < BROKER_HISTOGRAM_BOUNDS_COUNT && value_ns > BOUNDS_NS[bucket]) {
        bucket++;
    }
    histogram->buckets[bucket]++;
    histogram->count++;
    histogram->sum_ns += value_ns;
    ETHER_ASSERT(histogram->count > 0);
}

void broker_histogram_merge(struct broker_histogram *into, const struct broker_histogram *from)
{
    ETHER_ASSERT(into != from);
    for (size_t i = 0; i <= BROKER_HISTOGRAM_BOUNDS_COUNT; i++) {
        into->buckets[i] += from->buckets[i];
    }
    into->count += from->count;
    into->sum_ns += from->sum_ns;
}

static void append_string(struct ether_buf *out, const char *string)
{
    ether_buf_append(out, string, strlen(string));
}

void broker_metrics_append_seconds(struct ether_buf *out, uint64_t ns)
{
    char text[48];
    int length = snprintf(text, sizeof text, "%" PRIu64 ".%09" PRIu64, ns / NS_PER_SECOND,
                          ns % NS_PER_SECOND);
    ETHER_ASSERT(length > 0);
    ETHER_ASSERT((size_t)length < sizeof text);
    while (text[length - 1] == '0') {
        length--;
    }
    if (text[length - 1] == '.') {
        length--;
    }
    ether_buf_append(out, text, (size_t)length);
}

static void append_u64(struct ether_buf *out, uint64_t value)
{
    char text[24];
    int length = snprintf(text, sizeof text, "%" PRIu64, value);
    ETHER_ASSERT(length > 0);
    ETHER_ASSERT((size_t)length < sizeof text);
    ether_buf_append(out, text, (size_t)length);
}

void broker_histogram_render(const struct broker_histogram *histogram, const char *name,
                             const char *help, struct ether_buf *out)
{
    ETHER_ASSERT(strchr(help, '\n') == NULL);
    ETHER_ASSERT(strchr(help, '\\') == NULL);
    append_string(out, "# HELP ");
    append_string(out, name);
    append_string(out, " ");
    append_string(out, help);
    append_string(out, "\n# TYPE ");
    append_string(out, name);
    append_string(out, " histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= BROKER_HISTOGRAM_BOUNDS_COUNT; i++) {
        cumulative += histogram->buckets[i];
        append_string(out, name);
        append_string(out, "_bucket{le=\"");
        if (i < BROKER_HISTOGRAM_BOUNDS_COUNT) {
            broker_metrics_append_seconds(out, BOUNDS_NS[i]);
        } else {
            append_string(out, "+Inf");
        }
        append_string(out, "\"} ");
        append_u64(out, cumulative);
        append_string(out, "\n");
    }
    ETHER_ASSERT(cumulative == histogram->count);
    append_string(out, name);
    append_string(out, "_sum ");
    broker_metrics_append_seconds(out, histogram->sum_ns);
    append_string(out, "\n");
    append_string(out, name);
    append_string(out, "_count ");
    append_u64(out, histogram->count);
    append_string(out, "\n");
}
