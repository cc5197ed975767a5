#include "common/crc32c.h"
#include "common/error.h"
#include "common/panic.h"
#include "common/varint.h"
#include "proto/proto.h"

enum {
    ATTRIBUTE_COMPRESSION_MASK = 0x07,
};

int proto_batch_header_read(const uint8_t *data, size_t size_bytes,
                            struct proto_batch_header *header)
{
    if (size_bytes < PROTO_BATCH_HEADER_BYTES) {
        return ETHER_ERR_TRUNCATED;
    }
    header->batch_bytes = ether_get_u32le(data);
    header->crc32c = ether_get_u32le(data + 4);
    header->compression = (enum proto_compression)(data[9] & ATTRIBUTE_COMPRESSION_MASK);
    header->record_count = ether_get_u32le(data + 12);
    header->first_timestamp_ms = (int64_t)ether_get_u64le(data + 16);
    header->max_timestamp_ms = (int64_t)ether_get_u64le(data + 24);
    header->producer_id = (int64_t)ether_get_u64le(data + 32);
    header->producer_epoch = (int16_t)ether_get_u16le(data + 40);
    header->base_sequence = (int32_t)ether_get_u32le(data + 44);
    header->records_bytes_uncompressed = ether_get_u32le(data + 48);
    return ETHER_OK;
}

int proto_batch_parse(const uint8_t *data, size_t size_bytes, struct proto_batch_header *header)
{
    if (size_bytes < PROTO_BATCH_HEADER_BYTES) {
        return ETHER_ERR_TRUNCATED;
    }
    uint32_t batch_bytes = ether_get_u32le(data);
    if (batch_bytes > size_bytes) {
        return ETHER_ERR_TRUNCATED;
    }
    if (batch_bytes != size_bytes || batch_bytes < PROTO_BATCH_HEADER_BYTES) {
        return ETHER_ERR_CORRUPT;
    }
    uint32_t crc = ether_get_u32le(data + 4);
    if (ether_crc32c(data + 8, batch_bytes - 8) != crc) {
        return ETHER_ERR_CORRUPT;
    }
    uint8_t attributes = data[9];
    if (data[8] != PROTO_BATCH_VERSION || (attributes & ~ATTRIBUTE_COMPRESSION_MASK) != 0 ||
        ether_get_u16le(data + 10) != 0 || ether_get_u16le(data + 42) != 0) {
        return ETHER_ERR_CORRUPT;
    }
    uint8_t compression = attributes & ATTRIBUTE_COMPRESSION_MASK;
    if (compression != PROTO_COMPRESSION_NONE && compression != PROTO_COMPRESSION_LZ4) {
        return ETHER_ERR_CORRUPT;
    }
    int rc = proto_batch_header_read(data, size_bytes, header);
    ETHER_ASSERT(rc == ETHER_OK); /* the length was checked above */
    if (header->record_count == 0 || header->record_count > PROTO_BATCH_RECORDS_MAX ||
        header->max_timestamp_ms < header->first_timestamp_ms) {
        return ETHER_ERR_CORRUPT;
    }
    if (compression == PROTO_COMPRESSION_NONE &&
        header->records_bytes_uncompressed != batch_bytes - PROTO_BATCH_HEADER_BYTES) {
        return ETHER_ERR_CORRUPT;
    }
    return ETHER_OK;
}

