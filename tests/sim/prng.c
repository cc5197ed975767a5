#include "tests/sim/prng.h"

#include "common/panic.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotate_left(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

void sim_prng_seed(struct sim_prng *prng, uint64_t seed)
{
    uint64_t mix = seed;
    for (int i = 0; i < 4; i++) {
        prng->state[i] = splitmix64(&mix);
    }
    /* splitmix64 never yields four zero words in a row, the one bad xoshiro state. */
    ETHER_ASSERT((prng->state[0] | prng->state[1] | prng->state[2] | prng->state[3]) != 0);
}

uint64_t sim_prng_next(struct sim_prng *prng)
{
    uint64_t *s = prng->state;
    uint64_t result = rotate_left(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotate_left(s[3], 45);
    return result;
}

uint64_t sim_prng_below(struct sim_prng *prng, uint64_t bound)
{
    ETHER_ASSERT(bound > 0);
    /* The modulo bias is below 2^-40 for the small bounds the simulator uses. */
    return sim_prng_next(prng) % bound;
}

uint64_t sim_prng_range(struct sim_prng *prng, uint64_t low, uint64_t high)
{
    ETHER_ASSERT(low <= high);
    if (high - low == UINT64_MAX) {
        return sim_prng_next(prng);
    }
    return low + sim_prng_below(prng, high - low + 1);
}

bool sim_prng_chance(struct sim_prng *prng, uint32_t per_million)
{
    ETHER_ASSERT(per_million <= 1000000);
    return sim_prng_below(prng, 1000000) < per_million;
}
