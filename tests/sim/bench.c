/*
 * bench.c: raftsim --bench, figures for the Raft core (asserts nothing).
 *
 * 1. Throughput: one 3-node group in memory on one core, messages handed
 *    straight from one node's ready to the receiver, 100-byte entries
 *    proposed in batches; prints committed entries per second (an entry
 *    counts once the leader applies it).
 * 2. Memory: 10,000 idle 3-node groups in one process; prints the heap held
 *    by one raft node (raft_memory_bytes, which counts its allocations plus
 *    sizeof(struct raft)) and the glibc heap in use (mallinfo2 delta) per
 *    group, with and without the in-memory logs.
 */
#include "tests/sim/sim.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "raft/memory_log.h"
#include "raft/raft.h"

#include <malloc.h>
#include <string.h>

enum {
    BENCH_NODES = 3,
    BENCH_ENTRY_BYTES = 100,
    BENCH_BATCH = 512,
    BENCH_WINDOW = 8192, /* proposed but not yet applied by the leader */
    BENCH_ENTRIES = 3000000,
    BENCH_COMPACT_EVERY = 65536,
    BENCH_GROUPS = 10000,
    BENCH_ROUNDS_MAX = 100000000,
};

struct bench_group {
    struct raft *rafts[BENCH_NODES];
    struct raft_memory_log *logs[BENCH_NODES];
    uint64_t applied[BENCH_NODES];
    uint64_t compacted[BENCH_NODES];
};

static void group_init(struct bench_group *group, uint64_t group_id,
                       const struct raft_config *tuning)
{
    struct raft_configuration configuration;
    memset(&configuration, 0, sizeof(configuration));
    configuration.servers_count = BENCH_NODES;
    for (uint32_t i = 0; i < BENCH_NODES; i++) {
        configuration.servers[i].id = i + 1;
        configuration.servers[i].role = RAFT_VOTER;
    }
    for (uint32_t i = 0; i < BENCH_NODES; i++) {
        group->logs[i] = raft_memory_log_create();
        int rc = raft_memory_log_bootstrap(group->logs[i], &configuration);
        ETHER_ASSERT(rc == 0);
        struct raft_config config = *tuning;
        config.id = i + 1;
        config.group_id = group_id;
        config.random_seed = group_id * 7 + i;
        config.storage = raft_memory_log_storage(group->logs[i]);
        raft_memory_log_hard_state(group->logs[i], &config.hard_state);
        char errstr[128];
        rc = raft_create(&config, &group->rafts[i], errstr, sizeof(errstr));
        ETHER_ASSERT(rc == 0);
        group->applied[i] = 0;
        group->compacted[i] = 0;
    }
}

static void group_free(struct bench_group *group)
{
    for (uint32_t i = 0; i < BENCH_NODES; i++) {
        raft_destroy(group->rafts[i]);
        raft_memory_log_destroy(group->logs[i]);
    }
}

/* Runs every node's ready loop once; receivers step messages before the sender advances. */
static bool group_round(struct bench_group *group)
{
    bool progressed = false;
    for (uint32_t i = 0; i < BENCH_NODES; i++) {
        struct raft *r = group->rafts[i];
        if (!raft_has_ready(r)) {
            continue;
        }
        progressed = true;
        struct raft_ready ready;
        raft_ready(r, &ready);
        int rc = raft_memory_log_persist(group->logs[i], &ready);
        ETHER_ASSERT(rc == 0);
        for (size_t m = 0; m < ready.messages_count; m++) {
            const struct raft_message *message = &ready.messages[m];
            ETHER_ASSERT(message->to >= 1 && message->to <= BENCH_NODES);
            (void)raft_step(group->rafts[message->to - 1], message);
        }
        if (ready.committed_entries_count > 0) {
            group->applied[i] = ready.committed_entries[ready.committed_entries_count - 1].index;
        }
        raft_advance(r, &ready);
    }
    return progressed;
}

static void group_settle(struct bench_group *group)
{
    for (uint32_t round = 0; round < 1000 && group_round(group); round++) {
    }
}

static void group_compact(struct bench_group *group)
{
    for (uint32_t i = 0; i < BENCH_NODES; i++) {
        if (group->applied[i] < group->compacted[i] + BENCH_COMPACT_EVERY) {
            continue;
        }
        uint8_t image[16] = {0};
        if (raft_memory_log_snapshot_take(group->logs[i], group->applied[i], image,
                                          sizeof(image)) != 0) {
            continue;
        }
        uint64_t removable = raft_compact(group->rafts[i], group->applied[i]);
        if (removable >= raft_memory_log_first_index(group->logs[i])) {
            raft_memory_log_compact(group->logs[i], removable);
        }
        group->compacted[i] = group->applied[i];
    }
}

