/*
 * cli.h: the pure parts of the `ether` command-line tool: argument parsing
 * into a `struct cli_options`, the help texts, and output formatting (consume
 * templates, JSON strings, key=value settings). No I/O, no network: the
 * program (client/ether_main.c) does that through client/ether.h only.
 *
 * Ownership: a parsed `struct cli_options` points into argv (which outlives
 * it) and owns nothing; cli_text buffers own their bytes (cli_text_free).
 *
 * Exit statuses of the tool: CLI_EXIT_OK, CLI_EXIT_ERROR (a request failed),
 * CLI_EXIT_USAGE (bad arguments), CLI_EXIT_UNHEALTHY (cluster health).
 */
#ifndef ETHER_CLIENT_CLI_H
#define ETHER_CLIENT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ether.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_UNHEALTHY = 3,
    CLI_SETTINGS_MAX = 64,
    CLI_TIMEOUT_MS_DEFAULT = 10000,
    CLI_ACL_OPERATIONS_MAX = 7, /* read .. all, each at most once */
};

enum cli_verb {
    CLI_HELP, /* print options.help_topic's help and exit 0 */
    CLI_VERSION,
    CLI_CLUSTER_STATUS,
    CLI_CLUSTER_HEALTH,
    CLI_BROKER_LIST,
    CLI_TOPIC_CREATE,
    CLI_TOPIC_LIST,
    CLI_TOPIC_DESCRIBE,
    CLI_TOPIC_DELETE,
    CLI_TOPIC_ALTER_CONFIG,
    CLI_TOPIC_DESCRIBE_PRODUCERS,
    CLI_PRODUCE,
    CLI_CONSUME,
    CLI_PARTITION_TRANSFER_LEADER,
    CLI_BENCH_PRODUCE,
    CLI_BENCH_CONSUME,
    CLI_GROUP_LIST,
    CLI_GROUP_DESCRIBE,
    CLI_GROUP_RESET_OFFSETS,
    CLI_GROUP_DELETE,
    CLI_USER_CREATE,
    CLI_USER_DELETE,
    CLI_USER_LIST,
    CLI_ACL_CREATE,
    CLI_ACL_DELETE,
    CLI_ACL_LIST,
};

enum cli_output { CLI_OUTPUT_TEXT, CLI_OUTPUT_JSON, CLI_OUTPUT_TEMPLATE };

enum cli_start { CLI_START_END, CLI_START_BEGINNING, CLI_START_OFFSET, CLI_START_TIMESTAMP };

/* group reset-offsets: where to (CLI_RESET_NONE: not given yet). */
enum cli_reset {
    CLI_RESET_NONE,
    CLI_RESET_EARLIEST,
    CLI_RESET_LATEST,
    CLI_RESET_OFFSET,    /* reset_value */
    CLI_RESET_TIMESTAMP, /* reset_value, ms since the epoch */
};

struct cli_setting {
    const char *name; /* points into argv; not NUL-terminated at '=': see name_bytes */
    size_t name_bytes;
    const char *value;
};

struct cli_options {
    enum cli_verb verb;
    const char *help_group; /* with CLI_HELP: "" or a group ("topic") */
    const char *help_topic; /* with CLI_HELP: "", a group, or a command ("create") */
    const char *brokers;    /* NULL: ETHER_BROKERS or the default */
    /* TLS files (NULL: the library's default, from ETHER_TLS_CA_FILE and so on); TLS is
     * on when a CA file is given, "" turns it off. */
    const char *tls_ca_file;
    const char *tls_certificate_file;
    const char *tls_private_key_file;
    /*
     * SCRAM-SHA-256 login (NULL: the library's default, from ETHER_SASL_USERNAME and
     * ETHER_SASL_PASSWORD): --user, and its password from --password or the first line of
     * --password-file (which ether_main.c reads). In "user create", --password and
     * --password-file are the new user's instead (user_password, user_password_file).
     */
    const char *sasl_username;
    const char *sasl_password;
    const char *sasl_password_file;
    enum cli_output output;
    const char *template_text; /* with CLI_OUTPUT_TEMPLATE */
    int timeout_ms;
    const char *topic;
    int32_t partition; /* -1: not given */
    uint32_t partition_count;
    uint32_t replication_factor;
    struct cli_setting settings[CLI_SETTINGS_MAX]; /* -c / --set (consume: client settings) */
    size_t setting_count;
    const char *deletes[CLI_SETTINGS_MAX];
    size_t delete_count;
    const char *key;
    const char *acks; /* "0", "1", "all" */
    enum cli_start start;
    int64_t start_value; /* offset or timestamp */
    bool offset_given;   /* --offset */
    bool follow;
    /* consumer groups */
    const char *group;          /* consume --group, and the GROUP of the group commands */
    const char *group_assignor; /* NULL: the library's default */
    const char *group_protocol;
    enum cli_reset reset;
    int64_t reset_value;
    uint32_t to_broker_id;
    bool watch;
    bool exit_when_healthy;
    /* bench */
    uint32_t record_bytes;
    uint64_t record_count; /* 0: run for duration_s (bench), no limit (consume) */
    uint32_t duration_s;
    uint32_t producer_count;
    uint32_t batch_bytes;
    uint32_t linger_ms;
    uint64_t throughput_records_per_s; /* bench produce: 0 = unthrottled */
    const char *idempotence;           /* bench produce: NULL (library default), "on", "off" */
    /* users */
    const char *user_name;          /* the NAME of the user commands */
    const char *user_password;      /* user create: --password */
    const char *user_password_file; /* user create: --password-file */
    uint32_t iterations;            /* user create: 0 for the broker's default */
    bool replace;                   /* user create: change an existing user's password */
    /* ACLs: one binding per operation (create, delete), or a filter (list) */
    const char *acl_principal;                /* NULL: not given (list: any) */
    enum ether_acl_permission acl_permission; /* ANY: not given */
    enum ether_acl_operation acl_operations[CLI_ACL_OPERATIONS_MAX];
    size_t acl_operation_count;
    enum ether_acl_resource_type acl_resource_type; /* ANY: not given (list: any) */
    const char *acl_resource_name;                  /* NULL for the cluster and when not given */
    bool acl_cluster;                               /* --cluster */
    bool acl_prefixed;
};

