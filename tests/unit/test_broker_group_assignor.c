/*
 * Unit tests for broker/group_assignor: exact range and roundrobin results on
 * small groups, the exactly-once property over random groups for every
 * assignor, independence from member order, and sticky's balance and minimal
 * movement across joins and leaves. Randomised tests print their seed;
 * GROUP_ASSIGNOR_TEST_SEED in the environment overrides it.
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

#include "broker/group_assignor.h"
#include "common/error.h"
#include "common/mem.h"

static const enum group_assignor_kind all_kinds[] = {
    GROUP_ASSIGNOR_RANGE,
    GROUP_ASSIGNOR_ROUNDROBIN,
    GROUP_ASSIGNOR_STICKY,
};
enum { KINDS_COUNT = sizeof all_kinds / sizeof all_kinds[0] };

/* splitmix64: small, seedable, the same on every platform. */
static uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t prng_below(uint64_t *state, size_t bound)
{
    return bound == 0 ? 0 : (size_t)(prng_next(state) % bound);
}

static uint64_t test_seed(uint64_t fallback)
{
    const char *text = getenv("GROUP_ASSIGNOR_TEST_SEED");
    uint64_t seed = text != NULL ? strtoull(text, NULL, 0) : fallback;
    print_message("seed %llu (GROUP_ASSIGNOR_TEST_SEED)\n", (unsigned long long)seed);
    return seed;
}

static struct group_assignor_member member_of(const char *member_id, const char *const *topics,
                                              size_t topics_count)
{
    struct group_assignor_member member = {0};
    member.member_id = member_id;
    member.topics = topics;
    member.topics_count = topics_count;
    return member;
}

static void clear_all(struct group_assignor_member *members, size_t members_count)
{
    for (size_t i = 0; i < members_count; i++) {
        group_assignor_member_clear(&members[i]);
        assert_null(members[i].assigned);
        assert_int_equal(members[i].assigned_count, 0);
    }
}

/* `expected` lists "topic:partition" separated by spaces, in order. */
static void assert_assigned(const struct group_assignor_member *member, const char *expected)
{
    char text[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < member->assigned_count; i++) {
        int written = snprintf(text + used, sizeof text - used, "%s%s:%u", i > 0 ? " " : "",
                               member->assigned[i].topic, (unsigned)member->assigned[i].partition);
        assert_true(written > 0 && (size_t)written < sizeof text - used);
        used += (size_t)written;
    }
    if (strcmp(text, expected) != 0) {
        fail_msg("member %s: expected \"%s\", got \"%s\"", member->member_id, expected, text);
    }
}

static bool contains(const struct group_topic_partition *list, size_t count, const char *topic,
                     uint32_t partition)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(list[i].topic, topic) == 0 && list[i].partition == partition) {
            return true;
        }
    }
    return false;
}

/* ---- names ---------------------------------------------------------------------------- */

static void test_parse_accepts_every_name_and_refuses_others(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < KINDS_COUNT; i++) {
        enum group_assignor_kind kind = GROUP_ASSIGNOR_RANGE;
        const char *name = group_assignor_name(all_kinds[i]);
        assert_int_equal(group_assignor_parse(name, &kind), ETHER_OK);
        assert_int_equal(kind, all_kinds[i]);
    }
    assert_string_equal(group_assignor_name(GROUP_ASSIGNOR_RANGE), "range");
    assert_string_equal(group_assignor_name(GROUP_ASSIGNOR_ROUNDROBIN), "roundrobin");
    assert_string_equal(group_assignor_name(GROUP_ASSIGNOR_STICKY), "sticky");
    enum group_assignor_kind kind = GROUP_ASSIGNOR_STICKY;
    assert_int_equal(group_assignor_parse("bogus", &kind), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(group_assignor_parse("", &kind), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(group_assignor_parse("Range", &kind), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(group_assignor_parse("range ", &kind), ETHER_ERR_INVALID_ARGUMENT);
    assert_int_equal(kind, GROUP_ASSIGNOR_STICKY);
}

/* ---- range and roundrobin ------------------------------------------------------------- */

static const struct group_assignor_topic two_topics[] = {{"t1", 3}, {"t0", 3}};
static const char *const both_topics[] = {"t0", "t1"};

static void test_range_gives_each_member_a_contiguous_range_per_topic(void **unused)
{
    (void)unused;
    /* Given in reverse id order: members are considered sorted by id. */
    struct group_assignor_member members[] = {member_of("b", both_topics, 2),
                                              member_of("a", both_topics, 2)};
    group_assign(GROUP_ASSIGNOR_RANGE, two_topics, 2, members, 2);
    assert_assigned(&members[1], "t0:0 t0:1 t1:0 t1:1");
    assert_assigned(&members[0], "t0:2 t1:2");
    clear_all(members, 2);
}

static void test_range_gives_the_first_members_one_more_when_uneven(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"t", 7}, {"u", 2}};
    static const char *const subscription[] = {"t", "u"};
    struct group_assignor_member members[] = {member_of("c", subscription, 2),
                                              member_of("a", subscription, 2),
                                              member_of("b", subscription, 2)};
    group_assign(GROUP_ASSIGNOR_RANGE, topics, 2, members, 3);
    assert_assigned(&members[1], "t:0 t:1 t:2 u:0");
    assert_assigned(&members[2], "t:3 t:4 u:1");
    assert_assigned(&members[0], "t:5 t:6");
    clear_all(members, 3);
}