int proto_batch_write(struct ether_buf *out, const struct proto_batch_header *header,
                      const uint8_t *records, size_t records_bytes)
{
    if (header->record_count == 0 || header->record_count > PROTO_BATCH_RECORDS_MAX ||
        header->max_timestamp_ms < header->first_timestamp_ms ||
        (header->compression != PROTO_COMPRESSION_NONE &&
         header->compression != PROTO_COMPRESSION_LZ4) ||
        records_bytes > UINT32_MAX - PROTO_BATCH_HEADER_BYTES ||
        (header->compression == PROTO_COMPRESSION_NONE &&
         header->records_bytes_uncompressed != records_bytes)) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    size_t batch_bytes = PROTO_BATCH_HEADER_BYTES + records_bytes;
    uint8_t *batch = ether_buf_extend(out, batch_bytes);
    ether_put_u32le(batch, (uint32_t)batch_bytes);
    batch[8] = PROTO_BATCH_VERSION;
    batch[9] = (uint8_t)header->compression;
    ether_put_u16le(batch + 10, 0);
    ether_put_u32le(batch + 12, header->record_count);
    ether_put_u64le(batch + 16, (uint64_t)header->first_timestamp_ms);
    ether_put_u64le(batch + 24, (uint64_t)header->max_timestamp_ms);
    ether_put_u64le(batch + 32, (uint64_t)header->producer_id);
    ether_put_u16le(batch + 40, (uint16_t)header->producer_epoch);
    ether_put_u16le(batch + 42, 0);
    ether_put_u32le(batch + 44, (uint32_t)header->base_sequence);
    ether_put_u32le(batch + 48, header->records_bytes_uncompressed);
    if (records_bytes > 0) {
        memcpy(batch + PROTO_BATCH_HEADER_BYTES, records, records_bytes);
    }
    ether_put_u32le(batch + 4, ether_crc32c(batch + 8, batch_bytes - 8));
    return ETHER_OK;
}

static size_t nullable_length_field(const void *bytes, size_t size_bytes)
{
    return bytes == NULL ? 0 : size_bytes + 1;
}

void proto_record_append(struct ether_buf *records, int64_t timestamp_delta_ms,
                         uint32_t offset_delta, const void *key, size_t key_bytes,
                         const void *value, size_t value_bytes,
                         const struct proto_header_field *headers, size_t header_count)
{
    size_t body_bytes = ether_varint_size_u64(ether_zigzag_encode(timestamp_delta_ms)) +
                        ether_varint_size_u64(offset_delta) +
                        ether_varint_size_u64(nullable_length_field(key, key_bytes)) +
                        (key != NULL ? key_bytes : 0) +
                        ether_varint_size_u64(nullable_length_field(value, value_bytes)) +
                        (value != NULL ? value_bytes : 0) + ether_varint_size_u64(header_count);
    for (size_t i = 0; i < header_count; i++) {
        body_bytes +=
            ether_varint_size_u64(headers[i].key_bytes) + headers[i].key_bytes +
            ether_varint_size_u64(nullable_length_field(headers[i].value, headers[i].value_bytes)) +
            (headers[i].value != NULL ? headers[i].value_bytes : 0);
    }
    size_t start = records->length;
    ether_buf_append_varint(records, body_bytes);
    size_t body_start = records->length;
    ether_buf_append_varint(records, ether_zigzag_encode(timestamp_delta_ms));
    ether_buf_append_varint(records, offset_delta);
    ether_buf_append_varint(records, nullable_length_field(key, key_bytes));
    if (key != NULL) {
        ether_buf_append(records, key, key_bytes);
    }
    ether_buf_append_varint(records, nullable_length_field(value, value_bytes));
    if (value != NULL) {
        ether_buf_append(records, value, value_bytes);
    }
    ether_buf_append_varint(records, header_count);
    for (size_t i = 0; i < header_count; i++) {
        ether_buf_append_varint(records, headers[i].key_bytes);
        ether_buf_append(records, headers[i].key, headers[i].key_bytes);
        ether_buf_append_varint(records,
                                nullable_length_field(headers[i].value, headers[i].value_bytes));
        if (headers[i].value != NULL) {
            ether_buf_append(records, headers[i].value, headers[i].value_bytes);
        }
    }
    ETHER_ASSERT(records->length - body_start == body_bytes);
    ETHER_ASSERT(records->length > start);
}

void proto_record_reader_init(struct proto_record_reader *reader, const uint8_t *records,
                              size_t records_bytes, int64_t first_timestamp_ms,
                              uint32_t record_count)
{
    reader->next = records;
    reader->end = records + records_bytes;
    reader->first_timestamp_ms = first_timestamp_ms;
    reader->records_left = record_count;
}

