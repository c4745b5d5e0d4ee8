/* test-fault.c: dying servers, callers and daemons, destroyed servers, and
 * hostile clients. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "memfd.h"
#include "wire.h"

enum { OP_CALL = 1, OP_PARK, OP_ANSWER, OP_ECHO, OP_QUIT };

/* --- a server dies under a blocked caller ------------------------------- */

/* Receives one message, says so, and waits to be killed. */
static void receive_then_hang(void *arg) {
        xous_sid_t sid;
        xous_envelope_t *env = NULL;

        (void)arg;
        EXPECT_OK(xous_register_name("fault", 0, &sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &env));
        parent_send_u32(xous_envelope_kind(env));
        for (;;)
                pause();
}

static void call_blocking_scalar(void *arg) {
        xous_cid_t cid = connect_name("fault");
        xous_scalar_reply_t r;

        (void)arg;
        parent_send_u32(xous_blocking_scalar(cid, OP_CALL, 1, 2, 3, 4, &r));
}

/* Reports the lend_mut's result, whether the buffer still holds the
 * caller's bytes, and whether offset/valid are untouched. */
static void call_lend_mut(void *arg) {
        xous_cid_t cid = connect_name("fault");
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(2 * PAGE);
        uint32_t offset = 5, valid = 6;
        uint32_t r[3];

        (void)arg;
        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), 2 * PAGE, 0xfa17);
        r[0] = xous_lend_mut(cid, OP_CALL, buf, &offset, &valid);
        r[1] = check_pattern(xous_buf_data(buf), 2 * PAGE, 0xfa17);
        memset(xous_buf_data(buf), 0, 2 * PAGE);       /* still ours, and writable */
        r[2] = offset == 5 && valid == 6;
        parent_send(r, sizeof(r));
}

static void server_killed_under(void (*caller_fn)(void *), uint32_t kind, uint32_t *result, size_t len) {
        struct proc server, caller;
        xous_sid_t sid;

        proc_start(&server, "server", receive_then_hang, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", caller_fn, NULL);
        EXPECT_EQ(proc_recv_u32(&server), kind);
        EXPECT(kill(server.pid, SIGKILL) == 0);
        EXPECT_MSG(proc_recv_timeout(&caller, result, len, 1000) == 1,
                   "the caller was not woken within 1 s of its server's death");
        proc_wait_exit(&caller, 0);
        proc_wait_signal(&server, SIGKILL);
        /* The dead server's name is free again. */
        EXPECT_OK(xous_register_name("fault", 0, &sid));
}

START_TEST(server_killed_wakes_blocking_scalar) {
        uint32_t e;

        server_killed_under(call_blocking_scalar, XOUS_MSG_BLOCKING_SCALAR, &e, sizeof(e));
        EXPECT_ERR(e, XOUS_ERR_SERVER_NOT_FOUND);
}
END_TEST

START_TEST(server_killed_wakes_lend_mut) {
        uint32_t r[3];

        server_killed_under(call_lend_mut, XOUS_MSG_MUTABLE_BORROW, r, sizeof(r));
        EXPECT_ERR(r[0], XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_MSG(r[1], "the caller's buffer changed");
        EXPECT_MSG(r[2], "offset/valid changed on a failed lend_mut");
}
END_TEST

/* --- destroy_server ------------------------------------------------------ */

/* An anonymous server that never receives; destroys itself when told. */
static void destroy_when_told(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_create_server(&sid));
        parent_send_sid(sid);
        parent_recv_u32();
        parent_send_u32(xous_destroy_server(sid));
        parent_recv_u32();
}

struct queued_caller {
        xous_sid_t sid;
        bool lend;
};

static void queued_call(void *arg) {
        struct queued_caller *q = arg;
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        xous_scalar_reply_t r;
        uint32_t offset = 0, valid = 0, res[2];
        xous_cid_t cid;

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), PAGE, 0xde57);
        EXPECT_OK(xous_try_connect(q->sid, &cid));
        parent_send_u32(1);
        if (q->lend)
                res[0] = xous_lend_mut(cid, OP_CALL, buf, &offset, &valid);
        else
                res[0] = xous_blocking_scalar(cid, OP_CALL, 0, 0, 0, 0, &r);
        res[1] = check_pattern(xous_buf_data(buf), PAGE, 0xde57);
        parent_send(res, sizeof(res));
}

