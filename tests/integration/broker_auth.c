/*
 * Integration tests of authentication and authorization in etherd: three real brokers with
 * TLS (tls-client-auth=requested: a client certificate or a SCRAM-SHA-256 login),
 * authorization=true and super-users=alice. The harness's own connections present alice's
 * certificate, so they administer; bob logs in with SCRAM-SHA-256 (and also has a
 * certificate, unused here); carol presents her certificate.
 *
 * Shown: a connection with neither certificate nor login is refused and closed; a wrong
 * password and an unknown user are refused alike, and every broker offers an unknown user
 * the same salt, as it does a real one; the password is nowhere on disk or in
 * the logs; a read-only principal consumes from every replica but is refused produce, other
 * topics, other groups and cluster changes with the named errors, each denial logged and
 * counted; certificate principals (carol's CN mapped by tls-principal-rule) get their ACLs
 * (prefix allow, literal deny wins, deleting the deny restores access); users and ACLs
 * survive a restart of every broker.
 *
 * One cluster for the whole file; the tests run in order and build on each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/scram.h"
#include "tests/integration/harness/cluster_harness.h"

enum {
    BROKERS = 3,
    PARTITIONS = 2,
    RECORDS = 25,
    WAIT_MS = 30000,
    OUTPUT_BYTES_MAX = 64 * 1024,
};

static const char *const TOPIC = "secure-orders";
static const char *const OTHER_TOPIC = "payroll";
static const char *const BOB_PASSWORD = "correct-horse-7391";
static const char *const READ_GROUP = "billing";

/* carol's certificate maps to the principal team-carol; other CNs stay as they are. */
static const char *const BROKER_ARGUMENTS[] = {
    "--tls-client-auth",
    "requested",
    "--authorization",
    "true",
    "--super-users",
    "alice",
    "--tls-principal-rule",
    "(carol)/team-\\1/",
    NULL,
};

