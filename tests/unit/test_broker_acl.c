/*
 * Unit tests for broker/acl: validation of each field of a binding, the total
 * order, filters, the decision (super users, default deny, literal, "*",
 * prefixed, the "*" principal, DENY over ALLOW, ALL, the operations DESCRIBE
 * is implied by), acl_authorize_any and the names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/acl.h"
#include "common/error.h"

static struct acl_binding binding_of(const char *principal, enum acl_resource_type resource_type,
                                     const char *resource_name, enum acl_pattern pattern,
                                     enum acl_operation operation, enum acl_permission permission)
{
    struct acl_binding binding = {principal, resource_type, resource_name,
                                  pattern,   operation,     permission};
    return binding;
}

static struct acl_binding allow_topic(const char *principal, const char *name,
                                      enum acl_operation operation)
{
    return binding_of(principal, ACL_RESOURCE_TOPIC, name, ACL_PATTERN_LITERAL, operation,
                      ACL_PERMISSION_ALLOW);
}

static bool may(const struct acl_binding *bindings, size_t count, const char *principal,
                enum acl_resource_type resource_type, const char *name,
                enum acl_operation operation)
{
    struct acl_request request = {principal, resource_type, name, operation};
    return acl_authorize(bindings, count, NULL, &request);
}

static bool may_topic(const struct acl_binding *bindings, size_t count, const char *principal,
                      const char *name, enum acl_operation operation)
{
    return may(bindings, count, principal, ACL_RESOURCE_TOPIC, name, operation);
}

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* ---- validation ----------------------------------------------------------------------- */

/* Asserts that the binding is refused with a sentence that contains `field`. */
static void assert_invalid_naming(const struct acl_binding *binding, const char *field)
{
    char errbuf[ACL_ERROR_BYTES] = "";
    int rc = acl_binding_validate(binding, errbuf, sizeof errbuf);
    if (rc != ETHER_ERR_INVALID_ARGUMENT) {
        fail_msg("expected ETHER_ERR_INVALID_ARGUMENT naming %s, got %s", field,
                 ether_error_name(rc));
    }
    if (strstr(errbuf, field) == NULL) {
        fail_msg("\"%s\" does not name the %s", errbuf, field);
    }
}

static void test_valid_bindings_are_accepted_with_an_empty_message(void **unused)
{
    (void)unused;
    const struct acl_binding valid[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
        allow_topic("*", "*", ACL_OPERATION_ALL),
        binding_of("Jane Doe", ACL_RESOURCE_GROUP, "billing consumers", ACL_PATTERN_PREFIXED,
                   ACL_OPERATION_READ, ACL_PERMISSION_DENY),
        binding_of("ops", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL, ACL_OPERATION_ALTER,
                   ACL_PERMISSION_ALLOW),
        binding_of("bob", ACL_RESOURCE_TOPIC, "a*", ACL_PATTERN_PREFIXED, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_ALLOW),
    };
    for (size_t i = 0; i < COUNT(valid); i++) {
        char errbuf[ACL_ERROR_BYTES] = "stale";
        assert_int_equal(acl_binding_validate(&valid[i], errbuf, sizeof errbuf), ETHER_OK);
        assert_string_equal(errbuf, "");
    }
    /* The longest names fit. */
    char principal[ACL_PRINCIPAL_BYTES_MAX + 1];
    char name[ACL_RESOURCE_BYTES_MAX + 1];
    memset(principal, 'p', ACL_PRINCIPAL_BYTES_MAX);
    principal[ACL_PRINCIPAL_BYTES_MAX] = '\0';
    memset(name, 'n', ACL_RESOURCE_BYTES_MAX);
    name[ACL_RESOURCE_BYTES_MAX] = '\0';
    struct acl_binding longest = allow_topic(principal, name, ACL_OPERATION_READ);
    assert_int_equal(acl_binding_validate(&longest, NULL, 0), ETHER_OK);
}

