/*
 * test_client_fake_cluster.h: a fake Ether cluster for testing libether and
 * the ether CLI without the real broker. Header-only; include it in exactly
 * one file of a program.
 *
 * It runs broker/server.c (the real framing server, compiled into the test)
 * for each fake broker, in clear or over TLS (fake_cluster_start_with_tls;
 * test_client_fake_tls.h makes the certificates), on one libuv loop on its
 * own thread, and answers METADATA, PRODUCE, FETCH (with long-poll parking),
 * LIST_OFFSETS, CREATE/DELETE_TOPIC, ALTER_TOPIC_CONFIG, TRANSFER_LEADER,
 * INIT_PRODUCER_ID and DESCRIBE_PRODUCERS from a small in-memory model:
 * topics, partitions with a leader each, stored batches, and per partition
 * the idempotent producers it knows. A broker that does not lead a partition answers
 * NOT_LEADER (with the leader's id as hint when `hint_on_not_leader`).
 * Every field of the model is guarded by `mutex`, so a test thread can move
 * leaders, arm faults and read counters while the loop thread serves.
 *
 * Idempotence, as the real broker does it (a minimal copy): INIT_PRODUCER_ID
 * is served by the controller (broker 1; the others answer NOT_LEADER naming
 * it); a producer_name keeps its id and gets epoch + 1, no name gets a new
 * id. A batch with producer_id >= 0 is checked against the partition's
 * table: an unknown producer must start at sequence 0 (else
 * UNKNOWN_PRODUCER), an older epoch is PRODUCER_FENCED, a newer one must
 * start at 0, the same first and last sequence as one of the producer's last
 * FAKE_PRODUCER_BATCHES batches is a duplicate (success with the original
 * offset, nothing appended), anything but last + 1 is OUT_OF_ORDER_SEQUENCE.
 *
 * Consumer groups, as the real coordinator does them (a minimal copy): the
 * coordinator of every group is broker `coordinator_id` (1 unless a test
 * moves it); FIND_COORDINATOR is answered by any broker, the other group
 * APIs by another broker with NOT_COORDINATOR. A rebalance waits until every
 * member joined (JoinGroup answers are parked) or until the rebalance
 * timeout removes the silent ones, then bumps the generation and assigns
 * with "range" (whatever assignor was asked; cooperative members are treated
 * like eager ones: nothing is withheld). Heartbeats and syncs say
 * REBALANCE_IN_PROGRESS while a rebalance waits, ILLEGAL_GENERATION for an
 * old generation, UNKNOWN_MEMBER_ID for a member the group does not know.
 * Commits are stored per group; generation -1 with member id "" is an
 * administrative commit, refused with GROUP_NOT_EMPTY while the group has
 * members. Sessions never expire by themselves. Scripted faults:
 * `heartbeat_error` / `commit_error` answer the next heartbeat / member
 * commit with that error (once); `coordinator_not_available` answers that
 * many FIND_COORDINATOR requests with COORDINATOR_NOT_AVAILABLE.
 *
 * Users and ACLs, as the controller keeps them (a minimal copy): CREATE_USER,
 * DELETE_USER, LIST_USERS, CREATE_ACL, DELETE_ACL and LIST_ACLS are served by
 * the controller (broker 1; the others answer NOT_LEADER). Users keep their
 * password in clear (tests log in with it through `intercept`); a user that
 * exists is EXISTS unless `replace`, and so is an ACL binding equal to one
 * stored; deleting what is not there is NOT_FOUND; LIST_ACLS filters as the
 * proto says. `security_not_leader` answers that many of those requests
 * NOT_LEADER, `security_error` answers every one with that error;
 * `security_lose_answers` serves that many of them that succeed but loses
 * their answers (the connection closes instead, as if the broker went away
 * right after doing the work), counted in `security_lost_answers`.
 *
 * `intercept` (NULL: none) sees every request first, with the mutex held, and
 * answers it itself when it returns true: a test's seam for what the fake does
 * not model (SCRAM logins).
 *
 * Faults: `drop_produce_response_from` (1-based, counting every produce
 * request the cluster receives) drops the answers of that request and the
 * next drop_produce_response_count - 1 ones after doing the work (appending);
 * `out_of_order_at` answers that produce request with OUT_OF_ORDER_SEQUENCE
 * without appending.
 */
#ifndef TEST_CLIENT_FAKE_CLUSTER_H
#define TEST_CLIENT_FAKE_CLUSTER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/server.c"

enum {
    FAKE_BROKERS_MAX = 3,
    FAKE_TOPICS_MAX = 8,
    FAKE_PARTITIONS_MAX = 8,
    FAKE_CONFIGS_MAX = 8,
    FAKE_NAME_BYTES = 64,
    FAKE_PRODUCERS_MAX = 8,    /* per partition, and names per cluster */
    FAKE_PRODUCER_BATCHES = 5, /* remembered per producer for duplicate detection */
    FAKE_GROUPS_MAX = 4,
    FAKE_MEMBERS_MAX = 6,
    FAKE_GROUP_OFFSETS_MAX = 32,
    FAKE_MEMBER_PARTITIONS_MAX = 32,
    FAKE_USERS_MAX = 8,
    FAKE_ACLS_MAX = 16,
};

struct fake_user {
    char name[FAKE_NAME_BYTES];
    char password[FAKE_NAME_BYTES];
    uint32_t iterations;
};

struct fake_acl {
    char principal[FAKE_NAME_BYTES];
    uint32_t resource_type;
    char resource_name[FAKE_NAME_BYTES];
    uint32_t pattern;
    uint32_t operation;
    uint32_t permission;
};

struct fake_group_partition {
    char topic[FAKE_NAME_BYTES];
    uint32_t partition;
};

struct fake_member {
    bool used;
    char member_id[FAKE_NAME_BYTES];
    char client_id[FAKE_NAME_BYTES];
    char topics[FAKE_TOPICS_MAX][FAKE_NAME_BYTES]; /* the subscription */
    uint32_t topic_count;
    struct fake_group_partition
        owned[FAKE_MEMBER_PARTITIONS_MAX]; /* as reported at its last join */
    uint32_t owned_count;
    struct fake_group_partition assignment[FAKE_MEMBER_PARTITIONS_MAX];
    uint32_t assignment_count;
    bool joined; /* in the rebalance that waits */
    bool parked; /* its JoinGroup answer waits for the rebalance */
    struct fake_broker *join_broker;
    uint64_t join_connection_id;
    uint32_t join_correlation_id;
    uint32_t joins;
    uint32_t last_join_owned_count;
};

struct fake_group_offset {
    char topic[FAKE_NAME_BYTES];
    uint32_t partition;
    int64_t offset;
};

struct fake_group {
    bool used;
    char name[FAKE_NAME_BYTES];
    uint32_t generation;
    bool rebalancing;
    char assignor[16];
    bool cooperative;
    uint32_t rebalance_timeout_ms;
    struct fake_member members[FAKE_MEMBERS_MAX];
    struct fake_group_offset offsets[FAKE_GROUP_OFFSETS_MAX];
    uint32_t offset_count;
    uv_timer_t rebalance_timer;
    bool timer_initialized;
};

struct fake_producer_batch {
    int32_t first_sequence;
    int32_t last_sequence;
    uint64_t base_offset;
};

/* What a partition knows of one idempotent producer. */
struct fake_producer {
    int64_t producer_id;
    int16_t epoch;
    int32_t last_sequence;
    uint64_t last_offset;
    int64_t last_timestamp_ms;
    struct fake_producer_batch recent[FAKE_PRODUCER_BATCHES]; /* ring */
    uint32_t recent_count;
    uint32_t recent_next;
};

struct fake_producer_name {
    char name[FAKE_NAME_BYTES];
    int64_t producer_id;
    uint32_t epoch;
};

struct fake_batch {
    uint64_t base_offset;
    uint32_t record_count;
    int64_t max_timestamp_ms;
    uint8_t *bytes;
    size_t length;
};

struct fake_partition {
    uint32_t leader_id;
    uint64_t next_offset;
    struct fake_batch *batches;
    size_t batch_count;
    struct fake_producer producers[FAKE_PRODUCERS_MAX];
    uint32_t producer_count;
};

struct fake_topic {
    bool used;
    char name[FAKE_NAME_BYTES];
    uint32_t partition_count;
    struct fake_partition partitions[FAKE_PARTITIONS_MAX];
    size_t config_count;
    char config_names[FAKE_CONFIGS_MAX][FAKE_NAME_BYTES];
    char config_values[FAKE_CONFIGS_MAX][FAKE_NAME_BYTES];
};

struct fake_cluster;

struct fake_broker {
    struct fake_cluster *cluster;
    uint32_t broker_id;
    struct broker_server *server;
    uint16_t port;
    char rack[16];
};

struct fake_parked_fetch {
    uv_timer_t timer; /* first: the handle's address is the parked fetch's */
    struct fake_parked_fetch *next;
    struct fake_broker *broker;
    uint64_t connection_id;
    uint32_t correlation_id;
    char topic[FAKE_NAME_BYTES];
    uint32_t partition;
    uint64_t offset;
};

struct fake_cluster {
    uv_loop_t loop;
    uv_async_t stop_signal;
    pthread_t thread;
    pthread_mutex_t mutex;
    struct fake_broker brokers[FAKE_BROKERS_MAX];
    uint32_t broker_count;
    struct fake_topic topics[FAKE_TOPICS_MAX];
    struct fake_parked_fetch *parked;
    /* behaviour */
    bool hint_on_not_leader;
    bool follower_reads;
    uint32_t phantom_broker_port;        /* >0: metadata also lists broker 9 at this port */
    uint32_t drop_produce_response_from; /* 0: none; see the header comment */
    uint32_t drop_produce_response_count;
    uint32_t out_of_order_at; /* 0: none */
    struct fake_producer_name producer_names[FAKE_PRODUCERS_MAX];
    uint32_t producer_name_count;
    int64_t next_producer_id;
    /* counters */
    uint32_t metadata_requests;
    uint32_t produce_requests[FAKE_BROKERS_MAX + 1];
    uint32_t fetch_requests[FAKE_BROKERS_MAX + 1];
    uint32_t not_leader_answers;
    uint32_t acks_none_requests;
    uint32_t parked_fetches;
    uint32_t transfer_requests;
    uint32_t create_requests;
    uint32_t produce_requests_total;
    uint32_t dropped_produce_responses;
    uint32_t duplicate_batches;
    uint32_t init_producer_requests;
    uint32_t init_producer_not_controller;
    uint32_t idempotent_batches;
    /* consumer groups */
    struct fake_group groups[FAKE_GROUPS_MAX];
    uint32_t coordinator_id;
    uint32_t next_member_number;
    uint32_t heartbeat_error;           /* answer the next heartbeat with it (once) */
    uint32_t commit_error;              /* answer the next member commit with it (once) */
    uint32_t coordinator_not_available; /* answer that many FIND_COORDINATOR so */
    uint32_t find_coordinator_requests;
    uint32_t join_requests;
    uint32_t sync_requests;
    uint32_t heartbeat_requests;
    uint32_t leave_requests;
    uint32_t commit_requests;
    uint32_t offset_fetch_requests;
    uint32_t not_coordinator_answers;
    uint32_t admin_commits;
    uint32_t rebalances;
    /* users and ACLs */
    struct fake_user users[FAKE_USERS_MAX];
    uint32_t user_count;
    struct fake_acl acls[FAKE_ACLS_MAX];
    uint32_t acl_count;
    uint32_t security_not_leader;   /* answer that many user/ACL requests NOT_LEADER */
    uint32_t security_error;        /* answer every user/ACL request with it (0: none) */
    uint32_t security_lose_answers; /* serve that many, then close instead of answering */
    uint32_t security_lost_answers;
    uint32_t security_requests; /* user/ACL requests received, by any broker */
    uint32_t security_not_controller;
    uint32_t last_create_user_timeout_ms;
    /* a test's own answers (see the header comment) */
    bool (*intercept)(struct fake_broker *broker, uint64_t connection_id,
                      const struct proto_frame_header *header, const ProtobufCMessage *request);
    void *intercept_context;
};