/* Fails the test after printing the brokers' logs. */
#define CHECK(harness, condition)                                  \
    do {                                                           \
        if (!(condition)) {                                        \
            harness_print_logs(harness);                           \
            fail_msg("%s:%d: %s", __FILE__, __LINE__, #condition); \
        }                                                          \
    } while (0)

static int setup_cluster(void **state)
{
    struct harness *harness = calloc(1, sizeof *harness);
    struct harness_options options = {.tls = true, .extra_arguments = BROKER_ARGUMENTS};
    harness_start_with(harness, BROKERS, &options);
    *state = harness;
    if (harness_create_topic(harness, TOPIC, PARTITIONS, BROKERS) != ETHER_OK ||
        harness_create_topic(harness, OTHER_TOPIC, 1, BROKERS) != ETHER_OK) {
        harness_print_logs(harness);
        return -1;
    }
    return 0;
}

static int teardown_cluster(void **state)
{
    struct harness *harness = *state;
    int unclean = harness_stop(harness);
    free(harness);
    return unclean == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* True once the broker has closed the connection (it reads EOF). */
static bool closed_by_broker(int fd)
{
    struct proto_frame_header header;
    ProtobufCMessage *body = NULL;
    int rc = harness_receive(fd, &header, &body);
    if (body != NULL) {
        proto_message_free(body);
    }
    return rc != ETHER_OK;
}

/* The error of a response whose first field is `uint32 error` (every admin response). */
static int response_error(const ProtobufCMessage *response)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(response->descriptor, "error");
    assert_non_null(field);
    return (int)*(const uint32_t *)((const char *)response + field->offset);
}

/* One request; the error of its answer (its own error field, or the ErrorResponse's). */
static int call_error(int fd, uint16_t api_key, const ProtobufCMessage *request)
{
    ProtobufCMessage *response = NULL;
    int rc = harness_call(fd, api_key, request, &response);
    if (rc == ETHER_OK) {
        rc = response_error(response);
        proto_message_free(response);
    }
    return rc;
}

/* An admin request to the controller as alice (super user); the answer's error. */
static int admin(struct harness *harness, uint16_t api_key, const ProtobufCMessage *request)
{
    ProtobufCMessage *response = NULL;
    int rc = harness_call_controller(harness, api_key, request, &response);
    if (rc == ETHER_OK) {
        rc = response_error(response);
        proto_message_free(response);
    }
    return rc;
}

static int create_user(struct harness *harness, const char *name, const char *password)
{
    Ether__CreateUserRequest request = ETHER__CREATE_USER_REQUEST__INIT;
    request.name = (char *)(uintptr_t)name;
    request.password = (char *)(uintptr_t)password;
    return admin(harness, PROTO_API_CREATE_USER, &request.base);
}

static int change_acl(struct harness *harness, uint16_t api_key, const char *principal,
                      Ether__AclResourceType type, const char *name, Ether__AclPatternType pattern,
                      Ether__AclOperation operation, Ether__AclPermission permission)
{
    Ether__AclBinding binding = ETHER__ACL_BINDING__INIT;
    binding.principal = (char *)(uintptr_t)principal;
    binding.resource_type = type;
    binding.resource_name = (char *)(uintptr_t)name;
    binding.pattern = pattern;
    binding.operation = operation;
    binding.permission = permission;
    if (api_key == PROTO_API_CREATE_ACL) {
        Ether__CreateAclRequest request = ETHER__CREATE_ACL_REQUEST__INIT;
        request.binding = &binding;
        return admin(harness, api_key, &request.base);
    }
    Ether__DeleteAclRequest request = ETHER__DELETE_ACL_REQUEST__INIT;
    request.binding = &binding;
    return admin(harness, api_key, &request.base);
}

/* A SCRAM-SHA-256 exchange on `fd`; the first error, with the broker's sentence. */
static int scram_login(int fd, const char *user, const char *password, char *message,
                       size_t message_size)
{
    message[0] = '\0';
    struct ether_scram_client *client = NULL;
    assert_int_equal(ether_scram_client_new(user, password, &client), ETHER_OK);
    struct ether_buf out = ETHER_BUF_INIT;
    assert_int_equal(ether_scram_client_first(client, &out), ETHER_OK);
    int rc = ETHER_OK;
    for (int step = 0; step < 2 && rc == ETHER_OK; step++) {
        Ether__AuthenticateRequest request = ETHER__AUTHENTICATE_REQUEST__INIT;
        request.mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
        request.auth_bytes.data = out.data;
        request.auth_bytes.len = out.length;
        ProtobufCMessage *body = NULL;
        rc = harness_call(fd, PROTO_API_AUTHENTICATE, &request.base, &body);
        out.length = 0;
        if (rc != ETHER_OK) {
            break;
        }
        Ether__AuthenticateResponse *response = (Ether__AuthenticateResponse *)body;
        rc = (int)response->error;
        snprintf(message, message_size, "%s", response->error_message);
        if (rc == ETHER_OK && step == 0) {
            assert_false(response->done);
            rc = ether_scram_client_final(client, response->auth_bytes.data,
                                          response->auth_bytes.len, &out, message, message_size);
        } else if (rc == ETHER_OK) {
            assert_true(response->done);
            assert_string_equal(response->principal, user);
            rc = ether_scram_client_verify(client, response->auth_bytes.data,
                                           response->auth_bytes.len, message, message_size);
        }
        proto_message_free(body);
    }
    ether_buf_free(&out);
    ether_scram_client_free(client);
    return rc;
}

/* A TLS connection without a certificate to `broker_id`, logged in as bob. */
static int connect_as_bob(struct harness *harness, int broker_id)
{
    int fd = harness_connect_tls(harness, harness_port(harness, broker_id), NULL);
    CHECK(harness, fd >= 0);
    char message[256];
    int rc = scram_login(fd, "bob", BOB_PASSWORD, message, sizeof message);
    if (rc != ETHER_OK) {
        print_message("bob's login failed: %s (%s)\n", ether_error_name(rc), message);
    }
    CHECK(harness, rc == ETHER_OK);
    return fd;
}

static int produce_error(int fd, const char *topic, uint32_t partition, uint64_t first)
{
    struct ether_buf batch = ETHER_BUF_INIT;
    harness_build_batch(&batch, first, RECORDS);
    int rc = harness_produce_batch(fd, topic, partition, &batch, ETHER__ACKS__ACKS_ALL, NULL, NULL);
    ether_buf_free(&batch);
    return rc;
}

/* Produces RECORDS records as alice to the partition's leader (retrying while electing). */
static void produce_as_alice(struct harness *harness, const char *topic, uint32_t partition)
{
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_ERR_TIMED_OUT;
    while (harness_now_ms() < deadline) {
        for (int id = 1; id <= BROKERS && rc != ETHER_OK; id++) {
            int fd = harness_client_connect(harness, harness_port(harness, id));
            if (fd >= 0) {
                rc = produce_error(fd, topic, partition, 0);
                harness_close(fd);
            }
        }
        if (rc == ETHER_OK) {
            return;
        }
        sleep_ms(100);
    }
    CHECK(harness, rc == ETHER_OK);
}

/* A fetch of the partition from offset 0: its error, and the bytes of batches it returned. */
static int fetch_error(int fd, const char *topic, uint32_t partition, size_t *batches_count)
{
    Ether__FetchResponse *fetched = NULL;
    int rc = harness_fetch_partition(fd, topic, partition, 0, 100, &fetched);
    *batches_count = 0;
    if (rc == ETHER_OK) {
        rc = fetched->n_partitions == 1 ? (int)fetched->partitions[0]->error : ETHER_ERR_CORRUPT;
        *batches_count = fetched->n_partitions == 1 ? fetched->partitions[0]->n_batches : 0;
        proto_message_free(&fetched->base);
    }
    return rc;
}

/* Fetches until the partition's records show up (followers catch up, and ACLs just granted
 * reach this broker through the controller's log); the last error. */
static int fetch_until_records(int fd, const char *topic, uint32_t partition)
{
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_ERR_TIMED_OUT;
    while (harness_now_ms() < deadline) {
        size_t batches = 0;
        rc = fetch_error(fd, topic, partition, &batches);
        if (rc == ETHER_OK && batches > 0) {
            return ETHER_OK;
        }
        sleep_ms(100);
    }
    return rc == ETHER_OK ? ETHER_ERR_TIMED_OUT : rc;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_a_connection_without_certificate_or_login_is_refused_and_closed(void **state)
{
    struct harness *harness = *state;
    int fd = harness_connect_tls(harness, harness_port(harness, 1), NULL);
    CHECK(harness, fd >= 0);
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    ProtobufCMessage *response = NULL;
    int rc = harness_call(fd, PROTO_API_METADATA, &request.base, &response);
    CHECK(harness, rc == ETHER_ERR_AUTHENTICATION_FAILED);
    CHECK(harness, closed_by_broker(fd));
    harness_close(fd);
    CHECK(harness, harness_log_count(harness, 1, "neither a client certificate nor a SCRAM") >= 1);
}

static void test_scram_login_with_the_right_password(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, create_user(harness, "bob", BOB_PASSWORD) == ETHER_OK);
    CHECK(harness, create_user(harness, "bob", "another") == ETHER_ERR_EXISTS);
    CHECK(harness, create_user(harness, "bad name", "x") == ETHER_ERR_INVALID_ARGUMENT);
    /* The user reaches every broker through the controller's log. */
    for (int id = 1; id <= BROKERS; id++) {
        uint64_t deadline = harness_now_ms() + WAIT_MS;
        int rc = ETHER_ERR_TIMED_OUT;
        while (harness_now_ms() < deadline) {
            int fd = harness_connect_tls(harness, harness_port(harness, id), NULL);
            CHECK(harness, fd >= 0);
            char message[256];
            rc = scram_login(fd, "bob", BOB_PASSWORD, message, sizeof message);
            harness_close(fd);
            if (rc == ETHER_OK) {
                break;
            }
            sleep_ms(100);
        }
        CHECK(harness, rc == ETHER_OK);
        CHECK(harness, harness_log_count(harness, id, "logged in as bob (SCRAM-SHA-256)") >= 1);
    }
    /* A logged-in connection may ask; with no ACL yet bob sees no topic. */
    int fd = connect_as_bob(harness, 2);
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    ProtobufCMessage *response = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_METADATA, &request.base, &response) == ETHER_OK);
    Ether__MetadataResponse *metadata = (Ether__MetadataResponse *)response;
    CHECK(harness, metadata->n_brokers == BROKERS);
    CHECK(harness, metadata->n_topics == 0);
    proto_message_free(response);
    /* A second login on the same connection is refused, and the connection closed. */
    char message[256];
    CHECK(harness, scram_login(fd, "bob", BOB_PASSWORD, message, sizeof message) ==
                       ETHER_ERR_INVALID_ARGUMENT);
    CHECK(harness, closed_by_broker(fd));
    harness_close(fd);
}

