/*
 * coordinator.c: consumer group coordinators (FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
 * DescribeGroup, DeleteGroup).
 *
 * A group's coordinator is the leader of partition crc32c(group) mod N of
 * the internal topic __consumer_offsets, which the controller leader creates
 * once enough brokers have registered. Every replica of such a partition
 * keeps a group_store (the committed offsets and each group's generation)
 * built by applying the partition's records in log order, and snapshots it
 * with the partition, so the log prefix before a snapshot (older commits)
 * is removed by retention. The leader also runs each group's membership
 * state machine (broker/group.h) in memory; a new leader starts with no
 * members and with the generations the store recorded, and members find it
 * and join again.
 *
 * Writes (commits, generations, deletions) are record batches proposed to
 * the partition like a produce with acks=all: a commit is answered once it
 * is applied, so an answered commit survives any failover that Raft does.
 * Member ids carry the coordinator's broker id and Raft term, so a member of
 * an older coordinator is unknown to every later one.
 */
#include "broker/broker_internal.h"
#include "broker/security.h"

#include "broker/group.h"
#include "broker/group_store.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "proto/proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SESSION_TIMEOUT_MS_MIN = 100,
    SESSION_TIMEOUT_MS_MAX = 3600 * 1000,
    CLIENT_ID_BYTES_IN_MEMBER_ID = 64,
    GROUP_TICK_INTERVAL_MS = 100,
};

/* A JoinGroup waiting for its group's join phase to end. */
struct pending_join {
    uint64_t token;
    uint64_t connection_id;
    uint32_t correlation_id;
    struct pending_join *next;
};

/* A proposed write answered once it is applied (or failed). */
struct coordinator_write {
    struct broker_coordinator *coordinator;
    uint64_t index; /* 0 until proposed */
    uint64_t connection_id;
    uint32_t correlation_id;
    uint16_t api_key;                             /* 0: nobody waits (a generation record) */
    Ether__OffsetCommitResponse *commit_response; /* OFFSET_COMMIT: answered as is on success */
    bool detached; /* the coordinator went away: the proposal callback frees it */
    struct coordinator_write *next;
};

struct coordinator_group {
    struct group *group;
    uint32_t generation_written; /* the newest generation proposed to the log */
};

struct broker_coordinator {
    struct broker_partition *partition;
    struct group_store store;
    /* Leader only: the groups with members or recent activity, sorted by name. */
    struct coordinator_group *groups;
    size_t groups_count;
    size_t groups_capacity;
    struct pending_join *joins;
    struct coordinator_write *writes; /* by index; proposals not yet placed last */
    uint64_t next_token;
    uint64_t next_member_number;
    uint64_t last_tick_ms;
};

static const char *const OFFSETS_TOPIC = BROKER_OFFSETS_TOPIC;

bool broker_topic_is_internal(const char *topic)
{
    return strncmp(topic, "__", 2) == 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

struct broker_coordinator *broker_coordinator_new(struct broker_partition *partition)
{
    struct broker_coordinator *coordinator = ether_calloc(1, sizeof *coordinator);
    coordinator->partition = partition;
    group_store_init(&coordinator->store);
    coordinator->next_token = 1;
    return coordinator;
}

static void respond_join_error(struct broker *broker, uint64_t connection_id,
                               uint32_t correlation_id, int error)
{
    Ether__JoinGroupResponse response = ETHER__JOIN_GROUP_RESPONSE__INIT;
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)ether_strerror(error);
    broker_respond(broker, connection_id, PROTO_API_JOIN_GROUP, correlation_id, &response.base);
}

