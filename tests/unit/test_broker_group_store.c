/*
 * Unit tests for broker/group_store: records built by the record functions and
 * applied in log order (commits, overwrites, removals, generations, group
 * tombstones), iteration order, snapshots (exact round trips, every
 * truncation and bit flip refused), damaged records refused without changing
 * the store, name and metadata limits, and a store of thousands of groups. A
 * randomised run is checked against a naive model. Randomised tests print their
 * seed; GROUP_STORE_TEST_SEED in the environment overrides it.
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

#include "broker/group_store.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/mem.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static struct group_offset offset_of(int64_t offset, int64_t timestamp_ms, uint32_t generation,
                                     const char *metadata)
{
    struct group_offset value = {offset, timestamp_ms, generation, metadata};
    return value;
}

static void commit(struct group_store *store, const char *group, const char *topic,
                   uint32_t partition, struct group_offset offset)
{
    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    group_store_offset_record(group, topic, partition, &offset, &key, &value);
    assert_int_equal(group_store_apply(store, key.data, key.length, value.data, value.length),
                     ETHER_OK);
    ether_buf_free(&key);
    ether_buf_free(&value);
}

/* The key of an offset record, which with an empty value removes the offset. */
static void remove_offset(struct group_store *store, const char *group, const char *topic,
                          uint32_t partition)
{
    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    struct group_offset unused = offset_of(0, 0, 0, "");
    group_store_offset_record(group, topic, partition, &unused, &key, &value);
    assert_int_equal(group_store_apply(store, key.data, key.length, NULL, 0), ETHER_OK);
    ether_buf_free(&key);
    ether_buf_free(&value);
}

static void set_generation(struct group_store *store, const char *group, uint32_t generation)
{
    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    group_store_group_record(group, generation, &key, &value);
    assert_int_equal(group_store_apply(store, key.data, key.length, value.data, value.length),
                     ETHER_OK);
    ether_buf_free(&key);
    ether_buf_free(&value);
}

static void delete_group(struct group_store *store, const char *group)
{
    struct ether_buf key = ETHER_BUF_INIT;
    group_store_group_tombstone(group, &key);
    assert_int_equal(group_store_apply(store, key.data, key.length, NULL, 0), ETHER_OK);
    ether_buf_free(&key);
}

static void assert_offset(const struct group_store *store, const char *group, const char *topic,
                          uint32_t partition, struct group_offset expected)
{
    const struct group_offset *found = group_store_offset(store, group, topic, partition);
    if (found == NULL) {
        fail_msg("no offset for %s/%s/%u", group, topic, partition);
    }
    assert_int_equal(found->offset, expected.offset);
    assert_int_equal(found->commit_timestamp_ms, expected.commit_timestamp_ms);
    assert_int_equal(found->generation, expected.generation);
    assert_string_equal(found->metadata, expected.metadata);
}

static void encode(const struct group_store *store, struct ether_buf *out)
{
    ether_buf_clear(out);
    group_store_encode(store, out);
}

static void assert_encodes_to(const struct group_store *store, const struct ether_buf *expected)
{
    struct ether_buf now = ETHER_BUF_INIT;
    encode(store, &now);
    assert_int_equal(now.length, expected->length);
    assert_memory_equal(now.data, expected->data, now.length);
    ether_buf_free(&now);
}

static void rechecksum(uint8_t *snapshot, size_t length)
{
    assert_true(length >= 4);
    ether_put_u32le(snapshot + length - 4, ether_crc32c(snapshot, length - 4));
}

/* splitmix64: small, seedable, the same on every platform. */
static uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t prng_below(uint64_t *state, uint64_t bound)
{
    return bound == 0 ? 0 : prng_next(state) % bound;
}

static uint64_t test_seed(uint64_t fallback)
{
    const char *text = getenv("GROUP_STORE_TEST_SEED");
    uint64_t seed = text != NULL ? strtoull(text, NULL, 0) : fallback;
    printf("# GROUP_STORE_TEST_SEED=%llu\n", (unsigned long long)seed);
    return seed;
}

/* A name of 1..length_max bytes from 1..255 (any byte but NUL), or from a few letters. */
static void random_name(uint64_t *prng, char *out, size_t length_max, bool few_letters)
{
    size_t length = 1 + (size_t)prng_below(prng, length_max);
    for (size_t i = 0; i < length; i++) {
        out[i] = few_letters ? (char)('a' + prng_below(prng, 3))
                             : (char)(uint8_t)(1 + prng_below(prng, 255));
    }
    out[length] = '\0';
}

/* ---- records and semantics ---------------------------------------------------------------- */

static void test_committed_offset_reads_back_with_every_field(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    assert_null(group_store_offset(&store, "g", "t", 0));
    assert_false(group_store_has_group(&store, "g"));

    commit(&store, "g", "t", 3, offset_of(42, 1700000000123, 7, "client-1 at host"));
    commit(&store, "g", "t", 4, offset_of(-1, -5, 0, ""));
    commit(&store, "g", "u", 3, offset_of(INT64_MAX, INT64_MIN, UINT32_MAX, NULL));

    assert_offset(&store, "g", "t", 3, offset_of(42, 1700000000123, 7, "client-1 at host"));
    assert_offset(&store, "g", "t", 4, offset_of(-1, -5, 0, ""));
    assert_offset(&store, "g", "u", 3, offset_of(INT64_MAX, INT64_MIN, UINT32_MAX, ""));
    assert_null(group_store_offset(&store, "g", "t", 5));
    assert_null(group_store_offset(&store, "g", "v", 3));
    assert_null(group_store_offset(&store, "h", "t", 3));
    group_store_free(&store);
}

static void test_offset_commit_for_an_unknown_group_creates_it_with_generation_zero(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    commit(&store, "fresh", "t", 0, offset_of(1, 1, 9, "m"));
    assert_true(group_store_has_group(&store, "fresh"));
    assert_int_equal(group_store_generation(&store, "fresh"), 0);
    assert_int_equal(store.groups_count, 1);
    /* A later group record sets the generation and keeps the offsets. */
    set_generation(&store, "fresh", 4);
    assert_int_equal(group_store_generation(&store, "fresh"), 4);
    assert_offset(&store, "fresh", "t", 0, offset_of(1, 1, 9, "m"));
    group_store_free(&store);
}

