/*
 * cluster.c: the simulated hosts, each running one raft node through the
 * ready loop of raft.h exactly as its persistence contract asks.
 *
 * Happy path of one node: inputs (delivered messages, ticks, proposals) ->
 * raft_ready() -> [messages raft allows to go early are sent now] -> the disk
 * write completes, at once or some ticks later (slow disk) -> the remaining
 * messages are sent -> committed entries are applied -> raft_advance() ->
 * the messages and ticks that arrived meanwhile are fed in.
 *
 * Failure modes: a crash loses the outstanding write (or tears it, see
 * disk.h) and everything in memory; a failed fsync crashes the node, which
 * restarts from what was durable before; a full disk makes the write fail
 * with ETHER_ERR_NO_SPACE, reported with raft_advance_failed().
 */
#include "tests/sim/sim_internal.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <string.h>

void sim_state_encode(const struct sim_node *node, uint8_t out[SIM_SNAPSHOT_BYTES])
{
    uint64_t filler = node->applied_chain;
    for (size_t i = 0; i < SIM_SNAPSHOT_BYTES; i += 8) {
        uint64_t word = i == 0 ? node->applied_index : i == 8 ? node->applied_chain : filler++;
        for (size_t b = 0; b < 8; b++) {
            out[i + b] = (uint8_t)(word >> (8 * b));
        }
    }
}

bool sim_state_decode(const uint8_t *data, size_t data_bytes, uint64_t *index, uint64_t *chain)
{
    if (data == NULL || data_bytes != SIM_SNAPSHOT_BYTES) {
        return false;
    }
    uint64_t words[SIM_SNAPSHOT_BYTES / 8];
    for (size_t i = 0; i < SIM_SNAPSHOT_BYTES / 8; i++) {
        words[i] = 0;
        for (size_t b = 0; b < 8; b++) {
            words[i] |= (uint64_t)data[8 * i + b] << (8 * b);
        }
    }
    for (size_t i = 2; i < SIM_SNAPSHOT_BYTES / 8; i++) {
        if (words[i] != words[1] + (i - 2)) {
            return false;
        }
    }
    *index = words[0];
    *chain = words[1];
    return true;
}

void sim_node_hold(struct sim_node *node, void *bytes)
{
    if (node->held_count == node->held_capacity) {
        node->held_capacity = node->held_capacity == 0 ? 16 : 2 * node->held_capacity;
        node->held = ether_realloc(node->held, node->held_capacity * sizeof(*node->held));
    }
    node->held[node->held_count++] = bytes;
}

static void release_held(struct sim_node *node)
{
    for (uint32_t i = 0; i < node->held_count; i++) {
        ether_free(node->held[i]);
    }
    node->held_count = 0;
}

static void release_inbox(struct sim_node *node)
{
    for (uint32_t i = 0; i < node->inbox_count; i++) {
        sim_envelope_free(node->inbox[i]);
    }
    node->inbox_count = 0;
}

bool sim_node_accepts_input(const struct sim_node *node)
{
    return node->state == SIM_NODE_UP && !node->ready_pending;
}

/* Loads the state machine from the medium's snapshot (or empty) and creates raft. */
static void create_raft(struct sim *sim, struct sim_node *node)
{
    struct raft_memory_log *medium = node->disk.medium;
    node->applied_index = 0;
    node->applied_chain = 0;
    struct raft_snapshot_meta meta;
    raft_memory_log_snapshot_meta(medium, &meta);
    if (meta.index > 0) {
        size_t data_bytes = 0;
        const uint8_t *data = raft_memory_log_snapshot_data(medium, &data_bytes);
        if (!sim_state_decode(data, data_bytes, &node->applied_index, &node->applied_chain) ||
            node->applied_index != meta.index) {
            sim_checker_fail(&sim->checker, (uint32_t)node->id,
                             "node %u restarts from a snapshot whose data does not decode",
                             (unsigned)node->id);
        }
    }
    struct raft_config config = sim->raft_defaults;
    config.id = node->id;
    config.storage = raft_memory_log_storage(medium);
    config.random_seed = sim_prng_next(&sim->prng);
    raft_memory_log_hard_state(medium, &config.hard_state);
    config.applied_index = node->applied_index;
    char errstr[256] = "";
    int rc = raft_create(&config, &node->raft, errstr, sizeof(errstr));
    if (rc != 0) {
        node->raft = NULL;
        node->state = SIM_NODE_REMOVED;
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "node %u cannot restart from its durable state: %s (%s)",
                         (unsigned)node->id, ether_error_name(rc), errstr);
        return;
    }
    node->state = SIM_NODE_UP;
    node->ready_pending = false;
    node->crash_requested = false;
    node->leader_commit_seen = 0;
    node->ticks_owed = 0;
    node->commit_checked_index = node->applied_index;
    node->completeness_term = 0;
    node->completeness_checked_index = 0;
    node->role_seen = RAFT_FOLLOWER;
    node->term_seen = config.hard_state.term;
    sim_invariants_on_restore(sim, node);
}

