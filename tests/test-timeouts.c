/* test-timeouts.c: calls and receives that give up: the _timeout variants,
 * the one answer a timed-out caller gets, and buffers still lent after one. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

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

/* --- behind the thread's own posted Scalars ------------------------------ */

#define DEAF "timeouts.deaf"
#define GATED "timeouts.gated"
#define DEPTH 4                 /* the daemon's --queue-depth for these tests */
#define LIMIT_MS 200u
#define BOUND_MS 5000u          /* "returns at all": generous for a loaded machine */

static void setup_depth(void) {
        harness_daemon_start(DEPTH);
}

/* A server that never receives: its queue fills. */
static void deaf_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name(DEAF, 0, &sid));
        parent_send_sid(sid);
        for (;;)
                pause();
}

/* Posts Scalars on cid (of a server that is not receiving) until its queue
 * is full and one waits for room: this thread's ring waits behind it, and
 * xnsd reads nothing more of the thread's link until there is room. */
static void stall_ring(const char *name, xous_cid_t cid) {
        for (uint32_t i = 0; i < DEPTH + 3; i++)
                EXPECT_OK(xous_send_scalar(cid, 9, i, 0, 0, 0));
        harness_wait_name(name, DEPTH, 1, 0);
}

static xous_cid_t start_deaf_stalled(struct proc *deaf) {
        xous_cid_t cid;

        proc_start(deaf, "deaf server", deaf_server, NULL);
        proc_recv_sid(deaf);
        cid = connect_name(DEAF);
        stall_ring(DEAF, cid);
        return cid;
}

/* The call returned TIMEOUT after the limit, and within BOUND_MS. */
static void expect_timed_out_since(uint64_t t0, xous_error_t e) {
        uint64_t dt = now_ms() - t0;

        EXPECT_ERR(e, XOUS_ERR_TIMEOUT);
        EXPECT_MSG(dt >= LIMIT_MS && dt < BOUND_MS, "timed out after %llu ms", (unsigned long long)dt);
}

/* The server got nothing from the calls that timed out: with the deaf
 * server gone the ring moves on, and a call goes through. */
static void expect_never_sent(struct proc *server, struct proc *deaf, xous_cid_t cid) {
        EXPECT_EQ(harness_name_state(SERVER).queued, 0);
        proc_kill(deaf);                /* the Scalars waiting for room fail: the ring moves on */
        EXPECT_EQ(fast_call(cid, 5), 6);
        EXPECT_MSG(!proc_recv_timeout(server, &(uint32_t){ 0 }, sizeof(uint32_t), 0),
                   "a call that timed out behind the Scalars reached the server");
}

/* A timed BlockingScalar from a thread whose posted Scalars wait for room
 * in a full queue: it may not overtake them, so it waits for them, in the
 * library, for its limit at most; then TIMEOUT, and it is never sent. To
 * the full server itself as to another. */
START_TEST(call_behind_stalled_scalars_times_out) {
        struct proc server, deaf;
        xous_cid_t cid = start_server(&server);
        xous_cid_t dcid = start_deaf_stalled(&deaf);
        xous_scalar_reply_t r = { 0 };
        uint64_t t0 = now_ms();

        expect_timed_out_since(t0, xous_blocking_scalar_timeout(cid, HOLD, 0, 0, 0, 0, &r, LIMIT_MS));
        EXPECT_EQ(r.count, 0);
        t0 = now_ms();
        expect_timed_out_since(t0, xous_blocking_scalar_timeout(dcid, HOLD, 0, 0, 0, 0, &r, LIMIT_MS));
        t0 = now_ms();
        EXPECT_ERR(xous_blocking_scalar_timeout(cid, HOLD, 0, 0, 0, 0, &r, 0), XOUS_ERR_TIMEOUT);
        EXPECT_MSG(now_ms() - t0 < BOUND_MS, "took %llu ms", (unsigned long long)(now_ms() - t0));
        EXPECT_EQ(harness_pending_calls(), 0);
        expect_never_sent(&server, &deaf, cid);
        stop_server(&server, cid);
}
END_TEST