static void respond_write(struct broker *broker, struct coordinator_write *write, int error)
{
    if (write->api_key == PROTO_API_OFFSET_COMMIT) {
        Ether__OffsetCommitResponse *response = write->commit_response;
        if (error != ETHER_OK) {
            response->error = (uint32_t)error;
            response->error_message = (char *)(uintptr_t)ether_strerror(error);
            for (size_t i = 0; i < response->n_offsets; i++) {
                if (response->offsets[i]->error == ETHER_OK) {
                    response->offsets[i]->error = (uint32_t)error;
                }
            }
        }
        broker_respond(broker, write->connection_id, write->api_key, write->correlation_id,
                       &response->base);
    } else if (write->api_key == PROTO_API_DELETE_GROUP) {
        Ether__DeleteGroupResponse response = ETHER__DELETE_GROUP_RESPONSE__INIT;
        response.error = (uint32_t)error;
        response.error_message =
            (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
        broker_respond(broker, write->connection_id, write->api_key, write->correlation_id,
                       &response.base);
    }
}

static void free_commit_response(Ether__OffsetCommitResponse *response)
{
    if (response == NULL) {
        return;
    }
    for (size_t i = 0; i < response->n_offsets; i++) {
        ether_free(response->offsets[i]->topic);
        ether_free(response->offsets[i]);
    }
    ether_free(response->offsets);
    ether_free(response);
}

static void write_free(struct coordinator_write *write)
{
    free_commit_response(write->commit_response);
    ether_free(write);
}

/* Fails every waiting request: the coordinator lost its leadership or closes. */
static void drop_leader_state(struct broker_coordinator *coordinator, int error)
{
    struct broker *broker = coordinator->partition->broker;
    while (coordinator->joins != NULL) {
        struct pending_join *join = coordinator->joins;
        coordinator->joins = join->next;
        respond_join_error(broker, join->connection_id, join->correlation_id, error);
        ether_free(join);
    }
    while (coordinator->writes != NULL) {
        struct coordinator_write *write = coordinator->writes;
        coordinator->writes = write->next;
        respond_write(broker, write, error);
        if (write->index == 0) {
            /* Its proposal callback has not run yet: it frees the write. */
            write->detached = true;
            write->next = NULL;
            continue;
        }
        write_free(write);
    }
    for (size_t i = 0; i < coordinator->groups_count; i++) {
        size_t count = 0;
        struct group_completion *completions =
            group_take_completions(coordinator->groups[i].group, &count);
        group_completions_free(completions, count);
        group_free(coordinator->groups[i].group);
    }
    ether_free(coordinator->groups);
    coordinator->groups = NULL;
    coordinator->groups_count = 0;
    coordinator->groups_capacity = 0;
}

void broker_coordinator_free(struct broker_coordinator *coordinator)
{
    if (coordinator == NULL) {
        return;
    }
    drop_leader_state(coordinator, ETHER_ERR_NOT_COORDINATOR);
    group_store_free(&coordinator->store);
    ether_free(coordinator);
}

void broker_coordinator_role_changed(struct broker_coordinator *coordinator, bool was_leader,
                                     bool is_leader)
{
    if (was_leader && !is_leader) {
        drop_leader_state(coordinator, ETHER_ERR_NOT_COORDINATOR);
    }
}

/* ---- replicated state ------------------------------------------------------------------------ */

void broker_coordinator_apply_batch(struct broker_coordinator *coordinator, const uint8_t *batch,
                                    size_t batch_bytes)
{
    struct broker_partition *partition = coordinator->partition;
    struct proto_batch_header header;
    if (proto_batch_header_read(batch, batch_bytes, &header) != ETHER_OK ||
        header.compression != PROTO_COMPRESSION_NONE) {
        ether_log_warn(partition->broker->logger,
                       "partition %s/%u: skipping a batch the coordinator cannot read",
                       partition->topic_name, partition->partition);
        return;
    }
    struct proto_record_reader reader;
    proto_record_reader_init(&reader, proto_batch_records(batch),
                             batch_bytes - PROTO_BATCH_HEADER_BYTES, header.first_timestamp_ms,
                             header.record_count);
    struct proto_record record;
    int rc;
    while ((rc = proto_record_reader_next(&reader, &record)) == ETHER_OK) {
        if (record.key == NULL ||
            group_store_apply(&coordinator->store, record.key, record.key_bytes, record.value,
                              record.value != NULL ? record.value_bytes : 0) != ETHER_OK) {
            ether_log_warn(partition->broker->logger,
                           "partition %s/%u: skipping a record that is not a group record",
                           partition->topic_name, partition->partition);
        }
    }
    if (rc != ETHER_ERR_NOT_FOUND) {
        ether_log_warn(partition->broker->logger, "partition %s/%u: a batch's records are damaged",
                       partition->topic_name, partition->partition);
    }
}

void broker_coordinator_applied(struct broker_coordinator *coordinator, uint64_t index)
{
    struct broker *broker = coordinator->partition->broker;
    while (coordinator->writes != NULL && coordinator->writes->index != 0 &&
           coordinator->writes->index <= index) {
        struct coordinator_write *write = coordinator->writes;
        coordinator->writes = write->next;
        respond_write(broker, write, write->index == index ? ETHER_OK : ETHER_ERR_DROPPED);
        write_free(write);
    }
}

/*
 * The partition's snapshot state: [u32le bytes of the producer table][producer table]
 * [group store]. Only __consumer_offsets partitions use this envelope.
 */
void broker_coordinator_encode_state(const struct broker_coordinator *coordinator,
                                     const struct producer_table *producers, struct ether_buf *out)
{
    struct ether_buf table = ETHER_BUF_INIT;
    producer_table_encode(producers, &table);
    ether_buf_append_u32le(out, (uint32_t)table.length);
    ether_buf_append(out, table.data, table.length);
    ether_buf_free(&table);
    group_store_encode(&coordinator->store, out);
}

int broker_coordinator_decode_state(struct broker_coordinator *coordinator, const uint8_t *data,
                                    size_t data_bytes, struct producer_table *producers)
{
    if (data_bytes < 4) {
        return ETHER_ERR_CORRUPT;
    }
    uint32_t table_bytes = ether_get_u32le(data);
    if (table_bytes > data_bytes - 4) {
        return ETHER_ERR_CORRUPT;
    }
    int rc = group_store_decode(data + 4 + table_bytes, data_bytes - 4 - table_bytes,
                                &coordinator->store);
    if (rc != ETHER_OK) {
        return rc;
    }
    return producer_table_decode(data + 4, table_bytes, producers);
}

void broker_coordinator_reset_store(struct broker_coordinator *coordinator)
{
    group_store_free(&coordinator->store);
    group_store_init(&coordinator->store);
}

/* ---- finding the coordinator ----------------------------------------------------------------- */

static uint32_t group_partition(const struct controller_topic *topic, const char *group)
{
    return ether_crc32c(group, strlen(group)) % topic->partitions_count;
}

/* The local coordinator of `group`, or NULL with the error to answer. */
static struct broker_coordinator *coordinator_for(struct broker *broker, const char *group,
                                                  int *error)
{
    size_t length = strlen(group);
    if (length == 0 || length > GROUP_NAME_BYTES_MAX) {
        *error = ETHER_ERR_INVALID_ARGUMENT;
        return NULL;
    }
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, OFFSETS_TOPIC);
    if (topic == NULL) {
        *error = ETHER_ERR_COORDINATOR_NOT_AVAILABLE;
        return NULL;
    }
    uint64_t group_id = controller_group_id(topic->topic_id, group_partition(topic, group));
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    if (partition == NULL || partition->closing || partition->coordinator == NULL ||
        partition->status.role != RAFT_LEADER) {
        *error = ETHER_ERR_NOT_COORDINATOR;
        return NULL;
    }
    if (partition->applied_index < partition->leader_ready_index) {
        *error = ETHER_ERR_COORDINATOR_LOADING;
        return NULL;
    }
    *error = ETHER_OK;
    return partition->coordinator;
}

