/*
 * broker.c: etherd's lifecycle, its loop turn and the routing of Raft traffic.
 *
 * Happy path of one loop turn: libuv delivers requests (server.c) and disk
 * completions (replica.c); request handlers queue proposals and Raft
 * messages on replicas; in the prepare phase, right before the loop blocks
 * again, every replica with work is flushed (its ready goes to the disk pool)
 * and then every peer gets one frame with all the Raft messages of the turn.
 *
 * Failure modes: a replica whose persistence fails is closed and reopened
 * from disk by the next reconciliation; an unknown group's Raft messages are
 * dropped (the group may not be created here yet; Raft retransmits).
 */
#include "broker/broker_internal.h"
#include "broker/security.h"

#include "broker/discovery.h"
#include "broker/http.h"
#include "broker/raft_wire.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    HOUSEKEEPING_INTERVAL_MS = 500,
    SHUTDOWN_TRANSFER_WAIT_MS = 1500,
    INBOUND_ENTRIES_MAX = 100000,
    BROKER_META_VERSION = 1,
};

/* ---- Raft routing ------------------------------------------------------------------------ */

static struct broker_replica *replica_for_group(struct broker *broker, uint64_t group_id)
{
    if (group_id == BROKER_CONTROLLER_GROUP_ID) {
        return broker->controller.replica;
    }
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    return partition != NULL && !partition->closing ? partition->replica : NULL;
}

static void on_replica_send(void *context, struct broker_replica *replica,
                            const struct raft_message *message)
{
    (void)replica;
    struct broker *broker = context;
    broker_transport_send(broker->transport, message);
}

static void on_replica_apply(void *context, struct broker_replica *replica,
                             const struct raft_entry *entries, size_t entries_count)
{
    struct broker *broker = context;
    uint64_t group_id = broker_replica_group_id(replica);
    if (group_id == BROKER_CONTROLLER_GROUP_ID) {
        broker_controller_apply(broker, entries, entries_count);
        return;
    }
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    if (partition != NULL && partition->replica == replica) {
        broker_partition_apply(partition, entries, entries_count);
    }
}

static void on_replica_persisted(void *context, struct broker_replica *replica,
                                 const struct storage_entry *entries, size_t entries_count)
{
    struct broker *broker = context;
    struct broker_partition *partition =
        broker_partition_find(broker, broker_replica_group_id(replica));
    if (partition != NULL && partition->replica == replica) {
        broker_partition_persisted(partition, entries, entries_count);
    }
}

static void on_replica_snapshot_installed(void *context, struct broker_replica *replica,
                                          const struct raft_snapshot_meta *meta,
                                          uint64_t next_offset)
{
    struct broker *broker = context;
    uint64_t group_id = broker_replica_group_id(replica);
    if (group_id == BROKER_CONTROLLER_GROUP_ID) {
        /* The controller never compacts its log today, so no leader sends it a snapshot. */
        ether_log_error(broker->logger, "controller: unexpected snapshot at index %llu ignored",
                        (unsigned long long)meta->index);
        return;
    }
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    if (partition != NULL && partition->replica == replica) {
        broker_partition_snapshot_installed(partition, meta, next_offset);
    }
}

static void on_replica_role_changed(void *context, struct broker_replica *replica,
                                    const struct raft_status *status)
{
    struct broker *broker = context;
    uint64_t group_id = broker_replica_group_id(replica);
    if (group_id == BROKER_CONTROLLER_GROUP_ID) {
        broker_controller_role_changed(broker, status);
        return;
    }
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    if (partition != NULL && partition->replica == replica) {
        broker_partition_role_changed(partition, status);
    }
}

static void on_replica_failed(void *context, struct broker_replica *replica, int error)
{
    struct broker *broker = context;
    uint64_t group_id = broker_replica_group_id(replica);
    ether_log_error(broker->logger,
                    "group %llx stopped after a storage error (%s); it is reopened from disk",
                    (unsigned long long)group_id, ether_strerror(error));
    if (group_id == BROKER_CONTROLLER_GROUP_ID) {
        broker_controller_close(broker, NULL, NULL);
        char errbuf[256];
        if (broker_controller_open(broker, errbuf, sizeof errbuf) != ETHER_OK) {
            ether_log_error(broker->logger, "controller: %s", errbuf);
        }
        return;
    }
    struct broker_partition *partition = broker_partition_find(broker, group_id);
    if (partition != NULL) {
        partition->closing = true; /* reconciliation closes and reopens it */
    }
}

