/*
 * read.c: reading entries into a caller's batch, term_at, and the lookups by
 * record offset and by timestamp.
 *
 * A read finds the first entry through the sparse index, then reads whole
 * runs of frames with one pread per segment straight into the caller's
 * buffer (no intermediate copy) and checks each frame's CRC there. Lookup
 * scans check CRCs too, so a damaged frame is ETHER_ERR_CORRUPT, never a
 * wrong answer.
 */
#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <string.h>

/* ---- reads ------------------------------------------------------------------------------- */

void storage_batch_init(struct storage_batch *batch)
{
    ETHER_ASSERT(batch != NULL);
    memset(batch, 0, sizeof *batch);
    ether_buf_init(&batch->bytes);
}

void storage_batch_free(struct storage_batch *batch)
{
    if (batch == NULL) {
        return;
    }
    ether_buf_free(&batch->bytes);
    ether_free(batch->entries);
    memset(batch, 0, sizeof *batch);
}

static int check_index(const struct storage_log *log, uint64_t index)
{
    if (index < log_first_index(log)) {
        return ETHER_ERR_BELOW_START;
    }
    if (index > log_last_index(log)) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    return ETHER_OK;
}

static void batch_push(struct storage_batch *batch, const struct frame_header *header)
{
    if (batch->entries_count == batch->entries_capacity) {
        size_t capacity = batch->entries_capacity < 16 ? 16 : batch->entries_capacity * 2;
        batch->entries = ether_realloc(batch->entries, capacity * sizeof *batch->entries);
        batch->entries_capacity = capacity;
    }
    struct storage_entry *entry = &batch->entries[batch->entries_count++];
    entry->index = header->index;
    entry->term = header->term;
    entry->base_offset = header->base_offset;
    entry->max_timestamp_ms = header->max_timestamp_ms;
    entry->record_count = header->record_count;
    entry->type = header->type;
    entry->payload = NULL; /* set once the buffer stops moving */
    entry->payload_bytes = header->payload_bytes;
}

/* Frames in batch->bytes are back to back; point every entry at its payload. */
static void batch_fix_payloads(struct storage_batch *batch)
{
    size_t position = 0;
    for (size_t i = 0; i < batch->entries_count; i++) {
        struct storage_entry *entry = &batch->entries[i];
        entry->payload = batch->bytes.data + position + STORAGE_FRAME_HEADER_BYTES;
        position += STORAGE_FRAME_HEADER_BYTES + (size_t)entry->payload_bytes;
    }
    ETHER_ASSERT(position == batch->bytes.length);
}

/*
 * Reads whole frames of one segment from `position` into the batch within the
 * budget. Sets *segment_done when the segment has no more entries to give.
 */
