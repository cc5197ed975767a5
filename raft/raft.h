/*
 * raft.h: the Raft consensus algorithm as a pure, deterministic state machine.
 *
 * One `struct raft` is one member of one Raft group (one partition replica).
 * It performs no I/O: it never touches files, sockets, clocks, threads or a
 * random source. Inputs are function calls (ticks, received messages,
 * proposals); outputs are collected into a `struct raft_ready` batch that the
 * host (broker/, the simulator, a test) executes and then acknowledges with
 * raft_advance(). Randomized election timeouts come from a small PRNG seeded
 * by raft_config.random_seed, so a run is a pure function of its inputs.
 *
 * What it owns: the in-memory view of the group (term, vote, role, commit and
 * applied indexes, per-peer replication progress, entries not yet durable,
 * outgoing messages, pending reads). What it does NOT own: the durable log and
 * the snapshots. Raft reads them through `struct raft_log_storage` (read-only,
 * synchronous) and asks the host to change them through the ready batch.
 *
 * Features: leader election with randomized timeouts, pre-vote, check-quorum
 * with leader lease, pipelined and batched replication with bounded in-flight
 * messages and bytes per follower, fast conflict backtracking with hints, the
 * current-term commit rule (Raft paper section 5.4.2, Figure 8), a no-op entry
 * on election, chunked InstallSnapshot, single-server membership changes with
 * learners (configuration takes effect when appended, dissertation 4.1),
 * leadership transfer, ReadIndex linearizable reads, disk-full handling.
 *
 * Invariants (asserted): commit_index <= last durable-or-pending index;
 * applied_index <= commit_index; a node votes at most once per term; a leader
 * never truncates its own log; term never decreases.
 *
 * ---------------------------------------------------------------------------
 * THE READY / ADVANCE LOOP AND THE PERSISTENCE CONTRACT
 * ---------------------------------------------------------------------------
 *
 *   raft_tick / raft_step / raft_propose / ...      (any number of inputs)
 *   if (raft_has_ready(r)) {
 *       struct raft_ready rd;
 *       raft_ready(r, &rd);
 *       1. if rd.snapshot_chunk_present: write the chunk's bytes at its offset
 *          into the incoming snapshot (offset 0 starts a new one).
 *       2. if rd.snapshot_install: make the incoming snapshot current, restore
 *          the state machine from it and discard the WHOLE log (the log now
 *          starts after rd.snapshot->index). Raft asks for an install only
 *          when the log does not hold the snapshot's last entry (same index
 *          and term), so nothing the log loses was committed or acknowledged;
 *          a snapshot the log already covers is answered without transfer.
 *       3. if rd.truncate: remove every log entry with index >
 *          rd.truncate_after_index; then append rd.entries (contiguous,
 *          starting at truncate_after_index + 1, or at last index + 1 when
 *          truncate is false).
 *       4. if rd.hard_state_changed: store rd.hard_state.
 *       5. fsync everything written in 1-4 (one group commit may cover many
 *          groups' readies).
 *       6. send rd.messages.
 *       7. apply rd.committed_entries to the state machine, in order; then
 *          answer rd.read_states (their index is <= the applied index).
 *       8. raft_advance(r, &rd)   (or raft_advance_failed, below).
 *   }
 *
 * Simplest correct rule: persist, then send, then advance. The one exception
 * that is allowed (as in etcd): messages for which
 * raft_message_may_send_before_persist() is true (AppendEntries, heartbeats
 * and snapshot chunks sent BY A LEADER) may be sent before or in parallel
 * with step 5, because they depend only on the leader's term, which was made
 * durable in an earlier ready (when it became candidate), and the leader
 * counts its own log as replicated only after raft_advance(). Everything else
 * (vote and pre-vote answers, AppendEntries responses that acknowledge
 * entries, snapshot responses, vote requests carrying a new term) must be
 * sent only after the same ready's hard state, entries and snapshot are
 * durable.
 *
 * rd.hard_state.commit_index may be persisted lazily (it is not needed for
 * safety; a restarted node clamps it to its last index). It never exceeds the
 * entries that were durable and verified before this ready, so persisting it
 * together with entries that are then refused or torn is safe.
 * hard_state_changed is set only when term or vote changed; commit alone does
 * not set it.
 *
 * Between raft_ready() and raft_advance()/raft_advance_failed() the host must
 * not call any function that changes the raft (tick, step, propose, ...);
 * only the const accessors (raft_status, raft_progress, ...). Buffer inputs
 * that arrive meanwhile (or drop them: Raft tolerates lost messages).
 *
 * Failures while persisting:
 *   - fsync or write error (EIO, ...): the local log can no longer be
 *     trusted. The host must NOT call raft_advance; it must raft_destroy()
 *     the node and restart it from what is durable (storage/ reopens and
 *     recovers). No message of that ready may be sent (early messages that
 *     were already sent are harmless).
 *   - disk full (ETHER_ERR_NO_SPACE) while appending entries: the host makes
 *     sure the ready's truncation and entries left the log unchanged (all or
 *     nothing) while its hard state and snapshot ARE durable (the hard state
 *     is a tiny preallocated file that does not need new space; if it cannot
 *     be written either, treat it as an fsync error). The host sends only the
 *     ready's messages for which raft_message_may_send_after_failed_persist()
 *     is true (everything except answers that acknowledge entries or snapshot
 *     chunks) and calls raft_advance_failed(r, &rd, ETHER_ERR_NO_SPACE).
 *     Raft then:
 *       * never acknowledges those entries;
 *       * a follower forgets them (its leader resends later); it keeps
 *         answering heartbeats and granting votes, which need no new space;
 *       * a leader keeps them (copying their payloads, so the borrowing rule
 *         below still ends at this call) and retries in a later ready (at
 *         most once per tick); meanwhile raft_propose() fails with ETHER_ERR_NO_SPACE;
 *         the leader keeps heartbeating. The condition clears on the first
 *         ready whose entries are persisted.
 *
 * ---------------------------------------------------------------------------
 * OWNERSHIP OF BYTES
 * ---------------------------------------------------------------------------
 * Borrowed in: payload bytes passed to raft_propose(), the entries and
 * snapshot data inside a message passed to raft_step(): raft keeps pointers
 * to them (never copies payloads). They must stay valid and unchanged until
 * raft_advance() (or raft_advance_failed()) returns for the first ready
 * obtained after that call, or until raft_destroy(). After that advance the
 * entries are in the log storage (the host copied them once, when
 * persisting) or were discarded.
 *
 * Lent out: everything a ready points to (arrays, messages, entries, the
 * snapshot metadata, read states) is owned by raft or by the log storage and
 * stays valid until raft_advance()/raft_advance_failed() is called for it.
 * Hosts that keep messages longer (the simulator's network) deep-copy them.
 *
 * Log storage: pointers returned by raft_log_storage.entries() and
 * .snapshot_read() must stay valid until the next raft_advance() returns; the
 * host must not modify the log storage while a ready is outstanding, except
 * as the ready directs, and must not compact the log prefix then either
 * (compaction is allowed any other time, see raft_compact()).
 *
 * ---------------------------------------------------------------------------
 * MEMORY
 * ---------------------------------------------------------------------------
 * Allocation goes through common/mem.h (aborts on exhaustion). Buffers for
 * ready arrays are reused across readies; the steady-state path (propose,
 * replicate, commit, apply) does not allocate once buffers have grown. Large
 * buffers of an idle group are released on tick so that an idle 3-node group
 * stays under 2 KiB (see tests/unit/test_raft_memory.c).
 *
 * ---------------------------------------------------------------------------
 * BUG INJECTIONS (for the simulator to prove it bites; off by default)
 * ---------------------------------------------------------------------------
 * Compile raft/ with -DRAFT_BUG_COMMIT_PREVIOUS_TERM to let a leader commit
 * entries of previous terms by counting replicas (violates Figure 8), or with
 * -DRAFT_BUG_VOTE_FOR_SHORTER_LOG to grant votes without the log
 * up-to-date check. Each is a one-line deviation.
 */
