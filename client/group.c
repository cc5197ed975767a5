/*
 * group.c: membership of a consumer group (Kafka's classic protocol, with
 * the assignment computed by the coordinator) and the public subscribe /
 * unsubscribe / assignment calls.
 *
 * Happy path: ether_subscribe queues a call; the I/O thread finds the
 * group's coordinator (FindCoordinator, any broker), joins (JoinGroup waits
 * until the rebalance's join phase ends and gives the generation and this
 * member's id), syncs (SyncGroup gives this member's partitions), asks the
 * coordinator for their committed offsets (OffsetFetch, group_commit.c) and
 * reads each from there, or from where auto_offset_reset says. It then
 * heartbeats every heartbeat_interval_ms and auto-commits the consumed
 * positions every auto_commit_interval_ms.
 *
 * Rebalances: a heartbeat answered REBALANCE_IN_PROGRESS sends the member
 * back to PREPARING: an eager member stops reading all its partitions (and
 * purges their buffered messages), commits (auto-commit), then joins again
 * reporting what it had; a cooperative member commits and joins again
 * reporting what it owns while it keeps reading, and after the sync gives up
 * only the partitions not in its new assignment (their positions wait on
 * client->given_up for the commit before the next join, which the
 * coordinator's follow-up rebalance brings).
 *
 * Failure modes: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
 * COORDINATOR_LOADING and broken connections find the coordinator again
 * after a backoff and retry. UNKNOWN_MEMBER_ID (the coordinator forgot this
 * member) loses the partitions without committing and joins again as a new
 * member; ILLEGAL_GENERATION likewise but keeps the member id. No answer to
 * heartbeats for session_timeout_ms loses the partitions too (the
 * coordinator has given them to others by then). Any other error of a join
 * or sync (INCONSISTENT_GROUP_PROTOCOL, INVALID_ARGUMENT, ...) stops the
 * group and is delivered as a message with `error` set.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

enum { CLIENT_CLOSE_LEAVE_MS_MAX = 5000 };

/* The context of a membership request: answers from an older epoch are dropped. */
struct group_request {
    uint64_t epoch;
    int64_t generation;
};

void client_group_init(struct ether_client *client)
{
    struct client_group *group = ether_calloc(1, sizeof *group);
    group->member_id = ether_strdup("");
    group->generation = -1;
    group->epoch = 1;
    client->group = group;
}

static void free_topics(char **topics, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        ether_free(topics[i]);
    }
    ether_free(topics);
}

void client_group_call_free(struct client_group_call *call)
{
    free_topics(call->topics, call->topic_count);
    ether_free(call);
}

void client_group_free(struct ether_client *client)
{
    struct client_group *group = client->group;
    client_commits_free_all(group);
    if (group->leave_call != NULL) {
        client_group_call_free(group->leave_call);
    }
    free_topics(group->topics, group->topic_count);
    ether_free(group->previous);
    ether_free(group->member_id);
    ether_free(group);
    client->group = NULL;
}

void client_waiter_finish(struct ether_client *client, struct client_waiter *waiter, int result,
                          const char *message)
{
    pthread_mutex_lock(&client->mutex);
    waiter->result = result;
    snprintf(waiter->message, sizeof waiter->message, "%s",
             message != NULL && message[0] != '\0' ? message : ether_strerror(result));
    waiter->done = true;
    pthread_cond_broadcast(&client->changed);
    pthread_mutex_unlock(&client->mutex);
}

bool client_group_retriable(int error)
{
    switch (error) {
    case ETHER_ERR_NOT_COORDINATOR:
    case ETHER_ERR_COORDINATOR_NOT_AVAILABLE:
    case ETHER_ERR_COORDINATOR_LOADING:
    case ETHER_ERR_NOT_LEADER:
    case ETHER_ERR_IO:
    case ETHER_ERR_TIMED_OUT:
    case ETHER_ERR_CLOSED:
    case ETHER_ERR_BUSY:
    case ETHER_ERR_STOPPED:
    case ETHER_ERR_DROPPED:
    case ETHER_ERR_TRANSFER_IN_PROGRESS:
        return true;
    default:
        return false;
    }
}

static uint64_t backoff_ms(struct ether_client *client, uint32_t attempt)
{
    return client_backoff_delay_ms(&client->backoff, attempt);
}

/* ---- the coordinator -------------------------------------------------------------------- */

static void fail(struct ether_client *client, int error, const char *what, const char *detail);

