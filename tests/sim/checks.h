/*
 * checks.h: the safety properties the simulator checks after every step.
 *
 * The checker keeps global histories that no single node has:
 *   - the leader seen for each term (at most one leader per term);
 *   - for every (index, term) ever written to any log, the entry's hash and
 *     the term of the entry before it. Two logs holding the same (index, term)
 *     must agree on both, which by induction is the Log Matching property;
 *   - the committed history: for each index, the entry some node has declared
 *     committed, and the lowest term in which it was seen committed. A
 *     committed entry never changes (committed entries never disappear), and
 *     every leader of a later term holds it (Leader Completeness);
 *   - the applied history as a chain of hashes: every node's applied sequence
 *     is a prefix of the longest one (State Machine Safety).
 * The first violation is recorded with a sentence; later ones are counted.
 */
#ifndef ETHER_SIM_CHECKS_H
#define ETHER_SIM_CHECKS_H

#include "common/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_log_fact; /* one (index, term) seen in some log; see checks.c */

struct sim_committed_entry {
    uint64_t term; /* 0: nothing known committed at this index */
    uint64_t hash;
    uint64_t seen_in_term; /* lowest term of a node that reported it committed */
};

struct sim_checker {
    uint32_t *leader_of_term; /* [term] -> raft id, 0 when none seen */
    size_t leader_of_term_capacity;

    struct sim_log_fact **facts_of_index; /* [index] -> small array */
    uint32_t *facts_count_of_index;
    size_t facts_capacity;

    struct sim_committed_entry *committed; /* [index], 1-based; [0] unused */
    uint64_t committed_count;              /* highest index known committed */
    size_t committed_capacity;

    uint64_t *applied_chain; /* [index] -> chain hash after applying index; 1-based */
    uint64_t applied_count;
    size_t applied_capacity;

    uint64_t violations_count;
    char first_violation[512];
    uint32_t first_violation_node;
};

void sim_checker_init(struct sim_checker *checker);
void sim_checker_free(struct sim_checker *checker);

/* FNV-1a of an entry's term, kind and bytes: its identity in the histories. */
uint64_t sim_entry_hash(uint64_t term, uint32_t kind, const void *data, size_t length);

/* Extends an applied-chain hash with one entry's hash. */
uint64_t sim_chain_extend(uint64_t chain, uint64_t entry_hash);

/* Records a violation (printf-style sentence); returns false for use in checks. */
bool sim_checker_fail(struct sim_checker *checker, uint32_t node, const char *format, ...)
    ETHER_PRINTF(3, 4);

/* Node `node` is leader in `term`. */
bool sim_check_leader(struct sim_checker *checker, uint64_t term, uint32_t node);

/* A previous term the caller cannot know (the entry before is compacted away). */
#define SIM_TERM_UNKNOWN UINT64_MAX

/* Node `node` holds (index, term) with this hash, preceded by an entry of `previous_term`. */
bool sim_check_log_entry(struct sim_checker *checker, uint32_t node, uint64_t index, uint64_t term,
                         uint64_t hash, uint64_t previous_term);

/* Node `node`, in `node_term`, says the entry (index, term, hash) is committed. */
bool sim_check_committed(struct sim_checker *checker, uint32_t node, uint64_t node_term,
                         uint64_t index, uint64_t term, uint64_t hash);

/* The committed entry at `index`, or NULL when none is known. */
const struct sim_committed_entry *sim_checker_committed_at(const struct sim_checker *checker,
                                                           uint64_t index);

/* Node `node` has applied through `index` and its chain hash is now `chain`. */
bool sim_check_applied(struct sim_checker *checker, uint32_t node, uint64_t index, uint64_t chain);

/* The chain hash after `index` in the longest applied sequence; false if unknown. */
bool sim_checker_applied_chain_at(const struct sim_checker *checker, uint64_t index,
                                  uint64_t *chain);

#endif