#ifndef ETHER_RAFT_RAFT_H
#define ETHER_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Node ids are nonzero; 0 means "none" (no vote, no known leader). */
#define RAFT_ID_NONE ((uint64_t)0)

/* Members of one group, voters and learners together. */
enum { RAFT_SERVERS_MAX = 9 };

/* ------------------------------------------------------------------------ */
/* Entries and configurations                                                */
/* ------------------------------------------------------------------------ */

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* application data */
    RAFT_ENTRY_NOOP = 2,   /* appended by every new leader; empty data */
    RAFT_ENTRY_CONFIG = 3, /* data is an encoded raft_configuration */
};

/* A log entry descriptor. `data` is borrowed (see OWNERSHIP above). */
struct raft_entry {
    uint64_t term;
    uint64_t index;
    const uint8_t *data;
    uint32_t data_bytes;
    uint8_t type; /* enum raft_entry_type */
};

enum raft_server_role {
    RAFT_VOTER = 1,
    RAFT_LEARNER = 2, /* receives the log, does not vote, is not counted */
};

struct raft_server {
    uint64_t id;
    uint8_t role; /* enum raft_server_role */
};

/* Invariant: ids are unique and nonzero; servers_count <= RAFT_SERVERS_MAX. */
struct raft_configuration {
    uint32_t servers_count;
    struct raft_server servers[RAFT_SERVERS_MAX];
};

