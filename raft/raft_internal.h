/*
 * raft_internal.h: the layout of struct raft and the helpers shared by the
 * raft .c files. Nothing outside raft/ includes this.
 *
 * The logical log seen by the algorithm is
 *     storage[first .. stable tail]  ++  unstable[0 .. unstable_count)
 * where the stable tail is the storage's last index, cut back to
 * truncate_after_index while a truncation is pending, or to the incoming
 * snapshot's index while a snapshot install is pending. Pending changes reach
 * storage through the next ready; raft_advance() re-reads the storage's last
 * index and clears them.
 *
 * Invariants: unstable entries are contiguous and start right after the stable
 * tail; progress[i] describes configuration.servers[i]; messages referencing
 * entries or snapshot metadata are stored in creation order, so raft_ready()
 * can point them into the entry and snapshot arenas by running offsets.
 */
#ifndef ETHER_RAFT_RAFT_INTERNAL_H
#define ETHER_RAFT_RAFT_INTERNAL_H

#include "common/panic.h"
#include "raft/raft.h"

struct raft_inflight {
    uint64_t last_index;
    uint64_t bytes;
};

/* Replication state of one member, seen from the leader (and votes when candidate). */
struct raft_progress {
    uint64_t id;
    uint64_t match_index;
    uint64_t next_index;
    uint64_t snapshot_index;        /* SNAPSHOT state: the snapshot being sent */
    uint64_t snapshot_offset_bytes; /* SNAPSHOT state: next byte to send */
    uint64_t read_round_acked;      /* highest heartbeat round answered */
    uint64_t inflight_bytes;
    struct raft_inflight *inflights; /* ring of inflight_messages_max, allocated lazily */
    uint32_t inflight_start;
    uint32_t inflight_count;
    uint32_t response_wait_ticks; /* ticks without an append/snapshot answer */
    uint8_t role;                 /* enum raft_server_role */
    uint8_t state;                /* enum raft_progress_state */
    bool recent_active;
    bool probe_sent; /* PROBE: one append outstanding; SNAPSHOT: one chunk outstanding */
    bool vote_responded;
    bool vote_granted;
    bool timeout_now_sent;
};

/* A snapshot arriving from the leader in chunks. */
struct raft_incoming_snapshot {
    struct raft_snapshot_meta meta;
    uint64_t next_offset_bytes;
    bool chunk_pending; /* `chunk` must go out in the next ready */
    bool install_pending;
    struct raft_snapshot_chunk chunk;
};

struct raft_read_request {
    uint64_t request_context;
    uint64_t index;
    uint64_t round;
};

struct raft {
    struct raft_config config;
    const struct raft_log_storage *storage;

    /* persistent state (in memory; durable once a ready carrying it is advanced) */
    uint64_t term;
    uint64_t vote;
    uint64_t commit_index;
    uint64_t applied_index;
    struct raft_hard_state hard_state_persisted;

    /* volatile */
    uint64_t leader_id;
    uint64_t prng_state;
    uint32_t election_elapsed_ticks;
    uint32_t heartbeat_elapsed_ticks;
    uint32_t election_timeout_randomized_ticks;
    uint32_t idle_ticks;
    uint8_t role; /* enum raft_role */
    uint8_t role_reported;
    bool configuration_changed;
    bool ready_outstanding;
    bool broadcast_pending; /* leader: send appends at the next raft_ready() */
    bool disk_full;
    bool disk_retry_wait; /* leader: hold unstable entries back until the next tick */
    bool read_broadcast_pending;
    uint64_t leader_reported;

    /* membership */
    struct raft_configuration configuration;
    uint64_t configuration_index;
    struct raft_progress *progress; /* progress_count == configuration.servers_count */
    uint32_t progress_count;
    uint8_t *config_entry_data; /* payload of the leader's own unstable CONFIG entry */
    uint8_t *retained_payloads; /* leader, disk full: copies of its unstable payloads */

    /* log view */
    uint64_t stable_last_index; /* storage's last index after the last advance */
    bool truncate_pending;
    uint64_t truncate_after_index;
    struct raft_entry *unstable;
    size_t unstable_count;
    size_t unstable_capacity;
    uint64_t leader_noop_index; /* leader: index of its election no-op */

    /* outbox */
    struct raft_message *messages;
    size_t messages_count;
    size_t messages_capacity;
    struct raft_entry *message_entries;
    size_t message_entries_count;
    size_t message_entries_capacity;
    struct raft_snapshot_meta *message_snapshots;
    size_t message_snapshots_count;
    size_t message_snapshots_capacity;

    /* apply */
    struct raft_entry *committed;
    size_t committed_capacity;
    uint64_t applying_index; /* applied_index once the outstanding ready is advanced */

    /* reads */
    struct raft_read_request *reads;
    size_t reads_count;
    size_t reads_capacity;
    uint64_t read_round;
    struct raft_read_state *read_states;
    size_t read_states_count;
    size_t read_states_capacity;
    size_t read_states_offered; /* how many the outstanding ready carries */

