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

static void test_full_disk_follower_keeps_a_snapshot_installed_with_refused_entries(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    fixture_isolate(f, 3, true);
    assert_int_equal(fixture_propose_n(f, 1, 5, payload, sizeof payload), 0);
    fixture_run(f, 1);
    assert_int_equal(fixture_status(f, 1).commit_index, 7);
    assert_int_equal(fixture_status(f, 3).last_index, 2);
    uint64_t term = fixture_status(f, 1).term;
    /* One ready of node 3 carries a snapshot install at 7 and entries 8..10. */
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 7;
    meta.term = term;
    meta.size_bytes = 5;
    meta.configuration = *raft_configuration(fixture_raft(f, 1));
    uint8_t data[5] = {0};
    struct raft_message snapshot;
    memset(&snapshot, 0, sizeof snapshot);
    snapshot.type = RAFT_MSG_SNAPSHOT_REQ;
    snapshot.group_id = 42;
    snapshot.from = 1;
    snapshot.to = 3;
    snapshot.term = term;
    snapshot.snapshot = &meta;
    snapshot.data = data;
    snapshot.data_bytes = sizeof data;
    snapshot.snapshot_done = true;
    struct raft *r = fixture_raft(f, 3);
    assert_int_equal(raft_step(r, &snapshot), 0);
    struct raft_entry entries[3];
    for (uint64_t i = 0; i < 3; i++) {
        entries[i] = (struct raft_entry){.term = term,
                                         .index = 8 + i,
                                         .data = payload,
                                         .data_bytes = sizeof payload,
                                         .type = RAFT_ENTRY_NORMAL};
    }
    struct raft_message append;
    memset(&append, 0, sizeof append);
    append.type = RAFT_MSG_APPEND_REQ;
    append.group_id = 42;
    append.from = 1;
    append.to = 3;
    append.term = term;
    append.index = 7;
    append.log_term = term;
    append.commit_index = 10;
    append.entries = entries;
    append.entries_count = 3;
    assert_int_equal(raft_step(r, &append), 0);
    /* The snapshot fits, the entries do not. */
    struct fixture_node *n = fixture_node(f, 3);
    raft_memory_log_set_bytes_max(n->log, 5);
    struct raft_ready rd;
    raft_ready(r, &rd);
    assert_true(rd.snapshot_install);
    assert_int_equal(rd.entries_count, 3);
    assert_int_equal(raft_memory_log_persist(n->log, &rd), ETHER_ERR_NO_SPACE);
    raft_advance_failed(r, &rd, ETHER_ERR_NO_SPACE);
    n->applied_index = meta.index;
    /* Commit falls back to the durable snapshot, not to the log before it. */
    struct raft_status s = fixture_status(f, 3);
    assert_true(s.disk_full);
    assert_int_equal(s.first_index, 8);
    assert_int_equal(s.last_index, 7);
    assert_int_equal(s.commit_index, 7);
    assert_int_equal(s.applied_index, 7);
    /* Once there is room again node 3 catches up from the leader. */
    raft_memory_log_set_bytes_max(n->log, 0);
    fixture_isolate(f, 3, false);
    fixture_run(f, 5);
    assert_int_equal(fixture_status(f, 3).commit_index, 7);
    assert_int_equal(fixture_status(f, 3).last_index, 7);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    fixture_run(f, 2);
    assert_false(fixture_status(f, 3).disk_full);
    assert_int_equal(fixture_status(f, 3).commit_index, 8);
    assert_int_equal(n->applied_index, 8);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_with_full_disk_does_not_acknowledge_entries),
        cmocka_unit_test(test_follower_with_full_disk_keeps_heartbeating_and_voting),
        cmocka_unit_test(test_leader_with_full_disk_rejects_proposals_and_recovers),
        cmocka_unit_test(test_full_disk_ready_is_not_retried_before_the_next_tick),
        cmocka_unit_test(test_full_disk_follower_keeps_a_snapshot_installed_with_refused_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
