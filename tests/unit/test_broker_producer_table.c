/*
 * Unit tests for broker/producer_table: sequence checks (order, duplicates,
 * gaps, epochs, wrap), in-flight batches, expiry by log time, snapshots and
 * rebuilding from a log. Randomised tests print their seed on failure;
 * PRODUCER_TABLE_TEST_SEED in the environment overrides it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/producer_table.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/mem.h"

enum { EXPIRY_MS = 60000 };

static struct producer_batch_info batch_of(int64_t producer_id, int16_t epoch,
                                           int32_t base_sequence, uint32_t record_count)
{
    struct producer_batch_info batch = {producer_id, epoch, base_sequence, record_count};
    return batch;
}

static int check(const struct producer_table *table, struct producer_batch_info batch,
                 struct producer_check_result *result)
{
    return producer_table_check(table, &batch, result);
}

static void assert_accepted(const struct producer_table *table, struct producer_batch_info batch)
{
    struct producer_check_result result;
    assert_int_equal(check(table, batch, &result), ETHER_OK);
    assert_int_equal(result.verdict, PRODUCER_CHECK_ACCEPT);
}

static void assert_refused(const struct producer_table *table, struct producer_batch_info batch,
                           int error)
{
    struct producer_check_result result;
    int rc = check(table, batch, &result);
    if (rc != error) {
        fail_msg("expected %s, got %s", ether_error_name(error), ether_error_name(rc));
    }
}

static void assert_duplicate_of(const struct producer_table *table,
                                struct producer_batch_info batch, uint64_t base_offset)
{
    struct producer_check_result result;
    assert_int_equal(check(table, batch, &result), ETHER_OK);
    assert_int_equal(result.verdict, PRODUCER_CHECK_DUPLICATE);
    assert_false(result.in_flight);
    assert_int_equal(result.base_offset, base_offset);
}

/* Checks, then applies the batch as committed at `base_offset`. */
static void accept_and_apply(struct producer_table *table, struct producer_batch_info batch,
                             uint64_t base_offset, int64_t timestamp_ms)
{
    assert_accepted(table, batch);
    producer_table_apply(table, &batch, base_offset, timestamp_ms);
}

static void encode(const struct producer_table *table, struct ether_buf *out)
{
    ether_buf_clear(out);
    producer_table_encode(table, out);
}

static void assert_same_encoding(const struct producer_table *left,
                                 const struct producer_table *right)
{
    struct ether_buf a = ETHER_BUF_INIT;
    struct ether_buf b = ETHER_BUF_INIT;
    encode(left, &a);
    encode(right, &b);
    assert_int_equal(a.length, b.length);
    assert_memory_equal(a.data, b.data, a.length);
    ether_buf_free(&a);
    ether_buf_free(&b);
}

/* splitmix64: small, seedable, the same on every platform. */
static uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t prng_below(uint64_t *state, uint64_t bound)
{
    return bound == 0 ? 0 : prng_next(state) % bound;
}

static uint64_t test_seed(uint64_t fallback)
{
    const char *text = getenv("PRODUCER_TABLE_TEST_SEED");
    return text != NULL ? strtoull(text, NULL, 0) : fallback;
}

/* ---- sequences ------------------------------------------------------------------------ */

static void test_batches_in_sequence_order_are_accepted(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(7, 0, 0, 3), 100, 1000);
    accept_and_apply(&table, batch_of(7, 0, 3, 1), 103, 1001);
    accept_and_apply(&table, batch_of(7, 0, 4, 10), 200, 1002);
    struct producer_description described;
    assert_true(producer_table_lookup(&table, 7, &described));
    assert_int_equal(described.producer_epoch, 0);
    assert_int_equal(described.last_sequence, 13);
    assert_int_equal(described.last_offset, 209);
    assert_int_equal(described.last_timestamp_ms, 1002);
    assert_false(producer_table_lookup(&table, 8, &described));
    assert_int_equal(producer_table_count(&table), 1);
    producer_table_free(&table);
}

static void test_non_idempotent_batches_always_pass_and_only_advance_log_time(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    for (int i = 0; i < 3; i++) {
        accept_and_apply(&table, batch_of(-1, -1, -1, 5), (uint64_t)i * 5, 500 + i);
    }
    assert_int_equal(producer_table_count(&table), 0);
    assert_int_equal(producer_table_log_time_ms(&table), 502);
    producer_table_free(&table);
}

