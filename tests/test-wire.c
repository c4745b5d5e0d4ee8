/* test-wire.c: unit tests of the wire layer: frame encoding and checked
 * decoding, server name validation, UTF-8 repair, and frame I/O with
 * SCM_RIGHTS. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "utf8.h"
#include "wire.h"
#include "test-util.h"

#define ALL_ONES 0xFFFFFFFFu

/* --- helpers ------------------------------------------------------------ */

/* A minimal protobuf writer, so malformed frames can be built by hand
 * without relying on the encoder under test. */
struct pbw {
        uint8_t b[2048];
        size_t n;
};

static void pb_varint(struct pbw *w, uint64_t v) {
        while (v >= 0x80) {
                w->b[w->n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        w->b[w->n++] = (uint8_t)v;
}

static void pb_fixed32(struct pbw *w, uint32_t field, uint32_t v) {
        pb_varint(w, (uint64_t)field << 3 | 5);
        for (int i = 0; i < 4; i++)
                w->b[w->n++] = (uint8_t)(v >> (8 * i));
}

static void pb_bytes(struct pbw *w, uint32_t field, const void *data, size_t len) {
        pb_varint(w, (uint64_t)field << 3 | 2);
        pb_varint(w, len);
        memcpy(w->b + w->n, data, len);
        w->n += len;
}

static void pb_msg(struct pbw *w, uint32_t field, const struct pbw *sub) {
        pb_bytes(w, field, sub->b, sub->n);
}

/* Packed repeated fixed32 (proto3's default encoding). */
static void pb_packed32(struct pbw *w, uint32_t field, const uint32_t *v, size_t n) {
        uint8_t raw[64];

        for (size_t i = 0; i < n; i++)
                for (int j = 0; j < 4; j++)
                        raw[4 * i + j] = (uint8_t)(v[i] >> (8 * j));
        pb_bytes(w, field, raw, 4 * n);
}

/* Field numbers from xns.proto. */
enum {
        F_REQ_SEQ = 1, F_REQ_HELLO = 2, F_REQ_REGISTER_NAME = 3, F_REQ_UNREGISTER = 4,
        F_REQ_CONNECT = 9, F_REQ_SEND = 11, F_REQ_RECEIVE = 12, F_REQ_RET = 13,
        F_REPLY_SEQ = 1, F_REPLY_ERROR = 2, F_REPLY_TOKEN = 3, F_REPLY_SID = 4,
        F_REPLY_DELIVERY = 7, F_REPLY_SCALAR = 8,
};

/* A Return with how/count and n_v packed values. */
static struct pbw pb_return(uint32_t how, uint32_t count, size_t n_v) {
        static const uint32_t v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        struct pbw r = { .n = 0 };

        pb_fixed32(&r, 1, 1);   /* handle */
        pb_fixed32(&r, 2, 1);   /* gen */
        pb_fixed32(&r, 3, how);
        pb_fixed32(&r, 4, count);
        if (n_v)
                pb_packed32(&r, 5, v, n_v);
        return r;
}

/* Decodes from a heap copy of exactly len bytes, so that ASan sees any
 * read past the end of the frame. */
static int decode_request_exact(struct xns_request *req, const void *buf, size_t len) {
        void *copy = malloc(len ? len : 1);
        int r;

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, buf, len);
        r = xns_request_decode(req, copy, len);
        free(copy);
        return r;
}

static int decode_reply_exact(struct xns_reply *reply, const void *buf, size_t len) {
        void *copy = malloc(len ? len : 1);
        int r;

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, buf, len);
        r = xns_reply_decode(reply, copy, len);
        free(copy);
        return r;
}

static void request_round_trip(const struct xns_request *in, struct xns_request *out) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_request_encode(in, buf, sizeof(buf));

        ck_assert_int_gt(n, 0);
        ck_assert_int_le(n, XNS_FRAME_MAX);
        memset(out, 0xa5, sizeof(*out));        /* decode must set every field it reports */
        ck_assert_int_eq(decode_request_exact(out, buf, (size_t)n), 0);
        ck_assert_uint_eq(out->seq, in->seq);
        ck_assert_int_eq(out->op, in->op);
}

static void reply_round_trip(const struct xns_reply *in, struct xns_reply *out) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_reply_encode(in, buf, sizeof(buf));

        ck_assert_int_ge(n, in->body == XNS_BODY_NONE ? 0 : 1);  /* all zeros: empty */
        ck_assert_int_le(n, XNS_FRAME_MAX);
        memset(out, 0xa5, sizeof(*out));
        ck_assert_int_eq(decode_reply_exact(out, buf, (size_t)n), 0);
        ck_assert_uint_eq(out->seq, in->seq);
        ck_assert_uint_eq(out->error, in->error);
        ck_assert_int_eq(out->body, in->body);
}

/*
 * Values for round trips, by loop index: 0 distinct values (so swapped
 * fields show) starting at 0xFFFFFFFF, 1 every field 0xFFFFFFFF, 2 every
 * field 0 (proto3 omits zeros on the wire; they must still come back).
 */
#define N_PATTERNS 3

static uint32_t val(int pattern, uint32_t k) {
        switch (pattern) {
        case 0:
                return ALL_ONES - k * 0x01010101u;
        case 1:
                return ALL_ONES;
        default:
                return 0;
        }
}

static bool flag(int pattern, uint32_t k) {
        return pattern == 0 ? (k & 1) : pattern == 1;
}

static struct xns_sid sid_of(int pattern, uint32_t k) {
        return (struct xns_sid){ { val(pattern, k), val(pattern, k + 1), val(pattern, k + 2), val(pattern, k + 3) } };
}

static void ck_sid_eq(const struct xns_sid *a, const struct xns_sid *b) {
        for (int i = 0; i < 4; i++)
                ck_assert_uint_eq(a->w[i], b->w[i]);
}

static void ck_return_eq(const struct xns_return *a, const struct xns_return *b) {
        ck_assert_uint_eq(a->handle, b->handle);
        ck_assert_uint_eq(a->gen, b->gen);
        ck_assert_uint_eq(a->how, b->how);
        ck_assert_uint_eq(a->offset, b->offset);
        ck_assert_uint_eq(a->valid, b->valid);
        if (b->how == XNS_RETURN_SCALAR) {
                ck_assert_uint_eq(a->count, b->count);
                for (uint32_t i = 0; i < b->count; i++)
                        ck_assert_uint_eq(a->v[i], b->v[i]);
        }
}

static struct xns_name name_of(const char *s) {
        struct xns_name n = { .len = strlen(s) };

        memcpy(n.str, s, n.len);
        return n;
}

static int memfd_with(const char *text) {
        int fd = memfd_create("test-wire", MFD_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        return fd;
}

static void seqpacket_pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* Sends one datagram with n descriptors, bypassing xns_frame_send. */
static void send_raw_fds(int sock, const void *buf, size_t len, const int *fds, size_t n) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(16 * sizeof(int))];
        } control = { 0 };
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        struct cmsghdr *c;

        if (n > 0) {
                m.msg_control = control.b;
                m.msg_controllen = CMSG_SPACE(n * sizeof(int));
                c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        }
        ck_assert_int_eq(sendmsg(sock, &m, MSG_NOSIGNAL), (ssize_t)len);
}

/* --- request round trips ------------------------------------------------ */

START_TEST(test_request_hello) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_HELLO }, out;

        in.hello.version = val(_i, 1);
        in.hello.has_token = false;
        request_round_trip(&in, &out);
        ck_assert_uint_eq(out.hello.version, in.hello.version);
        ck_assert(!out.hello.has_token);

        in.hello.has_token = true;
        for (int i = 0; i < XNS_TOKEN_LEN; i++)
                in.hello.token[i] = (uint8_t)(_i == 2 ? 0 : 0xf0 + i);
        request_round_trip(&in, &out);
        ck_assert(out.hello.has_token);
        ck_assert_mem_eq(out.hello.token, in.hello.token, XNS_TOKEN_LEN);
}
END_TEST

