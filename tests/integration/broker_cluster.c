/*
 * Integration tests of etherd: real broker processes on loopback, spoken to
 * over the wire protocol directly. Each test starts its own cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/mem.h"
#include "tests/integration/harness/cluster_harness.h"

enum { PARTITIONS = 6, BATCHES = 20, RECORDS_PER_BATCH = 50 };

static int setup_cluster(void **state)
{
    struct harness *harness = calloc(1, sizeof *harness);
    struct harness_options options = {.racks = true};
    harness_start_with(harness, 3, &options);
    *state = harness;
    return 0;
}

static int teardown_cluster(void **state)
{
    struct harness *harness = *state;
    int unclean = harness_stop(harness);
    free(harness);
    return unclean == 0 ? 0 : -1; /* every broker must stop cleanly on SIGTERM */
}

/* Fails the test after printing the brokers' logs. */
#define CHECK(harness, condition)                                  \
    do {                                                           \
        if (!(condition)) {                                        \
            harness_print_logs(harness);                           \
            fail_msg("%s:%d: %s", __FILE__, __LINE__, #condition); \
        }                                                          \
    } while (0)

static int leader_of(struct harness *harness, int asking_broker, const char *topic,
                     uint32_t partition)
{
    Ether__MetadataResponse *metadata = harness_metadata(harness, asking_broker, topic);
    int leader = 0;
    if (metadata != NULL && metadata->n_topics == 1 &&
        partition < metadata->topics[0]->n_partitions) {
        leader = (int)metadata->topics[0]->partitions[partition]->leader_id;
    }
    if (metadata != NULL) {
        proto_message_free(&metadata->base);
    }
    return leader;
}

/* Fills a one-partition produce request around `batch`. */
static void make_produce_request(Ether__ProduceRequest *request, Ether__ProducePartition *part,
                                 Ether__ProducePartition **parts, const char *topic,
                                 uint32_t partition, const struct ether_buf *batch,
                                 Ether__Acks acks)
{
    ether__produce_partition__init(part);
    part->partition = partition;
    part->batch.data = batch->data;
    part->batch.len = batch->length;
    parts[0] = part;
    ether__produce_request__init(request);
    request->topic = (char *)(uintptr_t)topic;
    request->acks = acks;
    request->n_partitions = 1;
    request->partitions = parts;
}

/* Sends `batch` without reading any answer (acks=0, or an answer the test pretends is lost). */
static void send_batch_unanswered(int fd, const char *topic, const struct ether_buf *batch,
                                  Ether__Acks acks)
{
    Ether__ProduceRequest request;
    Ether__ProducePartition part;
    Ether__ProducePartition *parts[1];
    make_produce_request(&request, &part, parts, topic, 0, batch, acks);
    struct proto_frame_header header = {.api_key = PROTO_API_PRODUCE, .correlation_id = 777};
    struct ether_buf frame = ETHER_BUF_INIT;
    int rc = proto_frame_encode(&frame, &header, &request.base, 1 << 24);
    assert_int_equal(rc, ETHER_OK);
    harness_send_raw(fd, frame.data, frame.length);
    ether_buf_free(&frame);
}

/* Produces one batch; returns the partition's error and stores the base offset and hint. */
static int produce(int fd, const char *topic, uint32_t partition, uint64_t first, uint32_t count,
                   Ether__Acks acks, uint64_t *base_offset, uint32_t *leader_hint)
{
    struct ether_buf batch = ETHER_BUF_INIT;
    harness_build_batch(&batch, first, count);
    int rc = harness_produce_batch(fd, topic, partition, &batch, acks, base_offset, leader_hint);
    ether_buf_free(&batch);
    return rc;
}

/* Produces to the partition's current leader, retrying while leadership moves. */
/* Produces to the partition's leader, asking `asking` (0: the first running broker) for it. */
static int produce_to_leader_asking(struct harness *harness, int asking_broker, const char *topic,
                                    uint32_t partition, uint64_t first, uint32_t count,
                                    uint64_t *base_offset)
{
    uint64_t deadline = harness_now_ms() + 15000;
    int rc = ETHER_ERR_TIMED_OUT;
    while (harness_now_ms() < deadline) {
        int asking = asking_broker > 0 ? asking_broker : 1;
        while (asking <= harness->brokers_count && harness->pids[asking] == 0) {
            asking++;
        }
        int leader = leader_of(harness, asking, topic, partition);
        if (leader != 0 && harness->pids[leader] != 0) {
            int fd = harness_connect(harness_port(harness, leader));
            if (fd >= 0) {
                rc = produce(fd, topic, partition, first, count, ETHER__ACKS__ACKS_ALL, base_offset,
                             NULL);
                close(fd);
                if (rc == ETHER_OK) {
                    return rc;
                }
            }
        }
        usleep(50000);
    }
    return rc;
}

static int produce_to_leader(struct harness *harness, const char *topic, uint32_t partition,
                             uint64_t first, uint32_t count, uint64_t *base_offset)
{
    return produce_to_leader_asking(harness, 0, topic, partition, first, count, base_offset);
}

/*
 * Fetches partition `partition` from broker `broker_id` starting at 0 and
 * checks that it holds records 0..expected-1 of the sequence that started at
 * first_value, in order.
 */
static void expect_partition_content(struct harness *harness, int broker_id, const char *topic,
                                     uint32_t partition, uint64_t first_value, uint64_t expected)
{
    int fd = harness_connect(harness_port(harness, broker_id));
    CHECK(harness, fd >= 0);
    uint64_t offset = 0;
    uint64_t deadline = harness_now_ms() + 15000;
    while (offset < expected && harness_now_ms() < deadline) {
        Ether__FetchResponse *fetched = NULL;
        int rc = harness_fetch_partition(fd, topic, partition, offset, 200, &fetched);
        CHECK(harness, rc == ETHER_OK);
        CHECK(harness, fetched->n_partitions == 1);
        Ether__FetchPartitionResult *result = fetched->partitions[0];
        if (result->error == ETHER_ERR_NOT_LEADER || result->error == ETHER_ERR_NOT_FOUND) {
            /* A restarted broker knows the topic once it has replayed the controller's
             * log, and serves the partition once it has reopened it. */
            proto_message_free(&fetched->base);
            usleep(50000);
            continue;
        }
        if (result->error != ETHER_OK) {
            fprintf(stderr, "fetch from broker %d: %s at offset %llu (hw %llu)\n", broker_id,
                    ether_error_name((int)result->error), (unsigned long long)offset,
                    (unsigned long long)result->high_watermark);
        }
        CHECK(harness, result->error == ETHER_OK);
        CHECK(harness, result->high_watermark <= expected);
        for (size_t b = 0; b < result->n_batches; b++) {
            struct proto_batch_header header;
            const ProtobufCBinaryData *bytes = &result->batches[b]->batch;
            CHECK(harness, proto_batch_parse(bytes->data, bytes->len, &header) == ETHER_OK);
            CHECK(harness, result->batches[b]->base_offset == offset);
            struct proto_record_reader reader;
            proto_record_reader_init(&reader, proto_batch_records(bytes->data),
                                     header.records_bytes_uncompressed, header.first_timestamp_ms,
                                     header.record_count);
            struct proto_record record;
            while (proto_record_reader_next(&reader, &record) == ETHER_OK) {
                char value[64];
                int value_bytes = snprintf(value, sizeof value, "value-%llu",
                                           (unsigned long long)(first_value + offset));
                CHECK(harness, record.value_bytes == (size_t)value_bytes);
                CHECK(harness, memcmp(record.value, value, record.value_bytes) == 0);
                offset++;
            }
        }
        proto_message_free(&fetched->base);
    }
    close(fd);
    CHECK(harness, offset == expected);
}

static void test_three_brokers_replicate_a_topic_and_every_replica_serves_it(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "orders", PARTITIONS, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "orders", PARTITIONS, 15000));

    /* Leaders are spread: no broker leads more than half of the partitions. */
    int led[4] = {0};
    for (uint32_t p = 0; p < PARTITIONS; p++) {
        int leader = leader_of(harness, 2, "orders", p);
        CHECK(harness, leader >= 1 && leader <= 3);
        led[leader]++;
    }
    for (int id = 1; id <= 3; id++) {
        CHECK(harness, led[id] <= PARTITIONS / 2);
    }

    for (uint32_t p = 0; p < PARTITIONS; p++) {
        for (uint32_t b = 0; b < BATCHES; b++) {
            uint64_t base_offset = UINT64_MAX;
            uint64_t first_value = (uint64_t)p * 1000000 + (uint64_t)b * RECORDS_PER_BATCH;
            CHECK(harness, produce_to_leader(harness, "orders", p, first_value, RECORDS_PER_BATCH,
                                             &base_offset) == ETHER_OK);
            CHECK(harness, base_offset == (uint64_t)b * RECORDS_PER_BATCH);
        }
    }
    /* Every replica, leader or follower, serves the same records in the same order. */
    for (int id = 1; id <= 3; id++) {
        for (uint32_t p = 0; p < PARTITIONS; p++) {
            expect_partition_content(harness, id, "orders", p, (uint64_t)p * 1000000,
                                     BATCHES * RECORDS_PER_BATCH);
        }
    }
}

