/* test-kept.c: buffers lent again and again, kept by number in xnsd and in
 * the server: every lend still shows the caller's bytes of the moment, a
 * Borrow stays read-only, a dropped envelope's pointer still faults, and
 * what is kept stays bounded, through eviction, freeing, thread pools,
 * fork, a daemon restart and hostile links. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "memfd.h"
#include "wire.h"

#define NAME "kept"
#define BUF_MEMFD "/memfd:xous-buf"     /* how /proc names a buffer's memfd */
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

/* --- the server -----------------------------------------------------------
 * A message's opcode says what the server does (its low byte) and which
 * pattern the caller's buffer holds (the rest): MSG(op, seed). */
enum {
        OP_CHECK = 1,           /* memory: must hold the pattern; a MutableBorrow gets
                                 * pattern seed + 1 and offset, valid + 1 back */
        OP_KEEP_POINTER,        /* as OP_CHECK, and the data pointer is kept past the drop */
        OP_WRITE,               /* Borrow: the server writes to it (must fault) */
        OP_READ_STALE,          /* Scalar: a read through the kept pointer (must fault) */
        OP_WRITE_STALE,         /* Scalar: a write through it (must fault) */
        OP_STATUS,              /* BlockingScalar: buffer memfds held, lends seen, lends wrong */
        OP_QUIT,                /* BlockingScalar: answered, then the server exits */
};
#define MSG(op, seed) ((uint32_t)(op) | (uint32_t)(seed) << 8)
#define MSG_OP(id) ((id) & 0xffu)
#define MSG_SEED(id) ((id) >> 8)

static struct {
        unsigned baseline;      /* buffer memfds the process held before any message */
        uint32_t seen, wrong;   /* memory messages, and those without the caller's bytes */
        volatile char *stale;   /* a data pointer kept past its envelope's drop */
} served;

/* Descriptors of lent buffers (memfds named as the library names them) that process pid holds. */
static unsigned buf_fds(pid_t pid) {
        return proc_fds(pid, BUF_MEMFD);
}

/* Whether env's memory holds the pattern its opcode names. */
static bool holds_callers_bytes(xous_envelope_t *env) {
        const void *data = xous_envelope_buf(env);

        return data && check_pattern(data, xous_envelope_buf_len(env), MSG_SEED(xous_envelope_id(env)));
}

static void serve_memory(xous_envelope_t *env) {
        uint32_t seed = MSG_SEED(xous_envelope_id(env));

        served.seen++;
        if (!holds_callers_bytes(env)) {
                served.wrong++;
                return;
        }
        if (xous_envelope_kind(env) == XOUS_MSG_MUTABLE_BORROW) {
                fill_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env), seed + 1);
                xous_envelope_set_offset_valid(env, xous_envelope_offset(env) + 1, xous_envelope_valid(env) + 1);
        }
}

/* Where a read that must fault puts its byte: a load whose value nobody
 * uses, valgrind's translator leaves out, and nothing would fault. */
static volatile char touched;

/* Touches p, which must fault: SIGSEGV kills the process (SIG_DFL, or
 * ASan's handler would report it and exit 1). */
static _Noreturn void touch_must_fault(volatile char *p, bool write, const char *what) {
        EXPECT_MSG(p, "%s: no pointer", what);
        EXPECT(signal(SIGSEGV, SIG_DFL) != SIG_ERR);
        if (write)
                p[100] = 0x55;
        else
                touched = p[100];
        harness_fail_at(__FILE__, __LINE__, "%s did not fault", what);
}

static void answer_status(xous_envelope_t *env) {
        const uint32_t v[5] = { buf_fds(getpid()) - served.baseline, served.seen, served.wrong };

        EXPECT_OK(xous_return_scalar5(env, v));
}

/* Does what env asks, and drops it; false once told to quit. */
static bool serve_one(xous_envelope_t *env) {
        uint32_t op = MSG_OP(xous_envelope_id(env));

        switch (op) {
        case OP_CHECK:
        case OP_KEEP_POINTER:
                serve_memory(env);
                if (op == OP_KEEP_POINTER)
                        served.stale = xous_envelope_buf(env);
                break;
        case OP_WRITE:
                touch_must_fault(xous_envelope_buf(env), true, "a write to a Borrow");
        case OP_READ_STALE:
        case OP_WRITE_STALE:
                touch_must_fault(served.stale, op == OP_WRITE_STALE, "a dropped envelope's pointer");
        case OP_STATUS:
                answer_status(env);
                break;
        case OP_QUIT:
                EXPECT_OK(xous_return_scalar(env, 0));
                break;
        }
        xous_envelope_drop(env);
        return op != OP_QUIT;
}

/* Serves sid until told to quit (XOUS_OK) or a receive fails (its error). */
static xous_error_t kept_serve(xous_sid_t sid) {
        for (;;) {
                xous_envelope_t *env = NULL;
                xous_error_t e = xous_receive_message(sid, &env);

                if (e != XOUS_OK)
                        return e;
                if (!serve_one(env))
                        return XOUS_OK;
        }
}

/* The buffer memfds the server holds from now on count: not those of the test, inherited. */
static void served_start(void) {
        served.baseline = buf_fds(getpid());
}

static xous_sid_t register_and_report(const char *name) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name(name, 0, &sid));
        parent_send_sid(sid);
        return sid;
}

static void kept_server(void *name) {
        served_start();
        EXPECT_OK(kept_serve(register_and_report(name)));
}

/* Starts kept_server under name in a child and connects to it. */
static xous_cid_t start_server(struct proc *p, const char *name) {
        proc_start(p, "server", kept_server, (void *)name);
        proc_recv_sid(p);
        return connect_name(name);
}

