/*
 * replication.c: AppendEntries and heartbeats, on both sides, and the commit
 * rule.
 *
 * Leader side: a member in PROBE gets one AppendEntries at a time until an
 * answer shows where the logs match; then it moves to REPLICATE and the
 * leader pipelines up to inflight_messages_max messages / inflight_bytes_max
 * bytes, advancing next_index optimistically. A rejection carries a hint
 * (term of the conflicting entry and the first index of that term in the
 * follower's log) so the leader skips a whole term per round trip. Lost
 * messages are detected when a REPLICATE member stays silent for an election
 * timeout: the leader falls back to PROBE from match + 1.
 *
 * Commit rule (Raft section 5.4.2): the leader advances commit_index to the
 * highest index stored on a quorum of voters, but only when that entry is of
 * its current term; earlier entries commit indirectly. The leader counts its
 * own log only up to what is durable (advanced).
 */
#include "common/error.h"
#include "raft/raft_internal.h"

void raft_append_own(struct raft *r, uint8_t type, const uint8_t *data, uint32_t data_bytes)
{
    ETHER_ASSERT(r->role == RAFT_LEADER);
    struct raft_entry entry = {
        .term = r->term,
        .index = raft_log_last_index(r) + 1,
        .data = data,
        .data_bytes = data_bytes,
        .type = type,
    };
    raft_log_append_unstable(r, &entry, 1);
    r->broadcast_pending = true;
    r->idle_ticks = 0;
    ETHER_ASSERT(raft_log_last_index(r) == entry.index);
}

void raft_send_append(struct raft *r, struct raft_progress *p, bool allow_empty)
{
    if (p->id == r->config.id) {
        return;
    }
    if (p->state == RAFT_PROGRESS_SNAPSHOT) {
        if (!p->probe_sent) {
            raft_snapshot_send_chunk(r, p);
        }
        return;
    }
    if (p->state == RAFT_PROGRESS_PROBE && p->probe_sent) {
        return;
    }
    if (p->state == RAFT_PROGRESS_REPLICATE && raft_progress_inflight_full(r, p)) {
        return;
    }
    uint64_t prev = p->next_index - 1;
    uint64_t prev_term = 0;
    if (p->next_index < raft_log_first_index(r) ||
        raft_log_term_at(r, prev, &prev_term) != ETHER_OK) {
        raft_snapshot_send_start(r, p);
        return;
    }
    uint64_t last = raft_log_last_index(r);
    ETHER_ASSERT(p->next_index <= last + 1);
    size_t count = 0;
    uint64_t bytes = 0;
    if (p->next_index <= last) {
        uint64_t budget = r->config.append_bytes_max;
        if (p->state == RAFT_PROGRESS_REPLICATE &&
            r->config.inflight_bytes_max - p->inflight_bytes < budget) {
            budget = r->config.inflight_bytes_max - p->inflight_bytes;
        }
        r->message_entries = raft_array_grow(
            r->message_entries, &r->message_entries_capacity,
            r->message_entries_count + r->config.append_entries_max, sizeof *r->message_entries);
        struct raft_entry *out = &r->message_entries[r->message_entries_count];
        int rc = raft_log_entries(r, p->next_index, last + 1, budget, out,
                                  r->config.append_entries_max, &count);
        if (rc == ETHER_ERR_BELOW_START) {
            raft_snapshot_send_start(r, p);
            return;
        }
        if (rc != ETHER_OK) {
            return; /* storage trouble: retried on the next heartbeat */
        }
        for (size_t i = 0; i < count; i++) {
            ETHER_ASSERT(out[i].index == p->next_index + i);
            bytes += out[i].data_bytes;
        }
    }
    if (count == 0 && !allow_empty) {
        return;
    }
    struct raft_message *m = raft_message_new(r, RAFT_MSG_APPEND_REQ, p->id);
    m->index = prev;
    m->log_term = prev_term;
    m->commit_index = r->commit_index;
    m->entries_count = (uint32_t)count;
    r->message_entries_count += count;
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        if (count > 0) {
            p->next_index = prev + count + 1;
            raft_progress_inflight_add(r, p, prev + count, bytes);
        }
    } else {
        p->probe_sent = true;
    }
}

