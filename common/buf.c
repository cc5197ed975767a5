#include "common/buf.h"

#include "common/mem.h"
#include "common/panic.h"
#include "common/varint.h"

void ether_buf_init(struct ether_buf *buf)
{
    buf->data = NULL;
    buf->length = 0;
    buf->capacity = 0;
}

void ether_buf_free(struct ether_buf *buf)
{
    ether_free(buf->data);
    ether_buf_init(buf);
}

void ether_buf_reserve(struct ether_buf *buf, size_t extra_bytes)
{
    ETHER_ASSERT(buf->length <= buf->capacity);
    ETHER_ASSERT(extra_bytes <= SIZE_MAX - buf->length);
    size_t needed = buf->length + extra_bytes;
    if (needed <= buf->capacity) {
        return;
    }
    size_t capacity = buf->capacity < 64 ? 64 : buf->capacity;
    while (capacity < needed) {
        capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
    }
    buf->data = ether_realloc(buf->data, capacity);
    buf->capacity = capacity;
}

void ether_buf_clear(struct ether_buf *buf)
{
    buf->length = 0;
}

uint8_t *ether_buf_extend(struct ether_buf *buf, size_t size_bytes)
{
    ether_buf_reserve(buf, size_bytes);
    uint8_t *start = buf->data + buf->length;
    buf->length += size_bytes;
    return start;
}

void ether_buf_append(struct ether_buf *buf, const void *data, size_t size_bytes)
{
    if (size_bytes == 0) {
        return;
    }
    memcpy(ether_buf_extend(buf, size_bytes), data, size_bytes);
}

void ether_buf_append_u8(struct ether_buf *buf, uint8_t value)
{
    *ether_buf_extend(buf, 1) = value;
}

void ether_buf_append_u16le(struct ether_buf *buf, uint16_t value)
{
    ether_put_u16le(ether_buf_extend(buf, 2), value);
}

void ether_buf_append_u32le(struct ether_buf *buf, uint32_t value)
{
    ether_put_u32le(ether_buf_extend(buf, 4), value);
}

void ether_buf_append_u64le(struct ether_buf *buf, uint64_t value)
{
    ether_put_u64le(ether_buf_extend(buf, 8), value);
}

void ether_buf_append_varint(struct ether_buf *buf, uint64_t value)
{
    ether_buf_reserve(buf, ETHER_VARINT_BYTES_MAX);
    buf->length += ether_varint_encode_u64(value, buf->data + buf->length);
}

uint8_t *ether_buf_take(struct ether_buf *buf, size_t *length)
{
    uint8_t *data = buf->data;
    *length = buf->length;
    ether_buf_init(buf);
    return data;
}
