/* test-kinds.c: the five message kinds between separate processes. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define ONES 0xFFFFFFFFu

/* Server side: register "kinds" and tell the parent. */
static xous_sid_t register_kinds(void) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name("kinds", 0, &sid));
        parent_send_sid(sid);
        return sid;
}

static xous_envelope_t *receive(xous_sid_t sid) {
        xous_envelope_t *env = NULL;

        EXPECT_OK(xous_receive_message(sid, &env));
        EXPECT(env);
        return env;
}

/* Starts server fn in a child and connects to it. */
static xous_cid_t start_server(struct proc *p, void (*fn)(void *), void *arg) {
        proc_start(p, "server", fn, arg);
        proc_recv_sid(p);
        return connect_name("kinds");
}

static xous_buf_t *buf_with_pattern(size_t len, uint32_t seed) {
        xous_buf_t *buf = xous_buf_new(len);

        EXPECT_MSG(buf, "xous_buf_new(%zu): %s", len, strerror(errno));
        EXPECT(xous_buf_len(buf) >= len);
        fill_pattern(xous_buf_data(buf), len, seed);
        return buf;
}

static void report_scalar(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_envelope_t *env = receive(sid);
        uint32_t r[6];

        (void)arg;
        r[0] = xous_envelope_kind(env);
        r[1] = xous_envelope_id(env);
        memcpy(&r[2], xous_envelope_args(env), 4 * sizeof(uint32_t));
        xous_envelope_drop(env);
        parent_send(r, sizeof(r));
}

START_TEST(scalar_args_arrive) {
        struct proc server;
        xous_cid_t cid = start_server(&server, report_scalar, NULL);
        uint32_t r[6];

        EXPECT_OK(xous_send_scalar(cid, 7, 11, 22, 33, 44));
        proc_recv(&server, r, sizeof(r));
        EXPECT_EQ(r[0], XOUS_MSG_SCALAR);
        EXPECT_EQ(r[1], 7);
        EXPECT_EQ(r[2], 11);
        EXPECT_EQ(r[3], 22);
        EXPECT_EQ(r[4], 33);
        EXPECT_EQ(r[5], 44);
        proc_wait_exit(&server, 0);
}
END_TEST

static void answer_1_2_5(void *arg) {
        xous_sid_t sid = register_kinds();

        (void)arg;
        for (int i = 0; i < 3; i++) {
                xous_envelope_t *env = receive(sid);
                const uint32_t *a = xous_envelope_args(env);
                uint32_t v5[5] = { a[0], a[1], a[2], a[3], 0x5555 };

                EXPECT_EQ(xous_envelope_kind(env), XOUS_MSG_BLOCKING_SCALAR);
                switch (xous_envelope_id(env)) {
                case 1:
                        EXPECT_OK(xous_return_scalar(env, a[0] + 1));
                        break;
                case 2:
                        EXPECT_OK(xous_return_scalar2(env, a[0] + 2, a[1] + 2));
                        break;
                case 5:
                        EXPECT_OK(xous_return_scalar5(env, v5));
                        break;
                }
                xous_envelope_drop(env);
        }
}

