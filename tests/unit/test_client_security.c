/*
 * Tests of libether's user and ACL administration (ether_user_*, ether_acl_*)
 * against the fake cluster over TLS of test_client_fake_tls.h, whose controller
 * (broker 1) keeps users and ACL bindings: what each request carries, how
 * answers are decoded, which errors are retried (NOT_LEADER, a lost answer) and
 * which end the call at once, and the arguments refused before anything is sent
 * (a password only ever travels over TLS). Each test gets a new cluster and a
 * client that trusts its CA and presents alice's certificate; the certificates
 * are made once per run. (SCRAM logins are tested in test_client_tls.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_client_fake_tls.h"

#include <time.h>

#include "client/ether.h"
#include "common/scram.h"

enum { ERRSTR_BYTES = 512, BROKERS = 3, TIMEOUT_MS = 5000 };

struct fixture {
    struct fake_cluster cluster;
    const struct fake_certs *certs; /* the run's */
    struct ether_client *client;    /* over mTLS, as alice */
};

static int certs_make(void **state)
{
    *state = fake_certs_new(BROKERS);
    return *state != NULL ? 0 : -1;
}

static int certs_remove(void **state)
{
    return fake_certs_free(*state);
}

/* *state is the run's certificates (cmocka hands the group's state to each test). */
static int fixture_start(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    fixture->certs = *state;
    assert_non_null(fixture->certs);
    fake_tls_cluster_start(&fixture->cluster, BROKERS, fixture->certs, NULL, true);
    char brokers[256];
    fake_cluster_brokers(&fixture->cluster, BROKERS, brokers, sizeof brokers);
    struct ether_config *config = fake_tls_config(fixture->certs, brokers, "ca", "alice");
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_config_set(config, "retry_backoff_max_ms", "50", errstr, sizeof errstr),
                     ETHER_OK);
    fixture->client = fake_tls_client_from(config);
    *state = fixture;
    return 0;
}

