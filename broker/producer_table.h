/*
 * producer_table.h: the idempotent-producer sequence table of one partition
 * (Kafka KIP-98 semantics).
 *
 * Every batch an idempotent producer sends carries (producer_id, epoch,
 * base_sequence) and record_count; the batch's records have the sequences
 * base_sequence .. base_sequence + record_count - 1. The partition leader
 * checks each batch before proposing it (producer_table_check) so a retried
 * batch lands in the log exactly once; every replica, the leader included,
 * applies each committed data batch in log order (producer_table_apply), so
 * all replicas hold the same table and a new leader answers as the old one.
 *
 * Pure and deterministic: no I/O, no clock, no randomness. Time is "log time",
 * the largest max_timestamp_ms of the batches applied so far, so expiry
 * depends only on the log. expiry_ms is part of the replicated semantics:
 * every replica of a partition must use the same value.
 *
 * Check, for an idempotent batch (producer_id >= 0) against what the table
 * knows of its producer, committed state plus the leader's in-flight batches:
 *   - unknown producer: base_sequence 0 is accepted (any epoch), anything
 *     else is ETHER_ERR_UNKNOWN_PRODUCER (never seen, or expired);
 *   - epoch lower than known: ETHER_ERR_PRODUCER_FENCED;
 *   - epoch higher than known: base_sequence must be 0 (accepted: the new
 *     epoch then forgets the old epoch's batches), else
 *     ETHER_ERR_OUT_OF_ORDER_SEQUENCE;
 *   - same epoch: the same first and last sequence as one of the producer's
 *     last PRODUCER_TABLE_BATCHES_MAX committed batches or of its in-flight
 *     batches is a DUPLICATE (answered with the original's offset, or its raft
 *     index while it is in flight); base_sequence = last sequence + 1 is
 *     accepted; anything else (a gap, or an older batch no longer remembered)
 *     is ETHER_ERR_OUT_OF_ORDER_SEQUENCE.
 * Sequences are int32 and wrap as Kafka's do: after INT32_MAX comes 0, also
 * inside a batch (base INT32_MAX with 3 records covers INT32_MAX, 0, 1).
 *
 * Committed state versus in-flight state. The committed part (what apply
 * builds) is replicated: it is the same on every replica and is what a
 * snapshot holds. The in-flight part is the leader's own: batches it proposed
 * (producer_table_note_in_flight) and has not yet seen committed. It makes a
 * retry that races its original a DUPLICATE instead of a second copy, and lets
 * a producer pipeline batches. Apply drops the in-flight record of the batch
 * it commits; producer_table_forget_in_flight drops them all and must be
 * called when the leader's uncommitted entries may be truncated (leadership
 * lost, log truncated).
 *
 * Caller's duty at leadership change: a new leader's log may hold committed
 * or uncommitted batches of earlier terms that its table has not applied yet.
 * It must not check batches until it has applied every entry before the first
 * entry of its own term, or must note_in_flight each such data entry first;
 * otherwise a retry of one of them would be accepted a second time.
 *
 * Expiry. A producer's last_timestamp_ms is the log time right after its last
 * batch was applied (the batch's max timestamp, or later when an earlier batch
 * of the log carried a later one), so a producer with a lagging clock is not
 * expired early. After each apply, producers with
 * last_timestamp_ms < log_time_ms - expiry_ms are forgotten; their next batch
 * must start at sequence 0 or gets ETHER_ERR_UNKNOWN_PRODUCER.
 *
 * Untrusted input. Batch fields come from the network (check) or the log
 * (apply): invalid values (producer_id < -1; for producer_id >= 0 a negative
 * epoch or base_sequence, record_count 0 or above PROTO_BATCH_RECORDS_MAX)
 * get ETHER_ERR_INVALID_ARGUMENT from check and only advance log time in
 * apply. Apply accepts whatever the log committed (a batch that would have
 * failed the check is still recorded, except a stale epoch, which is ignored),
 * so all replicas agree even on a log the leader should not have written.
 *
 * Owns: every producer entry (freed by producer_table_free).
 *
 * Invariants:
 *   - at most PRODUCER_TABLE_BATCHES_MAX committed batches and
 *     PRODUCER_TABLE_IN_FLIGHT_MAX in-flight batches per producer;
 *   - a producer's committed batches all have its epoch, are in log order with
 *     increasing, non-overlapping offsets;
 *   - every committed producer has last_timestamp_ms <= log_time_ms, and the
 *     expiry list orders them by last_timestamp_ms;
 *   - two tables that applied the same batches encode to the same bytes.
 *
 * Snapshot layout (all integers little-endian):
 *   OFFSET SIZE DESCRIPTION
 *        0    4 crc32c of bytes [4, end)
 *        4    2 version: PRODUCER_TABLE_SNAPSHOT_VERSION
 *        6    2 reserved, zero
 *        8    8 log_time_ms (int64; INT64_MIN before any batch was applied)
 *       16    4 producers_count
 *       20    - producers_count producer records, by producer_id ascending
 * Producer record (PRODUCER_TABLE_RECORD_BYTES):
 *        0    8 producer_id (int64, >= 0)
 *        8    2 epoch (int16, >= 0)
 *       10    1 batches_count, 1..PRODUCER_TABLE_BATCHES_MAX
 *       11    1 reserved, zero
 *       12    8 last_timestamp_ms (int64, <= log_time_ms)
 *       20   80 PRODUCER_TABLE_BATCHES_MAX batch slots of 16 bytes, oldest
 *               first; slots past batches_count are all zero:
 *                 0 4 first_sequence (int32, >= 0)
 *                 4 4 last_sequence (int32, >= 0; < first_sequence when the
 *                     batch wraps)
 *                 8 8 base_offset (uint64; the batch holds offsets base_offset
 *                     .. base_offset + record_count - 1, and starts after the
 *                     previous batch's last offset)
 * The snapshot is exactly 20 + producers_count * 100 bytes. In-flight batches
 * are not part of it. A producer's last_sequence and last_offset are those of
 * its newest batch, so they are not stored twice.
 */
