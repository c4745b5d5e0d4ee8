/* test-timeouts.c: calls and receives that give up: the _timeout variants,
 * the one answer a timed-out caller gets, and buffers still lent after one. */
#include <errno.h>
#include <string.h>

#include "harness.h"

#define SERVER "timeouts"
#define HOLD 1u                 /* the server keeps it until the parent says go */
#define SLOW 2u                 /* answered with a1 + 1 after a2 ms */
#define FAST 3u                 /* answered with a1 + 1 at once */
#define QUIT 4u
#define WRITE_SEED 77u          /* what the server writes into a held MutableBorrow */

/* Server: HOLD is kept until the parent sends a word, then written into
 * (MutableBorrow: WRITE_SEED's pattern), answered with 99 (BlockingScalar)
 * and dropped; SLOW and FAST answer a1 + 1; QUIT answers 0 and ends. */
static void timeouts_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name(SERVER, 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                xous_envelope_t *env = NULL;
                uint32_t id, a1;

                EXPECT_OK(xous_receive_message(sid, &env));
                id = xous_envelope_id(env);
                a1 = xous_envelope_args(env)[0];
                if (id == HOLD) {
                        parent_send_u32(xous_envelope_kind(env));
                        parent_recv_u32();
                        if (xous_envelope_kind(env) == XOUS_MSG_MUTABLE_BORROW)
                                fill_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env), WRITE_SEED);
                        if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                                EXPECT_OK(xous_return_scalar(env, 99));
                } else if (id == SLOW || id == FAST) {
                        if (id == SLOW)
                                sleep_ms(xous_envelope_args(env)[1]);
                        if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                                EXPECT_OK(xous_return_scalar(env, a1 + 1));
                } else if (id == QUIT) {
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

static xous_cid_t start_server(struct proc *p) {
        proc_start(p, "server", timeouts_server, NULL);
        proc_recv_sid(p);
        return connect_name(SERVER);
}

static void stop_server(struct proc *p, xous_cid_t cid) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, QUIT, 0, 0, 0, 0, &r));
        proc_wait_exit(p, 0);
}

static uint32_t fast_call(xous_cid_t cid, uint32_t a1) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, FAST, a1, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 1);
        return r.v[0];
}

/* A server that keeps the message: TIMEOUT after the limit, not before;
 * its late answer goes nowhere and the next call gets its own answer. */
START_TEST(blocking_scalar_times_out) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_scalar_reply_t r = { 0 };
        uint64_t t0 = now_ms(), dt;

        EXPECT_ERR(xous_blocking_scalar_timeout(cid, HOLD, 0, 0, 0, 0, &r, 200), XOUS_ERR_TIMEOUT);
        dt = now_ms() - t0;
        EXPECT_MSG(dt >= 200 && dt < 5000, "timed out after %llu ms", (unsigned long long)dt);
        EXPECT_EQ(r.count, 0);
        EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_BLOCKING_SCALAR);
        EXPECT_EQ(harness_pending_calls(), 0);
        proc_send_u32(&server, 1);              /* it answers 99 now: to no one */
        EXPECT_EQ(fast_call(cid, 5), 6);
        EXPECT_EQ(fast_call(cid, 7), 8);
        stop_server(&server, cid);
}
END_TEST

/* 0: no waiting at all; the message still reaches the server. */
START_TEST(blocking_scalar_timeout_zero) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_scalar_reply_t r;
        uint64_t t0 = now_ms();
        xous_error_t e;

        e = xous_blocking_scalar_timeout(cid, HOLD, 0, 0, 0, 0, &r, 0);
        EXPECT_MSG(now_ms() - t0 < 2000, "took %llu ms", (unsigned long long)(now_ms() - t0));
        EXPECT_ERR(e, XOUS_ERR_TIMEOUT);
        EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_BLOCKING_SCALAR);
        proc_send_u32(&server, 1);
        EXPECT_EQ(fast_call(cid, 1), 2);
        stop_server(&server, cid);
}
END_TEST

