/* xns.c: the xnsbench cases that go through xnsd: BlockingScalar round
 * trips, one-way Scalar throughput, lends, many clients, the daemon's RSS. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xous/xous.h>

#include "bench.h"

/* --- the server --------------------------------------------------------- */

static _Noreturn void server_fail(const char *what, xous_error_t e) {
        fprintf(stderr, "xnsbench: server: %s: %s\n", what, xous_strerror(e));
        _exit(1);
}

/* Handles one message; true for OP_QUIT. */
static bool server_handle(xous_envelope_t *env, const struct server_arg *s, struct counter *counter, int chan) {
        const uint32_t *a = xous_envelope_args(env);
        xous_msg_kind_t kind = xous_envelope_kind(env);
        xous_error_t e;

        switch (xous_envelope_id(env)) {
        case OP_ADD:
                if (kind != XOUS_MSG_BLOCKING_SCALAR)
                        server_fail("OP_ADD is not a BlockingScalar", XOUS_ERR_INVALID_ARGUMENT);
                e = xous_return_scalar(env, a[0] + 1);
                if (e != XOUS_OK)
                        server_fail("return_scalar", e);
                return false;
        case OP_WRITE: {
                uint32_t *word = xous_envelope_buf(env);

                if (kind != XOUS_MSG_MUTABLE_BORROW || !word || xous_envelope_buf_len(env) < sizeof(*word))
                        server_fail("OP_WRITE is not a MutableBorrow of a buffer", XOUS_ERR_INVALID_ARGUMENT);
                word[0] += 1;
                xous_envelope_set_offset_valid(env, 0, sizeof(*word));
                return false;
        }
        case OP_COUNT:
                if (kind != XOUS_MSG_SCALAR)
                        server_fail("OP_COUNT is not a Scalar", XOUS_ERR_INVALID_ARGUMENT);
                if (counter_add(counter, a[0], a[1]) ||
                    (s->report_every && counter->count % s->report_every == 0)) {
                        struct count_report rep;

                        counter_report(counter, &rep);
                        chan_send(chan, &rep, sizeof(rep));
                }
                return false;
        case OP_QUIT:
                if (kind == XOUS_MSG_BLOCKING_SCALAR)
                        xous_return_scalar(env, 0);
                return true;
        default:
                server_fail("unknown opcode", XOUS_ERR_INVALID_ARGUMENT);
        }
}

/* Registers the name (on the xnsd at s->socket when set), says so on
 * chan, and serves until OP_QUIT. */
void xns_server_main(int chan, void *arg) {
        const struct server_arg *s = arg;
        struct counter counter;
        xous_envelope_t *env = NULL;
        xous_sid_t sid;
        xous_error_t e;
        bool quit = false;
        char ready = 1;

        counter_init(&counter, s->count_target, s->senders);
        if (s->socket)
                setenv("XOUS_SOCKET", s->socket, 1);
        e = xous_register_name(s->name, 0, &sid);
        if (e != XOUS_OK)
                server_fail("register_name", e);
        chan_send(chan, &ready, 1);
        while (!quit) {
                if (s->reply_next) {
                        e = xous_reply_and_receive_next(sid, &env);
                } else {
                        xous_envelope_drop(env);
                        env = NULL;
                        e = xous_receive_message(sid, &env);
                }
                if (e != XOUS_OK)
                        server_fail("receive", e);
                quit = server_handle(env, s, &counter, chan);
        }
        xous_envelope_drop(env);
        e = xous_unregister_server(sid);
        if (e != XOUS_OK)
                server_fail("unregister_server", e);
}

struct xns_server {
        struct server_arg arg;
        struct child proc;
        xous_cid_t cid;
};

static void xns_server_start(struct xns_server *s, const char *case_name, bool reply_next,
                             uint64_t count_target, uint32_t senders) {
        xous_error_t e;
        char ready;

        s->arg = (struct server_arg){ .reply_next = reply_next, .count_target = count_target, .senders = senders };
        snprintf(s->arg.name, sizeof(s->arg.name), "xnsbench %s", case_name);
        child_start(&s->proc, "the xns server", xns_server_main, &s->arg, NULL, 0);
        child_recv(&s->proc, &ready, 1);
        e = xous_request_connection_blocking(s->arg.name, &s->cid);
        if (e != XOUS_OK)
                bench_fail("connect to '%s': %s", s->arg.name, xous_strerror(e));
}