#ifndef ETHER_BROKER_PRODUCER_TABLE_H
#define ETHER_BROKER_PRODUCER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/proto.h"

enum {
    PRODUCER_TABLE_BATCHES_MAX = 5,   /* committed batches remembered per producer */
    PRODUCER_TABLE_IN_FLIGHT_MAX = 5, /* proposed, uncommitted batches per producer */
    PRODUCER_TABLE_SNAPSHOT_VERSION = 1,
    PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES = 20,
    PRODUCER_TABLE_RECORD_BYTES = 100,
};

/* The producer fields of one batch (see proto_batch_header). */
struct producer_batch_info {
    int64_t producer_id; /* -1: not idempotent, always accepted */
    int16_t producer_epoch;
    int32_t base_sequence;
    uint32_t record_count;
};

static inline struct producer_batch_info
producer_batch_info_from_header(const struct proto_batch_header *header)
{
    struct producer_batch_info info = {
        .producer_id = header->producer_id,
        .producer_epoch = header->producer_epoch,
        .base_sequence = header->base_sequence,
        .record_count = header->record_count,
    };
    return info;
}

enum producer_check_verdict {
    PRODUCER_CHECK_ACCEPT = 1, /* the next batch of its producer (or not idempotent): append it */
    PRODUCER_CHECK_DUPLICATE,  /* already in the log or in flight: do not append it again */
};

struct producer_check_result {
    enum producer_check_verdict verdict;
    bool in_flight;       /* DUPLICATE: the original is proposed but not committed yet */
    uint64_t base_offset; /* DUPLICATE, !in_flight: the original's base offset */
    uint64_t raft_index;  /* DUPLICATE, in_flight: the original's raft index; wait for it */
};