/* Each broker's rack reaches the controller in its own Raft frames, whichever broker leads. */
static void test_every_broker_is_registered_with_its_own_rack(void **state)
{
    struct harness *harness = *state;
    uint64_t deadline = harness_now_ms() + 30000;
    uint32_t matching = 0;
    while (harness_now_ms() < deadline && matching < 3) {
        matching = 0;
        Ether__MetadataResponse *metadata = harness_metadata(harness, 2, NULL);
        for (size_t i = 0; metadata != NULL && i < metadata->n_brokers; i++) {
            char expected[32];
            snprintf(expected, sizeof expected, "rack-%u", metadata->brokers[i]->broker_id);
            matching += strcmp(metadata->brokers[i]->rack, expected) == 0;
        }
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        if (matching < 3) {
            usleep(100 * 1000);
        }
    }
    CHECK(harness, matching == 3);
}

static void test_produce_to_a_follower_is_refused_with_the_leader_named(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "payments", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "payments", 1, 15000));
    int leader = leader_of(harness, 1, "payments", 0);
    int follower = leader == 1 ? 2 : 1;
    int fd = harness_connect(harness_port(harness, follower));
    uint32_t hint = 0;
    int rc = produce(fd, "payments", 0, 0, 10, ETHER__ACKS__ACKS_ALL, NULL, &hint);
    close(fd);
    CHECK(harness, rc == ETHER_ERR_NOT_LEADER);
    CHECK(harness, hint == (uint32_t)leader);
}

