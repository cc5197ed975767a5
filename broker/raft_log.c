/*
 * raft_log.c: happy path: the loop hands a ready to the disk worker, which
 * calls broker_raft_log_persist (storage writes + one sync); the loop then
 * calls broker_raft_log_persisted to move its caches forward, raft_advance,
 * and broker_raft_log_release_reads.
 *
 * Failure modes: ENOSPC while appending (without a truncation in the same
 * ready) leaves the log as it was and is reported as ETHER_ERR_NO_SPACE so
 * Raft keeps the group alive; any other failure, or ENOSPC after a truncation
 * (which cannot be undone), is reported as a failure that makes the owner
 * drop the replica and reopen it from disk.
 */
#include "broker/raft_log.h"

#include "broker/metrics.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum {
    ENVELOPE_MAGIC = 0x564e5345u, /* "ESNV" little-endian */
    SCAN_READ_BYTES = 4 * 1024 * 1024,
    READ_BUFFER_KEPT_BYTES_MAX = 64 * 1024,
};

struct term_run {
    uint64_t first_index;
    uint64_t term;
};

struct configuration_record {
    uint64_t index;
    struct raft_configuration configuration;
};

struct broker_raft_log {
    struct storage_log *log;
    pthread_mutex_t mutex;
    broker_entry_describe_fn *describe;
    void *describe_context;
    const struct ether_logger *logger;
    struct raft_log_storage view;

    /* Loop-thread caches; change only in broker_raft_log_persisted. */
    uint64_t first_index;
    uint64_t last_index;
    uint64_t next_offset;
    struct term_run *runs; /* cover [runs[0].first_index, last_index] when runs_count > 0 */
    size_t runs_count;
    size_t runs_capacity;
    struct configuration_record *configurations; /* by index, ascending */
    size_t configurations_count;
    size_t configurations_capacity;
    struct raft_snapshot_meta snapshot;
    uint64_t snapshot_next_offset; /* the record offset right after the snapshot */
    /* Loop thread: fsync durations not yet taken by broker_raft_log_take_fsync_latency. */
    struct broker_histogram fsync_latency;

    /* Memory lent to Raft until the next release. */
    struct storage_batch *reads;
    size_t reads_count;
    size_t reads_capacity;
    uint8_t **snapshot_buffers;
    size_t snapshot_buffers_count;
    size_t snapshot_buffers_capacity;

    /* Worker-thread state. */
    struct storage_snapshot_writer *incoming_snapshot;
    uint64_t incoming_next_offset; /* of the snapshot installed by the last persist */
    struct storage_entry *append_scratch;
    size_t append_scratch_capacity;
    size_t appended_count; /* entries of append_scratch the last persist stored */
    /* The last persist's fdatasync ran and took sync_ns; the loop reads both in
     * broker_raft_log_persisted, after the worker is done (as appended_count). */
    bool synced;
    uint64_t sync_ns;
};

/* ---- caches ------------------------------------------------------------------------------ */

static void runs_truncate_after(struct broker_raft_log *raft_log, uint64_t index)
{
    while (raft_log->runs_count > 0 &&
           raft_log->runs[raft_log->runs_count - 1].first_index > index) {
        raft_log->runs_count--;
    }
}

static void runs_append(struct broker_raft_log *raft_log, uint64_t index, uint64_t term)
{
    if (raft_log->runs_count > 0 && raft_log->runs[raft_log->runs_count - 1].term == term) {
        return;
    }
    ETHER_ASSERT(raft_log->runs_count == 0 || raft_log->runs[raft_log->runs_count - 1].term < term);
    if (raft_log->runs_count == raft_log->runs_capacity) {
        raft_log->runs_capacity = raft_log->runs_capacity == 0 ? 4 : raft_log->runs_capacity * 2;
        raft_log->runs =
            ether_realloc(raft_log->runs, raft_log->runs_capacity * sizeof *raft_log->runs);
    }
    raft_log->runs[raft_log->runs_count++] = (struct term_run){index, term};
}

/* Term of `index` from the runs, or 0 when the runs do not cover it. */
static uint64_t runs_term_at(const struct broker_raft_log *raft_log, uint64_t index)
{
    if (raft_log->runs_count == 0 || index < raft_log->runs[0].first_index ||
        index > raft_log->last_index) {
        return 0;
    }
    size_t low = 0;
    size_t high = raft_log->runs_count;
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (raft_log->runs[middle].first_index <= index) {
            low = middle;
        } else {
            high = middle;
        }
    }
    return raft_log->runs[low].term;
}