START_TEST(test_request_register_name) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_REGISTER_NAME }, out;
        const char *names[] = { "a", "my.service", "\xf0\x9f\x98\x80 smile",
                                "123456789012345678901234567890123456789012345678901234567890123" };

        for (size_t k = 0; k < ELEMENTSOF(names); k++) {
                in.register_name.name = name_of(names[k]);
                in.register_name.max_conns = val(_i, 1);
                request_round_trip(&in, &out);
                ck_assert_uint_eq(out.register_name.name.len, strlen(names[k]));
                ck_assert_str_eq(out.register_name.name.str, names[k]);
                ck_assert_uint_eq(out.register_name.max_conns, in.register_name.max_conns);
        }
}
END_TEST

START_TEST(test_request_request_connection) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_REQUEST_CONNECTION }, out;

        in.request_connection.name = name_of("ticktimer-server");
        in.request_connection.wait = flag(_i, 1);
        request_round_trip(&in, &out);
        ck_assert_uint_eq(out.request_connection.name.len, 16);
        ck_assert_str_eq(out.request_connection.name.str, "ticktimer-server");
        ck_assert_int_eq(out.request_connection.wait, in.request_connection.wait);

        in.request_connection.wait = !in.request_connection.wait;
        request_round_trip(&in, &out);
        ck_assert_int_eq(out.request_connection.wait, in.request_connection.wait);
}
END_TEST

/* UNREGISTER_SERVER and DESTROY_SERVER share a body; they must stay apart. */
START_TEST(test_request_sid_ops) {
        static const enum xns_op ops[] = { XNS_OP_UNREGISTER_SERVER, XNS_OP_DESTROY_SERVER };

        for (size_t k = 0; k < ELEMENTSOF(ops); k++) {
                struct xns_request in = { .seq = val(_i, 0), .op = ops[k], .sid = sid_of(_i, 1) }, out;

                request_round_trip(&in, &out);
                ck_sid_eq(&out.sid, &in.sid);
        }
}
END_TEST

START_TEST(test_request_empty_ops) {
        static const enum xns_op ops[] = { XNS_OP_TRUSTED_INIT_DONE, XNS_OP_CREATE_SERVER, XNS_OP_RING,
                                           XNS_OP_KICK };

        for (size_t k = 0; k < ELEMENTSOF(ops); k++) {
                struct xns_request in = { .seq = val(_i, 0), .op = ops[k] }, out;

                request_round_trip(&in, &out);
        }
}
END_TEST

START_TEST(test_request_connect) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_CONNECT }, out;

        in.connect.sid = sid_of(_i, 1);
        for (int wait = 0; wait < 2; wait++) {
                in.connect.wait = wait;
                request_round_trip(&in, &out);
                ck_sid_eq(&out.connect.sid, &in.connect.sid);
                ck_assert_int_eq(out.connect.wait, wait);
        }
}
END_TEST

START_TEST(test_request_disconnect) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_DISCONNECT, .cid = val(_i, 1) }, out;

        request_round_trip(&in, &out);
        ck_assert_uint_eq(out.cid, in.cid);
}
END_TEST

START_TEST(test_request_cancel) {
        struct xns_request in = { .seq = 0, .op = XNS_OP_CANCEL, .cancel = val(_i, 1) }, out;

        request_round_trip(&in, &out);
        ck_assert_uint_eq(out.cancel, in.cancel);
}
END_TEST

START_TEST(test_request_send) {
        for (uint32_t kind = 0; kind < _XNS_KIND_MAX; kind++) {
                struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_SEND }, out;

                in.send = (struct xns_send){
                        .cid = val(_i, 1), .kind = kind, .id = val(_i, 2),
                        .a = { val(_i, 3), val(_i, 4), val(_i, 5), val(_i, 6) },
                        .len = val(_i, 7), .offset = val(_i, 8), .valid = val(_i, 9),
                        .try_ = flag(_i, kind),
                };
                request_round_trip(&in, &out);
                ck_assert_uint_eq(out.send.cid, in.send.cid);
                ck_assert_uint_eq(out.send.kind, kind);
                ck_assert_uint_eq(out.send.id, in.send.id);
                for (int k = 0; k < 4; k++)
                        ck_assert_uint_eq(out.send.a[k], in.send.a[k]);
                ck_assert_uint_eq(out.send.len, in.send.len);
                ck_assert_uint_eq(out.send.offset, in.send.offset);
                ck_assert_uint_eq(out.send.valid, in.send.valid);
                ck_assert_int_eq(out.send.try_, in.send.try_);
        }
}
END_TEST

/* Every way a received message is answered, as Return and inside Receive. */
static struct xns_return return_case(int pattern, int k) {
        struct xns_return ret = {
                .handle = val(pattern, 10), .gen = val(pattern, 11),
                .offset = val(pattern, 12), .valid = val(pattern, 13),
        };
        static const uint32_t counts[] = { 1, 2, 5 };

        if (k < 3) {
                ret.how = XNS_RETURN_SCALAR;
                ret.count = counts[k];
                for (uint32_t i = 0; i < ret.count; i++)
                        ret.v[i] = val(pattern, 20 + i);
        } else {
                ret.how = k == 3 ? XNS_RETURN_MEMORY : XNS_RETURN_DROPPED;
        }
        return ret;
}
#define N_RETURN_CASES 5

START_TEST(test_request_return) {
        for (int k = 0; k < N_RETURN_CASES; k++) {
                struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_RETURN }, out;

                in.ret = return_case(_i, k);
                request_round_trip(&in, &out);
                ck_return_eq(&out.ret, &in.ret);
        }
}
END_TEST

START_TEST(test_request_receive) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_RECEIVE }, out;

        in.receive.sid = sid_of(_i, 1);
        in.receive.nowait = flag(_i, 1);
        in.receive.has_ret = false;
        request_round_trip(&in, &out);
        ck_sid_eq(&out.receive.sid, &in.receive.sid);
        ck_assert_int_eq(out.receive.nowait, in.receive.nowait);
        ck_assert(!out.receive.has_ret);

        /* reply_and_receive_next: the answer rides along with the receive */
        for (int k = 0; k < N_RETURN_CASES; k++) {
                in.receive.has_ret = true;
                in.receive.nowait = !in.receive.nowait;
                in.receive.ret = return_case(_i, k);
                request_round_trip(&in, &out);
                ck_sid_eq(&out.receive.sid, &in.receive.sid);
                ck_assert_int_eq(out.receive.nowait, in.receive.nowait);
                ck_assert(out.receive.has_ret);
                ck_return_eq(&out.receive.ret, &in.receive.ret);
        }
}
END_TEST

START_TEST(test_request_forward) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_FORWARD }, out;

        in.forward = (struct xns_forward){ val(_i, 1), val(_i, 2), val(_i, 3), val(_i, 4) };
        request_round_trip(&in, &out);
        ck_assert_uint_eq(out.forward.handle, in.forward.handle);
        ck_assert_uint_eq(out.forward.gen, in.forward.gen);
        ck_assert_uint_eq(out.forward.cid, in.forward.cid);
        ck_assert_uint_eq(out.forward.id, in.forward.id);
}
END_TEST

START_TEST(test_request_control) {
        struct xns_request in = { .seq = val(_i, 0), .op = XNS_OP_CONTROL }, out;

        for (uint32_t what = XNS_CONTROL_STATUS; what < _XNS_CONTROL_MAX; what++) {
                in.control.what = what;
                in.control.n_names = what % (XNS_CONTROL_NAMES_MAX + 1);
                for (uint32_t k = 0; k < in.control.n_names; k++)
                        in.control.names[k].len = (size_t)snprintf(in.control.names[k].str, XNS_NAME_MAX + 1,
                                                                    "name-%u-%u", k, val(_i, k));
                in.control.payloads = what == XNS_CONTROL_MONITOR;
                request_round_trip(&in, &out);
                ck_assert_uint_eq(out.control.what, what);
                ck_assert_uint_eq(out.control.n_names, in.control.n_names);
                ck_assert_uint_eq(out.control.payloads, in.control.payloads);
                for (uint32_t k = 0; k < in.control.n_names; k++) {
                        ck_assert_uint_eq(out.control.names[k].len, in.control.names[k].len);
                        ck_assert_str_eq(out.control.names[k].str, in.control.names[k].str);
                }
        }
}
END_TEST

