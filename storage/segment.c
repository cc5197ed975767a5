/*
 * segment.c: the two files of one segment, reading frames in order, and
 * finding where an entry starts.
 *
 * Happy path: a segment is created (index file with its header, synced, then
 * the empty data file, the directory synced after each), written by appends
 * while it is the last segment, sealed by a roll (synced), read through its
 * index, and removed by prefix removal, retention, truncation or reset.
 *
 * Failure modes: any frame may be torn or corrupt. The tail scan (only ever
 * run on the last segment, from its last good index point) stops at the first
 * bad frame and says why; a lookup in a sealed segment that meets a bad frame
 * answers ETHER_ERR_CORRUPT.
 */
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

void segment_init(struct storage_segment *segment, uint64_t base_index, uint64_t base_offset)
{
    ETHER_ASSERT(base_index > 0);
    memset(segment, 0, sizeof *segment);
    segment->base_index = base_index;
    segment->base_offset = base_offset;
    segment->last_index = base_index - 1;
    segment->next_offset = base_offset;
    segment->log_fd = -1;
    segment->index_fd = -1;
    segment->max_timestamp_ms = INT64_MIN;
    ETHER_ASSERT(segment->points == NULL);
}

int segment_create(struct storage_log *log, struct storage_segment *segment)
{
    ETHER_ASSERT(segment->log_fd < 0);
    ETHER_ASSERT(segment->index_fd < 0);
    char index_path[PATH_MAX];
    char log_path[PATH_MAX];
    uint8_t header[STORAGE_INDEX_HEADER_BYTES];
    file_path(log, index_path, sizeof index_path, segment->base_index, ".index");
    file_path(log, log_path, sizeof log_path, segment->base_index, ".log");

    int fd = log->io->open(log->io->context, index_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return file_error(fd);
    }
    segment->index_fd = fd;
    index_encode_header(segment->base_index, segment->base_offset, header);
    int result = file_write_bytes(log, fd, header, sizeof header, 0);
    if (result != ETHER_OK) {
        goto err_after_index;
    }
    /* The header must be durable before the data file exists: recovery relies on it. */
    result = file_sync(log, fd, "new index file");
    if (result != ETHER_OK) {
        goto err_after_index;
    }
    result = file_sync_dir(log);
    if (result != ETHER_OK) {
        goto err_after_index;
    }
    fd = log->io->open(log->io->context, log_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        result = file_error(fd);
        goto err_after_index;
    }
    segment->log_fd = fd;
    result = file_sync_dir(log);
    if (result != ETHER_OK) {
        goto err_after_log;
    }
    segment->points_loaded = true;
    segment->tail_known = true;
    return ETHER_OK;

err_after_log:
    log->io->close(log->io->context, segment->log_fd);
    log->io->unlink(log->io->context, log_path);
    segment->log_fd = -1;
err_after_index:
    log->io->close(log->io->context, segment->index_fd);
    log->io->unlink(log->io->context, index_path);
    segment->index_fd = -1;
    return result;
}

