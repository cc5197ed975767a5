/*
 * storage_internal.h: what the files of storage/ share and nobody else sees.
 *
 * A log is an array of segments in base-index order. Each segment has its
 * two files open (data and sparse index) and, once loaded, its index points
 * in memory. Only the last segment (the "active" one) is ever written; the
 * others are sealed. The log also remembers the terms of its tail as runs
 * (first index of each term) so that Raft's frequent term_at calls near the
 * end of the log need no disk read.
 *
 * Invariants (checked with ETHER_ASSERT where they are relied on):
 *   - segments_count >= 1 while the log is open;
 *   - segments[i + 1].base_index == segments[i].last_index + 1 and
 *     segments[i + 1].base_offset == segments[i].next_offset;
 *   - for every segment: points are in increasing index and position order,
 *     and every point's position is < size_bytes;
 *   - size_bytes <= file_bytes; the bytes between them are zeros (the
 *     preallocated tail of the active segment), never a stale frame: every
 *     path that leaves other bytes there (a failed append, a suffix cut)
 *     cuts the file back to size_bytes;
 *   - only the active segment can be dirty: a roll syncs the old one first;
 *   - tickets_in_flight lists every ticket between storage_sync_begin and
 *     storage_sync_end; its durable_index never exceeds the log's last
 *     index at any moment since begin (cuts lower it).
 *   - runs cover [runs_first_index, last_index] and their first indexes and
 *     terms increase.
 */
#ifndef ETHER_STORAGE_STORAGE_INTERNAL_H
#define ETHER_STORAGE_STORAGE_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/storage.h"

enum {
    FRAME_VERSION = 1,
    INDEX_VERSION = 1,
    HARD_STATE_VERSION = 1,
    SNAPSHOT_VERSION = 1,
    /* Bytes a scan reads at once when it does not need whole payloads. */
    SCAN_WINDOW_BYTES = 16 * 1024,
    /* Entries written with one pwritev (two iovecs each). */
    APPEND_ENTRIES_PER_WRITE = 256,
    /* Characters of "/" + a 20-digit number + the longest suffix + NUL. */
    NAME_BYTES_MAX = 48,
    /* Zero bytes one pwritev of the preallocation writes (iovecs of one shared block). */
    ZERO_BLOCK_BYTES = 64 * 1024,
    ZERO_BLOCKS_PER_WRITE = 16,
};

_Static_assert(STORAGE_INDEX_HEADER_BYTES == STORAGE_INDEX_POINT_BYTES,
               "index header and points share one record size");
_Static_assert(STORAGE_FRAME_HEADER_BYTES % 8 == 0, "frames keep 8-byte alignment of headers");

/* The decoded fixed part of a frame. */
struct frame_header {
    uint32_t crc;
    uint32_t payload_bytes;
    uint64_t index;
    uint64_t term;
    uint64_t base_offset;
    int64_t max_timestamp_ms;
    uint32_t record_count;
    enum storage_entry_type type;
};

/* One sparse index point, decoded. */
struct index_point {
    uint64_t index;
    uint64_t base_offset;
    int64_t max_timestamp_ms;
    uint32_t position;
};

struct term_run {
    uint64_t first_index;
    uint64_t term;
};

struct storage_segment {
    uint64_t base_index;
    uint64_t base_offset;
    uint64_t last_index;  /* base_index - 1 when empty */
    uint64_t next_offset; /* base_offset + records in the segment */
    uint64_t size_bytes;  /* bytes of whole frames in the data file: the logical end */
    uint64_t file_bytes;  /* bytes the data file is known to have (>= size_bytes; zeros after) */
    uint64_t id;          /* unique within the open log; names the segment to tickets */
    int log_fd;
    int index_fd;
    /* All points of the index file, once points_loaded. */
    struct index_point *points;
    size_t points_count;
    size_t points_capacity;
    bool points_loaded;
    /* Position of the last point's entry (0 when none): where the next point is measured from. */
    uint64_t last_point_position;
    /* Newest timestamp in the segment, valid once tail_known. */
    int64_t max_timestamp_ms;
    bool tail_known;
    bool log_dirty;
    bool index_dirty;
    /* Stamps (log->dirty_stamp_last) of the last write that made each file dirty. */
    uint64_t log_dirty_stamp;
    uint64_t index_dirty_stamp;
    /* Data bytes appended since the index file was last synced. */
    uint64_t index_lag_bytes;
};

