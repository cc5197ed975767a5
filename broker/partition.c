/*
 * partition.c: the partition replicas this broker hosts, and the data path.
 *
 * Produce (leader only): check the batch (CRC, size), propose it as one Raft
 * entry, then answer acks=1 once it is durable here (persisted callback) and
 * acks=all once it is committed and applied (apply callback); acks=0 gets no
 * answer. Each entry's base offset is the high watermark before it when it
 * is applied, which is also what storage gave it on append.
 *
 * Fetch (any replica): serve whole record batches from the stored log, never
 * a record at or above the high watermark this replica knows; a fetch at the
 * end waits up to max_wait_ms for the watermark to move (long poll).
 *
 * Leadership that this broker does not host is learned from the leader hints
 * that every broker gossips about the partitions it leads.
 *
 * Failure modes: a request for a partition this broker does not lead (or
 * host, for fetch) gets ETHER_ERR_NOT_LEADER with the leader it knows; a
 * leader that loses leadership answers its waiting produces with
 * ETHER_ERR_NOT_LEADER (the entries may still commit under the new leader;
 * idempotent producers make such retries safe).
 */
#include "broker/broker_internal.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    PARTITION_META_VERSION = 1,
    BATCH_BYTES_MAX_DEFAULT = 4 * 1024 * 1024,
    FETCH_BYTES_MAX_DEFAULT = 1024 * 1024,
    FETCH_WAIT_MS_MAX = 60000,
    FETCH_FRAME_OVERHEAD_BYTES = 64 * 1024, /* protobuf framing of the batches in a fetch */
    LEADERSHIP_HOLD_MS = 10000,
};

/* Kafka's default: records are kept for seven days unless the topic says otherwise. */
static const int64_t RETENTION_MS_DEFAULT = 7LL * 24 * 3600 * 1000;

/* ---- produce bookkeeping ----------------------------------------------------------------- */

struct broker_produce_request {
    struct broker *broker;
    uint64_t connection_id;
    uint32_t correlation_id;
    uint16_t api_key;
    Ether__Acks acks;
    uint64_t arrived_ns;       /* monotonic clock when the handler got it */
    ProtobufCMessage *request; /* freed when `references` drops to 0 */
    uint32_t references;       /* this context + one per Raft borrow */
    Ether__ProducePartitionResult *results;
    Ether__ProducePartitionResult **result_pointers;
    size_t results_count;
    size_t results_pending;
};

struct broker_produce_wait {
    struct broker_produce_request *request;
    size_t result_slot;
    uint64_t index;          /* 0 until proposed */
    uint64_t expected_index; /* idempotent batches: the index noted in the producer table */
    bool duplicate;          /* a retry waiting for its in-flight original at `index` */
    struct broker_partition *partition;
    struct broker_produce_wait *next;
};

static void produce_request_unref(struct broker_produce_request *request)
{
    ETHER_ASSERT(request->references > 0);
    if (--request->references > 0) {
        return;
    }
    proto_message_free(request->request);
    ether_free(request->results);
    ether_free(request->result_pointers);
    ether_free(request);
}

static void release_produce_borrow(void *object)
{
    produce_request_unref(object);
}

/* One more answer is known; the whole response goes when all are. */
static void produce_count_down(struct broker_produce_request *request)
{
    ETHER_ASSERT(request->results_pending > 0);
    if (--request->results_pending > 0) {
        return;
    }
    /* acks=0 requests are counted and timed too, up to where their answer would go. */
    struct broker_metrics *metrics = &request->broker->metrics;
    bool failed = false;
    for (size_t i = 0; i < request->results_count; i++) {
        failed |= request->results[i].error != ETHER_OK;
    }
    if (failed) {
        metrics->produce_requests_error_count++;
    } else {
        metrics->produce_requests_ok_count++;
    }
    broker_histogram_observe(&metrics->produce_latency,
                             ether_clock_monotonic_ns() - request->arrived_ns);
    if (request->acks != ETHER__ACKS__ACKS_NONE) {
        Ether__ProduceResponse response = ETHER__PRODUCE_RESPONSE__INIT;
        response.n_partitions = request->results_count;
        response.partitions = request->result_pointers;
        broker_respond(request->broker, request->connection_id, request->api_key,
                       request->correlation_id, &response.base);
    }
    produce_request_unref(request);
}

static void produce_settle(struct broker_produce_request *request, size_t slot, int error,
                           uint64_t base_offset, uint32_t leader_hint_id)
{
    ETHER_ASSERT(slot < request->results_count);
    Ether__ProducePartitionResult *result = &request->results[slot];
    result->error = (uint32_t)error;
    result->base_offset = base_offset;
    result->leader_hint_id = leader_hint_id;
    produce_count_down(request);
}

/*
 * Keeps waits ordered by Raft index, with the ones not proposed yet (index 0)
 * at the end: those get indexes above every proposed one.
 */
static void waits_insert(struct broker_partition *partition, struct broker_produce_wait *wait)
{
    struct broker_produce_wait **link = &partition->waits_head;
    struct broker_produce_wait *previous = NULL;
    if (wait->index != 0) {
        while (*link != NULL && (*link)->index != 0 && (*link)->index <= wait->index) {
            previous = *link;
            link = &(*link)->next;
        }
    } else {
        while (*link != NULL) {
            previous = *link;
            link = &(*link)->next;
        }
    }
    wait->next = *link;
    *link = wait;
    if (wait->next == NULL) {
        partition->waits_tail = wait;
    }
    (void)previous;
}

static void waits_remove(struct broker_partition *partition, struct broker_produce_wait *wait)
{
    struct broker_produce_wait **link = &partition->waits_head;
    struct broker_produce_wait *previous = NULL;
    while (*link != NULL && *link != wait) {
        previous = *link;
        link = &(*link)->next;
    }
    ETHER_ASSERT(*link == wait);
    *link = wait->next;
    if (partition->waits_tail == wait) {
        partition->waits_tail = previous;
    }
}

static uint32_t leader_broker_of(struct broker_partition *partition)
{
    if (partition->status.leader_id != RAFT_ID_NONE) {
        return broker_node_broker_id(partition->status.leader_id);
    }
    const struct broker_leader_hint *hint =
        broker_leader_hint_find(partition->broker, partition->group_id);
    return hint != NULL ? hint->leader_broker_id : 0;
}

static void fail_waits(struct broker_partition *partition, int error)
{
    uint32_t leader = leader_broker_of(partition);
    while (partition->waits_head != NULL) {
        struct broker_produce_wait *wait = partition->waits_head;
        waits_remove(partition, wait);
        if (wait->index != 0) {
            produce_settle(wait->request, wait->result_slot, error, 0, leader);
            ether_free(wait);
        } else {
            /* Not proposed yet: its on_proposed callback settles it. */
            wait->partition = NULL;
        }
    }
}

/* ---- partition lifecycle ----------------------------------------------------------------- */

static int describe_batch(void *context, const struct raft_entry *entry, uint32_t *record_count,
                          int64_t *max_timestamp_ms)
{
    (void)context;
    /* The leader checked the whole batch before proposing it; its header is trusted here. */
    struct proto_batch_header header;
    if (proto_batch_header_read(entry->data, entry->data_bytes, &header) != ETHER_OK ||
        header.record_count == 0) {
        return ETHER_ERR_CORRUPT;
    }
    *record_count = header.record_count;
    *max_timestamp_ms = header.max_timestamp_ms;
    return ETHER_OK;
}

