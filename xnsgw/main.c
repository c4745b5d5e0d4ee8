/* main.c: xnsgw, the gateway of one host to an xns cluster over NATS:
 * arguments, systemd notification, signals, the event loop. */
#include <errno.h>
#include <event2/event.h>
#include <nats/nats.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "bridge.h"
#include "macro.h"
#include "socket-path.h"
#include "wire.h"

#define MALLOC_KEEP_BYTES (8 << 20)     /* allocations below it come from the heap, which keeps twice it */

struct args {
        struct bridge_options opt;
        char host[XNS_HOST_MAX + 1];
        const char *exports[XNS_EXPORTS_MAX];
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xnsgw --nats URL[,URL...] [OPTION]...\n"
                "The gateway of this host to an xns cluster: joins the local xnsd to a NATS\n"
                "cluster, so that exported names are unique across hosts and every message\n"
                "kind reaches servers on other hosts. Runs in the foreground, logs to stderr,\n"
                "reports readiness to systemd (NOTIFY_SOCKET).\n"
                "\n"
                "  -n, --nats URL[,URL...]  NATS servers of the cluster (nats://HOST:PORT)\n"
                "  -s, --socket PATH        the local xnsd (default: $XOUS_SOCKET, else %s)\n"
                "  -H, --host NAME          this host's name in the cluster, unique there:\n"
                "                           letters, digits, '-' and '_', at most %d\n"
                "                           (default: the hostname up to its first '.')\n"
                "  -e, --export PATTERN     names registered here that the whole cluster may\n"
                "                           reach: a name, or a prefix written NAME*\n"
                "                           (repeatable, at most %d); other names stay local\n"
                "      --nats-creds FILE    NATS credentials (a .creds file)\n"
                "      --nats-tls-ca FILE   verify the NATS servers' TLS certificates with\n"
                "                           these CA certificates (and use TLS)\n"
                "  -h, --help               show this help and exit\n"
                "  -V, --version            show the version and exit\n",
                XNS_DEFAULT_SOCKET, XNS_HOST_MAX, XNS_EXPORTS_MAX);
}

/* The machine's hostname up to its first '.', other characters a subject
 * token may not hold turned into '-'. */
static int default_host(char *out, size_t size) {
        char name[256] = "";
        size_t n;

        if (gethostname(name, sizeof(name) - 1) < 0)
                return -errno;
        name[strcspn(name, ".")] = '\0';
        n = strlen(name);
        if (n == 0 || n >= size)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!xns_host_valid(name + i, 1))
                        name[i] = '-';
        memcpy(out, name, n + 1);
        return 0;
}

static int parse_export(struct args *a, const char *pattern) {
        size_t len = strlen(pattern);
        size_t name_len = len > 0 && pattern[len - 1] == '*' ? len - 1 : len;

        if (a->opt.n_exports == XNS_EXPORTS_MAX) {
                fprintf(stderr, "xnsgw: at most %d --export patterns\n", XNS_EXPORTS_MAX);
                return -EINVAL;
        }
        if ((name_len > 0 && !xns_name_valid(pattern, name_len)) || len == 0 || len > XNS_NAME_MAX) {
                fprintf(stderr, "xnsgw: --export wants a server name or NAME*, not '%s'\n", pattern);
                return -EINVAL;
        }
        a->exports[a->opt.n_exports++] = pattern;
        return 0;
}

