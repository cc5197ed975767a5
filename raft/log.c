/*
 * log.c: the logical log = durable storage (possibly cut back by a pending
 * truncation or snapshot install) followed by the unstable entries that the
 * next ready hands to the host. See raft_internal.h for the invariants.
 *
 * Terms are non-decreasing along the log, which lets the conflict hints use
 * binary searches over term_at instead of walking a whole term.
 */
#include "common/error.h"
#include "common/mem.h"
#include "raft/raft_internal.h"

uint64_t raft_log_stable_tail(const struct raft *r)
{
    if (r->incoming != NULL && r->incoming->install_pending) {
        return r->incoming->meta.index;
    }
    if (r->truncate_pending && r->truncate_after_index < r->stable_last_index) {
        return r->truncate_after_index;
    }
    return r->stable_last_index;
}

uint64_t raft_log_last_index(const struct raft *r)
{
    if (r->unstable_count > 0) {
        uint64_t last = r->unstable[r->unstable_count - 1].index;
        ETHER_ASSERT(last == r->unstable[0].index + r->unstable_count - 1);
        return last;
    }
    return raft_log_stable_tail(r);
}

uint64_t raft_log_first_index(const struct raft *r)
{
    if (r->incoming != NULL && r->incoming->install_pending) {
        return r->incoming->meta.index + 1;
    }
    uint64_t first = r->storage->first_index(r->storage->context);
    ETHER_ASSERT(first >= 1);
    return first;
}

int raft_log_term_at(const struct raft *r, uint64_t index, uint64_t *term)
{
    if (index == 0) {
        *term = 0;
        return ETHER_OK;
    }
    if (r->unstable_count > 0 && index >= r->unstable[0].index) {
        uint64_t offset = index - r->unstable[0].index;
        if (offset >= r->unstable_count) {
            return ETHER_ERR_OUT_OF_RANGE;
        }
        ETHER_ASSERT(r->unstable[offset].index == index);
        *term = r->unstable[offset].term;
        return ETHER_OK;
    }
    if (r->incoming != NULL && r->incoming->install_pending) {
        if (index == r->incoming->meta.index) {
            *term = r->incoming->meta.term;
            return ETHER_OK;
        }
        return index < r->incoming->meta.index ? ETHER_ERR_BELOW_START : ETHER_ERR_OUT_OF_RANGE;
    }
    if (index > raft_log_stable_tail(r)) {
        return ETHER_ERR_OUT_OF_RANGE;
    }
    return r->storage->term_at(r->storage->context, index, term);
}

uint64_t raft_log_last_term(const struct raft *r)
{
    uint64_t term = 0;
    int rc = raft_log_term_at(r, raft_log_last_index(r), &term);
    if (rc != ETHER_OK) {
        /* An empty log after compaction: the last index is the snapshot's. */
        struct raft_snapshot_meta meta;
        ETHER_ASSERT(r->storage->snapshot(r->storage->context, &meta) == ETHER_OK);
        term = meta.term;
    }
    return term;
}

int raft_log_entries(struct raft *r, uint64_t index_low, uint64_t index_high, uint64_t bytes_max,
                     struct raft_entry *out, size_t out_count_max, size_t *out_count)
{
    ETHER_ASSERT(index_low < index_high);
    ETHER_ASSERT(index_high <= raft_log_last_index(r) + 1);
    size_t count = 0;
    uint64_t bytes = 0;
    uint64_t tail = raft_log_stable_tail(r);
    if (index_low <= tail && !(r->incoming != NULL && r->incoming->install_pending)) {
        uint64_t high = index_high <= tail + 1 ? index_high : tail + 1;
        int rc = r->storage->entries(r->storage->context, index_low, high, bytes_max, out,
                                     out_count_max, &count);
        if (rc != ETHER_OK) {
            return rc;
        }
        ETHER_ASSERT(count >= 1 && count <= out_count_max);
        for (size_t i = 0; i < count; i++) {
            bytes += out[i].data_bytes;
        }
        if (index_low + count < high || index_high <= tail + 1) {
            *out_count = count;
            return ETHER_OK;
        }
        index_low += count;
    }
    /* The rest comes from the unstable entries. */
    while (index_low < index_high && count < out_count_max) {
        ETHER_ASSERT(r->unstable_count > 0 && index_low >= r->unstable[0].index);
        const struct raft_entry *entry = &r->unstable[index_low - r->unstable[0].index];
        if (count > 0 && bytes + entry->data_bytes > bytes_max) {
            break;
        }
        out[count++] = *entry;
        bytes += entry->data_bytes;
        index_low++;
    }
    *out_count = count;
    return ETHER_OK;
}

void raft_log_append_unstable(struct raft *r, const struct raft_entry *entries, size_t count)
{
    uint64_t next = raft_log_last_index(r) + 1;
    r->unstable = raft_array_grow(r->unstable, &r->unstable_capacity, r->unstable_count + count,
                                  sizeof *r->unstable);
    for (size_t i = 0; i < count; i++) {
        ETHER_ASSERT(entries[i].index == next + i);
        r->unstable[r->unstable_count++] = entries[i];
    }
    ETHER_ASSERT(raft_log_last_index(r) == next + count - 1);
}

void raft_log_truncate_from(struct raft *r, uint64_t index)
{
    ETHER_ASSERT(index > r->commit_index);
    ETHER_ASSERT(r->role != RAFT_LEADER);
    if (r->unstable_count > 0 && index >= r->unstable[0].index) {
        r->unstable_count = (size_t)(index - r->unstable[0].index);
    } else {
        r->unstable_count = 0;
        if (index <= r->stable_last_index) {
            if (!r->truncate_pending || index - 1 < r->truncate_after_index) {
                r->truncate_after_index = index - 1;
            }
            r->truncate_pending = true;
        }
    }
    if (r->configuration_index >= index) {
        raft_configuration_recompute(r);
    }
}

uint64_t raft_log_first_index_of_term(const struct raft *r, uint64_t low, uint64_t high,
                                      uint64_t term)
{
    /* Smallest i in [low, high] with term_at(i) == term, given term_at(high) == term. */
    ETHER_ASSERT(low <= high);
    while (low < high) {
        uint64_t middle = low + (high - low) / 2;
        uint64_t middle_term = 0;
        if (raft_log_term_at(r, middle, &middle_term) != ETHER_OK || middle_term < term) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

uint64_t raft_log_last_index_with_term_at_most(const struct raft *r, uint64_t low, uint64_t high,
                                               uint64_t term)
{
    /* Largest i in [low, high] with term_at(i) <= term; low when there is none. */
    ETHER_ASSERT(low <= high);
    while (low < high) {
        uint64_t middle = low + (high - low + 1) / 2;
        uint64_t middle_term = 0;
        int rc = raft_log_term_at(r, middle, &middle_term);
        if (rc == ETHER_OK && middle_term <= term) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    return low;
}

bool raft_log_committed_in_term(const struct raft *r)
{
    uint64_t term = 0;
    if (raft_log_term_at(r, r->commit_index, &term) != ETHER_OK) {
        return false;
    }
    ETHER_ASSERT(term <= r->term);
    return term == r->term;
}
