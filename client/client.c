/*
 * client.c: the handle, its I/O thread and the queues between the threads.
 *
 * Happy path: an application thread calls ether_produce (or assign, or an
 * admin call); the call copies its arguments, appends them to a queue under
 * the mutex and wakes the I/O thread with uv_async_send. The I/O thread takes
 * the queues (client_run), lets the producer, consumer and ops modules act,
 * and hands results back through the mutex-protected report and message
 * queues, signalling `changed`. ether_poll / ether_consume wait on `changed`.
 * A repeating CLIENT_TICK_MS timer runs the same client_run for linger,
 * retries and timeouts.
 *
 * Failure modes: the I/O thread never blocks and never calls application
 * code. Destroy sets `stopping`; the loop closes every connection and handle
 * and the thread ends; the destroying thread then frees what is left.
 */
#include "client/client_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/tls.h"

/* The public copy of the error table must equal common/error.h's, name for name. */
#define SAME_NUMBER(name, number) \
    _Static_assert(ETHER_##name == (number), "ether.h disagrees with common/error.h: " #name);
ETHER_PUBLIC_ERRORS(SAME_NUMBER)
#undef SAME_NUMBER
#define COUNT_PUBLIC(name, number)          +1
#define COUNT_COMMON(name, number, message) +1
enum {
    PUBLIC_ERRORS_COUNT = 0 ETHER_PUBLIC_ERRORS(COUNT_PUBLIC),
    COMMON_ERRORS_COUNT = 0 ETHER_ERROR_MAP(COUNT_COMMON),
};
#undef COUNT_PUBLIC
#undef COUNT_COMMON
_Static_assert(PUBLIC_ERRORS_COUNT == COMMON_ERRORS_COUNT,
               "ether.h must list every code of common/error.h");

/* ---- configuration ------------------------------------------------------------------- */

const char *ether_version(void)
{
    return ETHER_VERSION_STRING;
}

struct ether_config *ether_config_new(void)
{
    struct ether_config *config = ether_calloc(1, sizeof *config);
    client_settings_init(&config->settings);
    return config;
}

void ether_config_free(struct ether_config *config)
{
    if (config != NULL) {
        client_settings_free(&config->settings);
        ether_free(config);
    }
}

int ether_config_set(struct ether_config *config, const char *name, const char *value, char *errstr,
                     size_t errstr_size)
{
    if (config == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "configuration is NULL");
    }
    return client_settings_set(&config->settings, name, value, errstr, errstr_size);
}

void ether_config_set_delivery_callback(struct ether_config *config, ether_delivery_fn *callback,
                                        void *callback_context)
{
    ETHER_ASSERT(config != NULL);
    config->settings.delivery_callback = callback;
    config->settings.delivery_context = callback_context;
}

void ether_config_set_commit_callback(struct ether_config *config, ether_commit_fn *callback,
                                      void *callback_context)
{
    ETHER_ASSERT(config != NULL);
    config->settings.commit_callback = callback;
    config->settings.commit_context = callback_context;
}

void ether_topic_partitions_free(struct ether_topic_partition *partitions, size_t count)
{
    if (partitions == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        ether_free((void *)(uintptr_t)partitions[i].topic);
    }
    ether_free(partitions);
}

uint64_t client_now_ms(void)
{
    return ether_clock_monotonic_ns() / 1000000u;
}

/* ---- topics ---------------------------------------------------------------------------- */

static struct client_topic *topic_get_locked(struct ether_client *client, const char *name)
{
    for (struct client_topic *topic = client->topics; topic != NULL; topic = topic->next) {
        if (strcmp(topic->name, name) == 0) {
            return topic;
        }
    }
    struct client_topic *topic = ether_calloc(1, sizeof *topic);
    topic->name = ether_strdup(name);
    topic->next = client->topics;
    client->topics = topic;
    return topic;
}

struct client_topic *client_topic_get(struct ether_client *client, const char *name)
{
    pthread_mutex_lock(&client->mutex);
    struct client_topic *topic = topic_get_locked(client, name);
    pthread_mutex_unlock(&client->mutex);
    return topic;
}

