/*
 * Unit tests for the pure parts of the `ether` tool (client/cli.h): argument
 * parsing, help, consume templates, JSON strings and percentiles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/scram.h"

/* Parses a NULL-terminated list of words after "ether". */
static int parse(struct cli_options *options, char *errstr, size_t errstr_size, ...)
{
    char *argv[32] = {"ether"};
    int argc = 1;
    va_list args;
    va_start(args, errstr_size);
    for (char *word = va_arg(args, char *); word != NULL; word = va_arg(args, char *)) {
        argv[argc++] = word;
    }
    va_end(args);
    errstr[0] = '\0';
    return cli_parse(argc, argv, options, errstr, errstr_size);
}

static void test_topic_create_reads_partitions_replicas_and_settings(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    char words[][32] = {"topic",
                        "create",
                        "orders",
                        "-p",
                        "6",
                        "-r",
                        "3",
                        "-c",
                        "retention.ms=60000",
                        "--config=cleanup.policy=delete",
                        "--brokers",
                        "h:1"};
    assert_int_equal(parse(&options, errstr, sizeof errstr, words[0], words[1], words[2], words[3],
                           words[4], words[5], words[6], words[7], words[8], words[9], words[10],
                           words[11], NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_TOPIC_CREATE);
    assert_string_equal(options.topic, "orders");
    assert_int_equal(options.partition_count, 6);
    assert_int_equal(options.replication_factor, 3);
    assert_int_equal(options.setting_count, 2);
    assert_int_equal(options.settings[0].name_bytes, strlen("retention.ms"));
    assert_memory_equal(options.settings[0].name, "retention.ms", strlen("retention.ms"));
    assert_string_equal(options.settings[0].value, "60000");
    assert_string_equal(options.settings[1].value, "delete");
    assert_string_equal(options.brokers, "h:1");
}

static void test_global_flags_may_come_before_the_command(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    char brokers[] = "h:9";
    assert_int_equal(parse(&options, errstr, sizeof errstr, "--brokers", brokers, "--format",
                           "json", "topic", "list", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_TOPIC_LIST);
    assert_int_equal(options.output, CLI_OUTPUT_JSON);
    assert_string_equal(options.brokers, "h:9");
}

static void test_short_p_means_partition_for_consume(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "orders", "-p", "2",
                           "--offset", "@1700000000000", "--follow", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_CONSUME);
    assert_int_equal(options.partition, 2);
    assert_int_equal(options.start, CLI_START_TIMESTAMP);
    assert_int_equal(options.start_value, 1700000000000);
    assert_true(options.follow);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--from-beginning",
                           "--format", "%p/%o %v\\n", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.start, CLI_START_BEGINNING);
    assert_int_equal(options.output, CLI_OUTPUT_TEMPLATE);
    assert_string_equal(options.template_text, "%p/%o %v\\n");
}

static void test_transfer_leader_splits_topic_and_partition(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    char target[] = "orders/3";
    assert_int_equal(parse(&options, errstr, sizeof errstr, "partition", "transfer-leader", target,
                           "--to", "2", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_PARTITION_TRANSFER_LEADER);
    assert_string_equal(options.topic, "orders");
    assert_int_equal(options.partition, 3);
    assert_int_equal(options.to_broker_id, 2);
}

static void test_bench_and_health_flags(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "bench", "produce", "t", "-s", "512",
                           "-n", "1000", "--acks", "1", "--producers", "4", "--batch-bytes",
                           "131072", "--linger-ms", "20", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_BENCH_PRODUCE);
    assert_int_equal(options.record_bytes, 512);
    assert_int_equal(options.record_count, 1000);
    assert_string_equal(options.acks, "1");
    assert_int_equal(options.producer_count, 4);
    assert_int_equal(options.batch_bytes, 131072);
    assert_int_equal(options.linger_ms, 20);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "cluster", "health", "--watch",
                           "--exit-when-healthy", NULL),
                     CLI_EXIT_OK);
    assert_true(options.watch);
    assert_true(options.exit_when_healthy);
}

