/*
 * test_raft_fixture.h: a tiny deterministic cluster for the raft/ unit tests.
 *
 * Up to FIXTURE_NODES_MAX raft nodes, each with a shared in-memory log
 * (raft/memory_log.h), and a FIFO "network" of deep-copied messages. Every
 * input to a node is followed by one full ready round (persist, enqueue
 * messages, apply, advance), so borrowed bytes of a delivered message stay
 * valid exactly as long as raft.h requires. Tests inspect the queue to check
 * what a node sent, cut links, take nodes down, or fill a node's disk.
 *
 * Header-only (static inline) so each test_raft_*.c program links alone.
 */
#ifndef ETHER_TESTS_UNIT_TEST_RAFT_FIXTURE_H
#define ETHER_TESTS_UNIT_TEST_RAFT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/mem.h"
#include "raft/memory_log.h"
#include "raft/raft.h"

enum { FIXTURE_NODES_MAX = 6, FIXTURE_APPLIED_MAX = 4096, FIXTURE_READS_MAX = 64 };

struct fixture_message {
    struct raft_message m;
    struct raft_entry *entries;
    uint8_t *payloads;
    struct raft_snapshot_meta snapshot;
    uint8_t *data;
};

struct fixture_node {
    uint64_t id;
    struct raft_memory_log *log;
    struct raft *raft;
    bool down;
    uint64_t applied_index;
    size_t applied_count;
    uint64_t applied_indexes[FIXTURE_APPLIED_MAX];
    uint64_t applied_terms[FIXTURE_APPLIED_MAX];
    struct raft_read_state reads[FIXTURE_READS_MAX];
    size_t reads_count;
    size_t persist_failures;
    size_t role_changes;
};

struct fixture {
    struct fixture_node nodes[FIXTURE_NODES_MAX];
    size_t nodes_count;
    struct fixture_message *queue;
    size_t queue_head;
    size_t queue_count;
    size_t queue_capacity;
    bool cut[FIXTURE_NODES_MAX + 1][FIXTURE_NODES_MAX + 1];
    uint32_t drop_types_mask;         /* bit (1 << type): dropped in transit */
    uint64_t drop_appends_from_index; /* strip entries >= this from APPEND_REQs; 0 off */
    struct raft_config config_template;
    size_t delivered_count;
    size_t delivered_by_type[RAFT_MSG_TYPE_COUNT];
};

static inline struct fixture_node *fixture_node(struct fixture *f, uint64_t id)
{
    assert_true(id >= 1 && id <= f->nodes_count);
    return &f->nodes[id - 1];
}

static inline struct raft *fixture_raft(struct fixture *f, uint64_t id)
{
    return fixture_node(f, id)->raft;
}

static inline void fixture_message_free(struct fixture_message *fm)
{
    ether_free(fm->entries);
    ether_free(fm->payloads);
    ether_free(fm->data);
    memset(fm, 0, sizeof *fm);
}

static inline void fixture_enqueue(struct fixture *f, const struct raft_message *m)
{
    if (f->queue_head + f->queue_count == f->queue_capacity) {
        if (f->queue_head > 0) {
            memmove(f->queue, f->queue + f->queue_head, f->queue_count * sizeof *f->queue);
            f->queue_head = 0;
        } else {
            f->queue_capacity = f->queue_capacity < 64 ? 64 : f->queue_capacity * 2;
            f->queue = ether_realloc(f->queue, f->queue_capacity * sizeof *f->queue);
        }
    }
    struct fixture_message *fm = &f->queue[f->queue_head + f->queue_count++];
    memset(fm, 0, sizeof *fm);
    fm->m = *m;
    if (m->entries_count > 0) {
        size_t bytes = 0;
        for (uint32_t i = 0; i < m->entries_count; i++) {
            bytes += m->entries[i].data_bytes;
        }
        fm->entries = ether_malloc(m->entries_count * sizeof *fm->entries);
        fm->payloads = ether_malloc(bytes > 0 ? bytes : 1);
        size_t offset = 0;
        for (uint32_t i = 0; i < m->entries_count; i++) {
            fm->entries[i] = m->entries[i];
            if (m->entries[i].data_bytes > 0) {
                memcpy(fm->payloads + offset, m->entries[i].data, m->entries[i].data_bytes);
                fm->entries[i].data = fm->payloads + offset;
                offset += m->entries[i].data_bytes;
            }
        }
        fm->m.entries = fm->entries;
    }
    if (m->snapshot != NULL) {
        fm->snapshot = *m->snapshot;
        fm->m.snapshot = &fm->snapshot;
    }
    if (m->data_bytes > 0) {
        fm->data = ether_malloc(m->data_bytes);
        memcpy(fm->data, m->data, m->data_bytes);
        fm->m.data = fm->data;
    }
}

