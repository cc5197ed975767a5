/*
 * varint.h: unsigned LEB128 varints (7 bits a byte, low bits first, at most
 * 10 bytes for 64 bits) and zigzag mapping for signed values.
 *
 * Decoders never read past `size_bytes` and reject over-long or overflowing
 * encodings with ETHER_ERR_CORRUPT; a buffer that ends inside a varint gives
 * ETHER_ERR_TRUNCATED.
 */
#ifndef ETHER_COMMON_VARINT_H
#define ETHER_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>

enum { ETHER_VARINT_BYTES_MAX = 10 };

/* Writes `value` into `out` (room for ETHER_VARINT_BYTES_MAX); returns bytes written. */
size_t ether_varint_encode_u64(uint64_t value, uint8_t *out);

/* Bytes ether_varint_encode_u64 would write for `value`. */
size_t ether_varint_size_u64(uint64_t value);

/* Reads one varint; on success stores it and the bytes consumed and returns 0. */
int ether_varint_decode_u64(const uint8_t *data, size_t size_bytes, uint64_t *value,
                            size_t *consumed_bytes);

static inline uint64_t ether_zigzag_encode(int64_t value)
{
    return ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
}

static inline int64_t ether_zigzag_decode(uint64_t value)
{
    return (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
}

#endif
