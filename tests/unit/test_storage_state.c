/* Unit tests for storage/: Raft hard state and snapshots (atomic, versioned, CRC-checked). */
#include "test_storage_fixture.h"

static void state_path(const struct fixture *fixture, const char *name, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s", fixture->dir, name);
}

static void flip_byte_at(const char *path, off_t position)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte = 0;
    assert_int_equal(pread(fd, &byte, 1, position), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, position), 1);
    close(fd);
}

static void test_hard_state_is_zero_before_the_first_save(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    uint64_t term = 9;
    uint64_t vote = 9;
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_OK);
    assert_int_equal(term, 0);
    assert_int_equal(vote, 0);
}

static void test_hard_state_round_trips_and_survives_reopen(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(storage_hard_state_save(fixture->log, 7, 3), ETHER_OK);
    assert_int_equal(storage_hard_state_save(fixture->log, 8, 0), ETHER_OK);
    fixture_reopen(fixture);
    uint64_t term = 0;
    uint64_t vote = 0;
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_OK);
    assert_int_equal(term, 8);
    assert_int_equal(vote, 0);
    char path[256];
    state_path(fixture, "raft_state.tmp", path, sizeof path);
    assert_int_equal(file_size_of(path), UINT64_MAX);
    state_path(fixture, "raft_state", path, sizeof path);
    assert_int_equal(file_size_of(path), STORAGE_HARD_STATE_BYTES);
}

static void test_interrupted_hard_state_write_leaves_the_previous_state(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(storage_hard_state_save(fixture->log, 4, 2), ETHER_OK);
    storage_close(fixture->log);
    fixture->log = NULL;
    /* A crash after writing the temp file, before the rename. */
    char path[256];
    state_path(fixture, "raft_state.tmp", path, sizeof path);
    FILE *file = fopen(path, "w");
    fputs("half a state", file);
    fclose(file);
    fixture_open(fixture);
    assert_int_equal(file_size_of(path), UINT64_MAX);
    uint64_t term = 0;
    uint64_t vote = 0;
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_OK);
    assert_int_equal(term, 4);
    assert_int_equal(vote, 2);
}

static void test_corrupt_hard_state_is_reported_not_guessed(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    assert_int_equal(storage_hard_state_save(fixture->log, 4, 2), ETHER_OK);
    char path[256];
    state_path(fixture, "raft_state", path, sizeof path);
    uint64_t term = 0;
    uint64_t vote = 0;
    for (off_t position = 0; position < STORAGE_HARD_STATE_BYTES; position += 5) {
        flip_byte_at(path, position);
        assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_ERR_CORRUPT);
        flip_byte_at(path, position);
    }
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_OK);
    assert_int_equal(truncate(path, STORAGE_HARD_STATE_BYTES - 1), 0);
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_ERR_CORRUPT);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_ERR_CORRUPT);
}

static void test_hard_state_of_a_future_version_is_unsupported(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    /* A well-formed file (valid CRC) of version 2. */
    uint8_t bytes[STORAGE_HARD_STATE_BYTES] = {'E', 'H', 'S', 'T', 2};
    uint32_t crc = ether_crc32c(bytes, 28);
    for (int i = 0; i < 4; i++) {
        bytes[28 + i] = (uint8_t)(crc >> (8 * i));
    }
    char path[256];
    state_path(fixture, "raft_state", path, sizeof path);
    FILE *file = fopen(path, "wb");
    assert_int_equal(fwrite(bytes, 1, sizeof bytes, file), sizeof bytes);
    fclose(file);
    uint64_t term = 0;
    uint64_t vote = 0;
    assert_int_equal(storage_hard_state_load(fixture->log, &term, &vote), ETHER_ERR_UNSUPPORTED);
}