static size_t partition_position(const struct broker *broker, uint64_t group_id)
{
    size_t low = 0;
    size_t high = broker->partitions_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (broker->partitions[middle]->group_id < group_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

struct broker_partition *broker_partition_find(struct broker *broker, uint64_t group_id)
{
    size_t position = partition_position(broker, group_id);
    if (position < broker->partitions_count && broker->partitions[position]->group_id == group_id) {
        return broker->partitions[position];
    }
    return NULL;
}

static void delete_tree_work(uv_work_t *work)
{
    char command[BROKER_DIR_PATH_BYTES_MAX + 32];
    /* The path is one the broker built itself (data dir + sanitized topic name). */
    snprintf(command, sizeof command, "rm -rf -- '%s'", (const char *)work->data);
    if (system(command) != 0) {
        /* Left behind; the next start removes *.deleted directories again. */
    }
}

static void delete_tree_done(uv_work_t *work, int status)
{
    (void)status;
    ether_free(work->data);
    ether_free(work);
}

/* Renames `dir_path` out of the way at once, then removes it off the loop. */
static void delete_directory(struct broker *broker, const char *dir_path, uint32_t topic_id)
{
    char *doomed = ether_malloc(BROKER_DIR_PATH_BYTES_MAX + 32);
    snprintf(doomed, BROKER_DIR_PATH_BYTES_MAX + 32, "%s.%u.deleted", dir_path, topic_id);
    if (rename(dir_path, doomed) != 0) {
        if (errno != ENOENT) {
            ether_log_warn(broker->logger, "cannot remove %s: %s", dir_path, strerror(errno));
        }
        ether_free(doomed);
        return;
    }
    uv_work_t *work = ether_calloc(1, sizeof *work);
    work->data = doomed;
    uv_queue_work(broker->loop, work, delete_tree_work, delete_tree_done);
}

/* <dir>/partition.meta names the topic id, so a recreated topic never reuses old data. */
static int check_partition_meta(struct broker *broker, const char *dir_path, uint32_t topic_id)
{
    char path[BROKER_DIR_PATH_BYTES_MAX + 32];
    snprintf(path, sizeof path, "%s/partition.meta", dir_path);
    FILE *file = fopen(path, "r");
    if (file != NULL) {
        unsigned version = 0;
        unsigned stored_topic_id = 0;
        int fields = fscanf(file, "%u %u", &version, &stored_topic_id);
        fclose(file);
        if (fields == 2 && version == PARTITION_META_VERSION && stored_topic_id == topic_id) {
            return ETHER_OK;
        }
        ether_log_warn(broker->logger, "%s holds topic id %u, not %u: removing it", dir_path,
                       stored_topic_id, topic_id);
        delete_directory(broker, dir_path, stored_topic_id);
    }
    if (mkdir(dir_path, 0755) != 0 && errno != EEXIST) {
        return ether_error_from_errno(errno);
    }
    file = fopen(path, "w");
    if (file == NULL) {
        return ether_error_from_errno(errno);
    }
    fprintf(file, "%u %u\n", PARTITION_META_VERSION, topic_id);
    int failed = fflush(file) != 0 || fsync(fileno(file)) != 0;
    failed |= fclose(file) != 0;
    return failed ? ETHER_ERR_IO : ETHER_OK;
}

static void refresh_log_start(struct broker_partition *partition)
{
    struct broker_raft_log *raft_log = broker_replica_log(partition->replica);
    struct storage_bounds bounds;
    broker_raft_log_lock(raft_log);
    int rc = storage_get_bounds(broker_raft_log_storage(raft_log), &bounds);
    broker_raft_log_unlock(raft_log);
    if (rc == ETHER_OK) {
        partition->log_start_offset = bounds.first_offset;
    }
}

/* The producer table as of the snapshot; entries after it are replayed by Raft. */
static void restore_producers(struct broker_partition *partition)
{
    struct ether_buf state = ETHER_BUF_INIT;
    int rc = broker_raft_log_snapshot_state(broker_replica_log(partition->replica), &state);
    if (partition->coordinator != NULL) {
        broker_coordinator_reset_store(partition->coordinator);
    }
    if (rc == ETHER_OK && state.length > 0) {
        rc = partition->coordinator != NULL
                 ? broker_coordinator_decode_state(partition->coordinator, state.data, state.length,
                                                   &partition->producers)
                 : producer_table_decode(state.data, state.length, &partition->producers);
    }
    if (rc != ETHER_OK && rc != ETHER_ERR_NOT_FOUND) {
        ether_log_error(partition->broker->logger,
                        "partition %s/%u: the state in the snapshot is unusable (%s); "
                        "starting from an empty one",
                        partition->topic_name, partition->partition, ether_strerror(rc));
        producer_table_free(&partition->producers);
        if (partition->coordinator != NULL) {
            broker_coordinator_reset_store(partition->coordinator);
        }
    }
    ether_buf_free(&state);
}

static struct broker_partition *open_partition(struct broker *broker,
                                               const struct controller_topic *topic,
                                               uint32_t partition_number)
{
    const struct controller_partition *assignment = &topic->partitions[partition_number];
    struct broker_partition *partition = ether_calloc(1, sizeof *partition);
    partition->broker = broker;
    partition->topic_id = topic->topic_id;
    partition->partition = partition_number;
    partition->group_id = controller_group_id(topic->topic_id, partition_number);
    partition->topic_name = ether_strdup(topic->name);
    snprintf(partition->dir_path, sizeof partition->dir_path, "%s/%s-%u", broker->config->data_dir,
             topic->name, partition_number);

    int rc = check_partition_meta(broker, partition->dir_path, topic->topic_id);
    /* The founding configuration uses the incarnations the replicas had when the topic was
     * created, so every founding member writes the same first entry; a replica whose
     * broker has since come back with an empty disk joins later as a new member. */
    struct raft_configuration configuration = {0};
    for (uint32_t i = 0; i < assignment->replicas_count; i++) {
        configuration.servers[configuration.servers_count++] = (struct raft_server){
            .id = broker_node_id(assignment->replica_ids[i], assignment->replica_incarnations[i]),
            .role = RAFT_VOTER,
        };
    }
    bool founding = raft_configuration_find(&configuration, broker->node_id) >= 0;
    struct broker_replica_options options;
    broker_replica_options_init(&options);
    options.group_id = partition->group_id;
    options.node_id = broker->node_id;
    options.dir_path = partition->dir_path;
    options.bootstrap_configuration = founding ? &configuration : NULL;
    options.election_timeout_ticks = broker->config->election_ticks;
    options.heartbeat_ticks = broker->config->heartbeat_ticks;
    options.random_seed = broker->node_id ^ partition->group_id;
    partition->storage_options = broker->storage_options;
    const char *segment_bytes =
        controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_SEGMENT_BYTES);
    if (segment_bytes != NULL) {
        partition->storage_options.segment_bytes_max = strtoull(segment_bytes, NULL, 10);
    }
    options.storage_options = &partition->storage_options;
    options.describe = describe_batch;
    options.logger = broker->logger;
    char errbuf[256] = "";
    if (rc == ETHER_OK) {
        rc = broker_replica_open(broker->loop, &options, broker_replica_callbacks_for(broker),
                                 &partition->replica, errbuf, sizeof errbuf);
    }
    if (rc != ETHER_OK) {
        ether_log_error(broker->logger, "cannot open partition %s/%u: %s %s", topic->name,
                        partition_number, ether_strerror(rc), errbuf);
        ether_free(partition->topic_name);
        ether_free(partition);
        return NULL;
    }
    broker_replica_status(partition->replica, &partition->status);
    /* A new group's preferred leader claims it at once, so leaders start out spread
     * the way the controller assigned them instead of going to the fastest timer. */
    partition->preferred_leader_id = assignment->replica_ids[0];
    if (founding && partition->status.term <= 1 &&
        partition->preferred_leader_id == broker->broker_id) {
        broker_replica_campaign(partition->replica);
    }
    refresh_log_start(partition);
    struct raft_snapshot_meta snapshot;
    uint64_t snapshot_next_offset = 0;
    broker_raft_log_snapshot(broker_replica_log(partition->replica), &snapshot,
                             &snapshot_next_offset);
    /* Raft replays the committed entries after the snapshot (or the whole log). */
    partition->applied_index = snapshot.index;
    /* Every replica must use the same expiry: it is part of the replicated semantics. */
    producer_table_init(&partition->producers, broker->config->producer_expiry_ms);
    if (strcmp(topic->name, BROKER_OFFSETS_TOPIC) == 0) {
        partition->coordinator = broker_coordinator_new(partition);
    }
    restore_producers(partition);
    partition->high_watermark =
        snapshot.index > 0 ? snapshot_next_offset : partition->log_start_offset;
    partition->retention_checked_ms = uv_now(broker->loop);
    ether_log_info(broker->logger, "hosting partition %s/%u (group %llx) in %s", topic->name,
                   partition_number, (unsigned long long)partition->group_id, partition->dir_path);
    return partition;
}

/* `on_closed` (may be NULL) runs once the replica's disk work is over and it is freed. */
static void close_partition(struct broker_partition *partition, bool delete_data,
                            void (*on_closed)(void *context), void *context)
{
    struct broker *broker = partition->broker;
    fail_waits(partition, ETHER_ERR_NOT_LEADER);
    /* Its fsyncs stay counted after it is gone (one still running is not). */
    broker_raft_log_take_fsync_latency(broker_replica_log(partition->replica),
                                       &broker->metrics.fsync_latency);
    broker_coordinator_free(partition->coordinator);
    partition->coordinator = NULL;
    broker_replica_close(partition->replica, on_closed, context);
    producer_table_free(&partition->producers);
    if (delete_data) {
        ether_log_info(broker->logger, "deleting partition %s/%u", partition->topic_name,
                       partition->partition);
        delete_directory(broker, partition->dir_path, partition->topic_id);
    }
    ether_free(partition->topic_name);
    ether_free(partition);
}

static void remove_at(struct broker *broker, size_t position)
{
    memmove(&broker->partitions[position], &broker->partitions[position + 1],
            (broker->partitions_count - position - 1) * sizeof *broker->partitions);
    broker->partitions_count--;
}

static void insert_at(struct broker *broker, size_t position, struct broker_partition *partition)
{
    if (broker->partitions_count == broker->partitions_capacity) {
        broker->partitions_capacity =
            broker->partitions_capacity == 0 ? 16 : broker->partitions_capacity * 2;
        broker->partitions = ether_realloc(broker->partitions, broker->partitions_capacity *
                                                                   sizeof *broker->partitions);
    }
    memmove(&broker->partitions[position + 1], &broker->partitions[position],
            (broker->partitions_count - position) * sizeof *broker->partitions);
    broker->partitions[position] = partition;
    broker->partitions_count++;
}

void broker_partitions_reconcile(struct broker *broker)
{
    if (broker->stopping) {
        return;
    }
    const struct controller_state *state = &broker->controller.state;
    struct controller_replica *wanted = NULL;
    size_t wanted_count = 0;
    controller_state_broker_replicas(state, broker->broker_id, &wanted, &wanted_count);

    /* Close what is no longer wanted, or has failed (it is reopened below). */
    size_t w = 0;
    for (size_t i = 0; i < broker->partitions_count;) {
        struct broker_partition *partition = broker->partitions[i];
        while (w < wanted_count && wanted[w].group_id < partition->group_id) {
            w++;
        }
        bool still_wanted = w < wanted_count && wanted[w].group_id == partition->group_id;
        if (still_wanted && !partition->closing) {
            i++;
            continue;
        }
        remove_at(broker, i);
        bool deleted = controller_state_topic_deleted(state, partition->topic_id);
        close_partition(partition, deleted && !still_wanted, NULL, NULL);
    }
    for (size_t i = 0; i < wanted_count; i++) {
        if (broker_partition_find(broker, wanted[i].group_id) != NULL) {
            continue;
        }
        const struct controller_topic *topic =
            controller_state_topic_by_id(state, wanted[i].topic_id);
        ETHER_ASSERT(topic != NULL);
        struct broker_partition *partition = open_partition(broker, topic, wanted[i].partition);
        if (partition != NULL) {
            insert_at(broker, partition_position(broker, partition->group_id), partition);
        }
    }
    ether_free(wanted);
}

void broker_partitions_close_all(struct broker *broker, void (*on_closed)(void *context),
                                 void *context)
{
    while (broker->partitions_count > 0) {
        struct broker_partition *partition = broker->partitions[broker->partitions_count - 1];
        broker->partitions_count--;
        close_partition(partition, false, on_closed, context);
    }
}

/* ---- replica events ---------------------------------------------------------------------- */

static void fetches_wake(struct broker *broker, const struct broker_partition *partition);

void broker_partition_apply(struct broker_partition *partition, const struct raft_entry *entries,
                            size_t entries_count)
{
    uint64_t high_watermark_before = partition->high_watermark;
    for (size_t i = 0; i < entries_count; i++) {
        const struct raft_entry *entry = &entries[i];
        ETHER_ASSERT(entry->index > partition->applied_index);
        partition->applied_index = entry->index;
        /* The leader checked the batch before proposing it; its header is trusted here. */
        struct proto_batch_header batch;
        if (entry->type != RAFT_ENTRY_NORMAL ||
            proto_batch_header_read(entry->data, entry->data_bytes, &batch) != ETHER_OK) {
            continue;
        }
        uint64_t base_offset = partition->high_watermark;
        partition->high_watermark += batch.record_count;
        /* Every data batch moves the table's log time (expiry); only idempotent ones
         * change a producer's state. */
        struct producer_batch_info info = producer_batch_info_from_header(&batch);
        producer_table_apply(&partition->producers, &info, base_offset, batch.max_timestamp_ms);
        if (partition->coordinator != NULL) {
            broker_coordinator_apply_batch(partition->coordinator, entry->data, entry->data_bytes);
            broker_coordinator_applied(partition->coordinator, entry->index);
        }
        /* acks=all waits are in index order: the head is the next to commit. */
        while (partition->waits_head != NULL && partition->waits_head->index != 0 &&
               partition->waits_head->index <= entry->index) {
            struct broker_produce_wait *wait = partition->waits_head;
            waits_remove(partition, wait);
            bool exact = wait->index == entry->index;
            produce_settle(wait->request, wait->result_slot, exact ? ETHER_OK : ETHER_ERR_DROPPED,
                           exact ? base_offset : 0, 0);
            ether_free(wait);
        }
    }
    if (partition->high_watermark != high_watermark_before) {
        fetches_wake(partition->broker, partition);
    }
}

void broker_partition_persisted(struct broker_partition *partition,
                                const struct storage_entry *entries, size_t entries_count)
{
    /* acks=1: answer as soon as the entry is durable on this (leader) replica. */
    struct broker_produce_wait **link = &partition->waits_head;
    struct broker_produce_wait *previous = NULL;
    size_t e = 0;
    while (*link != NULL && e < entries_count) {
        struct broker_produce_wait *wait = *link;
        if (wait->index == 0 || wait->request->acks != ETHER__ACKS__ACKS_LEADER) {
            previous = wait;
            link = &wait->next;
            continue;
        }
        while (e < entries_count && entries[e].index < wait->index) {
            e++;
        }
        if (e == entries_count || entries[e].index != wait->index) {
            previous = wait;
            link = &wait->next;
            continue;
        }
        *link = wait->next;
        if (partition->waits_tail == wait) {
            partition->waits_tail = previous;
        }
        produce_settle(wait->request, wait->result_slot, ETHER_OK, entries[e].base_offset, 0);
        ether_free(wait);
    }
}

void broker_partition_role_changed(struct broker_partition *partition,
                                   const struct raft_status *status)
{
    bool was_leader = partition->status.role == RAFT_LEADER;
    partition->status = *status;
    ether_log_info(partition->broker->logger, "partition %s/%u: %s in term %llu, leader %llu",
                   partition->topic_name, partition->partition, raft_role_name(status->role),
                   (unsigned long long)status->term,
                   (unsigned long long)broker_node_broker_id(status->leader_id));
    if (was_leader && status->role != RAFT_LEADER) {
        fail_waits(partition, ETHER_ERR_NOT_LEADER);
        producer_table_forget_in_flight(&partition->producers);
    }
    if (partition->coordinator != NULL) {
        broker_coordinator_role_changed(partition->coordinator, was_leader,
                                        status->role == RAFT_LEADER);
    }
    if (status->role == RAFT_LEADER && !was_leader) {
        partition->leader_ready_index = status->last_index;
    }
    if (status->role == RAFT_LEADER) {
        partition->leader_since_ms = uv_now(partition->broker->loop);
        broker_partitions_broadcast_hints(partition->broker);
    }
}

void broker_partition_snapshot_installed(struct broker_partition *partition,
                                         const struct raft_snapshot_meta *meta,
                                         uint64_t next_offset)
{
    ether_log_info(partition->broker->logger,
                   "partition %s/%u: installed the leader's snapshot at index %llu (offset %llu)",
                   partition->topic_name, partition->partition, (unsigned long long)meta->index,
                   (unsigned long long)next_offset);
    partition->applied_index = meta->index;
    partition->high_watermark = next_offset;
    refresh_log_start(partition);
    producer_table_free(&partition->producers);
    restore_producers(partition);
}

static void on_compacted(void *context, int rc, uint64_t first_index)
{
    (void)first_index;
    struct broker_partition *partition = context;
    if (rc == ETHER_OK) {
        refresh_log_start(partition);
    } else if (rc != ETHER_ERR_STOPPED) {
        ether_log_warn(partition->broker->logger, "partition %s/%u: compaction: %s",
                       partition->topic_name, partition->partition, ether_strerror(rc));
    }
}

static int64_t topic_config_int(const struct controller_topic *topic,
                                enum controller_topic_config config, int64_t default_value)
{
    const char *value = controller_topic_config(topic, config);
    return value != NULL ? strtoll(value, NULL, 10) : default_value;
}

/*
 * Every retention-check-ms, each replica snapshots its partition state at
 * its applied index (bounding what a restart replays) and lets retention
 * remove whole segments that are older or beyond the size the topic allows.
 */
void broker_partitions_compact(struct broker *broker)
{
    uint64_t now_ms = uv_now(broker->loop);
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (partition->closing || broker_replica_compacting(partition->replica) ||
            now_ms - partition->retention_checked_ms < broker->config->retention_check_ms) {
            continue;
        }
        partition->retention_checked_ms = now_ms;
        const struct controller_topic *topic =
            controller_state_topic_by_id(&broker->controller.state, partition->topic_id);
        if (topic == NULL) {
            continue;
        }
        int64_t retention_ms =
            topic_config_int(topic, CONTROLLER_TOPIC_CONFIG_RETENTION_MS, RETENTION_MS_DEFAULT);
        int64_t retention_bytes =
            topic_config_int(topic, CONTROLLER_TOPIC_CONFIG_RETENTION_BYTES, -1);
        struct ether_buf state = ETHER_BUF_INIT;
        if (partition->coordinator != NULL) {
            /* Older commits go with the log prefix: the snapshot holds the offsets. */
            broker_coordinator_encode_state(partition->coordinator, &partition->producers, &state);
        } else {
            producer_table_encode(&partition->producers, &state);
        }
        size_t state_bytes = 0;
        uint8_t *state_data = ether_buf_take(&state, &state_bytes);
        struct broker_compaction compaction = {
            .index = partition->applied_index,
            .next_offset = partition->high_watermark,
            .state = state_data,
            .state_bytes = state_bytes,
            .retention =
                {
                    .retention_ms = retention_ms > 0 ? retention_ms : 0,
                    .retention_bytes = retention_bytes > 0 ? (uint64_t)retention_bytes : 0,
                },
            .now_ms = ether_clock_wall_ms(),
        };
        int rc = broker_replica_compact(partition->replica, &compaction, on_compacted, partition);
        if (rc != ETHER_OK) {
            ether_free(state_data); /* not taken over */
        }
        if (rc != ETHER_OK && rc != ETHER_ERR_INVALID_ARGUMENT) {
            ether_log_debug(broker->logger, "partition %s/%u: no compaction now: %s",
                            partition->topic_name, partition->partition, ether_strerror(rc));
        }
    }
}

