/* harness.h: shared helpers of the integration suites: a private xnsd per
 * test, child processes that run a function and talk back over a channel,
 * and assertions that work both in a test and in its children. */
#pragma once

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <xous/xous.h>

#include "clock.h"                      /* now_ms(), sleep_ms() */

#define HARNESS_TEST_TIMEOUT_S 30       /* per test: a hang fails instead of blocking CI */
#define HARNESS_WAIT_MS 10000           /* default bound on any wait for a child */
#define PAGE 4096u

/* --- the daemon ---------------------------------------------------------
 * Each test case holds one test and its own xnsd (an unchecked fixture run
 * by the Check runner, so the daemon is stopped and its directory removed
 * even when the test fails). XOUS_SOCKET is set before the test starts. */
void harness_daemon_start(unsigned queue_depth);        /* 0: xnsd's default */
/* xnsd with these options (NULL-terminated), its log (stderr) in the
 * daemon's directory when keep_log; harness_daemon_log() reads it. */
void harness_daemon_start_args(const char *const *extra, bool keep_log);
/* The same, running setup (may be NULL) in the daemon's child before exec. */
void harness_daemon_start_setup(const char *const *extra, bool keep_log, void (*setup)(void));
char *harness_daemon_log(void);                         /* malloc'd; "" without one */
/* Lines of the daemon's log holding needle (and needle2, unless NULL),
 * waiting up to timeout_ms for the first: logging runs at its own pace. */
unsigned harness_daemon_log_lines(const char *needle, const char *needle2, int timeout_ms);
/* From a test, after harness_daemon_kill(): reaps the old xnsd and starts a
 * new one on the same socket path (options: extra, NULL-terminated). */
void harness_daemon_restart(const char *const *extra);
void harness_daemon_stop(void);
void harness_setup(void);                               /* default daemon */
void harness_teardown(void);
pid_t harness_daemon_pid(void);
const char *harness_socket_path(void);
/* From a test: signal xnsd and wait (bounded) until it is dead. */
void harness_daemon_kill(int sig);

/* --- what xnsd shows: its control snapshot, as xnsctl reads it ----------
 * Tests wait for these instead of for time to pass. The waits are bounded
 * by HARNESS_WAIT_MS and fail the test with what xnsd showed last. */
struct harness_name_state {
        bool registered;
        unsigned queued;        /* slots in use: queued, or handed out and unanswered */
        unsigned stalled;       /* senders waiting for room */
        unsigned receivers;     /* server threads waiting to receive */
};
struct harness_name_state harness_name_state(const char *name);
/* Whether process pid holds a connection to the server registered as name. */
bool harness_name_has_client(const char *name, pid_t pid);
unsigned harness_pending_calls(void);                   /* callers blocked in a send */
/* Until name's queue holds at least queued messages, at least stalled
 * senders wait for room and at least receivers threads wait to receive. */
void harness_wait_name(const char *name, unsigned queued, unsigned stalled, unsigned receivers);
void harness_wait_pending_calls(unsigned n);            /* until exactly n */
void harness_wait_peer_gone(pid_t pid);                 /* until xnsd let process pid go */

/* One test case per test, with its own daemon started by setup. */
void harness_add_test(Suite *s, const TTest *t, SFun setup, SFun teardown);
#define HARNESS_ADD(s, t) harness_add_test((s), (t), harness_setup, harness_teardown)
int harness_run(Suite *s);