const struct broker_replica_callbacks *broker_replica_callbacks_for(struct broker *broker)
{
    return &broker->replica_callbacks;
}

_Static_assert((int)BROKER_RACK_BYTES_MAX == (int)CONTROLLER_RACK_BYTES_MAX,
               "a rack the config accepts is one the controller registers");

bool broker_is_seed(const struct broker *broker, uint32_t broker_id)
{
    for (size_t i = 0; i < broker->config->seeds_count; i++) {
        if (broker->config->seeds[i].broker_id == broker_id) {
            return true;
        }
    }
    return false;
}

static void observe_peer(struct broker *broker, uint32_t broker_id, uint64_t incarnation,
                         const char *rack)
{
    if (incarnation == 0 || incarnation > UINT32_MAX || !broker_is_seed(broker, broker_id)) {
        return;
    }
    struct broker_observed_peer *peer = NULL;
    for (size_t i = 0; i < broker->observed_count && peer == NULL; i++) {
        if (broker->observed[i].broker_id == broker_id) {
            peer = &broker->observed[i];
        }
    }
    if (peer == NULL) {
        ETHER_ASSERT(broker->observed_count < BROKER_SEEDS_MAX);
        peer = &broker->observed[broker->observed_count++];
        peer->broker_id = broker_id;
        peer->rack[0] = '\0';
    }
    peer->incarnation = (uint32_t)incarnation;
    if (rack != NULL) { /* only frames with the hints say it */
        snprintf(peer->rack, sizeof peer->rack, "%s", broker_config_rack_valid(rack) ? rack : "");
    }
}

uint32_t broker_observed_incarnation(const struct broker *broker, uint32_t broker_id)
{
    if (broker_id == broker->broker_id) {
        return broker->incarnation;
    }
    for (size_t i = 0; i < broker->observed_count; i++) {
        if (broker->observed[i].broker_id == broker_id) {
            return broker->observed[i].incarnation;
        }
    }
    return 0;
}

const char *broker_observed_rack(const struct broker *broker, uint32_t broker_id)
{
    if (broker_id == broker->broker_id) {
        return broker->config->rack;
    }
    for (size_t i = 0; i < broker->observed_count; i++) {
        if (broker->observed[i].broker_id == broker_id) {
            return broker->observed[i].rack;
        }
    }
    return "";
}

/* An unpacked RAFT_MESSAGES request, kept while any Raft group points into it. */
struct inbound_batch {
    ProtobufCMessage *request;
    struct raft_entry *entries;
    struct raft_snapshot_meta *snapshots;
    uint32_t references;
};

static void inbound_release(void *object)
{
    struct inbound_batch *batch = object;
    ETHER_ASSERT(batch->references > 0);
    if (--batch->references == 0) {
        proto_message_free(batch->request);
        ether_free(batch->entries);
        ether_free(batch->snapshots);
        ether_free(batch);
    }
}

/*
 * With TLS only brokers may send Raft traffic: the connection's verified certificate must
 * have the common name "broker-<id>" of a seed or registered broker, and <id> must be the
 * frame's sender (whose id every message's `from` is checked against below). Logs why not.
 */
static bool raft_sender_authenticated(struct broker *broker, uint64_t connection_id,
                                      uint32_t from_broker_id)
{
    if (!broker_config_tls_enabled(broker->config)) {
        return true;
    }
    const char *principal =
        broker_server_connection_certificate_name(broker->server, connection_id);
    const char *problem = NULL;
    if (principal == NULL) {
        problem = "no verified certificate with a single common name";
    } else {
        char expected[32];
        snprintf(expected, sizeof expected, "broker-%u", from_broker_id);
        if (strcmp(principal, expected) != 0) {
            problem = "a certificate that is not the sender broker's";
        } else if (!broker_is_seed(broker, from_broker_id) &&
                   controller_state_broker(&broker->controller.state, from_broker_id) == NULL) {
            problem = "the certificate of a broker that is neither a seed nor registered";
        }
    }
    if (problem == NULL) {
        return true;
    }
    const char *peer_name = broker_server_connection_peer_name(broker->server, connection_id);
    ether_log_warn(broker->logger,
                   "refusing Raft messages that claim to be from broker %u on connection %llu "
                   "from %s (certificate CN %s): %s; closing it",
                   from_broker_id, (unsigned long long)connection_id,
                   peer_name != NULL ? peer_name : "?", principal != NULL ? principal : "none",
                   problem);
    return false;
}

