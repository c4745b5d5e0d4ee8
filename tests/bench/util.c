/* util.c: xnsbench's processes (tracked, killed on every exit path, a
 * watchdog), its private xnsd, timing and CPU/RSS accounting. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"

#define MAX_TRACKED 2048
#define MAX_PATHS 8

static pid_t main_pid;
static const char *volatile current_case = "setup";
static struct test_daemon xnsd = TEST_DAEMON_INIT;

/* Every live child, so that any exit can kill them; 0 marks a free slot. */
static volatile pid_t tracked[MAX_TRACKED];
static volatile size_t tracked_end;
/* Files in the directory, for the signal handler (which cannot readdir). */
static char paths[MAX_PATHS][128];
static volatile size_t n_paths;

/* --- tracking ----------------------------------------------------------- */

void bench_track(pid_t pid) {
        for (size_t i = 0; i < MAX_TRACKED; i++)
                if (tracked[i] == 0) {
                        tracked[i] = pid;
                        if (i >= tracked_end)
                                tracked_end = i + 1;
                        return;
                }
        kill(pid, SIGKILL);
        bench_fail("more than %d child processes", MAX_TRACKED);
}

void bench_untrack(pid_t pid) {
        for (size_t i = 0; i < tracked_end; i++)
                if (tracked[i] == pid)
                        tracked[i] = 0;
}

/* Async-signal-safe: SIGKILL and reap every tracked child, the newest
 * (clients) before the oldest (the daemons they would complain about). */
static void kill_tracked(void) {
        for (size_t i = tracked_end; i-- > 0;)
                if (tracked[i] > 0)
                        kill(tracked[i], SIGKILL);
        for (size_t i = 0; i < tracked_end; i++)
                if (tracked[i] > 0) {
                        waitpid(tracked[i], NULL, 0);
                        tracked[i] = 0;
                }
}

/* Async-signal-safe: a daemon that is still starting is not tracked yet. */
static void kill_starting_xnsd(void) {
        pid_t pid = xnsd.pid;

        if (pid <= 0)
                return;
        for (size_t i = 0; i < tracked_end; i++)
                if (tracked[i] == pid)
                        return;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

/* Async-signal-safe: the known files and the directory. */
static void remove_paths(void) {
        if (xnsd.sock[0])
                unlink(xnsd.sock);
        for (size_t i = 0; i < n_paths; i++)
                unlink(paths[i]);
        if (xnsd.dir[0])
                rmdir(xnsd.dir);
}

static void write_str(const char *s) {
        ssize_t ignored = write(STDERR_FILENO, s, strlen(s));

        (void)ignored;
}

static void on_fatal_signal(int sig) {
        kill_starting_xnsd();
        kill_tracked();
        remove_paths();
        write_str("xnsbench: ");
        write_str(current_case);
        write_str(sig == SIGALRM ? ": no progress for 30 s (watchdog), giving up\n" : ": interrupted\n");
        _exit(sig == SIGALRM ? 1 : 128 + sig);
}

void bench_set_case(const char *name) {
        current_case = name;
        progress();
}

void bench_fail(const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "xnsbench: %s: ", current_case);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (getpid() != main_pid)
                _exit(1);
        alarm(0);
        kill_tracked();
        xnsd.pid = -1;
        test_daemon_remove_dir(&xnsd);
        exit(1);
}

void progress(void) {
        if (getpid() == main_pid)
                alarm(STALL_S);
}

