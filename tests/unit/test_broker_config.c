/* Unit tests for broker/config: defaults, config file, environment and flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/config.h"
#include "common/error.h"
#include "common/log.h"

static char *no_environment[] = {NULL};

static void test_defaults_run_broker_one_of_a_local_three_broker_cluster(void **state)
{
    (void)state;
    char *argv[] = {"etherd", NULL};
    struct broker_config config;
    char errbuf[256];
    assert_int_equal(broker_config_load(&config, 1, argv, no_environment, errbuf, sizeof errbuf),
                     ETHER_OK);
    assert_int_equal(config.broker_id, 1);
    assert_int_equal(config.client_port, 9092);
    assert_int_equal(config.seeds_count, 3);
    assert_int_equal(config.seeds[2].broker_id, 3);
    assert_string_equal(config.seeds[2].host, "127.0.0.1");
    assert_int_equal(config.seeds[2].port, 9094);
    assert_int_equal(config.log_level, ETHER_LOG_INFO);
    broker_config_free(&config);
}

static void test_flags_override_environment_which_overrides_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ether-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# local broker two\n"
                       "broker-id = 2\n"
                       "client-port = 9093\n"
                       "\n"
                       "data-dir = /tmp/from-file\n"
                       "log-level = debug\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    char config_argument[64];
    snprintf(config_argument, sizeof config_argument, "--config=%s", path);
    char *argv[] = {"etherd", config_argument, "--client-port", "9099", NULL};
    char *environment[] = {"ETHER_DATA_DIR=/tmp/from-env", "ETHER_CLIENT_PORT=9098", "UNRELATED=1",
                           NULL};
    struct broker_config config;
    char errbuf[256];
    assert_int_equal(broker_config_load(&config, 4, argv, environment, errbuf, sizeof errbuf),
                     ETHER_OK);
    assert_int_equal(config.broker_id, 2);                 /* file */
    assert_int_equal(config.log_level, ETHER_LOG_DEBUG);   /* file */
    assert_string_equal(config.data_dir, "/tmp/from-env"); /* environment over file */
    assert_int_equal(config.client_port, 9099);            /* flag over environment */
    broker_config_free(&config);
    unlink(path);
}

static void test_bad_values_are_refused_with_a_sentence_naming_the_option(void **state)
{
    (void)state;
    struct broker_config config;
    char errbuf[256];

    char *bad_port[] = {"etherd", "--client-port", "70000", NULL};
    assert_int_equal(
        broker_config_load(&config, 3, bad_port, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "client-port"));
    assert_non_null(strstr(errbuf, "70000"));

    char *unknown[] = {"etherd", "--colour", "blue", NULL};
    assert_int_equal(broker_config_load(&config, 3, unknown, no_environment, errbuf, sizeof errbuf),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "--colour"));

    char *missing_value[] = {"etherd", "--broker-id", NULL};
    assert_int_equal(
        broker_config_load(&config, 2, missing_value, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);

    char *negative[] = {"etherd", "--broker-id=-3", NULL};
    assert_int_equal(
        broker_config_load(&config, 2, negative, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);

    char *heartbeat_too_slow[] = {"etherd", "--heartbeat-ticks", "30", NULL};
    assert_int_equal(
        broker_config_load(&config, 3, heartbeat_too_slow, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "heartbeat-ticks"));

    char *environment[] = {"ETHER_LOG_LEVEL=loud", NULL};
    char *argv[] = {"etherd", NULL};
    assert_int_equal(broker_config_load(&config, 1, argv, environment, errbuf, sizeof errbuf),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "ETHER_LOG_LEVEL"));

    char *missing_file[] = {"etherd", "--config", "/nonexistent/ether.conf", NULL};
    assert_int_equal(
        broker_config_load(&config, 3, missing_file, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_NOT_FOUND);
}

static void test_seed_lists_are_parsed_strictly(void **state)
{
    (void)state;
    struct broker_seed seeds[4];
    size_t count = 0;
    assert_int_equal(broker_config_parse_seeds("7@ether-1:9092,8@[::1]:9093", seeds, 4, &count),
                     ETHER_OK);
    assert_int_equal(count, 2);
    assert_int_equal(seeds[1].broker_id, 8);
    assert_string_equal(seeds[1].host, "[::1]");
    assert_int_equal(seeds[1].port, 9093);

    const char *bad[] = {"",
                         "host:9092",
                         "1@host",
                         "1@:9092",
                         "0@h:1",
                         "1@h:0",
                         "1@h:1,1@g:2",
                         "1@h:1,,2@g:2",
                         "1@h:1,2@h:2,3@h:3,4@h:4,5@h:5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(broker_config_parse_seeds(bad[i], seeds, 4, &count),
                         ETHER_ERR_INVALID_ARGUMENT);
    }
}

