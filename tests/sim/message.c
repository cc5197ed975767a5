#include "tests/sim/message.h"

#include "common/mem.h"
#include "common/panic.h"

#include <stdalign.h>
#include <string.h>

static size_t entries_offset(void)
{
    size_t offset = sizeof(struct sim_envelope);
    size_t align = alignof(struct raft_entry);
    return (offset + align - 1) / align * align;
}

/* Points the copy's pointers inside the envelope, which is laid out as in copy(). */
static void fix_pointers(struct sim_envelope *envelope)
{
    struct raft_message *message = &envelope->message;
    uint8_t *base = (uint8_t *)envelope;
    struct raft_entry *entries = (struct raft_entry *)(base + entries_offset());
    uint8_t *bytes = (uint8_t *)(entries + message->entries_count);
    for (uint32_t i = 0; i < message->entries_count; i++) {
        entries[i].data = entries[i].data_bytes > 0 ? bytes : NULL;
        bytes += entries[i].data_bytes;
    }
    message->entries = message->entries_count > 0 ? entries : NULL;
    if (message->snapshot != NULL) {
        message->snapshot = &envelope->snapshot;
    }
    message->data = message->data_bytes > 0 ? bytes : NULL;
    ETHER_ASSERT((size_t)(bytes + message->data_bytes - base) == envelope->size_bytes);
}

struct sim_envelope *sim_envelope_copy(const struct raft_message *message)
{
    size_t size = entries_offset() + message->entries_count * sizeof(struct raft_entry);
    for (uint32_t i = 0; i < message->entries_count; i++) {
        size += message->entries[i].data_bytes;
    }
    size += message->data_bytes;
    struct sim_envelope *envelope = ether_malloc(size);
    memset(envelope, 0, sizeof(*envelope));
    envelope->size_bytes = size;
    envelope->message = *message;
    if (message->snapshot != NULL) {
        envelope->snapshot = *message->snapshot;
    }
    uint8_t *base = (uint8_t *)envelope;
    struct raft_entry *entries = (struct raft_entry *)(base + entries_offset());
    uint8_t *bytes = (uint8_t *)(entries + message->entries_count);
    for (uint32_t i = 0; i < message->entries_count; i++) {
        entries[i] = message->entries[i];
        if (entries[i].data_bytes > 0) {
            memcpy(bytes, message->entries[i].data, entries[i].data_bytes);
        }
        bytes += entries[i].data_bytes;
    }
    if (message->data_bytes > 0) {
        memcpy(bytes, message->data, message->data_bytes);
    }
    fix_pointers(envelope);
    return envelope;
}

struct sim_envelope *sim_envelope_clone(const struct sim_envelope *envelope)
{
    struct sim_envelope *copy = ether_malloc(envelope->size_bytes);
    memcpy(copy, envelope, envelope->size_bytes);
    fix_pointers(copy);
    return copy;
}

void sim_envelope_free(struct sim_envelope *envelope)
{
    ether_free(envelope);
}
