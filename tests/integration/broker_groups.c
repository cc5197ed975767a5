/*
 * Integration tests of the consumer group coordinator: real brokers on
 * loopback, spoken to over the wire protocol directly (the client library's
 * group support is tested in tests/integration/client_groups.sh).
 *
 * One cluster for the whole file: the tests run in order and each uses its
 * own group names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "tests/integration/harness/cluster_harness.h"

enum {
    PARTITIONS = 6,
    SESSION_TIMEOUT_MS = 4000,
    REBALANCE_TIMEOUT_MS = 5000,
    WAIT_MS = 30000,
};

static const char *const TOPIC = "orders";

#define CHECK(harness, condition)                                  \
    do {                                                           \
        if (!(condition)) {                                        \
            harness_print_logs(harness);                           \
            fail_msg("%s:%d: %s", __FILE__, __LINE__, #condition); \
        }                                                          \
    } while (0)

static int setup_cluster(void **state)
{
    struct harness *harness = calloc(1, sizeof *harness);
    /* Small segments, so that snapshots of the offsets store let retention remove old commits
     * within the test. The brokers read ETHER_* settings from their environment. */
    setenv("ETHER_OFFSETS_TOPIC_SEGMENT_BYTES", "4096", 1);
    setenv("ETHER_OFFSETS_TOPIC_PARTITIONS", "8", 1);
    harness_start(harness, 3);
    if (harness_create_topic(harness, TOPIC, PARTITIONS, 3) != ETHER_OK ||
        !harness_wait_for_leaders(harness, 1, TOPIC, PARTITIONS, WAIT_MS)) {
        harness_print_logs(harness);
        return -1;
    }
    *state = harness;
    return 0;
}

static int teardown_cluster(void **state)
{
    struct harness *harness = *state;
    int unclean = harness_stop(harness);
    free(harness);
    return unclean == 0 ? 0 : -1;
}

static int64_t fetch_offset(int fd, const char *group, uint32_t partition);

/*
 * The coordinator's broker id for `group`, asking every running broker, once it serves the
 * group (a new leader answers COORDINATOR_LOADING until it has applied its log); 0 if none
 * does in time.
 */
static int find_coordinator(struct harness *harness, const char *group)
{
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline) {
        for (int id = 1; id <= harness->brokers_count; id++) {
            if (harness->pids[id] == 0) {
                continue;
            }
            int fd = harness_connect(harness_port(harness, id));
            if (fd < 0) {
                continue;
            }
            Ether__FindCoordinatorRequest request = ETHER__FIND_COORDINATOR_REQUEST__INIT;
            request.group = (char *)(uintptr_t)group;
            ProtobufCMessage *body = NULL;
            int rc = harness_call(fd, PROTO_API_FIND_COORDINATOR, &request.base, &body);
            close(fd);
            if (rc != ETHER_OK) {
                continue;
            }
            Ether__FindCoordinatorResponse *response = (Ether__FindCoordinatorResponse *)body;
            int coordinator = response->error == ETHER_OK && response->coordinator != NULL
                                  ? (int)response->coordinator->broker_id
                                  : 0;
            proto_message_free(body);
            if (coordinator != 0 && harness->pids[coordinator] != 0) {
                int coordinator_fd = harness_connect(harness_port(harness, coordinator));
                bool serving =
                    coordinator_fd >= 0 && fetch_offset(coordinator_fd, group, 0) != INT64_MIN;
                if (coordinator_fd >= 0) {
                    close(coordinator_fd);
                }
                if (serving) {
                    return coordinator;
                }
            }
        }
        usleep(100 * 1000);
    }
    return 0;
}

static int connect_to(struct harness *harness, int broker_id)
{
    int fd = harness_connect(harness_port(harness, broker_id));
    CHECK(harness, fd >= 0);
    return fd;
}

static void send_request(int fd, uint16_t api_key, uint32_t correlation_id,
                         const ProtobufCMessage *body)
{
    struct ether_buf frame = ETHER_BUF_INIT;
    struct proto_frame_header header = {
        .api_key = api_key,
        .api_version = 1,
        .correlation_id = correlation_id,
    };
    assert_int_equal(proto_frame_encode(&frame, &header, body, PROTO_FRAME_BYTES_MAX_DEFAULT),
                     ETHER_OK);
    harness_send_raw(fd, frame.data, frame.length);
    ether_buf_free(&frame);
}

