/*
 * acl.h: access control lists and the decision whether a principal may do an
 * operation on a resource.
 *
 * An ACL binding says: <principal> is ALLOWed or DENYed <operation> on
 * <resource>, where a resource is a topic or a consumer group, named exactly
 * (LITERAL; the name "*" means every name) or by a prefix (PREFIXED), or the
 * cluster itself (resource name ""). The bindings live in the controller state
 * (controller_state.h), so every broker decides from the same list.
 *
 * The decision (acl_authorize), in order:
 *   1. a super user (the broker's super-users option) is allowed everything;
 *   2. a binding matches when its principal is the request's or "*" (which
 *      also matches the anonymous principal, NULL), its resource type is the
 *      request's, its name pattern covers the request's name, and its
 *      operation is the request's, or ALL, or the request is DESCRIBE and the
 *      binding's operation is READ, WRITE, DELETE or ALTER (each implies
 *      DESCRIBE of the same resource);
 *   3. any matching DENY: denied; else any matching ALLOW: allowed; else
 *      denied (default deny).
 *
 * The module is pure: no I/O, no clock, no allocation in acl_authorize. It
 * owns nothing; bindings and their strings belong to the caller.
 *
 * Invariants of a valid binding (acl_binding_validate): principal is "*" or a
 * name of 1..ACL_PRINCIPAL_BYTES_MAX printable ASCII bytes; the resource type
 * is TOPIC, GROUP or CLUSTER; a CLUSTER binding has name "" and pattern
 * LITERAL; a TOPIC or GROUP binding has a name of 1..ACL_RESOURCE_BYTES_MAX
 * printable bytes; a PREFIXED pattern's name is not "*"; operation in
 * READ..ALL; permission ALLOW or DENY. The numeric values are the wire's
 * (proto/ether.proto AclResourceType, AclPatternType, AclOperation,
 * AclPermission).
 */
#ifndef ETHER_BROKER_ACL_H
#define ETHER_BROKER_ACL_H

#include <stdbool.h>
#include <stddef.h>

enum {
    ACL_PRINCIPAL_BYTES_MAX = 255,
    ACL_RESOURCE_BYTES_MAX = 255,
    ACL_ERROR_BYTES = 160,
};

enum acl_resource_type {
    ACL_RESOURCE_ANY = 0, /* filters only */
    ACL_RESOURCE_TOPIC = 1,
    ACL_RESOURCE_GROUP = 2,
    ACL_RESOURCE_CLUSTER = 3,
};

enum acl_pattern {
    ACL_PATTERN_LITERAL = 0,
    ACL_PATTERN_PREFIXED = 1,
};

enum acl_operation {
    ACL_OPERATION_ANY = 0, /* filters only */
    ACL_OPERATION_READ = 1,
    ACL_OPERATION_WRITE = 2,
    ACL_OPERATION_CREATE = 3,
    ACL_OPERATION_DELETE = 4,
    ACL_OPERATION_DESCRIBE = 5,
    ACL_OPERATION_ALTER = 6,
    ACL_OPERATION_ALL = 7,
};

enum acl_permission {
    ACL_PERMISSION_ANY = 0, /* filters only */
    ACL_PERMISSION_ALLOW = 1,
    ACL_PERMISSION_DENY = 2,
};

struct acl_binding {
    const char *principal; /* a user name or "*" */
    enum acl_resource_type resource_type;
    const char *resource_name; /* "" for the cluster */
    enum acl_pattern pattern;
    enum acl_operation operation;
    enum acl_permission permission;
};

/* What a request wants to do, on behalf of whom. */
struct acl_request {
    const char *principal; /* NULL: anonymous */
    enum acl_resource_type resource_type;
    const char *resource_name; /* "" for the cluster */
    enum acl_operation operation;
};

/* The broker's super users (names of principals), e.g. from "super-users=admin,ops". */
struct acl_super_users {
    const char *const *names;
    size_t count;
};

/* 0, or ETHER_ERR_INVALID_ARGUMENT with a sentence in errbuf naming the bad field. */
int acl_binding_validate(const struct acl_binding *binding, char *errbuf, size_t errbuf_size);

/* A total order (principal, resource type, name, pattern, operation, permission), byte order
 * for strings: the order the controller state keeps its bindings in. */
int acl_binding_compare(const struct acl_binding *a, const struct acl_binding *b);

/* True when the binding's fields equal the filter's set ones ("" / NULL and *_ANY match all). */
bool acl_binding_matches_filter(const struct acl_binding *binding, const char *principal,
                                enum acl_resource_type resource_type, const char *resource_name);

/* The decision described at the top of this file. */
bool acl_authorize(const struct acl_binding *bindings, size_t bindings_count,
                   const struct acl_super_users *super_users, const struct acl_request *request);

/*
 * True when the principal may `operation` on at least one resource of the type: a super user,
 * or an ALLOW binding of that type whose operation covers `operation` (as in rule 2), unless a
 * DENY binding for the principal covers every name of the type (LITERAL "*").
 * (InitProducerId asks this of WRITE on topics, as Kafka does.)
 */
bool acl_authorize_any(const struct acl_binding *bindings, size_t bindings_count,
                       const struct acl_super_users *super_users, const char *principal,
                       enum acl_resource_type resource_type, enum acl_operation operation);

/* "read", "topic", "prefixed", "allow" (lower case, as the CLI writes them); "?" when unknown. */
const char *acl_operation_name(enum acl_operation operation);
const char *acl_resource_type_name(enum acl_resource_type resource_type);
const char *acl_pattern_name(enum acl_pattern pattern);
const char *acl_permission_name(enum acl_permission permission);

#endif