START_TEST(blocking_scalar_replies) {
        struct proc server;
        xous_cid_t cid = start_server(&server, answer_1_2_5, NULL);
        xous_scalar_reply_t r;

        memset(&r, 0, sizeof(r));
        EXPECT_OK(xous_blocking_scalar(cid, 1, 100, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 1);
        EXPECT_EQ(r.v[0], 101);
        memset(&r, 0, sizeof(r));
        EXPECT_OK(xous_blocking_scalar(cid, 2, 200, 300, 0, 0, &r));
        EXPECT_EQ(r.count, 2);
        EXPECT_EQ(r.v[0], 202);
        EXPECT_EQ(r.v[1], 302);
        memset(&r, 0, sizeof(r));
        EXPECT_OK(xous_blocking_scalar(cid, 5, 1, 2, 3, 4, &r));
        EXPECT_EQ(r.count, 5);
        EXPECT_EQ(r.v[0], 1);
        EXPECT_EQ(r.v[1], 2);
        EXPECT_EQ(r.v[2], 3);
        EXPECT_EQ(r.v[3], 4);
        EXPECT_EQ(r.v[4], 0x5555);
        proc_wait_exit(&server, 0);
}
END_TEST

/* Server: checks one memory message of the given kind against a pattern. */
struct memory_expect {
        uint32_t kind, id, len, offset, valid, seed;
};

static void check_memory_envelope(xous_envelope_t *env, const struct memory_expect *m) {
        EXPECT_EQ(xous_envelope_kind(env), m->kind);
        EXPECT_EQ(xous_envelope_id(env), m->id);
        EXPECT_EQ(xous_envelope_buf_len(env), m->len);
        EXPECT_EQ(xous_envelope_offset(env), m->offset);
        EXPECT_EQ(xous_envelope_valid(env), m->valid);
        EXPECT(xous_envelope_buf(env));
        EXPECT_MSG(check_pattern(xous_envelope_buf(env), m->len, m->seed),
                   "the server does not see the caller's bytes");
}

static void check_one_memory(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_envelope_t *env = receive(sid);

        check_memory_envelope(env, arg);
        xous_envelope_drop(env);
        parent_send_u32(1);
}

static bool mapped(void *addr) {
        unsigned char vec;

        return mincore(addr, PAGE, &vec) == 0 || errno != ENOMEM;
}

START_TEST(move_hands_over_bytes) {
        static const struct memory_expect m = { XOUS_MSG_MOVE, 9, 2 * PAGE, 100, 5000, 0x1234 };
        struct proc server;
        xous_cid_t cid = start_server(&server, check_one_memory, (void *)&m);
        xous_buf_t *buf = buf_with_pattern(2 * PAGE, 0x1234);
        void *data = xous_buf_data(buf);

        EXPECT_OK(xous_send(cid, 9, buf, 100, 5000));
        /* Consumed: the caller's view of the pages is gone. */
        EXPECT_MSG(!mapped(data), "the caller still maps a moved buffer");
        EXPECT_EQ(proc_recv_u32(&server), 1);
        proc_wait_exit(&server, 0);
}
END_TEST

static void check_two_borrows(void *arg) {
        const struct memory_expect *m = arg;
        xous_sid_t sid = register_kinds();

        for (int i = 0; i < 2; i++) {
                xous_envelope_t *env = receive(sid);

                check_memory_envelope(env, &m[i]);
                xous_envelope_drop(env);
        }
}

START_TEST(borrow_lends_bytes) {
        static const struct memory_expect m[2] = {
                { XOUS_MSG_BORROW, 3, 3 * PAGE, 12, 34, 0xb0b0 },
                { XOUS_MSG_BORROW, 4, 3 * PAGE, 0, 3 * PAGE, 0xc0c0 },
        };
        struct proc server;
        xous_cid_t cid = start_server(&server, check_two_borrows, (void *)m);
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(3 * PAGE, 0xb0b0);

        EXPECT_OK(xous_lend(cid, 3, buf, 12, 34));
        EXPECT_MSG(check_pattern(xous_buf_data(buf), 3 * PAGE, 0xb0b0), "a Borrow changed the caller's bytes");
        /* Still the caller's: refill and lend again. */
        fill_pattern(xous_buf_data(buf), 3 * PAGE, 0xc0c0);
        EXPECT_OK(xous_lend(cid, 4, buf, 0, 3 * PAGE));
        proc_wait_exit(&server, 0);
}
END_TEST

static void write_to_borrow(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_envelope_t *env = receive(sid);
        volatile char *p = xous_envelope_buf(env);

        (void)arg;
        EXPECT_EQ(xous_envelope_kind(env), XOUS_MSG_BORROW);
        /* The fault must kill: under ASan its SIGSEGV handler would report
         * it and exit 1 instead. */
        EXPECT(signal(SIGSEGV, SIG_DFL) != SIG_ERR);
        p[100] = 0x55;          /* must fault: the mapping is read-only */
        parent_send_u32(0xbad);
}

START_TEST(borrow_is_read_only) {
        struct proc server;
        xous_cid_t cid = start_server(&server, write_to_borrow, NULL);
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(PAGE, 0xd00d);

        EXPECT_ERR(xous_lend(cid, 1, buf, 0, PAGE), XOUS_ERR_SERVER_NOT_FOUND);
        proc_wait_signal(&server, SIGSEGV);
        EXPECT_MSG(check_pattern(xous_buf_data(buf), PAGE, 0xd00d), "the caller's buffer changed");
        /* Still the caller's and writable. */
        memset(xous_buf_data(buf), 0x11, PAGE);
}
END_TEST

static void rewrite_mutable_borrow(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_envelope_t *env = receive(sid);
        static const struct memory_expect m = { XOUS_MSG_MUTABLE_BORROW, 6, 2 * PAGE, 10, 20, 0xaaaa };

        (void)arg;
        check_memory_envelope(env, &m);
        fill_pattern(xous_envelope_buf(env), 2 * PAGE, 0xbbbb);
        xous_envelope_set_offset_valid(env, 33, 44);
        xous_envelope_drop(env);
}

START_TEST(mutable_borrow_returns_changes) {
        struct proc server;
        xous_cid_t cid = start_server(&server, rewrite_mutable_borrow, NULL);
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(2 * PAGE, 0xaaaa);
        uint32_t offset = 10, valid = 20;

        EXPECT_OK(xous_lend_mut(cid, 6, buf, &offset, &valid));
        EXPECT_MSG(check_pattern(xous_buf_data(buf), 2 * PAGE, 0xbbbb),
                   "the server's writes are not visible to the caller");
        EXPECT_EQ(offset, 33);
        EXPECT_EQ(valid, 44);
        proc_wait_exit(&server, 0);
}
END_TEST

static void expect_all_ones(void *arg) {
        xous_sid_t sid = register_kinds();
        static const uint32_t ones5[5] = { ONES, ONES, ONES, ONES, ONES };

        (void)arg;
        for (int i = 0; i < 8; i++) {
                xous_envelope_t *env = receive(sid);
                const uint32_t *a = xous_envelope_args(env);
                uint32_t kind = xous_envelope_kind(env);

                EXPECT_EQ(xous_envelope_id(env), ONES);
                if (kind == XOUS_MSG_SCALAR || kind == XOUS_MSG_BLOCKING_SCALAR) {
                        for (int j = 0; j < 4; j++)
                                EXPECT_EQ(a[j], ONES);
                }
                switch (i) {
                case 0:
                        EXPECT_EQ(kind, XOUS_MSG_SCALAR);
                        break;
                case 1:
                        EXPECT_EQ(kind, XOUS_MSG_BLOCKING_SCALAR);
                        EXPECT_OK(xous_return_scalar(env, ONES));
                        break;
                case 2:
                        EXPECT_OK(xous_return_scalar2(env, ONES, ONES));
                        break;
                case 3:
                        EXPECT_OK(xous_return_scalar5(env, ones5));
                        break;
                case 4:
                case 5:
                        EXPECT_EQ(kind, i == 4 ? XOUS_MSG_MOVE : XOUS_MSG_BORROW);
                        EXPECT_EQ(xous_envelope_offset(env), ONES);
                        EXPECT_EQ(xous_envelope_valid(env), ONES);
                        break;
                case 6:
                        EXPECT_EQ(kind, XOUS_MSG_MUTABLE_BORROW);
                        EXPECT_EQ(xous_envelope_offset(env), ONES);
                        EXPECT_EQ(xous_envelope_valid(env), ONES);
                        xous_envelope_set_offset_valid(env, 1, 2);
                        break;
                case 7:
                        EXPECT_EQ(kind, XOUS_MSG_MUTABLE_BORROW);
                        EXPECT_EQ(xous_envelope_offset(env), 3);
                        EXPECT_EQ(xous_envelope_valid(env), 4);
                        xous_envelope_set_offset_valid(env, ONES, ONES);
                        break;
                }
                xous_envelope_drop(env);
        }
}

START_TEST(all_ones_survive) {
        struct proc server;
        xous_cid_t cid = start_server(&server, expect_all_ones, NULL);
        xous_buf_t *move = buf_with_pattern(PAGE, 1);
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(PAGE, 2);
        xous_scalar_reply_t r;
        uint32_t offset = ONES, valid = ONES;

        EXPECT_OK(xous_send_scalar(cid, ONES, ONES, ONES, ONES, ONES));
        EXPECT_OK(xous_blocking_scalar(cid, ONES, ONES, ONES, ONES, ONES, &r));
        EXPECT_EQ(r.count, 1);
        EXPECT_EQ(r.v[0], ONES);
        EXPECT_OK(xous_blocking_scalar(cid, ONES, ONES, ONES, ONES, ONES, &r));
        EXPECT_EQ(r.count, 2);
        EXPECT_EQ(r.v[0], ONES);
        EXPECT_EQ(r.v[1], ONES);
        EXPECT_OK(xous_blocking_scalar(cid, ONES, ONES, ONES, ONES, ONES, &r));
        EXPECT_EQ(r.count, 5);
        for (int j = 0; j < 5; j++)
                EXPECT_EQ(r.v[j], ONES);
        EXPECT_OK(xous_send(cid, ONES, move, ONES, ONES));
        EXPECT_OK(xous_lend(cid, ONES, buf, ONES, ONES));
        EXPECT_OK(xous_lend_mut(cid, ONES, buf, &offset, &valid));
        EXPECT_EQ(offset, 1);
        EXPECT_EQ(valid, 2);
        offset = 3;
        valid = 4;
        EXPECT_OK(xous_lend_mut(cid, ONES, buf, &offset, &valid));
        EXPECT_EQ(offset, ONES);
        EXPECT_EQ(valid, ONES);
        proc_wait_exit(&server, 0);
}
END_TEST

#define ORDER_COUNT 1000

/* The kind the caller uses for message i of the ordered stream. */
static uint32_t order_kind(uint32_t i) {
        if (i % 100 == 7)
                return XOUS_MSG_BORROW;
        if (i % 50 == 3)
                return XOUS_MSG_MOVE;
        return XOUS_MSG_SCALAR;
}

static void check_order(void *arg) {
        xous_sid_t sid = register_kinds();
        uint32_t next = 0, wrong = 0;

        (void)arg;
        for (;;) {
                xous_envelope_t *env = receive(sid);
                uint32_t id = xous_envelope_id(env);

                if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR) {
                        EXPECT_OK(xous_return_scalar2(env, next, wrong));
                        xous_envelope_drop(env);
                        return;
                }
                if (id != next || xous_envelope_kind(env) != order_kind(id) ||
                    (order_kind(id) == XOUS_MSG_SCALAR && xous_envelope_args(env)[0] != id))
                        wrong++;
                if (order_kind(id) != XOUS_MSG_SCALAR &&
                    !check_pattern(xous_envelope_buf(env), PAGE, id))
                        wrong++;
                next = id + 1;
                xous_envelope_drop(env);
        }
}

