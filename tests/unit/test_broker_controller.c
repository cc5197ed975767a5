/* Unit tests for broker/controller_state: commands, validation and replica assignment. */
#include "tests/unit/test_broker_controller_fixture.h"

/* Counts, per broker id (1..brokers_max), replicas and preferred leaderships. */
enum { BROKER_IDS_MAX = 16 };
struct load {
    uint32_t replicas[BROKER_IDS_MAX + 1];
    uint32_t leaders[BROKER_IDS_MAX + 1];
};

static struct load load_of(const struct controller_state *state)
{
    struct load load;
    memset(&load, 0, sizeof load);
    for (size_t t = 0; t < state->topics_count; t++) {
        const struct controller_topic *topic = controller_state_topic_at(state, t);
        for (uint32_t p = 0; p < topic->partitions_count; p++) {
            const struct controller_partition *partition = &topic->partitions[p];
            for (uint32_t r = 0; r < partition->replicas_count; r++) {
                uint32_t id = partition->replica_ids[r];
                assert_true(id >= 1 && id <= BROKER_IDS_MAX);
                load.replicas[id]++;
                if (r == 0) {
                    load.leaders[id]++;
                }
            }
        }
    }
    return load;
}

static void assert_spread_at_most(const uint32_t *counts, uint32_t first_id, uint32_t last_id,
                                  uint32_t spread_max)
{
    uint32_t low = UINT32_MAX;
    uint32_t high = 0;
    for (uint32_t id = first_id; id <= last_id; id++) {
        low = counts[id] < low ? counts[id] : low;
        high = counts[id] > high ? counts[id] : high;
    }
    assert_true(high - low <= spread_max);
}

/* ---- assignment ------------------------------------------------------------------------ */

static void
test_three_brokers_six_partitions_three_replicas_give_two_leaderships_each(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);

    struct controller_apply_result result = create_topic(&fixture, "orders", 6, 3);
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.type, CONTROLLER_COMMAND_CREATE_TOPIC);
    assert_int_equal(result.topic_id, 1);
    assert_string_equal(result.message, "");

    struct load load = load_of(&fixture.state);
    for (uint32_t id = 1; id <= 3; id++) {
        assert_int_equal(load.replicas[id], 6);
        assert_int_equal(load.leaders[id], 2);
    }
    const struct controller_topic *topic = controller_state_topic_by_name(&fixture.state, "orders");
    assert_non_null(topic);
    assert_int_equal(topic->partitions_count, 6);
    for (uint32_t p = 0; p < 6; p++) {
        assert_int_equal(topic->partitions[p].replicas_count, 3);
    }
    fixture_free(&fixture);
}

static void test_leaders_differ_by_at_most_one_across_five_brokers_over_many_topics(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 5);
    uint64_t seed = test_seed(20240601);
    uint64_t prng = seed;
    for (int t = 0; t < 60; t++) {
        char name[32];
        snprintf(name, sizeof name, "topic-%02d", t);
        uint32_t partitions = 1 + (uint32_t)prng_below(&prng, 7);
        uint32_t replication_factor = 1 + (uint32_t)prng_below(&prng, 5);
        assert_int_equal(create_topic(&fixture, name, partitions, replication_factor).error,
                         ETHER_OK);
        struct load load = load_of(&fixture.state);
        assert_spread_at_most(load.leaders, 1, 5, 1);
    }
    /* Replicas: no promise of one, but the greedy choice keeps them close. */
    struct load load = load_of(&fixture.state);
    assert_spread_at_most(load.replicas, 1, 5, 2);
    fixture_free(&fixture);
}

static void test_followers_of_one_leader_rotate_over_the_other_brokers(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 5);
    assert_int_equal(create_topic(&fixture, "wide", 10, 2).error, ETHER_OK);
    const struct controller_topic *topic = controller_state_topic_by_name(&fixture.state, "wide");
    /* Broker 1 leads two partitions; if it fails they move to two different brokers. */
    uint32_t followers[2];
    size_t found = 0;
    for (uint32_t p = 0; p < topic->partitions_count; p++) {
        if (topic->partitions[p].replica_ids[0] == 1) {
            assert_true(found < 2);
            followers[found++] = topic->partitions[p].replica_ids[1];
        }
    }
    assert_int_equal(found, 2);
    assert_int_not_equal(followers[0], followers[1]);
    fixture_free(&fixture);
}