/* Runs one ready round on node `id` if it has one; returns whether it did. */
static inline bool fixture_process_ready(struct fixture *f, uint64_t id)
{
    struct fixture_node *n = fixture_node(f, id);
    if (n->down || !raft_has_ready(n->raft)) {
        return false;
    }
    struct raft_ready rd;
    raft_ready(n->raft, &rd);
    int rc = raft_memory_log_persist(n->log, &rd);
    if (rc == ETHER_ERR_NO_SPACE) {
        n->persist_failures++;
        for (size_t i = 0; i < rd.messages_count; i++) {
            if (raft_message_may_send_after_failed_persist(&rd.messages[i])) {
                fixture_enqueue(f, &rd.messages[i]);
            }
        }
        raft_advance_failed(n->raft, &rd, rc);
        return true;
    }
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < rd.messages_count; i++) {
        fixture_enqueue(f, &rd.messages[i]);
    }
    for (size_t i = 0; i < rd.committed_entries_count; i++) {
        const struct raft_entry *e = &rd.committed_entries[i];
        assert_int_equal(e->index, n->applied_index + 1);
        n->applied_index = e->index;
        if (n->applied_count < FIXTURE_APPLIED_MAX) {
            n->applied_indexes[n->applied_count] = e->index;
            n->applied_terms[n->applied_count] = e->term;
            n->applied_count++;
        }
    }
    if (rd.snapshot_install) {
        n->applied_index = rd.snapshot->index;
    }
    for (size_t i = 0; i < rd.read_states_count && n->reads_count < FIXTURE_READS_MAX; i++) {
        n->reads[n->reads_count++] = rd.read_states[i];
    }
    n->role_changes += rd.role_changed ? 1u : 0u;
    raft_advance(n->raft, &rd);
    return true;
}

static inline void fixture_settle(struct fixture *f, uint64_t id)
{
    for (int i = 0; i < 100 && fixture_process_ready(f, id); i++) {
    }
}

static inline void fixture_node_start(struct fixture *f, uint64_t id)
{
    struct fixture_node *n = fixture_node(f, id);
    struct raft_config config = f->config_template;
    config.id = id;
    config.random_seed = id * 7919u;
    config.storage = raft_memory_log_storage(n->log);
    raft_memory_log_hard_state(n->log, &config.hard_state);
    struct raft_snapshot_meta meta;
    raft_memory_log_snapshot_meta(n->log, &meta);
    config.applied_index = meta.index;
    n->applied_index = meta.index;
    char errstr[128];
    int rc = raft_create(&config, &n->raft, errstr, sizeof errstr);
    if (rc != 0) {
        fail_msg("%s", errstr);
    }
    n->down = false;
}