int segment_open(struct storage_log *log, struct storage_segment *segment, char *errbuf,
                 size_t errbuf_size)
{
    ETHER_ASSERT(segment->log_fd < 0);
    ETHER_ASSERT(segment->base_index > 0);
    char path[PATH_MAX];
    uint8_t header[STORAGE_INDEX_HEADER_BYTES];
    file_path(log, path, sizeof path, segment->base_index, ".log");
    int fd = log->io->open(log->io->context, path, O_RDWR, 0);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "cannot open %s: %s", path, strerror(-fd));
        return file_error(fd);
    }
    segment->log_fd = fd;
    int result = log->io->file_size(log->io->context, fd, &segment->file_bytes);
    if (result < 0) {
        snprintf(errbuf, errbuf_size, "cannot stat %s: %s", path, strerror(-result));
        return file_error(result);
    }
    /* Exact for sealed segments; recovery finds the last segment's frames' end. */
    segment->size_bytes = segment->file_bytes;

    file_path(log, path, sizeof path, segment->base_index, ".index");
    fd = log->io->open(log->io->context, path, O_RDWR, 0);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "cannot open %s: %s", path, strerror(-fd));
        return fd == -ENOENT ? ETHER_ERR_CORRUPT : file_error(fd);
    }
    segment->index_fd = fd;
    size_t got = 0;
    result = file_read(log, fd, header, sizeof header, 0, &got);
    if (result != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "cannot read %s: %s", path, ether_strerror(result));
        return result;
    }
    uint64_t base_index = 0;
    uint64_t base_offset = 0;
    if (got < sizeof header || index_decode_header(header, &base_index, &base_offset) != ETHER_OK ||
        base_index != segment->base_index) {
        snprintf(errbuf, errbuf_size, "%s: index header is missing or corrupt", path);
        return ETHER_ERR_CORRUPT;
    }
    segment->base_offset = base_offset;
    segment->next_offset = base_offset;
    return ETHER_OK;
}

void segment_close(struct storage_log *log, struct storage_segment *segment)
{
    if (segment->log_fd >= 0) {
        log->io->close(log->io->context, segment->log_fd);
        segment->log_fd = -1;
    }
    if (segment->index_fd >= 0) {
        log->io->close(log->io->context, segment->index_fd);
        segment->index_fd = -1;
    }
    ETHER_ASSERT(segment->log_fd < 0);
    ETHER_ASSERT(segment->index_fd < 0);
}

int segment_remove(struct storage_log *log, struct storage_segment *segment)
{
    char path[PATH_MAX];
    segment_close(log, segment);
    log_mark_dir_dirty(log);
    /* Data first: an index without its data file is an orphan that open deletes. */
    file_path(log, path, sizeof path, segment->base_index, ".log");
    int result = log->io->unlink(log->io->context, path);
    if (result < 0 && result != -ENOENT) {
        return file_error(result);
    }
    file_path(log, path, sizeof path, segment->base_index, ".index");
    result = log->io->unlink(log->io->context, path);
    if (result < 0 && result != -ENOENT) {
        return file_error(result);
    }
    return ETHER_OK;
}

void segment_free(struct storage_segment *segment)
{
    ETHER_ASSERT(segment->log_fd < 0);
    ether_free(segment->points);
    segment->points = NULL;
    segment->points_count = 0;
    segment->points_capacity = 0;
}

/* ---- frame cursor ---------------------------------------------------------------------- */

void cursor_init(struct frame_cursor *cursor, struct storage_log *log,
                 struct storage_segment *segment, uint64_t position, uint64_t end_position)
{
    ETHER_ASSERT(position <= end_position);
    ETHER_ASSERT(segment->log_fd >= 0);
    cursor->log = log;
    cursor->segment = segment;
    cursor->position = position;
    cursor->end_position = end_position;
    cursor->window_position = 0;
    cursor->window_length = 0;
}

/* Makes [position, position + size_bytes) available in the window; returns its start. */
static int cursor_window(struct frame_cursor *cursor, uint64_t position, size_t size_bytes,
                         const uint8_t **bytes)
{
    ETHER_ASSERT(position + size_bytes <= cursor->end_position);
    struct ether_buf *window = &cursor->log->scratch;
    if (position < cursor->window_position ||
        position + size_bytes > cursor->window_position + cursor->window_length) {
        uint64_t available = cursor->end_position - position;
        size_t want = size_bytes < SCAN_WINDOW_BYTES ? SCAN_WINDOW_BYTES : size_bytes;
        if (want > available) {
            want = (size_t)available;
        }
        ether_buf_clear(window);
        uint8_t *data = ether_buf_extend(window, want);
        size_t got = 0;
        int result = file_read(cursor->log, cursor->segment->log_fd, data, want, position, &got);
        cursor->window_position = position;
        cursor->window_length = result == ETHER_OK ? got : 0;
        if (result != ETHER_OK) {
            return result;
        }
        if (got < size_bytes) {
            return ETHER_ERR_TRUNCATED; /* the file is shorter than we were told */
        }
    }
    *bytes = window->data + (position - cursor->window_position);
    ETHER_ASSERT(cursor->window_length >= size_bytes);
    return ETHER_OK;
}

