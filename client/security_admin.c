/*
 * security_admin.c: the synchronous requests about users and ACLs: create,
 * delete and list users (CREATE_USER, DELETE_USER, LIST_USERS) and ACL
 * bindings (CREATE_ACL, DELETE_ACL, LIST_ACLS).
 *
 * Happy path: each call checks its arguments, builds its request on the
 * stack and runs one op (admin.c) aimed at the controller, which holds users
 * and ACLs in its state; list answers are copied into arrays the caller owns.
 *
 * Failure modes: as for ether_create_topic, broken connections, timeouts and
 * NOT_LEADER (after a metadata refresh) are retried until the deadline; the
 * controller's refusals (EXISTS, NOT_FOUND, INVALID_ARGUMENT,
 * CLUSTER_AUTHORIZATION_FAILED) end the call with that code and a sentence.
 * A password is never copied into a sentence.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"
#include "common/scram.h"

/* The public enums are the wire's numbers. */
_Static_assert(
    (int)ETHER_ACL_RESOURCE_ANY == (int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_ANY &&
        (int)ETHER_ACL_RESOURCE_TOPIC == (int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC &&
        (int)ETHER_ACL_RESOURCE_GROUP == (int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_GROUP &&
        (int)ETHER_ACL_RESOURCE_CLUSTER == (int)ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_CLUSTER,
    "enum ether_acl_resource_type must equal the wire's AclResourceType");
_Static_assert((int)ETHER_ACL_PATTERN_LITERAL ==
                       (int)ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL &&
                   (int)ETHER_ACL_PATTERN_PREFIXED ==
                       (int)ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_PREFIXED,
               "enum ether_acl_pattern must equal the wire's AclPatternType");
_Static_assert(
    (int)ETHER_ACL_OPERATION_ANY == (int)ETHER__ACL_OPERATION__ACL_OPERATION_ANY &&
        (int)ETHER_ACL_OPERATION_READ == (int)ETHER__ACL_OPERATION__ACL_OPERATION_READ &&
        (int)ETHER_ACL_OPERATION_WRITE == (int)ETHER__ACL_OPERATION__ACL_OPERATION_WRITE &&
        (int)ETHER_ACL_OPERATION_CREATE == (int)ETHER__ACL_OPERATION__ACL_OPERATION_CREATE &&
        (int)ETHER_ACL_OPERATION_DELETE == (int)ETHER__ACL_OPERATION__ACL_OPERATION_DELETE &&
        (int)ETHER_ACL_OPERATION_DESCRIBE == (int)ETHER__ACL_OPERATION__ACL_OPERATION_DESCRIBE &&
        (int)ETHER_ACL_OPERATION_ALTER == (int)ETHER__ACL_OPERATION__ACL_OPERATION_ALTER &&
        (int)ETHER_ACL_OPERATION_ALL == (int)ETHER__ACL_OPERATION__ACL_OPERATION_ALL,
    "enum ether_acl_operation must equal the wire's AclOperation");
_Static_assert((int)ETHER_ACL_PERMISSION_ANY == (int)ETHER__ACL_PERMISSION__ACL_PERMISSION_ANY &&
                   (int)ETHER_ACL_PERMISSION_ALLOW ==
                       (int)ETHER__ACL_PERMISSION__ACL_PERMISSION_ALLOW &&
                   (int)ETHER_ACL_PERMISSION_DENY ==
                       (int)ETHER__ACL_PERMISSION__ACL_PERMISSION_DENY,
               "enum ether_acl_permission must equal the wire's AclPermission");

/* The bounds ether.h states for ether_user_create. */
_Static_assert(ETHER_SCRAM_USER_BYTES_MAX == 128 && ETHER_SCRAM_PASSWORD_BYTES_MAX == 1024 &&
                   ETHER_SCRAM_ITERATIONS_MIN == 4096 &&
                   ETHER_SCRAM_ITERATIONS_CREATE_MAX == 100000,
               "ether.h documents these bounds of ether_user_create");

/* A name as it may appear in a sentence: at most 60 bytes of it. */
enum { SHOWN_NAME_BYTES = 60 };

/* ---- users ---------------------------------------------------------------------------------- */

static int user_name_error(char *errstr, size_t errstr_size)
{
    return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                        "a user name is 1 to %d printable ASCII characters without spaces",
                        ETHER_SCRAM_USER_BYTES_MAX);
}

static enum client_verdict create_user_result(struct ether_client *client, struct client_op *op,
                                              const ProtobufCMessage *response)
{
    (void)client;
    const Ether__CreateUserResponse *answer = (const Ether__CreateUserResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "cannot create user %.*s", SHOWN_NAME_BYTES,
             (const char *)op->output);
    return client_op_verdict(op, answer->error, answer->error_message, what);
}

int ether_user_create(struct ether_client *client, const char *name, const char *password,
                      uint32_t iterations, int replace, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    if (client == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT, "no client");
    }
    if (!ether_scram_user_name_valid(name)) {
        return user_name_error(errstr, errstr_size);
    }
    if (password == NULL || password[0] == '\0' ||
        strlen(password) > ETHER_SCRAM_PASSWORD_BYTES_MAX) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a password is 1 to %d bytes", ETHER_SCRAM_PASSWORD_BYTES_MAX);
    }
    if (iterations != 0 && (iterations < ETHER_SCRAM_ITERATIONS_MIN ||
                            iterations > ETHER_SCRAM_ITERATIONS_CREATE_MAX)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "iterations must be 0 (the default) or from %d to %d, not %u",
                            ETHER_SCRAM_ITERATIONS_MIN, ETHER_SCRAM_ITERATIONS_CREATE_MAX,
                            iterations);
    }
    if (client->tls_config == NULL) { /* the password must not cross the network in clear */
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "creating a user sends its password: it needs TLS (set tls_ca_file)");
    }
    Ether__CreateUserRequest request = ETHER__CREATE_USER_REQUEST__INIT;
    request.name = client_unconst(name);
    request.password = client_unconst(password);
    request.iterations = iterations;
    request.replace = replace != 0;
    request.timeout_ms = client_op_timeout(timeout_ms);
    struct client_op op = {
        .api_key = PROTO_API_CREATE_USER,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .retries = true,
        .on_result = create_user_result,
        .output = client_unconst(name), /* for the sentence */
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

static enum client_verdict delete_user_result(struct ether_client *client, struct client_op *op,
                                              const ProtobufCMessage *response)
{
    (void)client;
    const Ether__DeleteUserResponse *answer = (const Ether__DeleteUserResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "cannot delete user %.*s", SHOWN_NAME_BYTES,
             (const char *)op->output);
    return client_op_verdict(op, answer->error, answer->error_message, what);
}

int ether_user_delete(struct ether_client *client, const char *name, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    if (client == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT, "no client");
    }
    if (!ether_scram_user_name_valid(name)) {
        return user_name_error(errstr, errstr_size);
    }
    Ether__DeleteUserRequest request = ETHER__DELETE_USER_REQUEST__INIT;
    request.name = client_unconst(name);
    request.timeout_ms = client_op_timeout(timeout_ms);
    struct client_op op = {
        .api_key = PROTO_API_DELETE_USER,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .retries = true,
        .on_result = delete_user_result,
        .output = client_unconst(name),
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

struct users_output {
    struct ether_user **users;
    size_t *count;
};

static int compare_users(const void *a, const void *b)
{
    return strcmp(((const struct ether_user *)a)->name, ((const struct ether_user *)b)->name);
}

static enum client_verdict list_users_result(struct ether_client *client, struct client_op *op,
                                             const ProtobufCMessage *response)
{
    (void)client;
    const Ether__ListUsersResponse *answer = (const Ether__ListUsersResponse *)response;
    if (answer->error != ETHER_OK) {
        return client_op_verdict(op, answer->error, answer->error_message, "cannot list users");
    }
    struct users_output *output = op->output;
    ETHER_ASSERT(*output->users == NULL); /* a retry never follows a listing */
    struct ether_user *users = NULL;
    if (answer->n_users > 0) {
        users = ether_calloc(answer->n_users, sizeof *users);
        for (size_t i = 0; i < answer->n_users; i++) {
            const Ether__UserListing *from = answer->users[i];
            users[i].name = client_copy_string(from->name);
            users[i].mechanism = client_copy_string(from->mechanism);
            users[i].iterations = from->iterations;
        }
        /* The controller sorts them; sorting again costs little and makes it a promise. */
        qsort(users, answer->n_users, sizeof *users, compare_users);
    }
    *output->users = users;
    *output->count = answer->n_users;
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

int ether_user_list(struct ether_client *client, int timeout_ms, struct ether_user **users,
                    size_t *count, char *errstr, size_t errstr_size)
{
    if (client == NULL || users == NULL || count == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "somewhere to store the users is needed");
    }
    *users = NULL;
    *count = 0;
    Ether__ListUsersRequest request = ETHER__LIST_USERS_REQUEST__INIT;
    struct users_output output = {users, count};
    struct client_op op = {
        .api_key = PROTO_API_LIST_USERS,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .retries = true,
        .on_result = list_users_result,
        .output = &output,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    ETHER_ASSERT(rc == ETHER_OK || *users == NULL);
    return rc;
}

void ether_users_free(struct ether_user *users, size_t count)
{
    if (users == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        client_free_const(users[i].name);
        client_free_const(users[i].mechanism);
    }
    ether_free(users);
}

/* ---- ACLs ------------------------------------------------------------------------------------ */

/* ---- names ---------------------------------------------------------------------------------- */

const char *ether_acl_operation_name(enum ether_acl_operation operation)
{
    switch (operation) {
    case ETHER_ACL_OPERATION_ANY:
        return "any";
    case ETHER_ACL_OPERATION_READ:
        return "read";
    case ETHER_ACL_OPERATION_WRITE:
        return "write";
    case ETHER_ACL_OPERATION_CREATE:
        return "create";
    case ETHER_ACL_OPERATION_DELETE:
        return "delete";
    case ETHER_ACL_OPERATION_DESCRIBE:
        return "describe";
    case ETHER_ACL_OPERATION_ALTER:
        return "alter";
    case ETHER_ACL_OPERATION_ALL:
        return "all";
    }
    return "unknown";
}

const char *ether_acl_permission_name(enum ether_acl_permission permission)
{
    switch (permission) {
    case ETHER_ACL_PERMISSION_ANY:
        return "any";
    case ETHER_ACL_PERMISSION_ALLOW:
        return "allow";
    case ETHER_ACL_PERMISSION_DENY:
        return "deny";
    }
    return "unknown";
}

const char *ether_acl_resource_type_name(enum ether_acl_resource_type resource_type)
{
    switch (resource_type) {
    case ETHER_ACL_RESOURCE_ANY:
        return "any";
    case ETHER_ACL_RESOURCE_TOPIC:
        return "topic";
    case ETHER_ACL_RESOURCE_GROUP:
        return "group";
    case ETHER_ACL_RESOURCE_CLUSTER:
        return "cluster";
    }
    return "unknown";
}

const char *ether_acl_pattern_name(enum ether_acl_pattern pattern)
{
    switch (pattern) {
    case ETHER_ACL_PATTERN_LITERAL:
        return "literal";
    case ETHER_ACL_PATTERN_PREFIXED:
        return "prefixed";
    }
    return "unknown";
}

/* Checks a binding to create or delete; ETHER_OK or INVALID_ARGUMENT with a sentence. */
static int check_binding(const struct ether_acl *acl, char *errstr, size_t errstr_size)
{
    if (acl == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "an ACL binding is needed");
    }
    if (acl->principal == NULL || acl->principal[0] == '\0') {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "an ACL binding needs a principal (a user name, or * for everyone)");
    }
    bool named = acl->resource_name != NULL && acl->resource_name[0] != '\0';
    switch (acl->resource_type) {
    case ETHER_ACL_RESOURCE_TOPIC:
    case ETHER_ACL_RESOURCE_GROUP:
        if (!named) {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "an ACL binding for a %s needs its name (or * for every %s)",
                                ether_acl_resource_type_name(acl->resource_type),
                                ether_acl_resource_type_name(acl->resource_type));
        }
        break;
    case ETHER_ACL_RESOURCE_CLUSTER:
        if (named || acl->pattern == ETHER_ACL_PATTERN_PREFIXED) {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "an ACL binding for the cluster takes no resource name and no "
                                "prefixed pattern");
        }
        break;
    case ETHER_ACL_RESOURCE_ANY:
    default:
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "an ACL binding is for a topic, a group or the cluster");
    }
    if (acl->pattern != ETHER_ACL_PATTERN_LITERAL && acl->pattern != ETHER_ACL_PATTERN_PREFIXED) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "an ACL binding's pattern is literal or prefixed");
    }
    if (acl->operation <= ETHER_ACL_OPERATION_ANY || acl->operation > ETHER_ACL_OPERATION_ALL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "an ACL binding needs one operation: read, write, create, delete, "
                            "describe, alter or all");
    }
    if (acl->permission != ETHER_ACL_PERMISSION_ALLOW &&
        acl->permission != ETHER_ACL_PERMISSION_DENY) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "an ACL binding either allows or denies");
    }
    return ETHER_OK;
}

