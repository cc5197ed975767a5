/*
 * Unit tests for broker/controller_state: users (UpsertUser, DeleteUser) and
 * ACL bindings (CreateAcl, DeleteAcl): each command applied or refused with
 * its error and the state otherwise unchanged, order, limits, the unknown-user
 * secret, snapshots of version 3 and older ones (and which version encode
 * writes), corrupt snapshots, and determinism.
 * CONTROLLER_TEST_SEED in the environment overrides the random tests' seed.
 */
#include "tests/unit/test_broker_controller_fixture.h"

#include "common/crc32c.h"

/* ---- commands ------------------------------------------------------------------------- */

/* An UpsertUser whose bytes live next to it (not to be copied once made). */
struct user_command {
    Ether__ControllerUpsertUser body;
    uint8_t salt[ETHER_SCRAM_SALT_BYTES_MAX + 1];
    uint8_t stored_key[ETHER_SCRAM_KEY_BYTES + 1];
    uint8_t server_key[ETHER_SCRAM_KEY_BYTES + 1];
    uint8_t secret[CONTROLLER_UNKNOWN_USER_SECRET_BYTES + 1];
};

/* A valid command: 4096 iterations, 16 salt bytes, the bytes derived from `fill`. */
static void user_command_init(struct user_command *command, const char *name, uint8_t fill)
{
    memset(command->salt, fill, sizeof command->salt);
    memset(command->stored_key, fill + 1, sizeof command->stored_key);
    memset(command->server_key, fill + 2, sizeof command->server_key);
    command->body = (Ether__ControllerUpsertUser)ETHER__CONTROLLER_UPSERT_USER__INIT;
    command->body.name = (char *)(uintptr_t)name;
    command->body.mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
    command->body.iterations = ETHER_SCRAM_ITERATIONS_DEFAULT;
    command->body.salt = (ProtobufCBinaryData){ETHER_SCRAM_SALT_BYTES, command->salt};
    command->body.stored_key = (ProtobufCBinaryData){ETHER_SCRAM_KEY_BYTES, command->stored_key};
    command->body.server_key = (ProtobufCBinaryData){ETHER_SCRAM_KEY_BYTES, command->server_key};
}

/* Makes the command carry an unknown-user secret of `secret_bytes` bytes of `fill`. */
static void user_command_set_secret(struct user_command *command, size_t secret_bytes, uint8_t fill)
{
    assert_true(secret_bytes <= sizeof command->secret);
    memset(command->secret, fill, sizeof command->secret);
    command->body.unknown_user_secret = (ProtobufCBinaryData){secret_bytes, command->secret};
}

static struct controller_apply_result upsert_user(struct fixture *fixture,
                                                  struct user_command *user)
{
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_UPSERT_USER;
    command.upsert_user = &user->body;
    return apply_command(fixture, &command);
}

static struct controller_apply_result add_user(struct fixture *fixture, const char *name,
                                               uint8_t fill)
{
    struct user_command user;
    user_command_init(&user, name, fill);
    return upsert_user(fixture, &user);
}

static struct controller_apply_result delete_user(struct fixture *fixture, const char *name)
{
    Ether__ControllerDeleteUser body = ETHER__CONTROLLER_DELETE_USER__INIT;
    body.name = (char *)(uintptr_t)name;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_USER;
    command.delete_user = &body;
    return apply_command(fixture, &command);
}

static Ether__AclBinding acl_message(const char *principal, enum acl_resource_type resource_type,
                                     const char *resource_name, enum acl_pattern pattern,
                                     enum acl_operation operation, enum acl_permission permission)
{
    Ether__AclBinding binding = ETHER__ACL_BINDING__INIT;
    binding.principal = (char *)(uintptr_t)principal;
    binding.resource_type = (Ether__AclResourceType)resource_type;
    binding.resource_name = (char *)(uintptr_t)resource_name;
    binding.pattern = (Ether__AclPatternType)pattern;
    binding.operation = (Ether__AclOperation)operation;
    binding.permission = (Ether__AclPermission)permission;
    return binding;
}

static Ether__AclBinding allow_read_topic(const char *principal, const char *name)
{
    return acl_message(principal, ACL_RESOURCE_TOPIC, name, ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                       ACL_PERMISSION_ALLOW);
}

/* binding may be NULL: a command without one. */
static struct controller_apply_result create_acl(struct fixture *fixture,
                                                 Ether__AclBinding *binding)
{
    Ether__ControllerCreateAcl body = ETHER__CONTROLLER_CREATE_ACL__INIT;
    body.binding = binding;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_ACL;
    command.create_acl = &body;
    return apply_command(fixture, &command);
}

static struct controller_apply_result delete_acl(struct fixture *fixture,
                                                 Ether__AclBinding *binding)
{
    Ether__ControllerDeleteAcl body = ETHER__CONTROLLER_DELETE_ACL__INIT;
    body.binding = binding;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_ACL;
    command.delete_acl = &body;
    return apply_command(fixture, &command);
}

/* ---- assertions ----------------------------------------------------------------------- */

/*
 * Asserts that `result` (of the command applied right after `before` was taken) is `error`
 * with a sentence containing `words`, and that the state changed in nothing but its index.
 */
static void assert_refused(struct fixture *fixture, const struct ether_buf *before,
                           struct controller_apply_result result, int error, const char *words)
{
    if (result.error != error) {
        fail_msg("expected %s, got %s (\"%s\")", ether_error_name(error),
                 ether_error_name(result.error), result.message);
    }
    if (strstr(result.message, words) == NULL) {
        fail_msg("\"%s\" does not say \"%s\"", result.message, words);
    }
    fixture->state.applied_index--;
    struct ether_buf after = ETHER_BUF_INIT;
    snapshot_of(&fixture->state, &after);
    fixture->state.applied_index++;
    assert_int_equal(before->length, after.length);
    assert_memory_equal(before->data, after.data, before->length);
    ether_buf_free(&after);
}

static void assert_accepted(struct controller_apply_result result)
{
    if (result.error != ETHER_OK) {
        fail_msg("refused with %s: %s", ether_error_name(result.error), result.message);
    }
    assert_string_equal(result.message, "");
}

static void assert_secret_is(const struct controller_state *state, uint8_t fill)
{
    assert_true(state->has_unknown_user_secret);
    uint8_t expected[CONTROLLER_UNKNOWN_USER_SECRET_BYTES];
    memset(expected, fill, sizeof expected);
    assert_memory_equal(state->unknown_user_secret, expected, sizeof expected);
}

/* The version field of an encoded snapshot. */
static uint32_t snapshot_version(const struct controller_state *state)
{
    struct ether_buf bytes = ETHER_BUF_INIT;
    snapshot_of(state, &bytes);
    Ether__ControllerSnapshot *snapshot =
        ether__controller_snapshot__unpack(NULL, bytes.length - 4, bytes.data + 4);
    assert_non_null(snapshot);
    uint32_t version = snapshot->version;
    if (version < 3) {
        /* What a broker of the previous release can read: none of version 3's fields. */
        assert_int_equal(snapshot->n_users, 0);
        assert_int_equal(snapshot->n_acls, 0);
        assert_int_equal(snapshot->unknown_user_secret.len, 0);
    }
    ether__controller_snapshot__free_unpacked(snapshot, NULL);
    ether_buf_free(&bytes);
    return version;
}

static void assert_user_is(const struct controller_state *state, const char *name, uint8_t fill)
{
    const struct controller_user *user = controller_state_user(state, name);
    if (user == NULL) {
        fail_msg("no user %s", name);
    }
    assert_string_equal(user->name, name);
    uint8_t expected[ETHER_SCRAM_KEY_BYTES];
    assert_int_equal(user->credential.salt_bytes, ETHER_SCRAM_SALT_BYTES);
    memset(expected, fill, sizeof expected);
    assert_memory_equal(user->credential.salt, expected, ETHER_SCRAM_SALT_BYTES);
    memset(expected, fill + 1, sizeof expected);
    assert_memory_equal(user->credential.stored_key, expected, ETHER_SCRAM_KEY_BYTES);
    memset(expected, fill + 2, sizeof expected);
    assert_memory_equal(user->credential.server_key, expected, ETHER_SCRAM_KEY_BYTES);
}

