/*
 * memory_log.c: the in-memory log storage described in memory_log.h.
 *
 * Payloads are copied into blocks (4 KiB doubling to 1 MiB); each block
 * counts the live entries pointing into it and is freed when that count
 * drops to zero and it is not the block being filled. Entry descriptors sit
 * in one array; compaction advances `start` and occasionally slides the
 * array down.
 */
#include "raft/memory_log.h"

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <string.h>

enum { BLOCK_BYTES_MIN = 4096, BLOCK_BYTES_MAX = 1 << 20 };

struct block {
    uint8_t *data;
    size_t used_bytes;
    size_t capacity_bytes;
    size_t live_entries;
};

struct raft_memory_log {
    struct raft_log_storage storage;
    struct raft_entry *entries;
    uint32_t *entry_blocks; /* block of each entry's payload */
    size_t start;
    size_t count;
    size_t capacity;
    uint64_t first_index; /* index of entries[start] */
    struct block *blocks;
    size_t blocks_count;
    size_t blocks_capacity;
    uint64_t bytes;
    uint64_t bytes_max;
    struct raft_hard_state hard_state;
    struct raft_snapshot_meta snapshot;
    uint8_t *snapshot_data;
    struct ether_buf incoming;
};

static uint64_t last_index_of(const struct raft_memory_log *log)
{
    return log->first_index + log->count - 1;
}

static struct raft_entry *entry_at(const struct raft_memory_log *log, uint64_t index)
{
    ETHER_ASSERT(index >= log->first_index && index <= last_index_of(log));
    return &log->entries[log->start + (index - log->first_index)];
}

static void block_release(struct raft_memory_log *log, uint32_t block_id)
{
    ETHER_ASSERT(block_id < log->blocks_count);
    struct block *b = &log->blocks[block_id];
    ETHER_ASSERT(b->live_entries > 0);
    b->live_entries--;
    if (b->live_entries == 0 && block_id + 1 != log->blocks_count) {
        ether_free(b->data);
        b->data = NULL;
        b->capacity_bytes = 0;
        b->used_bytes = 0;
    }
}

static void drop_entry(struct raft_memory_log *log, size_t slot)
{
    log->bytes -= log->entries[slot].data_bytes;
    if (log->entries[slot].data_bytes > 0) {
        block_release(log, log->entry_blocks[slot]);
    }
}

static const uint8_t *copy_payload(struct raft_memory_log *log, const uint8_t *data,
                                   uint32_t data_bytes, uint32_t *block_id)
{
    struct block *tail = log->blocks_count > 0 ? &log->blocks[log->blocks_count - 1] : NULL;
    if (tail == NULL || tail->data == NULL ||
        tail->capacity_bytes - tail->used_bytes < data_bytes) {
        size_t capacity =
            tail != NULL && tail->capacity_bytes > 0 ? tail->capacity_bytes * 2 : BLOCK_BYTES_MIN;
        capacity = capacity > BLOCK_BYTES_MAX ? BLOCK_BYTES_MAX : capacity;
        capacity = capacity < data_bytes ? data_bytes : capacity;
        if (tail != NULL && tail->live_entries == 0) {
            ether_free(tail->data); /* the old tail is empty: it can go */
            tail->data = NULL;
            tail->capacity_bytes = 0;
        }
        if (log->blocks_count == log->blocks_capacity) {
            log->blocks_capacity = log->blocks_capacity < 8 ? 8 : log->blocks_capacity * 2;
            log->blocks = ether_realloc(log->blocks, log->blocks_capacity * sizeof *log->blocks);
        }
        ETHER_ASSERT(log->blocks_count < UINT32_MAX);
        tail = &log->blocks[log->blocks_count++];
        tail->data = ether_malloc(capacity);
        tail->capacity_bytes = capacity;
        tail->used_bytes = 0;
        tail->live_entries = 0;
    }
    uint8_t *copy = tail->data + tail->used_bytes;
    memcpy(copy, data, data_bytes);
    tail->used_bytes += data_bytes;
    tail->live_entries++;
    *block_id = (uint32_t)(log->blocks_count - 1);
    return copy;
}

