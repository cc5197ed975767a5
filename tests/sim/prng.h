/*
 * prng.h: the simulator's only source of randomness.
 *
 * xoshiro256** seeded through splitmix64, so one 64-bit seed fixes every
 * choice of a run and the same seed replays bit for bit on every machine.
 * Nothing else in tests/sim/ may read a clock, an address or rand().
 */
#ifndef ETHER_SIM_PRNG_H
#define ETHER_SIM_PRNG_H

#include <stdbool.h>
#include <stdint.h>

struct sim_prng {
    uint64_t state[4];
};

void sim_prng_seed(struct sim_prng *prng, uint64_t seed);

uint64_t sim_prng_next(struct sim_prng *prng);

/* Uniform in [0, bound); bound must be > 0. */
uint64_t sim_prng_below(struct sim_prng *prng, uint64_t bound);

/* Uniform in [low, high], inclusive. */
uint64_t sim_prng_range(struct sim_prng *prng, uint64_t low, uint64_t high);

/* True with probability per_million / 1,000,000. */
bool sim_prng_chance(struct sim_prng *prng, uint32_t per_million);

#endif