void sim_node_start(struct sim *sim, struct sim_node *node, bool bootstrap)
{
    ETHER_ASSERT(node->state == SIM_NODE_UNUSED);
    sim_disk_init(&node->disk);
    if (bootstrap) {
        struct raft_configuration configuration;
        memset(&configuration, 0, sizeof(configuration));
        for (uint32_t i = 0; i < sim->options.nodes_count; i++) {
            configuration.servers[i].id = i + 1;
            configuration.servers[i].role = RAFT_VOTER;
        }
        configuration.servers_count = sim->options.nodes_count;
        int rc = raft_memory_log_bootstrap(node->disk.medium, &configuration);
        ETHER_ASSERT(rc == 0);
    }
    create_raft(sim, node);
    sim_trace_event(sim, SIM_TRACE_RESTART, node->id, 0, NULL, node->term_seen,
                    raft_memory_log_last_index(node->disk.medium), node->applied_index);
}

static void stop_raft(struct sim_node *node)
{
    /* The ready's pointers die with raft; borrowed bytes may go after it. */
    raft_destroy(node->raft);
    node->raft = NULL;
    node->ready_pending = false;
    release_held(node);
    release_inbox(node);
    node->ticks_owed = 0;
}

void sim_node_crash(struct sim *sim, struct sim_node *node, const char *how)
{
    ETHER_ASSERT(node->state == SIM_NODE_UP);
    if (node->ready_pending && node->ready_torn_on_crash) {
        if (sim_disk_write_torn(&node->disk, &node->ready, &sim->prng)) {
            how = "crash tearing its write";
        }
    }
    stop_raft(node);
    node->state = SIM_NODE_DOWN;
    node->restart_tick = sim->now + sim_prng_range(&sim->prng, 1, sim->faults.down_ticks_max);
    sim->result->crashes++;
    sim_trace_event(sim, SIM_TRACE_CRASH, node->id, 0, how,
                    raft_memory_log_last_index(node->disk.medium), 0, 0);
}

void sim_node_restart(struct sim *sim, struct sim_node *node)
{
    ETHER_ASSERT(node->state == SIM_NODE_DOWN);
    if (sim_disk_recover(&node->disk) > 0) {
        sim_trace_event(sim, SIM_TRACE_DISK, node->id, 0, "recovery drops the torn last entry", 0,
                        0, 0);
    }
    create_raft(sim, node);
    if (node->state == SIM_NODE_UP) {
        sim_trace_event(sim, SIM_TRACE_RESTART, node->id, 0, NULL, node->term_seen,
                        raft_memory_log_last_index(node->disk.medium), node->applied_index);
    }
}

void sim_node_shutdown(struct sim *sim, struct sim_node *node)
{
    if (node->state == SIM_NODE_UP) {
        stop_raft(node);
    }
    node->state = SIM_NODE_REMOVED;
    sim_trace_event(sim, SIM_TRACE_DISK, node->id, 0, "node shut down for good (removed)", 0, 0, 0);
}

static void *clone_payload(void *context, const void *payload)
{
    (void)context;
    return sim_envelope_clone(payload);
}

static void send_message(struct sim *sim, struct sim_node *node, const struct raft_message *m)
{
    const char *name = raft_message_type_name(m->type);
    if (m->from != node->id || m->to == RAFT_ID_NONE || m->to > sim->slots_count ||
        m->to == node->id) {
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "node %u sends %s to impossible node %llu", (unsigned)node->id, name,
                         (unsigned long long)m->to);
        return;
    }
    struct sim_envelope *envelope = sim_envelope_copy(m);
    sim->result->messages_sent++;
    unsigned copies = sim_network_send(&sim->network, &sim->prng, sim->now, node->slot,
                                       (uint32_t)(m->to - 1), envelope, clone_payload, NULL);
    uint64_t count = m->reject              ? SIM_TRACE_REJECTED
                     : m->entries_count > 0 ? m->entries_count
                                            : m->data_bytes;
    if (copies == 0) {
        sim_envelope_free(envelope);
        sim_trace_event(sim, SIM_TRACE_DROP, node->id, m->to, "lost", m->term, m->index, 0);
        return;
    }
    sim_trace_event(sim, copies == 2 ? SIM_TRACE_DUPLICATE : SIM_TRACE_SEND, node->id, m->to, name,
                    m->term, m->index, count);
}