static void send_join(int fd, const char *group, const char *member_id, const char *assignor)
{
    Ether__JoinGroupRequest request = ETHER__JOIN_GROUP_REQUEST__INIT;
    char *topics[] = {(char *)(uintptr_t)TOPIC};
    request.group = (char *)(uintptr_t)group;
    request.member_id = (char *)(uintptr_t)member_id;
    request.client_id = "test";
    request.session_timeout_ms = SESSION_TIMEOUT_MS;
    request.rebalance_timeout_ms = REBALANCE_TIMEOUT_MS;
    request.topics = topics;
    request.n_topics = 1;
    request.assignor = (char *)(uintptr_t)assignor;
    send_request(fd, PROTO_API_JOIN_GROUP, 1, &request.base);
}

/* Waits for a JoinGroup answer; the caller frees it. */
static Ether__JoinGroupResponse *receive_join(int fd)
{
    struct proto_frame_header header;
    ProtobufCMessage *body = NULL;
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline) {
        if (harness_receive(fd, &header, &body) == 0) {
            assert_int_equal(header.api_key, PROTO_API_JOIN_GROUP);
            assert_false(header.is_error);
            return (Ether__JoinGroupResponse *)body;
        }
    }
    fail_msg("no JoinGroup answer");
    return NULL;
}

struct member {
    int fd;
    char member_id[256];
    uint32_t generation;
    uint32_t assigned[PARTITIONS];
    size_t assigned_count;
};

static int sync_member(struct member *member, const char *group)
{
    Ether__SyncGroupRequest request = ETHER__SYNC_GROUP_REQUEST__INIT;
    request.group = (char *)(uintptr_t)group;
    request.generation = member->generation;
    request.member_id = member->member_id;
    ProtobufCMessage *body = NULL;
    int rc = harness_call(member->fd, PROTO_API_SYNC_GROUP, &request.base, &body);
    if (rc != ETHER_OK) {
        return rc;
    }
    Ether__SyncGroupResponse *response = (Ether__SyncGroupResponse *)body;
    rc = (int)response->error;
    member->assigned_count = 0;
    for (size_t t = 0; rc == ETHER_OK && t < response->n_assignment; t++) {
        assert_string_equal(response->assignment[t]->topic, TOPIC);
        for (size_t p = 0; p < response->assignment[t]->n_partitions; p++) {
            assert_true(member->assigned_count < PARTITIONS);
            member->assigned[member->assigned_count++] = response->assignment[t]->partitions[p];
        }
    }
    proto_message_free(body);
    return rc;
}

static int heartbeat(struct member *member, const char *group)
{
    Ether__HeartbeatRequest request = ETHER__HEARTBEAT_REQUEST__INIT;
    request.group = (char *)(uintptr_t)group;
    request.generation = member->generation;
    request.member_id = member->member_id;
    ProtobufCMessage *body = NULL;
    int rc = harness_call(member->fd, PROTO_API_HEARTBEAT, &request.base, &body);
    if (rc == ETHER_OK) {
        rc = (int)((Ether__HeartbeatResponse *)body)->error;
        proto_message_free(body);
    }
    return rc;
}

/* Members join together (each join is answered when the join phase ends), then sync. */
static void join_all(struct harness *harness, struct member *members, size_t count,
                     const char *group, const char *assignor)
{
    for (size_t i = 0; i < count; i++) {
        send_join(members[i].fd, group, members[i].member_id, assignor);
    }
    uint32_t generation = 0;
    for (size_t i = 0; i < count; i++) {
        Ether__JoinGroupResponse *response = receive_join(members[i].fd);
        CHECK(harness, response->error == ETHER_OK);
        snprintf(members[i].member_id, sizeof members[i].member_id, "%s", response->member_id);
        members[i].generation = response->generation;
        if (i > 0) {
            CHECK(harness, response->generation == generation);
        }
        generation = response->generation;
        proto_message_free(&response->base);
    }
    for (size_t i = 0; i < count; i++) {
        CHECK(harness, sync_member(&members[i], group) == ETHER_OK);
    }
}