/* ---- users ---------------------------------------------------------------------------- */

static void test_upserted_users_are_kept_sorted_by_name_with_their_credential(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    struct controller_apply_result result = add_user(&fixture, "carol", 30);
    assert_accepted(result);
    assert_int_equal(result.type, CONTROLLER_COMMAND_UPSERT_USER);
    assert_accepted(add_user(&fixture, "alice", 10));
    assert_accepted(add_user(&fixture, "bob", 20));
    assert_accepted(add_user(&fixture, "Zoe", 40));

    assert_int_equal(fixture.state.users_count, 4);
    const char *const sorted[] = {"Zoe", "alice", "bob", "carol"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(fixture.state.users[i].name, sorted[i]);
    }
    assert_user_is(&fixture.state, "alice", 10);
    assert_user_is(&fixture.state, "bob", 20);
    assert_user_is(&fixture.state, "carol", 30);
    assert_int_equal(controller_state_user(&fixture.state, "carol")->credential.iterations,
                     ETHER_SCRAM_ITERATIONS_DEFAULT);
    assert_null(controller_state_user(&fixture.state, "dave"));
    assert_null(controller_state_user(&fixture.state, "Alice"));
    assert_null(controller_state_user(&fixture.state, ""));

    /* The limits themselves are accepted. */
    struct user_command user;
    char longest[ETHER_SCRAM_USER_BYTES_MAX + 1];
    memset(longest, 'u', ETHER_SCRAM_USER_BYTES_MAX);
    longest[ETHER_SCRAM_USER_BYTES_MAX] = '\0';
    user_command_init(&user, longest, 1);
    user.body.iterations = ETHER_SCRAM_ITERATIONS_MAX;
    user.body.salt.len = ETHER_SCRAM_SALT_BYTES_MAX;
    assert_accepted(upsert_user(&fixture, &user));
    user_command_init(&user, "a,b=c!", 1);
    user.body.iterations = ETHER_SCRAM_ITERATIONS_MIN;
    user.body.salt.len = 1;
    assert_accepted(upsert_user(&fixture, &user));
    assert_int_equal(controller_state_user(&fixture.state, "a,b=c!")->credential.salt_bytes, 1);
    assert_int_equal(controller_state_user(&fixture.state, longest)->credential.salt_bytes,
                     ETHER_SCRAM_SALT_BYTES_MAX);
    fixture_free(&fixture);
}

static void test_invalid_upserts_are_refused_naming_the_field_and_change_nothing(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_accepted(add_user(&fixture, "alice", 10));
    struct ether_buf before = ETHER_BUF_INIT;
    char too_long[ETHER_SCRAM_USER_BYTES_MAX + 2];
    memset(too_long, 'u', ETHER_SCRAM_USER_BYTES_MAX + 1);
    too_long[ETHER_SCRAM_USER_BYTES_MAX + 1] = '\0';
    const char *const bad_names[] = {"", "with space", "tab\t", "caf\xc3\xa9", too_long};
    struct user_command user;

    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        user_command_init(&user, bad_names[i], 50);
        snapshot_of(&fixture.state, &before);
        struct controller_apply_result result = upsert_user(&fixture, &user);
        assert_int_equal(result.type, CONTROLLER_COMMAND_UPSERT_USER);
        assert_refused(&fixture, &before, result, ETHER_ERR_INVALID_ARGUMENT, "user name");
    }

    /* Each field, on a new user and on replacing alice. */
    for (int replace = 0; replace <= 1; replace++) {
        const char *name = replace ? "alice" : "bob";
        user_command_init(&user, name, 50);
        user.body.replace = replace;
        user.body.mechanism = "SCRAM-SHA-512";
        snapshot_of(&fixture.state, &before);
        assert_refused(&fixture, &before, upsert_user(&fixture, &user), ETHER_ERR_UNSUPPORTED,
                       "mechanism");
        user.body.mechanism = "";
        snapshot_of(&fixture.state, &before);
        assert_refused(&fixture, &before, upsert_user(&fixture, &user), ETHER_ERR_UNSUPPORTED,
                       "mechanism");

        const uint32_t bad_iterations[] = {0, ETHER_SCRAM_ITERATIONS_MIN - 1,
                                           ETHER_SCRAM_ITERATIONS_MAX + 1};
        for (size_t i = 0; i < 3; i++) {
            user_command_init(&user, name, 50);
            user.body.replace = replace;
            user.body.iterations = bad_iterations[i];
            snapshot_of(&fixture.state, &before);
            assert_refused(&fixture, &before, upsert_user(&fixture, &user),
                           ETHER_ERR_INVALID_ARGUMENT, "iterations");
        }

        const size_t bad_salt_bytes[] = {0, ETHER_SCRAM_SALT_BYTES_MAX + 1};
        for (size_t i = 0; i < 2; i++) {
            user_command_init(&user, name, 50);
            user.body.replace = replace;
            user.body.salt.len = bad_salt_bytes[i];
            snapshot_of(&fixture.state, &before);
            assert_refused(&fixture, &before, upsert_user(&fixture, &user),
                           ETHER_ERR_INVALID_ARGUMENT, "salt");
        }

        const size_t bad_key_bytes[] = {0, ETHER_SCRAM_KEY_BYTES - 1, ETHER_SCRAM_KEY_BYTES + 1};
        for (size_t i = 0; i < 3; i++) {
            user_command_init(&user, name, 50);
            user.body.replace = replace;
            user.body.stored_key.len = bad_key_bytes[i];
            snapshot_of(&fixture.state, &before);
            assert_refused(&fixture, &before, upsert_user(&fixture, &user),
                           ETHER_ERR_INVALID_ARGUMENT, "stored key");
            user_command_init(&user, name, 50);
            user.body.replace = replace;
            user.body.server_key.len = bad_key_bytes[i];
            snapshot_of(&fixture.state, &before);
            assert_refused(&fixture, &before, upsert_user(&fixture, &user),
                           ETHER_ERR_INVALID_ARGUMENT, "server key");
        }
    }
    assert_int_equal(fixture.state.users_count, 1);
    assert_user_is(&fixture.state, "alice", 10);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void test_upserting_an_existing_user_is_exists_unless_it_replaces(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_accepted(add_user(&fixture, "alice", 10));
    assert_accepted(add_user(&fixture, "bob", 20));
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, add_user(&fixture, "alice", 70), ETHER_ERR_EXISTS,
                   "already exists");
    assert_user_is(&fixture.state, "alice", 10);

    struct user_command user;
    user_command_init(&user, "alice", 70);
    user.body.replace = true;
    user.body.iterations = 8192;
    assert_accepted(upsert_user(&fixture, &user));
    assert_int_equal(fixture.state.users_count, 2);
    assert_user_is(&fixture.state, "alice", 70);
    assert_int_equal(controller_state_user(&fixture.state, "alice")->credential.iterations, 8192);
    assert_user_is(&fixture.state, "bob", 20);

    /* Replace of a user that does not exist yet creates it. */
    user_command_init(&user, "carol", 80);
    user.body.replace = true;
    assert_accepted(upsert_user(&fixture, &user));
    assert_user_is(&fixture.state, "carol", 80);
    assert_int_equal(fixture.state.users_count, 3);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void test_deleting_a_user_removes_only_it_and_keeps_its_acls(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_accepted(add_user(&fixture, "alice", 10));
    assert_accepted(add_user(&fixture, "bob", 20));
    assert_accepted(add_user(&fixture, "carol", 30));
    Ether__AclBinding binding = allow_read_topic("bob", "orders");
    assert_accepted(create_acl(&fixture, &binding));

    struct controller_apply_result result = delete_user(&fixture, "bob");
    assert_accepted(result);
    assert_int_equal(result.type, CONTROLLER_COMMAND_DELETE_USER);
    assert_null(controller_state_user(&fixture.state, "bob"));
    assert_int_equal(fixture.state.users_count, 2);
    assert_user_is(&fixture.state, "alice", 10);
    assert_user_is(&fixture.state, "carol", 30);
    assert_int_equal(fixture.state.acls_count, 1);
    assert_string_equal(fixture.state.acls[0].principal, "bob");

    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, delete_user(&fixture, "bob"), ETHER_ERR_NOT_FOUND,
                   "does not exist");
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, delete_user(&fixture, "Alice"), ETHER_ERR_NOT_FOUND,
                   "does not exist");
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, delete_user(&fixture, ""), ETHER_ERR_NOT_FOUND,
                   "does not exist");

    assert_accepted(delete_user(&fixture, "carol"));
    assert_accepted(delete_user(&fixture, "alice"));
    assert_int_equal(fixture.state.users_count, 0);
    /* And back. */
    assert_accepted(add_user(&fixture, "bob", 90));
    assert_user_is(&fixture.state, "bob", 90);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void test_the_user_name_star_is_refused_because_acls_use_it_for_everyone(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_accepted(add_user(&fixture, "alice", 10));
    struct ether_buf before = ETHER_BUF_INIT;
    struct user_command user;
    for (int replace = 0; replace <= 1; replace++) {
        user_command_init(&user, "*", 50);
        user.body.replace = replace;
        user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 9);
        snapshot_of(&fixture.state, &before);
        struct controller_apply_result result = upsert_user(&fixture, &user);
        assert_refused(&fixture, &before, result, ETHER_ERR_INVALID_ARGUMENT,
                       "\"*\" means every principal in ACLs and cannot be a user name");
    }
    assert_null(controller_state_user(&fixture.state, "*"));
    assert_false(fixture.state.has_unknown_user_secret);
    /* Names that merely contain a star are users like any other. */
    assert_accepted(add_user(&fixture, "**", 20));
    assert_accepted(add_user(&fixture, "a*", 30));
    assert_int_equal(fixture.state.users_count, 3);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void test_the_first_unknown_user_secret_is_kept_and_later_ones_are_ignored(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_false(fixture.state.has_unknown_user_secret);
    /* A command from a leader that sets none (an older one) stores none. */
    assert_accepted(add_user(&fixture, "alice", 10));
    assert_false(fixture.state.has_unknown_user_secret);

    /* A refused command's secret is not stored either. */
    struct user_command user;
    user_command_init(&user, "alice", 11);
    user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0xAA);
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, upsert_user(&fixture, &user), ETHER_ERR_EXISTS,
                   "already exists");
    assert_false(fixture.state.has_unknown_user_secret);

    user_command_init(&user, "bob", 20);
    user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0xAA);
    assert_accepted(upsert_user(&fixture, &user));
    assert_secret_is(&fixture.state, 0xAA);
    assert_user_is(&fixture.state, "bob", 20);

    /* A second leader's secret, on a new user and on a replace, is ignored. */
    user_command_init(&user, "carol", 30);
    user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0xBB);
    assert_accepted(upsert_user(&fixture, &user));
    assert_secret_is(&fixture.state, 0xAA);
    user_command_init(&user, "alice", 12);
    user.body.replace = true;
    user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0xCC);
    assert_accepted(upsert_user(&fixture, &user));
    assert_secret_is(&fixture.state, 0xAA);
    assert_user_is(&fixture.state, "alice", 12);
    assert_user_is(&fixture.state, "carol", 30);

    /* Deleting every user keeps it. */
    assert_accepted(delete_user(&fixture, "alice"));
    assert_accepted(delete_user(&fixture, "bob"));
    assert_accepted(delete_user(&fixture, "carol"));
    assert_int_equal(fixture.state.users_count, 0);
    assert_secret_is(&fixture.state, 0xAA);

    /* And a snapshot carries it. */
    struct ether_buf bytes = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &bytes);
    struct controller_state restored;
    controller_state_init(&restored);
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &restored),
                     ETHER_OK);
    assert_secret_is(&restored, 0xAA);
    assert_same_snapshot(&fixture.state, &restored);
    controller_state_free(&restored);
    assert_false(restored.has_unknown_user_secret);
    ether_buf_free(&bytes);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void