int raft_memory_log_append(struct raft_memory_log *log, const struct raft_entry *entries,
                           size_t count)
{
    if (count == 0) {
        return ETHER_OK;
    }
    if (entries[0].index != last_index_of(log) + 1) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (log->start + log->count + count > log->capacity) {
        if (log->start > 0) {
            memmove(log->entries, log->entries + log->start, log->count * sizeof *log->entries);
            memmove(log->entry_blocks, log->entry_blocks + log->start,
                    log->count * sizeof *log->entry_blocks);
            log->start = 0;
        }
        size_t capacity = log->capacity < 64 ? 64 : log->capacity;
        while (capacity < log->count + count) {
            capacity *= 2;
        }
        if (capacity != log->capacity) {
            log->entries = ether_realloc(log->entries, capacity * sizeof *log->entries);
            log->entry_blocks =
                ether_realloc(log->entry_blocks, capacity * sizeof *log->entry_blocks);
            log->capacity = capacity;
        }
    }
    for (size_t i = 0; i < count; i++) {
        size_t slot = log->start + log->count;
        ETHER_ASSERT(entries[i].index == last_index_of(log) + 1);
        struct raft_entry *e = &log->entries[slot];
        *e = entries[i];
        log->entry_blocks[slot] = 0;
        if (e->data_bytes > 0) {
            e->data = copy_payload(log, entries[i].data, e->data_bytes, &log->entry_blocks[slot]);
        } else {
            e->data = NULL;
        }
        log->bytes += e->data_bytes;
        log->count++;
    }
    return ETHER_OK;
}

void raft_memory_log_truncate_after(struct raft_memory_log *log, uint64_t index)
{
    while (log->count > 0 && last_index_of(log) > index) {
        drop_entry(log, log->start + log->count - 1);
        log->count--;
    }
    ETHER_ASSERT(log->count == 0 || last_index_of(log) <= index);
}

void raft_memory_log_compact(struct raft_memory_log *log, uint64_t index)
{
    ETHER_ASSERT(index <= log->snapshot.index);
    while (log->count > 0 && log->first_index <= index) {
        drop_entry(log, log->start);
        log->start++;
        log->count--;
        log->first_index++;
    }
    if (log->first_index <= index) {
        log->first_index = index + 1; /* the log was shorter than the snapshot */
    }
    if (log->count == 0) {
        log->start = 0;
    }
    ETHER_ASSERT(log->first_index > index);
}

/* ------------------------------------------------------------------------ */
/* raft_log_storage view                                                     */

static uint64_t storage_first_index(void *context)
{
    const struct raft_memory_log *log = context;
    return log->first_index;
}

static uint64_t storage_last_index(void *context)
{
    return last_index_of(context);
}

static int storage_term_at(void *context, uint64_t index, uint64_t *term)
{
    const struct raft_memory_log *log = context;
    if (index == 0) {
        *term = 0;
        return ETHER_OK;
    }
    if (index == log->snapshot.index) {
        *term = log->snapshot.term;
        return ETHER_OK;
    }
    if (index < log->first_index) {
        return ETHER_ERR_BELOW_START;
    }
    if (index > last_index_of(log)) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    *term = entry_at(log, index)->term;
    return ETHER_OK;
}

static int storage_entries(void *context, uint64_t index_low, uint64_t index_high,
                           uint64_t bytes_max, struct raft_entry *out, size_t out_count_max,
                           size_t *out_count)
{
    const struct raft_memory_log *log = context;
    if (index_low < log->first_index) {
        return ETHER_ERR_BELOW_START;
    }
    if (index_high > last_index_of(log) + 1 || index_low >= index_high) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    size_t count = 0;
    uint64_t bytes = 0;
    for (uint64_t index = index_low; index < index_high && count < out_count_max; index++) {
        const struct raft_entry *e = entry_at(log, index);
        if (count > 0 && bytes + e->data_bytes > bytes_max) {
            break;
        }
        out[count++] = *e;
        bytes += e->data_bytes;
    }
    *out_count = count;
    return ETHER_OK;
}

