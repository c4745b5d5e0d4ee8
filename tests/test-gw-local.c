/* test-gw-local.c: the gateway's side of xnsd (xnsgw/local*.c) against a
 * real xnsd: the test is the bridge, with real client and server processes. */
#include <errno.h>
#include <signal.h>
#include <event2/event.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "local.h"
#include "macro.h"

#define HOST "here"
#define ORIGIN_PID 4242u
#define N_SCALARS 100
#define QUEUE_DEPTH 64                  /* the harness's xnsd: a server's queue */

/* What the bridge of a test does with a message to a proxy. */
enum bridge_mode {
        ANSWER,         /* each kind as the client below expects */
        HOLD,           /* keep the message in held */
        FAIL,           /* local_msg_fail(fail_error) */
};

struct msg_seen {
        uint32_t kind, id, a0, len, sender_pid, sender_uid;
        bool pattern_ok;
};

struct bridge {
        struct event_base *base;
        struct event *tick;
        struct local *l;
        uint32_t tag;
        enum bridge_mode mode;
        uint32_t fail_error;
        struct local_msg *held;
        unsigned n_seen;
        struct msg_seen seen[8];
        bool gone;
        /* the last done callback */
        unsigned n_done;
        uint32_t done_error;
        struct local_result result;
        uint8_t result_data[2 * PAGE];
        unsigned n_scalars_done, n_scalars_in_order;
        /* a lookup the bridge answers with a proxy */
        uint32_t lookup_ticket, lookup_pid;
        unsigned n_lookups;
};

static struct xns_sid wire_sid(xous_sid_t s) {
        struct xns_sid w;

        memcpy(w.w, s.w, sizeof(w.w));
        return w;
}

static xous_sid_t xous_sid(struct xns_sid w) {
        xous_sid_t s;

        memcpy(s.w, w.w, sizeof(s.w));
        return s;
}

/* --- the bridge --------------------------------------------------------- */

static void bridge_answer(struct bridge *b, struct local_msg *m) {
        static uint8_t page[PAGE];
        uint32_t v[5] = { m->a[0] + 1 };

        switch (m->kind) {
        case XNS_KIND_BLOCKING_SCALAR:
                return local_msg_answer_scalar(b->l, m, 1, v);
        case XNS_KIND_BORROW:
                return local_msg_answer_memory(b->l, m, NULL, 0, 0, m->offset, m->valid);
        case XNS_KIND_MUTABLE_BORROW:
                fill_pattern(page, sizeof(page), 9);
                return local_msg_answer_memory(b->l, m, page, sizeof(page), 0, 3, 4);
        default:
                return local_msg_done(b->l, m);
        }
}

static void on_message(void *userdata, struct local_msg *m) {
        struct bridge *b = userdata;
        uint32_t seed = 6 + m->id;     /* the client's patterns */

        if (b->n_seen < ELEMENTSOF(b->seen))
                b->seen[b->n_seen] = (struct msg_seen){
                        .kind = m->kind, .id = m->id, .a0 = m->a[0], .len = m->len,
                        .sender_pid = m->sender_pid, .sender_uid = m->sender_uid,
                        .pattern_ok = m->data && check_pattern(m->data, m->len, seed),
                };
        b->n_seen++;
        switch (b->mode) {
        case ANSWER:
                return bridge_answer(b, m);
        case HOLD:
                b->held = m;
                return;
        case FAIL:
                return local_msg_fail(b->l, m, b->fail_error);
        }
}

static struct xns_sid foreign_sid(const struct bridge *b) {
        return (struct xns_sid){ { b->tag + 1, 0x1111, 0x2222, 0x3333 } };
}

static void on_lookup_proxied(void *userdata, uint32_t error, const struct xns_sid *sid) {
        struct bridge *b = userdata;

        local_answer(b->l, b->lookup_ticket, error, error == 0 ? sid : NULL);
}