START_TEST(destroy_wakes_queued_callers) {
        struct proc server, c[2];
        struct queued_caller q[2];
        uint32_t res[2];

        proc_start(&server, "server", destroy_when_told, NULL);
        q[0] = (struct queued_caller){ .sid = proc_recv_sid(&server), .lend = false };
        q[1] = (struct queued_caller){ .sid = q[0].sid, .lend = true };
        for (int i = 0; i < 2; i++) {
                proc_start(&c[i], "caller", queued_call, &q[i]);
                proc_recv_u32(&c[i]);
        }
        harness_wait_pending_calls(2);  /* both calls in the queue of the server */
        proc_send_u32(&server, 1);
        EXPECT_ERR(proc_recv_u32(&server), XOUS_OK);
        for (int i = 0; i < 2; i++) {
                EXPECT_MSG(proc_recv_timeout(&c[i], res, sizeof(res), 1000) == 1,
                           "queued caller %d not woken within 1 s of destroy_server", i);
                EXPECT_ERR(res[0], XOUS_ERR_SERVER_NOT_FOUND);
                EXPECT_MSG(res[1], "caller %d: lent buffer changed", i);
                proc_wait_exit(&c[i], 0);
        }
        proc_send_u32(&server, 1);
        proc_wait_exit(&server, 0);
}
END_TEST

static void destroy_while_holding(void *arg) {
        xous_sid_t sid;
        xous_envelope_t *env = NULL;

        (void)arg;
        EXPECT_OK(xous_create_server(&sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &env));
        EXPECT_ERR(xous_destroy_server(sid), XOUS_ERR_SERVER_QUEUE_FULL);
        EXPECT_OK(xous_return_scalar(env, 77));
        xous_envelope_drop(env);
        EXPECT_OK(xous_destroy_server(sid));
}

