/*
 * Unit tests for broker/controller_state: snapshots, determinism, and untrusted
 * bytes (malformed commands and snapshots, seeded random mutations).
 */
#include "tests/unit/test_broker_controller_fixture.h"

#include "common/crc32c.h"

/* A state with a bit of everything: brokers (one fenced, one re-registered),
 * topics with configs, a deleted topic, producer id blocks, named producers. */
static void build_busy_state(struct fixture *fixture)
{
    register_brokers(fixture, 5);
    assert_int_equal(register_broker(fixture, 3, 2).error, ETHER_OK);
    assert_int_equal(fence_broker(fixture, 5, 1).error, ETHER_OK);
    const char *configs[] = {"retention.ms=86400000", "cleanup.policy=compact", NULL};
    assert_int_equal(create_topic_with_configs(fixture, "orders", 6, 3, configs).error, ETHER_OK);
    assert_int_equal(create_topic(fixture, "payments", 4, 2).error, ETHER_OK);
    assert_int_equal(create_topic(fixture, "gone", 2, 1).error, ETHER_OK);
    assert_int_equal(delete_topic(fixture, "gone").error, ETHER_OK);
    assert_int_equal(create_topic(fixture, "audit.log", 1, 4).error, ETHER_OK);
    const char *set[] = {"segment.bytes=65536", NULL};
    assert_int_equal(alter_topic_config(fixture, "payments", set, NULL).error, ETHER_OK);
    assert_int_equal(allocate_producer_ids(fixture, 1, 1000).error, ETHER_OK);
    assert_int_equal(allocate_producer_ids(fixture, 2, 1000).error, ETHER_OK);
    assert_int_equal(init_producer(fixture, "payments-writer").error, ETHER_OK);
    assert_int_equal(init_producer(fixture, "audit writer").error, ETHER_OK);
    assert_int_equal(init_producer(fixture, "payments-writer").error, ETHER_OK);
}

/* ---- snapshots ------------------------------------------------------------------------ */

static void test_snapshot_round_trip_is_exact(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_busy_state(&fixture);
    struct ether_buf bytes = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &bytes);

    struct controller_state restored;
    controller_state_init(&restored);
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &restored),
                     ETHER_OK);
    assert_same_snapshot(&fixture.state, &restored);
    assert_int_equal(restored.applied_index, fixture.state.applied_index);
    assert_int_equal(restored.next_topic_id, 5);
    assert_int_equal(restored.next_producer_id, 2003);
    assert_int_equal(restored.producers_count, 2);
    const struct controller_producer *writer =
        controller_state_producer_by_name(&restored, "payments-writer");
    assert_non_null(writer);
    assert_int_equal(writer->producer_id, 2001);
    assert_int_equal(writer->producer_epoch, 1);
    assert_int_equal(controller_state_producer_by_name(&restored, "audit writer")->producer_id,
                     2002);
    assert_int_equal(restored.brokers_count, 5);
    assert_int_equal(controller_state_broker(&restored, 3)->incarnation, 2);
    assert_true(controller_state_broker(&restored, 5)->fenced);
    assert_true(controller_state_topic_deleted(&restored, 3));
    const struct controller_topic *orders = controller_state_topic_by_id(&restored, 1);
    assert_string_equal(orders->name, "orders");
    assert_string_equal(controller_topic_config(orders, CONTROLLER_TOPIC_CONFIG_CLEANUP_POLICY),
                        "compact");
    assert_memory_equal(orders->partitions,
                        controller_state_topic_by_name(&fixture.state, "orders")->partitions,
                        6 * sizeof *orders->partitions);

    /* Both go on identically from there. */
    struct fixture continued = {restored, fixture.next_index};
    assert_int_equal(create_topic(&continued, "later", 5, 3).error, ETHER_OK);
    assert_int_equal(create_topic(&fixture, "later", 5, 3).error, ETHER_OK);
    struct controller_apply_result bumped = init_producer(&continued, "payments-writer");
    assert_int_equal(bumped.producer_id, 2001);
    assert_int_equal(bumped.producer_epoch, 2);
    assert_int_equal(init_producer(&fixture, "payments-writer").producer_epoch, 2);
    assert_int_equal(init_producer(&continued, "new").producer_id, 2003);
    assert_int_equal(init_producer(&fixture, "new").producer_id, 2003);
    assert_same_snapshot(&fixture.state, &continued.state);

    /* Decoding over a state that has content replaces it. */
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &continued.state),
                     ETHER_OK);
    assert_null(controller_state_topic_by_name(&continued.state, "later"));

    struct controller_state empty;
    controller_state_init(&empty);
    snapshot_of(&empty, &bytes);
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &continued.state),
                     ETHER_OK);
    assert_same_snapshot(&empty, &continued.state);
    ether_buf_free(&bytes);
    fixture_free(&continued);
    fixture_free(&fixture);
}

