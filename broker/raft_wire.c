#include "broker/raft_wire.h"

#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/varint.h"

#include <string.h>

enum {
    FIELD_FROM_BROKER_ID_TAG = (1 << 3) | 0,   /* varint */
    FIELD_MESSAGES_TAG = (2 << 3) | 2,         /* length-delimited */
    FIELD_FROM_INCARNATION_TAG = (4 << 3) | 0, /* varint */
};

void broker_raft_wire_scratch_init(struct broker_raft_wire_scratch *scratch)
{
    memset(scratch, 0, sizeof *scratch);
}

void broker_raft_wire_scratch_free(struct broker_raft_wire_scratch *scratch)
{
    ether_free(scratch->entries);
    ether_free(scratch->entry_pointers);
    memset(scratch, 0, sizeof *scratch);
}

static void scratch_reserve(struct broker_raft_wire_scratch *scratch, size_t entries_count)
{
    if (entries_count <= scratch->entries_capacity) {
        return;
    }
    size_t capacity = scratch->entries_capacity < 16 ? 16 : scratch->entries_capacity;
    while (capacity < entries_count) {
        capacity *= 2;
    }
    scratch->entries = ether_realloc(scratch->entries, capacity * sizeof *scratch->entries);
    scratch->entry_pointers =
        ether_realloc(scratch->entry_pointers, capacity * sizeof *scratch->entry_pointers);
    scratch->entries_capacity = capacity;
}

void broker_raft_wire_append(struct ether_buf *out, struct broker_raft_wire_scratch *scratch,
                             const struct raft_message *message)
{
    Ether__RaftMessage wire = ETHER__RAFT_MESSAGE__INIT;
    wire.type = message->type;
    wire.flags = message->flags;
    wire.reject = message->reject;
    wire.snapshot_done = message->snapshot_done;
    wire.group_id = message->group_id;
    wire.from = message->from;
    wire.to = message->to;
    wire.term = message->term;
    wire.index = message->index;
    wire.log_term = message->log_term;
    wire.commit_index = message->commit_index;
    wire.context = message->context;
    wire.reject_hint_index = message->reject_hint_index;
    wire.reject_hint_term = message->reject_hint_term;
    wire.offset_bytes = message->offset_bytes;
    /* protobuf-c's bytes fields are not const; pack only reads them. */
    wire.data.data = (uint8_t *)(uintptr_t)message->data;
    wire.data.len = message->data_bytes;

    scratch_reserve(scratch, message->entries_count);
    for (uint32_t i = 0; i < message->entries_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        Ether__RaftEntry *wire_entry = &scratch->entries[i];
        ether__raft_entry__init(wire_entry);
        wire_entry->term = entry->term;
        wire_entry->index = entry->index;
        wire_entry->type = entry->type;
        wire_entry->data.data = (uint8_t *)(uintptr_t)entry->data;
        wire_entry->data.len = entry->data_bytes;
        scratch->entry_pointers[i] = wire_entry;
    }
    wire.n_entries = message->entries_count;
    wire.entries = message->entries_count > 0 ? scratch->entry_pointers : NULL;

    Ether__RaftSnapshotMeta snapshot = ETHER__RAFT_SNAPSHOT_META__INIT;
    Ether__RaftServer servers[RAFT_SERVERS_MAX];
    Ether__RaftServer *server_pointers[RAFT_SERVERS_MAX];
    if (message->snapshot != NULL) {
        const struct raft_snapshot_meta *meta = message->snapshot;
        ETHER_ASSERT(meta->configuration.servers_count <= RAFT_SERVERS_MAX);
        snapshot.index = meta->index;
        snapshot.term = meta->term;
        snapshot.size_bytes = meta->size_bytes;
        for (uint32_t i = 0; i < meta->configuration.servers_count; i++) {
            ether__raft_server__init(&servers[i]);
            servers[i].id = meta->configuration.servers[i].id;
            servers[i].role = meta->configuration.servers[i].role;
            server_pointers[i] = &servers[i];
        }
        snapshot.n_servers = meta->configuration.servers_count;
        snapshot.servers = server_pointers;
        wire.snapshot = &snapshot;
    }

    size_t packed_bytes = protobuf_c_message_get_packed_size(&wire.base);
    ether_buf_append_u8(out, FIELD_MESSAGES_TAG);
    ether_buf_append_varint(out, packed_bytes);
    size_t packed = protobuf_c_message_pack(&wire.base, ether_buf_extend(out, packed_bytes));
    ETHER_ASSERT(packed == packed_bytes);
}

