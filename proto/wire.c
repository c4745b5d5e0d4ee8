/* wire.c: checked conversion between xns frames and plain C structs, and
 * frame I/O over SOCK_SEQPACKET with SCM_RIGHTS. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "arena.h"
#include "macro.h"
#include "utf8.h"
#include "wire.h"
#include "xns.pb-c.h"

/* Decoding never touches the heap: protobuf-c allocates from an arena
 * (util/arena.h) sized far above anything a XNS_FRAME_MAX frame can need,
 * and a frame that would need more is malformed. */
#define ARENA_BYTES 16384

#define ARENA_ALLOCATOR(a) { .alloc = arena_alloc, .free = arena_free, .allocator_data = (a) }

static int sid_from_pb(struct xns_sid *sid, const Xns__Sid *pb) {
        if (!pb)
                return -EBADMSG;
        sid->w[0] = pb->w0;
        sid->w[1] = pb->w1;
        sid->w[2] = pb->w2;
        sid->w[3] = pb->w3;
        return 0;
}

static void sid_to_pb(Xns__Sid *pb, const struct xns_sid *sid) {
        pb->w0 = sid->w[0];
        pb->w1 = sid->w[1];
        pb->w2 = sid->w[2];
        pb->w3 = sid->w[3];
}

static void name_from_pb(struct xns_name *name, ProtobufCBinaryData data) {
        name->len = data.len;
        memset(name->str, 0, sizeof(name->str));
        if (data.len > 0 && data.len <= XNS_NAME_MAX)
                memcpy(name->str, data.data, data.len);
}

static bool failed_error_valid(uint32_t how, uint32_t error) {
        if (how != XNS_RETURN_FAILED)
                return error == 0;
        return error != XNS_OK && error < _XNS_ERROR_MAX;
}

static int return_from_pb(struct xns_return *ret, const Xns__Return *pb) {
        if (!pb || pb->how > XNS_RETURN_FAILED || pb->n_v > 5 || !failed_error_valid(pb->how, pb->error))
                return -EBADMSG;
        if (pb->how == XNS_RETURN_SCALAR) {
                if (pb->count != 1 && pb->count != 2 && pb->count != 5)
                        return -EBADMSG;
                if (pb->n_v != pb->count)
                        return -EBADMSG;
        } else if (pb->n_v != 0) {
                return -EBADMSG;
        }
        *ret = (struct xns_return){
                .handle = pb->handle, .gen = pb->gen, .how = pb->how, .count = pb->count,
                .offset = pb->offset, .valid = pb->valid, .error = pb->error,
        };
        if (pb->n_v > 0)
                memcpy(ret->v, pb->v, pb->n_v * sizeof(uint32_t));
        return 0;
}

/* The encoder refuses what the decoder would reject, so a client never sends
 * a frame that gets its link cut. */
static bool return_valid(const struct xns_return *ret) {
        if (ret->how > XNS_RETURN_FAILED || !failed_error_valid(ret->how, ret->error))
                return false;
        return ret->how != XNS_RETURN_SCALAR || ret->count == 1 || ret->count == 2 || ret->count == 5;
}

static void return_to_pb(Xns__Return *pb, const struct xns_return *ret) {
        pb->handle = ret->handle;
        pb->gen = ret->gen;
        pb->how = ret->how;
        pb->count = ret->how == XNS_RETURN_SCALAR ? ret->count : 0;
        pb->n_v = pb->count;
        pb->v = (uint32_t *)ret->v;
        pb->offset = ret->offset;
        pb->valid = ret->valid;
        pb->error = ret->error;
}

static int send_from_pb(struct xns_send *send, const Xns__Send *pb) {
        if (!pb || pb->kind >= _XNS_KIND_MAX)
                return -EBADMSG;
        *send = (struct xns_send){
                .cid = pb->cid, .kind = pb->kind, .id = pb->id,
                .a = { pb->a1, pb->a2, pb->a3, pb->a4 },
                .len = pb->len, .offset = pb->offset, .valid = pb->valid,
                .try_ = pb->try_ != 0,
                .buf = pb->buf,
        };
        return 0;
}

static int control_from_pb(struct xns_request *req, const Xns__Control *pb) {
        if (pb->what == 0 || pb->what >= _XNS_CONTROL_MAX || pb->n_names > XNS_CONTROL_NAMES_MAX)
                return -EBADMSG;
        req->control.what = pb->what;
        req->control.n_names = (uint32_t)pb->n_names;
        req->control.payloads = pb->payloads;
        for (size_t i = 0; i < pb->n_names; i++)
                name_from_pb(&req->control.names[i], pb->names[i]);
        return 0;
}

static int origin_from_pb(struct xns_origin *o, const Xns__Origin *pb) {
        if (!xns_host_valid((const char *)pb->host.data, pb->host.len))
                return -EBADMSG;
        memcpy(o->host, pb->host.data, pb->host.len);
        o->host[pb->host.len] = '\0';
        o->pid = pb->pid;
        o->uid = pb->uid;
        return 0;
}

static int hello_from_pb(struct xns_request *req, const Xns__Hello *pb) {
        req->op = XNS_OP_HELLO;
        req->hello.version = pb->version;
        if (pb->token.len != 0 && pb->token.len != XNS_TOKEN_LEN)
                return -EBADMSG;
        req->hello.has_token = pb->token.len == XNS_TOKEN_LEN;
        if (req->hello.has_token)
                memcpy(req->hello.token, pb->token.data, XNS_TOKEN_LEN);
        req->hello.buffers = pb->buffers != 0;
        req->hello.has_origin = pb->origin != NULL;
        return pb->origin ? origin_from_pb(&req->hello.origin, pb->origin) : 0;
}

static int gateway_attach_from_pb(struct xns_request *req, const Xns__GatewayAttach *pb) {
        req->op = XNS_OP_GATEWAY_ATTACH;
        if (!xns_host_valid((const char *)pb->host.data, pb->host.len) || pb->n_exports > XNS_EXPORTS_MAX)
                return -EBADMSG;
        memcpy(req->gateway_attach.host, pb->host.data, pb->host.len);
        req->gateway_attach.n_exports = (uint32_t)pb->n_exports;
        for (size_t i = 0; i < pb->n_exports; i++) {
                name_from_pb(&req->gateway_attach.exports[i], pb->exports[i]);
                if (pb->exports[i].len == 0 || pb->exports[i].len > XNS_NAME_MAX)
                        return -EBADMSG;
        }
        return 0;
}

static int gateway_answer_from_pb(struct xns_request *req, const Xns__GatewayAnswer *pb) {
        req->op = XNS_OP_GATEWAY_ANSWER;
        if (pb->error >= _XNS_ERROR_MAX)
                return -EBADMSG;
        req->gateway_answer.ticket = pb->ticket;
        req->gateway_answer.error = pb->error;
        req->gateway_answer.has_sid = pb->sid != NULL;
        return pb->sid ? sid_from_pb(&req->gateway_answer.sid, pb->sid) : 0;
}

