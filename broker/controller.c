/*
 * controller.c: this broker's seat in the controller group (Raft group 0)
 * and the requests it answers: metadata, and the admin requests that become
 * controller commands.
 *
 * Happy path of an admin request on the controller leader: build a
 * ControllerCommand with what the client asked, propose it, remember the
 * entry's index; when that entry is applied (controller_state_apply, on every
 * broker alike) answer the client from the apply result. Applying also
 * reconciles this broker's partition replicas with the new state.
 *
 * Failure modes: a request to a broker that is not the controller leader
 * gets ETHER_ERR_NOT_LEADER naming the leader; a leader that loses its
 * leadership answers its waiting requests with ETHER_ERR_NOT_LEADER (the
 * command may still commit: a retried create then gets ETHER_ERR_EXISTS).
 *
 * Membership today: every seed broker is in group 0, the first three as
 * voters, the others as learners, all with incarnation 1; the controller
 * leader registers the seed brokers itself.
 */
#include "broker/broker_internal.h"
#include "broker/security.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/scram.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The founding members of the controller group are the seeds' first incarnations. */
enum { FOUNDING_INCARNATION = 1, OFFSETS_TOPIC_RETRY_MS = 5000 };

struct pending_admin {
    struct broker *broker;
    uint64_t index;
    uint64_t connection_id;
    uint32_t correlation_id;
    uint16_t api_key;
    struct pending_admin *next;
};

/* ---- the controller replica -------------------------------------------------------------- */

static int describe_command(void *context, const struct raft_entry *entry, uint32_t *record_count,
                            int64_t *max_timestamp_ms)
{
    (void)context;
    (void)entry;
    *record_count = 1;
    *max_timestamp_ms = 0;
    return ETHER_OK;
}

static void founding_configuration(const struct broker_config *config,
                                   struct raft_configuration *configuration)
{
    memset(configuration, 0, sizeof *configuration);
    for (size_t i = 0; i < config->seeds_count && i < RAFT_SERVERS_MAX; i++) {
        configuration->servers[i] = (struct raft_server){
            .id = broker_node_id(config->seeds[i].broker_id, FOUNDING_INCARNATION),
            .role = i < BROKER_CONTROLLER_VOTERS_MAX ? RAFT_VOTER : RAFT_LEARNER,
        };
        configuration->servers_count++;
    }
}

int broker_controller_open(struct broker *broker, char *errbuf, size_t errbuf_size)
{
    struct broker_controller *controller = &broker->controller;
    struct raft_configuration configuration;
    founding_configuration(broker->config, &configuration);
    controller->is_member = false;
    for (size_t i = 0; i < broker->config->seeds_count; i++) {
        controller->is_member |= broker->config->seeds[i].broker_id == broker->broker_id;
    }
    if (!controller->is_member) {
        ether_log_warn(broker->logger,
                       "broker %u is not among the seeds; it holds no controller state and "
                       "serves nothing until it is",
                       broker->broker_id);
        return ETHER_OK;
    }
    /* Only a founding member (incarnation 1) starts the group; a broker back with an
     * empty disk joins as a new member that the leader adds. */
    bool founding = raft_configuration_find(&configuration, broker->node_id) >= 0;
    char dir_path[BROKER_DIR_PATH_BYTES_MAX];
    snprintf(dir_path, sizeof dir_path, "%s/__controller", broker->config->data_dir);
    struct broker_replica_options options;
    broker_replica_options_init(&options);
    options.group_id = BROKER_CONTROLLER_GROUP_ID;
    options.node_id = broker->node_id;
    options.dir_path = dir_path;
    options.bootstrap_configuration = founding ? &configuration : NULL;
    options.election_timeout_ticks = broker->config->election_ticks;
    options.heartbeat_ticks = broker->config->heartbeat_ticks;
    options.random_seed = broker->node_id;
    options.storage_options = &broker->storage_options;
    options.describe = describe_command;
    options.logger = broker->logger;
    /* Replaying the log rebuilds the state from scratch. */
    controller_state_free(&controller->state);
    controller_state_init(&controller->state);
    return broker_replica_open(broker->loop, &options, broker_replica_callbacks_for(broker),
                               &controller->replica, errbuf, errbuf_size);
}

static void fail_pending(struct broker *broker, int error, const char *message);
static void reconcile_controller_membership(struct broker *broker);

bool broker_controller_close(struct broker *broker, void (*on_closed)(void *context), void *context)
{
    struct broker_controller *controller = &broker->controller;
    fail_pending(broker, ETHER_ERR_STOPPED, NULL);
    if (controller->replica == NULL) {
        return false;
    }
    broker_replica_close(controller->replica, on_closed, context);
    controller->replica = NULL;
    return true;
}

static bool is_controller_leader(const struct broker *broker)
{
    if (broker->controller.replica == NULL) {
        return false;
    }
    struct raft_status status;
    broker_replica_status(broker->controller.replica, &status);
    return status.role == RAFT_LEADER;
}

/* ---- answering admin requests ------------------------------------------------------------ */

static void respond_init_producer(struct broker *broker, uint64_t connection_id,
                                  uint32_t correlation_id, int error, const char *message,
                                  int64_t producer_id, uint32_t producer_epoch)
{
    Ether__InitProducerIdResponse response = ETHER__INIT_PRODUCER_ID_RESPONSE__INIT;
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(message != NULL ? message : "");
    response.producer_id = error == ETHER_OK ? producer_id : -1;
    response.producer_epoch = error == ETHER_OK ? producer_epoch : 0;
    broker_respond(broker, connection_id, PROTO_API_INIT_PRODUCER_ID, correlation_id,
                   &response.base);
}

