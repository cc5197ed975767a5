/*
 * cli_args.c: the command line of `ether`, parsed into struct cli_options.
 *
 * Two passes: the first separates words (the command, its argument) from
 * flags, so that flags may come anywhere ("ether --brokers h:1 topic list");
 * the second finds the command from the words and reads every flag,
 * refusing flags the command does not take. Short flags mean what the
 * command says (-p is --partitions for topic create, --partition elsewhere).
 */
#include "client/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/scram.h"

enum flag_id {
    F_BROKERS,
    F_FORMAT,
    F_TIMEOUT,
    F_HELP,
    F_PARTITIONS,
    F_REPLICAS,
    F_CONFIG,
    F_SET,
    F_DELETE,
    F_KEY,
    F_ACKS,
    F_PARTITION,
    F_FROM_BEGINNING,
    F_OFFSET,
    F_FOLLOW,
    F_TO,
    F_WATCH,
    F_EXIT_WHEN_HEALTHY,
    F_RECORD_SIZE,
    F_COUNT,
    F_DURATION,
    F_PRODUCERS,
    F_BATCH_BYTES,
    F_LINGER_MS,
    F_THROUGHPUT,
    F_IDEMPOTENCE,
    F_GROUP,
    F_GROUP_ASSIGNOR,
    F_GROUP_PROTOCOL,
    F_TOPIC,
    F_TO_EARLIEST,
    F_TO_LATEST,
    F_TO_OFFSET,
    F_TO_DATETIME,
    F_TLS_CA,
    F_TLS_CERT,
    F_TLS_KEY,
    F_USER,
    F_PASSWORD,
    F_PASSWORD_FILE,
    F_ITERATIONS,
    F_REPLACE,
    F_PRINCIPAL,
    F_ALLOW,
    F_DENY,
    F_OPERATION,
    F_CLUSTER,
    F_PREFIXED,
    F_COUNT_OF_FLAGS,
};

struct flag {
    const char *long_name;
    char short_name;
    bool takes_value;
    const char *value_name;
    const char *help;
};

static const struct flag flags[F_COUNT_OF_FLAGS] = {
    [F_BROKERS] = {"brokers", 0, true, "HOST:PORT,...",
                   "brokers to bootstrap from (default: $ETHER_BROKERS, else "
                   "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094)"},
    [F_FORMAT] = {"format", 0, true, "text|json", "output format"},
    [F_TIMEOUT] = {"timeout", 0, true, "MS", "how long to wait for the cluster (10000)"},
    [F_HELP] = {"help", 'h', false, NULL, "show this help"},
    [F_PARTITIONS] = {"partitions", 'p', true, "N", "number of partitions (1)"},
    [F_REPLICAS] = {"replicas", 'r', true, "N", "replication factor (3)"},
    [F_CONFIG] = {"config", 'c', true, "KEY=VALUE", "a topic setting; repeatable"},
    [F_SET] = {"set", 0, true, "KEY=VALUE", "set a topic setting; repeatable"},
    [F_DELETE] = {"delete", 0, true, "KEY", "remove a topic setting; repeatable"},
    [F_KEY] = {"key", 'k', true, "KEY", "the key of every record (default: none)"},
    [F_ACKS] = {"acks", 0, true, "0|1|all", "acknowledgements to wait for (all)"},
    [F_PARTITION] = {"partition", 'p', true, "P", "only this partition"},
    [F_FROM_BEGINNING] = {"from-beginning", 0, false, NULL,
                          "start at the first stored record (default: the end)"},
    [F_OFFSET] = {"offset", 'o', true, "N|start|end|@MS",
                  "start at an offset, the start, the end or the first record at or after a "
                  "timestamp (ms since the epoch)"},
    [F_FOLLOW] = {"follow", 'f', false, NULL,
                  "keep waiting for new records (default: stop at the end)"},
    [F_TO] = {"to", 0, true, "BROKER", "the broker id that should lead"},
    [F_WATCH] = {"watch", 'w', false, NULL, "check again every second"},
    [F_EXIT_WHEN_HEALTHY] = {"exit-when-healthy", 'e', false, NULL,
                             "wait until the cluster is healthy, then exit 0"},
    [F_RECORD_SIZE] = {"record-size", 's', true, "BYTES", "value bytes per record (100)"},
    [F_COUNT] = {"count", 'n', true, "N", "records in total (default: run for --duration)"},
    [F_DURATION] = {"duration", 'd', true, "SECONDS", "how long to run (10)"},
    [F_PRODUCERS] = {"producers", 0, true, "N", "producer clients, one thread each (1)"},
    [F_BATCH_BYTES] = {"batch-bytes", 0, true, "BYTES", "batch size (65536)"},
    [F_LINGER_MS] = {"linger-ms", 0, true, "MS", "batching delay (5)"},
    [F_THROUGHPUT] = {"throughput", 0, true, "RECORDS/S",
                      "records per second per producer (default: as fast as possible); "
                      "latency figures mean most below saturation"},
    [F_IDEMPOTENCE] = {"idempotence", 0, true, "on|off",
                       "idempotent producer: sequence-numbered batches, up to 5 in flight per "
                       "partition (default: on with acks=all)"},
    [F_GROUP] = {"group", 'g', true, "GROUP",
                 "read as a member of this consumer group: the partitions it assigns, from its "
                 "committed offsets; commits what was printed; runs until --count or "
                 "SIGINT/SIGTERM, then commits and leaves the group"},
    [F_GROUP_ASSIGNOR] = {"group-assignor", 0, true, "range|roundrobin|sticky",
                          "how the group shares partitions (range)"},
    [F_GROUP_PROTOCOL] = {"group-protocol", 0, true, "eager|cooperative",
                          "eager: give up every partition on a rebalance; cooperative: only "
                          "those that move (eager)"},
    [F_TOPIC] = {"topic", 't', true, "TOPIC", "the topic whose offsets to reset"},
    [F_TO_EARLIEST] = {"to-earliest", 0, false, NULL, "to each partition's first stored record"},
    [F_TO_LATEST] = {"to-latest", 0, false, NULL, "to each partition's end (skip everything)"},
    [F_TO_OFFSET] = {"to-offset", 0, true, "N",
                     "to offset N (kept within each partition's stored records)"},
    [F_TO_DATETIME] = {"to-datetime", 0, true, "TIME",
                       "to the first record at or after TIME: 2026-11-27T10:00:00Z (UTC unless "
                       "a zone like +01:00 is given) or ms since the epoch"},
    [F_TLS_CA] = {"tls-ca", 0, true, "FILE",
                  "connect over TLS, trusting the brokers' certificates signed by the CA "
                  "certificates in this PEM file (default: $ETHER_TLS_CA_FILE; none: in clear)"},
    [F_TLS_CERT] = {"tls-cert", 0, true, "FILE",
                    "with --tls-ca: the client certificate (PEM) for brokers that require one "
                    "(default: $ETHER_TLS_CERTIFICATE_FILE)"},
    [F_TLS_KEY] = {"tls-key", 0, true, "FILE",
                   "the private key of --tls-cert (unencrypted PEM; default: "
                   "$ETHER_TLS_PRIVATE_KEY_FILE)"},
    [F_USER] = {"user", 0, true, "NAME",
                "log in as this user with SCRAM-SHA-256 (needs --tls-ca; default: "
                "$ETHER_SASL_USERNAME)"},
    [F_PASSWORD] = {"password", 0, true, "PASSWORD",
                    "the password of --user; visible to other users of this machine in ps: "
                    "prefer --password-file or $ETHER_SASL_PASSWORD (read when neither is "
                    "given)"},
    [F_PASSWORD_FILE] = {"password-file", 0, true, "FILE",
                         "read the password of --user from the first line of FILE"},
    [F_ITERATIONS] = {"iterations", 0, true, "N",
                      "PBKDF2 iterations of the user's SCRAM credential, 4096 to 100000 "
                      "(default: the broker's, 4096)"},
    [F_REPLACE] = {"replace", 0, false, NULL,
                   "change the password of a user that exists (default: refuse)"},
    [F_PRINCIPAL] = {"principal", 0, true, "PRINCIPAL",
                     "the user (or certificate principal) the binding is for; * for everyone"},
    [F_ALLOW] = {"allow", 0, false, NULL, "the binding allows the operations"},
    [F_DENY] = {"deny", 0, false, NULL,
                "the binding denies the operations (a deny wins over any allow)"},
    [F_OPERATION] = {"operation", 0, true, "OP[,OP...]",
                     "read, write, create, delete, describe, alter or all; one binding each"},
    [F_CLUSTER] = {"cluster", 0, false, NULL, "the binding is about the cluster itself"},
    [F_PREFIXED] = {"prefixed", 0, false, NULL,
                    "the --topic or --group NAME is a prefix: every name that starts with it"},
};

