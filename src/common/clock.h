/* Clocks: monotonic for intervals, realtime for timestamps in events. */
#ifndef GODWIT_COMMON_CLOCK_H
#define GODWIT_COMMON_CLOCK_H

#include <stdint.h>

#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_USEC 1000ULL

uint64_t time_mono_ns(void);
uint64_t time_real_ns(void);

#endif
