/*
 * security.c: sessions, SCRAM logins and the authorization gate (see security.h).
 *
 * Happy path: the first request of a connection makes its session (principal from the
 * certificate, if any); broker_security_admit then looks up the resource and operation the
 * request needs and asks acl_authorize with the controller state's bindings.
 *
 * Failure modes: a denial answers with an ErrorResponse and keeps the connection (the
 * client may have other rights); a failed or repeated login, or a request before the
 * login a listener requires, answers and then closes the connection once the answer is
 * written.
 */
#include "broker/security.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "broker/principal_rule.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/scram.h"

enum { PRINCIPAL_BUFFER_BYTES = ACL_PRINCIPAL_BYTES_MAX + 1 };

struct session {
    bool anonymous;                   /* no certificate and no login (yet) */
    uint32_t certificate_broker_id;   /* N of a certificate CN broker-N; 0 for others */
    bool scram_done;                  /* authenticated by SCRAM */
    bool scram_failed;                /* the connection is closing */
    struct ether_scram_server *scram; /* between client-first and client-final */
    char scram_user[ETHER_SCRAM_USER_BYTES_MAX + 1];
    char principal[PRINCIPAL_BUFFER_BYTES]; /* "" when anonymous */
};

static void session_free(void *context)
{
    struct session *session = context;
    ether_scram_server_free(session->scram);
    ether_free(session);
}

/* N of "broker-N" (N a broker id without leading zeros); 0 for any other name. */
static uint32_t broker_id_of_name(const char *name)
{
    static const char prefix[] = "broker-";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) {
        return 0;
    }
    const char *digits = name + sizeof prefix - 1;
    if (digits[0] < '1' || digits[0] > '9' || strlen(digits) > 10) {
        return 0;
    }
    uint64_t id = 0;
    for (const char *c = digits; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') {
            return 0;
        }
        id = id * 10 + (uint64_t)(*c - '0');
    }
    return id <= UINT32_MAX ? (uint32_t)id : 0;
}

static struct session *session_for(struct broker *broker, uint64_t connection_id)
{
    struct session *session = broker_server_connection_context(broker->server, connection_id);
    if (session != NULL) {
        return session;
    }
    session = ether_calloc(1, sizeof *session);
    session->anonymous = true;
    const char *common_name =
        broker_server_connection_certificate_name(broker->server, connection_id);
    if (common_name != NULL) {
        session->certificate_broker_id = broker_id_of_name(common_name);
        int rc = ETHER_OK;
        if (broker->security.principal_rule != NULL && session->certificate_broker_id == 0) {
            rc = principal_rule_apply(broker->security.principal_rule, common_name,
                                      session->principal, sizeof session->principal);
        } else if (strlen(common_name) < sizeof session->principal) {
            memcpy(session->principal, common_name, strlen(common_name) + 1);
        } else {
            rc = ETHER_ERR_TOO_LARGE;
        }
        if (rc == ETHER_OK) {
            session->anonymous = false;
        } else {
            session->principal[0] = '\0';
            ether_log_warn(broker->logger,
                           "connection %llu: certificate CN %.64s gives no principal (%s); "
                           "the connection is anonymous",
                           (unsigned long long)connection_id, common_name, ether_strerror(rc));
        }
    }
    if (broker_server_set_connection_context(broker->server, connection_id, session,
                                             session_free) != ETHER_OK) {
        session_free(session);
        return NULL; /* the connection is gone */
    }
    return session;
}

