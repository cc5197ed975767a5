/* Unit tests for raft/ memory use: an idle group must stay small (10,000 groups a process). */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[100] = {1};

enum { IDLE_GROUP_NODE_BYTES_MAX = 2048 };

static void test_idle_three_node_group_fits_the_per_node_budget(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fixture_propose_n(f, 1, 64, payload, sizeof payload), 0);
        fixture_run(f, 1);
    }
    fixture_run(f, 45); /* idle for two election timeouts: burst buffers are returned */
    for (uint64_t id = 1; id <= 3; id++) {
        size_t bytes = raft_memory_bytes(fixture_raft(f, id));
        print_message("node %llu (%s): %zu bytes held by struct raft and its buffers\n",
                      (unsigned long long)id, raft_role_name(fixture_status(f, id).role), bytes);
        assert_true(bytes < IDLE_GROUP_NODE_BYTES_MAX);
    }
    print_message("sizeof: struct raft_message %zu, struct raft_entry %zu, "
                  "struct raft_configuration %zu, struct raft_ready %zu\n",
                  sizeof(struct raft_message), sizeof(struct raft_entry),
                  sizeof(struct raft_configuration), sizeof(struct raft_ready));
    fixture_destroy(f);
}

static void test_fresh_follower_is_smaller_than_the_budget(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    size_t bytes = raft_memory_bytes(fixture_raft(f, 2));
    print_message("fresh follower: %zu bytes\n", bytes);
    assert_true(bytes < IDLE_GROUP_NODE_BYTES_MAX);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_three_node_group_fits_the_per_node_budget),
        cmocka_unit_test(test_fresh_follower_is_smaller_than_the_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
