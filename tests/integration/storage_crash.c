/*
 * storage_crash: kills a writer with SIGKILL at random moments and checks that
 * every entry it reported as synced reads back byte-identical after reopen.
 *
 *   storage_crash [--iterations N] [--seed S] [--dir PATH] [--kill-ms-max MS]
 *
 * Each iteration forks a child that opens the log, appends batches of entries
 * whose payload, size, type, term and timestamp are derived from the index
 * alone, makes each batch durable (storage_sync, or storage_sync_begin / run /
 * end on every other batch) with segment files preallocated in small steps,
 * and then writes the synced last index to a pipe. The parent kills the child after a seeded random
 * delay (sometimes 0, so the kill lands during open and recovery), drains the pipe, reopens the log
 * and checks: last_index >= every reported index, every entry from the first reads back identical
 * with the right term and offsets, and the frames add up exactly to the segment files (the log ends
 * on a whole entry). The seed is printed at start and on failure; pass it back to replay the same
 * kill schedule (the kill moments, not the kernel's interleaving).
 */
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/storage.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    PAYLOAD_BYTES_MAX = 3000,
    BATCH_ENTRIES_MAX = 8,
    READ_BYTES_MAX = 64 * 1024,
};

struct options {
    uint64_t iterations;
    uint64_t seed;
    const char *dir;
    uint64_t kill_ms_max;
};

/* ---- the deterministic content of entry `index` ---- */

static bool entry_is_control(uint64_t index)
{
    return index % 17 == 0;
}

static uint32_t entry_payload_bytes(uint64_t index)
{
    if (entry_is_control(index)) {
        return index % 2 == 0 ? 0 : 12;
    }
    return (uint32_t)(1 + (index * 2654435761u) % PAYLOAD_BYTES_MAX);
}

static uint8_t entry_payload_byte(uint64_t index, size_t i)
{
    uint64_t mixed = (index + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)i * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(mixed >> 56);
}

static uint32_t entry_record_count(uint64_t index)
{
    return entry_is_control(index) ? 0 : (uint32_t)(index % 7 + 1);
}

static uint64_t entry_term(uint64_t index)
{
    return 1 + index / 500;
}

static void make_entry(uint64_t index, uint8_t *payload, struct storage_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    entry->index = index;
    entry->term = entry_term(index);
    entry->type = entry_is_control(index) ? STORAGE_ENTRY_NOOP : STORAGE_ENTRY_DATA;
    entry->record_count = entry_record_count(index);
    entry->max_timestamp_ms = (int64_t)(index * 10);
    entry->payload_bytes = entry_payload_bytes(index);
    for (size_t i = 0; i < entry->payload_bytes; i++) {
        payload[i] = entry_payload_byte(index, i);
    }
    entry->payload = payload;
}

/* ---- helpers ---- */