static void count_offset(void *context, const char *topic, uint32_t partition,
                         const struct group_offset *offset)
{
    (void)topic;
    (void)partition;
    (void)offset;
    (*(size_t *)context)++;
}

static void test_a_later_commit_overwrites_the_offset_and_its_metadata(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    commit(&store, "g", "t", 1, offset_of(10, 100, 1, "first"));
    commit(&store, "g", "t", 1, offset_of(20, 200, 2, "second, longer than the first"));
    assert_offset(&store, "g", "t", 1, offset_of(20, 200, 2, "second, longer than the first"));
    /* Going back is the log's decision (an administrative reset), not refused. */
    commit(&store, "g", "t", 1, offset_of(5, 300, 0, ""));
    assert_offset(&store, "g", "t", 1, offset_of(5, 300, 0, ""));

    size_t offsets = 0;
    group_store_for_each_offset(&store, "g", count_offset, &offsets);
    assert_int_equal(offsets, 1);
    group_store_free(&store);
}

static void test_empty_value_removes_only_that_offset_and_keeps_the_group(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    set_generation(&store, "g", 3);
    commit(&store, "g", "t", 1, offset_of(10, 1, 3, "a"));
    commit(&store, "g", "t", 2, offset_of(20, 1, 3, "b"));
    commit(&store, "h", "t", 1, offset_of(30, 1, 0, "c"));

    remove_offset(&store, "g", "t", 1);
    assert_null(group_store_offset(&store, "g", "t", 1));
    assert_offset(&store, "g", "t", 2, offset_of(20, 1, 3, "b"));
    assert_offset(&store, "h", "t", 1, offset_of(30, 1, 0, "c"));

    /* The last offset of a group of generation 0 goes; the group stays until a tombstone. */
    remove_offset(&store, "h", "t", 1);
    assert_null(group_store_offset(&store, "h", "t", 1));
    assert_true(group_store_has_group(&store, "h"));
    assert_int_equal(group_store_generation(&store, "h"), 0);
    assert_int_equal(group_store_generation(&store, "g"), 3);

    /* Removing what is not stored changes nothing and creates no group. */
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&store, &before);
    remove_offset(&store, "g", "t", 1);
    remove_offset(&store, "g", "never", 1);
    remove_offset(&store, "nobody", "t", 1);
    assert_false(group_store_has_group(&store, "nobody"));
    assert_encodes_to(&store, &before);
    ether_buf_free(&before);
    group_store_free(&store);
}

static void test_group_tombstone_removes_the_group_and_all_its_offsets_and_no_other(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    for (uint32_t p = 0; p < 20; p++) {
        commit(&store, "doomed", p % 2 == 0 ? "even" : "odd", p, offset_of(p, p, 1, "x"));
        commit(&store, "doomed-not", "even", p, offset_of(100 + p, p, 1, "y"));
        commit(&store, "doome", "even", p, offset_of(200 + p, p, 1, "z"));
    }
    set_generation(&store, "doomed", 8);
    set_generation(&store, "doomed-not", 2);

    delete_group(&store, "doomed");
    assert_false(group_store_has_group(&store, "doomed"));
    assert_int_equal(group_store_generation(&store, "doomed"), 0);
    for (uint32_t p = 0; p < 20; p++) {
        assert_null(group_store_offset(&store, "doomed", p % 2 == 0 ? "even" : "odd", p));
        assert_offset(&store, "doomed-not", "even", p, offset_of(100 + p, p, 1, "y"));
        assert_offset(&store, "doome", "even", p, offset_of(200 + p, p, 1, "z"));
    }
    assert_int_equal(group_store_generation(&store, "doomed-not"), 2);
    assert_int_equal(store.groups_count, 2);

    /* A deleted group starts over: a lower generation is accepted again. */
    set_generation(&store, "doomed", 1);
    assert_int_equal(group_store_generation(&store, "doomed"), 1);
    assert_null(group_store_offset(&store, "doomed", "even", 0));

    /* Deleting an unknown group is a no-op. */
    delete_group(&store, "ghost");
    assert_int_equal(store.groups_count, 3);
    group_store_free(&store);
}

static void test_generation_never_goes_down_and_equal_is_accepted(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    set_generation(&store, "g", 5);
    assert_true(group_store_has_group(&store, "g"));
    assert_int_equal(group_store_generation(&store, "g"), 5);
    set_generation(&store, "g", 4);
    assert_int_equal(group_store_generation(&store, "g"), 5);
    set_generation(&store, "g", 0);
    assert_int_equal(group_store_generation(&store, "g"), 5);
    set_generation(&store, "g", 5);
    assert_int_equal(group_store_generation(&store, "g"), 5);
    set_generation(&store, "g", UINT32_MAX);
    assert_int_equal(group_store_generation(&store, "g"), UINT32_MAX);
    set_generation(&store, "g", 6);
    assert_int_equal(group_store_generation(&store, "g"), UINT32_MAX);
    /* Offset commits carry their own generation; they never move the group's. */
    commit(&store, "g", "t", 0, offset_of(1, 1, 3, ""));
    assert_int_equal(group_store_generation(&store, "g"), UINT32_MAX);
    assert_int_equal(group_store_generation(&store, "unknown"), 0);
    group_store_free(&store);
}

/* ---- iteration ------------------------------------------------------------------------------ */

struct seen {
    char names[16][64];
    uint32_t numbers[16];
    size_t count;
};

static void see_group(void *context, const char *group, uint32_t generation)
{
    struct seen *seen = context;
    assert_true(seen->count < 16);
    snprintf(seen->names[seen->count], sizeof seen->names[0], "%s", group);
    seen->numbers[seen->count] = generation;
    seen->count++;
}

static void see_offset(void *context, const char *topic, uint32_t partition,
                       const struct group_offset *offset)
{
    struct seen *seen = context;
    assert_true(seen->count < 16);
    assert_int_equal(offset->offset, (int64_t)partition * 10);
    snprintf(seen->names[seen->count], sizeof seen->names[0], "%s", topic);
    seen->numbers[seen->count] = partition;
    seen->count++;
}

