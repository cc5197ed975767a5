/*
 * log.c: opening and recovering a log, appending, syncing and reading.
 *
 * Happy path of an append: frames are gathered as iovecs (header on the
 * side, payload from the caller: no copy) and written with pwritev at the end
 * of the last segment; the points they earn are written to its index file.
 * When the next frame would overflow segment_bytes_max the segment is synced
 * and sealed and a new one is created.
 *
 * Failure modes of an append: a failed or short write (ENOSPC, EIO) rolls the
 * log back to where it was before the call: segments created by the call are
 * removed, the previous last segment and its index are cut back to their old
 * sizes. If even the rollback fails, the log is untrusted.
 */
#include "common/log.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(APPEND_ENTRIES_PER_WRITE * 2 <= 1024, "one pwritev stays below IOV_MAX");

void storage_options_init(struct storage_options *options)
{
    ETHER_ASSERT(options != NULL);
    memset(options, 0, sizeof *options);
    options->io = NULL;
    options->logger = NULL;
    options->segment_bytes_max = 128u * 1024 * 1024;
    options->index_interval_bytes = 4096;
    options->index_sync_lag_bytes_max = 1024u * 1024;
    options->payload_bytes_max = 16u * 1024 * 1024;
}

/* ---- small shared helpers ---------------------------------------------------------------- */

struct storage_segment *log_active(struct storage_log *log)
{
    ETHER_ASSERT(log->segments_count > 0);
    return &log->segments[log->segments_count - 1];
}

uint64_t log_first_index(const struct storage_log *log)
{
    ETHER_ASSERT(log->segments_count > 0);
    return log->segments[0].base_index;
}

uint64_t log_last_index(const struct storage_log *log)
{
    ETHER_ASSERT(log->segments_count > 0);
    return log->segments[log->segments_count - 1].last_index;
}

/* The segment whose base_index is the largest <= index (index >= first_index). */
size_t log_segment_for_index(const struct storage_log *log, uint64_t index)
{
    ETHER_ASSERT(index >= log_first_index(log));
    size_t low = 0;
    size_t high = log->segments_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (log->segments[middle].base_index <= index) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    ETHER_ASSERT(low > 0);
    return low - 1;
}

void log_runs_reset(struct storage_log *log, uint64_t first_index)
{
    ETHER_ASSERT(first_index > 0);
    log->runs_count = 0;
    log->runs_first_index = first_index;
}

void log_runs_push(struct storage_log *log, uint64_t index, uint64_t term)
{
    ETHER_ASSERT(index >= log->runs_first_index);
    if (log->runs_count > 0) {
        const struct term_run *last = &log->runs[log->runs_count - 1];
        ETHER_ASSERT(term >= last->term);
        ETHER_ASSERT(index > last->first_index);
        if (last->term == term) {
            return;
        }
    }
    if (log->runs_count == log->runs_capacity) {
        size_t capacity = log->runs_capacity < 8 ? 8 : log->runs_capacity * 2;
        log->runs = ether_realloc(log->runs, capacity * sizeof *log->runs);
        log->runs_capacity = capacity;
    }
    log->runs[log->runs_count].first_index = index;
    log->runs[log->runs_count].term = term;
    log->runs_count++;
}

