/*
 * producer.c: from accepted records to delivery reports.
 *
 * Happy path: a record waits on its topic's `unrouted` queue until the
 * topic's partition count is known, gets a partition (the requested one, the
 * key's, or the topic's sticky partition for null keys), accumulates on that
 * partition's queue until the linger rule fires, is sealed into a batch and
 * handed to the partition's send window (window.c), which says when it goes
 * to the partition's leader in a ProduceRequest. The answer's base offset
 * gives every record its offset; the records go to the report queue.
 *
 * Idempotence (on by default with acks=all): the window stamps each batch at
 * its first send with the producer id and epoch (producer_id.c) and the
 * partition's next sequence, keeps up to CLIENT_IN_FLIGHT_BATCHES_MAX batches
 * of a partition in flight and resends a batch byte for byte, so the broker
 * recognises a retry of a batch it already wrote and answers with the
 * original offset. Without idempotence one batch per partition is in flight.
 *
 * Failure modes: NOT_LEADER (the answer names the new leader when it knows
 * it), a broken connection or a timeout put the batch back into its window,
 * in order, and ask for fresh metadata; it is resent after a backoff delay.
 * A record that is not delivered within delivery_timeout_ms of ether_produce
 * is reported with ETHER_ERR_TIMED_OUT and the last error seen; any other
 * broker error fails the batch at once. OUT_OF_ORDER_SEQUENCE and
 * UNKNOWN_PRODUCER for a partition's first unacknowledged batch fail it, and
 * the partition's later batches of the same epoch with it (they could only
 * be refused or land after a gap); the producer then takes a new epoch and
 * goes on. PRODUCER_FENCED fails every queued record and makes the producer
 * unusable (client_producer_fatal). A topic the metadata does not know
 * three times in a row fails its records with ETHER_ERR_NOT_FOUND.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

enum { TOPIC_MISSING_ANSWERS_MAX = 3 };

void client_producer_accept(struct ether_client *client, struct client_record_queue *records)
{
    if (records->count == 0) {
        return;
    }
    if (client->producer_error != ETHER_OK) {
        client_fail_records(client, records, client->producer_error,
                            client->producer_error_message);
        return;
    }
    if (client_producer_id_enabled(client)) {
        (void)client_producer_id_current(client); /* ask for an id before the first batch */
    }
    struct client_record *record;
    while ((record = client_record_queue_pop(records)) != NULL) {
        client_record_queue_push(&record->topic->unrouted, record);
    }
}

static bool is_retriable(int error)
{
    switch (error) {
    case ETHER_ERR_IO:
    case ETHER_ERR_TIMED_OUT:
    case ETHER_ERR_NOT_LEADER:
    case ETHER_ERR_BUSY:
    case ETHER_ERR_TRANSFER_IN_PROGRESS:
    case ETHER_ERR_DROPPED:
    case ETHER_ERR_STOPPED:
    case ETHER_ERR_CLOSED:
        return true;
    default:
        return false;
    }
}

/* Fails records at the head of `queue` whose delivery deadline has passed. */
static void expire_queue(struct ether_client *client, struct client_topic *topic,
                         struct client_record_queue *queue, uint64_t now_ms, const char *why)
{
    struct client_record_queue expired = {0};
    while (queue->head != NULL &&
           now_ms >= queue->head->enqueued_ms + client->settings.delivery_timeout_ms) {
        client_record_queue_push(&expired, client_record_queue_pop(queue));
    }
    if (expired.count > 0) {
        char message[CLIENT_ERROR_MESSAGE_BYTES * 2];
        snprintf(message, sizeof message, "not delivered to %s within %u ms: %s", topic->name,
                 client->settings.delivery_timeout_ms, why);
        client_fail_records(client, &expired, ETHER_ERR_TIMED_OUT, message);
    }
}

static const char *no_broker_reason(struct ether_client *client)
{
    return client->last_connection_error[0] != '\0' ? client->last_connection_error
                                                    : "no partition leader is known";
}

