#include "tests/sim/checks.h"

#include "common/mem.h"
#include "common/panic.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct sim_log_fact {
    uint64_t term;
    uint64_t hash;
    uint64_t previous_term;
    uint32_t first_node; /* who wrote it first, for the message */
};

/* Grows a zero-filled array so that `needed` elements fit. */
static void *grow_zeroed(void *array, size_t *capacity, size_t needed, size_t element_bytes)
{
    if (needed <= *capacity) {
        return array;
    }
    size_t new_capacity = *capacity == 0 ? 64 : *capacity;
    while (new_capacity < needed) {
        new_capacity *= 2;
    }
    array = ether_realloc(array, new_capacity * element_bytes);
    memset((uint8_t *)array + *capacity * element_bytes, 0,
           (new_capacity - *capacity) * element_bytes);
    *capacity = new_capacity;
    return array;
}

void sim_checker_init(struct sim_checker *checker)
{
    memset(checker, 0, sizeof(*checker));
}

void sim_checker_free(struct sim_checker *checker)
{
    for (size_t i = 0; i < checker->facts_capacity; i++) {
        ether_free(checker->facts_of_index[i]);
    }
    ether_free(checker->facts_of_index);
    ether_free(checker->facts_count_of_index);
    ether_free(checker->leader_of_term);
    ether_free(checker->committed);
    ether_free(checker->applied_chain);
    memset(checker, 0, sizeof(*checker));
}