/*
 * Encoding of a configuration in a RAFT_ENTRY_CONFIG entry (little endian):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     format version, 1
 *   1       1     servers_count (n <= RAFT_SERVERS_MAX)
 *   2       9*n   per server: id (u64le), role (u8)
 */
enum { RAFT_CONFIGURATION_ENCODED_BYTES_MAX = 2 + 9 * RAFT_SERVERS_MAX };

/* Writes the encoding into `out` (room for RAFT_CONFIGURATION_ENCODED_BYTES_MAX); returns bytes. */
size_t raft_configuration_encode(const struct raft_configuration *configuration, uint8_t *out);

/* Decodes untrusted bytes; ETHER_ERR_CORRUPT on any inconsistency. */
int raft_configuration_decode(const uint8_t *data, size_t data_bytes,
                              struct raft_configuration *configuration);

/* Index in servers[] of `id`, or -1. */
int raft_configuration_find(const struct raft_configuration *configuration, uint64_t id);

/* Number of voters. */
uint32_t raft_configuration_voters_count(const struct raft_configuration *configuration);

/* Metadata of a snapshot: it covers every entry up to and including `index`. */
struct raft_snapshot_meta {
    uint64_t index; /* 0: no snapshot */
    uint64_t term;
    uint64_t size_bytes;                     /* of the snapshot data */
    struct raft_configuration configuration; /* in effect at `index` */
};

/* ------------------------------------------------------------------------ */
/* Log storage: read-only view of the durable log                            */
/* ------------------------------------------------------------------------ */

/*
 * Implemented by the host (broker/ on top of storage/, tests and the simulator
 * with raft/memory_log.h). Raft only reads through it; the host changes the
 * log as the ready batches direct. All functions are synchronous.
 *
 * The log holds entries [first_index, last_index]; an empty log has
 * last_index == first_index - 1. After compaction first_index ==
 * snapshot.index + 1 (or higher: the log may keep a suffix only).
 */
struct raft_log_storage {
    void *context;
    uint64_t (*first_index)(void *context);
    uint64_t (*last_index)(void *context);
    /* Term of `index` for index in [snapshot.index, last_index] (index 0 -> term 0).
     * ETHER_ERR_BELOW_START if compacted away, ETHER_ERR_OUT_OF_RANGE past the end. */
    int (*term_at)(void *context, uint64_t index, uint64_t *term);
    /* Descriptors of entries [index_low, index_high), at most out_count_max of them,
     * stopping before the total data exceeds bytes_max (but at least one entry).
     * Data pointers stay valid until the next raft_advance() returns. */
    int (*entries)(void *context, uint64_t index_low, uint64_t index_high, uint64_t bytes_max,
                   struct raft_entry *out, size_t out_count_max, size_t *out_count);
    /* The latest snapshot's metadata; index 0 when there is none. */
    int (*snapshot)(void *context, struct raft_snapshot_meta *meta);
    /* Up to bytes_max bytes of the latest snapshot's data from offset_bytes.
     * The pointer stays valid until the next raft_advance() returns. */
    int (*snapshot_read)(void *context, uint64_t offset_bytes, size_t bytes_max,
                         const uint8_t **data, size_t *data_bytes);
    /* The latest configuration at or below index_max: from a CONFIG entry, else
     * the snapshot's. ETHER_ERR_NOT_FOUND when there is none. */
    int (*configuration_at)(void *context, uint64_t index_max,
                            struct raft_configuration *configuration, uint64_t *index);
};

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