static void test_acks_one_and_zero_write_and_acks_one_answers_with_the_offset(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "clicks", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "clicks", 1, 15000));
    int leader = leader_of(harness, 1, "clicks", 0);
    int fd = harness_connect(harness_port(harness, leader));
    uint64_t base_offset = 99;
    CHECK(harness, produce(fd, "clicks", 0, 0, 10, ETHER__ACKS__ACKS_LEADER, &base_offset, NULL) ==
                       ETHER_OK);
    CHECK(harness, base_offset == 0);

    /* acks=0: no answer at all; the next acks=all request on the connection is answered. */
    struct ether_buf batch = ETHER_BUF_INIT;
    harness_build_batch(&batch, 10, 10);
    send_batch_unanswered(fd, "clicks", &batch, ETHER__ACKS__ACKS_NONE);
    ether_buf_free(&batch);
    CHECK(harness,
          produce(fd, "clicks", 0, 20, 10, ETHER__ACKS__ACKS_ALL, &base_offset, NULL) == ETHER_OK);
    CHECK(harness, base_offset == 20);
    close(fd);
    expect_partition_content(harness, leader, "clicks", 0, 0, 30);
}

static void test_fetch_at_the_end_waits_for_new_data(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "events", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "events", 1, 15000));
    int leader = leader_of(harness, 1, "events", 0);
    int follower = leader == 3 ? 1 : 3;

    int fetch_fd = harness_connect(harness_port(harness, follower));
    Ether__FetchPartition wanted = ETHER__FETCH_PARTITION__INIT;
    Ether__FetchPartition *wanted_list[1] = {&wanted};
    Ether__FetchRequest request = ETHER__FETCH_REQUEST__INIT;
    request.topic = "events";
    request.n_partitions = 1;
    request.partitions = wanted_list;
    request.max_wait_ms = 5000;
    struct proto_frame_header header = {.api_key = PROTO_API_FETCH, .correlation_id = 5};
    struct ether_buf frame = ETHER_BUF_INIT;
    CHECK(harness, proto_frame_encode(&frame, &header, &request.base, 1 << 24) == ETHER_OK);
    uint64_t started_ms = harness_now_ms();
    harness_send_raw(fetch_fd, frame.data, frame.length);
    ether_buf_free(&frame);

    usleep(300000);
    uint64_t base_offset = 0;
    CHECK(harness, produce_to_leader(harness, "events", 0, 0, 5, &base_offset) == ETHER_OK);

    struct proto_frame_header answer;
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_receive(fetch_fd, &answer, &body) == 0);
    uint64_t waited_ms = harness_now_ms() - started_ms;
    Ether__FetchResponse *fetched = (Ether__FetchResponse *)body;
    CHECK(harness, fetched->n_partitions == 1);
    CHECK(harness, fetched->partitions[0]->n_batches == 1);
    CHECK(harness, waited_ms >= 250); /* it did wait for the data ... */
    CHECK(harness, waited_ms < 4000); /* ... and answered when it came, not at max_wait */
    proto_message_free(body);
    close(fetch_fd);
}

