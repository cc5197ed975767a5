/* Unit tests for raft/ leadership transfer. */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[8] = {1};

static void test_transfer_to_caught_up_voter_makes_it_leader(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    uint64_t term = fixture_status(f, 1).term;
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 2), 0);
    fixture_settle(f, 1);
    assert_int_equal(fixture_queued(f, 1, 2, RAFT_MSG_TIMEOUT_NOW), 1);
    fixture_deliver_all(f);
    fixture_run(f, 1);
    assert_int_equal(fixture_leader(f), 2);
    assert_int_equal(fixture_status(f, 2).term, term + 1);
    assert_int_equal(fixture_status(f, 1).leader_id, 2);
    fixture_destroy(f);
}

static void test_transfer_waits_until_target_is_caught_up(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_isolate(f, 3, true);
    assert_int_equal(fixture_propose_n(f, 1, 5, payload, sizeof payload), 0);
    fixture_run(f, 1);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 3), 0);
    fixture_settle(f, 1);
    assert_int_equal(fixture_queued(f, 1, 3, RAFT_MSG_TIMEOUT_NOW), 0);
    fixture_isolate(f, 3, false);
    fixture_run(f, 3);
    assert_int_equal(fixture_leader(f), 3);
    assert_int_equal(fixture_status(f, 3).last_index, 8); /* 7 + its own no-op */
    fixture_destroy(f);
}

static void test_proposals_are_refused_during_transfer(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_isolate(f, 2, true);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 2), 0);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload),
                     ETHER_ERR_TRANSFER_IN_PROGRESS);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 3),
                     ETHER_ERR_TRANSFER_IN_PROGRESS);
    fixture_destroy(f);
}

static void test_transfer_aborts_after_an_election_timeout(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_crash(f, 2);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 2), 0);
    fixture_run(f, 5);
    assert_int_equal(fixture_status(f, 1).transfer_target, 2);
    fixture_run(f, 6);
    assert_int_equal(fixture_status(f, 1).transfer_target, 0);
    assert_int_equal(fixture_status(f, 1).role, RAFT_LEADER);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    fixture_destroy(f);
}

static void test_transfer_only_goes_to_another_voter(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 1), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 7), ETHER_ERR_NOT_FOUND);
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 2), 3), ETHER_ERR_NOT_LEADER);
    fixture_destroy(f);
}

static void test_transfer_vote_request_overrides_leader_lease(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    f->cut[2][3] = f->cut[3][2] = false;
    assert_int_equal(raft_transfer_leadership(fixture_raft(f, 1), 3), 0);
    fixture_settle(f, 1);
    /* Deliver TimeoutNow; node 3's VOTE_REQ carries the TRANSFER flag. */
    fixture_deliver_one(f);
    const struct raft_message *m = fixture_find_queued(f, 3, 2, RAFT_MSG_VOTE_REQ);
    assert_non_null(m);
    assert_true((m->flags & RAFT_MESSAGE_FLAG_TRANSFER) != 0);
    fixture_deliver_all(f);
    assert_int_equal(fixture_leader(f), 3);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_to_caught_up_voter_makes_it_leader),
        cmocka_unit_test(test_transfer_waits_until_target_is_caught_up),
        cmocka_unit_test(test_proposals_are_refused_during_transfer),
        cmocka_unit_test(test_transfer_aborts_after_an_election_timeout),
        cmocka_unit_test(test_transfer_only_goes_to_another_voter),
        cmocka_unit_test(test_transfer_vote_request_overrides_leader_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