/*
 * Answers an admin request. Every admin response but InitProducerId's is just
 * (uint32 error = 1; string error_message = 2): it is built from the api's descriptor.
 */
static void respond_admin(struct broker *broker, uint64_t connection_id, uint16_t api_key,
                          uint32_t correlation_id, int error, const char *message)
{
    if (api_key == PROTO_API_INIT_PRODUCER_ID) {
        ETHER_ASSERT(error != ETHER_OK); /* successes carry an id: respond_init_producer */
        respond_init_producer(broker, connection_id, correlation_id, error, message, -1, 0);
        return;
    }
    const ProtobufCMessageDescriptor *descriptor = proto_api_descriptor(api_key, true);
    ETHER_ASSERT(descriptor != NULL);
    const ProtobufCFieldDescriptor *error_field =
        protobuf_c_message_descriptor_get_field(descriptor, 1);
    const ProtobufCFieldDescriptor *message_field =
        protobuf_c_message_descriptor_get_field(descriptor, 2);
    ETHER_ASSERT(error_field != NULL);
    ETHER_ASSERT(error_field->type == PROTOBUF_C_TYPE_UINT32);
    ETHER_ASSERT(message_field != NULL);
    ETHER_ASSERT(message_field->type == PROTOBUF_C_TYPE_STRING);
    union {
        ProtobufCMessage base;
        max_align_t align;
        uint8_t bytes[128];
    } response;
    ETHER_ASSERT(descriptor->sizeof_message <= sizeof response.bytes);
    protobuf_c_message_init(descriptor, &response);
    uint32_t error_value = (uint32_t)error;
    const char *text = message != NULL ? message : "";
    memcpy(response.bytes + error_field->offset, &error_value, sizeof error_value);
    memcpy(response.bytes + message_field->offset, &text, sizeof text);
    broker_respond(broker, connection_id, api_key, correlation_id, &response.base);
}

/* Answers the unnamed InitProducerId requests that wait for an id block. */
static void fail_waiting_for_block(struct broker *broker, int error, const char *message)
{
    struct pending_admin *waiting = (struct pending_admin *)broker->controller.waiting_for_block;
    broker->controller.waiting_for_block = NULL;
    while (waiting != NULL) {
        struct pending_admin *next = waiting->next;
        respond_admin(broker, waiting->connection_id, waiting->api_key, waiting->correlation_id,
                      error, message);
        ether_free(waiting);
        waiting = next;
    }
}

static void fail_pending(struct broker *broker, int error, const char *message)
{
    fail_waiting_for_block(broker, error, message);
    struct pending_admin *pending = (struct pending_admin *)broker->controller.pending;
    broker->controller.pending = NULL;
    while (pending != NULL) {
        struct pending_admin *next = pending->next;
        respond_admin(broker, pending->connection_id, pending->api_key, pending->correlation_id,
                      error, message);
        ether_free(pending);
        pending = next;
    }
}

static void on_command_proposed(void *context, int rc, uint64_t index, uint64_t term,
                                uint64_t leader_hint)
{
    (void)term;
    (void)leader_hint;
    struct pending_admin *pending = context;
    struct broker *broker = pending->broker;
    if (rc != ETHER_OK) {
        respond_admin(broker, pending->connection_id, pending->api_key, pending->correlation_id, rc,
                      ether_strerror(rc));
        ether_free(pending);
        return;
    }
    pending->index = index;
    pending->next = (struct pending_admin *)broker->controller.pending;
    broker->controller.pending = (struct broker_pending_admin *)pending;
}

static void release_command_bytes(void *object)
{
    ether_free(object);
}

/* Packs `command` and proposes it to the controller group; the proposal owns the bytes. */
static int propose_packed(struct broker *broker, const Ether__ControllerCommand *command,
                          broker_proposed_fn *on_proposed, void *context)
{
    size_t bytes = protobuf_c_message_get_packed_size(&command->base);
    uint8_t *packed = ether_malloc(bytes);
    protobuf_c_message_pack(&command->base, packed);
    struct broker_borrow borrow = {release_command_bytes, packed};
    uint64_t leader_hint = 0;
    int rc = broker_replica_propose(broker->controller.replica, packed, (uint32_t)bytes, &borrow,
                                    on_proposed, context, &leader_hint);
    if (rc != ETHER_OK) {
        ether_free(packed);
    }
    return rc;
}

/* Answers NOT_LEADER, naming the leader, unless this broker leads the controller. */
static bool refused_unless_leader(struct broker *broker, uint64_t connection_id,
                                  const struct proto_frame_header *header)
{
    if (is_controller_leader(broker)) {
        return false;
    }
    char message[96];
    snprintf(message, sizeof message, "this broker is not the controller; broker %llu is",
             (unsigned long long)broker->controller.leader_broker_id);
    respond_admin(broker, connection_id, header->api_key, header->correlation_id,
                  ETHER_ERR_NOT_LEADER, message);
    return true;
}

/* Proposes `command`; the answer to the request comes when it is applied. */
static void propose_command(struct broker *broker, uint64_t connection_id,
                            const struct proto_frame_header *header,
                            const Ether__ControllerCommand *command)
{
    if (refused_unless_leader(broker, connection_id, header)) {
        return;
    }
    struct pending_admin *pending = ether_calloc(1, sizeof *pending);
    pending->broker = broker;
    pending->connection_id = connection_id;
    pending->correlation_id = header->correlation_id;
    pending->api_key = header->api_key;
    int rc = propose_packed(broker, command, on_command_proposed, pending);
    if (rc != ETHER_OK) {
        ether_free(pending);
        respond_admin(broker, connection_id, header->api_key, header->correlation_id, rc,
                      ether_strerror(rc));
    }
}

