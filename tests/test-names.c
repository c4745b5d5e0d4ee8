/* test-names.c: name registration and connection grants, between processes. */
#include <string.h>

#include "harness.h"

/* Asks the echo server behind cid for a1 + 1: proves cid reaches it. */
static void expect_echo(xous_cid_t cid, uint32_t a1) {
        xous_scalar_reply_t reply = { 0 };

        EXPECT_OK(xous_blocking_scalar(cid, 1, a1, 0, 0, 0, &reply));
        EXPECT_EQ(reply.count, 1);
        EXPECT_EQ(reply.v[0], a1 + 1);
}

START_TEST(register_and_connect) {
        struct proc server;
        xous_sid_t sid;
        xous_cid_t cid = 0;

        proc_start(&server, "server", echo_server, "names.basic");
        sid = proc_recv_sid(&server);
        EXPECT(!sid_equal(sid, (xous_sid_t){ { 0, 0, 0, 0 } }));
        EXPECT_OK(xous_request_connection("names.basic", &cid));
        expect_echo(cid, 41);
        echo_stop(&server, cid);
}
END_TEST

static void register_expect_exists(void *name) {
        xous_sid_t sid;

        EXPECT_ERR(xous_register_name(name, 0, &sid), XOUS_ERR_SERVER_EXISTS);
}

START_TEST(duplicate_name) {
        struct proc server, other;
        xous_sid_t sid;
        xous_cid_t cid;

        proc_start(&server, "server", echo_server, "names.dup");
        proc_recv_sid(&server);
        /* Another process, and this one, cannot take the name. */
        proc_start(&other, "other", register_expect_exists, "names.dup");
        proc_wait_exit(&other, 0);
        EXPECT_ERR(xous_register_name("names.dup", 0, &sid), XOUS_ERR_SERVER_EXISTS);
        /* The first registration still owns it. */
        cid = connect_name("names.dup");
        expect_echo(cid, 7);
        echo_stop(&server, cid);
}
END_TEST

static void repeat_char(char *buf, size_t n, char c) {
        memset(buf, c, n);
        buf[n] = 0;
}

START_TEST(name_length_limit) {
        char name63[64], name64[65];
        xous_sid_t sid;
        xous_cid_t cid;

        repeat_char(name63, 63, 'a');
        repeat_char(name64, 64, 'b');
        EXPECT_ERR(xous_register_name(name64, 0, &sid), XOUS_ERR_INVALID_STRING);
        EXPECT_OK(xous_register_name(name63, 0, &sid));
        /* Stored whole: its 62-byte prefix is another, unknown name. */
        EXPECT_OK(xous_request_connection(name63, &cid));
        name63[62] = 0;
        EXPECT_ERR(xous_request_connection(name63, &cid), XOUS_ERR_SERVER_NOT_FOUND);
}
END_TEST

START_TEST(name_length_counts_bytes) {
        char name[80] = "";
        xous_sid_t sid;

        /* 21 euro signs are 63 bytes of UTF-8; 62 ASCII + a 2-byte char is 64. */
        for (int i = 0; i < 21; i++)
                strcat(name, "\xe2\x82\xac");
        EXPECT_EQ(strlen(name), 63);
        EXPECT_OK(xous_register_name(name, 0, &sid));
        repeat_char(name, 62, 'c');
        strcat(name, "\xc3\xa9");
        EXPECT_EQ(strlen(name), 64);
        EXPECT_ERR(xous_register_name(name, 0, &sid), XOUS_ERR_INVALID_STRING);
}
END_TEST

START_TEST(name_invalid_utf8) {
        static const char *const bad[] = {
                "\xff",                         /* never valid */
                "abc\x80",                      /* stray continuation byte */
                "ab\xe2\x82",                   /* truncated sequence */
                "\xc0\xaf",                     /* overlong '/' (2 bytes) */
                "\xe0\x80\xaf",                 /* overlong '/' (3 bytes) */
                "\xf0\x80\x80\xaf",             /* overlong '/' (4 bytes) */
                "\xed\xa0\x80",                 /* surrogate U+D800 */
                "\xed\xbf\xbf",                 /* surrogate U+DFFF */
                "\xf4\x90\x80\x80",             /* above U+10FFFF */
                "\xf8\x88\x80\x80\x80",         /* 5-byte form */
        };
        xous_sid_t sid;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                xous_error_t e = xous_register_name(bad[i], 0, &sid);

                EXPECT_MSG(e == XOUS_ERR_INVALID_STRING, "name #%zu: got %s, want INVALID_STRING",
                           i, harness_errname(e));
        }
}
END_TEST

