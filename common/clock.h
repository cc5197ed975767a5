/*
 * clock.h: the only place outside broker/ that reads the system clocks.
 *
 * raft/ and storage/ never call these: time reaches them as parameters
 * (ticks, timestamps), so tests and the simulator stay deterministic.
 */
#ifndef ETHER_COMMON_CLOCK_H
#define ETHER_COMMON_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary point; for durations only. */
uint64_t ether_clock_monotonic_ns(void);

/* Milliseconds since the Unix epoch; for timestamps shown to people or stored in records. */
int64_t ether_clock_wall_ms(void);

#endif
