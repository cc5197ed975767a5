/*
 * admin.c: the synchronous requests ("ops"): topic administration, offsets,
 * leadership transfer, describe cluster and ping.
 *
 * Happy path: the public function builds the request message on its own
 * stack, wraps it in a client_op and waits (client_op_run); the I/O thread
 * picks the target broker (any, the controller, the partition's leader or a
 * named broker), sends, and lets the op's result function read the answer
 * into the op (and into the caller's output) before waking the caller.
 *
 * Failure modes: with `retries`, a broken connection, a timeout or an answer
 * that says retry (NOT_LEADER, BUSY, ...) sends again after a backoff with
 * fresh metadata, until the op's deadline; then the op ends with
 * ETHER_ERR_TIMED_OUT and a sentence naming the last error. Without
 * `retries` (ping), the first failure ends the op.
 */
#include "client/client_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/panic.h"

enum { TOPIC_MISSING_ANSWERS_MAX = 3 };

void client_ops_accept(struct ether_client *client, struct client_op *op, uint64_t now_ms)
{
    op->deadline_ms = now_ms + op->timeout_ms;
    op->metadata_generation_accepted = client->metadata_generation;
    op->retry_at_ms = 0;
    op->attempts = 0;
    op->in_flight = false;
    op->unanswered_attempt = false;
    op->coordinator_id = 0;
    op->next = client->ops;
    client->ops = op;
}

static void op_finish(struct ether_client *client, struct client_op *op, int result)
{
    for (struct client_op **link = &client->ops; *link != NULL; link = &(*link)->next) {
        if (*link == op) {
            *link = op->next;
            break;
        }
    }
    op->result = result;
    if (result == ETHER_OK) {
        op->message[0] = '\0';
    }
    client_op_finish(client, op);
}

static void op_finish_with(struct ether_client *client, struct client_op *op, int result,
                           const char *format, ...) __attribute__((format(printf, 4, 5)));

static void op_finish_with(struct ether_client *client, struct client_op *op, int result,
                           const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(op->message, sizeof op->message, format, args);
    va_end(args);
    op_finish(client, op, result);
}

static bool is_retriable(int error)
{
    switch (error) {
    case ETHER_ERR_IO:
    case ETHER_ERR_TIMED_OUT:
    case ETHER_ERR_NOT_LEADER:
    case ETHER_ERR_BUSY:
    case ETHER_ERR_TRANSFER_IN_PROGRESS:
    case ETHER_ERR_CONFIG_CHANGE_IN_PROGRESS:
    case ETHER_ERR_DROPPED:
    case ETHER_ERR_STOPPED:
    case ETHER_ERR_NOT_COORDINATOR:
    case ETHER_ERR_COORDINATOR_NOT_AVAILABLE:
    case ETHER_ERR_COORDINATOR_LOADING:
        return true;
    default:
        return false;
    }
}

static void on_op_response(struct ether_client *client, void *context, int error,
                           const char *error_message, const ProtobufCMessage *response)
{
    struct client_op *op = context;
    op->in_flight = false;
    op->round_trip_us = (int64_t)((ether_clock_monotonic_ns() - op->sent_ns) / 1000u);
    if (client->io_stopping) {
        op_finish_with(client, op, ETHER_ERR_CLOSED, "%s", "the client is closing");
        return;
    }
    uint64_t now_ms = client_now_ms();
    if (error != ETHER_OK) {
        snprintf(op->message, sizeof op->message, "%s", error_message);
        op->unanswered_attempt = true;
        if (!op->retries || !is_retriable(error)) {
            op_finish(client, op, error);
            return;
        }
        op->coordinator_id = 0; /* the coordinator may be what broke */
        op->retry_at_ms = now_ms + client_backoff_delay_ms(&client->backoff, op->attempts);
        client_metadata_want(client);
        return;
    }
    if (op->api_key == PROTO_API_METADATA) {
        client_metadata_apply(client, (const Ether__MetadataResponse *)response, false);
    }
    enum client_verdict verdict = op->on_result(client, op, response);
    if (verdict == CLIENT_VERDICT_DONE || !op->retries) {
        op_finish(client, op, op->result);
        return;
    }
    op->retry_at_ms = now_ms + client_backoff_delay_ms(&client->backoff, op->attempts);
    if (verdict == CLIENT_VERDICT_RETRY_AFTER_METADATA) {
        client_metadata_want(client);
    }
    if (verdict == CLIENT_VERDICT_RETRY_AFTER_COORDINATOR) {
        op->coordinator_id = 0;
    }
}

