/*
 * libether against a real three-broker cluster: 100,000 records produced with
 * acks=all, then read back from the leaders only and from the followers only;
 * both reads must give every acknowledged record, at its acknowledged offset,
 * in order per partition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ether.h"
#include "tests/integration/harness/cluster_harness.h"

enum { RECORDS = 100000, PARTITIONS = 6, VALUE_BYTES = 100 };

struct delivered {
    int32_t partition;
    int64_t offset;
    int error;
};

struct produce_state {
    struct delivered *records;
    size_t reports;
    size_t failures;
};

static void on_delivery(void *context, const struct ether_delivery *delivery)
{
    struct produce_state *state = context;
    size_t index = (size_t)(uintptr_t)delivery->record_context;
    state->records[index].partition = delivery->partition;
    state->records[index].offset = delivery->offset;
    state->records[index].error = delivery->error;
    state->reports++;
    if (delivery->error != ETHER_OK) {
        state->failures++;
    }
}

static struct ether_client *new_client(struct harness *harness, const char *fetch_from,
                                       ether_delivery_fn *callback, void *context)
{
    char brokers[128];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u",
             harness_port(harness, 1), harness_port(harness, 2), harness_port(harness, 3));
    struct ether_config *config = ether_config_new();
    char errstr[256];
    assert_int_equal(ether_config_set(config, "brokers", brokers, errstr, sizeof errstr), 0);
    assert_int_equal(ether_config_set(config, "acks", "all", errstr, sizeof errstr), 0);
    assert_int_equal(ether_config_set(config, "fetch_from", fetch_from, errstr, sizeof errstr), 0);
    if (callback != NULL) {
        ether_config_set_delivery_callback(config, callback, context);
    }
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    ether_config_free(config);
    assert_non_null(client);
    return client;
}

static void format_value(char *value, size_t index)
{
    memset(value, 'x', VALUE_BYTES);
    snprintf(value, VALUE_BYTES, "value-%zu-", index);
}

/* Reads every record back and checks it against the delivery reports. */
static void read_back(struct harness *harness, const char *fetch_from,
                      const struct delivered *records)
{
    struct ether_client *client = new_client(harness, fetch_from, NULL, NULL);
    for (int32_t p = 0; p < PARTITIONS; p++) {
        assert_int_equal(ether_assign(client, "stream", p, ETHER_OFFSET_BEGINNING), 0);
    }
    int64_t next_offset[PARTITIONS] = {0};
    size_t received = 0;
    uint64_t started_ms = harness_now_ms();
    uint64_t deadline = started_ms + 120000;
    while (received < RECORDS && harness_now_ms() < deadline) {
        struct ether_message *message = ether_consume(client, 1000);
        if (message == NULL) {
            continue;
        }
        if (message->error != 0) {
            fprintf(stderr, "consume (%s): %s\n", fetch_from, message->error_message);
            ether_message_free(message);
            continue;
        }
        size_t index = 0;
        assert_true(message->value_bytes == VALUE_BYTES);
        assert_int_equal(sscanf(message->value, "value-%zu-", &index), 1);
        assert_true(index < RECORDS);
        assert_int_equal(message->partition, records[index].partition);
        assert_int_equal(message->offset, records[index].offset);
        assert_int_equal(message->offset, next_offset[message->partition]);
        next_offset[message->partition]++;
        received++;
        ether_message_free(message);
    }
    uint64_t elapsed_ms = harness_now_ms() - started_ms;
    fprintf(stderr, "      read %zu records from %ss in %llu ms\n", received, fetch_from,
            (unsigned long long)elapsed_ms);
    assert_int_equal(received, RECORDS);
    ether_client_destroy(client);
}

static int setup_cluster(void **state)
{
    struct harness *harness = calloc(1, sizeof *harness);
    harness_start(harness, 3);
    /* Wait for the controller to register all three brokers. */
    uint64_t deadline = harness_now_ms() + 15000;
    bool registered = false;
    while (!registered && harness_now_ms() < deadline) {
        Ether__MetadataResponse *metadata = harness_metadata(harness, 1, NULL);
        registered = metadata != NULL && metadata->n_brokers == 3 && metadata->controller_id != 0;
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        usleep(50000);
    }
    *state = harness;
    return registered ? 0 : -1;
}

static int teardown_cluster(void **state)
{
    struct harness *harness = *state;
    int unclean = harness_stop(harness);
    free(harness);
    return unclean == 0 ? 0 : -1; /* every broker must stop cleanly on SIGTERM */
}

static void
test_hundred_thousand_acknowledged_records_read_back_from_leaders_and_followers(void **state)
{
    struct harness harness = *(struct harness *)*state;
    struct produce_state produced = {.records = calloc(RECORDS, sizeof(struct delivered))};
    struct ether_client *producer = new_client(&harness, "leader", on_delivery, &produced);

    char errstr[256];
    int rc = ether_create_topic(producer, "stream", PARTITIONS, 3, NULL, 0, 20000, errstr,
                                sizeof errstr);
    if (rc != 0) {
        fprintf(stderr, "create topic: %s\n", errstr);
        harness_print_logs(&harness);
    }
    assert_int_equal(rc, 0);
    assert_true(harness_wait_for_leaders(&harness, 1, "stream", PARTITIONS, 15000));

    uint64_t started_ms = harness_now_ms();
    for (size_t i = 0; i < RECORDS; i++) {
        char key[32];
        char value[VALUE_BYTES];
        int key_bytes = snprintf(key, sizeof key, "key-%zu", i);
        format_value(value, i);
        for (;;) {
            rc = ether_produce(producer, "stream", ETHER_PARTITION_ANY, key, (size_t)key_bytes,
                               value, VALUE_BYTES, 0, (void *)(uintptr_t)i);
            if (rc != ETHER_ERR_BUSY) {
                break;
            }
            ether_poll(producer, 10);
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(ether_flush(producer, 120000), 0);
    uint64_t elapsed_ms = harness_now_ms() - started_ms;
    fprintf(stderr, "      produced %d records with acks=all in %llu ms (%.0f records/s)\n",
            RECORDS, (unsigned long long)elapsed_ms,
            RECORDS * 1000.0 / (double)(elapsed_ms > 0 ? elapsed_ms : 1));
    assert_int_equal(produced.reports, RECORDS);
    if (produced.failures > 0) {
        harness_print_logs(&harness);
    }
    assert_int_equal(produced.failures, 0);
    ether_client_destroy(producer);

    read_back(&harness, "leader", produced.records);
    read_back(&harness, "follower", produced.records);

    free(produced.records);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_hundred_thousand_acknowledged_records_read_back_from_leaders_and_followers,
            setup_cluster, teardown_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
