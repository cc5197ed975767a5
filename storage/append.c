/*
 * append.c: appending entries, rolling segments, and storage_sync.
 *
 * Happy path of an append: frames are gathered as iovecs (header on the
 * side, payload from the caller: no copy) and written with pwritev at the end
 * of the last segment, after the file has been grown with zeros past them
 * when needed (see PREALLOCATION in storage.h); the points they earn are
 * written to its index file. When the next frame would overflow
 * segment_bytes_max the segment is cut to its frames, synced and sealed, and
 * a new one is created.
 *
 * Failure modes: a failed or short write (ENOSPC, EIO) rolls the log back to
 * where it was before the call: segments created by the call are removed, the
 * previous last segment and its index are cut back to their old sizes. If even
 * the rollback fails, or any fsync fails, the log is untrusted.
 */
#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

_Static_assert(APPEND_ENTRIES_PER_WRITE * 2 <= 1024, "one pwritev stays below IOV_MAX");

/* ---- append ------------------------------------------------------------------------------ */

_Static_assert(ZERO_BLOCK_BYTES *ZERO_BLOCKS_PER_WRITE <= INT32_MAX, "one zero write is bounded");

/* The state an append returns to when it fails. */
struct append_mark {
    size_t segments_count;
    struct storage_segment active; /* copy of the scalar fields; points are not copied */
    size_t runs_count;
};

static int validate_entries(const struct storage_log *log, const struct storage_entry *entries,
                            size_t entries_count)
{
    uint64_t expected = log_last_index(log) + 1;
    uint64_t previous_term = log->runs_count > 0 ? log->runs[log->runs_count - 1].term : 0;
    uint64_t next_offset = log->segments[log->segments_count - 1].next_offset;
    for (size_t i = 0; i < entries_count; i++) {
        const struct storage_entry *entry = &entries[i];
        bool is_data = entry->type == STORAGE_ENTRY_DATA;
        bool is_control = entry->type == STORAGE_ENTRY_NOOP || entry->type == STORAGE_ENTRY_CONFIG;
        if (entry->index != expected || entry->term == 0 || entry->term < previous_term) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        if (!(is_data || is_control) || is_data != (entry->record_count > 0)) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        if (entry->payload_bytes > log->options.payload_bytes_max ||
            (entry->payload == NULL && entry->payload_bytes > 0)) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        if (next_offset > UINT64_MAX - entry->record_count) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        next_offset += entry->record_count;
        previous_term = entry->term;
        expected++;
    }
    return ETHER_OK;
}

/* Undoes a failed append; on a failure here the log becomes untrusted. */
static void append_rollback(struct storage_log *log, const struct append_mark *mark)
{
    ETHER_ASSERT(log->segments_count >= mark->segments_count);
    bool failed = false;
    while (log->segments_count > mark->segments_count) {
        struct storage_segment *segment = log_active(log);
        failed |= segment_remove(log, segment) != ETHER_OK;
        segment_free(segment);
        log->segments_count--;
    }
    struct storage_segment *active = log_active(log);
    ETHER_ASSERT(active->points_count >= mark->active.points_count);
    /* Cutting to the old frames also drops the preallocation, so no partial frame stays. */
    failed |= log->io->ftruncate(log->io->context, active->log_fd, mark->active.size_bytes) < 0;
    failed |= log->io->ftruncate(log->io->context, active->index_fd,
                                 index_file_bytes(mark->active.points_count)) < 0;
    active->size_bytes = mark->active.size_bytes;
    active->file_bytes = mark->active.size_bytes;
    active->points_count = mark->active.points_count;
    active->last_point_position = mark->active.last_point_position;
    active->last_index = mark->active.last_index;
    active->next_offset = mark->active.next_offset;
    active->max_timestamp_ms = mark->active.max_timestamp_ms;
    /* The cut files still differ from what was synced: keep them dirty. */
    log_mark_data_dirty(log, active);
    log_mark_index_dirty(log, active);
    active->index_lag_bytes = mark->active.index_lag_bytes;
    log->runs_count = mark->runs_count;
    if (failed) {
        log->untrusted = true;
        ether_log_error(log->logger, "storage: %s: cannot undo a failed append; log untrusted",
                        log->dir_path);
    }
}

/* Seals the last segment (cut to its frames, synced) and starts a new one after it. */
static int roll(struct storage_log *log)
{
    struct storage_segment *old = log_active(log);
    ETHER_ASSERT(old->size_bytes > 0);
    /* Before the sync, so one fdatasync makes both the frames and the exact size durable. */
    int trimmed = segment_trim(log, old);
    if (trimmed != ETHER_OK) {
        return trimmed;
    }
    if (old->log_dirty) {
        int result = file_sync(log, old->log_fd, "sealed segment");
        if (result != ETHER_OK) {
            return result;
        }
        old->log_dirty = false;
    }
    if (old->index_dirty) {
        int result = file_sync(log, old->index_fd, "sealed index");
        if (result != ETHER_OK) {
            return result;
        }
        old->index_dirty = false;
        old->index_lag_bytes = 0;
    }
    struct storage_segment segment;
    segment_init(&segment, old->last_index + 1, old->next_offset);
    int result = segment_create(log, &segment);
    if (result != ETHER_OK) {
        return result;
    }
    log_push_segment(log, &segment);
    ETHER_ASSERT(log_active(log)->base_index ==
                 log->segments[log->segments_count - 2].last_index + 1);
    return ETHER_OK;
}

