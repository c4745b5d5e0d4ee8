/* main.c: xnsd: arguments, the listening socket, and the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus.h"
#include "log.h"
#include "loop.h"
#include "macro.h"
#include "parse.h"
#include "policy.h"
#include "service.h"
#include "socket-path.h"

struct args {
        const char *socket_path;
        const char *policy_path;
        struct bus_options opt;
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xnsd [OPTION]...\n"
                "The xns daemon: owns Xous server names and routes every message between\n"
                "the processes that use libxousclient. Runs in the foreground, logs to stderr.\n"
                "Under systemd it serves the socket it is passed (LISTEN_FDS) and reports\n"
                "readiness, status and watchdog pings (NOTIFY_SOCKET).\n"
                "\n"
                "  -s, --socket PATH       listen on PATH (default: $XOUS_SOCKET, else %s;\n"
                "                          ignored when systemd passes the socket)\n"
                "  -q, --queue-depth N     messages a server's queue holds (default 64)\n"
                "  -p, --policy FILE       who may register and connect to which names\n"
                "                          (default: anyone who may connect may do both)\n"
                "\n"
                "Limits (a call over one fails, and the daemon logs who hit which, once):\n"
                "      --max-cids N        connections a process may hold (default 4096)\n"
                "      --max-names N       names a process may register (default 64)\n"
                "      --max-servers N     servers a process may create, named or not (default 256)\n"
                "      --max-queued N      messages a process may have sent and not yet had\n"
                "                          finished (default 1024)\n"
                "      --max-links-per-uid N  links (client threads) one user may open (default 4096)\n"
                "      --max-shm-mb N      MiB of lent or moved memory one user may have in\n"
                "                          flight (default 1024)\n"
                "\n"
                "  -v, --verbose           log every process coming and going\n"
                "      --quiet             log errors only\n"
                "  -h, --help              show this help and exit\n"
                "  -V, --version           show the version and exit\n",
                XNS_DEFAULT_SOCKET);
}

static int parse_limit(const char *option, const char *s, uint32_t max, uint32_t *out) {
        uint32_t v;

        if (parse_u32(s, &v) == 0 && v >= 1 && v <= max) {
                *out = v;
                return 0;
        }
        fprintf(stderr, "xnsd: %s wants a number from 1 to %u, not '%s'\n", option, max, s);
        return -EINVAL;
}

/* Returns 0 to run, 1 to exit successfully (help, version), -EINVAL on bad use. */
static int parse_args(int argc, char **argv, struct args *a) {
        /* The limits, in the order of their option ids from OPT_MAX_CIDS on. */
        static const struct limit_option {
                const char *option;
                uint32_t max;
                size_t offset;
        } limits[] = {
                { "--max-cids", 1u << 20, offsetof(struct bus_options, max_cids) },
                { "--max-names", 1u << 20, offsetof(struct bus_options, max_names) },
                { "--max-servers", 1u << 20, offsetof(struct bus_options, max_servers) },
                { "--max-queued", 1u << 24, offsetof(struct bus_options, max_queued) },
                { "--max-links-per-uid", 1u << 20, offsetof(struct bus_options, max_links_per_uid) },
                { "--max-shm-mb", 1u << 24, offsetof(struct bus_options, max_shm_mb) },
        };
        enum { OPT_QUIET = 256, OPT_MAX_CIDS, OPT_MAX_NAMES, OPT_MAX_SERVERS, OPT_MAX_QUEUED,
               OPT_MAX_LINKS, OPT_MAX_SHM };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "queue-depth", required_argument, NULL, 'q' },
                { "policy", required_argument, NULL, 'p' },
                { "max-cids", required_argument, NULL, OPT_MAX_CIDS },
                { "max-names", required_argument, NULL, OPT_MAX_NAMES },
                { "max-servers", required_argument, NULL, OPT_MAX_SERVERS },
                { "max-queued", required_argument, NULL, OPT_MAX_QUEUED },
                { "max-links-per-uid", required_argument, NULL, OPT_MAX_LINKS },
                { "max-shm-mb", required_argument, NULL, OPT_MAX_SHM },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, OPT_QUIET },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "s:q:p:vhV", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        a->socket_path = optarg;
                        break;
                case 'p':
                        a->policy_path = optarg;
                        break;
                case 'q':
                        if (parse_limit("--queue-depth", optarg, 65536, &a->opt.queue_depth) < 0)
                                return -EINVAL;
                        break;
                case 'v':
                        log_level = 2;
                        break;
                case OPT_QUIET:
                        log_level = 0;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                case 'V':
                        printf("xnsd %s\n", XNS_VERSION);
                        return 1;
                default:
                        if (c >= OPT_MAX_CIDS && c < OPT_MAX_CIDS + (int)ELEMENTSOF(limits)) {
                                const struct limit_option *l = &limits[c - OPT_MAX_CIDS];

                                if (parse_limit(l->option, optarg, l->max, (uint32_t *)((char *)&a->opt + l->offset)) < 0)
                                        return -EINVAL;
                                break;
                        }
                        fprintf(stderr, "Try 'xnsd --help' for more information.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "xnsd: unexpected argument '%s'\nTry 'xnsd --help' for more information.\n", argv[optind]);
                return -EINVAL;
        }
        if (!a->socket_path || !*a->socket_path)
                a->socket_path = xns_socket_path();
        return 0;
}

