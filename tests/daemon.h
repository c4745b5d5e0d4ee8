/* daemon.h: a private xnsd on a socket in a fresh temporary directory, for
 * the integration harness and for xnsbench. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct test_daemon {
        pid_t pid;              /* -1: not running */
        char dir[64];           /* the temporary directory; "" once removed */
        char sock[96];          /* dir/xns.sock */
};

#define TEST_DAEMON_INIT { .pid = -1 }

/*
 * Makes a directory from dir_template (mkdtemp: it ends in XXXXXX), forks,
 * runs child_setup (may be NULL) in the child and execs
 * `exe --socket DIR/xns.sock extra...` (extra is NULL-terminated, may be
 * NULL), then waits up to timeout_ms until xnsd answers a request
 * (daemon_answers()), not merely until its socket exists. On failure
 * returns a negative errno with why describing it, and leaves nothing
 * running and no directory behind.
 */
int test_daemon_start(struct test_daemon *d, const char *exe, const char *dir_template,
                      const char *const *extra, void (*child_setup)(void), int timeout_ms,
                      char *why, size_t why_size);
/* The fork, exec and wait of test_daemon_start() in d's existing directory:
 * starts xnsd again on the same socket path (after the last one died). */
int test_daemon_spawn(struct test_daemon *d, const char *exe, const char *const *extra,
                      void (*child_setup)(void), int timeout_ms, char *why, size_t why_size);
/* SIGTERM, up to timeout_ms to exit, then SIGKILL. 1 when it exited in
 * time, 0 when it had to be killed, negative errno on failure; *status is
 * its wait status. Leaves the directory. */
int test_daemon_stop(struct test_daemon *d, int timeout_ms, int *status);
/* Removes the files in the directory and the directory itself. */
void test_daemon_remove_dir(struct test_daemon *d);

/* Helpers for whoever starts processes. */
bool socket_accepts(const char *path);
/* Connects to path and asks xnsd for its status (a control request, which
 * opens no process session): 1 when it answered within timeout_ms, 0 when
 * it did not, negative errno when the connect or the exchange failed. */
int daemon_answers(const char *path, int timeout_ms);
/* Waits up to timeout_ms for pid (a child): 1 and *status when reaped,
 * 0 on timeout, negative errno on failure. */
int wait_child(pid_t pid, int *status, int timeout_ms);
void describe_status(char *buf, size_t size, int status);
/* The number after "key": in a JSON text (what xnsctl --json and a
 * nats-server's monitoring port print); false without one. */
bool json_long(const char *json, const char *key, long *value);
/* The state letter of a process from /proc/PID/stat (R, S, T, Z ...), or 0
 * when it is gone. */
char process_state(pid_t pid);
