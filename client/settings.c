/*
 * settings.c: the configuration properties of a client (one table: name,
 * parser, field) and the bootstrap broker list parser. Pure: no I/O.
 */
#include "client/client_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/panic.h"
#include "common/scram.h"

int client_error(char *errstr, size_t errstr_size, int code, const char *format, ...)
{
    if (errstr != NULL && errstr_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(errstr, errstr_size, format, args);
        va_end(args);
    }
    return code;
}

/* A copy of the environment variable `name`, or of `fallback` when it is unset or empty. */
static char *from_environment(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return ether_strdup(value != NULL && value[0] != '\0' ? value : fallback);
}

void client_settings_init(struct client_settings *settings)
{
    memset(settings, 0, sizeof *settings);
    settings->brokers = from_environment("ETHER_BROKERS", CLIENT_DEFAULT_BROKERS);
    settings->tls_ca_file = from_environment("ETHER_TLS_CA_FILE", "");
    settings->tls_certificate_file = from_environment("ETHER_TLS_CERTIFICATE_FILE", "");
    settings->tls_private_key_file = from_environment("ETHER_TLS_PRIVATE_KEY_FILE", "");
    settings->sasl_username = from_environment("ETHER_SASL_USERNAME", "");
    settings->sasl_password = from_environment("ETHER_SASL_PASSWORD", "");
    settings->client_id = ether_strdup("ether");
    settings->rack = ether_strdup("");
    settings->producer_name = ether_strdup("");
    settings->idempotence = CLIENT_IDEMPOTENCE_DEFAULT;
    settings->acks = CLIENT_ACKS_ALL;
    settings->linger_ms = 5;
    settings->batch_bytes = 64 * 1024;
    settings->compression = PROTO_COMPRESSION_LZ4;
    settings->in_flight_requests_max = 5;
    settings->queue_records_max = 100000;
    settings->request_timeout_ms = 10000;
    settings->delivery_timeout_ms = 30000;
    settings->retry_backoff_ms = 100;
    settings->retry_backoff_max_ms = 2000;
    settings->metadata_max_age_ms = 60000;
    settings->fetch_max_wait_ms = 500;
    settings->fetch_max_bytes = 1024 * 1024;
    settings->consume_queue_max = 100000;
    settings->seed = 0;
    settings->group_id = ether_strdup("");
    settings->group_assignor = CLIENT_ASSIGNOR_RANGE;
    settings->group_cooperative = false;
    settings->session_timeout_ms = 10000;
    settings->heartbeat_interval_ms = 3000;
    settings->rebalance_timeout_ms = 30000;
    settings->enable_auto_commit = true;
    settings->auto_commit_interval_ms = 5000;
    settings->auto_offset_reset = CLIENT_OFFSET_RESET_LATEST;
}

void client_settings_copy(struct client_settings *to, const struct client_settings *from)
{
    *to = *from;
    to->brokers = ether_strdup(from->brokers);
    to->client_id = ether_strdup(from->client_id);
    to->rack = ether_strdup(from->rack);
    to->producer_name = ether_strdup(from->producer_name);
    to->group_id = ether_strdup(from->group_id);
    to->tls_ca_file = ether_strdup(from->tls_ca_file);
    to->tls_certificate_file = ether_strdup(from->tls_certificate_file);
    to->tls_private_key_file = ether_strdup(from->tls_private_key_file);
    to->sasl_username = ether_strdup(from->sasl_username);
    to->sasl_password = ether_strdup(from->sasl_password);
}

/* Frees a setting's text, wiped first: one of them is a password. */
static void free_text(char *text)
{
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        ether_free(text);
    }
}