static void configurations_truncate_after(struct broker_raft_log *raft_log, uint64_t index)
{
    while (raft_log->configurations_count > 0 &&
           raft_log->configurations[raft_log->configurations_count - 1].index > index) {
        raft_log->configurations_count--;
    }
}

static void configurations_append(struct broker_raft_log *raft_log, uint64_t index,
                                  const struct raft_configuration *configuration)
{
    if (raft_log->configurations_count == raft_log->configurations_capacity) {
        raft_log->configurations_capacity =
            raft_log->configurations_capacity == 0 ? 2 : raft_log->configurations_capacity * 2;
        raft_log->configurations =
            ether_realloc(raft_log->configurations,
                          raft_log->configurations_capacity * sizeof *raft_log->configurations);
    }
    raft_log->configurations[raft_log->configurations_count++] =
        (struct configuration_record){index, *configuration};
}

/* Records what a stored entry means for the caches (loop thread, or open). */
static void cache_entry(struct broker_raft_log *raft_log, uint64_t index, uint64_t term,
                        uint8_t type, const uint8_t *data, size_t data_bytes)
{
    ETHER_ASSERT(index == raft_log->last_index + 1);
    runs_append(raft_log, index, term);
    raft_log->last_index = index;
    if (type == RAFT_ENTRY_CONFIG) {
        struct raft_configuration configuration;
        if (raft_configuration_decode(data, data_bytes, &configuration) == ETHER_OK) {
            configurations_append(raft_log, index, &configuration);
        } else {
            ether_log_error(raft_log->logger, "configuration entry %llu does not decode",
                            (unsigned long long)index);
        }
    }
}

/* ---- entry mapping ----------------------------------------------------------------------- */

static enum storage_entry_type storage_type_of(uint8_t raft_type)
{
    switch (raft_type) {
    case RAFT_ENTRY_NORMAL:
        return STORAGE_ENTRY_DATA;
    case RAFT_ENTRY_NOOP:
        return STORAGE_ENTRY_NOOP;
    default:
        ETHER_ASSERT(raft_type == RAFT_ENTRY_CONFIG);
        return STORAGE_ENTRY_CONFIG;
    }
}

static uint8_t raft_type_of(enum storage_entry_type storage_type)
{
    switch (storage_type) {
    case STORAGE_ENTRY_DATA:
        return RAFT_ENTRY_NORMAL;
    case STORAGE_ENTRY_NOOP:
        return RAFT_ENTRY_NOOP;
    case STORAGE_ENTRY_CONFIG:
        return RAFT_ENTRY_CONFIG;
    }
    return 0;
}

/* ---- the read-only view ------------------------------------------------------------------ */

static uint64_t view_first_index(void *context)
{
    struct broker_raft_log *raft_log = context;
    return raft_log->first_index;
}

static uint64_t view_last_index(void *context)
{
    struct broker_raft_log *raft_log = context;
    return raft_log->last_index;
}

static int view_term_at(void *context, uint64_t index, uint64_t *term)
{
    struct broker_raft_log *raft_log = context;
    if (index == 0) {
        *term = 0;
        return ETHER_OK;
    }
    if (index == raft_log->snapshot.index) {
        *term = raft_log->snapshot.term;
        return ETHER_OK;
    }
    if (index < raft_log->first_index) {
        return ETHER_ERR_BELOW_START;
    }
    if (index > raft_log->last_index) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    uint64_t cached = runs_term_at(raft_log, index);
    if (cached != 0) {
        *term = cached;
        return ETHER_OK;
    }
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_term_at(raft_log->log, index, term);
    pthread_mutex_unlock(&raft_log->mutex);
    return rc;
}

static struct storage_batch *lend_batch(struct broker_raft_log *raft_log)
{
    if (raft_log->reads_count == raft_log->reads_capacity) {
        size_t capacity = raft_log->reads_capacity == 0 ? 4 : raft_log->reads_capacity * 2;
        raft_log->reads = ether_realloc(raft_log->reads, capacity * sizeof *raft_log->reads);
        for (size_t i = raft_log->reads_capacity; i < capacity; i++) {
            storage_batch_init(&raft_log->reads[i]);
        }
        raft_log->reads_capacity = capacity;
    }
    return &raft_log->reads[raft_log->reads_count++];
}

