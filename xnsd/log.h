/* log.h: the daemon's one-line log messages to stderr, with priorities for the journal. */
#pragma once

#include <stdbool.h>

extern int log_level;   /* 0 errors, 1 info (default), 2 debug */

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(0, __VA_ARGS__)
#define log_info(...) log_write(1, __VA_ARGS__)
#define log_debug(...) log_write(2, __VA_ARGS__)