/* Internal topics are Ether's: refused to clients with a sentence. Returns true if refused. */
static bool refuse_internal_topic(struct broker *broker, uint64_t connection_id,
                                  const struct proto_frame_header *header, const char *topic)
{
    if (!broker_topic_is_internal(topic)) {
        return false;
    }
    char message[128];
    snprintf(message, sizeof message, "topic %.64s is internal: names starting with __ are Ether's",
             topic);
    respond_admin(broker, connection_id, header->api_key, header->correlation_id,
                  ETHER_ERR_INVALID_ARGUMENT, message);
    return true;
}

static void handle_create_topic(struct broker *broker, uint64_t connection_id,
                                const struct proto_frame_header *header,
                                const Ether__CreateTopicRequest *request)
{
    if (refuse_internal_topic(broker, connection_id, header, request->name)) {
        return;
    }
    Ether__ControllerCreateTopic create = ETHER__CONTROLLER_CREATE_TOPIC__INIT;
    create.name = request->name;
    create.partitions = request->partitions;
    create.replication_factor = request->replication_factor;
    Ether__ControllerCreateTopic__ConfigsEntry *entries =
        ether_calloc(request->n_configs > 0 ? request->n_configs : 1, sizeof *entries);
    Ether__ControllerCreateTopic__ConfigsEntry **pointers =
        ether_calloc(request->n_configs > 0 ? request->n_configs : 1, sizeof *pointers);
    for (size_t i = 0; i < request->n_configs; i++) {
        ether__controller_create_topic__configs_entry__init(&entries[i]);
        entries[i].key = request->configs[i]->key;
        entries[i].value = request->configs[i]->value;
        pointers[i] = &entries[i];
    }
    create.n_configs = request->n_configs;
    create.configs = pointers;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_TOPIC;
    command.create_topic = &create;
    propose_command(broker, connection_id, header, &command);
    ether_free(entries);
    ether_free(pointers);
}

static void handle_delete_topic(struct broker *broker, uint64_t connection_id,
                                const struct proto_frame_header *header,
                                const Ether__DeleteTopicRequest *request)
{
    if (refuse_internal_topic(broker, connection_id, header, request->name)) {
        return;
    }
    Ether__ControllerDeleteTopic remove = ETHER__CONTROLLER_DELETE_TOPIC__INIT;
    remove.name = request->name;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_TOPIC;
    command.delete_topic = &remove;
    propose_command(broker, connection_id, header, &command);
}

static void handle_alter_topic_config(struct broker *broker, uint64_t connection_id,
                                      const struct proto_frame_header *header,
                                      const Ether__AlterTopicConfigRequest *request)
{
    Ether__ControllerAlterTopicConfig alter = ETHER__CONTROLLER_ALTER_TOPIC_CONFIG__INIT;
    alter.name = request->name;
    Ether__ControllerAlterTopicConfig__SetEntry *entries =
        ether_calloc(request->n_set > 0 ? request->n_set : 1, sizeof *entries);
    Ether__ControllerAlterTopicConfig__SetEntry **pointers =
        ether_calloc(request->n_set > 0 ? request->n_set : 1, sizeof *pointers);
    for (size_t i = 0; i < request->n_set; i++) {
        ether__controller_alter_topic_config__set_entry__init(&entries[i]);
        entries[i].key = request->set[i]->key;
        entries[i].value = request->set[i]->value;
        pointers[i] = &entries[i];
    }
    alter.n_set = request->n_set;
    alter.set = pointers;
    alter.n_delete_ = request->n_delete_;
    alter.delete_ = request->delete_;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_ALTER_TOPIC_CONFIG;
    command.alter_topic_config = &alter;
    propose_command(broker, connection_id, header, &command);
    ether_free(entries);
    ether_free(pointers);
}

enum { PRODUCER_ID_BLOCK_SIZE = 1000 };

static void on_block_proposed(void *context, int rc, uint64_t index, uint64_t term,
                              uint64_t leader_hint)
{
    (void)index;
    (void)term;
    (void)leader_hint;
    struct broker *broker = context;
    if (rc != ETHER_OK) {
        broker->controller.producer_block_requested = false;
        fail_waiting_for_block(broker, rc, "could not allocate producer ids");
    }
}

/* Unnamed producers get ids from this broker's block; a new block comes through Raft. */
static void init_unnamed_producer(struct broker *broker, uint64_t connection_id,
                                  const struct proto_frame_header *header)
{
    struct broker_controller *controller = &broker->controller;
    if (controller->producer_ids_next < controller->producer_ids_end) {
        int64_t producer_id = (int64_t)controller->producer_ids_next++;
        respond_init_producer(broker, connection_id, header->correlation_id, ETHER_OK, NULL,
                              producer_id, 0);
        return;
    }
    struct pending_admin *waiting = ether_calloc(1, sizeof *waiting);
    waiting->broker = broker;
    waiting->connection_id = connection_id;
    waiting->correlation_id = header->correlation_id;
    waiting->api_key = header->api_key;
    waiting->next = (struct pending_admin *)controller->waiting_for_block;
    controller->waiting_for_block = (struct broker_pending_admin *)waiting;
    if (controller->producer_block_requested) {
        return;
    }
    Ether__ControllerAllocateProducerIdBlock allocate =
        ETHER__CONTROLLER_ALLOCATE_PRODUCER_ID_BLOCK__INIT;
    allocate.broker_id = broker->broker_id;
    allocate.block_size = PRODUCER_ID_BLOCK_SIZE;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_ALLOCATE_PRODUCER_ID_BLOCK;
    command.allocate_producer_id_block = &allocate;
    int rc = propose_packed(broker, &command, on_block_proposed, broker);
    if (rc != ETHER_OK) {
        fail_waiting_for_block(broker, rc, ether_strerror(rc));
        return;
    }
    controller->producer_block_requested = true;
}

