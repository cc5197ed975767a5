/*
 * storage.h: the partition log on disk, which is also the partition's Raft log,
 * plus Raft's hard state (term, vote) and snapshots.
 *
 * WHAT IT OWNS
 * One directory per partition replica. Everything in it belongs to the
 * `struct storage_log` that has it open (an flock on <dir>/LOCK keeps a second
 * process out: ETHER_ERR_LOCKED). The directory holds:
 *
 *   LOCK                                 empty file, flock'd while open
 *   00000000000000000001.log             segment: entries with indexes from 1
 *   00000000000000000001.index           sparse index of that segment
 *   raft_state                           hard state (term, vote), replaced atomically
 *   00000000000000000500.snapshot        snapshot whose last included index is 500
 *   *.tmp                                files being written; removed on open
 *
 * ENTRIES AND OFFSETS (decided once, here)
 * An entry is an opaque record batch (STORAGE_ENTRY_DATA) or a Raft control
 * entry (STORAGE_ENTRY_NOOP, STORAGE_ENTRY_CONFIG). Entries have a dense Raft
 * index and a term. Storage also gives every entry a base_offset: the log's
 * next_offset when the entry was appended. A data entry covers the record
 * offsets [base_offset, base_offset + record_count); a control entry has
 * record_count 0 and covers none. Consumers' offsets are therefore dense
 * across data batches, and Raft's own entries never disturb them.
 *
 * INVARIANTS
 *   - Indexes are dense: the log holds exactly [first_index, last_index];
 *     an empty log has last_index == first_index - 1.
 *   - Terms never decrease along the log.
 *   - entry[i + 1].base_offset == entry[i].base_offset + entry[i].record_count,
 *     and next_offset == last entry's base_offset + record_count.
 *   - Segments are contiguous: a segment's entries end right before the next
 *     segment's base index. Every segment except the last is sealed (never
 *     written again) and was made durable before its successor was created.
 *   - Nothing read from disk is trusted: every frame is length-bounded and
 *     CRC32C-checked; a mismatch is ETHER_ERR_CORRUPT, never garbage returned.
 *   - After a failed fsync the log answers ETHER_ERR_LOG_UNTRUSTED to every
 *     call until it is closed and reopened (the page cache may have dropped
 *     the dirty pages, so a retried fsync could "succeed" over lost data).
 *
 * THREADING
 * There is no internal locking. Every function taking a storage_log (or a
 * snapshot reader/writer made from it) must be called by one thread at a
 * time: the owner serialises them, e.g. with a mutex (the "owner's lock").
 * The one exception is storage_sync_run, which touches only its ticket and
 * the io table and so runs with no lock held, concurrently with any other
 * call on the same log (appends, reads, truncations, other tickets' begin and
 * end), on any thread:
 *
 *   under the lock   storage_sync_begin(log, &ticket)   captures dup'd fds
 *   no lock          storage_sync_run(&ticket)          the fdatasyncs
 *   under the lock   storage_sync_end(log, &ticket, rc) marks what is durable
 *
 * Every successful begin must be followed by exactly one end (run may be
 * skipped; end then releases the ticket and reports nothing durable). The log
 * must not be closed between begin and end. Several tickets may be in flight.
 * The io table's functions must be safe to call from two threads at once
 * (storage_io_posix() is).
 * Time never comes from a clock: retention takes now_ms as a parameter.
 *
 * DURABILITY
 * storage_append only writes; storage_sync (or a ticket) makes every entry
 * appended before it durable: fdatasync of the segment data, then of the
 * directory if a file was created or removed since its last sync, then of
 * the sparse index when its unsynced part exceeds
 * options.index_sync_lag_bytes_max (the index is derived data that recovery
 * rebuilds, so syncing it on every call would halve throughput for nothing).
 * Rolling a segment syncs the old one completely first.
 * Truncation, prefix removal, reset, hard state and snapshot publication are
 * durable when they return (directory fsync'd after create/remove/rename).
 *
 * PREALLOCATION
 * The active segment's data file is grown ahead of the appends with written
 * zeros, options.preallocate_bytes at a time (capped at segment_bytes_max),
 * so most fdatasyncs find the file size and block map unchanged and commit
 * no metadata. (fallocate would not do: it leaves unwritten extents whose
 * conversion on first write is itself a metadata commit.) Hence the active
 * data file may be longer than its frames; the zeros after the last frame are
 * not part of the log. Sizes storage reports (storage_bounds.size_bytes,
 * retention) count frames only. A roll cuts the sealed segment to its last
 * frame before syncing it, and storage_close cuts the active one (not
 * synced), so sealed segments and cleanly closed logs have exact file sizes.
 * Measured on ext4 with a 64 KiB batch per fdatasync, the zeros cost about
 * what they save (they double the bytes written, and the first sync after
 * each step flushes them), so it is off by default; it pays where the zeros
 * are written off the sync path. Recovery accepts a zero tail either way.
 * RECOVERY ON OPEN
 * Only the last segment is scanned, and only from its last valid sparse-index
 * point, up to the end of the file. Where the frames stop, the rest of the
 * file is read: if it is all zeros it is the preallocated tail (not
 * corruption: no warning, nothing cut). Otherwise the tail is torn or corrupt
 * and is cut at the first bad frame (ftruncate, and a WARN line naming the
 * file, the position and the bytes cut), including a torn frame followed by
 * zeros; its index is cut to match and the missing points are rebuilt. Older segments are trusted
 * through their index; a CRC mismatch found later on read is ETHER_ERR_CORRUPT.
 * If a crash interrupts storage_reset, the log reopens as a suffix of the old
 * log or as an empty log at index 1: the caller compares it with its snapshot
 * and calls storage_reset again.
 *
 * ON-DISK FORMATS (all integers little-endian)
 *
 * Segment file <base_index:%020>.log: entries back to back, each one frame:
 *   OFFSET SIZE DESCRIPTION
 *   0      4    crc32c of bytes [4, 48 + payload_bytes): header fields and payload
 *   4      4    payload_bytes (<= STORAGE_PAYLOAD_BYTES_LIMIT)
 *   8      8    index
 *   16     8    term
 *   24     8    base_offset
 *   32     8    max_timestamp_ms (signed; caller-provided)
 *   40     4    record_count (0 for control entries)
 *   44     1    type (enum storage_entry_type)
 *   45     1    frame format version (1)
 *   46     2    reserved, zero
 *   48     N    payload (opaque)
 *
 * Sparse index file <base_index:%020>.index: a header then fixed-size points.
 * A point is written for an entry when it starts at least
 * options.index_interval_bytes after the previous point (or the segment start).
 *   Header:
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "EIDX"
 *   4      4    format version (1)
 *   8      8    base_index of the segment (equals the file name)
 *   16     8    base_offset of the segment (next_offset of the log before it)
 *   24     4    reserved, zero
 *   28     4    crc32c of bytes [0, 28)
 *   Point (repeated from byte 32):
 *   OFFSET SIZE DESCRIPTION
 *   0      8    index of the entry
 *   8      8    base_offset of the entry
 *   16     8    max_timestamp_ms over the segment's entries up to and including it
 *   24     4    position of the entry's frame in the segment file
 *   28     4    crc32c of bytes [0, 28)
 *
 * Hard state file raft_state (written to raft_state.tmp, fsync'd, renamed):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "EHST"
 *   4      4    format version (1)
 *   8      8    term
 *   16     8    vote (node id voted for in term; 0 = none)
 *   24     4    reserved, zero
 *   28     4    crc32c of bytes [0, 28)
 *
 * Snapshot file <last_included_index:%020>.snapshot (written as
 * snapshot.tmp, then fsync'd and renamed):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "ESNP"
 *   4      4    format version (1)
 *   8      8    last_included_index
 *   16     8    last_included_term
 *   24     8    next_offset (the log's next_offset after the last included entry)
 *   32     8    data_bytes
 *   40     4    crc32c of the data
 *   44     4    crc32c of bytes [0, 44)
 *   48     N    data (opaque, written and read in chunks)
 */
