/*
 * metadata.c: the client's picture of the cluster (brokers, controller,
 * partition leaders and replicas) and how it is kept fresh.
 *
 * A refresh is one MetadataRequest naming every topic the client uses, sent
 * to any reachable broker: when something asked for it (an unknown topic, a
 * NOT_LEADER answer, a broken connection) or when the cache is older than
 * metadata_max_age_ms. A failed refresh is retried with backoff. Brokers are
 * never forgotten (a broker that left the metadata keeps its entry, marked
 * not in_metadata) so that pointers to them stay valid.
 */
#include "client/client_internal.h"

#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

struct client_broker *client_broker_find(struct ether_client *client, uint32_t broker_id)
{
    if (broker_id == 0) {
        return NULL;
    }
    for (struct client_broker *broker = client->brokers; broker != NULL; broker = broker->next) {
        if (broker->broker_id == broker_id) {
            return broker;
        }
    }
    return NULL;
}

struct client_broker *client_broker_any(struct ether_client *client, uint64_t now_ms)
{
    bool metadata_known = false;
    size_t count = 0;
    for (struct client_broker *broker = client->brokers; broker != NULL; broker = broker->next) {
        if (broker->conn != NULL && (broker->in_metadata || broker->broker_id == 0)) {
            return broker;
        }
        metadata_known = metadata_known || broker->in_metadata;
        count++;
    }
    /* Rotate through the metadata's brokers, then through the bootstrap list. */
    for (int pass = 0; pass < 2; pass++) {
        bool want_metadata_brokers = pass == 0 && metadata_known;
        if (pass == 0 && !metadata_known) {
            continue;
        }
        for (size_t step = 0; step < count; step++) {
            size_t index = (client->broker_rotation + step) % count;
            struct client_broker *broker = client->brokers;
            for (size_t i = 0; i < index; i++) {
                broker = broker->next;
            }
            bool eligible = want_metadata_brokers ? broker->in_metadata : broker->broker_id == 0;
            if (eligible && client_broker_usable(client, broker, now_ms)) {
                client->broker_rotation = (uint32_t)(index + 1);
                return broker;
            }
        }
    }
    return NULL;
}

void client_metadata_want(struct ether_client *client)
{
    client->metadata_wanted = true;
}

static struct client_broker *broker_upsert(struct ether_client *client,
                                           const Ether__BrokerAddress *address)
{
    struct client_broker *broker = client_broker_find(client, address->broker_id);
    if (broker == NULL) {
        broker = ether_calloc(1, sizeof *broker);
        broker->broker_id = address->broker_id;
        broker->host = ether_strdup(address->host != NULL ? address->host : "");
        broker->rack = ether_strdup("");
        broker->next = client->brokers;
        client->brokers = broker;
    }
    const char *host = address->host != NULL ? address->host : "";
    if (strcmp(broker->host, host) != 0) {
        ether_free(broker->host);
        broker->host = ether_strdup(host);
    }
    const char *rack = address->rack != NULL ? address->rack : "";
    if (strcmp(broker->rack, rack) != 0) {
        ether_free(broker->rack);
        broker->rack = ether_strdup(rack);
    }
    broker->port = (uint16_t)address->port;
    broker->in_metadata = true;
    return broker;
}

struct client_broker *client_broker_learn(struct ether_client *client,
                                          const Ether__BrokerAddress *address)
{
    ETHER_ASSERT(address->broker_id != 0);
    struct client_broker *broker = client_broker_find(client, address->broker_id);
    if (broker != NULL) {
        return broker; /* the metadata's address wins */
    }
    broker = ether_calloc(1, sizeof *broker);
    broker->broker_id = address->broker_id;
    broker->host = ether_strdup(address->host != NULL ? address->host : "");
    broker->port = (uint16_t)address->port;
    broker->rack = ether_strdup(address->rack != NULL ? address->rack : "");
    broker->next = client->brokers;
    client->brokers = broker;
    client_metadata_want(client);
    return broker;
}

static void topic_apply(struct client_topic *topic, const Ether__TopicMetadata *metadata)
{
    topic->metadata_error = (int)metadata->error;
    if (metadata->error != ETHER_OK) {
        if (metadata->error == ETHER_ERR_NOT_FOUND) {
            topic->missing_count++;
        }
        return;
    }
    topic->missing_count = 0;
    uint32_t count = 0;
    for (size_t i = 0; i < metadata->n_partitions; i++) {
        if (metadata->partitions[i]->partition + 1 > count) {
            count = metadata->partitions[i]->partition + 1;
        }
    }
    enum { PARTITIONS_MAX = 1 << 16 };
    if (count > PARTITIONS_MAX || count == 0) {
        topic->metadata_error = count == 0 ? ETHER_ERR_NOT_FOUND : ETHER_ERR_CORRUPT;
        return;
    }
    /* Partitions are only ever added: a smaller count keeps the old entries. */
    if (count > topic->partition_count) {
        topic->partitions =
            ether_realloc(topic->partitions, (size_t)count * sizeof *topic->partitions);
        memset(topic->partitions + topic->partition_count, 0,
               (size_t)(count - topic->partition_count) * sizeof *topic->partitions);
        topic->partition_count = count;
    }
    for (size_t i = 0; i < metadata->n_partitions; i++) {
        const Ether__PartitionMetadata *source = metadata->partitions[i];
        struct client_partition *partition = &topic->partitions[source->partition];
        partition->leader_id = source->error == ETHER_OK ? source->leader_id : 0;
        ether_free(partition->replicas);
        partition->replicas = NULL;
        partition->replica_count = source->n_replicas;
        if (source->n_replicas > 0) {
            partition->replicas = ether_calloc(source->n_replicas, sizeof *partition->replicas);
            memcpy(partition->replicas, source->replicas,
                   source->n_replicas * sizeof *partition->replicas);
        }
    }
    topic->metadata_known = true;
}

