/*
 * log.h: a small leveled logger that writes one line per event.
 *
 * There is no global logger: a `struct ether_logger` is owned by whoever
 * creates it (the broker, a test) and passed to the modules that report
 * events. A NULL logger is valid and discards everything, so libraries can
 * log without forcing their callers to configure logging.
 *
 * Line format (the default stderr sink):
 *   2026-11-27T16:40:00.123Z WARN  [broker=1 orders/3] message
 * The bracketed context is the logger's `context` string, set by its owner.
 */
#ifndef ETHER_COMMON_LOG_H
#define ETHER_COMMON_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum ether_log_level {
    ETHER_LOG_DEBUG = 0,
    ETHER_LOG_INFO = 1,
    ETHER_LOG_WARN = 2,
    ETHER_LOG_ERROR = 3,
};

enum { ETHER_LOG_CONTEXT_BYTES_MAX = 96, ETHER_LOG_LINE_BYTES_MAX = 1024 };

/* Receives each formatted message (no trailing newline) at or above the logger's level. */
typedef void ether_log_sink_fn(void *sink_context, enum ether_log_level level, const char *context,
                               const char *message);

struct ether_logger {
    enum ether_log_level level_min;
    ether_log_sink_fn *sink;
    void *sink_context;
    char context[ETHER_LOG_CONTEXT_BYTES_MAX];
};

/* A logger that writes lines to `stream` (stderr when NULL). */
void ether_logger_init_stream(struct ether_logger *logger, enum ether_log_level level_min,
                              FILE *stream, const char *context);

void ether_logger_init_sink(struct ether_logger *logger, enum ether_log_level level_min,
                            ether_log_sink_fn *sink, void *sink_context, const char *context);

/* A copy of `parent` whose context is the parent's followed by " " and `extra_context`. */
void ether_logger_derive(struct ether_logger *child, const struct ether_logger *parent,
                         const char *extra_context);

/* "DEBUG", "INFO", "WARN", "ERROR"; parses the same (case-insensitive), -1 if unknown. */
const char *ether_log_level_name(enum ether_log_level level);
int ether_log_level_parse(const char *name);

#if defined(__GNUC__)
#define ETHER_PRINTF(format_index, first_arg) \
    __attribute__((format(printf, format_index, first_arg)))
#else
#define ETHER_PRINTF(format_index, first_arg)
#endif

void ether_log(const struct ether_logger *logger, enum ether_log_level level, const char *format,
               ...) ETHER_PRINTF(3, 4);
void ether_logv(const struct ether_logger *logger, enum ether_log_level level, const char *format,
                va_list args);

#define ether_log_debug(logger, ...) ether_log((logger), ETHER_LOG_DEBUG, __VA_ARGS__)
#define ether_log_info(logger, ...)  ether_log((logger), ETHER_LOG_INFO, __VA_ARGS__)
#define ether_log_warn(logger, ...)  ether_log((logger), ETHER_LOG_WARN, __VA_ARGS__)
#define ether_log_error(logger, ...) ether_log((logger), ETHER_LOG_ERROR, __VA_ARGS__)

#endif
