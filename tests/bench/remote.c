/* remote.c: xns across hosts (xnsbench --remote): a client on host a and a
 * server on host b, each host an xnsd and an xnsgw (tests/hosts.c), the two
 * gateways on different nodes of a private 3-node NATS cluster, so that
 * every message crosses a route as the nats_* floors do. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "hosts.h"
#include "macro.h"
#include "nats.h"

#define START_MS 15000          /* the cluster, and each host; below the watchdog's 30 s */
#define STOP_MS 5000
#define SERVICE "svc.bench"     /* registered on host b, exported by its gateway */
#define TICK_ROUNDS 256         /* the client says it is alive this often */
#define REPORT_EVERY 8192       /* the counting server reports this often */

/* Host a (the client's) joins NATS node 0, host b (the server's) node 1. */
enum { HOST_CLIENT, HOST_SERVER, HOSTS };

static const char *const host_names[HOSTS] = { "a", "b" };

struct remote {
        struct test_nats nats;
        struct test_host host[HOSTS];
        pid_t pids[2 * HOSTS + TEST_NATS_MAX];  /* the daemons, gateways and nodes: their CPU counts */
        size_t n_pids;
};

#define REMOTE_INIT { .nats = TEST_NATS_INIT, .host = { TEST_HOST_INIT, TEST_HOST_INIT } }

/* The running setup, whose directories an exit after bench_fail() removes
 * (bench_fail() has killed its processes by then). */
static struct remote *live;

static void remove_live_dirs(void) {
        if (!live)
                return;
        for (unsigned i = 0; i < HOSTS; i++)
                test_daemon_remove_dir(&live->host[i].xnsd);
        test_nats_remove_dir(&live->nats);
        live = NULL;
}

/* $XNSGW, else xnsgw/xnsgw beside the xnsd/xnsd in use (a build tree), else
 * xnsgw on $PATH; NULL, and why in skipped, when there is none to run. */
static const char *xnsgw_exe(char *skipped, size_t size) {
        static char path[PATH_MAX];
        const char *env = getenv("XNSGW"), *exe;
        char *slash;

        if (env && *env) {
                if (access(env, X_OK) == 0)
                        return env;
                snprintf(skipped, size, "XNSGW=%s cannot be run: %s", env, strerror(errno));
                return NULL;
        }
        snprintf(path, sizeof(path), "%s", opt.xnsd);
        slash = strrchr(path, '/');
        if (slash) {
                *slash = '\0';
                slash = strrchr(path, '/');
                snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0),
                         "xnsgw/xnsgw");
                if (access(path, X_OK) == 0)
                        return path;
        }
        exe = find_exe("xnsgw", NULL);
        if (!exe)
                snprintf(skipped, size, "no xnsgw: set XNSGW (meson compile -C build bench does)");
        return exe;
}

static void node_child_setup(void) {
        child_setup(NULL, 0);
}

static void cluster_start(struct remote *rm, const char *exe) {
        struct test_nats_config cfg = { .exe = exe, .nodes = 3, .jetstream = true,     /* the name registry */
                                        .dir_template = "/tmp/xnsbench-nats-XXXXXX",
                                        .child_setup = node_child_setup, .timeout_ms = START_MS };
        char why[600];

        if (test_nats_start(&rm->nats, &cfg, why, sizeof(why)) < 0)
                bench_fail("NATS cluster: %s", why);
        for (unsigned i = 0; i < rm->nats.n; i++) {
                bench_track(rm->nats.node[i].pid);
                rm->pids[rm->n_pids++] = rm->nats.node[i].pid;
        }
        progress();
}

static void host_start(struct remote *rm, unsigned i) {
        static const char *const exports[] = { SERVICE, NULL };
        struct test_host *h = &rm->host[i];
        char why[1400];

        if (test_host_start(h, host_names[i], rm->nats.node[i].url, i == HOST_SERVER ? exports : NULL, START_MS,
                            why, sizeof(why)) < 0)
                bench_fail("host %s: %s", host_names[i], why);
        bench_track(h->xnsd.pid);
        bench_track(h->gw_pid);
        rm->pids[rm->n_pids++] = h->xnsd.pid;
        rm->pids[rm->n_pids++] = h->gw_pid;
        progress();
}

/* The cluster and both hosts; false, and why in skipped, without
 * nats-server or xnsgw. */