START_TEST(order_is_kept) {
        struct proc server;
        xous_cid_t cid = start_server(&server, check_order, NULL);
        XOUS_BUF_AUTO xous_buf_t *lent = xous_buf_new(PAGE);
        xous_scalar_reply_t r;

        EXPECT(lent);
        for (uint32_t i = 0; i < ORDER_COUNT; i++) {
                switch (order_kind(i)) {
                case XOUS_MSG_SCALAR:
                        EXPECT_OK(xous_send_scalar(cid, i, i, 0, 0, 0));
                        break;
                case XOUS_MSG_MOVE:
                        EXPECT_OK(xous_send(cid, i, buf_with_pattern(PAGE, i), 0, PAGE));
                        break;
                case XOUS_MSG_BORROW:
                        fill_pattern(xous_buf_data(lent), PAGE, i);
                        EXPECT_OK(xous_lend(cid, i, lent, 0, PAGE));
                        break;
                }
        }
        EXPECT_OK(xous_blocking_scalar(cid, ORDER_COUNT, 0, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 2);
        EXPECT_MSG(r.v[0] == ORDER_COUNT && r.v[1] == 0,
                   "server saw %u messages (last id + 1), %u out of order or damaged", r.v[0], r.v[1]);
        proc_wait_exit(&server, 0);
}
END_TEST

static void answer_sender_pid(void *arg) {
        xous_sid_t sid = register_kinds();

        (void)arg;
        for (int i = 0; i < 3; i++) {
                xous_envelope_t *env = receive(sid);

                if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR)
                        EXPECT_OK(xous_return_scalar(env, xous_envelope_sender_pid(env)));
                else
                        parent_send_u32(xous_envelope_sender_pid(env));
                xous_envelope_drop(env);
        }
}