#define BIT(flag) (UINT64_C(1) << (flag))
#define GLOBAL_FLAGS                                                                 \
    (BIT(F_BROKERS) | BIT(F_FORMAT) | BIT(F_TIMEOUT) | BIT(F_HELP) | BIT(F_TLS_CA) | \
     BIT(F_TLS_CERT) | BIT(F_TLS_KEY) | BIT(F_USER) | BIT(F_PASSWORD) | BIT(F_PASSWORD_FILE))
#define ACL_BINDING_FLAGS                                                              \
    (BIT(F_PRINCIPAL) | BIT(F_ALLOW) | BIT(F_DENY) | BIT(F_OPERATION) | BIT(F_TOPIC) | \
     BIT(F_GROUP) | BIT(F_CLUSTER) | BIT(F_PREFIXED))
_Static_assert(F_COUNT_OF_FLAGS <= 64, "flag sets are 64-bit masks");

struct command {
    const char *group; /* NULL for top-level commands */
    const char *name;
    enum cli_verb verb;
    const char *argument; /* the one positional argument, or NULL */
    uint64_t flag_set;
    const char *summary;
};

static const struct command commands[] = {
    {"cluster", "status", CLI_CLUSTER_STATUS, NULL, 0,
     "show the cluster: id, controller, brokers, topics"},
    {"cluster", "health", CLI_CLUSTER_HEALTH, NULL, BIT(F_WATCH) | BIT(F_EXIT_WHEN_HEALTHY),
     "check that every broker answers, every partition has a leader and there is a "
     "controller; exit status 3 when not"},
    {"broker", "list", CLI_BROKER_LIST, NULL, 0, "list the brokers"},
    {"topic", "create", CLI_TOPIC_CREATE, "NAME",
     BIT(F_PARTITIONS) | BIT(F_REPLICAS) | BIT(F_CONFIG), "create a topic"},
    {"topic", "list", CLI_TOPIC_LIST, NULL, 0,
     "list the topics (not Ether's internal ones, like __consumer_offsets)"},
    {"topic", "describe", CLI_TOPIC_DESCRIBE, "NAME", 0,
     "show a topic's settings and, per partition, leader, replicas and high watermark"},
    {"topic", "delete", CLI_TOPIC_DELETE, "NAME", 0, "delete a topic and its records"},
    {"topic", "alter-config", CLI_TOPIC_ALTER_CONFIG, "NAME", BIT(F_SET) | BIT(F_DELETE),
     "change a topic's settings"},
    {"topic", "describe-producers", CLI_TOPIC_DESCRIBE_PRODUCERS, "TOPIC/PARTITION", 0,
     "show the idempotent producers a partition's leader knows: id, epoch, last sequence, "
     "last offset, last timestamp"},
    {"partition", "transfer-leader", CLI_PARTITION_TRANSFER_LEADER, "TOPIC/PARTITION", BIT(F_TO),
     "move a partition's leadership to another replica"},
    {NULL, "produce", CLI_PRODUCE, "TOPIC", BIT(F_KEY) | BIT(F_ACKS) | BIT(F_PARTITION),
     "produce one record per line of standard input"},
    {NULL, "consume", CLI_CONSUME, "TOPIC",
     BIT(F_PARTITION) | BIT(F_FROM_BEGINNING) | BIT(F_OFFSET) | BIT(F_FOLLOW) | BIT(F_COUNT) |
         BIT(F_GROUP) | BIT(F_GROUP_ASSIGNOR) | BIT(F_GROUP_PROTOCOL) | BIT(F_CONFIG),
     "print records; --format json or a template: %k key, %v value, %p partition, %o offset, "
     "%t timestamp, %T topic, \\n newline (default \"%v\\n\")"},
    {"bench", "produce", CLI_BENCH_PRODUCE, "TOPIC",
     BIT(F_RECORD_SIZE) | BIT(F_COUNT) | BIT(F_DURATION) | BIT(F_ACKS) | BIT(F_PRODUCERS) |
         BIT(F_BATCH_BYTES) | BIT(F_LINGER_MS) | BIT(F_THROUGHPUT) | BIT(F_IDEMPOTENCE),
     "measure produce throughput and latency"},
    {"bench", "consume", CLI_BENCH_CONSUME, "TOPIC", BIT(F_COUNT) | BIT(F_DURATION),
     "measure consume throughput from the beginning of a topic"},
    {"group", "list", CLI_GROUP_LIST, NULL, 0,
     "list the consumer groups: state, members, coordinator"},
    {"group", "describe", CLI_GROUP_DESCRIBE, "GROUP", 0,
     "show a consumer group: its members and, per partition, committed offset, end offset, lag "
     "and owner"},
    {"group", "reset-offsets", CLI_GROUP_RESET_OFFSETS, "GROUP",
     BIT(F_TOPIC) | BIT(F_TO_EARLIEST) | BIT(F_TO_LATEST) | BIT(F_TO_OFFSET) | BIT(F_TO_DATETIME),
     "move a consumer group's committed offsets of a topic (only while the group has no "
     "members)"},
    {"group", "delete", CLI_GROUP_DELETE, "GROUP", 0,
     "delete a consumer group without members, and its committed offsets"},
    {"user", "create", CLI_USER_CREATE, "NAME", BIT(F_ITERATIONS) | BIT(F_REPLACE),
     "create a user who logs in with SCRAM-SHA-256 (here --password and --password-file give "
     "the new user's password)"},
    {"user", "delete", CLI_USER_DELETE, "NAME", 0, "delete a user"},
    {"user", "list", CLI_USER_LIST, NULL, 0, "list the users: name, mechanism, iterations"},
    {"acl", "create", CLI_ACL_CREATE, NULL, ACL_BINDING_FLAGS,
     "allow or deny a principal operations on a topic, a group or the cluster (one binding per "
     "operation)"},
    {"acl", "delete", CLI_ACL_DELETE, NULL, ACL_BINDING_FLAGS,
     "remove the bindings equal to the ones acl create would make"},
    {"acl", "list", CLI_ACL_LIST, NULL,
     BIT(F_PRINCIPAL) | BIT(F_TOPIC) | BIT(F_GROUP) | BIT(F_CLUSTER),
     "list the ACL bindings, or those of a principal and/or a resource"},
    {NULL, "version", CLI_VERSION, NULL, 0, "print the version"},
};

