/* Unit tests for common/: CRC32C, varints, buffers, errors and the logger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/varint.h"

/* RFC 3720, Appendix B.4: CRC32C examples. */
static void test_crc32c_matches_rfc3720_vectors(void **state)
{
    (void)state;
    uint8_t data[48];

    memset(data, 0x00, 32);
    assert_int_equal(ether_crc32c(data, 32), 0x8a9136aau);
    assert_int_equal(ether_crc32c_extend_portable(0, data, 32), 0x8a9136aau);

    memset(data, 0xff, 32);
    assert_int_equal(ether_crc32c(data, 32), 0x62a8ab43u);
    assert_int_equal(ether_crc32c_extend_portable(0, data, 32), 0x62a8ab43u);

    for (int i = 0; i < 32; i++) {
        data[i] = (uint8_t)i;
    }
    assert_int_equal(ether_crc32c(data, 32), 0x46dd794eu);
    assert_int_equal(ether_crc32c_extend_portable(0, data, 32), 0x46dd794eu);

    for (int i = 0; i < 32; i++) {
        data[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(ether_crc32c(data, 32), 0x113fdb5cu);
    assert_int_equal(ether_crc32c_extend_portable(0, data, 32), 0x113fdb5cu);

    static const uint8_t iscsi_read_pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    assert_int_equal(ether_crc32c(iscsi_read_pdu, 48), 0xd9963a56u);
    assert_int_equal(ether_crc32c_extend_portable(0, iscsi_read_pdu, 48), 0xd9963a56u);

    assert_int_equal(ether_crc32c("123456789", 9), 0xe3069283u);
}

static void test_crc32c_hardware_and_table_agree_on_every_length_and_alignment(void **state)
{
    (void)state;
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t offset = 0; offset < 8; offset++) {
        for (size_t length = 0; length + offset <= sizeof data; length += 13) {
            assert_int_equal(ether_crc32c(data + offset, length),
                             ether_crc32c_extend_portable(0, data + offset, length));
        }
    }
}

static void test_crc32c_extend_equals_crc_of_concatenation(void **state)
{
    (void)state;
    const char *text = "the partition log is the raft log";
    size_t length = strlen(text);
    for (size_t split = 0; split <= length; split++) {
        uint32_t crc = ether_crc32c_extend(0, text, split);
        crc = ether_crc32c_extend(crc, text + split, length - split);
        assert_int_equal(crc, ether_crc32c(text, length));
    }
}

static void test_varint_round_trips_boundaries(void **state)
{
    (void)state;
    const uint64_t values[] = {0,
                               1,
                               127,
                               128,
                               255,
                               300,
                               16383,
                               16384,
                               (1ull << 32) - 1,
                               1ull << 32,
                               (1ull << 63) - 1,
                               1ull << 63,
                               UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t encoded[ETHER_VARINT_BYTES_MAX];
        size_t written = ether_varint_encode_u64(values[i], encoded);
        assert_int_equal(written, ether_varint_size_u64(values[i]));
        uint64_t decoded = 0;
        size_t consumed = 0;
        assert_int_equal(ether_varint_decode_u64(encoded, written, &decoded, &consumed), ETHER_OK);
        assert_int_equal(consumed, written);
        assert_true(decoded == values[i]);
    }
}

static void test_varint_decode_rejects_truncated_and_overlong_input(void **state)
{
    (void)state;
    uint64_t value;
    size_t consumed;
    const uint8_t truncated[] = {0x80, 0x80};
    assert_int_equal(ether_varint_decode_u64(truncated, sizeof truncated, &value, &consumed),
                     ETHER_ERR_TRUNCATED);
    assert_int_equal(ether_varint_decode_u64(truncated, 0, &value, &consumed), ETHER_ERR_TRUNCATED);
    const uint8_t overlong[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    assert_int_equal(ether_varint_decode_u64(overlong, sizeof overlong, &value, &consumed),
                     ETHER_ERR_CORRUPT);
    const uint8_t overflowing[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    assert_int_equal(ether_varint_decode_u64(overflowing, sizeof overflowing, &value, &consumed),
                     ETHER_ERR_CORRUPT);
}

static void test_zigzag_maps_small_magnitudes_to_small_codes(void **state)
{
    (void)state;
    assert_true(ether_zigzag_encode(0) == 0);
    assert_true(ether_zigzag_encode(-1) == 1);
    assert_true(ether_zigzag_encode(1) == 2);
    assert_true(ether_zigzag_encode(-2) == 3);
    const int64_t values[] = {0, -1, 1, INT64_MIN, INT64_MAX, -123456789};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        assert_true(ether_zigzag_decode(ether_zigzag_encode(values[i])) == values[i]);
    }
}

static void test_buf_grows_and_keeps_little_endian_layout(void **state)
{
    (void)state;
    struct ether_buf buf = ETHER_BUF_INIT;
    ether_buf_append_u8(&buf, 0xab);
    ether_buf_append_u16le(&buf, 0x1234);
    ether_buf_append_u32le(&buf, 0xdeadbeefu);
    ether_buf_append_u64le(&buf, 0x0102030405060708ull);
    ether_buf_append_varint(&buf, 300);
    assert_int_equal(buf.length, 1 + 2 + 4 + 8 + 2);
    assert_int_equal(buf.data[0], 0xab);
    assert_int_equal(ether_get_u16le(buf.data + 1), 0x1234);
    assert_int_equal(ether_get_u32le(buf.data + 3), 0xdeadbeefu);
    assert_true(ether_get_u64le(buf.data + 7) == 0x0102030405060708ull);
    assert_int_equal(buf.data[15], 0xac);
    assert_int_equal(buf.data[16], 0x02);

    for (int i = 0; i < 10000; i++) {
        ether_buf_append(&buf, "x", 1);
    }
    assert_int_equal(buf.length, 17 + 10000);
    assert_true(buf.capacity >= buf.length);

    size_t length = 0;
    uint8_t *taken = ether_buf_take(&buf, &length);
    assert_int_equal(length, 17 + 10000);
    assert_null(buf.data);
    assert_int_equal(buf.length, 0);
    ether_free(taken);
    ether_buf_free(&buf);
}

static void test_error_table_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(ether_error_name(ETHER_OK), "ETHER_OK");
    assert_string_equal(ether_error_name(ETHER_ERR_CORRUPT), "ETHER_ERR_CORRUPT");
    assert_string_equal(ether_error_name(ETHER_ERR_FRAME_TOO_LARGE), "ETHER_ERR_FRAME_TOO_LARGE");
    assert_string_equal(ether_error_name(9999), "ETHER_ERR_UNKNOWN");
    assert_string_equal(ether_strerror(ETHER_ERR_NO_SPACE), "no space left on device");
    assert_string_equal(ether_strerror(-5), "unknown error");
    assert_int_equal(ether_error_from_errno(28 /* ENOSPC */), ETHER_ERR_NO_SPACE);
}

struct captured_log {
    int calls;
    enum ether_log_level level;
    char context[ETHER_LOG_CONTEXT_BYTES_MAX];
    char message[ETHER_LOG_LINE_BYTES_MAX];
};

static void capture_sink(void *sink_context, enum ether_log_level level, const char *context,
                         const char *message)
{
    struct captured_log *captured = sink_context;
    captured->calls++;
    captured->level = level;
    snprintf(captured->context, sizeof captured->context, "%s", context);
    snprintf(captured->message, sizeof captured->message, "%s", message);
}

static void test_logger_filters_by_level_and_keeps_one_line_per_event(void **state)
{
    (void)state;
    struct captured_log captured = {0};
    struct ether_logger parent;
    struct ether_logger child;
    ether_logger_init_sink(&parent, ETHER_LOG_INFO, capture_sink, &captured, "broker=1");
    ether_logger_derive(&child, &parent, "orders/3");

    ether_log_debug(&child, "hidden %d", 1);
    assert_int_equal(captured.calls, 0);

    ether_log_warn(&child, "segment cut at %d\nsecond line", 42);
    assert_int_equal(captured.calls, 1);
    assert_int_equal(captured.level, ETHER_LOG_WARN);
    assert_string_equal(captured.context, "broker=1 orders/3");
    assert_string_equal(captured.message, "segment cut at 42 second line");

    ether_log_error(NULL, "a NULL logger discards %s", "this");
    assert_int_equal(ether_log_level_parse("warn"), ETHER_LOG_WARN);
    assert_int_equal(ether_log_level_parse("loud"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_matches_rfc3720_vectors),
        cmocka_unit_test(test_crc32c_hardware_and_table_agree_on_every_length_and_alignment),
        cmocka_unit_test(test_crc32c_extend_equals_crc_of_concatenation),
        cmocka_unit_test(test_varint_round_trips_boundaries),
        cmocka_unit_test(test_varint_decode_rejects_truncated_and_overlong_input),
        cmocka_unit_test(test_zigzag_maps_small_magnitudes_to_small_codes),
        cmocka_unit_test(test_buf_grows_and_keeps_little_endian_layout),
        cmocka_unit_test(test_error_table_names_every_code),
        cmocka_unit_test(test_logger_filters_by_level_and_keeps_one_line_per_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