static void test_malformed_input_gets_named_errors_and_the_broker_keeps_serving(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "strict", 2, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "strict", 2, 15000));
    int leader = leader_of(harness, 1, "strict", 0);
    struct proto_frame_header answer;
    ProtobufCMessage *body = NULL;

    /* A frame over the maximum: the connection is closed. */
    int fd = harness_connect(harness_port(harness, leader));
    uint8_t huge[PROTO_FRAME_HEADER_BYTES] = {0};
    ether_put_u32le(huge, 512u * 1024 * 1024);
    harness_send_raw(fd, huge, sizeof huge);
    CHECK(harness, harness_receive(fd, &answer, &body) == -1);
    close(fd);

    /* An unknown api: an error answer naming the correlation id, then the close. */
    fd = harness_connect(harness_port(harness, leader));
    uint8_t unknown[PROTO_FRAME_HEADER_BYTES] = {0};
    ether_put_u32le(unknown, PROTO_FRAME_HEADER_BYTES - 4);
    unknown[4] = PROTO_FRAME_VERSION;
    ether_put_u16le(unknown + 6, 4242);
    ether_put_u32le(unknown + 12, 31);
    harness_send_raw(fd, unknown, sizeof unknown);
    CHECK(harness, harness_receive(fd, &answer, &body) == 0);
    CHECK(harness, answer.is_error && answer.correlation_id == 31);
    CHECK(harness, ((Ether__ErrorResponse *)body)->error == ETHER_ERR_UNSUPPORTED);
    proto_message_free(body);
    CHECK(harness, harness_receive(fd, &answer, &body) == -1);
    close(fd);

    /* A truncated, undecodable body: error answer, then the close. */
    fd = harness_connect(harness_port(harness, leader));
    uint8_t garbage[PROTO_FRAME_HEADER_BYTES + 3] = {0};
    ether_put_u32le(garbage, sizeof garbage - 4);
    garbage[4] = PROTO_FRAME_VERSION;
    ether_put_u16le(garbage + 6, PROTO_API_PRODUCE);
    ether_put_u32le(garbage + 12, 32);
    memset(garbage + PROTO_FRAME_HEADER_BYTES, 0xff, 3);
    harness_send_raw(fd, garbage, sizeof garbage);
    CHECK(harness, harness_receive(fd, &answer, &body) == 0);
    CHECK(harness, answer.is_error && answer.correlation_id == 32);
    CHECK(harness, ((Ether__ErrorResponse *)body)->error == ETHER_ERR_CORRUPT);
    proto_message_free(body);
    close(fd);

    /* Unknown topic, unknown partition, a bad CRC, an oversized batch: named errors. */
    fd = harness_connect(harness_port(harness, leader));
    CHECK(harness, produce(fd, "no-such-topic", 0, 0, 1, ETHER__ACKS__ACKS_ALL, NULL, NULL) ==
                       ETHER_ERR_NOT_FOUND);
    CHECK(harness,
          produce(fd, "strict", 7, 0, 1, ETHER__ACKS__ACKS_ALL, NULL, NULL) == ETHER_ERR_NOT_FOUND);

    struct ether_buf batch = ETHER_BUF_INIT;
    harness_build_batch(&batch, 0, 3);
    batch.data[batch.length - 1] ^= 0x01; /* breaks the CRC */
    CHECK(harness, harness_produce_batch(fd, "strict", 0, &batch, ETHER__ACKS__ACKS_ALL, NULL,
                                         NULL) == ETHER_ERR_CORRUPT);
    ether_buf_free(&batch);

    struct ether_buf big = ETHER_BUF_INIT;
    size_t big_value_bytes = 5u * 1024 * 1024;
    char *big_value = calloc(1, big_value_bytes);
    struct ether_buf records = ETHER_BUF_INIT;
    proto_record_append(&records, 0, 0, NULL, 0, big_value, big_value_bytes, NULL, 0);
    struct proto_batch_header big_header = {.record_count = 1,
                                            .producer_id = -1,
                                            .producer_epoch = -1,
                                            .base_sequence = -1,
                                            .records_bytes_uncompressed = (uint32_t)records.length};
    CHECK(harness, proto_batch_write(&big, &big_header, records.data, records.length) == ETHER_OK);
    CHECK(harness, harness_produce_batch(fd, "strict", 0, &big, ETHER__ACKS__ACKS_ALL, NULL,
                                         NULL) == ETHER_ERR_TOO_LARGE);
    ether_buf_free(&big);
    ether_buf_free(&records);
    free(big_value);

    /* Nothing was appended, and the broker still serves. */
    uint64_t base_offset = 99;
    CHECK(harness,
          produce(fd, "strict", 0, 0, 4, ETHER__ACKS__ACKS_ALL, &base_offset, NULL) == ETHER_OK);
    CHECK(harness, base_offset == 0);
    close(fd);
}

static void test_list_offsets_finds_earliest_latest_and_by_timestamp(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "ledger", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "ledger", 1, 15000));
    for (uint64_t b = 0; b < 5; b++) {
        /* batch b holds values b*10 .. b*10+9 and timestamp 1700000000000 + b*10 */
        CHECK(harness, produce_to_leader(harness, "ledger", 0, b * 10, 10, NULL) == ETHER_OK);
    }
    int fd = harness_connect(harness_port(harness, leader_of(harness, 1, "ledger", 0)));
    uint32_t partitions[1] = {0};
    Ether__ListOffsetsRequest request = ETHER__LIST_OFFSETS_REQUEST__INIT;
    request.topic = "ledger";
    request.n_partitions = 1;
    request.partitions = partitions;
    const struct {
        Ether__OffsetSpec spec;
        int64_t timestamp_ms;
        uint64_t expected;
    } cases[] = {
        {ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST, 0, 0},
        {ETHER__OFFSET_SPEC__OFFSET_SPEC_LATEST, 0, 50},
        {ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP, 1700000000000 + 25, 30},
        {ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP, 1700000000000 + 1000, 50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request.spec = cases[i].spec;
        request.timestamp_ms = cases[i].timestamp_ms;
        ProtobufCMessage *body = NULL;
        CHECK(harness, harness_call(fd, PROTO_API_LIST_OFFSETS, &request.base, &body) == ETHER_OK);
        Ether__ListOffsetsResponse *listed = (Ether__ListOffsetsResponse *)body;
        CHECK(harness, listed->n_partitions == 1 && listed->partitions[0]->error == ETHER_OK);
        CHECK(harness, listed->partitions[0]->offset == cases[i].expected);
        proto_message_free(body);
    }
    close(fd);
}

static bool directory_exists(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static void test_deleted_topic_is_gone_with_its_files(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "scratch", 2, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "scratch", 2, 15000));
    CHECK(harness, produce_to_leader(harness, "scratch", 0, 0, 10, NULL) == ETHER_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/broker-2/scratch-0", harness->data_root);
    CHECK(harness, directory_exists(path));

    int controller = 0;
    Ether__MetadataResponse *metadata = harness_metadata(harness, 1, NULL);
    CHECK(harness, metadata != NULL);
    controller = (int)metadata->controller_id;
    proto_message_free(&metadata->base);
    int fd = harness_connect(harness_port(harness, controller));
    Ether__DeleteTopicRequest request = ETHER__DELETE_TOPIC_REQUEST__INIT;
    request.name = "scratch";
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_DELETE_TOPIC, &request.base, &body) == ETHER_OK);
    CHECK(harness, ((Ether__DeleteTopicResponse *)body)->error == ETHER_OK);
    proto_message_free(body);
    close(fd);

    uint64_t deadline = harness_now_ms() + 10000;
    while (directory_exists(path) && harness_now_ms() < deadline) {
        usleep(50000);
    }
    CHECK(harness, !directory_exists(path));
    /* Every broker forgets the topic once it has applied the deletion. */
    for (int id = 1; id <= 3; id++) {
        uint32_t error = 0;
        deadline = harness_now_ms() + 10000;
        while (error != ETHER_ERR_NOT_FOUND && harness_now_ms() < deadline) {
            metadata = harness_metadata(harness, id, "scratch");
            CHECK(harness, metadata != NULL && metadata->n_topics == 1);
            error = metadata->topics[0]->error;
            proto_message_free(&metadata->base);
            usleep(20000);
        }
        CHECK(harness, error == ETHER_ERR_NOT_FOUND);
    }
}

