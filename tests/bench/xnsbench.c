/*
 * xnsbench.c: xnsd against the floors of socket IPC and against D-Bus.
 *
 * Starts a private xnsd on a socket in a fresh temporary directory and its
 * own peer processes (servers, senders, clients, a minimal epoll relay over
 * sockets and one in shared memory, dbus-daemon and dbus-broker; with
 * --remote, a 3-node NATS cluster on loopback, its clients, and two hosts
 * on it, each an xnsd and an xnsgw), runs the cases, stops them all on
 * every exit path (children die with us, a watchdog ends a stalled run),
 * and prints a table, the target ratios, and one JSON object per line for
 * scripts.
 * Every answer is checked: a wrong one exits 1 naming the case.
 */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"
#include "parse.h"

struct options opt = { .n = 20000, .pin = -1, .duration_ms = 1500 };

static const struct bench_case {
        const char *name;
        void (*run)(struct result *r, long arg);
        long arg;
        const char *what;
        bool remote;            /* runs only with --remote */
} cases[] = {
        { "daemon_rss_idle_kb", case_daemon_rss_idle, 0, "VmRSS of the freshly started xnsd", false },
        { "blocking_scalar", case_blocking_scalar, 0, "BlockingScalar round trip (server: receive, drop)", false },
        { "blocking_scalar_reply_next", case_blocking_scalar, 1,
          "the same, server loop on xous_reply_and_receive_next (not in the targets)", false },
        { "baseline_pair", case_baseline_pair, 0, "24-byte request/reply over a SEQPACKET socketpair", false },
        { "baseline_relay", case_baseline_relay, 0, "the same through a minimal epoll relay process", false },
        { "baseline_shm_relay", case_baseline_shm_relay, 0,
          "the same through a relay in shared memory, eventfd doorbells, relay in epoll", false },
        { "dbus_daemon", case_dbus_daemon, 0, "sd-bus method call, u32 in and out, via dbus-daemon", false },
        { "dbus_broker", case_dbus_broker, 0, "the same via dbus-broker", false },
        { "scalar_throughput", case_scalar_throughput, 1, "one-way Scalars, 1 sender to 1 server", false },
        { "relay_throughput", case_relay_throughput, 0, "one-way 24-byte messages through the relay", false },
        { "scalar_throughput_4", case_scalar_throughput, 4, "one-way Scalars, 4 sender processes", false },
        { "lend_mut_4k", case_lend_mut, 4 << 10, "lend_mut of a reused 4 KiB buffer, server writes a word", false },
        { "lend_mut_64k", case_lend_mut, 64 << 10, "the same, 64 KiB", false },
        { "lend_mut_1m", case_lend_mut, 1 << 20, "the same, 1 MiB", false },
        { "lend_mut_16m", case_lend_mut, 16 << 20, "the same, 16 MiB", false },
        { "copy_16m", case_copy, 16 << 20, "16 MiB through a stream socket and back (hosted Xous)", false },
        { "clients_16", case_clients, 16, "16 client processes doing BlockingScalars", false },
        { "clients_256", case_clients, 256, "the same, 256 clients", false },
        { "clients_1000", case_clients, 1000, "the same, 1000 clients", false },
        { "nats_rr_16", case_nats_rr, 16, "NATS request/reply, 16 B echoed, node A to node B", true },
        { "nats_rr_64k", case_nats_rr, 64 << 10, "the same, 64 KiB", true },
        { "nats_rr_1m", case_nats_rr, 1 << 20, "the same, 1 MiB (the largest NATS message)", true },
        { "nats_publish", case_nats_publish, 0, "one-way 16 B NATS publishes, node A to node B", true },
        { "remote_blocking_scalar", case_remote_blocking_scalar, 0,
          "BlockingScalar from host a (xnsd+xnsgw on node A) to host b (node B)", true },
        { "remote_lend_mut_64k", case_remote_lend_mut, 64 << 10,
          "lend_mut of a reused 64 KiB buffer across hosts, server writes a word", true },
        { "remote_lend_mut_1m", case_remote_lend_mut, 1 << 20, "the same, 1 MiB", true },
        { "remote_scalar_throughput", case_remote_scalar_throughput, 0,
          "one-way Scalars from host a to host b, until the server has them all", true },
};