static void test_groups_and_offsets_iterate_in_byte_order(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    const char *inserted[] = {"b", "\xc3\xa9t\xc3\xa9", "a", "ab", "B", "a-", "\x7f"};
    for (size_t i = 0; i < sizeof inserted / sizeof inserted[0]; i++) {
        set_generation(&store, inserted[i], (uint32_t)i);
    }
    struct seen seen = {0};
    group_store_for_each_group(&store, see_group, &seen);
    const char *expected[] = {"B", "a", "a-", "ab", "b", "\x7f", "\xc3\xa9t\xc3\xa9"};
    const uint32_t generations[] = {4, 2, 5, 3, 0, 6, 1};
    assert_int_equal(seen.count, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(seen.names[i], expected[i]);
        assert_int_equal(seen.numbers[i], generations[i]);
    }

    /* Offsets: by topic bytes, then by partition as a number (2 before 10). */
    struct {
        const char *topic;
        uint32_t partition;
    } commits[] = {{"t2", 3},           {"t1", 10}, {"t1", 0xFFFFFFFFu}, {"t1", 2},
                   {"t1", 0x80000000u}, {"T", 7},   {"t1", 0},           {"t10", 1}};
    for (size_t i = 0; i < sizeof commits / sizeof commits[0]; i++) {
        commit(&store, "a", commits[i].topic, commits[i].partition,
               offset_of((int64_t)commits[i].partition * 10, 0, 0, ""));
    }
    memset(&seen, 0, sizeof seen);
    group_store_for_each_offset(&store, "a", see_offset, &seen);
    const char *topics[] = {"T", "t1", "t1", "t1", "t1", "t1", "t10", "t2"};
    const uint32_t partitions[] = {7, 0, 2, 10, 0x80000000u, 0xFFFFFFFFu, 1, 3};
    assert_int_equal(seen.count, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(seen.names[i], topics[i]);
        assert_int_equal(seen.numbers[i], partitions[i]);
    }

    /* A group without offsets, or unknown, calls nothing. */
    memset(&seen, 0, sizeof seen);
    group_store_for_each_offset(&store, "b", see_offset, &seen);
    group_store_for_each_offset(&store, "zzz", see_offset, &seen);
    assert_int_equal(seen.count, 0);
    group_store_free(&store);
}

/* ---- a naive model, for randomised runs ------------------------------------------------- */

enum { MODEL_OFFSETS_MAX = 4096, MODEL_GROUPS_MAX = 512 };

struct model_offset {
    char group[GROUP_NAME_BYTES_MAX + 1];
    char topic[GROUP_NAME_BYTES_MAX + 1];
    uint32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    uint32_t generation;
    char metadata[32];
};

struct model_group {
    char name[GROUP_NAME_BYTES_MAX + 1];
    uint32_t generation;
};

struct model {
    struct model_offset *offsets;
    size_t offsets_count;
    struct model_group *groups;
    size_t groups_count;
};

static struct model_group *model_group(struct model *model, const char *name, bool create)
{
    for (size_t i = 0; i < model->groups_count; i++) {
        if (strcmp(model->groups[i].name, name) == 0) {
            return &model->groups[i];
        }
    }
    if (!create) {
        return NULL;
    }
    assert_true(model->groups_count < MODEL_GROUPS_MAX);
    struct model_group *group = &model->groups[model->groups_count++];
    memset(group, 0, sizeof *group);
    snprintf(group->name, sizeof group->name, "%s", name);
    return group;
}

static struct model_offset *model_offset(struct model *model, const char *group, const char *topic,
                                         uint32_t partition)
{
    for (size_t i = 0; i < model->offsets_count; i++) {
        struct model_offset *at = &model->offsets[i];
        if (strcmp(at->group, group) == 0 && strcmp(at->topic, topic) == 0 &&
            at->partition == partition) {
            return at;
        }
    }
    return NULL;
}

static void model_remove_offset_at(struct model *model, size_t index)
{
    model->offsets[index] = model->offsets[--model->offsets_count];
}

/* Applies one random operation to both the store and the model. */
static void random_step(uint64_t *prng, struct group_store *store, struct model *model,
                        bool few_letters)
{
    char group[GROUP_NAME_BYTES_MAX + 1];
    char topic[GROUP_NAME_BYTES_MAX + 1];
    random_name(prng, group, few_letters ? 3 : 12, few_letters);
    random_name(prng, topic, few_letters ? 2 : 8, few_letters);
    uint32_t partition = (uint32_t)prng_below(prng, 6);
    uint64_t kind = prng_below(prng, 20);
    if (kind < 13) {
        if (model_offset(model, group, topic, partition) == NULL &&
            model->offsets_count == MODEL_OFFSETS_MAX) {
            return;
        }
        char metadata[32];
        random_name(prng, metadata, sizeof metadata - 1, false);
        if (prng_below(prng, 4) == 0) {
            metadata[0] = '\0';
        }
        struct group_offset value = offset_of((int64_t)prng_next(prng), (int64_t)prng_next(prng),
                                              (uint32_t)prng_below(prng, 10), metadata);
        commit(store, group, topic, partition, value);
        model_group(model, group, true);
        struct model_offset *at = model_offset(model, group, topic, partition);
        if (at == NULL) {
            at = &model->offsets[model->offsets_count++];
            snprintf(at->group, sizeof at->group, "%s", group);
            snprintf(at->topic, sizeof at->topic, "%s", topic);
            at->partition = partition;
        }
        at->offset = value.offset;
        at->timestamp_ms = value.commit_timestamp_ms;
        at->generation = value.generation;
        snprintf(at->metadata, sizeof at->metadata, "%s", metadata);
    } else if (kind < 16) {
        remove_offset(store, group, topic, partition);
        struct model_offset *at = model_offset(model, group, topic, partition);
        if (at != NULL) {
            model_remove_offset_at(model, (size_t)(at - model->offsets));
        }
    } else if (kind < 19) {
        uint32_t generation = (uint32_t)prng_below(prng, 10);
        set_generation(store, group, generation);
        struct model_group *at = model_group(model, group, true);
        if (generation > at->generation) {
            at->generation = generation;
        }
    } else {
        delete_group(store, group);
        struct model_group *at = model_group(model, group, false);
        if (at != NULL) {
            *at = model->groups[--model->groups_count];
        }
        for (size_t i = model->offsets_count; i > 0; i--) {
            if (strcmp(model->offsets[i - 1].group, group) == 0) {
                model_remove_offset_at(model, i - 1);
            }
        }
    }
}

