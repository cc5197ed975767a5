/*
 * faults.c: what goes wrong and what the clients ask, tick by tick.
 *
 * Rates are drawn from the seed once per run (sim_faults_choose), so the
 * sweep covers calm runs and stormy ones. Each tick may: restart crashed
 * nodes, crash one, cut or heal links (symmetric splits or one-way links),
 * fill or free a disk, force a campaign; and on the workload side: propose
 * batches of entries, change membership one server at a time (add learner,
 * promote, remove), transfer leadership, and compact logs behind snapshots
 * so that lagging and restarted followers need InstallSnapshot.
 */
#include "tests/sim/sim_internal.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <stdio.h>
#include <string.h>

enum {
    PAYLOAD_BYTES_MIN = 8,
    PAYLOAD_BYTES_MAX = 100,
    PROPOSE_BATCH_MAX = 4,
    UNCOMMITTED_ENTRIES_MAX = 24,  /* clients wait while the leader has this many pending */
    CHURN_BACKLOG_MAX = 64,        /* leader churn pauses while logs run this far ahead */
    CONFIG_CHANGE_TICKS_MAX = 400, /* forget a change not seen committed by then */
};

void sim_faults_choose(struct sim *sim)
{
    struct sim_prng *prng = &sim->prng;
    struct sim_faults *f = &sim->faults;
    f->crash = (uint32_t)sim_prng_range(prng, 1000, 6000);
    f->torn_write = 400000;
    f->sync_error = (uint32_t)sim_prng_range(prng, 0, 1500);
    f->disk_full = (uint32_t)sim_prng_range(prng, 0, 2000);
    f->partition = (uint32_t)sim_prng_range(prng, 2000, 12000);
    f->one_way_partition = 350000;
    f->propose = (uint32_t)sim_prng_range(prng, 100000, 500000);
    f->config_change = (uint32_t)sim_prng_range(prng, 2000, 10000);
    f->transfer = (uint32_t)sim_prng_range(prng, 1000, 6000);
    f->compact = (uint32_t)sim_prng_range(prng, 10000, 60000);
    f->campaign = (uint32_t)sim_prng_range(prng, 0, 3000);
    f->slow_write = (uint32_t)sim_prng_range(prng, 0, 300000);
    f->write_ticks_max = (uint32_t)sim_prng_range(prng, 1, 8);
    f->early_send = (uint32_t)sim_prng_range(prng, 0, 1000000);
    f->down_ticks_max = (uint32_t)sim_prng_range(prng, 5, 80);
    f->partition_ticks_max = (uint32_t)sim_prng_range(prng, 10, 150);
    f->disk_full_ticks_max = (uint32_t)sim_prng_range(prng, 10, 200);
    /*
     * One run in two is a leader-churn storm: leaders die while they hold
     * uncommitted entries, and entries travel one per message over a lossy
     * network. New leaders then inherit entries of older terms replicated to
     * a minority, the situation of the Raft paper's Figure 8.
     */
    bool churn = sim_prng_chance(prng, 500000);
    f->leader_crash = churn ? (uint32_t)sim_prng_range(prng, 20000, 80000) : 0;
    f->commit_crash = churn ? (uint32_t)sim_prng_range(prng, 300000, 900000) : 0;
    if (churn) {
        f->down_ticks_max = (uint32_t)sim_prng_range(prng, 3, 30);
        f->propose = (uint32_t)sim_prng_range(prng, 300000, 800000);
    }

    struct sim_network_config network = {
        .delay_ticks_min = 0,
        .delay_ticks_max = (uint32_t)sim_prng_range(prng, 1, 5),
        .loss_per_million = (uint32_t)sim_prng_range(prng, 0, 80000),
        .duplicate_per_million = (uint32_t)sim_prng_range(prng, 0, 40000),
        .delay_spike_per_million = 10000,
        .in_flight_max = 8192,
    };
    sim_network_init(&sim->network, &network);

    static const uint32_t append_entries_max[] = {1, 2, 3, 8, 64};
    static const uint64_t chunk_bytes[] = {7, 16, 64};
    static const uint64_t trailing[] = {0, 1, 4, 16};
    if (churn) {
        network.loss_per_million = (uint32_t)sim_prng_range(prng, 50000, 250000);
    }
    struct raft_config *r = &sim->raft_defaults;
    raft_config_init(r, 1, NULL);
    r->election_timeout_ticks = 10;
    r->heartbeat_ticks = 2;
    r->inflight_messages_max = (uint32_t)sim_prng_range(prng, 1, 8);
    r->inflight_bytes_max = 64 * 1024;
    r->append_entries_max = append_entries_max[sim_prng_below(prng, 5)];
    r->append_bytes_max = 4096;
    r->snapshot_chunk_bytes = chunk_bytes[sim_prng_below(prng, 3)];
    r->apply_bytes_max = 1u << 20;
    r->log_trailing_entries_count = trailing[sim_prng_below(prng, 4)];
    r->learner_promote_lag_entries = 0;
    if (churn) {
        r->append_entries_max = 1;
        r->inflight_messages_max = (uint32_t)sim_prng_range(prng, 1, 2);
    }
    r->pre_vote = sim_prng_chance(prng, 500000);
    r->check_quorum = sim_prng_chance(prng, 500000);
}

