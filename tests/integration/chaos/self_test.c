/*
 * self_test.c: `ether-chaos --self-test` shows that the checker bites,
 * without a cluster (like tests/sim/check-bites for the Raft simulator).
 *
 * A made-up run: two producers, two partitions, six records each (one of
 * them failed and absent), one consumer that read everything, one fault
 * healed while records still flowed, three identical replicas. It must pass
 * with no violation. Then each case plants one kind of anomaly in a fresh
 * copy and the matching count must be positive.
 */
#include "tests/integration/chaos/chaos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    PARTITIONS = 2,
    PRODUCERS = 2,
    RECORDS = 6, /* per producer; producer 1's record 4 fails */
    FAILED_PRODUCER = 1,
    FAILED_SEQUENCE = 4,
};

struct fixture {
    struct chaos_run *run;
    struct chaos_final_log logs[CHAOS_BROKERS_COUNT][CHAOS_PARTITIONS_MAX];
};

static void fixture_free(struct fixture *fixture)
{
    if (fixture->run != NULL) {
        for (int q = 0; q < PRODUCERS; q++) {
            free(fixture->run->producers[q].sent);
        }
        free(fixture->run->consumers[0].reads);
        chaos_groups_free(fixture->run);
        free(fixture->run->faults);
        free(fixture->run);
    }
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        for (int p = 0; p < PARTITIONS; p++) {
            free(fixture->logs[r][p].ids);
        }
    }
    memset(fixture, 0, sizeof *fixture);
}

/* Appends id at the end of partition p of every replica. */
static int append_everywhere(struct fixture *fixture, int p, uint64_t id)
{
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        struct chaos_final_log *log = &fixture->logs[r][p];
        uint64_t *grown = realloc(log->ids, (size_t)(log->end + 1) * sizeof *grown);
        if (grown == NULL) {
            return -1;
        }
        grown[log->end++] = id;
        log->ids = grown;
    }
    return 0;
}

static int fixture_make(struct fixture *fixture)
{
    memset(fixture, 0, sizeof *fixture);
    struct chaos_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        return -1;
    }
    fixture->run = run;
    run->options.producers_count = PRODUCERS;
    run->options.consumers_count = 1;
    run->options.partitions_count = PARTITIONS;
    run->options.value_bytes = CHAOS_VALUE_BYTES_MIN;
    run->options.recover_max_ms = 1000;
    run->options.healthy_max_ms = 1000;
    for (int q = 0; q < PRODUCERS; q++) {
        run->producers[q].sent = calloc(RECORDS, sizeof(struct chaos_sent));
        if (run->producers[q].sent == NULL) {
            return -1;
        }
        run->producers[q].sent_count = RECORDS;
    }
    struct chaos_consumer *consumer = &run->consumers[0];
    consumer->reads = calloc(PRODUCERS * RECORDS, sizeof(struct chaos_read));
    run->faults = calloc(1, sizeof(struct chaos_fault));
    if (consumer->reads == NULL || run->faults == NULL) {
        return -1;
    }
    /* Records in send order; each acknowledged one lands at the end of its partition. */
    for (int s = 0; s < RECORDS; s++) {
        for (int q = 0; q < PRODUCERS; q++) {
            struct chaos_sent *sent = &run->producers[q].sent[s];
            sent->partition = s % PARTITIONS;
            sent->send_ms = 1000 + 100 * s + 10 * q;
            sent->ack_ms = sent->send_ms + 50;
            if (q == FAILED_PRODUCER && s == FAILED_SEQUENCE) {
                sent->error = ETHER_ERR_TIMED_OUT;
                sent->offset = -1;
                continue;
            }
            sent->error = ETHER_OK;
            sent->offset = fixture->logs[0][sent->partition].end;
            if (append_everywhere(fixture, sent->partition, chaos_record_id(q, (uint64_t)s)) != 0) {
                return -1;
            }
            struct chaos_read *read = &consumer->reads[consumer->reads_count++];
            read->partition = sent->partition;
            read->offset = sent->offset;
            read->id = chaos_record_id(q, (uint64_t)s);
            read->send_ms = sent->send_ms;
            read->read_ms = sent->ack_ms + 10;
            consumer->next_offset[sent->partition] = sent->offset + 1;
        }
    }
    consumer->finished = true;
    snprintf(consumer->rack, sizeof consumer->rack, "r1");
    /* A group of one member that read what the consumer read and committed it all, in two
     * samples per partition. */
    run->options.group_members_count = 1;
    struct chaos_group_member *member = &run->group_members[0];
    member->reads = calloc(consumer->reads_count, sizeof(struct chaos_read));
    run->group_watch.samples = calloc(2 * PARTITIONS, sizeof(struct chaos_commit_sample));
    if (member->reads == NULL || run->group_watch.samples == NULL) {
        return -1;
    }
    memcpy(member->reads, consumer->reads, consumer->reads_count * sizeof(struct chaos_read));
    member->reads_count = consumer->reads_count;
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t end = fixture->logs[0][p].end;
        run->group_watch.samples[run->group_watch.samples_count++] =
            (struct chaos_commit_sample){.sample_ms = 2000, .committed = end / 2, .partition = p};
        run->group_watch.samples[run->group_watch.samples_count++] =
            (struct chaos_commit_sample){.sample_ms = 3000, .committed = end, .partition = p};
        atomic_store(&run->group_committed[p], end);
    }
    run->group_watch.samples_capacity = run->group_watch.samples_count;
    run->faults_count = 1;
    run->faults[0] = (struct chaos_fault){.kind = CHAOS_FAULT_KILL_LEADER,
                                          .broker_id = 1,
                                          .partition = 0,
                                          .start_ms = 1100,
                                          .heal_ms = 1200,
                                          .healthy_ms = 1300};
    return 0;
}