static int commit(int fd, const char *group, int64_t generation, const char *member_id,
                  uint32_t partition, int64_t offset)
{
    Ether__GroupPartitionOffset entry = ETHER__GROUP_PARTITION_OFFSET__INIT;
    entry.topic = (char *)(uintptr_t)TOPIC;
    entry.partition = partition;
    entry.offset = offset;
    Ether__GroupPartitionOffset *entries[] = {&entry};
    Ether__OffsetCommitRequest request = ETHER__OFFSET_COMMIT_REQUEST__INIT;
    request.group = (char *)(uintptr_t)group;
    request.generation = (int32_t)generation;
    request.member_id = (char *)(uintptr_t)member_id;
    request.offsets = entries;
    request.n_offsets = 1;
    ProtobufCMessage *body = NULL;
    int rc = harness_call(fd, PROTO_API_OFFSET_COMMIT, &request.base, &body);
    if (rc == ETHER_OK) {
        Ether__OffsetCommitResponse *response = (Ether__OffsetCommitResponse *)body;
        rc = (int)response->error;
        if (rc == ETHER_OK && response->n_offsets == 1) {
            rc = (int)response->offsets[0]->error;
        }
        proto_message_free(body);
    }
    return rc;
}

/* The committed offset of TOPIC/partition for `group` (-1: none), or INT64_MIN on error. */
static int64_t fetch_offset(int fd, const char *group, uint32_t partition)
{
    uint32_t partitions[] = {partition};
    Ether__GroupTopicPartitions wanted = ETHER__GROUP_TOPIC_PARTITIONS__INIT;
    wanted.topic = (char *)(uintptr_t)TOPIC;
    wanted.partitions = partitions;
    wanted.n_partitions = 1;
    Ether__GroupTopicPartitions *list[] = {&wanted};
    Ether__OffsetFetchRequest request = ETHER__OFFSET_FETCH_REQUEST__INIT;
    request.group = (char *)(uintptr_t)group;
    request.partitions = list;
    request.n_partitions = 1;
    ProtobufCMessage *body = NULL;
    if (harness_call(fd, PROTO_API_OFFSET_FETCH, &request.base, &body) != ETHER_OK) {
        return INT64_MIN;
    }
    Ether__OffsetFetchResponse *response = (Ether__OffsetFetchResponse *)body;
    int64_t offset = response->error == ETHER_OK && response->n_offsets == 1
                         ? response->offsets[0]->offset
                         : INT64_MIN;
    proto_message_free(body);
    return offset;
}

static void open_members(struct harness *harness, struct member *members, size_t count,
                         int broker_id)
{
    for (size_t i = 0; i < count; i++) {
        members[i] = (struct member){.fd = connect_to(harness, broker_id)};
    }
}

