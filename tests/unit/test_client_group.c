/*
 * Tests of libether's consumer groups against the fake cluster and its fake
 * coordinator (tests/unit/test_client_fake_cluster.h): subscribing, where
 * reading starts, commits, rebalances (eager and cooperative), fencing, a
 * moving coordinator and leaving. Heartbeats run every 50 ms so that
 * rebalances take a few of them; every wait is bounded by a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_client_fake_cluster.h"

#include <time.h>

#include "client/ether.h"

enum { PARTITIONS = 3, RECORDS_PER_PARTITION = 10, WAIT_MS = 10000 };

static uint64_t now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec pause = {0, (long)ms * 1000000L};
    nanosleep(&pause, NULL);
}

static struct ether_client *client_with(const char *brokers, const char *const *settings)
{
    struct ether_config *config = ether_config_new();
    char errstr[256];
    const char *defaults[] = {"brokers",
                              brokers,
                              "retry_backoff_ms",
                              "10",
                              "retry_backoff_max_ms",
                              "50",
                              "seed",
                              "1",
                              "fetch_max_wait_ms",
                              "50",
                              "heartbeat_interval_ms",
                              "50",
                              "session_timeout_ms",
                              "3000",
                              "rebalance_timeout_ms",
                              "3000",
                              "request_timeout_ms",
                              "2000",
                              "auto_offset_reset",
                              "earliest",
                              NULL};
    for (size_t i = 0; defaults[i] != NULL; i += 2) {
        assert_int_equal(
            ether_config_set(config, defaults[i], defaults[i + 1], errstr, sizeof errstr),
            ETHER_OK);
    }
    for (size_t i = 0; settings != NULL && settings[i] != NULL; i += 2) {
        assert_int_equal(
            ether_config_set(config, settings[i], settings[i + 1], errstr, sizeof errstr),
            ETHER_OK);
    }
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    assert_non_null(client);
    ether_config_free(config);
    return client;
}

static void subscribe(struct ether_client *client, const char *topic)
{
    const char *topics[] = {topic};
    char errstr[256];
    assert_int_equal(ether_subscribe(client, topics, 1, errstr, sizeof errstr), ETHER_OK);
}

/* Produces RECORDS_PER_PARTITION records "p<P>-<i>" to each partition of "orders". */
static void produce_orders(const char *brokers)
{
    struct ether_client *producer = client_with(brokers, NULL);
    for (int p = 0; p < PARTITIONS; p++) {
        for (int i = 0; i < RECORDS_PER_PARTITION; i++) {
            char value[32];
            int length = snprintf(value, sizeof value, "p%d-%d", p, i);
            assert_int_equal(
                ether_produce(producer, "orders", p, NULL, 0, value, (size_t)length, 0, NULL),
                ETHER_OK);
        }
    }
    assert_int_equal(ether_flush(producer, WAIT_MS), ETHER_OK);
    ether_client_destroy(producer);
}

/* What a consumer read: per partition, how often each offset came. */
struct seen {
    int count[PARTITIONS][RECORDS_PER_PARTITION];
    int total;
    int first_offset[PARTITIONS];
    int errors;
    int last_error;
    char last_error_message[256];
};

static void seen_init(struct seen *seen)
{
    memset(seen, 0, sizeof *seen);
    for (int p = 0; p < PARTITIONS; p++) {
        seen->first_offset[p] = -1;
    }
}

static void seen_add(struct seen *seen, const struct ether_message *message)
{
    if (message->error != ETHER_OK) {
        seen->errors++;
        seen->last_error = message->error;
        snprintf(seen->last_error_message, sizeof seen->last_error_message, "%s",
                 message->error_message);
        return;
    }
    assert_true(message->partition >= 0 && message->partition < PARTITIONS);
    assert_true(message->offset >= 0 && message->offset < RECORDS_PER_PARTITION);
    char expected[32];
    int length = snprintf(expected, sizeof expected, "p%d-%d", (int)message->partition,
                          (int)message->offset);
    assert_int_equal(message->value_bytes, (size_t)length);
    assert_memory_equal(message->value, expected, (size_t)length);
    if (seen->first_offset[message->partition] < 0) {
        seen->first_offset[message->partition] = (int)message->offset;
    }
    seen->count[message->partition][message->offset]++;
    seen->total++;
}

/* Consumes until `total` messages were seen (or WAIT_MS passed). */
static void consume_until(struct ether_client *client, struct seen *seen, int total)
{
    uint64_t deadline = now_ms() + WAIT_MS;
    while (seen->total < total && now_ms() < deadline) {
        struct ether_message *message = ether_consume(client, 100);
        if (message != NULL) {
            seen_add(seen, message);
            ether_message_free(message);
        }
    }
}

