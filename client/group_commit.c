/*
 * group_commit.c: committing offsets to the group's coordinator
 * (OffsetCommit), for auto-commit, ether_commit_sync / _async and
 * ether_commit_offset.
 *
 * Happy path: a commit takes its offsets when it is created (the consumed
 * positions of the member's partitions, under the mutex, or one explicit
 * offset) together with the member's generation and id, waits on
 * group->commits until the coordinator is known, is sent, and on success
 * records what is committed in each partition's `committed_offset` (so that
 * auto-commit sends only what changed). Positions waiting on
 * client->given_up are forgotten once committed.
 *
 * Failure modes: a broken connection, a timeout or an answer that says the
 * coordinator moved (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
 * COORDINATOR_LOADING) finds the coordinator again and resends after a
 * backoff, until the commit's deadline. UNKNOWN_MEMBER_ID and
 * ILLEGAL_GENERATION for the member's current generation mean it was
 * fenced: its partitions are lost and it joins again. REBALANCE_IN_PROGRESS
 * asks for a heartbeat at once (the coordinator answers it with a rebalance
 * when one is starting). Every failure ends the commit with the error: the
 * waiting caller gets it, background commits report it to the callback. A
 * commit in flight is never freed before its answer; a waiting caller whose
 * deadline passes is released at once with ETHER_ERR_TIMED_OUT.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

static void commit_push(struct client_group *group, struct client_commit *commit)
{
    struct client_commit **link = &group->commits;
    while (*link != NULL) {
        link = &(*link)->next;
    }
    *link = commit;
}

static struct client_commit *commit_new(struct ether_client *client,
                                        enum client_commit_origin origin, size_t count,
                                        uint64_t deadline_ms)
{
    struct client_group *group = client->group;
    struct client_commit *commit = ether_calloc(1, sizeof *commit);
    commit->origin = origin;
    bool member = group->generation >= 0 && group->member_id[0] != '\0' &&
                  group->state != CLIENT_GROUP_UNSUBSCRIBED && group->state != CLIENT_GROUP_FAILED;
    commit->generation = member ? group->generation : -1;
    commit->member_id = ether_strdup(member ? group->member_id : "");
    commit->offsets = ether_calloc(count + 1, sizeof *commit->offsets);
    commit->deadline_ms = deadline_ms;
    /* Auto-commits report to the callback; calls set `report` themselves. */
    commit->report = origin == CLIENT_COMMIT_AUTO || origin == CLIENT_COMMIT_BEFORE_REBALANCE ||
                     origin == CLIENT_COMMIT_BEFORE_LEAVE;
    commit_push(group, commit);
    return commit;
}

/* The positions of `list` worth committing (into `out` unless NULL); the mutex is held. */
static size_t collect(const struct ether_client *client, struct client_owned *list,
                      bool changed_only, bool processed_only, struct client_commit_offset *out)
{
    size_t count = 0;
    for (struct client_owned *owned = list; owned != NULL; owned = owned->next) {
        int64_t offset = owned->consumed_offset;
        if (processed_only && owned == client->in_hand_owned) {
            offset = client->in_hand_offset; /* read again after a crash: at least once */
        }
        if (offset < 0 || (changed_only && offset == owned->committed_offset)) {
            continue;
        }
        if (out != NULL) {
            out[count].topic = owned->topic;
            out[count].partition = owned->partition;
            out[count].offset = offset;
        }
        count++;
    }
    return count;
}

struct client_commit *client_commit_positions(struct ether_client *client,
                                              enum client_commit_origin origin, bool changed_only,
                                              uint64_t deadline_ms)
{
    bool processed_only = origin == CLIENT_COMMIT_AUTO || origin == CLIENT_COMMIT_BEFORE_REBALANCE;
    pthread_mutex_lock(&client->mutex);
    size_t count = collect(client, client->owned, changed_only, processed_only, NULL) +
                   collect(client, client->given_up, changed_only, processed_only, NULL);
    struct client_commit *commit = NULL;
    if (count > 0 && client->group->generation >= 0) {
        commit = commit_new(client, origin, count, deadline_ms);
        size_t taken =
            collect(client, client->owned, changed_only, processed_only, commit->offsets);
        taken += collect(client, client->given_up, changed_only, processed_only,
                         commit->offsets + taken);
        ETHER_ASSERT(taken == count);
        commit->count = count;
    }
    pthread_mutex_unlock(&client->mutex);
    return commit;
}