static void ask_my_pid(void *arg) {
        xous_scalar_reply_t r;

        (void)arg;
        EXPECT_OK(xous_blocking_scalar(connect_name("kinds"), 1, 0, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], getpid());
}

START_TEST(sender_pid_is_caller) {
        struct proc server, other;
        xous_cid_t cid = start_server(&server, answer_sender_pid, NULL);
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, 1, 0, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], getpid());
        EXPECT_OK(xous_send_scalar(cid, 2, 0, 0, 0, 0));
        EXPECT_EQ(proc_recv_u32(&server), getpid());
        proc_start(&other, "other caller", ask_my_pid, NULL);
        proc_wait_exit(&other, 0);
        proc_wait_exit(&server, 0);
}
END_TEST

static void answer_twice(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_envelope_t *env = receive(sid);
        static const uint32_t v5[5] = { 9, 9, 9, 9, 9 };

        (void)arg;
        EXPECT_OK(xous_return_scalar(env, 5));
        EXPECT_ERR(xous_return_scalar(env, 6), XOUS_ERR_DOUBLE_FREE);
        EXPECT_ERR(xous_return_scalar2(env, 7, 8), XOUS_ERR_DOUBLE_FREE);
        EXPECT_ERR(xous_return_scalar5(env, v5), XOUS_ERR_DOUBLE_FREE);
        xous_envelope_drop(env);
}