struct status {
        uint32_t fds, seen, wrong;
};

static struct status server_status(xous_cid_t cid) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, MSG(OP_STATUS, 0), 0, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 5);
        return (struct status){ r.v[0], r.v[1], r.v[2] };
}

/* The server saw n lends, each with the caller's bytes. */
static struct status expect_seen(xous_cid_t cid, uint32_t n) {
        struct status s = server_status(cid);

        EXPECT_MSG(s.seen == n && s.wrong == 0, "the server saw %u lends (want %u), %u without the caller's bytes",
                   s.seen, n, s.wrong);
        return s;
}

static void stop_server(struct proc *p, xous_cid_t cid) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, MSG(OP_QUIT, 0), 0, 0, 0, 0, &r));
        proc_wait_exit(p, 0);
}

/* --- the caller ----------------------------------------------------------- */

static xous_buf_t *new_buf(size_t len) {
        xous_buf_t *buf = xous_buf_new(len);

        EXPECT_MSG(buf, "xous_buf_new(%zu): %s", len, strerror(errno));
        return buf;
}

/*
 * Fills buf with the pattern seed and lends it as kind for op (OP_CHECK,
 * OP_KEEP_POINTER): a Borrow comes back unchanged, a MutableBorrow with the
 * server's pattern and offset/valid.
 */
static void lend_for(xous_cid_t cid, xous_msg_kind_t kind, uint32_t op, xous_buf_t *buf, uint32_t seed) {
        size_t len = xous_buf_len(buf);
        uint32_t offset = seed % 97, valid = seed % 89;

        fill_pattern(xous_buf_data(buf), len, seed);
        if (kind == XOUS_MSG_BORROW) {
                EXPECT_OK(xous_lend(cid, MSG(op, seed), buf, offset, valid));
                EXPECT_MSG(check_pattern(xous_buf_data(buf), len, seed), "lend %u: a Borrow changed the caller's bytes",
                           seed);
                return;
        }
        EXPECT_OK(xous_lend_mut(cid, MSG(op, seed), buf, &offset, &valid));
        EXPECT_MSG(check_pattern(xous_buf_data(buf), len, seed + 1),
                   "lend %u: the server's writes are not the caller's (or it did not see the caller's bytes)", seed);
        EXPECT_EQ(offset, seed % 97 + 1);
        EXPECT_EQ(valid, seed % 89 + 1);
}

static void lend_ok(xous_cid_t cid, xous_msg_kind_t kind, xous_buf_t *buf, uint32_t seed) {
        lend_for(cid, kind, OP_CHECK, buf, seed);
}

static xous_msg_kind_t kind_by_turns(uint32_t i) {
        return i % 2 ? XOUS_MSG_MUTABLE_BORROW : XOUS_MSG_BORROW;
}

/* Waits (bounded) until xnsd holds n buffer memfds. */
static void wait_xnsd_buf_fds(unsigned n) {
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;

        while (buf_fds(harness_daemon_pid()) != n) {
                EXPECT_MSG(now_ms() < deadline, "xnsd holds %u buffer memfds, want %u",
                           buf_fds(harness_daemon_pid()), n);
                sleep_ms(5);
        }
}

/* --- one buffer, lent again and again ------------------------------------- */

#define REPEAT 50

/* Lent by turns as a Borrow and a MutableBorrow, refilled before each lend:
 * the server sees the caller's bytes of the moment every time, its writes
 * and offset/valid come back, a Borrow comes back as it went. Kept: one
 * memfd for each way it is lent, in the server and in xnsd. */
START_TEST(repeated_lends_see_current_bytes) {
        struct proc server;
        xous_cid_t cid = start_server(&server, NAME);
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(3 * PAGE);

        for (uint32_t i = 0; i < REPEAT; i++)
                lend_ok(cid, kind_by_turns(i), buf, 100 + i);
        EXPECT_EQ(expect_seen(cid, REPEAT).fds, 2);
        EXPECT_EQ(buf_fds(harness_daemon_pid()), 2);
        stop_server(&server, cid);
}
END_TEST

/* Lends a new buffer as each of before[0..n) then as a Borrow the server
 * writes to: the write kills it, and the caller's bytes stay as they were. */
static void expect_borrow_write_faults(const char *name, const xous_msg_kind_t *before, uint32_t n) {
        struct proc server;
        xous_cid_t cid = start_server(&server, name);
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(PAGE);

        for (uint32_t i = 0; i < n; i++)
                lend_ok(cid, before[i], buf, 10 + i);
        fill_pattern(xous_buf_data(buf), PAGE, 0xd00d);
        EXPECT_ERR(xous_lend(cid, MSG(OP_WRITE, 0xd00d), buf, 0, PAGE), XOUS_ERR_SERVER_NOT_FOUND);
        proc_wait_signal(&server, SIGSEGV);
        EXPECT_MSG(check_pattern(xous_buf_data(buf), PAGE, 0xd00d), "the caller's buffer changed");
}

/* A Borrow of a buffer the server keeps from earlier lends (as a Borrow,
 * or writable as a MutableBorrow) is still read-only to it. */
START_TEST(borrow_read_only_when_lent_again) {
        static const xous_msg_kind_t borrow[] = { XOUS_MSG_BORROW, XOUS_MSG_BORROW };
        static const xous_msg_kind_t mutable[] = { XOUS_MSG_MUTABLE_BORROW, XOUS_MSG_BORROW };

        expect_borrow_write_faults(NAME ".2nd", borrow, 1);
        expect_borrow_write_faults(NAME ".3rd", borrow, 2);
        expect_borrow_write_faults(NAME ".mut", mutable, 2);
}
END_TEST