static void test_bad_arguments_get_one_clear_sentence(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "topic", "create", "t", "-p", "six", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr,
                        "--partitions expects a whole number from 1 to 100000, not \"six\"");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "frobnicate", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr,
                        "unknown command \"ether topic frobnicate\"; see \"ether topic --help\"");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--follow", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether topic list\" does not take --follow; see --help");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--colour", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "unknown flag --colour; see --help");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "produce", NULL), CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether produce\" needs TOPIC");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "produce", "t", "--acks", "2", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--acks expects 0, 1 or all, not \"2\"");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "produce", "t", "--acks", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--acks needs a value (0|1|all)");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "create", "a", "b", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "unexpected argument \"b\"");

    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "topic", "create", "t", "-c", "x", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--config expects KEY=VALUE, not \"x\"");

    char target[] = "orders";
    assert_int_equal(parse(&options, errstr, sizeof errstr, "partition", "transfer-leader", target,
                           "--to", "1", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "expected TOPIC/PARTITION (like orders/3), not \"orders\"");

    char target2[] = "orders/1";
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "partition", "transfer-leader", target2, NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether partition transfer-leader\" needs --to BROKER");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "alter-config", "t", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr,
                        "\"ether topic alter-config\" needs --set KEY=VALUE or --delete KEY");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--format", "%x", NULL),
                     CLI_EXIT_USAGE);
    assert_non_null(strstr(errstr, "unknown template escape \"%x\""));

    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "topic", "list", "--format", "xml", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--format expects text or json, not \"xml\"");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", NULL), CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether topic\" needs a subcommand; see \"ether topic --help\"");
}

static void test_help_exists_on_every_level(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    struct cli_text text = {0};

    assert_int_equal(parse(&options, errstr, sizeof errstr, "--help", NULL), CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_HELP);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "topic create"));
    assert_non_null(strstr(text.data, "bench produce"));
    cli_text_free(&text);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "--help", NULL), CLI_EXIT_OK);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "Usage: ether topic COMMAND"));
    assert_non_null(strstr(text.data, "topic alter-config"));
    assert_null(strstr(text.data, "bench produce"));
    cli_text_free(&text);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "create", "-h", NULL),
                     CLI_EXIT_OK);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "Usage: ether topic create NAME"));
    assert_non_null(strstr(text.data, "-p, --partitions N"));
    assert_non_null(strstr(text.data, "--brokers"));
    cli_text_free(&text);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "--help", NULL),
                     CLI_EXIT_OK);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "-p, --partition P"));
    assert_non_null(strstr(text.data, "--from-beginning"));
    assert_non_null(strstr(text.data, "-g, --group GROUP"));
    assert_non_null(strstr(text.data, "--group-protocol eager|cooperative"));
    assert_non_null(strstr(text.data, "with --group: a client setting"));
    cli_text_free(&text);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "--help", NULL), CLI_EXIT_OK);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "Usage: ether group COMMAND"));
    assert_non_null(strstr(text.data, "group reset-offsets"));
    assert_non_null(strstr(text.data, "group describe"));
    cli_text_free(&text);

    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "--help", NULL),
        CLI_EXIT_OK);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "Usage: ether group reset-offsets GROUP"));
    assert_non_null(strstr(text.data, "--to-datetime TIME"));
    assert_null(strstr(text.data, "--group-protocol"));
    cli_text_free(&text);
}

static void test_tls_flags_are_global_and_shown_in_help(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "--tls-ca", "ca.crt", "topic", "list",
                           "--tls-cert=alice.crt", "--tls-key", "alice.key", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_TOPIC_LIST);
    assert_string_equal(options.tls_ca_file, "ca.crt");
    assert_string_equal(options.tls_certificate_file, "alice.crt");
    assert_string_equal(options.tls_private_key_file, "alice.key");

    /* Every command takes them, including those that make their own clients. */
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "bench", "produce", "t", "--tls-ca", "ca.crt", NULL),
        CLI_EXIT_OK);
    assert_string_equal(options.tls_ca_file, "ca.crt");
    assert_null(options.tls_certificate_file);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "g",
                           "--tls-ca", "ca.crt", "--tls-cert", "a.crt", "--tls-key", "a.key", NULL),
                     CLI_EXIT_OK);
    assert_string_equal(options.tls_private_key_file, "a.key");

    /* Not given: NULL, so that the library's defaults (the environment) apply. */
    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", NULL), CLI_EXIT_OK);
    assert_null(options.tls_ca_file);
    assert_null(options.tls_certificate_file);
    assert_null(options.tls_private_key_file);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--tls-ca", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--tls-ca needs a value (FILE)");

    struct cli_text text = {0};
    cli_help("", "", &text);
    assert_non_null(strstr(text.data, "--tls-ca FILE (or ETHER_TLS_CA_FILE)"));
    assert_non_null(strstr(text.data, "--tls-cert FILE and --tls-key FILE"));
    cli_text_free(&text);
    cli_help("topic", "create", &text);
    assert_non_null(strstr(text.data, "--tls-ca FILE"));
    assert_non_null(strstr(text.data, "--tls-cert FILE"));
    assert_non_null(strstr(text.data, "--tls-key FILE"));
    cli_text_free(&text);
}