static void route_raft_messages(struct broker *broker, uint64_t connection_id,
                                ProtobufCMessage *unpacked)
{
    Ether__RaftMessagesRequest *request = (Ether__RaftMessagesRequest *)unpacked;
    if (!raft_sender_authenticated(broker, connection_id, request->from_broker_id)) {
        proto_message_free(unpacked);
        broker_server_close_connection(broker->server, connection_id);
        return;
    }
    observe_peer(broker, request->from_broker_id, request->from_incarnation,
                 request->sender != NULL ? request->sender->rack : NULL);
    size_t entries_total = 0;
    for (size_t i = 0; i < request->n_messages; i++) {
        entries_total += request->messages[i]->n_entries;
    }
    if (entries_total > INBOUND_ENTRIES_MAX) {
        ether_log_warn(broker->logger, "broker %u sent %zu Raft entries in one frame; dropped",
                       request->from_broker_id, entries_total);
        proto_message_free(unpacked);
        broker_server_close_connection(broker->server, connection_id);
        return;
    }
    struct inbound_batch *batch = ether_calloc(1, sizeof *batch);
    batch->request = unpacked;
    batch->entries = ether_calloc(entries_total > 0 ? entries_total : 1, sizeof *batch->entries);
    batch->snapshots =
        ether_calloc(request->n_messages > 0 ? request->n_messages : 1, sizeof *batch->snapshots);
    batch->references = 1;
    size_t entries_used = 0;
    for (size_t i = 0; i < request->n_messages; i++) {
        struct raft_message message;
        int rc =
            broker_raft_wire_decode(request->messages[i], &message, batch->entries + entries_used,
                                    entries_total - entries_used, &batch->snapshots[i]);
        if (rc != ETHER_OK) {
            ether_log_warn(broker->logger, "broker %u sent a malformed Raft message: %s",
                           request->from_broker_id, ether_strerror(rc));
            continue;
        }
        entries_used += message.entries_count;
        if (broker_node_broker_id(message.from) != request->from_broker_id ||
            message.to != broker->node_id) {
            continue; /* not for this incarnation of this broker, or forged sender */
        }
        struct broker_replica *replica = replica_for_group(broker, message.group_id);
        if (replica == NULL) {
            continue;
        }
        bool points_into_batch =
            message.entries_count > 0 || message.data_bytes > 0 || message.snapshot != NULL;
        struct broker_borrow borrow = {inbound_release, batch};
        if (points_into_batch) {
            batch->references++;
        }
        broker_replica_step(replica, &message, points_into_batch ? &borrow : NULL);
    }
    broker_partitions_receive_hints(broker, request->leaders, request->n_leaders);
    inbound_release(batch);
}

/* ---- requests ---------------------------------------------------------------------------- */

void broker_respond(struct broker *broker, uint64_t connection_id, uint16_t api_key,
                    uint32_t correlation_id, const ProtobufCMessage *response)
{
    int rc =
        broker_server_respond(broker->server, connection_id, api_key, correlation_id, response);
    if (rc != ETHER_OK && rc != ETHER_ERR_CLOSED) {
        ether_log_error(broker->logger, "cannot answer %s request %u: %s", proto_api_name(api_key),
                        correlation_id, ether_strerror(rc));
    }
}