static void plant_truncation(struct fixture *fixture)
{
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        fixture->logs[r][0].end--;
    }
}

static void plant_duplicate(struct fixture *fixture)
{
    (void)append_everywhere(fixture, 0, fixture->logs[0][0].ids[0]);
}

static void plant_reorder(struct fixture *fixture)
{
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        uint64_t *ids = fixture->logs[r][0].ids;
        uint64_t first = ids[0];
        ids[0] = ids[2]; /* producer 0's records 0 and 2 swap places */
        ids[2] = first;
    }
}

static void plant_invention(struct fixture *fixture)
{
    for (int r = 0; r < CHAOS_BROKERS_COUNT; r++) {
        fixture->logs[r][1].ids[1] = chaos_record_id(PRODUCERS + 3, 0);
    }
}

static void plant_divergence(struct fixture *fixture)
{
    fixture->logs[2][1].ids[1] = fixture->logs[2][1].ids[0];
}

static void plant_hole_in_a_replica(struct fixture *fixture)
{
    fixture->logs[1][0].ids[1] = CHAOS_NOT_READ;
}

static void plant_phantom_read(struct fixture *fixture)
{
    fixture->run->consumers[0].reads[3].id = chaos_record_id(0, 0);
}

static void plant_skip(struct fixture *fixture)
{
    fixture->run->consumers[0].skips_count = 1;
}

static void plant_unfinished_consumer(struct fixture *fixture)
{
    fixture->run->consumers[0].finished = false;
}

static void plant_missing_report(struct fixture *fixture)
{
    fixture->run->producers[0].sent[5].error = CHAOS_NOT_REPORTED;
}

static void plant_no_ack_after_heal(struct fixture *fixture)
{
    fixture->run->faults[0].heal_ms = 5000;
}

static void plant_slow_recovery(struct fixture *fixture)
{
    fixture->run->options.recover_max_ms = 10;
}

static void plant_unhealthy_cluster(struct fixture *fixture)
{
    fixture->run->faults[0].healthy_ms = -1;
}

static void plant_crash(struct fixture *fixture)
{
    fixture->run->crashes_count = 1;
}

/* ---- the consumer group's checks ---- */

static size_t check_group(struct fixture *fixture)
{
    int64_t ends[CHAOS_PARTITIONS_MAX] = {0};
    for (int p = 0; p < PARTITIONS; p++) {
        ends[p] = fixture->logs[0][p].end;
    }
    return chaos_groups_check(fixture->run, fixture->logs[0], ends);
}

static void plant_group_phantom(struct fixture *fixture)
{
    fixture->run->group_members[0].reads[2].id = chaos_record_id(1, 0);
}

static void plant_group_unread(struct fixture *fixture)
{
    fixture->run->group_members[0].reads_count--;
}

static void plant_group_commit_backward(struct fixture *fixture)
{
    fixture->run->group_watch.samples[1].committed = 0; /* partition 0 at 3000 ms: 0 < end/2 */
}

static void plant_group_unfinished(struct fixture *fixture)
{
    atomic_store(&fixture->run->group_committed[1], 1);
}

static void plant_group_member_stopped(struct fixture *fixture)
{
    fixture->run->group_members[0].fatal_error = ETHER_ERR_NO_MEMORY;
}

struct group_case {
    const char *name;
    void (*plant)(struct fixture *fixture);
};

