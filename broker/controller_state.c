/*
 * controller_state.c: applying controller commands, snapshots, invariants and
 * queries (see controller_state.h for the model).
 *
 * Happy path of an apply: unpack the ControllerCommand, check it against the
 * state, fill the result, then change the state. Every check comes before the
 * first change, so a refused command needs no rollback. Failure modes: bytes
 * that are not a command (ETHER_ERR_CORRUPT), a command from a newer build
 * (ETHER_ERR_UNSUPPORTED), a command the state refuses (a named error and a
 * sentence). None of them is fatal: the entry is committed, and every broker
 * refuses it the same way.
 */
#include "broker/controller_state.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "broker/controller_state_internal.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

enum {
    CONFIG_VALUE_BYTES_MAX = 24, /* "-9223372036854775808" and "compact,delete" fit */
    SNAPSHOT_HEADER_BYTES = 4,
    SEGMENT_BYTES_MIN = 1024,
    CONTROLLER_SNAPSHOT_VERSION_MIN = 1,       /* the oldest snapshot this build decodes */
    CONTROLLER_SNAPSHOT_VERSION_PRODUCERS = 2, /* the first with named producers */
    CONTROLLER_SNAPSHOT_VERSION_USERS = 3,     /* the first with users, ACLs and the secret */
};

_Static_assert((int)CONTROLLER_SNAPSHOT_VERSION == (int)CONTROLLER_SNAPSHOT_VERSION_USERS,
               "encode writes CONTROLLER_SNAPSHOT_VERSION_PRODUCERS or _USERS, the newest");

_Static_assert(CONTROLLER_TOPIC_CONFIGS_COUNT == 5, "the config table below lists five keys");
_Static_assert(CONTROLLER_REPLICATION_FACTOR_MAX <= CONTROLLER_BROKERS_MAX,
               "a replication factor needs that many brokers");
_Static_assert((uint64_t)CONTROLLER_TOPIC_PARTITIONS_MAX < UINT32_MAX,
               "partition + 1 must fit the low half of a group id");
_Static_assert((int)ACL_ERROR_BYTES <= (int)CONTROLLER_MESSAGE_BYTES_MAX,
               "acl_binding_validate's sentence fits a result's message");
/* ACL bindings go between the wire and acl.h by value (acl.h: "the numeric values are the
 * wire's"). */
_Static_assert((int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC == ACL_RESOURCE_TOPIC &&
                   (int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_GROUP == ACL_RESOURCE_GROUP &&
                   (int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_CLUSTER == ACL_RESOURCE_CLUSTER,
               "AclResourceType is acl_resource_type");
_Static_assert((int)ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL == ACL_PATTERN_LITERAL &&
                   (int)ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_PREFIXED == ACL_PATTERN_PREFIXED,
               "AclPatternType is acl_pattern");
_Static_assert((int)ETHER__ACL_OPERATION__ACL_OPERATION_READ == ACL_OPERATION_READ &&
                   (int)ETHER__ACL_OPERATION__ACL_OPERATION_WRITE == ACL_OPERATION_WRITE &&
                   (int)ETHER__ACL_OPERATION__ACL_OPERATION_CREATE == ACL_OPERATION_CREATE &&
                   (int)ETHER__ACL_OPERATION__ACL_OPERATION_DELETE == ACL_OPERATION_DELETE &&
                   (int)ETHER__ACL_OPERATION__ACL_OPERATION_DESCRIBE == ACL_OPERATION_DESCRIBE &&
                   (int)ETHER__ACL_OPERATION__ACL_OPERATION_ALTER == ACL_OPERATION_ALTER &&
                   (int)ETHER__ACL_OPERATION__ACL_OPERATION_ALL == ACL_OPERATION_ALL,
               "AclOperation is acl_operation");
_Static_assert((int)ETHER__ACL_PERMISSION__ACL_PERMISSION_ALLOW == ACL_PERMISSION_ALLOW &&
                   (int)ETHER__ACL_PERMISSION__ACL_PERMISSION_DENY == ACL_PERMISSION_DENY,
               "AclPermission is acl_permission");

/* ---- protobuf-c through mem.h ----------------------------------------------------- */

static void *allocator_alloc(void *allocator_data, size_t size_bytes)
{
    (void)allocator_data;
    return ether_malloc(size_bytes);
}

static void allocator_free(void *allocator_data, void *pointer)
{
    (void)allocator_data;
    ether_free(pointer);
}

static ProtobufCAllocator allocator_make(void)
{
    ProtobufCAllocator allocator = {allocator_alloc, allocator_free, NULL};
    return allocator;
}

/* ---- validation of names and values ----------------------------------------------- */

static bool topic_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > CONTROLLER_TOPIC_NAME_BYTES_MAX) {
        return false;
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

/* Printable ASCII without spaces: host names, IPv4, [IPv6], rack names. */
static bool address_text_valid(const char *text, size_t bytes_min, size_t bytes_max)
{
    size_t length = strlen(text);
    if (length < bytes_min || length > bytes_max) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (text[i] <= ' ' || text[i] > '~') {
            return false;
        }
    }
    return true;
}

/* Printable ASCII, spaces included: Kafka's transactional ids are free text. */
static bool producer_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > CONTROLLER_PRODUCER_NAME_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (name[i] < ' ' || name[i] > '~') {
            return false;
        }
    }
    return true;
}

/* What the state keeps of a user (the key arrays have their fixed size). */
static bool credential_valid(const struct ether_scram_credential *credential)
{
    return credential->iterations >= ETHER_SCRAM_ITERATIONS_MIN &&
           credential->iterations <= ETHER_SCRAM_ITERATIONS_MAX && credential->salt_bytes >= 1 &&
           credential->salt_bytes <= ETHER_SCRAM_SALT_BYTES_MAX;
}

static bool incarnation_valid(uint64_t incarnation)
{
    return incarnation >= 1 && incarnation <= UINT32_MAX;
}

/* Strict decimal: optional '-', digits only, no spaces, no overflow. */
static bool parse_int64(const char *text, int64_t *value)
{
    const char *cursor = text;
    bool negative = false;
    if (*cursor == '-') {
        negative = true;
        cursor++;
    }
    if (*cursor == '\0') {
        return false;
    }
    /* Accumulate as a negative number so that INT64_MIN parses too. */
    int64_t accumulated = 0;
    for (; *cursor != '\0'; cursor++) {
        if (*cursor < '0' || *cursor > '9') {
            return false;
        }
        int digit = *cursor - '0';
        if (accumulated < (INT64_MIN + digit) / 10) {
            return false;
        }
        accumulated = accumulated * 10 - digit;
    }
    if (!negative) {
        if (accumulated == INT64_MIN) {
            return false;
        }
        accumulated = -accumulated;
    }
    *value = accumulated;
    return true;
}

static const char *const config_keys[CONTROLLER_TOPIC_CONFIGS_COUNT] = {
#define CONTROLLER_TOPIC_CONFIG_KEY(name, key) key,
    CONTROLLER_TOPIC_CONFIG_MAP(CONTROLLER_TOPIC_CONFIG_KEY)
#undef CONTROLLER_TOPIC_CONFIG_KEY
};

const char *controller_topic_config_key(enum controller_topic_config config)
{
    ETHER_ASSERT((int)config >= 0);
    ETHER_ASSERT(config < CONTROLLER_TOPIC_CONFIGS_COUNT);
    return config_keys[config];
}