static uint64_t list_offset(struct harness *harness, int broker_id, const char *topic,
                            Ether__OffsetSpec spec)
{
    int fd = harness_connect(harness_port(harness, broker_id));
    uint32_t partitions[1] = {0};
    Ether__ListOffsetsRequest request = ETHER__LIST_OFFSETS_REQUEST__INIT;
    request.topic = (char *)(uintptr_t)topic;
    request.n_partitions = 1;
    request.partitions = partitions;
    request.spec = spec;
    ProtobufCMessage *body = NULL;
    uint64_t offset = UINT64_MAX;
    if (harness_call(fd, PROTO_API_LIST_OFFSETS, &request.base, &body) == ETHER_OK) {
        Ether__ListOffsetsResponse *listed = (Ether__ListOffsetsResponse *)body;
        if (listed->n_partitions == 1 && listed->partitions[0]->error == ETHER_OK) {
            offset = listed->partitions[0]->offset;
        }
        proto_message_free(body);
    }
    close(fd);
    return offset;
}

static void test_retention_removes_old_segments_on_every_replica(void **state)
{
    struct harness *harness = *state;
    /* Small segments, and records stamped long ago: everything but the active segment goes. */
    int controller = 0;
    uint64_t deadline = harness_now_ms() + 15000;
    CHECK(harness, harness_create_topic(harness, "warmup", 1, 3) == ETHER_OK);
    while (controller == 0 && harness_now_ms() < deadline) {
        Ether__MetadataResponse *metadata = harness_metadata(harness, 1, NULL);
        controller = metadata != NULL ? (int)metadata->controller_id : 0;
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        usleep(20000);
    }
    CHECK(harness, controller != 0);
    int fd = harness_connect(harness_port(harness, controller));
    Ether__CreateTopicRequest__ConfigsEntry retention =
        ETHER__CREATE_TOPIC_REQUEST__CONFIGS_ENTRY__INIT;
    retention.key = "retention.ms";
    retention.value = "60000";
    Ether__CreateTopicRequest__ConfigsEntry segment =
        ETHER__CREATE_TOPIC_REQUEST__CONFIGS_ENTRY__INIT;
    segment.key = "segment.bytes";
    segment.value = "4096";
    Ether__CreateTopicRequest__ConfigsEntry *configs[2] = {&retention, &segment};
    Ether__CreateTopicRequest request = ETHER__CREATE_TOPIC_REQUEST__INIT;
    request.name = "short-lived";
    request.partitions = 1;
    request.replication_factor = 3;
    request.n_configs = 2;
    request.configs = configs;
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_CREATE_TOPIC, &request.base, &body) == ETHER_OK);
    CHECK(harness, ((Ether__CreateTopicResponse *)body)->error == ETHER_OK);
    proto_message_free(body);
    close(fd);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "short-lived", 1, 15000));
    /* A steady trickle, so several retention checks (every 500 ms here) see new entries:
     * retention keeps everything since the snapshot before the latest one. */
    uint64_t produced = 0;
    for (uint64_t b = 0; b < 40; b++) {
        CHECK(harness, produce_to_leader(harness, "short-lived", 0, b * 50, 50, NULL) == ETHER_OK);
        produced += 50;
        usleep(50000);
    }
    for (int id = 1; id <= 3; id++) {
        uint64_t earliest = 0;
        deadline = harness_now_ms() + 15000;
        while (harness_now_ms() < deadline) {
            earliest =
                list_offset(harness, id, "short-lived", ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST);
            if (earliest != UINT64_MAX && earliest > 0) {
                break;
            }
            CHECK(harness,
                  produce_to_leader(harness, "short-lived", 0, produced, 50, NULL) == ETHER_OK);
            produced += 50;
            usleep(200000);
        }
        CHECK(harness, earliest != UINT64_MAX && earliest > 0);
        CHECK(harness, earliest < produced);
    }
    for (int id = 1; id <= 3; id++) {
        uint64_t latest = 0;
        deadline = harness_now_ms() + 5000;
        while (latest != produced && harness_now_ms() < deadline) {
            latest =
                list_offset(harness, id, "short-lived", ETHER__OFFSET_SPEC__OFFSET_SPEC_LATEST);
            usleep(50000);
        }
        CHECK(harness, latest == produced);
    }
}