static void on_find_coordinator(struct ether_client *client, void *context, int error,
                                const char *error_message, const ProtobufCMessage *response)
{
    (void)context;
    struct client_group *group = client->group;
    group->finding = false;
    if (client->io_stopping) {
        return;
    }
    const Ether__FindCoordinatorResponse *answer = (const Ether__FindCoordinatorResponse *)response;
    if (error == ETHER_OK) {
        error = (int)answer->error;
        if (error == ETHER_OK &&
            (answer->coordinator == NULL || answer->coordinator->broker_id == 0 ||
             answer->coordinator->port == 0 || answer->coordinator->port > UINT16_MAX)) {
            error = ETHER_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    uint64_t now_ms = client_now_ms();
    bool member = group->state == CLIENT_GROUP_PREPARING || group->state == CLIENT_GROUP_JOINING ||
                  group->state == CLIENT_GROUP_SYNCING || group->state == CLIENT_GROUP_STABLE;
    if (member && (error == ETHER_ERR_AUTHENTICATION_FAILED || error == ETHER_ERR_TLS_HANDSHAKE)) {
        /* A refused certificate (or TLS where there is none) does not heal by asking again. */
        fail(client, error, "cannot find its coordinator", error_message);
        return;
    }
    if (error != ETHER_OK) {
        group->find_failures++;
        group->find_at_ms = now_ms + backoff_ms(client, group->find_failures);
        if (error == ETHER_ERR_IO || error == ETHER_ERR_TIMED_OUT) {
            client_metadata_want(client);
        }
        return;
    }
    struct client_broker *broker = client_broker_learn(client, answer->coordinator);
    group->coordinator_id = broker->broker_id;
    group->find_failures = 0;
}

static void find_coordinator(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (group->finding || now_ms < group->find_at_ms) {
        return;
    }
    struct client_broker *broker = client_broker_any(client, now_ms);
    if (broker == NULL) {
        client_metadata_want(client);
        return;
    }
    Ether__FindCoordinatorRequest request = ETHER__FIND_COORDINATOR_REQUEST__INIT;
    request.group = client->settings.group_id;
    group->finding = true;
    if (client_send(client, broker, PROTO_API_FIND_COORDINATOR, &request.base, true,
                    client->settings.request_timeout_ms, on_find_coordinator, NULL) != ETHER_OK) {
        group->finding = false;
    }
}

struct client_broker *client_group_coordinator(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (group->coordinator_id != 0) {
        struct client_broker *broker = client_broker_find(client, group->coordinator_id);
        if (broker != NULL) {
            return client_broker_usable(client, broker, now_ms) ? broker : NULL;
        }
        group->coordinator_id = 0;
    }
    find_coordinator(client, now_ms);
    return NULL;
}

void client_group_coordinator_lost(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (group->coordinator_id == 0) {
        return;
    }
    group->coordinator_id = 0;
    group->find_failures++;
    group->find_at_ms = now_ms + backoff_ms(client, group->find_failures);
}

/* Sends a membership request to the coordinator; false when it cannot go now. */
static bool send_to_coordinator(struct ether_client *client, uint16_t api_key,
                                const ProtobufCMessage *body, uint32_t timeout_ms,
                                client_response_fn *on_response, uint64_t now_ms)
{
    struct client_broker *coordinator = client_group_coordinator(client, now_ms);
    if (coordinator == NULL) {
        return false;
    }
    struct group_request *context = ether_calloc(1, sizeof *context);
    context->epoch = client->group->epoch;
    context->generation = client->group->generation;
    if (client_send(client, coordinator, api_key, body, true, timeout_ms, on_response, context) !=
        ETHER_OK) {
        ether_free(context);
        return false;
    }
    return true;
}

/* ---- owned partitions --------------------------------------------------------------------- */

static struct client_owned *find_owned(struct client_owned *list, const struct client_topic *topic,
                                       uint32_t partition)
{
    for (struct client_owned *owned = list; owned != NULL; owned = owned->next) {
        if (owned->topic == topic && owned->partition == partition) {
            return owned;
        }
    }
    return NULL;
}

/* Unlinks `owned` from the list at *head; the mutex is held. */
static void unlink_owned(struct client_owned **head, struct client_owned *owned)
{
    for (struct client_owned **link = head; *link != NULL; link = &(*link)->next) {
        if (*link == owned) {
            *link = owned->next;
            owned->next = NULL;
            return;
        }
    }
    ETHER_PANIC("owned partition is not on its list");
}

/*
 * Stops reading one partition and purges its buffered messages; its position
 * moves to client->given_up when `keep_position`, else it is forgotten.
 */
static void give_up(struct ether_client *client, struct client_owned *owned, bool keep_position)
{
    if (owned->assignment != NULL) {
        client_consumer_remove(client, owned->assignment);
        owned->assignment = NULL;
    }
    pthread_mutex_lock(&client->mutex);
    client_messages_purge_locked(client, owned);
    unlink_owned(&client->owned, owned);
    if (keep_position) {
        owned->next = client->given_up;
        client->given_up = owned;
    } else if (client->in_hand_owned == owned) {
        client->in_hand_owned = NULL;
    }
    pthread_mutex_unlock(&client->mutex);
    if (!keep_position) {
        ether_free(owned);
    }
}

static void give_up_all(struct ether_client *client, bool keep_positions)
{
    for (;;) {
        pthread_mutex_lock(&client->mutex);
        struct client_owned *owned = client->owned;
        pthread_mutex_unlock(&client->mutex);
        if (owned == NULL) {
            return;
        }
        give_up(client, owned, keep_positions);
    }
}

/* Forgets the positions waiting on client->given_up. */
static void forget_given_up(struct ether_client *client)
{
    pthread_mutex_lock(&client->mutex);
    struct client_owned *list = client->given_up;
    client->given_up = NULL;
    for (struct client_owned *owned = list; owned != NULL; owned = owned->next) {
        if (client->in_hand_owned == owned) {
            client->in_hand_owned = NULL;
        }
    }
    pthread_mutex_unlock(&client->mutex);
    while (list != NULL) {
        struct client_owned *next = list->next;
        ether_free(list);
        list = next;
    }
}

static void take(struct ether_client *client, struct client_topic *topic, uint32_t partition)
{
    struct client_owned *owned = ether_calloc(1, sizeof *owned);
    owned->topic = topic;
    owned->partition = partition;
    owned->consumed_offset = -1;
    owned->committed_offset = -1;
    pthread_mutex_lock(&client->mutex);
    owned->next = client->owned;
    client->owned = owned;
    pthread_mutex_unlock(&client->mutex);
    owned->assignment = client_consumer_add_owned(client, owned);
}

/* ---- state changes ----------------------------------------------------------------------- */

/* A new epoch: answers in flight are dropped and their flags no longer apply. */
static void new_epoch(struct client_group *group)
{
    group->epoch++;
    group->join_in_flight = false;
    group->sync_in_flight = false;
    group->heartbeat_in_flight = false;
    group->fetch_in_flight = false;
    group->leave_in_flight = false;
    group->blocking_commit = NULL;
}

/* Back to PREPARING: commit (auto-commit), give up (eager), join again. */
static void rejoin(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    new_epoch(group);
    group->state = CLIENT_GROUP_PREPARING;
    group->prepared = false;
    group->retry_at_ms = now_ms;
}

void client_group_fenced(struct ether_client *client, int error, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (group->state == CLIENT_GROUP_UNSUBSCRIBED || group->state == CLIENT_GROUP_LEAVING ||
        group->state == CLIENT_GROUP_FAILED) {
        return;
    }
    give_up_all(client, false);
    forget_given_up(client);
    ether_free(group->previous);
    group->previous = NULL;
    group->previous_count = 0;
    if (error == ETHER_ERR_UNKNOWN_MEMBER_ID) {
        ether_free(group->member_id);
        group->member_id = ether_strdup("");
    }
    group->generation = -1;
    new_epoch(group);
    /* Nothing to commit: the partitions are someone else's by now. */
    group->state = CLIENT_GROUP_JOINING;
    group->retry_at_ms = now_ms;
}

void client_group_heartbeat_now(struct ether_client *client, uint64_t now_ms)
{
    if (client->group->state == CLIENT_GROUP_STABLE) {
        client->group->heartbeat_at_ms = now_ms;
    }
}

/* Stops the group for good (until the next subscribe) and tells the application. */
static void fail(struct ether_client *client, int error, const char *what, const char *detail)
{
    struct client_group *group = client->group;
    give_up_all(client, false);
    forget_given_up(client);
    new_epoch(group);
    group->state = CLIENT_GROUP_FAILED;
    group->generation = -1;
    char text[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(text, sizeof text, "consumer group %s stopped: %s: %s", client->settings.group_id,
             what, detail != NULL && detail[0] != '\0' ? detail : ether_strerror(error));
    client_consumer_deliver_error(client, error, text);
}

/* ---- join and sync ------------------------------------------------------------------------ */

static int compare_topic_partitions(const void *a, const void *b)
{
    const struct client_topic_partition *left = a;
    const struct client_topic_partition *right = b;
    int by_name = strcmp(left->topic->name, right->topic->name);
    if (by_name != 0) {
        return by_name;
    }
    return (left->partition > right->partition) - (left->partition < right->partition);
}

/* Partitions grouped by topic for the wire; free with free_wire_partitions. */
struct wire_partitions {
    Ether__GroupTopicPartitions *topics;
    Ether__GroupTopicPartitions **pointers;
    uint32_t *numbers;
    size_t topic_count;
};

static void wire_partitions_build(struct client_topic_partition *items, size_t count,
                                  struct wire_partitions *wire)
{
    qsort(items, count, sizeof *items, compare_topic_partitions);
    wire->topics = ether_calloc(count + 1, sizeof *wire->topics);
    wire->pointers = ether_calloc(count + 1, sizeof *wire->pointers);
    wire->numbers = ether_calloc(count + 1, sizeof *wire->numbers);
    wire->topic_count = 0;
    for (size_t i = 0; i < count; i++) {
        wire->numbers[i] = items[i].partition;
        if (i == 0 || items[i].topic != items[i - 1].topic) {
            Ether__GroupTopicPartitions *topic = &wire->topics[wire->topic_count];
            ether__group_topic_partitions__init(topic);
            topic->topic = items[i].topic->name;
            topic->partitions = &wire->numbers[i];
            wire->pointers[wire->topic_count++] = topic;
        }
        wire->topics[wire->topic_count - 1].n_partitions++;
    }
}

static void wire_partitions_free(struct wire_partitions *wire)
{
    ether_free(wire->topics);
    ether_free(wire->pointers);
    ether_free(wire->numbers);
}

/* What this member reports as owned: what it reads (cooperative) or gave up (eager). */
static struct client_topic_partition *owned_now(struct ether_client *client, size_t *count)
{
    struct client_group *group = client->group;
    if (!client->settings.group_cooperative) {
        struct client_topic_partition *copy = ether_calloc(group->previous_count + 1, sizeof *copy);
        if (group->previous_count > 0) {
            memcpy(copy, group->previous, group->previous_count * sizeof *copy);
        }
        *count = group->previous_count;
        return copy;
    }
    pthread_mutex_lock(&client->mutex);
    size_t total = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        total++;
    }
    struct client_topic_partition *items = ether_calloc(total + 1, sizeof *items);
    size_t index = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        items[index].topic = owned->topic;
        items[index].partition = owned->partition;
        index++;
    }
    pthread_mutex_unlock(&client->mutex);
    *count = total;
    return items;
}

static void on_join(struct ether_client *client, void *context, int error,
                    const char *error_message, const ProtobufCMessage *response);

static void send_join(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    const struct client_settings *settings = &client->settings;
    size_t owned_count = 0;
    struct client_topic_partition *owned = owned_now(client, &owned_count);
    struct wire_partitions wire;
    wire_partitions_build(owned, owned_count, &wire);
    Ether__JoinGroupRequest request = ETHER__JOIN_GROUP_REQUEST__INIT;
    request.group = settings->group_id;
    request.member_id = group->member_id;
    request.client_id = settings->client_id;
    request.session_timeout_ms = settings->session_timeout_ms;
    request.rebalance_timeout_ms = settings->rebalance_timeout_ms;
    request.n_topics = group->topic_count;
    request.topics = group->topics;
    request.assignor = client_unconst(client_assignor_name(settings->group_assignor));
    request.cooperative = settings->group_cooperative;
    request.n_owned = wire.topic_count;
    request.owned = wire.pointers;
    /* The answer comes when the join phase ends: up to the rebalance timeout. */
    uint32_t timeout_ms = settings->rebalance_timeout_ms + settings->request_timeout_ms;
    group->join_in_flight = send_to_coordinator(client, PROTO_API_JOIN_GROUP, &request.base,
                                                timeout_ms, on_join, now_ms);
    wire_partitions_free(&wire);
    ether_free(owned);
}

/* The answer applies to the current epoch and state; frees the context. */
static bool answer_is_current(struct ether_client *client, void *context,
                              enum client_group_state state)
{
    struct group_request *request = context;
    bool current = !client->io_stopping && request->epoch == client->group->epoch &&
                   client->group->state == state;
    ether_free(request);
    return current;
}

/* A join or sync could not complete: retry, start over, or stop. */
static void membership_error(struct ether_client *client, int error, const char *message,
                             const char *what, uint64_t now_ms)
{
    struct client_group *group = client->group;
    group->failures++;
    if (client_group_retriable(error)) {
        client_group_coordinator_lost(client, now_ms);
        group->retry_at_ms = now_ms + backoff_ms(client, group->failures);
        return;
    }
    switch (error) {
    case ETHER_ERR_UNKNOWN_MEMBER_ID:
    case ETHER_ERR_ILLEGAL_GENERATION:
        client_group_fenced(client, error, now_ms);
        group->retry_at_ms =
            now_ms + (group->failures > 1 ? backoff_ms(client, group->failures) : 0);
        return;
    case ETHER_ERR_REBALANCE_IN_PROGRESS:
        /* Another join of this member took over, or a newer rebalance began: join again. */
        new_epoch(group);
        group->state = CLIENT_GROUP_JOINING;
        group->retry_at_ms =
            now_ms + (group->failures > 1 ? backoff_ms(client, group->failures) : 0);
        return;
    default:
        fail(client, error, what, message);
        return;
    }
}

static void on_sync(struct ether_client *client, void *context, int error,
                    const char *error_message, const ProtobufCMessage *response);

static void send_sync(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    Ether__SyncGroupRequest request = ETHER__SYNC_GROUP_REQUEST__INIT;
    request.group = client->settings.group_id;
    request.generation = (uint32_t)group->generation;
    request.member_id = group->member_id;
    group->sync_in_flight =
        send_to_coordinator(client, PROTO_API_SYNC_GROUP, &request.base,
                            client->settings.request_timeout_ms, on_sync, now_ms);
}

/* Leaving while the first join was out: its answer says which member to take out. */
static void join_answered_while_leaving(struct ether_client *client, int error,
                                        const Ether__JoinGroupResponse *answer)
{
    struct client_group *group = client->group;
    group->leave_awaits_join = false;
    group->join_in_flight = false;
    if (error == ETHER_OK && answer->error == ETHER_OK && answer->member_id != NULL &&
        answer->member_id[0] != '\0') {
        ether_free(group->member_id);
        group->member_id = ether_strdup(answer->member_id);
        group->generation = answer->generation;
    }
}

static void on_join(struct ether_client *client, void *context, int error,
                    const char *error_message, const ProtobufCMessage *response)
{
    struct client_group *group = client->group;
    struct group_request *request = context;
    if (!client->io_stopping && request->epoch == group->epoch &&
        group->state == CLIENT_GROUP_LEAVING && group->leave_awaits_join) {
        ether_free(request);
        join_answered_while_leaving(client, error, (const Ether__JoinGroupResponse *)response);
        return;
    }
    if (!answer_is_current(client, context, CLIENT_GROUP_JOINING)) {
        return;
    }
    group->join_in_flight = false;
    uint64_t now_ms = client_now_ms();
    const Ether__JoinGroupResponse *answer = (const Ether__JoinGroupResponse *)response;
    if (error == ETHER_OK && answer->error != ETHER_OK) {
        error = (int)answer->error;
        error_message = answer->error_message;
    }
    if (error == ETHER_OK && (answer->member_id == NULL || answer->member_id[0] == '\0' ||
                              answer->generation > INT32_MAX)) {
        error = ETHER_ERR_CORRUPT;
        error_message = "the coordinator's JoinGroup answer lacks a member id or generation";
    }
    if (error != ETHER_OK) {
        membership_error(client, error, error_message, "cannot join", now_ms);
        return;
    }
    ether_free(group->member_id);
    group->member_id = ether_strdup(answer->member_id);
    group->generation = answer->generation;
    group->state = CLIENT_GROUP_SYNCING;
    send_sync(client, now_ms);
}

/* Applies the new assignment: gives up what is not in it, takes what is new. */
static void apply_assignment(struct ether_client *client, const Ether__SyncGroupResponse *answer)
{
    size_t total = 0;
    for (size_t t = 0; t < answer->n_assignment; t++) {
        total += answer->assignment[t]->n_partitions;
    }
    struct client_topic_partition *assigned = ether_calloc(total + 1, sizeof *assigned);
    size_t count = 0;
    for (size_t t = 0; t < answer->n_assignment; t++) {
        const Ether__GroupTopicPartitions *topic = answer->assignment[t];
        if (topic->topic == NULL || topic->topic[0] == '\0') {
            continue;
        }
        struct client_topic *known = client_topic_get(client, topic->topic);
        for (size_t p = 0; p < topic->n_partitions; p++) {
            assigned[count].topic = known;
            assigned[count].partition = topic->partitions[p];
            count++;
        }
    }
    /* Given up: owned and not assigned. Their positions wait for the next commit. */
    for (bool again = true; again;) {
        again = false;
        pthread_mutex_lock(&client->mutex);
        struct client_owned *lost = NULL;
        for (struct client_owned *owned = client->owned; owned != NULL && lost == NULL;
             owned = owned->next) {
            bool kept = false;
            for (size_t i = 0; i < count && !kept; i++) {
                kept =
                    assigned[i].topic == owned->topic && assigned[i].partition == owned->partition;
            }
            if (!kept) {
                lost = owned;
            }
        }
        pthread_mutex_unlock(&client->mutex);
        if (lost != NULL) {
            give_up(client, lost, true);
            again = true;
        }
    }
    for (size_t i = 0; i < count; i++) {
        pthread_mutex_lock(&client->mutex);
        bool owned = find_owned(client->owned, assigned[i].topic, assigned[i].partition) != NULL;
        pthread_mutex_unlock(&client->mutex);
        if (!owned) {
            take(client, assigned[i].topic, assigned[i].partition);
        }
    }
    ether_free(assigned);
}

static void on_sync(struct ether_client *client, void *context, int error,
                    const char *error_message, const ProtobufCMessage *response)
{
    int64_t generation = ((struct group_request *)context)->generation;
    if (!answer_is_current(client, context, CLIENT_GROUP_SYNCING) ||
        generation != client->group->generation) {
        return;
    }
    struct client_group *group = client->group;
    group->sync_in_flight = false;
    uint64_t now_ms = client_now_ms();
    const Ether__SyncGroupResponse *answer = (const Ether__SyncGroupResponse *)response;
    if (error == ETHER_OK && answer->error != ETHER_OK) {
        error = (int)answer->error;
        error_message = answer->error_message;
    }
    if (error != ETHER_OK) {
        if (client_group_retriable(error)) {
            /* The generation may be gone with the coordinator: join again. */
            membership_error(client, error, error_message, "cannot sync", now_ms);
            group->state = CLIENT_GROUP_JOINING;
            return;
        }
        membership_error(client, error, error_message, "cannot sync", now_ms);
        return;
    }
    apply_assignment(client, answer);
    ether_free(group->previous);
    group->previous = NULL;
    group->previous_count = 0;
    group->failures = 0;
    group->state = CLIENT_GROUP_STABLE;
    group->heard_ms = now_ms;
    group->heartbeat_at_ms = now_ms + client->settings.heartbeat_interval_ms;
    if (group->auto_commit_at_ms == 0) {
        group->auto_commit_at_ms = now_ms + client->settings.auto_commit_interval_ms;
    }
    group->fetch_at_ms = now_ms;
}

/* ---- preparing a (re)join ------------------------------------------------------------------- */

/* Eager: gives up everything, remembering it for the join's `owned`. */
static void give_up_before_join(struct ether_client *client)
{
    struct client_group *group = client->group;
    pthread_mutex_lock(&client->mutex);
    size_t count = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        count++;
    }
    struct client_topic_partition *previous = ether_calloc(count + 1, sizeof *previous);
    size_t index = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        previous[index].topic = owned->topic;
        previous[index].partition = owned->partition;
        index++;
    }
    pthread_mutex_unlock(&client->mutex);
    if (count > 0) {
        ether_free(group->previous);
        group->previous = previous;
        group->previous_count = count;
    } else {
        ether_free(previous);
    }
    give_up_all(client, true);
}

