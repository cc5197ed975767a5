/*
 * read_index.c: linearizable reads without writing to the log (dissertation 6.4).
 *
 * A request gets read index max(commit_index, the leader's election no-op)
 * and the current heartbeat round; the next heartbeat broadcast carries that
 * round. Once a quorum of voters has answered a heartbeat of that round or a
 * later one, no other leader can have existed when the request arrived. The
 * answer is released in a ready whose committed entries bring the applied
 * index to at least the read index, and only after the leader has committed
 * an entry of its own term. Requests are answered in arrival order; losing
 * leadership answers every pending one with ETHER_ERR_DROPPED.
 */
#include "common/error.h"
#include "common/mem.h"
#include "raft/raft_internal.h"

#include <string.h>

int raft_read_index(struct raft *r, uint64_t request_context, uint64_t *leader_hint)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (leader_hint != NULL) {
        *leader_hint = r->leader_id;
    }
    if (r->role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (r->reads_count >= r->config.read_requests_max) {
        return ETHER_ERR_BUSY;
    }
    if (!r->read_broadcast_pending) {
        r->read_round++; /* heartbeats already sent cannot confirm this request */
        r->read_broadcast_pending = true;
    }
    r->reads = raft_array_grow(r->reads, &r->reads_capacity, r->reads_count + 1, sizeof *r->reads);
    struct raft_read_request *request = &r->reads[r->reads_count++];
    request->request_context = request_context;
    request->index =
        r->commit_index > r->leader_noop_index ? r->commit_index : r->leader_noop_index;
    request->round = r->read_round;
    ETHER_ASSERT(r->reads_count <= r->config.read_requests_max);
    return ETHER_OK;
}

/* The highest heartbeat round answered by a quorum of voters (the leader counts itself). */
static uint64_t round_confirmed(const struct raft *r)
{
    uint64_t rounds[RAFT_SERVERS_MAX];
    size_t count = 0;
    for (uint32_t i = 0; i < r->progress_count; i++) {
        const struct raft_progress *p = &r->progress[i];
        if (p->role == RAFT_VOTER) {
            rounds[count++] = p->id == r->config.id ? r->read_round : p->read_round_acked;
        }
    }
    if (count == 0) {
        return 0;
    }
    for (size_t i = 1; i < count; i++) {
        uint64_t value = rounds[i];
        size_t j = i;
        while (j > 0 && rounds[j - 1] < value) {
            rounds[j] = rounds[j - 1];
            j--;
        }
        rounds[j] = value;
    }
    size_t quorum = raft_quorum_size(r);
    ETHER_ASSERT(quorum >= 1 && quorum <= count);
    return rounds[quorum - 1];
}

void raft_reads_on_heartbeat_ack(struct raft *r)
{
    /* Confirmation is computed when readies are built; nothing to cache. */
    ETHER_ASSERT(r->role == RAFT_LEADER);
}

static bool first_releasable(const struct raft *r, uint64_t confirmed, bool committed_in_term,
                             uint64_t applied_after)
{
    if (r->reads_count == 0 || !committed_in_term) {
        return false;
    }
    const struct raft_read_request *request = &r->reads[0];
    uint64_t index = request->index > r->leader_noop_index ? request->index : r->leader_noop_index;
    return request->round <= confirmed && index <= applied_after;
}

bool raft_reads_releasable(const struct raft *r, uint64_t applied_after)
{
    if (r->reads_count == 0 || r->role != RAFT_LEADER) {
        return false;
    }
    return first_releasable(r, round_confirmed(r), raft_log_committed_in_term(r), applied_after);
}

static void read_state_push(struct raft *r, uint64_t request_context, uint64_t index, int error)
{
    r->read_states = raft_array_grow(r->read_states, &r->read_states_capacity,
                                     r->read_states_count + 1, sizeof *r->read_states);
    struct raft_read_state *state = &r->read_states[r->read_states_count++];
    state->request_context = request_context;
    state->index = index;
    state->error = error;
}

void raft_reads_release(struct raft *r, uint64_t applied_after)
{
    if (r->reads_count == 0 || r->role != RAFT_LEADER) {
        return;
    }
    uint64_t confirmed = round_confirmed(r);
    bool committed_in_term = raft_log_committed_in_term(r);
    size_t released = 0;
    while (released < r->reads_count) {
        const struct raft_read_request *request = &r->reads[released];
        uint64_t index =
            request->index > r->leader_noop_index ? request->index : r->leader_noop_index;
        if (!committed_in_term || request->round > confirmed || index > applied_after) {
            break;
        }
        read_state_push(r, request->request_context, index, ETHER_OK);
        released++;
    }
    memmove(r->reads, r->reads + released, (r->reads_count - released) * sizeof *r->reads);
    r->reads_count -= released;
    ETHER_ASSERT(!first_releasable(r, confirmed, committed_in_term, applied_after));
}

void raft_reads_drop_all(struct raft *r)
{
    for (size_t i = 0; i < r->reads_count; i++) {
        read_state_push(r, r->reads[i].request_context, 0, ETHER_ERR_DROPPED);
    }
    r->reads_count = 0;
    r->read_round = 0;
    ETHER_ASSERT(r->reads_count == 0);
}

void raft_reads_free_if_idle(struct raft *r)
{
    if (r->reads_count == 0) {
        ether_free(r->reads);
        r->reads = NULL;
        r->reads_capacity = 0;
    }
    if (r->read_states_count == 0) {
        ether_free(r->read_states);
        r->read_states = NULL;
        r->read_states_capacity = 0;
    }
}
