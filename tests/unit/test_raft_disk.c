/* Unit tests for raft/ under a full disk (ETHER_ERR_NO_SPACE from the host). */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[10] = {1};

static void test_follower_with_full_disk_does_not_acknowledge_entries(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    raft_memory_log_set_bytes_max(fixture_node(f, 3)->log, 5);
    assert_int_equal(fixture_propose_n(f, 1, 3, payload, sizeof payload), 0);
    fixture_run(f, 3);
    assert_true(fixture_node(f, 3)->persist_failures > 0);
    assert_true(fixture_status(f, 3).disk_full);
    assert_int_equal(fixture_status(f, 3).last_index, 2);
    struct raft_progress_info info;
    assert_int_equal(raft_progress(fixture_raft(f, 1), 3, &info), 0);
    assert_int_equal(info.match_index, 2);
    assert_int_equal(fixture_status(f, 1).commit_index, 5); /* nodes 1 and 2 suffice */
    fixture_destroy(f);
}

static void test_follower_with_full_disk_keeps_heartbeating_and_voting(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    raft_memory_log_set_bytes_max(fixture_node(f, 3)->log, 5);
    assert_int_equal(fixture_propose_n(f, 1, 3, payload, sizeof payload), 0);
    fixture_run(f, 30);
    assert_int_equal(fixture_leader(f), 1); /* node 3's heartbeat answers keep the quorum */
    fixture_crash(f, 2);
    fixture_run(f, 3);
    assert_int_equal(fixture_leader(f), 1); /* check-quorum still sees node 3 */
    fixture_restart(f, 2);
    fixture_crash(f, 1);
    fixture_run(f, 60);
    assert_int_equal(fixture_leader(f), 2); /* won with node 3's vote */
    raft_memory_log_set_bytes_max(fixture_node(f, 3)->log, 0);
    fixture_run(f, 25);
    assert_int_equal(fixture_status(f, 3).last_index, fixture_status(f, 2).last_index);
    assert_false(fixture_status(f, 3).disk_full);
    fixture_destroy(f);
}

static void test_leader_with_full_disk_rejects_proposals_and_recovers(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    raft_memory_log_set_bytes_max(fixture_node(f, 1)->log, 5);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    assert_true(fixture_status(f, 1).disk_full);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), ETHER_ERR_NO_SPACE);
    fixture_run(f, 30);
    assert_int_equal(fixture_leader(f), 1);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), ETHER_ERR_NO_SPACE);
    raft_memory_log_set_bytes_max(fixture_node(f, 1)->log, 0);
    fixture_run(f, 3);
    assert_false(fixture_status(f, 1).disk_full);
    assert_int_equal(raft_memory_log_last_index(fixture_node(f, 1)->log), 3);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    fixture_run(f, 2);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(fixture_status(f, id).commit_index, 4);
        assert_int_equal(fixture_node(f, id)->applied_index, 4);
    }
    fixture_destroy(f);
}

static void test_full_disk_ready_is_not_retried_before_the_next_tick(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(1, false, false);
    fixture_elect(f, 1);
    raft_memory_log_set_bytes_max(fixture_node(f, 1)->log, 5);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    assert_int_equal(fixture_node(f, 1)->persist_failures, 1);
    assert_false(raft_has_ready(fixture_raft(f, 1)));
    fixture_tick(f, 1);
    assert_int_equal(fixture_node(f, 1)->persist_failures, 2);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_with_full_disk_does_not_acknowledge_entries),
        cmocka_unit_test(test_follower_with_full_disk_keeps_heartbeating_and_voting),
        cmocka_unit_test(test_leader_with_full_disk_rejects_proposals_and_recovers),
        cmocka_unit_test(test_full_disk_ready_is_not_retried_before_the_next_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