static int view_entries(void *context, uint64_t index_low, uint64_t index_high, uint64_t bytes_max,
                        struct raft_entry *out, size_t out_count_max, size_t *out_count)
{
    struct broker_raft_log *raft_log = context;
    ETHER_ASSERT(index_low < index_high);
    ETHER_ASSERT(out_count_max > 0);
    if (index_low < raft_log->first_index) {
        return ETHER_ERR_BELOW_START;
    }
    if (index_high > raft_log->last_index + 1) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    struct storage_batch *batch = lend_batch(raft_log);
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_read(raft_log->log, index_low, bytes_max, batch);
    pthread_mutex_unlock(&raft_log->mutex);
    if (rc != ETHER_OK) {
        return rc;
    }
    size_t count = batch->entries_count;
    if (count > index_high - index_low) {
        count = (size_t)(index_high - index_low);
    }
    if (count > out_count_max) {
        count = out_count_max;
    }
    for (size_t i = 0; i < count; i++) {
        const struct storage_entry *entry = &batch->entries[i];
        ETHER_ASSERT(entry->index == index_low + i);
        out[i] = (struct raft_entry){
            .term = entry->term,
            .index = entry->index,
            .data = entry->payload,
            .data_bytes = entry->payload_bytes,
            .type = raft_type_of(entry->type),
        };
    }
    *out_count = count;
    return ETHER_OK;
}

static int view_snapshot(void *context, struct raft_snapshot_meta *meta)
{
    struct broker_raft_log *raft_log = context;
    *meta = raft_log->snapshot;
    return ETHER_OK;
}

static int view_snapshot_read(void *context, uint64_t offset_bytes, size_t bytes_max,
                              const uint8_t **data, size_t *data_bytes)
{
    struct broker_raft_log *raft_log = context;
    if (raft_log->snapshot.index == 0) {
        return ETHER_ERR_NOT_FOUND;
    }
    if (raft_log->snapshot_buffers_count == raft_log->snapshot_buffers_capacity) {
        size_t capacity =
            raft_log->snapshot_buffers_capacity == 0 ? 2 : raft_log->snapshot_buffers_capacity * 2;
        raft_log->snapshot_buffers = ether_realloc(raft_log->snapshot_buffers,
                                                   capacity * sizeof *raft_log->snapshot_buffers);
        raft_log->snapshot_buffers_capacity = capacity;
    }
    uint8_t *buffer = ether_malloc(bytes_max);
    raft_log->snapshot_buffers[raft_log->snapshot_buffers_count++] = buffer;

    pthread_mutex_lock(&raft_log->mutex);
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    int rc = storage_snapshot_open(raft_log->log, &meta, &reader);
    if (rc == ETHER_OK && meta.last_included_index != raft_log->snapshot.index) {
        rc = ETHER_ERR_NOT_FOUND; /* replaced underneath: Raft asks again */
    }
    size_t read_bytes = 0;
    if (rc == ETHER_OK) {
        rc = storage_snapshot_read(reader, offset_bytes, buffer, bytes_max, &read_bytes);
    }
    if (reader != NULL) {
        storage_snapshot_close(reader);
    }
    pthread_mutex_unlock(&raft_log->mutex);
    if (rc == ETHER_OK) {
        *data = buffer;
        *data_bytes = read_bytes;
    }
    return rc;
}

static int view_configuration_at(void *context, uint64_t index_max,
                                 struct raft_configuration *configuration, uint64_t *index)
{
    struct broker_raft_log *raft_log = context;
    for (size_t i = raft_log->configurations_count; i > 0; i--) {
        const struct configuration_record *record = &raft_log->configurations[i - 1];
        if (record->index <= index_max) {
            *configuration = record->configuration;
            *index = record->index;
            return ETHER_OK;
        }
    }
    if (raft_log->snapshot.index > 0) {
        *configuration = raft_log->snapshot.configuration;
        *index = raft_log->snapshot.index;
        return ETHER_OK;
    }
    return ETHER_ERR_NOT_FOUND;
}

/* ---- open and close ---------------------------------------------------------------------- */

/* Parses the envelope at the start of snapshot data. */
static int parse_envelope(const uint8_t *data, size_t data_bytes, uint64_t *next_offset,
                          struct raft_configuration *configuration)
{
    if (data_bytes < BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES ||
        ether_get_u32le(data) != ENVELOPE_MAGIC) {
        return ETHER_ERR_CORRUPT;
    }
    uint32_t envelope_bytes = ether_get_u32le(data + 4);
    if (envelope_bytes < BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES || envelope_bytes > data_bytes) {
        return ETHER_ERR_CORRUPT;
    }
    *next_offset = ether_get_u64le(data + 8);
    return raft_configuration_decode(data + BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES,
                                     envelope_bytes - BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES,
                                     configuration);
}

