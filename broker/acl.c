/*
 * acl.c: validating, ordering and filtering ACL bindings, and the decision
 * (see acl.h for the rules).
 *
 * The decision is one pass over the bindings: the first matching DENY ends it
 * (denied), a matching ALLOW is remembered, and nothing matching is a denial.
 * Nothing is allocated and nothing is cached: the bindings are the controller
 * state's, which changes under the broker with every applied command.
 *
 * "Printable ASCII" here is 0x20..0x7e, space included: a principal may be a
 * certificate's common name ("Jane Doe") and a consumer group id is free text.
 */
#include "broker/acl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/panic.h"

static const char wildcard[] = "*";

/* ---- validation --------------------------------------------------------------------- */

static bool text_printable(const char *text, size_t bytes_max)
{
    if (text == NULL) {
        return false;
    }
    size_t length = strnlen(text, bytes_max + 1);
    if (length == 0 || length > bytes_max) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (text[i] < ' ' || text[i] > '~') {
            return false;
        }
    }
    return true;
}

__attribute__((format(printf, 3, 4))) static int invalid(char *errbuf, size_t errbuf_size,
                                                         const char *format, ...)
{
    if (errbuf != NULL && errbuf_size > 0) {
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(errbuf, errbuf_size, format, arguments);
        va_end(arguments);
    }
    return ETHER_ERR_INVALID_ARGUMENT;
}

int acl_binding_validate(const struct acl_binding *binding, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(binding != NULL);
    if (binding->principal == NULL ||
        (strcmp(binding->principal, wildcard) != 0 &&
         !text_printable(binding->principal, ACL_PRINCIPAL_BYTES_MAX))) {
        return invalid(errbuf, errbuf_size,
                       "the ACL principal must be \"*\" or 1 to %d printable ASCII characters",
                       ACL_PRINCIPAL_BYTES_MAX);
    }
    int resource_type = (int)binding->resource_type;
    if (resource_type < ACL_RESOURCE_TOPIC || resource_type > ACL_RESOURCE_CLUSTER) {
        return invalid(errbuf, errbuf_size,
                       "the ACL resource type must be topic, group or cluster, not %d",
                       resource_type);
    }
    int pattern = (int)binding->pattern;
    if (pattern != ACL_PATTERN_LITERAL && pattern != ACL_PATTERN_PREFIXED) {
        return invalid(errbuf, errbuf_size, "the ACL pattern must be literal or prefixed, not %d",
                       pattern);
    }
    if (binding->resource_name == NULL) {
        return invalid(errbuf, errbuf_size, "the ACL resource name is missing");
    }
    if (binding->resource_type == ACL_RESOURCE_CLUSTER) {
        if (binding->resource_name[0] != '\0') {
            return invalid(errbuf, errbuf_size,
                           "a cluster ACL's resource name must be empty (there is one cluster)");
        }
        if (binding->pattern != ACL_PATTERN_LITERAL) {
            return invalid(errbuf, errbuf_size, "a cluster ACL's pattern must be literal");
        }
    } else {
        if (!text_printable(binding->resource_name, ACL_RESOURCE_BYTES_MAX)) {
            return invalid(errbuf, errbuf_size,
                           "the ACL resource name of a %s must be 1 to %d printable ASCII "
                           "characters",
                           acl_resource_type_name(binding->resource_type), ACL_RESOURCE_BYTES_MAX);
        }
        if (binding->pattern == ACL_PATTERN_PREFIXED &&
            strcmp(binding->resource_name, wildcard) == 0) {
            return invalid(errbuf, errbuf_size,
                           "a prefixed ACL's resource name cannot be \"*\" (use literal \"*\" "
                           "for every name)");
        }
    }
    int operation = (int)binding->operation;
    if (operation < ACL_OPERATION_READ || operation > ACL_OPERATION_ALL) {
        return invalid(errbuf, errbuf_size,
                       "the ACL operation must be read, write, create, delete, describe, alter "
                       "or all, not %d",
                       operation);
    }
    int permission = (int)binding->permission;
    if (permission != ACL_PERMISSION_ALLOW && permission != ACL_PERMISSION_DENY) {
        return invalid(errbuf, errbuf_size, "the ACL permission must be allow or deny, not %d",
                       permission);
    }
    if (errbuf != NULL && errbuf_size > 0) {
        errbuf[0] = '\0';
    }
    return ETHER_OK;
}

