/*
 * snapshot.c: InstallSnapshot in chunks, on both sides.
 *
 * Leader: a member whose next entry was compacted away enters SNAPSHOT state;
 * the leader reads the latest snapshot through the log storage and sends it
 * one chunk (snapshot_chunk_bytes) at a time, waiting for each answer. The
 * answer names the next offset the follower expects, so duplicates and gaps
 * resolve themselves; silence for an election timeout restarts at offset 0.
 * The last chunk's answer arrives after the follower installed it: the member
 * then continues from snapshot index + 1.
 *
 * Follower: chunks are accepted in order only (offset == bytes received so
 * far; offset 0 restarts) and handed to the host in the next ready; the last
 * one also asks the host to install. A snapshot the log already covers (at or
 * below the commit index, or whose last entry's index and term are in the
 * log: Raft Figure 13 step 6) is acknowledged as complete without transfer,
 * and a stale incoming one is dropped. An install discards the whole log, so
 * installing a covered snapshot would lose entries after it that this node
 * may already have acknowledged (and a leader counted towards a commit).
 */
#include "common/error.h"
#include "common/mem.h"
#include "raft/raft_internal.h"

#include <string.h>

void raft_snapshot_send_start(struct raft *r, struct raft_progress *p)
{
    struct raft_snapshot_meta meta;
    if (r->storage->snapshot(r->storage->context, &meta) != ETHER_OK || meta.index == 0) {
        return; /* nothing to send yet; retried on the next heartbeat answer */
    }
    ETHER_ASSERT(p->id != r->config.id);
    p->state = RAFT_PROGRESS_SNAPSHOT;
    p->snapshot_index = meta.index;
    p->snapshot_offset_bytes = 0;
    p->probe_sent = false;
    p->response_wait_ticks = 0;
    raft_progress_inflight_reset(p);
    raft_snapshot_send_chunk(r, p);
    ETHER_ASSERT(p->state == RAFT_PROGRESS_SNAPSHOT);
}

void raft_snapshot_send_chunk(struct raft *r, struct raft_progress *p)
{
    ETHER_ASSERT(p->state == RAFT_PROGRESS_SNAPSHOT);
    struct raft_snapshot_meta meta;
    if (r->storage->snapshot(r->storage->context, &meta) != ETHER_OK || meta.index == 0) {
        return;
    }
    if (meta.index != p->snapshot_index) {
        p->snapshot_index = meta.index; /* a newer snapshot replaced it: start over */
        p->snapshot_offset_bytes = 0;
    }
    if (p->snapshot_offset_bytes > meta.size_bytes) {
        p->snapshot_offset_bytes = 0;
    }
    const uint8_t *data = NULL;
    size_t data_bytes = 0;
    uint64_t remaining = meta.size_bytes - p->snapshot_offset_bytes;
    size_t want =
        (size_t)(remaining < r->config.snapshot_chunk_bytes ? remaining
                                                            : r->config.snapshot_chunk_bytes);
    if (want > 0 && r->storage->snapshot_read(r->storage->context, p->snapshot_offset_bytes, want,
                                              &data, &data_bytes) != ETHER_OK) {
        return;
    }
    ETHER_ASSERT(data_bytes <= want);
    r->message_snapshots =
        raft_array_grow(r->message_snapshots, &r->message_snapshots_capacity,
                        r->message_snapshots_count + 1, sizeof *r->message_snapshots);
    r->message_snapshots[r->message_snapshots_count++] = meta;
    struct raft_message *m = raft_message_new(r, RAFT_MSG_SNAPSHOT_REQ, p->id);
    m->index = meta.index;
    m->log_term = meta.term;
    m->commit_index = r->commit_index;
    m->offset_bytes = p->snapshot_offset_bytes;
    m->data = data;
    m->data_bytes = data_bytes;
    m->snapshot_done = p->snapshot_offset_bytes + data_bytes == meta.size_bytes;
    p->probe_sent = true;
}

void raft_recv_snapshot_response(struct raft *r, const struct raft_message *m)
{
    struct raft_progress *p = raft_progress_find(r, m->from);
    if (r->role != RAFT_LEADER || p == NULL || p->id == r->config.id) {
        return;
    }
    p->recent_active = true;
    if (p->state != RAFT_PROGRESS_SNAPSHOT || m->index != p->snapshot_index) {
        return; /* stale */
    }
    p->response_wait_ticks = 0;
    p->probe_sent = false;
    if (m->snapshot_done && !m->reject) {
        if (p->match_index < m->index) {
            p->match_index = m->index;
        }
        raft_progress_become_probe(p, p->match_index + 1);
        raft_send_append(r, p, true);
        return;
    }
    p->snapshot_offset_bytes = m->offset_bytes; /* where the follower wants us to continue */
    raft_snapshot_send_chunk(r, p);
}

