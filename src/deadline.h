/* deadline.h - a time ms milliseconds from now on CLOCK_MONOTONIC, for
 * pthread_cond_timedwait on a condition set to that clock (a change of the
 * wall clock must neither stretch nor cut a wait). */
#ifndef LEADPIPEFS_DEADLINE_H
#define LEADPIPEFS_DEADLINE_H

#include <time.h>

static inline struct timespec lp_deadline_ms(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
