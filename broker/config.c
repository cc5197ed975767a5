#include "broker/config.h"

#include "common/error.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/panic.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum option_type {
    TYPE_u32,
    TYPE_u64,
    TYPE_port,
    TYPE_string,
    TYPE_seeds,
    TYPE_level,
    TYPE_bool,
};

struct option_spec {
    const char *name;
    enum option_type type;
    const char *default_value;
    const char *help;
};

static const struct option_spec options[] = {
#define OPTION_SPEC(field, type, name, default_value, help) \
    {name, TYPE_##type, default_value, help},
    BROKER_CONFIG_MAP(OPTION_SPEC)
#undef OPTION_SPEC
};

enum { OPTIONS_COUNT = sizeof options / sizeof options[0], CONFIG_LINE_BYTES_MAX = 4096 };

static int parse_u64(const char *text, uint64_t max, uint64_t *value)
{
    if (text[0] == '\0' || !isdigit((unsigned char)text[0])) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed > max) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    *value = parsed;
    return ETHER_OK;
}

static int set_u32(uint32_t *field, const char *text)
{
    uint64_t value;
    int rc = parse_u64(text, UINT32_MAX, &value);
    if (rc == ETHER_OK) {
        *field = (uint32_t)value;
    }
    return rc;
}

static int set_u64(uint64_t *field, const char *text)
{
    return parse_u64(text, UINT64_MAX, field);
}

static int set_port(uint16_t *field, const char *text)
{
    uint64_t value;
    int rc = parse_u64(text, 65535, &value);
    if (rc == ETHER_OK && value == 0) {
        rc = ETHER_ERR_INVALID_ARGUMENT;
    }
    if (rc == ETHER_OK) {
        *field = (uint16_t)value;
    }
    return rc;
}

static int set_string(char **field, const char *text)
{
    ether_free(*field);
    *field = ether_strdup(text);
    return ETHER_OK;
}