static void on_op_coordinator(struct ether_client *client, void *context, int error,
                              const char *error_message, const ProtobufCMessage *response)
{
    struct client_op *op = context;
    op->in_flight = false;
    if (client->io_stopping) {
        op_finish_with(client, op, ETHER_ERR_CLOSED, "%s", "the client is closing");
        return;
    }
    const Ether__FindCoordinatorResponse *answer = (const Ether__FindCoordinatorResponse *)response;
    if (error == ETHER_OK) {
        error = (int)answer->error;
        error_message = answer->error_message;
        if (error == ETHER_OK &&
            (answer->coordinator == NULL || answer->coordinator->broker_id == 0 ||
             answer->coordinator->port == 0 || answer->coordinator->port > UINT16_MAX)) {
            error = ETHER_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    if (error == ETHER_OK) {
        op->coordinator_id = client_broker_learn(client, answer->coordinator)->broker_id;
        return;
    }
    snprintf(op->message, sizeof op->message, "cannot find the coordinator of group %.60s: %.120s",
             op->group,
             error_message != NULL && error_message[0] != '\0' ? error_message
                                                               : ether_strerror(error));
    if (!is_retriable(error)) {
        op_finish(client, op, error);
        return;
    }
    op->retry_at_ms = client_now_ms() + client_backoff_delay_ms(&client->backoff, op->attempts);
}

/* Asks any broker which broker coordinates op->group. */
static void find_op_coordinator(struct ether_client *client, struct client_op *op, uint64_t now_ms)
{
    struct client_broker *broker = client_broker_any(client, now_ms);
    if (broker == NULL) {
        client_metadata_want(client);
        return;
    }
    Ether__FindCoordinatorRequest request = ETHER__FIND_COORDINATOR_REQUEST__INIT;
    request.group = (char *)(uintptr_t)op->group;
    op->in_flight = true;
    op->attempts++;
    if (client_send(client, broker, PROTO_API_FIND_COORDINATOR, &request.base, true,
                    client->settings.request_timeout_ms, on_op_coordinator, op) != ETHER_OK) {
        op->in_flight = false;
    }
}

/* The broker an op goes to now, or NULL to wait (the op may have been finished). */
static struct client_broker *op_target(struct ether_client *client, struct client_op *op,
                                       uint64_t now_ms, bool *finished)
{
    *finished = false;
    switch (op->target) {
    case CLIENT_TARGET_ANY:
        return client_broker_any(client, now_ms);
    case CLIENT_TARGET_CONTROLLER: {
        struct client_broker *controller = client_broker_find(client, client->controller_id);
        if (controller != NULL && client_broker_usable(client, controller, now_ms)) {
            return controller;
        }
        if (client->metadata_refreshed_ms == 0 || controller == NULL) {
            client_metadata_want(client);
        }
        return client_broker_any(client, now_ms);
    }
    case CLIENT_TARGET_LEADER: {
        struct client_topic *topic = client_topic_get(client, op->topic);
        if (!topic->metadata_known) {
            if (topic->metadata_error == ETHER_ERR_NOT_FOUND &&
                topic->missing_count >= TOPIC_MISSING_ANSWERS_MAX) {
                op_finish_with(client, op, ETHER_ERR_NOT_FOUND, "topic %s does not exist",
                               op->topic);
                *finished = true;
            } else {
                client_metadata_want(client);
            }
            return NULL;
        }
        if (op->partition >= topic->partition_count) {
            snprintf(op->message, sizeof op->message, "partition %u of topic %s does not exist",
                     op->partition, op->topic);
            op_finish(client, op, ETHER_ERR_NOT_FOUND);
            *finished = true;
            return NULL;
        }
        struct client_broker *leader =
            client_broker_find(client, topic->partitions[op->partition].leader_id);
        if (leader == NULL) {
            snprintf(op->message, sizeof op->message, "partition %s/%u has no leader", op->topic,
                     op->partition);
            client_metadata_want(client);
        }
        return leader;
    }
    case CLIENT_TARGET_BROKER: {
        struct client_broker *broker = client_broker_find(client, op->broker_id);
        if (broker == NULL || !broker->in_metadata) {
            /* Only a refresh newer than the op can say that the broker is not there. */
            if (client->metadata_generation == op->metadata_generation_accepted) {
                client_metadata_want(client);
                return NULL;
            }
            snprintf(op->message, sizeof op->message, "broker %u is not in the cluster metadata",
                     op->broker_id);
            op_finish(client, op, ETHER_ERR_NOT_FOUND);
            *finished = true;
            return NULL;
        }
        if (!op->retries && !client_broker_usable(client, broker, now_ms)) {
            snprintf(op->message, sizeof op->message, "%s", broker->last_error);
            op_finish(client, op, ETHER_ERR_IO);
            *finished = true;
            return NULL;
        }
        return broker;
    }
    case CLIENT_TARGET_COORDINATOR: {
        struct client_broker *coordinator = client_broker_find(client, op->coordinator_id);
        if (coordinator == NULL) {
            op->coordinator_id = 0;
            find_op_coordinator(client, op, now_ms);
        }
        return coordinator;
    }
    }
    ETHER_PANIC("unknown op target");
}

static void service_op(struct ether_client *client, struct client_op *op, uint64_t now_ms)
{
    if (op->in_flight) {
        return;
    }
    if (now_ms >= op->deadline_ms) {
        char last[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(last, sizeof last, "%s",
                 op->message[0] != '\0' ? op->message : client->last_connection_error);
        if (last[0] != '\0') {
            snprintf(op->message, sizeof op->message, "no answer within %u ms (last error: %.190s)",
                     op->timeout_ms, last);
        } else {
            snprintf(op->message, sizeof op->message, "no broker answered within %u ms",
                     op->timeout_ms);
        }
        op_finish(client, op, ETHER_ERR_TIMED_OUT);
        return;
    }
    if (now_ms < op->retry_at_ms) {
        return;
    }
    bool finished = false;
    struct client_broker *broker = op_target(client, op, now_ms, &finished);
    if (finished || broker == NULL || !client_broker_usable(client, broker, now_ms)) {
        return;
    }
    uint64_t left_ms = op->deadline_ms - now_ms;
    uint32_t timeout_ms = client->settings.request_timeout_ms;
    if (left_ms < timeout_ms) {
        timeout_ms = (uint32_t)left_ms;
    }
    op->in_flight = true;
    op->attempts++;
    op->sent_ns = ether_clock_monotonic_ns();
    if (client_send(client, broker, op->api_key, op->request, true, timeout_ms, on_op_response,
                    op) != ETHER_OK) {
        op->in_flight = false;
    }
}

void client_ops_service(struct ether_client *client, uint64_t now_ms)
{
    struct client_op *op = client->ops;
    while (op != NULL) {
        struct client_op *next = op->next;
        service_op(client, op, now_ms);
        op = next;
    }
}

/* ---- result readers ------------------------------------------------------------------- */

/* The verdict for an error a broker put in an answer body. */
enum client_verdict client_op_verdict(struct client_op *op, uint32_t error,
                                      const char *error_message, const char *what)
{
    op->result = (int)error;
    if (error == ETHER_OK) {
        return CLIENT_VERDICT_DONE;
    }
    snprintf(op->message, sizeof op->message, "%s: %s", what,
             error_message != NULL && error_message[0] != '\0' ? error_message
                                                               : ether_strerror((int)error));
    if (error == ETHER_ERR_NOT_LEADER) {
        return CLIENT_VERDICT_RETRY_AFTER_METADATA;
    }
    if (error == ETHER_ERR_NOT_COORDINATOR || error == ETHER_ERR_COORDINATOR_NOT_AVAILABLE ||
        error == ETHER_ERR_COORDINATOR_LOADING) {
        return CLIENT_VERDICT_RETRY_AFTER_COORDINATOR;
    }
    return is_retriable((int)error) ? CLIENT_VERDICT_RETRY : CLIENT_VERDICT_DONE;
}

static enum client_verdict create_topic_result(struct ether_client *client, struct client_op *op,
                                               const ProtobufCMessage *response)
{
    (void)client;
    const Ether__CreateTopicResponse *answer = (const Ether__CreateTopicResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES / 2];
    snprintf(what, sizeof what, "cannot create topic %s", op->topic);
    return client_op_verdict(op, answer->error, answer->error_message, what);
}

static enum client_verdict delete_topic_result(struct ether_client *client, struct client_op *op,
                                               const ProtobufCMessage *response)
{
    (void)client;
    const Ether__DeleteTopicResponse *answer = (const Ether__DeleteTopicResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES / 2];
    snprintf(what, sizeof what, "cannot delete topic %s", op->topic);
    return client_op_verdict(op, answer->error, answer->error_message, what);
}

static enum client_verdict alter_config_result(struct ether_client *client, struct client_op *op,
                                               const ProtobufCMessage *response)
{
    (void)client;
    const Ether__AlterTopicConfigResponse *answer =
        (const Ether__AlterTopicConfigResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES / 2];
    snprintf(what, sizeof what, "cannot change the configuration of topic %s", op->topic);
    return client_op_verdict(op, answer->error, answer->error_message, what);
}

static enum client_verdict transfer_leader_result(struct ether_client *client, struct client_op *op,
                                                  const ProtobufCMessage *response)
{
    const Ether__TransferLeaderResponse *answer = (const Ether__TransferLeaderResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES / 2];
    snprintf(what, sizeof what, "cannot move the leadership of %s/%u to broker %u", op->topic,
             op->partition, op->broker_id);
    enum client_verdict verdict = client_op_verdict(op, answer->error, answer->error_message, what);
    if (answer->error == ETHER_OK) {
        client_metadata_want(client);
    }
    return verdict;
}

enum client_verdict client_list_offset_result(struct ether_client *client, struct client_op *op,
                                              const ProtobufCMessage *response)
{
    (void)client;
    const Ether__ListOffsetsResponse *answer = (const Ether__ListOffsetsResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES / 2];
    snprintf(what, sizeof what, "cannot list the offsets of %s/%u", op->topic, op->partition);
    for (size_t i = 0; i < answer->n_partitions; i++) {
        const Ether__ListOffsetsPartitionResult *result = answer->partitions[i];
        if (result->partition == op->partition) {
            if (result->error == ETHER_OK) {
                *(int64_t *)op->output = (int64_t)result->offset;
            }
            return client_op_verdict(op, result->error, NULL, what);
        }
    }
    return client_op_verdict(op, ETHER_ERR_CORRUPT, "the answer lacks the partition", what);
}

static int compare_brokers(const void *a, const void *b)
{
    const struct ether_broker_info *left = a;
    const struct ether_broker_info *right = b;
    return (left->broker_id > right->broker_id) - (left->broker_id < right->broker_id);
}

static int compare_partitions(const void *a, const void *b)
{
    const struct ether_partition_info *left = a;
    const struct ether_partition_info *right = b;
    return (left->partition > right->partition) - (left->partition < right->partition);
}

static int compare_topics(const void *a, const void *b)
{
    return strcmp(((const struct ether_topic_info *)a)->name,
                  ((const struct ether_topic_info *)b)->name);
}

static int compare_configs(const void *a, const void *b)
{
    return strcmp(((const struct ether_config_entry *)a)->name,
                  ((const struct ether_config_entry *)b)->name);
}

static uint32_t *copy_ids(const uint32_t *ids, size_t count)
{
    uint32_t *copy = ether_calloc(count + 1, sizeof *copy);
    if (count > 0) {
        memcpy(copy, ids, count * sizeof *copy);
    }
    return copy;
}

static struct ether_cluster *cluster_from(const Ether__MetadataResponse *answer)
{
    struct ether_cluster *cluster = ether_calloc(1, sizeof *cluster);
    cluster->cluster_id = client_copy_string(answer->cluster_id);
    cluster->controller_id = answer->controller_id;
    struct ether_broker_info *brokers = ether_calloc(answer->n_brokers + 1, sizeof *brokers);
    for (size_t i = 0; i < answer->n_brokers; i++) {
        brokers[i].broker_id = answer->brokers[i]->broker_id;
        brokers[i].host = client_copy_string(answer->brokers[i]->host);
        brokers[i].port = (uint16_t)answer->brokers[i]->port;
        brokers[i].rack = client_copy_string(answer->brokers[i]->rack);
    }
    qsort(brokers, answer->n_brokers, sizeof *brokers, compare_brokers);
    cluster->brokers = brokers;
    cluster->broker_count = answer->n_brokers;
    struct ether_topic_info *topics = ether_calloc(answer->n_topics + 1, sizeof *topics);
    for (size_t t = 0; t < answer->n_topics; t++) {
        const Ether__TopicMetadata *source = answer->topics[t];
        struct ether_topic_info *topic = &topics[t];
        topic->name = client_copy_string(source->name);
        topic->error = (int)source->error;
        struct ether_partition_info *partitions =
            ether_calloc(source->n_partitions + 1, sizeof *partitions);
        for (size_t p = 0; p < source->n_partitions; p++) {
            const Ether__PartitionMetadata *from = source->partitions[p];
            partitions[p].partition = from->partition;
            partitions[p].error = (int)from->error;
            partitions[p].leader_id = from->leader_id;
            partitions[p].leader_term = from->leader_term;
            partitions[p].replicas = copy_ids(from->replicas, from->n_replicas);
            partitions[p].replica_count = from->n_replicas;
            partitions[p].in_sync_replicas =
                copy_ids(from->in_sync_replicas, from->n_in_sync_replicas);
            partitions[p].in_sync_replica_count = from->n_in_sync_replicas;
            partitions[p].high_watermark = from->high_watermark;
            partitions[p].log_start_offset = from->log_start_offset;
        }
        qsort(partitions, source->n_partitions, sizeof *partitions, compare_partitions);
        topic->partitions = partitions;
        topic->partition_count = source->n_partitions;
        struct ether_config_entry *configs = ether_calloc(source->n_configs + 1, sizeof *configs);
        for (size_t c = 0; c < source->n_configs; c++) {
            configs[c].name = client_copy_string(source->configs[c]->key);
            configs[c].value = client_copy_string(source->configs[c]->value);
        }
        qsort(configs, source->n_configs, sizeof *configs, compare_configs);
        topic->configs = configs;
        topic->config_count = source->n_configs;
    }
    qsort(topics, answer->n_topics, sizeof *topics, compare_topics);
    cluster->topics = topics;
    cluster->topic_count = answer->n_topics;
    return cluster;
}

void ether_cluster_free(struct ether_cluster *cluster)
{
    if (cluster == NULL) {
        return;
    }
    for (size_t b = 0; b < cluster->broker_count; b++) {
        client_free_const(cluster->brokers[b].host);
        client_free_const(cluster->brokers[b].rack);
    }
    client_free_const(cluster->brokers);
    for (size_t t = 0; t < cluster->topic_count; t++) {
        const struct ether_topic_info *topic = &cluster->topics[t];
        for (size_t p = 0; p < topic->partition_count; p++) {
            client_free_const(topic->partitions[p].replicas);
            client_free_const(topic->partitions[p].in_sync_replicas);
        }
        client_free_const(topic->partitions);
        for (size_t c = 0; c < topic->config_count; c++) {
            client_free_const(topic->configs[c].name);
            client_free_const(topic->configs[c].value);
        }
        client_free_const(topic->configs);
        client_free_const(topic->name);
    }
    client_free_const(cluster->topics);
    client_free_const(cluster->cluster_id);
    ether_free(cluster);
}

static enum client_verdict describe_result(struct ether_client *client, struct client_op *op,
                                           const ProtobufCMessage *response)
{
    (void)client;
    const Ether__MetadataResponse *answer = (const Ether__MetadataResponse *)response;
    if (answer->error != ETHER_OK) {
        return client_op_verdict(op, answer->error, NULL, "cannot describe the cluster");
    }
    if (op->output != NULL) {
        *(struct ether_cluster **)op->output = cluster_from(answer);
    }
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

static int compare_producer_states(const void *a, const void *b)
{
    const struct ether_producer_state *left = a;
    const struct ether_producer_state *right = b;
    return (left->producer_id > right->producer_id) - (left->producer_id < right->producer_id);
}

struct producers_output {
    struct ether_producer_state **producers;
    size_t *count;
};

static enum client_verdict describe_producers_result(struct ether_client *client,
                                                     struct client_op *op,
                                                     const ProtobufCMessage *response)
{
    const Ether__DescribeProducersResponse *answer =
        (const Ether__DescribeProducersResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES / 2];
    snprintf(what, sizeof what, "cannot describe the producers of %s/%u", op->topic, op->partition);
    if (answer->error != ETHER_OK) {
        if (answer->error == ETHER_ERR_NOT_LEADER && answer->leader_hint_id != 0) {
            struct client_topic *topic = client_topic_get(client, op->topic);
            if (op->partition < topic->partition_count &&
                client_broker_find(client, answer->leader_hint_id) != NULL) {
                topic->partitions[op->partition].leader_id = answer->leader_hint_id;
            }
        }
        return client_op_verdict(op, answer->error, answer->error_message, what);
    }
    struct producers_output *output = op->output;
    struct ether_producer_state *states = NULL;
    if (answer->n_producers > 0) {
        states = ether_calloc(answer->n_producers, sizeof *states);
        for (size_t i = 0; i < answer->n_producers; i++) {
            const Ether__ProducerState *from = answer->producers[i];
            states[i].producer_id = from->producer_id;
            states[i].producer_epoch = from->producer_epoch;
            states[i].last_sequence = from->last_sequence;
            states[i].last_offset = (int64_t)from->last_offset;
            states[i].last_timestamp_ms = from->last_timestamp_ms;
        }
        qsort(states, answer->n_producers, sizeof *states, compare_producer_states);
    }
    *output->producers = states;
    *output->count = answer->n_producers;
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

void ether_producer_states_free(struct ether_producer_state *producers)
{
    ether_free(producers);
}

/* ---- the public calls -------------------------------------------------------------------- */

static bool valid_name(const char *name)
{
    return name != NULL && name[0] != '\0';
}

int ether_create_topic(struct ether_client *client, const char *name, uint32_t partition_count,
                       uint32_t replication_factor, const struct ether_config_entry *configs,
                       size_t config_count, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (client == NULL || !valid_name(name) || partition_count == 0 || replication_factor == 0 ||
        (configs == NULL && config_count > 0)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic needs a name, at least one partition and one replica");
    }
    Ether__CreateTopicRequest request = ETHER__CREATE_TOPIC_REQUEST__INIT;
    request.name = client_unconst(name);
    request.partitions = partition_count;
    request.replication_factor = replication_factor;
    request.timeout_ms = client_op_timeout(timeout_ms);
    Ether__CreateTopicRequest__ConfigsEntry *entries =
        ether_calloc(config_count + 1, sizeof *entries);
    Ether__CreateTopicRequest__ConfigsEntry **entry_pointers =
        ether_calloc(config_count + 1, sizeof *entry_pointers);
    for (size_t i = 0; i < config_count; i++) {
        ether__create_topic_request__configs_entry__init(&entries[i]);
        entries[i].key = client_unconst(configs[i].name);
        entries[i].value = client_unconst(configs[i].value);
        entry_pointers[i] = &entries[i];
    }
    request.n_configs = config_count;
    request.configs = entry_pointers;
    struct client_op op = {
        .api_key = PROTO_API_CREATE_TOPIC,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .topic = name,
        .retries = true,
        .on_result = create_topic_result,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    ether_free(entry_pointers);
    ether_free(entries);
    return rc;
}

int ether_delete_topic(struct ether_client *client, const char *name, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
    if (client == NULL || !valid_name(name)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic name is needed");
    }
    Ether__DeleteTopicRequest request = ETHER__DELETE_TOPIC_REQUEST__INIT;
    request.name = client_unconst(name);
    request.timeout_ms = client_op_timeout(timeout_ms);
    struct client_op op = {
        .api_key = PROTO_API_DELETE_TOPIC,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .topic = name,
        .retries = true,
        .on_result = delete_topic_result,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

int ether_alter_topic_config(struct ether_client *client, const char *name,
                             const struct ether_config_entry *set, size_t set_count,
                             const char *const *delete_names, size_t delete_count, int timeout_ms,
                             char *errstr, size_t errstr_size)
{
    if (client == NULL || !valid_name(name) || (set == NULL && set_count > 0) ||
        (delete_names == NULL && delete_count > 0) || set_count + delete_count == 0) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic name and at least one setting to set or delete are needed");
    }
    Ether__AlterTopicConfigRequest request = ETHER__ALTER_TOPIC_CONFIG_REQUEST__INIT;
    request.name = client_unconst(name);
    Ether__AlterTopicConfigRequest__SetEntry *entries =
        ether_calloc(set_count + 1, sizeof *entries);
    Ether__AlterTopicConfigRequest__SetEntry **entry_pointers =
        ether_calloc(set_count + 1, sizeof *entry_pointers);
    for (size_t i = 0; i < set_count; i++) {
        ether__alter_topic_config_request__set_entry__init(&entries[i]);
        entries[i].key = client_unconst(set[i].name);
        entries[i].value = client_unconst(set[i].value);
        entry_pointers[i] = &entries[i];
    }
    request.n_set = set_count;
    request.set = entry_pointers;
    char **deletes = ether_calloc(delete_count + 1, sizeof *deletes);
    for (size_t i = 0; i < delete_count; i++) {
        deletes[i] = client_unconst(delete_names[i]);
    }
    request.n_delete_ = delete_count;
    request.delete_ = deletes;
    struct client_op op = {
        .api_key = PROTO_API_ALTER_TOPIC_CONFIG,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .topic = name,
        .retries = true,
        .on_result = alter_config_result,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    ether_free(deletes);
    ether_free(entry_pointers);
    ether_free(entries);
    return rc;
}

int ether_transfer_leader(struct ether_client *client, const char *topic, int32_t partition,
                          uint32_t to_broker_id, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (client == NULL || !valid_name(topic) || partition < 0 || to_broker_id == 0) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic, a partition and a broker id (>= 1) are needed");
    }
    Ether__TransferLeaderRequest request = ETHER__TRANSFER_LEADER_REQUEST__INIT;
    request.topic = client_unconst(topic);
    request.partition = (uint32_t)partition;
    request.to_broker_id = to_broker_id;
    request.timeout_ms = client_op_timeout(timeout_ms);
    struct client_op op = {
        .api_key = PROTO_API_TRANSFER_LEADER,
        .request = &request.base,
        .target = CLIENT_TARGET_LEADER,
        .topic = topic,
        .partition = (uint32_t)partition,
        .broker_id = to_broker_id,
        .retries = true,
        .on_result = transfer_leader_result,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

int ether_list_offset(struct ether_client *client, const char *topic, int32_t partition,
                      enum ether_offset_query query, int64_t timestamp_ms, int timeout_ms,
                      int64_t *offset, char *errstr, size_t errstr_size)
{
    if (client == NULL || !valid_name(topic) || partition < 0 || offset == NULL ||
        (query != ETHER_OFFSET_QUERY_LATEST && query != ETHER_OFFSET_QUERY_EARLIEST &&
         query != ETHER_OFFSET_QUERY_TIMESTAMP)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic, a partition, a query and somewhere to store the offset "
                            "are needed");
    }
    uint32_t partitions[] = {(uint32_t)partition};
    Ether__ListOffsetsRequest request = ETHER__LIST_OFFSETS_REQUEST__INIT;
    request.topic = client_unconst(topic);
    request.n_partitions = 1;
    request.partitions = partitions;
    request.spec = query == ETHER_OFFSET_QUERY_EARLIEST ? ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST
                   : query == ETHER_OFFSET_QUERY_TIMESTAMP
                       ? ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP
                       : ETHER__OFFSET_SPEC__OFFSET_SPEC_LATEST;
    request.timestamp_ms = timestamp_ms;
    struct client_op op = {
        .api_key = PROTO_API_LIST_OFFSETS,
        .request = &request.base,
        .target = CLIENT_TARGET_LEADER,
        .topic = topic,
        .partition = (uint32_t)partition,
        .retries = true,
        .on_result = client_list_offset_result,
        .output = offset,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

int ether_describe_cluster(struct ether_client *client, const char *const *topics,
                           size_t topic_count, int timeout_ms, struct ether_cluster **cluster,
                           char *errstr, size_t errstr_size)
{
    if (client == NULL || cluster == NULL || (topics == NULL && topic_count > 0)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "somewhere to store the cluster description is needed");
    }
    *cluster = NULL;
    char **names = ether_calloc(topic_count + 1, sizeof *names);
    for (size_t i = 0; i < topic_count; i++) {
        names[i] = client_unconst(topics[i]);
    }
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    request.n_topics = topic_count;
    request.topics = names;
    struct client_op op = {
        .api_key = PROTO_API_METADATA,
        .request = &request.base,
        .target = CLIENT_TARGET_ANY,
        .retries = true,
        .on_result = describe_result,
        .output = cluster,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    ether_free(names);
    return rc;
}

int ether_ping_broker(struct ether_client *client, uint32_t broker_id, int timeout_ms,
                      int64_t *round_trip_us, char *errstr, size_t errstr_size)
{
    if (client == NULL || broker_id == 0) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a broker id (>= 1) is needed");
    }
    /* A metadata request for one topic name that cannot exist: small and harmless. */
    char *names[] = {client_unconst("__ether_ping")};
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    request.n_topics = 1;
    request.topics = names;
    struct client_op op = {
        .api_key = PROTO_API_METADATA,
        .request = &request.base,
        .target = CLIENT_TARGET_BROKER,
        .broker_id = broker_id,
        .retries = false,
        .on_result = describe_result,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    if (rc == ETHER_OK && round_trip_us != NULL) {
        *round_trip_us = op.round_trip_us;
    }
    return rc;
}

int ether_describe_producers(struct ether_client *client, const char *topic, int32_t partition,
                             int timeout_ms, struct ether_producer_state **producers, size_t *count,
                             char *errstr, size_t errstr_size)
{
    if (client == NULL || !valid_name(topic) || partition < 0 || producers == NULL ||
        count == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic, a partition and somewhere to store the producers are "
                            "needed");
    }
    *producers = NULL;
    *count = 0;
    Ether__DescribeProducersRequest request = ETHER__DESCRIBE_PRODUCERS_REQUEST__INIT;
    request.topic = client_unconst(topic);
    request.partition = (uint32_t)partition;
    struct producers_output output = {producers, count};
    struct client_op op = {
        .api_key = PROTO_API_DESCRIBE_PRODUCERS,
        .request = &request.base,
        .target = CLIENT_TARGET_LEADER,
        .topic = topic,
        .partition = (uint32_t)partition,
        .retries = true,
        .on_result = describe_producers_result,
        .output = &output,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}
