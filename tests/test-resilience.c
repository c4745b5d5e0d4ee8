/* test-resilience.c: what the survivors see when a server or a caller is
 * SIGKILLed in each state of a message, when a peer hangs, floods or is slow,
 * when xnsd runs out of descriptors, and when xnsd is restarted under its
 * clients. (test-fault.c has the simpler cases: one server killed under one
 * caller, one caller killed while parked, a daemon killed for good.) */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "wire.h"

enum { OP_PARK = 1, OP_HOLD, OP_CALL, OP_ECHO, OP_SLOW, OP_QUIT };

/* --- looking at xnsd from outside ---------------------------------------- */

/* Descriptors xnsd has open; with memfds_only, only the shared-memory
 * segments (memfds) among them. */
static unsigned daemon_fds(bool memfds_only) {
        return proc_fds(harness_daemon_pid(), memfds_only ? "/memfd:" : NULL);
}

/* Waits (2 s) until xnsd holds no more descriptors than at baseline, and no
 * shared-memory segment at all: what the dead had in flight is released. */
static void expect_daemon_fds_back(unsigned baseline) {
        uint64_t deadline = now_ms() + 2000;

        while (daemon_fds(false) > baseline || daemon_fds(true) > 0) {
                EXPECT_MSG(now_ms() < deadline, "xnsd holds %u descriptors (%u memfds), %u before",
                           daemon_fds(false), daemon_fds(true), baseline);
                sleep_ms(10);
        }
}

/*
 * Waits until child p, which said it is about to make one blocking call, is
 * blocked reading the answer: its request is in xnsd's socket. A round trip
 * of ours then makes sure xnsd has routed it (xnsd handles every ready link
 * in a wakeup before it answers the next).
 */
static void wait_call_routed(struct proc *p) {
        uint64_t deadline = now_ms() + 5000;
        xous_cid_t cid;

        while (!proc_waits_for_xnsd(p->pid)) {
                EXPECT_MSG(now_ms() < deadline, "'%s' not blocked in its call within 5 s", p->name);
                sleep_ms(1);
        }
        sleep_ms(20);
        EXPECT_MSG(proc_waits_for_xnsd(p->pid), "'%s' is not blocked in its call", p->name);
        EXPECT_ERR(xous_try_connect(random_sid(), &cid), XOUS_ERR_SERVER_NOT_FOUND);
}

/* Opens the test's own link to xnsd, so that it counts in a baseline. */
static void open_own_link(void) {
        bool done;

        EXPECT_OK(xous_trusted_init_done(&done));
}

/* --- callers -------------------------------------------------------------- */

struct call {
        const char *server;     /* name to connect to */
        xous_msg_kind_t kind;
        uint32_t id;
        uint32_t seed;          /* of the buffer's pattern, also sent as a1 */
};

struct call_result {
        uint32_t error;
        uint32_t intact;        /* the caller's buffer still holds its pattern */
};

/* Connects, says "about to call", makes one call, reports how it ended. */
static void one_call(void *arg) {
        const struct call *c = arg;
        xous_cid_t cid = connect_name(c->server);
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(2 * PAGE);
        struct call_result res = { .intact = 1 };
        xous_scalar_reply_t r;
        uint32_t offset = c->seed, valid = 2 * PAGE;

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), 2 * PAGE, c->seed);
        parent_send_u32(1);
        switch (c->kind) {
        case XOUS_MSG_BLOCKING_SCALAR:
                res.error = xous_blocking_scalar(cid, c->id, c->seed, 0, 0, 0, &r);
                break;
        case XOUS_MSG_SCALAR:
                res.error = xous_send_scalar(cid, c->id, c->seed, 0, 0, 0);
                break;
        case XOUS_MSG_BORROW:
                res.error = xous_lend(cid, c->id, buf, c->seed, 2 * PAGE);
                break;
        case XOUS_MSG_MUTABLE_BORROW:
                res.error = xous_lend_mut(cid, c->id, buf, &offset, &valid);
                break;
        case XOUS_MSG_MOVE:
                res.error = xous_send(cid, c->id, buf, c->seed, 2 * PAGE);
                if (res.error == XOUS_OK)
                        buf = NULL;     /* the pages are the server's now */
                break;
        }
        if (buf)
                res.intact = check_pattern(xous_buf_data(buf), 2 * PAGE, c->seed);
        parent_send(&res, sizeof(res));
        parent_recv_u32();      /* stays alive until the test is done with it */
}

static void start_call(struct proc *p, const char *name, struct call *c) {
        proc_start(p, name, one_call, c);
        EXPECT_EQ(proc_recv_u32(p), 1);
}