struct client_commit *client_commit_one(struct ether_client *client, struct client_topic *topic,
                                        uint32_t partition, int64_t offset, uint64_t deadline_ms)
{
    ETHER_ASSERT(offset >= 0);
    struct client_commit *commit = commit_new(client, CLIENT_COMMIT_OFFSET, 1, deadline_ms);
    commit->offsets[0].topic = topic;
    commit->offsets[0].partition = partition;
    commit->offsets[0].offset = offset;
    commit->count = 1;
    return commit;
}

static void commit_free(struct client_commit *commit)
{
    ether_free(commit->offsets);
    ether_free(commit->member_id);
    ether_free(commit);
}

void client_commits_free_all(struct client_group *group)
{
    while (group->commits != NULL) {
        struct client_commit *next = group->commits->next;
        commit_free(group->commits);
        group->commits = next;
    }
}

static void report(struct ether_client *client, const struct client_commit *commit, int result,
                   const char *message)
{
    struct client_commit_report *report = ether_calloc(1, sizeof *report);
    report->error = result;
    snprintf(report->message, sizeof report->message, "%s", result != ETHER_OK ? message : "");
    report->offsets = ether_calloc(commit->count + 1, sizeof *report->offsets);
    report->count = commit->count;
    for (size_t i = 0; i < commit->count; i++) {
        report->offsets[i].topic = ether_strdup(commit->offsets[i].topic->name);
        report->offsets[i].partition = (int32_t)commit->offsets[i].partition;
        report->offsets[i].offset = commit->offsets[i].offset;
        report->offsets[i].error = commit->offsets[i].error;
    }
    client_commit_report_queue(client, report);
}

/* The commit ends with `result`: its waiter, the group and the callback learn it. */
static void commit_end(struct ether_client *client, struct client_commit *commit, int result,
                       const char *message)
{
    ETHER_ASSERT(!commit->in_flight);
    for (struct client_commit **link = &client->group->commits; *link != NULL;
         link = &(*link)->next) {
        if (*link == commit) {
            *link = commit->next;
            break;
        }
    }
    if (commit->waiter != NULL) {
        client_waiter_finish(client, commit->waiter, result, message);
        commit->waiter = NULL;
    }
    client_group_commit_ended(client, commit, result, message);
    if (commit->report && client->settings.commit_callback != NULL) {
        report(client, commit, result, message);
    }
    commit_free(commit);
}

/* Records committed offsets; forgets given-up positions that are committed now. */
static void record_committed(struct ether_client *client, const struct client_commit *commit)
{
    pthread_mutex_lock(&client->mutex);
    struct client_owned *lists[] = {client->owned, client->given_up};
    for (size_t l = 0; l < 2; l++) {
        for (struct client_owned *owned = lists[l]; owned != NULL; owned = owned->next) {
            for (size_t i = 0; i < commit->count; i++) {
                if (commit->offsets[i].topic == owned->topic &&
                    commit->offsets[i].partition == owned->partition &&
                    commit->offsets[i].error == ETHER_OK) {
                    owned->committed_offset = commit->offsets[i].offset;
                }
            }
        }
    }
    struct client_owned *done = NULL;
    for (struct client_owned **link = &client->given_up; *link != NULL;) {
        struct client_owned *owned = *link;
        if (owned->committed_offset >= owned->consumed_offset) {
            *link = owned->next;
            owned->next = done;
            done = owned;
            if (client->in_hand_owned == owned) {
                client->in_hand_owned = NULL;
            }
        } else {
            link = &owned->next;
        }
    }
    pthread_mutex_unlock(&client->mutex);
    while (done != NULL) {
        struct client_owned *next = done->next;
        ether_free(done);
        done = next;
    }
}