static struct fake_topic *fake_topic_find(struct fake_cluster *cluster, const char *name)
{
    for (int i = 0; i < FAKE_TOPICS_MAX; i++) {
        if (cluster->topics[i].used && name != NULL && strcmp(cluster->topics[i].name, name) == 0) {
            return &cluster->topics[i];
        }
    }
    return NULL;
}

/* Adds a topic whose partition p is led by broker (p % broker_count) + 1. Mutex held. */
static struct fake_topic *fake_topic_add(struct fake_cluster *cluster, const char *name,
                                         uint32_t partition_count)
{
    for (int i = 0; i < FAKE_TOPICS_MAX; i++) {
        struct fake_topic *topic = &cluster->topics[i];
        if (!topic->used) {
            memset(topic, 0, sizeof *topic);
            topic->used = true;
            snprintf(topic->name, sizeof topic->name, "%s", name);
            topic->partition_count = partition_count;
            for (uint32_t p = 0; p < partition_count; p++) {
                topic->partitions[p].leader_id = p % cluster->broker_count + 1;
            }
            return topic;
        }
    }
    return NULL;
}

static void fake_topic_free(struct fake_topic *topic)
{
    for (uint32_t p = 0; p < FAKE_PARTITIONS_MAX; p++) {
        for (size_t b = 0; b < topic->partitions[p].batch_count; b++) {
            free(topic->partitions[p].batches[b].bytes);
        }
        free(topic->partitions[p].batches);
    }
    memset(topic, 0, sizeof *topic);
}

static void fake_answer_metadata(struct fake_broker *broker, uint64_t connection_id,
                                 uint32_t correlation_id, const Ether__MetadataRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->metadata_requests++;
    Ether__BrokerAddress addresses[FAKE_BROKERS_MAX + 1];
    Ether__BrokerAddress *address_pointers[FAKE_BROKERS_MAX + 1];
    size_t broker_count = 0;
    for (uint32_t b = 0; b < cluster->broker_count; b++) {
        ether__broker_address__init(&addresses[b]);
        addresses[b].broker_id = cluster->brokers[b].broker_id;
        addresses[b].host = (char *)"127.0.0.1";
        addresses[b].port = cluster->brokers[b].port;
        addresses[b].rack = cluster->brokers[b].rack;
        address_pointers[b] = &addresses[b];
        broker_count++;
    }
    if (cluster->phantom_broker_port != 0) {
        ether__broker_address__init(&addresses[broker_count]);
        addresses[broker_count].broker_id = 9;
        addresses[broker_count].host = (char *)"127.0.0.1";
        addresses[broker_count].port = cluster->phantom_broker_port;
        addresses[broker_count].rack = (char *)"";
        address_pointers[broker_count] = &addresses[broker_count];
        broker_count++;
    }
    enum { ANSWER_TOPICS_MAX = FAKE_TOPICS_MAX + 4 };
    Ether__TopicMetadata topics[ANSWER_TOPICS_MAX];
    Ether__TopicMetadata *topic_pointers[ANSWER_TOPICS_MAX];
    Ether__PartitionMetadata partitions[ANSWER_TOPICS_MAX][FAKE_PARTITIONS_MAX];
    Ether__PartitionMetadata *partition_pointers[ANSWER_TOPICS_MAX][FAKE_PARTITIONS_MAX];
    Ether__TopicMetadata__ConfigsEntry configs[ANSWER_TOPICS_MAX][FAKE_CONFIGS_MAX];
    Ether__TopicMetadata__ConfigsEntry *config_pointers[ANSWER_TOPICS_MAX][FAKE_CONFIGS_MAX];
    uint32_t replicas[FAKE_BROKERS_MAX];
    for (uint32_t b = 0; b < cluster->broker_count; b++) {
        replicas[b] = cluster->brokers[b].broker_id;
    }
    size_t topic_count = 0;
    size_t wanted = request->n_topics == 0 ? FAKE_TOPICS_MAX : request->n_topics;
    for (size_t i = 0; i < wanted && topic_count < ANSWER_TOPICS_MAX; i++) {
        struct fake_topic *topic = NULL;
        const char *name = NULL;
        if (request->n_topics == 0) {
            if (!cluster->topics[i].used) {
                continue;
            }
            topic = &cluster->topics[i];
            name = topic->name;
        } else {
            name = request->topics[i];
            topic = fake_topic_find(cluster, name);
        }
        Ether__TopicMetadata *answer = &topics[topic_count];
        ether__topic_metadata__init(answer);
        answer->name = (char *)(uintptr_t)name;
        topic_pointers[topic_count] = answer;
        if (topic == NULL) {
            answer->error = ETHER_ERR_NOT_FOUND;
            topic_count++;
            continue;
        }
        for (uint32_t p = 0; p < topic->partition_count; p++) {
            Ether__PartitionMetadata *partition = &partitions[topic_count][p];
            ether__partition_metadata__init(partition);
            partition->partition = p;
            partition->leader_id = topic->partitions[p].leader_id;
            partition->leader_term = 1;
            partition->n_replicas = cluster->broker_count;
            partition->replicas = replicas;
            partition->n_in_sync_replicas = cluster->broker_count;
            partition->in_sync_replicas = replicas;
            partition->high_watermark = topic->partitions[p].next_offset;
            partition_pointers[topic_count][p] = partition;
        }
        answer->n_partitions = topic->partition_count;
        answer->partitions = partition_pointers[topic_count];
        for (size_t c = 0; c < topic->config_count; c++) {
            ether__topic_metadata__configs_entry__init(&configs[topic_count][c]);
            configs[topic_count][c].key = topic->config_names[c];
            configs[topic_count][c].value = topic->config_values[c];
            config_pointers[topic_count][c] = &configs[topic_count][c];
        }
        answer->n_configs = topic->config_count;
        answer->configs = config_pointers[topic_count];
        topic_count++;
    }
    Ether__MetadataResponse response = ETHER__METADATA_RESPONSE__INIT;
    response.n_brokers = broker_count;
    response.brokers = address_pointers;
    response.controller_id = 1;
    response.cluster_id = (char *)"fake-cluster";
    response.n_topics = topic_count;
    response.topics = topic_pointers;
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_METADATA, correlation_id,
                                &response.base);
}

/* The batches of a partition at or after `offset`, as a fetch answer for it. */
static void fake_respond_fetch(struct fake_broker *broker, uint64_t connection_id,
                               uint32_t correlation_id, struct fake_topic *topic,
                               uint32_t partition, uint64_t offset, uint32_t error)
{
    Ether__FetchPartitionResult result = ETHER__FETCH_PARTITION_RESULT__INIT;
    result.partition = partition;
    result.error = error;
    size_t batch_count = 0;
    Ether__FetchedBatch *batches = NULL;
    Ether__FetchedBatch **batch_pointers = NULL;
    if (error == ETHER_OK && topic != NULL) {
        struct fake_partition *stored = &topic->partitions[partition];
        result.high_watermark = stored->next_offset;
        batches = calloc(stored->batch_count + 1, sizeof *batches);
        batch_pointers = calloc(stored->batch_count + 1, sizeof *batch_pointers);
        for (size_t b = 0; b < stored->batch_count; b++) {
            struct fake_batch *batch = &stored->batches[b];
            if (batch->base_offset + batch->record_count <= offset) {
                continue;
            }
            ether__fetched_batch__init(&batches[batch_count]);
            batches[batch_count].base_offset = batch->base_offset;
            batches[batch_count].batch.data = batch->bytes;
            batches[batch_count].batch.len = batch->length;
            batch_pointers[batch_count] = &batches[batch_count];
            batch_count++;
        }
    }
    result.n_batches = batch_count;
    result.batches = batch_pointers;
    Ether__FetchPartitionResult *results[] = {&result};
    Ether__FetchResponse response = ETHER__FETCH_RESPONSE__INIT;
    response.n_partitions = 1;
    response.partitions = results;
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_FETCH, correlation_id,
                                &response.base);
    free(batch_pointers);
    free(batches);
}

static void fake_on_parked_closed(uv_handle_t *handle)
{
    free(handle);
}

static void fake_unpark(struct fake_cluster *cluster, struct fake_parked_fetch *parked)
{
    for (struct fake_parked_fetch **link = &cluster->parked; *link != NULL; link = &(*link)->next) {
        if (*link == parked) {
            *link = parked->next;
            break;
        }
    }
    uv_timer_stop(&parked->timer);
    uv_close((uv_handle_t *)&parked->timer, fake_on_parked_closed);
}

static void fake_on_parked_timeout(uv_timer_t *timer)
{
    struct fake_parked_fetch *parked = (struct fake_parked_fetch *)timer;
    struct fake_cluster *cluster = parked->broker->cluster;
    pthread_mutex_lock(&cluster->mutex);
    fake_respond_fetch(parked->broker, parked->connection_id, parked->correlation_id,
                       fake_topic_find(cluster, parked->topic), parked->partition, parked->offset,
                       ETHER_OK);
    fake_unpark(cluster, parked);
    pthread_mutex_unlock(&cluster->mutex);
}