/* Reads a varint from [*cursor, end) and advances the cursor. */
static int read_varint(const uint8_t **cursor, const uint8_t *end, uint64_t *value)
{
    size_t consumed = 0;
    int rc = ether_varint_decode_u64(*cursor, (size_t)(end - *cursor), value, &consumed);
    if (rc != ETHER_OK) {
        return ETHER_ERR_CORRUPT;
    }
    *cursor += consumed;
    return ETHER_OK;
}

/* Reads "length (+1 when nullable) then bytes"; a nullable zero length gives NULL. */
static int read_bytes(const uint8_t **cursor, const uint8_t *end, bool nullable,
                      const uint8_t **bytes, size_t *size_bytes)
{
    uint64_t length = 0;
    if (read_varint(cursor, end, &length) != ETHER_OK) {
        return ETHER_ERR_CORRUPT;
    }
    if (nullable) {
        if (length == 0) {
            *bytes = NULL;
            *size_bytes = 0;
            return ETHER_OK;
        }
        length--;
    }
    if (length > (uint64_t)(end - *cursor)) {
        return ETHER_ERR_CORRUPT;
    }
    *bytes = *cursor;
    *size_bytes = (size_t)length;
    *cursor += length;
    return ETHER_OK;
}

int proto_record_reader_next(struct proto_record_reader *reader, struct proto_record *record)
{
    if (reader->records_left == 0) {
        return reader->next == reader->end ? ETHER_ERR_NOT_FOUND : ETHER_ERR_CORRUPT;
    }
    const uint8_t *cursor = reader->next;
    uint64_t record_bytes = 0;
    if (read_varint(&cursor, reader->end, &record_bytes) != ETHER_OK ||
        record_bytes > (uint64_t)(reader->end - cursor)) {
        return ETHER_ERR_CORRUPT;
    }
    const uint8_t *record_end = cursor + record_bytes;
    uint64_t timestamp_code = 0;
    uint64_t offset_delta = 0;
    uint64_t header_count = 0;
    if (read_varint(&cursor, record_end, &timestamp_code) != ETHER_OK ||
        read_varint(&cursor, record_end, &offset_delta) != ETHER_OK || offset_delta > UINT32_MAX ||
        read_bytes(&cursor, record_end, true, &record->key, &record->key_bytes) != ETHER_OK ||
        read_bytes(&cursor, record_end, true, &record->value, &record->value_bytes) != ETHER_OK ||
        read_varint(&cursor, record_end, &header_count) != ETHER_OK ||
        header_count > (uint64_t)(record_end - cursor)) {
        return ETHER_ERR_CORRUPT;
    }
    record->timestamp_ms = reader->first_timestamp_ms + ether_zigzag_decode(timestamp_code);
    record->offset_delta = (uint32_t)offset_delta;
    record->header_count = (uint32_t)header_count;
    record->headers = cursor;
    record->headers_bytes = (size_t)(record_end - cursor);
    /* Validate the headers now so that later iteration cannot fail half way. */
    const uint8_t *header_cursor = record->headers;
    size_t header_remaining = record->headers_bytes;
    for (uint64_t i = 0; i < header_count; i++) {
        struct proto_header_field field;
        if (proto_record_next_header(&header_cursor, &header_remaining, &field) != ETHER_OK) {
            return ETHER_ERR_CORRUPT;
        }
    }
    if (header_remaining != 0) {
        return ETHER_ERR_CORRUPT;
    }
    reader->next = record_end;
    reader->records_left--;
    return ETHER_OK;
}

int proto_record_next_header(const uint8_t **cursor, size_t *remaining,
                             struct proto_header_field *field)
{
    const uint8_t *end = *cursor + *remaining;
    const uint8_t *position = *cursor;
    if (read_bytes(&position, end, false, &field->key, &field->key_bytes) != ETHER_OK ||
        read_bytes(&position, end, true, &field->value, &field->value_bytes) != ETHER_OK) {
        return ETHER_ERR_CORRUPT;
    }
    *remaining -= (size_t)(position - *cursor);
    *cursor = position;
    return ETHER_OK;
}
