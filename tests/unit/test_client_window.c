/*
 * Unit tests of the idempotent producer's pure parts (client/window.c and the
 * sequence helpers of client/batch.c): sequence numbers per partition and
 * their wrap, the in-flight limit, retries that keep sequences and order,
 * and the verdicts that fail records clearly. No threads, no sockets, no clocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "client/client_internal.h"

static const struct client_producer_identity identity = {
    .producer_id = 42,
    .producer_epoch = 3,
    .generation = 1,
};

/* A sealed batch of `count` one-byte records. */
static struct client_batch *batch_of(uint32_t count)
{
    struct client_record_queue queue = {0};
    for (uint32_t i = 0; i < count; i++) {
        struct client_record *record = client_record_new(NULL, 0, "v", 1);
        record->timestamp_ms = 1000 + i;
        client_record_queue_push(&queue, record);
    }
    struct client_batch *batch = client_batch_seal(&queue, 64 * 1024, PROTO_COMPRESSION_NONE);
    assert_int_equal(queue.count, 0);
    return batch;
}

static struct proto_batch_header header_of(const struct client_batch *batch)
{
    struct proto_batch_header header;
    assert_int_equal(proto_batch_parse(batch->bytes.data, batch->bytes.length, &header), ETHER_OK);
    return header;
}

static void window_free(struct client_window *window)
{
    struct client_batch *batch;
    while ((batch = client_window_pop_sealed(window)) != NULL) {
        client_batch_free(batch);
    }
    while (window->in_flight_head != NULL) {
        batch = window->in_flight_head;
        client_window_answer(window, batch, ETHER_ERR_CLOSED, false, false, "test over");
        client_batch_free(batch);
    }
}

static void test_sequences_wrap_to_zero_after_int32_max(void **state)
{
    (void)state;
    assert_int_equal(client_sequence_add(0, 5), 5);
    assert_int_equal(client_sequence_add(INT32_MAX, 1), 0);
    assert_int_equal(client_sequence_add(INT32_MAX - 1, 3), 1);
    assert_true(client_sequence_before(3, 4));
    assert_false(client_sequence_before(4, 4));
    assert_false(client_sequence_before(5, 4));
    assert_true(client_sequence_before(INT32_MAX, 0));
    assert_false(client_sequence_before(0, INT32_MAX));
}

static void test_stamp_writes_the_producer_fields_and_a_valid_crc(void **state)
{
    (void)state;
    struct client_batch *batch = batch_of(3);
    struct proto_batch_header before = header_of(batch);
    assert_int_equal(before.producer_id, -1);
    assert_int_equal(before.base_sequence, -1);
    client_batch_stamp(batch, 7, 2, INT32_MAX - 1, 1);
    struct proto_batch_header after = header_of(batch);
    assert_int_equal(after.producer_id, 7);
    assert_int_equal(after.producer_epoch, 2);
    assert_int_equal(after.base_sequence, INT32_MAX - 1);
    assert_int_equal(after.record_count, 3);
    assert_int_equal(batch->base_sequence, INT32_MAX - 1);
    client_batch_free(batch);
}

static void test_each_partition_numbers_its_batches_by_record_count(void **state)
{
    (void)state;
    struct client_window first = {0};
    struct client_window second = {0};
    client_window_push(&first, batch_of(3));
    client_window_push(&first, batch_of(2));
    client_window_push(&first, batch_of(1));
    client_window_push(&second, batch_of(4));
    struct client_batch *a = client_window_take(&first, true, &identity, 5, 0);
    struct client_batch *b = client_window_take(&first, true, &identity, 5, 0);
    struct client_batch *c = client_window_take(&first, true, &identity, 5, 0);
    struct client_batch *d = client_window_take(&second, true, &identity, 5, 0);
    assert_int_equal(header_of(a).base_sequence, 0);
    assert_int_equal(header_of(b).base_sequence, 3);
    assert_int_equal(header_of(c).base_sequence, 5);
    assert_int_equal(header_of(d).base_sequence, 0); /* its own numbering */
    assert_int_equal(header_of(a).producer_id, 42);
    assert_int_equal(header_of(a).producer_epoch, 3);
    assert_int_equal(first.next_sequence, 6);
    assert_int_equal(second.next_sequence, 4);
    window_free(&first);
    window_free(&second);
}

static void test_a_batch_that_crosses_int32_max_wraps_the_next_sequence(void **state)
{
    (void)state;
    struct client_window window = {0};
    window.generation = identity.generation;
    window.next_sequence = INT32_MAX - 1;
    window.acked_sequence = INT32_MAX - 1;
    client_window_push(&window, batch_of(3));
    client_window_push(&window, batch_of(1));
    struct client_batch *a = client_window_take(&window, true, &identity, 5, 0);
    struct client_batch *b = client_window_take(&window, true, &identity, 5, 0);
    assert_int_equal(header_of(a).base_sequence, INT32_MAX - 1);
    assert_int_equal(header_of(b).base_sequence, 1);
    assert_int_equal(client_window_answer(&window, a, ETHER_OK, false, false, ""),
                     CLIENT_WINDOW_DELIVERED);
    assert_int_equal(window.acked_sequence, 1);
    client_batch_free(a);
    window_free(&window);
}

