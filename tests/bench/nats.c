/* nats.c: the floors of xns across hosts (xnsbench --remote): raw NATS between two nodes of a private 3-node cluster. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"
#include "nats.h"

#define NATS_START_MS 10000
#define NATS_STOP_MS 2000
#define REQUEST_MS 10000
#define ECHO_SUBJECT "bench.echo"
#define READY_SUBJECT "bench.ready"
#define COUNT_SUBJECT "bench.count"
/* Publishes beyond what the subscriber has reported: far below the 65536
 * messages a subscription may hold before it is cut as a slow consumer. */
#define WINDOW 16384u
#define TAIL 0x7a11u            /* the last word of a request: it must come back */

/* The requester is on node 0, the responder or subscriber on node 1. */
enum { NODE_REQUESTER, NODE_PEER };

/* The 16 bytes of a published message. */
struct count_msg {
        uint32_t seq, sender, pad[2];
};

/* $NATS_SERVER, else nats-server on $PATH or in /usr/sbin; NULL (and why
 * in skipped) when there is none to run. */
const char *nats_server_exe(char *skipped, size_t size) {
        const char *env = getenv("NATS_SERVER"), *exe;

        if (env && *env) {
                if (access(env, X_OK) == 0)
                        return env;
                snprintf(skipped, size, "NATS_SERVER=%s cannot be run: %s", env, strerror(errno));
                return NULL;
        }
        exe = find_exe("nats-server", "/usr/sbin/nats-server");
        if (!exe)
                snprintf(skipped, size, "nats-server is not installed (contrib/deps.sh installs it)");
        return exe;
}

static void node_child_setup(void) {
        child_setup(NULL, 0);
}

/* Three nodes without JetStream, their logs in the run's directory; false
 * (and why in skipped) when there is no nats-server. */
static bool cluster_start(struct test_nats *c, char *skipped, size_t size) {
        struct test_nats_config cfg = { .nodes = 3, .child_setup = node_child_setup, .timeout_ms = NATS_START_MS };
        char why[600], path[160];

        cfg.exe = nats_server_exe(skipped, size);
        if (!cfg.exe)
                return false;
        cfg.dir = bench_dir();
        for (unsigned i = 0; i < cfg.nodes; i++) {
                char name[32];

                snprintf(name, sizeof(name), TEST_NATS_LOG, i);
                bench_path(path, sizeof(path), name);
        }
        if (test_nats_start(c, &cfg, why, sizeof(why)) < 0)
                bench_fail("%s", why);
        for (unsigned i = 0; i < c->n; i++)
                bench_track(c->node[i].pid);
        return true;
}

static void cluster_stop(struct test_nats *c) {
        pid_t pids[TEST_NATS_MAX];

        for (unsigned i = 0; i < c->n; i++)
                pids[i] = c->node[i].pid;
        if (test_nats_stop(c, NATS_STOP_MS) == 0)
                fprintf(stderr, "xnsbench: a nats-server ignored SIGTERM for %d ms, killed it\n", NATS_STOP_MS);
        for (unsigned i = 0; i < c->n; i++)
                bench_untrack(pids[i]);
}

/* The benchmark uses libnats only after it has forked the case's peers, and
 * unloads it at the end of the case: a child forked while the library runs
 * would inherit its state without its threads. */
static void library_close(void) {
        natsStatus s = nats_CloseAndWait(NATS_STOP_MS);

        if (s != NATS_OK)
                bench_fail("nats_CloseAndWait: %s", natsStatus_GetText(s));
}

static natsConnection *connect_node(const struct test_nats *c, unsigned i, bool send_asap) {
        natsConnection *nc = NULL;
        natsStatus s = test_nats_connect(&nc, c, i, send_asap);

        if (s != NATS_OK)
                bench_fail("connect to %s: %s (%s)", c->node[i].url, natsStatus_GetText(s), nats_GetLastError(NULL));
        return nc;
}

