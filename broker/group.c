/*
 * group.c: one consumer group's membership state machine (see group.h).
 */
#include "broker/group.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *group_state_name(enum group_state state)
{
    switch (state) {
    case GROUP_EMPTY:
        return "empty";
    case GROUP_PREPARING_REBALANCE:
        return "preparing-rebalance";
    case GROUP_COMPLETING_REBALANCE:
        return "completing-rebalance";
    case GROUP_STABLE:
        return "stable";
    }
    return "unknown";
}

/* ---- partition lists ---------------------------------------------------------------------- */

void group_partition_list_clear(struct group_partition_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        ether_free((char *)(uintptr_t)list->items[i].topic);
    }
    ether_free(list->items);
    list->items = NULL;
    list->count = 0;
}

static int compare_topic_partition(const void *a, const void *b)
{
    const struct group_topic_partition *left = a;
    const struct group_topic_partition *right = b;
    int by_topic = strcmp(left->topic, right->topic);
    if (by_topic != 0) {
        return by_topic;
    }
    return left->partition < right->partition ? -1 : left->partition > right->partition;
}

/* Replaces `list` with a sorted, duplicate-free copy of items[0, count). */
static void partition_list_set(struct group_partition_list *list,
                               const struct group_topic_partition *items, size_t count)
{
    group_partition_list_clear(list);
    if (count == 0) {
        return;
    }
    list->items = ether_calloc(count, sizeof *list->items);
    for (size_t i = 0; i < count; i++) {
        list->items[i].topic = ether_strdup(items[i].topic);
        list->items[i].partition = items[i].partition;
    }
    qsort(list->items, count, sizeof *list->items, compare_topic_partition);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept > 0 && compare_topic_partition(&list->items[kept - 1], &list->items[i]) == 0) {
            ether_free((char *)(uintptr_t)list->items[i].topic);
            continue;
        }
        list->items[kept++] = list->items[i];
    }
    list->count = kept;
}

static bool partition_list_contains(const struct group_partition_list *list,
                                    const struct group_topic_partition *wanted)
{
    return list->count > 0 && bsearch(wanted, list->items, list->count, sizeof *list->items,
                                      compare_topic_partition) != NULL;
}

/* ---- members ------------------------------------------------------------------------------ */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void member_set_topics(struct group_member *member, const char *const *topics,
                              size_t topics_count)
{
    for (size_t i = 0; i < member->topics_count; i++) {
        ether_free(member->topics[i]);
    }
    ether_free(member->topics);
    member->topics = ether_calloc(topics_count > 0 ? topics_count : 1, sizeof *member->topics);
    for (size_t i = 0; i < topics_count; i++) {
        member->topics[i] = ether_strdup(topics[i]);
    }
    qsort(member->topics, topics_count, sizeof *member->topics, compare_strings);
    size_t kept = 0;
    for (size_t i = 0; i < topics_count; i++) {
        if (kept > 0 && strcmp(member->topics[kept - 1], member->topics[i]) == 0) {
            ether_free(member->topics[i]);
            continue;
        }
        member->topics[kept++] = member->topics[i];
    }
    member->topics_count = kept;
}

static void member_free(struct group_member *member)
{
    ether_free(member->member_id);
    ether_free(member->client_id);
    ether_free(member->host);
    for (size_t i = 0; i < member->topics_count; i++) {
        ether_free(member->topics[i]);
    }
    ether_free(member->topics);
    group_partition_list_clear(&member->owned);
    group_partition_list_clear(&member->assignment);
    ether_free(member);
}