static void test_a_new_broker_is_filled_first(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);
    assert_int_equal(create_topic(&fixture, "before", 6, 1).error, ETHER_OK);
    assert_int_equal(register_broker(&fixture, 4, 1).error, ETHER_OK);
    assert_int_equal(create_topic(&fixture, "after", 2, 1).error, ETHER_OK);
    const struct controller_topic *topic = controller_state_topic_by_name(&fixture.state, "after");
    assert_int_equal(topic->partitions[0].replica_ids[0], 4);
    assert_int_equal(topic->partitions[1].replica_ids[0], 4);
    fixture_free(&fixture);
}

static void test_replication_factor_above_live_brokers_is_refused(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_int_equal(create_topic(&fixture, "lonely", 1, 1).error, ETHER_ERR_INVALID_ARGUMENT);
    register_brokers(&fixture, 3);
    struct controller_apply_result result = create_topic(&fixture, "big", 3, 4);
    assert_int_equal(result.error, ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(result.message, "3 live brokers"));
    assert_null(controller_state_topic_by_name(&fixture.state, "big"));
    assert_int_equal(fixture.state.next_topic_id, 1);

    /* A fenced broker is not live. */
    assert_int_equal(fence_broker(&fixture, 2, 1).error, ETHER_OK);
    assert_int_equal(create_topic(&fixture, "big", 3, 3).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(create_topic(&fixture, "big", 3, 2).error, ETHER_OK);
    struct load load = load_of(&fixture.state);
    assert_int_equal(load.replicas[2], 0);
    fixture_free(&fixture);
}

static void test_partition_and_replication_factor_limits_are_enforced(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 8);
    assert_int_equal(create_topic(&fixture, "none", 0, 1).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(create_topic(&fixture, "many", CONTROLLER_TOPIC_PARTITIONS_MAX + 1, 1).error,
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(create_topic(&fixture, "zero", 1, 0).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(create_topic(&fixture, "eight", 1, 8).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(create_topic(&fixture, "seven", 1, 7).error, ETHER_OK);
    assert_int_equal(fixture.state.topics_count, 1);
    fixture_free(&fixture);
}

/* ---- topics ------------------------------------------------------------------------- */

static void test_duplicate_topic_is_refused_with_exists(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);
    assert_int_equal(create_topic(&fixture, "orders", 3, 3).error, ETHER_OK);
    struct controller_apply_result result = create_topic(&fixture, "orders", 5, 1);
    assert_int_equal(result.error, ETHER_ERR_EXISTS);
    assert_non_null(strstr(result.message, "orders"));
    assert_int_equal(controller_state_topic_by_name(&fixture.state, "orders")->partitions_count, 3);
    assert_int_equal(fixture.state.next_topic_id, 2);
    fixture_free(&fixture);
}

static void test_invalid_topic_names_are_refused(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 1);
    char longest[CONTROLLER_TOPIC_NAME_BYTES_MAX + 2];
    memset(longest, 'a', CONTROLLER_TOPIC_NAME_BYTES_MAX + 1);
    longest[CONTROLLER_TOPIC_NAME_BYTES_MAX + 1] = '\0';
    const char *bad[] = {"",      ".",      "..",  "with space", "slash/es",
                         "tab\t", "ümlaut", "a:b", "star*",      longest};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct controller_apply_result result = create_topic(&fixture, bad[i], 1, 1);
        assert_int_equal(result.error, ETHER_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(result.message, "topic name"));
    }
    assert_int_equal(fixture.state.topics_count, 0);

    longest[CONTROLLER_TOPIC_NAME_BYTES_MAX] = '\0'; /* 249 characters: allowed */
    const char *good[] = {"a", "A-Z_0.9", "...", "-", longest};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(create_topic(&fixture, good[i], 1, 1).error, ETHER_OK);
    }
    assert_int_equal(fixture.state.topics_count, 5);
    fixture_free(&fixture);
}