static uint64_t fnv1a(uint64_t hash, const void *data, size_t length)
{
    const uint8_t *bytes = data;
    for (size_t i = 0; i < length; i++) {
        hash ^= bytes[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

uint64_t sim_entry_hash(uint64_t term, uint32_t kind, const void *data, size_t length)
{
    uint8_t header[12];
    for (int i = 0; i < 8; i++) {
        header[i] = (uint8_t)(term >> (8 * i));
    }
    for (int i = 0; i < 4; i++) {
        header[8 + i] = (uint8_t)(kind >> (8 * i));
    }
    return fnv1a(fnv1a(0xcbf29ce484222325ULL, header, sizeof(header)), data, length);
}

uint64_t sim_chain_extend(uint64_t chain, uint64_t entry_hash)
{
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(entry_hash >> (8 * i));
    }
    return fnv1a(chain ^ 0x9e3779b97f4a7c15ULL, bytes, sizeof(bytes));
}

bool sim_checker_fail(struct sim_checker *checker, uint32_t node, const char *format, ...)
{
    if (checker->violations_count++ == 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(checker->first_violation, sizeof(checker->first_violation), format, args);
        va_end(args);
        checker->first_violation_node = node;
    }
    return false;
}

bool sim_check_leader(struct sim_checker *checker, uint64_t term, uint32_t node)
{
    ETHER_ASSERT(node != 0);
    checker->leader_of_term =
        grow_zeroed(checker->leader_of_term, &checker->leader_of_term_capacity, (size_t)term + 1,
                    sizeof(*checker->leader_of_term));
    uint32_t *leader = &checker->leader_of_term[term];
    if (*leader == 0) {
        *leader = node;
        return true;
    }
    if (*leader != node) {
        return sim_checker_fail(checker, node,
                                "election safety: nodes %" PRIu32 " and %" PRIu32
                                " are both leaders of term %" PRIu64,
                                *leader, node, term);
    }
    return true;
}

bool sim_check_log_entry(struct sim_checker *checker, uint32_t node, uint64_t index, uint64_t term,
                         uint64_t hash, uint64_t previous_term)
{
    ETHER_ASSERT(index > 0);
    size_t old_capacity = checker->facts_capacity;
    checker->facts_of_index = grow_zeroed(checker->facts_of_index, &old_capacity, (size_t)index + 1,
                                          sizeof(*checker->facts_of_index));
    checker->facts_count_of_index =
        grow_zeroed(checker->facts_count_of_index, &checker->facts_capacity, (size_t)index + 1,
                    sizeof(*checker->facts_count_of_index));
    ETHER_ASSERT(old_capacity == checker->facts_capacity);
    struct sim_log_fact *facts = checker->facts_of_index[index];
    uint32_t count = checker->facts_count_of_index[index];
    for (uint32_t i = 0; i < count; i++) {
        if (facts[i].term != term) {
            continue;
        }
        if (facts[i].hash != hash) {
            return sim_checker_fail(checker, node,
                                    "log matching: entry (index %" PRIu64 ", term %" PRIu64
                                    ") differs between node %" PRIu32 " and node %" PRIu32,
                                    index, term, facts[i].first_node, node);
        }
        if (facts[i].previous_term == SIM_TERM_UNKNOWN) {
            facts[i].previous_term = previous_term;
        } else if (previous_term != SIM_TERM_UNKNOWN && facts[i].previous_term != previous_term) {
            return sim_checker_fail(
                checker, node,
                "log matching: before (index %" PRIu64 ", term %" PRIu64 ") node %" PRIu32
                " has term %" PRIu64 " but node %" PRIu32 " has term %" PRIu64,
                index, term, facts[i].first_node, facts[i].previous_term, node, previous_term);
        }
        return true;
    }
    /* Terms at one index are few (one per leader that wrote there): grow by one. */
    facts = ether_realloc(facts, (count + 1) * sizeof(*facts));
    facts[count] = (struct sim_log_fact){
        .term = term, .hash = hash, .previous_term = previous_term, .first_node = node};
    checker->facts_of_index[index] = facts;
    checker->facts_count_of_index[index] = count + 1;
    return true;
}

bool sim_check_committed(struct sim_checker *checker, uint32_t node, uint64_t node_term,
                         uint64_t index, uint64_t term, uint64_t hash)
{
    ETHER_ASSERT(index > 0);
    ETHER_ASSERT(term > 0);
    checker->committed = grow_zeroed(checker->committed, &checker->committed_capacity,
                                     (size_t)index + 1, sizeof(*checker->committed));
    struct sim_committed_entry *known = &checker->committed[index];
    if (known->term == 0) {
        /* First sighting. Entries below may be unknown: they were committed inside a
         * snapshot that no checked node replayed entry by entry. */
        *known =
            (struct sim_committed_entry){.term = term, .hash = hash, .seen_in_term = node_term};
        if (index > checker->committed_count) {
            checker->committed_count = index;
        }
        return true;
    }
    if (known->term != term || known->hash != hash) {
        return sim_checker_fail(checker, node,
                                "committed entry changed: index %" PRIu64
                                " was committed with term %" PRIu64 " but node %" PRIu32
                                " commits term %" PRIu64,
                                index, known->term, node, term);
    }
    if (node_term < known->seen_in_term) {
        known->seen_in_term = node_term;
    }
    return true;
}

const struct sim_committed_entry *sim_checker_committed_at(const struct sim_checker *checker,
                                                           uint64_t index)
{
    if (index == 0 || index > checker->committed_count || checker->committed[index].term == 0) {
        return NULL;
    }
    return &checker->committed[index];
}

bool sim_check_applied(struct sim_checker *checker, uint32_t node, uint64_t index, uint64_t chain)
{
    ETHER_ASSERT(index > 0);
    if (index <= checker->applied_count) {
        if (checker->applied_chain[index] != chain) {
            return sim_checker_fail(checker, node,
                                    "state machine safety: node %" PRIu32
                                    " applied a different sequence through index %" PRIu64,
                                    node, index);
        }
        return true;
    }
    ETHER_ASSERT(index == checker->applied_count + 1);
    checker->applied_chain = grow_zeroed(checker->applied_chain, &checker->applied_capacity,
                                         (size_t)index + 1, sizeof(*checker->applied_chain));
    checker->applied_chain[index] = chain;
    checker->applied_count = index;
    return true;
}

bool sim_checker_applied_chain_at(const struct sim_checker *checker, uint64_t index,
                                  uint64_t *chain)
{
    if (index == 0) {
        *chain = 0;
        return true;
    }
    if (index > checker->applied_count) {
        return false;
    }
    *chain = checker->applied_chain[index];
    return true;
}