struct check_context {
    const struct model *model;
    const struct group_store *store;
    const char *previous;
    size_t groups;
    size_t offsets;
};

static void check_offset(void *context, const char *topic, uint32_t partition,
                         const struct group_offset *offset)
{
    (void)topic;
    (void)partition;
    (void)offset;
    struct check_context *check = context;
    check->offsets++;
}

static void check_group(void *context, const char *group, uint32_t generation)
{
    struct check_context *check = context;
    if (check->previous != NULL) {
        assert_true(strcmp(check->previous, group) < 0);
    }
    check->previous = group;
    const struct model_group *expected = NULL;
    for (size_t i = 0; i < check->model->groups_count; i++) {
        if (strcmp(check->model->groups[i].name, group) == 0) {
            expected = &check->model->groups[i];
        }
    }
    assert_non_null(expected);
    assert_int_equal(generation, expected->generation);
    check->groups++;
    group_store_for_each_offset(check->store, group, check_offset, check);
}

static void assert_store_matches_model(const struct group_store *store, const struct model *model)
{
    for (size_t i = 0; i < model->offsets_count; i++) {
        const struct model_offset *at = &model->offsets[i];
        assert_offset(store, at->group, at->topic, at->partition,
                      offset_of(at->offset, at->timestamp_ms, at->generation, at->metadata));
    }
    struct check_context check = {model, store, NULL, 0, 0};
    group_store_for_each_group(store, check_group, &check);
    assert_int_equal(check.groups, model->groups_count);
    assert_int_equal(check.offsets, model->offsets_count);
}

static void model_init(struct model *model)
{
    model->offsets = ether_calloc(MODEL_OFFSETS_MAX, sizeof *model->offsets);
    model->offsets_count = 0;
    model->groups = ether_calloc(MODEL_GROUPS_MAX, sizeof *model->groups);
    model->groups_count = 0;
}

static void model_free(struct model *model)
{
    ether_free(model->offsets);
    ether_free(model->groups);
}

static void test_random_log_agrees_with_a_naive_model(void **unused)
{
    (void)unused;
    uint64_t seed = test_seed(20261127);
    uint64_t prng = seed;
    struct group_store store;
    group_store_init(&store);
    struct model model;
    model_init(&model);
    for (int step = 0; step < 4000; step++) {
        /* Few letters give collisions: overwrites, removals, deletions that hit. */
        random_step(&prng, &store, &model, true);
        if (step % 500 == 499) {
            assert_store_matches_model(&store, &model);
        }
    }
    assert_store_matches_model(&store, &model);
    assert_true(model.offsets_count > 0);
    model_free(&model);
    group_store_free(&store);
}

/* ---- snapshots -------------------------------------------------------------------------- */

/* A store of random content (any name bytes), built through records. */
static void random_store(uint64_t *prng, struct group_store *store, int steps)
{
    struct model model;
    model_init(&model);
    for (int step = 0; step < steps; step++) {
        random_step(prng, store, &model, step % 3 == 0);
    }
    assert_store_matches_model(store, &model);
    model_free(&model);
}

static void test_snapshot_of_a_random_store_round_trips_exactly(void **unused)
{
    (void)unused;
    uint64_t seed = test_seed(7);
    uint64_t prng = seed;
    for (int round = 0; round < 20; round++) {
        struct group_store source;
        group_store_init(&source);
        random_store(&prng, &source, 50 + round * 40);
        struct ether_buf snapshot = ETHER_BUF_INIT;
        encode(&source, &snapshot);

        struct group_store copy;
        group_store_init(&copy);
        set_generation(&copy, "to be replaced", 1);
        commit(&copy, "to be replaced", "t", 0, offset_of(1, 1, 1, "gone"));
        int rc = group_store_decode(snapshot.data, snapshot.length, &copy);
        if (rc != ETHER_OK) {
            fail_msg("seed %llu round %d: decode returned %s", (unsigned long long)seed, round,
                     ether_error_name(rc));
        }
        assert_encodes_to(&copy, &snapshot);
        if (!group_store_has_group(&source, "to be replaced")) {
            assert_false(group_store_has_group(&copy, "to be replaced"));
        }
        assert_int_equal(copy.groups_count, source.groups_count);

        /* Both continue identically. */
        struct model source_model;
        struct model copy_model;
        model_init(&source_model);
        model_init(&copy_model);
        for (int step = 0; step < 50; step++) {
            uint64_t fork = prng;
            random_step(&fork, &source, &source_model, true);
            fork = prng;
            random_step(&fork, &copy, &copy_model, true);
            prng = fork;
        }
        model_free(&copy_model);
        model_free(&source_model);
        encode(&source, &snapshot);
        assert_encodes_to(&copy, &snapshot);
        ether_buf_free(&snapshot);
        group_store_free(&copy);
        group_store_free(&source);
    }
}

static void test_empty_store_snapshot_round_trips(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    struct ether_buf snapshot = ETHER_BUF_INIT;
    encode(&store, &snapshot);
    assert_int_equal(snapshot.length, 1 + 4 + 4);
    assert_int_equal(snapshot.data[0], 1);

    struct group_store target;
    group_store_init(&target);
    commit(&target, "g", "t", 0, offset_of(1, 1, 1, ""));
    assert_int_equal(group_store_decode(snapshot.data, snapshot.length, &target), ETHER_OK);
    assert_int_equal(target.groups_count, 0);
    assert_false(group_store_has_group(&target, "g"));
    assert_encodes_to(&target, &snapshot);
    ether_buf_free(&snapshot);
    group_store_free(&target);
    group_store_free(&store);
}