/* The table index of `key`, or -1 for a key the controller does not know. */
static int config_find(const char *key)
{
    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        if (strcmp(config_keys[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

/*
 * Checks `value` for config `config` and writes its canonical form into
 * canonical[CONFIG_VALUE_BYTES_MAX]. Returns false when the value is invalid.
 */
static bool config_canonical(enum controller_topic_config config, const char *value,
                             char *canonical)
{
    int64_t number = 0;
    int64_t minimum = 0;
    int64_t maximum = INT64_MAX;
    switch (config) {
    case CONTROLLER_TOPIC_CONFIG_CLEANUP_POLICY:
        if (strcmp(value, "delete") == 0 || strcmp(value, "compact") == 0) {
            snprintf(canonical, CONFIG_VALUE_BYTES_MAX, "%s", value);
            return true;
        }
        if (strcmp(value, "compact,delete") == 0 || strcmp(value, "delete,compact") == 0) {
            snprintf(canonical, CONFIG_VALUE_BYTES_MAX, "compact,delete");
            return true;
        }
        return false;
    case CONTROLLER_TOPIC_CONFIG_MAX_MESSAGE_BYTES:
        minimum = PROTO_BATCH_HEADER_BYTES;
        maximum = INT32_MAX;
        break;
    case CONTROLLER_TOPIC_CONFIG_RETENTION_BYTES:
    case CONTROLLER_TOPIC_CONFIG_RETENTION_MS:
        minimum = -1;
        break;
    case CONTROLLER_TOPIC_CONFIG_SEGMENT_BYTES:
        minimum = SEGMENT_BYTES_MIN;
        maximum = INT32_MAX;
        break;
    case CONTROLLER_TOPIC_CONFIGS_COUNT:
        ETHER_PANIC("not a config");
    }
    if (strlen(value) >= CONFIG_VALUE_BYTES_MAX || !parse_int64(value, &number)) {
        return false;
    }
    if (number < minimum || number > maximum) {
        return false;
    }
    snprintf(canonical, CONFIG_VALUE_BYTES_MAX, "%" PRId64, number);
    return true;
}

/* ---- results ------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static void refuse(struct controller_apply_result *result,
                                                         int error, const char *format, ...)
{
    ETHER_ASSERT(error != ETHER_OK);
    result->error = error;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(result->message, sizeof result->message, format, arguments);
    va_end(arguments);
}

/* ---- state storage ------------------------------------------------------------------ */

void controller_state_init(struct controller_state *state)
{
    memset(state, 0, sizeof *state);
    state->next_topic_id = 1;
    state->next_producer_id = 1;
}

static void topic_free(struct controller_topic *topic)
{
    if (topic == NULL) {
        return;
    }
    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        ether_free(topic->configs[i]);
    }
    ether_free(topic->partitions);
    ether_free(topic->name);
    ether_free(topic);
}

/* The state's bindings own their strings; acl.h's struct holds them as const. */
static void acl_strings_free(struct acl_binding *binding)
{
    ether_free((void *)(uintptr_t)binding->principal);
    ether_free((void *)(uintptr_t)binding->resource_name);
    binding->principal = NULL;
    binding->resource_name = NULL;
}

void controller_state_free(struct controller_state *state)
{
    for (size_t i = 0; i < state->brokers_count; i++) {
        ether_free(state->brokers[i].host);
        ether_free(state->brokers[i].rack);
    }
    ether_free(state->brokers);
    for (size_t i = 0; i < state->topics_count; i++) {
        topic_free(state->topics_by_name[i]);
    }
    ether_free(state->topics_by_name);
    ether_free(state->topics_by_id);
    for (size_t i = 0; i < state->producers_count; i++) {
        ether_free(state->producers[i].name);
    }
    ether_free(state->producers);
    for (size_t i = 0; i < state->users_count; i++) {
        ether_free(state->users[i].name);
    }
    ether_free(state->users);
    for (size_t i = 0; i < state->acls_count; i++) {
        acl_strings_free(&state->acls[i]);
    }
    ether_free(state->acls);
    OPENSSL_cleanse(state->unknown_user_secret, sizeof state->unknown_user_secret);
    controller_state_init(state);
}

/* The position of the first broker with id >= broker_id. */
static size_t broker_position(const struct controller_state *state, uint32_t broker_id)
{
    size_t low = 0;
    size_t high = state->brokers_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (state->brokers[middle].broker_id < broker_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* The position of the first topic whose name is >= name. */
static size_t topic_name_position(const struct controller_state *state, const char *name)
{
    size_t low = 0;
    size_t high = state->topics_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(state->topics_by_name[middle]->name, name) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

static size_t topic_id_position(const struct controller_state *state, uint32_t topic_id)
{
    size_t low = 0;
    size_t high = state->topics_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (state->topics_by_id[middle]->topic_id < topic_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* The position of the first producer whose name is >= name. */
static size_t producer_position(const struct controller_state *state, const char *name)
{
    size_t low = 0;
    size_t high = state->producers_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(state->producers[middle].name, name) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* The position of the first user whose name is >= name. */
static size_t user_position(const struct controller_state *state, const char *name)
{
    size_t low = 0;
    size_t high = state->users_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(state->users[middle].name, name) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* The position of the first ACL binding that is >= binding (acl_binding_compare). */
static size_t acl_position(const struct controller_state *state, const struct acl_binding *binding)
{
    size_t low = 0;
    size_t high = state->acls_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (acl_binding_compare(&state->acls[middle], binding) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

static struct controller_broker *broker_find(struct controller_state *state, uint32_t broker_id)
{
    size_t at = broker_position(state, broker_id);
    if (at < state->brokers_count && state->brokers[at].broker_id == broker_id) {
        return &state->brokers[at];
    }
    return NULL;
}

static struct controller_topic *topic_find(const struct controller_state *state, const char *name)
{
    size_t at = topic_name_position(state, name);
    if (at < state->topics_count && strcmp(state->topics_by_name[at]->name, name) == 0) {
        return state->topics_by_name[at];
    }
    return NULL;
}

/* Takes ownership of `topic`; its name is not in the state, its id is the largest. */
static void topic_insert(struct controller_state *state, struct controller_topic *topic)
{
    size_t at = topic_name_position(state, topic->name);
    ETHER_ASSERT(at == state->topics_count ||
                 strcmp(state->topics_by_name[at]->name, topic->name) != 0);
    ETHER_ASSERT(state->topics_count == 0 ||
                 state->topics_by_id[state->topics_count - 1]->topic_id < topic->topic_id);
    size_t count = state->topics_count;
    state->topics_by_name =
        ether_realloc(state->topics_by_name, (count + 1) * sizeof *state->topics_by_name);
    state->topics_by_id =
        ether_realloc(state->topics_by_id, (count + 1) * sizeof *state->topics_by_id);
    memmove(&state->topics_by_name[at + 1], &state->topics_by_name[at],
            (count - at) * sizeof *state->topics_by_name);
    state->topics_by_name[at] = topic;
    state->topics_by_id[count] = topic;
    state->topics_count = count + 1;
    state->partitions_total_count += topic->partitions_count;
}

static void topic_remove(struct controller_state *state, struct controller_topic *topic)
{
    size_t by_name = topic_name_position(state, topic->name);
    size_t by_id = topic_id_position(state, topic->topic_id);
    ETHER_ASSERT(by_name < state->topics_count);
    ETHER_ASSERT(by_id < state->topics_count);
    ETHER_ASSERT(state->topics_by_name[by_name] == topic);
    ETHER_ASSERT(state->topics_by_id[by_id] == topic);
    size_t count = state->topics_count;
    memmove(&state->topics_by_name[by_name], &state->topics_by_name[by_name + 1],
            (count - by_name - 1) * sizeof *state->topics_by_name);
    memmove(&state->topics_by_id[by_id], &state->topics_by_id[by_id + 1],
            (count - by_id - 1) * sizeof *state->topics_by_id);
    state->topics_count = count - 1;
    ETHER_ASSERT(state->partitions_total_count >= topic->partitions_count);
    state->partitions_total_count -= topic->partitions_count;
    topic_free(topic);
}

/* ---- commands ----------------------------------------------------------------------- */

static void apply_register_broker(struct controller_state *state,
                                  const Ether__ControllerRegisterBroker *command, uint64_t index,
                                  struct controller_apply_result *result)
{
    result->broker_id = command->broker_id;
    if (command->broker_id == 0) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "broker id 0 is reserved; ids start at 1");
        return;
    }
    if (!address_text_valid(command->host, 1, CONTROLLER_HOST_BYTES_MAX)) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "broker %" PRIu32 ": host must be 1 to %d printable characters without spaces",
               command->broker_id, CONTROLLER_HOST_BYTES_MAX);
        return;
    }
    if (command->port == 0 || command->port > UINT16_MAX) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "broker %" PRIu32 ": port %" PRIu32 " is not in 1..65535", command->broker_id,
               command->port);
        return;
    }
    if (!address_text_valid(command->rack, 0, CONTROLLER_RACK_BYTES_MAX)) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "broker %" PRIu32 ": rack must be at most %d printable characters without spaces",
               command->broker_id, CONTROLLER_RACK_BYTES_MAX);
        return;
    }
    if (!incarnation_valid(command->incarnation)) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "broker %" PRIu32 ": incarnation %" PRIu64 " is not in 1..4294967295",
               command->broker_id, command->incarnation);
        return;
    }

    struct controller_broker *broker = broker_find(state, command->broker_id);
    if (broker != NULL) {
        if (command->incarnation < broker->incarnation) {
            refuse(result, ETHER_ERR_INVALID_ARGUMENT,
                   "broker %" PRIu32 ": incarnation %" PRIu64
                   " is older than the registered %" PRIu64,
                   command->broker_id, command->incarnation, broker->incarnation);
            return;
        }
        result->previous_incarnation = broker->incarnation;
        ether_free(broker->host);
        ether_free(broker->rack);
        broker->host = ether_strdup(command->host);
        broker->rack = ether_strdup(command->rack);
        broker->port = (uint16_t)command->port;
        if (command->incarnation != broker->incarnation) {
            broker->incarnation = command->incarnation;
            broker->registered_index = index;
        }
        broker->fenced = false;
        return;
    }

    if (state->brokers_count >= CONTROLLER_BROKERS_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE, "the cluster already has %d brokers, the maximum",
               CONTROLLER_BROKERS_MAX);
        return;
    }
    size_t at = broker_position(state, command->broker_id);
    size_t count = state->brokers_count;
    state->brokers = ether_realloc(state->brokers, (count + 1) * sizeof *state->brokers);
    memmove(&state->brokers[at + 1], &state->brokers[at], (count - at) * sizeof *state->brokers);
    state->brokers[at] = (struct controller_broker){
        .broker_id = command->broker_id,
        .host = ether_strdup(command->host),
        .port = (uint16_t)command->port,
        .rack = ether_strdup(command->rack),
        .incarnation = command->incarnation,
        .registered_index = index,
        .fenced = false,
    };
    state->brokers_count = count + 1;
}

static void apply_fence_broker(struct controller_state *state,
                               const Ether__ControllerFenceBroker *command,
                               struct controller_apply_result *result)
{
    result->broker_id = command->broker_id;
    struct controller_broker *broker = broker_find(state, command->broker_id);
    if (broker == NULL) {
        refuse(result, ETHER_ERR_NOT_FOUND, "broker %" PRIu32 " is not registered",
               command->broker_id);
        return;
    }
    if (command->incarnation != broker->incarnation) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "broker %" PRIu32 ": incarnation %" PRIu64 " is not the registered %" PRIu64,
               command->broker_id, command->incarnation, broker->incarnation);
        return;
    }
    broker->fenced = true;
}

/*
 * Validates `count` key/value pairs into canonical[], marking set[]. Returns
 * false (with the result refused) on an unknown key, a bad value or a key given twice.
 */
