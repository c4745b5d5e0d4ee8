/* gen-corpus.c: writes the fuzzers' seed corpus (tests/fuzz/corpus/) from
 * valid frames: for fuzz-route, whole sessions in its record format (see
 * fuzz-route.c, and fuzz-channel.c); for fuzz-wire, single requests and replies; for fuzz-frame,
 * one frame between gateways (or registry value) each, behind its type byte.
 *
 * Usage: gen-corpus DIR    (writes DIR/route/NAME, DIR/channel/NAME, DIR/wire/NAME and DIR/frame/NAME)
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunks.h"
#include "frame.h"
#include "wire.h"

/* fuzz-route's record flags and links. */
enum { MEMFD = 0x04, RDONLY = 0x08, HANG_UP = 0x10, FIX_GEN = 0x20, RING = 0x40, RING_WRITE = 0x80 };
enum { A = 0, B = 1, A2 = 2, NEW = 3 };

/* fuzz-route's REC_RING_WRITE: byte 0 of the record's bytes is the offset
 * in the link's ring in steps of this many bytes. */
#define RING_WRITE_STEP 64

/* fuzz-route's predictable SIDs: the n-th server of a session (from 1). */
#define SID(n) ((struct xns_sid){ .w = { 1, (n) + 3 } })
#define CID_FIRST 2

static const char *out_dir;

struct session {
        uint8_t buf[8192];
        size_t len;
        uint32_t seq;
};

static _Noreturn void die(const char *what) {
        fprintf(stderr, "gen-corpus: %s: %s\n", what, strerror(errno));
        exit(1);
}

static void write_file(const char *sub, const char *name, const void *buf, size_t len) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/%s", out_dir, sub, name);
        f = fopen(path, "wbe");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
                die(path);
}

static void add_record(struct session *s, uint8_t ctl, const void *bytes, size_t n) {
        if (s->len + 3 + n > sizeof(s->buf)) {
                errno = ENOSPC;
                die("record");
        }
        s->buf[s->len++] = ctl;
        s->buf[s->len++] = (uint8_t)n;
        s->buf[s->len++] = (uint8_t)(n >> 8);
        memcpy(s->buf + s->len, bytes, n);
        s->len += n;
}

static void add(struct session *s, uint8_t ctl, struct xns_request req) {
        uint8_t frame[XNS_FRAME_MAX];
        ssize_t n;

        req.seq = req.op == XNS_OP_KICK || req.op == XNS_OP_CANCEL ? 0 : ++s->seq; /* never answered */
        n = xns_request_encode(&req, frame, sizeof(frame));
        if (n < 0) {
                errno = (int)-n;
                die("encode");
        }
        add_record(s, ctl, frame, (size_t)n);
}

/* A REC_RING_WRITE record: bytes written at offset (a multiple of
 * RING_WRITE_STEP) of the link's ring. */
static void ring_write(struct session *s, uint8_t link, size_t offset, const void *bytes, size_t len) {
        uint8_t rec[1 + XNS_FRAME_MAX];

        if (offset % RING_WRITE_STEP != 0 || offset >= XNS_RING_SIZE || 1 + len > sizeof(rec)) {
                errno = EINVAL;
                die("ring write");
        }
        rec[0] = (uint8_t)(offset / RING_WRITE_STEP);
        memcpy(rec + 1, bytes, len);
        add_record(s, link | RING_WRITE, rec, 1 + len);
}

static void ring_write_head(struct session *s, uint8_t link, uint32_t head) {
        uint8_t le[4] = { (uint8_t)head, (uint8_t)(head >> 8), (uint8_t)(head >> 16), (uint8_t)(head >> 24) };

        ring_write(s, link, offsetof(struct xns_ring, head), le, sizeof(le));
}

/* Slots 0..n-1 of the ring (the slot array starts on a step). */
static void ring_write_slots(struct session *s, uint8_t link, const struct xns_ring_slot *slots, size_t n) {
        _Static_assert(offsetof(struct xns_ring, slot) % RING_WRITE_STEP == 0, "slots on a step");
        ring_write(s, link, offsetof(struct xns_ring, slot), slots, n * sizeof(*slots));
}

static struct xns_name name(const char *str) {
        struct xns_name n = { .len = strlen(str) };

