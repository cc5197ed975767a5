/*
 * checker.c: reads every partition back from every replica and checks the
 * history against it.
 *
 * The final log of a partition is its records at offsets [0, end), end being
 * the leader's high watermark once producers stopped. It is read three times,
 * by clients in racks r1, r2 and r3: each broker is in its own rack, so each
 * read goes through a different replica (libether falls back to the leader
 * for a while when a follower fails to answer; after a healthy wait none
 * should). The three reads must agree offset by offset.
 *
 * Checks, each a count that must be 0:
 *   lost         an acknowledged record is not in the final log at its
 *                acknowledged partition and offset
 *   duplicated   a record is in the final log more than once
 *   reordered    in a partition, a producer's record after one it sent later
 *   invented     a record in the final log that no producer sent (or garbled)
 *   divergent    an offset whose record differs between replicas
 *   phantom      a consumer read a record that the final log does not hold at
 *                that offset (also: two different records seen at one offset)
 *   skipped      a consumer's next offset jumped past records
 *   unreported   a record never got a delivery report (or got two)
 *   unfinished   a consumer did not read up to the end of every partition
 *   crashed      a broker exited although the nemesis did not kill it
 *   unrecovered  after a heal, some partition did not acknowledge a record, or
 *                did not have a record sent after the heal read, within
 *                recover_max_ms; or the cluster was not healthy within
 *                healthy_max_ms
 * Records whose produce failed may or may not be in the log; both are fine.
 * (Consumer groups: "committed offsets never go backward" joins this list with the
 * group workload, see workload.c.)
 *
 * Unavailability, per fault: the window (fault to the first acknowledgement
 * after the heal, as issue 8 defines it), the recovery after the heal for
 * produce and fetch (the slowest partition), and the longest write stall: the
 * longest time a partition went without an acknowledgement between the fault
 * and its recovery.
 */
#include "tests/integration/chaos/chaos.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DETAILS_PRINTED_MAX = 10 };

#define NOT_READ CHAOS_NOT_READ

static size_t violations_of(const struct chaos_counts *counts, const struct chaos_run *run)
{
    return counts->lost + counts->duplicated + counts->reordered + counts->invented +
           counts->divergent + counts->unread + counts->phantom + counts->skipped +
           counts->unreported + counts->unfinished + counts->unrecovered +
           counts->stopped_producers + run->crashes_count + run->harness_errors_count;
}

