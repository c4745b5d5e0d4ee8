/* fuzz-frame.c: libFuzzer target for the frames gateways send each other
 * (xnsgw/frame.c), every byte of which comes from the network. Byte 0 of
 * the input picks what the rest is, modulo FUZZ_TYPES: a frame of that
 * enum frame_type, or at _FRAME_TYPE_MAX a registry value (NameEntry).
 * Whatever decodes must encode again, decode once more to the same fields,
 * and encode the second time to the same bytes. Calls and answers decode
 * alike through frame_decode()'s own reader and through protobuf-c.
 *
 *
 * At FUZZ_CHUNKS, the rest is a run of NATS messages between gateways, each
 * a header (sender and frame type in one byte, a u16 little-endian length,
 * a step of the clock in 100 ms) and its payload, as chunks.c takes them
 * apart: prefix, batches, parts of big frames put together again. Every
 * frame that comes out is checked as above. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "frame.h"

#define FUZZ_CHUNKS (_FRAME_TYPE_MAX + 1)
#define FUZZ_TYPES (_FRAME_TYPE_MAX + 2)        /* every frame type, NameEntry, and NATS messages */
#define CHUNKS_HEADER 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fail(const char *type, const char *what) {
        fprintf(stderr, "fuzz-frame: %s: %s\n", type, what);
        abort();
}

static bool sid_eq(const struct xns_sid *a, const struct xns_sid *b) {
        return !memcmp(a->w, b->w, sizeof(a->w));
}

static bool data_eq(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
        return a_len == b_len && (a_len == 0 || !memcmp(a, b, a_len));
}

static bool call_eq(const struct frame_call *a, const struct frame_call *b) {
        return a->epoch == b->epoch && a->call == b->call && sid_eq(&a->sid, &b->sid) && a->pid == b->pid &&
               a->uid == b->uid && a->kind == b->kind && a->id == b->id && !memcmp(a->a, b->a, sizeof(a->a)) &&
               a->len == b->len && a->offset == b->offset && a->valid == b->valid &&
               data_eq(a->data, a->data_len, b->data, b->data_len);
}

static bool answer_eq(const struct frame_answer *a, const struct frame_answer *b) {
        return a->epoch == b->epoch && a->call == b->call && a->error == b->error && a->count == b->count &&
               !memcmp(a->v, b->v, sizeof(a->v)) && a->offset == b->offset && a->valid == b->valid &&
               data_eq(a->data, a->data_len, b->data, b->data_len) && a->data_at == b->data_at &&
               a->n_queued == b->n_queued &&
               !memcmp(a->queued, b->queued, a->n_queued * sizeof(a->queued[0]));
}

static bool grant_eq(const struct frame_grant *a, const struct frame_grant *b) {
        return a->call == b->call && a->name.len == b->name.len &&
               (a->name.len > XNS_NAME_MAX || !memcmp(a->name.str, b->name.str, a->name.len)) &&
               sid_eq(&a->sid, &b->sid) && a->pid == b->pid && a->uid == b->uid;
}

/* Every field of a and b the same (payloads by content). */
static bool frame_eq(const struct frame *a, const struct frame *b) {
        if (a->type != b->type)
                return false;
        switch (a->type) {
        case FRAME_HEARTBEAT:
                return !strcmp(a->hb.host, b->hb.host) && a->hb.epoch == b->hb.epoch && a->hb.tag == b->hb.tag;
        case FRAME_CALL:
                return call_eq(&a->call, &b->call);
        case FRAME_ANSWER:
                return answer_eq(&a->answer, &b->answer);
        case FRAME_GRANT:
                return grant_eq(&a->grant, &b->grant);
        case FRAME_GRANTED:
                return a->granted.call == b->granted.call && a->granted.error == b->granted.error &&
                       sid_eq(&a->granted.sid, &b->granted.sid);
        case FRAME_GONE:
                return a->gone.pid == b->gone.pid && sid_eq(&a->gone.sid, &b->gone.sid);
        case FRAME_PROBE:
                return a->probe.epoch == b->probe.epoch && a->probe.call == b->probe.call &&
                       a->probe.resync == b->probe.resync;
        case FRAME_PROBED:
                return a->probed.epoch == b->probed.epoch && a->probed.call == b->probed.call &&
                       a->probed.known == b->probed.known;
        default:
                return false;
        }
}

/* frame_decode() reads calls and answers itself, and leaves what it does
 * not expect to protobuf-c: the verdict and the fields are the same either
 * way. */
static void check_paths_agree(const char *name, enum frame_type type, const uint8_t *buf, size_t len) {
        struct frame a, b;
        int ra = frame_decode(&a, type, buf, len), rb = frame_decode_generic(&b, type, buf, len);

        if ((ra < 0) != (rb < 0))
                fail(name, ra < 0 ? "only protobuf-c decodes a frame" : "only the fast path decodes a frame");
        if (ra == 0 && !frame_eq(&a, &b))
                fail(name, "the fast path and protobuf-c decode a frame differently");
}