static int storage_snapshot(void *context, struct raft_snapshot_meta *meta)
{
    const struct raft_memory_log *log = context;
    *meta = log->snapshot;
    return ETHER_OK;
}

static int storage_snapshot_read(void *context, uint64_t offset_bytes, size_t bytes_max,
                                 const uint8_t **data, size_t *data_bytes)
{
    const struct raft_memory_log *log = context;
    if (offset_bytes > log->snapshot.size_bytes) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    uint64_t remaining = log->snapshot.size_bytes - offset_bytes;
    *data = log->snapshot_data + offset_bytes;
    *data_bytes = remaining < bytes_max ? (size_t)remaining : bytes_max;
    return ETHER_OK;
}

static int storage_configuration_at(void *context, uint64_t index_max,
                                    struct raft_configuration *configuration, uint64_t *index)
{
    const struct raft_memory_log *log = context;
    uint64_t high = index_max < last_index_of(log) ? index_max : last_index_of(log);
    for (uint64_t i = high; i >= log->first_index && i > 0; i--) {
        const struct raft_entry *e = entry_at(log, i);
        if (e->type == RAFT_ENTRY_CONFIG) {
            *index = i;
            return raft_configuration_decode(e->data, e->data_bytes, configuration);
        }
    }
    if (log->snapshot.index > 0 && log->snapshot.index <= index_max) {
        *configuration = log->snapshot.configuration;
        *index = log->snapshot.index;
        return ETHER_OK;
    }
    return ETHER_ERR_NOT_FOUND;
}

/* ------------------------------------------------------------------------ */

struct raft_memory_log *raft_memory_log_create(void)
{
    struct raft_memory_log *log = ether_calloc(1, sizeof *log);
    log->first_index = 1;
    log->storage.context = log;
    log->storage.first_index = storage_first_index;
    log->storage.last_index = storage_last_index;
    log->storage.term_at = storage_term_at;
    log->storage.entries = storage_entries;
    log->storage.snapshot = storage_snapshot;
    log->storage.snapshot_read = storage_snapshot_read;
    log->storage.configuration_at = storage_configuration_at;
    ether_buf_init(&log->incoming);
    return log;
}

void raft_memory_log_destroy(struct raft_memory_log *log)
{
    if (log == NULL) {
        return;
    }
    for (size_t i = 0; i < log->blocks_count; i++) {
        ether_free(log->blocks[i].data);
    }
    ether_free(log->blocks);
    ether_free(log->entries);
    ether_free(log->entry_blocks);
    ether_free(log->snapshot_data);
    ether_buf_free(&log->incoming);
    ether_free(log);
}

const struct raft_log_storage *raft_memory_log_storage(struct raft_memory_log *log)
{
    return &log->storage;
}

int raft_memory_log_bootstrap(struct raft_memory_log *log,
                              const struct raft_configuration *configuration)
{
    if (log->count > 0 || log->snapshot.index > 0 || log->hard_state.term > 0) {
        return ETHER_ERR_EXISTS;
    }
    uint8_t data[RAFT_CONFIGURATION_ENCODED_BYTES_MAX];
    size_t bytes = raft_configuration_encode(configuration, data);
    struct raft_entry entry = {.term = 1,
                               .index = 1,
                               .data = data,
                               .data_bytes = (uint32_t)bytes,
                               .type = RAFT_ENTRY_CONFIG};
    int rc = raft_memory_log_append(log, &entry, 1);
    ETHER_ASSERT(rc == ETHER_OK);
    log->hard_state.term = 1;
    return ETHER_OK;
}

static void install_snapshot(struct raft_memory_log *log, const struct raft_snapshot_meta *meta)
{
    ETHER_ASSERT(log->incoming.length == meta->size_bytes);
    raft_memory_log_truncate_after(log, log->first_index - 1);
    log->first_index = meta->index + 1;
    log->start = 0;
    log->snapshot = *meta;
    ether_free(log->snapshot_data);
    size_t length = 0;
    log->snapshot_data = ether_buf_take(&log->incoming, &length);
    ETHER_ASSERT(length == meta->size_bytes);
}

