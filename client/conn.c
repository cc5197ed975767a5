/*
 * conn.c: one TCP connection from the client to one broker.
 *
 * Happy path: client_send finds or opens the broker's connection (resolve ->
 * connect), encodes the request frame and writes it (or queues it until
 * connected); each response frame is matched to its request by correlation
 * id, unpacked and handed to the request's callback.
 *
 * Failure modes: a failed resolve or connect, a read or write error, EOF, a
 * malformed frame or a request that outlives its deadline closes the whole
 * connection: every request on it is answered with the error and the broker
 * is not reconnected before its backoff (client->backoff) has passed. A
 * connection is freed only after libuv closed its handle and its pending
 * resolve finished; a request only after its write completed.
 *
 * Limits: a response frame larger than CLIENT_FRAME_BYTES_MAX breaks the
 * connection with ETHER_ERR_FRAME_TOO_LARGE.
 */
#include "client/client_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"

enum conn_state { CONN_RESOLVING, CONN_CONNECTING, CONN_READY, CONN_CLOSING };

struct client_request {
    struct client_request *next;
    struct client_conn *conn;
    uint16_t api_key;
    uint32_t correlation_id;
    bool expects_response;
    bool writing;  /* uv_write has not called back yet */
    bool answered; /* on_response has run */
    uint64_t deadline_ms;
    client_response_fn *on_response;
    void *context;
    struct ether_buf frame;
    uv_write_t write;
};

struct client_conn {
    uv_tcp_t tcp;
    struct ether_client *client;
    struct client_broker *broker;
    struct client_conn *next;
    enum conn_state state;
    bool resolve_pending;
    bool tcp_open;    /* uv_tcp_init ran and the close callback has not */
    int fail_pending; /* an error seen where callbacks must not run yet */
    uv_getaddrinfo_t resolve;
    uv_connect_t connect;
    struct ether_buf input;
    struct client_request *requests; /* waiting to be written or for their answer */
    uint32_t produce_in_flight;
    char name[CLIENT_ERROR_MESSAGE_BYTES / 2]; /* "broker 2 (127.0.0.1:9093)" */
};

static void conn_fail(struct client_conn *conn, int error, const char *message);

static void conn_maybe_free(struct client_conn *conn)
{
    if (conn->state == CONN_CLOSING && !conn->resolve_pending && !conn->tcp_open) {
        ETHER_ASSERT(conn->requests == NULL);
        ether_buf_free(&conn->input);
        ether_free(conn);
    }
}

static void request_maybe_free(struct client_request *request)
{
    if (request->answered && !request->writing) {
        ether_buf_free(&request->frame);
        ether_free(request);
    }
}

static void unlink_request(struct client_conn *conn, struct client_request *request)
{
    for (struct client_request **link = &conn->requests; *link != NULL; link = &(*link)->next) {
        if (*link == request) {
            *link = request->next;
            request->next = NULL;
            return;
        }
    }
    ETHER_PANIC("request is not on its connection");
}

/* Runs the request's callback once; the request must be unlinked already. */
static void answer(struct client_request *request, int error, const char *message,
                   const ProtobufCMessage *response)
{
    ETHER_ASSERT(!request->answered);
    request->answered = true;
    struct client_conn *conn = request->conn;
    if (request->api_key == PROTO_API_PRODUCE) {
        ETHER_ASSERT(conn->produce_in_flight > 0);
        conn->produce_in_flight--;
    }
    request->on_response(conn->client, request->context, error, message, response);
    request_maybe_free(request);
}