static void test_group_commands_take_the_group_and_their_flags(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "group", "list", "--format", "json", NULL),
        CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_GROUP_LIST);
    assert_int_equal(options.output, CLI_OUTPUT_JSON);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "describe", "billing", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_GROUP_DESCRIBE);
    assert_string_equal(options.group, "billing");
    assert_null(options.topic);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "delete", "billing", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_GROUP_DELETE);
    assert_string_equal(options.group, "billing");

    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "billing",
                           "--topic", "orders", "--to-earliest", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_GROUP_RESET_OFFSETS);
    assert_string_equal(options.group, "billing");
    assert_string_equal(options.topic, "orders");
    assert_int_equal(options.reset, CLI_RESET_EARLIEST);
    /* A boolean flag does not swallow the next word. */
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "--to-latest",
                           "billing", "-t", "orders", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.reset, CLI_RESET_LATEST);
    assert_string_equal(options.group, "billing");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "billing",
                           "--topic=orders", "--to-offset", "42", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.reset, CLI_RESET_OFFSET);
    assert_int_equal(options.reset_value, 42);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "billing",
                           "--topic", "orders", "--to-datetime", "2026-11-27T10:00:00Z", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.reset, CLI_RESET_TIMESTAMP);
    assert_int_equal(options.reset_value, 1795773600000);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "billing",
                           "--topic", "orders", "--to-datetime", "1700000000000", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.reset_value, 1700000000000);
}

static void test_consume_with_a_group_takes_group_settings(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "orders", "--group",
                           "billing", "--from-beginning", "--count", "10", "--group-assignor",
                           "sticky", "--group-protocol", "cooperative", "--config",
                           "session_timeout_ms=6000", "-c", "auto_commit_interval_ms=100", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_CONSUME);
    assert_string_equal(options.topic, "orders");
    assert_string_equal(options.group, "billing");
    assert_int_equal(options.start, CLI_START_BEGINNING);
    assert_int_equal(options.record_count, 10);
    assert_string_equal(options.group_assignor, "sticky");
    assert_string_equal(options.group_protocol, "cooperative");
    assert_int_equal(options.setting_count, 2);
    assert_memory_equal(options.settings[0].name, "session_timeout_ms",
                        strlen("session_timeout_ms"));
    assert_int_equal(options.settings[0].name_bytes, strlen("session_timeout_ms"));
    assert_string_equal(options.settings[1].value, "100");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "orders", "-n", "3", NULL),
                     CLI_EXIT_OK);
    assert_null(options.group);
    assert_int_equal(options.record_count, 3);
}

static void test_bad_group_arguments_get_one_clear_sentence(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "describe", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether group describe\" needs GROUP");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", NULL), CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether group\" needs a subcommand; see \"ether group --help\"");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "g",
                           "--to-earliest", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether group reset-offsets\" needs --topic TOPIC");
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "g", "-t", "t", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether group reset-offsets\" needs --to-earliest, --to-latest, "
                                "--to-offset N or --to-datetime TIME");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "g", "-t",
                           "t", "--to-earliest", "--to-offset", "3", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "give only one of --to-earliest, --to-latest, --to-offset and "
                                "--to-datetime");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "g", "-t",
                           "t", "--to-offset", "-3", NULL),
                     CLI_EXIT_USAGE);
    assert_non_null(strstr(errstr, "--to-offset expects a whole number"));
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "reset-offsets", "g", "-t",
                           "t", "--to-datetime", "yesterday", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--to-datetime expects a time like 2026-11-27T10:00:00Z or "
                                "milliseconds since the epoch, not \"yesterday\"");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "group", "list", "--topic", "t", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether group list\" does not take --topic; see --help");

    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "g", "-p", "1", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--group reads the partitions the group assigns, from its "
                                "committed offsets: it does not take --partition");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "g",
                           "--offset", "5", NULL),
                     CLI_EXIT_USAGE);
    assert_non_null(strstr(errstr, "it does not take --offset"));
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "consume", "t", "--group-protocol", "eager", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--group-protocol needs --group GROUP");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "-c", "a=b", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--config needs --group GROUP");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "g",
                           "--group-assignor", "random", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr,
                        "--group-assignor expects range, roundrobin or sticky, not \"random\"");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "g",
                           "--group-protocol", "lazy", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--group-protocol expects eager or cooperative, not \"lazy\"");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--group expects a group name of 1 to 255 bytes");
}