int raft_memory_log_persist(struct raft_memory_log *log, const struct raft_ready *ready)
{
    if (ready->snapshot_chunk_present) {
        const struct raft_snapshot_chunk *chunk = &ready->snapshot_chunk;
        if (chunk->offset_bytes == 0) {
            ether_buf_clear(&log->incoming);
        }
        ETHER_ASSERT(chunk->offset_bytes == log->incoming.length);
        ether_buf_append(&log->incoming, chunk->data, chunk->data_bytes);
    }
    if (ready->snapshot_install) {
        install_snapshot(log, ready->snapshot);
    }
    if (ready->hard_state_changed ||
        ready->hard_state.commit_index > log->hard_state.commit_index) {
        log->hard_state = ready->hard_state;
    }
    if (ready->entries_count == 0 && !ready->truncate) {
        return ETHER_OK;
    }
    uint64_t truncated_bytes = 0;
    if (ready->truncate) {
        for (uint64_t i = ready->truncate_after_index + 1; i <= last_index_of(log); i++) {
            truncated_bytes += entry_at(log, i)->data_bytes;
        }
    }
    uint64_t added_bytes = 0;
    for (size_t i = 0; i < ready->entries_count; i++) {
        added_bytes += ready->entries[i].data_bytes;
    }
    if (log->bytes_max > 0 && log->bytes - truncated_bytes + added_bytes > log->bytes_max) {
        return ETHER_ERR_NO_SPACE;
    }
    if (ready->truncate) {
        raft_memory_log_truncate_after(log, ready->truncate_after_index);
    }
    int rc = raft_memory_log_append(log, ready->entries, ready->entries_count);
    ETHER_ASSERT(rc == ETHER_OK);
    return ETHER_OK;
}

int raft_memory_log_snapshot_take(struct raft_memory_log *log, uint64_t index, const uint8_t *data,
                                  size_t data_bytes)
{
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = index;
    int rc = storage_term_at(log, index, &meta.term);
    if (rc != ETHER_OK) {
        return rc;
    }
    uint64_t configuration_index = 0;
    rc = storage_configuration_at(log, index, &meta.configuration, &configuration_index);
    if (rc != ETHER_OK) {
        return rc;
    }
    meta.size_bytes = data_bytes;
    uint8_t *copy = ether_malloc(data_bytes > 0 ? data_bytes : 1);
    if (data_bytes > 0) {
        memcpy(copy, data, data_bytes);
    }
    ether_free(log->snapshot_data);
    log->snapshot_data = copy;
    log->snapshot = meta;
    return ETHER_OK;
}

void raft_memory_log_set_bytes_max(struct raft_memory_log *log, uint64_t bytes_max)
{
    log->bytes_max = bytes_max;
}

void raft_memory_log_hard_state(const struct raft_memory_log *log, struct raft_hard_state *out)
{
    *out = log->hard_state;
}

void raft_memory_log_set_hard_state(struct raft_memory_log *log,
                                    const struct raft_hard_state *hard_state)
{
    log->hard_state = *hard_state;
}

const uint8_t *raft_memory_log_snapshot_data(const struct raft_memory_log *log, size_t *data_bytes)
{
    *data_bytes = (size_t)log->snapshot.size_bytes;
    return log->snapshot.index > 0 ? log->snapshot_data : NULL;
}

void raft_memory_log_snapshot_meta(const struct raft_memory_log *log,
                                   struct raft_snapshot_meta *meta)
{
    *meta = log->snapshot;
}

uint64_t raft_memory_log_first_index(const struct raft_memory_log *log)
{
    return log->first_index;
}

uint64_t raft_memory_log_last_index(const struct raft_memory_log *log)
{
    return last_index_of(log);
}

const struct raft_entry *raft_memory_log_entry(const struct raft_memory_log *log, uint64_t index)
{
    if (index < log->first_index || index > last_index_of(log)) {
        return NULL;
    }
    return entry_at(log, index);
}

uint64_t raft_memory_log_bytes(const struct raft_memory_log *log)
{
    return log->bytes;
}
