/*
 * roundtrip.c: xns-roundtrip, round-trip latency through xnsd.
 *
 * Starts a private xnsd on a socket in a fresh temporary directory, forks a
 * server process, and times from this (caller) process, one call at a time:
 *
 *   blocking_scalar  xous_blocking_scalar(a1) answered with a1 + 1
 *   lend_mut_4k      xous_lend_mut of a 4 KiB buffer; the server adds 1 to word 0
 *   lend_mut_16m     the same with a 16 MiB buffer
 *
 * Buffers are allocated once and reused. Every answer is checked: a wrong
 * one exits 1. Prints median and p99 in microseconds, as a table and then as
 * one JSON object per line.
 *
 * Usage: xns-roundtrip [-n N] [--pin CPU] [--xnsd PATH]
 *   -n N        scalar rounds (default 20000); lends do N/4, at least 200
 *   --pin CPU   pin daemon, server and caller to CPU
 *   --xnsd PATH the daemon (default $XNSD, else build/xnsd/xnsd)
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xous/xous.h>

#define SERVER_NAME "xns-bench-roundtrip"
#define WARMUP 200
#define STALL_S 10              /* watchdog: longest time without progress */

enum { OP_ADD = 1, OP_WRITE = 2, OP_QUIT = 3 };

static struct {
        pid_t caller, xnsd, server;
        int pin;                /* CPU, or -1 */
        char dir[64], sock[96];
        xous_cid_t cid;
        bool connected;
} g = { .pin = -1 };

struct result {
        const char *name;
        size_t n;
        double median_us, p99_us;
};

static int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int pin_self(void) {
        cpu_set_t set;

        if (g.pin < 0)
                return 0;
        CPU_ZERO(&set);
        CPU_SET(g.pin, &set);
        return sched_setaffinity(0, sizeof(set), &set);
}

/* --- cleanup ------------------------------------------------------------- */

/* Waits up to timeout_ms for pid, then kills it; returns its wait status. */
static int reap(pid_t pid, long timeout_ms) {
        int status = 0;

        for (long t = 0; waitpid(pid, &status, WNOHANG) == 0; t += 2) {
                if (t >= timeout_ms) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        break;
                }
                sleep_ms(2);
        }
        return status;
}

static void remove_dir(void) {
        if (g.sock[0])
                unlink(g.sock);
        if (g.dir[0])
                rmdir(g.dir);
        g.sock[0] = g.dir[0] = 0;
}

