/*
 * ether_main.c: the `ether` command-line tool, built on the public API
 * (client/ether.h) alone, plus the pure parsing and formatting of cli.h.
 *
 * Every command parses its flags (cli_parse), makes one client, does its
 * requests and prints a human table or, with --format json, JSON. Any error
 * ends the program with one sentence on stderr ("ether: ...") and a
 * non-zero exit status: 1 for a failed request, 2 for bad usage, 3 for an
 * unhealthy cluster (cluster health).
 */
#include "client/cli.h"
#include "client/ether.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    ERRSTR_BYTES = 512,
    HEALTH_PING_TIMEOUT_MS = 2000,
    PASSWORD_BYTES_MAX = 1024, /* common/scram.h's bound; the library says so too */
};

static int fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("ether: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return status;
}

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void print_text(struct cli_text *text)
{
    if (text->length > 0) {
        fwrite(text->data, 1, text->length, stdout);
    }
    fflush(stdout);
    cli_text_free(text);
}

/*
 * The first line of the file at `path`, without its end of line, into `password` (of
 * PASSWORD_BYTES_MAX + 3 bytes). False with a sentence in errstr (naming `flag` and the
 * file, never what it holds) when it cannot be read, or that line is empty or too long.
 */
static bool read_password_file(const char *flag, const char *path, char *password,
                               size_t password_size, char *errstr, size_t errstr_size)
{
    password[0] = '\0';
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(errstr, errstr_size, "%s %s: cannot read it: %s", flag, path, strerror(errno));
        return false;
    }
    bool read = fgets(password, (int)password_size, file) != NULL;
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) {
        snprintf(errstr, errstr_size, "%s %s: cannot read it", flag, path);
        return false;
    }
    size_t length = read ? strlen(password) : 0;
    bool whole_line = length > 0 && password[length - 1] == '\n';
    while (length > 0 && (password[length - 1] == '\n' || password[length - 1] == '\r')) {
        password[--length] = '\0';
    }
    if (length > PASSWORD_BYTES_MAX || (!whole_line && length + 1 == password_size)) {
        explicit_bzero(password, password_size);
        snprintf(errstr, errstr_size, "%s %s: the password is longer than %d bytes", flag, path,
                 PASSWORD_BYTES_MAX);
        return false;
    }
    if (length == 0) {
        snprintf(errstr, errstr_size, "%s %s: its first line is empty (it holds the password)",
                 flag, path);
        return false;
    }
    return true;
}

/* Sets the login of --user and --password / --password-file (the library's defaults
 * otherwise). Returns false with a sentence in errstr. */
static bool set_login(struct ether_config *config, const struct cli_options *options, char *errstr,
                      size_t errstr_size)
{
    /* The library would refuse these too, in the words of its settings rather than flags. */
    const char *environment_password = getenv("ETHER_SASL_PASSWORD");
    const char *environment_ca = getenv("ETHER_TLS_CA_FILE");
    if (options->sasl_username != NULL && options->sasl_password == NULL &&
        options->sasl_password_file == NULL &&
        (environment_password == NULL || environment_password[0] == '\0')) {
        snprintf(errstr, errstr_size, "--user %s needs a password: %s", options->sasl_username,
                 options->verb == CLI_USER_CREATE
                     ? "ETHER_SASL_PASSWORD (here --password and --password-file are the new "
                       "user's)"
                     : "--password-file FILE, ETHER_SASL_PASSWORD or --password PASSWORD");
        return false;
    }
    if (options->sasl_username != NULL &&
        (options->tls_ca_file != NULL ? options->tls_ca_file[0] == '\0'
                                      : environment_ca == NULL || environment_ca[0] == '\0')) {
        snprintf(errstr, errstr_size,
                 "--user needs TLS: give --tls-ca FILE (SCRAM-SHA-256 logins only go over TLS)");
        return false;
    }
    if (options->sasl_username != NULL &&
        ether_config_set(config, "sasl_username", options->sasl_username, errstr, errstr_size) !=
            0) {
        return false;
    }
    if (options->sasl_password != NULL) {
        return ether_config_set(config, "sasl_password", options->sasl_password, errstr,
                                errstr_size) == 0;
    }
    if (options->sasl_password_file == NULL) {
        return true;
    }
    char password[PASSWORD_BYTES_MAX + 3];
    bool ok = read_password_file("--password-file", options->sasl_password_file, password,
                                 sizeof password, errstr, errstr_size) &&
              ether_config_set(config, "sasl_password", password, errstr, errstr_size) == 0;
    explicit_bzero(password, sizeof password);
    return ok;
}

/*
 * A client for the options' brokers; `settings` is NULL-terminated name/value
 * pairs. On failure the reason is printed and *status (when not NULL) says
 * CLI_EXIT_USAGE for a setting that is refused, else CLI_EXIT_ERROR.
 */
static struct ether_client *client_new_status(const struct cli_options *options,
                                              const char *const *settings,
                                              ether_delivery_fn *callback, void *callback_context,
                                              int *status)
{
    struct ether_config *config = ether_config_new();
    char errstr[ERRSTR_BYTES];
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", options->timeout_ms);
    int failure = CLI_EXIT_USAGE;
    if ((options->brokers != NULL &&
         ether_config_set(config, "brokers", options->brokers, errstr, sizeof errstr) != 0) ||
        (options->tls_ca_file != NULL &&
         ether_config_set(config, "tls_ca_file", options->tls_ca_file, errstr, sizeof errstr) !=
             0) ||
        (options->tls_certificate_file != NULL &&
         ether_config_set(config, "tls_certificate_file", options->tls_certificate_file, errstr,
                          sizeof errstr) != 0) ||
        (options->tls_private_key_file != NULL &&
         ether_config_set(config, "tls_private_key_file", options->tls_private_key_file, errstr,
                          sizeof errstr) != 0) ||
        !set_login(config, options, errstr, sizeof errstr) ||
        ether_config_set(config, "client_id", "ether-cli", errstr, sizeof errstr) != 0 ||
        ether_config_set(config, "delivery_timeout_ms", timeout, errstr, sizeof errstr) != 0) {
        goto err_after_config;
    }
    for (size_t i = 0; settings != NULL && settings[i] != NULL; i += 2) {
        if (ether_config_set(config, settings[i], settings[i + 1], errstr, sizeof errstr) != 0) {
            goto err_after_config;
        }
    }
    if (callback != NULL) {
        ether_config_set_delivery_callback(config, callback, callback_context);
    }
    struct ether_client *client = ether_client_new(config, errstr, sizeof errstr);
    if (client == NULL) {
        /* It refuses settings that contradict each other (usage), or says "cannot ..."
         * when it lacks a resource (a thread, a loop). */
        failure = strncmp(errstr, "cannot ", 7) == 0 ? CLI_EXIT_ERROR : CLI_EXIT_USAGE;
        goto err_after_config;
    }
    ether_config_free(config);
    return client;

err_after_config:
    ether_config_free(config);
    fail(failure, "%s", errstr);
    if (status != NULL) {
        *status = failure;
    }
    return NULL;
}

/* A client for the options' brokers; `settings` is NULL-terminated name/value pairs. */
static struct ether_client *client_new(const struct cli_options *options,
                                       const char *const *settings, ether_delivery_fn *callback,
                                       void *callback_context)
{
    return client_new_status(options, settings, callback, callback_context, NULL);
}

static int describe(struct ether_client *client, const struct cli_options *options,
                    const char *topic, struct ether_cluster **cluster)
{
    char errstr[ERRSTR_BYTES];
    const char *names[] = {topic};
    int rc = ether_describe_cluster(client, topic != NULL ? names : NULL, topic != NULL ? 1 : 0,
                                    options->timeout_ms, cluster, errstr, sizeof errstr);
    if (rc != 0) {
        return fail(CLI_EXIT_ERROR, "cannot read the cluster's metadata: %s", errstr);
    }
    if (topic != NULL && ((*cluster)->topic_count == 0 || (*cluster)->topics[0].error != 0)) {
        int error =
            (*cluster)->topic_count == 0 ? ETHER_ERR_NOT_FOUND : (*cluster)->topics[0].error;
        ether_cluster_free(*cluster);
        *cluster = NULL;
        if (error == ETHER_ERR_NOT_FOUND) {
            return fail(CLI_EXIT_ERROR, "topic %s does not exist", topic);
        }
        return fail(CLI_EXIT_ERROR, "cannot describe topic %s: %s", topic, ether_strerror(error));
    }
    return CLI_EXIT_OK;
}

static const struct ether_broker_info *find_broker(const struct ether_cluster *cluster,
                                                   uint32_t broker_id)
{
    for (size_t b = 0; b < cluster->broker_count; b++) {
        if (cluster->brokers[b].broker_id == broker_id) {
            return &cluster->brokers[b];
        }
    }
    return NULL;
}

