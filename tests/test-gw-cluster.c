/* test-gw-cluster.c: xnsgw's frames, NATS connection and KV registry, against a real 3-node cluster and a real event loop. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "frame.h"
#include "nats.h"
#include "registry.h"
#include "test-util.h"

#define TEST_TIMEOUT_S 60
#define START_MS 20000          /* the NATS cluster to be ready */
#define STOP_MS 5000
#define WAIT_MS 10000           /* any condition below, at most */
#define TICK_MS 10              /* the loop wakes this often to look at the condition */
#define ORDERED_FRAMES 1000
#define LINGER_MS 300           /* long, so that a frame sent next surely lingers */
#define RACES 10

static struct test_nats nats = TEST_NATS_INIT;

/* --- fixture: one NATS cluster for the cluster tests, owned by the runner -- */

static void nats_start_nodes(unsigned nodes) {
        struct test_nats_config cfg = {
                .exe = getenv("NATS_SERVER"),
                .nodes = nodes,
                .jetstream = true,
                .dir_template = "/tmp/xns-gwc-XXXXXX",
                .timeout_ms = START_MS,
        };
        char why[600];

        if (test_nats_start(&nats, &cfg, why, sizeof(why)) < 0)
                ck_abort_msg("%s", why);
}

static void nats_start(void) {
        nats_start_nodes(3);
}

static void nats_start_one(void) {
        nats_start_nodes(1);
}

static void nats_stop(void) {
        test_nats_stop(&nats, STOP_MS);
        test_nats_remove_dir(&nats);
}

/* --- a loop that runs until a condition holds ------------------------------- */

static void tick(evutil_socket_t fd, short what, void *arg) {
}

static struct event_base *loop_new(struct event **ticker) {
        struct timeval tv = { 0, TICK_MS * 1000 };
        struct event_base *base = event_base_new();

        ck_assert_ptr_nonnull(base);
        *ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
        ck_assert_ptr_nonnull(*ticker);
        ck_assert_int_eq(event_add(*ticker, &tv), 0);
        return base;
}

static void loop_free(struct event_base *base, struct event *ticker) {
        event_free(ticker);
        event_base_free(base);
}

/* Runs the loop until *flag is true or timeout_ms passed: whether it is. */
#define RUN_UNTIL(base, cond, timeout_ms)                                                       \
        ({                                                                                      \
                uint64_t _deadline = now_ms() + (timeout_ms);                                   \
                while (!(cond) && now_ms() < _deadline)                                         \
                        event_base_loop((base), EVLOOP_ONCE);                                   \
                (cond);                                                                         \
        })

/* --- frames: encode, decode, and what decoding refuses ----------------------- */

static struct frame decode_ok(const struct frame *f, uint8_t **buf, size_t *len) {
        struct frame out;

        ck_assert_int_eq(frame_encode(f, buf, len), 0);
        ck_assert_int_eq(frame_decode(&out, f->type, *buf, *len), 0);
        ck_assert_int_eq(out.type, f->type);
        return out;
}