static void test_range_shares_a_topic_only_among_its_subscribers(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"x", 4}, {"y", 3}};
    static const char *const only_x[] = {"x"};
    static const char *const x_and_y[] = {"x", "y"};
    static const char *const only_y[] = {"y"};
    struct group_assignor_member members[] = {member_of("a", only_x, 1), member_of("b", x_and_y, 2),
                                              member_of("c", only_y, 1)};
    group_assign(GROUP_ASSIGNOR_RANGE, topics, 2, members, 3);
    assert_assigned(&members[0], "x:0 x:1");
    assert_assigned(&members[1], "x:2 x:3 y:0 y:1");
    assert_assigned(&members[2], "y:2");
    clear_all(members, 3);
}

static void test_roundrobin_deals_partitions_in_turn(void **unused)
{
    (void)unused;
    struct group_assignor_member members[] = {member_of("b", both_topics, 2),
                                              member_of("a", both_topics, 2)};
    group_assign(GROUP_ASSIGNOR_ROUNDROBIN, two_topics, 2, members, 2);
    assert_assigned(&members[1], "t0:0 t0:2 t1:1");
    assert_assigned(&members[0], "t0:1 t1:0 t1:2");
    clear_all(members, 2);
}

static void test_roundrobin_skips_members_not_subscribed_to_the_topic(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"y", 3}, {"x", 3}};
    static const char *const only_x[] = {"x"};
    static const char *const x_and_y[] = {"y", "x"};
    static const char *const only_y[] = {"y"};
    struct group_assignor_member members[] = {member_of("c", only_y, 1), member_of("b", x_and_y, 2),
                                              member_of("a", only_x, 1)};
    group_assign(GROUP_ASSIGNOR_ROUNDROBIN, topics, 2, members, 3);
    /* x0 a, x1 b, x2 (c skipped) a, y0 b, y1 c, y2 (a skipped) b */
    assert_assigned(&members[2], "x:0 x:2");
    assert_assigned(&members[1], "x:1 y:0 y:2");
    assert_assigned(&members[0], "y:1");
    clear_all(members, 3);
}

static void test_assigned_topics_point_at_the_callers_topic_names(void **unused)
{
    (void)unused;
    char zeta[] = "zeta";
    char alpha[] = "alpha";
    const struct group_assignor_topic topics[] = {{zeta, 1}, {alpha, 1}};
    /* The subscription and the owned partition use other copies of the names. */
    static const char *const subscription[] = {"zeta", "alpha"};
    static const struct group_topic_partition owned[] = {{"zeta", 0}};
    for (size_t k = 0; k < KINDS_COUNT; k++) {
        struct group_assignor_member member = member_of("m", subscription, 2);
        member.owned = owned;
        member.owned_count = 1;
        group_assign(all_kinds[k], topics, 2, &member, 1);
        assert_int_equal(member.assigned_count, 2);
        assert_ptr_equal(member.assigned[0].topic, alpha);
        assert_ptr_equal(member.assigned[1].topic, zeta);
        clear_all(&member, 1);
    }
}

static void test_a_repeated_topic_name_counts_once_with_its_first_entry(void **unused)
{
    (void)unused;
    char first[] = "t";
    char second[] = "t";
    const struct group_assignor_topic topics[] = {{first, 2}, {second, 5}};
    static const char *const subscription[] = {"t"};
    for (size_t k = 0; k < KINDS_COUNT; k++) {
        struct group_assignor_member member = member_of("m", subscription, 1);
        group_assign(all_kinds[k], topics, 2, &member, 1);
        assert_assigned(&member, "t:0 t:1");
        assert_ptr_equal(member.assigned[0].topic, first);
        clear_all(&member, 1);
    }
}

/* ---- edge cases, every assignor ------------------------------------------------------- */

static void test_zero_members_assigns_nothing(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < KINDS_COUNT; k++) {
        group_assign(all_kinds[k], two_topics, 2, NULL, 0);
    }
}

static void test_no_topics_or_only_unknown_topics_assign_nothing(void **unused)
{
    (void)unused;
    static const char *const ghosts[] = {"ghost", "phantom"};
    static const struct group_topic_partition owned[] = {{"ghost", 0}};
    for (size_t k = 0; k < KINDS_COUNT; k++) {
        struct group_assignor_member members[] = {member_of("a", ghosts, 2),
                                                  member_of("b", ghosts, 1)};
        members[0].owned = owned;
        members[0].owned_count = 1;
        group_assign(all_kinds[k], NULL, 0, members, 2);
        assert_assigned(&members[0], "");
        assert_assigned(&members[1], "");
        group_assign(all_kinds[k], two_topics, 2, members, 2);
        assert_assigned(&members[0], "");
        assert_null(members[0].assigned);
        assert_assigned(&members[1], "");
        clear_all(members, 2);
    }
}

