/* interop-client.c: the client side of the word-size interop test: every
 * message kind, names, a SID in scalar words and the error answers, against
 * interop-server (usually of the other word size). Prints one TAP line per
 * check; exits 0 only when every check passed. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xous/xous.h>

#include "interop.h"

static unsigned checks, failures;
static uint32_t sent;                   /* messages that reached the server, for OP_QUIT */

static bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char *fmt, ...) {
        va_list ap;

        printf("%s %u - ", ok ? "ok" : "not ok", ++checks);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        if (!ok)
                failures++;
        return ok;
}

static bool check_err(xous_error_t got, xous_error_t want, const char *what) {
        return check(got == want, "%s: %s (want %s)", what, xous_strerror(got), xous_strerror(want));
}

static bool check_reply(const xous_scalar_reply_t *r, uint32_t count, const uint32_t *want, const char *what) {
        bool ok = r->count == count && memcmp(r->v, want, count * sizeof(uint32_t)) == 0;

        check(ok, "%s: %u words %08x %08x %08x %08x %08x", what, r->count, r->v[0], r->v[1], r->v[2], r->v[3],
              r->v[4]);
        if (!ok)
                printf("#   want %u words %08x %08x %08x %08x %08x\n", count, want[0], count > 1 ? want[1] : 0,
                       count > 2 ? want[2] : 0, count > 3 ? want[3] : 0, count > 4 ? want[4] : 0);
        return ok;
}

static bool buf_has_pattern(xous_buf_t *buf, uint32_t seed) {
        const uint8_t *b = xous_buf_data(buf);

        for (size_t i = 0; i < xous_buf_len(buf); i++)
                if (b[i] != pattern_byte(seed, i))
                        return false;
        return true;
}

/* A BlockingScalar that must succeed; *r holds the answer. */
static bool ask(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4,
                xous_scalar_reply_t *r, const char *what) {
        xous_error_t e = xous_blocking_scalar(cid, id, a1, a2, a3, a4, r);

        *r = e == XOUS_OK ? *r : (xous_scalar_reply_t){ 0 };
        if (e == XOUS_OK)
                sent++;
        return check_err(e, XOUS_OK, what);
}

static void check_last_memory(xous_cid_t cid, xous_msg_kind_t kind, uint32_t len, uint32_t offset, uint32_t valid,
                              uint32_t hash, const char *what) {
        xous_scalar_reply_t r;

        if (ask(cid, OP_LAST_MEMORY, 0, 0, 0, 0, &r, "query the last memory message"))
                check_reply(&r, 5, (const uint32_t[5]){ kind, len, offset, valid, hash }, what);
}

static void test_errors(void) {
        char long_name[XOUS_NAME_MAX + 2];
        xous_sid_t absent = { .w = { 0xFFFFFFFFu, 0x80000001u, 0x00000001u, 0x7FFFFFFEu } };
        xous_cid_t cid;
        xous_buf_t *buf;

        errno = 0;
        buf = xous_buf_new(0);
        check(!buf && errno == EINVAL, "xous_buf_new(0) is EINVAL");
        errno = 0;
        buf = xous_buf_new((size_t)UINT32_MAX);
        check(!buf && errno == EINVAL, "xous_buf_new(UINT32_MAX) is EINVAL");
        check_err(xous_request_connection("xns.interop.absent", &cid), XOUS_ERR_SERVER_NOT_FOUND,
                  "request_connection of an unknown name");
        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        check_err(xous_request_connection(long_name, &cid), XOUS_ERR_INVALID_STRING,
                  "request_connection of a 64-byte name");
        check_err(xous_send_scalar(0x7FFFFFFFu, OP_SCALAR, 1, 2, 3, 4), XOUS_ERR_SERVER_NOT_FOUND,
                  "send_scalar on a CID never granted");
        check_err(xous_try_connect(absent, &cid), XOUS_ERR_SERVER_NOT_FOUND, "try_connect to an unknown SID");
}

