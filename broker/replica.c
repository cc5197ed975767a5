/*
 * replica.c: happy path, once per loop turn:
 *   flush: queued ticks, messages and proposals -> Raft; raft_ready; send the
 *          messages a leader may send early; queue persistence on the pool.
 *   pool:  broker_raft_log_persist (writes, hard state, one sync).
 *   done:  caches forward; persisted(); send the other messages; apply();
 *          raft_advance; release read buffers and borrows; role_changed().
 *
 * Failure modes: a persistence error other than disk full stops the replica
 * (no message of that ready is sent, Raft is not advanced) and reports
 * failed(): the owner reopens it from what is durable. Disk full is reported
 * to Raft with raft_advance_failed; the group stays alive.
 */
#include "broker/replica.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <stdio.h>
#include <string.h>

enum { PENDING_TICKS_MAX = 64 };

enum compaction_phase {
    COMPACTION_IDLE,
    COMPACTION_WRITING_SNAPSHOT, /* pool */
    COMPACTION_TELL_RAFT,        /* loop, between readies */
    COMPACTION_REMOVING,         /* pool */
    COMPACTION_REFRESH,          /* loop, between readies */
};

struct queued_message {
    struct raft_message message;
    struct broker_borrow borrow;
};

struct queued_proposal {
    const uint8_t *data;
    uint32_t data_bytes;
    struct broker_borrow borrow;
    broker_proposed_fn *on_proposed;
    void *on_proposed_context;
};

struct borrow_list {
    struct broker_borrow *items;
    size_t count;
    size_t capacity;
};

struct broker_replica {
    uv_loop_t *loop;
    uint64_t group_id;
    struct raft *raft;
    struct broker_raft_log *raft_log;
    struct broker_replica_callbacks callbacks;
    const struct ether_logger *logger;
    uint32_t inputs_queued_max;

    struct queued_message *messages;
    size_t messages_count;
    size_t messages_capacity;
    struct queued_proposal *proposals;
    size_t proposals_count;
    size_t proposals_capacity;
    uint32_t pending_ticks;
    uint64_t pending_transfer_target;
    bool pending_campaign;
    bool pending_change_present;
    enum raft_config_change pending_change;
    uint64_t pending_change_server_id;

    /* Borrows Raft may point into: taken since the last raft_ready, and those
     * covered by the ready being persisted (released after its advance). */
    struct borrow_list borrowed_since_ready;
    struct borrow_list borrowed_in_ready;

    bool persisting;
    bool failed;
    bool closing;
    uv_work_t work;
    struct raft_ready ready;
    int persist_result;
    struct raft_status last_status;
    void (*on_closed)(void *context);
    void *on_closed_context;

    /* Compaction in progress (see broker_replica_compact). */
    enum compaction_phase compaction_phase;
    struct broker_compaction compaction;
    struct raft_snapshot_meta compaction_snapshot;
    uint64_t compaction_removable_index;
    uint64_t compaction_previous_snapshot_index;
    /* The snapshot taken before the current one in this process (0: not known): retention
     * never removes entries it would need to replay from. */
    uint64_t snapshot_before_current_index;
    int compaction_result;
    uv_work_t compaction_work;
    broker_compacted_fn *compaction_done;
    void *compaction_done_context;

    /* Scratch for one flush's batch of proposals. */
    const uint8_t **propose_datas;
    uint32_t *propose_sizes;
    size_t propose_capacity;
};

void broker_replica_options_init(struct broker_replica_options *options)
{
    memset(options, 0, sizeof *options);
    options->election_timeout_ticks = 20;
    options->heartbeat_ticks = 2;
    options->inputs_queued_max = 16384;
}

/* ---- borrows ----------------------------------------------------------------------------- */

static void borrow_list_add(struct borrow_list *list, const struct broker_borrow *borrow)
{
    if (borrow == NULL || borrow->release == NULL) {
        return;
    }
    if (list->count == list->capacity) {
        list->capacity = list->capacity == 0 ? 8 : list->capacity * 2;
        list->items = ether_realloc(list->items, list->capacity * sizeof *list->items);
    }
    list->items[list->count++] = *borrow;
}

static void borrow_list_release(struct borrow_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        list->items[i].release(list->items[i].object);
    }
    list->count = 0;
}

