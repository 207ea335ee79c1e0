/* clock.h: a monotonic clock in seconds, for rates, progress and benchmarks. */
#ifndef FR_CORE_CLOCK_H
#define FR_CORE_CLOCK_H

double fr_seconds(void);

#endif