static void test_unknown_subscribed_topics_are_ignored(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"t", 2}};
    static const char *const subscription[] = {"ghost", "t", "t"};
    static const struct group_topic_partition owned[] = {{"ghost", 0}, {"t", 1}};
    for (size_t k = 0; k < KINDS_COUNT; k++) {
        struct group_assignor_member members[] = {member_of("a", subscription, 3),
                                                  member_of("b", subscription, 1)};
        members[0].owned = owned;
        members[0].owned_count = 2;
        group_assign(all_kinds[k], topics, 1, members, 2);
        assert_assigned(&members[0], "t:0 t:1");
        assert_assigned(&members[1], "");
        clear_all(members, 2);
    }
}

static void test_members_with_empty_subscriptions_get_nothing(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"t", 4}};
    static const char *const subscription[] = {"t"};
    static const char *const expected_a[] = {"t:0 t:1", "t:0 t:2", "t:0 t:2"};
    static const char *const expected_c[] = {"t:2 t:3", "t:1 t:3", "t:1 t:3"};
    for (size_t k = 0; k < KINDS_COUNT; k++) {
        struct group_assignor_member members[] = {member_of("c", subscription, 1),
                                                  member_of("b", NULL, 0),
                                                  member_of("a", subscription, 1)};
        group_assign(all_kinds[k], topics, 1, members, 3);
        assert_assigned(&members[2], expected_a[k]);
        assert_assigned(&members[1], "");
        assert_null(members[1].assigned);
        assert_assigned(&members[0], expected_c[k]);
        clear_all(members, 3);
    }
}

/* ---- random groups -------------------------------------------------------------------- */

enum {
    POOL_TOPICS = 8,
    SCENARIO_TOPICS_MAX = 6,
    SCENARIO_MEMBERS_MAX = 12,
    SUBSCRIPTION_MAX = 10,
    OWNED_MAX = 16,
    NAME_BYTES = 12,
};

static const char *const topic_pool[POOL_TOPICS] = {"alpha", "bravo", "charlie", "delta",
                                                    "echo",  "fox",   "golf",    "ghost"};

struct scenario {
    char topic_names[SCENARIO_TOPICS_MAX][NAME_BYTES];
    struct group_assignor_topic topics[SCENARIO_TOPICS_MAX];
    size_t topics_count;
    char member_ids[SCENARIO_MEMBERS_MAX][NAME_BYTES];
    const char *subscriptions[SCENARIO_MEMBERS_MAX][SUBSCRIPTION_MAX];
    struct group_topic_partition owned[SCENARIO_MEMBERS_MAX][OWNED_MAX];
    struct group_assignor_member members[SCENARIO_MEMBERS_MAX];
    size_t members_count;
};

static void shuffle_members(struct group_assignor_member *members, size_t count, uint64_t *prng)
{
    for (size_t i = count; i > 1; i--) {
        size_t j = prng_below(prng, i);
        struct group_assignor_member swap = members[i - 1];
        members[i - 1] = members[j];
        members[j] = swap;
    }
}

/*
 * Topics: a random subset of the pool in random order ("ghost" never known), 0..8
 * partitions each, names stored apart from the pool. Members: distinct ids, random
 * subscriptions (unknown and repeated names included) and random owned claims
 * (unknown topics, partitions past the count and duplicate claims included).
 */
static void scenario_random(struct scenario *scenario, uint64_t *prng)
{
    memset(scenario, 0, sizeof *scenario);
    size_t order[POOL_TOPICS - 1];
    for (size_t i = 0; i < POOL_TOPICS - 1; i++) {
        order[i] = i;
    }
    for (size_t i = POOL_TOPICS - 1; i > 1; i--) {
        size_t j = prng_below(prng, i);
        size_t swap = order[i - 1];
        order[i - 1] = order[j];
        order[j] = swap;
    }
    scenario->topics_count = prng_below(prng, SCENARIO_TOPICS_MAX + 1);
    for (size_t t = 0; t < scenario->topics_count; t++) {
        snprintf(scenario->topic_names[t], NAME_BYTES, "%s", topic_pool[order[t]]);
        scenario->topics[t].name = scenario->topic_names[t];
        scenario->topics[t].partitions_count = (uint32_t)prng_below(prng, 9);
    }
    scenario->members_count = 1 + prng_below(prng, SCENARIO_MEMBERS_MAX);
    size_t first_id = prng_below(prng, 100);
    for (size_t m = 0; m < scenario->members_count; m++) {
        snprintf(scenario->member_ids[m], NAME_BYTES, "member-%03zu", first_id + 7 * m);
        struct group_assignor_member *member = &scenario->members[m];
        member->member_id = scenario->member_ids[m];
        member->topics = scenario->subscriptions[m];
        member->topics_count = prng_below(prng, 4) == 0 ? 0 : prng_below(prng, SUBSCRIPTION_MAX);
        for (size_t i = 0; i < member->topics_count; i++) {
            scenario->subscriptions[m][i] = topic_pool[prng_below(prng, POOL_TOPICS)];
        }
        member->owned = scenario->owned[m];
        member->owned_count = prng_below(prng, OWNED_MAX);
        for (size_t i = 0; i < member->owned_count; i++) {
            scenario->owned[m][i].topic = topic_pool[prng_below(prng, POOL_TOPICS)];
            scenario->owned[m][i].partition = (uint32_t)prng_below(prng, 11);
        }
    }
    shuffle_members(scenario->members, scenario->members_count, prng);
}