enum { COMMAND_COUNT = sizeof commands / sizeof commands[0], WORDS_MAX = 8 };

static int usage_error(char *errstr, size_t errstr_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(char *errstr, size_t errstr_size, const char *format, ...)
{
    if (errstr != NULL && errstr_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(errstr, errstr_size, format, args);
        va_end(args);
    }
    return CLI_EXIT_USAGE;
}

static bool is_group(const char *word)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (commands[i].group != NULL && strcmp(commands[i].group, word) == 0) {
            return true;
        }
    }
    return false;
}

/* The flag a long name (without "--") or a short letter means for `command`. */
static int find_flag(const char *long_name, size_t long_bytes, char short_name, uint64_t allowed)
{
    for (int id = 0; id < F_COUNT_OF_FLAGS; id++) {
        if ((allowed & BIT(id)) == 0) {
            continue;
        }
        if (long_name != NULL ? strlen(flags[id].long_name) == long_bytes &&
                                    strncmp(flags[id].long_name, long_name, long_bytes) == 0
                              : flags[id].short_name == short_name) {
            return id;
        }
    }
    return -1;
}

/* Whether an argument that starts with '-' takes the next argument as its value. */
static bool takes_separate_value(const char *argument)
{
    if (strchr(argument, '=') != NULL) {
        return false;
    }
    static const char *const booleans[] = {
        "-h",      "--help", "--from-beginning",    "--follow",      "-f",          "--watch",
        "-w",      "-e",     "--exit-when-healthy", "--to-earliest", "--to-latest", "--replace",
        "--allow", "--deny", "--cluster",           "--prefixed"};
    for (size_t i = 0; i < sizeof booleans / sizeof booleans[0]; i++) {
        if (strcmp(argument, booleans[i]) == 0) {
            return false;
        }
    }
    return true;
}

static int parse_number(const char *flag_name, const char *text, uint64_t min, uint64_t max,
                        uint64_t *out, char *errstr, size_t errstr_size)
{
    errno = 0;
    char *end = NULL;
    unsigned long long value = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (end == NULL || *end != '\0' || errno != 0 || value < min || value > max) {
        return usage_error(errstr, errstr_size,
                           "%s expects a whole number from %" PRIu64 " to %" PRIu64 ", not \"%s\"",
                           flag_name, min, max, text);
    }
    *out = value;
    return CLI_EXIT_OK;
}

static int parse_setting(const char *flag_name, const char *text, struct cli_options *options,
                         char *errstr, size_t errstr_size)
{
    const char *equals = strchr(text, '=');
    if (equals == NULL || equals == text) {
        return usage_error(errstr, errstr_size, "%s expects KEY=VALUE, not \"%s\"", flag_name,
                           text);
    }
    if (options->setting_count == CLI_SETTINGS_MAX) {
        return usage_error(errstr, errstr_size, "at most %d settings can be given",
                           CLI_SETTINGS_MAX);
    }
    struct cli_setting *setting = &options->settings[options->setting_count++];
    setting->name = text;
    setting->name_bytes = (size_t)(equals - text);
    setting->value = equals + 1;
    return CLI_EXIT_OK;
}