static void expect_ok(natsStatus s, const char *what) {
        if (s != NATS_OK)
                bench_fail("%s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
}

static natsSubscription *subscribe(natsConnection *nc, const char *subject) {
        natsSubscription *sub = NULL;

        expect_ok(natsConnection_SubscribeSync(&sub, nc, subject), "subscribe");
        return sub;
}

/* Whether the benchmark closed the channel: the peer's cue to end. */
static bool chan_closed(int chan) {
        struct pollfd pfd = { .fd = chan, .events = POLLIN };
        char c;

        return poll(&pfd, 1, 0) > 0 && read(chan, &c, 1) <= 0;
}

static void reply_with(natsConnection *nc, natsMsg *msg) {
        expect_ok(natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg)),
                  "publish a reply");
        natsMsg_Destroy(msg);
}

/* --- nats_rr_16, nats_rr_64k, nats_rr_1m ---------------------------------- */

/* On node 1: answers every request with its own data until the channel closes. */
static void echo_main(int chan, void *arg) {
        natsConnection *nc = connect_node(arg, NODE_PEER, true);
        natsSubscription *sub = subscribe(nc, ECHO_SUBJECT);
        char ready = 1;

        expect_ok(natsConnection_Flush(nc), "flush");
        chan_send(chan, &ready, 1);
        for (;;) {
                natsMsg *msg = NULL;
                natsStatus s = natsSubscription_NextMsg(&msg, sub, 100);

                if (s == NATS_TIMEOUT && chan_closed(chan))
                        break;
                if (s == NATS_TIMEOUT)
                        continue;
                expect_ok(s, "echo: next message");
                reply_with(nc, msg);
        }
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
}

struct rr_ctx {
        natsConnection *nc;
        size_t size;
        uint32_t *buf;
};

static int64_t rr_round(void *ctx, uint32_t i) {
        struct rr_ctx *c = ctx;
        size_t last = c->size / sizeof(uint32_t) - 1;
        natsMsg *reply = NULL;
        uint32_t first = 0, tail = 0;
        const char *got;
        int64_t t0, t;
        natsStatus s;

        c->buf[0] = i;
        c->buf[last] = TAIL;
        t0 = now_ns();
        s = natsConnection_Request(&reply, c->nc, ECHO_SUBJECT, c->buf, (int)c->size, REQUEST_MS);
        t = now_ns() - t0;
        expect_ok(s, "request");
        got = natsMsg_GetData(reply);   /* not aligned */
        if ((size_t)natsMsg_GetDataLength(reply) == c->size) {
                memcpy(&first, got, sizeof(first));
                memcpy(&tail, got + last * sizeof(uint32_t), sizeof(tail));
        }
        if (first != i || tail != TAIL)
                bench_fail("request %u of %zu bytes came back with %d bytes, word 0 %u, tail 0x%x", i, c->size,
                           natsMsg_GetDataLength(reply), first, tail);
        natsMsg_Destroy(reply);
        return t;
}

void case_nats_rr(struct result *r, long size) {
        struct rr_ctx ctx = { .size = (size_t)size };
        struct test_nats c;
        struct child echo;
        size_t n = rounds_remote(ctx.size);
        pid_t pids[1 + TEST_NATS_MAX];
        char ready;

        if (!cluster_start(&c, r->skipped, sizeof(r->skipped)))
                return;
        child_start(&echo, "the NATS echo responder", echo_main, &c, NULL, 0);
        child_recv(&echo, &ready, 1);
        ctx.buf = calloc(1, ctx.size);
        if (!ctx.buf)
                bench_fail("out of memory");
        ctx.nc = connect_node(&c, NODE_REQUESTER, true);
        expect_ok(test_nats_await_responder(ctx.nc, ECHO_SUBJECT, REQUEST_MS), "the responder's interest");
        pids[0] = echo.pid;
        for (unsigned i = 0; i < c.n; i++)
                pids[1 + i] = c.node[i].pid;
        measure_latency(r, n, n < 200 ? n : 3, rr_round, &ctx, pids, 1 + c.n);
        natsConnection_Destroy(ctx.nc);
        library_close();
        free(ctx.buf);
        child_stop(&echo);
        cluster_stop(&c);
}

/* --- nats_publish ----------------------------------------------------------- */

struct counter_arg {
        const struct test_nats *cluster;
        uint64_t total;
};

/* On node 1: answers one request on READY_SUBJECT (then the benchmark's
 * node has this connection's interest in COUNT_SUBJECT too, sent before it
 * on the same route), then counts the published messages, reporting every
 * WINDOW / 2 and at the last. */