static bool configs_validate(const char *const *keys, const char *const *values, size_t count,
                             bool *set, char canonical[][CONFIG_VALUE_BYTES_MAX],
                             struct controller_apply_result *result)
{
    for (size_t i = 0; i < count; i++) {
        int config = config_find(keys[i]);
        if (config < 0) {
            refuse(result, ETHER_ERR_INVALID_ARGUMENT, "unknown topic config \"%.64s\"", keys[i]);
            return false;
        }
        if (set[config]) {
            refuse(result, ETHER_ERR_INVALID_ARGUMENT, "topic config %s is given twice",
                   config_keys[config]);
            return false;
        }
        if (!config_canonical((enum controller_topic_config)config, values[i], canonical[config])) {
            refuse(result, ETHER_ERR_INVALID_ARGUMENT,
                   "\"%.32s\" is not a valid value for topic config %s", values[i],
                   config_keys[config]);
            return false;
        }
        set[config] = true;
    }
    return true;
}

static void apply_create_topic(struct controller_state *state,
                               const Ether__ControllerCreateTopic *command, uint64_t index,
                               struct controller_apply_result *result)
{
    if (!topic_name_valid(command->name)) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "a topic name is 1 to %d characters of a-z A-Z 0-9 . _ - (and not . or ..)",
               CONTROLLER_TOPIC_NAME_BYTES_MAX);
        return;
    }
    if (topic_find(state, command->name) != NULL) {
        refuse(result, ETHER_ERR_EXISTS, "topic %s already exists", command->name);
        return;
    }
    if (command->assignment_version > CONTROLLER_ASSIGNMENT_VERSION) {
        refuse(result, ETHER_ERR_UNSUPPORTED,
               "replica assignment version %" PRIu32 " is newer than this broker's %d",
               command->assignment_version, CONTROLLER_ASSIGNMENT_VERSION);
        return;
    }
    if (command->partitions == 0 || command->partitions > CONTROLLER_TOPIC_PARTITIONS_MAX) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "a topic has 1 to %d partitions, not %" PRIu32,
               CONTROLLER_TOPIC_PARTITIONS_MAX, command->partitions);
        return;
    }
    if (command->replication_factor == 0 ||
        command->replication_factor > CONTROLLER_REPLICATION_FACTOR_MAX) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "the replication factor is 1 to %d, not %" PRIu32, CONTROLLER_REPLICATION_FACTOR_MAX,
               command->replication_factor);
        return;
    }
    uint32_t live_count = controller_live_brokers_count(state);
    if (command->replication_factor > live_count) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "replication factor %" PRIu32 " is larger than the %" PRIu32 " live brokers",
               command->replication_factor, live_count);
        return;
    }
    if (state->partitions_total_count + command->partitions > CONTROLLER_PARTITIONS_TOTAL_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE,
               "the cluster would have more than %d partitions, the maximum",
               CONTROLLER_PARTITIONS_TOTAL_MAX);
        return;
    }
    if (state->next_topic_id == UINT32_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE, "every topic id has been used");
        return;
    }
    if (command->n_configs > CONTROLLER_TOPIC_CONFIGS_COUNT) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "more configs than the %d topic configs",
               CONTROLLER_TOPIC_CONFIGS_COUNT);
        return;
    }
    const char *keys[CONTROLLER_TOPIC_CONFIGS_COUNT];
    const char *values[CONTROLLER_TOPIC_CONFIGS_COUNT];
    for (size_t i = 0; i < command->n_configs; i++) {
        keys[i] = command->configs[i]->key;
        values[i] = command->configs[i]->value;
    }
    bool set[CONTROLLER_TOPIC_CONFIGS_COUNT] = {false};
    char canonical[CONTROLLER_TOPIC_CONFIGS_COUNT][CONFIG_VALUE_BYTES_MAX];
    if (!configs_validate(keys, values, command->n_configs, set, canonical, result)) {
        return;
    }

    struct controller_topic *topic = ether_calloc(1, sizeof *topic);
    topic->name = ether_strdup(command->name);
    topic->topic_id = state->next_topic_id;
    topic->created_index = index;
    topic->partitions_count = command->partitions;
    topic->partitions = ether_calloc(command->partitions, sizeof *topic->partitions);
    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        topic->configs[i] = set[i] ? ether_strdup(canonical[i]) : NULL;
    }
    controller_assign(state, command->partitions, command->replication_factor, topic->partitions);
    state->next_topic_id++;
    topic_insert(state, topic);
    result->topic_id = topic->topic_id;
}

static void apply_delete_topic(struct controller_state *state,
                               const Ether__ControllerDeleteTopic *command,
                               struct controller_apply_result *result)
{
    struct controller_topic *topic = topic_find(state, command->name);
    if (topic == NULL) {
        refuse(result, ETHER_ERR_NOT_FOUND, "topic %.249s does not exist", command->name);
        return;
    }
    result->topic_id = topic->topic_id;
    topic_remove(state, topic);
}

static void apply_alter_topic_config(struct controller_state *state,
                                     const Ether__ControllerAlterTopicConfig *command,
                                     struct controller_apply_result *result)
{
    struct controller_topic *topic = topic_find(state, command->name);
    if (topic == NULL) {
        refuse(result, ETHER_ERR_NOT_FOUND, "topic %.249s does not exist", command->name);
        return;
    }
    result->topic_id = topic->topic_id;
    if (command->n_set > CONTROLLER_TOPIC_CONFIGS_COUNT) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "more configs than the %d topic configs",
               CONTROLLER_TOPIC_CONFIGS_COUNT);
        return;
    }
    const char *keys[CONTROLLER_TOPIC_CONFIGS_COUNT];
    const char *values[CONTROLLER_TOPIC_CONFIGS_COUNT];
    for (size_t i = 0; i < command->n_set; i++) {
        keys[i] = command->set[i]->key;
        values[i] = command->set[i]->value;
    }
    bool set[CONTROLLER_TOPIC_CONFIGS_COUNT] = {false};
    char canonical[CONTROLLER_TOPIC_CONFIGS_COUNT][CONFIG_VALUE_BYTES_MAX];
    if (!configs_validate(keys, values, command->n_set, set, canonical, result)) {
        return;
    }
    bool delete[CONTROLLER_TOPIC_CONFIGS_COUNT] = {false};
    for (size_t i = 0; i < command->n_delete_; i++) {
        int config = config_find(command->delete_[i]);
        if (config < 0) {
            refuse(result, ETHER_ERR_INVALID_ARGUMENT, "unknown topic config \"%.64s\"",
                   command->delete_[i]);
            return;
        }
        if (set[config]) {
            refuse(result, ETHER_ERR_INVALID_ARGUMENT, "topic config %s is both set and deleted",
                   config_keys[config]);
            return;
        }
        delete[config] = true;
    }

    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        if (set[i] || delete[i]) {
            ether_free(topic->configs[i]);
            topic->configs[i] = set[i] ? ether_strdup(canonical[i]) : NULL;
        }
    }
}

static void
apply_allocate_producer_id_block(struct controller_state *state,
                                 const Ether__ControllerAllocateProducerIdBlock *command,
                                 struct controller_apply_result *result)
{
    result->broker_id = command->broker_id;
    if (broker_find(state, command->broker_id) == NULL) {
        refuse(result, ETHER_ERR_NOT_FOUND, "broker %" PRIu32 " is not registered",
               command->broker_id);
        return;
    }
    if (command->block_size == 0 || command->block_size > CONTROLLER_PRODUCER_ID_BLOCK_SIZE_MAX) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "a producer id block has 1 to %d ids, not %" PRIu32,
               CONTROLLER_PRODUCER_ID_BLOCK_SIZE_MAX, command->block_size);
        return;
    }
    /* Producer ids are int64 on the wire (-1: not idempotent); the last usable is INT64_MAX. */
    uint64_t ids_left = (uint64_t)INT64_MAX + 1 - state->next_producer_id;
    if (command->block_size > ids_left) {
        refuse(result, ETHER_ERR_TOO_LARGE, "every producer id has been handed out");
        return;
    }
    result->producer_id_first = state->next_producer_id;
    result->producer_id_count = command->block_size;
    state->next_producer_id += command->block_size;
    ETHER_ASSERT(state->next_producer_id > result->producer_id_first);
}

static void apply_init_producer(struct controller_state *state,
                                const Ether__ControllerInitProducer *command,
                                struct controller_apply_result *result)
{
    if (!producer_name_valid(command->producer_name)) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "a producer name is 1 to %d printable ASCII characters",
               CONTROLLER_PRODUCER_NAME_BYTES_MAX);
        return;
    }
    size_t at = producer_position(state, command->producer_name);
    struct controller_producer *producer = NULL;
    if (at < state->producers_count &&
        strcmp(state->producers[at].name, command->producer_name) == 0) {
        producer = &state->producers[at];
    }
    bool needs_id = producer == NULL || producer->producer_epoch == CONTROLLER_PRODUCER_EPOCH_MAX;
    if (needs_id && state->next_producer_id > (uint64_t)INT64_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE, "every producer id has been handed out");
        return;
    }
    if (producer == NULL && state->producers_count >= CONTROLLER_PRODUCERS_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE, "the cluster already has %d named producers",
               CONTROLLER_PRODUCERS_MAX);
        return;
    }

    if (producer == NULL) {
        size_t count = state->producers_count;
        state->producers = ether_realloc(state->producers, (count + 1) * sizeof *state->producers);
        memmove(&state->producers[at + 1], &state->producers[at],
                (count - at) * sizeof *state->producers);
        producer = &state->producers[at];
        producer->name = ether_strdup(command->producer_name);
        state->producers_count = count + 1;
    }
    if (needs_id) {
        /* A new name, or an epoch that cannot grow: a fresh id from the shared counter. */
        producer->producer_id = state->next_producer_id++;
        producer->producer_epoch = 0;
    } else {
        producer->producer_epoch++;
    }
    result->producer_id = producer->producer_id;
    result->producer_epoch = producer->producer_epoch;
    ETHER_ASSERT(producer->producer_id >= 1);
    ETHER_ASSERT(producer->producer_id < state->next_producer_id);
}

