/*
 * Unit tests for the pure parts of libether: the key partitioner, record
 * queues and the linger rule, the batch builder and reader (LZ4), the retry
 * backoff, and configuration parsing. No threads, no sockets, no clocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "common/crc32c.h"

/* ---- partitioner ------------------------------------------------------------------------ */

static void test_same_key_always_goes_to_the_same_partition(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        char key[32];
        int length = snprintf(key, sizeof key, "customer-%d", i);
        uint32_t first = ether_partition_for_key(key, (size_t)length, 6);
        assert_true(first < 6);
        assert_int_equal(ether_partition_for_key(key, (size_t)length, 6), first);
    }
}

static void test_partition_for_key_is_the_documented_crc32c_rule(void **state)
{
    (void)state;
    /* RFC 3720's vector: crc32c("123456789") = 0xE3069283. */
    assert_int_equal(ether_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(ether_partition_for_key("123456789", 9, 1000), 0xE3069283u % 1000);
    assert_int_equal(ether_partition_for_key("", 0, 7), 0);
}

static void test_keys_spread_over_every_partition(void **state)
{
    (void)state;
    enum { PARTITIONS = 8, KEYS = 8000 };
    uint32_t counts[PARTITIONS] = {0};
    for (int i = 0; i < KEYS; i++) {
        char key[32];
        int length = snprintf(key, sizeof key, "user:%d", i);
        counts[ether_partition_for_key(key, (size_t)length, PARTITIONS)]++;
    }
    for (int p = 0; p < PARTITIONS; p++) {
        /* Within 20% of the fair share. */
        assert_true(counts[p] > KEYS / PARTITIONS * 8 / 10);
        assert_true(counts[p] < KEYS / PARTITIONS * 12 / 10);
    }
}

/* ---- record queues, linger, batches ----------------------------------------------------- */

static struct client_record *record_at(const char *key, const char *value, int64_t timestamp_ms,
                                       uint64_t enqueued_ms)
{
    struct client_record *record = client_record_new(key, key != NULL ? strlen(key) : 0, value,
                                                     value != NULL ? strlen(value) : 0);
    record->timestamp_ms = timestamp_ms;
    record->enqueued_ms = enqueued_ms;
    return record;
}

static void free_queue(struct client_record_queue *queue)
{
    struct client_record *record;
    while ((record = client_record_queue_pop(queue)) != NULL) {
        client_record_free(record);
    }
}

static void test_queue_waits_for_linger_unless_full_or_flushing(void **state)
{
    (void)state;
    struct client_record_queue queue = {0};
    assert_false(client_record_queue_ready(&queue, 1000, 5, 1024, true));
    client_record_queue_push(&queue, record_at("k", "v", 1, 100));
    assert_false(client_record_queue_ready(&queue, 100, 5, 1024, false));
    assert_false(client_record_queue_ready(&queue, 104, 5, 1024, false));
    assert_true(client_record_queue_ready(&queue, 105, 5, 1024, false));
    assert_true(client_record_queue_ready(&queue, 100, 5, 1024, true));
    /* Full: ready at once even though linger has not passed. */
    assert_true(client_record_queue_ready(&queue, 100, 5000, queue.bytes, false));
    assert_false(client_record_queue_ready(&queue, 100, 5000, queue.bytes + 1, false));
    free_queue(&queue);
    assert_int_equal(queue.count, 0);
    assert_int_equal(queue.bytes, 0);
}

/* Opens a batch and checks that its records are exactly `keys`/`values`. */
static void assert_batch_holds(const struct ether_buf *batch, const char *const *keys,
                               const char *const *values, uint32_t count,
                               enum proto_compression compression)
{
    struct ether_buf scratch = ETHER_BUF_INIT;
    struct proto_batch_header header;
    const uint8_t *records = NULL;
    size_t records_bytes = 0;
    assert_int_equal(
        client_batch_open(batch->data, batch->length, &scratch, &header, &records, &records_bytes),
        ETHER_OK);
    assert_int_equal(header.compression, compression);
    assert_int_equal(header.record_count, count);
    assert_int_equal(header.producer_id, -1);
    assert_int_equal(header.producer_epoch, -1);
    assert_int_equal(header.base_sequence, -1);
    struct proto_record_reader reader;
    proto_record_reader_init(&reader, records, records_bytes, header.first_timestamp_ms,
                             header.record_count);
    for (uint32_t i = 0; i < count; i++) {
        struct proto_record record;
        assert_int_equal(proto_record_reader_next(&reader, &record), ETHER_OK);
        assert_int_equal(record.offset_delta, i);
        assert_int_equal(record.timestamp_ms, 1000 + i);
        if (keys[i] == NULL) {
            assert_null(record.key);
        } else {
            assert_int_equal(record.key_bytes, strlen(keys[i]));
            assert_memory_equal(record.key, keys[i], record.key_bytes);
        }
        assert_int_equal(record.value_bytes, strlen(values[i]));
        assert_memory_equal(record.value, values[i], record.value_bytes);
    }
    struct proto_record end;
    assert_int_equal(proto_record_reader_next(&reader, &end), ETHER_ERR_NOT_FOUND);
    ether_buf_free(&scratch);
}

static void test_records_become_an_lz4_batch_that_reads_back_identical(void **state)
{
    (void)state;
    enum { COUNT = 50 };
    const char *keys[COUNT];
    const char *values[COUNT];
    char storage[COUNT][64];
    struct client_record_queue queue = {0};
    for (uint32_t i = 0; i < COUNT; i++) {
        snprintf(storage[i], sizeof storage[i], "order %u: the same words compress well", i);
        keys[i] = i % 3 == 0 ? NULL : "customer";
        values[i] = storage[i];
        client_record_queue_push(&queue, record_at(keys[i], values[i], 1000 + i, 0));
    }
    struct client_batch *batch = client_batch_seal(&queue, 64 * 1024, PROTO_COMPRESSION_LZ4);
    assert_int_equal(queue.count, 0);
    assert_int_equal(batch->records.count, COUNT);
    struct proto_batch_header header;
    assert_int_equal(proto_batch_parse(batch->bytes.data, batch->bytes.length, &header), ETHER_OK);
    assert_true(header.batch_bytes - PROTO_BATCH_HEADER_BYTES < header.records_bytes_uncompressed);
    assert_batch_holds(&batch->bytes, keys, values, COUNT, PROTO_COMPRESSION_LZ4);
    client_batch_free(batch);
}

static void test_incompressible_records_are_sent_uncompressed(void **state)
{
    (void)state;
    const char *keys[] = {NULL};
    const char *values[] = {"x"};
    struct client_record_queue queue = {0};
    client_record_queue_push(&queue, record_at(NULL, "x", 1000, 0));
    struct client_batch *batch = client_batch_seal(&queue, 1024, PROTO_COMPRESSION_LZ4);
    assert_batch_holds(&batch->bytes, keys, values, 1, PROTO_COMPRESSION_NONE);
    client_batch_free(batch);
}

static void test_batch_stops_at_batch_bytes_and_leaves_the_rest_queued(void **state)
{
    (void)state;
    enum { COUNT = 100, BATCH_BYTES = 2000 };
    char value[101];
    memset(value, 'v', 100);
    value[100] = '\0';
    struct client_record_queue queue = {0};
    for (int i = 0; i < COUNT; i++) {
        client_record_queue_push(&queue, record_at(NULL, value, 1000 + i, 0));
    }
    uint32_t total = 0;
    while (queue.count > 0) {
        struct client_batch *batch = client_batch_seal(&queue, BATCH_BYTES, PROTO_COMPRESSION_NONE);
        assert_true(batch->bytes.length <= BATCH_BYTES);
        assert_true(batch->records.count >= 1);
        assert_true(batch->records.count < COUNT);
        /* The first record of each batch continues where the previous batch stopped. */
        assert_int_equal(batch->records.head->timestamp_ms, 1000 + (int64_t)total);
        total += (uint32_t)batch->records.count;
        client_batch_free(batch);
    }
    assert_int_equal(total, COUNT);
}

static void test_record_larger_than_batch_bytes_still_goes_alone(void **state)
{
    (void)state;
    char value[300];
    memset(value, 'a', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    struct client_record_queue queue = {0};
    client_record_queue_push(&queue, record_at(NULL, value, 1, 0));
    client_record_queue_push(&queue, record_at(NULL, value, 2, 0));
    struct client_batch *batch = client_batch_seal(&queue, 100, PROTO_COMPRESSION_NONE);
    assert_int_equal(batch->records.count, 1);
    assert_int_equal(queue.count, 1);
    client_batch_free(batch);
    free_queue(&queue);
}

static void test_corrupt_or_lying_batches_are_refused_by_name(void **state)
{
    (void)state;
    const char *values[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    struct client_record_queue queue = {0};
    client_record_queue_push(&queue, record_at(NULL, values[0], 1000, 0));
    struct client_batch *batch = client_batch_seal(&queue, 1024, PROTO_COMPRESSION_LZ4);
    struct ether_buf scratch = ETHER_BUF_INIT;
    struct proto_batch_header header;
    const uint8_t *records;
    size_t records_bytes;

    /* A flipped byte: the CRC catches it. */
    batch->bytes.data[batch->bytes.length - 1] ^= 0x40;
    assert_int_equal(client_batch_open(batch->bytes.data, batch->bytes.length, &scratch, &header,
                                       &records, &records_bytes),
                     ETHER_ERR_CORRUPT);
    batch->bytes.data[batch->bytes.length - 1] ^= 0x40;

    /* A consistent CRC over a lying uncompressed size: LZ4 does not decode to it. */
    struct proto_batch_header lying;
    assert_int_equal(proto_batch_parse(batch->bytes.data, batch->bytes.length, &lying), ETHER_OK);
    lying.records_bytes_uncompressed += 1;
    struct ether_buf rewritten = ETHER_BUF_INIT;
    assert_int_equal(proto_batch_write(&rewritten, &lying,
                                       batch->bytes.data + PROTO_BATCH_HEADER_BYTES,
                                       batch->bytes.length - PROTO_BATCH_HEADER_BYTES),
                     ETHER_OK);
    assert_int_equal(client_batch_open(rewritten.data, rewritten.length, &scratch, &header,
                                       &records, &records_bytes),
                     ETHER_ERR_CORRUPT);

    /* An announced size beyond the bound is refused before any allocation. */
    ether_buf_clear(&rewritten);
    lying.records_bytes_uncompressed = CLIENT_RECORDS_UNCOMPRESSED_BYTES_MAX + 1;
    assert_int_equal(proto_batch_write(&rewritten, &lying,
                                       batch->bytes.data + PROTO_BATCH_HEADER_BYTES,
                                       batch->bytes.length - PROTO_BATCH_HEADER_BYTES),
                     ETHER_OK);
    assert_int_equal(client_batch_open(rewritten.data, rewritten.length, &scratch, &header,
                                       &records, &records_bytes),
                     ETHER_ERR_TOO_LARGE);

    /* Truncated. */
    assert_int_equal(client_batch_open(batch->bytes.data, batch->bytes.length - 3, &scratch,
                                       &header, &records, &records_bytes),
                     ETHER_ERR_CORRUPT);
    ether_buf_free(&rewritten);
    ether_buf_free(&scratch);
    client_batch_free(batch);
}

/* ---- backoff -------------------------------------------------------------------------------- */

static void test_backoff_grows_and_stays_within_its_bounds(void **state)
{
    (void)state;
    struct client_backoff backoff;
    client_backoff_init(&backoff, 100, 2000, 42);
    for (uint32_t attempt = 1; attempt <= 64; attempt++) {
        uint64_t step = 100;
        for (uint32_t i = 1; i < attempt && step < 2000; i++) {
            step *= 2;
        }
        if (step > 2000) {
            step = 2000;
        }
        for (int draw = 0; draw < 50; draw++) {
            uint32_t delay = client_backoff_delay_ms(&backoff, attempt);
            assert_true(delay >= step / 2);
            assert_true(delay <= step);
            assert_true(delay <= 2000);
        }
    }
}

static void test_backoff_jitter_is_reproducible_from_its_seed(void **state)
{
    (void)state;
    struct client_backoff first;
    struct client_backoff second;
    struct client_backoff other;
    client_backoff_init(&first, 50, 5000, 7);
    client_backoff_init(&second, 50, 5000, 7);
    client_backoff_init(&other, 50, 5000, 8);
    bool differs = false;
    for (uint32_t attempt = 1; attempt < 20; attempt++) {
        uint32_t a = client_backoff_delay_ms(&first, attempt);
        assert_int_equal(a, client_backoff_delay_ms(&second, attempt));
        differs = differs || a != client_backoff_delay_ms(&other, attempt);
    }
    assert_true(differs);
}

static void test_backoff_is_never_zero_unless_configured_so(void **state)
{
    (void)state;
    struct client_backoff backoff;
    client_backoff_init(&backoff, 1, 1, 3);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(client_backoff_delay_ms(&backoff, 1), 1);
    }
    client_backoff_init(&backoff, 0, 0, 3);
    assert_int_equal(client_backoff_delay_ms(&backoff, 5), 0);
}

/* ---- settings and the broker list ------------------------------------------------------- */

static void test_broker_list_parses_hosts_ports_and_spaces(void **state)
{
    (void)state;
    struct client_address *addresses = NULL;
    size_t count = 0;
    char errstr[256];
    assert_int_equal(client_parse_brokers(" a.example:9092, 10.0.0.2:19093 ,[::1]:9094", &addresses,
                                          &count, errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(count, 3);
    assert_string_equal(addresses[0].host, "a.example");
    assert_int_equal(addresses[0].port, 9092);
    assert_string_equal(addresses[1].host, "10.0.0.2");
    assert_int_equal(addresses[1].port, 19093);
    assert_string_equal(addresses[2].host, "::1");
    assert_int_equal(addresses[2].port, 9094);
    client_addresses_free(addresses, count);
}

static void test_bad_broker_lists_are_explained(void **state)
{
    (void)state;
    const char *bad[] = {
        "", " , ", "localhost", "host:", ":9092", "host:70000", "host:9x", "[::1]9092"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct client_address *addresses = NULL;
        size_t count = 0;
        char errstr[256] = "";
        assert_int_equal(client_parse_brokers(bad[i], &addresses, &count, errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
        assert_true(strlen(errstr) > 10);
    }
}

static void test_settings_parse_and_refuse_with_a_sentence(void **state)
{
    (void)state;
    struct ether_config *config = ether_config_new();
    char errstr[256];
    assert_int_equal(ether_config_set(config, "acks", "1", errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(config->settings.acks, CLIENT_ACKS_LEADER);
    assert_int_equal(ether_config_set(config, "acks", "all", errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(config->settings.acks, CLIENT_ACKS_ALL);
    assert_int_equal(ether_config_set(config, "linger_ms", "25", errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(config->settings.linger_ms, 25);
    assert_int_equal(ether_config_set(config, "compression", "none", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(config->settings.compression, PROTO_COMPRESSION_NONE);
    assert_int_equal(ether_config_set(config, "brokers", "h:1", errstr, sizeof errstr), ETHER_OK);
    assert_string_equal(config->settings.brokers, "h:1");

    assert_int_equal(ether_config_set(config, "acks", "2", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "acks must be 0, 1 or all, not \"2\"");
    assert_int_equal(ether_config_set(config, "linger_ms", "-1", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "linger_ms must be a whole number"));
    assert_int_equal(ether_config_set(config, "lingers_ms", "1", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "unknown configuration property \"lingers_ms\"");
    assert_int_equal(ether_config_set(config, "brokers", "nowhere", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(config->settings.brokers, "h:1");
    ether_config_free(config);
}

static void test_group_settings_parse_and_contradictions_are_refused(void **state)
{
    (void)state;
    struct ether_config *config = ether_config_new();
    char errstr[256];
    assert_string_equal(config->settings.group_id, "");
    assert_int_equal(config->settings.group_assignor, CLIENT_ASSIGNOR_RANGE);
    assert_false(config->settings.group_cooperative);
    assert_true(config->settings.enable_auto_commit);
    assert_int_equal(config->settings.auto_offset_reset, CLIENT_OFFSET_RESET_LATEST);
    assert_int_equal(ether_config_set(config, "group_id", "billing", errstr, sizeof errstr),
                     ETHER_OK);
    assert_string_equal(config->settings.group_id, "billing");
    assert_int_equal(ether_config_set(config, "group_assignor", "sticky", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(config->settings.group_assignor, CLIENT_ASSIGNOR_STICKY);
    assert_string_equal(client_assignor_name(config->settings.group_assignor), "sticky");
    assert_int_equal(
        ether_config_set(config, "group_protocol", "cooperative", errstr, sizeof errstr), ETHER_OK);
    assert_true(config->settings.group_cooperative);
    assert_int_equal(ether_config_set(config, "enable_auto_commit", "false", errstr, sizeof errstr),
                     ETHER_OK);
    assert_false(config->settings.enable_auto_commit);
    assert_int_equal(
        ether_config_set(config, "auto_offset_reset", "earliest", errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(config->settings.auto_offset_reset, CLIENT_OFFSET_RESET_EARLIEST);

    assert_int_equal(ether_config_set(config, "group_assignor", "random", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr,
                        "group_assignor must be range, roundrobin or sticky, not \"random\"");
    assert_int_equal(ether_config_set(config, "group_protocol", "lazy", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "group_protocol must be eager or cooperative, not \"lazy\"");
    assert_int_equal(ether_config_set(config, "enable_auto_commit", "yes", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "enable_auto_commit must be true or false, not \"yes\"");
    assert_int_equal(ether_config_set(config, "auto_offset_reset", "none", errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "auto_offset_reset must be earliest or latest, not \"none\"");
    char long_name[300];
    memset(long_name, 'g', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(ether_config_set(config, "group_id", long_name, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "group_id is longer than 255 bytes");
    assert_string_equal(config->settings.group_id, "billing");

    /* Each value alone is fine; together they contradict each other. */
    assert_int_equal(ether_config_set(config, "session_timeout_ms", "3000", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_client_new(config, errstr, sizeof errstr), NULL);
    assert_string_equal(errstr, "heartbeat_interval_ms (3000) must be less than session_timeout_ms "
                                "(3000): the coordinator would drop the member between two "
                                "heartbeats");
    assert_int_equal(
        ether_config_set(config, "heartbeat_interval_ms", "1000", errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr), ETHER_OK);
    ether_config_free(config);
}

static void test_tls_settings_parse_and_files_that_do_not_go_together_are_refused(void **state)
{
    (void)state;
    struct ether_config *config = ether_config_new();
    char errstr[256];
    /* In clear by default (the tests run without ETHER_TLS_* in the environment). */
    assert_string_equal(config->settings.tls_ca_file, "");
    assert_string_equal(config->settings.tls_certificate_file, "");
    assert_string_equal(config->settings.tls_private_key_file, "");
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr), ETHER_OK);

    /* A certificate alone: TLS is on only with a CA file, and the key must come with it. */
    assert_int_equal(
        ether_config_set(config, "tls_certificate_file", "alice.crt", errstr, sizeof errstr),
        ETHER_OK);
    assert_string_equal(config->settings.tls_certificate_file, "alice.crt");
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "tls_certificate_file is set but tls_ca_file is not: TLS is on "
                                "only with tls_ca_file, the CA file that signs the brokers' "
                                "certificates");
    assert_int_equal(ether_config_set(config, "tls_ca_file", "ca.crt", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "tls_certificate_file is set without tls_private_key_file: a "
                                "client certificate needs its private key");
    assert_null(ether_client_new(config, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "needs its private key"));
    assert_int_equal(
        ether_config_set(config, "tls_private_key_file", "alice.key", errstr, sizeof errstr),
        ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr), ETHER_OK);

    /* A key alone is refused the same way. */
    assert_int_equal(ether_config_set(config, "tls_certificate_file", "", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "tls_private_key_file is set without tls_certificate_file: a "
                                "client certificate needs its private key");
    assert_int_equal(ether_config_set(config, "tls_ca_file", "", errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errstr, "tls_private_key_file is set but tls_ca_file is not"));

    /* A CA file alone is TLS without a client certificate; "" everywhere is clear again. */
    assert_int_equal(ether_config_set(config, "tls_private_key_file", "", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_config_set(config, "tls_ca_file", "ca.crt", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr), ETHER_OK);

    /* Settings are copied with the rest (ether_client_new copies the config). */
    struct client_settings copy;
    client_settings_copy(&copy, &config->settings);
    assert_string_equal(copy.tls_ca_file, "ca.crt");
    assert_ptr_not_equal(copy.tls_ca_file, config->settings.tls_ca_file);
    client_settings_free(&copy);
    ether_config_free(config);
}

static void test_tls_settings_default_to_the_environment_like_brokers(void **state)
{
    (void)state;
    assert_int_equal(setenv("ETHER_TLS_CA_FILE", "/etc/ether/ca.crt", 1), 0);
    assert_int_equal(setenv("ETHER_TLS_CERTIFICATE_FILE", "/etc/ether/alice.crt", 1), 0);
    assert_int_equal(setenv("ETHER_TLS_PRIVATE_KEY_FILE", "", 1), 0); /* empty: unset */
    struct ether_config *config = ether_config_new();
    assert_string_equal(config->settings.tls_ca_file, "/etc/ether/ca.crt");
    assert_string_equal(config->settings.tls_certificate_file, "/etc/ether/alice.crt");
    assert_string_equal(config->settings.tls_private_key_file, "");
    ether_config_free(config);
    unsetenv("ETHER_TLS_CA_FILE");
    unsetenv("ETHER_TLS_CERTIFICATE_FILE");
    unsetenv("ETHER_TLS_PRIVATE_KEY_FILE");
    config = ether_config_new();
    assert_string_equal(config->settings.tls_ca_file, "");
    ether_config_free(config);
}

static void test_scram_settings_default_to_the_environment_and_are_copied(void **state)
{
    (void)state;
    assert_int_equal(setenv("ETHER_SASL_USERNAME", "alice", 1), 0);
    assert_int_equal(setenv("ETHER_SASL_PASSWORD", "alice-password", 1), 0);
    struct ether_config *config = ether_config_new();
    assert_string_equal(config->settings.sasl_username, "alice");
    assert_string_equal(config->settings.sasl_password, "alice-password");
    unsetenv("ETHER_SASL_USERNAME");
    unsetenv("ETHER_SASL_PASSWORD");
    char errstr[256];
    /* The environment's login needs TLS like any other. */
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "SCRAM-SHA-256 logins need TLS: set tls_ca_file");
    assert_int_equal(ether_config_set(config, "tls_ca_file", "ca.crt", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr), ETHER_OK);
    struct client_settings copy;
    client_settings_copy(&copy, &config->settings);
    assert_string_equal(copy.sasl_username, "alice");
    assert_string_equal(copy.sasl_password, "alice-password");
    assert_ptr_not_equal(copy.sasl_password, config->settings.sasl_password);
    client_settings_free(&copy);
    ether_config_free(config);
    config = ether_config_new();
    assert_string_equal(config->settings.sasl_username, "");
    assert_string_equal(config->settings.sasl_password, "");
    ether_config_free(config);
}

static void
test_scram_settings_that_do_not_go_together_are_refused_without_the_password(void **state)
{
    (void)state;
    struct ether_config *config = ether_config_new();
    char errstr[256];
    assert_int_equal(ether_config_set(config, "tls_ca_file", "ca.crt", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(ether_config_set(config, "sasl_password", "s3cret", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "sasl_password is set without sasl_username: a SCRAM-SHA-256 "
                                "login needs both");
    const char *bad_names[] = {"with space", "caf\xc3\xa9", "tab\t"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_int_equal(
            ether_config_set(config, "sasl_username", bad_names[i], errstr, sizeof errstr),
            ETHER_OK);
        assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                         ETHER_ERR_INVALID_ARGUMENT);
        assert_string_equal(errstr, "sasl_username must be 1 to 128 printable ASCII characters "
                                    "without spaces");
    }
    /* ',' and '=' are fine: they travel escaped. */
    assert_int_equal(ether_config_set(config, "sasl_username", "a,b=c", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr), ETHER_OK);
    static char long_password[1030];
    memset(long_password, 'p', sizeof long_password - 1);
    assert_int_equal(
        ether_config_set(config, "sasl_password", long_password, errstr, sizeof errstr), ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "sasl_password is longer than 1024 bytes");
    assert_int_equal(ether_config_set(config, "sasl_password", "", errstr, sizeof errstr),
                     ETHER_OK);
    assert_int_equal(client_settings_check(&config->settings, errstr, sizeof errstr),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_string_equal(errstr, "sasl_username is set without sasl_password: a SCRAM-SHA-256 "
                                "login needs both");
    ether_config_free(config);
}

static void test_public_error_names_and_sentences_come_from_the_one_table(void **state)
{
    (void)state;
    assert_string_equal(ether_error_name(ETHER_ERR_NOT_LEADER), "ETHER_ERR_NOT_LEADER");
    assert_string_equal(ether_strerror(ETHER_ERR_TIMED_OUT), "operation timed out");
    assert_string_equal(ether_error_name(ETHER_ERR_TOPIC_AUTHORIZATION_FAILED),
                        "ETHER_ERR_TOPIC_AUTHORIZATION_FAILED");
    assert_string_equal(ether_error_name(ETHER_ERR_GROUP_AUTHORIZATION_FAILED),
                        "ETHER_ERR_GROUP_AUTHORIZATION_FAILED");
    assert_string_equal(ether_error_name(ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED),
                        "ETHER_ERR_CLUSTER_AUTHORIZATION_FAILED");
    assert_string_equal(ether_strerror(72), "not authorized to access the topic");
    assert_string_equal(ether_strerror(73), "not authorized to access the consumer group");
    assert_string_equal(ether_strerror(74), "not authorized for this cluster operation");
    assert_string_equal(ether_version(), ETHER_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_key_always_goes_to_the_same_partition),
        cmocka_unit_test(test_partition_for_key_is_the_documented_crc32c_rule),
        cmocka_unit_test(test_keys_spread_over_every_partition),
        cmocka_unit_test(test_queue_waits_for_linger_unless_full_or_flushing),
        cmocka_unit_test(test_records_become_an_lz4_batch_that_reads_back_identical),
        cmocka_unit_test(test_incompressible_records_are_sent_uncompressed),
        cmocka_unit_test(test_batch_stops_at_batch_bytes_and_leaves_the_rest_queued),
        cmocka_unit_test(test_record_larger_than_batch_bytes_still_goes_alone),
        cmocka_unit_test(test_corrupt_or_lying_batches_are_refused_by_name),
        cmocka_unit_test(test_backoff_grows_and_stays_within_its_bounds),
        cmocka_unit_test(test_backoff_jitter_is_reproducible_from_its_seed),
        cmocka_unit_test(test_backoff_is_never_zero_unless_configured_so),
        cmocka_unit_test(test_broker_list_parses_hosts_ports_and_spaces),
        cmocka_unit_test(test_bad_broker_lists_are_explained),
        cmocka_unit_test(test_settings_parse_and_refuse_with_a_sentence),
        cmocka_unit_test(test_group_settings_parse_and_contradictions_are_refused),
        cmocka_unit_test(test_tls_settings_parse_and_files_that_do_not_go_together_are_refused),
        cmocka_unit_test(test_tls_settings_default_to_the_environment_like_brokers),
        cmocka_unit_test(test_scram_settings_default_to_the_environment_and_are_copied),
        cmocka_unit_test(
            test_scram_settings_that_do_not_go_together_are_refused_without_the_password),
        cmocka_unit_test(test_public_error_names_and_sentences_come_from_the_one_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
