/* baseline.c: the floors xnsd is measured against: the same 24-byte
 * request and reply over a socketpair (one hop each way), through a
 * minimal epoll relay (two hops), and through a relay that shares memory
 * with both ends and rings eventfd doorbells (two hops, no socket on the
 * path); one-way messages through the socket relay, and a 16 MiB buffer
 * copied through a socket and back. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "macro.h"

/* --- the peers ---------------------------------------------------------- */

struct sock_server_arg {
        int fd;                 /* SOCK_SEQPACKET */
        uint64_t count_target;  /* OP_COUNT messages to count, then report */
};

/* Answers OP_ADD with a1 + 1 and counts OP_COUNT, until EOF. */
static void sock_server_main(int chan, void *arg) {
        const struct sock_server_arg *a = arg;
        struct counter counter;

        counter_init(&counter, a->count_target, 1);
        for (;;) {
                struct msg24 m;
                ssize_t n = recv(a->fd, &m, sizeof(m), 0);

                if (n == 0)
                        return;
                if (n != sizeof(m))
                        bench_fail("socket server: recv gave %zd (%s), want %zu bytes", n,
                                   n < 0 ? strerror(errno) : "short", sizeof(m));
                if (m.op == OP_ADD) {
                        m.a1 += 1;
                        if (send(a->fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
                                bench_fail("socket server: send: %s", strerror(errno));
                } else if (m.op == OP_COUNT) {
                        if (counter_add(&counter, m.a1, m.a2)) {
                                struct count_report rep;

                                counter_report(&counter, &rep);
                                chan_send(chan, &rep, sizeof(rep));
                        }
                } else {
                        bench_fail("socket server: unknown op %u", m.op);
                }
        }
}

struct relay_arg {
        int fd[2];
};

/* Forwards every message from one socket to the other, draining each
 * readable socket per wake-up, until either side closes. */
static void relay_main(int chan, void *arg) {
        const struct relay_arg *a = arg;
        _cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);

        if (ep < 0)
                bench_fail("relay: epoll_create1: %s", strerror(errno));
        for (int k = 0; k < 2; k++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)k };

                if (epoll_ctl(ep, EPOLL_CTL_ADD, a->fd[k], &ev) < 0)
                        bench_fail("relay: epoll_ctl: %s", strerror(errno));
        }
        for (;;) {
                struct epoll_event ev[2];
                int n = epoll_wait(ep, ev, 2, -1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        bench_fail("relay: epoll_wait: %s", strerror(errno));
                for (int e = 0; e < n; e++) {
                        int from = a->fd[ev[e].data.u32], to = a->fd[!ev[e].data.u32];

                        for (;;) {
                                char buf[256];
                                ssize_t len = recv(from, buf, sizeof(buf), MSG_DONTWAIT);

                                if (len < 0 && (errno == EAGAIN || errno == EINTR))
                                        break;
                                if (len <= 0)
                                        return;         /* a side closed: done */
                                if (send(to, buf, (size_t)len, MSG_NOSIGNAL) != len)
                                        return;
                        }
                }
        }
}

static void seqpacket_pair(int sv[2]) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                bench_fail("socketpair: %s", strerror(errno));
}

/* The benchmark's end of a path to a socket server, direct or through a relay. */
struct sock_path {
        int fd;
        struct sock_server_arg server_arg;
        struct relay_arg relay_arg;
        struct child server, relay;
        bool relayed;
};

static void sock_path_start(struct sock_path *p, bool relayed, uint64_t count_target) {
        int a[2], b[2];

        *p = (struct sock_path){ .relayed = relayed };
        seqpacket_pair(a);
        if (!relayed) {
                p->server_arg = (struct sock_server_arg){ .fd = a[1], .count_target = count_target };
                child_start(&p->server, "the socket server", sock_server_main, &p->server_arg, &a[1], 1);
                close(a[1]);
                p->fd = a[0];
                return;
        }
        seqpacket_pair(b);
        p->server_arg = (struct sock_server_arg){ .fd = b[1], .count_target = count_target };
        child_start(&p->server, "the socket server", sock_server_main, &p->server_arg, &b[1], 1);
        p->relay_arg = (struct relay_arg){ .fd = { a[1], b[0] } };
        child_start(&p->relay, "the relay", relay_main, &p->relay_arg, p->relay_arg.fd, 2);
        close(a[1]);
        close(b[0]);
        close(b[1]);
        p->fd = a[0];
}

