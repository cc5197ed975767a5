/*
 * message.h: deep copies of raft messages for the simulated network.
 *
 * A ready's messages point into raft's buffers, valid only until
 * raft_advance(); the network keeps them longer, so each message is copied
 * into one allocation (`struct sim_envelope`) holding the message, its
 * entries, their payload bytes, the snapshot metadata and chunk bytes, with
 * the copy's pointers aimed inside the envelope. Received envelopes must stay
 * alive until the receiver's next raft_advance() (raft borrows the bytes).
 */
#ifndef ETHER_SIM_MESSAGE_H
#define ETHER_SIM_MESSAGE_H

#include "raft/raft.h"

#include <stddef.h>

struct sim_envelope {
    size_t size_bytes; /* of the whole allocation */
    struct raft_message message;
    struct raft_snapshot_meta snapshot;
    /* then: struct raft_entry[entries_count], entry payloads, chunk bytes */
};

struct sim_envelope *sim_envelope_copy(const struct raft_message *message);

/* A second, independent copy (duplicated packets). */
struct sim_envelope *sim_envelope_clone(const struct sim_envelope *envelope);

void sim_envelope_free(struct sim_envelope *envelope);

#endif