void client_settings_free(struct client_settings *settings)
{
    ether_free(settings->brokers);
    ether_free(settings->client_id);
    ether_free(settings->rack);
    ether_free(settings->producer_name);
    ether_free(settings->group_id);
    ether_free(settings->tls_ca_file);
    ether_free(settings->tls_certificate_file);
    ether_free(settings->tls_private_key_file);
    ether_free(settings->sasl_username);
    free_text(settings->sasl_password);
    settings->sasl_username = NULL;
    settings->sasl_password = NULL;
    settings->tls_ca_file = NULL;
    settings->tls_certificate_file = NULL;
    settings->tls_private_key_file = NULL;
    settings->producer_name = NULL;
    settings->group_id = NULL;
    settings->brokers = NULL;
    settings->client_id = NULL;
    settings->rack = NULL;
}

static int parse_u64(const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
    if (value[0] < '0' || value[0] > '9') {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long parsed = strtoull(value, &end, 10);
    if (errno != 0 || *end != '\0' || parsed < min || parsed > max) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    *out = parsed;
    return ETHER_OK;
}

enum setting_kind {
    SETTING_U32,
    SETTING_U64,
    SETTING_STRING,
    SETTING_ACKS,
    SETTING_COMPRESSION,
    SETTING_FETCH_FROM,
    SETTING_IDEMPOTENCE,
    SETTING_BOOL,
    SETTING_ASSIGNOR,
    SETTING_GROUP_PROTOCOL,
    SETTING_OFFSET_RESET,
};

struct setting {
    const char *name;
    enum setting_kind kind;
    size_t field_offset;
    uint64_t min;
    uint64_t max;
};

#define U32(name, min, max)                                                      \
    {                                                                            \
#name, SETTING_U32, offsetof(struct client_settings, name), (min), (max) \
    }
#define TEXT(name)                                                          \
    {                                                                       \
#name, SETTING_STRING, offsetof(struct client_settings, name), 0, 0 \
    }

static const struct setting settings_table[] = {
    TEXT(brokers),
    TEXT(client_id),
    TEXT(rack),
    TEXT(producer_name),
    {"enable_idempotence", SETTING_IDEMPOTENCE, offsetof(struct client_settings, idempotence), 0,
     0},
    {"acks", SETTING_ACKS, offsetof(struct client_settings, acks), 0, 0},
    U32(linger_ms, 0, 600000),
    U32(batch_bytes, 64, CLIENT_BATCH_BYTES_MAX),
    {"compression", SETTING_COMPRESSION, offsetof(struct client_settings, compression), 0, 0},
    {"fetch_from", SETTING_FETCH_FROM, offsetof(struct client_settings, fetch_from), 0, 0},
    U32(in_flight_requests_max, 1, 1000),
    U32(queue_records_max, 1, 100000000),
    U32(request_timeout_ms, 1, 3600000),
    U32(delivery_timeout_ms, 1, 86400000),
    U32(retry_backoff_ms, 0, 600000),
    U32(retry_backoff_max_ms, 0, 3600000),
    U32(metadata_max_age_ms, 1, 86400000),
    U32(fetch_max_wait_ms, 0, 600000),
    U32(fetch_max_bytes, 1024, CLIENT_BATCH_BYTES_MAX),
    U32(consume_queue_max, 1, 100000000),
    {"seed", SETTING_U64, offsetof(struct client_settings, seed), 0, UINT64_MAX},
    TEXT(group_id),
    {"group_assignor", SETTING_ASSIGNOR, offsetof(struct client_settings, group_assignor), 0, 0},
    {"group_protocol", SETTING_GROUP_PROTOCOL, offsetof(struct client_settings, group_cooperative),
     0, 0},
    U32(session_timeout_ms, 1, 3600000),
    U32(heartbeat_interval_ms, 1, 3600000),
    U32(rebalance_timeout_ms, 1, 3600000),
    {"enable_auto_commit", SETTING_BOOL, offsetof(struct client_settings, enable_auto_commit), 0,
     0},
    U32(auto_commit_interval_ms, 1, 86400000),
    {"auto_offset_reset", SETTING_OFFSET_RESET, offsetof(struct client_settings, auto_offset_reset),
     0, 0},
    TEXT(tls_ca_file),
    TEXT(tls_certificate_file),
    TEXT(tls_private_key_file),
    TEXT(sasl_username),
    TEXT(sasl_password),
};

#undef U32
#undef TEXT

int client_settings_set(struct client_settings *settings, const char *name, const char *value,
                        char *errstr, size_t errstr_size)
{
    if (name == NULL || value == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "configuration name and value must not be NULL");
    }
    const struct setting *setting = NULL;
    for (size_t i = 0; i < sizeof settings_table / sizeof settings_table[0]; i++) {
        if (strcmp(settings_table[i].name, name) == 0) {
            setting = &settings_table[i];
            break;
        }
    }
    if (setting == NULL) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "unknown configuration property \"%s\"", name);
    }
    uint8_t *field = (uint8_t *)settings + setting->field_offset;
    uint64_t number = 0;
    switch (setting->kind) {
    case SETTING_STRING:
        if (strcmp(name, "brokers") == 0) {
            struct client_address *addresses = NULL;
            size_t count = 0;
            int rc = client_parse_brokers(value, &addresses, &count, errstr, errstr_size);
            if (rc != ETHER_OK) {
                return rc;
            }
            client_addresses_free(addresses, count);
        }
        if (strcmp(name, "producer_name") == 0 && strlen(value) > CLIENT_PRODUCER_NAME_BYTES_MAX) {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "producer_name is longer than %d bytes",
                                CLIENT_PRODUCER_NAME_BYTES_MAX);
        }
        if (strcmp(name, "group_id") == 0 && strlen(value) > CLIENT_GROUP_ID_BYTES_MAX) {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "group_id is longer than %d bytes", CLIENT_GROUP_ID_BYTES_MAX);
        }
        free_text(*(char **)field);
        *(char **)field = ether_strdup(value);
        return ETHER_OK;
    case SETTING_ACKS:
        if (strcmp(value, "0") == 0) {
            settings->acks = CLIENT_ACKS_NONE;
        } else if (strcmp(value, "1") == 0) {
            settings->acks = CLIENT_ACKS_LEADER;
        } else if (strcmp(value, "all") == 0 || strcmp(value, "-1") == 0) {
            settings->acks = CLIENT_ACKS_ALL;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "acks must be 0, 1 or all, not \"%s\"", value);
        }
        return ETHER_OK;
    case SETTING_COMPRESSION:
        if (strcmp(value, "lz4") == 0) {
            settings->compression = PROTO_COMPRESSION_LZ4;
        } else if (strcmp(value, "none") == 0) {
            settings->compression = PROTO_COMPRESSION_NONE;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "compression must be lz4 or none, not \"%s\"", value);
        }
        return ETHER_OK;
    case SETTING_FETCH_FROM:
        if (strcmp(value, "leader") == 0) {
            settings->fetch_from = CLIENT_FETCH_FROM_LEADER;
        } else if (strcmp(value, "follower") == 0) {
            settings->fetch_from = CLIENT_FETCH_FROM_FOLLOWER;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "fetch_from must be leader or follower, not \"%s\"", value);
        }
        return ETHER_OK;
    case SETTING_IDEMPOTENCE:
        if (strcmp(value, "true") == 0) {
            settings->idempotence = CLIENT_IDEMPOTENCE_ON;
        } else if (strcmp(value, "false") == 0) {
            settings->idempotence = CLIENT_IDEMPOTENCE_OFF;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "enable_idempotence must be true or false, not \"%s\"", value);
        }
        return ETHER_OK;
    case SETTING_BOOL:
        if (strcmp(value, "true") == 0) {
            *(bool *)field = true;
        } else if (strcmp(value, "false") == 0) {
            *(bool *)field = false;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "%s must be true or false, not \"%s\"", name, value);
        }
        return ETHER_OK;
    case SETTING_ASSIGNOR:
        if (strcmp(value, "range") == 0) {
            settings->group_assignor = CLIENT_ASSIGNOR_RANGE;
        } else if (strcmp(value, "roundrobin") == 0) {
            settings->group_assignor = CLIENT_ASSIGNOR_ROUNDROBIN;
        } else if (strcmp(value, "sticky") == 0) {
            settings->group_assignor = CLIENT_ASSIGNOR_STICKY;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "group_assignor must be range, roundrobin or sticky, not \"%s\"",
                                value);
        }
        return ETHER_OK;
    case SETTING_GROUP_PROTOCOL:
        if (strcmp(value, "eager") == 0) {
            settings->group_cooperative = false;
        } else if (strcmp(value, "cooperative") == 0) {
            settings->group_cooperative = true;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "group_protocol must be eager or cooperative, not \"%s\"", value);
        }
        return ETHER_OK;
    case SETTING_OFFSET_RESET:
        if (strcmp(value, "latest") == 0) {
            settings->auto_offset_reset = CLIENT_OFFSET_RESET_LATEST;
        } else if (strcmp(value, "earliest") == 0) {
            settings->auto_offset_reset = CLIENT_OFFSET_RESET_EARLIEST;
        } else {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "auto_offset_reset must be earliest or latest, not \"%s\"", value);
        }
        return ETHER_OK;
    case SETTING_U32:
    case SETTING_U64:
        if (parse_u64(value, setting->min, setting->max, &number) != ETHER_OK) {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "%s must be a whole number from %" PRIu64 " to %" PRIu64
                                ", not \"%s\"",
                                name, setting->min, setting->max, value);
        }
        if (setting->kind == SETTING_U32) {
            *(uint32_t *)field = (uint32_t)number;
        } else {
            *(uint64_t *)field = number;
        }
        return ETHER_OK;
    }
    ETHER_PANIC("unknown setting kind");
}