static bool remote_start(struct remote *rm, char *skipped, size_t size) {
        const char *nats = nats_server_exe(skipped, size), *gw = nats ? xnsgw_exe(skipped, size) : NULL;
        static bool registered;

        if (!gw)
                return false;
        if (!registered && atexit(remove_live_dirs) == 0)
                registered = true;
        setenv("XNSGW", gw, 1);                 /* for tests/hosts.c */
        setenv("XNSD", opt.xnsd, 1);
        live = rm;
        cluster_start(rm, nats);
        for (unsigned i = 0; i < HOSTS; i++)
                host_start(rm, i);
        return true;
}

static void host_stop(struct test_host *h) {
        pid_t gw = h->gw_pid, xnsd = h->xnsd.pid;

        test_host_stop(h);
        bench_untrack(gw);
        bench_untrack(xnsd);
}

static void remote_stop(struct remote *rm) {
        pid_t pids[TEST_NATS_MAX];

        for (unsigned i = 0; i < HOSTS; i++)
                host_stop(&rm->host[i]);
        for (unsigned i = 0; i < rm->nats.n; i++)
                pids[i] = rm->nats.node[i].pid;
        if (test_nats_stop(&rm->nats, STOP_MS) == 0)
                fprintf(stderr, "xnsbench: a nats-server ignored SIGTERM for %d ms, killed it\n", STOP_MS);
        for (unsigned i = 0; i < rm->nats.n; i++)
                bench_untrack(pids[i]);
        test_nats_remove_dir(&rm->nats);
        live = NULL;
        progress();
}

/* The counting server on host b, registered under SERVICE once it returns. */
static void server_start(struct child *c, struct server_arg *a, const struct remote *rm, uint64_t count_target) {
        char ready;

        *a = (struct server_arg){ .socket = rm->host[HOST_SERVER].xnsd.sock, .count_target = count_target,
                                  .report_every = REPORT_EVERY, .senders = 1 };
        snprintf(a->name, sizeof(a->name), "%s", SERVICE);
        child_start(c, "the xns server on host b", xns_server_main, a, NULL, 0);
        child_recv(c, &ready, 1);
}

/* --- the client on host a -------------------------------------------------- */

struct client_arg {
        const char *socket;     /* host a's xnsd */
        size_t lend;            /* lend_mut of a buffer this big, or 0: BlockingScalars */
        size_t rounds;          /* or 0: send count Scalars when the benchmark says go */
        uint64_t count;
        const pid_t *pids;      /* whose CPU time counts beside the client's */
        size_t n_pids;
};

/* What the client sends while it measures (done false) and at the end. */
struct client_report {
        bool done;
        size_t n;
        double median_ns, p99_ns, cpu_ns_per_op;
};

struct tick_ctx {
        int chan;
        round_fn *round;
        void *ctx;
        uint32_t rounds;
};

/* A round, and every TICK_ROUNDS a report that the client is alive: the
 * benchmark's watchdog is in the benchmark. */
static int64_t tick_round(void *ctx, uint32_t i) {
        struct tick_ctx *t = ctx;

        if (++t->rounds % TICK_ROUNDS == 0)
                chan_send(t->chan, &(struct client_report){ .done = false }, sizeof(struct client_report));
        return t->round(t->ctx, i);
}

static void client_measure(int chan, const struct client_arg *a, xous_cid_t cid) {
        struct lend_ctx lend = { .cid = cid };
        struct tick_ctx tick = { .chan = chan, .round = scalar_round, .ctx = &lend.cid };
        struct result r = RESULT_INIT("client");

        if (a->lend) {
                lend.buf = xous_buf_new(a->lend);
                if (!lend.buf)
                        bench_fail("xous_buf_new(%zu): %s", a->lend, strerror(errno));
                tick.round = lend_round;
                tick.ctx = &lend;
        }
        measure_latency(&r, a->rounds, a->rounds < 200 ? a->rounds : 3, tick_round, &tick, a->pids, a->n_pids);
        chan_send(chan, &(struct client_report){ .done = true, .n = r.n, .median_ns = r.median_ns,
                                                 .p99_ns = r.p99_ns, .cpu_ns_per_op = r.cpu_ns_per_op },
                  sizeof(struct client_report));
        xous_buf_free(lend.buf);
}

/* Connects to SERVICE through host a, says so, measures (or sends when
 * told to), then ends the server when the benchmark says so. */