        memcpy(n.str, str, n.len);
        return n;
}

static struct xns_request register_name(const char *str) {
        return (struct xns_request){ .op = XNS_OP_REGISTER_NAME, .register_name = { name(str), 0 } };
}

static struct xns_request request_connection(const char *str, bool wait) {
        return (struct xns_request){ .op = XNS_OP_REQUEST_CONNECTION, .request_connection = { name(str), wait } };
}

static struct xns_request send_msg(uint32_t cid, uint32_t kind, uint32_t len) {
        return (struct xns_request){
                .op = XNS_OP_SEND,
                .send = { .cid = cid, .kind = kind, .id = 7, .a = { 1, 2, 3, 4 }, .len = len, .valid = len },
        };
}

static struct xns_request buf_keep(uint32_t no, uint32_t kind) {
        return (struct xns_request){ .op = XNS_OP_BUF_KEEP, .buf_keep = { no, XNS_PAGE_SIZE, kind } };
}

/* A lend of a buffer B has xnsd keep (buf_keep()). */
static struct xns_request send_kept(uint32_t kind, uint32_t no) {
        struct xns_request req = send_msg(CID_FIRST, kind, XNS_PAGE_SIZE);

        req.send.buf = no;
        return req;
}

static struct xns_request receive(struct xns_sid sid) {
        return (struct xns_request){ .op = XNS_OP_RECEIVE, .receive = { .sid = sid } };
}

static struct xns_request scalar_return(uint32_t handle) {
        return (struct xns_request){
                .op = XNS_OP_RETURN,
                .ret = { .handle = handle, .how = XNS_RETURN_SCALAR, .count = 1, .v = { 42 } },
        };
}

static struct xns_request memory_return(uint32_t handle) {
        return (struct xns_request){ .op = XNS_OP_RETURN, .ret = { .handle = handle, .how = XNS_RETURN_MEMORY } };
}

static struct xns_request control(uint32_t what) {
        return (struct xns_request){ .op = XNS_OP_CONTROL, .control = { .what = what } };
}

static void done_in(struct session *s, const char *sub, const char *file) {
        write_file(sub, file, s->buf, s->len);
        memset(s, 0, sizeof(*s));
}

static void done(struct session *s, const char *file) {
        done_in(s, "route", file);
}

/* A registers a name, B connects to it and calls; A answers. */
static void call_session(struct session *s, uint32_t kind, uint8_t fd_flags) {
        uint32_t len = xns_kind_is_memory(kind) ? XNS_PAGE_SIZE : 0;

        add(s, A, register_name("fuzz.server"));
        add(s, B, request_connection("fuzz.server", false));
        add(s, B | fd_flags, send_msg(CID_FIRST, kind, len));
        add(s, A, receive(SID(1)));
        if (kind == XNS_KIND_BLOCKING_SCALAR)
                add(s, A2 | FIX_GEN, scalar_return(1));
        else if (xns_kind_blocks(kind))
                add(s, A2 | FIX_GEN, memory_return(1));
}

/* A attaches its ring (link 0), B registers a server and A connects to it
 * (CID_FIRST); A then writes a Scalar into slot 0, not yet published. */
static void ring_session(struct session *s) {
        struct xns_ring_slot slot = { .cid = CID_FIRST, .id = 7, .a = { 1, 2, 3, 4 } };

        add(s, A | MEMFD | RING, (struct xns_request){ .op = XNS_OP_RING });
        add(s, B, register_name("fuzz.ring"));
        add(s, A, request_connection("fuzz.ring", false));
        ring_write_slots(s, A, &slot, 1);
}

