/*
 * controller_state.h: the state machine of the controller, Raft group 0.
 *
 * The controller group's committed entries are ControllerCommands
 * (proto/ether.proto). Every broker applies them in log order with
 * controller_state_apply and so holds the same cluster metadata: registered
 * brokers, topics with their ids, configs and replica assignment, the
 * producer-id counter, the named producers, users and ACL bindings. The
 * module is pure and deterministic: no I/O, no clock, no randomness, no hash
 * order; everything is ordered by broker id or topic name. Two states that
 * applied the same entries encode to the same snapshot bytes.
 *
 * Where decisions are made. The leader's broker code turns a client request
 * into a command that carries only what the client asked for, proposes it, and
 * answers the client from the controller_apply_result of its own apply.
 * Everything that depends on the state (does the topic exist, how many live
 * brokers are there, which brokers get which replicas) is decided inside
 * apply, from the state at that log index, identically on every broker:
 *   - a leader's view at proposal time can be stale by commit time (two
 *     creates in flight would both see the same free name and the same load);
 *     at apply time the entries are totally ordered;
 *   - followers need not trust and re-validate an assignment chosen elsewhere;
 *   - commands stay small.
 * The price: the assignment algorithm is part of the replicated semantics.
 * Replaying an old entry must give the old answer, so a new algorithm gets a
 * new CreateTopic.assignment_version (the leader picks it only once every
 * broker knows it); an unknown version is refused with ETHER_ERR_UNSUPPORTED.
 *
 * Replica assignment, version 1 (controller_assign in assignment.c).
 * Candidates are the live (registered, not fenced) brokers, by id. Loads are
 * counted over every existing partition: leaders[b] = partitions whose first
 * replica is b, replicas[b] = partitions that have b as a replica. For each
 * new partition in order:
 *   - the preferred leader is the candidate with the fewest leaders, then the
 *     fewest replicas, then the lowest id;
 *   - the other R-1 replicas are the candidates (not the leader) with the
 *     fewest replicas; ties go to the first one on the ring of candidate ids
 *     that starts after the leader, shifted by the number of partitions the
 *     leader already leads (so a leader's followers rotate and a failed
 *     broker's leaderships spread over several brokers);
 *   - the counts are updated before the next partition.
 * Guarantee: preferred-leader counts of the live brokers move toward balance
 * with every partition created; while the live set does not change and no
 * topic is deleted they differ by at most one across live brokers at all
 * times (each new leadership goes to a broker with the minimum count). With
 * 3 brokers, 6 partitions and R = 3 every broker holds 6 replicas and 2
 * preferred leaderships. A newly registered broker is filled first.
 *
 * Liveness. The state machine has no clock: the controller leader's broker
 * code decides from heartbeats that a broker is gone and proposes
 * FenceBroker{id, incarnation}; the broker's next RegisterBroker unfences
 * it. A fenced broker keeps its replicas (nothing here moves an existing
 * assignment) but gets no new ones, and does not count toward the live
 * brokers a replication factor is checked against.
 *
 * Group ids. Partition p (0-based) of topic t is Raft group
 *   controller_group_id(t, p) = ((uint64_t)t << 32) | (p + 1)
 * and group 0 is the controller itself. Topic ids start at 1 and are never
 * reused, so a group id is never reused either: a group id whose topic id is
 * below next_topic_id and is not found belongs to a deleted topic.
 *
 * Named producers. InitProducer{name} gives a producer that names itself the
 * same id every time, with the epoch one higher than the last time, so the
 * partitions fence its older incarnations (PRODUCER_FENCED). An unknown name
 * gets a fresh id from next_producer_id, the counter producer-id blocks come
 * from, so a named producer's id never collides with an unnamed one's; its
 * epoch starts at 0. Epochs are int16 on the wire: a name whose epoch is
 * already CONTROLLER_PRODUCER_EPOCH_MAX gets a fresh id with epoch 0 instead
 * (a new id is as good as a new epoch for fencing: the old id simply stops
 * being used). Names are never forgotten (there is no expiry; the count is
 * bounded by CONTROLLER_PRODUCERS_MAX).
 *
 * Users and ACLs. UpsertUser stores a user's SCRAM-SHA-256 credential (salt,
 * iterations, StoredKey, ServerKey; common/scram.h), never a password: the
 * leader's broker derives it before proposing. An UpsertUser for an existing
 * user is EXISTS unless it says replace (which also creates a missing one); a
 * mechanism other than SCRAM-SHA-256 is UNSUPPORTED; the name "*" (every
 * principal in an ACL) is INVALID_ARGUMENT. The unknown-user secret: while the
 * state has none, the leader puts CONTROLLER_UNKNOWN_USER_SECRET_BYTES random
 * bytes in the UpsertUser it proposes; the first accepted UpsertUser that
 * carries one stores it, later ones' are ignored (two leaders may race; the
 * log order picks), a length other than 0 or
 * CONTROLLER_UNKNOWN_USER_SECRET_BYTES is INVALID_ARGUMENT, and nothing
 * removes it. Every broker derives the made-up salt of a user that does not
 * exist from it, so the brokers answer a login for an unknown user alike and
 * comparing them does not tell which users exist. DeleteUser removes the
 * user (NOT_FOUND when there is none). CreateAcl / DeleteAcl add and remove
 * one ACL binding (broker/acl.h); an invalid binding is INVALID_ARGUMENT with
 * acl_binding_validate's sentence, an identical one EXISTS, a missing one
 * NOT_FOUND. Deleting a user leaves its ACLs (as in Kafka: a principal may
 * also come from a certificate).
 *
 * Owns: every broker, topic, partition, user, ACL and string of the state, and the
 * unknown-user secret (freed, the secret wiped, by controller_state_free). Pointers returned by the
 * queries stay valid until the next apply, snapshot decode or free.
 *
 * Invariants (controller_state_check verifies them):
 *   - brokers are sorted by id, ids >= 1, unique; host, port, rack valid;
 *     1 <= incarnation <= UINT32_MAX (raft node ids are broker_id << 32 |
 *     incarnation);
 *   - topics are sorted by name (byte order), names valid and unique; topic
 *     ids unique and in [1, next_topic_id);
 *   - every partition has 1..CONTROLLER_REPLICATION_FACTOR_MAX distinct
 *     replicas, all registered brokers;
 *   - next_producer_id >= 1 and only grows: blocks never overlap;
 *   - producers are sorted by name (byte order), names valid and unique; ids
 *     unique, >= 1 and below next_producer_id; 0 <= epoch <=
 *     CONTROLLER_PRODUCER_EPOCH_MAX;
 *   - users are sorted by name (byte order), names unique and valid
 *     (ether_scram_user_name_valid); iterations in [ETHER_SCRAM_ITERATIONS_MIN,
 *     ETHER_SCRAM_ITERATIONS_MAX]; 1..ETHER_SCRAM_SALT_BYTES_MAX salt bytes;
 *     StoredKey and ServerKey of ETHER_SCRAM_KEY_BYTES each (in a snapshot too,
 *     where a user is a ControllerUpsertUser with mechanism SCRAM-SHA-256 and
 *     replace false);
 *   - ACL bindings are valid (acl_binding_validate), sorted by
 *     acl_binding_compare and unique;
 *   - has_unknown_user_secret never goes back to false and the secret never
 *     changes once set; without one its bytes are zero;
 *   - a refused or malformed command leaves the state unchanged except for
 *     applied_index.
 */