int broker_raft_wire_frame(struct ether_buf *out, uint32_t from_broker_id,
                           uint32_t from_incarnation, const struct ether_buf *messages,
                           size_t frame_bytes_max)
{
    uint8_t prefix[2 * (1 + ETHER_VARINT_BYTES_MAX)];
    prefix[0] = FIELD_FROM_BROKER_ID_TAG;
    size_t prefix_bytes = 1 + ether_varint_encode_u64(from_broker_id, prefix + 1);
    prefix[prefix_bytes++] = FIELD_FROM_INCARNATION_TAG;
    prefix_bytes += ether_varint_encode_u64(from_incarnation, prefix + prefix_bytes);
    struct ether_buf body = ETHER_BUF_INIT;
    ether_buf_reserve(&body, prefix_bytes + messages->length);
    ether_buf_append(&body, prefix, prefix_bytes);
    ether_buf_append(&body, messages->data, messages->length);
    struct proto_frame_header header = {
        .api_key = PROTO_API_RAFT_MESSAGES,
        .api_version = proto_api_version_max(PROTO_API_RAFT_MESSAGES),
    };
    int rc = proto_frame_encode_raw(out, &header, body.data, body.length, frame_bytes_max);
    ether_buf_free(&body);
    return rc;
}

int broker_raft_wire_decode(const Ether__RaftMessage *wire, struct raft_message *out,
                            struct raft_entry *entries_out, size_t entries_max,
                            struct raft_snapshot_meta *snapshot_out)
{
    if (wire->type == 0 || wire->type >= RAFT_MSG_TYPE_COUNT || wire->flags > UINT8_MAX ||
        wire->n_entries > entries_max || wire->n_entries > UINT32_MAX) {
        return ETHER_ERR_CORRUPT;
    }
    memset(out, 0, sizeof *out);
    out->type = (uint8_t)wire->type;
    out->flags = (uint8_t)wire->flags;
    out->reject = wire->reject;
    out->snapshot_done = wire->snapshot_done;
    out->group_id = wire->group_id;
    out->from = wire->from;
    out->to = wire->to;
    out->term = wire->term;
    out->index = wire->index;
    out->log_term = wire->log_term;
    out->commit_index = wire->commit_index;
    out->context = wire->context;
    out->reject_hint_index = wire->reject_hint_index;
    out->reject_hint_term = wire->reject_hint_term;
    out->offset_bytes = wire->offset_bytes;
    out->data = wire->data.data;
    out->data_bytes = wire->data.len;

    for (size_t i = 0; i < wire->n_entries; i++) {
        const Ether__RaftEntry *entry = wire->entries[i];
        if (entry->type < RAFT_ENTRY_NORMAL || entry->type > RAFT_ENTRY_CONFIG ||
            entry->data.len > UINT32_MAX) {
            return ETHER_ERR_CORRUPT;
        }
        entries_out[i] = (struct raft_entry){
            .term = entry->term,
            .index = entry->index,
            .data = entry->data.data,
            .data_bytes = (uint32_t)entry->data.len,
            .type = (uint8_t)entry->type,
        };
    }
    out->entries_count = (uint32_t)wire->n_entries;
    out->entries = wire->n_entries > 0 ? entries_out : NULL;

    if (wire->snapshot != NULL) {
        const Ether__RaftSnapshotMeta *snapshot = wire->snapshot;
        if (snapshot->n_servers > RAFT_SERVERS_MAX) {
            return ETHER_ERR_CORRUPT;
        }
        memset(snapshot_out, 0, sizeof *snapshot_out);
        snapshot_out->index = snapshot->index;
        snapshot_out->term = snapshot->term;
        snapshot_out->size_bytes = snapshot->size_bytes;
        snapshot_out->configuration.servers_count = (uint32_t)snapshot->n_servers;
        for (size_t i = 0; i < snapshot->n_servers; i++) {
            uint32_t role = snapshot->servers[i]->role;
            if (role != RAFT_VOTER && role != RAFT_LEARNER) {
                return ETHER_ERR_CORRUPT;
            }
            snapshot_out->configuration.servers[i].id = snapshot->servers[i]->id;
            snapshot_out->configuration.servers[i].role = (uint8_t)role;
        }
        out->snapshot = snapshot_out;
    }
    return ETHER_OK;
}
