/*
 * truncate.c: removing entries: the suffix after a Raft conflict, whole
 * segments at the front (prefix removal and retention), and everything
 * (reset after a snapshot install).
 *
 * Crash safety comes from the order of removals: the suffix is removed from
 * the highest segment down and the prefix from the lowest up, each data file
 * before its index file, so a crash at any point leaves a contiguous run of
 * segments (an index without its data file is deleted on open). Every one of
 * these calls syncs the directory and the files it cut before it returns.
 */
#include "common/error.h"
#include "common/log.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <inttypes.h>
#include <string.h>

/* Marks the log untrusted after a half-done removal: memory and disk may now disagree. */
static int give_up(struct storage_log *log, int result, const char *what)
{
    ETHER_ASSERT(result != ETHER_OK);
    log->untrusted = true;
    ether_log_error(log->logger, "storage: %s: %s failed (%s); log untrusted", log->dir_path, what,
                    ether_error_name(result));
    return ETHER_ERR_LOG_UNTRUSTED;
}

/* Removes the segments [0, count) from the front, lowest first. */
static int remove_front_segments(struct storage_log *log, size_t count)
{
    ETHER_ASSERT(count < log->segments_count);
    if (count == 0) {
        return ETHER_OK;
    }
    for (size_t i = 0; i < count; i++) {
        int result = segment_remove(log, &log->segments[i]);
        segment_free(&log->segments[i]);
        if (result != ETHER_OK) {
            memmove(log->segments, log->segments + i + 1,
                    (log->segments_count - i - 1) * sizeof *log->segments);
            log->segments_count -= i + 1;
            return give_up(log, result, "removing a segment");
        }
    }
    memmove(log->segments, log->segments + count,
            (log->segments_count - count) * sizeof *log->segments);
    log->segments_count -= count;
    ETHER_ASSERT(log->segments_count > 0);
    return file_sync_dir(log);
}

int storage_truncate_suffix(struct storage_log *log, uint64_t index_last_kept)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (index_last_kept >= log_last_index(log)) {
        return ETHER_OK;
    }
    if (index_last_kept + 1 < log_first_index(log)) {
        return ETHER_ERR_BELOW_START;
    }
    uint64_t cut_index = index_last_kept + 1;
    log_tickets_cut(log, index_last_kept);
    size_t holder = log_segment_for_index(log, cut_index);
    /* A segment that would be left empty goes too, unless it is the only one. */
    size_t remove_from = holder + 1;
    if (log->segments[holder].base_index == cut_index && holder > 0) {
        remove_from = holder;
    }
    bool removed = false;
    while (log->segments_count > remove_from) {
        struct storage_segment *segment = log_active(log);
        result = segment_remove(log, segment);
        segment_free(segment);
        log->segments_count--;
        removed = true;
        if (result != ETHER_OK) {
            return give_up(log, result, "removing a segment of the suffix");
        }
    }
    if (removed) {
        result = file_sync_dir(log);
        if (result != ETHER_OK) {
            return result;
        }
    }

    struct storage_segment *segment = log_active(log);
    if (segment->last_index >= cut_index) {
        uint64_t position = 0;
        result = segment_locate(log, segment, cut_index, &position);
        if (result != ETHER_OK) {
            return result; /* nothing cut yet in this segment: the log is still consistent */
        }
        result = log->io->ftruncate(log->io->context, segment->log_fd, position);
        if (result < 0) {
            return give_up(log, file_error(result), "cutting a segment");
        }
        segment->size_bytes = position;
        segment->file_bytes = position;
        while (segment->points_count > 0 &&
               segment->points[segment->points_count - 1].index >= cut_index) {
            segment->points_count--;
        }
        result = segment_write_points(log, segment, segment->points_count);
        if (result != ETHER_OK) {
            return give_up(log, result, "cutting an index");
        }
    }
    /* Recompute the tail: last index, next offset, newest timestamp, term runs. */
    uint64_t stop_position = 0;
    int stop_reason = ETHER_OK;
    size_t points_verified_count = 0;
    result = segment_scan_tail(log, segment, segment->size_bytes, &stop_position, &stop_reason,
                               &points_verified_count);
    if (result != ETHER_OK) {
        return give_up(log, result, "rescanning the tail");
    }
    if (stop_position != segment->size_bytes || segment->last_index != index_last_kept) {
        return give_up(log, ETHER_ERR_CORRUPT, "rescanning the tail");
    }
    if (points_verified_count != segment->points_count) {
        result = segment_write_points(log, segment, points_verified_count);
        if (result != ETHER_OK) {
            return give_up(log, result, "rewriting an index");
        }
    }
    result = file_sync(log, segment->log_fd, "truncated segment");
    if (result != ETHER_OK) {
        return result;
    }
    result = file_sync(log, segment->index_fd, "truncated index");
    if (result != ETHER_OK) {
        return result;
    }
    segment->log_dirty = false;
    segment->index_dirty = false;
    segment->index_lag_bytes = 0;
    ETHER_ASSERT(log_last_index(log) == index_last_kept);
    ETHER_ASSERT(segment->tail_known);
    return ETHER_OK;
}