enum send_moment {
    SEND_EARLY,     /* before the write completes: only what raft allows */
    SEND_PERSISTED, /* after the write: everything not sent early */
    SEND_NO_SPACE,  /* the entries were refused: what raft still allows */
};

static void send_messages(struct sim *sim, struct sim_node *node, enum send_moment moment)
{
    for (size_t i = 0; i < node->ready.messages_count; i++) {
        const struct raft_message *m = &node->ready.messages[i];
        bool may_go_early = raft_message_may_send_before_persist(m);
        bool send = false;
        if (moment == SEND_EARLY) {
            send = may_go_early;
        } else if (node->ready_early_sent && may_go_early) {
            send = false; /* already sent */
        } else if (moment == SEND_PERSISTED) {
            send = true;
        } else {
            send = raft_message_may_send_after_failed_persist(m);
        }
        if (send) {
            send_message(sim, node, m);
        }
    }
}

static void step_envelope(struct sim *sim, struct sim_node *node, struct sim_envelope *envelope)
{
    const struct raft_message *m = &envelope->message;
    sim_trace_event(sim, SIM_TRACE_DELIVER, m->from, m->to, raft_message_type_name(m->type),
                    m->term, m->index, m->reject ? SIM_TRACE_REJECTED : m->entries_count);
    int rc = raft_step(node->raft, m);
    sim_node_hold(node, envelope); /* raft may borrow its bytes until the next advance */
    if (rc != 0) {
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "node %u rejects a well-formed %s from %llu: %s", (unsigned)node->id,
                         raft_message_type_name(m->type), (unsigned long long)m->from,
                         ether_error_name(rc));
    }
}

void sim_cluster_deliver(struct sim *sim)
{
    struct sim_packet packet;
    for (uint32_t i = 0; i < SIM_DELIVERIES_PER_TICK_MAX; i++) {
        if (!sim_network_pop_due(&sim->network, sim->now, &packet)) {
            break;
        }
        struct sim_envelope *envelope = packet.payload;
        struct sim_node *node = &sim->nodes[packet.to_slot];
        const struct raft_message *m = &envelope->message;
        const char *drop = NULL;
        if (node->state != SIM_NODE_UP) {
            drop = "receiver down";
        } else if (sim_network_is_blocked(&sim->network, packet.from_slot, packet.to_slot)) {
            drop = "partitioned";
        } else if (node->ready_pending && node->inbox_count == SIM_INBOX_MAX) {
            drop = "inbox full";
        }
        if (drop != NULL) {
            sim_trace_event(sim, SIM_TRACE_DROP, m->from, m->to, drop, m->term, m->index, 0);
            sim_envelope_free(envelope);
        } else if (node->ready_pending) {
            node->inbox[node->inbox_count++] = envelope;
        } else {
            step_envelope(sim, node, envelope);
        }
    }
}

void sim_cluster_tick(struct sim *sim)
{
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state != SIM_NODE_UP) {
            continue;
        }
        if (node->ready_pending) {
            if (node->ticks_owed < SIM_TICKS_OWED_MAX) {
                node->ticks_owed++;
            }
        } else {
            raft_tick(node->raft);
        }
    }
}

static void restore_state_machine(struct sim *sim, struct sim_node *node)
{
    size_t data_bytes = 0;
    const uint8_t *data = raft_memory_log_snapshot_data(node->disk.medium, &data_bytes);
    uint64_t index = 0;
    uint64_t chain = 0;
    if (!sim_state_decode(data, data_bytes, &index, &chain) ||
        index != node->ready.snapshot->index) {
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "node %u installs a snapshot whose bytes do not decode to index %llu",
                         (unsigned)node->id, (unsigned long long)node->ready.snapshot->index);
        return;
    }
    node->applied_index = index;
    node->applied_chain = chain;
    sim->result->snapshots_installed++;
    sim_trace_event(sim, SIM_TRACE_SNAPSHOT, node->id, 0, "installs", index,
                    node->ready.snapshot->term, 0);
    sim_invariants_on_restore(sim, node);
}