struct storage_log {
    char *dir_path;
    struct storage_options options;
    const struct storage_io *io;
    const struct ether_logger *logger;
    int lock_fd;
    struct storage_segment *segments;
    size_t segments_count;
    size_t segments_capacity;
    /* Terms of entries [runs_first_index, last_index]. */
    struct term_run *runs;
    size_t runs_count;
    size_t runs_capacity;
    uint64_t runs_first_index;
    bool untrusted;
    bool dir_dirty;
    uint64_t dir_dirty_stamp;
    /* Source of dirty stamps and of segment ids. */
    uint64_t dirty_stamp_last;
    uint64_t segment_id_last;
    /* Tickets between storage_sync_begin and storage_sync_end (linked by `next`). */
    struct storage_sync_ticket *tickets_in_flight;
    /* Scratch space reused across calls. */
    struct ether_buf scratch;
    uint8_t *append_headers; /* APPEND_ENTRIES_PER_WRITE frame headers */
};

/* ---- frame.c: encoding and checking frames, index points and small headers ---- */
void frame_encode_header(const struct storage_entry *entry, uint32_t crc, uint8_t *out);
uint32_t frame_crc(const uint8_t *header, const uint8_t *payload, size_t payload_bytes);
/* Decodes and sanity-checks a header; ETHER_ERR_CORRUPT on impossible fields. */
int frame_decode_header(const uint8_t *bytes, struct frame_header *header);
void index_encode_point(const struct index_point *point, uint8_t *out);
int index_decode_point(const uint8_t *bytes, struct index_point *point);
void index_encode_header(uint64_t base_index, uint64_t base_offset, uint8_t *out);
int index_decode_header(const uint8_t *bytes, uint64_t *base_index, uint64_t *base_offset);

/* ---- file.c: I/O helpers on top of the io table ---- */
int file_error(int negative_errno);
void file_path(const struct storage_log *log, char *out, size_t out_size, uint64_t number,
               const char *suffix);
void file_path_name(const struct storage_log *log, char *out, size_t out_size, const char *name);
/* Writes everything (continuing after short writes); iov is modified. */
int file_write_full(struct storage_log *log, int fd, struct iovec *iov, int iov_count,
                    uint64_t position);
int file_write_bytes(struct storage_log *log, int fd, const void *data, size_t size_bytes,
                     uint64_t position);
/* Reads size_bytes unless the file ends first; *read_bytes says how many. */
int file_read(struct storage_log *log, int fd, void *buffer, size_t size_bytes, uint64_t position,
              size_t *read_bytes);
/* fdatasync / directory fsync; on failure the log becomes untrusted. */
int file_sync(struct storage_log *log, int fd, const char *what);
/* Logs the failure of a sync and marks the log untrusted; returns ETHER_ERR_LOG_UNTRUSTED. */
int file_sync_failed(struct storage_log *log, int negative_errno, const char *what);
int file_sync_dir(struct storage_log *log);
/* Writes a small file as name.tmp, syncs it, renames it over `name`, syncs the directory. */
int file_replace_atomically(struct storage_log *log, const char *name, const void *data,
                            size_t size_bytes);

/* ---- index.c: the sparse index of one segment ---- */
/* Reads and checks every point of the segment's index file (keeps the valid prefix). */
int index_load(struct storage_log *log, struct storage_segment *segment, uint64_t *valid_bytes);
void index_push(struct storage_segment *segment, const struct index_point *point);
/* Point with the largest index <= `index`, or NULL. */
const struct index_point *index_find_by_index(const struct storage_segment *segment,
                                              uint64_t index);
const struct index_point *index_find_by_offset(const struct storage_segment *segment,
                                               uint64_t offset);
/* Last point whose running max timestamp is < timestamp_ms, or NULL. */
const struct index_point *index_find_before_timestamp(const struct storage_segment *segment,
                                                      int64_t timestamp_ms);
/* Whether an entry at `position` gets a point. */
bool index_wants_point(const struct storage_log *log, const struct storage_segment *segment,
                       uint64_t position);
static inline uint64_t index_file_bytes(size_t points_count)
{
    return STORAGE_INDEX_HEADER_BYTES + (uint64_t)points_count * STORAGE_INDEX_POINT_BYTES;
}