static void test_a_wrong_password_and_an_unknown_user_are_refused_alike(void **state)
{
    struct harness *harness = *state;
    char wrong_password[256];
    char unknown_user[256];
    int fd = harness_connect_tls(harness, harness_port(harness, 1), NULL);
    CHECK(harness, fd >= 0);
    CHECK(harness, scram_login(fd, "bob", "Correct-horse-7391", wrong_password,
                               sizeof wrong_password) == ETHER_ERR_AUTHENTICATION_FAILED);
    CHECK(harness, closed_by_broker(fd));
    harness_close(fd);
    fd = harness_connect_tls(harness, harness_port(harness, 1), NULL);
    CHECK(harness, fd >= 0);
    CHECK(harness, scram_login(fd, "mallory", "guess", unknown_user, sizeof unknown_user) ==
                       ETHER_ERR_AUTHENTICATION_FAILED);
    CHECK(harness, closed_by_broker(fd));
    harness_close(fd);
    print_message("wrong password: \"%s\"; unknown user: \"%s\"\n", wrong_password, unknown_user);
    assert_string_equal(wrong_password, unknown_user);
    CHECK(harness, harness_log_count(harness, 1, "SCRAM-SHA-256 login as bob from") >= 1);
    CHECK(harness, harness_log_count(harness, 1, "SCRAM-SHA-256 login as mallory from") >= 1);
}

