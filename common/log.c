#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

const char *ether_log_level_name(enum ether_log_level level)
{
    if ((unsigned)level < sizeof level_names / sizeof level_names[0]) {
        return level_names[level];
    }
    return "?";
}

int ether_log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static void stream_sink(void *sink_context, enum ether_log_level level, const char *context,
                        const char *message)
{
    FILE *stream = sink_context != NULL ? sink_context : stderr;
    struct timespec now;
    struct tm utc;
    char timestamp[32];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%S", &utc);
    if (context[0] != '\0') {
        fprintf(stream, "%s.%03ldZ %-5s [%s] %s\n", timestamp, now.tv_nsec / 1000000,
                ether_log_level_name(level), context, message);
    } else {
        fprintf(stream, "%s.%03ldZ %-5s %s\n", timestamp, now.tv_nsec / 1000000,
                ether_log_level_name(level), message);
    }
    fflush(stream);
}

void ether_logger_init_sink(struct ether_logger *logger, enum ether_log_level level_min,
                            ether_log_sink_fn *sink, void *sink_context, const char *context)
{
    logger->level_min = level_min;
    logger->sink = sink;
    logger->sink_context = sink_context;
    snprintf(logger->context, sizeof logger->context, "%s", context != NULL ? context : "");
}

void ether_logger_init_stream(struct ether_logger *logger, enum ether_log_level level_min,
                              FILE *stream, const char *context)
{
    ether_logger_init_sink(logger, level_min, stream_sink, stream, context);
}

void ether_logger_derive(struct ether_logger *child, const struct ether_logger *parent,
                         const char *extra_context)
{
    *child = *parent;
    size_t used = strlen(child->context);
    if (used > 0 && used + 1 < sizeof child->context) {
        child->context[used++] = ' ';
    }
    /* Truncates silently: a context longer than the buffer is still a useful prefix. */
    size_t room = sizeof child->context - 1 - used;
    size_t extra_length = strnlen(extra_context, room);
    memcpy(child->context + used, extra_context, extra_length);
    child->context[used + extra_length] = '\0';
}

void ether_logv(const struct ether_logger *logger, enum ether_log_level level, const char *format,
                va_list args)
{
    if (logger == NULL || logger->sink == NULL || level < logger->level_min) {
        return;
    }
    char message[ETHER_LOG_LINE_BYTES_MAX];
    vsnprintf(message, sizeof message, format, args);
    /* One event, one line: fold embedded newlines so log processors see one record. */
    for (char *c = message; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r') {
            *c = ' ';
        }
    }
    logger->sink(logger->sink_context, level, logger->context, message);
}

void ether_log(const struct ether_logger *logger, enum ether_log_level level, const char *format,
               ...)
{
    va_list args;
    va_start(args, format);
    ether_logv(logger, level, format, args);
    va_end(args);
}