static void test_at_most_the_window_width_is_in_flight(void **state)
{
    (void)state;
    struct client_window window = {0};
    for (int i = 0; i < 7; i++) {
        client_window_push(&window, batch_of(1));
    }
    struct client_batch *sent[7] = {0};
    for (int i = 0; i < CLIENT_IN_FLIGHT_BATCHES_MAX; i++) {
        sent[i] = client_window_take(&window, true, &identity, CLIENT_IN_FLIGHT_BATCHES_MAX, 0);
        assert_non_null(sent[i]);
    }
    assert_null(client_window_take(&window, true, &identity, CLIENT_IN_FLIGHT_BATCHES_MAX, 0));
    assert_int_equal(window.in_flight_count, 5);
    assert_int_equal(client_window_answer(&window, sent[0], ETHER_OK, false, false, ""),
                     CLIENT_WINDOW_DELIVERED);
    client_batch_free(sent[0]);
    sent[5] = client_window_take(&window, true, &identity, CLIENT_IN_FLIGHT_BATCHES_MAX, 0);
    assert_non_null(sent[5]);
    assert_int_equal(sent[5]->base_sequence, 5);
    window_free(&window);
}

static void test_without_idempotence_one_unstamped_batch_is_in_flight(void **state)
{
    (void)state;
    struct client_window window = {0};
    client_window_push(&window, batch_of(1));
    client_window_push(&window, batch_of(1));
    struct client_batch *a = client_window_take(&window, false, NULL, 1, 0);
    assert_non_null(a);
    assert_null(client_window_take(&window, false, NULL, 1, 0));
    assert_int_equal(header_of(a).producer_id, -1);
    assert_int_equal(header_of(a).base_sequence, -1);
    assert_int_equal(client_window_answer(&window, a, ETHER_ERR_NOT_LEADER, true, false, "x"),
                     CLIENT_WINDOW_RETRY);
    assert_ptr_equal(window.sealed_head, a); /* back in front, before the unsent one */
    assert_int_equal(client_window_answer(&window, client_window_take(&window, false, NULL, 1, 0),
                                          ETHER_ERR_CORRUPT, false, false, "bad"),
                     CLIENT_WINDOW_FAILED);
    client_batch_free(a);
    window_free(&window);
}

static void test_nothing_is_stamped_before_the_producer_has_an_id(void **state)
{
    (void)state;
    struct client_window window = {0};
    client_window_push(&window, batch_of(1));
    assert_null(client_window_take(&window, true, NULL, 5, 0));
    assert_int_equal(window.sealed_head->generation, 0);
    assert_non_null(client_window_take(&window, true, &identity, 5, 0));
    window_free(&window);
}

static void test_retries_keep_their_sequences_and_their_order(void **state)
{
    (void)state;
    struct client_window window = {0};
    for (int i = 0; i < 4; i++) {
        client_window_push(&window, batch_of(2));
    }
    struct client_batch *a = client_window_take(&window, true, &identity, 5, 0);
    struct client_batch *b = client_window_take(&window, true, &identity, 5, 0);
    struct client_batch *c = client_window_take(&window, true, &identity, 5, 0);
    uint32_t crc_of_b = header_of(b).crc32c;
    /* The leader moved: a hears NOT_LEADER, b and c (sent after a) hear about the gap or a
     * broken connection. All three go back in order, ahead of the never-sent d. */
    assert_int_equal(client_window_answer(&window, a, ETHER_ERR_NOT_LEADER, true, false, "moved"),
                     CLIENT_WINDOW_RETRY);
    a->retry_at_ms = 10;
    /* a must not overtake b and c, which are still in flight. */
    assert_null(client_window_take(&window, true, &identity, 5, 100));
    assert_int_equal(client_window_answer(&window, c, ETHER_ERR_IO, true, false, "broken"),
                     CLIENT_WINDOW_RETRY);
    assert_int_equal(
        client_window_answer(&window, b, ETHER_ERR_OUT_OF_ORDER_SEQUENCE, false, false, "gap"),
        CLIENT_WINDOW_RETRY);
    assert_int_equal(window.in_flight_count, 0);
    assert_null(client_window_take(&window, true, &identity, 5, 9)); /* a's backoff */
    assert_ptr_equal(client_window_take(&window, true, &identity, 5, 10), a);
    assert_ptr_equal(client_window_take(&window, true, &identity, 5, 10), b);
    assert_ptr_equal(client_window_take(&window, true, &identity, 5, 10), c);
    struct client_batch *d = client_window_take(&window, true, &identity, 5, 10);
    assert_int_equal(header_of(a).base_sequence, 0);
    assert_int_equal(header_of(b).base_sequence, 2);
    assert_int_equal(header_of(c).base_sequence, 4);
    assert_int_equal(header_of(d).base_sequence, 6);
    assert_int_equal(header_of(b).crc32c, crc_of_b); /* resent byte for byte */
    /* A duplicate answered with success is delivered like any success. */
    assert_int_equal(client_window_answer(&window, a, ETHER_OK, false, false, ""),
                     CLIENT_WINDOW_DELIVERED);
    assert_int_equal(window.acked_sequence, 2);
    client_batch_free(a);
    window_free(&window);
}