/* Answers the parked fetches of a partition that just got records. Mutex held. */
static void fake_wake_parked(struct fake_cluster *cluster, struct fake_topic *topic,
                             uint32_t partition)
{
    struct fake_parked_fetch *parked = cluster->parked;
    while (parked != NULL) {
        struct fake_parked_fetch *next = parked->next;
        if (strcmp(parked->topic, topic->name) == 0 && parked->partition == partition) {
            fake_respond_fetch(parked->broker, parked->connection_id, parked->correlation_id, topic,
                               partition, parked->offset, ETHER_OK);
            fake_unpark(cluster, parked);
        }
        parked = next;
    }
}

static int32_t fake_sequence_add(int32_t sequence, uint32_t count)
{
    return (int32_t)(((uint64_t)sequence + count) % ((uint64_t)INT32_MAX + 1));
}

/*
 * The duplicate and sequence check of an idempotent batch. Returns ETHER_OK
 * with *producer set (append, then record it), ETHER_OK with *duplicate_offset
 * set (a duplicate: answer, append nothing), or the error to answer.
 */
static int fake_check_sequence(struct fake_partition *partition,
                               const struct proto_batch_header *header,
                               struct fake_producer **producer, int64_t *duplicate_offset)
{
    *producer = NULL;
    *duplicate_offset = -1;
    int32_t last_sequence = fake_sequence_add(header->base_sequence, header->record_count - 1);
    struct fake_producer *known = NULL;
    for (uint32_t i = 0; i < partition->producer_count; i++) {
        if (partition->producers[i].producer_id == header->producer_id) {
            known = &partition->producers[i];
        }
    }
    if (known == NULL) {
        if (header->base_sequence != 0) {
            return ETHER_ERR_UNKNOWN_PRODUCER;
        }
        if (partition->producer_count == FAKE_PRODUCERS_MAX) {
            return ETHER_ERR_NO_SPACE;
        }
        known = &partition->producers[partition->producer_count++];
        memset(known, 0, sizeof *known);
        known->producer_id = header->producer_id;
        known->epoch = header->producer_epoch;
        known->last_sequence = -1;
        *producer = known;
        return ETHER_OK;
    }
    if (header->producer_epoch < known->epoch) {
        return ETHER_ERR_PRODUCER_FENCED;
    }
    if (header->producer_epoch > known->epoch) {
        if (header->base_sequence != 0) {
            return ETHER_ERR_OUT_OF_ORDER_SEQUENCE;
        }
        known->epoch = header->producer_epoch;
        known->recent_count = 0;
        known->recent_next = 0;
        known->last_sequence = -1;
        *producer = known;
        return ETHER_OK;
    }
    for (uint32_t i = 0; i < known->recent_count; i++) {
        if (known->recent[i].first_sequence == header->base_sequence &&
            known->recent[i].last_sequence == last_sequence) {
            *duplicate_offset = (int64_t)known->recent[i].base_offset;
            return ETHER_OK;
        }
    }
    int32_t expected = known->last_sequence < 0 ? 0 : fake_sequence_add(known->last_sequence, 1);
    if (header->base_sequence != expected) {
        return ETHER_ERR_OUT_OF_ORDER_SEQUENCE;
    }
    *producer = known;
    return ETHER_OK;
}

static void fake_answer_produce(struct fake_broker *broker, uint64_t connection_id,
                                uint32_t correlation_id, const Ether__ProduceRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->produce_requests[broker->broker_id]++;
    uint32_t request_number = ++cluster->produce_requests_total;
    bool drop =
        cluster->drop_produce_response_from != 0 &&
        request_number >= cluster->drop_produce_response_from &&
        request_number < cluster->drop_produce_response_from + cluster->drop_produce_response_count;
    struct fake_topic *topic = fake_topic_find(cluster, request->topic);
    Ether__ProducePartitionResult results[FAKE_PARTITIONS_MAX];
    Ether__ProducePartitionResult *result_pointers[FAKE_PARTITIONS_MAX];
    size_t count = 0;
    for (size_t i = 0; i < request->n_partitions && count < FAKE_PARTITIONS_MAX; i++) {
        const Ether__ProducePartition *produced = request->partitions[i];
        Ether__ProducePartitionResult *result = &results[count];
        ether__produce_partition_result__init(result);
        result->partition = produced->partition;
        result_pointers[count++] = result;
        if (topic == NULL || produced->partition >= topic->partition_count) {
            result->error = ETHER_ERR_NOT_FOUND;
            continue;
        }
        struct fake_partition *partition = &topic->partitions[produced->partition];
        if (partition->leader_id != broker->broker_id) {
            result->error = ETHER_ERR_NOT_LEADER;
            result->leader_hint_id = cluster->hint_on_not_leader ? partition->leader_id : 0;
            cluster->not_leader_answers++;
            continue;
        }
        struct proto_batch_header header;
        if (proto_batch_parse(produced->batch.data, produced->batch.len, &header) != ETHER_OK) {
            result->error = ETHER_ERR_CORRUPT;
            continue;
        }
        if (request_number == cluster->out_of_order_at) {
            result->error = ETHER_ERR_OUT_OF_ORDER_SEQUENCE;
            continue;
        }
        struct fake_producer *producer = NULL;
        if (header.producer_id >= 0) {
            cluster->idempotent_batches++;
            int64_t duplicate_offset = -1;
            int rc = fake_check_sequence(partition, &header, &producer, &duplicate_offset);
            if (rc != ETHER_OK) {
                result->error = (uint32_t)rc;
                continue;
            }
            if (duplicate_offset >= 0) {
                cluster->duplicate_batches++;
                result->base_offset = (uint64_t)duplicate_offset;
                continue;
            }
        }
        if (producer != NULL) {
            int32_t last_sequence =
                fake_sequence_add(header.base_sequence, header.record_count - 1);
            producer->recent[producer->recent_next] = (struct fake_producer_batch){
                header.base_sequence, last_sequence, partition->next_offset};
            producer->recent_next = (producer->recent_next + 1) % FAKE_PRODUCER_BATCHES;
            if (producer->recent_count < FAKE_PRODUCER_BATCHES) {
                producer->recent_count++;
            }
            producer->last_sequence = last_sequence;
            producer->last_offset = partition->next_offset + header.record_count - 1;
            producer->last_timestamp_ms = header.max_timestamp_ms;
        }
        partition->batches =
            realloc(partition->batches, (partition->batch_count + 1) * sizeof *partition->batches);
        struct fake_batch *stored = &partition->batches[partition->batch_count++];
        stored->base_offset = partition->next_offset;
        stored->record_count = header.record_count;
        stored->max_timestamp_ms = header.max_timestamp_ms;
        stored->bytes = malloc(produced->batch.len);
        memcpy(stored->bytes, produced->batch.data, produced->batch.len);
        stored->length = produced->batch.len;
        result->base_offset = partition->next_offset;
        partition->next_offset += header.record_count;
        fake_wake_parked(cluster, topic, produced->partition);
    }
    if (request->acks == ETHER__ACKS__ACKS_NONE) {
        cluster->acks_none_requests++;
        return;
    }
    if (drop) {
        cluster->dropped_produce_responses++;
        return;
    }
    Ether__ProduceResponse response = ETHER__PRODUCE_RESPONSE__INIT;
    response.n_partitions = count;
    response.partitions = result_pointers;
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_PRODUCE, correlation_id,
                                &response.base);
}

static void fake_answer_fetch(struct fake_broker *broker, uint64_t connection_id,
                              uint32_t correlation_id, const Ether__FetchRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->fetch_requests[broker->broker_id]++;
    if (request->n_partitions == 0) {
        fake_respond_fetch(broker, connection_id, correlation_id, NULL, 0, 0,
                           ETHER_ERR_INVALID_ARGUMENT);
        return;
    }
    const Ether__FetchPartition *wanted = request->partitions[0];
    struct fake_topic *topic = fake_topic_find(cluster, request->topic);
    if (topic == NULL || wanted->partition >= topic->partition_count) {
        fake_respond_fetch(broker, connection_id, correlation_id, NULL, wanted->partition, 0,
                           ETHER_ERR_NOT_FOUND);
        return;
    }
    struct fake_partition *partition = &topic->partitions[wanted->partition];
    if (partition->leader_id != broker->broker_id && !cluster->follower_reads) {
        cluster->not_leader_answers++;
        fake_respond_fetch(broker, connection_id, correlation_id, NULL, wanted->partition, 0,
                           ETHER_ERR_NOT_LEADER);
        return;
    }
    if (wanted->offset > partition->next_offset) {
        fake_respond_fetch(broker, connection_id, correlation_id, NULL, wanted->partition, 0,
                           ETHER_ERR_OUT_OF_RANGE);
        return;
    }
    if (wanted->offset == partition->next_offset && request->max_wait_ms > 0) {
        struct fake_parked_fetch *parked = calloc(1, sizeof *parked);
        parked->broker = broker;
        parked->connection_id = connection_id;
        parked->correlation_id = correlation_id;
        snprintf(parked->topic, sizeof parked->topic, "%s", topic->name);
        parked->partition = wanted->partition;
        parked->offset = wanted->offset;
        uv_timer_init(&cluster->loop, &parked->timer);
        uv_timer_start(&parked->timer, fake_on_parked_timeout, request->max_wait_ms, 0);
        parked->next = cluster->parked;
        cluster->parked = parked;
        cluster->parked_fetches++;
        return;
    }
    fake_respond_fetch(broker, connection_id, correlation_id, topic, wanted->partition,
                       wanted->offset, ETHER_OK);
}

static void fake_answer_list_offsets(struct fake_broker *broker, uint64_t connection_id,
                                     uint32_t correlation_id,
                                     const Ether__ListOffsetsRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    struct fake_topic *topic = fake_topic_find(cluster, request->topic);
    Ether__ListOffsetsPartitionResult results[FAKE_PARTITIONS_MAX];
    Ether__ListOffsetsPartitionResult *result_pointers[FAKE_PARTITIONS_MAX];
    size_t count = 0;
    for (size_t i = 0; i < request->n_partitions && count < FAKE_PARTITIONS_MAX; i++) {
        Ether__ListOffsetsPartitionResult *result = &results[count];
        ether__list_offsets_partition_result__init(result);
        result->partition = request->partitions[i];
        result_pointers[count++] = result;
        if (topic == NULL || result->partition >= topic->partition_count) {
            result->error = ETHER_ERR_NOT_FOUND;
            continue;
        }
        struct fake_partition *partition = &topic->partitions[result->partition];
        if (partition->leader_id != broker->broker_id) {
            result->error = ETHER_ERR_NOT_LEADER;
            continue;
        }
        switch (request->spec) {
        case ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST:
            result->offset = 0;
            break;
        case ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP:
            result->offset = partition->next_offset;
            for (size_t b = 0; b < partition->batch_count; b++) {
                if (partition->batches[b].max_timestamp_ms >= request->timestamp_ms) {
                    result->offset = partition->batches[b].base_offset;
                    break;
                }
            }
            break;
        default:
            result->offset = partition->next_offset;
            break;
        }
    }
    Ether__ListOffsetsResponse response = ETHER__LIST_OFFSETS_RESPONSE__INIT;
    response.n_partitions = count;
    response.partitions = result_pointers;
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_LIST_OFFSETS,
                                correlation_id, &response.base);
}