int log_check_usable(const struct storage_log *log)
{
    if (log == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return log->untrusted ? ETHER_ERR_LOG_UNTRUSTED : ETHER_OK;
}

static void push_segment(struct storage_log *log, const struct storage_segment *segment)
{
    if (log->segments_count == log->segments_capacity) {
        size_t capacity = log->segments_capacity < 8 ? 8 : log->segments_capacity * 2;
        log->segments = ether_realloc(log->segments, capacity * sizeof *log->segments);
        log->segments_capacity = capacity;
    }
    log->segments[log->segments_count++] = *segment;
    ETHER_ASSERT(log->segments_count <= log->segments_capacity);
}

/* ---- open and recovery ------------------------------------------------------------------- */

/* What the directory listing found. */
struct dir_listing {
    uint64_t *log_bases;
    size_t log_bases_count;
    size_t log_bases_capacity;
    uint64_t *index_bases;
    size_t index_bases_count;
    size_t index_bases_capacity;
    char **temp_names;
    size_t temp_names_count;
    size_t temp_names_capacity;
};

static void listing_free(struct dir_listing *listing)
{
    ether_free(listing->log_bases);
    ether_free(listing->index_bases);
    for (size_t i = 0; i < listing->temp_names_count; i++) {
        ether_free(listing->temp_names[i]);
    }
    ether_free(listing->temp_names);
}

static void push_u64(uint64_t **array, size_t *count, size_t *capacity, uint64_t value)
{
    if (*count == *capacity) {
        *capacity = *capacity < 16 ? 16 : *capacity * 2;
        *array = ether_realloc(*array, *capacity * sizeof **array);
    }
    (*array)[(*count)++] = value;
}

/* Parses "<20 digits><suffix>"; returns 1 and the number on a match. */
static int parse_numbered_name(const char *name, const char *suffix, uint64_t *number)
{
    size_t length = strlen(name);
    size_t suffix_length = strlen(suffix);
    if (length != 20 + suffix_length || strcmp(name + 20, suffix) != 0) {
        return 0;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return 0;
        }
        uint64_t digit = (uint64_t)(name[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return 0;
        }
        value = value * 10 + digit;
    }
    *number = value;
    return 1;
}

static int visit_name(void *context, const char *name)
{
    struct dir_listing *listing = context;
    uint64_t number = 0;
    size_t length = strlen(name);
    if (parse_numbered_name(name, ".log", &number) && number > 0) {
        push_u64(&listing->log_bases, &listing->log_bases_count, &listing->log_bases_capacity,
                 number);
    } else if (parse_numbered_name(name, ".index", &number) && number > 0) {
        push_u64(&listing->index_bases, &listing->index_bases_count, &listing->index_bases_capacity,
                 number);
    } else if (length > 4 && strcmp(name + length - 4, ".tmp") == 0) {
        if (listing->temp_names_count == listing->temp_names_capacity) {
            listing->temp_names_capacity =
                listing->temp_names_capacity < 8 ? 8 : listing->temp_names_capacity * 2;
            listing->temp_names = ether_realloc(
                listing->temp_names, listing->temp_names_capacity * sizeof *listing->temp_names);
        }
        listing->temp_names[listing->temp_names_count++] = ether_strdup(name);
    }
    return 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static bool contains_u64(const uint64_t *array, size_t count, uint64_t value)
{
    for (size_t i = 0; i < count; i++) {
        if (array[i] == value) {
            return true;
        }
    }
    return false;
}

/* Removes leftovers of interrupted work: temp files and index files without data files. */
static int remove_leftovers(struct storage_log *log, const struct dir_listing *listing)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < listing->temp_names_count; i++) {
        file_path_name(log, path, sizeof path, listing->temp_names[i]);
        int result = log->io->unlink(log->io->context, path);
        if (result < 0 && result != -ENOENT) {
            return file_error(result);
        }
        log->dir_dirty = true;
    }
    for (size_t i = 0; i < listing->index_bases_count; i++) {
        uint64_t base = listing->index_bases[i];
        if (contains_u64(listing->log_bases, listing->log_bases_count, base)) {
            continue;
        }
        file_path(log, path, sizeof path, base, ".index");
        ether_log_warn(log->logger, "storage: removing orphan index file %s", path);
        int result = log->io->unlink(log->io->context, path);
        if (result < 0 && result != -ENOENT) {
            return file_error(result);
        }
        log->dir_dirty = true;
    }
    return log->dir_dirty ? file_sync_dir(log) : ETHER_OK;
}

