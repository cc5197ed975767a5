/* Unit tests for proto/: frame codec, API table, record batch and record codecs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mem.h"
#include "proto/proto.h"

static void encode_metadata_request(struct ether_buf *out, uint32_t correlation_id)
{
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    char *topics[] = {"orders", "payments"};
    request.n_topics = 2;
    request.topics = topics;
    struct proto_frame_header header = {
        .api_key = PROTO_API_METADATA, .api_version = 1, .correlation_id = correlation_id};
    assert_int_equal(proto_frame_encode(out, &header, &request.base, PROTO_FRAME_BYTES_MAX_DEFAULT),
                     ETHER_OK);
}

static void test_frame_round_trips_header_and_body(void **state)
{
    (void)state;
    struct ether_buf out = ETHER_BUF_INIT;
    encode_metadata_request(&out, 77);

    struct proto_frame_header header;
    const uint8_t *body = NULL;
    size_t frame_bytes = 0;
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_OK);
    assert_int_equal(frame_bytes, out.length);
    assert_int_equal(header.api_key, PROTO_API_METADATA);
    assert_false(header.is_response);
    assert_int_equal(header.correlation_id, 77);
    assert_int_equal(header.api_version, 1);
    assert_false(header.is_error);

    ProtobufCMessage *message = NULL;
    assert_int_equal(proto_body_unpack(&header, body, &message), ETHER_OK);
    Ether__MetadataRequest *request = (Ether__MetadataRequest *)message;
    assert_int_equal(request->n_topics, 2);
    assert_string_equal(request->topics[1], "payments");
    proto_message_free(message);
    ether_buf_free(&out);
}

static void test_frame_parse_asks_for_more_bytes_on_every_prefix(void **state)
{
    (void)state;
    struct ether_buf out = ETHER_BUF_INIT;
    encode_metadata_request(&out, 1);
    encode_metadata_request(&out, 2);
    size_t first_frame_bytes = out.length / 2;

    struct proto_frame_header header;
    const uint8_t *body;
    size_t frame_bytes;
    for (size_t prefix = 0; prefix < first_frame_bytes; prefix++) {
        assert_int_equal(proto_frame_parse(out.data, prefix, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                           &body, &frame_bytes),
                         ETHER_ERR_TRUNCATED);
    }
    /* Two frames back to back: the parser takes exactly the first, then the second. */
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_OK);
    assert_int_equal(frame_bytes, first_frame_bytes);
    assert_int_equal(proto_frame_parse(out.data + frame_bytes, out.length - frame_bytes,
                                       PROTO_FRAME_BYTES_MAX_DEFAULT, &header, &body, &frame_bytes),
                     ETHER_OK);
    assert_int_equal(header.correlation_id, 2);
    ether_buf_free(&out);
}

static void test_frame_larger_than_limit_is_refused_before_it_arrives(void **state)
{
    (void)state;
    uint8_t announced[4];
    ether_put_u32le(announced, 64 * 1024 * 1024);
    struct proto_frame_header header;
    const uint8_t *body;
    size_t frame_bytes;
    assert_int_equal(
        proto_frame_parse(announced, sizeof announced, 1024 * 1024, &header, &body, &frame_bytes),
        ETHER_ERR_FRAME_TOO_LARGE);

    struct ether_buf out = ETHER_BUF_INIT;
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    struct proto_frame_header metadata = {.api_key = PROTO_API_METADATA, .correlation_id = 1};
    assert_int_equal(proto_frame_encode(&out, &metadata, &request.base, 8),
                     ETHER_ERR_FRAME_TOO_LARGE);
    assert_int_equal(out.length, 0);
    ether_buf_free(&out);
}

