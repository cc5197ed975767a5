/* Unit tests for raft/ snapshots: compaction, chunked InstallSnapshot, restart on loss. */
#include "tests/unit/test_raft_fixture.h"

static const uint8_t payload[16] = {7};

static uint8_t snapshot_data[35];

/* Leader 1 commits 20 entries while node 3 is away, then snapshots and compacts everything. */
static struct fixture *cluster_with_compacted_leader(uint64_t *snapshot_index)
{
    struct fixture *f = fixture_create_with(3, 0, true, true);
    f->config_template.snapshot_chunk_bytes = 10;
    f->config_template.log_trailing_entries_count = 0;
    fixture_start_all(f);
    fixture_elect(f, 1);
    fixture_isolate(f, 3, true);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fixture_propose_n(f, 1, 5, payload, sizeof payload), 0);
        fixture_run(f, 1);
    }
    struct fixture_node *leader = fixture_node(f, 1);
    assert_int_equal(leader->applied_index, 22);
    for (size_t i = 0; i < sizeof snapshot_data; i++) {
        snapshot_data[i] = (uint8_t)(i * 3 + 1);
    }
    assert_int_equal(
        raft_memory_log_snapshot_take(leader->log, 22, snapshot_data, sizeof snapshot_data), 0);
    uint64_t compact = raft_compact(leader->raft, 22);
    assert_int_equal(compact, 22);
    raft_memory_log_compact(leader->log, compact);
    assert_int_equal(fixture_status(f, 1).first_index, 23);
    *snapshot_index = 22;
    return f;
}

static void test_lagging_follower_receives_snapshot_in_chunks_and_installs_it(void **state)
{
    (void)state;
    uint64_t index = 0;
    struct fixture *f = cluster_with_compacted_leader(&index);
    fixture_isolate(f, 3, false);
    fixture_run(f, 25);
    assert_int_equal(f->delivered_by_type[RAFT_MSG_SNAPSHOT_REQ], 4); /* 35 bytes, 10 a chunk */
    struct fixture_node *n = fixture_node(f, 3);
    struct raft_snapshot_meta meta;
    raft_memory_log_snapshot_meta(n->log, &meta);
    assert_int_equal(meta.index, index);
    assert_int_equal(meta.configuration.servers_count, 3);
    size_t bytes = 0;
    const uint8_t *data = raft_memory_log_snapshot_data(n->log, &bytes);
    assert_int_equal(bytes, sizeof snapshot_data);
    assert_memory_equal(data, snapshot_data, bytes);
    assert_int_equal(n->applied_index, index);
    assert_int_equal(fixture_status(f, 3).commit_index, index);
    /* Replication continues normally after the snapshot. */
    assert_int_equal(fixture_propose_n(f, 1, 3, payload, sizeof payload), 0);
    fixture_run(f, 2);
    assert_int_equal(fixture_status(f, 3).commit_index, index + 3);
    assert_int_equal(n->applied_index, index + 3);
    fixture_destroy(f);
}

static void test_snapshot_transfer_restarts_after_lost_chunks(void **state)
{
    (void)state;
    uint64_t index = 0;
    struct fixture *f = cluster_with_compacted_leader(&index);
    fixture_isolate(f, 3, false);
    f->drop_types_mask = 1u << RAFT_MSG_SNAPSHOT_RESP;
    fixture_run(f, 15);
    struct raft_progress_info info;
    assert_int_equal(raft_progress(fixture_raft(f, 1), 3, &info), 0);
    assert_int_equal(info.state, RAFT_PROGRESS_SNAPSHOT);
    f->drop_types_mask = 0;
    fixture_run(f, 30);
    assert_int_equal(fixture_node(f, 3)->applied_index, index);
    assert_int_equal(raft_progress(fixture_raft(f, 1), 3, &info), 0);
    assert_int_equal(info.state, RAFT_PROGRESS_REPLICATE);
    assert_int_equal(info.match_index, index);
    fixture_destroy(f);
}

static void test_compact_keeps_trailing_entries_for_slow_followers(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(1, 0, false, false);
    f->config_template.log_trailing_entries_count = 5;
    fixture_start_all(f);
    fixture_elect(f, 1);
    assert_int_equal(fixture_propose_n(f, 1, 20, payload, 4), 0);
    fixture_settle(f, 1);
    assert_int_equal(fixture_node(f, 1)->applied_index, 22);
    assert_int_equal(raft_compact(fixture_raft(f, 1), 22), 17);
    assert_int_equal(raft_compact(fixture_raft(f, 1), 3), 0);
    fixture_destroy(f);
}