struct client_topic *client_topics_head(struct ether_client *client)
{
    pthread_mutex_lock(&client->mutex);
    struct client_topic *head = client->topics;
    pthread_mutex_unlock(&client->mutex);
    return head;
}

/* ---- the I/O thread -------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void shut_down_on_loop(struct ether_client *client)
{
    if (client->io_stopping) {
        return;
    }
    client->io_stopping = true;
    client_conns_close_all(client);
    uv_timer_stop(&client->tick);
    uv_close((uv_handle_t *)&client->tick, on_handle_closed);
    uv_close((uv_handle_t *)&client->wakeup, on_handle_closed);
}

/* Hands the calls to the group in order; those it cannot take yet go back to the queue's head. */
static void accept_group_calls(struct ether_client *client, struct client_group_call *calls,
                               uint64_t now_ms)
{
    while (calls != NULL) {
        struct client_group_call *next = calls->next;
        calls->next = NULL;
        if (!client_group_accept(client, calls, now_ms)) {
            calls->next = next;
            pthread_mutex_lock(&client->mutex);
            struct client_group_call *tail = calls;
            while (tail->next != NULL) {
                tail = tail->next;
            }
            tail->next = client->group_calls_head;
            if (client->group_calls_head == NULL) {
                client->group_calls_tail = tail;
            }
            client->group_calls_head = calls;
            pthread_mutex_unlock(&client->mutex);
            return;
        }
        calls = next;
    }
}

static void client_run(struct ether_client *client)
{
    pthread_mutex_lock(&client->mutex);
    if (client->stopping) {
        pthread_mutex_unlock(&client->mutex);
        shut_down_on_loop(client);
        return;
    }
    struct client_record_queue incoming = client->incoming;
    memset(&client->incoming, 0, sizeof client->incoming);
    struct client_command *commands = client->commands_head;
    client->commands_head = NULL;
    client->commands_tail = NULL;
    struct client_op *ops = client->ops_incoming;
    client->ops_incoming = NULL;
    struct client_group_call *group_calls = client->group_calls_head;
    client->group_calls_head = NULL;
    client->group_calls_tail = NULL;
    uint64_t flush_requests = client->flush_requests;
    pthread_mutex_unlock(&client->mutex);

    uint64_t now_ms = client_now_ms();
    client_producer_accept(client, &incoming);
    while (commands != NULL) {
        struct client_command *next = commands->next;
        client_consumer_command(client, commands);
        commands = next;
    }
    while (ops != NULL) {
        struct client_op *next = ops->next;
        client_ops_accept(client, ops, now_ms);
        ops = next;
    }
    accept_group_calls(client, group_calls, now_ms);
    if (flush_requests != client->flush_requests_seen) {
        client->flush_requests_seen = flush_requests;
        client->flushing = true;
    }
    client_conns_check_timeouts(client, now_ms);
    client_metadata_service(client, now_ms);
    client_producer_id_service(client, now_ms);
    client_producer_service(client, now_ms);
    client_consumer_service(client, now_ms);
    client_group_service(client, now_ms);
    client_ops_service(client, now_ms);
}

static void on_wakeup(uv_async_t *async)
{
    client_run(async->data);
}

static void on_tick(uv_timer_t *timer)
{
    client_run(timer->data);
}

