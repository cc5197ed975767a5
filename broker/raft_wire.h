/*
 * raft_wire.h: Raft messages on the wire between brokers (etherd internal).
 *
 * Outbound: messages for one peer are packed one by one, as soon as Raft hands
 * them out, into a per-peer buffer that holds the `messages` field of a
 * RaftMessagesRequest (proto/ether.proto); once per loop turn the buffer
 * becomes one RAFT_MESSAGES frame. Nothing points back into Raft's memory
 * after broker_raft_wire_append returns, so the group may advance at once.
 *
 * Inbound: the frame is unpacked by proto/, then each Ether__RaftMessage is
 * checked and turned into a struct raft_message whose entries and snapshot
 * point into the unpacked message (which must outlive their use by Raft).
 *
 * Invariant: decode never trusts the wire: counts are bounded, enum values
 * checked, and an inconsistent message is ETHER_ERR_CORRUPT.
 */
#ifndef ETHER_BROKER_RAFT_WIRE_H
#define ETHER_BROKER_RAFT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/proto.h"
#include "raft/raft.h"

/* Reusable conversion space, so packing does not allocate per message. */
struct broker_raft_wire_scratch {
    Ether__RaftEntry *entries;
    Ether__RaftEntry **entry_pointers;
    size_t entries_capacity;
};

void broker_raft_wire_scratch_init(struct broker_raft_wire_scratch *scratch);
void broker_raft_wire_scratch_free(struct broker_raft_wire_scratch *scratch);

/* Packs `message` as one more element of RaftMessagesRequest.messages into `out`. */
void broker_raft_wire_append(struct ether_buf *out, struct broker_raft_wire_scratch *scratch,
                             const struct raft_message *message);

/*
 * Appends a RAFT_MESSAGES frame carrying the sender's id and incarnation and the packed
 * messages (as built by broker_raft_wire_append). ETHER_ERR_FRAME_TOO_LARGE
 * when they do not fit in frame_bytes_max; `out` is then unchanged.
 */
int broker_raft_wire_frame(struct ether_buf *out, uint32_t from_broker_id,
                           uint32_t from_incarnation, const struct ether_buf *messages,
                           size_t frame_bytes_max);

/*
 * Converts a received message. Entries go to entries_out (room for
 * entries_max; more is ETHER_ERR_CORRUPT), the snapshot metadata to
 * snapshot_out; `out` points into them and into `wire`.
 */
int broker_raft_wire_decode(const Ether__RaftMessage *wire, struct raft_message *out,
                            struct raft_entry *entries_out, size_t entries_max,
                            struct raft_snapshot_meta *snapshot_out);

#endif