static bool subscribes_to(const struct group_assignor_member *member, const char *topic)
{
    for (size_t i = 0; i < member->topics_count; i++) {
        if (strcmp(member->topics[i], topic) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Every partition of a topic someone subscribes to is assigned exactly once, to a
 * subscriber; nothing else is assigned; every list is sorted and points at `topics`.
 */
static void assert_exactly_once(const struct scenario *scenario, const char *context)
{
    unsigned times[SCENARIO_TOPICS_MAX][9] = {{0}};
    for (size_t m = 0; m < scenario->members_count; m++) {
        const struct group_assignor_member *member = &scenario->members[m];
        for (size_t i = 0; i < member->assigned_count; i++) {
            const struct group_topic_partition *entry = &member->assigned[i];
            size_t t = 0;
            while (t < scenario->topics_count && entry->topic != scenario->topics[t].name) {
                t++;
            }
            if (t == scenario->topics_count ||
                entry->partition >= scenario->topics[t].partitions_count) {
                fail_msg("%s: %s got %s:%u, not a partition", context, member->member_id,
                         entry->topic, (unsigned)entry->partition);
            }
            if (!subscribes_to(member, entry->topic)) {
                fail_msg("%s: %s got %s:%u without subscribing", context, member->member_id,
                         entry->topic, (unsigned)entry->partition);
            }
            if (i > 0) {
                int order = strcmp(member->assigned[i - 1].topic, entry->topic);
                if (order > 0 ||
                    (order == 0 && member->assigned[i - 1].partition >= entry->partition)) {
                    fail_msg("%s: %s's assignment is not sorted", context, member->member_id);
                }
            }
            times[t][entry->partition]++;
        }
    }
    for (size_t t = 0; t < scenario->topics_count; t++) {
        bool subscribed = false;
        for (size_t m = 0; m < scenario->members_count && !subscribed; m++) {
            subscribed = subscribes_to(&scenario->members[m], scenario->topics[t].name);
        }
        for (uint32_t p = 0; p < scenario->topics[t].partitions_count; p++) {
            if (times[t][p] != (subscribed ? 1u : 0u)) {
                fail_msg("%s: %s:%u assigned %u times", context, scenario->topics[t].name,
                         (unsigned)p, times[t][p]);
            }
        }
    }
}

static const struct group_assignor_member *find_member(const struct group_assignor_member *members,
                                                       size_t count, const char *member_id)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(members[i].member_id, member_id) == 0) {
            return &members[i];
        }
    }
    fail_msg("no member %s", member_id);
    return NULL;
}

static void test_every_partition_goes_to_exactly_one_subscriber(void **unused)
{
    (void)unused;
    enum { ROUNDS = 3000 };
    uint64_t seed = test_seed(31337);
    uint64_t prng = seed;
    struct scenario *scenario = ether_calloc(1, sizeof *scenario);
    for (int round = 0; round < ROUNDS; round++) {
        scenario_random(scenario, &prng);
        for (size_t k = 0; k < KINDS_COUNT; k++) {
            char context[96];
            snprintf(context, sizeof context, "seed %llu round %d %s", (unsigned long long)seed,
                     round, group_assignor_name(all_kinds[k]));
            group_assign(all_kinds[k], scenario->topics, scenario->topics_count, scenario->members,
                         scenario->members_count);
            assert_exactly_once(scenario, context);
            clear_all(scenario->members, scenario->members_count);
        }
    }
    ether_free(scenario);
}

static void test_result_does_not_depend_on_member_order(void **unused)
{
    (void)unused;
    enum { ROUNDS = 1000 };
    uint64_t seed = test_seed(4242);
    uint64_t prng = seed;
    struct scenario *scenario = ether_calloc(1, sizeof *scenario);
    struct group_assignor_member shuffled[SCENARIO_MEMBERS_MAX];
    for (int round = 0; round < ROUNDS; round++) {
        scenario_random(scenario, &prng);
        size_t count = scenario->members_count;
        memcpy(shuffled, scenario->members, count * sizeof shuffled[0]);
        shuffle_members(shuffled, count, &prng);
        for (size_t k = 0; k < KINDS_COUNT; k++) {
            group_assign(all_kinds[k], scenario->topics, scenario->topics_count, scenario->members,
                         count);
            group_assign(all_kinds[k], scenario->topics, scenario->topics_count, shuffled, count);
            for (size_t m = 0; m < count; m++) {
                const struct group_assignor_member *left = &scenario->members[m];
                const struct group_assignor_member *right =
                    find_member(shuffled, count, left->member_id);
                bool same = left->assigned_count == right->assigned_count;
                for (size_t i = 0; same && i < left->assigned_count; i++) {
                    same = left->assigned[i].topic == right->assigned[i].topic &&
                           left->assigned[i].partition == right->assigned[i].partition;
                }
                if (!same) {
                    fail_msg("seed %llu round %d %s: %s differs with another member order",
                             (unsigned long long)seed, round, group_assignor_name(all_kinds[k]),
                             left->member_id);
                }
            }
            clear_all(scenario->members, count);
            clear_all(shuffled, count);
        }
    }
    ether_free(scenario);
}