static void fake_answer_init_producer_id(struct fake_broker *broker, uint64_t connection_id,
                                         uint32_t correlation_id,
                                         const Ether__InitProducerIdRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->init_producer_requests++;
    Ether__InitProducerIdResponse response = ETHER__INIT_PRODUCER_ID_RESPONSE__INIT;
    const char *name = request->producer_name != NULL ? request->producer_name : "";
    if (broker->broker_id != 1) {
        cluster->init_producer_not_controller++;
        response.error = ETHER_ERR_NOT_LEADER;
        response.error_message = (char *)"not the controller; the controller is broker 1";
    } else if (name[0] == '\0') {
        response.producer_id = 1000 + cluster->next_producer_id++;
        response.producer_epoch = 0;
    } else {
        struct fake_producer_name *known = NULL;
        for (uint32_t i = 0; i < cluster->producer_name_count; i++) {
            if (strcmp(cluster->producer_names[i].name, name) == 0) {
                known = &cluster->producer_names[i];
                known->epoch++;
            }
        }
        if (known == NULL && cluster->producer_name_count < FAKE_PRODUCERS_MAX) {
            known = &cluster->producer_names[cluster->producer_name_count++];
            snprintf(known->name, sizeof known->name, "%s", name);
            known->producer_id = 1000 + cluster->next_producer_id++;
            known->epoch = 0;
        }
        if (known == NULL) {
            response.error = ETHER_ERR_NO_SPACE;
        } else {
            response.producer_id = known->producer_id;
            response.producer_epoch = known->epoch;
        }
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_INIT_PRODUCER_ID,
                                correlation_id, &response.base);
}

static void fake_answer_describe_producers(struct fake_broker *broker, uint64_t connection_id,
                                           uint32_t correlation_id,
                                           const Ether__DescribeProducersRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    struct fake_topic *topic = fake_topic_find(cluster, request->topic);
    Ether__DescribeProducersResponse response = ETHER__DESCRIBE_PRODUCERS_RESPONSE__INIT;
    Ether__ProducerState states[FAKE_PRODUCERS_MAX];
    Ether__ProducerState *state_pointers[FAKE_PRODUCERS_MAX];
    if (topic == NULL || request->partition >= topic->partition_count) {
        response.error = ETHER_ERR_NOT_FOUND;
    } else if (topic->partitions[request->partition].leader_id != broker->broker_id) {
        response.error = ETHER_ERR_NOT_LEADER;
        response.leader_hint_id = topic->partitions[request->partition].leader_id;
    } else {
        const struct fake_partition *partition = &topic->partitions[request->partition];
        for (uint32_t i = 0; i < partition->producer_count; i++) {
            const struct fake_producer *producer = &partition->producers[i];
            ether__producer_state__init(&states[i]);
            states[i].producer_id = producer->producer_id;
            states[i].producer_epoch = (uint32_t)producer->epoch;
            states[i].last_sequence = producer->last_sequence;
            states[i].last_offset = producer->last_offset;
            states[i].last_timestamp_ms = producer->last_timestamp_ms;
            state_pointers[i] = &states[i];
        }
        response.n_producers = partition->producer_count;
        response.producers = state_pointers;
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_DESCRIBE_PRODUCERS,
                                correlation_id, &response.base);
}

/* ---- consumer groups ------------------------------------------------------------------ */

static struct fake_group *fake_group_find(struct fake_cluster *cluster, const char *name,
                                          bool create)
{
    for (int i = 0; i < FAKE_GROUPS_MAX; i++) {
        if (cluster->groups[i].used && strcmp(cluster->groups[i].name, name) == 0) {
            return &cluster->groups[i];
        }
    }
    for (int i = 0; create && i < FAKE_GROUPS_MAX; i++) {
        struct fake_group *group = &cluster->groups[i];
        if (!group->used) {
            bool timer = group->timer_initialized;
            uv_timer_t saved = group->rebalance_timer;
            memset(group, 0, sizeof *group);
            group->rebalance_timer = saved;
            group->timer_initialized = timer;
            group->used = true;
            snprintf(group->name, sizeof group->name, "%s", name);
            return group;
        }
    }
    return NULL;
}

static struct fake_member *fake_member_find(struct fake_group *group, const char *member_id)
{
    for (int i = 0; member_id != NULL && i < FAKE_MEMBERS_MAX; i++) {
        if (group->members[i].used && strcmp(group->members[i].member_id, member_id) == 0) {
            return &group->members[i];
        }
    }
    return NULL;
}

static uint32_t fake_member_count(const struct fake_group *group)
{
    uint32_t count = 0;
    for (int i = 0; i < FAKE_MEMBERS_MAX; i++) {
        count += group->members[i].used;
    }
    return count;
}

static const char *fake_group_state(const struct fake_group *group)
{
    if (fake_member_count(group) == 0) {
        return "empty";
    }
    return group->rebalancing ? "preparing-rebalance" : "stable";
}

/* Which broker may answer group requests: NOT_COORDINATOR from the others. */
static bool fake_is_coordinator(struct fake_broker *broker)
{
    struct fake_cluster *cluster = broker->cluster;
    if (broker->broker_id == cluster->coordinator_id) {
        return true;
    }
    cluster->not_coordinator_answers++;
    return false;
}

static bool fake_subscribes(const struct fake_member *member, const char *topic)
{
    for (uint32_t t = 0; t < member->topic_count; t++) {
        if (strcmp(member->topics[t], topic) == 0) {
            return true;
        }
    }
    return false;
}

/* "range": per topic, the subscribed members in id order get contiguous ranges. */
static void fake_group_assign(struct fake_cluster *cluster, struct fake_group *group)
{
    struct fake_member *sorted[FAKE_MEMBERS_MAX];
    uint32_t count = 0;
    for (int i = 0; i < FAKE_MEMBERS_MAX; i++) {
        if (group->members[i].used) {
            group->members[i].assignment_count = 0;
            sorted[count++] = &group->members[i];
        }
    }
    for (uint32_t i = 1; i < count; i++) {
        for (uint32_t k = i; k > 0 && strcmp(sorted[k - 1]->member_id, sorted[k]->member_id) > 0;
             k--) {
            struct fake_member *swap = sorted[k];
            sorted[k] = sorted[k - 1];
            sorted[k - 1] = swap;
        }
    }
    for (int t = 0; t < FAKE_TOPICS_MAX; t++) {
        struct fake_topic *topic = &cluster->topics[t];
        if (!topic->used) {
            continue;
        }
        struct fake_member *subscribed[FAKE_MEMBERS_MAX];
        uint32_t subscribed_count = 0;
        for (uint32_t m = 0; m < count; m++) {
            if (fake_subscribes(sorted[m], topic->name)) {
                subscribed[subscribed_count++] = sorted[m];
            }
        }
        if (subscribed_count == 0) {
            continue;
        }
        uint32_t each = topic->partition_count / subscribed_count;
        uint32_t extra = topic->partition_count % subscribed_count;
        uint32_t next = 0;
        for (uint32_t m = 0; m < subscribed_count; m++) {
            uint32_t share = each + (m < extra ? 1 : 0);
            for (uint32_t k = 0; k < share; k++) {
                struct fake_member *member = subscribed[m];
                struct fake_group_partition *item = &member->assignment[member->assignment_count++];
                snprintf(item->topic, sizeof item->topic, "%s", topic->name);
                item->partition = next++;
            }
        }
    }
}

static void fake_respond_join(struct fake_group *group, struct fake_member *member, uint32_t error)
{
    Ether__JoinGroupResponse response = ETHER__JOIN_GROUP_RESPONSE__INIT;
    response.error = error;
    if (error == ETHER_OK) {
        response.generation = group->generation;
        response.member_id = member->member_id;
        response.assignor = group->assignor;
        response.leader_id = member->member_id;
    }
    member->parked = false;
    (void)broker_server_respond(member->join_broker->server, member->join_connection_id,
                                PROTO_API_JOIN_GROUP, member->join_correlation_id, &response.base);
}

/* Ends the join phase when every member joined, or (`force`) without the silent ones. */
static void fake_group_maybe_complete(struct fake_cluster *cluster, struct fake_group *group,
                                      bool force)
{
    if (!group->rebalancing) {
        return;
    }
    for (int i = 0; i < FAKE_MEMBERS_MAX; i++) {
        struct fake_member *member = &group->members[i];
        if (member->used && !member->joined) {
            if (!force) {
                return;
            }
            member->used = false;
        }
    }
    group->rebalancing = false;
    group->generation++;
    cluster->rebalances++;
    if (group->timer_initialized) {
        uv_timer_stop(&group->rebalance_timer);
    }
    fake_group_assign(cluster, group);
    for (int i = 0; i < FAKE_MEMBERS_MAX; i++) {
        struct fake_member *member = &group->members[i];
        if (member->used) {
            member->joined = false;
            if (member->parked) {
                fake_respond_join(group, member, ETHER_OK);
            }
        }
    }
}

static void fake_on_rebalance_timeout(uv_timer_t *timer)
{
    struct fake_group *group = timer->data;
    struct fake_cluster *cluster = timer->loop->data;
    pthread_mutex_lock(&cluster->mutex);
    fake_group_maybe_complete(cluster, group, true);
    pthread_mutex_unlock(&cluster->mutex);
}

/* The group starts waiting for every member to join again. */
static void fake_group_start_rebalance(struct fake_cluster *cluster, struct fake_group *group)
{
    if (group->rebalancing) {
        return;
    }
    group->rebalancing = true;
    for (int i = 0; i < FAKE_MEMBERS_MAX; i++) {
        group->members[i].joined = false;
    }
    if (!group->timer_initialized) {
        uv_timer_init(&cluster->loop, &group->rebalance_timer);
        group->timer_initialized = true;
    }
    group->rebalance_timer.data = group;
    uv_timer_start(&group->rebalance_timer, fake_on_rebalance_timeout,
                   group->rebalance_timeout_ms > 0 ? group->rebalance_timeout_ms : 1000, 0);
}

