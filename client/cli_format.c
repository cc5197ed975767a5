/*
 * cli_format.c: text the `ether` tool prints: growable text buffers, JSON
 * strings, consume templates, percentiles, and users and ACL bindings as
 * tables or JSON. Pure.
 */
#include "client/cli.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tool's one allocation policy, as in common/mem.h: no memory is fatal. */
static void *grow(void *pointer, size_t size_bytes)
{
    void *grown = realloc(pointer, size_bytes);
    if (grown == NULL) {
        fputs("ether: out of memory\n", stderr);
        abort();
    }
    return grown;
}

static void reserve(struct cli_text *text, size_t extra_bytes)
{
    size_t needed = text->length + extra_bytes + 1;
    if (needed <= text->capacity) {
        return;
    }
    size_t capacity = text->capacity > 0 ? text->capacity : 256;
    while (capacity < needed) {
        capacity *= 2;
    }
    text->data = grow(text->data, capacity);
    text->capacity = capacity;
}

void cli_text_append(struct cli_text *text, const void *bytes, size_t size_bytes)
{
    reserve(text, size_bytes);
    if (size_bytes > 0) {
        memcpy(text->data + text->length, bytes, size_bytes);
    }
    text->length += size_bytes;
    text->data[text->length] = '\0';
}

void cli_text_printf(struct cli_text *text, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    int needed = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (needed > 0) {
        reserve(text, (size_t)needed);
        vsnprintf(text->data + text->length, (size_t)needed + 1, format, args);
        text->length += (size_t)needed;
    }
    va_end(args);
}

void cli_text_free(struct cli_text *text)
{
    free(text->data);
    memset(text, 0, sizeof *text);
}