static int request_from_pb(struct xns_request *req, const Xns__Request *pb) {
        req->seq = pb->seq;
        switch (pb->op_case) {
        case XNS__REQUEST__OP_HELLO:
                return hello_from_pb(req, pb->hello);
        case XNS__REQUEST__OP_REGISTER_NAME:
                req->op = XNS_OP_REGISTER_NAME;
                name_from_pb(&req->register_name.name, pb->register_name->name);
                req->register_name.max_conns = pb->register_name->max_conns;
                return 0;
        case XNS__REQUEST__OP_UNREGISTER_SERVER:
                req->op = XNS_OP_UNREGISTER_SERVER;
                return sid_from_pb(&req->sid, pb->unregister_server);
        case XNS__REQUEST__OP_REQUEST_CONNECTION:
                req->op = XNS_OP_REQUEST_CONNECTION;
                name_from_pb(&req->request_connection.name, pb->request_connection->name);
                req->request_connection.wait = pb->request_connection->wait != 0;
                return 0;
        case XNS__REQUEST__OP_TRUSTED_INIT_DONE:
                req->op = XNS_OP_TRUSTED_INIT_DONE;
                return 0;
        case XNS__REQUEST__OP_CREATE_SERVER:
                req->op = XNS_OP_CREATE_SERVER;
                req->create_server.has_sid = pb->create_server->sid != NULL;
                return pb->create_server->sid ? sid_from_pb(&req->create_server.sid, pb->create_server->sid) : 0;
        case XNS__REQUEST__OP_DESTROY_SERVER:
                req->op = XNS_OP_DESTROY_SERVER;
                return sid_from_pb(&req->sid, pb->destroy_server);
        case XNS__REQUEST__OP_WATCH_SERVER:
                req->op = XNS_OP_WATCH_SERVER;
                return sid_from_pb(&req->sid, pb->watch_server);
        case XNS__REQUEST__OP_CONNECT:
                req->op = XNS_OP_CONNECT;
                req->connect.wait = pb->connect->wait != 0;
                return sid_from_pb(&req->connect.sid, pb->connect->sid);
        case XNS__REQUEST__OP_DISCONNECT:
                req->op = XNS_OP_DISCONNECT;
                req->cid = pb->disconnect;
                return 0;
        case XNS__REQUEST__OP_SEND:
                req->op = XNS_OP_SEND;
                return send_from_pb(&req->send, pb->send);
        case XNS__REQUEST__OP_RECEIVE:
                req->op = XNS_OP_RECEIVE;
                req->receive.nowait = pb->receive->nowait != 0;
                req->receive.batch = pb->receive->batch != 0;
                req->receive.has_ret = pb->receive->ret != NULL;
                if (req->receive.has_ret && return_from_pb(&req->receive.ret, pb->receive->ret) < 0)
                        return -EBADMSG;
                return sid_from_pb(&req->receive.sid, pb->receive->sid);
        case XNS__REQUEST__OP_RET:
                req->op = XNS_OP_RETURN;
                return return_from_pb(&req->ret, pb->ret);
        case XNS__REQUEST__OP_FORWARD:
                req->op = XNS_OP_FORWARD;
                req->forward = (struct xns_forward){
                        .handle = pb->forward->handle, .gen = pb->forward->gen,
                        .cid = pb->forward->cid, .id = pb->forward->id,
                };
                return 0;
        case XNS__REQUEST__OP_CONTROL:
                req->op = XNS_OP_CONTROL;
                return control_from_pb(req, pb->control);
        case XNS__REQUEST__OP_RING:
                req->op = XNS_OP_RING;
                return 0;
        case XNS__REQUEST__OP_KICK:
                req->op = XNS_OP_KICK;
                return 0;
        case XNS__REQUEST__OP_CHANNEL:
                req->op = XNS_OP_CHANNEL;
                return 0;
        case XNS__REQUEST__OP_CHANNEL_BELL:
                req->op = XNS_OP_CHANNEL_BELL;
                return 0;
        case XNS__REQUEST__OP_GATEWAY_ATTACH:
                return gateway_attach_from_pb(req, pb->gateway_attach);
        case XNS__REQUEST__OP_GATEWAY_ANSWER:
                return gateway_answer_from_pb(req, pb->gateway_answer);
        case XNS__REQUEST__OP_GATEWAY_VIEW:
                req->op = XNS_OP_GATEWAY_VIEW;
                return 0;
        case XNS__REQUEST__OP_CANCEL:
                req->op = XNS_OP_CANCEL;
                req->cancel = pb->cancel;
                return 0;
        case XNS__REQUEST__OP_BUF_KEEP:
                req->op = XNS_OP_BUF_KEEP;
                req->buf_keep.buf = pb->buf_keep->buf;
                req->buf_keep.len = pb->buf_keep->len;
                req->buf_keep.kind = pb->buf_keep->kind;
                return 0;
        case XNS__REQUEST__OP_BUF_FORGET:
                req->op = XNS_OP_BUF_FORGET;
                req->buf_forget = pb->buf_forget;
                return 0;
        default:
                return -EBADMSG;
        }
}


/* --- the frames of every call, read without protobuf-c's generic code ----
 *
 * A call's frames (Send, Receive, Return; a delivery, a scalar or memory
 * answer, or none) are read here when they are in the shape protobuf-c
 * writes them: each field once, in increasing order, a one-byte key, the
 * shortest lengths, repeated words packed. They fill the same generated
 * structs protobuf-c would, and the same checks (request_from_pb(),
 * reply_from_pb()) judge them. Anything else is -EAGAIN, and protobuf-c
 * reads it; fuzz-wire checks that both readers agree on every input. */

struct pb_in {
        const uint8_t *buf;
        size_t len, pos;
        unsigned last;                  /* the last field number read */
};

#define PB_FIXED32 5
#define PB_LEN 2

/* The next field's number and wire type: 1, 0 at the end, -EAGAIN for a
 * key protobuf-c would not have written here. */
static int in_key(struct pb_in *in, unsigned *field, unsigned *wire) {
        uint8_t key;

        if (in->pos == in->len)
                return 0;
        key = in->buf[in->pos++];
        *field = key >> 3;
        *wire = key & 7;
        if ((key & 0x80) || *field <= in->last)
                return -EAGAIN;
        in->last = *field;
        return 1;
}

static int in_fixed32(struct pb_in *in, unsigned wire, uint32_t *v) {
        uint8_t b[4];

        if (wire != PB_FIXED32 || in->len - in->pos < 4)
                return -EAGAIN;
        memcpy(b, in->buf + in->pos, 4);
        *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        in->pos += 4;
        return 0;
}

/* A length-delimited field, its length in one or two bytes (the shortest). */
static int in_sub(struct pb_in *in, unsigned wire, struct pb_in *sub) {
        size_t n;

        if (wire != PB_LEN || in->pos == in->len)
                return -EAGAIN;
        n = in->buf[in->pos++];
        if (n & 0x80) {
                if (in->pos == in->len || in->buf[in->pos] == 0 || (in->buf[in->pos] & 0x80))
                        return -EAGAIN;
                n = (n & 0x7f) | (size_t)in->buf[in->pos++] << 7;
        }
        if (n > in->len - in->pos)
                return -EAGAIN;
        *sub = (struct pb_in){ .buf = in->buf + in->pos, .len = n };
        in->pos += n;
        return 0;
}

/* Packed words, at most max of them (more: protobuf-c reads, and the
 * checks refuse). */
static int in_packed32(struct pb_in *in, unsigned wire, uint32_t *v, size_t max, size_t *n) {
        struct pb_in sub;
        int r;

        r = in_sub(in, wire, &sub);
        if (r < 0 || sub.len == 0 || sub.len % 4 || sub.len / 4 > max)
                return -EAGAIN;
        *n = sub.len / 4;
        for (size_t i = 0; i < *n; i++)
                in_fixed32(&sub, PB_FIXED32, &v[i]);
        return 0;
}

/* A message of fixed32 fields only, 1..n, into words[field - 1]. */
static int in_words(struct pb_in *in, uint32_t *const *words, unsigned n) {
        unsigned field, wire;
        int r;

        while ((r = in_key(in, &field, &wire)) > 0) {
                if (field > n)
                        return -EAGAIN;
                r = in_fixed32(in, wire, words[field - 1]);
                if (r < 0)
                        return r;
        }
        return r;
}

/* A submessage of fixed32 fields only. */
static int in_sub_words(struct pb_in *in, unsigned wire, uint32_t *const *words, unsigned n) {
        struct pb_in sub;
        int r;

        r = in_sub(in, wire, &sub);
        return r < 0 ? r : in_words(&sub, words, n);
}

static int in_sid(struct pb_in *in, unsigned wire, Xns__Sid *sid) {
        uint32_t *const words[] = { &sid->w0, &sid->w1, &sid->w2, &sid->w3 };

        return in_sub_words(in, wire, words, ELEMENTSOF(words));
}

struct fast_request {
        Xns__Request req;
        Xns__Send send;
        Xns__Receive receive;
        Xns__Return ret;
        Xns__Sid sid;
        uint32_t v[5];
};