static void counter_main(int chan, void *arg) {
        const struct counter_arg *a = arg;
        natsConnection *nc = connect_node(a->cluster, NODE_PEER, true);
        natsSubscription *count_sub = subscribe(nc, COUNT_SUBJECT), *ready_sub = subscribe(nc, READY_SUBJECT);
        struct counter counter;
        natsMsg *msg = NULL;
        char ready = 1;

        expect_ok(natsConnection_Flush(nc), "flush");
        chan_send(chan, &ready, 1);
        expect_ok(natsSubscription_NextMsg(&msg, ready_sub, CHILD_WAIT_MS), "counter: the ready request");
        reply_with(nc, msg);
        natsSubscription_Destroy(ready_sub);
        counter_init(&counter, a->total, 1);
        while (counter.count < a->total) {
                struct count_msg m;
                bool done;

                expect_ok(natsSubscription_NextMsg(&msg, count_sub, CHILD_WAIT_MS), "counter: next message");
                if (natsMsg_GetDataLength(msg) != sizeof(m))
                        bench_fail("counter: a message of %d bytes", natsMsg_GetDataLength(msg));
                memcpy(&m, natsMsg_GetData(msg), sizeof(m));
                natsMsg_Destroy(msg);
                done = counter_add(&counter, m.seq, m.sender);
                if (done || counter.count % (WINDOW / 2) == 0) {
                        struct count_report rep;

                        counter_report(&counter, &rep);
                        chan_send(chan, &rep, sizeof(rep));
                }
        }
        natsSubscription_Destroy(count_sub);
        natsConnection_Destroy(nc);
}

/* Reads the subscriber's reports until it has counted at least upto. */
static void await_count(struct child *counter, uint64_t upto, struct count_report *rep) {
        do {
                child_recv(counter, rep, sizeof(*rep));
                if (rep->error[0])
                        bench_fail("the subscriber saw messages out of order: %s", rep->error);
        } while (rep->count < upto);
}

static void publish_all(natsConnection *nc, struct child *counter, uint64_t total, struct count_report *rep) {
        uint64_t reported = 0;

        for (uint64_t i = 0; i < total; i++) {
                struct count_msg m = { .seq = (uint32_t)i };

                if (i >= reported + WINDOW) {
                        expect_ok(natsConnection_FlushTimeout(nc, REQUEST_MS), "flush");
                        await_count(counter, i - WINDOW + 1, rep);
                        reported = rep->count;
                }
                expect_ok(natsConnection_Publish(nc, COUNT_SUBJECT, &m, sizeof(m)), "publish");
        }
        expect_ok(natsConnection_FlushTimeout(nc, REQUEST_MS), "flush");
        await_count(counter, total, rep);
}

void case_nats_publish(struct result *r, long arg) {
        struct counter_arg a = { .total = messages_throughput() };
        pid_t pids[1 + TEST_NATS_MAX];
        struct count_report rep;
        struct child counter;
        struct test_nats c;
        natsConnection *nc;
        int64_t t0, cpu0;
        char ready;

        if (!cluster_start(&c, r->skipped, sizeof(r->skipped)))
                return;
        a.cluster = &c;
        child_start(&counter, "the NATS subscriber", counter_main, &a, NULL, 0);
        child_recv(&counter, &ready, 1);
        /* Buffered, as nats.c does by default: the most a publisher gets
         * (written at once, each publish is a write of its own). */
        nc = connect_node(&c, NODE_REQUESTER, false);
        expect_ok(test_nats_await_responder(nc, READY_SUBJECT, REQUEST_MS), "the subscriber's interest");
        pids[0] = counter.pid;
        for (unsigned i = 0; i < c.n; i++)
                pids[1 + i] = c.node[i].pid;
        cpu0 = cpu_ns_sum(pids, 1 + c.n);
        t0 = now_ns();
        publish_all(nc, &counter, a.total, &rep);
        r->cpu_ns_per_op = (double)(cpu_ns_sum(pids, 1 + c.n) - cpu0) / (double)a.total;
        r->n = a.total;
        r->ops_per_s = (double)a.total * 1e9 / (double)(rep.t_last_ns - t0);
        natsConnection_Destroy(nc);
        library_close();
        child_stop(&counter);
        cluster_stop(&c);
}