static void route_sessions(void) {
        struct session s = { 0 };

        call_session(&s, XNS_KIND_BLOCKING_SCALAR, 0);
        done(&s, "blocking-scalar");
        call_session(&s, XNS_KIND_SCALAR, 0);
        done(&s, "scalar");
        call_session(&s, XNS_KIND_MUTABLE_BORROW, MEMFD);
        done(&s, "mutable-borrow");
        call_session(&s, XNS_KIND_BORROW, MEMFD | RDONLY);
        done(&s, "borrow");
        call_session(&s, XNS_KIND_MOVE, MEMFD);
        done(&s, "move");

        /* B has xnsd keep a buffer for Borrows (5) and one for MutableBorrows
         * (6), lends each by number twice (A is given each memfd once), lets
         * 5 go and lends it once more (refused), then 6 (A hears in that
         * delivery that 5 is gone). */
        add(&s, A, register_name("fuzz.kept"));
        add(&s, B, request_connection("fuzz.kept", false));
        add(&s, B | MEMFD | RDONLY, buf_keep(5, XNS_KIND_BORROW));
        add(&s, B | MEMFD, buf_keep(6, XNS_KIND_MUTABLE_BORROW));
        for (uint32_t round = 0; round < 2; round++) {
                add(&s, B, send_kept(XNS_KIND_BORROW, 5));
                add(&s, A, receive(SID(1)));
                add(&s, A2 | FIX_GEN, memory_return(1));
                add(&s, B, send_kept(XNS_KIND_MUTABLE_BORROW, 6));
                add(&s, A, receive(SID(1)));
                add(&s, A2 | FIX_GEN, memory_return(1));
        }
        add(&s, B, (struct xns_request){ .op = XNS_OP_BUF_FORGET, .buf_forget = 5 });
        add(&s, B, send_kept(XNS_KIND_BORROW, 5));
        add(&s, B, send_kept(XNS_KIND_MUTABLE_BORROW, 6));
        add(&s, A, receive(SID(1)));
        done(&s, "kept");

        /* A full queue (depth 4): the fifth non-blocking send stalls until A receives. */
        add(&s, A, register_name("fuzz.full"));
        add(&s, B, request_connection("fuzz.full", false));
        for (int i = 0; i < 5; i++)
                add(&s, B, send_msg(CID_FIRST, XNS_KIND_SCALAR, 0));
        add(&s, A, receive(SID(1)));
        add(&s, A, receive(SID(1)));
        done(&s, "queue-full");

        /* Waiting for a name, and for a SID, that appear later. */
        add(&s, B, request_connection("fuzz.later", true));
        add(&s, A, register_name("fuzz.later"));
        add(&s, B, (struct xns_request){ .op = XNS_OP_CONNECT, .connect = { SID(2), true } });
        add(&s, A, (struct xns_request){ .op = XNS_OP_CREATE_SERVER });
        add(&s, B, (struct xns_request){ .op = XNS_OP_DISCONNECT, .cid = CID_FIRST });
        add(&s, A, (struct xns_request){ .op = XNS_OP_DESTROY_SERVER, .sid = SID(2) });
        add(&s, A, (struct xns_request){ .op = XNS_OP_UNREGISTER_SERVER, .sid = SID(1) });
        add(&s, A, (struct xns_request){ .op = XNS_OP_TRUSTED_INIT_DONE });
        done(&s, "wait-and-teardown");

        /* A server forwards a call to its other server, then answers it there. */
        add(&s, A, register_name("fuzz.front"));
        add(&s, A, (struct xns_request){ .op = XNS_OP_CREATE_SERVER });
        add(&s, A, (struct xns_request){ .op = XNS_OP_CONNECT, .connect = { SID(2), false } });
        add(&s, B, request_connection("fuzz.front", false));
        add(&s, B, send_msg(CID_FIRST, XNS_KIND_BLOCKING_SCALAR, 0));
        add(&s, A, receive(SID(1)));
        add(&s, A2 | FIX_GEN, (struct xns_request){
                .op = XNS_OP_FORWARD, .forward = { .handle = 1, .cid = CID_FIRST, .id = 9 } });
        add(&s, A, receive(SID(2)));
        add(&s, A2 | FIX_GEN, (struct xns_request){
                .op = XNS_OP_RECEIVE,
                .receive = { .sid = SID(2), .nowait = true, .has_ret = true,
                             .ret = { .handle = 1, .how = XNS_RETURN_SCALAR, .count = 2, .v = { 5, 6 } } } });
        done(&s, "forward");

        /* The server's process hangs up on a blocked caller. */
        add(&s, A, register_name("fuzz.gone"));
        add(&s, B, request_connection("fuzz.gone", false));
        add(&s, B, send_msg(CID_FIRST, XNS_KIND_BLOCKING_SCALAR, 0));
        add(&s, A, receive(SID(1)));
        add(&s, A | HANG_UP, (struct xns_request){ .op = XNS_OP_TRUSTED_INIT_DONE });
        add(&s, A2 | HANG_UP, (struct xns_request){ .op = XNS_OP_TRUSTED_INIT_DONE });
        done(&s, "hang-up");

        /* A new link: Hello as a new process, and as a further link of A
         * (whose token fuzz-route makes start with byte 1). */
        add(&s, NEW, (struct xns_request){ .op = XNS_OP_HELLO, .hello = { .version = XNS_PROTOCOL_VERSION } });
        add(&s, NEW, register_name("fuzz.new"));
        done(&s, "hello");
        add(&s, NEW, (struct xns_request){ .op = XNS_OP_HELLO,
                                           .hello = { XNS_PROTOCOL_VERSION, true, { 1 } } });
        add(&s, NEW, (struct xns_request){ .op = XNS_OP_CREATE_SERVER });
        done(&s, "hello-token");

        /* xnsctl's requests, from a link without Hello; a monitor that sees a call. */
        for (uint32_t what = XNS_CONTROL_STATUS; what < _XNS_CONTROL_MAX; what++) {
                char file[32];

                if (what == XNS_CONTROL_MONITOR)
                        continue;
                add(&s, A, register_name("fuzz.ctl"));
                add(&s, NEW, control(what));
                snprintf(file, sizeof(file), "control-%u", what);
                done(&s, file);
        }
        add(&s, NEW, control(XNS_CONTROL_MONITOR));
        call_session(&s, XNS_KIND_BLOCKING_SCALAR, 0);
        done(&s, "monitor");

        /* Posted Scalars through A's ring: one published and kicked, which
         * B receives; then B waits first and two more come (the second
         * rides behind the first's delivery), A asking for an Ack. */
        ring_session(&s);
        ring_write_head(&s, A, 1);
        add(&s, A, (struct xns_request){ .op = XNS_OP_KICK });
        add(&s, B, receive(SID(1)));
        add(&s, B, receive(SID(1)));
        {
                /* The indexes and slots 0..2 in one write, from the start. */
                static const struct xns_ring ring = {
                        .head = 3, .want_room = 1,
                        .slot = { [1] = { CID_FIRST, 8, { 5, 6, 7, 8 } }, [2] = { CID_FIRST, 9, { 9, 10, 11, 12 } } },
                };

                ring_write(&s, A, 0, &ring, offsetof(struct xns_ring, slot) + 3 * sizeof(struct xns_ring_slot));
        }
        done(&s, "ring");

        /* A head no ring can have: xnsd cuts A's link at its next look;
         * A's other link and B live on. */
        ring_session(&s);
        ring_write_head(&s, A, 1000);
        add(&s, A2, request_connection("fuzz.ring", false));
        add(&s, B, receive(SID(1)));
        done(&s, "ring-bad-head");

        /* A publishes and hangs up at once: the last look at its ring
         * still sends the Scalar, which B receives. */
        ring_session(&s);
        {
                uint8_t rec[1 + 4] = { 0, 1 };  /* offset 0: head = 1 */

                add_record(&s, A | RING_WRITE | HANG_UP, rec, sizeof(rec));
        }
        add(&s, B, receive(SID(1)));
        done(&s, "ring-hang-up");

        /* Six Scalars for a queue of four: the ring waits at the fifth
         * (A's link is not read meanwhile) until B's receive makes room,
         * then the rest follow in another pass. */
        {
                struct xns_ring ring = { .head = 6 };

                for (uint32_t i = 0; i < 6; i++)
                        ring.slot[i] = (struct xns_ring_slot){ CID_FIRST, 10 + i, { i } };
                ring_session(&s);
                ring_write(&s, A, 0, &ring, offsetof(struct xns_ring, slot) + 6 * sizeof(struct xns_ring_slot));
                add(&s, B, receive(SID(1)));
                add(&s, B, receive(SID(1)));
                done(&s, "ring-full");

                /* The same, but B's process goes while A's ring waits: the
                 * Scalar fails, and A hears so in an Ack. */
                ring_session(&s);
                ring_write(&s, A, 0, &ring, offsetof(struct xns_ring, slot) + 6 * sizeof(struct xns_ring_slot));
                add(&s, B | HANG_UP, (struct xns_request){ .op = XNS_OP_TRUSTED_INIT_DONE });
                add(&s, A, (struct xns_request){ .op = XNS_OP_KICK });
                done(&s, "ring-full-gone");
        }

        /* B gives up on its call (a Cancel of its seq); A receives the
         * message of a caller that is gone and answers it. */
        add(&s, A, register_name("fuzz.cancel"));
        add(&s, B, request_connection("fuzz.cancel", false));
        add(&s, B, send_msg(CID_FIRST, XNS_KIND_BLOCKING_SCALAR, 0));
        add(&s, B, (struct xns_request){ .op = XNS_OP_CANCEL, .cancel = s.seq });
        add(&s, A, receive(SID(1)));
        add(&s, A2 | FIX_GEN, scalar_return(1));
        done(&s, "cancel-call");

        /* The same for a lend, with a descriptor beside the Cancel; and a
         * receive that A abandons. */
        add(&s, A, register_name("fuzz.cancel"));
        add(&s, B, request_connection("fuzz.cancel", false));
        add(&s, B | MEMFD, send_msg(CID_FIRST, XNS_KIND_MUTABLE_BORROW, XNS_PAGE_SIZE));
        add(&s, B | MEMFD, (struct xns_request){ .op = XNS_OP_CANCEL, .cancel = s.seq });
        add(&s, A2, receive(SID(1)));
        add(&s, A2, (struct xns_request){ .op = XNS_OP_CANCEL, .cancel = s.seq });
        add(&s, A, receive(SID(1)));
        done(&s, "cancel-lend");

        /* A watches its server (a timerfd comes back), B tries to watch
         * it too; a Scalar arrives and A takes it. */
        add(&s, A, register_name("fuzz.watch"));
        add(&s, A, (struct xns_request){ .op = XNS_OP_WATCH_SERVER, .sid = SID(1) });
        add(&s, B, (struct xns_request){ .op = XNS_OP_WATCH_SERVER, .sid = SID(1) });
        add(&s, B, request_connection("fuzz.watch", false));
        add(&s, B, send_msg(CID_FIRST, XNS_KIND_SCALAR, 0));
        add(&s, A, receive(SID(1)));
        add(&s, A, (struct xns_request){ .op = XNS_OP_DESTROY_SERVER, .sid = SID(1) });
        done(&s, "watch");
}