/* The position of member_id in the sorted members, or where it would go. */
static size_t member_position(const struct group *group, const char *member_id, bool *found)
{
    size_t low = 0;
    size_t high = group->members_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(group->members[middle]->member_id, member_id);
        if (order == 0) {
            *found = true;
            return middle;
        }
        if (order < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *found = false;
    return low;
}

struct group_member *group_member_find(const struct group *group, const char *member_id)
{
    bool found = false;
    size_t position = member_position(group, member_id, &found);
    return found ? group->members[position] : NULL;
}

static struct group_member *member_add(struct group *group, const char *member_id)
{
    bool found = false;
    size_t position = member_position(group, member_id, &found);
    ETHER_ASSERT(!found);
    if (group->members_count == group->members_capacity) {
        group->members_capacity = group->members_capacity > 0 ? group->members_capacity * 2 : 4;
        group->members =
            ether_realloc(group->members, group->members_capacity * sizeof *group->members);
    }
    memmove(&group->members[position + 1], &group->members[position],
            (group->members_count - position) * sizeof *group->members);
    struct group_member *member = ether_calloc(1, sizeof *member);
    member->member_id = ether_strdup(member_id);
    group->members[position] = member;
    group->members_count++;
    return member;
}

/* ---- completions -------------------------------------------------------------------------- */

static void complete(struct group *group, uint64_t token, int error, const char *member_id)
{
    if (group->completions_count == group->completions_capacity) {
        group->completions_capacity =
            group->completions_capacity > 0 ? group->completions_capacity * 2 : 4;
        group->completions = ether_realloc(group->completions, group->completions_capacity *
                                                                   sizeof *group->completions);
    }
    group->completions[group->completions_count++] = (struct group_completion){
        .token = token,
        .error = error,
        .member_id = ether_strdup(member_id),
    };
}

struct group_completion *group_take_completions(struct group *group, size_t *count)
{
    struct group_completion *completions = group->completions;
    *count = group->completions_count;
    group->completions = NULL;
    group->completions_count = 0;
    group->completions_capacity = 0;
    return completions;
}

void group_completions_free(struct group_completion *completions, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        ether_free(completions[i].member_id);
    }
    ether_free(completions);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

struct group *group_new(const char *name, uint32_t generation, const struct group_options *options)
{
    ETHER_ASSERT(options->partitions_count != NULL);
    struct group *group = ether_calloc(1, sizeof *group);
    group->name = ether_strdup(name);
    group->options = *options;
    group->state = GROUP_EMPTY;
    group->generation = generation;
    return group;
}

void group_free(struct group *group)
{
    if (group == NULL) {
        return;
    }
    for (size_t i = 0; i < group->members_count; i++) {
        member_free(group->members[i]);
    }
    ether_free(group->members);
    group_completions_free(group->completions, group->completions_count);
    ether_free(group->leader_id);
    ether_free(group->name);
    ether_free(group);
}

/* ---- rebalancing -------------------------------------------------------------------------- */

static void prepare_rebalance(struct group *group, uint64_t now_ms)
{
    bool was_empty = group->members_count == 0 || group->state == GROUP_EMPTY;
    uint32_t timeout_ms = 0;
    for (size_t i = 0; i < group->members_count; i++) {
        group->members[i]->joined = false;
        if (group->members[i]->rebalance_timeout_ms > timeout_ms) {
            timeout_ms = group->members[i]->rebalance_timeout_ms;
        }
    }
    group->state = GROUP_PREPARING_REBALANCE;
    group->join_deadline_ms = now_ms + timeout_ms;
    group->join_not_before_ms = was_empty ? now_ms + group->options.initial_rebalance_delay_ms : 0;
}

/* Takes a partition another member still owns out of `member`'s new assignment. */
static void withhold_owned_elsewhere(struct group *group, struct group_member *member)
{
    size_t kept = 0;
    for (size_t i = 0; i < member->assignment.count; i++) {
        struct group_topic_partition *candidate = &member->assignment.items[i];
        bool owned_elsewhere = false;
        for (size_t m = 0; m < group->members_count && !owned_elsewhere; m++) {
            owned_elsewhere = group->members[m] != member &&
                              partition_list_contains(&group->members[m]->owned, candidate);
        }
        if (owned_elsewhere) {
            ether_free((char *)(uintptr_t)candidate->topic);
            group->follow_up_rebalance = true;
            continue;
        }
        member->assignment.items[kept++] = *candidate;
    }
    member->assignment.count = kept;
}

/* Runs the assignor over the members and gives each its part of the new generation. */
static void assign(struct group *group)
{
    size_t count = group->members_count;
    struct group_assignor_member *inputs = ether_calloc(count, sizeof *inputs);
    /* Every distinct subscribed topic, with its partition count. */
    size_t topics_capacity = 0;
    for (size_t i = 0; i < count; i++) {
        topics_capacity += group->members[i]->topics_count;
    }
    struct group_assignor_topic *topics =
        ether_calloc(topics_capacity > 0 ? topics_capacity : 1, sizeof *topics);
    size_t topics_count = 0;
    for (size_t i = 0; i < count; i++) {
        struct group_member *member = group->members[i];
        for (size_t t = 0; t < member->topics_count; t++) {
            bool known = false;
            for (size_t k = 0; k < topics_count && !known; k++) {
                known = strcmp(topics[k].name, member->topics[t]) == 0;
            }
            if (!known) {
                topics[topics_count].name = member->topics[t];
                topics[topics_count].partitions_count = group->options.partitions_count(
                    group->options.partitions_count_context, member->topics[t]);
                topics_count++;
            }
        }
        inputs[i] = (struct group_assignor_member){
            .member_id = member->member_id,
            .topics = (const char *const *)member->topics,
            .topics_count = member->topics_count,
            .owned = member->owned.items,
            .owned_count = member->owned.count,
        };
    }
    group_assign(group->assignor, topics, topics_count, inputs, count);
    group->follow_up_rebalance = false;
    for (size_t i = 0; i < count; i++) {
        partition_list_set(&group->members[i]->assignment, inputs[i].assigned,
                           inputs[i].assigned_count);
        group_assignor_member_clear(&inputs[i]);
    }
    if (group->cooperative) {
        for (size_t i = 0; i < count; i++) {
            withhold_owned_elsewhere(group, group->members[i]);
        }
    }
    ether_free(topics);
    ether_free(inputs);
}

static void become_empty(struct group *group)
{
    group->state = GROUP_EMPTY;
    group->generation++; /* late commits of the members that left are refused */
    ether_free(group->leader_id);
    group->leader_id = NULL;
    group->follow_up_rebalance = false;
}

static void remove_member_at(struct group *group, size_t position)
{
    struct group_member *member = group->members[position];
    if (member->join_token != 0) {
        complete(group, member->join_token, ETHER_ERR_UNKNOWN_MEMBER_ID, member->member_id);
    }
    member_free(member);
    memmove(&group->members[position], &group->members[position + 1],
            (group->members_count - position - 1) * sizeof *group->members);
    group->members_count--;
}

static void finish_join_phase(struct group *group, uint64_t now_ms)
{
    if (group->state != GROUP_PREPARING_REBALANCE) {
        return;
    }
    bool all_joined = true;
    for (size_t i = 0; i < group->members_count && all_joined; i++) {
        all_joined = group->members[i]->joined;
    }
    bool may_end = all_joined && now_ms >= group->join_not_before_ms;
    if (!may_end && now_ms < group->join_deadline_ms) {
        return;
    }
    for (size_t i = group->members_count; i-- > 0;) {
        if (!group->members[i]->joined) {
            remove_member_at(group, i);
        }
    }
    if (group->members_count == 0) {
        become_empty(group);
        return;
    }
    group->generation++;
    assign(group);
    group->state = GROUP_COMPLETING_REBALANCE;
    if (group->leader_id == NULL || group_member_find(group, group->leader_id) == NULL) {
        ether_free(group->leader_id);
        group->leader_id = ether_strdup(group->members[0]->member_id);
    }
    for (size_t i = 0; i < group->members_count; i++) {
        struct group_member *member = group->members[i];
        member->synced = false;
        member->last_seen_ms = now_ms; /* the session runs from the join's answer */
        if (member->join_token != 0) {
            complete(group, member->join_token, ETHER_OK, member->member_id);
            member->join_token = 0;
        }
    }
}

/* After members left: the others rebalance, or the group is empty. */
static void members_removed(struct group *group, uint64_t now_ms)
{
    if (group->members_count == 0) {
        if (group->state != GROUP_EMPTY) {
            become_empty(group);
        }
        return;
    }
    if (group->state != GROUP_PREPARING_REBALANCE) {
        prepare_rebalance(group, now_ms);
    }
    finish_join_phase(group, now_ms);
}

/* ---- requests ----------------------------------------------------------------------------- */

int group_join(struct group *group, const struct group_join *join, uint64_t token, uint64_t now_ms)
{
    ETHER_ASSERT(token != 0);
    if (join->topics_count == 0 || join->session_timeout_ms == 0 ||
        join->rebalance_timeout_ms == 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    bool is_new = join->member_id == NULL || join->member_id[0] == '\0';
    struct group_member *member = is_new ? NULL : group_member_find(group, join->member_id);
    if (!is_new && member == NULL) {
        return ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    bool alone = group->members_count == 0 || (group->members_count == 1 && member != NULL);
    if (!alone && (join->assignor != group->assignor || join->cooperative != group->cooperative)) {
        return ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL;
    }
    if (is_new) {
        ETHER_ASSERT(join->new_member_id != NULL &&
                     group_member_find(group, join->new_member_id) == NULL);
        member = member_add(group, join->new_member_id);
    }
    group->assignor = join->assignor;
    group->cooperative = join->cooperative;
    ether_free(member->client_id);
    member->client_id = ether_strdup(join->client_id != NULL ? join->client_id : "");
    ether_free(member->host);
    member->host = ether_strdup(join->host != NULL ? join->host : "");
    member->session_timeout_ms = join->session_timeout_ms;
    member->rebalance_timeout_ms = join->rebalance_timeout_ms;
    member_set_topics(member, join->topics, join->topics_count);
    partition_list_set(&member->owned, join->owned, join->owned_count);
    member->last_seen_ms = now_ms;
    if (member->join_token != 0) {
        complete(group, member->join_token, ETHER_ERR_REBALANCE_IN_PROGRESS, member->member_id);
    }
    member->join_token = token;

    if (group->state != GROUP_PREPARING_REBALANCE) {
        prepare_rebalance(group, now_ms);
    } else if (is_new && group->join_not_before_ms != 0) {
        /* The join phase's deadline was fixed when it started: joins do not extend it. */
        /* Members starting together: wait a little longer for the next one. */
        uint64_t later = now_ms + group->options.initial_rebalance_delay_ms;
        group->join_not_before_ms =
            later < group->join_deadline_ms ? later : group->join_deadline_ms;
    }
    member->joined = true;
    finish_join_phase(group, now_ms);
    return ETHER_OK;
}

int group_sync(struct group *group, const char *member_id, uint32_t generation, uint64_t now_ms)
{
    struct group_member *member = group_member_find(group, member_id);
    if (member == NULL) {
        return ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    member->last_seen_ms = now_ms;
    if (generation != group->generation) {
        return ETHER_ERR_ILLEGAL_GENERATION;
    }
    if (group->state == GROUP_PREPARING_REBALANCE) {
        return ETHER_ERR_REBALANCE_IN_PROGRESS;
    }
    member->synced = true;
    if (group->state == GROUP_COMPLETING_REBALANCE) {
        bool all_synced = true;
        for (size_t i = 0; i < group->members_count && all_synced; i++) {
            all_synced = group->members[i]->synced;
        }
        if (all_synced) {
            group->state = GROUP_STABLE;
            if (group->follow_up_rebalance) {
                /* Withheld partitions are free once their old owners have synced. */
                prepare_rebalance(group, now_ms);
            }
        }
    }
    return ETHER_OK;
}

int group_heartbeat(struct group *group, const char *member_id, uint32_t generation,
                    uint64_t now_ms)
{
    struct group_member *member = group_member_find(group, member_id);
    if (member == NULL) {
        return ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    member->last_seen_ms = now_ms;
    if (generation != group->generation) {
        return ETHER_ERR_ILLEGAL_GENERATION;
    }
    return group->state == GROUP_PREPARING_REBALANCE ? ETHER_ERR_REBALANCE_IN_PROGRESS : ETHER_OK;
}

int group_leave(struct group *group, const char *member_id, uint64_t now_ms)
{
    bool found = false;
    size_t position = member_position(group, member_id, &found);
    if (!found) {
        return ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    remove_member_at(group, position);
    members_removed(group, now_ms);
    return ETHER_OK;
}

int group_commit_allowed(struct group *group, const char *member_id, int64_t generation,
                         uint64_t now_ms)
{
    if (generation < 0 && (member_id == NULL || member_id[0] == '\0')) {
        return group->members_count == 0 ? ETHER_OK : ETHER_ERR_GROUP_NOT_EMPTY;
    }
    struct group_member *member = member_id != NULL ? group_member_find(group, member_id) : NULL;
    if (member == NULL) {
        return ETHER_ERR_UNKNOWN_MEMBER_ID;
    }
    member->last_seen_ms = now_ms;
    if (generation != (int64_t)group->generation) {
        return ETHER_ERR_ILLEGAL_GENERATION;
    }
    /* A member that fetched this generation's assignment owns its partitions. */
    if (group->state == GROUP_COMPLETING_REBALANCE && !member->synced) {
        return ETHER_ERR_REBALANCE_IN_PROGRESS;
    }
    return ETHER_OK;
}

void group_tick(struct group *group, uint64_t now_ms)
{
    bool removed = false;
    for (size_t i = group->members_count; i-- > 0;) {
        struct group_member *member = group->members[i];
        if (group->state == GROUP_PREPARING_REBALANCE && member->joined) {
            continue;
        }
        if (now_ms > member->last_seen_ms &&
            now_ms - member->last_seen_ms > member->session_timeout_ms) {
            remove_member_at(group, i);
            removed = true;
        }
    }
    if (removed) {
        members_removed(group, now_ms);
    } else {
        finish_join_phase(group, now_ms);
    }
}