/* "read,write": each operation once, into options->acl_operations. */
static int parse_operations(const char *flag_name, const char *text, struct cli_options *options,
                            char *errstr, size_t errstr_size)
{
    static const enum ether_acl_operation known[] = {
        ETHER_ACL_OPERATION_READ,   ETHER_ACL_OPERATION_WRITE,    ETHER_ACL_OPERATION_CREATE,
        ETHER_ACL_OPERATION_DELETE, ETHER_ACL_OPERATION_DESCRIBE, ETHER_ACL_OPERATION_ALTER,
        ETHER_ACL_OPERATION_ALL,
    };
    _Static_assert(sizeof known / sizeof known[0] == CLI_ACL_OPERATIONS_MAX,
                   "every operation fits once");
    options->acl_operation_count = 0;
    const char *cursor = text;
    for (;;) {
        const char *comma = strchr(cursor, ',');
        size_t length = comma != NULL ? (size_t)(comma - cursor) : strlen(cursor);
        int found = -1;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
            const char *name = ether_acl_operation_name(known[k]);
            if (strlen(name) == length && strncasecmp(name, cursor, length) == 0) {
                found = (int)k;
            }
        }
        if (found < 0) {
            return usage_error(errstr, errstr_size,
                               "%s expects OP[,OP...] with OP read, write, create, delete, "
                               "describe, alter or all, not \"%.*s\"",
                               flag_name, (int)length, cursor);
        }
        for (size_t i = 0; i < options->acl_operation_count; i++) {
            if (options->acl_operations[i] == known[found]) {
                return usage_error(errstr, errstr_size, "%s names %s twice", flag_name,
                                   ether_acl_operation_name(known[found]));
            }
        }
        options->acl_operations[options->acl_operation_count++] = known[found];
        if (comma == NULL) {
            return CLI_EXIT_OK;
        }
        cursor = comma + 1;
    }
}

static int apply_flag(int id, const char *shown, const char *value, struct cli_options *options,
                      char *errstr, size_t errstr_size)
{
    uint64_t number = 0;
    int rc = CLI_EXIT_OK;
    switch (id) {
    case F_BROKERS:
        options->brokers = value;
        break;
    case F_TLS_CA:
        options->tls_ca_file = value;
        break;
    case F_TLS_CERT:
        options->tls_certificate_file = value;
        break;
    case F_TLS_KEY:
        options->tls_private_key_file = value;
        break;
    case F_USER:
        if (value[0] == '\0') {
            rc = usage_error(errstr, errstr_size, "%s expects a user name", shown);
        }
        options->sasl_username = value;
        break;
    case F_PASSWORD:
    case F_PASSWORD_FILE: {
        /* In "user create" they give the new user's password; elsewhere the login's. */
        bool new_user = options->verb == CLI_USER_CREATE;
        const char **password = new_user ? &options->user_password : &options->sasl_password;
        const char **file = new_user ? &options->user_password_file : &options->sasl_password_file;
        if (value[0] == '\0') {
            return usage_error(errstr, errstr_size, "%s expects %s", shown,
                               id == F_PASSWORD ? "a password" : "a file name");
        }
        if ((id == F_PASSWORD ? *file : *password) != NULL) {
            return usage_error(errstr, errstr_size,
                               "give only one of --password and --password-file");
        }
        *(id == F_PASSWORD ? password : file) = value;
        break;
    }
    case F_ITERATIONS:
        /* common/scram.h's bounds, which ether_user_create checks too. */
        rc = parse_number(shown, value, ETHER_SCRAM_ITERATIONS_MIN,
                          ETHER_SCRAM_ITERATIONS_CREATE_MAX, &number, errstr, errstr_size);
        options->iterations = (uint32_t)number;
        break;
    case F_REPLACE:
        options->replace = true;
        break;
    case F_PRINCIPAL:
        if (value[0] == '\0') {
            rc = usage_error(errstr, errstr_size, "%s expects a user name, or * for everyone",
                             shown);
        }
        options->acl_principal = value;
        break;
    case F_ALLOW:
    case F_DENY:
        if (options->acl_permission != ETHER_ACL_PERMISSION_ANY) {
            return usage_error(errstr, errstr_size, "give only one of --allow and --deny");
        }
        options->acl_permission =
            id == F_ALLOW ? ETHER_ACL_PERMISSION_ALLOW : ETHER_ACL_PERMISSION_DENY;
        break;
    case F_OPERATION:
        rc = parse_operations(shown, value, options, errstr, errstr_size);
        break;
    case F_CLUSTER:
        options->acl_cluster = true;
        break;
    case F_PREFIXED:
        options->acl_prefixed = true;
        break;
    case F_FORMAT:
        if (strcmp(value, "json") == 0) {
            options->output = CLI_OUTPUT_JSON;
        } else if (strcmp(value, "text") == 0) {
            options->output = CLI_OUTPUT_TEXT;
        } else if (options->verb == CLI_CONSUME) {
            rc = cli_template_check(value, errstr, errstr_size);
            options->output = CLI_OUTPUT_TEMPLATE;
            options->template_text = value;
        } else {
            rc = usage_error(errstr, errstr_size, "%s expects text or json, not \"%s\"", shown,
                             value);
        }
        break;
    case F_TIMEOUT:
        rc = parse_number(shown, value, 1, 86400000, &number, errstr, errstr_size);
        options->timeout_ms = (int)number;
        break;
    case F_PARTITIONS:
        rc = parse_number(shown, value, 1, 100000, &number, errstr, errstr_size);
        options->partition_count = (uint32_t)number;
        break;
    case F_REPLICAS:
        rc = parse_number(shown, value, 1, 100, &number, errstr, errstr_size);
        options->replication_factor = (uint32_t)number;
        break;
    case F_CONFIG:
    case F_SET:
        rc = parse_setting(shown, value, options, errstr, errstr_size);
        break;
    case F_DELETE:
        if (options->delete_count == CLI_SETTINGS_MAX) {
            return usage_error(errstr, errstr_size, "at most %d settings can be deleted",
                               CLI_SETTINGS_MAX);
        }
        options->deletes[options->delete_count++] = value;
        break;
    case F_KEY:
        options->key = value;
        break;
    case F_ACKS:
        if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0 && strcmp(value, "all") != 0) {
            rc = usage_error(errstr, errstr_size, "%s expects 0, 1 or all, not \"%s\"", shown,
                             value);
        }
        options->acks = value;
        break;
    case F_PARTITION:
        rc = parse_number(shown, value, 0, INT32_MAX, &number, errstr, errstr_size);
        options->partition = (int32_t)number;
        break;
    case F_FROM_BEGINNING:
        options->start = CLI_START_BEGINNING;
        break;
    case F_OFFSET:
        options->offset_given = true;
        if (strcmp(value, "start") == 0) {
            options->start = CLI_START_BEGINNING;
        } else if (strcmp(value, "end") == 0) {
            options->start = CLI_START_END;
        } else if (value[0] == '@') {
            rc = parse_number(shown, value + 1, 0, INT64_MAX, &number, errstr, errstr_size);
            options->start = CLI_START_TIMESTAMP;
            options->start_value = (int64_t)number;
        } else {
            rc = parse_number(shown, value, 0, INT64_MAX, &number, errstr, errstr_size);
            options->start = CLI_START_OFFSET;
            options->start_value = (int64_t)number;
            if (rc != CLI_EXIT_OK) {
                rc = usage_error(errstr, errstr_size,
                                 "%s expects an offset, start, end or @TIMESTAMP_MS, not \"%s\"",
                                 shown, value);
            }
        }
        break;
    case F_FOLLOW:
        options->follow = true;
        break;
    case F_GROUP:
        if (value[0] == '\0' || strlen(value) > 255) {
            rc = usage_error(errstr, errstr_size, "%s expects a group name of 1 to 255 bytes",
                             shown);
        }
        options->group = value;
        break;
    case F_GROUP_ASSIGNOR:
        if (strcmp(value, "range") != 0 && strcmp(value, "roundrobin") != 0 &&
            strcmp(value, "sticky") != 0) {
            rc = usage_error(errstr, errstr_size,
                             "%s expects range, roundrobin or sticky, not \"%s\"", shown, value);
        }
        options->group_assignor = value;
        break;
    case F_GROUP_PROTOCOL:
        if (strcmp(value, "eager") != 0 && strcmp(value, "cooperative") != 0) {
            rc = usage_error(errstr, errstr_size, "%s expects eager or cooperative, not \"%s\"",
                             shown, value);
        }
        options->group_protocol = value;
        break;
    case F_TOPIC:
        options->topic = value;
        break;
    case F_TO_EARLIEST:
    case F_TO_LATEST:
    case F_TO_OFFSET:
    case F_TO_DATETIME:
        if (options->reset != CLI_RESET_NONE) {
            return usage_error(errstr, errstr_size,
                               "give only one of --to-earliest, --to-latest, --to-offset and "
                               "--to-datetime");
        }
        if (id == F_TO_EARLIEST) {
            options->reset = CLI_RESET_EARLIEST;
        } else if (id == F_TO_LATEST) {
            options->reset = CLI_RESET_LATEST;
        } else if (id == F_TO_OFFSET) {
            options->reset = CLI_RESET_OFFSET;
            rc = parse_number(shown, value, 0, INT64_MAX, &number, errstr, errstr_size);
            options->reset_value = (int64_t)number;
        } else {
            options->reset = CLI_RESET_TIMESTAMP;
            if (!cli_parse_time_ms(value, &options->reset_value)) {
                rc = usage_error(errstr, errstr_size,
                                 "%s expects a time like 2026-11-27T10:00:00Z or milliseconds "
                                 "since the epoch, not \"%s\"",
                                 shown, value);
            }
        }
        break;
    case F_TO:
        rc = parse_number(shown, value, 1, UINT32_MAX, &number, errstr, errstr_size);
        options->to_broker_id = (uint32_t)number;
        break;
    case F_WATCH:
        options->watch = true;
        break;
    case F_EXIT_WHEN_HEALTHY:
        options->exit_when_healthy = true;
        break;
    case F_RECORD_SIZE:
        rc = parse_number(shown, value, 0, 1024 * 1024, &number, errstr, errstr_size);
        options->record_bytes = (uint32_t)number;
        break;
    case F_COUNT:
        rc = parse_number(shown, value, 1, UINT64_MAX / 2, &number, errstr, errstr_size);
        options->record_count = number;
        break;
    case F_DURATION:
        rc = parse_number(shown, value, 1, 86400, &number, errstr, errstr_size);
        options->duration_s = (uint32_t)number;
        break;
    case F_PRODUCERS:
        rc = parse_number(shown, value, 1, 64, &number, errstr, errstr_size);
        options->producer_count = (uint32_t)number;
        break;
    case F_BATCH_BYTES:
        rc = parse_number(shown, value, 64, 4 * 1024 * 1024, &number, errstr, errstr_size);
        options->batch_bytes = (uint32_t)number;
        break;
    case F_LINGER_MS:
        rc = parse_number(shown, value, 0, 600000, &number, errstr, errstr_size);
        options->linger_ms = (uint32_t)number;
        break;
    case F_IDEMPOTENCE:
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
            rc = usage_error(errstr, errstr_size, "%s expects on or off, not \"%s\"", shown, value);
        }
        options->idempotence = value;
        break;
    case F_THROUGHPUT:
        rc = parse_number(shown, value, 1, 100000000, &number, errstr, errstr_size);
        options->throughput_records_per_s = number;
        break;
    default:
        break;
    }
    return rc;
}

