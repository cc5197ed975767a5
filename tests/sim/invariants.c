/*
 * invariants.c: reads the simulated nodes at the moments their state is
 * well defined and feeds what it sees to the checker (checks.h).
 *
 * Raft's logical log is the durable log plus entries it has not handed out
 * yet, and only the durable part is visible to the host. Right after a
 * ready's write completes, and before new inputs, the two are the same, so
 * that is when commit indexes and leader logs are compared with the global
 * histories. Entries are checked for Log Matching when raft hands them out,
 * applied entries when they are applied.
 */
#include "tests/sim/sim_internal.h"

#include "common/panic.h"

#include <inttypes.h>

static uint64_t entry_hash(const struct raft_entry *entry)
{
    return sim_entry_hash(entry->term, entry->type, entry->data, entry->data_bytes);
}

static uint64_t durable_term_before(const struct sim_node *node, const struct raft_ready *ready,
                                    uint64_t index)
{
    if (index == 0) {
        return 0;
    }
    if (ready->snapshot_install && index == ready->snapshot->index) {
        return ready->snapshot->term;
    }
    const struct raft_log_storage *storage = raft_memory_log_storage(node->disk.medium);
    uint64_t term = 0;
    if (storage->term_at(storage->context, index, &term) != 0) {
        return SIM_TERM_UNKNOWN;
    }
    return term;
}

void sim_invariants_on_entries(struct sim *sim, struct sim_node *node,
                               const struct raft_ready *ready)
{
    if (ready->entries_count == 0) {
        return;
    }
    struct sim_checker *checker = &sim->checker;
    uint32_t id = (uint32_t)node->id;
    uint64_t expected_first = 0;
    if (ready->snapshot_install) {
        expected_first = ready->snapshot->index + 1;
        if (ready->truncate && ready->truncate_after_index != ready->snapshot->index) {
            expected_first = ready->truncate_after_index + 1;
        }
    } else if (ready->truncate) {
        expected_first = ready->truncate_after_index + 1;
    } else {
        expected_first = raft_memory_log_last_index(node->disk.medium) + 1;
    }
    const struct raft_entry *entries = ready->entries;
    if (entries[0].index != expected_first) {
        sim_checker_fail(checker, id,
                         "node %" PRIu32 " hands out entries from index %" PRIu64
                         " where its log continues at %" PRIu64,
                         id, entries[0].index, expected_first);
        return;
    }
    uint64_t previous_term = durable_term_before(node, ready, entries[0].index - 1);
    for (size_t i = 0; i < ready->entries_count; i++) {
        if (entries[i].index != entries[0].index + i) {
            sim_checker_fail(checker, id, "node %" PRIu32 " hands out non-contiguous entries", id);
            return;
        }
        if (previous_term != SIM_TERM_UNKNOWN && entries[i].term < previous_term) {
            sim_checker_fail(checker, id, "node %" PRIu32 " log term decreases at index %" PRIu64,
                             id, entries[i].index);
            return;
        }
        sim_check_log_entry(checker, id, entries[i].index, entries[i].term, entry_hash(&entries[i]),
                            previous_term);
        previous_term = entries[i].term;
    }
}

static const char *entry_type_name(uint8_t type)
{
    switch (type) {
    case RAFT_ENTRY_NORMAL:
        return "normal";
    case RAFT_ENTRY_NOOP:
        return "noop";
    case RAFT_ENTRY_CONFIG:
        return "config";
    default:
        return "?";
    }
}

void sim_invariants_on_apply(struct sim *sim, struct sim_node *node, const struct raft_entry *entry)
{
    uint32_t id = (uint32_t)node->id;
    if (entry->index != node->applied_index + 1) {
        sim_checker_fail(&sim->checker, id,
                         "node %" PRIu32 " applies index %" PRIu64 " after %" PRIu64, id,
                         entry->index, node->applied_index);
        return;
    }
    struct raft_status status;
    raft_status(node->raft, &status);
    uint64_t hash = entry_hash(entry);
    sim_check_committed(&sim->checker, id, status.term, entry->index, entry->term, hash);
    node->applied_index = entry->index;
    node->applied_chain = sim_chain_extend(node->applied_chain, hash);
    sim_check_applied(&sim->checker, id, node->applied_index, node->applied_chain);
    sim_trace_event(sim, SIM_TRACE_APPLY, node->id, 0, entry_type_name(entry->type), entry->index,
                    entry->term, 0);
}

void sim_invariants_on_restore(struct sim *sim, struct sim_node *node)
{
    if (node->applied_index == 0) {
        return;
    }
    uint64_t chain = 0;
    if (!sim_checker_applied_chain_at(&sim->checker, node->applied_index, &chain)) {
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "node %u restores a snapshot at %" PRIu64
                         " beyond anything any node applied",
                         (unsigned)node->id, node->applied_index);
        return;
    }
    if (chain != node->applied_chain) {
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "state machine safety: node %u restores a snapshot at %" PRIu64
                         " whose state differs from what others applied",
                         (unsigned)node->id, node->applied_index);
    }
}