static void test_each_invalid_field_is_refused_with_a_sentence_naming_it(void **unused)
{
    (void)unused;
    char long_principal[ACL_PRINCIPAL_BYTES_MAX + 2];
    memset(long_principal, 'p', ACL_PRINCIPAL_BYTES_MAX + 1);
    long_principal[ACL_PRINCIPAL_BYTES_MAX + 1] = '\0';
    char long_name[ACL_RESOURCE_BYTES_MAX + 2];
    memset(long_name, 'n', ACL_RESOURCE_BYTES_MAX + 1);
    long_name[ACL_RESOURCE_BYTES_MAX + 1] = '\0';

    struct acl_binding binding = allow_topic("", "orders", ACL_OPERATION_READ);
    assert_invalid_naming(&binding, "principal");
    binding.principal = NULL;
    assert_invalid_naming(&binding, "principal");
    binding.principal = long_principal;
    assert_invalid_naming(&binding, "principal");
    binding.principal = "tab\there";
    assert_invalid_naming(&binding, "principal");
    binding.principal = "caf\xc3\xa9";
    assert_invalid_naming(&binding, "principal");

    binding = allow_topic("alice", "orders", ACL_OPERATION_READ);
    binding.resource_type = ACL_RESOURCE_ANY;
    assert_invalid_naming(&binding, "resource type");
    binding.resource_type = (enum acl_resource_type)4;
    assert_invalid_naming(&binding, "resource type");

    binding = allow_topic("alice", "", ACL_OPERATION_READ);
    assert_invalid_naming(&binding, "resource name");
    binding.resource_name = NULL;
    assert_invalid_naming(&binding, "resource name");
    binding.resource_name = long_name;
    assert_invalid_naming(&binding, "resource name");
    binding.resource_name = "new\nline";
    assert_invalid_naming(&binding, "resource name");
    binding = binding_of("alice", ACL_RESOURCE_CLUSTER, "kafka-cluster", ACL_PATTERN_LITERAL,
                         ACL_OPERATION_ALTER, ACL_PERMISSION_ALLOW);
    assert_invalid_naming(&binding, "resource name");

    binding = binding_of("alice", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_PREFIXED,
                         ACL_OPERATION_ALTER, ACL_PERMISSION_ALLOW);
    assert_invalid_naming(&binding, "pattern");
    binding = allow_topic("alice", "orders", ACL_OPERATION_READ);
    binding.pattern = (enum acl_pattern)2;
    assert_invalid_naming(&binding, "pattern");
    binding = binding_of("alice", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                         ACL_PERMISSION_ALLOW);
    assert_invalid_naming(&binding, "prefixed");

    binding = allow_topic("alice", "orders", ACL_OPERATION_ANY);
    assert_invalid_naming(&binding, "operation");
    binding.operation = (enum acl_operation)8;
    assert_invalid_naming(&binding, "operation");

    binding = allow_topic("alice", "orders", ACL_OPERATION_READ);
    binding.permission = ACL_PERMISSION_ANY;
    assert_invalid_naming(&binding, "permission");
    binding.permission = (enum acl_permission)3;
    assert_invalid_naming(&binding, "permission");

    /* No message buffer: the code alone. */
    binding.permission = (enum acl_permission)3;
    assert_int_equal(acl_binding_validate(&binding, NULL, 0), ETHER_ERR_INVALID_ARGUMENT);
}

/* ---- order ---------------------------------------------------------------------------- */