static void check_frame(enum frame_type type, const uint8_t *buf, size_t len) {
        const char *name = frame_type_name(type);
        uint8_t *out = NULL, *again = NULL;
        size_t out_len, again_len;
        struct frame a, b;

        check_paths_agree(name, type, buf, len);
        if (frame_decode(&a, type, buf, len) < 0)
                return;
        if (a.type != type)
                fail(name, "decoded as another type");
        /* A frame that decodes is one the encoder accepts: the checks are shared. */
        if (frame_encode(&a, &out, &out_len) < 0)
                fail(name, "a decoded frame does not encode");
        check_paths_agree(name, type, out, out_len);
        if (frame_decode(&b, type, out, out_len) < 0)
                fail(name, "an encoded frame does not decode");
        if (!frame_eq(&a, &b))
                fail(name, "a frame changes in a round trip");
        if (frame_encode(&b, &again, &again_len) < 0 || again_len != out_len || memcmp(out, again, out_len))
                fail(name, "a frame encodes differently the second time");
        free(again);
        free(out);
}

static bool name_entry_eq(const struct frame_name_entry *a, const struct frame_name_entry *b) {
        return !strcmp(a->host, b->host) && sid_eq(&a->sid, &b->sid) && a->max_conns == b->max_conns &&
               a->epoch == b->epoch;
}

static void check_name_entry(const uint8_t *buf, size_t len) {
        struct frame_name_entry a, b;
        uint8_t *out = NULL, *again = NULL;
        size_t out_len, again_len;

        if (frame_name_entry_decode(&a, buf, len) < 0)
                return;
        if (frame_name_entry_encode(&a, &out, &out_len) < 0)
                fail("NameEntry", "a decoded value does not encode");
        if (frame_name_entry_decode(&b, out, out_len) < 0)
                fail("NameEntry", "an encoded value does not decode");
        if (!name_entry_eq(&a, &b))
                fail("NameEntry", "a value changes in a round trip");
        if (frame_name_entry_encode(&b, &again, &again_len) < 0 || again_len != out_len ||
            memcmp(out, again, out_len))
                fail("NameEntry", "a value encodes differently the second time");
        free(again);
        free(out);
}

struct chunks_arrival {
        enum frame_type type;
};

static void chunks_frame(void *userdata, const uint8_t *buf, size_t len) {
        const struct chunks_arrival *a = userdata;
        uint8_t *copy;

        if (len > CHUNK_FRAME_MAX)
                fail(frame_type_name(a->type), "a frame longer than CHUNK_FRAME_MAX came out");
        copy = len > 0 ? malloc(len) : NULL;    /* exactly its size, for ASan */
        if (len > 0 && !copy)
                abort();
        if (copy)
                memcpy(copy, buf, len);
        check_frame(a->type, copy, len);
        free(copy);
}

/* Messages from up to four senders, each payload in a buffer of its own size. */
static void check_chunks(const uint8_t *p, size_t size) {
        static const char *const senders[] = { "host-a", "host-b", "host-c", "host-d" };
        struct chunks *ch;
        uint64_t now = 1;

        if (chunks_new(&ch) < 0)
                abort();
        while (size >= CHUNKS_HEADER) {
                size_t len = p[1] | (size_t)p[2] << 8;
                struct chunks_arrival a = { .type = (enum frame_type)((p[0] >> 2) % _FRAME_TYPE_MAX) };
                const char *from = senders[p[0] & 3];
                uint8_t *msg;

                now += (uint64_t)p[3] * 100;
                p += CHUNKS_HEADER;
                size -= CHUNKS_HEADER;
                if (len > size)
                        len = size;
                msg = len > 0 ? malloc(len) : NULL;
                if (len > 0 && !msg)
                        abort();
                if (msg)
                        memcpy(msg, p, len);
                chunks_expire(ch, now);
                chunks_arrived(ch, from, a.type, a.type == FRAME_HEARTBEAT, msg, len, now, chunks_frame, &a);
                free(msg);
                p += len;
                size -= len;
        }
        chunks_free(ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned what;
        uint8_t *buf;

        if (size < 1)
                return 0;
        what = data[0] % FUZZ_TYPES;
        if (what == FUZZ_CHUNKS) {
                check_chunks(data + 1, size - 1);
                return 0;
        }
        /* A copy of exactly the frame's size: ASan sees any read past it. An
         * empty frame is NULL, as a NATS message without data may give. */
        buf = size > 1 ? malloc(size - 1) : NULL;
        if (size > 1 && !buf)
                abort();
        if (buf)
                memcpy(buf, data + 1, size - 1);
        if (what == _FRAME_TYPE_MAX)
                check_name_entry(buf, size - 1);
        else
                check_frame((enum frame_type)what, buf, size - 1);
        free(buf);
        return 0;
}