/* try_send_scalar never waits: behind the thread's posted Scalars waiting
 * for room it answers SERVER_QUEUE_FULL at once, and sends nothing. */
START_TEST(try_send_behind_stalled_scalars_is_full) {
        struct proc server, deaf;
        xous_cid_t cid = start_server(&server);
        xous_cid_t dcid = start_deaf_stalled(&deaf);
        uint64_t t0 = now_ms();

        EXPECT_ERR(xous_try_send_scalar(cid, FAST, 1, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        EXPECT_ERR(xous_try_send_scalar(dcid, FAST, 1, 0, 0, 0), XOUS_ERR_SERVER_QUEUE_FULL);
        EXPECT_MSG(now_ms() - t0 < BOUND_MS, "took %llu ms", (unsigned long long)(now_ms() - t0));
        expect_never_sent(&server, &deaf, cid);
        EXPECT_OK(xous_try_send_scalar(cid, FAST, 1, 0, 0, 0));
        stop_server(&server, cid);
}
END_TEST

static void *send_one(void *arg) {
        EXPECT_OK(xous_send_scalar(*(xous_cid_t *)arg, 46, 0, 0, 0, 0));
        return NULL;
}

/* Receives from a thread whose posted Scalars wait for room in a full
 * queue go on another link (xnsd reads nothing else of the thread's): a
 * try_receive answers at once, a timed one keeps its limit, and a blocking
 * one gets what another thread sends. */
START_TEST(receive_behind_stalled_scalars) {
        xous_envelope_t *env = NULL;
        struct proc deaf;
        xous_sid_t sid;
        xous_cid_t cid;
        pthread_t t;
        uint64_t t0;

        EXPECT_OK(xous_register_name(SERVER, 0, &sid));
        cid = connect_name(SERVER);
        start_deaf_stalled(&deaf);
        t0 = now_ms();
        EXPECT_OK(xous_try_receive_message(sid, &env));
        EXPECT(!env);
        EXPECT_MSG(now_ms() - t0 < BOUND_MS, "took %llu ms", (unsigned long long)(now_ms() - t0));
        t0 = now_ms();
        expect_timed_out_since(t0, xous_receive_message_timeout(sid, &env, LIMIT_MS));
        thread_start(&t, send_one, &cid);
        EXPECT_OK(xous_receive_message(sid, &env));
        EXPECT(env);
        EXPECT_EQ(xous_envelope_id(env), 46);
        xous_envelope_drop(env);
        thread_join(t, HARNESS_WAIT_MS);
        proc_kill(&deaf);
        EXPECT_OK(xous_unregister_server(sid));
}
END_TEST

/* The same for lends: the buffer never left, so it is not busy, and a
 * MutableBorrow's *offset and *valid stay. */
START_TEST(lend_behind_stalled_scalars_times_out) {
        struct proc server, deaf;
        xous_cid_t cid = start_server(&server);
        xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t offset = 3, valid = 5;
        uint64_t t0;

        EXPECT(buf);
        start_deaf_stalled(&deaf);
        t0 = now_ms();
        expect_timed_out_since(t0, xous_lend_timeout(cid, HOLD, buf, 0, PAGE, LIMIT_MS));
        EXPECT(!xous_buf_busy(buf));
        t0 = now_ms();
        expect_timed_out_since(t0, xous_lend_mut_timeout(cid, HOLD, buf, &offset, &valid, LIMIT_MS));
        EXPECT(!xous_buf_busy(buf));
        EXPECT_EQ(offset, 3);
        EXPECT_EQ(valid, 5);
        expect_never_sent(&server, &deaf, cid);
        EXPECT_OK(xous_lend(cid, FAST, buf, 0, PAGE));
        EXPECT_OK(xous_lend_mut_timeout(cid, FAST, buf, &offset, &valid, HARNESS_WAIT_MS));
        xous_buf_free(buf);
        stop_server(&server, cid);
}
END_TEST

/* A server thread whose posted Scalars wait for room: its timed receive
 * keeps its limit, and leaves no receive waiting in xnsd. */
START_TEST(receive_behind_stalled_scalars_times_out) {
        xous_envelope_t *env = NULL;
        struct proc deaf;
        xous_sid_t sid;
        xous_cid_t cid;
        uint64_t t0;

        EXPECT_OK(xous_register_name(SERVER, 0, &sid));
        EXPECT_OK(xous_request_connection(SERVER, &cid));
        start_deaf_stalled(&deaf);
        t0 = now_ms();
        expect_timed_out_since(t0, xous_receive_message_timeout(sid, &env, LIMIT_MS));
        EXPECT(!env);
        EXPECT_EQ(harness_name_state(SERVER).receivers, 0);
        proc_kill(&deaf);
        EXPECT_OK(xous_send_scalar(cid, 46, 0, 0, 0, 0));
        EXPECT_OK(xous_receive_message_timeout(sid, &env, HARNESS_WAIT_MS));
        EXPECT(env);
        EXPECT_EQ(xous_envelope_id(env), 46);
        xous_envelope_drop(env);
        EXPECT_OK(xous_unregister_server(sid));
}
END_TEST

/* Receives once the parent says so, and answers a BlockingScalar with the
 * number of Scalars it received before it. */
static void gated_server(void *arg) {
        uint32_t scalars = 0;
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name(GATED, 0, &sid));
        parent_send_sid(sid);
        parent_recv_u32();
        for (;;) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                if (xous_envelope_kind(env) == XOUS_MSG_SCALAR)
                        scalars++;
                else
                        EXPECT_OK(xous_return_scalar(env, scalars));
                xous_envelope_drop(env);
        }
}

