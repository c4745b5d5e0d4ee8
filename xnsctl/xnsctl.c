/* xnsctl.c: xnsctl, the command line to see inside xnsd (modelled on busctl):
 * status, list, peers, show, monitor, capture, and call to poke a server by
 * hand. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <xous/xous.h>

#include "capture.h"
#include "ctl-link.h"
#include "macro.h"
#include "parse.h"
#include "socket-path.h"
#include "utf8.h"

struct options {
        const char *socket_path;
        bool json;
        bool no_reply;
        unsigned timeout_s;             /* call: 0 = wait for ever */
        uint32_t snaplen;               /* capture: bytes of a memory message's buffer */
};

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xnsctl [OPTION]... COMMAND [ARG]...\n"
                "See inside xnsd, the xns daemon, and poke its servers.\n"
                "\n"
                "Commands:\n"
                "  status                     daemon version, pid, uptime, counts and limits\n"
                "  list                       every registered name\n"
                "  peers                      every connected process (xnsd's user or root)\n"
                "  show NAME                  one name in detail\n"
                "  monitor [NAME]...          trace routed messages (to these names) until Ctrl-C\n"
                "                             (xnsd's user or root)\n"
                "  capture [NAME]...          write routed messages (to these names) as pcapng\n"
                "                             to standard output until Ctrl-C (xnsd's user or root)\n"
                "  call NAME OPCODE [ARG]...  send a BlockingScalar (up to 4 args) and print\n"
                "                             the reply words; numbers are decimal or 0x hex\n"
                "\n"
                "Options:\n"
                "  -s, --socket PATH   xnsd's socket (default: $XOUS_SOCKET, else %s)\n"
                "  -j, --json          print JSON: one object, or one per line for monitor\n"
                "  -n, --no-reply      call: send a Scalar, which has no reply\n"
                "  -t, --timeout SEC   call: give up after SEC seconds\n"
                "  -S, --snaplen N     capture: the first N bytes of memory messages (default\n"
                "                      %u, 0: none)\n"
                "  -h, --help          show this help and exit\n"
                "  -V, --version       show the version and exit\n"
                "\n"
                "Exit status: 0 success, 1 the operation failed, 2 bad usage,\n"
                "3 xnsd cannot be reached.\n",
                XNS_DEFAULT_SOCKET, CAPTURE_SNAPLEN_DEFAULT);
}

static int usage_error(const char *fmt, const char *arg) {
        fprintf(stderr, "xnsctl: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\nTry 'xnsctl --help' for more information.\n");
        return EXIT_USAGE;
}

/* --- JSON ------------------------------------------------------------------
 * Built with jansson and printed compact, one object a line: jansson escapes
 * strings and refuses invalid UTF-8, so what xnsctl prints always parses. */

#define JU(v) ((json_int_t)(v))         /* a number for json_pack()'s "I" */

/* A JSON string of text from xnsd, made valid UTF-8 first where it is not
 * (an older xnsd sends command names the kernel cut inside a character);
 * NULL only when out of memory. */
static json_t *text_json(const char *s) {
        _cleanup_free_ char *copy = NULL;
        json_t *j = json_string(s);

        if (j)
                return j;
        copy = strdup(s);
        if (!copy)
                return NULL;
        utf8_sanitize(copy);
        return json_string(copy);
}

/* Appends v to the array a (taking v); NULL, with a freed, on failure. */
static json_t *array_push(json_t *a, json_t *v) {
        if (json_array_append_new(a, v) == 0)
                return a;
        json_decref(a);
        return NULL;
}

static json_t *u32s_json(const uint32_t *v, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++)
                a = array_push(a, json_integer(v[i]));
        return a;
}

/* Prints j on one line and frees it; NULL means it could not be built. */
static int print_json(json_t *j) {
        int r;

        if (!j) {
                fprintf(stderr, "xnsctl: cannot build JSON: out of memory\n");
                return EXIT_FAILED;
        }
        r = json_dumpf(j, stdout, JSON_COMPACT);
        json_decref(j);
        if (r < 0) {
                fprintf(stderr, "xnsctl: cannot write JSON\n");
                return EXIT_FAILED;
        }
        putchar('\n');
        return EXIT_OK;
}