static int read_segment(struct storage_log *log, struct storage_segment *segment, uint64_t position,
                        uint64_t expected, uint64_t bytes_max, uint64_t *bytes_used,
                        struct storage_batch *batch, bool *segment_done)
{
    ETHER_ASSERT(expected >= segment->base_index);
    ETHER_ASSERT(position <= segment->size_bytes);
    *segment_done = false;
    while (expected <= segment->last_index) {
        uint64_t available = segment->size_bytes - position;
        uint64_t budget = bytes_max > *bytes_used ? bytes_max - *bytes_used : 0;
        if (batch->entries_count > 0 && budget < STORAGE_FRAME_HEADER_BYTES) {
            return ETHER_OK;
        }
        uint64_t want = budget < STORAGE_FRAME_HEADER_BYTES ? STORAGE_FRAME_HEADER_BYTES : budget;
        if (want > available) {
            want = available;
        }
        if (want < STORAGE_FRAME_HEADER_BYTES) {
            return ETHER_ERR_CORRUPT; /* an entry the index promised is missing */
        }
        size_t chunk_start = batch->bytes.length;
        uint8_t *chunk = ether_buf_extend(&batch->bytes, (size_t)want);
        size_t got = 0;
        int result = file_read(log, segment->log_fd, chunk, (size_t)want, position, &got);
        if (result != ETHER_OK) {
            return result;
        }
        if (got < want) {
            return ETHER_ERR_CORRUPT;
        }
        size_t parsed = chunk_start;
        bool stop = false;
        while (expected <= segment->last_index &&
               batch->bytes.length - parsed >= STORAGE_FRAME_HEADER_BYTES) {
            struct frame_header header;
            const uint8_t *frame = batch->bytes.data + parsed;
            result = frame_decode_header(frame, &header);
            if (result != ETHER_OK || header.index != expected) {
                return ETHER_ERR_CORRUPT;
            }
            size_t frame_bytes = STORAGE_FRAME_HEADER_BYTES + (size_t)header.payload_bytes;
            if (batch->entries_count > 0 && *bytes_used + frame_bytes > bytes_max) {
                stop = true;
                break;
            }
            if (frame_bytes > batch->bytes.length - parsed) {
                if (batch->entries_count > 0) {
                    stop = true;
                    break;
                }
                /* The first entry is returned whatever its size: read the rest of it. */
                if (position + (parsed - chunk_start) + frame_bytes > segment->size_bytes) {
                    return ETHER_ERR_CORRUPT;
                }
                size_t have = batch->bytes.length - parsed;
                uint8_t *rest = ether_buf_extend(&batch->bytes, frame_bytes - have);
                result = file_read(log, segment->log_fd, rest, frame_bytes - have,
                                   position + (parsed - chunk_start) + have, &got);
                if (result != ETHER_OK) {
                    return result;
                }
                if (got < frame_bytes - have) {
                    return ETHER_ERR_CORRUPT;
                }
                frame = batch->bytes.data + parsed;
            }
            if (frame_crc(frame, frame + STORAGE_FRAME_HEADER_BYTES, header.payload_bytes) !=
                header.crc) {
                return ETHER_ERR_CORRUPT;
            }
            batch_push(batch, &header);
            *bytes_used += frame_bytes;
            parsed += frame_bytes;
            expected++;
        }
        position += parsed - chunk_start;
        batch->bytes.length = parsed; /* drop a partial frame read past the budget */
        if (stop || parsed == chunk_start) {
            return ETHER_OK;
        }
    }
    *segment_done = true;
    return ETHER_OK;
}

int storage_read(struct storage_log *log, uint64_t index_first, uint64_t bytes_max,
                 struct storage_batch *batch)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (batch == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    ether_buf_clear(&batch->bytes);
    batch->entries_count = 0;
    result = check_index(log, index_first);
    if (result != ETHER_OK) {
        return result;
    }
    size_t segment_number = log_segment_for_index(log, index_first);
    uint64_t position = 0;
    result = segment_locate(log, &log->segments[segment_number], index_first, &position);
    if (result != ETHER_OK) {
        return result;
    }
    uint64_t bytes_used = 0;
    for (; segment_number < log->segments_count; segment_number++) {
        bool segment_done = false;
        uint64_t expected = index_first + batch->entries_count;
        result = read_segment(log, &log->segments[segment_number], position, expected, bytes_max,
                              &bytes_used, batch, &segment_done);
        if (result != ETHER_OK) {
            ether_buf_clear(&batch->bytes);
            batch->entries_count = 0;
            return result;
        }
        if (!segment_done) {
            break;
        }
        position = 0;
    }
    batch_fix_payloads(batch);
    ETHER_ASSERT(batch->entries_count > 0);
    ETHER_ASSERT(batch->entries[0].index == index_first);
    return ETHER_OK;
}

