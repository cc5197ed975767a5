/* Unit tests for raft/ log replication: commit rule, conflicts, pipelining, batching. */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[100] = {1, 2, 3};

static void assert_logs_equal(struct fixture *f, uint64_t a, uint64_t b)
{
    struct raft_memory_log *la = fixture_node(f, a)->log;
    struct raft_memory_log *lb = fixture_node(f, b)->log;
    assert_int_equal(raft_memory_log_last_index(la), raft_memory_log_last_index(lb));
    for (uint64_t i = 1; i <= raft_memory_log_last_index(la); i++) {
        const struct raft_entry *ea = raft_memory_log_entry(la, i);
        const struct raft_entry *eb = raft_memory_log_entry(lb, i);
        assert_non_null(ea);
        assert_non_null(eb);
        assert_int_equal(ea->term, eb->term);
        assert_int_equal(ea->data_bytes, eb->data_bytes);
    }
}

static void test_proposal_is_replicated_committed_and_applied_everywhere(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    uint64_t index = 0;
    uint64_t term = 0;
    const uint8_t *datas[1] = {payload};
    uint32_t sizes[1] = {sizeof payload};
    assert_int_equal(raft_propose(fixture_raft(f, 1), datas, sizes, 1, &index, &term, NULL), 0);
    assert_int_equal(index, 3);
    fixture_settle(f, 1);
    fixture_deliver_all(f);
    fixture_run(f, 2);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(fixture_status(f, id).commit_index, 3);
        assert_int_equal(fixture_node(f, id)->applied_index, 3);
        const struct raft_entry *e = raft_memory_log_entry(fixture_node(f, id)->log, 3);
        assert_non_null(e);
        assert_memory_equal(e->data, payload, sizeof payload);
    }
    fixture_destroy(f);
}

static void test_proposal_on_follower_fails_with_not_leader_and_hint(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 2);
    const uint8_t *datas[1] = {payload};
    uint32_t sizes[1] = {1};
    uint64_t hint = 0;
    assert_int_equal(raft_propose(fixture_raft(f, 1), datas, sizes, 1, NULL, NULL, &hint),
                     ETHER_ERR_NOT_LEADER);
    assert_int_equal(hint, 2);
    fixture_destroy(f);
}

static void test_leader_appends_and_commits_a_noop_on_election(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 3);
    const struct raft_entry *e = raft_memory_log_entry(fixture_node(f, 3)->log, 2);
    assert_non_null(e);
    assert_int_equal(e->type, RAFT_ENTRY_NOOP);
    assert_int_equal(e->term, fixture_status(f, 3).term);
    assert_int_equal(fixture_status(f, 3).commit_index, 2);
    fixture_destroy(f);
}

/* Raft Figure 8: an entry from an earlier term stored on a majority is not
 * committed by counting replicas; it commits only with an entry of the
 * current term. Fails when raft/ is built with RAFT_BUG_COMMIT_PREVIOUS_TERM. */
static void test_leader_does_not_commit_previous_term_entry_by_counting_replicas(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(3, 0, false, false);
    f->config_template.append_entries_max = 1;
    fixture_start_all(f);
    fixture_elect(f, 1); /* term 2: [1 config t1, 2 noop t2] everywhere */
    fixture_isolate(f, 1, true);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, 10), 0); /* index 3, term 2: only on 1 */
    fixture_drop_all(f);
    /* Node 2 wins term 3 with node 3's vote; its no-op reaches nobody. */
    fixture_isolate(f, 1, true);
    f->drop_types_mask = (1u << RAFT_MSG_APPEND_REQ) | (1u << RAFT_MSG_HEARTBEAT_REQ);
    fixture_campaign(f, 2);
    assert_int_equal(fixture_status(f, 2).role, RAFT_LEADER);
    assert_int_equal(fixture_status(f, 2).term, 3);
    fixture_drop_all(f);
    f->drop_types_mask = 0;
    fixture_isolate(f, 2, true);
    /* Node 1 restarts and wins term 4 with node 3 (its first try, at term 3, loses);
     * entry 3 (term 2) reaches node 3, every append carrying index 4 is lost. */
    fixture_crash(f, 1);
    fixture_restart(f, 1);
    f->cut[1][3] = f->cut[3][1] = false;
    f->drop_appends_from_index = 4;
    fixture_campaign(f, 1);
    fixture_campaign(f, 1);
    assert_int_equal(fixture_status(f, 1).role, RAFT_LEADER);
    assert_int_equal(fixture_status(f, 1).term, 4);
    fixture_deliver_all(f);
    const struct raft_entry *e = raft_memory_log_entry(fixture_node(f, 3)->log, 3);
    assert_non_null(e);
    assert_int_equal(e->term, 2);
    struct raft_progress_info info;
    assert_int_equal(raft_progress(fixture_raft(f, 1), 3, &info), 0);
    assert_int_equal(info.match_index, 3);
    assert_int_equal(fixture_status(f, 1).commit_index,
                     2); /* replicated on 2 of 3, not committed */
    /* Once the current-term no-op is replicated, both commit. */
    f->drop_appends_from_index = 0;
    fixture_run(f, 25); /* the stalled pipeline is re-probed after an election timeout */
    assert_int_equal(fixture_status(f, 1).commit_index, 4);
    assert_logs_equal(f, 1, 3);
    fixture_destroy(f);
}