test_an_unknown_user_secret_of_a_wrong_length_is_refused_and_changes_nothing(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_accepted(add_user(&fixture, "alice", 10));
    struct ether_buf before = ETHER_BUF_INIT;
    struct user_command user;
    const size_t bad_secret_bytes[] = {1, CONTROLLER_UNKNOWN_USER_SECRET_BYTES - 1,
                                       CONTROLLER_UNKNOWN_USER_SECRET_BYTES + 1};
    /* Without a secret in the state, then with one. */
    for (int has_secret = 0; has_secret <= 1; has_secret++) {
        for (int replace = 0; replace <= 1; replace++) {
            for (size_t i = 0; i < sizeof bad_secret_bytes / sizeof bad_secret_bytes[0]; i++) {
                user_command_init(&user, replace ? "alice" : "bob", 50);
                user.body.replace = replace;
                user_command_set_secret(&user, bad_secret_bytes[i], 0xDD);
                snapshot_of(&fixture.state, &before);
                assert_refused(&fixture, &before, upsert_user(&fixture, &user),
                               ETHER_ERR_INVALID_ARGUMENT, "unknown-user secret is 32 bytes");
            }
        }
        assert_int_equal(fixture.state.users_count, 1 + (size_t)has_secret);
        if (!has_secret) {
            assert_false(fixture.state.has_unknown_user_secret);
            user_command_init(&user, "carol", 30);
            user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0xEE);
            assert_accepted(upsert_user(&fixture, &user));
        }
    }
    assert_secret_is(&fixture.state, 0xEE);
    assert_user_is(&fixture.state, "alice", 10);
    assert_null(controller_state_user(&fixture.state, "bob"));
    ether_buf_free(&before);
    fixture_free(&fixture);
}

/* ---- ACLs ----------------------------------------------------------------------------- */