int broker_security_open(struct broker *broker, char *errbuf, size_t errbuf_size)
{
    struct broker_security *security = &broker->security;
    memset(security, 0, sizeof *security);
    security->login_required =
        broker_config_tls_enabled(broker->config) &&
        broker_config_client_auth(broker->config) == BROKER_CLIENT_AUTH_REQUESTED;
    const char *rule = broker->config->tls_principal_rule;
    if (rule != NULL && rule[0] != '\0') {
        char problem[160];
        int rc = principal_rule_parse(rule, &security->principal_rule, problem, sizeof problem);
        if (rc != ETHER_OK) {
            snprintf(errbuf, errbuf_size, "tls-principal-rule: %s", problem);
            return rc;
        }
    }
    const char *names = broker->config->super_users != NULL ? broker->config->super_users : "";
    security->super_users_text = ether_strdup(names);
    size_t capacity = 1;
    for (const char *c = names; *c != '\0'; c++) {
        capacity += *c == ',';
    }
    security->super_users = ether_calloc(capacity, sizeof *security->super_users);
    char *save = NULL;
    for (char *name = strtok_r(security->super_users_text, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        while (*name == ' ') {
            name++;
        }
        size_t length = strlen(name);
        while (length > 0 && name[length - 1] == ' ') {
            name[--length] = '\0';
        }
        if (length > 0) {
            security->super_users[security->super_users_count++] = name;
        }
    }
    if (broker->config->authorization && security->super_users_count == 0) {
        ether_log_info(broker->logger, "authorization is on and super-users is empty: only "
                                       "brokers and the ACLs' principals may do anything");
    }
    return ETHER_OK;
}

void broker_security_close(struct broker *broker)
{
    struct broker_security *security = &broker->security;
    principal_rule_free(security->principal_rule);
    ether_free(security->super_users);
    ether_free(security->super_users_text);
    memset(security, 0, sizeof *security);
}

/* ---- decisions ---------------------------------------------------------------------------- */

/*
 * A cluster member: a certificate named broker-N (the cluster's CA signed it) for a broker
 * the cluster knows, a seed or a registered one, as the Raft check in broker.c demands too.
 */
static bool is_cluster_member(const struct broker *broker, const struct session *session)
{
    uint32_t id = session->certificate_broker_id;
    return id != 0 && (broker_is_seed(broker, id) ||
                       controller_state_broker(&broker->controller.state, id) != NULL);
}

static struct acl_super_users super_users_of(const struct broker *broker)
{
    return (struct acl_super_users){broker->security.super_users,
                                    broker->security.super_users_count};
}

static const char *principal_of(const struct session *session)
{
    return session->anonymous ? NULL : session->principal;
}

static bool session_allows(const struct broker *broker, const struct session *session,
                           enum acl_resource_type resource_type, const char *resource_name,
                           enum acl_operation operation)
{
    if (!broker->config->authorization || is_cluster_member(broker, session)) {
        return true;
    }
    const struct controller_state *state = &broker->controller.state;
    struct acl_super_users super_users = super_users_of(broker);
    struct acl_request request = {
        .principal = principal_of(session),
        .resource_type = resource_type,
        .resource_name = resource_name,
        .operation = operation,
    };
    return acl_authorize(state->acls, state->acls_count, &super_users, &request);
}

bool broker_security_may(struct broker *broker, uint64_t connection_id,
                         enum acl_resource_type resource_type, const char *resource_name,
                         enum acl_operation operation)
{
    if (!broker->config->authorization) {
        return true;
    }
    struct session *session = session_for(broker, connection_id);
    return session != NULL &&
           session_allows(broker, session, resource_type, resource_name, operation);
}

static int denial_error(enum acl_resource_type resource_type)
{
    switch (resource_type) {
    case ACL_RESOURCE_TOPIC:
        return ETHER_ERR_TOPIC_AUTHORIZATION_FAILED;
    case ACL_RESOURCE_GROUP:
        return ETHER_ERR_GROUP_AUTHORIZATION_FAILED;
    default:
        return ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED;
    }
}

void broker_security_note_denials(struct broker *broker, uint64_t connection_id, uint16_t api_key,
                                  enum acl_resource_type resource_type, const char *first_name,
                                  size_t count, enum acl_operation operation)
{
    ETHER_ASSERT(count >= 1 && resource_type <= ACL_RESOURCE_CLUSTER);
    struct session *session = session_for(broker, connection_id);
    const char *peer = broker_server_connection_peer_name(broker->server, connection_id);
    const char *api = proto_api_name(api_key);
    char more[48] = "";
    if (count > 1) {
        snprintf(more, sizeof more, " and %zu more", count - 1);
    }
    broker->security.denials[resource_type] += count;
    ether_log_warn(broker->logger, "denied %s%s%s %s on %s %.64s%s%s(%s request from %s)",
                   session == NULL || session->anonymous ? "anonymous" : "principal ",
                   session == NULL || session->anonymous ? "" : session->principal,
                   session != NULL && session->scram_done ? " (scram)" : "",
                   acl_operation_name(operation), acl_resource_type_name(resource_type), first_name,
                   more, first_name[0] != '\0' || more[0] != '\0' ? " " : "",
                   api != NULL ? api : "?", peer != NULL ? peer : "?");
}

/* Answers the request with the denial (but acks=0 produce, which gets no answer) and frees
 * it. `message` NULL: "not authorized to <operation> <resource>". */
static void deny(struct broker *broker, uint64_t connection_id,
                 const struct proto_frame_header *header, ProtobufCMessage *request,
                 enum acl_resource_type resource_type, const char *resource_name,
                 enum acl_operation operation, const char *message)
{
    char sentence[ACL_RESOURCE_BYTES_MAX + 96];
    if (message == NULL && resource_type == ACL_RESOURCE_CLUSTER) {
        snprintf(sentence, sizeof sentence, "not authorized to %s the cluster",
                 acl_operation_name(operation));
        message = sentence;
    } else if (message == NULL) {
        snprintf(sentence, sizeof sentence, "not authorized to %s %s %.255s",
                 acl_operation_name(operation), acl_resource_type_name(resource_type),
                 resource_name);
        message = sentence;
    }
    broker_security_note_denials(broker, connection_id, header->api_key, resource_type,
                                 resource_name, 1, operation);
    bool answered = !(header->api_key == PROTO_API_PRODUCE &&
                      ((const Ether__ProduceRequest *)request)->acks == ETHER__ACKS__ACKS_NONE);
    if (answered) {
        broker_respond_error(broker, connection_id, header, denial_error(resource_type), message);
    }
    proto_message_free(request);
}

/* What a request needs, for the requests that need one thing. */
struct requirement {
    enum acl_resource_type resource_type;
    const char *resource_name;
    enum acl_operation operation;
};

enum requirement_kind {
    REQUIREMENT_NOTHING,  /* METADATA, LIST_GROUPS filter their answers; the rest: own checks */
    REQUIREMENT_ONE,      /* `needed` */
    REQUIREMENT_COMPOUND, /* admit_compound */
};

static const char *or_empty(const char *value)
{
    return value != NULL ? value : "";
}

/* Each api has its row here: a new api is for super users until it gets one. */
#define PROTO_API_COUNT_ONE(name, key, version, request, response) +1
enum { APIS_COUNT = 0 PROTO_API_MAP(PROTO_API_COUNT_ONE) };
#undef PROTO_API_COUNT_ONE
_Static_assert(APIS_COUNT == 28, "a new api needs its row in requirement_of");

static enum requirement_kind requirement_of(uint16_t api_key, const ProtobufCMessage *request,
                                            struct requirement *needed)
{
    const enum acl_resource_type TOPIC = ACL_RESOURCE_TOPIC;
    const enum acl_resource_type GROUP = ACL_RESOURCE_GROUP;
    *needed = (struct requirement){ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_ALTER};
    switch (api_key) {
    case PROTO_API_METADATA:    /* filtered: topics it may describe */
    case PROTO_API_LIST_GROUPS: /* filtered: groups it may describe */
    case PROTO_API_AUTHENTICATE:
    case PROTO_API_RAFT_MESSAGES:
        return REQUIREMENT_NOTHING;
    case PROTO_API_CREATE_TOPIC:
    case PROTO_API_INIT_PRODUCER_ID:
    case PROTO_API_JOIN_GROUP:
    case PROTO_API_OFFSET_FETCH:
    case PROTO_API_OFFSET_COMMIT:
        return REQUIREMENT_COMPOUND;
    case PROTO_API_PRODUCE:
        *needed = (struct requirement){
            TOPIC, or_empty(((const Ether__ProduceRequest *)request)->topic), ACL_OPERATION_WRITE};
        return REQUIREMENT_ONE;
    case PROTO_API_FETCH:
        *needed = (struct requirement){
            TOPIC, or_empty(((const Ether__FetchRequest *)request)->topic), ACL_OPERATION_READ};
        return REQUIREMENT_ONE;
    case PROTO_API_DESCRIBE_PRODUCERS:
        *needed = (struct requirement){
            TOPIC, or_empty(((const Ether__DescribeProducersRequest *)request)->topic),
            ACL_OPERATION_READ};
        return REQUIREMENT_ONE;
    case PROTO_API_LIST_OFFSETS:
        *needed = (struct requirement){
            TOPIC, or_empty(((const Ether__ListOffsetsRequest *)request)->topic),
            ACL_OPERATION_DESCRIBE};
        return REQUIREMENT_ONE;
    case PROTO_API_DELETE_TOPIC:
        *needed = (struct requirement){TOPIC,
                                       or_empty(((const Ether__DeleteTopicRequest *)request)->name),
                                       ACL_OPERATION_DELETE};
        return REQUIREMENT_ONE;
    case PROTO_API_ALTER_TOPIC_CONFIG:
        *needed = (struct requirement){
            TOPIC, or_empty(((const Ether__AlterTopicConfigRequest *)request)->name),
            ACL_OPERATION_ALTER};
        return REQUIREMENT_ONE;
    case PROTO_API_FIND_COORDINATOR:
        *needed = (struct requirement){
            GROUP, or_empty(((const Ether__FindCoordinatorRequest *)request)->group),
            ACL_OPERATION_DESCRIBE};
        return REQUIREMENT_ONE;
    case PROTO_API_DESCRIBE_GROUP:
        *needed = (struct requirement){
            GROUP, or_empty(((const Ether__DescribeGroupRequest *)request)->group),
            ACL_OPERATION_DESCRIBE};
        return REQUIREMENT_ONE;
    case PROTO_API_SYNC_GROUP:
        *needed = (struct requirement){
            GROUP, or_empty(((const Ether__SyncGroupRequest *)request)->group), ACL_OPERATION_READ};
        return REQUIREMENT_ONE;
    case PROTO_API_HEARTBEAT:
        *needed = (struct requirement){
            GROUP, or_empty(((const Ether__HeartbeatRequest *)request)->group), ACL_OPERATION_READ};
        return REQUIREMENT_ONE;
    case PROTO_API_LEAVE_GROUP:
        *needed = (struct requirement){GROUP,
                                       or_empty(((const Ether__LeaveGroupRequest *)request)->group),
                                       ACL_OPERATION_READ};
        return REQUIREMENT_ONE;
    case PROTO_API_DELETE_GROUP:
        *needed = (struct requirement){
            GROUP, or_empty(((const Ether__DeleteGroupRequest *)request)->group),
            ACL_OPERATION_DELETE};
        return REQUIREMENT_ONE;
    case PROTO_API_LIST_USERS:
    case PROTO_API_LIST_ACLS:
        needed->operation = ACL_OPERATION_DESCRIBE;
        return REQUIREMENT_ONE;
    case PROTO_API_TRANSFER_LEADER:
    case PROTO_API_CREATE_USER:
    case PROTO_API_DELETE_USER:
    case PROTO_API_CREATE_ACL:
    case PROTO_API_DELETE_ACL:
    default:
        return REQUIREMENT_ONE; /* ALTER on the cluster */
    }
}

/* True when every topic may be `operation`ed; else denies (naming the first) and frees. */
static bool admit_topics(struct broker *broker, uint64_t connection_id,
                         const struct session *session, const struct proto_frame_header *header,
                         ProtobufCMessage *request, char *const *topics, size_t topics_count,
                         enum acl_operation operation)
{
    for (size_t i = 0; i < topics_count; i++) {
        const char *topic = or_empty(topics[i]);
        if (!session_allows(broker, session, ACL_RESOURCE_TOPIC, topic, operation)) {
            deny(broker, connection_id, header, request, ACL_RESOURCE_TOPIC, topic, operation,
                 NULL);
            return false;
        }
    }
    return true;
}

/* True when the group may be `operation`ed; else denies and frees. */
static bool admit_group(struct broker *broker, uint64_t connection_id,
                        const struct session *session, const struct proto_frame_header *header,
                        ProtobufCMessage *request, const char *group, enum acl_operation operation)
{
    if (session_allows(broker, session, ACL_RESOURCE_GROUP, or_empty(group), operation)) {
        return true;
    }
    deny(broker, connection_id, header, request, ACL_RESOURCE_GROUP, or_empty(group), operation,
         NULL);
    return false;
}

/* The checks of requests that need more than one thing. True when allowed; else denied. */
static bool admit_compound(struct broker *broker, uint64_t connection_id,
                           const struct session *session, const struct proto_frame_header *header,
                           ProtobufCMessage *request)
{
    switch (header->api_key) {
    case PROTO_API_CREATE_TOPIC: {
        const char *name = or_empty(((const Ether__CreateTopicRequest *)request)->name);
        if (session_allows(broker, session, ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_CREATE) ||
            session_allows(broker, session, ACL_RESOURCE_TOPIC, name, ACL_OPERATION_CREATE)) {
            return true;
        }
        deny(broker, connection_id, header, request, ACL_RESOURCE_TOPIC, name, ACL_OPERATION_CREATE,
             NULL);
        return false;
    }
    case PROTO_API_INIT_PRODUCER_ID: {
        const struct controller_state *state = &broker->controller.state;
        struct acl_super_users super_users = super_users_of(broker);
        if (is_cluster_member(broker, session) ||
            acl_authorize_any(state->acls, state->acls_count, &super_users, principal_of(session),
                              ACL_RESOURCE_TOPIC, ACL_OPERATION_WRITE)) {
            return true;
        }
        deny(broker, connection_id, header, request, ACL_RESOURCE_TOPIC, "*", ACL_OPERATION_WRITE,
             "not authorized to write to any topic, which an idempotent producer needs");
        return false;
    }
    case PROTO_API_JOIN_GROUP: {
        /* The assignment would tell of the subscribed topics' partitions. */
        const Ether__JoinGroupRequest *join = (const Ether__JoinGroupRequest *)request;
        return admit_group(broker, connection_id, session, header, request, join->group,
                           ACL_OPERATION_READ) &&
               admit_topics(broker, connection_id, session, header, request, join->topics,
                            join->n_topics, ACL_OPERATION_DESCRIBE);
    }
    case PROTO_API_OFFSET_FETCH: {
        /* Asked for every offset, the answer leaves out the topics it may not describe. */
        const Ether__OffsetFetchRequest *fetch = (const Ether__OffsetFetchRequest *)request;
        if (!admit_group(broker, connection_id, session, header, request, fetch->group,
                         ACL_OPERATION_DESCRIBE)) {
            return false;
        }
        for (size_t i = 0; i < fetch->n_partitions; i++) {
            if (!admit_topics(broker, connection_id, session, header, request,
                              &fetch->partitions[i]->topic, 1, ACL_OPERATION_DESCRIBE)) {
                return false;
            }
        }
        return true;
    }
    case PROTO_API_OFFSET_COMMIT: {
        const Ether__OffsetCommitRequest *commit = (const Ether__OffsetCommitRequest *)request;
        if (!admit_group(broker, connection_id, session, header, request, commit->group,
                         ACL_OPERATION_READ)) {
            return false;
        }
        for (size_t i = 0; i < commit->n_offsets; i++) {
            if (!admit_topics(broker, connection_id, session, header, request,
                              &commit->offsets[i]->topic, 1, ACL_OPERATION_READ)) {
                return false;
            }
        }
        return true;
    }
    default:
        ETHER_PANIC("admit_compound: an api requirement_of does not call compound");
    }
}

/* Answers AUTHENTICATION_FAILED and closes the connection once the answer is written. */
static void refuse_unauthenticated(struct broker *broker, uint64_t connection_id,
                                   const struct proto_frame_header *header,
                                   ProtobufCMessage *request)
{
    const char *peer = broker_server_connection_peer_name(broker->server, connection_id);
    const char *api = proto_api_name(header->api_key);
    ether_log_warn(broker->logger,
                   "refusing %s request from %s: the connection has neither a client "
                   "certificate nor a SCRAM-SHA-256 login; closing it",
                   api != NULL ? api : "?", peer != NULL ? peer : "?");
    broker->security.authentication_failures++;
    broker_respond_error(broker, connection_id, header, ETHER_ERR_AUTHENTICATION_FAILED,
                         "this listener needs a client certificate or a SCRAM-SHA-256 login "
                         "before any request");
    broker_server_close_connection_after_writes(broker->server, connection_id);
    proto_message_free(request);
}

bool broker_security_admit(struct broker *broker, uint64_t connection_id,
                           const struct proto_frame_header *header, ProtobufCMessage *request)
{
    bool login_required = broker->security.login_required;
    if (!login_required && !broker->config->authorization) {
        return true; /* the common case stays free of lookups */
    }
    if (header->api_key == PROTO_API_RAFT_MESSAGES || header->api_key == PROTO_API_AUTHENTICATE) {
        return true; /* checked by their handlers */
    }
    struct session *session = session_for(broker, connection_id);
    if (session == NULL) {
        proto_message_free(request);
        return false; /* the connection is gone */
    }
    if (login_required && session->anonymous) {
        refuse_unauthenticated(broker, connection_id, header, request);
        return false;
    }
    if (!broker->config->authorization || is_cluster_member(broker, session)) {
        return true;
    }
    struct requirement needed;
    switch (requirement_of(header->api_key, request, &needed)) {
    case REQUIREMENT_NOTHING:
        return true;
    case REQUIREMENT_COMPOUND:
        return admit_compound(broker, connection_id, session, header, request);
    case REQUIREMENT_ONE:
        if (session_allows(broker, session, needed.resource_type, needed.resource_name,
                           needed.operation)) {
            return true;
        }
        deny(broker, connection_id, header, request, needed.resource_type, needed.resource_name,
             needed.operation, NULL);
        return false;
    }
    ETHER_PANIC("requirement_of: unknown kind");
}

/* ---- SCRAM logins ------------------------------------------------------------------------- */

static void respond_authenticate(struct broker *broker, uint64_t connection_id,
                                 const struct proto_frame_header *header, int error,
                                 const char *message, const struct ether_buf *auth_bytes,
                                 const char *principal)
{
    Ether__AuthenticateResponse response = ETHER__AUTHENTICATE_RESPONSE__INIT;
    response.error = (uint32_t)error;
    response.error_message = (char *)(uintptr_t)(message != NULL ? message : "");
    if (auth_bytes != NULL) {
        response.auth_bytes.data = auth_bytes->data;
        response.auth_bytes.len = auth_bytes->length;
    }
    response.done = principal != NULL;
    response.principal = (char *)(uintptr_t)(principal != NULL ? principal : "");
    broker_respond(broker, connection_id, header->api_key, header->correlation_id, &response.base);
}

/* Answers a failed login, logs it once and closes the connection after the answer. */
static void fail_login(struct broker *broker, uint64_t connection_id,
                       const struct proto_frame_header *header, struct session *session, int error,
                       const char *message, const char *why)
{
    const char *peer = broker_server_connection_peer_name(broker->server, connection_id);
    ether_log_warn(broker->logger, "SCRAM-SHA-256 login%s%s from %s failed: %s; closing it",
                   session->scram_user[0] != '\0' ? " as " : "", session->scram_user,
                   peer != NULL ? peer : "?", why);
    broker->security.authentication_failures++;
    session->scram_failed = true;
    ether_scram_server_free(session->scram);
    session->scram = NULL;
    respond_authenticate(broker, connection_id, header, error, message, NULL, NULL);
    broker_server_close_connection_after_writes(broker->server, connection_id);
}

void broker_security_handle_authenticate(struct broker *broker, uint64_t connection_id,
                                         const struct proto_frame_header *header,
                                         ProtobufCMessage *unpacked)
{
    const Ether__AuthenticateRequest *request = (const Ether__AuthenticateRequest *)unpacked;
    struct session *session = session_for(broker, connection_id);
    if (session == NULL || session->scram_failed) {
        proto_message_free(unpacked);
        return;
    }
    char problem[ETHER_SCRAM_ERROR_BYTES];
    struct ether_buf answer = ETHER_BUF_INIT;
    if (!broker_server_connection_uses_tls(broker->server, connection_id)) {
        fail_login(broker, connection_id, header, session, ETHER_ERR_UNSUPPORTED,
                   "SCRAM-SHA-256 logins need TLS: this port is plaintext",
                   "the connection is plaintext");
    } else if (request->mechanism == NULL || strcmp(request->mechanism, ETHER_SCRAM_MECHANISM)) {
        fail_login(broker, connection_id, header, session, ETHER_ERR_UNSUPPORTED,
                   "the only SASL mechanism is SCRAM-SHA-256", "an unknown mechanism");
    } else if (!session->anonymous) {
        fail_login(broker, connection_id, header, session, ETHER_ERR_INVALID_ARGUMENT,
                   "this connection is already authenticated", "already authenticated");
    } else if (session->scram == NULL) {
        /* Step 1: client-first -> server-first. */
        session->scram = ether_scram_server_new();
        int rc = ether_scram_server_receive_first(
            session->scram, request->auth_bytes.data, request->auth_bytes.len, session->scram_user,
            sizeof session->scram_user, problem, sizeof problem);
        if (rc != ETHER_OK) {
            fail_login(broker, connection_id, header, session, ETHER_ERR_AUTHENTICATION_FAILED,
                       problem, problem);
        } else {
            const struct controller_state *state = &broker->controller.state;
            const struct controller_user *user = controller_state_user(state, session->scram_user);
            struct ether_scram_credential made_up;
            const struct ether_scram_credential *credential = NULL;
            if (user != NULL) {
                credential = &user->credential;
            } else if (state->has_unknown_user_secret) {
                /* Every broker makes up the same credential: asking two tells nothing. */
                ether_scram_credential_for_unknown_user(state->unknown_user_secret,
                                                        sizeof state->unknown_user_secret,
                                                        session->scram_user, &made_up);
                credential = &made_up;
            }
            rc = ether_scram_server_first(session->scram, credential, &answer);
            if (credential == &made_up) {
                OPENSSL_cleanse(&made_up, sizeof made_up);
            }
            if (rc != ETHER_OK) {
                fail_login(broker, connection_id, header, session, rc, ether_strerror(rc),
                           ether_strerror(rc));
            } else {
                respond_authenticate(broker, connection_id, header, ETHER_OK, NULL, &answer, NULL);
            }
        }
    } else {
        /* Step 2: client-final -> server-final; the login is done. */
        int rc =
            ether_scram_server_final(session->scram, request->auth_bytes.data,
                                     request->auth_bytes.len, &answer, problem, sizeof problem);
        if (rc != ETHER_OK) {
            fail_login(broker, connection_id, header, session, ETHER_ERR_AUTHENTICATION_FAILED,
                       problem, "wrong user name or password");
        } else {
            ether_scram_server_free(session->scram);
            session->scram = NULL;
            session->scram_done = true;
            session->anonymous = false;
            snprintf(session->principal, sizeof session->principal, "%s", session->scram_user);
            broker->security.authentication_successes++;
            ether_log_info(broker->logger, "connection %llu logged in as %s (SCRAM-SHA-256)",
                           (unsigned long long)connection_id, session->principal);
            respond_authenticate(broker, connection_id, header, ETHER_OK, NULL, &answer,
                                 session->principal);
        }
    }
    ether_buf_free(&answer);
    proto_message_free(unpacked);
}