/* A block allocated to this broker was applied: answer the requests waiting for it. */
static void block_allocated(struct broker *broker, const struct controller_apply_result *result)
{
    struct broker_controller *controller = &broker->controller;
    if (result->error != ETHER_OK || result->broker_id != broker->broker_id) {
        return;
    }
    controller->producer_block_requested = false;
    controller->producer_ids_next = result->producer_id_first;
    controller->producer_ids_end = result->producer_id_first + result->producer_id_count;
    struct pending_admin *waiting = (struct pending_admin *)controller->waiting_for_block;
    controller->waiting_for_block = NULL;
    while (waiting != NULL) {
        struct pending_admin *next = waiting->next;
        struct proto_frame_header header = {.api_key = waiting->api_key,
                                            .correlation_id = waiting->correlation_id};
        init_unnamed_producer(broker, waiting->connection_id, &header);
        ether_free(waiting);
        waiting = next;
    }
}

/*
 * InitProducerId: named producers go through the controller's log (the same
 * name gets the same id with a higher epoch); unnamed ones get an id from
 * the controller leader's block. Either way only the controller leader
 * answers, so ids stay unique across failovers (blocks are in the log).
 */
static void handle_init_producer(struct broker *broker, uint64_t connection_id,
                                 const struct proto_frame_header *header,
                                 const Ether__InitProducerIdRequest *request)
{
    if (!is_controller_leader(broker)) {
        char message[96];
        snprintf(message, sizeof message, "this broker is not the controller; broker %llu is",
                 (unsigned long long)broker->controller.leader_broker_id);
        respond_init_producer(broker, connection_id, header->correlation_id, ETHER_ERR_NOT_LEADER,
                              message, -1, 0);
        return;
    }
    if (request->producer_name == NULL || request->producer_name[0] == '\0') {
        init_unnamed_producer(broker, connection_id, header);
        return;
    }
    Ether__ControllerInitProducer init = ETHER__CONTROLLER_INIT_PRODUCER__INIT;
    init.producer_name = request->producer_name;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_INIT_PRODUCER;
    command.init_producer = &init;
    propose_command(broker, connection_id, header, &command);
}

/* ---- users and ACLs ------------------------------------------------------------------------ */

/*
 * The password stops here: the leader's broker salts and hashes it, and only the credential
 * goes into the controller's log. PBKDF2 runs on the event loop, hence the lower cap on
 * iterations than a client accepts.
 */
static void create_user(struct broker *broker, uint64_t connection_id,
                        const struct proto_frame_header *header,
                        const Ether__CreateUserRequest *request)
{
    if (!broker_server_connection_uses_tls(broker->server, connection_id)) {
        respond_admin(broker, connection_id, header->api_key, header->correlation_id,
                      ETHER_ERR_UNSUPPORTED,
                      "a new user's password travels in the request: only over TLS");
        return;
    }
    uint32_t iterations =
        request->iterations != 0 ? request->iterations : ETHER_SCRAM_ITERATIONS_DEFAULT;
    char problem[96] = "";
    if (request->name == NULL || !ether_scram_user_name_valid(request->name)) {
        snprintf(problem, sizeof problem,
                 "a user name is 1 to %d printable ASCII characters without spaces",
                 ETHER_SCRAM_USER_BYTES_MAX);
    } else if (request->password == NULL || request->password[0] == '\0' ||
               strlen(request->password) > ETHER_SCRAM_PASSWORD_BYTES_MAX) {
        snprintf(problem, sizeof problem, "a password is 1 to %d bytes",
                 ETHER_SCRAM_PASSWORD_BYTES_MAX);
    } else if (iterations < ETHER_SCRAM_ITERATIONS_MIN ||
               iterations > ETHER_SCRAM_ITERATIONS_CREATE_MAX) {
        snprintf(problem, sizeof problem, "iterations must be from %d to %d, not %u",
                 ETHER_SCRAM_ITERATIONS_MIN, ETHER_SCRAM_ITERATIONS_CREATE_MAX, iterations);
    }
    if (problem[0] != '\0') {
        respond_admin(broker, connection_id, header->api_key, header->correlation_id,
                      ETHER_ERR_INVALID_ARGUMENT, problem);
        return;
    }
    if (refused_unless_leader(broker, connection_id, header)) {
        return; /* before anything is hashed */
    }
    struct ether_scram_credential credential;
    int rc = ether_scram_credential_new(request->password, iterations, &credential);
    if (rc != ETHER_OK) {
        respond_admin(broker, connection_id, header->api_key, header->correlation_id, rc,
                      "cannot derive the credential");
        return;
    }
    Ether__ControllerUpsertUser upsert = ETHER__CONTROLLER_UPSERT_USER__INIT;
    upsert.name = request->name;
    upsert.mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
    upsert.iterations = credential.iterations;
    upsert.salt.data = credential.salt;
    upsert.salt.len = credential.salt_bytes;
    upsert.stored_key.data = credential.stored_key;
    upsert.stored_key.len = sizeof credential.stored_key;
    upsert.server_key.data = credential.server_key;
    upsert.server_key.len = sizeof credential.server_key;
    upsert.replace = request->replace;
    /* The first user brings the secret that unknown users' made-up credentials come from. */
    uint8_t secret[CONTROLLER_UNKNOWN_USER_SECRET_BYTES];
    if (!broker->controller.state.has_unknown_user_secret) {
        if (RAND_bytes(secret, sizeof secret) != 1) {
            respond_admin(broker, connection_id, header->api_key, header->correlation_id,
                          ETHER_ERR_IO, "no randomness for the unknown-user secret");
            OPENSSL_cleanse(&credential, sizeof credential);
            return;
        }
        upsert.unknown_user_secret.data = secret;
        upsert.unknown_user_secret.len = sizeof secret;
    }
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_UPSERT_USER;
    command.upsert_user = &upsert;
    propose_command(broker, connection_id, header, &command);
    OPENSSL_cleanse(&credential, sizeof credential);
    OPENSSL_cleanse(secret, sizeof secret);
}

