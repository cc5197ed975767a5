/*
 * group_assignor.c: range, roundrobin and sticky (see group_assignor.h).
 *
 * Every assignor works on one private view of the input: the members sorted by
 * member id (their "positions" 0..M-1), the distinct known topics sorted by
 * name, and every partition of those topics numbered globally in (topic,
 * partition) order, `base[t] + p`. An assignor only fills `owner[g]`, the
 * position of the member that gets global partition g (NO_OWNER when nobody
 * subscribes to its topic); view_finish turns that into every member's sorted
 * `assigned`. So nothing depends on the caller's order of `members`. When the
 * caller's `topics` repeats a name, its first entry counts and the others are
 * ignored.
 *
 * Sticky, in three steps:
 *   1. Keep. An owned partition is valid when its topic is known, it is below
 *      the topic's partition count and its member subscribes to the topic; it
 *      stays with that member. When several members claim the same partition,
 *      the one with the fewest valid claims keeps it, ties to the smaller
 *      member id (a member claiming more than others is the likely stale one,
 *      and this keeps the kept counts even).
 *   2. Quotas. N is the number of partitions someone subscribes to, M the
 *      number of members subscribed to at least one of them. Members sorted by
 *      kept count descending (ties: member id): the first N % M may hold
 *      ceil(N/M), the others floor(N/M) — giving the larger caps to the larger
 *      holders keeps the most. A member over its cap gives back the excess,
 *      highest-numbered first, among partitions of topics another member
 *      subscribes to (a partition only it subscribes to would come back).
 *   3. Hand out. Every partition without an owner, in order, goes to the member
 *      subscribed to its topic that is under its cap and holds the fewest (ties:
 *      member id); when no subscriber is under its cap, to the subscriber that
 *      holds the fewest.
 *
 * Guarantees of sticky. Always: every partition of a topic someone subscribes
 * to goes to exactly one of its subscribers, and a member keeps its valid
 * owned partitions up to its cap (plus those of topics only it subscribes to).
 * Homogeneous subscriptions (every member that can get a partition can get
 * every one of the N): every such member holds floor(N/M) or ceil(N/M), exactly
 * N % M of them ceil; and the number of partitions kept by their previous
 * owner (after step 1's choice among duplicate claims) is the largest of any
 * balanced assignment, sum over members of min(kept, cap). Heterogeneous
 * subscriptions: no balance promise beyond the caps being computed as if
 * subscriptions were identical; step 3's fallback can load a member past its
 * cap when it alone can take a partition, and a partition revoked in step 2 can
 * land on a member busier than an ideal assignment would choose.
 *
 * Cost: O(P * M) time for P partitions and M members, O(P + M * T) memory.
 * Pure, no failure modes (allocation failure aborts, see common/mem.h).
 */
#include "broker/group_assignor.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#define NO_OWNER SIZE_MAX

static const char *const assignor_names[] = {
    [GROUP_ASSIGNOR_RANGE] = "range",
    [GROUP_ASSIGNOR_ROUNDROBIN] = "roundrobin",
    [GROUP_ASSIGNOR_STICKY] = "sticky",
};

int group_assignor_parse(const char *name, enum group_assignor_kind *kind)
{
    ETHER_ASSERT(kind != NULL);
    if (name == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < sizeof assignor_names / sizeof assignor_names[0]; i++) {
        if (strcmp(name, assignor_names[i]) == 0) {
            *kind = (enum group_assignor_kind)i;
            return ETHER_OK;
        }
    }
    return ETHER_ERR_INVALID_ARGUMENT;
}

const char *group_assignor_name(enum group_assignor_kind kind)
{
    ETHER_ASSERT((size_t)kind < sizeof assignor_names / sizeof assignor_names[0]);
    return assignor_names[kind];
}

void group_assignor_member_clear(struct group_assignor_member *member)
{
    ETHER_ASSERT(member != NULL);
    ether_free(member->assigned);
    member->assigned = NULL;
    member->assigned_count = 0;
}

/* ---- the view ------------------------------------------------------------------------- */

struct view {
    struct group_assignor_member **members; /* sorted by member id */
    size_t members_count;
    const struct group_assignor_topic **topics; /* distinct, sorted by name */
    size_t topics_count;
    size_t *base;              /* topics_count + 1: first global partition of each, then P */
    bool *subscribed;          /* [position * topics_count + topic] */
    size_t *subscribers_count; /* per topic */
    size_t *owner;             /* per global partition: a position or NO_OWNER */
};

