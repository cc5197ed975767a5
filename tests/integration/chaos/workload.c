/*
 * workload.c: the producers and consumers of the chaos test.
 *
 * Happy path: each producer thread owns one libether client (acks=all,
 * enable_idempotence=true) and produces rate_per_producer records a second,
 * each to a partition chosen by its seeded random stream, with a value that
 * names the producer, its sequence and the send time; delivery reports are
 * served on the same thread and stored in its history at the record's
 * sequence. Each consumer thread owns one client whose rack selects the
 * replica it reads through, assigns every partition from the beginning and
 * records every message until told to stop at the partitions' final ends.
 *
 * Failure modes: ETHER_ERR_BUSY (queue full while the cluster is down) is
 * waited out; any other refusal by ether_produce stops that producer (a
 * harness error). A consumer's error message stops that partition in
 * libether, so it is assigned again at the next offset half a second later.
 * Offsets read beyond the next expected one are counted as skips.
 *
 * The final read (chaos_final_read) is a consumer too, with a rack and a
 * bound in time instead of a history.
 */
#include "tests/integration/chaos/chaos.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    REASSIGN_DELAY_MS = 500,
    ERRORS_LOGGED_MAX = 20,
    POLL_MS = 5,
    FLUSH_EXTRA_MS = 15000,
    FINAL_READ_TIMEOUT_MS = 120000,
};

static bool grow(void **array, size_t *capacity, size_t element_bytes, size_t needed)
{
    if (needed <= *capacity) {
        return true;
    }
    size_t wanted = *capacity < 1024 ? 1024 : *capacity * 2;
    while (wanted < needed) {
        wanted *= 2;
    }
    void *grown = realloc(*array, wanted * element_bytes);
    if (grown == NULL) {
        return false;
    }
    *array = grown;
    *capacity = wanted;
    return true;
}

static void atomic_raise(_Atomic int64_t *target, int64_t value)
{
    int64_t current = atomic_load(target);
    while (current < value && !atomic_compare_exchange_weak(target, &current, value)) {
    }
}

/* ---- producers --------------------------------------------------------------------------- */

static void on_delivery(void *context, const struct ether_delivery *delivery)
{
    struct chaos_producer *producer = context;
    size_t sequence = (size_t)(uintptr_t)delivery->record_context;
    if (sequence >= producer->sent_count || producer->sent[sequence].error != CHAOS_NOT_REPORTED) {
        producer->double_reports_count++;
        return;
    }
    struct chaos_sent *sent = &producer->sent[sequence];
    sent->ack_ms = chaos_now_ms();
    sent->error = delivery->error;
    if (delivery->error == ETHER_OK) {
        sent->offset = delivery->offset;
        if (delivery->partition != sent->partition) {
            sent->offset = -1;
            sent->error = ETHER_ERR_CORRUPT; /* reported for another partition: counted */
            producer->double_reports_count++;
            return;
        }
        producer->acknowledged_count++;
        atomic_raise(&producer->run->last_ack_ms[sent->partition], sent->ack_ms);
        return;
    }
    if (producer->failed_count < ERRORS_LOGGED_MAX) {
        fprintf(stderr, "chaos: %7.1fs producer %d record %zu (partition %d) failed: %s: %s\n",
                (double)sent->ack_ms / 1000.0, producer->index, sequence, (int)sent->partition,
                ether_error_name(delivery->error), delivery->error_message);
    }
    producer->failed_count++;
}

static void producer_fail(struct chaos_producer *producer, int error, const char *message)
{
    producer->fatal_error = error;
    snprintf(producer->fatal_message, sizeof producer->fatal_message, "%s", message);
    fprintf(stderr, "chaos: producer %d stopped: %s\n", producer->index, message);
}

