/*
 * broker_internal.h: what the parts of etherd share (broker.c: lifecycle,
 * loop turn and Raft routing; controller.c: the controller group and admin
 * requests; partition.c: partition replicas, produce, fetch, list offsets).
 *
 * All of it runs on the loop thread.
 */
#ifndef ETHER_BROKER_BROKER_INTERNAL_H
#define ETHER_BROKER_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "broker/broker.h"
#include "broker/config.h"
#include "broker/controller_state.h"
#include "broker/metrics.h"
#include "broker/producer_table.h"
#include "broker/replica.h"
#include "broker/server.h"
#include "broker/transport.h"
#include "common/log.h"
#include "storage/storage.h"

/* The internal topic holding consumer groups' committed offsets (see coordinator.c). */
#define BROKER_OFFSETS_TOPIC "__consumer_offsets"

enum {
    BROKER_CONTROLLER_GROUP_ID = 0,
    BROKER_CONTROLLER_VOTERS_MAX = 3,
    BROKER_DIR_PATH_BYTES_MAX = 1024,
    BROKER_GROUP_STATES_COUNT = 4, /* the values of group.h's enum group_state */
};

/* A request answered later (after a commit, a persist, or a long poll). */
struct broker_pending_admin {
    uint64_t index; /* the controller entry that answers it; 0 until proposed */
    uint64_t connection_id;
    uint32_t correlation_id;
    uint16_t api_key;
    struct broker_pending_admin *next;
};

struct broker_controller {
    struct broker_replica *replica;
    struct controller_state state;
    bool is_member; /* this broker has a seat in group 0 */
    struct broker_pending_admin *pending;
    bool registration_in_flight;
    uint64_t registration_index; /* the registration entry proposed; 0 until known */
    uint64_t leader_broker_id;   /* 0 when unknown */
    /* Producer ids this broker hands out without a name: a block from the controller. */
    uint64_t producer_ids_next;
    uint64_t producer_ids_end;
    bool producer_block_requested;
    struct broker_pending_admin *waiting_for_block; /* unnamed InitProducerId requests */
    uint64_t offsets_topic_proposed_ms;             /* loop time __consumer_offsets was asked */
};

/* What is known of a partition's leadership, from the local replica or from hints. */
struct broker_leader_hint {
    uint64_t group_id;
    uint64_t term;
    uint32_t leader_broker_id;
    uint64_t high_watermark;
    uint64_t log_start_offset;
    uint32_t in_sync_replicas[RAFT_SERVERS_MAX];
    uint32_t in_sync_replicas_count;
};

struct broker_produce_request;
struct broker_coordinator;

struct broker_partition {
    struct broker *broker;
    uint32_t topic_id;
    uint32_t partition;
    uint64_t group_id;
    char *topic_name;
    char dir_path[BROKER_DIR_PATH_BYTES_MAX];
    struct broker_replica *replica;
    struct raft_status status;
    uint32_t preferred_leader_id;           /* the assignment's first replica */
    struct storage_options storage_options; /* the broker's, with the topic's segment size */
    uint64_t retention_checked_ms;          /* loop time of the last compaction attempt */
    uint64_t leader_since_ms;               /* loop time this replica last became leader */
    uint64_t high_watermark;                /* next offset after the last committed record */
    uint64_t applied_index;                 /* last committed entry applied */
    uint64_t log_start_offset;              /* first offset still stored */
    /* Idempotent producers' sequences (replicated state; in-flight part on the leader). */
    struct producer_table producers;
    /* Leader: the last index of its log when it was elected; batches are checked against
     * the table only once everything up to it is applied (earlier terms' batches too). */
    uint64_t leader_ready_index;
    /* Produce waits, by Raft index (not yet proposed ones last): acks=1 until persisted,
     * acks=all and retries of in-flight batches until applied. */
    struct broker_produce_wait *waits_head;
    struct broker_produce_wait *waits_tail;
    /* __consumer_offsets partitions only: the groups' committed offsets (every replica) and,
     * on the leader, the groups' coordinator. */
    struct broker_coordinator *coordinator;
    bool closing;
};

struct broker_fetch_request;
struct broker_discovery;

/* What GET /metrics reports of the data path besides the replicas' own state (http.c). */
struct broker_metrics {
    uint64_t produce_requests_ok_count; /* every partition of the request succeeded */
    uint64_t produce_requests_error_count;
    uint64_t fetch_requests_ok_count;
    uint64_t fetch_requests_error_count;
    uint64_t produce_accepted_bytes;         /* batch bytes handed to Raft as proposals */
    uint64_t fetch_sent_bytes;               /* batch bytes in fetch responses */
    struct broker_histogram produce_latency; /* handler entry to response handed to the server */
    struct broker_histogram fetch_latency;   /* handler entry to response, long polls included */
    /* The replicas' fsyncs, taken from their logs at each scrape and when a partition closes
     * (broker_raft_log_take_fsync_latency). */
    struct broker_histogram fsync_latency;
};