/* Leaders move their partitions' members to the replicas' registered incarnations. */
void broker_partitions_reconcile_membership(struct broker *broker)
{
    const struct controller_state *state = &broker->controller.state;
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (partition->closing || partition->status.role != RAFT_LEADER) {
            continue;
        }
        const struct controller_topic *topic =
            controller_state_topic_by_id(state, partition->topic_id);
        if (topic == NULL) {
            continue;
        }
        const struct controller_partition *assignment = &topic->partitions[partition->partition];
        struct raft_configuration desired = {0};
        for (uint32_t r = 0; r < assignment->replicas_count; r++) {
            const struct controller_broker *member =
                controller_state_broker(state, assignment->replica_ids[r]);
            if (member == NULL) {
                desired.servers_count = 0; /* not every replica is known: leave this one */
                break;
            }
            desired.servers[desired.servers_count++] = (struct raft_server){
                .id = broker_node_id(member->broker_id, (uint32_t)member->incarnation),
                .role = RAFT_VOTER,
            };
        }
        if (desired.servers_count > 0) {
            broker_membership_reconcile(broker, partition->replica, &desired,
                                        desired.servers_count);
        }
    }
}

/*
 * Gives leadership back to the preferred leader (the assignment's first
 * replica) once it is back and caught up, so that leadership returns to the
 * spread the controller chose after failovers. A leader keeps leadership for
 * at least LEADERSHIP_HOLD_MS first, so a flapping broker does not make it
 * bounce.
 */
