/*
 * window.c: a partition's send window: which sealed batch goes out next, how
 * many may be in flight, which sequence numbers they carry, and what an
 * answer means for a batch. Pure: no I/O, no clock (callers pass now_ms).
 *
 * Happy path (idempotent): batches are sealed unstamped; client_window_take
 * stamps each at its first send with the producer's id, epoch and the
 * partition's next sequence (which then grows by the batch's record count)
 * and keeps up to in_flight_max of them in flight; each success advances
 * acked_sequence.
 *
 * Failure modes: a retriable error puts the batch back into `sealed` at its
 * place in sequence order, header untouched, so the resend carries the same
 * sequence and the broker's duplicate check makes it land once. Batches sent
 * after it come back too (with their own error, or OUT_OF_ORDER since the
 * broker saw a gap) and line up behind it; a retry waits until nothing
 * earlier is in flight. OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER for the
 * first unacknowledged batch, any other non-retriable error, or an expired
 * deadline ends the batch: FAILED, and its generation is poisoned here, so
 * later stamped batches of that generation end as FOLLOWS instead of being
 * sent with sequences the broker will never accept. Without idempotence the
 * window is one batch wide and only retriable errors matter.
 */
#include "client/client_internal.h"

#include <stdio.h>

#include "common/panic.h"

void client_window_push(struct client_window *window, struct client_batch *batch)
{
    ETHER_ASSERT(batch->next == NULL);
    ETHER_ASSERT(batch->generation == 0);
    if (window->sealed_tail == NULL) {
        window->sealed_head = batch;
    } else {
        window->sealed_tail->next = batch;
    }
    window->sealed_tail = batch;
}

struct client_batch *client_window_pop_sealed(struct client_window *window)
{
    struct client_batch *batch = window->sealed_head;
    if (batch == NULL) {
        return NULL;
    }
    window->sealed_head = batch->next;
    if (window->sealed_head == NULL) {
        window->sealed_tail = NULL;
    }
    batch->next = NULL;
    return batch;
}

static void in_flight_append(struct client_window *window, struct client_batch *batch)
{
    ETHER_ASSERT(batch->next == NULL);
    if (window->in_flight_tail == NULL) {
        window->in_flight_head = batch;
    } else {
        window->in_flight_tail->next = batch;
    }
    window->in_flight_tail = batch;
    window->in_flight_count++;
}

static void in_flight_remove(struct client_window *window, struct client_batch *batch)
{
    struct client_batch *previous = NULL;
    struct client_batch *cursor = window->in_flight_head;
    while (cursor != NULL && cursor != batch) {
        previous = cursor;
        cursor = cursor->next;
    }
    ETHER_ASSERT(cursor == batch);
    if (previous == NULL) {
        window->in_flight_head = batch->next;
    } else {
        previous->next = batch->next;
    }
    if (window->in_flight_tail == batch) {
        window->in_flight_tail = previous;
    }
    batch->next = NULL;
    ETHER_ASSERT(window->in_flight_count > 0);
    window->in_flight_count--;
}

/* Puts a stamped batch back among the stamped sealed batches, in sequence order. */
static void sealed_insert_in_order(struct client_window *window, struct client_batch *batch)
{
    ETHER_ASSERT(batch->next == NULL);
    struct client_batch *previous = NULL;
    struct client_batch *cursor = window->sealed_head;
    while (cursor != NULL && cursor->generation != 0 &&
           (batch->generation == 0 ||
            client_sequence_before(cursor->base_sequence, batch->base_sequence))) {
        previous = cursor;
        cursor = cursor->next;
    }
    batch->next = cursor;
    if (previous == NULL) {
        window->sealed_head = batch;
    } else {
        previous->next = batch;
    }
    if (cursor == NULL) {
        window->sealed_tail = batch;
    }
}