int client_settings_check(const struct client_settings *settings, char *errstr, size_t errstr_size)
{
    if (settings->idempotence == CLIENT_IDEMPOTENCE_ON && settings->acks == CLIENT_ACKS_NONE) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "enable_idempotence=true needs acks 1 or all (with acks=0 no answer "
                            "says which sequences the broker accepted)");
    }
    if (settings->heartbeat_interval_ms >= settings->session_timeout_ms) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "heartbeat_interval_ms (%" PRIu32
                            ") must be less than session_timeout_ms (%" PRIu32
                            "): the coordinator would drop the member between two heartbeats",
                            settings->heartbeat_interval_ms, settings->session_timeout_ms);
    }
    bool tls = settings->tls_ca_file[0] != '\0';
    bool certificate = settings->tls_certificate_file[0] != '\0';
    bool private_key = settings->tls_private_key_file[0] != '\0';
    if (!tls && (certificate || private_key)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "%s is set but tls_ca_file is not: TLS is on only with tls_ca_file, "
                            "the CA file that signs the brokers' certificates",
                            certificate ? "tls_certificate_file" : "tls_private_key_file");
    }
    if (certificate != private_key) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "%s is set without %s: a client certificate needs its private key",
                            certificate ? "tls_certificate_file" : "tls_private_key_file",
                            certificate ? "tls_private_key_file" : "tls_certificate_file");
    }
    bool username = settings->sasl_username[0] != '\0';
    bool password = settings->sasl_password[0] != '\0';
    if (username != password) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "%s is set without %s: a SCRAM-SHA-256 login needs both",
                            username ? "sasl_username" : "sasl_password",
                            username ? "sasl_password" : "sasl_username");
    }
    if (username && !ether_scram_user_name_valid(settings->sasl_username)) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "sasl_username must be 1 to %d printable ASCII characters without "
                            "spaces",
                            ETHER_SCRAM_USER_BYTES_MAX);
    }
    if (password && strlen(settings->sasl_password) > ETHER_SCRAM_PASSWORD_BYTES_MAX) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "sasl_password is longer than %d bytes",
                            ETHER_SCRAM_PASSWORD_BYTES_MAX);
    }
    if (username && !tls) {
        /* The exchange itself hides the password, but not the session that follows. */
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "SCRAM-SHA-256 logins need TLS: set tls_ca_file");
    }
    return ETHER_OK;
}

