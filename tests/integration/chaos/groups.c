/*
 * groups.c: a consumer group in the chaos workload, and its checks.
 *
 * Happy path: group_members_count threads each own a libether client
 * subscribed to the topic in group "ether-chaos" (auto_offset_reset
 * earliest, auto-commit every 500 ms of what the thread came back from, so
 * every commit follows the processing of what it covers). Each member
 * records every record it reads. A watcher thread samples the group's
 * committed offsets (ether_group_describe) twice a second. At the end the
 * members keep reading until the group has committed every partition's final
 * end, then leave.
 *
 * The protocol of the group comes from the seed: odd seeds use cooperative
 * rebalancing with the sticky assignor, even seeds eager with range.
 *
 * Checks (chaos_groups_check), against the final log read through the first
 * replica:
 *   phantom    a member read a record the final log does not hold at that
 *              offset;
 *   unread     an offset of the final log no member ever read (the group
 *              must process every record at least once);
 *   backward   a sampled committed offset lower than an earlier sample of
 *              the same partition;
 *   unfinished the group's last committed offsets are not the final ends.
 * Records read more than once (after a member lost its partitions without
 * committing) are counted, not a violation: that is at-least-once.
 */
#include "tests/integration/chaos/chaos.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SAMPLE_INTERVAL_MS = 500,
    GROUP_REQUEST_TIMEOUT_MS = 5000,
    GROUP_FINISH_TIMEOUT_MS = 180000,
    ERRORS_LOGGED_MAX = 20,
};

static const char *const GROUP_NAME = "ether-chaos";

static bool grow(void **array, size_t *capacity, size_t element_bytes, size_t needed)
{
    if (needed <= *capacity) {
        return true;
    }
    size_t bigger = *capacity > 0 ? *capacity * 2 : 4096;
    while (bigger < needed) {
        bigger *= 2;
    }
    void *grown = realloc(*array, bigger * element_bytes);
    if (grown == NULL) {
        return false;
    }
    *array = grown;
    *capacity = bigger;
    return true;
}

static struct ether_client *group_client_new(const struct chaos_options *options, bool member,
                                             char *errstr, size_t errstr_size)
{
    bool cooperative = options->seed % 2 == 1;
    struct {
        const char *name;
        const char *value;
    } settings[] = {
        {"brokers", options->brokers},
        {"client_id", member ? "ether-chaos-member" : "ether-chaos-watcher"},
        {"group_id", GROUP_NAME},
        {"group_protocol", cooperative ? "cooperative" : "eager"},
        {"group_assignor", cooperative ? "sticky" : "range"},
        {"session_timeout_ms", "6000"},
        {"heartbeat_interval_ms", "1000"},
        {"rebalance_timeout_ms", "15000"},
        {"enable_auto_commit", "true"},
        {"auto_commit_interval_ms", "500"},
        {"auto_offset_reset", "earliest"},
        {"request_timeout_ms", "5000"},
        {"metadata_max_age_ms", "5000"},
        {"fetch_max_wait_ms", "200"},
    };
    struct ether_config *config = ether_config_new();
    if (config == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (ether_config_set(config, settings[i].name, settings[i].value, errstr, errstr_size) !=
            ETHER_OK) {
            ether_config_free(config);
            return NULL;
        }
    }
    struct ether_client *client = ether_client_new(config, errstr, errstr_size);
    ether_config_free(config);
    return client;
}

static void member_fail(struct chaos_group_member *member, int error, const char *message)
{
    member->fatal_error = error;
    snprintf(member->fatal_message, sizeof member->fatal_message, "%s", message);
    fprintf(stderr, "chaos: group member %d stopped: %s\n", member->index, message);
}

