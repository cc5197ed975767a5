/* Unit tests for raft/ elections: vote granting, terms, pre-vote, check-quorum. */
#include "tests/unit/test_raft_fixture.h"

static struct raft_message vote_request(uint64_t from, uint64_t to, uint64_t term,
                                        uint64_t last_index, uint64_t last_term)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_VOTE_REQ;
    m.group_id = 42;
    m.from = from;
    m.to = to;
    m.term = term;
    m.index = last_index;
    m.log_term = last_term;
    return m;
}

static void test_single_voter_elects_itself_and_commits_its_noop(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(1, true, true);
    fixture_run(f, 25);
    struct raft_status s = fixture_status(f, 1);
    assert_int_equal(s.role, RAFT_LEADER);
    assert_int_equal(s.commit_index, 2); /* bootstrap config + no-op */
    assert_int_equal(fixture_node(f, 1)->applied_index, 2);
    fixture_destroy(f);
}

static void test_three_nodes_elect_exactly_one_leader_by_ticking(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_run(f, 40);
    uint64_t leader = fixture_leader(f);
    assert_int_not_equal(leader, 0);
    size_t leaders = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        struct raft_status s = fixture_status(f, id);
        leaders += s.role == RAFT_LEADER ? 1u : 0u;
        assert_int_equal(s.leader_id, leader);
        assert_int_equal(s.commit_index, 2);
    }
    assert_int_equal(leaders, 1);
    fixture_destroy(f);
}

static void test_vote_is_denied_to_candidate_with_shorter_log(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    uint8_t payload[8] = {0};
    assert_int_equal(fixture_propose_n(f, 1, 3, payload, sizeof payload), 0);
    fixture_deliver_all(f);
    uint64_t term = fixture_status(f, 2).term;
    /* Node 3 claims a log that ends at the bootstrap entry. */
    struct raft_message m = vote_request(3, 2, term + 1, 1, 1);
    assert_int_equal(raft_step(fixture_raft(f, 2), &m), 0);
    fixture_settle(f, 2);
    const struct raft_message *reply = fixture_find_queued(f, 2, 3, RAFT_MSG_VOTE_RESP);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(fixture_status(f, 2).term, term + 1); /* the term is still adopted */
    assert_int_equal(fixture_status(f, 2).vote, 0);
    fixture_destroy(f);
}

static void test_vote_is_granted_to_candidate_with_longer_log_of_same_term(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft_message m = vote_request(2, 1, 5, 9, 1);
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), 0);
    fixture_settle(f, 1);
    const struct raft_message *reply = fixture_find_queued(f, 1, 2, RAFT_MSG_VOTE_RESP);
    assert_non_null(reply);
    assert_false(reply->reject);
    assert_int_equal(reply->term, 5);
    fixture_destroy(f);
}

static void test_only_one_vote_is_granted_per_term(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft_message from2 = vote_request(2, 1, 2, 1, 1);
    struct raft_message from3 = vote_request(3, 1, 2, 1, 1);
    assert_int_equal(raft_step(fixture_raft(f, 1), &from2), 0);
    assert_int_equal(raft_step(fixture_raft(f, 1), &from3), 0);
    assert_int_equal(raft_step(fixture_raft(f, 1), &from2), 0); /* a retry is fine */
    fixture_settle(f, 1);
    assert_int_equal(fixture_queued(f, 1, 0, RAFT_MSG_VOTE_RESP), 3);
    assert_false(f->queue[f->queue_head + 0].m.reject);
    assert_true(f->queue[f->queue_head + 1].m.reject);
    assert_false(f->queue[f->queue_head + 2].m.reject);
    assert_int_equal(fixture_status(f, 1).vote, 2);
    fixture_destroy(f);
}

static void test_vote_grant_is_in_the_same_ready_as_the_durable_vote(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft *r = fixture_raft(f, 1);
    struct raft_message m = vote_request(2, 1, 3, 1, 1);
    assert_int_equal(raft_step(r, &m), 0);
    struct raft_ready rd;
    raft_ready(r, &rd);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.term, 3);
    assert_int_equal(rd.hard_state.vote, 2);
    assert_int_equal(rd.messages_count, 1);
    assert_false(raft_message_may_send_before_persist(&rd.messages[0]));
    assert_int_equal(raft_memory_log_persist(fixture_node(f, 1)->log, &rd), 0);
    raft_advance(r, &rd);
    assert_false(raft_has_ready(r));
    struct raft_hard_state hs;
    raft_memory_log_hard_state(fixture_node(f, 1)->log, &hs);
    assert_int_equal(hs.vote, 2);
    fixture_destroy(f);
}

static void test_higher_term_turns_leader_into_follower(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    uint64_t term = fixture_status(f, 1).term;
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_HEARTBEAT_RESP;
    m.group_id = 42;
    m.from = 2;
    m.to = 1;
    m.term = term + 1;
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), 0);
    struct raft_status s = fixture_status(f, 1);
    assert_int_equal(s.role, RAFT_FOLLOWER);
    assert_int_equal(s.term, term + 1);
    assert_int_equal(s.vote, 0);
    fixture_destroy(f);
}

static void test_stale_term_messages_are_ignored(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_elect(f, 2);
    uint64_t term = fixture_status(f, 3).term;
    struct raft_message m = vote_request(1, 3, term - 1, 100, 100);
    assert_int_equal(raft_step(fixture_raft(f, 3), &m), 0);
    assert_int_equal(fixture_status(f, 3).term, term);
    assert_int_equal(fixture_status(f, 3).leader_id, 2);
    fixture_destroy(f);
}