/* The password is wiped from the request whatever the outcome. */
static void handle_create_user(struct broker *broker, uint64_t connection_id,
                               const struct proto_frame_header *header,
                               Ether__CreateUserRequest *request)
{
    create_user(broker, connection_id, header, request);
    if (request->password != NULL) {
        OPENSSL_cleanse(request->password, strlen(request->password));
    }
}

static void handle_delete_user(struct broker *broker, uint64_t connection_id,
                               const struct proto_frame_header *header,
                               const Ether__DeleteUserRequest *request)
{
    Ether__ControllerDeleteUser remove = ETHER__CONTROLLER_DELETE_USER__INIT;
    remove.name = request->name;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_USER;
    command.delete_user = &remove;
    propose_command(broker, connection_id, header, &command);
}

static void handle_change_acl(struct broker *broker, uint64_t connection_id,
                              const struct proto_frame_header *header, Ether__AclBinding *binding)
{
    if (binding == NULL) {
        respond_admin(broker, connection_id, header->api_key, header->correlation_id,
                      ETHER_ERR_INVALID_ARGUMENT, "the request has no ACL binding");
        return;
    }
    Ether__ControllerCreateAcl create = ETHER__CONTROLLER_CREATE_ACL__INIT;
    Ether__ControllerDeleteAcl remove = ETHER__CONTROLLER_DELETE_ACL__INIT;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    if (header->api_key == PROTO_API_CREATE_ACL) {
        create.binding = binding;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_ACL;
        command.create_acl = &create;
    } else {
        remove.binding = binding;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_ACL;
        command.delete_acl = &remove;
    }
    propose_command(broker, connection_id, header, &command);
}

/* Lists are answered from this broker's copy of the controller state. */
static void handle_list_users(struct broker *broker, uint64_t connection_id,
                              const struct proto_frame_header *header)
{
    const struct controller_state *state = &broker->controller.state;
    Ether__ListUsersResponse response = ETHER__LIST_USERS_RESPONSE__INIT;
    Ether__UserListing *listings =
        ether_calloc(state->users_count > 0 ? state->users_count : 1, sizeof *listings);
    Ether__UserListing **pointers =
        ether_calloc(state->users_count > 0 ? state->users_count : 1, sizeof *pointers);
    for (size_t i = 0; i < state->users_count; i++) {
        ether__user_listing__init(&listings[i]);
        listings[i].name = state->users[i].name;
        listings[i].mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
        listings[i].iterations = state->users[i].credential.iterations;
        pointers[i] = &listings[i];
    }
    response.n_users = state->users_count;
    response.users = pointers;
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    ether_free(listings);
    ether_free(pointers);
}

static void handle_list_acls(struct broker *broker, uint64_t connection_id,
                             const struct proto_frame_header *header,
                             const Ether__ListAclsRequest *request)
{
    const struct controller_state *state = &broker->controller.state;
    size_t capacity = state->acls_count > 0 ? state->acls_count : 1;
    Ether__AclBinding *bindings = ether_calloc(capacity, sizeof *bindings);
    Ether__AclBinding **pointers = ether_calloc(capacity, sizeof *pointers);
    size_t count = 0;
    for (size_t i = 0; i < state->acls_count; i++) {
        const struct acl_binding *acl = &state->acls[i];
        if (!acl_binding_matches_filter(acl, request->principal,
                                        (enum acl_resource_type)request->resource_type,
                                        request->resource_name)) {
            continue;
        }
        Ether__AclBinding *out = &bindings[count];
        ether__acl_binding__init(out);
        out->principal = (char *)(uintptr_t)acl->principal;
        out->resource_type = (Ether__AclResourceType)acl->resource_type;
        out->resource_name = (char *)(uintptr_t)acl->resource_name;
        out->pattern = (Ether__AclPatternType)acl->pattern;
        out->operation = (Ether__AclOperation)acl->operation;
        out->permission = (Ether__AclPermission)acl->permission;
        pointers[count++] = out;
    }
    Ether__ListAclsResponse response = ETHER__LIST_ACLS_RESPONSE__INIT;
    response.n_bindings = count;
    response.bindings = pointers;
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
    ether_free(bindings);
    ether_free(pointers);
}

bool broker_controller_caught_up(const struct broker *broker)
{
    if (broker->controller.replica == NULL) {
        return false;
    }
    struct raft_status status;
    broker_replica_status(broker->controller.replica, &status);
    return status.leader_id != RAFT_ID_NONE && status.commit_index > 0 &&
           status.applied_index >= status.commit_index;
}

/*
 * With authorization on, a listing leaves out the topics the client may not describe, and a
 * topic it names gets TOPIC_AUTHORIZATION_FAILED whether it exists or not (so the answer
 * does not tell which topics exist).
 */
