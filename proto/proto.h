/*
 * proto.h: Ether's wire format. One format for client<->broker and
 * broker<->broker traffic: length-prefixed frames carrying protobuf bodies
 * (proto/ether.proto), and the record batch format that producers send and
 * the partition log stores byte for byte.
 *
 * Owns: the frame header codec, the table of APIs (which request and response
 * message each api_key carries), and the batch and record codecs. It does not
 * compress (the client does, with LZ4) and does no I/O.
 *
 * Invariants: decoders never read past the buffer they are given and never
 * trust a length from the wire: a frame longer than the caller's limit is
 * ETHER_ERR_FRAME_TOO_LARGE, a frame or batch whose fields are inconsistent is
 * ETHER_ERR_CORRUPT, an incomplete one is ETHER_ERR_TRUNCATED. All integers
 * are little-endian.
 *
 * Frame layout:
 *   OFFSET SIZE DESCRIPTION
 *        0    4 frame_bytes: bytes that follow this field (12 + body bytes)
 *        4    1 version: PROTO_FRAME_VERSION (the layout of this header)
 *        5    1 flags: PROTO_FRAME_FLAG_RESPONSE on responses; PROTO_FRAME_FLAG_ERROR
 *               (with RESPONSE) when the body is an ErrorResponse instead of the
 *               api's response; other bits zero
 *        6    2 api_key: enum proto_api
 *        8    2 api_version: the version of the api's messages the sender speaks;
 *               a response carries the version it was answered in
 *       10    2 reserved, zero
 *       12    4 correlation_id: chosen by the requester, echoed in the response
 *       16    - body: the protobuf message the api_key names
 *
 * Record batch layout (the unit of produce, storage and fetch):
 *   OFFSET SIZE DESCRIPTION
 *        0    4 batch_bytes: the whole batch, this field included
 *        4    4 crc32c of bytes [8, batch_bytes)
 *        8    1 version: PROTO_BATCH_VERSION
 *        9    1 attributes: bits 0-2 compression (enum proto_compression), rest zero
 *       10    2 reserved, zero
 *       12    4 record_count (>= 1)
 *       16    8 first_timestamp_ms (int64)
 *       24    8 max_timestamp_ms (int64, >= first_timestamp_ms)
 *       32    8 producer_id (int64; -1 when not idempotent)
 *       40    2 producer_epoch (int16; -1 when not idempotent)
 *       42    2 reserved, zero
 *       44    4 base_sequence (int32; -1 when not idempotent)
 *       48    4 records_bytes_uncompressed
 *       52    - records section: record_count records, compressed as attributes say
 *
 * Record layout inside the (uncompressed) records section, all varints:
 *   record_bytes (after this field), zigzag timestamp delta from
 *   first_timestamp_ms, offset delta (0, 1, 2, ... in order), key length + 1
 *   (0 = null key) and key, value length + 1 (0 = null value) and value,
 *   header count, then per header: key length, key, value length + 1, value.
 */
#ifndef ETHER_PROTO_PROTO_H
#define ETHER_PROTO_PROTO_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/ether.pb-c.h"

/* ---- APIs --------------------------------------------------------------------------- */

/*
 * XX(NAME, api_key, newest api_version, request descriptor, response descriptor)
 * A peer that receives a version newer than it knows answers with an
 * ErrorResponse carrying ETHER_ERR_UNSUPPORTED; fields are only ever added to
 * messages, so every older version stays readable.
 */