static int compare_members(const void *left, const void *right)
{
    const struct group_assignor_member *const *a = left;
    const struct group_assignor_member *const *b = right;
    return strcmp((*a)->member_id, (*b)->member_id);
}

/* By name, then by place in the caller's array so that the first of equal names leads. */
static int compare_topics(const void *left, const void *right)
{
    const struct group_assignor_topic *const *a = left;
    const struct group_assignor_topic *const *b = right;
    int order = strcmp((*a)->name, (*b)->name);
    if (order != 0) {
        return order;
    }
    return (*a < *b) ? -1 : (*a > *b) ? 1 : 0;
}

/* The index of the known topic called `name`, or NO_OWNER. */
static size_t topic_find(const struct view *view, const char *name)
{
    if (name == NULL) {
        return NO_OWNER;
    }
    size_t low = 0;
    size_t high = view->topics_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(name, view->topics[middle]->name);
        if (order == 0) {
            return middle;
        }
        if (order < 0) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    return NO_OWNER;
}

static bool is_subscribed(const struct view *view, size_t position, size_t topic)
{
    ETHER_ASSERT(position < view->members_count);
    ETHER_ASSERT(topic < view->topics_count);
    return view->subscribed[position * view->topics_count + topic];
}

static size_t partitions_total(const struct view *view)
{
    return view->base[view->topics_count];
}

static void view_init(struct view *view, const struct group_assignor_topic *topics,
                      size_t topics_count, struct group_assignor_member *members,
                      size_t members_count)
{
    ETHER_ASSERT(members_count > 0);
    view->members_count = members_count;
    view->members = ether_calloc(members_count, sizeof *view->members);
    for (size_t i = 0; i < members_count; i++) {
        ETHER_ASSERT(members[i].member_id != NULL);
        view->members[i] = &members[i];
    }
    qsort(view->members, members_count, sizeof *view->members, compare_members);
    for (size_t i = 1; i < members_count; i++) {
        ETHER_ASSERT(strcmp(view->members[i - 1]->member_id, view->members[i]->member_id) != 0);
    }

    const struct group_assignor_topic **sorted = ether_calloc(topics_count, sizeof *sorted);
    for (size_t i = 0; i < topics_count; i++) {
        ETHER_ASSERT(topics[i].name != NULL);
        sorted[i] = &topics[i];
    }
    qsort(sorted, topics_count, sizeof *sorted, compare_topics);
    size_t distinct = 0;
    for (size_t i = 0; i < topics_count; i++) {
        if (distinct == 0 || strcmp(sorted[distinct - 1]->name, sorted[i]->name) != 0) {
            sorted[distinct++] = sorted[i];
        }
    }
    view->topics = sorted;
    view->topics_count = distinct;

    view->base = ether_calloc(distinct + 1, sizeof *view->base);
    for (size_t t = 0; t < distinct; t++) {
        ETHER_ASSERT(view->base[t] <= SIZE_MAX - 1 - sorted[t]->partitions_count);
        view->base[t + 1] = view->base[t] + sorted[t]->partitions_count;
    }

    view->subscribed = ether_calloc(members_count, distinct * sizeof(bool));
    view->subscribers_count = ether_calloc(distinct, sizeof *view->subscribers_count);
    for (size_t m = 0; m < members_count; m++) {
        const struct group_assignor_member *member = view->members[m];
        for (size_t i = 0; i < member->topics_count; i++) {
            size_t t = topic_find(view, member->topics[i]);
            if (t != NO_OWNER && !view->subscribed[m * distinct + t]) {
                view->subscribed[m * distinct + t] = true;
                view->subscribers_count[t]++;
            }
        }
    }

    view->owner = ether_calloc(partitions_total(view), sizeof *view->owner);
    for (size_t g = 0; g < partitions_total(view); g++) {
        view->owner[g] = NO_OWNER;
    }
}

static void view_free(struct view *view)
{
    ether_free(view->owner);
    ether_free(view->subscribers_count);
    ether_free(view->subscribed);
    ether_free(view->base);
    ether_free(view->topics);
    ether_free(view->members);
}

