/*
 * replica.h: one member of one Raft group hosted by etherd (a partition
 * replica, or this broker's seat in the controller group).
 *
 * It drives raft.h's ready loop on the libuv loop: inputs (messages, ticks,
 * proposals) are queued and fed to Raft once per loop turn by
 * broker_replica_flush, which takes the ready and hands its persistence to
 * libuv's thread pool (never the loop thread: an fsync there would delay
 * heartbeats of every group). When the disk work is done, the loop sends the
 * ready's messages, applies committed entries, and advances Raft. All
 * proposals of one loop turn go into one ready, so they share one fsync.
 *
 * Owns: the raft node, its broker_raft_log (and storage log), the queues, and
 * the borrows (unpacked requests whose bytes Raft points into), which it
 * releases once Raft no longer needs them (after the advance that follows).
 *
 * Invariants: Raft is never called between raft_ready and raft_advance
 * except through const accessors; at most one ready is being persisted;
 * messages that raft.h says must wait for persistence are sent after it.
 */
#ifndef ETHER_BROKER_REPLICA_H
#define ETHER_BROKER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/raft_log.h"
#include "common/log.h"
#include "raft/raft.h"
#include "storage/storage.h"

struct broker_replica;

/* Something kept alive for Raft; `release` is called once, when Raft is done with it. */
struct broker_borrow {
    void (*release)(void *object);
    void *object;
};

/* The answer to a proposal: rc 0 with the entry's index and term, or an error. */
typedef void broker_proposed_fn(void *context, int rc, uint64_t index, uint64_t term,
                                uint64_t leader_hint);

struct broker_replica_callbacks {
    void *context;
    /* Sends one message; what it keeps it must copy before returning. */
    void (*send)(void *context, struct broker_replica *replica, const struct raft_message *message);
    /* Committed entries, in order, exactly once each per process lifetime. */
    void (*apply)(void *context, struct broker_replica *replica, const struct raft_entry *entries,
                  size_t entries_count);
    /* Entries now durable on this replica, as stored (with base offsets). */
    void (*persisted)(void *context, struct broker_replica *replica,
                      const struct storage_entry *entries, size_t entries_count);
    /* A snapshot from the leader replaced this replica's state and log: the
     * application restarts from it (entries after meta->index follow via apply). */
    void (*snapshot_installed)(void *context, struct broker_replica *replica,
                               const struct raft_snapshot_meta *meta, uint64_t next_offset);
    /* Role, leader or term changed. */
    void (*role_changed)(void *context, struct broker_replica *replica,
                         const struct raft_status *status);
    /* Persistence failed: the replica has stopped; close and reopen it. */
    void (*failed)(void *context, struct broker_replica *replica, int error);
};

struct broker_replica_options {
    uint64_t group_id;
    uint64_t node_id;
    const char *dir_path;
    /* Founding members pass the initial configuration; a replica that joins
     * an existing group (or restarts) passes NULL. */
    const struct raft_configuration *bootstrap_configuration;
    uint32_t election_timeout_ticks;
    uint32_t heartbeat_ticks;
    uint64_t random_seed;
    uint32_t inputs_queued_max; /* messages + proposals waiting for the next flush */
    const struct storage_options *storage_options;
    broker_entry_describe_fn *describe;
    void *describe_context;
    const struct ether_logger *logger;
};

void broker_replica_options_init(struct broker_replica_options *options);

int broker_replica_open(uv_loop_t *loop, const struct broker_replica_options *options,
                        const struct broker_replica_callbacks *callbacks,
                        struct broker_replica **replica_out, char *errbuf, size_t errbuf_size);

/* Stops after any disk work in flight; `on_closed` (may be NULL) runs after the free. */
void broker_replica_close(struct broker_replica *replica, void (*on_closed)(void *context),
                          void *context);

/* Queues one tick. */
void broker_replica_tick(struct broker_replica *replica);

/*
 * Queues a received message. `borrow` (may be NULL) is released once Raft
 * no longer points into the message. Returns ETHER_ERR_BUSY when the queue is
 * full (the message is dropped, as a lossy network would) and releases the
 * borrow itself.
 */
int broker_replica_step(struct broker_replica *replica, const struct raft_message *message,
                        const struct broker_borrow *borrow);

/*
 * Queues a proposal of one NORMAL entry; `on_proposed` is called (from a later
 * flush) with its index, or with an error. Returns ETHER_ERR_NOT_LEADER (with
 * *leader_hint) or ETHER_ERR_BUSY at once when the proposal cannot be queued;
 * then nothing is called and the borrow is not taken.
 */
int broker_replica_propose(struct broker_replica *replica, const uint8_t *data, uint32_t data_bytes,
                           const struct broker_borrow *borrow, broker_proposed_fn *on_proposed,
                           void *on_proposed_context, uint64_t *leader_hint);

/*
 * The Raft index the next broker_replica_propose will get if it succeeds: the
 * queued proposals are proposed in order, in one batch, at the next flush.
 */
uint64_t broker_replica_next_proposal_index(const struct broker_replica *replica);

/* Feeds queued inputs to Raft and starts persisting its ready. Call once per loop turn. */
void broker_replica_flush(struct broker_replica *replica);

/* True when flush has something to do. */
bool broker_replica_has_work(const struct broker_replica *replica);

uint64_t broker_replica_group_id(const struct broker_replica *replica);
void broker_replica_status(const struct broker_replica *replica, struct raft_status *status);
struct broker_raft_log *broker_replica_log(struct broker_replica *replica);

/*
 * Compaction: snapshot the application at an applied index, tell Raft, then
 * let retention remove whole segments below what Raft no longer needs. The
 * disk work runs on the pool; Raft is told between readies.
 */
struct broker_compaction {
    uint64_t index;       /* an applied index; the snapshot covers entries up to it */
    uint64_t next_offset; /* the application's next record offset after `index` */
    uint8_t *state;       /* application state (taken over, freed with ether_free); may be NULL */
    size_t state_bytes;
    struct storage_retention retention; /* zero: snapshot only, remove nothing */
    int64_t now_ms;
};

/* rc 0 with the log's new first index, or the error that stopped the compaction. */
typedef void broker_compacted_fn(void *context, int rc, uint64_t first_index);

/*
 * Starts a compaction. Returns ETHER_ERR_BUSY when one is running,
 * ETHER_ERR_INVALID_ARGUMENT when `index` is not applied or not past the
 * current snapshot; then nothing is taken over and `done` is not called.
 */
int broker_replica_compact(struct broker_replica *replica, struct broker_compaction *compaction,
                           broker_compacted_fn *done, void *done_context);

bool broker_replica_compacting(const struct broker_replica *replica);

/* Starts an election at the next flush (a preferred leader claiming its group). */
void broker_replica_campaign(struct broker_replica *replica);

/* Leader only: starts moving leadership to `target`; errors as raft_transfer_leadership. */
int broker_replica_transfer_leadership(struct broker_replica *replica, uint64_t target);

/* Leader only: queues a membership change (see raft_propose_config_change). */
int broker_replica_change_configuration(struct broker_replica *replica,
                                        enum raft_config_change change, uint64_t server_id);

const struct raft_configuration *broker_replica_configuration(const struct broker_replica *replica);

/* Leader only: replication progress of member `id` (see raft_progress). */
int broker_replica_progress(const struct broker_replica *replica, uint64_t id,
                            struct raft_progress_info *info);

#endif