/* Lends a buffer as a MutableBorrow: once, once more with the server
 * keeping its data pointer, then `later` times; then the server touches the
 * pointer, which must kill it. The caller's bytes stay the server's last. */
static void expect_stale_pointer_faults(const char *name, uint32_t later, uint32_t touch_op) {
        struct proc server;
        xous_cid_t cid = start_server(&server, name);
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(2 * PAGE);
        uint32_t seed = 20;

        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, seed++);
        lend_for(cid, XOUS_MSG_MUTABLE_BORROW, OP_KEEP_POINTER, buf, seed++);
        for (uint32_t i = 0; i < later; i++)
                lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, seed++);
        EXPECT_OK(xous_send_scalar(cid, MSG(touch_op, 0), 0, 0, 0, 0));
        proc_wait_signal(&server, SIGSEGV);
        EXPECT_MSG(check_pattern(xous_buf_data(buf), 2 * PAGE, seed), "the caller's buffer changed after the lends");
}

/* A pointer into a dropped envelope of a kept buffer faults, read or
 * written, also after a later envelope of the same buffer was dropped. */
START_TEST(stale_pointer_faults) {
        expect_stale_pointer_faults(NAME ".read", 0, OP_READ_STALE);
        expect_stale_pointer_faults(NAME ".write", 0, OP_WRITE_STALE);
        expect_stale_pointer_faults(NAME ".read-later", 1, OP_READ_STALE);
        expect_stale_pointer_faults(NAME ".write-later", 2, OP_WRITE_STALE);
}
END_TEST

/* --- many buffers ----------------------------------------------------------- */

#define MANY 20                         /* more than XNS_BUFS_MAX */
#define MANY_ROUNDS 3

/* Lends MANY buffers, each as a Borrow or a MutableBorrow by turns, round
 * after round, to NAME. */
static void lend_many(void *arg) {
        uint32_t seed = (uint32_t)(uintptr_t)arg;
        xous_cid_t cid = connect_name(NAME);
        xous_buf_t *bufs[MANY];

        for (uint32_t i = 0; i < MANY; i++)
                bufs[i] = new_buf((1 + i % 3) * PAGE);
        for (uint32_t round = 0; round < MANY_ROUNDS; round++)
                for (uint32_t i = 0; i < MANY; i++)
                        lend_ok(cid, kind_by_turns(i + round), bufs[i], seed++);
        for (uint32_t i = 0; i < MANY; i++)
                xous_buf_free(bufs[i]);
}

/* Two processes lend 20 buffers each, round after round: more than a lender
 * may keep (some go by memfd) and more than a server keeps (it lets the
 * oldest go). The server sees the caller's bytes every time, and holds no
 * more than XNS_BUFS_MAX of their memfds. */
START_TEST(more_buffers_than_kept) {
        struct proc server, other;
        xous_cid_t cid = start_server(&server, NAME);
        struct status s;

        proc_start(&other, "second lender", lend_many, (void *)(uintptr_t)5000);
        lend_many((void *)(uintptr_t)1000);
        proc_wait_exit(&other, 0);
        s = expect_seen(cid, 2 * MANY * MANY_ROUNDS);
        EXPECT_MSG(s.fds <= XNS_BUFS_MAX, "the server holds %u memfds of lent buffers, want at most %u", s.fds,
                   XNS_BUFS_MAX);
        stop_server(&server, cid);
}
END_TEST

/* --- freeing ---------------------------------------------------------------- */

#define FREE_LOOPS 100

/* A freed buffer leaves the server at its next delivery of a kept buffer,
 * and xnsd with it: buffers made, lent and freed in a loop do not pile up. */
START_TEST(freed_buffers_let_go) {
        struct proc server;
        xous_cid_t cid = start_server(&server, NAME);
        xous_buf_t *first = new_buf(PAGE), *second = new_buf(PAGE);

        lend_ok(cid, XOUS_MSG_BORROW, first, 1);
        EXPECT_EQ(server_status(cid).fds, 1);
        xous_buf_free(first);
        lend_ok(cid, XOUS_MSG_BORROW, second, 2);
        EXPECT_MSG(server_status(cid).fds == 1, "the server holds %u memfds: the freed buffer's is still there",
                   server_status(cid).fds);

        for (uint32_t i = 0; i < FREE_LOOPS; i++) {
                xous_buf_t *buf = new_buf(PAGE);

                lend_ok(cid, XOUS_MSG_BORROW, buf, 10 + 2 * i);
                lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 11 + 2 * i);
                xous_buf_free(buf);
        }
        /* second, and the last buffer's two that no delivery has named since its free. */
        EXPECT_MSG(expect_seen(cid, 2 + 2 * FREE_LOOPS).fds <= 3, "the server holds %u memfds of lent buffers",
                   server_status(cid).fds);
        EXPECT_MSG(buf_fds(harness_daemon_pid()) <= 3, "xnsd holds %u memfds of lent buffers",
                   buf_fds(harness_daemon_pid()));
        stop_server(&server, cid);
        xous_buf_free(second);
        wait_xnsd_buf_fds(0);
}
END_TEST

/* A lender that exits lends no more: the server's next delivery lets its
 * buffers go, as if it had freed them, and xnsd lets them go too. */
static void lend_once(void *arg) {
        xous_cid_t cid = connect_name(NAME);
        xous_buf_t *buf = new_buf(16 * PAGE);

        (void)arg;
        lend_ok(cid, XOUS_MSG_BORROW, buf, 1);  /* not freed: the process ends */
}

