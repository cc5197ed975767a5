#include "tests/sim/disk.h"

#include "common/error.h"
#include "common/panic.h"

#include <string.h>

void sim_disk_init(struct sim_disk *disk)
{
    memset(disk, 0, sizeof(*disk));
    disk->medium = raft_memory_log_create();
}

void sim_disk_free(struct sim_disk *disk)
{
    raft_memory_log_destroy(disk->medium);
    memset(disk, 0, sizeof(*disk));
}

enum sim_write_outcome sim_disk_write(struct sim_disk *disk, const struct raft_ready *ready)
{
    ETHER_ASSERT(disk->torn_index == 0);
    disk->writes_count++;
    if (disk->fail_next_sync) {
        /* What the failed fsync covered is unknown: the host trusts none of it. */
        disk->fail_next_sync = false;
        disk->sync_errors_count++;
        return SIM_WRITE_IO_ERROR;
    }
    int rc = raft_memory_log_persist(disk->medium, ready);
    if (rc == ETHER_ERR_NO_SPACE) {
        disk->no_space_count++;
        return SIM_WRITE_NO_SPACE;
    }
    ETHER_ASSERT(rc == 0);
    return SIM_WRITE_OK;
}

bool sim_disk_write_torn(struct sim_disk *disk, const struct raft_ready *ready,
                         struct sim_prng *prng)
{
    ETHER_ASSERT(disk->torn_index == 0);
    if (ready->entries_count == 0 || disk->full) {
        return false;
    }
    struct raft_ready prefix = *ready;
    prefix.entries_count = (size_t)sim_prng_range(prng, 1, ready->entries_count);
    int rc = raft_memory_log_persist(disk->medium, &prefix);
    if (rc != 0) {
        return false;
    }
    disk->torn_index = prefix.entries[prefix.entries_count - 1].index;
    ETHER_ASSERT(disk->torn_index == raft_memory_log_last_index(disk->medium));
    disk->torn_count++;
    return true;
}

uint64_t sim_disk_recover(struct sim_disk *disk)
{
    if (disk->torn_index == 0) {
        return 0;
    }
    ETHER_ASSERT(disk->torn_index == raft_memory_log_last_index(disk->medium));
    raft_memory_log_truncate_after(disk->medium, disk->torn_index - 1);
    disk->torn_index = 0;
    return 1;
}

void sim_disk_set_full(struct sim_disk *disk, bool full)
{
    disk->full = full;
    /* Room for what is there now and nothing more; 0 means unlimited. */
    uint64_t held = raft_memory_log_bytes(disk->medium);
    raft_memory_log_set_bytes_max(disk->medium, full ? (held > 0 ? held : 1) : 0);
}