/* --- reply round trips -------------------------------------------------- */

START_TEST(test_reply_none) {
        struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_NONE }, out;

        reply_round_trip(&in, &out);
}
END_TEST

START_TEST(test_reply_token) {
        struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_TOKEN }, out;

        memset(in.token, _i == 2 ? 0 : 0xff, XNS_TOKEN_LEN);
        in.token[3] = 0x42;
        reply_round_trip(&in, &out);
        ck_assert_mem_eq(out.token, in.token, XNS_TOKEN_LEN);
}
END_TEST

START_TEST(test_reply_sid) {
        struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_SID, .sid = sid_of(_i, 2) }, out;

        reply_round_trip(&in, &out);
        ck_sid_eq(&out.sid, &in.sid);
}
END_TEST

/* CID and DONE may be 0 (trusted_init_done() == false): the body must
 * still arrive, not turn into an empty reply. */
START_TEST(test_reply_cid_done) {
        struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_CID, .cid = val(_i, 2) }, out;

        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.cid, in.cid);

        in = (struct xns_reply){ .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_DONE, .done = val(_i, 2) };
        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.done, in.done);
}
END_TEST

START_TEST(test_reply_delivery) {
        for (uint32_t kind = 0; kind < _XNS_KIND_MAX; kind++) {
                struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_DELIVERY }, out;

                in.delivery = (struct xns_delivery){
                        .handle = val(_i, 2), .gen = val(_i, 3), .kind = kind, .id = val(_i, 4),
                        .a = { val(_i, 5), val(_i, 6), val(_i, 7), val(_i, 8) },
                        .len = val(_i, 9), .offset = val(_i, 10), .valid = val(_i, 11),
                        .sender_pid = val(_i, 12),
                };
                reply_round_trip(&in, &out);
                ck_assert_uint_eq(out.delivery.handle, in.delivery.handle);
                ck_assert_uint_eq(out.delivery.gen, in.delivery.gen);
                ck_assert_uint_eq(out.delivery.kind, kind);
                ck_assert_uint_eq(out.delivery.id, in.delivery.id);
                for (int k = 0; k < 4; k++)
                        ck_assert_uint_eq(out.delivery.a[k], in.delivery.a[k]);
                ck_assert_uint_eq(out.delivery.len, in.delivery.len);
                ck_assert_uint_eq(out.delivery.offset, in.delivery.offset);
                ck_assert_uint_eq(out.delivery.valid, in.delivery.valid);
                ck_assert_uint_eq(out.delivery.sender_pid, in.delivery.sender_pid);
                ck_assert_uint_eq(out.n_more, 0);
        }
}
END_TEST

/* The most Scalars that may ride behind a delivery, every field set, fit a
 * frame and come back in order; one more is refused by the encoder. */
START_TEST(test_reply_delivery_more) {
        struct xns_reply in = { .seq = val(_i, 0), .body = XNS_BODY_DELIVERY }, out;
        uint8_t buf[XNS_FRAME_MAX];

        in.delivery = (struct xns_delivery){
                .handle = val(_i, 1) | 1, .gen = val(_i, 2) | 1, .kind = XNS_KIND_MUTABLE_BORROW,
                .id = val(_i, 3) | 1, .a = { ~0u, ~0u, ~0u, ~0u }, .len = ~0u, .offset = ~0u, .valid = ~0u,
                .sender_pid = ~0u, .sender_uid = ~0u,
        };
        in.n_more = XNS_DELIVERY_MORE_MAX;
        for (uint32_t k = 0; k < in.n_more; k++)
                in.more[k] = (struct xns_scalar){
                        .id = val(_i, k) | 1, .a = { ~k, k + 1, ~0u, val(_i, k + 1) | 1 }, .sender_pid = ~0u - k,
                        .sender_uid = ~0u - 2 * k,
                };
        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.n_more, in.n_more);
        for (uint32_t k = 0; k < in.n_more; k++) {
                ck_assert_uint_eq(out.more[k].id, in.more[k].id);
                for (int w = 0; w < 4; w++)
                        ck_assert_uint_eq(out.more[k].a[w], in.more[k].a[w]);
                ck_assert_uint_eq(out.more[k].sender_pid, in.more[k].sender_pid);
                ck_assert_uint_eq(out.more[k].sender_uid, in.more[k].sender_uid);
        }
        ck_assert(!out.continued);
        in.continued = true;                            /* another frame follows */
        reply_round_trip(&in, &out);
        ck_assert(out.continued);

        /* the frame that continues it: no body, only Scalars */
        in.body = XNS_BODY_NONE;
        in.n_more = 1 + val(_i, 4) % XNS_DELIVERY_MORE_MAX;
        in.continued = _i % 2;
        reply_round_trip(&in, &out);
        ck_assert_int_eq(out.body, XNS_BODY_NONE);
        ck_assert_uint_eq(out.n_more, in.n_more);
        ck_assert_uint_eq(out.more[in.n_more - 1].id, in.more[in.n_more - 1].id);
        ck_assert_int_eq(out.continued, in.continued);
        in.n_more = 0;                                  /* a continuation carries Scalars */
        in.continued = true;
        ck_assert_int_eq(xns_reply_encode(&in, buf, sizeof(buf)), -EINVAL);

        in.body = XNS_BODY_DELIVERY;
        in.continued = false;
        in.n_more = XNS_DELIVERY_MORE_MAX + 1;
        ck_assert_int_eq(xns_reply_encode(&in, buf, sizeof(buf)), -EINVAL);
        in.n_more = 1;
        in.body = XNS_BODY_SCALAR;                      /* only behind a delivery */
        in.scalar.count = 1;
        ck_assert_int_eq(xns_reply_encode(&in, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(test_reply_ack) {
        struct xns_reply in = { .body = XNS_BODY_ACK, .ack = { .error = val(_i, 0), .cid = val(_i, 1) } }, out;

        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.ack.error, in.ack.error);
        ck_assert_uint_eq(out.ack.cid, in.ack.cid);
}
END_TEST

START_TEST(test_reply_scalar) {
        static const uint32_t counts[] = { 1, 2, 5 };

        for (size_t k = 0; k < ELEMENTSOF(counts); k++) {
                struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_SCALAR }, out;

                in.scalar.count = counts[k];
                for (uint32_t i = 0; i < counts[k]; i++)
                        in.scalar.v[i] = val(_i, 2 + i);
                reply_round_trip(&in, &out);
                ck_assert_uint_eq(out.scalar.count, counts[k]);
                for (uint32_t i = 0; i < counts[k]; i++)
                        ck_assert_uint_eq(out.scalar.v[i], in.scalar.v[i]);
        }
}
END_TEST

START_TEST(test_reply_memory) {
        struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_MEMORY }, out;

        in.memory.offset = val(_i, 2);
        in.memory.valid = val(_i, 3);
        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.memory.offset, in.memory.offset);
        ck_assert_uint_eq(out.memory.valid, in.memory.valid);
}
END_TEST

START_TEST(test_reply_snapshot) {
        struct xns_reply in = { .seq = val(_i, 0), .error = val(_i, 1), .body = XNS_BODY_SNAPSHOT }, out;

        in.snapshot = val(_i, 2);
        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.snapshot, in.snapshot);
}
END_TEST

