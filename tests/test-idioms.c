/* test-idioms.c: the four Xous caller idioms, end to end between processes. */
#include <ctype.h>
#include <string.h>

#include "harness.h"

enum {
        OP_ADD = 1,
        OP_SUM,
        OP_LAST_SUM,
        OP_UPPER,
        OP_SUBSCRIBE,
        OP_TRIGGER,
        OP_EVENT,
        OP_UNSUBSCRIBE,
        OP_PARK,
        OP_ECHO,
        OP_RELEASE,
        OP_TRIPLE,
        OP_INC,
        OP_QUIT,
};

static xous_sid_t register_idioms(void) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name("idioms", 0, &sid));
        parent_send_sid(sid);
        return sid;
}

static xous_cid_t start_server(struct proc *p, void (*fn)(void *)) {
        proc_start(p, "server", fn, NULL);
        proc_recv_sid(p);
        return connect_name("idioms");
}

static void quit(struct proc *p, xous_cid_t cid) {
        xous_scalar_reply_t r;

        EXPECT_OK(xous_blocking_scalar(cid, OP_QUIT, 0, 0, 0, 0, &r));
        proc_wait_exit(p, 0);
}

/* --- 1. non-synchronizing ---------------------------------------------- */

/* Receives only when the parent says so, then reports what came. */
static void report_two_when_told(void *arg) {
        xous_sid_t sid = register_idioms();
        uint32_t r[8];
        xous_envelope_t *env = NULL;

        (void)arg;
        parent_recv_u32();
        EXPECT_OK(xous_receive_message(sid, &env));
        r[0] = xous_envelope_kind(env);
        r[1] = xous_envelope_id(env);
        r[2] = xous_envelope_args(env)[0];
        r[3] = xous_envelope_args(env)[3];
        xous_envelope_drop(env);
        EXPECT_OK(xous_receive_message(sid, &env));
        r[4] = xous_envelope_kind(env);
        r[5] = xous_envelope_id(env);
        r[6] = xous_envelope_buf_len(env) == PAGE && check_pattern(xous_envelope_buf(env), PAGE, 0x77);
        r[7] = xous_envelope_valid(env);
        xous_envelope_drop(env);
        parent_send(r, sizeof(r));
}

static void send_scalar_and_move(xous_cid_t cid) {
        xous_buf_t *buf = xous_buf_new(PAGE);

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), PAGE, 0x77);
        EXPECT_OK(xous_send_scalar(cid, OP_ADD, 5, 6, 7, 8));
        EXPECT_OK(xous_send(cid, OP_SUM, buf, 0, 123));
}

static void expect_scalar_and_move(struct proc *server) {
        uint32_t r[8];

        proc_recv(server, r, sizeof(r));
        EXPECT_EQ(r[0], XOUS_MSG_SCALAR);
        EXPECT_EQ(r[1], OP_ADD);
        EXPECT_EQ(r[2], 5);
        EXPECT_EQ(r[3], 8);
        EXPECT_EQ(r[4], XOUS_MSG_MOVE);
        EXPECT_EQ(r[5], OP_SUM);
        EXPECT_MSG(r[6], "the moved page did not arrive intact");
        EXPECT_EQ(r[7], 123);
}

START_TEST(nonsync_returns_before_receive) {
        struct proc server;
        xous_cid_t cid = start_server(&server, report_two_when_told);

        /* Both return while the server is not receiving. */
        send_scalar_and_move(cid);
        proc_send_u32(&server, 1);
        expect_scalar_and_move(&server);
        proc_wait_exit(&server, 0);
}
END_TEST

static void fire_and_exit(void *arg) {
        (void)arg;
        send_scalar_and_move(connect_name("idioms"));
}

/* Fire and forget: what was sent arrives even when the sender has exited. */
START_TEST(nonsync_outlives_sender) {
        struct proc server, caller;

        proc_start(&server, "server", report_two_when_told, NULL);
        proc_recv_sid(&server);
        proc_start(&caller, "caller", fire_and_exit, NULL);
        proc_wait_exit(&caller, 0);
        proc_send_u32(&server, 1);
        expect_scalar_and_move(&server);
        proc_wait_exit(&server, 0);
}
END_TEST