static void fake_copy_partitions(struct fake_group_partition *to, uint32_t *count,
                                 Ether__GroupTopicPartitions **from, size_t from_count)
{
    *count = 0;
    for (size_t t = 0; t < from_count; t++) {
        for (size_t p = 0; p < from[t]->n_partitions && *count < FAKE_MEMBER_PARTITIONS_MAX; p++) {
            snprintf(to[*count].topic, sizeof to[*count].topic, "%s", from[t]->topic);
            to[*count].partition = from[t]->partitions[p];
            (*count)++;
        }
    }
}

static void fake_answer_join(struct fake_broker *broker, uint64_t connection_id,
                             uint32_t correlation_id, const Ether__JoinGroupRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->join_requests++;
    Ether__JoinGroupResponse response = ETHER__JOIN_GROUP_RESPONSE__INIT;
    struct fake_group *group = NULL;
    struct fake_member *member = NULL;
    bool is_new = request->member_id == NULL || request->member_id[0] == '\0';
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, true)) == NULL) {
        response.error = ETHER_ERR_NO_SPACE;
    } else if (!is_new && (member = fake_member_find(group, request->member_id)) == NULL) {
        response.error = ETHER_ERR_UNKNOWN_MEMBER_ID;
    } else if (fake_member_count(group) > (member != NULL ? 1u : 0u) &&
               (strcmp(group->assignor, request->assignor) != 0 ||
                group->cooperative != (bool)request->cooperative)) {
        response.error = ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL;
    } else if (request->n_topics == 0) {
        response.error = ETHER_ERR_INVALID_ARGUMENT;
    }
    if (response.error == ETHER_OK && member == NULL) {
        for (int i = 0; i < FAKE_MEMBERS_MAX && member == NULL; i++) {
            if (!group->members[i].used) {
                member = &group->members[i];
                memset(member, 0, sizeof *member);
                member->used = true;
                snprintf(member->member_id, sizeof member->member_id, "member-%u",
                         ++cluster->next_member_number);
            }
        }
        if (member == NULL) {
            response.error = ETHER_ERR_NO_SPACE;
        }
    }
    if (response.error != ETHER_OK) {
        (void)broker_server_respond(broker->server, connection_id, PROTO_API_JOIN_GROUP,
                                    correlation_id, &response.base);
        return;
    }
    snprintf(group->assignor, sizeof group->assignor, "%s", request->assignor);
    group->cooperative = request->cooperative;
    group->rebalance_timeout_ms = request->rebalance_timeout_ms;
    snprintf(member->client_id, sizeof member->client_id, "%s",
             request->client_id != NULL ? request->client_id : "");
    member->topic_count = 0;
    for (size_t t = 0; t < request->n_topics && t < FAKE_TOPICS_MAX; t++) {
        snprintf(member->topics[member->topic_count++], FAKE_NAME_BYTES, "%s", request->topics[t]);
    }
    fake_copy_partitions(member->owned, &member->owned_count, request->owned, request->n_owned);
    member->last_join_owned_count = member->owned_count;
    member->joins++;
    if (member->parked) {
        fake_respond_join(group, member, ETHER_ERR_REBALANCE_IN_PROGRESS);
    }
    member->parked = true;
    member->join_broker = broker;
    member->join_connection_id = connection_id;
    member->join_correlation_id = correlation_id;
    fake_group_start_rebalance(cluster, group);
    member->joined = true;
    fake_group_maybe_complete(cluster, group, false);
}

static void fake_answer_sync(struct fake_broker *broker, uint64_t connection_id,
                             uint32_t correlation_id, const Ether__SyncGroupRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->sync_requests++;
    Ether__SyncGroupResponse response = ETHER__SYNC_GROUP_RESPONSE__INIT;
    struct fake_group *group = NULL;
    struct fake_member *member = NULL;
    Ether__GroupTopicPartitions topics[FAKE_MEMBER_PARTITIONS_MAX];
    Ether__GroupTopicPartitions *topic_pointers[FAKE_MEMBER_PARTITIONS_MAX];
    uint32_t numbers[FAKE_MEMBER_PARTITIONS_MAX];
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, false)) == NULL ||
               (member = fake_member_find(group, request->member_id)) == NULL) {
        response.error = ETHER_ERR_UNKNOWN_MEMBER_ID;
    } else if (group->rebalancing) {
        response.error = ETHER_ERR_REBALANCE_IN_PROGRESS;
    } else if (request->generation != group->generation) {
        response.error = ETHER_ERR_ILLEGAL_GENERATION;
    } else {
        size_t topic_count = 0;
        for (uint32_t i = 0; i < member->assignment_count; i++) {
            numbers[i] = member->assignment[i].partition;
            if (i == 0 ||
                strcmp(member->assignment[i].topic, member->assignment[i - 1].topic) != 0) {
                ether__group_topic_partitions__init(&topics[topic_count]);
                topics[topic_count].topic = member->assignment[i].topic;
                topics[topic_count].partitions = &numbers[i];
                topic_pointers[topic_count] = &topics[topic_count];
                topic_count++;
            }
            topics[topic_count - 1].n_partitions++;
        }
        response.n_assignment = topic_count;
        response.assignment = topic_pointers;
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_SYNC_GROUP, correlation_id,
                                &response.base);
}

static void fake_answer_heartbeat(struct fake_broker *broker, uint64_t connection_id,
                                  uint32_t correlation_id, const Ether__HeartbeatRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->heartbeat_requests++;
    Ether__HeartbeatResponse response = ETHER__HEARTBEAT_RESPONSE__INIT;
    struct fake_group *group = NULL;
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, false)) == NULL ||
               fake_member_find(group, request->member_id) == NULL) {
        response.error = ETHER_ERR_UNKNOWN_MEMBER_ID;
    } else if (cluster->heartbeat_error != 0) {
        response.error = cluster->heartbeat_error;
        if (response.error == ETHER_ERR_REBALANCE_IN_PROGRESS) {
            fake_group_start_rebalance(cluster, group);
        }
        cluster->heartbeat_error = 0;
    } else if (group->rebalancing) {
        response.error = ETHER_ERR_REBALANCE_IN_PROGRESS;
    } else if (request->generation != group->generation) {
        response.error = ETHER_ERR_ILLEGAL_GENERATION;
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_HEARTBEAT, correlation_id,
                                &response.base);
}

static void fake_answer_leave(struct fake_broker *broker, uint64_t connection_id,
                              uint32_t correlation_id, const Ether__LeaveGroupRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->leave_requests++;
    Ether__LeaveGroupResponse response = ETHER__LEAVE_GROUP_RESPONSE__INIT;
    struct fake_group *group = NULL;
    struct fake_member *member = NULL;
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, false)) == NULL ||
               (member = fake_member_find(group, request->member_id)) == NULL) {
        response.error = ETHER_ERR_UNKNOWN_MEMBER_ID;
    } else {
        if (member->parked) {
            fake_respond_join(group, member, ETHER_ERR_UNKNOWN_MEMBER_ID);
        }
        member->used = false;
        if (fake_member_count(group) > 0) {
            fake_group_start_rebalance(cluster, group);
            fake_group_maybe_complete(cluster, group, false);
        } else {
            group->rebalancing = false;
            group->generation++;
        }
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_LEAVE_GROUP,
                                correlation_id, &response.base);
}

static struct fake_group_offset *fake_offset_find(struct fake_group *group, const char *topic,
                                                  uint32_t partition, bool create)
{
    for (uint32_t i = 0; i < group->offset_count; i++) {
        if (strcmp(group->offsets[i].topic, topic) == 0 &&
            group->offsets[i].partition == partition) {
            return &group->offsets[i];
        }
    }
    if (!create || group->offset_count == FAKE_GROUP_OFFSETS_MAX) {
        return NULL;
    }
    struct fake_group_offset *offset = &group->offsets[group->offset_count++];
    snprintf(offset->topic, sizeof offset->topic, "%s", topic);
    offset->partition = partition;
    offset->offset = -1;
    return offset;
}

static void fake_answer_commit(struct fake_broker *broker, uint64_t connection_id,
                               uint32_t correlation_id, const Ether__OffsetCommitRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->commit_requests++;
    Ether__OffsetCommitResponse response = ETHER__OFFSET_COMMIT_RESPONSE__INIT;
    struct fake_group *group = NULL;
    bool administrative =
        request->generation < 0 && (request->member_id == NULL || request->member_id[0] == '\0');
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, administrative)) == NULL) {
        response.error = administrative ? ETHER_ERR_NO_SPACE : ETHER_ERR_UNKNOWN_MEMBER_ID;
    } else if (administrative) {
        cluster->admin_commits++;
        if (fake_member_count(group) > 0) {
            response.error = ETHER_ERR_GROUP_NOT_EMPTY;
        }
    } else if (fake_member_find(group, request->member_id) == NULL) {
        response.error = ETHER_ERR_UNKNOWN_MEMBER_ID;
    } else if (cluster->commit_error != 0) {
        response.error = cluster->commit_error;
        cluster->commit_error = 0;
    } else if ((uint32_t)request->generation != group->generation) {
        response.error = ETHER_ERR_ILLEGAL_GENERATION;
    }
    if (response.error == ETHER_OK) {
        for (size_t i = 0; i < request->n_offsets; i++) {
            struct fake_group_offset *stored = fake_offset_find(
                group, request->offsets[i]->topic, request->offsets[i]->partition, true);
            if (stored != NULL) {
                stored->offset = request->offsets[i]->offset;
            }
        }
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_OFFSET_COMMIT,
                                correlation_id, &response.base);
}

/* Fills `out` (FAKE_GROUP_OFFSETS_MAX entries) with the group's offsets; returns how many. */
static size_t fake_offsets_answer(struct fake_group *group,
                                  const Ether__OffsetFetchRequest *request,
                                  Ether__GroupPartitionOffset *out,
                                  Ether__GroupPartitionOffset **pointers)
{
    size_t count = 0;
    if (request == NULL || request->n_partitions == 0) {
        for (uint32_t i = 0; group != NULL && i < group->offset_count; i++) {
            ether__group_partition_offset__init(&out[count]);
            out[count].topic = group->offsets[i].topic;
            out[count].partition = group->offsets[i].partition;
            out[count].offset = group->offsets[i].offset;
            pointers[count] = &out[count];
            count++;
        }
        return count;
    }
    for (size_t t = 0; t < request->n_partitions; t++) {
        for (size_t p = 0;
             p < request->partitions[t]->n_partitions && count < FAKE_GROUP_OFFSETS_MAX; p++) {
            const char *topic = request->partitions[t]->topic;
            uint32_t partition = request->partitions[t]->partitions[p];
            struct fake_group_offset *stored =
                group != NULL ? fake_offset_find(group, topic, partition, false) : NULL;
            ether__group_partition_offset__init(&out[count]);
            out[count].topic = (char *)(uintptr_t)topic;
            out[count].partition = partition;
            out[count].offset = stored != NULL ? stored->offset : -1;
            pointers[count] = &out[count];
            count++;
        }
    }
    return count;
}

