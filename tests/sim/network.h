/*
 * network.h: the simulated network between the nodes of one cluster.
 *
 * Owns the packets in flight, kept in a binary heap ordered by (delivery
 * tick, send sequence) so that delivery order depends only on the seed.
 * Faults: every packet gets a random delay (which reorders packets), may be
 * lost or duplicated, and links can be cut one way or both ways. Payloads
 * are opaque to the network; the caller says how to copy (for duplicates)
 * and owns them again once popped. Nodes are slots 0..SIM_NODES_MAX-1.
 *
 * Invariant: count <= in_flight_max; a send into a full network is a loss.
 */
#ifndef ETHER_SIM_NETWORK_H
#define ETHER_SIM_NETWORK_H

#include "tests/sim/prng.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SIM_NODES_MAX = 8 };

struct sim_packet {
    uint64_t deliver_tick;
    uint64_t sequence;
    uint32_t from_slot;
    uint32_t to_slot;
    void *payload;
};

struct sim_network_config {
    uint32_t delay_ticks_min;
    uint32_t delay_ticks_max;
    uint32_t loss_per_million;
    uint32_t duplicate_per_million;
    uint32_t delay_spike_per_million; /* a packet that takes up to 10x the max delay */
    size_t in_flight_max;
};

struct sim_network {
    struct sim_network_config config;
    struct sim_packet *heap;
    size_t count;
    uint64_t next_sequence;
    uint64_t sent_count;
    uint64_t lost_count;
    uint64_t duplicated_count;
    bool blocked[SIM_NODES_MAX][SIM_NODES_MAX]; /* [from][to] */
};

/* Returns a copy of `payload` owned by the caller, for duplicated packets. */
typedef void *sim_payload_clone_fn(void *context, const void *payload);

void sim_network_init(struct sim_network *network, const struct sim_network_config *config);

/* Frees the heap; the caller must have drained the payloads first (sim_network_pop_any). */
void sim_network_free(struct sim_network *network);

/*
 * Sends `payload` from one slot to another. Returns the number of copies now in
 * flight (0, 1 or 2). When 0 is returned the caller still owns `payload`; otherwise
 * the network owns it (and the clone, if any).
 */
unsigned sim_network_send(struct sim_network *network, struct sim_prng *prng, uint64_t now,
                          uint32_t from_slot, uint32_t to_slot, void *payload,
                          sim_payload_clone_fn *clone, void *clone_context);

/* Pops the earliest packet due at or before `now`; false when none is due. */
bool sim_network_pop_due(struct sim_network *network, uint64_t now, struct sim_packet *packet);

/* Pops any packet (for teardown); false when empty. */
bool sim_network_pop_any(struct sim_network *network, struct sim_packet *packet);

bool sim_network_is_blocked(const struct sim_network *network, uint32_t from_slot,
                            uint32_t to_slot);

void sim_network_block(struct sim_network *network, uint32_t from_slot, uint32_t to_slot);

void sim_network_heal(struct sim_network *network);

#endif