#ifndef ETHER_BROKER_CONTROLLER_STATE_H
#define ETHER_BROKER_CONTROLLER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/acl.h"
#include "common/buf.h"
#include "common/panic.h"
#include "common/scram.h"
#include "proto/proto.h"

enum {
    CONTROLLER_BROKERS_MAX = 1024,
    CONTROLLER_HOST_BYTES_MAX = 255,
    CONTROLLER_RACK_BYTES_MAX = 64,
    CONTROLLER_TOPIC_NAME_BYTES_MAX = 249,
    CONTROLLER_TOPIC_PARTITIONS_MAX = 10000,
    CONTROLLER_PARTITIONS_TOTAL_MAX = 100000,
    CONTROLLER_REPLICATION_FACTOR_MAX = 7,
    CONTROLLER_PRODUCER_ID_BLOCK_SIZE_MAX = 1000000,
    CONTROLLER_PRODUCER_NAME_BYTES_MAX = 249,
    CONTROLLER_PRODUCER_EPOCH_MAX = INT16_MAX,
    CONTROLLER_PRODUCERS_MAX = 1000000,
    CONTROLLER_USERS_MAX = 100000,
    CONTROLLER_ACLS_MAX = 100000,
    CONTROLLER_UNKNOWN_USER_SECRET_BYTES = 32,
    CONTROLLER_ASSIGNMENT_VERSION = 1,
    /* The newest snapshot version: 2 added the named producers, 3 users, ACLs and the
     * unknown-user secret; older snapshots (none of them) still decode. */
    CONTROLLER_SNAPSHOT_VERSION = 3,
    CONTROLLER_MESSAGE_BYTES_MAX = 160,
};

