/*
 * Unit tests for broker/group: the consumer group membership state machine.
 * Joins, the initial delay, syncs, heartbeats, leaves, session expiry and the
 * rebalance timeout (time comes in as now_ms, so every test is deterministic),
 * generation fencing, commit rules, protocol checks, completions, and the
 * cooperative hand-over of partitions through a follow-up rebalance.
 *
 * Member ids sort as "member-a" < "member-b" < "member-c", the order in which
 * range and roundrobin deal partitions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/group.h"
#include "broker/group_assignor.h"
#include "common/error.h"

enum {
    SESSION_MS = 10000,
    REBALANCE_MS = 30000,
    DELAY_MS = 3000,
    ORDERS_PARTITIONS = 6,
    EVENTS_PARTITIONS = 7,
    ALL_ORDERS = (1u << ORDERS_PARTITIONS) - 1,
};

static const char A[] = "member-a";
static const char B[] = "member-b";
static const char C[] = "member-c";

/* ---- the cluster's topics ------------------------------------------------------------- */

struct topic_count {
    const char *topic;
    uint32_t partitions_count;
};

static const struct topic_count topic_counts[] = {
    {"orders", ORDERS_PARTITIONS},
    {"events", EVENTS_PARTITIONS},
};

struct cluster {
    const struct topic_count *topics;
    size_t topics_count;
    size_t calls; /* how often the group asked */
};

static uint32_t cluster_partitions_count(void *context, const char *topic)
{
    struct cluster *cluster = context;
    cluster->calls++;
    for (size_t i = 0; i < cluster->topics_count; i++) {
        if (strcmp(cluster->topics[i].topic, topic) == 0) {
            return cluster->topics[i].partitions_count;
        }
    }
    return 0;
}

static struct cluster cluster_of_the_tests(void)
{
    struct cluster cluster = {topic_counts, sizeof topic_counts / sizeof topic_counts[0], 0};
    return cluster;
}

static struct group *new_group(struct cluster *cluster, uint32_t generation)
{
    struct group_options options = {
        .initial_rebalance_delay_ms = DELAY_MS,
        .partitions_count = cluster_partitions_count,
        .partitions_count_context = cluster,
    };
    struct group *group = group_new("payments", generation, &options);
    assert_non_null(group);
    assert_int_equal(group->state, GROUP_EMPTY);
    assert_int_equal(group->generation, generation);
    assert_int_equal(group->members_count, 0);
    return group;
}

/* ---- requests ------------------------------------------------------------------------- */

static const char *const orders_only[] = {"orders"};

/* A range, eager join to "orders"; new when member_id is "" (then its id is new_member_id). */
static struct group_join join_of(const char *member_id, const char *new_member_id)
{
    struct group_join join = {
        .member_id = member_id,
        .new_member_id = new_member_id,
        .client_id = "consumer",
        .host = "/10.0.0.1",
        .session_timeout_ms = SESSION_MS,
        .rebalance_timeout_ms = REBALANCE_MS,
        .topics = orders_only,
        .topics_count = 1,
        .assignor = GROUP_ASSIGNOR_RANGE,
        .cooperative = false,
    };
    return join;
}

static void assert_error(int actual, int expected)
{
    if (actual != expected) {
        fail_msg("expected %s, got %s", ether_error_name(expected), ether_error_name(actual));
    }
}

static void join_new(struct group *group, const char *member_id, uint64_t token, uint64_t now_ms)
{
    struct group_join join = join_of("", member_id);
    assert_error(group_join(group, &join, token, now_ms), ETHER_OK);
}

static void rejoin(struct group *group, const char *member_id, uint64_t token, uint64_t now_ms)
{
    struct group_join join = join_of(member_id, NULL);
    assert_error(group_join(group, &join, token, now_ms), ETHER_OK);
}

static void assert_state(const struct group *group, enum group_state state)
{
    if (group->state != state) {
        fail_msg("expected %s, got %s", group_state_name(state), group_state_name(group->state));
    }
}

/* ---- completions ---------------------------------------------------------------------- */

struct expected_completion {
    uint64_t token;
    int error;
    const char *member_id;
};

static void assert_no_completions(struct group *group)
{
    size_t count = 99;
    struct group_completion *completions = group_take_completions(group, &count);
    assert_int_equal(count, 0);
    group_completions_free(completions, count);
}

/* Takes the queued completions: exactly `expected`, in any order. The queue is then empty. */
static void assert_completions(struct group *group, const struct expected_completion *expected,
                               size_t expected_count)
{
    size_t count = 0;
    struct group_completion *completions = group_take_completions(group, &count);
    assert_int_equal(count, expected_count);
    for (size_t e = 0; e < expected_count; e++) {
        size_t matches = 0;
        for (size_t i = 0; i < count; i++) {
            if (completions[i].token != expected[e].token) {
                continue;
            }
            matches++;
            assert_error(completions[i].error, expected[e].error);
            assert_non_null(completions[i].member_id);
            assert_string_equal(completions[i].member_id, expected[e].member_id);
        }
        if (matches != 1) {
            fail_msg("token %llu completed %zu times", (unsigned long long)expected[e].token,
                     matches);
        }
    }
    group_completions_free(completions, count);
    assert_no_completions(group);
}

/* Takes and frees the queued completions, which must be `expected_count`. */
static void drop_completions(struct group *group, size_t expected_count)
{
    size_t count = 0;
    struct group_completion *completions = group_take_completions(group, &count);
    group_completions_free(completions, count);
    assert_int_equal(count, expected_count);
}

/* ---- assignments ---------------------------------------------------------------------- */

static struct group_member *member_of(const struct group *group, const char *member_id)
{
    struct group_member *member = group_member_find(group, member_id);
    if (member == NULL) {
        fail_msg("%s is not a member", member_id);
    }
    return member;
}