static void hide_undescribable_topics(struct broker *broker, uint64_t connection_id,
                                      const Ether__MetadataRequest *request,
                                      Ether__MetadataResponse *response)
{
    if (!broker->config->authorization) {
        return;
    }
    bool named = request != NULL && request->n_topics > 0;
    size_t kept = 0;
    size_t refused_count = 0;
    char first_refused[ACL_RESOURCE_BYTES_MAX + 1] = "";
    for (size_t i = 0; i < response->n_topics; i++) {
        Ether__TopicMetadata *topic = response->topics[i];
        if (broker_security_may(broker, connection_id, ACL_RESOURCE_TOPIC, topic->name,
                                ACL_OPERATION_DESCRIBE)) {
            response->topics[kept++] = topic;
            continue;
        }
        if (!named) {
            proto_message_free(&topic->base);
            continue;
        }
        if (refused_count++ == 0) {
            snprintf(first_refused, sizeof first_refused, "%s", topic->name);
        }
        Ether__TopicMetadata *refused = ether_malloc(sizeof *refused);
        *refused = (Ether__TopicMetadata)ETHER__TOPIC_METADATA__INIT;
        refused->name = ether_strdup(topic->name);
        refused->error = ETHER_ERR_TOPIC_AUTHORIZATION_FAILED;
        proto_message_free(&topic->base);
        response->topics[kept++] = refused;
    }
    response->n_topics = kept;
    if (refused_count > 0) {
        broker_security_note_denials(broker, connection_id, PROTO_API_METADATA, ACL_RESOURCE_TOPIC,
                                     first_refused, refused_count, ACL_OPERATION_DESCRIBE);
    }
}

static void handle_metadata(struct broker *broker, uint64_t connection_id,
                            const struct proto_frame_header *header,
                            const Ether__MetadataRequest *request)
{
    Ether__MetadataResponse *response = NULL;
    controller_state_metadata(&broker->controller.state, request, &response);
    hide_undescribable_topics(broker, connection_id, request, response);
    /* The controller is reported only by a broker whose view of the cluster is complete
     * (it applied everything it knows to be committed): a broker with an empty disk
     * decides who it is from such answers. */
    response->controller_id =
        broker_controller_caught_up(broker) ? (uint32_t)broker->controller.leader_broker_id : 0;
    /* Non-empty once this broker belongs to a cluster that exists: a broker with an empty
     * disk asks for this to tell a cluster being founded from one it must rejoin. */
    if (broker->knows_cluster || broker->controller.state.applied_index > 0) {
        response->cluster_id = ether_strdup("ether");
    }
    broker_partitions_fill_metadata(broker, response);
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response->base);
    proto_message_free(&response->base);
}

void broker_controller_handle(struct broker *broker, uint64_t connection_id,
                              const struct proto_frame_header *header, ProtobufCMessage *request)
{
    switch (header->api_key) {
    case PROTO_API_METADATA:
        handle_metadata(broker, connection_id, header, (Ether__MetadataRequest *)request);
        break;
    case PROTO_API_CREATE_TOPIC:
        handle_create_topic(broker, connection_id, header, (Ether__CreateTopicRequest *)request);
        break;
    case PROTO_API_DELETE_TOPIC:
        handle_delete_topic(broker, connection_id, header, (Ether__DeleteTopicRequest *)request);
        break;
    case PROTO_API_ALTER_TOPIC_CONFIG:
        handle_alter_topic_config(broker, connection_id, header,
                                  (Ether__AlterTopicConfigRequest *)request);
        break;
    case PROTO_API_INIT_PRODUCER_ID:
        handle_init_producer(broker, connection_id, header,
                             (Ether__InitProducerIdRequest *)request);
        break;
    case PROTO_API_CREATE_USER:
        handle_create_user(broker, connection_id, header, (Ether__CreateUserRequest *)request);
        break;
    case PROTO_API_DELETE_USER:
        handle_delete_user(broker, connection_id, header, (Ether__DeleteUserRequest *)request);
        break;
    case PROTO_API_LIST_USERS:
        handle_list_users(broker, connection_id, header);
        break;
    case PROTO_API_CREATE_ACL:
        handle_change_acl(broker, connection_id, header,
                          ((Ether__CreateAclRequest *)request)->binding);
        break;
    case PROTO_API_DELETE_ACL:
        handle_change_acl(broker, connection_id, header,
                          ((Ether__DeleteAclRequest *)request)->binding);
        break;
    case PROTO_API_LIST_ACLS:
        handle_list_acls(broker, connection_id, header, (Ether__ListAclsRequest *)request);
        break;
    default:
        broker_respond_error(broker, connection_id, header, ETHER_ERR_UNSUPPORTED,
                             "this broker does not serve that api");
        break;
    }
    proto_message_free(request);
}

/* ---- applying committed commands --------------------------------------------------------- */

static void answer_applied(struct broker *broker, uint64_t index,
                           const struct controller_apply_result *result)
{
    struct pending_admin **link = (struct pending_admin **)&broker->controller.pending;
    while (*link != NULL) {
        struct pending_admin *pending = *link;
        if (pending->index != index) {
            link = &pending->next;
            continue;
        }
        *link = pending->next;
        if (pending->api_key == PROTO_API_INIT_PRODUCER_ID && result->error == ETHER_OK) {
            respond_init_producer(broker, pending->connection_id, pending->correlation_id, ETHER_OK,
                                  NULL, (int64_t)result->producer_id,
                                  (uint32_t)result->producer_epoch);
        } else {
            respond_admin(broker, pending->connection_id, pending->api_key, pending->correlation_id,
                          result->error, result->error != ETHER_OK ? result->message : "");
        }
        ether_free(pending);
    }
}