static void test_created_acls_are_kept_sorted_and_an_identical_one_is_exists(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    /* Listed in acl_binding_compare order; created in a scrambled one. */
    Ether__AclBinding sorted[] = {
        allow_read_topic("*", "orders"),
        acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                    ACL_PERMISSION_ALLOW),
        acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                    ACL_PERMISSION_DENY),
        acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_WRITE,
                    ACL_PERMISSION_ALLOW),
        acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                    ACL_PERMISSION_ALLOW),
        acl_message("alice", ACL_RESOURCE_GROUP, "billing", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                    ACL_PERMISSION_ALLOW),
        acl_message("alice", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL, ACL_OPERATION_ALTER,
                    ACL_PERMISSION_ALLOW),
        allow_read_topic("bob", "*"),
    };
    enum { SORTED_COUNT = sizeof sorted / sizeof sorted[0] };
    const size_t order[SORTED_COUNT] = {5, 0, 7, 2, 6, 4, 1, 3};
    for (size_t i = 0; i < SORTED_COUNT; i++) {
        struct controller_apply_result result = create_acl(&fixture, &sorted[order[i]]);
        assert_accepted(result);
        assert_int_equal(result.type, CONTROLLER_COMMAND_CREATE_ACL);
    }
    assert_int_equal(fixture.state.acls_count, SORTED_COUNT);
    for (size_t i = 0; i < SORTED_COUNT; i++) {
        const struct acl_binding *binding = &fixture.state.acls[i];
        assert_string_equal(binding->principal, sorted[i].principal);
        assert_int_equal(binding->resource_type, sorted[i].resource_type);
        assert_string_equal(binding->resource_name, sorted[i].resource_name);
        assert_int_equal(binding->pattern, sorted[i].pattern);
        assert_int_equal(binding->operation, sorted[i].operation);
        assert_int_equal(binding->permission, sorted[i].permission);
    }
    /* The state owns its copies of the strings. */
    assert_ptr_not_equal(fixture.state.acls[0].principal, sorted[0].principal);

    struct ether_buf before = ETHER_BUF_INIT;
    for (size_t i = 0; i < SORTED_COUNT; i++) {
        snapshot_of(&fixture.state, &before);
        assert_refused(&fixture, &before, create_acl(&fixture, &sorted[i]), ETHER_ERR_EXISTS,
                       "already exists");
    }
    char principal[] = "alice";
    char name[] = "orders";
    Ether__AclBinding copy = allow_read_topic(principal, name);
    snapshot_of(&fixture.state, &before);
    struct controller_apply_result result = create_acl(&fixture, &copy);
    assert_refused(&fixture, &before, result, ETHER_ERR_EXISTS, "allow read on topic orders");
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void test_invalid_acls_are_refused_with_the_sentence_of_acl_validate(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    Ether__AclBinding existing = allow_read_topic("alice", "orders");
    assert_accepted(create_acl(&fixture, &existing));
    struct {
        Ether__AclBinding binding;
        const char *words;
    } cases[] = {
        {allow_read_topic("", "orders"), "principal"},
        {allow_read_topic("alice", ""), "resource name"},
        {acl_message("alice", ACL_RESOURCE_ANY, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                     ACL_PERMISSION_ALLOW),
         "resource type"},
        {acl_message("alice", (enum acl_resource_type)9, "orders", ACL_PATTERN_LITERAL,
                     ACL_OPERATION_READ, ACL_PERMISSION_ALLOW),
         "resource type"},
        {acl_message("alice", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_PREFIXED, ACL_OPERATION_ALTER,
                     ACL_PERMISSION_ALLOW),
         "pattern"},
        {acl_message("alice", ACL_RESOURCE_CLUSTER, "c", ACL_PATTERN_LITERAL, ACL_OPERATION_ALTER,
                     ACL_PERMISSION_ALLOW),
         "resource name"},
        {acl_message("alice", ACL_RESOURCE_TOPIC, "*", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                     ACL_PERMISSION_ALLOW),
         "prefixed"},
        {acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_ANY,
                     ACL_PERMISSION_ALLOW),
         "operation"},
        {acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                     ACL_PERMISSION_ANY),
         "permission"},
    };
    struct ether_buf before = ETHER_BUF_INIT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snapshot_of(&fixture.state, &before);
        assert_refused(&fixture, &before, create_acl(&fixture, &cases[i].binding),
                       ETHER_ERR_INVALID_ARGUMENT, cases[i].words);
        snapshot_of(&fixture.state, &before);
        assert_refused(&fixture, &before, delete_acl(&fixture, &cases[i].binding),
                       ETHER_ERR_INVALID_ARGUMENT, cases[i].words);
    }
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, create_acl(&fixture, NULL), ETHER_ERR_INVALID_ARGUMENT,
                   "no ACL binding");
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, delete_acl(&fixture, NULL), ETHER_ERR_INVALID_ARGUMENT,
                   "no ACL binding");
    ether_buf_free(&before);
    fixture_free(&fixture);
}

static void test_an_acl_binding_with_an_unknown_field_is_unsupported(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    Ether__AclBinding binding = allow_read_topic("alice", "orders");
    Ether__ControllerCreateAcl body = ETHER__CONTROLLER_CREATE_ACL__INIT;
    body.binding = &binding;
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_ACL;
    command.create_acl = &body;
    struct ether_buf bytes = ETHER_BUF_INIT;
    command_pack(&command, &bytes);
    /* field 10 (create_acl), its length, field 1 (binding), its length, the binding. */
    assert_int_equal(bytes.data[0], 0x52);
    assert_int_equal(bytes.data[2], 0x0a);
    assert_true(bytes.data[1] < 0x7e && bytes.data[3] < 0x7e);
    bytes.data[1] += 2;
    bytes.data[3] += 2;
    ether_buf_append_u8(&bytes, 0x78); /* field 15, varint 1 */
    ether_buf_append_u8(&bytes, 0x01);
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    struct controller_apply_result result = apply_bytes(&fixture, bytes.data, bytes.length);
    assert_refused(&fixture, &before, result, ETHER_ERR_UNSUPPORTED, "newer broker");
    ether_buf_free(&before);
    ether_buf_free(&bytes);
    fixture_free(&fixture);
}

static void test_deleting_an_acl_removes_exactly_the_identical_binding(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    Ether__AclBinding allow = allow_read_topic("alice", "orders");
    Ether__AclBinding deny = acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL,
                                         ACL_OPERATION_READ, ACL_PERMISSION_DENY);
    Ether__AclBinding prefixed =
        acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                    ACL_PERMISSION_ALLOW);
    assert_accepted(create_acl(&fixture, &allow));
    assert_accepted(create_acl(&fixture, &deny));
    assert_accepted(create_acl(&fixture, &prefixed));

    struct controller_apply_result result = delete_acl(&fixture, &deny);
    assert_accepted(result);
    assert_int_equal(result.type, CONTROLLER_COMMAND_DELETE_ACL);
    assert_int_equal(fixture.state.acls_count, 2);
    assert_int_equal(fixture.state.acls[0].pattern, ACL_PATTERN_LITERAL);
    assert_int_equal(fixture.state.acls[0].permission, ACL_PERMISSION_ALLOW);
    assert_int_equal(fixture.state.acls[1].pattern, ACL_PATTERN_PREFIXED);

    struct ether_buf before = ETHER_BUF_INIT;
    Ether__AclBinding missing[] = {
        deny,
        allow_read_topic("bob", "orders"),
        allow_read_topic("alice", "order"),
        acl_message("alice", ACL_RESOURCE_GROUP, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_READ,
                    ACL_PERMISSION_ALLOW),
        acl_message("alice", ACL_RESOURCE_TOPIC, "orders", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                    ACL_PERMISSION_ALLOW),
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        snapshot_of(&fixture.state, &before);
        assert_refused(&fixture, &before, delete_acl(&fixture, &missing[i]), ETHER_ERR_NOT_FOUND,
                       "does not exist");
    }
    assert_accepted(delete_acl(&fixture, &prefixed));
    assert_accepted(delete_acl(&fixture, &allow));
    assert_int_equal(fixture.state.acls_count, 0);
    assert_accepted(create_acl(&fixture, &deny));
    assert_int_equal(fixture.state.acls_count, 1);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

/* ---- snapshots ------------------------------------------------------------------------ */

/* Packs `snapshot` with its checksum and decodes it into `target`. */
static int decode_message(const Ether__ControllerSnapshot *snapshot,
                          struct controller_state *target)
{
    struct ether_buf bytes = ETHER_BUF_INIT;
    size_t body_bytes = ether__controller_snapshot__get_packed_size(snapshot);
    uint8_t *data = ether_buf_extend(&bytes, 4 + body_bytes);
    ether__controller_snapshot__pack(snapshot, data + 4);
    ether_put_u32le(data, ether_crc32c(data + 4, body_bytes));
    int rc = controller_state_snapshot_decode(bytes.data, bytes.length, target);
    ether_buf_free(&bytes);
    return rc;
}