/* Produces one record; false when the queue is full (try later) or the producer failed. */
static bool produce_one(struct chaos_producer *producer, struct ether_client *client)
{
    const struct chaos_options *options = &producer->run->options;
    if (!grow((void **)&producer->sent, &producer->sent_capacity, sizeof producer->sent[0],
              producer->sent_count + 1)) {
        producer_fail(producer, ETHER_ERR_NO_MEMORY, "out of memory for the history");
        return false;
    }
    size_t sequence = producer->sent_count;
    int32_t partition =
        (int32_t)chaos_random_between(&producer->random_state, 0, options->partitions_count - 1);
    struct chaos_sent *sent = &producer->sent[sequence];
    sent->send_ms = chaos_now_ms();
    sent->ack_ms = 0;
    sent->offset = -1;
    sent->partition = partition;
    sent->error = CHAOS_NOT_REPORTED;
    char value[CHAOS_VALUE_BYTES_MAX];
    size_t value_bytes = (size_t)options->value_bytes;
    chaos_value_format(value, value_bytes, producer->index, sequence, sent->send_ms);
    int rc = ether_produce(client, options->topic, partition, NULL, 0, value, value_bytes, 0,
                           (void *)(uintptr_t)sequence);
    if (rc == ETHER_ERR_BUSY) {
        return false;
    }
    if (rc != ETHER_OK) {
        char message[CHAOS_ERRSTR_BYTES];
        snprintf(message, sizeof message, "ether_produce: %s", ether_error_name(rc));
        producer_fail(producer, rc, message);
        return false;
    }
    producer->sent_count++;
    return true;
}

static void *produce_continuously(void *argument)
{
    struct chaos_producer *producer = argument;
    struct chaos_run *run = producer->run;
    const struct chaos_options *options = &run->options;
    char errstr[CHAOS_ERRSTR_BYTES];
    struct ether_client *client = chaos_client_new(options, 100 + (uint64_t)producer->index, NULL,
                                                   on_delivery, producer, errstr, sizeof errstr);
    if (client == NULL) {
        producer_fail(producer, ETHER_ERR_INVALID_ARGUMENT, errstr);
        return NULL;
    }
    int64_t start_ms = chaos_now_ms();
    while (!atomic_load(&run->stop_producing) && producer->fatal_error == 0) {
        /* A steady rate: catch up to where the clock says we should be. */
        uint64_t due =
            (uint64_t)((chaos_now_ms() - start_ms) * options->rate_per_producer / 1000) + 1;
        while (producer->sent_count < due && produce_one(producer, client)) {
        }
        ether_poll(client, POLL_MS);
    }
    int rc = ether_flush(client, options->delivery_timeout_ms + FLUSH_EXTRA_MS);
    if (rc != ETHER_OK) {
        fprintf(stderr, "chaos: producer %d: %zu records still unreported after the flush\n",
                producer->index, ether_outstanding_count(client));
    }
    ether_client_destroy(client);
    return NULL;
}

/* ---- consumers --------------------------------------------------------------------------- */

static void consumer_fail(struct chaos_consumer *consumer, int error, const char *message)
{
    consumer->fatal_error = error;
    snprintf(consumer->fatal_message, sizeof consumer->fatal_message, "%s", message);
    fprintf(stderr, "chaos: consumer %d stopped: %s\n", consumer->index, message);
}

static bool reached_ends(const struct chaos_consumer *consumer)
{
    const struct chaos_run *run = consumer->run;
    for (int p = 0; p < run->options.partitions_count; p++) {
        if (consumer->next_offset[p] < run->end_offsets[p]) {
            return false;
        }
    }
    return true;
}

static void record_error(struct chaos_consumer *consumer, const struct ether_message *message)
{
    if (consumer->errors_count == 0) {
        consumer->first_error = message->error;
        snprintf(consumer->first_error_message, sizeof consumer->first_error_message, "%s",
                 message->error_message);
    }
    if (consumer->errors_count < ERRORS_LOGGED_MAX) {
        fprintf(stderr, "chaos: %7.1fs consumer %d (rack %s) partition %d: %s: %s\n",
                (double)chaos_now_ms() / 1000.0, consumer->index, consumer->rack,
                (int)message->partition, ether_error_name(message->error), message->error_message);
    }
    consumer->errors_count++;
}