static void test_frame_with_bad_version_flags_or_api_is_rejected_by_name(void **state)
{
    (void)state;
    struct ether_buf out = ETHER_BUF_INIT;
    encode_metadata_request(&out, 5);
    struct proto_frame_header header;
    const uint8_t *body;
    size_t frame_bytes;

    out.data[4] = 9; /* version */
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_ERR_CORRUPT);
    out.data[4] = PROTO_FRAME_VERSION;
    out.data[5] = 0x80; /* unknown flag */
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_ERR_CORRUPT);
    out.data[5] = PROTO_FRAME_FLAG_ERROR; /* an error that is not a response */
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_ERR_CORRUPT);
    out.data[5] = 0;
    ether_put_u16le(out.data + 6, 999);
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_ERR_UNSUPPORTED);
    assert_int_equal(frame_bytes, out.length);

    ether_put_u32le(out.data, 2); /* shorter than the header itself */
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_ERR_CORRUPT);
    ether_buf_free(&out);
}

static void test_error_response_carries_code_and_sentence_for_the_request(void **state)
{
    (void)state;
    struct proto_frame_header request = {
        .api_key = PROTO_API_PRODUCE, .api_version = 9, .correlation_id = 31};
    struct ether_buf out = ETHER_BUF_INIT;
    assert_int_equal(proto_frame_encode_error(&out, &request, ETHER_ERR_UNSUPPORTED, NULL,
                                              PROTO_FRAME_BYTES_MAX_DEFAULT),
                     ETHER_OK);
    struct proto_frame_header header;
    const uint8_t *body;
    size_t frame_bytes;
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &header,
                                       &body, &frame_bytes),
                     ETHER_OK);
    assert_true(header.is_response);
    assert_true(header.is_error);
    assert_int_equal(header.correlation_id, 31);
    assert_int_equal(header.api_key, PROTO_API_PRODUCE);
    ProtobufCMessage *message = NULL;
    assert_int_equal(proto_body_unpack(&header, body, &message), ETHER_OK);
    Ether__ErrorResponse *error = (Ether__ErrorResponse *)message;
    assert_int_equal(error->error, ETHER_ERR_UNSUPPORTED);
    assert_string_equal(error->error_message, ether_strerror(ETHER_ERR_UNSUPPORTED));
    proto_message_free(message);
    assert_int_equal(proto_api_version_max(PROTO_API_PRODUCE), 1);
    assert_int_equal(proto_api_version_max(0), 0);
    ether_buf_free(&out);
}

static void test_raw_frame_carries_a_body_encoded_elsewhere(void **state)
{
    (void)state;
    Ether__MetadataRequest request = ETHER__METADATA_REQUEST__INIT;
    char *topics[] = {"orders"};
    request.n_topics = 1;
    request.topics = topics;
    uint8_t body[64];
    size_t body_bytes = protobuf_c_message_pack(&request.base, body);
    struct proto_frame_header header = {.api_key = PROTO_API_METADATA, .correlation_id = 8};
    struct ether_buf out = ETHER_BUF_INIT;
    assert_int_equal(proto_frame_encode_raw(&out, &header, body, body_bytes, 20),
                     ETHER_ERR_FRAME_TOO_LARGE);
    assert_int_equal(out.length, 0);
    assert_int_equal(
        proto_frame_encode_raw(&out, &header, body, body_bytes, PROTO_FRAME_BYTES_MAX_DEFAULT),
        ETHER_OK);
    struct proto_frame_header parsed;
    const uint8_t *parsed_body;
    size_t frame_bytes;
    assert_int_equal(proto_frame_parse(out.data, out.length, PROTO_FRAME_BYTES_MAX_DEFAULT, &parsed,
                                       &parsed_body, &frame_bytes),
                     ETHER_OK);
    ProtobufCMessage *message = NULL;
    assert_int_equal(proto_body_unpack(&parsed, parsed_body, &message), ETHER_OK);
    assert_string_equal(((Ether__MetadataRequest *)message)->topics[0], "orders");
    proto_message_free(message);
    ether_buf_free(&out);
}

