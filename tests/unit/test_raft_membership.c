/* Unit tests for raft/ membership changes: learners, promotion, removal, one change at a time. */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[8] = {1};

static uint8_t role_of(struct fixture *f, uint64_t on, uint64_t id)
{
    const struct raft_configuration *c = raft_configuration(fixture_raft(f, on));
    int i = raft_configuration_find(c, id);
    return i < 0 ? 0 : c->servers[i].role;
}

static struct fixture *cluster_with_learner_4(void)
{
    struct fixture *f = fixture_create_with(3, 1, false, true);
    fixture_start_all(f);
    fixture_elect(f, 1);
    uint64_t index = 0;
    assert_int_equal(
        raft_propose_config_change(fixture_raft(f, 1), RAFT_CHANGE_ADD_LEARNER, 4, &index), 0);
    assert_int_equal(index, 3);
    fixture_settle(f, 1);
    fixture_run(f, 3);
    return f;
}

static void test_new_server_joins_as_learner_and_receives_the_log(void **state)
{
    (void)state;
    struct fixture *f = cluster_with_learner_4();
    for (uint64_t id = 1; id <= 4; id++) {
        assert_int_equal(role_of(f, id, 4), RAFT_LEARNER);
        assert_int_equal(fixture_status(f, id).commit_index, 3);
    }
    assert_int_equal(fixture_node(f, 4)->applied_index, 3);
    fixture_destroy(f);
}

static void test_learner_is_not_counted_for_commit(void **state)
{
    (void)state;
    struct fixture *f = cluster_with_learner_4();
    fixture_crash(f, 2);
    fixture_crash(f, 3);
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    fixture_deliver_all(f);
    assert_int_equal(fixture_status(f, 4).last_index, 4);
    assert_int_equal(fixture_status(f, 1).commit_index, 3);
    fixture_destroy(f);
}

static void test_learner_never_campaigns(void **state)
{
    (void)state;
    struct fixture *f = cluster_with_learner_4();
    uint64_t term = fixture_status(f, 4).term;
    fixture_crash(f, 1);
    fixture_isolate(f, 4, true);
    fixture_run(f, 100);
    assert_int_equal(fixture_status(f, 4).term, term);
    assert_int_equal(fixture_status(f, 4).role, RAFT_FOLLOWER);
    fixture_destroy(f);
}

static void test_caught_up_learner_is_promoted_by_the_host(void **state)
{
    (void)state;
    struct fixture *f = cluster_with_learner_4();
    struct raft_progress_info info;
    assert_int_equal(raft_progress(fixture_raft(f, 1), 4, &info), 0);
    assert_int_equal(info.role, RAFT_LEARNER);
    assert_int_equal(info.match_index, fixture_status(f, 1).last_index);
    assert_int_equal(raft_propose_config_change(fixture_raft(f, 1), RAFT_CHANGE_PROMOTE, 4, NULL),
                     0);
    fixture_settle(f, 1);
    fixture_run(f, 3);
    for (uint64_t id = 1; id <= 4; id++) {
        assert_int_equal(role_of(f, id, 4), RAFT_VOTER);
    }
    /* Now a majority of four is three: with 2 and 3 down, nothing commits. */
    fixture_crash(f, 2);
    fixture_crash(f, 3);
    uint64_t commit = fixture_status(f, 1).commit_index;
    assert_int_equal(fixture_propose_n(f, 1, 1, payload, sizeof payload), 0);
    fixture_run(f, 2);
    assert_int_equal(fixture_status(f, 1).commit_index, commit);
    fixture_destroy(f);
}

static void test_learner_is_promoted_automatically_within_lag_threshold(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(3, 1, false, true);
    f->config_template.learner_promote_lag_entries = 2;
    fixture_start_all(f);
    fixture_elect(f, 1);
    assert_int_equal(
        raft_propose_config_change(fixture_raft(f, 1), RAFT_CHANGE_ADD_LEARNER, 4, NULL), 0);
    fixture_settle(f, 1);
    fixture_run(f, 5);
    assert_int_equal(role_of(f, 1, 4), RAFT_VOTER);
    assert_int_equal(role_of(f, 4, 4), RAFT_VOTER);
    fixture_destroy(f);
}

static void test_second_change_is_refused_while_first_is_uncommitted(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(3, 2, false, true);
    fixture_start_all(f);
    fixture_elect(f, 1);
    struct raft *r = fixture_raft(f, 1);
    assert_int_equal(raft_propose_config_change(r, RAFT_CHANGE_ADD_LEARNER, 4, NULL), 0);
    assert_int_equal(raft_propose_config_change(r, RAFT_CHANGE_ADD_LEARNER, 5, NULL),
                     ETHER_ERR_CONFIG_CHANGE_IN_PROGRESS);
    fixture_settle(f, 1);
    fixture_run(f, 2);
    assert_int_equal(raft_propose_config_change(r, RAFT_CHANGE_ADD_LEARNER, 5, NULL), 0);
    fixture_destroy(f);
}