START_TEST(test_reply_event) {
        struct xns_reply in = { .seq = 0, .error = 0, .body = XNS_BODY_EVENT }, out;
        struct xns_event *e = &in.event;

        *e = (struct xns_event){
                .time_us = (uint64_t)val(_i, 0) << 20 | val(_i, 1), .pid = val(_i, 2),
                .sid = { { val(_i, 3), val(_i, 4), val(_i, 5), val(_i, 6) } },
                .kind = val(_i, 7) % _XNS_KIND_MAX, .id = val(_i, 8),
                .a = { val(_i, 9), val(_i, 10), val(_i, 11), val(_i, 12) },
                .len = val(_i, 13), .error = val(_i, 14), .count = _i % 6,
                .v = { val(_i, 15), val(_i, 16), val(_i, 17), val(_i, 18), val(_i, 19) },
                .latency_us = val(_i, 20), .dropped = val(_i, 21),
        };
        e->server.len = (size_t)snprintf(e->server.str, sizeof(e->server.str), "srv-%u", val(_i, 22));
        reply_round_trip(&in, &out);
        ck_assert_uint_eq(out.event.time_us, e->time_us);
        ck_assert_uint_eq(out.event.pid, e->pid);
        ck_assert_str_eq(out.event.server.str, e->server.str);
        ck_sid_eq(&out.event.sid, &e->sid);
        ck_assert_uint_eq(out.event.kind, e->kind);
        ck_assert_uint_eq(out.event.id, e->id);
        for (int k = 0; k < 4; k++)
                ck_assert_uint_eq(out.event.a[k], e->a[k]);
        ck_assert_uint_eq(out.event.len, e->len);
        ck_assert_uint_eq(out.event.error, e->error);
        ck_assert_uint_eq(out.event.count, e->count);
        for (uint32_t k = 0; k < e->count; k++)
                ck_assert_uint_eq(out.event.v[k], e->v[k]);
        ck_assert_uint_eq(out.event.latency_us, e->latency_us);
        ck_assert_uint_eq(out.event.dropped, e->dropped);
}
END_TEST

/* A control request names what it wants and at most XNS_CONTROL_NAMES_MAX names. */
START_TEST(test_control_limits) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request req = { .seq = 1, .op = XNS_OP_CONTROL, .control = { .what = 0 } };
        struct xns_reply reply = { .body = XNS_BODY_EVENT, .event = { .count = 6 } };

        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        req.control.what = _XNS_CONTROL_MAX;
        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        req.control.what = XNS_CONTROL_MONITOR;
        req.control.n_names = XNS_CONTROL_NAMES_MAX + 1;
        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        ck_assert_int_eq(xns_reply_encode(&reply, buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* Xous's names for its error numbers, 0 to 39, and nothing past them. */
START_TEST(test_error_names) {
        ck_assert_str_eq(xns_error_name(0), "OK");
        ck_assert_str_eq(xns_error_name(9), "SERVER_NOT_FOUND");
        ck_assert_str_eq(xns_error_name(15), "SERVER_QUEUE_FULL");
        ck_assert_str_eq(xns_error_name(35), "UNAVAILABLE");
        ck_assert_str_eq(xns_error_name(39), "SECURITY_ERROR");
        ck_assert_ptr_null(xns_error_name(40));
        ck_assert_ptr_null(xns_error_name(UINT32_MAX));
}
END_TEST

/* --- encoder limits ----------------------------------------------------- */

START_TEST(test_encode_limits) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request req = { .seq = 1, .op = XNS_OP_SEND, .send = { .cid = 2, .kind = XNS_KIND_SCALAR } };
        struct xns_reply reply = { .seq = 1, .body = XNS_BODY_SCALAR, .scalar = { .count = 6 } };
        ssize_t n;

        n = xns_request_encode(&req, buf, sizeof(buf));
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(xns_request_encode(&req, buf, (size_t)n - 1), -EMSGSIZE);
        ck_assert_int_eq(xns_request_encode(&req, buf, (size_t)n), n);

        req.op = XNS_OP_NONE;
        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        req.op = (enum xns_op)999;
        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);

        /* names the fixed buffer cannot hold are refused, not truncated */
        req = (struct xns_request){ .seq = 1, .op = XNS_OP_REGISTER_NAME };
        req.register_name.name.len = XNS_NAME_MAX + 1;
        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);
        req.op = XNS_OP_REQUEST_CONNECTION;
        req.request_connection.name.len = XNS_NAME_MAX + 1;
        ck_assert_int_eq(xns_request_encode(&req, buf, sizeof(buf)), -EINVAL);

        ck_assert_int_eq(xns_reply_encode(&reply, buf, sizeof(buf)), -EINVAL);
        reply.body = (enum xns_body)99;
        ck_assert_int_eq(xns_reply_encode(&reply, buf, sizeof(buf)), -EINVAL);
        reply = (struct xns_reply){ .seq = 1, .body = XNS_BODY_DELIVERY };
        ck_assert_int_eq(xns_reply_encode(&reply, buf, 3), -EMSGSIZE);
}
END_TEST

/* A scalar Return holds at most 5 words (v[5]): more cannot be encoded
 * without reading past the array, so the encoder must refuse it as
 * xns_reply_encode() does for a ScalarReply. */
START_TEST(test_encode_return_count_bounded) {
        uint8_t buf[XNS_FRAME_MAX];

        for (uint32_t count = 6; count <= 8; count++) {
                const struct xns_return ret = { .handle = 1, .gen = 1, .how = XNS_RETURN_SCALAR, .count = count };
                struct xns_request req = { .seq = 0, .op = XNS_OP_RETURN, .ret = ret };

                ck_assert_msg(xns_request_encode(&req, buf, sizeof(buf)) == -EINVAL,
                              "a scalar Return with %u words was encoded", count);
                req = (struct xns_request){ .seq = 1, .op = XNS_OP_RECEIVE };
                req.receive.has_ret = true;
                req.receive.ret = ret;
                ck_assert_msg(xns_request_encode(&req, buf, sizeof(buf)) == -EINVAL,
                              "a Receive carrying a %u-word Return was encoded", count);
        }
}
END_TEST

/* --- decoding untrusted bytes ------------------------------------------- */

START_TEST(test_decode_garbage) {
        static const struct {
                const char *b;
                size_t len;
        } cases[] = {
                { "\xff", 1 },                                  /* unfinished tag varint */
                { "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12 }, /* overlong varint */
                { "\x0f", 1 },                                  /* wire type 7 */
                { "\x0d\x01", 2 },                              /* fixed32 cut short */
                { "\x5a\x05\x01", 3 },                          /* Send body longer than the frame */
                { "\x5a\xff\xff\xff\xff\x0f", 6 },              /* absurd length */
                { "\x0d\x01\x00\x00\x00\x5a\x02\x15", 8 },      /* Send with a cut inner field */
        };
        struct xns_request req;
        struct xns_reply reply;

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                ck_assert_int_eq(decode_request_exact(&req, cases[k].b, cases[k].len), -EBADMSG);
                ck_assert_int_eq(decode_reply_exact(&reply, cases[k].b, cases[k].len), -EBADMSG);
        }
}
END_TEST

/* A request must name an operation; an empty frame or an unknown field
 * alone is no request. An empty reply is a plain "no error" answer. */
START_TEST(test_decode_no_op) {
        struct pbw w = { .n = 0 };
        struct xns_request req;
        struct xns_reply reply;

        ck_assert_int_eq(decode_request_exact(&req, "", 0), -EBADMSG);
        pb_fixed32(&w, F_REQ_SEQ, 7);
        ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), -EBADMSG);
        pb_fixed32(&w, 99, 7);
        ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), -EBADMSG);

        ck_assert_int_eq(decode_reply_exact(&reply, "", 0), 0);
        ck_assert_int_eq(reply.body, XNS_BODY_NONE);
        ck_assert_uint_eq(reply.error, 0);
}
END_TEST

/* Every prefix of a valid frame decodes or fails cleanly (ASan checks the
 * reads); the complete frame decodes, the frame less its last byte not. */
static void check_prefixes(const uint8_t *buf, size_t n, bool request) {
        for (size_t len = 0; len <= n; len++) {
                struct xns_request req;
                struct xns_reply reply;
                int r = request ? decode_request_exact(&req, buf, len) : decode_reply_exact(&reply, buf, len);

                ck_assert_msg(r == 0 || r == -EBADMSG, "prefix of %zu/%zu bytes: %d", len, n, r);
                if (len == n)
                        ck_assert_int_eq(r, 0);
                if (len == n - 1)
                        ck_assert_int_eq(r, -EBADMSG);
        }
}

