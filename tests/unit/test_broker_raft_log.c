/*
 * Unit tests for broker/raft_log: three Raft nodes, each on its own storage/
 * log in a temporary directory, run the ready loop in one thread (persisting
 * synchronously), elect a leader, commit entries, and survive reopening.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/raft_log.h"
#include "common/error.h"

enum { NODES = 3, MESSAGES_MAX = 4096 };

struct node {
    char dir[256];
    struct broker_raft_log *raft_log;
    struct raft *raft;
    uint64_t applied_count;
    uint64_t applied_last_index;
};

struct cluster {
    char root[64];
    struct node nodes[NODES];
    struct raft_message queue[MESSAGES_MAX];
    struct raft_entry *queue_entries[MESSAGES_MAX];
    size_t queue_count;
};

static int describe_one_record(void *context, const struct raft_entry *entry,
                               uint32_t *record_count, int64_t *max_timestamp_ms)
{
    (void)context;
    (void)entry;
    *record_count = 1;
    *max_timestamp_ms = 0;
    return ETHER_OK;
}

static uint64_t node_id(int i)
{
    return ((uint64_t)(i + 1) << 32) | 1;
}

static void open_node(struct cluster *cluster, int i)
{
    struct node *node = &cluster->nodes[i];
    struct storage_options options;
    storage_options_init(&options);
    options.segment_bytes_max = 64 * 1024;
    struct storage_log *log = NULL;
    char errbuf[256];
    assert_int_equal(storage_open(node->dir, &options, &log, errbuf, sizeof errbuf), ETHER_OK);
    assert_int_equal(broker_raft_log_open(log, describe_one_record, NULL, NULL, &node->raft_log,
                                          errbuf, sizeof errbuf),
                     ETHER_OK);
    if (broker_raft_log_is_new(node->raft_log)) {
        struct raft_configuration configuration = {.servers_count = NODES};
        for (int j = 0; j < NODES; j++) {
            configuration.servers[j] = (struct raft_server){node_id(j), RAFT_VOTER};
        }
        assert_int_equal(broker_raft_log_bootstrap(node->raft_log, &configuration), ETHER_OK);
    }
    struct raft_config config;
    raft_config_init(&config, node_id(i), broker_raft_log_view(node->raft_log));
    config.random_seed = (uint64_t)i + 7;
    assert_int_equal(broker_raft_log_hard_state(node->raft_log, &config.hard_state), ETHER_OK);
    assert_int_equal(raft_create(&config, &node->raft, errbuf, sizeof errbuf), ETHER_OK);
    node->applied_count = 0;
    node->applied_last_index = 0;
}

static void close_node(struct cluster *cluster, int i)
{
    struct node *node = &cluster->nodes[i];
    raft_destroy(node->raft);
    broker_raft_log_close(node->raft_log);
    node->raft = NULL;
    node->raft_log = NULL;
}

/* Deep-copies a message into the queue (its entries point into Raft's memory). */
static void enqueue(struct cluster *cluster, const struct raft_message *message)
{
    assert_true(cluster->queue_count < MESSAGES_MAX);
    struct raft_message *copy = &cluster->queue[cluster->queue_count];
    *copy = *message;
    struct raft_entry *entries = NULL;
    if (message->entries_count > 0) {
        entries = calloc(message->entries_count, sizeof *entries);
        for (uint32_t i = 0; i < message->entries_count; i++) {
            entries[i] = message->entries[i];
            uint8_t *data = malloc(entries[i].data_bytes + 1);
            if (entries[i].data_bytes > 0) {
                memcpy(data, message->entries[i].data, entries[i].data_bytes);
            }
            entries[i].data = data;
        }
        copy->entries = entries;
    }
    cluster->queue_entries[cluster->queue_count] = entries;
    cluster->queue_count++;
}

static void free_message_copy(const struct raft_message *message, struct raft_entry *entries)
{
    for (uint32_t i = 0; entries != NULL && i < message->entries_count; i++) {
        free((void *)(uintptr_t)entries[i].data);
    }
    free(entries);
}

/* Runs one ready of node i synchronously; returns 1 if there was one. */
static int process_ready(struct cluster *cluster, int i)
{
    struct node *node = &cluster->nodes[i];
    if (node->raft == NULL || !raft_has_ready(node->raft)) {
        return 0;
    }
    struct raft_ready ready;
    raft_ready(node->raft, &ready);
    int rc = broker_raft_log_persist(node->raft_log, &ready);
    assert_int_equal(rc, ETHER_OK);
    broker_raft_log_persisted(node->raft_log, &ready, rc);
    for (size_t m = 0; m < ready.messages_count; m++) {
        enqueue(cluster, &ready.messages[m]);
    }
    for (size_t e = 0; e < ready.committed_entries_count; e++) {
        const struct raft_entry *entry = &ready.committed_entries[e];
        assert_true(entry->index > node->applied_last_index);
        node->applied_last_index = entry->index;
        if (entry->type == RAFT_ENTRY_NORMAL) {
            node->applied_count++;
        }
    }
    raft_advance(node->raft, &ready);
    broker_raft_log_release_reads(node->raft_log);
    return 1;
}