static void xns_server_stop(struct xns_server *s) {
        xous_scalar_reply_t reply;
        xous_error_t e;

        e = xous_blocking_scalar(s->cid, OP_QUIT, 0, 0, 0, 0, &reply);
        if (e != XOUS_OK)
                bench_fail("quit the server: %s", xous_strerror(e));
        child_stop(&s->proc);
        xous_disconnect(s->cid);
}

/* --- daemon_rss_idle_kb -------------------------------------------------- */

void case_daemon_rss_idle(struct result *r, long arg) {
        long kb = rss_kb(xnsd_pid());

        if (kb < 0)
                bench_fail("cannot read VmRSS of xnsd");
        r->daemon_rss_kb = (double)kb;
}

/* --- blocking_scalar ---------------------------------------------------- */

int64_t scalar_round(void *ctx, uint32_t i) {
        xous_cid_t cid = *(xous_cid_t *)ctx;
        xous_scalar_reply_t reply = { 0 };
        int64_t t0 = now_ns(), t;
        xous_error_t e;

        e = xous_blocking_scalar(cid, OP_ADD, i, 0, 0, 0, &reply);
        t = now_ns() - t0;
        if (e != XOUS_OK)
                bench_fail("blocking_scalar: %s", xous_strerror(e));
        if (reply.count != 1 || reply.v[0] != i + 1)
                bench_fail("blocking_scalar(%u) answered %u (count %u), want %u", i, reply.v[0], reply.count, i + 1);
        return t;
}

void case_blocking_scalar(struct result *r, long reply_next) {
        struct xns_server s;
        pid_t pids[2];
        size_t n = rounds_latency();

        xns_server_start(&s, r->name, reply_next, 0, 0);
        pids[0] = xnsd_pid();
        pids[1] = s.proc.pid;
        measure_latency(r, n, n < 200 ? n : 200, scalar_round, &s.cid, pids, 2);
        xns_server_stop(&s);
}

/* --- scalar_throughput, scalar_throughput_4 ------------------------------ */

void send_scalars(xous_cid_t cid, uint32_t sender, uint64_t count) {
        for (uint64_t i = 0; i < count; i++) {
                xous_error_t e = xous_send_scalar(cid, OP_COUNT, (uint32_t)i, sender, 0, 0);

                if (e != XOUS_OK)
                        bench_fail("send_scalar %llu of sender %u: %s", (unsigned long long)i, sender,
                                   xous_strerror(e));
                if (i % 4096 == 0)
                        progress();
        }
}

struct sender_arg {
        const char *server;
        uint32_t index;
        uint64_t count;
};

static void sender_main(int chan, void *arg) {
        const struct sender_arg *a = arg;
        xous_cid_t cid;
        xous_error_t e;
        char c = 1;

        e = xous_request_connection_blocking(a->server, &cid);
        if (e != XOUS_OK)
                bench_fail("sender %u: connect: %s", a->index, xous_strerror(e));
        chan_send(chan, &c, 1);
        chan_recv(chan, &c, 1);
        send_scalars(cid, a->index, a->count);
}

void case_scalar_throughput(struct result *r, long senders) {
        uint64_t per_sender = messages_throughput() / (uint64_t)senders, total = per_sender * (uint64_t)senders;
        struct sender_arg args[8];
        struct child procs[8];
        struct count_report rep;
        struct xns_server s;
        pid_t pids[10];
        size_t n_pids = 0;
        int64_t t0, cpu0;
        char c = 1;

        xns_server_start(&s, r->name, false, total, (uint32_t)senders);
        pids[n_pids++] = xnsd_pid();
        pids[n_pids++] = s.proc.pid;
        if (senders > 1) {
                for (long k = 0; k < senders; k++) {
                        args[k] = (struct sender_arg){ .server = s.arg.name, .index = (uint32_t)k,
                                                       .count = per_sender };
                        child_start(&procs[k], "a sender", sender_main, &args[k], NULL, 0);
                        pids[n_pids++] = procs[k].pid;
                }
                for (long k = 0; k < senders; k++)
                        child_recv(&procs[k], &c, 1);
        }

        cpu0 = cpu_ns_sum(pids, n_pids);
        t0 = now_ns();
        if (senders > 1) {
                for (long k = 0; k < senders; k++)
                        child_send(&procs[k], &c, 1);
        } else {
                send_scalars(s.cid, 0, total);
        }
        child_recv(&s.proc, &rep, sizeof(rep));
        r->cpu_ns_per_op = (double)(cpu_ns_sum(pids, n_pids) - cpu0) / (double)total;
        if (rep.error[0])
                bench_fail("the server saw messages out of order: %s", rep.error);
        if (rep.count != total)
                bench_fail("the server counted %llu messages, want %llu", (unsigned long long)rep.count,
                           (unsigned long long)total);
        r->n = total;
        r->ops_per_s = (double)total * 1e9 / (double)(rep.t_last_ns - t0);
        if (senders > 1)
                for (long k = 0; k < senders; k++)
                        child_stop(&procs[k]);
        xns_server_stop(&s);
}

