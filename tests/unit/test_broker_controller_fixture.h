/*
 * test_broker_controller_fixture.h: helpers shared by the controller state
 * machine tests: a state with its next log index, builders that pack
 * ControllerCommands and apply them, and a seeded PRNG for the fuzz tests
 * (CONTROLLER_TEST_SEED in the environment overrides the seed).
 */
#ifndef ETHER_TEST_BROKER_CONTROLLER_FIXTURE_H
#define ETHER_TEST_BROKER_CONTROLLER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/controller_state.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"

struct fixture {
    struct controller_state state;
    uint64_t next_index;
};

static inline void fixture_init(struct fixture *fixture)
{
    controller_state_init(&fixture->state);
    fixture->next_index = 1;
}

static inline void fixture_free(struct fixture *fixture)
{
    controller_state_free(&fixture->state);
}

/* Packs `command` into `out` (cleared first). */
static inline void command_pack(const Ether__ControllerCommand *command, struct ether_buf *out)
{
    ether_buf_clear(out);
    size_t size_bytes = ether__controller_command__get_packed_size(command);
    uint8_t *data = ether_buf_extend(out, size_bytes);
    assert_int_equal(ether__controller_command__pack(command, data), size_bytes);
}

static inline struct controller_apply_result apply_bytes(struct fixture *fixture,
                                                         const uint8_t *data, size_t size_bytes)
{
    struct controller_apply_result result;
    controller_state_apply(&fixture->state, data, size_bytes, fixture->next_index++, &result);
    assert_int_equal(controller_state_check(&fixture->state), ETHER_OK);
    return result;
}

static inline struct controller_apply_result apply_command(struct fixture *fixture,
                                                           const Ether__ControllerCommand *command)
{
    struct ether_buf bytes = ETHER_BUF_INIT;
    command_pack(command, &bytes);
    struct controller_apply_result result = apply_bytes(fixture, bytes.data, bytes.length);
    ether_buf_free(&bytes);
    return result;
}

static inline void register_broker_command(Ether__ControllerCommand *command,
                                           Ether__ControllerRegisterBroker *body,
                                           uint32_t broker_id, const char *host, uint32_t port,
                                           uint64_t incarnation)
{
    *body = (Ether__ControllerRegisterBroker)ETHER__CONTROLLER_REGISTER_BROKER__INIT;
    body->broker_id = broker_id;
    body->host = (char *)(uintptr_t)host;
    body->port = port;
    body->incarnation = incarnation;
    *command = (Ether__ControllerCommand)ETHER__CONTROLLER_COMMAND__INIT;
    command->command_case = ETHER__CONTROLLER_COMMAND__COMMAND_REGISTER_BROKER;
    command->register_broker = body;
}

static inline struct controller_apply_result
register_broker(struct fixture *fixture, uint32_t broker_id, uint64_t incarnation)
{
    Ether__ControllerCommand command;
    Ether__ControllerRegisterBroker body;
    register_broker_command(&command, &body, broker_id, "127.0.0.1", 9091 + broker_id, incarnation);
    return apply_command(fixture, &command);
}

static inline void register_brokers(struct fixture *fixture, uint32_t count)
{
    for (uint32_t id = 1; id <= count; id++) {
        assert_int_equal(register_broker(fixture, id, 1).error, ETHER_OK);
    }
}

static inline struct controller_apply_result fence_broker(struct fixture *fixture,
                                                          uint32_t broker_id, uint64_t incarnation)
{
    Ether__ControllerFenceBroker body = ETHER__CONTROLLER_FENCE_BROKER__INIT;
    body.broker_id = broker_id;
    body.incarnation = incarnation;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_FENCE_BROKER;
    command.fence_broker = &body;
    return apply_command(fixture, &command);
}

/* configs: "key=value" strings, NULL-terminated (NULL for none). */
static inline struct controller_apply_result
create_topic_with_configs(struct fixture *fixture, const char *name, uint32_t partitions,
                          uint32_t replication_factor, const char *const *configs)
{
    enum { CONFIGS_MAX = 16 };
    Ether__ControllerCreateTopic__ConfigsEntry entries[CONFIGS_MAX];
    Ether__ControllerCreateTopic__ConfigsEntry *entry_pointers[CONFIGS_MAX];
    char keys[CONFIGS_MAX][64];
    size_t count = 0;
    for (; configs != NULL && configs[count] != NULL; count++) {
        assert_true(count < CONFIGS_MAX);
        snprintf(keys[count], sizeof keys[count], "%s", configs[count]);
        char *equals = strchr(keys[count], '=');
        assert_non_null(equals);
        *equals = '\0';
        entries[count] = (Ether__ControllerCreateTopic__ConfigsEntry)
            ETHER__CONTROLLER_CREATE_TOPIC__CONFIGS_ENTRY__INIT;
        entries[count].key = keys[count];
        entries[count].value = equals + 1;
        entry_pointers[count] = &entries[count];
    }
    Ether__ControllerCreateTopic body = ETHER__CONTROLLER_CREATE_TOPIC__INIT;
    body.name = (char *)(uintptr_t)name;
    body.partitions = partitions;
    body.replication_factor = replication_factor;
    body.n_configs = count;
    body.configs = entry_pointers;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_TOPIC;
    command.create_topic = &body;
    return apply_command(fixture, &command);
}