START_TEST(return_scalar_twice) {
        struct proc server;
        xous_cid_t cid = start_server(&server, answer_twice, NULL);
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, 1, 0, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 1);
        EXPECT_EQ(r.v[0], 5);
        proc_wait_exit(&server, 0);
}
END_TEST

static void answer_wrong_kind(void *arg) {
        xous_sid_t sid = register_kinds();
        static const uint32_t v5[5] = { 1, 2, 3, 4, 5 };

        (void)arg;
        for (int i = 0; i < 4; i++) {
                xous_envelope_t *env = receive(sid);

                EXPECT_ERR(xous_return_scalar(env, 1), XOUS_ERR_DOUBLE_FREE);
                EXPECT_ERR(xous_return_scalar2(env, 1, 2), XOUS_ERR_DOUBLE_FREE);
                EXPECT_ERR(xous_return_scalar5(env, v5), XOUS_ERR_DOUBLE_FREE);
                xous_envelope_drop(env);
        }
}

START_TEST(return_scalar_wrong_kind) {
        struct proc server;
        xous_cid_t cid = start_server(&server, answer_wrong_kind, NULL);
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(PAGE, 3);
        uint32_t offset = 1, valid = 2;

        EXPECT_OK(xous_send_scalar(cid, 1, 0, 0, 0, 0));
        EXPECT_OK(xous_send(cid, 2, buf_with_pattern(PAGE, 4), 0, 0));
        EXPECT_OK(xous_lend(cid, 3, buf, 0, 0));
        EXPECT_OK(xous_lend_mut(cid, 4, buf, &offset, &valid));
        EXPECT(check_pattern(xous_buf_data(buf), PAGE, 3));
        proc_wait_exit(&server, 0);
}
END_TEST

static void drop_first_unanswered(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_envelope_t *env = receive(sid);

        (void)arg;
        xous_envelope_drop(env);        /* no answer */
        env = receive(sid);
        EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
        xous_envelope_drop(env);
}

START_TEST(dropped_blocking_scalar_wakes_caller) {
        struct proc server;
        xous_cid_t cid = start_server(&server, drop_first_unanswered, NULL);
        xous_scalar_reply_t r;

        EXPECT_ERR(xous_blocking_scalar(cid, 1, 10, 0, 0, 0, &r), XOUS_ERR_INTERNAL_ERROR);
        EXPECT_OK(xous_blocking_scalar(cid, 1, 20, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 21);
        proc_wait_exit(&server, 0);
}
END_TEST

/* First server: passes everything on to "kinds.second" under opcode + 100. */
static void forwarder(void *arg) {
        xous_sid_t sid = register_kinds();
        xous_cid_t second = connect_name("kinds.second");

        (void)arg;
        for (int i = 0; i < 2; i++) {
                xous_envelope_t *env = receive(sid);

                EXPECT_OK(xous_forward(env, second, xous_envelope_id(env) + 100));
                xous_envelope_drop(env);
        }
}

static void second_server(void *arg) {
        xous_sid_t sid;
        static const struct memory_expect m = { XOUS_MSG_MUTABLE_BORROW, 102, PAGE, 1, 2, 0xf0f0 };

        (void)arg;
        EXPECT_OK(xous_register_name("kinds.second", 0, &sid));
        parent_send_sid(sid);
        for (int i = 0; i < 2; i++) {
                xous_envelope_t *env = receive(sid);

                if (xous_envelope_kind(env) == XOUS_MSG_BLOCKING_SCALAR) {
                        EXPECT_EQ(xous_envelope_id(env), 101);
                        EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1000));
                } else {
                        check_memory_envelope(env, &m);
                        fill_pattern(xous_envelope_buf(env), PAGE, 0x0f0f);
                        xous_envelope_set_offset_valid(env, 11, 22);
                }
                xous_envelope_drop(env);
        }
}