static void close_members(struct member *members, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        close(members[i].fd);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_three_members_share_the_partitions_and_generations_fence_zombies(void **state)
{
    struct harness *harness = *state;
    const char *group = "billing";
    int coordinator = find_coordinator(harness, group);
    CHECK(harness, coordinator != 0);
    struct member members[3];
    open_members(harness, members, 3, coordinator);
    join_all(harness, members, 3, group, "range");

    /* Range over 6 partitions: 2 each, every partition exactly once. */
    bool seen[PARTITIONS] = {false};
    for (size_t i = 0; i < 3; i++) {
        CHECK(harness, members[i].assigned_count == 2);
        for (size_t p = 0; p < members[i].assigned_count; p++) {
            CHECK(harness, !seen[members[i].assigned[p]]);
            seen[members[i].assigned[p]] = true;
        }
        CHECK(harness, heartbeat(&members[i], group) == ETHER_OK);
    }

    CHECK(harness, commit(members[0].fd, group, members[0].generation, members[0].member_id,
                          members[0].assigned[0], 42) == ETHER_OK);
    CHECK(harness, fetch_offset(members[1].fd, group, members[0].assigned[0]) == 42);
    CHECK(harness, fetch_offset(members[1].fd, group, members[1].assigned[0]) == -1);
    /* The group has members: an administrative commit is refused. */
    CHECK(harness, commit(members[1].fd, group, -1, "", 0, 7) == ETHER_ERR_GROUP_NOT_EMPTY);

    /* Member 0 stops heartbeating: after the session timeout the others rebalance. */
    struct member zombie = members[0];
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    int rc = ETHER_OK;
    while (harness_now_ms() < deadline && (rc = heartbeat(&members[1], group)) == ETHER_OK) {
        heartbeat(&members[2], group);
        usleep(300 * 1000);
    }
    CHECK(harness, rc == ETHER_ERR_REBALANCE_IN_PROGRESS);
    join_all(harness, &members[1], 2, group, "range");
    CHECK(harness, members[1].generation > zombie.generation);
    CHECK(harness, members[1].assigned_count + members[2].assigned_count == PARTITIONS);
    CHECK(harness, members[1].assigned_count == 3);
    /* The zombie is fenced: unknown member, and a stale generation is refused. */
    CHECK(harness, commit(zombie.fd, group, zombie.generation, zombie.member_id, 0, 99) ==
                       ETHER_ERR_UNKNOWN_MEMBER_ID);
    CHECK(harness, commit(members[1].fd, group, zombie.generation, members[1].member_id, 0, 99) ==
                       ETHER_ERR_ILLEGAL_GENERATION);
    CHECK(harness, fetch_offset(members[1].fd, group, 0) != 99);
    CHECK(harness, heartbeat(&zombie, group) == ETHER_ERR_UNKNOWN_MEMBER_ID);
    close_members(members, 3);
}

static void test_committed_offsets_survive_the_coordinators_death(void **state)
{
    struct harness *harness = *state;
    const char *group = "shipping";
    int coordinator = find_coordinator(harness, group);
    CHECK(harness, coordinator != 0);
    struct member member;
    open_members(harness, &member, 1, coordinator);
    join_all(harness, &member, 1, group, "roundrobin");
    CHECK(harness, member.assigned_count == PARTITIONS);
    for (uint32_t p = 0; p < PARTITIONS; p++) {
        CHECK(harness, commit(member.fd, group, member.generation, member.member_id, p, 100 + p) ==
                           ETHER_OK);
    }
    uint32_t old_generation = member.generation;
    close(member.fd);

    CHECK(harness, harness_kill_broker(harness, coordinator, SIGKILL) != 0);
    uint64_t killed_ms = harness_now_ms();
    int successor = find_coordinator(harness, group);
    CHECK(harness, successor != 0 && successor != coordinator);

    /* The new coordinator knows every commit, and the generation goes on from the old one. */
    open_members(harness, &member, 1, successor);
    int64_t offset = INT64_MIN;
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline && (offset = fetch_offset(member.fd, group, 0)) < 0) {
        usleep(100 * 1000);
    }
    for (uint32_t p = 0; p < PARTITIONS; p++) {
        CHECK(harness, fetch_offset(member.fd, group, p) == 100 + p);
    }
    join_all(harness, &member, 1, group, "roundrobin");
    CHECK(harness, member.generation > old_generation);
    CHECK(harness,
          commit(member.fd, group, member.generation, member.member_id, 0, 200) == ETHER_OK);
    print_message("coordinator failover: commits served again %llu ms after the kill\n",
                  (unsigned long long)(harness_now_ms() - killed_ms));
    CHECK(harness, fetch_offset(member.fd, group, 0) == 200);
    close(member.fd);

    /* The killed broker comes back and catches up; it does not bring old offsets back. */
    harness_start_broker(harness, coordinator);
    CHECK(harness, harness_wait_for_leaders(harness, coordinator, TOPIC, PARTITIONS, WAIT_MS));
    int now = find_coordinator(harness, group);
    int fd = connect_to(harness, now);
    CHECK(harness, fetch_offset(fd, group, 0) == 200);
    close(fd);
}