static void on_written(uv_write_t *write, int status)
{
    struct client_request *request = write->data;
    struct client_conn *conn = request->conn;
    request->writing = false;
    if (request->answered) {
        request_maybe_free(request);
        return;
    }
    if (status < 0) {
        char message[CLIENT_ERROR_MESSAGE_BYTES];
        snprintf(message, sizeof message, "cannot send to %s: %s", conn->name, uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    if (!request->expects_response) {
        unlink_request(conn, request);
        answer(request, ETHER_OK, "", NULL);
    }
}

static void write_request(struct client_conn *conn, struct client_request *request)
{
    ETHER_ASSERT(conn->state == CONN_READY);
    ETHER_ASSERT(!request->writing);
    uv_buf_t buffer = uv_buf_init((char *)request->frame.data, (unsigned)request->frame.length);
    request->write.data = request;
    int rc = uv_write(&request->write, (uv_stream_t *)&conn->tcp, &buffer, 1, on_written);
    if (rc < 0) {
        /* Answered from the next tick, never from inside client_send. */
        conn->fail_pending = ETHER_ERR_IO;
        return;
    }
    request->writing = true;
}

static void on_tcp_closed(uv_handle_t *handle)
{
    struct client_conn *conn = (struct client_conn *)handle;
    conn->tcp_open = false;
    conn_maybe_free(conn);
}

static void conn_fail(struct client_conn *conn, int error, const char *message)
{
    if (conn->state == CONN_CLOSING) {
        return;
    }
    struct ether_client *client = conn->client;
    bool was_ready = conn->state == CONN_READY;
    conn->state = CONN_CLOSING;
    for (struct client_conn **link = &client->conns; *link != NULL; link = &(*link)->next) {
        if (*link == conn) {
            *link = conn->next;
            break;
        }
    }
    struct client_broker *broker = conn->broker;
    if (broker != NULL) {
        broker->conn = NULL;
        if (!was_ready || error != ETHER_ERR_TIMED_OUT) {
            broker->connect_failures++;
        }
        uint32_t delay_ms =
            client_backoff_delay_ms(&client->backoff, was_ready ? 1 : broker->connect_failures);
        broker->reconnect_at_ms = client_now_ms() + delay_ms;
        snprintf(broker->last_error, sizeof broker->last_error, "%s", message);
    }
    if (error != ETHER_ERR_CLOSED) {
        snprintf(client->last_connection_error, sizeof client->last_connection_error, "%s",
                 message);
    }
    if (conn->tcp_open && !uv_is_closing((uv_handle_t *)&conn->tcp)) {
        uv_close((uv_handle_t *)&conn->tcp, on_tcp_closed);
    }
    struct client_request *requests = conn->requests;
    conn->requests = NULL;
    while (requests != NULL) {
        struct client_request *next = requests->next;
        requests->next = NULL;
        answer(requests, error, message, NULL);
        requests = next;
    }
    conn_maybe_free(conn);
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buffer)
{
    struct client_conn *conn = (struct client_conn *)handle;
    (void)suggested_bytes;
    enum { READ_CHUNK_BYTES = 64 * 1024 };
    ether_buf_reserve(&conn->input, READ_CHUNK_BYTES);
    buffer->base = (char *)conn->input.data + conn->input.length;
    buffer->len = READ_CHUNK_BYTES;
}

/* Handles one whole response frame; false when the connection was closed. */
static bool handle_frame(struct client_conn *conn, const struct proto_frame_header *header,
                         const uint8_t *body)
{
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (!header->is_response) {
        snprintf(message, sizeof message, "%s sent a request to the client", conn->name);
        conn_fail(conn, ETHER_ERR_CORRUPT, message);
        return false;
    }
    struct client_request *request = conn->requests;
    while (request != NULL && (request->correlation_id != header->correlation_id ||
                               !request->expects_response || request->answered)) {
        request = request->next;
    }
    if (request == NULL) {
        return true; /* an answer to a request we gave up on: skip it */
    }
    ProtobufCMessage *body_message = NULL;
    if (proto_body_unpack(header, body, &body_message) != ETHER_OK) {
        snprintf(message, sizeof message, "%s sent an undecodable %s response", conn->name,
                 proto_api_name(header->api_key) != NULL ? proto_api_name(header->api_key) : "?");
        conn_fail(conn, ETHER_ERR_CORRUPT, message);
        return false;
    }
    unlink_request(conn, request);
    if (header->is_error) {
        const Ether__ErrorResponse *error = (const Ether__ErrorResponse *)body_message;
        int code = error->error != 0 ? (int)error->error : ETHER_ERR_CORRUPT;
        snprintf(message, sizeof message, "%s: %s", conn->name,
                 error->error_message != NULL && error->error_message[0] != '\0'
                     ? error->error_message
                     : ether_strerror(code));
        answer(request, code, message, NULL);
    } else {
        answer(request, ETHER_OK, "", body_message);
    }
    proto_message_free(body_message);
    return conn->state != CONN_CLOSING;
}

static void on_read(uv_stream_t *stream, ssize_t read_bytes, const uv_buf_t *buffer)
{
    struct client_conn *conn = (struct client_conn *)stream;
    (void)buffer;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (read_bytes < 0) {
        snprintf(message, sizeof message, "%s closed the connection%s%s", conn->name,
                 read_bytes == UV_EOF ? "" : ": ",
                 read_bytes == UV_EOF ? "" : uv_strerror((int)read_bytes));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    conn->input.length += (size_t)read_bytes;
    size_t consumed = 0;
    while (conn->state != CONN_CLOSING) {
        struct proto_frame_header header;
        const uint8_t *body = NULL;
        size_t frame_bytes = 0;
        int rc = proto_frame_parse(conn->input.data + consumed, conn->input.length - consumed,
                                   CLIENT_FRAME_BYTES_MAX, &header, &body, &frame_bytes);
        if (rc == ETHER_ERR_TRUNCATED) {
            break;
        }
        if (rc == ETHER_ERR_UNSUPPORTED) {
            consumed += frame_bytes; /* an api this client does not know: skip it */
            continue;
        }
        if (rc != ETHER_OK) {
            snprintf(message, sizeof message, "%s sent a bad frame: %s", conn->name,
                     ether_strerror(rc));
            conn_fail(conn, rc, message);
            return;
        }
        consumed += frame_bytes;
        if (!handle_frame(conn, &header, body)) {
            return;
        }
    }
    if (conn->state == CONN_CLOSING) {
        return;
    }
    ETHER_ASSERT(consumed <= conn->input.length);
    memmove(conn->input.data, conn->input.data + consumed, conn->input.length - consumed);
    conn->input.length -= consumed;
}

static void on_connected(uv_connect_t *connect, int status)
{
    struct client_conn *conn = connect->data;
    if (conn->state == CONN_CLOSING) {
        return;
    }
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (status < 0) {
        snprintf(message, sizeof message, "cannot connect to %s: %s", conn->name,
                 uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read);
    if (rc < 0) {
        snprintf(message, sizeof message, "cannot read from %s: %s", conn->name, uv_strerror(rc));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    conn->state = CONN_READY;
    if (conn->broker != NULL) {
        conn->broker->connect_failures = 0;
    }
    for (struct client_request *request = conn->requests; request != NULL;
         request = request->next) {
        write_request(conn, request);
    }
}

static void on_resolved(uv_getaddrinfo_t *resolve, int status, struct addrinfo *addresses)
{
    struct client_conn *conn = resolve->data;
    conn->resolve_pending = false;
    char message[CLIENT_ERROR_MESSAGE_BYTES];
    if (conn->state == CONN_CLOSING) {
        uv_freeaddrinfo(addresses);
        conn_maybe_free(conn);
        return;
    }
    if (status < 0) {
        snprintf(message, sizeof message, "cannot resolve %s: %s", conn->name, uv_strerror(status));
        conn_fail(conn, ETHER_ERR_IO, message);
        return;
    }
    int rc = uv_tcp_init(&conn->client->loop, &conn->tcp);
    ETHER_ASSERT(rc == 0);
    conn->tcp_open = true;
    uv_tcp_nodelay(&conn->tcp, 1);
    conn->state = CONN_CONNECTING;
    conn->connect.data = conn;
    rc = uv_tcp_connect(&conn->connect, &conn->tcp, addresses->ai_addr, on_connected);
    uv_freeaddrinfo(addresses);
    if (rc < 0) {
        snprintf(message, sizeof message, "cannot connect to %s: %s", conn->name, uv_strerror(rc));
        conn_fail(conn, ETHER_ERR_IO, message);
    }
}

static struct client_conn *conn_open(struct ether_client *client, struct client_broker *broker)
{
    struct client_conn *conn = ether_calloc(1, sizeof *conn);
    conn->client = client;
    conn->broker = broker;
    conn->state = CONN_RESOLVING;
    if (broker->broker_id != 0) {
        snprintf(conn->name, sizeof conn->name, "broker %u (%s:%u)", broker->broker_id,
                 broker->host, broker->port);
    } else {
        snprintf(conn->name, sizeof conn->name, "%s:%u", broker->host, broker->port);
    }
    conn->next = client->conns;
    client->conns = conn;
    broker->conn = conn;
    char port[8];
    snprintf(port, sizeof port, "%u", broker->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    conn->resolve.data = conn;
    conn->resolve_pending = true;
    int rc = uv_getaddrinfo(&client->loop, &conn->resolve, on_resolved, broker->host, port, &hints);
    if (rc < 0) {
        conn->resolve_pending = false;
        conn->fail_pending = ETHER_ERR_IO;
    }
    return conn;
}

bool client_broker_usable(const struct ether_client *client, const struct client_broker *broker,
                          uint64_t now_ms)
{
    (void)client;
    return broker->conn != NULL || now_ms >= broker->reconnect_at_ms;
}

uint32_t client_broker_produce_in_flight(const struct client_broker *broker)
{
    return broker->conn != NULL ? broker->conn->produce_in_flight : 0;
}

int client_send(struct ether_client *client, struct client_broker *broker, uint16_t api_key,
                const ProtobufCMessage *body, bool expects_response, uint32_t timeout_ms,
                client_response_fn *on_response, void *context)
{
    ETHER_ASSERT(on_response != NULL);
    if (client->io_stopping) {
        return ETHER_ERR_CLOSED;
    }
    uint64_t now_ms = client_now_ms();
    if (!client_broker_usable(client, broker, now_ms)) {
        return ETHER_ERR_BUSY;
    }
    struct client_request *request = ether_calloc(1, sizeof *request);
    struct proto_frame_header header = {
        .api_key = api_key,
        .api_version = proto_api_version_max(api_key),
        .correlation_id = client->next_correlation_id++,
    };
    int rc = proto_frame_encode(&request->frame, &header, body, CLIENT_FRAME_BYTES_MAX);
    if (rc != ETHER_OK) {
        ether_buf_free(&request->frame);
        ether_free(request);
        return rc;
    }
    struct client_conn *conn = broker->conn != NULL ? broker->conn : conn_open(client, broker);
    request->conn = conn;
    request->api_key = api_key;
    request->correlation_id = header.correlation_id;
    request->expects_response = expects_response;
    request->deadline_ms = now_ms + timeout_ms;
    request->on_response = on_response;
    request->context = context;
    /* Appended at the tail: requests are written in the order they were sent. */
    struct client_request **link = &conn->requests;
    while (*link != NULL) {
        link = &(*link)->next;
    }
    *link = request;
    if (api_key == PROTO_API_PRODUCE) {
        conn->produce_in_flight++;
    }
    if (conn->state == CONN_READY) {
        write_request(conn, request);
    }
    return ETHER_OK;
}

void client_conns_check_timeouts(struct ether_client *client, uint64_t now_ms)
{
    struct client_conn *conn = client->conns;
    while (conn != NULL) {
        struct client_conn *next = conn->next;
        if (conn->fail_pending != ETHER_OK) {
            char message[CLIENT_ERROR_MESSAGE_BYTES];
            snprintf(message, sizeof message, "cannot reach %s", conn->name);
            conn_fail(conn, conn->fail_pending, message);
        } else {
            for (struct client_request *request = conn->requests; request != NULL;
                 request = request->next) {
                if (!request->answered && now_ms >= request->deadline_ms) {
                    char message[CLIENT_ERROR_MESSAGE_BYTES];
                    snprintf(message, sizeof message, "%s %s in time", conn->name,
                             conn->state == CONN_READY ? "did not answer" : "could not be reached");
                    conn_fail(conn, ETHER_ERR_TIMED_OUT, message);
                    break;
                }
            }
        }
        conn = next;
    }
}

void client_conns_close_all(struct ether_client *client)
{
    while (client->conns != NULL) {
        conn_fail(client->conns, ETHER_ERR_CLOSED, "the client is closing");
    }
}
