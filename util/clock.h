/* clock.h: the time on a clock in the units xns counts in, and sleeping. */
#pragma once

#include <stdint.h>
#include <time.h>

uint64_t clock_ns(clockid_t clock);
uint64_t clock_us(clockid_t clock);
uint64_t now_ms(void);
uint64_t deadline_ms(uint32_t timeout_ms);
void sleep_ms(unsigned ms);