/* --- 2. synchronous ------------------------------------------------------ */

static void synchronous_server(void *arg) {
        xous_sid_t sid = register_idioms();
        uint32_t last_sum = 0;

        (void)arg;
        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;
                const uint32_t *a;
                unsigned char *p;

                EXPECT_OK(xous_receive_message(sid, &env));
                a = xous_envelope_args(env);
                p = xous_envelope_buf(env);
                switch (xous_envelope_id(env)) {
                case OP_ADD:
                        EXPECT_OK(xous_return_scalar(env, a[0] + a[1]));
                        break;
                case OP_SUM:
                        last_sum = 0;
                        for (uint32_t i = 0; i < xous_envelope_valid(env); i++)
                                last_sum += p[i];
                        break;
                case OP_LAST_SUM:
                        EXPECT_OK(xous_return_scalar(env, last_sum));
                        break;
                case OP_UPPER:
                        for (uint32_t i = 0; i < xous_envelope_valid(env); i++)
                                p[i] = (unsigned char)toupper(p[i]);
                        xous_envelope_set_offset_valid(env, 0, xous_envelope_valid(env));
                        break;
                case OP_QUIT:
                        EXPECT_OK(xous_return_scalar(env, 0));
                        return;
                }
        }       /* each envelope is dropped at the end of its iteration */
}

START_TEST(synchronous) {
        struct proc server;
        xous_cid_t cid = start_server(&server, synchronous_server);
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        xous_scalar_reply_t r;
        uint32_t offset = 0, valid;
        char *text;

        EXPECT(buf);
        text = xous_buf_data(buf);
        EXPECT_OK(xous_blocking_scalar(cid, OP_ADD, 2, 3, 0, 0, &r));
        EXPECT_EQ(r.v[0], 5);
        strcpy(text, "hello world");
        EXPECT_OK(xous_lend(cid, OP_SUM, buf, 0, (uint32_t)strlen(text)));
        EXPECT_OK(xous_blocking_scalar(cid, OP_LAST_SUM, 0, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 1116);        /* the bytes of "hello world" */
        strcpy(text, "make me loud");
        valid = (uint32_t)strlen(text);
        EXPECT_OK(xous_lend_mut(cid, OP_UPPER, buf, &offset, &valid));
        EXPECT_MSG(!strcmp(text, "MAKE ME LOUD"), "got '%s'", text);
        EXPECT_EQ(valid, 12);
        quit(&server, cid);
}
END_TEST

/* --- 3. asynchronous push ------------------------------------------------ */

static void callee_server(void *arg) {
        xous_sid_t sid, sub = { { 0 } };
        xous_cid_t sub_cid = 0;

        (void)arg;
        EXPECT_OK(xous_register_name("idioms.callee", 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;
                const uint32_t *a;
                xous_sid_t given;

                EXPECT_OK(xous_receive_message(sid, &env));
                a = xous_envelope_args(env);
                memcpy(given.w, a, sizeof(given.w));
                switch (xous_envelope_id(env)) {
                case OP_SUBSCRIBE:
                        sub = given;
                        EXPECT_OK(xous_connect(sub, &sub_cid));
                        break;
                case OP_TRIGGER:
                        for (uint32_t i = 1; i <= a[0]; i++)
                                EXPECT_OK(xous_send_scalar(sub_cid, OP_EVENT, i, i * 7, 0, 0));
                        break;
                case OP_UNSUBSCRIBE: {
                        xous_error_t e;

                        EXPECT_MSG(sid_equal(given, sub), "unsubscribe names another SID");
                        EXPECT_OK(xous_disconnect(sub_cid));
                        e = xous_send_scalar(sub_cid, OP_EVENT, 99, 0, 0, 0);
                        EXPECT_MSG(e != XOUS_OK, "a send on a disconnected CID succeeded");
                        EXPECT_OK(xous_return_scalar(env, 1));
                        break;
                }
                case OP_QUIT:
                        EXPECT_OK(xous_return_scalar(env, 0));
                        return;
                }
        }
}

struct subscriber {
        xous_sid_t sid;
        uint32_t events[3][2];
};

static void *serve_events(void *arg) {
        struct subscriber *s = arg;

        for (int i = 0; i < 3; i++) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(s->sid, &env));
                EXPECT_EQ(xous_envelope_id(env), OP_EVENT);
                EXPECT_EQ(xous_envelope_kind(env), XOUS_MSG_SCALAR);
                s->events[i][0] = xous_envelope_args(env)[0];
                s->events[i][1] = xous_envelope_args(env)[1];
        }
        return NULL;
}