static void detail(size_t *printed, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void detail(size_t *printed, const char *format, ...)
{
    if (*printed >= DETAILS_PRINTED_MAX) {
        return;
    }
    (*printed)++;
    va_list arguments;
    va_start(arguments, format);
    printf("chaos:   ");
    vprintf(format, arguments);
    printf("\n");
    va_end(arguments);
}

/* ---- record checks ------------------------------------------------------------------------- */

/* Where each record of a producer is in the final log. */
struct found {
    uint8_t *count;
    int32_t *partition;
    int64_t *offset;
};

static void check_final_log(const struct chaos_run *run, struct chaos_final_log *logs,
                            struct found *found, struct chaos_counts *counts)
{
    const struct chaos_options *options = &run->options;
    size_t printed_invented = 0;
    size_t printed_duplicated = 0;
    size_t printed_reordered = 0;
    for (int p = 0; p < options->partitions_count; p++) {
        int64_t last_sequence[CHAOS_PRODUCERS_MAX];
        for (int q = 0; q < CHAOS_PRODUCERS_MAX; q++) {
            last_sequence[q] = -1;
        }
        for (int64_t o = 0; o < logs[p].end; o++) {
            uint64_t id = logs[p].ids[o];
            if (id == NOT_READ) {
                continue; /* counted as unread by the replica comparison */
            }
            counts->final_records++;
            int producer = id == 0 ? -1 : chaos_record_producer(id);
            uint64_t sequence = chaos_record_sequence(id);
            if (producer < 0 || producer >= options->producers_count ||
                sequence >= run->producers[producer].sent_count) {
                counts->invented++;
                detail(&printed_invented,
                       "invented: partition %d offset %" PRId64
                       " holds a record no producer sent (id %" PRIx64 ")",
                       p, o, id);
                continue;
            }
            const struct chaos_sent *sent = &run->producers[producer].sent[sequence];
            if (sent->partition != p) {
                counts->invented++;
                detail(&printed_invented,
                       "invented: partition %d offset %" PRId64 " holds producer %d record %" PRIu64
                       ", which was sent to partition %d",
                       p, o, producer, sequence, (int)sent->partition);
                continue;
            }
            if (found[producer].count[sequence] > 0) {
                counts->duplicated++;
                detail(&printed_duplicated,
                       "duplicated: producer %d record %" PRIu64 " at partition %d offsets %" PRId64
                       " and %" PRId64,
                       producer, sequence, p, found[producer].offset[sequence], o);
            } else {
                found[producer].partition[sequence] = p;
                found[producer].offset[sequence] = o;
            }
            if (found[producer].count[sequence] < UINT8_MAX) {
                found[producer].count[sequence]++;
            }
            if ((int64_t)sequence < last_sequence[producer]) {
                counts->reordered++;
                detail(&printed_reordered,
                       "reordered: partition %d offset %" PRId64
                       " holds producer %d record %" PRIu64 " after its record %" PRId64,
                       p, o, producer, sequence, last_sequence[producer]);
            } else {
                last_sequence[producer] = (int64_t)sequence;
            }
        }
    }
}

static void check_acknowledged(const struct chaos_run *run, const struct found *found,
                               struct chaos_counts *counts)
{
    size_t printed = 0;
    size_t printed_unreported = 0;
    for (int q = 0; q < run->options.producers_count; q++) {
        const struct chaos_producer *producer = &run->producers[q];
        counts->attempted += producer->sent_count;
        counts->unreported += producer->double_reports_count;
        for (size_t s = 0; s < producer->sent_count; s++) {
            const struct chaos_sent *sent = &producer->sent[s];
            if (sent->error == CHAOS_NOT_REPORTED) {
                counts->unreported++;
                detail(&printed_unreported, "unreported: producer %d record %zu (sent at %.1fs)", q,
                       s, (double)sent->send_ms / 1000.0);
                continue;
            }
            if (sent->error != ETHER_OK) {
                counts->failed++;
                counts->failed_by_error[sent->error >= 0 && sent->error < CHAOS_ERROR_CODES_MAX
                                            ? sent->error
                                            : 0]++;
                if (found[q].count[s] > 0) {
                    counts->failed_but_written++;
                }
                continue;
            }
            counts->acknowledged++;
            if (found[q].count[s] == 0) {
                counts->lost++;
                detail(&printed,
                       "lost: producer %d record %zu acknowledged at %.1fs at partition %d "
                       "offset %" PRId64 " is not in the final log",
                       q, s, (double)sent->ack_ms / 1000.0, (int)sent->partition, sent->offset);
            } else if (found[q].partition[s] != sent->partition ||
                       found[q].offset[s] != sent->offset) {
                counts->lost++;
                detail(&printed,
                       "lost: producer %d record %zu acknowledged at partition %d offset %" PRId64
                       " is at partition %d offset %" PRId64 " instead",
                       q, s, (int)sent->partition, sent->offset, (int)found[q].partition[s],
                       found[q].offset[s]);
            }
        }
    }
}

static void check_reads(const struct chaos_run *run, const struct chaos_final_log *logs,
                        struct chaos_counts *counts)
{
    size_t printed = 0;
    for (int c = 0; c < run->options.consumers_count; c++) {
        const struct chaos_consumer *consumer = &run->consumers[c];
        counts->reads += consumer->reads_count;
        counts->skipped += consumer->skips_count;
        counts->consumer_errors += consumer->errors_count;
        if (!consumer->finished) {
            counts->unfinished++;
            printf("chaos:   unfinished: consumer %d (rack %s) did not read to the end:", c,
                   consumer->rack);
            for (int p = 0; p < run->options.partitions_count; p++) {
                printf(" %d:%" PRId64 "/%" PRId64, p, consumer->next_offset[p], logs[p].end);
            }
            printf("%s%s\n", consumer->fatal_error != 0 ? " -- " : "", consumer->fatal_message);
        }
        for (size_t r = 0; r < consumer->reads_count; r++) {
            const struct chaos_read *read = &consumer->reads[r];
            const struct chaos_final_log *log = &logs[read->partition];
            uint64_t final_id =
                read->offset >= 0 && read->offset < log->end ? log->ids[read->offset] : NOT_READ;
            if (final_id != read->id) {
                counts->phantom++;
                detail(&printed,
                       "phantom: consumer %d read producer %d record %" PRIu64
                       " at partition %d offset %" PRId64 " (%.1fs); the final log has %s",
                       c, chaos_record_producer(read->id), chaos_record_sequence(read->id),
                       (int)read->partition, read->offset, (double)read->read_ms / 1000.0,
                       final_id == NOT_READ ? "nothing there" : "another record");
            }
        }
    }
}

static void compare_replicas(const struct chaos_run *run,
                             struct chaos_final_log logs[][CHAOS_PARTITIONS_MAX],
                             struct chaos_counts *counts)
{
    size_t printed = 0;
    for (int p = 0; p < run->options.partitions_count; p++) {
        for (int64_t o = 0; o < logs[0][p].end; o++) {
            for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
                uint64_t id = logs[r][p].ids[o];
                if (id == NOT_READ) {
                    counts->unread++;
                    detail(&printed,
                           "unread: partition %d offset %" PRId64 " not read through rack r%d", p,
                           o, r + 1);
                } else if (r > 0 && logs[0][p].ids[o] != NOT_READ && id != logs[0][p].ids[o]) {
                    counts->divergent++;
                    detail(&printed,
                           "divergent: partition %d offset %" PRId64 " holds %" PRIx64
                           " through rack r1 and %" PRIx64 " through rack r%d",
                           p, o, logs[0][p].ids[o], id, r + 1);
                }
            }
            if (logs[0][p].ids[o] == NOT_READ) {
                /* Take another replica's record for the record checks. */
                for (int r = 1; r < CHAOS_BROKERS_COUNT; r++) {
                    if (logs[r][p].ids[o] != NOT_READ) {
                        logs[0][p].ids[o] = logs[r][p].ids[o];
                        break;
                    }
                }
            }
        }
    }
}