static void test_names(xous_cid_t *cid, xous_cid_t *cid2) {
        xous_sid_t sid;

        check_err(xous_request_connection_blocking(INTEROP_NAME, cid), XOUS_OK,
                  "request_connection_blocking " INTEROP_NAME);
        check_err(xous_request_connection(INTEROP_NAME, cid2), XOUS_OK, "request_connection " INTEROP_NAME);
        check_err(xous_register_name(INTEROP_NAME, 0, &sid), XOUS_ERR_SERVER_EXISTS,
                  "register_name of a name the server holds");
}

static void test_scalars(xous_cid_t cid, xous_cid_t cid2) {
        xous_scalar_reply_t r;
        xous_error_t e;

        e = xous_send_scalar(cid, OP_SCALAR, 0xFFFFFFFFu, 0x80000001u, 0x00000000u, 0x7FFFFFFFu);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "Scalar");
        if (ask(cid, OP_LAST_SCALAR, 0, 0, 0, 0, &r, "query the last Scalar"))
                check_reply(&r, 5, (const uint32_t[5]){ 1, 0xFFFFFFFFu, 0x80000001u, 0, 0x7FFFFFFFu },
                            "server saw the Scalar's words");

        e = xous_try_send_scalar(cid2, OP_SCALAR, 0xDEADBEEFu, 0x80000000u, 0x00000001u, 0xFFFFFFFEu);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "try_send_scalar");
        if (ask(cid, OP_LAST_SCALAR, 0, 0, 0, 0, &r, "query the last Scalar"))
                check_reply(&r, 5, (const uint32_t[5]){ 2, 0xDEADBEEFu, 0x80000000u, 1, 0xFFFFFFFEu },
                            "server saw the try_send_scalar's words");

        if (ask(cid, OP_ECHO1, 0x80000001u, 0x7FFFFFFEu, 0, 0, &r, "BlockingScalar, 1 word"))
                check_reply(&r, 1, (const uint32_t[1]){ 0xFFFFFFFFu }, "1-word answer 0x80000001 + 0x7FFFFFFE");
        if (ask(cid, OP_ECHO1, 0xFFFFFFFFu, 0xFFFFFFFFu, 0x00000001u, 0x00000001u, &r, "BlockingScalar, 1 word"))
                check_reply(&r, 1, (const uint32_t[1]){ 0 }, "1-word answer wraps at 2^32");
        if (ask(cid, OP_ECHO2, 0x00000000u, 0x80000001u, 0xFFFFFFFFu, 0x12345678u, &r, "BlockingScalar, 2 words"))
                check_reply(&r, 2, (const uint32_t[2]){ 0xFFFFFFFFu, 0x80000001u ^ 0xFFFFFFFFu ^ 0x12345678u },
                            "2-word answer");
        if (ask(cid, OP_ECHO5, 0xFFFFFFFFu, 0x80000001u, 0x00000001u, 0xFEDCBA98u, &r, "BlockingScalar, 5 words"))
                check_reply(&r, 5,
                            (const uint32_t[5]){ 0xFEDCBA98u, 0x00000001u, 0x80000001u, 0xFFFFFFFFu,
                                                 (uint32_t)getpid() },
                            "5-word answer, the last our pid as the server saw it");

        e = xous_blocking_scalar(cid, OP_DROP, 0, 0, 0, 0, &r);
        sent++;
        check_err(e, XOUS_ERR_INTERNAL_ERROR, "BlockingScalar the server drops unanswered");
}

static void test_move(xous_cid_t cid) {
        xous_buf_t *buf = xous_buf_new(3 * 4096 + 1);
        uint32_t hash;
        xous_error_t e;

        if (!check(buf && xous_buf_len(buf) == 4 * 4096, "xous_buf_new(3 pages + 1) is 4 pages"))
                return;
        pattern_fill(xous_buf_data(buf), xous_buf_len(buf), CLIENT_SEED);
        hash = hash_bytes(xous_buf_data(buf), xous_buf_len(buf));
        e = xous_send(cid, OP_MOVE, buf, 4096, 5000);
        if (e != XOUS_OK)
                xous_buf_free(buf);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "Move of 4 pages");
        check_last_memory(cid, XOUS_MSG_MOVE, 4 * 4096, 4096, 5000, hash, "server saw the Move's bytes");
}