static int open_segments(struct storage_log *log, const struct dir_listing *listing, char *errbuf,
                         size_t errbuf_size)
{
    for (size_t i = 0; i < listing->log_bases_count; i++) {
        struct storage_segment segment;
        segment_init(&segment, listing->log_bases[i], 0);
        int result = segment_open(log, &segment, errbuf, errbuf_size);
        bool is_last = i + 1 == listing->log_bases_count;
        if (result == ETHER_ERR_CORRUPT && is_last && i > 0 && segment.size_bytes == 0) {
            /* A roll interrupted before its index header was durable: nothing was in it. */
            ether_log_warn(log->logger,
                           "storage: %s: removing empty segment %" PRIu64
                           " whose index header is missing",
                           log->dir_path, segment.base_index);
            result = segment_remove(log, &segment);
            segment_free(&segment);
            if (result != ETHER_OK) {
                snprintf(errbuf, errbuf_size, "cannot remove empty segment: %s",
                         ether_strerror(result));
                return result;
            }
            result = file_sync_dir(log);
            if (result != ETHER_OK) {
                return result;
            }
            break;
        }
        if (result != ETHER_OK) {
            segment_close(log, &segment);
            segment_free(&segment);
            return result;
        }
        push_segment(log, &segment);
    }
    /* Sealed segments end right before their successor. */
    for (size_t i = 0; i + 1 < log->segments_count; i++) {
        struct storage_segment *segment = &log->segments[i];
        const struct storage_segment *next = &log->segments[i + 1];
        if (next->base_offset < segment->base_offset || segment->size_bytes == 0) {
            snprintf(errbuf, errbuf_size,
                     "segment %" PRIu64 " is empty or its successor's base offset %" PRIu64
                     " is below its own %" PRIu64,
                     segment->base_index, next->base_offset, segment->base_offset);
            return ETHER_ERR_CORRUPT;
        }
        segment->last_index = next->base_index - 1;
        segment->next_offset = next->base_offset;
        segment->tail_known = false;
    }
    return ETHER_OK;
}

/* Scans the last segment from its last good point and cuts a bad tail. */
static int recover_tail(struct storage_log *log, char *errbuf, size_t errbuf_size)
{
    struct storage_segment *segment = log_active(log);
    char path[PATH_MAX];
    file_path(log, path, sizeof path, segment->base_index, ".log");
    uint64_t index_valid_bytes = 0;
    int result = index_load(log, segment, &index_valid_bytes);
    if (result != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "cannot read index of %s: %s", path, ether_strerror(result));
        return result;
    }
    size_t points_loaded_count = segment->points_count;
    uint64_t stop_position = 0;
    int stop_reason = ETHER_OK;
    result = segment_scan_tail(log, segment, segment->size_bytes, &stop_position, &stop_reason);
    if (result != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "cannot scan %s: %s", path, ether_strerror(result));
        return result;
    }
    size_t points_kept_count = points_loaded_count;
    if (points_kept_count > segment->points_count) {
        points_kept_count = segment->points_count;
    }
    /* Points the scan dropped then re-added are rewritten too: find the first that changed. */
    bool changed = false;
    if (stop_position < segment->size_bytes) {
        uint64_t cut_bytes = segment->size_bytes - stop_position;
        ether_log_warn(log->logger,
                       "storage: %s: cut %" PRIu64 " bytes at position %" PRIu64
                       " (first bad frame: %s)",
                       path, cut_bytes, stop_position, ether_error_name(stop_reason));
        result = log->io->ftruncate(log->io->context, segment->log_fd, stop_position);
        if (result < 0) {
            snprintf(errbuf, errbuf_size, "cannot cut %s: %s", path, strerror(-result));
            return file_error(result);
        }
        segment->size_bytes = stop_position;
        changed = true;
    }
    uint64_t index_file_size = 0;
    result = log->io->file_size(log->io->context, segment->index_fd, &index_file_size);
    if (result < 0) {
        return file_error(result);
    }
    if (index_file_size != index_file_bytes(segment->points_count) ||
        index_valid_bytes != index_file_bytes(points_loaded_count)) {
        size_t first = points_kept_count;
        if (index_valid_bytes != index_file_bytes(points_loaded_count)) {
            first = 0;
        }
        result = segment_write_points(log, segment, first);
        if (result != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "cannot rewrite index of %s: %s", path,
                     ether_strerror(result));
            return result;
        }
        changed = true;
    }
    if (changed) {
        result = file_sync(log, segment->log_fd, path);
        if (result == ETHER_OK) {
            result = file_sync(log, segment->index_fd, "index");
        }
        if (result != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "cannot sync recovered %s", path);
            return result;
        }
        segment->index_dirty = false;
    }
    ETHER_ASSERT(segment->points_loaded);
    ETHER_ASSERT(segment->tail_known);
    return ETHER_OK;
}

