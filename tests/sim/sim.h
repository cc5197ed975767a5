/*
 * sim.h: one deterministic run of a simulated Raft cluster.
 *
 * A run is a pure function of its options: the seed drives every choice
 * (message delays, losses, crashes, partitions, disk faults, proposals,
 * membership changes), time is a tick counter, and nothing reads a clock or
 * an address. A run has a faulty phase of `steps` ticks followed by a calm
 * phase (network healed, crashed nodes restarted, disks working) in which a
 * leader must be elected and a fresh proposal committed within `calm_ticks`.
 * Safety properties are checked after every tick (see checks.h).
 */
#ifndef ETHER_SIM_SIM_H
#define ETHER_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sim_options {
    uint64_t seed;
    uint64_t steps;           /* ticks with faults */
    uint64_t calm_ticks;      /* liveness bound once faults stop */
    uint32_t nodes_count;     /* initial voters: 3 or 5 */
    size_t trace_lines;       /* events printed on a violation */
    FILE *trace_live;         /* print every event here when not NULL */
    FILE *report;             /* where a violation is explained; NULL: stay silent */
    const char *program_name; /* for the replay command printed with a violation */
};

struct sim_result {
    bool violated;
    uint64_t violations_count;
    char violation[512];
    uint64_t ticks;
    uint64_t committed_index; /* highest index known committed */
    uint64_t leader_changes;
    uint64_t crashes;
    uint64_t snapshots_installed;
    uint64_t config_changes;
    uint64_t messages_sent;
};

void sim_options_default(struct sim_options *options);

/* Runs one simulation; returns true when no property was violated. */
bool sim_run(const struct sim_options *options, struct sim_result *result);

/* raftsim --bench: prints throughput and memory figures; asserts nothing. */
void sim_bench(FILE *out);

#endif