/* An answer that comes about when time runs out: the caller hears it or
 * TIMEOUT, exactly once, and the link stays in step for the next call. */
START_TEST(answer_around_the_timeout) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        unsigned answered = 0, timed_out = 0;

        for (uint32_t i = 0; i < 60; i++) {
                xous_scalar_reply_t r = { 0 };
                xous_error_t e = xous_blocking_scalar_timeout(cid, SLOW, i, 10 + i % 3, 0, 0, &r, 10 + i % 5);

                EXPECT_MSG(e == XOUS_OK || e == XOUS_ERR_TIMEOUT, "call %u: %s", i, harness_errname(e));
                if (e == XOUS_OK) {
                        EXPECT_EQ(r.v[0], i + 1);
                        answered++;
                } else {
                        timed_out++;
                }
                EXPECT_EQ(fast_call(cid, 1000 + i), 1001 + i);
        }
        EXPECT_MSG(timed_out > 0, "answered %u, timed out %u", answered, timed_out);
        stop_server(&server, cid);
}
END_TEST

/* A receive that times out leaves nothing waiting in xnsd: a message sent
 * afterwards is there for the next receive, not lost to the old one. */
START_TEST(receive_times_out) {
        xous_envelope_t *env = (xous_envelope_t *)&env;
        xous_sid_t sid;
        xous_cid_t cid;
        uint64_t t0;

        EXPECT_OK(xous_register_name(SERVER, 0, &sid));
        EXPECT_OK(xous_request_connection(SERVER, &cid));
        EXPECT_ERR(xous_receive_message_timeout(sid, &env, 0), XOUS_ERR_TIMEOUT);
        EXPECT(!env);
        t0 = now_ms();
        EXPECT_ERR(xous_receive_message_timeout(sid, &env, 150), XOUS_ERR_TIMEOUT);
        EXPECT_MSG(now_ms() - t0 >= 150, "after %llu ms", (unsigned long long)(now_ms() - t0));
        EXPECT(!env);
        EXPECT_EQ(harness_name_state(SERVER).receivers, 0);
        EXPECT_OK(xous_send_scalar(cid, 42, 1, 2, 3, 4));
        harness_wait_name(SERVER, 1, 0, 0);
        EXPECT_OK(xous_receive_message_timeout(sid, &env, 5000));
        EXPECT(env);
        EXPECT_EQ(xous_envelope_id(env), 42);
        xous_envelope_drop(env);
        EXPECT_OK(xous_send_scalar(cid, 43, 0, 0, 0, 0));
        EXPECT_OK(xous_receive_message_timeout(sid, &env, 0));
        EXPECT(env);
        EXPECT_EQ(xous_envelope_id(env), 43);
        xous_envelope_drop(env);
        EXPECT_OK(xous_unregister_server(sid));
}
END_TEST

static void *send_later(void *arg) {
        xous_cid_t cid = *(xous_cid_t *)arg;

        sleep_ms(100);
        EXPECT_OK(xous_send_scalar(cid, 44, 0, 0, 0, 0));
        return NULL;
}

/* A message that comes while a timed receive waits is received. */
START_TEST(receive_gets_message_in_time) {
        xous_envelope_t *env = NULL;
        xous_sid_t sid;
        xous_cid_t cid;
        pthread_t t;

        EXPECT_OK(xous_register_name(SERVER, 0, &sid));
        EXPECT_OK(xous_request_connection(SERVER, &cid));
        thread_start(&t, send_later, &cid);
        EXPECT_OK(xous_receive_message_timeout(sid, &env, 10000));
        EXPECT(env);
        EXPECT_EQ(xous_envelope_id(env), 44);
        xous_envelope_drop(env);
        thread_join(t, HARNESS_WAIT_MS);
        EXPECT_OK(xous_unregister_server(sid));
}
END_TEST