static struct result results[ELEMENTSOF(cases)];
static bool selected[ELEMENTSOF(cases)];

size_t rounds_latency(void) {
        return opt.n;
}

size_t rounds_lend(void) {
        return opt.n / 4 > 10 ? opt.n / 4 : 10;
}

size_t rounds_copy(void) {
        return opt.n / 200 > 5 ? opt.n / 200 : 5;
}

size_t messages_throughput(void) {
        return opt.n * 10;
}

/* Request/reply across hosts: as many as the local latency cases for small
 * messages, fewer for 64 KiB, fewer still for 1 MiB. */
size_t rounds_remote(size_t size) {
        if (size <= 4096)
                return rounds_latency();
        if (size <= 65536)
                return rounds_latency() / 20 > 10 ? rounds_latency() / 20 : 10;
        return rounds_copy();
}

/* --- options ------------------------------------------------------------- */

static void usage(const char *argv0) {
        printf("Usage: %s [OPTION]...\n"
               "Measures xnsd against socket IPC floors and D-Bus; starts and stops its own\n"
               "xnsd and peers. Prints a table, target ratios, then one JSON object per line.\n\n"
               "  -n N              round trips per latency case (default 20000); lends do N/4,\n"
               "                    copy_16m N/200, throughput cases send 10*N messages;\n"
               "                    across hosts, 64 KiB N/20 times and 1 MiB N/200 times\n"
               "      --pin CPU     run every process on that one CPU (default: they float)\n"
               "      --xnsd PATH   the daemon (default $XNSD, else build/xnsd/xnsd, else\n"
               "                    ../../xnsd/xnsd next to this program)\n"
               "      --cases A,B   run only these cases\n"
               "      --duration MS length of each clients_N measurement (default 1500)\n"
               "      --smoke       small sizes (-n 200, --duration 200): checks every answer,\n"
               "                    the numbers mean little\n"
               "      --remote      the cases across hosts (marked *) instead of the local ones:\n"
               "                    a private 3-node NATS cluster on loopback (needs nats-server)\n"
               "                    and two hosts on it (xnsd and xnsgw: $XNSGW, else the\n"
               "                    xnsgw/xnsgw beside the xnsd)\n"
               "  -h, --help        show this help\n\nCases:\n", argv0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                printf("%c %-28s %s\n", cases[i].remote ? '*' : ' ', cases[i].name, cases[i].what);
}

static uint32_t parse_num(const char *s, uint32_t min, uint32_t max, const char *what) {
        uint32_t v;

        if (parse_u32(s, &v) < 0 || v < min || v > max) {
                fprintf(stderr, "xnsbench: %s wants a number from %u to %u, not '%s'\n", what, min, max, s);
                exit(2);
        }
        return v;
}

static void select_cases(const char *list) {
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;

        if (!copy)
                exit(2);
        for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(cases); i++)
                        if (!strcmp(cases[i].name, name))
                                break;
                if (i == ELEMENTSOF(cases)) {
                        fprintf(stderr, "xnsbench: no case '%s' (--help lists them)\n", name);
                        exit(2);
                }
                selected[i] = true;
        }
}

static const char *default_xnsd(void) {
        static char path[PATH_MAX + 32];
        const char *env = getenv("XNSD");
        char self[PATH_MAX];
        ssize_t n;

        if (env && *env)
                return env;
        if (access("build/xnsd/xnsd", X_OK) == 0)
                return "build/xnsd/xnsd";
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = 0;
                *strrchr(self, '/') = 0;
                snprintf(path, sizeof(path), "%s/../../xnsd/xnsd", self);
                if (access(path, X_OK) == 0)
                        return path;
        }
        return NULL;
}