/* Unknown fields mean a newer broker wrote the command: ignoring them could diverge. */
static bool has_unknown_fields(const ProtobufCMessage *message)
{
    return message->n_unknown_fields > 0;
}

static void apply_upsert_user(struct controller_state *state,
                              const Ether__ControllerUpsertUser *command,
                              struct controller_apply_result *result)
{
    if (!ether_scram_user_name_valid(command->name)) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "a user name is 1 to %d printable ASCII characters without spaces",
               ETHER_SCRAM_USER_BYTES_MAX);
        return;
    }
    if (strcmp(command->name, "*") == 0) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "\"*\" means every principal in ACLs and cannot be a user name");
        return;
    }
    if (strcmp(command->mechanism, ETHER_SCRAM_MECHANISM) != 0) {
        refuse(result, ETHER_ERR_UNSUPPORTED, "user %.64s: mechanism \"%.32s\" is not %s",
               command->name, command->mechanism, ETHER_SCRAM_MECHANISM);
        return;
    }
    if (command->iterations < ETHER_SCRAM_ITERATIONS_MIN ||
        command->iterations > ETHER_SCRAM_ITERATIONS_MAX) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "user %.64s: iterations are %d to %d, not %" PRIu32, command->name,
               ETHER_SCRAM_ITERATIONS_MIN, ETHER_SCRAM_ITERATIONS_MAX, command->iterations);
        return;
    }
    if (command->salt.len == 0 || command->salt.len > ETHER_SCRAM_SALT_BYTES_MAX) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "user %.64s: a salt is 1 to %d bytes, not %zu",
               command->name, ETHER_SCRAM_SALT_BYTES_MAX, command->salt.len);
        return;
    }
    if (command->stored_key.len != ETHER_SCRAM_KEY_BYTES ||
        command->server_key.len != ETHER_SCRAM_KEY_BYTES) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "user %.64s: the stored key and the server key are %d bytes each", command->name,
               ETHER_SCRAM_KEY_BYTES);
        return;
    }
    if (command->unknown_user_secret.len != 0 &&
        command->unknown_user_secret.len != CONTROLLER_UNKNOWN_USER_SECRET_BYTES) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT,
               "user %.64s: an unknown-user secret is %d bytes, not %zu", command->name,
               CONTROLLER_UNKNOWN_USER_SECRET_BYTES, command->unknown_user_secret.len);
        return;
    }
    size_t at = user_position(state, command->name);
    bool exists = at < state->users_count && strcmp(state->users[at].name, command->name) == 0;
    if (exists && !command->replace) {
        refuse(result, ETHER_ERR_EXISTS, "user %.64s already exists", command->name);
        return;
    }
    if (!exists && state->users_count >= CONTROLLER_USERS_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE, "the cluster already has %d users, the maximum",
               CONTROLLER_USERS_MAX);
        return;
    }

    struct ether_scram_credential credential = {.iterations = command->iterations,
                                                .salt_bytes = command->salt.len};
    memcpy(credential.salt, command->salt.data, command->salt.len);
    memcpy(credential.stored_key, command->stored_key.data, ETHER_SCRAM_KEY_BYTES);
    memcpy(credential.server_key, command->server_key.data, ETHER_SCRAM_KEY_BYTES);
    ETHER_ASSERT(credential_valid(&credential));
    if (!exists) {
        size_t count = state->users_count;
        state->users = ether_realloc(state->users, (count + 1) * sizeof *state->users);
        memmove(&state->users[at + 1], &state->users[at], (count - at) * sizeof *state->users);
        state->users[at].name = ether_strdup(command->name);
        state->users_count = count + 1;
    }
    state->users[at].credential = credential;
    /* The first secret stays: a second leader may have proposed its own before seeing it. */
    if (!state->has_unknown_user_secret && command->unknown_user_secret.len > 0) {
        memcpy(state->unknown_user_secret, command->unknown_user_secret.data,
               CONTROLLER_UNKNOWN_USER_SECRET_BYTES);
        state->has_unknown_user_secret = true;
    }
    ETHER_ASSERT(controller_state_user(state, command->name) == &state->users[at]);
    ETHER_ASSERT(command->unknown_user_secret.len == 0 || state->has_unknown_user_secret);
}

static void apply_delete_user(struct controller_state *state,
                              const Ether__ControllerDeleteUser *command,
                              struct controller_apply_result *result)
{
    size_t at = user_position(state, command->name);
    if (at == state->users_count || strcmp(state->users[at].name, command->name) != 0) {
        refuse(result, ETHER_ERR_NOT_FOUND, "user %.128s does not exist", command->name);
        return;
    }
    size_t count = state->users_count;
    ether_free(state->users[at].name);
    memmove(&state->users[at], &state->users[at + 1], (count - at - 1) * sizeof *state->users);
    state->users_count = count - 1;
    ETHER_ASSERT(controller_state_user(state, command->name) == NULL);
}

/*
 * The binding a CreateAcl or DeleteAcl carries, pointing into `message`. Returns false (with
 * the result refused) when it is missing, from a newer broker, or invalid.
 */
static bool acl_binding_of_command(const Ether__AclBinding *message, struct acl_binding *binding,
                                   struct controller_apply_result *result)
{
    if (message == NULL) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "the command carries no ACL binding");
        return false;
    }
    if (has_unknown_fields(&message->base)) {
        refuse(result, ETHER_ERR_UNSUPPORTED,
               "the ACL binding has fields this broker does not know (written by a newer broker)");
        return false;
    }
    *binding = (struct acl_binding){
        .principal = message->principal,
        .resource_type = (enum acl_resource_type)message->resource_type,
        .resource_name = message->resource_name,
        .pattern = (enum acl_pattern)message->pattern,
        .operation = (enum acl_operation)message->operation,
        .permission = (enum acl_permission)message->permission,
    };
    char errbuf[ACL_ERROR_BYTES];
    if (acl_binding_validate(binding, errbuf, sizeof errbuf) != ETHER_OK) {
        refuse(result, ETHER_ERR_INVALID_ARGUMENT, "%s", errbuf);
        return false;
    }
    return true;
}