const char *client_assignor_name(enum client_assignor assignor)
{
    switch (assignor) {
    case CLIENT_ASSIGNOR_RANGE:
        return "range";
    case CLIENT_ASSIGNOR_ROUNDROBIN:
        return "roundrobin";
    case CLIENT_ASSIGNOR_STICKY:
        return "sticky";
    }
    ETHER_PANIC("unknown assignor");
}

void client_addresses_free(struct client_address *addresses, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        ether_free(addresses[i].host);
    }
    ether_free(addresses);
}

/* Parses one "host:port" or "[v6]:port" of `length` bytes. */
static int parse_address(const char *item, size_t length, struct client_address *address,
                         char *errstr, size_t errstr_size)
{
    const char *host = item;
    size_t host_bytes = 0;
    const char *port_text = NULL;
    if (length > 0 && item[0] == '[') {
        const char *close = memchr(item, ']', length);
        if (close == NULL || close + 1 >= item + length || close[1] != ':') {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "broker address \"%.*s\" is not [host]:port", (int)length, item);
        }
        host = item + 1;
        host_bytes = (size_t)(close - host);
        port_text = close + 2;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < length; i++) {
            if (item[i] == ':') {
                colon = item + i;
            }
        }
        if (colon == NULL) {
            return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                                "broker address \"%.*s\" has no :port", (int)length, item);
        }
        host_bytes = (size_t)(colon - item);
        port_text = colon + 1;
    }
    size_t port_bytes = (size_t)(item + length - port_text);
    char port_buffer[8];
    uint64_t port = 0;
    if (host_bytes == 0 || port_bytes == 0 || port_bytes >= sizeof port_buffer) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "broker address \"%.*s\" needs a host and a port from 1 to 65535",
                            (int)length, item);
    }
    memcpy(port_buffer, port_text, port_bytes);
    port_buffer[port_bytes] = '\0';
    if (parse_u64(port_buffer, 1, 65535, &port) != ETHER_OK) {
        return client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                            "broker address \"%.*s\" needs a port from 1 to 65535", (int)length,
                            item);
    }
    address->host = ether_malloc(host_bytes + 1);
    memcpy(address->host, host, host_bytes);
    address->host[host_bytes] = '\0';
    address->port = (uint16_t)port;
    return ETHER_OK;
}