int cursor_next(struct frame_cursor *cursor, struct frame_header *header,
                const uint8_t **payload_out)
{
    ETHER_ASSERT(cursor->position <= cursor->end_position);
    uint64_t left = cursor->end_position - cursor->position;
    if (left == 0) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    if (left < STORAGE_FRAME_HEADER_BYTES) {
        return ETHER_ERR_TRUNCATED;
    }
    const uint8_t *bytes = NULL;
    int result = cursor_window(cursor, cursor->position, STORAGE_FRAME_HEADER_BYTES, &bytes);
    if (result != ETHER_OK) {
        return result;
    }
    result = frame_decode_header(bytes, header);
    if (result != ETHER_OK) {
        return result;
    }
    uint64_t frame_bytes = STORAGE_FRAME_HEADER_BYTES + (uint64_t)header->payload_bytes;
    if (frame_bytes > left) {
        return ETHER_ERR_TRUNCATED;
    }
    if (payload_out != NULL) {
        result = cursor_window(cursor, cursor->position, (size_t)frame_bytes, &bytes);
        if (result != ETHER_OK) {
            return result;
        }
        const uint8_t *payload = bytes + STORAGE_FRAME_HEADER_BYTES;
        if (frame_crc(bytes, payload, header->payload_bytes) != header->crc) {
            return ETHER_ERR_CORRUPT;
        }
        *payload_out = payload;
    }
    cursor->position += frame_bytes;
    return ETHER_OK;
}

/* ---- scans ----------------------------------------------------------------------------- */

static int load_points(struct storage_log *log, struct storage_segment *segment)
{
    if (segment->points_loaded) {
        return ETHER_OK;
    }
    uint64_t valid_bytes = 0;
    return index_load(log, segment, &valid_bytes);
}

/* Drops trailing points until the last one names a good frame of the right entry. */
static int drop_points_not_matching(struct storage_log *log, struct storage_segment *segment,
                                    uint64_t end_position)
{
    while (segment->points_count > 0) {
        const struct index_point *point = &segment->points[segment->points_count - 1];
        struct frame_cursor cursor;
        struct frame_header header;
        const uint8_t *payload = NULL;
        if (point->position < end_position) {
            cursor_init(&cursor, log, segment, point->position, end_position);
            int result = cursor_next(&cursor, &header, &payload);
            if (result == ETHER_ERR_IO || result == ETHER_ERR_NO_MEMORY) {
                return result;
            }
            if (result == ETHER_OK && header.index == point->index &&
                header.base_offset == point->base_offset) {
                break;
            }
        }
        segment->points_count--;
    }
    segment->last_point_position =
        segment->points_count > 0 ? segment->points[segment->points_count - 1].position : 0;
    return ETHER_OK;
}