static int set_bool(bool *field, const char *text)
{
    if (strcmp(text, "true") == 0) {
        *field = true;
    } else if (strcmp(text, "false") == 0) {
        *field = false;
    } else {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return ETHER_OK;
}

static int set_level(int *field, const char *text)
{
    int level = ether_log_level_parse(text);
    if (level < 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    *field = level;
    return ETHER_OK;
}

int broker_config_parse_seeds(const char *text, struct broker_seed *seeds, size_t seeds_max,
                              size_t *seeds_count)
{
    size_t count = 0;
    const char *cursor = text;
    while (*cursor != '\0') {
        const char *end = strchr(cursor, ',');
        size_t length = end != NULL ? (size_t)(end - cursor) : strlen(cursor);
        char item[BROKER_HOST_BYTES_MAX + 32];
        if (count == seeds_max || length == 0 || length >= sizeof item) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        memcpy(item, cursor, length);
        item[length] = '\0';
        char *at = strchr(item, '@');
        char *colon = strrchr(item, ':');
        if (at == NULL || colon == NULL || colon < at || colon == at + 1) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        *at = '\0';
        *colon = '\0';
        struct broker_seed *seed = &seeds[count];
        if (set_u32(&seed->broker_id, item) != ETHER_OK || seed->broker_id == 0 ||
            set_port(&seed->port, colon + 1) != ETHER_OK || strlen(at + 1) >= sizeof seed->host) {
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        snprintf(seed->host, sizeof seed->host, "%s", at + 1);
        for (size_t i = 0; i < count; i++) {
            if (seeds[i].broker_id == seed->broker_id) {
                return ETHER_ERR_INVALID_ARGUMENT;
            }
        }
        count++;
        cursor += length;
        if (*cursor == ',') {
            cursor++;
        }
    }
    if (count == 0) {
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    *seeds_count = count;
    return ETHER_OK;
}

static int set_seeds(struct broker_config *config, const char *text)
{
    return broker_config_parse_seeds(text, config->seeds, BROKER_SEEDS_MAX, &config->seeds_count);
}

/* Applies `value` to option number `index`; the table order is the X-macro order. */
static int apply_option(struct broker_config *config, size_t index, const char *value)
{
    size_t position = 0;
#define APPLY_u32(field)    set_u32(&config->field, value)
#define APPLY_u64(field)    set_u64(&config->field, value)
#define APPLY_port(field)   set_port(&config->field, value)
#define APPLY_string(field) set_string(&config->field, value)
#define APPLY_level(field)  set_level(&config->field, value)
#define APPLY_bool(field)   set_bool(&config->field, value)
#define APPLY_seeds(field)  set_seeds(config, value)
#define OPTION_APPLY(field, type, name, default_value, help) \
    if (position++ == index) {                               \
        return APPLY_##type(field);                          \
    }
    BROKER_CONFIG_MAP(OPTION_APPLY)
#undef OPTION_APPLY
    ETHER_PANIC("option index out of range");
}

static int find_option(const char *name, size_t name_length)
{
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        if (strlen(options[i].name) == name_length &&
            strncmp(options[i].name, name, name_length) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int apply_named(struct broker_config *config, const char *source, size_t index,
                       const char *value, char *errbuf, size_t errbuf_size)
{
    int rc = apply_option(config, index, value);
    if (rc != ETHER_OK) {
        snprintf(errbuf, errbuf_size, "%s: invalid value '%s' for %s (%s)", source, value,
                 options[index].name, options[index].help);
    }
    return rc;
}

static char *trim(char *text)
{
    while (isspace((unsigned char)*text)) {
        text++;
    }
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1])) {
        text[--length] = '\0';
    }
    return text;
}

static int apply_file(struct broker_config *config, const char *path, char *errbuf,
                      size_t errbuf_size)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(errbuf, errbuf_size, "config file %s: %s", path, strerror(errno));
        return ETHER_ERR_NOT_FOUND;
    }
    char line[CONFIG_LINE_BYTES_MAX];
    int line_number = 0;
    int rc = ETHER_OK;
    while (rc == ETHER_OK && fgets(line, sizeof line, file) != NULL) {
        line_number++;
        char *content = trim(line);
        if (content[0] == '\0' || content[0] == '#') {
            continue;
        }
        char *equals = strchr(content, '=');
        char source[64];
        snprintf(source, sizeof source, "config file line %d", line_number);
        if (equals == NULL) {
            snprintf(errbuf, errbuf_size, "%s %s: expected 'name = value'", path, source);
            rc = ETHER_ERR_INVALID_ARGUMENT;
            break;
        }
        *equals = '\0';
        char *name = trim(content);
        char *value = trim(equals + 1);
        int index = find_option(name, strlen(name));
        if (index < 0) {
            snprintf(errbuf, errbuf_size, "%s %s: unknown option '%s'", path, source, name);
            rc = ETHER_ERR_INVALID_ARGUMENT;
            break;
        }
        rc = apply_named(config, source, (size_t)index, value, errbuf, errbuf_size);
    }
    fclose(file);
    return rc;
}

/* "data-dir" -> "ETHER_DATA_DIR" */
static void environment_name(const char *option_name, char *out, size_t out_size)
{
    size_t written = (size_t)snprintf(out, out_size, "ETHER_");
    for (const char *c = option_name; *c != '\0' && written + 1 < out_size; c++) {
        out[written++] = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
    }
    out[written] = '\0';
}

static const char *lookup_environment(char *const environment[], const char *name)
{
    size_t name_length = strlen(name);
    for (size_t i = 0; environment != NULL && environment[i] != NULL; i++) {
        if (strncmp(environment[i], name, name_length) == 0 && environment[i][name_length] == '=') {
            return environment[i] + name_length + 1;
        }
    }
    return NULL;
}

int broker_config_wants_help(int argc, char *const argv[])
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return 1;
        }
    }
    return 0;
}

/* Finds --config FILE or --config=FILE on the command line, else ETHER_CONFIG. */
static const char *find_config_path(int argc, char *const argv[], char *const environment[])
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            return argv[i + 1];
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            return argv[i] + 9;
        }
    }
    return lookup_environment(environment, "ETHER_CONFIG");
}