static void bench_throughput(FILE *out)
{
    struct raft_config tuning;
    raft_config_init(&tuning, 1, NULL);
    tuning.append_entries_max = 4096;
    tuning.log_trailing_entries_count = 4 * BENCH_WINDOW; /* keeps borrowed payloads alive */
    struct bench_group group;
    group_init(&group, 1, &tuning);
    raft_campaign(group.rafts[0]);
    group_settle(&group);
    struct raft_status status;
    raft_status(group.rafts[0], &status);
    if (status.role != RAFT_LEADER) {
        fprintf(out, "bench: node 1 did not become leader\n");
        group_free(&group);
        return;
    }
    static uint8_t payload[BENCH_ENTRY_BYTES];
    memset(payload, 'x', sizeof(payload));
    const uint8_t *datas[BENCH_BATCH];
    uint32_t datas_bytes[BENCH_BATCH];
    for (size_t i = 0; i < BENCH_BATCH; i++) {
        datas[i] = payload;
        datas_bytes[i] = BENCH_ENTRY_BYTES;
    }
    uint64_t start_applied = group.applied[0];
    uint64_t proposed_last = status.last_index;
    uint64_t start_ns = ether_clock_monotonic_ns();
    for (uint32_t round = 0; round < BENCH_ROUNDS_MAX; round++) {
        if (group.applied[0] - start_applied >= BENCH_ENTRIES) {
            break;
        }
        if (proposed_last - group.applied[0] < BENCH_WINDOW) {
            uint64_t first = 0;
            if (raft_propose(group.rafts[0], datas, datas_bytes, BENCH_BATCH, &first, NULL, NULL) ==
                0) {
                proposed_last = first + BENCH_BATCH - 1;
            }
        }
        if (!group_round(&group)) {
            raft_tick(group.rafts[0]);
        }
        group_compact(&group);
    }
    uint64_t elapsed_ns = ether_clock_monotonic_ns() - start_ns;
    uint64_t committed = group.applied[0] - start_applied;
    fprintf(out,
            "bench: throughput: 3-node group, %d-byte entries, batches of %d, one core: "
            "%llu entries committed in %.3f s = %.2f million entries/s (target >= 2)\n",
            BENCH_ENTRY_BYTES, BENCH_BATCH, (unsigned long long)committed, (double)elapsed_ns / 1e9,
            (double)committed / ((double)elapsed_ns / 1e9) / 1e6);
    group_free(&group);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

static void bench_memory(FILE *out)
{
    struct raft_config tuning;
    raft_config_init(&tuning, 1, NULL);
    size_t before = heap_in_use();
    struct bench_group *groups = ether_calloc(BENCH_GROUPS, sizeof(*groups));
    for (uint64_t g = 0; g < BENCH_GROUPS; g++) {
        group_init(&groups[g], g + 1, &tuning);
        raft_campaign(groups[g].rafts[0]);
        group_settle(&groups[g]);
    }
    /* Idle: heartbeats only, long enough for raft to release its large buffers. */
    for (uint32_t tick = 0; tick < 3 * tuning.election_timeout_ticks; tick++) {
        for (uint64_t g = 0; g < BENCH_GROUPS; g++) {
            for (uint32_t i = 0; i < BENCH_NODES; i++) {
                raft_tick(groups[g].rafts[i]);
            }
            group_settle(&groups[g]);
        }
    }
    size_t after = heap_in_use();
    size_t raft_bytes = 0;
    size_t leaders = 0;
    for (uint64_t g = 0; g < BENCH_GROUPS; g++) {
        for (uint32_t i = 0; i < BENCH_NODES; i++) {
            raft_bytes += raft_memory_bytes(groups[g].rafts[i]);
            struct raft_status status;
            raft_status(groups[g].rafts[i], &status);
            leaders += status.role == RAFT_LEADER;
        }
    }
    size_t logs_before = heap_in_use();
    for (uint64_t g = 0; g < BENCH_GROUPS; g++) {
        for (uint32_t i = 0; i < BENCH_NODES; i++) {
            raft_destroy(groups[g].rafts[i]);
            groups[g].rafts[i] = NULL;
        }
    }
    size_t rafts_freed = logs_before - heap_in_use();
    for (uint64_t g = 0; g < BENCH_GROUPS; g++) {
        for (uint32_t i = 0; i < BENCH_NODES; i++) {
            raft_memory_log_destroy(groups[g].logs[i]);
        }
    }
    ether_free(groups);
    double replicas = (double)BENCH_GROUPS * BENCH_NODES;
    fprintf(out,
            "bench: memory: %d idle 3-node groups (%zu leaders): raft_memory_bytes %.0f B per "
            "replica (one broker's share of a group; target < 2048), %.0f B for all 3 "
            "replicas\n",
            BENCH_GROUPS, leaders, (double)raft_bytes / replicas,
            (double)raft_bytes / BENCH_GROUPS);
    fprintf(out,
            "bench: memory: glibc heap in use: %.0f B per replica for raft alone (freed by "
            "raft_destroy), %.0f B per replica with its in-memory log\n",
            (double)rafts_freed / replicas, (double)(after - before) / replicas);
}

void sim_bench(FILE *out)
{
    bench_throughput(out);
    bench_memory(out);
}