enum raft_message_type {
    RAFT_MSG_PRE_VOTE_REQ = 1,   /* term = candidate's term + 1; index/log_term = last log */
    RAFT_MSG_PRE_VOTE_RESP = 2,  /* term = the request's term; reject */
    RAFT_MSG_VOTE_REQ = 3,       /* index/log_term = last log; flags TRANSFER */
    RAFT_MSG_VOTE_RESP = 4,      /* reject */
    RAFT_MSG_APPEND_REQ = 5,     /* index/log_term = prev entry; entries; commit_index */
    RAFT_MSG_APPEND_RESP = 6,    /* index = last index now matching (or rejected prev) */
    RAFT_MSG_HEARTBEAT_REQ = 7,  /* commit_index; context = read round */
    RAFT_MSG_HEARTBEAT_RESP = 8, /* context echoed; index = responder's last index */
    RAFT_MSG_SNAPSHOT_REQ = 9,   /* snapshot, offset_bytes, data, done */
    RAFT_MSG_SNAPSHOT_RESP = 10, /* index = snapshot index; offset_bytes = next expected */
    RAFT_MSG_TIMEOUT_NOW = 11,   /* leader -> transfer target: campaign now */
    RAFT_MSG_TYPE_COUNT = 12,
};

enum {
    RAFT_MESSAGE_FLAG_TRANSFER = 1u << 0, /* vote request caused by leadership transfer */
};

/*
 * A message between members of a group. Raft does not serialize; proto/ maps
 * this struct to the wire. Fields a type does not use are zero.
 *
 * Received messages are untrusted: raft_step() validates them and returns
 * ETHER_ERR_CORRUPT (changing nothing) for impossible combinations.
 */
struct raft_message {
    uint8_t type; /* enum raft_message_type */
    uint8_t flags;
    bool reject;
    bool snapshot_done; /* SNAPSHOT_REQ: this is the last chunk */
    uint32_t entries_count;
    uint64_t group_id; /* opaque to raft: copied from raft_config.group_id */
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t index;    /* see the type list above */
    uint64_t log_term; /* term of `index` where meaningful */
    uint64_t commit_index;
    uint64_t context;           /* heartbeat read round */
    uint64_t reject_hint_index; /* APPEND_RESP reject: first index of reject_hint_term in the */
    uint64_t reject_hint_term;  /* follower's log, or its last index + 1 and term 0 */
    const struct raft_entry *entries;
    /* SNAPSHOT_REQ/RESP */
    const struct raft_snapshot_meta *snapshot;
    uint64_t offset_bytes;
    const uint8_t *data;
    size_t data_bytes;
};

/* True for the messages a host may send before the ready is durable (see above). */
bool raft_message_may_send_before_persist(const struct raft_message *message);

/* True for the messages a host may still send when persisting the ready's
 * entries failed with ETHER_ERR_NO_SPACE (all but APPEND_RESP and SNAPSHOT_RESP). */
bool raft_message_may_send_after_failed_persist(const struct raft_message *message);

/* "APPEND_REQ" etc., for traces. */
const char *raft_message_type_name(int type);

/* ------------------------------------------------------------------------ */
/* Configuration of a node                                                   */
/* ------------------------------------------------------------------------ */

struct raft_hard_state {
    uint64_t term;
    uint64_t vote; /* RAFT_ID_NONE when not voted in `term` */
    uint64_t commit_index;
};

struct raft_config {
    uint64_t id;                     /* this node, nonzero */
    uint64_t group_id;               /* stamped on outgoing messages */
    uint32_t election_timeout_ticks; /* randomized in [t, 2t) */
    uint32_t heartbeat_ticks;        /* < election_timeout_ticks */
    uint64_t random_seed;
    uint32_t inflight_messages_max;      /* AppendEntries in flight per follower */
    uint64_t inflight_bytes_max;         /* entry bytes in flight per follower */
    uint64_t append_bytes_max;           /* entry bytes per AppendEntries */
    uint32_t append_entries_max;         /* entries per AppendEntries */
    uint64_t snapshot_chunk_bytes;       /* data bytes per InstallSnapshot chunk */
    uint64_t apply_bytes_max;            /* committed entry bytes per ready */
    uint32_t read_requests_max;          /* pending raft_read_index() requests */
    uint64_t log_trailing_entries_count; /* kept behind a snapshot by raft_compact() */
    /* When nonzero, the leader promotes a learner to voter by itself once the
     * learner's match index is within this many entries of the leader's last
     * index (and no other change is in progress). Zero: the host promotes. */
    uint64_t learner_promote_lag_entries;
    bool pre_vote;
    bool check_quorum;
    const struct raft_log_storage *storage; /* borrowed; outlives the raft */
    /* Restored durable state (all zero for a brand-new node). */
    struct raft_hard_state hard_state;
    uint64_t applied_index; /* state machine already reflects entries <= this */
};