/* Consumes whatever comes within quiet_ms of silence. */
static void consume_rest(struct ether_client *client, struct seen *seen, int quiet_ms)
{
    for (;;) {
        struct ether_message *message = ether_consume(client, quiet_ms);
        if (message == NULL) {
            return;
        }
        seen_add(seen, message);
        ether_message_free(message);
    }
}

static size_t assignment_count(struct ether_client *client, bool *has_partition_2)
{
    struct ether_topic_partition *partitions = NULL;
    size_t count = 0;
    assert_int_equal(ether_assignment(client, &partitions, &count), ETHER_OK);
    if (has_partition_2 != NULL) {
        *has_partition_2 = false;
        for (size_t i = 0; i < count; i++) {
            *has_partition_2 = *has_partition_2 || partitions[i].partition == 2;
        }
    }
    ether_topic_partitions_free(partitions, count);
    return count;
}

/* Waits until the client's assignment holds `count` partitions. */
static void wait_assignment(struct ether_client *client, size_t count)
{
    uint64_t deadline = now_ms() + WAIT_MS;
    while (assignment_count(client, NULL) != count && now_ms() < deadline) {
        sleep_ms(10);
    }
    assert_int_equal(assignment_count(client, NULL), count);
}

static void wait_counter(struct fake_cluster *cluster, const uint32_t *counter, uint32_t at_least)
{
    uint64_t deadline = now_ms() + WAIT_MS;
    while (fake_read(cluster, counter) < at_least && now_ms() < deadline) {
        sleep_ms(5);
    }
    assert_true(fake_read(cluster, counter) >= at_least);
}

static int setup(void **state)
{
    struct fake_cluster *cluster = calloc(1, sizeof *cluster);
    assert_int_equal(fake_cluster_start(cluster, 3, NULL), 0);
    fake_add_topic(cluster, "orders", PARTITIONS);
    *state = cluster;
    return 0;
}

static int teardown(void **state)
{
    struct fake_cluster *cluster = *state;
    fake_cluster_stop(cluster);
    free(cluster);
    return 0;
}