#ifndef ETHER_STORAGE_STORAGE_H
#define ETHER_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/buf.h"
#include "common/log.h"

enum {
    STORAGE_FRAME_HEADER_BYTES = 48,
    STORAGE_INDEX_HEADER_BYTES = 32,
    STORAGE_INDEX_POINT_BYTES = 32,
    STORAGE_HARD_STATE_BYTES = 32,
    STORAGE_SNAPSHOT_HEADER_BYTES = 48,
};

/* The largest payload a frame may declare; bounds what recovery believes. */
#define STORAGE_PAYLOAD_BYTES_LIMIT (UINT32_C(1) << 30)

enum storage_entry_type {
    STORAGE_ENTRY_DATA = 1,   /* a record batch; record_count >= 1 */
    STORAGE_ENTRY_NOOP = 2,   /* Raft no-op of a new leader; record_count 0 */
    STORAGE_ENTRY_CONFIG = 3, /* Raft membership change; record_count 0 */
};

/*
 * One entry. On append the caller fills everything except base_offset, which
 * storage assigns. On read, `payload` points into the caller's storage_batch.
 */
struct storage_entry {
    uint64_t index;
    uint64_t term;
    uint64_t base_offset;
    int64_t max_timestamp_ms;
    uint32_t record_count;
    enum storage_entry_type type;
    const uint8_t *payload;
    uint32_t payload_bytes;
};