static int load_snapshot_meta(struct broker_raft_log *raft_log)
{
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    int rc = storage_snapshot_open(raft_log->log, &meta, &reader);
    if (rc == ETHER_ERR_NOT_FOUND) {
        memset(&raft_log->snapshot, 0, sizeof raft_log->snapshot);
        return ETHER_OK;
    }
    if (rc != ETHER_OK) {
        return rc;
    }
    uint8_t header[BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES + RAFT_CONFIGURATION_ENCODED_BYTES_MAX];
    size_t read_bytes = 0;
    rc = storage_snapshot_read(reader, 0, header, sizeof header, &read_bytes);
    storage_snapshot_close(reader);
    if (rc != ETHER_OK) {
        return rc;
    }
    uint64_t next_offset = 0;
    rc = parse_envelope(header, read_bytes, &next_offset, &raft_log->snapshot.configuration);
    if (rc != ETHER_OK) {
        return rc;
    }
    raft_log->snapshot.index = meta.last_included_index;
    raft_log->snapshot.term = meta.last_included_term;
    raft_log->snapshot.size_bytes = meta.data_bytes;
    raft_log->snapshot_next_offset = next_offset;
    return ETHER_OK;
}

/* Reads the entries after the snapshot once, to learn configurations and terms. */
static int scan_tail(struct broker_raft_log *raft_log, uint64_t scan_from)
{
    struct storage_batch batch;
    storage_batch_init(&batch);
    int rc = ETHER_OK;
    uint64_t index = scan_from;
    uint64_t stored_last = raft_log->last_index;
    raft_log->last_index = scan_from - 1;
    while (rc == ETHER_OK && index <= stored_last) {
        rc = storage_read(raft_log->log, index, SCAN_READ_BYTES, &batch);
        for (size_t i = 0; rc == ETHER_OK && i < batch.entries_count; i++) {
            const struct storage_entry *entry = &batch.entries[i];
            cache_entry(raft_log, entry->index, entry->term, raft_type_of(entry->type),
                        entry->payload, entry->payload_bytes);
        }
        index = raft_log->last_index + 1;
    }
    storage_batch_free(&batch);
    if (rc == ETHER_OK) {
        ETHER_ASSERT(raft_log->last_index == stored_last);
    }
    return rc;
}

int broker_raft_log_open(struct storage_log *log, broker_entry_describe_fn *describe,
                         void *describe_context, const struct ether_logger *logger,
                         struct broker_raft_log **out, char *errbuf, size_t errbuf_size)
{
    struct broker_raft_log *raft_log = ether_calloc(1, sizeof *raft_log);
    raft_log->log = log;
    raft_log->describe = describe;
    raft_log->describe_context = describe_context;
    raft_log->logger = logger;
    pthread_mutex_init(&raft_log->mutex, NULL);
    raft_log->view = (struct raft_log_storage){
        .context = raft_log,
        .first_index = view_first_index,
        .last_index = view_last_index,
        .term_at = view_term_at,
        .entries = view_entries,
        .snapshot = view_snapshot,
        .snapshot_read = view_snapshot_read,
        .configuration_at = view_configuration_at,
    };

    struct storage_bounds bounds;
    int rc = storage_get_bounds(log, &bounds);
    if (rc == ETHER_OK) {
        raft_log->first_index = bounds.first_index;
        raft_log->last_index = bounds.last_index;
        raft_log->next_offset = bounds.next_offset;
        rc = load_snapshot_meta(raft_log);
        if (rc != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "snapshot: %s", ether_strerror(rc));
        }
    } else {
        snprintf(errbuf, errbuf_size, "log bounds: %s", ether_strerror(rc));
    }
    if (rc == ETHER_OK && raft_log->snapshot.index > 0 &&
        raft_log->last_index < raft_log->snapshot.index) {
        /* A crash interrupted storage_reset after a snapshot install: finish it. */
        ether_log_warn(logger, "the log ends before its snapshot at %llu: finishing its reset",
                       (unsigned long long)raft_log->snapshot.index);
        rc = storage_reset(log, raft_log->snapshot.index + 1, raft_log->snapshot_next_offset);
        if (rc == ETHER_OK) {
            rc = storage_get_bounds(log, &bounds);
        }
        if (rc == ETHER_OK) {
            raft_log->first_index = bounds.first_index;
            raft_log->last_index = bounds.last_index;
            raft_log->next_offset = bounds.next_offset;
        } else {
            snprintf(errbuf, errbuf_size, "finishing an interrupted reset: %s", ether_strerror(rc));
        }
    }
    if (rc == ETHER_OK && raft_log->first_index > raft_log->snapshot.index + 1) {
        snprintf(errbuf, errbuf_size,
                 "the log starts at %llu but the snapshot covers only up to %llu: entries "
                 "in between are missing",
                 (unsigned long long)raft_log->first_index,
                 (unsigned long long)raft_log->snapshot.index);
        rc = ETHER_ERR_CORRUPT;
    }
    if (rc == ETHER_OK) {
        uint64_t scan_from = raft_log->first_index;
        if (raft_log->snapshot.index + 1 > scan_from) {
            scan_from = raft_log->snapshot.index + 1;
        }
        if (scan_from <= raft_log->last_index) {
            rc = scan_tail(raft_log, scan_from);
            if (rc != ETHER_OK) {
                snprintf(errbuf, errbuf_size, "reading the log after the snapshot: %s",
                         ether_strerror(rc));
            }
        }
    }
    if (rc != ETHER_OK) {
        broker_raft_log_close(raft_log);
        return rc;
    }
    *out = raft_log;
    return ETHER_OK;
}

