/* Unit tests for storage/: appending, reading, segments, the sparse index, offsets, reopen. */
#include "test_storage_fixture.h"

static void test_open_creates_an_empty_log_at_index_one_offset_zero(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.first_index, 1);
    assert_int_equal(bounds.last_index, 0);
    assert_int_equal(bounds.first_offset, 0);
    assert_int_equal(bounds.next_offset, 0);
    assert_int_equal(bounds.segments_count, 1);
    char path[256];
    segment_file_path(fixture, 1, ".log", path, sizeof path);
    assert_int_equal(file_size_of(path), 0);
    segment_file_path(fixture, 1, ".index", path, sizeof path);
    assert_int_equal(file_size_of(path), STORAGE_INDEX_HEADER_BYTES);
    assert_int_equal(storage_read(fixture->log, 1, 100, &fixture->batch), ETHER_ERR_OUT_OF_RANGE);
}

static void test_append_then_read_returns_byte_identical_entries(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 10, 1), ETHER_OK);
    assert_int_equal(storage_read(fixture->log, 1, UINT64_MAX, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 10);
    for (uint64_t i = 0; i < 10; i++) {
        const struct storage_entry *entry = &fixture->batch.entries[i];
        assert_entry_matches(entry, i + 1);
        assert_int_equal(entry->term, 1);
        assert_int_equal(entry->base_offset, offset_of_entry(i + 1));
    }
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_int_equal(bounds.last_index, 10);
    assert_int_equal(bounds.next_offset, offset_of_entry(11));
}

static void test_append_assigns_base_offsets_to_the_callers_entries(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct storage_entry entries[3] = {
        {.index = 1,
         .term = 1,
         .type = STORAGE_ENTRY_DATA,
         .record_count = 4,
         .payload = payload,
         .payload_bytes = 8},
        {.index = 2,
         .term = 1,
         .type = STORAGE_ENTRY_DATA,
         .record_count = 2,
         .payload = payload,
         .payload_bytes = 8},
        {.index = 3,
         .term = 2,
         .type = STORAGE_ENTRY_DATA,
         .record_count = 1,
         .payload = payload,
         .payload_bytes = 8},
    };
    assert_int_equal(storage_append(fixture->log, entries, 3), ETHER_OK);
    assert_int_equal(entries[0].base_offset, 0);
    assert_int_equal(entries[1].base_offset, 4);
    assert_int_equal(entries[2].base_offset, 6);
    assert_int_equal(bounds_of(fixture->log).next_offset, 7);
}

static void test_read_is_bounded_by_bytes_but_returns_at_least_one_entry(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.segment_bytes_max = 1 << 20;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 20, 1), ETHER_OK);

    /* A bound of one byte still gives the first entry, whole. */
    assert_int_equal(storage_read(fixture->log, 5, 1, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 1);
    assert_entry_matches(&fixture->batch.entries[0], 5);

    /* A bound of exactly three frames gives three entries, no more. */
    uint64_t three_frames = 3 * STORAGE_FRAME_HEADER_BYTES + payload_size_for(5) +
                            payload_size_for(6) + payload_size_for(7);
    assert_int_equal(storage_read(fixture->log, 5, three_frames, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 3);
    assert_int_equal(storage_read(fixture->log, 5, three_frames - 1, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 2);
    assert_entry_matches(&fixture->batch.entries[1], 6);

    /* Reading near the end stops at the last entry. */
    assert_int_equal(storage_read(fixture->log, 19, UINT64_MAX, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 2);
    assert_entry_matches(&fixture->batch.entries[1], 20);
}

static void test_read_past_the_end_is_out_of_range_and_index_zero_is_below_start(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 3, 1), ETHER_OK);
    assert_int_equal(storage_read(fixture->log, 4, 100, &fixture->batch), ETHER_ERR_OUT_OF_RANGE);
    assert_int_equal(storage_read(fixture->log, 0, 100, &fixture->batch), ETHER_ERR_BELOW_START);
    uint64_t term = 0;
    assert_int_equal(storage_term_at(fixture->log, 4, &term), ETHER_ERR_OUT_OF_RANGE);
    assert_int_equal(storage_term_at(fixture->log, 0, &term), ETHER_ERR_BELOW_START);
}

static void test_append_rolls_to_a_new_segment_named_by_base_index(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_true(bounds.segments_count > 5);

    /* Every segment file stays within the limit and the next one starts right after it. */
    DIR *dir = opendir(fixture->dir);
    assert_non_null(dir);
    int log_files = 0;
    struct dirent *item;
    while ((item = readdir(dir)) != NULL) {
        size_t length = strlen(item->d_name);
        if (length == 24 && strcmp(item->d_name + 20, ".log") == 0) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", fixture->dir, item->d_name);
            assert_true(file_size_of(path) <= fixture->options.segment_bytes_max);
            unsigned long long base = strtoull(item->d_name, NULL, 10);
            assert_int_equal(storage_read(fixture->log, base, 1, &fixture->batch), ETHER_OK);
            log_files++;
        }
    }
    closedir(dir);
    assert_int_equal((uint64_t)log_files, bounds.segments_count);
    assert_log_holds(fixture, 1, 200);
}

