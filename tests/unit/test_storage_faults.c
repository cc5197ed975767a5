/*
 * Unit tests for storage/ under injected faults (through struct storage_io):
 * a full disk, short writes, failed fsyncs; and the directory lock.
 */
#include "test_storage_fixture.h"

#include <sys/wait.h>

static void test_enospc_on_append_cuts_the_partial_write_and_keeps_the_log_readable(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.segment_bytes_max = 1 << 20;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 20, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    struct storage_bounds before = bounds_of(fixture->log);
    char path[256];
    segment_file_path(fixture, 1, ".log", path, sizeof path);
    uint64_t file_bytes_before = file_size_of(path);

    fixture->fault.write_budget_bytes = 300; /* the disk fills up in the middle of the batch */
    assert_int_equal(append_range(fixture->log, 21, 10, 1), ETHER_ERR_NO_SPACE);
    struct storage_bounds after = bounds_of(fixture->log);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(file_size_of(path), file_bytes_before);
    assert_log_holds(fixture, 1, 20);

    /* Once space is back the same entries go in, and everything reopens cleanly. */
    fixture->fault.write_budget_bytes = UINT64_MAX;
    assert_int_equal(append_range(fixture->log, 21, 10, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 30);
    assert_int_equal(fixture->lines.warn_count, 0);
}

static void test_enospc_after_a_roll_removes_the_new_segment(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    struct storage_bounds before = bounds_of(fixture->log);
    assert_int_equal(before.segments_count, 1);
    /* Enough room for the rest of segment 1 and its index, not for the next segment. */
    fixture->fault.write_budget_bytes = 4096 + 1024;
    assert_int_equal(append_range(fixture->log, 11, 100, 1), ETHER_ERR_NO_SPACE);
    assert_true(fixture->fault.pwritev_calls > 3);
    struct storage_bounds after = bounds_of(fixture->log);
    assert_memory_equal(&before, &after, sizeof before);
    DIR *dir = opendir(fixture->dir);
    int log_files = 0;
    struct dirent *item;
    while ((item = readdir(dir)) != NULL) {
        log_files += strstr(item->d_name, ".log") != NULL;
    }
    closedir(dir);
    assert_int_equal(log_files, 1);
    fixture->fault.write_budget_bytes = UINT64_MAX;
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 10);
    assert_int_equal(append_range(fixture->log, 11, 100, 1), ETHER_OK);
    assert_log_holds(fixture, 1, 110);
}

static void test_enospc_on_snapshot_and_hard_state_leaves_the_old_files(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(storage_hard_state_save(fixture->log, 3, 2), ETHER_OK);
    fixture->fault.write_budget_bytes = 0;
    assert_int_equal(storage_hard_state_save(fixture->log, 4, 1), ETHER_ERR_NO_SPACE);
    uint64_t term = 0;
    uint64_t vote = 0;
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_OK);
    assert_int_equal(term, 3);
    assert_int_equal(vote, 2);
    struct storage_snapshot_meta meta = {.last_included_index = 5, .last_included_term = 1};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(fixture->log, &meta, &writer), ETHER_OK);
    assert_int_equal(storage_snapshot_write(writer, 0, "abc", 3), ETHER_ERR_NO_SPACE);
    storage_snapshot_abort(writer);
    struct storage_snapshot_reader *reader = NULL;
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_NOT_FOUND);
}

static void test_short_writes_are_continued_until_complete(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    fixture->fault.short_write_bytes = 7;
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    assert_true(fixture->fault.pwritev_calls > 1000);
    assert_int_equal(storage_hard_state_save(fixture->log, 5, 6), ETHER_OK);
    struct storage_snapshot_meta meta = {.last_included_index = 9, .last_included_term = 2};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(fixture->log, &meta, &writer), ETHER_OK);
    assert_int_equal(storage_snapshot_write(writer, 0, "0123456789abcdef", 16), ETHER_OK);
    assert_int_equal(storage_snapshot_commit(writer), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    fixture->fault.short_write_bytes = 0;
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 100);
    uint64_t term = 0;
    uint64_t vote = 0;
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_OK);
    assert_int_equal(term, 5);
    struct storage_snapshot_reader *reader = NULL;
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_OK);
    assert_int_equal(meta.data_bytes, 16);
    storage_snapshot_close(reader);
}