/* ---- I/O seam ---------------------------------------------------------------------------
 * Every file operation of storage goes through this table, so tests can inject
 * ENOSPC, EIO on fsync and short writes. Functions return 0 (or a byte count)
 * on success and a negative errno on failure; `context` is passed back. */
struct storage_io {
    void *context;
    int (*open)(void *context, const char *path, int flags, int mode);
    int (*close)(void *context, int fd);
    ssize_t (*pread)(void *context, int fd, void *buffer, size_t size_bytes, uint64_t position);
    /* May write fewer bytes than asked (a short write); the caller continues. */
    ssize_t (*pwritev)(void *context, int fd, const struct iovec *iov, int iov_count,
                       uint64_t position);
    int (*fdatasync)(void *context, int fd);
    int (*ftruncate)(void *context, int fd, uint64_t size_bytes);
    int (*file_size)(void *context, int fd, uint64_t *size_bytes);
    int (*rename)(void *context, const char *from_path, const char *to_path);
    int (*unlink)(void *context, const char *path);
    int (*mkdir)(void *context, const char *path);
    int (*fsync_dir)(void *context, const char *path);
    /* Calls `visit` with each name in `path` (not "." or ".."); stops on non-zero. */
    int (*list_dir)(void *context, const char *path,
                    int (*visit)(void *visit_context, const char *name), void *visit_context);
    /* flock(LOCK_EX | LOCK_NB); -EWOULDBLOCK when another holder exists. */
    int (*lock)(void *context, int fd);
    /* dup(): a second descriptor for the same open file (the sync tickets' fds). */
    int (*dup)(void *context, int fd);
};

/* The POSIX implementation (a constant table; context unused). */
const struct storage_io *storage_io_posix(void);

/* ---- opening and closing -------------------------------------------------------------- */

struct storage_options {
    const struct storage_io *io;       /* NULL: storage_io_posix() */
    const struct ether_logger *logger; /* NULL: silent */
    uint64_t segment_bytes_max;        /* roll threshold; <= UINT32_MAX; default 128 MiB */
    uint32_t index_interval_bytes;     /* sparse index spacing; default 4 KiB */
    uint64_t index_sync_lag_bytes_max; /* see DURABILITY; 0 = sync index every time */
    uint32_t payload_bytes_max;        /* appends above this are refused; default 16 MiB */
    uint64_t preallocate_bytes;        /* see PREALLOCATION; 0 = none (the default) */
};

void storage_options_init(struct storage_options *options);

struct storage_log;

/*
 * Opens (creating it if needed) the log in `dir_path` and recovers its tail.
 * An empty directory becomes an empty log at index 1, offset 0. On success
 * *log_out owns the directory lock until storage_close. On failure returns a
 * code, writes a sentence into errbuf (if errbuf_size > 0) and leaves
 * *log_out untouched. The options (and the io table and logger they point to)
 * must outlive the log.
 */
int storage_open(const char *dir_path, const struct storage_options *options,
                 struct storage_log **log_out, char *errbuf, size_t errbuf_size);

/*
 * Cuts the preallocated zeros off the active segment (not synced), closes
 * files, releases the lock, frees the log. Does not sync. No sync ticket may
 * be in flight. NULL is a no-op.
 */
void storage_close(struct storage_log *log);

/* ---- the log --------------------------------------------------------------------------- */

struct storage_bounds {
    uint64_t first_index;  /* first entry still stored */
    uint64_t last_index;   /* first_index - 1 when empty */
    uint64_t first_offset; /* base_offset of the first entry (next_offset when empty) */
    uint64_t next_offset;  /* base_offset the next appended entry gets */
    uint64_t size_bytes;   /* bytes of the frames of all segments (not preallocated zeros) */
    uint64_t segments_count;
};

int storage_get_bounds(struct storage_log *log, struct storage_bounds *bounds);

/*
 * Appends entries_count entries. entries[0].index must be last_index + 1 and
 * indexes must then increase by one; terms must not decrease; data entries
 * need record_count >= 1, control entries record_count == 0; payloads are at
 * most options.payload_bytes_max. Violations: ETHER_ERR_INVALID_ARGUMENT and
 * nothing written. On success fills each entries[i].base_offset. All or
 * nothing: on ETHER_ERR_NO_SPACE or ETHER_ERR_IO the partial write is cut back
 * and the log is as before the call. Not durable until storage_sync.
 */