/* Closing our end ends the relay, which ends the server. */
static void sock_path_stop(struct sock_path *p) {
        close(p->fd);
        if (p->relayed)
                child_stop(&p->relay);
        child_stop(&p->server);
}

/* --- baseline_pair, baseline_relay -------------------------------------- */

static int64_t sock_round(void *ctx, uint32_t i) {
        int fd = *(int *)ctx;
        struct msg24 m = { .op = OP_ADD, .a1 = i }, reply = { 0 };
        int64_t t0 = now_ns(), t;
        ssize_t n;

        if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
                bench_fail("send: %s", strerror(errno));
        n = recv(fd, &reply, sizeof(reply), 0);
        t = now_ns() - t0;
        if (n != sizeof(reply))
                bench_fail("recv gave %zd (%s), want %zu bytes", n, n < 0 ? strerror(errno) : "short", sizeof(reply));
        if (reply.op != OP_ADD || reply.a1 != i + 1)
                bench_fail("request %u answered %u, want %u", i, reply.a1, i + 1);
        return t;
}

static void case_sock_latency(struct result *r, bool relayed) {
        struct sock_path p;
        pid_t pids[2];
        size_t n = rounds_latency();

        sock_path_start(&p, relayed, 0);
        pids[0] = p.server.pid;
        pids[1] = relayed ? p.relay.pid : 0;
        measure_latency(r, n, n < 200 ? n : 200, sock_round, &p.fd, pids, relayed ? 2 : 1);
        sock_path_stop(&p);
}

void case_baseline_pair(struct result *r, long arg) {
        case_sock_latency(r, false);
}

void case_baseline_relay(struct result *r, long arg) {
        case_sock_latency(r, true);
}

/* --- baseline_shm_relay -------------------------------------------------- */

/* One message in shared memory. Its single writer fills m, then bumps seq;
 * its reader takes m once it sees a seq it has not seen. The client sends
 * a request only once the last is answered, so a hop never holds two
 * messages. A cache line each, so that no two hops share one. */
struct shm_slot {
        _Atomic uint32_t seq;
        struct msg24 m;
} __attribute__((aligned(64)));

/* The hops, named from the relay: requests in from the client and out to
 * the server, replies in from the server and out to the client. */
struct shm_hops {
        struct shm_slot req_in, req_out, rep_in, rep_out;
};

/* What the three parties share: the hops and an eventfd doorbell each. */
struct shm_relay {
        struct shm_hops *hops;
        int bell_relay;         /* rung by the client and by the server */
        int bell_server;
        int bell_client;
};

static void slot_write(struct shm_slot *s, const struct msg24 *m) {
        uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);

        s->m = *m;
        atomic_store_explicit(&s->seq, seq + 1, memory_order_release);
}

/* Takes the message in s if it is one newer than *seen. */
static bool slot_read(struct shm_slot *s, uint32_t *seen, struct msg24 *m) {
        uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);

        if (seq == *seen)
                return false;
        *m = s->m;
        *seen = seq;
        return true;
}

static void doorbell_ring(int fd) {
        uint64_t one = 1;

        if (write(fd, &one, sizeof(one)) != sizeof(one))
                bench_fail("eventfd write: %s", strerror(errno));
}

/* Sleeps until the doorbell has rung, and clears it. */
static void doorbell_wait(int fd) {
        uint64_t rings;
        ssize_t n;

        do
                n = read(fd, &rings, sizeof(rings));
        while (n < 0 && errno == EINTR);
        if (n != sizeof(rings))
                bench_fail("eventfd read: %s", n < 0 ? strerror(errno) : "short");
}

/* Answers OP_ADD with a1 + 1, until OP_QUIT. */
static void shm_server_main(int chan, void *arg) {
        const struct shm_relay *s = arg;
        uint32_t seen = 0;

        for (;;) {
                struct msg24 m;

                doorbell_wait(s->bell_server);
                if (!slot_read(&s->hops->req_out, &seen, &m))
                        continue;
                if (m.op == OP_QUIT)
                        return;
                if (m.op != OP_ADD)
                        bench_fail("shm server: unknown op %u", m.op);
                m.a1 += 1;
                slot_write(&s->hops->rep_in, &m);
                doorbell_ring(s->bell_relay);
        }
}

