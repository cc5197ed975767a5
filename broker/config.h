/*
 * config.h: etherd's configuration: one table of options, three sources.
 *
 * Every option has one name used everywhere: `--data-dir` on the command
 * line, `data-dir = ...` in the optional config file, ETHER_DATA_DIR in the
 * environment. Later sources override earlier ones:
 *   built-in defaults < config file (--config) < environment < command line.
 * The defaults run broker 1 of a local three-broker cluster.
 *
 * Owns: struct broker_config and its strings (freed by broker_config_free).
 * Invariant: a config that broker_config_load returned 0 for has passed
 * broker_config_validate: ports in range, ids non-zero, sizes within limits,
 * the three tls-*-file options all empty (plaintext) or all naming readable
 * files (whether they hold usable PEM is checked when the broker starts).
 */
#ifndef ETHER_BROKER_CONFIG_H
#define ETHER_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { BROKER_SEEDS_MAX = 16, BROKER_HOST_BYTES_MAX = 256, BROKER_RACK_BYTES_MAX = 64 };

struct broker_seed {
    uint32_t broker_id;
    char host[BROKER_HOST_BYTES_MAX];
    uint16_t port;
};

/*
 * XX(field, type, "option-name", default, "help")
 * type is one of: u32, u64, port, string, seeds, level, bool ("true" or "false").
 */
#define BROKER_CONFIG_MAP(XX)                                                                    \
    XX(broker_id, u32, "broker-id", "1", "this broker's id, unique in the cluster (1..)")        \
    XX(data_dir, string, "data-dir", "data/broker-1", "directory for partition logs and state")  \
    XX(listen_host, string, "listen-host", "127.0.0.1", "address to listen on")                  \
    XX(advertised_host, string, "advertised-host", "127.0.0.1",                                  \
       "address other brokers and clients use to reach this broker")                             \
    XX(client_port, port, "client-port", "9092", "port for clients and other brokers")           \
    XX(http_port, port, "http-port", "9644", "port for GET /metrics and GET /health")            \
    XX(seeds, seeds, "seeds", "1@127.0.0.1:9092,2@127.0.0.1:9093,3@127.0.0.1:9094",              \
       "the cluster's founding brokers as id@host:port, comma separated")                        \
    XX(rack, string, "rack", "", "rack or zone of this broker, for follower fetching")           \
    XX(log_level, level, "log-level", "info", "debug, info, warn or error")                      \
    XX(segment_bytes, u64, "segment-bytes", "134217728", "roll a log segment at this size")      \
    XX(frame_bytes_max, u32, "frame-bytes-max", "8388608", "largest request or response frame")  \
    XX(tick_ms, u32, "tick-ms", "50", "Raft tick interval")                                      \
    XX(election_ticks, u32, "election-ticks", "20", "ticks without a leader before an election") \
    XX(heartbeat_ticks, u32, "heartbeat-ticks", "2", "ticks between leader heartbeats")          \
    XX(retention_check_ms, u32, "retention-check-ms", "30000",                                   \
       "how often each partition applies retention and snapshots its state")                     \
    XX(producer_expiry_ms, u64, "producer-expiry-ms", "604800000",                               \
       "forget an idempotent producer idle this long (by the time recorded in the log)")         \
    XX(offsets_topic_partitions, u32, "offsets-topic-partitions", "8",                           \
       "partitions of __consumer_offsets (groups are spread over them by name)")                 \
    XX(offsets_topic_replication, u32, "offsets-topic-replication", "3",                         \
       "replication factor of __consumer_offsets (at most the number of seeds)")                 \
    XX(offsets_topic_segment_bytes, u32, "offsets-topic-segment-bytes", "1048576",               \
       "segment size of __consumer_offsets: older commits go a segment at a time")               \
    XX(group_initial_rebalance_delay_ms, u32, "group-initial-rebalance-delay-ms", "1000",        \
       "how long an empty group waits for more members before its first assignment")             \
    XX(tls_ca_file, string, "tls-ca-file", "",                                                   \
       "PEM file of the CAs that sign the certificates of brokers and clients; the three "       \
       "tls-*-file options together turn on TLS for the client port and between brokers")        \
    XX(tls_certificate_file, string, "tls-certificate-file", "",                                 \
       "PEM file of this broker's certificate (subject CN=broker-<broker-id>) and its "          \
       "intermediates, shown to clients and to the other brokers")                               \
    XX(tls_private_key_file, string, "tls-private-key-file", "",                                 \
       "PEM file of that certificate's private key, unencrypted; SIGHUP reloads the three "      \
       "files for new connections")                                                              \
    XX(tls_client_auth, string, "tls-client-auth", "required",                                   \
       "with TLS, how clients authenticate: required (a certificate signed by tls-ca-file, "     \
       "mTLS), requested (that certificate or a SCRAM-SHA-256 login) or none (anonymous "        \
       "clients; a single seed only, since brokers authenticate each other by certificate)")     \
    XX(tls_principal_rule, string, "tls-principal-rule", "",                                     \
       "maps a client certificate's CN to its principal: '' (the CN as is) or "                  \
       "'<regex>/<replacement>/' with \\1..\\9 for the groups, 'L' after it for lower case")     \
    XX(authorization, bool, "authorization", "false",                                            \
       "true: every request is checked against the ACLs (ether acl); no matching ACL denies; "   \
       "needs TLS")                                                                              \
    XX(super_users, string, "super-users", "",                                                   \
       "comma-separated principals allowed everything when authorization is on")

