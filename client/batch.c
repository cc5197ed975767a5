/*
 * batch.c: from produced records to a record batch and back.
 *
 * Happy path (producer): ether_produce copies a record into a client_record;
 * the I/O thread queues it on its partition; when client_record_queue_ready
 * says so, client_batch_seal takes records from the queue head up to
 * batch_bytes, writes the records section (proto_record_append), compresses
 * it with LZ4 and writes the header (proto_batch_write).
 * Happy path (consumer): client_batch_open checks the CRC and decompresses
 * into a scratch buffer; proto_record_reader iterates the records.
 *
 * Failure modes: bytes from the network are never trusted: a bad CRC, an
 * LZ4 stream that does not decode to exactly the announced size, or an
 * announced size above CLIENT_RECORDS_UNCOMPRESSED_BYTES_MAX is an error,
 * never an assertion.
 */
#include "client/client_internal.h"

#include <lz4.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/mem.h"
#include "common/panic.h"
#include "common/varint.h"

_Static_assert(CLIENT_RECORDS_UNCOMPRESSED_BYTES_MAX <= LZ4_MAX_INPUT_SIZE,
               "the decompression bound must be an LZ4 input size");
_Static_assert(CLIENT_BATCH_BYTES_MAX < CLIENT_FRAME_BYTES_MAX,
               "a batch must fit in a frame with room for the request around it");

struct client_record *client_record_new(const void *key, size_t key_bytes, const void *value,
                                        size_t value_bytes)
{
    size_t data_bytes = (key != NULL ? key_bytes : 0) + (value != NULL ? value_bytes : 0);
    struct client_record *record = ether_calloc(1, sizeof *record + data_bytes);
    uint8_t *cursor = record->data;
    if (key != NULL) {
        memcpy(cursor, key, key_bytes);
        record->key = cursor;
        record->key_bytes = key_bytes;
        cursor += key_bytes;
    }
    if (value != NULL) {
        memcpy(cursor, value, value_bytes);
        record->value = cursor;
        record->value_bytes = value_bytes;
    }
    record->partition = -1;
    record->offset = -1;
    return record;
}

void client_record_free(struct client_record *record)
{
    if (record != NULL) {
        ether_free(record->error_message);
        ether_free(record);
    }
}

size_t client_record_batch_bytes(size_t key_bytes, size_t value_bytes)
{
    /* Length, timestamp, offset delta, key and value lengths, header count: varints. */
    return 5 * ETHER_VARINT_BYTES_MAX + 1 + key_bytes + value_bytes;
}

void client_record_queue_push(struct client_record_queue *queue, struct client_record *record)
{
    ETHER_ASSERT(record->next == NULL);
    if (queue->tail == NULL) {
        queue->head = record;
    } else {
        queue->tail->next = record;
    }
    queue->tail = record;
    queue->count++;
    queue->bytes += client_record_batch_bytes(record->key_bytes, record->value_bytes);
}

struct client_record *client_record_queue_pop(struct client_record_queue *queue)
{
    struct client_record *record = queue->head;
    if (record == NULL) {
        ETHER_ASSERT(queue->count == 0);
        return NULL;
    }
    queue->head = record->next;
    if (queue->head == NULL) {
        queue->tail = NULL;
    }
    record->next = NULL;
    queue->count--;
    queue->bytes -= client_record_batch_bytes(record->key_bytes, record->value_bytes);
    return record;
}

void client_record_queue_append(struct client_record_queue *to, struct client_record_queue *from)
{
    if (from->head == NULL) {
        return;
    }
    if (to->tail == NULL) {
        to->head = from->head;
    } else {
        to->tail->next = from->head;
    }
    to->tail = from->tail;
    to->count += from->count;
    to->bytes += from->bytes;
    memset(from, 0, sizeof *from);
}

bool client_record_queue_ready(const struct client_record_queue *queue, uint64_t now_ms,
                               uint32_t linger_ms, size_t batch_bytes, bool flushing)
{
    if (queue->head == NULL) {
        return false;
    }
    if (flushing || queue->bytes >= batch_bytes) {
        return true;
    }
    return now_ms >= queue->head->enqueued_ms + linger_ms;
}

struct client_batch *client_batch_seal(struct client_record_queue *queue, size_t batch_bytes_max,
                                       enum proto_compression compression)
{
    ETHER_ASSERT(queue->head != NULL);
    struct client_batch *batch = ether_calloc(1, sizeof *batch);
    struct ether_buf records = ETHER_BUF_INIT;
    size_t budget_bytes =
        batch_bytes_max > PROTO_BATCH_HEADER_BYTES ? batch_bytes_max - PROTO_BATCH_HEADER_BYTES : 0;
    int64_t first_timestamp_ms = queue->head->timestamp_ms;
    int64_t max_timestamp_ms = first_timestamp_ms;
    uint32_t count = 0;
    while (queue->head != NULL && count < PROTO_BATCH_RECORDS_MAX) {
        struct client_record *record = queue->head;
        size_t record_bytes = client_record_batch_bytes(record->key_bytes, record->value_bytes);
        if (count > 0 && batch->records.bytes + record_bytes > budget_bytes) {
            break;
        }
        client_record_queue_push(&batch->records, client_record_queue_pop(queue));
        /* Deltas are signed, so a record older than the first one is fine. */
        if (record->timestamp_ms > max_timestamp_ms) {
            max_timestamp_ms = record->timestamp_ms;
        }
        proto_record_append(&records, record->timestamp_ms - first_timestamp_ms, count, record->key,
                            record->key_bytes, record->value, record->value_bytes, NULL, 0);
        count++;
    }
    ETHER_ASSERT(count >= 1);
    ETHER_ASSERT(records.length <= UINT32_MAX);

