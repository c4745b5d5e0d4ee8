/* test-idle.c: idle servers, blocked callers and an idle xnsd use no CPU. */
#include <poll.h>
#include <unistd.h>

#include "harness.h"

/* A server that answers nothing: receives, says so, and receives again. */
static void idle_server(void *arg) {
        xous_sid_t sid;
        xous_envelope_t *env = NULL;

        (void)arg;
        EXPECT_OK(xous_register_name("idle", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                EXPECT_OK(xous_receive_message(sid, &env));
                parent_send_u32(xous_envelope_id(env));         /* keep it: the caller stays blocked */
        }
}

static void blocked_caller(void *arg) {
        xous_scalar_reply_t r;

        (void)arg;
        parent_send_u32(0);
        xous_blocking_scalar(connect_name("idle"), 7, 0, 0, 0, 0, &r);
}

/* Over 2 s, at most one clock tick of CPU for each process; and, as a
 * finer measure of the same thing, hardly a wake-up: a process blocked in
 * the kernel is never scheduled (a polling timer of even 10 Hz would show). */
static void expect_idle(const pid_t *pids, const char *const *names, int n) {
        long tick = sysconf(_SC_CLK_TCK);
        unsigned long long ticks[4], wakeups[4], t, w;

        EXPECT(tick > 0 && n <= 4);
        for (int i = 0; i < n; i++) {
                ticks[i] = proc_cpu_ticks(pids[i]);
                wakeups[i] = proc_wakeups(pids[i]);
        }
        sleep_ms(2000);
        for (int i = 0; i < n; i++) {
                t = proc_cpu_ticks(pids[i]) - ticks[i];
                w = proc_wakeups(pids[i]) - wakeups[i];
                EXPECT_MSG(t <= 1, "%s used %llu ticks (1/%ld s) of CPU in 2 s idle", names[i], t, tick);
                EXPECT_MSG(w <= 3, "%s woke up %llu times in 2 s idle", names[i], w);
        }
}

START_TEST(idle_server_and_daemon) {
        struct proc server;
        pid_t pids[2];
        const char *names[2] = { "the server blocked in xous_receive_message", "xnsd" };

        proc_start(&server, "server", idle_server, NULL);
        proc_recv_sid(&server);
        harness_wait_name("idle", 0, 0, 1);     /* in xous_receive_message */
        pids[0] = server.pid;
        pids[1] = harness_daemon_pid();
        expect_idle(pids, names, 2);
        proc_kill(&server);
}
END_TEST

START_TEST(blocked_caller_idle) {
        struct proc server, caller;
        pid_t pids[3];
        const char *names[3] = { "the caller blocked in xous_blocking_scalar",
                                 "the server holding its message", "xnsd" };

        proc_start(&server, "server", idle_server, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", blocked_caller, NULL);
        proc_recv_u32(&caller);
        EXPECT_EQ(proc_recv_u32(&server), 7);
        harness_wait_name("idle", 1, 0, 1);     /* holding the call, receiving again */
        pids[0] = caller.pid;
        pids[1] = server.pid;
        pids[2] = harness_daemon_pid();
        expect_idle(pids, names, 3);
        proc_kill(&caller);
        proc_kill(&server);
}
END_TEST

/* A server driven by its descriptor (xous_server_get_fd) in poll(), as an
 * event loop would: takes what waits, answers BlockingScalars, polls again. */
static void loop_server(void *arg) {
        struct pollfd p = { .events = POLLIN };
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("idle", 0, &sid));
        EXPECT_OK(xous_server_get_fd(sid, &p.fd));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT(poll(&p, 1, -1) == 1);
                while (xous_try_receive_message(sid, &env) == XOUS_OK && env) {
                        if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                                EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
                        xous_envelope_drop(env);
                }
        }
}

/* After serving, the loop sleeps in poll() and xnsd with it: the
 * descriptor does not stay readable once the messages are taken. */