/* The write of the outstanding ready has completed (or failed): finish the loop. */
static void complete_ready(struct sim *sim, struct sim_node *node)
{
    struct raft_ready *ready = &node->ready;
    enum sim_write_outcome outcome = sim_disk_write(&node->disk, ready);
    if (outcome == SIM_WRITE_IO_ERROR) {
        sim_trace_event(sim, SIM_TRACE_DISK, node->id, 0,
                        "fsync fails: the log is untrusted, restart from durable state", 0, 0, 0);
        node->ready_torn_on_crash = false;
        sim_node_crash(sim, node, "fsync error");
        return;
    }
    if (ready->snapshot_install) {
        restore_state_machine(sim, node);
    }
    if (ready->entries_count > 0) {
        sim_trace_event(sim, SIM_TRACE_PERSIST, node->id, 0,
                        outcome == SIM_WRITE_OK ? "persists" : "disk full, refuses",
                        ready->entries[0].index, ready->entries_count, ready->entries[0].term);
    }
    if (outcome == SIM_WRITE_NO_SPACE) {
        send_messages(sim, node, SEND_NO_SPACE); /* votes and heartbeats still go out */
        raft_advance_failed(node->raft, ready, ETHER_ERR_NO_SPACE);
    } else {
        send_messages(sim, node, SEND_PERSISTED);
        for (size_t i = 0; i < ready->committed_entries_count; i++) {
            sim_invariants_on_apply(sim, node, &ready->committed_entries[i]);
        }
        raft_advance(node->raft, ready);
        sim_invariants_on_durable(sim, node); /* before new inputs: durable == logical */
    }
    node->ready_pending = false;
    release_held(node);
    /* What arrived while the disk was busy, in arrival order. */
    uint32_t inbox_count = node->inbox_count;
    node->inbox_count = 0;
    for (uint32_t i = 0; i < inbox_count; i++) {
        step_envelope(sim, node, node->inbox[i]);
    }
    for (; node->ticks_owed > 0; node->ticks_owed--) {
        raft_tick(node->raft);
    }
}

static void take_ready(struct sim *sim, struct sim_node *node)
{
    struct raft_ready *ready = &node->ready;
    raft_ready(node->raft, ready);
    node->ready_pending = true;
    if (ready->role_changed) {
        sim_trace_event(sim, SIM_TRACE_ROLE, node->id, ready->leader_id,
                        raft_role_name(ready->role), ready->term, 0, 0);
    }
    sim_invariants_on_entries(sim, node, ready);
    uint64_t delay = 0;
    if (!sim->calm && sim_prng_chance(&sim->prng, sim->faults.slow_write)) {
        delay = sim_prng_range(&sim->prng, 1, sim->faults.write_ticks_max);
    }
    node->ready_done_tick = sim->now + delay;
    node->ready_torn_on_crash = sim_prng_chance(&sim->prng, sim->faults.torn_write);
    if (!sim->calm && sim_prng_chance(&sim->prng, sim->faults.sync_error)) {
        node->disk.fail_next_sync = true;
    }
    node->ready_early_sent = sim_prng_chance(&sim->prng, sim->faults.early_send);
    if (node->ready_early_sent) {
        send_messages(sim, node, SEND_EARLY);
    }
}

void sim_cluster_process_readies(struct sim *sim)
{
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        for (uint32_t round = 0; round < SIM_READIES_PER_TICK_MAX; round++) {
            if (node->state != SIM_NODE_UP) {
                break;
            }
            if (node->ready_pending) {
                if (node->ready_done_tick > sim->now) {
                    break;
                }
                complete_ready(sim, node);
                continue;
            }
            if (!raft_has_ready(node->raft)) {
                break;
            }
            take_ready(sim, node);
        }
    }
}

struct sim_node *sim_cluster_leader(struct sim *sim)
{
    struct sim_node *leader = NULL;
    uint64_t leader_term = 0;
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state != SIM_NODE_UP) {
            continue;
        }
        struct raft_status status;
        raft_status(node->raft, &status);
        if (status.role == RAFT_LEADER && status.term > leader_term) {
            leader = node;
            leader_term = status.term;
        }
    }
    return leader;
}

void sim_cluster_free(struct sim *sim)
{
    struct sim_packet packet;
    for (size_t left = sim->network.count; left > 0; left--) {
        bool popped = sim_network_pop_any(&sim->network, &packet);
        ETHER_ASSERT(popped);
        sim_envelope_free(packet.payload);
    }
    for (uint32_t s = 0; s < SIM_NODES_MAX; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state == SIM_NODE_UP) {
            stop_raft(node);
        }
        if (node->state != SIM_NODE_UNUSED) {
            sim_disk_free(&node->disk);
        }
        ether_free(node->held);
        node->held = NULL;
        node->held_count = 0;
        node->held_capacity = 0;
    }
}