/*
 * The topic configs the controller accepts, sorted by name. A config that is
 * not set takes the broker's default. Values are stored canonically (integers
 * re-printed in decimal; "delete,compact" as "compact,delete").
 * XX(NAME, "key")
 *   cleanup.policy     delete | compact | compact,delete
 *   max.message.bytes  largest record batch, [52, 2^31-1]
 *   retention.bytes    per partition, -1 (unlimited) or [0, 2^63-1]
 *   retention.ms       -1 (unlimited) or [0, 2^63-1]
 *   segment.bytes      [1024, 2^31-1]
 */
#define CONTROLLER_TOPIC_CONFIG_MAP(XX)        \
    XX(CLEANUP_POLICY, "cleanup.policy")       \
    XX(MAX_MESSAGE_BYTES, "max.message.bytes") \
    XX(RETENTION_BYTES, "retention.bytes")     \
    XX(RETENTION_MS, "retention.ms")           \
    XX(SEGMENT_BYTES, "segment.bytes")

enum controller_topic_config {
#define CONTROLLER_TOPIC_CONFIG_ENUM(name, key) CONTROLLER_TOPIC_CONFIG_##name,
    CONTROLLER_TOPIC_CONFIG_MAP(CONTROLLER_TOPIC_CONFIG_ENUM)
#undef CONTROLLER_TOPIC_CONFIG_ENUM
        CONTROLLER_TOPIC_CONFIGS_COUNT
};

struct controller_broker {
    uint32_t broker_id;
    char *host;
    uint16_t port;
    char *rack; /* "" when none */
    uint64_t incarnation;
    uint64_t registered_index; /* log index of the registration that set incarnation */
    bool fenced;               /* not a candidate for new replicas */
};

struct controller_partition {
    uint32_t replicas_count;
    uint32_t replica_ids[CONTROLLER_REPLICATION_FACTOR_MAX]; /* [0] is the preferred leader */
    /* The replicas' incarnations when the partition was created: the founding members of
     * its Raft group, so every replica bootstraps the group with the same configuration
     * even if a broker has since come back with an empty disk and a new incarnation. */
    uint32_t replica_incarnations[CONTROLLER_REPLICATION_FACTOR_MAX];
};

struct controller_topic {
    char *name;
    uint32_t topic_id;
    uint64_t created_index;
    uint32_t partitions_count;
    struct controller_partition *partitions;       /* index = partition number */
    char *configs[CONTROLLER_TOPIC_CONFIGS_COUNT]; /* NULL: not set */
};

/* A producer that names itself (InitProducerIdRequest.producer_name). */
struct controller_producer {
    char *name;
    uint64_t producer_id;
    int16_t producer_epoch;
};

/* A user who logs in with SCRAM-SHA-256. */
struct controller_user {
    char *name;
    struct ether_scram_credential credential;
};

/* Read the fields, change them only through apply and snapshot decode. */
struct controller_state {
    uint64_t applied_index;
    uint32_t next_topic_id;
    uint64_t next_producer_id;
    struct controller_broker *brokers; /* sorted by broker_id */
    size_t brokers_count;
    struct controller_topic **topics_by_name; /* sorted by name */
    struct controller_topic **topics_by_id;   /* the same topics, sorted by topic_id */
    size_t topics_count;
    size_t partitions_total_count;
    struct controller_producer *producers; /* sorted by name */
    size_t producers_count;
    struct controller_user *users; /* sorted by name */
    size_t users_count;
    struct acl_binding *acls; /* sorted by acl_binding_compare; the state owns the strings */
    size_t acls_count;
    /* Made-up credentials of unknown users derive from it; set once, by the first UpsertUser
     * that carries one, never removed. All zero while has_unknown_user_secret is false. */
    bool has_unknown_user_secret;
    uint8_t unknown_user_secret[CONTROLLER_UNKNOWN_USER_SECRET_BYTES];
};