/* ---- cluster, brokers ------------------------------------------------------------------- */

static void brokers_table(const struct ether_cluster *cluster, struct cli_text *out)
{
    cli_text_printf(out, "%-6s %-24s %-6s %-12s %s\n", "ID", "HOST", "PORT", "RACK", "CONTROLLER");
    for (size_t b = 0; b < cluster->broker_count; b++) {
        const struct ether_broker_info *broker = &cluster->brokers[b];
        cli_text_printf(out, "%-6" PRIu32 " %-24s %-6u %-12s %s\n", broker->broker_id, broker->host,
                        broker->port, broker->rack[0] != '\0' ? broker->rack : "-",
                        broker->broker_id == cluster->controller_id ? "yes" : "");
    }
}

static void brokers_json(const struct ether_cluster *cluster, struct cli_text *out)
{
    cli_text_printf(out, "[");
    for (size_t b = 0; b < cluster->broker_count; b++) {
        const struct ether_broker_info *broker = &cluster->brokers[b];
        cli_text_printf(out, "%s{\"id\":%" PRIu32 ",\"host\":", b > 0 ? "," : "",
                        broker->broker_id);
        cli_json_string(out, broker->host, strlen(broker->host));
        cli_text_printf(out, ",\"port\":%u,\"rack\":", broker->port);
        cli_json_string(out, broker->rack, strlen(broker->rack));
        cli_text_printf(out, ",\"controller\":%s}",
                        broker->broker_id == cluster->controller_id ? "true" : "false");
    }
    cli_text_printf(out, "]");
}

static int run_broker_list(const struct cli_options *options, struct ether_client *client)
{
    struct ether_cluster *cluster = NULL;
    int rc = describe(client, options, NULL, &cluster);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        brokers_json(cluster, &out);
        cli_text_printf(&out, "\n");
    } else {
        brokers_table(cluster, &out);
    }
    print_text(&out);
    ether_cluster_free(cluster);
    return CLI_EXIT_OK;
}

/* Ether's own topics (__consumer_offsets): left out of listings and counts. */
static bool is_internal_topic(const char *name)
{
    return strncmp(name, "__", 2) == 0;
}

static int run_cluster_status(const struct cli_options *options, struct ether_client *client)
{
    struct ether_cluster *cluster = NULL;
    int rc = describe(client, options, NULL, &cluster);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    size_t topics = 0;
    size_t partitions = 0;
    size_t leaderless = 0;
    for (size_t t = 0; t < cluster->topic_count; t++) {
        if (is_internal_topic(cluster->topics[t].name)) {
            continue;
        }
        topics++;
        for (size_t p = 0; p < cluster->topics[t].partition_count; p++) {
            partitions++;
            leaderless += cluster->topics[t].partitions[p].leader_id == 0;
        }
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "{\"cluster_id\":");
        cli_json_string(&out, cluster->cluster_id, strlen(cluster->cluster_id));
        cli_text_printf(&out,
                        ",\"controller_id\":%" PRIu32 ",\"brokers\":", cluster->controller_id);
        brokers_json(cluster, &out);
        cli_text_printf(&out,
                        ",\"topics\":%zu,\"partitions\":%zu,\"partitions_without_leader\":%zu}\n",
                        topics, partitions, leaderless);
    } else {
        cli_text_printf(&out, "Cluster     %s\n",
                        cluster->cluster_id[0] != '\0' ? cluster->cluster_id : "-");
        if (cluster->controller_id != 0) {
            cli_text_printf(&out, "Controller  broker %" PRIu32 "\n", cluster->controller_id);
        } else {
            cli_text_printf(&out, "Controller  none\n");
        }
        cli_text_printf(&out, "Topics      %zu (%zu partitions, %zu without a leader)\n\n", topics,
                        partitions, leaderless);
        brokers_table(cluster, &out);
    }
    print_text(&out);
    ether_cluster_free(cluster);
    return CLI_EXIT_OK;
}

/* Checks health once; appends the report; returns whether healthy. */
static bool check_health(const struct cli_options *options, struct ether_client *client,
                         struct cli_text *out)
{
    struct ether_cluster *cluster = NULL;
    char errstr[ERRSTR_BYTES];
    bool json = options->output == CLI_OUTPUT_JSON;
    if (ether_describe_cluster(client, NULL, 0, options->timeout_ms, &cluster, errstr,
                               sizeof errstr) != 0) {
        if (json) {
            cli_text_printf(out, "{\"healthy\":false,\"error\":");
            cli_json_string(out, errstr, strlen(errstr));
            cli_text_printf(out, "}\n");
        } else {
            cli_text_printf(out, "Healthy: no\n  no broker answers: %s\n", errstr);
        }
        return false;
    }
    struct cli_text reasons = {0};
    struct cli_text down = {0};
    struct cli_text leaderless = {0};
    bool healthy = true;
    int ping_timeout_ms =
        options->timeout_ms < HEALTH_PING_TIMEOUT_MS ? options->timeout_ms : HEALTH_PING_TIMEOUT_MS;
    for (size_t b = 0; b < cluster->broker_count; b++) {
        const struct ether_broker_info *broker = &cluster->brokers[b];
        if (ether_ping_broker(client, broker->broker_id, ping_timeout_ms, NULL, errstr,
                              sizeof errstr) != 0) {
            healthy = false;
            cli_text_printf(&reasons, "  broker %" PRIu32 " (%s:%u) does not answer: %s\n",
                            broker->broker_id, broker->host, broker->port, errstr);
            cli_text_printf(&down, "%s%" PRIu32, down.length > 0 ? "," : "", broker->broker_id);
        }
    }
    if (cluster->controller_id == 0 || find_broker(cluster, cluster->controller_id) == NULL) {
        healthy = false;
        cli_text_printf(&reasons, "  the cluster has no controller\n");
    }
    for (size_t t = 0; t < cluster->topic_count; t++) {
        const struct ether_topic_info *topic = &cluster->topics[t];
        for (size_t p = 0; p < topic->partition_count; p++) {
            if (topic->partitions[p].leader_id == 0) {
                healthy = false;
                cli_text_printf(&reasons, "  %s/%" PRIu32 " has no leader\n", topic->name,
                                topic->partitions[p].partition);
                cli_text_printf(&leaderless, "%s\"%s/%" PRIu32 "\"",
                                leaderless.length > 0 ? "," : "", topic->name,
                                topic->partitions[p].partition);
            }
        }
    }
    if (json) {
        cli_text_printf(out,
                        "{\"healthy\":%s,\"controller_id\":%" PRIu32
                        ",\"brokers\":%zu,\"brokers_down\":[%s],\"partitions_without_leader\":[%s]}"
                        "\n",
                        healthy ? "true" : "false", cluster->controller_id, cluster->broker_count,
                        down.length > 0 ? down.data : "",
                        leaderless.length > 0 ? leaderless.data : "");
    } else {
        cli_text_printf(out, "Healthy: %s (%zu brokers, controller %" PRIu32 ")\n",
                        healthy ? "yes" : "no", cluster->broker_count, cluster->controller_id);
        if (reasons.length > 0) {
            cli_text_append(out, reasons.data, reasons.length);
        }
    }
    cli_text_free(&reasons);
    cli_text_free(&down);
    cli_text_free(&leaderless);
    ether_cluster_free(cluster);
    return healthy;
}

static int run_cluster_health(const struct cli_options *options, struct ether_client *client)
{
    for (;;) {
        struct cli_text out = {0};
        bool healthy = check_health(options, client, &out);
        bool last = !options->watch && (!options->exit_when_healthy || healthy);
        if (options->watch || last || healthy) {
            print_text(&out);
        } else {
            cli_text_free(&out);
        }
        if (healthy && (options->exit_when_healthy || !options->watch)) {
            return CLI_EXIT_OK;
        }
        if (last) {
            return CLI_EXIT_UNHEALTHY;
        }
        sleep(1);
    }
}

/* ---- topics ------------------------------------------------------------------------------- */

/* Copies the options' KEY=VALUE settings into NUL-terminated entries; free names after. */
static struct ether_config_entry *settings_entries(const struct cli_options *options)
{
    struct ether_config_entry *entries = calloc(options->setting_count + 1, sizeof *entries);
    if (entries == NULL) {
        abort();
    }
    for (size_t i = 0; i < options->setting_count; i++) {
        char *name = strndup(options->settings[i].name, options->settings[i].name_bytes);
        if (name == NULL) {
            abort();
        }
        entries[i].name = name;
        entries[i].value = options->settings[i].value;
    }
    return entries;
}

static void settings_entries_free(struct ether_config_entry *entries, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free((void *)(uintptr_t)entries[i].name);
    }
    free(entries);
}