static uint64_t prng_next(uint64_t *state)
{
    /* xorshift64* */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void log_options(struct storage_options *options)
{
    storage_options_init(options);
    options->segment_bytes_max = 256 * 1024;
    options->index_interval_bytes = 1024;
    options->index_sync_lag_bytes_max = 64 * 1024;
    /* Small steps, so kills land in preallocated zeros and on their edges. */
    options->preallocate_bytes = 16 * 1024;
}

/* storage_sync on even batches; begin / run / end (as the broker's two threads do) on odd ones. */
static int sync_batch(struct storage_log *log, uint64_t batch_number, uint64_t *durable_index)
{
    if (batch_number % 2 == 0) {
        struct storage_bounds bounds;
        storage_get_bounds(log, &bounds);
        *durable_index = bounds.last_index;
        return storage_sync(log);
    }
    struct storage_sync_ticket ticket;
    int result = storage_sync_begin(log, &ticket);
    if (result != ETHER_OK) {
        return result;
    }
    result = storage_sync_run(&ticket);
    result = storage_sync_end(log, &ticket, result);
    *durable_index = ticket.durable_index;
    return result;
}

static int remove_item(const char *path, const struct stat *status, int type, struct FTW *walk)
{
    (void)status;
    (void)type;
    (void)walk;
    return remove(path);
}

/* ---- the child: append, sync, report, forever ---- */

static void run_writer(const char *dir, int report_fd, uint64_t seed)
{
    struct storage_options options;
    log_options(&options);
    struct storage_log *log = NULL;
    char errbuf[256];
    int result = storage_open(dir, &options, &log, errbuf, sizeof errbuf);
    if (result != ETHER_OK) {
        fprintf(stderr, "storage_crash child: open: %s: %s\n", ether_error_name(result), errbuf);
        _exit(2);
    }
    struct storage_bounds bounds;
    storage_get_bounds(log, &bounds);
    uint64_t next = bounds.last_index + 1;
    uint64_t state = seed | 1;
    uint8_t *payloads = ether_malloc((size_t)BATCH_ENTRIES_MAX * PAYLOAD_BYTES_MAX);
    struct storage_entry entries[BATCH_ENTRIES_MAX];
    for (uint64_t batch_number = 0;; batch_number++) {
        size_t count = 1 + (size_t)(prng_next(&state) % BATCH_ENTRIES_MAX);
        for (size_t i = 0; i < count; i++) {
            make_entry(next + i, payloads + i * PAYLOAD_BYTES_MAX, &entries[i]);
        }
        result = storage_append(log, entries, count);
        uint64_t synced = 0;
        if (result == ETHER_OK) {
            result = sync_batch(log, batch_number, &synced);
        }
        if (result != ETHER_OK) {
            fprintf(stderr, "storage_crash child: append/sync at %" PRIu64 ": %s\n", next,
                    ether_error_name(result));
            _exit(3);
        }
        next += count;
        if (synced != next - 1) {
            fprintf(stderr, "storage_crash child: synced %" PRIu64 " of %" PRIu64 "\n", synced,
                    next - 1);
            _exit(5);
        }
        if (write(report_fd, &synced, sizeof synced) != (ssize_t)sizeof synced) {
            _exit(4);
        }
    }
}

/* ---- the parent: verify after each kill ---- */

static int verify(const char *dir, uint64_t synced_index_max, uint64_t *last_index_out,
                  char *reason, size_t reason_size)
{
    struct storage_options options;
    log_options(&options);
    struct ether_logger logger;
    ether_logger_init_stream(&logger, ETHER_LOG_WARN, stderr, "verify");
    options.logger = &logger;
    struct storage_log *log = NULL;
    char errbuf[256];
    int result = storage_open(dir, &options, &log, errbuf, sizeof errbuf);
    if (result != ETHER_OK) {
        snprintf(reason, reason_size, "reopen failed: %s: %s", ether_error_name(result), errbuf);
        return 1;
    }
    struct storage_bounds bounds;
    storage_get_bounds(log, &bounds);
    int failed = 0;
    if (bounds.last_index < synced_index_max) {
        snprintf(reason, reason_size, "last index %" PRIu64 " < reported synced index %" PRIu64,
                 bounds.last_index, synced_index_max);
        failed = 1;
    }
    struct storage_batch batch;
    storage_batch_init(&batch);
    uint8_t expected[PAYLOAD_BYTES_MAX];
    uint64_t offset = 0;
    uint64_t frame_bytes_total = 0;
    uint64_t index = bounds.first_index;
    while (!failed && index <= bounds.last_index) {
        result = storage_read(log, index, READ_BYTES_MAX, &batch);
        if (result != ETHER_OK) {
            snprintf(reason, reason_size, "read at %" PRIu64 ": %s", index,
                     ether_error_name(result));
            failed = 1;
            break;
        }
        for (size_t i = 0; i < batch.entries_count && !failed; i++, index++) {
            const struct storage_entry *entry = &batch.entries[i];
            struct storage_entry want;
            make_entry(index, expected, &want);
            if (entry->index != index || entry->term != want.term || entry->type != want.type ||
                entry->record_count != want.record_count || entry->base_offset != offset ||
                entry->max_timestamp_ms != want.max_timestamp_ms ||
                entry->payload_bytes != want.payload_bytes ||
                memcmp(entry->payload, expected, want.payload_bytes) != 0) {
                snprintf(reason, reason_size, "entry %" PRIu64 " differs from what was written",
                         index);
                failed = 1;
            }
            offset += want.record_count;
            frame_bytes_total += STORAGE_FRAME_HEADER_BYTES + want.payload_bytes;
        }
    }
    if (!failed && (bounds.next_offset != offset || frame_bytes_total != bounds.size_bytes)) {
        snprintf(reason, reason_size,
                 "log does not end on a whole entry: frames %" PRIu64 " bytes, files %" PRIu64
                 " bytes; next_offset %" PRIu64 " vs %" PRIu64,
                 frame_bytes_total, bounds.size_bytes, bounds.next_offset, offset);
        failed = 1;
    }
    storage_batch_free(&batch);
    storage_close(log);
    *last_index_out = bounds.last_index;
    return failed;
}

/* Runs the child for a random while, kills it, returns the highest index it reported. */
static int run_iteration(const char *dir, uint64_t *prng, uint64_t kill_ms_max,
                         uint64_t *synced_index_max, char *reason, size_t reason_size)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(reason, reason_size, "pipe: %s", strerror(errno));
        return 1;
    }
    uint64_t child_seed = prng_next(prng);
    /* One kill in eight lands immediately: during open and tail recovery. */
    uint64_t kill_ms = prng_next(prng) % 8 == 0 ? 0 : prng_next(prng) % (kill_ms_max + 1);
    pid_t child = fork();
    if (child < 0) {
        snprintf(reason, reason_size, "fork: %s", strerror(errno));
        return 1;
    }
    if (child == 0) {
        close(fds[0]);
        run_writer(dir, fds[1], child_seed);
        _exit(0);
    }
    close(fds[1]);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool killed = false;
    bool child_gone = false;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed_ms =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (!killed && elapsed_ms >= (int64_t)kill_ms) {
            kill(child, SIGKILL);
            killed = true;
        }
        struct pollfd poll_fd = {.fd = fds[0], .events = POLLIN};
        int timeout_ms = killed ? 1000 : (int)((int64_t)kill_ms - elapsed_ms);
        int ready = poll(&poll_fd, 1, timeout_ms < 0 ? 0 : timeout_ms);
        if (ready < 0 && errno != EINTR) {
            break;
        }
        if (ready <= 0) {
            continue;
        }
        uint64_t reported = 0;
        ssize_t got = read(fds[0], &reported, sizeof reported);
        if (got == 0) {
            child_gone = true;
            break; /* the child is dead and the pipe is drained */
        }
        if (got == (ssize_t)sizeof reported && reported > *synced_index_max) {
            *synced_index_max = reported;
        }
    }
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    if (!child_gone || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        snprintf(reason, reason_size, "the writer ended by itself (status %d)", status);
        return 1;
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct options *options)
{
    options->iterations = 20;
    options->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    options->dir = NULL;
    options->kill_ms_max = 40;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--iterations") == 0) {
            options->iterations = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
            options->seed = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0) {
            options->dir = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--kill-ms-max") == 0) {
            options->kill_ms_max = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: storage_crash [--iterations N] [--seed S] [--dir PATH] "
                            "[--kill-ms-max MS]\n");
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options options;
    int status = parse_options(argc, argv, &options);
    if (status != 0) {
        return status;
    }
    char root[] = "/tmp/ether-storage-crash-XXXXXX";
    const char *base = options.dir;
    if (base == NULL) {
        if (mkdtemp(root) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        base = root;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/log", base);
    printf("storage_crash: seed %" PRIu64 ", %" PRIu64 " iterations, dir %s\n", options.seed,
           options.iterations, dir);
    fflush(stdout);

    uint64_t prng = options.seed * 2 + 1;
    uint64_t synced_index_max = 0;
    uint64_t last_index = 0;
    char reason[512] = "";
    int failed = 0;
    uint64_t iteration = 0;
    for (; iteration < options.iterations && !failed; iteration++) {
        failed = run_iteration(dir, &prng, options.kill_ms_max, &synced_index_max, reason,
                               sizeof reason);
        if (!failed) {
            failed = verify(dir, synced_index_max, &last_index, reason, sizeof reason);
        }
    }
    if (failed) {
        printf("storage_crash: FAILED at iteration %" PRIu64 " (seed %" PRIu64 "): %s\n",
               iteration - 1, options.seed, reason);
        printf("storage_crash: the log is kept in %s\n", dir);
        return 1;
    }
    printf("storage_crash: ok: %" PRIu64 " kills, %" PRIu64
           " entries verified, highest reported synced index %" PRIu64 "\n",
           options.iterations, last_index, synced_index_max);
    if (options.dir == NULL) {
        nftw(root, remove_item, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}
