/* Unit tests for broker/raft_wire: Raft messages to frames and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/raft_wire.h"
#include "common/error.h"

static void test_messages_of_every_shape_survive_the_round_trip(void **state)
{
    (void)state;
    const uint8_t payload_a[] = "first batch";
    const uint8_t payload_b[] = "second";
    struct raft_entry entries[2] = {
        {.term = 3,
         .index = 10,
         .data = payload_a,
         .data_bytes = sizeof payload_a,
         .type = RAFT_ENTRY_NORMAL},
        {.term = 3,
         .index = 11,
         .data = payload_b,
         .data_bytes = sizeof payload_b,
         .type = RAFT_ENTRY_NOOP},
    };
    struct raft_message append = {
        .type = RAFT_MSG_APPEND_REQ,
        .group_id = (7ull << 32) | 2,
        .from = 1ull << 32,
        .to = 2ull << 32,
        .term = 3,
        .index = 9,
        .log_term = 2,
        .commit_index = 8,
        .entries_count = 2,
        .entries = entries,
    };
    struct raft_snapshot_meta meta = {.index = 500, .term = 2, .size_bytes = 4096};
    meta.configuration.servers_count = 2;
    meta.configuration.servers[0] = (struct raft_server){.id = 1ull << 32, .role = RAFT_VOTER};
    meta.configuration.servers[1] = (struct raft_server){.id = 5ull << 32, .role = RAFT_LEARNER};
    const uint8_t chunk[] = {1, 2, 3, 4};
    struct raft_message snapshot = {
        .type = RAFT_MSG_SNAPSHOT_REQ,
        .snapshot_done = true,
        .from = 1,
        .to = 2,
        .term = 4,
        .snapshot = &meta,
        .offset_bytes = 4092,
        .data = chunk,
        .data_bytes = sizeof chunk,
    };
    struct raft_message reject = {
        .type = RAFT_MSG_APPEND_RESP,
        .reject = true,
        .from = 2,
        .to = 1,
        .term = 4,
        .reject_hint_index = 77,
        .reject_hint_term = 1,
        .flags = RAFT_MESSAGE_FLAG_TRANSFER,
    };

    struct broker_raft_wire_scratch scratch;
    broker_raft_wire_scratch_init(&scratch);
    struct ether_buf messages = ETHER_BUF_INIT;
    broker_raft_wire_append(&messages, &scratch, &append);
    broker_raft_wire_append(&messages, &scratch, &snapshot);
    broker_raft_wire_append(&messages, &scratch, &reject);
    struct ether_buf frame = ETHER_BUF_INIT;
    assert_int_equal(
        broker_raft_wire_frame(&frame, 42, 7, &messages, PROTO_FRAME_BYTES_MAX_DEFAULT), ETHER_OK);

    struct proto_frame_header header;
    const uint8_t *body;
    size_t frame_bytes;
    assert_int_equal(proto_frame_parse(frame.data, frame.length, PROTO_FRAME_BYTES_MAX_DEFAULT,
                                       &header, &body, &frame_bytes),
                     ETHER_OK);
    assert_int_equal(header.api_key, PROTO_API_RAFT_MESSAGES);
    ProtobufCMessage *unpacked = NULL;
    assert_int_equal(proto_body_unpack(&header, body, &unpacked), ETHER_OK);
    Ether__RaftMessagesRequest *request = (Ether__RaftMessagesRequest *)unpacked;
    assert_int_equal(request->from_broker_id, 42);
    assert_int_equal(request->from_incarnation, 7);
    assert_int_equal(request->n_messages, 3);

    struct raft_entry decoded_entries[4];
    struct raft_snapshot_meta decoded_meta;
    struct raft_message decoded;
    assert_int_equal(
        broker_raft_wire_decode(request->messages[0], &decoded, decoded_entries, 4, &decoded_meta),
        ETHER_OK);
    assert_int_equal(decoded.type, RAFT_MSG_APPEND_REQ);
    assert_true(decoded.group_id == append.group_id);
    assert_true(decoded.from == append.from);
    assert_int_equal(decoded.commit_index, 8);
    assert_int_equal(decoded.entries_count, 2);
    assert_int_equal(decoded.entries[1].type, RAFT_ENTRY_NOOP);
    assert_int_equal(decoded.entries[0].data_bytes, sizeof payload_a);
    assert_memory_equal(decoded.entries[0].data, payload_a, sizeof payload_a);
    assert_null(decoded.snapshot);

    assert_int_equal(
        broker_raft_wire_decode(request->messages[1], &decoded, decoded_entries, 4, &decoded_meta),
        ETHER_OK);
    assert_true(decoded.snapshot_done);
    assert_non_null(decoded.snapshot);
    assert_int_equal(decoded.snapshot->index, 500);
    assert_int_equal(decoded.snapshot->configuration.servers_count, 2);
    assert_int_equal(decoded.snapshot->configuration.servers[1].role, RAFT_LEARNER);
    assert_int_equal(decoded.offset_bytes, 4092);
    assert_memory_equal(decoded.data, chunk, sizeof chunk);

    assert_int_equal(
        broker_raft_wire_decode(request->messages[2], &decoded, decoded_entries, 4, &decoded_meta),
        ETHER_OK);
    assert_true(decoded.reject);
    assert_int_equal(decoded.reject_hint_index, 77);
    assert_int_equal(decoded.flags, RAFT_MESSAGE_FLAG_TRANSFER);

    proto_message_free(unpacked);
    ether_buf_free(&frame);
    ether_buf_free(&messages);
    broker_raft_wire_scratch_free(&scratch);
}

static void test_impossible_messages_are_corrupt_not_trusted(void **state)
{
    (void)state;
    struct raft_entry entries[1];
    struct raft_snapshot_meta meta;
    struct raft_message decoded;

    Ether__RaftMessage unknown_type = ETHER__RAFT_MESSAGE__INIT;
    unknown_type.type = 200;
    assert_int_equal(broker_raft_wire_decode(&unknown_type, &decoded, entries, 1, &meta),
                     ETHER_ERR_CORRUPT);

    Ether__RaftEntry entry = ETHER__RAFT_ENTRY__INIT;
    Ether__RaftEntry *entry_pointers[2] = {&entry, &entry};
    Ether__RaftMessage too_many = ETHER__RAFT_MESSAGE__INIT;
    too_many.type = RAFT_MSG_APPEND_REQ;
    too_many.n_entries = 2;
    too_many.entries = entry_pointers;
    entry.type = RAFT_ENTRY_NORMAL;
    assert_int_equal(broker_raft_wire_decode(&too_many, &decoded, entries, 1, &meta),
                     ETHER_ERR_CORRUPT);

    too_many.n_entries = 1;
    entry.type = 9;
    assert_int_equal(broker_raft_wire_decode(&too_many, &decoded, entries, 1, &meta),
                     ETHER_ERR_CORRUPT);

    Ether__RaftServer server = ETHER__RAFT_SERVER__INIT;
    server.role = 7;
    Ether__RaftServer *servers[1] = {&server};
    Ether__RaftSnapshotMeta snapshot = ETHER__RAFT_SNAPSHOT_META__INIT;
    snapshot.n_servers = 1;
    snapshot.servers = servers;
    Ether__RaftMessage bad_role = ETHER__RAFT_MESSAGE__INIT;
    bad_role.type = RAFT_MSG_SNAPSHOT_REQ;
    bad_role.snapshot = &snapshot;
    assert_int_equal(broker_raft_wire_decode(&bad_role, &decoded, entries, 1, &meta),
                     ETHER_ERR_CORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_of_every_shape_survive_the_round_trip),
        cmocka_unit_test(test_impossible_messages_are_corrupt_not_trusted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