START_TEST(destroy_refused_while_unanswered) {
        struct proc server;
        xous_scalar_reply_t r;
        xous_cid_t cid;

        proc_start(&server, "server", destroy_while_holding, NULL);
        EXPECT_OK(xous_connect(proc_recv_sid(&server), &cid));
        EXPECT_OK(xous_blocking_scalar(cid, OP_CALL, 0, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 77);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- a caller dies while parked ------------------------------------------ */

static void parking_server(void *arg) {
        xous_envelope_t *parked[4];
        uint32_t nparked = 0;
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("fault", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                switch (xous_envelope_id(env)) {
                case OP_PARK:
                        EXPECT(nparked < 4);
                        parked[nparked++] = env;
                        parent_send_u32(nparked);
                        continue;
                case OP_ANSWER:
                        while (nparked > 0) {
                                xous_envelope_t *p = parked[--nparked];

                                if (xous_envelope_kind(p) == XOUS_MSG_BLOCKING_SCALAR) {
                                        EXPECT_OK(xous_return_scalar(p, 1234));
                                } else {
                                        memset(xous_envelope_buf(p), 0x5a, xous_envelope_buf_len(p));
                                        xous_envelope_set_offset_valid(p, 1, 2);
                                }
                                xous_envelope_drop(p);
                        }
                        parent_send_u32(0);
                        break;
                case OP_ECHO:
                        EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
                        break;
                case OP_QUIT:
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

static void park_and_report(void *arg) {
        xous_cid_t cid = connect_name("fault");
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        xous_scalar_reply_t r = { 0 };
        uint32_t offset = 0, valid = 0;

        EXPECT(buf);
        if (arg) {
                EXPECT_OK(xous_lend_mut(cid, OP_PARK, buf, &offset, &valid));
                EXPECT_EQ(((unsigned char *)xous_buf_data(buf))[PAGE - 1], 0x5a);
                parent_send_u32(offset);
        } else {
                EXPECT_OK(xous_blocking_scalar(cid, OP_PARK, 0, 0, 0, 0, &r));
                parent_send_u32(r.v[0]);
        }
}

START_TEST(caller_killed_while_parked) {
        struct proc server, doomed[2], next;
        xous_scalar_reply_t r;
        xous_cid_t cid;

        proc_start(&server, "server", parking_server, NULL);
        proc_recv_sid(&server);
        proc_start(&doomed[0], "blocking scalar caller", park_and_report, NULL);
        EXPECT_EQ(proc_recv_u32(&server), 1);
        proc_start(&doomed[1], "lend_mut caller", park_and_report, (void *)1);
        EXPECT_EQ(proc_recv_u32(&server), 2);
        proc_kill(&doomed[0]);
        proc_kill(&doomed[1]);
        harness_wait_peer_gone(doomed[0].pid);
        harness_wait_peer_gone(doomed[1].pid);
        /* Answering the dead callers is harmless... */
        cid = connect_name("fault");
        EXPECT_OK(xous_send_scalar(cid, OP_ANSWER, 0, 0, 0, 0));
        EXPECT_EQ(proc_recv_u32(&server), 0);
        /* ...and the server goes on serving. */
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 9, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 10);
        proc_start(&next, "next caller", park_and_report, NULL);
        EXPECT_EQ(proc_recv_u32(&server), 1);
        EXPECT_OK(xous_send_scalar(cid, OP_ANSWER, 0, 0, 0, 0));
        EXPECT_EQ(proc_recv_u32(&server), 0);
        EXPECT_EQ(proc_recv_u32(&next), 1234);
        proc_wait_exit(&next, 0);
        EXPECT_OK(xous_send_scalar(cid, OP_QUIT, 0, 0, 0, 0));
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- no daemon ------------------------------------------------------------ */

/* Runs call, which must answer UNAVAILABLE within 1 s; every call is tried
 * and the mismatches are reported together by expect_all_unavailable(). */
static __thread char unavailable_errors[2048];

#define EXPECT_UNAVAILABLE(call)                                                        \
        do {                                                                            \
                uint64_t _t0 = now_ms();                                                \
                xous_error_t _e = (call);                                               \
                uint64_t _ms = now_ms() - _t0;                                          \
                size_t _n = strlen(unavailable_errors);                                 \
                if (_e != XOUS_ERR_UNAVAILABLE || _ms >= 1000)                          \
                        snprintf(unavailable_errors + _n, sizeof(unavailable_errors) - _n, \
                                 "\n  %s: %s after %llu ms", #call, harness_errname(_e), \
                                 (unsigned long long)_ms);                              \
        } while (0)

static void expect_all_unavailable(void) {
        EXPECT_MSG(!unavailable_errors[0], "calls that did not answer UNAVAILABLE within 1 s:%s",
                   unavailable_errors);
}

static void calls_without_daemon(void) {
        xous_sid_t sid;
        xous_cid_t cid;
        bool done;

        EXPECT_UNAVAILABLE(xous_register_name("fault.none", 0, &sid));
        EXPECT_UNAVAILABLE(xous_request_connection("fault.none", &cid));
        EXPECT_UNAVAILABLE(xous_request_connection_blocking("fault.none", &cid));
        EXPECT_UNAVAILABLE(xous_trusted_init_done(&done));
        EXPECT_UNAVAILABLE(xous_create_server(&sid));
        EXPECT_UNAVAILABLE(xous_try_connect(random_sid(), &cid));
        EXPECT_UNAVAILABLE(xous_connect(random_sid(), &cid));
        expect_all_unavailable();
}

static void *calls_without_daemon_thread(void *arg) {
        (void)arg;
        calls_without_daemon();
        return NULL;
}

static void fresh_process_no_socket(void *arg) {
        (void)arg;
        setenv("XOUS_SOCKET", "/nonexistent/xns.sock", 1);
        calls_without_daemon();
}

START_TEST(daemon_not_running) {
        struct proc child;
        pthread_t t;

        harness_daemon_kill(SIGKILL);
        /* The socket file is left behind, refusing connections. */
        calls_without_daemon();
        thread_start(&t, calls_without_daemon_thread, NULL);
        thread_join(t, HARNESS_WAIT_MS);
        /* No socket file at all. */
        proc_start(&child, "no socket", fresh_process_no_socket, NULL);
        proc_wait_exit(&child, 0);
}
END_TEST

/* Answers one blocking scalar on "fault.live", then idles until the test ends. */
static void answer_once_then_idle(void *arg) {
        xous_sid_t sid;
        xous_envelope_t *env = NULL;

        (void)arg;
        EXPECT_OK(xous_register_name("fault.live", 0, &sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &env));
        EXPECT_OK(xous_return_scalar(env, 1));
        xous_envelope_drop(env);
        parent_recv_u32();
}

struct live_client {
        xous_cid_t cid;
        xous_sid_t own;
};

static void *blocking_scalar_without_daemon(void *arg) {
        struct live_client *c = arg;
        xous_scalar_reply_t r;

        EXPECT_UNAVAILABLE(xous_blocking_scalar(c->cid, OP_ECHO, 0, 0, 0, 0, &r));
        expect_all_unavailable();
        return NULL;
}

START_TEST(daemon_gone_under_live_client) {
        struct proc server;
        struct live_client c;
        xous_scalar_reply_t r;
        xous_envelope_t *env = NULL;
        xous_buf_t *move;
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t offset = 0, valid = 0;
        xous_error_t move_e;
        pthread_t t;

        EXPECT(buf);
        proc_start(&server, "server", answer_once_then_idle, NULL);
        proc_recv_sid(&server);
        c.cid = connect_name("fault.live");
        EXPECT_OK(xous_blocking_scalar(c.cid, OP_ECHO, 1, 0, 0, 0, &r));
        EXPECT_OK(xous_create_server(&c.own));
        move = xous_buf_new(PAGE);
        EXPECT(move);
        fill_pattern(xous_buf_data(move), PAGE, 0x90);

        harness_daemon_kill(SIGKILL);
        EXPECT_UNAVAILABLE(xous_send_scalar(c.cid, OP_ECHO, 0, 0, 0, 0));
        EXPECT_UNAVAILABLE(xous_try_send_scalar(c.cid, OP_ECHO, 0, 0, 0, 0));
        EXPECT_UNAVAILABLE(xous_blocking_scalar(c.cid, OP_ECHO, 0, 0, 0, 0, &r));
        EXPECT_UNAVAILABLE(move_e = xous_send(c.cid, OP_ECHO, move, 0, 0));
        if (move_e != XOUS_OK) {
                EXPECT_MSG(check_pattern(xous_buf_data(move), PAGE, 0x90), "a failed Move lost the caller's buffer");
                xous_buf_free(move);
        }
        EXPECT_UNAVAILABLE(xous_lend(c.cid, OP_ECHO, buf, 0, 0));
        EXPECT_UNAVAILABLE(xous_lend_mut(c.cid, OP_ECHO, buf, &offset, &valid));
        EXPECT_UNAVAILABLE(xous_receive_message(c.own, &env));
        EXPECT_UNAVAILABLE(xous_try_receive_message(c.own, &env));
        EXPECT_UNAVAILABLE(xous_destroy_server(c.own));
        /* Asking again changes nothing. */
        EXPECT_UNAVAILABLE(xous_send_scalar(c.cid, OP_ECHO, 0, 0, 0, 0));
        EXPECT_UNAVAILABLE(xous_blocking_scalar(c.cid, OP_ECHO, 0, 0, 0, 0, &r));
        expect_all_unavailable();
        thread_start(&t, blocking_scalar_without_daemon, &c);
        thread_join(t, HARNESS_WAIT_MS);
        calls_without_daemon();
        proc_kill(&server);
}
END_TEST

/* Parks one message, then receives again (no daemon by then). */
static void park_then_receive(void *arg) {
        xous_envelope_t *parked = NULL, *env = NULL;
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("fault", 0, &sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &parked));
        parent_send_u32(1);
        parent_send_u32(xous_receive_message(sid, &env));
        xous_envelope_drop(parked);     /* harmless without a daemon */
}

START_TEST(daemon_killed_under_blocked_caller) {
        struct proc server, caller;
        uint32_t e;

        proc_start(&server, "server", park_then_receive, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", call_blocking_scalar, NULL);
        EXPECT_EQ(proc_recv_u32(&server), 1);
        harness_daemon_kill(SIGKILL);
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), 1000) == 1,
                   "the blocked caller was not woken within 1 s of xnsd's death");
        EXPECT_ERR(e, XOUS_ERR_UNAVAILABLE);
        EXPECT_MSG(proc_recv_timeout(&server, &e, sizeof(e), 1000) == 1,
                   "the receiving server was not woken within 1 s of xnsd's death");
        EXPECT_ERR(e, XOUS_ERR_UNAVAILABLE);
        proc_wait_exit(&caller, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

/* Waits for a name that never comes, and reports how the wait ended. Its
 * link is open before it says so (proc_wait_blocked()). */
static void wait_for_missing_name(void *arg) {
        xous_cid_t cid;
        bool done;

        (void)arg;
        EXPECT_OK(xous_trusted_init_done(&done));
        parent_send_u32(1);
        parent_send_u32(xous_request_connection_blocking("fault.never", &cid));
}

/* SIGTERM is an orderly stop: every parked request is answered with
 * UNAVAILABLE before xnsd exits (test-systemd checks it exits 0), so
 * nobody waits on a dead socket. */
START_TEST(daemon_stopped_answers_parked_requests) {
        struct proc server, caller, waiter;
        uint32_t e;

        proc_start(&server, "server", park_then_receive, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", call_blocking_scalar, NULL);
        EXPECT_EQ(proc_recv_u32(&server), 1);
        proc_start(&waiter, "waiter", wait_for_missing_name, NULL);
        EXPECT_EQ(proc_recv_u32(&waiter), 1);
        proc_wait_blocked(&waiter);
        harness_daemon_kill(SIGTERM);
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), 1000) == 1, "the blocked caller was not answered");
        EXPECT_ERR(e, XOUS_ERR_UNAVAILABLE);
        EXPECT_MSG(proc_recv_timeout(&server, &e, sizeof(e), 1000) == 1, "the receiving server was not answered");
        EXPECT_ERR(e, XOUS_ERR_UNAVAILABLE);
        EXPECT_MSG(proc_recv_timeout(&waiter, &e, sizeof(e), 1000) == 1, "the name waiter was not answered");
        EXPECT_ERR(e, XOUS_ERR_UNAVAILABLE);
        proc_wait_exit(&caller, 0);
        proc_wait_exit(&server, 0);
        proc_wait_exit(&waiter, 0);
}
END_TEST

/* --- hostile clients ------------------------------------------------------ */

/* Sends one datagram with the descriptors fds[0..nfds) attached. */
static void raw_send_fds(int fd, const void *buf, size_t len, const int *fds, int nfds) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(16 * sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

        EXPECT(nfds <= 16);
        memset(&control, 0, sizeof(control));
        if (nfds > 0) {
                struct cmsghdr *c;

                m.msg_control = control.b;
                m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
                c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
                memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
        }
        EXPECT_MSG(sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)len, "sendmsg: %s", strerror(errno));
}

/* Sends one datagram with nfds descriptors (of /dev/null) attached. */
static void raw_send(int fd, const void *buf, size_t len, int nfds) {
        int fds[16];

        EXPECT(nfds <= 16);
        for (int i = 0; i < nfds; i++)
                EXPECT((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
        raw_send_fds(fd, buf, len, fds, nfds);
        for (int i = 0; i < nfds; i++)
                close(fds[i]);
}

static size_t encode(const struct xns_request *req, void *buf, size_t size) {
        ssize_t n = xns_request_encode(req, buf, size);

        EXPECT_MSG(n > 0, "xns_request_encode: %zd", n);
        return (size_t)n;
}

static size_t encode_hello(void *buf, size_t size) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_HELLO };

        req.hello.version = XNS_PROTOCOL_VERSION;
        return encode(&req, buf, size);
}

/* A proper HELLO, answered without error: the link is established. */
static void raw_hello(int fd) {
        char buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        raw_send(fd, buf, encode_hello(buf, sizeof(buf)), 0);
        EXPECT_MSG(poll(&pfd, 1, 2000) == 1, "no answer to HELLO within 2 s");
        n = recv(fd, buf, sizeof(buf), 0);
        EXPECT_MSG(n > 0, "HELLO answered by %s", n == 0 ? "EOF" : strerror(errno));
        EXPECT_EQ(xns_reply_decode(&reply, buf, (size_t)n), 0);
        EXPECT_EQ(reply.seq, 1);
        EXPECT_ERR(reply.error, XOUS_OK);
}

/* The daemon must close the link within 2 s; any frames before the end are
 * ignored. */
static void expect_disconnected(int fd, const char *what) {
        uint64_t deadline = now_ms() + 2000;
        char buf[XNS_FRAME_MAX];

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = (int64_t)deadline - (int64_t)now_ms();
                ssize_t n;

                EXPECT_MSG(left > 0 && poll(&pfd, 1, (int)left) == 1,
                           "%s: the daemon kept the link open for 2 s", what);
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
                        break;
        }
        close(fd);
}