static void test_one_read_crosses_segment_boundaries(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 100, 1), ETHER_OK);
    assert_true(bounds_of(fixture->log).segments_count > 2);
    assert_int_equal(storage_read(fixture->log, 3, UINT64_MAX, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 98);
    for (size_t i = 0; i < fixture->batch.entries_count; i++) {
        assert_entry_matches(&fixture->batch.entries[i], 3 + i);
    }
}

static void test_entry_larger_than_a_segment_gets_a_segment_of_its_own(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 2, 1), ETHER_OK);
    size_t big_bytes = 3 * (size_t)fixture->options.segment_bytes_max;
    uint8_t *big = ether_malloc(big_bytes);
    memset(big, 0xab, big_bytes);
    struct storage_entry entry = {.index = 3,
                                  .term = 1,
                                  .type = STORAGE_ENTRY_DATA,
                                  .record_count = 1,
                                  .payload = big,
                                  .payload_bytes = (uint32_t)big_bytes};
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_OK);
    assert_int_equal(append_range(fixture->log, 4, 2, 1), ETHER_OK);
    assert_int_equal(bounds_of(fixture->log).segments_count, 3);
    assert_int_equal(storage_read(fixture->log, 3, 10, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 1);
    assert_int_equal(fixture->batch.entries[0].payload_bytes, big_bytes);
    assert_memory_equal(fixture->batch.entries[0].payload, big, big_bytes);
    fixture_reopen(fixture);
    assert_int_equal(storage_read(fixture->log, 3, 10, &fixture->batch), ETHER_OK);
    assert_memory_equal(fixture->batch.entries[0].payload, big, big_bytes);
    ether_free(big);
}

static void test_sparse_index_gets_a_point_about_every_interval(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.segment_bytes_max = 1 << 20;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 500, 1), ETHER_OK);
    uint64_t log_bytes = bounds_of(fixture->log).size_bytes;
    char path[256];
    segment_file_path(fixture, 1, ".index", path, sizeof path);
    uint64_t points = (file_size_of(path) - STORAGE_INDEX_HEADER_BYTES) / STORAGE_INDEX_POINT_BYTES;
    uint64_t frame_max = STORAGE_FRAME_HEADER_BYTES + 220;
    uint64_t interval = fixture->options.index_interval_bytes;
    /* Points are at least an interval apart and at most an interval plus one frame. */
    assert_true(points <= log_bytes / interval);
    assert_true(points >= log_bytes / (interval + frame_max) - 1);
    /* Every index is found through the points. */
    for (uint64_t index = 1; index <= 500; index += 7) {
        assert_int_equal(storage_read(fixture->log, index, 1, &fixture->batch), ETHER_OK);
        assert_entry_matches(&fixture->batch.entries[0], index);
    }
}

static void test_reopen_preserves_entries_terms_offsets_and_segments(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 50, 1), ETHER_OK);
    assert_int_equal(append_range(fixture->log, 51, 50, 3), ETHER_OK);
    assert_int_equal(append_range(fixture->log, 101, 20, 4), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    struct storage_bounds before = bounds_of(fixture->log);
    fixture_reopen(fixture);
    struct storage_bounds after = bounds_of(fixture->log);
    assert_memory_equal(&before, &after, sizeof before);
    assert_log_holds(fixture, 1, 120);
    uint64_t term = 0;
    for (uint64_t index = 1; index <= 120; index++) {
        assert_int_equal(storage_term_at(fixture->log, index, &term), ETHER_OK);
        assert_int_equal(term, index <= 50 ? 1 : (index <= 100 ? 3 : 4));
    }
    assert_int_equal(fixture->lines.warn_count, 0);
    /* The log keeps growing after a reopen. */
    assert_int_equal(append_range(fixture->log, 121, 5, 4), ETHER_OK);
    fixture_reopen(fixture);
    assert_log_holds(fixture, 1, 125);
}

