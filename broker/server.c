/*
 * server.c: happy path: accept -> read into the connection's input buffer ->
 * parse whole frames -> unpack -> handler; handler -> respond -> encode ->
 * uv_write -> free on completion. With TLS, reads land in one buffer shared
 * by all connections (libuv hands them over one at a time) and go to the
 * connection's session, whose plaintext is appended to the input buffer;
 * encoded responses go to the session, whose ciphertext is written.
 *
 * Failure modes: a bad frame closes its connection; a write error closes its
 * connection; accept beyond connections_max closes the new socket at once;
 * stop closes everything and frees the server after the last close callback.
 * TLS: a failed session sends its alert and is closed once it is written; a
 * peer's close_notify is answered and the connection closed likewise; one
 * timer sweeps connections whose handshake is late.
 */
#include "broker/server.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"

#include <stdbool.h>
#include <string.h>

enum {
    READ_CHUNK_BYTES = 64 * 1024,
    PEER_NAME_BYTES = 64,
    HANDSHAKE_SWEEP_INTERVAL_MS_MAX = 1000,
};

struct connection {
    uv_tcp_t tcp; /* first: the handle's address is the connection's */
    struct broker_server *server;
    uint64_t id;
    struct ether_buf input;
    uint64_t output_pending_bytes;
    bool reading;
    bool draining; /* an error answer is being flushed before the connection closes */
    bool closing;
    struct connection *previous;
    struct connection *next;
    char peer_name[PEER_NAME_BYTES];
    struct ether_tls_session *tls; /* NULL on a plaintext server */
    uint64_t accepted_ms;          /* loop time, for the handshake deadline */
    void *context;                 /* the handler's, freed with free_context */
    void (*free_context)(void *context);
};

struct write_request {
    uv_write_t request;
    struct connection *connection;
    uint8_t *frame;
    size_t frame_bytes;
};

struct broker_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct broker_server_options options;
    char *host;
    uint16_t port;
    uint64_t next_connection_id;
    uint32_t connections_count;
    struct connection *connections;
    uint32_t handles_open;
    bool stopping;
    void (*on_stopped)(void *context);
    void *on_stopped_context;
    /* TLS only: */
    struct ether_tls_config *tls_config;
    uint8_t *tls_read_buffer; /* READ_CHUNK_BYTES of ciphertext, shared by every connection */
    uv_timer_t handshake_timer;
};

void broker_server_options_init(struct broker_server_options *options)
{
    memset(options, 0, sizeof *options);
    options->host = "127.0.0.1";
    options->frame_bytes_max = PROTO_FRAME_BYTES_MAX_DEFAULT;
    options->connections_max = 4096;
    options->output_bytes_max = 64u * 1024 * 1024;
    options->tls_handshake_timeout_ms = 10000;
}

static void handle_closed(struct broker_server *server)
{
    ETHER_ASSERT(server->handles_open > 0);
    server->handles_open--;
    if (server->stopping && server->handles_open == 0) {
        void (*on_stopped)(void *) = server->on_stopped;
        void *context = server->on_stopped_context;
        ether_tls_config_free(server->tls_config);
        ether_free(server->tls_read_buffer);
        ether_free(server->host);
        ether_free(server);
        if (on_stopped != NULL) {
            on_stopped(context);
        }
    }
}

static void on_connection_closed(uv_handle_t *handle)
{
    struct connection *connection = (struct connection *)handle;
    struct broker_server *server = connection->server;
    ether_buf_free(&connection->input);
    ether_tls_session_free(connection->tls);
    if (connection->free_context != NULL) {
        connection->free_context(connection->context);
    }
    ether_free(connection);
    handle_closed(server);
}