static void test_producer_id_blocks_never_overlap_across_snapshot_restore(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 2);
    struct controller_apply_result first = allocate_producer_ids(&fixture, 1, 500);
    assert_int_equal(first.error, ETHER_OK);

    struct ether_buf bytes = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &bytes);
    struct fixture restored;
    fixture_init(&restored);
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &restored.state),
                     ETHER_OK);
    restored.next_index = restored.state.applied_index + 1;

    struct controller_apply_result second = allocate_producer_ids(&restored, 2, 500);
    assert_int_equal(second.error, ETHER_OK);
    assert_true(second.producer_id_first >= first.producer_id_first + first.producer_id_count);
    struct controller_apply_result third = allocate_producer_ids(&restored, 1, 7);
    assert_int_equal(third.producer_id_first, second.producer_id_first + 500);
    ether_buf_free(&bytes);
    fixture_free(&restored);
    fixture_free(&fixture);
}

static void test_corrupt_snapshot_bytes_are_refused_and_leave_the_state_unchanged(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_busy_state(&fixture);
    struct ether_buf good = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &good);

    struct fixture target;
    fixture_init(&target);
    register_brokers(&target, 1);
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&target.state, &before);

    assert_int_equal(controller_state_snapshot_decode(good.data, 0, &target.state),
                     ETHER_ERR_CORRUPT);
    assert_int_equal(controller_state_snapshot_decode(good.data, 3, &target.state),
                     ETHER_ERR_CORRUPT);
    for (size_t cut = 4; cut < good.length; cut += 7) {
        assert_int_equal(controller_state_snapshot_decode(good.data, cut, &target.state),
                         ETHER_ERR_CORRUPT);
    }

    uint64_t seed = test_seed(7);
    uint64_t prng = seed;
    uint8_t *mutated = ether_malloc(good.length);
    for (int round = 0; round < 3000; round++) {
        memcpy(mutated, good.data, good.length);
        int flips = 1 + (int)prng_below(&prng, 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)prng_below(&prng, good.length);
            mutated[at] ^= (uint8_t)(1 + prng_below(&prng, 255));
        }
        int rc = controller_state_snapshot_decode(mutated, good.length, &target.state);
        if (rc != ETHER_ERR_CORRUPT) {
            fail_msg("seed %llu round %d: decode returned %s", (unsigned long long)seed, round,
                     ether_error_name(rc));
        }
    }
    ether_free(mutated);

    struct ether_buf after = ETHER_BUF_INIT;
    snapshot_of(&target.state, &after);
    assert_int_equal(before.length, after.length);
    assert_memory_equal(before.data, after.data, before.length);
    ether_buf_free(&after);
    ether_buf_free(&before);
    ether_buf_free(&good);
    fixture_free(&target);
    fixture_free(&fixture);
}

/*
 * Re-encodes a decoded snapshot after `edit` with a correct checksum, so only
 * the semantic checks stand between the bytes and the state.
 */
typedef void (*snapshot_edit)(Ether__ControllerSnapshot *snapshot);

