/*
 * http.c: happy path: accept -> read the request head into a fixed buffer ->
 * on the blank line, parse the request line -> render /health or /metrics
 * from the broker's state -> one uv_write with `Connection: close` -> close.
 *
 * Failure modes: a head larger than HTTP_REQUEST_HEAD_BYTES_MAX or without a
 * valid request line gets 400; a client that sends nothing for
 * HTTP_READ_TIMEOUT_MS, a read error or a write error closes the connection;
 * accept beyond HTTP_CONNECTIONS_MAX closes the new socket at once; stop
 * closes everything and frees the server after the last close callback.
 */
#include "broker/http.h"

#include "broker/broker_internal.h"
#include "broker/group.h"
#include "broker/metrics.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum {
    HTTP_REQUEST_HEAD_BYTES_MAX = 8 * 1024,
    HTTP_CONNECTIONS_MAX = 64,
    HTTP_READ_TIMEOUT_MS = 5000,
    HTTP_LISTEN_BACKLOG = 64,
};

struct http_connection {
    uv_tcp_t tcp;
    uv_timer_t read_timer;
    struct broker_http *http;
    uint32_t handles_open; /* tcp and read_timer until both close callbacks ran */
    bool closing;
    uv_write_t write;
    struct ether_buf response;
    size_t head_bytes;
    char head[HTTP_REQUEST_HEAD_BYTES_MAX];
    struct http_connection *previous;
    struct http_connection *next;
};

struct broker_http {
    uv_loop_t *loop;
    struct broker *broker;
    uv_tcp_t listener;
    struct http_connection *connections;
    uint32_t connections_count;
    uint32_t handles_open; /* the listener, plus one per connection not yet freed */
    bool stopping;
    void (*on_stopped)(void *context);
    void *on_stopped_context;
};

/* ---- rendering ----------------------------------------------------------------------------- */

static void append_format(struct ether_buf *buf, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void append_format(struct ether_buf *buf, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    int needed = vsnprintf(NULL, 0, format, arguments);
    va_end(arguments);
    ETHER_ASSERT(needed >= 0);
    char *start = (char *)ether_buf_extend(buf, (size_t)needed + 1);
    va_start(arguments, format);
    int written = vsnprintf(start, (size_t)needed + 1, format, arguments);
    va_end(arguments);
    ETHER_ASSERT(written == needed);
    buf->length--; /* the terminating NUL is not part of the body */
}

static void append_string(struct ether_buf *buf, const char *string)
{
    ether_buf_append(buf, string, strlen(string));
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static void append_label_value(struct ether_buf *buf, const char *value)
{
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == '\\') {
            append_string(buf, "\\\\");
        } else if (*c == '"') {
            append_string(buf, "\\\"");
        } else if (*c == '\n') {
            append_string(buf, "\\n");
        } else {
            ether_buf_append_u8(buf, (uint8_t)*c);
        }
    }
}

