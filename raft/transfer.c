/*
 * transfer.c: leadership transfer (dissertation 3.10).
 *
 * The leader stops accepting proposals, brings the target's log up to its
 * own last index, then sends TimeoutNow; the target starts an election at
 * once, skipping pre-vote, and its vote requests carry the TRANSFER flag so
 * voters ignore their leader lease. If the target has not won within an
 * election timeout, the leader aborts the transfer and accepts proposals again.
 */
#include "common/error.h"
#include "raft/raft_internal.h"

int raft_transfer_leadership(struct raft *r, uint64_t target)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (r->role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (target == r->config.id) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (r->transfer_target != RAFT_ID_NONE) {
        return ETHER_ERR_TRANSFER_IN_PROGRESS;
    }
    if (!raft_is_voter(r, target)) {
        return ETHER_ERR_NOT_FOUND;
    }
    struct raft_progress *p = raft_progress_find(r, target);
    ETHER_ASSERT(p != NULL);
    r->transfer_target = target;
    r->transfer_elapsed_ticks = 0;
    p->timeout_now_sent = false;
    raft_transfer_maybe_send_timeout_now(r, p);
    if (!p->timeout_now_sent) {
        /* Catch the target up now: restart from what it acknowledged, since
         * messages in flight to a lagging target may have been lost. */
        if (p->state == RAFT_PROGRESS_REPLICATE) {
            raft_progress_become_probe(p, p->match_index + 1);
        }
        raft_send_appends_while_possible(r, p);
    }
    return ETHER_OK;
}

void raft_transfer_maybe_send_timeout_now(struct raft *r, struct raft_progress *p)
{
    if (r->transfer_target != p->id || p->timeout_now_sent) {
        return;
    }
    if (p->match_index != raft_log_last_index(r)) {
        return; /* not caught up yet */
    }
    ETHER_ASSERT(r->role == RAFT_LEADER);
    raft_message_new(r, RAFT_MSG_TIMEOUT_NOW, p->id);
    p->timeout_now_sent = true;
}

void raft_transfer_abort(struct raft *r)
{
    r->transfer_target = RAFT_ID_NONE;
    r->transfer_elapsed_ticks = 0;
    ETHER_ASSERT(r->transfer_target == RAFT_ID_NONE);
}

void raft_recv_timeout_now(struct raft *r, const struct raft_message *m)
{
    ETHER_ASSERT(m->term == r->term);
    if (r->role == RAFT_LEADER || !raft_is_voter(r, r->config.id)) {
        return;
    }
    raft_campaign_start(r, false, true);
}