void broker_partitions_rebalance_leaders(struct broker *broker)
{
    uint64_t now_ms = uv_now(broker->loop);
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (partition->closing || partition->status.role != RAFT_LEADER ||
            partition->preferred_leader_id == broker->broker_id ||
            now_ms - partition->leader_since_ms < LEADERSHIP_HOLD_MS) {
            continue;
        }
        const struct raft_configuration *configuration =
            broker_replica_configuration(partition->replica);
        for (uint32_t s = 0; s < configuration->servers_count; s++) {
            const struct raft_server *server = &configuration->servers[s];
            if (broker_node_broker_id(server->id) != partition->preferred_leader_id ||
                server->role != RAFT_VOTER) {
                continue;
            }
            struct raft_progress_info progress;
            struct raft_status status;
            broker_replica_status(partition->replica, &status);
            if (broker_replica_progress(partition->replica, server->id, &progress) == ETHER_OK &&
                progress.recent_active && progress.match_index == status.last_index) {
                ether_log_info(broker->logger,
                               "partition %s/%u: handing leadership back to preferred broker %u",
                               partition->topic_name, partition->partition,
                               partition->preferred_leader_id);
                broker_replica_transfer_leadership(partition->replica, server->id);
                partition->leader_since_ms = now_ms; /* one attempt per hold period */
            }
        }
    }
}

/* ---- leader hints ------------------------------------------------------------------------ */