static void on_request(void *context, struct broker_server *server, uint64_t connection_id,
                       const struct proto_frame_header *header, ProtobufCMessage *request)
{
    (void)server;
    struct broker *broker = context;
    if (broker->stopping && header->api_key != PROTO_API_RAFT_MESSAGES) {
        proto_message_free(request);
        broker_server_close_connection(broker->server, connection_id);
        return;
    }
    if (!broker_security_admit(broker, connection_id, header, request)) {
        return;
    }
    switch (header->api_key) {
    case PROTO_API_RAFT_MESSAGES:
        route_raft_messages(broker, connection_id, request);
        return;
    case PROTO_API_AUTHENTICATE:
        broker_security_handle_authenticate(broker, connection_id, header, request);
        return;
    case PROTO_API_PRODUCE:
        broker_handle_produce(broker, connection_id, header, request);
        return;
    case PROTO_API_FETCH:
        broker_handle_fetch(broker, connection_id, header, request);
        return;
    case PROTO_API_LIST_OFFSETS:
        broker_handle_list_offsets(broker, connection_id, header, request);
        return;
    case PROTO_API_TRANSFER_LEADER:
        broker_handle_transfer_leader(broker, connection_id, header, request);
        return;
    case PROTO_API_DESCRIBE_PRODUCERS:
        broker_handle_describe_producers(broker, connection_id, header, request);
        return;
    default:
        if (broker_coordinator_handle(broker, connection_id, header, request)) {
            return;
        }
        broker_controller_handle(broker, connection_id, header, request);
        return;
    }
}

/* ---- the loop turn ----------------------------------------------------------------------- */

static void on_flush(uv_prepare_t *handle)
{
    struct broker *broker = handle->data;
    if (broker->controller.replica != NULL && broker_replica_has_work(broker->controller.replica)) {
        broker_replica_flush(broker->controller.replica);
    }
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (!partition->closing && broker_replica_has_work(partition->replica)) {
            broker_replica_flush(partition->replica);
        }
    }
    broker_transport_flush(broker->transport);
}

static void on_tick(uv_timer_t *timer)
{
    struct broker *broker = timer->data;
    if (broker->controller.replica != NULL) {
        broker_replica_tick(broker->controller.replica);
    }
    for (size_t i = 0; i < broker->partitions_count; i++) {
        if (!broker->partitions[i]->closing) {
            broker_replica_tick(broker->partitions[i]->replica);
        }
    }
    broker_coordinators_tick(broker);
}

static void on_housekeeping(uv_timer_t *timer)
{
    struct broker *broker = timer->data;
    if (broker->stopping) {
        return;
    }
    broker_controller_housekeeping(broker);
    broker_partitions_reconcile(broker);
    broker_partitions_reconcile_membership(broker);
    broker_partitions_rebalance_leaders(broker);
    broker_partitions_compact(broker);
    broker_partitions_broadcast_hints(broker);
}

/* ---- starting ---------------------------------------------------------------------------- */

/* Room in a TLS session for one frame of the largest size and its encryption overhead. */
static size_t tls_buffered_bytes_max(const struct broker_config *config)
{
    size_t needed = (size_t)config->frame_bytes_max * 2 + 1024 * 1024;
    return needed > ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT ? needed
                                                         : ETHER_TLS_BUFFERED_BYTES_MAX_DEFAULT;
}

/*
 * The two TLS configs of a broker, from the same files: the server's, for the client port,
 * and the client's, for connections to other brokers (presenting this broker's certificate).
 * On success the caller owns both; on failure neither exists and errbuf names the file.
 */
static int make_tls_configs(const struct broker_config *config,
                            struct ether_tls_config **server_out,
                            struct ether_tls_config **client_out, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(broker_config_tls_enabled(config));
    struct ether_tls_config_options options = {
        .role = ETHER_TLS_ROLE_SERVER,
        .ca_file = config->tls_ca_file,
        .certificate_file = config->tls_certificate_file,
        .private_key_file = config->tls_private_key_file,
        .require_client_certificate =
            broker_config_client_auth(config) == BROKER_CLIENT_AUTH_REQUIRED,
        .request_client_certificate =
            broker_config_client_auth(config) == BROKER_CLIENT_AUTH_REQUESTED,
        .buffered_bytes_max = tls_buffered_bytes_max(config),
    };
    int rc = ether_tls_config_new(&options, server_out, errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    options.role = ETHER_TLS_ROLE_CLIENT;
    options.require_client_certificate = false;
    options.request_client_certificate = false;
    rc = ether_tls_config_new(&options, client_out, errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        ether_tls_config_free(*server_out);
        *server_out = NULL;
        return rc;
    }
    return ETHER_OK;
}

static int make_directories(const char *path)
{
    char partial[BROKER_DIR_PATH_BYTES_MAX];
    size_t length = strlen(path);
    if (length >= sizeof partial) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 1; i <= length; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            memcpy(partial, path, i);
            partial[i] = '\0';
            if (mkdir(partial, 0755) != 0 && errno != EEXIST) {
                return ether_error_from_errno(errno);
            }
        }
    }
    return ETHER_OK;
}