struct pool_receiver {
        xous_sid_t sid;
        uint32_t id;
};

static void *receive_forever(void *arg) {
        struct pool_receiver *r = arg;
        xous_envelope_t *env = NULL;

        EXPECT_OK(xous_receive_message(r->sid, &env));
        r->id = xous_envelope_id(env);
        xous_envelope_drop(env);
        return NULL;
}

/* A second thread of a pool waits in the library behind the one waiting in
 * xnsd: its timeout holds there too, and takes nothing from the first. */
START_TEST(receive_times_out_behind_another_thread) {
        struct pool_receiver r = { .id = 0 };
        xous_envelope_t *env = NULL;
        xous_cid_t cid;
        pthread_t t;
        uint64_t t0;

        EXPECT_OK(xous_register_name(SERVER, 0, &r.sid));
        EXPECT_OK(xous_request_connection(SERVER, &cid));
        thread_start(&t, receive_forever, &r);
        harness_wait_name(SERVER, 0, 0, 1);
        t0 = now_ms();
        EXPECT_ERR(xous_receive_message_timeout(r.sid, &env, 150), XOUS_ERR_TIMEOUT);
        EXPECT_MSG(now_ms() - t0 >= 150, "after %llu ms", (unsigned long long)(now_ms() - t0));
        EXPECT_ERR(xous_receive_message_timeout(r.sid, &env, 0), XOUS_ERR_TIMEOUT);
        EXPECT(!env);
        EXPECT_OK(xous_send_scalar(cid, 45, 0, 0, 0, 0));
        thread_join(t, HARNESS_WAIT_MS);
        EXPECT_EQ(r.id, 45);
        EXPECT_OK(xous_unregister_server(r.sid));
}
END_TEST

static void wait_not_busy(xous_buf_t *buf) {
        uint64_t t0 = now_ms();

        while (xous_buf_busy(buf)) {
                EXPECT_MSG(now_ms() - t0 < HARNESS_WAIT_MS, "buffer still busy");
                sleep_ms(5);
        }
}

/* A Borrow that timed out: the buffer stays lent, and is refused for
 * lending and sending, until the server drops it. */
START_TEST(lend_timeout_leaves_buffer_busy) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t offset = 0, valid = PAGE;

        EXPECT(buf);
        EXPECT(!xous_buf_busy(buf));
        EXPECT_ERR(xous_lend_timeout(cid, HOLD, buf, 0, PAGE, 100), XOUS_ERR_TIMEOUT);
        EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_BORROW);
        EXPECT(xous_buf_busy(buf));
        EXPECT_ERR(xous_lend(cid, FAST, buf, 0, PAGE), XOUS_ERR_MEMORY_IN_USE);
        EXPECT_ERR(xous_lend_timeout(cid, FAST, buf, 0, PAGE, 100), XOUS_ERR_MEMORY_IN_USE);
        EXPECT_ERR(xous_lend_mut(cid, FAST, buf, &offset, &valid), XOUS_ERR_MEMORY_IN_USE);
        EXPECT_ERR(xous_send(cid, FAST, buf, 0, PAGE), XOUS_ERR_MEMORY_IN_USE);
        EXPECT(xous_buf_busy(buf));
        proc_send_u32(&server, 1);
        wait_not_busy(buf);
        EXPECT_OK(xous_lend(cid, FAST, buf, 0, PAGE));
        EXPECT_OK(xous_lend_mut_timeout(cid, FAST, buf, &offset, &valid, 5000));
        EXPECT(!xous_buf_busy(buf));
        xous_buf_free(buf);
        stop_server(&server, cid);
}
END_TEST

/* A MutableBorrow that timed out: *offset and *valid stay; what the server
 * writes before its late drop is done before the buffer is the caller's
 * again, and nothing of it comes after. */