static void test_times_parse_as_iso_8601_or_milliseconds(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_true(cli_parse_time_ms("2026-11-27T10:00:00Z", &ms));
    assert_int_equal(ms, 1795773600000);
    assert_true(cli_parse_time_ms("2026-11-27T10:00:00", &ms)); /* UTC without a zone */
    assert_int_equal(ms, 1795773600000);
    assert_true(cli_parse_time_ms("2026-11-27T10:00:00.250+01:00", &ms));
    assert_int_equal(ms, 1795770000250);
    assert_true(cli_parse_time_ms("2026-11-27T10:00:00-0530", &ms));
    assert_int_equal(ms, 1795793400000);
    assert_true(cli_parse_time_ms("2026-11-27 10:00Z", &ms));
    assert_int_equal(ms, 1795773600000);
    assert_true(cli_parse_time_ms("2024-02-29", &ms)); /* a leap day, midnight UTC */
    assert_int_equal(ms, 1709164800000);
    assert_true(cli_parse_time_ms("0", &ms));
    assert_int_equal(ms, 0);
    const char *bad[] = {"",
                         "yesterday",
                         "2026-13-01",
                         "2026-02-29",
                         "2026-11-27T25:00Z",
                         "2026-11-27T10:00:00Q",
                         "2026-1-27",
                         "-5",
                         "2026-11-27T10:00:00."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms = -7;
        assert_false(cli_parse_time_ms(bad[i], &ms));
        assert_int_equal(ms, -7);
    }
}

static void test_template_formats_every_escape(void **state)
{
    (void)state;
    struct cli_record record = {
        .topic = "orders",
        .partition = 4,
        .offset = 1234,
        .timestamp_ms = 1700000000123,
        .key = "k1",
        .key_bytes = 2,
        .value = "hello",
        .value_bytes = 5,
    };
    struct cli_text text = {0};
    char errstr[256];
    const char *template_text = "%T/%p@%o t=%t %k=%v%%\\t\\\\\\n";
    assert_int_equal(cli_template_check(template_text, errstr, sizeof errstr), CLI_EXIT_OK);
    cli_template_format(&text, template_text, &record);
    assert_string_equal(text.data, "orders/4@1234 t=1700000000123 k1=hello%\t\\\n");
    cli_text_free(&text);

    record.key = NULL;
    cli_template_format(&text, "[%k] %v", &record);
    assert_string_equal(text.data, "[] hello");
    cli_text_free(&text);

    assert_int_equal(cli_template_check("%", errstr, sizeof errstr), CLI_EXIT_USAGE);
    assert_int_equal(cli_template_check("\\q", errstr, sizeof errstr), CLI_EXIT_USAGE);
    assert_non_null(strstr(errstr, "\\q"));
}