/* A state at the limits: `users` users and `acls` bindings, through a snapshot. */
static void load_many(struct fixture *fixture, size_t users_count, size_t acls_count)
{
    enum { NAME_BYTES = 16 };
    uint8_t salt[ETHER_SCRAM_SALT_BYTES] = {1};
    uint8_t key[ETHER_SCRAM_KEY_BYTES] = {2};
    char(*names)[NAME_BYTES] = ether_calloc(users_count + acls_count, NAME_BYTES);
    Ether__ControllerUpsertUser *users = ether_calloc(users_count, sizeof *users);
    Ether__ControllerUpsertUser **user_pointers = ether_calloc(users_count, sizeof *user_pointers);
    Ether__AclBinding *acls = ether_calloc(acls_count, sizeof *acls);
    Ether__AclBinding **acl_pointers = ether_calloc(acls_count, sizeof *acl_pointers);
    for (size_t i = 0; i < users_count; i++) {
        snprintf(names[i], NAME_BYTES, "user-%07zu", i);
        users[i] = (Ether__ControllerUpsertUser)ETHER__CONTROLLER_UPSERT_USER__INIT;
        users[i].name = names[i];
        users[i].mechanism = (char *)(uintptr_t)ETHER_SCRAM_MECHANISM;
        users[i].iterations = ETHER_SCRAM_ITERATIONS_MIN;
        users[i].salt = (ProtobufCBinaryData){sizeof salt, salt};
        users[i].stored_key = (ProtobufCBinaryData){sizeof key, key};
        users[i].server_key = (ProtobufCBinaryData){sizeof key, key};
        user_pointers[i] = &users[i];
    }
    for (size_t i = 0; i < acls_count; i++) {
        char *name = names[users_count + i];
        snprintf(name, NAME_BYTES, "topic-%07zu", i);
        acls[i] = allow_read_topic("alice", name);
        acl_pointers[i] = &acls[i];
    }
    Ether__ControllerSnapshot snapshot = ETHER__CONTROLLER_SNAPSHOT__INIT;
    snapshot.version = CONTROLLER_SNAPSHOT_VERSION;
    snapshot.applied_index = fixture->next_index - 1;
    snapshot.next_topic_id = 1;
    snapshot.next_producer_id = 1;
    snapshot.n_users = users_count;
    snapshot.users = user_pointers;
    snapshot.n_acls = acls_count;
    snapshot.acls = acl_pointers;
    assert_int_equal(decode_message(&snapshot, &fixture->state), ETHER_OK);
    assert_int_equal(fixture->state.users_count, users_count);
    assert_int_equal(fixture->state.acls_count, acls_count);
    ether_free(acl_pointers);
    ether_free(acls);
    ether_free(user_pointers);
    ether_free(users);
    ether_free(names);
}

static void test_users_and_acls_beyond_their_maximum_are_too_large(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    load_many(&fixture, CONTROLLER_USERS_MAX, CONTROLLER_ACLS_MAX);
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, add_user(&fixture, "zed", 1), ETHER_ERR_TOO_LARGE, "maximum");
    Ether__AclBinding one_more = allow_read_topic("zed", "orders");
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, create_acl(&fixture, &one_more), ETHER_ERR_TOO_LARGE,
                   "maximum");
    /* At the maximum an existing one is still EXISTS, and replacing is fine. */
    Ether__AclBinding existing = allow_read_topic("alice", "topic-0000000");
    snapshot_of(&fixture.state, &before);
    assert_refused(&fixture, &before, create_acl(&fixture, &existing), ETHER_ERR_EXISTS,
                   "already exists");
    struct user_command user;
    user_command_init(&user, "user-0000000", 5);
    user.body.replace = true;
    assert_accepted(upsert_user(&fixture, &user));
    assert_user_is(&fixture.state, "user-0000000", 5);
    /* Room again after a delete. */
    assert_accepted(delete_user(&fixture, "user-0000001"));
    assert_accepted(add_user(&fixture, "zed", 1));
    assert_accepted(delete_acl(&fixture, &existing));
    assert_accepted(create_acl(&fixture, &one_more));
    assert_int_equal(fixture.state.users_count, CONTROLLER_USERS_MAX);
    assert_int_equal(fixture.state.acls_count, CONTROLLER_ACLS_MAX);
    ether_buf_free(&before);
    fixture_free(&fixture);
}

/* Brokers, a topic, a named producer, users (one replaced, one deleted), the unknown-user
 * secret (0x5E bytes) and ACLs. */
static void build_secure_state(struct fixture *fixture)
{
    register_brokers(fixture, 3);
    assert_accepted(create_topic(fixture, "orders", 3, 3));
    assert_accepted(init_producer(fixture, "writer"));
    struct user_command user;
    user_command_init(&user, "carol", 30);
    user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0x5E);
    assert_accepted(upsert_user(fixture, &user));
    assert_accepted(add_user(fixture, "alice", 10));
    assert_accepted(add_user(fixture, "gone", 40));
    assert_accepted(add_user(fixture, "bob", 20));
    user_command_init(&user, "bob", 25);
    user.body.replace = true;
    user.body.iterations = 10000;
    user.body.salt.len = 32;
    assert_accepted(upsert_user(fixture, &user));
    assert_accepted(delete_user(fixture, "gone"));
    Ether__AclBinding bindings[] = {
        acl_message("*", ACL_RESOURCE_TOPIC, "public.", ACL_PATTERN_PREFIXED, ACL_OPERATION_READ,
                    ACL_PERMISSION_ALLOW),
        allow_read_topic("alice", "orders"),
        acl_message("bob", ACL_RESOURCE_GROUP, "*", ACL_PATTERN_LITERAL, ACL_OPERATION_ALL,
                    ACL_PERMISSION_DENY),
        acl_message("ops", ACL_RESOURCE_CLUSTER, "", ACL_PATTERN_LITERAL, ACL_OPERATION_ALTER,
                    ACL_PERMISSION_ALLOW),
        allow_read_topic("alice", "gone"),
    };
    for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++) {
        assert_accepted(create_acl(fixture, &bindings[i]));
    }
    assert_accepted(delete_acl(fixture, &bindings[4]));
}

static void test_snapshot_round_trip_with_users_and_acls_is_exact(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_secure_state(&fixture);
    struct ether_buf bytes = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &bytes);

    struct fixture restored;
    fixture_init(&restored);
    assert_accepted(add_user(&restored, "replaced", 1)); /* decode replaces what was there */
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &restored.state),
                     ETHER_OK);
    restored.next_index = fixture.next_index;
    assert_same_snapshot(&fixture.state, &restored.state);
    assert_null(controller_state_user(&restored.state, "replaced"));
    assert_int_equal(restored.state.users_count, 3);
    assert_user_is(&restored.state, "alice", 10);
    assert_user_is(&restored.state, "carol", 30);
    const struct controller_user *bob = controller_state_user(&restored.state, "bob");
    const struct controller_user *original = controller_state_user(&fixture.state, "bob");
    assert_non_null(bob);
    assert_int_equal(bob->credential.iterations, 10000);
    assert_int_equal(bob->credential.salt_bytes, 32);
    assert_memory_equal(&bob->credential, &original->credential, sizeof bob->credential);
    assert_int_equal(restored.state.acls_count, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(acl_binding_compare(&restored.state.acls[i], &fixture.state.acls[i]), 0);
    }
    assert_int_equal(restored.state.producers_count, 1);
    assert_int_equal(restored.state.topics_count, 1);
    assert_secret_is(&restored.state, 0x5E);

    /* Both go on identically from there. */
    Ether__AclBinding binding = allow_read_topic("carol", "orders");
    assert_accepted(create_acl(&fixture, &binding));
    assert_accepted(create_acl(&restored, &binding));
    assert_int_equal(add_user(&restored, "alice", 1).error, ETHER_ERR_EXISTS);
    assert_int_equal(add_user(&fixture, "alice", 1).error, ETHER_ERR_EXISTS);
    assert_accepted(delete_user(&fixture, "carol"));
    assert_accepted(delete_user(&restored, "carol"));
    assert_same_snapshot(&fixture.state, &restored.state);
    ether_buf_free(&bytes);
    fixture_free(&restored);
    fixture_free(&fixture);
}