/* --- a server driven by the test ------------------------------------------- */

enum { CMD_RECEIVE = 1, CMD_TRY_RECEIVE, CMD_ANSWER_ALL, CMD_HANG };

/* What the server saw in one message. */
struct seen {
        uint32_t got;           /* 0: nothing was waiting */
        uint32_t kind, id;
        uint32_t seed;          /* a1, or for memory the offset */
        uint32_t intact;        /* memory: the buffer holds the pattern of seed */
};

/*
 * Registers the name it is given, then does what the test says: receive one
 * message (and keep the envelope), try to receive one, answer everything it
 * holds, or hang holding it. Memory messages carry the pattern whose seed is
 * their offset; scalars carry the seed in a1.
 */
static void driven_server(void *arg) {
        xous_envelope_t *held[32];
        uint32_t nheld = 0;
        xous_sid_t sid;

        EXPECT_OK(xous_register_name(arg, 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                uint32_t cmd = parent_recv_u32();
                xous_envelope_t *env = NULL;
                struct seen s = { 0 };

                switch (cmd) {
                case CMD_RECEIVE:
                case CMD_TRY_RECEIVE:
                        if (cmd == CMD_RECEIVE)
                                EXPECT_OK(xous_receive_message(sid, &env));
                        else
                                EXPECT_OK(xous_try_receive_message(sid, &env));
                        if (env) {
                                s = (struct seen){ .got = 1, .kind = xous_envelope_kind(env),
                                                   .id = xous_envelope_id(env),
                                                   .seed = xous_envelope_args(env)[0] };
                                if (s.kind <= XOUS_MSG_MOVE) {
                                        s.seed = xous_envelope_offset(env);
                                        s.intact = xous_envelope_buf_len(env) == 2 * PAGE &&
                                                   check_pattern(xous_envelope_buf(env), 2 * PAGE, s.seed);
                                }
                                EXPECT(nheld < 32);
                                held[nheld++] = env;
                        }
                        parent_send(&s, sizeof(s));
                        break;
                case CMD_ANSWER_ALL:
                        while (nheld > 0) {
                                xous_envelope_t *e = held[--nheld];

                                if (xous_envelope_kind(e) == XOUS_MSG_BLOCKING_SCALAR)
                                        EXPECT_OK(xous_return_scalar(e, 4321));
                                else if (xous_envelope_kind(e) == XOUS_MSG_MUTABLE_BORROW)
                                        memset(xous_envelope_buf(e), 0x5a, 2 * PAGE);
                                xous_envelope_drop(e);
                        }
                        parent_send_u32(0);
                        break;
                case CMD_HANG:
                        parent_send_u32(nheld);
                        for (;;)
                                pause();
                }
        }
}

static struct seen server_receive(struct proc *server, uint32_t cmd) {
        struct seen s;

        proc_send_u32(server, cmd);
        proc_recv(server, &s, sizeof(s));
        return s;
}

static void expect_received(struct proc *server, xous_msg_kind_t kind, uint32_t seed) {
        struct seen s = server_receive(server, CMD_RECEIVE);

        EXPECT_EQ(s.kind, kind);
        EXPECT_EQ(s.seed, seed);
        if (kind <= XOUS_MSG_MOVE)
                EXPECT_MSG(s.intact, "the server sees kind %u (seed %u) with other bytes", kind, seed);
}

/* --- a server dies with messages in every state --------------------------- */

/*
 * The server holds a parked BlockingScalar, a parked lend_mut and lend
 * (mapped), a received Move and a BlockingScalar it is handling; a
 * BlockingScalar, a lend_mut, a lend and a Move wait in its (full) queue; a
 * BlockingScalar and a Scalar wait for room (the Scalar in xnsd only: its
 * sender does not wait). SIGKILL: every blocked caller wakes within 1 s
 * with SERVER_NOT_FOUND, buffers intact; xnsd releases every segment.
 */
START_TEST(server_killed_in_every_state) {
        struct call calls[] = {
                { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_PARK, 11 },   /* parked */
                { "res.srv", XOUS_MSG_MUTABLE_BORROW, OP_PARK, 12 },    /* parked, mapped */
                { "res.srv", XOUS_MSG_BORROW, OP_PARK, 13 },            /* parked, mapped */
                { "res.srv", XOUS_MSG_MOVE, OP_PARK, 14 },              /* received */
                { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_HOLD, 15 },   /* received, in hand */
                { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_CALL, 21 },   /* queued */
                { "res.srv", XOUS_MSG_MUTABLE_BORROW, OP_CALL, 22 },    /* queued */
                { "res.srv", XOUS_MSG_BORROW, OP_CALL, 23 },            /* queued */
                { "res.srv", XOUS_MSG_MOVE, OP_CALL, 24 },              /* queued */
                { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_CALL, 31 },   /* waits for room */
                { "res.srv", XOUS_MSG_SCALAR, OP_CALL, 32 },            /* waits for room, in xnsd */
        };
        enum { N = sizeof(calls) / sizeof(calls[0]), RECEIVED = 5, QUEUED = 9 };
        struct proc server, c[N];
        struct call_result res;
        xous_sid_t sid;
        unsigned baseline;

        open_own_link();
        baseline = daemon_fds(false);

        proc_start(&server, "server", driven_server, "res.srv");
        proc_recv_sid(&server);
        for (int i = 0; i < RECEIVED; i++) {
                start_call(&c[i], "received", &calls[i]);
                expect_received(&server, calls[i].kind, calls[i].seed);
                if (calls[i].kind == XOUS_MSG_MOVE) {
                        EXPECT_MSG(proc_recv_timeout(&c[i], &res, sizeof(res), 2000) == 1, "Move not sent");
                        EXPECT_ERR(res.error, XOUS_OK);
                }
        }
        for (int i = RECEIVED; i < N; i++) {
                start_call(&c[i], i < QUEUED ? "queued" : "waiting for room", &calls[i]);
                if (calls[i].kind == XOUS_MSG_MOVE || calls[i].kind == XOUS_MSG_SCALAR) {
                        EXPECT_MSG(proc_recv_timeout(&c[i], &res, sizeof(res), 2000) == 1, "Move not queued");
                        EXPECT_ERR(res.error, XOUS_OK);
                } else {
                        wait_call_routed(&c[i]);
                }
        }
        /* Segments in flight: the queued lend_mut, lend and Move. */
        EXPECT_MSG(daemon_fds(true) >= 3, "xnsd holds %u memfds with 3 segments queued", daemon_fds(true));
        proc_send_u32(&server, CMD_HANG);
        EXPECT_EQ(proc_recv_u32(&server), 5);
        EXPECT(kill(server.pid, SIGKILL) == 0);

        for (int i = 0; i < N; i++) {
                if (calls[i].kind == XOUS_MSG_MOVE || calls[i].kind == XOUS_MSG_SCALAR)
                        continue;       /* answered when sent */
                EXPECT_MSG(proc_recv_timeout(&c[i], &res, sizeof(res), 1000) == 1,
                           "caller %d (kind %u) not woken within 1 s of its server's death", i, calls[i].kind);
                /* The Scalar waiting for room too: it was never queued, so
                 * it is not "sent" (xnsd fails a dead process's servers
                 * before it frees the slots its received messages held). */
                EXPECT_MSG(res.error == XOUS_ERR_SERVER_NOT_FOUND, "caller %d (kind %u): %s", i, calls[i].kind,
                           harness_errname(res.error));
                EXPECT_MSG(res.intact, "caller %d: its buffer changed", i);
        }
        proc_wait_signal(&server, SIGKILL);
        for (int i = 0; i < N; i++) {
                proc_send_u32(&c[i], 0);
                proc_wait_exit(&c[i], 0);
        }
        /* The name is free, and nothing of the dead is left in xnsd. */
        EXPECT_OK(xous_register_name("res.srv", 0, &sid));
        EXPECT_OK(xous_unregister_server(sid));
        expect_daemon_fds_back(baseline);
}
END_TEST

/* --- callers die with messages in every state ----------------------------- */

/*
 * Callers SIGKILLed while the server holds their BlockingScalar, lend_mut
 * and lend (parked, buffers mapped) and their Move, and while their Move,
 * BlockingScalar, lend_mut and lend wait in the queue. The server answers
 * the dead (the answers go nowhere), still receives what they queued before
 * dying (the Move with its bytes intact), and goes on serving; xnsd releases
 * every segment.
 */
START_TEST(callers_killed_in_every_state) {
        struct call calls[] = {
                { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_PARK, 41 },
                { "res.srv", XOUS_MSG_MUTABLE_BORROW, OP_PARK, 42 },
                { "res.srv", XOUS_MSG_BORROW, OP_PARK, 43 },
                { "res.srv", XOUS_MSG_MOVE, OP_PARK, 44 },
                { "res.srv", XOUS_MSG_MOVE, OP_CALL, 51 },
                { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_CALL, 52 },
                { "res.srv", XOUS_MSG_MUTABLE_BORROW, OP_CALL, 53 },
                { "res.srv", XOUS_MSG_BORROW, OP_CALL, 54 },
        };
        enum { N = sizeof(calls) / sizeof(calls[0]), RECEIVED = 4 };
        bool seen[N] = { false };
        struct proc server, c[N], next;
        struct call_result res;
        struct call echo = { "res.srv", XOUS_MSG_BLOCKING_SCALAR, OP_ECHO, 77 };
        unsigned baseline;

        open_own_link();
        baseline = daemon_fds(false);
        proc_start(&server, "server", driven_server, "res.srv");
        proc_recv_sid(&server);
        for (int i = 0; i < RECEIVED; i++) {
                start_call(&c[i], "received", &calls[i]);
                expect_received(&server, calls[i].kind, calls[i].seed);
        }
        for (int i = RECEIVED; i < N; i++) {
                start_call(&c[i], "queued", &calls[i]);
                if (calls[i].kind == XOUS_MSG_MOVE) {
                        EXPECT_MSG(proc_recv_timeout(&c[i], &res, sizeof(res), 2000) == 1, "Move not queued");
                        EXPECT_ERR(res.error, XOUS_OK);
                } else {
                        wait_call_routed(&c[i]);
                }
        }
        EXPECT_MSG(daemon_fds(true) >= 3, "xnsd holds %u memfds with 3 segments queued", daemon_fds(true));
        for (int i = 0; i < N; i++)
                proc_kill(&c[i]);

        /* Answering the dead is harmless. */
        proc_send_u32(&server, CMD_ANSWER_ALL);
        EXPECT_EQ(proc_recv_u32(&server), 0);
        /* What they queued before dying is still delivered: exactly that, intact. */
        for (int n = 0; n < N - RECEIVED; n++) {
                struct seen s = server_receive(&server, CMD_TRY_RECEIVE);
                int i;

                EXPECT_MSG(s.got, "only %d of the dead callers' %d queued messages were delivered", n,
                           N - RECEIVED);
                for (i = RECEIVED; i < N; i++)
                        if (calls[i].kind == s.kind && calls[i].seed == s.seed)
                                break;
                EXPECT_MSG(i < N && !seen[i], "unexpected delivery: kind %u seed %u", s.kind, s.seed);
                seen[i] = true;
                if (s.kind <= XOUS_MSG_MOVE)
                        EXPECT_MSG(s.intact, "kind %u from a dead caller delivered with other bytes", s.kind);
        }
        EXPECT_EQ(server_receive(&server, CMD_TRY_RECEIVE).got, 0);
        proc_send_u32(&server, CMD_ANSWER_ALL);
        EXPECT_EQ(proc_recv_u32(&server), 0);

        /* The server goes on serving a live caller. */
        start_call(&next, "live caller", &echo);
        expect_received(&server, XOUS_MSG_BLOCKING_SCALAR, 77);
        proc_send_u32(&server, CMD_ANSWER_ALL);
        EXPECT_EQ(proc_recv_u32(&server), 0);
        EXPECT_MSG(proc_recv_timeout(&next, &res, sizeof(res), 2000) == 1, "the live caller was not answered");
        EXPECT_ERR(res.error, XOUS_OK);
        proc_send_u32(&next, 0);
        proc_wait_exit(&next, 0);
        proc_kill(&server);
        expect_daemon_fds_back(baseline);
}
END_TEST

/* --- a server that never answers ------------------------------------------ */

static void echo_round_trips(xous_cid_t cid, unsigned n, unsigned max_ms) {
        for (unsigned i = 0; i < n; i++) {
                xous_scalar_reply_t r;
                uint64_t t0 = now_ms();

                EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i + 1);
                EXPECT_MSG(now_ms() - t0 <= max_ms, "round trip %u took %llu ms", i,
                           (unsigned long long)(now_ms() - t0));
        }
}