void client_metadata_apply(struct ether_client *client, const Ether__MetadataResponse *response,
                           bool names_every_client_topic)
{
    if (response->error != ETHER_OK) {
        return;
    }
    client->controller_id = response->controller_id;
    for (struct client_broker *broker = client->brokers; broker != NULL; broker = broker->next) {
        if (broker->broker_id != 0) {
            broker->in_metadata = false;
        }
    }
    for (size_t i = 0; i < response->n_brokers; i++) {
        if (response->brokers[i]->broker_id != 0) {
            broker_upsert(client, response->brokers[i]);
        }
    }
    for (struct client_topic *topic = client_topics_head(client); topic != NULL;
         topic = topic->next) {
        bool seen = false;
        for (size_t i = 0; i < response->n_topics; i++) {
            const Ether__TopicMetadata *metadata = response->topics[i];
            if (metadata->name != NULL && strcmp(metadata->name, topic->name) == 0) {
                topic_apply(topic, metadata);
                seen = true;
                break;
            }
        }
        if (!seen && names_every_client_topic) {
            topic->metadata_error = ETHER_ERR_NOT_FOUND;
            topic->missing_count++;
        }
    }
}

static void on_metadata(struct ether_client *client, void *context, int error,
                        const char *error_message, const ProtobufCMessage *response)
{
    (void)context;
    (void)error_message;
    client->metadata_in_flight = false;
    if (client->io_stopping) {
        return;
    }
    uint64_t now_ms = client_now_ms();
    if (error != ETHER_OK || ((const Ether__MetadataResponse *)response)->error != ETHER_OK) {
        client->metadata_failures++;
        client->metadata_wanted = true;
        client->metadata_retry_at_ms =
            now_ms + client_backoff_delay_ms(&client->backoff, client->metadata_failures);
        return;
    }
    client_metadata_apply(client, (const Ether__MetadataResponse *)response, true);
    client->metadata_failures = 0;
    client->metadata_refreshed_ms = now_ms;
    client->metadata_generation++;
}

void client_metadata_service(struct ether_client *client, uint64_t now_ms)
{
    if (client->metadata_in_flight || client->io_stopping) {
        return;
    }
    bool stale = client->metadata_refreshed_ms != 0 &&
                 now_ms - client->metadata_refreshed_ms >= client->settings.metadata_max_age_ms;
    if (!client->metadata_wanted && !stale) {
        return;
    }
    if (now_ms < client->metadata_retry_at_ms) {
        return;
    }
    struct client_broker *broker = client_broker_any(client, now_ms);
    if (broker == NULL) {
        return;
    }
    size_t topic_count = 0;
    for (struct client_topic *topic = client_topics_head(client); topic != NULL;
         topic = topic->next) {
        topic_count++;
    }
    /* No topic in use yet: an empty list asks for every topic, and the brokers. */
    char **names = ether_calloc(topic_count + 1, sizeof *names);
    size_t index = 0;
    for (struct client_topic *topic = client_topics_head(client);
         topic != NULL && index < topic_count; topic = topic->next) {
        names[index++] = topic->name;
    }
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    request.n_topics = index;
    request.topics = names;
    client->metadata_in_flight = true;
    client->metadata_wanted = false;
    int rc = client_send(client, broker, PROTO_API_METADATA, &request.base, true,
                         client->settings.request_timeout_ms, on_metadata, NULL);
    ether_free(names);
    if (rc != ETHER_OK) {
        client->metadata_in_flight = false;
        client->metadata_wanted = true;
    }
}

uint32_t client_partition_read_replica(struct ether_client *client,
                                       const struct client_partition *partition)
{
    if (client->settings.rack[0] == '\0') {
        if (client->settings.fetch_from == CLIENT_FETCH_FROM_FOLLOWER) {
            /* The first follower in assignment order: assignments rotate followers, so
             * partitions spread their reads over the brokers. */
            for (size_t k = 0; k < partition->replica_count; k++) {
                uint32_t id = partition->replicas[k];
                struct client_broker *broker = client_broker_find(client, id);
                if (id != partition->leader_id && broker != NULL && broker->in_metadata) {
                    return id;
                }
            }
        }
        return partition->leader_id;
    }
    for (size_t i = 0; i < partition->replica_count; i++) {
        struct client_broker *broker = client_broker_find(client, partition->replicas[i]);
        if (broker != NULL && broker->in_metadata &&
            strcmp(broker->rack, client->settings.rack) == 0) {
            return broker->broker_id;
        }
    }
    return partition->leader_id;
}
