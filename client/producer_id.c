/*
 * producer_id.c: the idempotent producer's id and epoch.
 *
 * Happy path: the first record produced moves the state from IDLE to WANTED;
 * client_producer_id_service sends one InitProducerId (with producer_name
 * when configured) to the controller when the metadata names one, else to
 * any broker; the answer's id and epoch become `identity` (generation + 1)
 * and batches are stamped with it from then on (window.c).
 *
 * Failure modes: NOT_LEADER (the broker is not the controller), broken
 * connections, timeouts and the other retriable errors ask again after a
 * backoff, at the controller once fresh metadata names it; records wait and
 * time out as usual (their message names the last InitProducerId error).
 * UNSUPPORTED from a cluster that does not know the api turns idempotence
 * off when it was on by default, and fails the producer when it was asked
 * for. Any other error (and an epoch beyond int16) fails the producer. When a
 * stamped batch fails for good, client_producer_id_reset drains the old
 * epoch (DRAINING until no stamped batch is left) and then asks again: the
 * same name gets epoch + 1, no name a new id; both start every partition at
 * sequence 0.
 */
#include "client/client_internal.h"

#include <stdio.h>

#include "common/mem.h"
#include "common/panic.h"

void client_producer_id_init(struct ether_client *client)
{
    struct client_producer_id *producer_id = ether_calloc(1, sizeof *producer_id);
    const struct client_settings *settings = &client->settings;
    bool on =
        settings->idempotence == CLIENT_IDEMPOTENCE_ON ||
        (settings->idempotence == CLIENT_IDEMPOTENCE_DEFAULT && settings->acks == CLIENT_ACKS_ALL);
    producer_id->state = on ? CLIENT_PRODUCER_ID_IDLE : CLIENT_PRODUCER_ID_OFF;
    client->producer_id = producer_id;
}

void client_producer_id_free(struct ether_client *client)
{
    ether_free(client->producer_id);
    client->producer_id = NULL;
}

bool client_producer_id_enabled(const struct ether_client *client)
{
    return client->producer_id->state != CLIENT_PRODUCER_ID_OFF;
}

const struct client_producer_identity *client_producer_id_current(struct ether_client *client)
{
    struct client_producer_id *producer_id = client->producer_id;
    if (producer_id->state == CLIENT_PRODUCER_ID_IDLE) {
        producer_id->state = CLIENT_PRODUCER_ID_WANTED;
    }
    return producer_id->state == CLIENT_PRODUCER_ID_READY ? &producer_id->identity : NULL;
}

void client_producer_id_reset(struct ether_client *client)
{
    struct client_producer_id *producer_id = client->producer_id;
    if (producer_id->state == CLIENT_PRODUCER_ID_READY) {
        producer_id->state = CLIENT_PRODUCER_ID_DRAINING;
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
    case ETHER_ERR_CONFIG_CHANGE_IN_PROGRESS:
    case ETHER_ERR_DROPPED:
    case ETHER_ERR_STOPPED:
    case ETHER_ERR_CLOSED:
        return true;
    default:
        return false;
    }
}

static void on_init_producer_id(struct ether_client *client, void *context, int error,
                                const char *error_message, const ProtobufCMessage *response)
{
    (void)context;
    struct client_producer_id *producer_id = client->producer_id;
    ETHER_ASSERT(producer_id->state == CLIENT_PRODUCER_ID_REQUESTING);
    producer_id->state = CLIENT_PRODUCER_ID_WANTED;
    if (client->io_stopping) {
        return;
    }
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(message, sizeof message, "%s", error_message != NULL ? error_message : "");
    const Ether__InitProducerIdResponse *answer = (const Ether__InitProducerIdResponse *)response;
    if (error == ETHER_OK && answer->error != ETHER_OK) {
        error = (int)answer->error;
        snprintf(message, sizeof message, "%s",
                 answer->error_message != NULL && answer->error_message[0] != '\0'
                     ? answer->error_message
                     : ether_strerror(error));
    }
    if (error == ETHER_OK && (answer->producer_id < 0 || answer->producer_epoch > INT16_MAX)) {
        error = ETHER_ERR_CORRUPT;
        snprintf(message, sizeof message,
                 "the cluster gave producer id %lld epoch %u, out of range",
                 (long long)answer->producer_id, answer->producer_epoch);
    }
    if (error == ETHER_OK) {
        producer_id->identity.producer_id = answer->producer_id;
        producer_id->identity.producer_epoch = (int16_t)answer->producer_epoch;
        producer_id->identity.generation++;
        producer_id->state = CLIENT_PRODUCER_ID_READY;
        producer_id->attempts = 0;
        producer_id->ask_controller = false;
        producer_id->last_error[0] = '\0';
        return;
    }
    snprintf(producer_id->last_error, sizeof producer_id->last_error,
             "cannot get a producer id: %.200s", message);
    if (error == ETHER_ERR_UNSUPPORTED &&
        client->settings.idempotence == CLIENT_IDEMPOTENCE_DEFAULT &&
        producer_id->identity.generation == 0) {
        /* An older cluster: produce as before, without sequence numbers. */
        producer_id->state = CLIENT_PRODUCER_ID_OFF;
        return;
    }
    if (!is_retriable(error)) {
        char fatal[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(fatal, sizeof fatal, "the idempotent producer cannot start: %.200s", message);
        client_producer_fatal(client, error, fatal);
        return;
    }
    producer_id->ask_controller = producer_id->ask_controller || error == ETHER_ERR_NOT_LEADER;
    producer_id->retry_at_ms =
        client_now_ms() + client_backoff_delay_ms(&client->backoff, producer_id->attempts);
    client_metadata_want(client);
}

static struct client_broker *init_target(struct ether_client *client, uint64_t now_ms)
{
    struct client_broker *controller = client_broker_find(client, client->controller_id);
    if (controller != NULL && client_broker_usable(client, controller, now_ms)) {
        return controller;
    }
    if (client->producer_id->ask_controller) {
        client_metadata_want(client);
        if (client->metadata_refreshed_ms == 0) {
            return NULL;
        }
    }
    return client_broker_any(client, now_ms);
}

void client_producer_id_service(struct ether_client *client, uint64_t now_ms)
{
    struct client_producer_id *producer_id = client->producer_id;
    if (producer_id->state == CLIENT_PRODUCER_ID_DRAINING && producer_id->stamped_unresolved == 0) {
        producer_id->state = CLIENT_PRODUCER_ID_WANTED;
        producer_id->retry_at_ms = now_ms;
    }
    if (producer_id->state != CLIENT_PRODUCER_ID_WANTED || now_ms < producer_id->retry_at_ms ||
        client->producer_error != ETHER_OK) {
        return;
    }
    struct client_broker *broker = init_target(client, now_ms);
    if (broker == NULL) {
        return;
    }
    Ether__InitProducerIdRequest request = ETHER__INIT_PRODUCER_ID_REQUEST__INIT;
    request.producer_name = client->settings.producer_name;
    request.timeout_ms = client->settings.request_timeout_ms;
    producer_id->attempts++;
    producer_id->state = CLIENT_PRODUCER_ID_REQUESTING;
    int rc = client_send(client, broker, PROTO_API_INIT_PRODUCER_ID, &request.base, true,
                         client->settings.request_timeout_ms, on_init_producer_id, NULL);
    if (rc != ETHER_OK) {
        producer_id->state = CLIENT_PRODUCER_ID_WANTED;
        producer_id->retry_at_ms =
            now_ms + client_backoff_delay_ms(&client->backoff, producer_id->attempts);
    }
}