START_TEST(test_frame_round_trip) {
        static uint8_t pages[2 * XNS_PAGE_SIZE];
        struct frame f = { .type = FRAME_CALL }, out;
        uint8_t *buf;
        size_t len;

        for (size_t i = 0; i < sizeof(pages); i++)
                pages[i] = (uint8_t)(i * 7 + 3);
        f.call = (struct frame_call){
                .epoch = 0x1122334455667788ull, .call = 42, .sid = { { 1, 2, 3, 4 } }, .pid = 77, .uid = 1000,
                .kind = XNS_KIND_MUTABLE_BORROW, .id = 9, .a = { 10, 11, 12, 13 },
                .len = sizeof(pages), .offset = 5, .valid = 100, .data = pages, .data_len = sizeof(pages),
        };
        out = decode_ok(&f, &buf, &len);
        ck_assert_uint_eq(out.call.epoch, f.call.epoch);
        ck_assert_uint_eq(out.call.call, 42);
        ck_assert(xns_sid_equal(&out.call.sid, &f.call.sid));
        ck_assert_uint_eq(out.call.pid, 77);
        ck_assert_uint_eq(out.call.uid, 1000);
        ck_assert_uint_eq(out.call.kind, XNS_KIND_MUTABLE_BORROW);
        ck_assert_uint_eq(out.call.a[3], 13);
        ck_assert_uint_eq(out.call.offset, 5);
        ck_assert_uint_eq(out.call.valid, 100);
        ck_assert_uint_eq(out.call.data_len, sizeof(pages));
        /* the payload is not copied: it points into the received bytes */
        ck_assert(out.call.data >= buf && out.call.data + out.call.data_len == buf + len);
        ck_assert(!memcmp(out.call.data, pages, sizeof(pages)));
        free(buf);

        f = (struct frame){ .type = FRAME_ANSWER };
        f.answer = (struct frame_answer){ .epoch = 3, .call = 4, .error = 0, .count = 5, .v = { 1, 2, 3, 4, 5 },
                                          .data = pages, .data_len = XNS_PAGE_SIZE };
        out = decode_ok(&f, &buf, &len);
        ck_assert_uint_eq(out.answer.count, 5);
        ck_assert_uint_eq(out.answer.v[4], 5);
        ck_assert_uint_eq(out.answer.data_len, XNS_PAGE_SIZE);
        ck_assert(!memcmp(out.answer.data, pages, XNS_PAGE_SIZE));
        free(buf);

        f = (struct frame){ .type = FRAME_HEARTBEAT, .hb = { .host = "host-B_2", .epoch = 99, .tag = 0xabcdef } };
        out = decode_ok(&f, &buf, &len);
        ck_assert_str_eq(out.hb.host, "host-B_2");
        ck_assert_uint_eq(out.hb.epoch, 99);
        ck_assert_uint_eq(out.hb.tag, 0xabcdef);
        free(buf);

        f = (struct frame){ .type = FRAME_GRANT, .grant = { .call = 8, .name = { .len = 6, .str = "grüße" },
                                                            .pid = 3, .uid = 4 } };
        f.grant.name.len = strlen(f.grant.name.str);
        out = decode_ok(&f, &buf, &len);
        ck_assert_str_eq(out.grant.name.str, "grüße");
        ck_assert_uint_eq(out.grant.name.len, strlen("grüße"));
        free(buf);

        f = (struct frame){ .type = FRAME_GRANTED, .granted = { .call = 8, .error = 15, .sid = { { 5, 6, 7, 8 } } } };
        out = decode_ok(&f, &buf, &len);
        ck_assert_uint_eq(out.granted.error, 15);
        ck_assert_uint_eq(out.granted.sid.w[2], 7);
        free(buf);

        f = (struct frame){ .type = FRAME_GONE, .gone = { .pid = 1234 } };
        out = decode_ok(&f, &buf, &len);
        ck_assert_uint_eq(out.gone.pid, 1234);
        free(buf);

        for (unsigned t = 0; t < _FRAME_TYPE_MAX; t++) {
                enum frame_type back;

                ck_assert_int_eq(frame_type_from_name(frame_type_name(t), &back), 0);
                ck_assert_int_eq(back, t);
        }
        ck_assert_int_eq(frame_type_from_name("hbx", &(enum frame_type){ 0 }), -EINVAL);
}
END_TEST

/* Hand-made protobuf, to say what our encoder never would. */
struct pb {
        uint8_t buf[8192];
        size_t len;
};

