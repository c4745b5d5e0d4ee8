/* test-server-fd.c: servers driven by xous_server_get_fd() from one epoll
 * loop beside other descriptors: two SIDs in one thread, readiness exactly
 * while messages wait (queued in xnsd or held in the library), a thread
 * pool receiving beside the loop, errors, and xnsd going away. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "harness.h"

#define NAME "fd"
#define LEND_SEED 7u

enum { OP_ECHO = 1, OP_COUNT, OP_FILL, OP_QUIT };              /* messages to the servers */
enum { CMD_POLL = 1, CMD_PAUSE, CMD_RESUME, CMD_TAKE_ONE };     /* the parent, on the channel */

/* The server process: a named and an anonymous server, one epoll loop. */
struct loop {
        xous_sid_t sid[2];
        int fd[2];                      /* from xous_server_get_fd() */
        int epoll_fd;
        atomic_uint scalars;            /* Scalars received, by any thread */
};

/* ECHO answers a1 + 1 and which server took it; COUNT the Scalars so far;
 * FILL writes LEND_SEED's pattern into a MutableBorrow; QUIT ends the process. */
static void loop_serve(struct loop *lp, xous_envelope_t *env, uint32_t which) {
        uint32_t id = xous_envelope_id(env);

        switch (xous_envelope_kind(env)) {
        case XOUS_MSG_SCALAR:
                atomic_fetch_add(&lp->scalars, 1);
                break;
        case XOUS_MSG_BLOCKING_SCALAR:
                if (id == OP_ECHO)
                        EXPECT_OK(xous_return_scalar2(env, xous_envelope_args(env)[0] + 1, which));
                else if (id == OP_COUNT)
                        EXPECT_OK(xous_return_scalar(env, atomic_load(&lp->scalars)));
                else if (id == OP_QUIT) {
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        exit(0);
                }
                break;
        case XOUS_MSG_MUTABLE_BORROW:
                if (id == OP_FILL)
                        fill_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env), LEND_SEED);
                break;
        default:
                break;
        }
        xous_envelope_drop(env);
}

/* What the loop does on a readable server fd: take messages until none. */
static void loop_drain(struct loop *lp, uint32_t which) {
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_try_receive_message(lp->sid[which], &env));
                if (!env)
                        return;
                loop_serve(lp, env, which);
        }
}

/* Bit i set: server i's descriptor polls readable now. */
static uint32_t loop_readable(const struct loop *lp) {
        uint32_t bits = 0;

        for (uint32_t i = 0; i < 2; i++) {
                struct pollfd p = { .fd = lp->fd[i], .events = POLLIN };

                if (poll(&p, 1, 0) == 1)
                        bits |= 1u << i;
        }
        return bits;
}

static void loop_watch(struct loop *lp, bool on) {
        for (uint32_t i = 0; i < 2; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

                EXPECT(epoll_ctl(lp->epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, lp->fd[i], &ev) == 0);
        }
}

/* The parent's commands: POLL answers loop_readable(); PAUSE stops
 * serving (the fds leave the set); TAKE_ONE receives one message from the
 * named server, then answers loop_readable(). */
static void loop_command(struct loop *lp) {
        uint32_t cmd = parent_recv_u32();
        xous_envelope_t *env = NULL;

        switch (cmd) {
        case CMD_POLL:
                parent_send_u32(loop_readable(lp));
                break;
        case CMD_PAUSE:
        case CMD_RESUME:
                loop_watch(lp, cmd == CMD_RESUME);
                parent_send_u32(0);
                break;
        case CMD_TAKE_ONE:
                EXPECT_OK(xous_try_receive_message(lp->sid[0], &env));
                EXPECT(env != NULL);
                loop_serve(lp, env, 0);
                parent_send_u32(loop_readable(lp));
                break;
        default:
                EXPECT_MSG(false, "unknown command %u", cmd);
        }
}

static void *pool_thread(void *arg) {
        struct loop *lp = arg;

        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(lp->sid[0], &env));
                loop_serve(lp, env, 0);
        }
        return NULL;
}