/* Stores one record read; false when out of memory. */
static bool record_read(struct chaos_consumer *consumer, const struct ether_message *message)
{
    struct chaos_run *run = consumer->run;
    int32_t partition = message->partition;
    if (!grow((void **)&consumer->reads, &consumer->reads_capacity, sizeof consumer->reads[0],
              consumer->reads_count + 1)) {
        return false;
    }
    struct chaos_read *read = &consumer->reads[consumer->reads_count++];
    read->partition = partition;
    read->offset = message->offset;
    read->read_ms = chaos_now_ms();
    read->id = chaos_value_parse(message->value, message->value_bytes,
                                 (size_t)run->options.value_bytes, &read->send_ms);
    if (message->offset > consumer->next_offset[partition]) {
        if (consumer->skips_count < ERRORS_LOGGED_MAX) {
            fprintf(stderr,
                    "chaos: %7.1fs consumer %d partition %d: offset %" PRId64 " read after %" PRId64
                    ": skipped %" PRId64 " offsets\n",
                    (double)read->read_ms / 1000.0, consumer->index, (int)partition,
                    message->offset, consumer->next_offset[partition] - 1,
                    message->offset - consumer->next_offset[partition]);
        }
        consumer->skips_count++;
    }
    if (message->offset >= consumer->next_offset[partition]) {
        consumer->next_offset[partition] = message->offset + 1;
    }
    atomic_raise(&run->newest_read_send_ms[partition], read->send_ms);
    return true;
}

static void *consume_continuously(void *argument)
{
    struct chaos_consumer *consumer = argument;
    struct chaos_run *run = consumer->run;
    const struct chaos_options *options = &run->options;
    char errstr[CHAOS_ERRSTR_BYTES];
    struct ether_client *client =
        chaos_client_new(options, 200 + (uint64_t)consumer->index, consumer->rack, NULL, NULL,
                         errstr, sizeof errstr);
    if (client == NULL) {
        consumer_fail(consumer, ETHER_ERR_INVALID_ARGUMENT, errstr);
        return NULL;
    }
    int64_t reassign_at_ms[CHAOS_PARTITIONS_MAX] = {0};
    for (int p = 0; p < options->partitions_count; p++) {
        consumer->next_offset[p] = 0;
        ether_assign(client, options->topic, p, ETHER_OFFSET_BEGINNING);
    }
    while (consumer->fatal_error == 0) {
        if (atomic_load(&run->stop_consuming) && reached_ends(consumer)) {
            consumer->finished = true;
            break;
        }
        if (atomic_load(&run->stop_consuming) && chaos_now_ms() > run->consume_deadline_ms) {
            break;
        }
        int64_t now_ms = chaos_now_ms();
        for (int p = 0; p < options->partitions_count; p++) {
            if (reassign_at_ms[p] != 0 && now_ms >= reassign_at_ms[p]) {
                reassign_at_ms[p] = 0;
                ether_assign(client, options->topic, p, consumer->next_offset[p]);
            }
        }
        struct ether_message *message = ether_consume(client, 100);
        if (message == NULL) {
            continue;
        }
        int32_t partition = message->partition;
        if (partition < 0 || partition >= options->partitions_count) {
            record_error(consumer, message);
        } else if (message->error != ETHER_OK) {
            record_error(consumer, message);
            reassign_at_ms[partition] = chaos_now_ms() + REASSIGN_DELAY_MS;
        } else if (!record_read(consumer, message)) {
            consumer_fail(consumer, ETHER_ERR_NO_MEMORY, "out of memory for the history");
        }
        ether_message_free(message);
    }
    ether_client_destroy(client);
    return NULL;
}