static void borrow_list_move(struct borrow_list *to, struct borrow_list *from)
{
    for (size_t i = 0; i < from->count; i++) {
        borrow_list_add(to, &from->items[i]);
    }
    from->count = 0;
}

static void release_borrow(const struct broker_borrow *borrow)
{
    if (borrow != NULL && borrow->release != NULL) {
        borrow->release(borrow->object);
    }
}

/* ---- open and close ---------------------------------------------------------------------- */

int broker_replica_open(uv_loop_t *loop, const struct broker_replica_options *options,
                        const struct broker_replica_callbacks *callbacks,
                        struct broker_replica **replica_out, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(options->node_id != RAFT_ID_NONE);
    ETHER_ASSERT(options->describe != NULL);
    struct storage_log *log = NULL;
    char detail[256] = "";
    int rc = storage_open(options->dir_path, options->storage_options, &log, detail, sizeof detail);
    if (rc != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "%s: %s", options->dir_path, detail);
        return rc;
    }
    struct broker_raft_log *raft_log = NULL;
    rc = broker_raft_log_open(log, options->describe, options->describe_context, options->logger,
                              &raft_log, detail, sizeof detail);
    if (rc != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "%s: %s", options->dir_path, detail);
        return rc;
    }
    if (options->bootstrap_configuration != NULL && broker_raft_log_is_new(raft_log)) {
        rc = broker_raft_log_bootstrap(raft_log, options->bootstrap_configuration);
        if (rc != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "%s: bootstrap: %s", options->dir_path,
                     ether_strerror(rc));
            goto err_after_log;
        }
    }
    struct raft_config config;
    raft_config_init(&config, options->node_id, broker_raft_log_view(raft_log));
    config.group_id = options->group_id;
    config.election_timeout_ticks = options->election_timeout_ticks;
    config.heartbeat_ticks = options->heartbeat_ticks;
    config.random_seed = options->random_seed;
    /* The log is the data: what may go is decided by retention, not by Raft. Raft only
     * learns where the snapshot is, and ships it to a follower whose next entry retention
     * has already removed. */
    config.log_trailing_entries_count = 0;
    rc = broker_raft_log_hard_state(raft_log, &config.hard_state);
    if (rc != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "%s: hard state: %s", options->dir_path, ether_strerror(rc));
        goto err_after_log;
    }
    struct raft_snapshot_meta snapshot;
    broker_raft_log_view(raft_log)->snapshot(broker_raft_log_view(raft_log)->context, &snapshot);
    config.applied_index = snapshot.index;

    struct broker_replica *replica = ether_calloc(1, sizeof *replica);
    rc = raft_create(&config, &replica->raft, detail, sizeof detail);
    if (rc != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "%s: %s", options->dir_path, detail);
        ether_free(replica);
        goto err_after_log;
    }
    replica->loop = loop;
    replica->group_id = options->group_id;
    replica->raft_log = raft_log;
    replica->callbacks = *callbacks;
    replica->logger = options->logger;
    replica->inputs_queued_max = options->inputs_queued_max;
    replica->work.data = replica;
    raft_status(replica->raft, &replica->last_status);
    *replica_out = replica;
    return ETHER_OK;

err_after_log:
    broker_raft_log_close(raft_log);
    return rc;
}

static void free_replica(struct broker_replica *replica)
{
    for (size_t i = 0; i < replica->messages_count; i++) {
        release_borrow(&replica->messages[i].borrow);
    }
    for (size_t i = 0; i < replica->proposals_count; i++) {
        struct queued_proposal *proposal = &replica->proposals[i];
        proposal->on_proposed(proposal->on_proposed_context, ETHER_ERR_STOPPED, 0, 0, 0);
        release_borrow(&proposal->borrow);
    }
    borrow_list_release(&replica->borrowed_since_ready);
    borrow_list_release(&replica->borrowed_in_ready);
    raft_destroy(replica->raft);
    broker_raft_log_close(replica->raft_log);
    void (*on_closed)(void *) = replica->on_closed;
    void *context = replica->on_closed_context;
    ether_free(replica->messages);
    ether_free(replica->proposals);
    ether_free(replica->borrowed_since_ready.items);
    ether_free(replica->borrowed_in_ready.items);
    ether_free(replica->propose_datas);
    ether_free(replica->propose_sizes);
    ether_free(replica);
    if (on_closed != NULL) {
        on_closed(context);
    }
}

