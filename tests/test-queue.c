/* test-queue.c: a bounded server queue (xnsd --queue-depth 4): try_send
 * reports it full, send waits for room, and nothing is lost or reordered. */
#include "harness.h"
#include "wire.h"

#define DEPTH 4

enum { OP_SEQ = 1, OP_DONE };

static void setup_depth4(void) {
        harness_daemon_start(DEPTH);
}

/* Registers "queue"; then, for each number n the parent sends, receives n
 * scalars and sends back their a1 (n = 0: reports whether the queue is empty). */
static void lazy_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("queue", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                uint32_t n = parent_recv_u32();

                if (n == 0) {
                        xous_envelope_t *env = NULL;

                        EXPECT_OK(xous_try_receive_message(sid, &env));
                        parent_send_u32(env == NULL);
                        xous_envelope_drop(env);
                        return;
                }
                for (uint32_t i = 0; i < n; i++) {
                        xous_envelope_t *env = NULL;

                        EXPECT_OK(xous_receive_message(sid, &env));
                        EXPECT_EQ(xous_envelope_id(env), OP_SEQ);
                        parent_send_u32(xous_envelope_args(env)[0]);
                        xous_envelope_drop(env);
                }
        }
}

START_TEST(try_send_reports_full) {
        struct proc server;
        xous_cid_t cid;

        proc_start(&server, "server", lazy_server, NULL);
        proc_recv_sid(&server);
        cid = connect_name("queue");
        for (uint32_t i = 0; i < DEPTH; i++)
                EXPECT_OK(xous_try_send_scalar(cid, OP_SEQ, i, 0, 0, 0));
        EXPECT_ERR(xous_try_send_scalar(cid, OP_SEQ, 99, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        EXPECT_ERR(xous_try_send_scalar(cid, OP_SEQ, 98, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        /* The four that fit arrive in order; the refused ones never do. */
        proc_send_u32(&server, DEPTH);
        for (uint32_t i = 0; i < DEPTH; i++)
                EXPECT_EQ(proc_recv_u32(&server), i);
        /* Room again. */
        EXPECT_OK(xous_try_send_scalar(cid, OP_SEQ, DEPTH, 0, 0, 0));
        proc_send_u32(&server, 1);
        EXPECT_EQ(proc_recv_u32(&server), DEPTH);
        proc_send_u32(&server, 0);
        EXPECT_MSG(proc_recv_u32(&server) == 1, "a refused message was queued after all");
        proc_wait_exit(&server, 0);
}
END_TEST

/* What a sender gets out before it waits: the queue, and a full ring (the
 * one Scalar that waits for room in xnsd counts as still in the ring). */
#define SENT_BEFORE_WAIT (DEPTH + XNS_RING_SLOTS)
#define FILL_TOTAL (SENT_BEFORE_WAIT + 6)

/* Sends FILL_TOTAL Scalars, saying after each how many calls returned. */
static void filling_caller(void *arg) {
        xous_cid_t cid = connect_name("queue");

        (void)arg;
        for (uint32_t i = 0; i < FILL_TOTAL; i++) {
                EXPECT_OK(xous_send_scalar(cid, OP_SEQ, i, 0, 0, 0));
                parent_send_u32(i + 1);
        }
}

START_TEST(send_waits_while_full) {
        struct proc server, caller;
        uint32_t sent = 0, got;

        proc_start(&server, "server", lazy_server, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", filling_caller, NULL);
        /* Scalars do not wait for xnsd: the sender gets exactly as far as the
         * queue, the waiting one and its ring hold, and no further. */
        while (sent < SENT_BEFORE_WAIT)
                EXPECT_EQ(proc_recv_u32(&caller), ++sent);
        EXPECT_MSG(proc_recv_timeout(&caller, &sent, sizeof(sent), 500) == 0,
                   "xous_send_scalar returned (%u sent) while queue and ring were full", sent);
        /* The server takes one (and the Scalars queued behind it come along
         * in the same frame): room in the queue, so the sender goes on. */
        proc_send_u32(&server, 1);
        EXPECT_EQ(proc_recv_u32(&server), 0);
        EXPECT_EQ(proc_recv_u32(&caller), SENT_BEFORE_WAIT + 1);
        /* The server drains the rest; everything arrives, in order. */
        proc_send_u32(&server, FILL_TOTAL - 1);
        for (uint32_t i = 1; i < FILL_TOTAL; i++) {
                got = proc_recv_u32(&server);
                EXPECT_EQ(got, i);
        }
        for (uint32_t i = SENT_BEFORE_WAIT + 2; i <= FILL_TOTAL; i++)
                EXPECT_EQ(proc_recv_u32(&caller), i);
        proc_wait_exit(&caller, 0);
        proc_send_u32(&server, 0);
        EXPECT_EQ(proc_recv_u32(&server), 1);
        proc_wait_exit(&server, 0);
}
END_TEST

#define FLOOD 400

/* Checks each sender's sequence (a2 names the sender) and answers OP_DONE
 * with the number of messages seen and of those out of order. */
static void counting_server(void *arg) {
        uint32_t next[3] = { 0 }, seen = 0, wrong = 0;
        uint32_t done = 0;
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("queue", 0, &sid));
        parent_send_sid(sid);
        while (done < 2) {
                xous_envelope_t *env = NULL;
                const uint32_t *a;

                EXPECT_OK(xous_receive_message(sid, &env));
                a = xous_envelope_args(env);
                if (xous_envelope_id(env) == OP_DONE) {
                        done++;
                        EXPECT_OK(xous_return_scalar2(env, seen, wrong));
                } else {
                        seen++;
                        if (a[1] > 2 || a[0] != next[a[1]])
                                wrong++;
                        else
                                next[a[1]]++;
                        if (seen % 97 == 0)
                                sleep_ms(5);    /* a slow server keeps the queue full */
                }
                xous_envelope_drop(env);
        }
        parent_send_u32(seen);
        parent_send_u32(wrong);
}

static void flooding_caller(void *arg) {
        uint32_t me = (uint32_t)(uintptr_t)arg;
        xous_cid_t cid = connect_name("queue");
        xous_scalar_reply_t r;

        for (uint32_t i = 0; i < FLOOD; i++)
                EXPECT_OK(xous_send_scalar(cid, OP_SEQ, i, me, 0, 0));
        EXPECT_OK(xous_blocking_scalar(cid, OP_DONE, 0, 0, 0, 0, &r));
}

START_TEST(nothing_lost_under_pressure) {
        struct proc server, a, b;

        proc_start(&server, "server", counting_server, NULL);
        proc_recv_sid(&server);
        proc_start(&a, "caller 1", flooding_caller, (void *)(uintptr_t)1);
        proc_start(&b, "caller 2", flooding_caller, (void *)(uintptr_t)2);
        proc_wait_exit(&a, 0);
        proc_wait_exit(&b, 0);
        EXPECT_EQ(proc_recv_u32(&server), 2 * FLOOD);
        EXPECT_MSG(proc_recv_u32(&server) == 0, "messages arrived out of order");
        proc_wait_exit(&server, 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("queue");

        harness_add_test(s, try_send_reports_full, setup_depth4, harness_teardown);
        harness_add_test(s, send_waits_while_full, setup_depth4, harness_teardown);
        harness_add_test(s, nothing_lost_under_pressure, setup_depth4, harness_teardown);
        return harness_run(s);
}
