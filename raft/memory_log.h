/*
 * memory_log.h: an in-memory raft_log_storage, shared by the unit tests and
 * the simulator (tests/sim/) so that nobody writes it twice.
 *
 * It owns copies of everything written to it: entry payloads (packed into
 * refcounted blocks, no per-entry malloc), the hard state, the current
 * snapshot's metadata and data, and an incoming snapshot being assembled from
 * chunks. Its raft_log_storage view stays valid until destroy.
 *
 * Invariants: entries are contiguous from first_index to last_index; terms
 * never decrease along the log; snapshot.index < first_index when a snapshot
 * exists and the log is compacted; payload pointers handed out stay valid until
 * the entry is truncated or compacted away.
 *
 * Disk-full simulation: raft_memory_log_set_bytes_max() limits the entry
 * payload bytes held; raft_memory_log_persist() then fails with
 * ETHER_ERR_NO_SPACE, leaving the log unchanged (but storing hard state and
 * snapshot), exactly as the persistence contract in raft.h asks of a host.
 */
#ifndef ETHER_RAFT_MEMORY_LOG_H
#define ETHER_RAFT_MEMORY_LOG_H

#include "raft/raft.h"

struct raft_memory_log;

struct raft_memory_log *raft_memory_log_create(void);
void raft_memory_log_destroy(struct raft_memory_log *log);

/* The read-only view to put in raft_config.storage. */
const struct raft_log_storage *raft_memory_log_storage(struct raft_memory_log *log);

/* Writes the first entry of a new cluster: index 1, term 1, a CONFIG entry with
 * `configuration`; hard state term 1. ETHER_ERR_EXISTS if the log is not empty. */
int raft_memory_log_bootstrap(struct raft_memory_log *log,
                              const struct raft_configuration *configuration);

/* Executes steps 1-4 of the ready loop in raft.h: snapshot chunk, snapshot
 * install, truncation + append (payloads copied), hard state. Returns 0, or
 * ETHER_ERR_NO_SPACE when the entries do not fit (nothing of the truncation
 * and entries applied; hard state and snapshot applied). */
int raft_memory_log_persist(struct raft_memory_log *log, const struct raft_ready *ready);

/* Copies `count` entries to the end of the log (index must be last + 1). */
int raft_memory_log_append(struct raft_memory_log *log, const struct raft_entry *entries,
                           size_t count);

/* Removes entries with index > `index`. */
void raft_memory_log_truncate_after(struct raft_memory_log *log, uint64_t index);

/* Records a snapshot of the application state at `index` (which must be in the
 * log or be the current snapshot index): term and configuration are taken from
 * the log. Copies `data`. Does not compact. */
int raft_memory_log_snapshot_take(struct raft_memory_log *log, uint64_t index, const uint8_t *data,
                                  size_t data_bytes);

/* Removes entries with index <= `index` (which must be <= the snapshot index). */
void raft_memory_log_compact(struct raft_memory_log *log, uint64_t index);

/* Limit on entry payload bytes held; 0 = unlimited. */
void raft_memory_log_set_bytes_max(struct raft_memory_log *log, uint64_t bytes_max);

void raft_memory_log_hard_state(const struct raft_memory_log *log, struct raft_hard_state *out);
void raft_memory_log_set_hard_state(struct raft_memory_log *log,
                                    const struct raft_hard_state *hard_state);

/* The current snapshot's data (NULL/0 when none) and metadata. */
const uint8_t *raft_memory_log_snapshot_data(const struct raft_memory_log *log, size_t *data_bytes);
void raft_memory_log_snapshot_meta(const struct raft_memory_log *log,
                                   struct raft_snapshot_meta *meta);

uint64_t raft_memory_log_first_index(const struct raft_memory_log *log);
uint64_t raft_memory_log_last_index(const struct raft_memory_log *log);

/* Entry at `index` or NULL when outside the log. Valid until the log changes there. */
const struct raft_entry *raft_memory_log_entry(const struct raft_memory_log *log, uint64_t index);

/* Entry payload bytes currently held. */
uint64_t raft_memory_log_bytes(const struct raft_memory_log *log);

#endif