static int in_send(struct pb_in *in, unsigned wire, Xns__Send *s) {
        uint32_t *const words[] = { &s->cid, &s->kind, &s->id, &s->a1, &s->a2, &s->a3, &s->a4,
                                    &s->len, &s->offset, &s->valid, &s->try_, &s->buf };

        return in_sub_words(in, wire, words, ELEMENTSOF(words));
}

static int in_return(struct pb_in *in, unsigned wire, Xns__Return *ret, uint32_t *v) {
        uint32_t *const words[] = { &ret->handle, &ret->gen, &ret->how, &ret->count, NULL,
                                    &ret->offset, &ret->valid, &ret->error };
        struct pb_in sub;
        unsigned field, w;
        int r;

        r = in_sub(in, wire, &sub);
        while (r == 0 && (r = in_key(&sub, &field, &w)) > 0) {
                if (field == 5) {
                        r = in_packed32(&sub, w, v, 5, &ret->n_v);
                        ret->v = v;
                } else {
                        r = field <= ELEMENTSOF(words) ? in_fixed32(&sub, w, words[field - 1]) : -EAGAIN;
                }
        }
        return r;
}

static int in_receive(struct pb_in *in, unsigned wire, struct fast_request *f) {
        Xns__Receive *rc = &f->receive;
        struct pb_in sub;
        unsigned field, w;
        int r;

        r = in_sub(in, wire, &sub);
        while (r == 0 && (r = in_key(&sub, &field, &w)) > 0) {
                if (field == 1) {
                        r = in_sid(&sub, w, &f->sid);
                        rc->sid = &f->sid;
                } else if (field == 2 || field == 4) {
                        r = in_fixed32(&sub, w, field == 2 ? &rc->nowait : &rc->batch);
                } else if (field == 3) {
                        r = in_return(&sub, w, &f->ret, f->v);
                        rc->ret = &f->ret;
                } else {
                        r = -EAGAIN;
                }
        }
        return r;
}

/* The request's one op past seq: a Send, a Receive or a Return. */
static int in_request_op(struct pb_in *in, unsigned field, unsigned wire, struct fast_request *f) {
        if (f->req.op_case != XNS__REQUEST__OP__NOT_SET)
                return -EAGAIN;
        f->req.op_case = (Xns__Request__OpCase)field;
        switch (field) {
        case XNS__REQUEST__OP_SEND:
                f->req.send = &f->send;
                return in_send(in, wire, &f->send);
        case XNS__REQUEST__OP_RECEIVE:
                f->req.receive = &f->receive;
                return in_receive(in, wire, f);
        case XNS__REQUEST__OP_RET:
                f->req.ret = &f->ret;
                return in_return(in, wire, &f->ret, f->v);
        default:
                return -EAGAIN;
        }
}

static int fast_request_decode(struct xns_request *req, const uint8_t *buf, size_t len) {
        struct fast_request f = {
                .req = XNS__REQUEST__INIT, .send = XNS__SEND__INIT, .receive = XNS__RECEIVE__INIT,
                .ret = XNS__RETURN__INIT, .sid = XNS__SID__INIT,
        };
        struct pb_in in = { .buf = buf, .len = len };
        unsigned field, wire;
        int r;

        while ((r = in_key(&in, &field, &wire)) > 0) {
                r = field == 1 ? in_fixed32(&in, wire, &f.req.seq) : in_request_op(&in, field, wire, &f);
                if (r < 0)
                        return r;
        }
        if (r < 0 || f.req.op_case == XNS__REQUEST__OP__NOT_SET)
                return -EAGAIN;
        memset(req, 0, sizeof(*req));
        return request_from_pb(req, &f.req) < 0 ? -EBADMSG : 0;
}

/*
 * xns_request_decode() - parse an untrusted request frame.
 *
 * Everything the daemon later relies on (kinds in range, reply word counts,
 * token length) is checked here; names are copied with their wire length so
 * that a bad name is answered with INVALID_STRING rather than dropped.
 */
int xns_request_decode(struct xns_request *req, const void *buf, size_t len) {
        int r;

        if (len > XNS_FRAME_MAX)
                return -EBADMSG;
        r = fast_request_decode(req, buf, len);
        return r == -EAGAIN ? xns_request_decode_generic(req, buf, len) : r;
}

/* xns_request_decode() through protobuf-c alone (fuzz-wire compares). */
int xns_request_decode_generic(struct xns_request *req, const void *buf, size_t len) {
        max_align_t mem[ARENA_BYTES / sizeof(max_align_t)];    /* not zeroed: no need */
        struct arena arena = ARENA_INIT(mem);
        ProtobufCAllocator alloc = ARENA_ALLOCATOR(&arena);
        Xns__Request *pb;

        if (len > XNS_FRAME_MAX)
                return -EBADMSG;
        pb = xns__request__unpack(&alloc, len, buf);
        if (!pb)
                return -EBADMSG;
        memset(req, 0, sizeof(*req));
        return request_from_pb(req, pb) < 0 ? -EBADMSG : 0;
}

/* --- the frames of every call, written without protobuf-c's generic code ---
 *
 * The built messages of a call (a Request with a Send, Receive or Return; a
 * Reply with a delivery, a scalar or memory answer, or none) are written
 * here, as protobuf-c writes them: fields in increasing order, proto3's
 * zeros left out, repeated words packed. fuzz-wire reads what they write
 * with protobuf-c. */

struct pb_out {
        uint8_t *buf;
        size_t len, size;               /* len past size: it did not fit */
};

static void out_bytes(struct pb_out *o, const void *p, size_t n) {
        if (o->len + n <= o->size)
                memcpy(o->buf + o->len, p, n);
        o->len += n;
}

static void out_varint(struct pb_out *o, size_t v) {
        uint8_t b;

        do {
                b = (uint8_t)(v & 0x7f);
                v >>= 7;
                if (v)
                        b |= 0x80;
                out_bytes(o, &b, 1);
        } while (v);
}

static void out_word(struct pb_out *o, uint32_t v) {
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

        out_bytes(o, b, 4);
}

/* A fixed32 field; proto3 leaves a zero out. */
static void out_fixed32(struct pb_out *o, unsigned field, uint32_t v) {
        uint8_t key = (uint8_t)(field << 3 | PB_FIXED32);

        if (v == 0)
                return;
        out_bytes(o, &key, 1);
        out_word(o, v);
}

static void out_words(struct pb_out *o, const uint32_t *const *words, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                out_fixed32(o, i + 1, *words[i]);
}

static void out_packed32(struct pb_out *o, unsigned field, const uint32_t *v, size_t n) {
        uint8_t key = (uint8_t)(field << 3 | PB_LEN);

        if (n == 0)
                return;
        out_bytes(o, &key, 1);
        out_varint(o, 4 * n);
        for (size_t i = 0; i < n; i++)
                out_word(o, v[i]);
}

/* A submessage: its length first, so it is written aside. */
static void out_sub(struct pb_out *o, unsigned field, const struct pb_out *sub) {
        uint8_t key = (uint8_t)(field << 3 | PB_LEN);

        out_bytes(o, &key, 1);
        out_varint(o, sub->len);
        if (sub->len <= sub->size)
                out_bytes(o, sub->buf, sub->len);
        else
                o->len = o->size + 1;   /* it did not fit: neither does the frame */
}

#define PB_OUT(b) { .buf = (b), .size = sizeof(b) }

/* A submessage of fixed32 fields only (at most 13 of them). */
static void out_sub_words(struct pb_out *o, unsigned field, const uint32_t *const *words, unsigned n) {
        uint8_t b[80];
        struct pb_out sub = PB_OUT(b);

        out_words(&sub, words, n);
        out_sub(o, field, &sub);
}

static void out_sid(struct pb_out *o, unsigned field, const Xns__Sid *sid) {
        const uint32_t *const words[] = { &sid->w0, &sid->w1, &sid->w2, &sid->w3 };

        out_sub_words(o, field, words, ELEMENTSOF(words));
}