int storage_term_at(struct storage_log *log, uint64_t index, uint64_t *term)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (term == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    result = check_index(log, index);
    if (result != ETHER_OK) {
        return result;
    }
    if (index >= log->runs_first_index && log->runs_count > 0) {
        size_t low = 0;
        size_t high = log->runs_count;
        while (low < high) {
            size_t middle = low + (high - low) / 2;
            if (log->runs[middle].first_index <= index) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        ETHER_ASSERT(low > 0);
        *term = log->runs[low - 1].term;
        return ETHER_OK;
    }
    struct storage_segment *segment = &log->segments[log_segment_for_index(log, index)];
    uint64_t position = 0;
    result = segment_locate(log, segment, index, &position);
    if (result != ETHER_OK) {
        return result;
    }
    struct frame_cursor cursor;
    struct frame_header header;
    const uint8_t *payload = NULL;
    cursor_init(&cursor, log, segment, position, segment->size_bytes);
    result = cursor_next(&cursor, &header, &payload);
    if (result == ETHER_ERR_IO) {
        return result;
    }
    if (result != ETHER_OK || header.index != index) {
        return ETHER_ERR_CORRUPT;
    }
    *term = header.term;
    return ETHER_OK;
}

int storage_find_offset(struct storage_log *log, uint64_t offset, uint64_t *index)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (index == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (offset < log->segments[0].base_offset) {
        return ETHER_ERR_BELOW_START;
    }
    if (offset >= log_active(log)->next_offset) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    /* The last segment whose base_offset <= offset holds it (empty-record segments too). */
    size_t low = 0;
    size_t high = log->segments_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (log->segments[middle].base_offset <= offset) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    ETHER_ASSERT(low > 0);
    struct storage_segment *segment = &log->segments[low - 1];
    if (!segment->points_loaded) {
        uint64_t valid_bytes = 0;
        result = index_load(log, segment, &valid_bytes);
        if (result != ETHER_OK) {
            return result;
        }
    }
    const struct index_point *point = index_find_by_offset(segment, offset);
    struct frame_cursor cursor;
    cursor_init(&cursor, log, segment, point != NULL ? point->position : 0, segment->size_bytes);
    uint64_t expected = point != NULL ? point->index : segment->base_index;
    for (; expected <= segment->last_index; expected++) {
        struct frame_header header;
        const uint8_t *payload = NULL;
        result = cursor_next(&cursor, &header, &payload);
        if (result == ETHER_ERR_IO) {
            return result;
        }
        if (result != ETHER_OK || header.index != expected) {
            return ETHER_ERR_CORRUPT;
        }
        if (header.base_offset <= offset && offset - header.base_offset < header.record_count) {
            *index = header.index;
            return ETHER_OK;
        }
    }
    return ETHER_ERR_CORRUPT; /* the segment's offsets promised this record */
}

int storage_find_timestamp(struct storage_log *log, int64_t timestamp_ms, uint64_t *index)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (index == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < log->segments_count; i++) {
        struct storage_segment *segment = &log->segments[i];
        if (segment->last_index < segment->base_index) {
            continue;
        }
        result = segment_ensure_tail(log, segment);
        if (result != ETHER_OK) {
            return result;
        }
        if (segment->max_timestamp_ms < timestamp_ms) {
            continue;
        }
        const struct index_point *point = index_find_before_timestamp(segment, timestamp_ms);
        struct frame_cursor cursor;
        cursor_init(&cursor, log, segment, point != NULL ? point->position : 0,
                    segment->size_bytes);
        uint64_t expected = point != NULL ? point->index : segment->base_index;
        for (; expected <= segment->last_index; expected++) {
            struct frame_header header;
            const uint8_t *payload = NULL;
            result = cursor_next(&cursor, &header, &payload);
            if (result == ETHER_ERR_IO) {
                return result;
            }
            if (result != ETHER_OK || header.index != expected) {
                return ETHER_ERR_CORRUPT;
            }
            if (header.max_timestamp_ms >= timestamp_ms) {
                *index = header.index;
                return ETHER_OK;
            }
        }
        return ETHER_ERR_CORRUPT; /* the segment's newest timestamp promised one */
    }
    return ETHER_ERR_NOT_FOUND;
}