static int run_topic_create(const struct cli_options *options, struct ether_client *client)
{
    struct ether_config_entry *entries = settings_entries(options);
    char errstr[ERRSTR_BYTES];
    int rc = ether_create_topic(client, options->topic, options->partition_count,
                                options->replication_factor, entries, options->setting_count,
                                options->timeout_ms, errstr, sizeof errstr);
    settings_entries_free(entries, options->setting_count);
    if (rc != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "{\"topic\":");
        cli_json_string(&out, options->topic, strlen(options->topic));
        cli_text_printf(&out, ",\"partitions\":%" PRIu32 ",\"replication_factor\":%" PRIu32 "}\n",
                        options->partition_count, options->replication_factor);
    } else {
        cli_text_printf(
            &out, "Created topic %s (%" PRIu32 " partitions, replication factor %" PRIu32 ")\n",
            options->topic, options->partition_count, options->replication_factor);
    }
    print_text(&out);
    return CLI_EXIT_OK;
}

static int run_topic_list(const struct cli_options *options, struct ether_client *client)
{
    struct ether_cluster *cluster = NULL;
    int rc = describe(client, options, NULL, &cluster);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "[");
    } else {
        cli_text_printf(&out, "%-32s %-10s %s\n", "NAME", "PARTITIONS", "REPLICAS");
    }
    size_t listed = 0;
    for (size_t t = 0; t < cluster->topic_count; t++) {
        const struct ether_topic_info *topic = &cluster->topics[t];
        if (is_internal_topic(topic->name)) {
            continue;
        }
        size_t replicas = topic->partition_count > 0 ? topic->partitions[0].replica_count : 0;
        if (options->output == CLI_OUTPUT_JSON) {
            cli_text_printf(&out, "%s{\"name\":", listed++ > 0 ? "," : "");
            cli_json_string(&out, topic->name, strlen(topic->name));
            cli_text_printf(&out, ",\"partitions\":%zu,\"replicas\":%zu}", topic->partition_count,
                            replicas);
        } else {
            cli_text_printf(&out, "%-32s %-10zu %zu\n", topic->name, topic->partition_count,
                            replicas);
        }
    }
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "]\n");
    }
    print_text(&out);
    ether_cluster_free(cluster);
    return CLI_EXIT_OK;
}

static void ids_text(struct cli_text *out, const uint32_t *ids, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cli_text_printf(out, "%s%" PRIu32, i > 0 ? "," : "", ids[i]);
    }
}

static int run_topic_describe(const struct cli_options *options, struct ether_client *client)
{
    struct ether_cluster *cluster = NULL;
    int rc = describe(client, options, options->topic, &cluster);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    const struct ether_topic_info *topic = &cluster->topics[0];
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "{\"name\":");
        cli_json_string(&out, topic->name, strlen(topic->name));
        cli_text_printf(&out, ",\"configs\":{");
        for (size_t c = 0; c < topic->config_count; c++) {
            cli_text_printf(&out, "%s", c > 0 ? "," : "");
            cli_json_string(&out, topic->configs[c].name, strlen(topic->configs[c].name));
            cli_text_printf(&out, ":");
            cli_json_string(&out, topic->configs[c].value, strlen(topic->configs[c].value));
        }
        cli_text_printf(&out, "},\"partitions\":[");
        for (size_t p = 0; p < topic->partition_count; p++) {
            const struct ether_partition_info *partition = &topic->partitions[p];
            cli_text_printf(&out,
                            "%s{\"partition\":%" PRIu32 ",\"leader\":%" PRIu32 ",\"replicas\":[",
                            p > 0 ? "," : "", partition->partition, partition->leader_id);
            ids_text(&out, partition->replicas, partition->replica_count);
            cli_text_printf(&out, "],\"in_sync_replicas\":[");
            ids_text(&out, partition->in_sync_replicas, partition->in_sync_replica_count);
            cli_text_printf(&out,
                            "],\"high_watermark\":%" PRIu64 ",\"log_start_offset\":%" PRIu64 "}",
                            partition->high_watermark, partition->log_start_offset);
        }
        cli_text_printf(&out, "]}\n");
    } else {
        cli_text_printf(&out, "Topic %s: %zu partitions\n", topic->name, topic->partition_count);
        if (topic->config_count > 0) {
            cli_text_printf(&out, "Settings:\n");
            for (size_t c = 0; c < topic->config_count; c++) {
                cli_text_printf(&out, "  %s = %s\n", topic->configs[c].name,
                                topic->configs[c].value);
            }
        }
        cli_text_printf(&out, "\n%-10s %-7s %-16s %-16s %-15s %s\n", "PARTITION", "LEADER",
                        "REPLICAS", "IN-SYNC", "HIGH-WATERMARK", "LOG-START");
        for (size_t p = 0; p < topic->partition_count; p++) {
            const struct ether_partition_info *partition = &topic->partitions[p];
            struct cli_text replicas = {0};
            struct cli_text in_sync = {0};
            ids_text(&replicas, partition->replicas, partition->replica_count);
            ids_text(&in_sync, partition->in_sync_replicas, partition->in_sync_replica_count);
            char leader[16];
            snprintf(leader, sizeof leader, "%" PRIu32, partition->leader_id);
            cli_text_printf(&out, "%-10" PRIu32 " %-7s %-16s %-16s %-15" PRIu64 " %" PRIu64 "\n",
                            partition->partition, partition->leader_id != 0 ? leader : "none",
                            replicas.length > 0 ? replicas.data : "-",
                            in_sync.length > 0 ? in_sync.data : "-", partition->high_watermark,
                            partition->log_start_offset);
            cli_text_free(&replicas);
            cli_text_free(&in_sync);
        }
    }
    print_text(&out);
    ether_cluster_free(cluster);
    return CLI_EXIT_OK;
}

static int print_done(const struct cli_options *options, const char *sentence)
{
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "{\"ok\":true,\"message\":");
        cli_json_string(&out, sentence, strlen(sentence));
        cli_text_printf(&out, "}\n");
    } else {
        cli_text_printf(&out, "%s\n", sentence);
    }
    print_text(&out);
    return CLI_EXIT_OK;
}