static void pb_varint(struct pb *p, uint64_t v) {
        do {
                p->buf[p->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
}

static void pb_fixed32(struct pb *p, unsigned field, uint32_t v) {
        pb_varint(p, field << 3 | 5);
        for (unsigned i = 0; i < 4; i++)
                p->buf[p->len++] = (uint8_t)(v >> (8 * i));
}

static void pb_bytes(struct pb *p, unsigned field, const void *data, size_t len) {
        pb_varint(p, field << 3 | 2);
        pb_varint(p, len);
        memcpy(p->buf + p->len, data, len);
        p->len += len;
}

static void pb_sid(struct pb *p, unsigned field) {
        struct pb sid = { .len = 0 };

        pb_fixed32(&sid, 1, 1);
        pb_bytes(p, field, sid.buf, sid.len);
}

static int decode(enum frame_type type, const struct pb *p) {
        struct frame f;

        return frame_decode(&f, type, p->buf, p->len);
}

START_TEST(test_frame_rejects) {
        static uint8_t page[XNS_PAGE_SIZE];
        struct frame f = { .type = FRAME_CALL }, out;
        struct pb p = { .len = 0 };
        uint8_t *buf, junk[64];
        size_t len;

        /* Every strict prefix of a memory call is refused. */
        f.call = (struct frame_call){ .kind = XNS_KIND_BORROW, .sid = { { 1, 2, 3, 4 } }, .len = XNS_PAGE_SIZE,
                                      .data = page, .data_len = XNS_PAGE_SIZE, .a = { 1, 2, 3, 4 } };
        ck_assert_int_eq(frame_encode(&f, &buf, &len), 0);
        for (size_t n = 0; n < len; n++)
                ck_assert_msg(frame_decode(&out, FRAME_CALL, buf, n) == -EBADMSG, "prefix of %zu bytes taken", n);
        free(buf);

        /* The encoder refuses what the decoder would. */
        f.call.len = XNS_PAGE_SIZE + 1;
        ck_assert_int_eq(frame_encode(&f, &buf, &len), -EINVAL);
        f.call.len = XNS_PAGE_SIZE;
        f.call.kind = _XNS_KIND_MAX;
        ck_assert_int_eq(frame_encode(&f, &buf, &len), -EINVAL);
        f = (struct frame){ .type = FRAME_ANSWER, .answer = { .count = 3 } };
        ck_assert_int_eq(frame_encode(&f, &buf, &len), -EINVAL);
        f = (struct frame){ .type = FRAME_HEARTBEAT, .hb = { .host = "a.b" } };
        ck_assert_int_eq(frame_encode(&f, &buf, &len), -EINVAL);

        /* A sound scalar call, by hand, then what spoils it. */
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, XNS_KIND_SCALAR);
        ck_assert_int_eq(decode(FRAME_CALL, &p), 0);
        p.len = 0;
        pb_fixed32(&p, 6, XNS_KIND_SCALAR);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* no sid */
        p.len = 0;
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, _XNS_KIND_MAX);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* unknown kind */
        p.len = 0;
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, XNS_KIND_SCALAR);
        pb_bytes(&p, 15, page, 16);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* a scalar with a payload */
        p.len = 0;
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, XNS_KIND_BORROW);
        pb_fixed32(&p, 12, 2 * XNS_PAGE_SIZE);
        pb_bytes(&p, 15, page, XNS_PAGE_SIZE);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* payload shorter than len */
        p.len = 0;
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, XNS_KIND_BORROW);
        pb_fixed32(&p, 12, 100);
        pb_bytes(&p, 15, page, 100);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* not whole pages */
        p.len = 0;
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, XNS_KIND_BORROW);
        pb_fixed32(&p, 12, FRAME_DATA_MAX + XNS_PAGE_SIZE);
        pb_varint(&p, 15 << 3 | 2);
        pb_varint(&p, FRAME_DATA_MAX + XNS_PAGE_SIZE);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* > 64 MiB, and claims more than is there */
        p.len = 0;
        pb_sid(&p, 3);
        pb_fixed32(&p, 6, XNS_KIND_BORROW);
        pb_fixed32(&p, 12, XNS_PAGE_SIZE);
        pb_bytes(&p, 15, page, XNS_PAGE_SIZE);
        ck_assert_int_eq(decode(FRAME_CALL, &p), 0);
        pb_fixed32(&p, 7, 1);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* a field after the payload */
        p.len = 0;
        pb_sid(&p, 3);
        pb_varint(&p, 15 << 3 | 5);                                     /* the payload field as a fixed32 */
        pb_fixed32(&p, 1, 0);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);
        p.len = 0;
        pb_sid(&p, 3);
        pb_bytes(&p, 99, page, 2000);
        ck_assert_int_eq(decode(FRAME_CALL, &p), -EBADMSG);             /* an oversized head */

        /* A length in the head written in more than 5 bytes is refused by
         * protobuf-c, and so by frame_decode()'s own reader (the fuzzer
         * checks that both agree). */
        {
                static const uint8_t call_sid6[] = { 0x35, 0x03, 0, 0, 0, 0x1a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
                static const uint8_t answer_queued6[] = { 0x6a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
                static const uint8_t call_sid5[] = { 0x35, 0x03, 0, 0, 0, 0x1a, 0x85, 0x80, 0x80, 0x80, 0x00,
                                                     0x0d, 1, 0, 0, 0 };

                ck_assert_int_eq(frame_decode(&out, FRAME_CALL, call_sid6, sizeof(call_sid6)), -EBADMSG);
                ck_assert_int_eq(frame_decode(&out, FRAME_ANSWER, answer_queued6, sizeof(answer_queued6)), -EBADMSG);
                ck_assert_int_eq(frame_decode(&out, FRAME_CALL, call_sid5, sizeof(call_sid5)), 0);
                ck_assert_uint_eq(out.call.sid.w[0], 1);
        }

        /* Answers: reply words 0, 1, 2 or 5, none beyond the count. */
        p.len = 0;
        pb_fixed32(&p, 4, 3);
        ck_assert_int_eq(decode(FRAME_ANSWER, &p), -EBADMSG);
        p.len = 0;
        pb_fixed32(&p, 4, 1);
        pb_fixed32(&p, 6, 7);
        ck_assert_int_eq(decode(FRAME_ANSWER, &p), -EBADMSG);
        p.len = 0;
        pb_fixed32(&p, 4, 2);
        pb_fixed32(&p, 6, 7);
        ck_assert_int_eq(decode(FRAME_ANSWER, &p), 0);

        /* Heartbeat hosts: 1..32 of [A-Za-z0-9_-]. */
        p.len = 0;
        pb_bytes(&p, 1, "a.b", 3);
        ck_assert_int_eq(decode(FRAME_HEARTBEAT, &p), -EBADMSG);
        p.len = 0;
        pb_bytes(&p, 1, "a\0b", 3);
        ck_assert_int_eq(decode(FRAME_HEARTBEAT, &p), -EBADMSG);
        p.len = 0;
        ck_assert_int_eq(decode(FRAME_HEARTBEAT, &p), -EBADMSG);
        pb_bytes(&p, 1, "0123456789012345678901234567890123", 33);
        ck_assert_int_eq(decode(FRAME_HEARTBEAT, &p), -EBADMSG);
        p.len = 0;
        pb_bytes(&p, 1, "01234567890123456789012345678901", 32);
        ck_assert_int_eq(decode(FRAME_HEARTBEAT, &p), 0);

        /* Grant names: UTF-8, at most XNS_NAME_MAX bytes. */
        p.len = 0;
        pb_sid(&p, 3);
        pb_bytes(&p, 2, "\xff\xfe", 2);
        ck_assert_int_eq(decode(FRAME_GRANT, &p), -EBADMSG);
        p.len = 0;
        pb_sid(&p, 3);
        memset(junk, 'n', sizeof(junk));
        pb_bytes(&p, 2, junk, XNS_NAME_MAX + 1);
        ck_assert_int_eq(decode(FRAME_GRANT, &p), -EBADMSG);

        /* Plain garbage, and a type that is none. */
        memset(junk, 0xff, sizeof(junk));
        ck_assert_int_eq(frame_decode(&out, FRAME_GONE, junk, sizeof(junk)), -EBADMSG);
        ck_assert_int_eq(frame_decode(&out, _FRAME_TYPE_MAX, junk, 0), -EBADMSG);

        ck_assert(frame_host_valid("a"));
        ck_assert(!frame_host_valid(""));
        ck_assert(!frame_host_valid("a*"));
        ck_assert(!frame_host_valid(NULL));
}
END_TEST

/* --- two gateways, "a" and "b", on different NATS nodes ---------------------- */

struct gw {
        const char *name;
        struct cluster *c;
        struct registry *reg;
        uint64_t epoch;
        /* what the hooks saw */
        char up_host[FRAME_HOST_MAX + 1];
        uint64_t up_epoch, down_epoch;
        uint32_t up_tag;
        unsigned ups, downs, frames;
        uint64_t down_ms;
        struct frame last;
        uint8_t *last_data;             /* a copy of the last payload */
        size_t last_data_len;
        uint64_t next_call;             /* calls must come numbered 0, 1, 2 ... */
        bool out_of_order;
        unsigned changes;
        char changed_name[XNS_NAME_MAX + 1];
        bool changed_put;
        char changed_host[FRAME_HOST_MAX + 1];
};

static void on_frame(void *userdata, const char *from, const struct frame *f) {
        struct gw *g = userdata;

        g->frames++;
        g->last = *f;
        if (f->type == FRAME_CALL) {
                if (f->call.call != g->next_call)
                        g->out_of_order = true;
                g->next_call = f->call.call + 1;
                free(g->last_data);
                g->last_data = NULL;
                g->last_data_len = f->call.data_len;
                if (f->call.data_len) {
                        g->last_data = malloc(f->call.data_len);
                        ck_assert_ptr_nonnull(g->last_data);
                        memcpy(g->last_data, f->call.data, f->call.data_len);
                }
        }
}

static void on_host_up(void *userdata, const char *host, uint32_t tag, uint64_t epoch) {
        struct gw *g = userdata;

        g->ups++;
        snprintf(g->up_host, sizeof(g->up_host), "%s", host);
        g->up_tag = tag;
        g->up_epoch = epoch;
}

static void on_host_down(void *userdata, const char *host, uint64_t epoch) {
        struct gw *g = userdata;

        g->downs++;
        g->down_epoch = epoch;
        g->down_ms = now_ms();
}

static void gw_start(struct gw *g, struct event_base *base, const char *name, unsigned node, uint64_t epoch) {
        struct cluster_options opt = { .urls = nats.node[node].url, .host = name, .tag = (uint32_t)epoch,
                                       .linger_us = LINGER_MS * 1000 };
        struct cluster_hooks hooks = { .userdata = g, .frame = on_frame, .host_up = on_host_up,
                                       .host_down = on_host_down };
        char why[300] = "";

        free(g->last_data);
        *g = (struct gw){ .name = name, .epoch = epoch };
        ck_assert_msg(cluster_new(&g->c, base, &opt, &hooks, epoch, why, sizeof(why)) == 0, "%s", why);
        ck_assert(cluster_connected(g->c));
        ck_assert_str_eq(cluster_server_url(g->c), nats.node[node].url);
}

static void gw_stop(struct gw *g) {
        g->reg = registry_free(g->reg);
        g->c = cluster_free(g->c);
        free(g->last_data);
        g->last_data = NULL;
}

static void send_call(struct gw *from, const char *to, uint64_t call, uint32_t kind, const uint8_t *data, size_t len) {
        struct frame f = { .type = FRAME_CALL };

        f.call = (struct frame_call){ .epoch = from->epoch, .call = call, .sid = { { 7, 8, 9, 10 } }, .pid = 321,
                                      .uid = 1000, .kind = kind, .id = 5, .a = { 1, 2, 3, 4 },
                                      .len = (uint32_t)len, .data = data, .data_len = len };
        ck_assert_int_eq(cluster_send(from->c, to, &f), 0);
}

START_TEST(test_hosts_and_frames) {
        struct event *ticker;
        struct event_base *base = loop_new(&ticker);
        struct gw a = { 0 }, b = { 0 };
        size_t big = 3u << 20;
        uint8_t *payload = malloc(big);
        uint64_t t0, next;

        ck_assert_ptr_nonnull(payload);
        for (size_t i = 0; i < big; i++)
                payload[i] = (uint8_t)(i ^ (i >> 8) ^ (i >> 16));
        gw_start(&a, base, "a", 0, 0xa1);
        gw_start(&b, base, "b", 1, 0xb1);

        /* Each hears the other's heartbeats, never its own. */
        ck_assert(RUN_UNTIL(base, a.ups && b.ups, WAIT_MS));
        ck_assert_str_eq(a.up_host, "b");
        ck_assert_uint_eq(a.up_epoch, 0xb1);
        ck_assert_uint_eq(a.up_tag, 0xb1);
        ck_assert_str_eq(b.up_host, "a");
        ck_assert_uint_eq(b.up_epoch, 0xa1);
        ck_assert(cluster_host_alive(a.c, "b"));
        ck_assert(!cluster_host_alive(a.c, "a"));
        ck_assert_uint_eq(cluster_hosts(a.c, NULL, NULL), 1);
        ck_assert_str_eq(cluster_host_by_tag(a.c, 0xb1), "b");
        ck_assert_ptr_null(cluster_host_by_tag(a.c, 0xc1));

        /* A call a -> b arrives with its fields. */
        send_call(&a, "b", 0, XNS_KIND_BLOCKING_SCALAR, NULL, 0);
        ck_assert(RUN_UNTIL(base, b.frames == 1, WAIT_MS));
        ck_assert_int_eq(b.last.type, FRAME_CALL);
        ck_assert_uint_eq(b.last.call.epoch, 0xa1);
        ck_assert_uint_eq(b.last.call.sid.w[3], 10);
        ck_assert_uint_eq(b.last.call.pid, 321);
        ck_assert_uint_eq(b.last.call.kind, XNS_KIND_BLOCKING_SCALAR);
        ck_assert_uint_eq(b.last.call.a[2], 3);
        ck_assert_uint_eq(a.frames, 0);

        /* 3 MiB: chunked across the 1 MiB max_payload, whole on arrival. */
        send_call(&a, "b", 1, XNS_KIND_MUTABLE_BORROW, payload, big);
        ck_assert(RUN_UNTIL(base, b.frames == 2, WAIT_MS));
        ck_assert_uint_eq(b.last_data_len, big);
        ck_assert(!memcmp(b.last_data, payload, big));

        /* 1000 frames keep their order (on_frame checks the numbers). */
        for (unsigned k = 0; k < ORDERED_FRAMES; k++)
                send_call(&a, "b", 2 + k, XNS_KIND_SCALAR, NULL, 0);
        ck_assert(RUN_UNTIL(base, b.frames == 2 + ORDERED_FRAMES, WAIT_MS));
        ck_assert(!b.out_of_order);

        /* They were a stream: a Scalar now waits for the linger timer,
         * and arrives by it, with nothing sent behind it... */
        next = 2 + ORDERED_FRAMES;
        send_call(&a, "b", next++, XNS_KIND_SCALAR, NULL, 0);
        ck_assert(RUN_UNTIL(base, b.frames == next, WAIT_MS));
        /* ... and a call someone waits for takes the lingering ones along, in order. */
        for (unsigned k = 0; k < 2 * CLUSTER_LINGER_MIN_ITEMS; k++)
                send_call(&a, "b", next++, XNS_KIND_SCALAR, NULL, 0);
        ck_assert(RUN_UNTIL(base, b.frames == next, WAIT_MS));
        send_call(&a, "b", next++, XNS_KIND_MOVE, payload, 4096);
        send_call(&a, "b", next++, XNS_KIND_BLOCKING_SCALAR, NULL, 0);
        ck_assert(RUN_UNTIL(base, b.frames == next, WAIT_MS));
        ck_assert_int_eq(b.last.call.kind, XNS_KIND_BLOCKING_SCALAR);
        ck_assert(!b.out_of_order);

        /* b restarts with a new epoch: down for the old first, then up. */
        gw_stop(&b);
        gw_start(&b, base, "b", 2, 0xb2);
        ck_assert(RUN_UNTIL(base, a.ups == 2, WAIT_MS));
        ck_assert_uint_eq(a.downs, 1);
        ck_assert_uint_eq(a.down_epoch, 0xb1);
        ck_assert_uint_eq(a.up_epoch, 0xb2);

        /* b goes silent: a calls it down within CLUSTER_DEAD_MS and a tick or two. */
        ck_assert(RUN_UNTIL(base, b.ups >= 1, WAIT_MS));
        t0 = now_ms();
        gw_stop(&b);
        ck_assert(RUN_UNTIL(base, a.downs == 2, WAIT_MS));
        ck_assert_uint_eq(a.down_epoch, 0xb2);
        ck_assert_msg(a.down_ms - t0 < 1300, "host_down after %llu ms", (unsigned long long)(a.down_ms - t0));
        ck_assert(!cluster_host_alive(a.c, "b"));

        /* Sending to a host nobody is, or with a bad name, is not an error / is. */
        send_call(&a, "nobody", 0, XNS_KIND_SCALAR, NULL, 0);
        ck_assert_int_eq(cluster_send(a.c, "bad.host", &(struct frame){ .type = FRAME_GONE }), -EINVAL);

        gw_stop(&a);
        free(payload);
        loop_free(base, ticker);
}
END_TEST

/* Hostile bytes on our subjects change nothing and break nothing. */
START_TEST(test_hostile_messages) {
        struct event *ticker;
        struct event_base *base = loop_new(&ticker);
        struct gw a = { 0 }, b = { 0 };
        natsConnection *nc = NULL;
        uint8_t chunk[16 + 8] = { 0 };

        gw_start(&a, base, "a", 0, 0xa1);
        gw_start(&b, base, "b", 1, 0xb1);
        ck_assert(RUN_UNTIL(base, b.ups, WAIT_MS));
        ck_assert_int_eq(test_nats_connect(&nc, &nats, 2, true), NATS_OK);
        ck_assert_int_eq(natsConnection_PublishString(nc, "xns.b.a.call", "short"), NATS_OK);
        ck_assert_int_eq(natsConnection_PublishString(nc, "xns.b.a!.call", "0123456789abcdef"), NATS_OK);
        ck_assert_int_eq(natsConnection_PublishString(nc, "xns.b.a.nope", "0123456789abcdef"), NATS_OK);
        ck_assert_int_eq(natsConnection_PublishString(nc, "xns.b.a.hb", "0123456789abcdef"), NATS_OK);
        /* a chunk 5 of 4, a chunk 1 of 3 without its first, and count 0 */
        chunk[8] = 5, chunk[12] = 4;
        ck_assert_int_eq(natsConnection_Publish(nc, "xns.b.a.call", chunk, sizeof(chunk)), NATS_OK);
        chunk[8] = 1, chunk[12] = 3;
        ck_assert_int_eq(natsConnection_Publish(nc, "xns.b.a.call", chunk, sizeof(chunk)), NATS_OK);
        chunk[8] = 0, chunk[12] = 0;
        ck_assert_int_eq(natsConnection_Publish(nc, "xns.b.a.call", chunk, sizeof(chunk)), NATS_OK);
        /* a heartbeat naming another host than its subject */
        chunk[12] = 1;
        ck_assert_int_eq(natsConnection_Publish(nc, "xns.hb.zz", chunk, sizeof(chunk)), NATS_OK);
        ck_assert_int_eq(natsConnection_Flush(nc), NATS_OK);
        /* a sound frame after them all still arrives, and is the only one */
        send_call(&a, "b", 0, XNS_KIND_SCALAR, NULL, 0);
        ck_assert(RUN_UNTIL(base, b.frames == 1, WAIT_MS));
        ck_assert_uint_eq(b.ups, 1);
        natsConnection_Destroy(nc);
        gw_stop(&b);
        gw_stop(&a);
        loop_free(base, ticker);
}
END_TEST

/* --- the registry ------------------------------------------------------------ */

struct result {
        bool done;
        int r;
        bool has_entry;
        struct registry_entry e;
};

static void on_done(void *userdata, int r, const struct registry_entry *e) {
        struct result *res = userdata;

        res->done = true;
        res->r = r;
        res->has_entry = e != NULL;
        if (e)
                res->e = *e;
}

static void on_changed(void *userdata, const char *name, const struct registry_entry *e) {
        struct gw *g = userdata;

        g->changes++;
        snprintf(g->changed_name, sizeof(g->changed_name), "%s", name);
        g->changed_put = e != NULL;
        snprintf(g->changed_host, sizeof(g->changed_host), "%s", e ? e->host : "");
}

static void registry_start(struct gw *g, struct event_base *base) {
        struct registry_hooks hooks = { .userdata = g, .changed = on_changed };

        ck_assert_int_eq(registry_new(&g->reg, base, g->c, g->name, &hooks), 0);
}

static struct registry_entry entry(const char *name, uint32_t w1) {
        struct registry_entry e = { .sid = { { 1, w1, 3, 4 } }, .max_conns = 2, .epoch = 5 };

        snprintf(e.name, sizeof(e.name), "%s", name);
        return e;
}

#define AWAIT(base, res) ck_assert_msg(RUN_UNTIL(base, (res).done, 20000), "no answer")

static void claim(struct event_base *base, struct gw *g, const char *name, uint32_t w1, int want) {
        struct registry_entry e = entry(name, w1);
        struct result res = { 0 };

        ck_assert_int_eq(registry_claim(g->reg, &e, on_done, &res), 0);
        AWAIT(base, res);
        ck_assert_msg(res.r == want, "claim of %s by %s: %d, want %d", name, g->name, res.r, want);
}

static struct result lookup(struct event_base *base, struct gw *g, const char *name) {
        struct result res = { 0 };

        ck_assert_int_eq(registry_lookup(g->reg, name, on_done, &res), 0);
        AWAIT(base, res);
        return res;
}

static bool changed_to(struct gw *g, const char *name, bool put) {
        return !strcmp(g->changed_name, name) && g->changed_put == put;
}

/* The bucket's replicas, as its stream says. */
static int bucket_replicas(void) {
        natsConnection *nc = NULL;
        jsStreamInfo *si = NULL;
        jsCtx *js = NULL;
        int replicas;

        ck_assert_int_eq(test_nats_connect(&nc, &nats, 0, true), NATS_OK);
        ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
        ck_assert_int_eq(js_GetStreamInfo(&si, js, "KV_" REGISTRY_BUCKET, NULL, NULL), NATS_OK);
        replicas = (int)si->Config->Replicas;
        jsStreamInfo_Destroy(si);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        return replicas;
}

START_TEST(test_registry) {
        struct event *ticker;
        struct event_base *base = loop_new(&ticker);
        struct gw a = { 0 }, b = { 0 };
        struct result res = { 0 }, ra[RACES], rb[RACES];
        struct registry_entry e;

        gw_start(&a, base, "a", 0, 0xa1);
        gw_start(&b, base, "b", 1, 0xb1);
        registry_start(&a, base);
        registry_start(&b, base);

        /* a claims, b is refused and told who holds it */
        claim(base, &a, "svc.one", 11, 0);
        e = entry("svc.one", 12);
        ck_assert_int_eq(registry_claim(b.reg, &e, on_done, &res), 0);
        AWAIT(base, res);
        ck_assert_int_eq(res.r, -EEXIST);
        ck_assert(res.has_entry);
        ck_assert_str_eq(res.e.host, "a");
        ck_assert_uint_eq(res.e.sid.w[1], 11);

        /* b finds it, and its watch saw it put */
        res = lookup(base, &b, "svc.one");
        ck_assert_int_eq(res.r, 0);
        ck_assert_str_eq(res.e.name, "svc.one");
        ck_assert_str_eq(res.e.host, "a");
        ck_assert_uint_eq(res.e.sid.w[1], 11);
        ck_assert_uint_eq(res.e.max_conns, 2);
        ck_assert_uint_eq(res.e.epoch, 5);
        ck_assert(RUN_UNTIL(base, changed_to(&b, "svc.one", true), WAIT_MS));
        ck_assert_str_eq(b.changed_host, "a");
        ck_assert_uint_ge(registry_each(b.reg, NULL, NULL), 1);

        /* b may not release a's name */
        res = (struct result){ 0 };
        ck_assert_int_eq(registry_release(b.reg, "svc.one", on_done, &res), 0);
        AWAIT(base, res);
        ck_assert_int_eq(res.r, -EEXIST);
        ck_assert_int_eq(lookup(base, &b, "svc.one").r, 0);

        /* a releases: gone for b, and b's watch saw the delete */
        res = (struct result){ 0 };
        ck_assert_int_eq(registry_release(a.reg, "svc.one", on_done, &res), 0);
        AWAIT(base, res);
        ck_assert_int_eq(res.r, 0);
        ck_assert_int_eq(lookup(base, &b, "svc.one").r, -ENOENT);
        ck_assert(RUN_UNTIL(base, changed_to(&b, "svc.one", false), WAIT_MS));
        ck_assert_int_eq(lookup(base, &a, "never.was").r, -ENOENT);
        /* released names can be claimed again, by anyone */
        claim(base, &b, "svc.one", 13, 0);

        /* racing claims: exactly one of a and b wins each name */
        for (unsigned k = 0; k < RACES; k++) {
                char name[32];

                snprintf(name, sizeof(name), "race.%u", k);
                ra[k] = rb[k] = (struct result){ 0 };
                e = entry(name, 1);
                ck_assert_int_eq(registry_claim(a.reg, &e, on_done, &ra[k]), 0);
                ck_assert_int_eq(registry_claim(b.reg, &e, on_done, &rb[k]), 0);
        }
        for (unsigned k = 0; k < RACES; k++) {
                AWAIT(base, ra[k]);
                AWAIT(base, rb[k]);
                ck_assert_msg((ra[k].r == 0 && rb[k].r == -EEXIST) || (ra[k].r == -EEXIST && rb[k].r == 0),
                              "race.%u: a %d, b %d", k, ra[k].r, rb[k].r);
        }

        /* a new incarnation of a (same host, new registry) takes a's name over */
        claim(base, &a, "svc.take", 21, 0);
        a.reg = registry_free(a.reg);
        registry_start(&a, base);
        claim(base, &a, "svc.take", 22, 0);
        res = lookup(base, &b, "svc.take");
        ck_assert_int_eq(res.r, 0);
        ck_assert_uint_eq(res.e.sid.w[1], 22);

        ck_assert_int_eq(bucket_replicas(), 3);
        /* bad names are refused at once */
        ck_assert_int_eq(registry_lookup(a.reg, "", on_done, &res), -EINVAL);

        gw_stop(&b);
        gw_stop(&a);
        loop_free(base, ticker);
}
END_TEST

static unsigned count_done(const struct result *res, unsigned n) {
        unsigned done = 0;

        for (unsigned k = 0; k < n; k++)
                done += res[k].done;
        return done;
}

/* A lone NATS server: the bucket is made with one replica, and serves. */
START_TEST(test_registry_one_node) {
        struct event *ticker;
        struct event_base *base = loop_new(&ticker);
        struct gw a = { 0 };

        gw_start(&a, base, "a", 0, 0xa1);
        registry_start(&a, base);
        claim(base, &a, "alone", 1, 0);
        ck_assert_int_eq(lookup(base, &a, "alone").r, 0);
        ck_assert(RUN_UNTIL(base, changed_to(&a, "alone", true), WAIT_MS));
        ck_assert_int_eq(bucket_replicas(), 1);
        gw_stop(&a);
        loop_free(base, ticker);
}
END_TEST

/* registry_free() with operations queued and under way: no callback after it. */
START_TEST(test_registry_free_pending) {
        struct event *ticker;
        struct event_base *base = loop_new(&ticker);
        struct gw a = { 0 };
        struct result res[20];
        unsigned done;

        gw_start(&a, base, "a", 0, 0xa1);
        registry_start(&a, base);
        for (unsigned k = 0; k < 20; k++) {
                char name[32];
                struct registry_entry e;

                snprintf(name, sizeof(name), "pending.%u", k);
                e = entry(name, k);
                res[k] = (struct result){ 0 };
                ck_assert_int_eq(registry_claim(a.reg, &e, on_done, &res[k]), 0);
        }
        ck_assert(RUN_UNTIL(base, res[0].done, 20000));
        done = count_done(res, 20);
        a.reg = registry_free(a.reg);
        /* run the loop a little: nothing may arrive any more */
        RUN_UNTIL(base, false, 300);
        ck_assert_uint_eq(count_done(res, 20), done);
        gw_stop(&a);
        loop_free(base, ticker);
}
END_TEST

/* --- main ------------------------------------------------------------------ */

int main(void) {
        const char *exe = getenv("NATS_SERVER");
        Suite *s = suite_create("gw-cluster");
        TCase *frames = tcase_create("frames"), *live = tcase_create("cluster");

        SRunner *sr;
        int failed;

        if (!exe || access(exe, X_OK) != 0) {
                fprintf(stderr, "test-gw-cluster: nats-server is not installed (contrib/deps.sh installs it): skipped\n");
                return 77;
        }
        tcase_add_test(frames, test_frame_round_trip);
        tcase_add_test(frames, test_frame_rejects);
        suite_add_tcase(s, frames);
        /* One NATS cluster for all: names differ between tests. */
        tcase_add_unchecked_fixture(live, nats_start, nats_stop);
        tcase_set_timeout(live, TEST_TIMEOUT_S);
        tcase_add_test(live, test_hosts_and_frames);
        tcase_add_test(live, test_hostile_messages);
        tcase_add_test(live, test_registry);
        tcase_add_test(live, test_registry_free_pending);
        suite_add_tcase(s, live);
        add_fixture_test(s, test_registry_one_node, nats_start_one, nats_stop, TEST_TIMEOUT_S);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