static void binding_from(Ether__AclBinding *binding, const struct ether_acl *acl)
{
    ether__acl_binding__init(binding);
    binding->principal = client_unconst(acl->principal);
    binding->resource_type = (Ether__AclResourceType)acl->resource_type;
    binding->resource_name = client_unconst(acl->resource_name != NULL ? acl->resource_name : "");
    binding->pattern = (Ether__AclPatternType)acl->pattern;
    binding->operation = (Ether__AclOperation)acl->operation;
    binding->permission = (Ether__AclPermission)acl->permission;
}

/* "cannot create the ACL binding (allow alice write on topic orders)". */
static void binding_what(char *what, size_t what_size, const char *verb,
                         const struct ether_acl *acl)
{
    if (acl->resource_type == ETHER_ACL_RESOURCE_CLUSTER) {
        snprintf(what, what_size, "cannot %s the ACL binding of %.*s on the cluster", verb,
                 SHOWN_NAME_BYTES, acl->principal);
    } else {
        snprintf(what, what_size, "cannot %s the ACL binding of %.*s on %s %s%.*s", verb,
                 SHOWN_NAME_BYTES, acl->principal, ether_acl_resource_type_name(acl->resource_type),
                 acl->pattern == ETHER_ACL_PATTERN_PREFIXED ? "prefix " : "", SHOWN_NAME_BYTES,
                 acl->resource_name);
    }
}