/* The partitions of `topic` in the member's assignment, as a bit set. */
static uint64_t assigned_of(const struct group *group, const char *member_id, const char *topic)
{
    const struct group_member *member = member_of(group, member_id);
    uint64_t partitions = 0;
    for (size_t i = 0; i < member->assignment.count; i++) {
        const struct group_topic_partition *item = &member->assignment.items[i];
        if (strcmp(item->topic, topic) == 0) {
            assert_true(item->partition < 64);
            assert_false(partitions & (UINT64_C(1) << item->partition));
            partitions |= UINT64_C(1) << item->partition;
        }
    }
    return partitions;
}

static uint64_t orders_of(const struct group *group, const char *member_id)
{
    return assigned_of(group, member_id, "orders");
}

static uint64_t bits(uint32_t first, uint32_t count)
{
    return ((UINT64_C(1) << count) - 1) << first;
}

static size_t bits_count(uint64_t set)
{
    size_t count = 0;
    for (; set != 0; set &= set - 1) {
        count++;
    }
    return count;
}

/* "orders" partitions as a member reports owning them at a join. */
static size_t owned_list(uint64_t partitions, struct group_topic_partition *items)
{
    size_t count = 0;
    for (uint32_t p = 0; p < 64; p++) {
        if (partitions & (UINT64_C(1) << p)) {
            items[count].topic = "orders";
            items[count].partition = p;
            count++;
        }
    }
    return count;
}

/* ---- driving a group ------------------------------------------------------------------ */

static void sync_ok(struct group *group, const char *member_id, uint64_t now_ms)
{
    assert_error(group_sync(group, member_id, group->generation, now_ms), ETHER_OK);
}

/*
 * Members ids[0..count) join the empty group at now_ms, the initial delay
 * passes and every one syncs: the group is STABLE. Returns the time then.
 */
static uint64_t form_group(struct group *group, const char *const *ids, size_t count,
                           uint64_t now_ms)
{
    assert_state(group, GROUP_EMPTY);
    uint32_t generation = group->generation;
    for (size_t i = 0; i < count; i++) {
        join_new(group, ids[i], 1000 + i, now_ms);
    }
    now_ms += DELAY_MS;
    group_tick(group, now_ms);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, generation + 1);
    drop_completions(group, count);
    for (size_t i = 0; i < count; i++) {
        sync_ok(group, ids[i], now_ms);
    }
    assert_state(group, GROUP_STABLE);
    return now_ms;
}

/* ---- the first generation ------------------------------------------------------------- */

static void
test_first_member_completes_after_the_initial_delay_as_leader_of_generation_one(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    static const char *const both_topics[] = {"orders", "events", "unknown-topic"};
    struct group_join join = join_of("", A);
    join.topics = both_topics;
    join.topics_count = 3;
    assert_error(group_join(group, &join, 11, 1000), ETHER_OK);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group->generation, 0);
    assert_int_equal(group->members_count, 1);
    assert_no_completions(group);

    group_tick(group, 1000 + DELAY_MS - 1);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_no_completions(group);

    group_tick(group, 1000 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 1);
    assert_non_null(group->leader_id);
    assert_string_equal(group->leader_id, A);
    const struct expected_completion expected[] = {{11, ETHER_OK, A}};
    assert_completions(group, expected, 1);
    assert_true(cluster.calls >= 2);

    /* Every partition of every known subscribed topic; none of the unknown one. */
    struct group_member *member = member_of(group, A);
    assert_int_equal(member->assignment.count, ORDERS_PARTITIONS + EVENTS_PARTITIONS);
    assert_int_equal(orders_of(group, A), ALL_ORDERS);
    assert_int_equal(assigned_of(group, A, "events"), bits(0, EVENTS_PARTITIONS));
    assert_int_equal(assigned_of(group, A, "unknown-topic"), 0);
    assert_string_equal(member->client_id, "consumer");
    assert_string_equal(member->host, "/10.0.0.1");
    assert_int_equal(member->topics_count, 3);

    assert_error(group_heartbeat(group, A, 1, 1000 + DELAY_MS + 10), ETHER_OK);
    assert_error(group_sync(group, A, 1, 1000 + DELAY_MS + 20), ETHER_OK);
    assert_state(group, GROUP_STABLE);
    assert_true(member->synced);
    assert_int_equal(orders_of(group, A), ALL_ORDERS);
    assert_error(group_heartbeat(group, A, 1, 1000 + DELAY_MS + 30), ETHER_OK);
    assert_no_completions(group);
    group_free(group);
}

static void test_group_is_stable_only_once_every_member_has_synced(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    join_new(group, A, 1, 0);
    join_new(group, B, 2, 10);
    group_tick(group, 10 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 1);
    const struct expected_completion expected[] = {{1, ETHER_OK, A}, {2, ETHER_OK, B}};
    assert_completions(group, expected, 2);
    /* Every member has its assignment of the generation before it syncs. */
    assert_int_equal(orders_of(group, A), bits(0, 3));
    assert_int_equal(orders_of(group, B), bits(3, 3));

    sync_ok(group, B, 20 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_true(member_of(group, B)->synced);
    assert_false(member_of(group, A)->synced);
    assert_error(group_heartbeat(group, A, 1, 30 + DELAY_MS), ETHER_OK);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    sync_ok(group, A, 40 + DELAY_MS);
    assert_state(group, GROUP_STABLE);
    /* A repeated sync of the current generation answers the same. */
    sync_ok(group, A, 50 + DELAY_MS);
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->generation, 1);
    assert_int_equal(orders_of(group, A), bits(0, 3));
    assert_no_completions(group);
    group_free(group);
}