static void test_deleted_then_recreated_topic_gets_a_new_id(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);
    assert_int_equal(create_topic(&fixture, "events", 2, 2).error, ETHER_OK);
    assert_int_equal(create_topic(&fixture, "other", 1, 1).error, ETHER_OK);

    struct controller_apply_result result = delete_topic(&fixture, "events");
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.topic_id, 1);
    assert_null(controller_state_topic_by_name(&fixture.state, "events"));
    assert_null(controller_state_topic_by_id(&fixture.state, 1));
    assert_true(controller_state_topic_deleted(&fixture.state, 1));
    assert_false(controller_state_topic_deleted(&fixture.state, 2));
    assert_false(controller_state_topic_deleted(&fixture.state, 3)); /* never handed out */
    assert_int_equal(fixture.state.partitions_total_count, 1);

    assert_int_equal(delete_topic(&fixture, "events").error, ETHER_ERR_NOT_FOUND);
    result = create_topic(&fixture, "events", 2, 2);
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.topic_id, 3);
    assert_int_equal(controller_state_topic_by_id(&fixture.state, 3)->topic_id, 3);
    assert_string_equal(controller_state_topic_by_id(&fixture.state, 2)->name, "other");
    fixture_free(&fixture);
}

static void test_topics_iterate_in_name_order(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 1);
    const char *names[] = {"zeta", "Alpha", "beta", "alpha", "_x", "9"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(create_topic(&fixture, names[i], 1, 1).error, ETHER_OK);
    }
    const char *expected[] = {"9", "Alpha", "_x", "alpha", "beta", "zeta"};
    assert_int_equal(fixture.state.topics_count, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(controller_state_topic_at(&fixture.state, i)->name, expected[i]);
    }
    fixture_free(&fixture);
}

/* ---- configs ------------------------------------------------------------------------ */

static void test_topic_configs_are_validated_and_stored_canonically(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 1);
    const char *good[] = {
        "retention.ms=-1",           "retention.bytes=0010",          "segment.bytes=1048576",
        "max.message.bytes=1000000", "cleanup.policy=delete,compact", NULL};
    assert_int_equal(create_topic_with_configs(&fixture, "configured", 1, 1, good).error, ETHER_OK);
    const struct controller_topic *topic =
        controller_state_topic_by_name(&fixture.state, "configured");
    assert_string_equal(controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_RETENTION_MS), "-1");
    assert_string_equal(controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_RETENTION_BYTES),
                        "10");
    assert_string_equal(controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_CLEANUP_POLICY),
                        "compact,delete");
    assert_string_equal(controller_topic_config_key(CONTROLLER_TOPIC_CONFIG_SEGMENT_BYTES),
                        "segment.bytes");

    const char *bad[][3] = {
        {"retention.ms=", NULL},
        {"retention.ms=-2", NULL},
        {"retention.ms=12abc", NULL},
        {"retention.ms= 5", NULL},
        {"retention.ms=+5", NULL},
        {"retention.ms=9223372036854775808", NULL},
        {"retention.bytes=-5", NULL},
        {"segment.bytes=1023", NULL},
        {"segment.bytes=2147483648", NULL},
        {"max.message.bytes=0", NULL},
        {"cleanup.policy=forever", NULL},
        {"cleanup.policy=", NULL},
        {"retention.hours=5", NULL},
        {"retention.ms=5", "retention.ms=6", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct controller_apply_result result =
            create_topic_with_configs(&fixture, "refused", 1, 1, bad[i]);
        assert_int_equal(result.error, ETHER_ERR_INVALID_ARGUMENT);
        assert_true(strlen(result.message) > 0);
    }
    assert_null(controller_state_topic_by_name(&fixture.state, "refused"));
    const char *largest[] = {"retention.ms=9223372036854775807", NULL};
    assert_int_equal(create_topic_with_configs(&fixture, "forever", 1, 1, largest).error, ETHER_OK);
    fixture_free(&fixture);
}

