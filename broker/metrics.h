/*
 * metrics.h: the latency histogram of etherd's GET /metrics (Prometheus
 * text format 0.0.4), for the durations the broker measures: produce and
 * fetch requests, fsyncs.
 *
 * A histogram counts observations in BROKER_HISTOGRAM_BOUNDS_COUNT buckets
 * whose upper bounds are fixed and the same for every histogram (50 us to
 * 60 s, see broker_histogram_bound_ns), plus one above the last bound (+Inf),
 * and keeps the number of observations and their sum. Observations are
 * whole nanoseconds; rendering turns them into seconds, the unit Prometheus
 * expects, with exact decimals.
 *
 * Owns: nothing on the heap; a histogram is a plain value that starts zeroed
 * (`= {0}` or calloc). It is not synchronised: one thread uses it.
 *
 * Invariants: the bounds strictly increase; buckets[i] counts the
 * observations v with bound(i-1) < v <= bound(i), the last one those above
 * every bound, so count is the sum of the buckets. Rendered buckets are
 * cumulative (Prometheus `le`), so the +Inf line equals _count.
 */
#ifndef ETHER_BROKER_METRICS_H
#define ETHER_BROKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum { BROKER_HISTOGRAM_BOUNDS_COUNT = 19 };

struct broker_histogram {
    uint64_t buckets[BROKER_HISTOGRAM_BOUNDS_COUNT + 1]; /* not cumulative; last: +Inf */
    uint64_t count;
    uint64_t sum_ns;
};

/* The upper bound of bucket `bucket` (< BROKER_HISTOGRAM_BOUNDS_COUNT), in nanoseconds. */
uint64_t broker_histogram_bound_ns(size_t bucket);

void broker_histogram_observe(struct broker_histogram *histogram, uint64_t value_ns);

/* Adds every observation of `from` to `into`. */
void broker_histogram_merge(struct broker_histogram *into, const struct broker_histogram *from);

/*
 * Appends the whole family to `out`: the HELP and TYPE lines, one
 * `<name>_bucket{le="..."}` line per bound and one for +Inf (cumulative),
 * then `<name>_sum` (seconds) and `<name>_count`. `name` should end in
 * _seconds; `help` is one line of text without a backslash.
 */
void broker_histogram_render(const struct broker_histogram *histogram, const char *name,
                             const char *help, struct ether_buf *out);

/*
 * Appends `ns` as seconds in decimal, exact and without trailing zeros:
 * 50000 -> "0.00005", 1500000000 -> "1.5", 0 -> "0".
 */
void broker_metrics_append_seconds(struct ether_buf *out, uint64_t ns);

#endif