START_TEST(asynchronous_push) {
        struct proc callee;
        struct subscriber s;
        pthread_t thread;
        xous_cid_t cid;
        xous_scalar_reply_t r;
        xous_envelope_t *env = (void *)1;

        proc_start(&callee, "callee", callee_server, NULL);
        proc_recv_sid(&callee);
        cid = connect_name("idioms.callee");
        EXPECT_OK(xous_create_server(&s.sid));
        thread_start(&thread, serve_events, &s);
        EXPECT_OK(xous_send_scalar(cid, OP_SUBSCRIBE, s.sid.w[0], s.sid.w[1], s.sid.w[2], s.sid.w[3]));
        EXPECT_OK(xous_send_scalar(cid, OP_TRIGGER, 3, 0, 0, 0));
        thread_join(thread, HARNESS_WAIT_MS);
        for (uint32_t i = 0; i < 3; i++) {
                EXPECT_EQ(s.events[i][0], i + 1);
                EXPECT_EQ(s.events[i][1], (i + 1) * 7);
        }
        EXPECT_OK(xous_blocking_scalar(cid, OP_UNSUBSCRIBE, s.sid.w[0], s.sid.w[1], s.sid.w[2], s.sid.w[3], &r));
        EXPECT_EQ(r.v[0], 1);
        /* Nothing arrives after the unsubscribe. */
        EXPECT_OK(xous_try_receive_message(s.sid, &env));
        EXPECT_MSG(env == NULL, "a message arrived after unsubscribe");
        EXPECT_OK(xous_destroy_server(s.sid));
        quit(&callee, cid);
}
END_TEST

/* --- 4. deferred response ------------------------------------------------ */