static bool compaction_on_pool(const struct broker_replica *replica)
{
    return replica->compaction_phase == COMPACTION_WRITING_SNAPSHOT ||
           replica->compaction_phase == COMPACTION_REMOVING;
}

/* Frees the replica once nothing of it runs on the pool. */
static void free_if_quiet(struct broker_replica *replica)
{
    if (!replica->persisting && !compaction_on_pool(replica)) {
        if (replica->compaction_phase != COMPACTION_IDLE) {
            ether_free(replica->compaction.state);
            replica->compaction_done(replica->compaction_done_context, ETHER_ERR_STOPPED, 0);
            replica->compaction_phase = COMPACTION_IDLE;
        }
        free_replica(replica);
    }
}

void broker_replica_close(struct broker_replica *replica, void (*on_closed)(void *context),
                          void *context)
{
    ETHER_ASSERT(!replica->closing);
    replica->closing = true;
    replica->on_closed = on_closed;
    replica->on_closed_context = context;
    free_if_quiet(replica);
}

/* ---- inputs ------------------------------------------------------------------------------ */

static size_t inputs_queued(const struct broker_replica *replica)
{
    return replica->messages_count + replica->proposals_count;
}

void broker_replica_tick(struct broker_replica *replica)
{
    if (replica->pending_ticks < PENDING_TICKS_MAX) {
        replica->pending_ticks++;
    }
}

int broker_replica_step(struct broker_replica *replica, const struct raft_message *message,
                        const struct broker_borrow *borrow)
{
    if (replica->closing || replica->failed ||
        inputs_queued(replica) >= replica->inputs_queued_max) {
        release_borrow(borrow);
        return ETHER_ERR_BUSY;
    }
    if (replica->messages_count == replica->messages_capacity) {
        replica->messages_capacity =
            replica->messages_capacity == 0 ? 16 : replica->messages_capacity * 2;
        replica->messages = ether_realloc(replica->messages,
                                          replica->messages_capacity * sizeof *replica->messages);
    }
    struct queued_message *queued = &replica->messages[replica->messages_count++];
    queued->message = *message;
    queued->borrow = borrow != NULL ? *borrow : (struct broker_borrow){NULL, NULL};
    return ETHER_OK;
}