#define PROTO_API_MAP(XX)                                                                         \
    XX(METADATA, 1, 1, ether__metadata_request__descriptor, ether__metadata_response__descriptor) \
    XX(CREATE_TOPIC, 2, 1, ether__create_topic_request__descriptor,                               \
       ether__create_topic_response__descriptor)                                                  \
    XX(DELETE_TOPIC, 3, 1, ether__delete_topic_request__descriptor,                               \
       ether__delete_topic_response__descriptor)                                                  \
    XX(ALTER_TOPIC_CONFIG, 4, 1, ether__alter_topic_config_request__descriptor,                   \
       ether__alter_topic_config_response__descriptor)                                            \
    XX(PRODUCE, 5, 1, ether__produce_request__descriptor, ether__produce_response__descriptor)    \
    XX(FETCH, 6, 1, ether__fetch_request__descriptor, ether__fetch_response__descriptor)          \
    XX(LIST_OFFSETS, 7, 1, ether__list_offsets_request__descriptor,                               \
       ether__list_offsets_response__descriptor)                                                  \
    XX(RAFT_MESSAGES, 100, 1, ether__raft_messages_request__descriptor,                           \
       ether__raft_messages_response__descriptor)                                                 \
    XX(TRANSFER_LEADER, 8, 1, ether__transfer_leader_request__descriptor,                         \
       ether__transfer_leader_response__descriptor)                                               \
    XX(INIT_PRODUCER_ID, 9, 1, ether__init_producer_id_request__descriptor,                       \
       ether__init_producer_id_response__descriptor)                                              \
    XX(DESCRIBE_PRODUCERS, 10, 1, ether__describe_producers_request__descriptor,                  \
       ether__describe_producers_response__descriptor)                                            \
    XX(FIND_COORDINATOR, 11, 1, ether__find_coordinator_request__descriptor,                      \
       ether__find_coordinator_response__descriptor)                                              \
    XX(JOIN_GROUP, 12, 1, ether__join_group_request__descriptor,                                  \
       ether__join_group_response__descriptor)                                                    \
    XX(SYNC_GROUP, 13, 1, ether__sync_group_request__descriptor,                                  \
       ether__sync_group_response__descriptor)                                                    \
    XX(HEARTBEAT, 14, 1, ether__heartbeat_request__descriptor,                                    \
       ether__heartbeat_response__descriptor)                                                     \
    XX(LEAVE_GROUP, 15, 1, ether__leave_group_request__descriptor,                                \
       ether__leave_group_response__descriptor)                                                   \
    XX(OFFSET_COMMIT, 16, 1, ether__offset_commit_request__descriptor,                            \
       ether__offset_commit_response__descriptor)                                                 \
    XX(OFFSET_FETCH, 17, 1, ether__offset_fetch_request__descriptor,                              \
       ether__offset_fetch_response__descriptor)                                                  \
    XX(LIST_GROUPS, 18, 1, ether__list_groups_request__descriptor,                                \
       ether__list_groups_response__descriptor)                                                   \
    XX(DESCRIBE_GROUP, 19, 1, ether__describe_group_request__descriptor,                          \
       ether__describe_group_response__descriptor)                                                \
    XX(DELETE_GROUP, 20, 1, ether__delete_group_request__descriptor,                              \
       ether__delete_group_response__descriptor)                                                  \
    XX(AUTHENTICATE, 21, 1, ether__authenticate_request__descriptor,                              \
       ether__authenticate_response__descriptor)                                                  \
    XX(CREATE_USER, 22, 1, ether__create_user_request__descriptor,                                \
       ether__create_user_response__descriptor)                                                   \
    XX(DELETE_USER, 23, 1, ether__delete_user_request__descriptor,                                \
       ether__delete_user_response__descriptor)                                                   \
    XX(LIST_USERS, 24, 1, ether__list_users_request__descriptor,                                  \
       ether__list_users_response__descriptor)                                                    \
    XX(CREATE_ACL, 25, 1, ether__create_acl_request__descriptor,                                  \
       ether__create_acl_response__descriptor)                                                    \
    XX(DELETE_ACL, 26, 1, ether__delete_acl_request__descriptor,                                  \
       ether__delete_acl_response__descriptor)                                                    \
    XX(LIST_ACLS, 27, 1, ether__list_acls_request__descriptor,                                    \
       ether__list_acls_response__descriptor)