static void test_json_output_escapes_bytes_and_nulls(void **state)
{
    (void)state;
    struct cli_text text = {0};
    cli_json_string(&text, "a\"b\\c\nd\x01", 8);
    assert_string_equal(text.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
    cli_text_free(&text);
    struct cli_record record = {.topic = "t",
                                .partition = 0,
                                .offset = 7,
                                .timestamp_ms = 9,
                                .value = "v",
                                .value_bytes = 1};
    cli_record_json(&text, &record);
    assert_string_equal(text.data, "{\"topic\":\"t\",\"partition\":0,\"offset\":7,\"timestamp_ms\":"
                                   "9,\"key\":null,\"value\":\"v\"}\n");
    cli_text_free(&text);
}

static void test_percentiles_use_the_nearest_rank(void **state)
{
    (void)state;
    uint64_t values[1000];
    for (int i = 0; i < 1000; i++) {
        values[i] = (uint64_t)i + 1;
    }
    assert_int_equal(cli_percentile(values, 1000, 50), 500);
    assert_int_equal(cli_percentile(values, 1000, 99), 990);
    assert_int_equal(cli_percentile(values, 1000, 99.9), 999);
    assert_int_equal(cli_percentile(values, 1000, 100), 1000);
    assert_int_equal(cli_percentile(values, 1, 99.9), 1);
    assert_int_equal(cli_percentile(values, 0, 50), 0);
}

/* ---- users and ACLs ------------------------------------------------------------------------ */

static void test_login_flags_are_global_and_never_required(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "--user", "alice", "--password-file",
                           "/run/secrets/alice", "topic", "list", "--tls-ca", "ca.crt", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_TOPIC_LIST);
    assert_string_equal(options.sasl_username, "alice");
    assert_string_equal(options.sasl_password_file, "/run/secrets/alice");
    assert_null(options.sasl_password);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "consume", "t", "--group", "g",
                           "--user=bob", "--password=b0b", NULL),
                     CLI_EXIT_OK);
    assert_string_equal(options.sasl_username, "bob");
    assert_string_equal(options.sasl_password, "b0b");
    assert_null(options.sasl_password_file);
    /* Not given: NULL, so that ETHER_SASL_USERNAME and ETHER_SASL_PASSWORD apply. */
    assert_int_equal(parse(&options, errstr, sizeof errstr, "bench", "consume", "t", NULL),
                     CLI_EXIT_OK);
    assert_null(options.sasl_username);
    assert_null(options.sasl_password);
    assert_null(options.sasl_password_file);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--password", "p",
                           "--password-file", "f", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "give only one of --password and --password-file");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--password-file", "f",
                           "--password", "p", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "give only one of --password and --password-file");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--user=", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--user expects a user name");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--password", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--password needs a value (PASSWORD)");
    /* The sentence names the flag, never the value given. */
    assert_int_equal(parse(&options, errstr, sizeof errstr, "topic", "list", "--password=", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--password expects a password");

    struct cli_text text = {0};
    cli_help("", "", &text);
    assert_non_null(strstr(text.data, "--user NAME (or ETHER_SASL_USERNAME)"));
    assert_non_null(strstr(text.data, "--password-file FILE"));
    assert_non_null(strstr(text.data, "--password PASSWORD (visible in ps)"));
    cli_text_free(&text);
    cli_help("topic", "list", &text);
    assert_non_null(strstr(text.data, "--user NAME"));
    assert_non_null(strstr(text.data, "visible to other users of this machine in ps"));
    cli_text_free(&text);
}

static void test_user_commands_take_the_name_and_the_new_users_password(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    /* In user create, --password is the new user's; the login's stays the library's default. */
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", "--password",
                           "c4rol", "--iterations", "8192", "--replace", "--user", "admin", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_USER_CREATE);
    assert_string_equal(options.user_name, "carol");
    assert_string_equal(options.user_password, "c4rol");
    assert_null(options.user_password_file);
    assert_null(options.sasl_password);
    assert_string_equal(options.sasl_username, "admin");
    assert_int_equal(options.iterations, 8192);
    assert_true(options.replace);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "dan",
                           "--password-file", "dan.pw", NULL),
                     CLI_EXIT_OK);
    assert_string_equal(options.user_password_file, "dan.pw");
    assert_null(options.sasl_password_file);
    assert_int_equal(options.iterations, 0);
    assert_false(options.replace);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "delete", "dan", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_USER_DELETE);
    assert_string_equal(options.user_name, "dan");
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "user", "list", "--format", "json", NULL),
        CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_USER_LIST);
    assert_int_equal(options.output, CLI_OUTPUT_JSON);

    struct cli_text text = {0};
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "--help", NULL), CLI_EXIT_OK);
    cli_help(options.help_group, options.help_topic, &text);
    assert_non_null(strstr(text.data, "user create"));
    assert_non_null(strstr(text.data, "user delete"));
    assert_non_null(strstr(text.data, "user list"));
    cli_text_free(&text);
    cli_help("user", "create", &text);
    assert_non_null(strstr(text.data, "Usage: ether user create NAME"));
    assert_non_null(strstr(text.data, "--iterations N"));
    assert_non_null(strstr(text.data, "--replace"));
    assert_non_null(strstr(text.data, "the new user's password"));
    cli_text_free(&text);
}