static size_t hint_position(const struct broker *broker, uint64_t group_id)
{
    size_t low = 0;
    size_t high = broker->hints_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (broker->hints[middle].group_id < group_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

const struct broker_leader_hint *broker_leader_hint_find(const struct broker *broker,
                                                         uint64_t group_id)
{
    size_t position = hint_position(broker, group_id);
    if (position < broker->hints_count && broker->hints[position].group_id == group_id) {
        return &broker->hints[position];
    }
    return NULL;
}

static void hint_record(struct broker *broker, const struct broker_leader_hint *hint)
{
    size_t position = hint_position(broker, hint->group_id);
    if (position < broker->hints_count && broker->hints[position].group_id == hint->group_id) {
        if (hint->term >= broker->hints[position].term) {
            broker->hints[position] = *hint;
        }
        return;
    }
    if (broker->hints_count == broker->hints_capacity) {
        broker->hints_capacity = broker->hints_capacity == 0 ? 16 : broker->hints_capacity * 2;
        broker->hints =
            ether_realloc(broker->hints, broker->hints_capacity * sizeof *broker->hints);
    }
    memmove(&broker->hints[position + 1], &broker->hints[position],
            (broker->hints_count - position) * sizeof *broker->hints);
    broker->hints[position] = *hint;
    broker->hints_count++;
}

uint32_t broker_partition_in_sync_replicas(const struct broker_partition *partition,
                                           uint32_t broker_ids[RAFT_SERVERS_MAX])
{
    struct raft_status status;
    broker_replica_status(partition->replica, &status);
    const struct raft_configuration *configuration =
        broker_replica_configuration(partition->replica);
    uint32_t count = 0;
    for (uint32_t s = 0; s < configuration->servers_count; s++) {
        const struct raft_server *server = &configuration->servers[s];
        if (server->role != RAFT_VOTER) {
            continue;
        }
        bool in_sync = server->id == status.id;
        struct raft_progress_info progress;
        if (!in_sync &&
            broker_replica_progress(partition->replica, server->id, &progress) == ETHER_OK) {
            in_sync = progress.recent_active && progress.match_index >= status.commit_index;
        }
        if (in_sync) {
            broker_ids[count++] = broker_node_broker_id(server->id);
        }
    }
    return count;
}

void broker_partitions_broadcast_hints(struct broker *broker)
{
    size_t leading = 0;
    for (size_t i = 0; i < broker->partitions_count; i++) {
        if (broker->partitions[i]->status.role == RAFT_LEADER) {
            leading++;
        }
    }
    Ether__LeaderHint *hints = ether_calloc(leading > 0 ? leading : 1, sizeof *hints);
    Ether__LeaderHint **pointers = ether_calloc(leading > 0 ? leading : 1, sizeof *pointers);
    size_t count = 0;
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (partition->status.role != RAFT_LEADER) {
            continue;
        }
        struct broker_leader_hint own = {
            .group_id = partition->group_id,
            .term = partition->status.term,
            .leader_broker_id = broker->broker_id,
            .high_watermark = partition->high_watermark,
            .log_start_offset = partition->log_start_offset,
        };
        own.in_sync_replicas_count =
            broker_partition_in_sync_replicas(partition, own.in_sync_replicas);
        hint_record(broker, &own);
        ether__leader_hint__init(&hints[count]);
        hints[count].group_id = own.group_id;
        hints[count].term = own.term;
        hints[count].leader_broker_id = own.leader_broker_id;
        hints[count].high_watermark = own.high_watermark;
        hints[count].log_start_offset = own.log_start_offset;
        hints[count].n_in_sync_replicas = own.in_sync_replicas_count;
        hints[count].in_sync_replicas = ether_calloc(RAFT_SERVERS_MAX, sizeof(uint32_t));
        memcpy(hints[count].in_sync_replicas, own.in_sync_replicas,
               own.in_sync_replicas_count * sizeof(uint32_t));
        pointers[count] = &hints[count];
        count++;
    }
    broker_transport_broadcast_hints(broker->transport, (const Ether__LeaderHint *const *)pointers,
                                     count);
    for (size_t i = 0; i < count; i++) {
        ether_free(hints[i].in_sync_replicas);
    }
    ether_free(hints);
    ether_free(pointers);
}

void broker_partitions_receive_hints(struct broker *broker, Ether__LeaderHint *const *hints,
                                     size_t hints_count)
{
    for (size_t i = 0; i < hints_count; i++) {
        struct broker_leader_hint hint = {
            .group_id = hints[i]->group_id,
            .term = hints[i]->term,
            .leader_broker_id = hints[i]->leader_broker_id,
            .high_watermark = hints[i]->high_watermark,
            .log_start_offset = hints[i]->log_start_offset,
        };
        for (size_t r = 0; r < hints[i]->n_in_sync_replicas && r < RAFT_SERVERS_MAX; r++) {
            hint.in_sync_replicas[hint.in_sync_replicas_count++] = hints[i]->in_sync_replicas[r];
        }
        hint_record(broker, &hint);
    }
}

void broker_partitions_fill_metadata(struct broker *broker, Ether__MetadataResponse *response)
{
    for (size_t t = 0; t < response->n_topics; t++) {
        Ether__TopicMetadata *topic_metadata = response->topics[t];
        const struct controller_topic *topic =
            controller_state_topic_by_name(&broker->controller.state, topic_metadata->name);
        if (topic == NULL) {
            continue;
        }
        for (size_t p = 0; p < topic_metadata->n_partitions; p++) {
            Ether__PartitionMetadata *metadata = topic_metadata->partitions[p];
            uint64_t group_id = controller_group_id(topic->topic_id, metadata->partition);
            struct broker_partition *partition = broker_partition_find(broker, group_id);
            const struct broker_leader_hint *hint = broker_leader_hint_find(broker, group_id);
            if (partition != NULL && partition->status.leader_id != RAFT_ID_NONE &&
                (hint == NULL || partition->status.term >= hint->term)) {
                metadata->leader_id = broker_node_broker_id(partition->status.leader_id);
                metadata->leader_term = partition->status.term;
                metadata->high_watermark = partition->high_watermark;
                metadata->log_start_offset = partition->log_start_offset;
            } else if (hint != NULL) {
                metadata->leader_id = hint->leader_broker_id;
                metadata->leader_term = hint->term;
                metadata->high_watermark = hint->high_watermark;
                metadata->log_start_offset = hint->log_start_offset;
            }
            /* In-sync replicas as the leader last reported them (with its current term). */
            if (hint != NULL && hint->term == metadata->leader_term &&
                hint->leader_broker_id == metadata->leader_id &&
                metadata->n_in_sync_replicas == 0) {
                metadata->in_sync_replicas =
                    ether_calloc(hint->in_sync_replicas_count + 1, sizeof(uint32_t));
                memcpy(metadata->in_sync_replicas, hint->in_sync_replicas,
                       hint->in_sync_replicas_count * sizeof(uint32_t));
                metadata->n_in_sync_replicas = hint->in_sync_replicas_count;
            }
        }
    }
}

/*
 * What to answer for a topic or partition this broker does not know: a broker
 * that is still replaying the controller's log (just restarted) may simply not
 * know it yet, so that is a retriable NOT_LEADER, not NOT_FOUND.
 */
static int unknown_partition_error(const struct broker *broker)
{
    if (broker->controller.replica == NULL) {
        return ETHER_ERR_NOT_LEADER;
    }
    struct raft_status status;
    broker_replica_status(broker->controller.replica, &status);
    bool caught_up = status.leader_id != RAFT_ID_NONE && status.commit_index > 0 &&
                     status.applied_index >= status.commit_index;
    return caught_up ? ETHER_ERR_NOT_FOUND : ETHER_ERR_NOT_LEADER;
}

/* ---- produce ----------------------------------------------------------------------------- */

static void fail_duplicates_of(struct broker_partition *partition, uint64_t index)
{
    struct broker_produce_wait *wait = partition->waits_head;
    while (wait != NULL) {
        struct broker_produce_wait *next = wait->next;
        if (wait->duplicate && wait->index == index) {
            waits_remove(partition, wait);
            produce_settle(wait->request, wait->result_slot, ETHER_ERR_NOT_LEADER, 0,
                           partition->broker->broker_id);
            ether_free(wait);
        }
        wait = next;
    }
}

static void on_batch_proposed(void *context, int rc, uint64_t index, uint64_t term,
                              uint64_t leader_hint)
{
    (void)term;
    struct broker_produce_wait *wait = context;
    struct broker_produce_request *request = wait->request;
    if (wait->partition != NULL &&
        (rc != ETHER_OK || (wait->expected_index != 0 && wait->expected_index != index))) {
        /* The in-flight record named an index this batch did not get: drop them all
         * rather than answer a retry with another entry's offset, and send the retries
         * that wait for it back to the client (they retry once more). */
        producer_table_forget_in_flight(&wait->partition->producers);
        fail_duplicates_of(wait->partition, wait->expected_index);
    }
    if (wait->partition == NULL || rc != ETHER_OK) {
        /* Failed, or the partition lost leadership or closed before the proposal ran. */
        uint32_t hint = leader_hint != RAFT_ID_NONE ? broker_node_broker_id(leader_hint) : 0;
        produce_settle(request, wait->result_slot, rc != ETHER_OK ? rc : ETHER_ERR_NOT_LEADER, 0,
                       hint);
        if (wait->partition != NULL) {
            waits_remove(wait->partition, wait);
        }
        ether_free(wait);
        return;
    }
    if (request->acks == ETHER__ACKS__ACKS_NONE) {
        waits_remove(wait->partition, wait);
        produce_settle(request, wait->result_slot, ETHER_OK, 0, 0);
        ether_free(wait);
        return;
    }
    wait->index = index;
}

static uint64_t topic_batch_bytes_max(const struct controller_topic *topic)
{
    const char *configured =
        controller_topic_config(topic, CONTROLLER_TOPIC_CONFIG_MAX_MESSAGE_BYTES);
    if (configured == NULL) {
        return BATCH_BYTES_MAX_DEFAULT;
    }
    return strtoull(configured, NULL, 10);
}

void broker_handle_produce(struct broker *broker, uint64_t connection_id,
                           const struct proto_frame_header *header, ProtobufCMessage *unpacked)
{
    Ether__ProduceRequest *produce = (Ether__ProduceRequest *)unpacked;
    struct broker_produce_request *request = ether_calloc(1, sizeof *request);
    request->arrived_ns = ether_clock_monotonic_ns();
    request->broker = broker;
    request->connection_id = connection_id;
    request->correlation_id = header->correlation_id;
    request->api_key = header->api_key;
    request->acks = produce->acks;
    request->request = unpacked;
    request->references = 1;
    size_t count = produce->n_partitions;
    request->results = ether_calloc(count > 0 ? count : 1, sizeof *request->results);
    request->result_pointers =
        ether_calloc(count > 0 ? count : 1, sizeof *request->result_pointers);
    request->results_count = count;
    request->results_pending = count + 1; /* +1 until every partition has been dispatched */
    for (size_t i = 0; i < count; i++) {
        ether__produce_partition_result__init(&request->results[i]);
        request->results[i].partition = produce->partitions[i]->partition;
        request->result_pointers[i] = &request->results[i];
    }

    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, produce->topic);
    for (size_t i = 0; i < count; i++) {
        const Ether__ProducePartition *part = produce->partitions[i];
        if (topic == NULL || part->partition >= topic->partitions_count) {
            produce_settle(request, i, unknown_partition_error(broker), 0,
                           (uint32_t)broker->controller.leader_broker_id);
            continue;
        }
        if (broker_topic_is_internal(topic->name)) {
            produce_settle(request, i, ETHER_ERR_INVALID_ARGUMENT, 0, 0);
            continue;
        }
        uint64_t group_id = controller_group_id(topic->topic_id, part->partition);
        struct broker_partition *partition = broker_partition_find(broker, group_id);
        if (partition == NULL || partition->closing || partition->status.role != RAFT_LEADER) {
            uint32_t leader = 0;
            if (partition != NULL) {
                leader = leader_broker_of(partition);
            } else {
                const struct broker_leader_hint *hint = broker_leader_hint_find(broker, group_id);
                leader = hint != NULL ? hint->leader_broker_id : 0;
            }
            produce_settle(request, i, ETHER_ERR_NOT_LEADER, 0, leader);
            continue;
        }
        struct proto_batch_header batch;
        int rc = proto_batch_parse(part->batch.data, part->batch.len, &batch);
        if (rc != ETHER_OK) {
            produce_settle(request, i, ETHER_ERR_CORRUPT, 0, 0);
            continue;
        }
        if (part->batch.len > topic_batch_bytes_max(topic)) {
            produce_settle(request, i, ETHER_ERR_TOO_LARGE, 0, 0);
            continue;
        }
        struct producer_batch_info info = producer_batch_info_from_header(&batch);
        uint64_t in_flight_index = 0;
        if (info.producer_id >= 0) {
            if (partition->applied_index < partition->leader_ready_index) {
                /* Earlier terms' batches are not in the table yet: the client retries. */
                produce_settle(request, i, ETHER_ERR_NOT_LEADER, 0, broker->broker_id);
                continue;
            }
            struct producer_check_result check;
            rc = producer_table_check(&partition->producers, &info, &check);
            if (rc != ETHER_OK) {
                produce_settle(request, i, rc, 0, 0);
                continue;
            }
            if (check.verdict == PRODUCER_CHECK_DUPLICATE && !check.in_flight) {
                produce_settle(request, i, ETHER_OK, check.base_offset, 0);
                continue;
            }
            if (check.verdict == PRODUCER_CHECK_DUPLICATE) {
                /* A retry racing its original: answer when the original commits. */
                struct broker_produce_wait *duplicate = ether_calloc(1, sizeof *duplicate);
                duplicate->request = request;
                duplicate->result_slot = i;
                duplicate->partition = partition;
                duplicate->index = check.raft_index;
                duplicate->duplicate = true;
                waits_insert(partition, duplicate);
                continue;
            }
            in_flight_index = broker_replica_next_proposal_index(partition->replica);
        }
        struct broker_produce_wait *wait = ether_calloc(1, sizeof *wait);
        wait->request = request;
        wait->result_slot = i;
        wait->partition = partition;
        wait->expected_index = in_flight_index;
        waits_insert(partition, wait);
        request->references++;
        struct broker_borrow borrow = {release_produce_borrow, request};
        uint64_t leader_hint = 0;
        rc = broker_replica_propose(partition->replica, part->batch.data, (uint32_t)part->batch.len,
                                    &borrow, on_batch_proposed, wait, &leader_hint);
        if (rc != ETHER_OK) {
            request->references--;
            waits_remove(partition, wait);
            ether_free(wait);
            produce_settle(request, i, rc, 0,
                           leader_hint != RAFT_ID_NONE ? broker_node_broker_id(leader_hint) : 0);
            continue;
        }
        broker->metrics.produce_accepted_bytes += part->batch.len;
        if (in_flight_index != 0) {
            producer_table_note_in_flight(&partition->producers, &info, in_flight_index);
        }
    }
    produce_count_down(request); /* every partition is dispatched */
}