/* ---- the final log ------------------------------------------------------------------------- */

int chaos_final_read(const struct chaos_run *run, int replica, const int64_t *end_offsets,
                     struct chaos_final_log *logs)
{
    const struct chaos_options *options = &run->options;
    char rack[16];
    snprintf(rack, sizeof rack, "r%d", replica + 1);
    char errstr[CHAOS_ERRSTR_BYTES];
    struct ether_client *client =
        chaos_client_new(options, 300 + (uint64_t)replica, rack, NULL, NULL, errstr, sizeof errstr);
    if (client == NULL) {
        printf("chaos: final read through rack %s: %s\n", rack, errstr);
        return -1;
    }
    int64_t next[CHAOS_PARTITIONS_MAX];
    int64_t reassign_at_ms[CHAOS_PARTITIONS_MAX] = {0};
    for (int p = 0; p < options->partitions_count; p++) {
        logs[p].end = end_offsets[p];
        logs[p].ids = malloc((size_t)(end_offsets[p] > 0 ? end_offsets[p] : 1) * sizeof(uint64_t));
        if (logs[p].ids == NULL) {
            printf("chaos: out of memory for the final log\n");
            ether_client_destroy(client);
            return -1;
        }
        for (int64_t o = 0; o < end_offsets[p]; o++) {
            logs[p].ids[o] = CHAOS_NOT_READ;
        }
        next[p] = 0;
        ether_assign(client, options->topic, p, ETHER_OFFSET_BEGINNING);
    }
    int64_t deadline_ms = chaos_now_ms() + FINAL_READ_TIMEOUT_MS;
    size_t errors = 0;
    for (;;) {
        bool done = true;
        for (int p = 0; p < options->partitions_count; p++) {
            done = done && next[p] >= end_offsets[p];
        }
        if (done || chaos_now_ms() > deadline_ms) {
            break;
        }
        for (int p = 0; p < options->partitions_count; p++) {
            if (reassign_at_ms[p] != 0 && chaos_now_ms() >= reassign_at_ms[p]) {
                reassign_at_ms[p] = 0;
                ether_assign(client, options->topic, p, next[p]);
            }
        }
        struct ether_message *message = ether_consume(client, 100);
        if (message == NULL) {
            continue;
        }
        int32_t p = message->partition;
        if (p < 0 || p >= options->partitions_count) {
            errors++;
        } else if (message->error != ETHER_OK) {
            if (errors++ < ERRORS_LOGGED_MAX) {
                printf("chaos: final read through rack %s, partition %d: %s\n", rack, (int)p,
                       message->error_message);
            }
            reassign_at_ms[p] = chaos_now_ms() + REASSIGN_DELAY_MS;
        } else if (message->offset >= 0 && message->offset < end_offsets[p]) {
            int64_t send_ms;
            logs[p].ids[message->offset] = chaos_value_parse(
                message->value, message->value_bytes, (size_t)options->value_bytes, &send_ms);
            if (message->offset >= next[p]) {
                next[p] = message->offset + 1;
            }
        }
        ether_message_free(message);
    }
    ether_client_destroy(client);
    return 0;
}

/* ---- consumer groups (not yet) -----------------------------------------------------------
 *
 * When libether has consumer groups, their workload goes here: group members (one client
 * each) that join, consume, commit offsets and leave while the nemesis works, each commit
 * kept in the history with its time, group generation and offsets. checker.c then gets the
 * check that a group's committed offset for a partition never goes backward. Until the
 * API exists there is neither workload nor check.
 */

/* ---- starting and stopping --------------------------------------------------------------- */

