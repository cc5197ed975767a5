/*
 * Unit tests for storage/ recovery and corruption: torn and corrupt tails are
 * cut exactly at the first bad frame when the log is opened; damage inside
 * older data is reported as ETHER_ERR_CORRUPT when read, never returned.
 */
#include "test_storage_fixture.h"

#include <sys/wait.h>

/* Position of entry `index` in segment 1 when entries 1.. were appended with append_range. */
static uint64_t position_of_entry(uint64_t index)
{
    uint64_t position = 0;
    for (uint64_t i = 1; i < index; i++) {
        position += STORAGE_FRAME_HEADER_BYTES + payload_size_for(i);
    }
    return position;
}

static void flip_byte(const char *path, uint64_t position)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte = 0;
    assert_int_equal(pread(fd, &byte, 1, (off_t)position), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)position), 1);
    close(fd);
}

static void cut_file(const char *path, uint64_t size_bytes)
{
    assert_int_equal(truncate(path, (off_t)size_bytes), 0);
}

static void append_zeros(const char *path, size_t count)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    uint8_t zeros[512] = {0};
    assert_true(count <= sizeof zeros);
    assert_int_equal(write(fd, zeros, count), (ssize_t)count);
    close(fd);
}

/* A log of `count` entries in one segment, closed; returns the data file path. */
static void make_single_segment_log(struct fixture *fixture, uint64_t count, char *path,
                                    size_t path_size)
{
    fixture->options.segment_bytes_max = 1 << 20;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, count, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;
    segment_file_path(fixture, 1, ".log", path, path_size);
    assert_int_equal(file_size_of(path), position_of_entry(count + 1));
}

static void test_torn_last_frame_is_cut_on_open_with_a_warning(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    make_single_segment_log(fixture, 50, path, sizeof path);
    cut_file(path, position_of_entry(51) - 10);
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 49);
    assert_int_equal(file_size_of(path), position_of_entry(50));
    assert_int_equal(fixture->lines.warn_count, 1);
    char expected[128];
    snprintf(expected, sizeof expected, "cut %llu bytes at position %llu",
             (unsigned long long)(position_of_entry(51) - 10 - position_of_entry(50)),
             (unsigned long long)position_of_entry(50));
    assert_non_null(strstr(fixture->lines.last_warn, expected));
    assert_non_null(strstr(fixture->lines.last_warn, "00000000000000000001.log"));
    assert_log_holds(fixture, 1, 49);
    /* The cut log takes entry 50 again and reopens without complaint. */
    assert_int_equal(append_range(fixture->log, 50, 10, 1), ETHER_OK);
    fixture_reopen(fixture);
    assert_int_equal(fixture->lines.warn_count, 1);
    assert_log_holds(fixture, 1, 59);
}

static void test_torn_header_shorter_than_a_frame_header_is_cut(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    make_single_segment_log(fixture, 20, path, sizeof path);
    cut_file(path, position_of_entry(20) + 5);
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 19);
    assert_int_equal(file_size_of(path), position_of_entry(20));
    assert_int_equal(fixture->lines.warn_count, 1);
}

static void test_flipped_byte_in_last_segment_tail_cuts_exactly_there(void **state)
{
    struct fixture *fixture = *state;
    /* No index points: the whole last segment is its tail. */
    fixture->options.index_interval_bytes = 1 << 30;
    char path[256];
    make_single_segment_log(fixture, 60, path, sizeof path);
    uint64_t positions[] = {
        position_of_entry(30) + 3,                              /* crc */
        position_of_entry(30) + 4,                              /* length */
        position_of_entry(30) + 20,                             /* term */
        position_of_entry(30) + STORAGE_FRAME_HEADER_BYTES + 5, /* payload */
        position_of_entry(31) - 1,                              /* last payload byte */
    };
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        flip_byte(path, positions[i]);
        fixture_open(fixture);
        assert_int_equal(bounds_of(fixture->log).last_index, 29);
        assert_int_equal(file_size_of(path), position_of_entry(30));
        assert_log_holds(fixture, 1, 29);
        assert_int_equal(append_range(fixture->log, 30, 31, 1), ETHER_OK);
        assert_int_equal(storage_sync(fixture->log), ETHER_OK);
        storage_close(fixture->log);
        fixture->log = NULL;
    }
    assert_int_equal(fixture->lines.warn_count, 5);
}