static void
test_duplicate_of_each_of_the_last_five_batches_returns_its_original_offset(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    /* Batches of 2 records at sequences 0, 2, ..., 14 and offsets 1000, 1010, ... */
    for (int32_t i = 0; i < 8; i++) {
        accept_and_apply(&table, batch_of(1, 0, 2 * i, 2), 1000 + 10 * (uint64_t)i, 0);
    }
    for (int32_t i = 3; i < 8; i++) {
        assert_duplicate_of(&table, batch_of(1, 0, 2 * i, 2), 1000 + 10 * (uint64_t)i);
    }
    /* The same base sequence with another record count is not the same batch. */
    assert_refused(&table, batch_of(1, 0, 14, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    accept_and_apply(&table, batch_of(1, 0, 16, 2), 2000, 0);
    producer_table_free(&table);
}

static void test_duplicate_older_than_the_last_five_batches_is_out_of_order(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    for (int32_t i = 0; i < 6; i++) {
        accept_and_apply(&table, batch_of(1, 0, i, 1), (uint64_t)i, 0);
    }
    assert_duplicate_of(&table, batch_of(1, 0, 1, 1), 1);
    assert_refused(&table, batch_of(1, 0, 0, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    producer_table_free(&table);
}

static void test_gap_after_the_last_sequence_is_out_of_order(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 0, 0, 5), 0, 0);
    assert_refused(&table, batch_of(1, 0, 6, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_refused(&table, batch_of(1, 0, 4, 2), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_accepted(&table, batch_of(1, 0, 5, 1));
    producer_table_free(&table);
}

static void test_stale_epoch_is_fenced(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 3, 0, 1), 0, 0);
    assert_refused(&table, batch_of(1, 2, 1, 1), ETHER_ERR_PRODUCER_FENCED);
    assert_refused(&table, batch_of(1, 2, 0, 1), ETHER_ERR_PRODUCER_FENCED);
    assert_accepted(&table, batch_of(1, 3, 1, 1));
    producer_table_free(&table);
}

static void test_stale_epoch_batch_in_the_log_changes_nothing(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 3, 0, 1), 0, 0);
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&table, &before);
    struct producer_batch_info stale = batch_of(1, 2, 1, 1);
    producer_table_apply(&table, &stale, 1, 0);
    struct ether_buf after = ETHER_BUF_INIT;
    encode(&table, &after);
    assert_int_equal(before.length, after.length);
    assert_memory_equal(before.data, after.data, before.length);
    ether_buf_free(&before);
    ether_buf_free(&after);
    producer_table_free(&table);
}

