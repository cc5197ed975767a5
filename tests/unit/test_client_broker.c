/*
 * Tests of libether against a fake cluster (tests/unit/test_client_fake_cluster.h):
 * real sockets and the real framing server on loopback, a fake model of
 * topics and leaders behind it. Each test has a timeout through the client's
 * own timeouts; none sleeps to wait for an outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_client_fake_cluster.h"

#include <time.h>

#include "client/ether.h"

struct deliveries {
    int count;
    int failed;
    int last_error;
    char last_message[512];
    int32_t partitions[256];
    int64_t offsets[256];
};

static void on_delivery(void *context, const struct ether_delivery *delivery)
{
    struct deliveries *deliveries = context;
    int index = (int)(intptr_t)delivery->record_context;
    if (index >= 0 && index < 256) {
        deliveries->partitions[index] = delivery->partition;
        deliveries->offsets[index] = delivery->offset;
    }
    deliveries->count++;
    if (delivery->error != ETHER_OK) {
        deliveries->failed++;
        deliveries->last_error = delivery->error;
        snprintf(deliveries->last_message, sizeof deliveries->last_message, "%s",
                 delivery->error_message);
    }
}

static struct ether_client *client_for(const char *brokers, struct deliveries *deliveries,
                                       const char *const *settings)
{
    struct ether_config *config = ether_config_new();
    char errstr[256];
    assert_int_equal(ether_config_set(config, "brokers", brokers, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(ether_config_set(config, "retry_backoff_ms", "10", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_config_set(config, "retry_backoff_max_ms", "50", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_config_set(config, "seed", "1", errstr, sizeof errstr), ETHER_OK);
    for (size_t i = 0; settings != NULL && settings[i] != NULL; i += 2) {
        assert_int_equal(
            ether_config_set(config, settings[i], settings[i + 1], errstr, sizeof errstr),
            ETHER_OK);
    }
    if (deliveries != NULL) {
        ether_config_set_delivery_callback(config, on_delivery, deliveries);
    }
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    assert_non_null(client);
    ether_config_free(config);
    return client;
}

static uint64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static int setup(void **state)
{
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    assert_int_equal(fake_cluster_start(cluster, 3, NULL), 0);
    fake_add_topic(cluster, "orders", 3);
    *state = cluster;
    return 0;
}

static int teardown(void **state)
{
    struct fake_cluster *cluster = *state;
    fake_cluster_stop(cluster);
    free(cluster);
    return 0;
}

static void test_client_bootstraps_from_one_broker_and_learns_the_cluster(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    struct ether_client *client = client_for(brokers, NULL, NULL);
    struct ether_cluster *description = NULL;
    char errstr[256];
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 5000, &description, errstr, sizeof errstr),
        ETHER_OK);
    assert_string_equal(description->cluster_id, "fake-cluster");
    assert_int_equal(description->controller_id, 1);
    assert_int_equal(description->broker_count, 3);
    for (uint32_t b = 0; b < 3; b++) {
        assert_int_equal(description->brokers[b].broker_id, b + 1);
        assert_int_equal(description->brokers[b].port, cluster->brokers[b].port);
    }
    assert_int_equal(description->topic_count, 1);
    assert_string_equal(description->topics[0].name, "orders");
    assert_int_equal(description->topics[0].partition_count, 3);
    assert_int_equal(description->topics[0].partitions[2].leader_id, 3);
    assert_int_equal(description->topics[0].partitions[2].replica_count, 3);
    ether_cluster_free(description);

    /* Every broker named by the metadata answers a ping. */
    for (uint32_t id = 1; id <= 3; id++) {
        int64_t round_trip_us = -1;
        assert_int_equal(ether_ping_broker(client, id, 2000, &round_trip_us, errstr, sizeof errstr),
                         ETHER_OK);
        assert_true(round_trip_us >= 0);
    }
    int ping_rc = ether_ping_broker(client, 7, 2000, NULL, errstr, sizeof errstr);
    assert_int_equal(ping_rc, ETHER_ERR_NOT_FOUND);
    assert_string_equal(errstr, "broker 7 is not in the cluster metadata");
    ether_client_destroy(client);
}