int storage_append(struct storage_log *log, struct storage_entry *entries, size_t entries_count);

/*
 * Makes every appended entry durable. On failure the log becomes untrusted.
 * Same as storage_sync_begin + storage_sync_run + storage_sync_end, so it
 * holds the caller's lock across the fdatasync; use a ticket to avoid that.
 */
int storage_sync(struct storage_log *log);

/* ---- sync without holding the owner's lock (see THREADING) ------------------------------- */

/*
 * A sync in three steps. Caller-allocated; it must stay at one address from
 * begin to end. Only durable_index is for the caller to read (after begin and
 * after end); the other fields belong to storage.
 */
struct storage_sync_ticket {
    /* After begin: the log's last_index, which the sync will make durable.
     * Lowered by suffix cuts and resets made between begin and end. After a
     * successful end: every entry <= durable_index is durable. */
    uint64_t durable_index;
    /* Used by run (no lock); descriptors are dup'd, -1 when not captured. */
    const struct storage_io *io;
    int data_fd;
    int index_fd;
    char *dir_path; /* non-NULL when the directory needs an fsync; freed by end */
    bool run_done;
    int run_errno;           /* the first failed sync's errno, 0 if none */
    const char *run_failure; /* which file it was */
    /* Used under the owner's lock only (begin, end, suffix cuts, resets): */
    uint64_t segment_id; /* the segment the descriptors belong to */
    uint64_t data_stamp; /* dirty stamps captured at begin; 0 = not captured */
    uint64_t index_stamp;
    uint64_t index_lag_bytes;
    uint64_t dir_stamp;
    struct storage_sync_ticket *next; /* in the log's list of tickets in flight */
};

/*
 * Under the owner's lock. Captures what must be synced for every entry
 * appended so far: dup'd descriptors of the files with unsynced writes and
 * whether the directory needs an fsync; sets ticket->durable_index. Cheap
 * (no I/O besides dup). On success the ticket must be passed to
 * storage_sync_end. Errors: ETHER_ERR_LOG_UNTRUSTED, ETHER_ERR_IO (dup
 * failed; nothing to end).
 */
int storage_sync_begin(struct storage_log *log, struct storage_sync_ticket *ticket);

/*
 * With no lock held, on any thread. fdatasyncs the captured data file, then
 * fsyncs the directory if needed, then fdatasyncs the captured index file,
 * then closes the dup'd descriptors. Touches
 * no log state, so the log may be appended to, read, truncated and have
 * segments removed meanwhile (the dup'd descriptors keep the files alive).
 * Returns ETHER_OK or ETHER_ERR_LOG_UNTRUSTED (a sync failed; pass it on to
 * end, which marks the log untrusted). Nothing is retried (see INVARIANTS).
 */
int storage_sync_run(struct storage_sync_ticket *ticket);

/*
 * Under the owner's lock again, with run's result. On success marks the
 * captured files clean unless they were written again since begin, and
 * returns ETHER_OK: entries <= ticket->durable_index are durable. When
 * run_result is not ETHER_OK, marks the log untrusted (like a failed
 * storage_sync) and returns ETHER_ERR_LOG_UNTRUSTED. When run was never
 * called, only releases the ticket: durable_index becomes 0 and the answer is
 * ETHER_ERR_INVALID_ARGUMENT (or the run_result given). Always releases the
 * ticket; ETHER_ERR_LOG_UNTRUSTED also when the log became untrusted meanwhile.
 */
int storage_sync_end(struct storage_log *log, struct storage_sync_ticket *ticket, int run_result);

/*
 * A reusable read buffer owned by the caller. After storage_read, entries[i]
 * point into `bytes`; they stay valid until the next read into this batch or
 * storage_batch_free.
 */
struct storage_batch {
    struct ether_buf bytes;
    struct storage_entry *entries;
    size_t entries_count;
    size_t entries_capacity;
};

void storage_batch_init(struct storage_batch *batch);
void storage_batch_free(struct storage_batch *batch);

/*
 * Reads entries from index_first while their frames (header + payload) add up
 * to at most bytes_max; the first entry is returned even if it alone is larger.
 * Errors: ETHER_ERR_BELOW_START, ETHER_ERR_OUT_OF_RANGE (index_first >
 * last_index), ETHER_ERR_CORRUPT.
 */
int storage_read(struct storage_log *log, uint64_t index_first, uint64_t bytes_max,
                 struct storage_batch *batch);

