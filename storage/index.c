/*
 * index.c: the sparse index of a segment, held in memory once loaded.
 *
 * A point is made for an entry that starts at least index_interval_bytes
 * after the previous point (or the segment start), so finding an entry is a
 * binary search over the points and then a scan of at most about
 * index_interval_bytes plus one frame. Points read from disk are checked
 * (CRC, order, bounds); the first bad one and everything after it are
 * ignored, which only makes lookups scan longer, never wrong.
 */
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

static bool point_follows(const struct storage_segment *segment, const struct index_point *previous,
                          const struct index_point *point)
{
    if (point->index < segment->base_index || point->position >= segment->size_bytes ||
        point->base_offset < segment->base_offset) {
        return false;
    }
    if (previous == NULL) {
        return point->index > segment->base_index && point->position > 0;
    }
    return point->index > previous->index && point->position > previous->position &&
           point->base_offset >= previous->base_offset &&
           point->max_timestamp_ms >= previous->max_timestamp_ms;
}

int index_load(struct storage_log *log, struct storage_segment *segment, uint64_t *valid_bytes)
{
    ETHER_ASSERT(segment->index_fd >= 0);
    ETHER_ASSERT(!segment->points_loaded);
    uint64_t file_bytes = 0;
    int result = log->io->file_size(log->io->context, segment->index_fd, &file_bytes);
    if (result < 0) {
        return file_error(result);
    }
    size_t count = 0;
    if (file_bytes > STORAGE_INDEX_HEADER_BYTES) {
        uint64_t points_bytes = file_bytes - STORAGE_INDEX_HEADER_BYTES;
        count = (size_t)(points_bytes / STORAGE_INDEX_POINT_BYTES);
    }
    segment->points_count = 0;
    if (count > 0) {
        size_t bytes = count * STORAGE_INDEX_POINT_BYTES;
        ether_buf_clear(&log->scratch);
        uint8_t *raw = ether_buf_extend(&log->scratch, bytes);
        size_t got = 0;
        result = file_read(log, segment->index_fd, raw, bytes, STORAGE_INDEX_HEADER_BYTES, &got);
        if (result != ETHER_OK) {
            return result;
        }
        count = got / STORAGE_INDEX_POINT_BYTES;
        for (size_t i = 0; i < count; i++) {
            struct index_point point;
            const struct index_point *previous =
                segment->points_count > 0 ? &segment->points[segment->points_count - 1] : NULL;
            if (index_decode_point(raw + i * STORAGE_INDEX_POINT_BYTES, &point) != ETHER_OK ||
                !point_follows(segment, previous, &point)) {
                ether_log_warn(log->logger,
                               "storage: %s: index of segment %llu has a bad point at %zu of "
                               "%zu; ignoring it and the rest",
                               log->dir_path, (unsigned long long)segment->base_index, i, count);
                break;
            }
            index_push(segment, &point);
        }
    }
    segment->points_loaded = true;
    segment->last_point_position =
        segment->points_count > 0 ? segment->points[segment->points_count - 1].position : 0;
    *valid_bytes = index_file_bytes(segment->points_count);
    ETHER_ASSERT(*valid_bytes <= file_bytes || segment->points_count == 0);
    return ETHER_OK;
}

void index_push(struct storage_segment *segment, const struct index_point *point)
{
    ETHER_ASSERT(segment->points_count == 0 ||
                 segment->points[segment->points_count - 1].index < point->index);
    if (segment->points_count == segment->points_capacity) {
        size_t capacity = segment->points_capacity < 16 ? 16 : segment->points_capacity * 2;
        segment->points = ether_realloc(segment->points, capacity * sizeof *segment->points);
        segment->points_capacity = capacity;
    }
    segment->points[segment->points_count++] = *point;
    segment->last_point_position = point->position;
    ETHER_ASSERT(segment->points_count <= segment->points_capacity);
}

typedef bool point_before_fn(const struct index_point *point, const void *key);

/* Number of leading points for which `before(point, key)` holds (they form a prefix). */
static size_t points_prefix_length(const struct storage_segment *segment, point_before_fn *before,
                                   const void *key)
{
    ETHER_ASSERT(segment->points_loaded);
    size_t low = 0;
    size_t high = segment->points_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (before(&segment->points[middle], key)) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    ETHER_ASSERT(low <= segment->points_count);
    return low;
}

static bool index_at_most(const struct index_point *point, const void *key)
{
    return point->index <= *(const uint64_t *)key;
}

static bool offset_at_most(const struct index_point *point, const void *key)
{
    return point->base_offset <= *(const uint64_t *)key;
}

static bool timestamp_below(const struct index_point *point, const void *key)
{
    return point->max_timestamp_ms < *(const int64_t *)key;
}

static const struct index_point *last_of_prefix(const struct storage_segment *segment,
                                                size_t prefix_length)
{
    return prefix_length > 0 ? &segment->points[prefix_length - 1] : NULL;
}

const struct index_point *index_find_by_index(const struct storage_segment *segment, uint64_t index)
{
    return last_of_prefix(segment, points_prefix_length(segment, index_at_most, &index));
}

const struct index_point *index_find_by_offset(const struct storage_segment *segment,
                                               uint64_t offset)
{
    return last_of_prefix(segment, points_prefix_length(segment, offset_at_most, &offset));
}

const struct index_point *index_find_before_timestamp(const struct storage_segment *segment,
                                                      int64_t timestamp_ms)
{
    return last_of_prefix(segment, points_prefix_length(segment, timestamp_below, &timestamp_ms));
}

bool index_wants_point(const struct storage_log *log, const struct storage_segment *segment,
                       uint64_t position)
{
    ETHER_ASSERT(position >= segment->last_point_position);
    ETHER_ASSERT(log->options.index_interval_bytes > 0);
    return position - segment->last_point_position >= log->options.index_interval_bytes;
}