/* Fills `config` with defaults (10/1 ticks, 64 messages / 4 MiB in flight,
 * 1 MiB per append, 1 MiB chunks, pre-vote and check-quorum on). */
void raft_config_init(struct raft_config *config, uint64_t id,
                      const struct raft_log_storage *storage);

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */
/* ------------------------------------------------------------------------ */

struct raft;

/* Creates a node from `config` (copied) and the log storage's current content.
 * Returns 0 and stores the node, or ETHER_ERR_INVALID_ARGUMENT /
 * ETHER_ERR_CORRUPT (and writes a sentence into errstr). */
int raft_create(const struct raft_config *config, struct raft **out, char *errstr,
                size_t errstr_size);
void raft_destroy(struct raft *r);

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */
/* ------------------------------------------------------------------------ */

/* Advances logical time by one tick (elections, heartbeats, timeouts). */
void raft_tick(struct raft *r);

/* Feeds one received message. Returns 0, or ETHER_ERR_CORRUPT for a malformed
 * message (ignored), or ETHER_ERR_INVALID_ARGUMENT when it is for another
 * group or node. Messages from older terms are ignored and return 0. */
int raft_step(struct raft *r, const struct raft_message *message);

/* Appends `count` NORMAL entries with the given payloads (borrowed; see
 * OWNERSHIP) on the leader. On success stores the index of the first in
 * *index_first (the rest follow) and the term in *term (either may be NULL).
 * Errors: ETHER_ERR_NOT_LEADER (with *leader_hint = known leader or 0),
 * ETHER_ERR_TRANSFER_IN_PROGRESS, ETHER_ERR_NO_SPACE (disk full),
 * ETHER_ERR_TOO_LARGE (a payload exceeds UINT32_MAX). Nothing is appended on error. */
int raft_propose(struct raft *r, const uint8_t *const *datas, const uint32_t *datas_bytes,
                 size_t count, uint64_t *index_first, uint64_t *term, uint64_t *leader_hint);

enum raft_config_change {
    RAFT_CHANGE_ADD_LEARNER = 1,
    RAFT_CHANGE_PROMOTE = 2, /* learner -> voter */
    RAFT_CHANGE_REMOVE = 3,
};

/* One server at a time. Errors: ETHER_ERR_NOT_LEADER,
 * ETHER_ERR_CONFIG_CHANGE_IN_PROGRESS (an appended configuration is not yet
 * committed, or the new leader has not committed its first entry),
 * ETHER_ERR_TRANSFER_IN_PROGRESS, ETHER_ERR_EXISTS (add of a member),
 * ETHER_ERR_NOT_FOUND (promote/remove of a non-member or promote of a voter),
 * ETHER_ERR_INVALID_ARGUMENT (id 0, too many servers, removing the last voter),
 * ETHER_ERR_NO_SPACE. On success *index is the config entry's index. */
int raft_propose_config_change(struct raft *r, enum raft_config_change change, uint64_t server_id,
                               uint64_t *index);

/* Starts moving leadership to voter `target`: replicate until it is caught up,
 * then send it TimeoutNow. Proposals fail with TRANSFER_IN_PROGRESS until the
 * transfer finishes or is aborted after one election timeout. Errors:
 * NOT_LEADER, TRANSFER_IN_PROGRESS, NOT_FOUND (not a voter), INVALID_ARGUMENT (self). */
int raft_transfer_leadership(struct raft *r, uint64_t target);

/* Requests a linearizable read point. On the leader the request is answered
 * in a ready's read_states with an index once (a) the leader has committed an
 * entry of its term, (b) a quorum answered a heartbeat sent after the request,
 * (c) applied_index >= that index. Requests still pending when the node loses
 * leadership are answered with index 0 and error ETHER_ERR_DROPPED.
 * Errors: NOT_LEADER (+ hint), BUSY (read_requests_max pending). */
int raft_read_index(struct raft *r, uint64_t request_context, uint64_t *leader_hint);

/* The application durably stored a snapshot of its state machine covering
 * entries <= snapshot_index (<= applied index) and the log storage now returns
 * it from .snapshot(). Returns the highest index the host may now remove from
 * the log prefix (snapshot_index minus log_trailing_entries_count, or 0). Must
 * not be called while a ready is outstanding. Order: record the snapshot in the
 * log storage, call raft_compact() before any other call on r (it drops queued
 * messages, which may point at the old snapshot data or at entries about to be
 * removed), then remove the prefix. */