static void out_return(struct pb_out *o, unsigned field, const Xns__Return *r) {
        uint8_t b[64];
        struct pb_out sub = PB_OUT(b);

        out_fixed32(&sub, 1, r->handle);
        out_fixed32(&sub, 2, r->gen);
        out_fixed32(&sub, 3, r->how);
        out_fixed32(&sub, 4, r->count);
        out_packed32(&sub, 5, r->v, r->n_v);
        out_fixed32(&sub, 6, r->offset);
        out_fixed32(&sub, 7, r->valid);
        out_fixed32(&sub, 8, r->error);
        out_sub(o, field, &sub);
}

static void out_send(struct pb_out *o, unsigned field, const Xns__Send *s) {
        const uint32_t *const words[] = { &s->cid, &s->kind, &s->id, &s->a1, &s->a2, &s->a3, &s->a4, &s->len,
                                          &s->offset, &s->valid, &s->try_, &s->buf };

        out_sub_words(o, field, words, ELEMENTSOF(words));
}

static void out_receive(struct pb_out *o, unsigned field, const Xns__Receive *rc) {
        uint8_t b[128];
        struct pb_out sub = PB_OUT(b);

        if (rc->sid)
                out_sid(&sub, 1, rc->sid);
        out_fixed32(&sub, 2, rc->nowait);
        if (rc->ret)
                out_return(&sub, 3, rc->ret);
        out_fixed32(&sub, 4, rc->batch);
        out_sub(o, field, &sub);
}

/* A call's Request, or -EAGAIN for any other. */
static ssize_t fast_request_pack(const Xns__Request *pb, void *buf, size_t size) {
        struct pb_out o = { .buf = buf, .size = size < XNS_FRAME_MAX ? size : XNS_FRAME_MAX };

        out_fixed32(&o, 1, pb->seq);
        switch (pb->op_case) {
        case XNS__REQUEST__OP_SEND:
                out_send(&o, XNS__REQUEST__OP_SEND, pb->send);
                break;
        case XNS__REQUEST__OP_RECEIVE:
                out_receive(&o, XNS__REQUEST__OP_RECEIVE, pb->receive);
                break;
        case XNS__REQUEST__OP_RET:
                out_return(&o, XNS__REQUEST__OP_RET, pb->ret);
                break;
        default:
                return -EAGAIN;
        }
        return o.len > o.size ? -EMSGSIZE : (ssize_t)o.len;
}

static void out_delivery(struct pb_out *o, unsigned field, const Xns__Delivery *d) {
        const uint32_t *const words[] = { &d->handle, &d->gen, &d->kind, &d->id, &d->a1, &d->a2, &d->a3,
                                          &d->a4, &d->len, &d->offset, &d->valid, &d->sender_pid,
                                          &d->sender_uid, &d->buf, &d->forget };

        out_sub_words(o, field, words, ELEMENTSOF(words));
}

/* A call's Reply, or -EAGAIN for any other. */
static ssize_t fast_reply_pack(const Xns__Reply *pb, void *buf, size_t size) {
        struct pb_out o = { .buf = buf, .size = size < XNS_FRAME_MAX ? size : XNS_FRAME_MAX };
        uint8_t b[32];
        struct pb_out sub = PB_OUT(b);

        out_fixed32(&o, 1, pb->seq);
        out_fixed32(&o, 2, pb->error);
        switch (pb->body_case) {
        case XNS__REPLY__BODY__NOT_SET:
                break;
        case XNS__REPLY__BODY_DELIVERY:
                out_delivery(&o, XNS__REPLY__BODY_DELIVERY, pb->delivery);
                break;
        case XNS__REPLY__BODY_SCALAR:
                out_fixed32(&sub, 1, pb->scalar->count);
                out_packed32(&sub, 2, pb->scalar->v, pb->scalar->n_v);
                out_sub(&o, XNS__REPLY__BODY_SCALAR, &sub);
                break;
        case XNS__REPLY__BODY_MEMORY:
                out_sub_words(&o, XNS__REPLY__BODY_MEMORY,
                              (const uint32_t *const[]){ &pb->memory->offset, &pb->memory->valid }, 2);
                break;
        default:
                return -EAGAIN;
        }
        out_packed32(&o, 13, pb->more, pb->n_more);
        out_fixed32(&o, 14, pb->continued);
        return o.len > o.size ? -EMSGSIZE : (ssize_t)o.len;
}

/* Packs a built message into buf, after checking that it fits: a call's
 * frames by the writers above, any other by protobuf-c. */
static ssize_t pack_checked(const ProtobufCMessage *msg, void *buf, size_t size) {
        ssize_t r = -EAGAIN;
        size_t n;

        if (msg->descriptor == &xns__request__descriptor)
                r = fast_request_pack((const Xns__Request *)msg, buf, size);
        else if (msg->descriptor == &xns__reply__descriptor)
                r = fast_reply_pack((const Xns__Reply *)msg, buf, size);
        if (r != -EAGAIN)
                return r;
        n = protobuf_c_message_get_packed_size(msg);
        if (n > size || n > XNS_FRAME_MAX)
                return -EMSGSIZE;
        return (ssize_t)protobuf_c_message_pack(msg, buf);
}

static ssize_t request_pack_receive(Xns__Request *pb, const struct xns_request *req, void *buf, size_t size) {
        Xns__Receive receive = XNS__RECEIVE__INIT;
        Xns__Sid sid = XNS__SID__INIT;
        Xns__Return ret = XNS__RETURN__INIT;

        sid_to_pb(&sid, &req->receive.sid);
        receive.sid = &sid;
        receive.nowait = req->receive.nowait;
        receive.batch = req->receive.batch;
        if (req->receive.has_ret) {
                if (!return_valid(&req->receive.ret))
                        return -EINVAL;
                return_to_pb(&ret, &req->receive.ret);
                receive.ret = &ret;
        }
        pb->op_case = XNS__REQUEST__OP_RECEIVE;
        pb->receive = &receive;
        return pack_checked(&pb->base, buf, size);
}

static ssize_t request_pack_hello(Xns__Request *pb, const struct xns_request *req, void *buf, size_t size) {
        Xns__Hello hello = XNS__HELLO__INIT;
        Xns__Origin origin = XNS__ORIGIN__INIT;
        size_t host_len = strnlen(req->hello.origin.host, sizeof(req->hello.origin.host));

        hello.version = req->hello.version;
        hello.buffers = req->hello.buffers;
        if (req->hello.has_token)
                hello.token = (ProtobufCBinaryData){ XNS_TOKEN_LEN, (uint8_t *)req->hello.token };
        if (req->hello.has_origin) {
                if (!xns_host_valid(req->hello.origin.host, host_len))
                        return -EINVAL;
                origin.host = (ProtobufCBinaryData){ host_len, (uint8_t *)req->hello.origin.host };
                origin.pid = req->hello.origin.pid;
                origin.uid = req->hello.origin.uid;
                hello.origin = &origin;
        }
        pb->op_case = XNS__REQUEST__OP_HELLO;
        pb->hello = &hello;
        return pack_checked(&pb->base, buf, size);
}