/* A cluster of `voters` voters and `extra` extra (empty, not-yet-member) nodes. */
static inline struct fixture *fixture_create_with(size_t voters, size_t extra, bool pre_vote,
                                                  bool check_quorum)
{
    struct fixture *f = ether_calloc(1, sizeof *f);
    f->nodes_count = voters + extra;
    assert_true(f->nodes_count <= FIXTURE_NODES_MAX);
    raft_config_init(&f->config_template, 0, NULL);
    f->config_template.pre_vote = pre_vote;
    f->config_template.check_quorum = check_quorum;
    f->config_template.group_id = 42;
    struct raft_configuration configuration;
    memset(&configuration, 0, sizeof configuration);
    for (size_t i = 0; i < voters; i++) {
        configuration.servers[i].id = i + 1;
        configuration.servers[i].role = RAFT_VOTER;
    }
    configuration.servers_count = (uint32_t)voters;
    for (size_t i = 0; i < f->nodes_count; i++) {
        struct fixture_node *n = &f->nodes[i];
        n->id = i + 1;
        n->log = raft_memory_log_create();
        if (i < voters) {
            assert_int_equal(raft_memory_log_bootstrap(n->log, &configuration), 0);
        }
    }
    return f;
}

static inline void fixture_start_all(struct fixture *f)
{
    for (uint64_t id = 1; id <= f->nodes_count; id++) {
        fixture_node_start(f, id);
    }
}

static inline struct fixture *fixture_create(size_t voters, bool pre_vote, bool check_quorum)
{
    struct fixture *f = fixture_create_with(voters, 0, pre_vote, check_quorum);
    fixture_start_all(f);
    return f;
}

static inline void fixture_destroy(struct fixture *f)
{
    for (size_t i = 0; i < f->queue_count; i++) {
        fixture_message_free(&f->queue[f->queue_head + i]);
    }
    ether_free(f->queue);
    for (size_t i = 0; i < f->nodes_count; i++) {
        raft_destroy(f->nodes[i].raft);
        raft_memory_log_destroy(f->nodes[i].log);
    }
    ether_free(f);
}

/* Crashes node `id`: volatile state is lost, the memory log (durable) survives. */
static inline void fixture_crash(struct fixture *f, uint64_t id)
{
    struct fixture_node *n = fixture_node(f, id);
    raft_destroy(n->raft);
    n->raft = NULL;
    n->down = true;
}

static inline void fixture_restart(struct fixture *f, uint64_t id)
{
    fixture_node_start(f, id);
}

static inline bool fixture_link_ok(const struct fixture *f, const struct raft_message *m)
{
    if (m->from > f->nodes_count || m->to > f->nodes_count) {
        return false;
    }
    if (f->nodes[m->from - 1].down || f->nodes[m->to - 1].down) {
        return false;
    }
    if (f->cut[m->from][m->to]) {
        return false;
    }
    return (f->drop_types_mask & (1u << m->type)) == 0;
}

/* Delivers (or drops) the oldest message; returns false when the queue is empty. */
static inline bool fixture_deliver_one(struct fixture *f)
{
    if (f->queue_count == 0) {
        return false;
    }
    struct fixture_message fm = f->queue[f->queue_head];
    f->queue_head++;
    f->queue_count--;
    if (f->queue_count == 0) {
        f->queue_head = 0;
    }
    uint64_t strip_from = f->drop_appends_from_index;
    if (strip_from > 0 && fm.m.type == RAFT_MSG_APPEND_REQ) {
        if (fm.m.index + 1 >= strip_from) {
            fm.m.entries_count = 0;
        } else if (fm.m.index + fm.m.entries_count >= strip_from) {
            fm.m.entries_count = (uint32_t)(strip_from - fm.m.index - 1);
        }
    }
    if (fixture_link_ok(f, &fm.m)) {
        struct fixture_node *n = fixture_node(f, fm.m.to);
        int rc = raft_step(n->raft, &fm.m);
        assert_int_equal(rc, 0);
        f->delivered_count++;
        f->delivered_by_type[fm.m.type]++;
        fixture_process_ready(f, fm.m.to);
    }
    fixture_message_free(&fm);
    return true;
}