static void test_compare_is_a_total_order_by_each_field_in_turn(void **unused)
{
    (void)unused;
    /* Sorted: each differs from the one before in one field, the earliest field first. */
    const struct acl_binding sorted[] = {
        binding_of("*", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("Zed", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("alice", ACL_RESOURCE_TOPIC, "a", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                   ACL_PERMISSION_DENY),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_ALLOW),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders2", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("alice", ACL_RESOURCE_GROUP, "a", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("alice", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
        binding_of("alicf", ACL_RESOURCE_TOPIC, "a", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
    };
    for (size_t i = 0; i < COUNT(sorted); i++) {
        assert_int_equal(acl_binding_validate(&sorted[i], NULL, 0), ETHER_OK);
        for (size_t j = 0; j < COUNT(sorted); j++) {
            int expected = (i > j) - (i < j);
            int order = acl_binding_compare(&sorted[i], &sorted[j]);
            if ((order > 0) - (order < 0) != expected) {
                fail_msg("compare(%zu, %zu) = %d, expected the sign of %d", i, j, order, expected);
            }
        }
    }
    /* Equal fields in distinct strings compare equal. */
    char principal[] = "alice";
    char name[] = "orders";
    struct acl_binding copy = allow_topic(principal, name, ACL_OPERATION_READ);
    assert_int_equal(acl_binding_compare(&copy, &sorted[3]), 0);
    /* Strings compare as bytes, above 0x7f too. */
    struct acl_binding high = allow_topic("\xc3\xa9", "orders", ACL_OPERATION_READ);
    assert_true(acl_binding_compare(&high, &sorted[10]) > 0);
}

/* ---- filters -------------------------------------------------------------------------- */

static void test_filters_match_the_set_fields_and_empty_ones_match_all(void **unused)
{
    (void)unused;
    struct acl_binding topic = allow_topic("alice", "orders", ACL_OPERATION_READ);
    struct acl_binding cluster = binding_of("ops", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL,
                                            ACL_OPERATION_ALTER, ACL_PERMISSION_ALLOW);
    assert_true(acl_binding_matches_filter(&topic, NULL, ACL_RESOURCE_ANY, NULL));
    assert_true(acl_binding_matches_filter(&topic, "", ACL_RESOURCE_ANY, ""));
    assert_true(acl_binding_matches_filter(&topic, "alice", ACL_RESOURCE_ANY, NULL));
    assert_false(acl_binding_matches_filter(&topic, "bob", ACL_RESOURCE_ANY, NULL));
    assert_true(acl_binding_matches_filter(&topic, NULL, ACL_RESOURCE_TOPIC, NULL));
    assert_false(acl_binding_matches_filter(&topic, NULL, ACL_RESOURCE_GROUP, NULL));
    assert_true(acl_binding_matches_filter(&topic, NULL, ACL_RESOURCE_ANY, "orders"));
    assert_false(acl_binding_matches_filter(&topic, NULL, ACL_RESOURCE_ANY, "order"));
    assert_true(acl_binding_matches_filter(&topic, "alice", ACL_RESOURCE_TOPIC, "orders"));
    assert_false(acl_binding_matches_filter(&topic, "alice", ACL_RESOURCE_TOPIC, "payments"));
    /* A filter is equality, not the decision: "*" in a filter is the binding "*" only. */
    assert_false(acl_binding_matches_filter(&topic, "*", ACL_RESOURCE_ANY, NULL));
    struct acl_binding everyone = allow_topic("*", "*", ACL_OPERATION_READ);
    assert_true(acl_binding_matches_filter(&everyone, "*", ACL_RESOURCE_TOPIC, "*"));
    assert_false(acl_binding_matches_filter(&everyone, "alice", ACL_RESOURCE_ANY, NULL));
    assert_false(acl_binding_matches_filter(&everyone, NULL, ACL_RESOURCE_ANY, "orders"));
    assert_true(acl_binding_matches_filter(&cluster, "ops", ACL_RESOURCE_CLUSTER, NULL));
    assert_false(acl_binding_matches_filter(&cluster, NULL, ACL_RESOURCE_TOPIC, NULL));
}

/* ---- the decision --------------------------------------------------------------------- */

static void test_super_users_are_allowed_everything_even_when_denied(void **unused)
{
    (void)unused;
    const char *const names[] = {"admin", "ops"};
    struct acl_super_users super_users = {names, COUNT(names)};
    const struct acl_binding bindings[] = {
        binding_of("*", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                   ACL_PERMISSION_DENY),
    };
    struct acl_request request = {"ops", ACL_RESOURCE_TOPIC, "orders", ACL_OPERATION_WRITE};
    assert_true(acl_authorize(bindings, COUNT(bindings), &super_users, &request));
    assert_true(acl_authorize(NULL, 0, &super_users, &request));
    request = (struct acl_request){"admin", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_ALTER};
    assert_true(acl_authorize(NULL, 0, &super_users, &request));
    /* Not a super user; anonymous never is. */
    request = (struct acl_request){"alice", ACL_RESOURCE_TOPIC, "orders", ACL_OPERATION_READ};
    assert_false(acl_authorize(bindings, COUNT(bindings), &super_users, &request));
    request.principal = NULL;
    assert_false(acl_authorize(NULL, 0, &super_users, &request));
    request.principal = "Admin";
    assert_false(acl_authorize(NULL, 0, &super_users, &request));
    struct acl_super_users none = {NULL, 0};
    request.principal = "admin";
    assert_false(acl_authorize(NULL, 0, &none, &request));
}

static void test_without_a_matching_binding_everything_is_denied(void **unused)
{
    (void)unused;
    assert_false(may_topic(NULL, 0, "alice", "orders", ACL_OPERATION_READ));
    assert_false(may_topic(NULL, 0, NULL, "orders", ACL_OPERATION_DESCRIBE));
    assert_false(may(NULL, 0, "alice", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_CREATE));
    const struct acl_binding bindings[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
    };
    /* Another principal, resource, type or operation does not match. */
    assert_false(may_topic(bindings, 1, "bob", "orders", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, NULL, "orders", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "payments", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "orders2", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "order", ACL_OPERATION_READ));
    assert_false(may(bindings, 1, "alice", ACL_RESOURCE_GROUP, "orders", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "orders", ACL_OPERATION_WRITE));
}

static void test_a_literal_allow_allows_exactly_its_name(void **unused)
{
    (void)unused;
    const struct acl_binding bindings[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
        binding_of("alice", ACL_RESOURCE_GROUP, "billing", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
    };
    assert_true(may_topic(bindings, COUNT(bindings), "alice", "orders", ACL_OPERATION_READ));
    assert_true(
        may(bindings, COUNT(bindings), "alice", ACL_RESOURCE_GROUP, "billing", ACL_OPERATION_READ));
    assert_false(
        may(bindings, COUNT(bindings), "alice", ACL_RESOURCE_GROUP, "orders", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, COUNT(bindings), "alice", "billing", ACL_OPERATION_READ));
}

static void test_a_literal_star_name_allows_every_name_of_its_type(void **unused)
{
    (void)unused;
    const struct acl_binding bindings[] = {
        allow_topic("alice", "*", ACL_OPERATION_WRITE),
    };
    assert_true(may_topic(bindings, 1, "alice", "orders", ACL_OPERATION_WRITE));
    assert_true(may_topic(bindings, 1, "alice", "*", ACL_OPERATION_WRITE));
    assert_true(may_topic(bindings, 1, "alice", "x", ACL_OPERATION_WRITE));
    assert_false(may(bindings, 1, "alice", ACL_RESOURCE_GROUP, "orders", ACL_OPERATION_WRITE));
    assert_false(may_topic(bindings, 1, "bob", "orders", ACL_OPERATION_WRITE));
    /* A literal name other than "*" is not a pattern: "ord*" is that name only. */
    const struct acl_binding star_inside[] = {
        allow_topic("alice", "ord*", ACL_OPERATION_WRITE),
    };
    assert_false(may_topic(star_inside, 1, "alice", "orders", ACL_OPERATION_WRITE));
    assert_true(may_topic(star_inside, 1, "alice", "ord*", ACL_OPERATION_WRITE));
}

static void test_a_prefixed_binding_covers_every_name_that_starts_with_it(void **unused)
{
    (void)unused;
    const struct acl_binding bindings[] = {
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders.", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                   ACL_PERMISSION_ALLOW),
    };
    assert_true(may_topic(bindings, 1, "alice", "orders.", ACL_OPERATION_READ));
    assert_true(may_topic(bindings, 1, "alice", "orders.eu", ACL_OPERATION_READ));
    assert_true(may_topic(bindings, 1, "alice", "orders.eu.archive", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "orders", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "Orders.eu", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, "alice", "x.orders.eu", ACL_OPERATION_READ));
    assert_false(may(bindings, 1, "alice", ACL_RESOURCE_GROUP, "orders.eu", ACL_OPERATION_READ));
}

static void test_the_star_principal_matches_named_and_anonymous_principals(void **unused)
{
    (void)unused;
    const struct acl_binding bindings[] = {
        allow_topic("*", "public", ACL_OPERATION_READ),
    };
    assert_true(may_topic(bindings, 1, "alice", "public", ACL_OPERATION_READ));
    assert_true(may_topic(bindings, 1, "bob", "public", ACL_OPERATION_READ));
    assert_true(may_topic(bindings, 1, NULL, "public", ACL_OPERATION_READ));
    assert_false(may_topic(bindings, 1, NULL, "private", ACL_OPERATION_READ));
    /* A named binding never matches the anonymous principal. */
    const struct acl_binding named[] = {
        allow_topic("alice", "public", ACL_OPERATION_READ),
    };
    assert_false(may_topic(named, 1, NULL, "public", ACL_OPERATION_READ));
}

static void test_deny_beats_allow_however_each_matches(void **unused)
{
    (void)unused;
    /* The same literal resource. */
    const struct acl_binding literal[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
    };
    assert_false(may_topic(literal, COUNT(literal), "alice", "orders", ACL_OPERATION_READ));

    /* A deny by prefix over a literal allow, in either order of the list. */
    const struct acl_binding prefixed[] = {
        allow_topic("alice", "secret.keys", ACL_OPERATION_READ),
        allow_topic("alice", "public", ACL_OPERATION_READ),
        binding_of("alice", ACL_RESOURCE_TOPIC, "secret.", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
    };
    assert_false(may_topic(prefixed, COUNT(prefixed), "alice", "secret.keys", ACL_OPERATION_READ));
    assert_true(may_topic(prefixed, COUNT(prefixed), "alice", "public", ACL_OPERATION_READ));
    const struct acl_binding prefixed_first[] = {prefixed[2], prefixed[0]};
    assert_false(may_topic(prefixed_first, 2, "alice", "secret.keys", ACL_OPERATION_READ));

    /* A deny of every name over a literal allow. */
    const struct acl_binding wildcard_name[] = {
        allow_topic("alice", "orders", ACL_OPERATION_WRITE),
        binding_of("alice", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_DENY),
    };
    assert_false(
        may_topic(wildcard_name, COUNT(wildcard_name), "alice", "orders", ACL_OPERATION_WRITE));

    /* A deny of every principal over a named allow; it denies the anonymous one as well. */
    const struct acl_binding wildcard_principal[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
        allow_topic("*", "orders", ACL_OPERATION_READ),
        binding_of("*", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
    };
    assert_false(may_topic(wildcard_principal, COUNT(wildcard_principal), "alice", "orders",
                           ACL_OPERATION_READ));
    assert_false(may_topic(wildcard_principal, COUNT(wildcard_principal), NULL, "orders",
                           ACL_OPERATION_READ));

    /* A deny of ALL denies each operation; a deny of WRITE leaves READ allowed. */
    const struct acl_binding deny_all[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                   ACL_PERMISSION_DENY),
    };
    assert_false(may_topic(deny_all, COUNT(deny_all), "alice", "orders", ACL_OPERATION_READ));
    const struct acl_binding deny_write[] = {
        allow_topic("alice", "orders", ACL_OPERATION_ALL),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_DENY),
    };
    assert_true(may_topic(deny_write, COUNT(deny_write), "alice", "orders", ACL_OPERATION_READ));
    assert_false(may_topic(deny_write, COUNT(deny_write), "alice", "orders", ACL_OPERATION_WRITE));
    /* A deny of another principal or resource changes nothing. */
    const struct acl_binding deny_other[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
        binding_of("bob", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
        binding_of("alice", ACL_RESOURCE_GROUP, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
    };
    assert_true(may_topic(deny_other, COUNT(deny_other), "alice", "orders", ACL_OPERATION_READ));
}

static void test_all_allows_every_operation(void **unused)
{
    (void)unused;
    const struct acl_binding bindings[] = {
        allow_topic("alice", "orders", ACL_OPERATION_ALL),
    };
    for (int operation = ACL_OPERATION_READ; operation <= ACL_OPERATION_ALL; operation++) {
        assert_true(may_topic(bindings, 1, "alice", "orders", (enum acl_operation)operation));
    }
    /* Only ALL grants a request for ALL. */
    const struct acl_binding read[] = {
        allow_topic("alice", "orders", ACL_OPERATION_READ),
    };
    assert_false(may_topic(read, 1, "alice", "orders", ACL_OPERATION_ALL));
}

static void test_describe_is_implied_by_read_write_delete_and_alter_only(void **unused)
{
    (void)unused;
    const enum acl_operation implying[] = {ACL_OPERATION_READ, ACL_OPERATION_WRITE,
                                           ACL_OPERATION_DELETE, ACL_OPERATION_ALTER};
    for (size_t i = 0; i < COUNT(implying); i++) {
        const struct acl_binding bindings[] = {allow_topic("alice", "orders", implying[i])};
        assert_true(may_topic(bindings, 1, "alice", "orders", ACL_OPERATION_DESCRIBE));
        /* Of the same resource only. */
        assert_false(may_topic(bindings, 1, "alice", "payments", ACL_OPERATION_DESCRIBE));
    }
    const struct acl_binding create[] = {allow_topic("alice", "orders", ACL_OPERATION_CREATE)};
    assert_false(may_topic(create, 1, "alice", "orders", ACL_OPERATION_DESCRIBE));

    /* Nothing else is implied: not READ by DESCRIBE or WRITE, not WRITE by READ. */
    const struct acl_binding describe[] = {allow_topic("alice", "orders", ACL_OPERATION_DESCRIBE)};
    assert_true(may_topic(describe, 1, "alice", "orders", ACL_OPERATION_DESCRIBE));
    assert_false(may_topic(describe, 1, "alice", "orders", ACL_OPERATION_READ));
    const struct acl_binding write[] = {allow_topic("alice", "orders", ACL_OPERATION_WRITE)};
    assert_false(may_topic(write, 1, "alice", "orders", ACL_OPERATION_READ));
    const struct acl_binding read[] = {allow_topic("alice", "orders", ACL_OPERATION_READ)};
    assert_false(may_topic(read, 1, "alice", "orders", ACL_OPERATION_WRITE));
    assert_false(may_topic(read, 1, "alice", "orders", ACL_OPERATION_ALTER));

    /* A deny of READ denies DESCRIBE too (it matches as the allow would). */
    const struct acl_binding deny_read[] = {
        allow_topic("alice", "orders", ACL_OPERATION_DESCRIBE),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
    };
    assert_false(may_topic(deny_read, 2, "alice", "orders", ACL_OPERATION_DESCRIBE));
}

static void test_cluster_bindings_match_cluster_requests_only(void **unused)
{
    (void)unused;
    const struct acl_binding bindings[] = {
        binding_of("ops", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL, ACL_OPERATION_CREATE,
                   ACL_PERMISSION_ALLOW),
        binding_of("ops", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL, ACL_OPERATION_ALTER,
                   ACL_PERMISSION_ALLOW),
    };
    assert_true(
        may(bindings, COUNT(bindings), "ops", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_CREATE));
    assert_true(
        may(bindings, COUNT(bindings), "ops", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_DESCRIBE));
    assert_false(
        may(bindings, COUNT(bindings), "ops", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_DELETE));
    assert_false(
        may(bindings, COUNT(bindings), "alice", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_CREATE));
    /* A cluster binding says nothing about topics, and a topic "*" nothing about the cluster. */
    assert_false(may_topic(bindings, COUNT(bindings), "ops", "orders", ACL_OPERATION_CREATE));
    const struct acl_binding topics[] = {allow_topic("ops", "*", ACL_OPERATION_ALL)};
    assert_false(may(topics, 1, "ops", ACL_RESOURCE_CLUSTER, "", ACL_OPERATION_CREATE));
}

/* ---- acl_authorize_any ---------------------------------------------------------------- */

static bool may_any(const struct acl_binding *bindings, size_t count, const char *principal,
                    enum acl_operation operation)
{
    return acl_authorize_any(bindings, count, NULL, principal, ACL_RESOURCE_TOPIC, operation);
}

static void test_authorize_any_needs_one_allow_of_the_type_and_no_deny_of_every_name(void **unused)
{
    (void)unused;
    const char *const names[] = {"admin"};
    struct acl_super_users super_users = {names, 1};
    assert_true(
        acl_authorize_any(NULL, 0, &super_users, "admin", ACL_RESOURCE_TOPIC, ACL_OPERATION_WRITE));
    assert_false(
        acl_authorize_any(NULL, 0, &super_users, "alice", ACL_RESOURCE_TOPIC, ACL_OPERATION_WRITE));
    assert_false(may_any(NULL, 0, "alice", ACL_OPERATION_WRITE));

    /* Any one literal or prefixed allow will do, through "*" or ALL too. */
    const struct acl_binding one_topic[] = {allow_topic("alice", "orders", ACL_OPERATION_WRITE)};
    assert_true(may_any(one_topic, 1, "alice", ACL_OPERATION_WRITE));
    assert_true(may_any(one_topic, 1, "alice", ACL_OPERATION_DESCRIBE));
    assert_false(may_any(one_topic, 1, "alice", ACL_OPERATION_READ));
    assert_false(may_any(one_topic, 1, "bob", ACL_OPERATION_WRITE));
    assert_false(
        acl_authorize_any(one_topic, 1, NULL, "alice", ACL_RESOURCE_GROUP, ACL_OPERATION_WRITE));
    const struct acl_binding prefixed[] = {
        binding_of("alice", ACL_RESOURCE_TOPIC, "logs.", ACL_PATTERN_PREFIXED, ACL_OPERATION_ALL,
                   ACL_PERMISSION_ALLOW),
    };
    assert_true(may_any(prefixed, 1, "alice", ACL_OPERATION_WRITE));
    const struct acl_binding everyone[] = {allow_topic("*", "orders", ACL_OPERATION_WRITE)};
    assert_true(may_any(everyone, 1, NULL, ACL_OPERATION_WRITE));
    assert_true(may_any(everyone, 1, "bob", ACL_OPERATION_WRITE));

    /* A deny of some names leaves the others. */
    const struct acl_binding some_denied[] = {
        allow_topic("alice", "*", ACL_OPERATION_WRITE),
        binding_of("alice", ACL_RESOURCE_TOPIC, "secret.", ACL_PATTERN_PREFIXED,
                   ACL_OPERATION_WRITE, ACL_PERMISSION_DENY),
        binding_of("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                   ACL_PERMISSION_DENY),
    };
    assert_true(may_any(some_denied, COUNT(some_denied), "alice", ACL_OPERATION_WRITE));

    /* A deny of every name, for the principal or for "*", of the operation or ALL: no. */
    const struct acl_binding all_denied[] = {
        allow_topic("alice", "orders", ACL_OPERATION_WRITE),
        binding_of("alice", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_DENY),
    };
    assert_false(may_any(all_denied, COUNT(all_denied), "alice", ACL_OPERATION_WRITE));
    const struct acl_binding all_denied_to_everyone[] = {
        binding_of("*", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                   ACL_PERMISSION_DENY),
        allow_topic("alice", "orders", ACL_OPERATION_WRITE),
    };
    assert_false(may_any(all_denied_to_everyone, 2, "alice", ACL_OPERATION_WRITE));
    /* A deny of every name for another operation, principal or type does not count. */
    const struct acl_binding other_denied[] = {
        allow_topic("alice", "orders", ACL_OPERATION_WRITE),
        binding_of("alice", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                   ACL_PERMISSION_DENY),
        binding_of("bob", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_DENY),
        binding_of("alice", ACL_RESOURCE_GROUP, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                   ACL_PERMISSION_DENY),
    };
    assert_true(may_any(other_denied, COUNT(other_denied), "alice", ACL_OPERATION_WRITE));
}

/* ---- names ---------------------------------------------------------------------------- */

static void test_names_are_lower_case_and_unknown_values_are_a_question_mark(void **unused)
{
    (void)unused;
    static const char *const operations[] = {"any",    "read",     "write", "create",
                                             "delete", "describe", "alter", "all"};
    for (int i = 0; i < (int)COUNT(operations); i++) {
        assert_string_equal(acl_operation_name((enum acl_operation)i), operations[i]);
    }
    assert_string_equal(acl_operation_name((enum acl_operation)8), "?");
    assert_string_equal(acl_operation_name((enum acl_operation) - 1), "?");
    assert_string_equal(acl_resource_type_name(ACL_RESOURCE_ANY), "any");
    assert_string_equal(acl_resource_type_name(ACL_RESOURCE_TOPIC), "topic");
    assert_string_equal(acl_resource_type_name(ACL_RESOURCE_GROUP), "group");
    assert_string_equal(acl_resource_type_name(ACL_RESOURCE_CLUSTER), "cluster");
    assert_string_equal(acl_resource_type_name((enum acl_resource_type)4), "?");
    assert_string_equal(acl_pattern_name(ACL_PATTERN_LITERAL), "literal");
    assert_string_equal(acl_pattern_name(ACL_PATTERN_PREFIXED), "prefixed");
    assert_string_equal(acl_pattern_name((enum acl_pattern)2), "?");
    assert_string_equal(acl_permission_name(ACL_PERMISSION_ANY), "any");
    assert_string_equal(acl_permission_name(ACL_PERMISSION_ALLOW), "allow");
    assert_string_equal(acl_permission_name(ACL_PERMISSION_DENY), "deny");
    assert_string_equal(acl_permission_name((enum acl_permission)3), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_bindings_are_accepted_with_an_empty_message),
        cmocka_unit_test(test_each_invalid_field_is_refused_with_a_sentence_naming_it),
        cmocka_unit_test(test_compare_is_a_total_order_by_each_field_in_turn),
        cmocka_unit_test(test_filters_match_the_set_fields_and_empty_ones_match_all),
        cmocka_unit_test(test_super_users_are_allowed_everything_even_when_denied),
        cmocka_unit_test(test_without_a_matching_binding_everything_is_denied),
        cmocka_unit_test(test_a_literal_allow_allows_exactly_its_name),
        cmocka_unit_test(test_a_literal_star_name_allows_every_name_of_its_type),
        cmocka_unit_test(test_a_prefixed_binding_covers_every_name_that_starts_with_it),
        cmocka_unit_test(test_the_star_principal_matches_named_and_anonymous_principals),
        cmocka_unit_test(test_deny_beats_allow_however_each_matches),
        cmocka_unit_test(test_all_allows_every_operation),
        cmocka_unit_test(test_describe_is_implied_by_read_write_delete_and_alter_only),
        cmocka_unit_test(test_cluster_bindings_match_cluster_requests_only),
        cmocka_unit_test(test_authorize_any_needs_one_allow_of_the_type_and_no_deny_of_every_name),
        cmocka_unit_test(test_names_are_lower_case_and_unknown_values_are_a_question_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