static void handle_find_coordinator(struct broker *broker, uint64_t connection_id,
                                    const struct proto_frame_header *header,
                                    const Ether__FindCoordinatorRequest *request)
{
    Ether__FindCoordinatorResponse response = ETHER__FIND_COORDINATOR_RESPONSE__INIT;
    Ether__BrokerAddress address = ETHER__BROKER_ADDRESS__INIT;
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, OFFSETS_TOPIC);
    size_t length = strlen(request->group);
    int error = ETHER_OK;
    if (length == 0 || length > GROUP_NAME_BYTES_MAX) {
        error = ETHER_ERR_INVALID_ARGUMENT;
    } else if (topic == NULL) {
        error = ETHER_ERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        uint32_t partition_number = group_partition(topic, request->group);
        response.partition = partition_number;
        uint64_t group_id = controller_group_id(topic->topic_id, partition_number);
        const struct broker_partition *local = broker_partition_find(broker, group_id);
        uint32_t leader = 0;
        if (local != NULL && local->status.role == RAFT_LEADER) {
            leader = broker->broker_id;
        } else {
            const struct broker_leader_hint *hint = broker_leader_hint_find(broker, group_id);
            leader = hint != NULL ? hint->leader_broker_id : 0;
        }
        const struct controller_broker *coordinator =
            leader != 0 ? controller_state_broker(&broker->controller.state, leader) : NULL;
        if (coordinator == NULL) {
            error = ETHER_ERR_COORDINATOR_NOT_AVAILABLE;
        } else {
            address.broker_id = coordinator->broker_id;
            address.host = coordinator->host;
            address.port = coordinator->port;
            address.rack = coordinator->rack;
            address.incarnation = coordinator->incarnation;
            response.coordinator = &address;
        }
    }
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
}

/* ---- groups in memory --------------------------------------------------------------------------
 */

static size_t group_position(const struct broker_coordinator *coordinator, const char *name,
                             bool *found)
{
    size_t low = 0;
    size_t high = coordinator->groups_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(coordinator->groups[middle].group->name, name);
        if (order == 0) {
            *found = true;
            return middle;
        }
        if (order < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *found = false;
    return low;
}

static uint32_t topic_partitions_count(void *context, const char *topic_name)
{
    struct broker *broker = context;
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, topic_name);
    return topic != NULL && !broker_topic_is_internal(topic_name) ? topic->partitions_count : 0;
}

static struct coordinator_group *group_find(struct broker_coordinator *coordinator,
                                            const char *name)
{
    bool found = false;
    size_t position = group_position(coordinator, name, &found);
    return found ? &coordinator->groups[position] : NULL;
}

static struct coordinator_group *group_find_or_add(struct broker_coordinator *coordinator,
                                                   const char *name)
{
    bool found = false;
    size_t position = group_position(coordinator, name, &found);
    if (found) {
        return &coordinator->groups[position];
    }
    if (coordinator->groups_count == coordinator->groups_capacity) {
        coordinator->groups_capacity =
            coordinator->groups_capacity > 0 ? coordinator->groups_capacity * 2 : 8;
        coordinator->groups = ether_realloc(coordinator->groups, coordinator->groups_capacity *
                                                                     sizeof *coordinator->groups);
    }
    memmove(&coordinator->groups[position + 1], &coordinator->groups[position],
            (coordinator->groups_count - position) * sizeof *coordinator->groups);
    struct broker *broker = coordinator->partition->broker;
    struct group_options options = {
        .initial_rebalance_delay_ms = broker->config->group_initial_rebalance_delay_ms,
        .partitions_count = topic_partitions_count,
        .partitions_count_context = broker,
    };
    uint32_t generation = group_store_generation(&coordinator->store, name);
    coordinator->groups[position] = (struct coordinator_group){
        .group = group_new(name, generation, &options),
        .generation_written = generation,
    };
    coordinator->groups_count++;
    return &coordinator->groups[position];
}

static void group_remove(struct broker_coordinator *coordinator, const char *name)
{
    bool found = false;
    size_t position = group_position(coordinator, name, &found);
    if (!found) {
        return;
    }
    struct group *group = coordinator->groups[position].group;
    size_t count = 0;
    struct group_completion *completions = group_take_completions(group, &count);
    group_completions_free(completions, count);
    group_free(group);
    memmove(&coordinator->groups[position], &coordinator->groups[position + 1],
            (coordinator->groups_count - position - 1) * sizeof *coordinator->groups);
    coordinator->groups_count--;
}

/* ---- writes
 * -------------------------------------------------------------------------------------- */

static void release_write_bytes(void *object)
{
    ether_free(object);
}

static void on_write_proposed(void *context, int rc, uint64_t index, uint64_t term,
                              uint64_t leader_hint)
{
    (void)term;
    (void)leader_hint;
    struct coordinator_write *write = context;
    if (write->detached) {
        write_free(write);
        return;
    }
    struct broker_coordinator *coordinator = write->coordinator;
    if (rc != ETHER_OK) {
        struct coordinator_write **link = &coordinator->writes;
        while (*link != write) {
            link = &(*link)->next;
        }
        *link = write->next;
        respond_write(coordinator->partition->broker, write,
                      rc == ETHER_ERR_NOT_LEADER ? ETHER_ERR_NOT_COORDINATOR : rc);
        write_free(write);
        return;
    }
    write->index = index;
}

/*
 * Proposes one batch of group records (keys[i], values[i]; an empty value is a
 * tombstone). `write` is answered when the batch is applied, or fails.
 */