int storage_remove_prefix(struct storage_log *log, uint64_t index_first_kept)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    size_t count = 0;
    while (count + 1 < log->segments_count &&
           log->segments[count + 1].base_index <= index_first_kept) {
        count++;
    }
    result = remove_front_segments(log, count);
    ETHER_ASSERT(log->segments_count > 0);
    ETHER_ASSERT(result != ETHER_OK || count == 0 || log_first_index(log) <= index_first_kept);
    return result;
}

int storage_apply_retention(struct storage_log *log, const struct storage_retention *retention,
                            int64_t now_ms, uint64_t index_limit, uint64_t *segments_removed_count)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (retention == NULL || retention->retention_ms < 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    uint64_t total_bytes = 0;
    for (size_t i = 0; i < log->segments_count; i++) {
        total_bytes += log->segments[i].size_bytes;
    }
    /* Segments whose newest timestamp is below this are old enough to go. */
    int64_t oldest_kept_ms = INT64_MIN;
    if (retention->retention_ms > 0 && now_ms > INT64_MIN + retention->retention_ms) {
        oldest_kept_ms = now_ms - retention->retention_ms;
    }
    size_t count = 0;
    while (count + 1 < log->segments_count && log->segments[count].last_index < index_limit) {
        struct storage_segment *segment = &log->segments[count];
        /* By size, like Kafka: remove a segment only if what is left still meets the limit. */
        bool too_big = retention->retention_bytes > 0 &&
                       total_bytes - segment->size_bytes >= retention->retention_bytes;
        bool too_old = false;
        if (!too_big && retention->retention_ms > 0) {
            result = segment_ensure_tail(log, segment);
            if (result != ETHER_OK) {
                return result;
            }
            too_old = segment->max_timestamp_ms < oldest_kept_ms;
        }
        if (!too_big && !too_old) {
            break;
        }
        total_bytes -= segment->size_bytes;
        count++;
    }
    result = remove_front_segments(log, count);
    if (result == ETHER_OK && segments_removed_count != NULL) {
        *segments_removed_count = count;
    }
    ETHER_ASSERT(log->segments_count > 0);
    return result;
}

int storage_reset(struct storage_log *log, uint64_t next_index, uint64_t next_offset)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (next_index == 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    log_tickets_cut(log, next_index - 1);
    /* Lowest first: a crash leaves a suffix of the old log, or nothing. */
    for (size_t i = 0; i < log->segments_count; i++) {
        result = segment_remove(log, &log->segments[i]);
        if (result != ETHER_OK) {
            for (size_t j = i; j < log->segments_count; j++) {
                segment_close(log, &log->segments[j]);
            }
            for (size_t j = 0; j < log->segments_count; j++) {
                segment_free(&log->segments[j]);
            }
            log->segments_count = 0;
            return give_up(log, result, "removing a segment for reset");
        }
        segment_free(&log->segments[i]);
    }
    log->segments_count = 0;
    result = file_sync_dir(log);
    if (result != ETHER_OK) {
        return result;
    }
    struct storage_segment segment;
    segment_init(&segment, next_index, next_offset);
    result = segment_create(log, &segment);
    if (result != ETHER_OK) {
        /* With no segment there is no log to serve until it is reopened. */
        return give_up(log, result, "creating the segment of a reset");
    }
    log_push_segment(log, &segment);
    log_runs_reset(log, next_index);
    ETHER_ASSERT(log_first_index(log) == next_index);
    ETHER_ASSERT(log_last_index(log) + 1 == next_index);
    ether_log_info(log->logger, "storage: %s: reset to index %" PRIu64 ", offset %" PRIu64,
                   log->dir_path, next_index, next_offset);
    return ETHER_OK;
}