static void *open_gate_later(void *arg) {
        sleep_ms(100);
        proc_send_u32(arg, 1);
        return NULL;
}

/* Room comes in time: the timed call goes out after the Scalars, which
 * its server receives first, and is answered. */
START_TEST(call_waits_for_stalled_scalars_in_time) {
        struct proc gated;
        xous_scalar_reply_t r = { 0 };
        xous_cid_t cid;
        pthread_t t;

        proc_start(&gated, "gated server", gated_server, NULL);
        proc_recv_sid(&gated);
        cid = connect_name(GATED);
        stall_ring(GATED, cid);
        thread_start(&t, open_gate_later, &gated);
        EXPECT_OK(xous_blocking_scalar_timeout(cid, 1, 0, 0, 0, 0, &r, HARNESS_WAIT_MS));
        EXPECT_EQ(r.count, 1);
        EXPECT_EQ(r.v[0], DEPTH + 3);
        thread_join(t, HARNESS_WAIT_MS);
        proc_kill(&gated);
}
END_TEST

/* Scalars that xnsd simply has not taken yet are no reason to give up: a
 * call with limit 0 right behind them still reaches its server. */
START_TEST(timeout_zero_behind_posted_scalars) {
        struct proc server;
        xous_cid_t cid = start_server(&server);
        xous_scalar_reply_t r;

        for (uint32_t round = 0; round < 5; round++) {
                for (uint32_t i = 0; i < 50; i++)
                        EXPECT_OK(xous_send_scalar(cid, FAST, i, 0, 0, 0));
                EXPECT_ERR(xous_blocking_scalar_timeout(cid, HOLD, 0, 0, 0, 0, &r, 0), XOUS_ERR_TIMEOUT);
                EXPECT_EQ(proc_recv_u32(&server), XOUS_MSG_BLOCKING_SCALAR);
                proc_send_u32(&server, 1);
                EXPECT_EQ(fast_call(cid, round), round + 1);
        }
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
        harness_add_test(s, call_behind_stalled_scalars_times_out, setup_depth, harness_teardown);
        harness_add_test(s, lend_behind_stalled_scalars_times_out, setup_depth, harness_teardown);
        harness_add_test(s, try_send_behind_stalled_scalars_is_full, setup_depth, harness_teardown);
        harness_add_test(s, receive_behind_stalled_scalars, setup_depth, harness_teardown);
        harness_add_test(s, receive_behind_stalled_scalars_times_out, setup_depth, harness_teardown);
        harness_add_test(s, call_waits_for_stalled_scalars_in_time, setup_depth, harness_teardown);
        HARNESS_ADD(s, timeout_zero_behind_posted_scalars);
        return harness_run(s);
}
