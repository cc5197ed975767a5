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

#include <stdio.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "broker/principal_rule.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/scram.h"

enum { PRINCIPAL_BYTES_MAX = ACL_PRINCIPAL_BYTES_MAX + 1 };

struct session {
    bool anonymous;                   /* no certificate and no login (yet) */
    bool cluster_member;              /* certificate CN broker-<id> */
    bool scram_done;                  /* authenticated by SCRAM */
    bool scram_failed;                /* the connection is closing */
    struct ether_scram_server *scram; /* between client-first and client-final */
    char scram_user[ETHER_SCRAM_USER_BYTES_MAX + 1];
    char principal[PRINCIPAL_BYTES_MAX]; /* "" when anonymous */
};

static void session_free(void *context)
{
    struct session *session = context;
    ether_scram_server_free(session->scram);
    ether_free(session);
}

/* "broker-" followed by a broker id without leading zeros. */
static bool is_broker_name(const char *name)
{
    static const char prefix[] = "broker-";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) {
        return false;
    }
    const char *digits = name + sizeof prefix - 1;
    if (digits[0] < '1' || digits[0] > '9' || strlen(digits) > 10) {
        return false;
    }
    for (const char *c = digits; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') {
            return false;
        }
    }
    return true;
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
        session->cluster_member = is_broker_name(common_name);
        int rc = ETHER_OK;
        if (broker->security.principal_rule != NULL && !session->cluster_member) {
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

static bool session_allows(struct broker *broker, const struct session *session,
                           enum acl_resource_type resource_type, const char *resource_name,
                           enum acl_operation operation)
{
    if (!broker->config->authorization || session->cluster_member) {
        return true;
    }
    const struct controller_state *state = &broker->controller.state;
    struct acl_super_users super_users = {broker->security.super_users,
                                          broker->security.super_users_count};
    struct acl_request request = {
        .principal = session->anonymous ? NULL : session->principal,
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

void broker_security_note_denial(struct broker *broker, uint64_t connection_id, uint16_t api_key,
                                 enum acl_resource_type resource_type, const char *resource_name,
                                 enum acl_operation operation)
{
    struct session *session = session_for(broker, connection_id);
    const char *peer = broker_server_connection_peer_name(broker->server, connection_id);
    const char *api = proto_api_name(api_key);
    broker->security.denials[resource_type <= ACL_RESOURCE_CLUSTER ? resource_type : 0]++;
    ether_log_warn(broker->logger, "denied %s%s%s %s on %s %.64s%s(%s request from %s)",
                   session == NULL || session->anonymous ? "anonymous" : "principal ",
                   session == NULL || session->anonymous ? "" : session->principal,
                   session != NULL && session->scram_done ? " (scram)" : "",
                   acl_operation_name(operation), acl_resource_type_name(resource_type),
                   resource_name, resource_name[0] != '\0' ? " " : "", api != NULL ? api : "?",
                   peer != NULL ? peer : "?");
}

/* Answers the request with the denial and frees it. */
static void deny(struct broker *broker, uint64_t connection_id,
                 const struct proto_frame_header *header, ProtobufCMessage *request,
                 enum acl_resource_type resource_type, const char *resource_name,
                 enum acl_operation operation)
{
    char message[ACL_RESOURCE_BYTES_MAX + 96];
    if (resource_type == ACL_RESOURCE_CLUSTER) {
        snprintf(message, sizeof message, "not authorized to %s the cluster",
                 acl_operation_name(operation));
    } else {
        snprintf(message, sizeof message, "not authorized to %s %s %s",
                 acl_operation_name(operation), acl_resource_type_name(resource_type),
                 resource_name);
    }
    broker_security_note_denial(broker, connection_id, header->api_key, resource_type,
                                resource_name, operation);
    broker_respond_error(broker, connection_id, header, denial_error(resource_type), message);
    proto_message_free(request);
}

/* What a request needs, for the requests that need one thing. */
struct requirement {
    enum acl_resource_type resource_type;
    const char *resource_name;
    enum acl_operation operation;
};

static const char *text(const char *value)
{
    return value != NULL ? value : "";
}

/* False when the api needs no single check here (handled by the caller or always allowed). */
static bool requirement_of(uint16_t api_key, const ProtobufCMessage *request,
                           struct requirement *needed)
{
    needed->resource_type = ACL_RESOURCE_CLUSTER;
    needed->resource_name = "";
    switch (api_key) {
    case PROTO_API_PRODUCE:
        *needed = (struct requirement){ACL_RESOURCE_TOPIC,
                                       text(((const Ether__ProduceRequest *)request)->topic),
                                       ACL_OPERATION_WRITE};
        return true;
    case PROTO_API_FETCH:
        *needed = (struct requirement){ACL_RESOURCE_TOPIC,
                                       text(((const Ether__FetchRequest *)request)->topic),
                                       ACL_OPERATION_READ};
        return true;
    case PROTO_API_DESCRIBE_PRODUCERS:
        *needed = (struct requirement){
            ACL_RESOURCE_TOPIC, text(((const Ether__DescribeProducersRequest *)request)->topic),
            ACL_OPERATION_READ};
        return true;
    case PROTO_API_LIST_OFFSETS:
        *needed = (struct requirement){ACL_RESOURCE_TOPIC,
                                       text(((const Ether__ListOffsetsRequest *)request)->topic),
                                       ACL_OPERATION_DESCRIBE};
        return true;
    case PROTO_API_DELETE_TOPIC:
        *needed = (struct requirement){ACL_RESOURCE_TOPIC,
                                       text(((const Ether__DeleteTopicRequest *)request)->name),
                                       ACL_OPERATION_DELETE};
        return true;
    case PROTO_API_ALTER_TOPIC_CONFIG:
        *needed = (struct requirement){
            ACL_RESOURCE_TOPIC, text(((const Ether__AlterTopicConfigRequest *)request)->name),
            ACL_OPERATION_ALTER};
        return true;
    case PROTO_API_TRANSFER_LEADER:
        needed->operation = ACL_OPERATION_ALTER;
        return true;
    case PROTO_API_FIND_COORDINATOR:
        *needed = (struct requirement){
            ACL_RESOURCE_GROUP, text(((const Ether__FindCoordinatorRequest *)request)->group),
            ACL_OPERATION_DESCRIBE};
        return true;
    case PROTO_API_DESCRIBE_GROUP:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__DescribeGroupRequest *)request)->group),
                                       ACL_OPERATION_DESCRIBE};
        return true;
    case PROTO_API_OFFSET_FETCH:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__OffsetFetchRequest *)request)->group),
                                       ACL_OPERATION_DESCRIBE};
        return true;
    case PROTO_API_JOIN_GROUP:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__JoinGroupRequest *)request)->group),
                                       ACL_OPERATION_READ};
        return true;
    case PROTO_API_SYNC_GROUP:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__SyncGroupRequest *)request)->group),
                                       ACL_OPERATION_READ};
        return true;
    case PROTO_API_HEARTBEAT:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__HeartbeatRequest *)request)->group),
                                       ACL_OPERATION_READ};
        return true;
    case PROTO_API_LEAVE_GROUP:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__LeaveGroupRequest *)request)->group),
                                       ACL_OPERATION_READ};
        return true;
    case PROTO_API_OFFSET_COMMIT:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__OffsetCommitRequest *)request)->group),
                                       ACL_OPERATION_READ};
        return true;
    case PROTO_API_DELETE_GROUP:
        *needed = (struct requirement){ACL_RESOURCE_GROUP,
                                       text(((const Ether__DeleteGroupRequest *)request)->group),
                                       ACL_OPERATION_DELETE};
        return true;
    case PROTO_API_LIST_GROUPS:
    case PROTO_API_LIST_USERS:
    case PROTO_API_LIST_ACLS:
        needed->operation = ACL_OPERATION_DESCRIBE;
        return true;
    case PROTO_API_CREATE_USER:
    case PROTO_API_DELETE_USER:
    case PROTO_API_CREATE_ACL:
    case PROTO_API_DELETE_ACL:
        needed->operation = ACL_OPERATION_ALTER;
        return true;
    default:
        return false; /* METADATA, AUTHENTICATE, RAFT_MESSAGES; the rest below */
    }
}