/*
 * Parses argv[1..argc) (argv[0] is the program). Returns CLI_EXIT_OK and fills
 * `options`, or CLI_EXIT_USAGE with one sentence in errstr (no trailing
 * newline) that names the bad argument and says what was expected.
 */
int cli_parse(int argc, char **argv, struct cli_options *options, char *errstr, size_t errstr_size);

/*
 * Parses a point in time: milliseconds since the epoch ("1795860000000"), or
 * ISO-8601 "2026-11-27T10:00:00Z" with optional fractions of a second
 * (".250") and a zone ("Z", "+01:00", "-0530"; none means UTC), or a date
 * alone ("2026-11-27", midnight UTC). Returns false when `text` is neither.
 */
bool cli_parse_time_ms(const char *text, int64_t *ms);

/* ---- output ------------------------------------------------------------------------------ */

struct cli_text {
    char *data; /* NUL-terminated once anything was appended */
    size_t length;
    size_t capacity;
};

/*
 * Appends a help text: ("", "") the top level, ("", "topic") a group's
 * commands, ("topic", "create") or ("", "produce") one command's flags.
 */
void cli_help(const char *help_group, const char *help_topic, struct cli_text *out);

void cli_text_append(struct cli_text *text, const void *bytes, size_t size_bytes);
void cli_text_printf(struct cli_text *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void cli_text_free(struct cli_text *text);

/* Appends bytes as a JSON string literal (quotes included); NULL gives null. */
void cli_json_string(struct cli_text *out, const void *bytes, size_t size_bytes);

struct cli_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    const void *key; /* NULL: null key */
    size_t key_bytes;
    const void *value;
    size_t value_bytes;
};

/*
 * Checks a consume template: %k key, %v value, %p partition, %o offset,
 * %t timestamp (ms), %T topic, %% percent; \n newline, \t tab, \\ backslash.
 * Returns CLI_EXIT_OK or CLI_EXIT_USAGE with a sentence naming the bad escape.
 */
int cli_template_check(const char *template_text, char *errstr, size_t errstr_size);

/* Appends one record formatted by a checked template (null key/value print as ""). */
void cli_template_format(struct cli_text *out, const char *template_text,
                         const struct cli_record *record);

/* One JSON object for a consumed record, followed by a newline. */
void cli_record_json(struct cli_text *out, const struct cli_record *record);

/* A table of users (text) or a JSON array of them, followed by a newline. */
void cli_users_format(struct cli_text *out, const struct ether_user *users, size_t count,
                      enum cli_output output);

/* A table of ACL bindings (text) or a JSON array of them, followed by a newline. */
void cli_acls_format(struct cli_text *out, const struct ether_acl *acls, size_t count,
                     enum cli_output output);

/* "allow alice read on topic orders", "deny * write on topics prefixed ord", "allow bob alter
 * on the cluster": one binding in words. */
void cli_acl_describe(struct cli_text *out, const struct ether_acl *acl);

/* p-th percentile (0 < p <= 100) of `sorted_count` sorted values; 0 when empty. */
uint64_t cli_percentile(const uint64_t *sorted, size_t sorted_count, double percentile);

#endif