static void test_security_options(void **state)
{
    (void)state;
    struct broker_config config;
    char errbuf[256];

    char *defaults[] = {"etherd", NULL};
    assert_int_equal(
        broker_config_load(&config, 1, defaults, no_environment, errbuf, sizeof errbuf), ETHER_OK);
    assert_int_equal(broker_config_client_auth(&config), BROKER_CLIENT_AUTH_REQUIRED);
    assert_false(config.authorization);
    assert_string_equal(config.super_users, "");
    assert_string_equal(config.tls_principal_rule, "");
    broker_config_free(&config);

    char *requested[] = {"etherd",        "--tls-client-auth", "requested",
                         "--super-users", "admin,ops",         NULL};
    assert_int_equal(
        broker_config_load(&config, 5, requested, no_environment, errbuf, sizeof errbuf), ETHER_OK);
    assert_int_equal(broker_config_client_auth(&config), BROKER_CLIENT_AUTH_REQUESTED);
    assert_string_equal(config.super_users, "admin,ops");
    broker_config_free(&config);

    /* ACLs mean nothing where any client can send Raft messages as a broker. */
    char *authorization_in_clear[] = {"etherd", "--authorization", "true", NULL};
    assert_int_equal(broker_config_load(&config, 3, authorization_in_clear, no_environment, errbuf,
                                        sizeof errbuf),
                     ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "authorization needs TLS"));

    /* A rack must fit the controller's limit (and the brokers' Raft frames that carry it). */
    char *spaced_rack[] = {"etherd", "--rack", "rack one", NULL};
    assert_int_equal(
        broker_config_load(&config, 3, spaced_rack, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "rack"));
    char long_rack[80];
    memset(long_rack, 'r', 65);
    long_rack[65] = '\0';
    char *too_long_rack[] = {"etherd", "--rack", long_rack, NULL};
    assert_int_equal(
        broker_config_load(&config, 3, too_long_rack, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);
    long_rack[64] = '\0';
    assert_int_equal(
        broker_config_load(&config, 3, too_long_rack, no_environment, errbuf, sizeof errbuf),
        ETHER_OK);
    broker_config_free(&config);

    char *unknown_mode[] = {"etherd", "--tls-client-auth", "optional", NULL};
    assert_int_equal(
        broker_config_load(&config, 3, unknown_mode, no_environment, errbuf, sizeof errbuf),
        ETHER_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(errbuf, "tls-client-auth"));
    assert_non_null(strstr(errbuf, "optional"));
}

static void test_help_flag_is_recognised(void **state)
{
    (void)state;
    char *argv[] = {"etherd", "--broker-id", "2", "--help", NULL};
    assert_true(broker_config_wants_help(4, argv));
    char *plain[] = {"etherd", NULL};
    assert_false(broker_config_wants_help(1, plain));
    FILE *sink = fopen("/dev/null", "w");
    broker_config_print_help(sink, "etherd");
    fclose(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_run_broker_one_of_a_local_three_broker_cluster),
        cmocka_unit_test(test_flags_override_environment_which_overrides_file),
        cmocka_unit_test(test_bad_values_are_refused_with_a_sentence_naming_the_option),
        cmocka_unit_test(test_seed_lists_are_parsed_strictly),
        cmocka_unit_test(test_security_options),
        cmocka_unit_test(test_help_flag_is_recognised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