START_TEST(exited_lender_let_go) {
        struct proc server, lender;
        xous_cid_t cid = start_server(&server, NAME);
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(PAGE);

        proc_start(&lender, "short-lived lender", lend_once, NULL);
        proc_wait_exit(&lender, 0);
        harness_wait_peer_gone(lender.pid);
        lend_ok(cid, XOUS_MSG_BORROW, buf, 2);
        EXPECT_MSG(expect_seen(cid, 2).fds == 1, "the server holds %u memfds: the exited lender's is still there",
                   server_status(cid).fds);
        EXPECT_MSG(buf_fds(harness_daemon_pid()) == 1, "xnsd holds %u memfds: the exited lender's is still there",
                   buf_fds(harness_daemon_pid()));
        stop_server(&server, cid);
}
END_TEST

/* --- a thread pool -------------------------------------------------------- */

#define POOL_TOUCH 2u                   /* instead of a round: read the last pointer dropped */

/* Two threads receive on one server; each holds what it received until the
 * coordinator (the process's main thread) says drop. */
struct pool {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        xous_sid_t sid;
        xous_envelope_t *held[2];       /* in the order received; NULL once dropped */
        unsigned n_received;            /* this round */
        bool drop[2];
};

static void *pool_worker(void *arg) {
        struct pool *p = arg;

        for (;;) {
                xous_envelope_t *env = NULL;
                unsigned i;

                EXPECT_OK(xous_receive_message(p->sid, &env));
                pthread_mutex_lock(&p->lock);
                i = p->n_received++;
                EXPECT(i < 2);
                p->held[i] = env;
                pthread_cond_broadcast(&p->cond);
                while (!p->drop[i])
                        pthread_cond_wait(&p->cond, &p->lock);
                pthread_mutex_unlock(&p->lock);
                xous_envelope_drop(env);
                pthread_mutex_lock(&p->lock);
                p->held[i] = NULL;
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->lock);
        }
        return NULL;
}

/* The envelope received i-th this round, once a worker holds it. */
static xous_envelope_t *pool_received(struct pool *p, unsigned i) {
        xous_envelope_t *env;

        pthread_mutex_lock(&p->lock);
        while (p->n_received <= i)
                pthread_cond_wait(&p->cond, &p->lock);
        env = p->held[i];
        pthread_mutex_unlock(&p->lock);
        return env;
}

/* Has the worker holding envelope i drop it; returns once it has. */
static void pool_drop(struct pool *p, unsigned i) {
        pthread_mutex_lock(&p->lock);
        p->drop[i] = true;
        pthread_cond_broadcast(&p->cond);
        while (p->held[i])
                pthread_cond_wait(&p->cond, &p->lock);
        pthread_mutex_unlock(&p->lock);
}

static void pool_next_round(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        p->n_received = 0;
        p->drop[0] = p->drop[1] = false;
        pthread_mutex_unlock(&p->lock);
}

/*
 * Each round (the word from the test: which envelope goes first): says
 * whether each of the two envelopes holds its caller's bytes as it comes,
 * drops that one, says whether the other still does, drops it, says the
 * round is over. On POOL_TOUCH, reads through the last envelope's pointer.
 */
static void pool_server(void *arg) {
        static struct pool p = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        volatile char *last = NULL;
        pthread_t workers[2];
        uint32_t first;

        (void)arg;
        EXPECT_OK(xous_register_name(NAME, 0, &p.sid));
        for (int i = 0; i < 2; i++)
                thread_start(&workers[i], pool_worker, &p);
        parent_send_sid(p.sid);
        while ((first = parent_recv_u32()) != POOL_TOUCH) {
                xous_envelope_t *other;

                parent_send_u32(holds_callers_bytes(pool_received(&p, 0)));
                parent_send_u32(holds_callers_bytes(pool_received(&p, 1)));
                other = p.held[!first];
                pool_drop(&p, first);
                parent_send_u32(holds_callers_bytes(other));
                last = xous_envelope_buf(other);
                pool_drop(&p, !first);
                pool_next_round(&p);
                parent_send_u32(1);
        }
        touch_must_fault(last, false, "a pointer of a pool's dropped envelope");
}

/* One Borrow, lent from a thread of its own. */
struct lend_job {
        pthread_t thread;
        xous_cid_t cid;
        xous_buf_t *buf;
        uint32_t seed;
        xous_error_t result;
};

static void *lend_job_run(void *arg) {
        struct lend_job *j = arg;

        j->result = xous_lend(j->cid, MSG(OP_CHECK, j->seed), j->buf, 0, 0);
        return NULL;
}

/* Lends buf (filled with the pattern seed already) from a new thread. */
static void lend_job_start(struct lend_job *j, xous_cid_t cid, xous_buf_t *buf, uint32_t seed) {
        *j = (struct lend_job){ .cid = cid, .buf = buf, .seed = seed };
        thread_start(&j->thread, lend_job_run, j);
}

static void lend_job_end(struct lend_job *j) {
        thread_join(j->thread, HARNESS_WAIT_MS);
        EXPECT_OK(j->result);
        EXPECT_MSG(check_pattern(xous_buf_data(j->buf), xous_buf_len(j->buf), j->seed),
                   "a Borrow changed the caller's bytes");
}

