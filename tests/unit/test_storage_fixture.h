/*
 * test_storage_fixture.h: what the storage unit tests share: a temporary
 * directory per test, deterministic payloads, a logger that captures lines,
 * and a fault-injecting storage_io (like SQLite's test VFS) that wraps the
 * POSIX one and can fail writes with ENOSPC after a byte budget, cut writes
 * short, and fail fdatasync with EIO.
 */
#ifndef ETHER_TESTS_UNIT_TEST_STORAGE_FIXTURE_H
#define ETHER_TESTS_UNIT_TEST_STORAGE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/storage.h"

/* ---- faulty io ---- */

struct fault_io {
    struct storage_io io;
    /* Bytes pwritev may still write before it fails with ENOSPC (UINT64_MAX: no limit). */
    uint64_t write_budget_bytes;
    /* When non-zero, each pwritev writes at most this many bytes. */
    size_t short_write_bytes;
    /* When non-zero, fdatasync fails with this errno. */
    int fdatasync_errno;
    int fdatasync_calls;
    int pwritev_calls;
};

static inline struct fault_io *fault_of(void *context)
{
    return context;
}

static inline int fault_open(void *context, const char *path, int flags, int mode)
{
    (void)context;
    return storage_io_posix()->open(NULL, path, flags, mode);
}

static inline int fault_close(void *context, int fd)
{
    (void)context;
    return storage_io_posix()->close(NULL, fd);
}

static inline ssize_t fault_pread(void *context, int fd, void *buffer, size_t size_bytes,
                                  uint64_t position)
{
    (void)context;
    return storage_io_posix()->pread(NULL, fd, buffer, size_bytes, position);
}

static inline ssize_t fault_pwritev(void *context, int fd, const struct iovec *iov, int iov_count,
                                    uint64_t position)
{
    struct fault_io *fault = fault_of(context);
    fault->pwritev_calls++;
    size_t want = 0;
    for (int i = 0; i < iov_count; i++) {
        want += iov[i].iov_len;
    }
    size_t limit = want;
    if (fault->short_write_bytes > 0 && limit > fault->short_write_bytes) {
        limit = fault->short_write_bytes;
    }
    if (fault->write_budget_bytes != UINT64_MAX) {
        if (fault->write_budget_bytes == 0) {
            return -ENOSPC;
        }
        if (limit > fault->write_budget_bytes) {
            limit = (size_t)fault->write_budget_bytes;
        }
    }
    /* Write only `limit` bytes: build a trimmed copy of the vector. */
    struct iovec trimmed[1024];
    int count = 0;
    size_t left = limit;
    for (int i = 0; i < iov_count && left > 0 && count < 1024; i++) {
        trimmed[count].iov_base = iov[i].iov_base;
        trimmed[count].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
        left -= trimmed[count].iov_len;
        count++;
    }
    ssize_t written = storage_io_posix()->pwritev(NULL, fd, trimmed, count, position);
    if (written > 0 && fault->write_budget_bytes != UINT64_MAX) {
        fault->write_budget_bytes -= (uint64_t)written;
    }
    return written;
}

static inline int fault_fdatasync(void *context, int fd)
{
    struct fault_io *fault = fault_of(context);
    fault->fdatasync_calls++;
    if (fault->fdatasync_errno != 0) {
        return -fault->fdatasync_errno;
    }
    return storage_io_posix()->fdatasync(NULL, fd);
}

static inline int fault_ftruncate(void *context, int fd, uint64_t size_bytes)
{
    (void)context;
    return storage_io_posix()->ftruncate(NULL, fd, size_bytes);
}

static inline int fault_file_size(void *context, int fd, uint64_t *size_bytes)
{
    (void)context;
    return storage_io_posix()->file_size(NULL, fd, size_bytes);
}

static inline int fault_rename(void *context, const char *from_path, const char *to_path)
{
    (void)context;
    return storage_io_posix()->rename(NULL, from_path, to_path);
}

static inline int fault_unlink(void *context, const char *path)
{
    (void)context;
    return storage_io_posix()->unlink(NULL, path);
}

static inline int fault_mkdir(void *context, const char *path)
{
    (void)context;
    return storage_io_posix()->mkdir(NULL, path);
}

static inline int fault_fsync_dir(void *context, const char *path)
{
    struct fault_io *fault = fault_of(context);
    if (fault->fdatasync_errno != 0) {
        return -fault->fdatasync_errno;
    }
    return storage_io_posix()->fsync_dir(NULL, path);
}