/* Authentication and authorization state of the broker (broker/security.h). */
struct principal_rule;

struct broker_security {
    bool login_required; /* tls-client-auth=requested: a certificate or a SCRAM login first */
    struct principal_rule *principal_rule; /* NULL: a certificate's CN is its principal */
    char *super_users_text;                /* the super-users option, cut at the commas */
    const char **super_users;              /* pointers into super_users_text */
    size_t super_users_count;
    uint64_t denials[ACL_RESOURCE_CLUSTER + 1]; /* by enum acl_resource_type */
    uint64_t authentication_successes;          /* SCRAM logins */
    uint64_t authentication_failures; /* failed SCRAM logins, requests before a needed login */
};

/* A seed peer as its own frames say: its incarnation and rack ("" when none or not valid). */
struct broker_observed_peer {
    uint32_t broker_id;
    uint32_t incarnation;
    char rack[CONTROLLER_RACK_BYTES_MAX + 1];
};

struct broker {
    uv_loop_t *loop;
    const struct broker_config *config;
    const struct ether_logger *logger;
    uint32_t broker_id;
    uint32_t incarnation;
    uint64_t node_id;
    struct storage_options storage_options;
    struct broker_replica_callbacks replica_callbacks;

    struct broker_server *server;
    struct broker_http *http; /* GET /health and /metrics */
    struct broker_transport *transport;
    uv_timer_t tick_timer;
    uv_timer_t housekeeping_timer;
    uv_prepare_t flush_handle;

    struct broker_controller controller;

    struct broker_partition **partitions; /* sorted by group_id */
    size_t partitions_count;
    size_t partitions_capacity;

    struct broker_leader_hint *hints; /* sorted by group_id */
    size_t hints_count;
    size_t hints_capacity;

    struct broker_fetch_request *fetch_waiting; /* long polls */

    struct broker_metrics metrics;
    struct broker_security security;

    /* Identity: known at start from broker.meta, or decided by discovery. */
    struct broker_discovery *discovery; /* non-NULL while deciding */
    bool joined;                        /* identity known, controller opened, timers run */
    bool knows_cluster; /* this broker belongs to a cluster that exists (metadata cluster_id) */
    struct broker_observed_peer observed[BROKER_SEEDS_MAX];
    size_t observed_count;

    bool stopping;
    void (*on_fatal)(void *context);
    void *on_fatal_context;
    uint32_t closes_pending;
    uint32_t replicas_closing; /* shutdown: replicas whose disk work is not over yet */
    void (*on_stopped)(void *context);
    void *on_stopped_context;
};

/* ---- broker.c -------------------------------------------------------------------------- */

/* The callbacks every replica of this broker uses. */
const struct broker_replica_callbacks *broker_replica_callbacks_for(struct broker *broker);
void broker_respond(struct broker *broker, uint64_t connection_id, uint16_t api_key,
                    uint32_t correlation_id, const ProtobufCMessage *response);
/* The incarnation broker_id last announced in its frames (this broker's own for itself); 0 if
 * not heard from yet. */
uint32_t broker_observed_incarnation(const struct broker *broker, uint32_t broker_id);
/* The rack a seed's frames announce (this broker's own from its config); "" when unknown. */
const char *broker_observed_rack(const struct broker *broker, uint32_t broker_id);

void broker_respond_error(struct broker *broker, uint64_t connection_id,
                          const struct proto_frame_header *request, int error, const char *message);

/* ---- controller.c ---------------------------------------------------------------------- */

int broker_controller_open(struct broker *broker, char *errbuf, size_t errbuf_size);
void broker_controller_apply(struct broker *broker, const struct raft_entry *entries,
                             size_t entries_count);
void broker_controller_role_changed(struct broker *broker, const struct raft_status *status);
void broker_controller_housekeeping(struct broker *broker);
/* The controller group has a leader and this broker applied all it knows to be committed. */
bool broker_controller_caught_up(const struct broker *broker);
void broker_controller_handle(struct broker *broker, uint64_t connection_id,
                              const struct proto_frame_header *header, ProtobufCMessage *request);
/* Closes this broker's controller replica; true when `on_closed` will be called. */
bool broker_controller_close(struct broker *broker, void (*on_closed)(void *context),
                             void *context);
/* Leaders move their groups' members to the brokers' registered incarnations. */
void broker_membership_reconcile(struct broker *broker, struct broker_replica *replica,
                                 const struct raft_configuration *desired,
                                 uint32_t desired_voters_count);

/* ---- partition.c ----------------------------------------------------------------------- */

