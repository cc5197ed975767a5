/*
 * storage-bench: how close a synced append comes to the raw disk, and how
 * long reopening a large log takes. Prints figures; asserts nothing.
 *
 *   storage-bench [--bytes N] [--dir PATH] [--batch-bytes N] [--record-bytes N]
 *                 [--sync-every N] [--preallocate-bytes N] [--index-sync-lag-bytes N]
 *
 * Appends --bytes (default 1 GiB) as entries of --batch-bytes (64 KiB) each
 * holding batch/record records (1 KiB each), calling storage_sync after every
 * entry, and prints MB/s next to what `dd` achieves in the same directory in
 * the same run: once with conv=fdatasync (one sync at the end: the ceiling)
 * and once with oflag=dsync (a sync per 64 KiB block, like our per-batch
 * sync). --sync-every N syncs after every N entries instead, to show what a
 * group commit over N batches buys. --preallocate-bytes and
 * --index-sync-lag-bytes set those storage options (defaults: storage's), to
 * compare. Then closes the log and times storage_open.
 */
#include "common/clock.h"
#include "common/error.h"
#include "common/mem.h"
#include "storage/storage.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct bench_options {
    uint64_t total_bytes;
    uint64_t batch_bytes;
    uint64_t record_bytes;
    uint64_t sync_every_count;
    uint64_t preallocate_bytes;
    uint64_t index_sync_lag_bytes;
    const char *dir;
};

static int remove_item(const char *path, const struct stat *status, int type, struct FTW *walk)
{
    (void)status;
    (void)type;
    (void)walk;
    return remove(path);
}

static double seconds_since(uint64_t start_ns)
{
    return (double)(ether_clock_monotonic_ns() - start_ns) / 1e9;
}

/* Runs dd with `flags`, writing total_bytes in batch_bytes blocks; returns MB/s or -1. */
static double run_dd(const struct bench_options *options, const char *flags)
{
    char command[1024];
    snprintf(command, sizeof command,
             "dd if=/dev/zero of='%s/dd.tmp' bs=%" PRIu64 " count=%" PRIu64 " %s 2>/dev/null",
             options->dir, options->batch_bytes, options->total_bytes / options->batch_bytes,
             flags);
    uint64_t start_ns = ether_clock_monotonic_ns();
    int status = system(command);
    double seconds = seconds_since(start_ns);
    char path[600];
    snprintf(path, sizeof path, "%s/dd.tmp", options->dir);
    remove(path);
    if (status != 0) {
        fprintf(stderr, "storage-bench: '%s' failed (status %d)\n", command, status);
        return -1;
    }
    return (double)options->total_bytes / seconds / 1e6;
}

static int parse_options(int argc, char **argv, struct bench_options *options)
{
    options->total_bytes = UINT64_C(1) << 30;
    options->batch_bytes = 64 * 1024;
    options->record_bytes = 1024;
    options->sync_every_count = 1;
    struct storage_options defaults;
    storage_options_init(&defaults);
    options->preallocate_bytes = defaults.preallocate_bytes;
    options->index_sync_lag_bytes = defaults.index_sync_lag_bytes_max;
    options->dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--bytes") == 0) {
            options->total_bytes = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0) {
            options->dir = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--batch-bytes") == 0) {
            options->batch_bytes = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--record-bytes") == 0) {
            options->record_bytes = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--sync-every") == 0) {
            options->sync_every_count = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--preallocate-bytes") == 0) {
            options->preallocate_bytes = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--index-sync-lag-bytes") == 0) {
            options->index_sync_lag_bytes = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: storage-bench [--bytes N] [--dir PATH] [--batch-bytes N] "
                            "[--record-bytes N] [--sync-every N] [--preallocate-bytes N] "
                            "[--index-sync-lag-bytes N]\n");
            return 2;
        }
    }
    if (options->batch_bytes == 0 || options->record_bytes == 0 || options->sync_every_count == 0 ||
        options->batch_bytes > (16u << 20) || options->total_bytes < options->batch_bytes) {
        fprintf(stderr, "storage-bench: need 0 < record <= batch <= 16 MiB <= ... <= bytes\n");
        return 2;
    }
    return 0;
}