/* "allow read on topic orders (literal) for alice", cut to fit a result's message. */
__attribute__((format(printf, 4, 5))) static void
refuse_binding(struct controller_apply_result *result, int error, const struct acl_binding *binding,
               const char *format, ...)
{
    char text[CONTROLLER_MESSAGE_BYTES_MAX];
    snprintf(text, sizeof text, "%s %s on %s %.48s (%s) for %.48s",
             acl_permission_name(binding->permission), acl_operation_name(binding->operation),
             acl_resource_type_name(binding->resource_type), binding->resource_name,
             acl_pattern_name(binding->pattern), binding->principal);
    char sentence[CONTROLLER_MESSAGE_BYTES_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(sentence, sizeof sentence, format, arguments);
    va_end(arguments);
    refuse(result, error, "ACL \"%s\" %s", text, sentence);
}

static void apply_create_acl(struct controller_state *state,
                             const Ether__ControllerCreateAcl *command,
                             struct controller_apply_result *result)
{
    struct acl_binding binding;
    if (!acl_binding_of_command(command->binding, &binding, result)) {
        return;
    }
    size_t at = acl_position(state, &binding);
    if (at < state->acls_count && acl_binding_compare(&state->acls[at], &binding) == 0) {
        refuse_binding(result, ETHER_ERR_EXISTS, &binding, "already exists");
        return;
    }
    if (state->acls_count >= CONTROLLER_ACLS_MAX) {
        refuse(result, ETHER_ERR_TOO_LARGE, "the cluster already has %d ACL bindings, the maximum",
               CONTROLLER_ACLS_MAX);
        return;
    }

    size_t count = state->acls_count;
    state->acls = ether_realloc(state->acls, (count + 1) * sizeof *state->acls);
    memmove(&state->acls[at + 1], &state->acls[at], (count - at) * sizeof *state->acls);
    state->acls[at] = binding;
    state->acls[at].principal = ether_strdup(binding.principal);
    state->acls[at].resource_name = ether_strdup(binding.resource_name);
    state->acls_count = count + 1;
    ETHER_ASSERT(at == 0 || acl_binding_compare(&state->acls[at - 1], &state->acls[at]) < 0);
    ETHER_ASSERT(at + 1 == state->acls_count ||
                 acl_binding_compare(&state->acls[at], &state->acls[at + 1]) < 0);
}

static void apply_delete_acl(struct controller_state *state,
                             const Ether__ControllerDeleteAcl *command,
                             struct controller_apply_result *result)
{
    struct acl_binding binding;
    if (!acl_binding_of_command(command->binding, &binding, result)) {
        return;
    }
    size_t at = acl_position(state, &binding);
    if (at == state->acls_count || acl_binding_compare(&state->acls[at], &binding) != 0) {
        refuse_binding(result, ETHER_ERR_NOT_FOUND, &binding, "does not exist");
        return;
    }
    size_t count = state->acls_count;
    acl_strings_free(&state->acls[at]);
    memmove(&state->acls[at], &state->acls[at + 1], (count - at - 1) * sizeof *state->acls);
    state->acls_count = count - 1;
    ETHER_ASSERT(state->acls_count < count);
}

void controller_state_apply(struct controller_state *state, const uint8_t *command,
                            size_t command_bytes, uint64_t index,
                            struct controller_apply_result *result)
{
    ETHER_ASSERT(index > state->applied_index);
    ETHER_ASSERT(command != NULL || command_bytes == 0);
    memset(result, 0, sizeof *result);
    state->applied_index = index;

    ProtobufCAllocator allocator = allocator_make();
    Ether__ControllerCommand *unpacked =
        ether__controller_command__unpack(&allocator, command_bytes, command);
    if (unpacked == NULL) {
        refuse(result, ETHER_ERR_CORRUPT, "the entry is not a controller command");
        return;
    }
    const ProtobufCMessage *inner = NULL;
    switch (unpacked->command_case) {
    case ETHER__CONTROLLER_COMMAND__COMMAND_REGISTER_BROKER:
        result->type = CONTROLLER_COMMAND_REGISTER_BROKER;
        inner = &unpacked->register_broker->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_FENCE_BROKER:
        result->type = CONTROLLER_COMMAND_FENCE_BROKER;
        inner = &unpacked->fence_broker->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_TOPIC:
        result->type = CONTROLLER_COMMAND_CREATE_TOPIC;
        inner = &unpacked->create_topic->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_TOPIC:
        result->type = CONTROLLER_COMMAND_DELETE_TOPIC;
        inner = &unpacked->delete_topic->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_ALTER_TOPIC_CONFIG:
        result->type = CONTROLLER_COMMAND_ALTER_TOPIC_CONFIG;
        inner = &unpacked->alter_topic_config->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_ALLOCATE_PRODUCER_ID_BLOCK:
        result->type = CONTROLLER_COMMAND_ALLOCATE_PRODUCER_ID_BLOCK;
        inner = &unpacked->allocate_producer_id_block->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_INIT_PRODUCER:
        result->type = CONTROLLER_COMMAND_INIT_PRODUCER;
        inner = &unpacked->init_producer->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_UPSERT_USER:
        result->type = CONTROLLER_COMMAND_UPSERT_USER;
        inner = &unpacked->upsert_user->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_USER:
        result->type = CONTROLLER_COMMAND_DELETE_USER;
        inner = &unpacked->delete_user->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_ACL:
        result->type = CONTROLLER_COMMAND_CREATE_ACL;
        inner = &unpacked->create_acl->base;
        break;
    case ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_ACL:
        result->type = CONTROLLER_COMMAND_DELETE_ACL;
        inner = &unpacked->delete_acl->base;
        break;
    default:
        break;
    }
    if (has_unknown_fields(&unpacked->base) || (inner != NULL && has_unknown_fields(inner))) {
        refuse(result, ETHER_ERR_UNSUPPORTED,
               "the command has fields this broker does not know (written by a newer broker)");
        goto out_after_unpack;
    }
    if (inner == NULL) {
        refuse(result, ETHER_ERR_CORRUPT, "the entry holds no controller command");
        goto out_after_unpack;
    }

    switch (result->type) {
    case CONTROLLER_COMMAND_REGISTER_BROKER:
        apply_register_broker(state, unpacked->register_broker, index, result);
        break;
    case CONTROLLER_COMMAND_FENCE_BROKER:
        apply_fence_broker(state, unpacked->fence_broker, result);
        break;
    case CONTROLLER_COMMAND_CREATE_TOPIC:
        apply_create_topic(state, unpacked->create_topic, index, result);
        break;
    case CONTROLLER_COMMAND_DELETE_TOPIC:
        apply_delete_topic(state, unpacked->delete_topic, result);
        break;
    case CONTROLLER_COMMAND_ALTER_TOPIC_CONFIG:
        apply_alter_topic_config(state, unpacked->alter_topic_config, result);
        break;
    case CONTROLLER_COMMAND_ALLOCATE_PRODUCER_ID_BLOCK:
        apply_allocate_producer_id_block(state, unpacked->allocate_producer_id_block, result);
        break;
    case CONTROLLER_COMMAND_INIT_PRODUCER:
        apply_init_producer(state, unpacked->init_producer, result);
        break;
    case CONTROLLER_COMMAND_UPSERT_USER:
        apply_upsert_user(state, unpacked->upsert_user, result);
        break;
    case CONTROLLER_COMMAND_DELETE_USER:
        apply_delete_user(state, unpacked->delete_user, result);
        break;
    case CONTROLLER_COMMAND_CREATE_ACL:
        apply_create_acl(state, unpacked->create_acl, result);
        break;
    case CONTROLLER_COMMAND_DELETE_ACL:
        apply_delete_acl(state, unpacked->delete_acl, result);
        break;
    case CONTROLLER_COMMAND_NONE:
        ETHER_PANIC("a command without a type");
    }
    ETHER_ASSERT(state->applied_index == index);

out_after_unpack:
    ether__controller_command__free_unpacked(unpacked, &allocator);
}

/* ---- invariants --------------------------------------------------------------------- */

static bool broker_valid(const struct controller_state *state,
                         const struct controller_broker *broker)
{
    return broker->broker_id >= 1 && broker->host != NULL &&
           address_text_valid(broker->host, 1, CONTROLLER_HOST_BYTES_MAX) && broker->port >= 1 &&
           broker->rack != NULL && address_text_valid(broker->rack, 0, CONTROLLER_RACK_BYTES_MAX) &&
           incarnation_valid(broker->incarnation) &&
           broker->registered_index <= state->applied_index;
}

static bool partition_valid(const struct controller_state *state,
                            const struct controller_partition *partition)
{
    if (partition->replicas_count == 0 ||
        partition->replicas_count > CONTROLLER_REPLICATION_FACTOR_MAX) {
        return false;
    }
    for (uint32_t r = 0; r < partition->replicas_count; r++) {
        const struct controller_broker *member =
            controller_state_broker(state, partition->replica_ids[r]);
        if (member == NULL || partition->replica_incarnations[r] == 0 ||
            partition->replica_incarnations[r] > member->incarnation) {
            return false;
        }
        for (uint32_t other = 0; other < r; other++) {
            if (partition->replica_ids[other] == partition->replica_ids[r]) {
                return false;
            }
        }
    }
    return true;
}

static bool topic_valid(const struct controller_state *state, const struct controller_topic *topic)
{
    if (topic->name == NULL || !topic_name_valid(topic->name)) {
        return false;
    }
    if (topic->topic_id == 0 || topic->topic_id >= state->next_topic_id ||
        topic->created_index > state->applied_index) {
        return false;
    }
    if (topic->partitions_count == 0 || topic->partitions_count > CONTROLLER_TOPIC_PARTITIONS_MAX) {
        return false;
    }
    for (uint32_t p = 0; p < topic->partitions_count; p++) {
        if (!partition_valid(state, &topic->partitions[p])) {
            return false;
        }
    }
    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        char canonical[CONFIG_VALUE_BYTES_MAX];
        if (topic->configs[i] == NULL) {
            continue;
        }
        if (!config_canonical((enum controller_topic_config)i, topic->configs[i], canonical) ||
            strcmp(canonical, topic->configs[i]) != 0) {
            return false;
        }
    }
    return true;
}

static int compare_u64(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left;
    uint64_t b = *(const uint64_t *)right;
    return (a > b) - (a < b);
}

static int producers_check(const struct controller_state *state)
{
    if (state->producers_count > CONTROLLER_PRODUCERS_MAX) {
        return ETHER_ERR_CORRUPT;
    }
    for (size_t i = 0; i < state->producers_count; i++) {
        const struct controller_producer *producer = &state->producers[i];
        if (producer->name == NULL || !producer_name_valid(producer->name) ||
            producer->producer_id == 0 || producer->producer_id >= state->next_producer_id ||
            producer->producer_epoch < 0) {
            return ETHER_ERR_CORRUPT;
        }
        if (i > 0 && strcmp(state->producers[i - 1].name, producer->name) >= 0) {
            return ETHER_ERR_CORRUPT;
        }
    }
    if (state->producers_count < 2) {
        return ETHER_OK;
    }
    /* Ids unique: sort a copy. */
    uint64_t *ids = ether_calloc(state->producers_count, sizeof *ids);
    for (size_t i = 0; i < state->producers_count; i++) {
        ids[i] = state->producers[i].producer_id;
    }
    qsort(ids, state->producers_count, sizeof *ids, compare_u64);
    int rc = ETHER_OK;
    for (size_t i = 1; i < state->producers_count; i++) {
        if (ids[i - 1] == ids[i]) {
            rc = ETHER_ERR_CORRUPT;
            break;
        }
    }
    ether_free(ids);
    return rc;
}

static int users_check(const struct controller_state *state)
{
    if (state->users_count > CONTROLLER_USERS_MAX) {
        return ETHER_ERR_CORRUPT;
    }
    for (size_t i = 0; i < state->users_count; i++) {
        const struct controller_user *user = &state->users[i];
        if (user->name == NULL || !ether_scram_user_name_valid(user->name) ||
            !credential_valid(&user->credential)) {
            return ETHER_ERR_CORRUPT;
        }
        if (i > 0 && strcmp(state->users[i - 1].name, user->name) >= 0) {
            return ETHER_ERR_CORRUPT;
        }
    }
    return ETHER_OK;
}

static int acls_check(const struct controller_state *state)
{
    if (state->acls_count > CONTROLLER_ACLS_MAX) {
        return ETHER_ERR_CORRUPT;
    }
    for (size_t i = 0; i < state->acls_count; i++) {
        if (acl_binding_validate(&state->acls[i], NULL, 0) != ETHER_OK) {
            return ETHER_ERR_CORRUPT;
        }
        /* Strictly increasing: sorted and unique. */
        if (i > 0 && acl_binding_compare(&state->acls[i - 1], &state->acls[i]) >= 0) {
            return ETHER_ERR_CORRUPT;
        }
    }
    return ETHER_OK;
}