/* One round: a's lend held, then b's too; the one named first dropped. */
static void pool_round(struct proc *server, xous_cid_t cid, xous_buf_t *a, xous_buf_t *b, uint32_t first) {
        struct lend_job ja, jb;
        uint32_t seed_b = a == b ? 1 : 2;

        fill_pattern(xous_buf_data(a), xous_buf_len(a), 1);
        if (b != a)
                fill_pattern(xous_buf_data(b), xous_buf_len(b), 2);
        proc_send_u32(server, first);
        lend_job_start(&ja, cid, a, 1);
        EXPECT_MSG(proc_recv_u32(server), "the first envelope does not hold its caller's bytes");
        lend_job_start(&jb, cid, b, seed_b);
        EXPECT_MSG(proc_recv_u32(server), "the second envelope does not hold its caller's bytes");
        EXPECT_MSG(proc_recv_u32(server), "an envelope lost its caller's bytes when the other was dropped");
        lend_job_end(&ja);
        lend_job_end(&jb);
        EXPECT_EQ(proc_recv_u32(server), 1);    /* ready for the next round */
}

/* Two threads of a server each hold a lent buffer at once, the same one or
 * two, from two threads of a caller; dropped in either order, the other
 * still reads its caller's bytes; after both, a stale pointer faults. */
START_TEST(pool_holds_kept_buffers_together) {
        struct proc server;
        xous_cid_t cid;
        XOUS_BUF_AUTO xous_buf_t *x = new_buf(2 * PAGE);
        XOUS_BUF_AUTO xous_buf_t *y = new_buf(PAGE);

        proc_start(&server, "pool", pool_server, NULL);
        proc_recv_sid(&server);
        cid = connect_name(NAME);
        pool_round(&server, cid, x, x, 0);
        pool_round(&server, cid, x, x, 1);
        pool_round(&server, cid, x, y, 0);
        pool_round(&server, cid, y, x, 1);
        proc_send_u32(&server, POOL_TOUCH);
        proc_wait_signal(&server, SIGSEGV);
}
END_TEST

/* --- two servers of one process --------------------------------------------- */

/* Thread 0 receives on NAME ".one", thread 1 on NAME ".two". Thread 0 can be
 * held up in a signal handler while it waits for its message. */
static struct {
        xous_sid_t sid[2];
        pthread_t thread[2];
        int stalled[2], release[2];     /* pipes: the handler says it runs, then waits for the word */
} pair;

static void stall_handler(int sig) {
        char c = 0;

        (void)sig;
        if (write(pair.stalled[1], &c, 1) != 1 || read(pair.release[0], &c, 1) != 1)
                _exit(3);
}

/* Receives one message and tells the test { the receive's error, whether it holds the caller's bytes }. */
static void *pair_receive(void *arg) {
        const xous_sid_t *sid = arg;
        xous_envelope_t *env = NULL;
        uint32_t r[2];

        r[0] = xous_receive_message(*sid, &env);
        r[1] = r[0] == XOUS_OK && holds_callers_bytes(env);
        parent_send(r, sizeof(r));
        xous_envelope_drop(env);
        return NULL;
}

static void two_servers(void *arg) {
        struct sigaction sa = { .sa_handler = stall_handler, .sa_flags = SA_RESTART };
        char c = 0;

        (void)arg;
        EXPECT(pipe2(pair.stalled, O_CLOEXEC) == 0 && pipe2(pair.release, O_CLOEXEC) == 0);
        EXPECT(sigaction(SIGUSR1, &sa, NULL) == 0);
        EXPECT_OK(xous_register_name(NAME ".one", 0, &pair.sid[0]));
        EXPECT_OK(xous_register_name(NAME ".two", 0, &pair.sid[1]));
        for (int i = 0; i < 2; i++)
                thread_start(&pair.thread[i], pair_receive, &pair.sid[i]);
        parent_recv_u32();              /* both wait in xnsd */
        EXPECT(pthread_kill(pair.thread[0], SIGUSR1) == 0);
        EXPECT(read(pair.stalled[0], &c, 1) == 1);
        parent_send_u32(1);
        parent_recv_u32();
        EXPECT(write(pair.release[1], &c, 1) == 1);
        for (int i = 0; i < 2; i++)
                thread_join(pair.thread[i], HARNESS_WAIT_MS);
}

/*
 * A process with two servers, one thread each, is lent the same buffer by
 * two threads of a caller: xnsd passes its memfd with the first delivery,
 * to one thread, and names it only in the second, to the other. The second
 * is served even while the first thread has not yet taken its delivery in
 * (held up here in a signal handler; a preempted thread is the same).
 */
START_TEST(two_servers_share_a_kept_buffer) {
        struct proc server;
        struct lend_job one, two;
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(PAGE);
        xous_cid_t cid_one, cid_two;
        uint32_t r[2];

        proc_start(&server, "two servers", two_servers, NULL);
        cid_one = connect_name(NAME ".one");
        cid_two = connect_name(NAME ".two");
        harness_wait_name(NAME ".one", 0, 0, 1);
        harness_wait_name(NAME ".two", 0, 0, 1);
        proc_send_u32(&server, 1);
        EXPECT_EQ(proc_recv_u32(&server), 1);   /* thread one is held up */
        fill_pattern(xous_buf_data(buf), PAGE, 7);
        lend_job_start(&one, cid_one, buf, 7);
        harness_wait_name(NAME ".one", 1, 0, 0);        /* delivered, memfd and all */
        lend_job_start(&two, cid_two, buf, 7);
        proc_recv(&server, r, sizeof(r));               /* thread two's */
        EXPECT_ERR(r[0], XOUS_OK);
        EXPECT_MSG(r[1], "server two does not see the caller's bytes");
        proc_send_u32(&server, 1);
        proc_recv(&server, r, sizeof(r));               /* thread one's */
        EXPECT_ERR(r[0], XOUS_OK);
        EXPECT_MSG(r[1], "server one does not see the caller's bytes");
        lend_job_end(&one);
        lend_job_end(&two);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- fork and restart -------------------------------------------------------- */

/* A forked child: lends the buffer it inherited (kept by its parent), then frees its copy. */
static void lend_inherited(void *arg) {
        xous_buf_t *buf = arg;
        xous_cid_t cid = connect_name(NAME);

        lend_ok(cid, XOUS_MSG_BORROW, buf, 3);
        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 4);
        parent_send_u32(1);
        parent_recv_u32();
        lend_ok(cid, XOUS_MSG_BORROW, buf, 7);
        xous_buf_free(buf);
}