/* Writes a snapshot of `data_bytes` pattern bytes in chunks of `chunk_bytes`. */
static void write_snapshot(struct fixture *fixture, uint64_t index, size_t data_bytes,
                           size_t chunk_bytes)
{
    struct storage_snapshot_meta meta = {.last_included_index = index,
                                         .last_included_term = index / 10 + 1,
                                         .next_offset = index * 3};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(fixture->log, &meta, &writer), ETHER_OK);
    uint8_t *data = ether_malloc(data_bytes + 1);
    payload_fill(index, data, data_bytes);
    for (size_t done = 0; done < data_bytes; done += chunk_bytes) {
        size_t size = data_bytes - done < chunk_bytes ? data_bytes - done : chunk_bytes;
        assert_int_equal(storage_snapshot_write(writer, done, data + done, size), ETHER_OK);
    }
    ether_free(data);
    assert_int_equal(storage_snapshot_commit(writer), ETHER_OK);
}

static void assert_latest_snapshot_is(struct fixture *fixture, uint64_t index, size_t data_bytes)
{
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_OK);
    assert_int_equal(meta.last_included_index, index);
    assert_int_equal(meta.last_included_term, index / 10 + 1);
    assert_int_equal(meta.next_offset, index * 3);
    assert_int_equal(meta.data_bytes, data_bytes);
    uint8_t chunk[1000];
    uint64_t offset = 0;
    for (;;) {
        size_t got = 0;
        assert_int_equal(storage_snapshot_read(reader, offset, chunk, sizeof chunk, &got),
                         ETHER_OK);
        if (got == 0) {
            break;
        }
        for (size_t i = 0; i < got; i++) {
            assert_int_equal(chunk[i], payload_byte(index, (size_t)offset + i));
        }
        offset += got;
    }
    assert_int_equal(offset, data_bytes);
    size_t got = 0;
    assert_int_equal(storage_snapshot_read(reader, data_bytes + 1, chunk, 10, &got),
                     ETHER_ERR_OUT_OF_RANGE);
    storage_snapshot_close(reader);
}

static void test_snapshot_written_in_chunks_reads_back_identically(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    write_snapshot(fixture, 120, 100000, 4096);
    assert_latest_snapshot_is(fixture, 120, 100000);
    fixture_reopen(fixture);
    assert_latest_snapshot_is(fixture, 120, 100000);
}

static void test_snapshot_is_invisible_until_commit_and_abort_leaves_nothing(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    struct storage_snapshot_meta meta = {.last_included_index = 50, .last_included_term = 2};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(fixture->log, &meta, &writer), ETHER_OK);
    assert_int_equal(storage_snapshot_write(writer, 0, "hello", 5), ETHER_OK);
    struct storage_snapshot_reader *reader = NULL;
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_NOT_FOUND);
    storage_snapshot_abort(writer);
    char path[256];
    state_path(fixture, "snapshot.tmp", path, sizeof path);
    assert_int_equal(file_size_of(path), UINT64_MAX);
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_NOT_FOUND);
}

static void test_unfinished_snapshot_is_discarded_on_reopen(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    write_snapshot(fixture, 10, 500, 100);
    storage_close(fixture->log);
    fixture->log = NULL;
    char path[256];
    state_path(fixture, "snapshot.tmp", path, sizeof path);
    FILE *file = fopen(path, "w");
    fputs("a crash in the middle of receiving chunks", file);
    fclose(file);
    fixture_open(fixture);
    assert_int_equal(file_size_of(path), UINT64_MAX);
    assert_latest_snapshot_is(fixture, 10, 500);
}

static void test_snapshot_commit_keeps_the_latest_and_one_older(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    write_snapshot(fixture, 10, 300, 64);
    write_snapshot(fixture, 20, 300, 64);
    write_snapshot(fixture, 30, 0, 64);
    assert_latest_snapshot_is(fixture, 30, 0);
    char path[256];
    snprintf(path, sizeof path, "%s/%020d.snapshot", fixture->dir, 10);
    assert_int_equal(file_size_of(path), UINT64_MAX);
    snprintf(path, sizeof path, "%s/%020d.snapshot", fixture->dir, 20);
    assert_int_equal(file_size_of(path), STORAGE_SNAPSHOT_HEADER_BYTES + 300);
}