static void route_records(struct ether_client *client, struct client_topic *topic, uint64_t now_ms)
{
    if (topic->unrouted.head == NULL) {
        return;
    }
    if (!topic->metadata_known) {
        if (topic->metadata_error == ETHER_ERR_NOT_FOUND &&
            topic->missing_count >= TOPIC_MISSING_ANSWERS_MAX) {
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(message, sizeof message, "topic %s does not exist", topic->name);
            client_fail_records(client, &topic->unrouted, ETHER_ERR_NOT_FOUND, message);
            return;
        }
        client_metadata_want(client);
        expire_queue(client, topic, &topic->unrouted, now_ms, no_broker_reason(client));
        return;
    }
    ETHER_ASSERT(topic->partition_count > 0);
    struct client_record *record;
    while ((record = client_record_queue_pop(&topic->unrouted)) != NULL) {
        if (record->partition >= 0 && (uint32_t)record->partition >= topic->partition_count) {
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(message, sizeof message, "partition %d of topic %s does not exist",
                     record->partition, topic->name);
            struct client_record_queue single = {0};
            client_record_queue_push(&single, record);
            client_fail_records(client, &single, ETHER_ERR_NOT_FOUND, message);
            continue;
        }
        if (record->partition < 0) {
            record->partition = record->key != NULL
                                    ? (int32_t)ether_partition_for_key(
                                          record->key, record->key_bytes, topic->partition_count)
                                    : (int32_t)(topic->sticky_partition % topic->partition_count);
        }
        client_record_queue_push(&topic->partitions[record->partition].queue, record);
    }
}

static void on_produce_response(struct ether_client *client, void *context, int error,
                                const char *error_message, const ProtobufCMessage *response);

/* The first fatal error wins; ether_produce returns it from then on. */
static void set_producer_error(struct ether_client *client, int error, const char *message)
{
    pthread_mutex_lock(&client->mutex);
    if (client->producer_error == ETHER_OK) {
        client->producer_error = error;
        snprintf(client->producer_error_message, sizeof client->producer_error_message, "%s",
                 message);
    }
    pthread_mutex_unlock(&client->mutex);
}

/* Frees a batch that left its window for good. */
static void finish_batch(struct ether_client *client, struct client_batch *batch)
{
    if (batch->generation != 0) {
        ETHER_ASSERT(client->producer_id->stamped_unresolved > 0);
        client->producer_id->stamped_unresolved--;
    }
    client_batch_free(batch);
}

static void fail_batch(struct ether_client *client, struct client_batch *batch, int error,
                       const char *message)
{
    client_fail_records(client, &batch->records, error, message);
    finish_batch(client, batch);
}

/* Fails the stamped batches waiting in `partition` behind a failure of their epoch. */
static void fail_poisoned(struct ether_client *client, struct client_topic *topic, uint32_t index)
{
    struct client_window *window = &topic->partitions[index].window;
    struct client_batch *list = NULL;
    client_window_take_poisoned(window, &list);
    while (list != NULL) {
        struct client_batch *next = list->next;
        list->next = NULL;
        char message[CLIENT_ERROR_MESSAGE_BYTES * 2];
        snprintf(message, sizeof message, "not sent: an earlier batch of %s/%u failed: %s",
                 topic->name, index, window->poison_message);
        fail_batch(client, list, window->poison_error, message);
        list = next;
    }
}

static void send_batch(struct ether_client *client, struct client_partition *partition,
                       struct client_batch *batch, struct client_broker *broker, uint64_t now_ms)
{
    Ether__ProducePartition produce_partition = ETHER__PRODUCE_PARTITION__INIT;
    produce_partition.partition = batch->partition;
    produce_partition.batch.data = batch->bytes.data;
    produce_partition.batch.len = batch->bytes.length;
    Ether__ProducePartition *partitions[] = {&produce_partition};
    Ether__ProduceRequest request = ETHER__PRODUCE_REQUEST__INIT;
    request.topic = batch->topic->name;
    request.acks = client->settings.acks == CLIENT_ACKS_NONE     ? ETHER__ACKS__ACKS_NONE
                   : client->settings.acks == CLIENT_ACKS_LEADER ? ETHER__ACKS__ACKS_LEADER
                                                                 : ETHER__ACKS__ACKS_ALL;
    uint64_t left_ms = batch->deadline_ms > now_ms ? batch->deadline_ms - now_ms : 1;
    uint32_t timeout_ms = client->settings.request_timeout_ms;
    if (left_ms < timeout_ms) {
        timeout_ms = (uint32_t)left_ms;
    }
    request.timeout_ms = timeout_ms;
    request.n_partitions = 1;
    request.partitions = partitions;
    int rc = client_send(client, broker, PROTO_API_PRODUCE, &request.base,
                         client->settings.acks != CLIENT_ACKS_NONE, timeout_ms, on_produce_response,
                         batch);
    if (rc != ETHER_OK) {
        /* Not sent: back into the window at its place, sequence kept. */
        enum client_window_verdict verdict =
            client_window_answer(&partition->window, batch, rc, true, false, "not sent");
        ETHER_ASSERT(verdict == CLIENT_WINDOW_RETRY || verdict == CLIENT_WINDOW_FOLLOWS);
        if (verdict == CLIENT_WINDOW_FOLLOWS) {
            fail_batch(client, batch, partition->window.poison_error,
                       partition->window.poison_message);
        } else {
            batch->retry_at_ms = now_ms + CLIENT_TICK_MS;
        }
    }
}