static void options_init(struct cli_options *options)
{
    memset(options, 0, sizeof *options);
    options->verb = CLI_HELP;
    options->help_topic = "";
    options->output = CLI_OUTPUT_TEXT;
    options->timeout_ms = CLI_TIMEOUT_MS_DEFAULT;
    options->partition = -1;
    options->partition_count = 1;
    options->replication_factor = 3;
    options->acks = "all";
    options->start = CLI_START_END;
    options->record_bytes = 100;
    options->duration_s = 10;
    options->producer_count = 1;
    options->batch_bytes = 65536;
    options->linger_ms = 5;
}

/*
 * What the user and acl commands need besides their flags' own syntax; for the acl commands
 * also turns --topic / --group / --cluster into options->acl_resource_type and _name.
 */
static int check_security_options(struct cli_options *options, char *errstr, size_t errstr_size)
{
    if (options->verb == CLI_USER_CREATE && options->user_password == NULL &&
        options->user_password_file == NULL) {
        return usage_error(errstr, errstr_size,
                           "\"ether user create\" needs the new user's password: --password "
                           "PASSWORD or --password-file FILE");
    }
    if (options->verb != CLI_ACL_CREATE && options->verb != CLI_ACL_DELETE &&
        options->verb != CLI_ACL_LIST) {
        return CLI_EXIT_OK;
    }
    const char *command = options->verb == CLI_ACL_CREATE   ? "acl create"
                          : options->verb == CLI_ACL_DELETE ? "acl delete"
                                                            : "acl list";
    int resources = (options->topic != NULL) + (options->group != NULL) + options->acl_cluster;
    if (resources > 1) {
        return usage_error(errstr, errstr_size, "give only one of --topic, --group and --cluster");
    }
    if (options->topic != NULL) {
        if (options->topic[0] == '\0') {
            return usage_error(errstr, errstr_size,
                               "--topic expects a topic name (or * for every topic)");
        }
        options->acl_resource_type = ETHER_ACL_RESOURCE_TOPIC;
        options->acl_resource_name = options->topic;
    } else if (options->group != NULL) {
        options->acl_resource_type = ETHER_ACL_RESOURCE_GROUP;
        options->acl_resource_name = options->group;
    } else if (options->acl_cluster) {
        options->acl_resource_type = ETHER_ACL_RESOURCE_CLUSTER;
    }
    if (options->verb == CLI_ACL_LIST) {
        return CLI_EXIT_OK;
    }
    if (options->acl_principal == NULL) {
        return usage_error(errstr, errstr_size,
                           "\"ether %s\" needs --principal PRINCIPAL (a user name, or * for "
                           "everyone)",
                           command);
    }
    if (options->acl_permission == ETHER_ACL_PERMISSION_ANY) {
        return usage_error(errstr, errstr_size, "\"ether %s\" needs --allow or --deny", command);
    }
    if (options->acl_operation_count == 0) {
        return usage_error(errstr, errstr_size,
                           "\"ether %s\" needs --operation OP[,OP...] (read, write, create, "
                           "delete, describe, alter or all)",
                           command);
    }
    if (resources == 0) {
        return usage_error(errstr, errstr_size,
                           "\"ether %s\" needs --topic NAME, --group NAME or --cluster", command);
    }
    if (options->acl_prefixed && options->acl_cluster) {
        return usage_error(errstr, errstr_size,
                           "--prefixed needs --topic or --group: the cluster has no name");
    }
    return CLI_EXIT_OK;
}