static void
test_three_members_joining_within_the_initial_delay_form_one_balanced_generation(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    static const char *const both_topics[] = {"orders", "events"};
    const char *ids[] = {C, A, B}; /* join order differs from id order */
    for (size_t i = 0; i < 3; i++) {
        struct group_join join = join_of("", ids[i]);
        join.topics = both_topics;
        join.topics_count = 2;
        assert_error(group_join(group, &join, 21 + i, 1000 + 1000 * i), ETHER_OK);
        assert_state(group, GROUP_PREPARING_REBALANCE);
    }
    group_tick(group, 1000 + DELAY_MS - 1);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_no_completions(group);

    group_tick(group, 20000);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 1);
    assert_int_equal(group->members_count, 3);
    const struct expected_completion expected[] = {
        {21, ETHER_OK, C}, {22, ETHER_OK, A}, {23, ETHER_OK, B}};
    assert_completions(group, expected, 3);
    assert_non_null(group->leader_id);
    assert_non_null(group_member_find(group, group->leader_id));

    /* range: 6 = 2 + 2 + 2, 7 = 3 + 2 + 2 in member id order. */
    assert_int_equal(orders_of(group, A), bits(0, 2));
    assert_int_equal(orders_of(group, B), bits(2, 2));
    assert_int_equal(orders_of(group, C), bits(4, 2));
    assert_int_equal(assigned_of(group, A, "events"), bits(0, 3));
    assert_int_equal(assigned_of(group, B, "events"), bits(3, 2));
    assert_int_equal(assigned_of(group, C, "events"), bits(5, 2));

    sync_ok(group, A, 20001);
    sync_ok(group, C, 20002);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    sync_ok(group, B, 20003);
    assert_state(group, GROUP_STABLE);
    assert_no_completions(group);
    group_free(group);
}

static void test_generation_continues_from_the_stored_generation(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 7);
    join_new(group, A, 5, 100);
    group_tick(group, 100 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 8);
    const struct expected_completion expected[] = {{5, ETHER_OK, A}};
    assert_completions(group, expected, 1);
    assert_error(group_sync(group, A, 7, 100 + DELAY_MS), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_sync(group, A, 8, 100 + DELAY_MS), ETHER_OK);
    assert_state(group, GROUP_STABLE);
    group_free(group);
}

/* ---- rebalances ----------------------------------------------------------------------- */

static void
test_rejoin_of_a_stable_member_makes_the_others_rejoin_into_the_next_generation(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);
    assert_int_equal(group->generation, 1);

    rejoin(group, B, 31, now + 100);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group->generation, 1);
    assert_no_completions(group);
    assert_error(group_heartbeat(group, A, 1, now + 200), ETHER_ERR_REBALANCE_IN_PROGRESS);
    assert_error(group_heartbeat(group, B, 1, now + 200), ETHER_ERR_REBALANCE_IN_PROGRESS);
    assert_error(group_sync(group, A, 1, now + 250), ETHER_ERR_REBALANCE_IN_PROGRESS);
    assert_state(group, GROUP_PREPARING_REBALANCE);

    rejoin(group, A, 32, now + 300);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{31, ETHER_OK, B}, {32, ETHER_OK, A}};
    assert_completions(group, expected, 2);
    assert_string_equal(group->leader_id, A);
    assert_int_equal(orders_of(group, A), bits(0, 3));
    assert_int_equal(orders_of(group, B), bits(3, 3));

    assert_error(group_sync(group, A, 1, now + 400), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_sync(group, A, 2, now + 400), ETHER_OK);
    assert_error(group_sync(group, B, 2, now + 400), ETHER_OK);
    assert_state(group, GROUP_STABLE);
    group_free(group);
}

static void
test_new_member_joining_a_stable_group_gets_its_share_in_the_next_generation(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A};
    uint64_t now = form_group(group, ids, 1, 0);
    assert_int_equal(orders_of(group, A), ALL_ORDERS);

    join_new(group, B, 41, now + 100);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group->members_count, 2);
    assert_error(group_heartbeat(group, A, 1, now + 200), ETHER_ERR_REBALANCE_IN_PROGRESS);
    rejoin(group, A, 42, now + 300);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{41, ETHER_OK, B}, {42, ETHER_OK, A}};
    assert_completions(group, expected, 2);
    assert_string_equal(group->leader_id, A);
    assert_int_equal(orders_of(group, A), bits(0, 3));
    assert_int_equal(orders_of(group, B), bits(3, 3));
    group_free(group);
}

static void test_member_that_does_not_rejoin_before_the_rebalance_timeout_is_removed(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);

    uint64_t rebalance_start = now + 100;
    rejoin(group, B, 51, rebalance_start);
    /* A stays alive by heartbeats but never rejoins. */
    for (uint64_t t = rebalance_start + 5000; t < rebalance_start + REBALANCE_MS; t += 5000) {
        assert_error(group_heartbeat(group, A, 1, t), ETHER_ERR_REBALANCE_IN_PROGRESS);
        group_tick(group, t);
        assert_state(group, GROUP_PREPARING_REBALANCE);
        assert_int_equal(group->members_count, 2);
    }
    group_tick(group, rebalance_start + REBALANCE_MS - 1);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_no_completions(group);

    group_tick(group, rebalance_start + REBALANCE_MS + 1);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    assert_int_equal(group->members_count, 1);
    assert_null(group_member_find(group, A));
    const struct expected_completion expected[] = {{51, ETHER_OK, B}};
    assert_completions(group, expected, 1);
    assert_string_equal(group->leader_id, B);
    assert_int_equal(orders_of(group, B), ALL_ORDERS);

    uint64_t later = rebalance_start + REBALANCE_MS + 2;
    assert_error(group_heartbeat(group, A, 1, later), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_commit_allowed(group, A, 1, later), ETHER_ERR_UNKNOWN_MEMBER_ID);
    sync_ok(group, B, later);
    assert_state(group, GROUP_STABLE);
    group_free(group);
}