/* fuzz-channel's records: link A or B in bit 0, what the client does in
 * bits 1-3 (its enum action), a read-only descriptor, a generation fixed. */
enum { CH_A = 0, CH_B = 1 };
enum { CH_FRAME = 0 << 1, CH_FRAME_FD = 1 << 1, CH_SCRIBBLE = 2 << 1, CH_DATAGRAM = 3 << 1, CH_HANG_UP = 4 << 1,
       CH_TAKE = 5 << 1, CH_QUIET = 6 << 1, CH_RING = 7 << 1, CH_RDONLY = 0x10, CH_FIX_GEN = 0x20 };

/* A registers a name, B connects and calls by the channel; A answers. */
static void channel_call(struct session *s, uint32_t kind, uint8_t how) {
        uint32_t len = xns_kind_is_memory(kind) ? XNS_PAGE_SIZE : 0;

        add(s, CH_A | CH_FRAME, register_name("fuzz.chan"));
        add(s, CH_B | CH_QUIET, request_connection("fuzz.chan", false));
        add_record(s, CH_B | CH_RING, "", 0);
        add(s, CH_B | how, send_msg(CID_FIRST, kind, len));
        add(s, CH_A | CH_FRAME, receive(SID(1)));
        add_record(s, CH_A | CH_TAKE, "", 0);
        if (kind == XNS_KIND_BLOCKING_SCALAR)
                add(s, CH_A | CH_FRAME | CH_FIX_GEN, scalar_return(1));
        else if (xns_kind_blocks(kind))
                add(s, CH_A | CH_FRAME | CH_FIX_GEN, memory_return(1));
        add_record(s, CH_B | CH_TAKE, "", 0);
}

