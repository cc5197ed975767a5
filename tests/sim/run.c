/*
 * run.c: one simulation run, from bootstrap to the liveness verdict.
 *
 * Each tick: scheduled restarts and fault injection, message delivery,
 * raft ticks, client requests, the ready loops of all nodes, then the
 * checks. After `steps` ticks the faults stop; from then on the run only
 * asks for one proposal to commit, and fails if none has within calm_ticks.
 */
#include "tests/sim/sim_internal.h"

#include "common/mem.h"
#include "common/panic.h"

#include <inttypes.h>
#include <string.h>

enum {
    LIVENESS_RETRY_TICKS = 40, /* propose again when the last attempt has not committed */
};

void sim_options_default(struct sim_options *options)
{
    memset(options, 0, sizeof(*options));
    options->seed = 1;
    options->steps = 1500;
    options->calm_ticks = 1000;
    options->nodes_count = 3;
    options->trace_lines = 150;
    options->program_name = "raftsim";
}

struct liveness {
    uint64_t index; /* last proposal made in the calm phase; 0 when none */
    uint64_t term;
    uint64_t proposed_tick;
    bool satisfied;
};

static void liveness_step(struct sim *sim, struct liveness *liveness)
{
    if (liveness->index != 0) {
        const struct sim_committed_entry *committed =
            sim_checker_committed_at(&sim->checker, liveness->index);
        if (committed != NULL && committed->term == liveness->term) {
            liveness->satisfied = true;
            sim_trace_event(sim, SIM_TRACE_PHASE, 0, 0, "liveness: calm-phase proposal committed",
                            0, 0, 0);
            return;
        }
        if (sim->now - liveness->proposed_tick < LIVENESS_RETRY_TICKS) {
            return;
        }
    }
    uint64_t index = 0;
    uint64_t term = 0;
    if (sim_workload_propose(sim, sim_cluster_leader(sim), &index, &term)) {
        liveness->index = index;
        liveness->term = term;
        liveness->proposed_tick = sim->now;
    }
}

static void report_violation(const struct sim *sim, FILE *out)
{
    const struct sim_options *options = &sim->options;
    fprintf(out, "VIOLATION at tick %" PRIu64 ": %s\n", sim->now, sim->checker.first_violation);
    fprintf(out, "last events (oldest first):\n");
    sim_trace_print(&sim->trace, out);
    fprintf(out,
            "replay with: %s --seed %" PRIu64 " --steps %" PRIu64 " --nodes %" PRIu32 " --trace\n",
            options->program_name, options->seed, options->steps, options->nodes_count);
}

bool sim_run(const struct sim_options *options, struct sim_result *result)
{
    ETHER_ASSERT(options->nodes_count == 3 || options->nodes_count == 5);
    ETHER_ASSERT(options->steps > 0);
    memset(result, 0, sizeof(*result));
    struct sim *sim = ether_calloc(1, sizeof(*sim));
    sim->options = *options;
    sim->result = result;
    sim_prng_seed(&sim->prng, options->seed);
    sim_trace_init(&sim->trace, options->trace_lines > 0 ? options->trace_lines : 1,
                   options->trace_live);
    sim_checker_init(&sim->checker);
    sim_faults_choose(sim);
    sim->slots_count = options->nodes_count + 2;
    ETHER_ASSERT(sim->slots_count <= SIM_NODES_MAX);
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        sim->nodes[s].slot = s;
        sim->nodes[s].id = s + 1;
    }
    sim_trace_event(sim, SIM_TRACE_PHASE, 0, 0, "bootstrap", 0, 0, 0);
    for (uint32_t s = 0; s < options->nodes_count; s++) {
        sim_node_start(sim, &sim->nodes[s], true);
    }

    struct liveness liveness = {0};
    uint64_t ticks_total = options->steps + options->calm_ticks;
    for (uint64_t tick = 1; tick <= ticks_total; tick++) {
        sim->now = tick;
        if (tick == options->steps + 1) {
            sim_faults_stop(sim);
        }
        sim_faults_inject(sim);
        sim_cluster_deliver(sim);
        sim_cluster_tick(sim);
        sim_workload_step(sim);
        if (sim->calm) {
            liveness_step(sim, &liveness);
        }
        sim_cluster_process_readies(sim);
        sim_invariants_check(sim);
        result->ticks = tick;
        if (sim->checker.violations_count > 0 || liveness.satisfied) {
            break;
        }
    }
    if (sim->checker.violations_count == 0 && !liveness.satisfied) {
        sim_checker_fail(&sim->checker, 0,
                         "liveness: no proposal committed within %" PRIu64
                         " ticks after the faults stopped",
                         options->calm_ticks);
    }

    result->violations_count = sim->checker.violations_count;
    result->violated = result->violations_count > 0;
    snprintf(result->violation, sizeof(result->violation), "%s", sim->checker.first_violation);
    if (sim->checker.committed_count > result->committed_index) {
        result->committed_index = sim->checker.committed_count;
    }
    if (result->violated) {
        sim_trace_event(sim, SIM_TRACE_VIOLATION, sim->checker.first_violation_node, 0,
                        "violation (explained on the first line)", 0, 0, 0);
        if (options->report != NULL) {
            report_violation(sim, options->report);
        }
    }
    sim_cluster_free(sim);
    sim_network_free(&sim->network);
    sim_checker_free(&sim->checker);
    sim_trace_free(&sim->trace);
    ether_free(sim);
    return !result->violated;
}
