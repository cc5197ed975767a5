/*
 * disk.h: the durable state of one simulated node, as storage/ would keep it.
 *
 * Holds what survives a crash: the hard state (term, vote: a small file that
 * is replaced atomically), the latest snapshot, and the log entries after it.
 * Every entry carries a CRC32C of its term and bytes; a crash in the middle of
 * an append may leave the last entry torn (half its bytes, checksum wrong),
 * and sim_disk_recover() drops it and everything after it, as storage/'s
 * recovery does. Writes that the node issued but the disk has not completed
 * are not here: the node keeps them pending until their completion tick.
 *
 * Invariants: entries[i] has index first_index + i; first_index ==
 * snapshot_index + 1; an entry's checksum matches its bytes except possibly
 * the last one, and only between a torn write and the next recovery.
 */
#ifndef ETHER_SIM_DISK_H
#define ETHER_SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_disk_entry {
    uint64_t term;
    uint32_t kind; /* the raft entry type, opaque here */
    uint32_t checksum;
    uint8_t *data; /* owned */
    size_t length;
};

struct sim_disk {
    uint64_t term;
    uint64_t vote;
    uint64_t snapshot_index; /* 0: no snapshot */
    uint64_t snapshot_term;
    uint8_t *snapshot_data; /* owned; the host's encoding of state machine + config */
    size_t snapshot_length;
    uint64_t first_index;
    struct sim_disk_entry *entries;
    size_t entries_count;
    size_t entries_capacity;
    uint64_t writes_count;
    uint64_t torn_count;
};

void sim_disk_init(struct sim_disk *disk);
void sim_disk_free(struct sim_disk *disk);

uint64_t sim_disk_last_index(const struct sim_disk *disk);

/* The entry at `index`, or NULL when it is compacted or past the end. */
const struct sim_disk_entry *sim_disk_entry_at(const struct sim_disk *disk, uint64_t index);

void sim_disk_save_hard_state(struct sim_disk *disk, uint64_t term, uint64_t vote);

/*
 * Writes entries starting at `first_index`, replacing whatever was there and
 * after it. Copies the bytes. `first_index` must be in (snapshot_index,
 * last_index + 1]. When `torn` is set, the last entry of the batch is written
 * only half (its checksum will not match).
 */
void sim_disk_append(struct sim_disk *disk, uint64_t first_index, uint64_t term_of_each[],
                     uint32_t kind_of_each[], const uint8_t *data_of_each[],
                     const size_t length_of_each[], size_t count, bool torn);

/*
 * Stores a snapshot covering [1, index]. Entries up to `index` are dropped;
 * later entries are kept only when `keep_suffix` (the log agrees at `index`).
 */
void sim_disk_save_snapshot(struct sim_disk *disk, uint64_t index, uint64_t term,
                            const uint8_t *data, size_t length, bool keep_suffix);

/* What storage does at open: drops a torn tail. Returns the entries dropped. */
size_t sim_disk_recover(struct sim_disk *disk);

#endif