static void test_equal_states_reached_in_another_order_encode_to_equal_bytes(void **unused)
{
    (void)unused;
    struct fixture left;
    struct fixture right;
    fixture_init(&left);
    fixture_init(&right);
    Ether__AclBinding first = allow_read_topic("alice", "orders");
    Ether__AclBinding second = acl_message("*", ACL_RESOURCE_GROUP, "g", ACL_PATTERN_PREFIXED,
                                           ACL_OPERATION_READ, ACL_PERMISSION_ALLOW);
    assert_accepted(add_user(&left, "alice", 10));
    assert_accepted(add_user(&left, "bob", 20));
    assert_accepted(create_acl(&left, &first));
    assert_accepted(create_acl(&left, &second));
    assert_accepted(create_acl(&right, &second));
    assert_accepted(add_user(&right, "bob", 20));
    assert_accepted(create_acl(&right, &first));
    assert_accepted(add_user(&right, "alice", 10));
    assert_same_snapshot(&left.state, &right.state);
    fixture_free(&left);
    fixture_free(&right);
}

static void test_snapshots_are_version_two_until_the_state_has_users_acls_or_a_secret(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    assert_int_equal(snapshot_version(&fixture.state), 2);
    register_brokers(&fixture, 3);
    assert_accepted(create_topic(&fixture, "orders", 3, 3));
    assert_accepted(init_producer(&fixture, "writer"));
    assert_int_equal(snapshot_version(&fixture.state), 2);

    assert_accepted(add_user(&fixture, "alice", 10));
    assert_int_equal(snapshot_version(&fixture.state), 3);
    assert_accepted(delete_user(&fixture, "alice"));
    assert_int_equal(snapshot_version(&fixture.state), 2);

    Ether__AclBinding binding = allow_read_topic("alice", "orders");
    assert_accepted(create_acl(&fixture, &binding));
    assert_int_equal(snapshot_version(&fixture.state), 3);
    assert_accepted(delete_acl(&fixture, &binding));
    assert_int_equal(snapshot_version(&fixture.state), 2);

    /* The secret outlives the user that brought it, and keeps the snapshot at version 3. */
    struct user_command user;
    user_command_init(&user, "bob", 20);
    user_command_set_secret(&user, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 0x42);
    assert_accepted(upsert_user(&fixture, &user));
    assert_accepted(delete_user(&fixture, "bob"));
    assert_int_equal(fixture.state.users_count, 0);
    assert_int_equal(snapshot_version(&fixture.state), 3);

    /* A version 2 snapshot decodes to the same state and encodes to the same bytes. */
    struct fixture empty;
    fixture_init(&empty);
    register_brokers(&empty, 2);
    struct ether_buf bytes = ETHER_BUF_INIT;
    snapshot_of(&empty.state, &bytes);
    struct controller_state restored;
    controller_state_init(&restored);
    assert_int_equal(controller_state_snapshot_decode(bytes.data, bytes.length, &restored),
                     ETHER_OK);
    assert_int_equal(snapshot_version(&restored), 2);
    assert_same_snapshot(&empty.state, &restored);
    controller_state_free(&restored);
    ether_buf_free(&bytes);
    fixture_free(&empty);
    fixture_free(&fixture);
}

/*
 * Unpacks the good snapshot, applies `edit`, packs it again with a correct checksum and
 * decodes it into `target`.
 */
typedef void (*snapshot_edit)(Ether__ControllerSnapshot *snapshot);

static int decode_edited(const struct ether_buf *good, snapshot_edit edit,
                         struct controller_state *target)
{
    Ether__ControllerSnapshot *snapshot =
        ether__controller_snapshot__unpack(NULL, good->length - 4, good->data + 4);
    assert_non_null(snapshot);
    edit(snapshot);
    int rc = decode_message(snapshot, target);
    ether__controller_snapshot__free_unpacked(snapshot, NULL);
    return rc;
}

static void drop_users(Ether__ControllerSnapshot *snapshot)
{
    for (size_t i = 0; i < snapshot->n_users; i++) {
        ether__controller_upsert_user__free_unpacked(snapshot->users[i], NULL);
    }
    snapshot->n_users = 0;
}

static void drop_acls(Ether__ControllerSnapshot *snapshot)
{
    for (size_t i = 0; i < snapshot->n_acls; i++) {
        ether__acl_binding__free_unpacked(snapshot->acls[i], NULL);
    }
    snapshot->n_acls = 0;
}

/* A bytes field of an unpacked message, replaced by `bytes` bytes of `fill` (0: emptied). */
static void set_bytes(ProtobufCBinaryData *field, size_t bytes, uint8_t fill)
{
    free(field->data);
    field->data = NULL;
    field->len = bytes;
    if (bytes > 0) {
        field->data = malloc(bytes);
        assert_non_null(field->data);
        memset(field->data, fill, bytes);
    }
}

static void drop_secret(Ether__ControllerSnapshot *snapshot)
{
    set_bytes(&snapshot->unknown_user_secret, 0, 0);
}

/* A string field of an unpacked message, replaced (the message frees it with free(), unless
 * it is protobuf-c's shared empty string, what an absent field points to). */
static void set_string(char **field, const char *value)
{
    if (*field != protobuf_c_empty_string) {
        free(*field);
    }
    *field = strdup(value);
    assert_non_null(*field);
}