/* A process lends a buffer (kept), forks: the child, a new session, lends
 * the buffer it inherited; the parent's lends go on working, between the
 * child's and after it freed its copy and left. */
START_TEST(forked_child_lends_inherited_buffer) {
        struct proc server, child;
        xous_cid_t cid = start_server(&server, NAME);
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(2 * PAGE);

        lend_ok(cid, XOUS_MSG_BORROW, buf, 1);
        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 2);
        proc_start(&child, "child lender", lend_inherited, buf);
        EXPECT_EQ(proc_recv_u32(&child), 1);
        lend_ok(cid, XOUS_MSG_BORROW, buf, 5);
        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 6);
        proc_send_u32(&child, 1);
        proc_wait_exit(&child, 0);
        lend_ok(cid, XOUS_MSG_BORROW, buf, 8);
        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 9);
        expect_seen(cid, 9);
        stop_server(&server, cid);
}
END_TEST

/* Serves NAME; when xnsd goes away, tells the test why, and on the word
 * serves again under the same name. */
static void kept_server_across_restart(void *arg) {
        xous_error_t e;

        (void)arg;
        served_start();
        e = kept_serve(register_and_report(NAME));
        parent_send_u32(e);
        parent_recv_u32();
        EXPECT_OK(kept_serve(register_and_report(NAME)));
}

/* After xnsd restarts, the numbers of the old one mean nothing: the caller
 * keeps its buffer again, the server is given it again, and lets the old
 * copies go. */
START_TEST(daemon_restart_keeps_again) {
        struct proc server;
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(2 * PAGE);
        xous_cid_t cid;

        proc_start(&server, "server", kept_server_across_restart, NULL);
        proc_recv_sid(&server);
        cid = connect_name(NAME);
        lend_ok(cid, XOUS_MSG_BORROW, buf, 1);
        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 2);
        harness_daemon_kill(SIGKILL);
        EXPECT_ERR(proc_recv_u32(&server), XOUS_ERR_UNAVAILABLE);
        EXPECT_ERR(xous_lend(cid, MSG(OP_CHECK, 3), buf, 0, 0), XOUS_ERR_UNAVAILABLE);     /* by its old number */

        harness_daemon_restart(NULL);
        proc_send_u32(&server, 1);
        proc_recv_sid(&server);
        cid = connect_name(NAME);
        lend_ok(cid, XOUS_MSG_BORROW, buf, 4);
        lend_ok(cid, XOUS_MSG_MUTABLE_BORROW, buf, 5);
        lend_ok(cid, XOUS_MSG_BORROW, buf, 6);
        EXPECT_MSG(expect_seen(cid, 5).fds == 2, "the server holds %u memfds for one buffer lent two ways",
                   server_status(cid).fds);
        stop_server(&server, cid);
}
END_TEST

/* --- forwarding and freeing ------------------------------------------------- */

/* Passes every message to NAME, until told to quit. */
static void forwarder(void *arg) {
        xous_sid_t sid = register_and_report(NAME ".fwd");
        xous_cid_t next = connect_name(NAME);

        (void)arg;
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                if (MSG_OP(xous_envelope_id(env)) == OP_QUIT) {
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        return;
                }
                EXPECT_OK(xous_forward(env, next, xous_envelope_id(env)));
                xous_envelope_drop(env);
        }
}

/* A server passes a buffer it keeps on to another server, lend after lend:
 * that server sees the caller's bytes, and its writes reach the caller. */
START_TEST(forward_of_kept_buffer) {
        struct proc server, fwd;
        xous_cid_t cid = start_server(&server, NAME);
        XOUS_BUF_AUTO xous_buf_t *buf = new_buf(PAGE);
        xous_cid_t via;

        proc_start(&fwd, "forwarder", forwarder, NULL);
        proc_recv_sid(&fwd);
        via = connect_name(NAME ".fwd");
        for (uint32_t i = 0; i < 6; i++)
                lend_ok(via, kind_by_turns(i), buf, 30 + i);
        stop_server(&fwd, via);
        expect_seen(cid, 6);
        stop_server(&server, cid);
}
END_TEST

/* Stops xnsd and waits until the kernel shows it stopped. */
static void xnsd_freeze(void) {
        char path[64], stat[256], *state;
        uint64_t deadline = now_ms() + HARNESS_WAIT_MS;

        EXPECT(kill(harness_daemon_pid(), SIGSTOP) == 0);
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)harness_daemon_pid());
        for (;;) {
                FILE *f = fopen(path, "re");

                EXPECT_MSG(f && fgets(stat, sizeof(stat), f), "%s: %s", path, strerror(errno));
                fclose(f);
                state = strrchr(stat, ')');
                if (state && state[1] == ' ' && state[2] == 'T')
                        return;
                EXPECT_MSG(now_ms() < deadline, "xnsd not stopped %d ms after SIGSTOP", HARNESS_WAIT_MS);
                sleep_ms(1);
        }
}