/* --- assertions (in a test, its threads and its child processes) ------- */
_Noreturn void harness_fail_at(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
const char *harness_errname(xous_error_t e);
/* Records file:line as the test's last position, so a timeout names the
 * call that hung (main thread of the test process only). */
void harness_mark(const char *file, int line);

#define EXPECT(cond)                                                                    \
        do {                                                                            \
                harness_mark(__FILE__, __LINE__);                                       \
                if (!(cond))                                                            \
                        harness_fail_at(__FILE__, __LINE__, "assertion '%s' failed", #cond); \
        } while (0)
#define EXPECT_MSG(cond, fmt, ...)                                                      \
        do {                                                                            \
                harness_mark(__FILE__, __LINE__);                                       \
                if (!(cond))                                                            \
                        harness_fail_at(__FILE__, __LINE__, "assertion '%s' failed: " fmt, \
                                        #cond, ##__VA_ARGS__);                          \
        } while (0)
#define EXPECT_ERR(call, want)                                                          \
        do {                                                                            \
                harness_mark(__FILE__, __LINE__);                                       \
                xous_error_t _got = (call), _want = (want);                             \
                if (_got != _want)                                                      \
                        harness_fail_at(__FILE__, __LINE__, "%s: got %s, want %s", #call, \
                                        harness_errname(_got), harness_errname(_want)); \
        } while (0)
#define EXPECT_OK(call) EXPECT_ERR(call, XOUS_OK)
#define EXPECT_EQ(a, b)                                                                 \
        do {                                                                            \
                long long _a = (long long)(a), _b = (long long)(b);                     \
                if (_a != _b)                                                           \
                        harness_fail_at(__FILE__, __LINE__, "%s == %s: %lld (0x%llx) != %lld (0x%llx)", \
                                        #a, #b, _a, (unsigned long long)_a, _b, (unsigned long long)_b); \
        } while (0)

/* --- child processes ---------------------------------------------------- */
struct proc {
        const char *name;
        pid_t pid;
        int chan;               /* stream socket to the child */
        int err;                /* the child's failure text */
        int status;             /* after reaping */
        bool reaped;
};

/* Forks a child that runs fn(arg) and exits 0 when it returns. */
void proc_start(struct proc *p, const char *name, void (*fn)(void *arg), void *arg);
/* Parent side. proc_recv fails the test on timeout or when the child exits. */
void proc_send(struct proc *p, const void *buf, size_t len);
void proc_recv(struct proc *p, void *buf, size_t len);
/* 1: received; 0: nothing within timeout_ms; fails the test if the child exited. */
int proc_recv_timeout(struct proc *p, void *buf, size_t len, int timeout_ms);
void proc_send_u32(struct proc *p, uint32_t v);
uint32_t proc_recv_u32(struct proc *p);
void proc_send_sid(struct proc *p, xous_sid_t sid);
xous_sid_t proc_recv_sid(struct proc *p);
/* Reaping: exit status must be code / death by sig, within HARNESS_WAIT_MS. */
void proc_wait_exit(struct proc *p, int code);
void proc_wait_signal(struct proc *p, int sig);
void proc_kill(struct proc *p);         /* SIGKILL and reap */
/* Waits until child p, which said it is about to make a request that
 * blocks (a call, a wait for a name), is blocked reading the answer, then
 * makes a round trip to xnsd: xnsd has handled what the child sent, and
 * parked the request if it parks it. The child must have opened its link
 * to xnsd before saying so, or its hello would pass for the request. */
void proc_wait_blocked(struct proc *p);
/* The system call a process is blocked in, -1 when running or gone. */
long proc_syscall(pid_t pid);
bool proc_waits_for_xnsd(pid_t pid);

/* Child side: the channel to the parent. parent_recv waits up to 20 s. */
void parent_send(const void *buf, size_t len);
void parent_recv(void *buf, size_t len);
void parent_send_u32(uint32_t v);
uint32_t parent_recv_u32(void);
void parent_send_sid(xous_sid_t sid);
xous_sid_t parent_recv_sid(void);
int parent_chan_fd(void);               /* the channel's socket, to poll beside others */

/* --- threads ------------------------------------------------------------ */
void thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
void thread_join(pthread_t t, int timeout_ms);

/* --- misc --------------------------------------------------------------- */
xous_sid_t random_sid(void);
bool sid_equal(xous_sid_t a, xous_sid_t b);
/* Fills / checks a buffer with a pattern derived from seed. */
void fill_pattern(void *buf, size_t len, uint32_t seed);
bool check_pattern(const void *buf, size_t len, uint32_t seed);
/* A bare SEQPACKET link to the test's xnsd, for speaking raw frames. */
int raw_connect(void);
/* Connects to name, waiting for it to be registered. */
xous_cid_t connect_name(const char *name);
/* utime + stime of a process, in clock ticks. */
unsigned long long proc_cpu_ticks(pid_t pid);

/* --- a ready-made server -------------------------------------------------
 * echo_server(name) registers name (no connection limit), sends its SID to
 * the parent, then answers every BlockingScalar with a1 + 1 and drops every
 * other message, until it receives opcode ECHO_QUIT (answered with 0). */
#define ECHO_QUIT 0x5155u
void echo_serve(xous_sid_t sid);
void echo_server(void *name);
/* Sends ECHO_QUIT on cid and expects the server process p to exit 0. */
void echo_stop(struct proc *p, xous_cid_t cid);
/* Context switches (voluntary + not) of all threads of a process: how many
 * times it was scheduled out, so about how many times it woke up. */
unsigned long long proc_wakeups(pid_t pid);
/* Descriptors process pid has open; with prefix, only those whose target
 * (as /proc/PID/fd shows it) begins with it, as "/memfd:". */
unsigned proc_fds(pid_t pid, const char *prefix);