struct client_batch *client_window_take(struct client_window *window, bool idempotent,
                                        const struct client_producer_identity *identity,
                                        uint32_t in_flight_max, uint64_t now_ms)
{
    ETHER_ASSERT(in_flight_max >= 1);
    struct client_batch *batch = window->sealed_head;
    if (batch == NULL || window->in_flight_count >= in_flight_max || now_ms < batch->retry_at_ms) {
        return NULL;
    }
    if (batch->generation != 0) {
        /* A retry goes out only behind the batches before it. */
        ETHER_ASSERT(batch->generation != window->poisoned_generation);
        struct client_batch *tail = window->in_flight_tail;
        if (tail != NULL && (tail->generation != batch->generation ||
                             !client_sequence_before(tail->base_sequence, batch->base_sequence))) {
            return NULL;
        }
    } else if (idempotent) {
        if (identity == NULL) {
            return NULL;
        }
        const struct client_batch *oldest = window->in_flight_head;
        struct client_batch *retry = window->sealed_head;
        while (retry != NULL && retry->generation != 0) {
            if (oldest == NULL || retry->stamp_index < oldest->stamp_index) {
                oldest = retry;
            }
            retry = retry->next;
        }
        if (oldest != NULL && oldest->generation == window->generation &&
            window->stamped_count - oldest->stamp_index >= in_flight_max) {
            return NULL; /* the broker would no longer remember `oldest` when it is resent */
        }
        ETHER_ASSERT(identity->generation >= 1);
        if (identity->generation != window->generation) {
            /* A new epoch starts every partition at sequence 0. Batches of the old one
             * have all drained (client_producer_id waits for that before asking). */
            ETHER_ASSERT(window->in_flight_count == 0);
            window->generation = identity->generation;
            window->next_sequence = 0;
            window->acked_sequence = 0;
            window->stamped_count = 0;
        }
        batch->stamp_index = window->stamped_count++;
        client_batch_stamp(batch, identity->producer_id, identity->producer_epoch,
                           window->next_sequence, identity->generation);
        window->next_sequence = client_sequence_add(window->next_sequence, batch->records.count);
    }
    client_window_pop_sealed(window);
    in_flight_append(window, batch);
    return batch;
}

void client_window_poison(struct client_window *window, const struct client_batch *batch, int error,
                          const char *message)
{
    ETHER_ASSERT(batch->generation != 0);
    ETHER_ASSERT(error != ETHER_OK);
    if (window->poisoned_generation == batch->generation) {
        return; /* the first failure is the one to name */
    }
    window->poisoned_generation = batch->generation;
    window->poison_error = error;
    snprintf(window->poison_message, sizeof window->poison_message, "%s",
             message != NULL ? message : ether_strerror(error));
}

enum client_window_verdict client_window_answer(struct client_window *window,
                                                struct client_batch *batch, int error,
                                                bool retriable, bool expired, const char *message)
{
    in_flight_remove(window, batch);
    if (error == ETHER_OK) {
        int32_t after = batch->generation != 0
                            ? client_sequence_add(batch->base_sequence, batch->records.count)
                            : 0;
        if (batch->generation != 0 && batch->generation == window->generation &&
            client_sequence_before(window->acked_sequence, after)) {
            window->acked_sequence = after;
        }
        return CLIENT_WINDOW_DELIVERED;
    }
    if (batch->generation == 0) {
        if (retriable && !expired) {
            sealed_insert_in_order(window, batch);
            return CLIENT_WINDOW_RETRY;
        }
        return CLIENT_WINDOW_FAILED;
    }
    if (batch->generation == window->poisoned_generation) {
        return CLIENT_WINDOW_FOLLOWS;
    }
    if (error == ETHER_ERR_OUT_OF_ORDER_SEQUENCE || error == ETHER_ERR_UNKNOWN_PRODUCER) {
        /* Only the first unacknowledged batch hears the broker's real verdict; a later one
         * hears that an earlier one is missing, and goes again behind it. */
        retriable = batch->generation == window->generation &&
                    batch->base_sequence != window->acked_sequence;
    }
    if (retriable && !expired) {
        sealed_insert_in_order(window, batch);
        return CLIENT_WINDOW_RETRY;
    }
    client_window_poison(window, batch, error, message);
    return CLIENT_WINDOW_FAILED;
}

void client_window_take_poisoned(struct client_window *window, struct client_batch **list)
{
    struct client_batch **tail = list;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    while (window->sealed_head != NULL && window->sealed_head->generation != 0 &&
           window->sealed_head->generation == window->poisoned_generation) {
        *tail = client_window_pop_sealed(window);
        tail = &(*tail)->next;
    }
}

size_t client_window_batch_count(const struct client_window *window)
{
    size_t count = window->in_flight_count;
    for (const struct client_batch *batch = window->sealed_head; batch != NULL;
         batch = batch->next) {
        count++;
    }
    return count;
}