    /* snapshots and transfer */
    struct raft_incoming_snapshot *incoming;
    uint64_t transfer_target;
    uint32_t transfer_elapsed_ticks;
};

/* raft.c */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader_id);
void raft_become_leader(struct raft *r);
struct raft_message *raft_message_new(struct raft *r, uint8_t type, uint64_t to);
void raft_messages_drop(struct raft *r);
void raft_election_timeout_reset(struct raft *r);
void *raft_array_grow(void *array, size_t *capacity, size_t needed, size_t element_bytes);

/* log.c */
uint64_t raft_log_last_index(const struct raft *r);
uint64_t raft_log_first_index(const struct raft *r);
uint64_t raft_log_stable_tail(const struct raft *r);
int raft_log_term_at(const struct raft *r, uint64_t index, uint64_t *term);
uint64_t raft_log_last_term(const struct raft *r);
int raft_log_entries(struct raft *r, uint64_t index_low, uint64_t index_high, uint64_t bytes_max,
                     struct raft_entry *out, size_t out_count_max, size_t *out_count);
void raft_log_append_unstable(struct raft *r, const struct raft_entry *entries, size_t count);
void raft_log_truncate_from(struct raft *r, uint64_t index);
uint64_t raft_log_first_index_of_term(const struct raft *r, uint64_t low, uint64_t high,
                                      uint64_t term);
uint64_t raft_log_last_index_with_term_at_most(const struct raft *r, uint64_t low, uint64_t high,
                                               uint64_t term);
bool raft_log_committed_in_term(const struct raft *r);

/* progress.c */
struct raft_progress *raft_progress_find(struct raft *r, uint64_t id);
void raft_progress_rebuild(struct raft *r, const struct raft_configuration *old);
void raft_progress_reset_for_leader(struct raft *r);
void raft_progress_free(struct raft *r);
void raft_progress_become_probe(struct raft_progress *p, uint64_t next_index);
void raft_progress_become_replicate(struct raft_progress *p);
bool raft_progress_inflight_full(const struct raft *r, const struct raft_progress *p);
void raft_progress_inflight_add(struct raft *r, struct raft_progress *p, uint64_t last_index,
                                uint64_t bytes);
void raft_progress_inflight_free_to(const struct raft *r, struct raft_progress *p, uint64_t index);
void raft_progress_inflight_reset(struct raft_progress *p);
void raft_progress_inflight_release(struct raft_progress *p);
bool raft_is_voter(const struct raft *r, uint64_t id);
bool raft_quorum_active(const struct raft *r);
size_t raft_quorum_size(const struct raft *r);

/* election.c */
void raft_campaign_start(struct raft *r, bool pre_vote, bool transfer);
void raft_tick_election(struct raft *r);
void raft_recv_vote_request(struct raft *r, const struct raft_message *m);
void raft_recv_vote_response(struct raft *r, const struct raft_message *m);
bool raft_in_lease(const struct raft *r);

/* replication.c */
void raft_send_append(struct raft *r, struct raft_progress *p, bool allow_empty);
void raft_send_appends_while_possible(struct raft *r, struct raft_progress *p);
void raft_broadcast_append(struct raft *r);
void raft_broadcast_heartbeat(struct raft *r, uint64_t round);
void raft_tick_leader(struct raft *r);
void raft_recv_append_request(struct raft *r, const struct raft_message *m);
void raft_recv_append_response(struct raft *r, const struct raft_message *m);
void raft_recv_heartbeat_request(struct raft *r, const struct raft_message *m);
void raft_recv_heartbeat_response(struct raft *r, const struct raft_message *m);
void raft_maybe_commit(struct raft *r);
void raft_append_own(struct raft *r, uint8_t type, const uint8_t *data, uint32_t data_bytes);

/* snapshot.c */
void raft_snapshot_send_start(struct raft *r, struct raft_progress *p);
void raft_snapshot_send_chunk(struct raft *r, struct raft_progress *p);
void raft_recv_snapshot_request(struct raft *r, const struct raft_message *m);
void raft_recv_snapshot_response(struct raft *r, const struct raft_message *m);

/* membership.c */
void raft_configuration_apply(struct raft *r, const struct raft_configuration *configuration,
                              uint64_t index);
void raft_configuration_recompute(struct raft *r);
void raft_maybe_promote_learner(struct raft *r, struct raft_progress *p);
void raft_maybe_step_down_removed(struct raft *r);
bool raft_configuration_valid(const struct raft_configuration *configuration);

/* transfer.c */
void raft_transfer_maybe_send_timeout_now(struct raft *r, struct raft_progress *p);
void raft_transfer_abort(struct raft *r);
void raft_recv_timeout_now(struct raft *r, const struct raft_message *m);

/* read_index.c */
void raft_reads_on_heartbeat_ack(struct raft *r);
void raft_reads_drop_all(struct raft *r);
bool raft_reads_releasable(const struct raft *r, uint64_t applied_after);
void raft_reads_release(struct raft *r, uint64_t applied_after);
void raft_reads_free_if_idle(struct raft *r);

#endif
