/* clock.c: CLOCK_MONOTONIC as seconds. */
#include "core/clock.h"

#include <time.h>

double fr_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