static inline int fault_list_dir(void *context, const char *path,
                                 int (*visit)(void *visit_context, const char *name),
                                 void *visit_context)
{
    (void)context;
    return storage_io_posix()->list_dir(NULL, path, visit, visit_context);
}

static inline int fault_lock(void *context, int fd)
{
    (void)context;
    return storage_io_posix()->lock(NULL, fd);
}

static inline int fault_dup(void *context, int fd)
{
    (void)context;
    return storage_io_posix()->dup(NULL, fd);
}

static inline void fault_io_init(struct fault_io *fault)
{
    memset(fault, 0, sizeof *fault);
    fault->io.context = fault;
    fault->io.open = fault_open;
    fault->io.close = fault_close;
    fault->io.pread = fault_pread;
    fault->io.pwritev = fault_pwritev;
    fault->io.fdatasync = fault_fdatasync;
    fault->io.ftruncate = fault_ftruncate;
    fault->io.file_size = fault_file_size;
    fault->io.rename = fault_rename;
    fault->io.unlink = fault_unlink;
    fault->io.mkdir = fault_mkdir;
    fault->io.fsync_dir = fault_fsync_dir;
    fault->io.list_dir = fault_list_dir;
    fault->io.lock = fault_lock;
    fault->io.dup = fault_dup;
    fault->write_budget_bytes = UINT64_MAX;
}

/* ---- captured log lines ---- */

struct captured_lines {
    int warn_count;
    int error_count;
    char last_warn[ETHER_LOG_LINE_BYTES_MAX];
};

static inline void capture_line(void *sink_context, enum ether_log_level level, const char *context,
                                const char *message)
{
    (void)context;
    struct captured_lines *lines = sink_context;
    if (level == ETHER_LOG_WARN) {
        lines->warn_count++;
        snprintf(lines->last_warn, sizeof lines->last_warn, "%s", message);
    } else if (level == ETHER_LOG_ERROR) {
        lines->error_count++;
    }
}

/* ---- the per-test fixture ---- */

struct fixture {
    char root[64]; /* mkdtemp directory */
    char dir[128]; /* the log directory inside it */
    struct storage_options options;
    struct fault_io fault;
    struct ether_logger logger;
    struct captured_lines lines;
    struct storage_log *log;
    struct storage_batch batch;
    char errbuf[256];
};

static inline int remove_tree_item(const char *path, const struct stat *status, int type,
                                   struct FTW *walk)
{
    (void)status;
    (void)type;
    (void)walk;
    return remove(path);
}

static inline int fixture_setup(void **state)
{
    struct fixture *fixture = ether_calloc(1, sizeof *fixture);
    snprintf(fixture->root, sizeof fixture->root, "/tmp/ether-storage-test-XXXXXX");
    if (mkdtemp(fixture->root) == NULL) {
        ether_free(fixture);
        return -1;
    }
    snprintf(fixture->dir, sizeof fixture->dir, "%s/log", fixture->root);
    fault_io_init(&fixture->fault);
    ether_logger_init_sink(&fixture->logger, ETHER_LOG_DEBUG, capture_line, &fixture->lines, "");
    storage_options_init(&fixture->options);
    fixture->options.io = &fixture->fault.io;
    fixture->options.logger = &fixture->logger;
    fixture->options.segment_bytes_max = 4096;
    fixture->options.index_interval_bytes = 256;
    fixture->options.index_sync_lag_bytes_max = 0;
    storage_batch_init(&fixture->batch);
    *state = fixture;
    return 0;
}

static inline int fixture_teardown(void **state)
{
    struct fixture *fixture = *state;
    storage_close(fixture->log);
    storage_batch_free(&fixture->batch);
    nftw(fixture->root, remove_tree_item, 16, FTW_DEPTH | FTW_PHYS);
    ether_free(fixture);
    return 0;
}

static inline void fixture_open(struct fixture *fixture)
{
    int result = storage_open(fixture->dir, &fixture->options, &fixture->log, fixture->errbuf,
                              sizeof fixture->errbuf);
    if (result != ETHER_OK) {
        fail_msg("storage_open: %s: %s", ether_error_name(result), fixture->errbuf);
    }
}