enum controller_command_type {
    CONTROLLER_COMMAND_NONE = 0, /* the bytes were not a command */
    CONTROLLER_COMMAND_REGISTER_BROKER,
    CONTROLLER_COMMAND_FENCE_BROKER,
    CONTROLLER_COMMAND_CREATE_TOPIC,
    CONTROLLER_COMMAND_DELETE_TOPIC,
    CONTROLLER_COMMAND_ALTER_TOPIC_CONFIG,
    CONTROLLER_COMMAND_ALLOCATE_PRODUCER_ID_BLOCK,
    CONTROLLER_COMMAND_INIT_PRODUCER,
    CONTROLLER_COMMAND_UPSERT_USER,
    CONTROLLER_COMMAND_DELETE_USER,
    CONTROLLER_COMMAND_CREATE_ACL,
    CONTROLLER_COMMAND_DELETE_ACL,
};

/* What applying one entry did, for the leader to answer its client. */
struct controller_apply_result {
    int error; /* ETHER_OK or why the command was refused (the state is unchanged) */
    char message[CONTROLLER_MESSAGE_BYTES_MAX]; /* a sentence when error != 0, else "" */
    enum controller_command_type type;
    uint32_t broker_id;            /* REGISTER_BROKER, FENCE_BROKER, ALLOCATE_PRODUCER_ID_BLOCK */
    uint64_t previous_incarnation; /* REGISTER_BROKER: 0 for a first registration */
    uint32_t topic_id;             /* CREATE_TOPIC: the new id; DELETE_TOPIC: the removed one */
    uint64_t producer_id_first;    /* ALLOCATE_PRODUCER_ID_BLOCK: ids [first, first + count) */
    uint64_t producer_id_count;
    uint64_t producer_id;   /* INIT_PRODUCER: the name's id (>= 1) */
    int16_t producer_epoch; /* INIT_PRODUCER: its new epoch */
};

/* An empty state: no brokers, no topics, next_topic_id 1, next_producer_id 1. */
void controller_state_init(struct controller_state *state);

/* Frees everything the state owns; the state is then as after init. */
void controller_state_free(struct controller_state *state);

/*
 * Applies the committed entry at log `index` (> state->applied_index; the
 * caller passes entries in log order). The bytes are untrusted: a malformed
 * command gets result->error ETHER_ERR_CORRUPT, one that is well formed but
 * not understood by this build (an unknown command kind or field from a newer
 * broker) ETHER_ERR_UNSUPPORTED, a refused one ETHER_ERR_INVALID_ARGUMENT,
 * ETHER_ERR_EXISTS, ETHER_ERR_NOT_FOUND, ETHER_ERR_TOO_LARGE or
 * ETHER_ERR_UNSUPPORTED with a sentence in result->message. Whatever the
 * outcome, every broker reaches the same result, the entry counts as applied
 * (applied_index = index) and a refused command changes nothing else.
 */
void controller_state_apply(struct controller_state *state, const uint8_t *command,
                            size_t command_bytes, uint64_t index,
                            struct controller_apply_result *result);

/* ---- snapshots ---------------------------------------------------------------------- */

/*
 * Snapshot layout:
 *   OFFSET SIZE DESCRIPTION
 *        0    4 crc32c of bytes [4, end)
 *        4    - ControllerSnapshot (proto/ether.proto), lists sorted as
 *               documented there
 * Versions: 1 predates named producers, 2 users, ACLs and the unknown-user
 * secret; one that carries what its version predates is corrupt. Decode takes
 * 1 to CONTROLLER_SNAPSHOT_VERSION. Encode writes the oldest version that can
 * hold the state, for rolling upgrades: 2 while the state has no users, no
 * ACLs and no unknown-user secret (a broker of the previous release reads it),
 * else 3. The version is a function of the state, so equal states still give
 * equal bytes.
 * Appends the snapshot of `state` to `out`.
 */