/* Caller of the normal pair: on each number n from the parent, n echo
 * round trips, then n back. */
static void pair_caller(void *arg) {
        xous_cid_t cid = connect_name("fault.echo");

        (void)arg;
        for (;;) {
                uint32_t n = parent_recv_u32();
                xous_scalar_reply_t r;

                if (n == 0)
                        return;
                for (uint32_t i = 0; i < n; i++) {
                        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, i, 0, 0, 0, &r));
                        EXPECT_EQ(r.v[0], i + 1);
                }
                parent_send_u32(n);
        }
}

static void pair_works(struct proc *caller) {
        proc_send_u32(caller, 20);
        EXPECT_EQ(proc_recv_u32(caller), 20);
}

START_TEST(garbage_frames_disconnect) {
        struct proc server, caller;
        char frame[XNS_FRAME_MAX], noise[256];
        char *big = calloc(1, 64 * 1024);
        struct xns_request req = { .seq = 2, .op = XNS_OP_REGISTER_NAME };
        size_t len;
        unsigned baseline;
        uint64_t deadline;
        xous_cid_t cid;
        int fd;

        EXPECT(big);
        EXPECT(getrandom(noise, sizeof(noise), 0) == sizeof(noise));
        memset(noise, 0xff, 8);         /* an unterminated varint: never valid */
        memset(big, 0x08, 64 * 1024);
        proc_start(&server, "echo", echo_server, "fault.echo");
        proc_recv_sid(&server);
        proc_start(&caller, "pair caller", pair_caller, NULL);
        pair_works(&caller);
        cid = connect_name("fault.echo");
        baseline = proc_fds(harness_daemon_pid(), NULL);

        /* Random bytes as the first frame, and after a HELLO. */
        fd = raw_connect();
        raw_send(fd, noise, sizeof(noise), 0);
        pair_works(&caller);
        expect_disconnected(fd, "random bytes");
        fd = raw_connect();
        raw_hello(fd);
        raw_send(fd, noise, sizeof(noise), 0);
        expect_disconnected(fd, "random bytes after HELLO");
        pair_works(&caller);

        /* A truncated frame. */
        fd = raw_connect();
        raw_hello(fd);
        req.register_name.name.len = 10;
        strcpy(req.register_name.name.str, "fault.evil");
        req.register_name.max_conns = 5;
        len = encode(&req, frame, sizeof(frame));
        raw_send(fd, frame, len - 1, 0);
        pair_works(&caller);
        expect_disconnected(fd, "truncated frame");

        /* 64 KiB, before and after HELLO. */
        fd = raw_connect();
        raw_send(fd, big, 64 * 1024, 0);
        expect_disconnected(fd, "64 KiB frame");
        fd = raw_connect();
        raw_hello(fd);
        raw_send(fd, big, 64 * 1024, 0);
        pair_works(&caller);
        expect_disconnected(fd, "64 KiB frame after HELLO");

        /* A zero-length frame. */
        fd = raw_connect();
        raw_hello(fd);
        raw_send(fd, "", 0, 0);
        expect_disconnected(fd, "zero-length frame");
        pair_works(&caller);

        /* Ten descriptors on a HELLO, and on a valid request after HELLO. */
        fd = raw_connect();
        raw_send(fd, frame, encode_hello(frame, sizeof(frame)), 10);
        expect_disconnected(fd, "HELLO with 10 fds");
        fd = raw_connect();
        raw_hello(fd);
        req = (struct xns_request){ .seq = 3, .op = XNS_OP_TRUSTED_INIT_DONE };
        raw_send(fd, frame, encode(&req, frame, sizeof(frame)), 10);
        pair_works(&caller);
        expect_disconnected(fd, "request with 10 fds");
        free(big);

        /* Still serving everyone, and holding no descriptor of the offenders. */
        pair_works(&caller);
        deadline = now_ms() + 2000;
        while (proc_fds(harness_daemon_pid(), NULL) > baseline) {
                EXPECT_MSG(now_ms() < deadline, "xnsd holds %u descriptors, %u before the garbage",
                           proc_fds(harness_daemon_pid(), NULL), baseline);
                sleep_ms(10);
        }
        proc_send_u32(&caller, 0);
        proc_wait_exit(&caller, 0);
        echo_stop(&server, cid);
}
END_TEST