START_TEST(test_decode_truncated) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request reqs[] = {
                { .seq = 1, .op = XNS_OP_HELLO, .hello = { .version = 1, .has_token = true, .token = { 1, 2, 3 } } },
                { .seq = 2, .op = XNS_OP_REGISTER_NAME, .register_name = { .name = { 5, "hello" }, .max_conns = 3 } },
                { .seq = 3, .op = XNS_OP_CONNECT, .connect = { .sid = { { 1, 2, 3, 4 } }, .wait = true } },
                { .seq = 4, .op = XNS_OP_SEND, .send = { 2, 4, 9, { 1, 2, 3, 4 }, 4096, 5, 6, true } },
                { .seq = 5, .op = XNS_OP_RECEIVE, .receive = { .sid = { { 1, 2, 3, 4 } }, .nowait = true, .has_ret = true,
                                                               .ret = { 1, 2, XNS_RETURN_SCALAR, 5, { 1, 2, 3, 4, 5 }, 7, 8 } } },
                { .seq = 6, .op = XNS_OP_FORWARD, .forward = { 1, 2, 3, 4 } },
        };
        struct xns_reply replies[] = {
                { .seq = 1, .error = 3, .body = XNS_BODY_TOKEN, .token = { 9 } },
                { .seq = 2, .body = XNS_BODY_SID, .sid = { { 1, 2, 3, 4 } } },
                { .seq = 3, .body = XNS_BODY_DELIVERY, .delivery = { 1, 2, 3, 4, { 5, 6, 7, 8 }, 9, 10, 11, 12 } },
                { .seq = 4, .body = XNS_BODY_SCALAR, .scalar = { 5, { 1, 2, 3, 4, 5 } } },
                { .seq = 5, .body = XNS_BODY_MEMORY, .memory = { 1, 2 } },
        };

        for (size_t k = 0; k < ELEMENTSOF(reqs); k++) {
                ssize_t n = xns_request_encode(&reqs[k], buf, sizeof(buf));

                ck_assert_int_gt(n, 0);
                check_prefixes(buf, (size_t)n, true);
        }
        for (size_t k = 0; k < ELEMENTSOF(replies); k++) {
                ssize_t n = xns_reply_encode(&replies[k], buf, sizeof(buf));

                ck_assert_int_gt(n, 0);
                check_prefixes(buf, (size_t)n, false);
        }
}
END_TEST

/* XNS_FRAME_MAX bytes are accepted, one more is not, whatever they hold. */
START_TEST(test_decode_oversized) {
        uint8_t pad[XNS_FRAME_MAX];
        struct xns_request req;
        struct xns_reply reply;

        memset(pad, 'x', sizeof(pad));
        for (size_t total = XNS_FRAME_MAX; total <= XNS_FRAME_MAX + 1; total++) {
                struct pbw w = { .n = 0 };
                struct pbw empty = { .n = 0 };
                size_t head;

                pb_fixed32(&w, F_REQ_SEQ, 1);
                pb_msg(&w, 6, &empty);                  /* trusted_init_done */
                head = w.n + 4;                         /* 2-byte tag, 2-byte length */
                pb_bytes(&w, 100, pad, total - head);   /* an unknown field */
                ck_assert_uint_eq(w.n, total);
                ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), total <= XNS_FRAME_MAX ? 0 : -EBADMSG);

                w.n = 0;
                pb_fixed32(&w, F_REPLY_SEQ, 1);
                head = w.n + 4;
                pb_bytes(&w, 100, pad, total - head);
                ck_assert_uint_eq(w.n, total);
                ck_assert_int_eq(decode_reply_exact(&reply, w.b, w.n), total <= XNS_FRAME_MAX ? 0 : -EBADMSG);
        }
}
END_TEST

static struct pbw send_with_kind(uint32_t kind) {
        struct pbw w = { .n = 0 }, send = { .n = 0 };

        pb_fixed32(&send, 1, 2);        /* cid */
        pb_fixed32(&send, 2, kind);
        pb_fixed32(&send, 3, 1);        /* id */
        pb_fixed32(&w, F_REQ_SEQ, 1);
        pb_msg(&w, F_REQ_SEND, &send);
        return w;
}

static struct pbw delivery_with_kind(uint32_t kind) {
        struct pbw w = { .n = 0 }, d = { .n = 0 };

        pb_fixed32(&d, 1, 1);           /* handle */
        pb_fixed32(&d, 3, kind);
        pb_fixed32(&w, F_REPLY_SEQ, 1);
        pb_msg(&w, F_REPLY_DELIVERY, &d);
        return w;
}

START_TEST(test_decode_kind_range) {
        static const uint32_t bad[] = { _XNS_KIND_MAX, 6, 0x100, ALL_ONES };
        struct xns_request req;
        struct xns_reply reply;
        struct pbw w;

        for (uint32_t kind = 0; kind < _XNS_KIND_MAX; kind++) {
                w = send_with_kind(kind);
                ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), 0);
                ck_assert_uint_eq(req.send.kind, kind);
                w = delivery_with_kind(kind);
                ck_assert_int_eq(decode_reply_exact(&reply, w.b, w.n), 0);
                ck_assert_uint_eq(reply.delivery.kind, kind);
        }
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                w = send_with_kind(bad[k]);
                ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), -EBADMSG);
                w = delivery_with_kind(bad[k]);
                ck_assert_int_eq(decode_reply_exact(&reply, w.b, w.n), -EBADMSG);
        }
}
END_TEST

/* Decodes a Return as RET and inside a Receive; both verdicts must agree. */
static int decode_return_both_ways(const struct pbw *ret) {
        struct pbw w = { .n = 0 }, rcv = { .n = 0 }, sid = { .n = 0 };
        struct xns_request req;
        int r1, r2;

        pb_fixed32(&w, F_REQ_SEQ, 0);
        pb_msg(&w, F_REQ_RET, ret);
        r1 = decode_request_exact(&req, w.b, w.n);

        pb_fixed32(&sid, 1, 7);
        pb_msg(&rcv, 1, &sid);
        pb_msg(&rcv, 3, ret);
        w.n = 0;
        pb_fixed32(&w, F_REQ_SEQ, 1);
        pb_msg(&w, F_REQ_RECEIVE, &rcv);
        r2 = decode_request_exact(&req, w.b, w.n);
        ck_assert_int_eq(r1, r2);
        return r1;
}

/* A scalar Return carries exactly 1, 2 or 5 words (return_scalar,
 * return_scalar2, return_scalar5); other ways of answering carry none. */
START_TEST(test_decode_return_word_counts) {
        static const uint32_t bad_how[] = { XNS_RETURN_DROPPED + 1, 0x100, ALL_ONES };

        for (uint32_t count = 0; count <= 6; count++) {
                for (size_t n_v = 0; n_v <= 6; n_v++) {
                        struct pbw ret = pb_return(XNS_RETURN_SCALAR, count, n_v);
                        bool ok = (count == 1 || count == 2 || count == 5) && n_v == count;

                        ck_assert_msg(decode_return_both_ways(&ret) == (ok ? 0 : -EBADMSG),
                                      "scalar Return count %u with %zu words", count, n_v);
                }
        }
        for (uint32_t how = XNS_RETURN_MEMORY; how <= XNS_RETURN_DROPPED; how += XNS_RETURN_DROPPED) {
                struct pbw ret = pb_return(how, 0, 0);

                ck_assert_int_eq(decode_return_both_ways(&ret), 0);
                for (size_t n_v = 1; n_v <= 5; n_v++) {
                        ret = pb_return(how, (uint32_t)n_v, n_v);
                        ck_assert_msg(decode_return_both_ways(&ret) == -EBADMSG,
                                      "Return how %u with %zu words", how, n_v);
                }
        }
        for (size_t k = 0; k < ELEMENTSOF(bad_how); k++) {
                struct pbw ret = pb_return(bad_how[k], 0, 0);

                ck_assert_int_eq(decode_return_both_ways(&ret), -EBADMSG);
        }
}
END_TEST