void broker_raft_log_close(struct broker_raft_log *raft_log)
{
    if (raft_log == NULL) {
        return;
    }
    broker_raft_log_release_reads(raft_log);
    for (size_t i = 0; i < raft_log->reads_capacity; i++) {
        storage_batch_free(&raft_log->reads[i]);
    }
    if (raft_log->incoming_snapshot != NULL) {
        storage_snapshot_abort(raft_log->incoming_snapshot);
    }
    storage_close(raft_log->log);
    pthread_mutex_destroy(&raft_log->mutex);
    ether_free(raft_log->reads);
    ether_free(raft_log->snapshot_buffers);
    ether_free(raft_log->runs);
    ether_free(raft_log->configurations);
    ether_free(raft_log->append_scratch);
    ether_free(raft_log);
}

const struct raft_log_storage *broker_raft_log_view(struct broker_raft_log *raft_log)
{
    return &raft_log->view;
}

struct storage_log *broker_raft_log_storage(struct broker_raft_log *raft_log)
{
    return raft_log->log;
}

void broker_raft_log_lock(struct broker_raft_log *raft_log)
{
    pthread_mutex_lock(&raft_log->mutex);
}

void broker_raft_log_unlock(struct broker_raft_log *raft_log)
{
    pthread_mutex_unlock(&raft_log->mutex);
}

uint64_t broker_raft_log_next_offset(struct broker_raft_log *raft_log)
{
    return raft_log->next_offset;
}

void broker_raft_log_take_fsync_latency(struct broker_raft_log *raft_log,
                                        struct broker_histogram *into)
{
    broker_histogram_merge(into, &raft_log->fsync_latency);
    raft_log->fsync_latency = (struct broker_histogram){0};
}

int broker_raft_log_hard_state(struct broker_raft_log *raft_log, struct raft_hard_state *hard_state)
{
    memset(hard_state, 0, sizeof *hard_state);
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_hard_state_load(raft_log->log, &hard_state->term, &hard_state->vote);
    pthread_mutex_unlock(&raft_log->mutex);
    return rc;
}

bool broker_raft_log_is_new(struct broker_raft_log *raft_log)
{
    struct raft_hard_state hard_state;
    if (broker_raft_log_hard_state(raft_log, &hard_state) != ETHER_OK) {
        return false;
    }
    return raft_log->last_index == 0 && raft_log->snapshot.index == 0 && hard_state.term == 0;
}

int broker_raft_log_bootstrap(struct broker_raft_log *raft_log,
                              const struct raft_configuration *configuration)
{
    if (!broker_raft_log_is_new(raft_log)) {
        return ETHER_ERR_EXISTS;
    }
    uint8_t encoded[RAFT_CONFIGURATION_ENCODED_BYTES_MAX];
    size_t encoded_bytes = raft_configuration_encode(configuration, encoded);
    struct storage_entry entry = {
        .index = 1,
        .term = 1,
        .type = STORAGE_ENTRY_CONFIG,
        .payload = encoded,
        .payload_bytes = (uint32_t)encoded_bytes,
    };
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_append(raft_log->log, &entry, 1);
    if (rc == ETHER_OK) {
        uint64_t sync_started_ns = ether_clock_monotonic_ns();
        rc = storage_sync(raft_log->log);
        broker_histogram_observe(&raft_log->fsync_latency,
                                 ether_clock_monotonic_ns() - sync_started_ns);
    }
    if (rc == ETHER_OK) {
        rc = storage_hard_state_save(raft_log->log, 1, RAFT_ID_NONE);
    }
    pthread_mutex_unlock(&raft_log->mutex);
    if (rc == ETHER_OK) {
        cache_entry(raft_log, 1, 1, RAFT_ENTRY_CONFIG, encoded, encoded_bytes);
    }
    return rc;
}

/* ---- persistence (worker thread) --------------------------------------------------------- */