static void test_follower_rejects_mismatched_prev_with_conflict_term_hint(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft *r = fixture_raft(f, 2);
    /* Give node 2 entries 2..4 of term 2 from leader 1. */
    struct raft_entry entries[3];
    for (int i = 0; i < 3; i++) {
        entries[i] =
            (struct raft_entry){.term = 2, .index = 2 + (uint64_t)i, .type = RAFT_ENTRY_NORMAL};
    }
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND_REQ;
    m.group_id = 42;
    m.from = 1;
    m.to = 2;
    m.term = 2;
    m.index = 1;
    m.log_term = 1;
    m.entries = entries;
    m.entries_count = 3;
    assert_int_equal(raft_step(r, &m), 0);
    fixture_settle(f, 2);
    fixture_drop_all(f);
    /* A term-3 leader whose entry 4 has term 3 probes at prev (4, 3). */
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND_REQ;
    m.group_id = 42;
    m.from = 3;
    m.to = 2;
    m.term = 3;
    m.index = 4;
    m.log_term = 3;
    assert_int_equal(raft_step(r, &m), 0);
    fixture_settle(f, 2);
    const struct raft_message *reply = fixture_find_queued(f, 2, 3, RAFT_MSG_APPEND_RESP);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(reply->index, 4);
    assert_int_equal(reply->reject_hint_term, 2);
    assert_int_equal(reply->reject_hint_index, 2);
    /* Probing past the end reports last index + 1. */
    fixture_drop_all(f);
    m.index = 9;
    assert_int_equal(raft_step(r, &m), 0);
    fixture_settle(f, 2);
    reply = fixture_find_queued(f, 2, 3, RAFT_MSG_APPEND_RESP);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(reply->reject_hint_term, 0);
    assert_int_equal(reply->reject_hint_index, 5);
    fixture_destroy(f);
}

static void test_follower_truncates_conflicting_suffix_and_converges(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_isolate(f, 1, true);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(fixture_propose_n(f, 1, 4, payload, 10), 0); /* uncommitted, term 2 */
    }
    fixture_drop_all(f);
    fixture_isolate(f, 1, false);
    fixture_isolate(f, 1, true);
    f->cut[2][3] = f->cut[3][2] = false;
    fixture_elect(f, 2);
    assert_int_equal(fixture_propose_n(f, 2, 3, payload, 20), 0);
    fixture_deliver_all(f);
    fixture_isolate(f, 1, false);
    fixture_run(f, 5);
    assert_int_equal(fixture_status(f, 1).leader_id, 2);
    assert_logs_equal(f, 1, 2);
    assert_logs_equal(f, 2, 3);
    assert_int_equal(fixture_status(f, 1).commit_index, fixture_status(f, 2).commit_index);
    assert_int_equal(raft_memory_log_last_index(fixture_node(f, 1)->log), 6);
    fixture_destroy(f);
}

static void test_pipelining_is_bounded_by_inflight_messages(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(3, 0, false, false);
    f->config_template.append_entries_max = 1;
    f->config_template.inflight_messages_max = 2;
    fixture_start_all(f);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 10, payload, 10), 0);
    assert_int_equal(fixture_queued(f, 1, 2, RAFT_MSG_APPEND_REQ), 2);
    struct raft_progress_info info;
    assert_int_equal(raft_progress(fixture_raft(f, 1), 2, &info), 0);
    assert_int_equal(info.state, RAFT_PROGRESS_REPLICATE);
    assert_int_equal(info.inflight_messages_count, 2);
    fixture_deliver_all(f);
    fixture_run(f, 1);
    assert_int_equal(fixture_status(f, 2).commit_index, 12);
    fixture_destroy(f);
}