/*
 * <data-dir>/broker.meta holds "version broker_id incarnation". A broker
 * refuses a data directory that belongs to another broker id. Returns
 * ETHER_ERR_NOT_FOUND when there is none (a new or wiped disk).
 */
static int load_identity(struct broker *broker, char *errbuf, size_t errbuf_size)
{
    char path[BROKER_DIR_PATH_BYTES_MAX + 16];
    snprintf(path, sizeof path, "%s/broker.meta", broker->config->data_dir);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return ETHER_ERR_NOT_FOUND;
    }
    unsigned version = 0;
    unsigned broker_id = 0;
    unsigned incarnation = 0;
    int fields = fscanf(file, "%u %u %u", &version, &broker_id, &incarnation);
    fclose(file);
    if (fields != 3 || version != BROKER_META_VERSION || incarnation == 0) {
        snprintf(errbuf, errbuf_size, "%s is damaged; move the data directory away", path);
        return ETHER_ERR_CORRUPT;
    }
    if (broker_id != broker->config->broker_id) {
        snprintf(errbuf, errbuf_size, "%s belongs to broker %u, not broker %u",
                 broker->config->data_dir, broker_id, broker->config->broker_id);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    broker->incarnation = incarnation;
    return ETHER_OK;
}

static int save_identity(struct broker *broker)
{
    char path[BROKER_DIR_PATH_BYTES_MAX + 16];
    char temporary[sizeof path + 8];
    snprintf(path, sizeof path, "%s/broker.meta", broker->config->data_dir);
    snprintf(temporary, sizeof temporary, "%s.tmp", path);
    FILE *file = fopen(temporary, "w");
    if (file == NULL) {
        return ether_error_from_errno(errno);
    }
    fprintf(file, "%u %u %u\n", BROKER_META_VERSION, broker->config->broker_id,
            broker->incarnation);
    int failed = fflush(file) != 0 || fsync(fileno(file)) != 0;
    failed |= fclose(file) != 0;
    if (failed || rename(temporary, path) != 0) {
        return ETHER_ERR_IO;
    }
    return ETHER_OK;
}