static void test_alter_topic_config_sets_and_deletes_and_a_refusal_changes_nothing(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 1);
    const char *initial[] = {"retention.ms=1000", "segment.bytes=4096", NULL};
    assert_int_equal(create_topic_with_configs(&fixture, "t", 1, 1, initial).error, ETHER_OK);

    const char *set[] = {"retention.ms=2000", "cleanup.policy=compact", NULL};
    const char *delete[] = {"segment.bytes", "retention.bytes", NULL};
    struct controller_apply_result result = alter_topic_config(&fixture, "t", set, delete);
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.topic_id, 1);
    const struct controller_topic *topic = controller_state_topic_by_name(&fixture.state, "t");
    assert_string_equal(controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_RETENTION_MS),
                        "2000");
    assert_string_equal(controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_CLEANUP_POLICY),
                        "compact");
    assert_null(controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_SEGMENT_BYTES));

    struct ether_buf before = ETHER_BUF_INIT;
    struct ether_buf after = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    const char *half_bad[] = {"retention.ms=3000", "segment.bytes=1", NULL};
    const char *unknown[] = {"no.such.config", NULL};
    const char *both_set[] = {"retention.ms=5", NULL};
    const char *both_delete[] = {"retention.ms", NULL};
    assert_int_equal(alter_topic_config(&fixture, "t", half_bad, NULL).error,
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(alter_topic_config(&fixture, "t", NULL, unknown).error,
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(alter_topic_config(&fixture, "t", both_set, both_delete).error,
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(alter_topic_config(&fixture, "missing", both_set, NULL).error,
                     ETHER_ERR_NOT_FOUND);
    /* Only applied_index moved: compare the states with it put back. */
    fixture.state.applied_index -= 4;
    snapshot_of(&fixture.state, &after);
    assert_int_equal(before.length, after.length);
    assert_memory_equal(before.data, after.data, before.length);
    ether_buf_free(&before);
    ether_buf_free(&after);
    fixture_free(&fixture);
}

/* ---- brokers and producer ids --------------------------------------------------------- */

static void test_broker_reregistration_with_new_incarnation_updates_it(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    struct controller_apply_result result = register_broker(&fixture, 7, 1);
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.previous_incarnation, 0);
    const struct controller_broker *broker = controller_state_broker(&fixture.state, 7);
    assert_non_null(broker);
    assert_int_equal(broker->incarnation, 1);
    assert_int_equal(broker->registered_index, 1);
    assert_int_equal(broker->port, 9098);
    assert_string_equal(broker->host, "127.0.0.1");

    /* Same incarnation (a restart that kept its disk): address updated, index kept. */
    Ether__ControllerCommand command;
    Ether__ControllerRegisterBroker body;
    register_broker_command(&command, &body, 7, "broker-7.example", 19092, 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_OK);
    broker = controller_state_broker(&fixture.state, 7);
    assert_string_equal(broker->host, "broker-7.example");
    assert_int_equal(broker->port, 19092);
    assert_int_equal(broker->registered_index, 1);

    /* A wiped disk: new incarnation. */
    result = register_broker(&fixture, 7, 2);
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.previous_incarnation, 1);
    broker = controller_state_broker(&fixture.state, 7);
    assert_int_equal(broker->incarnation, 2);
    assert_int_equal(broker->registered_index, 3);
    assert_int_equal(fixture.state.brokers_count, 1);

    /* An older incarnation is stale and refused. */
    result = register_broker(&fixture, 7, 1);
    assert_int_equal(result.error, ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(result.message, "older"));
    assert_int_equal(controller_state_broker(&fixture.state, 7)->incarnation, 2);
    fixture_free(&fixture);
}

static void test_invalid_broker_registrations_are_refused(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    Ether__ControllerCommand command;
    Ether__ControllerRegisterBroker body;
    register_broker_command(&command, &body, 0, "host", 9092, 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "", 9092, 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "two words", 9092, 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "host", 0, 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "host", 65536, 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "host", 9092, 0);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "host", 9092, (uint64_t)UINT32_MAX + 1);
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_ERR_INVALID_ARGUMENT);
    register_broker_command(&command, &body, 1, "[::1]", 9092, 1);
    body.rack = "rack-a";
    assert_int_equal(apply_command(&fixture, &command).error, ETHER_OK);
    assert_string_equal(controller_state_broker(&fixture.state, 1)->rack, "rack-a");
    assert_int_equal(fixture.state.brokers_count, 1);
    fixture_free(&fixture);
}