/* --- status ---------------------------------------------------------------- */

static void format_duration(uint64_t us, char *buf, size_t size) {
        uint64_t s = us / 1000000;

        if (s >= 86400)
                snprintf(buf, size, "%llud %lluh %llum", (unsigned long long)(s / 86400),
                         (unsigned long long)(s % 86400 / 3600), (unsigned long long)(s % 3600 / 60));
        else if (s >= 3600)
                snprintf(buf, size, "%lluh %llum %llus", (unsigned long long)(s / 3600),
                         (unsigned long long)(s % 3600 / 60), (unsigned long long)(s % 60));
        else if (s >= 60)
                snprintf(buf, size, "%llum %llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
        else
                snprintf(buf, size, "%llus", (unsigned long long)s);
}

static json_t *gateway_json(const Xns__Status *st) {
        json_t *hosts;

        if (!st->gateway_host || !*st->gateway_host)
                return json_null();
        hosts = json_array();
        for (size_t i = 0; i < st->n_hosts; i++)
                hosts = array_push(hosts, json_pack("{s:o,s:I}", "name", text_json(st->hosts[i]->name), "tag",
                                                    JU(st->hosts[i]->tag)));
        return json_pack("{s:o,s:I,s:o,s:o}", "host", text_json(st->gateway_host), "pid", JU(st->gateway_pid),
                         "nats", text_json(st->nats_url), "hosts", hosts);
}

static json_t *status_json(const Xns__Status *st) {
        return json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
                         "version", text_json(st->version), "pid", JU(st->pid),
                         "uptime_s", JU(st->uptime_us / 1000000), "names", JU(st->names),
                         "servers", JU(st->servers), "processes", JU(st->processes), "links", JU(st->links),
                         "pending_calls", JU(st->pending_calls), "gateway", gateway_json(st), "limits",
                         "queue_depth", JU(st->queue_depth), "max_cids", JU(st->max_cids),
                         "frame_max", JU(st->frame_max), "max_names", JU(st->max_names),
                         "max_servers", JU(st->max_servers), "max_queued", JU(st->max_queued),
                         "max_links_per_uid", JU(st->max_links_per_uid), "max_shm_mb", JU(st->max_shm_mb));
}

static void print_status(const Xns__Status *st) {
        char uptime[64];

        format_duration(st->uptime_us, uptime, sizeof(uptime));
        printf("version:       %s\n"
               "pid:           %u\n"
               "uptime:        %s\n"
               "names:         %u\n"
               "servers:       %u\n"
               "processes:     %u\n"
               "links:         %u\n"
               "pending calls: %u\n"
               "queue depth:   %u\n"
               "max cids:      %u per process\n"
               "max names:     %u per process\n"
               "max servers:   %u per process\n"
               "max queued:    %u per process\n"
               "max links:     %u per user\n"
               "max shm:       %u MiB per user\n"
               "frame max:     %u bytes\n",
               st->version, st->pid, uptime, st->names, st->servers, st->processes, st->links,
               st->pending_calls, st->queue_depth, st->max_cids, st->max_names, st->max_servers,
               st->max_queued, st->max_links_per_uid, st->max_shm_mb, st->frame_max);
        if (!st->gateway_host || !*st->gateway_host) {
                printf("gateway:       none (names are this host's only)\n");
                return;
        }
        printf("gateway:       host %s (xnsgw pid %u)\n"
               "nats:          %s\n"
               "hosts:        ",
               st->gateway_host, st->gateway_pid, *st->nats_url ? st->nats_url : "not connected");
        for (size_t i = 0; i < st->n_hosts; i++)
                printf(" %s", st->hosts[i]->name);
        printf("%s\n", st->n_hosts ? "" : " none heard");
}

/* --- list and show --------------------------------------------------------- */

