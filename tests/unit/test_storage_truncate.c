/* Unit tests for storage/: suffix truncation, prefix removal, retention and reset. */
#include "test_storage_fixture.h"

static bool segment_exists(const struct fixture *fixture, uint64_t base_index)
{
    char path[256];
    segment_file_path(fixture, base_index, ".log", path, sizeof path);
    bool log_exists = file_size_of(path) != UINT64_MAX;
    segment_file_path(fixture, base_index, ".index", path, sizeof path);
    bool index_exists = file_size_of(path) != UINT64_MAX;
    assert_int_equal(log_exists, index_exists);
    return log_exists;
}

/* Base index of the segment holding entry `index` (found through a read at the segment start). */
static uint64_t segment_base_of(struct fixture *fixture, uint64_t index)
{
    for (uint64_t base = index; base >= 1; base--) {
        if (segment_exists(fixture, base)) {
            return base;
        }
    }
    fail_msg("no segment holds %llu", (unsigned long long)index);
    return 0;
}

static void test_truncate_in_middle_of_segment_keeps_prefix(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.segment_bytes_max = 1 << 20;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    assert_int_equal(storage_truncate_suffix(fixture->log, 60), ETHER_OK);
    assert_log_holds(fixture, 1, 60);
    assert_int_equal(bounds_of(fixture->log).next_offset, offset_of_entry(61));
    uint64_t term = 0;
    assert_int_equal(storage_term_at(fixture->log, 61, &term), ETHER_ERR_OUT_OF_RANGE);

    /* Appending again continues at 61 with the same offsets, and survives a reopen. */
    assert_int_equal(append_range(fixture->log, 61, 40, 2), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 100);
    assert_int_equal(storage_term_at(fixture->log, 60, &term), ETHER_OK);
    assert_int_equal(term, 1);
    assert_int_equal(storage_term_at(fixture->log, 61, &term), ETHER_OK);
    assert_int_equal(term, 2);
    assert_int_equal(fixture->lines.warn_count, 0);
}

static void test_truncate_across_segments_removes_later_segment_files(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    uint64_t segments_before = bounds_of(fixture->log).segments_count;
    uint64_t last_base = segment_base_of(fixture, 200);
    uint64_t kept_base = segment_base_of(fixture, 50);
    assert_true(kept_base < 50); /* 50 is in the middle of its segment */
    assert_int_equal(storage_truncate_suffix(fixture->log, 50), ETHER_OK);
    assert_false(segment_exists(fixture, last_base));
    assert_true(segment_exists(fixture, kept_base));
    assert_true(bounds_of(fixture->log).segments_count < segments_before);
    assert_log_holds(fixture, 1, 50);

    /* The cut segment is the active one again: it fills up and rolls as usual. */
    assert_int_equal(append_range(fixture->log, 51, 150, 3), ETHER_OK);
    assert_log_holds(fixture, 1, 200);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 200);
    uint64_t term = 0;
    assert_int_equal(storage_term_at(fixture->log, 51, &term), ETHER_OK);
    assert_int_equal(term, 3);
}

static void test_truncate_at_a_segment_start_removes_the_emptied_segment(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    uint64_t second_base = 0;
    for (uint64_t base = 2; base <= 100 && second_base == 0; base++) {
        if (segment_exists(fixture, base)) {
            second_base = base;
        }
    }
    assert_true(second_base > 0);
    assert_int_equal(storage_truncate_suffix(fixture->log, second_base - 1), ETHER_OK);
    assert_false(segment_exists(fixture, second_base));
    assert_int_equal(bounds_of(fixture->log).segments_count, 1);
    assert_log_holds(fixture, 1, second_base - 1);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, second_base - 1);
}

static void test_truncate_everything_leaves_an_empty_log_with_the_same_start(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    assert_int_equal(storage_truncate_suffix(fixture->log, 0), ETHER_OK);
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.first_index, 1);
    assert_int_equal(bounds.last_index, 0);
    assert_int_equal(bounds.next_offset, 0);
    assert_int_equal(bounds.segments_count, 1);
    assert_int_equal(append_range(fixture->log, 1, 10, 7), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 10);
}

static void test_truncate_past_the_end_is_a_no_op_and_below_start_is_rejected(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    assert_int_equal(storage_truncate_suffix(fixture->log, 100), ETHER_OK);
    assert_int_equal(storage_truncate_suffix(fixture->log, 1000), ETHER_OK);
    assert_log_holds(fixture, 1, 100);
    assert_int_equal(storage_remove_prefix(fixture->log, 60), ETHER_OK);
    uint64_t first = bounds_of(fixture->log).first_index;
    assert_true(first > 1);
    assert_int_equal(storage_truncate_suffix(fixture->log, first - 2), ETHER_ERR_BELOW_START);
    assert_int_equal(storage_truncate_suffix(fixture->log, first - 1), ETHER_OK);
    assert_int_equal(bounds_of(fixture->log).last_index, first - 1);
}

static void test_remove_prefix_drops_only_whole_segments_below_the_index(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    uint64_t holder = segment_base_of(fixture, 120);
    assert_int_equal(storage_remove_prefix(fixture->log, 120), ETHER_OK);
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.first_index, holder);
    assert_int_equal(bounds.first_offset, offset_of_entry(holder));
    assert_false(segment_exists(fixture, 1));
    assert_int_equal(storage_read(fixture->log, holder - 1, 10, &fixture->batch),
                     ETHER_ERR_BELOW_START);
    uint64_t index = 0;
    assert_int_equal(storage_find_offset(fixture->log, 0, &index), ETHER_ERR_BELOW_START);
    assert_log_holds(fixture, holder, 200);

    /* Removing past the end keeps the last segment. */
    assert_int_equal(storage_remove_prefix(fixture->log, 10000), ETHER_OK);
    bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.segments_count, 1);
    assert_int_equal(bounds.last_index, 200);
    uint64_t first = bounds.first_index;
    fixture_reopen(fixture);
    assert_log_holds(fixture, first, 200);
    assert_int_equal(append_range(fixture->log, 201, 5, 1), ETHER_OK);
    assert_log_holds(fixture, first, 205);
}

