/*
 * membership.c: single-server membership changes (dissertation chapter 4).
 *
 * A configuration takes effect on a server as soon as its CONFIG entry is in
 * the server's log, committed or not; if the entry is truncated away, the
 * server falls back to the latest configuration still in its log (or its
 * snapshot). The leader accepts a new change only when the previous one is
 * committed and it has committed an entry of its own term (the fix for the
 * single-server change bug found after the dissertation).
 *
 * New servers join as learners; a learner is promoted by the host
 * (raft_propose_config_change PROMOTE, using raft_progress to judge
 * catch-up) or automatically when learner_promote_lag_entries is set. A
 * leader removed from the configuration keeps leading until the removal
 * commits, without counting itself, then steps down.
 */
#include "common/error.h"
#include "common/mem.h"
#include "raft/raft_internal.h"

#include <string.h>

void raft_configuration_apply(struct raft *r, const struct raft_configuration *configuration,
                              uint64_t index)
{
    ETHER_ASSERT(raft_configuration_valid(configuration));
    struct raft_configuration old = r->configuration;
    r->configuration = *configuration;
    r->configuration_index = index;
    r->configuration_changed = true;
    raft_progress_rebuild(r, &old);
    if (r->transfer_target != RAFT_ID_NONE && !raft_is_voter(r, r->transfer_target)) {
        raft_transfer_abort(r);
    }
    ETHER_ASSERT(r->progress_count == r->configuration.servers_count);
}

void raft_configuration_recompute(struct raft *r)
{
    /* The latest CONFIG entry still in the logical log, else the storage's answer. */
    for (size_t i = r->unstable_count; i > 0; i--) {
        const struct raft_entry *e = &r->unstable[i - 1];
        if (e->type == RAFT_ENTRY_CONFIG) {
            struct raft_configuration configuration;
            int rc = raft_configuration_decode(e->data, e->data_bytes, &configuration);
            ETHER_ASSERT(rc == ETHER_OK);
            raft_configuration_apply(r, &configuration, e->index);
            return;
        }
    }
    struct raft_configuration configuration;
    memset(&configuration, 0, sizeof configuration);
    uint64_t index = 0;
    if (r->incoming != NULL && r->incoming->install_pending) {
        configuration = r->incoming->meta.configuration;
        index = r->incoming->meta.index;
    } else {
        int rc = r->storage->configuration_at(r->storage->context, raft_log_stable_tail(r),
                                              &configuration, &index);
        if (rc != ETHER_OK) {
            memset(&configuration, 0, sizeof configuration);
            index = 0;
        }
    }
    raft_configuration_apply(r, &configuration, index);
}

static int change_configuration(const struct raft *r, enum raft_config_change change, uint64_t id,
                                struct raft_configuration *out)
{
    *out = r->configuration;
    int i = raft_configuration_find(out, id);
    switch (change) {
    case RAFT_CHANGE_ADD_LEARNER:
        if (i >= 0) {
            return ETHER_ERR_EXISTS;
        }
        if (out->servers_count == RAFT_SERVERS_MAX) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        out->servers[out->servers_count].id = id;
        out->servers[out->servers_count].role = RAFT_LEARNER;
        out->servers_count++;
        return ETHER_OK;
    case RAFT_CHANGE_PROMOTE:
        if (i < 0 || out->servers[i].role != RAFT_LEARNER) {
            return ETHER_ERR_NOT_FOUND;
        }
        out->servers[i].role = RAFT_VOTER;
        return ETHER_OK;
    case RAFT_CHANGE_REMOVE:
        if (i < 0) {
            return ETHER_ERR_NOT_FOUND;
        }
        if (out->servers[i].role == RAFT_VOTER && raft_configuration_voters_count(out) == 1) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        out->servers[i] = out->servers[out->servers_count - 1];
        out->servers_count--;
        return ETHER_OK;
    }
    return ETHER_ERR_INVALID_ARGUMENT;
}

int raft_propose_config_change(struct raft *r, enum raft_config_change change, uint64_t server_id,
                               uint64_t *index)
{
    ETHER_ASSERT(!r->ready_outstanding);
    if (r->role != RAFT_LEADER) {
        return ETHER_ERR_NOT_LEADER;
    }
    if (server_id == RAFT_ID_NONE) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (r->transfer_target != RAFT_ID_NONE) {
        return ETHER_ERR_TRANSFER_IN_PROGRESS;
    }
    if (r->configuration_index > r->commit_index || !raft_log_committed_in_term(r) ||
        r->config_entry_data != NULL) {
        return ETHER_ERR_CONFIG_CHANGE_IN_PROGRESS;
    }
    if (r->disk_full) {
        return ETHER_ERR_NO_SPACE;
    }
    struct raft_configuration next;
    int rc = change_configuration(r, change, server_id, &next);
    if (rc != ETHER_OK) {
        return rc;
    }
    r->config_entry_data = ether_malloc(RAFT_CONFIGURATION_ENCODED_BYTES_MAX);
    size_t bytes = raft_configuration_encode(&next, r->config_entry_data);
    raft_append_own(r, RAFT_ENTRY_CONFIG, r->config_entry_data, (uint32_t)bytes);
    uint64_t entry_index = raft_log_last_index(r);
    raft_configuration_apply(r, &next, entry_index);
    if (index != NULL) {
        *index = entry_index;
    }
    ETHER_ASSERT(r->configuration_index == entry_index);
    return ETHER_OK;
}

void raft_maybe_promote_learner(struct raft *r, struct raft_progress *p)
{
    uint64_t lag_max = r->config.learner_promote_lag_entries;
    if (lag_max == 0 || p->role != RAFT_LEARNER || r->role != RAFT_LEADER) {
        return;
    }
    uint64_t last = raft_log_last_index(r);
    if (last - p->match_index > lag_max) {
        return;
    }
    uint64_t id = p->id; /* p moves when the configuration changes */
    (void)raft_propose_config_change(r, RAFT_CHANGE_PROMOTE, id, NULL);
}

void raft_maybe_step_down_removed(struct raft *r)
{
    ETHER_ASSERT(r->role == RAFT_LEADER);
    if (r->configuration_index <= r->commit_index && !raft_is_voter(r, r->config.id)) {
        raft_become_follower(r, r->term, RAFT_ID_NONE);
    }
}