/* Stops server and daemon and removes the directory; 0 if the server exited cleanly. */
static int cleanup(void) {
        int status = 0;

        alarm(0);
        if (g.server > 0) {
                if (!g.connected || xous_send_scalar(g.cid, OP_QUIT, 0, 0, 0, 0) != XOUS_OK)
                        kill(g.server, SIGKILL);
                status = reap(g.server, 5000);
                g.server = 0;
        }
        if (g.xnsd > 0) {
                kill(g.xnsd, SIGTERM);
                reap(g.xnsd, 5000);
                g.xnsd = 0;
        }
        remove_dir();
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static _Noreturn void fail(const char *fmt, ...) {
        va_list ap;

        fputs("xns-roundtrip: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        cleanup();
        exit(1);
}

/* SIGALRM (watchdog), SIGINT, SIGTERM: async-signal-safe teardown. */
static void on_signal(int sig) {
        static const char msg[] = "xns-roundtrip: stalled or interrupted, giving up\n";
        ssize_t ignored;

        (void)sig;
        if (g.server > 0)
                kill(g.server, SIGKILL);
        if (g.xnsd > 0)
                kill(g.xnsd, SIGKILL);
        if (g.server > 0)
                waitpid(g.server, NULL, 0);
        if (g.xnsd > 0)
                waitpid(g.xnsd, NULL, 0);
        remove_dir();
        ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)ignored;
        _exit(1);
}

/* --- child processes ----------------------------------------------------- */

/* In a fresh child: default signals, die with the caller, pin. */
static void child_setup(void) {
        signal(SIGALRM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != g.caller)
                _exit(1);
        if (pin_self() < 0)
                _exit(1);
}

static int socket_accepts(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return 0;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        return r == 0;
}

static void start_daemon(const char *xnsd) {
        int64_t deadline = now_ns() + 5 * (int64_t)1000000000;

        g.xnsd = fork();
        if (g.xnsd < 0)
                fail("fork: %s", strerror(errno));
        if (g.xnsd == 0) {
                child_setup();
                execl(xnsd, "xnsd", "--socket", g.sock, "--quiet", (char *)NULL);
                fprintf(stderr, "xns-roundtrip: exec %s: %s\n", xnsd, strerror(errno));
                _exit(127);
        }
        while (!socket_accepts(g.sock)) {
                if (waitpid(g.xnsd, NULL, WNOHANG) == g.xnsd) {
                        g.xnsd = 0;
                        fail("xnsd (%s) exited before its socket accepted", xnsd);
                }
                if (now_ns() > deadline)
                        fail("xnsd socket did not accept within 5 s");
                sleep_ms(5);
        }
}

/* The server: answers until OP_QUIT. */
static _Noreturn void serve(void) {
        xous_envelope_t *env;
        xous_sid_t sid;
        xous_error_t e;

        e = xous_register_name(SERVER_NAME, 0, &sid);
        if (e != XOUS_OK) {
                fprintf(stderr, "xns-roundtrip server: register: %s\n", xous_strerror(e));
                _exit(2);
        }
        for (;;) {
                e = xous_receive_message(sid, &env);
                if (e != XOUS_OK) {
                        fprintf(stderr, "xns-roundtrip server: receive: %s\n", xous_strerror(e));
                        _exit(3);
                }
                if (xous_envelope_id(env) == OP_QUIT) {
                        xous_envelope_drop(env);
                        break;
                }
                if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR) {
                        xous_return_scalar(env, xous_envelope_args(env)[0] + 1);
                } else if (xous_envelope_kind(env) == XOUS_MSG_MUTABLE_BORROW &&
                           xous_envelope_buf_len(env) >= sizeof(uint32_t)) {
                        uint32_t *word = xous_envelope_buf(env);

                        word[0] += 1;
                        xous_envelope_set_offset_valid(env, 0, sizeof(uint32_t));
                }
                xous_envelope_drop(env);
        }
        xous_unregister_server(sid);
        _exit(0);
}

static void start_server(void) {
        xous_error_t e;

        g.server = fork();
        if (g.server < 0)
                fail("fork: %s", strerror(errno));
        if (g.server == 0) {
                child_setup();
                serve();
        }
        alarm(STALL_S);
        e = xous_request_connection_blocking(SERVER_NAME, &g.cid);
        if (e != XOUS_OK)
                fail("connect to %s: %s", SERVER_NAME, xous_strerror(e));
        g.connected = true;
}

/* --- the cases ----------------------------------------------------------- */

/* One checked round trip with argument i; returns its duration in ns. */
typedef int64_t round_fn(void *ctx, uint32_t i);

static int64_t scalar_round(void *ctx, uint32_t i) {
        xous_scalar_reply_t reply = { 0 };
        int64_t t0 = now_ns(), t;
        xous_error_t e;

        (void)ctx;
        e = xous_blocking_scalar(g.cid, OP_ADD, i, 0, 0, 0, &reply);
        t = now_ns() - t0;
        if (e != XOUS_OK)
                fail("blocking_scalar: %s", xous_strerror(e));
        if (reply.count != 1 || reply.v[0] != i + 1)
                fail("blocking_scalar(%u) answered %u (count %u)", i, reply.v[0], reply.count);
        return t;
}