static void edit_nothing(Ether__ControllerSnapshot *snapshot)
{
    (void)snapshot;
}
static void edit_version_two_without_users_or_acls(Ether__ControllerSnapshot *snapshot)
{
    drop_users(snapshot);
    drop_acls(snapshot);
    drop_secret(snapshot);
    snapshot->version = 2;
}
static void edit_version_one_without_producers_users_or_acls(Ether__ControllerSnapshot *snapshot)
{
    for (size_t i = 0; i < snapshot->n_producers; i++) {
        ether__controller_snapshot_producer__free_unpacked(snapshot->producers[i], NULL);
    }
    snapshot->n_producers = 0;
    drop_users(snapshot);
    drop_acls(snapshot);
    drop_secret(snapshot);
    snapshot->version = 1;
}
static void edit_version_three_without_users_or_acls(Ether__ControllerSnapshot *snapshot)
{
    drop_users(snapshot);
    drop_acls(snapshot);
}
static void edit_secret_in_a_version_two_snapshot(Ether__ControllerSnapshot *snapshot)
{
    drop_users(snapshot);
    drop_acls(snapshot);
    snapshot->version = 2;
}
static void edit_secret_in_a_version_one_snapshot(Ether__ControllerSnapshot *snapshot)
{
    edit_secret_in_a_version_two_snapshot(snapshot);
    for (size_t i = 0; i < snapshot->n_producers; i++) {
        ether__controller_snapshot_producer__free_unpacked(snapshot->producers[i], NULL);
    }
    snapshot->n_producers = 0;
    snapshot->version = 1;
}
static void edit_secret_too_short(Ether__ControllerSnapshot *snapshot)
{
    set_bytes(&snapshot->unknown_user_secret, CONTROLLER_UNKNOWN_USER_SECRET_BYTES - 1, 0x5E);
}
static void edit_secret_too_long(Ether__ControllerSnapshot *snapshot)
{
    set_bytes(&snapshot->unknown_user_secret, CONTROLLER_UNKNOWN_USER_SECRET_BYTES + 1, 0x5E);
}
static void edit_secret_of_one_byte(Ether__ControllerSnapshot *snapshot)
{
    set_bytes(&snapshot->unknown_user_secret, 1, 0x5E);
}
static void edit_secret_in_a_user(Ether__ControllerSnapshot *snapshot)
{
    set_bytes(&snapshot->users[0]->unknown_user_secret, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 7);
}
static void edit_users_in_a_version_two_snapshot(Ether__ControllerSnapshot *snapshot)
{
    drop_acls(snapshot);
    snapshot->version = 2;
}
static void edit_acls_in_a_version_two_snapshot(Ether__ControllerSnapshot *snapshot)
{
    drop_users(snapshot);
    snapshot->version = 2;
}
static void edit_acls_in_a_version_one_snapshot(Ether__ControllerSnapshot *snapshot)
{
    for (size_t i = 0; i < snapshot->n_producers; i++) {
        ether__controller_snapshot_producer__free_unpacked(snapshot->producers[i], NULL);
    }
    snapshot->n_producers = 0;
    drop_users(snapshot);
    snapshot->version = 1;
}
static void edit_stored_key_too_short(Ether__ControllerSnapshot *snapshot)
{
    snapshot->users[0]->stored_key.len = ETHER_SCRAM_KEY_BYTES - 1;
}
static void edit_server_key_of_salt_length(Ether__ControllerSnapshot *snapshot)
{
    /* Swap the (16-byte) salt and the (32-byte) server key: both are still the message's. */
    Ether__ControllerUpsertUser *user = snapshot->users[0];
    ProtobufCBinaryData salt = user->salt;
    user->salt = user->server_key;
    user->server_key = salt;
}
static void edit_salt_empty(Ether__ControllerSnapshot *snapshot)
{
    snapshot->users[1]->salt.len = 0;
}
static void edit_salt_too_long(Ether__ControllerSnapshot *snapshot)
{
    Ether__ControllerUpsertUser *user = snapshot->users[0];
    free(user->salt.data);
    user->salt.len = ETHER_SCRAM_SALT_BYTES_MAX + 1;
    user->salt.data = calloc(1, user->salt.len);
    assert_non_null(user->salt.data);
}
static void edit_iterations_too_few(Ether__ControllerSnapshot *snapshot)
{
    snapshot->users[0]->iterations = ETHER_SCRAM_ITERATIONS_MIN - 1;
}
static void edit_iterations_too_many(Ether__ControllerSnapshot *snapshot)
{
    snapshot->users[2]->iterations = ETHER_SCRAM_ITERATIONS_MAX + 1;
}
static void edit_other_mechanism(Ether__ControllerSnapshot *snapshot)
{
    set_string(&snapshot->users[0]->mechanism, "SCRAM-SHA-512");
}
static void edit_user_with_replace(Ether__ControllerSnapshot *snapshot)
{
    snapshot->users[0]->replace = true;
}
static void edit_users_out_of_order(Ether__ControllerSnapshot *snapshot)
{
    Ether__ControllerUpsertUser *first = snapshot->users[0];
    snapshot->users[0] = snapshot->users[1];
    snapshot->users[1] = first;
}
static void edit_duplicate_user(Ether__ControllerSnapshot *snapshot)
{
    set_string(&snapshot->users[1]->name, snapshot->users[0]->name);
}
static void edit_bad_user_name(Ether__ControllerSnapshot *snapshot)
{
    set_string(&snapshot->users[0]->name, "a lice");
}
static void edit_empty_user_name(Ether__ControllerSnapshot *snapshot)
{
    set_string(&snapshot->users[0]->name, "");
}
static void edit_acls_out_of_order(Ether__ControllerSnapshot *snapshot)
{
    Ether__AclBinding *first = snapshot->acls[0];
    snapshot->acls[0] = snapshot->acls[1];
    snapshot->acls[1] = first;
}
static void edit_duplicate_acl(Ether__ControllerSnapshot *snapshot)
{
    Ether__AclBinding *from = snapshot->acls[1];
    Ether__AclBinding *to = snapshot->acls[2];
    set_string(&to->principal, from->principal);
    set_string(&to->resource_name, from->resource_name);
    to->resource_type = from->resource_type;
    to->pattern = from->pattern;
    to->operation = from->operation;
    to->permission = from->permission;
}
static void edit_acl_operation_any(Ether__ControllerSnapshot *snapshot)
{
    snapshot->acls[0]->operation = ETHER__ACL_OPERATION__ACL_OPERATION_ANY;
}
static void edit_acl_unknown_resource_type(Ether__ControllerSnapshot *snapshot)
{
    snapshot->acls[1]->resource_type = (Ether__AclResourceType)9;
}
static void edit_acl_negative_permission(Ether__ControllerSnapshot *snapshot)
{
    snapshot->acls[1]->permission = (Ether__AclPermission)-1;
}
static void edit_acl_cluster_with_a_name(Ether__ControllerSnapshot *snapshot)
{
    set_string(&snapshot->acls[3]->resource_name, "cluster");
}
static void edit_acl_empty_principal(Ether__ControllerSnapshot *snapshot)
{
    set_string(&snapshot->acls[2]->principal, "");
}

static void test_older_snapshot_versions_decode_without_users_acls_or_secret(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_secure_state(&fixture);
    struct ether_buf good = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &good);
    struct controller_state target;
    controller_state_init(&target);

    /* Sanity: the re-encoding path is faithful. */
    assert_int_equal(decode_edited(&good, edit_nothing, &target), ETHER_OK);
    assert_same_snapshot(&fixture.state, &target);
    controller_state_free(&target);

    assert_int_equal(decode_edited(&good, edit_version_two_without_users_or_acls, &target),
                     ETHER_OK);
    assert_int_equal(target.users_count, 0);
    assert_int_equal(target.acls_count, 0);
    assert_int_equal(target.producers_count, 1);
    assert_int_equal(target.topics_count, 1);
    assert_int_equal(target.brokers_count, 3);
    assert_false(target.has_unknown_user_secret);
    /* Re-encoded, it is still a version 2 snapshot of the same state. */
    assert_int_equal(snapshot_version(&target), 2);
    struct ether_buf again = ETHER_BUF_INIT;
    snapshot_of(&target, &again);
    struct controller_state reloaded;
    controller_state_init(&reloaded);
    assert_int_equal(controller_state_snapshot_decode(again.data, again.length, &reloaded),
                     ETHER_OK);
    assert_same_snapshot(&target, &reloaded);
    controller_state_free(&reloaded);
    controller_state_free(&target);

    assert_int_equal(
        decode_edited(&good, edit_version_one_without_producers_users_or_acls, &target), ETHER_OK);
    assert_int_equal(target.users_count, 0);
    assert_int_equal(target.acls_count, 0);
    assert_int_equal(target.producers_count, 0);
    assert_int_equal(target.topics_count, 1);
    controller_state_free(&target);

    /* A version 3 snapshot with nothing but the secret (every user deleted). */
    assert_int_equal(decode_edited(&good, edit_version_three_without_users_or_acls, &target),
                     ETHER_OK);
    assert_int_equal(target.users_count, 0);
    assert_int_equal(target.acls_count, 0);
    assert_secret_is(&target, 0x5E);
    assert_int_equal(snapshot_version(&target), 3);
    controller_state_free(&target);
    ether_buf_free(&again);
    ether_buf_free(&good);
    fixture_free(&fixture);
}