/* With the identity known: the controller seat, then the timers that drive everything. */
static int join(struct broker *broker, char *errbuf, size_t errbuf_size)
{
    broker->node_id = broker_node_id(broker->broker_id, broker->incarnation);
    broker_transport_set_incarnation(broker->transport, broker->incarnation);
    int rc = broker_controller_open(broker, errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    broker->joined = true;
    uv_timer_start(&broker->tick_timer, on_tick, broker->config->tick_ms, broker->config->tick_ms);
    uv_timer_start(&broker->housekeeping_timer, on_housekeeping, HOUSEKEEPING_INTERVAL_MS,
                   HOUSEKEEPING_INTERVAL_MS);
    uv_prepare_start(&broker->flush_handle, on_flush);
    ether_log_info(broker->logger, "broker %u is incarnation %u (Raft node %llx)",
                   broker->broker_id, broker->incarnation, (unsigned long long)broker->node_id);
    return ETHER_OK;
}

static void on_discovered(void *context, uint32_t incarnation)
{
    struct broker *broker = context;
    broker->discovery = NULL;
    broker->incarnation = incarnation;
    broker->knows_cluster = incarnation > 1;
    char errbuf[256];
    int rc = save_identity(broker);
    if (rc == ETHER_OK) {
        rc = join(broker, errbuf, sizeof errbuf);
    } else {
        snprintf(errbuf, sizeof errbuf, "cannot write broker.meta: %s", ether_strerror(rc));
    }
    if (rc != ETHER_OK) {
        ether_log_error(broker->logger, "cannot join the cluster: %s; stopping", errbuf);
        if (broker->on_fatal != NULL) {
            broker->on_fatal(broker->on_fatal_context);
        } else {
            broker_shutdown(broker, NULL, NULL);
        }
    }
}

int broker_start(uv_loop_t *loop, const struct broker_config *config,
                 const struct ether_logger *logger, struct broker **broker_out, char *errbuf,
                 size_t errbuf_size)
{
    struct broker *broker = ether_calloc(1, sizeof *broker);
    broker->loop = loop;
    broker->config = config;
    broker->logger = logger;
    broker->broker_id = config->broker_id;
    broker->replica_callbacks = (struct broker_replica_callbacks){
        .context = broker,
        .send = on_replica_send,
        .apply = on_replica_apply,
        .persisted = on_replica_persisted,
        .snapshot_installed = on_replica_snapshot_installed,
        .role_changed = on_replica_role_changed,
        .failed = on_replica_failed,
    };
    controller_state_init(&broker->controller.state);

    int rc = broker_security_open(broker, errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        goto err_after_alloc;
    }
    rc = make_directories(config->data_dir);
    if (rc != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "cannot create data directory %s: %s", config->data_dir,
                 ether_strerror(rc));
        goto err_after_alloc;
    }
    rc = load_identity(broker, errbuf, errbuf_size);
    if (rc != ETHER_OK && rc != ETHER_ERR_NOT_FOUND) {
        goto err_after_alloc;
    }
    bool identity_known = rc == ETHER_OK;
    broker->knows_cluster = identity_known;
    struct ether_tls_config *tls_server = NULL; /* owned here until the server takes it */
    struct ether_tls_config *tls_client = NULL; /* likewise until the transport takes it */
    if (broker_config_tls_enabled(config)) {
        rc = make_tls_configs(config, &tls_server, &tls_client, errbuf, errbuf_size);
        if (rc != ETHER_OK) {
            goto err_after_alloc;
        }
    }
    storage_options_init(&broker->storage_options);
    broker->storage_options.segment_bytes_max = config->segment_bytes;
    broker->storage_options.logger = logger;

    struct broker_server_options server_options;
    broker_server_options_init(&server_options);
    server_options.host = config->listen_host;
    server_options.port = config->client_port;
    server_options.frame_bytes_max = config->frame_bytes_max;
    server_options.logger = logger;
    server_options.on_request = on_request;
    server_options.handler_context = broker;
    server_options.tls_config = tls_server;
    rc = broker_server_start(loop, &server_options, &broker->server, errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        goto err_after_tls;
    }
    tls_server = NULL;
    rc = broker_http_start(loop, broker, config->listen_host, config->http_port, &broker->http,
                           errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        goto err_after_server;
    }

    struct broker_transport_options transport_options;
    broker_transport_options_init(&transport_options);
    transport_options.self_broker_id = broker->broker_id;
    transport_options.self_rack = config->rack;
    transport_options.frame_bytes_max = config->frame_bytes_max; /* what every peer accepts */
    transport_options.logger = logger;
    transport_options.tls_config = tls_client;
    rc = broker_transport_create(loop, &transport_options, &broker->transport);
    ETHER_ASSERT(rc == ETHER_OK);
    tls_client = NULL;
    for (size_t i = 0; i < config->seeds_count; i++) {
        if (config->seeds[i].broker_id != broker->broker_id) {
            broker_transport_set_peer(broker->transport, config->seeds[i].broker_id,
                                      config->seeds[i].host, config->seeds[i].port);
        }
    }

    uv_timer_init(loop, &broker->tick_timer);
    broker->tick_timer.data = broker;
    uv_timer_init(loop, &broker->housekeeping_timer);
    broker->housekeeping_timer.data = broker;
    uv_prepare_init(loop, &broker->flush_handle);
    broker->flush_handle.data = broker;
    if (identity_known) {
        rc = join(broker, errbuf, errbuf_size);
        if (rc != ETHER_OK) {
            goto err_after_handles;
        }
    } else {
        ether_log_info(logger,
                       "broker %u has an empty data directory: asking the seed brokers "
                       "whether it was a member before",
                       broker->broker_id);
        broker_discovery_start(loop, config, logger, broker_transport_tls_config(broker->transport),
                               on_discovered, broker, &broker->discovery);
    }
    ether_log_info(logger, "broker %u serving on %s:%u%s (HTTP on port %u), data in %s",
                   broker->broker_id, config->listen_host, broker_server_port(broker->server),
                   broker_config_tls_enabled(config) ? " with TLS" : "", config->http_port,
                   config->data_dir);
    *broker_out = broker;
    return ETHER_OK;

err_after_handles:
    uv_close((uv_handle_t *)&broker->tick_timer, NULL);
    uv_close((uv_handle_t *)&broker->housekeeping_timer, NULL);
    uv_close((uv_handle_t *)&broker->flush_handle, NULL);

    /* The server and transport close asynchronously; the loop runs their callbacks. */
    broker_transport_close(broker->transport, NULL, NULL);
    broker_http_stop(broker->http, NULL, NULL);
err_after_server:
    broker_server_stop(broker->server, NULL, NULL);
err_after_tls:
    ether_tls_config_free(tls_server);
    ether_tls_config_free(tls_client);
err_after_alloc:
    broker_security_close(broker);
    controller_state_free(&broker->controller.state);
    ether_free(broker);
    return rc;
}