static void test_range_and_roundrobin_ignore_owned_partitions(void **unused)
{
    (void)unused;
    static const struct group_topic_partition owned[] = {{"t1", 0}, {"t1", 1}, {"t1", 2}};
    for (size_t k = 0; k < 2; k++) {
        struct group_assignor_member plain[] = {member_of("a", both_topics, 2),
                                                member_of("b", both_topics, 2)};
        struct group_assignor_member owning[] = {member_of("a", both_topics, 2),
                                                 member_of("b", both_topics, 2)};
        owning[1].owned = owned;
        owning[1].owned_count = 3;
        group_assign(all_kinds[k], two_topics, 2, plain, 2);
        group_assign(all_kinds[k], two_topics, 2, owning, 2);
        for (size_t m = 0; m < 2; m++) {
            assert_int_equal(plain[m].assigned_count, owning[m].assigned_count);
            for (size_t i = 0; i < plain[m].assigned_count; i++) {
                assert_ptr_equal(plain[m].assigned[i].topic, owning[m].assigned[i].topic);
                assert_int_equal(plain[m].assigned[i].partition, owning[m].assigned[i].partition);
            }
        }
        clear_all(plain, 2);
        clear_all(owning, 2);
    }
}

/* ---- sticky --------------------------------------------------------------------------- */

static const struct group_assignor_topic topic_t6[] = {{"t", 6}};
static const char *const subscription_t[] = {"t"};

static void test_sticky_without_owned_partitions_deals_them_out_balanced(void **unused)
{
    (void)unused;
    struct group_assignor_member members[] = {member_of("c", subscription_t, 1),
                                              member_of("a", subscription_t, 1),
                                              member_of("b", subscription_t, 1)};
    group_assign(GROUP_ASSIGNOR_STICKY, topic_t6, 1, members, 3);
    assert_assigned(&members[1], "t:0 t:3");
    assert_assigned(&members[2], "t:1 t:4");
    assert_assigned(&members[0], "t:2 t:5");
    clear_all(members, 3);
}

static void test_sticky_member_leaving_moves_only_its_partitions(void **unused)
{
    (void)unused;
    static const struct group_topic_partition owned_a[] = {{"t", 0}, {"t", 3}};
    static const struct group_topic_partition owned_c[] = {{"t", 2}, {"t", 5}};
    /* b, which held t:1 and t:4, has left. */
    struct group_assignor_member members[] = {member_of("c", subscription_t, 1),
                                              member_of("a", subscription_t, 1)};
    members[0].owned = owned_c;
    members[0].owned_count = 2;
    members[1].owned = owned_a;
    members[1].owned_count = 2;
    group_assign(GROUP_ASSIGNOR_STICKY, topic_t6, 1, members, 2);
    assert_assigned(&members[1], "t:0 t:1 t:3");
    assert_assigned(&members[0], "t:2 t:4 t:5");
    clear_all(members, 2);
}

/*
 * Assigns sticky from scratch to `count` members "a", "b", ... then lets "z" join:
 * the old members may only lose partitions (their highest ones), `expected_moved` of
 * them, and z gets exactly those.
 */
static void join_one(uint32_t partitions_count, size_t count, size_t expected_moved,
                     const char *expected_new)
{
    const struct group_assignor_topic topics[] = {{"t", partitions_count}};
    static const char *const ids[] = {"a", "b", "c", "d", "e", "z"};
    struct group_assignor_member before[5];
    struct group_assignor_member after[6];
    assert_true(count <= 5);
    for (size_t i = 0; i < count; i++) {
        before[i] = member_of(ids[i], subscription_t, 1);
    }
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 1, before, count);
    for (size_t i = 0; i < count; i++) {
        after[i] = member_of(ids[i], subscription_t, 1);
        after[i].owned = before[i].assigned;
        after[i].owned_count = before[i].assigned_count;
    }
    after[count] = member_of("z", subscription_t, 1);
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 1, after, count + 1);
    size_t moved = 0;
    for (size_t i = 0; i < count; i++) {
        size_t kept = 0;
        for (size_t j = 0; j < after[i].assigned_count; j++) {
            if (contains(before[i].assigned, before[i].assigned_count, "t",
                         after[i].assigned[j].partition)) {
                kept++;
            } else {
                fail_msg("%s gained t:%u while z joined", ids[i],
                         (unsigned)after[i].assigned[j].partition);
            }
        }
        moved += before[i].assigned_count - kept;
    }
    assert_int_equal(moved, expected_moved);
    assert_int_equal(after[count].assigned_count, expected_moved);
    assert_assigned(&after[count], expected_new);
    clear_all(before, count);
    clear_all(after, count + 1);
}

