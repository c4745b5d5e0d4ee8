/* test-log.c: xnsd's log lines, with sd-daemon priority prefixes only when
 * stderr is the journal's stream ($JOURNAL_STREAM is its device:inode). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

/* Sets $JOURNAL_STREAM to the device and inode of fd, as systemd names the
 * journal's stream that it connects a service's stderr to. */
static void journal_stream_is(int fd) {
        struct stat st;
        char env[64];

        EXPECT(fstat(fd, &st) == 0);
        snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        EXPECT(setenv("JOURNAL_STREAM", env, 1) == 0);
}

/* In xnsd's child, after its stderr went to the log file. */
static void journal_is_stderr(void) {
        journal_stream_is(STDERR_FILENO);
}

/* A stream left over from a service, while stderr goes elsewhere. */
static void journal_is_elsewhere(void) {
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        journal_stream_is(fd);
        close(fd);
}

static void setup_journal(void) {
        static const char *const extra[] = { "-v", NULL };

        harness_daemon_start_setup(extra, true, journal_is_stderr);
}

static void setup_elsewhere(void) {
        static const char *const extra[] = { "-v", NULL };

        harness_daemon_start_setup(extra, true, journal_is_elsewhere);
}

/* Whether a line of xnsd's log starts with start. */
static bool log_has_line(const char *start) {
        char *log = harness_daemon_log();
        bool found = false;

        for (const char *l = log; *l && !found; l = strchrnul(l, '\n'), l += *l == '\n')
                found = !strncmp(l, start, strlen(start));
        free(log);
        return found;
}

/* A process comes along (one debug line) and goes; the log as it is then. */
static char *log_of_one_process(void) {
        char line[80];
        xous_sid_t sid;

        EXPECT_OK(xous_create_server(&sid));
        snprintf(line, sizeof(line), "pid %d: new process", (int)getpid());
        EXPECT_MSG(harness_daemon_log_lines(line, NULL, HARNESS_WAIT_MS) == 1, "no '%s' logged", line);
        EXPECT_OK(xous_destroy_server(sid));
        return harness_daemon_log();
}

START_TEST(xnsd_log_in_the_journal) {
        char *log = log_of_one_process();
        char line[80];

        EXPECT_MSG(log_has_line("<6>xnsd: info: listening on "), "log:\n%s", log);
        snprintf(line, sizeof(line), "<7>xnsd: debug: pid %d: new process", (int)getpid());
        EXPECT_MSG(log_has_line(line), "no '%s' in the log:\n%s", line, log);
        EXPECT_MSG(!log_has_line("xnsd: "), "a line without its priority:\n%s", log);
        free(log);
}
END_TEST

START_TEST(xnsd_log_elsewhere_plain) {
        char *log = log_of_one_process();

        EXPECT_MSG(log_has_line("xnsd: info: listening on "), "log:\n%s", log);
        EXPECT_MSG(!log_has_line("<"), "a priority prefix in a log that is not the journal:\n%s", log);
        free(log);
}
END_TEST

/* log_write() in this process, its stderr a file that $JOURNAL_STREAM names
 * or not; what it wrote there. */
static void log_each_level(bool journal, char *out, size_t size) {
        FILE *f = tmpfile();
        int saved = dup(STDERR_FILENO);
        size_t n;

        EXPECT(f && saved >= 0 && dup2(fileno(f), STDERR_FILENO) == STDERR_FILENO);
        if (journal)
                journal_is_stderr();
        else
                journal_is_elsewhere();
        log_level = 2;
        log_error("e %d", 1);
        log_info("i %d", 2);
        log_debug("d %d", 3);
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(f);
        n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        fclose(f);
}

/* Each of the three levels with its priority, or none when stderr is not
 * the journal's stream. */
START_TEST(log_write_priorities) {
        char out[256];

        log_each_level(true, out, sizeof(out));
        EXPECT_MSG(!strcmp(out, "<3>xnsd: error: e 1\n<6>xnsd: info: i 2\n<7>xnsd: debug: d 3\n"), "got '%s'", out);

        log_each_level(false, out, sizeof(out));
        EXPECT_MSG(!strcmp(out, "xnsd: error: e 1\nxnsd: info: i 2\nxnsd: debug: d 3\n"), "got '%s'", out);
}
END_TEST

int main(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("log_write");         /* in this process: no daemon */

        harness_add_test(s, xnsd_log_in_the_journal, setup_journal, harness_teardown);
        harness_add_test(s, xnsd_log_elsewhere_plain, setup_elsewhere, harness_teardown);
        tcase_add_test(tc, log_write_priorities);
        suite_add_tcase(s, tc);
        return harness_run(s);
}
