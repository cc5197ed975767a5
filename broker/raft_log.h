/*
 * raft_log.h: one Raft group's log and durable state kept in storage/ (etherd
 * internal). It gives raft/ its read-only `struct raft_log_storage` view and
 * carries out the writes a ready batch asks for.
 *
 * Threads: broker_raft_log_persist runs on the disk worker thread; everything
 * else on the event loop thread. A mutex serialises their use of the
 * storage_log. The values raft reads most (first/last index, terms of the
 * entries written by this process, configurations) are cached on the loop
 * thread and only change in broker_raft_log_persisted, which the loop calls
 * after the worker finished and before raft_advance, so Raft never sees a log
 * that is half written.
 *
 * Snapshot envelope: the snapshot bytes Raft ships between brokers, and
 * storage/ keeps, begin with a header this module owns, followed by the
 * application's state:
 *   OFFSET SIZE DESCRIPTION
 *        0    4 magic "ESNV"
 *        4    4 envelope_bytes: this header plus the configuration
 *        8    8 next_offset: the partition's next record offset after the snapshot
 *       16    N the Raft configuration at the snapshot index (raft_configuration_encode)
 *
 * Entry mapping: a NORMAL Raft entry is a storage DATA entry whose record
 * count and timestamp the owner's describe callback reads from the payload
 * (a record batch header for partitions, 1 for controller commands); NOOP and
 * CONFIG entries map to storage's control entries and have no records.
 *
 * Owns: the storage_log passed to broker_raft_log_open, the read batches lent
 * to Raft (released by broker_raft_log_release_reads after each advance).
 */
#ifndef ETHER_BROKER_RAFT_LOG_H
#define ETHER_BROKER_RAFT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "raft/raft.h"
#include "storage/storage.h"

enum { BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES = 16 };

/* Reads what storage needs to know about a NORMAL entry's payload. Returns 0
 * or an error (the entry is then refused: nothing of that ready is written). */
typedef int broker_entry_describe_fn(void *context, const struct raft_entry *entry,
                                     uint32_t *record_count, int64_t *max_timestamp_ms);

struct broker_raft_log;

/*
 * Takes ownership of `log` (also on failure, when it is closed), loads the
 * snapshot metadata and scans the log after the snapshot for configuration
 * entries (the only scan: bounded by how often snapshots are taken).
 */
int broker_raft_log_open(struct storage_log *log, broker_entry_describe_fn *describe,
                         void *describe_context, const struct ether_logger *logger,
                         struct broker_raft_log **out, char *errbuf, size_t errbuf_size);

void broker_raft_log_close(struct broker_raft_log *raft_log);

const struct raft_log_storage *broker_raft_log_view(struct broker_raft_log *raft_log);

/* The storage log, for the owner's reads (fetch). Lock around use from the loop. */
struct storage_log *broker_raft_log_storage(struct broker_raft_log *raft_log);
void broker_raft_log_lock(struct broker_raft_log *raft_log);
void broker_raft_log_unlock(struct broker_raft_log *raft_log);

/* True when the group has never been written (no entry, no snapshot, no vote). */
bool broker_raft_log_is_new(struct broker_raft_log *raft_log);

/*
 * Starts a new group: writes its first entry (index 1, term 1, a CONFIG entry
 * with `configuration`) and hard state term 1, durably. Every founding member
 * writes the same, so their logs match. ETHER_ERR_EXISTS if not new.
 */
int broker_raft_log_bootstrap(struct broker_raft_log *raft_log,
                              const struct raft_configuration *configuration);

/* The durable hard state to start raft with. */
int broker_raft_log_hard_state(struct broker_raft_log *raft_log,
                               struct raft_hard_state *hard_state);

/*
 * Disk worker thread: carries out steps 1-5 of raft.h's ready loop (snapshot
 * chunk, snapshot install, truncation and append, hard state, sync). Returns
 * 0; ETHER_ERR_NO_SPACE when the entries did not fit (the log is unchanged,
 * the hard state and snapshot are durable): report with raft_advance_failed;
 * any other code means the log is no longer trusted (destroy and reopen).
 */
int broker_raft_log_persist(struct broker_raft_log *raft_log, const struct raft_ready *ready);

/* Loop thread, after persist returned `result` and before raft_advance. */
void broker_raft_log_persisted(struct broker_raft_log *raft_log, const struct raft_ready *ready,
                               int result);

/*
 * Loop thread, after a persist that returned 0: the entries that ready
 * appended, as stored (with the base_offset storage gave each). Valid until
 * the next persist.
 */
void broker_raft_log_appended(const struct broker_raft_log *raft_log,
                              const struct storage_entry **entries, size_t *entries_count);

/* Loop thread, right after raft_advance: Raft no longer points into read batches. */
void broker_raft_log_release_reads(struct broker_raft_log *raft_log);

/*
 * Disk worker: writes a snapshot of the application at meta->index durably:
 * the envelope (next_offset and meta->configuration) followed by `state`.
 * meta->size_bytes is set to the bytes written.
 */
int broker_raft_log_snapshot_write(struct broker_raft_log *raft_log,
                                   struct raft_snapshot_meta *meta, uint64_t next_offset,
                                   const uint8_t *state, size_t state_bytes);

/* True while chunks of a leader's snapshot are being received (between readies). */
bool broker_raft_log_receiving_snapshot(const struct broker_raft_log *raft_log);

/* Loop thread, when no ready is outstanding: the snapshot just written is current. */
void broker_raft_log_snapshot_written(struct broker_raft_log *raft_log,
                                      const struct raft_snapshot_meta *meta, uint64_t next_offset);

/* The current snapshot (index 0: none) and the record offset right after it. */
void broker_raft_log_snapshot(const struct broker_raft_log *raft_log,
                              struct raft_snapshot_meta *meta, uint64_t *next_offset);

/*
 * The application state kept in the current snapshot (the bytes after the
 * envelope), appended to `out`. ETHER_ERR_NOT_FOUND when there is no
 * snapshot; ETHER_ERR_CORRUPT when it does not check out. Reads the disk:
 * for opening a group and after installing a snapshot, not for hot paths.
 */
int broker_raft_log_snapshot_state(struct broker_raft_log *raft_log, struct ether_buf *out);

/* Disk worker: storage_apply_retention on this log, removing only entries below index_limit. */
int broker_raft_log_apply_retention(struct broker_raft_log *raft_log,
                                    const struct storage_retention *retention, int64_t now_ms,
                                    uint64_t index_limit, uint64_t *segments_removed_count);

/* Loop thread, when no ready is outstanding: re-reads first index and offsets after a removal. */
void broker_raft_log_refresh_bounds(struct broker_raft_log *raft_log);

/* The next record offset of the log (for partitions' high watermark arithmetic). */
uint64_t broker_raft_log_next_offset(struct broker_raft_log *raft_log);

struct broker_histogram;

/* Loop thread: adds the fsync durations `raft_log` measured since the last take to `into`,
 * and forgets them (so each one is counted once, also after the log is gone). */
void broker_raft_log_take_fsync_latency(struct broker_raft_log *raft_log,
                                        struct broker_histogram *into);

#endif