static int decode_edited(const struct ether_buf *good, snapshot_edit edit,
                         struct controller_state *target)
{
    Ether__ControllerSnapshot *snapshot =
        ether__controller_snapshot__unpack(NULL, good->length - 4, good->data + 4);
    assert_non_null(snapshot);
    edit(snapshot);
    struct ether_buf bytes = ETHER_BUF_INIT;
    size_t body_bytes = ether__controller_snapshot__get_packed_size(snapshot);
    uint8_t *data = ether_buf_extend(&bytes, 4 + body_bytes);
    ether__controller_snapshot__pack(snapshot, data + 4);
    ether_put_u32le(data, ether_crc32c(data + 4, body_bytes));
    int rc = controller_state_snapshot_decode(bytes.data, bytes.length, target);
    ether_buf_free(&bytes);
    ether__controller_snapshot__free_unpacked(snapshot, NULL);
    return rc;
}

static void edit_nothing(Ether__ControllerSnapshot *snapshot)
{
    (void)snapshot;
}
static void edit_newer_version(Ether__ControllerSnapshot *snapshot)
{
    snapshot->version = CONTROLLER_SNAPSHOT_VERSION + 1;
}
static void edit_version_zero(Ether__ControllerSnapshot *snapshot)
{
    snapshot->version = 0;
}
static void edit_duplicate_broker_id(Ether__ControllerSnapshot *snapshot)
{
    snapshot->brokers[1]->broker_id = snapshot->brokers[0]->broker_id;
}
static void edit_broker_port_too_large(Ether__ControllerSnapshot *snapshot)
{
    snapshot->brokers[0]->port = 70000;
}
static void edit_replica_on_unregistered_broker(Ether__ControllerSnapshot *snapshot)
{
    snapshot->topics[0]->partitions[0]->replicas[0] = 99;
}
static void edit_replica_twice_in_a_partition(Ether__ControllerSnapshot *snapshot)
{
    Ether__ControllerSnapshotPartition *partition = snapshot->topics[0]->partitions[0];
    partition->replicas[1] = partition->replicas[0];
}
static void edit_topics_out_of_order(Ether__ControllerSnapshot *snapshot)
{
    Ether__ControllerSnapshotTopic *first = snapshot->topics[0];
    snapshot->topics[0] = snapshot->topics[1];
    snapshot->topics[1] = first;
}
static void edit_topic_id_not_yet_handed_out(Ether__ControllerSnapshot *snapshot)
{
    snapshot->topics[0]->topic_id = snapshot->next_topic_id;
}
static void edit_duplicate_topic_id(Ether__ControllerSnapshot *snapshot)
{
    snapshot->topics[1]->topic_id = snapshot->topics[0]->topic_id;
}
static void edit_bad_topic_name(Ether__ControllerSnapshot *snapshot)
{
    snapshot->topics[0]->name[0] = '/';
}
static void edit_bad_config_value(Ether__ControllerSnapshot *snapshot)
{
    snapshot->topics[2]->configs[0]->value[0] = 'x';
}
static void edit_producer_id_zero(Ether__ControllerSnapshot *snapshot)
{
    snapshot->next_producer_id = 0;
}
static void edit_duplicate_producer_id(Ether__ControllerSnapshot *snapshot)
{
    snapshot->producers[1]->producer_id = snapshot->producers[0]->producer_id;
}
static void edit_producer_id_not_yet_handed_out(Ether__ControllerSnapshot *snapshot)
{
    snapshot->producers[0]->producer_id = snapshot->next_producer_id;
}
static void edit_producer_id_zero_for_a_name(Ether__ControllerSnapshot *snapshot)
{
    snapshot->producers[0]->producer_id = 0;
}
static void edit_producers_out_of_order(Ether__ControllerSnapshot *snapshot)
{
    Ether__ControllerSnapshotProducer *first = snapshot->producers[0];
    snapshot->producers[0] = snapshot->producers[1];
    snapshot->producers[1] = first;
}
static void edit_producer_epoch_too_large(Ether__ControllerSnapshot *snapshot)
{
    snapshot->producers[0]->producer_epoch = CONTROLLER_PRODUCER_EPOCH_MAX + 1;
}
static void edit_bad_producer_name(Ether__ControllerSnapshot *snapshot)
{
    snapshot->producers[0]->name[0] = '\n';
}
static void edit_producers_in_a_version_one_snapshot(Ether__ControllerSnapshot *snapshot)
{
    snapshot->version = 1;
}
static void edit_version_one_without_producers(Ether__ControllerSnapshot *snapshot)
{
    for (size_t i = 0; i < snapshot->n_producers; i++) {
        ether__controller_snapshot_producer__free_unpacked(snapshot->producers[i], NULL);
    }
    snapshot->n_producers = 0;
    snapshot->version = 1;
}
static void edit_topic_without_partitions(Ether__ControllerSnapshot *snapshot)
{
    Ether__ControllerSnapshotTopic *topic = snapshot->topics[0];
    for (size_t p = 0; p < topic->n_partitions; p++) {
        ether__controller_snapshot_partition__free_unpacked(topic->partitions[p], NULL);
    }
    topic->n_partitions = 0;
}
static void edit_index_from_the_future(Ether__ControllerSnapshot *snapshot)
{
    snapshot->topics[0]->created_index = snapshot->applied_index + 1;
}