/* Whether the log already holds everything a snapshot of (index, term) covers:
 * by the Log Matching property an entry with that index and term means the
 * same prefix. */
static bool log_covers_snapshot(const struct raft *r, uint64_t index, uint64_t term)
{
    if (index <= r->commit_index) {
        return true;
    }
    uint64_t existing = 0;
    return raft_log_term_at(r, index, &existing) == ETHER_OK && existing == term;
}

/* An incoming snapshot the log has caught up with must never be installed. */
static void drop_incoming_if_covered(struct raft *r)
{
    struct raft_incoming_snapshot *incoming = r->incoming;
    if (incoming == NULL || incoming->install_pending ||
        !log_covers_snapshot(r, incoming->meta.index, incoming->meta.term)) {
        return;
    }
    /* A chunk not yet handed out is simply never written; a partial one the
     * host holds is restarted by the next chunk at offset 0. */
    ether_free(incoming);
    r->incoming = NULL;
}

void raft_recv_snapshot_request(struct raft *r, const struct raft_message *m)
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
    const struct raft_snapshot_meta *meta = m->snapshot;
    struct raft_message *reply = raft_message_new(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
    reply->index = meta->index;
    drop_incoming_if_covered(r);
    if (log_covers_snapshot(r, meta->index, meta->term)) {
        /* Keep the log (its suffix may be acknowledged already) and let the
         * leader continue after the snapshot. The answer goes out only once
         * this ready is durable, so unstable entries it matched are covered. */
        if (r->commit_index < meta->index) {
            r->commit_index = meta->index; /* a snapshot holds committed entries only */
        }
        reply->snapshot_done = true;
        reply->offset_bytes = meta->size_bytes;
        ETHER_ASSERT(r->commit_index <= raft_log_last_index(r));
        return;
    }
    struct raft_incoming_snapshot *incoming = r->incoming;
    bool same = incoming != NULL && incoming->meta.index == meta->index &&
                incoming->meta.term == meta->term && incoming->meta.size_bytes == meta->size_bytes;
    if (incoming != NULL && (incoming->chunk_pending || incoming->install_pending)) {
        /* One chunk per ready; the leader resends after the answer or a timeout. */
        reply->reject = true;
        reply->offset_bytes = incoming->next_offset_bytes;
        reply->index = same ? meta->index : 0;
        return;
    }
    if (!same) {
        if (m->offset_bytes != 0) {
            reply->reject = true;
            reply->offset_bytes = 0;
            return;
        }
        if (incoming == NULL) {
            incoming = ether_malloc(sizeof *incoming);
            r->incoming = incoming;
        }
        memset(incoming, 0, sizeof *incoming);
        incoming->meta = *meta;
    } else if (m->offset_bytes != incoming->next_offset_bytes && m->offset_bytes != 0) {
        reply->reject = true;
        reply->offset_bytes = incoming->next_offset_bytes;
        return;
    }
    incoming->chunk.offset_bytes = m->offset_bytes;
    incoming->chunk.data = m->data;
    incoming->chunk.data_bytes = m->data_bytes;
    incoming->chunk.last = m->snapshot_done;
    incoming->chunk_pending = true;
    incoming->next_offset_bytes = m->offset_bytes + m->data_bytes;
    reply->offset_bytes = incoming->next_offset_bytes;
    if (m->snapshot_done) {
        /* The log is replaced by the snapshot once the host installs it: it
         * does not hold the snapshot's last entry, so nothing after it in the
         * log can have been committed (Log Matching). */
        ETHER_ASSERT(!log_covers_snapshot(r, meta->index, meta->term));
        incoming->install_pending = true;
        r->unstable_count = 0;
        r->truncate_pending = false;
        r->commit_index = meta->index;
        raft_configuration_apply(r, &meta->configuration, meta->index);
        reply->snapshot_done = true;
    }
    ETHER_ASSERT(incoming->next_offset_bytes <= incoming->meta.size_bytes);
}
