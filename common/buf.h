/*
 * buf.h: a growable byte buffer, and little-endian put/get helpers.
 *
 * A `struct ether_buf` owns `data` (allocated with mem.h); `length` bytes are
 * in use out of `capacity`. Invariant: length <= capacity, and data == NULL
 * exactly when capacity == 0. Appending never fails (allocation aborts on
 * exhaustion, see mem.h). Pointers into `data` are invalidated by any call
 * that grows the buffer.
 */
#ifndef ETHER_COMMON_BUF_H
#define ETHER_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ether_buf {
    uint8_t *data;
    size_t length;
    size_t capacity;
};

#define ETHER_BUF_INIT \
    {                  \
        NULL, 0, 0     \
    }

void ether_buf_init(struct ether_buf *buf);
void ether_buf_free(struct ether_buf *buf);

/* Makes room for at least `extra_bytes` more without another allocation. */
void ether_buf_reserve(struct ether_buf *buf, size_t extra_bytes);

/* Forgets the content, keeps the allocation. */
void ether_buf_clear(struct ether_buf *buf);

void ether_buf_append(struct ether_buf *buf, const void *data, size_t size_bytes);
void ether_buf_append_u8(struct ether_buf *buf, uint8_t value);
void ether_buf_append_u16le(struct ether_buf *buf, uint16_t value);
void ether_buf_append_u32le(struct ether_buf *buf, uint32_t value);
void ether_buf_append_u64le(struct ether_buf *buf, uint64_t value);
void ether_buf_append_varint(struct ether_buf *buf, uint64_t value);

/* Grows `length` by `size_bytes` and returns the start of the new (uninitialised) bytes. */
uint8_t *ether_buf_extend(struct ether_buf *buf, size_t size_bytes);

/* Hands the allocation to the caller (free with ether_free) and empties the buffer. */
uint8_t *ether_buf_take(struct ether_buf *buf, size_t *length);

static inline void ether_put_u16le(uint8_t *out, uint16_t value)
{
    out[0] = (uint8_t)value;
    out[1] = (uint8_t)(value >> 8);
}

static inline void ether_put_u32le(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static inline void ether_put_u64le(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static inline uint16_t ether_get_u16le(const uint8_t *in)
{
    return (uint16_t)(in[0] | (in[1] << 8));
}

static inline uint32_t ether_get_u32le(const uint8_t *in)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--) {
        value = (value << 8) | in[i];
    }
    return value;
}

static inline uint64_t ether_get_u64le(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) {
        value = (value << 8) | in[i];
    }
    return value;
}

#endif
