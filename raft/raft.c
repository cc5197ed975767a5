/*
 * raft.c: creation, the input entry points (tick, step, propose), role
 * transitions, and the ready/advance handshake with the host.
 *
 * Happy path of one round: inputs change the in-memory state and queue
 * messages; raft_ready() flushes pending broadcasts and points the host at
 * unstable entries, the outbox and newly committed entries; raft_advance()
 * re-reads the storage's last index, marks entries applied and clears the
 * outbox. Failure path: raft_advance_failed() (disk full) rolls a follower
 * back to its durable log and makes a leader retry on the next tick.
 */
#include "common/error.h"
#include "common/mem.h"
#include "raft/raft_internal.h"

#include <stdio.h>
#include <string.h>

void *raft_array_grow(void *array, size_t *capacity, size_t needed, size_t element_bytes)
{
    if (needed <= *capacity) {
        return array;
    }
    /* Start exactly at the need (idle groups stay small), then double. */
    size_t grown = *capacity == 0 ? needed : *capacity * 2;
    while (grown < needed) {
        grown *= 2;
    }
    ETHER_ASSERT(grown <= SIZE_MAX / element_bytes);
    *capacity = grown;
    return ether_realloc(array, grown * element_bytes);
}

void raft_config_init(struct raft_config *config, uint64_t id,
                      const struct raft_log_storage *storage)
{
    memset(config, 0, sizeof *config);
    config->id = id;
    config->election_timeout_ticks = 10;
    config->heartbeat_ticks = 1;
    config->random_seed = id;
    config->inflight_messages_max = 64;
    config->inflight_bytes_max = 4u << 20;
    config->append_bytes_max = 1u << 20;
    config->append_entries_max = 4096;
    config->snapshot_chunk_bytes = 1u << 20;
    config->apply_bytes_max = 4u << 20;
    config->read_requests_max = 1024;
    config->log_trailing_entries_count = 1024;
    config->pre_vote = true;
    config->check_quorum = true;
    config->storage = storage;
}

static int config_check(const struct raft_config *config, const char **why)
{
    const struct raft_log_storage *s = config->storage;
    if (config->id == RAFT_ID_NONE) {
        *why = "node id must be nonzero";
    } else if (config->heartbeat_ticks == 0 ||
               config->heartbeat_ticks >= config->election_timeout_ticks) {
        *why = "heartbeat_ticks must be in [1, election_timeout_ticks)";
    } else if (config->election_timeout_ticks > UINT32_MAX / 2) {
        *why = "election_timeout_ticks is too large";
    } else if (config->inflight_messages_max == 0 || config->inflight_bytes_max == 0 ||
               config->append_bytes_max == 0 || config->append_entries_max == 0 ||
               config->snapshot_chunk_bytes == 0 || config->apply_bytes_max == 0 ||
               config->read_requests_max == 0) {
        *why = "limits must be nonzero";
    } else if (s == NULL || s->first_index == NULL || s->last_index == NULL || s->term_at == NULL ||
               s->entries == NULL || s->snapshot == NULL || s->snapshot_read == NULL ||
               s->configuration_at == NULL) {
        *why = "log storage is missing or incomplete";
    } else {
        return ETHER_OK;
    }
    return ETHER_ERR_INVALID_ARGUMENT;
}