static void test_session_expiry_removes_a_silent_member_and_the_rest_rebalance(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B, C};
    uint64_t now = form_group(group, ids, 3, 0);

    assert_error(group_heartbeat(group, A, 1, now + 5000), ETHER_OK);
    assert_error(group_heartbeat(group, C, 1, now + 5000), ETHER_OK);
    group_tick(group, now + SESSION_MS - 1);
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->members_count, 3);

    group_tick(group, now + SESSION_MS + 1);
    assert_null(group_member_find(group, B));
    assert_int_equal(group->members_count, 2);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_no_completions(group);
    assert_error(group_heartbeat(group, B, 1, now + SESSION_MS + 2), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_heartbeat(group, A, 1, now + SESSION_MS + 2),
                 ETHER_ERR_REBALANCE_IN_PROGRESS);

    rejoin(group, C, 61, now + SESSION_MS + 3);
    rejoin(group, A, 62, now + SESSION_MS + 4);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{61, ETHER_OK, C}, {62, ETHER_OK, A}};
    assert_completions(group, expected, 2);
    assert_int_equal(orders_of(group, A), bits(0, 3));
    assert_int_equal(orders_of(group, C), bits(3, 3));
    group_free(group);
}

static void test_member_that_never_syncs_expires_and_the_rest_rebalance(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    join_new(group, A, 1, 0);
    join_new(group, B, 2, 0);
    group_tick(group, DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 1);
    drop_completions(group, 2);

    /* The session runs from the join's answer: B never syncs. */
    sync_ok(group, A, DELAY_MS + 100);
    assert_error(group_heartbeat(group, A, 1, DELAY_MS + 6000), ETHER_OK);
    group_tick(group, DELAY_MS + SESSION_MS - 1);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    group_tick(group, DELAY_MS + SESSION_MS + 1);
    assert_null(group_member_find(group, B));
    assert_state(group, GROUP_PREPARING_REBALANCE);
    rejoin(group, A, 3, DELAY_MS + SESSION_MS + 2);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{3, ETHER_OK, A}};
    assert_completions(group, expected, 1);
    assert_int_equal(orders_of(group, A), ALL_ORDERS);
    group_free(group);
}

static void test_member_waiting_in_a_join_is_not_expired_during_the_join_phase(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);

    rejoin(group, A, 71, now + 1000);
    /* A says nothing more while it waits; B heartbeats and takes its time to rejoin. */
    uint64_t t = now + 1000;
    for (int i = 0; i < 5; i++) {
        t += 5000;
        assert_error(group_heartbeat(group, B, 1, t), ETHER_ERR_REBALANCE_IN_PROGRESS);
        group_tick(group, t);
    }
    assert_true(t - (now + 1000) > 2 * SESSION_MS);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_non_null(group_member_find(group, A));
    assert_no_completions(group);

    rejoin(group, B, 72, t);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    assert_int_equal(group->members_count, 2);
    const struct expected_completion expected[] = {{71, ETHER_OK, A}, {72, ETHER_OK, B}};
    assert_completions(group, expected, 2);
    group_free(group);
}

static void test_first_member_waiting_through_the_initial_delay_is_not_expired(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    struct group_join join = join_of("", A);
    join.session_timeout_ms = DELAY_MS / 3;
    assert_error(group_join(group, &join, 81, 0), ETHER_OK);
    group_tick(group, DELAY_MS / 2);
    assert_non_null(group_member_find(group, A));
    group_tick(group, DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    const struct expected_completion expected[] = {{81, ETHER_OK, A}};
    assert_completions(group, expected, 1);
    group_free(group);
}

static void test_leave_makes_the_others_rebalance(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B, C};
    uint64_t now = form_group(group, ids, 3, 0);

    assert_error(group_leave(group, A, now + 100), ETHER_OK);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_null(group_member_find(group, A));
    assert_int_equal(group->members_count, 2);
    assert_error(group_heartbeat(group, A, 1, now + 200), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_heartbeat(group, B, 1, now + 200), ETHER_ERR_REBALANCE_IN_PROGRESS);
    assert_error(group_heartbeat(group, C, 1, now + 200), ETHER_ERR_REBALANCE_IN_PROGRESS);

    rejoin(group, B, 91, now + 300);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    rejoin(group, C, 92, now + 400);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{91, ETHER_OK, B}, {92, ETHER_OK, C}};
    assert_completions(group, expected, 2);
    /* The leader left: another member leads. */
    assert_non_null(group->leader_id);
    assert_non_null(group_member_find(group, group->leader_id));
    assert_int_equal(orders_of(group, B), bits(0, 3));
    assert_int_equal(orders_of(group, C), bits(3, 3));
    group_free(group);
}

static void test_leave_of_the_last_member_not_rejoined_ends_the_join_phase(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B, C};
    uint64_t now = form_group(group, ids, 3, 0);

    rejoin(group, A, 93, now + 100);
    rejoin(group, B, 94, now + 200);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_error(group_leave(group, C, now + 300), ETHER_OK);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{93, ETHER_OK, A}, {94, ETHER_OK, B}};
    assert_completions(group, expected, 2);
    group_free(group);
}

static void test_last_member_leaving_empties_the_group_and_raises_the_generation(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A};
    uint64_t now = form_group(group, ids, 1, 0);
    assert_int_equal(group->generation, 1);
    assert_error(group_commit_allowed(group, A, 1, now + 10), ETHER_OK);

    assert_error(group_leave(group, A, now + 100), ETHER_OK);
    assert_state(group, GROUP_EMPTY);
    assert_int_equal(group->members_count, 0);
    assert_null(group->leader_id);
    assert_true(group->generation > 1);
    uint32_t emptied_generation = group->generation;
    assert_no_completions(group);

    /* The member's late commit is refused; an administrative one is not. */
    assert_int_not_equal(group_commit_allowed(group, A, 1, now + 200), ETHER_OK);
    assert_error(group_commit_allowed(group, "", -1, now + 200), ETHER_OK);

    /* The next generation is above the one the group went empty with. */
    join_new(group, B, 101, now + 300);
    group_tick(group, now + 300 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_true(group->generation > emptied_generation);
    assert_string_equal(group->leader_id, B);
    const struct expected_completion expected[] = {{101, ETHER_OK, B}};
    assert_completions(group, expected, 1);
    group_free(group);
}

