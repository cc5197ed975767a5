/*
 * discovery.h: how a broker with an empty data directory learns who it is
 * (etherd internal).
 *
 * A broker whose disk is new must not take part in any Raft group as the
 * member it may have been before a disk loss: that member voted and
 * acknowledged entries this disk no longer has. So before anything else it
 * asks the seed brokers for their metadata:
 *   - a peer that belongs to a running cluster (non-empty cluster_id) and
 *     lists this broker with incarnation I: this broker is back with an
 *     empty disk, and becomes incarnation I + 1 (a new Raft identity that the
 *     leaders add to its groups as a learner and promote once caught up);
 *   - such a peer whose controller is known and does not list this broker:
 *     it joins for the first time, incarnation 1;
 *   - every seed answers, and none belongs to a cluster yet: the cluster is
 *     being founded, incarnation 1 (the founding configurations use it).
 * Until one of these holds it keeps asking, every DISCOVERY_ROUND_MS.
 *
 * With TLS the exchanges are TLS clients like the transport's (the peer's host
 * as server name, this broker's certificate for mTLS); a peer whose handshake
 * fails has not answered (logged at WARN once per seed).
 */
#ifndef ETHER_BROKER_DISCOVERY_H
#define ETHER_BROKER_DISCOVERY_H

#include <stdint.h>
#include <uv.h>

#include "broker/config.h"
#include "common/log.h"
#include "common/tls.h"

struct broker_discovery;

/* The decided incarnation (>= 1). The discovery is freed right after this call. */
typedef void broker_discovered_fn(void *context, uint32_t incarnation);

/* `tls_config` (NULL: plaintext) is a client-role config borrowed until the discovery ends
 * or broker_discovery_set_tls_config replaces it. */
void broker_discovery_start(uv_loop_t *loop, const struct broker_config *config,
                            const struct ether_logger *logger,
                            const struct ether_tls_config *tls_config, broker_discovered_fn *done,
                            void *context, struct broker_discovery **discovery_out);

/* The TLS config the next exchanges use (certificates reloaded); borrowed likewise. */
void broker_discovery_set_tls_config(struct broker_discovery *discovery,
                                     const struct ether_tls_config *tls_config);

/* Abandons the discovery (shutdown); `done` is not called. */
void broker_discovery_cancel(struct broker_discovery *discovery);

#endif