static inline struct controller_apply_result create_topic(struct fixture *fixture, const char *name,
                                                          uint32_t partitions,
                                                          uint32_t replication_factor)
{
    return create_topic_with_configs(fixture, name, partitions, replication_factor, NULL);
}

static inline struct controller_apply_result delete_topic(struct fixture *fixture, const char *name)
{
    Ether__ControllerDeleteTopic body = ETHER__CONTROLLER_DELETE_TOPIC__INIT;
    body.name = (char *)(uintptr_t)name;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_TOPIC;
    command.delete_topic = &body;
    return apply_command(fixture, &command);
}

/* set: "key=value" strings, NULL-terminated; delete: keys, NULL-terminated. */
static inline struct controller_apply_result alter_topic_config(struct fixture *fixture,
                                                                const char *name,
                                                                const char *const *set,
                                                                const char *const *delete)
{
    enum { CONFIGS_MAX = 16 };
    Ether__ControllerAlterTopicConfig__SetEntry entries[CONFIGS_MAX];
    Ether__ControllerAlterTopicConfig__SetEntry *entry_pointers[CONFIGS_MAX];
    char keys[CONFIGS_MAX][64];
    char *deletes[CONFIGS_MAX];
    size_t set_count = 0;
    for (; set != NULL && set[set_count] != NULL; set_count++) {
        assert_true(set_count < CONFIGS_MAX);
        snprintf(keys[set_count], sizeof keys[set_count], "%s", set[set_count]);
        char *equals = strchr(keys[set_count], '=');
        assert_non_null(equals);
        *equals = '\0';
        entries[set_count] = (Ether__ControllerAlterTopicConfig__SetEntry)
            ETHER__CONTROLLER_ALTER_TOPIC_CONFIG__SET_ENTRY__INIT;
        entries[set_count].key = keys[set_count];
        entries[set_count].value = equals + 1;
        entry_pointers[set_count] = &entries[set_count];
    }
    size_t delete_count = 0;
    for (; delete != NULL && delete[delete_count] != NULL; delete_count++) {
        assert_true(delete_count < CONFIGS_MAX);
        deletes[delete_count] = (char *)(uintptr_t) delete[delete_count];
    }
    Ether__ControllerAlterTopicConfig body = ETHER__CONTROLLER_ALTER_TOPIC_CONFIG__INIT;
    body.name = (char *)(uintptr_t)name;
    body.n_set = set_count;
    body.set = entry_pointers;
    body.n_delete_ = delete_count;
    body.delete_ = deletes;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_ALTER_TOPIC_CONFIG;
    command.alter_topic_config = &body;
    return apply_command(fixture, &command);
}

static inline struct controller_apply_result
allocate_producer_ids(struct fixture *fixture, uint32_t broker_id, uint32_t block_size)
{
    Ether__ControllerAllocateProducerIdBlock body =
        ETHER__CONTROLLER_ALLOCATE_PRODUCER_ID_BLOCK__INIT;
    body.broker_id = broker_id;
    body.block_size = block_size;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_ALLOCATE_PRODUCER_ID_BLOCK;
    command.allocate_producer_id_block = &body;
    return apply_command(fixture, &command);
}

static inline struct controller_apply_result init_producer(struct fixture *fixture,
                                                           const char *name)
{
    Ether__ControllerInitProducer body = ETHER__CONTROLLER_INIT_PRODUCER__INIT;
    body.producer_name = (char *)(uintptr_t)name;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_INIT_PRODUCER;
    command.init_producer = &body;
    return apply_command(fixture, &command);
}

static inline void snapshot_of(const struct controller_state *state, struct ether_buf *out)
{
    ether_buf_clear(out);
    controller_state_snapshot_encode(state, out);
}

static inline void assert_same_snapshot(const struct controller_state *left,
                                        const struct controller_state *right)
{
    struct ether_buf a = ETHER_BUF_INIT;
    struct ether_buf b = ETHER_BUF_INIT;
    snapshot_of(left, &a);
    snapshot_of(right, &b);
    assert_int_equal(a.length, b.length);
    assert_memory_equal(a.data, b.data, a.length);
    ether_buf_free(&a);
    ether_buf_free(&b);
}

/* splitmix64: small, seedable, the same on every platform. */
static inline uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t prng_below(uint64_t *state, uint64_t bound)
{
    return bound == 0 ? 0 : prng_next(state) % bound;
}

static inline uint64_t test_seed(uint64_t fallback)
{
    const char *text = getenv("CONTROLLER_TEST_SEED");
    return text != NULL ? strtoull(text, NULL, 0) : fallback;
}

#endif