/* "gw-far" is found elsewhere: behind a proxy; nothing else is. */
static void on_event(void *userdata, const struct xns_gateway_event *e) {
        struct bridge *b = userdata;
        struct xns_sid sid = foreign_sid(b);

        if (e->what == XNS_GATEWAY_LOOKUP && strcmp(e->name.str, "gw-far") == 0) {
                b->n_lookups++;
                b->lookup_ticket = e->ticket;
                b->lookup_pid = e->pid;
                EXPECT_EQ(local_proxy_add(b->l, &sid, on_lookup_proxied, b), 0);
                return;
        }
        local_answer(b->l, e->ticket, XNS_ERR_SERVER_NOT_FOUND, NULL);
}

static void on_gone(void *userdata) {
        struct bridge *b = userdata;

        b->gone = true;
}

static void on_done(void *userdata, uint32_t error, const struct xns_sid *sid) {
        struct bridge *b = userdata;

        b->n_done++;
        b->done_error = error;
}

static void on_call_done(void *userdata, const struct local_result *r) {
        struct bridge *b = userdata;

        b->n_done++;
        b->result = *r;
        if (r->data && r->data_len <= sizeof(b->result_data))
                memcpy(b->result_data, r->data, r->data_len);
}

/* The Scalars of the order test: each knows which it was. */
struct scalar_ticket {
        struct bridge *b;
        unsigned i;
};

static void on_scalar_done(void *userdata, const struct local_result *r) {
        struct scalar_ticket *t = userdata;
        struct bridge *b = t->b;

        if (r->error == 0 && t->i == b->n_scalars_done)
                b->n_scalars_in_order++;
        b->n_scalars_done++;
}

static void tick(evutil_socket_t fd, short what, void *arg) {
}

static void bridge_init(struct bridge *b) {
        static const struct timeval every = { 0, 20000 };

        memset(b, 0, sizeof(*b));
        b->base = event_base_new();
        EXPECT(b->base);
        b->tick = event_new(b->base, -1, EV_PERSIST, tick, NULL);
        EXPECT(b->tick && event_add(b->tick, &every) == 0);
}

static int bridge_attach(struct bridge *b, struct local **l, uint32_t *tag, char *why, size_t why_size) {
        const char *exports[] = { "gw-*" };
        const struct local_hooks hooks = {
                .userdata = b, .event = on_event, .message = on_message, .gone = on_gone,
        };

        return local_new(l, b->base, harness_socket_path(), HOST, exports, ELEMENTSOF(exports), &hooks, tag,
                         why, why_size);
}

static void bridge_start(struct bridge *b) {
        char why[256] = "";
        int r;

        bridge_init(b);
        r = bridge_attach(b, &b->l, &b->tag, why, sizeof(why));
        EXPECT_MSG(r == 0, "local_new: %s (%s)", strerror(-r), why);
        EXPECT(b->tag != 0);
}

static void bridge_stop(struct bridge *b) {
        b->l = local_free(b->l);
        event_free(b->tick);
        event_base_free(b->base);
}