static int fixture_stop(void **state)
{
    struct fixture *fixture = *state;
    ether_client_destroy(fixture->client);
    fake_cluster_stop(&fixture->cluster);
    free(fixture);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

/* A copy of the fake controller's user `name` (name "" when there is none). */
static struct fake_user stored_user(struct fake_cluster *cluster, const char *name)
{
    pthread_mutex_lock(&cluster->mutex);
    struct fake_user *user = fake_user_find(cluster, name);
    struct fake_user copy = {0};
    if (user != NULL) {
        copy = *user;
    }
    pthread_mutex_unlock(&cluster->mutex);
    return copy;
}

/* ---- users ----------------------------------------------------------------------------------- */

static void
test_user_create_sends_name_password_iterations_and_timeout_to_the_controller(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_user_create(fixture->client, "alice", "alice-secret", 8192, 0, 4000,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    struct fake_user alice = stored_user(cluster, "alice");
    assert_string_equal(alice.name, "alice");
    assert_string_equal(alice.password, "alice-secret");
    assert_int_equal(alice.iterations, 8192);
    assert_int_equal(fake_read(cluster, &cluster->last_create_user_timeout_ms), 4000);
    assert_string_equal(errstr, "");

    /* Iterations 0 leaves the count to the controller (the fake's default is 4096). */
    assert_int_equal(ether_user_create(fixture->client, "bob", "bob-secret", 0, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(stored_user(cluster, "bob").iterations, 4096);
}

static void test_user_create_of_an_existing_user_needs_replace(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    char errstr[ERRSTR_BYTES];
    assert_int_equal(ether_user_create(fixture->client, "carol", "first-password", 0, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    uint32_t requests = fake_read(cluster, &cluster->security_requests);
    assert_int_equal(ether_user_create(fixture->client, "carol", "second-password", 0, 0,
                                       TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_ERR_EXISTS);
    assert_string_equal(errstr, "cannot create user carol: a user with this name already exists");
    assert_null(strstr(errstr, "password"));
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests + 1);
    assert_string_equal(stored_user(cluster, "carol").password, "first-password");

    assert_int_equal(ether_user_create(fixture->client, "carol", "second-password", 0, 1,
                                       TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_OK);
    assert_string_equal(stored_user(cluster, "carol").password, "second-password");
}

static void test_user_list_is_sorted_by_name_and_owned_by_the_caller(void **state)
{
    struct fixture *fixture = *state;
    char errstr[ERRSTR_BYTES];
    /* The fake lists in the order of creation. */
    assert_int_equal(ether_user_create(fixture->client, "zoe", "zoe-password", 10000, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_user_create(fixture->client, "adam", "adam-password", 0, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    struct ether_user *users = NULL;
    size_t count = 99;
    assert_int_equal(
        ether_user_list(fixture->client, TIMEOUT_MS, &users, &count, errstr, sizeof errstr),
        ETHER_OK);
    assert_int_equal(count, 2);
    assert_string_equal(users[0].name, "adam");
    assert_string_equal(users[0].mechanism, "SCRAM-SHA-256");
    assert_int_equal(users[0].iterations, 4096);
    assert_string_equal(users[1].name, "zoe");
    assert_int_equal(users[1].iterations, 10000);
    ether_users_free(users, count);

    assert_int_equal(ether_user_delete(fixture->client, "zoe", TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_user_delete(fixture->client, "adam", TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_OK);
    users = (struct ether_user *)&count; /* overwritten */
    assert_int_equal(
        ether_user_list(fixture->client, TIMEOUT_MS, &users, &count, errstr, sizeof errstr),
        ETHER_OK);
    assert_int_equal(count, 0);
    assert_null(users);
    ether_users_free(users, count);
}

static void test_user_delete_of_a_missing_user_is_not_found(void **state)
{
    struct fixture *fixture = *state;
    char errstr[ERRSTR_BYTES];
    assert_int_equal(
        ether_user_delete(fixture->client, "nobody", TIMEOUT_MS, errstr, sizeof errstr),
        ETHER_ERR_NOT_FOUND);
    assert_string_equal(errstr, "cannot delete user nobody: no such user");
}

static void test_user_and_acl_requests_follow_a_moved_controller(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    char errstr[ERRSTR_BYTES];
    pthread_mutex_lock(&cluster->mutex);
    cluster->security_not_leader = 2;
    pthread_mutex_unlock(&cluster->mutex);
    uint32_t requests = fake_read(cluster, &cluster->security_requests);
    assert_int_equal(ether_user_create(fixture->client, "dave", "dave-password", 0, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests + 3);
    assert_string_equal(stored_user(cluster, "dave").name, "dave");

    pthread_mutex_lock(&cluster->mutex);
    cluster->security_not_leader = 1;
    pthread_mutex_unlock(&cluster->mutex);
    struct ether_acl *acls = NULL;
    size_t count = 0;
    assert_int_equal(ether_acl_list(fixture->client, NULL, ETHER_ACL_RESOURCE_ANY, NULL, TIMEOUT_MS,
                                    &acls, &count, errstr, sizeof errstr),
                     ETHER_OK);
    ether_acls_free(acls, count);
    /* Only the controller was asked. */
    assert_int_equal(fake_read(cluster, &cluster->security_not_controller), 0);
}

static void test_refusals_end_the_call_at_once_with_the_controllers_sentence(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    char errstr[ERRSTR_BYTES];
    pthread_mutex_lock(&cluster->mutex);
    cluster->security_error = ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED;
    pthread_mutex_unlock(&cluster->mutex);
    uint32_t requests = fake_read(cluster, &cluster->security_requests);
    uint64_t started_ms = now_ms();
    assert_int_equal(ether_user_create(fixture->client, "eve", "eve-password", 0, 0, 20000, errstr,
                                       sizeof errstr),
                     ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED);
    assert_string_equal(errstr, "cannot create user eve: principal anonymous may not alter the "
                                "cluster's security");
    struct ether_user *users = NULL;
    size_t user_count = 0;
    assert_int_equal(
        ether_user_list(fixture->client, 20000, &users, &user_count, errstr, sizeof errstr),
        ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED);
    assert_null(users);
    assert_non_null(strstr(errstr, "cannot list users: principal anonymous"));
    struct ether_acl acl = {
        .principal = "eve",
        .resource_type = ETHER_ACL_RESOURCE_CLUSTER,
        .operation = ETHER_ACL_OPERATION_ALL,
        .permission = ETHER_ACL_PERMISSION_ALLOW,
    };
    assert_int_equal(ether_acl_create(fixture->client, &acl, 20000, errstr, sizeof errstr),
                     ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED);
    assert_string_equal(errstr, "cannot create the ACL binding of eve on the cluster: principal "
                                "anonymous may not alter the cluster's security");
    struct ether_acl *acls = NULL;
    size_t acl_count = 0;
    assert_int_equal(ether_acl_list(fixture->client, "eve", ETHER_ACL_RESOURCE_ANY, NULL, 20000,
                                    &acls, &acl_count, errstr, sizeof errstr),
                     ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED);
    assert_null(acls);
    /* One request each, not retried until the timeout. */
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests + 4);
    assert_true(now_ms() - started_ms < 5000);
    pthread_mutex_lock(&cluster->mutex);
    cluster->security_error = 0;
    pthread_mutex_unlock(&cluster->mutex);
}

static void test_bad_users_are_refused_before_anything_is_sent(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    struct ether_client *client = fixture->client;
    char errstr[ERRSTR_BYTES];
    uint32_t requests = fake_read(cluster, &cluster->security_requests);
    static char long_name[200];
    memset(long_name, 'n', sizeof long_name - 1);
    static char long_password[1100];
    memset(long_password, 'p', sizeof long_password - 1);
    const char *bad_names[] = {"", "with space", "tab\there", "caf\xc3\xa9", long_name};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_int_equal(ether_user_create(client, bad_names[i], "the-password", 0, 0, TIMEOUT_MS,
                                           errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
        assert_string_equal(errstr, "a user name is 1 to 128 printable ASCII characters without "
                                    "spaces");
        assert_int_equal(ether_user_delete(client, bad_names[i], TIMEOUT_MS, errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
    }
    assert_int_equal(
        ether_user_create(client, NULL, "the-password", 0, 0, TIMEOUT_MS, errstr, sizeof errstr),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ether_user_create(client, "frank", "", 0, 0, TIMEOUT_MS, errstr, sizeof errstr),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "a password is 1 to 1024 bytes");
    assert_int_equal(
        ether_user_create(client, "frank", NULL, 0, 0, TIMEOUT_MS, errstr, sizeof errstr),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ether_user_create(client, "frank", long_password, 0, 0, TIMEOUT_MS, errstr, sizeof errstr),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_null(strstr(errstr, "ppp"));
    assert_int_equal(ether_user_create(client, "frank", "the-password", 4095, 0, TIMEOUT_MS, errstr,
                                       sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "iterations must be 0 (the default) or from 4096 to 100000, not "
                                "4095");
    assert_null(strstr(errstr, "the-password"));
    /* A new credential is hashed on the broker's event loop: fewer than a login accepts. */
    assert_int_equal(ether_user_create(client, "frank", "the-password",
                                       ETHER_SCRAM_ITERATIONS_CREATE_MAX + 1, 0, TIMEOUT_MS, errstr,
                                       sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "iterations must be 0 (the default) or from 4096 to 100000, not "
                                "100001");
    assert_int_equal(ether_user_create(client, "frank", "the-password", 1000001, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(ether_user_list(client, TIMEOUT_MS, NULL, NULL, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests);
}

static void
test_user_create_on_a_client_without_tls_is_refused_before_anything_is_sent(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    char brokers[256];
    fake_cluster_brokers(cluster, BROKERS, brokers, sizeof brokers);
    struct ether_client *in_clear = fake_tls_client(fixture->certs, brokers, NULL, NULL);
    char errstr[ERRSTR_BYTES];
    uint32_t requests = fake_read(cluster, &cluster->security_requests);
    for (int replace = 0; replace <= 1; replace++) {
        assert_int_equal(ether_user_create(in_clear, "grace", "grace-password", 0, replace,
                                           TIMEOUT_MS, errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
        assert_string_equal(errstr,
                            "creating a user sends its password: it needs TLS (set tls_ca_file)");
    }
    ether_client_destroy(in_clear);
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests);
    assert_string_equal(stored_user(cluster, "grace").name, "");

    /* The same call over TLS is one request. */
    assert_int_equal(ether_user_create(fixture->client, "grace", "grace-password", 0, 0, TIMEOUT_MS,
                                       errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests + 1);
    assert_string_equal(stored_user(cluster, "grace").password, "grace-password");
}

/* ---- ACLs ------------------------------------------------------------------------------------ */

/* A copy of the fake controller's ACL bindings. */
static uint32_t stored_acls(struct fake_cluster *cluster, struct fake_acl *acls)
{
    pthread_mutex_lock(&cluster->mutex);
    uint32_t count = cluster->acl_count;
    memcpy(acls, cluster->acls, sizeof cluster->acls);
    pthread_mutex_unlock(&cluster->mutex);
    return count;
}

static void test_acl_bindings_are_created_listed_and_deleted_as_given(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    struct ether_client *client = fixture->client;
    char errstr[ERRSTR_BYTES];
    const struct ether_acl given[] = {
        {"alice", ETHER_ACL_RESOURCE_GROUP, "billing", ETHER_ACL_PATTERN_LITERAL,
         ETHER_ACL_OPERATION_READ, ETHER_ACL_PERMISSION_ALLOW},
        {"*", ETHER_ACL_RESOURCE_TOPIC, "ord", ETHER_ACL_PATTERN_PREFIXED,
         ETHER_ACL_OPERATION_WRITE, ETHER_ACL_PERMISSION_DENY},
        {"alice", ETHER_ACL_RESOURCE_CLUSTER, NULL, ETHER_ACL_PATTERN_LITERAL,
         ETHER_ACL_OPERATION_ALTER, ETHER_ACL_PERMISSION_ALLOW},
        {"alice", ETHER_ACL_RESOURCE_TOPIC, "orders", ETHER_ACL_PATTERN_LITERAL,
         ETHER_ACL_OPERATION_DESCRIBE, ETHER_ACL_PERMISSION_ALLOW},
        {"alice", ETHER_ACL_RESOURCE_TOPIC, "orders", ETHER_ACL_PATTERN_LITERAL,
         ETHER_ACL_OPERATION_READ, ETHER_ACL_PERMISSION_ALLOW},
    };
    enum { GIVEN = sizeof given / sizeof given[0] };
    for (size_t i = 0; i < GIVEN; i++) {
        if (ether_acl_create(client, &given[i], TIMEOUT_MS, errstr, sizeof errstr) != ETHER_OK) {
            fail_msg("binding %zu: %s", i, errstr);
        }
    }
    assert_int_equal(ether_acl_create(client, &given[2], TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_ERR_EXISTS);
    assert_string_equal(errstr, "cannot create the ACL binding of alice on the cluster: an equal "
                                "ACL binding exists");
    /* As sent: every field, the cluster's name as "". */
    struct fake_acl stored[FAKE_ACLS_MAX];
    assert_int_equal(stored_acls(cluster, stored), GIVEN);
    for (size_t i = 0; i < GIVEN; i++) {
        assert_string_equal(stored[i].principal, given[i].principal);
        assert_int_equal(stored[i].resource_type, given[i].resource_type);
        assert_string_equal(stored[i].resource_name,
                            given[i].resource_name != NULL ? given[i].resource_name : "");
        assert_int_equal(stored[i].pattern, given[i].pattern);
        assert_int_equal(stored[i].operation, given[i].operation);
        assert_int_equal(stored[i].permission, given[i].permission);
    }

    /* Every binding, sorted: topics, then groups, then the cluster; by name, pattern, ... */
    struct ether_acl *acls = NULL;
    size_t count = 0;
    assert_int_equal(ether_acl_list(client, NULL, ETHER_ACL_RESOURCE_ANY, NULL, TIMEOUT_MS, &acls,
                                    &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, GIVEN);
    const size_t sorted[GIVEN] = {1, 4, 3, 0, 2};
    for (size_t i = 0; i < GIVEN; i++) {
        const struct ether_acl *want = &given[sorted[i]];
        assert_string_equal(acls[i].principal, want->principal);
        assert_int_equal(acls[i].resource_type, want->resource_type);
        assert_string_equal(acls[i].resource_name,
                            want->resource_name != NULL ? want->resource_name : "");
        assert_int_equal(acls[i].pattern, want->pattern);
        assert_int_equal(acls[i].operation, want->operation);
        assert_int_equal(acls[i].permission, want->permission);
    }
    ether_acls_free(acls, count);

    /* Filters: a principal, a resource type, a name (exact: not the prefix "ord"). */
    assert_int_equal(ether_acl_list(client, "*", ETHER_ACL_RESOURCE_ANY, "", TIMEOUT_MS, &acls,
                                    &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 1);
    assert_string_equal(acls[0].resource_name, "ord");
    ether_acls_free(acls, count);
    assert_int_equal(ether_acl_list(client, "alice", ETHER_ACL_RESOURCE_TOPIC, "orders", TIMEOUT_MS,
                                    &acls, &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 2);
    assert_int_equal(acls[0].operation, ETHER_ACL_OPERATION_READ);
    assert_int_equal(acls[1].operation, ETHER_ACL_OPERATION_DESCRIBE);
    ether_acls_free(acls, count);
    assert_int_equal(ether_acl_list(client, NULL, ETHER_ACL_RESOURCE_CLUSTER, NULL, TIMEOUT_MS,
                                    &acls, &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 1);
    assert_int_equal(acls[0].operation, ETHER_ACL_OPERATION_ALTER);
    ether_acls_free(acls, count);

    /* Deleting removes exactly the equal binding; a second time it is not there. */
    assert_int_equal(ether_acl_delete(client, &given[1], TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(stored_acls(cluster, stored), GIVEN - 1);
    assert_int_equal(ether_acl_delete(client, &given[1], TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_ERR_NOT_FOUND);
    assert_string_equal(errstr, "cannot delete the ACL binding of * on topic prefix ord: no such "
                                "ACL binding");
    struct ether_acl other = given[0];
    other.permission = ETHER_ACL_PERMISSION_DENY;
    assert_int_equal(ether_acl_delete(client, &other, TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_ERR_NOT_FOUND);
    for (size_t i = 0; i < GIVEN; i++) {
        if (i != 1) {
            assert_int_equal(ether_acl_delete(client, &given[i], TIMEOUT_MS, errstr, sizeof errstr),
                             ETHER_OK);
        }
    }
    assert_int_equal(ether_acl_list(client, NULL, ETHER_ACL_RESOURCE_ANY, NULL, TIMEOUT_MS, &acls,
                                    &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 0);
    assert_null(acls);
}

static void test_bad_acl_bindings_are_refused_before_anything_is_sent(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    struct ether_client *client = fixture->client;
    char errstr[ERRSTR_BYTES];
    uint32_t requests = fake_read(cluster, &cluster->security_requests);
    const struct ether_acl good = {"alice",
                                   ETHER_ACL_RESOURCE_TOPIC,
                                   "orders",
                                   ETHER_ACL_PATTERN_LITERAL,
                                   ETHER_ACL_OPERATION_READ,
                                   ETHER_ACL_PERMISSION_ALLOW};
    struct {
        struct ether_acl acl;
        const char *sentence;
    } bad[] = {
        {good, "an ACL binding needs a principal (a user name, or * for everyone)"},
        {good, "an ACL binding needs a principal (a user name, or * for everyone)"},
        {good, "an ACL binding for a topic needs its name (or * for every topic)"},
        {good, "an ACL binding for a group needs its name (or * for every group)"},
        {good, "an ACL binding for the cluster takes no resource name and no prefixed pattern"},
        {good, "an ACL binding for the cluster takes no resource name and no prefixed pattern"},
        {good, "an ACL binding is for a topic, a group or the cluster"},
        {good, "an ACL binding is for a topic, a group or the cluster"},
        {good, "an ACL binding's pattern is literal or prefixed"},
        {good, "an ACL binding needs one operation: read, write, create, delete, describe, "
               "alter or all"},
        {good, "an ACL binding needs one operation: read, write, create, delete, describe, "
               "alter or all"},
        {good, "an ACL binding either allows or denies"},
        {good, "an ACL binding either allows or denies"},
    };
    bad[0].acl.principal = NULL;
    bad[1].acl.principal = "";
    bad[2].acl.resource_name = "";
    bad[3].acl.resource_type = ETHER_ACL_RESOURCE_GROUP;
    bad[3].acl.resource_name = NULL;
    bad[4].acl.resource_type = ETHER_ACL_RESOURCE_CLUSTER;
    bad[5].acl.resource_type = ETHER_ACL_RESOURCE_CLUSTER;
    bad[5].acl.resource_name = NULL;
    bad[5].acl.pattern = ETHER_ACL_PATTERN_PREFIXED;
    bad[6].acl.resource_type = ETHER_ACL_RESOURCE_ANY;
    bad[7].acl.resource_type = (enum ether_acl_resource_type)9;
    bad[8].acl.pattern = (enum ether_acl_pattern)2;
    bad[9].acl.operation = ETHER_ACL_OPERATION_ANY;
    bad[10].acl.operation = (enum ether_acl_operation)8;
    bad[11].acl.permission = ETHER_ACL_PERMISSION_ANY;
    bad[12].acl.permission = (enum ether_acl_permission)3;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ether_acl_create(client, &bad[i].acl, TIMEOUT_MS, errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
        assert_string_equal(errstr, bad[i].sentence);
        assert_int_equal(ether_acl_delete(client, &bad[i].acl, TIMEOUT_MS, errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
        assert_string_equal(errstr, bad[i].sentence);
    }
    assert_int_equal(ether_acl_create(client, NULL, TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    struct ether_acl *acls = (struct ether_acl *)&requests;
    size_t count = 7;
    assert_int_equal(ether_acl_list(client, NULL, (enum ether_acl_resource_type)4, NULL, TIMEOUT_MS,
                                    &acls, &count, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_null(acls);
    assert_int_equal(count, 0);
    assert_int_equal(fake_read(cluster, &cluster->security_requests), requests);
}

/* The user/ACL requests the controller received (a retry may first ask another broker). */
static uint32_t controller_requests(struct fake_cluster *cluster)
{
    pthread_mutex_lock(&cluster->mutex);
    uint32_t count = cluster->security_requests - cluster->security_not_controller;
    pthread_mutex_unlock(&cluster->mutex);
    return count;
}

/* A binding is its value: when a retry finds the work of an attempt whose answer was lost
 * already done, the call is done. */
static void test_acl_writes_whose_answers_were_lost_succeed_when_retried(void **state)
{
    struct fixture *fixture = *state;
    struct fake_cluster *cluster = &fixture->cluster;
    struct ether_client *client = fixture->client;
    char errstr[ERRSTR_BYTES];
    struct fake_acl stored[FAKE_ACLS_MAX];
    const struct ether_acl acl = {"alice",
                                  ETHER_ACL_RESOURCE_TOPIC,
                                  "orders",
                                  ETHER_ACL_PATTERN_LITERAL,
                                  ETHER_ACL_OPERATION_WRITE,
                                  ETHER_ACL_PERMISSION_ALLOW};
    uint32_t requests = controller_requests(cluster);
    pthread_mutex_lock(&cluster->mutex);
    cluster->security_lose_answers = 1;
    pthread_mutex_unlock(&cluster->mutex);
    if (ether_acl_create(client, &acl, TIMEOUT_MS, errstr, sizeof errstr) != ETHER_OK) {
        fail_msg("create: %s", errstr);
    }
    /* Created by the first attempt, found by the second (EXISTS). */
    assert_int_equal(fake_read(cluster, &cluster->security_lost_answers), 1);
    assert_int_equal(controller_requests(cluster), requests + 2);
    assert_int_equal(stored_acls(cluster, stored), 1);

    pthread_mutex_lock(&cluster->mutex);
    cluster->security_lose_answers = 1;
    pthread_mutex_unlock(&cluster->mutex);
    if (ether_acl_delete(client, &acl, TIMEOUT_MS, errstr, sizeof errstr) != ETHER_OK) {
        fail_msg("delete: %s", errstr);
    }
    /* Deleted by the first attempt, missed by the second (NOT_FOUND). */
    assert_int_equal(fake_read(cluster, &cluster->security_lost_answers), 2);
    assert_int_equal(controller_requests(cluster), requests + 4);
    assert_int_equal(stored_acls(cluster, stored), 0);

    /* A first attempt's NOT_FOUND is still the answer. */
    assert_int_equal(ether_acl_delete(client, &acl, TIMEOUT_MS, errstr, sizeof errstr),
                     ETHER_ERR_NOT_FOUND);
    assert_int_equal(controller_requests(cluster), requests + 5);

    /* A user is not its value (the password is secret): a retry that finds the user its
     * first attempt created cannot tell it from another's, and says EXISTS (ether.h). */
    pthread_mutex_lock(&cluster->mutex);
    cluster->security_lose_answers = 1;
    pthread_mutex_unlock(&cluster->mutex);
    assert_int_equal(ether_user_create(client, "heidi", "heidi-password", 0, 0, TIMEOUT_MS, errstr,
                                       sizeof errstr),
                     ETHER_ERR_EXISTS);
    assert_string_equal(stored_user(cluster, "heidi").password, "heidi-password");
    assert_int_equal(fake_read(cluster, &cluster->security_lost_answers), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_user_create_sends_name_password_iterations_and_timeout_to_the_controller,
            fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(test_user_create_of_an_existing_user_needs_replace,
                                        fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(test_user_list_is_sorted_by_name_and_owned_by_the_caller,
                                        fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(test_user_delete_of_a_missing_user_is_not_found,
                                        fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(test_user_and_acl_requests_follow_a_moved_controller,
                                        fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(
            test_refusals_end_the_call_at_once_with_the_controllers_sentence, fixture_start,
            fixture_stop),
        cmocka_unit_test_setup_teardown(test_bad_users_are_refused_before_anything_is_sent,
                                        fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(
            test_user_create_on_a_client_without_tls_is_refused_before_anything_is_sent,
            fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(test_acl_bindings_are_created_listed_and_deleted_as_given,
                                        fixture_start, fixture_stop),
        cmocka_unit_test_setup_teardown(
            test_acl_writes_whose_answers_were_lost_succeed_when_retried, fixture_start,
            fixture_stop),
        cmocka_unit_test_setup_teardown(test_bad_acl_bindings_are_refused_before_anything_is_sent,
                                        fixture_start, fixture_stop),
    };
    return cmocka_run_group_tests(tests, certs_make, certs_remove);
}