void raft_send_appends_while_possible(struct raft *r, struct raft_progress *p)
{
    uint64_t last = raft_log_last_index(r);
    if (p->state != RAFT_PROGRESS_REPLICATE) {
        raft_send_append(r, p, false);
        return;
    }
    while (p->next_index <= last && !raft_progress_inflight_full(r, p)) {
        uint64_t next_before = p->next_index;
        raft_send_append(r, p, false);
        if (p->next_index == next_before || p->state != RAFT_PROGRESS_REPLICATE) {
            break;
        }
    }
    ETHER_ASSERT(p->next_index <= last + 1 || p->state != RAFT_PROGRESS_REPLICATE);
}

void raft_broadcast_append(struct raft *r)
{
    ETHER_ASSERT(r->role == RAFT_LEADER);
    uint64_t last = raft_log_last_index(r);
    for (uint32_t i = 0; i < r->progress_count; i++) {
        struct raft_progress *p = &r->progress[i];
        if (p->id == r->config.id) {
            continue;
        }
        if (p->state == RAFT_PROGRESS_REPLICATE && p->next_index <= last) {
            raft_send_appends_while_possible(r, p);
        } else {
            raft_send_append(r, p, true); /* also carries the new commit index */
        }
    }
}

void raft_broadcast_heartbeat(struct raft *r, uint64_t round)
{
    ETHER_ASSERT(r->role == RAFT_LEADER);
    ETHER_ASSERT(round == r->read_round);
    for (uint32_t i = 0; i < r->progress_count; i++) {
        struct raft_progress *p = &r->progress[i];
        if (p->id == r->config.id) {
            continue;
        }
        struct raft_message *m = raft_message_new(r, RAFT_MSG_HEARTBEAT_REQ, p->id);
        m->commit_index = p->match_index < r->commit_index ? p->match_index : r->commit_index;
        m->context = round;
    }
    /* Any read request arriving from now on needs a later heartbeat. */
    r->read_broadcast_pending = false;
}

void raft_tick_leader(struct raft *r)
{
    ETHER_ASSERT(r->role == RAFT_LEADER);
    uint32_t timeout = r->config.election_timeout_ticks;
    r->heartbeat_elapsed_ticks++;
    r->election_elapsed_ticks++;
    if (r->election_elapsed_ticks >= timeout) {
        r->election_elapsed_ticks = 0;
        if (r->config.check_quorum) {
            if (!raft_quorum_active(r)) {
                raft_become_follower(r, r->term, RAFT_ID_NONE);
                return;
            }
            for (uint32_t i = 0; i < r->progress_count; i++) {
                r->progress[i].recent_active = r->progress[i].id == r->config.id;
            }
        }
    }
    if (r->transfer_target != RAFT_ID_NONE && ++r->transfer_elapsed_ticks >= timeout) {
        raft_transfer_abort(r);
    }
    for (uint32_t i = 0; i < r->progress_count; i++) {
        struct raft_progress *p = &r->progress[i];
        if (p->id == r->config.id) {
            continue;
        }
        bool waiting = (p->state == RAFT_PROGRESS_REPLICATE && p->inflight_count > 0) ||
                       (p->state == RAFT_PROGRESS_SNAPSHOT && p->probe_sent);
        p->response_wait_ticks = waiting ? p->response_wait_ticks + 1 : 0;
        if (p->response_wait_ticks < timeout) {
            continue;
        }
        p->response_wait_ticks = 0;
        if (p->state == RAFT_PROGRESS_REPLICATE) {
            raft_progress_become_probe(p, p->match_index + 1); /* messages were lost */
        } else {
            p->snapshot_offset_bytes = 0; /* restart the transfer */
            p->probe_sent = false;
        }
        raft_send_append(r, p, true);
    }
    if (r->heartbeat_elapsed_ticks >= r->config.heartbeat_ticks) {
        r->heartbeat_elapsed_ticks = 0;
        raft_broadcast_heartbeat(r, r->read_round);
    }
}

static void reject_append(struct raft *r, struct raft_message *reply, uint64_t prev)
{
    uint64_t last = raft_log_last_index(r);
    reply->reject = true;
    reply->index = prev;
    if (prev > last) {
        reply->reject_hint_index = last + 1;
        reply->reject_hint_term = 0;
        return;
    }
    uint64_t term = 0;
    if (raft_log_term_at(r, prev, &term) != ETHER_OK) {
        reply->reject_hint_index = r->commit_index + 1;
        reply->reject_hint_term = 0;
        return;
    }
    uint64_t low = r->commit_index + 1;
    uint64_t first = raft_log_first_index(r);
    low = low < first ? first : low;
    low = low > prev ? prev : low;
    reply->reject_hint_term = term;
    reply->reject_hint_index = raft_log_first_index_of_term(r, low, prev, term);
    ETHER_ASSERT(reply->reject_hint_index <= prev);
}