/* The salt and iteration count ("s=...,i=...") broker `broker_id` answers client-first with. */
static void salt_offered(struct harness *harness, int broker_id, const char *user, char *out,
                         size_t out_size)
{
    int fd = harness_connect_tls(harness, harness_port(harness, broker_id), NULL);
    CHECK(harness, fd >= 0);
    struct ether_scram_client *client = NULL;
    assert_int_equal(ether_scram_client_new(user, "any-password", &client), ETHER_OK);
    struct ether_buf first = ETHER_BUF_INIT;
    assert_int_equal(ether_scram_client_first(client, &first), ETHER_OK);
    Ether__AuthenticateRequest request = ETHER__AUTHENTICATE_REQUEST__INIT;
    request.mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
    request.auth_bytes.data = first.data;
    request.auth_bytes.len = first.length;
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_AUTHENTICATE, &request.base, &body) == ETHER_OK);
    Ether__AuthenticateResponse *response = (Ether__AuthenticateResponse *)body;
    CHECK(harness, response->error == ETHER_OK);
    char server_first[512];
    snprintf(server_first, sizeof server_first, "%.*s", (int)response->auth_bytes.len,
             (const char *)response->auth_bytes.data);
    const char *salt = strstr(server_first, ",s=");
    CHECK(harness, salt != NULL);
    snprintf(out, out_size, "%s", salt + 1);
    proto_message_free(body);
    ether_buf_free(&first);
    ether_scram_client_free(client);
    harness_close(fd);
}