static void append_family(struct ether_buf *buf, const char *name, const char *type,
                          const char *help)
{
    append_format(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static bool partition_visible(const struct broker_partition *partition)
{
    return !partition->closing && partition->replica != NULL;
}

static void append_partition_sample(struct ether_buf *buf, const char *name,
                                    const struct broker_partition *partition, uint64_t value)
{
    append_format(buf, "%s{topic=\"", name);
    append_label_value(buf, partition->topic_name != NULL ? partition->topic_name : "");
    append_format(buf, "\",partition=\"%" PRIu32 "\"} %" PRIu64 "\n", partition->partition, value);
}

/* The replicas the controller assigned to the partition; 0 when the topic is gone. */
static uint32_t assigned_replicas_count(const struct broker *broker,
                                        const struct broker_partition *partition)
{
    const struct controller_topic *topic =
        controller_state_topic_by_id(&broker->controller.state, partition->topic_id);
    if (topic == NULL || partition->partition >= topic->partitions_count) {
        return 0;
    }
    return topic->partitions[partition->partition].replicas_count;
}

static void append_outcome_counter(struct ether_buf *buf, const char *name, const char *help,
                                   uint64_t ok_count, uint64_t error_count)
{
    append_family(buf, name, "counter", help);
    append_format(buf, "%s{outcome=\"ok\"} %" PRIu64 "\n", name, ok_count);
    append_format(buf, "%s{outcome=\"error\"} %" PRIu64 "\n", name, error_count);
}

/* The request counters, byte counters and latency histograms of the data path. */
static void render_data_path(struct broker *broker, struct ether_buf *body)
{
    struct broker_metrics *metrics = &broker->metrics;
    append_outcome_counter(body, "ether_produce_requests_total",
                           "Produce requests answered (acks=0: settled), by outcome: error when "
                           "any partition failed.",
                           metrics->produce_requests_ok_count,
                           metrics->produce_requests_error_count);
    broker_histogram_render(&metrics->produce_latency, "ether_produce_latency_seconds",
                            "Produce requests from arrival to the response handed to the server "
                            "(acks=0: until every batch is proposed).",
                            body);
    append_outcome_counter(body, "ether_fetch_requests_total",
                           "Fetch requests answered, by outcome: error when any partition failed.",
                           metrics->fetch_requests_ok_count, metrics->fetch_requests_error_count);
    broker_histogram_render(&metrics->fetch_latency, "ether_fetch_latency_seconds",
                            "Fetch requests from arrival to the response handed to the server, "
                            "long polls included.",
                            body);
    append_family(body, "ether_bytes_in_total", "counter",
                  "Record batch bytes of produce requests accepted for proposal.");
    append_format(body, "ether_bytes_in_total %" PRIu64 "\n", metrics->produce_accepted_bytes);
    append_family(body, "ether_bytes_out_total", "counter",
                  "Record batch bytes sent in fetch responses.");
    append_format(body, "ether_bytes_out_total %" PRIu64 "\n", metrics->fetch_sent_bytes);

    /* Each replica's log keeps the fsyncs it ran since the last scrape; they move here. */
    if (broker->controller.replica != NULL) {
        broker_raft_log_take_fsync_latency(broker_replica_log(broker->controller.replica),
                                           &metrics->fsync_latency);
    }
    for (size_t i = 0; i < broker->partitions_count; i++) {
        if (broker->partitions[i]->replica != NULL) {
            broker_raft_log_take_fsync_latency(broker_replica_log(broker->partitions[i]->replica),
                                               &metrics->fsync_latency);
        }
    }
    broker_histogram_render(&metrics->fsync_latency, "ether_fsync_latency_seconds",
                            "fdatasync of the Raft logs' appended entries, every group on this "
                            "broker.",
                            body);

    uint64_t groups_by_state[BROKER_GROUP_STATES_COUNT] = {0};
    for (size_t i = 0; i < broker->partitions_count; i++) {
        const struct broker_partition *partition = broker->partitions[i];
        if (partition_visible(partition) && partition->coordinator != NULL) {
            broker_coordinator_count_groups(partition->coordinator, groups_by_state);
        }
    }
    append_family(body, "ether_consumer_groups", "gauge",
                  "Consumer groups this broker coordinates (with members or recent activity), "
                  "by state.");
    for (size_t state = 0; state < BROKER_GROUP_STATES_COUNT; state++) {
        append_format(body, "ether_consumer_groups{state=\"%s\"} %" PRIu64 "\n",
                      group_state_name((enum group_state)state), groups_by_state[state]);
    }
}

/* Denied requests and logins: what an operator alerts on. */
static void render_security(const struct broker *broker, struct ether_buf *body)
{
    const struct broker_security *security = &broker->security;
    append_family(body, "ether_authorization_denials_total", "counter",
                  "Requests (or named topics of metadata requests) refused by the ACLs, by "
                  "resource type.");
    for (int type = ACL_RESOURCE_TOPIC; type <= ACL_RESOURCE_CLUSTER; type++) {
        append_format(body, "ether_authorization_denials_total{resource=\"%s\"} %" PRIu64 "\n",
                      acl_resource_type_name((enum acl_resource_type)type),
                      security->denials[type]);
    }
    append_outcome_counter(body, "ether_authentications_total",
                           "SCRAM-SHA-256 logins, by outcome; error also counts requests refused "
                           "for want of a login.",
                           security->authentication_successes, security->authentication_failures);
}

static void render_metrics(struct broker *broker, struct ether_buf *body)
{
    append_family(body, "ether_broker_info", "gauge", "This broker's id and incarnation.");
    append_format(body,
                  "ether_broker_info{broker_id=\"%" PRIu32 "\",incarnation=\"%" PRIu32 "\"} 1\n",
                  broker->broker_id, broker->incarnation);

    bool controller_leader = false;
    if (broker->controller.replica != NULL) {
        struct raft_status status;
        broker_replica_status(broker->controller.replica, &status);
        controller_leader = status.role == RAFT_LEADER;
    }
    append_family(body, "ether_controller_leader", "gauge",
                  "1 if this broker leads the controller group.");
    append_format(body, "ether_controller_leader %d\n", controller_leader ? 1 : 0);

    append_family(body, "ether_partition_high_watermark", "gauge",
                  "The offset after the last committed record of the partition.");
    for (size_t i = 0; i < broker->partitions_count; i++) {
        const struct broker_partition *partition = broker->partitions[i];
        if (partition_visible(partition)) {
            append_partition_sample(body, "ether_partition_high_watermark", partition,
                                    partition->high_watermark);
        }
    }

    /* One status per partition, read once so the families agree with each other. */
    size_t statuses_count = broker->partitions_count;
    struct raft_status *statuses =
        ether_calloc(statuses_count > 0 ? statuses_count : 1, sizeof *statuses);
    for (size_t i = 0; i < statuses_count; i++) {
        if (partition_visible(broker->partitions[i])) {
            broker_replica_status(broker->partitions[i]->replica, &statuses[i]);
        }
    }
    append_family(body, "ether_partition_leader", "gauge",
                  "1 if this broker leads the partition's Raft group.");
    for (size_t i = 0; i < statuses_count; i++) {
        if (partition_visible(broker->partitions[i])) {
            append_partition_sample(body, "ether_partition_leader", broker->partitions[i],
                                    statuses[i].role == RAFT_LEADER ? 1 : 0);
        }
    }
    append_family(body, "ether_partition_raft_term", "gauge",
                  "The current Raft term of the partition's replica on this broker.");
    for (size_t i = 0; i < statuses_count; i++) {
        if (partition_visible(broker->partitions[i])) {
            append_partition_sample(body, "ether_partition_raft_term", broker->partitions[i],
                                    statuses[i].term);
        }
    }
    append_family(body, "ether_partition_raft_commit_index", "gauge",
                  "The Raft commit index the partition's replica on this broker knows.");
    for (size_t i = 0; i < statuses_count; i++) {
        if (partition_visible(broker->partitions[i])) {
            append_partition_sample(body, "ether_partition_raft_commit_index",
                                    broker->partitions[i], statuses[i].commit_index);
        }
    }
    uint64_t under_replicated = 0;
    uint32_t in_sync[RAFT_SERVERS_MAX];
    for (size_t i = 0; i < statuses_count; i++) {
        const struct broker_partition *partition = broker->partitions[i];
        if (partition_visible(partition) && statuses[i].role == RAFT_LEADER &&
            broker_partition_in_sync_replicas(partition, in_sync) <
                assigned_replicas_count(broker, partition)) {
            under_replicated++;
        }
    }
    ether_free(statuses);
    append_family(body, "ether_under_replicated_partitions", "gauge",
                  "Partitions this broker leads with fewer in-sync replicas than replicas.");
    append_format(body, "ether_under_replicated_partitions %" PRIu64 "\n", under_replicated);

    struct broker_transport_stats stats;
    broker_transport_stats(broker->transport, &stats);
    append_family(body, "ether_transport_messages_sent_total", "counter",
                  "Raft messages sent to peers.");
    append_format(body, "ether_transport_messages_sent_total %" PRIu64 "\n", stats.messages_sent);
    append_family(body, "ether_transport_messages_dropped_total", "counter",
                  "Raft messages dropped before reaching a peer.");
    append_format(body, "ether_transport_messages_dropped_total %" PRIu64 "\n",
                  stats.messages_dropped);
    append_family(body, "ether_transport_bytes_sent_total", "counter",
                  "Bytes of Raft traffic sent to peers.");
    append_format(body, "ether_transport_bytes_sent_total %" PRIu64 "\n", stats.bytes_sent);

    render_data_path(broker, body);
    render_security(broker, body);
}

/* 200 "ok" once the broker can serve; otherwise 503 and one line saying why. */
static int render_health(struct broker *broker, struct ether_buf *body)
{
    if (!broker->joined) {
        append_string(body, "broker has not joined the cluster yet\n");
        return 503;
    }
    if (broker_controller_caught_up(broker)) {
        append_string(body, "ok\n");
        return 200;
    }
    if (broker->controller.replica == NULL) {
        append_string(body, "controller replica is not open\n");
        return 503;
    }
    struct raft_status status;
    broker_replica_status(broker->controller.replica, &status);
    if (status.leader_id == RAFT_ID_NONE) {
        append_string(body, "controller has no leader\n");
    } else {
        append_format(body, "controller has applied %" PRIu64 " of %" PRIu64 " committed entries\n",
                      status.applied_index, status.commit_index);
    }
    return 503;
}

/* ---- connections --------------------------------------------------------------------------- */

static void http_handle_closed(struct broker_http *http)
{
    ETHER_ASSERT(http->handles_open > 0);
    http->handles_open--;
    if (http->stopping && http->handles_open == 0) {
        void (*on_stopped)(void *) = http->on_stopped;
        void *context = http->on_stopped_context;
        ether_free(http);
        if (on_stopped != NULL) {
            on_stopped(context);
        }
    }
}

static void on_connection_handle_closed(uv_handle_t *handle)
{
    struct http_connection *connection = handle->data;
    ETHER_ASSERT(connection->handles_open > 0);
    if (--connection->handles_open > 0) {
        return;
    }
    struct broker_http *http = connection->http;
    ether_buf_free(&connection->response);
    ether_free(connection);
    http_handle_closed(http);
}

static void connection_close(struct http_connection *connection)
{
    if (connection->closing) {
        return;
    }
    connection->closing = true;
    struct broker_http *http = connection->http;
    if (connection->previous != NULL) {
        connection->previous->next = connection->next;
    } else {
        http->connections = connection->next;
    }
    if (connection->next != NULL) {
        connection->next->previous = connection->previous;
    }
    ETHER_ASSERT(http->connections_count > 0);
    http->connections_count--;
    uv_close((uv_handle_t *)&connection->tcp, on_connection_handle_closed);
    uv_close((uv_handle_t *)&connection->read_timer, on_connection_handle_closed);
}

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    default:
        return "Service Unavailable";
    }
}