static void update_peers(struct broker *broker)
{
    const struct controller_state *state = &broker->controller.state;
    for (size_t i = 0; i < state->brokers_count; i++) {
        const struct controller_broker *registered = &state->brokers[i];
        if (registered->broker_id != broker->broker_id) {
            broker_transport_set_peer(broker->transport, registered->broker_id, registered->host,
                                      registered->port);
        }
    }
}

void broker_controller_apply(struct broker *broker, const struct raft_entry *entries,
                             size_t entries_count)
{
    bool brokers_changed = false;
    for (size_t i = 0; i < entries_count; i++) {
        const struct raft_entry *entry = &entries[i];
        if (entry->type != RAFT_ENTRY_NORMAL) {
            continue;
        }
        struct controller_apply_result result;
        controller_state_apply(&broker->controller.state, entry->data, entry->data_bytes,
                               entry->index, &result);
        if (result.error != ETHER_OK) {
            ether_log_info(broker->logger, "controller entry %llu refused: %s",
                           (unsigned long long)entry->index, result.message);
        }
        if (result.type == CONTROLLER_COMMAND_REGISTER_BROKER && result.error == ETHER_OK) {
            brokers_changed = true;
        }
        if (result.type == CONTROLLER_COMMAND_ALLOCATE_PRODUCER_ID_BLOCK) {
            block_allocated(broker, &result);
        }
        answer_applied(broker, entry->index, &result);
        if (broker->controller.registration_in_flight &&
            entry->index >= broker->controller.registration_index &&
            broker->controller.registration_index != 0) {
            broker->controller.registration_in_flight = false;
            broker->controller.registration_index = 0;
        }
    }
    if (brokers_changed) {
        update_peers(broker);
    }
    broker_partitions_reconcile(broker);
}

void broker_controller_role_changed(struct broker *broker, const struct raft_status *status)
{
    broker->controller.leader_broker_id = broker_node_broker_id(status->leader_id);
    ether_log_info(broker->logger, "controller: %s in term %llu, leader broker %llu",
                   raft_role_name(status->role), (unsigned long long)status->term,
                   (unsigned long long)broker->controller.leader_broker_id);
    if (status->role == RAFT_LEADER) {
        broker_controller_housekeeping(broker);
    } else {
        broker->controller.registration_in_flight = false;
        char message[96];
        snprintf(message, sizeof message, "controller leadership moved to broker %llu",
                 (unsigned long long)broker->controller.leader_broker_id);
        fail_pending(broker, ETHER_ERR_NOT_LEADER, message);
    }
}

static void on_registration_proposed(void *context, int rc, uint64_t index, uint64_t term,
                                     uint64_t leader_hint)
{
    (void)term;
    (void)leader_hint;
    struct broker *broker = context;
    if (rc != ETHER_OK) {
        broker->controller.registration_in_flight = false;
        return;
    }
    broker->controller.registration_index = index;
}

static void on_offsets_topic_proposed(void *context, int rc, uint64_t index, uint64_t term,
                                      uint64_t leader_hint)
{
    (void)context;
    (void)rc;
    (void)index;
    (void)term;
    (void)leader_hint;
}

/* Creates __consumer_offsets (at most one proposal per OFFSETS_TOPIC_RETRY_MS). */
static void create_offsets_topic(struct broker *broker)
{
    uint32_t partitions = 0;
    uint32_t replication_factor = 0;
    uint64_t now_ms = uv_now(broker->loop);
    if (!broker_offsets_topic_wanted(broker, &partitions, &replication_factor) ||
        (broker->controller.offsets_topic_proposed_ms != 0 &&
         now_ms - broker->controller.offsets_topic_proposed_ms < OFFSETS_TOPIC_RETRY_MS)) {
        return;
    }
    /* Snapshots hold every committed offset, so segments before them can all go. */
    char segment_bytes[24];
    snprintf(segment_bytes, sizeof segment_bytes, "%" PRIu32,
             broker->config->offsets_topic_segment_bytes);
    const char *const configs[][2] = {
        {"cleanup.policy", "compact"},
        {"retention.bytes", "1"},
        {"retention.ms", "-1"},
        {"segment.bytes", segment_bytes},
    };
    enum { CONFIGS_COUNT = sizeof configs / sizeof configs[0] };
    Ether__ControllerCreateTopic__ConfigsEntry entries[CONFIGS_COUNT];
    Ether__ControllerCreateTopic__ConfigsEntry *pointers[CONFIGS_COUNT];
    for (size_t i = 0; i < CONFIGS_COUNT; i++) {
        ether__controller_create_topic__configs_entry__init(&entries[i]);
        entries[i].key = (char *)(uintptr_t)configs[i][0];
        entries[i].value = (char *)(uintptr_t)configs[i][1];
        pointers[i] = &entries[i];
    }
    Ether__ControllerCreateTopic create = ETHER__CONTROLLER_CREATE_TOPIC__INIT;
    create.name = BROKER_OFFSETS_TOPIC;
    create.partitions = partitions;
    create.replication_factor = replication_factor;
    create.n_configs = CONFIGS_COUNT;
    create.configs = pointers;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_TOPIC;
    command.create_topic = &create;
    int rc = propose_packed(broker, &command, on_offsets_topic_proposed, broker);
    if (rc != ETHER_OK) {
        return;
    }
    broker->controller.offsets_topic_proposed_ms = now_ms;
    ether_log_info(broker->logger, "creating %s: %u partitions, replication factor %u",
                   BROKER_OFFSETS_TOPIC, partitions, replication_factor);
}

/*
 * The controller leader registers every seed broker that is not registered
 * yet (all of them in one round, so that topics can be created right after a
 * cluster's first election).
 */
