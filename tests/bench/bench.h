/* bench.h: what the parts of xnsbench share: options, results, child
 * processes that die with the benchmark, timing and CPU accounting. */
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <xous/xous.h>

#include "clock.h"                      /* sleep_ms() */
#include "daemon.h"

#define STALL_S 30              /* watchdog: longest time without progress */
#define CHILD_WAIT_MS 20000     /* longest wait for an answer from a child */

/* --- options and results ------------------------------------------------ */

struct options {
        size_t n;               /* round trips per latency case */
        int pin;                /* CPU, or -1 */
        const char *xnsd;       /* the daemon binary */
        unsigned duration_ms;   /* of each clients_N case */
        bool smoke;             /* small sizes: checks answers, numbers mean little */
        bool remote;            /* the cases across hosts (NATS) instead of the local ones */
};

extern struct options opt;

/* Fields that a case does not measure stay NAN and are not printed. */
struct result {
        const char *name;
        char skipped[200];      /* why the case did not run, or "" */
        size_t n;               /* round trips or messages measured */
        double median_ns, p99_ns, cpu_ns_per_op, ops_per_s, daemon_rss_kb;
        double clients;         /* clients_N: processes that really ran */
        double min_client_ops;  /* clients_N: the slowest client's round trips in the window */
        char note[200];
};

#define RESULT_INIT(n_) { .name = (n_), .median_ns = NAN, .p99_ns = NAN, .cpu_ns_per_op = NAN, \
                          .ops_per_s = NAN, .daemon_rss_kb = NAN, .clients = NAN, .min_client_ops = NAN }

/* Sizes derived from the options. */
size_t rounds_latency(void);    /* blocking_scalar, baselines, dbus */
size_t rounds_lend(void);       /* lend_mut_* */
size_t rounds_copy(void);       /* copy_16m */
size_t messages_throughput(void);
size_t rounds_remote(size_t size);     /* nats_rr_*, remote_blocking_scalar, remote_lend_mut_* */

/* --- the running benchmark ---------------------------------------------- */

/* Names the case being measured in failure messages. */
void bench_set_case(const char *name);
/* Prints "xnsbench: CASE: message" and exits 1: in the benchmark after
 * stopping every child and removing the directory, in a child at once. */
_Noreturn void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Re-arms the watchdog: call whenever something moved. */
void progress(void);
/* Sets up signals, the watchdog, pinning and limits. */
void bench_init(void);
/* The private xnsd, started once per run. */
void bench_start_xnsd(void);
pid_t xnsd_pid(void);
const char *bench_dir(void);
/* Stops everything and removes the directory (the normal end of a run). */
void bench_cleanup(void);
/* A file in the run's directory, removed on every exit path. */
void bench_path(char *buf, size_t size, const char *name);

/* --- child processes ---------------------------------------------------- */

/* In a fresh child: default signals, death with the benchmark, pinning, and
 * only stdio plus keep[] left open. */
void child_setup(const int *keep, size_t n_keep);
/* Forks a tracked child that runs child_setup(keep): 0 in the child, the
 * pid in the benchmark, negative errno when fork fails. */
pid_t bench_fork(const int *keep, size_t n_keep);
/* Tracks a child forked some other way (killed on every exit path), and
 * stops tracking it once it is reaped. */
void bench_track(pid_t pid);
void bench_untrack(pid_t pid);
/* Waits up to timeout_ms for a tracked child, killing it after that;
 * returns its wait status, and whether it exited in time in *in_time. */
int bench_reap(pid_t pid, int timeout_ms, bool *in_time);

struct child {
        const char *name;
        pid_t pid;
        int chan;               /* the benchmark's end of a stream socketpair */
};

/* Forks a child that runs fn(chan, arg) and exits 0 when fn returns. */
void child_start(struct child *c, const char *name, void (*fn)(int chan, void *arg), void *arg,
                 const int *keep, size_t n_keep);
void child_send(struct child *c, const void *buf, size_t len);
/* Fails the case when the child dies or says nothing within CHILD_WAIT_MS. */
void child_recv(struct child *c, void *buf, size_t len);
/* Closes the channel and expects the child to exit 0 within CHILD_WAIT_MS. */
void child_stop(struct child *c);
/* Child side of the channel; the benchmark is alive (or we are dead). */
void chan_send(int chan, const void *buf, size_t len);
void chan_recv(int chan, void *buf, size_t len);

