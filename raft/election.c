/*
 * election.c: timeouts, pre-vote, vote granting and counting, check-quorum's
 * leader lease.
 *
 * Pre-vote (dissertation 9.6): a would-be candidate first asks whether it
 * could win at term + 1 without changing anybody's term or vote; only a
 * majority of yeses starts a real election. A voter says yes when the
 * candidate's log is at least as up to date as its own and it has not heard
 * from a leader within an election timeout (the lease, when check-quorum is
 * on). Real votes: at most one per term (the vote is durable before the
 * grant is sent, see the persistence contract in raft.h).
 */
#include "common/error.h"
#include "raft/raft_internal.h"

bool raft_in_lease(const struct raft *r)
{
    return r->config.check_quorum && r->leader_id != RAFT_ID_NONE &&
           r->election_elapsed_ticks < r->config.election_timeout_ticks;
}

static void votes_reset(struct raft *r)
{
    for (uint32_t i = 0; i < r->progress_count; i++) {
        r->progress[i].vote_responded = false;
        r->progress[i].vote_granted = false;
    }
}

/* Records a vote; returns +1 when granted by a quorum, -1 when lost, 0 when undecided. */
static int votes_record(struct raft *r, uint64_t id, bool granted)
{
    struct raft_progress *p = raft_progress_find(r, id);
    if (p != NULL && p->role == RAFT_VOTER && !p->vote_responded) {
        p->vote_responded = true;
        p->vote_granted = granted;
    }
    size_t yes = 0;
    size_t no = 0;
    for (uint32_t i = 0; i < r->progress_count; i++) {
        const struct raft_progress *q = &r->progress[i];
        if (q->role == RAFT_VOTER && q->vote_responded) {
            yes += q->vote_granted ? 1u : 0u;
            no += q->vote_granted ? 0u : 1u;
        }
    }
    size_t quorum = raft_quorum_size(r);
    size_t voters = raft_configuration_voters_count(&r->configuration);
    if (yes >= quorum) {
        return 1;
    }
    return voters - no < quorum ? -1 : 0;
}

void raft_campaign_start(struct raft *r, bool pre_vote, bool transfer)
{
    ETHER_ASSERT(r->role != RAFT_LEADER);
    ETHER_ASSERT(raft_is_voter(r, r->config.id));
    uint64_t campaign_term = r->term + 1;
    if (pre_vote) {
        r->role = RAFT_PRE_CANDIDATE;
        r->leader_id = RAFT_ID_NONE;
    } else {
        raft_become_follower(r, campaign_term, RAFT_ID_NONE);
        r->role = RAFT_CANDIDATE;
        r->vote = r->config.id;
    }
    raft_election_timeout_reset(r);
    votes_reset(r);
    if (votes_record(r, r->config.id, true) > 0) {
        if (pre_vote) {
            raft_campaign_start(r, false, transfer);
        } else {
            raft_become_leader(r);
        }
        return;
    }
    uint64_t last_index = raft_log_last_index(r);
    uint64_t last_term = raft_log_last_term(r);
    for (uint32_t i = 0; i < r->configuration.servers_count; i++) {
        const struct raft_server *server = &r->configuration.servers[i];
        if (server->role != RAFT_VOTER || server->id == r->config.id) {
            continue;
        }
        struct raft_message *m =
            raft_message_new(r, pre_vote ? RAFT_MSG_PRE_VOTE_REQ : RAFT_MSG_VOTE_REQ, server->id);
        m->term = campaign_term;
        m->index = last_index;
        m->log_term = last_term;
        m->flags = transfer ? RAFT_MESSAGE_FLAG_TRANSFER : 0;
    }
}

void raft_tick_election(struct raft *r)
{
    ETHER_ASSERT(r->role != RAFT_LEADER);
    r->election_elapsed_ticks++;
    if (r->election_elapsed_ticks < r->election_timeout_randomized_ticks) {
        return;
    }
    r->election_elapsed_ticks = 0;
    if (!raft_is_voter(r, r->config.id)) {
        return; /* learners and removed servers never campaign */
    }
    raft_campaign_start(r, r->config.pre_vote, false);
}

void raft_recv_vote_request(struct raft *r, const struct raft_message *m)
{
    bool pre_vote = m->type == RAFT_MSG_PRE_VOTE_REQ;
    ETHER_ASSERT(m->term >= r->term);
    ETHER_ASSERT(!pre_vote || m->term > r->term || m->term == r->term);
    uint64_t last_index = raft_log_last_index(r);
    uint64_t last_term = raft_log_last_term(r);
    bool up_to_date =
        m->log_term > last_term || (m->log_term == last_term && m->index >= last_index);
#ifdef RAFT_BUG_VOTE_FOR_SHORTER_LOG
    up_to_date = true;
#endif
    bool can_vote = r->vote == m->from ||
                    (r->vote == RAFT_ID_NONE && r->leader_id == RAFT_ID_NONE) ||
                    (pre_vote && m->term > r->term);
    struct raft_message *reply =
        raft_message_new(r, pre_vote ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
    if (can_vote && up_to_date) {
        reply->term = m->term; /* a pre-vote grant carries the proposed term */
        if (!pre_vote) {
            r->vote = m->from;
            r->election_elapsed_ticks = 0;
        }
    } else {
        reply->reject = true;
    }
}

void raft_recv_vote_response(struct raft *r, const struct raft_message *m)
{
    bool pre_vote = m->type == RAFT_MSG_PRE_VOTE_RESP;
    if (pre_vote ? r->role != RAFT_PRE_CANDIDATE : r->role != RAFT_CANDIDATE) {
        return; /* stale */
    }
    if (pre_vote && !m->reject && m->term != r->term + 1) {
        return; /* a grant for some other pre-vote round */
    }
    ETHER_ASSERT(pre_vote || m->term == r->term);
    int outcome = votes_record(r, m->from, !m->reject);
    if (outcome > 0) {
        if (pre_vote) {
            raft_campaign_start(r, false, false);
        } else {
            raft_become_leader(r);
        }
    } else if (outcome < 0) {
        raft_become_follower(r, r->term, RAFT_ID_NONE);
    }
}