static int persist_snapshot_chunk(struct broker_raft_log *raft_log,
                                  const struct raft_snapshot_chunk *chunk)
{
    int rc = ETHER_OK;
    if (chunk->offset_bytes == 0) {
        if (raft_log->incoming_snapshot != NULL) {
            storage_snapshot_abort(raft_log->incoming_snapshot);
            raft_log->incoming_snapshot = NULL;
        }
        struct raft_configuration configuration;
        uint64_t next_offset = 0;
        rc = parse_envelope(chunk->data, chunk->data_bytes, &next_offset, &configuration);
        if (rc != ETHER_OK) {
            return rc;
        }
        struct storage_snapshot_meta meta = {
            .last_included_index = chunk->meta->index,
            .last_included_term = chunk->meta->term,
            .next_offset = next_offset,
        };
        rc = storage_snapshot_begin(raft_log->log, &meta, &raft_log->incoming_snapshot);
        if (rc != ETHER_OK) {
            return rc;
        }
    }
    if (raft_log->incoming_snapshot == NULL) {
        return ETHER_ERR_CORRUPT; /* a chunk of a snapshot whose start we never saw */
    }
    rc = storage_snapshot_write(raft_log->incoming_snapshot, chunk->offset_bytes, chunk->data,
                                chunk->data_bytes);
    if (rc == ETHER_OK && chunk->last) {
        rc = storage_snapshot_commit(raft_log->incoming_snapshot);
        raft_log->incoming_snapshot = NULL;
    }
    return rc;
}

static int persist_snapshot_install(struct broker_raft_log *raft_log,
                                    const struct raft_snapshot_meta *snapshot)
{
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    int rc = storage_snapshot_open(raft_log->log, &meta, &reader);
    if (rc != ETHER_OK) {
        return rc;
    }
    storage_snapshot_close(reader);
    if (meta.last_included_index != snapshot->index) {
        return ETHER_ERR_CORRUPT;
    }
    raft_log->incoming_next_offset = meta.next_offset;
    return storage_reset(raft_log->log, snapshot->index + 1, meta.next_offset);
}

static int persist_entries(struct broker_raft_log *raft_log, const struct raft_ready *ready)
{
    if (ready->entries_count > raft_log->append_scratch_capacity) {
        raft_log->append_scratch = ether_realloc(
            raft_log->append_scratch, ready->entries_count * sizeof(struct storage_entry));
        raft_log->append_scratch_capacity = ready->entries_count;
    }
    for (size_t i = 0; i < ready->entries_count; i++) {
        const struct raft_entry *entry = &ready->entries[i];
        struct storage_entry *stored = &raft_log->append_scratch[i];
        *stored = (struct storage_entry){
            .index = entry->index,
            .term = entry->term,
            .type = storage_type_of(entry->type),
            .payload = entry->data,
            .payload_bytes = entry->data_bytes,
        };
        if (entry->type == RAFT_ENTRY_NORMAL) {
            int rc = raft_log->describe(raft_log->describe_context, entry, &stored->record_count,
                                        &stored->max_timestamp_ms);
            if (rc != ETHER_OK) {
                return rc;
            }
        }
    }
    return storage_append(raft_log->log, raft_log->append_scratch, ready->entries_count);
}

int broker_raft_log_persist(struct broker_raft_log *raft_log, const struct raft_ready *ready)
{
    pthread_mutex_lock(&raft_log->mutex);
    raft_log->appended_count = 0;
    raft_log->synced = false;
    int rc = ETHER_OK;
    if (ready->snapshot_chunk_present) {
        rc = persist_snapshot_chunk(raft_log, &ready->snapshot_chunk);
    }
    if (rc == ETHER_OK && ready->snapshot_install) {
        rc = persist_snapshot_install(raft_log, ready->snapshot);
    }
    if (rc == ETHER_OK && ready->truncate) {
        rc = storage_truncate_suffix(raft_log->log, ready->truncate_after_index);
    }
    bool entries_full = false;
    if (rc == ETHER_OK && ready->entries_count > 0) {
        rc = persist_entries(raft_log, ready);
        if (rc == ETHER_ERR_NO_SPACE && !ready->truncate) {
            entries_full = true; /* the log is as before; the rest still gets done */
            rc = ETHER_OK;
        } else if (rc == ETHER_ERR_NO_SPACE) {
            rc = ETHER_ERR_IO; /* the truncation cannot be undone: reopen from disk */
        }
    }
    if (rc == ETHER_OK && ready->hard_state_changed) {
        rc = storage_hard_state_save(raft_log->log, ready->hard_state.term, ready->hard_state.vote);
    }
    if (rc == ETHER_OK && ready->entries_count > 0 && !entries_full) {
        /* The fdatasync runs without the lock, so that the loop's reads of this log
         * (fetches, Raft catch-up) never wait for the disk to flush. */
        struct storage_sync_ticket ticket;
        rc = storage_sync_begin(raft_log->log, &ticket);
        if (rc == ETHER_OK) {
            pthread_mutex_unlock(&raft_log->mutex);
            uint64_t sync_started_ns = ether_clock_monotonic_ns();
            int run_rc = storage_sync_run(&ticket);
            uint64_t sync_ns = ether_clock_monotonic_ns() - sync_started_ns;
            pthread_mutex_lock(&raft_log->mutex);
            raft_log->synced = true;
            raft_log->sync_ns = sync_ns;
            rc = storage_sync_end(raft_log->log, &ticket, run_rc);
        }
        if (rc == ETHER_OK &&
            ticket.durable_index < ready->entries[ready->entries_count - 1].index) {
            /* Only the loop truncates between readies; nothing else can cut this ready's
             * entries while it is being persisted. */
            rc = ETHER_ERR_IO;
        }
        if (rc == ETHER_OK) {
            raft_log->appended_count = ready->entries_count;
        }
    }
    pthread_mutex_unlock(&raft_log->mutex);
    if (rc == ETHER_OK && entries_full) {
        return ETHER_ERR_NO_SPACE;
    }
    return rc;
}

