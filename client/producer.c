/*
 * producer.c: from accepted records to delivery reports.
 *
 * Happy path: a record waits on its topic's `unrouted` queue until the
 * topic's partition count is known, gets a partition (the requested one, the
 * key's, or the topic's sticky partition for null keys), accumulates on that
 * partition's queue until the linger rule fires, is sealed into a batch and
 * sent to the partition's leader in a ProduceRequest. The answer's base
 * offset gives every record its offset; the records go to the report queue.
 *
 * Failure modes: NOT_LEADER (the answer names the new leader when it knows
 * it), a broken connection or a timeout put the batch back at the head of
 * its partition's queue of sealed batches and ask for fresh metadata; it is
 * resent, byte for byte, after a backoff delay. Only one batch per partition
 * is in flight, so a retry never reorders records. A record that is not
 * delivered within delivery_timeout_ms of ether_produce is reported with
 * ETHER_ERR_TIMED_OUT and the last error seen; any other broker error fails
 * the batch at once. A topic the metadata does not know three times in a
 * row fails its records with ETHER_ERR_NOT_FOUND.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

enum { TOPIC_MISSING_ANSWERS_MAX = 3 };

void client_producer_accept(struct ether_client *client, struct client_record_queue *records)
{
    (void)client;
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

    partition->sealed_head = batch->next;
    if (partition->sealed_head == NULL) {
        partition->sealed_tail = NULL;
    }
    batch->next = NULL;
    partition->in_flight = batch;
    int rc = client_send(client, broker, PROTO_API_PRODUCE, &request.base,
                         client->settings.acks != CLIENT_ACKS_NONE, timeout_ms, on_produce_response,
                         batch);
    if (rc != ETHER_OK) {
        partition->in_flight = NULL;
        batch->next = partition->sealed_head;
        partition->sealed_head = batch;
        if (partition->sealed_tail == NULL) {
            partition->sealed_tail = batch;
        }
    }
}

static void requeue_front(struct client_partition *partition, struct client_batch *batch)
{
    batch->next = partition->sealed_head;
    partition->sealed_head = batch;
    if (partition->sealed_tail == NULL) {
        partition->sealed_tail = batch;
    }
}

static void on_produce_response(struct ether_client *client, void *context, int error,
                                const char *error_message, const ProtobufCMessage *response)
{
    struct client_batch *batch = context;
    struct client_topic *topic = batch->topic;
    struct client_partition *partition = &topic->partitions[batch->partition];
    ETHER_ASSERT(partition->in_flight == batch);
    partition->in_flight = NULL;
    if (client->io_stopping) {
        requeue_front(partition, batch);
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
            snprintf(message, sizeof message, "partition %s/%u: %s", topic->name, batch->partition,
                     ether_strerror(error));
        } else {
            base_offset = result->base_offset;
            offsets_known = true;
        }
    }
    if (error == ETHER_OK) {
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
        client_batch_free(batch);
        return;
    }
    uint64_t now_ms = client_now_ms();
    if (!is_retriable(error) || now_ms >= batch->deadline_ms) {
        client_fail_records(client, &batch->records, error, message);
        client_batch_free(batch);
        return;
    }
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
    client_metadata_want(client);
    requeue_front(partition, batch);
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
        if (partition->sealed_tail == NULL) {
            partition->sealed_head = batch;
        } else {
            partition->sealed_tail->next = batch;
        }
        partition->sealed_tail = batch;
        if (topic->sticky_partition % topic->partition_count == index) {
            topic->sticky_partition = (index + 1) % topic->partition_count;
        }
    }
    expire_queue(client, topic, &partition->queue, now_ms, no_broker_reason(client));
    while (partition->in_flight == NULL && partition->sealed_head != NULL) {
        struct client_batch *batch = partition->sealed_head;
        if (now_ms >= batch->deadline_ms) {
            partition->sealed_head = batch->next;
            if (partition->sealed_head == NULL) {
                partition->sealed_tail = NULL;
            }
            batch->next = NULL;
            char message[CLIENT_ERROR_MESSAGE_BYTES * 2];
            snprintf(message, sizeof message, "not delivered to %s/%u within %u ms: %s",
                     topic->name, index, settings->delivery_timeout_ms,
                     batch->last_error[0] != '\0' ? batch->last_error : no_broker_reason(client));
            client_fail_records(client, &batch->records, ETHER_ERR_TIMED_OUT, message);
            client_batch_free(batch);
            continue;
        }
        if (now_ms < batch->retry_at_ms) {
            return;
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
        send_batch(client, partition, batch, leader, now_ms);
        return;
    }
}

void client_producer_service(struct ether_client *client, uint64_t now_ms)
{
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
            ETHER_ASSERT(partition->in_flight == NULL);
            while (partition->sealed_head != NULL) {
                struct client_batch *next = partition->sealed_head->next;
                client_batch_free(partition->sealed_head);
                partition->sealed_head = next;
            }
            partition->sealed_tail = NULL;
            ether_free(partition->replicas);
            partition->replicas = NULL;
        }
    }
}