/* ---- stopping ---------------------------------------------------------------------------- */

static void close_done(struct broker *broker)
{
    ETHER_ASSERT(broker->closes_pending > 0);
    if (--broker->closes_pending > 0) {
        return;
    }
    void (*on_stopped)(void *) = broker->on_stopped;
    void *context = broker->on_stopped_context;
    broker_security_close(broker);
    controller_state_free(&broker->controller.state);
    ether_free(broker->partitions);
    ether_free(broker->hints);
    ether_log_info(broker->logger, "broker %u stopped", broker->broker_id);
    ether_free(broker);
    if (on_stopped != NULL) {
        on_stopped(context);
    }
}

static void on_part_closed(void *context)
{
    close_done(context);
}

static void on_handle_closed(uv_handle_t *handle)
{
    close_done(handle->data);
}

/* Second half of a stop: every replica is gone, so nothing answers through the server
 * or sends through the transport any more; close them and the timers. */
static void close_the_rest(struct broker *broker)
{
    broker->closes_pending = 1; /* held while closes are issued */
    broker->closes_pending += 4;
    uv_close((uv_handle_t *)&broker->tick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&broker->housekeeping_timer, on_handle_closed);
    uv_close((uv_handle_t *)&broker->flush_handle, on_handle_closed);
    broker_server_stop(broker->server, on_part_closed, broker);
    broker->closes_pending++;
    broker_http_stop(broker->http, on_part_closed, broker);
    broker->closes_pending++;
    broker_transport_close(broker->transport, on_part_closed, broker);
    close_done(broker);
}

static void on_replica_closed(void *context)
{
    struct broker *broker = context;
    ETHER_ASSERT(broker->replicas_closing > 0);
    if (--broker->replicas_closing == 0) {
        close_the_rest(broker);
    }
}

/*
 * First half of a stop: no more ticks or flushes, long polls answered, then
 * every replica closes once its disk work is over (answering what waits on
 * it through the still-open server).
 */
static void finish_shutdown(uv_timer_t *timer)
{
    struct broker *broker = timer->data;
    if (broker->discovery != NULL) {
        broker_discovery_cancel(broker->discovery);
        broker->discovery = NULL;
    }
    broker_fetches_cancel_all(broker);
    uv_timer_stop(&broker->tick_timer);
    uv_timer_stop(&broker->housekeeping_timer);
    uv_prepare_stop(&broker->flush_handle);
    broker_transport_flush(broker->transport);
    /* Counted before any close: a replica without disk work frees (and calls back) at once. */
    broker->replicas_closing = 1 + (uint32_t)broker->partitions_count +
                               (broker->controller.replica != NULL ? 1 : 0); /* +1: held */
    broker_partitions_close_all(broker, on_replica_closed, broker);
    (void)broker_controller_close(broker, on_replica_closed, broker); /* counted above */
    on_replica_closed(broker);
}

