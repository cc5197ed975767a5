/*
 * Idempotent producers (libether, acks=all) write continuously while, for 20
 * rounds, partition leaders are killed with SIGKILL and restarted or have
 * their leadership transferred. Afterwards every partition is read back: each
 * acknowledged record is there exactly once at its acknowledged offset, no
 * record of a producer is out of order, and nothing appears that was never
 * sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ether.h"
#include "tests/integration/harness/cluster_harness.h"

enum {
    PARTITIONS = 3,
    ROUNDS = 20,
    PRODUCERS = 2,
    RECORDS_MAX = 400000, /* per producer */
};

struct sent {
    int32_t partition;
    int64_t offset; /* -1 until acknowledged */
    int error;
    bool reported;
};

struct producer_thread {
    struct harness *harness;
    int index;
    pthread_t thread;
    atomic_bool stop;
    struct sent *records;
    size_t sent_count;
    size_t acknowledged;
    size_t failed;
    size_t double_reports;
    int produce_error;
    int first_error;
};

static void on_delivery(void *context, const struct ether_delivery *delivery)
{
    struct producer_thread *producer = context;
    size_t sequence = (size_t)(uintptr_t)delivery->record_context;
    struct sent *record = &producer->records[sequence];
    if (record->reported) {
        producer->double_reports++; /* checked on the main thread: no cmocka asserts here */
    }
    record->reported = true;
    record->partition = delivery->partition;
    record->offset = delivery->error == 0 ? delivery->offset : -1;
    record->error = delivery->error;
    if (delivery->error == 0) {
        producer->acknowledged++;
    } else {
        if (producer->failed == 0) {
            producer->first_error = delivery->error;
            fprintf(stderr, "      producer %d record %zu failed: %s\n", producer->index, sequence,
                    delivery->error_message);
        }
        producer->failed++;
    }
}

/* Called from producer threads too: returns NULL rather than asserting. */
static struct ether_client *new_client(struct harness *harness, ether_delivery_fn *callback,
                                       void *context)
{
    char brokers[128];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u",
             harness_port(harness, 1), harness_port(harness, 2), harness_port(harness, 3));
    struct ether_config *config = ether_config_new();
    char errstr[256];
    int rc = ether_config_set(config, "brokers", brokers, errstr, sizeof errstr);
    rc |= ether_config_set(config, "acks", "all", errstr, sizeof errstr);
    rc |= ether_config_set(config, "delivery_timeout_ms", "120000", errstr, sizeof errstr);
    rc |= ether_config_set(config, "request_timeout_ms", "3000", errstr, sizeof errstr);
    if (callback != NULL) {
        ether_config_set_delivery_callback(config, callback, context);
    }
    struct ether_client *client = rc == 0 ? ether_client_new(config, errstr, sizeof errstr) : NULL;
    ether_config_free(config);
    if (client == NULL) {
        fprintf(stderr, "client: %s\n", errstr);
    }
    return client;
}

static void *produce_continuously(void *argument)
{
    struct producer_thread *producer = argument;
    struct ether_client *client = new_client(producer->harness, on_delivery, producer);
    if (client == NULL) {
        producer->produce_error = -1;
        return NULL;
    }
    while (!atomic_load(&producer->stop) && producer->sent_count < RECORDS_MAX) {
        size_t sequence = producer->sent_count;
        char key[32];
        char value[64];
        int key_bytes = snprintf(key, sizeof key, "k%zu", sequence % 97);
        int value_bytes = snprintf(value, sizeof value, "p%d-%zu", producer->index, sequence);
        int rc = ether_produce(client, "chaos", ETHER_PARTITION_ANY, key, (size_t)key_bytes, value,
                               (size_t)value_bytes, 0, (void *)(uintptr_t)sequence);
        if (rc == ETHER_ERR_BUSY) {
            ether_poll(client, 10);
            continue;
        }
        if (rc != 0) {
            producer->produce_error = rc;
            break;
        }
        producer->sent_count++;
        if (sequence % 64 == 0) {
            ether_poll(client, 0);
            usleep(1000); /* a steady stream, not a flood */
        }
    }
    ether_flush(client, 180000);
    ether_client_destroy(client);
    return NULL;
}

static int leader_of(struct harness *harness, uint32_t partition)
{
    for (int asking = 1; asking <= harness->brokers_count; asking++) {
        if (harness->pids[asking] == 0) {
            continue;
        }
        Ether__MetadataResponse *metadata = harness_metadata(harness, asking, "chaos");
        int leader = 0;
        if (metadata != NULL && metadata->n_topics == 1 &&
            partition < metadata->topics[0]->n_partitions) {
            leader = (int)metadata->topics[0]->partitions[partition]->leader_id;
        }
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        if (leader != 0) {
            return leader;
        }
    }
    return 0;
}

static int setup_cluster(void **state)
{
    struct harness *harness = calloc(1, sizeof *harness);
    harness_start(harness, 3);
    *state = harness;
    return harness_create_topic(harness, "chaos", PARTITIONS, 3) == 0 &&
                   harness_wait_for_leaders(harness, 1, "chaos", PARTITIONS, 15000)
               ? 0
               : -1;
}

static int teardown_cluster(void **state)
{
    struct harness *harness = *state;
    int unclean = harness_stop(harness);
    free(harness);
    return unclean == 0 ? 0 : -1; /* every broker must stop cleanly on SIGTERM */
}