/* --- what is not a process's own ------------------------------------------ */

/* Registers "fault", sends its SID, receives one BlockingScalar and reports
 * its a1, then answers a1 + 1 when told to. */
static void hold_then_answer(void *arg) {
        xous_envelope_t *env = NULL;
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("fault", 0, &sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &env));
        parent_send_u32(xous_envelope_args(env)[0]);
        parent_recv_u32();
        EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
        xous_envelope_drop(env);        /* the answer goes at the drop */
        parent_recv_u32();
}

/* One raw request on a link that said HELLO, with pass_fd beside it
 * unless it is -1; its answer in *reply. */
static void raw_ask(int fd, struct xns_request *req, int pass_fd, struct xns_reply *reply) {
        char buf[XNS_FRAME_MAX];
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        req->seq = 7;
        raw_send_fds(fd, buf, encode(req, buf, sizeof(buf)), &pass_fd, pass_fd >= 0);
        EXPECT_MSG(poll(&pfd, 1, 2000) == 1, "no answer within 2 s");
        n = recv(fd, buf, sizeof(buf), 0);
        EXPECT_MSG(n > 0, "answered by %s", n == 0 ? "EOF" : strerror(errno));
        EXPECT_EQ(xns_reply_decode(reply, buf, (size_t)n), 0);
        EXPECT_EQ(reply->seq, 7);
}