static void test_killed_leader_is_replaced_and_acknowledged_records_survive(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "durable", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "durable", 1, 15000));
    for (uint64_t b = 0; b < 10; b++) {
        CHECK(harness, produce_to_leader(harness, "durable", 0, b * 10, 10, NULL) == ETHER_OK);
    }
    int old_leader = leader_of(harness, 1, "durable", 0);
    harness_kill_broker(harness, old_leader, SIGKILL);
    uint64_t killed_ms = harness_now_ms();
    uint64_t base_offset = 0;
    CHECK(harness, produce_to_leader(harness, "durable", 0, 100, 10, &base_offset) == ETHER_OK);
    uint64_t failover_ms = harness_now_ms() - killed_ms;
    fprintf(stderr,
            "      leader killed -> first acknowledged produce on the new leader: %llu ms\n",
            (unsigned long long)failover_ms);
    CHECK(harness, base_offset == 100);
    for (uint64_t b = 11; b < 20; b++) {
        CHECK(harness, produce_to_leader(harness, "durable", 0, b * 10, 10, NULL) == ETHER_OK);
    }
    harness_start_broker(harness, old_leader);
    /* The restarted broker catches up and serves every acknowledged record. */
    expect_partition_content(harness, old_leader, "durable", 0, 0, 200);
}

/* Produces one idempotent batch over `fd`; returns the partition's error. */
static int produce_idempotent(int fd, const char *topic, uint64_t first, uint32_t count,
                              int64_t producer_id, int16_t epoch, int32_t sequence,
                              uint64_t *base_offset)
{
    struct ether_buf batch = ETHER_BUF_INIT;
    harness_build_producer_batch(&batch, first, count, producer_id, epoch, sequence);
    int rc = harness_produce_batch(fd, topic, 0, &batch, ETHER__ACKS__ACKS_ALL, base_offset, NULL);
    ether_buf_free(&batch);
    return rc;
}

static int64_t init_producer(struct harness *harness, const char *name, uint32_t *epoch)
{
    Ether__InitProducerIdRequest request = ETHER__INIT_PRODUCER_ID_REQUEST__INIT;
    request.producer_name = (char *)(uintptr_t)(name != NULL ? name : "");
    ProtobufCMessage *body = NULL;
    if (harness_call_controller(harness, PROTO_API_INIT_PRODUCER_ID, &request.base, &body) !=
        ETHER_OK) {
        return -1;
    }
    Ether__InitProducerIdResponse *response = (Ether__InitProducerIdResponse *)body;
    int64_t producer_id = response->error == ETHER_OK ? response->producer_id : -1;
    if (epoch != NULL) {
        *epoch = response->producer_epoch;
    }
    proto_message_free(body);
    return producer_id;
}

static void test_retried_idempotent_batches_are_stored_once_and_in_order(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "exactly-once", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "exactly-once", 1, 15000));
    int64_t producer_id = init_producer(harness, NULL, NULL);
    CHECK(harness, producer_id >= 0);
    CHECK(harness, init_producer(harness, NULL, NULL) != producer_id);
    int leader = leader_of(harness, 1, "exactly-once", 0);

    /* The first attempt's response is lost: the connection dies before it is read. */
    int fd = harness_connect(harness_port(harness, leader));
    struct ether_buf batch = ETHER_BUF_INIT;
    harness_build_producer_batch(&batch, 0, 10, producer_id, 0, 0);
    send_batch_unanswered(fd, "exactly-once", &batch, ETHER__ACKS__ACKS_ALL);
    close(fd);
    ether_buf_free(&batch);

    /* The retry, maybe racing the original, lands once, at offset 0. */
    fd = harness_connect(harness_port(harness, leader));
    uint64_t base_offset = 99;
    CHECK(harness, produce_idempotent(fd, "exactly-once", 0, 10, producer_id, 0, 0, &base_offset) ==
                       ETHER_OK);
    CHECK(harness, base_offset == 0);
    CHECK(harness, produce_idempotent(fd, "exactly-once", 10, 10, producer_id, 0, 10,
                                      &base_offset) == ETHER_OK);
    CHECK(harness, base_offset == 10);
    /* A late duplicate of an earlier batch gets its original offset, nothing appended. */
    CHECK(harness, produce_idempotent(fd, "exactly-once", 0, 10, producer_id, 0, 0, &base_offset) ==
                       ETHER_OK);
    CHECK(harness, base_offset == 0);
    /* A gap is refused by name. */
    CHECK(harness, produce_idempotent(fd, "exactly-once", 30, 10, producer_id, 0, 30, NULL) ==
                       ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    close(fd);
    expect_partition_content(harness, leader, "exactly-once", 0, 0, 20);
    expect_partition_content(harness, leader % 3 + 1, "exactly-once", 0, 0, 20);

    /* A named producer keeps its id; its older epoch is fenced. */
    uint32_t first_epoch = 99;
    uint32_t second_epoch = 99;
    int64_t named = init_producer(harness, "billing-service", &first_epoch);
    CHECK(harness, named >= 0 && named != producer_id);
    CHECK(harness, init_producer(harness, "billing-service", &second_epoch) == named);
    CHECK(harness, second_epoch == first_epoch + 1);
    fd = harness_connect(harness_port(harness, leader));
    CHECK(harness, produce_idempotent(fd, "exactly-once", 20, 5, named, (int16_t)second_epoch, 0,
                                      NULL) == ETHER_OK);
    CHECK(harness, produce_idempotent(fd, "exactly-once", 25, 5, named, (int16_t)first_epoch, 5,
                                      NULL) == ETHER_ERR_PRODUCER_FENCED);

    /* Every replica's table knows the producer's last sequence and offset. */
    Ether__DescribeProducersRequest describe = ETHER__DESCRIBE_PRODUCERS_REQUEST__INIT;
    describe.topic = "exactly-once";
    ProtobufCMessage *body = NULL;
    CHECK(harness,
          harness_call(fd, PROTO_API_DESCRIBE_PRODUCERS, &describe.base, &body) == ETHER_OK);
    Ether__DescribeProducersResponse *producers = (Ether__DescribeProducersResponse *)body;
    bool found = false;
    for (size_t i = 0; i < producers->n_producers; i++) {
        if (producers->producers[i]->producer_id == producer_id) {
            found = true;
            CHECK(harness, producers->producers[i]->last_sequence == 19);
            CHECK(harness, producers->producers[i]->last_offset == 19);
        }
    }
    CHECK(harness, found);
    proto_message_free(body);
    close(fd);
}