/* What DescribeProducers reports of one producer (committed state only). */
struct producer_description {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t last_sequence;     /* sequence of the last record of the last batch */
    uint64_t last_offset;      /* offset of that record */
    int64_t last_timestamp_ms; /* log time when the last batch was applied */
};

struct producer_entry; /* private to producer_table.c */

/* Use only through the functions below. */
struct producer_table {
    uint64_t expiry_ms;
    int64_t log_time_ms;           /* INT64_MIN before the first batch */
    struct producer_entry **slots; /* open addressing by producer id; NULL: empty */
    size_t slots_count;            /* a power of two, or 0 */
    size_t entries_count;          /* entries in slots (committed or only in flight) */
    size_t committed_count;        /* entries with committed state */
    struct producer_entry *oldest; /* expiry list of committed entries, by last timestamp */
    struct producer_entry *newest;
};

/* An empty table; producers idle for more than expiry_ms of log time are forgotten
 * (UINT64_MAX: never). */
void producer_table_init(struct producer_table *table, uint64_t expiry_ms);

/* Frees every entry; the table is then as after init with the same expiry_ms. */
void producer_table_free(struct producer_table *table);

/*
 * Judges `batch` against the committed and in-flight state (see the top).
 * Returns 0 with out->verdict ACCEPT or DUPLICATE, or
 * ETHER_ERR_OUT_OF_ORDER_SEQUENCE, ETHER_ERR_PRODUCER_FENCED,
 * ETHER_ERR_UNKNOWN_PRODUCER, ETHER_ERR_INVALID_ARGUMENT (impossible fields),
 * ETHER_ERR_BUSY (the producer already has PRODUCER_TABLE_IN_FLIGHT_MAX
 * batches in flight; retry once one commits). Changes nothing.
 */
int producer_table_check(const struct producer_table *table,
                         const struct producer_batch_info *batch,
                         struct producer_check_result *out);

/*
 * Leader only: records that `batch`, which producer_table_check just
 * accepted, was proposed as the raft entry `raft_index` (larger than the
 * producer's previous in-flight index). Non-idempotent batches are ignored.
 */
void producer_table_note_in_flight(struct producer_table *table,
                                   const struct producer_batch_info *batch, uint64_t raft_index);

/* Drops every in-flight record: the uncommitted entries may be gone. */
void producer_table_forget_in_flight(struct producer_table *table);

/*
 * Every replica: applies the committed data batch at `base_offset` (offsets
 * base_offset .. base_offset + record_count - 1), in log order. Advances log
 * time to max_timestamp_ms when later, records the batch as its producer's
 * newest (dropping its in-flight record), then expires idle producers.
 */
void producer_table_apply(struct producer_table *table, const struct producer_batch_info *batch,
                          uint64_t base_offset, int64_t max_timestamp_ms);

/* Log time: the largest max_timestamp_ms applied; INT64_MIN before the first batch. */
int64_t producer_table_log_time_ms(const struct producer_table *table);

/* Producers with committed state. */
size_t producer_table_count(const struct producer_table *table);

/* Fills *out with the committed state of `producer_id`; false when unknown. */
bool producer_table_lookup(const struct producer_table *table, int64_t producer_id,
                           struct producer_description *out);

/*
 * Every producer with committed state, by producer_id ascending. On return the
 * caller owns *producers (NULL when none; free with ether_free).
 */
void producer_table_describe(const struct producer_table *table,
                             struct producer_description **producers, size_t *count);

/* Appends the snapshot of the committed state (layout at the top) to `out`. */
void producer_table_encode(const struct producer_table *table, struct ether_buf *out);

/*
 * Replaces the content of `table` (initialised; its expiry_ms is kept) with
 * the snapshot in data[0, size_bytes); in-flight records are dropped. Returns
 * 0; ETHER_ERR_CORRUPT when the bytes fail the checksum, have the wrong size
 * or break an invariant; ETHER_ERR_UNSUPPORTED for a newer version. On error
 * `table` is unchanged.
 */
int producer_table_decode(const uint8_t *data, size_t size_bytes, struct producer_table *table);

#endif