static void channel_sessions(void) {
        static const uint8_t head_lie[] = { 0, 0xf8, 0xff, 0, 0 };
        static const uint8_t junk[] = { 1, 2, 3 };
        struct session s = { 0 };

        channel_call(&s, XNS_KIND_BLOCKING_SCALAR, CH_FRAME);
        done_in(&s, "channel", "blocking-scalar");
        channel_call(&s, XNS_KIND_BORROW, CH_FRAME_FD | CH_RDONLY);
        done_in(&s, "channel", "borrow");
        channel_call(&s, XNS_KIND_MUTABLE_BORROW, CH_FRAME_FD);
        done_in(&s, "channel", "mutable-borrow");
        channel_call(&s, XNS_KIND_SCALAR, CH_FRAME);
        add_record(&s, CH_B | CH_HANG_UP, "", 0);
        done_in(&s, "channel", "scalar-hang-up");
        add(&s, CH_A | CH_FRAME, register_name("fuzz.chan"));
        add_record(&s, CH_A | CH_SCRIBBLE, head_lie, sizeof(head_lie));
        done_in(&s, "channel", "head-lie");
        add_record(&s, CH_B | CH_DATAGRAM, junk, sizeof(junk));
        add(&s, CH_B | CH_FRAME_FD, send_msg(CID_FIRST, XNS_KIND_MOVE, XNS_PAGE_SIZE));
        done_in(&s, "channel", "datagram");
}