/* The checks of requests that need more than one thing. True when allowed; else denied. */
static bool admit_compound(struct broker *broker, uint64_t connection_id,
                           const struct session *session, const struct proto_frame_header *header,
                           ProtobufCMessage *request)
{
    switch (header->api_key) {
    case PROTO_API_CREATE_TOPIC: {
        const char *name = text(((const Ether__CreateTopicRequest *)request)->name);
        if (session_allows(broker, session, ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_CREATE) ||
            session_allows(broker, session, ACL_RESOURCE_TOPIC, name, ACL_OPERATION_CREATE)) {
            return true;
        }
        deny(broker, connection_id, header, request, ACL_RESOURCE_TOPIC, name,
             ACL_OPERATION_CREATE);
        return false;
    }
    case PROTO_API_INIT_PRODUCER_ID: {
        const struct controller_state *state = &broker->controller.state;
        struct acl_super_users super_users = {broker->security.super_users,
                                              broker->security.super_users_count};
        if (session->cluster_member ||
            acl_authorize_any(state->acls, state->acls_count, &super_users,
                              session->anonymous ? NULL : session->principal, ACL_RESOURCE_TOPIC,
                              ACL_OPERATION_WRITE)) {
            return true;
        }
        broker_security_note_denial(broker, connection_id, header->api_key, ACL_RESOURCE_TOPIC, "*",
                                    ACL_OPERATION_WRITE);
        broker_respond_error(broker, connection_id, header, ETHER_ERR_TOPIC_AUTHORIZATION_FAILED,
                             "not authorized to write to any topic, which an idempotent "
                             "producer needs");
        proto_message_free(request);
        return false;
    }
    case PROTO_API_OFFSET_COMMIT: {
        const Ether__OffsetCommitRequest *commit = (const Ether__OffsetCommitRequest *)request;
        for (size_t i = 0; i < commit->n_offsets; i++) {
            const char *topic = text(commit->offsets[i]->topic);
            if (!session_allows(broker, session, ACL_RESOURCE_TOPIC, topic, ACL_OPERATION_READ)) {
                deny(broker, connection_id, header, request, ACL_RESOURCE_TOPIC, topic,
                     ACL_OPERATION_READ);
                return false;
            }
        }
        return true;
    }
    default:
        return true;
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
    bool login_required = broker_config_tls_enabled(broker->config) &&
                          broker_config_client_auth(broker->config) == BROKER_CLIENT_AUTH_REQUESTED;
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
    if (!broker->config->authorization || session->cluster_member) {
        return true;
    }
    struct requirement needed;
    if (requirement_of(header->api_key, request, &needed)) {
        if (!session_allows(broker, session, needed.resource_type, needed.resource_name,
                            needed.operation)) {
            deny(broker, connection_id, header, request, needed.resource_type, needed.resource_name,
                 needed.operation);
            return false;
        }
    }
    return admit_compound(broker, connection_id, session, header, request);
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
            const struct controller_user *user =
                controller_state_user(&broker->controller.state, session->scram_user);
            rc = ether_scram_server_first(session->scram, user != NULL ? &user->credential : NULL,
                                          &answer);
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