static void parse_options(int argc, char **argv) {
        static const struct option options[] = {
                { "pin", required_argument, NULL, 'p' },
                { "xnsd", required_argument, NULL, 'x' },
                { "cases", required_argument, NULL, 'c' },
                { "duration", required_argument, NULL, 'd' },
                { "smoke", no_argument, NULL, 's' },
                { "remote", no_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool have_n = false, have_duration = false, any = false;
        int c;

        while ((c = getopt_long(argc, argv, "n:h", options, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        opt.n = (size_t)parse_num(optarg, 1, 100000000, "-n");
                        have_n = true;
                        break;
                case 'p': opt.pin = (int)parse_num(optarg, 0, CPU_SETSIZE - 1, "--pin"); break;
                case 'x': opt.xnsd = optarg; break;
                case 'c': select_cases(optarg); break;
                case 'd':
                        opt.duration_ms = (unsigned)parse_num(optarg, 10, 600000, "--duration");
                        have_duration = true;
                        break;
                case 's': opt.smoke = true; break;
                case 'r': opt.remote = true; break;
                case 'h': usage(argv[0]); exit(0);
                default: exit(2);
                }
        }
        if (optind < argc) {
                fprintf(stderr, "xnsbench: unexpected argument '%s'\n", argv[optind]);
                exit(2);
        }
        if (opt.smoke && !have_n)
                opt.n = 200;
        if (opt.smoke && !have_duration)
                opt.duration_ms = 200;
        if (!opt.xnsd)
                opt.xnsd = default_xnsd();
        if (!opt.xnsd) {
                fprintf(stderr, "xnsbench: cannot find xnsd: set XNSD or pass --xnsd PATH\n");
                exit(2);
        }
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (selected[i] && cases[i].remote && !opt.remote) {
                        fprintf(stderr, "xnsbench: case '%s' runs only with --remote\n", cases[i].name);
                        exit(2);
                }
                any |= selected[i];
        }
        if (!any)
                for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                        selected[i] = cases[i].remote == opt.remote;
}

/* --- output -------------------------------------------------------------- */

static const struct result *find_result(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (selected[i] && !strcmp(cases[i].name, name) && !results[i].skipped[0])
                        return &results[i];
        return NULL;
}

static void print_us(double ns) {
        if (isnan(ns))
                printf(" %11s", "-");
        else
                printf(" %11.2f", ns / 1000.0);
}

static void print_count(double v) {
        if (isnan(v))
                printf(" %12s", "-");
        else
                printf(" %12.0f", v);
}

static void print_table(void) {
        printf("%-27s %8s %11s %11s %11s %12s %12s\n", "case", "n", "median_us", "p99_us", "cpu_us/op", "ops/s",
               "daemon_rss_kb");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct result *r = &results[i];

                if (!selected[i])
                        continue;
                if (r->skipped[0]) {
                        printf("%s: skipped: %s\n", r->name, r->skipped);
                        continue;
                }
                if (r->n)
                        printf("%-27s %8zu", r->name, r->n);
                else
                        printf("%-27s %8s", r->name, "-");
                print_us(r->median_ns);
                print_us(r->p99_ns);
                print_us(r->cpu_ns_per_op);
                print_count(r->ops_per_s);
                print_count(r->daemon_rss_kb);
                printf("\n");
                if (!isnan(r->min_client_ops))
                        printf("%-27s %.0f clients, the slowest did %.0f round trips in the window\n", "",
                               r->clients, r->min_client_ops);
                if (r->note[0])
                        printf("%-27s note: %s\n", "", r->note);
        }
}

static void json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        printf("\\%c", *s);
                else if ((unsigned char)*s < 0x20)
                        printf("\\u%04x", *s);
                else
                        putchar(*s);
        }
        putchar('"');
}

static void json_number(const char *key, double v) {
        if (!isnan(v))
                printf(",\"%s\":%.0f", key, v);
}