static int apply_arguments(struct broker_config *config, int argc, char *const argv[], char *errbuf,
                           size_t errbuf_size)
{
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        if (strncmp(argument, "--", 2) != 0) {
            snprintf(errbuf, errbuf_size, "unexpected argument '%s' (options start with --)",
                     argument);
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        const char *name = argument + 2;
        const char *equals = strchr(name, '=');
        size_t name_length = equals != NULL ? (size_t)(equals - name) : strlen(name);
        const char *value = equals != NULL ? equals + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                snprintf(errbuf, errbuf_size, "option %s needs a value", argument);
                return ETHER_ERR_INVALID_ARGUMENT;
            }
            value = argv[++i];
        }
        if (name_length == 6 && strncmp(name, "config", 6) == 0) {
            continue; /* read before everything else */
        }
        int index = find_option(name, name_length);
        if (index < 0) {
            snprintf(errbuf, errbuf_size, "unknown option '--%.*s' (see --help)", (int)name_length,
                     name);
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        int rc = apply_named(config, "command line", (size_t)index, value, errbuf, errbuf_size);
        if (rc != ETHER_OK) {
            return rc;
        }
    }
    return ETHER_OK;
}

int broker_config_load(struct broker_config *config, int argc, char *const argv[],
                       char *const environment[], char *errbuf, size_t errbuf_size)
{
    memset(config, 0, sizeof *config);
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        int rc = apply_option(config, i, options[i].default_value);
        ETHER_ASSERT(rc == ETHER_OK);
    }
    int rc = ETHER_OK;
    const char *config_path = find_config_path(argc, argv, environment);
    if (config_path != NULL) {
        rc = apply_file(config, config_path, errbuf, errbuf_size);
    }
    for (size_t i = 0; rc == ETHER_OK && i < OPTIONS_COUNT; i++) {
        char name[64];
        environment_name(options[i].name, name, sizeof name);
        const char *value = lookup_environment(environment, name);
        if (value != NULL) {
            rc = apply_named(config, name, i, value, errbuf, errbuf_size);
        }
    }
    if (rc == ETHER_OK) {
        rc = apply_arguments(config, argc, argv, errbuf, errbuf_size);
    }
    if (rc == ETHER_OK) {
        rc = broker_config_validate(config, errbuf, errbuf_size);
    }
    if (rc != ETHER_OK) {
        broker_config_free(config);
    }
    return rc;
}