static void fake_answer_offset_fetch(struct fake_broker *broker, uint64_t connection_id,
                                     uint32_t correlation_id,
                                     const Ether__OffsetFetchRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->offset_fetch_requests++;
    Ether__OffsetFetchResponse response = ETHER__OFFSET_FETCH_RESPONSE__INIT;
    Ether__GroupPartitionOffset offsets[FAKE_GROUP_OFFSETS_MAX];
    Ether__GroupPartitionOffset *pointers[FAKE_GROUP_OFFSETS_MAX];
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else {
        response.n_offsets = fake_offsets_answer(fake_group_find(cluster, request->group, false),
                                                 request, offsets, pointers);
        response.offsets = pointers;
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_OFFSET_FETCH,
                                correlation_id, &response.base);
}

static void fake_answer_find_coordinator(struct fake_broker *broker, uint64_t connection_id,
                                         uint32_t correlation_id)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->find_coordinator_requests++;
    Ether__FindCoordinatorResponse response = ETHER__FIND_COORDINATOR_RESPONSE__INIT;
    Ether__BrokerAddress address = ETHER__BROKER_ADDRESS__INIT;
    if (cluster->coordinator_not_available > 0) {
        cluster->coordinator_not_available--;
        response.error = ETHER_ERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        struct fake_broker *coordinator = &cluster->brokers[cluster->coordinator_id - 1];
        address.broker_id = coordinator->broker_id;
        address.host = (char *)"127.0.0.1";
        address.port = coordinator->port;
        address.rack = coordinator->rack;
        response.coordinator = &address;
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_FIND_COORDINATOR,
                                correlation_id, &response.base);
}

static void fake_answer_list_groups(struct fake_broker *broker, uint64_t connection_id,
                                    uint32_t correlation_id)
{
    struct fake_cluster *cluster = broker->cluster;
    Ether__ListGroupsResponse response = ETHER__LIST_GROUPS_RESPONSE__INIT;
    Ether__GroupListing listings[FAKE_GROUPS_MAX];
    Ether__GroupListing *pointers[FAKE_GROUPS_MAX];
    size_t count = 0;
    for (int i = 0; i < FAKE_GROUPS_MAX && broker->broker_id == cluster->coordinator_id; i++) {
        struct fake_group *group = &cluster->groups[i];
        if (group->used) {
            ether__group_listing__init(&listings[count]);
            listings[count].group = group->name;
            listings[count].state = (char *)(uintptr_t)fake_group_state(group);
            listings[count].members_count = fake_member_count(group);
            pointers[count] = &listings[count];
            count++;
        }
    }
    response.n_groups = count;
    response.groups = pointers;
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_LIST_GROUPS,
                                correlation_id, &response.base);
}

static void fake_answer_describe_group(struct fake_broker *broker, uint64_t connection_id,
                                       uint32_t correlation_id,
                                       const Ether__DescribeGroupRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    Ether__DescribeGroupResponse response = ETHER__DESCRIBE_GROUP_RESPONSE__INIT;
    Ether__GroupMember members[FAKE_MEMBERS_MAX];
    Ether__GroupMember *member_pointers[FAKE_MEMBERS_MAX];
    Ether__GroupTopicPartitions topics[FAKE_MEMBERS_MAX][FAKE_MEMBER_PARTITIONS_MAX];
    Ether__GroupTopicPartitions *topic_pointers[FAKE_MEMBERS_MAX][FAKE_MEMBER_PARTITIONS_MAX];
    uint32_t numbers[FAKE_MEMBERS_MAX][FAKE_MEMBER_PARTITIONS_MAX];
    char *subscriptions[FAKE_MEMBERS_MAX][FAKE_TOPICS_MAX];
    Ether__GroupPartitionOffset offsets[FAKE_GROUP_OFFSETS_MAX];
    Ether__GroupPartitionOffset *offset_pointers[FAKE_GROUP_OFFSETS_MAX];
    struct fake_group *group = NULL;
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, false)) == NULL) {
        response.error = ETHER_ERR_GROUP_NOT_FOUND;
    } else {
        response.state = (char *)(uintptr_t)fake_group_state(group);
        response.generation = group->generation;
        response.assignor = group->assignor;
        response.cooperative = group->cooperative;
        size_t count = 0;
        for (int i = 0; i < FAKE_MEMBERS_MAX; i++) {
            struct fake_member *member = &group->members[i];
            if (!member->used) {
                continue;
            }
            Ether__GroupMember *out = &members[count];
            ether__group_member__init(out);
            out->member_id = member->member_id;
            out->client_id = member->client_id;
            out->host = (char *)"127.0.0.1";
            for (uint32_t t = 0; t < member->topic_count; t++) {
                subscriptions[count][t] = member->topics[t];
            }
            out->n_topics = member->topic_count;
            out->topics = subscriptions[count];
            size_t topic_count = 0;
            for (uint32_t p = 0; p < member->assignment_count; p++) {
                numbers[count][p] = member->assignment[p].partition;
                if (p == 0 ||
                    strcmp(member->assignment[p].topic, member->assignment[p - 1].topic) != 0) {
                    ether__group_topic_partitions__init(&topics[count][topic_count]);
                    topics[count][topic_count].topic = member->assignment[p].topic;
                    topics[count][topic_count].partitions = &numbers[count][p];
                    topic_pointers[count][topic_count] = &topics[count][topic_count];
                    topic_count++;
                }
                topics[count][topic_count - 1].n_partitions++;
            }
            out->n_assignment = topic_count;
            out->assignment = topic_pointers[count];
            out->session_timeout_ms = 10000;
            if (response.leader_id == NULL) {
                response.leader_id = member->member_id;
            }
            member_pointers[count] = out;
            count++;
        }
        response.n_members = count;
        response.members = member_pointers;
        response.n_offsets = fake_offsets_answer(group, NULL, offsets, offset_pointers);
        response.offsets = offset_pointers;
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_DESCRIBE_GROUP,
                                correlation_id, &response.base);
}

static void fake_answer_delete_group(struct fake_broker *broker, uint64_t connection_id,
                                     uint32_t correlation_id,
                                     const Ether__DeleteGroupRequest *request)
{
    struct fake_cluster *cluster = broker->cluster;
    Ether__DeleteGroupResponse response = ETHER__DELETE_GROUP_RESPONSE__INIT;
    struct fake_group *group = NULL;
    if (!fake_is_coordinator(broker)) {
        response.error = ETHER_ERR_NOT_COORDINATOR;
    } else if ((group = fake_group_find(cluster, request->group, false)) == NULL) {
        response.error = ETHER_ERR_GROUP_NOT_FOUND;
    } else if (fake_member_count(group) > 0) {
        response.error = ETHER_ERR_GROUP_NOT_EMPTY;
        response.error_message = (char *)"the group still has members";
    } else {
        group->used = false;
        if (group->timer_initialized) {
            uv_timer_stop(&group->rebalance_timer);
        }
    }
    (void)broker_server_respond(broker->server, connection_id, PROTO_API_DELETE_GROUP,
                                correlation_id, &response.base);
}

/* ---- users and ACLs ---------------------------------------------------------------------- */

static struct fake_user *fake_user_find(struct fake_cluster *cluster, const char *name)
{
    for (uint32_t i = 0; i < cluster->user_count; i++) {
        if (name != NULL && strcmp(cluster->users[i].name, name) == 0) {
            return &cluster->users[i];
        }
    }
    return NULL;
}

static bool fake_acl_equal(const struct fake_acl *acl, const Ether__AclBinding *binding)
{
    return strcmp(acl->principal, binding->principal) == 0 &&
           acl->resource_type == (uint32_t)binding->resource_type &&
           strcmp(acl->resource_name, binding->resource_name) == 0 &&
           acl->pattern == (uint32_t)binding->pattern &&
           acl->operation == (uint32_t)binding->operation &&
           acl->permission == (uint32_t)binding->permission;
}

static void fake_acl_to_binding(const struct fake_acl *acl, Ether__AclBinding *binding)
{
    ether__acl_binding__init(binding);
    binding->principal = (char *)(uintptr_t)acl->principal;
    binding->resource_type = (Ether__AclResourceType)acl->resource_type;
    binding->resource_name = (char *)(uintptr_t)acl->resource_name;
    binding->pattern = (Ether__AclPatternType)acl->pattern;
    binding->operation = (Ether__AclOperation)acl->operation;
    binding->permission = (Ether__AclPermission)acl->permission;
}

/* The error a user/ACL request gets before it is looked at (0: serve it). */
static uint32_t fake_security_refusal(struct fake_broker *broker, const char **message)
{
    struct fake_cluster *cluster = broker->cluster;
    cluster->security_requests++;
    if (broker->broker_id != 1) {
        cluster->security_not_controller++;
        *message = "not the controller; the controller is broker 1";
        return ETHER_ERR_NOT_LEADER;
    }
    if (cluster->security_not_leader > 0) {
        cluster->security_not_leader--;
        *message = "the controller moved";
        return ETHER_ERR_NOT_LEADER;
    }
    if (cluster->security_error != 0) {
        *message = "principal anonymous may not alter the cluster's security";
        return cluster->security_error;
    }
    return ETHER_OK;
}