/* A small store with every kind of content, its snapshot, and a different target store. */
static void damaged_snapshot_fixture(struct group_store *source, struct ether_buf *snapshot,
                                     struct group_store *target, struct ether_buf *target_bytes)
{
    group_store_init(source);
    set_generation(source, "alpha", 3);
    commit(source, "alpha", "orders", 0, offset_of(10, 1000, 3, "m"));
    commit(source, "alpha", "orders", 1, offset_of(11, 1001, 3, ""));
    commit(source, "beta", "payments", 7, offset_of(-1, 5, 0, "meta"));
    set_generation(source, "gamma", 1);
    encode(source, snapshot);

    group_store_init(target);
    set_generation(target, "target", 9);
    commit(target, "target", "t", 2, offset_of(2, 2, 9, "kept"));
    encode(target, target_bytes);
}

static void assert_decode_is_corrupt(const uint8_t *data, size_t length, struct group_store *target,
                                     const struct ether_buf *before, const char *what, size_t at)
{
    int rc = group_store_decode(data, length, target);
    if (rc != ETHER_ERR_CORRUPT) {
        fail_msg("%s %zu: expected ETHER_ERR_CORRUPT, got %s", what, at, ether_error_name(rc));
    }
    assert_encodes_to(target, before);
}

static void
test_every_truncation_and_bit_flip_of_a_snapshot_is_corrupt_and_changes_nothing(void **unused)
{
    (void)unused;
    struct group_store source;
    struct group_store target;
    struct ether_buf snapshot = ETHER_BUF_INIT;
    struct ether_buf before = ETHER_BUF_INIT;
    damaged_snapshot_fixture(&source, &snapshot, &target, &before);

    uint8_t *copy = ether_malloc(snapshot.length + 1);
    for (size_t length = 0; length < snapshot.length; length++) {
        memcpy(copy, snapshot.data, length);
        assert_decode_is_corrupt(copy, length, &target, &before, "truncated to", length);
    }
    for (size_t bit = 0; bit < snapshot.length * 8; bit++) {
        memcpy(copy, snapshot.data, snapshot.length);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_decode_is_corrupt(copy, snapshot.length, &target, &before, "bit", bit);
    }
    /* A byte more, even with a checksum that covers it. */
    memcpy(copy, snapshot.data, snapshot.length);
    copy[snapshot.length] = 0;
    assert_decode_is_corrupt(copy, snapshot.length + 1, &target, &before, "extra byte", 0);
    memmove(copy + snapshot.length - 3, copy + snapshot.length - 4, 4);
    copy[snapshot.length - 4] = 0;
    rechecksum(copy, snapshot.length + 1);
    assert_decode_is_corrupt(copy, snapshot.length + 1, &target, &before, "trailing byte", 0);

    ether_free(copy);
    ether_buf_free(&before);
    ether_buf_free(&snapshot);
    group_store_free(&target);
    group_store_free(&source);
}

/* Appends a snapshot group header; the caller appends its offsets. */
static void put_group(struct ether_buf *out, const char *name, size_t name_length,
                      uint32_t generation, uint32_t offsets_count)
{
    ether_buf_append_varint(out, name_length);
    ether_buf_append(out, name, name_length);
    ether_buf_append_u32le(out, generation);
    ether_buf_append_u32le(out, offsets_count);
}

static void put_offset(struct ether_buf *out, const char *topic, uint32_t partition,
                       const char *metadata, size_t metadata_length)
{
    ether_buf_append_varint(out, strlen(topic));
    ether_buf_append(out, topic, strlen(topic));
    ether_buf_append_u32le(out, partition);
    ether_buf_append_u64le(out, 1);
    ether_buf_append_u64le(out, 2);
    ether_buf_append_u32le(out, 3);
    ether_buf_append_varint(out, metadata_length);
    ether_buf_append(out, metadata, metadata_length);
}

static void finish_snapshot(struct ether_buf *out)
{
    ether_buf_append_u32le(out, ether_crc32c(out->data, out->length));
}