    struct proto_batch_header header = {
        .compression = PROTO_COMPRESSION_NONE,
        .record_count = count,
        .first_timestamp_ms = first_timestamp_ms,
        .max_timestamp_ms = max_timestamp_ms,
        .producer_id = -1,
        .producer_epoch = -1,
        .base_sequence = -1,
        .records_bytes_uncompressed = (uint32_t)records.length,
    };
    const uint8_t *section = records.data;
    size_t section_bytes = records.length;
    uint8_t *compressed = NULL;
    if (compression == PROTO_COMPRESSION_LZ4 && records.length <= LZ4_MAX_INPUT_SIZE) {
        int bound_bytes = LZ4_compressBound((int)records.length);
        compressed = ether_malloc((size_t)bound_bytes);
        int compressed_bytes = LZ4_compress_default((const char *)records.data, (char *)compressed,
                                                    (int)records.length, bound_bytes);
        if (compressed_bytes > 0 && (size_t)compressed_bytes < records.length) {
            header.compression = PROTO_COMPRESSION_LZ4;
            section = compressed;
            section_bytes = (size_t)compressed_bytes;
        }
    }
    int rc = proto_batch_write(&batch->bytes, &header, section, section_bytes);
    ETHER_ASSERT(rc == ETHER_OK);
    ether_free(compressed);
    ether_buf_free(&records);
    batch->base_sequence = -1;
    ETHER_ASSERT(batch->records.count == count);
    return batch;
}

/* Sequences live in [0, INT32_MAX]: arithmetic modulo 2^31. */
#define SEQUENCE_MODULUS ((uint64_t)INT32_MAX + 1)

int32_t client_sequence_add(int32_t sequence, uint32_t count)
{
    ETHER_ASSERT(sequence >= 0);
    return (int32_t)(((uint64_t)sequence + count) % SEQUENCE_MODULUS);
}

bool client_sequence_before(int32_t a, int32_t b)
{
    ETHER_ASSERT(a >= 0);
    ETHER_ASSERT(b >= 0);
    uint64_t distance = ((uint64_t)b + SEQUENCE_MODULUS - (uint64_t)a) % SEQUENCE_MODULUS;
    return distance != 0 && distance < SEQUENCE_MODULUS / 2;
}

void client_batch_stamp(struct client_batch *batch, int64_t producer_id, int16_t producer_epoch,
                        int32_t base_sequence, uint64_t generation)
{
    ETHER_ASSERT(producer_id >= 0);
    ETHER_ASSERT(producer_epoch >= 0);
    ETHER_ASSERT(base_sequence >= 0);
    ETHER_ASSERT(generation >= 1);
    ETHER_ASSERT(batch->bytes.length >= PROTO_BATCH_HEADER_BYTES);
    uint8_t *bytes = batch->bytes.data;
    ether_put_u64le(bytes + 32, (uint64_t)producer_id);
    ether_put_u16le(bytes + 40, (uint16_t)producer_epoch);
    ether_put_u32le(bytes + 44, (uint32_t)base_sequence);
    ether_put_u32le(bytes + 4, ether_crc32c(bytes + 8, batch->bytes.length - 8));
    batch->base_sequence = base_sequence;
    batch->generation = generation;
}

void client_batch_free(struct client_batch *batch)
{
    if (batch == NULL) {
        return;
    }
    struct client_record *record;
    while ((record = client_record_queue_pop(&batch->records)) != NULL) {
        client_record_free(record);
    }
    ether_buf_free(&batch->bytes);
    ether_free(batch);
}

int client_batch_open(const uint8_t *batch, size_t batch_bytes, struct ether_buf *scratch,
                      struct proto_batch_header *header, const uint8_t **records,
                      size_t *records_bytes)
{
    int rc = proto_batch_parse(batch, batch_bytes, header);
    if (rc != ETHER_OK) {
        return rc == ETHER_ERR_TRUNCATED ? ETHER_ERR_CORRUPT : rc;
    }
    const uint8_t *section = proto_batch_records(batch);
    size_t section_bytes = header->batch_bytes - PROTO_BATCH_HEADER_BYTES;
    if (header->compression == PROTO_COMPRESSION_NONE) {
        *records = section;
        *records_bytes = section_bytes;
        return ETHER_OK;
    }
    if (header->compression != PROTO_COMPRESSION_LZ4) {
        return ETHER_ERR_UNSUPPORTED;
    }
    if (header->records_bytes_uncompressed > CLIENT_RECORDS_UNCOMPRESSED_BYTES_MAX) {
        return ETHER_ERR_TOO_LARGE;
    }
    if (section_bytes > LZ4_MAX_INPUT_SIZE) {
        return ETHER_ERR_CORRUPT;
    }
    ether_buf_clear(scratch);
    uint8_t *out = ether_buf_extend(scratch, header->records_bytes_uncompressed);
    int decoded = LZ4_decompress_safe((const char *)section, (char *)out, (int)section_bytes,
                                      (int)header->records_bytes_uncompressed);
    if (decoded < 0 || (uint32_t)decoded != header->records_bytes_uncompressed) {
        return ETHER_ERR_CORRUPT;
    }
    *records = out;
    *records_bytes = (size_t)decoded;
    return ETHER_OK;
}