static void test_sticky_member_joining_takes_only_what_it_needs(void **unused)
{
    (void)unused;
    /* a {0 3 6 9} b {1 4 7 10} c {2 5 8 11} -> each gives its highest to z */
    join_one(12, 3, 3, "t:9 t:10 t:11");
    /* a {0 3} b {1 4} c {2 5}: the ceil caps go to a and b, c gives t:5 */
    join_one(6, 3, 1, "t:5");
    /* a {0 2 4 6} b {1 3 5} -> 3 2 2 */
    join_one(7, 2, 2, "t:5 t:6");
    /* a {0 4 8} b {1 5 9} c {2 6} d {3 7} -> 2 2 2 2 2 */
    join_one(10, 4, 2, "t:8 t:9");
    /* 1 1 1 0 0 -> 1 1 1 0 0 0 */
    join_one(3, 5, 0, "");
}

static void test_sticky_duplicate_claims_go_to_the_member_claiming_fewer(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"t", 4}};
    static const struct group_topic_partition three[] = {{"t", 0}, {"t", 1}, {"t", 2}};
    static const struct group_topic_partition zero[] = {{"t", 0}};
    struct group_assignor_member members[] = {member_of("a", subscription_t, 1),
                                              member_of("b", subscription_t, 1)};
    members[0].owned = three;
    members[0].owned_count = 3;
    members[1].owned = zero;
    members[1].owned_count = 1;
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 1, members, 2);
    /* b (1 claim) keeps t:0 over a (3 claims); a keeps t:1 t:2; t:3 balances b. */
    assert_assigned(&members[0], "t:1 t:2");
    assert_assigned(&members[1], "t:0 t:3");
    clear_all(members, 2);

    /* A member's repeated claim counts once: b (1 distinct) beats a (2). */
    static const struct group_topic_partition repeated[] = {{"t", 2}, {"t", 2}, {"t", 2}};
    static const struct group_topic_partition two[] = {{"t", 2}, {"t", 0}};
    members[0].owned = two;
    members[0].owned_count = 2;
    members[1].owned = repeated;
    members[1].owned_count = 3;
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 1, members, 2);
    assert_assigned(&members[0], "t:0 t:1");
    assert_assigned(&members[1], "t:2 t:3");
    clear_all(members, 2);

    /* Equal claims: the smaller member id keeps it, whatever the order of members. */
    struct group_assignor_member pair[] = {member_of("b", subscription_t, 1),
                                           member_of("a", subscription_t, 1)};
    pair[0].owned = zero;
    pair[0].owned_count = 1;
    pair[1].owned = zero;
    pair[1].owned_count = 1;
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 1, pair, 2);
    assert_assigned(&pair[1], "t:0 t:2");
    assert_assigned(&pair[0], "t:1 t:3");
    clear_all(pair, 2);
}

static void test_sticky_gives_the_extra_partition_to_the_member_that_kept_more(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"t", 5}};
    static const struct group_topic_partition owned_a[] = {{"t", 2}};
    static const struct group_topic_partition owned_b[] = {{"t", 0}, {"t", 1}};
    struct group_assignor_member members[] = {member_of("a", subscription_t, 1),
                                              member_of("b", subscription_t, 1)};
    members[0].owned = owned_a;
    members[0].owned_count = 1;
    members[1].owned = owned_b;
    members[1].owned_count = 2;
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 1, members, 2);
    /* b kept more, so b's cap is ceil(5/2) = 3 and a's is 2: t:3 goes to a (fewest),
     * then t:4 to b although a holds as few, because a is at its cap. */
    assert_assigned(&members[0], "t:2 t:3");
    assert_assigned(&members[1], "t:0 t:1 t:4");
    clear_all(members, 2);
}

static void test_sticky_ignores_owned_partitions_that_are_gone_or_not_subscribed(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"t", 3}, {"u", 2}};
    static const struct group_topic_partition owned_a[] = {{"t", 5}, {"u", 0}, {"ghost", 1}};
    static const struct group_topic_partition owned_b[] = {{"t", 2}, {"t", 3}, {"t", 4}};
    static const char *const t_and_u[] = {"t", "u"};
    struct group_assignor_member members[] = {member_of("a", subscription_t, 1),
                                              member_of("b", t_and_u, 2)};
    members[0].owned = owned_a;
    members[0].owned_count = 3;
    members[1].owned = owned_b;
    members[1].owned_count = 3;
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 2, members, 2);
    /* a keeps nothing (t:5 is gone, it does not subscribe to u); b keeps t:2. */
    assert_assigned(&members[0], "t:0 t:1");
    assert_assigned(&members[1], "t:2 u:0 u:1");
    clear_all(members, 2);
}