static void prepare(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (!group->prepared) {
        group->prepared = true;
        if (!client->settings.group_cooperative) {
            give_up_before_join(client);
        }
        if (client->settings.enable_auto_commit && group->generation >= 0) {
            group->blocking_commit =
                client_commit_positions(client, CLIENT_COMMIT_BEFORE_REBALANCE, true,
                                        now_ms + client->settings.request_timeout_ms);
        }
    }
    if (group->blocking_commit != NULL) {
        return;
    }
    /* Whatever was given up is no longer reported nor committed. */
    forget_given_up(client);
    group->state = CLIENT_GROUP_JOINING;
    send_join(client, now_ms);
}

/* ---- heartbeats -------------------------------------------------------------------------- */

static void on_heartbeat(struct ether_client *client, void *context, int error,
                         const char *error_message, const ProtobufCMessage *response)
{
    (void)error_message;
    int64_t generation = ((struct group_request *)context)->generation;
    if (!answer_is_current(client, context, CLIENT_GROUP_STABLE) ||
        generation != client->group->generation) {
        return;
    }
    struct client_group *group = client->group;
    group->heartbeat_in_flight = false;
    uint64_t now_ms = client_now_ms();
    if (error == ETHER_OK) {
        error = (int)((const Ether__HeartbeatResponse *)response)->error;
    }
    if (client_group_retriable(error)) {
        client_group_coordinator_lost(client, now_ms);
        group->heartbeat_at_ms = now_ms; /* again as soon as the coordinator is known */
        return;
    }
    group->heard_ms = now_ms;
    switch (error) {
    case ETHER_OK:
        return;
    case ETHER_ERR_REBALANCE_IN_PROGRESS:
        rejoin(client, now_ms);
        return;
    case ETHER_ERR_ILLEGAL_GENERATION:
        client_group_fenced(client, error, now_ms);
        return;
    default:
        /* UNKNOWN_MEMBER_ID, or anything unexpected: start as a new member. */
        client_group_fenced(client, ETHER_ERR_UNKNOWN_MEMBER_ID, now_ms);
        return;
    }
}

