#include "common/clock.h"

#include "common/panic.h"

#include <time.h>

uint64_t ether_clock_monotonic_ns(void)
{
    struct timespec now;
    int rc = clock_gettime(CLOCK_MONOTONIC, &now);
    ETHER_ASSERT(rc == 0);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int64_t ether_clock_wall_ms(void)
{
    struct timespec now;
    int rc = clock_gettime(CLOCK_REALTIME, &now);
    ETHER_ASSERT(rc == 0);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