static void test_sticky_keeps_partitions_only_one_member_can_take(void **unused)
{
    (void)unused;
    static const struct group_assignor_topic topics[] = {{"x", 2}, {"y", 10}};
    static const struct group_topic_partition everything[] = {
        {"x", 0}, {"x", 1}, {"y", 0}, {"y", 1}, {"y", 2}, {"y", 3},
        {"y", 4}, {"y", 5}, {"y", 6}, {"y", 7}, {"y", 8}, {"y", 9}};
    static const char *const x_and_y[] = {"x", "y"};
    static const char *const only_x[] = {"x"};
    struct group_assignor_member members[] = {member_of("a", x_and_y, 2),
                                              member_of("b", only_x, 1)};
    members[0].owned = everything;
    members[0].owned_count = 12;
    group_assign(GROUP_ASSIGNOR_STICKY, topics, 2, members, 2);
    assert_assigned(&members[0], "y:0 y:1 y:2 y:3 y:4 y:5 y:6 y:7 y:8 y:9");
    assert_assigned(&members[1], "x:0 x:1");
    clear_all(members, 2);
}

static void test_sticky_is_balanced_for_identical_subscriptions(void **unused)
{
    (void)unused;
    enum { ROUNDS = 2000 };
    uint64_t seed = test_seed(99);
    uint64_t prng = seed;
    struct scenario *scenario = ether_calloc(1, sizeof *scenario);
    static const char *const pool_known[] = {"alpha", "bravo", "charlie", "delta",
                                             "echo",  "fox",   "golf"};
    for (int round = 0; round < ROUNDS; round++) {
        scenario_random(scenario, &prng);
        /* Everyone subscribes to every known topic (and "ghost"); owned stay random. */
        for (size_t m = 0; m < scenario->members_count; m++) {
            struct group_assignor_member *member = &scenario->members[m];
            member->topics = pool_known;
            member->topics_count = 7;
        }
        size_t total = 0;
        for (size_t t = 0; t < scenario->topics_count; t++) {
            total += scenario->topics[t].partitions_count;
        }
        group_assign(GROUP_ASSIGNOR_STICKY, scenario->topics, scenario->topics_count,
                     scenario->members, scenario->members_count);
        size_t count = scenario->members_count;
        size_t ceil_count = 0;
        for (size_t m = 0; m < count; m++) {
            size_t got = scenario->members[m].assigned_count;
            if (got != total / count && got != (total + count - 1) / count) {
                fail_msg("seed %llu round %d: %zu of %zu partitions for one of %zu members",
                         (unsigned long long)seed, round, got, total, count);
            }
            ceil_count += (got == total / count + 1) ? 1 : 0;
        }
        if (total % count != 0) {
            assert_int_equal(ceil_count, total % count);
        }
        clear_all(scenario->members, count);
    }
    ether_free(scenario);
}

/* ---- sticky across generations -------------------------------------------------------- */

enum { LIVE_MAX = 10, GENERATIONS = 12 };

struct live_member {
    char id[NAME_BYTES];
    struct group_topic_partition *previous; /* the last generation's assignment */
    size_t previous_count;
};

static void sort_descending(size_t *values, size_t count)
{
    for (size_t i = 1; i < count; i++) {
        for (size_t j = i; j > 0 && values[j - 1] < values[j]; j--) {
            size_t swap = values[j];
            values[j] = values[j - 1];
            values[j - 1] = swap;
        }
    }
}

/*
 * A homogeneous group lives through generations of random leaves, joins and
 * partition count changes. Each generation must be balanced and keep exactly the
 * most any balanced assignment can keep: with kept_i the still-valid partitions of
 * member i, sorted descending, and caps ceil for the first N % M, floor for the
 * rest, that is the sum of min(kept_i, cap_i). A member whose kept_i is at most
 * floor(N/M) loses nothing.
 */