/* Answers the user and ACL apis; false for another api. Mutex held. */
static bool fake_answer_security(struct fake_broker *broker, uint64_t connection_id,
                                 const struct proto_frame_header *header,
                                 const ProtobufCMessage *request)
{
    struct fake_cluster *cluster = broker->cluster;
    uint16_t api = header->api_key;
    if (api != PROTO_API_CREATE_USER && api != PROTO_API_DELETE_USER &&
        api != PROTO_API_LIST_USERS && api != PROTO_API_CREATE_ACL && api != PROTO_API_DELETE_ACL &&
        api != PROTO_API_LIST_ACLS) {
        return false;
    }
    const char *message = "";
    uint32_t error = fake_security_refusal(broker, &message);
    Ether__UserListing listings[FAKE_USERS_MAX];
    Ether__UserListing *listing_pointers[FAKE_USERS_MAX];
    Ether__AclBinding bindings[FAKE_ACLS_MAX];
    Ether__AclBinding *binding_pointers[FAKE_ACLS_MAX];
    size_t listed = 0;
    if (error == ETHER_OK && api == PROTO_API_CREATE_USER) {
        const Ether__CreateUserRequest *create = (const Ether__CreateUserRequest *)request;
        struct fake_user *user = fake_user_find(cluster, create->name);
        cluster->last_create_user_timeout_ms = create->timeout_ms;
        if (user != NULL && !create->replace) {
            error = ETHER_ERR_EXISTS;
            message = "a user with this name already exists";
        } else if (user == NULL && cluster->user_count == FAKE_USERS_MAX) {
            error = ETHER_ERR_NO_SPACE;
        } else {
            if (user == NULL) {
                user = &cluster->users[cluster->user_count++];
            }
            snprintf(user->name, sizeof user->name, "%s", create->name);
            snprintf(user->password, sizeof user->password, "%s", create->password);
            user->iterations = create->iterations != 0 ? create->iterations : 4096;
        }
    } else if (error == ETHER_OK && api == PROTO_API_DELETE_USER) {
        const Ether__DeleteUserRequest *delete = (const Ether__DeleteUserRequest *)request;
        struct fake_user *user = fake_user_find(cluster, delete->name);
        if (user == NULL) {
            error = ETHER_ERR_NOT_FOUND;
            message = "no such user";
        } else {
            *user = cluster->users[--cluster->user_count];
        }
    } else if (error == ETHER_OK && api == PROTO_API_LIST_USERS) {
        for (uint32_t i = 0; i < cluster->user_count; i++) {
            ether__user_listing__init(&listings[i]);
            listings[i].name = cluster->users[i].name;
            listings[i].mechanism = (char *)"SCRAM-SHA-256";
            listings[i].iterations = cluster->users[i].iterations;
            listing_pointers[listed++] = &listings[i];
        }
    } else if (error == ETHER_OK && api == PROTO_API_CREATE_ACL) {
        const Ether__AclBinding *binding = ((const Ether__CreateAclRequest *)request)->binding;
        bool stored = false;
        for (uint32_t i = 0; binding != NULL && i < cluster->acl_count; i++) {
            stored = stored || fake_acl_equal(&cluster->acls[i], binding);
        }
        if (binding == NULL) {
            error = ETHER_ERR_INVALID_ARGUMENT;
        } else if (stored) {
            error = ETHER_ERR_EXISTS;
            message = "an equal ACL binding exists";
        } else if (cluster->acl_count == FAKE_ACLS_MAX) {
            error = ETHER_ERR_NO_SPACE;
        } else {
            struct fake_acl *acl = &cluster->acls[cluster->acl_count++];
            snprintf(acl->principal, sizeof acl->principal, "%s", binding->principal);
            acl->resource_type = (uint32_t)binding->resource_type;
            snprintf(acl->resource_name, sizeof acl->resource_name, "%s", binding->resource_name);
            acl->pattern = (uint32_t)binding->pattern;
            acl->operation = (uint32_t)binding->operation;
            acl->permission = (uint32_t)binding->permission;
        }
    } else if (error == ETHER_OK && api == PROTO_API_DELETE_ACL) {
        const Ether__AclBinding *binding = ((const Ether__DeleteAclRequest *)request)->binding;
        uint32_t i = 0;
        while (binding != NULL && i < cluster->acl_count &&
               !fake_acl_equal(&cluster->acls[i], binding)) {
            i++;
        }
        if (binding == NULL || i == cluster->acl_count) {
            error = ETHER_ERR_NOT_FOUND;
            message = "no such ACL binding";
        } else {
            cluster->acls[i] = cluster->acls[--cluster->acl_count];
        }
    } else if (error == ETHER_OK && api == PROTO_API_LIST_ACLS) {
        const Ether__ListAclsRequest *filter = (const Ether__ListAclsRequest *)request;
        for (uint32_t i = 0; i < cluster->acl_count; i++) {
            const struct fake_acl *acl = &cluster->acls[i];
            if ((filter->principal[0] != '\0' && strcmp(filter->principal, acl->principal) != 0) ||
                (filter->resource_type != 0 &&
                 (uint32_t)filter->resource_type != acl->resource_type) ||
                (filter->resource_name[0] != '\0' &&
                 strcmp(filter->resource_name, acl->resource_name) != 0)) {
                continue;
            }
            fake_acl_to_binding(acl, &bindings[listed]);
            binding_pointers[listed] = &bindings[listed];
            listed++;
        }
    }
    Ether__CreateUserResponse create_user = ETHER__CREATE_USER_RESPONSE__INIT;
    Ether__DeleteUserResponse delete_user = ETHER__DELETE_USER_RESPONSE__INIT;
    Ether__ListUsersResponse list_users = ETHER__LIST_USERS_RESPONSE__INIT;
    Ether__CreateAclResponse create_acl = ETHER__CREATE_ACL_RESPONSE__INIT;
    Ether__DeleteAclResponse delete_acl = ETHER__DELETE_ACL_RESPONSE__INIT;
    Ether__ListAclsResponse list_acls = ETHER__LIST_ACLS_RESPONSE__INIT;
    ProtobufCMessage *response = NULL;
    char *text = (char *)(uintptr_t)message;
    switch (api) {
    case PROTO_API_CREATE_USER:
        create_user.error = error;
        create_user.error_message = text;
        response = &create_user.base;
        break;
    case PROTO_API_DELETE_USER:
        delete_user.error = error;
        delete_user.error_message = text;
        response = &delete_user.base;
        break;
    case PROTO_API_LIST_USERS:
        list_users.error = error;
        list_users.error_message = text;
        list_users.n_users = listed;
        list_users.users = listing_pointers;
        response = &list_users.base;
        break;
    case PROTO_API_CREATE_ACL:
        create_acl.error = error;
        create_acl.error_message = text;
        response = &create_acl.base;
        break;
    case PROTO_API_DELETE_ACL:
        delete_acl.error = error;
        delete_acl.error_message = text;
        response = &delete_acl.base;
        break;
    default:
        list_acls.error = error;
        list_acls.error_message = text;
        list_acls.n_bindings = listed;
        list_acls.bindings = binding_pointers;
        response = &list_acls.base;
        break;
    }
    if (error == ETHER_OK && cluster->security_lose_answers > 0) {
        cluster->security_lose_answers--;
        cluster->security_lost_answers++;
        broker_server_close_connection(broker->server, connection_id);
        return true;
    }
    (void)broker_server_respond(broker->server, connection_id, api, header->correlation_id,
                                response);
    return true;
}

static void fake_on_request(void *context, struct broker_server *server, uint64_t connection_id,
                            const struct proto_frame_header *header, ProtobufCMessage *request)
{
    struct fake_broker *broker = context;
    struct fake_cluster *cluster = broker->cluster;
    (void)server;
    pthread_mutex_lock(&cluster->mutex);
    if ((cluster->intercept != NULL &&
         cluster->intercept(broker, connection_id, header, request)) ||
        fake_answer_security(broker, connection_id, header, request)) {
        pthread_mutex_unlock(&cluster->mutex);
        proto_message_free(request);
        return;
    }
    uint32_t id = header->correlation_id;
    switch (header->api_key) {
    case PROTO_API_METADATA:
        fake_answer_metadata(broker, connection_id, id, (const Ether__MetadataRequest *)request);
        break;
    case PROTO_API_PRODUCE:
        fake_answer_produce(broker, connection_id, id, (const Ether__ProduceRequest *)request);
        break;
    case PROTO_API_FETCH:
        fake_answer_fetch(broker, connection_id, id, (const Ether__FetchRequest *)request);
        break;
    case PROTO_API_LIST_OFFSETS:
        fake_answer_list_offsets(broker, connection_id, id,
                                 (const Ether__ListOffsetsRequest *)request);
        break;
    case PROTO_API_INIT_PRODUCER_ID:
        fake_answer_init_producer_id(broker, connection_id, id,
                                     (const Ether__InitProducerIdRequest *)request);
        break;
    case PROTO_API_DESCRIBE_PRODUCERS:
        fake_answer_describe_producers(broker, connection_id, id,
                                       (const Ether__DescribeProducersRequest *)request);
        break;
    case PROTO_API_FIND_COORDINATOR:
        fake_answer_find_coordinator(broker, connection_id, id);
        break;
    case PROTO_API_JOIN_GROUP:
        fake_answer_join(broker, connection_id, id, (const Ether__JoinGroupRequest *)request);
        break;
    case PROTO_API_SYNC_GROUP:
        fake_answer_sync(broker, connection_id, id, (const Ether__SyncGroupRequest *)request);
        break;
    case PROTO_API_HEARTBEAT:
        fake_answer_heartbeat(broker, connection_id, id, (const Ether__HeartbeatRequest *)request);
        break;
    case PROTO_API_LEAVE_GROUP:
        fake_answer_leave(broker, connection_id, id, (const Ether__LeaveGroupRequest *)request);
        break;
    case PROTO_API_OFFSET_COMMIT:
        fake_answer_commit(broker, connection_id, id, (const Ether__OffsetCommitRequest *)request);
        break;
    case PROTO_API_OFFSET_FETCH:
        fake_answer_offset_fetch(broker, connection_id, id,
                                 (const Ether__OffsetFetchRequest *)request);
        break;
    case PROTO_API_LIST_GROUPS:
        fake_answer_list_groups(broker, connection_id, id);
        break;
    case PROTO_API_DESCRIBE_GROUP:
        fake_answer_describe_group(broker, connection_id, id,
                                   (const Ether__DescribeGroupRequest *)request);
        break;
    case PROTO_API_DELETE_GROUP:
        fake_answer_delete_group(broker, connection_id, id,
                                 (const Ether__DeleteGroupRequest *)request);
        break;
    case PROTO_API_CREATE_TOPIC: {
        const Ether__CreateTopicRequest *create = (const Ether__CreateTopicRequest *)request;
        Ether__CreateTopicResponse response = ETHER__CREATE_TOPIC_RESPONSE__INIT;
        cluster->create_requests++;
        if (fake_topic_find(cluster, create->name) != NULL) {
            response.error = ETHER_ERR_EXISTS;
            response.error_message = (char *)"a topic with this name already exists";
        } else if (create->partitions == 0 || create->partitions > FAKE_PARTITIONS_MAX ||
                   create->replication_factor > cluster->broker_count) {
            response.error = ETHER_ERR_INVALID_ARGUMENT;
            response.error_message = (char *)"the fake cluster cannot hold that topic";
        } else {
            struct fake_topic *topic = fake_topic_add(cluster, create->name, create->partitions);
            for (size_t c = 0; topic != NULL && c < create->n_configs && c < FAKE_CONFIGS_MAX;
                 c++) {
                snprintf(topic->config_names[c], FAKE_NAME_BYTES, "%s", create->configs[c]->key);
                snprintf(topic->config_values[c], FAKE_NAME_BYTES, "%s", create->configs[c]->value);
                topic->config_count++;
            }
        }
        (void)broker_server_respond(server, connection_id, header->api_key, id, &response.base);
        break;
    }
    case PROTO_API_DELETE_TOPIC: {
        const Ether__DeleteTopicRequest *delete = (const Ether__DeleteTopicRequest *)request;
        Ether__DeleteTopicResponse response = ETHER__DELETE_TOPIC_RESPONSE__INIT;
        struct fake_topic *topic = fake_topic_find(cluster, delete->name);
        if (topic == NULL) {
            response.error = ETHER_ERR_NOT_FOUND;
        } else {
            fake_topic_free(topic);
        }
        (void)broker_server_respond(server, connection_id, header->api_key, id, &response.base);
        break;
    }
    case PROTO_API_ALTER_TOPIC_CONFIG: {
        const Ether__AlterTopicConfigRequest *alter =
            (const Ether__AlterTopicConfigRequest *)request;
        Ether__AlterTopicConfigResponse response = ETHER__ALTER_TOPIC_CONFIG_RESPONSE__INIT;
        struct fake_topic *topic = fake_topic_find(cluster, alter->name);
        if (topic == NULL) {
            response.error = ETHER_ERR_NOT_FOUND;
        } else {
            for (size_t s = 0; s < alter->n_set; s++) {
                size_t c = 0;
                while (c < topic->config_count &&
                       strcmp(topic->config_names[c], alter->set[s]->key) != 0) {
                    c++;
                }
                if (c == topic->config_count && c < FAKE_CONFIGS_MAX) {
                    topic->config_count++;
                }
                if (c < FAKE_CONFIGS_MAX) {
                    snprintf(topic->config_names[c], FAKE_NAME_BYTES, "%s", alter->set[s]->key);
                    snprintf(topic->config_values[c], FAKE_NAME_BYTES, "%s", alter->set[s]->value);
                }
            }
            for (size_t d = 0; d < alter->n_delete_; d++) {
                for (size_t c = 0; c < topic->config_count; c++) {
                    if (strcmp(topic->config_names[c], alter->delete_[d]) == 0) {
                        topic->config_count--;
                        memcpy(topic->config_names[c], topic->config_names[topic->config_count],
                               FAKE_NAME_BYTES);
                        memcpy(topic->config_values[c], topic->config_values[topic->config_count],
                               FAKE_NAME_BYTES);
                        break;
                    }
                }
            }
        }
        (void)broker_server_respond(server, connection_id, header->api_key, id, &response.base);
        break;
    }
    case PROTO_API_TRANSFER_LEADER: {
        const Ether__TransferLeaderRequest *transfer =
            (const Ether__TransferLeaderRequest *)request;
        Ether__TransferLeaderResponse response = ETHER__TRANSFER_LEADER_RESPONSE__INIT;
        struct fake_topic *topic = fake_topic_find(cluster, transfer->topic);
        cluster->transfer_requests++;
        if (topic == NULL || transfer->partition >= topic->partition_count) {
            response.error = ETHER_ERR_NOT_FOUND;
        } else if (topic->partitions[transfer->partition].leader_id != broker->broker_id) {
            response.error = ETHER_ERR_NOT_LEADER;
            response.leader_hint_id = topic->partitions[transfer->partition].leader_id;
        } else if (transfer->to_broker_id == 0 || transfer->to_broker_id > cluster->broker_count) {
            response.error = ETHER_ERR_INVALID_ARGUMENT;
            response.error_message = (char *)"that broker is not a replica of the partition";
        } else {
            topic->partitions[transfer->partition].leader_id = transfer->to_broker_id;
            response.leader_id = transfer->to_broker_id;
        }
        (void)broker_server_respond(server, connection_id, header->api_key, id, &response.base);
        break;
    }
    default:
        break;
    }
    pthread_mutex_unlock(&cluster->mutex);
    proto_message_free(request);
}