static void test_an_empty_group_is_reset_described_listed_and_deleted(void **state)
{
    struct harness *harness = *state;
    const char *group = "audit";
    int coordinator = find_coordinator(harness, group);
    CHECK(harness, coordinator != 0);
    int fd = connect_to(harness, coordinator);
    CHECK(harness, commit(fd, group, -1, "", 3, 17) == ETHER_OK);
    CHECK(harness, fetch_offset(fd, group, 3) == 17);
    CHECK(harness, commit(fd, group, -1, "", 3, 5) == ETHER_OK); /* reset backwards: allowed */
    CHECK(harness, fetch_offset(fd, group, 3) == 5);

    Ether__DescribeGroupRequest describe = ETHER__DESCRIBE_GROUP_REQUEST__INIT;
    describe.group = (char *)(uintptr_t)group;
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_DESCRIBE_GROUP, &describe.base, &body) == ETHER_OK);
    Ether__DescribeGroupResponse *description = (Ether__DescribeGroupResponse *)body;
    CHECK(harness, description->error == ETHER_OK);
    CHECK(harness, strcmp(description->state, "empty") == 0);
    CHECK(harness, description->n_members == 0);
    CHECK(harness, description->n_offsets == 1 && description->offsets[0]->offset == 5);
    proto_message_free(body);

    bool listed = false;
    for (int id = 1; id <= harness->brokers_count; id++) {
        int list_fd = connect_to(harness, id);
        Ether__ListGroupsRequest list = ETHER__LIST_GROUPS_REQUEST__INIT;
        CHECK(harness, harness_call(list_fd, PROTO_API_LIST_GROUPS, &list.base, &body) == ETHER_OK);
        Ether__ListGroupsResponse *groups = (Ether__ListGroupsResponse *)body;
        for (size_t i = 0; i < groups->n_groups; i++) {
            if (strcmp(groups->groups[i]->group, group) == 0) {
                CHECK(harness, !listed); /* one coordinator lists it */
                listed = true;
            }
        }
        proto_message_free(body);
        close(list_fd);
    }
    CHECK(harness, listed);

    Ether__DeleteGroupRequest remove = ETHER__DELETE_GROUP_REQUEST__INIT;
    remove.group = (char *)(uintptr_t)group;
    CHECK(harness, harness_call(fd, PROTO_API_DELETE_GROUP, &remove.base, &body) == ETHER_OK);
    CHECK(harness, ((Ether__DeleteGroupResponse *)body)->error == ETHER_OK);
    proto_message_free(body);
    CHECK(harness, fetch_offset(fd, group, 3) == -1);
    CHECK(harness, harness_call(fd, PROTO_API_DELETE_GROUP, &remove.base, &body) == ETHER_OK);
    CHECK(harness, ((Ether__DeleteGroupResponse *)body)->error == ETHER_ERR_GROUP_NOT_FOUND);
    proto_message_free(body);

    /* A broker that does not coordinate the group says so. */
    int other = coordinator % 3 + 1;
    int other_fd = connect_to(harness, other);
    CHECK(harness, fetch_offset(other_fd, group, 3) == INT64_MIN);
    close(other_fd);
    close(fd);
}

static void test_the_offsets_topic_is_internal(void **state)
{
    struct harness *harness = *state;
    Ether__CreateTopicRequest create = ETHER__CREATE_TOPIC_REQUEST__INIT;
    create.name = "__mine";
    create.partitions = 1;
    create.replication_factor = 1;
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_call_controller(harness, PROTO_API_CREATE_TOPIC, &create.base, &body) ==
                       ETHER_OK);
    CHECK(harness, ((Ether__CreateTopicResponse *)body)->error == ETHER_ERR_INVALID_ARGUMENT);
    proto_message_free(body);

    Ether__DeleteTopicRequest remove = ETHER__DELETE_TOPIC_REQUEST__INIT;
    remove.name = "__consumer_offsets";
    CHECK(harness, harness_call_controller(harness, PROTO_API_DELETE_TOPIC, &remove.base, &body) ==
                       ETHER_OK);
    CHECK(harness, ((Ether__DeleteTopicResponse *)body)->error == ETHER_ERR_INVALID_ARGUMENT);
    proto_message_free(body);
}

/* An administrative commit at whichever broker coordinates `group` now (leaders move back to
 * their preferred replicas after restarts). */
static int commit_at_coordinator(struct harness *harness, const char *group, uint32_t partition,
                                 int64_t offset)
{
    int rc = ETHER_ERR_NOT_COORDINATOR;
    for (int attempt = 0; attempt < 50 && rc != ETHER_OK; attempt++) {
        int fd = connect_to(harness, find_coordinator(harness, group));
        rc = commit(fd, group, -1, "", partition, offset);
        close(fd);
    }
    return rc;
}