static void test_control_entries_take_an_index_but_no_offset(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    uint8_t payload[16] = {0};
    struct storage_entry entries[5] = {
        {.index = 1, .term = 1, .type = STORAGE_ENTRY_NOOP},
        {.index = 2,
         .term = 1,
         .type = STORAGE_ENTRY_DATA,
         .record_count = 3,
         .payload = payload,
         .payload_bytes = 16},
        {.index = 3,
         .term = 1,
         .type = STORAGE_ENTRY_CONFIG,
         .payload = payload,
         .payload_bytes = 4},
        {.index = 4, .term = 2, .type = STORAGE_ENTRY_NOOP},
        {.index = 5,
         .term = 2,
         .type = STORAGE_ENTRY_DATA,
         .record_count = 2,
         .payload = payload,
         .payload_bytes = 16},
    };
    assert_int_equal(storage_append(fixture->log, entries, 5), ETHER_OK);
    assert_int_equal(entries[0].base_offset, 0);
    assert_int_equal(entries[1].base_offset, 0);
    assert_int_equal(entries[2].base_offset, 3);
    assert_int_equal(entries[3].base_offset, 3);
    assert_int_equal(entries[4].base_offset, 3);
    assert_int_equal(bounds_of(fixture->log).next_offset, 5);

    uint64_t index = 0;
    assert_int_equal(storage_find_offset(fixture->log, 0, &index), ETHER_OK);
    assert_int_equal(index, 2);
    assert_int_equal(storage_find_offset(fixture->log, 2, &index), ETHER_OK);
    assert_int_equal(index, 2);
    assert_int_equal(storage_find_offset(fixture->log, 3, &index), ETHER_OK);
    assert_int_equal(index, 5);
    assert_int_equal(storage_find_offset(fixture->log, 4, &index), ETHER_OK);
    assert_int_equal(index, 5);
    assert_int_equal(storage_find_offset(fixture->log, 5, &index), ETHER_ERR_OUT_OF_RANGE);

    fixture_reopen(fixture);
    assert_int_equal(storage_read(fixture->log, 1, UINT64_MAX, &fixture->batch), ETHER_OK);
    assert_int_equal(fixture->batch.entries_count, 5);
    assert_int_equal(fixture->batch.entries[0].type, STORAGE_ENTRY_NOOP);
    assert_int_equal(fixture->batch.entries[0].payload_bytes, 0);
    assert_int_equal(fixture->batch.entries[2].type, STORAGE_ENTRY_CONFIG);
    assert_int_equal(fixture->batch.entries[2].record_count, 0);
    assert_int_equal(fixture->batch.entries[4].base_offset, 3);
    assert_int_equal(bounds_of(fixture->log).next_offset, 5);
}

static void test_find_offset_returns_the_entry_containing_the_record(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 300, 1), ETHER_OK);
    fixture_reopen(fixture);
    uint64_t next_offset = bounds_of(fixture->log).next_offset;
    assert_int_equal(next_offset, offset_of_entry(301));
    uint64_t entry = 1;
    for (uint64_t offset = 0; offset < next_offset; offset++) {
        while (offset >= offset_of_entry(entry + 1)) {
            entry++;
        }
        uint64_t index = 0;
        assert_int_equal(storage_find_offset(fixture->log, offset, &index), ETHER_OK);
        assert_int_equal(index, entry);
    }
    uint64_t index = 0;
    assert_int_equal(storage_find_offset(fixture->log, next_offset, &index),
                     ETHER_ERR_OUT_OF_RANGE);
}