/*
 * A server that receives and parks every message, and one that never
 * receives at all: their callers stay blocked (checked twice, 500 ms
 * apart), while round trips to a third server stay prompt. Killing the deaf
 * servers finally wakes their callers, with SERVER_NOT_FOUND.
 */
START_TEST(server_never_answers) {
        struct call parked = { "res.deaf", XOUS_MSG_BLOCKING_SCALAR, OP_PARK, 1 };
        struct call queued = { "res.mute", XOUS_MSG_MUTABLE_BORROW, OP_CALL, 2 };
        struct proc deaf, mute, echo, c[6];
        struct call_result res;
        xous_cid_t cid;

        proc_start(&deaf, "deaf server", driven_server, "res.deaf");
        proc_recv_sid(&deaf);
        proc_start(&mute, "mute server", driven_server, "res.mute");
        proc_recv_sid(&mute);
        proc_start(&echo, "echo", echo_server, "res.echo");
        proc_recv_sid(&echo);
        cid = connect_name("res.echo");
        for (int i = 0; i < 3; i++) {
                start_call(&c[i], "parked caller", &parked);
                expect_received(&deaf, XOUS_MSG_BLOCKING_SCALAR, 1);
        }
        for (int i = 3; i < 6; i++) {
                start_call(&c[i], "queued caller", &queued);
                wait_call_routed(&c[i]);
        }
        for (int round = 0; round < 2; round++) {
                echo_round_trips(cid, 200, 500);
                for (int i = 0; i < 6; i++)
                        EXPECT_MSG(proc_recv_timeout(&c[i], &res, sizeof(res), round ? 250 : 0) == 0,
                                   "caller %d of a server that never answers returned %s", i,
                                   harness_errname(res.error));
        }
        proc_kill(&deaf);
        proc_kill(&mute);
        for (int i = 0; i < 6; i++) {
                EXPECT_MSG(proc_recv_timeout(&c[i], &res, sizeof(res), 1000) == 1, "caller %d not woken", i);
                EXPECT_ERR(res.error, XOUS_ERR_SERVER_NOT_FOUND);
                EXPECT_MSG(res.intact, "caller %d: buffer changed", i);
                proc_send_u32(&c[i], 0);
                proc_wait_exit(&c[i], 0);
        }
        echo_stop(&echo, cid);
}
END_TEST