/* The error of the answer to a raw request. */
static uint32_t raw_call(int fd, struct xns_request *req) {
        struct xns_reply reply;

        raw_ask(fd, req, -1, &reply);
        return reply.error;
}

/* Nothing comes on the link within ms. */
static void expect_silence(int fd, int ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        EXPECT_MSG(poll(&pfd, 1, ms) == 0, "xnsd sent something");
}

/*
 * A Cancel for nothing (an idle link, a seq not waiting, a second one) is
 * ignored, with any descriptor it brings; a Cancel of a waiting receive
 * answers it once, with TIMEOUT; the link goes on working throughout.
 */
START_TEST(stray_cancels_are_harmless) {
        struct xns_request req = { .op = XNS_OP_CANCEL, .cancel = 7 };
        char frame[XNS_FRAME_MAX];
        struct xns_reply reply;
        unsigned baseline = proc_fds(harness_daemon_pid(), NULL);
        uint64_t deadline;
        int fd = raw_connect();
        ssize_t n;

        raw_hello(fd);
        raw_send(fd, frame, encode(&req, frame, sizeof(frame)), 1);
        expect_silence(fd, 100);
        req = (struct xns_request){ .op = XNS_OP_TRUSTED_INIT_DONE };
        EXPECT_ERR(raw_call(fd, &req), XOUS_OK);
        req = (struct xns_request){ .op = XNS_OP_CREATE_SERVER };
        raw_ask(fd, &req, -1, &reply);
        EXPECT_ERR(reply.error, XOUS_OK);
        req = (struct xns_request){ .seq = 7, .op = XNS_OP_RECEIVE, .receive = { .sid = reply.sid } };
        raw_send(fd, frame, encode(&req, frame, sizeof(frame)), 0);
        req = (struct xns_request){ .op = XNS_OP_CANCEL, .cancel = 6 };
        raw_send(fd, frame, encode(&req, frame, sizeof(frame)), 0);
        expect_silence(fd, 100);
        req.cancel = 7;
        raw_send(fd, frame, encode(&req, frame, sizeof(frame)), 1);
        raw_send(fd, frame, encode(&req, frame, sizeof(frame)), 0);
        EXPECT(poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 2000) == 1);
        n = recv(fd, frame, sizeof(frame), 0);
        EXPECT(n > 0);
        EXPECT_EQ(xns_reply_decode(&reply, frame, (size_t)n), 0);
        EXPECT_EQ(reply.seq, 7);
        EXPECT_ERR(reply.error, XOUS_ERR_TIMEOUT);
        expect_silence(fd, 100);
        req = (struct xns_request){ .op = XNS_OP_TRUSTED_INIT_DONE };
        EXPECT_ERR(raw_call(fd, &req), XOUS_OK);
        close(fd);
        deadline = now_ms() + 2000;
        while (proc_fds(harness_daemon_pid(), NULL) > baseline) {
                EXPECT_MSG(now_ms() < deadline, "xnsd holds %u descriptors, %u before",
                           proc_fds(harness_daemon_pid(), NULL), baseline);
                sleep_ms(10);
        }
}
END_TEST