START_TEST(lend_mut_timeout_server_writes_before_release) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_buf_t *buf = xous_buf_new(2 * PAGE);
        uint32_t offset = 3, valid = 5;

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), 2 * PAGE, 1);
        EXPECT_ERR(xous_lend_mut_timeout(cid, HOLD, buf, &offset, &valid, 100), XOUS_ERR_TIMEOUT);
        EXPECT_EQ(offset, 3);
        EXPECT_EQ(valid, 5);
        EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_MUTABLE_BORROW);
        EXPECT(xous_buf_busy(buf));
        proc_send_u32(&server, 1);
        wait_not_busy(buf);
        EXPECT(check_pattern(xous_buf_data(buf), 2 * PAGE, WRITE_SEED));
        fill_pattern(xous_buf_data(buf), 2 * PAGE, 2);
        EXPECT_OK(xous_lend_mut(cid, FAST, buf, &offset, &valid));
        EXPECT(check_pattern(xous_buf_data(buf), 2 * PAGE, 2));
        xous_buf_free(buf);
        stop_server(&server, cid);
}
END_TEST

/* The server dies holding a timed-out lend: the buffer is free again. */
START_TEST(busy_buffer_released_when_server_dies) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_buf_t *buf = xous_buf_new(PAGE);

        EXPECT(buf);
        EXPECT_ERR(xous_lend_timeout(cid, HOLD, buf, 0, PAGE, 50), XOUS_ERR_TIMEOUT);
        EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_BORROW);
        EXPECT(xous_buf_busy(buf));
        proc_kill(&server);
        wait_not_busy(buf);
        EXPECT_ERR(xous_lend(cid, FAST, buf, 0, PAGE), XOUS_ERR_SERVER_NOT_FOUND);
        xous_buf_free(buf);
}
END_TEST

/* A busy buffer may be freed at once; the server's late drop harms no one. */
START_TEST(busy_buffer_may_be_freed) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_buf_t *buf = xous_buf_new(PAGE);

        EXPECT(buf);
        EXPECT_ERR(xous_lend_timeout(cid, HOLD, buf, 0, PAGE, 0), XOUS_ERR_TIMEOUT);
        EXPECT(xous_buf_busy(buf));
        xous_buf_free(buf);
        EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_BORROW);
        proc_send_u32(&server, 1);
        EXPECT_EQ(fast_call(cid, 1), 2);
        stop_server(&server, cid);
}
END_TEST

/* A lend answered in time leaves nothing busy. */
START_TEST(lend_in_time_is_not_busy) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t offset = 0, valid = 0;

        EXPECT(buf);
        EXPECT_OK(xous_lend_timeout(cid, FAST, buf, 0, PAGE, 10000));
        EXPECT(!xous_buf_busy(buf));
        EXPECT_OK(xous_lend_mut_timeout(cid, FAST, buf, &offset, &valid, UINT32_MAX));
        EXPECT(!xous_buf_busy(buf));
        EXPECT(!xous_buf_busy(NULL));
        xous_buf_free(buf);
        stop_server(&server, cid);
}
END_TEST

int main(void) {
        Suite *s = suite_create("timeouts");

        HARNESS_ADD(s, blocking_scalar_times_out);
        HARNESS_ADD(s, blocking_scalar_timeout_zero);
        HARNESS_ADD(s, answer_around_the_timeout);
        HARNESS_ADD(s, receive_times_out);
        HARNESS_ADD(s, receive_gets_message_in_time);
        HARNESS_ADD(s, receive_times_out_behind_another_thread);
        HARNESS_ADD(s, lend_timeout_leaves_buffer_busy);
        HARNESS_ADD(s, lend_mut_timeout_server_writes_before_release);
        HARNESS_ADD(s, busy_buffer_released_when_server_dies);
        HARNESS_ADD(s, busy_buffer_may_be_freed);
        HARNESS_ADD(s, lend_in_time_is_not_busy);
        return harness_run(s);
}