START_TEST(loop_server_idle) {
        struct proc server;
        xous_cid_t cid;
        xous_scalar_reply_t r;
        pid_t pids[2];
        const char *names[2] = { "the server polling its descriptor", "xnsd" };

        proc_start(&server, "server", loop_server, NULL);
        proc_recv_sid(&server);
        cid = connect_name("idle");
        for (uint32_t i = 0; i < 100; i++) {
                EXPECT_OK(xous_send_scalar(cid, 9, i, 0, 0, 0));
                EXPECT_OK(xous_blocking_scalar(cid, 7, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i + 1);
        }
        pids[0] = server.pid;
        pids[1] = harness_daemon_pid();
        expect_idle(pids, names, 2);
        proc_kill(&server);
}
END_TEST

/* A server that never receives: its queue fills. */
static void deaf_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("idle", 0, &sid));
        parent_send_sid(sid);
        for (;;)
                pause();
}

/* Posts Scalars until its ring is full too and it waits for room; or
 * (arg set) posts a few past the full queue, then calls another server:
 * that call's frame waits, unread, behind the Scalars. */
static void flooding_sender(void *arg) {
        xous_cid_t cid = connect_name("idle");
        xous_scalar_reply_t r;

        parent_send_u32(0);
        for (uint32_t i = 0; !arg || i < 64 + 10; i++)
                EXPECT_OK(xous_send_scalar(cid, 7, i, 0, 0, 0));
        xous_blocking_scalar(connect_name("idle.other"), 7, 0, 0, 0, 0, &r);
}

static void other_server(void *arg) {
        xous_sid_t sid;
        xous_envelope_t *env = NULL;

        (void)arg;
        EXPECT_OK(xous_register_name("idle.other", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                EXPECT_OK(xous_receive_message(sid, &env));
                parent_send_u32(xous_envelope_id(env));
        }
}

/* The full queue holds one Scalar back, the ring waits behind it, the
 * sender waits for room: nobody spins meanwhile. */
static void sender_waits_idle(bool call_after) {
        struct proc server, other, sender;
        pid_t pids[3];
        const char *names[3] = { "the sender waiting for room", "the server that does not receive", "xnsd" };

        proc_start(&server, "server", deaf_server, NULL);
        proc_recv_sid(&server);
        proc_start(&other, "other server", other_server, NULL);
        proc_recv_sid(&other);
        proc_start(&sender, "sender", flooding_sender, call_after ? (void *)1 : NULL);
        proc_recv_u32(&sender);
        harness_wait_name("idle", 64, 1, 0);    /* a full queue (depth 64), one Scalar held back */
        harness_wait_name("idle.other", 0, 0, 1);
        /* The sender's last request (for room, or to connect to the other
         * server) waits: xnsd has handled all it would read of the link. */
        proc_wait_blocked(&sender);
        /* the call is not read before the Scalars ahead of it are queued */
        EXPECT_MSG(!harness_name_has_client("idle.other", sender.pid),
                   "a connect request overtook the Scalars sent before it");
        EXPECT_MSG(!proc_recv_timeout(&other, &(uint32_t){ 0 }, sizeof(uint32_t), 0),
                   "a call overtook the Scalars sent before it");
        pids[0] = sender.pid;
        pids[1] = server.pid;
        pids[2] = harness_daemon_pid();
        expect_idle(pids, names, 3);
        proc_kill(&sender);
        proc_kill(&other);
        proc_kill(&server);
}

START_TEST(sender_waiting_for_room_idle) {
        sender_waits_idle(false);
}
END_TEST

START_TEST(call_behind_waiting_scalars_idle) {
        sender_waits_idle(true);
}
END_TEST

int main(void) {
        Suite *s = suite_create("idle");

        HARNESS_ADD(s, idle_server_and_daemon);
        HARNESS_ADD(s, blocked_caller_idle);
        HARNESS_ADD(s, loop_server_idle);
        HARNESS_ADD(s, sender_waiting_for_room_idle);
        HARNESS_ADD(s, call_behind_waiting_scalars_idle);
        return harness_run(s);
}