static void on_write_done(uv_write_t *request, int status)
{
    (void)status; /* written or not, the connection is over */
    connection_close(request->data);
}

static void respond(struct http_connection *connection, int status, const char *content_type,
                    const struct ether_buf *body)
{
    uv_read_stop((uv_stream_t *)&connection->tcp);
    uv_timer_stop(&connection->read_timer);
    struct ether_buf *response = &connection->response;
    append_format(response,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                  "Connection: close\r\n\r\n",
                  status, status_reason(status), content_type, body->length,
                  status == 405 ? "Allow: GET\r\n" : "");
    ether_buf_append(response, body->data, body->length);
    uv_buf_t buffer = uv_buf_init((char *)response->data, (unsigned int)response->length);
    connection->write.data = connection;
    if (uv_write(&connection->write, (uv_stream_t *)&connection->tcp, &buffer, 1, on_write_done) !=
        0) {
        connection_close(connection);
    }
}

static void respond_text(struct http_connection *connection, int status, const char *text)
{
    struct ether_buf body = ETHER_BUF_INIT;
    append_string(&body, text);
    respond(connection, status, "text/plain; charset=utf-8", &body);
    ether_buf_free(&body);
}

/* Position just after the blank line that ends the head, or 0 when it has not arrived. */
static size_t head_end(const char *head, size_t head_bytes)
{
    for (size_t i = 3; i < head_bytes; i++) {
        if (head[i - 3] == '\r' && head[i - 2] == '\n' && head[i - 1] == '\r' && head[i] == '\n') {
            return i + 1;
        }
    }
    return 0;
}