/* The clean group passes; each planted anomaly is a violation. Returns the failures. */
static int group_self_test(void)
{
    static const struct group_case cases[] = {
        {"a group member's read the final log contradicts", plant_group_phantom},
        {"an offset no group member read", plant_group_unread},
        {"a committed offset that went backward", plant_group_commit_backward},
        {"a group that did not commit the end", plant_group_unfinished},
        {"a group member that stopped", plant_group_member_stopped},
    };
    int failures = 0;
    struct fixture fixture;
    if (fixture_make(&fixture) != 0) {
        fixture_free(&fixture);
        return 1;
    }
    printf("self-test: the clean group history\n");
    if (check_group(&fixture) != 0) {
        printf("self-test: FAIL: the clean group history has violations\n");
        failures++;
    }
    fixture_free(&fixture);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (fixture_make(&fixture) != 0) {
            fixture_free(&fixture);
            return failures + 1;
        }
        printf("self-test: %s\n", cases[i].name);
        cases[i].plant(&fixture);
        if (check_group(&fixture) == 0) {
            printf("self-test: FAIL: %s: not counted\n", cases[i].name);
            failures++;
        }
        fixture_free(&fixture);
    }
    return failures;
}

struct self_test_case {
    const char *name;
    void (*plant)(struct fixture *fixture);
    size_t offset; /* of the count in struct chaos_counts that must become positive */
};

#define COUNT(field) offsetof(struct chaos_counts, field)

int chaos_self_test(void)
{
    static const struct self_test_case cases[] = {
        {"a truncated log loses an acknowledged record", plant_truncation, COUNT(lost)},
        {"a record twice in the log is duplicated", plant_duplicate, COUNT(duplicated)},
        {"a producer's records swapped are reordered", plant_reorder, COUNT(reordered)},
        {"a record no producer sent is invented", plant_invention, COUNT(invented)},
        {"replicas that differ at an offset are divergent", plant_divergence, COUNT(divergent)},
        {"an offset a replica did not give is unread", plant_hole_in_a_replica, COUNT(unread)},
        {"a read the final log contradicts is a phantom", plant_phantom_read, COUNT(phantom)},
        {"a consumer jumping offsets skipped", plant_skip, COUNT(skipped)},
        {"a consumer short of the end is unfinished", plant_unfinished_consumer, COUNT(unfinished)},
        {"a record without a report is unreported", plant_missing_report, COUNT(unreported)},
        {"no ack after the heal is unrecovered", plant_no_ack_after_heal, COUNT(unrecovered)},
        {"recovery slower than the bound is unrecovered", plant_slow_recovery, COUNT(unrecovered)},
        {"a cluster never healthy again is unrecovered", plant_unhealthy_cluster,
         COUNT(unrecovered)},
    };
    int failures = 0;
    struct fixture fixture;
    struct chaos_counts counts;
    if (fixture_make(&fixture) != 0) {
        printf("self-test: out of memory\n");
        fixture_free(&fixture);
        return -1;
    }
    printf("self-test: the clean history\n");
    size_t violations = chaos_check(fixture.run, fixture.logs, &counts);
    if (violations != 0 || counts.acknowledged != PRODUCERS * RECORDS - 1 || counts.failed != 1) {
        printf("self-test: FAIL: the clean history has %zu violations, %zu acknowledged, %zu "
               "failed\n",
               violations, counts.acknowledged, counts.failed);
        failures++;
    }
    fixture_free(&fixture);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (fixture_make(&fixture) != 0) {
            printf("self-test: out of memory\n");
            fixture_free(&fixture);
            return -1;
        }
        printf("self-test: %s\n", cases[i].name);
        cases[i].plant(&fixture);
        violations = chaos_check(fixture.run, fixture.logs, &counts);
        size_t counted;
        memcpy(&counted, (const char *)&counts + cases[i].offset, sizeof counted);
        if (counted == 0 || violations == 0) {
            printf("self-test: FAIL: %s: not counted\n", cases[i].name);
            failures++;
        }
        fixture_free(&fixture);
    }
    if (fixture_make(&fixture) == 0) {
        printf("self-test: a broker that crashed fails the run\n");
        plant_crash(&fixture);
        if (chaos_check(fixture.run, fixture.logs, &counts) == 0) {
            printf("self-test: FAIL: a crash is not a violation\n");
            failures++;
        }
    }
    fixture_free(&fixture);
    failures += group_self_test();
    printf("self-test: %s (%zu cases, and 6 of the consumer group)\n",
           failures == 0 ? "PASS" : "FAIL", sizeof cases / sizeof cases[0] + 2);
    return failures == 0 ? 0 : -1;
}