void sim_faults_stop(struct sim *sim)
{
    sim->calm = true;
    sim_network_heal(&sim->network);
    sim->heal_tick = 0;
    sim->network.config.loss_per_million = 0;
    sim->network.config.duplicate_per_million = 0;
    sim->network.config.delay_spike_per_million = 0;
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state == SIM_NODE_DOWN) {
            sim_node_restart(sim, node);
        }
        if (node->state != SIM_NODE_UNUSED && node->state != SIM_NODE_REMOVED && node->disk.full) {
            sim_disk_set_full(&node->disk, false);
            node->disk_full_until_tick = 0;
        }
    }
    sim_trace_event(sim, SIM_TRACE_PHASE, 0, 0,
                    "faults stop: links healed, nodes restarted, disks fine", 0, 0, 0);
}

/*
 * Leader churn with one entry per message can pile up a no-op per term faster
 * than anything commits; past this backlog the storm pauses so that the calm
 * phase starts from a log that can be replicated within calm_ticks.
 */
static bool churn_allowed(struct sim *sim)
{
    uint64_t last_max = 0;
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state != SIM_NODE_UP) {
            continue;
        }
        struct raft_status status;
        raft_status(node->raft, &status);
        if (status.last_index > last_max) {
            last_max = status.last_index;
        }
    }
    return last_max <= sim->checker.committed_count + CHURN_BACKLOG_MAX;
}

/* A random running node, or NULL. */
static struct sim_node *random_up_node(struct sim *sim)
{
    uint32_t start = (uint32_t)sim_prng_below(&sim->prng, sim->slots_count);
    for (uint32_t i = 0; i < sim->slots_count; i++) {
        struct sim_node *node = &sim->nodes[(start + i) % sim->slots_count];
        if (node->state == SIM_NODE_UP) {
            return node;
        }
    }
    return NULL;
}

static void start_partition(struct sim *sim)
{
    struct sim_prng *prng = &sim->prng;
    if (sim_prng_chance(prng, sim->faults.one_way_partition)) {
        uint32_t links = (uint32_t)sim_prng_range(prng, 1, 3);
        for (uint32_t i = 0; i < links; i++) {
            uint32_t from = (uint32_t)sim_prng_below(prng, sim->slots_count);
            uint32_t to = (uint32_t)sim_prng_below(prng, sim->slots_count);
            if (from != to) {
                sim_network_block(&sim->network, from, to);
                sim_trace_event(sim, SIM_TRACE_PARTITION, from + 1, to + 1, "one-way", 0, 0, 0);
            }
        }
    } else {
        bool side[SIM_NODES_MAX];
        for (uint32_t s = 0; s < sim->slots_count; s++) {
            side[s] = sim_prng_chance(prng, 500000);
        }
        for (uint32_t a = 0; a < sim->slots_count; a++) {
            for (uint32_t b = 0; b < sim->slots_count; b++) {
                if (side[a] && !side[b]) {
                    sim_network_block(&sim->network, a, b);
                    sim_network_block(&sim->network, b, a);
                    sim_trace_event(sim, SIM_TRACE_PARTITION, a + 1, b + 1, "both ways", 0, 0, 0);
                }
            }
        }
    }
    sim->heal_tick = sim->now + sim_prng_range(prng, 1, sim->faults.partition_ticks_max);
}