static void service_stable(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    const struct client_settings *settings = &client->settings;
    if (now_ms - group->heard_ms > settings->session_timeout_ms) {
        /* The coordinator has removed this member by now and given its partitions away. */
        client_group_fenced(client, ETHER_ERR_ILLEGAL_GENERATION, now_ms);
        return;
    }
    if (!group->heartbeat_in_flight && now_ms >= group->heartbeat_at_ms) {
        Ether__HeartbeatRequest request = ETHER__HEARTBEAT_REQUEST__INIT;
        request.group = settings->group_id;
        request.generation = (uint32_t)group->generation;
        request.member_id = group->member_id;
        group->heartbeat_in_flight =
            send_to_coordinator(client, PROTO_API_HEARTBEAT, &request.base,
                                settings->request_timeout_ms, on_heartbeat, now_ms);
        if (group->heartbeat_in_flight) {
            group->heartbeat_at_ms = now_ms + settings->heartbeat_interval_ms;
        }
    }
    if (settings->enable_auto_commit && now_ms >= group->auto_commit_at_ms) {
        group->auto_commit_at_ms = now_ms + settings->auto_commit_interval_ms;
        bool pending = false;
        for (struct client_commit *commit = group->commits; commit != NULL; commit = commit->next) {
            pending = pending || commit->origin == CLIENT_COMMIT_AUTO;
        }
        if (!pending) {
            client_commit_positions(client, CLIENT_COMMIT_AUTO, true,
                                    now_ms + settings->request_timeout_ms);
        }
    }
}

