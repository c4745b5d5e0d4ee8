/* test-threads.c: any thread may call anything; fork() gives a fresh client. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "harness.h"

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
        HARNESS_ADD(s, fork_child_starts_fresh);
        return harness_run(s);
}