/* Returns 0 to run, 1 to exit successfully (help, version), -EINVAL on bad use. */
static int parse_args(int argc, char **argv, struct args *a) {
        enum { OPT_CREDS = 256, OPT_TLS_CA };
        static const struct option options[] = {
                { "nats", required_argument, NULL, 'n' },
                { "socket", required_argument, NULL, 's' },
                { "host", required_argument, NULL, 'H' },
                { "export", required_argument, NULL, 'e' },
                { "nats-creds", required_argument, NULL, OPT_CREDS },
                { "nats-tls-ca", required_argument, NULL, OPT_TLS_CA },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *host = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "n:s:H:e:hV", options, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        a->opt.nats_urls = optarg;
                        break;
                case 's':
                        a->opt.socket_path = optarg;
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 'e':
                        if (parse_export(a, optarg) < 0)
                                return -EINVAL;
                        break;
                case OPT_CREDS:
                        a->opt.creds_file = optarg;
                        break;
                case OPT_TLS_CA:
                        a->opt.tls_ca_file = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                case 'V':
                        printf("xnsgw %s\n", XNS_VERSION);
                        return 1;
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "xnsgw: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!a->opt.nats_urls || !*a->opt.nats_urls) {
                fprintf(stderr, "xnsgw: --nats URL is required (try --help)\n");
                return -EINVAL;
        }
        if (host && !xns_host_valid(host, strlen(host))) {
                fprintf(stderr, "xnsgw: --host wants 1 to %d letters, digits, '-' or '_', not '%s'\n",
                        XNS_HOST_MAX, host);
                return -EINVAL;
        }
        if (host)
                snprintf(a->host, sizeof(a->host), "%s", host);
        else if (default_host(a->host, sizeof(a->host)) < 0) {
                fprintf(stderr, "xnsgw: no usable hostname: give --host NAME\n");
                return -EINVAL;
        }
        a->opt.host = a->host;
        a->opt.exports = a->exports;
        if (!a->opt.socket_path)
                a->opt.socket_path = xns_socket_path();
        return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *base) {
        event_base_loopbreak(base);
}

int main(int argc, char **argv) {
        struct args a = { 0 };
        struct event_base *base;
        struct event *sigterm, *sigint;
        struct bridge *bridge = NULL;
        char why[512] = "";
        sigset_t stop;
        int r;

        r = parse_args(argc, argv, &a);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        /* Until the loop handles them, SIGTERM and SIGINT wait. */
        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        sigprocmask(SIG_BLOCK, &stop, NULL);
        signal(SIGPIPE, SIG_IGN);
        /* Frames of up to a few MiB come and go all the time: keep their
         * memory in the heap rather than map, fault in and give back each. */
        mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP_BYTES);
        mallopt(M_TRIM_THRESHOLD, 2 * MALLOC_KEEP_BYTES);
        /* libnats spins on a busy mutex before it sleeps: not on 1-2 CPUs. */
        nats_Open(0);
        base = event_base_new();
        if (!base || !(event_base_get_features(base) & EV_FEATURE_ET)) {
                /* the channels' sockets are watched edge-triggered (EVENT_NOEPOLL set?) */
                fprintf(stderr, "xnsgw: cannot start an event loop with edge-triggered events\n");
                if (base)
                        event_base_free(base);
                return EXIT_FAILURE;
        }
        r = bridge_new(&bridge, base, &a.opt, why, sizeof(why));
        if (r < 0) {
                fprintf(stderr, "xnsgw: %s\n", why[0] ? why : strerror(-r));
                event_base_free(base);
                return EXIT_FAILURE;
        }
        sigterm = evsignal_new(base, SIGTERM, on_signal, base);
        sigint = evsignal_new(base, SIGINT, on_signal, base);
        evsignal_add(sigterm, NULL);
        evsignal_add(sigint, NULL);
        sigprocmask(SIG_UNBLOCK, &stop, NULL);
        fprintf(stderr, "xnsgw: host %s joined the cluster at %s\n", a.host, a.opt.nats_urls);
        sd_notifyf(0, "READY=1\nSTATUS=host %s in the cluster", a.host);
        event_base_dispatch(base);
        sd_notify(0, "STOPPING=1");
        r = bridge_failed(bridge) ? EXIT_FAILURE : EXIT_SUCCESS;
        bridge_free(bridge);
        event_free(sigterm);
        event_free(sigint);
        event_base_free(base);
        return r;
}