static void test_produce_goes_to_each_partitions_leader(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    for (int i = 0; i < 30; i++) {
        char value[32];
        int length = snprintf(value, sizeof value, "order-%d", i);
        assert_int_equal(ether_produce(client, "orders", i % 3, NULL, 0, value, (size_t)length, 0,
                                       (void *)(intptr_t)i),
                         ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.count, 30);
    assert_int_equal(deliveries.failed, 0);
    int64_t next_offset[3] = {0, 0, 0};
    for (int i = 0; i < 30; i++) {
        assert_int_equal(deliveries.partitions[i], i % 3);
        /* Offsets within a partition follow the produce order. */
        assert_int_equal(deliveries.offsets[i], next_offset[i % 3]);
        next_offset[i % 3]++;
    }
    for (uint32_t id = 1; id <= 3; id++) {
        assert_true(fake_read(cluster, &cluster->produce_requests[id]) >= 1);
    }
    assert_int_equal(fake_read(cluster, &cluster->not_leader_answers), 0);
    ether_client_destroy(client);
}

static void test_same_key_lands_in_the_same_partition_on_the_wire(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 3, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    for (int i = 0; i < 20; i++) {
        const char *key = i % 2 == 0 ? "alice" : "bob";
        assert_int_equal(ether_produce(client, "orders", ETHER_PARTITION_ANY, key, strlen(key), "v",
                                       1, 0, (void *)(intptr_t)i),
                         ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 0);
    for (int i = 0; i < 20; i++) {
        const char *key = i % 2 == 0 ? "alice" : "bob";
        assert_int_equal(deliveries.partitions[i], ether_partition_for_key(key, strlen(key), 3));
    }
    ether_client_destroy(client);
}

static void test_not_leader_refreshes_metadata_and_retries_at_the_new_leader(void **state)
{
    struct fake_cluster *cluster = *state;
    cluster->hint_on_not_leader = false; /* the client must find the leader by itself */
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    assert_int_equal(ether_produce(client, "orders", 0, NULL, 0, "first", 5, 0, (void *)0),
                     ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->produce_requests[1]), 1);
    uint32_t metadata_before = fake_read(cluster, &cluster->metadata_requests);

    fake_set_leader(cluster, "orders", 0, 2);
    assert_int_equal(ether_produce(client, "orders", 0, NULL, 0, "second", 6, 0, (void *)1),
                     ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 0);
    assert_int_equal(deliveries.offsets[1], 1);
    assert_true(fake_read(cluster, &cluster->not_leader_answers) >= 1);
    assert_true(fake_read(cluster, &cluster->metadata_requests) > metadata_before);
    assert_int_equal(fake_read(cluster, &cluster->produce_requests[2]), 1);
    ether_client_destroy(client);
}

static void test_not_leader_with_a_hint_goes_straight_to_the_named_leader(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    assert_int_equal(ether_produce(client, "orders", 1, NULL, 0, "a", 1, 0, (void *)0), ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    fake_set_leader(cluster, "orders", 1, 3);
    assert_int_equal(ether_produce(client, "orders", 1, NULL, 0, "b", 1, 0, (void *)1), ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 0);
    assert_int_equal(deliveries.offsets[1], 1);
    assert_int_equal(fake_read(cluster, &cluster->produce_requests[3]), 1);
    ether_client_destroy(client);
}

static void test_acks_zero_gets_no_answer_and_still_reports_every_record(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 3, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    const char *settings[] = {"acks", "0", NULL};
    struct ether_client *client = client_for(brokers, &deliveries, settings);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ether_produce(client, "orders", 2, NULL, 0, "fire-and-forget", 15, 0,
                                       (void *)(intptr_t)i),
                         ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.count, 5);
    assert_int_equal(deliveries.failed, 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(deliveries.offsets[i], -1);
        assert_int_equal(deliveries.partitions[i], 2);
    }
    /* The records were stored even though nobody said so. The ListOffsets
     * request travels on the same connection, so it is served after them. */
    int64_t end = -1;
    char errstr[256];
    assert_int_equal(ether_list_offset(client, "orders", 2, ETHER_OFFSET_QUERY_LATEST, 0, 5000,
                                       &end, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(end, 5);
    assert_true(fake_read(cluster, &cluster->acks_none_requests) >= 1);
    ether_client_destroy(client);
}

static void test_consumer_reads_lz4_batches_back_from_the_beginning(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 2, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    const char *settings[] = {"linger_ms", "50", NULL};
    struct ether_client *client = client_for(brokers, &deliveries, settings);
    enum { COUNT = 200 };
    for (int i = 0; i < COUNT; i++) {
        char value[64];
        int length = snprintf(value, sizeof value, "a compressible value number %d", i);
        assert_int_equal(
            ether_produce(client, "orders", 1, "k", 1, value, (size_t)length, 1000 + i, NULL),
            ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 0);

    assert_int_equal(ether_assign(client, "orders", 1, ETHER_OFFSET_BEGINNING), ETHER_OK);
    for (int i = 0; i < COUNT; i++) {
        struct ether_message *message = ether_consume(client, 5000);
        assert_non_null(message);
        assert_int_equal(message->error, ETHER_OK);
        assert_int_equal(message->offset, i);
        assert_int_equal(message->partition, 1);
        assert_int_equal(message->timestamp_ms, 1000 + i);
        assert_string_equal(message->topic, "orders");
        char expected[64];
        int length = snprintf(expected, sizeof expected, "a compressible value number %d", i);
        assert_int_equal(message->value_bytes, (size_t)length);
        assert_memory_equal(message->value, expected, (size_t)length);
        assert_int_equal(message->key_bytes, 1);
        assert_int_equal(message->high_watermark, COUNT);
        ether_message_free(message);
    }
    ether_client_destroy(client);
}

static void test_fetch_long_polls_and_answers_as_soon_as_records_arrive(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    const char *settings[] = {"fetch_max_wait_ms", "10000", NULL};
    struct ether_client *consumer = client_for(brokers, NULL, settings);
    assert_int_equal(ether_assign(consumer, "orders", 0, ETHER_OFFSET_END), ETHER_OK);
    assert_null(ether_consume(consumer, 300));
    assert_true(fake_read(cluster, &cluster->parked_fetches) >= 1);

    struct deliveries deliveries = {0};
    struct ether_client *producer = client_for(brokers, &deliveries, NULL);
    uint64_t start_ms = now_ms();
    assert_int_equal(ether_produce(producer, "orders", 0, NULL, 0, "wake up", 7, 0, NULL),
                     ETHER_OK);
    assert_int_equal(ether_flush(producer, 5000), ETHER_OK);
    struct ether_message *message = ether_consume(consumer, 5000);
    assert_non_null(message);
    /* Answered by the produce, not by the 10 s max wait. */
    assert_true(now_ms() - start_ms < 5000);
    assert_int_equal(message->value_bytes, 7);
    assert_memory_equal(message->value, "wake up", 7);
    assert_int_equal(message->offset, 0);
    ether_message_free(message);
    ether_client_destroy(producer);
    ether_client_destroy(consumer);
}

static void test_consumer_prefers_a_replica_in_its_own_rack(void **state)
{
    struct fake_cluster *cluster = *state;
    cluster->follower_reads = true;
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    const char *settings[] = {"rack", "rack-3", "fetch_max_wait_ms", "10", NULL};
    struct ether_client *client = client_for(brokers, NULL, settings);
    /* Partition 0 is led by broker 1; broker 3 is the replica in rack-3. */
    assert_int_equal(ether_assign(client, "orders", 0, 0), ETHER_OK);
    assert_null(ether_consume(client, 300));
    assert_true(fake_read(cluster, &cluster->fetch_requests[3]) >= 1);
    assert_int_equal(fake_read(cluster, &cluster->fetch_requests[1]), 0);
    ether_client_destroy(client);
}

static void test_unknown_topic_is_reported_as_not_found(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 1, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    assert_int_equal(ether_produce(client, "nope", ETHER_PARTITION_ANY, NULL, 0, "x", 1, 0, NULL),
                     ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 1);
    assert_int_equal(deliveries.last_error, ETHER_ERR_NOT_FOUND);
    assert_string_equal(deliveries.last_message, "topic nope does not exist");
    ether_client_destroy(client);
}

static void test_admin_requests_reach_the_controller_and_the_leader(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 2, brokers, sizeof brokers);
    struct ether_client *client = client_for(brokers, NULL, NULL);
    char errstr[256];
    struct ether_config_entry configs[] = {{"retention.ms", "60000"}};
    assert_int_equal(
        ether_create_topic(client, "payments", 2, 3, configs, 1, 5000, errstr, sizeof errstr),
        ETHER_OK);
    assert_int_equal(
        ether_create_topic(client, "payments", 2, 3, NULL, 0, 5000, errstr, sizeof errstr),
        ETHER_ERR_EXISTS);
    assert_string_equal(errstr,
                        "cannot create topic payments: a topic with this name already exists");
    struct ether_config_entry set[] = {{"cleanup.policy", "delete"}};
    const char *deletes[] = {"retention.ms"};
    assert_int_equal(ether_alter_topic_config(client, "payments", set, 1, deletes, 1, 5000, errstr,
                                              sizeof errstr),
                     ETHER_OK);
    const char *names[] = {"payments"};
    struct ether_cluster *description = NULL;
    assert_int_equal(
        ether_describe_cluster(client, names, 1, 5000, &description, errstr, sizeof errstr),
        ETHER_OK);
    assert_int_equal(description->topic_count, 1);
    assert_int_equal(description->topics[0].config_count, 1);
    assert_string_equal(description->topics[0].configs[0].name, "cleanup.policy");
    ether_cluster_free(description);

    /* Partition 1 of payments is led by broker 2; move it to broker 1. */
    assert_int_equal(ether_transfer_leader(client, "payments", 1, 1, 5000, errstr, sizeof errstr),
                     ETHER_OK);
    pthread_mutex_lock(&cluster->mutex);
    assert_int_equal(fake_topic_find(cluster, "payments")->partitions[1].leader_id, 1);
    pthread_mutex_unlock(&cluster->mutex);

    assert_int_equal(ether_delete_topic(client, "payments", 5000, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(ether_delete_topic(client, "payments", 5000, errstr, sizeof errstr),
                     ETHER_ERR_NOT_FOUND);
    ether_client_destroy(client);
}

static void test_unreachable_brokers_fail_with_a_clear_error_after_the_timeout(void **state)
{
    (void)state;
    struct deliveries deliveries = {0};
    const char *settings[] = {"delivery_timeout_ms", "500", "request_timeout_ms", "300", NULL};
    /* Port 1 on loopback: nothing listens, connections are refused at once. */
    struct ether_client *client = client_for("127.0.0.1:1", &deliveries, settings);
    uint64_t start_ms = now_ms();
    assert_int_equal(ether_produce(client, "orders", ETHER_PARTITION_ANY, NULL, 0, "x", 1, 0, NULL),
                     ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    uint64_t elapsed_ms = now_ms() - start_ms;
    assert_true(elapsed_ms >= 450);
    assert_true(elapsed_ms < 3000);
    assert_int_equal(deliveries.failed, 1);
    assert_int_equal(deliveries.last_error, ETHER_ERR_TIMED_OUT);
    assert_non_null(strstr(deliveries.last_message, "within 500 ms"));
    assert_non_null(strstr(deliveries.last_message, "127.0.0.1:1"));

    char errstr[256];
    struct ether_cluster *description = NULL;
    start_ms = now_ms();
    assert_int_equal(
        ether_describe_cluster(client, NULL, 0, 400, &description, errstr, sizeof errstr),
        ETHER_ERR_TIMED_OUT);
    assert_true(now_ms() - start_ms < 2000);
    assert_null(description);
    assert_non_null(strstr(errstr, "no answer within 400 ms"));
    assert_non_null(strstr(errstr, "cannot connect to 127.0.0.1:1"));
    ether_client_destroy(client);
}

static void test_destroy_with_records_in_flight_does_not_hang_or_leak(void **state)
{
    (void)state;
    const char *settings[] = {"linger_ms", "10000", NULL};
    struct ether_client *client = client_for("127.0.0.1:1", NULL, settings);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ether_produce(client, "t", ETHER_PARTITION_ANY, "k", 1, "v", 1, 0, NULL),
                         ETHER_OK);
    }
    assert_int_equal(ether_outstanding_count(client), 100);
    assert_int_equal(ether_assign(client, "t", 0, 0), ETHER_OK);
    ether_client_destroy(client);
}

/* "127.0.0.1:<port>" of broker `broker_id` alone. */
static void one_broker(const struct fake_cluster *cluster, uint32_t broker_id, char *out,
                       size_t out_bytes)
{
    snprintf(out, out_bytes, "127.0.0.1:%u", cluster->brokers[broker_id - 1].port);
}

static void
test_idempotent_producer_asks_the_controller_for_its_id_and_numbers_batches(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    one_broker(cluster, 2, brokers, sizeof brokers); /* not the controller */
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(
            ether_produce(client, "orders", 0, NULL, 0, "v", 1, 5000 + i, (void *)(intptr_t)i),
            ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(deliveries.offsets[i], i);
    }
    assert_true(fake_read(cluster, &cluster->init_producer_not_controller) >= 1);
    assert_true(fake_read(cluster, &cluster->idempotent_batches) >= 1);
    struct ether_producer_state *producers = NULL;
    size_t count = 0;
    char errstr[256];
    assert_int_equal(ether_describe_producers(client, "orders", 0, 5000, &producers, &count, errstr,
                                              sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 1);
    assert_true(producers[0].producer_id >= 1000);
    assert_int_equal(producers[0].producer_epoch, 0);
    assert_int_equal(producers[0].last_sequence, 9);
    assert_int_equal(producers[0].last_offset, 9);
    assert_int_equal(producers[0].last_timestamp_ms, 5009);
    ether_producer_states_free(producers);
    ether_client_destroy(client);
}

static void
test_lost_produce_answers_are_retried_and_every_record_is_stored_once_in_order(void **state)
{
    struct fake_cluster *cluster = *state;
    pthread_mutex_lock(&cluster->mutex);
    cluster->drop_produce_response_from = 3;
    cluster->drop_produce_response_count = 2;
    pthread_mutex_unlock(&cluster->mutex);
    char brokers[128];
    fake_cluster_brokers(cluster, 3, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    /* One record per batch, so that several batches are in flight when answers go missing. */
    const char *settings[] = {"batch_bytes",        "128", "linger_ms", "0",
                              "request_timeout_ms", "300", NULL};
    struct ether_client *client = client_for(brokers, &deliveries, settings);
    enum { COUNT = 40 };
    for (int i = 0; i < COUNT; i++) {
        char value[16];
        int length = snprintf(value, sizeof value, "r-%02d", i);
        assert_int_equal(ether_produce(client, "orders", 0, NULL, 0, value, (size_t)length, 0,
                                       (void *)(intptr_t)i),
                         ETHER_OK);
    }
    assert_int_equal(ether_flush(client, 20000), ETHER_OK);
    assert_int_equal(deliveries.count, COUNT);
    assert_int_equal(deliveries.failed, 0);
    for (int i = 0; i < COUNT; i++) {
        assert_int_equal(deliveries.offsets[i], i);
    }
    assert_int_equal(fake_read(cluster, &cluster->dropped_produce_responses), 2);
    assert_true(fake_read(cluster, &cluster->duplicate_batches) >= 1);

    /* The log holds each record once, in the order produced. */
    assert_int_equal(ether_assign(client, "orders", 0, ETHER_OFFSET_BEGINNING), ETHER_OK);
    for (int i = 0; i < COUNT; i++) {
        struct ether_message *message = ether_consume(client, 5000);
        assert_non_null(message);
        assert_int_equal(message->error, ETHER_OK);
        assert_int_equal(message->offset, i);
        char expected[16];
        int length = snprintf(expected, sizeof expected, "r-%02d", i);
        assert_int_equal(message->value_bytes, (size_t)length);
        assert_memory_equal(message->value, expected, (size_t)length);
        assert_int_equal(message->high_watermark, COUNT);
        ether_message_free(message);
    }
    ether_client_destroy(client);
}

static void
test_an_out_of_order_answer_fails_the_records_clearly_and_the_producer_goes_on(void **state)
{
    struct fake_cluster *cluster = *state;
    pthread_mutex_lock(&cluster->mutex);
    cluster->out_of_order_at = 1;
    pthread_mutex_unlock(&cluster->mutex);
    char brokers[128];
    fake_cluster_brokers(cluster, 3, brokers, sizeof brokers);
    struct deliveries deliveries = {0};
    struct ether_client *client = client_for(brokers, &deliveries, NULL);
    assert_int_equal(ether_produce(client, "orders", 1, NULL, 0, "a", 1, 0, (void *)0), ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 1);
    assert_int_equal(deliveries.last_error, ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_non_null(
        strstr(deliveries.last_message, "orders/1 refused records with sequences 0..0"));
    assert_int_equal(deliveries.offsets[0], -1);

    /* A new epoch: the next record starts again at sequence 0 and is written. */
    assert_int_equal(ether_produce(client, "orders", 1, NULL, 0, "b", 1, 0, (void *)1), ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.count, 2);
    assert_int_equal(deliveries.failed, 1);
    assert_int_equal(deliveries.offsets[1], 0);
    ether_client_destroy(client);
}

static void test_a_second_producer_with_the_same_name_fences_the_first(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 3, brokers, sizeof brokers);
    const char *settings[] = {"producer_name", "billing", NULL};
    struct deliveries first_deliveries = {0};
    struct ether_client *first = client_for(brokers, &first_deliveries, settings);
    assert_int_equal(ether_produce(first, "orders", 2, NULL, 0, "one", 3, 0, (void *)0), ETHER_OK);
    assert_int_equal(ether_flush(first, 10000), ETHER_OK);
    assert_int_equal(first_deliveries.failed, 0);

    struct deliveries second_deliveries = {0};
    struct ether_client *second = client_for(brokers, &second_deliveries, settings);
    assert_int_equal(ether_produce(second, "orders", 2, NULL, 0, "two", 3, 0, (void *)0), ETHER_OK);
    assert_int_equal(ether_flush(second, 10000), ETHER_OK);
    assert_int_equal(second_deliveries.failed, 0);
    assert_int_equal(second_deliveries.offsets[0], 1);

    assert_int_equal(ether_produce(first, "orders", 2, NULL, 0, "three", 5, 0, (void *)1),
                     ETHER_OK);
    assert_int_equal(ether_flush(first, 10000), ETHER_OK);
    assert_int_equal(first_deliveries.failed, 1);
    assert_int_equal(first_deliveries.last_error, ETHER_ERR_PRODUCER_FENCED);
    assert_non_null(strstr(first_deliveries.last_message, "fenced"));
    /* Unusable from now on. */
    assert_int_equal(ether_produce(first, "orders", 2, NULL, 0, "four", 4, 0, NULL),
                     ETHER_ERR_PRODUCER_FENCED);

    struct ether_producer_state *producers = NULL;
    size_t count = 0;
    char errstr[256];
    assert_int_equal(ether_describe_producers(second, "orders", 2, 5000, &producers, &count, errstr,
                                              sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 1);
    assert_int_equal(producers[0].producer_epoch, 1);
    assert_int_equal(producers[0].last_offset, 1);
    ether_producer_states_free(producers);
    ether_client_destroy(second);
    ether_client_destroy(first);
}

static void
test_idempotence_is_refused_with_acks_zero_and_off_by_default_with_acks_one(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    fake_cluster_brokers(cluster, 3, brokers, sizeof brokers);
    struct ether_config *config = ether_config_new();
    char errstr[256];
    assert_int_equal(ether_config_set(config, "enable_idempotence", "true", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_config_set(config, "acks", "0", errstr, sizeof errstr), ETHER_OK);
    assert_null(ether_client_new(config, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "enable_idempotence=true needs acks 1 or all"));
    ether_config_free(config);

    struct deliveries deliveries = {0};
    const char *settings[] = {"acks", "1", NULL};
    struct ether_client *client = client_for(brokers, &deliveries, settings);
    assert_int_equal(ether_produce(client, "orders", 0, NULL, 0, "x", 1, 0, (void *)0), ETHER_OK);
    assert_int_equal(ether_flush(client, 10000), ETHER_OK);
    assert_int_equal(deliveries.failed, 0);
    assert_int_equal(fake_read(cluster, &cluster->init_producer_requests), 0);
    assert_int_equal(fake_read(cluster, &cluster->idempotent_batches), 0);
    ether_client_destroy(client);
}

int main(void)
{
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_client_bootstraps_from_one_broker_and_learns_the_cluster),
        TEST(test_produce_goes_to_each_partitions_leader),
        TEST(test_same_key_lands_in_the_same_partition_on_the_wire),
        TEST(test_not_leader_refreshes_metadata_and_retries_at_the_new_leader),
        TEST(test_not_leader_with_a_hint_goes_straight_to_the_named_leader),
        TEST(test_acks_zero_gets_no_answer_and_still_reports_every_record),
        TEST(test_consumer_reads_lz4_batches_back_from_the_beginning),
        TEST(test_fetch_long_polls_and_answers_as_soon_as_records_arrive),
        TEST(test_consumer_prefers_a_replica_in_its_own_rack),
        TEST(test_unknown_topic_is_reported_as_not_found),
        TEST(test_admin_requests_reach_the_controller_and_the_leader),
        TEST(test_unreachable_brokers_fail_with_a_clear_error_after_the_timeout),
        TEST(test_destroy_with_records_in_flight_does_not_hang_or_leak),
        TEST(test_idempotent_producer_asks_the_controller_for_its_id_and_numbers_batches),
        TEST(test_lost_produce_answers_are_retried_and_every_record_is_stored_once_in_order),
        TEST(test_an_out_of_order_answer_fails_the_records_clearly_and_the_producer_goes_on),
        TEST(test_a_second_producer_with_the_same_name_fences_the_first),
        TEST(test_idempotence_is_refused_with_acks_zero_and_off_by_default_with_acks_one),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