int controller_state_check(const struct controller_state *state)
{
    if (state->next_topic_id == 0 || state->next_producer_id == 0 ||
        state->next_producer_id > (uint64_t)INT64_MAX + 1) {
        return ETHER_ERR_CORRUPT;
    }
    if (state->brokers_count > CONTROLLER_BROKERS_MAX) {
        return ETHER_ERR_CORRUPT;
    }
    for (size_t i = 0; i < state->brokers_count; i++) {
        if (!broker_valid(state, &state->brokers[i])) {
            return ETHER_ERR_CORRUPT;
        }
        if (i > 0 && state->brokers[i - 1].broker_id >= state->brokers[i].broker_id) {
            return ETHER_ERR_CORRUPT;
        }
    }
    size_t partitions_total_count = 0;
    for (size_t i = 0; i < state->topics_count; i++) {
        const struct controller_topic *topic = state->topics_by_name[i];
        if (!topic_valid(state, topic)) {
            return ETHER_ERR_CORRUPT;
        }
        if (i > 0 && strcmp(state->topics_by_name[i - 1]->name, topic->name) >= 0) {
            return ETHER_ERR_CORRUPT;
        }
        partitions_total_count += topic->partitions_count;
    }
    /* topics_by_id: strictly increasing ids, each one the topic of that name: a permutation. */
    for (size_t i = 0; i < state->topics_count; i++) {
        const struct controller_topic *topic = state->topics_by_id[i];
        if (i > 0 && state->topics_by_id[i - 1]->topic_id >= topic->topic_id) {
            return ETHER_ERR_CORRUPT;
        }
        if (topic_find(state, topic->name) != topic) {
            return ETHER_ERR_CORRUPT;
        }
    }
    if (partitions_total_count != state->partitions_total_count ||
        partitions_total_count > CONTROLLER_PARTITIONS_TOTAL_MAX) {
        return ETHER_ERR_CORRUPT;
    }
    int rc = producers_check(state);
    if (rc == ETHER_OK) {
        rc = users_check(state);
    }
    if (rc == ETHER_OK) {
        rc = acls_check(state);
    }
    if (rc == ETHER_OK && !state->has_unknown_user_secret) {
        static const uint8_t zeros[CONTROLLER_UNKNOWN_USER_SECRET_BYTES];
        if (memcmp(state->unknown_user_secret, zeros, sizeof zeros) != 0) {
            rc = ETHER_ERR_CORRUPT;
        }
    }
    return rc;
}

/* ---- snapshots ---------------------------------------------------------------------- */

void controller_state_snapshot_encode(const struct controller_state *state, struct ether_buf *out)
{
    ETHER_ASSERT(controller_state_check(state) == ETHER_OK);
    Ether__ControllerSnapshot snapshot = ETHER__CONTROLLER_SNAPSHOT__INIT;
    /* The oldest version that holds the state, so that a broker of the previous release can
     * still read it during a rolling upgrade; it depends only on the state. */
    bool needs_users_version =
        state->users_count > 0 || state->acls_count > 0 || state->has_unknown_user_secret;
    snapshot.version = needs_users_version ? CONTROLLER_SNAPSHOT_VERSION_USERS
                                           : CONTROLLER_SNAPSHOT_VERSION_PRODUCERS;
    snapshot.applied_index = state->applied_index;
    snapshot.next_topic_id = state->next_topic_id;
    snapshot.next_producer_id = state->next_producer_id;

    /* The messages point into the state; only the arrays and config keys are allocated. */
    Ether__ControllerSnapshotBroker *brokers = ether_calloc(state->brokers_count, sizeof *brokers);
    Ether__ControllerSnapshotBroker **broker_pointers =
        ether_calloc(state->brokers_count, sizeof *broker_pointers);
    for (size_t i = 0; i < state->brokers_count; i++) {
        const struct controller_broker *broker = &state->brokers[i];
        brokers[i] = (Ether__ControllerSnapshotBroker)ETHER__CONTROLLER_SNAPSHOT_BROKER__INIT;
        brokers[i].broker_id = broker->broker_id;
        brokers[i].host = broker->host;
        brokers[i].port = broker->port;
        brokers[i].rack = broker->rack;
        brokers[i].incarnation = broker->incarnation;
        brokers[i].registered_index = broker->registered_index;
        brokers[i].fenced = broker->fenced;
        broker_pointers[i] = &brokers[i];
    }
    snapshot.n_brokers = state->brokers_count;
    snapshot.brokers = broker_pointers;

    size_t topics_count = state->topics_count;
    Ether__ControllerSnapshotTopic *topics = ether_calloc(topics_count, sizeof *topics);
    Ether__ControllerSnapshotTopic **topic_pointers =
        ether_calloc(topics_count, sizeof *topic_pointers);
    Ether__ControllerSnapshotPartition *partitions =
        ether_calloc(state->partitions_total_count, sizeof *partitions);
    Ether__ControllerSnapshotPartition **partition_pointers =
        ether_calloc(state->partitions_total_count, sizeof *partition_pointers);
    Ether__ControllerSnapshotConfig *configs =
        ether_calloc(topics_count * CONTROLLER_TOPIC_CONFIGS_COUNT, sizeof *configs);
    Ether__ControllerSnapshotConfig **config_pointers =
        ether_calloc(topics_count * CONTROLLER_TOPIC_CONFIGS_COUNT, sizeof *config_pointers);
    char *keys[CONTROLLER_TOPIC_CONFIGS_COUNT];
    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        keys[i] = ether_strdup(config_keys[i]);
    }
    size_t partitions_used = 0;
    size_t configs_used = 0;
    for (size_t t = 0; t < topics_count; t++) {
        const struct controller_topic *topic = state->topics_by_name[t];
        Ether__ControllerSnapshotTopic *out_topic = &topics[t];
        *out_topic = (Ether__ControllerSnapshotTopic)ETHER__CONTROLLER_SNAPSHOT_TOPIC__INIT;
        out_topic->name = topic->name;
        out_topic->topic_id = topic->topic_id;
        out_topic->created_index = topic->created_index;
        out_topic->n_partitions = topic->partitions_count;
        out_topic->partitions = &partition_pointers[partitions_used];
        for (uint32_t p = 0; p < topic->partitions_count; p++) {
            Ether__ControllerSnapshotPartition *out_partition = &partitions[partitions_used];
            *out_partition =
                (Ether__ControllerSnapshotPartition)ETHER__CONTROLLER_SNAPSHOT_PARTITION__INIT;
            out_partition->n_replicas = topic->partitions[p].replicas_count;
            out_partition->replicas = topic->partitions[p].replica_ids;
            out_partition->n_replica_incarnations = topic->partitions[p].replicas_count;
            out_partition->replica_incarnations = topic->partitions[p].replica_incarnations;
            partition_pointers[partitions_used++] = out_partition;
        }
        out_topic->configs = &config_pointers[configs_used];
        for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
            if (topic->configs[i] == NULL) {
                continue;
            }
            Ether__ControllerSnapshotConfig *out_config = &configs[configs_used];
            *out_config = (Ether__ControllerSnapshotConfig)ETHER__CONTROLLER_SNAPSHOT_CONFIG__INIT;
            out_config->key = keys[i];
            out_config->value = topic->configs[i];
            config_pointers[configs_used++] = out_config;
            out_topic->n_configs++;
        }
        topic_pointers[t] = out_topic;
    }
    ETHER_ASSERT(partitions_used == state->partitions_total_count);
    snapshot.n_topics = topics_count;
    snapshot.topics = topic_pointers;

    Ether__ControllerSnapshotProducer *producers =
        ether_calloc(state->producers_count, sizeof *producers);
    Ether__ControllerSnapshotProducer **producer_pointers =
        ether_calloc(state->producers_count, sizeof *producer_pointers);
    for (size_t i = 0; i < state->producers_count; i++) {
        const struct controller_producer *producer = &state->producers[i];
        producers[i] = (Ether__ControllerSnapshotProducer)ETHER__CONTROLLER_SNAPSHOT_PRODUCER__INIT;
        producers[i].name = producer->name;
        producers[i].producer_id = producer->producer_id;
        producers[i].producer_epoch = (uint32_t)producer->producer_epoch;
        producer_pointers[i] = &producers[i];
    }
    snapshot.n_producers = state->producers_count;
    snapshot.producers = producer_pointers;

    Ether__ControllerUpsertUser *users = ether_calloc(state->users_count, sizeof *users);
    Ether__ControllerUpsertUser **user_pointers =
        ether_calloc(state->users_count, sizeof *user_pointers);
    for (size_t i = 0; i < state->users_count; i++) {
        struct controller_user *user = &state->users[i];
        users[i] = (Ether__ControllerUpsertUser)ETHER__CONTROLLER_UPSERT_USER__INIT;
        users[i].name = user->name;
        users[i].mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
        users[i].iterations = user->credential.iterations;
        users[i].salt = (ProtobufCBinaryData){user->credential.salt_bytes, user->credential.salt};
        users[i].stored_key =
            (ProtobufCBinaryData){ETHER_SCRAM_KEY_BYTES, user->credential.stored_key};
        users[i].server_key =
            (ProtobufCBinaryData){ETHER_SCRAM_KEY_BYTES, user->credential.server_key};
        users[i].replace = false;
        user_pointers[i] = &users[i];
    }
    snapshot.n_users = state->users_count;
    snapshot.users = user_pointers;

    Ether__AclBinding *acls = ether_calloc(state->acls_count, sizeof *acls);
    Ether__AclBinding **acl_pointers = ether_calloc(state->acls_count, sizeof *acl_pointers);
    for (size_t i = 0; i < state->acls_count; i++) {
        const struct acl_binding *binding = &state->acls[i];
        acls[i] = (Ether__AclBinding)ETHER__ACL_BINDING__INIT;
        acls[i].principal = (char *)(uintptr_t)binding->principal;
        acls[i].resource_type = (Ether__AclResourceType)binding->resource_type;
        acls[i].resource_name = (char *)(uintptr_t)binding->resource_name;
        acls[i].pattern = (Ether__AclPatternType)binding->pattern;
        acls[i].operation = (Ether__AclOperation)binding->operation;
        acls[i].permission = (Ether__AclPermission)binding->permission;
        acl_pointers[i] = &acls[i];
    }
    snapshot.n_acls = state->acls_count;
    snapshot.acls = acl_pointers;
    if (state->has_unknown_user_secret) {
        snapshot.unknown_user_secret = (ProtobufCBinaryData){
            CONTROLLER_UNKNOWN_USER_SECRET_BYTES, (uint8_t *)(uintptr_t)state->unknown_user_secret};
    }

    size_t body_bytes = ether__controller_snapshot__get_packed_size(&snapshot);
    uint8_t *header = ether_buf_extend(out, SNAPSHOT_HEADER_BYTES + body_bytes);
    size_t packed_bytes =
        ether__controller_snapshot__pack(&snapshot, header + SNAPSHOT_HEADER_BYTES);
    ETHER_ASSERT(packed_bytes == body_bytes);
    ether_put_u32le(header, ether_crc32c(header + SNAPSHOT_HEADER_BYTES, body_bytes));

    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        ether_free(keys[i]);
    }
    ether_free(acl_pointers);
    ether_free(acls);
    ether_free(user_pointers);
    ether_free(users);
    ether_free(producer_pointers);
    ether_free(producers);
    ether_free(config_pointers);
    ether_free(configs);
    ether_free(partition_pointers);
    ether_free(partitions);
    ether_free(topic_pointers);
    ether_free(topics);
    ether_free(broker_pointers);
    ether_free(brokers);
}