static void test_bad_user_arguments_get_one_clear_sentence(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether user create\" needs the new user's password: --password "
                                "PASSWORD or --password-file FILE");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether user create\" needs NAME");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", "--password",
                           "x", "--password-file", "f", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "give only one of --password and --password-file");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", "--password",
                           "x", "--iterations", "4095", NULL),
                     CLI_EXIT_USAGE);
    char expected[256];
    snprintf(expected, sizeof expected,
             "--iterations expects a whole number from %d to %d, not \"4095\"",
             ETHER_SCRAM_ITERATIONS_MIN, ETHER_SCRAM_ITERATIONS_CREATE_MAX);
    assert_string_equal(errstr, expected);
    /* The bound a broker hashes a new password with on its event loop, not scram.h's login
     * bound (ETHER_SCRAM_ITERATIONS_MAX). */
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", "--password",
                           "x", "--iterations", "100001", NULL),
                     CLI_EXIT_USAGE);
    assert_non_null(strstr(errstr, "not \"100001\""));
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", "--password",
                           "x", "--iterations", "100000", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.iterations, ETHER_SCRAM_ITERATIONS_CREATE_MAX);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "create", "carol", "--password",
                           "x", "--replace=yes", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "--replace takes no value");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "delete", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether user delete\" needs NAME");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "delete", "a", "b", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "unexpected argument \"b\"");
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "user", "delete", "a", "--replace", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether user delete\" does not take --replace; see --help");
    assert_int_equal(
        parse(&options, errstr, sizeof errstr, "user", "list", "--iterations", "5000", NULL),
        CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether user list\" does not take --iterations; see --help");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", "rename", NULL),
                     CLI_EXIT_USAGE);
    assert_string_equal(errstr, "unknown command \"ether user rename\"; see \"ether user --help\"");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "user", NULL), CLI_EXIT_USAGE);
    assert_string_equal(errstr, "\"ether user\" needs a subcommand; see \"ether user --help\"");
}

static void test_acl_create_makes_one_binding_per_operation(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "create", "--principal", "alice",
                           "--allow", "--operation", "read,Describe", "--topic", "orders", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_ACL_CREATE);
    assert_string_equal(options.acl_principal, "alice");
    assert_int_equal(options.acl_permission, ETHER_ACL_PERMISSION_ALLOW);
    assert_int_equal(options.acl_operation_count, 2);
    assert_int_equal(options.acl_operations[0], ETHER_ACL_OPERATION_READ);
    assert_int_equal(options.acl_operations[1], ETHER_ACL_OPERATION_DESCRIBE);
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_TOPIC);
    assert_string_equal(options.acl_resource_name, "orders");
    assert_false(options.acl_prefixed);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "delete", "--principal=*",
                           "--deny", "--operation=all", "-g", "billing-", "--prefixed", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_ACL_DELETE);
    assert_string_equal(options.acl_principal, "*");
    assert_int_equal(options.acl_permission, ETHER_ACL_PERMISSION_DENY);
    assert_int_equal(options.acl_operation_count, 1);
    assert_int_equal(options.acl_operations[0], ETHER_ACL_OPERATION_ALL);
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_GROUP);
    assert_string_equal(options.acl_resource_name, "billing-");
    assert_true(options.acl_prefixed);

    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "create", "--cluster",
                           "--principal", "ops", "--operation",
                           "read,write,create,delete,describe,alter,all", "--allow", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_CLUSTER);
    assert_null(options.acl_resource_name);
    assert_int_equal(options.acl_operation_count, 7);
    assert_int_equal(options.acl_operations[6], ETHER_ACL_OPERATION_ALL);

    struct cli_text text = {0};
    cli_help("acl", "create", &text);
    assert_non_null(strstr(text.data, "Usage: ether acl create [flags]"));
    assert_non_null(strstr(text.data, "--operation OP[,OP...]"));
    assert_non_null(strstr(text.data, "the binding is about this topic (* for every topic)"));
    assert_non_null(strstr(text.data, "--prefixed"));
    cli_text_free(&text);
}

static void test_acl_list_filters_are_optional(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "list", NULL), CLI_EXIT_OK);
    assert_int_equal(options.verb, CLI_ACL_LIST);
    assert_null(options.acl_principal);
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_ANY);
    assert_null(options.acl_resource_name);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "list", "--principal", "bob",
                           "--topic", "orders", NULL),
                     CLI_EXIT_OK);
    assert_string_equal(options.acl_principal, "bob");
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_TOPIC);
    assert_string_equal(options.acl_resource_name, "orders");
    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "list", "--cluster", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_CLUSTER);
    assert_int_equal(parse(&options, errstr, sizeof errstr, "acl", "list", "--group", "g", NULL),
                     CLI_EXIT_OK);
    assert_int_equal(options.acl_resource_type, ETHER_ACL_RESOURCE_GROUP);
    assert_string_equal(options.acl_resource_name, "g");
}