void controller_state_snapshot_encode(const struct controller_state *state, struct ether_buf *out);

/*
 * Replaces the content of `state` (initialised) with the snapshot in
 * data[0, size_bytes). Returns 0; ETHER_ERR_CORRUPT when the bytes fail the
 * checksum, do not decode, or describe a state that breaks an invariant;
 * ETHER_ERR_UNSUPPORTED for a newer snapshot version. On error `state` is
 * unchanged.
 */
int controller_state_snapshot_decode(const uint8_t *data, size_t size_bytes,
                                     struct controller_state *state);

/* Verifies every invariant listed at the top; returns 0 or ETHER_ERR_CORRUPT. */
int controller_state_check(const struct controller_state *state);

/* ---- queries ------------------------------------------------------------------------ */

/* NULL when not registered. */
const struct controller_broker *controller_state_broker(const struct controller_state *state,
                                                        uint32_t broker_id);

/* NULL when there is no such topic. */
const struct controller_topic *controller_state_topic_by_name(const struct controller_state *state,
                                                              const char *name);
const struct controller_topic *controller_state_topic_by_id(const struct controller_state *state,
                                                            uint32_t topic_id);

/* True when `topic_id` was handed out and its topic has since been deleted. */
bool controller_state_topic_deleted(const struct controller_state *state, uint32_t topic_id);

/* NULL when there is no such user. */
const struct controller_user *controller_state_user(const struct controller_state *state,
                                                    const char *name);

/* NULL when no producer of that name was ever initialised. */
const struct controller_producer *
controller_state_producer_by_name(const struct controller_state *state, const char *name);

/* The i-th topic in name order, i < topics_count. */
const struct controller_topic *controller_state_topic_at(const struct controller_state *state,
                                                         size_t i);

/* The stored value of a topic config, NULL when not set. */
const char *controller_topic_config(const struct controller_topic *topic,
                                    enum controller_topic_config config);

/* "retention.ms" for CONTROLLER_TOPIC_CONFIG_RETENTION_MS. */
const char *controller_topic_config_key(enum controller_topic_config config);

/* One replica a broker must host. */
struct controller_replica {
    uint32_t topic_id;
    uint32_t partition;
    uint64_t group_id;
    bool preferred_leader; /* the broker is the partition's first replica */
};

/*
 * The replicas `broker_id` hosts, ordered by group id. On return the caller
 * owns *replicas (NULL when none; free with ether_free).
 */
void controller_state_broker_replicas(const struct controller_state *state, uint32_t broker_id,
                                      struct controller_replica **replicas, size_t *count);

/*
 * Builds the controller's part of a METADATA answer: every registered broker
 * and, for each topic the request names (all topics in name order when it
 * names none, or `request` is NULL), its partitions, replicas and configs; an unknown name gets a
 * TopicMetadata with error ETHER_ERR_NOT_FOUND. leader_id, leader_term, the
 * in-sync replicas, offsets, controller_id and cluster_id are left zero or
 * empty for the partition manager to fill. The caller owns *response and
 * frees it with proto_message_free.
 */
void controller_state_metadata(const struct controller_state *state,
                               const Ether__MetadataRequest *request,
                               Ether__MetadataResponse **response);

/* ---- group ids ---------------------------------------------------------------------- */

static inline uint64_t controller_group_id(uint32_t topic_id, uint32_t partition)
{
    ETHER_ASSERT(topic_id >= 1);
    ETHER_ASSERT(partition < UINT32_MAX);
    return ((uint64_t)topic_id << 32) | ((uint64_t)partition + 1);
}

/* The inverse of controller_group_id; false for group 0 or an id it cannot produce. */
static inline bool controller_group_id_split(uint64_t group_id, uint32_t *topic_id,
                                             uint32_t *partition)
{
    uint32_t low = (uint32_t)group_id;
    uint32_t high = (uint32_t)(group_id >> 32);
    if (high == 0 || low == 0) {
        return false;
    }
    *topic_id = high;
    *partition = low - 1;
    return true;
}

#endif