static void test_brokers_cannot_be_compared_to_learn_which_users_exist(void **state)
{
    struct harness *harness = *state;
    char real[2][256];
    char unknown[2][256];
    for (int i = 0; i < 2; i++) {
        salt_offered(harness, i + 1, "bob", real[i], sizeof real[i]);
        salt_offered(harness, i + 1, "mallory", unknown[i], sizeof unknown[i]);
    }
    print_message("bob: %s | %s; mallory: %s | %s\n", real[0], real[1], unknown[0], unknown[1]);
    /* Like a real user's, an unknown user's salt is the same on every broker (and on every
     * try), so nothing tells them apart. */
    assert_string_equal(real[0], real[1]);
    assert_string_equal(unknown[0], unknown[1]);
    assert_string_not_equal(real[0], unknown[0]);
    char again[256];
    salt_offered(harness, 1, "mallory", again, sizeof again);
    assert_string_equal(again, unknown[0]);
}

static void test_the_password_is_stored_only_salted_and_hashed(void **state)
{
    struct harness *harness = *state;
    char command[1024];
    char output[OUTPUT_BYTES_MAX];
    /* Data directories and logs of every broker: grep exits 1 when nothing matches. */
    snprintf(command, sizeof command, "grep -r -l -F -a '%s' '%s' 2>&1", BOB_PASSWORD,
             harness->data_root);
    int status = harness_run_command(command, output, sizeof output);
    if (status != 1) {
        print_message("found the password in: %s\n", output);
    }
    CHECK(harness, status == 1);
    Ether__ListUsersRequest request = ETHER__LIST_USERS_REQUEST__INIT;
    ProtobufCMessage *response = NULL;
    CHECK(harness, harness_call_controller(harness, PROTO_API_LIST_USERS, &request.base,
                                           &response) == ETHER_OK);
    Ether__ListUsersResponse *users = (Ether__ListUsersResponse *)response;
    CHECK(harness, users->n_users == 1);
    assert_string_equal(users->users[0]->name, "bob");
    assert_string_equal(users->users[0]->mechanism, "SCRAM-SHA-256");
    CHECK(harness, users->users[0]->iterations == ETHER_SCRAM_ITERATIONS_DEFAULT);
    proto_message_free(response);
}