static void test_flipped_byte_in_the_last_entry_is_cut_with_default_spacing(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    make_single_segment_log(fixture, 80, path, sizeof path);
    flip_byte(path, position_of_entry(80) + STORAGE_FRAME_HEADER_BYTES);
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 79);
    assert_int_equal(fixture->lines.warn_count, 1);
}

static void test_zeros_after_the_last_frame_are_the_end_of_the_log_not_corruption(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    make_single_segment_log(fixture, 30, path, sizeof path);
    append_zeros(path, 300);
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 30);
    assert_int_equal(bounds_of(fixture->log).size_bytes, position_of_entry(31));
    assert_int_equal(fixture->lines.warn_count, 0);
    assert_int_equal(file_size_of(path), position_of_entry(31) + 300); /* kept, not cut */
    /* Appends overwrite the zeros; a clean close leaves the file exact. */
    assert_int_equal(append_range(fixture->log, 31, 10, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 40);
    storage_close(fixture->log);
    fixture->log = NULL;
    assert_int_equal(file_size_of(path), position_of_entry(41));
    assert_int_equal(fixture->lines.warn_count, 0);
}

static void test_bytes_hidden_after_zeros_are_cut_at_the_end_of_the_frames(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    make_single_segment_log(fixture, 30, path, sizeof path);
    append_zeros(path, 300);
    flip_byte(path, position_of_entry(31) + 200); /* a later write survived, its header did not */
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 30);
    assert_int_equal(file_size_of(path), position_of_entry(31));
    assert_int_equal(fixture->lines.warn_count, 1);
    assert_non_null(strstr(fixture->lines.last_warn, "cut 300 bytes"));
    assert_log_holds(fixture, 1, 30);
}

/*
 * Appends entries 1..count with preallocation in a child that exits without
 * storage_close (a crash after the last sync), leaving the zeros in place.
 */