/* Writes the gathered frames and the points earned since `first_point`. */
static int append_flush(struct storage_log *log, struct iovec *iov, int iov_count,
                        uint64_t position, size_t first_point)
{
    struct storage_segment *segment = log_active(log);
    if (iov_count > 0) {
        uint64_t end = position;
        for (int i = 0; i < iov_count; i++) {
            end += iov[i].iov_len;
        }
        segment_preallocate(log, segment, position, end);
        int result = file_write_full(log, segment->log_fd, iov, iov_count, position);
        if (result != ETHER_OK) {
            return result;
        }
        if (end > segment->file_bytes) {
            segment->file_bytes = end;
        }
        log_mark_data_dirty(log, segment);
    }
    if (segment->points_count > first_point) {
        size_t count = segment->points_count - first_point;
        uint8_t encoded[APPEND_ENTRIES_PER_WRITE * STORAGE_INDEX_POINT_BYTES];
        ETHER_ASSERT(count <= APPEND_ENTRIES_PER_WRITE);
        for (size_t i = 0; i < count; i++) {
            index_encode_point(&segment->points[first_point + i],
                               encoded + i * STORAGE_INDEX_POINT_BYTES);
        }
        int result =
            file_write_bytes(log, segment->index_fd, encoded, count * STORAGE_INDEX_POINT_BYTES,
                             index_file_bytes(first_point));
        if (result != ETHER_OK) {
            return result;
        }
        log_mark_index_dirty(log, segment);
    }
    return ETHER_OK;
}

int storage_append(struct storage_log *log, struct storage_entry *entries, size_t entries_count)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (entries_count == 0) {
        return ETHER_OK;
    }
    if (entries == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    result = validate_entries(log, entries, entries_count);
    if (result != ETHER_OK) {
        return result;
    }

    struct append_mark mark;
    mark.segments_count = log->segments_count;
    mark.active = *log_active(log);
    mark.runs_count = log->runs_count;

    struct iovec iov[APPEND_ENTRIES_PER_WRITE * 2];
    int iov_count = 0;
    size_t headers_used = 0;
    struct storage_segment *segment = log_active(log);
    ETHER_ASSERT(segment->points_loaded);
    ETHER_ASSERT(segment->tail_known);
    uint64_t write_position = segment->size_bytes;
    size_t first_point = segment->points_count;

    for (size_t i = 0; i < entries_count; i++) {
        struct storage_entry *entry = &entries[i];
        uint64_t frame_bytes = STORAGE_FRAME_HEADER_BYTES + (uint64_t)entry->payload_bytes;
        bool segment_full = segment->size_bytes > 0 &&
                            segment->size_bytes + frame_bytes > log->options.segment_bytes_max;
        if (segment_full || headers_used == APPEND_ENTRIES_PER_WRITE) {
            result = append_flush(log, iov, iov_count, write_position, first_point);
            if (result != ETHER_OK) {
                goto err_after_write;
            }
            iov_count = 0;
            headers_used = 0;
            write_position = segment->size_bytes;
            first_point = segment->points_count;
        }
        if (segment_full) {
            result = roll(log);
            if (result != ETHER_OK) {
                goto err_after_write;
            }
            segment = log_active(log);
            write_position = 0;
            first_point = 0;
        }

        entry->base_offset = segment->next_offset;
        uint8_t *header = log->append_headers + headers_used * STORAGE_FRAME_HEADER_BYTES;
        headers_used++;
        frame_encode_header(entry, 0, header);
        ether_put_u32le(header, frame_crc(header, entry->payload, entry->payload_bytes));
        iov[iov_count].iov_base = header;
        iov[iov_count].iov_len = STORAGE_FRAME_HEADER_BYTES;
        iov_count++;
        if (entry->payload_bytes > 0) {
            iov[iov_count].iov_base = (void *)(uintptr_t)entry->payload;
            iov[iov_count].iov_len = entry->payload_bytes;
            iov_count++;
        }

        if (entry->max_timestamp_ms > segment->max_timestamp_ms) {
            segment->max_timestamp_ms = entry->max_timestamp_ms;
        }
        if (index_wants_point(log, segment, segment->size_bytes)) {
            ETHER_ASSERT(segment->size_bytes <= UINT32_MAX);
            struct index_point point = {.index = entry->index,
                                        .base_offset = entry->base_offset,
                                        .max_timestamp_ms = segment->max_timestamp_ms,
                                        .position = (uint32_t)segment->size_bytes};
            index_push(segment, &point);
        }
        segment->size_bytes += frame_bytes;
        segment->index_lag_bytes += frame_bytes;
        segment->last_index = entry->index;
        segment->next_offset += entry->record_count;
        log_runs_push(log, entry->index, entry->term);
    }
    result = append_flush(log, iov, iov_count, write_position, first_point);
    if (result != ETHER_OK) {
        goto err_after_write;
    }
    ETHER_ASSERT(log_last_index(log) == entries[entries_count - 1].index);
    ETHER_ASSERT(segment->last_index >= segment->base_index);
    ETHER_ASSERT(segment->file_bytes >= segment->size_bytes);
    return ETHER_OK;

err_after_write:
    if (!log->untrusted) {
        append_rollback(log, &mark);
    }
    return log->untrusted ? ETHER_ERR_LOG_UNTRUSTED : result;
}