/* The request line is "METHOD SP target SP HTTP/1.x CRLF"; headers are not needed. */
static void serve(struct http_connection *connection)
{
    const char *line = connection->head;
    const char *line_end = memchr(line, '\r', connection->head_bytes);
    const char *method_end = memchr(line, ' ', (size_t)(line_end - line));
    if (method_end == NULL || method_end == line) {
        respond_text(connection, 400, "malformed request line\n");
        return;
    }
    const char *target = method_end + 1;
    const char *target_end = memchr(target, ' ', (size_t)(line_end - target));
    const char *version = target_end != NULL ? target_end + 1 : NULL;
    if (target_end == NULL || target_end == target || (size_t)(line_end - version) != 8 ||
        memcmp(version, "HTTP/1.", 7) != 0) {
        respond_text(connection, 400, "malformed request line\n");
        return;
    }
    size_t path_bytes = (size_t)(target_end - target);
    const char *query = memchr(target, '?', path_bytes);
    if (query != NULL) {
        path_bytes = (size_t)(query - target);
    }
    bool is_health = path_bytes == 7 && memcmp(target, "/health", 7) == 0;
    bool is_metrics = path_bytes == 8 && memcmp(target, "/metrics", 8) == 0;
    if (!is_health && !is_metrics) {
        respond_text(connection, 404, "not found; try GET /health or GET /metrics\n");
        return;
    }
    if ((size_t)(method_end - line) != 3 || memcmp(line, "GET", 3) != 0) {
        respond_text(connection, 405, "only GET is allowed\n");
        return;
    }
    struct broker *broker = connection->http->broker;
    if (broker->stopping) {
        /* Replicas are closing and may be gone: nothing is read from them any more. */
        respond_text(connection, 503, "broker is shutting down\n");
        return;
    }
    struct ether_buf body = ETHER_BUF_INIT;
    if (is_health) {
        int status = render_health(broker, &body);
        respond(connection, status, "text/plain; charset=utf-8", &body);
    } else {
        render_metrics(broker, &body);
        respond(connection, 200, "text/plain; version=0.0.4", &body);
    }
    ether_buf_free(&body);
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buffer)
{
    (void)suggested_bytes;
    struct http_connection *connection = handle->data;
    ETHER_ASSERT(connection->head_bytes < sizeof connection->head);
    *buffer = uv_buf_init(connection->head + connection->head_bytes,
                          (unsigned int)(sizeof connection->head - connection->head_bytes));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buffer)
{
    (void)buffer;
    struct http_connection *connection = stream->data;
    if (nread < 0) {
        connection_close(connection);
        return;
    }
    connection->head_bytes += (size_t)nread;
    ETHER_ASSERT(connection->head_bytes <= sizeof connection->head);
    if (head_end(connection->head, connection->head_bytes) > 0) {
        serve(connection);
    } else if (connection->head_bytes == sizeof connection->head) {
        respond_text(connection, 400, "request head too large\n");
    }
}