/* Opens, keeps and closes partition replicas so they match the controller state. */
void broker_partitions_reconcile(struct broker *broker);
struct broker_partition *broker_partition_find(struct broker *broker, uint64_t group_id);
void broker_partition_apply(struct broker_partition *partition, const struct raft_entry *entries,
                            size_t entries_count);
void broker_partition_persisted(struct broker_partition *partition,
                                const struct storage_entry *entries, size_t entries_count);
void broker_partition_role_changed(struct broker_partition *partition,
                                   const struct raft_status *status);
/* Closes every partition replica; `on_closed` runs once for each, after its disk work. */
void broker_partitions_close_all(struct broker *broker, void (*on_closed)(void *context),
                                 void *context);
void broker_partitions_rebalance_leaders(struct broker *broker);
/* Leader only: the leader and the voters recently active that hold every committed entry;
 * fills broker_ids and returns how many. */
uint32_t broker_partition_in_sync_replicas(const struct broker_partition *partition,
                                           uint32_t broker_ids[RAFT_SERVERS_MAX]);
void broker_partitions_reconcile_membership(struct broker *broker);
void broker_partitions_compact(struct broker *broker);
void broker_partition_snapshot_installed(struct broker_partition *partition,
                                         const struct raft_snapshot_meta *meta,
                                         uint64_t next_offset);
void broker_partitions_broadcast_hints(struct broker *broker);
void broker_partitions_receive_hints(struct broker *broker, Ether__LeaderHint *const *hints,
                                     size_t hints_count);
const struct broker_leader_hint *broker_leader_hint_find(const struct broker *broker,
                                                         uint64_t group_id);
void broker_partitions_fill_metadata(struct broker *broker, Ether__MetadataResponse *response);

void broker_handle_produce(struct broker *broker, uint64_t connection_id,
                           const struct proto_frame_header *header, ProtobufCMessage *request);
void broker_handle_fetch(struct broker *broker, uint64_t connection_id,
                         const struct proto_frame_header *header, ProtobufCMessage *request);
void broker_handle_list_offsets(struct broker *broker, uint64_t connection_id,
                                const struct proto_frame_header *header, ProtobufCMessage *request);
void broker_handle_transfer_leader(struct broker *broker, uint64_t connection_id,
                                   const struct proto_frame_header *header,
                                   ProtobufCMessage *request);
void broker_handle_describe_producers(struct broker *broker, uint64_t connection_id,
                                      const struct proto_frame_header *header,
                                      ProtobufCMessage *request);
/* Fails every long poll (shutdown). */
void broker_fetches_cancel_all(struct broker *broker);

/* ---- coordinator.c ---------------------------------------------------------------------- */

/* Topics whose name starts with "__" belong to Ether: clients cannot write, create or delete
 * them. */
bool broker_topic_is_internal(const char *topic);

/* Whether `broker_id` is one of the seeds (the founding brokers of the config). */
bool broker_is_seed(const struct broker *broker, uint32_t broker_id);
struct broker_coordinator *broker_coordinator_new(struct broker_partition *partition);
void broker_coordinator_free(struct broker_coordinator *coordinator);
void broker_coordinator_role_changed(struct broker_coordinator *coordinator, bool was_leader,
                                     bool is_leader);
/* Applies the group records of one committed batch to the store. */
void broker_coordinator_apply_batch(struct broker_coordinator *coordinator, const uint8_t *batch,
                                    size_t batch_bytes);
/* Answers the writes up to `index`, which is applied. */
void broker_coordinator_applied(struct broker_coordinator *coordinator, uint64_t index);
/* The partition's snapshot state: the producer table and the group store. */
void broker_coordinator_encode_state(const struct broker_coordinator *coordinator,
                                     const struct producer_table *producers, struct ether_buf *out);
int broker_coordinator_decode_state(struct broker_coordinator *coordinator, const uint8_t *data,
                                    size_t data_bytes, struct producer_table *producers);
void broker_coordinator_reset_store(struct broker_coordinator *coordinator);
/* Handles a group api request (taking `request`); false for another api. */
bool broker_coordinator_handle(struct broker *broker, uint64_t connection_id,
                               const struct proto_frame_header *header, ProtobufCMessage *request);
/* Adds the groups this coordinator runs in memory (leader only: those with members or recent
 * activity) to counts_by_state, which is indexed by enum group_state. */
void broker_coordinator_count_groups(const struct broker_coordinator *coordinator,
                                     uint64_t counts_by_state[BROKER_GROUP_STATES_COUNT]);
/* Session expiry and join phases of the groups this broker coordinates. */
void broker_coordinators_tick(struct broker *broker);
/* Whether the controller leader should create __consumer_offsets now, and its shape. */
bool broker_offsets_topic_wanted(const struct broker *broker, uint32_t *partitions,
                                 uint32_t *replication_factor);

#endif