static int run_topic_delete(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    if (ether_delete_topic(client, options->topic, options->timeout_ms, errstr, sizeof errstr) !=
        0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    char sentence[ERRSTR_BYTES];
    snprintf(sentence, sizeof sentence, "Deleted topic %s", options->topic);
    return print_done(options, sentence);
}

static int run_topic_alter_config(const struct cli_options *options, struct ether_client *client)
{
    struct ether_config_entry *entries = settings_entries(options);
    char errstr[ERRSTR_BYTES];
    int rc = ether_alter_topic_config(client, options->topic, entries, options->setting_count,
                                      options->deletes, options->delete_count, options->timeout_ms,
                                      errstr, sizeof errstr);
    settings_entries_free(entries, options->setting_count);
    if (rc != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    char sentence[ERRSTR_BYTES];
    snprintf(sentence, sizeof sentence, "Updated the settings of topic %s (%zu set, %zu removed)",
             options->topic, options->setting_count, options->delete_count);
    return print_done(options, sentence);
}

static int run_transfer_leader(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    if (ether_transfer_leader(client, options->topic, options->partition, options->to_broker_id,
                              options->timeout_ms, errstr, sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    char sentence[ERRSTR_BYTES];
    snprintf(sentence, sizeof sentence, "Leadership of %s/%" PRId32 " moved to broker %" PRIu32,
             options->topic, options->partition, options->to_broker_id);
    return print_done(options, sentence);
}

static int run_describe_producers(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    struct ether_producer_state *producers = NULL;
    size_t count = 0;
    if (ether_describe_producers(client, options->topic, options->partition, options->timeout_ms,
                                 &producers, &count, errstr, sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "[");
        for (size_t i = 0; i < count; i++) {
            const struct ether_producer_state *producer = &producers[i];
            cli_text_printf(
                &out,
                "%s{\"producer_id\":%" PRId64 ",\"epoch\":%" PRIu32 ",\"last_sequence\":%" PRId32
                ",\"last_offset\":%" PRId64 ",\"last_timestamp_ms\":%" PRId64 "}",
                i > 0 ? "," : "", producer->producer_id, producer->producer_epoch,
                producer->last_sequence, producer->last_offset, producer->last_timestamp_ms);
        }
        cli_text_printf(&out, "]\n");
    } else {
        cli_text_printf(&out, "%-20s %-6s %-14s %-14s %s\n", "PRODUCER-ID", "EPOCH",
                        "LAST-SEQUENCE", "LAST-OFFSET", "LAST-TIMESTAMP-MS");
        for (size_t i = 0; i < count; i++) {
            const struct ether_producer_state *producer = &producers[i];
            cli_text_printf(
                &out, "%-20" PRId64 " %-6" PRIu32 " %-14" PRId32 " %-14" PRId64 " %" PRId64 "\n",
                producer->producer_id, producer->producer_epoch, producer->last_sequence,
                producer->last_offset, producer->last_timestamp_ms);
        }
        if (count == 0) {
            cli_text_printf(&out, "(no idempotent producer has written to %s/%" PRId32 ")\n",
                            options->topic, options->partition);
        }
    }
    print_text(&out);
    ether_producer_states_free(producers);
    return CLI_EXIT_OK;
}

/* ---- consumer groups ------------------------------------------------------------------------ */

static int run_group_list(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    struct ether_group_list *list = NULL;
    if (ether_group_list(client, options->timeout_ms, &list, errstr, sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "[");
        for (size_t i = 0; i < list->group_count; i++) {
            const struct ether_group_listing *group = &list->groups[i];
            cli_text_printf(&out, "%s{\"group\":", i > 0 ? "," : "");
            cli_json_string(&out, group->group, strlen(group->group));
            cli_text_printf(&out, ",\"state\":");
            cli_json_string(&out, group->state, strlen(group->state));
            cli_text_printf(&out, ",\"members\":%" PRIu32 ",\"coordinator\":%" PRIu32 "}",
                            group->member_count, group->coordinator_id);
        }
        cli_text_printf(&out, "]\n");
    } else {
        cli_text_printf(&out, "%-32s %-22s %-8s %s\n", "GROUP", "STATE", "MEMBERS", "COORDINATOR");
        for (size_t i = 0; i < list->group_count; i++) {
            const struct ether_group_listing *group = &list->groups[i];
            cli_text_printf(&out, "%-32s %-22s %-8" PRIu32 " %" PRIu32 "\n", group->group,
                            group->state[0] != '\0' ? group->state : "-", group->member_count,
                            group->coordinator_id);
        }
        if (list->group_count == 0) {
            cli_text_printf(&out, "(no consumer groups)\n");
        }
    }
    print_text(&out);
    if (list->unanswered_broker_count > 0) {
        struct cli_text ids = {0};
        ids_text(&ids, list->unanswered_broker_ids, list->unanswered_broker_count);
        fprintf(stderr,
                "ether: warning: broker%s %s did not answer; groups coordinated there are not "
                "listed\n",
                list->unanswered_broker_count > 1 ? "s" : "", ids.data);
        cli_text_free(&ids);
    }
    ether_group_list_free(list);
    return CLI_EXIT_OK;
}

/* "-" for -1, else the number. */
static const char *number_or_dash(char *buffer, size_t size, int64_t value)
{
    if (value < 0) {
        return "-";
    }
    snprintf(buffer, size, "%" PRId64, value);
    return buffer;
}

static void group_description_json(const struct ether_group_description *group,
                                   struct cli_text *out)
{
    cli_text_printf(out, "{\"group\":");
    cli_json_string(out, group->group, strlen(group->group));
    cli_text_printf(out, ",\"state\":");
    cli_json_string(out, group->state, strlen(group->state));
    cli_text_printf(out, ",\"generation\":%" PRIu32 ",\"assignor\":", group->generation);
    cli_json_string(out, group->assignor, strlen(group->assignor));
    cli_text_printf(
        out, ",\"protocol\":\"%s\",\"leader\":", group->cooperative ? "cooperative" : "eager");
    cli_json_string(out, group->leader_id, strlen(group->leader_id));
    cli_text_printf(out, ",\"coordinator\":%" PRIu32 ",\"members\":[", group->coordinator_id);
    for (size_t m = 0; m < group->member_count; m++) {
        const struct ether_group_member_info *member = &group->members[m];
        cli_text_printf(out, "%s{\"member_id\":", m > 0 ? "," : "");
        cli_json_string(out, member->member_id, strlen(member->member_id));
        cli_text_printf(out, ",\"client_id\":");
        cli_json_string(out, member->client_id, strlen(member->client_id));
        cli_text_printf(out, ",\"host\":");
        cli_json_string(out, member->host, strlen(member->host));
        cli_text_printf(out, ",\"topics\":[");
        for (size_t t = 0; t < member->topic_count; t++) {
            cli_text_printf(out, "%s", t > 0 ? "," : "");
            cli_json_string(out, member->topics[t], strlen(member->topics[t]));
        }
        cli_text_printf(out, "],\"assignment\":[");
        for (size_t a = 0; a < member->assignment_count; a++) {
            cli_text_printf(out, "%s{\"topic\":", a > 0 ? "," : "");
            cli_json_string(out, member->assignment[a].topic, strlen(member->assignment[a].topic));
            cli_text_printf(out, ",\"partition\":%" PRId32 "}", member->assignment[a].partition);
        }
        cli_text_printf(out, "]}");
    }
    cli_text_printf(out, "],\"offsets\":[");
    for (size_t p = 0; p < group->partition_count; p++) {
        const struct ether_group_partition_info *row = &group->partitions[p];
        cli_text_printf(out, "%s{\"topic\":", p > 0 ? "," : "");
        cli_json_string(out, row->topic, strlen(row->topic));
        cli_text_printf(out,
                        ",\"partition\":%" PRId32 ",\"committed\":%" PRId64 ",\"end\":%" PRId64
                        ",\"lag\":%" PRId64 ",\"member_id\":",
                        row->partition, row->committed_offset, row->end_offset, row->lag);
        cli_json_string(out, row->member_id, strlen(row->member_id));
        cli_text_printf(out, ",\"client_id\":");
        cli_json_string(out, row->client_id, strlen(row->client_id));
        cli_text_printf(out, ",\"host\":");
        cli_json_string(out, row->host, strlen(row->host));
        if (row->error != 0) {
            cli_text_printf(out, ",\"error\":\"%s\"", ether_error_name(row->error));
        }
        cli_text_printf(out, "}");
    }
    cli_text_printf(out, "]}\n");
}

static void group_description_text(const struct ether_group_description *group,
                                   struct cli_text *out)
{
    cli_text_printf(out,
                    "Group %s: %s, generation %" PRIu32 ", assignor %s (%s), coordinator broker "
                    "%" PRIu32 ", %zu member%s\n",
                    group->group, group->state, group->generation,
                    group->assignor[0] != '\0' ? group->assignor : "-",
                    group->cooperative ? "cooperative" : "eager", group->coordinator_id,
                    group->member_count, group->member_count == 1 ? "" : "s");
    cli_text_printf(out, "\n%-24s %-10s %-12s %-12s %-10s %-28s %s\n", "TOPIC", "PARTITION",
                    "COMMITTED", "END", "LAG", "MEMBER", "CLIENT");
    for (size_t p = 0; p < group->partition_count; p++) {
        const struct ether_group_partition_info *row = &group->partitions[p];
        char committed[24];
        char end[24];
        char lag[24];
        cli_text_printf(out, "%-24s %-10" PRId32 " %-12s %-12s %-10s %-28s %s\n", row->topic,
                        row->partition,
                        number_or_dash(committed, sizeof committed, row->committed_offset),
                        number_or_dash(end, sizeof end, row->end_offset),
                        number_or_dash(lag, sizeof lag, row->lag),
                        row->member_id[0] != '\0' ? row->member_id : "-",
                        row->client_id[0] != '\0' ? row->client_id : "-");
    }
    if (group->partition_count == 0) {
        cli_text_printf(out, "(no partitions: nothing subscribed, assigned or committed)\n");
    }
    cli_text_printf(out, "\n%-28s %-16s %-16s %-24s %s\n", "MEMBER-ID", "CLIENT-ID", "HOST",
                    "TOPICS", "PARTITIONS");
    for (size_t m = 0; m < group->member_count; m++) {
        const struct ether_group_member_info *member = &group->members[m];
        struct cli_text topics = {0};
        for (size_t t = 0; t < member->topic_count; t++) {
            cli_text_printf(&topics, "%s%s", t > 0 ? "," : "", member->topics[t]);
        }
        struct cli_text partitions = {0};
        for (size_t a = 0; a < member->assignment_count; a++) {
            cli_text_printf(&partitions, "%s%s/%" PRId32, a > 0 ? "," : "",
                            member->assignment[a].topic, member->assignment[a].partition);
        }
        cli_text_printf(out, "%-28s %-16s %-16s %-24s %s\n", member->member_id,
                        member->client_id[0] != '\0' ? member->client_id : "-",
                        member->host[0] != '\0' ? member->host : "-",
                        topics.length > 0 ? topics.data : "-",
                        partitions.length > 0 ? partitions.data : "-");
        cli_text_free(&topics);
        cli_text_free(&partitions);
    }
    if (group->member_count == 0) {
        cli_text_printf(out, "(no members)\n");
    }
}

static int run_group_describe(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    struct ether_group_description *group = NULL;
    if (ether_group_describe(client, options->group, options->timeout_ms, &group, errstr,
                             sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        group_description_json(group, &out);
    } else {
        group_description_text(group, &out);
    }
    print_text(&out);
    ether_group_description_free(group);
    return CLI_EXIT_OK;
}

static int run_group_reset_offsets(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    enum ether_group_reset to = ETHER_GROUP_RESET_EARLIEST;
    switch (options->reset) {
    case CLI_RESET_NONE:
    case CLI_RESET_EARLIEST:
        to = ETHER_GROUP_RESET_EARLIEST;
        break;
    case CLI_RESET_LATEST:
        to = ETHER_GROUP_RESET_LATEST;
        break;
    case CLI_RESET_OFFSET:
        to = ETHER_GROUP_RESET_OFFSET;
        break;
    case CLI_RESET_TIMESTAMP:
        to = ETHER_GROUP_RESET_TIMESTAMP;
        break;
    }
    struct ether_topic_partition *offsets = NULL;
    size_t count = 0;
    if (ether_group_reset_offsets(client, options->group, options->topic, to, options->reset_value,
                                  options->timeout_ms, &offsets, &count, errstr,
                                  sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out, "{\"group\":");
        cli_json_string(&out, options->group, strlen(options->group));
        cli_text_printf(&out, ",\"topic\":");
        cli_json_string(&out, options->topic, strlen(options->topic));
        cli_text_printf(&out, ",\"offsets\":[");
        for (size_t i = 0; i < count; i++) {
            cli_text_printf(&out, "%s{\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}",
                            i > 0 ? "," : "", offsets[i].partition, offsets[i].offset);
        }
        cli_text_printf(&out, "]}\n");
    } else {
        cli_text_printf(&out, "Reset the committed offsets of group %s for topic %s:\n%-10s %s\n",
                        options->group, options->topic, "PARTITION", "OFFSET");
        for (size_t i = 0; i < count; i++) {
            cli_text_printf(&out, "%-10" PRId32 " %" PRId64 "\n", offsets[i].partition,
                            offsets[i].offset);
        }
    }
    print_text(&out);
    ether_topic_partitions_free(offsets, count);
    return CLI_EXIT_OK;
}

static int run_group_delete(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    if (ether_group_delete(client, options->group, options->timeout_ms, errstr, sizeof errstr) !=
        0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    char sentence[ERRSTR_BYTES];
    snprintf(sentence, sizeof sentence, "Deleted consumer group %s", options->group);
    return print_done(options, sentence);
}

/* ---- users and ACLs ------------------------------------------------------------------------ */

static int run_user_create(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    char password[PASSWORD_BYTES_MAX + 3];
    if (options->user_password != NULL) {
        snprintf(password, sizeof password, "%s", options->user_password);
    } else if (!read_password_file("--password-file", options->user_password_file, password,
                                   sizeof password, errstr, sizeof errstr)) {
        explicit_bzero(password, sizeof password); /* a partial line may be there */
        return fail(CLI_EXIT_USAGE, "%s", errstr);
    }
    int rc =
        ether_user_create(client, options->user_name, password, options->iterations,
                          options->replace ? 1 : 0, options->timeout_ms, errstr, sizeof errstr);
    explicit_bzero(password, sizeof password);
    if (rc != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    char sentence[ERRSTR_BYTES];
    snprintf(sentence, sizeof sentence,
             options->replace ? "Set the password of user %s" : "Created user %s",
             options->user_name);
    return print_done(options, sentence);
}

static int run_user_delete(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    if (ether_user_delete(client, options->user_name, options->timeout_ms, errstr, sizeof errstr) !=
        0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    char sentence[ERRSTR_BYTES];
    snprintf(sentence, sizeof sentence, "Deleted user %s", options->user_name);
    return print_done(options, sentence);
}

static int run_user_list(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    struct ether_user *users = NULL;
    size_t count = 0;
    if (ether_user_list(client, options->timeout_ms, &users, &count, errstr, sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    cli_users_format(&out, users, count, options->output);
    print_text(&out);
    ether_users_free(users, count);
    return CLI_EXIT_OK;
}

/* acl create and acl delete: one binding per operation, in the order given. */
static int run_acl_write(const struct cli_options *options, struct ether_client *client,
                         bool create)
{
    char errstr[ERRSTR_BYTES];
    struct cli_text done = {0};
    for (size_t i = 0; i < options->acl_operation_count; i++) {
        struct ether_acl acl = {
            .principal = options->acl_principal,
            .resource_type = options->acl_resource_type,
            .resource_name = options->acl_resource_name,
            .pattern =
                options->acl_prefixed ? ETHER_ACL_PATTERN_PREFIXED : ETHER_ACL_PATTERN_LITERAL,
            .operation = options->acl_operations[i],
            .permission = options->acl_permission,
        };
        int rc = create
                     ? ether_acl_create(client, &acl, options->timeout_ms, errstr, sizeof errstr)
                     : ether_acl_delete(client, &acl, options->timeout_ms, errstr, sizeof errstr);
        if (rc != 0) {
            /* Bindings already written stay: say which, so that a retry can skip them. */
            const char *before = create ? "; created before it: " : "; deleted before it: ";
            int status = fail(CLI_EXIT_ERROR, "%s%s%s", errstr, done.length > 0 ? before : "",
                              done.length > 0 ? done.data : "");
            cli_text_free(&done);
            return status;
        }
        cli_text_printf(&done, "%s", done.length > 0 ? "; " : "");
        cli_acl_describe(&done, &acl);
    }
    char sentence[ERRSTR_BYTES * 2];
    snprintf(sentence, sizeof sentence, "%s ACL binding%s: %s", create ? "Created" : "Deleted",
             options->acl_operation_count > 1 ? "s" : "", done.data);
    cli_text_free(&done);
    return print_done(options, sentence);
}

static int run_acl_list(const struct cli_options *options, struct ether_client *client)
{
    char errstr[ERRSTR_BYTES];
    struct ether_acl *acls = NULL;
    size_t count = 0;
    if (ether_acl_list(client, options->acl_principal, options->acl_resource_type,
                       options->acl_resource_name, options->timeout_ms, &acls, &count, errstr,
                       sizeof errstr) != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct cli_text out = {0};
    cli_acls_format(&out, acls, count, options->output);
    print_text(&out);
    ether_acls_free(acls, count);
    return CLI_EXIT_OK;
}

/* ---- produce ------------------------------------------------------------------------------ */

struct produce_state {
    const struct cli_options *options;
    size_t failed;
    size_t produced;
    char first_error[ERRSTR_BYTES];
};

static void on_produce_delivery(void *context, const struct ether_delivery *delivery)
{
    struct produce_state *state = context;
    size_t line = (size_t)(uintptr_t)delivery->record_context;
    struct cli_text out = {0};
    bool json = state->options->output == CLI_OUTPUT_JSON;
    if (delivery->error != 0) {
        state->failed++;
        if (state->first_error[0] == '\0') {
            snprintf(state->first_error, sizeof state->first_error, "%s", delivery->error_message);
        }
        if (json) {
            cli_text_printf(&out, "{\"line\":%zu,\"error\":\"%s\",\"message\":", line,
                            ether_error_name(delivery->error));
            cli_json_string(&out, delivery->error_message, strlen(delivery->error_message));
            cli_text_printf(&out, "}\n");
        } else {
            fprintf(stderr, "ether: record %zu was not produced: %s\n", line,
                    delivery->error_message);
        }
    } else {
        state->produced++;
        if (json) {
            cli_text_printf(&out,
                            "{\"line\":%zu,\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}\n",
                            line, delivery->partition, delivery->offset);
        } else if (delivery->offset >= 0) {
            cli_text_printf(&out, "Produced to partition %" PRId32 " at offset %" PRId64 "\n",
                            delivery->partition, delivery->offset);
        } else {
            cli_text_printf(&out,
                            "Produced to partition %" PRId32 " (offset unknown with acks=0)\n",
                            delivery->partition);
        }
    }
    print_text(&out);
}

static int run_produce(const struct cli_options *options)
{
    struct produce_state state = {.options = options};
    const char *settings[] = {"acks", options->acks, NULL};
    struct ether_client *client = client_new(options, settings, on_produce_delivery, &state);
    if (client == NULL) {
        return CLI_EXIT_ERROR;
    }
    char *line = NULL;
    size_t line_capacity = 0;
    ssize_t line_bytes = 0;
    size_t lines = 0;
    int status = CLI_EXIT_OK;
    const char *key = options->key;
    while ((line_bytes = getline(&line, &line_capacity, stdin)) >= 0) {
        if (line_bytes > 0 && line[line_bytes - 1] == '\n') {
            line_bytes--;
        }
        lines++;
        for (;;) {
            int rc = ether_produce(client, options->topic, options->partition, key,
                                   key != NULL ? strlen(key) : 0, line, (size_t)line_bytes, 0,
                                   (void *)(uintptr_t)lines);
            if (rc == ETHER_ERR_BUSY) {
                ether_poll(client, 100);
                continue;
            }
            if (rc != 0) {
                status = fail(CLI_EXIT_ERROR, "line %zu cannot be produced: %s", lines,
                              ether_strerror(rc));
            }
            break;
        }
        if (status != CLI_EXIT_OK) {
            break;
        }
        ether_poll(client, 0);
    }
    free(line);
    ether_flush(client, -1);
    ether_client_destroy(client);
    if (status == CLI_EXIT_OK && state.failed > 0) {
        status = fail(CLI_EXIT_ERROR, "%zu of %zu records were not produced; the first failure: %s",
                      state.failed, lines, state.first_error);
    }
    return status;
}

/* ---- consume ------------------------------------------------------------------------------ */

struct consume_partition {
    int64_t next_offset;
    int64_t end_offset; /* without --follow: stop here */
};

static int resolve_start(const struct cli_options *options, struct ether_client *client,
                         int32_t partition, int64_t *start, int64_t *end)
{
    char errstr[ERRSTR_BYTES];
    int rc = 0;
    switch (options->start) {
    case CLI_START_BEGINNING:
        rc = ether_list_offset(client, options->topic, partition, ETHER_OFFSET_QUERY_EARLIEST, 0,
                               options->timeout_ms, start, errstr, sizeof errstr);
        break;
    case CLI_START_END:
        rc = ether_list_offset(client, options->topic, partition, ETHER_OFFSET_QUERY_LATEST, 0,
                               options->timeout_ms, start, errstr, sizeof errstr);
        break;
    case CLI_START_TIMESTAMP:
        rc = ether_list_offset(client, options->topic, partition, ETHER_OFFSET_QUERY_TIMESTAMP,
                               options->start_value, options->timeout_ms, start, errstr,
                               sizeof errstr);
        break;
    case CLI_START_OFFSET:
        *start = options->start_value;
        break;
    }
    if (rc == 0 && !options->follow) {
        rc = ether_list_offset(client, options->topic, partition, ETHER_OFFSET_QUERY_LATEST, 0,
                               options->timeout_ms, end, errstr, sizeof errstr);
    }
    if (rc != 0) {
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    return CLI_EXIT_OK;
}

/* ---- consume as a group member ----------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int signal_number)
{
    stop_signal = signal_number;
}

/* Prints one consumed record with the options' format. */
static void print_record(const struct cli_options *options, const struct ether_message *message)
{
    struct cli_record record = {
        .topic = message->topic,
        .partition = message->partition,
        .offset = message->offset,
        .timestamp_ms = message->timestamp_ms,
        .key = message->key,
        .key_bytes = message->key_bytes,
        .value = message->value,
        .value_bytes = message->value_bytes,
    };
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_record_json(&out, &record);
    } else {
        cli_template_format(
            &out, options->output == CLI_OUTPUT_TEMPLATE ? options->template_text : "%v\\n",
            &record);
    }
    print_text(&out);
}

/*
 * consume --group: subscribes, prints what the group assigns, and auto-commits
 * what was printed (the library commits a message once the next one is asked
 * for). On --count or SIGINT/SIGTERM: commits synchronously and leaves.
 */
static int run_consume_group(const struct cli_options *options)
{
    enum { GROUP_SETTINGS_MAX = 4 * 2 + 2 * CLI_SETTINGS_MAX + 1 };
    const char *settings[GROUP_SETTINGS_MAX];
    char *names[CLI_SETTINGS_MAX];
    size_t used = 0;
    settings[used++] = "group_id";
    settings[used++] = options->group;
    if (options->start == CLI_START_BEGINNING) {
        settings[used++] = "auto_offset_reset";
        settings[used++] = "earliest";
    }
    if (options->group_assignor != NULL) {
        settings[used++] = "group_assignor";
        settings[used++] = options->group_assignor;
    }
    if (options->group_protocol != NULL) {
        settings[used++] = "group_protocol";
        settings[used++] = options->group_protocol;
    }
    for (size_t i = 0; i < options->setting_count; i++) {
        names[i] = strndup(options->settings[i].name, options->settings[i].name_bytes);
        if (names[i] == NULL) {
            abort();
        }
        settings[used++] = names[i];
        settings[used++] = options->settings[i].value;
    }
    settings[used] = NULL;
    int status = CLI_EXIT_ERROR;
    struct ether_client *client = client_new_status(options, settings, NULL, NULL, &status);
    for (size_t i = 0; i < options->setting_count; i++) {
        free(names[i]);
    }
    if (client == NULL) {
        return status;
    }
    char errstr[ERRSTR_BYTES];
    const char *topics[] = {options->topic};
    if (ether_subscribe(client, topics, 1, errstr, sizeof errstr) != 0) {
        ether_client_destroy(client);
        return fail(CLI_EXIT_ERROR, "%s", errstr);
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    struct sigaction old_interrupt;
    struct sigaction old_terminate;
    stop_signal = 0;
    sigaction(SIGINT, &action, &old_interrupt);
    sigaction(SIGTERM, &action, &old_terminate);

    status = CLI_EXIT_OK;
    uint64_t printed = 0;
    while (stop_signal == 0 && (options->record_count == 0 || printed < options->record_count)) {
        struct ether_message *message = ether_consume(client, 200);
        if (message == NULL) {
            continue;
        }
        if (message->error != 0) {
            status = fail(CLI_EXIT_ERROR, "%s", message->error_message);
            ether_message_free(message);
            break;
        }
        print_record(options, message);
        printed++;
        ether_message_free(message);
    }
    /* Everything printed is committed before leaving, so the group goes on after it. */
    if (status == CLI_EXIT_OK &&
        ether_commit_sync(client, options->timeout_ms, errstr, sizeof errstr) != 0) {
        status = fail(CLI_EXIT_ERROR, "cannot commit what was consumed: %s", errstr);
    }
    int rc = ether_unsubscribe(client, options->timeout_ms);
    if (rc != 0 && status == CLI_EXIT_OK) {
        status = fail(CLI_EXIT_ERROR, "cannot leave consumer group %s cleanly: %s", options->group,
                      ether_strerror(rc));
    }
    ether_client_destroy(client);
    sigaction(SIGINT, &old_interrupt, NULL);
    sigaction(SIGTERM, &old_terminate, NULL);
    return status;
}

static int run_consume(const struct cli_options *options)
{
    if (options->group != NULL) {
        return run_consume_group(options);
    }
    struct ether_client *client = client_new(options, NULL, NULL, NULL);
    if (client == NULL) {
        return CLI_EXIT_ERROR;
    }
    int status = CLI_EXIT_OK;
    size_t partition_count = 1;
    int32_t first_partition = options->partition;
    if (options->partition < 0) {
        struct ether_cluster *cluster = NULL;
        status = describe(client, options, options->topic, &cluster);
        if (status != CLI_EXIT_OK) {
            ether_client_destroy(client);
            return status;
        }
        partition_count = cluster->topics[0].partition_count;
        first_partition = 0;
        ether_cluster_free(cluster);
    }
    struct consume_partition *partitions = calloc(partition_count + 1, sizeof *partitions);
    if (partitions == NULL) {
        abort();
    }
    size_t done = 0;
    for (size_t i = 0; i < partition_count && status == CLI_EXIT_OK; i++) {
        int32_t partition = first_partition + (int32_t)i;
        status = resolve_start(options, client, partition, &partitions[i].next_offset,
                               &partitions[i].end_offset);
        if (status == CLI_EXIT_OK) {
            if (!options->follow && partitions[i].next_offset >= partitions[i].end_offset) {
                done++; /* nothing to read there: do not fetch past its end */
                continue;
            }
            ether_assign(client, options->topic, partition, partitions[i].next_offset);
        }
    }
    const char *template_text =
        options->output == CLI_OUTPUT_TEMPLATE ? options->template_text : "%v\\n";
    uint64_t idle_since_ns = monotonic_ns();
    uint64_t printed = 0;
    while (status == CLI_EXIT_OK && (options->follow || done < partition_count) &&
           (options->record_count == 0 || printed < options->record_count)) {
        struct ether_message *message = ether_consume(client, 200);
        if (message == NULL) {
            uint64_t idle_ms = (monotonic_ns() - idle_since_ns) / 1000000u;
            if (!options->follow && idle_ms > (uint64_t)options->timeout_ms) {
                status = fail(CLI_EXIT_ERROR,
                              "no records arrived within %d ms although the end was not reached",
                              options->timeout_ms);
            }
            continue;
        }
        idle_since_ns = monotonic_ns();
        if (message->error != 0) {
            status = fail(CLI_EXIT_ERROR, "%s", message->error_message);
            ether_message_free(message);
            break;
        }
        struct consume_partition *state = &partitions[message->partition - first_partition];
        bool past_end = !options->follow && message->offset >= state->end_offset;
        if (!past_end) {
            struct cli_record record = {
                .topic = message->topic,
                .partition = message->partition,
                .offset = message->offset,
                .timestamp_ms = message->timestamp_ms,
                .key = message->key,
                .key_bytes = message->key_bytes,
                .value = message->value,
                .value_bytes = message->value_bytes,
            };
            struct cli_text out = {0};
            if (options->output == CLI_OUTPUT_JSON) {
                cli_record_json(&out, &record);
            } else {
                cli_template_format(&out, template_text, &record);
            }
            print_text(&out);
            printed++;
            bool was_done = state->next_offset >= state->end_offset;
            state->next_offset = message->offset + 1;
            if (!options->follow && !was_done && state->next_offset >= state->end_offset) {
                done++;
            }
        }
        ether_message_free(message);
    }
    free(partitions);
    ether_client_destroy(client);
    return status;
}

/* ---- bench -------------------------------------------------------------------------------- */

struct latencies {
    uint64_t *values_us;
    size_t count;
    size_t capacity;
};

static void latencies_add(struct latencies *latencies, uint64_t value_us)
{
    if (latencies->count == latencies->capacity) {
        latencies->capacity = latencies->capacity > 0 ? latencies->capacity * 2 : 4096;
        latencies->values_us =
            realloc(latencies->values_us, latencies->capacity * sizeof *latencies->values_us);
        if (latencies->values_us == NULL) {
            abort();
        }
    }
    latencies->values_us[latencies->count++] = value_us;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t left = *(const uint64_t *)a;
    uint64_t right = *(const uint64_t *)b;
    return (left > right) - (left < right);
}

struct bench {
    const struct cli_options *options;
    atomic_uint_fast64_t records_done;
    atomic_uint_fast64_t errors;
    atomic_bool stop;
    uint64_t start_ns;
    char first_error[ERRSTR_BYTES];
    pthread_mutex_t mutex; /* first_error */
};

struct bench_producer {
    struct bench *bench;
    pthread_t thread;
    uint64_t record_count; /* 0: until stop */
    struct latencies latencies;
    int status;
};

static void on_bench_delivery(void *context, const struct ether_delivery *delivery)
{
    struct bench_producer *producer = context;
    struct bench *bench = producer->bench;
    if (delivery->error != 0) {
        atomic_fetch_add(&bench->errors, 1);
        pthread_mutex_lock(&bench->mutex);
        if (bench->first_error[0] == '\0') {
            snprintf(bench->first_error, sizeof bench->first_error, "%s", delivery->error_message);
        }
        pthread_mutex_unlock(&bench->mutex);
        return;
    }
    uint64_t sent_ns = (uint64_t)(uintptr_t)delivery->record_context;
    latencies_add(&producer->latencies, (monotonic_ns() - sent_ns) / 1000u);
    atomic_fetch_add(&bench->records_done, 1);
}

static void *bench_producer_main(void *argument)
{
    struct bench_producer *producer = argument;
    const struct cli_options *options = producer->bench->options;
    char batch_bytes[32];
    char linger_ms[32];
    snprintf(batch_bytes, sizeof batch_bytes, "%" PRIu32, options->batch_bytes);
    snprintf(linger_ms, sizeof linger_ms, "%" PRIu32, options->linger_ms);
    const char *settings[] = {"acks",    options->acks, "batch_bytes", batch_bytes, "linger_ms",
                              linger_ms, NULL,          NULL,          NULL};
    if (options->idempotence != NULL) {
        settings[6] = "enable_idempotence";
        settings[7] = strcmp(options->idempotence, "on") == 0 ? "true" : "false";
    }
    struct ether_client *client = client_new(options, settings, on_bench_delivery, producer);
    if (client == NULL) {
        producer->status = CLI_EXIT_ERROR;
        return NULL;
    }
    /* Values are slices of a pool of random bytes, so compression cannot shrink them and
     * the figures measure bytes that really reach the disks. */
    enum { VALUE_POOL_BYTES = 4 * 1024 * 1024 };
    size_t pool_bytes = VALUE_POOL_BYTES + (size_t)options->record_bytes;
    unsigned char *pool = malloc(pool_bytes);
    if (pool == NULL) {
        abort();
    }
    uint64_t state = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)producer;
    for (size_t i = 0; i < pool_bytes; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        pool[i] = (unsigned char)state;
    }
    uint64_t started_ns = monotonic_ns();
    for (uint64_t sent = 0; (producer->record_count == 0 || sent < producer->record_count) &&
                            !atomic_load(&producer->bench->stop);) {
        if (options->throughput_records_per_s > 0 &&
            sent * 1000000000ull >
                (monotonic_ns() - started_ns) * options->throughput_records_per_s) {
            ether_poll(client, 1); /* ahead of the asked rate: serve reports meanwhile */
            continue;
        }
        const unsigned char *value = pool + (sent * 4099) % VALUE_POOL_BYTES;
        int rc = ether_produce(client, options->topic, ETHER_PARTITION_ANY, NULL, 0, value,
                               options->record_bytes, 0, (void *)(uintptr_t)monotonic_ns());
        if (rc == ETHER_ERR_BUSY) {
            ether_poll(client, 5);
            continue;
        }
        if (rc != 0) {
            producer->status = fail(CLI_EXIT_ERROR, "cannot produce: %s", ether_strerror(rc));
            break;
        }
        sent++;
        if (sent % 1024 == 0) {
            ether_poll(client, 0);
        }
    }
    ether_flush(client, -1);
    ether_client_destroy(client);
    free(pool);
    return NULL;
}

static void bench_progress(struct bench *bench, uint64_t *last_records, uint64_t *last_ns,
                           uint32_t record_bytes)
{
    uint64_t now = monotonic_ns();
    uint64_t records = atomic_load(&bench->records_done);
    double seconds = (double)(now - *last_ns) / 1e9;
    double rate = seconds > 0 ? (double)(records - *last_records) / seconds : 0;
    fprintf(stderr,
            "%8.1f s  %12" PRIu64 " records  %10.0f records/s  %8.2f MB/s  %" PRIu64 " errors\n",
            (double)(now - bench->start_ns) / 1e9, records, rate,
            rate * record_bytes / (1024.0 * 1024.0), (uint64_t)atomic_load(&bench->errors));
    *last_records = records;
    *last_ns = now;
}

static void bench_summary(const struct cli_options *options, struct bench *bench,
                          struct latencies *all, uint64_t bytes_total, const char *what)
{
    double seconds = (double)(monotonic_ns() - bench->start_ns) / 1e9;
    uint64_t records = atomic_load(&bench->records_done);
    if (all->count > 0) {
        qsort(all->values_us, all->count, sizeof *all->values_us, compare_u64);
    }
    double p50 = (double)cli_percentile(all->values_us, all->count, 50) / 1000.0;
    double p99 = (double)cli_percentile(all->values_us, all->count, 99) / 1000.0;
    double p999 = (double)cli_percentile(all->values_us, all->count, 99.9) / 1000.0;
    double max = all->count > 0 ? (double)all->values_us[all->count - 1] / 1000.0 : 0;
    double records_per_second = seconds > 0 ? (double)records / seconds : 0;
    double mb_per_second = seconds > 0 ? (double)bytes_total / (1024.0 * 1024.0) / seconds : 0;
    /* Producing: whether batches were idempotent, as asked (the library's default is on
     * with acks=all, unless the cluster does not know INIT_PRODUCER_ID). */
    const char *idempotence = NULL;
    if (options->verb == CLI_BENCH_PRODUCE) {
        idempotence = options->idempotence != NULL        ? options->idempotence
                      : strcmp(options->acks, "all") == 0 ? "on"
                                                          : "off";
    }
    struct cli_text out = {0};
    if (options->output == CLI_OUTPUT_JSON) {
        cli_text_printf(&out,
                        "{\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
                        ",\"seconds\":%.3f,\"records_per_second\":%.1f,\"mb_per_second\":%.3f,"
                        "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p99.9\":%.3f,\"max\":%.3f},"
                        "\"errors\":%" PRIu64 "%s%s%s}\n",
                        records, bytes_total, seconds, records_per_second, mb_per_second, p50, p99,
                        p999, max, (uint64_t)atomic_load(&bench->errors),
                        idempotence != NULL ? ",\"idempotence\":\"" : "",
                        idempotence != NULL ? idempotence : "", idempotence != NULL ? "\"" : "");
    } else {
        cli_text_printf(&out,
                        "%s %" PRIu64 " records in %.2f s: %.0f records/s, %.2f MB/s%s%s%s\n"
                        "latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n"
                        "errors: %" PRIu64 "\n",
                        what, records, seconds, records_per_second, mb_per_second,
                        idempotence != NULL ? " (idempotence " : "",
                        idempotence != NULL ? idempotence : "", idempotence != NULL ? ")" : "", p50,
                        p99, p999, max, (uint64_t)atomic_load(&bench->errors));
    }
    print_text(&out);
}

/* Waits until `finished` says so or the duration passes, printing progress each second. */
static void bench_wait(struct bench *bench, bool (*finished)(void *), void *context)
{
    uint64_t last_records = 0;
    uint64_t last_ns = bench->start_ns;
    uint64_t next_progress_ns = bench->start_ns + 1000000000u;
    uint64_t end_ns = bench->start_ns + (uint64_t)bench->options->duration_s * 1000000000u;
    while (!finished(context)) {
        usleep(20000);
        uint64_t now = monotonic_ns();
        if (now >= next_progress_ns) {
            bench_progress(bench, &last_records, &last_ns, bench->options->record_bytes);
            next_progress_ns += 1000000000u;
        }
        if (bench->options->record_count == 0 && now >= end_ns) {
            atomic_store(&bench->stop, true);
        }
    }
}

struct producers_view {
    struct bench *bench;
    uint32_t count;
    atomic_uint *finished;
};

static bool producers_finished(void *context)
{
    struct producers_view *view = context;
    return atomic_load(view->finished) == view->count;
}

struct producer_thread_argument {
    struct bench_producer *producer;
    atomic_uint *finished;
};

static void *bench_producer_thread(void *argument)
{
    struct producer_thread_argument *thread_argument = argument;
    bench_producer_main(thread_argument->producer);
    atomic_fetch_add(thread_argument->finished, 1);
    return NULL;
}

static int run_bench_produce(const struct cli_options *options)
{
    struct bench bench = {.options = options, .start_ns = monotonic_ns()};
    pthread_mutex_init(&bench.mutex, NULL);
    uint32_t count = options->producer_count;
    struct bench_producer *producers = calloc(count, sizeof *producers);
    struct producer_thread_argument *arguments = calloc(count, sizeof *arguments);
    atomic_uint finished = 0;
    if (producers == NULL || arguments == NULL) {
        abort();
    }
    for (uint32_t i = 0; i < count; i++) {
        producers[i].bench = &bench;
        producers[i].record_count =
            options->record_count / count + (i == 0 ? options->record_count % count : 0);
        if (options->record_count != 0 && producers[i].record_count == 0) {
            atomic_fetch_add(&finished, 1);
            continue;
        }
        arguments[i].producer = &producers[i];
        arguments[i].finished = &finished;
        pthread_create(&producers[i].thread, NULL, bench_producer_thread, &arguments[i]);
    }
    struct producers_view view = {&bench, count, &finished};
    bench_wait(&bench, producers_finished, &view);
    struct latencies all = {0};
    int status = CLI_EXIT_OK;
    for (uint32_t i = 0; i < count; i++) {
        if (producers[i].thread != 0) {
            pthread_join(producers[i].thread, NULL);
        }
        for (size_t v = 0; v < producers[i].latencies.count; v++) {
            latencies_add(&all, producers[i].latencies.values_us[v]);
        }
        free(producers[i].latencies.values_us);
        if (producers[i].status != CLI_EXIT_OK) {
            status = producers[i].status;
        }
    }
    uint64_t records = atomic_load(&bench.records_done);
    bench_summary(options, &bench, &all, records * options->record_bytes, "produced");
    if (status == CLI_EXIT_OK && atomic_load(&bench.errors) > 0) {
        status = fail(CLI_EXIT_ERROR, "%" PRIu64 " records failed; the first failure: %s",
                      (uint64_t)atomic_load(&bench.errors), bench.first_error);
    }
    free(all.values_us);
    free(arguments);
    free(producers);
    pthread_mutex_destroy(&bench.mutex);
    return status;
}

struct consumer_state {
    struct bench *bench;
    struct ether_client *client;
    struct latencies latencies;
    uint64_t bytes;
    int status;
};

static bool consumer_finished(void *context)
{
    struct consumer_state *state = context;
    const struct cli_options *options = state->bench->options;
    /* Drains what the client has fetched; bench_wait sleeps only when this runs dry. */
    for (int i = 0;; i++) {
        if (atomic_load(&state->bench->stop) ||
            (options->record_count != 0 &&
             atomic_load(&state->bench->records_done) >= options->record_count)) {
            return true;
        }
        struct ether_message *message = ether_consume(state->client, i == 0 ? 20 : 0);
        if (message == NULL) {
            return false;
        }
        if (message->error != 0) {
            state->status = fail(CLI_EXIT_ERROR, "%s", message->error_message);
            ether_message_free(message);
            return true;
        }
        int64_t age_ms = wall_ms() - message->timestamp_ms;
        latencies_add(&state->latencies, age_ms > 0 ? (uint64_t)age_ms * 1000u : 0);
        state->bytes += message->value_bytes + message->key_bytes;
        atomic_fetch_add(&state->bench->records_done, 1);
        ether_message_free(message);
    }
}

static int run_bench_consume(const struct cli_options *options)
{
    struct bench bench = {.options = options};
    pthread_mutex_init(&bench.mutex, NULL);
    struct consumer_state state = {.bench = &bench};
    state.client = client_new(options, NULL, NULL, NULL);
    if (state.client == NULL) {
        return CLI_EXIT_ERROR;
    }
    struct ether_cluster *cluster = NULL;
    int status = describe(state.client, options, options->topic, &cluster);
    if (status == CLI_EXIT_OK) {
        for (size_t p = 0; p < cluster->topics[0].partition_count; p++) {
            ether_assign(state.client, options->topic, (int32_t)p, ETHER_OFFSET_BEGINNING);
        }
        ether_cluster_free(cluster);
        bench.start_ns = monotonic_ns();
        bench_wait(&bench, consumer_finished, &state);
        fputs("(latency: now minus each record's timestamp)\n", stderr);
        bench_summary(options, &bench, &state.latencies, state.bytes, "consumed");
        status = state.status;
    }
    free(state.latencies.values_us);
    ether_client_destroy(state.client);
    pthread_mutex_destroy(&bench.mutex);
    return status;
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    struct cli_options options;
    char errstr[ERRSTR_BYTES];
    if (cli_parse(argc, argv, &options, errstr, sizeof errstr) != CLI_EXIT_OK) {
        return fail(CLI_EXIT_USAGE, "%s", errstr);
    }
    switch (options.verb) {
    case CLI_HELP: {
        struct cli_text out = {0};
        cli_help(options.help_group, options.help_topic, &out);
        print_text(&out);
        return CLI_EXIT_OK;
    }
    case CLI_VERSION:
        printf("ether %s\n", ether_version());
        return CLI_EXIT_OK;
    case CLI_PRODUCE:
        return run_produce(&options);
    case CLI_CONSUME:
        return run_consume(&options);
    case CLI_BENCH_PRODUCE:
        return run_bench_produce(&options);
    case CLI_BENCH_CONSUME:
        return run_bench_consume(&options);
    default:
        break;
    }
    struct ether_client *client = client_new(&options, NULL, NULL, NULL);
    if (client == NULL) {
        return CLI_EXIT_ERROR;
    }
    int status = CLI_EXIT_ERROR;
    switch (options.verb) {
    case CLI_CLUSTER_STATUS:
        status = run_cluster_status(&options, client);
        break;
    case CLI_CLUSTER_HEALTH:
        status = run_cluster_health(&options, client);
        break;
    case CLI_BROKER_LIST:
        status = run_broker_list(&options, client);
        break;
    case CLI_TOPIC_CREATE:
        status = run_topic_create(&options, client);
        break;
    case CLI_TOPIC_LIST:
        status = run_topic_list(&options, client);
        break;
    case CLI_TOPIC_DESCRIBE:
        status = run_topic_describe(&options, client);
        break;
    case CLI_TOPIC_DELETE:
        status = run_topic_delete(&options, client);
        break;
    case CLI_TOPIC_ALTER_CONFIG:
        status = run_topic_alter_config(&options, client);
        break;
    case CLI_PARTITION_TRANSFER_LEADER:
        status = run_transfer_leader(&options, client);
        break;
    case CLI_TOPIC_DESCRIBE_PRODUCERS:
        status = run_describe_producers(&options, client);
        break;
    case CLI_GROUP_LIST:
        status = run_group_list(&options, client);
        break;
    case CLI_GROUP_DESCRIBE:
        status = run_group_describe(&options, client);
        break;
    case CLI_GROUP_RESET_OFFSETS:
        status = run_group_reset_offsets(&options, client);
        break;
    case CLI_GROUP_DELETE:
        status = run_group_delete(&options, client);
        break;
    case CLI_USER_CREATE:
        status = run_user_create(&options, client);
        break;
    case CLI_USER_DELETE:
        status = run_user_delete(&options, client);
        break;
    case CLI_USER_LIST:
        status = run_user_list(&options, client);
        break;
    case CLI_ACL_CREATE:
        status = run_acl_write(&options, client, true);
        break;
    case CLI_ACL_DELETE:
        status = run_acl_write(&options, client, false);
        break;
    case CLI_ACL_LIST:
        status = run_acl_list(&options, client);
        break;
    default:
        break;
    }
    ether_client_destroy(client);
    return status;
}