static int64_t lend_round(void *ctx, uint32_t i) {
        xous_buf_t *buf = ctx;
        uint32_t *word = xous_buf_data(buf);
        uint32_t offset = 0, valid = (uint32_t)xous_buf_len(buf);
        int64_t t0, t;
        xous_error_t e;

        word[0] = i;
        t0 = now_ns();
        e = xous_lend_mut(g.cid, OP_WRITE, buf, &offset, &valid);
        t = now_ns() - t0;
        if (e != XOUS_OK)
                fail("lend_mut: %s", xous_strerror(e));
        if (word[0] != i + 1 || offset != 0 || valid != sizeof(uint32_t))
                fail("lend_mut(%u) came back with word %u, offset %u, valid %u", i, word[0], offset, valid);
        return t;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

static struct result run_case(const char *name, size_t n, round_fn *round, void *ctx) {
        struct result r = { .name = name, .n = n };
        int64_t *ns = calloc(n, sizeof(*ns));
        uint32_t i = 0;

        if (!ns)
                fail("out of memory");
        for (int w = 0; w < WARMUP; w++)
                round(ctx, i++);
        for (size_t k = 0; k < n; k++) {
                if (k % 256 == 0)
                        alarm(STALL_S);
                ns[k] = round(ctx, i++);
        }
        qsort(ns, n, sizeof(*ns), cmp_i64);
        r.median_us = (n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2.0) / 1000.0;
        r.p99_us = ns[(n * 99 + 99) / 100 - 1] / 1000.0;       /* nearest rank */
        free(ns);
        return r;
}

static struct result run_lend_case(const char *name, size_t n, size_t len) {
        xous_buf_t *buf = xous_buf_new(len);
        struct result r;

        if (!buf)
                fail("xous_buf_new(%zu): %s", len, strerror(errno));
        r = run_case(name, n, lend_round, buf);
        xous_buf_free(buf);
        return r;
}

/* --- main ---------------------------------------------------------------- */

static long parse_num(const char *s, long min, long max, const char *what) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr, "xns-roundtrip: %s wants a number from %ld to %ld, not '%s'\n", what, min, max, s);
                exit(2);
        }
        return v;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "pin", required_argument, NULL, 'p' },
                { "xnsd", required_argument, NULL, 'x' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *xnsd = getenv("XNSD");
        struct result res[3];
        size_t n = 20000, n_lend;
        int c;

        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0) {
                switch (c) {
                case 'n': n = (size_t)parse_num(optarg, 1, 100000000, "-n"); break;
                case 'p': g.pin = (int)parse_num(optarg, 0, CPU_SETSIZE - 1, "--pin"); break;
                case 'x': xnsd = optarg; break;
                case 'h':
                        printf("Usage: %s [-n N] [--pin CPU] [--xnsd PATH]\n", argv[0]);
                        return 0;
                default: return 2;
                }
        }
        if (!xnsd || !*xnsd)
                xnsd = "build/xnsd/xnsd";
        n_lend = n / 4 < 200 ? 200 : n / 4;

        g.caller = getpid();
        if (pin_self() < 0) {
                fprintf(stderr, "xns-roundtrip: cannot pin to CPU %d: %s\n", g.pin, strerror(errno));
                return 1;
        }
        snprintf(g.dir, sizeof(g.dir), "/tmp/xns-bench-XXXXXX");
        if (!mkdtemp(g.dir))
                fail("mkdtemp: %s", strerror(errno));
        snprintf(g.sock, sizeof(g.sock), "%s/xns.sock", g.dir);
        setenv("XOUS_SOCKET", g.sock, 1);
        signal(SIGALRM, on_signal);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);

        start_daemon(xnsd);
        start_server();
        res[0] = run_case("blocking_scalar", n, scalar_round, NULL);
        res[1] = run_lend_case("lend_mut_4k", n_lend, 4096);
        res[2] = run_lend_case("lend_mut_16m", n_lend, 16 << 20);
        if (cleanup() < 0) {
                fprintf(stderr, "xns-roundtrip: the server did not exit cleanly\n");
                return 1;
        }

        if (g.pin >= 0)
                printf("xns round trips, all processes pinned to CPU %d\n", g.pin);
        else
                printf("xns round trips, not pinned\n");
        printf("%-16s %8s %12s %12s\n", "case", "n", "median_us", "p99_us");
        for (int k = 0; k < 3; k++)
                printf("%-16s %8zu %12.2f %12.2f\n", res[k].name, res[k].n, res[k].median_us, res[k].p99_us);
        for (int k = 0; k < 3; k++)
                printf("{\"case\":\"%s\",\"n\":%zu,\"median_us\":%.2f,\"p99_us\":%.2f}\n",
                       res[k].name, res[k].n, res[k].median_us, res[k].p99_us);
        return 0;
}