/* Fills every member's `assigned` from `owner`, in (topic, partition) order. */
static void view_finish(const struct view *view)
{
    size_t *counts = ether_calloc(view->members_count, sizeof *counts);
    for (size_t t = 0; t < view->topics_count; t++) {
        for (size_t g = view->base[t]; g < view->base[t + 1]; g++) {
            size_t m = view->owner[g];
            ETHER_ASSERT((m == NO_OWNER) == (view->subscribers_count[t] == 0));
            if (m != NO_OWNER) {
                ETHER_ASSERT(is_subscribed(view, m, t));
                counts[m]++;
            }
        }
    }
    for (size_t m = 0; m < view->members_count; m++) {
        struct group_assignor_member *member = view->members[m];
        member->assigned = counts[m] > 0 ? ether_calloc(counts[m], sizeof *member->assigned) : NULL;
        member->assigned_count = 0;
    }
    for (size_t t = 0; t < view->topics_count; t++) {
        for (size_t g = view->base[t]; g < view->base[t + 1]; g++) {
            if (view->owner[g] == NO_OWNER) {
                continue;
            }
            struct group_assignor_member *member = view->members[view->owner[g]];
            member->assigned[member->assigned_count].topic = view->topics[t]->name;
            member->assigned[member->assigned_count].partition = (uint32_t)(g - view->base[t]);
            member->assigned_count++;
        }
    }
    for (size_t m = 0; m < view->members_count; m++) {
        ETHER_ASSERT(view->members[m]->assigned_count == counts[m]);
    }
    ether_free(counts);
}

/* ---- range and roundrobin ------------------------------------------------------------- */

static void assign_range(struct view *view)
{
    for (size_t t = 0; t < view->topics_count; t++) {
        size_t subscribers = view->subscribers_count[t];
        if (subscribers == 0) {
            continue;
        }
        size_t count = view->base[t + 1] - view->base[t];
        size_t next = view->base[t];
        size_t rank = 0;
        for (size_t m = 0; m < view->members_count; m++) {
            if (!is_subscribed(view, m, t)) {
                continue;
            }
            size_t take = count / subscribers + (rank < count % subscribers ? 1 : 0);
            for (size_t i = 0; i < take; i++) {
                view->owner[next++] = m;
            }
            rank++;
        }
        ETHER_ASSERT(rank == subscribers);
        ETHER_ASSERT(next == view->base[t + 1]);
    }
}

static void assign_roundrobin(struct view *view)
{
    size_t cursor = 0;
    for (size_t t = 0; t < view->topics_count; t++) {
        if (view->subscribers_count[t] == 0) {
            continue;
        }
        for (size_t g = view->base[t]; g < view->base[t + 1]; g++) {
            while (!is_subscribed(view, cursor, t)) {
                cursor = (cursor + 1) % view->members_count;
            }
            view->owner[g] = cursor;
            cursor = (cursor + 1) % view->members_count;
        }
    }
}

/* ---- sticky --------------------------------------------------------------------------- */

/* The global partition `owned` names, if valid for the member at `position`, else NO_OWNER. */
static size_t owned_partition(const struct view *view, size_t position,
                              const struct group_topic_partition *owned)
{
    size_t t = topic_find(view, owned->topic);
    if (t == NO_OWNER || !is_subscribed(view, position, t)) {
        return NO_OWNER;
    }
    if (owned->partition >= view->topics[t]->partitions_count) {
        return NO_OWNER;
    }
    return view->base[t] + owned->partition;
}

/* Step 1: `owner` and `counts` get the kept partitions. */
static void sticky_keep(struct view *view, size_t *counts)
{
    size_t *claims = ether_calloc(view->members_count, sizeof *claims);
    /* Distinct valid claims per member; `owner` marks the last claimant meanwhile. */
    for (size_t m = 0; m < view->members_count; m++) {
        const struct group_assignor_member *member = view->members[m];
        for (size_t i = 0; i < member->owned_count; i++) {
            size_t g = owned_partition(view, m, &member->owned[i]);
            if (g != NO_OWNER && view->owner[g] != m) {
                view->owner[g] = m;
                claims[m]++;
            }
        }
    }
    for (size_t g = 0; g < partitions_total(view); g++) {
        view->owner[g] = NO_OWNER;
    }
    /* In member id order, a claimant replaces one with strictly more claims. */
    for (size_t m = 0; m < view->members_count; m++) {
        const struct group_assignor_member *member = view->members[m];
        for (size_t i = 0; i < member->owned_count; i++) {
            size_t g = owned_partition(view, m, &member->owned[i]);
            if (g == NO_OWNER || view->owner[g] == m) {
                continue;
            }
            size_t holder = view->owner[g];
            if (holder == NO_OWNER || claims[m] < claims[holder]) {
                if (holder != NO_OWNER) {
                    counts[holder]--;
                }
                view->owner[g] = m;
                counts[m]++;
            }
        }
    }
    ether_free(claims);
}

