/* frame.c: checked conversion between cluster frames (proto/cluster.proto) and plain C structs. */
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
        return payload_len_valid(a->data_len);
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

/* Packs msg, then the payload as field data_field behind it: a malloc'd buffer. */
static int pack_with_data(const ProtobufCMessage *msg, unsigned data_field, const uint8_t *data, size_t data_len,
                          uint8_t **out, size_t *len) {
        size_t head = protobuf_c_message_get_packed_size(msg);
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        if (head > FRAME_HEAD_MAX)
                return -EMSGSIZE;
        buf = malloc(head + 20 + data_len);
        if (!buf)
                return -ENOMEM;
        n = protobuf_c_message_pack(msg, buf);
        if (data_len > 0) {
                n += varint_put(buf + n, (uint64_t)data_field << 3 | PB_WIRE_LEN);
                n += varint_put(buf + n, data_len);
                memcpy(buf + n, data, data_len);
                n += data_len;
        }
        *out = TAKE_PTR(buf);
        *len = n;
        return 0;
}

static int encode_call(const struct frame_call *c, uint8_t **out, size_t *len) {
        Xnsc__Call pb = XNSC__CALL__INIT;
        Xnsc__Sid sid = XNSC__SID__INIT;

        sid_to_pb(&sid, &c->sid);
        pb.epoch = c->epoch;
        pb.call = c->call;
        pb.sid = &sid;
        pb.pid = c->pid;
        pb.uid = c->uid;
        pb.kind = c->kind;
        pb.id = c->id;
        pb.a1 = c->a[0];
        pb.a2 = c->a[1];
        pb.a3 = c->a[2];
        pb.a4 = c->a[3];
        pb.len = c->len;
        pb.offset = c->offset;
        pb.valid = c->valid;
        return pack_with_data(&pb.base, CALL_DATA_FIELD, c->data, c->data_len, out, len);
}

static int encode_answer(const struct frame_answer *a, uint8_t **out, size_t *len) {
        Xnsc__Answer pb = XNSC__ANSWER__INIT;

        pb.epoch = a->epoch;
        pb.call = a->call;
        pb.error = a->error;
        pb.count = a->count;
        pb.v1 = a->v[0];
        pb.v2 = a->v[1];
        pb.v3 = a->v[2];
        pb.v4 = a->v[3];
        pb.v5 = a->v[4];
        pb.offset = a->offset;
        pb.valid = a->valid;
        pb.n_queued = a->n_queued;
        pb.queued = (uint64_t *)a->queued;
        return pack_with_data(&pb.base, ANSWER_DATA_FIELD, a->data, a->data_len, out, len);
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
                return pack_with_data(&hb.base, 0, NULL, 0, out, len);
        case FRAME_GRANT:
                sid_to_pb(&sid, &f->grant.sid);
                grant.call = f->grant.call;
                grant.name = (ProtobufCBinaryData){ f->grant.name.len, (uint8_t *)f->grant.name.str };
                grant.sid = &sid;
                grant.pid = f->grant.pid;
                grant.uid = f->grant.uid;
                return pack_with_data(&grant.base, 0, NULL, 0, out, len);
        case FRAME_GRANTED:
                sid_to_pb(&sid, &f->granted.sid);
                granted.call = f->granted.call;
                granted.error = f->granted.error;
                granted.sid = &sid;
                return pack_with_data(&granted.base, 0, NULL, 0, out, len);
        case FRAME_GONE:
                sid_to_pb(&sid, &f->gone.sid);
                gone.pid = f->gone.pid;
                gone.sid = &sid;
                return pack_with_data(&gone.base, 0, NULL, 0, out, len);
        case FRAME_PROBE:
                probe.epoch = f->probe.epoch;
                probe.call = f->probe.call;
                probe.resync = f->probe.resync;
                return pack_with_data(&probe.base, 0, NULL, 0, out, len);
        case FRAME_PROBED:
                probed.epoch = f->probed.epoch;
                probed.call = f->probed.call;
                probed.known = f->probed.known;
                return pack_with_data(&probed.base, 0, NULL, 0, out, len);
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
                .n_queued = (uint32_t)pb->n_queued,
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

/*
 * frame_decode() - parse untrusted bytes as a frame of the given type.
 *
 * The payload of a call or an answer is not copied: f's data points into
 * buf. Everything else goes through protobuf-c from a bounded arena, and
 * the result must pass the same checks frame_encode() makes.
 */
/* protobuf-c's allocator over arena a. */
#define ARENA_ALLOCATOR(a) { .alloc = arena_alloc, .free = arena_free, .allocator_data = (a) }

int frame_decode(struct frame *f, enum frame_type type, const uint8_t *buf, size_t len) {
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
        return pack_with_data(&pb.base, 0, NULL, 0, out, len);
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
