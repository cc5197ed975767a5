/*
 * assignment.c: replica assignment version 1 for new topics (the algorithm
 * and its balance guarantee are documented in controller_state.h).
 *
 * Runs inside controller_state_apply on every broker, so it must depend on
 * nothing but the state and its arguments: candidates are taken in broker id
 * order, loads are counted over topics in name order, and every tie is broken
 * by a position, never by an address or a hash.
 */
#include "broker/controller_state_internal.h"

#include "common/mem.h"
#include "common/panic.h"

struct candidate {
    uint32_t broker_id;
    uint64_t leaders_count;
    uint64_t replicas_count;
    bool taken; /* already a replica of the partition being assigned */
};

uint32_t controller_live_brokers_count(const struct controller_state *state)
{
    uint32_t live_count = 0;
    for (size_t i = 0; i < state->brokers_count; i++) {
        if (!state->brokers[i].fenced) {
            live_count++;
        }
    }
    ETHER_ASSERT(live_count <= state->brokers_count);
    return live_count;
}

/* The position of broker_id among the candidates (sorted by id), or -1. */
static long candidate_find(const struct candidate *candidates, uint32_t count, uint32_t broker_id)
{
    uint32_t low = 0;
    uint32_t high = count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (candidates[middle].broker_id < broker_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    if (low < count && candidates[low].broker_id == broker_id) {
        return (long)low;
    }
    return -1;
}

static void count_existing_load(const struct controller_state *state, struct candidate *candidates,
                                uint32_t count)
{
    for (size_t t = 0; t < state->topics_count; t++) {
        const struct controller_topic *topic = state->topics_by_name[t];
        for (uint32_t p = 0; p < topic->partitions_count; p++) {
            const struct controller_partition *partition = &topic->partitions[p];
            for (uint32_t r = 0; r < partition->replicas_count; r++) {
                long at = candidate_find(candidates, count, partition->replica_ids[r]);
                if (at < 0) {
                    continue; /* fenced: not a candidate, its load does not matter */
                }
                candidates[at].replicas_count++;
                if (r == 0) {
                    candidates[at].leaders_count++;
                }
            }
        }
    }
}

/* Fewest leaders, then fewest replicas, then lowest id (the first in order). */
static uint32_t choose_leader(const struct candidate *candidates, uint32_t count)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < count; i++) {
        const struct candidate *c = &candidates[i];
        const struct candidate *b = &candidates[best];
        if (c->leaders_count < b->leaders_count ||
            (c->leaders_count == b->leaders_count && c->replicas_count < b->replicas_count)) {
            best = i;
        }
    }
    return best;
}

/*
 * Fewest replicas among those not taken. Ties go to the first on the ring of
 * candidates that starts after the leader, shifted by the number of partitions
 * the leader led before this one: without the shift, a symmetric load would
 * give a leader the same followers on every round.
 */
static uint32_t choose_follower(const struct candidate *candidates, uint32_t count,
                                uint32_t leader_at, uint64_t leader_shift)
{
    ETHER_ASSERT(count >= 2);
    uint32_t best = count;
    uint32_t others = count - 1;
    for (uint32_t k = 0; k < others; k++) {
        uint32_t distance = 1 + (uint32_t)((k + leader_shift) % others);
        uint32_t i = (leader_at + distance) % count;
        if (candidates[i].taken) {
            continue;
        }
        if (best == count || candidates[i].replicas_count < candidates[best].replicas_count) {
            best = i;
        }
    }
    ETHER_ASSERT(best < count);
    return best;
}

void controller_assign(const struct controller_state *state, uint32_t partitions_count,
                       uint32_t replication_factor, struct controller_partition *partitions)
{
    uint32_t count = controller_live_brokers_count(state);
    ETHER_ASSERT(replication_factor >= 1);
    ETHER_ASSERT(replication_factor <= count);
    ETHER_ASSERT(replication_factor <= CONTROLLER_REPLICATION_FACTOR_MAX);

    struct candidate *candidates = ether_calloc(count, sizeof *candidates);
    uint32_t filled = 0;
    for (size_t i = 0; i < state->brokers_count; i++) {
        if (!state->brokers[i].fenced) {
            candidates[filled++].broker_id = state->brokers[i].broker_id;
        }
    }
    ETHER_ASSERT(filled == count);
    count_existing_load(state, candidates, count);

    for (uint32_t p = 0; p < partitions_count; p++) {
        struct controller_partition *partition = &partitions[p];
        uint32_t leader_at = choose_leader(candidates, count);
        uint64_t leader_shift = candidates[leader_at].leaders_count;
        partition->replicas_count = replication_factor;
        partition->replica_ids[0] = candidates[leader_at].broker_id;
        candidates[leader_at].leaders_count++;
        candidates[leader_at].replicas_count++;
        candidates[leader_at].taken = true;
        for (uint32_t r = 1; r < replication_factor; r++) {
            uint32_t at = choose_follower(candidates, count, leader_at, leader_shift);
            partition->replica_ids[r] = candidates[at].broker_id;
            candidates[at].replicas_count++;
            candidates[at].taken = true;
        }
        for (uint32_t r = 0; r < replication_factor; r++) {
            long at = candidate_find(candidates, count, partition->replica_ids[r]);
            ETHER_ASSERT(at >= 0);
            candidates[at].taken = false;
            const struct controller_broker *member =
                controller_state_broker(state, partition->replica_ids[r]);
            ETHER_ASSERT(member != NULL);
            partition->replica_incarnations[r] = (uint32_t)member->incarnation;
        }
    }
    ether_free(candidates);
}