/* "topic/3" -> topic and partition; the slash is the last one. */
static int parse_topic_partition(char *text, struct cli_options *options, char *errstr,
                                 size_t errstr_size)
{
    char *slash = strrchr(text, '/');
    uint64_t number = 0;
    if (slash == NULL || slash == text ||
        parse_number("the partition", slash + 1, 0, INT32_MAX, &number, NULL, 0) != CLI_EXIT_OK) {
        return usage_error(errstr, errstr_size,
                           "expected TOPIC/PARTITION (like orders/3), not \"%s\"", text);
    }
    *slash = '\0';
    options->topic = text;
    options->partition = (int32_t)number;
    return CLI_EXIT_OK;
}

int cli_parse(int argc, char **argv, struct cli_options *options, char *errstr, size_t errstr_size)
{
    options_init(options);
    options->help_group = "";
    /* Pass 1: words. */
    const char *words[WORDS_MAX];
    int word_indexes[WORDS_MAX];
    size_t word_count = 0;
    bool help = false;
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        if (strcmp(argument, "--") == 0) {
            return usage_error(errstr, errstr_size, "\"--\" is not supported");
        }
        if (argument[0] == '-' && argument[1] != '\0') {
            if (strcmp(argument, "-h") == 0 || strcmp(argument, "--help") == 0) {
                help = true;
            } else if (takes_separate_value(argument)) {
                i++;
            }
            continue;
        }
        if (word_count == WORDS_MAX) {
            return usage_error(errstr, errstr_size, "too many arguments, starting at \"%s\"",
                               argument);
        }
        word_indexes[word_count] = i;
        words[word_count++] = argument;
    }

    /* The command. */
    if (word_count == 0 || strcmp(words[0], "help") == 0) {
        options->verb = CLI_HELP;
        options->help_topic = word_count >= 2 ? words[1] : "";
        options->help_group = word_count >= 3 ? words[1] : "";
        if (word_count >= 3) {
            options->help_topic = words[2];
        }
        return CLI_EXIT_OK;
    }
    const struct command *command = NULL;
    size_t command_words = 0;
    if (is_group(words[0])) {
        if (word_count == 1) {
            if (help) {
                options->help_topic = words[0];
                return CLI_EXIT_OK;
            }
            return usage_error(errstr, errstr_size,
                               "\"ether %s\" needs a subcommand; see \"ether %s --help\"", words[0],
                               words[0]);
        }
        for (size_t c = 0; c < COMMAND_COUNT; c++) {
            if (commands[c].group != NULL && strcmp(commands[c].group, words[0]) == 0 &&
                strcmp(commands[c].name, words[1]) == 0) {
                command = &commands[c];
            }
        }
        if (command == NULL) {
            return usage_error(errstr, errstr_size,
                               "unknown command \"ether %s %s\"; see \"ether %s --help\"", words[0],
                               words[1], words[0]);
        }
        command_words = 2;
    } else {
        for (size_t c = 0; c < COMMAND_COUNT; c++) {
            if (commands[c].group == NULL && strcmp(commands[c].name, words[0]) == 0) {
                command = &commands[c];
            }
        }
        if (command == NULL) {
            return usage_error(errstr, errstr_size, "unknown command \"%s\"; see \"ether --help\"",
                               words[0]);
        }
        command_words = 1;
    }
    if (help) {
        /* The help topic is the command's words, e.g. "topic create". */
        options->verb = CLI_HELP;
        options->help_group = command->group != NULL ? command->group : "";
        options->help_topic = command->name;
        return CLI_EXIT_OK;
    }
    options->verb = command->verb;
    size_t arguments = word_count - command_words;
    size_t wanted = command->argument != NULL ? 1 : 0;
    if (arguments < wanted) {
        return usage_error(errstr, errstr_size, "\"ether %s%s%s\" needs %s",
                           command->group != NULL ? command->group : "",
                           command->group != NULL ? " " : "", command->name, command->argument);
    }
    if (arguments > wanted) {
        return usage_error(errstr, errstr_size, "unexpected argument \"%s\"",
                           words[command_words + wanted]);
    }
    if (wanted == 1) {
        if (command->verb == CLI_PARTITION_TRANSFER_LEADER ||
            command->verb == CLI_TOPIC_DESCRIBE_PRODUCERS) {
            int rc = parse_topic_partition(argv[word_indexes[command_words]], options, errstr,
                                           errstr_size);
            if (rc != CLI_EXIT_OK) {
                return rc;
            }
        } else if (command->group != NULL && strcmp(command->group, "group") == 0) {
            options->group = words[command_words];
        } else if (command->group != NULL && strcmp(command->group, "user") == 0) {
            options->user_name = words[command_words];
        } else {
            options->topic = words[command_words];
        }
    }

    /* Pass 2: flags. */
    uint64_t allowed = GLOBAL_FLAGS | command->flag_set;
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        if (argument[0] != '-' || argument[1] == '\0') {
            continue;
        }
        int id = -1;
        const char *value = NULL;
        const char *equals = strchr(argument, '=');
        if (argument[1] == '-') {
            size_t name_bytes =
                equals != NULL ? (size_t)(equals - argument - 2) : strlen(argument + 2);
            id = find_flag(argument + 2, name_bytes, 0, allowed);
        } else if (argument[2] == '\0' || argument[2] == '=') {
            id = find_flag(NULL, 0, argument[1], allowed);
        }
        if (id < 0) {
            char shown[64];
            snprintf(shown, sizeof shown, "%.*s",
                     equals != NULL ? (int)(equals - argument) : (int)strlen(argument), argument);
            if (find_flag(shown + (shown[1] == '-' ? 2 : 1),
                          strlen(shown + (shown[1] == '-' ? 2 : 1)), 0, UINT64_MAX) >= 0 ||
                (shown[1] != '-' && find_flag(NULL, 0, shown[1], UINT64_MAX) >= 0)) {
                return usage_error(errstr, errstr_size,
                                   "\"ether %s%s%s\" does not take %s; see --help",
                                   command->group != NULL ? command->group : "",
                                   command->group != NULL ? " " : "", command->name, shown);
            }
            return usage_error(errstr, errstr_size, "unknown flag %s; see --help", shown);
        }
        char shown[64];
        snprintf(shown, sizeof shown, "--%s", flags[id].long_name);
        if (flags[id].takes_value) {
            if (equals != NULL) {
                value = equals + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return usage_error(errstr, errstr_size, "%s needs a value (%s)", shown,
                                   flags[id].value_name);
            }
        } else if (equals != NULL) {
            return usage_error(errstr, errstr_size, "%s takes no value", shown);
        }
        int rc = apply_flag(id, shown, value, options, errstr, errstr_size);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
    }
    if (options->verb == CLI_PARTITION_TRANSFER_LEADER && options->to_broker_id == 0) {
        return usage_error(errstr, errstr_size,
                           "\"ether partition transfer-leader\" needs --to BROKER");
    }
    if (options->verb == CLI_TOPIC_ALTER_CONFIG &&
        options->setting_count + options->delete_count == 0) {
        return usage_error(errstr, errstr_size,
                           "\"ether topic alter-config\" needs --set KEY=VALUE or --delete KEY");
    }
    if (options->verb == CLI_GROUP_RESET_OFFSETS) {
        if (options->topic == NULL) {
            return usage_error(errstr, errstr_size,
                               "\"ether group reset-offsets\" needs --topic TOPIC");
        }
        if (options->reset == CLI_RESET_NONE) {
            return usage_error(errstr, errstr_size,
                               "\"ether group reset-offsets\" needs --to-earliest, --to-latest, "
                               "--to-offset N or --to-datetime TIME");
        }
    }
    int rc = check_security_options(options, errstr, errstr_size);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (options->verb == CLI_CONSUME) {
        if (options->group == NULL) {
            const char *group_only = options->group_assignor != NULL   ? "--group-assignor"
                                     : options->group_protocol != NULL ? "--group-protocol"
                                     : options->setting_count > 0      ? "--config"
                                                                       : NULL;
            if (group_only != NULL) {
                return usage_error(errstr, errstr_size, "%s needs --group GROUP", group_only);
            }
        } else if (options->partition >= 0 || options->offset_given) {
            return usage_error(errstr, errstr_size,
                               "--group reads the partitions the group assigns, from its "
                               "committed offsets: it does not take %s",
                               options->partition >= 0 ? "--partition" : "--offset");
        }
    }
    return CLI_EXIT_OK;
}

