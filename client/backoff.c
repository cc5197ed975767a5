/*
 * backoff.c: how long to wait before retrying. Exponential steps bounded by
 * a maximum, with "equal jitter" so that many clients retrying after the
 * same failure spread out. The jitter comes from a seeded splitmix64, so a
 * seed reproduces a run's delays exactly.
 */
#include "client/client_internal.h"

#include "common/panic.h"

uint64_t client_prng_next(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ull;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void client_backoff_init(struct client_backoff *backoff, uint32_t base_ms, uint32_t max_ms,
                         uint64_t seed)
{
    backoff->base_ms = base_ms;
    backoff->max_ms = max_ms < base_ms ? base_ms : max_ms;
    backoff->prng_state = seed;
    ETHER_ASSERT(backoff->base_ms <= backoff->max_ms);
}

uint32_t client_backoff_delay_ms(struct client_backoff *backoff, uint32_t attempt)
{
    ETHER_ASSERT(backoff->base_ms <= backoff->max_ms);
    if (attempt == 0) {
        attempt = 1;
    }
    uint64_t step_ms = backoff->base_ms;
    for (uint32_t i = 1; i < attempt && step_ms < backoff->max_ms; i++) {
        step_ms *= 2;
    }
    if (step_ms > backoff->max_ms) {
        step_ms = backoff->max_ms;
    }
    uint64_t low_ms = step_ms / 2;
    uint64_t span_ms = step_ms - low_ms;
    uint64_t delay_ms = low_ms + client_prng_next(&backoff->prng_state) % (span_ms + 1);
    if (delay_ms == 0 && backoff->base_ms > 0) {
        delay_ms = 1;
    }
    ETHER_ASSERT(delay_ms <= backoff->max_ms);
    return (uint32_t)delay_ms;
}