static void test_fencing_needs_the_registered_incarnation_and_registration_unfences(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 2);
    assert_int_equal(fence_broker(&fixture, 3, 1).error, ETHER_ERR_NOT_FOUND);
    assert_int_equal(fence_broker(&fixture, 1, 2).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(fence_broker(&fixture, 1, 1).error, ETHER_OK);
    assert_true(controller_state_broker(&fixture.state, 1)->fenced);
    assert_int_equal(create_topic(&fixture, "two", 1, 2).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(register_broker(&fixture, 1, 1).error, ETHER_OK);
    assert_false(controller_state_broker(&fixture.state, 1)->fenced);
    assert_int_equal(create_topic(&fixture, "two", 1, 2).error, ETHER_OK);
    fixture_free(&fixture);
}

static void test_producer_id_blocks_never_overlap(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);
    uint64_t next_expected = 1;
    for (uint32_t i = 0; i < 30; i++) {
        uint32_t size = 1 + (i * 37) % 1000;
        struct controller_apply_result result = allocate_producer_ids(&fixture, 1 + i % 3, size);
        assert_int_equal(result.error, ETHER_OK);
        assert_int_equal(result.type, CONTROLLER_COMMAND_ALLOCATE_PRODUCER_ID_BLOCK);
        assert_int_equal(result.producer_id_first, next_expected);
        assert_int_equal(result.producer_id_count, size);
        next_expected += size;
    }
    assert_int_equal(allocate_producer_ids(&fixture, 9, 10).error, ETHER_ERR_NOT_FOUND);
    assert_int_equal(allocate_producer_ids(&fixture, 1, 0).error, ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        allocate_producer_ids(&fixture, 1, CONTROLLER_PRODUCER_ID_BLOCK_SIZE_MAX + 1).error,
        ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(fixture.state.next_producer_id, next_expected);

    /* The id space ends at INT64_MAX: the last block fits exactly, then nothing does. */
    fixture.state.next_producer_id = (uint64_t)INT64_MAX - 9;
    struct controller_apply_result result = allocate_producer_ids(&fixture, 1, 10);
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.producer_id_first + result.producer_id_count - 1, INT64_MAX);
    assert_int_equal(allocate_producer_ids(&fixture, 1, 1).error, ETHER_ERR_TOO_LARGE);
    fixture_free(&fixture);
}

/* ---- queries ------------------------------------------------------------------------ */

static void test_same_producer_name_gets_the_same_id_and_the_next_epoch(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    struct controller_apply_result first = init_producer(&fixture, "billing-writer");
    assert_int_equal(first.error, ETHER_OK);
    assert_int_equal(first.type, CONTROLLER_COMMAND_INIT_PRODUCER);
    assert_int_equal(first.producer_id, 1);
    assert_int_equal(first.producer_epoch, 0);
    for (int16_t epoch = 1; epoch <= 3; epoch++) {
        struct controller_apply_result again = init_producer(&fixture, "billing-writer");
        assert_int_equal(again.error, ETHER_OK);
        assert_int_equal(again.producer_id, first.producer_id);
        assert_int_equal(again.producer_epoch, epoch);
    }
    const struct controller_producer *producer =
        controller_state_producer_by_name(&fixture.state, "billing-writer");
    assert_non_null(producer);
    assert_int_equal(producer->producer_epoch, 3);
    assert_null(controller_state_producer_by_name(&fixture.state, "billing"));
    assert_int_equal(fixture.state.next_producer_id, 2);
    fixture_free(&fixture);
}

static void test_different_producer_names_get_different_ids(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    static const char *const names[] = {"b", "a", "c d", "a.b", "A", "~"};
    uint64_t ids[6];
    for (size_t i = 0; i < 6; i++) {
        struct controller_apply_result result = init_producer(&fixture, names[i]);
        assert_int_equal(result.error, ETHER_OK);
        assert_int_equal(result.producer_epoch, 0);
        ids[i] = result.producer_id;
        for (size_t j = 0; j < i; j++) {
            assert_true(ids[j] != ids[i]);
        }
    }
    /* Stored by name, each with its own id. */
    assert_int_equal(fixture.state.producers_count, 6);
    for (size_t i = 1; i < fixture.state.producers_count; i++) {
        assert_true(strcmp(fixture.state.producers[i - 1].name, fixture.state.producers[i].name) <
                    0);
    }
    assert_int_equal(controller_state_producer_by_name(&fixture.state, "c d")->producer_id, ids[2]);
    fixture_free(&fixture);
}

static void test_named_producer_ids_never_collide_with_producer_id_blocks(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 2);
    struct controller_apply_result block_one = allocate_producer_ids(&fixture, 1, 100);
    struct controller_apply_result named_one = init_producer(&fixture, "one");
    struct controller_apply_result block_two = allocate_producer_ids(&fixture, 2, 100);
    struct controller_apply_result named_two = init_producer(&fixture, "two");
    struct controller_apply_result named_one_again = init_producer(&fixture, "one");
    assert_int_equal(block_one.producer_id_first, 1);
    assert_int_equal(named_one.producer_id, 101);
    assert_int_equal(block_two.producer_id_first, 102);
    assert_int_equal(named_two.producer_id, 202);
    assert_int_equal(named_one_again.producer_id, 101);
    assert_int_equal(named_one_again.producer_epoch, 1);
    assert_int_equal(fixture.state.next_producer_id, 203);
    fixture_free(&fixture);
}