static void print_json(void) {
        printf("{\"case\":\"run\",\"n\":%zu,\"pin\":", opt.n);
        if (opt.pin >= 0)
                printf("%d", opt.pin);
        else
                printf("null");
        printf(",\"cpus\":%ld,\"smoke\":%s,\"remote\":%s,\"xnsd\":", sysconf(_SC_NPROCESSORS_ONLN),
               opt.smoke ? "true" : "false", opt.remote ? "true" : "false");
        json_string(opt.xnsd);
        printf("}\n");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const struct result *r = &results[i];

                if (!selected[i])
                        continue;
                printf("{\"case\":\"%s\"", r->name);
                if (r->skipped[0]) {
                        printf(",\"skipped\":");
                        json_string(r->skipped);
                        printf("}\n");
                        continue;
                }
                if (r->n)
                        printf(",\"n\":%zu", r->n);
                json_number("median_ns", r->median_ns);
                json_number("p99_ns", r->p99_ns);
                json_number("cpu_ns_per_op", r->cpu_ns_per_op);
                json_number("ops_per_s", r->ops_per_s);
                json_number("daemon_rss_kb", r->daemon_rss_kb);
                json_number("clients", r->clients);
                json_number("min_client_ops", r->min_client_ops);
                if (r->note[0]) {
                        printf(",\"note\":");
                        json_string(r->note);
                }
                printf("}\n");
        }
}

/* --- targets ------------------------------------------------------------- */

enum field { MEDIAN, CPU, OPS, RSS };

static double value_of(const char *name, enum field f) {
        const struct result *r = find_result(name);

        if (!r)
                return NAN;
        switch (f) {
        case MEDIAN: return r->median_ns;
        case CPU: return r->cpu_ns_per_op;
        case OPS: return r->ops_per_s;
        case RSS: return r->daemon_rss_kb;
        }
        return NAN;
}

struct target {
        const char *label;
        double value;
        bool at_most;           /* value <= limit, else value >= limit */
        double limit;
};

/* Where the targets that compare --remote cases start. */
static int first_remote_target;

static int compute_targets(struct target *t) {
        double bs = value_of("blocking_scalar", MEDIAN);
        int n = 0;

        t[n++] = (struct target){ "blocking_scalar/baseline_relay", bs / value_of("baseline_relay", MEDIAN), true,
                                  0.75 };
        t[n++] = (struct target){ "blocking_scalar/baseline_shm_relay", bs / value_of("baseline_shm_relay", MEDIAN),
                                  true, 1.3 };
        t[n++] = (struct target){ "blocking_scalar/dbus_broker", bs / value_of("dbus_broker", MEDIAN), true, 0.3 };
        t[n++] = (struct target){ "blocking_scalar/dbus_daemon", bs / value_of("dbus_daemon", MEDIAN), true, 0.25 };
        t[n++] = (struct target){ "cpu:blocking_scalar/baseline_relay",
                                  value_of("blocking_scalar", CPU) / value_of("baseline_relay", CPU), true, 0.8 };
        t[n++] = (struct target){ "scalar_throughput/relay_throughput",
                                  value_of("scalar_throughput", OPS) / value_of("relay_throughput", OPS), false, 2.0 };
        t[n++] = (struct target){ "lend_mut_4k/blocking_scalar", value_of("lend_mut_4k", MEDIAN) / bs, true, 1.3 };
        t[n++] = (struct target){ "lend_mut_16m/lend_mut_4k",
                                  value_of("lend_mut_16m", MEDIAN) / value_of("lend_mut_4k", MEDIAN), true, 1.5 };
        t[n++] = (struct target){ "copy_16m/lend_mut_16m",
                                  value_of("copy_16m", MEDIAN) / value_of("lend_mut_16m", MEDIAN), false, 20.0 };
        t[n++] = (struct target){ "clients_256/clients_16",
                                  value_of("clients_256", OPS) / value_of("clients_16", OPS), false, 0.8 };
        t[n++] = (struct target){ "daemon_rss_kb(clients_1000)", value_of("clients_1000", RSS), true, 32768 };
        t[n++] = (struct target){ "daemon_rss_idle_kb", value_of("daemon_rss_idle_kb", RSS), true, 4096 };
        first_remote_target = n;
        t[n++] = (struct target){ "remote_blocking_scalar/nats_rr_16",
                                  value_of("remote_blocking_scalar", MEDIAN) / value_of("nats_rr_16", MEDIAN), true,
                                  1.5 };
        t[n++] = (struct target){ "remote_lend_mut_64k/nats_rr_64k",
                                  value_of("remote_lend_mut_64k", MEDIAN) / value_of("nats_rr_64k", MEDIAN), true,
                                  1.5 };
        t[n++] = (struct target){ "remote_lend_mut_1m/nats_rr_1m",
                                  value_of("remote_lend_mut_1m", MEDIAN) / value_of("nats_rr_1m", MEDIAN), true,
                                  1.5 };
        t[n++] = (struct target){ "remote_scalar_throughput/nats_publish",
                                  value_of("remote_scalar_throughput", OPS) / value_of("nats_publish", OPS), false,
                                  0.5 };
        return n;
}

