/*
 * group_admin.c: the synchronous requests about consumer groups: a group's
 * committed offset, listing, describing, resetting and deleting groups.
 *
 * Happy path: each is one or more ops (admin.c) aimed at the group's
 * coordinator (CLIENT_TARGET_COORDINATOR: FindCoordinator first, then the
 * request), at every broker (ListGroups) or at partition leaders
 * (ListOffsets for end offsets and reset targets).
 *
 * Failure modes: as for every op, broken connections, timeouts and answers
 * that say retry are retried until the deadline; a coordinator that moved
 * (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOADING) is found
 * again. The coordinator's refusals (GROUP_NOT_FOUND, GROUP_NOT_EMPTY) end
 * the call with that code and a sentence naming the group.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

/* ---- the committed offset of one partition ------------------------------------------------ */

static enum client_verdict committed_result(struct ether_client *client, struct client_op *op,
                                            const ProtobufCMessage *response)
{
    (void)client;
    const Ether__OffsetFetchResponse *answer = (const Ether__OffsetFetchResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "cannot read the committed offset of group %.80s for %.80s/%u",
             op->group, op->topic, op->partition);
    if (answer->error != ETHER_OK) {
        return client_op_verdict(op, answer->error, answer->error_message, what);
    }
    int64_t *offset = op->output;
    *offset = -1;
    for (size_t i = 0; i < answer->n_offsets; i++) {
        const Ether__GroupPartitionOffset *entry = answer->offsets[i];
        if (entry->topic != NULL && strcmp(entry->topic, op->topic) == 0 &&
            entry->partition == op->partition) {
            if (entry->error != ETHER_OK) {
                return client_op_verdict(op, entry->error, NULL, what);
            }
            *offset = entry->offset < 0 ? -1 : entry->offset;
        }
    }
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

int ether_committed(struct ether_client *client, const char *topic, int32_t partition,
                    int64_t *offset, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (client == NULL || topic == NULL || topic[0] == '\0' || partition < 0 || offset == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic, a partition and somewhere to store the offset are needed");
    }
    if (client->settings.group_id[0] == '\0') {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "ether_committed needs a group_id in the configuration");
    }
    uint32_t numbers[] = {(uint32_t)partition};
    Ether__GroupTopicPartitions wanted = ETHER__GROUP_TOPIC_PARTITIONS__INIT;
    wanted.topic = client_unconst(topic);
    wanted.n_partitions = 1;
    wanted.partitions = numbers;
    Ether__GroupTopicPartitions *wanted_pointers[] = {&wanted};
    Ether__OffsetFetchRequest request = ETHER__OFFSET_FETCH_REQUEST__INIT;
    request.group = client->settings.group_id;
    request.n_partitions = 1;
    request.partitions = wanted_pointers;
    struct client_op op = {
        .api_key = PROTO_API_OFFSET_FETCH,
        .request = &request.base,
        .target = CLIENT_TARGET_COORDINATOR,
        .group = client->settings.group_id,
        .topic = topic,
        .partition = (uint32_t)partition,
        .retries = true,
        .on_result = committed_result,
        .output = offset,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

/* What is left of timeout_ms since start_ms (at least 1 ms; -1 stays -1). */
static int time_left(int timeout_ms, uint64_t start_ms)
{
    if (timeout_ms < 0) {
        return -1;
    }
    uint64_t elapsed_ms = client_now_ms() - start_ms;
    return elapsed_ms >= (uint64_t)timeout_ms ? 1 : (int)((uint64_t)timeout_ms - elapsed_ms);
}

static bool valid_group(const char *group)
{
    return group != NULL && group[0] != '\0' && strlen(group) <= CLIENT_GROUP_ID_BYTES_MAX;
}

static int compare_partitions(const void *a, const void *b)
{
    const struct ether_topic_partition *left = a;
    const struct ether_topic_partition *right = b;
    int by_name = strcmp(left->topic, right->topic);
    if (by_name != 0) {
        return by_name;
    }
    return (left->partition > right->partition) - (left->partition < right->partition);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The group's errors in the words of the call that met them. */
static enum client_verdict group_verdict(struct client_op *op, uint32_t error,
                                         const char *error_message, const char *what)
{
    enum client_verdict verdict = client_op_verdict(op, error, error_message, what);
    if (error == ETHER_ERR_GROUP_NOT_FOUND) {
        snprintf(op->message, sizeof op->message, "consumer group %.200s does not exist",
                 op->group);
    }
    return verdict;
}

/* ListOffsets requests for `count` partitions, run in parallel. */
struct offset_queries {
    struct client_op *ops;
    Ether__ListOffsetsRequest *requests;
    uint32_t *numbers;
    int64_t *offsets;
    size_t count;
};

static void offset_queries_init(struct offset_queries *queries, size_t count)
{
    queries->ops = ether_calloc(count + 1, sizeof *queries->ops);
    queries->requests = ether_calloc(count + 1, sizeof *queries->requests);
    queries->numbers = ether_calloc(count + 1, sizeof *queries->numbers);
    queries->offsets = ether_calloc(count + 1, sizeof *queries->offsets);
    queries->count = 0;
}

static void offset_queries_add(struct offset_queries *queries, const char *topic,
                               uint32_t partition, enum ether_offset_query query,
                               int64_t timestamp_ms, int timeout_ms)
{
    size_t i = queries->count++;
    queries->numbers[i] = partition;
    queries->offsets[i] = -1;
    Ether__ListOffsetsRequest *request = &queries->requests[i];
    ether__list_offsets_request__init(request);
    request->topic = client_unconst(topic);
    request->n_partitions = 1;
    request->partitions = &queries->numbers[i];
    request->spec = query == ETHER_OFFSET_QUERY_EARLIEST ? ETHER__OFFSET_SPEC__OFFSET_SPEC_EARLIEST
                    : query == ETHER_OFFSET_QUERY_TIMESTAMP
                        ? ETHER__OFFSET_SPEC__OFFSET_SPEC_TIMESTAMP
                        : ETHER__OFFSET_SPEC__OFFSET_SPEC_LATEST;
    request->timestamp_ms = timestamp_ms;
    queries->ops[i] = (struct client_op){
        .api_key = PROTO_API_LIST_OFFSETS,
        .request = &request->base,
        .target = CLIENT_TARGET_LEADER,
        .topic = topic,
        .partition = partition,
        .retries = true,
        .on_result = client_list_offset_result,
        .output = &queries->offsets[i],
        .timeout_ms = client_op_timeout(timeout_ms),
    };
}

static void offset_queries_free(struct offset_queries *queries)
{
    ether_free(queries->ops);
    ether_free(queries->requests);
    ether_free(queries->numbers);
    ether_free(queries->offsets);
}

/* ---- list ---------------------------------------------------------------------------------------
 */

struct broker_listing {
    struct ether_group_listing *items;
    size_t count;
};

static enum client_verdict list_groups_result(struct ether_client *client, struct client_op *op,
                                              const ProtobufCMessage *response)
{
    (void)client;
    const Ether__ListGroupsResponse *answer = (const Ether__ListGroupsResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "broker %u cannot list its groups", op->broker_id);
    if (answer->error != ETHER_OK) {
        return client_op_verdict(op, answer->error, answer->error_message, what);
    }
    struct broker_listing *listing = op->output;
    listing->items = ether_calloc(answer->n_groups + 1, sizeof *listing->items);
    for (size_t i = 0; i < answer->n_groups; i++) {
        const Ether__GroupListing *from = answer->groups[i];
        if (from->group == NULL || from->group[0] == '\0') {
            continue;
        }
        struct ether_group_listing *to = &listing->items[listing->count++];
        to->group = client_copy_string(from->group);
        to->state = client_copy_string(from->state);
        to->member_count = from->members_count;
        to->coordinator_id = op->broker_id;
    }
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

static int compare_listings(const void *a, const void *b)
{
    return strcmp(((const struct ether_group_listing *)a)->group,
                  ((const struct ether_group_listing *)b)->group);
}

void ether_group_list_free(struct ether_group_list *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->group_count; i++) {
        client_free_const(list->groups[i].group);
        client_free_const(list->groups[i].state);
    }
    client_free_const(list->groups);
    client_free_const(list->unanswered_broker_ids);
    ether_free(list);
}

int ether_group_list(struct ether_client *client, int timeout_ms, struct ether_group_list **list,
                     char *errstr, size_t errstr_size)
{
    if (client == NULL || list == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "somewhere to store the group list is needed");
    }
    *list = NULL;
    uint64_t start_ms = client_now_ms();
    struct ether_cluster *cluster = NULL;
    int rc = ether_describe_cluster(client, NULL, 0, timeout_ms, &cluster, errstr, errstr_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    size_t brokers = cluster->broker_count;
    if (brokers == 0) {
        ether_cluster_free(cluster);
        return client_error(errstr, errstr_size, ETHER_ERR_NOT_FOUND,
                            "the cluster's metadata names no broker");
    }
    struct client_op *ops = ether_calloc(brokers, sizeof *ops);
    struct broker_listing *listings = ether_calloc(brokers, sizeof *listings);
    Ether__ListGroupsRequest request = ETHER__LIST_GROUPS_REQUEST__INIT;
    int left_ms = time_left(timeout_ms, start_ms);
    for (size_t b = 0; b < brokers; b++) {
        ops[b] = (struct client_op){
            .api_key = PROTO_API_LIST_GROUPS,
            .request = &request.base,
            .target = CLIENT_TARGET_BROKER,
            .broker_id = cluster->brokers[b].broker_id,
            .retries = false, /* one attempt: a broker that is down is reported, not awaited */
            .on_result = list_groups_result,
            .output = &listings[b],
            .timeout_ms = client_op_timeout(left_ms),
        };
    }
    ether_cluster_free(cluster);
    client_ops_run_all(client, ops, brokers);

    struct ether_group_list *result = ether_calloc(1, sizeof *result);
    size_t total = 0;
    for (size_t b = 0; b < brokers; b++) {
        total += listings[b].count;
    }
    struct ether_group_listing *groups = ether_calloc(total + 1, sizeof *groups);
    uint32_t *unanswered = ether_calloc(brokers + 1, sizeof *unanswered);
    size_t answered = 0;
    for (size_t b = 0; b < brokers; b++) {
        if (ops[b].result != ETHER_OK) {
            unanswered[result->unanswered_broker_count++] = ops[b].broker_id;
            continue;
        }
        answered++;
        for (size_t i = 0; i < listings[b].count; i++) {
            /* A group moving between coordinators may be listed twice: keep one. */
            bool seen = false;
            for (size_t g = 0; g < result->group_count && !seen; g++) {
                seen = strcmp(groups[g].group, listings[b].items[i].group) == 0;
            }
            if (seen) {
                client_free_const(listings[b].items[i].group);
                client_free_const(listings[b].items[i].state);
            } else {
                groups[result->group_count++] = listings[b].items[i];
            }
        }
        ether_free(listings[b].items);
    }
    qsort(groups, result->group_count, sizeof *groups, compare_listings);
    result->groups = groups;
    result->unanswered_broker_ids = unanswered;
    rc = ETHER_OK;
    if (answered == 0) {
        rc = client_error(errstr, errstr_size, ops[0].result, "no broker could list its groups: %s",
                          ops[0].message[0] != '\0' ? ops[0].message
                                                    : ether_strerror(ops[0].result));
        ether_group_list_free(result);
    } else {
        *list = result;
        if (errstr != NULL && errstr_size > 0) {
            errstr[0] = '\0';
        }
    }
    ether_free(listings);
    ether_free(ops);
    return rc;
}

/* ---- describe -----------------------------------------------------------------------------------
 */

/* A committed offset read from DescribeGroup. */
struct committed {
    char *topic;
    uint32_t partition;
    int64_t offset;
};

struct describe_output {
    struct ether_group_description *description;
    struct committed *committed;
    size_t committed_count;
};

static struct ether_topic_partition *flatten(Ether__GroupTopicPartitions **lists, size_t count,
                                             size_t *total)
{
    size_t items = 0;
    for (size_t t = 0; t < count; t++) {
        items += lists[t]->n_partitions;
    }
    struct ether_topic_partition *out = ether_calloc(items + 1, sizeof *out);
    size_t index = 0;
    for (size_t t = 0; t < count; t++) {
        for (size_t p = 0; p < lists[t]->n_partitions; p++) {
            out[index].topic = client_copy_string(lists[t]->topic);
            out[index].partition = (int32_t)lists[t]->partitions[p];
            out[index].offset = -1;
            index++;
        }
    }
    qsort(out, items, sizeof *out, compare_partitions);
    *total = items;
    return out;
}

static int compare_members(const void *a, const void *b)
{
    return strcmp(((const struct ether_group_member_info *)a)->member_id,
                  ((const struct ether_group_member_info *)b)->member_id);
}

static enum client_verdict describe_group_result(struct ether_client *client, struct client_op *op,
                                                 const ProtobufCMessage *response)
{
    (void)client;
    const Ether__DescribeGroupResponse *answer = (const Ether__DescribeGroupResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "cannot describe consumer group %.200s", op->group);
    if (answer->error != ETHER_OK) {
        return group_verdict(op, answer->error, answer->error_message, what);
    }
    struct describe_output *output = op->output;
    struct ether_group_description *description = ether_calloc(1, sizeof *description);
    description->group = client_copy_string(op->group);
    description->state = client_copy_string(answer->state);
    description->generation = answer->generation;
    description->assignor = client_copy_string(answer->assignor);
    description->cooperative = answer->cooperative ? 1 : 0;
    description->leader_id = client_copy_string(answer->leader_id);
    description->coordinator_id = op->coordinator_id;
    struct ether_group_member_info *members = ether_calloc(answer->n_members + 1, sizeof *members);
    for (size_t m = 0; m < answer->n_members; m++) {
        const Ether__GroupMember *from = answer->members[m];
        struct ether_group_member_info *to = &members[m];
        to->member_id = client_copy_string(from->member_id);
        to->client_id = client_copy_string(from->client_id);
        to->host = client_copy_string(from->host);
        const char **topics = ether_calloc(from->n_topics + 1, sizeof *topics);
        for (size_t t = 0; t < from->n_topics; t++) {
            topics[t] = client_copy_string(from->topics[t]);
        }
        qsort(topics, from->n_topics, sizeof *topics, compare_names);
        to->topics = topics;
        to->topic_count = from->n_topics;
        to->assignment = flatten(from->assignment, from->n_assignment, &to->assignment_count);
        to->session_timeout_ms = from->session_timeout_ms;
    }
    qsort(members, answer->n_members, sizeof *members, compare_members);
    description->members = members;
    description->member_count = answer->n_members;
    output->description = description;
    output->committed = ether_calloc(answer->n_offsets + 1, sizeof *output->committed);
    for (size_t i = 0; i < answer->n_offsets; i++) {
        const Ether__GroupPartitionOffset *from = answer->offsets[i];
        if (from->topic == NULL || from->topic[0] == '\0') {
            continue;
        }
        struct committed *to = &output->committed[output->committed_count++];
        to->topic = client_copy_string(from->topic);
        to->partition = from->partition;
        to->offset = from->offset < 0 ? -1 : from->offset;
    }
    op->result = ETHER_OK;
    return CLIENT_VERDICT_DONE;
}

void ether_group_description_free(struct ether_group_description *description)
{
    if (description == NULL) {
        return;
    }
    for (size_t m = 0; m < description->member_count; m++) {
        const struct ether_group_member_info *member = &description->members[m];
        client_free_const(member->member_id);
        client_free_const(member->client_id);
        client_free_const(member->host);
        for (size_t t = 0; t < member->topic_count; t++) {
            client_free_const(member->topics[t]);
        }
        client_free_const(member->topics);
        ether_topic_partitions_free((struct ether_topic_partition *)(uintptr_t)member->assignment,
                                    member->assignment_count);
    }
    client_free_const(description->members);
    for (size_t p = 0; p < description->partition_count; p++) {
        client_free_const(description->partitions[p].topic);
        client_free_const(description->partitions[p].member_id);
        client_free_const(description->partitions[p].client_id);
        client_free_const(description->partitions[p].host);
    }
    client_free_const(description->partitions);
    client_free_const(description->group);
    client_free_const(description->state);
    client_free_const(description->assignor);
    client_free_const(description->leader_id);
    ether_free(description);
}

/* A (topic, partition) row to describe; `error` from the metadata. */
struct row {
    const char *topic; /* points into the description or the committed offsets */
    uint32_t partition;
    int error;
};

static int compare_rows(const void *a, const void *b)
{
    const struct row *left = a;
    const struct row *right = b;
    int by_name = strcmp(left->topic, right->topic);
    if (by_name != 0) {
        return by_name;
    }
    return (left->partition > right->partition) - (left->partition < right->partition);
}

struct rows {
    struct row *items;
    size_t count;
    size_t capacity;
};

static void rows_add(struct rows *rows, const char *topic, uint32_t partition, int error)
{
    for (size_t i = 0; i < rows->count; i++) {
        if (rows->items[i].partition == partition && strcmp(rows->items[i].topic, topic) == 0) {
            return;
        }
    }
    if (rows->count == rows->capacity) {
        rows->capacity = rows->capacity > 0 ? rows->capacity * 2 : 16;
        rows->items = ether_realloc(rows->items, rows->capacity * sizeof *rows->items);
    }
    rows->items[rows->count++] = (struct row){topic, partition, error};
}

/* The topics the group subscribes to, is assigned or has committed offsets in. */
static const char **group_topics(const struct describe_output *output, size_t *count)
{
    const struct ether_group_description *description = output->description;
    size_t capacity = output->committed_count + 1;
    for (size_t m = 0; m < description->member_count; m++) {
        capacity += description->members[m].topic_count + description->members[m].assignment_count;
    }
    const char **names = ether_calloc(capacity, sizeof *names);
    size_t used = 0;
    for (size_t m = 0; m < description->member_count; m++) {
        const struct ether_group_member_info *member = &description->members[m];
        for (size_t t = 0; t < member->topic_count; t++) {
            names[used++] = member->topics[t];
        }
        for (size_t a = 0; a < member->assignment_count; a++) {
            names[used++] = member->assignment[a].topic;
        }
    }
    for (size_t i = 0; i < output->committed_count; i++) {
        names[used++] = output->committed[i].topic;
    }
    qsort(names, used, sizeof *names, compare_names);
    size_t distinct = 0;
    for (size_t i = 0; i < used; i++) {
        if (distinct == 0 || strcmp(names[distinct - 1], names[i]) != 0) {
            names[distinct++] = names[i];
        }
    }
    *count = distinct;
    return names;
}

/* Fills description->partitions: committed, end and lag, and who owns each partition. */
static int describe_partitions(struct ether_client *client, struct describe_output *output,
                               int timeout_ms, char *errstr, size_t errstr_size)
{
    uint64_t start_ms = client_now_ms();
    struct ether_group_description *description = output->description;
    size_t topic_count = 0;
    const char **topics = group_topics(output, &topic_count);
    struct rows rows = {0};
    if (topic_count > 0) {
        struct ether_cluster *cluster = NULL;
        int rc = ether_describe_cluster(client, topics, topic_count, timeout_ms, &cluster, errstr,
                                        errstr_size);
        if (rc != ETHER_OK) {
            ether_free(topics);
            return rc;
        }
        for (size_t t = 0; t < topic_count; t++) {
            const struct ether_topic_info *info = NULL;
            for (size_t k = 0; k < cluster->topic_count && info == NULL; k++) {
                if (strcmp(cluster->topics[k].name, topics[t]) == 0) {
                    info = &cluster->topics[k];
                }
            }
            if (info != NULL && info->error == ETHER_OK) {
                for (size_t p = 0; p < info->partition_count; p++) {
                    rows_add(&rows, topics[t], info->partitions[p].partition, ETHER_OK);
                }
            }
        }
        /* Partitions the metadata does not know (a deleted topic) still show their offsets. */
        for (size_t i = 0; i < output->committed_count; i++) {
            rows_add(&rows, output->committed[i].topic, output->committed[i].partition,
                     ETHER_ERR_NOT_FOUND);
        }
        for (size_t m = 0; m < description->member_count; m++) {
            const struct ether_group_member_info *member = &description->members[m];
            for (size_t a = 0; a < member->assignment_count; a++) {
                rows_add(&rows, member->assignment[a].topic,
                         (uint32_t)member->assignment[a].partition, ETHER_ERR_NOT_FOUND);
            }
        }
        ether_cluster_free(cluster);
    }
    ether_free(topics);
    qsort(rows.items, rows.count, sizeof *rows.items, compare_rows);

    struct offset_queries queries;
    offset_queries_init(&queries, rows.count);
    size_t *query_of_row = ether_calloc(rows.count + 1, sizeof *query_of_row);
    int left_ms = time_left(timeout_ms, start_ms);
    for (size_t r = 0; r < rows.count; r++) {
        query_of_row[r] = SIZE_MAX;
        if (rows.items[r].error == ETHER_OK) {
            query_of_row[r] = queries.count;
            offset_queries_add(&queries, rows.items[r].topic, rows.items[r].partition,
                               ETHER_OFFSET_QUERY_LATEST, 0, left_ms);
        }
    }
    client_ops_run_all(client, queries.ops, queries.count);

    struct ether_group_partition_info *partitions =
        ether_calloc(rows.count + 1, sizeof *partitions);
    for (size_t r = 0; r < rows.count; r++) {
        const struct row *row = &rows.items[r];
        struct ether_group_partition_info *to = &partitions[r];
        to->topic = client_copy_string(row->topic);
        to->partition = (int32_t)row->partition;
        to->committed_offset = -1;
        for (size_t i = 0; i < output->committed_count; i++) {
            if (output->committed[i].partition == row->partition &&
                strcmp(output->committed[i].topic, row->topic) == 0) {
                to->committed_offset = output->committed[i].offset;
            }
        }
        to->end_offset = -1;
        to->error = row->error;
        if (query_of_row[r] != SIZE_MAX) {
            const struct client_op *op = &queries.ops[query_of_row[r]];
            to->error = op->result;
            if (op->result == ETHER_OK) {
                to->end_offset = queries.offsets[query_of_row[r]];
            }
        }
        to->lag =
            to->end_offset >= 0 && to->committed_offset >= 0
                ? (to->end_offset > to->committed_offset ? to->end_offset - to->committed_offset
                                                         : 0)
                : -1;
        const struct ether_group_member_info *owner = NULL;
        for (size_t m = 0; m < description->member_count && owner == NULL; m++) {
            const struct ether_group_member_info *member = &description->members[m];
            for (size_t a = 0; a < member->assignment_count; a++) {
                if (member->assignment[a].partition == to->partition &&
                    strcmp(member->assignment[a].topic, row->topic) == 0) {
                    owner = member;
                }
            }
        }
        to->member_id = client_copy_string(owner != NULL ? owner->member_id : "");
        to->client_id = client_copy_string(owner != NULL ? owner->client_id : "");
        to->host = client_copy_string(owner != NULL ? owner->host : "");
    }
    description->partitions = partitions;
    description->partition_count = rows.count;
    ether_free(query_of_row);
    offset_queries_free(&queries);
    ether_free(rows.items);
    return ETHER_OK;
}

int ether_group_describe(struct ether_client *client, const char *group, int timeout_ms,
                         struct ether_group_description **description, char *errstr,
                         size_t errstr_size)
{
    if (client == NULL || !valid_group(group) || description == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a group name (1 to %d bytes) and somewhere to store its "
                            "description are needed",
                            CLIENT_GROUP_ID_BYTES_MAX);
    }
    *description = NULL;
    uint64_t start_ms = client_now_ms();
    Ether__DescribeGroupRequest request = ETHER__DESCRIBE_GROUP_REQUEST__INIT;
    request.group = client_unconst(group);
    struct describe_output output = {0};
    struct client_op op = {
        .api_key = PROTO_API_DESCRIBE_GROUP,
        .request = &request.base,
        .target = CLIENT_TARGET_COORDINATOR,
        .group = group,
        .retries = true,
        .on_result = describe_group_result,
        .output = &output,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    int rc = client_op_run(client, &op, errstr, errstr_size);
    if (rc == ETHER_OK) {
        rc = describe_partitions(client, &output, time_left(timeout_ms, start_ms), errstr,
                                 errstr_size);
    }
    for (size_t i = 0; i < output.committed_count; i++) {
        ether_free(output.committed[i].topic);
    }
    ether_free(output.committed);
    if (rc != ETHER_OK) {
        ether_group_description_free(output.description);
        return rc;
    }
    *description = output.description;
    return ETHER_OK;
}

/* ---- reset offsets ------------------------------------------------------------------------------
 */

/* The new offset of every partition of the topic, by partition number. */
struct reset_targets {
    struct ether_topic_partition *items;
    size_t count;
};

static enum client_verdict reset_commit_result(struct ether_client *client, struct client_op *op,
                                               const ProtobufCMessage *response)
{
    (void)client;
    const Ether__OffsetCommitResponse *answer = (const Ether__OffsetCommitResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "cannot reset the offsets of consumer group %.200s", op->group);
    if (answer->error == ETHER_ERR_GROUP_NOT_EMPTY) {
        op->result = ETHER_ERR_GROUP_NOT_EMPTY;
        snprintf(op->message, sizeof op->message,
                 "consumer group %.150s has active members: stop its consumers before resetting "
                 "its offsets",
                 op->group);
        return CLIENT_VERDICT_DONE;
    }
    if (answer->error != ETHER_OK) {
        return group_verdict(op, answer->error, answer->error_message, what);
    }
    struct reset_targets *targets = op->output;
    op->result = ETHER_OK;
    for (size_t i = 0; i < answer->n_offsets; i++) {
        const Ether__GroupPartitionOffset *result = answer->offsets[i];
        if (result->error == ETHER_OK || result->topic == NULL ||
            strcmp(result->topic, op->topic) != 0 || result->partition >= targets->count) {
            continue;
        }
        targets->items[result->partition].error = (int)result->error;
        if (op->result == ETHER_OK) {
            op->result = (int)result->error;
            snprintf(op->message, sizeof op->message, "%.150s: partition %u: %.80s", what,
                     result->partition, ether_strerror((int)result->error));
        }
    }
    return CLIENT_VERDICT_DONE;
}

int ether_group_reset_offsets(struct ether_client *client, const char *group, const char *topic,
                              enum ether_group_reset to, int64_t value, int timeout_ms,
                              struct ether_topic_partition **offsets, size_t *count, char *errstr,
                              size_t errstr_size)
{
    if (offsets != NULL) {
        *offsets = NULL;
    }
    if (count != NULL) {
        *count = 0;
    }
    if (client == NULL || !valid_group(group) || topic == NULL || topic[0] == '\0' ||
        (to != ETHER_GROUP_RESET_EARLIEST && to != ETHER_GROUP_RESET_LATEST &&
         to != ETHER_GROUP_RESET_OFFSET && to != ETHER_GROUP_RESET_TIMESTAMP) ||
        (to == ETHER_GROUP_RESET_OFFSET && value < 0)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a group, a topic and where to reset to (an offset >= 0) are needed");
    }
    uint64_t start_ms = client_now_ms();
    struct ether_cluster *cluster = NULL;
    const char *names[] = {topic};
    int rc = ether_describe_cluster(client, names, 1, timeout_ms, &cluster, errstr, errstr_size);
    if (rc != ETHER_OK) {
        return rc;
    }
    if (cluster->topic_count == 0 || cluster->topics[0].error != ETHER_OK ||
        cluster->topics[0].partition_count == 0) {
        int error = cluster->topic_count == 0 || cluster->topics[0].error == ETHER_OK
                        ? ETHER_ERR_NOT_FOUND
                        : cluster->topics[0].error;
        ether_cluster_free(cluster);
        if (error == ETHER_ERR_NOT_FOUND) {
            return client_error(errstr, errstr_size, error, "topic %s does not exist", topic);
        }
        return client_error(errstr, errstr_size, error, "cannot describe topic %s: %s", topic,
                            ether_strerror(error));
    }
    size_t partitions = cluster->topics[0].partition_count;
    ether_cluster_free(cluster);

    /* Targets: one ListOffsets per partition (two to keep an offset within the log). */
    struct offset_queries queries;
    offset_queries_init(&queries, partitions * 2);
    int left_ms = time_left(timeout_ms, start_ms);
    for (size_t p = 0; p < partitions; p++) {
        switch (to) {
        case ETHER_GROUP_RESET_EARLIEST:
            offset_queries_add(&queries, topic, (uint32_t)p, ETHER_OFFSET_QUERY_EARLIEST, 0,
                               left_ms);
            break;
        case ETHER_GROUP_RESET_LATEST:
            offset_queries_add(&queries, topic, (uint32_t)p, ETHER_OFFSET_QUERY_LATEST, 0, left_ms);
            break;
        case ETHER_GROUP_RESET_TIMESTAMP:
            offset_queries_add(&queries, topic, (uint32_t)p, ETHER_OFFSET_QUERY_TIMESTAMP, value,
                               left_ms);
            break;
        case ETHER_GROUP_RESET_OFFSET:
            offset_queries_add(&queries, topic, (uint32_t)p, ETHER_OFFSET_QUERY_EARLIEST, 0,
                               left_ms);
            offset_queries_add(&queries, topic, (uint32_t)p, ETHER_OFFSET_QUERY_LATEST, 0, left_ms);
            break;
        }
    }
    client_ops_run_all(client, queries.ops, queries.count);
    for (size_t i = 0; i < queries.count; i++) {
        if (queries.ops[i].result != ETHER_OK) {
            rc = client_error(errstr, errstr_size, queries.ops[i].result, "%s",
                              queries.ops[i].message[0] != '\0'
                                  ? queries.ops[i].message
                                  : ether_strerror(queries.ops[i].result));
            offset_queries_free(&queries);
            return rc;
        }
    }
    struct ether_topic_partition *targets = ether_calloc(partitions + 1, sizeof *targets);
    Ether__GroupPartitionOffset *entries = ether_calloc(partitions + 1, sizeof *entries);
    Ether__GroupPartitionOffset **pointers = ether_calloc(partitions + 1, sizeof *pointers);
    for (size_t p = 0; p < partitions; p++) {
        int64_t target = 0;
        if (to == ETHER_GROUP_RESET_OFFSET) {
            int64_t earliest = queries.offsets[2 * p];
            int64_t latest = queries.offsets[2 * p + 1];
            target = value < earliest ? earliest : value > latest ? latest : value;
        } else {
            target = queries.offsets[p];
        }
        targets[p].topic = ether_strdup(topic);
        targets[p].partition = (int32_t)p;
        targets[p].offset = target;
        ether__group_partition_offset__init(&entries[p]);
        entries[p].topic = client_unconst(topic);
        entries[p].partition = (uint32_t)p;
        entries[p].offset = target;
        pointers[p] = &entries[p];
    }
    offset_queries_free(&queries);

    left_ms = time_left(timeout_ms, start_ms);
    Ether__OffsetCommitRequest request = ETHER__OFFSET_COMMIT_REQUEST__INIT;
    request.group = client_unconst(group);
    request.generation = -1; /* administrative: only while the group has no members */
    request.member_id = client_unconst("");
    request.n_offsets = partitions;
    request.offsets = pointers;
    request.timeout_ms = client_op_timeout(left_ms) < client->settings.request_timeout_ms
                             ? client_op_timeout(left_ms)
                             : client->settings.request_timeout_ms;
    struct reset_targets output = {targets, partitions};
    struct client_op op = {
        .api_key = PROTO_API_OFFSET_COMMIT,
        .request = &request.base,
        .target = CLIENT_TARGET_COORDINATOR,
        .group = group,
        .topic = topic,
        .retries = true,
        .on_result = reset_commit_result,
        .output = &output,
        .timeout_ms = client_op_timeout(left_ms),
    };
    rc = client_op_run(client, &op, errstr, errstr_size);
    ether_free(pointers);
    ether_free(entries);
    if (rc != ETHER_OK || offsets == NULL || count == NULL) {
        ether_topic_partitions_free(targets, partitions);
        return rc;
    }
    *offsets = targets;
    *count = partitions;
    return ETHER_OK;
}

/* ---- delete -------------------------------------------------------------------------------------
 */

static enum client_verdict delete_group_result(struct ether_client *client, struct client_op *op,
                                               const ProtobufCMessage *response)
{
    (void)client;
    const Ether__DeleteGroupResponse *answer = (const Ether__DeleteGroupResponse *)response;
    char what[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(what, sizeof what, "cannot delete consumer group %.200s", op->group);
    enum client_verdict verdict = group_verdict(op, answer->error, answer->error_message, what);
    if (answer->error == ETHER_ERR_GROUP_NOT_EMPTY) {
        snprintf(op->message, sizeof op->message,
                 "consumer group %.150s still has members: stop its consumers before deleting it",
                 op->group);
    }
    return verdict;
}

int ether_group_delete(struct ether_client *client, const char *group, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
    if (client == NULL || !valid_group(group)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a group name (1 to %d bytes) is needed", CLIENT_GROUP_ID_BYTES_MAX);
    }
    Ether__DeleteGroupRequest request = ETHER__DELETE_GROUP_REQUEST__INIT;
    request.group = client_unconst(group);
    request.timeout_ms = client_op_timeout(timeout_ms) < client->settings.request_timeout_ms
                             ? client_op_timeout(timeout_ms)
                             : client->settings.request_timeout_ms;
    struct client_op op = {
        .api_key = PROTO_API_DELETE_GROUP,
        .request = &request.base,
        .target = CLIENT_TARGET_COORDINATOR,
        .group = group,
        .retries = true,
        .on_result = delete_group_result,
        .timeout_ms = client_op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}
