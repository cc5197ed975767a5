#include "tests/sim/disk.h"

#include "common/crc32c.h"
#include "common/mem.h"
#include "common/panic.h"

#include <string.h>

static uint32_t entry_checksum(uint64_t term, const uint8_t *data, size_t length)
{
    uint8_t term_bytes[8];
    for (int i = 0; i < 8; i++) {
        term_bytes[i] = (uint8_t)(term >> (8 * i));
    }
    return ether_crc32c_extend(ether_crc32c(term_bytes, sizeof(term_bytes)), data, length);
}

void sim_disk_init(struct sim_disk *disk)
{
    memset(disk, 0, sizeof(*disk));
    disk->first_index = 1;
}

static void truncate_from(struct sim_disk *disk, size_t position)
{
    ETHER_ASSERT(position <= disk->entries_count);
    for (size_t i = position; i < disk->entries_count; i++) {
        ether_free(disk->entries[i].data);
    }
    disk->entries_count = position;
}

void sim_disk_free(struct sim_disk *disk)
{
    truncate_from(disk, 0);
    ether_free(disk->entries);
    ether_free(disk->snapshot_data);
    memset(disk, 0, sizeof(*disk));
}

uint64_t sim_disk_last_index(const struct sim_disk *disk)
{
    return disk->first_index + disk->entries_count - 1;
}

const struct sim_disk_entry *sim_disk_entry_at(const struct sim_disk *disk, uint64_t index)
{
    if (index < disk->first_index || index > sim_disk_last_index(disk)) {
        return NULL;
    }
    return &disk->entries[index - disk->first_index];
}

void sim_disk_save_hard_state(struct sim_disk *disk, uint64_t term, uint64_t vote)
{
    ETHER_ASSERT(term >= disk->term);
    disk->term = term;
    disk->vote = vote;
    disk->writes_count++;
}

void sim_disk_append(struct sim_disk *disk, uint64_t first_index, uint64_t term_of_each[],
                     uint32_t kind_of_each[], const uint8_t *data_of_each[],
                     const size_t length_of_each[], size_t count, bool torn)
{
    ETHER_ASSERT(first_index > disk->snapshot_index);
    ETHER_ASSERT(first_index <= sim_disk_last_index(disk) + 1);
    ETHER_ASSERT(count > 0 || !torn);
    truncate_from(disk, (size_t)(first_index - disk->first_index));
    if (disk->entries_count + count > disk->entries_capacity) {
        size_t capacity = disk->entries_capacity == 0 ? 16 : disk->entries_capacity;
        while (capacity < disk->entries_count + count) {
            capacity *= 2;
        }
        disk->entries = ether_realloc(disk->entries, capacity * sizeof(*disk->entries));
        disk->entries_capacity = capacity;
    }
    for (size_t i = 0; i < count; i++) {
        struct sim_disk_entry *entry = &disk->entries[disk->entries_count++];
        entry->term = term_of_each[i];
        entry->kind = kind_of_each[i];
        entry->length = length_of_each[i];
        entry->data = ether_malloc(entry->length);
        if (entry->length > 0) {
            memcpy(entry->data, data_of_each[i], entry->length);
        }
        entry->checksum = entry_checksum(entry->term, entry->data, entry->length);
    }
    if (torn) {
        /* Only the first half of the last entry reached the platter. */
        struct sim_disk_entry *last = &disk->entries[disk->entries_count - 1];
        size_t kept = last->length / 2;
        memset(last->data + kept, 0, last->length - kept);
        last->checksum ^= 0x5a5a5a5aU; /* the header's checksum no longer matches */
        disk->torn_count++;
    }
    disk->writes_count++;
}

void sim_disk_save_snapshot(struct sim_disk *disk, uint64_t index, uint64_t term,
                            const uint8_t *data, size_t length, bool keep_suffix)
{
    ETHER_ASSERT(index >= disk->snapshot_index);
    ether_free(disk->snapshot_data);
    disk->snapshot_data = ether_malloc(length);
    if (length > 0) {
        memcpy(disk->snapshot_data, data, length);
    }
    disk->snapshot_length = length;
    disk->snapshot_index = index;
    disk->snapshot_term = term;
    uint64_t last = sim_disk_last_index(disk);
    size_t drop = 0;
    if (keep_suffix && index <= last) {
        drop = (size_t)(index + 1 - disk->first_index);
    } else {
        drop = disk->entries_count;
    }
    for (size_t i = 0; i < drop; i++) {
        ether_free(disk->entries[i].data);
    }
    memmove(disk->entries, disk->entries + drop,
            (disk->entries_count - drop) * sizeof(*disk->entries));
    disk->entries_count -= drop;
    disk->first_index = index + 1;
    disk->writes_count++;
}

size_t sim_disk_recover(struct sim_disk *disk)
{
    for (size_t i = 0; i < disk->entries_count; i++) {
        const struct sim_disk_entry *entry = &disk->entries[i];
        if (entry_checksum(entry->term, entry->data, entry->length) != entry->checksum) {
            size_t dropped = disk->entries_count - i;
            truncate_from(disk, i);
            return dropped;
        }
    }
    return 0;
}
