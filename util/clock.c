/* clock.c: the time on a clock in the units xns counts in, and sleeping. */
#include <errno.h>

#include "clock.h"

/* clock_ns() - the time on clock (CLOCK_MONOTONIC, ...) in nanoseconds. */
uint64_t clock_ns(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* clock_us() - the same in microseconds. */
uint64_t clock_us(clockid_t clock) {
        return clock_ns(clock) / 1000;
}

/* now_ms() - CLOCK_MONOTONIC in milliseconds, for deadlines. */
uint64_t now_ms(void) {
        return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

/* deadline_ms() - the first millisecond on now_ms()'s clock at least
 * timeout_ms from now: a wait until then lasts timeout_ms at least. */
uint64_t deadline_ms(uint32_t timeout_ms) {
        return (clock_ns(CLOCK_MONOTONIC) + 999999) / 1000000 + timeout_ms;
}

/* sleep_ms() - sleeps ms milliseconds, whatever signals come meanwhile. */
void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}