static void test_last_member_expiring_empties_the_group_and_raises_the_generation(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 3);
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);
    assert_int_equal(group->generation, 4);

    group_tick(group, now + SESSION_MS + 1);
    assert_state(group, GROUP_EMPTY);
    assert_int_equal(group->members_count, 0);
    assert_true(group->generation > 4);
    assert_error(group_commit_allowed(group, "", -1, now + SESSION_MS + 2), ETHER_OK);
    assert_no_completions(group);
    group_free(group);
}

/* ---- refusals ------------------------------------------------------------------------- */

static void test_unknown_member_id_is_refused_by_every_request(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);

    /* An empty group knows nobody. */
    struct group_join join = join_of("ghost", NULL);
    assert_error(group_join(group, &join, 1, 0), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_sync(group, "ghost", 0, 0), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_heartbeat(group, "ghost", 0, 0), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_leave(group, "ghost", 0), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_commit_allowed(group, "ghost", 0, 0), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_state(group, GROUP_EMPTY);
    assert_int_equal(group->members_count, 0);

    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 100);
    assert_error(group_join(group, &join, 2, now), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_sync(group, "ghost", 1, now), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_heartbeat(group, "ghost", 1, now), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_leave(group, "ghost", now), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_error(group_commit_allowed(group, "ghost", 1, now), ETHER_ERR_UNKNOWN_MEMBER_ID);
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->generation, 1);
    assert_int_equal(group->members_count, 2);
    assert_no_completions(group);
    group_free(group);
}

/* Stable at generation 2 (or completing it): generation-1 zombies are fenced. */
static uint64_t form_group_at_generation_2(struct group *group)
{
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);
    rejoin(group, A, 1, now + 10);
    rejoin(group, B, 2, now + 20);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion expected[] = {{1, ETHER_OK, A}, {2, ETHER_OK, B}};
    assert_completions(group, expected, 2);
    return now + 20;
}

static void test_stale_generation_is_fenced_on_sync_heartbeat_and_commit(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    uint64_t now = form_group_at_generation_2(group);

    /* Completing generation 2. */
    assert_error(group_sync(group, A, 1, now + 1), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_heartbeat(group, A, 1, now + 2), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_commit_allowed(group, A, 1, now + 3), ETHER_ERR_ILLEGAL_GENERATION);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_false(member_of(group, A)->synced);

    sync_ok(group, A, now + 4);
    sync_ok(group, B, now + 4);
    assert_state(group, GROUP_STABLE);

    /* Stable at generation 2: older and newer generations alike. */
    uint32_t wrong[] = {0, 1, 3, UINT32_MAX};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        assert_error(group_sync(group, B, wrong[i], now + 5), ETHER_ERR_ILLEGAL_GENERATION);
        assert_error(group_heartbeat(group, B, wrong[i], now + 5), ETHER_ERR_ILLEGAL_GENERATION);
        assert_error(group_commit_allowed(group, B, wrong[i], now + 5),
                     ETHER_ERR_ILLEGAL_GENERATION);
    }
    assert_state(group, GROUP_STABLE);
    assert_error(group_sync(group, B, 2, now + 6), ETHER_OK);
    assert_error(group_heartbeat(group, B, 2, now + 6), ETHER_OK);
    assert_error(group_commit_allowed(group, B, 2, now + 6), ETHER_OK);
    assert_int_equal(group->generation, 2);
    assert_no_completions(group);
    group_free(group);
}

/*
 * Per group.h ("heartbeats, syncs and commits name a generation, and anything
 * but the current one is ILLEGAL_GENERATION"), a generation-1 zombie is fenced
 * in PREPARING_REBALANCE too, as commits are.
 */
static void test_stale_generation_is_fenced_while_preparing_a_rebalance(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    uint64_t now = form_group_at_generation_2(group);
    sync_ok(group, A, now + 1);
    sync_ok(group, B, now + 1);
    rejoin(group, B, 3, now + 2);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_error(group_commit_allowed(group, A, 1, now + 3), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_heartbeat(group, A, 1, now + 3), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_sync(group, A, 1, now + 3), ETHER_ERR_ILLEGAL_GENERATION);
    group_free(group);
}

static void
test_commit_is_allowed_in_stable_and_preparing_and_after_the_sync_while_completing(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);
    assert_error(group_commit_allowed(group, A, 1, now + 1), ETHER_OK);

    /* A member revoking partitions commits before it joins again. */
    rejoin(group, B, 111, now + 10);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_error(group_commit_allowed(group, A, 1, now + 20), ETHER_OK);
    assert_error(group_commit_allowed(group, B, 1, now + 20), ETHER_OK);

    rejoin(group, A, 112, now + 30);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    assert_error(group_commit_allowed(group, A, 2, now + 40), ETHER_ERR_REBALANCE_IN_PROGRESS);
    sync_ok(group, A, now + 50);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    /* A has its assignment of generation 2: it may commit; B has not synced yet. */
    assert_error(group_commit_allowed(group, A, 2, now + 60), ETHER_OK);
    assert_error(group_commit_allowed(group, B, 2, now + 60), ETHER_ERR_REBALANCE_IN_PROGRESS);
    sync_ok(group, B, now + 70);
    assert_state(group, GROUP_STABLE);
    assert_error(group_commit_allowed(group, A, 2, now + 80), ETHER_OK);
    assert_error(group_commit_allowed(group, B, 2, now + 80), ETHER_OK);
    assert_error(group_commit_allowed(group, A, 1, now + 80), ETHER_ERR_ILLEGAL_GENERATION);
    assert_error(group_commit_allowed(group, A, -1, now + 80), ETHER_ERR_ILLEGAL_GENERATION);
    drop_completions(group, 2);
    group_free(group);
}