static void test_snapshot_with_valid_checksum_but_broken_invariants_is_corrupt(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_busy_state(&fixture);
    struct ether_buf good = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &good);
    struct controller_state target;
    controller_state_init(&target);

    /* Sanity: the re-encoding path itself is faithful. */
    assert_int_equal(decode_edited(&good, edit_nothing, &target), ETHER_OK);
    assert_same_snapshot(&fixture.state, &target);
    controller_state_free(&target);

    assert_int_equal(decode_edited(&good, edit_newer_version, &target), ETHER_ERR_UNSUPPORTED);
    /* A snapshot written before named producers existed still decodes. */
    assert_int_equal(decode_edited(&good, edit_version_one_without_producers, &target), ETHER_OK);
    assert_int_equal(target.producers_count, 0);
    assert_int_equal(target.topics_count, fixture.state.topics_count);
    controller_state_free(&target);
    const snapshot_edit corrupt[] = {
        edit_version_zero,
        edit_duplicate_broker_id,
        edit_broker_port_too_large,
        edit_replica_on_unregistered_broker,
        edit_replica_twice_in_a_partition,
        edit_topics_out_of_order,
        edit_topic_id_not_yet_handed_out,
        edit_duplicate_topic_id,
        edit_bad_topic_name,
        edit_bad_config_value,
        edit_producer_id_zero,
        edit_topic_without_partitions,
        edit_index_from_the_future,
        edit_duplicate_producer_id,
        edit_producer_id_not_yet_handed_out,
        edit_producer_id_zero_for_a_name,
        edit_producers_out_of_order,
        edit_producer_epoch_too_large,
        edit_bad_producer_name,
        edit_producers_in_a_version_one_snapshot,
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        if (decode_edited(&good, corrupt[i], &target) != ETHER_ERR_CORRUPT) {
            fail_msg("edit %zu was not refused as corrupt", i);
        }
        assert_int_equal(target.brokers_count, 0);
        assert_int_equal(target.topics_count, 0);
        assert_int_equal(target.producers_count, 0);
    }
    ether_buf_free(&good);
    fixture_free(&fixture);
}

/* ---- determinism ---------------------------------------------------------------------- */