static void *member_main(void *argument)
{
    struct chaos_group_member *member = argument;
    struct chaos_run *run = member->run;
    const struct chaos_options *options = &run->options;
    char errstr[CHAOS_ERRSTR_BYTES];
    struct ether_client *client = group_client_new(options, true, errstr, sizeof errstr);
    if (client == NULL) {
        member_fail(member, ETHER_ERR_INVALID_ARGUMENT, errstr);
        return NULL;
    }
    const char *topics[] = {options->topic};
    if (ether_subscribe(client, topics, 1, errstr, sizeof errstr) != ETHER_OK) {
        member_fail(member, ETHER_ERR_INVALID_ARGUMENT, errstr);
        ether_client_destroy(client);
        return NULL;
    }
    while (member->fatal_error == 0 && !atomic_load(&run->stop_group)) {
        struct ether_message *message = ether_consume(client, 100);
        if (message == NULL) {
            continue;
        }
        if (message->error != ETHER_OK) {
            if (member->errors_count++ < ERRORS_LOGGED_MAX) {
                fprintf(stderr, "chaos: %7.1fs group member %d partition %d: %s: %s\n",
                        (double)chaos_now_ms() / 1000.0, member->index, (int)message->partition,
                        ether_error_name(message->error), message->error_message);
            }
        } else if (message->partition < 0 || message->partition >= options->partitions_count ||
                   !grow((void **)&member->reads, &member->reads_capacity, sizeof member->reads[0],
                         member->reads_count + 1)) {
            member_fail(member, ETHER_ERR_NO_MEMORY, "a bad partition or out of memory");
        } else {
            int64_t send_ms = 0;
            member->reads[member->reads_count++] = (struct chaos_read){
                .offset = message->offset,
                .id = chaos_value_parse(message->value, message->value_bytes,
                                        (size_t)options->value_bytes, &send_ms),
                .read_ms = chaos_now_ms(),
                .send_ms = send_ms,
                .partition = message->partition,
            };
        }
        ether_message_free(message);
    }
    /* Commits what was read and leaves, so the others need no session timeout. */
    ether_unsubscribe(client, GROUP_REQUEST_TIMEOUT_MS);
    ether_client_destroy(client);
    return NULL;
}

static void *watcher_main(void *argument)
{
    struct chaos_run *run = argument;
    struct chaos_group_watch *watch = &run->group_watch;
    char errstr[CHAOS_ERRSTR_BYTES];
    struct ether_client *admin = group_client_new(&run->options, false, errstr, sizeof errstr);
    if (admin == NULL) {
        fprintf(stderr, "chaos: group watcher: %s\n", errstr);
        watch->failed = true;
        return NULL;
    }
    while (!atomic_load(&run->stop_group)) {
        struct ether_group_description *description = NULL;
        int64_t now_ms = chaos_now_ms();
        if (ether_group_describe(admin, GROUP_NAME, GROUP_REQUEST_TIMEOUT_MS, &description, errstr,
                                 sizeof errstr) == ETHER_OK) {
            for (size_t i = 0; i < description->partition_count; i++) {
                const struct ether_group_partition_info *info = &description->partitions[i];
                if (strcmp(info->topic, run->options.topic) != 0 || info->partition < 0 ||
                    info->partition >= run->options.partitions_count) {
                    continue;
                }
                if (!grow((void **)&watch->samples, &watch->samples_capacity,
                          sizeof watch->samples[0], watch->samples_count + 1)) {
                    watch->failed = true;
                    break;
                }
                watch->samples[watch->samples_count++] = (struct chaos_commit_sample){
                    .sample_ms = now_ms,
                    .partition = info->partition,
                    .committed = info->committed_offset,
                };
                atomic_store(&run->group_committed[info->partition], info->committed_offset);
            }
            ether_group_description_free(description);
        }
        chaos_sleep_ms(SAMPLE_INTERVAL_MS);
    }
    ether_client_destroy(admin);
    return NULL;
}

int chaos_groups_start(struct chaos_run *run)
{
    atomic_init(&run->stop_group, false);
    for (int p = 0; p < CHAOS_PARTITIONS_MAX; p++) {
        atomic_init(&run->group_committed[p], -1);
    }
    if (run->options.group_members_count == 0) {
        return 0;
    }
    if (pthread_create(&run->group_watch.thread, NULL, watcher_main, run) != 0) {
        fprintf(stderr, "chaos: cannot start the group watcher\n");
        return -1;
    }
    run->group_watch.started = true;
    for (int m = 0; m < run->options.group_members_count; m++) {
        struct chaos_group_member *member = &run->group_members[m];
        member->run = run;
        member->index = m;
        if (pthread_create(&member->thread, NULL, member_main, member) != 0) {
            fprintf(stderr, "chaos: cannot start group member %d\n", m);
            return -1;
        }
    }
    return 0;
}

static bool group_reached(const struct chaos_run *run, const int64_t *end_offsets)
{
    for (int p = 0; p < run->options.partitions_count; p++) {
        if (atomic_load(&run->group_committed[p]) < end_offsets[p]) {
            return false;
        }
    }
    return true;
}

void chaos_groups_stop(struct chaos_run *run, const int64_t *end_offsets)
{
    if (run->options.group_members_count == 0) {
        return;
    }
    int64_t deadline_ms = chaos_now_ms() + GROUP_FINISH_TIMEOUT_MS;
    while (!group_reached(run, end_offsets) && chaos_now_ms() < deadline_ms) {
        chaos_sleep_ms(200);
    }
    printf("chaos: %7.1fs the group %s every partition's end; members leave\n",
           (double)chaos_now_ms() / 1000.0,
           group_reached(run, end_offsets) ? "committed" : "did NOT commit");
    atomic_store(&run->stop_group, true);
    for (int m = 0; m < run->options.group_members_count; m++) {
        pthread_join(run->group_members[m].thread, NULL);
    }
    if (run->group_watch.started) {
        pthread_join(run->group_watch.thread, NULL);
    }
}

