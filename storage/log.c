/*
 * log.c: opening a log (lock, directory listing, leftovers, segments),
 * recovering its tail, closing it, and the helpers the other files share.
 *
 * Happy path of open: lock <dir>/LOCK, list the directory, delete *.tmp files
 * and index files without data files, open every segment (reading only its
 * index header), derive each sealed segment's end from its successor, and
 * scan the last segment from its last good index point.
 *
 * Failure modes: a torn or corrupt tail is cut (WARN); an empty last segment
 * whose index header never became durable is removed (WARN); any other
 * missing or damaged index header, or segments out of order, fail the open
 * with ETHER_ERR_CORRUPT and a sentence in errbuf.
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
    options->preallocate_bytes = 0; /* measured no faster here: see PREALLOCATION in storage.h */
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

void log_push_segment(struct storage_log *log, const struct storage_segment *segment)
{
    if (log->segments_count == log->segments_capacity) {
        size_t capacity = log->segments_capacity < 8 ? 8 : log->segments_capacity * 2;
        log->segments = ether_realloc(log->segments, capacity * sizeof *log->segments);
        log->segments_capacity = capacity;
    }
    log->segments[log->segments_count] = *segment;
    log->segments[log->segments_count].id = ++log->segment_id_last;
    log->segments_count++;
    ETHER_ASSERT(log->segments_count <= log->segments_capacity);
    ETHER_ASSERT(segment->size_bytes <= segment->file_bytes);
}

void log_mark_data_dirty(struct storage_log *log, struct storage_segment *segment)
{
    ETHER_ASSERT(segment->log_fd >= 0);
    segment->log_dirty = true;
    segment->log_dirty_stamp = ++log->dirty_stamp_last;
}

void log_mark_index_dirty(struct storage_log *log, struct storage_segment *segment)
{
    ETHER_ASSERT(segment->index_fd >= 0);
    segment->index_dirty = true;
    segment->index_dirty_stamp = ++log->dirty_stamp_last;
}

void log_mark_dir_dirty(struct storage_log *log)
{
    log->dir_dirty = true;
    log->dir_dirty_stamp = ++log->dirty_stamp_last;
}

void log_tickets_cut(struct storage_log *log, uint64_t index_last_kept)
{
    for (struct storage_sync_ticket *ticket = log->tickets_in_flight; ticket != NULL;
         ticket = ticket->next) {
        if (ticket->durable_index > index_last_kept) {
            ticket->durable_index = index_last_kept;
        }
    }
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
        log_mark_dir_dirty(log);
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
        log_mark_dir_dirty(log);
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
        log_push_segment(log, &segment);
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

/*
 * Whether the data file holds only zeros from `position` to its end (a
 * preallocated tail). Reads at most the preallocation step after a crash;
 * nothing after a clean close, which cut the zeros off.
 */
static int is_zero_tail(struct storage_log *log, struct storage_segment *segment, uint64_t position,
                        bool *zero)
{
    ETHER_ASSERT(position <= segment->file_bytes);
    *zero = false;
    while (position < segment->file_bytes) {
        uint64_t left = segment->file_bytes - position;
        size_t want = left < SCAN_WINDOW_BYTES * 4 ? (size_t)left : SCAN_WINDOW_BYTES * 4;
        ether_buf_clear(&log->scratch);
        uint8_t *bytes = ether_buf_extend(&log->scratch, want);
        size_t got = 0;
        int result = file_read(log, segment->log_fd, bytes, want, position, &got);
        if (result != ETHER_OK) {
            return result;
        }
        if (got < want) {
            return ETHER_OK; /* shorter than fstat said: not a tail we understand */
        }
        for (size_t i = 0; i < got; i++) {
            if (bytes[i] != 0) {
                return ETHER_OK;
            }
        }
        position += got;
    }
    *zero = true;
    ETHER_ASSERT(position == segment->file_bytes);
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
    size_t points_verified_count = 0;
    uint64_t stop_position = 0;
    int stop_reason = ETHER_OK;
    result = segment_scan_tail(log, segment, segment->size_bytes, &stop_position, &stop_reason,
                               &points_verified_count);
    if (result != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "cannot scan %s: %s", path, ether_strerror(result));
        return result;
    }
    bool changed = false;
    bool zero_tail = false;
    if (stop_position < segment->size_bytes) {
        result = is_zero_tail(log, segment, stop_position, &zero_tail);
        if (result != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "cannot read the tail of %s: %s", path,
                     ether_strerror(result));
            return result;
        }
    }
    if (zero_tail) {
        /* The preallocated zeros after the last frame: the end of the log, kept as they are. */
        segment->size_bytes = stop_position;
    } else if (stop_position < segment->size_bytes) {
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
        segment->file_bytes = stop_position;
        changed = true;
    }
    uint64_t index_file_size = 0;
    result = log->io->file_size(log->io->context, segment->index_fd, &index_file_size);
    if (result < 0) {
        return file_error(result);
    }
    /* Rewrite from the first point the scan did not confirm; cut whatever follows. */
    if (index_file_size != index_file_bytes(segment->points_count) ||
        index_valid_bytes != index_file_bytes(points_loaded_count) ||
        points_verified_count != segment->points_count) {
        size_t first = points_verified_count;
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
    if (options->io != NULL && options->io->dup == NULL) {
        snprintf(errbuf, errbuf_size, "the io table needs a dup function");
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
        log_push_segment(log, &segment);
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
    ETHER_ASSERT(log->tickets_in_flight == NULL); /* storage_sync_end comes before close */
    if (!log->untrusted && log->segments_count > 0) {
        /* Best effort: if the cut fails or is lost in a crash, recovery finds the zeros. */
        (void)segment_trim(log, log_active(log));
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
