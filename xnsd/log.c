/* log.c: the daemon's one-line log messages to stderr, prefixed with their
 * priority (sd-daemon(3)) when stderr is the journal. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"

int log_level = 1;

/* Whether stderr is the stream systemd connected to the journal: it sets
 * $JOURNAL_STREAM to that stream's "device:inode" (systemd.exec(5)). */
static bool stderr_is_journal(void) {
        const char *env = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        int end = 0;

        if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 || env[end])
                return false;
        return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void log_write(int level, const char *fmt, ...) {
        static const char *const name[] = { "error", "info", "debug" };
        static const char *const priority[] = { SD_ERR, SD_INFO, SD_DEBUG };
        va_list ap;

        if (level > log_level)
                return;
        fprintf(stderr, "%sxnsd: %s: ", stderr_is_journal() ? priority[level] : "", name[level]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