static void test_find_timestamp_returns_the_first_entry_at_or_after_it(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    /* Timestamps go up and down: 1000, 1010, ... but every tenth entry is far in the past. */
    uint8_t payload[100] = {0};
    for (uint64_t index = 1; index <= 300; index++) {
        struct storage_entry entry = {.index = index,
                                      .term = 1,
                                      .type = STORAGE_ENTRY_DATA,
                                      .record_count = 1,
                                      .max_timestamp_ms = (int64_t)(1000 + index * 10),
                                      .payload = payload,
                                      .payload_bytes = 100};
        if (index % 10 == 0) {
            entry.max_timestamp_ms = 5;
        }
        assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_OK);
    }
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    for (int round = 0; round < 2; round++) {
        uint64_t index = 0;
        assert_int_equal(storage_find_timestamp(fixture->log, 0, &index), ETHER_OK);
        assert_int_equal(index, 1);
        assert_int_equal(storage_find_timestamp(fixture->log, 1010, &index), ETHER_OK);
        assert_int_equal(index, 1);
        assert_int_equal(storage_find_timestamp(fixture->log, 1011, &index), ETHER_OK);
        assert_int_equal(index, 2);
        assert_int_equal(storage_find_timestamp(fixture->log, 1000 + 150 * 10, &index), ETHER_OK);
        assert_int_equal(index, 151); /* 150 has the old timestamp */
        assert_int_equal(storage_find_timestamp(fixture->log, 1000 + 299 * 10, &index), ETHER_OK);
        assert_int_equal(index, 299);
        assert_int_equal(storage_find_timestamp(fixture->log, 1000 + 299 * 10 + 1, &index),
                         ETHER_ERR_NOT_FOUND);
        fixture_reopen(fixture); /* the second round runs on sealed segments read from disk */
    }
}

static void test_term_at_answers_from_disk_for_entries_before_the_tail(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    for (uint64_t term = 1; term <= 20; term++) {
        assert_int_equal(append_range(fixture->log, term * 10 - 9, 10, term), ETHER_OK);
    }
    fixture_reopen(fixture);
    for (uint64_t index = 1; index <= 200; index++) {
        uint64_t term = 0;
        assert_int_equal(storage_term_at(fixture->log, index, &term), ETHER_OK);
        assert_int_equal(term, (index + 9) / 10);
    }
}

static void test_append_rejects_gaps_decreasing_terms_and_bad_record_counts(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 3, 5), ETHER_OK);
    uint8_t payload[4] = {0};
    struct storage_entry entry = {.index = 5,
                                  .term = 5,
                                  .type = STORAGE_ENTRY_DATA,
                                  .record_count = 1,
                                  .payload = payload,
                                  .payload_bytes = 4};
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.index = 3;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.index = 4;
    entry.term = 4;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.term = 0;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.term = 5;
    entry.record_count = 0;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.type = STORAGE_ENTRY_NOOP;
    entry.record_count = 2;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.type = (enum storage_entry_type)9;
    entry.record_count = 0;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.type = STORAGE_ENTRY_DATA;
    entry.record_count = 1;
    entry.payload = NULL;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);
    entry.payload = payload;
    entry.payload_bytes = fixture->options.payload_bytes_max + 1;
    assert_int_equal(storage_append(fixture->log, &entry, 1), ETHER_ERR_INVALID_ARGUMENT);

    /* A batch with one bad entry in the middle writes nothing. */
    struct storage_entry batch[3] = {
        {.index = 4, .term = 5, .type = STORAGE_ENTRY_NOOP},
        {.index = 6, .term = 5, .type = STORAGE_ENTRY_NOOP},
        {.index = 7, .term = 5, .type = STORAGE_ENTRY_NOOP},
    };
    assert_int_equal(storage_append(fixture->log, batch, 3), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(bounds_of(fixture->log).last_index, 3);
    batch[1].index = 5;
    batch[2].index = 6;
    assert_int_equal(storage_append(fixture->log, batch, 3), ETHER_OK);
    assert_int_equal(bounds_of(fixture->log).last_index, 6);
}