static void test_administrative_commit_is_allowed_only_while_the_group_is_empty(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    assert_error(group_commit_allowed(group, "", -1, 0), ETHER_OK);

    join_new(group, A, 121, 10);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_error(group_commit_allowed(group, "", -1, 20), ETHER_ERR_GROUP_NOT_EMPTY);
    group_tick(group, 10 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_error(group_commit_allowed(group, "", -1, 20 + DELAY_MS), ETHER_ERR_GROUP_NOT_EMPTY);
    sync_ok(group, A, 30 + DELAY_MS);
    assert_state(group, GROUP_STABLE);
    assert_error(group_commit_allowed(group, "", -1, 40 + DELAY_MS), ETHER_ERR_GROUP_NOT_EMPTY);

    assert_error(group_leave(group, A, 50 + DELAY_MS), ETHER_OK);
    assert_state(group, GROUP_EMPTY);
    assert_error(group_commit_allowed(group, "", -1, 60 + DELAY_MS), ETHER_OK);
    const struct expected_completion expected[] = {{121, ETHER_OK, A}};
    assert_completions(group, expected, 1);
    group_free(group);
}

static void test_join_with_another_assignor_or_mode_is_an_inconsistent_protocol(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    const char *ids[] = {A, B};
    uint64_t now = form_group(group, ids, 2, 0);

    struct group_join sticky = join_of("", C);
    sticky.assignor = GROUP_ASSIGNOR_STICKY;
    assert_error(group_join(group, &sticky, 131, now + 1), ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL);
    struct group_join cooperative = join_of("", C);
    cooperative.cooperative = true;
    assert_error(group_join(group, &cooperative, 132, now + 2),
                 ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL);
    struct group_join roundrobin_rejoin = join_of(A, NULL);
    roundrobin_rejoin.assignor = GROUP_ASSIGNOR_ROUNDROBIN;
    assert_error(group_join(group, &roundrobin_rejoin, 133, now + 3),
                 ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL);
    struct group_join cooperative_rejoin = join_of(B, NULL);
    cooperative_rejoin.cooperative = true;
    assert_error(group_join(group, &cooperative_rejoin, 134, now + 4),
                 ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL);

    /* Refused joins change nothing. */
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->generation, 1);
    assert_int_equal(group->members_count, 2);
    assert_null(group_member_find(group, C));
    assert_error(group_heartbeat(group, A, 1, now + 5), ETHER_OK);
    assert_no_completions(group);

    /* The same protocol is welcome. */
    join_new(group, C, 135, now + 6);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    group_free(group);
}

static void test_join_without_topics_or_with_zero_timeouts_is_invalid(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);

    struct group_join no_topics = join_of("", A);
    no_topics.topics_count = 0;
    assert_error(group_join(group, &no_topics, 141, 0), ETHER_ERR_INVALID_ARGUMENT);
    struct group_join no_session = join_of("", A);
    no_session.session_timeout_ms = 0;
    assert_error(group_join(group, &no_session, 142, 0), ETHER_ERR_INVALID_ARGUMENT);
    struct group_join no_rebalance = join_of("", A);
    no_rebalance.rebalance_timeout_ms = 0;
    assert_error(group_join(group, &no_rebalance, 143, 0), ETHER_ERR_INVALID_ARGUMENT);
    assert_state(group, GROUP_EMPTY);
    assert_int_equal(group->members_count, 0);
    assert_no_completions(group);

    /* Nor does an invalid rejoin disturb a stable group. */
    const char *ids[] = {A};
    uint64_t now = form_group(group, ids, 1, 10);
    struct group_join rejoin_no_topics = join_of(A, NULL);
    rejoin_no_topics.topics_count = 0;
    assert_error(group_join(group, &rejoin_no_topics, 144, now + 1), ETHER_ERR_INVALID_ARGUMENT);
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->generation, 1);
    assert_no_completions(group);
    group_free(group);
}

static void test_second_pending_join_completes_the_first_with_rebalance_in_progress(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);

    /* In the initial delay. */
    join_new(group, A, 151, 0);
    rejoin(group, A, 152, 100);
    const struct expected_completion first[] = {{151, ETHER_ERR_REBALANCE_IN_PROGRESS, A}};
    assert_completions(group, first, 1);
    assert_int_equal(group->members_count, 1);
    assert_int_equal(member_of(group, A)->join_token, 152);
    group_tick(group, 100 + DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    const struct expected_completion second[] = {{152, ETHER_OK, A}};
    assert_completions(group, second, 1);
    sync_ok(group, A, 200 + DELAY_MS);

    /* In a rebalance of a stable group. */
    uint64_t now = 1000 + DELAY_MS;
    join_new(group, B, 153, now);
    rejoin(group, B, 154, now + 10);
    const struct expected_completion third[] = {{153, ETHER_ERR_REBALANCE_IN_PROGRESS, B}};
    assert_completions(group, third, 1);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    rejoin(group, A, 155, now + 20);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion fourth[] = {{154, ETHER_OK, B}, {155, ETHER_OK, A}};
    assert_completions(group, fourth, 2);
    group_free(group);
}