/* arg: the number of pool threads receiving on the named server beside the loop. */
static void loop_server(void *arg) {
        struct loop lp = { .epoll_fd = epoll_create1(EPOLL_CLOEXEC) };
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 2 };
        int fd;

        EXPECT(lp.epoll_fd >= 0);
        EXPECT_OK(xous_register_name(NAME, 0, &lp.sid[0]));
        EXPECT_OK(xous_create_server(&lp.sid[1]));
        for (uint32_t i = 0; i < 2; i++) {
                EXPECT_OK(xous_server_get_fd(lp.sid[i], &lp.fd[i]));
                EXPECT_OK(xous_server_get_fd(lp.sid[i], &fd));
                EXPECT_EQ(fd, lp.fd[i]);                        /* one per server */
        }
        EXPECT_EQ(loop_readable(&lp), 0);
        loop_watch(&lp, true);
        EXPECT(epoll_ctl(lp.epoll_fd, EPOLL_CTL_ADD, parent_chan_fd(), &ev) == 0);
        for (uintptr_t i = 0; i < (uintptr_t)arg; i++) {
                pthread_t t;

                thread_start(&t, pool_thread, &lp);
        }
        parent_send_sid(lp.sid[0]);
        parent_send_sid(lp.sid[1]);
        for (;;) {
                struct epoll_event evs[3];
                int n = epoll_wait(lp.epoll_fd, evs, 3, 20000);

                EXPECT_MSG(n > 0, "the loop waited 20 s for nothing (%d)", n);
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.u32 == 2)
                                loop_command(&lp);
                        else
                                loop_drain(&lp, evs[i].data.u32);
                }
        }
}

struct served {
        struct proc server;
        xous_cid_t cid[2];
};

static void served_start(struct served *s, uintptr_t pool) {
        xous_sid_t anon;

        proc_start(&s->server, "loop server", loop_server, (void *)pool);
        proc_recv_sid(&s->server);
        anon = proc_recv_sid(&s->server);
        s->cid[0] = connect_name(NAME);
        EXPECT_OK(xous_connect(anon, &s->cid[1]));
}

static uint32_t served_command(struct served *s, uint32_t cmd) {
        proc_send_u32(&s->server, cmd);
        return proc_recv_u32(&s->server);
}

/* The Scalars counted once a call behind them on server i is answered. */
static uint32_t served_count(struct served *s, uint32_t i) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(s->cid[i], OP_COUNT, 0, 0, 0, 0, &r));
        return r.v[0];
}

static void served_stop(struct served *s) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(s->cid[1], OP_QUIT, 0, 0, 0, 0, &r));
        proc_wait_exit(&s->server, 0);
}

/* Both servers answer every kind from one thread, which also answers the
 * parent's channel in the same loop. */
START_TEST(two_sids_in_one_loop) {
        struct served s;
        xous_scalar_reply_t r;
        xous_buf_t *buf = xous_buf_new(64 * 1024);
        uint32_t offset = 0, valid = 64 * 1024;

        served_start(&s, 0);
        for (uint32_t i = 0; i < 2; i++) {
                EXPECT_OK(xous_blocking_scalar(s.cid[i], OP_ECHO, 41, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], 42);
                EXPECT_EQ(r.v[1], i);
        }
        EXPECT_EQ(served_command(&s, CMD_POLL), 0);
        for (uint32_t i = 0; i < 300; i++)
                EXPECT_OK(xous_send_scalar(s.cid[i % 2], 9, i, 0, 0, 0));
        (void)served_count(&s, 0);                      /* behind those sent to one ... */
        EXPECT_EQ(served_count(&s, 1), 300);            /* ... and to the other */
        EXPECT(buf != NULL);
        EXPECT_OK(xous_lend_mut(s.cid[1], OP_FILL, buf, &offset, &valid));
        EXPECT(check_pattern(xous_buf_data(buf), 64 * 1024, LEND_SEED));
        xous_buf_free(buf);
        EXPECT_EQ(served_command(&s, CMD_POLL), 0);
        served_stop(&s);
}
END_TEST

/* Readable while a message waits in xnsd, quiet once it is taken. */
START_TEST(readable_while_a_message_waits) {
        struct served s;

        served_start(&s, 0);
        EXPECT_EQ(served_command(&s, CMD_PAUSE), 0);
        EXPECT_EQ(served_command(&s, CMD_POLL), 0);
        EXPECT_OK(xous_send_scalar(s.cid[0], 9, 0, 0, 0, 0));
        harness_wait_name(NAME, 1, 0, 0);
        EXPECT_EQ(served_command(&s, CMD_POLL), 1);     /* the named one only */
        EXPECT_EQ(served_command(&s, CMD_RESUME), 0);
        EXPECT_EQ(served_count(&s, 0), 1);
        harness_wait_name(NAME, 0, 0, 0);
        EXPECT_EQ(served_command(&s, CMD_POLL), 0);
        served_stop(&s);
}
END_TEST

/* Scalars that came along with a message wait in the library, not in
 * xnsd: the descriptor stays readable until they are taken too. */