/* The earliest offset the leader of __consumer_offsets/partition still stores. */
static int64_t offsets_log_start(struct harness *harness, int broker_id, uint32_t partition)
{
    int fd = connect_to(harness, broker_id);
    uint32_t partitions[] = {partition};
    Ether__ListOffsetsRequest request = ETHER__LIST_OFFSETS_REQUEST__INIT;
    request.topic = "__consumer_offsets";
    request.partitions = partitions;
    request.n_partitions = 1;
    request.spec = ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST;
    ProtobufCMessage *body = NULL;
    int64_t offset = -1;
    if (harness_call(fd, PROTO_API_LIST_OFFSETS, &request.base, &body) == ETHER_OK) {
        Ether__ListOffsetsResponse *listed = (Ether__ListOffsetsResponse *)body;
        if (listed->n_partitions == 1 && listed->partitions[0]->error == ETHER_OK) {
            offset = (int64_t)listed->partitions[0]->offset;
        }
        proto_message_free(body);
    }
    close(fd);
    return offset;
}

static void test_old_commits_are_compacted_away_and_the_offsets_survive_a_full_restart(void **state)
{
    struct harness *harness = *state;
    const char *group = "ledger";
    enum { COMMITS = 400 };
    int coordinator = find_coordinator(harness, group);
    CHECK(harness, coordinator != 0);
    int fd = connect_to(harness, coordinator);
    Ether__FindCoordinatorRequest find = ETHER__FIND_COORDINATOR_REQUEST__INIT;
    int rc = ETHER_OK;
    find.group = (char *)(uintptr_t)group;
    ProtobufCMessage *body = NULL;
    CHECK(harness, harness_call(fd, PROTO_API_FIND_COORDINATOR, &find.base, &body) == ETHER_OK);
    uint32_t offsets_partition = ((Ether__FindCoordinatorResponse *)body)->partition;
    proto_message_free(body);
    close(fd);
    for (int64_t offset = 1; offset <= COMMITS && rc == ETHER_OK; offset++) {
        rc = commit_at_coordinator(harness, group, (uint32_t)offset % PARTITIONS, offset);
    }
    CHECK(harness, rc == ETHER_OK);
    /* Each replica snapshots its store every retention check; segments before the snapshot
     * before that one go. */
    int64_t log_start = 0;
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline &&
           (log_start = offsets_log_start(harness, find_coordinator(harness, group),
                                          offsets_partition)) <= 0) {
        /* Segments go only below the snapshot before the newest: keep the log moving so
         * that snapshots keep being taken. */
        CHECK(harness,
              commit_at_coordinator(harness, group, COMMITS % PARTITIONS, COMMITS) == ETHER_OK);
        usleep(200 * 1000);
    }
    print_message("__consumer_offsets/%u starts at offset %lld after %d commits\n",
                  offsets_partition, (long long)log_start, COMMITS);
    CHECK(harness, log_start > 0);

    /* Every broker dies at once and comes back: the offsets come from snapshot + log. */
    for (int id = 1; id <= 3; id++) {
        harness_kill_broker(harness, id, SIGKILL);
    }
    for (int id = 1; id <= 3; id++) {
        harness_start_broker(harness, id);
    }
    coordinator = find_coordinator(harness, group);
    CHECK(harness, coordinator != 0);
    fd = connect_to(harness, coordinator);
    int64_t offset = INT64_MIN;
    deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline && (offset = fetch_offset(fd, group, 0)) == INT64_MIN) {
        usleep(100 * 1000);
    }
    for (uint32_t p = 0; p < PARTITIONS; p++) {
        int64_t expected = COMMITS - (int64_t)((COMMITS - p) % PARTITIONS);
        CHECK(harness, fetch_offset(fd, group, p) == expected);
    }
    close(fd);
    CHECK(harness, harness_wait_for_leaders(harness, 1, TOPIC, PARTITIONS, WAIT_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_members_share_the_partitions_and_generations_fence_zombies),
        cmocka_unit_test(test_committed_offsets_survive_the_coordinators_death),
        cmocka_unit_test(test_an_empty_group_is_reset_described_listed_and_deleted),
        cmocka_unit_test(test_the_offsets_topic_is_internal),
        cmocka_unit_test(
            test_old_commits_are_compacted_away_and_the_offsets_survive_a_full_restart),
    };
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