/* ---- fetch ------------------------------------------------------------------------------- */

struct broker_fetch_request {
    struct broker *broker;
    uint64_t connection_id;
    uint64_t arrived_ns; /* monotonic clock when the handler got it */
    struct proto_frame_header header;
    Ether__FetchRequest *request; /* owned */
    uv_timer_t timer;
    bool waiting;
    struct broker_fetch_request *previous;
    struct broker_fetch_request *next;
};

/* Reads committed batches of one partition from `offset`; fills `result`. */
static void fetch_partition(struct broker *broker, const struct controller_topic *topic,
                            const Ether__FetchPartition *wanted, uint64_t bytes_max,
                            Ether__FetchPartitionResult *result, struct storage_batch *batch,
                            uint64_t *bytes_returned)
{
    result->partition = wanted->partition;
    if (topic == NULL || wanted->partition >= topic->partitions_count) {
        result->error = (uint32_t)unknown_partition_error(broker);
        return;
    }
    uint64_t group_id = controller_group_id(topic->topic_id, wanted->partition);
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    if (partition == NULL || partition->closing) {
        const struct broker_leader_hint *hint = broker_leader_hint_find(broker, group_id);
        result->error = ETHER_ERR_NOT_LEADER;
        result->leader_hint_id = hint != NULL ? hint->leader_broker_id : 0;
        return;
    }
    result->high_watermark = partition->high_watermark;
    result->log_start_offset = partition->log_start_offset;
    result->leader_hint_id = leader_broker_of(partition);
    if (wanted->offset > partition->high_watermark) {
        /* Only a leader that has applied its whole log knows the offset is past the end;
         * a follower (or a new leader) may just be behind: nothing yet, not an error. */
        if (partition->status.role == RAFT_LEADER &&
            partition->applied_index >= partition->leader_ready_index) {
            result->error = ETHER_ERR_OUT_OF_RANGE;
        }
        return;
    }
    if (wanted->offset < partition->log_start_offset) {
        result->error = ETHER_ERR_BELOW_START;
        return;
    }
    if (wanted->offset == partition->high_watermark) {
        return; /* nothing committed yet past the end */
    }
    struct broker_raft_log *raft_log = broker_replica_log(partition->replica);
    struct storage_log *log = broker_raft_log_storage(raft_log);
    uint64_t index = 0;
    broker_raft_log_lock(raft_log);
    int rc = storage_find_offset(log, wanted->offset, &index);
    if (rc == ETHER_OK) {
        rc = storage_read(log, index, bytes_max, batch);
    }
    broker_raft_log_unlock(raft_log);
    if (rc != ETHER_OK) {
        result->error = (uint32_t)rc;
        return;
    }
    size_t data_entries = 0;
    for (size_t i = 0; i < batch->entries_count; i++) {
        if (batch->entries[i].type == STORAGE_ENTRY_DATA) {
            data_entries++;
        }
    }
    result->batches = ether_calloc(data_entries > 0 ? data_entries : 1, sizeof *result->batches);
    uint64_t partition_bytes = 0;
    for (size_t i = 0; i < batch->entries_count; i++) {
        const struct storage_entry *entry = &batch->entries[i];
        if (entry->type != STORAGE_ENTRY_DATA) {
            continue;
        }
        if (entry->base_offset + entry->record_count > partition->high_watermark) {
            break; /* not committed: never served */
        }
        if (result->n_batches > 0 && partition_bytes + entry->payload_bytes > bytes_max) {
            break; /* the client asks again from where this answer ends */
        }
        partition_bytes += entry->payload_bytes;
        Ether__FetchedBatch *fetched = ether_malloc(sizeof *fetched);
        ether__fetched_batch__init(fetched);
        fetched->base_offset = entry->base_offset;
        fetched->batch.data = (uint8_t *)(uintptr_t)entry->payload;
        fetched->batch.len = entry->payload_bytes;
        result->batches[result->n_batches++] = fetched;
        *bytes_returned += entry->payload_bytes;
    }
}