static void test_invalid_changes_are_refused_with_named_errors(void **state)
{
    (void)state;
    struct fixture *f = cluster_with_learner_4();
    struct raft *r = fixture_raft(f, 1);
    assert_int_equal(raft_propose_config_change(r, RAFT_CHANGE_ADD_LEARNER, 2, NULL),
                     ETHER_ERR_EXISTS);
    assert_int_equal(raft_propose_config_change(r, RAFT_CHANGE_PROMOTE, 2, NULL),
                     ETHER_ERR_NOT_FOUND);
    assert_int_equal(raft_propose_config_change(r, RAFT_CHANGE_REMOVE, 9, NULL),
                     ETHER_ERR_NOT_FOUND);
    assert_int_equal(raft_propose_config_change(fixture_raft(f, 2), RAFT_CHANGE_REMOVE, 3, NULL),
                     ETHER_ERR_NOT_LEADER);
    fixture_destroy(f);
}

static void test_removed_leader_steps_down_after_committing_its_removal(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, true, true);
    fixture_elect(f, 1);
    assert_int_equal(raft_propose_config_change(fixture_raft(f, 1), RAFT_CHANGE_REMOVE, 1, NULL),
                     0);
    assert_int_equal(fixture_status(f, 1).role, RAFT_LEADER); /* until it commits */
    fixture_settle(f, 1);
    fixture_run(f, 3);
    assert_int_not_equal(fixture_status(f, 1).role, RAFT_LEADER);
    assert_int_equal(role_of(f, 2, 1), 0);
    fixture_run(f, 40);
    uint64_t leader = fixture_leader(f);
    assert_true(leader == 2 || leader == 3);
    assert_int_equal(fixture_propose_n(f, leader, 1, payload, sizeof payload), 0);
    fixture_run(f, 2);
    assert_int_equal(fixture_status(f, 2).commit_index, fixture_status(f, 3).commit_index);
    fixture_destroy(f);
}

static void test_configuration_reverts_when_its_entry_is_truncated(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft *r = fixture_raft(f, 2);
    struct raft_configuration grown = *raft_configuration(r);
    grown.servers[3].id = 9;
    grown.servers[3].role = RAFT_LEARNER;
    grown.servers_count = 4;
    uint8_t encoded[RAFT_CONFIGURATION_ENCODED_BYTES_MAX];
    size_t bytes = raft_configuration_encode(&grown, encoded);
    struct raft_entry config_entry = {.term = 2,
                                      .index = 2,
                                      .data = encoded,
                                      .data_bytes = (uint32_t)bytes,
                                      .type = RAFT_ENTRY_CONFIG};
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND_REQ;
    m.group_id = 42;
    m.from = 1;
    m.to = 2;
    m.term = 2;
    m.index = 1;
    m.log_term = 1;
    m.entries = &config_entry;
    m.entries_count = 1;
    assert_int_equal(raft_step(r, &m), 0);
    assert_int_equal(raft_configuration(r)->servers_count, 4); /* in effect once appended */
    fixture_settle(f, 2);
    struct raft_entry noop = {.term = 3, .index = 2, .type = RAFT_ENTRY_NOOP};
    m.from = 3;
    m.term = 3;
    m.entries = &noop;
    assert_int_equal(raft_step(r, &m), 0);
    assert_int_equal(raft_configuration(r)->servers_count, 3);
    assert_int_equal(fixture_status(f, 2).configuration_index, 1);
    fixture_settle(f, 2);
    const struct raft_entry *e = raft_memory_log_entry(fixture_node(f, 2)->log, 2);
    assert_non_null(e);
    assert_int_equal(e->term, 3);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_server_joins_as_learner_and_receives_the_log),
        cmocka_unit_test(test_learner_is_not_counted_for_commit),
        cmocka_unit_test(test_learner_never_campaigns),
        cmocka_unit_test(test_caught_up_learner_is_promoted_by_the_host),
        cmocka_unit_test(test_learner_is_promoted_automatically_within_lag_threshold),
        cmocka_unit_test(test_second_change_is_refused_while_first_is_uncommitted),
        cmocka_unit_test(test_invalid_changes_are_refused_with_named_errors),
        cmocka_unit_test(test_removed_leader_steps_down_after_committing_its_removal),
        cmocka_unit_test(test_configuration_reverts_when_its_entry_is_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