void sim_faults_inject(struct sim *sim)
{
    struct sim_prng *prng = &sim->prng;
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state == SIM_NODE_DOWN && node->restart_tick <= sim->now) {
            sim_node_restart(sim, node);
        } else if (node->state == SIM_NODE_UP && node->crash_requested) {
            node->crash_requested = false;
            if (!sim->calm && churn_allowed(sim)) {
                sim_node_crash(sim, node, "leader crash right after a commit");
            }
        }
        if (node->disk_full_until_tick != 0 && node->disk_full_until_tick <= sim->now &&
            (node->state == SIM_NODE_UP || node->state == SIM_NODE_DOWN)) {
            sim_disk_set_full(&node->disk, false);
            node->disk_full_until_tick = 0;
            sim_trace_event(sim, SIM_TRACE_DISK, node->id, 0, "has room again", 0, 0, 0);
        }
    }
    if (sim->calm) {
        return;
    }
    if (sim->heal_tick != 0 && sim->heal_tick <= sim->now) {
        sim_network_heal(&sim->network);
        sim->heal_tick = 0;
        sim_trace_event(sim, SIM_TRACE_HEAL, 0, 0, NULL, 0, 0, 0);
    }
    if (sim_prng_chance(prng, sim->faults.crash)) {
        struct sim_node *node = random_up_node(sim);
        if (node != NULL) {
            sim_node_crash(sim, node, "crash");
        }
    }
    if (sim_prng_chance(prng, sim->faults.leader_crash) && churn_allowed(sim)) {
        struct sim_node *leader = sim_cluster_leader(sim);
        struct raft_status status;
        if (leader != NULL) {
            raft_status(leader->raft, &status);
            if (status.last_index > status.commit_index) {
                sim_node_crash(sim, leader, "leader crash with uncommitted entries");
            }
        }
    }
    if (sim->heal_tick == 0 && sim_prng_chance(prng, sim->faults.partition)) {
        start_partition(sim);
    }
    if (sim_prng_chance(prng, sim->faults.disk_full)) {
        struct sim_node *node = random_up_node(sim);
        if (node != NULL && !node->disk.full) {
            sim_disk_set_full(&node->disk, true);
            node->disk_full_until_tick =
                sim->now + sim_prng_range(prng, 1, sim->faults.disk_full_ticks_max);
            sim_trace_event(sim, SIM_TRACE_DISK, node->id, 0, "is full", 0, 0, 0);
        }
    }
    if (sim_prng_chance(prng, sim->faults.campaign)) {
        struct sim_node *node = random_up_node(sim);
        if (node != NULL && sim_node_accepts_input(node)) {
            sim_trace_event(sim, SIM_TRACE_PHASE, node->id, 0, "forced campaign", 0, 0, 0);
            raft_campaign(node->raft);
        }
    }
}