/* --- measuring ---------------------------------------------------------- */

int64_t now_ns(void);
/* Sleeps, keeping the watchdog quiet. */
void wait_ms(long ms);
/* CPU time (user + system, all threads) of a process; pid 0 is this one. */
int64_t cpu_ns(pid_t pid);
/* VmRSS of a process in KiB, or -1. */
long rss_kb(pid_t pid);

/* One checked round trip with argument i; returns its duration in ns. */
typedef int64_t round_fn(void *ctx, uint32_t i);
/* warmup untimed rounds, then n timed ones: median, p99 and, over the
 * timed rounds, the CPU time of this process and of pids[] per round. */
void measure_latency(struct result *r, size_t n, size_t warmup, round_fn *round, void *ctx,
                     const pid_t *pids, size_t n_pids);
int64_t cpu_ns_sum(const pid_t *pids, size_t n_pids);   /* plus this process */

/* Full reads and writes on a blocking stream; -errno, or 0 at EOF before the first byte. */
ssize_t read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);

/* An executable by name on $PATH, else fallback; NULL if neither runs. */
const char *find_exe(const char *name, const char *fallback);

/* --- the cases ---------------------------------------------------------- */

/* The 24-byte request and reply of the socket baselines. */
struct msg24 {
        uint32_t op, a1, a2, a3, a4, pad;
};

enum {
        OP_ADD = 1,     /* round trip: answer a1 + 1 */
        OP_WRITE,       /* MutableBorrow: word 0 += 1 */
        OP_COUNT,       /* one-way: a1 = sequence number, a2 = sender */
        OP_QUIT,
};

/* What a counting receiver reports once it has seen every message. */
struct count_report {
        uint64_t count;
        int64_t t_last_ns;      /* CLOCK_MONOTONIC at the last message */
        char error[120];        /* "" when every message was in order */
};

/* Checks one-way messages: per sender, sequence numbers 0, 1, 2 ... */
struct counter {
        uint64_t count, target;
        uint32_t senders;
        uint32_t next[8];
        char error[120];
};
void counter_init(struct counter *c, uint64_t target, uint32_t senders);
/* Counts one message; true when the target has just been reached. */
bool counter_add(struct counter *c, uint32_t seq, uint32_t sender);
void counter_report(const struct counter *c, struct count_report *rep);

/* The xns server (xns.c), which the cases across hosts share. */
struct server_arg {
        char name[64];
        const char *socket;     /* the xnsd to register on, or NULL: $XOUS_SOCKET */
        bool reply_next;        /* serve with xous_reply_and_receive_next() */
        uint64_t count_target;  /* OP_COUNT messages to count, then report */
        uint64_t report_every;  /* and report every so many before, or 0 */
        uint32_t senders;
};
void xns_server_main(int chan, void *arg);

/* The rounds of blocking_scalar (ctx: a xous_cid_t) and lend_mut_*. */
int64_t scalar_round(void *ctx, uint32_t i);
struct lend_ctx {
        xous_cid_t cid;
        xous_buf_t *buf;
};
int64_t lend_round(void *ctx, uint32_t i);
/* Sends count OP_COUNT Scalars numbered 0, 1, 2 ... as sender. */
void send_scalars(xous_cid_t cid, uint32_t sender, uint64_t count);

/* nats-server: $NATS_SERVER, else on $PATH or in /usr/sbin; NULL, and why
 * in skipped, when there is none to run (nats.c). */
const char *nats_server_exe(char *skipped, size_t size);

void case_daemon_rss_idle(struct result *r, long arg);
void case_blocking_scalar(struct result *r, long reply_next);
void case_scalar_throughput(struct result *r, long senders);
void case_lend_mut(struct result *r, long size);
void case_clients(struct result *r, long clients);

void case_baseline_pair(struct result *r, long arg);
void case_baseline_relay(struct result *r, long arg);
void case_baseline_shm_relay(struct result *r, long arg);
void case_relay_throughput(struct result *r, long arg);
void case_copy(struct result *r, long size);

void case_dbus_daemon(struct result *r, long arg);
void case_dbus_broker(struct result *r, long arg);

void case_nats_rr(struct result *r, long size);
void case_nats_publish(struct result *r, long arg);

void case_remote_blocking_scalar(struct result *r, long arg);
void case_remote_lend_mut(struct result *r, long size);
void case_remote_scalar_throughput(struct result *r, long arg);