static void assert_every_call_is_untrusted(struct fixture *fixture)
{
    struct storage_bounds bounds;
    uint64_t value = 0;
    uint64_t other = 0;
    assert_int_equal(storage_get_bounds(fixture->log, &bounds), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(append_range(fixture->log, 11, 1, 1), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_sync(fixture->log), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_read(fixture->log, 1, 10, &fixture->batch), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_term_at(fixture->log, 1, &value), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_find_offset(fixture->log, 0, &value), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_find_timestamp(fixture->log, 0, &value), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_truncate_suffix(fixture->log, 1), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_remove_prefix(fixture->log, 5), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_reset(fixture->log, 5, 5), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_hard_state_save(fixture->log, 1, 1), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(storage_hard_state_load(fixture->log, &value, &other),
                     ETHER_ERR_LOG_UNTRUSTED);
    struct storage_retention retention = {.retention_bytes = 1};
    assert_int_equal(storage_apply_retention(fixture->log, &retention, 0, 1, NULL),
                     ETHER_ERR_LOG_UNTRUSTED);
}

static void test_failed_fsync_makes_the_log_untrusted_until_reopened(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 5, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    assert_int_equal(append_range(fixture->log, 6, 5, 1), ETHER_OK);
    fixture->fault.fdatasync_errno = EIO;
    assert_int_equal(storage_sync(fixture->log), ETHER_ERR_LOG_UNTRUSTED);
    assert_int_equal(fixture->lines.error_count, 1);
    /* It never retries the fsync, even once the disk "works" again. */
    fixture->fault.fdatasync_errno = 0;
    int calls = fixture->fault.fdatasync_calls;
    assert_every_call_is_untrusted(fixture);
    assert_int_equal(fixture->fault.fdatasync_calls, calls);
    /* Reopening gives a trusted log with at least everything synced before the failure. */
    fixture_reopen(fixture);
    assert_true(bounds_of(fixture->log).last_index >= 5);
    assert_log_holds(fixture, 1, bounds_of(fixture->log).last_index);
}

static void test_failed_fsync_while_sealing_a_segment_makes_the_log_untrusted(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    fixture->fault.fdatasync_errno = EIO;
    assert_int_equal(append_range(fixture->log, 11, 100, 1), ETHER_ERR_LOG_UNTRUSTED);
    fixture->fault.fdatasync_errno = 0;
    assert_every_call_is_untrusted(fixture);
    fixture_reopen(fixture);
    assert_true(bounds_of(fixture->log).last_index >= 10);
}

static void test_failed_fsync_of_hard_state_makes_the_log_untrusted(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    fixture->fault.fdatasync_errno = EIO;
    assert_int_equal(storage_hard_state_save(fixture->log, 2, 1), ETHER_ERR_LOG_UNTRUSTED);
    fixture->fault.fdatasync_errno = 0;
    assert_every_call_is_untrusted(fixture);
}

static void test_second_open_of_the_same_directory_is_locked(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    struct storage_log *second = NULL;
    assert_int_equal(storage_open(fixture->dir, &fixture->options, &second, fixture->errbuf,
                                  sizeof fixture->errbuf),
                     ETHER_ERR_LOCKED);
    assert_null(second);
    assert_non_null(strstr(fixture->errbuf, "locked"));

    /* Another process is refused too. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct storage_log *log = NULL;
        int result = storage_open(fixture->dir, &fixture->options, &log, NULL, 0);
        _exit(result == ETHER_ERR_LOCKED ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Closing releases the lock. */
    storage_close(fixture->log);
    fixture->log = NULL;
    assert_int_equal(storage_open(fixture->dir, &fixture->options, &second, NULL, 0), ETHER_OK);
    storage_close(second);
}

static void test_enospc_with_preallocation_cuts_the_file_back_to_its_frames(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.segment_bytes_max = 1 << 20;
    fixture->options.preallocate_bytes = 64 * 1024;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 20, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    struct storage_bounds before = bounds_of(fixture->log);
    char path[256];
    segment_file_path(fixture, 1, ".log", path, sizeof path);
    assert_int_equal(file_size_of(path), 64 * 1024);

    fixture->fault.write_budget_bytes = 300;
    assert_int_equal(append_range(fixture->log, 21, 10, 1), ETHER_ERR_NO_SPACE);
    struct storage_bounds after = bounds_of(fixture->log);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(file_size_of(path), before.size_bytes); /* no partial frame is left */

    fixture->fault.write_budget_bytes = UINT64_MAX;
    assert_int_equal(append_range(fixture->log, 21, 10, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 30);
    assert_int_equal(fixture->lines.warn_count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        TEST(test_enospc_on_append_cuts_the_partial_write_and_keeps_the_log_readable),
        TEST(test_enospc_after_a_roll_removes_the_new_segment),
        TEST(test_enospc_on_snapshot_and_hard_state_leaves_the_old_files),
        TEST(test_short_writes_are_continued_until_complete),
        TEST(test_failed_fsync_makes_the_log_untrusted_until_reopened),
        TEST(test_failed_fsync_while_sealing_a_segment_makes_the_log_untrusted),
        TEST(test_failed_fsync_of_hard_state_makes_the_log_untrusted),
        TEST(test_second_open_of_the_same_directory_is_locked),
        TEST(test_enospc_with_preallocation_cuts_the_file_back_to_its_frames),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