/*
 * Answers the fetch if it has data, or if `final`; returns true when answered.
 */
static bool fetch_try(struct broker *broker, uint64_t connection_id, uint64_t arrived_ns,
                      const struct proto_frame_header *header, const Ether__FetchRequest *request,
                      bool final)
{
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, request->topic);
    size_t count = request->n_partitions;
    Ether__FetchPartitionResult *results = ether_calloc(count > 0 ? count : 1, sizeof *results);
    Ether__FetchPartitionResult **pointers = ether_calloc(count > 0 ? count : 1, sizeof *pointers);
    struct storage_batch *batches = ether_calloc(count > 0 ? count : 1, sizeof *batches);
    /* The answer must fit in one frame: the request's limits are capped by it. */
    uint64_t frame_room = broker->config->frame_bytes_max - FETCH_FRAME_OVERHEAD_BYTES;
    uint64_t request_bytes_max = request->max_bytes > 0 ? request->max_bytes : frame_room;
    if (request_bytes_max > frame_room) {
        request_bytes_max = frame_room;
    }
    uint64_t bytes_returned = 0;
    bool any_error = false;
    for (size_t i = 0; i < count; i++) {
        ether__fetch_partition_result__init(&results[i]);
        storage_batch_init(&batches[i]);
        pointers[i] = &results[i];
        if (bytes_returned >= request_bytes_max) {
            results[i].partition = request->partitions[i]->partition;
            continue; /* the response is full; the client asks again */
        }
        uint64_t partition_bytes_max = request->partitions[i]->max_bytes > 0
                                           ? request->partitions[i]->max_bytes
                                           : FETCH_BYTES_MAX_DEFAULT;
        if (partition_bytes_max > request_bytes_max - bytes_returned) {
            partition_bytes_max = request_bytes_max - bytes_returned;
        }
        fetch_partition(broker, topic, request->partitions[i], partition_bytes_max, &results[i],
                        &batches[i], &bytes_returned);
        any_error |= results[i].error != ETHER_OK;
    }
    bool answer = final || bytes_returned > 0 || any_error || request->max_wait_ms == 0;
    if (answer) {
        Ether__FetchResponse response = ETHER__FETCH_RESPONSE__INIT;
        response.n_partitions = count;
        response.partitions = pointers;
        broker_respond(broker, connection_id, header->api_key, header->correlation_id,
                       &response.base);
        struct broker_metrics *metrics = &broker->metrics;
        if (any_error) {
            metrics->fetch_requests_error_count++;
        } else {
            metrics->fetch_requests_ok_count++;
        }
        metrics->fetch_sent_bytes += bytes_returned;
        broker_histogram_observe(&metrics->fetch_latency, ether_clock_monotonic_ns() - arrived_ns);
    }
    for (size_t i = 0; i < count; i++) {
        for (size_t b = 0; b < results[i].n_batches; b++) {
            ether_free(results[i].batches[b]);
        }
        ether_free(results[i].batches);
        storage_batch_free(&batches[i]);
    }
    ether_free(results);
    ether_free(pointers);
    ether_free(batches);
    return answer;
}

static void fetch_request_closed(uv_handle_t *handle)
{
    struct broker_fetch_request *fetch = handle->data;
    proto_message_free(&fetch->request->base);
    ether_free(fetch);
}

static void fetch_unlink(struct broker_fetch_request *fetch)
{
    struct broker *broker = fetch->broker;
    if (fetch->previous != NULL) {
        fetch->previous->next = fetch->next;
    } else {
        broker->fetch_waiting = fetch->next;
    }
    if (fetch->next != NULL) {
        fetch->next->previous = fetch->previous;
    }
    fetch->waiting = false;
    uv_timer_stop(&fetch->timer);
    uv_close((uv_handle_t *)&fetch->timer, fetch_request_closed);
}

static void on_fetch_timeout(uv_timer_t *timer)
{
    struct broker_fetch_request *fetch = timer->data;
    fetch_try(fetch->broker, fetch->connection_id, fetch->arrived_ns, &fetch->header,
              fetch->request, true);
    fetch_unlink(fetch);
}

static bool fetch_names_partition(const Ether__FetchRequest *request,
                                  const struct broker_partition *partition)
{
    if (strcmp(request->topic, partition->topic_name) != 0) {
        return false;
    }
    for (size_t i = 0; i < request->n_partitions; i++) {
        if (request->partitions[i]->partition == partition->partition) {
            return true;
        }
    }
    return false;
}

static void fetches_wake(struct broker *broker, const struct broker_partition *partition)
{
    struct broker_fetch_request *fetch = broker->fetch_waiting;
    while (fetch != NULL) {
        struct broker_fetch_request *next = fetch->next;
        if (fetch_names_partition(fetch->request, partition) &&
            fetch_try(broker, fetch->connection_id, fetch->arrived_ns, &fetch->header,
                      fetch->request, false)) {
            fetch_unlink(fetch);
        }
        fetch = next;
    }
}

void broker_fetches_cancel_all(struct broker *broker)
{
    while (broker->fetch_waiting != NULL) {
        struct broker_fetch_request *fetch = broker->fetch_waiting;
        fetch_try(broker, fetch->connection_id, fetch->arrived_ns, &fetch->header, fetch->request,
                  true);
        fetch_unlink(fetch);
    }
}