int segment_scan_tail(struct storage_log *log, struct storage_segment *segment,
                      uint64_t end_position, uint64_t *stop_position, int *stop_reason,
                      size_t *points_verified_count)
{
    ETHER_ASSERT(end_position <= segment->size_bytes);
    int result = load_points(log, segment);
    if (result != ETHER_OK) {
        return result;
    }
    result = drop_points_not_matching(log, segment, end_position);
    if (result != ETHER_OK) {
        return result;
    }
    *points_verified_count = segment->points_count;
    const struct index_point *start =
        segment->points_count > 0 ? &segment->points[segment->points_count - 1] : NULL;
    uint64_t index = start != NULL ? start->index : segment->base_index;
    uint64_t offset = start != NULL ? start->base_offset : segment->base_offset;
    int64_t max_timestamp_ms = start != NULL ? start->max_timestamp_ms : INT64_MIN;
    uint64_t position = start != NULL ? start->position : 0;
    log_runs_reset(log, index);

    struct frame_cursor cursor;
    cursor_init(&cursor, log, segment, position, end_position);
    int reason = ETHER_OK;
    for (;;) {
        struct frame_header header;
        const uint8_t *payload = NULL;
        result = cursor_next(&cursor, &header, &payload);
        if (result == ETHER_ERR_OUT_OF_RANGE) {
            break;
        }
        if (result == ETHER_ERR_IO) {
            return result;
        }
        if (result != ETHER_OK) {
            reason = result;
            break;
        }
        uint64_t previous_term = log->runs_count > 0 ? log->runs[log->runs_count - 1].term : 0;
        if (header.index != index || header.base_offset != offset || header.term < previous_term ||
            header.term == 0) {
            reason = ETHER_ERR_CORRUPT;
            break;
        }
        if (header.max_timestamp_ms > max_timestamp_ms) {
            max_timestamp_ms = header.max_timestamp_ms;
        }
        if (index_wants_point(log, segment, position)) {
            struct index_point point = {.index = index,
                                        .base_offset = offset,
                                        .max_timestamp_ms = max_timestamp_ms,
                                        .position = (uint32_t)position};
            index_push(segment, &point);
        }
        log_runs_push(log, index, header.term);
        index++;
        offset += header.record_count;
        position = cursor.position;
    }
    segment->last_index = index - 1;
    segment->next_offset = offset;
    segment->max_timestamp_ms = max_timestamp_ms;
    segment->tail_known = true;
    *stop_position = position;
    if (stop_reason != NULL) {
        *stop_reason = reason;
    }
    ETHER_ASSERT(position <= end_position);
    ETHER_ASSERT(segment->last_index + 1 >= segment->base_index);
    return ETHER_OK;
}

int segment_write_points(struct storage_log *log, struct storage_segment *segment,
                         size_t first_point)
{
    ETHER_ASSERT(first_point <= segment->points_count);
    ETHER_ASSERT(segment->index_fd >= 0);
    size_t count = segment->points_count - first_point;
    if (count > 0) {
        uint8_t *encoded = ether_malloc(count * STORAGE_INDEX_POINT_BYTES);
        for (size_t i = 0; i < count; i++) {
            index_encode_point(&segment->points[first_point + i],
                               encoded + i * STORAGE_INDEX_POINT_BYTES);
        }
        int result =
            file_write_bytes(log, segment->index_fd, encoded, count * STORAGE_INDEX_POINT_BYTES,
                             index_file_bytes(first_point));
        ether_free(encoded);
        if (result != ETHER_OK) {
            return result;
        }
    }
    int result = log->io->ftruncate(log->io->context, segment->index_fd,
                                    index_file_bytes(segment->points_count));
    if (result < 0) {
        return file_error(result);
    }
    log_mark_index_dirty(log, segment);
    return ETHER_OK;
}

/* Zeros for the preallocation: never written, only pointed at by iovecs. */
static const uint8_t zero_block[ZERO_BLOCK_BYTES];