/* --- lend_mut_* ---------------------------------------------------------- */

int64_t lend_round(void *ctx, uint32_t i) {
        struct lend_ctx *l = ctx;
        uint32_t *word = xous_buf_data(l->buf);
        uint32_t offset = 0, valid = (uint32_t)xous_buf_len(l->buf);
        int64_t t0, t;
        xous_error_t e;

        word[0] = i;
        t0 = now_ns();
        e = xous_lend_mut(l->cid, OP_WRITE, l->buf, &offset, &valid);
        t = now_ns() - t0;
        if (e != XOUS_OK)
                bench_fail("lend_mut: %s", xous_strerror(e));
        if (word[0] != i + 1 || offset != 0 || valid != sizeof(uint32_t))
                bench_fail("lend_mut(%u) came back with word %u, offset %u, valid %u; want %u, 0, 4",
                           i, word[0], offset, valid, i + 1);
        return t;
}

void case_lend_mut(struct result *r, long size) {
        struct lend_ctx l;
        struct xns_server s;
        pid_t pids[2];
        size_t n = rounds_lend();

        l.buf = xous_buf_new((size_t)size);
        if (!l.buf)
                bench_fail("xous_buf_new(%ld): %s", size, strerror(errno));
        xns_server_start(&s, r->name, false, 0, 0);
        l.cid = s.cid;
        pids[0] = xnsd_pid();
        pids[1] = s.proc.pid;
        measure_latency(r, n, n < 200 ? n : 200, lend_round, &l, pids, 2);
        xns_server_stop(&s);
        xous_buf_free(l.buf);
}

/* --- clients_N ---------------------------------------------------------- */

struct client_slot {
        _Atomic uint64_t ops;
        char pad[56];
};

struct clients_shm {
        _Atomic uint32_t ready, stop;
        char pad[56];
        struct client_slot slot[];
};

static _Noreturn void client_main(struct clients_shm *shm, uint32_t k, const char *server, int go) {
        xous_cid_t cid;
        xous_error_t e;
        char c;

        e = xous_request_connection_blocking(server, &cid);
        if (e != XOUS_OK)
                bench_fail("client %u: connect: %s", k, xous_strerror(e));
        atomic_fetch_add(&shm->ready, 1);
        if (read(go, &c, 1) != 0)       /* EOF: the benchmark closed its end */
                _exit(1);
        close(go);
        for (uint32_t i = k << 20; !atomic_load_explicit(&shm->stop, memory_order_relaxed); i++) {
                xous_scalar_reply_t reply = { 0 };

                e = xous_blocking_scalar(cid, OP_ADD, i, 0, 0, 0, &reply);
                if (e != XOUS_OK)
                        bench_fail("client %u: blocking_scalar: %s", k, xous_strerror(e));
                if (reply.count != 1 || reply.v[0] != i + 1)
                        bench_fail("client %u: blocking_scalar(%u) answered %u, want %u", k, i, reply.v[0], i + 1);
                atomic_fetch_add_explicit(&shm->slot[k].ops, 1, memory_order_relaxed);
        }
        _exit(0);
}

static uint64_t clients_ops(struct clients_shm *shm, uint32_t n, uint64_t *min) {
        uint64_t sum = 0;

        for (uint32_t k = 0; k < n; k++) {
                uint64_t v = atomic_load_explicit(&shm->slot[k].ops, memory_order_relaxed);

                sum += v;
                if (min)
                        min[k] = v;
        }
        return sum;
}

/* Fails if a client died; the others are still running. */
static void clients_check_alive(const pid_t *pids, uint32_t n) {
        for (uint32_t k = 0; k < n; k++) {
                int status;

                if (waitpid(pids[k], &status, WNOHANG) == pids[k]) {
                        char how[96];

                        describe_status(how, sizeof(how), status);
                        bench_fail("client %u %s", k, how);
                }
        }
}