/* A name as list shows it; with detail, as show does. */
static json_t *name_json(const Xns__NameInfo *n, bool detail) {
        json_t *j = json_pack("{s:o,s:o,s:o,s:I,s:o,s:I,s:I,s:I,s:I,s:I}", "name", text_json(n->name),
                              "host", text_json(n->host), "sid", text_json(n->sid),
                              "pid", JU(n->pid), "command", text_json(n->command), "conns", JU(n->conns),
                              "max_conns", JU(n->max_conns), "queue_depth", JU(n->queue_depth),
                              "queued", JU(n->queued), "served", JU(n->served));

        if (j && detail &&
            json_object_update_new(j, json_pack("{s:I,s:I,s:o}", "stalled", JU(n->stalled), "receivers",
                                                JU(n->receivers), "clients", u32s_json(n->clients, n->n_clients))) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

static json_t *list_json(const Xns__Snapshot *snap) {
        json_t *names = json_array();

        for (size_t i = 0; i < snap->n_names; i++)
                names = array_push(names, name_json(snap->names[i], false));
        return json_pack("{s:o}", "names", names);
}

static void format_conns(const Xns__NameInfo *n, char *buf, size_t size) {
        if (n->max_conns)
                snprintf(buf, size, "%u/%u", n->conns, n->max_conns);
        else
                snprintf(buf, size, "%u/-", n->conns);
}

/* A name of another host: what its gateway exported, nothing of its state. */
static bool name_is_remote(const Xns__NameInfo *n) {
        return n->pid == 0 && *n->host;
}

static void print_list(const Xns__Snapshot *snap) {
        int w = 4;

        for (size_t i = 0; i < snap->n_names; i++)
                if ((int)strlen(snap->names[i]->name) > w)
                        w = (int)strlen(snap->names[i]->name);
        printf("%-*s  %-8s  %-32s  %7s  %-15s  %9s  %9s  %8s\n", w, "NAME", "HOST", "SID", "PID", "COMMAND",
               "CONNS", "QUEUE", "SERVED");
        for (size_t i = 0; i < snap->n_names; i++) {
                const Xns__NameInfo *n = snap->names[i];
                char conns[32], queue[32], pid[16], served[32];

                format_conns(n, conns, sizeof(conns));
                snprintf(queue, sizeof(queue), "%u/%u", n->queued, n->queue_depth);
                snprintf(pid, sizeof(pid), "%u", n->pid);
                snprintf(served, sizeof(served), "%llu", (unsigned long long)n->served);
                if (name_is_remote(n)) {        /* another host's: only what its registry says */
                        snprintf(conns, sizeof(conns), n->max_conns ? "-/%u" : "-", n->max_conns);
                        strcpy(queue, "-");
                        strcpy(pid, "-");
                        strcpy(served, "-");
                }
                printf("%-*s  %-8s  %-32s  %7s  %-15s  %9s  %9s  %8s\n", w, n->name, *n->host ? n->host : "-",
                       n->sid, pid, *n->command ? n->command : "-", conns, queue, served);
        }
}

static void print_show(const Xns__NameInfo *n) {
        char conns[32];

        format_conns(n, conns, sizeof(conns));
        printf("name:              %s\n"
               "sid:               %s\n"
               "pid:               %u\n"
               "command:           %s\n"
               "connections:       %s\n"
               "queue:             %u/%u\n"
               "stalled senders:   %u\n"
               "waiting receivers: %u\n"
               "served:            %llu\n"
               "clients:          ",
               n->name, n->sid, n->pid, n->command, conns, n->queued, n->queue_depth, n->stalled,
               n->receivers, (unsigned long long)n->served);
        for (size_t i = 0; i < n->n_clients; i++)
                printf(" %u", n->clients[i]);
        printf("%s\n", n->n_clients ? "" : " -");
}

/* --- peers ----------------------------------------------------------------- */

static json_t *peer_json(const Xns__PeerInfo *p) {
        json_t *cids = json_array(), *servers = json_array();

        for (size_t i = 0; i < p->n_cids; i++)
                cids = array_push(cids, json_pack("{s:I,s:o}", "cid", JU(p->cids[i]->cid),
                                                  "server", text_json(p->cids[i]->server)));
        for (size_t i = 0; i < p->n_servers; i++)
                servers = array_push(servers, json_pack("{s:o,s:o}", "sid", text_json(p->servers[i]->sid),
                                                        "name", text_json(p->servers[i]->name)));
        return json_pack("{s:I,s:I,s:o,s:o,s:I,s:o,s:o,s:I}", "pid", JU(p->pid), "uid", JU(p->uid),
                         "host", text_json(p->host), "command", text_json(p->command), "links", JU(p->links), "cids", cids,
                         "servers", servers, "blocked_calls", JU(p->blocked_calls));
}

static json_t *peers_json(const Xns__Snapshot *snap) {
        json_t *peers = json_array();

        for (size_t i = 0; i < snap->n_peers; i++)
                peers = array_push(peers, peer_json(snap->peers[i]));
        return json_pack("{s:o}", "peers", peers);
}

static void print_peers(const Xns__Snapshot *snap) {
        printf("%7s  %6s  %-8s  %-15s  %5s  %7s  %-24s  %s\n", "PID", "UID", "HOST", "COMMAND", "LINKS",
               "BLOCKED", "SERVERS", "CIDS");
        for (size_t i = 0; i < snap->n_peers; i++) {
                const Xns__PeerInfo *p = snap->peers[i];
                char servers[256] = "-";
                size_t len = 0;

                for (size_t k = 0; k < p->n_servers && len < sizeof(servers); k++) {
                        const char *label = *p->servers[k]->name ? p->servers[k]->name : p->servers[k]->sid;

                        len += (size_t)snprintf(servers + len, sizeof(servers) - len, "%s%s", k ? "," : "", label);
                }
                printf("%7u  %6u  %-8s  %-15s  %5u  %7u  %-24s ", p->pid, p->uid, *p->host ? p->host : "-",
                       p->command, p->links, p->blocked_calls, servers);
                for (size_t k = 0; k < p->n_cids; k++)
                        printf(" %u=%s", p->cids[k]->cid, p->cids[k]->server);
                printf("%s\n", p->n_cids ? "" : " -");
        }
}

static json_t *snapshot_json(const Xns__Snapshot *snap, uint32_t what) {
        switch (what) {
        case XNS_CONTROL_STATUS:
                return status_json(snap->status);
        case XNS_CONTROL_LIST:
                return list_json(snap);
        case XNS_CONTROL_PEERS:
                return peers_json(snap);
        default:
                return name_json(snap->names[0], true);
        }
}

static void print_snapshot(const Xns__Snapshot *snap, uint32_t what) {
        switch (what) {
        case XNS_CONTROL_STATUS:
                print_status(snap->status);
                break;
        case XNS_CONTROL_LIST:
                print_list(snap);
                break;
        case XNS_CONTROL_PEERS:
                print_peers(snap);
                break;
        default:
                print_show(snap->names[0]);
                break;
        }
}

static int cmd_snapshot(const struct options *o, uint32_t what, const char *name) {
        struct ctl_link link;
        Xns__Snapshot *snap = NULL;
        int r;

        r = ctl_link_open(&link, o->socket_path);
        if (r == EXIT_OK)
                r = ctl_snapshot(&link, what, name, &snap);
        ctl_link_close(&link);
        if (r != EXIT_OK)
                return r;
        if (what == XNS_CONTROL_SHOW && snap->n_names != 1) {
                fprintf(stderr, "xnsctl: xnsd sent no entry for '%s'\n", name);
                r = EXIT_FAILED;
        } else if (o->json) {
                r = print_json(snapshot_json(snap, what));
        } else {
                print_snapshot(snap, what);
        }
        xns__snapshot__free_unpacked(snap, NULL);
        return r;
}

/* --- monitor --------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
        interrupted = 1;
}

static const char *kind_name(uint32_t kind) {
        static const char *const names[] = { "mutable_borrow", "borrow", "move", "scalar", "blocking_scalar" };

        return kind < ELEMENTSOF(names) ? names[kind] : "unknown";
}

static void event_server_label(const struct xns_event *e, char *buf, size_t size) {
        if (e->server.len)
                snprintf(buf, size, "%s", e->server.str);
        else
                snprintf(buf, size, "%08x%08x%08x%08x", e->sid.w[0], e->sid.w[1], e->sid.w[2], e->sid.w[3]);
}

static json_t *event_json(const struct xns_event *e, const char *server) {
        return json_pack("{s:I,s:I,s:o,s:o,s:s,s:I,s:o,s:I,s:s,s:o,s:I,s:I}", "time_us", JU(e->time_us),
                         "pid", JU(e->pid), "host", text_json(e->host), "server", text_json(server), "kind", kind_name(e->kind),
                         "id", JU(e->id), "args", u32s_json(e->a, 4), "len", JU(e->len),
                         "result", e->error ? ctl_error_name(e->error) : "ok",
                         "reply", u32s_json(e->v, e->count), "latency_us", JU(e->latency_us),
                         "dropped", JU(e->dropped));
}

static int print_event(const struct xns_event *e, bool json) {
        char server[XNS_NAME_MAX + 33];

        event_server_label(e, server, sizeof(server));
        if (json)
                return print_json(event_json(e, server));
        if (e->dropped)
                printf("(%u messages not shown: this monitor fell behind)\n", e->dropped);

        time_t secs = (time_t)(e->time_us / 1000000);
        struct tm tm;
        char when[32];

        localtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s.%06u  %s%s%u -> %s  %s #%u", when, (unsigned)(e->time_us % 1000000), e->host,
               *e->host ? ":" : "", e->pid, server, kind_name(e->kind), e->id);
        if (e->kind >= XNS_KIND_SCALAR)
                printf(" (%u, %u, %u, %u)", e->a[0], e->a[1], e->a[2], e->a[3]);
        else
                printf(" [%u bytes]", e->len);
        if (e->error) {
                printf("  -> %s", ctl_error_name(e->error));
        } else if (e->count) {
                printf("  ->");
                for (uint32_t i = 0; i < e->count; i++)
                        printf(" %u", e->v[i]);
        } else {
                printf("  -> ok");
        }
        printf("  %u us\n", e->latency_us);
        return EXIT_OK;
}

/* Starts a monitor trace on a new link, with SIGINT and SIGTERM held back
 * except while waiting for xnsd (link->wait_mask): between the check of
 * interrupted and the wait, none is lost. */
static int monitor_start(const struct options *o, char **names, int n_names, bool payloads,
                         struct ctl_link *link, sigset_t *stop, sigset_t *waiting) {
        struct sigaction sa = { .sa_handler = on_interrupt };   /* no SA_RESTART: poll returns */
        int r;

        r = ctl_link_open(link, o->socket_path);
        if (r == EXIT_OK)
                r = ctl_monitor(link, (const char *const *)names, (uint32_t)n_names, payloads);
        if (r != EXIT_OK) {
                ctl_link_close(link);
                return r;
        }
        sigemptyset(stop);
        sigaddset(stop, SIGINT);
        sigaddset(stop, SIGTERM);
        sigprocmask(SIG_BLOCK, stop, waiting);
        sigdelset(waiting, SIGINT);
        sigdelset(waiting, SIGTERM);
        link->wait_mask = waiting;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        return EXIT_OK;
}

static int cmd_monitor(const struct options *o, char **names, int n_names) {
        sigset_t stop, waiting;
        struct ctl_link link;
        struct xns_event e;
        int r;

        r = monitor_start(o, names, n_names, false, &link, &stop, &waiting);
        if (r != EXIT_OK)
                return r;
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!o->json)
                fprintf(stderr, "Monitoring %s; Ctrl-C ends.\n", n_names ? "the names given" : "every message");
        while (!interrupted) {
                r = ctl_next_event(&link, &e, NULL, true);
                if (r == -EINTR)
                        continue;
                if (r != EXIT_OK)
                        break;
                sigprocmask(SIG_SETMASK, &waiting, NULL);       /* a stuck write stays interruptible */
                r = print_event(&e, o->json);
                sigprocmask(SIG_BLOCK, &stop, NULL);
                if (r != EXIT_OK)
                        break;
        }
        ctl_link_close(&link);
        return interrupted ? EXIT_OK : r;
}

/* --- capture --------------------------------------------------------------- */

/* Writes one event, with the first bytes of the buffer in fd (a copy of
 * the message's memfd, read here: xnsd never maps it). */
static int capture_event(const struct options *o, const struct xns_event *e, int fd) {
        uint32_t want = e->len < o->snaplen ? e->len : o->snaplen;
        _cleanup_free_ uint8_t *payload = NULL;
        ssize_t n = 0;
        int r;

        if (fd >= 0 && want > 0) {
                payload = malloc(want);
                if (!payload)
                        return -ENOMEM;
                n = pread(fd, payload, want, 0);
                if (n < 0)
                        n = 0;
        }
        r = capture_write_event(STDOUT_FILENO, e, payload, (uint32_t)n);
        return r;
}

/* Writes what xnsd had already sent when the capture was stopped. */
static int capture_drain(const struct options *o, struct ctl_link *link) {
        struct xns_event e;
        int fd, r;

        for (;;) {
                r = ctl_next_event(link, &e, &fd, false);
                if (r != EXIT_OK)
                        return r == -EAGAIN || r == -EINTR || r == EXIT_UNREACHABLE ? 0 : r;
                r = capture_event(o, &e, fd);
                safe_close(fd);
                if (r < 0)
                        return r;
        }
}

static int cmd_capture(const struct options *o, char **names, int n_names) {
        sigset_t stop, waiting;
        struct ctl_link link;
        struct xns_event e;
        int fd, r;

        if (isatty(STDOUT_FILENO)) {
                fprintf(stderr, "xnsctl: capture writes pcapng, not text: redirect it to a file or a pipe\n");
                return EXIT_USAGE;
        }
        signal(SIGPIPE, SIG_IGN);       /* a reader that went away is a write error */
        r = monitor_start(o, names, n_names, o->snaplen > 0, &link, &stop, &waiting);
        if (r != EXIT_OK)
                return r;
        r = capture_write_header(STDOUT_FILENO);
        fprintf(stderr, "Capturing %s; Ctrl-C ends.\n", n_names ? "the names given" : "every message");
        while (r == 0 && !interrupted) {
                r = ctl_next_event(&link, &e, &fd, true);
                if (r == -EINTR) {
                        r = 0;
                        continue;
                }
                if (r != EXIT_OK)
                        break;
                r = capture_event(o, &e, fd);      /* whole: signals wait (held back) */
                safe_close(fd);
        }
        if (r == 0)
                r = capture_drain(o, &link);
        ctl_link_close(&link);
        if (r < 0) {
                fprintf(stderr, "xnsctl: capture failed: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        return r;
}

/* --- call ------------------------------------------------------------------ */

static void on_alarm(int sig) {
        static const char msg[] = "xnsctl: no reply within the timeout\n";

        (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
        _exit(EXIT_FAILED);
}

static int call_failed(const char *what, const char *name, xous_error_t e) {
        if (e == XOUS_ERR_UNAVAILABLE) {
                fprintf(stderr, "xnsctl: cannot reach xnsd: %s\n", xous_strerror(e));
                return EXIT_UNREACHABLE;
        }
        if (e == XOUS_ERR_SERVER_NOT_FOUND)
                fprintf(stderr, "xnsctl: no server is registered as '%s'\n", name);
        else
                fprintf(stderr, "xnsctl: %s '%s' failed: %s (%s)\n", what, name, ctl_error_name(e), xous_strerror(e));
        return EXIT_FAILED;
}

static int cmd_call(const struct options *o, char **argv, int argc) {
        const char *name = argv[0];
        uint32_t id, a[4] = { 0 };
        xous_scalar_reply_t reply = { 0 };
        xous_cid_t cid;
        xous_error_t e;

        if (argc < 2)
                return usage_error("%s", "call wants NAME OPCODE [ARG]...");
        if (argc > 6)
                return usage_error("%s", "call takes at most 4 arguments after the opcode");
        if (!xns_name_valid(name, strlen(name)))
                return usage_error("'%s' is not a valid server name", name);
        if (parse_u32_or_hex(argv[1], &id) < 0)
                return usage_error("opcode '%s' is not a 32-bit unsigned number", argv[1]);
        for (int i = 2; i < argc; i++)
                if (parse_u32_or_hex(argv[i], &a[i - 2]) < 0)
                        return usage_error("argument '%s' is not a 32-bit unsigned number", argv[i]);
        if (setenv("XOUS_SOCKET", o->socket_path, 1) < 0)
                return EXIT_FAILED;
        if (o->timeout_s) {
                signal(SIGALRM, on_alarm);
                alarm(o->timeout_s);
        }
        e = xous_request_connection(name, &cid);
        if (e != XOUS_OK)
                return call_failed("connecting to", name, e);
        if (o->no_reply)
                e = xous_send_scalar(cid, id, a[0], a[1], a[2], a[3]);
        else
                e = xous_blocking_scalar(cid, id, a[0], a[1], a[2], a[3], &reply);
        alarm(0);
        if (e != XOUS_OK)
                return call_failed("calling", name, e);
        xous_disconnect(cid);
        if (o->json)
                return print_json(json_pack("{s:s,s:I,s:s,s:o}", "name", name, "id", JU(id),
                                            "kind", o->no_reply ? "scalar" : "blocking_scalar",
                                            "reply", u32s_json(reply.v, reply.count)));
        if (!o->no_reply) {
                for (uint32_t i = 0; i < reply.count; i++)
                        printf("%s%u", i ? " " : "", reply.v[i]);
                putchar('\n');
        }
        return EXIT_OK;
}

/* --- main ------------------------------------------------------------------ */

static int parse_options(int argc, char **argv, struct options *o) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "no-reply", no_argument, NULL, 'n' },
                { "timeout", required_argument, NULL, 't' },
                { "snaplen", required_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        uint32_t v;
        int c;

        /* Options may come before or after the command; "--" ends them. */
        while ((c = getopt_long(argc, argv, "s:jnt:S:hV", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o->socket_path = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'n':
                        o->no_reply = true;
                        break;
                case 't':
                        if (parse_u32(optarg, &v) < 0 || v == 0 || v > 86400)
                                return usage_error("--timeout wants seconds from 1 to 86400, not '%s'", optarg);
                        o->timeout_s = v;
                        break;
                case 'S':
                        if (parse_u32(optarg, &v) < 0 || v > CAPTURE_SNAPLEN_MAX)
                                return usage_error("--snaplen wants bytes from 0 to 262144, not '%s'", optarg);
                        o->snaplen = v;
                        break;
                case 'h':
                        usage(stdout);
                        return -1;
                case 'V':
                        printf("xnsctl %s\n", XNS_VERSION);
                        return -1;
                default:
                        fprintf(stderr, "Try 'xnsctl --help' for more information.\n");
                        return EXIT_USAGE;
                }
        }
        if (!o->socket_path || !*o->socket_path)
                o->socket_path = xns_socket_path();
        return EXIT_OK;
}

int main(int argc, char **argv) {
        struct options o = { .snaplen = CAPTURE_SNAPLEN_DEFAULT };
        const char *cmd;
        int r, nargs;
        char **args;

        r = parse_options(argc, argv, &o);
        if (r != EXIT_OK)
                return r < 0 ? EXIT_OK : r;
        if (optind >= argc)
                return usage_error("%s", "no command given");
        cmd = argv[optind];
        args = argv + optind + 1;
        nargs = argc - optind - 1;
        if (strcmp(cmd, "monitor") == 0)
                return cmd_monitor(&o, args, nargs);
        if (strcmp(cmd, "capture") == 0)
                return cmd_capture(&o, args, nargs);
        if (strcmp(cmd, "call") == 0)
                return cmd_call(&o, args, nargs);
        if (strcmp(cmd, "show") == 0) {
                if (nargs != 1)
                        return usage_error("%s", "show wants exactly one NAME");
                if (!xns_name_valid(args[0], strlen(args[0])))
                        return usage_error("'%s' is not a valid server name", args[0]);
                return cmd_snapshot(&o, XNS_CONTROL_SHOW, args[0]);
        }
        if (strcmp(cmd, "status") != 0 && strcmp(cmd, "list") != 0 && strcmp(cmd, "peers") != 0)
                return usage_error("unknown command '%s'", cmd);
        if (nargs != 0)
                return usage_error("%s takes no arguments", cmd);
        if (strcmp(cmd, "status") == 0)
                return cmd_snapshot(&o, XNS_CONTROL_STATUS, NULL);
        if (strcmp(cmd, "list") == 0)
                return cmd_snapshot(&o, XNS_CONTROL_LIST, NULL);
        return cmd_snapshot(&o, XNS_CONTROL_PEERS, NULL);
}