START_TEST(name_valid_utf8) {
        static const char *const good[] = {
                "\xc3\xa9t\xc3\xa9",            /* été */
                "\xf0\x9f\x98\x80",             /* U+1F600 */
                "\xf4\x8f\xbf\xbf",             /* U+10FFFF */
                "\xef\xbf\xbf",                 /* U+FFFF */
                "\xed\x9f\xbf",                 /* U+D7FF, just below the surrogates */
        };

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                xous_sid_t sid;
                xous_cid_t cid;

                EXPECT_OK(xous_register_name(good[i], 0, &sid));
                EXPECT_OK(xous_request_connection(good[i], &cid));
        }
}
END_TEST

/* NULL is rejected, not dereferenced; the error names a bad string or
 * argument. The empty name is not a name. */
START_TEST(name_null_empty) {
        xous_sid_t sid;
        xous_cid_t cid;
        xous_error_t e;

        e = xous_register_name(NULL, 0, &sid);
        EXPECT_MSG(e == XOUS_ERR_INVALID_STRING || e == XOUS_ERR_INVALID_ARGUMENT,
                   "register_name(NULL): %s", harness_errname(e));
        e = xous_request_connection(NULL, &cid);
        EXPECT_MSG(e == XOUS_ERR_INVALID_STRING || e == XOUS_ERR_INVALID_ARGUMENT,
                   "request_connection(NULL): %s", harness_errname(e));
        e = xous_request_connection_blocking(NULL, &cid);
        EXPECT_MSG(e == XOUS_ERR_INVALID_STRING || e == XOUS_ERR_INVALID_ARGUMENT,
                   "request_connection_blocking(NULL): %s", harness_errname(e));
        EXPECT_ERR(xous_register_name("", 0, &sid), XOUS_ERR_INVALID_STRING);
        EXPECT_ERR(xous_request_connection("", &cid), XOUS_ERR_INVALID_STRING);
        EXPECT_ERR(xous_request_connection_blocking("", &cid), XOUS_ERR_INVALID_STRING);
}
END_TEST

/* A name too long to register is refused by the request calls too, rather
 * than truncated onto a registered 63-byte name (and never waited for). */
START_TEST(request_invalid_name) {
        char name[65];
        xous_sid_t sid;
        xous_cid_t cid;

        repeat_char(name, 64, 'd');
        name[63] = 0;
        EXPECT_OK(xous_register_name(name, 0, &sid));
        name[63] = 'd';
        EXPECT_ERR(xous_request_connection(name, &cid), XOUS_ERR_INVALID_STRING);
        EXPECT_ERR(xous_request_connection_blocking(name, &cid), XOUS_ERR_INVALID_STRING);
        EXPECT_ERR(xous_request_connection("\xc0\xaf", &cid), XOUS_ERR_INVALID_STRING);
}
END_TEST

/* Child: n request_connection calls on "names.limited", reporting each result. */
static void request_n(void *arg) {
        uint32_t n = (uint32_t)(uintptr_t)arg;

        for (uint32_t i = 0; i < n; i++) {
                xous_cid_t cid = 0;
                xous_error_t e = xous_request_connection("names.limited", &cid);

                parent_send_u32(e);
                if (e == XOUS_OK)
                        expect_echo(cid, i);
        }
        /* Wait for the parent's go, then try both calls once more. */
        parent_recv_u32();
        {
                xous_cid_t cid;

                parent_send_u32(xous_request_connection("names.limited", &cid));
                parent_send_u32(xous_request_connection_blocking("names.limited", &cid));
        }
}

static void register_limited(void *arg) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name("names.limited", (uint32_t)(uintptr_t)arg, &sid));
        parent_send_sid(sid);
        echo_serve(sid);
}