/* ---- leaving ----------------------------------------------------------------------------- */

static void finish_leave(struct ether_client *client, int result, const char *message)
{
    struct client_group *group = client->group;
    group->leave_awaits_join = false;
    give_up_all(client, false);
    forget_given_up(client);
    ether_free(group->previous);
    group->previous = NULL;
    group->previous_count = 0;
    ether_free(group->member_id);
    group->member_id = ether_strdup("");
    group->generation = -1;
    new_epoch(group);
    group->state = CLIENT_GROUP_UNSUBSCRIBED;
    free_topics(group->topics, group->topic_count);
    group->topics = NULL;
    group->topic_count = 0;
    struct client_group_call *call = group->leave_call;
    group->leave_call = NULL;
    if (call != NULL) {
        if (call->waiter != NULL) {
            client_waiter_finish(client, call->waiter, result, message);
        }
        client_group_call_free(call);
    }
}

static void on_leave(struct ether_client *client, void *context, int error,
                     const char *error_message, const ProtobufCMessage *response)
{
    (void)error_message;
    (void)response;
    (void)error;
    if (!answer_is_current(client, context, CLIENT_GROUP_LEAVING)) {
        return;
    }
    /* Whatever the answer: the coordinator forgets this member at the latest when its
     * session expires. The commit's outcome is what the caller learns. */
    struct client_group *group = client->group;
    finish_leave(client, group->leave_result, group->leave_message);
}

