/*
 * transport.h: Raft traffic from this broker to its peers (etherd internal).
 *
 * One persistent outbound TCP connection per peer broker, reconnected with
 * exponential backoff. Messages for a peer are packed as they are produced
 * (broker_transport_send) and leave as ONE RAFT_MESSAGES frame per peer per
 * loop turn (broker_transport_flush), so the heartbeats and appends of many
 * groups between the same two brokers travel together.
 *
 * Raft tolerates lost messages, so this module drops instead of blocking:
 * messages for a peer that is not connected, or whose unsent bytes exceed
 * output_bytes_max, are dropped and counted. Inbound RAFT_MESSAGES arrive on
 * the broker's server (broker/server.h), not here.
 *
 * A Raft node id names its broker in its upper 32 bits (node id =
 * broker_id << 32 | incarnation), which is how a message finds its peer.
 *
 * TLS: with a tls_config (client role, carrying this broker's certificate for
 * mTLS) every connection runs a client session that checks the peer's
 * certificate against the host it dialled. A peer counts as connected, and
 * gets messages, only once the handshake is done; a handshake that fails or
 * takes longer than tls_handshake_timeout_ms is a failed connect (backoff, one
 * WARN line; the same failure again is logged at DEBUG). Frames go through the
 * session and are flushed at once, so output_bytes_max counts the ciphertext.
 */
#ifndef ETHER_BROKER_TRANSPORT_H
#define ETHER_BROKER_TRANSPORT_H

#include <stdint.h>
#include <uv.h>

#include "common/log.h"
#include "common/tls.h"
#include "proto/proto.h"
#include "raft/raft.h"

struct broker_transport;

struct broker_transport_options {
    uint32_t self_broker_id;
    uint32_t self_incarnation; /* 0 until known (see broker_transport_set_incarnation) */
    const char *self_rack;     /* "" or NULL: none; sent with the hints; outlives the transport */
    uint32_t frame_bytes_max;
    uint64_t output_bytes_max; /* per peer */
    uint32_t reconnect_delay_min_ms;
    uint32_t reconnect_delay_max_ms;
    const struct ether_logger *logger;
    /* NULL: plaintext. Else a client-role config that broker_transport_create takes over
     * (freed with the transport). */
    struct ether_tls_config *tls_config;
    uint32_t tls_handshake_timeout_ms;
};

void broker_transport_options_init(struct broker_transport_options *options);

struct broker_transport_stats {
    uint64_t messages_sent;
    uint64_t messages_dropped;
    uint64_t frames_sent;
    uint64_t bytes_sent;
};

int broker_transport_create(uv_loop_t *loop, const struct broker_transport_options *options,
                            struct broker_transport **transport_out);

/* Adds a peer or changes its address (the connection is remade). */
void broker_transport_set_peer(struct broker_transport *transport, uint32_t broker_id,
                               const char *host, uint16_t port);

static inline uint32_t broker_node_broker_id(uint64_t node_id)
{
    return (uint32_t)(node_id >> 32);
}

static inline uint64_t broker_node_id(uint32_t broker_id, uint32_t incarnation)
{
    return ((uint64_t)broker_id << 32) | incarnation;
}

/* Every frame names the sender's incarnation; set once it is known. */
void broker_transport_set_incarnation(struct broker_transport *transport, uint32_t incarnation);

/* Packs `message` for the peer that hosts message->to. */
void broker_transport_send(struct broker_transport *transport, const struct raft_message *message);

/*
 * Replaces the leader hints that go, once, with the next frame to every
 * connected peer, together with this broker's rack (RaftSenderInfo); that frame
 * is sent even when it has no Raft message and no hint, so every peer regularly
 * hears this broker's id, incarnation and rack. The hints are copied.
 */
void broker_transport_broadcast_hints(struct broker_transport *transport,
                                      const Ether__LeaderHint *const *hints, size_t hints_count);

/* Writes every peer's packed messages as one frame each. Call once per loop turn. */
void broker_transport_flush(struct broker_transport *transport);

void broker_transport_stats(const struct broker_transport *transport,
                            struct broker_transport_stats *stats);

/* The TLS config new connections get; NULL when the transport is plaintext. */
const struct ether_tls_config *
broker_transport_tls_config(const struct broker_transport *transport);

/*
 * Replaces the TLS config of a transport created with one (certificates reloaded),
 * taking `config` over: connections made from now on use it, open ones keep theirs.
 */
void broker_transport_set_tls_config(struct broker_transport *transport,
                                     struct ether_tls_config *config);

/* Closes every connection; `on_closed` (may be NULL) runs after everything is freed. */
void broker_transport_close(struct broker_transport *transport, void (*on_closed)(void *context),
                            void *context);

#endif