static void on_commit(struct ether_client *client, void *context, int error,
                      const char *error_message, const ProtobufCMessage *response)
{
    struct client_commit *commit = context;
    commit->in_flight = false;
    if (client->io_stopping) {
        return; /* freed with the group */
    }
    uint64_t now_ms = client_now_ms();
    const Ether__OffsetCommitResponse *answer = (const Ether__OffsetCommitResponse *)response;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    snprintf(message, sizeof message, "%s", error_message != NULL ? error_message : "");
    if (error == ETHER_OK && answer->error != ETHER_OK) {
        error = (int)answer->error;
        snprintf(message, sizeof message, "cannot commit offsets of consumer group %.100s: %.100s",
                 client->settings.group_id,
                 answer->error_message != NULL && answer->error_message[0] != '\0'
                     ? answer->error_message
                     : ether_strerror(error));
    }
    if (error == ETHER_OK) {
        for (size_t i = 0; i < answer->n_offsets; i++) {
            const Ether__GroupPartitionOffset *result = answer->offsets[i];
            for (size_t k = 0; k < commit->count && result->topic != NULL; k++) {
                if (strcmp(commit->offsets[k].topic->name, result->topic) == 0 &&
                    commit->offsets[k].partition == result->partition) {
                    commit->offsets[k].error = (int)result->error;
                }
            }
            if (result->error != ETHER_OK && error == ETHER_OK) {
                error = (int)result->error;
                snprintf(message, sizeof message, "cannot commit offset %lld of %.100s/%u: %s",
                         (long long)result->offset, result->topic != NULL ? result->topic : "?",
                         result->partition, ether_strerror(error));
            }
        }
    }
    if (client_group_retriable(error)) {
        client_group_coordinator_lost(client, now_ms);
        commit->retry_at_ms = now_ms + client_backoff_delay_ms(&client->backoff, commit->attempts);
        snprintf(commit->last_error, sizeof commit->last_error, "%s",
                 message[0] != '\0' ? message : ether_strerror(error));
        for (size_t k = 0; k < commit->count; k++) {
            commit->offsets[k].error = ETHER_OK;
        }
        return;
    }
    struct client_group *group = client->group;
    if (error == ETHER_OK) {
        record_committed(client, commit);
    } else if ((error == ETHER_ERR_UNKNOWN_MEMBER_ID || error == ETHER_ERR_ILLEGAL_GENERATION) &&
               commit->generation >= 0 && commit->generation == group->generation &&
               strcmp(commit->member_id, group->member_id) == 0) {
        client_group_fenced(client, error, now_ms);
    } else if (error == ETHER_ERR_REBALANCE_IN_PROGRESS) {
        client_group_heartbeat_now(client, now_ms);
    }
    if (message[0] == '\0' && error != ETHER_OK) {
        snprintf(message, sizeof message, "%s", ether_strerror(error));
    }
    commit_end(client, commit, error, message);
}

static void send_commit(struct ether_client *client, struct client_commit *commit, uint64_t now_ms)
{
    struct client_broker *coordinator = client_group_coordinator(client, now_ms);
    if (coordinator == NULL) {
        return;
    }
    Ether__GroupPartitionOffset *offsets = ether_calloc(commit->count + 1, sizeof *offsets);
    Ether__GroupPartitionOffset **pointers = ether_calloc(commit->count + 1, sizeof *pointers);
    for (size_t i = 0; i < commit->count; i++) {
        ether__group_partition_offset__init(&offsets[i]);
        offsets[i].topic = commit->offsets[i].topic->name;
        offsets[i].partition = commit->offsets[i].partition;
        offsets[i].offset = commit->offsets[i].offset;
        pointers[i] = &offsets[i];
    }
    uint32_t timeout_ms = client->settings.request_timeout_ms;
    Ether__OffsetCommitRequest request = ETHER__OFFSET_COMMIT_REQUEST__INIT;
    request.group = client->settings.group_id;
    request.generation = (int32_t)commit->generation;
    request.member_id = commit->member_id;
    request.n_offsets = commit->count;
    request.offsets = pointers;
    request.timeout_ms = timeout_ms;
    commit->in_flight = true;
    commit->attempts++;
    /* The coordinator may take its timeout to replicate the commit: wait a little longer. */
    if (client_send(client, coordinator, PROTO_API_OFFSET_COMMIT, &request.base, true,
                    timeout_ms + timeout_ms / 2, on_commit, commit) != ETHER_OK) {
        commit->in_flight = false;
    }
    ether_free(pointers);
    ether_free(offsets);
}

void client_commits_service(struct ether_client *client, uint64_t now_ms)
{
    struct client_commit *commit = client->group->commits;
    while (commit != NULL) {
        struct client_commit *next = commit->next;
        if (now_ms >= commit->deadline_ms) {
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(message, sizeof message, "the offsets were not committed in time%s%.200s",
                     commit->last_error[0] != '\0' ? " (last error: " : "",
                     commit->last_error[0] != '\0' ? commit->last_error : "");
            if (commit->last_error[0] != '\0') {
                snprintf(message + strlen(message), sizeof message - strlen(message), ")");
            }
            if (!commit->in_flight) {
                commit_end(client, commit, ETHER_ERR_TIMED_OUT, message);
            } else if (commit->waiter != NULL) {
                /* The answer will still be read; the caller goes on now. */
                client_waiter_finish(client, commit->waiter, ETHER_ERR_TIMED_OUT, message);
                commit->waiter = NULL;
            }
        } else if (!commit->in_flight && now_ms >= commit->retry_at_ms) {
            send_commit(client, commit, now_ms);
        }
        commit = next;
    }
}