static void wire_request(const char *file, struct xns_request req) {
        uint8_t buf[1 + XNS_FRAME_MAX] = { 1 };
        ssize_t n = xns_request_encode(&req, buf + 1, XNS_FRAME_MAX);

        if (n < 0) {
                errno = (int)-n;
                die(file);
        }
        write_file("wire", file, buf, 1 + (size_t)n);
}

static void wire_reply(const char *file, struct xns_reply reply) {
        uint8_t buf[1 + XNS_FRAME_MAX] = { 0 };
        ssize_t n = xns_reply_encode(&reply, buf + 1, XNS_FRAME_MAX);

        if (n < 0) {
                errno = (int)-n;
                die(file);
        }
        write_file("wire", file, buf, 1 + (size_t)n);
}

static void wire_frames(void) {
        wire_request("req-hello", (struct xns_request){ .seq = 1, .op = XNS_OP_HELLO,
                                                        .hello = { XNS_PROTOCOL_VERSION, true, { 9 } } });
        wire_request("req-register", register_name("fuzz.wire"));
        wire_request("req-send", send_msg(2, XNS_KIND_MUTABLE_BORROW, XNS_PAGE_SIZE));
        wire_request("req-receive", (struct xns_request){
                .op = XNS_OP_RECEIVE,
                .receive = { .sid = SID(1), .has_ret = true,
                             .ret = { .handle = 1, .gen = 2, .how = XNS_RETURN_SCALAR, .count = 5 } } });
        wire_request("req-cancel", (struct xns_request){ .op = XNS_OP_CANCEL, .cancel = 7 });
        wire_request("req-watch", (struct xns_request){ .seq = 3, .op = XNS_OP_WATCH_SERVER, .sid = SID(1) });
        wire_request("req-control", (struct xns_request){
                .op = XNS_OP_CONTROL, .control = { .what = XNS_CONTROL_SHOW, .n_names = 1, .names = { name("x") } } });

        wire_reply("rep-token", (struct xns_reply){ .seq = 1, .body = XNS_BODY_TOKEN, .token = { 1 } });
        wire_reply("rep-sid", (struct xns_reply){ .seq = 2, .body = XNS_BODY_SID, .sid = SID(1) });
        wire_reply("rep-cid", (struct xns_reply){ .seq = 3, .body = XNS_BODY_CID, .cid = 2 });
        wire_reply("rep-error", (struct xns_reply){ .seq = 4, .error = 9 });
        wire_reply("rep-delivery", (struct xns_reply){
                .seq = 5, .body = XNS_BODY_DELIVERY,
                .delivery = { .handle = 1, .gen = 1, .kind = XNS_KIND_BORROW, .id = 3, .a = { 1, 2, 3, 4 },
                              .len = XNS_PAGE_SIZE, .valid = 10, .sender_pid = 100 } });
        wire_reply("rep-scalar", (struct xns_reply){ .seq = 6, .body = XNS_BODY_SCALAR,
                                                     .scalar = { 5, { 1, 2, 3, 4, 5 } } });
        wire_reply("rep-memory", (struct xns_reply){ .seq = 7, .body = XNS_BODY_MEMORY, .memory = { 8, 16 } });
        wire_reply("rep-snapshot", (struct xns_reply){ .seq = 8, .body = XNS_BODY_SNAPSHOT, .snapshot = 100 });
        wire_reply("rep-event", (struct xns_reply){
                .seq = 9, .body = XNS_BODY_EVENT,
                .event = { .time_us = 12345, .pid = 100, .server = name("fuzz.srv"), .sid = SID(1),
                           .kind = XNS_KIND_BLOCKING_SCALAR, .id = 1, .count = 1, .v = { 7 } } });
}