enum proto_api {
#define PROTO_API_ENUM(name, key, version, request, response) PROTO_API_##name = key,
    PROTO_API_MAP(PROTO_API_ENUM)
#undef PROTO_API_ENUM
};

/* "METADATA", or NULL for an unknown key. */
const char *proto_api_name(uint16_t api_key);

/* The newest api_version this build speaks for `api_key`; 0 for an unknown key. */
uint16_t proto_api_version_max(uint16_t api_key);

/* The body message of a request (is_response false) or response; NULL for an unknown key. */
const ProtobufCMessageDescriptor *proto_api_descriptor(uint16_t api_key, bool is_response);

/* ---- frames ------------------------------------------------------------------------- */

enum {
    PROTO_FRAME_VERSION = 1,
    PROTO_FRAME_HEADER_BYTES = 16,
    PROTO_FRAME_FLAG_RESPONSE = 0x01,
    PROTO_FRAME_FLAG_ERROR = 0x02,
    PROTO_FRAME_BYTES_MAX_DEFAULT = 8 * 1024 * 1024,
};

struct proto_frame_header {
    uint16_t api_key;
    uint16_t api_version;
    bool is_response;
    bool is_error; /* a response whose body is an Ether__ErrorResponse */
    uint32_t correlation_id;
    uint32_t body_bytes; /* set by proto_frame_parse; ignored by proto_frame_encode */
};

/*
 * Appends one frame (header and packed body) to `out`. Returns
 * ETHER_ERR_FRAME_TOO_LARGE, leaving `out` unchanged, when the frame would be
 * larger than frame_bytes_max; ETHER_ERR_INVALID_ARGUMENT when `body` is not
 * the message the header names (an ErrorResponse when is_error).
 */
int proto_frame_encode(struct ether_buf *out, const struct proto_frame_header *header,
                       const ProtobufCMessage *body, size_t frame_bytes_max);

/*
 * Appends one frame whose body is already encoded (body_bytes of protobuf in
 * `body`, for callers that build a message incrementally). Same errors as
 * proto_frame_encode, but the body is not checked against the api.
 */
int proto_frame_encode_raw(struct ether_buf *out, const struct proto_frame_header *header,
                           const uint8_t *body, size_t body_bytes, size_t frame_bytes_max);

/* Appends an error response frame answering `request` with `error` and a sentence
 * (NULL: ether_strerror's). */
int proto_frame_encode_error(struct ether_buf *out, const struct proto_frame_header *request,
                             int error, const char *message, size_t frame_bytes_max);

/*
 * Looks for one whole frame at the start of data[0, size_bytes). On success
 * fills `header`, points `body` into `data`, stores the frame's total size in
 * `frame_bytes` and returns 0. Returns ETHER_ERR_TRUNCATED when more bytes are
 * needed (nothing is wrong yet), ETHER_ERR_FRAME_TOO_LARGE when the announced
 * frame exceeds frame_bytes_max (checked as soon as the length is readable),
 * ETHER_ERR_CORRUPT for a bad version, flag or length, ETHER_ERR_UNSUPPORTED
 * for an unknown api_key (the frame is whole; `frame_bytes` says how far to skip).
 */
int proto_frame_parse(const uint8_t *data, size_t size_bytes, size_t frame_bytes_max,
                      struct proto_frame_header *header, const uint8_t **body, size_t *frame_bytes);

/*
 * Decodes a frame's body into the message its header names (an
 * Ether__ErrorResponse when header->is_error). On success the
 * caller owns *message and frees it with proto_message_free. Returns
 * ETHER_ERR_UNSUPPORTED for an unknown api_key, ETHER_ERR_CORRUPT when the
 * bytes are not a valid message of that type.
 */
int proto_body_unpack(const struct proto_frame_header *header, const uint8_t *body,
                      ProtobufCMessage **message);

void proto_message_free(ProtobufCMessage *message);

/* ---- record batches ----------------------------------------------------------------- */

