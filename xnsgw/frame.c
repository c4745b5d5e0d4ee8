/* frame.c: checked conversion between cluster frames (proto/cluster.proto) and plain C structs. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cluster.pb-c.h"
#include "frame.h"
#include "macro.h"

/* Everything of a frame but its memory payload: a few dozen bytes really;
 * more than this is malformed. */
#define FRAME_HEAD_MAX 1024

/* The field numbers of the payloads in cluster.proto: the last field of the
 * encoding, where frame_decode() finds them without copying. */
#define CALL_DATA_FIELD 15
#define ANSWER_DATA_FIELD 12
#define ANSWER_QUEUED_FIELD 13
#define ANSWER_DATA_AT_FIELD 14

#define PB_WIRE_VARINT 0
#define PB_WIRE_64BIT 1
#define PB_WIRE_LEN 2
#define PB_WIRE_32BIT 5

static const char *const type_names[_FRAME_TYPE_MAX] = {
        [FRAME_HEARTBEAT] = "hb",
        [FRAME_CALL] = "call",
        [FRAME_ANSWER] = "answer",
        [FRAME_GRANT] = "grant",
        [FRAME_GRANTED] = "granted",
        [FRAME_GONE] = "gone",
        [FRAME_PROBE] = "probe",
        [FRAME_PROBED] = "probed",
};

const char *frame_type_name(enum frame_type type) {
        return (unsigned)type < _FRAME_TYPE_MAX ? type_names[type] : NULL;
}

int frame_type_from_name(const char *s, enum frame_type *type) {
        for (unsigned t = 0; t < _FRAME_TYPE_MAX; t++)
                if (s && !strcmp(s, type_names[t])) {
                        *type = (enum frame_type)t;
                        return 0;
                }
        return -EINVAL;
}