static void test_new_epoch_starts_at_sequence_zero_and_forgets_the_old_epochs_batches(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 0, 0, 4), 0, 0);
    accept_and_apply(&table, batch_of(1, 0, 4, 4), 4, 0);
    assert_refused(&table, batch_of(1, 1, 8, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_refused(&table, batch_of(1, 1, 1, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    accept_and_apply(&table, batch_of(1, 1, 0, 2), 8, 0);
    struct producer_description described;
    assert_true(producer_table_lookup(&table, 1, &described));
    assert_int_equal(described.producer_epoch, 1);
    assert_int_equal(described.last_sequence, 1);
    /* The old epoch's batches are gone, and the old epoch is fenced. */
    assert_refused(&table, batch_of(1, 0, 4, 4), ETHER_ERR_PRODUCER_FENCED);
    assert_duplicate_of(&table, batch_of(1, 1, 0, 2), 8);
    assert_refused(&table, batch_of(1, 1, 4, 4), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    accept_and_apply(&table, batch_of(1, 1, 2, 1), 10, 0);
    producer_table_free(&table);
}

static void test_unknown_producer_must_start_at_sequence_zero(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    assert_refused(&table, batch_of(5, 0, 1, 1), ETHER_ERR_UNKNOWN_PRODUCER);
    assert_accepted(&table, batch_of(5, 0, 0, 1));
    assert_accepted(&table, batch_of(5, 9, 0, 1));
    producer_table_free(&table);
}

static void test_sequences_wrap_to_zero_after_int32_max_as_in_kafka(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 0, 0, 1), 0, 0);
    /* Apply records whatever the log committed: jump near the end of the sequence space. */
    struct producer_batch_info near_end = batch_of(1, 0, INT32_MAX - 4, 3);
    producer_table_apply(&table, &near_end, 1, 0);
    struct producer_description described;
    assert_true(producer_table_lookup(&table, 1, &described));
    assert_int_equal(described.last_sequence, INT32_MAX - 2);

    /* This batch covers INT32_MAX - 1, INT32_MAX, 0, 1. */
    accept_and_apply(&table, batch_of(1, 0, INT32_MAX - 1, 4), 4, 0);
    assert_true(producer_table_lookup(&table, 1, &described));
    assert_int_equal(described.last_sequence, 1);
    assert_int_equal(described.last_offset, 7);
    assert_duplicate_of(&table, batch_of(1, 0, INT32_MAX - 1, 4), 4);
    assert_refused(&table, batch_of(1, 0, 3, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    accept_and_apply(&table, batch_of(1, 0, 2, 1), 8, 0);

    struct ether_buf bytes = ETHER_BUF_INIT;
    encode(&table, &bytes);
    struct producer_table restored;
    producer_table_init(&restored, EXPIRY_MS);
    assert_int_equal(producer_table_decode(bytes.data, bytes.length, &restored), ETHER_OK);
    assert_duplicate_of(&restored, batch_of(1, 0, INT32_MAX - 1, 4), 4);
    ether_buf_free(&bytes);
    producer_table_free(&restored);
    producer_table_free(&table);
}

static void test_impossible_batch_fields_are_refused_by_check_and_ignored_by_apply(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    const struct producer_batch_info invalid[] = {
        batch_of(-2, 0, 0, 1),
        batch_of(1, -1, 0, 1),
        batch_of(1, 0, -1, 1),
        batch_of(1, 0, 0, 0),
        batch_of(1, 0, 0, PROTO_BATCH_RECORDS_MAX + 1),
        batch_of(INT64_MIN, 0, 0, 1),
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        assert_refused(&table, invalid[i], ETHER_ERR_INVALID_ARGUMENT);
        producer_table_apply(&table, &invalid[i], i, (int64_t)i);
    }
    assert_int_equal(producer_table_count(&table), 0);
    assert_int_equal(producer_table_log_time_ms(&table), 5);
    producer_table_free(&table);
}

/* ---- in-flight ------------------------------------------------------------------------ */

static void test_in_flight_retry_is_a_duplicate_with_its_raft_index(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 0, 0, 2), 0, 0);

    struct producer_batch_info first = batch_of(1, 0, 2, 3);
    struct producer_batch_info second = batch_of(1, 0, 5, 1);
    assert_accepted(&table, first);
    producer_table_note_in_flight(&table, &first, 40);
    /* Pipelining: the next batch follows the in-flight one. */
    assert_refused(&table, batch_of(1, 0, 2, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_accepted(&table, second);
    producer_table_note_in_flight(&table, &second, 41);

    struct producer_check_result result;
    assert_int_equal(check(&table, first, &result), ETHER_OK);
    assert_int_equal(result.verdict, PRODUCER_CHECK_DUPLICATE);
    assert_true(result.in_flight);
    assert_int_equal(result.raft_index, 40);
    assert_int_equal(check(&table, second, &result), ETHER_OK);
    assert_true(result.in_flight);
    assert_int_equal(result.raft_index, 41);
    /* The committed batches stay duplicates too. */
    assert_duplicate_of(&table, batch_of(1, 0, 0, 2), 0);
    /* In-flight state is not replicated: the snapshot does not show it. */
    assert_int_equal(producer_table_count(&table), 1);

    /* Committing replaces the in-flight record with the offset. */
    producer_table_apply(&table, &first, 2, 0);
    assert_duplicate_of(&table, first, 2);
    assert_int_equal(check(&table, second, &result), ETHER_OK);
    assert_true(result.in_flight);
    producer_table_apply(&table, &second, 5, 0);
    assert_duplicate_of(&table, second, 5);
    assert_accepted(&table, batch_of(1, 0, 6, 1));
    producer_table_free(&table);
}

static void test_in_flight_new_producer_and_new_epoch_are_seen_by_the_next_check(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    struct producer_batch_info fresh = batch_of(9, 0, 0, 1);
    producer_table_note_in_flight(&table, &fresh, 1);
    assert_accepted(&table, batch_of(9, 0, 1, 1));
    assert_refused(&table, batch_of(9, 0, 2, 1), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_int_equal(producer_table_count(&table), 0);

    accept_and_apply(&table, batch_of(4, 0, 0, 1), 0, 0);
    struct producer_batch_info bumped = batch_of(4, 1, 0, 1);
    producer_table_note_in_flight(&table, &bumped, 2);
    assert_refused(&table, batch_of(4, 0, 1, 1), ETHER_ERR_PRODUCER_FENCED);
    assert_accepted(&table, batch_of(4, 1, 1, 1));
    producer_table_free(&table);
}

static void test_forget_in_flight_drops_every_uncommitted_batch(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    accept_and_apply(&table, batch_of(1, 0, 0, 1), 0, 0);
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&table, &before);

    struct producer_batch_info known = batch_of(1, 0, 1, 1);
    struct producer_batch_info fresh = batch_of(2, 0, 0, 1);
    producer_table_note_in_flight(&table, &known, 10);
    producer_table_note_in_flight(&table, &fresh, 11);
    producer_table_forget_in_flight(&table);

    /* The retries are new batches again; the unknown producer is unknown again. */
    assert_accepted(&table, known);
    assert_accepted(&table, fresh);
    assert_refused(&table, batch_of(2, 0, 1, 1), ETHER_ERR_UNKNOWN_PRODUCER);
    struct ether_buf after = ETHER_BUF_INIT;
    encode(&table, &after);
    assert_int_equal(before.length, after.length);
    assert_memory_equal(before.data, after.data, before.length);

    /* Only committed entries left: forgetting again is harmless. */
    producer_table_note_in_flight(&table, &known, 12);
    producer_table_forget_in_flight(&table);
    assert_accepted(&table, known);
    ether_buf_free(&before);
    ether_buf_free(&after);
    producer_table_free(&table);
}

static void test_in_flight_batches_per_producer_are_bounded(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    for (int32_t i = 0; i < PRODUCER_TABLE_IN_FLIGHT_MAX; i++) {
        struct producer_batch_info batch = batch_of(3, 0, i, 1);
        assert_accepted(&table, batch);
        producer_table_note_in_flight(&table, &batch, 100 + (uint64_t)i);
    }
    assert_refused(&table, batch_of(3, 0, PRODUCER_TABLE_IN_FLIGHT_MAX, 1), ETHER_ERR_BUSY);
    /* Retries are still recognised, and a commit makes room. */
    struct producer_check_result result;
    assert_int_equal(check(&table, batch_of(3, 0, 0, 1), &result), ETHER_OK);
    assert_int_equal(result.raft_index, 100);
    struct producer_batch_info oldest = batch_of(3, 0, 0, 1);
    producer_table_apply(&table, &oldest, 0, 0);
    assert_accepted(&table, batch_of(3, 0, PRODUCER_TABLE_IN_FLIGHT_MAX, 1));
    producer_table_free(&table);
}

/* ---- expiry --------------------------------------------------------------------------- */

static void test_producers_idle_longer_than_expiry_in_log_time_are_forgotten(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, 1000);
    accept_and_apply(&table, batch_of(1, 0, 0, 1), 0, 10000);
    accept_and_apply(&table, batch_of(2, 0, 0, 1), 1, 10500);
    /* A batch with a lagging clock does not make its producer look old. */
    accept_and_apply(&table, batch_of(1, 0, 1, 1), 2, 3000);
    struct producer_description described;
    assert_true(producer_table_lookup(&table, 1, &described));
    assert_int_equal(described.last_timestamp_ms, 10500);

    /* Log time 11500: nobody is idle for more than 1000 ms yet. */
    accept_and_apply(&table, batch_of(-1, -1, -1, 1), 3, 11500);
    assert_int_equal(producer_table_count(&table), 2);
    /* Log time 11501: both are. */
    accept_and_apply(&table, batch_of(3, 0, 0, 1), 4, 11501);
    assert_int_equal(producer_table_count(&table), 1);
    assert_false(producer_table_lookup(&table, 1, &described));
    assert_true(producer_table_lookup(&table, 3, &described));

    /* An expired producer's next batch is from an unknown producer. */
    assert_refused(&table, batch_of(1, 0, 2, 1), ETHER_ERR_UNKNOWN_PRODUCER);
    accept_and_apply(&table, batch_of(1, 0, 0, 1), 5, 11501);
    assert_int_equal(producer_table_count(&table), 2);
    producer_table_free(&table);
}

static void test_expiry_depends_only_on_the_log(void **unused)
{
    (void)unused;
    /* Two replicas applying the same batches at different "real" times agree; and a
     * replica restored from a snapshot expires the same producers afterwards. */
    struct producer_table left;
    struct producer_table right;
    producer_table_init(&left, 500);
    producer_table_init(&right, 500);
    for (int64_t p = 0; p < 50; p++) {
        struct producer_batch_info batch = batch_of(p, 0, 0, 1);
        producer_table_apply(&left, &batch, (uint64_t)p, 100 * p);
        if (p == 25) {
            struct ether_buf bytes = ETHER_BUF_INIT;
            encode(&left, &bytes);
            assert_int_equal(producer_table_decode(bytes.data, bytes.length, &right), ETHER_OK);
            ether_buf_free(&bytes);
        } else if (p > 25) {
            producer_table_apply(&right, &batch, (uint64_t)p, 100 * p);
        }
    }
    assert_int_equal(producer_table_count(&left), 6); /* 4400 .. 4900 */
    assert_same_encoding(&left, &right);
    producer_table_free(&left);
    producer_table_free(&right);
}

static void test_producers_never_expire_with_the_largest_expiry(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, UINT64_MAX);
    accept_and_apply(&table, batch_of(1, 0, 0, 1), 0, INT64_MIN);
    accept_and_apply(&table, batch_of(2, 0, 0, 1), 1, INT64_MAX);
    assert_int_equal(producer_table_count(&table), 2);
    producer_table_free(&table);
}

static void test_many_producers_come_and_go_through_the_hash_table(void **unused)
{
    (void)unused;
    enum { PRODUCERS = 20000 };
    struct producer_table table;
    producer_table_init(&table, 10);
    for (int64_t p = 0; p < PRODUCERS; p++) {
        struct producer_batch_info batch = batch_of(p * 7919, 0, 0, 1);
        producer_table_apply(&table, &batch, (uint64_t)p, 0);
    }
    assert_int_equal(producer_table_count(&table), PRODUCERS);
    for (int64_t p = 0; p < PRODUCERS; p += 97) {
        assert_duplicate_of(&table, batch_of(p * 7919, 0, 0, 1), (uint64_t)p);
    }
    /* Half of them write again; then log time moves on and the other half expire. */
    for (int64_t p = 0; p < PRODUCERS; p += 2) {
        struct producer_batch_info batch = batch_of(p * 7919, 0, 1, 1);
        producer_table_apply(&table, &batch, (uint64_t)(PRODUCERS + p), 5);
    }
    struct producer_batch_info tick = batch_of(-1, -1, -1, 1);
    producer_table_apply(&table, &tick, 3 * PRODUCERS, 11);
    assert_int_equal(producer_table_count(&table), PRODUCERS / 2);
    for (int64_t p = 0; p < 200; p++) {
        struct producer_description described;
        assert_int_equal(producer_table_lookup(&table, p * 7919, &described), p % 2 == 0);
    }
    producer_table_apply(&table, &tick, 3 * PRODUCERS + 1, 100);
    assert_int_equal(producer_table_count(&table), 0);
    assert_int_equal(table.entries_count, 0);
    assert_true(table.slots_count <= 32);
    producer_table_free(&table);
}

/* ---- describe ------------------------------------------------------------------------- */

static void test_describe_lists_producers_by_id_with_their_last_batch(void **unused)
{
    (void)unused;
    struct producer_table table;
    producer_table_init(&table, EXPIRY_MS);
    struct producer_description *producers = NULL;
    size_t count = 99;
    producer_table_describe(&table, &producers, &count);
    assert_null(producers);
    assert_int_equal(count, 0);

    accept_and_apply(&table, batch_of(30, 2, 0, 5), 0, 100);
    accept_and_apply(&table, batch_of(10, 0, 0, 1), 5, 90);
    accept_and_apply(&table, batch_of(20, 1, 0, 2), 6, 120);
    accept_and_apply(&table, batch_of(10, 0, 1, 3), 8, 110);
    producer_table_describe(&table, &producers, &count);
    assert_int_equal(count, 3);
    assert_int_equal(producers[0].producer_id, 10);
    assert_int_equal(producers[0].producer_epoch, 0);
    assert_int_equal(producers[0].last_sequence, 3);
    assert_int_equal(producers[0].last_offset, 10);
    assert_int_equal(producers[0].last_timestamp_ms, 120);
    assert_int_equal(producers[1].producer_id, 20);
    assert_int_equal(producers[1].producer_epoch, 1);
    assert_int_equal(producers[1].last_offset, 7);
    assert_int_equal(producers[2].producer_id, 30);
    assert_int_equal(producers[2].producer_epoch, 2);
    assert_int_equal(producers[2].last_sequence, 4);
    assert_int_equal(producers[2].last_timestamp_ms, 100);
    ether_free(producers);
    producer_table_free(&table);
}

/* ---- rebuilding and snapshots --------------------------------------------------------- */

struct log_entry {
    struct producer_batch_info batch;
    uint64_t base_offset;
    int64_t timestamp_ms;
};

struct simulated_producer {
    int16_t epoch;
    int32_t next_sequence;
    struct producer_batch_info sent[8]; /* recent batches, for retries */
    size_t sent_count;
};

/* A batch a producer might send: the next one, a retry, a gap, a new epoch, a stale epoch. */
static struct producer_batch_info random_batch(uint64_t *prng, struct simulated_producer *producers,
                                               size_t producers_count, int64_t *producer_id)
{
    size_t p = (size_t)prng_below(prng, producers_count);
    struct simulated_producer *producer = &producers[p];
    *producer_id = (int64_t)p * 1000 + 1;
    uint32_t records = 1 + (uint32_t)prng_below(prng, 4);
    switch (prng_below(prng, 12)) {
    case 0:
        if (producer->sent_count > 0) {
            return producer->sent[prng_below(prng, producer->sent_count)];
        }
        break;
    case 1:
        return batch_of(*producer_id, producer->epoch, producer->next_sequence + 1, records);
    case 2:
        producer->epoch++;
        producer->next_sequence = 0;
        producer->sent_count = 0;
        break;
    case 3:
        if (producer->epoch > 0) {
            return batch_of(*producer_id, (int16_t)(producer->epoch - 1), 0, records);
        }
        break;
    case 4:
        return batch_of(-1, -1, -1, records);
    default:
        break;
    }
    return batch_of(*producer_id, producer->epoch, producer->next_sequence, records);
}

static void remember_sent(struct simulated_producer *producer, struct producer_batch_info batch)
{
    if (producer->sent_count == 8) {
        memmove(&producer->sent[0], &producer->sent[1], 7 * sizeof producer->sent[0]);
        producer->sent_count--;
    }
    producer->sent[producer->sent_count++] = batch;
    producer->next_sequence = batch.base_sequence + (int32_t)batch.record_count;
}

/*
 * A leader checks random batches, notes the accepted ones in flight and
 * commits them in small steps; sometimes it loses its uncommitted tail. A
 * follower applies the committed log. Both, a table rebuilt from the whole
 * log, and a table restored from a snapshot midway must encode identically.
 */
static void test_tables_rebuilt_from_the_same_log_encode_identically(void **unused)
{
    (void)unused;
    enum { ROUNDS = 20000, LOG_MAX = ROUNDS, PRODUCERS = 12 };
    uint64_t seed = test_seed(2024);
    uint64_t prng = seed;
    struct producer_table leader;
    struct producer_table follower;
    struct producer_table restored;
    producer_table_init(&leader, 3000);
    producer_table_init(&follower, 3000);
    producer_table_init(&restored, 3000);
    struct log_entry *log = ether_calloc(LOG_MAX, sizeof *log);
    size_t log_count = 0;
    size_t committed_count = 0;
    size_t restored_from = 0;
    uint64_t next_offset = 0;
    int64_t clock_ms = 0;
    struct simulated_producer producers[PRODUCERS];
    memset(producers, 0, sizeof producers);
    int outcomes[6] = {0};

    for (int round = 0; round < ROUNDS; round++) {
        int64_t producer_id = 0;
        struct producer_batch_info batch = random_batch(&prng, producers, PRODUCERS, &producer_id);
        struct producer_check_result result;
        int rc = producer_table_check(&leader, &batch, &result);
        if (rc == ETHER_OK && result.verdict == PRODUCER_CHECK_ACCEPT) {
            outcomes[0]++;
            producer_table_note_in_flight(&leader, &batch, log_count + 1);
            clock_ms += (int64_t)prng_below(&prng, 100);
            /* Producers' clocks disagree a little. */
            int64_t timestamp_ms = clock_ms - (int64_t)prng_below(&prng, 200);
            log[log_count++] = (struct log_entry){batch, next_offset, timestamp_ms};
            next_offset += batch.record_count;
            if (batch.producer_id >= 0) {
                remember_sent(&producers[(batch.producer_id - 1) / 1000], batch);
            }
        } else if (rc == ETHER_OK) {
            outcomes[1]++;
            if (!result.in_flight) {
                /* The original is committed at that offset with the same identity. */
                int found = 0;
                for (size_t i = 0; i < committed_count; i++) {
                    if (log[i].base_offset == result.base_offset &&
                        log[i].batch.producer_id == batch.producer_id &&
                        log[i].batch.base_sequence == batch.base_sequence) {
                        found = 1;
                    }
                }
                if (!found) {
                    fail_msg("seed %llu round %d: duplicate of an offset not in the log",
                             (unsigned long long)seed, round);
                }
            } else if (result.raft_index <= committed_count || result.raft_index > log_count) {
                fail_msg("seed %llu round %d: in flight at a raft index not in flight",
                         (unsigned long long)seed, round);
            }
        } else {
            /* A producer whose next batch is refused starts over with a new epoch, as
             * Kafka's idempotent producer does. */
            if (batch.producer_id >= 0 &&
                (rc == ETHER_ERR_UNKNOWN_PRODUCER || rc == ETHER_ERR_OUT_OF_ORDER_SEQUENCE)) {
                struct simulated_producer *producer = &producers[(batch.producer_id - 1) / 1000];
                if (batch.producer_epoch == producer->epoch &&
                    batch.base_sequence == producer->next_sequence) {
                    producer->epoch++;
                    producer->next_sequence = 0;
                    producer->sent_count = 0;
                }
            }
            outcomes[rc == ETHER_ERR_OUT_OF_ORDER_SEQUENCE ? 2
                     : rc == ETHER_ERR_PRODUCER_FENCED     ? 3
                     : rc == ETHER_ERR_UNKNOWN_PRODUCER    ? 4
                                                           : 5]++;
        }

        /* Commit a few entries. */
        size_t commit_to = committed_count + (size_t)prng_below(&prng, 3);
        if (commit_to > log_count) {
            commit_to = log_count;
        }
        for (; committed_count < commit_to; committed_count++) {
            const struct log_entry *entry = &log[committed_count];
            producer_table_apply(&leader, &entry->batch, entry->base_offset, entry->timestamp_ms);
            producer_table_apply(&follower, &entry->batch, entry->base_offset, entry->timestamp_ms);
            if (restored_from > 0) {
                producer_table_apply(&restored, &entry->batch, entry->base_offset,
                                     entry->timestamp_ms);
            }
        }
        /* Leadership lost now and then: the uncommitted tail is truncated. */
        if (prng_below(&prng, 200) == 0 && log_count > committed_count) {
            producer_table_forget_in_flight(&leader);
            log_count = committed_count;
            next_offset = log_count > 0 ? log[log_count - 1].base_offset +
                                              log[log_count - 1].batch.record_count
                                        : 0;
            for (size_t p = 0; p < PRODUCERS; p++) {
                /* Producers resend from what they believe; the table sorts it out. */
                producers[p].sent_count = 0;
            }
        }
        if (round == ROUNDS / 2) {
            struct ether_buf bytes = ETHER_BUF_INIT;
            encode(&follower, &bytes);
            assert_int_equal(producer_table_decode(bytes.data, bytes.length, &restored), ETHER_OK);
            restored_from = committed_count + 1;
            ether_buf_free(&bytes);
        }
    }
    for (; committed_count < log_count; committed_count++) {
        const struct log_entry *entry = &log[committed_count];
        producer_table_apply(&leader, &entry->batch, entry->base_offset, entry->timestamp_ms);
        producer_table_apply(&follower, &entry->batch, entry->base_offset, entry->timestamp_ms);
        producer_table_apply(&restored, &entry->batch, entry->base_offset, entry->timestamp_ms);
    }
    struct producer_table rebuilt;
    producer_table_init(&rebuilt, 3000);
    for (size_t i = 0; i < log_count; i++) {
        producer_table_apply(&rebuilt, &log[i].batch, log[i].base_offset, log[i].timestamp_ms);
    }
    assert_same_encoding(&leader, &follower);
    assert_same_encoding(&follower, &rebuilt);
    assert_same_encoding(&follower, &restored);
    if (outcomes[0] < 1000 || outcomes[1] < 100 || outcomes[2] < 100 || outcomes[3] < 10 ||
        outcomes[4] < 1) {
        fail_msg("seed %llu: outcomes accept %d duplicate %d out-of-order %d fenced %d "
                 "unknown %d other %d do not cover the cases",
                 (unsigned long long)seed, outcomes[0], outcomes[1], outcomes[2], outcomes[3],
                 outcomes[4], outcomes[5]);
    }
    ether_free(log);
    producer_table_free(&rebuilt);
    producer_table_free(&restored);
    producer_table_free(&follower);
    producer_table_free(&leader);
}

/* Three producers, one with a new epoch and one with more than five batches. */
static void build_busy_table(struct producer_table *table)
{
    producer_table_init(table, EXPIRY_MS);
    uint64_t offset = 0;
    for (int32_t i = 0; i < 7; i++) {
        struct producer_batch_info batch = batch_of(42, 0, 2 * i, 2);
        producer_table_apply(table, &batch, offset, 1000 + i);
        offset += 2;
    }
    struct producer_batch_info batch = batch_of(7, 0, 0, 3);
    producer_table_apply(table, &batch, offset, 900);
    offset += 3;
    batch = batch_of(7, 1, 0, 1);
    producer_table_apply(table, &batch, offset, 1500);
    offset += 1;
    batch = batch_of(INT64_MAX, INT16_MAX, 0, 10);
    producer_table_apply(table, &batch, offset, 1400);
}

static void test_snapshot_round_trip_is_exact_and_both_continue_identically(void **unused)
{
    (void)unused;
    struct producer_table table;
    build_busy_table(&table);
    struct producer_batch_info in_flight = batch_of(42, 0, 14, 1);
    producer_table_note_in_flight(&table, &in_flight, 99);
    struct ether_buf bytes = ETHER_BUF_INIT;
    encode(&table, &bytes);
    assert_int_equal(bytes.length,
                     PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES + 3 * PRODUCER_TABLE_RECORD_BYTES);

    struct producer_table restored;
    producer_table_init(&restored, EXPIRY_MS);
    assert_int_equal(producer_table_decode(bytes.data, bytes.length, &restored), ETHER_OK);
    assert_same_encoding(&table, &restored);
    assert_int_equal(producer_table_log_time_ms(&restored), 1500);
    for (int32_t i = 2; i < 7; i++) {
        assert_duplicate_of(&restored, batch_of(42, 0, 2 * i, 2), 2 * (uint64_t)i);
    }
    assert_refused(&restored, batch_of(42, 0, 2, 2), ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_refused(&restored, batch_of(7, 0, 3, 1), ETHER_ERR_PRODUCER_FENCED);
    /* The in-flight batch is the leader's own, not part of the snapshot. */
    assert_accepted(&restored, in_flight);

    /* Both go on identically, expiry included. */
    producer_table_forget_in_flight(&table);
    for (int32_t i = 0; i < 20; i++) {
        struct producer_batch_info batch = batch_of(42, 0, 14 + i, 1);
        accept_and_apply(&table, batch, 100 + (uint64_t)i, 1500 + 5000 * i);
        accept_and_apply(&restored, batch, 100 + (uint64_t)i, 1500 + 5000 * i);
        assert_same_encoding(&table, &restored);
    }
    assert_int_equal(producer_table_count(&restored), 1);

    /* Decoding over a table with content replaces it; an empty table round-trips. */
    assert_int_equal(producer_table_decode(bytes.data, bytes.length, &restored), ETHER_OK);
    assert_int_equal(producer_table_count(&restored), 3);
    struct producer_table empty;
    producer_table_init(&empty, EXPIRY_MS);
    encode(&empty, &bytes);
    assert_int_equal(bytes.length, PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES);
    assert_int_equal(producer_table_decode(bytes.data, bytes.length, &restored), ETHER_OK);
    assert_same_encoding(&empty, &restored);
    assert_int_equal(producer_table_log_time_ms(&restored), INT64_MIN);
    ether_buf_free(&bytes);
    producer_table_free(&empty);
    producer_table_free(&restored);
    producer_table_free(&table);
}

static void rechecksum(uint8_t *data, size_t size_bytes)
{
    ether_put_u32le(data, ether_crc32c(data + 4, size_bytes - 4));
}

static void test_corrupt_or_truncated_snapshot_bytes_are_refused_and_change_nothing(void **unused)
{
    (void)unused;
    struct producer_table source;
    build_busy_table(&source);
    struct ether_buf good = ETHER_BUF_INIT;
    encode(&source, &good);

    struct producer_table target;
    producer_table_init(&target, EXPIRY_MS);
    accept_and_apply(&target, batch_of(5, 0, 0, 1), 0, 0);
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&target, &before);

    for (size_t cut = 0; cut < good.length; cut++) {
        assert_int_equal(producer_table_decode(good.data, cut, &target), ETHER_ERR_CORRUPT);
    }
    uint8_t *mutated = ether_malloc(good.length + 1);
    memcpy(mutated, good.data, good.length);
    mutated[good.length] = 0;
    assert_int_equal(producer_table_decode(mutated, good.length + 1, &target), ETHER_ERR_CORRUPT);

    /* Named edits with a correct checksum: only the field checks stand in the way. */
    struct edit {
        size_t at;
        uint8_t value;
        int expected;
    };
    size_t record = PRODUCER_TABLE_SNAPSHOT_HEADER_BYTES;
    const struct edit edits[] = {
        {4, 2, ETHER_ERR_UNSUPPORTED},                      /* newer version */
        {4, 0, ETHER_ERR_CORRUPT},                          /* version 0 */
        {6, 1, ETHER_ERR_CORRUPT},                          /* reserved */
        {16, 4, ETHER_ERR_CORRUPT},                         /* producers_count */
        {record + 7, 0x80, ETHER_ERR_CORRUPT},              /* negative producer id */
        {record + 9, 0x80, ETHER_ERR_CORRUPT},              /* negative epoch */
        {record + 10, 0, ETHER_ERR_CORRUPT},                /* no batches */
        {record + 10, 6, ETHER_ERR_CORRUPT},                /* too many batches */
        {record + 11, 1, ETHER_ERR_CORRUPT},                /* reserved */
        {record + 19, 0x7f, ETHER_ERR_CORRUPT},             /* timestamp after log time */
        {record + 20 + 3, 0x80, ETHER_ERR_CORRUPT},         /* negative sequence */
        {record + 20 + 7, 0x10, ETHER_ERR_CORRUPT},         /* batch of too many records */
        {record + 100 + 20 + 16 + 8, 0, ETHER_ERR_CORRUPT}, /* offsets out of order */
        {record + 20 + 16 * 4 + 1, 1, ETHER_ERR_CORRUPT},   /* unused batch slot not zero */
        {record + 100, 0, ETHER_ERR_CORRUPT},               /* ids not increasing (7 -> 0) */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(mutated, good.data, good.length);
        mutated[edits[i].at] = edits[i].value;
        rechecksum(mutated, good.length);
        int rc = producer_table_decode(mutated, good.length, &target);
        if (rc != edits[i].expected) {
            fail_msg("edit %zu: expected %s, got %s", i, ether_error_name(edits[i].expected),
                     ether_error_name(rc));
        }
    }

    /* Seeded random mutations: without a new checksum they are always corrupt; with one,
     * the result is refused or, when it happens to be a valid table, encodes back exactly. */
    uint64_t seed = test_seed(77);
    uint64_t prng = seed;
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(mutated, good.data, good.length);
        int flips = 1 + (int)prng_below(&prng, 3);
        for (int f = 0; f < flips; f++) {
            size_t at = 4 + (size_t)prng_below(&prng, good.length - 4);
            mutated[at] ^= (uint8_t)(1 + prng_below(&prng, 255));
        }
        size_t length = good.length;
        if (prng_below(&prng, 8) == 0) {
            length = 4 + (size_t)prng_below(&prng, good.length - 4);
        }
        bool fix_checksum = round % 2 == 1;
        if (fix_checksum) {
            rechecksum(mutated, length);
        }
        struct producer_table scratch;
        producer_table_init(&scratch, EXPIRY_MS);
        int rc = producer_table_decode(mutated, length, &scratch);
        if (!fix_checksum && rc != ETHER_ERR_CORRUPT) {
            fail_msg("seed %llu round %d: decode returned %s", (unsigned long long)seed, round,
                     ether_error_name(rc));
        }
        if (rc == ETHER_OK) {
            accepted++;
            struct ether_buf again = ETHER_BUF_INIT;
            encode(&scratch, &again);
            if (again.length != length || memcmp(again.data, mutated, length) != 0) {
                fail_msg("seed %llu round %d: an accepted snapshot does not encode back",
                         (unsigned long long)seed, round);
            }
            ether_buf_free(&again);
        } else if (rc != ETHER_ERR_CORRUPT && rc != ETHER_ERR_UNSUPPORTED) {
            fail_msg("seed %llu round %d: decode returned %s", (unsigned long long)seed, round,
                     ether_error_name(rc));
        }
        producer_table_free(&scratch);
    }
    assert_true(accepted > 0); /* some timestamp and offset edits stay valid */
    ether_free(mutated);

    struct ether_buf after = ETHER_BUF_INIT;
    encode(&target, &after);
    assert_int_equal(before.length, after.length);
    assert_memory_equal(before.data, after.data, before.length);
    ether_buf_free(&after);
    ether_buf_free(&before);
    ether_buf_free(&good);
    producer_table_free(&target);
    producer_table_free(&source);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_in_sequence_order_are_accepted),
        cmocka_unit_test(test_non_idempotent_batches_always_pass_and_only_advance_log_time),
        cmocka_unit_test(
            test_duplicate_of_each_of_the_last_five_batches_returns_its_original_offset),
        cmocka_unit_test(test_duplicate_older_than_the_last_five_batches_is_out_of_order),
        cmocka_unit_test(test_gap_after_the_last_sequence_is_out_of_order),
        cmocka_unit_test(test_stale_epoch_is_fenced),
        cmocka_unit_test(test_stale_epoch_batch_in_the_log_changes_nothing),
        cmocka_unit_test(test_new_epoch_starts_at_sequence_zero_and_forgets_the_old_epochs_batches),
        cmocka_unit_test(test_unknown_producer_must_start_at_sequence_zero),
        cmocka_unit_test(test_sequences_wrap_to_zero_after_int32_max_as_in_kafka),
        cmocka_unit_test(test_impossible_batch_fields_are_refused_by_check_and_ignored_by_apply),
        cmocka_unit_test(test_in_flight_retry_is_a_duplicate_with_its_raft_index),
        cmocka_unit_test(test_in_flight_new_producer_and_new_epoch_are_seen_by_the_next_check),
        cmocka_unit_test(test_forget_in_flight_drops_every_uncommitted_batch),
        cmocka_unit_test(test_in_flight_batches_per_producer_are_bounded),
        cmocka_unit_test(test_producers_idle_longer_than_expiry_in_log_time_are_forgotten),
        cmocka_unit_test(test_expiry_depends_only_on_the_log),
        cmocka_unit_test(test_producers_never_expire_with_the_largest_expiry),
        cmocka_unit_test(test_many_producers_come_and_go_through_the_hash_table),
        cmocka_unit_test(test_describe_lists_producers_by_id_with_their_last_batch),
        cmocka_unit_test(test_tables_rebuilt_from_the_same_log_encode_identically),
        cmocka_unit_test(test_snapshot_round_trip_is_exact_and_both_continue_identically),
        cmocka_unit_test(test_corrupt_or_truncated_snapshot_bytes_are_refused_and_change_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