static void test_snapshot_already_covered_by_commit_is_acknowledged_without_install(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    uint64_t term = fixture_status(f, 2).term;
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 2;
    meta.term = term;
    meta.size_bytes = 5;
    meta.configuration = *raft_configuration(fixture_raft(f, 2));
    uint8_t data[5] = {0};
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT_REQ;
    m.group_id = 42;
    m.from = 1;
    m.to = 2;
    m.term = term;
    m.snapshot = &meta;
    m.data = data;
    m.data_bytes = 5;
    m.snapshot_done = true;
    assert_int_equal(raft_step(fixture_raft(f, 2), &m), 0);
    struct raft_ready rd;
    raft_ready(fixture_raft(f, 2), &rd);
    assert_false(rd.snapshot_install);
    assert_false(rd.snapshot_chunk_present);
    assert_int_equal(rd.messages_count, 1);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_SNAPSHOT_RESP);
    assert_true(rd.messages[0].snapshot_done);
    raft_advance(fixture_raft(f, 2), &rd);
    fixture_destroy(f);
}

static void test_out_of_order_chunk_is_rejected_with_expected_offset(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 50;
    meta.term = 2;
    meta.size_bytes = 30;
    meta.configuration = *raft_configuration(fixture_raft(f, 2));
    uint8_t data[10] = {0};
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT_REQ;
    m.group_id = 42;
    m.from = 1;
    m.to = 2;
    m.term = 2;
    m.snapshot = &meta;
    m.data = data;
    m.data_bytes = 10;
    m.offset_bytes = 10; /* the first chunk never arrived */
    assert_int_equal(raft_step(fixture_raft(f, 2), &m), 0);
    fixture_settle(f, 2);
    const struct raft_message *reply = fixture_find_queued(f, 2, 1, RAFT_MSG_SNAPSHOT_RESP);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(reply->offset_bytes, 0);
    fixture_destroy(f);
}

/* A SNAPSHOT_REQ from leader 1 to node `to` carrying bytes [offset, offset + data_bytes). */
static struct raft_message snapshot_request(struct fixture *f, uint64_t to,
                                            const struct raft_snapshot_meta *meta,
                                            uint64_t offset_bytes, const uint8_t *data,
                                            size_t data_bytes)
{
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_SNAPSHOT_REQ;
    m.group_id = 42;
    m.from = 1;
    m.to = to;
    m.term = fixture_status(f, 1).term;
    m.snapshot = meta;
    m.offset_bytes = offset_bytes;
    m.data = data;
    m.data_bytes = data_bytes;
    m.snapshot_done = offset_bytes + data_bytes == meta->size_bytes;
    return m;
}

/* Leader 1 replicates entries 3..5 to both followers, which persist them but
 * never tell the leader: their commit index stays at 2. */
static struct fixture *cluster_with_acknowledged_uncommitted_suffix(void)
{
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    f->drop_types_mask = 1u << RAFT_MSG_APPEND_RESP;
    assert_int_equal(fixture_propose_n(f, 1, 3, payload, sizeof payload), 0);
    fixture_deliver_all(f);
    f->drop_types_mask = 0;
    assert_int_equal(fixture_status(f, 2).last_index, 5);
    assert_int_equal(fixture_status(f, 2).commit_index, 2);
    return f;
}

/* The metadata of a snapshot of leader 1's log at `index`, `size_bytes` long. */
static struct raft_snapshot_meta leader_snapshot_meta(struct fixture *f, uint64_t index,
                                                      uint64_t size_bytes)
{
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = index;
    meta.term = raft_memory_log_entry(fixture_node(f, 1)->log, index)->term;
    meta.size_bytes = size_bytes;
    meta.configuration = *raft_configuration(fixture_raft(f, 1));
    return meta;
}

/* Runs node `id`'s ready by hand: expects it to answer "done" for the snapshot at
 * `index` without touching the log, then applies, sends and advances as a host. */