static void crash_after_preallocated_appends(struct fixture *fixture, uint64_t count, char *path,
                                             size_t path_size)
{
    fixture->options.segment_bytes_max = 1 << 20;
    fixture->options.preallocate_bytes = 4096;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct storage_log *log = NULL;
        int result = storage_open(fixture->dir, &fixture->options, &log, NULL, 0);
        if (result == ETHER_OK) {
            result = append_range(log, 1, count, 1);
        }
        if (result == ETHER_OK) {
            result = storage_sync(log);
        }
        _exit(result == ETHER_OK ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    segment_file_path(fixture, 1, ".log", path, path_size);
}

static void test_preallocated_tail_of_zeros_is_not_corruption(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    crash_after_preallocated_appends(fixture, 30, path, sizeof path);
    uint64_t file_bytes = file_size_of(path);
    assert_true(file_bytes > position_of_entry(31));
    assert_int_equal(file_bytes % 4096, 0);

    fixture_open(fixture);
    assert_int_equal(fixture->lines.warn_count, 0);
    assert_int_equal(bounds_of(fixture->log).last_index, 30);
    assert_int_equal(bounds_of(fixture->log).size_bytes, position_of_entry(31));
    assert_int_equal(file_size_of(path), file_bytes); /* nothing was cut */
    assert_log_holds(fixture, 1, 30);
    assert_int_equal(append_range(fixture->log, 31, 30, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    assert_int_equal(bounds_of(fixture->log).size_bytes, position_of_entry(61));
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 60);
    storage_close(fixture->log);
    fixture->log = NULL;
    assert_int_equal(file_size_of(path), position_of_entry(61)); /* close cut the zeros */
    assert_int_equal(fixture->lines.warn_count, 0);
}

static void test_torn_frame_followed_by_zeros_is_cut_at_the_torn_frame(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    crash_after_preallocated_appends(fixture, 30, path, sizeof path);
    uint64_t file_bytes = file_size_of(path);
    /* The last frame's second half never reached the disk: zeros, then the preallocation. */
    uint64_t torn_at = position_of_entry(30) + STORAGE_FRAME_HEADER_BYTES + 10;
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t zeros[512] = {0};
    assert_true(position_of_entry(31) - torn_at <= sizeof zeros);
    assert_int_equal(pwrite(fd, zeros, position_of_entry(31) - torn_at, (off_t)torn_at),
                     (ssize_t)(position_of_entry(31) - torn_at));
    close(fd);

    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 29);
    assert_int_equal(file_size_of(path), position_of_entry(30));
    assert_int_equal(fixture->lines.warn_count, 1);
    char expected[128];
    snprintf(expected, sizeof expected, "cut %llu bytes at position %llu",
             (unsigned long long)(file_bytes - position_of_entry(30)),
             (unsigned long long)position_of_entry(30));
    assert_non_null(strstr(fixture->lines.last_warn, expected));
    assert_log_holds(fixture, 1, 29);
    assert_int_equal(append_range(fixture->log, 30, 10, 1), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 39);
    assert_int_equal(fixture->lines.warn_count, 1);
}

static void test_index_points_past_a_shortened_log_are_dropped(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    char index_path[256];
    make_single_segment_log(fixture, 100, path, sizeof path);
    segment_file_path(fixture, 1, ".index", index_path, sizeof index_path);
    uint64_t index_bytes_before = file_size_of(index_path);
    /* The data lost its last 40 entries (never synced, say) but the index kept its points. */
    cut_file(path, position_of_entry(61));
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 60);
    assert_true(file_size_of(index_path) < index_bytes_before);
    assert_log_holds(fixture, 1, 60);
    assert_int_equal(append_range(fixture->log, 61, 40, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    /* Appending the same entries again rebuilds exactly the same index. */
    assert_int_equal(file_size_of(index_path), index_bytes_before);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 100);
}

static void test_lost_index_points_are_rebuilt_from_the_last_segment(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    char index_path[256];
    make_single_segment_log(fixture, 100, path, sizeof path);
    segment_file_path(fixture, 1, ".index", index_path, sizeof index_path);
    uint64_t index_bytes_before = file_size_of(index_path);
    assert_true(index_bytes_before > STORAGE_INDEX_HEADER_BYTES + STORAGE_INDEX_POINT_BYTES);
    cut_file(index_path, STORAGE_INDEX_HEADER_BYTES + STORAGE_INDEX_POINT_BYTES + 7);
    fixture_open(fixture);
    assert_int_equal(file_size_of(index_path), index_bytes_before);
    assert_int_equal(bounds_of(fixture->log).last_index, 100);
    assert_log_holds(fixture, 1, 100);
}

static void read_whole_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    *data = ether_malloc(1 << 20);
    *size = fread(*data, 1, 1 << 20, file);
    fclose(file);
}