static int compare_topic_ids(const void *left, const void *right)
{
    const struct controller_topic *a = *(const struct controller_topic *const *)left;
    const struct controller_topic *b = *(const struct controller_topic *const *)right;
    return (a->topic_id > b->topic_id) - (a->topic_id < b->topic_id);
}

/*
 * Copies the decoded snapshot into `state` (empty), checking only what memory
 * safety needs; controller_state_check judges the result.
 */
static int snapshot_load(const Ether__ControllerSnapshot *snapshot, struct controller_state *state)
{
    if (has_unknown_fields(&snapshot->base) || snapshot->n_brokers > CONTROLLER_BROKERS_MAX ||
        snapshot->n_topics > CONTROLLER_PARTITIONS_TOTAL_MAX ||
        snapshot->n_producers > CONTROLLER_PRODUCERS_MAX ||
        snapshot->n_users > CONTROLLER_USERS_MAX || snapshot->n_acls > CONTROLLER_ACLS_MAX ||
        (snapshot->version < CONTROLLER_SNAPSHOT_VERSION_PRODUCERS && snapshot->n_producers > 0) ||
        (snapshot->version < CONTROLLER_SNAPSHOT_VERSION_USERS &&
         (snapshot->n_users > 0 || snapshot->n_acls > 0 ||
          snapshot->unknown_user_secret.len > 0)) ||
        (snapshot->unknown_user_secret.len != 0 &&
         snapshot->unknown_user_secret.len != CONTROLLER_UNKNOWN_USER_SECRET_BYTES)) {
        return ETHER_ERR_CORRUPT;
    }
    state->applied_index = snapshot->applied_index;
    state->next_topic_id = snapshot->next_topic_id;
    state->next_producer_id = snapshot->next_producer_id;
    if (snapshot->unknown_user_secret.len > 0) {
        memcpy(state->unknown_user_secret, snapshot->unknown_user_secret.data,
               CONTROLLER_UNKNOWN_USER_SECRET_BYTES);
        state->has_unknown_user_secret = true;
    }

    state->brokers = ether_calloc(snapshot->n_brokers, sizeof *state->brokers);
    for (size_t i = 0; i < snapshot->n_brokers; i++) {
        const Ether__ControllerSnapshotBroker *in = snapshot->brokers[i];
        if (has_unknown_fields(&in->base) || in->port > UINT16_MAX) {
            return ETHER_ERR_CORRUPT;
        }
        state->brokers[i] = (struct controller_broker){
            .broker_id = in->broker_id,
            .host = ether_strdup(in->host),
            .port = (uint16_t)in->port,
            .rack = ether_strdup(in->rack),
            .incarnation = in->incarnation,
            .registered_index = in->registered_index,
            .fenced = in->fenced,
        };
        state->brokers_count = i + 1;
    }

    state->topics_by_name = ether_calloc(snapshot->n_topics, sizeof *state->topics_by_name);
    state->topics_by_id = ether_calloc(snapshot->n_topics, sizeof *state->topics_by_id);
    for (size_t t = 0; t < snapshot->n_topics; t++) {
        const Ether__ControllerSnapshotTopic *in = snapshot->topics[t];
        if (has_unknown_fields(&in->base) || in->n_partitions == 0 ||
            in->n_partitions > CONTROLLER_TOPIC_PARTITIONS_MAX ||
            in->n_configs > CONTROLLER_TOPIC_CONFIGS_COUNT ||
            state->partitions_total_count + in->n_partitions > CONTROLLER_PARTITIONS_TOTAL_MAX) {
            return ETHER_ERR_CORRUPT;
        }
        struct controller_topic *topic = ether_calloc(1, sizeof *topic);
        state->topics_by_name[t] = topic;
        state->topics_by_id[t] = topic;
        state->topics_count = t + 1;
        topic->name = ether_strdup(in->name);
        topic->topic_id = in->topic_id;
        topic->created_index = in->created_index;
        topic->partitions = ether_calloc(in->n_partitions, sizeof *topic->partitions);
        topic->partitions_count = (uint32_t)in->n_partitions;
        state->partitions_total_count += in->n_partitions;
        for (size_t p = 0; p < in->n_partitions; p++) {
            const Ether__ControllerSnapshotPartition *in_partition = in->partitions[p];
            if (has_unknown_fields(&in_partition->base) || in_partition->n_replicas == 0 ||
                in_partition->n_replicas > CONTROLLER_REPLICATION_FACTOR_MAX ||
                in_partition->n_replica_incarnations != in_partition->n_replicas) {
                return ETHER_ERR_CORRUPT;
            }
            topic->partitions[p].replicas_count = (uint32_t)in_partition->n_replicas;
            memcpy(topic->partitions[p].replica_ids, in_partition->replicas,
                   in_partition->n_replicas * sizeof *in_partition->replicas);
            memcpy(topic->partitions[p].replica_incarnations, in_partition->replica_incarnations,
                   in_partition->n_replicas * sizeof *in_partition->replica_incarnations);
        }
        /* Configs come in table order, each key once. */
        int previous = -1;
        for (size_t c = 0; c < in->n_configs; c++) {
            const Ether__ControllerSnapshotConfig *in_config = in->configs[c];
            int config = config_find(in_config->key);
            if (has_unknown_fields(&in_config->base) || config <= previous) {
                return ETHER_ERR_CORRUPT;
            }
            topic->configs[config] = ether_strdup(in_config->value);
            previous = config;
        }
    }
    if (state->topics_count > 1) {
        qsort(state->topics_by_id, state->topics_count, sizeof *state->topics_by_id,
              compare_topic_ids);
    }

    state->producers = ether_calloc(snapshot->n_producers, sizeof *state->producers);
    for (size_t i = 0; i < snapshot->n_producers; i++) {
        const Ether__ControllerSnapshotProducer *in = snapshot->producers[i];
        if (has_unknown_fields(&in->base) || in->producer_epoch > CONTROLLER_PRODUCER_EPOCH_MAX) {
            return ETHER_ERR_CORRUPT;
        }
        state->producers[i] = (struct controller_producer){
            .name = ether_strdup(in->name),
            .producer_id = in->producer_id,
            .producer_epoch = (int16_t)in->producer_epoch,
        };
        state->producers_count = i + 1;
    }

    /* Users as encode writes them (replace false, no secret), so that equal states stay
     * equal bytes. */
    state->users = ether_calloc(snapshot->n_users, sizeof *state->users);
    for (size_t i = 0; i < snapshot->n_users; i++) {
        const Ether__ControllerUpsertUser *in = snapshot->users[i];
        if (has_unknown_fields(&in->base) || in->replace || in->unknown_user_secret.len > 0 ||
            strcmp(in->mechanism, ETHER_SCRAM_MECHANISM) != 0 || in->salt.len == 0 ||
            in->salt.len > ETHER_SCRAM_SALT_BYTES_MAX ||
            in->stored_key.len != ETHER_SCRAM_KEY_BYTES ||
            in->server_key.len != ETHER_SCRAM_KEY_BYTES) {
            return ETHER_ERR_CORRUPT;
        }
        struct controller_user *user = &state->users[i];
        user->name = ether_strdup(in->name);
        user->credential.iterations = in->iterations;
        user->credential.salt_bytes = in->salt.len;
        memcpy(user->credential.salt, in->salt.data, in->salt.len);
        memcpy(user->credential.stored_key, in->stored_key.data, ETHER_SCRAM_KEY_BYTES);
        memcpy(user->credential.server_key, in->server_key.data, ETHER_SCRAM_KEY_BYTES);
        state->users_count = i + 1;
    }

    state->acls = ether_calloc(snapshot->n_acls, sizeof *state->acls);
    for (size_t i = 0; i < snapshot->n_acls; i++) {
        const Ether__AclBinding *in = snapshot->acls[i];
        if (has_unknown_fields(&in->base)) {
            return ETHER_ERR_CORRUPT;
        }
        state->acls[i] = (struct acl_binding){
            .principal = ether_strdup(in->principal),
            .resource_type = (enum acl_resource_type)in->resource_type,
            .resource_name = ether_strdup(in->resource_name),
            .pattern = (enum acl_pattern)in->pattern,
            .operation = (enum acl_operation)in->operation,
            .permission = (enum acl_permission)in->permission,
        };
        state->acls_count = i + 1;
    }
    return controller_state_check(state);
}