static void
test_completions_carry_their_tokens_and_members_and_taking_empties_the_queue(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    join_new(group, B, 0xB0B, 0);
    join_new(group, C, UINT64_MAX, 10);
    join_new(group, A, 1, 20);
    assert_no_completions(group);
    group_tick(group, 20 + DELAY_MS);

    size_t count = 0;
    struct group_completion *completions = group_take_completions(group, &count);
    assert_int_equal(count, 3);
    assert_non_null(completions);
    bool seen[3] = {false, false, false};
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(completions[i].error, ETHER_OK);
        if (completions[i].token == 1) {
            assert_string_equal(completions[i].member_id, A);
            seen[0] = true;
        } else if (completions[i].token == 0xB0B) {
            assert_string_equal(completions[i].member_id, B);
            seen[1] = true;
        } else {
            assert_true(completions[i].token == UINT64_MAX);
            assert_string_equal(completions[i].member_id, C);
            seen[2] = true;
        }
    }
    assert_true(seen[0]);
    assert_true(seen[1]);
    assert_true(seen[2]);
    /* The completion owns its member id: it outlives the member. */
    assert_error(group_leave(group, C, 30 + DELAY_MS), ETHER_OK);
    assert_error(group_leave(group, B, 30 + DELAY_MS), ETHER_OK);
    assert_error(group_leave(group, A, 30 + DELAY_MS), ETHER_OK);
    assert_state(group, GROUP_EMPTY);
    bool found_c = false;
    for (size_t i = 0; i < count; i++) {
        found_c = found_c || strcmp(completions[i].member_id, C) == 0;
    }
    assert_true(found_c);
    group_completions_free(completions, count);

    size_t again = 99;
    struct group_completion *none = group_take_completions(group, &again);
    assert_int_equal(again, 0);
    group_completions_free(none, again);
    group_free(group);
}

static void test_freeing_a_group_with_pending_joins_and_queued_completions(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    join_new(group, A, 1, 0);
    rejoin(group, A, 2, 10); /* queues a completion for 1 */
    join_new(group, B, 3, 20);
    group_free(group);
    group_free(NULL);
}

/* ---- cooperative and eager hand-over with sticky -------------------------------------- */

/* Every member's "orders" partitions in one generation, by member. */
struct snapshot {
    uint32_t generation;
    uint64_t a;
    uint64_t b;
};

static struct snapshot snapshot_of(const struct group *group)
{
    struct snapshot snapshot = {group->generation, 0, 0};
    if (group_member_find(group, A) != NULL) {
        snapshot.a = orders_of(group, A);
    }
    if (group_member_find(group, B) != NULL) {
        snapshot.b = orders_of(group, B);
    }
    return snapshot;
}

/*
 * A member may still hold its assignment of `before` while the other already
 * consumes what `after` gives it: no partition in two members' hands.
 */
static void assert_never_owned_twice(struct snapshot before, struct snapshot after)
{
    assert_int_equal(after.generation, before.generation + 1);
    assert_int_equal(before.a & before.b, 0);
    assert_int_equal(after.a & after.b, 0);
    assert_int_equal(before.a & after.b, 0);
    assert_int_equal(before.b & after.a, 0);
}

static struct group_join sticky_join(const char *member_id, const char *new_member_id,
                                     bool cooperative, struct group_topic_partition *owned,
                                     uint64_t owned_partitions)
{
    struct group_join join = join_of(member_id, new_member_id);
    join.assignor = GROUP_ASSIGNOR_STICKY;
    join.cooperative = cooperative;
    join.owned = owned;
    join.owned_count = owned_list(owned_partitions, owned);
    return join;
}

/* A alone in the group with all 6 partitions of "orders", synced. Returns the time. */
static uint64_t form_sticky_group_of_a(struct group *group, bool cooperative)
{
    struct group_topic_partition owned[ORDERS_PARTITIONS];
    struct group_join join = sticky_join("", A, cooperative, owned, 0);
    assert_error(group_join(group, &join, 1, 0), ETHER_OK);
    group_tick(group, DELAY_MS);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 1);
    assert_int_equal(orders_of(group, A), ALL_ORDERS);
    sync_ok(group, A, DELAY_MS);
    assert_state(group, GROUP_STABLE); /* nothing withheld: no follow-up */
    const struct expected_completion expected[] = {{1, ETHER_OK, A}};
    assert_completions(group, expected, 1);
    return DELAY_MS;
}

static void
test_cooperative_sticky_withholds_moved_partitions_until_a_follow_up_rebalance(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    struct group_topic_partition owned[ORDERS_PARTITIONS];
    uint64_t now = form_sticky_group_of_a(group, true);
    struct snapshot generation_1 = snapshot_of(group);

    /* B joins; A rejoins, reporting all 6 as owned (it keeps consuming them meanwhile). */
    struct group_join join_b = sticky_join("", B, true, owned, 0);
    assert_error(group_join(group, &join_b, 2, now + 100), ETHER_OK);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_error(group_heartbeat(group, A, 1, now + 200), ETHER_ERR_REBALANCE_IN_PROGRESS);
    struct group_join join_a = sticky_join(A, NULL, true, owned, ALL_ORDERS);
    assert_error(group_join(group, &join_a, 3, now + 300), ETHER_OK);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion joined_2[] = {{2, ETHER_OK, B}, {3, ETHER_OK, A}};
    assert_completions(group, joined_2, 2);

    /* A keeps its part; B's part is still A's, so B gets nothing yet. */
    struct snapshot generation_2 = snapshot_of(group);
    assert_int_equal(bits_count(generation_2.a), ORDERS_PARTITIONS / 2);
    assert_int_equal(generation_2.a & ~(uint64_t)ALL_ORDERS, 0);
    assert_int_equal(generation_2.b, 0);
    assert_int_equal(member_of(group, B)->assignment.count, 0);
    assert_never_owned_twice(generation_1, generation_2);

    /* A gives up the rest (committing first), and both sync: a follow-up rebalance starts. */
    sync_ok(group, A, now + 400);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_error(group_commit_allowed(group, A, 2, now + 450), ETHER_OK);
    sync_ok(group, B, now + 500);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group->generation, 2);
    assert_error(group_commit_allowed(group, A, 2, now + 550), ETHER_OK);
    assert_error(group_heartbeat(group, A, 2, now + 600), ETHER_ERR_REBALANCE_IN_PROGRESS);
    assert_error(group_heartbeat(group, B, 2, now + 600), ETHER_ERR_REBALANCE_IN_PROGRESS);

    /* Both rejoin, A with its reduced set: the freed partitions go to B. */
    join_a = sticky_join(A, NULL, true, owned, generation_2.a);
    assert_error(group_join(group, &join_a, 4, now + 700), ETHER_OK);
    assert_state(group, GROUP_PREPARING_REBALANCE);
    struct group_topic_partition owned_b[ORDERS_PARTITIONS];
    join_b = sticky_join(B, NULL, true, owned_b, 0);
    assert_error(group_join(group, &join_b, 5, now + 800), ETHER_OK);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 3);
    const struct expected_completion joined_3[] = {{4, ETHER_OK, A}, {5, ETHER_OK, B}};
    assert_completions(group, joined_3, 2);

    struct snapshot generation_3 = snapshot_of(group);
    assert_int_equal(generation_3.a, generation_2.a);
    assert_int_equal(generation_3.b, ALL_ORDERS & ~generation_2.a);
    assert_never_owned_twice(generation_2, generation_3);

    /* Nothing withheld this time: syncing ends in STABLE. */
    sync_ok(group, B, now + 900);
    sync_ok(group, A, now + 900);
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->generation, 3);
    assert_error(group_heartbeat(group, A, 3, now + 1000), ETHER_OK);
    assert_no_completions(group);
    group_free(group);
}

