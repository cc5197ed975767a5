/*
 * sim_internal.h: the state of one simulation run, shared by the files of
 * tests/sim/ (one file per concept: cluster.c runs nodes through raft's
 * ready loop, faults.c decides what goes wrong and what the clients ask,
 * invariants.c reads the nodes for the checker, run.c drives a run).
 *
 * There are no globals: everything lives in `struct sim`, passed around.
 * Node slot s holds raft id s + 1; a slot is used at most once (a removed
 * server's id never comes back).
 */
#ifndef ETHER_SIM_SIM_INTERNAL_H
#define ETHER_SIM_SIM_INTERNAL_H

#include "raft/raft.h"
#include "tests/sim/checks.h"
#include "tests/sim/disk.h"
#include "tests/sim/message.h"
#include "tests/sim/network.h"
#include "tests/sim/prng.h"
#include "tests/sim/sim.h"
#include "tests/sim/trace.h"

#include <stdbool.h>
#include <stdint.h>

enum {
    SIM_INBOX_MAX = 64,     /* messages buffered while a ready is outstanding */
    SIM_TICKS_OWED_MAX = 4, /* ticks replayed after a slow write completes */
    SIM_READIES_PER_TICK_MAX = 8,
    SIM_DELIVERIES_PER_TICK_MAX = 4096,
    SIM_SNAPSHOT_BYTES = 64, /* state machine image: index, chain, filler */
};

enum sim_node_state {
    SIM_NODE_UNUSED = 0,  /* spare slot, not started */
    SIM_NODE_UP = 1,      /* running */
    SIM_NODE_DOWN = 2,    /* crashed, restarts at restart_tick */
    SIM_NODE_REMOVED = 3, /* removed from the group and shut down for good */
};

struct sim_node {
    uint32_t slot;
    uint64_t id;
    enum sim_node_state state;
    struct raft *raft;
    struct sim_disk disk;
    uint64_t restart_tick;
    uint64_t disk_full_until_tick; /* 0 when the disk has room */
    bool crash_requested;          /* crash at the start of the next tick */
    uint64_t leader_commit_seen;   /* commit index when last seen as leader */

    /* The ready being written; its pointers are raft's until advance. */
    bool ready_pending;
    struct raft_ready ready;
    uint64_t ready_done_tick;
    bool ready_early_sent;
    bool ready_torn_on_crash; /* decided when the ready was taken */

    struct sim_envelope *inbox[SIM_INBOX_MAX];
    uint32_t inbox_count;
    uint32_t ticks_owed;

    /* Bytes raft borrows (received envelopes, proposal payloads) until advance. */
    void **held;
    uint32_t held_count;
    uint32_t held_capacity;

    /* The state machine: how far it applied and the chain hash of what it applied. */
    uint64_t applied_index;
    uint64_t applied_chain;

    /* Checker cursors and last observations (reset when the node restarts). */
    uint64_t commit_checked_index;
    uint64_t completeness_term;
    uint64_t completeness_checked_index;
    enum raft_role role_seen;
    uint64_t term_seen;
};

/* Per-run fault rates, chosen from the seed (per million per tick unless said). */
struct sim_faults {
    uint32_t crash;
    uint32_t leader_crash; /* of a leader holding uncommitted entries */
    uint32_t commit_crash; /* of a leader that just advanced its commit index */
    uint32_t torn_write;   /* of crashes that hit an outstanding write */
    uint32_t sync_error;   /* per write */
    uint32_t disk_full;
    uint32_t partition;
    uint32_t one_way_partition; /* of partitions */
    uint32_t propose;
    uint32_t config_change;
    uint32_t transfer;
    uint32_t compact;
    uint32_t campaign;
    uint32_t slow_write; /* per write: takes 1..write_ticks_max ticks */
    uint32_t write_ticks_max;
    uint32_t early_send; /* leader appends sent before the write completes */
    uint32_t down_ticks_max;
    uint32_t partition_ticks_max;
    uint32_t disk_full_ticks_max;
};

/* A membership change proposed and not yet seen committed or lost. */
struct sim_config_change {
    bool active;
    enum raft_config_change kind;
    uint64_t server_id;
    uint64_t index;
    uint64_t term;
    uint64_t proposed_tick;
};

struct sim {
    struct sim_options options;
    struct sim_prng prng;
    uint64_t now;
    bool calm; /* faults stopped */
    struct sim_network network;
    struct sim_trace trace;
    struct sim_checker checker;
    struct sim_faults faults;
    struct raft_config raft_defaults; /* per-run raft tuning, id/storage filled per node */
    struct sim_node nodes[SIM_NODES_MAX];
    uint32_t slots_count; /* slots that may ever be used */
    uint64_t heal_tick;   /* partitions end at this tick; 0 when none */
    struct sim_config_change change;
    uint64_t payloads_count;
    struct sim_result *result;
};

/* cluster.c: nodes and raft's ready loop */
void sim_node_start(struct sim *sim, struct sim_node *node, bool bootstrap);
void sim_node_crash(struct sim *sim, struct sim_node *node, const char *how);
void sim_node_restart(struct sim *sim, struct sim_node *node);
void sim_node_shutdown(struct sim *sim, struct sim_node *node);
void sim_node_hold(struct sim_node *node, void *bytes);
bool sim_node_accepts_input(const struct sim_node *node);
void sim_cluster_deliver(struct sim *sim);
void sim_cluster_tick(struct sim *sim);
void sim_cluster_process_readies(struct sim *sim);
struct sim_node *sim_cluster_leader(struct sim *sim);
void sim_cluster_free(struct sim *sim);

/* faults.c: fault injection and client workload */
void sim_faults_choose(struct sim *sim);
void sim_faults_inject(struct sim *sim);
void sim_faults_stop(struct sim *sim);
bool sim_workload_propose(struct sim *sim, struct sim_node *node, uint64_t *index, uint64_t *term);
void sim_workload_step(struct sim *sim);
void sim_compact(struct sim *sim, struct sim_node *node);

/* invariants.c: reading the nodes for the checker */
void sim_invariants_check(struct sim *sim);
void sim_invariants_on_entries(struct sim *sim, struct sim_node *node,
                               const struct raft_ready *ready);
void sim_invariants_on_apply(struct sim *sim, struct sim_node *node,
                             const struct raft_entry *entry);
void sim_invariants_on_restore(struct sim *sim, struct sim_node *node);
void sim_invariants_on_durable(struct sim *sim, struct sim_node *node);

/* state machine image in snapshots */
void sim_state_encode(const struct sim_node *node, uint8_t out[SIM_SNAPSHOT_BYTES]);
bool sim_state_decode(const uint8_t *data, size_t data_bytes, uint64_t *index, uint64_t *chain);

static inline void sim_trace_event(struct sim *sim, enum sim_trace_kind kind, uint64_t node,
                                   uint64_t peer, const char *label, uint64_t a, uint64_t b,
                                   uint64_t c)
{
    sim_trace_add(&sim->trace, sim->now, kind, (uint32_t)node, (uint32_t)peer, label, a, b, c);
}

#endif