static uint64_t prng_next(uint64_t *state)
{
    /* splitmix64: small, fast, good enough for timeouts. */
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void raft_election_timeout_reset(struct raft *r)
{
    uint32_t base = r->config.election_timeout_ticks;
    r->election_elapsed_ticks = 0;
    r->election_timeout_randomized_ticks = base + (uint32_t)(prng_next(&r->prng_state) % base);
    ETHER_ASSERT(r->election_timeout_randomized_ticks >= base);
    ETHER_ASSERT(r->election_timeout_randomized_ticks < 2 * base);
}

int raft_create(const struct raft_config *config, struct raft **out, char *errstr,
                size_t errstr_size)
{
    const char *why = NULL;
    int rc = config_check(config, &why);
    if (rc != ETHER_OK) {
        goto err;
    }
    const struct raft_log_storage *s = config->storage;
    struct raft_snapshot_meta snapshot;
    if (s->snapshot(s->context, &snapshot) != ETHER_OK) {
        why = "log storage cannot read its snapshot metadata";
        rc = ETHER_ERR_IO;
        goto err;
    }
    uint64_t last = s->last_index(s->context);
    uint64_t first = s->first_index(s->context);
    if (first == 0 || last + 1 < first || (snapshot.index > 0 && snapshot.index + 1 < first)) {
        why = "log storage bounds are inconsistent";
        rc = ETHER_ERR_CORRUPT;
        goto err;
    }
    if (config->applied_index > last || config->applied_index + 1 < first) {
        why = "applied_index must be within [first_index - 1, last_index]";
        rc = ETHER_ERR_INVALID_ARGUMENT;
        goto err;
    }
    struct raft *r = ether_calloc(1, sizeof *r);
    r->config = *config;
    r->storage = s;
    r->term = config->hard_state.term;
    r->vote = config->hard_state.vote;
    r->stable_last_index = last;
    r->commit_index =
        config->hard_state.commit_index < last ? config->hard_state.commit_index : last;
    if (r->commit_index < snapshot.index) {
        r->commit_index = snapshot.index;
    }
    if (r->commit_index < config->applied_index) {
        r->commit_index = config->applied_index;
    }
    r->applied_index = config->applied_index;
    r->applying_index = r->applied_index;
    r->prng_state = config->random_seed ^ (config->id * 0x9e3779b97f4a7c15u);
    r->role = RAFT_FOLLOWER;
    r->role_reported = RAFT_FOLLOWER;
    r->hard_state_persisted = (struct raft_hard_state){r->term, r->vote, r->commit_index};
    raft_configuration_recompute(r);
    r->configuration_changed = false;
    raft_election_timeout_reset(r);
    ETHER_ASSERT(r->applied_index <= r->commit_index);
    ETHER_ASSERT(r->commit_index <= raft_log_last_index(r));
    *out = r;
    return ETHER_OK;

err:
    if (errstr != NULL && errstr_size > 0) {
        snprintf(errstr, errstr_size, "raft: %s", why);
    }
    return rc;
}

void raft_destroy(struct raft *r)
{
    if (r == NULL) {
        return;
    }
    raft_progress_free(r);
    ether_free(r->config_entry_data);
    ether_free(r->retained_payloads);
    ether_free(r->unstable);
    ether_free(r->messages);
    ether_free(r->message_entries);
    ether_free(r->message_snapshots);
    ether_free(r->committed);
    ether_free(r->reads);
    ether_free(r->read_states);
    ether_free(r->incoming);
    ether_free(r);
}

/* ------------------------------------------------------------------------ */

struct raft_message *raft_message_new(struct raft *r, uint8_t type, uint64_t to)
{
    ETHER_ASSERT(to != r->config.id);
    ETHER_ASSERT(type >= RAFT_MSG_PRE_VOTE_REQ && type < RAFT_MSG_TYPE_COUNT);
    r->messages = raft_array_grow(r->messages, &r->messages_capacity, r->messages_count + 1,
                                  sizeof *r->messages);
    struct raft_message *m = &r->messages[r->messages_count++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->group_id = r->config.group_id;
    m->from = r->config.id;
    m->to = to;
    m->term = r->term;
    return m;
}

void raft_messages_drop(struct raft *r)
{
    r->messages_count = 0;
    r->message_entries_count = 0;
    r->message_snapshots_count = 0;
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader_id)
{
    ETHER_ASSERT(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = RAFT_ID_NONE;
        /* Messages of the old term are useless and may point at entries a new
         * leader is about to truncate: drop them (Raft tolerates loss). */
        raft_messages_drop(r);
    }
    if (r->role == RAFT_LEADER) {
        raft_reads_drop_all(r);
        for (uint32_t i = 0; i < r->progress_count; i++) {
            raft_progress_inflight_reset(&r->progress[i]);
        }
    }
    r->role = RAFT_FOLLOWER;
    r->leader_id = leader_id;
    r->transfer_target = RAFT_ID_NONE;
    r->broadcast_pending = false;
    r->read_broadcast_pending = false;
    raft_election_timeout_reset(r);
    ETHER_ASSERT(r->term == term);
}

void raft_become_leader(struct raft *r)
{
    ETHER_ASSERT(r->role == RAFT_CANDIDATE);
    ETHER_ASSERT(r->vote == r->config.id);
    r->role = RAFT_LEADER;
    r->leader_id = r->config.id;
    r->heartbeat_elapsed_ticks = 0;
    r->election_elapsed_ticks = 0;
    r->transfer_target = RAFT_ID_NONE;
    r->read_round = 0;
    raft_progress_reset_for_leader(r);
    raft_append_own(r, RAFT_ENTRY_NOOP, NULL, 0);
    r->leader_noop_index = raft_log_last_index(r);
}

/* ------------------------------------------------------------------------ */

void raft_tick(struct raft *r)
{
    ETHER_ASSERT(!r->ready_outstanding);
    r->disk_retry_wait = false;
    r->idle_ticks++;
    if (r->idle_ticks % (2 * r->config.election_timeout_ticks) == 0) {
        /* Idle: give back buffers that only bursts need. */
        if (r->unstable_count == 0) {
            ether_free(r->unstable);
            r->unstable = NULL;
            r->unstable_capacity = 0;
        }
        if (r->messages_count == 0) {
            ether_free(r->messages);
            r->messages = NULL;
            r->messages_capacity = 0;
        }
        if (r->message_entries_count == 0) {
            ether_free(r->message_entries);
            r->message_entries = NULL;
            r->message_entries_capacity = 0;
        }
        if (r->message_snapshots_count == 0) {
            ether_free(r->message_snapshots);
            r->message_snapshots = NULL;
            r->message_snapshots_capacity = 0;
        }
        ether_free(r->committed);
        r->committed = NULL;
        r->committed_capacity = 0;
        raft_reads_free_if_idle(r);
        for (uint32_t i = 0; i < r->progress_count; i++) {
            if (r->progress[i].inflight_count == 0) {
                raft_progress_inflight_release(&r->progress[i]);
            }
        }
    }
    if (r->role == RAFT_LEADER) {
        raft_tick_leader(r);
    } else {
        raft_tick_election(r);
    }
}

static bool entries_valid(const struct raft_message *m)
{
    if (m->entries_count == 0) {
        return true;
    }
    if (m->entries == NULL || m->index > UINT64_MAX - m->entries_count) {
        return false;
    }
    uint64_t previous_term = m->log_term;
    for (uint32_t i = 0; i < m->entries_count; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->term < previous_term || e->term > m->term) {
            return false;
        }
        if (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_NOOP &&
            e->type != RAFT_ENTRY_CONFIG) {
            return false;
        }
        if (e->data_bytes > 0 && e->data == NULL) {
            return false;
        }
        struct raft_configuration decoded;
        if (e->type == RAFT_ENTRY_CONFIG &&
            raft_configuration_decode(e->data, e->data_bytes, &decoded) != ETHER_OK) {
            return false;
        }
        previous_term = e->term;
    }
    return true;
}

static bool message_valid(const struct raft_message *m)
{
    if (m->type < RAFT_MSG_PRE_VOTE_REQ || m->type >= RAFT_MSG_TYPE_COUNT) {
        return false;
    }
    if (m->from == RAFT_ID_NONE || m->from == m->to || m->term == 0) {
        return false;
    }
    if (m->type != RAFT_MSG_APPEND_REQ && m->entries_count > 0) {
        return false;
    }
    if (m->type == RAFT_MSG_APPEND_REQ && !entries_valid(m)) {
        return false;
    }
    if (m->type == RAFT_MSG_SNAPSHOT_REQ) {
        const struct raft_snapshot_meta *meta = m->snapshot;
        if (meta == NULL || meta->index == 0 || meta->term > m->term ||
            !raft_configuration_valid(&meta->configuration)) {
            return false;
        }
        if ((m->data_bytes > 0 && m->data == NULL) || m->offset_bytes > meta->size_bytes ||
            m->data_bytes > meta->size_bytes - m->offset_bytes) {
            return false;
        }
        if (m->snapshot_done && m->offset_bytes + m->data_bytes != meta->size_bytes) {
            return false;
        }
    }
    return true;
}

static bool is_from_leader(uint8_t type)
{
    return type == RAFT_MSG_APPEND_REQ || type == RAFT_MSG_HEARTBEAT_REQ ||
           type == RAFT_MSG_SNAPSHOT_REQ || type == RAFT_MSG_TIMEOUT_NOW;
}

int raft_step(struct raft *r, const struct raft_message *m)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (m->group_id != r->config.group_id || m->to != r->config.id) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (!message_valid(m)) {
        return ETHER_ERR_CORRUPT;
    }
    if (m->term > r->term) {
        bool vote_request = m->type == RAFT_MSG_PRE_VOTE_REQ || m->type == RAFT_MSG_VOTE_REQ;
        if (vote_request && (m->flags & RAFT_MESSAGE_FLAG_TRANSFER) == 0 && raft_in_lease(r)) {
            return ETHER_OK; /* we heard from a live leader recently: ignore the disruption */
        }
        bool pre_vote_term =
            m->type == RAFT_MSG_PRE_VOTE_REQ || (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject);
        if (!pre_vote_term) {
            raft_become_follower(r, m->term, is_from_leader(m->type) ? m->from : RAFT_ID_NONE);
        }
    } else if (m->term < r->term) {
        if ((r->config.check_quorum || r->config.pre_vote) &&
            (m->type == RAFT_MSG_APPEND_REQ || m->type == RAFT_MSG_HEARTBEAT_REQ)) {
            /* Tell a stale leader about the newer term so it steps down. */
            struct raft_message *reply = raft_message_new(r, RAFT_MSG_APPEND_RESP, m->from);
            reply->reject = true;
        } else if (m->type == RAFT_MSG_PRE_VOTE_REQ) {
            struct raft_message *reply = raft_message_new(r, RAFT_MSG_PRE_VOTE_RESP, m->from);
            reply->reject = true;
        }
        return ETHER_OK;
    }

    switch (m->type) {
    case RAFT_MSG_PRE_VOTE_REQ:
    case RAFT_MSG_VOTE_REQ:
        raft_recv_vote_request(r, m);
        break;
    case RAFT_MSG_PRE_VOTE_RESP:
    case RAFT_MSG_VOTE_RESP:
        raft_recv_vote_response(r, m);
        break;
    case RAFT_MSG_APPEND_REQ:
        raft_recv_append_request(r, m);
        break;
    case RAFT_MSG_HEARTBEAT_REQ:
        raft_recv_heartbeat_request(r, m);
        break;
    case RAFT_MSG_SNAPSHOT_REQ:
        raft_recv_snapshot_request(r, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        raft_recv_append_response(r, m);
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        raft_recv_heartbeat_response(r, m);
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        raft_recv_snapshot_response(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft_recv_timeout_now(r, m);
        break;
    default:
        ETHER_PANIC("message type was validated");
    }
    ETHER_ASSERT(r->commit_index <= raft_log_last_index(r));
    return ETHER_OK;
}

int raft_propose(struct raft *r, const uint8_t *const *datas, const uint32_t *datas_bytes,
                 size_t count, uint64_t *index_first, uint64_t *term, uint64_t *leader_hint)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (leader_hint != NULL) {
        *leader_hint = r->leader_id;
    }
    if (r->role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (r->transfer_target != RAFT_ID_NONE) {
        return ETHER_ERR_TRANSFER_IN_PROGRESS;
    }
    if (r->disk_full) {
        return ETHER_ERR_NO_SPACE;
    }
    if (count == 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    uint64_t first = raft_log_last_index(r) + 1;
    r->unstable = raft_array_grow(r->unstable, &r->unstable_capacity, r->unstable_count + count,
                                  sizeof *r->unstable);
    for (size_t i = 0; i < count; i++) {
        struct raft_entry *e = &r->unstable[r->unstable_count++];
        e->term = r->term;
        e->index = first + i;
        e->data = datas[i];
        e->data_bytes = datas_bytes[i];
        e->type = RAFT_ENTRY_NORMAL;
    }
    r->broadcast_pending = true;
    r->idle_ticks = 0;
    ETHER_ASSERT(raft_log_last_index(r) == first + count - 1);
    if (index_first != NULL) {
        *index_first = first;
    }
    if (term != NULL) {
        *term = r->term;
    }
    return ETHER_OK;
}

uint64_t raft_compact(struct raft *r, uint64_t snapshot_index)
{
    ETHER_ASSERT(!r->ready_outstanding);
    ETHER_ASSERT(snapshot_index <= r->applied_index);
    /* Queued messages may point at entries or snapshot data the host is about to
     * free: drop them (Raft tolerates loss) and make the leader resend promptly. */
    raft_messages_drop(r);
    for (uint32_t i = 0; r->role == RAFT_LEADER && i < r->progress_count; i++) {
        struct raft_progress *p = &r->progress[i];
        if (p->id == r->config.id) {
            continue;
        }
        if (p->state == RAFT_PROGRESS_REPLICATE) {
            raft_progress_become_probe(p, p->match_index + 1);
        } else {
            p->probe_sent = false;
        }
    }
    r->broadcast_pending = r->role == RAFT_LEADER;
    uint64_t trailing = r->config.log_trailing_entries_count;
    return snapshot_index > trailing ? snapshot_index - trailing : 0;
}

void raft_report_unreachable(struct raft *r, uint64_t id)
{
    ETHER_ASSERT(!r->ready_outstanding);
    struct raft_progress *p = raft_progress_find(r, id);
    if (r->role != RAFT_LEADER || p == NULL || id == r->config.id) {
        return;
    }
    if (p->state == RAFT_PROGRESS_REPLICATE) {
        raft_progress_become_probe(p, p->match_index + 1);
    }
}

void raft_campaign(struct raft *r)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (r->role == RAFT_LEADER || !raft_is_voter(r, r->config.id)) {
        return;
    }
    raft_campaign_start(r, r->config.pre_vote, false);
}

/* ------------------------------------------------------------------------ */

static uint64_t committed_high(const struct raft *r)
{
    if (r->incoming != NULL && r->incoming->install_pending) {
        return r->applied_index; /* the snapshot replaces whatever would be applied */
    }
    uint64_t tail = r->truncate_pending && r->truncate_after_index < r->stable_last_index
                        ? r->truncate_after_index
                        : r->stable_last_index;
    return r->commit_index < tail ? r->commit_index : tail;
}

bool raft_has_ready(const struct raft *r)
{
    if (r->messages_count > 0 || r->broadcast_pending || r->read_broadcast_pending ||
        r->configuration_changed || r->read_states_count > 0) {
        return true;
    }
    if ((r->unstable_count > 0 || r->truncate_pending) && !r->disk_retry_wait) {
        return true;
    }
    if (r->term != r->hard_state_persisted.term || r->vote != r->hard_state_persisted.vote) {
        return true;
    }
    if (r->incoming != NULL && (r->incoming->chunk_pending || r->incoming->install_pending)) {
        return true;
    }
    if (r->role != r->role_reported || r->leader_id != r->leader_reported) {
        return true;
    }
    if (committed_high(r) > r->applied_index) {
        return true;
    }
    return raft_reads_releasable(r, r->applied_index);
}

static void collect_committed(struct raft *r, struct raft_ready *out)
{
    uint64_t high = committed_high(r);
    r->applying_index = r->applied_index;
    if (high <= r->applied_index) {
        return;
    }
    uint64_t low = r->applied_index + 1;
    uint64_t wanted = high - low + 1;
    size_t count_max = wanted < 16384 ? (size_t)wanted : 16384;
    r->committed =
        raft_array_grow(r->committed, &r->committed_capacity, count_max, sizeof *r->committed);
    size_t count = 0;
    int rc = r->storage->entries(r->storage->context, low, high + 1, r->config.apply_bytes_max,
                                 r->committed, count_max, &count);
    if (rc != ETHER_OK) {
        return; /* retried on the next ready */
    }
    ETHER_ASSERT(count >= 1 && count <= count_max);
    ETHER_ASSERT(r->committed[0].index == low);
    out->committed_entries = r->committed;
    out->committed_entries_count = count;
    r->applying_index = r->committed[count - 1].index;
}

void raft_ready(struct raft *r, struct raft_ready *out)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (r->role == RAFT_LEADER && r->broadcast_pending) {
        raft_broadcast_append(r);
    }
    if (r->role == RAFT_LEADER && r->read_broadcast_pending) {
        raft_broadcast_heartbeat(r, r->read_round);
    }
    r->broadcast_pending = false;
    r->read_broadcast_pending = false;
    memset(out, 0, sizeof *out);

    struct raft_incoming_snapshot *incoming = r->incoming;
    if (incoming != NULL && incoming->chunk_pending) {
        out->snapshot_chunk_present = true;
        out->snapshot_chunk = incoming->chunk;
        out->snapshot_chunk.meta = &incoming->meta;
        incoming->chunk_pending = false;
    }
    if (incoming != NULL && incoming->install_pending) {
        out->snapshot_install = true;
        out->snapshot = &incoming->meta;
    }
    if (!r->disk_retry_wait) {
        if (r->truncate_pending && r->truncate_after_index < r->stable_last_index) {
            out->truncate = true;
            out->truncate_after_index = r->truncate_after_index;
        }
        out->entries = r->unstable;
        out->entries_count = r->unstable_count;
    }
    out->hard_state_changed =
        r->term != r->hard_state_persisted.term || r->vote != r->hard_state_persisted.vote;
    /* Only a commit index covered by entries already durable before this ready:
     * if this ready's entries are refused (disk full) or torn by a crash, a
     * restart must not treat a stale suffix as committed. */
    uint64_t durable_tail = raft_log_stable_tail(r);
    out->hard_state = (struct raft_hard_state){
        r->term, r->vote, r->commit_index < durable_tail ? r->commit_index : durable_tail};

    /* Point messages into the arenas, in creation order. */
    size_t entry_offset = 0;
    size_t snapshot_offset = 0;
    for (size_t i = 0; i < r->messages_count; i++) {
        struct raft_message *m = &r->messages[i];
        if (m->type == RAFT_MSG_APPEND_REQ && m->entries_count > 0) {
            m->entries = &r->message_entries[entry_offset];
            entry_offset += m->entries_count;
        }
        if (m->type == RAFT_MSG_SNAPSHOT_REQ) {
            m->snapshot = &r->message_snapshots[snapshot_offset++];
        }
    }
    ETHER_ASSERT(entry_offset == r->message_entries_count);
    ETHER_ASSERT(snapshot_offset == r->message_snapshots_count);
    out->messages = r->messages;
    out->messages_count = r->messages_count;

    collect_committed(r, out);
    raft_reads_release(r, r->applying_index);
    out->read_states = r->read_states;
    out->read_states_count = r->read_states_count;
    r->read_states_offered = r->read_states_count;

    out->role = (enum raft_role)r->role;
    out->leader_id = r->leader_id;
    out->term = r->term;
    out->role_changed = r->role != r->role_reported || r->leader_id != r->leader_reported;
    r->role_reported = r->role;
    r->leader_reported = r->leader_id;
    out->configuration_changed = r->configuration_changed;
    r->configuration_changed = false;
    r->ready_outstanding = true;
}

static void advance_snapshot(struct raft *r, const struct raft_ready *ready)
{
    if (!ready->snapshot_install) {
        return;
    }
    ETHER_ASSERT(r->incoming != NULL && r->incoming->install_pending);
    uint64_t index = r->incoming->meta.index;
    if (r->applied_index < index) {
        r->applied_index = index;
    }
    if (r->commit_index < index) {
        r->commit_index = index;
    }
    r->applying_index = r->applied_index;
    ether_free(r->incoming);
    r->incoming = NULL;
    r->truncate_pending = false;
    ETHER_ASSERT(r->storage->first_index(r->storage->context) >= index + 1 ||
                 r->storage->last_index(r->storage->context) >= index);
}

void raft_advance(struct raft *r, const struct raft_ready *ready)
{
    ETHER_ASSERT(r->ready_outstanding);
    r->ready_outstanding = false;
    uint64_t expected_last = r->stable_last_index;
    if (ready->snapshot_install) {
        expected_last = ready->snapshot->index;
    }
    advance_snapshot(r, ready); /* frees ready->snapshot */
    if (ready->truncate) {
        expected_last = ready->truncate_after_index;
    }
    if (ready->truncate || !r->disk_retry_wait) {
        r->truncate_pending = false; /* done, or a no-op (nothing durable past it) */
    }
    if (ready->entries_count > 0) {
        ETHER_ASSERT(ready->entries_count == r->unstable_count);
        expected_last = ready->entries[ready->entries_count - 1].index;
        r->unstable_count = 0;
        r->disk_full = false;
        ether_free(r->config_entry_data);
        r->config_entry_data = NULL;
        ether_free(r->retained_payloads);
        r->retained_payloads = NULL;
    }
    r->stable_last_index = r->storage->last_index(r->storage->context);
    ETHER_ASSERT(r->stable_last_index == expected_last);
    r->hard_state_persisted = ready->hard_state;
    if (ready->committed_entries_count > 0) {
        ETHER_ASSERT(ready->committed_entries[ready->committed_entries_count - 1].index ==
                     r->applying_index);
        r->applied_index = r->applying_index;
    }
    r->read_states_count = 0;
    r->read_states_offered = 0;
    raft_messages_drop(r);
    if (r->role == RAFT_LEADER) {
        struct raft_progress *self = raft_progress_find(r, r->config.id);
        if (self != NULL) {
            self->match_index = r->stable_last_index;
        }
        raft_maybe_commit(r);
    }
    ETHER_ASSERT(r->applied_index <= r->commit_index);
}

/* The host may free proposal payloads once this advance returns, but a leader
 * keeps its refused entries: give them payloads of their own (rare path). */
static void retain_unstable_payloads(struct raft *r)
{
    size_t bytes = 0;
    for (size_t i = 0; i < r->unstable_count; i++) {
        bytes += r->unstable[i].data_bytes;
    }
    uint8_t *copy = ether_malloc(bytes > 0 ? bytes : 1);
    size_t offset = 0;
    for (size_t i = 0; i < r->unstable_count; i++) {
        struct raft_entry *e = &r->unstable[i];
        if (e->data_bytes > 0) {
            memcpy(copy + offset, e->data, e->data_bytes);
            e->data = copy + offset;
            offset += e->data_bytes;
        }
    }
    ETHER_ASSERT(offset == bytes);
    ether_free(r->retained_payloads); /* after copying: entries may have pointed into it */
    r->retained_payloads = copy;
}

void raft_advance_failed(struct raft *r, const struct raft_ready *ready, int error)
{
    ETHER_ASSERT(r->ready_outstanding);
    ETHER_ASSERT(error == ETHER_ERR_NO_SPACE);
    r->ready_outstanding = false;
    advance_snapshot(r, ready);
    /* The snapshot (if any) is durable, the truncation and entries are not:
     * the storage's last index is now the durable tail the follower falls
     * back to (a stale value would drag commit below an installed snapshot). */
    r->stable_last_index = r->storage->last_index(r->storage->context);
    if (ready->entries_count > 0 || ready->truncate) {
        r->disk_full = true;
        if (r->role == RAFT_LEADER) {
            r->disk_retry_wait = true; /* keep the entries, retry after the next tick */
            retain_unstable_payloads(r);
        } else {
            uint64_t durable_match = raft_log_stable_tail(r);
            r->unstable_count = 0;
            r->truncate_pending = false;
            if (r->commit_index > durable_match) {
                r->commit_index = durable_match;
            }
        }
    }
    r->hard_state_persisted = ready->hard_state;
    r->applying_index = r->applied_index;
    r->read_states_offered = 0; /* offered again next time */
    raft_messages_drop(r);
    ETHER_ASSERT(r->applied_index <= r->commit_index);
    ETHER_ASSERT(r->commit_index <= raft_log_last_index(r));
}

/* ------------------------------------------------------------------------ */

void raft_status(const struct raft *r, struct raft_status *out)
{
    memset(out, 0, sizeof *out);
    out->id = r->config.id;
    out->role = (enum raft_role)r->role;
    out->term = r->term;
    out->vote = r->vote;
    out->leader_id = r->leader_id;
    out->commit_index = r->commit_index;
    out->applied_index = r->applied_index;
    out->first_index = raft_log_first_index(r);
    out->last_index = raft_log_last_index(r);
    out->configuration_index = r->configuration_index;
    out->transfer_target = r->transfer_target;
    out->disk_full = r->disk_full;
}

const struct raft_configuration *raft_configuration(const struct raft *r)
{
    return &r->configuration;
}

int raft_progress(const struct raft *r, uint64_t id, struct raft_progress_info *out)
{
    if (r->role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    int i = raft_configuration_find(&r->configuration, id);
    if (i < 0) {
        return ETHER_ERR_NOT_FOUND;
    }
    const struct raft_progress *p = &r->progress[i];
    memset(out, 0, sizeof *out);
    out->id = p->id;
    out->role = p->role;
    out->state = p->state;
    out->recent_active = p->recent_active;
    out->match_index = id == r->config.id ? r->stable_last_index : p->match_index;
    out->next_index = p->next_index;
    out->inflight_messages_count = p->inflight_count;
    out->inflight_bytes = p->inflight_bytes;
    return ETHER_OK;
}

size_t raft_memory_bytes(const struct raft *r)
{
    size_t bytes = sizeof *r;
    bytes += r->progress_count * sizeof *r->progress;
    for (uint32_t i = 0; i < r->progress_count; i++) {
        if (r->progress[i].inflights != NULL) {
            bytes += r->config.inflight_messages_max * sizeof *r->progress[i].inflights;
        }
    }
    bytes += r->unstable_capacity * sizeof *r->unstable;
    bytes += r->messages_capacity * sizeof *r->messages;
    bytes += r->message_entries_capacity * sizeof *r->message_entries;
    bytes += r->message_snapshots_capacity * sizeof *r->message_snapshots;
    bytes += r->committed_capacity * sizeof *r->committed;
    bytes += r->reads_capacity * sizeof *r->reads;
    bytes += r->read_states_capacity * sizeof *r->read_states;
    bytes += r->incoming != NULL ? sizeof *r->incoming : 0;
    bytes += r->config_entry_data != NULL ? RAFT_CONFIGURATION_ENCODED_BYTES_MAX : 0;
    for (size_t i = 0; r->retained_payloads != NULL && i < r->unstable_count; i++) {
        bytes += r->unstable[i].data_bytes;
    }
    return bytes;
}

bool raft_message_may_send_before_persist(const struct raft_message *message)
{
    return message->type == RAFT_MSG_APPEND_REQ || message->type == RAFT_MSG_HEARTBEAT_REQ ||
           message->type == RAFT_MSG_SNAPSHOT_REQ;
}

bool raft_message_may_send_after_failed_persist(const struct raft_message *message)
{
    return message->type != RAFT_MSG_APPEND_RESP && message->type != RAFT_MSG_SNAPSHOT_RESP;
}

const char *raft_message_type_name(int type)
{
    static const char *const names[RAFT_MSG_TYPE_COUNT] = {
        [RAFT_MSG_PRE_VOTE_REQ] = "PRE_VOTE_REQ",   [RAFT_MSG_PRE_VOTE_RESP] = "PRE_VOTE_RESP",
        [RAFT_MSG_VOTE_REQ] = "VOTE_REQ",           [RAFT_MSG_VOTE_RESP] = "VOTE_RESP",
        [RAFT_MSG_APPEND_REQ] = "APPEND_REQ",       [RAFT_MSG_APPEND_RESP] = "APPEND_RESP",
        [RAFT_MSG_HEARTBEAT_REQ] = "HEARTBEAT_REQ", [RAFT_MSG_HEARTBEAT_RESP] = "HEARTBEAT_RESP",
        [RAFT_MSG_SNAPSHOT_REQ] = "SNAPSHOT_REQ",   [RAFT_MSG_SNAPSHOT_RESP] = "SNAPSHOT_RESP",
        [RAFT_MSG_TIMEOUT_NOW] = "TIMEOUT_NOW",
    };
    if (type <= 0 || type >= RAFT_MSG_TYPE_COUNT) {
        return "UNKNOWN";
    }
    return names[type];
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}