/* fuzz-frame's input: the type byte (_FRAME_TYPE_MAX: a NameEntry), then the encoding. */
static void frame_seed(const char *file, uint8_t type, int r, uint8_t *enc, size_t len) {
        uint8_t *buf;

        if (r < 0) {
                errno = -r;
                die(file);
        }
        buf = malloc(1 + len);
        if (!buf)
                die(file);
        buf[0] = type;
        memcpy(buf + 1, enc, len);
        write_file("frame", file, buf, 1 + len);
        free(buf);
        free(enc);
}

static void frame_write(const char *file, struct frame f) {
        uint8_t *enc = NULL;
        size_t len = 0;
        int r = frame_encode(&f, &enc, &len);

        frame_seed(file, (uint8_t)f.type, r, enc, len);
}

/* fuzz-frame's NATS messages (FUZZ_CHUNKS): header, then the payload. */
struct chunks_seed {
        uint8_t buf[1 << 16];
        size_t len;
};

static void chunks_msg(struct chunks_seed *cs, unsigned sender, enum frame_type type, const uint8_t *payload,
                       size_t n) {
        if (cs->len + 4 + n > sizeof(cs->buf) || n > UINT16_MAX)
                die("chunks seed");
        cs->buf[cs->len] = (uint8_t)(type << 2 | sender);
        cs->buf[cs->len + 1] = (uint8_t)n;
        cs->buf[cs->len + 2] = (uint8_t)(n >> 8);
        cs->buf[cs->len + 3] = 0;
        memcpy(cs->buf + cs->len + 4, payload, n);
        cs->len += 4 + n;
}

/* A batch of a frame twice, the frame alone, and the frame in three parts. */
static void chunks_seeds(const struct frame *f) {
        static struct chunks_seed cs;
        static uint8_t msg[1 << 15];
        uint8_t *enc = NULL;
        size_t len = 0, part;

        if (frame_encode(f, &enc, &len) < 0 || CHUNK_PREFIX + 2 * (CHUNK_RECORD + len) > sizeof(msg))
                die("chunks seed");
        cs.len = 0;
        cs.buf[cs.len++] = _FRAME_TYPE_MAX + 1;
        chunk_prefix_put(msg, 1, 0, 0);
        chunk_record_put(msg + CHUNK_PREFIX, enc, len);
        chunk_record_put(msg + CHUNK_PREFIX + CHUNK_RECORD + len, enc, len);
        chunks_msg(&cs, 0, f->type, msg, CHUNK_PREFIX + 2 * (CHUNK_RECORD + len));
        chunk_prefix_put(msg, 2, 0, 1);
        memcpy(msg + CHUNK_PREFIX, enc, len);
        chunks_msg(&cs, 1, f->type, msg, CHUNK_PREFIX + len);
        part = (len + 2) / 3;
        for (uint32_t i = 0; i < 3; i++) {
                size_t off = i * part, n = off >= len ? 0 : len - off < part ? len - off : part;

                chunk_prefix_put(msg, 3, i, 3);
                memcpy(msg + CHUNK_PREFIX, enc + off, n);
                chunks_msg(&cs, 2, f->type, msg, CHUNK_PREFIX + n);
        }
        write_file("frame", f->type == FRAME_CALL ? "chunks-call" : "chunks-answer", cs.buf, cs.len);
        free(enc);
}