/* The sentence for a broker's refusal of a stamped batch. */
static void describe_refusal(char *message, size_t message_bytes, const struct client_batch *batch,
                             int error)
{
    snprintf(message, message_bytes, "%s/%u refused records with sequences %d..%d: %s",
             batch->topic->name, batch->partition, batch->base_sequence,
             client_sequence_add(batch->base_sequence, batch->records.count - 1),
             ether_strerror(error));
}

static void on_produce_response(struct ether_client *client, void *context, int error,
                                const char *error_message, const ProtobufCMessage *response)
{
    struct client_batch *batch = context;
    struct client_topic *topic = batch->topic;
    struct client_partition *partition = &topic->partitions[batch->partition];
    struct client_window *window = &partition->window;
    if (client->io_stopping) {
        if (client_window_answer(window, batch, ETHER_ERR_CLOSED, true, false, "closing") !=
            CLIENT_WINDOW_RETRY) {
            finish_batch(client, batch); /* dropped without a report, as documented */
        }
        return;
    }
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(message, sizeof message, "%s", error_message != NULL ? error_message : "");
    uint32_t leader_hint_id = 0;
    uint64_t base_offset = 0;
    bool offsets_known = false;
    if (error == ETHER_OK && response != NULL) {
        const Ether__ProduceResponse *produce = (const Ether__ProduceResponse *)response;
        const Ether__ProducePartitionResult *result = NULL;
        for (size_t i = 0; i < produce->n_partitions; i++) {
            if (produce->partitions[i]->partition == batch->partition) {
                result = produce->partitions[i];
            }
        }
        if (result == NULL) {
            error = ETHER_ERR_CORRUPT;
            snprintf(message, sizeof message, "the produce answer for %s lacks partition %u",
                     topic->name, batch->partition);
        } else if (result->error != ETHER_OK) {
            error = (int)result->error;
            leader_hint_id = result->leader_hint_id;
            if (batch->generation != 0 &&
                (error == ETHER_ERR_OUT_OF_ORDER_SEQUENCE || error == ETHER_ERR_UNKNOWN_PRODUCER ||
                 error == ETHER_ERR_PRODUCER_FENCED)) {
                describe_refusal(message, sizeof message, batch, error);
            } else {
                snprintf(message, sizeof message, "partition %s/%u: %s", topic->name,
                         batch->partition, ether_strerror(error));
            }
        } else {
            base_offset = result->base_offset;
            offsets_known = true;
        }
    }
    uint64_t now_ms = client_now_ms();
    bool expired = now_ms >= batch->deadline_ms;
    enum client_window_verdict verdict =
        client_window_answer(window, batch, error, is_retriable(error), expired, message);
    switch (verdict) {
    case CLIENT_WINDOW_DELIVERED: {
        int64_t offset = offsets_known ? (int64_t)base_offset : -1;
        for (struct client_record *record = batch->records.head; record != NULL;
             record = record->next) {
            record->error = ETHER_OK;
            record->offset = offset;
            if (offsets_known) {
                offset++;
            }
        }
        client_report_records(client, &batch->records);
        finish_batch(client, batch);
        return;
    }
    case CLIENT_WINDOW_RETRY:
        batch->attempts++;
        snprintf(batch->last_error, sizeof batch->last_error, "%s", message);
        batch->retry_at_ms = now_ms + client_backoff_delay_ms(&client->backoff, batch->attempts);
        if (error == ETHER_ERR_NOT_LEADER && leader_hint_id != 0 &&
            leader_hint_id != partition->leader_id &&
            client_broker_find(client, leader_hint_id) != NULL) {
            /* The old leader named the new one: try it at once, and refresh anyway. */
            partition->leader_id = leader_hint_id;
            batch->retry_at_ms = now_ms;
        }
        if (error != ETHER_ERR_OUT_OF_ORDER_SEQUENCE && error != ETHER_ERR_UNKNOWN_PRODUCER) {
            client_metadata_want(client);
        }
        return;
    case CLIENT_WINDOW_FAILED:
    case CLIENT_WINDOW_FOLLOWS:
        break;
    }
    char text[CLIENT_ERROR_MESSAGE_BYTES * 2];
    snprintf(text, sizeof text, "%s", message);
    if (verdict == CLIENT_WINDOW_FAILED && expired && is_retriable(error)) {
        snprintf(text, sizeof text, "not delivered to %s/%u within %u ms: %s", topic->name,
                 batch->partition, client->settings.delivery_timeout_ms, message);
        error = ETHER_ERR_TIMED_OUT;
    } else if (verdict == CLIENT_WINDOW_FOLLOWS && error != ETHER_ERR_PRODUCER_FENCED) {
        snprintf(text, sizeof text, "an earlier batch of %s/%u failed: %s", topic->name,
                 batch->partition, window->poison_message);
        error = window->poison_error;
    }
    bool stamped = batch->generation != 0;
    uint32_t index = batch->partition;
    if (error == ETHER_ERR_PRODUCER_FENCED) {
        char fenced[CLIENT_ERROR_MESSAGE_BYTES * 2];
        snprintf(fenced, sizeof fenced,
                 "%.300s; a newer producer with the same producer_name fenced this one, which "
                 "accepts no more records",
                 text);
        /* Unusable before the application hears of it: ether_produce refuses from now on. */
        set_producer_error(client, ETHER_ERR_PRODUCER_FENCED, fenced);
        fail_batch(client, batch, ETHER_ERR_PRODUCER_FENCED, fenced);
        client_producer_fatal(client, ETHER_ERR_PRODUCER_FENCED, fenced);
        return;
    }
    fail_batch(client, batch, error, text);
    if (stamped) {
        client_producer_id_reset(client);
        fail_poisoned(client, topic, index);
    }
}