static void test_borrow(xous_cid_t cid) {
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(16 * 4096);
        uint32_t hash;
        xous_error_t e;

        if (!check(buf != NULL, "xous_buf_new(16 pages)"))
                return;
        pattern_fill(xous_buf_data(buf), xous_buf_len(buf), CLIENT_SEED + 1);
        hash = hash_bytes(xous_buf_data(buf), xous_buf_len(buf));

        e = xous_lend(cid, OP_BORROW, buf, 100, 16 * 4096 - 100);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "Borrow of 16 pages");
        check_last_memory(cid, XOUS_MSG_BORROW, 16 * 4096, 100, 16 * 4096 - 100, hash, "server saw the Borrow's bytes");

        e = xous_lend(cid, OP_BORROW, buf, 0x80000001u, 0xFFFFFFFFu);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "Borrow with offset 0x80000001, valid 0xFFFFFFFF");
        check_last_memory(cid, XOUS_MSG_BORROW, 16 * 4096, 0x80000001u, 0xFFFFFFFFu, hash,
                          "server saw all 32 bits of offset and valid");
        check(buf_has_pattern(buf, CLIENT_SEED + 1), "the Borrow came back unchanged");
}

static void lend_mut_once(xous_cid_t cid, size_t pages, uint32_t offset, uint32_t valid) {
        XOUS_BUF_AUTO xous_buf_t *buf = xous_buf_new(pages * 4096);
        uint32_t o = offset, v = valid, hash;
        xous_error_t e;

        if (!check(buf != NULL, "xous_buf_new(%zu pages)", pages))
                return;
        pattern_fill(xous_buf_data(buf), xous_buf_len(buf), CLIENT_SEED + 2);
        hash = hash_bytes(xous_buf_data(buf), xous_buf_len(buf));
        e = xous_lend_mut(cid, OP_MUT_BORROW, buf, &o, &v);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "MutableBorrow");
        check(o == offset + 4096 && v == ~valid, "MutableBorrow of %zu pages (%08x, %08x) came back as (%08x, %08x)",
              pages, offset, valid, o, v);
        check(buf_has_pattern(buf, SERVER_SEED), "we see every byte the server wrote");
        check_last_memory(cid, XOUS_MSG_MUTABLE_BORROW, (uint32_t)(pages * 4096), offset, valid, hash,
                          "server saw the MutableBorrow's bytes");
}

/* The client's own server: what interop-server pushes after OP_SUBSCRIBE. */
struct listener {
        xous_sid_t sid;
        unsigned failures;
        bool tick_ok;
};

static void listener_fail(struct listener *l, const char *what) {
        printf("# listener: %s\n", what);
        l->failures++;
}

static void listen_one(struct listener *l, xous_envelope_t *env) {
        const uint32_t *a = xous_envelope_args(env);
        xous_msg_kind_t kind = xous_envelope_kind(env);
        uint8_t *data = xous_envelope_buf(env);
        size_t len = xous_envelope_buf_len(env);

        switch (xous_envelope_id(env)) {
        case OP_PUSH_TICK:
                l->tick_ok = kind == XOUS_MSG_SCALAR && a[0] == l->sid.w[3] && a[1] == l->sid.w[2] &&
                             a[2] == l->sid.w[1] && a[3] == l->sid.w[0];
                break;
        case OP_PUSH_PING:
                if (kind != XOUS_MSG_BLOCKING_SCALAR ||
                    xous_return_scalar(env, a[0] ^ a[1] ^ a[2] ^ a[3]) != XOUS_OK)
                        listener_fail(l, "ping");
                break;
        case OP_PUSH_BORROW:
                if (kind != XOUS_MSG_BORROW || len != 2 * 4096 || xous_envelope_offset(env) != 7 ||
                    xous_envelope_valid(env) != 8000)
                        listener_fail(l, "Borrow: kind, length, offset or valid");
                for (size_t i = 0; data && i < len; i++)
                        if (data[i] != pattern_byte(SERVER_SEED, i)) {
                                listener_fail(l, "Borrow: bytes");
                                break;
                        }
                break;
        case OP_PUSH_MUT_BORROW:
                if (kind != XOUS_MSG_MUTABLE_BORROW || len != 3 * 4096 || !data)
                        listener_fail(l, "MutableBorrow: kind or length");
                for (size_t i = 0; data && i < len; i++)
                        if (data[i] != pattern_byte(SERVER_SEED, i)) {
                                listener_fail(l, "MutableBorrow: bytes");
                                break;
                        }
                if (data)
                        pattern_fill(data, len, CLIENT_SEED);
                xous_envelope_set_offset_valid(env, xous_envelope_offset(env) ^ xous_envelope_valid(env),
                                               0x80000001u);
                break;
        default:
                listener_fail(l, "unknown opcode");
                break;
        }
}