int client_parse_brokers(const char *list, struct client_address **addresses, size_t *count,
                         char *errstr, size_t errstr_size)
{
    struct client_address *parsed = NULL;
    size_t parsed_count = 0;
    const char *cursor = list;
    int rc = ETHER_OK;
    while (*cursor != '\0') {
        const char *comma = strchr(cursor, ',');
        const char *end = comma != NULL ? comma : cursor + strlen(cursor);
        const char *start = cursor;
        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }
        const char *stop = end;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t')) {
            stop--;
        }
        if (stop > start) {
            if (parsed_count == CLIENT_BROKERS_MAX) {
                rc = client_error(errstr, errstr_size, ETHER_ERR_TOO_LARGE,
                                  "more than %d broker addresses", CLIENT_BROKERS_MAX);
                goto err_after_parsed;
            }
            parsed = ether_realloc(parsed, (parsed_count + 1) * sizeof *parsed);
            rc = parse_address(start, (size_t)(stop - start), &parsed[parsed_count], errstr,
                               errstr_size);
            if (rc != ETHER_OK) {
                goto err_after_parsed;
            }
            parsed_count++;
        }
        cursor = comma != NULL ? comma + 1 : end;
    }
    if (parsed_count == 0) {
        rc = client_error(errstr, errstr_size, ETHER_ERR_INVALID_ARGUMENT,
                          "the broker list is empty (expected host:port,host:port)");
        goto err_after_parsed;
    }
    *addresses = parsed;
    *count = parsed_count;
    return ETHER_OK;

err_after_parsed:
    client_addresses_free(parsed, parsed_count);
    return rc;
}