static void test_snapshots_with_a_valid_checksum_but_bad_content_are_corrupt(void **unused)
{
    (void)unused;
    struct group_store target;
    group_store_init(&target);
    commit(&target, "target", "t", 2, offset_of(2, 2, 9, "kept"));
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&target, &before);
    char long_name[GROUP_NAME_BYTES_MAX + 2];
    memset(long_name, 'n', sizeof long_name);
    char long_metadata[GROUP_OFFSET_METADATA_BYTES_MAX + 1];
    memset(long_metadata, 'm', sizeof long_metadata);

    enum {
        BAD_VERSION,
        GROUPS_OUT_OF_ORDER,
        GROUPS_DUPLICATED,
        OFFSETS_OUT_OF_ORDER,
        OFFSETS_DUPLICATED,
        EMPTY_GROUP_NAME,
        EMPTY_TOPIC,
        LONG_GROUP_NAME,
        NUL_IN_NAME,
        LONG_METADATA,
        NUL_IN_METADATA,
        NON_MINIMAL_VARINT,
        COUNT_TOO_LARGE,
        OFFSETS_COUNT_TOO_LARGE,
        CASES_COUNT,
        VALID = CASES_COUNT,
    };
    for (int kind = 0; kind <= VALID; kind++) {
        struct ether_buf out = ETHER_BUF_INIT;
        ether_buf_append_u8(&out, kind == BAD_VERSION ? 2 : 1);
        ether_buf_append_u32le(&out, kind == COUNT_TOO_LARGE ? UINT32_MAX : 2);
        switch (kind) {
        case GROUPS_OUT_OF_ORDER:
            put_group(&out, "b", 1, 0, 0);
            put_group(&out, "a", 1, 0, 0);
            break;
        case GROUPS_DUPLICATED:
            put_group(&out, "a", 1, 0, 0);
            put_group(&out, "a", 1, 0, 0);
            break;
        case EMPTY_GROUP_NAME:
            put_group(&out, "", 0, 0, 0);
            put_group(&out, "a", 1, 0, 0);
            break;
        case LONG_GROUP_NAME:
            put_group(&out, "a", 1, 0, 0);
            put_group(&out, long_name, GROUP_NAME_BYTES_MAX + 1, 0, 0);
            break;
        case NUL_IN_NAME:
            put_group(&out, "a", 1, 0, 0);
            put_group(&out, "b\0c", 3, 0, 0);
            break;
        case NON_MINIMAL_VARINT:
            put_group(&out, "a", 1, 0, 0);
            ether_buf_append_u8(&out, 0x81); /* 1 written in two bytes */
            ether_buf_append_u8(&out, 0x00);
            ether_buf_append(&out, "b", 1);
            ether_buf_append_u32le(&out, 0);
            ether_buf_append_u32le(&out, 0);
            break;
        case OFFSETS_COUNT_TOO_LARGE:
            put_group(&out, "a", 1, 0, 0);
            put_group(&out, "b", 1, 0, UINT32_MAX);
            break;
        default:
            put_group(&out, "a", 1, 0, 0);
            put_group(&out, "b", 1, 7, 2);
            put_offset(&out, kind == EMPTY_TOPIC ? "" : "t", 1, "m", 1);
            if (kind == OFFSETS_OUT_OF_ORDER) {
                put_offset(&out, "t", 0, "m", 1);
            } else if (kind == OFFSETS_DUPLICATED) {
                put_offset(&out, "t", 1, "m", 1);
            } else if (kind == LONG_METADATA) {
                put_offset(&out, "t", 2, long_metadata, GROUP_OFFSET_METADATA_BYTES_MAX + 1);
            } else if (kind == NUL_IN_METADATA) {
                put_offset(&out, "t", 2, "a\0b", 3);
            } else {
                put_offset(&out, "u", 0, long_metadata, GROUP_OFFSET_METADATA_BYTES_MAX);
            }
            break;
        }
        finish_snapshot(&out);
        if (kind == VALID) {
            assert_int_equal(group_store_decode(out.data, out.length, &target), ETHER_OK);
            assert_int_equal(group_store_generation(&target, "b"), 7);
            assert_non_null(group_store_offset(&target, "b", "u", 0));
            assert_false(group_store_has_group(&target, "target"));
            assert_encodes_to(&target, &out);
        } else {
            assert_decode_is_corrupt(out.data, out.length, &target, &before, "case", (size_t)kind);
        }
        ether_buf_free(&out);
    }
    ether_buf_free(&before);
    group_store_free(&target);
}

/* ---- damaged records ---------------------------------------------------------------------- */

static void assert_apply_is_corrupt(struct group_store *store, const void *key, size_t key_bytes,
                                    const void *value, size_t value_bytes,
                                    const struct ether_buf *before, const char *what, size_t at)
{
    int rc = group_store_apply(store, key, key_bytes, value, value_bytes);
    if (rc != ETHER_ERR_CORRUPT) {
        fail_msg("%s %zu: expected ETHER_ERR_CORRUPT, got %s", what, at, ether_error_name(rc));
    }
    assert_encodes_to(store, before);
}

/* Every truncation of the key (any value), of the value (but to empty, a tombstone), and
 * one byte of garbage after either, is refused. */
static void assert_damaged_forms_are_corrupt(struct group_store *store, const struct ether_buf *key,
                                             const struct ether_buf *value,
                                             const struct ether_buf *before)
{
    uint8_t *copy = ether_malloc(key->length + value->length + 2);
    for (size_t length = 0; length < key->length; length++) {
        memcpy(copy, key->data, length);
        assert_apply_is_corrupt(store, length == 0 ? NULL : copy, length, value->data,
                                value->length, before, "key truncated to", length);
        assert_apply_is_corrupt(store, length == 0 ? NULL : copy, length, NULL, 0, before,
                                "tombstone key truncated to", length);
    }
    for (size_t length = 1; length < value->length; length++) {
        memcpy(copy, value->data, length);
        assert_apply_is_corrupt(store, key->data, key->length, copy, length, before,
                                "value truncated to", length);
    }
    for (int garbage = 0; garbage < 256; garbage += 51) {
        memcpy(copy, key->data, key->length);
        copy[key->length] = (uint8_t)garbage;
        assert_apply_is_corrupt(store, copy, key->length + 1, value->data, value->length, before,
                                "garbage after key", (size_t)garbage);
        memcpy(copy, value->data, value->length);
        copy[value->length] = (uint8_t)garbage;
        assert_apply_is_corrupt(store, key->data, key->length, copy, value->length + 1, before,
                                "garbage after value", (size_t)garbage);
    }
    ether_free(copy);
}

static void
test_every_truncation_or_garbage_of_a_record_is_corrupt_and_changes_nothing(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    set_generation(&store, "g", 4);
    commit(&store, "g", "t", 1, offset_of(10, 20, 4, "meta"));
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&store, &before);

    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    /* An overwrite of a stored offset, a new group's first commit, each group record. */
    struct group_offset overwrite = offset_of(99, 98, 5, "new metadata");
    group_store_offset_record("g", "t", 1, &overwrite, &key, &value);
    assert_damaged_forms_are_corrupt(&store, &key, &value, &before);
    ether_buf_clear(&key);
    ether_buf_clear(&value);
    group_store_offset_record("other", "topic", 0xFFFFFFFFu, &overwrite, &key, &value);
    assert_damaged_forms_are_corrupt(&store, &key, &value, &before);
    ether_buf_clear(&key);
    ether_buf_clear(&value);
    group_store_group_record("g", 9, &key, &value);
    assert_damaged_forms_are_corrupt(&store, &key, &value, &before);
    ether_buf_clear(&key);
    ether_buf_clear(&value);
    group_store_group_record("new", 1, &key, &value);
    assert_damaged_forms_are_corrupt(&store, &key, &value, &before);

    /* The undamaged records still apply. */
    assert_int_equal(group_store_apply(&store, key.data, key.length, value.data, value.length),
                     ETHER_OK);
    assert_int_equal(group_store_generation(&store, "new"), 1);
    ether_buf_free(&key);
    ether_buf_free(&value);
    ether_buf_free(&before);
    group_store_free(&store);
}