/* A socket file left by a daemon that died is replaced (by the rename in
 * listen_on()); one that a running daemon answers on is not. */
static int socket_path_claim(const struct sockaddr_un *addr) {
        _cleanup_close_ int probe = -1;
        struct stat st;

        if (lstat(addr->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (probe < 0)
                return -errno;
        if (connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
                return -EADDRINUSE;
        return 0;
}

/* The directory of path (O_PATH) and, in *name, the socket's name in it. */
static int socket_dir_open(const char *path, const char **name) {
        const char *slash = strrchr(path, '/');
        char dir[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
        int fd;

        *name = slash ? slash + 1 : path;
        if (!**name)
                return -EINVAL;
        if (slash)
                snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
        else
                snprintf(dir, sizeof(dir), ".");
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Where the socket is bound before it is put in place: tmp, in the same
 * directory (a rename within it is atomic). When that path is too long for
 * sun_path, the directory is reached through its descriptor instead. */
static int socket_tmp_address(const char *path, int dir_fd, const char *tmp, struct sockaddr_un *addr) {
        const char *slash = strrchr(path, '/');
        int dir_len = slash ? (int)(slash - path) + 1 : 0;
        int n;

        n = snprintf(addr->sun_path, sizeof(addr->sun_path), "%.*s%s", dir_len, path, tmp);
        if (n >= 0 && (size_t)n < sizeof(addr->sun_path))
                return 0;
        n = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", dir_fd, tmp);
        return n >= 0 && (size_t)n < sizeof(addr->sun_path) ? 0 : -ENAMETOOLONG;
}

/* Makes the socket bound at tmp listen, then renames it to name: the path
 * only ever shows a socket that accepts. */
static int socket_put_in_place(int fd, int dir_fd, const char *tmp, const char *name) {
        /* Who may connect is decided by the socket's directory and mode:
         * anyone on the machine, as for the D-Bus system bus. */
        if (fchmodat(dir_fd, tmp, 0666, 0) < 0 || listen(fd, SOMAXCONN) < 0 ||
            renameat(dir_fd, tmp, dir_fd, name) < 0)
                return -errno;
        return 0;
}

static int listen_on(const char *path, int *out) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX }, tmp_addr = { .sun_family = AF_UNIX };
        _cleanup_close_ int dir_fd = -1, fd = -1;
        const char *name;
        char tmp[32];
        int r;

        if (strlen(path) >= sizeof(addr.sun_path))
                return -ENAMETOOLONG;
        strcpy(addr.sun_path, path);
        r = socket_path_claim(&addr);
        if (r < 0)
                return r;
        dir_fd = socket_dir_open(path, &name);
        if (dir_fd < 0)
                return dir_fd;
        snprintf(tmp, sizeof(tmp), ".xnsd.tmp-%d", (int)getpid());
        r = socket_tmp_address(path, dir_fd, tmp, &tmp_addr);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (const struct sockaddr *)&tmp_addr, sizeof(tmp_addr)) < 0)
                return -errno;
        r = socket_put_in_place(fd, dir_fd, tmp, name);
        if (r < 0) {
                unlinkat(dir_fd, tmp, 0);
                return r;
        }
        *out = TAKE_FD(fd);
        return 0;
}

/* Each link and each lent segment in flight is a descriptor: use all we may. */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* SIGTERM and SIGINT stay blocked from the start until the loop handles
 * them: one that comes while xnsd starts, when a client may already
 * connect, waits and then stops xnsd cleanly instead of killing it. */
static void stop_signals_mask(int how) {
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(how, &set, NULL);
}

/* The socket to serve: the one systemd passed, else our own at the path. */
static int open_listen_socket(const char *path, int *out, bool *activated) {
        int r = service_listen_fd(out);

        if (r < 0) {
                fprintf(stderr, "xnsd: cannot use the socket systemd passed: %s\n", strerror(-r));
                return r;
        }
        *activated = r > 0;
        if (*activated) {
                log_info("serving the socket systemd passed (--socket and $XOUS_SOCKET ignored)");
                return 0;
        }
        r = listen_on(path, out);
        if (r < 0)
                fprintf(stderr, "xnsd: cannot listen on %s: %s\n", path,
                        r == -EADDRINUSE ? "another xnsd is running there" : strerror(-r));
        return r;
}

int main(int argc, char **argv) {
        struct args args = { .opt = BUS_OPTIONS_DEFAULT };
        _cleanup_close_ int listen_fd = -1;
        struct service svc;
        struct policy policy = POLICY_INIT;
        bool activated = false;
        struct bus bus;
        struct loop loop;
        int r;

        stop_signals_mask(SIG_BLOCK);
        r = parse_args(argc, argv, &args);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        if (args.policy_path) {
                char why[512];

                r = policy_load(&policy, args.policy_path, why, sizeof(why));
                if (r < 0) {
                        fprintf(stderr, "xnsd: bad policy: %s\n", why);
                        return EXIT_FAILURE;
                }
        }
        signal(SIGPIPE, SIG_IGN);
        raise_fd_limit();
        if (open_listen_socket(args.socket_path, &listen_fd, &activated) < 0) {
                policy_deinit(&policy);
                return EXIT_FAILURE;
        }
        bus_init(&bus, &args.opt);
        if (args.policy_path) {
                bus.policy = &policy;
                log_info("policy %s: %zu rules", args.policy_path, policy.n_rules);
        }
        service_init(&svc, &bus);
        r = loop_init(&loop, &bus, listen_fd, &svc);
        if (r < 0) {
                fprintf(stderr, "xnsd: cannot set up the event loop: %s\n", strerror(-r));
                loop_deinit(&loop);
                bus_deinit(&bus);
                policy_deinit(&policy);
                if (!activated)
                        unlink(args.socket_path);
                return EXIT_FAILURE;
        }
        stop_signals_mask(SIG_UNBLOCK);         /* the loop has its signal events */
        if (activated)
                log_info("serving (queue depth %u)", args.opt.queue_depth);
        else
                log_info("listening on %s (queue depth %u)", args.socket_path, args.opt.queue_depth);
        service_ready(&svc);
        r = loop_run(&loop);
        loop_shutdown(&loop);
        loop_deinit(&loop);
        bus_deinit(&bus);
        policy_deinit(&policy);
        if (!activated)
                unlink(args.socket_path);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