static void deferred_server(void *arg) {
        xous_sid_t sid = register_idioms();
        xous_envelope_t *parked[8];
        uint32_t nparked = 0;

        (void)arg;
        for (;;) {
                xous_envelope_t *env = NULL;
                uint32_t tag;

                EXPECT_OK(xous_receive_message(sid, &env));
                switch (xous_envelope_id(env)) {
                case OP_PARK:
                        EXPECT(nparked < 8);
                        parked[nparked++] = env;        /* the caller stays blocked */
                        parent_send_u32(nparked);
                        continue;
                case OP_ECHO:
                        EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
                        break;
                case OP_RELEASE:
                        /* Last parked first. */
                        while (nparked > 0) {
                                xous_envelope_t *p = parked[--nparked];

                                if (xous_envelope_kind(p) == XOUS_MSG_BLOCKING_SCALAR) {
                                        EXPECT_OK(xous_return_scalar(p, xous_envelope_args(p)[0] * 10));
                                } else {
                                        tag = *(uint32_t *)xous_envelope_buf(p);
                                        fill_pattern(xous_envelope_buf(p), PAGE, tag * 10);
                                        xous_envelope_set_offset_valid(p, tag, tag * 2);
                                }
                                xous_envelope_drop(p);
                        }
                        break;
                case OP_QUIT:
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

static void park_blocking_scalar(void *arg) {
        uint32_t tag = (uint32_t)(uintptr_t)arg;
        xous_cid_t cid = connect_name("idioms");
        xous_scalar_reply_t r = { 0 };

        EXPECT_OK(xous_blocking_scalar(cid, OP_PARK, tag, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 1);
        parent_send_u32(r.v[0]);
}

static void park_lend_mut(void *arg) {
        uint32_t tag = (uint32_t)(uintptr_t)arg;
        xous_cid_t cid = connect_name("idioms");
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        uint32_t offset = 0, valid = 4;

        EXPECT(buf);
        *(uint32_t *)xous_buf_data(buf) = tag;
        EXPECT_OK(xous_lend_mut(cid, OP_PARK, buf, &offset, &valid));
        EXPECT_MSG(check_pattern(xous_buf_data(buf), PAGE, tag * 10), "the lent buffer holds another answer");
        EXPECT_EQ(offset, tag);
        EXPECT_EQ(valid, tag * 2);
        parent_send_u32(tag * 10);
}

START_TEST(deferred_response) {
        struct proc server, c[3];
        void (*const fn[3])(void *) = { park_blocking_scalar, park_lend_mut, park_blocking_scalar };
        xous_cid_t cid = start_server(&server, deferred_server);
        xous_scalar_reply_t r;
        uint32_t v;

        for (uint32_t i = 0; i < 3; i++) {
                proc_start(&c[i], "parked caller", fn[i], (void *)(uintptr_t)(i + 1));
                EXPECT_EQ(proc_recv_u32(&server), i + 1);
        }
        /* All three parked: the server still answers others. */
        EXPECT_OK(xous_blocking_scalar(cid, OP_ECHO, 41, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 42);
        for (int i = 0; i < 3; i++)
                EXPECT_MSG(proc_recv_timeout(&c[i], &v, sizeof(v), 100) == 0,
                           "caller %d returned %u while parked", i + 1, v);
        EXPECT_OK(xous_send_scalar(cid, OP_RELEASE, 0, 0, 0, 0));
        for (uint32_t i = 0; i < 3; i++) {
                EXPECT_EQ(proc_recv_u32(&c[i]), (i + 1) * 10);
                proc_wait_exit(&c[i], 0);
        }
        quit(&server, cid);
}
END_TEST

/* --- reply_and_receive_next --------------------------------------------- */

static void reply_and_receive_server(void *arg) {
        xous_sid_t sid = register_idioms();
        xous_envelope_t *env = NULL;

        (void)arg;
        for (;;) {
                unsigned char *p;

                EXPECT_OK(xous_reply_and_receive_next(sid, &env));
                EXPECT(env);
                switch (xous_envelope_id(env)) {
                case OP_TRIPLE:
                        EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] * 3));
                        break;
                case OP_INC:
                        p = xous_envelope_buf(env);
                        for (size_t i = 0; i < xous_envelope_buf_len(env); i++)
                                p[i]++;
                        xous_envelope_set_offset_valid(env, xous_envelope_offset(env) + 1,
                                                       xous_envelope_valid(env) + 1);
                        break;
                case OP_QUIT:
                        EXPECT_OK(xous_return_scalar(env, 0));
                        xous_envelope_drop(env);
                        return;
                }
        }
}

START_TEST(reply_and_receive_next_loop) {
        struct proc server;
        xous_cid_t cid = start_server(&server, reply_and_receive_server);
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(PAGE);
        unsigned char *p;

        EXPECT(buf);
        p = xous_buf_data(buf);
        for (uint32_t i = 0; i < 100; i++) {
                xous_scalar_reply_t r;
                uint32_t offset = i, valid = i * 2;

                EXPECT_OK(xous_blocking_scalar(cid, OP_TRIPLE, i, 0, 0, 0, &r));
                EXPECT_EQ(r.v[0], i * 3);
                EXPECT_OK(xous_send_scalar(cid, OP_ADD, i, 0, 0, 0));   /* dropped, no answer */
                EXPECT_OK(xous_lend_mut(cid, OP_INC, buf, &offset, &valid));
                EXPECT_EQ(p[0], (unsigned char)(i + 1));
                EXPECT_EQ(p[PAGE - 1], (unsigned char)(i + 1));
                EXPECT_EQ(offset, i + 1);
                EXPECT_EQ(valid, i * 2 + 1);
        }
        quit(&server, cid);
}
END_TEST

int main(void) {
        Suite *s = suite_create("idioms");

        HARNESS_ADD(s, nonsync_returns_before_receive);
        HARNESS_ADD(s, nonsync_outlives_sender);
        HARNESS_ADD(s, synchronous);
        HARNESS_ADD(s, asynchronous_push);
        HARNESS_ADD(s, deferred_response);
        HARNESS_ADD(s, reply_and_receive_next_loop);
        return harness_run(s);
}