void raft_recv_append_request(struct raft *r, const struct raft_message *m)
{
    ETHER_ASSERT(m->term == r->term);
    if (r->role == RAFT_LEADER) {
        return; /* two leaders in one term cannot happen; a forged message */
    }
    if (r->role != RAFT_FOLLOWER) {
        raft_become_follower(r, m->term, m->from);
    }
    r->leader_id = m->from;
    r->election_elapsed_ticks = 0;
    struct raft_message *reply = raft_message_new(r, RAFT_MSG_APPEND_RESP, m->from);
    uint64_t prev = m->index;
    uint64_t prev_term = m->log_term;
    const struct raft_entry *entries = m->entries;
    size_t count = m->entries_count;
    uint64_t last_new = m->index + m->entries_count;
    if (prev < r->commit_index) {
        /* Entries up to our commit index match by the Log Matching property. */
        if (last_new <= r->commit_index) {
            reply->index = r->commit_index;
            return;
        }
        size_t skip = (size_t)(r->commit_index - prev);
        prev = r->commit_index;
        prev_term = entries[skip - 1].term;
        entries += skip;
        count -= skip;
    }
    uint64_t term = 0;
    if (raft_log_term_at(r, prev, &term) != ETHER_OK || term != prev_term) {
        reject_append(r, reply, prev);
        return;
    }
    size_t i = 0;
    uint64_t last = raft_log_last_index(r);
    for (; i < count && entries[i].index <= last; i++) {
        uint64_t existing = 0;
        if (raft_log_term_at(r, entries[i].index, &existing) != ETHER_OK ||
            existing != entries[i].term) {
            raft_log_truncate_from(r, entries[i].index);
            break;
        }
    }
    if (i < count) {
        raft_log_append_unstable(r, entries + i, count - i);
        r->idle_ticks = 0;
        for (; i < count; i++) {
            if (entries[i].type == RAFT_ENTRY_CONFIG) {
                struct raft_configuration configuration;
                int rc = raft_configuration_decode(entries[i].data, entries[i].data_bytes,
                                                   &configuration);
                ETHER_ASSERT(rc == ETHER_OK); /* validated in raft_step */
                raft_configuration_apply(r, &configuration, entries[i].index);
            }
        }
    }
    uint64_t commit = m->commit_index < last_new ? m->commit_index : last_new;
    if (commit > r->commit_index) {
        r->commit_index = commit;
    }
    reply->index = last_new;
    ETHER_ASSERT(r->commit_index <= raft_log_last_index(r));
}

/* Where to probe next after `m` rejected prev index m->index. */
static uint64_t next_from_hint(struct raft *r, const struct raft_progress *p,
                               const struct raft_message *m)
{
    uint64_t rejected = m->index;
    uint64_t next;
    if (m->reject_hint_term == 0) {
        next = m->reject_hint_index;
    } else {
        uint64_t low = p->match_index;
        uint64_t first = raft_log_first_index(r);
        low = low < first - 1 ? first - 1 : low;
        low = low > rejected ? rejected : low;
        uint64_t j = raft_log_last_index_with_term_at_most(r, low, rejected, m->reject_hint_term);
        uint64_t term = 0;
        if (raft_log_term_at(r, j, &term) == ETHER_OK && term == m->reject_hint_term) {
            next = j + 1;
        } else {
            next = j + 1 < m->reject_hint_index ? j + 1 : m->reject_hint_index;
        }
    }
    if (next > rejected) {
        next = rejected;
    }
    if (next <= p->match_index) {
        next = p->match_index + 1;
    }
    ETHER_ASSERT(next >= 1);
    return next;
}