static void expect_snapshot_acknowledged_without_install(struct fixture *f, uint64_t id,
                                                         uint64_t index)
{
    struct fixture_node *n = fixture_node(f, id);
    struct raft_ready rd;
    raft_ready(n->raft, &rd);
    assert_false(rd.snapshot_install);
    assert_false(rd.snapshot_chunk_present);
    assert_false(rd.truncate);
    assert_int_equal(rd.messages_count, 1);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_SNAPSHOT_RESP);
    assert_false(rd.messages[0].reject);
    assert_true(rd.messages[0].snapshot_done);
    assert_int_equal(rd.messages[0].index, index);
    assert_int_equal(raft_memory_log_persist(n->log, &rd), 0);
    fixture_enqueue(f, &rd.messages[0]);
    for (size_t i = 0; i < rd.committed_entries_count; i++) {
        assert_int_equal(rd.committed_entries[i].index, n->applied_index + 1);
        n->applied_index = rd.committed_entries[i].index;
    }
    raft_advance(n->raft, &rd);
}

static void test_snapshot_whose_last_entry_is_in_the_log_keeps_the_entries_after_it(void **state)
{
    (void)state;
    struct fixture *f = cluster_with_acknowledged_uncommitted_suffix();
    /* A stale snapshot at 4 (a leader may send one while node 2 already holds 5). */
    struct raft_snapshot_meta meta = leader_snapshot_meta(f, 4, 5);
    uint8_t data[5] = {0};
    struct raft_message m = snapshot_request(f, 2, &meta, 0, data, sizeof data);
    assert_int_equal(raft_step(fixture_raft(f, 2), &m), 0);
    expect_snapshot_acknowledged_without_install(f, 2, 4);
    /* Entry 5, which node 2 may have acknowledged, is still there. */
    struct raft_status s = fixture_status(f, 2);
    assert_int_equal(s.last_index, 5);
    assert_int_equal(s.first_index, 1);
    assert_int_equal(s.commit_index, 4);
    assert_int_equal(raft_memory_log_last_index(fixture_node(f, 2)->log), 5);
    fixture_run(f, 25); /* the leader resends what node 2 never answered */
    assert_int_equal(fixture_status(f, 2).commit_index, 5);
    assert_int_equal(fixture_node(f, 2)->applied_index, 5);
    fixture_destroy(f);
}

static void test_incoming_snapshot_is_dropped_once_the_log_holds_its_last_entry(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(3, false, false);
    fixture_elect(f, 1);
    fixture_run(f, 1);
    uint64_t term = fixture_status(f, 1).term;
    /* The first half of a snapshot at 4 reaches node 2 while its log ends at 2. */
    struct raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.index = 4;
    meta.term = term;
    meta.size_bytes = 20;
    meta.configuration = *raft_configuration(fixture_raft(f, 2));
    uint8_t data[20] = {0};
    struct raft_message first = snapshot_request(f, 2, &meta, 0, data, 10);
    assert_int_equal(raft_step(fixture_raft(f, 2), &first), 0);
    fixture_settle(f, 2);
    fixture_drop_all(f);
    /* Then entries 3..5 arrive and are persisted. */
    f->drop_types_mask = 1u << RAFT_MSG_APPEND_RESP;
    assert_int_equal(fixture_propose_n(f, 1, 3, payload, sizeof payload), 0);
    fixture_deliver_all(f);
    f->drop_types_mask = 0;
    assert_int_equal(fixture_status(f, 2).last_index, 5);
    assert_int_equal(raft_memory_log_entry(fixture_node(f, 1)->log, 4)->term, term);
    /* The last half arrives late: installing it would discard entry 5. */
    struct raft_message last = snapshot_request(f, 2, &meta, 10, data + 10, 10);
    assert_int_equal(raft_step(fixture_raft(f, 2), &last), 0);
    expect_snapshot_acknowledged_without_install(f, 2, 4);
    assert_int_equal(fixture_status(f, 2).last_index, 5);
    assert_int_equal(raft_memory_log_last_index(fixture_node(f, 2)->log), 5);
    fixture_run(f, 25); /* the leader resends what node 2 never answered */
    assert_int_equal(fixture_status(f, 2).commit_index, 5);
    assert_int_equal(fixture_node(f, 2)->applied_index, 5);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lagging_follower_receives_snapshot_in_chunks_and_installs_it),
        cmocka_unit_test(test_snapshot_transfer_restarts_after_lost_chunks),
        cmocka_unit_test(test_compact_keeps_trailing_entries_for_slow_followers),
        cmocka_unit_test(test_snapshot_already_covered_by_commit_is_acknowledged_without_install),
        cmocka_unit_test(test_out_of_order_chunk_is_rejected_with_expected_offset),
        cmocka_unit_test(test_snapshot_whose_last_entry_is_in_the_log_keeps_the_entries_after_it),
        cmocka_unit_test(test_incoming_snapshot_is_dropped_once_the_log_holds_its_last_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