static void
test_snapshots_with_bad_users_acls_or_secret_are_corrupt_and_change_nothing(void **unused)
{
    (void)unused;
    struct fixture fixture;
    fixture_init(&fixture);
    build_secure_state(&fixture);
    struct ether_buf good = ETHER_BUF_INIT;
    snapshot_of(&fixture.state, &good);

    struct fixture target;
    fixture_init(&target);
    assert_accepted(add_user(&target, "kept", 7));
    Ether__AclBinding kept = allow_read_topic("kept", "kept");
    assert_accepted(create_acl(&target, &kept));
    struct ether_buf before = ETHER_BUF_INIT;
    snapshot_of(&target.state, &before);

    const snapshot_edit corrupt[] = {
        edit_users_in_a_version_two_snapshot,
        edit_acls_in_a_version_two_snapshot,
        edit_acls_in_a_version_one_snapshot,
        edit_stored_key_too_short,
        edit_server_key_of_salt_length,
        edit_salt_empty,
        edit_salt_too_long,
        edit_iterations_too_few,
        edit_iterations_too_many,
        edit_other_mechanism,
        edit_user_with_replace,
        edit_users_out_of_order,
        edit_duplicate_user,
        edit_bad_user_name,
        edit_empty_user_name,
        edit_acls_out_of_order,
        edit_duplicate_acl,
        edit_acl_operation_any,
        edit_acl_unknown_resource_type,
        edit_acl_negative_permission,
        edit_acl_cluster_with_a_name,
        edit_acl_empty_principal,
        edit_secret_in_a_version_two_snapshot,
        edit_secret_in_a_version_one_snapshot,
        edit_secret_too_short,
        edit_secret_too_long,
        edit_secret_of_one_byte,
        edit_secret_in_a_user,
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        int rc = decode_edited(&good, corrupt[i], &target.state);
        if (rc != ETHER_ERR_CORRUPT) {
            fail_msg("edit %zu was not refused as corrupt but %s", i, ether_error_name(rc));
        }
        struct ether_buf after = ETHER_BUF_INIT;
        snapshot_of(&target.state, &after);
        assert_int_equal(before.length, after.length);
        assert_memory_equal(before.data, after.data, before.length);
        ether_buf_free(&after);
    }
    ether_buf_free(&before);
    ether_buf_free(&good);
    fixture_free(&target);
    fixture_free(&fixture);
}

/* ---- determinism ---------------------------------------------------------------------- */

/* Packs a random user or ACL command, valid or not, over a small universe of names. */
static void random_security_command(uint64_t *prng, struct ether_buf *out)
{
    static const char *const users[] = {"a", "b", "c", "bad name", "", "*"};
    static const size_t secret_bytes[] = {0, 0, CONTROLLER_UNKNOWN_USER_SECRET_BYTES, 31};
    static const char *const principals[] = {"*", "a", "b", ""};
    static const char *const names[] = {"x", "y", "*", ""};
    static const uint32_t iterations[] = {4096, 5000, 100};
    Ether__ControllerCommand command = ETHER__CONTROLLER_COMMAND__INIT;
    struct user_command user;
    Ether__ControllerDeleteUser delete_user_body = ETHER__CONTROLLER_DELETE_USER__INIT;
    Ether__AclBinding binding = acl_message(
        principals[prng_below(prng, 4)], (enum acl_resource_type)prng_below(prng, 4),
        names[prng_below(prng, 4)], (enum acl_pattern)prng_below(prng, 2),
        (enum acl_operation)prng_below(prng, 8), (enum acl_permission)(1 + prng_below(prng, 2)));
    Ether__ControllerCreateAcl create_body = ETHER__CONTROLLER_CREATE_ACL__INIT;
    Ether__ControllerDeleteAcl delete_body = ETHER__CONTROLLER_DELETE_ACL__INIT;
    create_body.binding = &binding;
    delete_body.binding = &binding;
    const char *name = users[prng_below(prng, 6)];
    switch (prng_below(prng, 4)) {
    case 0:
        user_command_init(&user, name, (uint8_t)prng_below(prng, 256));
        user.body.iterations = iterations[prng_below(prng, 3)];
        user.body.replace = prng_below(prng, 2) == 0;
        user_command_set_secret(&user, secret_bytes[prng_below(prng, 4)],
                                (uint8_t)prng_below(prng, 256));
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_UPSERT_USER;
        command.upsert_user = &user.body;
        break;
    case 1:
        delete_user_body.name = (char *)(uintptr_t)name;
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_USER;
        command.delete_user = &delete_user_body;
        break;
    case 2:
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_CREATE_ACL;
        command.create_acl = &create_body;
        break;
    default:
        command.command_case = ETHER__CONTROLLER_COMMAND__COMMAND_DELETE_ACL;
        command.delete_acl = &delete_body;
        break;
    }
    command_pack(&command, out);
}

static void test_replicas_applying_the_same_user_and_acl_commands_stay_identical(void **unused)
{
    (void)unused;
    uint64_t seed = test_seed(99);
    uint64_t prng = seed;
    struct fixture left;
    struct fixture right;
    fixture_init(&left);
    fixture_init(&right);
    struct ether_buf command = ETHER_BUF_INIT;
    struct ether_buf snapshot = ETHER_BUF_INIT;
    int accepted = 0;
    for (int round = 0; round < 4000; round++) {
        random_security_command(&prng, &command);
        snapshot_of(&left.state, &snapshot);
        struct controller_apply_result a = apply_bytes(&left, command.data, command.length);
        struct controller_apply_result b = apply_bytes(&right, command.data, command.length);
        if (memcmp(&a, &b, sizeof a) != 0) {
            fail_msg("seed %llu round %d: replicas disagree", (unsigned long long)seed, round);
        }
        if (a.error != ETHER_OK) {
            assert_refused(&left, &snapshot, a, a.error, "");
        }
        accepted += a.error == ETHER_OK;
        if (round % 500 == 499) {
            /* A replica that restarts from a snapshot stays in step. */
            snapshot_of(&right.state, &snapshot);
            assert_int_equal(
                controller_state_snapshot_decode(snapshot.data, snapshot.length, &right.state),
                ETHER_OK);
        }
    }
    assert_same_snapshot(&left.state, &right.state);
    assert_true(left.state.has_unknown_user_secret);
    if (accepted < 400 || left.state.acls_count == 0) {
        fail_msg("seed %llu: only %d commands accepted, %zu ACLs at the end",
                 (unsigned long long)seed, accepted, left.state.acls_count);
    }
    ether_buf_free(&snapshot);
    ether_buf_free(&command);
    fixture_free(&left);
    fixture_free(&right);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upserted_users_are_kept_sorted_by_name_with_their_credential),
        cmocka_unit_test(test_invalid_upserts_are_refused_naming_the_field_and_change_nothing),
        cmocka_unit_test(test_upserting_an_existing_user_is_exists_unless_it_replaces),
        cmocka_unit_test(test_deleting_a_user_removes_only_it_and_keeps_its_acls),
        cmocka_unit_test(test_the_user_name_star_is_refused_because_acls_use_it_for_everyone),
        cmocka_unit_test(test_the_first_unknown_user_secret_is_kept_and_later_ones_are_ignored),
        cmocka_unit_test(
            test_an_unknown_user_secret_of_a_wrong_length_is_refused_and_changes_nothing),
        cmocka_unit_test(test_created_acls_are_kept_sorted_and_an_identical_one_is_exists),
        cmocka_unit_test(test_invalid_acls_are_refused_with_the_sentence_of_acl_validate),
        cmocka_unit_test(test_an_acl_binding_with_an_unknown_field_is_unsupported),
        cmocka_unit_test(test_deleting_an_acl_removes_exactly_the_identical_binding),
        cmocka_unit_test(test_users_and_acls_beyond_their_maximum_are_too_large),
        cmocka_unit_test(test_snapshot_round_trip_with_users_and_acls_is_exact),
        cmocka_unit_test(test_equal_states_reached_in_another_order_encode_to_equal_bytes),
        cmocka_unit_test(test_snapshots_are_version_two_until_the_state_has_users_acls_or_a_secret),
        cmocka_unit_test(test_older_snapshot_versions_decode_without_users_acls_or_secret),
        cmocka_unit_test(
            test_snapshots_with_bad_users_acls_or_secret_are_corrupt_and_change_nothing),
        cmocka_unit_test(test_replicas_applying_the_same_user_and_acl_commands_stay_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