/* All three TLS files or none; each one a readable regular file, named in the error. */
static int validate_tls(const struct broker_config *config, char *errbuf, size_t errbuf_size)
{
    const char *const names[] = {"tls-ca-file", "tls-certificate-file", "tls-private-key-file"};
    const char *const paths[] = {config->tls_ca_file, config->tls_certificate_file,
                                 config->tls_private_key_file};
    _Static_assert(sizeof names / sizeof names[0] == sizeof paths / sizeof paths[0],
                   "one name per TLS file");
    size_t set = 0;
    const char *missing = NULL;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (paths[i][0] != '\0') {
            set++;
        } else if (missing == NULL) {
            missing = names[i];
        }
    }
    if (set == 0) {
        return ETHER_OK; /* plaintext */
    }
    if (missing != NULL) {
        snprintf(errbuf, errbuf_size,
                 "%s is empty: tls-ca-file, tls-certificate-file and tls-private-key-file go "
                 "together (all three for TLS, none for plaintext)",
                 missing);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct stat status;
        FILE *file = NULL;
        if (stat(paths[i], &status) == 0 && !S_ISREG(status.st_mode)) {
            snprintf(errbuf, errbuf_size, "%s '%s' is not a regular file", names[i], paths[i]);
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        file = fopen(paths[i], "r");
        if (file == NULL) {
            snprintf(errbuf, errbuf_size, "%s '%s' cannot be read: %s", names[i], paths[i],
                     strerror(errno));
            return ETHER_ERR_INVALID_ARGUMENT;
        }
        fclose(file);
    }
    if (broker_config_client_auth(config) == BROKER_CLIENT_AUTH_NONE && config->seeds_count > 1) {
        snprintf(errbuf, errbuf_size,
                 "tls-client-auth is none but the cluster has %zu seeds: brokers authenticate "
                 "each other with their certificates, so it must be required or requested",
                 config->seeds_count);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return ETHER_OK;
}

bool broker_config_rack_valid(const char *rack)
{
    size_t length = 0;
    for (const char *c = rack; *c != '\0'; c++) {
        if (*c <= ' ' || *c > '~' || ++length > BROKER_RACK_BYTES_MAX) {
            return false;
        }
    }
    return true;
}

enum broker_client_auth broker_config_client_auth(const struct broker_config *config)
{
    if (strcmp(config->tls_client_auth, "requested") == 0) {
        return BROKER_CLIENT_AUTH_REQUESTED;
    }
    if (strcmp(config->tls_client_auth, "none") == 0) {
        return BROKER_CLIENT_AUTH_NONE;
    }
    return BROKER_CLIENT_AUTH_REQUIRED;
}

int broker_config_validate(const struct broker_config *config, char *errbuf, size_t errbuf_size)
{
    if (config->broker_id == 0) {
        snprintf(errbuf, errbuf_size, "broker-id must be 1 or more");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->data_dir[0] == '\0') {
        snprintf(errbuf, errbuf_size, "data-dir must not be empty");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->heartbeat_ticks == 0 || config->heartbeat_ticks >= config->election_ticks) {
        snprintf(errbuf, errbuf_size,
                 "heartbeat-ticks (%u) must be at least 1 and less than election-ticks (%u)",
                 config->heartbeat_ticks, config->election_ticks);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->retention_check_ms < 100) {
        snprintf(errbuf, errbuf_size, "retention-check-ms (%u) must be at least 100",
                 config->retention_check_ms);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->tick_ms == 0) {
        snprintf(errbuf, errbuf_size, "tick-ms must be at least 1");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->segment_bytes < 4096) {
        snprintf(errbuf, errbuf_size, "segment-bytes (%llu) must be at least 4096",
                 (unsigned long long)config->segment_bytes);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->frame_bytes_max < 4096) {
        snprintf(errbuf, errbuf_size, "frame-bytes-max (%u) must be at least 4096",
                 config->frame_bytes_max);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->client_port == config->http_port) {
        snprintf(errbuf, errbuf_size, "client-port and http-port must differ (both %u)",
                 config->client_port);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (!broker_config_rack_valid(config->rack)) {
        snprintf(errbuf, errbuf_size,
                 "rack '%.80s' must be at most %d printable characters without spaces",
                 config->rack, BROKER_RACK_BYTES_MAX);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(config->tls_client_auth, "required") != 0 &&
        strcmp(config->tls_client_auth, "requested") != 0 &&
        strcmp(config->tls_client_auth, "none") != 0) {
        snprintf(errbuf, errbuf_size,
                 "tls-client-auth '%.32s' is not one of required, requested, none",
                 config->tls_client_auth);
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    if (config->authorization && !broker_config_tls_enabled(config)) {
        snprintf(errbuf, errbuf_size,
                 "authorization needs TLS (tls-ca-file, tls-certificate-file, "
                 "tls-private-key-file): without it clients are anonymous and any of them "
                 "could send Raft messages as a broker");
        return ETHER_ERR_INVALID_ARGUMENT;
    }
    return validate_tls(config, errbuf, errbuf_size);
}

void broker_config_print_help(FILE *stream, const char *program_name)
{
    fprintf(stream,
            "usage: %s [--config FILE] [--option value ...]\n\n"
            "Each option can also be set as 'option = value' in the config file or as an\n"
            "ETHER_* environment variable; the command line wins over the environment,\n"
            "which wins over the file.\n\n",
            program_name);
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        char name[64];
        environment_name(options[i].name, name, sizeof name);
        fprintf(stream, "  --%-18s %s\n  %-20s default: %s; environment: %s\n\n", options[i].name,
                options[i].help, "",
                options[i].default_value[0] != '\0' ? options[i].default_value : "(empty)", name);
    }
}

void broker_config_free(struct broker_config *config)
{
    ether_free(config->data_dir);
    ether_free(config->listen_host);
    ether_free(config->advertised_host);
    ether_free(config->rack);
    ether_free(config->tls_client_auth);
    ether_free(config->tls_principal_rule);
    ether_free(config->super_users);
    ether_free(config->tls_ca_file);
    ether_free(config->tls_certificate_file);
    ether_free(config->tls_private_key_file);
    memset(config, 0, sizeof *config);
}