/* Packs a random, mostly valid command drawn from a small universe of names and ids. */
static void random_command(uint64_t *prng, struct ether_buf *out)
{
    static const char *const names[] = {"a", "b", "c", "orders", "bad name", ""};
    static const char *const configs[][2] = {
        {"retention.ms", "1000"},      {"retention.ms", "-7"},     {"segment.bytes", "4096"},
        {"cleanup.policy", "compact"}, {"max.message.bytes", "1"}, {"unknown.key", "1"},
    };
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    Ether__ControllerRegisterBroker register_body;
    Ether__ControllerFenceBroker fence_body = ETHER__CONTROLLER_FENCE_BROKER__INIT;
    Ether__ControllerCreateTopic create_body = ETHER__CONTROLLER_CREATE_TOPIC__INIT;
    Ether__ControllerCreateTopic__ConfigsEntry entry =
        ETHER__CONTROLLER_CREATE_TOPIC__CONFIGS_ENTRY__INIT;
    Ether__ControllerCreateTopic__ConfigsEntry *entries[] = {&entry};
    Ether__ControllerDeleteTopic delete_body = ETHER__CONTROLLER_DELETE_TOPIC__INIT;
    Ether__ControllerAlterTopicConfig alter_body = ETHER__CONTROLLER_ALTER_TOPIC_CONFIG__INIT;
    Ether__ControllerAlterTopicConfig__SetEntry set_entry =
        ETHER__CONTROLLER_ALTER_TOPIC_CONFIG__SET_ENTRY__INIT;
    Ether__ControllerAlterTopicConfig__SetEntry *set_entries[] = {&set_entry};
    Ether__ControllerAllocateProducerIdBlock allocate_body =
        ETHER__CONTROLLER_ALLOCATE_PRODUCER_ID_BLOCK__INIT;
    Ether__ControllerInitProducer init_body = ETHER__CONTROLLER_INIT_PRODUCER__INIT;
    const char *name = names[prng_below(prng, 6)];
    size_t config = (size_t)prng_below(prng, 6);

    switch (prng_below(prng, 7)) {
    case 0:
        register_broker_command(&command, &register_body, (uint32_t)prng_below(prng, 7), "host",
                                9000 + (uint32_t)prng_below(prng, 3), 1 + prng_below(prng, 3));
        break;
    case 1:
        fence_body.broker_id = (uint32_t)prng_below(prng, 7);
        fence_body.incarnation = 1 + prng_below(prng, 3);
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_FENCE_BROKER;
        command.fence_broker = &fence_body;
        break;
    case 2:
        create_body.name = (char *)(uintptr_t)name;
        create_body.partitions = (uint32_t)prng_below(prng, 9);
        create_body.replication_factor = (uint32_t)prng_below(prng, 5);
        if (prng_below(prng, 2)) {
            entry.key = (char *)(uintptr_t)configs[config][0];
            entry.value = (char *)(uintptr_t)configs[config][1];
            create_body.n_configs = 1;
            create_body.configs = entries;
        }
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_TOPIC;
        command.create_topic = &create_body;
        break;
    case 3:
        delete_body.name = (char *)(uintptr_t)name;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_TOPIC;
        command.delete_topic = &delete_body;
        break;
    case 4:
        alter_body.name = (char *)(uintptr_t)name;
        set_entry.key = (char *)(uintptr_t)configs[config][0];
        set_entry.value = (char *)(uintptr_t)configs[config][1];
        alter_body.n_set = 1;
        alter_body.set = set_entries;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_ALTER_TOPIC_CONFIG;
        command.alter_topic_config = &alter_body;
        break;
    case 5:
        init_body.producer_name = (char *)(uintptr_t)name;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_INIT_PRODUCER;
        command.init_producer = &init_body;
        break;
    default:
        allocate_body.broker_id = (uint32_t)prng_below(prng, 7);
        allocate_body.block_size = (uint32_t)prng_below(prng, 2000);
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_ALLOCATE_PRODUCER_ID_BLOCK;
        command.allocate_producer_id_block = &allocate_body;
        break;
    }
    command_pack(&command, out);
}