static void service_leaving(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (now_ms >= group->leave_deadline_ms) {
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message,
                 "could not commit and leave consumer group %s within %u ms%s%.150s",
                 client->settings.group_id, group->leave_call->timeout_ms,
                 group->leave_message[0] != '\0' ? ": " : "", group->leave_message);
        finish_leave(client, ETHER_ERR_TIMED_OUT, message);
        return;
    }
    if (group->blocking_commit != NULL || group->leave_in_flight || group->leave_awaits_join) {
        return;
    }
    if (group->member_id[0] == '\0') {
        finish_leave(client, group->leave_result, group->leave_message);
        return;
    }
    Ether__LeaveGroupRequest request = ETHER__LEAVE_GROUP_REQUEST__INIT;
    request.group = client->settings.group_id;
    request.member_id = group->member_id;
    uint64_t left_ms = group->leave_deadline_ms - now_ms;
    uint32_t timeout_ms = client->settings.request_timeout_ms;
    if (left_ms < timeout_ms) {
        timeout_ms = (uint32_t)left_ms;
    }
    group->leave_in_flight = send_to_coordinator(client, PROTO_API_LEAVE_GROUP, &request.base,
                                                 timeout_ms, on_leave, now_ms);
}

static void start_leaving(struct ether_client *client, struct client_group_call *call,
                          uint64_t now_ms)
{
    struct client_group *group = client->group;
    bool member = group->state != CLIENT_GROUP_UNSUBSCRIBED && group->state != CLIENT_GROUP_FAILED;
    /* A first join is out: the coordinator holds a member this client cannot name yet.
     * Its answer names it, so that LeaveGroup takes it out now rather than at the end of
     * its session. */
    bool awaits_join = group->state == CLIENT_GROUP_JOINING && group->join_in_flight &&
                       group->member_id[0] == '\0';
    /* Stop reading first: what is committed is what the application consumed. */
    give_up_all(client, member);
    if (!awaits_join) {
        new_epoch(group);
    }
    group->leave_awaits_join = awaits_join;
    group->state = CLIENT_GROUP_LEAVING;
    group->leave_call = call;
    group->leave_deadline_ms = now_ms + call->timeout_ms;
    group->leave_result = ETHER_OK;
    group->leave_message[0] = '\0';
    if (!member) {
        finish_leave(client, ETHER_OK, NULL);
        return;
    }
    if (client->settings.enable_auto_commit && group->generation >= 0) {
        group->blocking_commit = client_commit_positions(client, CLIENT_COMMIT_BEFORE_LEAVE, true,
                                                         group->leave_deadline_ms);
    }
    service_leaving(client, now_ms);
}

void client_group_commit_ended(struct ether_client *client, const struct client_commit *commit,
                               int result, const char *message)
{
    struct client_group *group = client->group;
    if (group->blocking_commit != commit) {
        return;
    }
    group->blocking_commit = NULL;
    if (group->state == CLIENT_GROUP_LEAVING && result != ETHER_OK) {
        group->leave_result = result;
        snprintf(group->leave_message, sizeof group->leave_message, "%s", message);
    }
}

/* ---- committed offsets of new partitions ---------------------------------------------------- */

static void on_offset_fetch(struct ether_client *client, void *context, int error,
                            const char *error_message, const ProtobufCMessage *response)
{
    struct group_request *request = context;
    bool current = !client->io_stopping && request->epoch == client->group->epoch;
    ether_free(request);
    if (!current) {
        return;
    }
    struct client_group *group = client->group;
    group->fetch_in_flight = false;
    uint64_t now_ms = client_now_ms();
    const Ether__OffsetFetchResponse *answer = (const Ether__OffsetFetchResponse *)response;
    if (error == ETHER_OK && answer->error != ETHER_OK) {
        error = (int)answer->error;
        error_message = answer->error_message;
    }
    if (client_group_retriable(error)) {
        client_group_coordinator_lost(client, now_ms);
        group->failures++;
        group->fetch_at_ms = now_ms + backoff_ms(client, group->failures);
        return;
    }
    if (error != ETHER_OK) {
        fail(client, error, "cannot read the committed offsets", error_message);
        return;
    }
    pthread_mutex_lock(&client->mutex);
    struct client_owned *list = client->owned;
    pthread_mutex_unlock(&client->mutex);
    /* Only the I/O thread changes the list: walking it without the mutex is safe here. */
    for (struct client_owned *owned = list; owned != NULL; owned = owned->next) {
        if (owned->assignment == NULL || !owned->assignment->awaiting_committed) {
            continue;
        }
        int64_t committed = -1;
        int partition_error = ETHER_OK;
        for (size_t i = 0; i < answer->n_offsets; i++) {
            const Ether__GroupPartitionOffset *offset = answer->offsets[i];
            if (offset->topic != NULL && strcmp(offset->topic, owned->topic->name) == 0 &&
                offset->partition == owned->partition) {
                committed = offset->offset < 0 ? -1 : offset->offset;
                partition_error = (int)offset->error;
            }
        }
        if (client_group_retriable(partition_error)) {
            group->fetch_at_ms = now_ms + backoff_ms(client, ++group->failures);
            continue;
        }
        if (partition_error != ETHER_OK) {
            char what[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(what, sizeof what, "cannot read the committed offset of %.100s/%u",
                     owned->topic->name, owned->partition);
            fail(client, partition_error, what, NULL);
            return;
        }
        client_consumer_start(client, owned->assignment, committed);
    }
}

/* Asks the coordinator where the partitions just taken start. */
static void fetch_committed(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (group->fetch_in_flight || now_ms < group->fetch_at_ms) {
        return;
    }
    pthread_mutex_lock(&client->mutex);
    size_t count = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        count += owned->assignment != NULL && owned->assignment->awaiting_committed;
    }
    struct client_topic_partition *items = ether_calloc(count + 1, sizeof *items);
    size_t index = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        if (owned->assignment != NULL && owned->assignment->awaiting_committed) {
            items[index].topic = owned->topic;
            items[index].partition = owned->partition;
            index++;
        }
    }
    pthread_mutex_unlock(&client->mutex);
    if (count > 0) {
        struct wire_partitions wire;
        wire_partitions_build(items, count, &wire);
        Ether__OffsetFetchRequest request = ETHER__OFFSET_FETCH_REQUEST__INIT;
        request.group = client->settings.group_id;
        request.n_partitions = wire.topic_count;
        request.partitions = wire.pointers;
        group->fetch_in_flight =
            send_to_coordinator(client, PROTO_API_OFFSET_FETCH, &request.base,
                                client->settings.request_timeout_ms, on_offset_fetch, now_ms);
        wire_partitions_free(&wire);
    }
    ether_free(items);
}