bool sim_workload_propose(struct sim *sim, struct sim_node *node, uint64_t *index, uint64_t *term)
{
    if (node == NULL || !sim_node_accepts_input(node)) {
        return false;
    }
    struct raft_status status;
    raft_status(node->raft, &status);
    if (status.last_index > status.commit_index + UNCOMMITTED_ENTRIES_MAX ||
        status.last_index > sim->checker.committed_count + UNCOMMITTED_ENTRIES_MAX) {
        return false; /* flow control, so that the calm phase starts without a backlog */
    }
    struct sim_prng *prng = &sim->prng;
    size_t count = (size_t)sim_prng_range(prng, 1, PROPOSE_BATCH_MAX);
    uint8_t *datas[PROPOSE_BATCH_MAX];
    uint32_t datas_bytes[PROPOSE_BATCH_MAX];
    for (size_t i = 0; i < count; i++) {
        uint32_t bytes = (uint32_t)sim_prng_range(prng, PAYLOAD_BYTES_MIN, PAYLOAD_BYTES_MAX);
        datas[i] = ether_malloc(bytes);
        uint64_t number = ++sim->payloads_count;
        for (uint32_t b = 0; b < bytes; b++) {
            datas[i][b] = (uint8_t)(b < 8 ? number >> (8 * b) : (number * 31 + b));
        }
        datas_bytes[i] = bytes;
    }
    uint64_t first = 0;
    uint64_t leader_hint = 0;
    int rc = raft_propose(node->raft, (const uint8_t *const *)datas, datas_bytes, count, &first,
                          term, &leader_hint);
    if (rc != 0) {
        for (size_t i = 0; i < count; i++) {
            ether_free(datas[i]);
        }
        sim_trace_event(sim, SIM_TRACE_PROPOSE, node->id, 0, ether_error_name(rc), 0, 0, 0);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        sim_node_hold(node, datas[i]); /* borrowed by raft until its next advance */
    }
    sim_trace_event(sim, SIM_TRACE_PROPOSE, node->id, 0, NULL, first, count, 0);
    *index = first + count - 1;
    return true;
}

static const char *change_name(enum raft_config_change kind)
{
    switch (kind) {
    case RAFT_CHANGE_ADD_LEARNER:
        return "add learner";
    case RAFT_CHANGE_PROMOTE:
        return "promote";
    case RAFT_CHANGE_REMOVE:
        return "remove";
    }
    return "?";
}

/* Follows the outstanding membership change until it is committed or lost. */
static void follow_config_change(struct sim *sim)
{
    struct sim_config_change *change = &sim->change;
    if (!change->active) {
        return;
    }
    const struct sim_committed_entry *committed =
        sim_checker_committed_at(&sim->checker, change->index);
    if (committed != NULL && committed->term == change->term) {
        change->active = false;
        sim->result->config_changes++;
        if (change->kind == RAFT_CHANGE_REMOVE) {
            struct sim_node *removed = &sim->nodes[change->server_id - 1];
            if (removed->state == SIM_NODE_UP || removed->state == SIM_NODE_DOWN) {
                sim_node_shutdown(sim, removed);
            }
        }
        return;
    }
    if (committed != NULL || sim->now - change->proposed_tick > CONFIG_CHANGE_TICKS_MAX) {
        change->active = false; /* overwritten by another leader, or never committed */
    }
}

static void propose_config_change(struct sim *sim, struct sim_node *leader)
{
    const struct raft_configuration *configuration = raft_configuration(leader->raft);
    uint64_t learner = 0;
    uint64_t voters[RAFT_SERVERS_MAX];
    uint32_t voters_count = 0;
    for (uint32_t i = 0; i < configuration->servers_count; i++) {
        const struct raft_server *server = &configuration->servers[i];
        if (server->role == RAFT_LEARNER) {
            learner = server->id;
        } else if (server->id != leader->id) {
            voters[voters_count++] = server->id;
        }
    }
    uint64_t candidate = 0; /* a slot never used, or started but never made a member */
    for (uint32_t s = 0; s < sim->slots_count && candidate == 0; s++) {
        struct sim_node *node = &sim->nodes[s];
        if ((node->state == SIM_NODE_UNUSED || node->state == SIM_NODE_UP ||
             node->state == SIM_NODE_DOWN) &&
            raft_configuration_find(configuration, node->id) < 0) {
            candidate = node->id;
        }
    }
    enum raft_config_change kind;
    uint64_t server_id = 0;
    uint64_t choice = sim_prng_below(&sim->prng, 3);
    if (learner != 0 && choice != 0) {
        kind = RAFT_CHANGE_PROMOTE;
        server_id = learner;
    } else if (candidate != 0 && learner == 0 && choice != 2) {
        kind = RAFT_CHANGE_ADD_LEARNER;
        server_id = candidate;
    } else if (voters_count + 1 > 3) {
        kind = RAFT_CHANGE_REMOVE;
        server_id = voters[sim_prng_below(&sim->prng, voters_count)];
    } else {
        return;
    }
    struct sim_node *subject = &sim->nodes[server_id - 1];
    if (kind == RAFT_CHANGE_ADD_LEARNER && subject->state == SIM_NODE_UNUSED) {
        sim_node_start(sim, subject, false);
    }
    uint64_t index = 0;
    int rc = raft_propose_config_change(leader->raft, kind, server_id, &index);
    sim_trace_event(sim, SIM_TRACE_CONFIG, leader->id, server_id, change_name(kind), (uint64_t)rc,
                    index, 0);
    if (rc == 0) {
        struct raft_status status;
        raft_status(leader->raft, &status);
        sim->change = (struct sim_config_change){
            .active = true,
            .kind = kind,
            .server_id = server_id,
            .index = index,
            .term = status.term,
            .proposed_tick = sim->now,
        };
    }
}