/* ---- segment.c: files of one segment, scanning and locating entries ---- */
void segment_init(struct storage_segment *segment, uint64_t base_index, uint64_t base_offset);
/* Creates both files durably (index first, directory synced after each). */
int segment_create(struct storage_log *log, struct storage_segment *segment);
/* Opens both files of an existing segment and reads the index header. */
int segment_open(struct storage_log *log, struct storage_segment *segment, char *errbuf,
                 size_t errbuf_size);
void segment_close(struct storage_log *log, struct storage_segment *segment);
/* Closes and unlinks the data file, then the index file. */
int segment_remove(struct storage_log *log, struct storage_segment *segment);
void segment_free(struct storage_segment *segment);

/* Reads frames one by one from a segment. */
struct frame_cursor {
    struct storage_log *log;
    struct storage_segment *segment;
    uint64_t position;     /* of the next frame */
    uint64_t end_position; /* the cursor never reads past this */
    uint64_t window_position;
    size_t window_length;
};
void cursor_init(struct frame_cursor *cursor, struct storage_log *log,
                 struct storage_segment *segment, uint64_t position, uint64_t end_position);
/*
 * Decodes the frame at cursor->position and advances past it. With
 * payload_out non-NULL the payload is read and the CRC checked; *payload_out
 * then points into the log's scratch buffer until the next call. Returns
 * ETHER_ERR_OUT_OF_RANGE at the end, ETHER_ERR_TRUNCATED when a frame runs past
 * the end, ETHER_ERR_CORRUPT for a bad header or CRC.
 */
int cursor_next(struct frame_cursor *cursor, struct frame_header *header,
                const uint8_t **payload_out);

/*
 * Scans the segment from its last point (or start) to `end_position`,
 * checking every frame, rebuilding points after the last loaded one, and
 * setting last_index, next_offset, max_timestamp_ms and the log's term runs.
 * *stop_position gets where the valid frames end and *stop_reason (may be
 * NULL) why the scan stopped there (0 at end_position). Loaded points that do
 * not name a good frame are dropped first: *points_verified_count gets how
 * many survived, so callers know from which point the index file must be
 * rewritten.
 */
int segment_scan_tail(struct storage_log *log, struct storage_segment *segment,
                      uint64_t end_position, uint64_t *stop_position, int *stop_reason,
                      size_t *points_verified_count);
/*
 * Makes sure the data file holds at least `end` bytes, writing zeros after
 * file_bytes up to a multiple of options.preallocate_bytes (never beyond
 * segment_bytes_max unless `end` is). Best effort: on failure file_bytes stays
 * what was written and the caller's own write decides. Zeros never stand
 * where `end` says data goes: [from, end) is the caller's to write.
 */
void segment_preallocate(struct storage_log *log, struct storage_segment *segment, uint64_t from,
                         uint64_t end);
/* Cuts the data file to size_bytes when it is longer (preallocated); not synced. */
int segment_trim(struct storage_log *log, struct storage_segment *segment);
/* Writes points [first_point, points_count) to the index file and cuts it after them. */
int segment_write_points(struct storage_log *log, struct storage_segment *segment,
                         size_t first_point);
/* For a sealed segment: learns max_timestamp_ms (short scan from the last point). */
int segment_ensure_tail(struct storage_log *log, struct storage_segment *segment);
/* Position of the frame of `index`, which must lie in the segment. */
int segment_locate(struct storage_log *log, struct storage_segment *segment, uint64_t index,
                   uint64_t *position);

/* ---- log.c: helpers shared by the files of storage/ ---- */
void log_push_segment(struct storage_log *log, const struct storage_segment *segment);
struct storage_segment *log_active(struct storage_log *log);
uint64_t log_first_index(const struct storage_log *log);
uint64_t log_last_index(const struct storage_log *log);
size_t log_segment_for_index(const struct storage_log *log, uint64_t index);
void log_runs_reset(struct storage_log *log, uint64_t first_index);
void log_runs_push(struct storage_log *log, uint64_t index, uint64_t term);
int log_check_usable(const struct storage_log *log);
/* Record that a file (or the directory) has writes not yet synced. */
void log_mark_data_dirty(struct storage_log *log, struct storage_segment *segment);
void log_mark_index_dirty(struct storage_log *log, struct storage_segment *segment);
void log_mark_dir_dirty(struct storage_log *log);
/* A suffix cut or reset left nothing above index_last_kept: lower in-flight tickets. */
void log_tickets_cut(struct storage_log *log, uint64_t index_last_kept);

#endif