static ssize_t request_pack_gateway(Xns__Request *pb, const struct xns_request *req, void *buf, size_t size) {
        Xns__GatewayAttach attach = XNS__GATEWAY_ATTACH__INIT;
        Xns__GatewayAnswer answer = XNS__GATEWAY_ANSWER__INIT;
        Xns__Sid sid = XNS__SID__INIT;
        ProtobufCBinaryData exports[XNS_EXPORTS_MAX];
        size_t host_len = strnlen(req->gateway_attach.host, sizeof(req->gateway_attach.host));

        if (req->op == XNS_OP_GATEWAY_ANSWER) {
                if (req->gateway_answer.error >= _XNS_ERROR_MAX)
                        return -EINVAL;
                answer.ticket = req->gateway_answer.ticket;
                answer.error = req->gateway_answer.error;
                if (req->gateway_answer.has_sid) {
                        sid_to_pb(&sid, &req->gateway_answer.sid);
                        answer.sid = &sid;
                }
                pb->op_case = XNS__REQUEST__OP_GATEWAY_ANSWER;
                pb->gateway_answer = &answer;
                return pack_checked(&pb->base, buf, size);
        }
        if (!xns_host_valid(req->gateway_attach.host, host_len) || req->gateway_attach.n_exports > XNS_EXPORTS_MAX)
                return -EINVAL;
        for (uint32_t i = 0; i < req->gateway_attach.n_exports; i++) {
                const struct xns_name *n = &req->gateway_attach.exports[i];

                if (n->len == 0 || n->len > XNS_NAME_MAX)
                        return -EINVAL;
                exports[i] = (ProtobufCBinaryData){ n->len, (uint8_t *)n->str };
        }
        attach.host = (ProtobufCBinaryData){ host_len, (uint8_t *)req->gateway_attach.host };
        attach.n_exports = req->gateway_attach.n_exports;
        attach.exports = exports;
        pb->op_case = XNS__REQUEST__OP_GATEWAY_ATTACH;
        pb->gateway_attach = &attach;
        return pack_checked(&pb->base, buf, size);
}

ssize_t xns_request_encode(const struct xns_request *req, void *buf, size_t size) {
        Xns__Request pb = XNS__REQUEST__INIT;
        Xns__CreateServer create = XNS__CREATE_SERVER__INIT;
        Xns__RegisterName reg = XNS__REGISTER_NAME__INIT;
        Xns__RequestConnection rc = XNS__REQUEST_CONNECTION__INIT;
        Xns__Connect connect = XNS__CONNECT__INIT;
        Xns__Sid sid = XNS__SID__INIT;
        Xns__Empty empty = XNS__EMPTY__INIT;
        Xns__Send send = XNS__SEND__INIT;
        Xns__Return ret = XNS__RETURN__INIT;
        Xns__Forward fwd = XNS__FORWARD__INIT;
        Xns__Control control = XNS__CONTROL__INIT;
        Xns__BufKeep keep = XNS__BUF_KEEP__INIT;
        ProtobufCBinaryData names[XNS_CONTROL_NAMES_MAX];

        pb.seq = req->seq;
        switch (req->op) {
        case XNS_OP_HELLO:
                return request_pack_hello(&pb, req, buf, size);
        case XNS_OP_GATEWAY_ATTACH:
        case XNS_OP_GATEWAY_ANSWER:
                return request_pack_gateway(&pb, req, buf, size);
        case XNS_OP_REGISTER_NAME:
                if (req->register_name.name.len > XNS_NAME_MAX)
                        return -EINVAL;
                reg.name = (ProtobufCBinaryData){ req->register_name.name.len,
                                                  (uint8_t *)req->register_name.name.str };
                reg.max_conns = req->register_name.max_conns;
                pb.op_case = XNS__REQUEST__OP_REGISTER_NAME;
                pb.register_name = &reg;
                break;
        case XNS_OP_REQUEST_CONNECTION:
                if (req->request_connection.name.len > XNS_NAME_MAX)
                        return -EINVAL;
                rc.name = (ProtobufCBinaryData){ req->request_connection.name.len,
                                                 (uint8_t *)req->request_connection.name.str };
                rc.wait = req->request_connection.wait;
                pb.op_case = XNS__REQUEST__OP_REQUEST_CONNECTION;
                pb.request_connection = &rc;
                break;
        case XNS_OP_UNREGISTER_SERVER:
        case XNS_OP_DESTROY_SERVER:
                sid_to_pb(&sid, &req->sid);
                pb.op_case = req->op == XNS_OP_DESTROY_SERVER ? XNS__REQUEST__OP_DESTROY_SERVER
                                                              : XNS__REQUEST__OP_UNREGISTER_SERVER;
                pb.destroy_server = &sid; /* same union slot as unregister_server */
                break;
        case XNS_OP_WATCH_SERVER:
                sid_to_pb(&sid, &req->sid);
                pb.op_case = XNS__REQUEST__OP_WATCH_SERVER;
                pb.watch_server = &sid;
                break;
        case XNS_OP_TRUSTED_INIT_DONE:
                pb.op_case = XNS__REQUEST__OP_TRUSTED_INIT_DONE;
                pb.trusted_init_done = &empty;
                break;
        case XNS_OP_CREATE_SERVER:
                if (req->create_server.has_sid) {
                        sid_to_pb(&sid, &req->create_server.sid);
                        create.sid = &sid;
                }
                pb.op_case = XNS__REQUEST__OP_CREATE_SERVER;
                pb.create_server = &create;
                break;
        case XNS_OP_RING:
                pb.op_case = XNS__REQUEST__OP_RING;
                pb.ring = &empty;
                break;
        case XNS_OP_KICK:
                pb.op_case = XNS__REQUEST__OP_KICK;
                pb.kick = &empty;
                break;
        case XNS_OP_CHANNEL:
                pb.op_case = XNS__REQUEST__OP_CHANNEL;
                pb.channel = &empty;
                break;
        case XNS_OP_CHANNEL_BELL:
                pb.op_case = XNS__REQUEST__OP_CHANNEL_BELL;
                pb.channel_bell = &empty;
                break;
        case XNS_OP_GATEWAY_VIEW:
                pb.op_case = XNS__REQUEST__OP_GATEWAY_VIEW;
                pb.gateway_view = &empty;
                break;
        case XNS_OP_CONNECT:
                sid_to_pb(&sid, &req->connect.sid);
                connect.sid = &sid;
                connect.wait = req->connect.wait;
                pb.op_case = XNS__REQUEST__OP_CONNECT;
                pb.connect = &connect;
                break;
        case XNS_OP_DISCONNECT:
                pb.op_case = XNS__REQUEST__OP_DISCONNECT;
                pb.disconnect = req->cid;
                break;
        case XNS_OP_CANCEL:
                pb.op_case = XNS__REQUEST__OP_CANCEL;
                pb.cancel = req->cancel;
                break;
        case XNS_OP_BUF_KEEP:
                keep.buf = req->buf_keep.buf;
                keep.len = req->buf_keep.len;
                keep.kind = req->buf_keep.kind;
                pb.op_case = XNS__REQUEST__OP_BUF_KEEP;
                pb.buf_keep = &keep;
                break;
        case XNS_OP_BUF_FORGET:
                pb.op_case = XNS__REQUEST__OP_BUF_FORGET;
                pb.buf_forget = req->buf_forget;
                break;
        case XNS_OP_SEND:
                if (req->send.kind >= _XNS_KIND_MAX)
                        return -EINVAL;
                send.cid = req->send.cid;
                send.kind = req->send.kind;
                send.id = req->send.id;
                send.a1 = req->send.a[0];
                send.a2 = req->send.a[1];
                send.a3 = req->send.a[2];
                send.a4 = req->send.a[3];
                send.len = req->send.len;
                send.offset = req->send.offset;
                send.valid = req->send.valid;
                send.try_ = req->send.try_;
                send.buf = req->send.buf;
                pb.op_case = XNS__REQUEST__OP_SEND;
                pb.send = &send;
                break;
        case XNS_OP_RECEIVE:
                return request_pack_receive(&pb, req, buf, size);
        case XNS_OP_RETURN:
                if (!return_valid(&req->ret))
                        return -EINVAL;
                return_to_pb(&ret, &req->ret);
                pb.op_case = XNS__REQUEST__OP_RET;
                pb.ret = &ret;
                break;
        case XNS_OP_FORWARD:
                fwd.handle = req->forward.handle;
                fwd.gen = req->forward.gen;
                fwd.cid = req->forward.cid;
                fwd.id = req->forward.id;
                pb.op_case = XNS__REQUEST__OP_FORWARD;
                pb.forward = &fwd;
                break;
        case XNS_OP_CONTROL:
                if (req->control.what == 0 || req->control.what >= _XNS_CONTROL_MAX ||
                    req->control.n_names > XNS_CONTROL_NAMES_MAX)
                        return -EINVAL;
                for (uint32_t i = 0; i < req->control.n_names; i++) {
                        if (req->control.names[i].len > XNS_NAME_MAX)
                                return -EINVAL;
                        names[i] = (ProtobufCBinaryData){ req->control.names[i].len,
                                                          (uint8_t *)req->control.names[i].str };
                }
                control.what = req->control.what;
                control.n_names = req->control.n_names;
                control.names = names;
                control.payloads = req->control.payloads;
                pb.op_case = XNS__REQUEST__OP_CONTROL;
                pb.control = &control;
                break;
        default:
                return -EINVAL;
        }
        return pack_checked(&pb.base, buf, size);
}