static void test_open_rejects_bad_options_with_a_message(void **state)
{
    struct fixture *fixture = *state;
    struct storage_log *log = NULL;
    fixture->options.segment_bytes_max = 10;
    assert_int_equal(storage_open(fixture->dir, &fixture->options, &log, fixture->errbuf,
                                  sizeof fixture->errbuf),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(fixture->errbuf, "segment_bytes_max"));
    assert_null(log);
    storage_options_init(&fixture->options);
    fixture->options.index_interval_bytes = 0;
    assert_int_equal(storage_open(fixture->dir, &fixture->options, &log, NULL, 0),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(storage_open(NULL, &fixture->options, &log, NULL, 0),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(storage_read(NULL, 1, 1, &fixture->batch), ETHER_ERR_INVALID_ARGUMENT);
}

static void test_open_of_a_path_under_a_file_fails_with_a_message(void **state)
{
    struct fixture *fixture = *state;
    char file_path[256];
    snprintf(file_path, sizeof file_path, "%s/plain-file", fixture->root);
    FILE *file = fopen(file_path, "w");
    assert_non_null(file);
    fclose(file);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/log", file_path);
    struct storage_log *log = NULL;
    int result =
        storage_open(dir, &fixture->options, &log, fixture->errbuf, sizeof fixture->errbuf);
    assert_int_not_equal(result, ETHER_OK);
    assert_non_null(strstr(fixture->errbuf, "cannot create directory"));
}

/* Bytes of the frames of data entries [first, last] as append_range makes them. */
static uint64_t frames_bytes(uint64_t first, uint64_t last)
{
    uint64_t total = 0;
    for (uint64_t index = first; index <= last; index++) {
        total += STORAGE_FRAME_HEADER_BYTES + payload_size_for(index);
    }
    return total;
}

/* Sums the sizes of the .log files; *sealed_exact is whether each but the last is exact. */
static uint64_t segment_files_bytes(struct fixture *fixture, bool *sealed_exact)
{
    struct storage_bounds bounds = bounds_of(fixture->log);
    uint64_t total = 0;
    *sealed_exact = true;
    uint64_t base = bounds.first_index;
    for (uint64_t i = 0; i < bounds.segments_count; i++) {
        char path[256];
        segment_file_path(fixture, base, ".log", path, sizeof path);
        uint64_t size = file_size_of(path);
        assert_true(size != UINT64_MAX);
        total += size;
        /* The next segment starts after the last entry of this one. */
        uint64_t next = base;
        while (next <= bounds.last_index && frames_bytes(base, next) <= size) {
            next++;
        }
        if (i + 1 < bounds.segments_count) {
            *sealed_exact &= frames_bytes(base, next - 1) == size;
        }
        base = next;
    }
    return total;
}

static void test_reopen_after_roll_keeps_exact_sizes(void **state)
{
    struct fixture *fixture = *state;
    fixture->options.preallocate_bytes = 1024;
    fixture_open(fixture);
    assert_int_equal(append_range(fixture->log, 1, 200, 1), ETHER_OK);
    assert_int_equal(storage_sync(fixture->log), ETHER_OK);
    struct storage_bounds bounds = bounds_of(fixture->log);
    assert_true(bounds.segments_count > 5);
    assert_int_equal(bounds.size_bytes, frames_bytes(1, 200));
    bool sealed_exact = false;
    uint64_t files_bytes = segment_files_bytes(fixture, &sealed_exact);
    assert_true(sealed_exact);
    assert_true(files_bytes >= bounds.size_bytes); /* the active segment may hold zeros */

    fixture_reopen(fixture);
    struct storage_bounds reopened = bounds_of(fixture->log);
    assert_memory_equal(&bounds, &reopened, sizeof bounds);
    assert_int_equal(segment_files_bytes(fixture, &sealed_exact), bounds.size_bytes);
    assert_true(sealed_exact);
    assert_log_holds(fixture, 1, 200);
    assert_int_equal(fixture->lines.warn_count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        TEST(test_open_creates_an_empty_log_at_index_one_offset_zero),
        TEST(test_append_then_read_returns_byte_identical_entries),
        TEST(test_append_assigns_base_offsets_to_the_callers_entries),
        TEST(test_read_is_bounded_by_bytes_but_returns_at_least_one_entry),
        TEST(test_read_past_the_end_is_out_of_range_and_index_zero_is_below_start),
        TEST(test_append_rolls_to_a_new_segment_named_by_base_index),
        TEST(test_one_read_crosses_segment_boundaries),
        TEST(test_entry_larger_than_a_segment_gets_a_segment_of_its_own),
        TEST(test_sparse_index_gets_a_point_about_every_interval),
        TEST(test_reopen_preserves_entries_terms_offsets_and_segments),
        TEST(test_control_entries_take_an_index_but_no_offset),
        TEST(test_find_offset_returns_the_entry_containing_the_record),
        TEST(test_find_timestamp_returns_the_first_entry_at_or_after_it),
        TEST(test_term_at_answers_from_disk_for_entries_before_the_tail),
        TEST(test_append_rejects_gaps_decreasing_terms_and_bad_record_counts),
        TEST(test_open_rejects_bad_options_with_a_message),
        TEST(test_open_of_a_path_under_a_file_fails_with_a_message),
        TEST(test_reopen_after_roll_keeps_exact_sizes),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