void broker_shutdown(struct broker *broker, void (*on_stopped)(void *context), void *context)
{
    if (broker->stopping) {
        return;
    }
    broker->stopping = true;
    broker->on_stopped = on_stopped;
    broker->on_stopped_context = context;
    ether_log_info(broker->logger, "broker %u shutting down: moving leaderships away",
                   broker->broker_id);
    size_t transfers = 0;
    for (size_t i = 0; i < broker->partitions_count; i++) {
        struct broker_partition *partition = broker->partitions[i];
        if (partition->closing || partition->status.role != RAFT_LEADER) {
            continue;
        }
        const struct raft_configuration *configuration =
            broker_replica_configuration(partition->replica);
        for (uint32_t s = 0; s < configuration->servers_count; s++) {
            const struct raft_server *server = &configuration->servers[s];
            if (server->id != broker->node_id && server->role == RAFT_VOTER) {
                if (broker_replica_transfer_leadership(partition->replica, server->id) ==
                    ETHER_OK) {
                    transfers++;
                }
                break;
            }
        }
    }
    if (broker->controller.replica != NULL) {
        struct raft_status status;
        broker_replica_status(broker->controller.replica, &status);
        if (status.role == RAFT_LEADER) {
            const struct raft_configuration *configuration =
                broker_replica_configuration(broker->controller.replica);
            for (uint32_t s = 0; s < configuration->servers_count; s++) {
                if (configuration->servers[s].id != broker->node_id &&
                    configuration->servers[s].role == RAFT_VOTER &&
                    broker_replica_transfer_leadership(broker->controller.replica,
                                                       configuration->servers[s].id) == ETHER_OK) {
                    transfers++;
                    break;
                }
            }
        }
    }
    /* The housekeeping timer is reused to wait for the transfers. */
    uv_timer_stop(&broker->housekeeping_timer);
    uv_timer_start(&broker->housekeeping_timer, finish_shutdown,
                   transfers > 0 ? SHUTDOWN_TRANSFER_WAIT_MS : 0, 0);
}

void broker_respond_error(struct broker *broker, uint64_t connection_id,
                          const struct proto_frame_header *request, int error, const char *message)
{
    int rc = broker_server_respond_error(broker->server, connection_id, request, error, message);
    if (rc != ETHER_OK && rc != ETHER_ERR_CLOSED) {
        ether_log_error(broker->logger, "cannot answer request %u with an error: %s",
                        request->correlation_id, ether_strerror(rc));
    }
}

int broker_reload_tls(struct broker *broker, char *errbuf, size_t errbuf_size)
{
    if (!broker_config_tls_enabled(broker->config)) {
        snprintf(errbuf, errbuf_size, "TLS is off (tls-certificate-file is empty)");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (broker->stopping) {
        snprintf(errbuf, errbuf_size, "the broker is shutting down");
        return ETHER_ERR_CLOSED;
    }
    struct ether_tls_config *tls_server = NULL;
    struct ether_tls_config *tls_client = NULL;
    int rc = ether_tls_config_reload(broker_server_tls_config(broker->server), &tls_server, errbuf,
                                     errbuf_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    rc = ether_tls_config_reload(broker_transport_tls_config(broker->transport), &tls_client,
                                 errbuf, errbuf_size);
    if (rc != ETHER_OK) {
        ether_tls_config_free(tls_server);
        return rc;
    }
    /* Both built: install both, so that the two sides never use different files. */
    if (broker->discovery != NULL) {
        broker_discovery_set_tls_config(broker->discovery, tls_client);
    }
    broker_transport_set_tls_config(broker->transport, tls_client);
    broker_server_set_tls_config(broker->server, tls_server);
    return ETHER_OK;
}

void broker_set_on_fatal(struct broker *broker, void (*on_fatal)(void *context), void *context)
{
    broker->on_fatal = on_fatal;
    broker->on_fatal_context = context;
}