/*
 * Commit index of a node right after a completed write. Its durable log is its
 * logical log, except that a leader whose disk is full keeps entries it could
 * not persist; the majority that committed them need not include the leader.
 */
static void check_commit(struct sim *sim, struct sim_node *node, const struct raft_status *status)
{
    struct raft_memory_log *medium = node->disk.medium;
    uint64_t first = raft_memory_log_first_index(medium);
    uint64_t last = raft_memory_log_last_index(medium);
    if (status->commit_index > status->last_index ||
        (status->commit_index > last && !status->disk_full)) {
        sim_checker_fail(&sim->checker, (uint32_t)node->id,
                         "node %u commit index %" PRIu64 " is past its log (durable %" PRIu64
                         ", last %" PRIu64 ")",
                         (unsigned)node->id, status->commit_index, last, status->last_index);
        return;
    }
    uint64_t upper = status->commit_index < last ? status->commit_index : last;
    uint64_t index = node->commit_checked_index + 1;
    if (index < first) {
        index = first; /* compacted: the snapshot's state is checked instead */
    }
    for (; index <= upper; index++) {
        const struct raft_entry *entry = raft_memory_log_entry(medium, index);
        ETHER_ASSERT(entry != NULL);
        sim_check_committed(&sim->checker, (uint32_t)node->id, status->term, index, entry->term,
                            entry_hash(entry));
    }
    if (upper > node->commit_checked_index) {
        sim_trace_event(sim, SIM_TRACE_COMMIT, node->id, 0, NULL, status->commit_index,
                        status->term, 0);
        node->commit_checked_index = upper;
    }
}

/* Leader Completeness: a leader of term T holds every entry committed in a term <= T. */
static void check_leader_log(struct sim *sim, struct sim_node *node,
                             const struct raft_status *status)
{
    if (node->completeness_term != status->term) {
        node->completeness_term = status->term;
        node->completeness_checked_index = 0;
    }
    struct raft_memory_log *medium = node->disk.medium;
    uint64_t first = raft_memory_log_first_index(medium);
    uint64_t last = raft_memory_log_last_index(medium);
    uint64_t index = node->completeness_checked_index + 1;
    if (index < first) {
        index = first;
    }
    for (; index <= sim->checker.committed_count; index++) {
        const struct sim_committed_entry *committed =
            sim_checker_committed_at(&sim->checker, index);
        if (committed == NULL || committed->seen_in_term > status->term) {
            continue;
        }
        if (index > last && index <= status->last_index && status->disk_full) {
            return; /* not durable on a full disk, so not visible: check it later */
        }
        const struct raft_entry *entry =
            index <= last ? raft_memory_log_entry(medium, index) : NULL;
        if (entry == NULL || entry->term != committed->term ||
            entry_hash(entry) != committed->hash) {
            sim_checker_fail(&sim->checker, (uint32_t)node->id,
                             "leader completeness: leader %u of term %" PRIu64
                             " lacks the entry committed at index %" PRIu64 " (term %" PRIu64
                             "); it has %s term %" PRIu64,
                             (unsigned)node->id, status->term, index, committed->term,
                             entry == NULL ? "nothing, last" : "an entry of",
                             entry == NULL ? last : entry->term);
            return;
        }
        node->completeness_checked_index = index;
    }
}

void sim_invariants_on_durable(struct sim *sim, struct sim_node *node)
{
    struct raft_status status;
    raft_status(node->raft, &status);
    check_commit(sim, node, &status);
    if (status.role == RAFT_LEADER) {
        sim_check_leader(&sim->checker, status.term, (uint32_t)node->id);
        check_leader_log(sim, node, &status);
        /* The adversary: a leader dies right after it advances its commit index. */
        if (status.commit_index > node->leader_commit_seen &&
            sim_prng_chance(&sim->prng, sim->faults.commit_crash)) {
            node->crash_requested = true;
        }
        node->leader_commit_seen = status.commit_index;
    }
}

void sim_invariants_check(struct sim *sim)
{
    for (uint32_t s = 0; s < sim->slots_count; s++) {
        struct sim_node *node = &sim->nodes[s];
        if (node->state != SIM_NODE_UP) {
            continue;
        }
        struct raft_status status;
        raft_status(node->raft, &status);
        if (status.term < node->term_seen) {
            sim_checker_fail(&sim->checker, (uint32_t)node->id,
                             "node %u term goes back from %" PRIu64 " to %" PRIu64,
                             (unsigned)node->id, node->term_seen, status.term);
        }
        if (status.role == RAFT_LEADER) {
            sim_check_leader(&sim->checker, status.term, (uint32_t)node->id);
            if (node->role_seen != RAFT_LEADER || node->term_seen != status.term) {
                sim->result->leader_changes++;
            }
        }
        node->role_seen = status.role;
        node->term_seen = status.term;
    }
}