START_TEST(max_conns_counts_every_grant) {
        struct proc server, a, b;
        xous_cid_t cid;

        proc_start(&server, "server", register_limited, (void *)(uintptr_t)3);
        proc_recv_sid(&server);
        /* a asks twice, b once: three grants fill the name. */
        proc_start(&a, "a", request_n, (void *)(uintptr_t)2);
        EXPECT_ERR(proc_recv_u32(&a), XOUS_OK);
        EXPECT_ERR(proc_recv_u32(&a), XOUS_OK);
        proc_start(&b, "b", request_n, (void *)(uintptr_t)1);
        EXPECT_ERR(proc_recv_u32(&b), XOUS_OK);
        /* Now both, and this process, are refused. */
        proc_send_u32(&a, 1);
        EXPECT_ERR(proc_recv_u32(&a), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(proc_recv_u32(&a), XOUS_ERR_ACCESS_DENIED);
        proc_send_u32(&b, 1);
        EXPECT_ERR(proc_recv_u32(&b), XOUS_ERR_ACCESS_DENIED);
        EXPECT_ERR(proc_recv_u32(&b), XOUS_ERR_ACCESS_DENIED);
        proc_wait_exit(&a, 0);
        proc_wait_exit(&b, 0);
        EXPECT_ERR(xous_request_connection("names.limited", &cid), XOUS_ERR_ACCESS_DENIED);
        proc_kill(&server);
}
END_TEST

static void request_blocking_once(void *arg) {
        xous_cid_t cid;

        (void)arg;
        parent_send_u32(xous_request_connection_blocking("names.limited", &cid));
}

/* A full name answers the blocking request at once instead of hanging. */
START_TEST(full_name_denied_blocking) {
        struct proc server, caller;
        xous_cid_t cid;
        uint32_t e;

        proc_start(&server, "server", register_limited, (void *)(uintptr_t)1);
        proc_recv_sid(&server);
        EXPECT_OK(xous_request_connection("names.limited", &cid));
        proc_start(&caller, "caller", request_blocking_once, NULL);
        EXPECT_MSG(proc_recv_timeout(&caller, &e, sizeof(e), 5000) == 1,
                   "request_connection_blocking on a full name did not return within 5 s");
        EXPECT_ERR(e, XOUS_ERR_ACCESS_DENIED);
        proc_wait_exit(&caller, 0);
        EXPECT_ERR(xous_request_connection_blocking("names.limited", &cid), XOUS_ERR_ACCESS_DENIED);
        proc_kill(&server);
}
END_TEST

static bool init_done(void) {
        bool done = false;

        EXPECT_OK(xous_trusted_init_done(&done));
        return done;
}

static void register_trust_names(void *arg) {
        xous_sid_t a, b, c;

        (void)arg;
        EXPECT_OK(xous_register_name("trust.a", 1, &a));
        EXPECT_OK(xous_register_name("trust.b", 2, &b));
        EXPECT_OK(xous_register_name("trust.free", 0, &c));
        parent_send_u32(1);
        parent_recv_u32();
}

START_TEST(trusted_init_done) {
        struct proc server;
        xous_cid_t cid;

        EXPECT_MSG(init_done(), "no limited name exists, so every one is full");
        proc_start(&server, "server", register_trust_names, NULL);
        proc_recv_u32(&server);
        EXPECT(!init_done());
        EXPECT_OK(xous_request_connection("trust.a", &cid));
        EXPECT(!init_done());
        EXPECT_OK(xous_request_connection("trust.free", &cid));
        EXPECT_OK(xous_request_connection("trust.b", &cid));
        EXPECT(!init_done());
        EXPECT_OK(xous_request_connection("trust.b", &cid));
        EXPECT(init_done());
        /* Unlimited names never hold it back. */
        EXPECT_OK(xous_request_connection("trust.free", &cid));
        EXPECT(init_done());
        proc_send_u32(&server, 1);
        proc_wait_exit(&server, 0);
}
END_TEST

START_TEST(unknown_name) {
        xous_cid_t cid;

        EXPECT_ERR(xous_request_connection("names.nobody", &cid), XOUS_ERR_SERVER_NOT_FOUND);
}
END_TEST

static void request_late_name(void *arg) {
        xous_cid_t cid = 0;
        xous_scalar_reply_t reply = { 0 };

        (void)arg;
        parent_send_u32(0);     /* about to wait */
        parent_send_u32(xous_request_connection_blocking("names.late", &cid));
        parent_send_u32(xous_blocking_scalar(cid, 1, 99, 0, 0, 0, &reply));
        parent_send_u32(reply.v[0]);
}

START_TEST(blocking_waits_for_registration) {
        struct proc caller, server;
        uint32_t early;
        xous_cid_t cid;

        proc_start(&caller, "caller", request_late_name, NULL);
        proc_recv_u32(&caller);
        EXPECT_MSG(proc_recv_timeout(&caller, &early, sizeof(early), 500) == 0,
                   "request_connection_blocking returned %s before the name existed",
                   harness_errname(early));
        proc_start(&server, "server", echo_server, "names.late");
        proc_recv_sid(&server);
        EXPECT_ERR(proc_recv_u32(&caller), XOUS_OK);
        EXPECT_ERR(proc_recv_u32(&caller), XOUS_OK);
        EXPECT_EQ(proc_recv_u32(&caller), 100);
        proc_wait_exit(&caller, 0);
        cid = connect_name("names.late");
        echo_stop(&server, cid);
}
END_TEST

static void register_unregister(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_register_name("names.reuse", 0, &sid));
        parent_send_sid(sid);
        parent_recv_u32();
        EXPECT_OK(xous_unregister_server(sid));
        parent_send_u32(0);
        parent_recv_u32();
}

