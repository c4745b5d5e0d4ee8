/* log.c: the daemon's one-line log messages to stderr. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

int log_level = 1;

void log_write(int level, const char *fmt, ...) {
        static const char *const prefix[] = { "error", "info", "debug" };
        va_list ap;

        if (level > log_level)
                return;
        fprintf(stderr, "xnsd: %s: ", prefix[level]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