/* ---- after persistence (loop thread) ----------------------------------------------------- */

void broker_raft_log_persisted(struct broker_raft_log *raft_log, const struct raft_ready *ready,
                               int result)
{
    if (raft_log->synced) {
        broker_histogram_observe(&raft_log->fsync_latency, raft_log->sync_ns);
    }
    if (result != ETHER_OK && result != ETHER_ERR_NO_SPACE) {
        return; /* the owner drops this log and reopens it */
    }
    if (ready->snapshot_install) {
        raft_log->snapshot = *ready->snapshot;
        raft_log->snapshot_next_offset = raft_log->incoming_next_offset;
        raft_log->first_index = ready->snapshot->index + 1;
        raft_log->last_index = ready->snapshot->index;
        raft_log->runs_count = 0;
        raft_log->configurations_count = 0;
    }
    if (ready->truncate) {
        ETHER_ASSERT(ready->truncate_after_index + 1 >= raft_log->first_index);
        runs_truncate_after(raft_log, ready->truncate_after_index);
        configurations_truncate_after(raft_log, ready->truncate_after_index);
        if (raft_log->last_index > ready->truncate_after_index) {
            raft_log->last_index = ready->truncate_after_index;
        }
    }
    if (result == ETHER_OK) {
        for (size_t i = 0; i < ready->entries_count; i++) {
            const struct raft_entry *entry = &ready->entries[i];
            cache_entry(raft_log, entry->index, entry->term, entry->type, entry->data,
                        entry->data_bytes);
        }
    }
    struct storage_bounds bounds;
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_get_bounds(raft_log->log, &bounds);
    pthread_mutex_unlock(&raft_log->mutex);
    if (rc == ETHER_OK) {
        ETHER_ASSERT(bounds.last_index == raft_log->last_index);
        raft_log->first_index = bounds.first_index;
        raft_log->next_offset = bounds.next_offset;
    }
}

void broker_raft_log_appended(const struct broker_raft_log *raft_log,
                              const struct storage_entry **entries, size_t *entries_count)
{
    *entries = raft_log->append_scratch;
    *entries_count = raft_log->appended_count;
}

void broker_raft_log_release_reads(struct broker_raft_log *raft_log)
{
    /* Small read buffers are kept for reuse; large ones go, so that thousands of
     * mostly idle groups do not each hold a catch-up sized buffer. */
    for (size_t i = 0; i < raft_log->reads_count; i++) {
        if (raft_log->reads[i].bytes.capacity > READ_BUFFER_KEPT_BYTES_MAX) {
            storage_batch_free(&raft_log->reads[i]);
            storage_batch_init(&raft_log->reads[i]);
        }
    }
    raft_log->reads_count = 0;
    for (size_t i = 0; i < raft_log->snapshot_buffers_count; i++) {
        ether_free(raft_log->snapshot_buffers[i]);
    }
    raft_log->snapshot_buffers_count = 0;
}

/* ---- snapshots and retention ------------------------------------------------------------- */