/* ---- unavailability ------------------------------------------------------------------------ */

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int compare_read_time(const void *a, const void *b)
{
    const struct chaos_read *x = a;
    const struct chaos_read *y = b;
    return (x->read_ms > y->read_ms) - (x->read_ms < y->read_ms);
}

/* Index of the first element >= value in sorted[0..count). */
static size_t lower_bound(const int64_t *sorted, size_t count, int64_t value)
{
    size_t low = 0;
    size_t high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (sorted[middle] < value) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* Index of the first read at or after read_ms in reads[0..count), sorted by read time. */
static size_t reads_lower_bound(const struct chaos_read *reads, size_t count, int64_t read_ms)
{
    size_t low = 0;
    size_t high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (reads[middle].read_ms < read_ms) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

struct timeline {
    int64_t *acks[CHAOS_PARTITIONS_MAX]; /* acknowledgement times, sorted */
    size_t acks_count[CHAOS_PARTITIONS_MAX];
    struct chaos_read *reads[CHAOS_PARTITIONS_MAX]; /* every consumer's reads, by read time */
    size_t reads_count[CHAOS_PARTITIONS_MAX];
};

static int timeline_build(const struct chaos_run *run, struct timeline *timeline)
{
    const struct chaos_options *options = &run->options;
    memset(timeline, 0, sizeof *timeline);
    size_t acked = 0;
    size_t reads = 0;
    for (int q = 0; q < options->producers_count; q++) {
        acked += run->producers[q].sent_count;
    }
    for (int c = 0; c < options->consumers_count; c++) {
        reads += run->consumers[c].reads_count;
    }
    for (int p = 0; p < options->partitions_count; p++) {
        timeline->acks[p] = malloc((acked + 1) * sizeof(int64_t));
        timeline->reads[p] = malloc((reads + 1) * sizeof(struct chaos_read));
        if (timeline->acks[p] == NULL || timeline->reads[p] == NULL) {
            return -1;
        }
    }
    for (int q = 0; q < options->producers_count; q++) {
        const struct chaos_producer *producer = &run->producers[q];
        for (size_t s = 0; s < producer->sent_count; s++) {
            const struct chaos_sent *sent = &producer->sent[s];
            if (sent->error == ETHER_OK) {
                timeline->acks[sent->partition][timeline->acks_count[sent->partition]++] =
                    sent->ack_ms;
            }
        }
    }
    for (int c = 0; c < options->consumers_count; c++) {
        const struct chaos_consumer *consumer = &run->consumers[c];
        for (size_t r = 0; r < consumer->reads_count; r++) {
            int32_t p = consumer->reads[r].partition;
            timeline->reads[p][timeline->reads_count[p]++] = consumer->reads[r];
        }
    }
    for (int p = 0; p < options->partitions_count; p++) {
        qsort(timeline->acks[p], timeline->acks_count[p], sizeof(int64_t), compare_int64);
        qsort(timeline->reads[p], timeline->reads_count[p], sizeof(struct chaos_read),
              compare_read_time);
    }
    return 0;
}

static void timeline_free(struct timeline *timeline)
{
    for (int p = 0; p < CHAOS_PARTITIONS_MAX; p++) {
        free(timeline->acks[p]);
        free(timeline->reads[p]);
    }
}

struct fault_figures {
    int64_t window_ms;           /* fault to the first acknowledgement after the heal */
    int64_t produce_recovery_ms; /* heal to every partition acknowledging; -1: never */
    int64_t fetch_recovery_ms;   /* heal to every partition reading a record sent after it */
    int64_t stall_ms;            /* longest time a partition went without an acknowledgement */
    int stall_partition;
};

static struct fault_figures fault_figures(const struct chaos_run *run,
                                          const struct timeline *timeline,
                                          const struct chaos_fault *fault)
{
    struct fault_figures figures = {.window_ms = -1, .stall_partition = -1};
    int64_t first_ack_ms = -1;
    for (int p = 0; p < run->options.partitions_count; p++) {
        const int64_t *acks = timeline->acks[p];
        size_t count = timeline->acks_count[p];
        size_t after_heal = lower_bound(acks, count, fault->heal_ms);
        int64_t served_ms = after_heal < count ? acks[after_heal] : -1;
        if (served_ms < 0) {
            figures.produce_recovery_ms = -1;
        } else {
            if (first_ack_ms < 0 || served_ms < first_ack_ms) {
                first_ack_ms = served_ms;
            }
            if (figures.produce_recovery_ms >= 0 &&
                served_ms - fault->heal_ms > figures.produce_recovery_ms) {
                figures.produce_recovery_ms = served_ms - fault->heal_ms;
            }
        }
        /* The longest stall from the fault to this partition's first ack after the heal. */
        int64_t previous_ms = fault->start_ms;
        int64_t stall_end_ms = served_ms >= 0 ? served_ms : fault->heal_ms;
        for (size_t i = lower_bound(acks, count, fault->start_ms);
             i < count && acks[i] <= stall_end_ms; i++) {
            if (acks[i] - previous_ms > figures.stall_ms) {
                figures.stall_ms = acks[i] - previous_ms;
                figures.stall_partition = p;
            }
            previous_ms = acks[i];
        }

        const struct chaos_read *reads = timeline->reads[p];
        int64_t fetched_ms = -1;
        for (size_t i = reads_lower_bound(reads, timeline->reads_count[p], fault->heal_ms);
             i < timeline->reads_count[p]; i++) {
            if (reads[i].read_ms >= fault->heal_ms && reads[i].send_ms >= fault->heal_ms) {
                fetched_ms = reads[i].read_ms;
                break;
            }
        }
        if (fetched_ms < 0) {
            figures.fetch_recovery_ms = -1;
        } else if (figures.fetch_recovery_ms >= 0 &&
                   fetched_ms - fault->heal_ms > figures.fetch_recovery_ms) {
            figures.fetch_recovery_ms = fetched_ms - fault->heal_ms;
        }
    }
    figures.window_ms = first_ack_ms >= 0 ? first_ack_ms - fault->start_ms : -1;
    return figures;
}

static void print_seconds(const char *label, int64_t ms)
{
    if (ms < 0) {
        printf(" %s never", label);
    } else {
        printf(" %s %.2fs", label, (double)ms / 1000.0);
    }
}

struct longest {
    int64_t ms;
    size_t fault;
};

static void keep_longest(struct longest *longest, int64_t ms, size_t fault)
{
    if (ms > longest->ms) {
        longest->ms = ms;
        longest->fault = fault;
    }
}

static void print_longest(const char *label, const struct longest *longest)
{
    if (longest->ms < 0) {
        printf("%s none", label);
    } else {
        printf("%s %.2fs (#%zu)", label, (double)longest->ms / 1000.0, longest->fault + 1);
    }
}

static void report_faults(const struct chaos_run *run, struct chaos_counts *counts)
{
    struct timeline timeline;
    if (timeline_build(run, &timeline) != 0) {
        printf("chaos: out of memory for the timeline\n");
        timeline_free(&timeline);
        counts->out_of_memory = true;
        return;
    }
    const struct chaos_options *options = &run->options;
    struct longest window = {-1, 0};
    struct longest window_leader = {-1, 0};
    struct longest window_controller = {-1, 0};
    struct longest stall = {-1, 0};
    struct longest stall_leader = {-1, 0};
    struct longest recovery = {-1, 0};
    size_t by_kind[CHAOS_FAULT_KINDS_COUNT] = {0};
    for (size_t f = 0; f < run->faults_count; f++) {
        const struct chaos_fault *fault = &run->faults[f];
        struct fault_figures figures = fault_figures(run, &timeline, fault);
        by_kind[fault->kind]++;
        bool recovered = figures.produce_recovery_ms >= 0 &&
                         figures.produce_recovery_ms <= options->recover_max_ms &&
                         figures.fetch_recovery_ms >= 0 &&
                         figures.fetch_recovery_ms <= options->recover_max_ms &&
                         fault->healthy_ms >= 0;
        if (!recovered) {
            counts->unrecovered++;
        }
        printf("chaos: %s#%zu %6.1fs %-15s broker %u", recovered ? "" : "UNRECOVERED ", f + 1,
               (double)fault->start_ms / 1000.0, chaos_fault_name(fault->kind), fault->broker_id);
        if (fault->partition >= 0) {
            printf(" (leader of %d)", (int)fault->partition);
        }
        printf(" held %.1fs |", (double)(fault->heal_ms - fault->start_ms) / 1000.0);
        print_seconds("window", figures.window_ms);
        printf(" | after heal:");
        print_seconds("produce", figures.produce_recovery_ms);
        print_seconds("fetch", figures.fetch_recovery_ms);
        print_seconds("healthy", fault->healthy_ms >= 0 ? fault->healthy_ms - fault->heal_ms : -1);
        printf(" | stall %.2fs", (double)figures.stall_ms / 1000.0);
        if (figures.stall_partition >= 0) {
            printf(" (partition %d)", figures.stall_partition);
        }
        printf("\n");
        keep_longest(&window, figures.window_ms, f);
        keep_longest(&stall, figures.stall_ms, f);
        keep_longest(&recovery,
                     figures.produce_recovery_ms > figures.fetch_recovery_ms
                         ? figures.produce_recovery_ms
                         : figures.fetch_recovery_ms,
                     f);
        if (fault->kind == CHAOS_FAULT_KILL_LEADER) {
            keep_longest(&window_leader, figures.window_ms, f);
            keep_longest(&stall_leader, figures.stall_ms, f);
        }
        if (fault->kind == CHAOS_FAULT_KILL_CONTROLLER) {
            keep_longest(&window_controller, figures.window_ms, f);
        }
    }
    printf("chaos: faults: %zu (", run->faults_count);
    for (int k = 0; k < CHAOS_FAULT_KINDS_COUNT; k++) {
        printf("%s%s %zu", k > 0 ? ", " : "", chaos_fault_name((enum chaos_fault_kind)k),
               by_kind[k]);
    }
    printf("), not recovered within bounds: %zu, brokers crashed: %zu\n", counts->unrecovered,
           run->crashes_count);
    print_longest("chaos: longest unavailability window (fault to first ack after heal):", &window);
    print_longest("; after a leader kill:", &window_leader);
    print_longest("; after a controller kill:", &window_controller);
    print_longest("\nchaos: longest write stall of a partition:", &stall);
    print_longest("; after a leader kill:", &stall_leader);
    print_longest("; longest recovery after a heal:", &recovery);
    printf(" (bound %.1fs)\n", (double)options->recover_max_ms / 1000.0);
    timeline_free(&timeline);
}

/* ---- all together -------------------------------------------------------------------------- */

size_t chaos_check(const struct chaos_run *run,
                   struct chaos_final_log logs[CHAOS_BROKERS_COUNT][CHAOS_PARTITIONS_MAX],
                   struct chaos_counts *counts)
{
    const struct chaos_options *options = &run->options;
    memset(counts, 0, sizeof *counts);
    struct found found[CHAOS_PRODUCERS_MAX];
    memset(found, 0, sizeof found);
    for (int q = 0; q < options->producers_count; q++) {
        size_t sent = run->producers[q].sent_count + 1;
        found[q].count = calloc(sent, 1);
        found[q].partition = calloc(sent, sizeof(int32_t));
        found[q].offset = calloc(sent, sizeof(int64_t));
        if (found[q].count == NULL || found[q].partition == NULL || found[q].offset == NULL) {
            printf("chaos: out of memory for the checks\n");
            counts->out_of_memory = true;
            goto done;
        }
    }
    printf("chaos: checks (the first %d cases of each are shown):\n", DETAILS_PRINTED_MAX);
    compare_replicas(run, logs, counts);
    check_final_log(run, logs[0], found, counts);
    check_acknowledged(run, found, counts);
    check_reads(run, logs[0], counts);
    for (int q = 0; q < options->producers_count; q++) {
        if (run->producers[q].fatal_error != 0) {
            printf("chaos:   producer %d stopped early: %s\n", q, run->producers[q].fatal_message);
            counts->stopped_producers++;
        }
    }
    report_faults(run, counts);

    printf("chaos: records: attempted %zu, acknowledged %zu, failed %zu", counts->attempted,
           counts->acknowledged, counts->failed);
    for (int e = 0; e < CHAOS_ERROR_CODES_MAX; e++) {
        if (counts->failed_by_error[e] > 0) {
            printf(" [%s %zu]", ether_error_name(e), counts->failed_by_error[e]);
        }
    }
    printf(" (%zu of them written), unreported %zu\n", counts->failed_but_written,
           counts->unreported);
    printf("chaos: final log: %zu records, read through racks r1..r3: divergent offsets %zu, "
           "unread offsets %zu\n",
           counts->final_records, counts->divergent, counts->unread);
    printf("chaos: lost %zu, duplicated %zu, reordered %zu, invented %zu\n", counts->lost,
           counts->duplicated, counts->reordered, counts->invented);
    printf("chaos: consumers: %zu records read by %d, phantom %zu, skipped %zu, unfinished %zu, "
           "error messages %zu\n",
           counts->reads, options->consumers_count, counts->phantom, counts->skipped,
           counts->unfinished, counts->consumer_errors);
done:
    for (int q = 0; q < CHAOS_PRODUCERS_MAX; q++) {
        free(found[q].count);
        free(found[q].partition);
        free(found[q].offset);
    }
    return violations_of(counts, run) + (counts->out_of_memory ? 1 : 0);
}
