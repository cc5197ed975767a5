/*
 * group_store.h: the committed offsets of the consumer groups whose
 * coordinator partition (of __consumer_offsets) this is, and the records
 * that partition's log holds.
 *
 * The coordinator writes every offset commit, every completed rebalance
 * (the group's generation) and every group deletion as records of a batch
 * in its __consumer_offsets partition; every replica applies the committed
 * records in log order (group_store_apply), so all replicas hold the same
 * store, a new leader knows every committed offset, and the partition's
 * snapshot (group_store_encode) replaces the log prefix: older commits are
 * compacted away with it.
 *
 * Records (key and value of one record of a batch):
 *   offset commit  key: type 1, group, topic, partition.
 *                  value: version, offset, commit timestamp, metadata,
 *                  generation. An empty value removes the offset.
 *   group          key: type 2, group. value: version, generation. An empty
 *                  value deletes the group and every offset it committed.
 * The exact byte layout is private to group_store.c (versioned, so fields can
 * be added); the broker only builds records with the functions below.
 *
 * Invariants: a group known to the store has a generation that never goes
 * down while the group exists (a group record with a lower generation than
 * the stored one is ignored); an offset is stored for (group, topic,
 * partition) at most once; groups and offsets iterate in byte order of their
 * names, so encode is deterministic (the same store gives the same bytes on
 * every replica).
 *
 * Pure: no I/O, clock or randomness; untrusted bytes (a damaged record, a
 * damaged snapshot) give ETHER_ERR_CORRUPT and leave the store unchanged.
 */
#ifndef ETHER_BROKER_GROUP_STORE_H
#define ETHER_BROKER_GROUP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum {
    GROUP_NAME_BYTES_MAX = 255,
    GROUP_OFFSET_METADATA_BYTES_MAX = 4096,
};

struct group_offset {
    int64_t offset; /* the next offset to consume */
    int64_t commit_timestamp_ms;
    uint32_t generation;  /* the generation that committed it (0 for administrative commits) */
    const char *metadata; /* NUL-terminated, owned by the store */
};

struct group_store_group; /* private */

struct group_store {
    struct group_store_group **groups; /* sorted by name */
    size_t groups_count;
    size_t groups_capacity;
};

void group_store_init(struct group_store *store);
void group_store_free(struct group_store *store);

/* ---- records: what the coordinator writes --------------------------------------------- */

/* Appends the key and value of an offset commit record to `key` and `value`. */
void group_store_offset_record(const char *group, const char *topic, uint32_t partition,
                               const struct group_offset *offset, struct ether_buf *key,
                               struct ether_buf *value);

/* The record of a completed rebalance: the group exists with this generation. */
void group_store_group_record(const char *group, uint32_t generation, struct ether_buf *key,
                              struct ether_buf *value);

/* The record that deletes a group and its offsets (key only: the value is empty). */
void group_store_group_tombstone(const char *group, struct ether_buf *key);

/* ---- applying the log ------------------------------------------------------------------- */

/*
 * Applies one committed record. `value` NULL or value_bytes 0 is a
 * tombstone. ETHER_ERR_CORRUPT for a record it cannot read (the store is
 * unchanged; the caller logs and goes on: the log stays readable).
 */
int group_store_apply(struct group_store *store, const void *key, size_t key_bytes,
                      const void *value, size_t value_bytes);

/* ---- reading ---------------------------------------------------------------------------- */

bool group_store_has_group(const struct group_store *store, const char *group);

/* The stored generation of `group`; 0 when unknown. */
uint32_t group_store_generation(const struct group_store *store, const char *group);

/* The committed offset of (group, topic, partition), or NULL. Valid until the next change. */
const struct group_offset *group_store_offset(const struct group_store *store, const char *group,
                                              const char *topic, uint32_t partition);

typedef void group_store_offset_fn(void *context, const char *topic, uint32_t partition,
                                   const struct group_offset *offset);

/* Calls `fn` for each committed offset of `group`, by topic then partition. */
void group_store_for_each_offset(const struct group_store *store, const char *group,
                                 group_store_offset_fn *fn, void *context);

typedef void group_store_group_fn(void *context, const char *group, uint32_t generation);

/* Calls `fn` for each group, by name. */
void group_store_for_each_group(const struct group_store *store, group_store_group_fn *fn,
                                void *context);

/* ---- snapshots ---------------------------------------------------------------------------- */

/* Appends the whole store (versioned, with a CRC32C) to `out`. */
void group_store_encode(const struct group_store *store, struct ether_buf *out);

/* Replaces `store` (initialised, maybe not empty) with the decoded one; ETHER_ERR_CORRUPT
 * leaves it unchanged. */
int group_store_decode(const void *data, size_t data_bytes, struct group_store *store);

#endif
