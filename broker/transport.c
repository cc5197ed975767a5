/*
 * transport.c: happy path: send() packs into the peer's pending buffer;
 * flush() wraps it in a frame and uv_write()s it on the peer's connection.
 *
 * With TLS a connection goes CONNECTING -> HANDSHAKING -> CONNECTED: the
 * session's ClientHello is written on connect, the peer's answers are fed to
 * the session as they are read, and the peer is CONNECTED when the session is
 * established; from then on frames go through the session.
 *
 * Failure modes: connect or write errors close the connection and schedule a
 * reconnect after a delay that doubles up to reconnect_delay_max_ms; while
 * disconnected, and while a slow peer has too many unsent bytes, messages are
 * dropped (Raft retransmits). A failed or late TLS handshake is a failed
 * connect; the delay is reset only by a connection that stayed CONNECTED for
 * reconnect_delay_max_ms.
 */
#include "broker/transport.h"

#include "broker/raft_wire.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/varint.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { PEERS_MAX = 256, HOST_BYTES_MAX = 256 };

enum peer_state { PEER_IDLE, PEER_CONNECTING, PEER_HANDSHAKING, PEER_CONNECTED, PEER_CLOSING };

struct peer {
    struct broker_transport *transport;
    uint32_t broker_id;
    char host[HOST_BYTES_MAX];
    uint16_t port;
    enum peer_state state;
    uv_tcp_t tcp;
    bool tcp_open;
    uv_connect_t connect_request;
    /* Also the handshake deadline while HANDSHAKING, and the end of the probation of a new
     * connection while CONNECTED (see connected). */
    uv_timer_t reconnect_timer;
    uint32_t reconnect_delay_ms;
    struct ether_tls_session *tls; /* with TLS, from connect until the handle is closed */
    /* Failed handshakes in a row, and the last one's sentence, so that a repeated failure
     * is not logged at WARN again. */
    uint32_t handshake_failures;
    char handshake_failure[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
    struct ether_buf pending; /* packed RaftMessage fields, not yet framed */
    bool hints_due;           /* the current hints go with the next frame */
    uint64_t output_pending_bytes;
    uint8_t read_buffer[4096];
};

struct write_request {
    uv_write_t request;
    struct peer *peer;
    uint8_t *frame;
    size_t frame_bytes;
};

struct broker_transport {
    uv_loop_t *loop;
    struct broker_transport_options options;
    struct peer *peers[PEERS_MAX];
    size_t peers_count;
    struct broker_raft_wire_scratch scratch;
    struct ether_buf hints; /* packed `leaders` fields of RaftMessagesRequest */
    struct broker_transport_stats stats;
    bool closing;
    uint32_t handles_open;
    void (*on_closed)(void *context);
    void *on_closed_context;
};

void broker_transport_options_init(struct broker_transport_options *options)
{
    memset(options, 0, sizeof *options);
    options->frame_bytes_max = 64u * 1024 * 1024;
    options->output_bytes_max = 64u * 1024 * 1024;
    options->reconnect_delay_min_ms = 50;
    options->reconnect_delay_max_ms = 2000;
    options->tls_handshake_timeout_ms = 10000;
}

int broker_transport_create(uv_loop_t *loop, const struct broker_transport_options *options,
                            struct broker_transport **transport_out)
{
    ETHER_ASSERT(options->reconnect_delay_min_ms > 0);
    ETHER_ASSERT(options->reconnect_delay_min_ms <= options->reconnect_delay_max_ms);
    ETHER_ASSERT(options->tls_config == NULL ||
                 ether_tls_config_role(options->tls_config) == ETHER_TLS_ROLE_CLIENT);
    ETHER_ASSERT(options->tls_config == NULL || options->tls_handshake_timeout_ms > 0);
    struct broker_transport *transport = ether_calloc(1, sizeof *transport);
    transport->loop = loop;
    transport->options = *options;
    broker_raft_wire_scratch_init(&transport->scratch);
    *transport_out = transport;
    return ETHER_OK;
}

static struct peer *find_peer(struct broker_transport *transport, uint32_t broker_id)
{
    for (size_t i = 0; i < transport->peers_count; i++) {
        if (transport->peers[i]->broker_id == broker_id) {
            return transport->peers[i];
        }
    }
    return NULL;
}

static void handle_closed(struct broker_transport *transport)
{
    ETHER_ASSERT(transport->handles_open > 0);
    transport->handles_open--;
    if (transport->closing && transport->handles_open == 0) {
        void (*on_closed)(void *) = transport->on_closed;
        void *context = transport->on_closed_context;
        for (size_t i = 0; i < transport->peers_count; i++) {
            ether_buf_free(&transport->peers[i]->pending);
            ether_free(transport->peers[i]);
        }
        broker_raft_wire_scratch_free(&transport->scratch);
        ether_buf_free(&transport->hints);
        ether_tls_config_free(transport->options.tls_config);
        ether_free(transport);
        if (on_closed != NULL) {
            on_closed(context);
        }
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct peer *peer = handle->data;
    handle_closed(peer->transport);
}

static void on_tcp_closed(uv_handle_t *handle)
{
    struct peer *peer = handle->data;
    peer->tcp_open = false;
    ether_tls_session_free(peer->tls); /* no callback of this handle can run any more */
    peer->tls = NULL;
    if (peer->state == PEER_CLOSING && !peer->transport->closing) {
        peer->state = PEER_IDLE;
    }
    handle_closed(peer->transport);
}

static void schedule_reconnect(struct peer *peer);
static void on_reconnect_timer(uv_timer_t *timer);

static void drop_connection(struct peer *peer, const char *reason)
{
    if (peer->state == PEER_CLOSING || !peer->tcp_open) {
        return;
    }
    if (reason != NULL) {
        ether_log_info(peer->transport->options.logger, "connection to broker %u (%s:%u): %s",
                       peer->broker_id, peer->host, peer->port, reason);
    }
    peer->state = PEER_CLOSING;
    ether_buf_clear(&peer->pending);
    uv_close((uv_handle_t *)&peer->tcp, on_tcp_closed);
    if (!peer->transport->closing) {
        schedule_reconnect(peer);
    }
}

/* A handshake that failed: WARN unless it is the same failure as the previous attempt's. */
static void handshake_failed(struct peer *peer, const char *sentence)
{
    bool repeated = peer->handshake_failures > 0 && strcmp(peer->handshake_failure, sentence) == 0;
    peer->handshake_failures++;
    if (repeated) {
        ether_log_debug(peer->transport->options.logger,
                        "cannot connect to broker %u at %s:%u: %s (%u times in a row)",
                        peer->broker_id, peer->host, peer->port, sentence,
                        peer->handshake_failures);
    } else {
        ether_log_warn(peer->transport->options.logger, "cannot connect to broker %u at %s:%u: %s",
                       peer->broker_id, peer->host, peer->port, sentence);
        snprintf(peer->handshake_failure, sizeof peer->handshake_failure, "%s", sentence);
    }
    drop_connection(peer, NULL);
}

static void log_connected(const struct peer *peer, enum ether_log_level level)
{
    char failures[64] = "";
    if (peer->handshake_failures > 0) {
        snprintf(failures, sizeof failures, " after %u failed handshakes",
                 peer->handshake_failures);
    }
    ether_log(peer->transport->options.logger, level, "connected to broker %u at %s:%u%s%s%s",
              peer->broker_id, peer->host, peer->port, peer->tls != NULL ? " with " : "",
              peer->tls != NULL ? ether_tls_session_protocol(peer->tls) : "", failures);
}

/*
 * A new connection is on probation for reconnect_delay_max_ms: only one that lasts resets
 * the backoff and ends a streak of failed handshakes. One refused at once keeps them, which
 * matters with TLS 1.3, where our handshake ends before the peer has checked our
 * certificate: its refusal comes right after, and is counted as a failed handshake.
 */
static void connected(struct peer *peer)
{
    struct broker_transport *transport = peer->transport;
    peer->state = PEER_CONNECTED;
    uv_timer_start(&peer->reconnect_timer, on_reconnect_timer,
                   transport->options.reconnect_delay_max_ms, 0); /* ends the handshake's */
    log_connected(peer, peer->handshake_failures == 0 ? ETHER_LOG_INFO : ETHER_LOG_DEBUG);
}

static void probation_passed(struct peer *peer)
{
    peer->reconnect_delay_ms = peer->transport->options.reconnect_delay_min_ms;
    if (peer->handshake_failures > 0) {
        log_connected(peer, ETHER_LOG_INFO);
        peer->handshake_failures = 0;
    }
}

static int write_bytes(struct peer *peer, uint8_t *bytes, size_t bytes_count);

/* Writes the session's waiting ciphertext; ETHER_ERR_CLOSED when that dropped the connection. */
static int flush_tls_output(struct peer *peer)
{
    size_t waiting = ether_tls_session_output_bytes(peer->tls);
    if (waiting == 0) {
        return ETHER_OK;
    }
    uint8_t *ciphertext = ether_malloc(waiting);
    size_t taken = ether_tls_session_take_output(peer->tls, ciphertext, waiting);
    ETHER_ASSERT(taken == waiting);
    return write_bytes(peer, ciphertext, taken);
}

/* Bytes from the peer: the handshake's, then nothing but a close_notify or an alert. */
static void receive_tls(struct peer *peer, const uint8_t *bytes, size_t bytes_count)
{
    int rc = ether_tls_session_receive(peer->tls, bytes, bytes_count);
    if (flush_tls_output(peer) != ETHER_OK) {
        return;
    }
    enum ether_tls_state state = ether_tls_session_state(peer->tls);
    /* In TLS 1.3 the client's handshake ends before the server has checked the client's
     * certificate, so a refusal of ours arrives just after: a failed connect too. */
    if (state == ETHER_TLS_FAILED &&
        (peer->state == PEER_HANDSHAKING ||
         ether_tls_session_error(peer->tls) == ETHER_ERR_AUTHENTICATION_FAILED)) {
        handshake_failed(peer, ether_tls_session_error_message(peer->tls));
        return;
    }
    if (state == ETHER_TLS_FAILED || state == ETHER_TLS_CLOSED || rc != ETHER_OK) {
        drop_connection(peer, state == ETHER_TLS_FAILED ? ether_tls_session_error_message(peer->tls)
                                                        : "closed by peer");
        return;
    }
    if (state == ETHER_TLS_ESTABLISHED && peer->state == PEER_HANDSHAKING) {
        connected(peer);
    }
    /* Peers send no plaintext back on this connection today; it is read and ignored. */
    uint8_t ignored[1024];
    size_t read_bytes = 0;
    do {
        rc = ether_tls_session_read(peer->tls, ignored, sizeof ignored, &read_bytes);
    } while (rc == ETHER_OK && read_bytes > 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct peer *peer = stream->data;
    if (nread < 0) {
        if (peer->state == PEER_HANDSHAKING) {
            handshake_failed(peer, nread == UV_EOF
                                       ? "the broker closed the connection during the TLS handshake"
                                       : uv_strerror((int)nread));
            return;
        }
        drop_connection(peer, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (peer->tls != NULL && nread > 0) {
        receive_tls(peer, (const uint8_t *)buf->base, (size_t)nread);
    }
    /* Without TLS peers send nothing back on this connection today; bytes are ignored. */
}

static void on_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buf)
{
    (void)suggested_bytes;
    struct peer *peer = handle->data;
    buf->base = (char *)peer->read_buffer;
    buf->len = sizeof peer->read_buffer;
}

static void on_connect(uv_connect_t *request, int status)
{
    struct peer *peer = request->data;
    if (peer->transport->closing || peer->state != PEER_CONNECTING) {
        return;
    }
    if (status != 0) {
        drop_connection(peer, NULL); /* refused while the peer is down: normal, not logged */
        return;
    }
    struct broker_transport *transport = peer->transport;
    uv_tcp_nodelay(&peer->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&peer->tcp, on_alloc, on_read);
    if (rc != 0) {
        drop_connection(peer, uv_strerror(rc));
        return;
    }
    if (transport->options.tls_config == NULL) {
        connected(peer);
        return;
    }
    char errstr[ETHER_TLS_ERROR_MESSAGE_BYTES_MAX];
    ETHER_ASSERT(peer->tls == NULL);
    rc = ether_tls_session_new(transport->options.tls_config, peer->host, &peer->tls, errstr,
                               sizeof errstr);
    if (rc != ETHER_OK) {
        handshake_failed(peer, errstr);
        return;
    }
    peer->state = PEER_HANDSHAKING;
    uv_timer_start(&peer->reconnect_timer, on_reconnect_timer,
                   transport->options.tls_handshake_timeout_ms, 0);
    (void)flush_tls_output(peer); /* the ClientHello; a failed write dropped the connection */
}

static void start_connect(struct peer *peer)
{
    struct broker_transport *transport = peer->transport;
    struct sockaddr_storage address;
    int rc = uv_ip4_addr(peer->host, peer->port, (struct sockaddr_in *)&address);
    if (rc != 0) {
        rc = uv_ip6_addr(peer->host, peer->port, (struct sockaddr_in6 *)&address);
    }
    if (rc != 0) {
        /* A name, not an address: resolve it synchronously here is not allowed (it
         * could block the loop); callers pass addresses. Try again later. */
        ether_log_warn(transport->options.logger, "broker %u address '%s' is not an IP address",
                       peer->broker_id, peer->host);
        schedule_reconnect(peer);
        return;
    }
    rc = uv_tcp_init(transport->loop, &peer->tcp);
    ETHER_ASSERT(rc == 0);
    peer->tcp.data = peer;
    peer->tcp_open = true;
    transport->handles_open++;
    peer->state = PEER_CONNECTING;
    peer->connect_request.data = peer;
    rc = uv_tcp_connect(&peer->connect_request, &peer->tcp, (const struct sockaddr *)&address,
                        on_connect);
    if (rc != 0) {
        drop_connection(peer, uv_strerror(rc));
    }
}

static void on_reconnect_timer(uv_timer_t *timer)
{
    struct peer *peer = timer->data;
    if (!peer->transport->closing && peer->state == PEER_HANDSHAKING) {
        char sentence[96];
        snprintf(sentence, sizeof sentence, "no TLS handshake within %u ms",
                 peer->transport->options.tls_handshake_timeout_ms);
        handshake_failed(peer, sentence);
    } else if (!peer->transport->closing && peer->state == PEER_CONNECTED) {
        probation_passed(peer);
    } else if (!peer->transport->closing && peer->state == PEER_IDLE) {
        start_connect(peer);
    } else if (!peer->transport->closing && peer->state == PEER_CLOSING) {
        schedule_reconnect(peer); /* the old handle has not finished closing */
    }
}

static void schedule_reconnect(struct peer *peer)
{
    uint32_t delay = peer->reconnect_delay_ms;
    uint32_t doubled = delay * 2;
    peer->reconnect_delay_ms = doubled > peer->transport->options.reconnect_delay_max_ms
                                   ? peer->transport->options.reconnect_delay_max_ms
                                   : doubled;
    uv_timer_start(&peer->reconnect_timer, on_reconnect_timer, delay, 0);
}

void broker_transport_set_peer(struct broker_transport *transport, uint32_t broker_id,
                               const char *host, uint16_t port)
{
    ETHER_ASSERT(broker_id != transport->options.self_broker_id);
    struct peer *peer = find_peer(transport, broker_id);
    if (peer != NULL) {
        if (strcmp(peer->host, host) == 0 && peer->port == port) {
            return;
        }
        snprintf(peer->host, sizeof peer->host, "%s", host);
        peer->port = port;
        drop_connection(peer, "address changed");
        return;
    }
    ETHER_ASSERT(transport->peers_count < PEERS_MAX);
    peer = ether_calloc(1, sizeof *peer);
    peer->transport = transport;
    peer->broker_id = broker_id;
    snprintf(peer->host, sizeof peer->host, "%s", host);
    peer->port = port;
    peer->state = PEER_IDLE;
    peer->reconnect_delay_ms = transport->options.reconnect_delay_min_ms;
    ether_buf_init(&peer->pending);
    uv_timer_init(transport->loop, &peer->reconnect_timer);
    peer->reconnect_timer.data = peer;
    transport->handles_open++;
    transport->peers[transport->peers_count++] = peer;
    start_connect(peer);
}

void broker_transport_send(struct broker_transport *transport, const struct raft_message *message)
{
    struct peer *peer = find_peer(transport, broker_node_broker_id(message->to));
    if (peer == NULL || peer->state != PEER_CONNECTED ||
        peer->output_pending_bytes + peer->pending.length > transport->options.output_bytes_max) {
        transport->stats.messages_dropped++;
        return;
    }
    broker_raft_wire_append(&peer->pending, &transport->scratch, message);
    transport->stats.messages_sent++;
}

static void on_write_done(uv_write_t *request, int status)
{
    struct write_request *write = (struct write_request *)request;
    struct peer *peer = write->peer;
    ETHER_ASSERT(peer->output_pending_bytes >= write->frame_bytes);
    peer->output_pending_bytes -= write->frame_bytes;
    ether_free(write->frame);
    ether_free(write);
    if (status != 0 && status != UV_ECANCELED) {
        drop_connection(peer, uv_strerror(status));
    }
}

void broker_transport_broadcast_hints(struct broker_transport *transport,
                                      const Ether__LeaderHint *const *hints, size_t hints_count)
{
    ether_buf_clear(&transport->hints);
    for (size_t i = 0; i < hints_count; i++) {
        size_t packed_bytes = protobuf_c_message_get_packed_size(&hints[i]->base);
        ether_buf_append_u8(&transport->hints, (3 << 3) | 2); /* field 3, length-delimited */
        ether_buf_append_varint(&transport->hints, packed_bytes);
        size_t packed = protobuf_c_message_pack(&hints[i]->base,
                                                ether_buf_extend(&transport->hints, packed_bytes));
        ETHER_ASSERT(packed == packed_bytes);
    }
    /* This broker's rack travels with the hints, not in every frame. */
    Ether__RaftSenderInfo sender = ETHER__RAFT_SENDER_INFO__INIT;
    sender.rack =
        (char *)(uintptr_t)(transport->options.self_rack != NULL ? transport->options.self_rack
                                                                 : "");
    size_t sender_bytes = protobuf_c_message_get_packed_size(&sender.base);
    ether_buf_append_u8(&transport->hints, (5 << 3) | 2); /* field 5, length-delimited */
    ether_buf_append_varint(&transport->hints, sender_bytes);
    protobuf_c_message_pack(&sender.base, ether_buf_extend(&transport->hints, sender_bytes));
    for (size_t i = 0; i < transport->peers_count; i++) {
        transport->peers[i]->hints_due = true;
    }
}

/* Writes `bytes` (taken over: freed once written) to the peer's socket; ETHER_ERR_CLOSED when
 * the write could not start, which drops the connection. */
static int write_bytes(struct peer *peer, uint8_t *bytes, size_t bytes_count)
{
    struct write_request *write = ether_calloc(1, sizeof *write);
    write->peer = peer;
    write->frame = bytes;
    write->frame_bytes = bytes_count;
    uv_buf_t buf = uv_buf_init((char *)write->frame, (unsigned int)write->frame_bytes);
    int rc = uv_write(&write->request, (uv_stream_t *)&peer->tcp, &buf, 1, on_write_done);
    if (rc != 0) {
        ether_free(write->frame);
        ether_free(write);
        drop_connection(peer, uv_strerror(rc));
        return ETHER_ERR_CLOSED;
    }
    peer->output_pending_bytes += write->frame_bytes;
    peer->transport->stats.bytes_sent += write->frame_bytes;
    return ETHER_OK;
}

/* Writes one RAFT_MESSAGES frame holding `fields` (packed, whole fields) to the peer. */
static void write_frame(struct broker_transport *transport, struct peer *peer,
                        const struct ether_buf *fields)
{
    struct ether_buf frame = ETHER_BUF_INIT;
    int rc = broker_raft_wire_frame(&frame, transport->options.self_broker_id,
                                    transport->options.self_incarnation, fields,
                                    transport->options.frame_bytes_max);
    if (rc != ETHER_OK) {
        /* Only a single message larger than a frame gets here: Raft sends it again
         * smaller (its append and chunk limits are far below the frame limit). */
        ether_log_warn(transport->options.logger,
                       "a Raft message for broker %u exceeds the frame limit; dropped",
                       peer->broker_id);
        transport->stats.messages_dropped++;
        ether_buf_free(&frame);
        return;
    }
    if (peer->tls == NULL) {
        size_t frame_bytes = 0;
        uint8_t *bytes = ether_buf_take(&frame, &frame_bytes);
        rc = write_bytes(peer, bytes, frame_bytes);
    } else {
        /* CONNECTED: the session is established and holds nothing (it is always flushed),
         * and its buffered_bytes_max is above the frame limit. */
        rc = ether_tls_session_write(peer->tls, frame.data, frame.length);
        ether_buf_free(&frame);
        if (rc != ETHER_OK) {
            drop_connection(peer, ether_strerror(rc));
            return;
        }
        rc = flush_tls_output(peer);
    }
    if (rc == ETHER_OK) {
        transport->stats.frames_sent++;
    }
}

/* Bytes of the packed field (tag, varint length, body) at the start of `data`; 0 if broken. */
static size_t field_bytes(const uint8_t *data, size_t size_bytes)
{
    uint64_t length = 0;
    size_t consumed = 0;
    if (size_bytes < 2 ||
        ether_varint_decode_u64(data + 1, size_bytes - 1, &length, &consumed) != ETHER_OK ||
        length > size_bytes - 1 - consumed) {
        return 0;
    }
    return 1 + consumed + (size_t)length;
}

void broker_transport_flush(struct broker_transport *transport)
{
    /* Room for the frame header and the sender's id and incarnation. */
    size_t frame_fields_max = transport->options.frame_bytes_max - PROTO_FRAME_HEADER_BYTES - 32;
    struct ether_buf chunk = ETHER_BUF_INIT;
    for (size_t i = 0; i < transport->peers_count; i++) {
        struct peer *peer = transport->peers[i];
        bool hello = false;
        if (peer->hints_due && peer->state == PEER_CONNECTED) {
            ether_buf_append(&peer->pending, transport->hints.data, transport->hints.length);
            peer->hints_due = false;
            hello = true;
        }
        if (peer->pending.length == 0 && !hello) {
            continue;
        }
        if (peer->state != PEER_CONNECTED) {
            ether_buf_clear(&peer->pending);
            continue;
        }
        if (peer->pending.length <= frame_fields_max) {
            write_frame(transport, peer, &peer->pending);
            ether_buf_clear(&peer->pending);
            continue;
        }
        /* More than one frame's worth (catch-up of many groups): split at message
         * boundaries so that no frame exceeds what the peer accepts. */
        size_t position = 0;
        while (position < peer->pending.length && peer->state == PEER_CONNECTED) {
            ether_buf_clear(&chunk);
            while (position < peer->pending.length) {
                size_t bytes =
                    field_bytes(peer->pending.data + position, peer->pending.length - position);
                ETHER_ASSERT(bytes > 0); /* this module packed them */
                if (chunk.length > 0 && chunk.length + bytes > frame_fields_max) {
                    break;
                }
                ether_buf_append(&chunk, peer->pending.data + position, bytes);
                position += bytes;
            }
            write_frame(transport, peer, &chunk);
        }
        ether_buf_clear(&peer->pending);
    }
    ether_buf_free(&chunk);
}

void broker_transport_set_incarnation(struct broker_transport *transport, uint32_t incarnation)
{
    transport->options.self_incarnation = incarnation;
}

void broker_transport_stats(const struct broker_transport *transport,
                            struct broker_transport_stats *stats)
{
    *stats = transport->stats;
}

const struct ether_tls_config *broker_transport_tls_config(const struct broker_transport *transport)
{
    return transport->options.tls_config;
}

void broker_transport_set_tls_config(struct broker_transport *transport,
                                     struct ether_tls_config *config)
{
    ETHER_ASSERT(config != NULL);
    ETHER_ASSERT(ether_tls_config_role(config) == ETHER_TLS_ROLE_CLIENT);
    ETHER_ASSERT(transport->options.tls_config != NULL);  /* plaintext stays plaintext */
    ether_tls_config_free(transport->options.tls_config); /* sessions keep their reference */
    transport->options.tls_config = config;
}

void broker_transport_close(struct broker_transport *transport, void (*on_closed)(void *context),
                            void *context)
{
    ETHER_ASSERT(!transport->closing);
    transport->closing = true;
    transport->on_closed = on_closed;
    transport->on_closed_context = context;
    transport->handles_open++; /* held until every close below is issued */
    for (size_t i = 0; i < transport->peers_count; i++) {
        struct peer *peer = transport->peers[i];
        uv_timer_stop(&peer->reconnect_timer);
        uv_close((uv_handle_t *)&peer->reconnect_timer, on_handle_closed);
        if (peer->tcp_open && peer->state != PEER_CLOSING) {
            peer->state = PEER_CLOSING;
            uv_close((uv_handle_t *)&peer->tcp, on_tcp_closed);
        }
    }
    handle_closed(transport);
}