static void test_body_that_is_not_protobuf_is_corrupt(void **state)
{
    (void)state;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct proto_frame_header header = {
        .api_key = PROTO_API_PRODUCE, .is_response = false, .body_bytes = sizeof garbage};
    ProtobufCMessage *message = NULL;
    assert_int_equal(proto_body_unpack(&header, garbage, &message), ETHER_ERR_CORRUPT);
    assert_null(message);
}

static void test_encode_refuses_a_body_of_the_wrong_type(void **state)
{
    (void)state;
    struct ether_buf out = ETHER_BUF_INIT;
    Ether__FetchRequest fetch = ETHER__FETCH_REQUEST__INIT;
    struct proto_frame_header metadata = {.api_key = PROTO_API_METADATA, .correlation_id = 1};
    assert_int_equal(
        proto_frame_encode(&out, &metadata, &fetch.base, PROTO_FRAME_BYTES_MAX_DEFAULT),
        ETHER_ERR_INVALID_ARGUMENT);
    struct proto_frame_header error_request = {
        .api_key = PROTO_API_METADATA, .is_error = true, .correlation_id = 1};
    Ether__ErrorResponse error = ETHER__ERROR_RESPONSE__INIT;
    assert_int_equal(
        proto_frame_encode(&out, &error_request, &error.base, PROTO_FRAME_BYTES_MAX_DEFAULT),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(proto_api_name(PROTO_API_FETCH), "FETCH");
    assert_null(proto_api_name(0));
    ether_buf_free(&out);
}

static void build_batch(struct ether_buf *batch, uint32_t record_count)
{
    struct ether_buf records = ETHER_BUF_INIT;
    const struct proto_header_field trace = {(const uint8_t *)"trace", 5, (const uint8_t *)"abc",
                                             3};
    for (uint32_t i = 0; i < record_count; i++) {
        char value[32];
        int value_bytes = snprintf(value, sizeof value, "value-%u", i);
        proto_record_append(&records, (int64_t)i * 10, i, i % 2 == 0 ? "key" : NULL, 3, value,
                            (size_t)value_bytes, &trace, i % 3 == 0 ? 1 : 0);
    }
    struct proto_batch_header header = {
        .compression = PROTO_COMPRESSION_NONE,
        .record_count = record_count,
        .first_timestamp_ms = 1700000000000,
        .max_timestamp_ms = 1700000000000 + (int64_t)(record_count - 1) * 10,
        .producer_id = 42,
        .producer_epoch = 3,
        .base_sequence = 100,
        .records_bytes_uncompressed = (uint32_t)records.length,
    };
    assert_int_equal(proto_batch_write(batch, &header, records.data, records.length), ETHER_OK);
    ether_buf_free(&records);
}

static void test_batch_round_trips_every_record_field(void **state)
{
    (void)state;
    struct ether_buf batch = ETHER_BUF_INIT;
    build_batch(&batch, 7);

    struct proto_batch_header header;
    assert_int_equal(proto_batch_parse(batch.data, batch.length, &header), ETHER_OK);
    assert_int_equal(header.record_count, 7);
    assert_int_equal(header.producer_id, 42);
    assert_int_equal(header.producer_epoch, 3);
    assert_int_equal(header.base_sequence, 100);
    assert_int_equal(header.batch_bytes, batch.length);

    struct proto_record_reader reader;
    proto_record_reader_init(&reader, proto_batch_records(batch.data),
                             header.records_bytes_uncompressed, header.first_timestamp_ms,
                             header.record_count);
    struct proto_record record;
    for (uint32_t i = 0; i < 7; i++) {
        assert_int_equal(proto_record_reader_next(&reader, &record), ETHER_OK);
        assert_int_equal(record.offset_delta, i);
        assert_int_equal(record.timestamp_ms, 1700000000000 + (int64_t)i * 10);
        if (i % 2 == 0) {
            assert_memory_equal(record.key, "key", 3);
        } else {
            assert_null(record.key);
        }
        char expected[32];
        int expected_bytes = snprintf(expected, sizeof expected, "value-%u", i);
        assert_int_equal(record.value_bytes, (size_t)expected_bytes);
        assert_memory_equal(record.value, expected, record.value_bytes);
        assert_int_equal(record.header_count, i % 3 == 0 ? 1 : 0);
        if (record.header_count == 1) {
            const uint8_t *cursor = record.headers;
            size_t remaining = record.headers_bytes;
            struct proto_header_field field;
            assert_int_equal(proto_record_next_header(&cursor, &remaining, &field), ETHER_OK);
            assert_memory_equal(field.key, "trace", 5);
            assert_memory_equal(field.value, "abc", 3);
            assert_int_equal(remaining, 0);
        }
    }
    assert_int_equal(proto_record_reader_next(&reader, &record), ETHER_ERR_NOT_FOUND);
    ether_buf_free(&batch);
}

static void test_batch_with_any_flipped_byte_is_rejected(void **state)
{
    (void)state;
    struct ether_buf batch = ETHER_BUF_INIT;
    build_batch(&batch, 3);
    struct proto_batch_header header;
    for (size_t i = 0; i < batch.length; i++) {
        batch.data[i] ^= 0x10;
        int rc = proto_batch_parse(batch.data, batch.length, &header);
        assert_true(rc == ETHER_ERR_CORRUPT || rc == ETHER_ERR_TRUNCATED);
        batch.data[i] ^= 0x10;
    }
    assert_int_equal(proto_batch_parse(batch.data, batch.length, &header), ETHER_OK);
    assert_int_equal(proto_batch_parse(batch.data, batch.length - 1, &header), ETHER_ERR_TRUNCATED);
    ether_buf_free(&batch);
}

static void test_record_reader_rejects_sections_with_missing_or_extra_bytes(void **state)
{
    (void)state;
    struct ether_buf records = ETHER_BUF_INIT;
    proto_record_append(&records, 0, 0, "k", 1, "v", 1, NULL, 0);
    proto_record_append(&records, 1, 1, "k", 1, "v", 1, NULL, 0);
    struct proto_record_reader reader;
    struct proto_record record;

    /* Every truncation is caught, never read past. */
    for (size_t cut = 0; cut < records.length; cut++) {
        proto_record_reader_init(&reader, records.data, cut, 0, 2);
        int rc = ETHER_OK;
        for (int i = 0; i < 3 && rc == ETHER_OK; i++) {
            rc = proto_record_reader_next(&reader, &record);
        }
        assert_int_equal(rc, ETHER_ERR_CORRUPT);
    }
    /* More bytes than the announced count. */
    proto_record_reader_init(&reader, records.data, records.length, 0, 1);
    assert_int_equal(proto_record_reader_next(&reader, &record), ETHER_OK);
    assert_int_equal(proto_record_reader_next(&reader, &record), ETHER_ERR_CORRUPT);
    ether_buf_free(&records);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_round_trips_header_and_body),
        cmocka_unit_test(test_frame_parse_asks_for_more_bytes_on_every_prefix),
        cmocka_unit_test(test_frame_larger_than_limit_is_refused_before_it_arrives),
        cmocka_unit_test(test_frame_with_bad_version_flags_or_api_is_rejected_by_name),
        cmocka_unit_test(test_error_response_carries_code_and_sentence_for_the_request),
        cmocka_unit_test(test_raw_frame_carries_a_body_encoded_elsewhere),
        cmocka_unit_test(test_body_that_is_not_protobuf_is_corrupt),
        cmocka_unit_test(test_encode_refuses_a_body_of_the_wrong_type),
        cmocka_unit_test(test_batch_round_trips_every_record_field),
        cmocka_unit_test(test_batch_with_any_flipped_byte_is_rejected),
        cmocka_unit_test(test_record_reader_rejects_sections_with_missing_or_extra_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