/* --- a client that never reads its replies -------------------------------- */

static void raw_send_request(int fd, const struct xns_request *req) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_request_encode(req, buf, sizeof(buf));

        EXPECT_MSG(n > 0, "xns_request_encode: %zd", n);
        EXPECT_MSG(xns_frame_send(fd, buf, (size_t)n, -1, false) == 0, "send: %s", strerror(errno));
}

static void raw_send_hello(int fd) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_HELLO };

        req.hello.version = XNS_PROTOCOL_VERSION;
        raw_send_request(fd, &req);
}

/* 1: an answer to seq came within timeout_ms; 0: none. */
static int raw_await(int fd, uint32_t seq, int timeout_ms) {
        uint8_t buf[XNS_FRAME_MAX];
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        struct xns_reply reply;
        ssize_t n;
        int rfd = -1;

        if (poll(&pfd, 1, timeout_ms) != 1)
                return 0;
        n = xns_frame_recv(fd, buf, sizeof(buf), &rfd, false);
        EXPECT_MSG(n > 0, "answer to %u: %s", seq, n == 0 ? "EOF" : strerror((int)-n));
        if (rfd >= 0)
                close(rfd);
        EXPECT_EQ(xns_reply_decode(&reply, buf, (size_t)n), 0);
        EXPECT_EQ(reply.seq, seq);
        EXPECT_ERR(reply.error, XOUS_OK);
        return 1;
}