int controller_state_snapshot_decode(const uint8_t *data, size_t size_bytes,
                                     struct controller_state *state)
{
    if (size_bytes < SNAPSHOT_HEADER_BYTES) {
        return ETHER_ERR_CORRUPT;
    }
    const uint8_t *body = data + SNAPSHOT_HEADER_BYTES;
    size_t body_bytes = size_bytes - SNAPSHOT_HEADER_BYTES;
    if (ether_get_u32le(data) != ether_crc32c(body, body_bytes)) {
        return ETHER_ERR_CORRUPT;
    }
    ProtobufCAllocator allocator = allocator_make();
    Ether__ControllerSnapshot *snapshot =
        ether__controller_snapshot__unpack(&allocator, body_bytes, body);
    if (snapshot == NULL) {
        return ETHER_ERR_CORRUPT;
    }
    int rc = ETHER_OK;
    if (snapshot->version < CONTROLLER_SNAPSHOT_VERSION_MIN ||
        snapshot->version > CONTROLLER_SNAPSHOT_VERSION) {
        rc = snapshot->version > CONTROLLER_SNAPSHOT_VERSION ? ETHER_ERR_UNSUPPORTED
                                                             : ETHER_ERR_CORRUPT;
        goto err_after_unpack;
    }
    struct controller_state loaded;
    controller_state_init(&loaded);
    rc = snapshot_load(snapshot, &loaded);
    if (rc != ETHER_OK) {
        goto err_after_loaded_init;
    }
    ether__controller_snapshot__free_unpacked(snapshot, &allocator);
    controller_state_free(state);
    *state = loaded;
    OPENSSL_cleanse(&loaded, sizeof loaded); /* the copy of the secret */
    ETHER_ASSERT(controller_state_check(state) == ETHER_OK);
    return ETHER_OK;

err_after_loaded_init:
    controller_state_free(&loaded);
err_after_unpack:
    ether__controller_snapshot__free_unpacked(snapshot, &allocator);
    return rc;
}

/* ---- queries ------------------------------------------------------------------------ */

const struct controller_broker *controller_state_broker(const struct controller_state *state,
                                                        uint32_t broker_id)
{
    size_t at = broker_position(state, broker_id);
    if (at < state->brokers_count && state->brokers[at].broker_id == broker_id) {
        return &state->brokers[at];
    }
    return NULL;
}

const struct controller_topic *controller_state_topic_by_name(const struct controller_state *state,
                                                              const char *name)
{
    return topic_find(state, name);
}

const struct controller_topic *controller_state_topic_by_id(const struct controller_state *state,
                                                            uint32_t topic_id)
{
    size_t at = topic_id_position(state, topic_id);
    if (at < state->topics_count && state->topics_by_id[at]->topic_id == topic_id) {
        return state->topics_by_id[at];
    }
    return NULL;
}

bool controller_state_topic_deleted(const struct controller_state *state, uint32_t topic_id)
{
    return topic_id >= 1 && topic_id < state->next_topic_id &&
           controller_state_topic_by_id(state, topic_id) == NULL;
}

const struct controller_user *controller_state_user(const struct controller_state *state,
                                                    const char *name)
{
    size_t at = user_position(state, name);
    if (at < state->users_count && strcmp(state->users[at].name, name) == 0) {
        return &state->users[at];
    }
    return NULL;
}

const struct controller_producer *
controller_state_producer_by_name(const struct controller_state *state, const char *name)
{
    size_t at = producer_position(state, name);
    if (at < state->producers_count && strcmp(state->producers[at].name, name) == 0) {
        return &state->producers[at];
    }
    return NULL;
}

const struct controller_topic *controller_state_topic_at(const struct controller_state *state,
                                                         size_t i)
{
    ETHER_ASSERT(i < state->topics_count);
    return state->topics_by_name[i];
}

const char *controller_topic_config(const struct controller_topic *topic,
                                    enum controller_topic_config config)
{
    ETHER_ASSERT((int)config >= 0);
    ETHER_ASSERT(config < CONTROLLER_TOPIC_CONFIGS_COUNT);
    return topic->configs[config];
}

void controller_state_broker_replicas(const struct controller_state *state, uint32_t broker_id,
                                      struct controller_replica **replicas, size_t *count)
{
    struct controller_replica *found = NULL;
    size_t found_count = 0;
    size_t capacity = 0;
    /* topics_by_id and partitions in order give group id order. */
    for (size_t t = 0; t < state->topics_count; t++) {
        const struct controller_topic *topic = state->topics_by_id[t];
        for (uint32_t p = 0; p < topic->partitions_count; p++) {
            const struct controller_partition *partition = &topic->partitions[p];
            for (uint32_t r = 0; r < partition->replicas_count; r++) {
                if (partition->replica_ids[r] != broker_id) {
                    continue;
                }
                if (found_count == capacity) {
                    capacity = capacity == 0 ? 16 : capacity * 2;
                    found = ether_realloc(found, capacity * sizeof *found);
                }
                found[found_count++] = (struct controller_replica){
                    .topic_id = topic->topic_id,
                    .partition = p,
                    .group_id = controller_group_id(topic->topic_id, p),
                    .preferred_leader = r == 0,
                };
            }
        }
    }
    *replicas = found;
    *count = found_count;
}

static Ether__TopicMetadata *topic_metadata_make(const struct controller_topic *topic)
{
    Ether__TopicMetadata *out = ether_malloc(sizeof *out);
    *out = (Ether__TopicMetadata)ETHER__TOPIC_METADATA__INIT;
    out->name = ether_strdup(topic->name);
    out->n_partitions = topic->partitions_count;
    out->partitions = ether_calloc(topic->partitions_count, sizeof *out->partitions);
    for (uint32_t p = 0; p < topic->partitions_count; p++) {
        const struct controller_partition *partition = &topic->partitions[p];
        Ether__PartitionMetadata *out_partition = ether_malloc(sizeof *out_partition);
        *out_partition = (Ether__PartitionMetadata)ETHER__PARTITION_METADATA__INIT;
        out_partition->partition = p;
        out_partition->n_replicas = partition->replicas_count;
        out_partition->replicas =
            ether_calloc(partition->replicas_count, sizeof *out_partition->replicas);
        memcpy(out_partition->replicas, partition->replica_ids,
               partition->replicas_count * sizeof *partition->replica_ids);
        out->partitions[p] = out_partition;
    }
    out->configs = ether_calloc(CONTROLLER_TOPIC_CONFIGS_COUNT, sizeof *out->configs);
    for (int i = 0; i < CONTROLLER_TOPIC_CONFIGS_COUNT; i++) {
        if (topic->configs[i] == NULL) {
            continue;
        }
        Ether__TopicMetadata__ConfigsEntry *entry = ether_malloc(sizeof *entry);
        *entry = (Ether__TopicMetadata__ConfigsEntry)ETHER__TOPIC_METADATA__CONFIGS_ENTRY__INIT;
        entry->key = ether_strdup(config_keys[i]);
        entry->value = ether_strdup(topic->configs[i]);
        out->configs[out->n_configs++] = entry;
    }
    return out;
}

static Ether__TopicMetadata *topic_metadata_missing(const char *name)
{
    Ether__TopicMetadata *out = ether_malloc(sizeof *out);
    *out = (Ether__TopicMetadata)ETHER__TOPIC_METADATA__INIT;
    out->name = ether_strdup(name);
    out->error = ETHER_ERR_NOT_FOUND;
    return out;
}

void controller_state_metadata(const struct controller_state *state,
                               const Ether__MetadataRequest *request,
                               Ether__MetadataResponse **response)
{
    Ether__MetadataResponse *out = ether_malloc(sizeof *out);
    *out = (Ether__MetadataResponse)ETHER__METADATA_RESPONSE__INIT;

    out->n_brokers = state->brokers_count;
    out->brokers = ether_calloc(state->brokers_count, sizeof *out->brokers);
    for (size_t i = 0; i < state->brokers_count; i++) {
        const struct controller_broker *broker = &state->brokers[i];
        Ether__BrokerAddress *address = ether_malloc(sizeof *address);
        *address = (Ether__BrokerAddress)ETHER__BROKER_ADDRESS__INIT;
        address->broker_id = broker->broker_id;
        address->host = ether_strdup(broker->host);
        address->port = broker->port;
        address->rack = ether_strdup(broker->rack);
        address->incarnation = broker->incarnation;
        out->brokers[i] = address;
    }

    bool all = request == NULL || request->n_topics == 0;
    size_t topics_count = all ? state->topics_count : request->n_topics;
    out->n_topics = topics_count;
    out->topics = ether_calloc(topics_count, sizeof *out->topics);
    for (size_t i = 0; i < topics_count; i++) {
        if (all) {
            out->topics[i] = topic_metadata_make(state->topics_by_name[i]);
            continue;
        }
        const struct controller_topic *topic = topic_find(state, request->topics[i]);
        out->topics[i] =
            topic != NULL ? topic_metadata_make(topic) : topic_metadata_missing(request->topics[i]);
    }
    *response = out;
}