static int pin_self(void) {
        cpu_set_t set;

        if (opt.pin < 0)
                return 0;
        CPU_ZERO(&set);
        CPU_SET(opt.pin, &set);
        return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

void bench_init(void) {
        static const int fatal[] = { SIGALRM, SIGINT, SIGTERM, SIGHUP, SIGQUIT };
        struct sigaction sa = { .sa_handler = on_fatal_signal };
        struct rlimit rl;
        int r;

        main_pid = getpid();
        sigfillset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(fatal); i++)
                sigaction(fatal[i], &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = pin_self();
        if (r < 0)
                bench_fail("cannot pin to CPU %d: %s", opt.pin, strerror(-r));
        /* clients_1000 and its daemon need more than 1024 descriptors. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        progress();
}

static void daemon_child_setup(void) {
        child_setup(NULL, 0);
}

void bench_start_xnsd(void) {
        static const char *const extra[] = { "--quiet", NULL };
        char why[300];

        if (test_daemon_start(&xnsd, opt.xnsd, "/tmp/xnsbench-XXXXXX", extra, daemon_child_setup, 5000,
                              why, sizeof(why)) < 0)
                bench_fail("%s", why);
        bench_track(xnsd.pid);
        setenv("XOUS_SOCKET", xnsd.sock, 1);
}

pid_t xnsd_pid(void) {
        int status;

        if (xnsd.pid > 0 && waitpid(xnsd.pid, &status, WNOHANG) == xnsd.pid) {
                char how[96];

                bench_untrack(xnsd.pid);
                xnsd.pid = -1;
                describe_status(how, sizeof(how), status);
                bench_fail("xnsd %s", how);
        }
        return xnsd.pid;
}

const char *bench_dir(void) {
        return xnsd.dir;
}

void bench_path(char *buf, size_t size, const char *name) {
        snprintf(buf, size, "%s/%s", xnsd.dir, name);
        for (size_t i = 0; i < n_paths; i++)
                if (!strcmp(paths[i], buf))
                        return;
        if (n_paths < MAX_PATHS && strlen(buf) < sizeof(paths[0]))
                snprintf(paths[n_paths++], sizeof(paths[0]), "%s", buf);
}

void bench_cleanup(void) {
        int status;

        alarm(0);
        if (xnsd_pid() > 0) {
                pid_t pid = xnsd.pid;
                char how[96];
                int r;

                r = test_daemon_stop(&xnsd, 2000, &status);
                bench_untrack(pid);
                if (r == 0) {
                        fprintf(stderr, "xnsbench: xnsd ignored SIGTERM for 2 s, killed it\n");
                } else if (r > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        describe_status(how, sizeof(how), status);
                        fprintf(stderr, "xnsbench: xnsd %s on SIGTERM\n", how);
                }
        }
        kill_tracked();
        test_daemon_remove_dir(&xnsd);
}

/* --- child processes ---------------------------------------------------- */

static int cmp_int(const void *a, const void *b) {
        return *(const int *)a - *(const int *)b;
}

static void close_all_but(const int *keep, size_t n_keep) {
        int sorted[16];
        unsigned from = 3;

        if (n_keep > ELEMENTSOF(sorted))
                _exit(1);
        if (n_keep > 0)         /* keep may be NULL then: memcpy(_, NULL, 0) is undefined */
                memcpy(sorted, keep, n_keep * sizeof(int));
        qsort(sorted, n_keep, sizeof(int), cmp_int);
        for (size_t i = 0; i < n_keep; i++) {
                if (sorted[i] < (int)from)
                        continue;
                if (sorted[i] > (int)from)
                        close_range(from, (unsigned)sorted[i] - 1, 0);
                from = (unsigned)sorted[i] + 1;
        }
        close_range(from, ~0u, 0);
}

void child_setup(const int *keep, size_t n_keep) {
        static const int sigs[] = { SIGALRM, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
        struct sigaction dfl = { .sa_handler = SIG_DFL };

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaction(sigs[i], &dfl, NULL);
        alarm(0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != main_pid)
                _exit(1);
        close_all_but(keep, n_keep);
}

pid_t bench_fork(const int *keep, size_t n_keep) {
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                child_setup(keep, n_keep);
                return 0;
        }
        bench_track(pid);
        return pid;
}

int bench_reap(pid_t pid, int timeout_ms, bool *in_time) {
        int status = 0, r;

        r = wait_child(pid, &status, timeout_ms);
        *in_time = r > 0;
        if (r == 0) {
                kill(pid, SIGKILL);
                wait_child(pid, &status, 5000);
        }
        bench_untrack(pid);
        return status;
}

void child_start(struct child *c, const char *name, void (*fn)(int chan, void *arg), void *arg,
                 const int *keep, size_t n_keep) {
        int sv[2], all[16];
        pid_t pid;

        if (n_keep >= ELEMENTSOF(all))
                bench_fail("too many descriptors for %s", name);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                bench_fail("socketpair: %s", strerror(errno));
        if (n_keep)
                memcpy(all, keep, n_keep * sizeof(int));
        all[n_keep] = sv[1];
        pid = bench_fork(all, n_keep + 1);
        if (pid < 0)
                bench_fail("fork %s: %s", name, strerror((int)-pid));
        if (pid == 0) {
                fn(sv[1], arg);
                _exit(0);
        }
        close(sv[1]);
        *c = (struct child){ .name = name, .pid = pid, .chan = sv[0] };
}

void child_send(struct child *c, const void *buf, size_t len) {
        if (write_full(c->chan, buf, len) < 0)
                bench_fail("cannot talk to %s: %s", c->name, strerror(errno));
}

static _Noreturn void child_died(struct child *c) {
        char how[96];
        bool in_time;
        int status;

        close(c->chan);
        status = bench_reap(c->pid, 2000, &in_time);
        describe_status(how, sizeof(how), status);
        bench_fail("%s %s", c->name, in_time ? how : "closed its channel but did not exit");
}

void child_recv(struct child *c, void *buf, size_t len) {
        int64_t deadline = now_ns() + (int64_t)CHILD_WAIT_MS * 1000000;
        char *b = buf;
        size_t got = 0;

        while (got < len) {
                struct pollfd pfd = { .fd = c->chan, .events = POLLIN };
                int64_t left = (deadline - now_ns()) / 1000000;
                ssize_t n;
                int r;

                r = poll(&pfd, 1, left > 0 ? (int)left : 0);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0)
                        bench_fail("no answer from %s within %d s", c->name, CHILD_WAIT_MS / 1000);
                n = recv(c->chan, b + got, len - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        child_died(c);
                got += (size_t)n;
        }
        progress();
}

void child_stop(struct child *c) {
        char how[96];
        bool in_time;
        int status;

        if (c->pid <= 0)
                return;
        close(c->chan);
        status = bench_reap(c->pid, CHILD_WAIT_MS, &in_time);
        c->pid = 0;
        if (!in_time)
                bench_fail("%s did not exit within %d s", c->name, CHILD_WAIT_MS / 1000);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                describe_status(how, sizeof(how), status);
                bench_fail("%s %s", c->name, how);
        }
        progress();
}

void chan_send(int chan, const void *buf, size_t len) {
        if (write_full(chan, buf, len) < 0)
                _exit(1);
}

void chan_recv(int chan, void *buf, size_t len) {
        if (read_full(chan, buf, len) != (ssize_t)len)
                _exit(1);
}

ssize_t read_full(int fd, void *buf, size_t len) {
        char *b = buf;
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, b + got, len - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        if (got == 0)
                                return 0;
                        return -EPIPE;
                }
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int write_full(int fd, const void *buf, size_t len) {
        const char *b = buf;

        while (len > 0) {
                ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

                if (n < 0 && errno == ENOTSOCK)
                        n = write(fd, b, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                b += n;
                len -= (size_t)n;
        }
        return 0;
}

/* --- measuring ---------------------------------------------------------- */

int64_t now_ns(void) {
        return (int64_t)clock_ns(CLOCK_MONOTONIC);
}

void wait_ms(long ms) {
        for (; ms > 0; ms -= 1000) {
                sleep_ms(ms < 1000 ? (unsigned)ms : 1000);
                progress();
        }
}

static int64_t cpu_ns_from_stat(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long utime, stime;
        _cleanup_close_ int fd = -1;
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -1;
        buf[n] = 0;
        p = strrchr(buf, ')');
        /* after the comm: state ppid pgrp session tty tpgid flags minflt
         * cminflt majflt cmajflt utime stime */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -1;
        return (int64_t)((utime + stime) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

int64_t cpu_ns(pid_t pid) {
        struct timespec ts;
        clockid_t clk = CLOCK_PROCESS_CPUTIME_ID;

        if (pid > 0 && clock_getcpuclockid(pid, &clk) != 0)
                return cpu_ns_from_stat(pid);
        if (clock_gettime(clk, &ts) < 0)
                return pid > 0 ? cpu_ns_from_stat(pid) : -1;
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cpu_ns_sum(const pid_t *pids, size_t n_pids) {
        int64_t sum = cpu_ns(0);

        for (size_t i = 0; i < n_pids; i++) {
                int64_t t = cpu_ns(pids[i]);

                if (t < 0)
                        bench_fail("cannot read the CPU time of pid %d", (int)pids[i]);
                sum += t;
        }
        return sum;
}

long rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

void measure_latency(struct result *r, size_t n, size_t warmup, round_fn *round, void *ctx,
                     const pid_t *pids, size_t n_pids) {
        _cleanup_free_ int64_t *ns = calloc(n ? n : 1, sizeof(*ns));
        int64_t cpu0, cpu1;
        uint32_t i = 0;

        if (!ns)
                bench_fail("out of memory");
        for (size_t w = 0; w < warmup; w++) {
                if (w % 256 == 0)
                        progress();
                round(ctx, i++);
        }
        cpu0 = cpu_ns_sum(pids, n_pids);
        for (size_t k = 0; k < n; k++) {
                if (k % 256 == 0)
                        progress();
                ns[k] = round(ctx, i++);
        }
        cpu1 = cpu_ns_sum(pids, n_pids);
        progress();
        if (n == 0)
                return;
        qsort(ns, n, sizeof(*ns), cmp_i64);
        r->n = n;
        r->median_ns = n % 2 ? (double)ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2.0;
        r->p99_ns = (double)ns[(n * 99 + 99) / 100 - 1];       /* nearest rank */
        r->cpu_ns_per_op = (double)(cpu1 - cpu0) / (double)n;
}

const char *find_exe(const char *name, const char *fallback) {
        static char found[PATH_MAX];
        const char *path = getenv("PATH");

        while (path && *path) {
                const char *end = strchrnul(path, ':');

                snprintf(found, sizeof(found), "%.*s/%s", (int)(end - path), path, name);
                if (end > path && access(found, X_OK) == 0)
                        return found;
                path = *end ? end + 1 : end;
        }
        return fallback && access(fallback, X_OK) == 0 ? fallback : NULL;
}

/* --- one-way message checking -------------------------------------------- */

void counter_init(struct counter *c, uint64_t target, uint32_t senders) {
        *c = (struct counter){ .target = target, .senders = senders };
}

bool counter_add(struct counter *c, uint32_t seq, uint32_t sender) {
        if (sender >= c->senders || sender >= ELEMENTSOF(c->next)) {
                if (!c->error[0])
                        snprintf(c->error, sizeof(c->error), "message from unknown sender %u", sender);
        } else if (seq != c->next[sender]) {
                if (!c->error[0])
                        snprintf(c->error, sizeof(c->error), "sender %u: message %u arrived when %u was due",
                                 sender, seq, c->next[sender]);
                c->next[sender] = seq + 1;
        } else {
                c->next[sender]++;
        }
        return ++c->count == c->target;
}

void counter_report(const struct counter *c, struct count_report *rep) {
        *rep = (struct count_report){ .count = c->count, .t_last_ns = now_ns() };
        memcpy(rep->error, c->error, sizeof(rep->error));
}