START_TEST(forward_answer_reaches_caller) {
        struct proc first, second;
        xous_cid_t cid;
        xous_scalar_reply_t r;
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(PAGE, 0xf0f0);
        uint32_t offset = 1, valid = 2;

        proc_start(&second, "second", second_server, NULL);
        proc_recv_sid(&second);
        cid = start_server(&first, forwarder, NULL);
        EXPECT_OK(xous_blocking_scalar(cid, 1, 5, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 1);
        EXPECT_EQ(r.v[0], 1005);
        EXPECT_OK(xous_lend_mut(cid, 2, buf, &offset, &valid));
        EXPECT_MSG(check_pattern(xous_buf_data(buf), PAGE, 0x0f0f), "the second server's writes did not arrive");
        EXPECT_EQ(offset, 11);
        EXPECT_EQ(valid, 22);
        proc_wait_exit(&first, 0);
        proc_wait_exit(&second, 0);
}
END_TEST

#define BIG (16u << 20)

static void check_big(void *arg) {
        xous_sid_t sid = register_kinds();
        static const struct memory_expect borrow = { XOUS_MSG_BORROW, 1, BIG, 0, BIG, 0x16 };
        static const struct memory_expect mut = { XOUS_MSG_MUTABLE_BORROW, 2, BIG, 0, BIG, 0x17 };
        xous_envelope_t *env;

        (void)arg;
        env = receive(sid);
        check_memory_envelope(env, &borrow);
        xous_envelope_drop(env);
        env = receive(sid);
        check_memory_envelope(env, &mut);
        fill_pattern(xous_envelope_buf(env), BIG, 0x18);
        xous_envelope_drop(env);
}

START_TEST(lend_16_mib) {
        struct proc server;
        xous_cid_t cid = start_server(&server, check_big, NULL);
        XOUS_BUF_AUTO xous_buf_t *buf = buf_with_pattern(BIG, 0x16);
        uint32_t offset = 0, valid = BIG;

        EXPECT_OK(xous_lend(cid, 1, buf, 0, BIG));
        fill_pattern(xous_buf_data(buf), BIG, 0x17);
        EXPECT_OK(xous_lend_mut(cid, 2, buf, &offset, &valid));
        EXPECT_MSG(check_pattern(xous_buf_data(buf), BIG, 0x18), "16 MiB lend_mut: the server's writes did not arrive");
        proc_wait_exit(&server, 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("kinds");

        HARNESS_ADD(s, scalar_args_arrive);
        HARNESS_ADD(s, blocking_scalar_replies);
        HARNESS_ADD(s, move_hands_over_bytes);
        HARNESS_ADD(s, borrow_lends_bytes);
        HARNESS_ADD(s, borrow_is_read_only);
        HARNESS_ADD(s, mutable_borrow_returns_changes);
        HARNESS_ADD(s, all_ones_survive);
        HARNESS_ADD(s, order_is_kept);
        HARNESS_ADD(s, sender_pid_is_caller);
        HARNESS_ADD(s, return_scalar_twice);
        HARNESS_ADD(s, return_scalar_wrong_kind);
        HARNESS_ADD(s, dropped_blocking_scalar_wakes_caller);
        HARNESS_ADD(s, forward_answer_reaches_caller);
        HARNESS_ADD(s, lend_16_mib);
        return harness_run(s);
}