static int propose_records(struct broker_coordinator *coordinator, struct coordinator_write *write,
                           const struct ether_buf *keys, const struct ether_buf *values,
                           size_t count)
{
    struct broker_partition *partition = coordinator->partition;
    int64_t now_ms = ether_clock_wall_ms();
    struct ether_buf records = ETHER_BUF_INIT;
    for (size_t i = 0; i < count; i++) {
        proto_record_append(&records, 0, (uint32_t)i, keys[i].data, keys[i].length,
                            values[i].length > 0 ? values[i].data : NULL, values[i].length, NULL,
                            0);
    }
    struct proto_batch_header header = {
        .compression = PROTO_COMPRESSION_NONE,
        .record_count = (uint32_t)count,
        .first_timestamp_ms = now_ms,
        .max_timestamp_ms = now_ms,
        .producer_id = -1,
        .producer_epoch = -1,
        .base_sequence = -1,
        .records_bytes_uncompressed = (uint32_t)records.length,
    };
    struct ether_buf batch = ETHER_BUF_INIT;
    int rc = proto_batch_write(&batch, &header, records.data, records.length);
    ether_buf_free(&records);
    if (rc != ETHER_OK) {
        ether_buf_free(&batch);
        return rc;
    }
    size_t batch_bytes = 0;
    uint8_t *bytes = ether_buf_take(&batch, &batch_bytes);
    write->coordinator = coordinator;
    /* Appended last: proposals are placed in order, after every earlier one. */
    struct coordinator_write **link = &coordinator->writes;
    while (*link != NULL) {
        link = &(*link)->next;
    }
    *link = write;
    struct broker_borrow borrow = {release_write_bytes, bytes};
    uint64_t leader_hint = 0;
    rc = broker_replica_propose(partition->replica, bytes, (uint32_t)batch_bytes, &borrow,
                                on_write_proposed, write, &leader_hint);
    if (rc != ETHER_OK) {
        *link = NULL;
        ether_free(bytes);
        return rc == ETHER_ERR_NOT_LEADER ? ETHER_ERR_NOT_COORDINATOR : rc;
    }
    return ETHER_OK;
}

/* Records a completed join phase's generation, so a later coordinator continues above it. */
static void write_generation(struct broker_coordinator *coordinator,
                             struct coordinator_group *entry)
{
    if (entry->group->generation == entry->generation_written) {
        return;
    }
    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    group_store_group_record(entry->group->name, entry->group->generation, &key, &value);
    struct coordinator_write *write = ether_calloc(1, sizeof *write);
    int rc = propose_records(coordinator, write, &key, &value, 1);
    if (rc != ETHER_OK) {
        ether_free(write);
        ether_log_warn(coordinator->partition->broker->logger,
                       "group %s: cannot record generation %" PRIu32 ": %s", entry->group->name,
                       entry->group->generation, ether_strerror(rc));
    } else {
        entry->generation_written = entry->group->generation;
    }
    ether_buf_free(&key);
    ether_buf_free(&value);
}

/* ---- membership
 * ------------------------------------------------------------------------------------ */

static void free_partition_lists(Ether__GroupTopicPartitions **lists, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        ether_free(lists[i]->partitions);
        ether_free(lists[i]);
    }
    ether_free(lists);
}

/* The wire form of a sorted partition list (topic strings borrowed from `list`). */
static Ether__GroupTopicPartitions **partition_lists_make(const struct group_partition_list *list,
                                                          size_t *count)
{
    Ether__GroupTopicPartitions **out =
        ether_calloc(list->count > 0 ? list->count : 1, sizeof *out);
    size_t topics = 0;
    for (size_t i = 0; i < list->count; i++) {
        const struct group_topic_partition *item = &list->items[i];
        if (topics == 0 || strcmp(out[topics - 1]->topic, item->topic) != 0) {
            Ether__GroupTopicPartitions *entry = ether_malloc(sizeof *entry);
            *entry = (Ether__GroupTopicPartitions)ETHER__GROUP_TOPIC_PARTITIONS__INIT;
            entry->topic = (char *)(uintptr_t)item->topic;
            entry->partitions = ether_calloc(list->count, sizeof *entry->partitions);
            out[topics++] = entry;
        }
        Ether__GroupTopicPartitions *entry = out[topics - 1];
        entry->partitions[entry->n_partitions++] = item->partition;
    }
    *count = topics;
    return out;
}

static void member_describe(const struct group_member *member, bool with_assignment,
                            Ether__GroupMember *out)
{
    *out = (Ether__GroupMember)ETHER__GROUP_MEMBER__INIT;
    out->member_id = member->member_id;
    out->client_id = member->client_id;
    out->host = member->host;
    out->n_topics = member->topics_count;
    out->topics = member->topics;
    out->session_timeout_ms = member->session_timeout_ms;
    if (with_assignment) {
        out->assignment = partition_lists_make(&member->assignment, &out->n_assignment);
    }
}

static void answer_join(struct broker *broker, struct pending_join *join, const struct group *group,
                        const struct group_completion *completion)
{
    if (completion->error != ETHER_OK) {
        respond_join_error(broker, join->connection_id, join->correlation_id, completion->error);
        return;
    }
    const struct group_member *member = group_member_find(group, completion->member_id);
    ETHER_ASSERT(member != NULL);
    Ether__JoinGroupResponse response = ETHER__JOIN_GROUP_RESPONSE__INIT;
    response.error_message = "";
    response.generation = group->generation;
    response.member_id = member->member_id;
    response.leader_id = group->leader_id;
    response.assignor = (char *)(uintptr_t)group_assignor_name(group->assignor);
    Ether__GroupMember *members = NULL;
    Ether__GroupMember **pointers = NULL;
    if (strcmp(group->leader_id, member->member_id) == 0) {
        members = ether_calloc(group->members_count, sizeof *members);
        pointers = ether_calloc(group->members_count, sizeof *pointers);
        for (size_t i = 0; i < group->members_count; i++) {
            member_describe(group->members[i], false, &members[i]);
            pointers[i] = &members[i];
        }
        response.n_members = group->members_count;
        response.members = pointers;
    }
    broker_respond(broker, join->connection_id, PROTO_API_JOIN_GROUP, join->correlation_id,
                   &response.base);
    ether_free(members);
    ether_free(pointers);
}

/* Answers what the group completed and records a new generation. */
static void settle(struct broker_coordinator *coordinator, struct coordinator_group *entry)
{
    struct broker *broker = coordinator->partition->broker;
    size_t count = 0;
    struct group_completion *completions = group_take_completions(entry->group, &count);
    for (size_t i = 0; i < count; i++) {
        struct pending_join **link = &coordinator->joins;
        while (*link != NULL && (*link)->token != completions[i].token) {
            link = &(*link)->next;
        }
        if (*link == NULL) {
            continue;
        }
        struct pending_join *join = *link;
        *link = join->next;
        answer_join(broker, join, entry->group, &completions[i]);
        ether_free(join);
    }
    group_completions_free(completions, count);
    write_generation(coordinator, entry);
}