START_TEST(readable_while_scalars_are_held) {
        struct served s;

        served_start(&s, 0);
        EXPECT_EQ(served_command(&s, CMD_PAUSE), 0);
        for (uint32_t i = 0; i < 40; i++)
                EXPECT_OK(xous_send_scalar(s.cid[0], 9, i, 0, 0, 0));
        harness_wait_name(NAME, 40, 0, 0);
        EXPECT_EQ(served_command(&s, CMD_TAKE_ONE), 1);
        harness_wait_name(NAME, 0, 0, 0);               /* the other 39 came along */
        EXPECT_EQ(served_command(&s, CMD_POLL), 1);
        EXPECT_EQ(served_command(&s, CMD_RESUME), 0);
        EXPECT_EQ(served_count(&s, 0), 40);
        EXPECT_EQ(served_command(&s, CMD_POLL), 0);
        served_stop(&s);
}
END_TEST

#define POOL_ROUNDS 500u

static void pool_caller(void *arg) {
        xous_cid_t cid = connect_name(NAME);
        xous_scalar_reply_t r;

        (void)arg;
        for (uint32_t i = 0; i < POOL_ROUNDS; i++) {
                EXPECT_OK(xous_send_scalar(cid, 9, i, 0, 0, 0));
                EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i + 1);
        }
}

/* Two threads in xous_receive_message() beside the loop: every message is
 * served once, and the descriptor is quiet once all is done. */
START_TEST(pool_beside_the_loop) {
        struct served s;
        struct proc callers[2];
        uint64_t deadline;

        served_start(&s, 2);
        for (int i = 0; i < 2; i++)
                proc_start(&callers[i], "caller", pool_caller, NULL);
        pool_caller(NULL);
        for (int i = 0; i < 2; i++)
                proc_wait_exit(&callers[i], 0);
        /* Scalars taken by one thread may be counted after a later call
         * answered by another: ask until all are. */
        deadline = now_ms() + HARNESS_WAIT_MS;
        while (served_count(&s, 0) != 3 * POOL_ROUNDS && now_ms() < deadline)
                ;
        EXPECT_EQ(served_count(&s, 0), 3 * POOL_ROUNDS);
        harness_wait_name(NAME, 0, 0, 2);               /* the pool waits in xnsd again */
        EXPECT_EQ(served_command(&s, CMD_POLL), 0);
        served_stop(&s);
}
END_TEST

static void fd_errors(void *arg) {
        xous_sid_t mine, theirs = parent_recv_sid();
        int fd, again;

        (void)arg;
        EXPECT_ERR(xous_server_get_fd(theirs, NULL), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(xous_server_get_fd(random_sid(), &fd), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_ERR(xous_server_get_fd(theirs, &fd), XOUS_ERR_ACCESS_DENIED);
        EXPECT_OK(xous_create_server(&mine));
        EXPECT_OK(xous_server_get_fd(mine, &fd));
        EXPECT(fcntl(fd, F_GETFD) >= 0);
        EXPECT_OK(xous_destroy_server(mine));
        errno = 0;
        EXPECT_MSG(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "the descriptor outlived its server");
        EXPECT_ERR(xous_server_get_fd(mine, &again), XOUS_ERR_SERVER_NOT_FOUND);
}

/* Bad arguments, another process's server, and the end of a server's descriptor. */
START_TEST(errors_and_lifetime) {
        struct proc p;
        xous_sid_t sid;

        EXPECT_OK(xous_create_server(&sid));
        proc_start(&p, "errors", fd_errors, NULL);
        proc_send_sid(&p, sid);
        proc_wait_exit(&p, 0);
        EXPECT_OK(xous_destroy_server(sid));
}
END_TEST

static void orphan_loop(void *arg) {
        xous_sid_t sid;
        xous_envelope_t *env = NULL;
        struct pollfd p = { .events = POLLIN };

        (void)arg;
        EXPECT_OK(xous_register_name(NAME, 0, &sid));
        EXPECT_OK(xous_server_get_fd(sid, &p.fd));
        parent_send_sid(sid);
        EXPECT_MSG(poll(&p, 1, 20000) == 1, "xnsd went away and the descriptor stayed quiet");
        parent_send_u32(xous_try_receive_message(sid, &env));
}

/* xnsd dies under a loop that waits on the descriptor: it wakes, and the
 * receive says what happened. */
START_TEST(daemon_gone_wakes_the_loop) {
        struct proc p;

        proc_start(&p, "loop", orphan_loop, NULL);
        proc_recv_sid(&p);
        harness_daemon_kill(SIGKILL);
        EXPECT_MSG(proc_recv_u32(&p) != XOUS_OK, "a receive after xnsd died answered OK");
        proc_wait_exit(&p, 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("server-fd");

        HARNESS_ADD(s, two_sids_in_one_loop);
        HARNESS_ADD(s, readable_while_a_message_waits);
        HARNESS_ADD(s, readable_while_scalars_are_held);
        HARNESS_ADD(s, pool_beside_the_loop);
        HARNESS_ADD(s, errors_and_lifetime);
        HARNESS_ADD(s, daemon_gone_wakes_the_loop);
        return harness_run(s);
}