/* ---- order and filters -------------------------------------------------------------- */

static int compare_int(int a, int b)
{
    return (a > b) - (a < b);
}

static int compare_text(const char *a, const char *b)
{
    int order = strcmp(a, b); /* compares bytes as unsigned char */
    return (order > 0) - (order < 0);
}

int acl_binding_compare(const struct acl_binding *a, const struct acl_binding *b)
{
    ETHER_ASSERT(a->principal != NULL);
    ETHER_ASSERT(b->principal != NULL);
    ETHER_ASSERT(a->resource_name != NULL);
    ETHER_ASSERT(b->resource_name != NULL);
    int order = compare_text(a->principal, b->principal);
    if (order == 0) {
        order = compare_int((int)a->resource_type, (int)b->resource_type);
    }
    if (order == 0) {
        order = compare_text(a->resource_name, b->resource_name);
    }
    if (order == 0) {
        order = compare_int((int)a->pattern, (int)b->pattern);
    }
    if (order == 0) {
        order = compare_int((int)a->operation, (int)b->operation);
    }
    if (order == 0) {
        order = compare_int((int)a->permission, (int)b->permission);
    }
    return order;
}

bool acl_binding_matches_filter(const struct acl_binding *binding, const char *principal,
                                enum acl_resource_type resource_type, const char *resource_name)
{
    ETHER_ASSERT(binding->principal != NULL);
    ETHER_ASSERT(binding->resource_name != NULL);
    if (principal != NULL && principal[0] != '\0' && strcmp(binding->principal, principal) != 0) {
        return false;
    }
    if (resource_type != ACL_RESOURCE_ANY && binding->resource_type != resource_type) {
        return false;
    }
    if (resource_name != NULL && resource_name[0] != '\0' &&
        strcmp(binding->resource_name, resource_name) != 0) {
        return false;
    }
    return true;
}

/* ---- the decision ------------------------------------------------------------------- */

static bool super_user(const struct acl_super_users *super_users, const char *principal)
{
    if (super_users == NULL || principal == NULL) {
        return false;
    }
    ETHER_ASSERT(super_users->names != NULL || super_users->count == 0);
    for (size_t i = 0; i < super_users->count; i++) {
        if (strcmp(super_users->names[i], principal) == 0) {
            return true;
        }
    }
    return false;
}

/* "*" is every principal, the anonymous one (NULL) too. */
static bool principal_matches(const struct acl_binding *binding, const char *principal)
{
    if (strcmp(binding->principal, wildcard) == 0) {
        return true;
    }
    return principal != NULL && strcmp(binding->principal, principal) == 0;
}

static bool name_matches(const struct acl_binding *binding, const char *resource_name)
{
    if (binding->pattern == ACL_PATTERN_PREFIXED) {
        size_t prefix_bytes = strlen(binding->resource_name);
        return strncmp(resource_name, binding->resource_name, prefix_bytes) == 0;
    }
    return strcmp(binding->resource_name, wildcard) == 0 ||
           strcmp(binding->resource_name, resource_name) == 0;
}

/* READ, WRITE, DELETE and ALTER of a resource imply DESCRIBE of it; ALL is everything. */
static bool operation_covers(enum acl_operation granted, enum acl_operation wanted)
{
    if (granted == wanted || granted == ACL_OPERATION_ALL) {
        return true;
    }
    if (wanted != ACL_OPERATION_DESCRIBE) {
        return false;
    }
    return granted == ACL_OPERATION_READ || granted == ACL_OPERATION_WRITE ||
           granted == ACL_OPERATION_DELETE || granted == ACL_OPERATION_ALTER;
}

