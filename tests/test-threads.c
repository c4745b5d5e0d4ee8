/* test-threads.c: any thread may call anything; fork() gives a fresh client. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "parse.h"

#define NTHREADS 8

enum { OP_PARK = 1, OP_RELEASE, OP_QUIT };

/* Parks n blocking scalars, reporting the count; on OP_RELEASE answers them
 * last first with a1 * 100 + 7. */
static void parking_server(void *arg) {
        uint32_t n = (uint32_t)(uintptr_t)arg;
        xous_envelope_t *parked[NTHREADS];
        uint32_t nparked = 0;
        xous_sid_t sid;

        EXPECT_OK(xous_register_name("threads", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                switch (xous_envelope_id(env)) {
                case OP_PARK:
                        EXPECT(nparked < n);
                        parked[nparked++] = env;
                        if (nparked == n)
                                parent_send_u32(nparked);
                        continue;
                case OP_RELEASE:
                        while (nparked > 0) {
                                xous_envelope_t *p = parked[--nparked];

                                EXPECT_OK(xous_return_scalar(p, xous_envelope_args(p)[0] * 100 + 7));
                                xous_envelope_drop(p);
                        }
                        break;
                case OP_QUIT:
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

struct blocker {
        xous_cid_t cid;
        uint32_t tag;
        xous_error_t e;
        xous_scalar_reply_t r;
};

static void *block_on_server(void *arg) {
        struct blocker *b = arg;

        b->e = xous_blocking_scalar(b->cid, OP_PARK, b->tag, 0, 0, 0, &b->r);
        return NULL;
}

START_TEST(threads_block_at_once) {
        struct proc server;
        struct blocker b[NTHREADS];
        pthread_t t[NTHREADS];
        xous_cid_t cid;

        proc_start(&server, "server", parking_server, (void *)(uintptr_t)NTHREADS);
        proc_recv_sid(&server);
        cid = connect_name("threads");
        for (uint32_t i = 0; i < NTHREADS; i++) {
                b[i] = (struct blocker){ .cid = cid, .tag = i + 1, .e = XOUS_ERR_UNKNOWN_ERROR };
                thread_start(&t[i], block_on_server, &b[i]);
        }
        /* The server holds all of them at once before answering any. */
        EXPECT_EQ(proc_recv_u32(&server), NTHREADS);
        EXPECT_OK(xous_send_scalar(cid, OP_RELEASE, 0, 0, 0, 0));
        for (uint32_t i = 0; i < NTHREADS; i++) {
                thread_join(t[i], HARNESS_WAIT_MS);
                EXPECT_ERR(b[i].e, XOUS_OK);
                EXPECT_EQ(b[i].r.count, 1);
                EXPECT_EQ(b[i].r.v[0], (i + 1) * 100 + 7);
        }
        EXPECT_OK(xous_send_scalar(cid, OP_QUIT, 0, 0, 0, 0));
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- a pool of receiving threads --------------------------------------- */

#define POOL 4

struct pool {
        xous_sid_t sid;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint32_t holding;       /* threads holding a message */
};

struct pool_thread {
        struct pool *pool;
        uint32_t index;
        bool all_held;
};

/* Each pool thread takes one message and keeps it until every thread holds
 * one: only possible if all of them receive at the same time. */
static void *pool_thread(void *arg) {
        struct pool_thread *pt = arg;
        struct pool *pool = pt->pool;
        xous_envelope_t *env = NULL;
        struct timespec deadline;

        EXPECT_OK(xous_receive_message(pool->sid, &env));
        EXPECT_EQ(xous_envelope_id(env), OP_PARK);
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 5;
        pthread_mutex_lock(&pool->lock);
        pool->holding++;
        pthread_cond_broadcast(&pool->cond);
        while (pool->holding < POOL)
                if (pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) == ETIMEDOUT)
                        break;
        pt->all_held = pool->holding == POOL;
        pthread_mutex_unlock(&pool->lock);
        EXPECT_OK(xous_return_scalar(env, pt->index));
        xous_envelope_drop(env);
        return NULL;
}

static void pool_server(void *arg) {
        struct pool pool = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
        struct pool_thread pt[POOL];
        pthread_t t[POOL];
        uint32_t all = 1;

        (void)arg;
        EXPECT_OK(xous_register_name("threads", 0, &pool.sid));
        for (uint32_t i = 0; i < POOL; i++) {
                pt[i] = (struct pool_thread){ .pool = &pool, .index = i };
                thread_start(&t[i], pool_thread, &pt[i]);
        }
        parent_send_sid(pool.sid);
        for (uint32_t i = 0; i < POOL; i++) {
                thread_join(t[i], HARNESS_WAIT_MS);
                all &= pt[i].all_held;
        }
        parent_send_u32(all);
}

START_TEST(receive_pool) {
        struct proc server;
        struct blocker b[POOL];
        pthread_t t[POOL];
        uint32_t seen = 0;
        xous_cid_t cid;

        proc_start(&server, "pool", pool_server, NULL);
        proc_recv_sid(&server);
        cid = connect_name("threads");
        for (uint32_t i = 0; i < POOL; i++) {
                b[i] = (struct blocker){ .cid = cid, .e = XOUS_ERR_UNKNOWN_ERROR };
                thread_start(&t[i], block_on_server, &b[i]);
        }
        for (uint32_t i = 0; i < POOL; i++) {
                thread_join(t[i], HARNESS_WAIT_MS);
                EXPECT_ERR(b[i].e, XOUS_OK);
                EXPECT(b[i].r.v[0] < POOL);
                seen |= 1u << b[i].r.v[0];
        }
        EXPECT_MSG(proc_recv_u32(&server) == 1, "the pool threads never held %d messages at once", POOL);
        EXPECT_MSG(seen == (1u << POOL) - 1, "not every pool thread answered (mask 0x%x)", seen);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- a wide pool against Scalars (Xous's multiple_contexts) ------------- */

#define WIDE 30                 /* receiving threads, and Scalars a round */
#define WIDE_ROUNDS 200           /* $XNS_POOL_ROUNDS, fewer under valgrind */
#define WIDE_JOIN_MS 5000
#define ORDER_THREADS 8
#define ORDER_SCALARS 5000

enum { OP_SEQ = 0x53, OP_POOL_QUIT };

/* Sends the Scalars of each round the parent names; returns on UINT32_MAX. */
static void scalar_sender(void *arg) {
        xous_sid_t sid = parent_recv_sid();
        xous_cid_t cid, none;

        (void)arg;
        EXPECT_OK(xous_try_connect(sid, &cid));
        for (;;) {
                uint32_t round = parent_recv_u32();

                if (round == UINT32_MAX)
                        return;
                for (uint32_t i = 0; i < WIDE; i++)
                        EXPECT_OK(xous_send_scalar(cid, OP_SEQ, round, i, 0, 0));
                /* xnsd takes this thread's ring before its next frame: once
                 * this is answered, every Scalar above is queued. */
                EXPECT_ERR(xous_request_connection("threads.nobody", &none), XOUS_ERR_SERVER_NOT_FOUND);
                parent_send_u32(round);
        }
}

struct wide_round {
        xous_sid_t sid;
        uint32_t round;
        pthread_mutex_t lock;
        uint32_t got[WIDE];     /* times each seq was received */
};

static void *wide_receive_one(void *arg) {
        struct wide_round *w = arg;
        xous_envelope_t *env = NULL;
        const uint32_t *a;

        EXPECT_OK(xous_receive_message(w->sid, &env));
        a = xous_envelope_args(env);
        EXPECT_EQ(xous_envelope_id(env), OP_SEQ);
        EXPECT_EQ(a[0], w->round);
        EXPECT(a[1] < WIDE);
        pthread_mutex_lock(&w->lock);
        w->got[a[1]]++;
        pthread_mutex_unlock(&w->lock);
        xous_envelope_drop(env);
        return NULL;
}

static void wide_join(pthread_t t, uint32_t round, bool scalars_first) {
        struct timespec ts;
        int r;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += WIDE_JOIN_MS / 1000;
        r = pthread_timedjoin_np(t, NULL, &ts);
        EXPECT_MSG(r == 0, "round %u (%s first): a receiving thread stranded for %d ms", round,
                   scalars_first ? "Scalars" : "receivers", WIDE_JOIN_MS);
}

static uint32_t wide_rounds(void) {
        const char *s = getenv("XNS_POOL_ROUNDS");
        uint32_t n;

        return s && parse_u32(s, &n) == 0 && n > 0 ? n : WIDE_ROUNDS;
}

/* WIDE threads each receive once while WIDE Scalars come: every thread
 * returns, and every Scalar is received exactly once, round after round. */
static void wide_pool_rounds(bool scalars_first) {
        struct wide_round w = { .lock = PTHREAD_MUTEX_INITIALIZER };
        uint32_t rounds = wide_rounds();
        pthread_t t[WIDE];
        struct proc sender;

        EXPECT_OK(xous_create_server(&w.sid));
        proc_start(&sender, "sender", scalar_sender, NULL);
        proc_send_sid(&sender, w.sid);
        for (w.round = 0; w.round < rounds; w.round++) {
                memset(w.got, 0, sizeof(w.got));
                if (scalars_first) {
                        proc_send_u32(&sender, w.round);
                        EXPECT_EQ(proc_recv_u32(&sender), w.round);
                }
                for (uint32_t i = 0; i < WIDE; i++)
                        thread_start(&t[i], wide_receive_one, &w);
                if (!scalars_first) {
                        proc_send_u32(&sender, w.round);
                        EXPECT_EQ(proc_recv_u32(&sender), w.round);
                }
                for (uint32_t i = 0; i < WIDE; i++)
                        wide_join(t[i], w.round, scalars_first);
                for (uint32_t i = 0; i < WIDE; i++)
                        EXPECT_MSG(w.got[i] == 1, "round %u: seq %u received %u times", w.round, i, w.got[i]);
        }
        proc_send_u32(&sender, UINT32_MAX);
        proc_wait_exit(&sender, 0);
        EXPECT_OK(xous_destroy_server(w.sid));
}

START_TEST(wide_pool_scalars_first) {
        wide_pool_rounds(true);
}
END_TEST

START_TEST(wide_pool_receivers_first) {
        wide_pool_rounds(false);
}
END_TEST

/* Sends ORDER_SCALARS numbered Scalars as fast as the queue takes them,
 * then one OP_POOL_QUIT per receiving thread. */
static void order_sender(void *arg) {
        xous_sid_t sid = parent_recv_sid();
        xous_cid_t cid;

        (void)arg;
        EXPECT_OK(xous_try_connect(sid, &cid));
        for (uint32_t i = 0; i < ORDER_SCALARS; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_SEQ, i, 0, 0, 0));
        for (uint32_t i = 0; i < ORDER_THREADS; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_POOL_QUIT, 0, 0, 0, 0));
}

struct order_pool {
        xous_sid_t sid;
        pthread_mutex_t lock;
        uint8_t got[ORDER_SCALARS];
};

/* Receives until OP_POOL_QUIT; what one thread receives from one sender
 * thread comes in the order sent. */
static void *order_receiver(void *arg) {
        struct order_pool *p = arg;
        uint32_t last = 0;
        bool first = true;

        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;
                uint32_t seq;

                EXPECT_OK(xous_receive_message(p->sid, &env));
                if (xous_envelope_id(env) == OP_POOL_QUIT)
                        return NULL;
                seq = xous_envelope_args(env)[0];
                EXPECT(seq < ORDER_SCALARS);
                EXPECT_MSG(first || seq > last, "seq %u received after %u by the same thread", seq, last);
                first = false;
                last = seq;
                pthread_mutex_lock(&p->lock);
                p->got[seq]++;
                pthread_mutex_unlock(&p->lock);
        }
}

START_TEST(pool_keeps_order) {
        struct order_pool p = { .lock = PTHREAD_MUTEX_INITIALIZER };
        pthread_t t[ORDER_THREADS];
        struct proc sender;

        EXPECT_OK(xous_create_server(&p.sid));
        for (uint32_t i = 0; i < ORDER_THREADS; i++)
                thread_start(&t[i], order_receiver, &p);
        proc_start(&sender, "sender", order_sender, NULL);
        proc_send_sid(&sender, p.sid);
        for (uint32_t i = 0; i < ORDER_THREADS; i++)
                thread_join(t[i], HARNESS_WAIT_MS);
        proc_wait_exit(&sender, 0);
        for (uint32_t i = 0; i < ORDER_SCALARS; i++)
                EXPECT_MSG(p.got[i] == 1, "seq %u received %u times", i, p.got[i]);
        EXPECT_OK(xous_destroy_server(p.sid));
}
END_TEST

/* --- fork ---------------------------------------------------------------- */

struct forked {
        xous_cid_t parent_cid;
};

static void forked_child(void *arg) {
        const struct forked *f = arg;
        xous_scalar_reply_t r;
        xous_sid_t sid;
        xous_cid_t cid;

        /* The parent's CID means nothing here. */
        EXPECT_ERR(xous_try_send_scalar(f->parent_cid, 1, 0, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_ERR(xous_blocking_scalar(f->parent_cid, 1, 0, 0, 0, 0, &r), XOUS_ERR_SERVER_NOT_FOUND);
        parent_send_u32(1);
        /* Its own link: a name of its own, and connections of its own. */
        EXPECT_OK(xous_register_name("threads.child", 0, &sid));
        EXPECT_OK(xous_request_connection("threads.echo", &cid));
        for (uint32_t i = 0; i < 200; i++) {
                EXPECT_OK(xous_blocking_scalar(cid, 1, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i + 1);
        }
        parent_send_u32(2);
        echo_serve(sid);
}

START_TEST(fork_child_starts_fresh) {
        struct proc server, child;
        struct forked f;
        xous_scalar_reply_t r;
        xous_cid_t child_cid;
        uint32_t msg;

        proc_start(&server, "echo", echo_server, "threads.echo");
        proc_recv_sid(&server);
        f.parent_cid = connect_name("threads.echo");
        EXPECT_OK(xous_blocking_scalar(f.parent_cid, 1, 1, 0, 0, 0, &r));
        proc_start(&child, "forked", forked_child, &f);
        EXPECT_EQ(proc_recv_u32(&child), 1);
        /* The parent keeps working on its own CID while the child does. */
        for (uint32_t i = 0; !proc_recv_timeout(&child, &msg, sizeof(msg), 0); i++) {
                EXPECT_OK(xous_blocking_scalar(f.parent_cid, 1, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i + 1);
                EXPECT_MSG(i < 1000000, "the child never finished");
        }
        EXPECT_EQ(msg, 2);
        /* The child's name leads to the child. */
        child_cid = connect_name("threads.child");
        EXPECT_OK(xous_blocking_scalar(child_cid, 1, 50, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 51);
        echo_stop(&child, child_cid);
        echo_stop(&server, f.parent_cid);
}
END_TEST

int main(void) {
        Suite *s = suite_create("threads");

        HARNESS_ADD(s, threads_block_at_once);
        HARNESS_ADD(s, receive_pool);
        HARNESS_ADD(s, wide_pool_scalars_first);
        HARNESS_ADD(s, wide_pool_receivers_first);
        HARNESS_ADD(s, pool_keeps_order);
        HARNESS_ADD(s, fork_child_starts_fresh);
        return harness_run(s);
}