static int check_options(const struct storage_options *options, char *errbuf, size_t errbuf_size)
{
    if (options->segment_bytes_max < STORAGE_FRAME_HEADER_BYTES ||
        options->segment_bytes_max > UINT32_MAX) {
        snprintf(errbuf, errbuf_size, "segment_bytes_max must be in [%d, %" PRIu32 "]",
                 STORAGE_FRAME_HEADER_BYTES, UINT32_MAX);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (options->index_interval_bytes == 0) {
        snprintf(errbuf, errbuf_size, "index_interval_bytes must be > 0");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (options->payload_bytes_max == 0 ||
        options->payload_bytes_max > STORAGE_PAYLOAD_BYTES_LIMIT) {
        snprintf(errbuf, errbuf_size, "payload_bytes_max must be in [1, %" PRIu32 "]",
                 STORAGE_PAYLOAD_BYTES_LIMIT);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return ETHER_OK;
}

int storage_open(const char *dir_path, const struct storage_options *options,
                 struct storage_log **log_out, char *errbuf, size_t errbuf_size)
{
    char empty_errbuf[1];
    if (errbuf == NULL || errbuf_size == 0) {
        errbuf = empty_errbuf;
        errbuf_size = sizeof empty_errbuf;
    }
    errbuf[0] = '\0';
    if (dir_path == NULL || options == NULL || log_out == NULL) {
        snprintf(errbuf, errbuf_size, "dir_path, options and log_out are required");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (strlen(dir_path) + NAME_BYTES_MAX >= PATH_MAX) {
        snprintf(errbuf, errbuf_size, "directory path is too long");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    int result = check_options(options, errbuf, errbuf_size);
    if (result != ETHER_OK) {
        return result;
    }

    struct storage_log *log = ether_calloc(1, sizeof *log);
    log->dir_path = ether_strdup(dir_path);
    log->options = *options;
    log->io = options->io != NULL ? options->io : storage_io_posix();
    log->logger = options->logger;
    log->lock_fd = -1;
    log->append_headers = ether_malloc(APPEND_ENTRIES_PER_WRITE * STORAGE_FRAME_HEADER_BYTES);
    ether_buf_init(&log->scratch);
    struct dir_listing listing;
    memset(&listing, 0, sizeof listing);

    result = log->io->mkdir(log->io->context, dir_path);
    if (result < 0 && result != -EEXIST) {
        snprintf(errbuf, errbuf_size, "cannot create directory %s: %s", dir_path,
                 strerror(-result));
        result = file_error(result);
        goto err_after_alloc;
    }
    char path[PATH_MAX];
    file_path_name(log, path, sizeof path, "LOCK");
    int fd = log->io->open(log->io->context, path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "cannot open %s: %s", path, strerror(-fd));
        result = file_error(fd);
        goto err_after_alloc;
    }
    log->lock_fd = fd;
    result = log->io->lock(log->io->context, fd);
    if (result < 0) {
        if (result == -EWOULDBLOCK) {
            snprintf(errbuf, errbuf_size, "%s is locked: the log is open in another process",
                     dir_path);
            result = ETHER_ERR_LOCKED;
        } else {
            snprintf(errbuf, errbuf_size, "cannot lock %s: %s", path, strerror(-result));
            result = file_error(result);
        }
        goto err_after_alloc;
    }

    result = log->io->list_dir(log->io->context, dir_path, visit_name, &listing);
    if (result < 0) {
        snprintf(errbuf, errbuf_size, "cannot list %s: %s", dir_path, strerror(-result));
        result = file_error(result);
        goto err_after_listing;
    }
    if (listing.log_bases_count > 1) {
        qsort(listing.log_bases, listing.log_bases_count, sizeof *listing.log_bases, compare_u64);
    }
    result = remove_leftovers(log, &listing);
    if (result != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "cannot remove leftover files in %s: %s", dir_path,
                 ether_strerror(result));
        goto err_after_listing;
    }
    result = open_segments(log, &listing, errbuf, errbuf_size);
    if (result != ETHER_OK) {
        goto err_after_listing;
    }
    if (log->segments_count == 0) {
        struct storage_segment segment;
        segment_init(&segment, 1, 0);
        result = segment_create(log, &segment);
        if (result != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "cannot create the first segment in %s: %s", dir_path,
                     ether_strerror(result));
            goto err_after_listing;
        }
        push_segment(log, &segment);
        log_runs_reset(log, 1);
    } else {
        result = recover_tail(log, errbuf, errbuf_size);
        if (result != ETHER_OK) {
            goto err_after_listing;
        }
    }
    listing_free(&listing);
    ETHER_ASSERT(log->segments_count > 0);
    ETHER_ASSERT(!log->untrusted);
    *log_out = log;
    return ETHER_OK;

err_after_listing:
    listing_free(&listing);
err_after_alloc:
    storage_close(log);
    return result;
}

void storage_close(struct storage_log *log)
{
    if (log == NULL) {
        return;
    }
    for (size_t i = 0; i < log->segments_count; i++) {
        segment_close(log, &log->segments[i]);
        segment_free(&log->segments[i]);
    }
    if (log->lock_fd >= 0) {
        /* Closing the descriptor releases the flock. */
        log->io->close(log->io->context, log->lock_fd);
    }
    ether_free(log->segments);
    ether_free(log->runs);
    ether_free(log->append_headers);
    ether_buf_free(&log->scratch);
    ether_free(log->dir_path);
    ether_free(log);
}

int storage_get_bounds(struct storage_log *log, struct storage_bounds *bounds)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    if (bounds == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    bounds->first_index = log_first_index(log);
    bounds->last_index = log_last_index(log);
    bounds->first_offset = log->segments[0].base_offset;
    bounds->next_offset = log_active(log)->next_offset;
    bounds->size_bytes = 0;
    for (size_t i = 0; i < log->segments_count; i++) {
        bounds->size_bytes += log->segments[i].size_bytes;
    }
    bounds->segments_count = log->segments_count;
    ETHER_ASSERT(bounds->last_index + 1 >= bounds->first_index);
    ETHER_ASSERT(bounds->next_offset >= bounds->first_offset);
    return ETHER_OK;
}

/* ---- append ------------------------------------------------------------------------------ */

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
    failed |= log->io->ftruncate(log->io->context, active->log_fd, mark->active.size_bytes) < 0;
    failed |= log->io->ftruncate(log->io->context, active->index_fd,
                                 index_file_bytes(mark->active.points_count)) < 0;
    active->size_bytes = mark->active.size_bytes;
    active->points_count = mark->active.points_count;
    active->last_point_position = mark->active.last_point_position;
    active->last_index = mark->active.last_index;
    active->next_offset = mark->active.next_offset;
    active->max_timestamp_ms = mark->active.max_timestamp_ms;
    active->log_dirty = mark->active.log_dirty;
    active->index_dirty = mark->active.index_dirty;
    active->index_lag_bytes = mark->active.index_lag_bytes;
    log->runs_count = mark->runs_count;
    if (failed) {
        log->untrusted = true;
        ether_log_error(log->logger, "storage: %s: cannot undo a failed append; log untrusted",
                        log->dir_path);
    }
}

/* Seals the last segment (synced) and starts a new one after it. */
static int roll(struct storage_log *log)
{
    struct storage_segment *old = log_active(log);
    ETHER_ASSERT(old->size_bytes > 0);
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
    push_segment(log, &segment);
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
        int result = file_write_full(log, segment->log_fd, iov, iov_count, position);
        if (result != ETHER_OK) {
            return result;
        }
        segment->log_dirty = true;
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
        segment->index_dirty = true;
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
    return ETHER_OK;

err_after_write:
    if (!log->untrusted) {
        append_rollback(log, &mark);
    }
    return log->untrusted ? ETHER_ERR_LOG_UNTRUSTED : result;
}

int storage_sync(struct storage_log *log)
{
    int result = log_check_usable(log);
    if (result != ETHER_OK) {
        return result;
    }
    for (size_t i = 0; i < log->segments_count; i++) {
        struct storage_segment *segment = &log->segments[i];
        if (segment->log_dirty) {
            result = file_sync(log, segment->log_fd, "segment");
            if (result != ETHER_OK) {
                return result;
            }
            segment->log_dirty = false;
        }
    }
    if (log->dir_dirty) {
        result = file_sync_dir(log);
        if (result != ETHER_OK) {
            return result;
        }
    }
    for (size_t i = 0; i < log->segments_count; i++) {
        struct storage_segment *segment = &log->segments[i];
        bool lag_too_long = segment->index_lag_bytes >= log->options.index_sync_lag_bytes_max;
        bool sealed = i + 1 < log->segments_count;
        if (segment->index_dirty && (lag_too_long || sealed)) {
            result = file_sync(log, segment->index_fd, "index");
            if (result != ETHER_OK) {
                return result;
            }
            segment->index_dirty = false;
            segment->index_lag_bytes = 0;
        }
    }
    ETHER_ASSERT(!log_active(log)->log_dirty);
    ETHER_ASSERT(!log->dir_dirty);
    return ETHER_OK;
}

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