/* Connects, says HELLO, sends requests without ever reading an answer, as
 * long as xnsd reads them (2 s at most), then reports how many went out and
 * whether xnsd cut the link; waits for the parent before closing. */
static void flooder(void *arg) {
        struct xns_request req = { .op = XNS_OP_TRUSTED_INIT_DONE };
        uint8_t buf[XNS_FRAME_MAX];
        uint64_t deadline = now_ms() + 2000;
        uint32_t report[2] = { 0, 0 };
        int fd = raw_connect();
        ssize_t n;

        (void)arg;
        raw_send_hello(fd);
        EXPECT(raw_await(fd, 1, 2000) == 1);
        for (;;) {
                int r;

                req.seq = report[0] + 2;
                n = xns_request_encode(&req, buf, sizeof(buf));
                EXPECT(n > 0);
                r = xns_frame_send(fd, buf, (size_t)n, -1, true);
                if (r == -EAGAIN) {
                        struct pollfd pfd = { .fd = fd, .events = POLLOUT };

                        if (now_ms() > deadline || poll(&pfd, 1, (int)(deadline - now_ms())) == 0)
                                break;  /* xnsd stopped reading us */
                        continue;
                }
                if (r < 0) {
                        report[1] = 1;  /* cut */
                        break;
                }
                report[0]++;
                EXPECT_MSG(now_ms() < deadline, "xnsd read %u requests in 2 s from a link that never "
                           "reads its answers, without cutting it or pausing it", report[0]);
        }
        parent_send(report, sizeof(report));
        parent_recv_u32();
        close(fd);
}