static void *io_thread_main(void *argument)
{
    struct ether_client *client = argument;
    /* A write to a connection the broker closed gives EPIPE here (the connection fails and
     * is retried), not a SIGPIPE that would end the application. SIGPIPE is sent to the
     * writing thread, and only this thread (and libuv's threads it starts) writes sockets. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    uv_run(&client->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- handing results to application threads --------------------------------------------- */

void client_report_records(struct ether_client *client, struct client_record_queue *records)
{
    if (records->count == 0) {
        return;
    }
    pthread_mutex_lock(&client->mutex);
    client_record_queue_append(&client->reports, records);
    pthread_cond_broadcast(&client->changed);
    pthread_mutex_unlock(&client->mutex);
}

void client_fail_records(struct ether_client *client, struct client_record_queue *records,
                         int error, const char *message)
{
    ETHER_ASSERT(error != ETHER_OK);
    for (struct client_record *record = records->head; record != NULL; record = record->next) {
        record->error = error;
        record->offset = -1;
        ether_free(record->error_message);
        record->error_message = ether_strdup(message != NULL ? message : ether_strerror(error));
    }
    client_report_records(client, records);
}

void client_messages_purge_locked(struct ether_client *client, const struct client_owned *owned)
{
    struct client_message *tail = NULL;
    for (struct client_message **link = &client->messages_head; *link != NULL;) {
        struct client_message *message = *link;
        if (message->owned == owned) {
            *link = message->next;
            client->messages_count--;
            ether_free(message);
        } else {
            tail = message;
            link = &message->next;
        }
    }
    client->messages_tail = tail;
}

void client_commit_report_queue(struct ether_client *client, struct client_commit_report *report)
{
    pthread_mutex_lock(&client->mutex);
    if (client->commit_reports_tail == NULL) {
        client->commit_reports_head = report;
    } else {
        client->commit_reports_tail->next = report;
    }
    client->commit_reports_tail = report;
    pthread_cond_broadcast(&client->changed);
    pthread_mutex_unlock(&client->mutex);
}

static void commit_report_free(struct client_commit_report *report)
{
    ether_topic_partitions_free(report->offsets, report->count);
    ether_free(report);
}

/* Calls the commit callback for every finished background commit; returns how many. */
static int serve_commit_reports(struct ether_client *client)
{
    pthread_mutex_lock(&client->mutex);
    struct client_commit_report *reports = client->commit_reports_head;
    client->commit_reports_head = NULL;
    client->commit_reports_tail = NULL;
    pthread_mutex_unlock(&client->mutex);
    int served = 0;
    while (reports != NULL) {
        struct client_commit_report *next = reports->next;
        if (client->settings.commit_callback != NULL) {
            client->settings.commit_callback(client->settings.commit_context, reports->error,
                                             reports->message, reports->offsets, reports->count);
        }
        commit_report_free(reports);
        served++;
        reports = next;
    }
    return served;
}

void client_deliver_messages(struct ether_client *client, struct client_message *head,
                             struct client_message *tail, size_t count)
{
    if (head == NULL) {
        return;
    }
    pthread_mutex_lock(&client->mutex);
    if (client->messages_tail == NULL) {
        client->messages_head = head;
    } else {
        client->messages_tail->next = head;
    }
    client->messages_tail = tail;
    client->messages_count += count;
    pthread_cond_broadcast(&client->changed);
    pthread_mutex_unlock(&client->mutex);
}

bool client_messages_have_room(struct ether_client *client)
{
    pthread_mutex_lock(&client->mutex);
    bool room = client->messages_count < client->settings.consume_queue_max;
    pthread_mutex_unlock(&client->mutex);
    return room;
}

void client_op_finish(struct ether_client *client, struct client_op *op)
{
    pthread_mutex_lock(&client->mutex);
    op->done = true;
    pthread_cond_broadcast(&client->changed);
    pthread_mutex_unlock(&client->mutex);
}

/* ---- the handle -------------------------------------------------------------------------- */

struct ether_client *ether_client_new(const struct ether_config *config, char *errstr,
                                      size_t errstr_size)
{
    if (config == NULL) {
        client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT, "configuration is NULL");
        return NULL;
    }
    if (client_settings_check(&config->settings, errstr, errstr_size) != ETHER_OK) {
        return NULL;
    }
    struct ether_client *client = ether_calloc(1, sizeof *client);
    client_settings_copy(&client->settings, &config->settings);
    if (client_parse_brokers(client->settings.brokers, &client->bootstrap, &client->bootstrap_count,
                             errstr, errstr_size) != ETHER_OK) {
        goto err_after_settings;
    }
    if (client_tls_config_new(&client->settings, &client->tls_config, errstr, errstr_size) !=
        ETHER_OK) {
        goto err_after_bootstrap;
    }
    uint64_t seed = client->settings.seed != 0 ? client->settings.seed
                                               : ether_clock_monotonic_ns() ^ (uintptr_t)client;
    client_backoff_init(&client->backoff, client->settings.retry_backoff_ms,
                        client->settings.retry_backoff_max_ms, seed);
    for (size_t i = client->bootstrap_count; i > 0; i--) {
        struct client_broker *broker = ether_calloc(1, sizeof *broker);
        broker->host = ether_strdup(client->bootstrap[i - 1].host);
        broker->port = client->bootstrap[i - 1].port;
        broker->rack = ether_strdup("");
        broker->next = client->brokers;
        client->brokers = broker;
    }
    client->next_correlation_id = 1;
    client_producer_id_init(client);
    client_group_init(client);

    pthread_condattr_t condattr;
    pthread_condattr_init(&condattr);
    pthread_condattr_setclock(&condattr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&client->changed, &condattr);
    pthread_condattr_destroy(&condattr);
    if (rc != 0) {
        client_error(errstr, errstr_size, ETHER_ERR_NO_MEMORY, "cannot create a condition: %s",
                     strerror(rc));
        goto err_after_brokers;
    }
    pthread_mutex_init(&client->mutex, NULL);
    rc = uv_loop_init(&client->loop);
    if (rc != 0) {
        client_error(errstr, errstr_size, ETHER_ERR_IO, "cannot create the I/O loop: %s",
                     uv_strerror(rc));
        goto err_after_mutex;
    }
    rc = uv_async_init(&client->loop, &client->wakeup, on_wakeup);
    if (rc != 0) {
        client_error(errstr, errstr_size, ETHER_ERR_IO, "cannot create the wake-up handle: %s",
                     uv_strerror(rc));
        goto err_after_loop;
    }
    client->wakeup.data = client;
    uv_timer_init(&client->loop, &client->tick);
    client->tick.data = client;
    uv_timer_start(&client->tick, on_tick, CLIENT_TICK_MS, CLIENT_TICK_MS);
    rc = pthread_create(&client->thread, NULL, io_thread_main, client);
    if (rc != 0) {
        client_error(errstr, errstr_size, ETHER_ERR_NO_MEMORY, "cannot start the I/O thread: %s",
                     strerror(rc));
        goto err_after_handles;
    }
    return client;

err_after_handles:
    uv_close((uv_handle_t *)&client->tick, NULL);
    uv_close((uv_handle_t *)&client->wakeup, NULL);
    uv_run(&client->loop, UV_RUN_DEFAULT);
err_after_loop:
    uv_loop_close(&client->loop);
err_after_mutex:
    pthread_mutex_destroy(&client->mutex);
    pthread_cond_destroy(&client->changed);
err_after_brokers:
    client_group_free(client);
    client_producer_id_free(client);
    while (client->brokers != NULL) {
        struct client_broker *next = client->brokers->next;
        ether_free(client->brokers->host);
        ether_free(client->brokers->rack);
        ether_free(client->brokers);
        client->brokers = next;
    }
    ether_tls_config_free(client->tls_config);
err_after_bootstrap:
    client_addresses_free(client->bootstrap, client->bootstrap_count);
err_after_settings:
    client_settings_free(&client->settings);
    ether_free(client);
    return NULL;
}

