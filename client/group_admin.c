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

static char *unconst(const char *text)
{
    return (char *)(uintptr_t)text;
}

static uint32_t op_timeout(int timeout_ms)
{
    return timeout_ms < 0 ? UINT32_MAX / 2 : (uint32_t)timeout_ms;
}

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
    wanted.topic = unconst(topic);
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
        .timeout_ms = op_timeout(timeout_ms),
    };
    return client_op_run(client, &op, errstr, errstr_size);
}
