/*
 * server.h: the broker's TCP listener: accepts connections on a libuv loop,
 * cuts the byte stream into frames (proto/proto.h), unpacks each request and
 * hands it to one handler; writes responses back.
 *
 * Owns: the listening socket, every accepted connection and its buffers.
 * A connection is named by a 64-bit id that is never reused, so a handler
 * that answers later (acks=all waits for a commit) answers by id, and an
 * answer for a connection that has closed meanwhile is dropped with
 * ETHER_ERR_CLOSED instead of touching freed memory.
 *
 * Limits: a frame larger than frame_bytes_max, a frame that does not parse or
 * a response frame sent by a client closes that connection (the stream can
 * not be resynchronised) with one WARN line; more than connections_max open
 * connections are refused at accept; a connection whose unsent responses
 * exceed output_bytes_max stops being read until they drain (backpressure).
 *
 * TLS: with a tls_config every accepted connection gets a server session
 * (common/tls.h): bytes received go through it and only its plaintext reaches
 * the frame parser; responses are encrypted by it, and the ciphertext is what
 * output_bytes_max counts. A handshake that fails (bytes that are not TLS, such
 * as a frame sent in clear, an old protocol version, a refused certificate) or
 * does not finish within tls_handshake_timeout_ms closes the connection with
 * one WARN line, after sending the session's alert. The verified peer
 * certificate's common name is available to the handler, which decides what it means
 * (broker/security.h).
 *
 * Threading: everything runs on the loop's thread.
 */
#ifndef ETHER_BROKER_SERVER_H
#define ETHER_BROKER_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/log.h"
#include "common/tls.h"
#include "proto/proto.h"

struct broker_server;

/*
 * Called once per request frame. The handler owns `request` and frees it with
 * proto_message_free. `header` is valid only during the call.
 */
typedef void broker_request_fn(void *handler_context, struct broker_server *server,
                               uint64_t connection_id, const struct proto_frame_header *header,
                               ProtobufCMessage *request);

struct broker_server_options {
    const char *host;
    uint16_t port; /* 0: any free port (see broker_server_port) */
    uint32_t frame_bytes_max;
    uint32_t connections_max;
    uint64_t output_bytes_max;
    const struct ether_logger *logger;
    broker_request_fn *on_request;
    void *handler_context;
    /* NULL: plaintext. Else a server-role config that broker_server_start takes over
     * when it succeeds (freed with the server). */
    struct ether_tls_config *tls_config;
    uint32_t tls_handshake_timeout_ms;
};

void broker_server_options_init(struct broker_server_options *options);

/*
 * Binds and listens. On success *server_out is running on `loop`. On failure
 * returns a code with a sentence in errbuf; nothing is left on the loop.
 */
int broker_server_start(uv_loop_t *loop, const struct broker_server_options *options,
                        struct broker_server **server_out, char *errbuf, size_t errbuf_size);

/* The port actually bound (useful with port 0). */
uint16_t broker_server_port(const struct broker_server *server);

/*
 * Encodes and queues a response frame. Returns ETHER_ERR_CLOSED when the
 * connection is gone, ETHER_ERR_FRAME_TOO_LARGE when the response exceeds the
 * frame limit, ETHER_ERR_INVALID_ARGUMENT when `response` is not the
 * api's response message. `response` stays the caller's.
 */
int broker_server_respond(struct broker_server *server, uint64_t connection_id, uint16_t api_key,
                          uint32_t correlation_id, const ProtobufCMessage *response);

/* Answers `request` with an ErrorResponse (ETHER_ERR_CLOSED when the connection is gone). */
int broker_server_respond_error(struct broker_server *server, uint64_t connection_id,
                                const struct proto_frame_header *request, int error,
                                const char *message);

/*
 * The common name of the peer's verified certificate ("broker-2", "alice"); NULL without
 * TLS, without a verified certificate, or for a connection that is gone. Valid until the
 * connection closes (copy it to keep it).
 */
const char *broker_server_connection_certificate_name(struct broker_server *server,
                                                      uint64_t connection_id);

/* Whether the connection runs over TLS (false for one that is gone). */
bool broker_server_connection_uses_tls(struct broker_server *server, uint64_t connection_id);

/*
 * The handler's own state for one connection (e.g. who the client authenticated as), set
 * once with broker_server_set_connection_context and freed with free_context (may be NULL)
 * when the connection closes. NULL until set and for a connection that is gone; setting it
 * on a closed or closing connection is ETHER_ERR_CLOSED (the caller keeps `context`).
 */
void *broker_server_connection_context(struct broker_server *server, uint64_t connection_id);
int broker_server_set_connection_context(struct broker_server *server, uint64_t connection_id,
                                         void *context, void (*free_context)(void *context));

/* "address:port" of a connection's peer, for log lines; NULL for a connection that is gone.
 * Valid until the connection closes. */
const char *broker_server_connection_peer_name(struct broker_server *server,
                                               uint64_t connection_id);

/* The TLS config new connections get; NULL when the server is plaintext. */
const struct ether_tls_config *broker_server_tls_config(const struct broker_server *server);

/*
 * Replaces the TLS config of a server started with one (e.g. certificates reloaded on
 * SIGHUP), taking `config` over: new connections use it, open ones keep theirs.
 */
void broker_server_set_tls_config(struct broker_server *server, struct ether_tls_config *config);

/* Closes one connection (e.g. a protocol violation found by the handler). */
void broker_server_close_connection(struct broker_server *server, uint64_t connection_id);

/* Stops reading from the connection and closes it once the answers queued for it are written
 * (e.g. after answering a failed login). */
void broker_server_close_connection_after_writes(struct broker_server *server,
                                                 uint64_t connection_id);

uint32_t broker_server_connections_count(const struct broker_server *server);

/*
 * Stops listening and closes every connection. `on_stopped` (may be NULL)
 * runs once every handle has closed; the server is freed right after it.
 */
void broker_server_stop(struct broker_server *server, void (*on_stopped)(void *context),
                        void *context);

#endif