static void test_producer_at_the_largest_epoch_gets_a_fresh_id_with_epoch_zero(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    struct controller_apply_result result = init_producer(&fixture, "busy");
    uint64_t first_id = result.producer_id;
    for (int32_t epoch = 1; epoch <= CONTROLLER_PRODUCER_EPOCH_MAX; epoch++) {
        result = init_producer(&fixture, "busy");
        assert_int_equal(result.producer_epoch, epoch);
    }
    assert_int_equal(result.producer_id, first_id);
    result = init_producer(&fixture, "busy");
    assert_int_equal(result.error, ETHER_OK);
    assert_int_equal(result.producer_epoch, 0);
    assert_true(result.producer_id > first_id);
    assert_int_equal(fixture.state.next_producer_id, result.producer_id + 1);
    assert_int_equal(fixture.state.producers_count, 1);
    fixture_free(&fixture);
}

static void test_invalid_producer_names_are_refused_and_change_nothing(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    char long_name[CONTROLLER_PRODUCER_NAME_BYTES_MAX + 2];
    memset(long_name, 'p', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *const invalid[] = {"", "tab\there", "new\nline", "\x7f", "caf\xc3\xa9", long_name};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        struct controller_apply_result result = init_producer(&fixture, invalid[i]);
        assert_int_equal(result.error, ETHER_ERR_INVALID_ARGUMENT);
        assert_true(strlen(result.message) > 0);
    }
    assert_int_equal(fixture.state.producers_count, 0);
    assert_int_equal(fixture.state.next_producer_id, 1);
    long_name[CONTROLLER_PRODUCER_NAME_BYTES_MAX] = '\0';
    assert_int_equal(init_producer(&fixture, long_name).error, ETHER_OK);
    fixture_free(&fixture);
}

static void test_group_ids_round_trip_and_group_zero_is_the_controller(void **unused)
{
    (void)unused;
    uint32_t topic_id = 0;
    uint32_t partition = 0;
    assert_int_equal(controller_group_id(1, 0), ((uint64_t)1 << 32) | 1);
    assert_true(controller_group_id_split(controller_group_id(77, 9), &topic_id, &partition));
    assert_int_equal(topic_id, 77);
    assert_int_equal(partition, 9);
    assert_true(controller_group_id_split(controller_group_id(UINT32_MAX, UINT32_MAX - 1),
                                          &topic_id, &partition));
    assert_int_equal(topic_id, UINT32_MAX);
    assert_int_equal(partition, UINT32_MAX - 1);
    assert_false(controller_group_id_split(0, &topic_id, &partition));
    assert_false(controller_group_id_split(5, &topic_id, &partition));
    assert_false(controller_group_id_split((uint64_t)5 << 32, &topic_id, &partition));
}

static void test_broker_replicas_lists_what_a_broker_hosts_in_group_order(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);
    assert_int_equal(create_topic(&fixture, "b-second", 3, 2).error, ETHER_OK);
    assert_int_equal(create_topic(&fixture, "a-first", 3, 3).error, ETHER_OK);

    struct controller_replica *replicas = NULL;
    size_t count = 0;
    controller_state_broker_replicas(&fixture.state, 2, &replicas, &count);
    struct load load = load_of(&fixture.state);
    assert_int_equal(count, load.replicas[2]);
    uint32_t leaderships = 0;
    for (size_t i = 0; i < count; i++) {
        const struct controller_topic *topic =
            controller_state_topic_by_id(&fixture.state, replicas[i].topic_id);
        const struct controller_partition *partition = &topic->partitions[replicas[i].partition];
        assert_int_equal(replicas[i].group_id,
                         controller_group_id(replicas[i].topic_id, replicas[i].partition));
        assert_int_equal(replicas[i].preferred_leader, partition->replica_ids[0] == 2);
        leaderships += replicas[i].preferred_leader;
        if (i > 0) {
            assert_true(replicas[i - 1].group_id < replicas[i].group_id);
        }
    }
    assert_int_equal(leaderships, load.leaders[2]);
    ether_free(replicas);

    controller_state_broker_replicas(&fixture.state, 42, &replicas, &count);
    assert_null(replicas);
    assert_int_equal(count, 0);
    fixture_free(&fixture);
}