static int event_from_pb(struct xns_event *e, const Xns__MonitorEvent *pb) {
        if ((pb->n_a != 0 && pb->n_a != 4) || pb->n_v > 5 || pb->n_v != pb->count ||
            pb->server.len > XNS_NAME_MAX ||
            (pb->host.len > 0 && !xns_host_valid((const char *)pb->host.data, pb->host.len)))
                return -EBADMSG;
        *e = (struct xns_event){
                .time_us = pb->time_us, .pid = pb->pid, .kind = pb->kind, .id = pb->id,
                .len = pb->len, .error = pb->error, .count = pb->count,
                .latency_us = pb->latency_us, .dropped = pb->dropped,
        };
        name_from_pb(&e->server, pb->server);
        if (pb->host.len > 0)
                memcpy(e->host, pb->host.data, pb->host.len);
        if (pb->n_a)
                memcpy(e->a, pb->a, sizeof(e->a));
        if (pb->n_v)
                memcpy(e->v, pb->v, pb->n_v * sizeof(uint32_t));
        return pb->sid ? sid_from_pb(&e->sid, pb->sid) : 0;
}

static void event_to_pb(Xns__MonitorEvent *pb, Xns__Sid *sid, const struct xns_event *e) {
        pb->time_us = e->time_us;
        pb->pid = e->pid;
        pb->server = (ProtobufCBinaryData){ e->server.len, (uint8_t *)e->server.str };
        sid_to_pb(sid, &e->sid);
        pb->sid = sid;
        pb->kind = e->kind;
        pb->id = e->id;
        pb->n_a = 4;
        pb->a = (uint32_t *)e->a;
        pb->len = e->len;
        pb->error = e->error;
        pb->count = e->count;
        pb->n_v = e->count;
        pb->v = (uint32_t *)e->v;
        pb->latency_us = e->latency_us;
        pb->dropped = e->dropped;
        pb->host = (ProtobufCBinaryData){ strnlen(e->host, sizeof(e->host)), (uint8_t *)e->host };
}

static int gateway_event_from_pb(struct xns_gateway_event *e, const Xns__GatewayEvent *pb) {
        if (pb->what == 0 || pb->what >= _XNS_GATEWAY_MAX || pb->name.len > XNS_NAME_MAX)
                return -EBADMSG;
        *e = (struct xns_gateway_event){
                .what = pb->what, .ticket = pb->ticket, .max_conns = pb->max_conns,
                .wait = pb->wait != 0, .pid = pb->pid, .uid = pb->uid,
        };
        name_from_pb(&e->name, pb->name);
        return pb->sid ? sid_from_pb(&e->sid, pb->sid) : 0;
}

static void gateway_event_to_pb(Xns__GatewayEvent *pb, Xns__Sid *sid, const struct xns_gateway_event *e) {
        pb->what = e->what;
        pb->ticket = e->ticket;
        pb->name = (ProtobufCBinaryData){ e->name.len, (uint8_t *)e->name.str };
        sid_to_pb(sid, &e->sid);
        pb->sid = sid;
        pb->max_conns = e->max_conns;
        pb->wait = e->wait;
        pb->pid = e->pid;
        pb->uid = e->uid;
}

#define SCALAR_WORDS 7      /* id, a1..a4, sender_pid, sender_uid: one xns_scalar in Reply.more */

/* Scalars ride in a delivery, or in a frame without a body that continues one. */
static bool more_allowed(enum xns_body body, uint32_t n_more, bool continued) {
        if (n_more > XNS_DELIVERY_MORE_MAX || (continued && n_more == 0))
                return false;
        return n_more == 0 || body == XNS_BODY_DELIVERY || body == XNS_BODY_NONE;
}

static int more_from_pb(struct xns_reply *reply, const Xns__Reply *pb) {
        if (pb->continued > 1 || pb->n_more % SCALAR_WORDS != 0 ||
            !more_allowed(reply->body, (uint32_t)(pb->n_more / SCALAR_WORDS), pb->continued))
                return -EBADMSG;
        reply->continued = pb->continued;
        if (pb->n_more == 0)
                return 0;
        reply->n_more = (uint32_t)(pb->n_more / SCALAR_WORDS);
        for (uint32_t i = 0; i < reply->n_more; i++) {
                const uint32_t *w = pb->more + i * SCALAR_WORDS;

                reply->more[i] = (struct xns_scalar){ .id = w[0], .a = { w[1], w[2], w[3], w[4] },
                                                      .sender_pid = w[5], .sender_uid = w[6] };
        }
        return 0;
}

static int reply_body_from_pb(struct xns_reply *reply, const Xns__Reply *pb) {
        const Xns__Delivery *d;

        switch (pb->body_case) {
        case XNS__REPLY__BODY__NOT_SET:
                reply->body = XNS_BODY_NONE;
                return 0;
        case XNS__REPLY__BODY_TOKEN:
                if (pb->token.len != XNS_TOKEN_LEN)
                        return -EBADMSG;
                reply->body = XNS_BODY_TOKEN;
                memcpy(reply->token, pb->token.data, XNS_TOKEN_LEN);
                return 0;
        case XNS__REPLY__BODY_SID:
                reply->body = XNS_BODY_SID;
                return sid_from_pb(&reply->sid, pb->sid);
        case XNS__REPLY__BODY_CID:
                reply->body = XNS_BODY_CID;
                reply->cid = pb->cid;
                return 0;
        case XNS__REPLY__BODY_DONE:
                reply->body = XNS_BODY_DONE;
                reply->done = pb->done;
                return 0;
        case XNS__REPLY__BODY_DELIVERY:
                d = pb->delivery;
                if (d->kind >= _XNS_KIND_MAX)
                        return -EBADMSG;
                reply->body = XNS_BODY_DELIVERY;
                reply->delivery = (struct xns_delivery){
                        .handle = d->handle, .gen = d->gen, .kind = d->kind, .id = d->id,
                        .a = { d->a1, d->a2, d->a3, d->a4 },
                        .len = d->len, .offset = d->offset, .valid = d->valid,
                        .sender_pid = d->sender_pid, .sender_uid = d->sender_uid,
                        .buf = d->buf, .forget = d->forget,
                };
                return 0;
        case XNS__REPLY__BODY_SCALAR:
                if (pb->scalar->n_v > 5 || pb->scalar->n_v != pb->scalar->count)
                        return -EBADMSG;
                reply->body = XNS_BODY_SCALAR;
                reply->scalar.count = pb->scalar->count;
                if (pb->scalar->n_v > 0)
                        memcpy(reply->scalar.v, pb->scalar->v, pb->scalar->n_v * sizeof(uint32_t));
                return 0;
        case XNS__REPLY__BODY_MEMORY:
                reply->body = XNS_BODY_MEMORY;
                reply->memory.offset = pb->memory->offset;
                reply->memory.valid = pb->memory->valid;
                return 0;
        case XNS__REPLY__BODY_SNAPSHOT:
                reply->body = XNS_BODY_SNAPSHOT;
                reply->snapshot = pb->snapshot;
                return 0;
        case XNS__REPLY__BODY_EVENT:
                reply->body = XNS_BODY_EVENT;
                return event_from_pb(&reply->event, pb->event);
        case XNS__REPLY__BODY_ACK:
                reply->body = XNS_BODY_ACK;
                reply->ack = (struct xns_ack){ .error = pb->ack->error, .cid = pb->ack->cid };
                return 0;
        case XNS__REPLY__BODY_TAG:
                reply->body = XNS_BODY_TAG;
                reply->tag = pb->tag;
                return 0;
        case XNS__REPLY__BODY_GATEWAY:
                reply->body = XNS_BODY_GATEWAY;
                return gateway_event_from_pb(&reply->gateway, pb->gateway);
        default:
                return -EBADMSG;
        }
}

