/*
 * progress.c: what the leader knows about each member's log (match and next
 * index, probe/replicate/snapshot state) and the bounded window of
 * AppendEntries in flight to it.
 *
 * The in-flight window is a ring of (last index, bytes) per message, freed
 * cumulatively by acknowledgements. It is allocated when the first pipelined
 * message goes out and released when the member is idle, so an idle group
 * holds no rings.
 */
#include "common/mem.h"
#include "raft/raft_internal.h"

#include <string.h>

struct raft_progress *raft_progress_find(struct raft *r, uint64_t id)
{
    int i = raft_configuration_find(&r->configuration, id);
    if (i < 0) {
        return NULL;
    }
    ETHER_ASSERT((uint32_t)i < r->progress_count);
    ETHER_ASSERT(r->progress[i].id == id);
    return &r->progress[i];
}

bool raft_is_voter(const struct raft *r, uint64_t id)
{
    int i = raft_configuration_find(&r->configuration, id);
    return i >= 0 && r->configuration.servers[i].role == RAFT_VOTER;
}

size_t raft_quorum_size(const struct raft *r)
{
    uint32_t voters = raft_configuration_voters_count(&r->configuration);
    ETHER_ASSERT(voters <= RAFT_SERVERS_MAX);
    return voters / 2 + 1;
}

bool raft_quorum_active(const struct raft *r)
{
    size_t active = 0;
    for (uint32_t i = 0; i < r->progress_count; i++) {
        const struct raft_progress *p = &r->progress[i];
        if (p->role != RAFT_VOTER) {
            continue;
        }
        if (p->id == r->config.id || p->recent_active) {
            active++;
        }
    }
    ETHER_ASSERT(r->progress_count == r->configuration.servers_count);
    return active >= raft_quorum_size(r);
}

static void progress_init(struct raft_progress *p, const struct raft_server *server,
                          uint64_t next_index)
{
    memset(p, 0, sizeof *p);
    p->id = server->id;
    p->role = server->role;
    p->state = RAFT_PROGRESS_PROBE;
    p->next_index = next_index;
    p->recent_active = true;
    ETHER_ASSERT(p->next_index >= 1);
}

void raft_progress_rebuild(struct raft *r, const struct raft_configuration *old)
{
    uint32_t count = r->configuration.servers_count;
    struct raft_progress *fresh = count > 0 ? ether_calloc(count, sizeof *fresh) : NULL;
    uint64_t next = raft_log_last_index(r) + 1;
    for (uint32_t i = 0; i < count; i++) {
        const struct raft_server *server = &r->configuration.servers[i];
        int old_i = old != NULL ? raft_configuration_find(old, server->id) : -1;
        if (old_i >= 0 && (uint32_t)old_i < r->progress_count) {
            ETHER_ASSERT(r->progress[old_i].id == server->id);
            fresh[i] = r->progress[old_i];
            fresh[i].role = server->role;
            r->progress[old_i].inflights = NULL; /* moved to fresh[i] */
        } else {
            progress_init(&fresh[i], server, next);
        }
    }
    raft_progress_free(r);
    r->progress = fresh;
    r->progress_count = count;
}

void raft_progress_free(struct raft *r)
{
    for (uint32_t i = 0; i < r->progress_count; i++) {
        ether_free(r->progress[i].inflights);
    }
    ether_free(r->progress);
    r->progress = NULL;
    r->progress_count = 0;
}

void raft_progress_reset_for_leader(struct raft *r)
{
    uint64_t next = raft_log_last_index(r) + 1;
    for (uint32_t i = 0; i < r->progress_count; i++) {
        struct raft_progress *p = &r->progress[i];
        struct raft_inflight *inflights = p->inflights;
        struct raft_server server = {.id = p->id, .role = p->role};
        progress_init(p, &server, next);
        p->inflights = inflights;
        if (p->id == r->config.id) {
            p->match_index = raft_log_stable_tail(r);
        }
    }
    ETHER_ASSERT(next >= 1);
}

void raft_progress_inflight_reset(struct raft_progress *p)
{
    p->inflight_start = 0;
    p->inflight_count = 0;
    p->inflight_bytes = 0;
}

void raft_progress_inflight_release(struct raft_progress *p)
{
    ETHER_ASSERT(p->inflight_count == 0);
    ether_free(p->inflights);
    p->inflights = NULL;
}

void raft_progress_become_probe(struct raft_progress *p, uint64_t next_index)
{
    ETHER_ASSERT(next_index > p->match_index);
    p->state = RAFT_PROGRESS_PROBE;
    p->next_index = next_index;
    p->probe_sent = false;
    raft_progress_inflight_reset(p);
}

void raft_progress_become_replicate(struct raft_progress *p)
{
    p->state = RAFT_PROGRESS_REPLICATE;
    p->next_index = p->match_index + 1;
    p->probe_sent = false;
    raft_progress_inflight_reset(p);
    ETHER_ASSERT(p->next_index > p->match_index);
}

bool raft_progress_inflight_full(const struct raft *r, const struct raft_progress *p)
{
    ETHER_ASSERT(p->inflight_count <= r->config.inflight_messages_max);
    return p->inflight_count >= r->config.inflight_messages_max ||
           p->inflight_bytes >= r->config.inflight_bytes_max;
}

void raft_progress_inflight_add(struct raft *r, struct raft_progress *p, uint64_t last_index,
                                uint64_t bytes)
{
    uint32_t capacity = r->config.inflight_messages_max;
    ETHER_ASSERT(p->inflight_count < capacity);
    if (p->inflights == NULL) {
        p->inflights = ether_malloc(capacity * sizeof *p->inflights);
    }
    uint32_t slot = (p->inflight_start + p->inflight_count) % capacity;
    p->inflights[slot].last_index = last_index;
    p->inflights[slot].bytes = bytes;
    p->inflight_count++;
    p->inflight_bytes += bytes;
}

/* Frees every in-flight message whose last index is <= index; `capacity` is the ring size. */
static void inflight_free_to(struct raft_progress *p, uint64_t index, uint32_t capacity)
{
    while (p->inflight_count > 0) {
        const struct raft_inflight *first = &p->inflights[p->inflight_start];
        if (first->last_index > index) {
            break;
        }
        ETHER_ASSERT(p->inflight_bytes >= first->bytes);
        p->inflight_bytes -= first->bytes;
        p->inflight_start = (p->inflight_start + 1) % capacity;
        p->inflight_count--;
    }
    if (p->inflight_count == 0) {
        p->inflight_start = 0;
        p->inflight_bytes = 0;
    }
}

void raft_progress_inflight_free_to(const struct raft *r, struct raft_progress *p, uint64_t index)
{
    ETHER_ASSERT(p->inflight_count == 0 || p->inflights != NULL);
    inflight_free_to(p, index, r->config.inflight_messages_max);
}
