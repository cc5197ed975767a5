/*
 * disk.h: the disk of one simulated node and the ways it fails.
 *
 * The durable medium is a raft_memory_log (raft/memory_log.h): what it holds
 * is exactly what survives a crash. A ready is written to it only when the
 * simulated write completes (a slow disk completes it some ticks after the
 * ready was taken); until then the node holds the ready. Failure modes:
 *   - crash before completion: the write is lost, or torn: the hard state,
 *     the snapshot and a prefix of the entries reached the medium, the last
 *     of them only half (sim_disk_recover() drops it at restart, as
 *     storage/'s CRC check does);
 *   - fsync error: nothing of the write is trusted; the node must restart
 *     from what was durable before it;
 *   - disk full: appends fail with ETHER_ERR_NO_SPACE leaving the log as it
 *     was, while the hard state and snapshots still fit.
 *
 * Invariant: torn_index != 0 only between a torn write and the next recovery,
 * and then it is the last index of the medium.
 */
#ifndef ETHER_SIM_DISK_H
#define ETHER_SIM_DISK_H

#include "raft/memory_log.h"
#include "tests/sim/prng.h"

#include <stdbool.h>
#include <stdint.h>

enum sim_write_outcome {
    SIM_WRITE_OK = 0,
    SIM_WRITE_NO_SPACE = 1,
    SIM_WRITE_IO_ERROR = 2,
};

struct sim_disk {
    struct raft_memory_log *medium; /* survives crashes */
    bool full;
    bool fail_next_sync; /* the next write completes with an fsync error */
    uint64_t torn_index; /* last entry on the medium is torn; 0 when none */
    uint64_t writes_count;
    uint64_t torn_count;
    uint64_t sync_errors_count;
    uint64_t no_space_count;
};

void sim_disk_init(struct sim_disk *disk);
void sim_disk_free(struct sim_disk *disk);

/* Completes the write of `ready` (steps 1-4 of raft.h's loop). */
enum sim_write_outcome sim_disk_write(struct sim_disk *disk, const struct raft_ready *ready);

/*
 * The node crashes while `ready` is being written: hard state and snapshot
 * land, and of the entries a random non-empty prefix, its last entry torn.
 * Returns false (nothing written) when the ready has no entries or the disk is full.
 */
bool sim_disk_write_torn(struct sim_disk *disk, const struct raft_ready *ready,
                         struct sim_prng *prng);

/* Opening the disk after a crash: drops a torn last entry. Returns entries dropped. */
uint64_t sim_disk_recover(struct sim_disk *disk);

/* Fills the disk: entry appends fail until sim_disk_set_full(disk, false). */
void sim_disk_set_full(struct sim_disk *disk, bool full);

#endif