enum proto_compression {
    PROTO_COMPRESSION_NONE = 0,
    PROTO_COMPRESSION_LZ4 = 1,
};

enum {
    PROTO_BATCH_VERSION = 1,
    PROTO_BATCH_HEADER_BYTES = 52,
    PROTO_BATCH_RECORDS_MAX = 1000000,
};

struct proto_batch_header {
    uint32_t batch_bytes;
    uint32_t crc32c;
    enum proto_compression compression;
    uint32_t record_count;
    int64_t first_timestamp_ms;
    int64_t max_timestamp_ms;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    uint32_t records_bytes_uncompressed;
};

/*
 * Checks the batch at data[0, size_bytes) and fills `header`: the length must
 * match size_bytes exactly, the CRC must match, version, attributes, counts and
 * timestamps must be consistent. Returns 0, ETHER_ERR_TRUNCATED or ETHER_ERR_CORRUPT.
 */
int proto_batch_parse(const uint8_t *data, size_t size_bytes, struct proto_batch_header *header);

/*
 * Reads the header fields of a batch that was already checked (the partition
 * log stores only batches proto_batch_parse accepted): no CRC, no consistency
 * checks. ETHER_ERR_TRUNCATED when size_bytes is shorter than a header.
 */
int proto_batch_header_read(const uint8_t *data, size_t size_bytes,
                            struct proto_batch_header *header);

/* The records section of a batch that proto_batch_parse accepted. */
static inline const uint8_t *proto_batch_records(const uint8_t *batch)
{
    return batch + PROTO_BATCH_HEADER_BYTES;
}

/*
 * Appends a whole batch to `out`: the header from `header` (its batch_bytes and
 * crc32c are computed here) followed by `records` (already compressed as
 * header->compression says). Returns ETHER_ERR_INVALID_ARGUMENT for an
 * inconsistent header, leaving `out` unchanged.
 */
int proto_batch_write(struct ether_buf *out, const struct proto_batch_header *header,
                      const uint8_t *records, size_t records_bytes);

/* One record. Pointers refer into the records section it was read from. */
struct proto_header_field {
    const uint8_t *key;
    size_t key_bytes;
    const uint8_t *value; /* NULL for a null value */
    size_t value_bytes;
};

struct proto_record {
    int64_t timestamp_ms;
    uint32_t offset_delta;
    const uint8_t *key; /* NULL for a null key */
    size_t key_bytes;
    const uint8_t *value; /* NULL for a null value */
    size_t value_bytes;
    uint32_t header_count;
    const uint8_t *headers; /* header_count encoded headers; see proto_record_next_header */
    size_t headers_bytes;
};

/* Appends one record to an uncompressed records section. */
void proto_record_append(struct ether_buf *records, int64_t timestamp_delta_ms,
                         uint32_t offset_delta, const void *key, size_t key_bytes,
                         const void *value, size_t value_bytes,
                         const struct proto_header_field *headers, size_t header_count);

/* Iterates the records of an uncompressed records section. */
struct proto_record_reader {
    const uint8_t *next;
    const uint8_t *end;
    int64_t first_timestamp_ms;
    uint32_t records_left;
};

void proto_record_reader_init(struct proto_record_reader *reader, const uint8_t *records,
                              size_t records_bytes, int64_t first_timestamp_ms,
                              uint32_t record_count);

/*
 * Reads the next record: returns 0 and fills `record`, ETHER_ERR_NOT_FOUND
 * after the last record (when the section was consumed exactly), or
 * ETHER_ERR_CORRUPT when the section is malformed or has bytes or records
 * missing or left over.
 */
int proto_record_reader_next(struct proto_record_reader *reader, struct proto_record *record);

/*
 * Reads one header of a record: `*cursor` starts at record->headers and
 * `*remaining` at record->headers_bytes. Returns 0 or ETHER_ERR_CORRUPT.
 */
int proto_record_next_header(const uint8_t **cursor, size_t *remaining,
                             struct proto_header_field *field);

#endif