/*
 * Floods of requests from links that never read their answers: xnsd stops
 * reading such a link (or cuts it) after a bounded number of frames instead
 * of buffering answers without end, everyone else keeps being served
 * meanwhile, and when the flooders go away so do their descriptors.
 */
START_TEST(flood_without_reading) {
        struct proc echo, flood[4];
        uint32_t report[2];
        unsigned baseline;
        xous_cid_t cid;

        proc_start(&echo, "echo", echo_server, "res.echo");
        proc_recv_sid(&echo);
        cid = connect_name("res.echo");
        baseline = daemon_fds(false);
        for (int i = 0; i < 4; i++)
                proc_start(&flood[i], "flooder", flooder, NULL);
        echo_round_trips(cid, 200, 500);
        for (int i = 0; i < 4; i++) {
                proc_recv(&flood[i], report, sizeof(report));
                /* The answers to what it sent fit in xnsd's queue for the link
                 * plus what the sockets hold: a few hundred at most. */
                EXPECT_MSG(report[0] < 2000, "flooder %d: %u requests read", i, report[0]);
                fprintf(stderr, "flooder %d: %u requests taken, link %s\n", i, report[0],
                        report[1] ? "cut" : "paused");
        }
        echo_round_trips(cid, 200, 500);
        for (int i = 0; i < 4; i++) {
                proc_send_u32(&flood[i], 0);
                proc_wait_exit(&flood[i], 0);
        }
        echo_round_trips(cid, 20, 500);
        expect_daemon_fds_back(baseline);
        echo_stop(&echo, cid);
}
END_TEST

/* --- a slow server beside a fast one -------------------------------------- */

/* Answers each message after 50 ms. */
static void slow_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("res.slow", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                sleep_ms(50);
                if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                        EXPECT_OK(xous_return_scalar(env, 1));
                xous_envelope_drop(env);
        }
}

/* Calls the slow server forever: blocking, or fire-and-forget when arg is
 * set (then it mostly waits for room in the full queue). */
static void slow_caller(void *arg) {
        xous_cid_t cid = connect_name("res.slow");

        parent_send_u32(1);
        for (;;) {
                xous_scalar_reply_t r;

                if (arg)
                        EXPECT_OK(xous_send_scalar(cid, OP_SLOW, 0, 0, 0, 0));
                else
                        EXPECT_OK(xous_blocking_scalar(cid, OP_SLOW, 0, 0, 0, 0, &r));
        }
}

/*
 * 1000 round trips to a fast server while a slow one (50 ms a message) has
 * a full queue, callers blocked on it and senders waiting for room. No
 * head-of-line blocking: all 1000 within 5 s, and a round trip over 40 ms
 * (less than one slow message) at most a handful of times (scheduling on a
 * loaded machine), never over 1 s; blocking behind the slow server would
 * cost each call up to 50 ms.
 */
START_TEST(slow_server_beside_fast) {
        struct proc slow, echo, callers[10];
        uint64_t t0, total, worst = 0;
        unsigned over = 0;
        xous_cid_t cid;

        proc_start(&slow, "slow server", slow_server, NULL);
        proc_recv_sid(&slow);
        proc_start(&echo, "echo", echo_server, "res.echo");
        proc_recv_sid(&echo);
        cid = connect_name("res.echo");
        for (int i = 0; i < 10; i++) {
                proc_start(&callers[i], i < 6 ? "blocked caller" : "stalled sender", slow_caller,
                           i < 6 ? NULL : (void *)1);
                EXPECT_EQ(proc_recv_u32(&callers[i]), 1);
        }
        harness_wait_name("res.slow", 8, 1, 0); /* a full queue (depth 8), senders waiting for room */
        t0 = now_ms();
        for (uint32_t i = 0; i < 1000; i++) {
                xous_scalar_reply_t r;
                uint64_t t = now_ms(), ms;

                EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i + 1);
                ms = now_ms() - t;
                over += ms > 40;
                worst = ms > worst ? ms : worst;
        }
        total = now_ms() - t0;
        fprintf(stderr, "slow_server_beside_fast: 1000 round trips in %llu ms, worst %llu ms, %u over 40 ms\n",
                (unsigned long long)total, (unsigned long long)worst, over);
        EXPECT_MSG(total < 5000, "1000 round trips took %llu ms", (unsigned long long)total);
        EXPECT_MSG(over <= 5 && worst < 1000, "%u round trips over 40 ms, worst %llu ms", over,
                   (unsigned long long)worst);
        for (int i = 0; i < 10; i++)
                proc_kill(&callers[i]);
        proc_kill(&slow);
        echo_stop(&echo, cid);
}
END_TEST