static void free_record_queue(struct client_record_queue *queue)
{
    struct client_record *record;
    while ((record = client_record_queue_pop(queue)) != NULL) {
        client_record_free(record);
    }
}

void ether_client_destroy(struct ether_client *client)
{
    if (client == NULL) {
        return;
    }
    client_group_close(client);
    pthread_mutex_lock(&client->mutex);
    client->stopping = true;
    pthread_mutex_unlock(&client->mutex);
    uv_async_send(&client->wakeup);
    pthread_join(client->thread, NULL);
    int rc = uv_loop_close(&client->loop);
    ETHER_ASSERT(rc == 0);

    client_producer_drop_all(client);
    ETHER_ASSERT(client->producer_id->stamped_unresolved == 0);
    client_producer_id_free(client);
    client_consumer_free_all(client);
    client_group_free(client);
    struct client_owned *lists[] = {client->owned, client->given_up};
    for (size_t l = 0; l < 2; l++) {
        while (lists[l] != NULL) {
            struct client_owned *next = lists[l]->next;
            ether_free(lists[l]);
            lists[l] = next;
        }
    }
    while (client->group_calls_head != NULL) {
        struct client_group_call *next = client->group_calls_head->next;
        client_group_call_free(client->group_calls_head);
        client->group_calls_head = next;
    }
    while (client->commit_reports_head != NULL) {
        struct client_commit_report *next = client->commit_reports_head->next;
        commit_report_free(client->commit_reports_head);
        client->commit_reports_head = next;
    }
    ETHER_ASSERT(client->ops == NULL);
    free_record_queue(&client->incoming);
    free_record_queue(&client->reports);
    while (client->commands_head != NULL) {
        struct client_command *next = client->commands_head->next;
        ether_free(client->commands_head);
        client->commands_head = next;
    }
    while (client->messages_head != NULL) {
        struct client_message *next = client->messages_head->next;
        ether_free(client->messages_head);
        client->messages_head = next;
    }
    while (client->topics != NULL) {
        struct client_topic *next = client->topics->next;
        ether_free(client->topics->partitions);
        ether_free(client->topics->name);
        ether_free(client->topics);
        client->topics = next;
    }
    while (client->brokers != NULL) {
        struct client_broker *next = client->brokers->next;
        ETHER_ASSERT(client->brokers->conn == NULL);
        ether_free(client->brokers->host);
        ether_free(client->brokers->rack);
        ether_free(client->brokers);
        client->brokers = next;
    }
    ether_buf_free(&client->scratch);
    ether_free(client->tls_read_buffer);
    ether_tls_config_free(client->tls_config);
    client_addresses_free(client->bootstrap, client->bootstrap_count);
    pthread_mutex_destroy(&client->mutex);
    pthread_cond_destroy(&client->changed);
    client_settings_free(&client->settings);
    ether_free(client);
}