START_TEST(test_decode_reply_word_counts) {
        struct xns_reply reply;

        for (uint32_t count = 0; count <= 6; count++) {
                for (uint32_t n_v = 0; n_v <= 6; n_v++) {
                        struct pbw w = { .n = 0 }, s = { .n = 0 };
                        static const uint32_t v[6] = { 1, 2, 3, 4, 5, 6 };
                        bool ok = n_v == count && count <= 5;

                        pb_fixed32(&s, 1, count);
                        if (n_v)
                                pb_packed32(&s, 2, v, n_v);
                        pb_fixed32(&w, F_REPLY_SEQ, 1);
                        pb_msg(&w, F_REPLY_SCALAR, &s);
                        ck_assert_msg(decode_reply_exact(&reply, w.b, w.n) == (ok ? 0 : -EBADMSG),
                                      "ScalarReply count %u with %u words", count, n_v);
                        if (ok) {
                                ck_assert_uint_eq(reply.scalar.count, count);
                                for (uint32_t i = 0; i < count; i++)
                                        ck_assert_uint_eq(reply.scalar.v[i], v[i]);
                        }
                }
        }
}
END_TEST

START_TEST(test_decode_token_length) {
        uint8_t token[XNS_TOKEN_LEN + 1];
        struct xns_request req;
        struct xns_reply reply;

        memset(token, 0x5a, sizeof(token));
        for (size_t len = 0; len <= XNS_TOKEN_LEN + 1; len++) {
                struct pbw w = { .n = 0 }, hello = { .n = 0 };
                bool hello_ok = len == 0 || len == XNS_TOKEN_LEN;

                pb_fixed32(&hello, 1, XNS_PROTOCOL_VERSION);
                if (len)
                        pb_bytes(&hello, 2, token, len);
                pb_fixed32(&w, F_REQ_SEQ, 1);
                pb_msg(&w, F_REQ_HELLO, &hello);
                ck_assert_msg(decode_request_exact(&req, w.b, w.n) == (hello_ok ? 0 : -EBADMSG),
                              "Hello with a %zu-byte token", len);
                if (hello_ok) {
                        ck_assert_int_eq(req.hello.has_token, len == XNS_TOKEN_LEN);
                        ck_assert_uint_eq(req.hello.version, XNS_PROTOCOL_VERSION);
                }

                /* a reply's token must be exactly 16 bytes, never empty */
                w.n = 0;
                pb_fixed32(&w, F_REPLY_SEQ, 1);
                pb_bytes(&w, F_REPLY_TOKEN, token, len);
                ck_assert_msg(decode_reply_exact(&reply, w.b, w.n) == (len == XNS_TOKEN_LEN ? 0 : -EBADMSG),
                              "reply with a %zu-byte token", len);
        }
}
END_TEST

/* Requests that name a server must carry its SID. */
START_TEST(test_decode_missing_sid) {
        struct pbw w = { .n = 0 }, body = { .n = 0 }, empty = { .n = 0 };
        struct xns_request req;
        struct xns_reply reply;

        pb_fixed32(&w, F_REQ_SEQ, 1);
        pb_msg(&w, F_REQ_UNREGISTER, &empty);   /* a Sid with all words 0 is fine */
        ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), 0);
        ck_assert_int_eq(req.op, XNS_OP_UNREGISTER_SERVER);

        w.n = 0;
        pb_fixed32(&body, 2, 1);                /* Connect{wait = 1}, no sid */
        pb_fixed32(&w, F_REQ_SEQ, 1);
        pb_msg(&w, F_REQ_CONNECT, &body);
        ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), -EBADMSG);

        w.n = 0;                                /* Receive{nowait = 1}, no sid */
        pb_fixed32(&w, F_REQ_SEQ, 1);
        pb_msg(&w, F_REQ_RECEIVE, &body);
        ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), -EBADMSG);

        w.n = 0;
        pb_fixed32(&w, F_REPLY_SEQ, 1);
        pb_msg(&w, F_REPLY_SID, &empty);
        ck_assert_int_eq(decode_reply_exact(&reply, w.b, w.n), 0);
        ck_assert_int_eq(reply.body, XNS_BODY_SID);
}
END_TEST

/* A name is passed on with its wire length, never overflowing the buffer,
 * so the daemon can answer INVALID_STRING instead of dropping the link. */
START_TEST(test_decode_long_name) {
        static const size_t lens[] = { XNS_NAME_MAX, XNS_NAME_MAX + 1, 900 };
        char name[900];
        struct xns_request req;

        memset(name, 'n', sizeof(name));
        for (size_t k = 0; k < ELEMENTSOF(lens); k++) {
                struct pbw w = { .n = 0 }, body = { .n = 0 };

                pb_bytes(&body, 1, name, lens[k]);
                pb_fixed32(&body, 2, 1);
                pb_fixed32(&w, F_REQ_SEQ, 1);
                pb_msg(&w, F_REQ_REGISTER_NAME, &body);
                ck_assert_int_eq(decode_request_exact(&req, w.b, w.n), 0);
                ck_assert_uint_eq(req.register_name.name.len, lens[k]);
                ck_assert_uint_eq(req.register_name.max_conns, 1);
                ck_assert_int_eq(req.register_name.name.str[XNS_NAME_MAX], '\0');
                ck_assert_int_eq(xns_name_valid(req.register_name.name.str, req.register_name.name.len),
                                 lens[k] <= XNS_NAME_MAX);
        }
}
END_TEST

/* What the daemon relies on after a successful decode. */
static void check_request_invariants(const struct xns_request *req) {
        const struct xns_return *ret = NULL;

        ck_assert_int_ge(req->op, XNS_OP_HELLO);
        ck_assert_int_le(req->op, XNS_OP_CONTROL);
        if (req->op == XNS_OP_CONTROL) {
                ck_assert_uint_ge(req->control.what, XNS_CONTROL_STATUS);
                ck_assert_uint_lt(req->control.what, _XNS_CONTROL_MAX);
                ck_assert_uint_le(req->control.n_names, XNS_CONTROL_NAMES_MAX);
        }
        if (req->op == XNS_OP_SEND)
                ck_assert_uint_lt(req->send.kind, _XNS_KIND_MAX);
        if (req->op == XNS_OP_RETURN)
                ret = &req->ret;
        if (req->op == XNS_OP_RECEIVE && req->receive.has_ret)
                ret = &req->receive.ret;
        if (ret) {
                ck_assert_uint_le(ret->how, XNS_RETURN_DROPPED);
                if (ret->how == XNS_RETURN_SCALAR)
                        ck_assert(ret->count == 1 || ret->count == 2 || ret->count == 5);
        }
        if (req->op == XNS_OP_REGISTER_NAME)
                ck_assert_int_eq(req->register_name.name.str[XNS_NAME_MAX], '\0');
}

static void check_reply_invariants(const struct xns_reply *reply) {
        ck_assert_int_ge(reply->body, XNS_BODY_NONE);
        ck_assert_int_le(reply->body, XNS_BODY_ACK);
        ck_assert_uint_le(reply->n_more, XNS_DELIVERY_MORE_MAX);
        if (reply->n_more > 0)
                ck_assert(reply->body == XNS_BODY_DELIVERY || reply->body == XNS_BODY_NONE);
        if (reply->continued)
                ck_assert_uint_gt(reply->n_more, 0);
        if (reply->body == XNS_BODY_EVENT) {
                ck_assert_uint_le(reply->event.count, 5);
                ck_assert_uint_le(reply->event.server.len, XNS_NAME_MAX);
        }
        if (reply->body == XNS_BODY_DELIVERY)
                ck_assert_uint_lt(reply->delivery.kind, _XNS_KIND_MAX);
        if (reply->body == XNS_BODY_SCALAR)
                ck_assert_uint_le(reply->scalar.count, 5);
}

static uint32_t lcg(uint32_t *state) {
        *state = *state * 1664525u + 1013904223u;
        return *state >> 8;
}

/* Random bytes and randomly damaged valid frames: decode returns 0 or
 * -EBADMSG, never crashes, and what it accepts is sane. */
