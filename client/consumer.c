/*
 * consumer.c: assigned partitions, their positions, and fetching.
 *
 * Happy path: ether_assign queues a command; the assignment's start position
 * is resolved with ListOffsets at the partition's leader when it is
 * BEGINNING, END or a timestamp; then one long-poll FetchRequest at a time
 * (max_wait_ms = fetch_max_wait_ms) goes to the replica to read from (the
 * leader, or a replica in the client's rack). Each fetched batch is checked
 * and decompressed (client_batch_open), its records from the position on
 * become messages on the consume queue, and the position moves past them.
 *
 * Failure modes: NOT_LEADER, a broken connection or a timeout retries after
 * a backoff with fresh metadata (a failing follower makes the partition read
 * from its leader for a while). An offset out of range, a corrupt batch or
 * an unknown topic or partition is delivered as a message with `error` set
 * and stops the partition until it is assigned again. Fetching pauses while
 * consume_queue_max messages wait to be consumed.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

enum { FOLLOWER_AVOID_MS = 30000, TOPIC_MISSING_ANSWERS_MAX = 3 };

static void unlink_assignment(struct ether_client *client, struct client_assignment *assignment)
{
    for (struct client_assignment **link = &client->assignments; *link != NULL;
         link = &(*link)->next) {
        if (*link == assignment) {
            *link = assignment->next;
            return;
        }
    }
    ETHER_PANIC("assignment is not on the list");
}

static struct client_assignment *
find_assignment(struct ether_client *client, const struct client_topic *topic, uint32_t partition)
{
    for (struct client_assignment *assignment = client->assignments; assignment != NULL;
         assignment = assignment->next) {
        if (!assignment->removed && assignment->topic == topic &&
            assignment->partition == partition) {
            return assignment;
        }
    }
    return NULL;
}

/* Drops an assignment now, or once its request in flight has been answered. */
static void remove_assignment(struct ether_client *client, struct client_assignment *assignment)
{
    assignment->owned = NULL;
    if (assignment->in_flight) {
        assignment->removed = true;
        return;
    }
    unlink_assignment(client, assignment);
    ether_free(assignment);
}

void client_consumer_command(struct ether_client *client, struct client_command *command)
{
    struct client_assignment *assignment =
        find_assignment(client, command->topic, command->partition);
    if (command->kind == CLIENT_COMMAND_UNASSIGN) {
        if (assignment != NULL) {
            remove_assignment(client, assignment);
        }
        ether_free(command);
        return;
    }
    if (assignment != NULL) {
        remove_assignment(client, assignment);
    }
    assignment = ether_calloc(1, sizeof *assignment);
    assignment->topic = command->topic;
    assignment->partition = command->partition;
    if (command->by_timestamp) {
        assignment->needs_resolve = true;
        assignment->resolve = ETHER_OFFSET_QUERY_TIMESTAMP;
        assignment->resolve_timestamp_ms = command->timestamp_ms;
    } else if (command->offset == ETHER_OFFSET_BEGINNING) {
        assignment->needs_resolve = true;
        assignment->resolve = ETHER_OFFSET_QUERY_EARLIEST;
    } else if (command->offset == ETHER_OFFSET_END) {
        assignment->needs_resolve = true;
        assignment->resolve = ETHER_OFFSET_QUERY_LATEST;
    } else {
        ETHER_ASSERT(command->offset >= 0);
        assignment->offset = command->offset;
    }
    assignment->next = client->assignments;
    client->assignments = assignment;
    ether_free(command);
}

static struct client_message *message_new(struct client_assignment *assignment, size_t data_bytes)
{
    struct client_message *message = ether_calloc(1, sizeof *message + data_bytes);
    message->owned = assignment->owned;
    message->message.topic = assignment->topic->name;
    message->message.partition = (int32_t)assignment->partition;
    message->message.error_message = "";
    message->message.offset = -1;
    message->message.high_watermark = -1;
    return message;
}