static void test_sticky_moves_the_fewest_partitions_across_joins_and_leaves(void **unused)
{
    (void)unused;
    enum { ROUNDS = 300 };
    uint64_t seed = test_seed(7);
    uint64_t prng = seed;
    static const char *const subscription[] = {"alpha", "bravo", "charlie"};
    for (int round = 0; round < ROUNDS; round++) {
        struct group_assignor_topic topics[3] = {{"charlie", 0}, {"alpha", 0}, {"bravo", 0}};
        size_t topics_count = 1 + prng_below(&prng, 3);
        for (size_t t = 0; t < topics_count; t++) {
            topics[t].partitions_count = (uint32_t)prng_below(&prng, 13);
        }
        struct live_member live[LIVE_MAX];
        size_t live_count = 0;
        size_t next_id = 0;
        for (int generation = 0; generation < GENERATIONS; generation++) {
            /* Leaves, joins, partition count changes. */
            while (live_count > 0 && prng_below(&prng, 3) == 0) {
                size_t leaving = prng_below(&prng, live_count);
                ether_free(live[leaving].previous);
                live[leaving] = live[--live_count];
            }
            size_t joining = prng_below(&prng, 3);
            for (size_t i = 0; i < joining && live_count < LIVE_MAX; i++) {
                struct live_member *member = &live[live_count++];
                snprintf(member->id, NAME_BYTES, "m%02zu", (next_id++ * 37) % 100);
                member->previous = NULL;
                member->previous_count = 0;
            }
            if (prng_below(&prng, 4) == 0) {
                size_t t = prng_below(&prng, topics_count);
                topics[t].partitions_count = (uint32_t)prng_below(&prng, 13);
            }
            if (live_count == 0) {
                continue;
            }
            struct group_assignor_member members[LIVE_MAX];
            size_t kept_before[LIVE_MAX];
            size_t partitions = 0;
            for (size_t t = 0; t < topics_count; t++) {
                partitions += topics[t].partitions_count;
            }
            for (size_t m = 0; m < live_count; m++) {
                members[m] = member_of(live[m].id, subscription, 3);
                members[m].owned = live[m].previous;
                members[m].owned_count = live[m].previous_count;
                kept_before[m] = 0;
                for (size_t i = 0; i < live[m].previous_count; i++) {
                    const struct group_topic_partition *owned = &live[m].previous[i];
                    for (size_t t = 0; t < topics_count; t++) {
                        if (strcmp(owned->topic, topics[t].name) == 0 &&
                            owned->partition < topics[t].partitions_count) {
                            kept_before[m]++;
                        }
                    }
                }
            }
            group_assign(GROUP_ASSIGNOR_STICKY, topics, topics_count, members, live_count);

            size_t floor_quota = partitions / live_count;
            size_t caps_sorted[LIVE_MAX];
            memcpy(caps_sorted, kept_before, live_count * sizeof kept_before[0]);
            sort_descending(caps_sorted, live_count);
            size_t best_kept = 0;
            for (size_t i = 0; i < live_count; i++) {
                size_t cap = floor_quota + (i < partitions % live_count ? 1 : 0);
                best_kept += caps_sorted[i] < cap ? caps_sorted[i] : cap;
            }
            size_t kept = 0;
            for (size_t m = 0; m < live_count; m++) {
                size_t got = members[m].assigned_count;
                if (got != floor_quota && got != floor_quota + 1) {
                    fail_msg("seed %llu round %d generation %d: %s has %zu of %zu partitions",
                             (unsigned long long)seed, round, generation, live[m].id, got,
                             partitions);
                }
                size_t kept_by_member = 0;
                for (size_t i = 0; i < got; i++) {
                    kept_by_member +=
                        contains(live[m].previous, live[m].previous_count,
                                 members[m].assigned[i].topic, members[m].assigned[i].partition)
                            ? 1
                            : 0;
                }
                if (kept_before[m] <= floor_quota && kept_by_member != kept_before[m]) {
                    fail_msg("seed %llu round %d generation %d: %s under its quota lost %zu",
                             (unsigned long long)seed, round, generation, live[m].id,
                             kept_before[m] - kept_by_member);
                }
                kept += kept_by_member;
            }
            if (kept != best_kept) {
                fail_msg("seed %llu round %d generation %d: kept %zu partitions, %zu possible",
                         (unsigned long long)seed, round, generation, kept, best_kept);
            }
            for (size_t m = 0; m < live_count; m++) {
                ether_free(live[m].previous);
                live[m].previous = members[m].assigned;
                live[m].previous_count = members[m].assigned_count;
            }
        }
        for (size_t m = 0; m < live_count; m++) {
            ether_free(live[m].previous);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_every_name_and_refuses_others),
        cmocka_unit_test(test_range_gives_each_member_a_contiguous_range_per_topic),
        cmocka_unit_test(test_range_gives_the_first_members_one_more_when_uneven),
        cmocka_unit_test(test_range_shares_a_topic_only_among_its_subscribers),
        cmocka_unit_test(test_roundrobin_deals_partitions_in_turn),
        cmocka_unit_test(test_roundrobin_skips_members_not_subscribed_to_the_topic),
        cmocka_unit_test(test_assigned_topics_point_at_the_callers_topic_names),
        cmocka_unit_test(test_a_repeated_topic_name_counts_once_with_its_first_entry),
        cmocka_unit_test(test_zero_members_assigns_nothing),
        cmocka_unit_test(test_no_topics_or_only_unknown_topics_assign_nothing),
        cmocka_unit_test(test_unknown_subscribed_topics_are_ignored),
        cmocka_unit_test(test_members_with_empty_subscriptions_get_nothing),
        cmocka_unit_test(test_every_partition_goes_to_exactly_one_subscriber),
        cmocka_unit_test(test_result_does_not_depend_on_member_order),
        cmocka_unit_test(test_range_and_roundrobin_ignore_owned_partitions),
        cmocka_unit_test(test_sticky_without_owned_partitions_deals_them_out_balanced),
        cmocka_unit_test(test_sticky_member_leaving_moves_only_its_partitions),
        cmocka_unit_test(test_sticky_member_joining_takes_only_what_it_needs),
        cmocka_unit_test(test_sticky_duplicate_claims_go_to_the_member_claiming_fewer),
        cmocka_unit_test(test_sticky_gives_the_extra_partition_to_the_member_that_kept_more),
        cmocka_unit_test(test_sticky_ignores_owned_partitions_that_are_gone_or_not_subscribed),
        cmocka_unit_test(test_sticky_keeps_partitions_only_one_member_can_take),
        cmocka_unit_test(test_sticky_is_balanced_for_identical_subscriptions),
        cmocka_unit_test(test_sticky_moves_the_fewest_partitions_across_joins_and_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