int chaos_workload_start(struct chaos_run *run)
{
    const struct chaos_options *options = &run->options;
    for (int p = 0; p < options->producers_count; p++) {
        struct chaos_producer *producer = &run->producers[p];
        producer->run = run;
        producer->index = p;
        producer->random_state = options->seed ^ (UINT64_C(0xA24BAED4963EE407) * (uint64_t)(p + 1));
        if (pthread_create(&producer->thread, NULL, produce_continuously, producer) != 0) {
            fprintf(stderr, "chaos: cannot start producer %d\n", p);
            return -1;
        }
    }
    for (int c = 0; c < options->consumers_count; c++) {
        struct chaos_consumer *consumer = &run->consumers[c];
        consumer->run = run;
        consumer->index = c;
        snprintf(consumer->rack, sizeof consumer->rack, "r%d", c % CHAOS_BROKERS_COUNT + 1);
        if (pthread_create(&consumer->thread, NULL, consume_continuously, consumer) != 0) {
            fprintf(stderr, "chaos: cannot start consumer %d\n", c);
            return -1;
        }
    }
    return 0;
}

void chaos_workload_stop_producers(struct chaos_run *run)
{
    atomic_store(&run->stop_producing, true);
    for (int p = 0; p < run->options.producers_count; p++) {
        pthread_join(run->producers[p].thread, NULL);
    }
}

void chaos_workload_stop_consumers(struct chaos_run *run, const int64_t *end_offsets,
                                   int timeout_ms)
{
    for (int p = 0; p < run->options.partitions_count; p++) {
        run->end_offsets[p] = end_offsets[p];
    }
    run->consume_deadline_ms = chaos_now_ms() + timeout_ms;
    atomic_store(&run->stop_consuming, true); /* publishes end_offsets and the deadline */
    for (int c = 0; c < run->options.consumers_count; c++) {
        pthread_join(run->consumers[c].thread, NULL);
    }
}

void chaos_workload_write_history(const struct chaos_run *run)
{
    const struct chaos_options *options = &run->options;
    if (options->history_path == NULL) {
        return;
    }
    FILE *file = fopen(options->history_path, "w");
    if (file == NULL) {
        fprintf(stderr, "chaos: cannot write %s\n", options->history_path);
        return;
    }
    fprintf(file, "# produce PRODUCER SEQUENCE PARTITION SEND_MS ACK_MS OFFSET ERROR\n"
                  "# read CONSUMER PARTITION OFFSET PRODUCER SEQUENCE SEND_MS READ_MS\n"
                  "# fault KIND BROKER PARTITION START_MS HEAL_MS HEALTHY_MS\n");
    for (int p = 0; p < options->producers_count; p++) {
        const struct chaos_producer *producer = &run->producers[p];
        for (size_t s = 0; s < producer->sent_count; s++) {
            const struct chaos_sent *sent = &producer->sent[s];
            fprintf(file, "produce %d %zu %d %" PRId64 " %" PRId64 " %" PRId64 " %s\n", p, s,
                    (int)sent->partition, sent->send_ms, sent->ack_ms, sent->offset,
                    sent->error == CHAOS_NOT_REPORTED ? "unreported"
                                                      : ether_error_name(sent->error));
        }
    }
    for (int c = 0; c < options->consumers_count; c++) {
        const struct chaos_consumer *consumer = &run->consumers[c];
        for (size_t r = 0; r < consumer->reads_count; r++) {
            const struct chaos_read *read = &consumer->reads[r];
            fprintf(file, "read %d %d %" PRId64 " %d %" PRIu64 " %" PRId64 " %" PRId64 "\n", c,
                    (int)read->partition, read->offset, chaos_record_producer(read->id),
                    chaos_record_sequence(read->id), read->send_ms, read->read_ms);
        }
    }
    for (size_t f = 0; f < run->faults_count; f++) {
        const struct chaos_fault *fault = &run->faults[f];
        fprintf(file, "fault %s %u %d %" PRId64 " %" PRId64 " %" PRId64 "\n",
                chaos_fault_name(fault->kind), fault->broker_id, (int)fault->partition,
                fault->start_ms, fault->heal_ms, fault->healthy_ms);
    }
    fclose(file);
}