/* The batches a partition may have in flight. */
static uint32_t window_width(struct ether_client *client)
{
    if (!client_producer_id_enabled(client)) {
        return 1;
    }
    uint32_t width = client->settings.in_flight_requests_max;
    return width < CLIENT_IN_FLIGHT_BATCHES_MAX ? width : CLIENT_IN_FLIGHT_BATCHES_MAX;
}

/* Fails the batch at the head of `sealed` when its delivery deadline passed; true if it did. */
static bool expire_sealed_head(struct ether_client *client, struct client_topic *topic,
                               uint32_t index, uint64_t now_ms)
{
    struct client_window *window = &topic->partitions[index].window;
    struct client_batch *batch = window->sealed_head;
    if (batch == NULL || now_ms < batch->deadline_ms) {
        return false;
    }
    client_window_pop_sealed(window);
    char message[CLIENT_ERROR_MESSAGE_BYTES * 2];
    snprintf(message, sizeof message, "not delivered to %s/%u within %u ms: %s", topic->name, index,
             client->settings.delivery_timeout_ms,
             batch->last_error[0] != '\0'                 ? batch->last_error
             : client->producer_id->last_error[0] != '\0' ? client->producer_id->last_error
                                                          : no_broker_reason(client));
    bool stamped = batch->generation != 0;
    if (stamped) {
        /* Sent before, fate unknown: its sequences cannot be trusted any more. */
        client_window_poison(window, batch, ETHER_ERR_TIMED_OUT, message);
    }
    fail_batch(client, batch, ETHER_ERR_TIMED_OUT, message);
    if (stamped) {
        client_producer_id_reset(client);
        fail_poisoned(client, topic, index);
    }
    return true;
}