/* Delivers a partition error and stops reading the partition. */
static void deliver_error(struct ether_client *client, struct client_assignment *assignment,
                          int error, const char *text)
{
    size_t text_bytes = strlen(text) + 1;
    struct client_message *message = message_new(assignment, text_bytes);
    memcpy(message->data, text, text_bytes);
    message->message.error = error;
    message->message.error_message = (const char *)message->data;
    message->message.offset = assignment->needs_resolve ? -1 : assignment->offset;
    message->owned = NULL; /* an error moves no position */
    assignment->stopped = true;
    client_deliver_messages(client, message, message, 1);
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

static void retry_later(struct ether_client *client, struct client_assignment *assignment)
{
    assignment->failures++;
    assignment->retry_at_ms =
        client_now_ms() + client_backoff_delay_ms(&client->backoff, assignment->failures);
    client_metadata_want(client);
}

/* Common start of both answers: false when the assignment is gone or the client stops. */
static bool answer_applies(struct ether_client *client, struct client_assignment *assignment)
{
    ETHER_ASSERT(assignment->in_flight);
    assignment->in_flight = false;
    if (assignment->removed) {
        unlink_assignment(client, assignment);
        ether_free(assignment);
        return false;
    }
    return !client->io_stopping;
}

static enum ether_offset_query reset_query(const struct ether_client *client)
{
    return client->settings.auto_offset_reset == CLIENT_OFFSET_RESET_EARLIEST
               ? ETHER_OFFSET_QUERY_EARLIEST
               : ETHER_OFFSET_QUERY_LATEST;
}

/* A group partition starts per auto_offset_reset; its position is unknown until then. */
static void reset_position(struct ether_client *client, struct client_assignment *assignment)
{
    ETHER_ASSERT(assignment->owned != NULL);
    assignment->needs_resolve = true;
    assignment->resolve = reset_query(client);
    assignment->failures = 0;
    pthread_mutex_lock(&client->mutex);
    assignment->owned->consumed_offset = -1;
    pthread_mutex_unlock(&client->mutex);
}

static void on_list_offsets(struct ether_client *client, void *context, int error,
                            const char *error_message, const ProtobufCMessage *response)
{
    struct client_assignment *assignment = context;
    (void)error_message;
    if (!answer_applies(client, assignment)) {
        return;
    }
    const Ether__ListOffsetsPartitionResult *result = NULL;
    if (error == ETHER_OK) {
        const Ether__ListOffsetsResponse *list = (const Ether__ListOffsetsResponse *)response;
        for (size_t i = 0; i < list->n_partitions; i++) {
            if (list->partitions[i]->partition == assignment->partition) {
                result = list->partitions[i];
            }
        }
        error = result == NULL ? ETHER_ERR_CORRUPT : (int)result->error;
    }
    if (error == ETHER_OK) {
        assignment->offset = (int64_t)result->offset;
        assignment->needs_resolve = false;
        assignment->failures = 0;
        if (assignment->owned != NULL) {
            /* Where a group partition starts is its position until a message is consumed. */
            pthread_mutex_lock(&client->mutex);
            if (assignment->owned->consumed_offset < 0) {
                assignment->owned->consumed_offset = assignment->offset;
            }
            pthread_mutex_unlock(&client->mutex);
        }
        return;
    }
    if (is_retriable(error)) {
        retry_later(client, assignment);
        return;
    }
    char text[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(text, sizeof text, "cannot find the start offset of %s/%u: %s",
             assignment->topic->name, assignment->partition, ether_strerror(error));
    deliver_error(client, assignment, error, text);
}

/* Turns one fetched batch into messages; returns 0 or why the batch is unreadable. */
static int read_batch(struct ether_client *client, struct client_assignment *assignment,
                      const Ether__FetchedBatch *fetched, int64_t high_watermark,
                      struct client_message **head, struct client_message **tail, size_t *count)
{
    struct proto_batch_header header;
    const uint8_t *records = NULL;
    size_t records_bytes = 0;
    int rc = client_batch_open(fetched->batch.data, fetched->batch.len, &client->scratch, &header,
                               &records, &records_bytes);
    if (rc != ETHER_OK) {
        return rc;
    }
    struct proto_record_reader reader;
    proto_record_reader_init(&reader, records, records_bytes, header.first_timestamp_ms,
                             header.record_count);
    struct proto_record record;
    while ((rc = proto_record_reader_next(&reader, &record)) == ETHER_OK) {
        int64_t offset = (int64_t)fetched->base_offset + record.offset_delta;
        if (offset < assignment->offset) {
            continue;
        }
        size_t key_bytes = record.key != NULL ? record.key_bytes : 0;
        size_t value_bytes = record.value != NULL ? record.value_bytes : 0;
        struct client_message *message = message_new(assignment, key_bytes + value_bytes + 1);
        if (record.key != NULL) {
            memcpy(message->data, record.key, key_bytes);
            message->message.key = message->data;
            message->message.key_bytes = key_bytes;
        }
        if (record.value != NULL) {
            memcpy(message->data + key_bytes, record.value, value_bytes);
            message->message.value = message->data + key_bytes;
            message->message.value_bytes = value_bytes;
        }
        message->message.offset = offset;
        message->message.timestamp_ms = record.timestamp_ms;
        message->message.high_watermark = high_watermark;
        if (*tail == NULL) {
            *head = message;
        } else {
            (*tail)->next = message;
        }
        *tail = message;
        (*count)++;
        assignment->offset = offset + 1;
    }
    return rc == ETHER_ERR_NOT_FOUND ? ETHER_OK : rc;
}

static void on_fetch(struct ether_client *client, void *context, int error,
                     const char *error_message, const ProtobufCMessage *response)
{
    struct client_assignment *assignment = context;
    (void)error_message;
    if (!answer_applies(client, assignment)) {
        return;
    }
    bool from_follower = assignment->fetched_from_broker_id !=
                         assignment->topic->partitions[assignment->partition].leader_id;
    const Ether__FetchPartitionResult *result = NULL;
    if (error == ETHER_OK) {
        const Ether__FetchResponse *fetch = (const Ether__FetchResponse *)response;
        for (size_t i = 0; i < fetch->n_partitions; i++) {
            if (fetch->partitions[i]->partition == assignment->partition) {
                result = fetch->partitions[i];
            }
        }
        error = result == NULL ? ETHER_ERR_CORRUPT : (int)result->error;
    }
    if ((error == ETHER_ERR_OUT_OF_RANGE || error == ETHER_ERR_BELOW_START) &&
        assignment->owned != NULL) {
        /* A group partition's position is gone from the log: start again per
         * auto_offset_reset, as for a partition without a committed offset. */
        reset_position(client, assignment);
        return;
    }
    if (error != ETHER_OK) {
        if (is_retriable(error)) {
            if (from_follower) {
                assignment->followers_avoided_until_ms = client_now_ms() + FOLLOWER_AVOID_MS;
            }
            retry_later(client, assignment);
            return;
        }
        char text[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(text, sizeof text, "cannot read %s/%u at offset %lld: %s", assignment->topic->name,
                 assignment->partition, (long long)assignment->offset, ether_strerror(error));
        deliver_error(client, assignment, error, text);
        return;
    }
    assignment->failures = 0;
    struct client_message *head = NULL;
    struct client_message *tail = NULL;
    size_t count = 0;
    int rc = ETHER_OK;
    for (size_t i = 0; i < result->n_batches && rc == ETHER_OK; i++) {
        rc = read_batch(client, assignment, result->batches[i], (int64_t)result->high_watermark,
                        &head, &tail, &count);
    }
    client_deliver_messages(client, head, tail, count);
    if (rc != ETHER_OK) {
        char text[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(text, sizeof text, "a batch of %s/%u near offset %lld is unreadable: %s",
                 assignment->topic->name, assignment->partition, (long long)assignment->offset,
                 ether_strerror(rc));
        deliver_error(client, assignment, rc, text);
    }
}

static void send_list_offsets(struct ether_client *client, struct client_assignment *assignment,
                              struct client_broker *leader)
{
    uint32_t partitions[] = {assignment->partition};
    Ether__ListOffsetsRequest request = ETHER__LIST_OFFSETS_REQUEST__INIT;
    request.topic = assignment->topic->name;
    request.n_partitions = 1;
    request.partitions = partitions;
    request.spec = assignment->resolve == ETHER_OFFSET_QUERY_EARLIEST
                       ? ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST
                   : assignment->resolve == ETHER_OFFSET_QUERY_TIMESTAMP
                       ? ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP
                       : ETHER__OFFSET_SPEC__OFFSET_SPEC_LATEST;
    request.timestamp_ms = assignment->resolve_timestamp_ms;
    assignment->in_flight = true;
    if (client_send(client, leader, PROTO_API_LIST_OFFSETS, &request.base, true,
                    client->settings.request_timeout_ms, on_list_offsets, assignment) != ETHER_OK) {
        assignment->in_flight = false;
    }
}

static void send_fetch(struct ether_client *client, struct client_assignment *assignment,
                       struct client_broker *replica)
{
    Ether__FetchPartition partition = ETHER__FETCH_PARTITION__INIT;
    partition.partition = assignment->partition;
    partition.offset = (uint64_t)assignment->offset;
    partition.max_bytes = client->settings.fetch_max_bytes;
    Ether__FetchPartition *partitions[] = {&partition};
    Ether__FetchRequest request = ETHER__FETCH_REQUEST__INIT;
    request.topic = assignment->topic->name;
    request.n_partitions = 1;
    request.partitions = partitions;
    request.max_wait_ms = client->settings.fetch_max_wait_ms;
    request.min_bytes = 1;
    request.max_bytes = client->settings.fetch_max_bytes;
    assignment->in_flight = true;
    assignment->fetched_from_broker_id = replica->broker_id;
    uint32_t timeout_ms = client->settings.request_timeout_ms + client->settings.fetch_max_wait_ms;
    if (client_send(client, replica, PROTO_API_FETCH, &request.base, true, timeout_ms, on_fetch,
                    assignment) != ETHER_OK) {
        assignment->in_flight = false;
    }
}

static void service_assignment(struct ether_client *client, struct client_assignment *assignment,
                               uint64_t now_ms, bool have_room)
{
    if (assignment->removed || assignment->stopped || assignment->in_flight ||
        assignment->awaiting_committed || now_ms < assignment->retry_at_ms) {
        return;
    }
    struct client_topic *topic = assignment->topic;
    char text[CLIENT_ERROR_MESSAGE_BYTES];
    if (!topic->metadata_known) {
        if (topic->metadata_error == ETHER_ERR_NOT_FOUND &&
            topic->missing_count >= TOPIC_MISSING_ANSWERS_MAX) {
            snprintf(text, sizeof text, "topic %s does not exist", topic->name);
            deliver_error(client, assignment, ETHER_ERR_NOT_FOUND, text);
            return;
        }
        client_metadata_want(client);
        return;
    }
    if (assignment->partition >= topic->partition_count) {
        snprintf(text, sizeof text, "partition %u of topic %s does not exist",
                 assignment->partition, topic->name);
        deliver_error(client, assignment, ETHER_ERR_NOT_FOUND, text);
        return;
    }
    const struct client_partition *partition = &topic->partitions[assignment->partition];
    struct client_broker *leader = client_broker_find(client, partition->leader_id);
    if (assignment->needs_resolve) {
        if (leader == NULL) {
            client_metadata_want(client);
        } else if (client_broker_usable(client, leader, now_ms)) {
            send_list_offsets(client, assignment, leader);
        }
        return;
    }
    if (!have_room) {
        return;
    }
    uint32_t replica_id = now_ms < assignment->followers_avoided_until_ms
                              ? partition->leader_id
                              : client_partition_read_replica(client, partition);
    struct client_broker *replica = client_broker_find(client, replica_id);
    if (replica == NULL) {
        client_metadata_want(client);
        return;
    }
    if (client_broker_usable(client, replica, now_ms)) {
        send_fetch(client, assignment, replica);
    }
}

void client_consumer_service(struct ether_client *client, uint64_t now_ms)
{
    if (client->assignments == NULL) {
        return;
    }
    bool have_room = client_messages_have_room(client);
    for (struct client_assignment *assignment = client->assignments; assignment != NULL;
         assignment = assignment->next) {
        service_assignment(client, assignment, now_ms, have_room);
    }
}

struct client_assignment *client_consumer_add_owned(struct ether_client *client,
                                                    struct client_owned *owned)
{
    struct client_assignment *assignment = ether_calloc(1, sizeof *assignment);
    assignment->topic = owned->topic;
    assignment->partition = owned->partition;
    assignment->owned = owned;
    assignment->awaiting_committed = true;
    assignment->next = client->assignments;
    client->assignments = assignment;
    client_metadata_want(client); /* its leader, if the topic is new to this client */
    return assignment;
}

void client_consumer_start(struct ether_client *client, struct client_assignment *assignment,
                           int64_t committed_offset)
{
    ETHER_ASSERT(assignment->owned != NULL);
    ETHER_ASSERT(assignment->awaiting_committed);
    assignment->awaiting_committed = false;
    if (committed_offset < 0) {
        reset_position(client, assignment);
        return;
    }
    assignment->offset = committed_offset;
    assignment->needs_resolve = false;
    pthread_mutex_lock(&client->mutex);
    assignment->owned->consumed_offset = committed_offset;
    assignment->owned->committed_offset = committed_offset;
    pthread_mutex_unlock(&client->mutex);
}

void client_consumer_remove(struct ether_client *client, struct client_assignment *assignment)
{
    remove_assignment(client, assignment);
}

void client_consumer_remove_manual(struct ether_client *client)
{
    struct client_assignment *assignment = client->assignments;
    while (assignment != NULL) {
        struct client_assignment *next = assignment->next;
        if (assignment->owned == NULL && !assignment->removed) {
            remove_assignment(client, assignment);
        }
        assignment = next;
    }
}

void client_consumer_deliver_error(struct ether_client *client, int error, const char *text)
{
    size_t text_bytes = strlen(text) + 1;
    struct client_message *message = ether_calloc(1, sizeof *message + text_bytes);
    memcpy(message->data, text, text_bytes);
    message->message.error = error;
    message->message.error_message = (const char *)message->data;
    message->message.topic = "";
    message->message.partition = -1;
    message->message.offset = -1;
    message->message.high_watermark = -1;
    client_deliver_messages(client, message, message, 1);
}

void client_consumer_free_all(struct ether_client *client)
{
    while (client->assignments != NULL) {
        struct client_assignment *next = client->assignments->next;
        ether_free(client->assignments);
        client->assignments = next;
    }
}