/*
 * A binding is its value, so when an earlier attempt got no answer and a retry finds the
 * binding already there (create) or already gone (delete), that attempt did the work: done.
 */
static uint32_t acl_error_after_retries(const struct client_op *op, uint32_t error,
                                        int already_done)
{
    return op->unanswered_attempt && error == (uint32_t)already_done ? ETHER_OK : error;
}

static enum client_verdict create_acl_result(struct ether_client *client, struct client_op *op,
                                             const ProtobufCMessage *response)
{
    (void)client;
    const Ether__CreateAclResponse *answer = (const Ether__CreateAclResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    binding_what(what, sizeof what, "create", op->output);
    return client_op_verdict(op, acl_error_after_retries(op, answer->error, ETHER_ERR_EXISTS),
                             answer->error_message, what);
}

static enum client_verdict delete_acl_result(struct ether_client *client, struct client_op *op,
                                             const ProtobufCMessage *response)
{
    (void)client;
    const Ether__DeleteAclResponse *answer = (const Ether__DeleteAclResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    binding_what(what, sizeof what, "delete", op->output);
    return client_op_verdict(op, acl_error_after_retries(op, answer->error, ETHER_ERR_NOT_FOUND),
                             answer->error_message, what);
}

/* ether_acl_create and ether_acl_delete: the same binding in two requests. */
static int acl_write(struct ether_client *client, const struct ether_acl *acl, bool create,
                     int timeout_ms, char *errstr, size_t errstr_size)
{
    if (client == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT, "no client");
    }
    int rc = check_binding(acl, errstr, errstr_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    struct ether_acl shown = *acl;
    shown.resource_name = acl->resource_name != NULL ? acl->resource_name : "";
    Ether__AclBinding binding;
    binding_from(&binding, acl);
    Ether__CreateAclRequest create_request = ETHER__CREATE_ACL_REQUEST__INIT;
    Ether__DeleteAclRequest delete_request = ETHER__DELETE_ACL_REQUEST__INIT;
    create_request.binding = &binding;
    create_request.timeout_ms = client_op_timeout(timeout_ms);
    delete_request.binding = &binding;
    delete_request.timeout_ms = client_op_timeout(timeout_ms);
    struct client_op op = {
        .api_key = create ? PROTO_API_CREATE_ACL : PROTO_API_DELETE_ACL,
        .request = create ? &create_request.base : &delete_request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .retries = true,
        .on_result = create ? create_acl_result : delete_acl_result,
        .output = &shown,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

int ether_acl_create(struct ether_client *client, const struct ether_acl *acl, int timeout_ms,
                     char *errstr, size_t errstr_size)
{
    return acl_write(client, acl, true, timeout_ms, errstr, errstr_size);
}

int ether_acl_delete(struct ether_client *client, const struct ether_acl *acl, int timeout_ms,
                     char *errstr, size_t errstr_size)
{
    return acl_write(client, acl, false, timeout_ms, errstr, errstr_size);
}

struct acls_output {
    struct ether_acl **acls;
    size_t *count;
};

static int compare_numbers(int a, int b)
{
    return (a > b) - (a < b);
}

static int compare_acls(const void *a, const void *b)
{
    const struct ether_acl *left = a;
    const struct ether_acl *right = b;
    int order = compare_numbers((int)left->resource_type, (int)right->resource_type);
    if (order == 0) {
        order = strcmp(left->resource_name, right->resource_name);
    }
    if (order == 0) {
        order = compare_numbers((int)left->pattern, (int)right->pattern);
    }
    if (order == 0) {
        order = strcmp(left->principal, right->principal);
    }
    if (order == 0) {
        order = compare_numbers((int)left->permission, (int)right->permission);
    }
    if (order == 0) {
        order = compare_numbers((int)left->operation, (int)right->operation);
    }
    return order;
}

static enum client_verdict list_acls_result(struct ether_client *client, struct client_op *op,
                                            const ProtobufCMessage *response)
{
    (void)client;
    const Ether__ListAclsResponse *answer = (const Ether__ListAclsResponse *)response;
    if (answer->error != ETHER_OK) {
        return client_op_verdict(op, answer->error, answer->error_message,
                                 "cannot list ACL bindings");
    }
    struct acls_output *output = op->output;
    ETHER_ASSERT(*output->acls == NULL);
    struct ether_acl *acls = NULL;
    size_t count = 0;
    if (answer->n_bindings > 0) {
        acls = ether_calloc(answer->n_bindings, sizeof *acls);
        for (size_t i = 0; i < answer->n_bindings; i++) {
            const Ether__AclBinding *from = answer->bindings[i];
            if (from == NULL) {
                continue;
            }
            /* Values a newer broker may send are passed on as they are. */
            struct ether_acl *to = &acls[count++];
            to->principal = client_copy_string(from->principal);
            to->resource_type = (enum ether_acl_resource_type)from->resource_type;
            to->resource_name = client_copy_string(from->resource_name);
            to->pattern = (enum ether_acl_pattern)from->pattern;
            to->operation = (enum ether_acl_operation)from->operation;
            to->permission = (enum ether_acl_permission)from->permission;
        }
        qsort(acls, count, sizeof *acls, compare_acls);
    }
    if (count == 0) {
        ether_free(acls);
        acls = NULL;
    }
    *output->acls = acls;
    *output->count = count;
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

int ether_acl_list(struct ether_client *client, const char *principal,
                   enum ether_acl_resource_type resource_type, const char *resource_name,
                   int timeout_ms, struct ether_acl **acls, size_t *count, char *errstr,
                   size_t errstr_size)
{
    if (client == NULL || acls == NULL || count == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "somewhere to store the ACL bindings is needed");
    }
    *acls = NULL;
    *count = 0;
    if (resource_type < ETHER_ACL_RESOURCE_ANY || resource_type > ETHER_ACL_RESOURCE_CLUSTER) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "the resource type filter is any, topic, group or cluster");
    }
    Ether__ListAclsRequest request = ETHER__LIST_ACLS_REQUEST__INIT;
    request.principal = client_unconst(principal != NULL ? principal : "");
    request.resource_type = (Ether__AclResourceType)resource_type;
    request.resource_name = client_unconst(resource_name != NULL ? resource_name : "");
    struct acls_output output = {acls, count};
    struct client_op op = {
        .api_key = PROTO_API_LIST_ACLS,
        .request = &request.base,
        .target = CLIENT_TARGET_CONTROLLER,
        .retries = true,
        .on_result = list_acls_result,
        .output = &output,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    ETHER_ASSERT(rc == ETHER_OK || *acls == NULL);
    return rc;
}

void ether_acls_free(struct ether_acl *acls, size_t count)
{
    if (acls == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        client_free_const(acls[i].principal);
        client_free_const(acls[i].resource_name);
    }
    ether_free(acls);
}