static void test_metadata_lists_brokers_topics_configs_and_unknown_names(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    register_brokers(&fixture, 3);
    const char *configs[] = {"retention.ms=60000", NULL};
    assert_int_equal(create_topic_with_configs(&fixture, "beta", 2, 3, configs).error, ETHER_OK);
    assert_int_equal(create_topic(&fixture, "alpha", 1, 1).error, ETHER_OK);

    Ether__MetadataResponse *response = NULL;
    controller_state_metadata(&fixture.state, NULL, &response);
    assert_int_equal(response->n_brokers, 3);
    assert_int_equal(response->brokers[2]->broker_id, 3);
    assert_int_equal(response->brokers[2]->port, 9094);
    assert_int_equal(response->n_topics, 2);
    assert_string_equal(response->topics[0]->name, "alpha");
    assert_string_equal(response->topics[1]->name, "beta");
    assert_int_equal(response->topics[1]->n_partitions, 2);
    assert_int_equal(response->topics[1]->partitions[1]->partition, 1);
    assert_int_equal(response->topics[1]->partitions[1]->n_replicas, 3);
    assert_int_equal(response->topics[1]->n_configs, 1);
    assert_string_equal(response->topics[1]->configs[0]->key, "retention.ms");
    assert_string_equal(response->topics[1]->configs[0]->value, "60000");
    /* It packs: the broker can send it as is. */
    assert_true(ether__metadata_response__get_packed_size(response) > 0);
    proto_message_free(&response->base);

    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    char *names[] = {"beta", "gamma"};
    request.n_topics = 2;
    request.topics = names;
    controller_state_metadata(&fixture.state, &request, &response);
    assert_int_equal(response->n_topics, 2);
    assert_string_equal(response->topics[0]->name, "beta");
    assert_int_equal(response->topics[0]->error, ETHER_OK);
    assert_string_equal(response->topics[1]->name, "gamma");
    assert_int_equal(response->topics[1]->error, ETHER_ERR_NOT_FOUND);
    assert_int_equal(response->topics[1]->n_partitions, 0);
    proto_message_free(&response->base);
    fixture_free(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_three_brokers_six_partitions_three_replicas_give_two_leaderships_each),
        cmocka_unit_test(test_leaders_differ_by_at_most_one_across_five_brokers_over_many_topics),
        cmocka_unit_test(test_followers_of_one_leader_rotate_over_the_other_brokers),
        cmocka_unit_test(test_a_new_broker_is_filled_first),
        cmocka_unit_test(test_replication_factor_above_live_brokers_is_refused),
        cmocka_unit_test(test_partition_and_replication_factor_limits_are_enforced),
        cmocka_unit_test(test_duplicate_topic_is_refused_with_exists),
        cmocka_unit_test(test_invalid_topic_names_are_refused),
        cmocka_unit_test(test_deleted_then_recreated_topic_gets_a_new_id),
        cmocka_unit_test(test_topics_iterate_in_name_order),
        cmocka_unit_test(test_topic_configs_are_validated_and_stored_canonically),
        cmocka_unit_test(test_alter_topic_config_sets_and_deletes_and_a_refusal_changes_nothing),
        cmocka_unit_test(test_broker_reregistration_with_new_incarnation_updates_it),
        cmocka_unit_test(test_invalid_broker_registrations_are_refused),
        cmocka_unit_test(test_fencing_needs_the_registered_incarnation_and_registration_unfences),
        cmocka_unit_test(test_producer_id_blocks_never_overlap),
        cmocka_unit_test(test_same_producer_name_gets_the_same_id_and_the_next_epoch),
        cmocka_unit_test(test_different_producer_names_get_different_ids),
        cmocka_unit_test(test_named_producer_ids_never_collide_with_producer_id_blocks),
        cmocka_unit_test(test_producer_at_the_largest_epoch_gets_a_fresh_id_with_epoch_zero),
        cmocka_unit_test(test_invalid_producer_names_are_refused_and_change_nothing),
        cmocka_unit_test(test_group_ids_round_trip_and_group_zero_is_the_controller),
        cmocka_unit_test(test_broker_replicas_lists_what_a_broker_hosts_in_group_order),
        cmocka_unit_test(test_metadata_lists_brokers_topics_configs_and_unknown_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