static inline void fixture_reopen(struct fixture *fixture)
{
    storage_close(fixture->log);
    fixture->log = NULL;
    fixture_open(fixture);
}

/* ---- entries ---- */

static inline uint8_t payload_byte(uint64_t index, size_t i)
{
    return (uint8_t)((index * 131u + i * 7u + (i >> 8)) & 0xffu);
}

static inline void payload_fill(uint64_t index, uint8_t *out, size_t size_bytes)
{
    for (size_t i = 0; i < size_bytes; i++) {
        out[i] = payload_byte(index, i);
    }
}

/* Payload sizes vary with the index so frames straddle index points and segment ends. */
static inline uint32_t payload_size_for(uint64_t index)
{
    return (uint32_t)(20 + (index * 37) % 200);
}

/* Appends data entries [first, first + count) of `term`, each with index % 5 + 1 records. */
static inline int append_range(struct storage_log *log, uint64_t first, uint64_t count,
                               uint64_t term)
{
    struct storage_entry *entries = ether_calloc((size_t)count, sizeof *entries);
    uint8_t **payloads = ether_calloc((size_t)count, sizeof *payloads);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t index = first + i;
        uint32_t size = payload_size_for(index);
        payloads[i] = ether_malloc(size);
        payload_fill(index, payloads[i], size);
        entries[i].index = index;
        entries[i].term = term;
        entries[i].type = STORAGE_ENTRY_DATA;
        entries[i].record_count = (uint32_t)(index % 5 + 1);
        entries[i].max_timestamp_ms = (int64_t)(1000 + index * 10);
        entries[i].payload = payloads[i];
        entries[i].payload_bytes = size;
    }
    int result = storage_append(log, entries, (size_t)count);
    for (uint64_t i = 0; i < count; i++) {
        ether_free(payloads[i]);
    }
    ether_free(payloads);
    ether_free(entries);
    return result;
}

static inline void assert_entry_matches(const struct storage_entry *entry, uint64_t index)
{
    assert_int_equal(entry->index, index);
    assert_int_equal(entry->payload_bytes, payload_size_for(index));
    assert_int_equal(entry->type, STORAGE_ENTRY_DATA);
    assert_int_equal(entry->record_count, index % 5 + 1);
    assert_int_equal(entry->max_timestamp_ms, 1000 + index * 10);
    for (size_t i = 0; i < entry->payload_bytes; i++) {
        if (entry->payload[i] != payload_byte(index, i)) {
            fail_msg("entry %llu: payload byte %zu differs", (unsigned long long)index, i);
        }
    }
}

/* Reads [first, last] one bounded read after another and checks every entry. */
static inline void assert_log_holds(struct fixture *fixture, uint64_t first, uint64_t last)
{
    uint64_t next = first;
    while (next <= last) {
        int result = storage_read(fixture->log, next, 1000, &fixture->batch);
        if (result != ETHER_OK) {
            fail_msg("read at %llu: %s", (unsigned long long)next, ether_error_name(result));
        }
        assert_true(fixture->batch.entries_count > 0);
        for (size_t i = 0; i < fixture->batch.entries_count && next <= last; i++) {
            assert_entry_matches(&fixture->batch.entries[i], next);
            next++;
        }
    }
    struct storage_bounds bounds;
    assert_int_equal(storage_get_bounds(fixture->log, &bounds), ETHER_OK);
    assert_int_equal(bounds.first_index, first);
    assert_int_equal(bounds.last_index, last);
}

static inline struct storage_bounds bounds_of(struct storage_log *log)
{
    struct storage_bounds bounds;
    memset(&bounds, 0, sizeof bounds);
    assert_int_equal(storage_get_bounds(log, &bounds), ETHER_OK);
    return bounds;
}

/* Offsets of entry `index` when data entries 1..index-1 were appended with append_range. */
static inline uint64_t offset_of_entry(uint64_t index)
{
    uint64_t offset = 0;
    for (uint64_t i = 1; i < index; i++) {
        offset += i % 5 + 1;
    }
    return offset;
}

static inline uint64_t file_size_of(const char *path)
{
    struct stat status;
    if (stat(path, &status) != 0) {
        return UINT64_MAX;
    }
    return (uint64_t)status.st_size;
}

static inline void segment_file_path(const struct fixture *fixture, uint64_t base_index,
                                     const char *suffix, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%020llu%s", fixture->dir, (unsigned long long)base_index, suffix);
}

#endif