static void test_out_of_order_for_the_first_unacked_batch_fails_it_and_its_followers(void **state)
{
    (void)state;
    struct client_window window = {0};
    for (int i = 0; i < 4; i++) {
        client_window_push(&window, batch_of(1));
    }
    struct client_batch *a = client_window_take(&window, true, &identity, 5, 0);
    struct client_batch *b = client_window_take(&window, true, &identity, 5, 0);
    struct client_batch *c = client_window_take(&window, true, &identity, 5, 0);
    assert_int_equal(client_window_answer(&window, a, ETHER_OK, false, false, ""),
                     CLIENT_WINDOW_DELIVERED);
    /* c comes back first (a broken connection), then b is refused for real. */
    assert_int_equal(client_window_answer(&window, c, ETHER_ERR_IO, true, false, "broken"),
                     CLIENT_WINDOW_RETRY);
    assert_int_equal(client_window_answer(&window, b, ETHER_ERR_OUT_OF_ORDER_SEQUENCE, false, false,
                                          "refused sequence 1"),
                     CLIENT_WINDOW_FAILED);
    assert_int_equal(window.poisoned_generation, identity.generation);
    assert_int_equal(window.poison_error, ETHER_ERR_OUT_OF_ORDER_SEQUENCE);
    assert_string_equal(window.poison_message, "refused sequence 1");
    /* c, waiting for its retry, would only land after the gap: it fails too. */
    struct client_batch *followers = NULL;
    client_window_take_poisoned(&window, &followers);
    assert_ptr_equal(followers, c);
    assert_null(c->next);
    /* The never-sent batch waits for a new epoch. */
    assert_int_equal(window.sealed_head->generation, 0);
    client_batch_free(a);
    client_batch_free(b);
    client_batch_free(c);
    window_free(&window);
}

static void test_a_batch_in_flight_behind_a_failed_one_follows_it(void **state)
{
    (void)state;
    struct client_window window = {0};
    client_window_push(&window, batch_of(1));
    client_window_push(&window, batch_of(1));
    struct client_batch *a = client_window_take(&window, true, &identity, 5, 0);
    struct client_batch *b = client_window_take(&window, true, &identity, 5, 0);
    assert_int_equal(client_window_answer(&window, a, ETHER_ERR_UNKNOWN_PRODUCER, false, false,
                                          "unknown producer"),
                     CLIENT_WINDOW_FAILED);
    assert_int_equal(client_window_answer(&window, b, ETHER_ERR_IO, true, false, "broken"),
                     CLIENT_WINDOW_FOLLOWS);
    client_batch_free(a);
    client_batch_free(b);
    window_free(&window);
}

static void test_an_expired_retry_fails_and_a_new_epoch_restarts_at_zero(void **state)
{
    (void)state;
    struct client_window window = {0};
    client_window_push(&window, batch_of(2));
    client_window_push(&window, batch_of(1));
    struct client_batch *a = client_window_take(&window, true, &identity, 5, 0);
    assert_int_equal(client_window_answer(&window, a, ETHER_ERR_TIMED_OUT, true, true, "late"),
                     CLIENT_WINDOW_FAILED);
    assert_int_equal(window.poisoned_generation, 1);
    struct client_producer_identity next = identity;
    next.producer_epoch = 4;
    next.generation = 2;
    struct client_batch *b = client_window_take(&window, true, &next, 5, 0);
    assert_int_equal(header_of(b).base_sequence, 0);
    assert_int_equal(header_of(b).producer_epoch, 4);
    assert_int_equal(client_window_answer(&window, b, ETHER_OK, false, false, ""),
                     CLIENT_WINDOW_DELIVERED);
    client_batch_free(a);
    client_batch_free(b);
    window_free(&window);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences_wrap_to_zero_after_int32_max),
        cmocka_unit_test(test_stamp_writes_the_producer_fields_and_a_valid_crc),
        cmocka_unit_test(test_each_partition_numbers_its_batches_by_record_count),
        cmocka_unit_test(test_a_batch_that_crosses_int32_max_wraps_the_next_sequence),
        cmocka_unit_test(test_at_most_the_window_width_is_in_flight),
        cmocka_unit_test(test_without_idempotence_one_unstamped_batch_is_in_flight),
        cmocka_unit_test(test_nothing_is_stamped_before_the_producer_has_an_id),
        cmocka_unit_test(test_retries_keep_their_sequences_and_their_order),
        cmocka_unit_test(test_out_of_order_for_the_first_unacked_batch_fails_it_and_its_followers),
        cmocka_unit_test(test_a_batch_in_flight_behind_a_failed_one_follows_it),
        cmocka_unit_test(test_an_expired_retry_fails_and_a_new_epoch_restarts_at_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