/* --- xnsd out of descriptors ---------------------------------------------- */

#define FD_LIMIT 32

static void limit_fds(void) {
        struct rlimit rl = { FD_LIMIT, FD_LIMIT };

        setrlimit(RLIMIT_NOFILE, &rl);  /* hard too: xnsd raises soft to hard */
}

static void setup_few_fds(void) {
        harness_daemon_start_setup(NULL, true, limit_fds);
}

/* One round trip to the echo server from a new process. */
static void echo_once(void *arg) {
        xous_cid_t cid = connect_name("res.echo");
        xous_scalar_reply_t r;

        (void)arg;
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 5, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 6);
}

/*
 * xnsd limited to 32 descriptors: links are opened until one is not
 * accepted. xnsd stays up, logs it, keeps serving the links it has, and
 * takes the waiting link (and new ones) once some close.
 */
START_TEST(daemon_out_of_descriptors) {
        struct xns_request req = { .op = XNS_OP_TRUSTED_INIT_DONE };
        struct proc echo, later;
        int links[FD_LIMIT + 8], nlinks = 0, waiting = -1;
        uint64_t deadline;
        xous_cid_t cid;
        char *log;

        /* valgrind keeps descriptors of its own below the limit it is given:
         * the numbers here would be valgrind's, not xnsd's. */
        if (getenv("XNSD_WRAPPER") && *getenv("XNSD_WRAPPER")) {
                fprintf(stderr, "SKIP daemon_out_of_descriptors: xnsd runs under %s\n", getenv("XNSD_WRAPPER"));
                return;
        }
        proc_start(&echo, "echo", echo_server, "res.echo");
        proc_recv_sid(&echo);
        cid = connect_name("res.echo");
        while (nlinks < FD_LIMIT + 8) {
                int fd = raw_connect();

                raw_send_hello(fd);
                if (!raw_await(fd, 1, 500)) {
                        waiting = fd;
                        break;
                }
                links[nlinks++] = fd;
        }
        EXPECT_MSG(waiting >= 0, "xnsd took %d links with %d descriptors", nlinks, FD_LIMIT);
        EXPECT_MSG(daemon_fds(false) >= FD_LIMIT - 1, "xnsd refused a link with %u of %d descriptors open",
                   daemon_fds(false), FD_LIMIT);
        deadline = now_ms() + 2000;
        while (!strstr((log = harness_daemon_log()), "cannot accept a link")) {
                EXPECT_MSG(now_ms() < deadline, "xnsd did not log the failed accept; log:\n%s", log);
                free(log);
                sleep_ms(10);
        }
        free(log);

        /* Still serving what it has: over an old link and the echo pair, for 1.5 s. */
        for (int i = 0; i < 3; i++) {
                req.seq = 100 + i;
                raw_send_request(links[0], &req);
                EXPECT_MSG(raw_await(links[0], req.seq, 1000), "an established link is not served");
                echo_round_trips(cid, 20, 500);
                sleep_ms(500);
        }
        EXPECT_MSG(!raw_await(waiting, 1, 0), "a link was answered beyond the descriptor limit");

        /* Descriptors free again: the waiting link and a new process get in. */
        for (int i = 0; i < 4; i++)
                close(links[--nlinks]);
        EXPECT_MSG(raw_await(waiting, 1, 3000), "the waiting link was not accepted within 3 s of room");
        links[nlinks++] = waiting;
        proc_start(&later, "new process", echo_once, NULL);
        proc_wait_exit(&later, 0);
        while (nlinks > 0)
                close(links[--nlinks]);
        echo_stop(&echo, cid);
}
END_TEST

/* --- xnsd restarted under its clients ------------------------------------- */

/* Serves echo on "res.srv" (and parks OP_PARK); when xnsd goes away its receive answers
 * UNAVAILABLE: it reports that, waits for the word, and serves again under
 * the same name on the new daemon. */
static void echo_until_restart(void *arg) {
        xous_envelope_t *parked = NULL;
        xous_sid_t sid;

        (void)arg;
        for (int life = 0; life < 2; life++) {
                EXPECT_OK(xous_register_name("res.srv", 0, &sid));
                parent_send_sid(sid);
                for (;;) {
                        xous_envelope_t *env = NULL;
                        xous_error_t e = xous_receive_message(sid, &env);

                        if (e != XOUS_OK) {
                                parent_send_u32(e);
                                break;
                        }
                        if (xous_envelope_id(env) == OP_PARK) {
                                parked = env;   /* its caller stays blocked */
                                continue;
                        }
                        if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                                EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
                        xous_envelope_drop(env);
                }
                xous_envelope_drop(parked);        /* no daemon: harmless */
                parked = NULL;
                parent_recv_u32();
        }
}