START_TEST(test_decode_fuzz) {
        struct xns_request reqs[] = {
                { .seq = 5, .op = XNS_OP_RECEIVE, .receive = { .sid = { { 1, 2, 3, 4 } }, .has_ret = true,
                                                               .ret = { 1, 2, XNS_RETURN_SCALAR, 2, { 1, 2 }, 0, 0 } } },
                { .seq = 4, .op = XNS_OP_SEND, .send = { 2, 4, 9, { 1, 2, 3, 4 }, 4096, 5, 6, true } },
                { .seq = 2, .op = XNS_OP_REGISTER_NAME, .register_name = { .name = { 5, "hello" }, .max_conns = 3 } },
                { .seq = 1, .op = XNS_OP_HELLO, .hello = { .version = 1, .has_token = true } },
        };
        struct xns_reply replies[] = {
                { .seq = 3, .body = XNS_BODY_DELIVERY, .delivery = { 1, 2, 3, 4, { 5, 6, 7, 8 }, 9, 10, 11, 12 } },
                { .seq = 4, .body = XNS_BODY_SCALAR, .scalar = { 5, { 1, 2, 3, 4, 5 } } },
        };
        uint32_t state = 12345;
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request req;
        struct xns_reply reply;

        for (int iter = 0; iter < 20000; iter++) {
                size_t n;

                if (iter % 4 == 0) {
                        n = lcg(&state) % 96;
                        for (size_t i = 0; i < n; i++)
                                buf[i] = (uint8_t)lcg(&state);
                } else if (iter % 4 == 1) {
                        n = (size_t)xns_request_encode(&reqs[lcg(&state) % ELEMENTSOF(reqs)], buf, sizeof(buf));
                } else {
                        n = (size_t)xns_reply_encode(&replies[lcg(&state) % ELEMENTSOF(replies)], buf, sizeof(buf));
                }
                for (int flips = 1 + lcg(&state) % 3; flips > 0 && n > 0; flips--)
                        buf[lcg(&state) % n] = (uint8_t)lcg(&state);

                int r = decode_request_exact(&req, buf, n);

                ck_assert(r == 0 || r == -EBADMSG);
                if (r == 0)
                        check_request_invariants(&req);
                r = decode_reply_exact(&reply, buf, n);
                ck_assert(r == 0 || r == -EBADMSG);
                if (r == 0)
                        check_reply_invariants(&reply);
        }
}
END_TEST

/* --- name validation ---------------------------------------------------- */

static bool name_ok(const char *s) {
        return xns_name_valid(s, strlen(s));
}

START_TEST(test_name_length) {
        char name[XNS_NAME_MAX + 2];

        memset(name, 'a', sizeof(name));
        ck_assert(xns_name_valid(name, 1));
        ck_assert(xns_name_valid(name, XNS_NAME_MAX));          /* 63 bytes: the longest */
        ck_assert(!xns_name_valid(name, XNS_NAME_MAX + 1));     /* 64: one too many */
        ck_assert(!xns_name_valid(name, 0));
        ck_assert(!xns_name_valid("", 0));
        /* only len bytes count: no terminator needed, none looked at */
        ck_assert(xns_name_valid("abc", 2));
}
END_TEST

START_TEST(test_name_nul) {
        ck_assert(!xns_name_valid("ab\0cd", 5));
        ck_assert(!xns_name_valid("\0", 1));
        ck_assert(!xns_name_valid("abcd\0", 5));
        ck_assert(xns_name_valid("abcd\0", 4));
}
END_TEST

START_TEST(test_name_utf8) {
        /* valid: 2-, 3- and 4-byte sequences, the edges around surrogates, U+10FFFF */
        ck_assert(name_ok("caf\xc3\xa9"));
        ck_assert(name_ok("\xe2\x82\xac"));                     /* U+20AC */
        ck_assert(name_ok("\xed\x9f\xbf"));                     /* U+D7FF */
        ck_assert(name_ok("\xee\x80\x80"));                     /* U+E000 */
        ck_assert(name_ok("\xf0\x9f\x98\x80"));                 /* U+1F600 */
        ck_assert(name_ok("\xf0\x90\x80\x80"));                 /* U+10000 */
        ck_assert(name_ok("\xf4\x8f\xbf\xbf"));                 /* U+10FFFF */
        ck_assert(name_ok("\x7f"));

        /* invalid */
        ck_assert(!name_ok("\x80"));                            /* lone continuation */
        ck_assert(!name_ok("a\xbf" "b"));
        ck_assert(!name_ok("\xc3"));                            /* cut short at the end */
        ck_assert(!name_ok("\xe2\x82"));
        ck_assert(!name_ok("\xf0\x9f\x98"));
        ck_assert(!name_ok("\xc3" "a"));                        /* not followed by a continuation */
        ck_assert(!name_ok("\xc0\x80"));                        /* overlong NUL */
        ck_assert(!name_ok("\xc1\xbf"));                        /* overlong U+7F */
        ck_assert(!name_ok("\xe0\x80\xaf"));                    /* overlong '/' */
        ck_assert(!name_ok("\xe0\x9f\xbf"));                    /* overlong U+7FF */
        ck_assert(!name_ok("\xf0\x8f\xbf\xbf"));                /* overlong U+FFFF */
        ck_assert(!name_ok("\xed\xa0\x80"));                    /* U+D800 surrogate */
        ck_assert(!name_ok("\xed\xbf\xbf"));                    /* U+DFFF surrogate */
        ck_assert(!name_ok("\xed\xa0\xbd\xed\xb8\x80"));        /* CESU-8 pair */
        ck_assert(!name_ok("\xf4\x90\x80\x80"));                /* U+110000 */
        ck_assert(!name_ok("\xf5\x80\x80\x80"));
        ck_assert(!name_ok("\xf8\x88\x80\x80\x80"));            /* 5-byte form */
        ck_assert(!name_ok("\xfe"));
        ck_assert(!name_ok("\xff"));
}
END_TEST

/* The 63-byte limit counts bytes, and a character cut by it is invalid. */
START_TEST(test_name_multibyte_limit) {
        char name[XNS_NAME_MAX + 8];

        memset(name, 'a', sizeof(name));
        memcpy(name + XNS_NAME_MAX - 4, "\xf0\x9f\x98\x80", 4);
        ck_assert(xns_name_valid(name, XNS_NAME_MAX));           /* ends on a 4-byte character */
        ck_assert(!xns_name_valid(name, XNS_NAME_MAX - 1));      /* cut inside it */

        for (int i = 0; i < 21; i++)
                memcpy(name + 3 * i, "\xe2\x82\xac", 3);
        ck_assert(xns_name_valid(name, 63));                    /* 21 three-byte characters */
        memcpy(name + 63, "\xe2\x82\xac", 3);
        ck_assert(!xns_name_valid(name, 66));                   /* 22 of them: 66 bytes */
}
END_TEST

/* --- utf8_sanitize (command names the kernel cut) ------------------------- */

static void expect_sanitized(const char *in, const char *want) {
        char buf[64];

        ck_assert_uint_lt(strlen(in), sizeof(buf));
        strcpy(buf, in);
        utf8_sanitize(buf);
        ck_assert_str_eq(buf, want);
}

START_TEST(test_sanitize_valid_unchanged) {
        expect_sanitized("", "");
        expect_sanitized("xnsd", "xnsd");
        expect_sanitized("caf\xc3\xa9", "caf\xc3\xa9");
        expect_sanitized("\xe2\x82\xac\xf0\x9f\x98\x80", "\xe2\x82\xac\xf0\x9f\x98\x80");
}
END_TEST