/*
 * The scenario in which a broker that lost its disk would lose committed
 * records if it came back as its old Raft member: records 100..199 are
 * committed by A (leader) and C while B is paused; C loses its disk and
 * restarts; A dies; B resumes. B lacks 100..199, and a C with an empty log
 * voting as its old self would elect B, and those records would be gone.
 * As a new incarnation C is no voter: nothing is elected until A returns,
 * and then every record is there, on C too once it has been refilled.
 */
static void
test_broker_back_with_an_empty_disk_rejoins_as_a_new_member_and_loses_nothing(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, harness_create_topic(harness, "precious", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "precious", 1, 15000));
    for (uint64_t b = 0; b < 10; b++) {
        CHECK(harness, produce_to_leader(harness, "precious", 0, b * 10, 10, NULL) == ETHER_OK);
    }
    int a = leader_of(harness, 1, "precious", 0);
    int b = a % 3 + 1;
    int c = b % 3 + 1;

    kill(harness->pids[b], SIGSTOP);
    for (uint64_t batch = 10; batch < 20; batch++) {
        /* Not B: a stopped broker would not answer the metadata request. */
        CHECK(harness, produce_to_leader_asking(harness, a, "precious", 0, batch * 10, 10, NULL) ==
                           ETHER_OK);
    }

    harness_kill_broker(harness, c, SIGKILL);
    char command[400];
    snprintf(command, sizeof command, "rm -rf '%s/broker-%d'", harness->data_root, c);
    CHECK(harness, system(command) == 0);
    harness_start_broker(harness, c);
    /* C asks A, which lists it as incarnation 1, and becomes incarnation 2. */
    usleep(1500000);

    harness_kill_broker(harness, a, SIGKILL);
    kill(harness->pids[b], SIGCONT);

    /* B cannot be elected: it lacks committed records and C is not a voter. */
    uint64_t deadline = harness_now_ms() + 3000;
    while (harness_now_ms() < deadline) {
        CHECK(harness, leader_of(harness, b, "precious", 0) != b);
        usleep(100000);
    }

    harness_start_broker(harness, a);
    expect_partition_content(harness, a, "precious", 0, 0, 200);
    expect_partition_content(harness, b, "precious", 0, 0, 200);
    /* C is refilled as its new self (and, once caught up, promoted to voter). */
    expect_partition_content(harness, c, "precious", 0, 0, 200);

    Ether__MetadataResponse *metadata = NULL;
    uint64_t incarnation = 0;
    deadline = harness_now_ms() + 15000;
    while (incarnation != 2 && harness_now_ms() < deadline) {
        metadata = harness_metadata(harness, a, NULL);
        for (size_t i = 0; metadata != NULL && i < metadata->n_brokers; i++) {
            if (metadata->brokers[i]->broker_id == (uint32_t)c) {
                incarnation = metadata->brokers[i]->incarnation;
            }
        }
        if (metadata != NULL) {
            proto_message_free(&metadata->base);
        }
        usleep(100000);
    }
    CHECK(harness, incarnation == 2);
    /* And the group can lose A again: C now votes as its new self. */
    uint64_t base_offset = 0;
    CHECK(harness, produce_to_leader(harness, "precious", 0, 200, 10, &base_offset) == ETHER_OK);
    CHECK(harness, base_offset == 200);
}

/* The sum of `series` over every broker of the cluster. */
static uint64_t metric_sum(struct harness *harness, const char *series)
{
    static char response[256 * 1024];
    uint64_t sum = 0;
    for (int id = 1; id <= harness->brokers_count; id++) {
        CHECK(harness,
              harness_http_exchange(harness, id, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                    response, sizeof response) > 0);
        uint64_t value = 0;
        CHECK(harness, harness_metric_value(response, series, &value));
        sum += value;
    }
    return sum;
}