int broker_raft_log_snapshot_write(struct broker_raft_log *raft_log,
                                   struct raft_snapshot_meta *meta, uint64_t next_offset,
                                   const uint8_t *state, size_t state_bytes)
{
    uint8_t envelope[BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES + RAFT_CONFIGURATION_ENCODED_BYTES_MAX];
    size_t configuration_bytes = raft_configuration_encode(
        &meta->configuration, envelope + BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES);
    size_t envelope_bytes = BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES + configuration_bytes;
    ether_put_u32le(envelope, ENVELOPE_MAGIC);
    ether_put_u32le(envelope + 4, (uint32_t)envelope_bytes);
    ether_put_u64le(envelope + 8, next_offset);

    struct storage_snapshot_meta stored = {
        .last_included_index = meta->index,
        .last_included_term = meta->term,
        .next_offset = next_offset,
    };
    pthread_mutex_lock(&raft_log->mutex);
    struct storage_snapshot_writer *writer = NULL;
    int rc = storage_snapshot_begin(raft_log->log, &stored, &writer);
    if (rc == ETHER_OK) {
        rc = storage_snapshot_write(writer, 0, envelope, envelope_bytes);
        if (rc == ETHER_OK && state_bytes > 0) {
            rc = storage_snapshot_write(writer, envelope_bytes, state, state_bytes);
        }
        if (rc == ETHER_OK) {
            rc = storage_snapshot_commit(writer);
        } else {
            storage_snapshot_abort(writer);
        }
    }
    pthread_mutex_unlock(&raft_log->mutex);
    meta->size_bytes = envelope_bytes + state_bytes;
    return rc;
}

void broker_raft_log_snapshot_written(struct broker_raft_log *raft_log,
                                      const struct raft_snapshot_meta *meta, uint64_t next_offset)
{
    ETHER_ASSERT(meta->index > raft_log->snapshot.index);
    raft_log->snapshot = *meta;
    raft_log->snapshot_next_offset = next_offset;
}

void broker_raft_log_snapshot(const struct broker_raft_log *raft_log,
                              struct raft_snapshot_meta *meta, uint64_t *next_offset)
{
    *meta = raft_log->snapshot;
    *next_offset = raft_log->snapshot_next_offset;
}

int broker_raft_log_apply_retention(struct broker_raft_log *raft_log,
                                    const struct storage_retention *retention, int64_t now_ms,
                                    uint64_t index_limit, uint64_t *segments_removed_count)
{
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_apply_retention(raft_log->log, retention, now_ms, index_limit,
                                     segments_removed_count);
    pthread_mutex_unlock(&raft_log->mutex);
    return rc;
}

void broker_raft_log_refresh_bounds(struct broker_raft_log *raft_log)
{
    struct storage_bounds bounds;
    pthread_mutex_lock(&raft_log->mutex);
    int rc = storage_get_bounds(raft_log->log, &bounds);
    pthread_mutex_unlock(&raft_log->mutex);
    if (rc == ETHER_OK) {
        ETHER_ASSERT(bounds.last_index == raft_log->last_index);
        raft_log->first_index = bounds.first_index;
        raft_log->next_offset = bounds.next_offset;
    }
}

int broker_raft_log_snapshot_state(struct broker_raft_log *raft_log, struct ether_buf *out)
{
    pthread_mutex_lock(&raft_log->mutex);
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    int rc = storage_snapshot_open(raft_log->log, &meta, &reader);
    uint8_t header[BROKER_SNAPSHOT_ENVELOPE_HEADER_BYTES];
    size_t read_bytes = 0;
    if (rc == ETHER_OK) {
        rc = storage_snapshot_read(reader, 0, header, sizeof header, &read_bytes);
    }
    if (rc == ETHER_OK &&
        (read_bytes < sizeof header || ether_get_u32le(header) != ENVELOPE_MAGIC ||
         ether_get_u32le(header + 4) > meta.data_bytes)) {
        rc = ETHER_ERR_CORRUPT;
    }
    uint64_t position = rc == ETHER_OK ? ether_get_u32le(header + 4) : 0;
    while (rc == ETHER_OK && position < meta.data_bytes) {
        size_t chunk_bytes = (size_t)(meta.data_bytes - position);
        if (chunk_bytes > 64 * 1024) {
            chunk_bytes = 64 * 1024;
        }
        uint8_t *destination = ether_buf_extend(out, chunk_bytes);
        rc = storage_snapshot_read(reader, position, destination, chunk_bytes, &read_bytes);
        if (rc == ETHER_OK && read_bytes != chunk_bytes) {
            rc = ETHER_ERR_CORRUPT;
        }
        position += chunk_bytes;
    }
    if (reader != NULL) {
        storage_snapshot_close(reader);
    }
    pthread_mutex_unlock(&raft_log->mutex);
    return rc;
}

bool broker_raft_log_receiving_snapshot(const struct broker_raft_log *raft_log)
{
    /* Written by the worker during a persist; the loop reads it only between readies. */
    return raft_log->incoming_snapshot != NULL;
}