static int compare_samples(const void *a, const void *b)
{
    const struct chaos_commit_sample *left = a;
    const struct chaos_commit_sample *right = b;
    if (left->partition != right->partition) {
        return left->partition < right->partition ? -1 : 1;
    }
    return (left->sample_ms > right->sample_ms) - (left->sample_ms < right->sample_ms);
}

size_t chaos_groups_check(struct chaos_run *run, const struct chaos_final_log *logs,
                          const int64_t *end_offsets)
{
    const struct chaos_options *options = &run->options;
    if (options->group_members_count == 0) {
        return 0;
    }
    size_t phantom = 0;
    size_t unread = 0;
    size_t backward = 0;
    size_t unfinished = 0;
    size_t reads = 0;
    size_t reread = 0;
    size_t member_failures = 0;
    size_t harness = run->group_watch.failed ? 1 : 0;
    uint32_t *read_counts[CHAOS_PARTITIONS_MAX] = {NULL};
    for (int p = 0; p < options->partitions_count; p++) {
        read_counts[p] =
            calloc((size_t)(end_offsets[p] > 0 ? end_offsets[p] : 1), sizeof(uint32_t));
        if (read_counts[p] == NULL) {
            harness++;
        }
    }
    for (int m = 0; m < options->group_members_count; m++) {
        const struct chaos_group_member *member = &run->group_members[m];
        member_failures += member->fatal_error != 0;
        for (size_t i = 0; i < member->reads_count; i++) {
            const struct chaos_read *read = &member->reads[i];
            int p = read->partition;
            reads++;
            if (read->offset < 0 || read->offset >= logs[p].end ||
                logs[p].ids[read->offset] == CHAOS_NOT_READ) {
                continue; /* beyond the final read: the final log check covers the log */
            }
            if (logs[p].ids[read->offset] != read->id) {
                if (phantom++ < ERRORS_LOGGED_MAX) {
                    printf("chaos: group phantom: member %d read id %" PRIx64 " at %d/%" PRId64
                           ", the log holds %" PRIx64 "\n",
                           m, read->id, p, read->offset, logs[p].ids[read->offset]);
                }
            }
            if (read_counts[p] != NULL && read->offset < end_offsets[p] &&
                read_counts[p][read->offset]++ > 0) {
                reread++;
            }
        }
    }
    for (int p = 0; p < options->partitions_count && read_counts[p] != NULL; p++) {
        for (int64_t o = 0; o < end_offsets[p]; o++) {
            if (read_counts[p][o] == 0 && unread++ < ERRORS_LOGGED_MAX) {
                printf("chaos: group unread: partition %d offset %" PRId64 "\n", p, o);
            }
        }
        free(read_counts[p]);
    }
    struct chaos_group_watch *watch = &run->group_watch;
    qsort(watch->samples, watch->samples_count, sizeof watch->samples[0], compare_samples);
    int64_t last_committed[CHAOS_PARTITIONS_MAX];
    for (int p = 0; p < CHAOS_PARTITIONS_MAX; p++) {
        last_committed[p] = -1;
    }
    for (size_t i = 0; i < watch->samples_count; i++) {
        const struct chaos_commit_sample *sample = &watch->samples[i];
        if (sample->committed < last_committed[sample->partition] &&
            backward++ < ERRORS_LOGGED_MAX) {
            printf("chaos: group committed offset went backward: partition %d from %" PRId64
                   " to %" PRId64 " at %.1fs\n",
                   sample->partition, last_committed[sample->partition], sample->committed,
                   (double)sample->sample_ms / 1000.0);
        }
        if (sample->committed > last_committed[sample->partition]) {
            last_committed[sample->partition] = sample->committed;
        }
    }
    for (int p = 0; p < options->partitions_count; p++) {
        if (atomic_load(&run->group_committed[p]) != end_offsets[p]) {
            unfinished++;
        }
    }
    printf("chaos: group (%s): %d members, %zu records read, %zu read again (at least once), "
           "%zu commit samples; phantom %zu, unread %zu, committed offsets backward %zu, "
           "partitions unfinished %zu, members stopped %zu\n",
           options->seed % 2 == 1 ? "cooperative sticky" : "eager range",
           options->group_members_count, reads, reread, watch->samples_count, phantom, unread,
           backward, unfinished, member_failures);
    return phantom + unread + backward + unfinished + member_failures + harness;
}

void chaos_groups_free(struct chaos_run *run)
{
    for (int m = 0; m < run->options.group_members_count; m++) {
        free(run->group_members[m].reads);
    }
    free(run->group_watch.samples);
}