static void test_bad_acl_arguments_get_one_clear_sentence(void **state)
{
    (void)state;
    struct cli_options options;
    char errstr[256];
    struct {
        const char *words[12];
        const char *sentence;
    } cases[] = {
        {{"acl", "create", "--allow", "--operation", "read", "--topic", "t"},
         "\"ether acl create\" needs --principal PRINCIPAL (a user name, or * for everyone)"},
        {{"acl", "delete", "--principal", "a", "--operation", "read", "--topic", "t"},
         "\"ether acl delete\" needs --allow or --deny"},
        {{"acl", "create", "--principal", "a", "--allow", "--deny", "--operation", "read",
          "--topic", "t"},
         "give only one of --allow and --deny"},
        {{"acl", "create", "--principal", "a", "--allow", "--topic", "t"},
         "\"ether acl create\" needs --operation OP[,OP...] (read, write, create, delete, "
         "describe, alter or all)"},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read"},
         "\"ether acl create\" needs --topic NAME, --group NAME or --cluster"},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read", "--topic", "t",
          "--cluster"},
         "give only one of --topic, --group and --cluster"},
        {{"acl", "list", "--topic", "t", "--group", "g"},
         "give only one of --topic, --group and --cluster"},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read", "--cluster",
          "--prefixed"},
         "--prefixed needs --topic or --group: the cluster has no name"},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read,steal", "--topic",
          "t"},
         "--operation expects OP[,OP...] with OP read, write, create, delete, describe, alter or "
         "all, not \"steal\""},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read,", "--topic", "t"},
         "--operation expects OP[,OP...] with OP read, write, create, delete, describe, alter or "
         "all, not \"\""},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "write,read,write",
          "--topic", "t"},
         "--operation names write twice"},
        {{"acl", "create", "--principal=", "--allow", "--operation", "read", "--topic", "t"},
         "--principal expects a user name, or * for everyone"},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read", "--topic="},
         "--topic expects a topic name (or * for every topic)"},
        {{"acl", "create", "--principal", "a", "--allow", "--operation", "read", "--group="},
         "--group expects a group name of 1 to 255 bytes"},
        {{"acl", "list", "--allow"}, "\"ether acl list\" does not take --allow; see --help"},
        {{"acl", "list", "--operation", "read"},
         "\"ether acl list\" does not take --operation; see --help"},
        {{"acl", "list", "--prefixed"}, "\"ether acl list\" does not take --prefixed; see --help"},
        {{"acl", "create", "orders"}, "unexpected argument \"orders\""},
        {{"topic", "list", "--principal", "a"},
         "\"ether topic list\" does not take --principal; see --help"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *argv[16] = {"ether"};
        int argc = 1;
        for (size_t w = 0; w < 12 && cases[c].words[w] != NULL; w++) {
            argv[argc++] = (char *)(uintptr_t)cases[c].words[w];
        }
        errstr[0] = '\0';
        assert_int_equal(cli_parse(argc, argv, &options, errstr, sizeof errstr), CLI_EXIT_USAGE);
        assert_string_equal(errstr, cases[c].sentence);
    }
}