static void test_pre_vote_does_not_bump_terms_of_isolated_node(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    uint64_t term = fixture_status(f, 1).term;
    fixture_isolate(f, 3, true);
    fixture_run(f, 100);
    assert_int_equal(fixture_status(f, 3).term, term);
    fixture_isolate(f, 3, false);
    fixture_run(f, 20);
    assert_int_equal(fixture_leader(f), 1);
    assert_int_equal(fixture_status(f, 1).term, term);
    assert_int_equal(fixture_status(f, 3).leader_id, 1);
    fixture_destroy(f);
}

static void test_without_pre_vote_isolated_node_inflates_its_term(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    uint64_t term = fixture_status(f, 1).term;
    fixture_isolate(f, 3, true);
    fixture_run(f, 100);
    assert_true(fixture_status(f, 3).term > term + 2);
    fixture_destroy(f);
}

static void test_pre_vote_grant_does_not_change_voter_state(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, false);
    struct raft_message m = vote_request(2, 1, 7, 1, 1);
    m.type = RAFT_MSG_PRE_VOTE_REQ;
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), 0);
    fixture_settle(f, 1);
    const struct raft_message *reply = fixture_find_queued(f, 1, 2, RAFT_MSG_PRE_VOTE_RESP);
    assert_non_null(reply);
    assert_false(reply->reject);
    assert_int_equal(reply->term, 7);
    assert_int_equal(fixture_status(f, 1).term, 1);
    assert_int_equal(fixture_status(f, 1).vote, 0);
    fixture_destroy(f);
}

static void test_leader_without_quorum_steps_down_under_check_quorum(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_isolate(f, 1, true);
    fixture_run(f, 25);
    assert_int_not_equal(fixture_status(f, 1).role, RAFT_LEADER);
    fixture_destroy(f);
}

static void test_leader_without_check_quorum_keeps_leading_alone(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_crash(f, 2);
    fixture_crash(f, 3);
    fixture_run(f, 40);
    assert_int_equal(fixture_status(f, 1).role, RAFT_LEADER);
    fixture_destroy(f);
}

static void test_follower_in_lease_ignores_vote_requests(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    uint64_t term = fixture_status(f, 2).term;
    struct raft_message m = vote_request(3, 2, term + 1, 100, term);
    assert_int_equal(raft_step(fixture_raft(f, 2), &m), 0);
    assert_int_equal(fixture_status(f, 2).term, term);
    assert_false(raft_has_ready(fixture_raft(f, 2)));
    fixture_destroy(f);
}

static void test_node_restarts_with_its_durable_term_and_vote(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 2);
    uint64_t term = fixture_status(f, 1).term;
    fixture_crash(f, 1);
    fixture_restart(f, 1);
    struct raft_status s = fixture_status(f, 1);
    assert_int_equal(s.term, term);
    assert_int_equal(s.vote, 2);
    assert_int_equal(s.role, RAFT_FOLLOWER);
    fixture_destroy(f);
}

static void test_malformed_message_is_rejected_as_corrupt(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft_message m = vote_request(2, 1, 3, 1, 1);
    m.type = 99;
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), ETHER_ERR_CORRUPT);
    m = vote_request(0, 1, 3, 1, 1);
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), ETHER_ERR_CORRUPT);
    m = vote_request(2, 1, 3, 1, 1);
    m.group_id = 7;
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), ETHER_ERR_INVALID_ARGUMENT);
    struct raft_entry bad = {.term = 9, .index = 5, .type = RAFT_ENTRY_NORMAL};
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND_REQ;
    m.group_id = 42;
    m.from = 2;
    m.to = 1;
    m.term = 3;
    m.index = 1;
    m.log_term = 1;
    m.entries = &bad;
    m.entries_count = 1; /* index should be 2 and term <= 3 */
    assert_int_equal(raft_step(fixture_raft(f, 1), &m), ETHER_ERR_CORRUPT);
    assert_int_equal(fixture_status(f, 1).term, 1);
    fixture_destroy(f);
}

static void test_create_rejects_invalid_config_with_a_sentence(void **state)
{
    (void)state;
    struct raft_memory_log *log = raft_memory_log_create();
    struct raft_config config;
    raft_config_init(&config, 1, raft_memory_log_storage(log));
    config.heartbeat_ticks = config.election_timeout_ticks;
    struct raft *r = NULL;
    char errstr[128] = "";
    assert_int_equal(raft_create(&config, &r, errstr, sizeof errstr), ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "heartbeat_ticks"));
    raft_memory_log_destroy(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_voter_elects_itself_and_commits_its_noop),
        cmocka_unit_test(test_three_nodes_elect_exactly_one_leader_by_ticking),
        cmocka_unit_test(test_vote_is_denied_to_candidate_with_shorter_log),
        cmocka_unit_test(test_vote_is_granted_to_candidate_with_longer_log_of_same_term),
        cmocka_unit_test(test_only_one_vote_is_granted_per_term),
        cmocka_unit_test(test_vote_grant_is_in_the_same_ready_as_the_durable_vote),
        cmocka_unit_test(test_higher_term_turns_leader_into_follower),
        cmocka_unit_test(test_stale_term_messages_are_ignored),
        cmocka_unit_test(test_pre_vote_does_not_bump_terms_of_isolated_node),
        cmocka_unit_test(test_without_pre_vote_isolated_node_inflates_its_term),
        cmocka_unit_test(test_pre_vote_grant_does_not_change_voter_state),
        cmocka_unit_test(test_leader_without_quorum_steps_down_under_check_quorum),
        cmocka_unit_test(test_leader_without_check_quorum_keeps_leading_alone),
        cmocka_unit_test(test_follower_in_lease_ignores_vote_requests),
        cmocka_unit_test(test_node_restarts_with_its_durable_term_and_vote),
        cmocka_unit_test(test_malformed_message_is_rejected_as_corrupt),
        cmocka_unit_test(test_create_rejects_invalid_config_with_a_sentence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