static void test_idempotent_producers_survive_leader_kills_and_transfers_exactly_once(void **state)
{
    struct harness *harness = *state;
    struct producer_thread producers[PRODUCERS];
    memset(producers, 0, sizeof producers);
    for (int p = 0; p < PRODUCERS; p++) {
        producers[p].harness = harness;
        producers[p].index = p;
        producers[p].records = calloc(RECORDS_MAX, sizeof(struct sent));
        assert_int_equal(
            pthread_create(&producers[p].thread, NULL, produce_continuously, &producers[p]), 0);
    }

    for (int round = 0; round < ROUNDS; round++) {
        usleep(400000);
        uint32_t partition = (uint32_t)round % PARTITIONS;
        int leader = leader_of(harness, partition);
        if (leader == 0) {
            continue;
        }
        if (round % 2 == 0) {
            harness_kill_broker(harness, leader, SIGKILL);
            usleep(300000);
            harness_start_broker(harness, leader);
        } else {
            Ether__TransferLeaderRequest request = ETHER__TRANSFER_LEADER_REQUEST__INIT;
            request.topic = "chaos";
            request.partition = partition;
            request.to_broker_id = (uint32_t)(leader % 3 + 1);
            int fd = harness_connect(harness_port(harness, leader));
            ProtobufCMessage *response = NULL;
            if (fd >= 0 &&
                harness_call(fd, PROTO_API_TRANSFER_LEADER, &request.base, &response) == 0) {
                proto_message_free(response);
            }
            if (fd >= 0) {
                close(fd);
            }
        }
    }
    usleep(500000);
    for (int p = 0; p < PRODUCERS; p++) {
        atomic_store(&producers[p].stop, true);
    }
    for (int p = 0; p < PRODUCERS; p++) {
        pthread_join(producers[p].thread, NULL);
        fprintf(stderr, "      producer %d: %zu sent, %zu acknowledged, %zu failed\n", p,
                producers[p].sent_count, producers[p].acknowledged, producers[p].failed);
        assert_int_equal(producers[p].produce_error, 0);
        assert_int_equal(producers[p].double_reports, 0);
        for (size_t i = 0; i < producers[p].sent_count; i++) {
            assert_true(producers[p].records[i].reported);
        }
    }

    /* Read everything back. */
    struct ether_client *consumer = new_client(harness, NULL, NULL);
    assert_non_null(consumer);
    int64_t end_offsets[PARTITIONS];
    for (int32_t p = 0; p < PARTITIONS; p++) {
        char errstr[256];
        assert_int_equal(ether_list_offset(consumer, "chaos", p, ETHER_OFFSET_QUERY_LATEST, 0,
                                           20000, &end_offsets[p], errstr, sizeof errstr),
                         0);
        assert_int_equal(ether_assign(consumer, "chaos", p, ETHER_OFFSET_BEGINNING), 0);
    }
    uint8_t *seen[PRODUCERS];
    int64_t last_sequence[PRODUCERS][PARTITIONS];
    for (int p = 0; p < PRODUCERS; p++) {
        seen[p] = calloc(RECORDS_MAX, 1);
        for (int q = 0; q < PARTITIONS; q++) {
            last_sequence[p][q] = -1;
        }
    }
    int64_t next_offset[PARTITIONS] = {0};
    size_t done_partitions = 0;
    uint64_t deadline = harness_now_ms() + 120000;
    while (done_partitions < PARTITIONS && harness_now_ms() < deadline) {
        struct ether_message *message = ether_consume(consumer, 1000);
        if (message == NULL) {
            continue;
        }
        if (message->error != 0) {
            ether_message_free(message);
            continue;
        }
        int32_t partition = message->partition;
        assert_true(partition >= 0 && partition < PARTITIONS);
        assert_int_equal(message->offset, next_offset[partition]);
        next_offset[partition]++;
        int producer_index = -1;
        size_t sequence = 0;
        char value[64] = {0};
        memcpy(value, message->value, message->value_bytes < 63 ? message->value_bytes : 63);
        assert_int_equal(sscanf(value, "p%d-%zu", &producer_index, &sequence), 2);
        assert_true(producer_index >= 0 && producer_index < PRODUCERS);
        struct producer_thread *producer = &producers[producer_index];
        assert_true(sequence < producer->sent_count);        /* never a record not sent */
        assert_int_equal(seen[producer_index][sequence], 0); /* exactly once */
        seen[producer_index][sequence] = 1;
        assert_true((int64_t)sequence > last_sequence[producer_index][partition]); /* in order */
        last_sequence[producer_index][partition] = (int64_t)sequence;
        const struct sent *record = &producer->records[sequence];
        if (record->offset >= 0) {
            assert_int_equal(record->partition, partition);
            assert_int_equal(record->offset, message->offset);
        }
        if (next_offset[partition] == end_offsets[partition]) {
            done_partitions++;
        }
        ether_message_free(message);
    }
    for (int32_t p = 0; p < PARTITIONS; p++) {
        assert_int_equal(next_offset[p], end_offsets[p]);
    }
    size_t acknowledged_total = 0;
    for (int p = 0; p < PRODUCERS; p++) {
        for (size_t i = 0; i < producers[p].sent_count; i++) {
            if (producers[p].records[i].offset >= 0) {
                assert_int_equal(seen[p][i], 1); /* every acknowledged record is there */
                acknowledged_total++;
            }
        }
        free(seen[p]);
        free(producers[p].records);
    }
    fprintf(stderr, "      %zu acknowledged records read back exactly once after %d rounds\n",
            acknowledged_total, ROUNDS);
    assert_true(acknowledged_total > 0);
    ether_client_destroy(consumer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_idempotent_producers_survive_leader_kills_and_transfers_exactly_once,
            setup_cluster, teardown_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
