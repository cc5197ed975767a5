#include "common/error.h"
#include "common/mem.h"
#include "common/panic.h"
#include "proto/proto.h"

static void *allocator_alloc(void *allocator_data, size_t size_bytes)
{
    (void)allocator_data;
    return ether_malloc(size_bytes);
}

static void allocator_free(void *allocator_data, void *pointer)
{
    (void)allocator_data;
    ether_free(pointer);
}

/* protobuf-c allocates through the project's allocation policy (mem.h). */
static ProtobufCAllocator allocator = {allocator_alloc, allocator_free, NULL};

static const ProtobufCMessageDescriptor *body_descriptor(uint16_t api_key, bool is_response,
                                                         bool is_error)
{
    if (proto_api_name(api_key) == NULL) {
        return NULL;
    }
    if (is_error) {
        return &ether__error_response__descriptor;
    }
    return proto_api_descriptor(api_key, is_response);
}

/* Writes the 16-byte header for a body of body_bytes; returns where the body goes. */
static uint8_t *append_header(struct ether_buf *out, const struct proto_frame_header *header,
                              size_t body_bytes)
{
    size_t frame_bytes = PROTO_FRAME_HEADER_BYTES + body_bytes;
    uint8_t *frame = ether_buf_extend(out, frame_bytes);
    ether_put_u32le(frame, (uint32_t)(frame_bytes - 4));
    frame[4] = PROTO_FRAME_VERSION;
    frame[5] = (uint8_t)((header->is_response ? PROTO_FRAME_FLAG_RESPONSE : 0) |
                         (header->is_error ? PROTO_FRAME_FLAG_ERROR : 0));
    ether_put_u16le(frame + 6, header->api_key);
    ether_put_u16le(frame + 8, header->api_version);
    ether_put_u16le(frame + 10, 0);
    ether_put_u32le(frame + 12, header->correlation_id);
    return frame + PROTO_FRAME_HEADER_BYTES;
}

static int check_frame_size(const struct proto_frame_header *header, size_t body_bytes,
                            size_t frame_bytes_max)
{
    if (header->is_error && !header->is_response) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (body_bytes > frame_bytes_max || PROTO_FRAME_HEADER_BYTES + body_bytes > frame_bytes_max ||
        PROTO_FRAME_HEADER_BYTES + body_bytes - 4 > UINT32_MAX) {
        return ETHER_ERR_FRAME_TOO_LARGE;
    }
    return ETHER_OK;
}

int proto_frame_encode_raw(struct ether_buf *out, const struct proto_frame_header *header,
                           const uint8_t *body, size_t body_bytes, size_t frame_bytes_max)
{
    int rc = check_frame_size(header, body_bytes, frame_bytes_max);
    if (rc != ETHER_OK) {
        return rc;
    }
    uint8_t *destination = append_header(out, header, body_bytes);
    if (body_bytes > 0) {
        memcpy(destination, body, body_bytes);
    }
    return ETHER_OK;
}

int proto_frame_encode(struct ether_buf *out, const struct proto_frame_header *header,
                       const ProtobufCMessage *body, size_t frame_bytes_max)
{
    const ProtobufCMessageDescriptor *descriptor =
        body_descriptor(header->api_key, header->is_response, header->is_error);
    if (descriptor == NULL || body == NULL || body->descriptor != descriptor) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    size_t body_bytes = protobuf_c_message_get_packed_size(body);
    int rc = check_frame_size(header, body_bytes, frame_bytes_max);
    if (rc != ETHER_OK) {
        return rc;
    }
    uint8_t *destination = append_header(out, header, body_bytes);
    size_t packed = protobuf_c_message_pack(body, destination);
    ETHER_ASSERT(packed == body_bytes);
    return ETHER_OK;
}

int proto_frame_encode_error(struct ether_buf *out, const struct proto_frame_header *request,
                             int error, const char *message, size_t frame_bytes_max)
{
    ETHER_ASSERT(error != ETHER_OK);
    struct proto_frame_header header = *request;
    header.is_response = true;
    header.is_error = true;
    Ether__ErrorResponse body = ETHER__ERROR_RESPONSE__INIT;
    body.error = (uint32_t)error;
    /* protobuf-c's string fields are not const; pack only reads them. */
    body.error_message = (char *)(uintptr_t)(message != NULL ? message : ether_strerror(error));
    return proto_frame_encode(out, &header, &body.base, frame_bytes_max);
}

int proto_frame_parse(const uint8_t *data, size_t size_bytes, size_t frame_bytes_max,
                      struct proto_frame_header *header, const uint8_t **body, size_t *frame_bytes)
{
    ETHER_ASSERT(frame_bytes_max >= PROTO_FRAME_HEADER_BYTES);
    if (size_bytes < 4) {
        return ETHER_ERR_TRUNCATED;
    }
    uint32_t following_bytes = ether_get_u32le(data);
    if ((uint64_t)following_bytes + 4 > frame_bytes_max) {
        return ETHER_ERR_FRAME_TOO_LARGE;
    }
    if (following_bytes < PROTO_FRAME_HEADER_BYTES - 4) {
        return ETHER_ERR_CORRUPT;
    }
    size_t total_bytes = (size_t)following_bytes + 4;
    if (size_bytes < total_bytes) {
        return ETHER_ERR_TRUNCATED;
    }
    uint8_t flags = data[5];
    bool is_response = (flags & PROTO_FRAME_FLAG_RESPONSE) != 0;
    bool is_error = (flags & PROTO_FRAME_FLAG_ERROR) != 0;
    if (data[4] != PROTO_FRAME_VERSION ||
        (flags & ~(PROTO_FRAME_FLAG_RESPONSE | PROTO_FRAME_FLAG_ERROR)) != 0 ||
        (is_error && !is_response) || ether_get_u16le(data + 10) != 0) {
        return ETHER_ERR_CORRUPT;
    }
    header->is_response = is_response;
    header->is_error = is_error;
    header->api_key = ether_get_u16le(data + 6);
    header->api_version = ether_get_u16le(data + 8);
    header->correlation_id = ether_get_u32le(data + 12);
    header->body_bytes = (uint32_t)(total_bytes - PROTO_FRAME_HEADER_BYTES);
    *body = data + PROTO_FRAME_HEADER_BYTES;
    *frame_bytes = total_bytes;
    if (proto_api_name(header->api_key) == NULL) {
        return ETHER_ERR_UNSUPPORTED;
    }
    return ETHER_OK;
}

int proto_body_unpack(const struct proto_frame_header *header, const uint8_t *body,
                      ProtobufCMessage **message)
{
    const ProtobufCMessageDescriptor *descriptor =
        body_descriptor(header->api_key, header->is_response, header->is_error);
    if (descriptor == NULL) {
        return ETHER_ERR_UNSUPPORTED;
    }
    ProtobufCMessage *unpacked =
        protobuf_c_message_unpack(descriptor, &allocator, header->body_bytes, body);
    if (unpacked == NULL) {
        return ETHER_ERR_CORRUPT;
    }
    *message = unpacked;
    return ETHER_OK;
}

void proto_message_free(ProtobufCMessage *message)
{
    if (message != NULL) {
        protobuf_c_message_free_unpacked(message, &allocator);
    }
}