static uint32_t clients_fork(struct clients_shm *shm, uint32_t want, const char *server, int go[2],
                             pid_t *pids, struct result *r) {
        uint32_t n = 0;

        for (; n < want; n++) {
                pid_t pid = bench_fork(&go[0], 1);

                if (pid == 0)
                        client_main(shm, n, server, go[0]);
                if (pid < 0) {
                        snprintf(r->note, sizeof(r->note), "only %u of %u client processes (fork: %s)", n, want,
                                 strerror((int)-pid));
                        fprintf(stderr, "xnsbench: %s: %s\n", r->name, r->note);
                        break;
                }
                pids[n] = pid;
                if (n % 64 == 0)
                        progress();
        }
        if (n == 0)
                bench_fail("cannot fork a single client");
        return n;
}

static void clients_wait_ready(struct clients_shm *shm, const pid_t *pids, uint32_t n) {
        int64_t deadline = now_ns() + (int64_t)CHILD_WAIT_MS * 1000000;

        while (atomic_load(&shm->ready) < n) {
                if (now_ns() > deadline)
                        bench_fail("only %u of %u clients connected within %d s", atomic_load(&shm->ready), n,
                                   CHILD_WAIT_MS / 1000);
                clients_check_alive(pids, n);
                sleep_ms(5);
        }
        progress();
}

static void clients_stop(struct clients_shm *shm, const pid_t *pids, uint32_t n) {
        atomic_store(&shm->stop, 1);
        for (uint32_t k = 0; k < n; k++) {
                char how[96];
                bool in_time;
                int status = bench_reap(pids[k], CHILD_WAIT_MS, &in_time);

                if (!in_time)
                        bench_fail("client %u did not stop within %d s", k, CHILD_WAIT_MS / 1000);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        describe_status(how, sizeof(how), status);
                        bench_fail("client %u %s", k, how);
                }
                if (k % 64 == 0)
                        progress();
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

/* xnsd inherits our descriptor limit and needs one per client. */
static uint32_t clients_fd_cap(uint32_t want, struct result *r) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want + 64)
                return want;
        snprintf(r->note, sizeof(r->note), "only %u of %u clients: xnsd may open %llu descriptors",
                 (unsigned)(rl.rlim_cur - 64), want, (unsigned long long)rl.rlim_cur);
        fprintf(stderr, "xnsbench: %s: %s\n", r->name, r->note);
        return (uint32_t)(rl.rlim_cur - 64);
}

void case_clients(struct result *r, long clients) {
        uint32_t want = clients_fd_cap((uint32_t)clients, r), n;
        size_t shm_len = sizeof(struct clients_shm) + want * sizeof(struct client_slot);
        struct clients_shm *shm;
        struct xns_server s;
        uint64_t c0, c1, *before, *after;
        int64_t t0, t1;
        long rss0, rss1;
        pid_t *pids;
        int go[2];

        pids = calloc(want, sizeof(*pids));
        before = calloc(want, sizeof(*before));
        after = calloc(want, sizeof(*after));
        shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (!pids || !before || !after || shm == MAP_FAILED)
                bench_fail("out of memory");
        if (pipe2(go, O_CLOEXEC) < 0)
                bench_fail("pipe: %s", strerror(errno));

        xns_server_start(&s, r->name, false, 0, 0);
        n = clients_fork(shm, want, s.arg.name, go, pids, r);
        close(go[0]);
        clients_wait_ready(shm, pids, n);
        rss0 = rss_kb(xnsd_pid());

        close(go[1]);                   /* go */
        wait_ms(opt.duration_ms / 5 > 50 ? opt.duration_ms / 5 : 50);
        clients_check_alive(pids, n);
        t0 = now_ns();
        c0 = clients_ops(shm, n, before);
        wait_ms(opt.duration_ms);
        c1 = clients_ops(shm, n, after);
        t1 = now_ns();
        rss1 = rss_kb(xnsd_pid());
        progress();
        clients_check_alive(pids, n);
        clients_stop(shm, pids, n);
        xns_server_stop(&s);

        for (uint32_t k = 0; k < n; k++)
                after[k] -= before[k];
        qsort(after, n, sizeof(*after), cmp_u64);
        r->n = c1 - c0;
        r->clients = n;
        r->ops_per_s = (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
        r->min_client_ops = (double)after[0];
        r->daemon_rss_kb = (double)(rss0 > rss1 ? rss0 : rss1);
        if (c1 == c0)
                bench_fail("no round trip completed in %u ms", opt.duration_ms);
        munmap(shm, shm_len);
        free(pids);
        free(before);
        free(after);
}