void raft_recv_append_response(struct raft *r, const struct raft_message *m)
{
    struct raft_progress *p = raft_progress_find(r, m->from);
    if (r->role != RAFT_LEADER || p == NULL || p->id == r->config.id) {
        return;
    }
    p->recent_active = true;
    uint64_t last = raft_log_last_index(r);
    if (m->reject) {
        if (p->state == RAFT_PROGRESS_SNAPSHOT ||
            (p->state == RAFT_PROGRESS_REPLICATE && m->index <= p->match_index) ||
            (p->state == RAFT_PROGRESS_PROBE && m->index != p->next_index - 1) || m->index == 0) {
            return; /* stale */
        }
        p->response_wait_ticks = 0;
        raft_progress_become_probe(p, next_from_hint(r, p, m));
        raft_send_append(r, p, true);
        return;
    }
    if (m->index > last) {
        return; /* acknowledges entries we never had: forged */
    }
    p->response_wait_ticks = 0;
    if (m->index > p->match_index) {
        p->match_index = m->index;
        if (p->state == RAFT_PROGRESS_REPLICATE) {
            raft_progress_inflight_free_to(r, p, m->index);
            if (p->next_index <= p->match_index) {
                p->next_index = p->match_index + 1;
            }
        } else {
            raft_progress_become_replicate(p);
        }
        raft_maybe_commit(r);
        if (r->role != RAFT_LEADER) {
            return; /* stepped down after committing its own removal */
        }
        raft_transfer_maybe_send_timeout_now(r, p);
        uint64_t id = p->id;
        raft_maybe_promote_learner(r, p);
        p = raft_progress_find(r, id); /* a promotion rebuilds the progress array */
        ETHER_ASSERT(p != NULL);
    } else if (p->state == RAFT_PROGRESS_PROBE && m->index == p->match_index) {
        raft_progress_become_replicate(p); /* the probe found the match point */
    }
    raft_send_appends_while_possible(r, p);
}

static void insertion_sort_descending(uint64_t *values, size_t count)
{
    for (size_t i = 1; i < count; i++) {
        uint64_t value = values[i];
        size_t j = i;
        while (j > 0 && values[j - 1] < value) {
            values[j] = values[j - 1];
            j--;
        }
        values[j] = value;
    }
}

void raft_maybe_commit(struct raft *r)
{
    ETHER_ASSERT(r->role == RAFT_LEADER);
    uint64_t matches[RAFT_SERVERS_MAX];
    size_t count = 0;
    for (uint32_t i = 0; i < r->progress_count; i++) {
        const struct raft_progress *p = &r->progress[i];
        if (p->role == RAFT_VOTER) {
            matches[count++] = p->id == r->config.id ? r->stable_last_index : p->match_index;
        }
    }
    if (count == 0) {
        return;
    }
    insertion_sort_descending(matches, count);
    uint64_t quorum_index = matches[raft_quorum_size(r) - 1];
    if (quorum_index <= r->commit_index) {
        return;
    }
    uint64_t term = 0;
    int rc = raft_log_term_at(r, quorum_index, &term);
#ifdef RAFT_BUG_COMMIT_PREVIOUS_TERM
    if (rc == ETHER_OK && term > 0) {
#else
    if (rc == ETHER_OK && term == r->term) {
#endif
        r->commit_index = quorum_index;
        r->broadcast_pending = true;
        ETHER_ASSERT(r->commit_index <= raft_log_last_index(r));
        raft_maybe_step_down_removed(r);
    }
}

void raft_recv_heartbeat_request(struct raft *r, const struct raft_message *m)
{
    ETHER_ASSERT(m->term == r->term);
    if (r->role == RAFT_LEADER) {
        return;
    }
    if (r->role != RAFT_FOLLOWER) {
        raft_become_follower(r, m->term, m->from);
    }
    r->leader_id = m->from;
    r->election_elapsed_ticks = 0;
    uint64_t last = raft_log_last_index(r);
    uint64_t commit = m->commit_index < last ? m->commit_index : last;
    if (commit > r->commit_index) {
        r->commit_index = commit;
    }
    struct raft_message *reply = raft_message_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    reply->context = m->context;
    reply->index = last;
}

void raft_recv_heartbeat_response(struct raft *r, const struct raft_message *m)
{
    struct raft_progress *p = raft_progress_find(r, m->from);
    if (r->role != RAFT_LEADER || p == NULL || p->id == r->config.id) {
        return;
    }
    p->recent_active = true;
    if (m->context > p->read_round_acked && m->context <= r->read_round) {
        p->read_round_acked = m->context;
        raft_reads_on_heartbeat_ack(r);
    }
    if (p->state == RAFT_PROGRESS_PROBE) {
        p->probe_sent = false;
    }
    if (p->match_index < raft_log_last_index(r)) {
        raft_send_append(r, p, false);
    }
}