/* Whether to show the target: it compares cases of this run's kind (local
 * or --remote), or cases this run measured anyway. */
static bool in_run(const struct target *t, int i) {
        return (i >= first_remote_target) == opt.remote || !isnan(t[i].value);
}

/* Whether this run measured what any of its targets compares. */
static bool any_measured(const struct target *t, int n) {
        for (int i = 0; i < n; i++)
                if (in_run(t, i) && !isnan(t[i].value))
                        return true;
        return false;
}

static const char *verdict(const struct target *t) {
        if (isnan(t->value))
                return "n/a";
        return (t->at_most ? t->value <= t->limit : t->value >= t->limit) ? "PASS" : "MISS";
}

static void print_targets(const struct target *t, int n) {
        printf("\n%-38s %10s %10s  %s\n", "target (from this run)", "value", "target", "result");
        for (int i = 0; i < n; i++) {
                char limit[32];

                if (!in_run(t, i))
                        continue;
                snprintf(limit, sizeof(limit), "%s %g", t[i].at_most ? "<=" : ">=", t[i].limit);
                if (isnan(t[i].value))
                        printf("%-38s %10s %10s  %s\n", t[i].label, "-", limit, verdict(&t[i]));
                else
                        printf("%-38s %10.3f %10s  %s\n", t[i].label, t[i].value, limit, verdict(&t[i]));
        }
}

static void print_targets_json(const struct target *t, int n) {
        printf("{\"case\":\"ratios\"");
        for (int i = 0; i < n; i++) {
                if (!in_run(t, i))
                        continue;
                printf(",\"%s\":{\"value\":", t[i].label);
                if (isnan(t[i].value))
                        printf("null");
                else
                        printf("%.4g", t[i].value);
                printf(",\"target\":\"%s%g\",\"pass\":%s}", t[i].at_most ? "<=" : ">=", t[i].limit,
                       isnan(t[i].value) ? "null" : !strcmp(verdict(&t[i]), "PASS") ? "true" : "false");
        }
        printf("}\n");
}

/* --- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
        struct target targets[32];
        int n_targets;

        parse_options(argc, argv);
        bench_init();
        bench_start_xnsd();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (!selected[i])
                        continue;
                results[i] = (struct result)RESULT_INIT(cases[i].name);
                bench_set_case(cases[i].name);
                fprintf(stderr, "xnsbench: %s\n", cases[i].name);
                cases[i].run(&results[i], cases[i].arg);
                xnsd_pid();     /* fails the case if the daemon died */
        }
        bench_set_case("cleanup");
        bench_cleanup();

        if (opt.pin >= 0)
                printf("xnsbench: every process pinned to CPU %d", opt.pin);
        else
                printf("xnsbench: processes not pinned (%ld CPUs)", sysconf(_SC_NPROCESSORS_ONLN));
        printf("; -n %zu%s; xnsd %s\n\n", opt.n, opt.smoke ? " (smoke run: numbers mean little)" : "", opt.xnsd);
        print_table();
        n_targets = compute_targets(targets);
        if (any_measured(targets, n_targets))
                print_targets(targets, n_targets);
        printf("\n");
        print_json();
        if (any_measured(targets, n_targets))
                print_targets_json(targets, n_targets);
        return 0;
}
