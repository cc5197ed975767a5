/*
 * chaos.c: what every part of the chaos test shares: the clock, the seeded
 * random numbers, the record value format and the libether configuration.
 *
 * Value format (value_bytes bytes, no NUL):
 *
 *   "p%02d s%012llu t%012lld " then '.' up to value_bytes
 *    producer  sequence  send time (ms since the run started)
 *
 * Anything else read back (wrong length, wrong pad, unparsable head) is a
 * garbled record: id 0.
 */
#include "tests/integration/chaos/chaos.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct timespec clock_origin;

void chaos_clock_start(void)
{
    clock_gettime(CLOCK_MONOTONIC, &clock_origin);
}

int64_t chaos_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - clock_origin.tv_sec) * 1000 +
           (now.tv_nsec - clock_origin.tv_nsec) / 1000000;
}

void chaos_sleep_ms(int64_t ms)
{
    if (ms <= 0) {
        return;
    }
    struct timespec delay = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&delay, &delay) != 0) {
    }
}

uint64_t chaos_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t chaos_random_between(uint64_t *state, int64_t low, int64_t high)
{
    if (high <= low) {
        return low;
    }
    uint64_t span = (uint64_t)(high - low) + 1;
    return low + (int64_t)(chaos_random(state) % span);
}

const char *chaos_fault_name(enum chaos_fault_kind kind)
{
    switch (kind) {
    case CHAOS_FAULT_KILL:
        return "kill";
    case CHAOS_FAULT_PAUSE:
        return "pause";
    case CHAOS_FAULT_DISCONNECT:
        return "disconnect";
    case CHAOS_FAULT_KILL_CONTROLLER:
        return "kill-controller";
    case CHAOS_FAULT_KILL_LEADER:
        return "kill-leader";
    case CHAOS_FAULT_KINDS_COUNT:
        break;
    }
    return "?";
}

enum { VALUE_HEAD_BYTES = 32 }; /* "p00 s000000000000 t000000000000 " */

void chaos_value_format(char *value, size_t value_bytes, int producer, uint64_t sequence,
                        int64_t send_ms)
{
    char head[64];
    int head_bytes = snprintf(head, sizeof head, "p%02d s%012" PRIu64 " t%012" PRId64 " ", producer,
                              sequence, send_ms);
    size_t copied = (size_t)head_bytes < value_bytes ? (size_t)head_bytes : value_bytes;
    memcpy(value, head, copied);
    memset(value + copied, '.', value_bytes - copied);
}

uint64_t chaos_value_parse(const void *value, size_t value_bytes, size_t value_bytes_expected,
                           int64_t *send_ms)
{
    *send_ms = -1;
    if (value == NULL || value_bytes != value_bytes_expected || value_bytes < VALUE_HEAD_BYTES) {
        return 0;
    }
    char head[VALUE_HEAD_BYTES + 1];
    memcpy(head, value, VALUE_HEAD_BYTES);
    head[VALUE_HEAD_BYTES] = '\0';
    int producer = -1;
    uint64_t sequence = 0;
    int64_t sent = -1;
    int consumed = 0;
    if (sscanf(head, "p%2d s%12" SCNu64 " t%12" SCNd64 " %n", &producer, &sequence, &sent,
               &consumed) != 3 ||
        consumed != VALUE_HEAD_BYTES || producer < 0 || producer >= CHAOS_PRODUCERS_MAX ||
        sequence >= (UINT64_C(1) << CHAOS_SEQUENCE_BITS)) {
        return 0;
    }
    const char *bytes = value;
    for (size_t i = VALUE_HEAD_BYTES; i < value_bytes; i++) {
        if (bytes[i] != '.') {
            return 0;
        }
    }
    *send_ms = sent;
    return chaos_record_id(producer, sequence);
}

struct ether_client *chaos_client_new(const struct chaos_options *options, uint64_t stream,
                                      const char *rack, ether_delivery_fn *callback,
                                      void *callback_context, char *errstr, size_t errstr_size)
{
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", options->delivery_timeout_ms);
    char seed[32];
    uint64_t seed_state = options->seed ^ (stream * UINT64_C(0x9E3779B97F4A7C15));
    snprintf(seed, sizeof seed, "%" PRIu64, chaos_random(&seed_state) | 1);
    struct {
        const char *name;
        const char *value;
    } settings[] = {
        {"brokers", options->brokers},
        {"client_id", "ether-chaos"},
        {"acks", "all"},
        {"enable_idempotence", "true"},
        {"request_timeout_ms", "5000"},
        {"delivery_timeout_ms", timeout},
        {"retry_backoff_max_ms", "1000"},
        {"metadata_max_age_ms", "5000"},
        {"fetch_max_wait_ms", "200"},
        {"seed", seed},
        {"rack", rack != NULL ? rack : ""},
    };
    struct ether_config *config = ether_config_new();
    if (config == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (ether_config_set(config, settings[i].name, settings[i].value, errstr, errstr_size) !=
            ETHER_OK) {
            ether_config_free(config);
            return NULL;
        }
    }
    if (callback != NULL) {
        ether_config_set_delivery_callback(config, callback, callback_context);
    }
    struct ether_client *client = ether_client_new(config, errstr, errstr_size);
    ether_config_free(config);
    return client;
}