void broker_controller_housekeeping(struct broker *broker)
{
    struct broker_controller *controller = &broker->controller;
    if (!is_controller_leader(broker) || controller->registration_in_flight) {
        return;
    }
    bool proposed = false;
    for (size_t i = 0; i < broker->config->seeds_count; i++) {
        const struct broker_seed *seed = &broker->config->seeds[i];
        const struct controller_broker *registered =
            controller_state_broker(&controller->state, seed->broker_id);
        /* A broker is registered with the incarnation and rack its own frames announce. */
        uint32_t incarnation = broker_observed_incarnation(broker, seed->broker_id);
        const char *rack = broker_observed_rack(broker, seed->broker_id);
        if (incarnation == 0 || (registered != NULL && registered->incarnation > incarnation) ||
            (registered != NULL && registered->incarnation == incarnation &&
             registered->port == seed->port && strcmp(registered->host, seed->host) == 0 &&
             strcmp(registered->rack, rack) == 0)) {
            continue;
        }
        Ether__ControllerRegisterBroker registration = ETHER__CONTROLLER_REGISTER_BROKER__INIT;
        registration.broker_id = seed->broker_id;
        registration.host = (char *)(uintptr_t)seed->host;
        registration.port = seed->port;
        registration.rack = (char *)(uintptr_t)rack;
        registration.incarnation = incarnation;
        Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_REGISTER_BROKER;
        command.register_broker = &registration;
        if (propose_packed(broker, &command, on_registration_proposed, broker) != ETHER_OK) {
            break;
        }
        proposed = true;
    }
    /* The last proposal's index clears the flag when it is applied. */
    controller->registration_in_flight = proposed;
    if (!proposed) {
        reconcile_controller_membership(broker);
        create_offsets_topic(broker);
    }
}

/*
 * The controller group's members should be the seeds' registered
 * incarnations: the first BROKER_CONTROLLER_VOTERS_MAX as voters, the rest
 * as learners.
 */
static void reconcile_controller_membership(struct broker *broker)
{
    const struct controller_state *state = &broker->controller.state;
    struct raft_configuration desired = {0};
    uint32_t voters = 0;
    for (size_t i = 0; i < broker->config->seeds_count && i < RAFT_SERVERS_MAX; i++) {
        const struct controller_broker *registered =
            controller_state_broker(state, broker->config->seeds[i].broker_id);
        if (registered == NULL) {
            return; /* not every seed is known yet: change nothing */
        }
        desired.servers[desired.servers_count++] = (struct raft_server){
            .id = broker_node_id(registered->broker_id, (uint32_t)registered->incarnation),
            .role = i < BROKER_CONTROLLER_VOTERS_MAX ? RAFT_VOTER : RAFT_LEARNER,
        };
        voters += i < BROKER_CONTROLLER_VOTERS_MAX;
    }
    broker_membership_reconcile(broker, broker->controller.replica, &desired, voters);
}

/* A learner within this many entries of the leader's log is promoted. */
enum { PROMOTION_LAG_ENTRIES_MAX = 16 };

void broker_membership_reconcile(struct broker *broker, struct broker_replica *replica,
                                 const struct raft_configuration *desired,
                                 uint32_t desired_voters_count)
{
    (void)desired_voters_count;
    struct raft_status status;
    broker_replica_status(replica, &status);
    if (status.role != RAFT_LEADER || status.commit_index < status.configuration_index) {
        return; /* not ours to change, or a change is still being committed */
    }
    const struct raft_configuration *current = broker_replica_configuration(replica);
    /* 1. Members that are no longer wanted: an incarnation that lost its disk, or a
     *    replica moved away. They cannot come back as they were, so they go first. */
    for (uint32_t s = 0; s < current->servers_count; s++) {
        const struct raft_server *server = &current->servers[s];
        if (raft_configuration_find(desired, server->id) < 0 && server->id != status.id) {
            ether_log_info(broker->logger, "group %llx: removing member %llx",
                           (unsigned long long)broker_replica_group_id(replica),
                           (unsigned long long)server->id);
            broker_replica_change_configuration(replica, RAFT_CHANGE_REMOVE, server->id);
            return;
        }
    }
    /* 2. Wanted members that are missing join as learners: they vote only once caught up. */
    for (uint32_t d = 0; d < desired->servers_count; d++) {
        if (raft_configuration_find(current, desired->servers[d].id) < 0) {
            ether_log_info(broker->logger, "group %llx: adding member %llx as a learner",
                           (unsigned long long)broker_replica_group_id(replica),
                           (unsigned long long)desired->servers[d].id);
            broker_replica_change_configuration(replica, RAFT_CHANGE_ADD_LEARNER,
                                                desired->servers[d].id);
            return;
        }
    }
    /* 3. Learners that should vote are promoted once their log has caught up. */
    for (uint32_t s = 0; s < current->servers_count; s++) {
        const struct raft_server *server = &current->servers[s];
        int wanted = raft_configuration_find(desired, server->id);
        struct raft_progress_info progress;
        if (server->role == RAFT_LEARNER && wanted >= 0 &&
            desired->servers[wanted].role == RAFT_VOTER &&
            broker_replica_progress(replica, server->id, &progress) == ETHER_OK &&
            progress.match_index + PROMOTION_LAG_ENTRIES_MAX >= status.last_index) {
            ether_log_info(broker->logger, "group %llx: member %llx caught up; promoting it",
                           (unsigned long long)broker_replica_group_id(replica),
                           (unsigned long long)server->id);
            broker_replica_change_configuration(replica, RAFT_CHANGE_PROMOTE, server->id);
            return;
        }
    }
}