/* ---- times ------------------------------------------------------------------------------ */

/* Reads exactly `digits` digits; false when they are not all there. */
static bool read_digits(const char **cursor, int digits, int *value)
{
    int result = 0;
    for (int i = 0; i < digits; i++) {
        char c = (*cursor)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        result = result * 10 + (c - '0');
    }
    *cursor += digits;
    *value = result;
    return true;
}

/* Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool cli_parse_time_ms(const char *text, int64_t *ms)
{
    if (text == NULL || text[0] == '\0') {
        return false;
    }
    bool all_digits = true;
    for (const char *c = text; *c != '\0'; c++) {
        all_digits = all_digits && *c >= '0' && *c <= '9';
    }
    if (all_digits) {
        errno = 0;
        char *end = NULL;
        unsigned long long value = strtoull(text, &end, 10);
        if (errno != 0 || *end != '\0' || value > (unsigned long long)INT64_MAX) {
            return false;
        }
        *ms = (int64_t)value;
        return true;
    }
    const char *cursor = text;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
    if (!read_digits(&cursor, 4, &year) || *cursor++ != '-' || !read_digits(&cursor, 2, &month) ||
        *cursor++ != '-' || !read_digits(&cursor, 2, &day)) {
        return false;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        return false;
    }
    int64_t offset_minutes = 0;
    if (*cursor == 'T' || *cursor == ' ') {
        cursor++;
        if (!read_digits(&cursor, 2, &hour) || *cursor++ != ':' ||
            !read_digits(&cursor, 2, &minute)) {
            return false;
        }
        if (*cursor == ':') {
            cursor++;
            if (!read_digits(&cursor, 2, &second)) {
                return false;
            }
            if (*cursor == '.' || *cursor == ',') {
                cursor++;
                int scale = 100;
                if (*cursor < '0' || *cursor > '9') {
                    return false;
                }
                while (*cursor >= '0' && *cursor <= '9') {
                    millis += (*cursor - '0') * scale;
                    scale /= 10;
                    cursor++;
                }
            }
        }
        if (hour > 23 || minute > 59 || second > 60) {
            return false;
        }
        if (*cursor == 'Z' || *cursor == 'z') {
            cursor++;
        } else if (*cursor == '+' || *cursor == '-') {
            int sign = *cursor++ == '-' ? -1 : 1;
            int zone_hours = 0, zone_minutes = 0;
            if (!read_digits(&cursor, 2, &zone_hours)) {
                return false;
            }
            if (*cursor == ':') {
                cursor++;
            }
            if (*cursor != '\0' && !read_digits(&cursor, 2, &zone_minutes)) {
                return false;
            }
            if (zone_hours > 23 || zone_minutes > 59) {
                return false;
            }
            offset_minutes = sign * (zone_hours * 60 + zone_minutes);
        }
    }
    if (*cursor != '\0') {
        return false;
    }
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                      second - offset_minutes * 60;
    if (seconds < 0) {
        return false;
    }
    *ms = seconds * 1000 + millis;
    return true;
}

/* ---- help ------------------------------------------------------------------------------ */