uint64_t raft_compact(struct raft *r, uint64_t snapshot_index);

/* The host could not reach `id` (connection refused, ...): the leader stops
 * pipelining to it and probes instead. */
void raft_report_unreachable(struct raft *r, uint64_t id);

/* Starts a campaign now (tests, forced failover). No-op for non-voters. */
void raft_campaign(struct raft *r);

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

enum raft_role {
    RAFT_FOLLOWER = 1,
    RAFT_PRE_CANDIDATE = 2,
    RAFT_CANDIDATE = 3,
    RAFT_LEADER = 4,
};

const char *raft_role_name(enum raft_role role);

/* A chunk of a snapshot received from the leader, to write at offset_bytes. */
struct raft_snapshot_chunk {
    const struct raft_snapshot_meta *meta;
    uint64_t offset_bytes; /* 0 starts a new incoming snapshot */
    const uint8_t *data;
    size_t data_bytes;
    bool last; /* the incoming snapshot is complete after this chunk */
};

/* The answer to raft_read_index(): linearizable once applied_index >= index. */
struct raft_read_state {
    uint64_t request_context;
    uint64_t index;
    int error; /* 0, or ETHER_ERR_DROPPED (leadership lost) */
};

struct raft_ready {
    /* 1. snapshot from a leader */
    bool snapshot_chunk_present;
    struct raft_snapshot_chunk snapshot_chunk;
    bool snapshot_install;
    const struct raft_snapshot_meta *snapshot; /* when snapshot_install */

    /* 2. log */
    bool truncate;
    uint64_t truncate_after_index;
    const struct raft_entry *entries;
    size_t entries_count;

    /* 3. hard state: must be durable before messages are sent if changed */
    bool hard_state_changed;
    struct raft_hard_state hard_state;

    /* 4. messages */
    const struct raft_message *messages;
    size_t messages_count;

    /* 5. apply, then answer reads */
    const struct raft_entry *committed_entries;
    size_t committed_entries_count;
    const struct raft_read_state *read_states;
    size_t read_states_count;

    /* 6. notifications */
    bool role_changed; /* role or leader_id changed since the previous ready */
    enum raft_role role;
    uint64_t leader_id;
    uint64_t term;
    bool configuration_changed; /* raft_configuration() differs from the previous ready */
};

bool raft_has_ready(const struct raft *r);

/* Fills `out` with everything to do; see the loop at the top. */
void raft_ready(struct raft *r, struct raft_ready *out);

/* The host executed `ready` completely (persisted, sent, applied). */
void raft_advance(struct raft *r, const struct raft_ready *ready);

/* The host could not persist `ready`'s entries; error is ETHER_ERR_NO_SPACE
 * (any other persistence error means: destroy and restart the node). */
void raft_advance_failed(struct raft *r, const struct raft_ready *ready, int error);

/* ------------------------------------------------------------------------ */
/* Read-only accessors (allowed while a ready is outstanding)                */
/* ------------------------------------------------------------------------ */

struct raft_status {
    uint64_t id;
    enum raft_role role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader_id;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t first_index;
    uint64_t last_index; /* including entries not yet durable */
    uint64_t configuration_index;
    uint64_t transfer_target; /* 0 when no transfer */
    bool disk_full;
};

void raft_status(const struct raft *r, struct raft_status *out);

const struct raft_configuration *raft_configuration(const struct raft *r);

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 1,     /* one AppendEntries at a time, finding next_index */
    RAFT_PROGRESS_REPLICATE = 2, /* pipelining */
    RAFT_PROGRESS_SNAPSHOT = 3,  /* sending a snapshot */
};

struct raft_progress_info {
    uint64_t id;
    uint8_t role;  /* enum raft_server_role */
    uint8_t state; /* enum raft_progress_state */
    bool recent_active;
    uint64_t match_index;
    uint64_t next_index;
    uint32_t inflight_messages_count;
    uint64_t inflight_bytes;
};

/* Leader only: progress of member `id`. NOT_LEADER or NOT_FOUND otherwise. */
int raft_progress(const struct raft *r, uint64_t id, struct raft_progress_info *out);

/* Bytes of heap held by `r` now, plus sizeof(struct raft); for memory budgets. */
size_t raft_memory_bytes(const struct raft *r);

#endif