static void test_stale_index_points_are_rewritten_from_the_first_unconfirmed_one(void **state)
{
    struct fixture *fixture = *state;
    char path[256];
    char index_path[256];
    make_single_segment_log(fixture, 100, path, sizeof path);
    segment_file_path(fixture, 1, ".index", index_path, sizeof index_path);
    uint8_t *old_index = NULL;
    size_t old_index_bytes = 0;
    read_whole_file(index_path, &old_index, &old_index_bytes);

    /* Entries 61..100 are written again with other sizes, so their frames move. */
    fixture_open(fixture);
    assert_int_equal(storage_truncate_suffix(fixture->log, 60), ETHER_OK);
    uint8_t payload[300] = {0};
    for (uint64_t index = 61; index <= 100; index++) {
        struct storage_entry entry = {.index = index,
                                      .term = 2,
                                      .type = STORAGE_ENTRY_DATA,
                                      .record_count = 1,
                                      .payload = payload,
                                      .payload_bytes = (uint32_t)(index % 2 == 0 ? 290 : 11)};
        assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_OK);
    }
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;

    /* The index file goes back to its old points, which now name the wrong frames. */
    FILE *file = fopen(index_path, "wb");
    assert_int_equal(fwrite(old_index, 1, old_index_bytes, file), old_index_bytes);
    fclose(file);
    ether_free(old_index);

    /* Reopen with a small segment size so the next append seals the segment. */
    fixture->options.segment_bytes_max = 4096;
    fixture_open(fixture);
    assert_int_equal(bounds_of(fixture->log).last_index, 100);
    struct storage_entry entry = {.index = 101, .term = 2, .type = STORAGE_ENTRY_NOOP};
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_OK);
    assert_int_equal(bounds_of(fixture->log).segments_count, 2);
    fixture_reopen(fixture); /* segment 1 is sealed: its points are read from disk */
    for (uint64_t index = 1; index <= 100; index++) {
        assert_int_equal(storage_read(fixture->log, index, 1, &fixture->batch), ETHER_OK);
        assert_int_equal(fixture->batch.entries[0].index, index);
        if (index <= 60) {
            assert_entry_matches(&fixture->batch.entries[0], index);
        } else {
            assert_int_equal(fixture->batch.entries[0].payload_bytes, index % 2 == 0 ? 290 : 11);
        }
        uint64_t term = 0;
        assert_int_equal(storage_term_at(fixture->log, index, &term), ETHER_OK);
        assert_int_equal(term, index <= 60 ? 1 : 2);
    }
}

static void test_corrupt_index_point_in_a_sealed_segment_only_slows_lookups(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;
    char index_path[256];
    segment_file_path(fixture, 1, ".index", index_path, sizeof index_path);
    flip_byte(index_path, STORAGE_INDEX_HEADER_BYTES + STORAGE_INDEX_POINT_BYTES + 2);
    fixture_open(fixture);
    assert_log_holds(fixture, 1, 200);
    assert_int_equal(fixture->lines.warn_count, 1);
    assert_non_null(strstr(fixture->lines.last_warn, "bad point"));
}

static void test_flipped_byte_inside_an_older_segment_is_corrupt_on_read(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    assert_true(bounds_of(fixture->log).segments_count > 3);
    storage_close(fixture->log);
    fixture->log = NULL;
    char path[256];
    segment_file_path(fixture, 1, ".log", path, sizeof path);
    flip_byte(path, position_of_entry(3) + STORAGE_FRAME_HEADER_BYTES + 1);

    fixture_open(fixture); /* older segments are trusted through their index: no scan */
    assert_int_equal(fixture->lines.warn_count, 0);
    assert_int_equal(bounds_of(fixture->log).last_index, 200);
    assert_int_equal(storage_read(fixture->log, 3, 1, &fixture->batch), ETHER_ERR_CORRUPT);
    assert_int_equal(fixture->batch.entries_count, 0);
    assert_int_equal(storage_read(fixture->log, 1, UINT64_MAX, &fixture->batch), ETHER_ERR_CORRUPT);
    assert_int_equal(fixture->batch.entries_count, 0);
    /* Entries around it are fine. */
    assert_int_equal(storage_read(fixture->log, 1, 1, &fixture->batch), ETHER_OK);
    assert_entry_matches(&fixture->batch.entries[0], 1);
    assert_int_equal(storage_read(fixture->log, 4, 1, &fixture->batch), ETHER_OK);
    assert_entry_matches(&fixture->batch.entries[0], 4);
    uint64_t term = 0;
    assert_int_equal(storage_term_at(fixture->log, 3, &term), ETHER_ERR_CORRUPT);
}