static void request_assert_valid(enum acl_resource_type resource_type, enum acl_operation operation)
{
    ETHER_ASSERT((int)resource_type >= ACL_RESOURCE_TOPIC);
    ETHER_ASSERT((int)resource_type <= ACL_RESOURCE_CLUSTER);
    ETHER_ASSERT((int)operation >= ACL_OPERATION_READ);
    ETHER_ASSERT((int)operation <= ACL_OPERATION_ALL);
}

bool acl_authorize(const struct acl_binding *bindings, size_t bindings_count,
                   const struct acl_super_users *super_users, const struct acl_request *request)
{
    ETHER_ASSERT(bindings != NULL || bindings_count == 0);
    ETHER_ASSERT(request->resource_name != NULL);
    request_assert_valid(request->resource_type, request->operation);
    if (super_user(super_users, request->principal)) {
        return true;
    }
    bool allowed = false;
    for (size_t i = 0; i < bindings_count; i++) {
        const struct acl_binding *binding = &bindings[i];
        if (binding->resource_type != request->resource_type ||
            !operation_covers(binding->operation, request->operation) ||
            !principal_matches(binding, request->principal) ||
            !name_matches(binding, request->resource_name)) {
            continue;
        }
        if (binding->permission == ACL_PERMISSION_DENY) {
            return false;
        }
        if (binding->permission == ACL_PERMISSION_ALLOW) {
            allowed = true;
        }
    }
    return allowed;
}

bool acl_authorize_any(const struct acl_binding *bindings, size_t bindings_count,
                       const struct acl_super_users *super_users, const char *principal,
                       enum acl_resource_type resource_type, enum acl_operation operation)
{
    ETHER_ASSERT(bindings != NULL || bindings_count == 0);
    request_assert_valid(resource_type, operation);
    if (super_user(super_users, principal)) {
        return true;
    }
    bool allowed = false;
    for (size_t i = 0; i < bindings_count; i++) {
        const struct acl_binding *binding = &bindings[i];
        if (binding->resource_type != resource_type ||
            !operation_covers(binding->operation, operation) ||
            !principal_matches(binding, principal)) {
            continue;
        }
        if (binding->permission == ACL_PERMISSION_DENY && binding->pattern == ACL_PATTERN_LITERAL &&
            strcmp(binding->resource_name, wildcard) == 0) {
            return false;
        }
        if (binding->permission == ACL_PERMISSION_ALLOW) {
            allowed = true;
        }
    }
    return allowed;
}

/* ---- names -------------------------------------------------------------------------- */

const char *acl_operation_name(enum acl_operation operation)
{
    switch (operation) {
    case ACL_OPERATION_ANY:
        return "any";
    case ACL_OPERATION_READ:
        return "read";
    case ACL_OPERATION_WRITE:
        return "write";
    case ACL_OPERATION_CREATE:
        return "create";
    case ACL_OPERATION_DELETE:
        return "delete";
    case ACL_OPERATION_DESCRIBE:
        return "describe";
    case ACL_OPERATION_ALTER:
        return "alter";
    case ACL_OPERATION_ALL:
        return "all";
    }
    return "?";
}

const char *acl_resource_type_name(enum acl_resource_type resource_type)
{
    switch (resource_type) {
    case ACL_RESOURCE_ANY:
        return "any";
    case ACL_RESOURCE_TOPIC:
        return "topic";
    case ACL_RESOURCE_GROUP:
        return "group";
    case ACL_RESOURCE_CLUSTER:
        return "cluster";
    }
    return "?";
}

const char *acl_pattern_name(enum acl_pattern pattern)
{
    switch (pattern) {
    case ACL_PATTERN_LITERAL:
        return "literal";
    case ACL_PATTERN_PREFIXED:
        return "prefixed";
    }
    return "?";
}

const char *acl_permission_name(enum acl_permission permission)
{
    switch (permission) {
    case ACL_PERMISSION_ANY:
        return "any";
    case ACL_PERMISSION_ALLOW:
        return "allow";
    case ACL_PERMISSION_DENY:
        return "deny";
    }
    return "?";
}