struct broker_config {
    uint32_t broker_id;
    char *data_dir;
    char *listen_host;
    char *advertised_host;
    uint16_t client_port;
    uint16_t http_port;
    struct broker_seed seeds[BROKER_SEEDS_MAX];
    size_t seeds_count;
    char *rack;
    int log_level;
    uint64_t segment_bytes;
    uint32_t frame_bytes_max;
    uint32_t tick_ms;
    uint32_t election_ticks;
    uint32_t heartbeat_ticks;
    uint32_t retention_check_ms;
    uint64_t producer_expiry_ms;
    uint32_t offsets_topic_partitions;
    uint32_t offsets_topic_replication;
    uint32_t offsets_topic_segment_bytes;
    uint32_t group_initial_rebalance_delay_ms;
    char *tls_ca_file;          /* "" (plaintext) or, with the two below, a readable file */
    char *tls_certificate_file; /* "" or a readable file */
    char *tls_private_key_file; /* "" or a readable file */
    char *tls_client_auth;      /* "required", "requested" or "none" */
    char *tls_principal_rule;   /* "" or a rule broker/principal_rule.h parses */
    bool authorization;
    char *super_users; /* "" or names separated by commas */
};

enum broker_client_auth {
    BROKER_CLIENT_AUTH_REQUIRED,  /* a verified client certificate (mTLS) */
    BROKER_CLIENT_AUTH_REQUESTED, /* a verified client certificate or a SCRAM-SHA-256 login */
    BROKER_CLIENT_AUTH_NONE,      /* anonymous clients too */
};

/* "" or at most BROKER_RACK_BYTES_MAX printable ASCII characters without spaces. */
bool broker_config_rack_valid(const char *rack);

/* tls-client-auth as an enum (validated by broker_config_load). */
enum broker_client_auth broker_config_client_auth(const struct broker_config *config);

/* Whether the client port and the connections between brokers use TLS (all three files set). */
static inline bool broker_config_tls_enabled(const struct broker_config *config)
{
    return config->tls_certificate_file != NULL && config->tls_certificate_file[0] != '\0';
}

/*
 * Fills `config` from defaults, the config file named by --config (or
 * ETHER_CONFIG), the environment `environ` (NULL-terminated "NAME=value"
 * strings) and argv. Returns 0; or ETHER_ERR_INVALID_ARGUMENT with a sentence
 * naming the option and the bad value in errbuf; or ETHER_ERR_NOT_FOUND when
 * the config file can't be read. On error `config` holds nothing to free.
 * Callers check broker_config_wants_help first: --help is not an option here.
 */
int broker_config_load(struct broker_config *config, int argc, char *const argv[],
                       char *const environment[], char *errbuf, size_t errbuf_size);

/* 1 when argv asks for --help or -h. */
int broker_config_wants_help(int argc, char *const argv[]);

/* Prints every option with its default, environment name and help. */
void broker_config_print_help(FILE *stream, const char *program_name);

/* Checks relations between options (e.g. heartbeat shorter than election). */
int broker_config_validate(const struct broker_config *config, char *errbuf, size_t errbuf_size);

void broker_config_free(struct broker_config *config);

/* Parses "1@host:9092,2@host:9093" into seeds; returns 0 or ETHER_ERR_INVALID_ARGUMENT. */
int broker_config_parse_seeds(const char *text, struct broker_seed *seeds, size_t seeds_max,
                              size_t *seeds_count);

#endif