static int reply_from_pb(struct xns_reply *reply, const Xns__Reply *pb) {
        reply->seq = pb->seq;
        reply->error = pb->error;
        if (reply_body_from_pb(reply, pb) < 0)
                return -EBADMSG;
        return more_from_pb(reply, pb);
}


struct fast_reply {
        Xns__Reply reply;
        Xns__Delivery delivery;
        Xns__ScalarReply scalar;
        Xns__MemoryReply memory;
        uint32_t v[5];
        uint32_t more[XNS_DELIVERY_MORE_MAX * SCALAR_WORDS];
};

static int in_delivery(struct pb_in *in, unsigned wire, Xns__Delivery *d) {
        uint32_t *const words[] = { &d->handle, &d->gen, &d->kind, &d->id, &d->a1, &d->a2, &d->a3, &d->a4,
                                    &d->len, &d->offset, &d->valid, &d->sender_pid, &d->sender_uid,
                                    &d->buf, &d->forget };

        return in_sub_words(in, wire, words, ELEMENTSOF(words));
}

static int in_scalar(struct pb_in *in, unsigned wire, Xns__ScalarReply *sc, uint32_t *v) {
        struct pb_in sub;
        unsigned field, w;
        int r;

        r = in_sub(in, wire, &sub);
        while (r == 0 && (r = in_key(&sub, &field, &w)) > 0) {
                if (field == 1) {
                        r = in_fixed32(&sub, w, &sc->count);
                } else if (field == 2) {
                        r = in_packed32(&sub, w, v, 5, &sc->n_v);
                        sc->v = v;
                } else {
                        r = -EAGAIN;
                }
        }
        return r;
}

static int in_memory(struct pb_in *in, unsigned wire, Xns__MemoryReply *m) {
        uint32_t *const words[] = { &m->offset, &m->valid };

        return in_sub_words(in, wire, words, ELEMENTSOF(words));
}

/* One field of a Reply past seq and error: a body, more, or continued. */
static int in_reply_field(struct pb_in *in, unsigned field, unsigned wire, struct fast_reply *f) {
        Xns__Reply *pb = &f->reply;

        if (field == XNS__REPLY__BODY_DELIVERY || field == XNS__REPLY__BODY_SCALAR ||
            field == XNS__REPLY__BODY_MEMORY) {
                if (pb->body_case != XNS__REPLY__BODY__NOT_SET)
                        return -EAGAIN;
                pb->body_case = (Xns__Reply__BodyCase)field;
        }
        switch (field) {
        case XNS__REPLY__BODY_DELIVERY:
                pb->delivery = &f->delivery;
                return in_delivery(in, wire, &f->delivery);
        case XNS__REPLY__BODY_SCALAR:
                pb->scalar = &f->scalar;
                return in_scalar(in, wire, &f->scalar, f->v);
        case XNS__REPLY__BODY_MEMORY:
                pb->memory = &f->memory;
                return in_memory(in, wire, &f->memory);
        case 13:
                pb->more = f->more;
                return in_packed32(in, wire, f->more, ELEMENTSOF(f->more), &pb->n_more);
        case 14:
                return in_fixed32(in, wire, &pb->continued);
        default:
                return -EAGAIN;
        }
}

static int fast_reply_decode(struct xns_reply *reply, const uint8_t *buf, size_t len) {
        struct fast_reply f = {
                .reply = XNS__REPLY__INIT, .delivery = XNS__DELIVERY__INIT,
                .scalar = XNS__SCALAR_REPLY__INIT, .memory = XNS__MEMORY_REPLY__INIT,
        };
        struct pb_in in = { .buf = buf, .len = len };
        unsigned field, wire;
        int r;

        while ((r = in_key(&in, &field, &wire)) > 0) {
                if (field <= 2)
                        r = in_fixed32(&in, wire, field == 1 ? &f.reply.seq : &f.reply.error);
                else
                        r = in_reply_field(&in, field, wire, &f);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        memset(reply, 0, offsetof(struct xns_reply, more));
        reply->continued = false;
        return reply_from_pb(reply, &f.reply) < 0 ? -EBADMSG : 0;
}

int xns_reply_decode(struct xns_reply *reply, const void *buf, size_t len) {
        int r;

        if (len > XNS_FRAME_MAX)
                return -EBADMSG;
        r = fast_reply_decode(reply, buf, len);
        return r == -EAGAIN ? xns_reply_decode_generic(reply, buf, len) : r;
}

/* xns_reply_decode() through protobuf-c alone (fuzz-wire compares). */
int xns_reply_decode_generic(struct xns_reply *reply, const void *buf, size_t len) {
        max_align_t mem[ARENA_BYTES / sizeof(max_align_t)];    /* not zeroed: no need */
        struct arena arena = ARENA_INIT(mem);
        ProtobufCAllocator alloc = ARENA_ALLOCATOR(&arena);
        Xns__Reply *pb;

        if (len > XNS_FRAME_MAX)
                return -EBADMSG;
        pb = xns__reply__unpack(&alloc, len, buf);
        if (!pb)
                return -EBADMSG;
        memset(reply, 0, offsetof(struct xns_reply, more));
        reply->continued = false;
        return reply_from_pb(reply, pb) < 0 ? -EBADMSG : 0;
}

ssize_t xns_reply_encode(const struct xns_reply *reply, void *buf, size_t size) {
        Xns__Reply pb = XNS__REPLY__INIT;
        Xns__Sid sid = XNS__SID__INIT;
        Xns__Delivery d = XNS__DELIVERY__INIT;
        Xns__ScalarReply scalar = XNS__SCALAR_REPLY__INIT;
        Xns__MemoryReply memory = XNS__MEMORY_REPLY__INIT;
        Xns__MonitorEvent event = XNS__MONITOR_EVENT__INIT;
        Xns__Ack ack = XNS__ACK__INIT;
        Xns__GatewayEvent gw = XNS__GATEWAY_EVENT__INIT;
        uint32_t more[XNS_DELIVERY_MORE_MAX * SCALAR_WORDS];

        pb.seq = reply->seq;
        pb.error = reply->error;
        switch (reply->body) {
        case XNS_BODY_NONE:
                break;
        case XNS_BODY_TOKEN:
                pb.body_case = XNS__REPLY__BODY_TOKEN;
                pb.token = (ProtobufCBinaryData){ XNS_TOKEN_LEN, (uint8_t *)reply->token };
                break;
        case XNS_BODY_SID:
                sid_to_pb(&sid, &reply->sid);
                pb.body_case = XNS__REPLY__BODY_SID;
                pb.sid = &sid;
                break;
        case XNS_BODY_CID:
                pb.body_case = XNS__REPLY__BODY_CID;
                pb.cid = reply->cid;
                break;
        case XNS_BODY_DONE:
                pb.body_case = XNS__REPLY__BODY_DONE;
                pb.done = reply->done;
                break;
        case XNS_BODY_DELIVERY:
                d.handle = reply->delivery.handle;
                d.gen = reply->delivery.gen;
                d.kind = reply->delivery.kind;
                d.id = reply->delivery.id;
                d.a1 = reply->delivery.a[0];
                d.a2 = reply->delivery.a[1];
                d.a3 = reply->delivery.a[2];
                d.a4 = reply->delivery.a[3];
                d.len = reply->delivery.len;
                d.offset = reply->delivery.offset;
                d.valid = reply->delivery.valid;
                d.sender_pid = reply->delivery.sender_pid;
                d.sender_uid = reply->delivery.sender_uid;
                d.buf = reply->delivery.buf;
                d.forget = reply->delivery.forget;
                pb.body_case = XNS__REPLY__BODY_DELIVERY;
                pb.delivery = &d;
                break;
        case XNS_BODY_SCALAR:
                if (reply->scalar.count != 1 && reply->scalar.count != 2 && reply->scalar.count != 5)
                        return -EINVAL;
                scalar.count = reply->scalar.count;
                scalar.n_v = reply->scalar.count;
                scalar.v = (uint32_t *)reply->scalar.v;
                pb.body_case = XNS__REPLY__BODY_SCALAR;
                pb.scalar = &scalar;
                break;
        case XNS_BODY_MEMORY:
                memory.offset = reply->memory.offset;
                memory.valid = reply->memory.valid;
                pb.body_case = XNS__REPLY__BODY_MEMORY;
                pb.memory = &memory;
                break;
        case XNS_BODY_SNAPSHOT:
                pb.body_case = XNS__REPLY__BODY_SNAPSHOT;
                pb.snapshot = reply->snapshot;
                break;
        case XNS_BODY_EVENT:
                if (reply->event.count > 5 || reply->event.server.len > XNS_NAME_MAX)
                        return -EINVAL;
                event_to_pb(&event, &sid, &reply->event);
                pb.body_case = XNS__REPLY__BODY_EVENT;
                pb.event = &event;
                break;
        case XNS_BODY_ACK:
                ack.error = reply->ack.error;
                ack.cid = reply->ack.cid;
                pb.body_case = XNS__REPLY__BODY_ACK;
                pb.ack = &ack;
                break;
        case XNS_BODY_TAG:
                pb.body_case = XNS__REPLY__BODY_TAG;
                pb.tag = reply->tag;
                break;
        case XNS_BODY_GATEWAY:
                if (reply->gateway.what == 0 || reply->gateway.what >= _XNS_GATEWAY_MAX ||
                    reply->gateway.name.len > XNS_NAME_MAX)
                        return -EINVAL;
                gateway_event_to_pb(&gw, &sid, &reply->gateway);
                pb.body_case = XNS__REPLY__BODY_GATEWAY;
                pb.gateway = &gw;
                break;
        default:
                return -EINVAL;
        }
        if (!more_allowed(reply->body, reply->n_more, reply->continued))
                return -EINVAL;
        pb.continued = reply->continued;
        if (reply->n_more > 0) {
                for (uint32_t i = 0; i < reply->n_more; i++) {
                        const struct xns_scalar *m = &reply->more[i];
                        uint32_t *w = more + i * SCALAR_WORDS;

                        w[0] = m->id;
                        memcpy(w + 1, m->a, sizeof(m->a));
                        w[5] = m->sender_pid;
                        w[6] = m->sender_uid;
                }
                pb.n_more = reply->n_more * SCALAR_WORDS;
                pb.more = more;
        }
        return pack_checked(&pb.base, buf, size);
}

int xns_frame_send(int sock, const void *buf, size_t len, int fd, bool nonblock) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        struct cmsghdr *c;

        if (fd >= 0) {
                m.msg_control = control.b;
                m.msg_controllen = sizeof(control.b);
                c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        for (;;) {
                if (sendmsg(sock, &m, MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0)) >= 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Closes every descriptor a control message brought; returns how many. */
static size_t cmsg_collect_fds(struct msghdr *m, int *first) {
        size_t count = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (count++ == 0)
                                *first = fd;
                        else
                                safe_close(fd);
                }
        }
        return count;
}

ssize_t xns_frame_recv(int sock, void *buf, size_t size, int *fd, bool nonblock) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(8 * sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1,
                .msg_control = control.b, .msg_controllen = sizeof(control.b),
        };
        ssize_t n;
        size_t nfds;
        int first = -1;

        *fd = -1;
        do
                n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | (nonblock ? MSG_DONTWAIT : 0));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        nfds = cmsg_collect_fds(&m, &first);
        if (nfds > 1 || (m.msg_flags & MSG_CTRUNC)) {
                safe_close(first);
                return -EPROTO;
        }
        if (m.msg_flags & MSG_TRUNC) {
                safe_close(first);
                return -EMSGSIZE;
        }
        if (n == 0) {
                safe_close(first);
                return 0;
        }
        *fd = first;
        return n;
}