/* Sleeps in epoll until the relay's doorbell rings, and clears it. */
static void shm_relay_sleep(int ep, int bell) {
        struct epoll_event ev;
        int n;

        do
                n = epoll_wait(ep, &ev, 1, -1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                bench_fail("shm relay: epoll_wait: %s", strerror(errno));
        doorbell_wait(bell);
}

/* Forwards requests to the server and replies to the client, sleeping in
 * epoll when neither has anything new; passes OP_QUIT on and ends. */
static void shm_relay_main(int chan, void *arg) {
        const struct shm_relay *s = arg;
        _cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN };
        uint32_t req_seen = 0, rep_seen = 0;

        if (ep < 0)
                bench_fail("shm relay: epoll_create1: %s", strerror(errno));
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s->bell_relay, &ev) < 0)
                bench_fail("shm relay: epoll_ctl: %s", strerror(errno));
        for (;;) {
                struct msg24 m;

                if (slot_read(&s->hops->req_in, &req_seen, &m)) {
                        slot_write(&s->hops->req_out, &m);
                        doorbell_ring(s->bell_server);
                        if (m.op == OP_QUIT)
                                return;
                } else if (slot_read(&s->hops->rep_in, &rep_seen, &m)) {
                        slot_write(&s->hops->rep_out, &m);
                        doorbell_ring(s->bell_client);
                } else {
                        shm_relay_sleep(ep, s->bell_relay);
                }
        }
}

/* The benchmark's side: the client of the path. */
struct shm_path {
        struct shm_relay shared;
        struct child server, relay;
        uint32_t rep_seen;
};

static int doorbell_new(void) {
        int fd = eventfd(0, EFD_CLOEXEC);

        if (fd < 0)
                bench_fail("eventfd: %s", strerror(errno));
        return fd;
}