static void
test_two_state_machines_applying_the_same_commands_have_identical_snapshots(void **unused)
{
    (void)unused;
    uint64_t seed = test_seed(42);
    uint64_t prng = seed;
    struct fixture left;
    struct fixture right;
    fixture_init(&left);
    fixture_init(&right);
    struct ether_buf command = ETHER_BUF_INIT;
    struct ether_buf snapshot = ETHER_BUF_INIT;
    int accepted = 0;
    int created = 0;
    for (int i = 0; i < 3000; i++) {
        random_command(&prng, &command);
        struct controller_apply_result a = apply_bytes(&left, command.data, command.length);
        struct controller_apply_result b = apply_bytes(&right, command.data, command.length);
        assert_memory_equal(&a, &b, sizeof a);
        accepted += a.error == ETHER_OK;
        created += a.error == ETHER_OK && a.type == CONTROLLER_COMMAND_CREATE_TOPIC;
        if (i % 500 == 499) {
            /* A replica that restarts from a snapshot stays in step too. */
            snapshot_of(&right.state, &snapshot);
            controller_state_free(&right.state);
            assert_int_equal(
                controller_state_snapshot_decode(snapshot.data, snapshot.length, &right.state),
                ETHER_OK);
        }
    }
    assert_same_snapshot(&left.state, &right.state);
    if (accepted < 300 || created < 20) {
        fail_msg("seed %llu: only %d commands were accepted, %d topics created",
                 (unsigned long long)seed, accepted, created);
    }
    ether_buf_free(&snapshot);
    ether_buf_free(&command);
    fixture_free(&left);
    fixture_free(&right);
}

/* ---- untrusted command bytes ---------------------------------------------------------- */

static void test_malformed_commands_are_corrupt_and_change_nothing_but_the_index(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_busy_state(&fixture);
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    uint64_t applied_before = fixture.state.applied_index;

    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t wrong_wire_type[] = {0x1d, 0x00, 0x00, 0x00, 0x00}; /* field 3, fixed32 */
    static const uint8_t length_past_end[] = {0x1a, 0x40, 0x0a, 0x01, 'a'};
    struct controller_apply_result result = apply_bytes(&fixture, garbage, sizeof garbage);
    assert_int_equal(result.error, ETHER_ERR_CORRUPT);
    assert_int_equal(result.type, CONTROLLER_COMMAND_NONE);
    assert_true(strlen(result.message) > 0);
    assert_int_equal(apply_bytes(&fixture, wrong_wire_type, sizeof wrong_wire_type).error,
                     ETHER_ERR_CORRUPT);
    assert_int_equal(apply_bytes(&fixture, length_past_end, sizeof length_past_end).error,
                     ETHER_ERR_CORRUPT);
    /* An empty entry decodes to a command with nothing in it. */
    assert_int_equal(apply_bytes(&fixture, NULL, 0).error, ETHER_ERR_CORRUPT);

    /* Every strict prefix of a real command ends inside its body. */
    struct ether_buf command = ETHER_BUF_INIT;
    Ether__ControllerCommand register_command;
    Ether__ControllerRegisterBroker body;
    register_broker_command(&register_command, &body, 9, "some-host", 9092, 1);
    command_pack(&register_command, &command);
    for (size_t cut = 1; cut < command.length; cut++) {
        result = apply_bytes(&fixture, command.data, cut);
        assert_int_not_equal(result.error, ETHER_OK);
    }
    assert_int_equal(fixture.state.applied_index, applied_before + 4 + command.length - 1);

    fixture.state.applied_index = applied_before;
    struct ether_buf after = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &after);
    assert_int_equal(before.length, after.length);
    assert_memory_equal(before.data, after.data, before.length);
    ether_buf_free(&after);
    ether_buf_free(&before);
    ether_buf_free(&command);
    fixture_free(&fixture);
}