bool xns_name_valid(const char *s, size_t len) {
        if (len == 0 || len > XNS_NAME_MAX)
                return false;
        for (size_t i = 0; i < len;) {
                size_t n;

                if (s[i] == '\0')
                        return false;
                n = utf8_sequence_len(s + i, len - i);
                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

bool xns_host_valid(const char *s, size_t len) {
        if (len == 0 || len > XNS_HOST_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_'))
                        return false;
        }
        return true;
}

#define ERROR_NAME(n, name, text) [n] = #name,
static const char *const error_names[] = {
        [XNS_OK] = "OK",
        XOUS_FOREACH_ERROR(ERROR_NAME)
};
#undef ERROR_NAME

uint32_t xns_error_from_errno(int r) {
        switch (r) {
        case 0:
                return XNS_OK;
        case -ENOENT:
                return XNS_ERR_SERVER_NOT_FOUND;
        case -EEXIST:
                return XNS_ERR_SERVER_EXISTS;
        case -EACCES:
                return XNS_ERR_ACCESS_DENIED;
        case -ENOMEM:
        case -ENOSPC:
        case -EDQUOT:
                return XNS_ERR_OUT_OF_MEMORY;
        case -EAGAIN:
                return XNS_ERR_SERVER_QUEUE_FULL;
        case -EINVAL:
                return XNS_ERR_INVALID_ARGUMENT;
        case -EDOM:
                return XNS_ERR_BAD_ALIGNMENT;
        case -EFAULT:
                return XNS_ERR_BAD_ADDRESS;
        case -EPERM:
                return XNS_ERR_SHARE_VIOLATION;
        case -EBUSY:
                return XNS_ERR_MEMORY_IN_USE;
        case -EALREADY:
                return XNS_ERR_DOUBLE_FREE;
        case -EILSEQ:
                return XNS_ERR_INVALID_STRING;
        case -ESHUTDOWN:
                return XNS_ERR_UNAVAILABLE;
        case -ETIMEDOUT:
                return XNS_ERR_TIMEOUT;
        default:
                return XNS_ERR_INTERNAL_ERROR;
        }
}

const char *xns_error_name(uint32_t error) {
        return error < ELEMENTSOF(error_names) ? error_names[error] : NULL;
}

/* --- the producer's side of a ring of posted Scalars ----------------------- */

/* No slot free: xnsd has not taken XNS_RING_SLOTS of those published. */
bool xns_ring_full(const struct xns_ring *r, uint32_t head) {
        return head - __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) >= XNS_RING_SLOTS;
}

/* Scalars published that xnsd has not taken (queued, or failed) yet. */
bool xns_ring_pending(const struct xns_ring *r, uint32_t head) {
        return __atomic_load_n(&r->tail, __ATOMIC_SEQ_CST) != head;
}

/* Asks xnsd for an Ack when it takes from a full ring; false when it took
 * some meanwhile (then no Ack need come). */
bool xns_ring_ask_room(struct xns_ring *r, uint32_t head) {
        __atomic_store_n(&r->want_room, 1, __ATOMIC_SEQ_CST);
        return xns_ring_full(r, head);
}

/* Writes a Scalar into the next slot (there is room) and publishes it. */
void xns_ring_publish(struct xns_ring *r, uint32_t *head, uint32_t cid, uint32_t id, const uint32_t a[4]) {
        r->slot[*head % XNS_RING_SLOTS] = (struct xns_ring_slot){ .cid = cid, .id = id, .a = { a[0], a[1], a[2], a[3] } };
        __atomic_store_n(&r->head, ++*head, __ATOMIC_SEQ_CST);
}

/* xnsd is not looking at the ring: the flag is cleared, and the producer
 * must send XNS_OP_KICK. */
bool xns_ring_take_kick(struct xns_ring *r) {
        return __atomic_load_n(&r->kick, __ATOMIC_SEQ_CST) && __atomic_exchange_n(&r->kick, 0, __ATOMIC_SEQ_CST);
}