int broker_replica_propose(struct broker_replica *replica, const uint8_t *data, uint32_t data_bytes,
                           const struct broker_borrow *borrow, broker_proposed_fn *on_proposed,
                           void *on_proposed_context, uint64_t *leader_hint)
{
    ETHER_ASSERT(on_proposed != NULL);
    struct raft_status status;
    raft_status(replica->raft, &status);
    *leader_hint = status.leader_id;
    if (replica->closing || replica->failed) {
        return ETHER_ERR_STOPPED;
    }
    if (status.role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (inputs_queued(replica) >= replica->inputs_queued_max) {
        return ETHER_ERR_BUSY;
    }
    if (replica->proposals_count == replica->proposals_capacity) {
        replica->proposals_capacity =
            replica->proposals_capacity == 0 ? 16 : replica->proposals_capacity * 2;
        replica->proposals = ether_realloc(replica->proposals, replica->proposals_capacity *
                                                                   sizeof *replica->proposals);
    }
    replica->proposals[replica->proposals_count++] = (struct queued_proposal){
        .data = data,
        .data_bytes = data_bytes,
        .borrow = borrow != NULL ? *borrow : (struct broker_borrow){NULL, NULL},
        .on_proposed = on_proposed,
        .on_proposed_context = on_proposed_context,
    };
    return ETHER_OK;
}

void broker_replica_campaign(struct broker_replica *replica)
{
    replica->pending_campaign = true;
}

int broker_replica_transfer_leadership(struct broker_replica *replica, uint64_t target)
{
    struct raft_status status;
    raft_status(replica->raft, &status);
    if (status.role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (raft_configuration_find(raft_configuration(replica->raft), target) < 0 ||
        target == status.id) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    replica->pending_transfer_target = target;
    return ETHER_OK;
}

int broker_replica_change_configuration(struct broker_replica *replica,
                                        enum raft_config_change change, uint64_t server_id)
{
    struct raft_status status;
    raft_status(replica->raft, &status);
    if (status.role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (replica->pending_change_present) {
        return ETHER_ERR_CONFIG_CHANGE_IN_PROGRESS;
    }
    replica->pending_change_present = true;
    replica->pending_change = change;
    replica->pending_change_server_id = server_id;
    return ETHER_OK;
}

bool broker_replica_has_work(const struct broker_replica *replica)
{
    if (replica->persisting || replica->failed || replica->closing) {
        return false;
    }
    return replica->pending_ticks > 0 || inputs_queued(replica) > 0 ||
           replica->pending_transfer_target != 0 || replica->pending_change_present ||
           replica->pending_campaign || raft_has_ready(replica->raft);
}

/* ---- the ready loop ---------------------------------------------------------------------- */

static void feed_inputs(struct broker_replica *replica)
{
    for (uint32_t t = 0; t < replica->pending_ticks; t++) {
        raft_tick(replica->raft);
    }
    replica->pending_ticks = 0;

    for (size_t i = 0; i < replica->messages_count; i++) {
        struct queued_message *queued = &replica->messages[i];
        int rc = raft_step(replica->raft, &queued->message);
        if (rc != ETHER_OK) {
            ether_log_warn(replica->logger, "group %llu: dropped %s from %llx: %s",
                           (unsigned long long)replica->group_id,
                           raft_message_type_name(queued->message.type),
                           (unsigned long long)queued->message.from, ether_strerror(rc));
        }
        borrow_list_add(&replica->borrowed_since_ready, &queued->borrow);
    }
    replica->messages_count = 0;

    if (replica->proposals_count > 0) {
        size_t count = replica->proposals_count;
        if (count > replica->propose_capacity) {
            replica->propose_datas =
                ether_realloc(replica->propose_datas, count * sizeof *replica->propose_datas);
            replica->propose_sizes =
                ether_realloc(replica->propose_sizes, count * sizeof *replica->propose_sizes);
            replica->propose_capacity = count;
        }
        for (size_t i = 0; i < count; i++) {
            replica->propose_datas[i] = replica->proposals[i].data;
            replica->propose_sizes[i] = replica->proposals[i].data_bytes;
        }
        uint64_t index_first = 0;
        uint64_t term = 0;
        uint64_t leader_hint = 0;
        int rc = raft_propose(replica->raft, replica->propose_datas, replica->propose_sizes, count,
                              &index_first, &term, &leader_hint);
        /* The callbacks may queue more proposals: take this batch out first. */
        struct queued_proposal *batch = replica->proposals;
        replica->proposals = NULL;
        replica->proposals_count = 0;
        replica->proposals_capacity = 0;
        for (size_t i = 0; i < count; i++) {
            if (rc == ETHER_OK) {
                borrow_list_add(&replica->borrowed_since_ready, &batch[i].borrow);
                batch[i].on_proposed(batch[i].on_proposed_context, ETHER_OK, index_first + i, term,
                                     0);
            } else {
                release_borrow(&batch[i].borrow);
                batch[i].on_proposed(batch[i].on_proposed_context, rc, 0, 0, leader_hint);
            }
        }
        ether_free(batch);
    }

    if (replica->pending_campaign) {
        raft_campaign(replica->raft);
        replica->pending_campaign = false;
    }
    if (replica->pending_transfer_target != 0) {
        int rc = raft_transfer_leadership(replica->raft, replica->pending_transfer_target);
        if (rc != ETHER_OK) {
            ether_log_info(replica->logger, "group %llu: leadership transfer to %llx: %s",
                           (unsigned long long)replica->group_id,
                           (unsigned long long)replica->pending_transfer_target,
                           ether_strerror(rc));
        }
        replica->pending_transfer_target = 0;
    }
    if (replica->pending_change_present) {
        uint64_t index = 0;
        int rc = raft_propose_config_change(replica->raft, replica->pending_change,
                                            replica->pending_change_server_id, &index);
        if (rc != ETHER_OK) {
            ether_log_info(replica->logger, "group %llu: membership change %d of %llx: %s",
                           (unsigned long long)replica->group_id, (int)replica->pending_change,
                           (unsigned long long)replica->pending_change_server_id,
                           ether_strerror(rc));
        }
        replica->pending_change_present = false;
    }
}

enum send_phase { SEND_EARLY, SEND_AFTER_PERSIST, SEND_AFTER_FAILED_PERSIST };

static void send_messages(struct broker_replica *replica, enum send_phase phase)
{
    for (size_t i = 0; i < replica->ready.messages_count; i++) {
        const struct raft_message *message = &replica->ready.messages[i];
        bool early = raft_message_may_send_before_persist(message);
        bool send = false;
        switch (phase) {
        case SEND_EARLY:
            send = early;
            break;
        case SEND_AFTER_PERSIST:
            send = !early;
            break;
        case SEND_AFTER_FAILED_PERSIST:
            send = !early && raft_message_may_send_after_failed_persist(message);
            break;
        }
        if (send) {
            replica->callbacks.send(replica->callbacks.context, replica, message);
        }
    }
}

/* ---- compaction -------------------------------------------------------------------------- */

static void compaction_finish(struct broker_replica *replica, int rc, uint64_t first_index)
{
    ether_free(replica->compaction.state);
    replica->compaction.state = NULL;
    replica->compaction_phase = COMPACTION_IDLE;
    replica->compaction_done(replica->compaction_done_context, rc, first_index);
}

static void compaction_remove_work(uv_work_t *work)
{
    struct broker_replica *replica = work->data;
    uint64_t removed = 0;
    replica->compaction_result = broker_raft_log_apply_retention(
        replica->raft_log, &replica->compaction.retention, replica->compaction.now_ms,
        replica->compaction_removable_index + 1, &removed);
}

static void compaction_pool_done(uv_work_t *work, int status);

/* Moves the compaction on by the steps that must run on the loop between readies. */
static void compaction_advance(struct broker_replica *replica)
{
    if (replica->persisting || replica->closing) {
        return;
    }
    if (replica->compaction_phase == COMPACTION_TELL_RAFT) {
        struct raft_snapshot_meta current;
        const struct raft_log_storage *view = broker_raft_log_view(replica->raft_log);
        view->snapshot(view->context, &current);
        if (replica->compaction_snapshot.index <= current.index) {
            /* A leader's snapshot was installed meanwhile and covers this one. */
            compaction_finish(replica, ETHER_ERR_DROPPED, 0);
            return;
        }
        broker_raft_log_snapshot_written(replica->raft_log, &replica->compaction_snapshot,
                                         replica->compaction.next_offset);
        replica->compaction_removable_index =
            raft_compact(replica->raft, replica->compaction_snapshot.index);
        /* Keep the entries since the previous snapshot too: if the new one is ever found
         * damaged, storage falls back to the previous one and Raft replays from there. */
        if (replica->compaction_removable_index > replica->compaction_previous_snapshot_index) {
            replica->compaction_removable_index = replica->compaction_previous_snapshot_index;
        }
        replica->snapshot_before_current_index = replica->compaction_previous_snapshot_index;
        bool retention_wanted = replica->compaction.retention.retention_bytes > 0 ||
                                replica->compaction.retention.retention_ms > 0;
        if (!retention_wanted || replica->compaction_removable_index == 0) {
            compaction_finish(
                replica, ETHER_OK,
                broker_raft_log_view(replica->raft_log)->first_index(replica->raft_log));
            return;
        }
        replica->compaction_phase = COMPACTION_REMOVING;
        int rc = uv_queue_work(replica->loop, &replica->compaction_work, compaction_remove_work,
                               compaction_pool_done);
        ETHER_ASSERT(rc == 0);
        return;
    }
    if (replica->compaction_phase == COMPACTION_REFRESH) {
        broker_raft_log_refresh_bounds(replica->raft_log);
        compaction_finish(replica, replica->compaction_result,
                          broker_raft_log_view(replica->raft_log)->first_index(replica->raft_log));
    }
}

static void compaction_snapshot_work(uv_work_t *work)
{
    struct broker_replica *replica = work->data;
    replica->compaction_result = broker_raft_log_snapshot_write(
        replica->raft_log, &replica->compaction_snapshot, replica->compaction.next_offset,
        replica->compaction.state, replica->compaction.state_bytes);
}

static void compaction_pool_done(uv_work_t *work, int status)
{
    struct broker_replica *replica = work->data;
    ETHER_ASSERT(status == 0);
    if (replica->closing) {
        /* The pool work is over: finish the compaction as stopped, then free if quiet. */
        ether_free(replica->compaction.state);
        replica->compaction.state = NULL;
        replica->compaction_phase = COMPACTION_IDLE;
        replica->compaction_done(replica->compaction_done_context, ETHER_ERR_STOPPED, 0);
        free_if_quiet(replica);
        return;
    }
    if (replica->compaction_result != ETHER_OK) {
        ether_log_warn(replica->logger, "group %llu: compaction failed: %s",
                       (unsigned long long)replica->group_id,
                       ether_strerror(replica->compaction_result));
        compaction_finish(replica, replica->compaction_result, 0);
        return;
    }
    replica->compaction_phase = replica->compaction_phase == COMPACTION_WRITING_SNAPSHOT
                                    ? COMPACTION_TELL_RAFT
                                    : COMPACTION_REFRESH;
    compaction_advance(replica);
}

int broker_replica_compact(struct broker_replica *replica, struct broker_compaction *compaction,
                           broker_compacted_fn *done, void *done_context)
{
    ETHER_ASSERT(done != NULL);
    if (replica->compaction_phase != COMPACTION_IDLE || replica->closing || replica->failed ||
        broker_raft_log_receiving_snapshot(replica->raft_log)) {
        return ETHER_ERR_BUSY; /* storage has one snapshot being written at a time */
    }
    struct raft_status status;
    raft_status(replica->raft, &status);
    const struct raft_log_storage *view = broker_raft_log_view(replica->raft_log);
    struct raft_snapshot_meta current;
    view->snapshot(view->context, &current);
    bool retention_wanted =
        compaction->retention.retention_bytes > 0 || compaction->retention.retention_ms > 0;
    if (compaction->index == current.index && current.index > 0 && retention_wanted &&
        replica->snapshot_before_current_index > 0) {
        /* Nothing new to snapshot: only let retention remove what is older than the
         * snapshot before the current one. */
        replica->compaction = *compaction;
        replica->compaction_done = done;
        replica->compaction_done_context = done_context;
        replica->compaction_removable_index = replica->snapshot_before_current_index;
        replica->compaction_phase = COMPACTION_REMOVING;
        replica->compaction_work.data = replica;
        int rc = uv_queue_work(replica->loop, &replica->compaction_work, compaction_remove_work,
                               compaction_pool_done);
        ETHER_ASSERT(rc == 0);
        return ETHER_OK;
    }
    if (compaction->index > status.applied_index || compaction->index <= current.index) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct raft_snapshot_meta snapshot = {.index = compaction->index};
    uint64_t configuration_index = 0;
    if (view->term_at(view->context, compaction->index, &snapshot.term) != ETHER_OK ||
        view->configuration_at(view->context, compaction->index, &snapshot.configuration,
                               &configuration_index) != ETHER_OK) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    replica->compaction = *compaction;
    replica->compaction_snapshot = snapshot;
    replica->compaction_previous_snapshot_index = current.index;
    replica->compaction_done = done;
    replica->compaction_done_context = done_context;
    replica->compaction_phase = COMPACTION_WRITING_SNAPSHOT;
    replica->compaction_work.data = replica;
    int rc = uv_queue_work(replica->loop, &replica->compaction_work, compaction_snapshot_work,
                           compaction_pool_done);
    ETHER_ASSERT(rc == 0);
    return ETHER_OK;
}

bool broker_replica_compacting(const struct broker_replica *replica)
{
    return replica->compaction_phase != COMPACTION_IDLE;
}

static void persist_work(uv_work_t *work)
{
    struct broker_replica *replica = work->data;
    replica->persist_result = broker_raft_log_persist(replica->raft_log, &replica->ready);
}

static void persist_done(uv_work_t *work, int status)
{
    struct broker_replica *replica = work->data;
    ETHER_ASSERT(status == 0);
    ETHER_ASSERT(replica->persisting);
    int result = replica->persist_result;
    broker_raft_log_persisted(replica->raft_log, &replica->ready, result);
    replica->persisting = false;

    if (result != ETHER_OK && result != ETHER_ERR_NO_SPACE) {
        ether_log_error(replica->logger,
                        "group %llu: persisting failed (%s); stopping this replica, it will be "
                        "reopened from disk",
                        (unsigned long long)replica->group_id, ether_strerror(result));
        replica->failed = true;
        if (replica->closing) {
            free_if_quiet(replica);
            return;
        }
        replica->callbacks.failed(replica->callbacks.context, replica, result);
        return;
    }
    if (replica->closing) {
        /* The owner is going away: nothing is reported to it any more. Raft is not
         * advanced either; it is destroyed with the replica. */
        borrow_list_release(&replica->borrowed_in_ready);
        broker_raft_log_release_reads(replica->raft_log);
        free_if_quiet(replica);
        return;
    }
    /* A snapshot is durable (and installed as far as Raft is concerned) also when the
     * entries after it did not fit. */
    if (replica->ready.snapshot_install) {
        struct raft_snapshot_meta meta;
        uint64_t next_offset = 0;
        broker_raft_log_snapshot(replica->raft_log, &meta, &next_offset);
        replica->callbacks.snapshot_installed(replica->callbacks.context, replica, &meta,
                                              next_offset);
    }
    if (result == ETHER_OK && replica->ready.entries_count > 0) {
        const struct storage_entry *appended = NULL;
        size_t appended_count = 0;
        broker_raft_log_appended(replica->raft_log, &appended, &appended_count);
        replica->callbacks.persisted(replica->callbacks.context, replica, appended, appended_count);
    }
    send_messages(replica, result == ETHER_OK ? SEND_AFTER_PERSIST : SEND_AFTER_FAILED_PERSIST);
    /* After a failed append Raft offers the committed entries again in a later ready
     * (raft_advance_failed): applying them now would apply them twice. */
    if (result == ETHER_OK && replica->ready.committed_entries_count > 0) {
        replica->callbacks.apply(replica->callbacks.context, replica,
                                 replica->ready.committed_entries,
                                 replica->ready.committed_entries_count);
    }
    bool role_changed = replica->ready.role_changed;
    if (result == ETHER_ERR_NO_SPACE) {
        ether_log_warn(replica->logger, "group %llu: disk full, %zu entries not stored",
                       (unsigned long long)replica->group_id, replica->ready.entries_count);
        raft_advance_failed(replica->raft, &replica->ready, ETHER_ERR_NO_SPACE);
    } else {
        raft_advance(replica->raft, &replica->ready);
    }
    broker_raft_log_release_reads(replica->raft_log);
    borrow_list_release(&replica->borrowed_in_ready);
    if (replica->closing) {
        free_if_quiet(replica);
        return;
    }
    compaction_advance(replica);
    if (role_changed) {
        raft_status(replica->raft, &replica->last_status);
        replica->callbacks.role_changed(replica->callbacks.context, replica, &replica->last_status);
    }
}

void broker_replica_flush(struct broker_replica *replica)
{
    if (replica->persisting || replica->failed || replica->closing) {
        return;
    }
    compaction_advance(replica);
    feed_inputs(replica);
    if (!raft_has_ready(replica->raft)) {
        return; /* borrows wait for the advance of the next ready, as raft.h asks */
    }
    raft_ready(replica->raft, &replica->ready);
    borrow_list_move(&replica->borrowed_in_ready, &replica->borrowed_since_ready);
    send_messages(replica, SEND_EARLY);
    replica->persisting = true;
    int rc = uv_queue_work(replica->loop, &replica->work, persist_work, persist_done);
    ETHER_ASSERT(rc == 0);
}

/* ---- accessors --------------------------------------------------------------------------- */

uint64_t broker_replica_group_id(const struct broker_replica *replica)
{
    return replica->group_id;
}

void broker_replica_status(const struct broker_replica *replica, struct raft_status *status)
{
    raft_status(replica->raft, status);
}

struct broker_raft_log *broker_replica_log(struct broker_replica *replica)
{
    return replica->raft_log;
}

const struct raft_configuration *broker_replica_configuration(const struct broker_replica *replica)
{
    return raft_configuration(replica->raft);
}

int broker_replica_progress(const struct broker_replica *replica, uint64_t id,
                            struct raft_progress_info *info)
{
    return raft_progress(replica->raft, id, info);
}

uint64_t broker_replica_next_proposal_index(const struct broker_replica *replica)
{
    struct raft_status status;
    raft_status(replica->raft, &status);
    return status.last_index + replica->proposals_count + 1;
}