static void *free_buf_job(void *arg) {
        xous_buf_free(arg);
        return NULL;
}

/* Whether thread t ends within ms. */
static bool thread_ends_within(pthread_t t, int ms) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long)(ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

#define FREE_MS 2000

/* Freeing a buffer (kept by xnsd) does not wait for xnsd, from any thread,
 * even one that never spoke to it (here while xnsd is stopped). */
START_TEST(free_does_not_wait_for_xnsd) {
        struct proc server;
        xous_cid_t cid = start_server(&server, NAME);
        xous_buf_t *buf = new_buf(PAGE);
        pthread_t t;
        bool ended;

        lend_ok(cid, XOUS_MSG_BORROW, buf, 1);
        xnsd_freeze();
        thread_start(&t, free_buf_job, buf);
        ended = thread_ends_within(t, FREE_MS);
        EXPECT(kill(harness_daemon_pid(), SIGCONT) == 0);
        if (!ended)
                thread_join(t, HARNESS_WAIT_MS);
        EXPECT_MSG(ended, "xous_buf_free waited %d ms and more for a stopped xnsd", FREE_MS);
        stop_server(&server, cid);
}
END_TEST

/* --- raw links ------------------------------------------------------------- */

static void raw_post(int fd, const struct xns_request *req, int pass_fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_request_encode(req, buf, sizeof(buf));

        EXPECT_MSG(n > 0, "xns_request_encode: %zd", n);
        EXPECT_MSG(xns_frame_send(fd, buf, (size_t)n, pass_fd, false) == 0, "send: %s", strerror(errno));
}

/* xnsd's answer to req on raw link fd, pass_fd beside it unless -1. */
static struct xns_reply raw_call(int fd, struct xns_request req, int pass_fd) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        ssize_t n;
        int rfd = -1;

        req.seq = 7;
        raw_post(fd, &req, pass_fd);
        EXPECT_MSG(poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, HARNESS_WAIT_MS) == 1,
                   "no answer from xnsd within %d ms", HARNESS_WAIT_MS);
        n = xns_frame_recv(fd, buf, sizeof(buf), &rfd, false);
        EXPECT_MSG(n > 0, "xnsd's answer: %s", n == 0 ? "EOF" : strerror((int)-n));
        if (rfd >= 0)
                close(rfd);
        EXPECT_EQ(xns_reply_decode(&reply, buf, (size_t)n), 0);
        EXPECT_EQ(reply.seq, 7);
        return reply;
}

/* A process session of its own, with a CID for NAME. */
static int raw_link(uint32_t *cid) {
        struct xns_request hello = { .op = XNS_OP_HELLO, .hello.version = XNS_PROTOCOL_VERSION };
        struct xns_request conn = { .op = XNS_OP_REQUEST_CONNECTION };
        struct xns_reply reply;
        int fd = raw_connect();

        EXPECT_ERR(raw_call(fd, hello, -1).error, XOUS_OK);
        conn.request_connection.name.len = strlen(NAME);
        strcpy(conn.request_connection.name.str, NAME);
        reply = raw_call(fd, conn, -1);
        EXPECT_ERR(reply.error, XOUS_OK);
        *cid = reply.cid;
        return fd;
}

/* A memfd of len bytes (named as the library names buffers) holding the
 * pattern seed, with seals, opened with mode (O_RDONLY: reopened so). */
static int raw_buf(uint32_t len, uint32_t seed, unsigned seals, int mode) {
        int fd = -1, ro;
        void *p;

        EXPECT_EQ(memfd_new_sealed("xous-buf", NULL, len, seals, &fd), 0);
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        EXPECT(p != MAP_FAILED);
        fill_pattern(p, len, seed);
        munmap(p, len);
        if (mode == O_RDWR)
                return fd;
        ro = memfd_open_read_only(fd);
        EXPECT(ro >= 0);
        close(fd);
        return ro;
}

static bool raw_buf_holds(int fd, uint32_t len, uint32_t seed) {
        void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        bool holds;

        EXPECT(p != MAP_FAILED);
        holds = check_pattern(p, len, seed);
        munmap(p, len);
        return holds;
}

static uint32_t raw_keep(int link, uint32_t no, uint32_t len, uint32_t kind, int memfd) {
        struct xns_request req = { .op = XNS_OP_BUF_KEEP, .buf_keep = { .buf = no, .len = len, .kind = kind } };

        return raw_call(link, req, memfd).error;
}

/* A lend of kind naming kept buffer no (0: none) with memfd beside (-1: none). */
static uint32_t raw_lend(int link, uint32_t cid, uint32_t kind, uint32_t no, uint32_t len, uint32_t seed,
                         int memfd) {
        struct xns_request req = { .op = XNS_OP_SEND };

        req.send = (struct xns_send){ .cid = cid, .kind = kind, .id = MSG(OP_CHECK, seed), .len = len, .valid = len,
                                      .buf = no };
        return raw_call(link, req, memfd).error;
}

static void raw_forget(int link, uint32_t no) {
        struct xns_request req = { .op = XNS_OP_BUF_FORGET, .buf_forget = no };

        raw_post(link, &req, -1);
}

#define RAW_LEN (2 * PAGE)                    /* the raw buffers' length */