static void service_partition(struct ether_client *client, struct client_topic *topic,
                              uint32_t index, uint64_t now_ms)
{
    struct client_partition *partition = &topic->partitions[index];
    const struct client_settings *settings = &client->settings;
    while (client_record_queue_ready(&partition->queue, now_ms, settings->linger_ms,
                                     settings->batch_bytes, client->flushing)) {
        uint64_t oldest_ms = partition->queue.head->enqueued_ms;
        struct client_batch *batch =
            client_batch_seal(&partition->queue, settings->batch_bytes, settings->compression);
        batch->topic = topic;
        batch->partition = index;
        batch->deadline_ms = oldest_ms + settings->delivery_timeout_ms;
        client_window_push(&partition->window, batch);
        if (topic->sticky_partition % topic->partition_count == index) {
            topic->sticky_partition = (index + 1) % topic->partition_count;
        }
    }
    expire_queue(client, topic, &partition->queue, now_ms, no_broker_reason(client));
    bool idempotent = client_producer_id_enabled(client);
    uint32_t width = window_width(client);
    while (partition->window.sealed_head != NULL) {
        if (expire_sealed_head(client, topic, index, now_ms)) {
            continue;
        }
        struct client_broker *leader = client_broker_find(client, partition->leader_id);
        if (leader == NULL) {
            client_metadata_want(client);
            return;
        }
        if (!client_broker_usable(client, leader, now_ms) ||
            client_broker_produce_in_flight(leader) >= settings->in_flight_requests_max) {
            return;
        }
        const struct client_producer_identity *identity =
            idempotent ? client_producer_id_current(client) : NULL;
        bool was_stamped = partition->window.sealed_head->generation != 0;
        struct client_batch *batch =
            client_window_take(&partition->window, idempotent, identity, width, now_ms);
        if (batch == NULL) {
            return;
        }
        if (!was_stamped && batch->generation != 0) {
            client->producer_id->stamped_unresolved++;
        }
        send_batch(client, partition, batch, leader, now_ms);
    }
}

/* Fails every record the producer still holds, except batches in flight (their answers decide). */
static void fail_everything_queued(struct ether_client *client, int error, const char *message)
{
    for (struct client_topic *topic = client_topics_head(client); topic != NULL;
         topic = topic->next) {
        if (topic->unrouted.count > 0) {
            client_fail_records(client, &topic->unrouted, error, message);
        }
        for (uint32_t index = 0; index < topic->partition_count; index++) {
            struct client_partition *partition = &topic->partitions[index];
            if (partition->queue.count > 0) {
                client_fail_records(client, &partition->queue, error, message);
            }
            struct client_batch *batch;
            while ((batch = client_window_pop_sealed(&partition->window)) != NULL) {
                fail_batch(client, batch, error, message);
            }
        }
    }
}

void client_producer_fatal(struct ether_client *client, int error, const char *message)
{
    ETHER_ASSERT(error != ETHER_OK);
    set_producer_error(client, error, message);
    fail_everything_queued(client, client->producer_error, client->producer_error_message);
}

void client_producer_service(struct ether_client *client, uint64_t now_ms)
{
    if (client->producer_error != ETHER_OK) {
        /* Unusable (fenced): nothing is sent any more; retries that came back fail here. */
        fail_everything_queued(client, client->producer_error, client->producer_error_message);
        client->flushing = false;
        return;
    }
    bool anything_queued = false;
    for (struct client_topic *topic = client_topics_head(client); topic != NULL;
         topic = topic->next) {
        route_records(client, topic, now_ms);
        anything_queued = anything_queued || topic->unrouted.count > 0;
        for (uint32_t index = 0; index < topic->partition_count; index++) {
            service_partition(client, topic, index, now_ms);
            anything_queued = anything_queued || topic->partitions[index].queue.count > 0;
        }
    }
    if (!anything_queued) {
        client->flushing = false;
    }
}

static void drop_queue(struct client_record_queue *queue)
{
    struct client_record *record;
    while ((record = client_record_queue_pop(queue)) != NULL) {
        client_record_free(record);
    }
}

void client_producer_drop_all(struct ether_client *client)
{
    for (struct client_topic *topic = client->topics; topic != NULL; topic = topic->next) {
        drop_queue(&topic->unrouted);
        for (uint32_t index = 0; index < topic->partition_count; index++) {
            struct client_partition *partition = &topic->partitions[index];
            drop_queue(&partition->queue);
            ETHER_ASSERT(partition->window.in_flight_count == 0);
            struct client_batch *batch;
            while ((batch = client_window_pop_sealed(&partition->window)) != NULL) {
                finish_batch(client, batch);
            }
            ether_free(partition->replicas);
            partition->replicas = NULL;
        }
    }
}