struct holder_rank {
    size_t kept;
    size_t position;
};

static int compare_holder_ranks(const void *left, const void *right)
{
    const struct holder_rank *a = left;
    const struct holder_rank *b = right;
    if (a->kept != b->kept) {
        return a->kept > b->kept ? -1 : 1;
    }
    return a->position < b->position ? -1 : a->position > b->position ? 1 : 0;
}

/* Step 2: `caps` for every member, then the excess over them revoked. */
static void sticky_quotas(struct view *view, size_t *counts, size_t *caps)
{
    size_t partitions = 0;
    for (size_t t = 0; t < view->topics_count; t++) {
        if (view->subscribers_count[t] > 0) {
            partitions += view->base[t + 1] - view->base[t];
        }
    }
    struct holder_rank *ranks = ether_calloc(view->members_count, sizeof *ranks);
    size_t eligible = 0;
    for (size_t m = 0; m < view->members_count; m++) {
        bool can_hold = false;
        for (size_t t = 0; t < view->topics_count && !can_hold; t++) {
            can_hold = is_subscribed(view, m, t) && view->base[t + 1] > view->base[t];
        }
        caps[m] = 0;
        if (can_hold) {
            ranks[eligible].kept = counts[m];
            ranks[eligible].position = m;
            eligible++;
        } else {
            ETHER_ASSERT(counts[m] == 0);
        }
    }
    qsort(ranks, eligible, sizeof *ranks, compare_holder_ranks);
    for (size_t i = 0; i < eligible; i++) {
        caps[ranks[i].position] = partitions / eligible + (i < partitions % eligible ? 1 : 0);
    }
    ether_free(ranks);

    for (size_t t = view->topics_count; t-- > 0;) {
        if (view->subscribers_count[t] < 2) {
            continue;
        }
        for (size_t g = view->base[t + 1]; g-- > view->base[t];) {
            size_t m = view->owner[g];
            if (m != NO_OWNER && counts[m] > caps[m]) {
                view->owner[g] = NO_OWNER;
                counts[m]--;
            }
        }
    }
}

/* Step 3: every partition without an owner goes to a subscriber. */
static void sticky_hand_out(struct view *view, size_t *counts, const size_t *caps)
{
    for (size_t t = 0; t < view->topics_count; t++) {
        if (view->subscribers_count[t] == 0) {
            continue;
        }
        for (size_t g = view->base[t]; g < view->base[t + 1]; g++) {
            if (view->owner[g] != NO_OWNER) {
                continue;
            }
            size_t under_cap = NO_OWNER;
            size_t fewest = NO_OWNER;
            for (size_t m = 0; m < view->members_count; m++) {
                if (!is_subscribed(view, m, t)) {
                    continue;
                }
                if (counts[m] < caps[m] &&
                    (under_cap == NO_OWNER || counts[m] < counts[under_cap])) {
                    under_cap = m;
                }
                if (fewest == NO_OWNER || counts[m] < counts[fewest]) {
                    fewest = m;
                }
            }
            size_t chosen = under_cap != NO_OWNER ? under_cap : fewest;
            ETHER_ASSERT(chosen != NO_OWNER);
            view->owner[g] = chosen;
            counts[chosen]++;
        }
    }
}

static void assign_sticky(struct view *view)
{
    size_t *counts = ether_calloc(view->members_count, sizeof *counts);
    size_t *caps = ether_calloc(view->members_count, sizeof *caps);
    sticky_keep(view, counts);
    sticky_quotas(view, counts, caps);
    sticky_hand_out(view, counts, caps);
    ether_free(caps);
    ether_free(counts);
}

void group_assign(enum group_assignor_kind kind, const struct group_assignor_topic *topics,
                  size_t topics_count, struct group_assignor_member *members, size_t members_count)
{
    ETHER_ASSERT(topics != NULL || topics_count == 0);
    ETHER_ASSERT(members != NULL || members_count == 0);
    if (members_count == 0) {
        return;
    }
    struct view view;
    view_init(&view, topics, topics_count, members, members_count);
    switch (kind) {
    case GROUP_ASSIGNOR_RANGE:
        assign_range(&view);
        break;
    case GROUP_ASSIGNOR_ROUNDROBIN:
        assign_roundrobin(&view);
        break;
    case GROUP_ASSIGNOR_STICKY:
        assign_sticky(&view);
        break;
    default:
        ETHER_PANIC("unknown group assignor kind");
    }
    view_finish(&view);
    view_free(&view);
}