/* Keeps xnsd must refuse, each with its error; the link goes on. */
static void expect_keeps_refused(int link, int ro, int rw, int unsealed) {
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_BORROW, rw), XOUS_ERR_SHARE_VIOLATION);
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_MUTABLE_BORROW, ro), XOUS_ERR_SHARE_VIOLATION);
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_MUTABLE_BORROW, unsealed), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_keep(link, 1, 2 * RAW_LEN, XNS_KIND_BORROW, ro), XOUS_ERR_BAD_ADDRESS);
        EXPECT_ERR(raw_keep(link, 1, PAGE / 2, XNS_KIND_BORROW, ro), XOUS_ERR_BAD_ALIGNMENT);
        EXPECT_ERR(raw_keep(link, 1, 0, XNS_KIND_BORROW, ro), XOUS_ERR_BAD_ALIGNMENT);
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_BORROW, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_keep(link, 0, RAW_LEN, XNS_KIND_BORROW, ro), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_MOVE, rw), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_SCALAR, -1), XOUS_ERR_INVALID_ARGUMENT);
}

/* Sends xnsd must refuse, with 1 kept as a Borrow and 2 as a MutableBorrow. */
static void expect_lends_refused(int link, uint32_t cid, int ro) {
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 99, RAW_LEN, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_MUTABLE_BORROW, 1, RAW_LEN, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 2, RAW_LEN, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_MOVE, 2, RAW_LEN, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BLOCKING_SCALAR, 1, 0, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, RAW_LEN, 0, ro), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, RAW_LEN + PAGE, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, 0, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
}

/*
 * A client speaking the protocol itself: a keep of memory that is not safe
 * to lend, a lend naming a buffer it does not keep (or keeps for the other
 * kind, or with a memfd too, or longer than kept) are refused with their
 * errors and reach no server; forgetting numbers never kept does nothing;
 * XNS_BUFS_MAX kept at most. The link goes on working throughout, and
 * xnsd holds nothing of it once it is gone.
 */
START_TEST(hostile_keeps_and_lends_refused) {
        struct proc server;
        xous_cid_t own = start_server(&server, NAME);
        int ro = raw_buf(RAW_LEN, 11, SEALS, O_RDONLY), rw = raw_buf(RAW_LEN, 12, SEALS, O_RDWR);
        int unsealed = raw_buf(RAW_LEN, 0, 0, O_RDWR);
        uint32_t cid;
        int link = raw_link(&cid);

        expect_keeps_refused(link, ro, rw, unsealed);
        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_BORROW, ro), XOUS_OK);
        EXPECT_ERR(raw_keep(link, 2, RAW_LEN, XNS_KIND_MUTABLE_BORROW, rw), XOUS_OK);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, RAW_LEN, 11, -1), XOUS_OK);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_MUTABLE_BORROW, 2, RAW_LEN, 12, -1), XOUS_OK);
        EXPECT_MSG(raw_buf_holds(rw, RAW_LEN, 13), "the server's writes to a kept MutableBorrow did not arrive");
        expect_lends_refused(link, cid, ro);

        raw_forget(link, 12345);
        raw_forget(link, 0);
        raw_forget(link, 1);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, RAW_LEN, 0, -1), XOUS_ERR_INVALID_ARGUMENT);
        for (uint32_t no = 3; no <= XNS_BUFS_MAX + 1; no++)     /* 2 .. 17: XNS_BUFS_MAX kept */
                EXPECT_ERR(raw_keep(link, no, RAW_LEN, XNS_KIND_BORROW, ro), XOUS_OK);
        EXPECT_ERR(raw_keep(link, 100, RAW_LEN, XNS_KIND_BORROW, ro), XOUS_ERR_OUT_OF_MEMORY);
        raw_forget(link, 3);
        EXPECT_ERR(raw_keep(link, 100, RAW_LEN, XNS_KIND_BORROW, ro), XOUS_OK);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 100, RAW_LEN, 11, -1), XOUS_OK);
        expect_seen(own, 3);

        close(link);
        stop_server(&server, own);
        wait_xnsd_buf_fds(0);
        close(unsealed);
        close(rw);
        close(ro);
}
END_TEST

/* A lend of a kept buffer is of the whole of it, as kept: one of a part is
 * refused (the server keeps its mapping of the whole), the whole goes. */
START_TEST(part_of_kept_buffer_refused) {
        struct proc server;
        xous_cid_t own = start_server(&server, NAME);
        int ro = raw_buf(RAW_LEN, 11, SEALS, O_RDONLY);
        uint32_t cid;
        int link = raw_link(&cid);

        EXPECT_ERR(raw_keep(link, 1, RAW_LEN, XNS_KIND_BORROW, ro), XOUS_OK);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, PAGE, 11, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_lend(link, cid, XNS_KIND_BORROW, 1, RAW_LEN, 11, -1), XOUS_OK);
        expect_seen(own, 1);
        close(link);
        stop_server(&server, own);
        close(ro);
}
END_TEST

int main(void) {
        Suite *s = suite_create("kept");

        HARNESS_ADD(s, repeated_lends_see_current_bytes);
        HARNESS_ADD(s, borrow_read_only_when_lent_again);
        HARNESS_ADD(s, stale_pointer_faults);
        HARNESS_ADD(s, more_buffers_than_kept);
        HARNESS_ADD(s, freed_buffers_let_go);
        HARNESS_ADD(s, exited_lender_let_go);
        HARNESS_ADD(s, pool_holds_kept_buffers_together);
        HARNESS_ADD(s, two_servers_share_a_kept_buffer);
        HARNESS_ADD(s, forked_child_lends_inherited_buffer);
        HARNESS_ADD(s, daemon_restart_keeps_again);
        HARNESS_ADD(s, forward_of_kept_buffer);
        HARNESS_ADD(s, free_does_not_wait_for_xnsd);
        HARNESS_ADD(s, hostile_keeps_and_lends_refused);
        HARNESS_ADD(s, part_of_kept_buffer_refused);
        return harness_run(s);
}