/* Appends and syncs every batch; returns MB/s of payload or -1. */
static double run_appends(const struct bench_options *options, const char *log_dir)
{
    struct storage_options storage_options;
    storage_options_init(&storage_options);
    storage_options.preallocate_bytes = options->preallocate_bytes;
    storage_options.index_sync_lag_bytes_max = options->index_sync_lag_bytes;
    struct storage_log *log = NULL;
    char errbuf[256];
    int result = storage_open(log_dir, &storage_options, &log, errbuf, sizeof errbuf);
    if (result != ETHER_OK) {
        fprintf(stderr, "storage-bench: open: %s: %s\n", ether_error_name(result), errbuf);
        return -1;
    }
    uint8_t *payload = ether_malloc(options->batch_bytes);
    for (uint64_t i = 0; i < options->batch_bytes; i++) {
        payload[i] = (uint8_t)(i * 2654435761u >> 13);
    }
    uint64_t batches = options->total_bytes / options->batch_bytes;
    uint64_t start_ns = ether_clock_monotonic_ns();
    for (uint64_t i = 0; i < batches && result == ETHER_OK; i++) {
        struct storage_entry entry = {
            .index = i + 1,
            .term = 1,
            .type = STORAGE_ENTRY_DATA,
            .record_count = (uint32_t)(options->batch_bytes / options->record_bytes),
            .max_timestamp_ms = (int64_t)i,
            .payload = payload,
            .payload_bytes = (uint32_t)options->batch_bytes,
        };
        if (entry.record_count == 0) {
            entry.record_count = 1;
        }
        result = storage_append(log, &entry, 1);
        if (result == ETHER_OK && ((i + 1) % options->sync_every_count == 0 || i + 1 == batches)) {
            result = storage_sync(log);
        }
    }
    double seconds = seconds_since(start_ns);
    ether_free(payload);
    storage_close(log);
    if (result != ETHER_OK) {
        fprintf(stderr, "storage-bench: append/sync: %s\n", ether_error_name(result));
        return -1;
    }
    return (double)(batches * options->batch_bytes) / seconds / 1e6;
}

int main(int argc, char **argv)
{
    struct bench_options options;
    int status = parse_options(argc, argv, &options);
    if (status != 0) {
        return status;
    }
    char root[] = "/tmp/ether-storage-bench-XXXXXX";
    if (options.dir == NULL) {
        if (mkdtemp(root) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        options.dir = root;
    }
    char log_dir[600];
    snprintf(log_dir, sizeof log_dir, "%s/bench-log", options.dir);
    nftw(log_dir, remove_item, 16, FTW_DEPTH | FTW_PHYS);

    printf("storage-bench: %" PRIu64 " MiB as %" PRIu64 " KiB entries of %" PRIu64
           "-byte records, storage_sync after every %" PRIu64 " entries, in %s\n",
           options.total_bytes >> 20, options.batch_bytes >> 10, options.record_bytes,
           options.sync_every_count, options.dir);
    double dd_fdatasync = run_dd(&options, "conv=fdatasync");
    double storage_rate = run_appends(&options, log_dir);
    double dd_dsync = run_dd(&options, "oflag=dsync");
    if (dd_fdatasync < 0 || storage_rate < 0 || dd_dsync < 0) {
        return 1;
    }
    printf("  dd conv=fdatasync (one sync at the end)  %8.1f MB/s\n", dd_fdatasync);
    printf("  dd oflag=dsync (a sync per block)        %8.1f MB/s\n", dd_dsync);
    printf("  storage append + sync                    %8.1f MB/s\n", storage_rate);
    printf("  ratio to dd conv=fdatasync               %8.2f (target >= 0.80)\n",
           storage_rate / dd_fdatasync);
    printf("  ratio to dd oflag=dsync                  %8.2f\n", storage_rate / dd_dsync);

    /* Reopen: lock, list, open segments, recover the tail of the last one. */
    struct storage_options storage_options;
    storage_options_init(&storage_options);
    struct storage_log *log = NULL;
    char errbuf[256];
    uint64_t start_ns = ether_clock_monotonic_ns();
    int result = storage_open(log_dir, &storage_options, &log, errbuf, sizeof errbuf);
    double reopen_ms = seconds_since(start_ns) * 1e3;
    if (result != ETHER_OK) {
        fprintf(stderr, "storage-bench: reopen: %s: %s\n", ether_error_name(result), errbuf);
        return 1;
    }
    struct storage_bounds bounds;
    storage_get_bounds(log, &bounds);
    storage_close(log);
    printf("  reopen of %" PRIu64 " MiB in %" PRIu64 " segments  %8.2f ms (target < 50 ms)\n",
           bounds.size_bytes >> 20, bounds.segments_count, reopen_ms);

    nftw(log_dir, remove_item, 16, FTW_DEPTH | FTW_PHYS);
    if (options.dir == root) {
        rmdir(root);
    }
    return 0;
}
