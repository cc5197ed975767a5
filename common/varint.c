#include "common/varint.h"

#include "common/error.h"
#include "common/panic.h"

size_t ether_varint_encode_u64(uint64_t value, uint8_t *out)
{
    size_t written = 0;
    while (value >= 0x80) {
        out[written++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[written++] = (uint8_t)value;
    ETHER_ASSERT(written <= ETHER_VARINT_BYTES_MAX);
    return written;
}

size_t ether_varint_size_u64(uint64_t value)
{
    size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

int ether_varint_decode_u64(const uint8_t *data, size_t size_bytes, uint64_t *value,
                            size_t *consumed_bytes)
{
    uint64_t result = 0;
    for (size_t i = 0; i < ETHER_VARINT_BYTES_MAX; i++) {
        if (i == size_bytes) {
            return ETHER_ERR_TRUNCATED;
        }
        uint8_t byte = data[i];
        /* The tenth byte may only carry the single top bit of a 64-bit value. */
        if (i == ETHER_VARINT_BYTES_MAX - 1 && byte > 1) {
            return ETHER_ERR_CORRUPT;
        }
        result |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            *value = result;
            *consumed_bytes = i + 1;
            return ETHER_OK;
        }
    }
    return ETHER_ERR_CORRUPT;
}