static inline void fixture_deliver_all(struct fixture *f)
{
    for (int i = 0; i < 1000000 && fixture_deliver_one(f); i++) {
    }
}

static inline void fixture_drop_all(struct fixture *f)
{
    while (f->queue_count > 0) {
        fixture_message_free(&f->queue[f->queue_head++]);
        f->queue_count--;
    }
    f->queue_head = 0;
}

static inline void fixture_tick(struct fixture *f, uint64_t id)
{
    struct fixture_node *n = fixture_node(f, id);
    if (n->down) {
        return;
    }
    raft_tick(n->raft);
    fixture_settle(f, id);
}

/* `ticks` rounds of: tick every live node, then deliver everything. */
static inline void fixture_run(struct fixture *f, int ticks)
{
    for (int t = 0; t < ticks; t++) {
        for (uint64_t id = 1; id <= f->nodes_count; id++) {
            fixture_tick(f, id);
        }
        fixture_deliver_all(f);
    }
}

static inline void fixture_campaign(struct fixture *f, uint64_t id)
{
    raft_campaign(fixture_raft(f, id));
    fixture_settle(f, id);
    fixture_deliver_all(f);
}

static inline struct raft_status fixture_status(struct fixture *f, uint64_t id)
{
    struct raft_status status;
    raft_status(fixture_raft(f, id), &status);
    return status;
}

static inline uint64_t fixture_leader(struct fixture *f)
{
    uint64_t leader = 0;
    uint64_t leader_term = 0;
    for (uint64_t id = 1; id <= f->nodes_count; id++) {
        if (fixture_node(f, id)->down) {
            continue;
        }
        struct raft_status s = fixture_status(f, id);
        if (s.role == RAFT_LEADER && s.term >= leader_term) {
            leader = id;
            leader_term = s.term;
        }
    }
    return leader;
}

/* Makes `id` leader by campaigning and delivering; asserts it won. */
static inline void fixture_elect(struct fixture *f, uint64_t id)
{
    fixture_campaign(f, id);
    assert_int_equal(fixture_status(f, id).role, RAFT_LEADER);
    fixture_deliver_all(f);
}

static inline int fixture_propose_n(struct fixture *f, uint64_t id, size_t count,
                                    const uint8_t *payload, uint32_t payload_bytes)
{
    const uint8_t *datas[64];
    uint32_t sizes[64];
    assert_true(count <= 64);
    for (size_t i = 0; i < count; i++) {
        datas[i] = payload;
        sizes[i] = payload_bytes;
    }
    uint64_t hint = 0;
    int rc = raft_propose(fixture_raft(f, id), datas, sizes, count, NULL, NULL, &hint);
    if (rc == 0) {
        fixture_settle(f, id);
    }
    return rc;
}

/* Number of queued messages of `type` from `from` to `to` (0 = any). */
static inline size_t fixture_queued(const struct fixture *f, uint64_t from, uint64_t to, int type)
{
    size_t count = 0;
    for (size_t i = 0; i < f->queue_count; i++) {
        const struct raft_message *m = &f->queue[f->queue_head + i].m;
        if ((from == 0 || m->from == from) && (to == 0 || m->to == to) &&
            (type == 0 || m->type == type)) {
            count++;
        }
    }
    return count;
}

static inline const struct raft_message *fixture_find_queued(const struct fixture *f, uint64_t from,
                                                             uint64_t to, int type)
{
    for (size_t i = 0; i < f->queue_count; i++) {
        const struct raft_message *m = &f->queue[f->queue_head + i].m;
        if ((from == 0 || m->from == from) && (to == 0 || m->to == to) &&
            (type == 0 || m->type == type)) {
            return m;
        }
    }
    return NULL;
}

static inline void fixture_isolate(struct fixture *f, uint64_t id, bool isolated)
{
    for (uint64_t other = 1; other <= f->nodes_count; other++) {
        f->cut[id][other] = isolated;
        f->cut[other][id] = isolated;
    }
}

#endif