static void make_member_id(struct broker_coordinator *coordinator, const char *client_id, char *out,
                           size_t out_size)
{
    struct broker_partition *partition = coordinator->partition;
    snprintf(out, out_size, "%.*s-%" PRIu32 ".%" PRIu64 ".%" PRIu64,
             (int)CLIENT_ID_BYTES_IN_MEMBER_ID, client_id[0] != '\0' ? client_id : "member",
             partition->broker->broker_id, partition->status.term,
             ++coordinator->next_member_number);
}

static void handle_join(struct broker *broker, uint64_t connection_id,
                        const struct proto_frame_header *header,
                        const Ether__JoinGroupRequest *request)
{
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    enum group_assignor_kind assignor = GROUP_ASSIGNOR_RANGE;
    if (error == ETHER_OK && request->assignor[0] != '\0' &&
        group_assignor_parse(request->assignor, &assignor) != ETHER_OK) {
        error = ETHER_ERR_INVALID_ARGUMENT;
    }
    if (error == ETHER_OK &&
        (request->session_timeout_ms < SESSION_TIMEOUT_MS_MIN ||
         request->session_timeout_ms > SESSION_TIMEOUT_MS_MAX || request->n_topics == 0)) {
        error = ETHER_ERR_INVALID_ARGUMENT;
    }
    if (error != ETHER_OK) {
        respond_join_error(broker, connection_id, header->correlation_id, error);
        return;
    }
    struct coordinator_group *entry = group_find_or_add(coordinator, request->group);
    size_t owned_count = 0;
    for (size_t i = 0; i < request->n_owned; i++) {
        owned_count += request->owned[i]->n_partitions;
    }
    struct group_topic_partition *owned =
        ether_calloc(owned_count > 0 ? owned_count : 1, sizeof *owned);
    size_t filled = 0;
    for (size_t i = 0; i < request->n_owned; i++) {
        for (size_t p = 0; p < request->owned[i]->n_partitions; p++) {
            owned[filled++] = (struct group_topic_partition){request->owned[i]->topic,
                                                             request->owned[i]->partitions[p]};
        }
    }
    char new_member_id[CLIENT_ID_BYTES_IN_MEMBER_ID + 64];
    make_member_id(coordinator, request->client_id, new_member_id, sizeof new_member_id);
    uint32_t rebalance_timeout_ms = request->rebalance_timeout_ms > 0
                                        ? request->rebalance_timeout_ms
                                        : request->session_timeout_ms;
    struct group_join join = {
        .member_id = request->member_id,
        .new_member_id = new_member_id,
        .client_id = request->client_id,
        .host = "",
        .session_timeout_ms = request->session_timeout_ms,
        .rebalance_timeout_ms = rebalance_timeout_ms,
        .topics = (const char *const *)request->topics,
        .topics_count = request->n_topics,
        .assignor = assignor,
        .cooperative = request->cooperative,
        .owned = owned,
        .owned_count = owned_count,
    };
    uint64_t token = coordinator->next_token++;
    struct pending_join *pending = ether_calloc(1, sizeof *pending);
    pending->token = token;
    pending->connection_id = connection_id;
    pending->correlation_id = header->correlation_id;
    pending->next = coordinator->joins;
    coordinator->joins = pending;
    error = group_join(entry->group, &join, token, uv_now(broker->loop));
    ether_free(owned);
    if (error != ETHER_OK) {
        coordinator->joins = pending->next;
        ether_free(pending);
        respond_join_error(broker, connection_id, header->correlation_id, error);
        if (entry->group->members_count == 0 &&
            !group_store_has_group(&coordinator->store, request->group)) {
            group_remove(coordinator, request->group);
        }
        return;
    }
    settle(coordinator, entry);
}