static bool host_bytes_valid(const uint8_t *s, size_t len) {
        if (len < 1 || len > FRAME_HOST_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                uint8_t c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

bool frame_host_valid(const char *s) {
        return s && host_bytes_valid((const uint8_t *)s, strnlen(s, FRAME_HOST_MAX + 1));
}

/* --- checks shared by both directions: the encoder refuses what the
 * decoder would reject ------------------------------------------------- */

static bool payload_len_valid(size_t len) {
        return len % XNS_PAGE_SIZE == 0 && len <= FRAME_DATA_MAX;
}

static bool call_valid(const struct frame_call *c) {
        if (c->kind >= _XNS_KIND_MAX)
                return false;
        if (!xns_kind_is_memory(c->kind))
                return c->data_len == 0;
        /* whole pages, at least one (as xnsd's route.c wants them) */
        return c->len > 0 && payload_len_valid(c->len) && c->data_len == c->len;
}

static bool answer_valid(const struct frame_answer *a) {
        if (a->count != 0 && a->count != 1 && a->count != 2 && a->count != 5)
                return false;
        if (a->n_queued > FRAME_QUEUED_MAX)
                return false;
        for (unsigned i = a->count; i < 5; i++)
                if (a->v[i] != 0)
                        return false;
        return payload_len_valid(a->data_len) && a->data_at % XNS_PAGE_SIZE == 0 &&
               a->data_at <= FRAME_DATA_MAX - a->data_len;
}

static bool grant_valid(const struct frame_grant *g) {
        return g->name.len == 0 || (g->name.len <= XNS_NAME_MAX && xns_name_valid(g->name.str, g->name.len));
}

static bool frame_valid(const struct frame *f) {
        switch (f->type) {
        case FRAME_HEARTBEAT:
                return frame_host_valid(f->hb.host);
        case FRAME_CALL:
                return call_valid(&f->call);
        case FRAME_ANSWER:
                return answer_valid(&f->answer);
        case FRAME_GRANT:
                return grant_valid(&f->grant);
        case FRAME_GRANTED:
        case FRAME_GONE:
        case FRAME_PROBED:
                return true;
        case FRAME_PROBE:
                return f->probe.call != 0 || f->probe.resync;
        default:
                return false;
        }
}

/* --- encoding ------------------------------------------------------------ */

static void sid_to_pb(Xnsc__Sid *pb, const struct xns_sid *sid) {
        pb->w0 = sid->w[0];
        pb->w1 = sid->w[1];
        pb->w2 = sid->w[2];
        pb->w3 = sid->w[3];
}

static size_t varint_put(uint8_t *p, uint64_t v) {
        size_t n = 0;

        do {
                p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
        return n;
}

/* Packs msg into a malloc'd buffer. */
static int pack_message(const ProtobufCMessage *msg, uint8_t **out, size_t *len) {
        size_t head = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf;

        if (head > FRAME_HEAD_MAX)
                return -EMSGSIZE;
        buf = malloc(head ?: 1);
        if (!buf)
                return -ENOMEM;
        *len = protobuf_c_message_pack(msg, buf);
        *out = buf;
        return 0;
}

/* --- calls and answers, written and read directly ------------------------
 *
 * Calls and answers are nearly all the traffic between gateways, and
 * protobuf-c's generic packing and parsing took a quarter of a gateway's
 * CPU per Scalar. These write exactly the bytes protobuf-c writes for them
 * (fields in order, zeros left out, the queue packed, the SID always
 * there, the payload last) and read that shape back. Whatever else
 * arrives goes to protobuf-c (frame_decode_generic()), so what a frame
 * decodes to never depends on the path: fuzz-frame holds the two to the
 * same verdict and the same fields for any bytes. */

#define CALL_HEAD_BOUND 128             /* keys are one byte: 2*9 + 22 + 11*5 */
#define ANSWER_HEAD_BOUND (64 + 3 + 8 * FRAME_QUEUED_MAX)
#define DATA_KEY_BOUND 11               /* the payload's key and length */

struct pb_out {
        uint8_t *p;
        size_t n;
};

static void put_key(struct pb_out *o, unsigned field, unsigned wire) {
        o->p[o->n++] = (uint8_t)(field << 3 | wire);
}

static void put_fixed32(struct pb_out *o, unsigned field, uint32_t v) {
        if (v == 0)
                return;
        put_key(o, field, PB_WIRE_32BIT);
        v = htole32(v);
        memcpy(o->p + o->n, &v, 4);
        o->n += 4;
}

static void put_fixed64(struct pb_out *o, unsigned field, uint64_t v) {
        if (v == 0)
                return;
        put_key(o, field, PB_WIRE_64BIT);
        v = htole64(v);
        memcpy(o->p + o->n, &v, 8);
        o->n += 8;
}

static void put_sid(struct pb_out *o, unsigned field, const struct xns_sid *sid) {
        size_t at;

        put_key(o, field, PB_WIRE_LEN);
        at = o->n++;
        for (unsigned i = 0; i < 4; i++)
                put_fixed32(o, i + 1, sid->w[i]);
        o->p[at] = (uint8_t)(o->n - at - 1);   /* at most 20: one byte */
}

/* A buffer for a head of at most head_bound bytes and the payload. */
static int out_new(struct pb_out *o, size_t head_bound, size_t data_len) {
        o->p = malloc(head_bound + DATA_KEY_BOUND + data_len);
        o->n = 0;
        return o->p ? 0 : -ENOMEM;
}

static void put_data_and_take(struct pb_out *o, unsigned field, const uint8_t *data, size_t data_len,
                              uint8_t **out, size_t *len) {
        if (data_len > 0) {
                put_key(o, field, PB_WIRE_LEN);
                o->n += varint_put(o->p + o->n, data_len);
                memcpy(o->p + o->n, data, data_len);
                o->n += data_len;
        }
        *out = o->p;
        *len = o->n;
}

static int encode_call(const struct frame_call *c, uint8_t **out, size_t *len) {
        const uint32_t words[] = { c->pid, c->uid, c->kind, c->id, c->a[0], c->a[1],
                                   c->a[2], c->a[3], c->len, c->offset, c->valid };
        struct pb_out o;
        int r;

        r = out_new(&o, CALL_HEAD_BOUND, c->data_len);
        if (r < 0)
                return r;
        put_fixed64(&o, 1, c->epoch);
        put_fixed64(&o, 2, c->call);
        put_sid(&o, 3, &c->sid);
        for (unsigned i = 0; i < ELEMENTSOF(words); i++)
                put_fixed32(&o, 4 + i, words[i]);
        put_data_and_take(&o, CALL_DATA_FIELD, c->data, c->data_len, out, len);
        return 0;
}

static int encode_answer(const struct frame_answer *a, uint8_t **out, size_t *len) {
        const uint32_t words[] = { a->error, a->count, a->v[0], a->v[1], a->v[2], a->v[3], a->v[4],
                                   a->offset, a->valid };
        struct pb_out o;
        int r;

        r = out_new(&o, ANSWER_HEAD_BOUND, a->data_len);
        if (r < 0)
                return r;
        put_fixed64(&o, 1, a->epoch);
        put_fixed64(&o, 2, a->call);
        for (unsigned i = 0; i < ELEMENTSOF(words); i++)
                put_fixed32(&o, 3 + i, words[i]);
        if (a->n_queued > 0) {
                put_key(&o, ANSWER_QUEUED_FIELD, PB_WIRE_LEN);
                o.n += varint_put(o.p + o.n, 8 * a->n_queued);
                for (uint32_t i = 0; i < a->n_queued; i++) {
                        uint64_t v = htole64(a->queued[i]);

                        memcpy(o.p + o.n, &v, 8);
                        o.n += 8;
                }
        }
        put_fixed32(&o, ANSWER_DATA_AT_FIELD, a->data_at);
        put_data_and_take(&o, ANSWER_DATA_FIELD, a->data, a->data_len, out, len);
        return 0;
}

static int encode_small(const struct frame *f, uint8_t **out, size_t *len) {
        Xnsc__Heartbeat hb = XNSC__HEARTBEAT__INIT;
        Xnsc__Grant grant = XNSC__GRANT__INIT;
        Xnsc__Granted granted = XNSC__GRANTED__INIT;
        Xnsc__Gone gone = XNSC__GONE__INIT;
        Xnsc__Probe probe = XNSC__PROBE__INIT;
        Xnsc__Probed probed = XNSC__PROBED__INIT;
        Xnsc__Sid sid = XNSC__SID__INIT;

        switch (f->type) {
        case FRAME_HEARTBEAT:
                hb.host = (ProtobufCBinaryData){ strlen(f->hb.host), (uint8_t *)f->hb.host };
                hb.epoch = f->hb.epoch;
                hb.tag = f->hb.tag;
                return pack_message(&hb.base, out, len);
        case FRAME_GRANT:
                sid_to_pb(&sid, &f->grant.sid);
                grant.call = f->grant.call;
                grant.name = (ProtobufCBinaryData){ f->grant.name.len, (uint8_t *)f->grant.name.str };
                grant.sid = &sid;
                grant.pid = f->grant.pid;
                grant.uid = f->grant.uid;
                return pack_message(&grant.base, out, len);
        case FRAME_GRANTED:
                sid_to_pb(&sid, &f->granted.sid);
                granted.call = f->granted.call;
                granted.error = f->granted.error;
                granted.sid = &sid;
                return pack_message(&granted.base, out, len);
        case FRAME_GONE:
                sid_to_pb(&sid, &f->gone.sid);
                gone.pid = f->gone.pid;
                gone.sid = &sid;
                return pack_message(&gone.base, out, len);
        case FRAME_PROBE:
                probe.epoch = f->probe.epoch;
                probe.call = f->probe.call;
                probe.resync = f->probe.resync;
                return pack_message(&probe.base, out, len);
        case FRAME_PROBED:
                probed.epoch = f->probed.epoch;
                probed.call = f->probed.call;
                probed.known = f->probed.known;
                return pack_message(&probed.base, out, len);
        default:
                return -EINVAL;
        }
}

/*
 * frame_encode() - the bytes of a frame, as frame_decode() takes them.
 *
 * A frame the decoder would reject is refused with -EINVAL. The memory
 * payload goes last, as one length-delimited field.
 */
int frame_encode(const struct frame *f, uint8_t **out, size_t *len) {
        if (!frame_valid(f))
                return -EINVAL;
        switch (f->type) {
        case FRAME_CALL:
                return encode_call(&f->call, out, len);
        case FRAME_ANSWER:
                return encode_answer(&f->answer, out, len);
        default:
                return encode_small(f, out, len);
        }
}

/* --- decoding ------------------------------------------------------------ */

/* protobuf-c allocates from an arena (util/arena.h) while decoding a
 * frame's head, never from the heap. A head of FRAME_HEAD_MAX bytes needs
 * far less; one that needs more (many unknown fields, which protobuf-c
 * keeps) is refused as malformed: our gateways send none. */
#define ARENA_BYTES 8192

static int varint_get(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v) {
        uint64_t r = 0;

        for (unsigned shift = 0; shift < 64; shift += 7) {
                uint8_t b;

                if (*pos >= len)
                        return -EBADMSG;
                b = buf[(*pos)++];
                r |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *v = r;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* Skips the value of one field of wire type wt at *pos. */
static int field_skip(const uint8_t *buf, size_t len, size_t *pos, unsigned wt) {
        uint64_t v;
        int r;

        switch (wt) {
        case PB_WIRE_VARINT:
                return varint_get(buf, len, pos, &v);
        case PB_WIRE_64BIT:
        case PB_WIRE_32BIT:
                v = wt == PB_WIRE_64BIT ? 8 : 4;
                break;
        case PB_WIRE_LEN:
                r = varint_get(buf, len, pos, &v);
                if (r < 0)
                        return r;
                break;
        default:
                return -EBADMSG;
        }
        if (v > len - *pos)
                return -EBADMSG;
        *pos += v;
        return 0;
}

/*
 * Splits buf into the head (every field before the payload) and the payload
 * (field data_field, which may appear once and only as the last field). An
 * encoding without the payload is all head. Walks the top-level fields only;
 * protobuf-c then checks the head thoroughly.
 */
static int split_payload(const uint8_t *buf, size_t len, unsigned data_field, size_t *head_len,
                         const uint8_t **data, size_t *data_len) {
        size_t pos = 0;

        *head_len = len;
        *data = NULL;
        *data_len = 0;
        while (pos < len) {
                size_t start = pos;
                uint64_t key, n;
                int r;

                r = varint_get(buf, len, &pos, &key);
                if (r < 0 || key >> 3 == 0 || key >> 3 > UINT32_MAX)
                        return -EBADMSG;
                if (key >> 3 != data_field) {
                        r = field_skip(buf, len, &pos, key & 7);
                        if (r < 0)
                                return r;
                        continue;
                }
                if ((key & 7) != PB_WIRE_LEN || varint_get(buf, len, &pos, &n) < 0 || n != len - pos)
                        return -EBADMSG;
                *head_len = start;
                *data = buf + pos;
                *data_len = (size_t)n;
                return 0;
        }
        return 0;
}

static int sid_from_pb(struct xns_sid *sid, const Xnsc__Sid *pb) {
        if (!pb)
                return -EBADMSG;
        *sid = (struct xns_sid){ { pb->w0, pb->w1, pb->w2, pb->w3 } };
        return 0;
}

static int host_from_pb(char host[FRAME_HOST_MAX + 1], ProtobufCBinaryData b) {
        if (!host_bytes_valid(b.data, b.len))
                return -EBADMSG;
        memcpy(host, b.data, b.len);
        host[b.len] = 0;
        return 0;
}

static int decode_heartbeat(ProtobufCAllocator *alloc, struct frame_heartbeat *hb, const uint8_t *buf, size_t len) {
        Xnsc__Heartbeat *pb;

        pb = xnsc__heartbeat__unpack(alloc, len, buf);
        if (!pb)
                return -EBADMSG;
        hb->epoch = pb->epoch;
        hb->tag = pb->tag;
        return host_from_pb(hb->host, pb->host);
}

static int decode_call(ProtobufCAllocator *alloc, struct frame_call *c, const uint8_t *buf, size_t len, const uint8_t *data, size_t data_len) {
        Xnsc__Call *pb;

        pb = xnsc__call__unpack(alloc, len, buf);
        if (!pb)
                return -EBADMSG;
        *c = (struct frame_call){
                .epoch = pb->epoch, .call = pb->call, .pid = pb->pid, .uid = pb->uid,
                .kind = pb->kind, .id = pb->id, .a = { pb->a1, pb->a2, pb->a3, pb->a4 },
                .len = pb->len, .offset = pb->offset, .valid = pb->valid,
                .data = data, .data_len = data_len,
        };
        return sid_from_pb(&c->sid, pb->sid);
}

static int decode_answer(ProtobufCAllocator *alloc, struct frame_answer *a, const uint8_t *buf, size_t len, const uint8_t *data,
                         size_t data_len) {
        Xnsc__Answer *pb;

        pb = xnsc__answer__unpack(alloc, len, buf);
        if (!pb || pb->n_queued > FRAME_QUEUED_MAX)
                return -EBADMSG;
        *a = (struct frame_answer){
                .epoch = pb->epoch, .call = pb->call, .error = pb->error, .count = pb->count,
                .v = { pb->v1, pb->v2, pb->v3, pb->v4, pb->v5 },
                .offset = pb->offset, .valid = pb->valid, .data = data, .data_len = data_len,
                .data_at = pb->data_at, .n_queued = (uint32_t)pb->n_queued,
        };
        if (pb->n_queued > 0)
                memcpy(a->queued, pb->queued, pb->n_queued * sizeof(a->queued[0]));
        return 0;
}

static int decode_grant(ProtobufCAllocator *alloc, struct frame_grant *g, const uint8_t *buf, size_t len) {
        Xnsc__Grant *pb;

        pb = xnsc__grant__unpack(alloc, len, buf);
        if (!pb || pb->name.len > XNS_NAME_MAX)
                return -EBADMSG;
        *g = (struct frame_grant){ .call = pb->call, .pid = pb->pid, .uid = pb->uid };
        g->name.len = pb->name.len;
        if (pb->name.len > 0)
                memcpy(g->name.str, pb->name.data, pb->name.len);
        return sid_from_pb(&g->sid, pb->sid);
}

static int decode_granted(ProtobufCAllocator *alloc, struct frame_granted *g, const uint8_t *buf, size_t len) {
        Xnsc__Granted *pb;

        pb = xnsc__granted__unpack(alloc, len, buf);
        if (!pb)
                return -EBADMSG;
        *g = (struct frame_granted){ .call = pb->call, .error = pb->error };
        return sid_from_pb(&g->sid, pb->sid);
}

static int decode_gone(ProtobufCAllocator *alloc, struct frame_gone *g, const uint8_t *buf, size_t len) {
        Xnsc__Gone *pb;

        pb = xnsc__gone__unpack(alloc, len, buf);
        if (!pb)
                return -EBADMSG;
        g->pid = pb->pid;
        return sid_from_pb(&g->sid, pb->sid);
}

static int decode_probe(ProtobufCAllocator *alloc, struct frame *f, const uint8_t *buf, size_t len) {

        if (f->type == FRAME_PROBE) {
                Xnsc__Probe *pb = xnsc__probe__unpack(alloc, len, buf);

                if (!pb || pb->resync > 1)
                        return -EBADMSG;
                f->probe = (struct frame_probe){ .epoch = pb->epoch, .call = pb->call, .resync = pb->resync };
        } else {
                Xnsc__Probed *pb = xnsc__probed__unpack(alloc, len, buf);

                if (!pb || pb->known > 1)
                        return -EBADMSG;
                f->probed = (struct frame_probed){ .epoch = pb->epoch, .call = pb->call, .known = pb->known };
        }
        return 0;
}

static unsigned payload_field(enum frame_type type) {
        return type == FRAME_CALL ? CALL_DATA_FIELD : type == FRAME_ANSWER ? ANSWER_DATA_FIELD : 0;
}

static int decode_head(ProtobufCAllocator *alloc, struct frame *f, const uint8_t *head, size_t head_len,
                       const uint8_t *data, size_t data_len) {
        switch (f->type) {
        case FRAME_HEARTBEAT:
                return decode_heartbeat(alloc, &f->hb, head, head_len);
        case FRAME_CALL:
                return decode_call(alloc, &f->call, head, head_len, data, data_len);
        case FRAME_ANSWER:
                return decode_answer(alloc, &f->answer, head, head_len, data, data_len);
        case FRAME_GRANT:
                return decode_grant(alloc, &f->grant, head, head_len);
        case FRAME_GRANTED:
                return decode_granted(alloc, &f->granted, head, head_len);
        case FRAME_GONE:
                return decode_gone(alloc, &f->gone, head, head_len);
        case FRAME_PROBE:
        case FRAME_PROBED:
                return decode_probe(alloc, f, head, head_len);
        default:
                return -EBADMSG;
        }
}

/* protobuf-c's allocator over arena a. */
#define ARENA_ALLOCATOR(a) { .alloc = arena_alloc, .free = arena_free, .allocator_data = (a) }

/*
 * frame_decode_generic() - frame_decode() through protobuf-c alone.
 *
 * The payload of a call or an answer is not copied: f's data points into
 * buf. Everything else goes through protobuf-c from a bounded arena, and
 * the result must pass the same checks frame_encode() makes.
 */
int frame_decode_generic(struct frame *f, enum frame_type type, const uint8_t *buf, size_t len) {
        max_align_t mem[ARENA_BYTES / sizeof(max_align_t)];
        struct arena arena = ARENA_INIT(mem);
        ProtobufCAllocator alloc = ARENA_ALLOCATOR(&arena);
        const uint8_t *data;
        size_t head_len, data_len;
        int r;

        if ((unsigned)type >= _FRAME_TYPE_MAX || (!buf && len > 0))
                return -EBADMSG;
        /* protobuf-c parses a buffer of NULL as empty, but wants a pointer */
        if (!buf)
                buf = (const uint8_t *)"";
        /* Types without a payload pass field 0, which no field can be: all head. */
        r = split_payload(buf, len, payload_field(type), &head_len, &data, &data_len);
        if (r < 0 || head_len > FRAME_HEAD_MAX)
                return -EBADMSG;
        memset(f, 0, sizeof(*f));
        f->type = type;
        r = decode_head(&alloc, f, buf, head_len, data, data_len);
        if (r < 0 || !frame_valid(f))
                return -EBADMSG;
        return 0;
}

/* Reading what encode_call() and encode_answer() write. Each returns
 * -EAGAIN for anything else, which protobuf-c then judges: a key of more
 * than one byte, a field twice, an unknown field or wire type, a SID
 * missing, a queue not packed or too long, bytes after the payload. */

struct pb_in {
        const uint8_t *buf;
        size_t len, pos;
        uint32_t seen;                  /* a bit per field number read */
};

/* The next field's number and wire type; 0 at the end. */
static int in_key(struct pb_in *in, unsigned *field, unsigned *wire) {
        uint8_t key;

        if (in->pos == in->len)
                return 0;
        key = in->buf[in->pos++];
        *field = key >> 3;
        *wire = key & 7;
        if (key & 0x80 || *field == 0 || in->seen & 1u << *field)
                return -EAGAIN;
        in->seen |= 1u << *field;
        return 1;
}

static int in_fixed(struct pb_in *in, unsigned wire, void *v, size_t size) {
        if (wire != (size == 4 ? PB_WIRE_32BIT : PB_WIRE_64BIT) || in->len - in->pos < size)
                return -EAGAIN;
        memcpy(v, in->buf + in->pos, size);
        in->pos += size;
        return 0;
}

static int in_fixed32(struct pb_in *in, unsigned wire, uint32_t *v) {
        int r = in_fixed(in, wire, v, 4);

        if (r == 0)
                *v = le32toh(*v);
        return r;
}

static int in_fixed64(struct pb_in *in, unsigned wire, uint64_t *v) {
        int r = in_fixed(in, wire, v, 8);

        if (r == 0)
                *v = le64toh(*v);
        return r;
}

/* A length-delimited field's bytes: at most max of them, or to the end.
 * Inside the head a length takes at most 5 bytes, as protobuf-c reads it
 * (frame_decode_generic() reads the payload's, to the end, as here). */
static int in_bytes(struct pb_in *in, unsigned wire, size_t max, bool to_end, const uint8_t **p, size_t *n) {
        size_t start = in->pos;
        uint64_t v;

        if (wire != PB_WIRE_LEN || varint_get(in->buf, in->len, &in->pos, &v) < 0 ||
            (!to_end && in->pos - start > 5) || v > in->len - in->pos || v > max ||
            (to_end && v != in->len - in->pos))
                return -EAGAIN;
        *p = in->buf + in->pos;
        *n = (size_t)v;
        in->pos += (size_t)v;
        return 0;
}

static int in_sid(struct pb_in *in, unsigned wire, struct xns_sid *sid) {
        struct pb_in sub = { 0 };
        unsigned field, w;
        int r;

        r = in_bytes(in, wire, 20, false, &sub.buf, &sub.len);
        while (r == 0 && (r = in_key(&sub, &field, &w)) > 0)
                r = field <= 4 ? in_fixed32(&sub, w, &sid->w[field - 1]) : -EAGAIN;
        return r;
}

/* The payload: the last field, up to the end. */
static int in_data(struct pb_in *in, unsigned wire, const uint8_t **data, size_t *data_len) {
        if (in->pos - 1 > FRAME_HEAD_MAX)
                return -EAGAIN;
        return in_bytes(in, wire, SIZE_MAX, true, data, data_len);
}

static int fast_call(struct frame_call *c, const uint8_t *buf, size_t len) {
        uint32_t *const words[] = { &c->pid, &c->uid, &c->kind, &c->id, &c->a[0], &c->a[1],
                                    &c->a[2], &c->a[3], &c->len, &c->offset, &c->valid };
        struct pb_in in = { .buf = buf, .len = len };
        unsigned field, wire;
        int r;

        while ((r = in_key(&in, &field, &wire)) > 0) {
                if (field == 1 || field == 2)
                        r = in_fixed64(&in, wire, field == 1 ? &c->epoch : &c->call);
                else if (field == 3)
                        r = in_sid(&in, wire, &c->sid);
                else if (field >= 4 && field < 4 + ELEMENTSOF(words))
                        r = in_fixed32(&in, wire, words[field - 4]);
                else if (field == CALL_DATA_FIELD)
                        r = in_data(&in, wire, &c->data, &c->data_len);
                else
                        r = -EAGAIN;
                if (r < 0)
                        return r;
        }
        return r < 0 ? r : (in.seen & 1u << 3) ? 0 : -EAGAIN;
}

static int in_queued(struct pb_in *in, unsigned wire, struct frame_answer *a) {
        const uint8_t *p;
        size_t n;
        int r;

        r = in_bytes(in, wire, 8 * FRAME_QUEUED_MAX, false, &p, &n);
        if (r < 0 || n % 8)
                return -EAGAIN;
        a->n_queued = (uint32_t)(n / 8);
        for (uint32_t i = 0; i < a->n_queued; i++) {
                memcpy(&a->queued[i], p + 8 * i, 8);
                a->queued[i] = le64toh(a->queued[i]);
        }
        return 0;
}

static int fast_answer(struct frame_answer *a, const uint8_t *buf, size_t len) {
        uint32_t *const words[] = { &a->error, &a->count, &a->v[0], &a->v[1], &a->v[2], &a->v[3],
                                    &a->v[4], &a->offset, &a->valid };
        struct pb_in in = { .buf = buf, .len = len };
        unsigned field, wire;
        int r;

        while ((r = in_key(&in, &field, &wire)) > 0) {
                if (field == 1 || field == 2)
                        r = in_fixed64(&in, wire, field == 1 ? &a->epoch : &a->call);
                else if (field >= 3 && field < 3 + ELEMENTSOF(words))
                        r = in_fixed32(&in, wire, words[field - 3]);
                else if (field == ANSWER_QUEUED_FIELD)
                        r = in_queued(&in, wire, a);
                else if (field == ANSWER_DATA_AT_FIELD)
                        r = in_fixed32(&in, wire, &a->data_at);
                else if (field == ANSWER_DATA_FIELD)
                        r = in_data(&in, wire, &a->data, &a->data_len);
                else
                        r = -EAGAIN;
                if (r < 0)
                        return r;
        }
        return r;
}

/*
 * frame_decode() - parse untrusted bytes as a frame of the given type.
 *
 * As frame_decode_generic(), which it is for every type but calls and
 * answers in the shape gateways send them (see above).
 */
int frame_decode(struct frame *f, enum frame_type type, const uint8_t *buf, size_t len) {
        int r = -EAGAIN;

        if (buf && (type == FRAME_CALL || type == FRAME_ANSWER)) {
                memset(f, 0, type == FRAME_CALL ? sizeof(f->call) + offsetof(struct frame, call) : sizeof(*f));
                f->type = type;
                r = type == FRAME_CALL ? fast_call(&f->call, buf, len) : fast_answer(&f->answer, buf, len);
        }
        if (r == -EAGAIN)
                return frame_decode_generic(f, type, buf, len);
        return frame_valid(f) ? 0 : -EBADMSG;
}

/* --- registry values ----------------------------------------------------- */

int frame_name_entry_encode(const struct frame_name_entry *e, uint8_t **out, size_t *len) {
        Xnsc__NameEntry pb = XNSC__NAME_ENTRY__INIT;
        Xnsc__Sid sid = XNSC__SID__INIT;

        if (!frame_host_valid(e->host))
                return -EINVAL;
        sid_to_pb(&sid, &e->sid);
        pb.host = (ProtobufCBinaryData){ strlen(e->host), (uint8_t *)e->host };
        pb.sid = &sid;
        pb.max_conns = e->max_conns;
        pb.epoch = e->epoch;
        return pack_message(&pb.base, out, len);
}

int frame_name_entry_decode(struct frame_name_entry *e, const uint8_t *buf, size_t len) {
        max_align_t mem[ARENA_BYTES / sizeof(max_align_t)];
        struct arena arena = ARENA_INIT(mem);
        ProtobufCAllocator alloc = ARENA_ALLOCATOR(&arena);
        Xnsc__NameEntry *pb;

        if (len > FRAME_HEAD_MAX || (!buf && len > 0))
                return -EBADMSG;
        pb = xnsc__name_entry__unpack(&alloc, len, buf ? buf : (const uint8_t *)"");
        if (!pb)
                return -EBADMSG;
        memset(e, 0, sizeof(*e));
        e->max_conns = pb->max_conns;
        e->epoch = pb->epoch;
        if (host_from_pb(e->host, pb->host) < 0)
                return -EBADMSG;
        return sid_from_pb(&e->sid, pb->sid);
}