static void test_a_read_only_principal_consumes_but_may_do_nothing_else(void **state)
{
    struct harness *harness = *state;
    CHECK(harness, change_acl(harness, PROTO_API_CREATE_ACL, "bob",
                              ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC, TOPIC,
                              ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL,
                              ETHER__ACL_OPERATION__ACL_OPERATION_READ,
                              ETHER__ACL_PERMISSION__ACL_PERMISSION_ALLOW) == ETHER_OK);
    CHECK(harness, change_acl(harness, PROTO_API_CREATE_ACL, "bob",
                              ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_GROUP, READ_GROUP,
                              ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL,
                              ETHER__ACL_OPERATION__ACL_OPERATION_READ,
                              ETHER__ACL_PERMISSION__ACL_PERMISSION_ALLOW) == ETHER_OK);
    produce_as_alice(harness, TOPIC, 0);
    produce_as_alice(harness, OTHER_TOPIC, 0);

    /* bob reads the topic from every replica (followers serve committed data too). */
    for (int id = 1; id <= BROKERS; id++) {
        int fd = connect_as_bob(harness, id);
        CHECK(harness, fetch_until_records(fd, TOPIC, 0) == ETHER_OK);
        harness_close(fd);
    }

    int fd = connect_as_bob(harness, 1);
    int denials_before = harness_log_count_all(harness, "denied principal bob");
    /* ... but may not write to it, */
    CHECK(harness, produce_error(fd, TOPIC, 0, 100) == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    Ether__InitProducerIdRequest init = ETHER__INIT_PRODUCER_ID_REQUEST__INIT;
    CHECK(harness, call_error(fd, PROTO_API_INIT_PRODUCER_ID, &init.base) ==
                       ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    /* nor read or write another topic, */
    size_t batches = 0;
    CHECK(harness,
          fetch_error(fd, OTHER_TOPIC, 0, &batches) == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    CHECK(harness, batches == 0);
    CHECK(harness, produce_error(fd, OTHER_TOPIC, 0, 100) == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    /* and sees only its topic: a listing leaves the other out, naming it is refused (as is
     * naming a topic that does not exist: the answer does not tell which exist). */
    Ether__MetadataRequest all = ETHER__METADATA_REQUEST__INIT;
    ProtobufCMessage *response = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_METADATA, &all.base, &response) == ETHER_OK);
    Ether__MetadataResponse *metadata = (Ether__MetadataResponse *)response;
    CHECK(harness, metadata->n_topics == 1);
    assert_string_equal(metadata->topics[0]->name, TOPIC);
    CHECK(harness, metadata->topics[0]->n_partitions == PARTITIONS);
    proto_message_free(response);
    char *named_topics[2] = {(char *)(uintptr_t)OTHER_TOPIC, "no-such-topic"};
    Ether__MetadataRequest named = ETHER__METADATA_REQUEST__INIT;
    named.n_topics = 2;
    named.topics = named_topics;
    CHECK(harness, harness_call(fd, PROTO_API_METADATA, &named.base, &response) == ETHER_OK);
    metadata = (Ether__MetadataResponse *)response;
    CHECK(harness, metadata->n_topics == 2);
    for (size_t i = 0; i < 2; i++) {
        CHECK(harness, metadata->topics[i]->error == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
        CHECK(harness, metadata->topics[i]->n_partitions == 0);
    }
    proto_message_free(response);
    /* Groups: its own may be described, another not. */
    Ether__FindCoordinatorRequest find = ETHER__FIND_COORDINATOR_REQUEST__INIT;
    find.group = (char *)(uintptr_t)READ_GROUP;
    CHECK(harness, call_error(fd, PROTO_API_FIND_COORDINATOR, &find.base) !=
                       ETHER_ERR_GROUP_AUTHORIZATION_FAILED);
    find.group = "payroll-readers";
    CHECK(harness, call_error(fd, PROTO_API_FIND_COORDINATOR, &find.base) ==
                       ETHER_ERR_GROUP_AUTHORIZATION_FAILED);
    /* Cluster changes are refused. */
    Ether__CreateTopicRequest create = ETHER__CREATE_TOPIC_REQUEST__INIT;
    create.name = "bobs-topic";
    create.partitions = 1;
    create.replication_factor = 1;
    CHECK(harness, call_error(fd, PROTO_API_CREATE_TOPIC, &create.base) ==
                       ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    Ether__AclBinding binding = ETHER__ACL_BINDING__INIT;
    binding.principal = "bob";
    binding.resource_type = ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC;
    binding.resource_name = (char *)(uintptr_t)OTHER_TOPIC;
    binding.operation = ETHER__ACL_OPERATION__ACL_OPERATION_WRITE;
    binding.permission = ETHER__ACL_PERMISSION__ACL_PERMISSION_ALLOW;
    Ether__CreateAclRequest grant = ETHER__CREATE_ACL_REQUEST__INIT;
    grant.binding = &binding;
    CHECK(harness, call_error(fd, PROTO_API_CREATE_ACL, &grant.base) ==
                       ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED);
    Ether__ListUsersRequest list = ETHER__LIST_USERS_REQUEST__INIT;
    CHECK(harness, call_error(fd, PROTO_API_LIST_USERS, &list.base) ==
                       ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED);
    /* The connection is still usable after all those denials. */
    CHECK(harness, fetch_until_records(fd, TOPIC, 0) == ETHER_OK);
    harness_close(fd);
    /* One log line per denial (metadata: one per named topic). */
    int denials = harness_log_count_all(harness, "denied principal bob") - denials_before;
    print_message("denials logged: %d\n", denials);
    CHECK(harness, denials == 9); /* the two named topics of one METADATA share a line */
    CHECK(harness, harness_log_count(harness, 1,
                                     "denied principal bob (scram) write on topic "
                                     "secure-orders (PRODUCE request from") == 1);
    /* and counted by resource type in /metrics. */
    uint64_t topic_denials = 0;
    uint64_t group_denials = 0;
    uint64_t cluster_denials = 0;
    char response_text[OUTPUT_BYTES_MAX * 4];
    CHECK(harness, harness_http_exchange(harness, 1, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                         response_text, sizeof response_text) > 0);
    CHECK(harness, harness_metric_value(response_text,
                                        "ether_authorization_denials_total{resource=\"topic\"}",
                                        &topic_denials));
    CHECK(harness, harness_metric_value(response_text,
                                        "ether_authorization_denials_total{resource=\"group\"}",
                                        &group_denials));
    CHECK(harness, harness_metric_value(response_text,
                                        "ether_authorization_denials_total{resource=\"cluster\"}",
                                        &cluster_denials));
    print_message("broker 1 /metrics: denials topic %llu, group %llu, cluster %llu\n",
                  (unsigned long long)topic_denials, (unsigned long long)group_denials,
                  (unsigned long long)cluster_denials);
    CHECK(harness, topic_denials == 7 && group_denials == 1 && cluster_denials == 2);
}

static void test_certificate_principals_get_their_acls(void **state)
{
    struct harness *harness = *state;
    int fd = harness_connect_tls(harness, harness_port(harness, 2), "carol");
    CHECK(harness, fd >= 0);
    size_t batches = 0;
    CHECK(harness, fetch_error(fd, TOPIC, 0, &batches) == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    /* The principal is what tls-principal-rule made of the certificate's CN. */
    CHECK(harness, harness_log_count(harness, 2, "denied principal team-carol read on topic") >= 1);
    CHECK(harness, change_acl(harness, PROTO_API_CREATE_ACL, "team-carol",
                              ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC, "secure-",
                              ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_PREFIXED,
                              ETHER__ACL_OPERATION__ACL_OPERATION_ALL,
                              ETHER__ACL_PERMISSION__ACL_PERMISSION_ALLOW) == ETHER_OK);
    CHECK(harness, fetch_until_records(fd, TOPIC, 0) == ETHER_OK);
    /* A literal DENY wins over the prefixed ALLOW ... */
    CHECK(harness, change_acl(harness, PROTO_API_CREATE_ACL, "team-carol",
                              ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC, TOPIC,
                              ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL,
                              ETHER__ACL_OPERATION__ACL_OPERATION_READ,
                              ETHER__ACL_PERMISSION__ACL_PERMISSION_DENY) == ETHER_OK);
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_OK;
    while (harness_now_ms() < deadline &&
           (rc = fetch_error(fd, TOPIC, 0, &batches)) != ETHER_ERR_TOPIC_AUTHORIZATION_FAILED) {
        sleep_ms(50);
    }
    CHECK(harness, rc == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    /* ... and removing it gives access back. */
    CHECK(harness, change_acl(harness, PROTO_API_DELETE_ACL, "team-carol",
                              ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC, TOPIC,
                              ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL,
                              ETHER__ACL_OPERATION__ACL_OPERATION_READ,
                              ETHER__ACL_PERMISSION__ACL_PERMISSION_DENY) == ETHER_OK);
    CHECK(harness, change_acl(harness, PROTO_API_DELETE_ACL, "team-carol",
                              ETHER__ACL_RESOURCE_TYPE__ACL_RESOURCE_TOPIC, TOPIC,
                              ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_LITERAL,
                              ETHER__ACL_OPERATION__ACL_OPERATION_READ,
                              ETHER__ACL_PERMISSION__ACL_PERMISSION_DENY) == ETHER_ERR_NOT_FOUND);
    CHECK(harness, fetch_until_records(fd, TOPIC, 0) == ETHER_OK);
    /* ALL on the prefix includes WRITE. */
    CHECK(harness, produce_error(fd, TOPIC, 1, 0) != ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
    harness_close(fd);

    Ether__ListAclsRequest list = ETHER__LIST_ACLS_REQUEST__INIT;
    list.principal = "team-carol";
    ProtobufCMessage *response = NULL;
    CHECK(harness,
          harness_call_controller(harness, PROTO_API_LIST_ACLS, &list.base, &response) == ETHER_OK);
    Ether__ListAclsResponse *acls = (Ether__ListAclsResponse *)response;
    CHECK(harness, acls->n_bindings == 1);
    CHECK(harness, acls->bindings[0]->pattern == ETHER__ACL_PATTERN_TYPE__ACL_PATTERN_PREFIXED);
    proto_message_free(response);
}

static void test_users_and_acls_survive_a_restart_of_every_broker(void **state)
{
    struct harness *harness = *state;
    for (int id = 1; id <= BROKERS; id++) {
        harness_kill_broker(harness, id, SIGKILL);
    }
    for (int id = 1; id <= BROKERS; id++) {
        harness_start_broker(harness, id);
    }
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_ERR_TIMED_OUT;
    while (harness_now_ms() < deadline && rc != ETHER_OK) {
        int fd = harness_connect_tls(harness, harness_port(harness, 3), NULL);
        if (fd >= 0) {
            char message[256];
            rc = scram_login(fd, "bob", BOB_PASSWORD, message, sizeof message);
            if (rc == ETHER_OK) {
                rc = fetch_until_records(fd, TOPIC, 0);
                CHECK(harness, rc == ETHER_OK);
                CHECK(harness,
                      produce_error(fd, TOPIC, 0, 200) == ETHER_ERR_TOPIC_AUTHORIZATION_FAILED);
            }
            harness_close(fd);
        }
        if (rc != ETHER_OK) {
            sleep_ms(200);
        }
    }
    CHECK(harness, rc == ETHER_OK);
}

static void test_a_deleted_user_can_no_longer_log_in(void **state)
{
    struct harness *harness = *state;
    Ether__DeleteUserRequest request = ETHER__DELETE_USER_REQUEST__INIT;
    request.name = "bob";
    CHECK(harness, admin(harness, PROTO_API_DELETE_USER, &request.base) == ETHER_OK);
    CHECK(harness, admin(harness, PROTO_API_DELETE_USER, &request.base) == ETHER_ERR_NOT_FOUND);
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_OK;
    while (harness_now_ms() < deadline && rc == ETHER_OK) {
        int fd = harness_connect_tls(harness, harness_port(harness, 1), NULL);
        CHECK(harness, fd >= 0);
        char message[256];
        rc = scram_login(fd, "bob", BOB_PASSWORD, message, sizeof message);
        harness_close(fd);
        if (rc == ETHER_OK) {
            sleep_ms(50); /* broker 1 has not applied the deletion yet */
        }
    }
    CHECK(harness, rc == ETHER_ERR_AUTHENTICATION_FAILED);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_connection_without_certificate_or_login_is_refused_and_closed),
        cmocka_unit_test(test_scram_login_with_the_right_password),
        cmocka_unit_test(test_a_wrong_password_and_an_unknown_user_are_refused_alike),
        cmocka_unit_test(test_brokers_cannot_be_compared_to_learn_which_users_exist),
        cmocka_unit_test(test_the_password_is_stored_only_salted_and_hashed),
        cmocka_unit_test(test_a_read_only_principal_consumes_but_may_do_nothing_else),
        cmocka_unit_test(test_certificate_principals_get_their_acls),
        cmocka_unit_test(test_users_and_acls_survive_a_restart_of_every_broker),
        cmocka_unit_test(test_a_deleted_user_can_no_longer_log_in),
    };
    return cmocka_run_group_tests_name("broker_auth", tests, setup_cluster, teardown_cluster);
}