START_TEST(unregister_frees_name) {
        struct proc first, second;
        xous_sid_t old, fresh;
        xous_cid_t cid;

        proc_start(&first, "first", register_unregister, NULL);
        old = proc_recv_sid(&first);
        proc_send_u32(&first, 1);
        proc_recv_u32(&first);
        EXPECT_ERR(xous_request_connection("names.reuse", &cid), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_ERR(xous_try_connect(old, &cid), XOUS_ERR_SERVER_NOT_FOUND);
        /* The first process is still alive, and the name is free. */
        proc_start(&second, "second", echo_server, "names.reuse");
        fresh = proc_recv_sid(&second);
        EXPECT(!sid_equal(old, fresh));
        cid = connect_name("names.reuse");
        expect_echo(cid, 5);
        echo_stop(&second, cid);
        proc_send_u32(&first, 1);
        proc_wait_exit(&first, 0);
}
END_TEST

/* Answers blocking scalars with a1 + 1 and reports every scalar's a1. */
static void reporting_server(void *arg) {
        xous_sid_t sid;

        EXPECT_OK(xous_register_name(arg, 0, &sid));
        parent_send_sid(sid);
        for (;;) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                if (xous_envelope_kind(env) == XOUS_MSG_SCALAR) {
                        parent_send_u32(xous_envelope_args(env)[0]);
                        continue;
                }
                EXPECT_OK(xous_return_scalar(env, xous_envelope_args(env)[0] + 1));
                if (xous_envelope_id(env) == ECHO_QUIT)
                        return;
        }
}

/* A CID to an unregistered server stays dead: it does not follow the name
 * to the next server registered under it. */
START_TEST(unregister_kills_old_cids) {
        struct proc first, second;
        xous_scalar_reply_t reply;
        xous_cid_t old_cid, cid;

        proc_start(&first, "first", register_unregister, NULL);
        proc_recv_sid(&first);
        EXPECT_OK(xous_request_connection("names.reuse", &old_cid));
        proc_send_u32(&first, 1);
        proc_recv_u32(&first);
        proc_start(&second, "second", reporting_server, "names.reuse");
        proc_recv_sid(&second);
        EXPECT_ERR(xous_blocking_scalar(old_cid, 1, 1, 0, 0, 0, &reply), XOUS_ERR_SERVER_NOT_FOUND);
        xous_send_scalar(old_cid, 1, 0xdead, 0, 0, 0);
        cid = connect_name("names.reuse");
        expect_echo(cid, 8);
        EXPECT_OK(xous_send_scalar(cid, 1, 2, 0, 0, 0));
        EXPECT_MSG(proc_recv_u32(&second) == 2, "a scalar sent on the dead CID reached the new server");
        echo_stop(&second, cid);
        proc_send_u32(&first, 1);
        proc_wait_exit(&first, 0);
}
END_TEST