static void test_eager_sticky_hands_moved_partitions_over_at_once(void **unused)
{
    (void)unused;
    struct cluster cluster = cluster_of_the_tests();
    struct group *group = new_group(&cluster, 0);
    struct group_topic_partition owned[ORDERS_PARTITIONS];
    uint64_t now = form_sticky_group_of_a(group, false);

    struct group_join join_b = sticky_join("", B, false, owned, 0);
    assert_error(group_join(group, &join_b, 2, now + 100), ETHER_OK);
    struct group_join join_a = sticky_join(A, NULL, false, owned, ALL_ORDERS);
    assert_error(group_join(group, &join_a, 3, now + 200), ETHER_OK);
    assert_state(group, GROUP_COMPLETING_REBALANCE);
    assert_int_equal(group->generation, 2);
    const struct expected_completion joined[] = {{2, ETHER_OK, B}, {3, ETHER_OK, A}};
    assert_completions(group, joined, 2);

    uint64_t a = orders_of(group, A);
    uint64_t b = orders_of(group, B);
    assert_int_equal(bits_count(a), ORDERS_PARTITIONS / 2);
    assert_int_equal(bits_count(b), ORDERS_PARTITIONS / 2);
    assert_int_equal(a & b, 0);
    assert_int_equal(a | b, ALL_ORDERS);

    sync_ok(group, A, now + 300);
    sync_ok(group, B, now + 300);
    assert_state(group, GROUP_STABLE);
    assert_int_equal(group->generation, 2);
    assert_no_completions(group);
    group_free(group);
}

static void test_state_names(void **unused)
{
    (void)unused;
    assert_string_equal(group_state_name(GROUP_EMPTY), "empty");
    assert_string_equal(group_state_name(GROUP_PREPARING_REBALANCE), "preparing-rebalance");
    assert_string_equal(group_state_name(GROUP_COMPLETING_REBALANCE), "completing-rebalance");
    assert_string_equal(group_state_name(GROUP_STABLE), "stable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_generation_is_fenced_while_preparing_a_rebalance),
        cmocka_unit_test(
            test_first_member_completes_after_the_initial_delay_as_leader_of_generation_one),
        cmocka_unit_test(test_group_is_stable_only_once_every_member_has_synced),
        cmocka_unit_test(
            test_three_members_joining_within_the_initial_delay_form_one_balanced_generation),
        cmocka_unit_test(test_generation_continues_from_the_stored_generation),
        cmocka_unit_test(
            test_rejoin_of_a_stable_member_makes_the_others_rejoin_into_the_next_generation),
        cmocka_unit_test(
            test_new_member_joining_a_stable_group_gets_its_share_in_the_next_generation),
        cmocka_unit_test(test_member_that_does_not_rejoin_before_the_rebalance_timeout_is_removed),
        cmocka_unit_test(test_session_expiry_removes_a_silent_member_and_the_rest_rebalance),
        cmocka_unit_test(test_member_that_never_syncs_expires_and_the_rest_rebalance),
        cmocka_unit_test(test_member_waiting_in_a_join_is_not_expired_during_the_join_phase),
        cmocka_unit_test(test_first_member_waiting_through_the_initial_delay_is_not_expired),
        cmocka_unit_test(test_leave_makes_the_others_rebalance),
        cmocka_unit_test(test_leave_of_the_last_member_not_rejoined_ends_the_join_phase),
        cmocka_unit_test(test_last_member_leaving_empties_the_group_and_raises_the_generation),
        cmocka_unit_test(test_last_member_expiring_empties_the_group_and_raises_the_generation),
        cmocka_unit_test(test_unknown_member_id_is_refused_by_every_request),
        cmocka_unit_test(test_stale_generation_is_fenced_on_sync_heartbeat_and_commit),
        cmocka_unit_test(
            test_commit_is_allowed_in_stable_and_preparing_and_after_the_sync_while_completing),
        cmocka_unit_test(test_administrative_commit_is_allowed_only_while_the_group_is_empty),
        cmocka_unit_test(test_join_with_another_assignor_or_mode_is_an_inconsistent_protocol),
        cmocka_unit_test(test_join_without_topics_or_with_zero_timeouts_is_invalid),
        cmocka_unit_test(test_second_pending_join_completes_the_first_with_rebalance_in_progress),
        cmocka_unit_test(
            test_completions_carry_their_tokens_and_members_and_taking_empties_the_queue),
        cmocka_unit_test(test_freeing_a_group_with_pending_joins_and_queued_completions),
        cmocka_unit_test(
            test_cooperative_sticky_withholds_moved_partitions_until_a_follow_up_rebalance),
        cmocka_unit_test(test_eager_sticky_hands_moved_partitions_over_at_once),
        cmocka_unit_test(test_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