static void client_main(int chan, void *arg) {
        const struct client_arg *a = arg;
        xous_scalar_reply_t reply;
        xous_cid_t cid;
        xous_error_t e;
        char c = 1;

        setenv("XOUS_SOCKET", a->socket, 1);
        e = xous_request_connection_blocking(SERVICE, &cid);
        if (e != XOUS_OK)
                bench_fail("connect to '%s' from host a: %s", SERVICE, xous_strerror(e));
        chan_send(chan, &c, 1);
        if (a->rounds) {
                client_measure(chan, a, cid);
        } else {
                chan_recv(chan, &c, 1);
                send_scalars(cid, 0, a->count);
        }
        chan_recv(chan, &c, 1);
        e = xous_blocking_scalar(cid, OP_QUIT, 0, 0, 0, 0, &reply);
        if (e != XOUS_OK)
                bench_fail("quit the server: %s", xous_strerror(e));
        xous_disconnect(cid);
}

static void client_start(struct child *c, struct client_arg *a, const struct remote *rm, pid_t server) {
        static pid_t pids[ELEMENTSOF(rm->pids) + 1];
        char ready;

        memcpy(pids, rm->pids, rm->n_pids * sizeof(pid_t));
        pids[rm->n_pids] = server;
        a->socket = rm->host[HOST_CLIENT].xnsd.sock;
        a->pids = pids;
        a->n_pids = rm->n_pids + 1;
        child_start(c, "the client on host a", client_main, a, NULL, 0);
        child_recv(c, &ready, 1);
}

/* Lets the client end the server, and both exit. */
static void client_server_stop(struct child *client, struct child *server) {
        char c = 1;

        child_send(client, &c, 1);
        child_stop(client);
        child_stop(server);
}

/* --- remote_blocking_scalar, remote_lend_mut_64k, remote_lend_mut_1m -------- */

static void remote_latency(struct result *r, size_t lend) {
        struct remote rm = REMOTE_INIT;
        struct client_arg a = { .lend = lend, .rounds = rounds_remote(lend ? lend : 16) };
        struct client_report rep;
        struct server_arg sa;
        struct child server, client;

        if (!remote_start(&rm, r->skipped, sizeof(r->skipped)))
                return;
        server_start(&server, &sa, &rm, 0);
        client_start(&client, &a, &rm, server.pid);
        do
                child_recv(&client, &rep, sizeof(rep));
        while (!rep.done);
        r->n = rep.n;
        r->median_ns = rep.median_ns;
        r->p99_ns = rep.p99_ns;
        r->cpu_ns_per_op = rep.cpu_ns_per_op;
        client_server_stop(&client, &server);
        remote_stop(&rm);
}

void case_remote_blocking_scalar(struct result *r, long arg) {
        remote_latency(r, 0);
}

void case_remote_lend_mut(struct result *r, long size) {
        remote_latency(r, (size_t)size);
}

/* --- remote_scalar_throughput ---------------------------------------------- */

void case_remote_scalar_throughput(struct result *r, long arg) {
        struct remote rm = REMOTE_INIT;
        struct client_arg a = { .count = messages_throughput() };
        pid_t pids[ELEMENTSOF(rm.pids) + 2];
        struct count_report rep;
        struct server_arg sa;
        struct child server, client;
        int64_t t0, cpu0;
        char go = 1;

        if (!remote_start(&rm, r->skipped, sizeof(r->skipped)))
                return;
        server_start(&server, &sa, &rm, a.count);
        client_start(&client, &a, &rm, server.pid);
        memcpy(pids, rm.pids, rm.n_pids * sizeof(pid_t));
        pids[rm.n_pids] = server.pid;
        pids[rm.n_pids + 1] = client.pid;
        cpu0 = cpu_ns_sum(pids, rm.n_pids + 2);
        t0 = now_ns();
        child_send(&client, &go, 1);
        do {
                child_recv(&server, &rep, sizeof(rep));
                if (rep.error[0])
                        bench_fail("the server on host b saw messages out of order: %s", rep.error);
        } while (rep.count < a.count);
        r->cpu_ns_per_op = (double)(cpu_ns_sum(pids, rm.n_pids + 2) - cpu0) / (double)a.count;
        if (rep.count != a.count)
                bench_fail("the server counted %llu messages, want %llu", (unsigned long long)rep.count,
                           (unsigned long long)a.count);
        r->n = a.count;
        r->ops_per_s = (double)a.count * 1e9 / (double)(rep.t_last_ns - t0);
        client_server_stop(&client, &server);
        remote_stop(&rm);
}