void broker_handle_fetch(struct broker *broker, uint64_t connection_id,
                         const struct proto_frame_header *header, ProtobufCMessage *unpacked)
{
    Ether__FetchRequest *request = (Ether__FetchRequest *)unpacked;
    uint64_t arrived_ns = ether_clock_monotonic_ns();
    if (fetch_try(broker, connection_id, arrived_ns, header, request, false)) {
        proto_message_free(unpacked);
        return;
    }
    struct broker_fetch_request *fetch = ether_calloc(1, sizeof *fetch);
    fetch->broker = broker;
    fetch->connection_id = connection_id;
    fetch->arrived_ns = arrived_ns;
    fetch->header = *header;
    fetch->request = request;
    fetch->waiting = true;
    uv_timer_init(broker->loop, &fetch->timer);
    fetch->timer.data = fetch;
    uint32_t wait_ms =
        request->max_wait_ms > FETCH_WAIT_MS_MAX ? FETCH_WAIT_MS_MAX : request->max_wait_ms;
    uv_timer_start(&fetch->timer, on_fetch_timeout, wait_ms, 0);
    fetch->next = broker->fetch_waiting;
    if (broker->fetch_waiting != NULL) {
        broker->fetch_waiting->previous = fetch;
    }
    broker->fetch_waiting = fetch;
}

/* ---- list offsets ------------------------------------------------------------------------ */

static void list_offset(struct broker *broker, const struct controller_topic *topic,
                        uint32_t partition_number, const Ether__ListOffsetsRequest *request,
                        Ether__ListOffsetsPartitionResult *result)
{
    result->partition = partition_number;
    result->timestamp_ms = -1;
    if (topic == NULL || partition_number >= topic->partitions_count) {
        result->error = (uint32_t)unknown_partition_error(broker);
        return;
    }
    struct broker_partition *partition =
        broker_partition_find(broker, controller_group_id(topic->topic_id, partition_number));
    if (partition == NULL || partition->closing) {
        result->error = ETHER_ERR_NOT_LEADER;
        return;
    }
    switch (request->spec) {
    case ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST:
        result->offset = partition->log_start_offset;
        return;
    case ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP:
        break;
    default:
        result->offset = partition->high_watermark;
        return;
    }
    struct broker_raft_log *raft_log = broker_replica_log(partition->replica);
    struct storage_log *log = broker_raft_log_storage(raft_log);
    struct storage_batch batch;
    storage_batch_init(&batch);
    uint64_t index = 0;
    broker_raft_log_lock(raft_log);
    int rc = storage_find_timestamp(log, request->timestamp_ms, &index);
    if (rc == ETHER_OK) {
        rc = storage_read(log, index, 1, &batch);
    }
    broker_raft_log_unlock(raft_log);
    result->offset = partition->high_watermark;
    if (rc == ETHER_OK && batch.entries_count > 0 &&
        batch.entries[0].base_offset < partition->high_watermark) {
        result->offset = batch.entries[0].base_offset;
        result->timestamp_ms = batch.entries[0].max_timestamp_ms;
    } else if (rc != ETHER_OK && rc != ETHER_ERR_NOT_FOUND) {
        result->error = (uint32_t)rc;
    }
    storage_batch_free(&batch);
}

void broker_handle_list_offsets(struct broker *broker, uint64_t connection_id,
                                const struct proto_frame_header *header, ProtobufCMessage *unpacked)
{
    Ether__ListOffsetsRequest *request = (Ether__ListOffsetsRequest *)unpacked;
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, request->topic);
    size_t count = request->n_partitions;
    Ether__ListOffsetsPartitionResult *results =
        ether_calloc(count > 0 ? count : 1, sizeof *results);
    Ether__ListOffsetsPartitionResult **pointers =
        ether_calloc(count > 0 ? count : 1, sizeof *pointers);
    for (size_t i = 0; i < count; i++) {
        ether__list_offsets_partition_result__init(&results[i]);
        list_offset(broker, topic, request->partitions[i], request, &results[i]);
        pointers[i] = &results[i];
    }
    Ether__ListOffsetsResponse response = ETHER__LIST_OFFSETS_RESPONSE__INIT;
    response.n_partitions = count;
    response.partitions = pointers;
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    ether_free(results);
    ether_free(pointers);
    proto_message_free(unpacked);
}

/* ---- leadership transfer ----------------------------------------------------------------- */

/*
 * The topic named `topic_name` if it has partition `number` (else NULL), and
 * this broker's replica of that partition (NULL when it hosts none).
 */
static struct broker_partition *lookup_partition(struct broker *broker, const char *topic_name,
                                                 uint32_t number,
                                                 const struct controller_topic **topic_out)
{
    const struct controller_topic *topic =
        controller_state_topic_by_name(&broker->controller.state, topic_name);
    if (topic == NULL || number >= topic->partitions_count) {
        *topic_out = NULL;
        return NULL;
    }
    *topic_out = topic;
    return broker_partition_find(broker, controller_group_id(topic->topic_id, number));
}

void broker_handle_transfer_leader(struct broker *broker, uint64_t connection_id,
                                   const struct proto_frame_header *header,
                                   ProtobufCMessage *unpacked)
{
    Ether__TransferLeaderRequest *request = (Ether__TransferLeaderRequest *)unpacked;
    Ether__TransferLeaderResponse response = ETHER__TRANSFER_LEADER_RESPONSE__INIT;
    response.error_message = "";
    const struct controller_topic *topic = NULL;
    struct broker_partition *partition =
        lookup_partition(broker, request->topic, request->partition, &topic);
    const struct controller_broker *target =
        controller_state_broker(&broker->controller.state, request->to_broker_id);
    if (topic == NULL || target == NULL) {
        response.error = ETHER_ERR_NOT_FOUND;
        response.error_message = "no such topic, partition or broker";
    } else if (partition == NULL || partition->status.role != RAFT_LEADER) {
        response.error = ETHER_ERR_NOT_LEADER;
        response.leader_hint_id = partition != NULL ? leader_broker_of(partition) : 0;
    } else {
        uint64_t target_node = broker_node_id(target->broker_id, (uint32_t)target->incarnation);
        int rc = broker_replica_transfer_leadership(partition->replica, target_node);
        response.error = (uint32_t)rc;
        response.leader_id = broker->broker_id;
        if (rc == ETHER_ERR_INVALID_ARGUMENT) {
            response.error_message = "the target is not a replica of this partition";
        }
    }
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    proto_message_free(unpacked);
}

/* ---- describe producers ------------------------------------------------------------------ */

void broker_handle_describe_producers(struct broker *broker, uint64_t connection_id,
                                      const struct proto_frame_header *header,
                                      ProtobufCMessage *unpacked)
{
    Ether__DescribeProducersRequest *request = (Ether__DescribeProducersRequest *)unpacked;
    Ether__DescribeProducersResponse response = ETHER__DESCRIBE_PRODUCERS_RESPONSE__INIT;
    response.error_message = "";
    const struct controller_topic *topic = NULL;
    struct broker_partition *partition =
        lookup_partition(broker, request->topic, request->partition, &topic);
    struct producer_description *producers = NULL;
    size_t count = 0;
    Ether__ProducerState *states = NULL;
    Ether__ProducerState **pointers = NULL;
    if (topic == NULL) {
        response.error = ETHER_ERR_NOT_FOUND;
        response.error_message = "no such topic or partition";
    } else if (partition == NULL || partition->closing) {
        response.error = ETHER_ERR_NOT_LEADER;
        const struct broker_leader_hint *hint = broker_leader_hint_find(
            broker, controller_group_id(topic->topic_id, request->partition));
        response.leader_hint_id = hint != NULL ? hint->leader_broker_id : 0;
    } else {
        producer_table_describe(&partition->producers, &producers, &count);
        states = ether_calloc(count > 0 ? count : 1, sizeof *states);
        pointers = ether_calloc(count > 0 ? count : 1, sizeof *pointers);
        for (size_t i = 0; i < count; i++) {
            ether__producer_state__init(&states[i]);
            states[i].producer_id = producers[i].producer_id;
            states[i].producer_epoch = (uint32_t)producers[i].producer_epoch;
            states[i].last_sequence = producers[i].last_sequence;
            states[i].last_offset = producers[i].last_offset;
            states[i].last_timestamp_ms = producers[i].last_timestamp_ms;
            pointers[i] = &states[i];
        }
        response.n_producers = count;
        response.producers = pointers;
    }
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    ether_free(producers);
    ether_free(states);
    ether_free(pointers);
    proto_message_free(unpacked);
}