void cli_json_string(struct cli_text *out, const void *bytes, size_t size_bytes)
{
    if (bytes == NULL) {
        cli_text_append(out, "null", 4);
        return;
    }
    const unsigned char *in = bytes;
    cli_text_append(out, "\"", 1);
    size_t run_start = 0;
    for (size_t i = 0; i < size_bytes; i++) {
        unsigned char c = in[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        cli_text_append(out, in + run_start, i - run_start);
        run_start = i + 1;
        switch (c) {
        case '"':
            cli_text_append(out, "\\\"", 2);
            break;
        case '\\':
            cli_text_append(out, "\\\\", 2);
            break;
        case '\n':
            cli_text_append(out, "\\n", 2);
            break;
        case '\t':
            cli_text_append(out, "\\t", 2);
            break;
        case '\r':
            cli_text_append(out, "\\r", 2);
            break;
        default:
            cli_text_printf(out, "\\u%04x", c);
            break;
        }
    }
    cli_text_append(out, in + run_start, size_bytes - run_start);
    cli_text_append(out, "\"", 1);
}

int cli_template_check(const char *template_text, char *errstr, size_t errstr_size)
{
    for (const char *cursor = template_text; *cursor != '\0'; cursor++) {
        if (*cursor == '%') {
            if (cursor[1] == '\0' || strchr("kvpotT%", cursor[1]) == NULL) {
                snprintf(errstr, errstr_size,
                         "unknown template escape \"%%%.1s\"; use %%k key, %%v value, "
                         "%%p partition, %%o offset, %%t timestamp, %%T topic or %%%%",
                         cursor + 1);
                return CLI_EXIT_USAGE;
            }
            cursor++;
        } else if (*cursor == '\\') {
            if (cursor[1] == '\0' || strchr("nt\\", cursor[1]) == NULL) {
                snprintf(errstr, errstr_size,
                         "unknown template escape \"\\%.1s\"; use \\n, \\t or \\\\", cursor + 1);
                return CLI_EXIT_USAGE;
            }
            cursor++;
        }
    }
    return CLI_EXIT_OK;
}

void cli_template_format(struct cli_text *out, const char *template_text,
                         const struct cli_record *record)
{
    const char *run = template_text;
    const char *cursor = template_text;
    for (; *cursor != '\0'; cursor++) {
        if (*cursor != '%' && *cursor != '\\') {
            continue;
        }
        cli_text_append(out, run, (size_t)(cursor - run));
        char escape = cursor[1];
        if (*cursor == '\\') {
            cli_text_append(out, escape == 'n' ? "\n" : escape == 't' ? "\t" : "\\", 1);
        } else {
            switch (escape) {
            case 'k':
                cli_text_append(out, record->key, record->key != NULL ? record->key_bytes : 0);
                break;
            case 'v':
                cli_text_append(out, record->value,
                                record->value != NULL ? record->value_bytes : 0);
                break;
            case 'p':
                cli_text_printf(out, "%" PRId32, record->partition);
                break;
            case 'o':
                cli_text_printf(out, "%" PRId64, record->offset);
                break;
            case 't':
                cli_text_printf(out, "%" PRId64, record->timestamp_ms);
                break;
            case 'T':
                cli_text_printf(out, "%s", record->topic);
                break;
            default:
                cli_text_append(out, "%", 1);
                break;
            }
        }
        if (escape != '\0') {
            cursor++;
        }
        run = cursor + 1;
    }
    cli_text_append(out, run, (size_t)(cursor - run));
}

void cli_record_json(struct cli_text *out, const struct cli_record *record)
{
    cli_text_printf(out, "{\"topic\":");
    cli_json_string(out, record->topic, strlen(record->topic));
    cli_text_printf(out,
                    ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp_ms\":%" PRId64
                    ",\"key\":",
                    record->partition, record->offset, record->timestamp_ms);
    cli_json_string(out, record->key, record->key_bytes);
    cli_text_printf(out, ",\"value\":");
    cli_json_string(out, record->value, record->value_bytes);
    cli_text_printf(out, "}\n");
}

/* ---- users and ACLs ------------------------------------------------------------------------ */

static void json_text(struct cli_text *out, const char *text)
{
    cli_json_string(out, text, strlen(text));
}

void cli_users_format(struct cli_text *out, const struct ether_user *users, size_t count,
                      enum cli_output output)
{
    if (output == CLI_OUTPUT_JSON) {
        cli_text_printf(out, "[");
        for (size_t i = 0; i < count; i++) {
            cli_text_printf(out, "%s{\"name\":", i > 0 ? "," : "");
            json_text(out, users[i].name);
            cli_text_printf(out, ",\"mechanism\":");
            json_text(out, users[i].mechanism);
            cli_text_printf(out, ",\"iterations\":%" PRIu32 "}", users[i].iterations);
        }
        cli_text_printf(out, "]\n");
        return;
    }
    cli_text_printf(out, "%-32s %-16s %s\n", "USER", "MECHANISM", "ITERATIONS");
    for (size_t i = 0; i < count; i++) {
        cli_text_printf(out, "%-32s %-16s %" PRIu32 "\n", users[i].name, users[i].mechanism,
                        users[i].iterations);
    }
    if (count == 0) {
        cli_text_printf(out, "(no users)\n");
    }
}

void cli_acls_format(struct cli_text *out, const struct ether_acl *acls, size_t count,
                     enum cli_output output)
{
    if (output == CLI_OUTPUT_JSON) {
        cli_text_printf(out, "[");
        for (size_t i = 0; i < count; i++) {
            const struct ether_acl *acl = &acls[i];
            cli_text_printf(out, "%s{\"principal\":", i > 0 ? "," : "");
            json_text(out, acl->principal);
            cli_text_printf(out, ",\"permission\":\"%s\",\"operation\":\"%s\"",
                            ether_acl_permission_name(acl->permission),
                            ether_acl_operation_name(acl->operation));
            cli_text_printf(out, ",\"resource_type\":\"%s\",\"resource_name\":",
                            ether_acl_resource_type_name(acl->resource_type));
            json_text(out, acl->resource_name);
            cli_text_printf(out, ",\"pattern\":\"%s\"}", ether_acl_pattern_name(acl->pattern));
        }
        cli_text_printf(out, "]\n");
        return;
    }
    cli_text_printf(out, "%-24s %-10s %-10s %-8s %-10s %s\n", "PRINCIPAL", "PERMISSION",
                    "OPERATION", "RESOURCE", "PATTERN", "NAME");
    for (size_t i = 0; i < count; i++) {
        const struct ether_acl *acl = &acls[i];
        cli_text_printf(
            out, "%-24s %-10s %-10s %-8s %-10s %s\n", acl->principal,
            ether_acl_permission_name(acl->permission), ether_acl_operation_name(acl->operation),
            ether_acl_resource_type_name(acl->resource_type), ether_acl_pattern_name(acl->pattern),
            acl->resource_name[0] != '\0' ? acl->resource_name : "-");
    }
    if (count == 0) {
        cli_text_printf(out, "(no ACL bindings)\n");
    }
}

void cli_acl_describe(struct cli_text *out, const struct ether_acl *acl)
{
    cli_text_printf(out, "%s %s %s on ", ether_acl_permission_name(acl->permission), acl->principal,
                    ether_acl_operation_name(acl->operation));
    const char *type = ether_acl_resource_type_name(acl->resource_type);
    const char *name = acl->resource_name != NULL ? acl->resource_name : "";
    if (acl->resource_type == ETHER_ACL_RESOURCE_CLUSTER) {
        cli_text_printf(out, "the cluster");
    } else if (acl->pattern == ETHER_ACL_PATTERN_PREFIXED) {
        cli_text_printf(out, "%ss prefixed %s", type, name);
    } else if (strcmp(name, "*") == 0) {
        cli_text_printf(out, "every %s", type);
    } else {
        cli_text_printf(out, "%s %s", type, name);
    }
}

uint64_t cli_percentile(const uint64_t *sorted, size_t sorted_count, double percentile)
{
    if (sorted_count == 0) {
        return 0;
    }
    /* Nearest rank: the smallest value with at least percentile% of values at or below it. */
    /* The tolerance keeps 99.9% of 1000 at rank 999 despite binary fractions. */
    double rank = percentile / 100.0 * (double)sorted_count - 1e-9;
    size_t index = (size_t)rank;
    if ((double)index < rank) {
        index++;
    }
    if (index == 0) {
        index = 1;
    }
    if (index > sorted_count) {
        index = sorted_count;
    }
    return sorted[index - 1];
}