static void handle_sync(struct broker *broker, uint64_t connection_id,
                        const struct proto_frame_header *header,
                        const Ether__SyncGroupRequest *request)
{
    Ether__SyncGroupResponse response = ETHER__SYNC_GROUP_RESPONSE__INIT;
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    struct coordinator_group *entry =
        coordinator != NULL ? group_find(coordinator, request->group) : NULL;
    if (error == ETHER_OK && entry == NULL) {
        error = ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    if (error == ETHER_OK) {
        error =
            group_sync(entry->group, request->member_id, request->generation, uv_now(broker->loop));
    }
    if (error == ETHER_OK) {
        const struct group_member *member = group_member_find(entry->group, request->member_id);
        response.assignment = partition_lists_make(&member->assignment, &response.n_assignment);
    }
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    if (response.assignment != NULL) {
        free_partition_lists(response.assignment, response.n_assignment);
    }
    if (entry != NULL) {
        settle(coordinator, entry);
    }
}

static void handle_heartbeat(struct broker *broker, uint64_t connection_id,
                             const struct proto_frame_header *header,
                             const Ether__HeartbeatRequest *request)
{
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    struct coordinator_group *entry =
        coordinator != NULL ? group_find(coordinator, request->group) : NULL;
    if (error == ETHER_OK) {
        error = entry != NULL ? group_heartbeat(entry->group, request->member_id,
                                                request->generation, uv_now(broker->loop))
                              : ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    Ether__HeartbeatResponse response = ETHER__HEARTBEAT_RESPONSE__INIT;
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
}

static void handle_leave(struct broker *broker, uint64_t connection_id,
                         const struct proto_frame_header *header,
                         const Ether__LeaveGroupRequest *request)
{
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    struct coordinator_group *entry =
        coordinator != NULL ? group_find(coordinator, request->group) : NULL;
    if (error == ETHER_OK) {
        error = entry != NULL ? group_leave(entry->group, request->member_id, uv_now(broker->loop))
                              : ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    if (error == ETHER_OK) {
        ether_log_info(broker->logger, "group %s: member %s left", request->group,
                       request->member_id);
    }
    Ether__LeaveGroupResponse response = ETHER__LEAVE_GROUP_RESPONSE__INIT;
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    if (entry != NULL) {
        settle(coordinator, entry);
    }
}

/* ---- offsets ------------------------------------------------------------------------------------
 */

static Ether__GroupPartitionOffset *offset_entry(const char *topic, uint32_t partition)
{
    Ether__GroupPartitionOffset *entry = ether_malloc(sizeof *entry);
    *entry = (Ether__GroupPartitionOffset)ETHER__GROUP_PARTITION_OFFSET__INIT;
    entry->topic = ether_strdup(topic);
    entry->partition = partition;
    entry->offset = -1;
    return entry;
}

/* Why this offset cannot be committed, or ETHER_OK. */
static int commit_entry_error(struct broker *broker, const Ether__GroupPartitionOffset *wanted)
{
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, wanted->topic);
    if (topic == NULL || wanted->partition >= topic->partitions_count) {
        return ETHER_ERR_NOT_FOUND;
    }
    if (wanted->offset < 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (strlen(wanted->metadata) > GROUP_OFFSET_METADATA_BYTES_MAX) {
        return ETHER_ERR_TOO_LARGE;
    }
    return ETHER_OK;
}

static void handle_offset_commit(struct broker *broker, uint64_t connection_id,
                                 const struct proto_frame_header *header,
                                 const Ether__OffsetCommitRequest *request)
{
    Ether__OffsetCommitResponse *response = ether_malloc(sizeof *response);
    *response = (Ether__OffsetCommitResponse)ETHER__OFFSET_COMMIT_RESPONSE__INIT;
    response->error_message = "";
    response->offsets =
        ether_calloc(request->n_offsets > 0 ? request->n_offsets : 1, sizeof *response->offsets);
    response->n_offsets = request->n_offsets;
    for (size_t i = 0; i < request->n_offsets; i++) {
        response->offsets[i] =
            offset_entry(request->offsets[i]->topic, request->offsets[i]->partition);
        response->offsets[i]->offset = request->offsets[i]->offset;
    }
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    uint32_t generation = 0;
    if (error == ETHER_OK) {
        struct coordinator_group *entry = group_find(coordinator, request->group);
        bool administrative = request->generation < 0 && request->member_id[0] == '\0';
        if (entry != NULL) {
            error = group_commit_allowed(entry->group, request->member_id, request->generation,
                                         uv_now(broker->loop));
            generation = administrative ? 0 : entry->group->generation;
        } else if (!administrative) {
            error = ETHER_ERR_UNKNOWN_MEMBER_ID;
        }
    }
    struct ether_buf *keys = ether_calloc(request->n_offsets + 1, sizeof *keys);
    struct ether_buf *values = ether_calloc(request->n_offsets + 1, sizeof *values);
    size_t records = 0;
    int64_t now_ms = ether_clock_wall_ms();
    for (size_t i = 0; i < request->n_offsets && error == ETHER_OK; i++) {
        const Ether__GroupPartitionOffset *wanted = request->offsets[i];
        int entry_error = commit_entry_error(broker, wanted);
        response->offsets[i]->error = (uint32_t)entry_error;
        if (entry_error != ETHER_OK) {
            continue;
        }
        struct group_offset offset = {
            .offset = wanted->offset,
            .commit_timestamp_ms = now_ms,
            .generation = generation,
            .metadata = wanted->metadata,
        };
        response->offsets[i]->commit_timestamp_ms = now_ms;
        group_store_offset_record(request->group, wanted->topic, wanted->partition, &offset,
                                  &keys[records], &values[records]);
        records++;
    }
    if (error == ETHER_OK && records > 0) {
        struct coordinator_write *write = ether_calloc(1, sizeof *write);
        write->connection_id = connection_id;
        write->correlation_id = header->correlation_id;
        write->api_key = header->api_key;
        write->commit_response = response;
        error = propose_records(coordinator, write, keys, values, records);
        if (error == ETHER_OK) {
            response = NULL; /* answered when applied */
        } else {
            write->commit_response = NULL;
            ether_free(write);
        }
    }
    for (size_t i = 0; i < request->n_offsets + 1; i++) {
        ether_buf_free(&keys[i]);
        ether_buf_free(&values[i]);
    }
    ether_free(keys);
    ether_free(values);
    if (response != NULL) {
        struct coordinator_write immediate = {
            .connection_id = connection_id,
            .correlation_id = header->correlation_id,
            .api_key = header->api_key,
            .commit_response = response,
        };
        respond_write(broker, &immediate, error);
        free_commit_response(response);
    }
}

struct offsets_collector {
    struct broker *broker;
    uint64_t connection_id; /* offsets of topics it may not describe are left out */
    const char *group;
    Ether__GroupPartitionOffset **offsets;
    size_t count;
    size_t capacity;
};

static void collect_offset(void *context, const char *topic, uint32_t partition,
                           const struct group_offset *offset)
{
    struct offsets_collector *collector = context;
    if (!broker_security_may(collector->broker, collector->connection_id, ACL_RESOURCE_TOPIC, topic,
                             ACL_OPERATION_DESCRIBE)) {
        return;
    }
    if (collector->count == collector->capacity) {
        collector->capacity = collector->capacity > 0 ? collector->capacity * 2 : 16;
        collector->offsets =
            ether_realloc(collector->offsets, collector->capacity * sizeof *collector->offsets);
    }
    Ether__GroupPartitionOffset *entry = offset_entry(topic, partition);
    entry->offset = offset->offset;
    entry->commit_timestamp_ms = offset->commit_timestamp_ms;
    entry->metadata = ether_strdup(offset->metadata);
    collector->offsets[collector->count++] = entry;
}

static void free_offsets(Ether__GroupPartitionOffset **offsets, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        ether_free(offsets[i]->topic);
        if (offsets[i]->metadata != protobuf_c_empty_string) {
            ether_free(offsets[i]->metadata);
        }
        ether_free(offsets[i]);
    }
    ether_free(offsets);
}

static void handle_offset_fetch(struct broker *broker, uint64_t connection_id,
                                const struct proto_frame_header *header,
                                const Ether__OffsetFetchRequest *request)
{
    Ether__OffsetFetchResponse response = ETHER__OFFSET_FETCH_RESPONSE__INIT;
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    struct offsets_collector collector = {
        .broker = broker, .connection_id = connection_id, .group = request->group};
    if (error == ETHER_OK && request->n_partitions == 0) {
        group_store_for_each_offset(&coordinator->store, request->group, collect_offset,
                                    &collector);
    }
    for (size_t i = 0; error == ETHER_OK && i < request->n_partitions; i++) {
        const Ether__GroupTopicPartitions *wanted = request->partitions[i];
        for (size_t p = 0; p < wanted->n_partitions; p++) {
            const struct group_offset *offset = group_store_offset(
                &coordinator->store, request->group, wanted->topic, wanted->partitions[p]);
            struct group_offset none = {.offset = -1, .metadata = ""};
            collect_offset(&collector, wanted->topic, wanted->partitions[p],
                           offset != NULL ? offset : &none);
        }
    }
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
    response.offsets = collector.offsets;
    response.n_offsets = collector.count;
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    free_offsets(collector.offsets, collector.count);
}

/* ---- listing, describing, deleting -------------------------------------------------------------
 */

struct listing_collector {
    struct broker *broker;
    uint64_t connection_id; /* groups it may not describe are left out... */
    bool every_group;       /* ...unless it may describe the cluster */
    struct broker_coordinator *coordinator;
    Ether__GroupListing **groups;
    size_t count;
    size_t capacity;
};

static void add_listing(struct listing_collector *collector, const char *name,
                        const struct group *group)
{
    if (!collector->every_group &&
        !broker_security_may(collector->broker, collector->connection_id, ACL_RESOURCE_GROUP, name,
                             ACL_OPERATION_DESCRIBE)) {
        return;
    }
    for (size_t i = 0; i < collector->count; i++) {
        if (strcmp(collector->groups[i]->group, name) == 0) {
            return;
        }
    }
    if (collector->count == collector->capacity) {
        collector->capacity = collector->capacity > 0 ? collector->capacity * 2 : 16;
        collector->groups =
            ether_realloc(collector->groups, collector->capacity * sizeof *collector->groups);
    }
    Ether__GroupListing *listing = ether_malloc(sizeof *listing);
    *listing = (Ether__GroupListing)ETHER__GROUP_LISTING__INIT;
    listing->group = ether_strdup(name);
    listing->state =
        (char *)(uintptr_t)group_state_name(group != NULL ? group->state : GROUP_EMPTY);
    listing->members_count = group != NULL ? (uint32_t)group->members_count : 0;
    collector->groups[collector->count++] = listing;
}

static void list_stored_group(void *context, const char *name, uint32_t generation)
{
    (void)generation;
    struct listing_collector *collector = context;
    struct coordinator_group *entry = group_find(collector->coordinator, name);
    add_listing(collector, name, entry != NULL ? entry->group : NULL);
}

static void handle_list_groups(struct broker *broker, uint64_t connection_id,
                               const struct proto_frame_header *header)
{
    struct listing_collector collector = {
        .broker = broker,
        .connection_id = connection_id,
        .every_group = broker_security_may(broker, connection_id, ACL_RESOURCE_CLUSTER, "",
                                           ACL_OPERATION_DESCRIBE),
    };
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (partition->coordinator == NULL || partition->closing ||
            partition->status.role != RAFT_LEADER) {
            continue;
        }
        collector.coordinator = partition->coordinator;
        for (size_t g = 0; g < partition->coordinator->groups_count; g++) {
            const struct group *group = partition->coordinator->groups[g].group;
            add_listing(&collector, group->name, group);
        }
        group_store_for_each_group(&partition->coordinator->store, list_stored_group, &collector);
    }
    Ether__ListGroupsResponse response = ETHER__LIST_GROUPS_RESPONSE__INIT;
    response.error_message = "";
    response.groups = collector.groups;
    response.n_groups = collector.count;
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    for (size_t i = 0; i < collector.count; i++) {
        ether_free(collector.groups[i]->group);
        ether_free(collector.groups[i]);
    }
    ether_free(collector.groups);
}

static void handle_describe_group(struct broker *broker, uint64_t connection_id,
                                  const struct proto_frame_header *header,
                                  const Ether__DescribeGroupRequest *request)
{
    Ether__DescribeGroupResponse response = ETHER__DESCRIBE_GROUP_RESPONSE__INIT;
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    struct coordinator_group *entry =
        coordinator != NULL ? group_find(coordinator, request->group) : NULL;
    if (error == ETHER_OK && entry == NULL &&
        !group_store_has_group(&coordinator->store, request->group)) {
        error = ETHER_ERR_GROUP_NOT_FOUND;
    }
    Ether__GroupMember *members = NULL;
    Ether__GroupMember **pointers = NULL;
    struct offsets_collector collector = {
        .broker = broker, .connection_id = connection_id, .group = request->group};
    if (error == ETHER_OK) {
        const struct group *group = entry != NULL ? entry->group : NULL;
        response.state =
            (char *)(uintptr_t)group_state_name(group != NULL ? group->state : GROUP_EMPTY);
        response.generation = group != NULL
                                  ? group->generation
                                  : group_store_generation(&coordinator->store, request->group);
        if (group != NULL && group->members_count > 0) {
            response.assignor = (char *)(uintptr_t)group_assignor_name(group->assignor);
            response.cooperative = group->cooperative;
            response.leader_id = group->leader_id != NULL ? group->leader_id : "";
            members = ether_calloc(group->members_count, sizeof *members);
            pointers = ether_calloc(group->members_count, sizeof *pointers);
            for (size_t i = 0; i < group->members_count; i++) {
                member_describe(group->members[i], true, &members[i]);
                pointers[i] = &members[i];
            }
            response.members = pointers;
            response.n_members = group->members_count;
        }
        group_store_for_each_offset(&coordinator->store, request->group, collect_offset,
                                    &collector);
        response.offsets = collector.offsets;
        response.n_offsets = collector.count;
    }
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(error != ETHER_OK ? ether_strerror(error) : "");
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    for (size_t i = 0; i < response.n_members; i++) {
        free_partition_lists(members[i].assignment, members[i].n_assignment);
    }
    ether_free(members);
    ether_free(pointers);
    free_offsets(collector.offsets, collector.count);
}

static void handle_delete_group(struct broker *broker, uint64_t connection_id,
                                const struct proto_frame_header *header,
                                const Ether__DeleteGroupRequest *request)
{
    int error = ETHER_OK;
    struct broker_coordinator *coordinator = coordinator_for(broker, request->group, &error);
    struct coordinator_group *entry =
        coordinator != NULL ? group_find(coordinator, request->group) : NULL;
    if (error == ETHER_OK && entry != NULL && entry->group->members_count > 0) {
        error = ETHER_ERR_GROUP_NOT_EMPTY;
    } else if (error == ETHER_OK && entry == NULL &&
               !group_store_has_group(&coordinator->store, request->group)) {
        error = ETHER_ERR_GROUP_NOT_FOUND;
    }
    if (error == ETHER_OK) {
        struct ether_buf key = ETHER_BUF_INIT;
        struct ether_buf value = ETHER_BUF_INIT;
        group_store_group_tombstone(request->group, &key);
        struct coordinator_write *write = ether_calloc(1, sizeof *write);
        write->connection_id = connection_id;
        write->correlation_id = header->correlation_id;
        write->api_key = header->api_key;
        error = propose_records(coordinator, write, &key, &value, 1);
        ether_buf_free(&key);
        if (error == ETHER_OK) {
            group_remove(coordinator, request->group);
            ether_log_info(broker->logger, "group %s: deleted", request->group);
            return;
        }
        ether_free(write);
    }
    struct coordinator_write immediate = {
        .connection_id = connection_id,
        .correlation_id = header->correlation_id,
        .api_key = header->api_key,
    };
    respond_write(broker, &immediate, error);
}

/* ---- entry points ------------------------------------------------------------------------------
 */

bool broker_coordinator_handle(struct broker *broker, uint64_t connection_id,
                               const struct proto_frame_header *header, ProtobufCMessage *request)
{
    switch (header->api_key) {
    case PROTO_API_FIND_COORDINATOR:
        handle_find_coordinator(broker, connection_id, header,
                                (const Ether__FindCoordinatorRequest *)request);
        break;
    case PROTO_API_JOIN_GROUP:
        handle_join(broker, connection_id, header, (const Ether__JoinGroupRequest *)request);
        break;
    case PROTO_API_SYNC_GROUP:
        handle_sync(broker, connection_id, header, (const Ether__SyncGroupRequest *)request);
        break;
    case PROTO_API_HEARTBEAT:
        handle_heartbeat(broker, connection_id, header, (const Ether__HeartbeatRequest *)request);
        break;
    case PROTO_API_LEAVE_GROUP:
        handle_leave(broker, connection_id, header, (const Ether__LeaveGroupRequest *)request);
        break;
    case PROTO_API_OFFSET_COMMIT:
        handle_offset_commit(broker, connection_id, header,
                             (const Ether__OffsetCommitRequest *)request);
        break;
    case PROTO_API_OFFSET_FETCH:
        handle_offset_fetch(broker, connection_id, header,
                            (const Ether__OffsetFetchRequest *)request);
        break;
    case PROTO_API_LIST_GROUPS:
        handle_list_groups(broker, connection_id, header);
        break;
    case PROTO_API_DESCRIBE_GROUP:
        handle_describe_group(broker, connection_id, header,
                              (const Ether__DescribeGroupRequest *)request);
        break;
    case PROTO_API_DELETE_GROUP:
        handle_delete_group(broker, connection_id, header,
                            (const Ether__DeleteGroupRequest *)request);
        break;
    default:
        return false;
    }
    proto_message_free(request);
    return true;
}

void broker_coordinator_count_groups(const struct broker_coordinator *coordinator,
                                     uint64_t counts_by_state[BROKER_GROUP_STATES_COUNT])
{
    _Static_assert(GROUP_STABLE + 1 == BROKER_GROUP_STATES_COUNT, "one count per group state");
    for (size_t i = 0; i < coordinator->groups_count; i++) {
        enum group_state state = coordinator->groups[i].group->state;
        ETHER_ASSERT((size_t)state < BROKER_GROUP_STATES_COUNT);
        counts_by_state[state]++;
    }
}

void broker_coordinators_tick(struct broker *broker)
{
    uint64_t now_ms = uv_now(broker->loop);
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        struct broker_coordinator *coordinator = partition->coordinator;
        if (coordinator == NULL || coordinator->groups_count == 0 ||
            now_ms - coordinator->last_tick_ms < GROUP_TICK_INTERVAL_MS) {
            continue;
        }
        coordinator->last_tick_ms = now_ms;
        for (size_t g = coordinator->groups_count; g-- > 0;) {
            struct coordinator_group *entry = &coordinator->groups[g];
            group_tick(entry->group, now_ms);
            settle(coordinator, entry);
            /* Forget idle empty groups: the store keeps their offsets and generation. */
            if (entry->group->state == GROUP_EMPTY && entry->group->members_count == 0 &&
                entry->generation_written == entry->group->generation) {
                group_remove(coordinator, coordinator->groups[g].group->name);
            }
        }
    }
}

/* The controller leader creates __consumer_offsets once enough brokers are registered. */
bool broker_offsets_topic_wanted(const struct broker *broker, uint32_t *partitions,
                                 uint32_t *replication_factor)
{
    const struct controller_state *state = &broker->controller.state;
    if (controller_state_topic_by_name(state, OFFSETS_TOPIC) != NULL) {
        return false;
    }
    uint32_t live = 0;
    for (size_t i = 0; i < state->brokers_count; i++) {
        live += state->brokers[i].fenced ? 0 : 1;
    }
    uint32_t wanted = broker->config->offsets_topic_replication;
    if (wanted > broker->config->seeds_count) {
        wanted = (uint32_t)broker->config->seeds_count;
    }
    if (wanted == 0 || live < wanted) {
        return false;
    }
    *partitions = broker->config->offsets_topic_partitions;
    *replication_factor = wanted;
    return true;
}