/* Runs the loop until cond holds, at most HARNESS_WAIT_MS. */
#define RUN_UNTIL(b, cond)                                                              \
        do {                                                                            \
                uint64_t _end = now_ms() + HARNESS_WAIT_MS;                             \
                while (!(cond)) {                                                       \
                        EXPECT_MSG(now_ms() < _end, "timed out waiting for %s (scalars done: %u)", #cond, (b)->n_scalars_done); \
                        event_base_loop((b)->base, EVLOOP_ONCE);                        \
                }                                                                       \
        } while (0)

static void set_flag(evutil_socket_t fd, short what, void *arg) {
        *(bool *)arg = true;
}

/* Runs the loop until child p has said something, and reads it. */
static uint32_t bridge_recv_u32(struct bridge *b, struct proc *p) {
        bool readable = false;
        struct event *ev = event_new(b->base, p->chan, EV_READ, set_flag, &readable);

        EXPECT(ev && event_add(ev, NULL) == 0);
        RUN_UNTIL(b, readable);
        event_free(ev);
        return proc_recv_u32(p);
}

static void bridge_add_proxy(struct bridge *b, const struct xns_sid *sid) {
        unsigned n = b->n_done;

        EXPECT_EQ(local_proxy_add(b->l, sid, on_done, b), 0);
        RUN_UNTIL(b, b->n_done > n);
        EXPECT_ERR(b->done_error, 0);
        EXPECT(local_proxy_exists(b->l, sid));
}

/* --- attaching ---------------------------------------------------------- */

START_TEST(attach_gives_tag_once) {
        struct bridge b;
        struct local *second = NULL;
        uint32_t tag = 0;
        char why[256] = "";

        bridge_start(&b);
        EXPECT_EQ(bridge_attach(&b, &second, &tag, why, sizeof(why)), -EEXIST);
        EXPECT(!second);
        EXPECT(strlen(why) > 0);
        bridge_stop(&b);
}
END_TEST

START_TEST(xnsd_exit_is_gone) {
        struct bridge b;
        struct xns_sid sid;

        bridge_start(&b);
        sid = foreign_sid(&b);
        bridge_add_proxy(&b, &sid);
        harness_daemon_kill(SIGTERM);
        RUN_UNTIL(&b, b.gone);
        EXPECT_EQ(local_proxy_add(b.l, &sid, on_done, &b), -ESHUTDOWN);
        EXPECT_EQ(local_call(b.l, &(struct local_call){ .origin = { .host = "there", .pid = 1 },
                                                         .kind = XNS_KIND_SCALAR }, on_call_done, &b), -ESHUTDOWN);
        bridge_stop(&b);
}
END_TEST

/* --- proxies: local callers, the bridge answers ------------------------- */

static xous_buf_t *buf_with_pattern(size_t len, uint32_t seed) {
        xous_buf_t *buf = xous_buf_new(len);

        EXPECT(buf);
        fill_pattern(xous_buf_data(buf), xous_buf_len(buf), seed);
        return buf;
}

/* Sends each kind to the proxy; id n carries pattern 6 + n. */
static void proxy_client(void *arg) {
        xous_sid_t sid = parent_recv_sid();
        xous_scalar_reply_t r = { 0 };
        xous_buf_t *borrow = buf_with_pattern(2 * PAGE, 6 + 3);
        xous_buf_t *mut = buf_with_pattern(PAGE, 6 + 4);
        xous_buf_t *move = buf_with_pattern(PAGE, 6 + 5);
        uint32_t offset = 1, valid = 2;
        xous_cid_t cid;

        EXPECT_OK(xous_connect(sid, &cid));
        EXPECT_OK(xous_send_scalar(cid, 1, 10, 20, 30, 40));
        EXPECT_OK(xous_blocking_scalar(cid, 2, 41, 0, 0, 0, &r));
        EXPECT_EQ(r.count, 1);
        EXPECT_EQ(r.v[0], 42);
        EXPECT_OK(xous_lend(cid, 3, borrow, 5, 100));
        EXPECT_OK(xous_lend_mut(cid, 4, mut, &offset, &valid));
        EXPECT_EQ(offset, 3);
        EXPECT_EQ(valid, 4);
        EXPECT_MSG(check_pattern(xous_buf_data(mut), PAGE, 9), "the bridge's bytes did not arrive");
        EXPECT_OK(xous_send(cid, 5, move, 0, PAGE));
        xous_buf_free(borrow);
        xous_buf_free(mut);
        parent_send_u32(1);
}

START_TEST(proxy_carries_each_kind) {
        static const uint32_t kinds[] = { XNS_KIND_SCALAR, XNS_KIND_BLOCKING_SCALAR, XNS_KIND_BORROW,
                                          XNS_KIND_MUTABLE_BORROW, XNS_KIND_MOVE };
        struct bridge b;
        struct proc client;
        struct xns_sid sid;

        proc_start(&client, "client", proxy_client, NULL);
        bridge_start(&b);
        sid = foreign_sid(&b);
        bridge_add_proxy(&b, &sid);
        proc_send_sid(&client, xous_sid(sid));
        EXPECT_EQ(bridge_recv_u32(&b, &client), 1);
        RUN_UNTIL(&b, b.n_seen == 5);
        for (unsigned i = 0; i < 5; i++) {
                EXPECT_EQ(b.seen[i].kind, kinds[i]);
                EXPECT_EQ(b.seen[i].id, i + 1);
                EXPECT_EQ(b.seen[i].sender_pid, client.pid);
                EXPECT_EQ(b.seen[i].sender_uid, getuid());
        }
        EXPECT_EQ(b.seen[0].a0, 10);
        EXPECT_EQ(b.seen[2].len, 2 * PAGE);
        EXPECT_MSG(b.seen[2].pattern_ok, "the Borrow's bytes");
        EXPECT_MSG(b.seen[3].pattern_ok, "the MutableBorrow's bytes");
        EXPECT_MSG(b.seen[4].pattern_ok, "the Move's bytes");
        proc_wait_exit(&client, 0);
        bridge_stop(&b);
}
END_TEST

/* One BlockingScalar to the proxy, expecting want. */
static void proxy_blocked_caller(void *arg) {
        xous_sid_t sid = parent_recv_sid();
        xous_scalar_reply_t r;
        xous_cid_t cid;

        EXPECT_OK(xous_connect(sid, &cid));
        EXPECT_ERR(xous_blocking_scalar(cid, 1, 0, 0, 0, 0, &r), (xous_error_t)(uintptr_t)arg);
        parent_send_u32(1);
}

START_TEST(proxy_removal_wakes_caller) {
        struct bridge b;
        struct proc client;
        struct xns_sid sid;

        proc_start(&client, "client", proxy_blocked_caller, (void *)(uintptr_t)XOUS_ERR_SERVER_NOT_FOUND);
        bridge_start(&b);
        b.mode = HOLD;
        sid = foreign_sid(&b);
        bridge_add_proxy(&b, &sid);
        proc_send_sid(&client, xous_sid(sid));
        RUN_UNTIL(&b, b.held);
        local_proxy_remove(b.l, &sid);
        EXPECT(!local_proxy_exists(b.l, &sid));
        EXPECT_EQ(bridge_recv_u32(&b, &client), 1);
        local_msg_done(b.l, b.held);    /* too late: nobody waits */
        proc_wait_exit(&client, 0);
        bridge_stop(&b);
}
END_TEST

START_TEST(msg_fail_reaches_caller) {
        struct bridge b;
        struct proc client;
        struct xns_sid sid;

        proc_start(&client, "client", proxy_blocked_caller, (void *)(uintptr_t)XOUS_ERR_TIMEOUT);
        bridge_start(&b);
        b.mode = FAIL;
        b.fail_error = XNS_ERR_TIMEOUT;
        sid = foreign_sid(&b);
        bridge_add_proxy(&b, &sid);
        proc_send_sid(&client, xous_sid(sid));
        EXPECT_EQ(bridge_recv_u32(&b, &client), 1);
        proc_wait_exit(&client, 0);
        bridge_stop(&b);
}
END_TEST

/* A name not here: xnsd asks the bridge, which answers with a proxy. */
static void lookup_client(void *arg) {
        xous_scalar_reply_t r = { 0 };
        xous_cid_t cid;

        EXPECT_EQ(parent_recv_u32(), 1);
        EXPECT_OK(xous_request_connection("gw-far", &cid));
        EXPECT_OK(xous_blocking_scalar(cid, 2, 41, 0, 0, 0, &r));
        EXPECT_EQ(r.v[0], 42);
        EXPECT_ERR(xous_request_connection("gw-nowhere", &cid), XOUS_ERR_SERVER_NOT_FOUND);
        parent_send_u32(1);
}

START_TEST(lookup_answered_with_proxy) {
        struct bridge b;
        struct proc client;

        proc_start(&client, "client", lookup_client, NULL);
        bridge_start(&b);
        proc_send_u32(&client, 1);
        EXPECT_EQ(bridge_recv_u32(&b, &client), 1);
        EXPECT_EQ(b.n_lookups, 1);
        EXPECT_EQ(b.lookup_pid, client.pid);
        EXPECT_EQ(b.n_seen, 1);
        proc_wait_exit(&client, 0);
        bridge_stop(&b);
}
END_TEST

/* --- calls of a remote process into a server here ----------------------- */

enum { CALL_BS = 1, CALL_BORROW, CALL_MUT, CALL_MOVE, CALL_SCALAR, CALL_QUIT };

/* Registers gw-target, answers the calls of the tests below, checks that
 * every one comes from ORIGIN_PID and the Scalars come in order, and
 * reports how many did. With arg set, it receives only once the parent
 * says so. */
static void call_server(void *arg) {
        xous_sid_t sid;
        uint32_t n_scalars = 0, n_ok = 0;

        EXPECT_OK(xous_register_name("gw-target", 0, &sid));
        parent_send_sid(sid);
        if (arg)
                EXPECT_EQ(parent_recv_u32(), 1);
        for (;;) {
                xous_envelope_t *env = NULL;
                const uint32_t *a;
                uint32_t id;

                EXPECT_OK(xous_receive_message(sid, &env));
                a = xous_envelope_args(env);
                id = xous_envelope_id(env);
                EXPECT_EQ(xous_envelope_sender_pid(env), ORIGIN_PID);
                switch (id) {
                case CALL_BS:
                        EXPECT_OK(xous_return_scalar(env, a[0] + 1));
                        break;
                case CALL_BORROW:
                case CALL_MOVE:
                        EXPECT(check_pattern(xous_envelope_buf(env), xous_envelope_buf_len(env), 20 + id));
                        n_ok++;
                        break;
                case CALL_MUT:
                        EXPECT(check_pattern(xous_envelope_buf(env), PAGE, 20 + id));
                        fill_pattern(xous_envelope_buf(env), PAGE, 30);
                        xous_envelope_set_offset_valid(env, 7, 8);
                        break;
                case CALL_SCALAR:
                        EXPECT_EQ(a[0], n_scalars);
                        n_scalars++;
                        break;
                case CALL_QUIT:
                        EXPECT_OK(xous_return_scalar2(env, n_scalars, n_ok));
                        xous_envelope_drop(env);
                        return;
                }
                xous_envelope_drop(env);
        }
}

static const struct xns_origin origin = { .host = "there", .pid = ORIGIN_PID, .uid = 1000 };

/* One call, run to its end; the result is in b->result. */
static void bridge_call(struct bridge *b, const struct xns_sid *sid, uint32_t kind, uint32_t id, uint32_t a0,
                        const void *data, uint32_t len) {
        struct local_call c = {
                .origin = origin, .sid = *sid, .kind = kind, .id = id, .a = { a0 },
                .len = len, .offset = 1, .valid = 2, .data = data,
        };
        unsigned n = b->n_done;

        memset(&b->result, 0xff, sizeof(b->result));
        EXPECT_EQ(local_call(b->l, &c, on_call_done, b), 0);
        RUN_UNTIL(b, b->n_done > n);
        EXPECT_ERR(b->result.error, 0);
}

START_TEST(calls_reach_server_here) {
        static uint8_t page[2 * PAGE];
        static struct scalar_ticket tickets[N_SCALARS];
        struct bridge b;
        struct proc server;
        struct xns_sid sid;
        unsigned n;

        proc_start(&server, "server", call_server, NULL);
        sid = wire_sid(proc_recv_sid(&server));
        bridge_start(&b);
        EXPECT_EQ(sid.w[0], b.tag);

        n = b.n_done;
        EXPECT_EQ(local_grant_name(b.l, &origin, "gw-target", &sid, on_done, &b), 0);
        RUN_UNTIL(&b, b.n_done > n);
        EXPECT_ERR(b.done_error, 0);

        bridge_call(&b, &sid, XNS_KIND_BLOCKING_SCALAR, CALL_BS, 41, NULL, 0);
        EXPECT_EQ(b.result.count, 1);
        EXPECT_EQ(b.result.v[0], 42);

        fill_pattern(page, 2 * PAGE, 20 + CALL_BORROW);
        bridge_call(&b, &sid, XNS_KIND_BORROW, CALL_BORROW, 0, page, 2 * PAGE);

        fill_pattern(page, PAGE, 20 + CALL_MUT);
        bridge_call(&b, &sid, XNS_KIND_MUTABLE_BORROW, CALL_MUT, 0, page, PAGE);
        EXPECT_EQ(b.result.offset, 7);
        EXPECT_EQ(b.result.valid, 8);
        EXPECT_EQ(b.result.data_len, PAGE);
        EXPECT_MSG(check_pattern(b.result_data, PAGE, 30), "the server's bytes did not come back");

        fill_pattern(page, PAGE, 20 + CALL_MOVE);
        bridge_call(&b, &sid, XNS_KIND_MOVE, CALL_MOVE, 0, page, PAGE);

        for (unsigned i = 0; i < N_SCALARS; i++) {
                struct local_call c = { .origin = origin, .sid = sid, .kind = XNS_KIND_SCALAR, .id = CALL_SCALAR,
                                        .a = { i } };

                tickets[i] = (struct scalar_ticket){ .b = &b, .i = i };
                EXPECT_EQ(local_call(b.l, &c, on_scalar_done, &tickets[i]), 0);
        }
        bridge_call(&b, &sid, XNS_KIND_BLOCKING_SCALAR, CALL_QUIT, 0, NULL, 0);
        EXPECT_EQ(b.n_scalars_done, N_SCALARS);
        EXPECT_EQ(b.n_scalars_in_order, N_SCALARS);
        EXPECT_EQ(b.result.count, 2);
        EXPECT_EQ(b.result.v[0], N_SCALARS);
        EXPECT_EQ(b.result.v[1], 2);
        proc_wait_exit(&server, 0);
        bridge_stop(&b);
}
END_TEST

/* Scalars go into the ring of the session's post link. To a full queue:
 * XNS_RING_SLOTS fill the ring (xnsd holds the first of them back, stalled,
 * and reads no further), and what the origin sends after them waits in the
 * gateway, unanswered, until the server receives: then all arrive, in order. */
#define N_FLOOD (QUEUE_DEPTH + XNS_RING_SLOTS + 10)

START_TEST(full_queue_holds_origin_back) {
        static struct scalar_ticket tickets[N_FLOOD];
        struct bridge b;
        struct proc server;
        struct xns_sid sid;
        struct local_call c = { .origin = origin, .kind = XNS_KIND_BLOCKING_SCALAR, .id = CALL_QUIT };
        unsigned n;

        proc_start(&server, "server", call_server, (void *)1);
        sid = wire_sid(proc_recv_sid(&server));
        bridge_start(&b);
        for (unsigned i = 0; i < N_FLOOD; i++) {
                struct local_call sc = { .origin = origin, .sid = sid, .kind = XNS_KIND_SCALAR, .id = CALL_SCALAR,
                                         .a = { i } };

                tickets[i] = (struct scalar_ticket){ .b = &b, .i = i };
                EXPECT_EQ(local_call(b.l, &sc, on_scalar_done, &tickets[i]), 0);
        }
        c.sid = sid;
        n = b.n_done;
        EXPECT_EQ(local_call(b.l, &c, on_call_done, &b), 0);
        RUN_UNTIL(&b, b.n_scalars_done == QUEUE_DEPTH + XNS_RING_SLOTS);
        harness_wait_name("gw-target", QUEUE_DEPTH, 1, 0);
        event_base_loop(b.base, EVLOOP_NONBLOCK);       /* an Ack would be in by now */
        EXPECT_EQ(b.n_scalars_done, QUEUE_DEPTH + XNS_RING_SLOTS);
        EXPECT_EQ(b.n_done, n);
        proc_send_u32(&server, 1);
        RUN_UNTIL(&b, b.n_done > n);
        EXPECT_ERR(b.result.error, 0);
        EXPECT_EQ(b.n_scalars_in_order, N_FLOOD);
        EXPECT_EQ(b.result.v[0], N_FLOOD);
        proc_wait_exit(&server, 0);
        bridge_stop(&b);
}
END_TEST

/* Receives one message and holds it until the parent says 2. */
static void holding_server(void *arg) {
        xous_envelope_t *env = NULL;
        xous_sid_t sid;

        EXPECT_OK(xous_register_name("gw-hold", 0, &sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &env));
        EXPECT_EQ(xous_envelope_sender_pid(env), ORIGIN_PID);
        parent_send_u32(1);
        EXPECT_EQ(parent_recv_u32(), 2);
        xous_envelope_drop(env);
}

START_TEST(origin_gone_ends_its_calls) {
        struct bridge b;
        struct proc server;
        struct xns_sid sid;
        struct local_call c = { .origin = origin, .kind = XNS_KIND_BLOCKING_SCALAR, .id = 1 };
        unsigned n;

        proc_start(&server, "server", holding_server, NULL);
        sid = wire_sid(proc_recv_sid(&server));
        bridge_start(&b);
        c.sid = sid;
        n = b.n_done;
        EXPECT_EQ(local_call(b.l, &c, on_call_done, &b), 0);
        EXPECT_EQ(bridge_recv_u32(&b, &server), 1);
        EXPECT_EQ(b.n_done, n);
        /* nothing of it waits to be sent: the session closes, its call ends */
        local_origin_gone(b.l, origin.host, origin.pid);
        RUN_UNTIL(&b, b.n_done == n + 1);
        EXPECT_ERR(b.result.error, XOUS_ERR_SERVER_NOT_FOUND);
        harness_wait_peer_gone(ORIGIN_PID);
        proc_send_u32(&server, 2);
        proc_wait_exit(&server, 0);
        bridge_stop(&b);
}
END_TEST

START_TEST(call_to_unknown_sid_fails) {
        struct bridge b;
        struct xns_sid sid;
        struct local_call c = { .origin = origin, .kind = XNS_KIND_BLOCKING_SCALAR };
        unsigned n;

        bridge_start(&b);
        sid = (struct xns_sid){ { b.tag, 1, 2, 3 } };
        c.sid = sid;
        n = b.n_done;
        EXPECT_EQ(local_call(b.l, &c, on_call_done, &b), 0);
        RUN_UNTIL(&b, b.n_done > n);
        EXPECT_ERR(b.result.error, XOUS_ERR_SERVER_NOT_FOUND);
        bridge_stop(&b);
}
END_TEST

int main(void) {
        Suite *s = suite_create("gw-local");

        HARNESS_ADD(s, attach_gives_tag_once);
        HARNESS_ADD(s, xnsd_exit_is_gone);
        HARNESS_ADD(s, proxy_carries_each_kind);
        HARNESS_ADD(s, proxy_removal_wakes_caller);
        HARNESS_ADD(s, msg_fail_reaches_caller);
        HARNESS_ADD(s, calls_reach_server_here);
        HARNESS_ADD(s, lookup_answered_with_proxy);
        HARNESS_ADD(s, full_queue_holds_origin_back);
        HARNESS_ADD(s, origin_gone_ends_its_calls);
        HARNESS_ADD(s, call_to_unknown_sid_fails);
        return harness_run(s);
}