/* A hand-built key: type, group, and for offsets a topic and a partition. */
static void put_key(struct ether_buf *out, uint8_t type, const char *group, size_t group_length,
                    const char *topic, size_t topic_length)
{
    ether_buf_clear(out);
    ether_buf_append_u8(out, type);
    ether_buf_append_varint(out, group_length);
    ether_buf_append(out, group, group_length);
    if (topic != NULL) {
        ether_buf_append_varint(out, topic_length);
        ether_buf_append(out, topic, topic_length);
        ether_buf_append_u32le(out, 3);
    }
}

static void put_offset_value(struct ether_buf *out, uint8_t version, const char *metadata,
                             size_t metadata_length)
{
    ether_buf_clear(out);
    ether_buf_append_u8(out, version);
    ether_buf_append_u64le(out, 1);
    ether_buf_append_u64le(out, 2);
    ether_buf_append_u32le(out, 3);
    ether_buf_append_varint(out, metadata_length);
    ether_buf_append(out, metadata, metadata_length);
}

static void test_malformed_records_are_corrupt_and_change_nothing(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    commit(&store, "g", "t", 3, offset_of(7, 7, 7, "seven"));
    struct ether_buf before = ETHER_BUF_INIT;
    encode(&store, &before);
    char long_name[GROUP_NAME_BYTES_MAX + 1];
    memset(long_name, 'n', sizeof long_name);
    char long_metadata[GROUP_OFFSET_METADATA_BYTES_MAX + 1];
    memset(long_metadata, 'm', sizeof long_metadata);
    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    struct ether_buf group_value = ETHER_BUF_INIT;
    ether_buf_append_u8(&group_value, 1);
    ether_buf_append_u32le(&group_value, 5);

    /* Key types other than 1 and 2, with either kind of value and as tombstones. */
    const uint8_t types[] = {0, 3, 0x81, 0xFF};
    put_offset_value(&value, 1, "m", 1);
    for (size_t i = 0; i < sizeof types; i++) {
        put_key(&key, types[i], "g", 1, "t", 1);
        assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &before,
                                "key type", types[i]);
        assert_apply_is_corrupt(&store, key.data, key.length, NULL, 0, &before, "key type",
                                types[i]);
        put_key(&key, types[i], "g", 1, NULL, 0);
        assert_apply_is_corrupt(&store, key.data, key.length, group_value.data, group_value.length,
                                &before, "key type", types[i]);
    }

    /* Value versions other than 1. */
    put_key(&key, 1, "g", 1, "t", 1);
    for (uint8_t version = 0; version < 4; version += 2) {
        put_offset_value(&value, version, "m", 1);
        assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &before,
                                "offset value version", version);
    }
    put_key(&key, 2, "g", 1, NULL, 0);
    group_value.data[0] = 2;
    assert_apply_is_corrupt(&store, key.data, key.length, group_value.data, group_value.length,
                            &before, "group value version", 2);
    group_value.data[0] = 1;

    /* Names: empty, too long, with a NUL, with a non-minimal length. */
    put_offset_value(&value, 1, "m", 1);
    struct {
        const char *group;
        size_t group_length;
        const char *topic;
        size_t topic_length;
    } names[] = {
        {"", 0, "t", 1},
        {"g", 1, "", 0},
        {long_name, GROUP_NAME_BYTES_MAX + 1, "t", 1},
        {"g", 1, long_name, GROUP_NAME_BYTES_MAX + 1},
        {"g\0h", 3, "t", 1},
        {"g", 1, "t\0", 2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        put_key(&key, 1, names[i].group, names[i].group_length, names[i].topic,
                names[i].topic_length);
        assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &before,
                                "offset key names", i);
        assert_apply_is_corrupt(&store, key.data, key.length, NULL, 0, &before,
                                "offset tombstone names", i);
        if (names[i].group_length != 1) {
            put_key(&key, 2, names[i].group, names[i].group_length, NULL, 0);
            assert_apply_is_corrupt(&store, key.data, key.length, group_value.data,
                                    group_value.length, &before, "group key names", i);
            assert_apply_is_corrupt(&store, key.data, key.length, NULL, 0, &before,
                                    "group tombstone names", i);
        }
    }
    ether_buf_clear(&key);
    ether_buf_append_u8(&key, 2);
    ether_buf_append_u8(&key, 0x81);
    ether_buf_append_u8(&key, 0x00);
    ether_buf_append_u8(&key, 'g');
    assert_apply_is_corrupt(&store, key.data, key.length, group_value.data, group_value.length,
                            &before, "non-minimal length", 0);

    /* Metadata: too long, with a NUL, with a non-minimal length. */
    put_key(&key, 1, "g", 1, "t", 1);
    put_offset_value(&value, 1, long_metadata, GROUP_OFFSET_METADATA_BYTES_MAX + 1);
    assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &before,
                            "long metadata", 0);
    put_offset_value(&value, 1, "a\0b", 3);
    assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &before,
                            "metadata with NUL", 0);
    put_offset_value(&value, 1, "", 0);
    value.data[value.length - 1] = 0x80;
    ether_buf_append_u8(&value, 0x00);
    assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &before,
                            "non-minimal metadata length", 0);

    /* The limits themselves are fine. */
    put_offset_value(&value, 1, long_metadata, GROUP_OFFSET_METADATA_BYTES_MAX);
    assert_int_equal(group_store_apply(&store, key.data, key.length, value.data, value.length),
                     ETHER_OK);
    assert_int_equal(strlen(group_store_offset(&store, "g", "t", 3)->metadata),
                     GROUP_OFFSET_METADATA_BYTES_MAX);

    ether_buf_free(&group_value);
    ether_buf_free(&key);
    ether_buf_free(&value);
    ether_buf_free(&before);
    group_store_free(&store);
}