static void test_corrupt_snapshot_is_reported_as_corrupt(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    write_snapshot(fixture, 40, 5000, 1000);
    char path[256];
    snprintf(path, sizeof path, "%s/%020d.snapshot", fixture->dir, 40);
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    off_t positions[] = {
        0, 9, 33, 45, STORAGE_SNAPSHOT_HEADER_BYTES, STORAGE_SNAPSHOT_HEADER_BYTES + 4999};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        flip_byte_at(path, positions[i]);
        assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_CORRUPT);
        flip_byte_at(path, positions[i]);
    }
    assert_int_equal(truncate(path, STORAGE_SNAPSHOT_HEADER_BYTES + 4999), 0);
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_CORRUPT);
    assert_int_equal(truncate(path, 20), 0);
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_CORRUPT);
}

static void test_damaged_latest_snapshot_falls_back_to_the_one_before(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    write_snapshot(fixture, 10, 300, 64);
    write_snapshot(fixture, 20, 300, 64);
    char path[256];
    snprintf(path, sizeof path, "%s/%020d.snapshot", fixture->dir, 20);
    flip_byte_at(path, STORAGE_SNAPSHOT_HEADER_BYTES + 7);
    /* The damaged newest is passed over; the older one is whole and is what opens. */
    assert_latest_snapshot_is(fixture, 10, 300);
    snprintf(path, sizeof path, "%s/%020d.snapshot", fixture->dir, 10);
    flip_byte_at(path, STORAGE_SNAPSHOT_HEADER_BYTES + 7);
    struct storage_snapshot_meta meta;
    struct storage_snapshot_reader *reader = NULL;
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_ERR_CORRUPT);
}

static void test_snapshot_rejects_chunks_out_of_order_and_bad_metadata(void **state)
{
    struct fixture *fixture = *state;
    fixture_open(fixture);
    struct storage_snapshot_meta meta = {.last_included_index = 0, .last_included_term = 1};
    struct storage_snapshot_writer *writer = NULL;
    assert_int_equal(storage_snapshot_begin(fixture->log, &meta, &writer),
                     ETHER_ERR_INVALID_ARGUMENT);
    meta.last_included_index = 3;
    assert_int_equal(storage_snapshot_begin(fixture->log, &meta, &writer), ETHER_OK);
    assert_int_equal(storage_snapshot_write(writer, 0, "abcd", 4), ETHER_OK);
    assert_int_equal(storage_snapshot_write(writer, 8, "abcd", 4), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(storage_snapshot_write(writer, 0, "abcd", 4), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(storage_snapshot_write(writer, 4, "efgh", 4), ETHER_OK);
    assert_int_equal(storage_snapshot_commit(writer), ETHER_OK);
    struct storage_snapshot_reader *reader = NULL;
    assert_int_equal(storage_snapshot_open(fixture->log, &meta, &reader), ETHER_OK);
    assert_int_equal(meta.data_bytes, 8);
    char data[8];
    size_t got = 0;
    assert_int_equal(storage_snapshot_read(reader, 2, data, sizeof data, &got), ETHER_OK);
    assert_int_equal(got, 6);
    assert_memory_equal(data, "cdefgh", 6);
    storage_snapshot_close(reader);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
        TEST(test_hard_state_is_zero_before_the_first_save),
        TEST(test_hard_state_round_trips_and_survives_reopen),
        TEST(test_interrupted_hard_state_write_leaves_the_previous_state),
        TEST(test_corrupt_hard_state_is_reported_not_guessed),
        TEST(test_hard_state_of_a_future_version_is_unsupported),
        TEST(test_snapshot_written_in_chunks_reads_back_identically),
        TEST(test_snapshot_is_invisible_until_commit_and_abort_leaves_nothing),
        TEST(test_unfinished_snapshot_is_discarded_on_reopen),
        TEST(test_snapshot_commit_keeps_the_latest_and_one_older),
        TEST(test_corrupt_snapshot_is_reported_as_corrupt),
        TEST(test_damaged_latest_snapshot_falls_back_to_the_one_before),
        TEST(test_snapshot_rejects_chunks_out_of_order_and_bad_metadata),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