void segment_preallocate(struct storage_log *log, struct storage_segment *segment, uint64_t from,
                         uint64_t end)
{
    ETHER_ASSERT(from <= end);
    ETHER_ASSERT(from <= segment->file_bytes);
    uint64_t step = log->options.preallocate_bytes;
    if (step == 0 || end <= segment->file_bytes) {
        return;
    }
    uint64_t target = (end + step - 1) / step * step;
    uint64_t limit = log->options.segment_bytes_max > end ? log->options.segment_bytes_max : end;
    if (target > limit) {
        target = limit;
    }
    /* [from, end) is about to be written by the caller; zeros go after it only. */
    uint64_t position = end;
    while (position < target) {
        struct iovec iov[ZERO_BLOCKS_PER_WRITE];
        int iov_count = 0;
        uint64_t chunk = 0;
        while (iov_count < ZERO_BLOCKS_PER_WRITE && position + chunk < target) {
            uint64_t left = target - position - chunk;
            size_t length = left < ZERO_BLOCK_BYTES ? (size_t)left : ZERO_BLOCK_BYTES;
            iov[iov_count].iov_base = (void *)(uintptr_t)zero_block;
            iov[iov_count].iov_len = length;
            iov_count++;
            chunk += length;
        }
        if (file_write_full(log, segment->log_fd, iov, iov_count, position) != ETHER_OK) {
            break; /* best effort: the caller's own write reports a full disk */
        }
        position += chunk;
    }
    if (position > end) {
        log_mark_data_dirty(log, segment);
        segment->file_bytes = position;
    }
    /* size_bytes may already count the caller's pending frames: file_bytes catches up after. */
    ETHER_ASSERT(segment->file_bytes >= from);
}

int segment_trim(struct storage_log *log, struct storage_segment *segment)
{
    ETHER_ASSERT(segment->size_bytes <= segment->file_bytes);
    if (segment->file_bytes == segment->size_bytes) {
        return ETHER_OK;
    }
    int result = log->io->ftruncate(log->io->context, segment->log_fd, segment->size_bytes);
    if (result < 0) {
        return file_error(result);
    }
    segment->file_bytes = segment->size_bytes;
    log_mark_data_dirty(log, segment);
    ETHER_ASSERT(segment->file_bytes == segment->size_bytes);
    return ETHER_OK;
}

int segment_ensure_tail(struct storage_log *log, struct storage_segment *segment)
{
    if (segment->tail_known) {
        return ETHER_OK;
    }
    int result = load_points(log, segment);
    if (result != ETHER_OK) {
        return result;
    }
    const struct index_point *start =
        segment->points_count > 0 ? &segment->points[segment->points_count - 1] : NULL;
    uint64_t index = start != NULL ? start->index : segment->base_index;
    int64_t max_timestamp_ms = start != NULL ? start->max_timestamp_ms : INT64_MIN;
    struct frame_cursor cursor;
    cursor_init(&cursor, log, segment, start != NULL ? start->position : 0, segment->size_bytes);
    while (index <= segment->last_index) {
        struct frame_header header;
        const uint8_t *payload = NULL;
        result = cursor_next(&cursor, &header, &payload);
        if (result == ETHER_ERR_IO) {
            return result;
        }
        if (result != ETHER_OK || header.index != index) {
            return ETHER_ERR_CORRUPT;
        }
        if (header.max_timestamp_ms > max_timestamp_ms) {
            max_timestamp_ms = header.max_timestamp_ms;
        }
        index++;
    }
    segment->max_timestamp_ms = max_timestamp_ms;
    segment->tail_known = true;
    ETHER_ASSERT(index == segment->last_index + 1);
    return ETHER_OK;
}

int segment_locate(struct storage_log *log, struct storage_segment *segment, uint64_t index,
                   uint64_t *position)
{
    ETHER_ASSERT(index >= segment->base_index);
    ETHER_ASSERT(index <= segment->last_index);
    int result = load_points(log, segment);
    if (result != ETHER_OK) {
        return result;
    }
    const struct index_point *point = index_find_by_index(segment, index);
    uint64_t current = point != NULL ? point->index : segment->base_index;
    struct frame_cursor cursor;
    cursor_init(&cursor, log, segment, point != NULL ? point->position : 0, segment->size_bytes);
    while (current < index) {
        struct frame_header header;
        result = cursor_next(&cursor, &header, NULL);
        if (result == ETHER_ERR_IO) {
            return result;
        }
        if (result != ETHER_OK || header.index != current) {
            return ETHER_ERR_CORRUPT;
        }
        current++;
    }
    *position = cursor.position;
    return ETHER_OK;
}