/* What the kernel leaves of a name cut at 15 bytes: the partial character goes. */
START_TEST(test_sanitize_cut_at_end_dropped) {
        expect_sanitized("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3",
                         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
        expect_sanitized("ab\xe2\x82", "ab");
        expect_sanitized("ab\xf0\x9f\x98", "ab");
        expect_sanitized("\xf0", "");
}
END_TEST

/* Anything else invalid becomes '?', byte by byte, and the rest is kept. */
START_TEST(test_sanitize_invalid_replaced) {
        expect_sanitized("a\x80" "b", "a?b");
        expect_sanitized("\xff\xfe", "??");
        expect_sanitized("\xc3" "a", "?a");
        expect_sanitized("\xc0\x80x", "??x");                   /* overlong NUL */
        expect_sanitized("\xed\xa0\x80x", "???x");              /* surrogate */
        expect_sanitized("\x80\xc3\xa9\xc3", "?\xc3\xa9");      /* both at once */
}
END_TEST

/* --- frame I/O ---------------------------------------------------------- */

START_TEST(test_frame_plain) {
        int sv[2], fd = 7;
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request req = { .seq = 9, .op = XNS_OP_DISCONNECT, .cid = 3 }, out;
        ssize_t n = xns_request_encode(&req, buf, sizeof(buf));

        seqpacket_pair(sv);
        ck_assert_int_eq(xns_frame_send(sv[0], buf, (size_t)n, -1, false), 0);
        memset(buf, 0, sizeof(buf));
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), n);
        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(xns_request_decode(&out, buf, (size_t)n), 0);
        ck_assert_uint_eq(out.seq, 9);
        ck_assert_uint_eq(out.cid, 3);

        /* nothing more: a non-blocking read says so, and leaves fd at -1 */
        fd = 7;
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, true), -EAGAIN);
        ck_assert_int_eq(fd, -1);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_frame_with_fd) {
        int sv[2], mfd, fd = -1, before;
        char text[16] = { 0 };
        uint8_t buf[XNS_FRAME_MAX];

        seqpacket_pair(sv);
        before = count_open_fds();
        mfd = memfd_with("lent page");
        ck_assert_int_eq(xns_frame_send(sv[0], "frame", 5, mfd, false), 0);
        close(mfd);                             /* the descriptor now lives in the socket */

        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), 5);
        ck_assert_mem_eq(buf, "frame", 5);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, text, sizeof(text) - 1, 0), 9);
        ck_assert_str_eq(text, "lent page");
        ck_assert_int_eq(pwrite(fd, "L", 1, 0), 1);             /* and a writable one */
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);   /* not inherited by exec */
        ck_assert_int_eq(count_open_fds(), before + 1);
        close(fd);
        ck_assert_int_eq(count_open_fds(), before);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/* More than one descriptor is a protocol violation; none of them leaks.
 * Nine descriptors overflow the receive buffer (MSG_CTRUNC) as well. */
START_TEST(test_frame_too_many_fds) {
        static const size_t counts[] = { 2, 3, 9 };
        uint8_t buf[XNS_FRAME_MAX];

        for (size_t k = 0; k < ELEMENTSOF(counts); k++) {
                int sv[2], fds[16], fd = 7, before;

                seqpacket_pair(sv);
                before = count_open_fds();
                for (size_t i = 0; i < counts[k]; i++)
                        fds[i] = memfd_with("x");
                send_raw_fds(sv[0], "frame", 5, fds, counts[k]);
                for (size_t i = 0; i < counts[k]; i++)
                        close(fds[i]);
                ck_assert_int_eq(count_open_fds(), before);

                ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), -EPROTO);
                ck_assert_int_eq(fd, -1);
                ck_assert_msg(count_open_fds() == before, "%zu descriptors: %d leaked", counts[k],
                              count_open_fds() - before);
                close(sv[0]);
                close(sv[1]);
        }
}
END_TEST

/* A datagram larger than the buffer is refused whole (its descriptor
 * closed), and the next frame still arrives intact. */
START_TEST(test_frame_oversized) {
        int sv[2], fd = 7, mfd, before;
        uint8_t big[XNS_FRAME_MAX + 1], buf[XNS_FRAME_MAX];

        memset(big, 'B', sizeof(big));
        seqpacket_pair(sv);
        before = count_open_fds();
        mfd = memfd_with("x");
        ck_assert_int_eq(xns_frame_send(sv[0], big, sizeof(big), -1, false), 0);
        ck_assert_int_eq(xns_frame_send(sv[0], big, sizeof(big), mfd, false), 0);
        close(mfd);
        ck_assert_int_eq(xns_frame_send(sv[0], "ok", 2, -1, false), 0);
        ck_assert_int_eq(xns_frame_send(sv[0], big, XNS_FRAME_MAX, -1, false), 0);

        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), -EMSGSIZE);
        ck_assert_int_eq(fd, -1);
        fd = 7;
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), -EMSGSIZE);
        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(count_open_fds(), before);
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), 2);
        ck_assert_mem_eq(buf, "ok", 2);
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), XNS_FRAME_MAX);  /* exactly fits */
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_frame_eof) {
        int sv[2], fd = 7;
        uint8_t buf[XNS_FRAME_MAX];

        seqpacket_pair(sv);
        ck_assert_int_eq(xns_frame_send(sv[0], "last", 4, -1, false), 0);
        close(sv[0]);
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), 4);  /* queued frames first */
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, false), 0);
        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(xns_frame_recv(sv[1], buf, sizeof(buf), &fd, true), 0);
        close(sv[1]);
}
END_TEST

/* Writing to a hung-up peer is an error, not SIGPIPE; a full socket in
 * non-blocking mode answers -EAGAIN instead of waiting. */
START_TEST(test_frame_send_errors) {
        int sv[2], r = 0, i;
        uint8_t frame[XNS_FRAME_MAX];

        memset(frame, 0, sizeof(frame));
        seqpacket_pair(sv);
        for (i = 0; i < 100000 && r == 0; i++)
                r = xns_frame_send(sv[0], frame, sizeof(frame), -1, true);
        ck_assert_int_eq(r, -EAGAIN);
        ck_assert_int_gt(i, 1);
        close(sv[0]);
        close(sv[1]);

        seqpacket_pair(sv);
        close(sv[1]);
        ck_assert_int_eq(xns_frame_send(sv[0], "x", 1, -1, false), -EPIPE);
        ck_assert_int_eq(xns_frame_send(sv[0], "x", 1, -1, true), -EPIPE);
        close(sv[0]);
}
END_TEST

static Suite *wire_suite(void) {
        Suite *s = suite_create("wire");
        TCase *tc;

        tc = tcase_create("request");
        tcase_add_loop_test(tc, test_request_hello, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_register_name, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_request_connection, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_sid_ops, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_empty_ops, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_connect, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_disconnect, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_cancel, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_send, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_return, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_receive, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_forward, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_request_control, 0, N_PATTERNS);
        suite_add_tcase(s, tc);

        tc = tcase_create("reply");
        tcase_add_loop_test(tc, test_reply_none, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_token, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_sid, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_cid_done, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_delivery, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_delivery_more, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_ack, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_scalar, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_memory, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_snapshot, 0, N_PATTERNS);
        tcase_add_loop_test(tc, test_reply_event, 0, N_PATTERNS);
        suite_add_tcase(s, tc);

        tc = tcase_create("encode");
        tcase_add_test(tc, test_encode_limits);
        tcase_add_test(tc, test_encode_return_count_bounded);
        tcase_add_test(tc, test_control_limits);
        tcase_add_test(tc, test_error_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("decode");
        tcase_add_test(tc, test_decode_garbage);
        tcase_add_test(tc, test_decode_no_op);
        tcase_add_test(tc, test_decode_truncated);
        tcase_add_test(tc, test_decode_oversized);
        tcase_add_test(tc, test_decode_kind_range);
        tcase_add_test(tc, test_decode_return_word_counts);
        tcase_add_test(tc, test_decode_reply_word_counts);
        tcase_add_test(tc, test_decode_token_length);
        tcase_add_test(tc, test_decode_missing_sid);
        tcase_add_test(tc, test_decode_long_name);
        tcase_add_test(tc, test_decode_fuzz);
        suite_add_tcase(s, tc);

        tc = tcase_create("name");
        tcase_add_test(tc, test_name_length);
        tcase_add_test(tc, test_name_nul);
        tcase_add_test(tc, test_name_utf8);
        tcase_add_test(tc, test_name_multibyte_limit);
        suite_add_tcase(s, tc);

        tc = tcase_create("utf8");
        tcase_add_test(tc, test_sanitize_valid_unchanged);
        tcase_add_test(tc, test_sanitize_cut_at_end_dropped);
        tcase_add_test(tc, test_sanitize_invalid_replaced);
        suite_add_tcase(s, tc);

        tc = tcase_create("frame");
        tcase_add_test(tc, test_frame_plain);
        tcase_add_test(tc, test_frame_with_fd);
        tcase_add_test(tc, test_frame_too_many_fds);
        tcase_add_test(tc, test_frame_oversized);
        tcase_add_test(tc, test_frame_eof);
        tcase_add_test(tc, test_frame_send_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(wire_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
