/*
 * group_assignor.h: how a consumer group's partitions are shared among its
 * members. The coordinator runs it when a rebalance's join phase ends (the
 * assignment is computed on the broker, so every client gets the same
 * assignors and `ether group describe` can show it).
 *
 * Assignors:
 *   range       per topic, the members subscribed to it (sorted by member id)
 *               get contiguous ranges of its partitions; the first
 *               (count % members) members get one more.
 *   roundrobin  every (topic, partition) of every subscribed topic, sorted by
 *               topic then partition, dealt in turn to the members (sorted by
 *               member id), skipping members not subscribed to that topic.
 *   sticky      balanced like roundrobin (with identical subscriptions every
 *               member gets floor or ceil of partitions/members), and among
 *               the balanced assignments one that keeps as many partitions as
 *               possible with the member that owned them before (`owned`): a
 *               member that leaves only moves its own partitions; a member
 *               that joins only takes the partitions it needs to be balanced.
 *
 * Pure and deterministic: no I/O, clock or randomness; the result depends
 * only on the input, not on the order of `members` (members are considered
 * in member id order). Member ids must be distinct. Subscribed topics not in
 * `topics` (unknown to the cluster) and owned partitions that no longer exist
 * are ignored. Every existing partition of a topic at least one member
 * subscribes to is assigned to exactly one member subscribed to it.
 */
#ifndef ETHER_BROKER_GROUP_ASSIGNOR_H
#define ETHER_BROKER_GROUP_ASSIGNOR_H

#include <stddef.h>
#include <stdint.h>

enum group_assignor_kind {
    GROUP_ASSIGNOR_RANGE,
    GROUP_ASSIGNOR_ROUNDROBIN,
    GROUP_ASSIGNOR_STICKY,
};

/* "range", "roundrobin", "sticky" → kind; ETHER_ERR_INVALID_ARGUMENT otherwise. */
int group_assignor_parse(const char *name, enum group_assignor_kind *kind);

/* The name group_assignor_parse accepts. */
const char *group_assignor_name(enum group_assignor_kind kind);

struct group_topic_partition {
    const char *topic;
    uint32_t partition;
};

struct group_assignor_topic {
    const char *name;
    uint32_t partitions_count;
};

struct group_assignor_member {
    const char *member_id;
    const char *const *topics; /* the subscription */
    size_t topics_count;
    const struct group_topic_partition *owned; /* held before this rebalance (sticky) */
    size_t owned_count;
    /* Output of group_assign, sorted by topic then partition; every `topic` points to the
     * `name` of an entry of the `topics` array given to group_assign. */
    struct group_topic_partition *assigned;
    size_t assigned_count;
};

/*
 * Fills every member's `assigned` (replacing what was there, which must have
 * been cleared or never filled). With no members it does nothing.
 */
void group_assign(enum group_assignor_kind kind, const struct group_assignor_topic *topics,
                  size_t topics_count, struct group_assignor_member *members, size_t members_count);

/* Frees a member's `assigned` and sets it to NULL / 0. */
void group_assignor_member_clear(struct group_assignor_member *member);

#endif