static void test_names_of_the_longest_length_work_and_one_more_byte_is_refused(void **unused)
{
    (void)unused;
    struct group_store store;
    group_store_init(&store);
    char group[GROUP_NAME_BYTES_MAX + 2];
    char topic[GROUP_NAME_BYTES_MAX + 2];
    memset(group, 'g', GROUP_NAME_BYTES_MAX);
    group[GROUP_NAME_BYTES_MAX] = '\0';
    memset(topic, '\xff', GROUP_NAME_BYTES_MAX);
    topic[GROUP_NAME_BYTES_MAX] = '\0';
    commit(&store, group, topic, 1, offset_of(5, 6, 7, "m"));
    set_generation(&store, group, 2);
    assert_offset(&store, group, topic, 1, offset_of(5, 6, 7, "m"));
    assert_int_equal(group_store_generation(&store, group), 2);

    struct ether_buf snapshot = ETHER_BUF_INIT;
    encode(&store, &snapshot);
    struct group_store copy;
    group_store_init(&copy);
    assert_int_equal(group_store_decode(snapshot.data, snapshot.length, &copy), ETHER_OK);
    assert_offset(&copy, group, topic, 1, offset_of(5, 6, 7, "m"));
    group_store_free(&copy);

    /* The same records with one more byte in the group name (built by hand: the record
     * functions assert their names). */
    struct ether_buf key = ETHER_BUF_INIT;
    struct ether_buf value = ETHER_BUF_INIT;
    group_store_group_record(group, 9, &key, &value);
    assert_int_equal(key.data[1], 0xFF);
    assert_int_equal(key.data[2], 0x01); /* 255 as a varint */
    key.data[1] = 0x80;
    key.data[2] = 0x02; /* 256 */
    ether_buf_append_u8(&key, 'g');
    assert_apply_is_corrupt(&store, key.data, key.length, value.data, value.length, &snapshot,
                            "group name of 256 bytes", 0);
    assert_apply_is_corrupt(&store, key.data, key.length, NULL, 0, &snapshot,
                            "tombstone of a group name of 256 bytes", 0);
    ether_buf_free(&key);
    ether_buf_free(&value);
    ether_buf_free(&snapshot);
    group_store_free(&store);
}

/* ---- scale -------------------------------------------------------------------------------- */

static void test_thousands_of_groups_with_many_partitions_work(void **unused)
{
    (void)unused;
    enum { GROUPS = 3000, PARTITIONS = 64 };
    struct group_store store;
    group_store_init(&store);
    uint64_t prng = 99;
    /* Groups arrive in scrambled order (i * 1237 mod 3000 visits each once). */
    for (uint32_t round = 0; round < 2; round++) {
        for (uint32_t i = 0; i < GROUPS; i++) {
            uint32_t id = (i * 1237u) % GROUPS;
            char group[32];
            snprintf(group, sizeof group, "group-%u", id);
            for (uint32_t p = 0; p < PARTITIONS / 2; p++) {
                uint32_t partition = (uint32_t)prng_below(&prng, PARTITIONS);
                commit(&store, group, p % 2 == 0 ? "clicks" : "views", partition,
                       offset_of((int64_t)id * 1000 + partition, 1, round, "m"));
            }
            set_generation(&store, group, round + id % 3);
        }
    }
    assert_int_equal(store.groups_count, GROUPS);
    for (uint32_t id = 0; id < GROUPS; id += 7) {
        char group[32];
        snprintf(group, sizeof group, "group-%u", id);
        assert_true(group_store_has_group(&store, group));
        assert_int_equal(group_store_generation(&store, group), 1 + id % 3);
    }

    struct ether_buf snapshot = ETHER_BUF_INIT;
    encode(&store, &snapshot);
    struct group_store copy;
    group_store_init(&copy);
    assert_int_equal(group_store_decode(snapshot.data, snapshot.length, &copy), ETHER_OK);
    assert_encodes_to(&copy, &snapshot);

    /* Delete every other group; the rest keep their offsets. */
    for (uint32_t id = 0; id < GROUPS; id += 2) {
        char group[32];
        snprintf(group, sizeof group, "group-%u", id);
        delete_group(&copy, group);
    }
    assert_int_equal(copy.groups_count, GROUPS / 2);
    for (uint32_t id = 0; id < GROUPS; id++) {
        char group[32];
        snprintf(group, sizeof group, "group-%u", id);
        assert_int_equal(group_store_has_group(&copy, group), id % 2 == 1);
        for (uint32_t partition = 0; partition < PARTITIONS; partition++) {
            const struct group_offset *in_store =
                group_store_offset(&store, group, "clicks", partition);
            const struct group_offset *in_copy =
                group_store_offset(&copy, group, "clicks", partition);
            if (id % 2 == 0 || in_store == NULL) {
                assert_null(in_copy);
            } else {
                assert_non_null(in_copy);
                assert_int_equal(in_copy->offset, (int64_t)id * 1000 + partition);
                assert_int_equal(in_copy->offset, in_store->offset);
            }
        }
    }
    ether_buf_free(&snapshot);
    group_store_free(&copy);
    group_store_free(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_offset_reads_back_with_every_field),
        cmocka_unit_test(test_offset_commit_for_an_unknown_group_creates_it_with_generation_zero),
        cmocka_unit_test(test_a_later_commit_overwrites_the_offset_and_its_metadata),
        cmocka_unit_test(test_empty_value_removes_only_that_offset_and_keeps_the_group),
        cmocka_unit_test(test_group_tombstone_removes_the_group_and_all_its_offsets_and_no_other),
        cmocka_unit_test(test_generation_never_goes_down_and_equal_is_accepted),
        cmocka_unit_test(test_groups_and_offsets_iterate_in_byte_order),
        cmocka_unit_test(test_random_log_agrees_with_a_naive_model),
        cmocka_unit_test(test_snapshot_of_a_random_store_round_trips_exactly),
        cmocka_unit_test(test_empty_store_snapshot_round_trips),
        cmocka_unit_test(
            test_every_truncation_and_bit_flip_of_a_snapshot_is_corrupt_and_changes_nothing),
        cmocka_unit_test(test_snapshots_with_a_valid_checksum_but_bad_content_are_corrupt),
        cmocka_unit_test(
            test_every_truncation_or_garbage_of_a_record_is_corrupt_and_changes_nothing),
        cmocka_unit_test(test_malformed_records_are_corrupt_and_change_nothing),
        cmocka_unit_test(test_names_of_the_longest_length_work_and_one_more_byte_is_refused),
        cmocka_unit_test(test_thousands_of_groups_with_many_partitions_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