static void test_users_and_acls_print_as_tables_and_json(void **state)
{
    (void)state;
    const struct ether_user users[] = {
        {"alice", "SCRAM-SHA-256", 4096},
        {"b\"ob", "SCRAM-SHA-256", 8192},
    };
    struct cli_text out = {0};
    cli_users_format(&out, users, 2, CLI_OUTPUT_JSON);
    assert_string_equal(out.data,
                        "[{\"name\":\"alice\",\"mechanism\":\"SCRAM-SHA-256\",\"iterations\":4096},"
                        "{\"name\":\"b\\\"ob\",\"mechanism\":\"SCRAM-SHA-256\",\"iterations\":"
                        "8192}]\n");
    cli_text_free(&out);
    cli_users_format(&out, users, 2, CLI_OUTPUT_TEXT);
    assert_non_null(strstr(out.data, "USER"));
    assert_non_null(strstr(out.data, "alice"));
    assert_non_null(strstr(out.data, "8192"));
    cli_text_free(&out);
    cli_users_format(&out, NULL, 0, CLI_OUTPUT_TEXT);
    assert_non_null(strstr(out.data, "(no users)"));
    cli_text_free(&out);
    cli_users_format(&out, NULL, 0, CLI_OUTPUT_JSON);
    assert_string_equal(out.data, "[]\n");
    cli_text_free(&out);

    const struct ether_acl acls[] = {
        {"alice", ETHER_ACL_RESOURCE_TOPIC, "orders", ETHER_ACL_PATTERN_LITERAL,
         ETHER_ACL_OPERATION_READ, ETHER_ACL_PERMISSION_ALLOW},
        {"*", ETHER_ACL_RESOURCE_GROUP, "tmp-", ETHER_ACL_PATTERN_PREFIXED,
         ETHER_ACL_OPERATION_DELETE, ETHER_ACL_PERMISSION_DENY},
        {"ops", ETHER_ACL_RESOURCE_CLUSTER, "", ETHER_ACL_PATTERN_LITERAL,
         ETHER_ACL_OPERATION_ALTER, ETHER_ACL_PERMISSION_ALLOW},
        {"x", (enum ether_acl_resource_type)9, "?", (enum ether_acl_pattern)5,
         (enum ether_acl_operation)42, (enum ether_acl_permission)7},
    };
    cli_acls_format(&out, acls, 4, CLI_OUTPUT_JSON);
    assert_string_equal(
        out.data,
        "[{\"principal\":\"alice\",\"permission\":\"allow\",\"operation\":\"read\","
        "\"resource_type\":\"topic\",\"resource_name\":\"orders\",\"pattern\":\"literal\"},"
        "{\"principal\":\"*\",\"permission\":\"deny\",\"operation\":\"delete\","
        "\"resource_type\":\"group\",\"resource_name\":\"tmp-\",\"pattern\":\"prefixed\"},"
        "{\"principal\":\"ops\",\"permission\":\"allow\",\"operation\":\"alter\","
        "\"resource_type\":\"cluster\",\"resource_name\":\"\",\"pattern\":\"literal\"},"
        "{\"principal\":\"x\",\"permission\":\"unknown\",\"operation\":\"unknown\","
        "\"resource_type\":\"unknown\",\"resource_name\":\"?\",\"pattern\":\"unknown\"}]\n");
    cli_text_free(&out);
    cli_acls_format(&out, acls, 3, CLI_OUTPUT_TEXT);
    assert_non_null(strstr(out.data, "PRINCIPAL"));
    assert_non_null(strstr(out.data, "prefixed"));
    assert_non_null(strstr(out.data, "cluster"));
    cli_text_free(&out);
    cli_acls_format(&out, NULL, 0, CLI_OUTPUT_TEXT);
    assert_non_null(strstr(out.data, "(no ACL bindings)"));
    cli_text_free(&out);

    const char *described[] = {
        "allow alice read on topic orders",
        "deny * delete on groups prefixed tmp-",
        "allow ops alter on the cluster",
    };
    for (size_t i = 0; i < 3; i++) {
        cli_acl_describe(&out, &acls[i]);
        assert_string_equal(out.data, described[i]);
        cli_text_free(&out);
    }
    struct ether_acl every = acls[0];
    every.resource_name = "*";
    cli_acl_describe(&out, &every);
    assert_string_equal(out.data, "allow alice read on every topic");
    cli_text_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_create_reads_partitions_replicas_and_settings),
        cmocka_unit_test(test_global_flags_may_come_before_the_command),
        cmocka_unit_test(test_short_p_means_partition_for_consume),
        cmocka_unit_test(test_transfer_leader_splits_topic_and_partition),
        cmocka_unit_test(test_bench_and_health_flags),
        cmocka_unit_test(test_bad_arguments_get_one_clear_sentence),
        cmocka_unit_test(test_help_exists_on_every_level),
        cmocka_unit_test(test_tls_flags_are_global_and_shown_in_help),
        cmocka_unit_test(test_group_commands_take_the_group_and_their_flags),
        cmocka_unit_test(test_consume_with_a_group_takes_group_settings),
        cmocka_unit_test(test_bad_group_arguments_get_one_clear_sentence),
        cmocka_unit_test(test_times_parse_as_iso_8601_or_milliseconds),
        cmocka_unit_test(test_template_formats_every_escape),
        cmocka_unit_test(test_json_output_escapes_bytes_and_nulls),
        cmocka_unit_test(test_percentiles_use_the_nearest_rank),
        cmocka_unit_test(test_login_flags_are_global_and_never_required),
        cmocka_unit_test(test_user_commands_take_the_name_and_the_new_users_password),
        cmocka_unit_test(test_bad_user_arguments_get_one_clear_sentence),
        cmocka_unit_test(test_acl_create_makes_one_binding_per_operation),
        cmocka_unit_test(test_acl_list_filters_are_optional),
        cmocka_unit_test(test_bad_acl_arguments_get_one_clear_sentence),
        cmocka_unit_test(test_users_and_acls_print_as_tables_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
