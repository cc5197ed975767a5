/* Unit tests for raft/ ReadIndex linearizable reads. */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[8] = {1};

static void test_read_index_is_answered_after_a_heartbeat_quorum(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 4, payload, sizeof payload), 0);
    fixture_run(f, 1);
    assert_int_equal(raft_read_index(fixture_raft(f, 1), 77, NULL), 0);
    fixture_settle(f, 1);
    assert_int_equal(fixture_queued(f, 1, 0, RAFT_MSG_HEARTBEAT_REQ), 2);
    assert_int_equal(fixture_node(f, 1)->reads_count, 0);
    fixture_deliver_all(f);
    struct fixture_node *n = fixture_node(f, 1);
    assert_int_equal(n->reads_count, 1);
    assert_int_equal(n->reads[0].request_context, 77);
    assert_int_equal(n->reads[0].error, 0);
    assert_int_equal(n->reads[0].index, 6);
    assert_true(n->applied_index >= n->reads[0].index);
    fixture_destroy(f);
}

static void test_read_index_waits_while_no_quorum_answers(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_isolate(f, 1, true);
    assert_int_equal(raft_read_index(fixture_raft(f, 1), 5, NULL), 0);
    fixture_run(f, 5);
    assert_int_equal(fixture_node(f, 1)->reads_count, 0);
    fixture_isolate(f, 1, false);
    fixture_run(f, 2);
    assert_int_equal(fixture_node(f, 1)->reads_count, 1);
    assert_int_equal(fixture_node(f, 1)->reads[0].request_context, 5);
    fixture_destroy(f);
}

static void test_heartbeat_sent_before_a_request_does_not_confirm_it(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    fixture_tick(f, 1); /* a periodic heartbeat is queued now */
    assert_int_equal(raft_read_index(fixture_raft(f, 1), 9, NULL), 0);
    /* Deliver only the two older heartbeats and their two answers. */
    for (int i = 0; i < 4; i++) {
        fixture_deliver_one(f);
    }
    assert_int_equal(fixture_node(f, 1)->reads_count, 0);
    fixture_settle(f, 1);
    fixture_deliver_all(f);
    assert_int_equal(fixture_node(f, 1)->reads_count, 1);
    fixture_destroy(f);
}

static void test_read_index_on_follower_fails_with_not_leader(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 2);
    uint64_t hint = 0;
    assert_int_equal(raft_read_index(fixture_raft(f, 1), 1, &hint), ETHER_ERR_NOT_LEADER);
    assert_int_equal(hint, 2);
    fixture_destroy(f);
}

static void test_pending_reads_are_dropped_when_leadership_is_lost(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    fixture_isolate(f, 1, true);
    assert_int_equal(raft_read_index(fixture_raft(f, 1), 3, NULL), 0);
    assert_int_equal(raft_read_index(fixture_raft(f, 1), 4, NULL), 0);
    fixture_run(f, 25); /* check-quorum: steps down */
    struct fixture_node *n = fixture_node(f, 1);
    assert_int_not_equal(fixture_status(f, 1).role, RAFT_LEADER);
    assert_int_equal(n->reads_count, 2);
    assert_int_equal(n->reads[0].request_context, 3);
    assert_int_equal(n->reads[0].error, ETHER_ERR_DROPPED);
    assert_int_equal(n->reads[1].error, ETHER_ERR_DROPPED);
    fixture_destroy(f);
}

static void test_read_requests_are_bounded(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(1, 0, false, false);
    f->config_template.read_requests_max = 2;
    fixture_start_all(f);
    fixture_elect(f, 1);
    fixture_isolate(f, 1, true);
    struct raft *r = fixture_raft(f, 1);
    assert_int_equal(raft_read_index(r, 1, NULL), 0);
    assert_int_equal(raft_read_index(r, 2, NULL), 0);
    assert_int_equal(raft_read_index(r, 3, NULL), ETHER_ERR_BUSY);
    fixture_settle(f, 1);
    assert_int_equal(fixture_node(f, 1)->reads_count, 2); /* a single voter confirms alone */
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_index_is_answered_after_a_heartbeat_quorum),
        cmocka_unit_test(test_read_index_waits_while_no_quorum_answers),
        cmocka_unit_test(test_heartbeat_sent_before_a_request_does_not_confirm_it),
        cmocka_unit_test(test_read_index_on_follower_fails_with_not_leader),
        cmocka_unit_test(test_pending_reads_are_dropped_when_leadership_is_lost),
        cmocka_unit_test(test_read_requests_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