/* ---- calls from the application ------------------------------------------------------------ */

static bool same_topics(char **a, size_t a_count, char **b, size_t b_count)
{
    if (a_count != b_count) {
        return false;
    }
    for (size_t i = 0; i < a_count; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return false;
        }
    }
    return true;
}

bool client_group_accept(struct ether_client *client, struct client_group_call *call,
                         uint64_t now_ms)
{
    struct client_group *group = client->group;
    switch (call->kind) {
    case CLIENT_GROUP_SUBSCRIBE: {
        if (group->state == CLIENT_GROUP_LEAVING) {
            return false; /* after the leave */
        }
        bool changed =
            !same_topics(group->topics, group->topic_count, call->topics, call->topic_count);
        free_topics(group->topics, group->topic_count);
        group->topics = call->topics;
        group->topic_count = call->topic_count;
        call->topics = NULL;
        call->topic_count = 0;
        client_group_call_free(call);
        client_consumer_remove_manual(client);
        if (group->state == CLIENT_GROUP_UNSUBSCRIBED || group->state == CLIENT_GROUP_FAILED) {
            group->failures = 0;
            rejoin(client, now_ms);
        } else if (changed) {
            rejoin(client, now_ms);
        }
        return true;
    }
    case CLIENT_GROUP_UNSUBSCRIBE:
        if (group->state == CLIENT_GROUP_LEAVING) {
            return false;
        }
        start_leaving(client, call, now_ms);
        return true;
    case CLIENT_GROUP_COMMIT: {
        uint64_t deadline_ms = now_ms + call->timeout_ms;
        struct client_commit *commit = NULL;
        if (call->commit_positions) {
            commit = client_commit_positions(
                client, call->report ? CLIENT_COMMIT_ASYNC : CLIENT_COMMIT_SYNC, false,
                deadline_ms);
        } else {
            commit =
                client_commit_one(client, call->topic, call->partition, call->offset, deadline_ms);
        }
        if (commit == NULL) {
            /* Nothing consumed yet: nothing to commit, which is a success. */
            if (call->waiter != NULL) {
                client_waiter_finish(client, call->waiter, ETHER_OK, NULL);
            }
            if (call->report && client->settings.commit_callback != NULL) {
                struct client_commit_report *report = ether_calloc(1, sizeof *report);
                client_commit_report_queue(client, report);
            }
        } else {
            commit->waiter = call->waiter;
            commit->report = call->report;
        }
        client_group_call_free(call);
        return true;
    }
    }
    ETHER_PANIC("unknown group call");
}

void client_group_service(struct ether_client *client, uint64_t now_ms)
{
    struct client_group *group = client->group;
    if (group->state == CLIENT_GROUP_UNSUBSCRIBED && group->commits == NULL) {
        return;
    }
    client_commits_service(client, now_ms);
    switch (group->state) {
    case CLIENT_GROUP_UNSUBSCRIBED:
    case CLIENT_GROUP_FAILED:
        return;
    case CLIENT_GROUP_PREPARING:
        if (now_ms >= group->retry_at_ms) {
            prepare(client, now_ms);
        }
        break;
    case CLIENT_GROUP_JOINING:
        if (!group->join_in_flight && now_ms >= group->retry_at_ms) {
            send_join(client, now_ms);
        }
        break;
    case CLIENT_GROUP_SYNCING:
        if (!group->sync_in_flight && now_ms >= group->retry_at_ms) {
            send_sync(client, now_ms);
        }
        break;
    case CLIENT_GROUP_STABLE:
        service_stable(client, now_ms);
        break;
    case CLIENT_GROUP_LEAVING:
        service_leaving(client, now_ms);
        return;
    }
    if (group->state != CLIENT_GROUP_FAILED && group->state != CLIENT_GROUP_UNSUBSCRIBED) {
        fetch_committed(client, now_ms);
    }
}

/* ---- the public calls ------------------------------------------------------------------------ */