static void shm_path_start(struct shm_path *p) {
        struct shm_hops *hops;

        hops = mmap(NULL, sizeof(*hops), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (hops == MAP_FAILED)
                bench_fail("mmap: %s", strerror(errno));
        *p = (struct shm_path){ .shared = { .hops = hops, .bell_relay = doorbell_new(),
                                            .bell_server = doorbell_new(), .bell_client = doorbell_new() } };
        child_start(&p->server, "the shm server", shm_server_main, &p->shared,
                    (const int[]){ p->shared.bell_server, p->shared.bell_relay }, 2);
        child_start(&p->relay, "the shm relay", shm_relay_main, &p->shared,
                    (const int[]){ p->shared.bell_relay, p->shared.bell_server, p->shared.bell_client }, 3);
        p->shared.bell_server = safe_close(p->shared.bell_server);
}

/* OP_QUIT goes the requests' way: it ends the relay, then the server. */
static void shm_path_stop(struct shm_path *p) {
        struct msg24 quit = { .op = OP_QUIT };

        slot_write(&p->shared.hops->req_in, &quit);
        doorbell_ring(p->shared.bell_relay);
        child_stop(&p->relay);
        child_stop(&p->server);
        safe_close(p->shared.bell_relay);
        safe_close(p->shared.bell_client);
        munmap(p->shared.hops, sizeof(*p->shared.hops));
}

static int64_t shm_round(void *ctx, uint32_t i) {
        struct shm_path *p = ctx;
        struct msg24 m = { .op = OP_ADD, .a1 = i }, reply;
        int64_t t0 = now_ns(), t;

        slot_write(&p->shared.hops->req_in, &m);
        doorbell_ring(p->shared.bell_relay);
        do
                doorbell_wait(p->shared.bell_client);
        while (!slot_read(&p->shared.hops->rep_out, &p->rep_seen, &reply));
        t = now_ns() - t0;
        if (reply.op != OP_ADD || reply.a1 != i + 1)
                bench_fail("request %u answered %u, want %u", i, reply.a1, i + 1);
        return t;
}

void case_baseline_shm_relay(struct result *r, long arg) {
        struct shm_path p;
        pid_t pids[2];
        size_t n = rounds_latency();

        shm_path_start(&p);
        pids[0] = p.server.pid;
        pids[1] = p.relay.pid;
        measure_latency(r, n, n < 200 ? n : 200, shm_round, &p, pids, 2);
        shm_path_stop(&p);
}

/* --- relay_throughput ---------------------------------------------------- */

void case_relay_throughput(struct result *r, long arg) {
        uint64_t total = messages_throughput();
        struct count_report rep;
        struct sock_path p;
        int64_t t0, cpu0;
        pid_t pids[2];

        sock_path_start(&p, true, total);
        pids[0] = p.server.pid;
        pids[1] = p.relay.pid;
        cpu0 = cpu_ns_sum(pids, 2);
        t0 = now_ns();
        for (uint64_t i = 0; i < total; i++) {
                struct msg24 m = { .op = OP_COUNT, .a1 = (uint32_t)i };

                if (send(p.fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
                        bench_fail("send %llu: %s", (unsigned long long)i, strerror(errno));
                if (i % 4096 == 0)
                        progress();
        }
        child_recv(&p.server, &rep, sizeof(rep));
        r->cpu_ns_per_op = (double)(cpu_ns_sum(pids, 2) - cpu0) / (double)total;
        if (rep.error[0])
                bench_fail("the receiver saw messages out of order: %s", rep.error);
        if (rep.count != total)
                bench_fail("the receiver counted %llu messages, want %llu", (unsigned long long)rep.count,
                           (unsigned long long)total);
        r->n = total;
        r->ops_per_s = (double)total * 1e9 / (double)(rep.t_last_ns - t0);
        sock_path_stop(&p);
}

/* --- copy_16m ------------------------------------------------------------ */

struct copy_arg {
        int fd;                 /* SOCK_STREAM */
        size_t size;
};

/* Reads size bytes, adds 1 to word 0, sends them all back; until EOF. */
static void copy_server_main(int chan, void *arg) {
        const struct copy_arg *a = arg;
        _cleanup_free_ uint32_t *buf = malloc(a->size);

        if (!buf)
                bench_fail("copy server: out of memory");
        for (;;) {
                ssize_t n = read_full(a->fd, buf, a->size);

                if (n == 0)
                        return;
                if (n < 0)
                        bench_fail("copy server: read: %s", strerror((int)-n));
                buf[0] += 1;
                if (write_full(a->fd, buf, a->size) < 0)
                        bench_fail("copy server: write: %s", strerror(errno));
        }
}

struct copy_ctx {
        int fd;
        size_t size;
        uint32_t *buf;
};

#define COPY_TAIL 0xc0ffee11u   /* the last word: it must survive both trips */

static int64_t copy_round(void *ctx, uint32_t i) {
        struct copy_ctx *c = ctx;
        size_t last = c->size / sizeof(uint32_t) - 1;
        int64_t t0, t;
        ssize_t n;
        int r;

        c->buf[0] = i;
        c->buf[last] = COPY_TAIL;
        t0 = now_ns();
        r = write_full(c->fd, c->buf, c->size);
        if (r < 0)
                bench_fail("write: %s", strerror(-r));
        n = read_full(c->fd, c->buf, c->size);
        t = now_ns() - t0;
        if (n != (ssize_t)c->size)
                bench_fail("read: %s", n < 0 ? strerror((int)-n) : "EOF");
        if (c->buf[0] != i + 1 || c->buf[last] != COPY_TAIL)
                bench_fail("round %u came back with word %u and tail 0x%x, want %u and 0x%x", i, c->buf[0],
                           c->buf[last], i + 1, COPY_TAIL);
        return t;
}

void case_copy(struct result *r, long size) {
        struct copy_ctx c = { .size = (size_t)size };
        struct copy_arg a;
        struct child server;
        int sv[2];

        c.buf = calloc(1, c.size);
        if (!c.buf)
                bench_fail("out of memory");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                bench_fail("socketpair: %s", strerror(errno));
        a = (struct copy_arg){ .fd = sv[1], .size = c.size };
        child_start(&server, "the copy server", copy_server_main, &a, &sv[1], 1);
        close(sv[1]);
        c.fd = sv[0];
        measure_latency(r, rounds_copy(), 3, copy_round, &c, &server.pid, 1);
        close(c.fd);
        child_stop(&server);
        free(c.buf);
}
