/*
 * group.h: the membership state machine of one consumer group, as its
 * coordinator runs it (Kafka's classic rebalance protocol, with the
 * assignment computed here, on the broker).
 *
 * States:
 *   EMPTY                 no members (committed offsets may still exist).
 *   PREPARING_REBALANCE   waiting for every member to (re)join; ends when all
 *                         known members have joined (and, for a group that
 *                         was empty, the initial delay has passed, so members
 *                         starting together form one generation), or when the
 *                         rebalance timeout passes: members that did not
 *                         rejoin are removed.
 *   COMPLETING_REBALANCE  the join phase ended: the generation went up by
 *                         one and the assignor ran; waiting for every member
 *                         to fetch its assignment with SyncGroup.
 *   STABLE                every member synced the current generation.
 *
 * Generations fence zombies: heartbeats, syncs and commits name a generation,
 * and anything but the current one is ILLEGAL_GENERATION. The generation
 * never goes down: it starts from what the group's log recorded (the caller
 * persists it after each completed join phase, see group_generation), and
 * it also goes up when the last member leaves, so that member's late commits
 * are refused.
 *
 * Cooperative mode: members keep the partitions they own while rebalancing
 * and report them when they join. A partition the assignor moves from one
 * member (still in the group) to another is given to nobody in the new
 * generation: its old owner sees it missing from its assignment and gives
 * it up (committing first). Once every member has synced, the group starts a
 * follow-up rebalance in which that partition is free and goes to its new
 * owner. In eager mode, members give up everything before joining and the
 * assignor's result is handed out at once.
 *
 * Pure: no I/O, clock or randomness. Time comes in as now_ms; new member ids
 * come from the caller. Requests that cannot be answered at once (JoinGroup
 * until the join phase ends) carry a caller token; their answers are queued
 * as completions that the caller drains with group_take_completions.
 * Invariants: at most one pending join per member; a member appears once;
 * in COMPLETING_REBALANCE and STABLE every member has an assignment of the
 * current generation.
 */
#ifndef ETHER_BROKER_GROUP_H
#define ETHER_BROKER_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/group_assignor.h"

enum group_state {
    GROUP_EMPTY,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
};

/* "empty", "preparing-rebalance", "completing-rebalance", "stable" */
const char *group_state_name(enum group_state state);

/* A member's topics and partitions: `topic` strings are owned by whoever holds the array. */
struct group_partition_list {
    struct group_topic_partition *items; /* sorted by topic, then partition */
    size_t count;
};

struct group_member {
    char *member_id;
    char *client_id;
    char *host;
    uint32_t session_timeout_ms;
    uint32_t rebalance_timeout_ms;
    char **topics; /* the subscription, sorted, distinct */
    size_t topics_count;
    struct group_partition_list owned;      /* reported at the last join */
    struct group_partition_list assignment; /* of the current generation */
    uint64_t last_seen_ms;                  /* the last request from this member */
    uint64_t join_token;                    /* a JoinGroup waiting for the join phase; 0: none */
    bool joined;                            /* joined during the current PREPARING_REBALANCE */
    bool synced;                            /* fetched the current generation's assignment */
};

struct group_join {
    const char *member_id;     /* "" for a new member */
    const char *new_member_id; /* the id to give a new member (unique, from the caller) */
    const char *client_id;
    const char *host;
    uint32_t session_timeout_ms;
    uint32_t rebalance_timeout_ms;
    const char *const *topics;
    size_t topics_count;
    enum group_assignor_kind assignor;
    bool cooperative;
    const struct group_topic_partition *owned;
    size_t owned_count;
};

struct group_completion {
    uint64_t token;
    int error;       /* ETHER_OK: answer from the group's current state */
    char *member_id; /* the member it answers (owned by the completion) */
};

/* The partition counts of the topics members subscribe to, asked when the assignor runs. */
typedef uint32_t group_partitions_count_fn(void *context, const char *topic);

struct group_options {
    uint32_t initial_rebalance_delay_ms;
    group_partitions_count_fn *partitions_count;
    void *partitions_count_context;
};

struct group {
    char *name;
    struct group_options options;
    enum group_state state;
    uint32_t generation;
    enum group_assignor_kind assignor;
    bool cooperative;
    char *leader_id;               /* NULL when empty */
    struct group_member **members; /* sorted by member_id */
    size_t members_count;
    size_t members_capacity;
    uint64_t join_deadline_ms;   /* PREPARING_REBALANCE: end of the join phase at the latest */
    uint64_t join_not_before_ms; /* PREPARING_REBALANCE: the initial delay */
    bool follow_up_rebalance;    /* cooperative: partitions were withheld this generation */
    struct group_completion *completions;
    size_t completions_count;
    size_t completions_capacity;
};

/* A new EMPTY group at `generation` (the last one its log recorded; 0 for a new group). */
struct group *group_new(const char *name, uint32_t generation, const struct group_options *options);

/* Frees the group; pending joins are dropped without completion (take them first). */
void group_free(struct group *group);

struct group_member *group_member_find(const struct group *group, const char *member_id);

/*
 * JoinGroup. Returns ETHER_OK when the answer will come as a completion for
 * `token`, or an error to answer at once: ETHER_ERR_UNKNOWN_MEMBER_ID (a
 * member id the group does not know: join again with ""),
 * ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL (the group has members using another
 * assignor or mode), ETHER_ERR_INVALID_ARGUMENT (no topics, zero timeouts).
 * A second join of a member whose first is still pending completes the
 * first with ETHER_ERR_REBALANCE_IN_PROGRESS.
 */
int group_join(struct group *group, const struct group_join *join, uint64_t token, uint64_t now_ms);

/*
 * SyncGroup: on ETHER_OK the member's assignment of `generation` is in
 * group_member_find(...)->assignment. Errors: UNKNOWN_MEMBER_ID,
 * ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS (the join phase of a newer
 * generation is running).
 */
int group_sync(struct group *group, const char *member_id, uint32_t generation, uint64_t now_ms);

/* Heartbeat: ETHER_OK, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS. */
int group_heartbeat(struct group *group, const char *member_id, uint32_t generation,
                    uint64_t now_ms);

/* LeaveGroup: ETHER_OK or UNKNOWN_MEMBER_ID. The others rebalance. */
int group_leave(struct group *group, const char *member_id, uint64_t now_ms);

/*
 * May this member commit offsets now? generation -1 with member id "" is an
 * administrative commit: ETHER_OK only while the group is EMPTY, else
 * GROUP_NOT_EMPTY. A member commits in its current generation while
 * PREPARING_REBALANCE or STABLE (a member revoking partitions commits
 * before it joins again), and in COMPLETING_REBALANCE once it has synced;
 * otherwise UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or REBALANCE_IN_PROGRESS
 * (COMPLETING_REBALANCE before its sync).
 */
int group_commit_allowed(struct group *group, const char *member_id, int64_t generation,
                         uint64_t now_ms);

/*
 * Time passes: members whose session expired are removed (a member waiting
 * in a join is not expired while the join phase runs), and the join phase
 * ends when it can. Call it every few hundred milliseconds and after any
 * change.
 */
void group_tick(struct group *group, uint64_t now_ms);

/* Moves the queued completions to the caller (who frees each member_id and the array). */
struct group_completion *group_take_completions(struct group *group, size_t *count);

void group_completions_free(struct group_completion *completions, size_t count);

void group_partition_list_clear(struct group_partition_list *list);

#endif