static void test_retention_by_size_keeps_at_least_the_limit(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 400, 1), ETHER_OK);
    struct storage_bounds before = bounds_of(fixture->log);
    struct storage_retention retention = {.retention_bytes = 3 * 4096, .retention_ms = 0};
    uint64_t removed = 0;
    assert_int_equal(storage_apply_retention(fixture->log, &retention, 0, UINT64_MAX, &removed),
                     ETHER_OK);
    struct storage_bounds after = bounds_of(fixture->log);
    assert_true(removed > 0);
    assert_int_equal(after.segments_count, before.segments_count - removed);
    assert_true(after.size_bytes >= retention.retention_bytes);
    /* One more segment gone would have left less than the limit. */
    char path[256];
    segment_file_path(fixture, after.first_index, ".log", path, sizeof path);
    assert_true(after.size_bytes - file_size_of(path) < retention.retention_bytes);
    assert_log_holds(fixture, after.first_index, 400);
}

static void test_retention_by_age_uses_each_segments_newest_timestamp(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    /* Entry i has timestamp 1000 + 10 i. */
    assert_int_equal(append_range(fixture->log, 1, 300, 1), ETHER_OK);
    fixture_reopen(fixture); /* sealed segments learn their newest timestamp from disk */
    uint64_t holder = segment_base_of(fixture, 150);
    assert_true(holder < 150);
    /* Everything up to entry 149 is older than the limit, 150 is not. */
    struct storage_retention retention = {.retention_bytes = 0, .retention_ms = 1000};
    int64_t now_ms = 1000 + 150 * 10 + 1000;
    uint64_t removed = 0;
    assert_int_equal(
        storage_apply_retention(fixture->log, &retention, now_ms, UINT64_MAX, &removed), ETHER_OK);
    assert_true(removed > 0);
    assert_int_equal(bounds_of(fixture->log).first_index, holder);
    assert_log_holds(fixture, holder, 300);
    /* Far in the future everything but the last segment goes. */
    assert_int_equal(
        storage_apply_retention(fixture->log, &retention, INT64_MAX, UINT64_MAX, &removed),
        ETHER_OK);
    assert_int_equal(bounds_of(fixture->log).segments_count, 1);
}

static void test_retention_never_removes_entries_at_or_above_the_index_limit(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 300, 1), ETHER_OK);
    struct storage_retention retention = {.retention_bytes = 1, .retention_ms = 1};
    uint64_t removed = 0;
    assert_int_equal(storage_apply_retention(fixture->log, &retention, INT64_MAX, 100, &removed),
                     ETHER_OK);
    uint64_t first = bounds_of(fixture->log).first_index;
    assert_true(first <= 100);
    assert_true(removed > 0);
    assert_log_holds(fixture, first, 300);
    struct storage_retention bad = {.retention_bytes = 0, .retention_ms = -1};
    assert_int_equal(storage_apply_retention(fixture->log, &bad, 0, 100, NULL),
                     ETHER_ERR_INVALID_ARGUMENT);
}

static void test_reset_restarts_the_log_empty_at_the_given_index_and_offset(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    assert_int_equal(storage_reset(fixture->log, 1001, 5000), ETHER_OK);
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.first_index, 1001);
    assert_int_equal(bounds.last_index, 1000);
    assert_int_equal(bounds.first_offset, 5000);
    assert_int_equal(bounds.next_offset, 5000);
    assert_int_equal(bounds.segments_count, 1);
    assert_false(segment_exists(fixture, 1));
    assert_int_equal(storage_read(fixture->log, 1000, 10, &fixture->batch), ETHER_ERR_BELOW_START);

    /* An empty reset log keeps its start across a reopen, then grows from it. */
    fixture_reopen(fixture);
    bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.first_index, 1001);
    assert_int_equal(bounds.next_offset, 5000);
    uint8_t payload[10] = {0};
    struct storage_entry entry = {.index = 1001,
                                  .term = 9,
                                  .type = STORAGE_ENTRY_DATA,
                                  .record_count = 3,
                                  .payload = payload,
                                  .payload_bytes = 10};
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_OK);
    assert_int_equal(entry.base_offset, 5000);
    uint64_t index = 0;
    assert_int_equal(storage_find_offset(fixture->log, 5002, &index), ETHER_OK);
    assert_int_equal(index, 1001);
    assert_int_equal(storage_find_offset(fixture->log, 4999, &index), ETHER_ERR_BELOW_START);
    assert_int_equal(storage_reset(fixture->log, 0, 0), ETHER_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        TEST(test_truncate_in_middle_of_segment_keeps_prefix),
        TEST(test_truncate_across_segments_removes_later_segment_files),
        TEST(test_truncate_at_a_segment_start_removes_the_emptied_segment),
        TEST(test_truncate_everything_leaves_an_empty_log_with_the_same_start),
        TEST(test_truncate_past_the_end_is_a_no_op_and_below_start_is_rejected),
        TEST(test_remove_prefix_drops_only_whole_segments_below_the_index),
        TEST(test_retention_by_size_keeps_at_least_the_limit),
        TEST(test_retention_by_age_uses_each_segments_newest_timestamp),
        TEST(test_retention_never_removes_entries_at_or_above_the_index_limit),
        TEST(test_reset_restarts_the_log_empty_at_the_given_index_and_offset),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