static void brokers_of(struct fake_cluster *cluster, char *out, size_t out_bytes)
{
    fake_cluster_brokers(cluster, 3, out, out_bytes);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_subscriber_reads_each_partition_from_its_committed_offset(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    /* Administrative commits (the group has no members yet) say where to continue. */
    const char *group[] = {"group_id", "billing", NULL};
    struct ether_client *admin = client_with(brokers, group);
    char errstr[256];
    assert_int_equal(ether_commit_offset(admin, "orders", 0, 4, WAIT_MS, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_commit_offset(admin, "orders", 1, 7, WAIT_MS, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->admin_commits), 2);
    int64_t committed = -2;
    assert_int_equal(
        ether_committed(admin, "orders", 1, &committed, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(committed, 7);
    assert_int_equal(
        ether_committed(admin, "orders", 2, &committed, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(committed, -1);
    ether_client_destroy(admin);

    struct ether_client *consumer = client_with(brokers, group);
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    /* 6 from partition 0, 3 from partition 1, all 10 of partition 2 (earliest: none committed). */
    consume_until(consumer, &seen, 19);
    consume_rest(consumer, &seen, 200);
    assert_int_equal(seen.total, 19);
    assert_int_equal(seen.errors, 0);
    assert_int_equal(seen.first_offset[0], 4);
    assert_int_equal(seen.first_offset[1], 7);
    assert_int_equal(seen.first_offset[2], 0);
    for (int p = 0; p < PARTITIONS; p++) {
        for (int i = seen.first_offset[p]; i < RECORDS_PER_PARTITION; i++) {
            assert_int_equal(seen.count[p][i], 1);
        }
    }
    struct ether_topic_partition *partitions = NULL;
    size_t count = 0;
    assert_int_equal(ether_assignment(consumer, &partitions, &count), ETHER_OK);
    assert_int_equal(count, 3);
    for (size_t i = 0; i < count; i++) {
        assert_string_equal(partitions[i].topic, "orders");
        assert_int_equal(partitions[i].partition, (int32_t)i);
        assert_int_equal(partitions[i].offset, RECORDS_PER_PARTITION); /* all consumed */
    }
    ether_topic_partitions_free(partitions, count);
    assert_true(fake_read(cluster, &cluster->find_coordinator_requests) >= 1);
    assert_int_equal(fake_read(cluster, &cluster->sync_requests), 1);
    ether_client_destroy(consumer);
}

static void test_without_a_committed_offset_latest_starts_at_the_end(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id", "fresh", "auto_offset_reset", "latest", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    subscribe(consumer, "orders");
    /* Positions known: every partition starts at its end (10). */
    uint64_t deadline = now_ms() + WAIT_MS;
    bool known = false;
    while (!known && now_ms() < deadline) {
        struct ether_topic_partition *partitions = NULL;
        size_t count = 0;
        assert_int_equal(ether_assignment(consumer, &partitions, &count), ETHER_OK);
        known = count == PARTITIONS;
        for (size_t i = 0; i < count; i++) {
            known = known && partitions[i].offset == RECORDS_PER_PARTITION;
        }
        ether_topic_partitions_free(partitions, count);
        if (!known) {
            sleep_ms(10);
        }
    }
    assert_true(known);
    assert_null(ether_consume(consumer, 300));

    /* A record produced now is read. */
    struct ether_client *producer = client_with(brokers, NULL);
    assert_int_equal(ether_produce(producer, "orders", 1, NULL, 0, "late", 4, 0, NULL), ETHER_OK);
    assert_int_equal(ether_flush(producer, WAIT_MS), ETHER_OK);
    ether_client_destroy(producer);
    struct ether_message *message = ether_consume(consumer, WAIT_MS);
    assert_non_null(message);
    assert_int_equal(message->error, ETHER_OK);
    assert_int_equal(message->partition, 1);
    assert_int_equal(message->offset, RECORDS_PER_PARTITION);
    ether_message_free(message);
    ether_client_destroy(consumer);
}

static void test_commit_sync_commits_the_positions_after_the_consumed_messages(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id", "manual", "enable_auto_commit", "false", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    char errstr[256];
    assert_int_equal(ether_commit_sync(consumer, 1000, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "not subscribed"));
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(consumer, &seen, 7);
    assert_int_equal(seen.total, 7);
    assert_int_equal(ether_commit_sync(consumer, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    for (int p = 0; p < PARTITIONS; p++) {
        int consumed = 0;
        for (int i = 0; i < RECORDS_PER_PARTITION; i++) {
            consumed += seen.count[p][i];
        }
        /* Position = after the last message returned (offsets come in order from 0). */
        assert_int_equal(fake_committed(cluster, "manual", "orders", (uint32_t)p), consumed);
        int64_t committed = -2;
        assert_int_equal(
            ether_committed(consumer, "orders", p, &committed, WAIT_MS, errstr, sizeof errstr),
            ETHER_OK);
        assert_int_equal(committed, consumed);
    }
    /* Nothing is committed by itself with auto-commit off, however long it runs. */
    uint32_t commits = fake_read(cluster, &cluster->commit_requests);
    consume_until(consumer, &seen, 30);
    assert_int_equal(ether_unsubscribe(consumer, WAIT_MS), ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->commit_requests), commits);
    ether_client_destroy(consumer);
}

/* The sum of the committed offsets of orders' partitions (none counts 0). */
static int64_t committed_total(struct fake_cluster *cluster, const char *group)
{
    int64_t total = 0;
    for (uint32_t p = 0; p < PARTITIONS; p++) {
        int64_t offset = fake_committed(cluster, group, "orders", p);
        total += offset > 0 ? offset : 0;
    }
    return total;
}

static int commit_callbacks;
static int commit_callback_error = -1;
static size_t commit_callback_count;

static void on_commit(void *context, int error, const char *error_message,
                      const struct ether_topic_partition *offsets, size_t count)
{
    (void)error_message;
    (void)offsets;
    assert_ptr_equal(context, &commit_callbacks);
    commit_callbacks++;
    commit_callback_error = error;
    commit_callback_count = count;
}

static void test_commit_async_and_auto_commit_report_to_the_callback(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    struct ether_config *config = ether_config_new();
    char errstr[256];
    const char *settings[] = {"brokers",
                              brokers,
                              "group_id",
                              "auto",
                              "auto_commit_interval_ms",
                              "100",
                              "heartbeat_interval_ms",
                              "50",
                              "auto_offset_reset",
                              "earliest",
                              "fetch_max_wait_ms",
                              "50",
                              NULL};
    for (size_t i = 0; settings[i] != NULL; i += 2) {
        assert_int_equal(
            ether_config_set(config, settings[i], settings[i + 1], errstr, sizeof errstr),
            ETHER_OK);
    }
    ether_config_set_commit_callback(config, on_commit, &commit_callbacks);
    struct ether_client *consumer = ether_client_new(config, errstr, sizeof errstr);
    ether_config_free(config);
    assert_non_null(consumer);
    commit_callbacks = 0;
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(consumer, &seen, 30);
    assert_int_equal(seen.total, 30);
    /* Auto-commit catches up within a few intervals (its reports come through ether_poll),
     * except for the last message returned: the application may still be working on it. */
    uint64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline && committed_total(cluster, "auto") != 29) {
        ether_poll(consumer, 20);
    }
    assert_int_equal(committed_total(cluster, "auto"), 29);
    deadline = now_ms() + 500; /* five more intervals */
    while (now_ms() < deadline) {
        ether_poll(consumer, 20);
    }
    assert_int_equal(committed_total(cluster, "auto"), 29);
    /* Coming back for more says that it was processed. */
    assert_null(ether_consume(consumer, 0));
    deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline && committed_total(cluster, "auto") != 30) {
        ether_poll(consumer, 20);
    }
    for (int p = 0; p < PARTITIONS; p++) {
        assert_int_equal(fake_committed(cluster, "auto", "orders", (uint32_t)p),
                         RECORDS_PER_PARTITION);
    }
    deadline = now_ms() + WAIT_MS;
    while (commit_callbacks == 0 && now_ms() < deadline) {
        ether_poll(consumer, 20);
    }
    assert_true(commit_callbacks >= 1);
    assert_int_equal(commit_callback_error, ETHER_OK);

    int before = commit_callbacks;
    assert_int_equal(ether_commit_async(consumer), ETHER_OK);
    deadline = now_ms() + WAIT_MS;
    while (commit_callbacks == before && now_ms() < deadline) {
        ether_poll(consumer, 20);
    }
    assert_true(commit_callbacks > before);
    assert_int_equal(commit_callback_error, ETHER_OK);
    assert_int_equal(commit_callback_count, PARTITIONS); /* async commits every position */
    ether_client_destroy(consumer);
}

static void test_eager_rebalance_moves_a_partition_and_drops_its_buffered_messages(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id", "shared", NULL};
    struct ether_client *first = client_with(brokers, settings);
    subscribe(first, "orders");
    struct seen first_seen;
    seen_init(&first_seen);
    consume_until(first, &first_seen, 1);
    int in_hand_partition = -1;
    for (int p = 0; p < PARTITIONS; p++) {
        if (first_seen.count[p][0] == 1) {
            in_hand_partition = p;
        }
    }
    assert_true(in_hand_partition >= 0);
    /* Partition p is led by broker p+1: a second fetch of partition 2 means the first one's
     * 10 records sit in the client's queue. */
    wait_counter(cluster, &cluster->fetch_requests[3], 2);
    wait_counter(cluster, &cluster->fetch_requests[1], 2);
    wait_counter(cluster, &cluster->fetch_requests[2], 2);

    struct ether_client *second = client_with(brokers, settings);
    subscribe(second, "orders");
    /* member-1 keeps partitions 0 and 1 (range), member-2 gets partition 2. */
    wait_assignment(second, 1);
    wait_assignment(first, 2);
    bool has_partition_2 = true;
    assert_int_equal(assignment_count(first, &has_partition_2), 2);
    assert_false(has_partition_2);
    pthread_mutex_lock(&cluster->mutex);
    struct fake_member *member =
        fake_member_find(fake_group_find(cluster, "shared", false), "member-1");
    assert_non_null(member);
    assert_int_equal(member->joins, 2);
    /* An eager member reports what it had, though it gave everything up before joining. */
    assert_int_equal(member->last_join_owned_count, 3);
    pthread_mutex_unlock(&cluster->mutex);

    /* The first member never returns a buffered message of partition 2 after losing it. */
    int partition_2_before = 0;
    for (int i = 0; i < RECORDS_PER_PARTITION; i++) {
        partition_2_before += first_seen.count[2][i];
    }
    consume_rest(first, &first_seen, 300);
    int partition_2_after = 0;
    for (int i = 0; i < RECORDS_PER_PARTITION; i++) {
        partition_2_after += first_seen.count[2][i];
    }
    assert_int_equal(partition_2_after, partition_2_before);
    /* Partitions 0 and 1 start again from the positions committed before the rebalance,
     * which leave out the one message the application had in hand (auto-commit commits
     * what it came back from): that one comes twice, every other record once. */
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < RECORDS_PER_PARTITION; i++) {
            assert_int_equal(first_seen.count[p][i], 1 + (p == in_hand_partition && i == 0));
        }
    }
    /* The second member reads partition 2 from the first one's committed position: 0. */
    struct seen second_seen;
    seen_init(&second_seen);
    consume_until(second, &second_seen, RECORDS_PER_PARTITION);
    consume_rest(second, &second_seen, 200);
    assert_int_equal(second_seen.total, RECORDS_PER_PARTITION);
    assert_int_equal(second_seen.first_offset[2], 0);
    ether_client_destroy(second);
    ether_client_destroy(first);
}

static void test_cooperative_member_keeps_reading_what_it_keeps_during_a_rebalance(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {
        "group_id", "coop", "group_protocol", "cooperative", "enable_auto_commit", "false", NULL};
    struct ether_client *first = client_with(brokers, settings);
    subscribe(first, "orders");
    struct seen first_seen;
    seen_init(&first_seen);
    consume_until(first, &first_seen, 30);
    assert_int_equal(first_seen.total, 30);
    uint32_t fetches_before = fake_read(cluster, &cluster->offset_fetch_requests);
    assert_int_equal(fetches_before, 1);

    struct ether_client *second = client_with(brokers, settings);
    subscribe(second, "orders");
    wait_assignment(second, 1);
    wait_assignment(first, 2);
    pthread_mutex_lock(&cluster->mutex);
    struct fake_member *member =
        fake_member_find(fake_group_find(cluster, "coop", false), "member-1");
    assert_non_null(member);
    assert_int_equal(member->last_join_owned_count, 3); /* it still read all three */
    pthread_mutex_unlock(&cluster->mutex);
    /* New records of the partitions it kept arrive without repeating old ones. */
    struct ether_client *producer = client_with(brokers, NULL);
    assert_int_equal(ether_produce(producer, "orders", 0, NULL, 0, "new", 3, 0, NULL), ETHER_OK);
    assert_int_equal(ether_flush(producer, WAIT_MS), ETHER_OK);
    ether_client_destroy(producer);
    struct ether_message *message = ether_consume(first, WAIT_MS);
    assert_non_null(message);
    assert_int_equal(message->partition, 0);
    assert_int_equal(message->offset, RECORDS_PER_PARTITION);
    ether_message_free(message);
    /* Only the second member asked where its partition starts: the first kept its positions
     * (with nothing committed it would have started again at 0). */
    assert_int_equal(fake_read(cluster, &cluster->offset_fetch_requests), fetches_before + 1);
    ether_client_destroy(second);
    ether_client_destroy(first);
}

static void test_heartbeat_rebalance_in_progress_makes_the_member_join_again(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    const char *settings[] = {"group_id", "again", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    subscribe(consumer, "orders");
    wait_assignment(consumer, 3);
    uint32_t joins = fake_read(cluster, &cluster->join_requests);
    uint32_t rebalances = fake_read(cluster, &cluster->rebalances);
    pthread_mutex_lock(&cluster->mutex);
    cluster->heartbeat_error = ETHER_ERR_REBALANCE_IN_PROGRESS;
    pthread_mutex_unlock(&cluster->mutex);
    wait_counter(cluster, &cluster->rebalances, rebalances + 1);
    assert_int_equal(fake_read(cluster, &cluster->join_requests), joins + 1);
    wait_assignment(consumer, 3);
    ether_client_destroy(consumer);
}

static void test_illegal_generation_on_commit_is_reported_and_the_member_joins_again(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id", "fenced", "enable_auto_commit", "false", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(consumer, &seen, 5);
    uint32_t joins = fake_read(cluster, &cluster->join_requests);
    pthread_mutex_lock(&cluster->mutex);
    cluster->commit_error = ETHER_ERR_ILLEGAL_GENERATION;
    pthread_mutex_unlock(&cluster->mutex);
    char errstr[256];
    assert_int_equal(ether_commit_sync(consumer, WAIT_MS, errstr, sizeof errstr),
                     ETHER_ERR_ILLEGAL_GENERATION);
    assert_non_null(strstr(errstr, "newer generation"));
    /* Fenced: the partitions are lost and the member joins again with its id. */
    wait_counter(cluster, &cluster->join_requests, joins + 1);
    wait_assignment(consumer, 3);
    assert_int_equal(fake_group_members(cluster, "fenced"), 1);
    /* Nothing was committed, so it reads again from the start (at least once). */
    consume_until(consumer, &seen, 5 + 30);
    assert_int_equal(seen.total, 35);
    assert_int_equal(ether_commit_sync(consumer, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    ether_client_destroy(consumer);
}

static void test_a_moved_coordinator_is_found_again(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    pthread_mutex_lock(&cluster->mutex);
    cluster->coordinator_not_available = 2; /* __consumer_offsets has no leader yet */
    pthread_mutex_unlock(&cluster->mutex);
    const char *settings[] = {"group_id", "moving", "enable_auto_commit", "false", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(consumer, &seen, 10);
    assert_true(fake_read(cluster, &cluster->find_coordinator_requests) >= 3);
    uint32_t finds = fake_read(cluster, &cluster->find_coordinator_requests);

    pthread_mutex_lock(&cluster->mutex);
    cluster->coordinator_id = 2;
    pthread_mutex_unlock(&cluster->mutex);
    /* Heartbeats at broker 1 now get NOT_COORDINATOR; the client asks again and goes on. */
    wait_counter(cluster, &cluster->not_coordinator_answers, 1);
    wait_counter(cluster, &cluster->find_coordinator_requests, finds + 1);
    char errstr[256];
    assert_int_equal(ether_commit_sync(consumer, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    int64_t committed = 0;
    for (uint32_t p = 0; p < PARTITIONS; p++) {
        int64_t offset = fake_committed(cluster, "moving", "orders", p);
        committed += offset > 0 ? offset : 0;
    }
    assert_int_equal(committed, seen.total);
    uint32_t heartbeats = fake_read(cluster, &cluster->heartbeat_requests);
    wait_counter(cluster, &cluster->heartbeat_requests, heartbeats + 3);
    assert_int_equal(assignment_count(consumer, NULL), 3); /* no rebalance was needed */
    ether_client_destroy(consumer);
}

static void test_unsubscribe_commits_and_leaves_the_group(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id", "leaving", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(consumer, &seen, 4);
    assert_int_equal(fake_group_members(cluster, "leaving"), 1);
    assert_int_equal(ether_unsubscribe(consumer, WAIT_MS), ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->leave_requests), 1);
    assert_int_equal(fake_group_members(cluster, "leaving"), 0);
    int committed = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t offset = fake_committed(cluster, "leaving", "orders", (uint32_t)p);
        committed += offset > 0 ? (int)offset : 0;
    }
    assert_int_equal(committed, 4); /* what was consumed, not what was buffered */
    assert_int_equal(assignment_count(consumer, NULL), 0);
    assert_null(ether_consume(consumer, 200));
    /* Not subscribed: manual assignment works again. */
    assert_int_equal(ether_assign(consumer, "orders", 0, 0), ETHER_OK);
    ether_client_destroy(consumer);

    /* Destroying a subscribed client leaves too. */
    struct ether_client *other = client_with(brokers, settings);
    subscribe(other, "orders");
    wait_assignment(other, 3);
    ether_client_destroy(other);
    assert_int_equal(fake_read(cluster, &cluster->leave_requests), 2);
    assert_int_equal(fake_group_members(cluster, "leaving"), 0);
}

static void test_leaving_during_the_first_join_takes_the_new_member_out(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    /* The first member heartbeats seldom: the second one's first join waits for it. */
    const char *slow[] = {"group_id", "early", "heartbeat_interval_ms", "1000", NULL};
    struct ether_client *first = client_with(brokers, slow);
    subscribe(first, "orders");
    wait_assignment(first, 3);
    const char *settings[] = {"group_id", "early", NULL};
    struct ether_client *second = client_with(brokers, settings);
    subscribe(second, "orders");
    uint64_t deadline = now_ms() + WAIT_MS;
    while (fake_group_members(cluster, "early") < 2 && now_ms() < deadline) {
        sleep_ms(5);
    }
    assert_int_equal(fake_group_members(cluster, "early"), 2);
    /* The coordinator knows the new member; the client learns its id only from the join's
     * answer, which it waits for before it leaves. */
    assert_int_equal(ether_unsubscribe(second, WAIT_MS), ETHER_OK);
    assert_int_equal(fake_read(cluster, &cluster->leave_requests), 1);
    assert_int_equal(fake_group_members(cluster, "early"), 1);
    ether_client_destroy(second);
    ether_client_destroy(first);
}

static void test_an_out_of_range_committed_offset_starts_per_auto_offset_reset(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id", "ahead", NULL};
    struct ether_client *consumer = client_with(brokers, settings);
    char errstr[256];
    assert_int_equal(
        ether_commit_offset(consumer, "orders", 0, 500, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    subscribe(consumer, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(consumer, &seen, 30);
    assert_int_equal(seen.total, 30);
    assert_int_equal(seen.errors, 0);
    assert_int_equal(seen.first_offset[0], 0);
    ether_client_destroy(consumer);
}

static void test_group_errors_arrive_as_messages_and_bad_calls_are_refused(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    char errstr[256];
    struct ether_client *lonely = client_with(brokers, NULL);
    const char *topics[] = {"orders"};
    assert_int_equal(ether_subscribe(lonely, topics, 1, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "ether_subscribe needs a group_id in the configuration");
    assert_int_equal(ether_commit_offset(lonely, "orders", 0, 1, 100, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    ether_client_destroy(lonely);

    const char *range[] = {"group_id", "mixed", NULL};
    struct ether_client *first = client_with(brokers, range);
    assert_int_equal(ether_subscribe(first, topics, 0, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    subscribe(first, "orders");
    assert_int_equal(ether_assign(first, "orders", 0, 0), ETHER_ERR_INVALID_ARGUMENT);
    wait_assignment(first, 3);

    const char *roundrobin[] = {"group_id", "mixed", "group_assignor", "roundrobin", NULL};
    struct ether_client *second = client_with(brokers, roundrobin);
    subscribe(second, "orders");
    struct ether_message *message = ether_consume(second, WAIT_MS);
    assert_non_null(message);
    assert_int_equal(message->error, ETHER_ERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_string_equal(message->topic, "");
    assert_int_equal(message->partition, -1);
    assert_non_null(strstr(message->error_message, "consumer group mixed stopped: cannot join"));
    ether_message_free(message);
    assert_int_equal(assignment_count(second, NULL), 0);
    assert_int_equal(fake_group_members(cluster, "mixed"), 1);
    ether_client_destroy(second);
    ether_client_destroy(first);
}

static void test_groups_are_listed_described_reset_and_deleted(void **state)
{
    struct fake_cluster *cluster = *state;
    char brokers[128];
    brokers_of(cluster, brokers, sizeof brokers);
    produce_orders(brokers);
    const char *settings[] = {"group_id",   "ledger", "enable_auto_commit", "false", "client_id",
                              "ledger-app", NULL};
    struct ether_client *member = client_with(brokers, settings);
    subscribe(member, "orders");
    struct seen seen;
    seen_init(&seen);
    consume_until(member, &seen, 7);
    char errstr[256];
    assert_int_equal(ether_commit_sync(member, WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    struct ether_client *admin = client_with(brokers, NULL);

    struct ether_group_list *list = NULL;
    assert_int_equal(ether_group_list(admin, WAIT_MS, &list, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(list->group_count, 1);
    assert_string_equal(list->groups[0].group, "ledger");
    assert_string_equal(list->groups[0].state, "stable");
    assert_int_equal(list->groups[0].member_count, 1);
    assert_int_equal(list->groups[0].coordinator_id, 1);
    assert_int_equal(list->unanswered_broker_count, 0);
    ether_group_list_free(list);

    struct ether_group_description *description = NULL;
    assert_int_equal(
        ether_group_describe(admin, "ledger", WAIT_MS, &description, errstr, sizeof errstr),
        ETHER_OK);
    assert_string_equal(description->state, "stable");
    assert_int_equal(description->coordinator_id, 1);
    assert_int_equal(description->member_count, 1);
    assert_string_equal(description->members[0].client_id, "ledger-app");
    assert_int_equal(description->members[0].assignment_count, 3);
    assert_int_equal(description->members[0].topic_count, 1);
    assert_string_equal(description->members[0].topics[0], "orders");
    assert_int_equal(description->partition_count, 3);
    int64_t lag = 0;
    for (size_t p = 0; p < 3; p++) {
        const struct ether_group_partition_info *row = &description->partitions[p];
        assert_string_equal(row->topic, "orders");
        assert_int_equal(row->partition, (int32_t)p);
        assert_int_equal(row->committed_offset,
                         fake_committed(cluster, "ledger", "orders", (uint32_t)p));
        assert_int_equal(row->end_offset, RECORDS_PER_PARTITION);
        assert_int_equal(row->lag, row->end_offset - row->committed_offset);
        assert_string_equal(row->member_id, description->members[0].member_id);
        assert_string_equal(row->client_id, "ledger-app");
        lag += row->lag;
    }
    assert_int_equal(lag, 30 - 7);
    ether_group_description_free(description);

    /* A group with members refuses resets and deletion. */
    struct ether_topic_partition *offsets = NULL;
    size_t count = 0;
    assert_int_equal(ether_group_reset_offsets(admin, "ledger", "orders",
                                               ETHER_GROUP_RESET_EARLIEST, 0, WAIT_MS, &offsets,
                                               &count, errstr, sizeof errstr),
                     ETHER_ERR_GROUP_NOT_EMPTY);
    assert_string_equal(errstr, "consumer group ledger has active members: stop its consumers "
                                "before resetting its offsets");
    assert_null(offsets);
    assert_int_equal(ether_group_delete(admin, "ledger", WAIT_MS, errstr, sizeof errstr),
                     ETHER_ERR_GROUP_NOT_EMPTY);
    assert_non_null(strstr(errstr, "still has members"));

    assert_int_equal(ether_unsubscribe(member, WAIT_MS), ETHER_OK);
    assert_int_equal(ether_group_reset_offsets(admin, "ledger", "orders", ETHER_GROUP_RESET_OFFSET,
                                               5, WAIT_MS, &offsets, &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 3);
    for (size_t p = 0; p < count; p++) {
        assert_int_equal(offsets[p].partition, (int32_t)p);
        assert_int_equal(offsets[p].offset, 5);
        assert_int_equal(fake_committed(cluster, "ledger", "orders", (uint32_t)p), 5);
    }
    ether_topic_partitions_free(offsets, count);
    /* An offset past the end is kept within the log. */
    assert_int_equal(ether_group_reset_offsets(admin, "ledger", "orders", ETHER_GROUP_RESET_OFFSET,
                                               1000, WAIT_MS, NULL, NULL, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(fake_committed(cluster, "ledger", "orders", 1), RECORDS_PER_PARTITION);
    assert_int_equal(ether_group_reset_offsets(admin, "ledger", "orders",
                                               ETHER_GROUP_RESET_EARLIEST, 0, WAIT_MS, NULL, NULL,
                                               errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(fake_committed(cluster, "ledger", "orders", 2), 0);
    assert_int_equal(ether_group_reset_offsets(admin, "ledger", "nope", ETHER_GROUP_RESET_LATEST, 0,
                                               WAIT_MS, NULL, NULL, errstr, sizeof errstr),
                     ETHER_ERR_NOT_FOUND);
    assert_string_equal(errstr, "topic nope does not exist");

    assert_int_equal(
        ether_group_describe(admin, "ledger", WAIT_MS, &description, errstr, sizeof errstr),
        ETHER_OK);
    assert_string_equal(description->state, "empty");
    assert_int_equal(description->member_count, 0);
    for (size_t p = 0; p < description->partition_count; p++) {
        assert_int_equal(description->partitions[p].committed_offset, 0);
        assert_int_equal(description->partitions[p].lag, RECORDS_PER_PARTITION);
        assert_string_equal(description->partitions[p].member_id, "");
    }
    ether_group_description_free(description);

    /* The coordinator moved: admin requests find it again. */
    pthread_mutex_lock(&cluster->mutex);
    cluster->coordinator_id = 3;
    pthread_mutex_unlock(&cluster->mutex);
    assert_int_equal(ether_group_delete(admin, "ledger", WAIT_MS, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(ether_group_delete(admin, "ledger", WAIT_MS, errstr, sizeof errstr),
                     ETHER_ERR_GROUP_NOT_FOUND);
    assert_string_equal(errstr, "consumer group ledger does not exist");
    assert_int_equal(
        ether_group_describe(admin, "ledger", WAIT_MS, &description, errstr, sizeof errstr),
        ETHER_ERR_GROUP_NOT_FOUND);
    assert_null(description);
    assert_int_equal(ether_group_list(admin, WAIT_MS, &list, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(list->group_count, 0);
    ether_group_list_free(list);
    ether_client_destroy(admin);
    ether_client_destroy(member);
}

int main(void)
{
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_subscriber_reads_each_partition_from_its_committed_offset),
        TEST(test_without_a_committed_offset_latest_starts_at_the_end),
        TEST(test_commit_sync_commits_the_positions_after_the_consumed_messages),
        TEST(test_commit_async_and_auto_commit_report_to_the_callback),
        TEST(test_eager_rebalance_moves_a_partition_and_drops_its_buffered_messages),
        TEST(test_cooperative_member_keeps_reading_what_it_keeps_during_a_rebalance),
        TEST(test_heartbeat_rebalance_in_progress_makes_the_member_join_again),
        TEST(test_illegal_generation_on_commit_is_reported_and_the_member_joins_again),
        TEST(test_a_moved_coordinator_is_found_again),
        TEST(test_unsubscribe_commits_and_leaves_the_group),
        TEST(test_leaving_during_the_first_join_takes_the_new_member_out),
        TEST(test_an_out_of_range_committed_offset_starts_per_auto_offset_reset),
        TEST(test_group_errors_arrive_as_messages_and_bad_calls_are_refused),
        TEST(test_groups_are_listed_described_reset_and_deleted),
    };
#undef TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