static void frames(void) {
        static uint8_t pages[2 * XNS_PAGE_SIZE];
        const struct xns_sid sid = SID(1);
        struct frame_name_entry entry = { .host = "host-b", .sid = sid, .max_conns = 4, .epoch = 77 };
        uint8_t *enc = NULL;
        size_t len = 0;
        int r;

        for (size_t i = 0; i < sizeof(pages); i++)
                pages[i] = (uint8_t)(i * 7);
        frame_write("hb", (struct frame){ .type = FRAME_HEARTBEAT, .hb = { "host-a", 0x1122334455667788, 3 } });
        frame_write("call-scalar", (struct frame){
                .type = FRAME_CALL,
                .call = { .epoch = 77, .call = 1, .sid = sid, .pid = 100, .uid = 1000,
                          .kind = XNS_KIND_BLOCKING_SCALAR, .id = 7, .a = { 1, 2, 3, 4 } } });
        frame_write("call-borrow-2-pages", (struct frame){
                .type = FRAME_CALL,
                .call = { .epoch = 77, .call = 2, .sid = sid, .pid = 100, .uid = 1000,
                          .kind = XNS_KIND_MUTABLE_BORROW, .id = 8, .len = sizeof(pages), .offset = 16,
                          .valid = 100, .data = pages, .data_len = sizeof(pages) } });
        frame_write("answer-scalar", (struct frame){
                .type = FRAME_ANSWER, .answer = { .epoch = 77, .call = 1, .count = 5, .v = { 1, 2, 3, 4, 5 } } });
        frame_write("answer-memory", (struct frame){
                .type = FRAME_ANSWER,
                .answer = { .epoch = 77, .call = 2, .offset = 16, .valid = 50, .data = pages,
                            .data_len = XNS_PAGE_SIZE } });
        frame_write("answer-memory-at", (struct frame){
                .type = FRAME_ANSWER,
                .answer = { .epoch = 77, .call = 3, .offset = 16, .valid = 50, .data = pages,
                            .data_len = XNS_PAGE_SIZE, .data_at = 2 * XNS_PAGE_SIZE } });
        frame_write("answer-error", (struct frame){ .type = FRAME_ANSWER, .answer = { .call = 3, .error = 9 } });
        frame_write("grant-name", (struct frame){
                .type = FRAME_GRANT, .grant = { .call = 4, .name = name("fuzz.frame"), .pid = 100, .uid = 1000 } });
        frame_write("grant-sid", (struct frame){ .type = FRAME_GRANT, .grant = { .call = 5, .sid = sid, .pid = 100 } });
        frame_write("granted", (struct frame){ .type = FRAME_GRANTED, .granted = { .call = 4, .sid = sid } });
        frame_write("gone-pid", (struct frame){ .type = FRAME_GONE, .gone = { .pid = 100 } });
        frame_write("gone-sid", (struct frame){ .type = FRAME_GONE, .gone = { .sid = sid } });
        frame_write("probe", (struct frame){ .type = FRAME_PROBE, .probe = { 77, 2, true } });
        frame_write("probed", (struct frame){ .type = FRAME_PROBED, .probed = { 77, 2, true } });
        r = frame_name_entry_encode(&entry, &enc, &len);
        frame_seed("name-entry", _FRAME_TYPE_MAX, r, enc, len);
        chunks_seeds(&(struct frame){
                .type = FRAME_CALL,
                .call = { .epoch = 77, .call = 9, .sid = sid, .pid = 100, .uid = 1000,
                          .kind = XNS_KIND_BORROW, .id = 8, .len = XNS_PAGE_SIZE, .data = pages,
                          .data_len = XNS_PAGE_SIZE } });
        chunks_seeds(&(struct frame){
                .type = FRAME_ANSWER, .answer = { .epoch = 77, .call = 1, .count = 2, .v = { 1, 2 } } });
}

int main(int argc, char **argv) {
        char path[512];

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        out_dir = argv[1];
        for (const char *const *sub = (const char *const[]){ "", "/channel", "/frame", "/route", "/wire", NULL }; *sub; sub++) {
                snprintf(path, sizeof(path), "%s%s", out_dir, *sub);
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        die(path);
        }
        route_sessions();
        channel_sessions();
        wire_frames();
        frames();
        return 0;
}
