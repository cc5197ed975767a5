/*
 * frame.c: byte layouts of entry frames, sparse index points and index
 * headers (documented in storage.h). Encoders assert on what they are given;
 * decoders never assert on bytes, they answer ETHER_ERR_CORRUPT.
 */
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/panic.h"
#include "storage/storage_internal.h"

#include <string.h>

static const uint8_t index_magic[4] = {'E', 'I', 'D', 'X'};

static bool entry_type_is_valid(uint32_t type)
{
    return type == STORAGE_ENTRY_DATA || type == STORAGE_ENTRY_NOOP || type == STORAGE_ENTRY_CONFIG;
}

void frame_encode_header(const struct storage_entry *entry, uint32_t crc, uint8_t *out)
{
    ETHER_ASSERT(entry_type_is_valid((uint32_t)entry->type));
    ETHER_ASSERT((entry->type == STORAGE_ENTRY_DATA) == (entry->record_count > 0));
    ether_put_u32le(out + 0, crc);
    ether_put_u32le(out + 4, entry->payload_bytes);
    ether_put_u64le(out + 8, entry->index);
    ether_put_u64le(out + 16, entry->term);
    ether_put_u64le(out + 24, entry->base_offset);
    ether_put_u64le(out + 32, (uint64_t)entry->max_timestamp_ms);
    ether_put_u32le(out + 40, entry->record_count);
    out[44] = (uint8_t)entry->type;
    out[45] = FRAME_VERSION;
    out[46] = 0;
    out[47] = 0;
}

uint32_t frame_crc(const uint8_t *header, const uint8_t *payload, size_t payload_bytes)
{
    uint32_t crc = ether_crc32c_extend(0, header + 4, STORAGE_FRAME_HEADER_BYTES - 4);
    return ether_crc32c_extend(crc, payload, payload_bytes);
}

int frame_decode_header(const uint8_t *bytes, struct frame_header *header)
{
    ETHER_ASSERT(bytes != NULL);
    ETHER_ASSERT(header != NULL);
    header->crc = ether_get_u32le(bytes + 0);
    header->payload_bytes = ether_get_u32le(bytes + 4);
    header->index = ether_get_u64le(bytes + 8);
    header->term = ether_get_u64le(bytes + 16);
    header->base_offset = ether_get_u64le(bytes + 24);
    header->max_timestamp_ms = (int64_t)ether_get_u64le(bytes + 32);
    header->record_count = ether_get_u32le(bytes + 40);
    uint8_t type = bytes[44];
    if (bytes[45] != FRAME_VERSION || bytes[46] != 0 || bytes[47] != 0) {
        return ETHER_ERR_CORRUPT;
    }
    if (!entry_type_is_valid(type) || header->payload_bytes > STORAGE_PAYLOAD_BYTES_LIMIT) {
        return ETHER_ERR_CORRUPT;
    }
    header->type = (enum storage_entry_type)type;
    if ((header->type == STORAGE_ENTRY_DATA) != (header->record_count > 0)) {
        return ETHER_ERR_CORRUPT;
    }
    if (header->base_offset > UINT64_MAX - header->record_count) {
        return ETHER_ERR_CORRUPT;
    }
    return ETHER_OK;
}

static uint32_t record_crc(const uint8_t *bytes)
{
    return ether_crc32c(bytes, STORAGE_INDEX_POINT_BYTES - 4);
}

void index_encode_point(const struct index_point *point, uint8_t *out)
{
    ETHER_ASSERT(point->index > 0);
    ether_put_u64le(out + 0, point->index);
    ether_put_u64le(out + 8, point->base_offset);
    ether_put_u64le(out + 16, (uint64_t)point->max_timestamp_ms);
    ether_put_u32le(out + 24, point->position);
    ether_put_u32le(out + 28, record_crc(out));
    ETHER_ASSERT(ether_get_u32le(out + 28) == record_crc(out));
}

int index_decode_point(const uint8_t *bytes, struct index_point *point)
{
    ETHER_ASSERT(bytes != NULL);
    if (ether_get_u32le(bytes + 28) != record_crc(bytes)) {
        return ETHER_ERR_CORRUPT;
    }
    point->index = ether_get_u64le(bytes + 0);
    point->base_offset = ether_get_u64le(bytes + 8);
    point->max_timestamp_ms = (int64_t)ether_get_u64le(bytes + 16);
    point->position = ether_get_u32le(bytes + 24);
    return ETHER_OK;
}

void index_encode_header(uint64_t base_index, uint64_t base_offset, uint8_t *out)
{
    ETHER_ASSERT(base_index > 0);
    memcpy(out, index_magic, sizeof index_magic);
    ether_put_u32le(out + 4, INDEX_VERSION);
    ether_put_u64le(out + 8, base_index);
    ether_put_u64le(out + 16, base_offset);
    ether_put_u32le(out + 24, 0);
    ether_put_u32le(out + 28, record_crc(out));
}

int index_decode_header(const uint8_t *bytes, uint64_t *base_index, uint64_t *base_offset)
{
    ETHER_ASSERT(bytes != NULL);
    if (memcmp(bytes, index_magic, sizeof index_magic) != 0 ||
        ether_get_u32le(bytes + 28) != record_crc(bytes)) {
        return ETHER_ERR_CORRUPT;
    }
    if (ether_get_u32le(bytes + 4) != INDEX_VERSION) {
        return ETHER_ERR_UNSUPPORTED;
    }
    *base_index = ether_get_u64le(bytes + 8);
    *base_offset = ether_get_u64le(bytes + 16);
    return ETHER_OK;
}