static void *listener_main(void *arg) {
        struct listener *l = arg;

        for (int n = 0; n < 4; n++) {
                XOUS_ENVELOPE_AUTO xous_envelope_t *env = NULL;
                xous_error_t e = xous_receive_message(l->sid, &env);

                if (e != XOUS_OK) {
                        listener_fail(l, xous_strerror(e));
                        break;
                }
                listen_one(l, env);
        }
        return NULL;
}

static void test_subscribe(xous_cid_t cid) {
        static uint8_t written[3 * 4096];       /* what our MutableBorrow answer writes */
        struct listener l = { 0 };
        xous_scalar_reply_t r;
        pthread_t thread;
        xous_error_t e;

        if (!check_err(xous_create_server(&l.sid), XOUS_OK, "create_server (anonymous)"))
                return;
        if (!check(pthread_create(&thread, NULL, listener_main, &l) == 0, "listener thread"))
                return;
        e = xous_send_scalar(cid, OP_SUBSCRIBE, l.sid.w[0], l.sid.w[1], l.sid.w[2], l.sid.w[3]);
        sent += e == XOUS_OK;
        check_err(e, XOUS_OK, "Scalar carrying our SID");
        pattern_fill(written, sizeof(written), CLIENT_SEED);
        if (ask(cid, OP_LAST_SUBSCRIBE, 0, 0, 0, 0, &r, "query the subscription"))
                check_reply(&r, 5,
                            (const uint32_t[5]){ 0, 0xFFFFFFFFu ^ 0x80000001u ^ 0x12345678u, 0xFFFFFFFFu ^ (3 * 4096),
                                                 0x80000001u, hash_bytes(written, sizeof(written)) },
                            "server connected to our SID and got our answers: ping, offset, valid, bytes");
        pthread_join(thread, NULL);
        check(l.tick_ok, "the server's Scalar to our SID carried the SID back");
        check(l.failures == 0, "our server got the pushed BlockingScalar, Borrow and MutableBorrow intact");
        check_err(xous_destroy_server(l.sid), XOUS_OK, "destroy_server");
}

int main(void) {
        xous_scalar_reply_t r;
        xous_cid_t cid = 0, cid2 = 0;

        printf("# interop-client: %zu-bit, pid %d\n", sizeof(void *) * 8, (int)getpid());
        test_errors();
        test_names(&cid, &cid2);
        if (failures)
                return 1;
        test_scalars(cid, cid2);
        test_move(cid);
        test_borrow(cid);
        lend_mut_once(cid, 5, 100, 3 * 4096 + 7);
        lend_mut_once(cid, 256, 0xFFFFF000u, 0x80000000u);
        test_subscribe(cid);
        if (ask(cid, OP_QUIT, 0, 0, 0, 0, &r, "quit")) {
                sent--;         /* OP_QUIT is not counted */
                check_reply(&r, 2, (const uint32_t[2]){ sent, 0 }, "server got every message once, without error");
        }
        check_err(xous_disconnect(cid), XOUS_OK, "disconnect");
        check_err(xous_send_scalar(cid, OP_SCALAR, 0, 0, 0, 0), XOUS_ERR_SERVER_NOT_FOUND,
                  "Scalar on a disconnected CID");
        printf("1..%u\n", checks);
        printf("# %s: %u of %u checks failed\n", failures ? "FAILED" : "passed", failures, checks);
        return failures ? 1 : 0;
}