static void on_read_timeout(uv_timer_t *timer)
{
    connection_close(timer->data);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct broker_http *http = listener->data;
    if (status != 0 || http->stopping) {
        return;
    }
    struct http_connection *connection = ether_calloc(1, sizeof *connection);
    connection->http = http;
    int rc = uv_tcp_init(http->loop, &connection->tcp);
    ETHER_ASSERT(rc == 0);
    rc = uv_timer_init(http->loop, &connection->read_timer);
    ETHER_ASSERT(rc == 0);
    connection->tcp.data = connection;
    connection->read_timer.data = connection;
    connection->handles_open = 2;
    http->handles_open++;
    connection->next = http->connections;
    if (http->connections != NULL) {
        http->connections->previous = connection;
    }
    http->connections = connection;
    http->connections_count++;
    if (uv_accept(listener, (uv_stream_t *)&connection->tcp) != 0 ||
        http->connections_count > HTTP_CONNECTIONS_MAX) {
        connection_close(connection);
        return;
    }
    uv_timer_start(&connection->read_timer, on_read_timeout, HTTP_READ_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&connection->tcp, on_alloc, on_read) != 0) {
        connection_close(connection);
    }
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int broker_http_start(uv_loop_t *loop, struct broker *broker, const char *host, uint16_t port,
                      struct broker_http **http_out, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(broker != NULL);
    ETHER_ASSERT(host != NULL);
    struct sockaddr_storage address;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&address);
    if (rc != 0) {
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&address);
    }
    if (rc != 0) {
        snprintf(errbuf, errbuf_size, "listen address '%s' is not an IPv4 or IPv6 address", host);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct broker_http *http = ether_calloc(1, sizeof *http);
    http->loop = loop;
    http->broker = broker;
    rc = uv_tcp_init(loop, &http->listener);
    ETHER_ASSERT(rc == 0);
    http->listener.data = http;
    http->handles_open = 1;
    rc = uv_tcp_bind(&http->listener, (const struct sockaddr *)&address, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&http->listener, HTTP_LISTEN_BACKLOG, on_connection);
    }
    if (rc != 0) {
        snprintf(errbuf, errbuf_size, "cannot listen for HTTP on %s:%u: %s", host, port,
                 uv_strerror(rc));
        broker_http_stop(http, NULL, NULL);
        return rc == UV_EADDRINUSE ? ETHER_ERR_BUSY : ETHER_ERR_IO;
    }
    *http_out = http;
    return ETHER_OK;
}

static void on_listener_closed(uv_handle_t *handle)
{
    http_handle_closed(handle->data);
}

void broker_http_stop(struct broker_http *http, void (*on_stopped)(void *context), void *context)
{
    ETHER_ASSERT(!http->stopping);
    http->stopping = true;
    http->on_stopped = on_stopped;
    http->on_stopped_context = context;
    while (http->connections != NULL) {
        connection_close(http->connections);
    }
    uv_close((uv_handle_t *)&http->listener, on_listener_closed);
}