static void help_command(const struct command *command, struct cli_text *out)
{
    cli_text_printf(out, "Usage: ether %s%s%s%s%s [flags]\n\n%s.\n\nFlags:\n",
                    command->group != NULL ? command->group : "", command->group != NULL ? " " : "",
                    command->name, command->argument != NULL ? " " : "",
                    command->argument != NULL ? command->argument : "", command->summary);
    uint64_t allowed = command->flag_set | GLOBAL_FLAGS;
    for (int id = 0; id < F_COUNT_OF_FLAGS; id++) {
        if ((allowed & BIT(id)) == 0) {
            continue;
        }
        char left[64];
        char short_part[8] = "    ";
        if (flags[id].short_name != 0) {
            snprintf(short_part, sizeof short_part, "-%c, ", flags[id].short_name);
        }
        snprintf(left, sizeof left, "%s--%s%s%s", short_part, flags[id].long_name,
                 flags[id].takes_value ? " " : "",
                 flags[id].takes_value ? flags[id].value_name : "");
        const char *help = flags[id].help;
        if (id == F_FORMAT && command->verb == CLI_CONSUME) {
            help = "text (values), json, or a template like '%p:%o %k=%v\\n'";
        }
        if (id == F_CONFIG && command->verb == CLI_CONSUME) {
            help = "with --group: a client setting of ether.h, like session_timeout_ms=6000 or "
                   "enable_auto_commit=false; repeatable";
        }
        if (id == F_COUNT && command->verb == CLI_CONSUME) {
            help = "stop after N records";
        }
        bool acl = command->group != NULL && strcmp(command->group, "acl") == 0;
        if (id == F_TOPIC && acl) {
            help = command->verb == CLI_ACL_LIST
                       ? "only the bindings of this topic name (as given: * or a prefix too)"
                       : "the binding is about this topic (* for every topic)";
        }
        if (id == F_GROUP && acl) {
            help = command->verb == CLI_ACL_LIST
                       ? "only the bindings of this group name (as given: * or a prefix too)"
                       : "the binding is about this consumer group (* for every group)";
        }
        if (id == F_PRINCIPAL && command->verb == CLI_ACL_LIST) {
            help = "only the bindings of this principal";
        }
        if (id == F_CLUSTER && command->verb == CLI_ACL_LIST) {
            help = "only the bindings about the cluster";
        }
        if (id == F_USER && command->verb == CLI_USER_CREATE) {
            help = "log in as this user with SCRAM-SHA-256 (needs --tls-ca), whose password "
                   "comes from $ETHER_SASL_PASSWORD: here --password is the new user's";
        }
        if (id == F_PASSWORD && command->verb == CLI_USER_CREATE) {
            help = "the new user's password (visible to other users of this machine in ps: "
                   "prefer --password-file)";
        }
        if (id == F_PASSWORD_FILE && command->verb == CLI_USER_CREATE) {
            help = "read the new user's password from the first line of FILE";
        }
        if (id == F_FROM_BEGINNING && command->verb == CLI_CONSUME) {
            help = "start at the first stored record (default: the end; with --group, where "
                   "nothing is committed)";
        }
        cli_text_printf(out, "  %-34s %s\n", left, help);
    }
}

void cli_help(const char *help_group, const char *help_topic, struct cli_text *out)
{
    for (size_t c = 0; c < COMMAND_COUNT; c++) {
        const struct command *command = &commands[c];
        bool group_matches = command->group == NULL ? help_group[0] == '\0'
                                                    : strcmp(command->group, help_group) == 0;
        if (group_matches && strcmp(command->name, help_topic) == 0) {
            help_command(command, out);
            return;
        }
    }
    bool is_known_group = help_topic[0] != '\0' && is_group(help_topic);
    cli_text_printf(out, "Usage: ether %s%sCOMMAND [flags]\n\n", is_known_group ? help_topic : "",
                    is_known_group ? " " : "");
    if (!is_known_group) {
        cli_text_printf(out, "ether talks to an Ether cluster: administers topics, produces, "
                             "consumes and measures.\n\n");
    }
    cli_text_printf(out, "Commands:\n");
    for (size_t c = 0; c < COMMAND_COUNT; c++) {
        const struct command *command = &commands[c];
        if (is_known_group && (command->group == NULL || strcmp(command->group, help_topic) != 0)) {
            continue;
        }
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", command->group != NULL ? command->group : "",
                 command->group != NULL ? " " : "", command->name);
        cli_text_printf(out, "  %-26s %s\n", left, command->summary);
    }
    cli_text_printf(out,
                    "\nGlobal flags: --brokers HOST:PORT,... (or ETHER_BROKERS), --format "
                    "text|json, --timeout MS, --help.\nTLS: --tls-ca FILE (or ETHER_TLS_CA_FILE) "
                    "connects over TLS; --tls-cert FILE and --tls-key FILE (or\n"
                    "ETHER_TLS_CERTIFICATE_FILE and ETHER_TLS_PRIVATE_KEY_FILE) present a client "
                    "certificate to brokers that require one.\nLogin: --user NAME (or "
                    "ETHER_SASL_USERNAME) logs in with SCRAM-SHA-256 over TLS, with the password "
                    "from the\nfirst line of --password-file FILE, ETHER_SASL_PASSWORD, or "
                    "--password PASSWORD (visible in ps).\nRun \"ether %s%sCOMMAND --help\" "
                    "for a command's flags.\n",
                    is_known_group ? help_topic : "", is_known_group ? " " : "");
}