static void transfer_leadership(struct sim *sim, struct sim_node *leader)
{
    const struct raft_configuration *configuration = raft_configuration(leader->raft);
    uint64_t voters[RAFT_SERVERS_MAX];
    uint32_t voters_count = 0;
    for (uint32_t i = 0; i < configuration->servers_count; i++) {
        const struct raft_server *server = &configuration->servers[i];
        if (server->role == RAFT_VOTER && server->id != leader->id) {
            voters[voters_count++] = server->id;
        }
    }
    if (voters_count == 0) {
        return;
    }
    uint64_t target = voters[sim_prng_below(&sim->prng, voters_count)];
    int rc = raft_transfer_leadership(leader->raft, target);
    sim_trace_event(sim, SIM_TRACE_TRANSFER, leader->id, target, NULL, (uint64_t)rc, 0, 0);
}

void sim_compact(struct sim *sim, struct sim_node *node)
{
    if (!sim_node_accepts_input(node)) {
        return;
    }
    struct raft_memory_log *medium = node->disk.medium;
    struct raft_snapshot_meta meta;
    raft_memory_log_snapshot_meta(medium, &meta);
    if (node->applied_index <= meta.index) {
        return;
    }
    uint8_t data[SIM_SNAPSHOT_BYTES];
    sim_state_encode(node, data);
    if (raft_memory_log_snapshot_take(medium, node->applied_index, data, sizeof(data)) != 0) {
        return; /* the applied entry is not durable here yet; try another time */
    }
    uint64_t removable = raft_compact(node->raft, node->applied_index);
    if (removable >= raft_memory_log_first_index(medium)) {
        raft_memory_log_compact(medium, removable);
    }
    sim_trace_event(sim, SIM_TRACE_SNAPSHOT, node->id, 0, "takes", node->applied_index, removable,
                    0);
}

void sim_workload_step(struct sim *sim)
{
    struct sim_prng *prng = &sim->prng;
    follow_config_change(sim);
    if (sim->calm) {
        return; /* run.c drives the liveness proposal */
    }
    if (sim_prng_chance(prng, sim->faults.propose)) {
        struct sim_node *node =
            sim_prng_chance(prng, 850000) ? sim_cluster_leader(sim) : random_up_node(sim);
        uint64_t index = 0;
        uint64_t term = 0;
        (void)sim_workload_propose(sim, node, &index, &term);
    }
    if (!sim->change.active && sim_prng_chance(prng, sim->faults.config_change)) {
        struct sim_node *leader = sim_cluster_leader(sim);
        if (leader != NULL && sim_node_accepts_input(leader)) {
            propose_config_change(sim, leader);
        }
    }
    if (sim_prng_chance(prng, sim->faults.transfer)) {
        struct sim_node *leader = sim_cluster_leader(sim);
        if (leader != NULL && sim_node_accepts_input(leader)) {
            transfer_leadership(sim, leader);
        }
    }
    if (sim_prng_chance(prng, sim->faults.compact)) {
        struct sim_node *node = random_up_node(sim);
        if (node != NULL) {
            sim_compact(sim, node); /* any time no ready is outstanding, as raft.h allows */
        }
    }
}