static void fake_on_stop_signal(uv_async_t *async)
{
    struct fake_cluster *cluster = async->data;
    pthread_mutex_lock(&cluster->mutex);
    while (cluster->parked != NULL) {
        fake_unpark(cluster, cluster->parked);
    }
    for (int i = 0; i < FAKE_GROUPS_MAX; i++) {
        if (cluster->groups[i].timer_initialized) {
            uv_close((uv_handle_t *)&cluster->groups[i].rebalance_timer, NULL);
            cluster->groups[i].timer_initialized = false;
        }
    }
    pthread_mutex_unlock(&cluster->mutex);
    for (uint32_t b = 0; b < cluster->broker_count; b++) {
        broker_server_stop(cluster->brokers[b].server, NULL, NULL);
    }
    uv_close((uv_handle_t *)async, NULL);
}

static void *fake_loop_thread(void *argument)
{
    struct fake_cluster *cluster = argument;
    /* A write to a client that has gone (over TLS: the close_notify answering a closing
     * client's) fails with EPIPE here, not with a SIGPIPE that would end the test program.
     * SIGPIPE goes to the writing thread, and only this one writes the brokers' sockets. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    uv_run(&cluster->loop, UV_RUN_DEFAULT);
    return NULL;
}

/*
 * Starts `broker_count` fake brokers (ids 1..broker_count, racks "rack-<id>")
 * on ports[i] (0: any free port), broker i over TLS with tls_configs[i] (a
 * server-role config; tls_configs NULL or tls_configs[i] NULL: in clear). The
 * cluster takes every config over, started or not. Returns 0, or -1 when a
 * port cannot be bound.
 */
static int fake_cluster_start_with_tls(struct fake_cluster *cluster, uint32_t broker_count,
                                       const uint16_t *ports,
                                       struct ether_tls_config *const *tls_configs)
{
    memset(cluster, 0, sizeof *cluster);
    pthread_mutex_init(&cluster->mutex, NULL);
    cluster->hint_on_not_leader = true;
    cluster->coordinator_id = 1;
    int rc = uv_loop_init(&cluster->loop) == 0 ? 0 : -1;
    cluster->loop.data = cluster;
    cluster->broker_count = broker_count;
    for (uint32_t b = 0; b < broker_count; b++) {
        struct ether_tls_config *tls = tls_configs != NULL ? tls_configs[b] : NULL;
        if (rc != 0) {
            ether_tls_config_free(tls);
            continue;
        }
        struct fake_broker *broker = &cluster->brokers[b];
        broker->cluster = cluster;
        broker->broker_id = b + 1;
        snprintf(broker->rack, sizeof broker->rack, "rack-%u", b + 1);
        struct broker_server_options options;
        broker_server_options_init(&options);
        options.port = ports != NULL ? ports[b] : 0;
        options.frame_bytes_max = 16 * 1024 * 1024;
        options.on_request = fake_on_request;
        options.handler_context = broker;
        options.tls_config = tls;
        char errbuf[256];
        if (broker_server_start(&cluster->loop, &options, &broker->server, errbuf, sizeof errbuf) !=
            ETHER_OK) {
            fprintf(stderr, "fake cluster: %s\n", errbuf);
            ether_tls_config_free(tls);
            rc = -1;
            continue;
        }
        broker->port = broker_server_port(broker->server);
    }
    if (rc != 0) {
        return rc;
    }
    uv_async_init(&cluster->loop, &cluster->stop_signal, fake_on_stop_signal);
    cluster->stop_signal.data = cluster;
    pthread_create(&cluster->thread, NULL, fake_loop_thread, cluster);
    return 0;
}

/* fake_cluster_start_with_tls with every broker in clear. */
__attribute__((unused)) static int fake_cluster_start(struct fake_cluster *cluster,
                                                      uint32_t broker_count, const uint16_t *ports)
{
    return fake_cluster_start_with_tls(cluster, broker_count, ports, NULL);
}

static void fake_cluster_stop(struct fake_cluster *cluster)
{
    uv_async_send(&cluster->stop_signal);
    pthread_join(cluster->thread, NULL);
    uv_loop_close(&cluster->loop);
    for (int i = 0; i < FAKE_TOPICS_MAX; i++) {
        fake_topic_free(&cluster->topics[i]);
    }
    pthread_mutex_destroy(&cluster->mutex);
}

/* "127.0.0.1:p1,127.0.0.1:p2,..." of the first `count` brokers. */
static void fake_cluster_brokers(const struct fake_cluster *cluster, uint32_t count, char *out,
                                 size_t out_bytes)
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t b = 0; b < count && b < cluster->broker_count; b++) {
        used += (size_t)snprintf(out + used, out_bytes - used, "%s127.0.0.1:%u", b > 0 ? "," : "",
                                 cluster->brokers[b].port);
    }
}

__attribute__((unused)) static void fake_add_topic(struct fake_cluster *cluster, const char *name,
                                                   uint32_t partitions)
{
    pthread_mutex_lock(&cluster->mutex);
    fake_topic_add(cluster, name, partitions);
    pthread_mutex_unlock(&cluster->mutex);
}

__attribute__((unused)) static void fake_set_leader(struct fake_cluster *cluster, const char *name,
                                                    uint32_t partition, uint32_t leader_id)
{
    pthread_mutex_lock(&cluster->mutex);
    fake_topic_find(cluster, name)->partitions[partition].leader_id = leader_id;
    pthread_mutex_unlock(&cluster->mutex);
}

/* The committed offset the fake coordinator stores for group/topic/partition (-1: none). */
__attribute__((unused)) static int64_t fake_committed(struct fake_cluster *cluster,
                                                      const char *group_name, const char *topic,
                                                      uint32_t partition)
{
    pthread_mutex_lock(&cluster->mutex);
    struct fake_group *group = fake_group_find(cluster, group_name, false);
    struct fake_group_offset *offset =
        group != NULL ? fake_offset_find(group, topic, partition, false) : NULL;
    int64_t value = offset != NULL ? offset->offset : -1;
    pthread_mutex_unlock(&cluster->mutex);
    return value;
}

/* How many members the fake group has now. */
__attribute__((unused)) static uint32_t fake_group_members(struct fake_cluster *cluster,
                                                           const char *group_name)
{
    pthread_mutex_lock(&cluster->mutex);
    struct fake_group *group = fake_group_find(cluster, group_name, false);
    uint32_t count = group != NULL ? fake_member_count(group) : 0;
    pthread_mutex_unlock(&cluster->mutex);
    return count;
}

/* Reads one counter under the mutex. */
__attribute__((unused)) static uint32_t fake_read(struct fake_cluster *cluster,
                                                  const uint32_t *counter)
{
    pthread_mutex_lock(&cluster->mutex);
    uint32_t value = *counter;
    pthread_mutex_unlock(&cluster->mutex);
    return value;
}

#endif