/* An absolute CLOCK_MONOTONIC deadline timeout_ms from now. */
static struct timespec deadline_after(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

/* Waits on `changed` (mutex held) until the deadline; false once it passed. */
static bool wait_changed(struct ether_client *client, int timeout_ms,
                         const struct timespec *deadline)
{
    if (timeout_ms == 0) {
        return false;
    }
    if (timeout_ms < 0) {
        pthread_cond_wait(&client->changed, &client->mutex);
        return true;
    }
    return pthread_cond_timedwait(&client->changed, &client->mutex, deadline) != ETIMEDOUT;
}

/* ---- producing ------------------------------------------------------------------------- */

int ether_produce(struct ether_client *client, const char *topic, int32_t partition,
                  const void *key, size_t key_bytes, const void *value, size_t value_bytes,
                  int64_t timestamp_ms, void *record_context)
{
    if (client == NULL || topic == NULL || topic[0] == '\0' || partition < ETHER_PARTITION_ANY ||
        (key == NULL && key_bytes != 0) || (value == NULL && value_bytes != 0)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (PROTO_BATCH_HEADER_BYTES + client_record_batch_bytes(key_bytes, value_bytes) >
        client->settings.batch_bytes) {
        return ETHER_ERR_TOO_LARGE;
    }
    struct client_record *record = client_record_new(key, key_bytes, value, value_bytes);
    record->partition = partition;
    record->timestamp_ms = timestamp_ms != 0 ? timestamp_ms : ether_clock_wall_ms();
    record->enqueued_ms = client_now_ms();
    record->context = record_context;

    pthread_mutex_lock(&client->mutex);
    if (client->stopping) {
        pthread_mutex_unlock(&client->mutex);
        client_record_free(record);
        return ETHER_ERR_CLOSED;
    }
    if (client->producer_error != ETHER_OK) {
        int error = client->producer_error;
        pthread_mutex_unlock(&client->mutex);
        client_record_free(record);
        return error;
    }
    if (client->outstanding_count >= client->settings.queue_records_max) {
        pthread_mutex_unlock(&client->mutex);
        client_record_free(record);
        return ETHER_ERR_BUSY;
    }
    record->topic = topic_get_locked(client, topic);
    client_record_queue_push(&client->incoming, record);
    client->outstanding_count++;
    bool first = client->incoming.count == 1;
    pthread_mutex_unlock(&client->mutex);
    if (first || client->settings.linger_ms == 0) {
        uv_async_send(&client->wakeup);
    }
    return ETHER_OK;
}

int ether_poll(struct ether_client *client, int timeout_ms)
{
    ETHER_ASSERT(client != NULL);
    struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&client->mutex);
    while (client->reports.count == 0 && client->commit_reports_head == NULL) {
        if (!wait_changed(client, timeout_ms, &deadline)) {
            break;
        }
    }
    struct client_record_queue reports = client->reports;
    memset(&client->reports, 0, sizeof client->reports);
    pthread_mutex_unlock(&client->mutex);

    int commits_served = serve_commit_reports(client);
    int served = 0;
    struct client_record *record;
    while ((record = client_record_queue_pop(&reports)) != NULL) {
        if (client->settings.delivery_callback != NULL) {
            struct ether_delivery delivery = {
                .error = record->error,
                .error_message = record->error_message != NULL ? record->error_message : "",
                .topic = record->topic->name,
                .partition = record->partition,
                .offset = record->offset,
                .timestamp_ms = record->timestamp_ms,
                .key_bytes = record->key_bytes,
                .value_bytes = record->value_bytes,
                .record_context = record->context,
            };
            client->settings.delivery_callback(client->settings.delivery_context, &delivery);
        }
        client_record_free(record);
        served++;
    }
    if (served > 0) {
        pthread_mutex_lock(&client->mutex);
        ETHER_ASSERT(client->outstanding_count >= (size_t)served);
        client->outstanding_count -= (size_t)served;
        pthread_cond_broadcast(&client->changed);
        pthread_mutex_unlock(&client->mutex);
    }
    return served + commits_served;
}

size_t ether_outstanding_count(struct ether_client *client)
{
    ETHER_ASSERT(client != NULL);
    pthread_mutex_lock(&client->mutex);
    size_t count = client->outstanding_count;
    pthread_mutex_unlock(&client->mutex);
    return count;
}

int ether_flush(struct ether_client *client, int timeout_ms)
{
    ETHER_ASSERT(client != NULL);
    uint64_t start_ms = client_now_ms();
    pthread_mutex_lock(&client->mutex);
    client->flush_requests++;
    pthread_mutex_unlock(&client->mutex);
    uv_async_send(&client->wakeup);
    for (;;) {
        int slice_ms = 100;
        if (timeout_ms >= 0) {
            uint64_t elapsed_ms = client_now_ms() - start_ms;
            if (elapsed_ms >= (uint64_t)timeout_ms) {
                slice_ms = 0;
            } else if ((uint64_t)timeout_ms - elapsed_ms < (uint64_t)slice_ms) {
                slice_ms = (int)((uint64_t)timeout_ms - elapsed_ms);
            }
        }
        ether_poll(client, slice_ms);
        if (ether_outstanding_count(client) == 0) {
            return ETHER_OK;
        }
        if (slice_ms == 0) {
            return ETHER_ERR_TIMED_OUT;
        }
    }
}

/* ---- consuming ------------------------------------------------------------------------- */

static int queue_command(struct ether_client *client, enum client_command_kind kind,
                         const char *topic, int32_t partition, int64_t offset, bool by_timestamp,
                         int64_t timestamp_ms)
{
    if (client == NULL || topic == NULL || topic[0] == '\0' || partition < 0 ||
        (!by_timestamp && offset < ETHER_OFFSET_BEGINNING)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&client->mutex);
    bool subscribed = client->subscribed;
    pthread_mutex_unlock(&client->mutex);
    if (subscribed) {
        return ETHER_ERR_INVALID_ARGUMENT; /* the group decides which partitions are read */
    }
    struct client_command *command = ether_calloc(1, sizeof *command);
    command->kind = kind;
    command->partition = (uint32_t)partition;
    command->offset = offset;
    command->by_timestamp = by_timestamp;
    command->timestamp_ms = timestamp_ms;
    pthread_mutex_lock(&client->mutex);
    command->topic = topic_get_locked(client, topic);
    if (client->commands_tail == NULL) {
        client->commands_head = command;
    } else {
        client->commands_tail->next = command;
    }
    client->commands_tail = command;
    pthread_mutex_unlock(&client->mutex);
    uv_async_send(&client->wakeup);
    return ETHER_OK;
}

int ether_assign(struct ether_client *client, const char *topic, int32_t partition, int64_t offset)
{
    return queue_command(client, CLIENT_COMMAND_ASSIGN, topic, partition, offset, false, 0);
}

int ether_assign_timestamp(struct ether_client *client, const char *topic, int32_t partition,
                           int64_t timestamp_ms)
{
    return queue_command(client, CLIENT_COMMAND_ASSIGN, topic, partition, 0, true, timestamp_ms);
}

int ether_unassign(struct ether_client *client, const char *topic, int32_t partition)
{
    return queue_command(client, CLIENT_COMMAND_UNASSIGN, topic, partition, 0, false, 0);
}

struct ether_message *ether_consume(struct ether_client *client, int timeout_ms)
{
    ETHER_ASSERT(client != NULL);
    struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    serve_commit_reports(client);
    pthread_mutex_lock(&client->mutex);
    client->in_hand_owned = NULL; /* the application came back: it processed the last one */
    while (client->messages_head == NULL) {
        if (client->commit_reports_head != NULL) {
            pthread_mutex_unlock(&client->mutex);
            serve_commit_reports(client);
            pthread_mutex_lock(&client->mutex);
            continue;
        }
        if (!wait_changed(client, timeout_ms, &deadline)) {
            break;
        }
    }
    struct client_message *message = client->messages_head;
    bool was_full = false;
    if (message != NULL) {
        was_full = client->messages_count >= client->settings.consume_queue_max;
        client->messages_head = message->next;
        if (client->messages_head == NULL) {
            client->messages_tail = NULL;
        }
        client->messages_count--;
        message->next = NULL;
        if (message->owned != NULL) {
            /* Consumed: the group partition's position moves past it (what commits send). */
            message->owned->consumed_offset = message->message.offset + 1;
            client->in_hand_owned = message->owned;
            client->in_hand_offset = message->message.offset;
            message->owned = NULL;
        }
    }
    pthread_mutex_unlock(&client->mutex);
    if (was_full) {
        uv_async_send(&client->wakeup);
    }
    return message != NULL ? &message->message : NULL;
}

void ether_message_free(struct ether_message *message)
{
    /* The public message is the first member of its client_message. */
    ether_free(message);
}

/* ---- synchronous ops --------------------------------------------------------------------- */

void client_ops_run_all(struct ether_client *client, struct client_op *ops, size_t count)
{
    pthread_mutex_lock(&client->mutex);
    bool stopping = client->stopping;
    for (size_t i = 0; i < count; i++) {
        struct client_op *op = &ops[i];
        ETHER_ASSERT(op->on_result != NULL);
        op->done = stopping;
        op->result = stopping ? ETHER_ERR_CLOSED : ETHER_OK;
        snprintf(op->message, sizeof op->message, "%s", stopping ? "the client is closing" : "");
        if (!stopping) {
            op->next = client->ops_incoming;
            client->ops_incoming = op;
        }
    }
    pthread_mutex_unlock(&client->mutex);
    uv_async_send(&client->wakeup);
    pthread_mutex_lock(&client->mutex);
    for (size_t i = 0; i < count; i++) {
        while (!ops[i].done) {
            pthread_cond_wait(&client->changed, &client->mutex);
        }
    }
    pthread_mutex_unlock(&client->mutex);
}

int client_op_run(struct ether_client *client, struct client_op *op, char *errstr,
                  size_t errstr_size)
{
    ETHER_ASSERT(op->on_result != NULL);
    op->next = NULL;
    op->done = false;
    op->result = ETHER_OK;
    op->message[0] = '\0';
    pthread_mutex_lock(&client->mutex);
    if (client->stopping) {
        pthread_mutex_unlock(&client->mutex);
        return client_error(errstr, errstr_size, ETHER_ERR_CLOSED, "the client is closing");
    }
    op->next = client->ops_incoming;
    client->ops_incoming = op;
    pthread_mutex_unlock(&client->mutex);
    uv_async_send(&client->wakeup);

    pthread_mutex_lock(&client->mutex);
    while (!op->done) {
        pthread_cond_wait(&client->changed, &client->mutex);
    }
    pthread_mutex_unlock(&client->mutex);
    if (op->result != ETHER_OK) {
        client_error(errstr, errstr_size, op->result, "%s",
                     op->message[0] != '\0' ? op->message : ether_strerror(op->result));
    } else if (errstr != NULL && errstr_size > 0) {
        errstr[0] = '\0';
    }
    return op->result;
}