/* Term of the entry at `index`; BELOW_START / OUT_OF_RANGE / CORRUPT. */
int storage_term_at(struct storage_log *log, uint64_t index, uint64_t *term);

/* Index of the data entry containing record `offset`; BELOW_START / OUT_OF_RANGE. */
int storage_find_offset(struct storage_log *log, uint64_t offset, uint64_t *index);

/*
 * Index of the first entry whose max_timestamp_ms >= timestamp_ms;
 * ETHER_ERR_NOT_FOUND when no entry is that recent.
 */
int storage_find_timestamp(struct storage_log *log, int64_t timestamp_ms, uint64_t *index);

/*
 * Removes every entry after index_last_kept (a Raft conflict). May cut in the
 * middle of a segment and remove later segments. index_last_kept >= last_index
 * is a no-op; below first_index - 1 is ETHER_ERR_BELOW_START. Durable on return.
 */
int storage_truncate_suffix(struct storage_log *log, uint64_t index_last_kept);

/*
 * Removes whole segments whose entries are all below index_first_kept (after a
 * snapshot). Never removes the last segment, so first_index may stay below
 * index_first_kept. Durable on return.
 */
int storage_remove_prefix(struct storage_log *log, uint64_t index_first_kept);

struct storage_retention {
    uint64_t retention_bytes; /* 0 = no size limit */
    int64_t retention_ms;     /* 0 = no age limit */
};

/*
 * Removes whole segments from the front while the log is larger than
 * retention_bytes or a segment's newest timestamp is older than
 * now_ms - retention_ms. Only segments whose entries are all below
 * index_limit (e.g. the snapshot's index + 1) are removed, and never the last.
 * *segments_removed_count (may be NULL) gets how many. Durable on return.
 */
int storage_apply_retention(struct storage_log *log, const struct storage_retention *retention,
                            int64_t now_ms, uint64_t index_limit, uint64_t *segments_removed_count);

/*
 * Discards every entry and restarts the log empty at next_index / next_offset
 * (after a snapshot install). Durable on return.
 */
int storage_reset(struct storage_log *log, uint64_t next_index, uint64_t next_offset);

/* ---- Raft hard state ------------------------------------------------------------------- */

/* Atomically replaces the hard state; durable on return. */
int storage_hard_state_save(struct storage_log *log, uint64_t term, uint64_t vote);

/* Loads it; term = vote = 0 when none was ever saved. CORRUPT / UNSUPPORTED. */
int storage_hard_state_load(struct storage_log *log, uint64_t *term, uint64_t *vote);

/* ---- snapshots --------------------------------------------------------------------------
 * The latest committed snapshot is kept, and the one before it. */

struct storage_snapshot_meta {
    uint64_t last_included_index;
    uint64_t last_included_term;
    uint64_t next_offset;
    uint64_t data_bytes; /* filled in by commit and by the reader */
};

struct storage_snapshot_writer;

/*
 * Starts writing a snapshot (replacing any unfinished one). Chunks are then
 * written in order; nothing is visible until commit. The writer must be
 * committed or aborted before the log is closed.
 */
int storage_snapshot_begin(struct storage_log *log, const struct storage_snapshot_meta *meta,
                           struct storage_snapshot_writer **writer_out);

/* Appends a chunk that starts at data offset `offset`, which must equal the bytes written. */
int storage_snapshot_write(struct storage_snapshot_writer *writer, uint64_t offset,
                           const void *data, size_t size_bytes);

/* Syncs and atomically publishes the snapshot, then frees the writer (even on failure). */
int storage_snapshot_commit(struct storage_snapshot_writer *writer);

/* Discards the unfinished snapshot and frees the writer. */
void storage_snapshot_abort(struct storage_snapshot_writer *writer);

struct storage_snapshot_reader;

/*
 * Opens the latest snapshot whose header and data CRCs check out: a damaged
 * newest one is passed over (with a WARN) for the one kept before it.
 * ETHER_ERR_NOT_FOUND when there is none, ETHER_ERR_CORRUPT when every one is
 * damaged.
 */
int storage_snapshot_open(struct storage_log *log, struct storage_snapshot_meta *meta,
                          struct storage_snapshot_reader **reader_out);

/* Reads up to size_bytes of data at `offset` into buffer; *read_bytes gets how many (0 at end). */
int storage_snapshot_read(struct storage_snapshot_reader *reader, uint64_t offset, void *buffer,
                          size_t size_bytes, size_t *read_bytes);

void storage_snapshot_close(struct storage_snapshot_reader *reader);

#endif