static void test_health_and_metrics_are_served_over_http(void **state)
{
    struct harness *harness = *state;
    static char response[256 * 1024];
    bool healthy = false;
    for (int attempt = 0; attempt < 100 && !healthy; attempt++) {
        if (harness_http_exchange(harness, 1, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", response,
                                  sizeof response) > 0 &&
            strncmp(response, "HTTP/1.1 200", 12) == 0) {
            healthy = true;
        } else {
            usleep(100 * 1000);
        }
    }
    CHECK(harness, healthy);
    CHECK(harness, strstr(response, "\r\n\r\nok\n") != NULL);

    CHECK(harness, harness_create_topic(harness, "observed", 1, 3) == ETHER_OK);
    CHECK(harness, harness_wait_for_leaders(harness, 1, "observed", 1, 15000));
    bool has_partition = false;
    for (int attempt = 0; attempt < 100 && !has_partition; attempt++) {
        CHECK(harness, harness_http_exchange(harness, 1, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                             response, sizeof response) > 0);
        has_partition = strstr(response, "ether_partition_high_watermark{topic=\"observed\","
                                         "partition=\"0\"}") != NULL;
        if (!has_partition) {
            usleep(100 * 1000);
        }
    }
    CHECK(harness, has_partition);
    CHECK(harness, strncmp(response, "HTTP/1.1 200", 12) == 0);
    CHECK(harness, strstr(response, "text/plain; version=0.0.4") != NULL);
    CHECK(harness, strstr(response, "ether_broker_info{broker_id=\"1\"") != NULL);
    CHECK(harness, strstr(response, "# TYPE ether_transport_messages_sent_total counter") != NULL);
    static const char *const new_lines[] = {
        "# TYPE ether_produce_requests_total counter\n",
        "# TYPE ether_produce_latency_seconds histogram\n",
        "# TYPE ether_fetch_requests_total counter\n",
        "# TYPE ether_fetch_latency_seconds histogram\n",
        "# TYPE ether_bytes_in_total counter\n",
        "# TYPE ether_bytes_out_total counter\n",
        "# TYPE ether_fsync_latency_seconds histogram\n",
        "# TYPE ether_consumer_groups gauge\n",
        "\nether_produce_latency_seconds_bucket{le=\"0.001\"} ",
        "\nether_produce_latency_seconds_bucket{le=\"+Inf\"} ",
        "\nether_produce_latency_seconds_sum ",
        "\nether_fetch_requests_total{outcome=\"error\"} ",
        "\nether_consumer_groups{state=\"stable\"} ",
    };
    for (size_t i = 0; i < sizeof new_lines / sizeof new_lines[0]; i++) {
        if (strstr(response, new_lines[i]) == NULL) {
            fprintf(stderr, "/metrics lacks %s", new_lines[i]);
        }
        CHECK(harness, strstr(response, new_lines[i]) != NULL);
    }
    /* Broker 1 has synced at least its controller log by now. */
    uint64_t fsyncs = 0;
    CHECK(harness, harness_metric_value(response, "ether_fsync_latency_seconds_count", &fsyncs));
    CHECK(harness, fsyncs > 0);

    /* A produce moves the produce counters of the broker that took it; a fetch the fetch ones. */
    const char *produced_ok = "ether_produce_requests_total{outcome=\"ok\"}";
    uint64_t produced_before = metric_sum(harness, produced_ok);
    uint64_t timed_before = metric_sum(harness, "ether_produce_latency_seconds_count");
    uint64_t bytes_in_before = metric_sum(harness, "ether_bytes_in_total");
    uint64_t base_offset = UINT64_MAX;
    CHECK(harness, produce_to_leader(harness, "observed", 0, 0, 10, &base_offset) == ETHER_OK);
    CHECK(harness, metric_sum(harness, produced_ok) > produced_before);
    CHECK(harness, metric_sum(harness, "ether_produce_latency_seconds_count") > timed_before);
    CHECK(harness, metric_sum(harness, "ether_bytes_in_total") > bytes_in_before);
    expect_partition_content(harness, 1, "observed", 0, 0, 10);
    CHECK(harness, harness_http_exchange(harness, 1, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                         response, sizeof response) > 0);
    uint64_t fetched_ok = 0;
    uint64_t bytes_out = 0;
    CHECK(harness, harness_metric_value(response, "ether_fetch_requests_total{outcome=\"ok\"}",
                                        &fetched_ok));
    CHECK(harness, harness_metric_value(response, "ether_bytes_out_total", &bytes_out));
    CHECK(harness, fetched_ok > 0);
    CHECK(harness, bytes_out > 0);

    CHECK(harness, harness_http_exchange(harness, 1, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                         response, sizeof response) > 0);
    CHECK(harness, strncmp(response, "HTTP/1.1 405", 12) == 0);
    CHECK(harness, harness_http_exchange(harness, 1, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
                                         response, sizeof response) > 0);
    CHECK(harness, strncmp(response, "HTTP/1.1 404", 12) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_three_brokers_replicate_a_topic_and_every_replica_serves_it, setup_cluster,
            teardown_cluster),
        cmocka_unit_test_setup_teardown(test_every_broker_is_registered_with_its_own_rack,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_produce_to_a_follower_is_refused_with_the_leader_named,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(
            test_acks_one_and_zero_write_and_acks_one_answers_with_the_offset, setup_cluster,
            teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fetch_at_the_end_waits_for_new_data, setup_cluster,
                                        teardown_cluster),
        cmocka_unit_test_setup_teardown(
            test_malformed_input_gets_named_errors_and_the_broker_keeps_serving, setup_cluster,
            teardown_cluster),
        cmocka_unit_test_setup_teardown(test_list_offsets_finds_earliest_latest_and_by_timestamp,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_deleted_topic_is_gone_with_its_files, setup_cluster,
                                        teardown_cluster),
        cmocka_unit_test_setup_teardown(
            test_killed_leader_is_replaced_and_acknowledged_records_survive, setup_cluster,
            teardown_cluster),
        cmocka_unit_test_setup_teardown(test_retention_removes_old_segments_on_every_replica,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(
            test_broker_back_with_an_empty_disk_rejoins_as_a_new_member_and_loses_nothing,
            setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(
            test_retried_idempotent_batches_are_stored_once_and_in_order, setup_cluster,
            teardown_cluster),
        cmocka_unit_test_setup_teardown(test_health_and_metrics_are_served_over_http, setup_cluster,
                                        teardown_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