static void test_flipped_header_byte_inside_an_older_segment_is_corrupt_on_read(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;
    char path[256];
    segment_file_path(fixture, 1, ".log", path, sizeof path);
    flip_byte(path, position_of_entry(2) + 4); /* the payload length of entry 2 */
    fixture_open(fixture);
    assert_int_equal(storage_read(fixture->log, 2, 1, &fixture->batch), ETHER_ERR_CORRUPT);
    uint64_t term = 0;
    assert_int_equal(storage_term_at(fixture->log, 2, &term), ETHER_ERR_CORRUPT);
}

static void test_empty_last_segment_without_index_is_removed_on_open(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;
    /* A roll that crashed after creating the data file but before its index was durable. */
    char path[256];
    segment_file_path(fixture, 11, ".log", path, sizeof path);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fclose(file);
    fixture_open(fixture);
    assert_int_equal(file_size_of(path), UINT64_MAX);
    assert_int_equal(fixture->lines.warn_count, 1);
    assert_log_holds(fixture, 1, 10);
    assert_int_equal(append_range(fixture->log, 11, 10, 1), ETHER_OK);
}

static void test_orphan_index_and_temp_files_are_removed_on_open(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;
    char orphan[256];
    char temp[256];
    segment_file_path(fixture, 500, ".index", orphan, sizeof orphan);
    snprintf(temp, sizeof temp, "%s/raft_state.tmp", fixture->dir);
    fclose(fopen(orphan, "w"));
    fclose(fopen(temp, "w"));
    fixture_open(fixture);
    assert_int_equal(file_size_of(orphan), UINT64_MAX);
    assert_int_equal(file_size_of(temp), UINT64_MAX);
    assert_log_holds(fixture, 1, 10);
}

static void test_sealed_segment_without_index_fails_open_with_a_message(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    assert_true(bounds_of(fixture->log).segments_count > 2);
    storage_close(fixture->log);
    fixture->log = NULL;
    char path[256];
    segment_file_path(fixture, 1, ".index", path, sizeof path);
    cut_file(path, 10);
    struct storage_log *log = NULL;
    assert_int_equal(storage_open(fixture->dir, &fixture->options, &log, fixture->errbuf,
                                  sizeof fixture->errbuf),
                     ETHER_ERR_CORRUPT);
    assert_null(log);
    assert_non_null(strstr(fixture->errbuf, "00000000000000000001.index"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        TEST(test_torn_last_frame_is_cut_on_open_with_a_warning),
        TEST(test_torn_header_shorter_than_a_frame_header_is_cut),
        TEST(test_flipped_byte_in_last_segment_tail_cuts_exactly_there),
        TEST(test_flipped_byte_in_the_last_entry_is_cut_with_default_spacing),
        TEST(test_zeros_after_the_last_frame_are_the_end_of_the_log_not_corruption),
        TEST(test_bytes_hidden_after_zeros_are_cut_at_the_end_of_the_frames),
        TEST(test_preallocated_tail_of_zeros_is_not_corruption),
        TEST(test_torn_frame_followed_by_zeros_is_cut_at_the_torn_frame),
        TEST(test_index_points_past_a_shortened_log_are_dropped),
        TEST(test_lost_index_points_are_rebuilt_from_the_last_segment),
        TEST(test_stale_index_points_are_rewritten_from_the_first_unconfirmed_one),
        TEST(test_corrupt_index_point_in_a_sealed_segment_only_slows_lookups),
        TEST(test_flipped_byte_inside_an_older_segment_is_corrupt_on_read),
        TEST(test_flipped_header_byte_inside_an_older_segment_is_corrupt_on_read),
        TEST(test_empty_last_segment_without_index_is_removed_on_open),
        TEST(test_orphan_index_and_temp_files_are_removed_on_open),
        TEST(test_sealed_segment_without_index_fails_open_with_a_message),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