/*
 * A process may receive on, destroy and unregister only servers it created;
 * a guessed SID finds nothing; a CID it was never granted reaches nothing;
 * and no process but the one a message was delivered to can answer it, even
 * by trying every handle and generation on the wire.
 */
START_TEST(only_your_own) {
        struct proc owner, caller;
        struct xns_request req = { .op = XNS_OP_SEND };
        struct xns_request ret = { .op = XNS_OP_RETURN };
        xous_envelope_t *env = NULL;
        char buf[XNS_FRAME_MAX];
        xous_sid_t sid;
        xous_cid_t cid;
        uint32_t e;
        int fd;

        proc_start(&owner, "owner", hold_then_answer, NULL);
        sid = proc_recv_sid(&owner);
        EXPECT_ERR(xous_try_receive_message(sid, &env), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(xous_destroy_server(sid), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(xous_unregister_server(sid), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(xous_try_receive_message(random_sid(), &env), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_ERR(xous_try_connect(random_sid(), &cid), XOUS_ERR_SERVER_NOT_FOUND);

        proc_start(&caller, "caller", call_blocking_scalar, NULL);
        EXPECT_EQ(proc_recv_u32(&owner), 1);            /* the owner holds the caller's message */

        fd = raw_connect();
        raw_hello(fd);
        /* CIDs 2.. are the owner's and the caller's, not this link's process's. */
        for (uint32_t c = 0; c < 8; c++) {
                req.send = (struct xns_send){ .cid = c, .kind = XNS_KIND_BLOCKING_SCALAR, .id = OP_CALL };
                EXPECT_ERR(raw_call(fd, &req), XOUS_ERR_SERVER_NOT_FOUND);
        }
        /* Answers for every handle and generation near the owner's: nothing. */
        for (uint32_t h = 0; h < 4; h++)
                for (uint32_t g = 0; g < 512; g++) {
                        ret.ret = (struct xns_return){ .handle = h, .gen = g, .how = XNS_RETURN_SCALAR,
                                                       .count = 1, .v = { 666 } };
                        raw_send(fd, buf, encode(&ret, buf, sizeof(buf)), 0);
                }
        EXPECT_ERR(raw_call(fd, &req), XOUS_ERR_SERVER_NOT_FOUND);      /* all of them were read */
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), 200) == 0,
                   "the caller was answered (%s) by a process that never received its message",
                   harness_errname(e));
        close(fd);
        /* The owner's answer still works, once. */
        proc_send_u32(&owner, 1);
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), HARNESS_WAIT_MS) == 1, "the owner's answer was lost");
        EXPECT_ERR(e, XOUS_OK);
        proc_wait_exit(&caller, 0);
        proc_send_u32(&owner, 1);
        proc_wait_exit(&owner, 0);
}
END_TEST

/* --- memory that is not safe to map ----------------------------------------- */

/* A memfd of size bytes with seals, reopened with access mode. */
static int segment(size_t size, unsigned seals, int mode) {
        char path[64];
        int fd = -1, r;

        EXPECT_EQ(memfd_new_sealed("fault-segment", NULL, size, seals, &fd), 0);
        if (mode == O_RDWR)
                return fd;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        r = open(path, mode | O_CLOEXEC);
        EXPECT(r >= 0);
        close(fd);
        return r;
}

/* The error for sending a message of kind with len bytes of fd on cid. */
static uint32_t raw_send_segment(int link, uint32_t cid, uint32_t kind, uint32_t len, int fd) {
        struct xns_request req = { .op = XNS_OP_SEND };
        struct xns_reply reply;

        req.send = (struct xns_send){ .cid = cid, .kind = kind, .id = OP_CALL, .len = len, .valid = len };
        raw_ask(link, &req, fd, &reply);
        return reply.error;
}