static void test_commands_with_unknown_fields_or_versions_are_unsupported(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 1);

    /* A command kind this build does not know: oneof field 15, empty message. */
    static const uint8_t unknown_kind[] = {0x7a, 0x00};
    struct controller_apply_result result =
        apply_bytes(&fixture, unknown_kind, sizeof unknown_kind);
    assert_int_equal(result.error, ETHER_ERR_UNSUPPORTED);

    /* A known kind with a field this build does not know (field 15, varint 1). */
    struct ether_buf command = ETHER_BUF_INIT;
    Ether__ControllerDeleteTopic body = ETHER__CONTROLLER_DELETE_TOPIC__INIT;
    body.name = "x";
    Ether__ControllerCommand delete_command = ETHER__CONTROLLER_COMMAND__INIT;
    delete_command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_TOPIC;
    delete_command.delete_topic = &body;
    command_pack(&delete_command, &command);
    assert_int_equal(command.data[0], 0x22); /* field 4, length-delimited */
    command.data[1] += 2;
    ether_buf_append_u8(&command, 0x78);
    ether_buf_append_u8(&command, 0x01);
    assert_int_equal(apply_bytes(&fixture, command.data, command.length).error,
                     ETHER_ERR_UNSUPPORTED);

    Ether__ControllerCreateTopic create = ETHER__CONTROLLER_CREATE_TOPIC__INIT;
    create.name = "future";
    create.partitions = 1;
    create.replication_factor = 1;
    create.assignment_version = CONTROLLER_ASSIGNMENT_VERSION + 1;
    Ether__ControllerCommand create_command = ETHER__CONTROLLER_COMMAND__INIT;
    create_command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_TOPIC;
    create_command.create_topic = &create;
    assert_int_equal(apply_command(&fixture, &create_command).error, ETHER_ERR_UNSUPPORTED);
    create.assignment_version = CONTROLLER_ASSIGNMENT_VERSION;
    assert_int_equal(apply_command(&fixture, &create_command).error, ETHER_OK);
    ether_buf_free(&command);
    fixture_free(&fixture);
}

static void test_random_mutations_of_commands_are_applied_identically_or_refused(void **unused)
{
    (void)unused;
    uint64_t seed = test_seed(1234);
    uint64_t prng = seed;
    struct fixture left;
    struct fixture right;
    fixture_init(&left);
    fixture_init(&right);
    build_busy_state(&left);
    build_busy_state(&right);
    struct ether_buf command = ETHER_BUF_INIT;
    int corrupt = 0;
    for (int round = 0; round < 5000; round++) {
        random_command(&prng, &command);
        int flips = 1 + (int)prng_below(&prng, 3);
        for (int f = 0; f < flips && command.length > 0; f++) {
            size_t at = (size_t)prng_below(&prng, command.length);
            command.data[at] ^= (uint8_t)(1 + prng_below(&prng, 255));
        }
        if (prng_below(&prng, 4) == 0) {
            command.length = (size_t)prng_below(&prng, command.length + 1);
        }
        struct ether_buf before = ETHER_BUF_INIT;
        snapshot_of(&left.state, &before);
        /* apply_bytes checks every invariant after each apply. */
        struct controller_apply_result a = apply_bytes(&left, command.data, command.length);
        struct controller_apply_result b = apply_bytes(&right, command.data, command.length);
        if (memcmp(&a, &b, sizeof a) != 0) {
            fail_msg("seed %llu round %d: replicas disagree", (unsigned long long)seed, round);
        }
        if (a.error != ETHER_OK) {
            /* Refused: nothing but applied_index changed. */
            left.state.applied_index--;
            struct ether_buf after = ETHER_BUF_INIT;
            snapshot_of(&left.state, &after);
            left.state.applied_index++;
            if (before.length != after.length ||
                memcmp(before.data, after.data, before.length) != 0) {
                fail_msg("seed %llu round %d: a refused command changed the state",
                         (unsigned long long)seed, round);
            }
            ether_buf_free(&after);
        }
        corrupt += a.error == ETHER_ERR_CORRUPT;
        ether_buf_free(&before);
    }
    assert_same_snapshot(&left.state, &right.state);
    assert_true(corrupt > 100);
    ether_buf_free(&command);
    fixture_free(&left);
    fixture_free(&right);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_round_trip_is_exact),
        cmocka_unit_test(test_producer_id_blocks_never_overlap_across_snapshot_restore),
        cmocka_unit_test(test_corrupt_snapshot_bytes_are_refused_and_leave_the_state_unchanged),
        cmocka_unit_test(test_snapshot_with_valid_checksum_but_broken_invariants_is_corrupt),
        cmocka_unit_test(
            test_two_state_machines_applying_the_same_commands_have_identical_snapshots),
        cmocka_unit_test(test_malformed_commands_are_corrupt_and_change_nothing_but_the_index),
        cmocka_unit_test(test_commands_with_unknown_fields_or_versions_are_unsupported),
        cmocka_unit_test(test_random_mutations_of_commands_are_applied_identically_or_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