static void connection_close(struct connection *connection, const char *reason)
{
    if (connection->closing) {
        return;
    }
    struct broker_server *server = connection->server;
    if (reason != NULL) {
        ether_log_warn(server->options.logger, "closing connection %llu from %s: %s",
                       (unsigned long long)connection->id, connection->peer_name, reason);
    }
    connection->closing = true;
    if (connection->previous != NULL) {
        connection->previous->next = connection->next;
    } else {
        server->connections = connection->next;
    }
    if (connection->next != NULL) {
        connection->next->previous = connection->previous;
    }
    ETHER_ASSERT(server->connections_count > 0);
    server->connections_count--;
    uv_close((uv_handle_t *)&connection->tcp, on_connection_closed);
}

static struct connection *find_connection(struct broker_server *server, uint64_t connection_id)
{
    for (struct connection *c = server->connections; c != NULL; c = c->next) {
        if (c->id == connection_id) {
            return c;
        }
    }
    return NULL;
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buf)
{
    (void)suggested_bytes;
    struct connection *connection = (struct connection *)handle;
    if (connection->tls != NULL) {
        buf->base = (char *)connection->server->tls_read_buffer;
        buf->len = READ_CHUNK_BYTES;
        return;
    }
    ether_buf_reserve(&connection->input, READ_CHUNK_BYTES);
    buf->base = (char *)connection->input.data + connection->input.length;
    buf->len = connection->input.capacity - connection->input.length;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void update_reading(struct connection *connection)
{
    bool want = connection->output_pending_bytes <= connection->server->options.output_bytes_max;
    if (want && !connection->reading) {
        int rc = uv_read_start((uv_stream_t *)&connection->tcp, on_alloc, on_read);
        if (rc != 0) {
            connection_close(connection, uv_strerror(rc));
            return;
        }
        connection->reading = true;
    } else if (!want && connection->reading) {
        uv_read_stop((uv_stream_t *)&connection->tcp);
        connection->reading = false;
    }
}

static void on_shutdown(uv_shutdown_t *request, int status)
{
    (void)status;
    struct connection *connection = request->data;
    ether_free(request);
    connection_close(connection, NULL);
}

static int queue_frame(struct connection *connection, struct ether_buf *frame);
static int flush_tls_output(struct connection *connection);

/*
 * Stops reading and closes the connection once what is queued for it has been written
 * (with TLS, after our close_notify when the session is still up).
 */
static void close_when_written(struct connection *connection)
{
    if (connection->closing || connection->draining) {
        return;
    }
    if (connection->tls != NULL &&
        ether_tls_session_state(connection->tls) == ETHER_TLS_ESTABLISHED) {
        (void)ether_tls_session_shutdown(connection->tls); /* a failure leaves an alert */
        if (flush_tls_output(connection) != ETHER_OK) {
            return; /* closed */
        }
    }
    if (connection->reading) {
        uv_read_stop((uv_stream_t *)&connection->tcp);
        connection->reading = false;
    }
    connection->draining = true;
    uv_shutdown_t *shutdown = ether_calloc(1, sizeof *shutdown);
    shutdown->data = connection;
    if (uv_shutdown(shutdown, (uv_stream_t *)&connection->tcp, on_shutdown) != 0) {
        ether_free(shutdown);
        connection_close(connection, NULL);
    }
}

/*
 * Answers a request that cannot be served with an ErrorResponse and, for a
 * protocol violation, closes the connection once that answer is written.
 */
static void refuse_request(struct connection *connection, const struct proto_frame_header *request,
                           int error, bool close_after)
{
    struct broker_server *server = connection->server;
    const char *api_name = proto_api_name(request->api_key);
    ether_log_warn(server->options.logger,
                   "refusing %s request (api %u version %u, correlation %u) from %s: %s%s",
                   api_name != NULL ? api_name : "unknown", request->api_key, request->api_version,
                   request->correlation_id, connection->peer_name, ether_strerror(error),
                   close_after ? "; closing the connection" : "");
    struct ether_buf frame = ETHER_BUF_INIT;
    struct proto_frame_header answered = *request;
    if (api_name == NULL) {
        /* An unknown api cannot name an error body of its own; answer as METADATA would. */
        answered.api_key = PROTO_API_METADATA;
    }
    int rc =
        proto_frame_encode_error(&frame, &answered, error, NULL, server->options.frame_bytes_max);
    ETHER_ASSERT(rc == ETHER_OK);
    if (queue_frame(connection, &frame) != ETHER_OK || !close_after) {
        return;
    }
    close_when_written(connection);
}

/* Parses and dispatches every whole frame in the input buffer. */
static void dispatch_frames(struct connection *connection)
{
    struct broker_server *server = connection->server;
    uint64_t connection_id = connection->id;
    size_t consumed = 0;
    while (!connection->closing && !connection->draining) {
        struct proto_frame_header header;
        const uint8_t *body = NULL;
        size_t frame_bytes = 0;
        int rc = proto_frame_parse(connection->input.data + consumed,
                                   connection->input.length - consumed,
                                   server->options.frame_bytes_max, &header, &body, &frame_bytes);
        if (rc == ETHER_ERR_TRUNCATED) {
            break;
        }
        if (rc == ETHER_ERR_FRAME_TOO_LARGE || rc == ETHER_ERR_CORRUPT) {
            /* No trustworthy header: nothing to answer, and the stream cannot be resynchronised. */
            connection_close(connection, ether_strerror(rc));
            return;
        }
        consumed += frame_bytes;
        if (rc == ETHER_ERR_UNSUPPORTED || header.is_response) {
            refuse_request(connection, &header, rc != ETHER_OK ? rc : ETHER_ERR_INVALID_ARGUMENT,
                           true);
            return;
        }
        if (header.api_version > proto_api_version_max(header.api_key)) {
            /* A newer client: not a violation; it may retry with an older version. */
            refuse_request(connection, &header, ETHER_ERR_UNSUPPORTED, false);
            continue;
        }
        ProtobufCMessage *request = NULL;
        rc = proto_body_unpack(&header, body, &request);
        if (rc != ETHER_OK) {
            refuse_request(connection, &header, rc, true);
            return;
        }
        server->options.on_request(server->options.handler_context, server, connection_id, &header,
                                   request);
        /* The handler may have closed this connection; `connection` is still allocated
         * until its close callback, which cannot run inside this call. */
    }
    if (consumed > 0 && !connection->closing && !connection->draining) {
        size_t left = connection->input.length - consumed;
        memmove(connection->input.data, connection->input.data + consumed, left);
        connection->input.length = left;
    }
}

static void log_handshake_done(const struct connection *connection)
{
    const char *principal = ether_tls_session_peer_common_name(connection->tls);
    ether_log_debug(connection->server->options.logger,
                    "connection %llu from %s: %s with %s, peer certificate %s",
                    (unsigned long long)connection->id, connection->peer_name,
                    ether_tls_session_protocol(connection->tls),
                    ether_tls_session_cipher(connection->tls),
                    principal != NULL                                  ? principal
                    : ether_tls_session_peer_verified(connection->tls) ? "verified, no single CN"
                                                                       : "none");
}

/* Ciphertext from the peer: through the session, then its plaintext into the frame parser. */
static void receive_tls(struct connection *connection, const uint8_t *bytes, size_t bytes_count)
{
    struct ether_tls_session *session = connection->tls;
    bool was_handshaking = ether_tls_session_state(session) == ETHER_TLS_HANDSHAKING;
    /* ETHER_ERR_BUSY cannot happen: all plaintext is read out below after every receive. */
    int rc = ether_tls_session_receive(session, bytes, bytes_count);
    if (flush_tls_output(connection) != ETHER_OK) {
        return; /* the write failed and closed the connection */
    }
    if (ether_tls_session_state(session) == ETHER_TLS_FAILED) {
        ether_log_warn(connection->server->options.logger, "closing connection %llu from %s: %s",
                       (unsigned long long)connection->id, connection->peer_name,
                       ether_tls_session_error_message(session));
        close_when_written(connection); /* after the alert */
        return;
    }
    if (rc == ETHER_ERR_CLOSED) {
        close_when_written(connection); /* bytes after the peer's close_notify */
        return;
    }
    if (rc != ETHER_OK) {
        connection_close(connection, ether_strerror(rc));
        return;
    }
    if (was_handshaking && ether_tls_session_state(session) != ETHER_TLS_HANDSHAKING) {
        log_handshake_done(connection);
    }
    for (;;) {
        ether_buf_reserve(&connection->input, READ_CHUNK_BYTES);
        size_t read_bytes = 0;
        rc = ether_tls_session_read(session, connection->input.data + connection->input.length,
                                    connection->input.capacity - connection->input.length,
                                    &read_bytes);
        ETHER_ASSERT(rc == ETHER_OK); /* only a FAILED session refuses, and it is not */
        if (read_bytes == 0) {
            break;
        }
        connection->input.length += read_bytes;
    }
    dispatch_frames(connection);
    if (!connection->closing && ether_tls_session_peer_closed(session)) {
        close_when_written(connection); /* our close_notify answer is already written */
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct connection *connection = (struct connection *)stream;
    if (nread < 0) {
        connection_close(connection, nread == UV_EOF ? NULL : uv_strerror((int)nread));
        return;
    }
    if (connection->tls != NULL) {
        if (nread > 0) {
            receive_tls(connection, (const uint8_t *)buf->base, (size_t)nread);
        }
        return;
    }
    connection->input.length += (size_t)nread;
    ETHER_ASSERT(connection->input.length <= connection->input.capacity);
    dispatch_frames(connection);
}

static void describe_peer(struct connection *connection)
{
    struct sockaddr_storage address;
    int length = sizeof address;
    snprintf(connection->peer_name, sizeof connection->peer_name, "unknown peer");
    if (uv_tcp_getpeername(&connection->tcp, (struct sockaddr *)&address, &length) != 0) {
        return;
    }
    char host[48] = "?";
    int port = 0;
    if (address.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
        uv_ip4_name(v4, host, sizeof host);
        port = ntohs(v4->sin_port);
    } else if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
        uv_ip6_name(v6, host, sizeof host);
        port = ntohs(v6->sin6_port);
    }
    snprintf(connection->peer_name, sizeof connection->peer_name, "%s:%d", host, port);
}

static void on_refused_closed(uv_handle_t *handle)
{
    struct connection *connection = (struct connection *)handle;
    struct broker_server *server = connection->server;
    ether_free(connection);
    handle_closed(server);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct broker_server *server = listener->data;
    if (status != 0) {
        ether_log_warn(server->options.logger, "accept failed: %s", uv_strerror(status));
        return;
    }
    struct connection *connection = ether_calloc(1, sizeof *connection);
    connection->server = server;
    ether_buf_init(&connection->input);
    int rc = uv_tcp_init(server->loop, &connection->tcp);
    ETHER_ASSERT(rc == 0);
    server->handles_open++;
    rc = uv_accept(listener, (uv_stream_t *)&connection->tcp);
    if (rc != 0 || server->connections_count >= server->options.connections_max) {
        ether_log_warn(server->options.logger, "refusing connection: %s",
                       rc != 0 ? uv_strerror(rc) : "connections-max reached");
        uv_close((uv_handle_t *)&connection->tcp, on_refused_closed);
        return;
    }
    uv_tcp_nodelay(&connection->tcp, 1);
    connection->id = server->next_connection_id++;
    describe_peer(connection);
    if (server->tls_config != NULL) {
        char errstr[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
        rc = ether_tls_session_new(server->tls_config, NULL, &connection->tls, errstr,
                                   sizeof errstr);
        if (rc != ETHER_OK) {
            ether_log_warn(server->options.logger, "refusing connection from %s: %s",
                           connection->peer_name, errstr);
            uv_close((uv_handle_t *)&connection->tcp, on_refused_closed);
            return;
        }
        connection->accepted_ms = uv_now(server->loop);
    }
    connection->next = server->connections;
    if (server->connections != NULL) {
        server->connections->previous = connection;
    }
    server->connections = connection;
    server->connections_count++;
    update_reading(connection);
}

/* Closes connections whose TLS handshake has not finished in time (slow or silent peers). */
static void on_handshake_timer(uv_timer_t *timer)
{
    struct broker_server *server = timer->data;
    uint64_t now_ms = uv_now(server->loop);
    struct connection *connection = server->connections;
    while (connection != NULL) {
        struct connection *next = connection->next; /* closing unlinks it */
        if (!connection->closing && !connection->draining &&
            ether_tls_session_state(connection->tls) == ETHER_TLS_HANDSHAKING &&
            now_ms - connection->accepted_ms >= server->options.tls_handshake_timeout_ms) {
            ether_log_warn(server->options.logger,
                           "closing connection %llu from %s: no TLS handshake within %u ms",
                           (unsigned long long)connection->id, connection->peer_name,
                           server->options.tls_handshake_timeout_ms);
            connection_close(connection, NULL);
        }
        connection = next;
    }
}

int broker_server_start(uv_loop_t *loop, const struct broker_server_options *options,
                        struct broker_server **server_out, char *errbuf, size_t errbuf_size)
{
    ETHER_ASSERT(options->on_request != NULL);
    ETHER_ASSERT(options->frame_bytes_max >= PROTO_FRAME_HEADER_BYTES);
    ETHER_ASSERT(options->tls_config == NULL ||
                 ether_tls_config_role(options->tls_config) == ETHER_TLS_ROLE_SERVER);
    ETHER_ASSERT(options->tls_config == NULL || options->tls_handshake_timeout_ms > 0);
    struct sockaddr_storage address;
    int rc = uv_ip4_addr(options->host, options->port, (struct sockaddr_in *)&address);
    if (rc != 0) {
        rc = uv_ip6_addr(options->host, options->port, (struct sockaddr_in6 *)&address);
    }
    if (rc != 0) {
        snprintf(errbuf, errbuf_size, "listen address '%s' is not an IPv4 or IPv6 address",
                 options->host);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    struct broker_server *server = ether_calloc(1, sizeof *server);
    server->loop = loop;
    server->options = *options;
    server->host = ether_strdup(options->host);
    server->options.host = server->host;
    server->options.tls_config = NULL; /* taken over below, once listening */
    server->next_connection_id = 1;
    rc = uv_tcp_init(loop, &server->listener);
    ETHER_ASSERT(rc == 0);
    server->listener.data = server;
    server->handles_open = 1;
    rc = uv_tcp_bind(&server->listener, (const struct sockaddr *)&address, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&server->listener, 511, on_connection);
    }
    if (rc != 0) {
        snprintf(errbuf, errbuf_size, "cannot listen on %s:%u: %s", options->host, options->port,
                 uv_strerror(rc));
        broker_server_stop(server, NULL, NULL);
        return rc == UV_EADDRINUSE ? ETHER_ERR_BUSY : ETHER_ERR_IO;
    }
    struct sockaddr_storage bound;
    int bound_length = sizeof bound;
    rc = uv_tcp_getsockname(&server->listener, (struct sockaddr *)&bound, &bound_length);
    ETHER_ASSERT(rc == 0);
    server->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    if (options->tls_config != NULL) {
        server->tls_config = options->tls_config;
        server->tls_read_buffer = ether_malloc(READ_CHUNK_BYTES);
        rc = uv_timer_init(loop, &server->handshake_timer);
        ETHER_ASSERT(rc == 0);
        server->handshake_timer.data = server;
        server->handles_open++;
        uint64_t sweep_ms = options->tls_handshake_timeout_ms < HANDSHAKE_SWEEP_INTERVAL_MS_MAX
                                ? options->tls_handshake_timeout_ms
                                : HANDSHAKE_SWEEP_INTERVAL_MS_MAX;
        uv_timer_start(&server->handshake_timer, on_handshake_timer, sweep_ms, sweep_ms);
    }
    *server_out = server;
    return ETHER_OK;
}

uint16_t broker_server_port(const struct broker_server *server)
{
    return server->port;
}

uint32_t broker_server_connections_count(const struct broker_server *server)
{
    return server->connections_count;
}

const char *broker_server_connection_certificate_name(struct broker_server *server,
                                                      uint64_t connection_id)
{
    struct connection *connection = find_connection(server, connection_id);
    if (connection == NULL || connection->tls == NULL) {
        return NULL;
    }
    return ether_tls_session_peer_common_name(connection->tls);
}

bool broker_server_connection_uses_tls(struct broker_server *server, uint64_t connection_id)
{
    struct connection *connection = find_connection(server, connection_id);
    return connection != NULL && connection->tls != NULL;
}

void *broker_server_connection_context(struct broker_server *server, uint64_t connection_id)
{
    struct connection *connection = find_connection(server, connection_id);
    return connection != NULL ? connection->context : NULL;
}

int broker_server_set_connection_context(struct broker_server *server, uint64_t connection_id,
                                         void *context, void (*free_context)(void *context))
{
    struct connection *connection = find_connection(server, connection_id);
    if (connection == NULL || connection->closing) {
        return ETHER_ERR_CLOSED;
    }
    ETHER_ASSERT(connection->context == NULL); /* set once */
    connection->context = context;
    connection->free_context = free_context;
    return ETHER_OK;
}

const char *broker_server_connection_peer_name(struct broker_server *server, uint64_t connection_id)
{
    struct connection *connection = find_connection(server, connection_id);
    return connection != NULL ? connection->peer_name : NULL;
}

const struct ether_tls_config *broker_server_tls_config(const struct broker_server *server)
{
    return server->tls_config;
}

void broker_server_set_tls_config(struct broker_server *server, struct ether_tls_config *config)
{
    ETHER_ASSERT(config != NULL);
    ETHER_ASSERT(ether_tls_config_role(config) == ETHER_TLS_ROLE_SERVER);
    ETHER_ASSERT(server->tls_config != NULL);  /* a plaintext server does not turn TLS on */
    ether_tls_config_free(server->tls_config); /* open sessions keep their own reference */
    server->tls_config = config;
}

static void on_write_done(uv_write_t *request, int status)
{
    struct write_request *write = (struct write_request *)request;
    struct connection *connection = write->connection;
    ETHER_ASSERT(connection->output_pending_bytes >= write->frame_bytes);
    connection->output_pending_bytes -= write->frame_bytes;
    ether_free(write->frame);
    ether_free(write);
    if (status != 0) {
        connection_close(connection, status == UV_ECANCELED ? NULL : uv_strerror(status));
        return;
    }
    if (!connection->closing && !connection->draining) {
        update_reading(connection);
    }
}

/* Writes `bytes` (taken over: freed once written) to the socket; ETHER_ERR_CLOSED when the
 * write could not start, which closes the connection. */
static int write_bytes(struct connection *connection, uint8_t *bytes, size_t bytes_count)
{
    struct write_request *write = ether_calloc(1, sizeof *write);
    write->connection = connection;
    write->frame = bytes;
    write->frame_bytes = bytes_count;
    uv_buf_t buf = uv_buf_init((char *)write->frame, (unsigned int)write->frame_bytes);
    int rc = uv_write(&write->request, (uv_stream_t *)&connection->tcp, &buf, 1, on_write_done);
    if (rc != 0) {
        ether_free(write->frame);
        ether_free(write);
        connection_close(connection, uv_strerror(rc));
        return ETHER_ERR_CLOSED;
    }
    connection->output_pending_bytes += write->frame_bytes;
    if (!connection->draining) {
        update_reading(connection);
    }
    return ETHER_OK;
}

/* Writes the session's waiting ciphertext (handshake, records, alerts) to the socket. */
static int flush_tls_output(struct connection *connection)
{
    size_t waiting = ether_tls_session_output_bytes(connection->tls);
    if (waiting == 0) {
        return ETHER_OK;
    }
    uint8_t *ciphertext = ether_malloc(waiting);
    size_t taken = ether_tls_session_take_output(connection->tls, ciphertext, waiting);
    ETHER_ASSERT(taken == waiting);
    return write_bytes(connection, ciphertext, taken);
}

/* Writes `frame` (taken over and emptied) to the connection, through its session if any. */
static int queue_frame(struct connection *connection, struct ether_buf *frame)
{
    if (connection->tls == NULL) {
        size_t frame_bytes = 0;
        uint8_t *bytes = ether_buf_take(frame, &frame_bytes);
        return write_bytes(connection, bytes, frame_bytes);
    }
    /* The session holds no ciphertext between calls (it is always flushed), so only a
     * frame larger than its buffered_bytes_max, or a closed or failed session, fails. */
    int rc = ether_tls_session_write(connection->tls, frame->data, frame->length);
    ether_buf_free(frame);
    if (rc != ETHER_OK) {
        connection_close(connection, ether_strerror(rc));
        return ETHER_ERR_CLOSED;
    }
    return flush_tls_output(connection);
}

int broker_server_respond(struct broker_server *server, uint64_t connection_id, uint16_t api_key,
                          uint32_t correlation_id, const ProtobufCMessage *response)
{
    struct connection *connection = find_connection(server, connection_id);
    if (connection == NULL || connection->closing || connection->draining) {
        return ETHER_ERR_CLOSED;
    }
    struct ether_buf frame = ETHER_BUF_INIT;
    struct proto_frame_header header = {
        .api_key = api_key,
        .api_version = proto_api_version_max(api_key),
        .is_response = true,
        .correlation_id = correlation_id,
    };
    int rc = proto_frame_encode(&frame, &header, response, server->options.frame_bytes_max);
    if (rc != ETHER_OK) {
        ether_buf_free(&frame);
        return rc;
    }
    return queue_frame(connection, &frame);
}

int broker_server_respond_error(struct broker_server *server, uint64_t connection_id,
                                const struct proto_frame_header *request, int error,
                                const char *message)
{
    struct connection *connection = find_connection(server, connection_id);
    if (connection == NULL || connection->closing || connection->draining) {
        return ETHER_ERR_CLOSED;
    }
    struct ether_buf frame = ETHER_BUF_INIT;
    int rc =
        proto_frame_encode_error(&frame, request, error, message, server->options.frame_bytes_max);
    if (rc != ETHER_OK) {
        ether_buf_free(&frame);
        return rc;
    }
    return queue_frame(connection, &frame);
}

void broker_server_close_connection(struct broker_server *server, uint64_t connection_id)
{
    struct connection *connection = find_connection(server, connection_id);
    if (connection != NULL) {
        connection_close(connection, NULL);
    }
}

void broker_server_close_connection_after_writes(struct broker_server *server,
                                                 uint64_t connection_id)
{
    struct connection *connection = find_connection(server, connection_id);
    if (connection != NULL) {
        close_when_written(connection);
    }
}

static void on_server_handle_closed(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

void broker_server_stop(struct broker_server *server, void (*on_stopped)(void *context),
                        void *context)
{
    ETHER_ASSERT(!server->stopping);
    server->stopping = true;
    server->on_stopped = on_stopped;
    server->on_stopped_context = context;
    while (server->connections != NULL) {
        connection_close(server->connections, NULL);
    }
    if (server->tls_config != NULL) {
        uv_close((uv_handle_t *)&server->handshake_timer, on_server_handle_closed);
    }
    uv_close((uv_handle_t *)&server->listener, on_server_handle_closed);
}