/* Every send on a CID whose server is gone says so, as in Xous. A Scalar
 * is posted without waiting for xnsd, so its failure is told by the next
 * Scalar on the CID, once a synchronous call has come back. */
START_TEST(send_to_dead_server_fails) {
        struct proc first;
        xous_buf_t *buf = xous_buf_new(PAGE);
        xous_cid_t cid;

        EXPECT(buf);
        proc_start(&first, "first", register_unregister, NULL);
        proc_recv_sid(&first);
        EXPECT_OK(xous_request_connection("names.reuse", &cid));
        proc_send_u32(&first, 1);
        proc_recv_u32(&first);
        EXPECT_ERR(xous_try_send_scalar(cid, 1, 1, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_OK(xous_send_scalar(cid, 1, 2, 0, 0, 0));
        EXPECT_ERR(xous_send(cid, 1, buf, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        xous_buf_free(buf);     /* still ours after the error */
        EXPECT_ERR(xous_send_scalar(cid, 1, 3, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND);
        EXPECT_OK(xous_send_scalar(cid, 1, 4, 0, 0, 0));        /* told once */
        proc_send_u32(&first, 1);
        proc_wait_exit(&first, 0);
}
END_TEST

static void anonymous_echo_server(void *arg) {
        xous_sid_t sid;

        (void)arg;
        EXPECT_OK(xous_create_server(&sid));
        parent_send_sid(sid);
        echo_serve(sid);
}

START_TEST(connect_twice_same_cid) {
        struct proc server;
        xous_sid_t sid;
        xous_cid_t a = 0, b = 0, c = 0;

        proc_start(&server, "server", anonymous_echo_server, NULL);
        sid = proc_recv_sid(&server);
        EXPECT_OK(xous_connect(sid, &a));
        EXPECT_OK(xous_connect(sid, &b));
        EXPECT_OK(xous_try_connect(sid, &c));
        EXPECT_EQ(a, b);
        EXPECT_EQ(a, c);
        expect_echo(a, 1);
        echo_stop(&server, a);
}
END_TEST

START_TEST(connect_by_name_and_sid_same_cid) {
        struct proc server;
        xous_sid_t sid;
        xous_cid_t a = 0, b = 0;

        proc_start(&server, "server", echo_server, "names.both");
        sid = proc_recv_sid(&server);
        EXPECT_OK(xous_request_connection("names.both", &a));
        EXPECT_OK(xous_connect(sid, &b));
        EXPECT_EQ(a, b);
        echo_stop(&server, a);
}
END_TEST

START_TEST(try_connect_random_sid) {
        xous_cid_t cid;

        EXPECT_ERR(xous_try_connect(random_sid(), &cid), XOUS_ERR_SERVER_NOT_FOUND);
}
END_TEST

int main(void) {
        Suite *s = suite_create("names");

        HARNESS_ADD(s, register_and_connect);
        HARNESS_ADD(s, duplicate_name);
        HARNESS_ADD(s, name_length_limit);
        HARNESS_ADD(s, name_length_counts_bytes);
        HARNESS_ADD(s, name_invalid_utf8);
        HARNESS_ADD(s, name_valid_utf8);
        HARNESS_ADD(s, name_null_empty);
        HARNESS_ADD(s, request_invalid_name);
        HARNESS_ADD(s, max_conns_counts_every_grant);
        HARNESS_ADD(s, full_name_denied_blocking);
        HARNESS_ADD(s, trusted_init_done);
        HARNESS_ADD(s, unknown_name);
        HARNESS_ADD(s, blocking_waits_for_registration);
        HARNESS_ADD(s, unregister_frees_name);
        HARNESS_ADD(s, unregister_kills_old_cids);
        HARNESS_ADD(s, send_to_dead_server_fails);
        HARNESS_ADD(s, connect_twice_same_cid);
        HARNESS_ADD(s, connect_by_name_and_sid_same_cid);
        HARNESS_ADD(s, try_connect_random_sid);
        return harness_run(s);
}