/* Queues a call; with a waiter, waits until the I/O thread finishes it. */
static int run_call(struct ether_client *client, struct client_group_call *call,
                    struct client_waiter *waiter, char *errstr, size_t errstr_size)
{
    call->waiter = waiter;
    pthread_mutex_lock(&client->mutex);
    if (client->stopping) {
        pthread_mutex_unlock(&client->mutex);
        client_group_call_free(call);
        return client_error(errstr, errstr_size, ETHER_ERR_CLOSED, "the client is closing");
    }
    if (client->group_calls_tail == NULL) {
        client->group_calls_head = call;
    } else {
        client->group_calls_tail->next = call;
    }
    client->group_calls_tail = call;
    pthread_mutex_unlock(&client->mutex);
    uv_async_send(&client->wakeup);
    if (waiter == NULL) {
        return ETHER_OK;
    }
    pthread_mutex_lock(&client->mutex);
    while (!waiter->done) {
        pthread_cond_wait(&client->changed, &client->mutex);
    }
    pthread_mutex_unlock(&client->mutex);
    if (waiter->result != ETHER_OK) {
        return client_error(errstr, errstr_size, waiter->result, "%s", waiter->message);
    }
    if (errstr != NULL && errstr_size > 0) {
        errstr[0] = '\0';
    }
    return ETHER_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ether_subscribe(struct ether_client *client, const char *const *topics, size_t count,
                    char *errstr, size_t errstr_size)
{
    if (client == NULL || topics == NULL || count == 0) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "ether_subscribe needs at least one topic");
    }
    if (client->settings.group_id[0] == '\0') {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "ether_subscribe needs a group_id in the configuration");
    }
    for (size_t i = 0; i < count; i++) {
        if (topics[i] == NULL || topics[i][0] == '\0') {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "topic %zu of the subscription is empty", i);
        }
    }
    struct client_group_call *call = ether_calloc(1, sizeof *call);
    call->kind = CLIENT_GROUP_SUBSCRIBE;
    call->topics = ether_calloc(count, sizeof *call->topics);
    for (size_t i = 0; i < count; i++) {
        call->topics[i] = ether_strdup(topics[i]);
    }
    qsort(call->topics, count, sizeof *call->topics, compare_names);
    /* Distinct names: the subscription is a set. */
    size_t distinct = 0;
    for (size_t i = 0; i < count; i++) {
        if (distinct > 0 && strcmp(call->topics[distinct - 1], call->topics[i]) == 0) {
            ether_free(call->topics[i]);
            continue;
        }
        call->topics[distinct++] = call->topics[i];
    }
    call->topic_count = distinct;
    pthread_mutex_lock(&client->mutex);
    client->subscribed = true;
    pthread_mutex_unlock(&client->mutex);
    return run_call(client, call, NULL, errstr, errstr_size);
}

static uint32_t call_timeout(int timeout_ms)
{
    return timeout_ms < 0 ? UINT32_MAX / 2 : (uint32_t)timeout_ms;
}

int ether_unsubscribe(struct ether_client *client, int timeout_ms)
{
    if (client == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&client->mutex);
    bool subscribed = client->subscribed;
    client->subscribed = false;
    pthread_mutex_unlock(&client->mutex);
    if (!subscribed) {
        return ETHER_OK;
    }
    struct client_group_call *call = ether_calloc(1, sizeof *call);
    call->kind = CLIENT_GROUP_UNSUBSCRIBE;
    call->timeout_ms = call_timeout(timeout_ms);
    struct client_waiter waiter = {0};
    return run_call(client, call, &waiter, NULL, 0);
}

void client_group_close(struct ether_client *client)
{
    uint32_t bound_ms = client->settings.request_timeout_ms;
    if (bound_ms > CLIENT_CLOSE_LEAVE_MS_MAX) {
        bound_ms = CLIENT_CLOSE_LEAVE_MS_MAX;
    }
    (void)ether_unsubscribe(client, (int)bound_ms);
}

static bool subscribed(struct ether_client *client)
{
    pthread_mutex_lock(&client->mutex);
    bool result = client->subscribed;
    pthread_mutex_unlock(&client->mutex);
    return result;
}

int ether_commit_sync(struct ether_client *client, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (client == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (!subscribed(client)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "ether_commit_sync commits a subscribed consumer's positions; the "
                            "client is not subscribed");
    }
    struct client_group_call *call = ether_calloc(1, sizeof *call);
    call->kind = CLIENT_GROUP_COMMIT;
    call->commit_positions = true;
    call->timeout_ms = call_timeout(timeout_ms);
    struct client_waiter waiter = {0};
    return run_call(client, call, &waiter, errstr, errstr_size);
}

int ether_commit_async(struct ether_client *client)
{
    if (client == NULL || !subscribed(client)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct client_group_call *call = ether_calloc(1, sizeof *call);
    call->kind = CLIENT_GROUP_COMMIT;
    call->commit_positions = true;
    call->report = true;
    call->timeout_ms = client->settings.request_timeout_ms;
    return run_call(client, call, NULL, NULL, 0);
}

int ether_commit_offset(struct ether_client *client, const char *topic, int32_t partition,
                        int64_t offset, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (client == NULL || topic == NULL || topic[0] == '\0' || partition < 0 || offset < 0) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "a topic, a partition and an offset (>= 0) are needed");
    }
    if (client->settings.group_id[0] == '\0') {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "committing needs a group_id in the configuration");
    }
    struct client_group_call *call = ether_calloc(1, sizeof *call);
    call->kind = CLIENT_GROUP_COMMIT;
    call->topic = client_topic_get(client, topic);
    call->partition = (uint32_t)partition;
    call->offset = offset;
    call->timeout_ms = call_timeout(timeout_ms);
    struct client_waiter waiter = {0};
    return run_call(client, call, &waiter, errstr, errstr_size);
}

static int compare_public_partitions(const void *a, const void *b)
{
    const struct ether_topic_partition *left = a;
    const struct ether_topic_partition *right = b;
    int by_name = strcmp(left->topic, right->topic);
    if (by_name != 0) {
        return by_name;
    }
    return (left->partition > right->partition) - (left->partition < right->partition);
}

int ether_assignment(struct ether_client *client, struct ether_topic_partition **partitions,
                     size_t *count)
{
    if (client == NULL || partitions == NULL || count == NULL) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&client->mutex);
    size_t total = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        total++;
    }
    struct ether_topic_partition *items = ether_calloc(total + 1, sizeof *items);
    size_t index = 0;
    for (struct client_owned *owned = client->owned; owned != NULL; owned = owned->next) {
        items[index].topic = ether_strdup(owned->topic->name);
        items[index].partition = (int32_t)owned->partition;
        items[index].offset = owned->consumed_offset;
        index++;
    }
    pthread_mutex_unlock(&client->mutex);
    qsort(items, total, sizeof *items, compare_public_partitions);
    if (total == 0) {
        ether_free(items);
        items = NULL;
    }
    *partitions = items;
    *count = total;
    return ETHER_OK;
}