static void test_pipelining_is_bounded_by_inflight_bytes(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(3, 0, false, false);
    f->config_template.append_entries_max = 1;
    f->config_template.inflight_bytes_max = 250;
    fixture_start_all(f);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 10, payload, 100), 0);
    assert_int_equal(fixture_queued(f, 1, 2, RAFT_MSG_APPEND_REQ), 3);
    struct raft_progress_info info;
    assert_int_equal(raft_progress(fixture_raft(f, 1), 2, &info), 0);
    assert_int_equal(info.inflight_bytes, 300);
    fixture_destroy(f);
}

static void test_batched_proposals_travel_in_one_append_per_follower(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 50, payload, 100), 0);
    assert_int_equal(fixture_queued(f, 1, 2, RAFT_MSG_APPEND_REQ), 1);
    const struct raft_message *m = fixture_find_queued(f, 1, 2, RAFT_MSG_APPEND_REQ);
    assert_int_equal(m->entries_count, 50);
    fixture_destroy(f);
}

static void test_append_is_split_at_append_bytes_max(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(3, 0, false, false);
    f->config_template.append_bytes_max = 1000;
    fixture_start_all(f);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 50, payload, 100), 0);
    assert_int_equal(fixture_queued(f, 1, 2, RAFT_MSG_APPEND_REQ), 5);
    fixture_destroy(f);
}

static void test_lost_appends_are_resent_after_a_replicate_stall(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    f->drop_types_mask = 1u << RAFT_MSG_APPEND_REQ;
    assert_int_equal(fixture_propose_n(f, 1, 5, payload, 10), 0);
    fixture_run(f, 2);
    assert_int_equal(fixture_status(f, 1).commit_index, 2);
    f->drop_types_mask = 0;
    fixture_run(f, 25);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(fixture_status(f, id).commit_index, 7);
    }
    fixture_destroy(f);
}

static void test_restarted_follower_catches_up_from_its_durable_log(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 10, payload, 10), 0);
    fixture_deliver_all(f);
    fixture_crash(f, 3);
    assert_int_equal(fixture_propose_n(f, 1, 10, payload, 10), 0);
    fixture_run(f, 3);
    fixture_restart(f, 3);
    assert_int_equal(fixture_status(f, 3).last_index, 12);
    fixture_run(f, 25); /* the leader notices the stalled pipeline and probes */
    assert_logs_equal(f, 1, 3);
    assert_int_equal(fixture_status(f, 3).commit_index, 22);
    assert_int_equal(fixture_node(f, 3)->applied_index, 22);
    fixture_destroy(f);
}

static void test_many_entries_commit_with_random_message_loss(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    uint64_t expected = 2;
    for (int round = 0; round < 40; round++) {
        uint64_t leader = fixture_leader(f);
        if (leader != 0 && fixture_propose_n(f, leader, 7, payload, 30) == 0) {
            expected += 7;
        }
        f->drop_types_mask = round % 3 == 0 ? (1u << RAFT_MSG_APPEND_RESP) : 0;
        fixture_run(f, 1);
    }
    f->drop_types_mask = 0;
    fixture_run(f, 30);
    uint64_t leader = fixture_leader(f);
    assert_int_not_equal(leader, 0);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_logs_equal(f, leader, id);
        assert_true(fixture_status(f, id).commit_index >= expected);
    }
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proposal_is_replicated_committed_and_applied_everywhere),
        cmocka_unit_test(test_proposal_on_follower_fails_with_not_leader_and_hint),
        cmocka_unit_test(test_leader_appends_and_commits_a_noop_on_election),
        cmocka_unit_test(test_leader_does_not_commit_previous_term_entry_by_counting_replicas),
        cmocka_unit_test(test_follower_rejects_mismatched_prev_with_conflict_term_hint),
        cmocka_unit_test(test_follower_truncates_conflicting_suffix_and_converges),
        cmocka_unit_test(test_pipelining_is_bounded_by_inflight_messages),
        cmocka_unit_test(test_pipelining_is_bounded_by_inflight_bytes),
        cmocka_unit_test(test_batched_proposals_travel_in_one_append_per_follower),
        cmocka_unit_test(test_append_is_split_at_append_bytes_max),
        cmocka_unit_test(test_lost_appends_are_resent_after_a_replicate_stall),
        cmocka_unit_test(test_restarted_follower_catches_up_from_its_durable_log),
        cmocka_unit_test(test_many_entries_commit_with_random_message_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