static void deliver_all(struct cluster *cluster)
{
    size_t count = cluster->queue_count;
    struct raft_message messages[MESSAGES_MAX];
    struct raft_entry *entries[MESSAGES_MAX];
    memcpy(messages, cluster->queue, count * sizeof *messages);
    memcpy(entries, cluster->queue_entries, count * sizeof *entries);
    cluster->queue_count = 0;
    for (size_t m = 0; m < count; m++) {
        int to = (int)(messages[m].to >> 32) - 1;
        if (to >= 0 && to < NODES && cluster->nodes[to].raft != NULL) {
            raft_step(cluster->nodes[to].raft, &messages[m]);
            process_ready(cluster, to);
        }
        free_message_copy(&messages[m], entries[m]);
    }
}

static void run_ticks(struct cluster *cluster, int ticks)
{
    for (int t = 0; t < ticks; t++) {
        for (int i = 0; i < NODES; i++) {
            if (cluster->nodes[i].raft != NULL) {
                raft_tick(cluster->nodes[i].raft);
                process_ready(cluster, i);
            }
        }
        for (int round = 0; round < 10 && cluster->queue_count > 0; round++) {
            deliver_all(cluster);
        }
    }
}

static int find_leader(struct cluster *cluster)
{
    for (int i = 0; i < NODES; i++) {
        struct raft_status status;
        if (cluster->nodes[i].raft == NULL) {
            continue;
        }
        raft_status(cluster->nodes[i].raft, &status);
        if (status.role == RAFT_LEADER) {
            return i;
        }
    }
    return -1;
}

static int setup(void **state)
{
    struct cluster *cluster = calloc(1, sizeof *cluster);
    snprintf(cluster->root, sizeof cluster->root, "/tmp/ether-raft-log-XXXXXX");
    assert_non_null(mkdtemp(cluster->root));
    char root[sizeof cluster->root];
    memcpy(root, cluster->root, sizeof root);
    for (int i = 0; i < NODES; i++) {
        snprintf(cluster->nodes[i].dir, sizeof cluster->nodes[i].dir, "%s/node-%d", root, i + 1);
        open_node(cluster, i);
    }
    *state = cluster;
    return 0;
}

static int teardown(void **state)
{
    struct cluster *cluster = *state;
    for (int i = 0; i < NODES; i++) {
        if (cluster->nodes[i].raft != NULL) {
            close_node(cluster, i);
        }
    }
    for (size_t m = 0; m < cluster->queue_count; m++) {
        free_message_copy(&cluster->queue[m], cluster->queue_entries[m]);
    }
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", cluster->root);
    assert_int_equal(system(command), 0);
    free(cluster);
    return 0;
}

static void propose(struct cluster *cluster, int leader, int count)
{
    for (int k = 0; k < count; k++) {
        static uint8_t payload[100];
        memset(payload, k & 0xff, sizeof payload);
        const uint8_t *datas[1] = {payload};
        uint32_t sizes[1] = {sizeof payload};
        uint64_t index = 0;
        assert_int_equal(
            raft_propose(cluster->nodes[leader].raft, datas, sizes, 1, &index, NULL, NULL),
            ETHER_OK);
        process_ready(cluster, leader);
        deliver_all(cluster);
    }
}

static void test_three_nodes_on_storage_elect_and_commit(void **state)
{
    struct cluster *cluster = *state;
    run_ticks(cluster, 100);
    int leader = find_leader(cluster);
    assert_true(leader >= 0);
    propose(cluster, leader, 50);
    run_ticks(cluster, 10);
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(cluster->nodes[i].applied_count, 50);
        struct storage_bounds bounds;
        assert_int_equal(
            storage_get_bounds(broker_raft_log_storage(cluster->nodes[i].raft_log), &bounds),
            ETHER_OK);
        /* 50 data entries of one record each: offsets 0..49, Raft's own entries take none. */
        assert_int_equal(bounds.next_offset, 50);
    }
}

static void test_reopened_nodes_keep_log_term_vote_and_configuration(void **state)
{
    struct cluster *cluster = *state;
    run_ticks(cluster, 100);
    int leader = find_leader(cluster);
    assert_true(leader >= 0);
    propose(cluster, leader, 20);
    run_ticks(cluster, 10);
    struct raft_status before;
    raft_status(cluster->nodes[leader].raft, &before);

    for (int i = 0; i < NODES; i++) {
        close_node(cluster, i);
    }
    for (size_t m = 0; m < cluster->queue_count; m++) {
        free_message_copy(&cluster->queue[m], cluster->queue_entries[m]);
    }
    cluster->queue_count = 0;
    for (int i = 0; i < NODES; i++) {
        open_node(cluster, i);
        struct raft_status status;
        raft_status(cluster->nodes[i].raft, &status);
        assert_int_equal(status.last_index, before.last_index);
        assert_true(status.term >= before.term);
        assert_int_equal(raft_configuration(cluster->nodes[i].raft)->servers_count, NODES);
    }
    run_ticks(cluster, 100);
    leader = find_leader(cluster);
    assert_true(leader >= 0);
    propose(cluster, leader, 5);
    run_ticks(cluster, 10);
    for (int i = 0; i < NODES; i++) {
        struct raft_status status;
        raft_status(cluster->nodes[i].raft, &status);
        assert_true(status.commit_index >= before.last_index + 5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_nodes_on_storage_elect_and_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopened_nodes_keep_log_term_vote_and_configuration,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