/* The error for handing fd over as the link's ring. */
static uint32_t raw_ring(int link, int fd) {
        struct xns_request req = { .op = XNS_OP_RING };
        struct xns_reply reply;

        raw_ask(link, &req, fd, &reply);
        return reply.error;
}

/* A raw link with a CID of a server of its own. */
static int raw_link_with_cid(uint32_t *cid) {
        struct xns_request req = { .op = XNS_OP_CREATE_SERVER };
        struct xns_reply reply;
        int fd = raw_connect();

        raw_hello(fd);
        raw_ask(fd, &req, -1, &reply);
        EXPECT_ERR(reply.error, XOUS_OK);
        req = (struct xns_request){ .op = XNS_OP_CONNECT, .connect.sid = reply.sid };
        raw_ask(fd, &req, -1, &reply);
        EXPECT_ERR(reply.error, XOUS_OK);
        *cid = reply.cid;
        return fd;
}

/*
 * What a sender lends or moves must be a memfd sealed against shrinking,
 * holding the length it claims, opened read-only for a Borrow and
 * read-write otherwise; a ring, a read-write memfd of exactly
 * XNS_RING_SIZE sealed against resizing. Each fault has its own error,
 * and the link stays up.
 */
START_TEST(unsafe_memory_refused) {
        int rw = segment(2 * PAGE, F_SEAL_SHRINK, O_RDWR);
        int ro = segment(2 * PAGE, F_SEAL_SHRINK, O_RDONLY);
        int unsealed = segment(2 * PAGE, 0, O_RDWR);
        int ring_rw = segment(XNS_RING_SIZE, F_SEAL_SHRINK | F_SEAL_GROW, O_RDWR);
        int ring_ro = segment(XNS_RING_SIZE, F_SEAL_SHRINK | F_SEAL_GROW, O_RDONLY);
        int ring_big = segment(XNS_RING_SIZE + PAGE, F_SEAL_SHRINK | F_SEAL_GROW, O_RDWR);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        uint32_t cid;
        int link;

        link = raw_link_with_cid(&cid);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MOVE, PAGE, -1), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MOVE, PAGE, null), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MOVE, PAGE, unsealed), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MOVE, PAGE / 2, rw), XOUS_ERR_BAD_ALIGNMENT);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MOVE, 4 * PAGE, rw), XOUS_ERR_BAD_ADDRESS);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MOVE, PAGE, ro), XOUS_ERR_SHARE_VIOLATION);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_MUTABLE_BORROW, PAGE, ro), XOUS_ERR_SHARE_VIOLATION);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_BORROW, PAGE, rw), XOUS_ERR_SHARE_VIOLATION);
        EXPECT_ERR(raw_send_segment(link, cid, XNS_KIND_BORROW, 4 * PAGE, ro), XOUS_ERR_BAD_ADDRESS);

        EXPECT_ERR(raw_ring(link, null), XOUS_ERR_INVALID_ARGUMENT);
        EXPECT_ERR(raw_ring(link, rw), XOUS_ERR_INVALID_ARGUMENT);              /* may grow */
        EXPECT_ERR(raw_ring(link, ring_big), XOUS_ERR_BAD_ADDRESS);
        EXPECT_ERR(raw_ring(link, ring_ro), XOUS_ERR_SHARE_VIOLATION);
        EXPECT_ERR(raw_ring(link, ring_rw), XOUS_OK);
        EXPECT_ERR(raw_ring(link, ring_rw), XOUS_ERR_MEMORY_IN_USE);
        close(link);
        close(null);
        close(ring_big);
        close(ring_ro);
        close(ring_rw);
        close(unsealed);
        close(ro);
        close(rw);
}
END_TEST

int main(void) {
        Suite *s = suite_create("fault");

        HARNESS_ADD(s, server_killed_wakes_blocking_scalar);
        HARNESS_ADD(s, server_killed_wakes_lend_mut);
        HARNESS_ADD(s, destroy_wakes_queued_callers);
        HARNESS_ADD(s, destroy_refused_while_unanswered);
        HARNESS_ADD(s, caller_killed_while_parked);
        HARNESS_ADD(s, daemon_not_running);
        HARNESS_ADD(s, daemon_gone_under_live_client);
        HARNESS_ADD(s, daemon_killed_under_blocked_caller);
        HARNESS_ADD(s, daemon_stopped_answers_parked_requests);
        HARNESS_ADD(s, garbage_frames_disconnect);
        HARNESS_ADD(s, stray_cancels_are_harmless);
        HARNESS_ADD(s, only_your_own);
        HARNESS_ADD(s, unsafe_memory_refused);
        return harness_run(s);
}