static void *echo_call_thread(void *arg) {
        xous_cid_t *cid = arg;
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(*cid, OP_ECHO, 40, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 41);
        return NULL;
}

/* A caller with links from two threads: works, is blocked in a call when
 * xnsd dies (UNAVAILABLE at once), then, on the word, works again on the
 * new daemon from both threads. */
static void caller_across_restart(void *arg) {
        xous_cid_t cid = connect_name("res.srv");
        xous_scalar_reply_t r;
        pthread_t t;
        uint64_t t0;

        (void)arg;
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 1, 0, 0, 0, &r));
        thread_start(&t, echo_call_thread, &cid);
        thread_join(t, HARNESS_WAIT_MS);
        parent_send_u32(1);
        t0 = now_ms();
        EXPECT_ERR(xous_blocking_scalar(cid, OP_PARK, 0, 0, 0, 0, &r), XOUS_ERR_UNAVAILABLE);
        parent_send_u32((uint32_t)(now_ms() - t0));
        parent_recv_u32();
        /* A new daemon: the old CID means nothing there, the name does. */
        cid = connect_name("res.srv");
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 2, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 3);
        thread_start(&t, echo_call_thread, &cid);
        thread_join(t, HARNESS_WAIT_MS);
        parent_send_u32(2);
}

/*
 * SIGKILL xnsd under a server, a caller blocked in a call and the test
 * itself; all see UNAVAILABLE promptly. A new xnsd on the same socket path:
 * the same processes register, connect and call again, with no restart of
 * their own.
 */
START_TEST(daemon_restart) {
        struct proc server, caller;
        xous_scalar_reply_t r;
        xous_sid_t sid;
        xous_cid_t cid;
        uint64_t t0;
        uint32_t e;

        proc_start(&server, "server", echo_until_restart, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", caller_across_restart, NULL);
        EXPECT_EQ(proc_recv_u32(&caller), 1);
        wait_call_routed(&caller);
        cid = connect_name("res.srv");
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 7, 0, 0, 0, &r));
        EXPECT_OK(xous_register_name("res.mine", 0, &sid));

        harness_daemon_kill(SIGKILL);
        EXPECT_MSG(proc_recv_timeout(&server, &e, sizeof(e), 1000) == 1, "the server's receive did not fail within 1 s");
        EXPECT_ERR(e, XOUS_ERR_UNAVAILABLE);
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), 1000) == 1, "the blocked caller did not wake within 1 s");
        EXPECT_MSG(e < 1000, "the blocked caller woke after %u ms", e);
        t0 = now_ms();
        EXPECT_ERR(xous_blocking_scalar(cid, OP_ECHO, 7, 0, 0, 0, &r), XOUS_ERR_UNAVAILABLE);
        EXPECT_MSG(now_ms() - t0 < 1000, "UNAVAILABLE took %llu ms", (unsigned long long)(now_ms() - t0));

        harness_daemon_restart(NULL);
        /* The old daemon's state is gone: the test's name is free, its CID void. */
        EXPECT_ERR(xous_blocking_scalar(cid, OP_ECHO, 7, 0, 0, 0, &r), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_OK(xous_register_name("res.mine", 0, &sid));
        proc_send_u32(&server, 1);
        proc_recv_sid(&server);
        proc_send_u32(&caller, 1);
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), 5000) == 1, "the caller does not work after the restart");
        EXPECT_EQ(e, 2);
        proc_wait_exit(&caller, 0);
        cid = connect_name("res.srv");
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 8, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 9);
        EXPECT_OK(xous_unregister_server(sid));
        proc_kill(&server);
}
END_TEST

static void setup_depth8(void) {
        harness_daemon_start(8);        /* server_killed_in_every_state: 4 unanswered + 4 queued */
}

int main(void) {
        Suite *s = suite_create("resilience");

        harness_add_test(s, server_killed_in_every_state, setup_depth8, harness_teardown);
        HARNESS_ADD(s, callers_killed_in_every_state);
        HARNESS_ADD(s, server_never_answers);
        HARNESS_ADD(s, flood_without_reading);
        harness_add_test(s, slow_server_beside_fast, setup_depth8, harness_teardown);
        harness_add_test(s, daemon_out_of_descriptors, setup_few_fds, harness_teardown);
        HARNESS_ADD(s, daemon_restart);
        return harness_run(s);
}
