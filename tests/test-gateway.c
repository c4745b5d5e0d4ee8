/* test-gateway.c: xnsd's side of the gateway to other hosts, with the test
 * speaking the gateway's frames to a real xnsd and real client processes. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "wire.h"

#define ANSWER_MS 5000

/* --- raw frames ------------------------------------------------------------ */

static void send_req(int fd, const struct xns_request *req) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_request_encode(req, buf, sizeof(buf));

        EXPECT_MSG(n > 0, "encode: %zd", n);
        EXPECT_MSG(xns_frame_send(fd, buf, (size_t)n, -1, false) == 0, "send: %s", strerror(errno));
}

/* The next frame on fd within ANSWER_MS. */
static void recv_reply(int fd, struct xns_reply *reply) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;
        int rfd = -1;

        EXPECT_MSG(poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, ANSWER_MS) == 1,
                   "no frame from xnsd within %d ms", ANSWER_MS);
        n = xns_frame_recv(fd, buf, sizeof(buf), &rfd, false);
        EXPECT_MSG(n > 0, "recv: %zd", n);
        if (rfd >= 0)
                close(rfd);
        EXPECT(xns_reply_decode(reply, buf, (size_t)n) == 0);
}

/* A new process session on a link of its own (origin: a remote process's). */
static int link_hello(const struct xns_origin *origin, uint8_t token[XNS_TOKEN_LEN], uint32_t *error) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_HELLO, .hello = { .version = XNS_PROTOCOL_VERSION } };
        struct xns_reply reply;
        int fd = raw_connect();

        if (origin) {
                req.hello.has_origin = true;
                req.hello.origin = *origin;
        }
        send_req(fd, &req);
        recv_reply(fd, &reply);
        *error = reply.error;
        if (token && reply.body == XNS_BODY_TOKEN)
                memcpy(token, reply.token, XNS_TOKEN_LEN);
        return fd;
}

struct gateway {
        int fd;
        uint32_t tag;
        uint32_t seq;
        unsigned n_existing;            /* names registered before the attach, exported */
        struct xns_gateway_event existing[4];
};

/* Attaches a gateway exporting "svc*": its reply carries the tag; then
 * come the claims of names registered before (ticket 0) and the event
 * that says they are all there. */
static uint32_t gateway_attach(struct gateway *gw) {
        struct xns_request req = { .seq = 2, .op = XNS_OP_GATEWAY_ATTACH };
        struct xns_reply reply;
        uint32_t e;

        gw->fd = link_hello(NULL, NULL, &e);
        EXPECT_ERR(e, XOUS_OK);
        snprintf(req.gateway_attach.host, sizeof(req.gateway_attach.host), "here");
        req.gateway_attach.n_exports = 1;
        req.gateway_attach.exports[0] = (struct xns_name){ .len = 4, .str = "svc*" };
        send_req(gw->fd, &req);
        recv_reply(gw->fd, &reply);
        gw->seq = 3;
        gw->n_existing = 0;
        if (reply.error != XOUS_OK)
                return reply.error;
        EXPECT_EQ(reply.body, XNS_BODY_TAG);
        EXPECT(reply.tag != 0);
        gw->tag = reply.tag;
        for (;;) {
                recv_reply(gw->fd, &reply);
                EXPECT_EQ(reply.seq, 0);
                EXPECT_EQ(reply.body, XNS_BODY_GATEWAY);
                if (reply.gateway.what == XNS_GATEWAY_EXPORTED)
                        return XOUS_OK;
                EXPECT_EQ(reply.gateway.what, XNS_GATEWAY_CLAIM);
                EXPECT_EQ(reply.gateway.ticket, 0);
                EXPECT(gw->n_existing < sizeof(gw->existing) / sizeof(gw->existing[0]));
                gw->existing[gw->n_existing++] = reply.gateway;
        }
}

/* Ends the gateway's link, whatever children forked meanwhile hold a copy. */
static void gateway_detach(struct gateway *gw) {
        shutdown(gw->fd, SHUT_RDWR);
        close(gw->fd);
}

/* The next event; gone processes are skipped unless want_gone. */
static struct xns_gateway_event gateway_event_of(struct gateway *gw, bool want_gone) {
        struct xns_reply reply;

        do {
                recv_reply(gw->fd, &reply);
                EXPECT_EQ(reply.seq, 0);
                EXPECT_EQ(reply.body, XNS_BODY_GATEWAY);
        } while (reply.gateway.what == XNS_GATEWAY_GONE && !want_gone);
        return reply.gateway;
}

static struct xns_gateway_event gateway_event(struct gateway *gw) {
        return gateway_event_of(gw, false);
}

static void gateway_answer(struct gateway *gw, uint32_t ticket, uint32_t error, const struct xns_sid *sid) {
        struct xns_request req = { .op = XNS_OP_GATEWAY_ANSWER,
                                   .gateway_answer = { .ticket = ticket, .error = error } };

        if (sid) {
                req.gateway_answer.has_sid = true;
                req.gateway_answer.sid = *sid;
        }
        send_req(gw->fd, &req);
}

/* A request on the gateway's link that xnsd answers at once. */
static struct xns_reply gateway_call(struct gateway *gw, struct xns_request *req) {
        struct xns_reply reply;

        req->seq = gw->seq++;
        send_req(gw->fd, req);
        do      /* events may come first */
                recv_reply(gw->fd, &reply);
        while (reply.seq == 0 && reply.body == XNS_BODY_GATEWAY);
        EXPECT_EQ(reply.seq, req->seq);
        return reply;
}

static struct xns_sid foreign_sid(const struct gateway *gw) {
        xous_sid_t r = random_sid();
        struct xns_sid sid;

        memcpy(sid.w, r.w, sizeof(sid.w));
        sid.w[0] = gw->tag + 1;
        return sid;
}

/* --- children ----------------------------------------------------------------- */

static void register_and_report(void *name) {
        xous_sid_t sid = { { 0 } };     /* sent as it is when the registration fails */

        parent_send_u32(xous_register_name(name, 0, &sid));
        parent_send_sid(sid);
        parent_recv_u32();
}

static void lookup_and_report(void *name) {
        xous_cid_t cid = 0;

        parent_send_u32(xous_request_connection(name, &cid));
        parent_send_u32(cid);
}

/* --- tests ----------------------------------------------------------------------- */

START_TEST(one_gateway_at_a_time) {
        struct gateway a, b;

        EXPECT_ERR(gateway_attach(&a), XOUS_OK);
        EXPECT_ERR(gateway_attach(&b), XOUS_ERR_SERVER_EXISTS);
        gateway_detach(&b);
        gateway_detach(&a);
        /* the first one gone, another may come */
        for (uint64_t deadline = now_ms() + HARNESS_WAIT_MS;;) {
                uint32_t e = gateway_attach(&b);

                if (e == XOUS_OK)
                        break;
                gateway_detach(&b);
                EXPECT_MSG(now_ms() < deadline, "no gateway may attach after the first left: %s",
                           harness_errname(e));
                sleep_ms(5);
        }
        gateway_detach(&b);
}
END_TEST

/* A user other than xnsd's: may connect (the test opens the socket's
 * directory to it), may not attach. */
static void attach_as_nobody(void *arg) {
        struct gateway gw;

        EXPECT(setgid(65534) == 0 && setuid(65534) == 0);
        EXPECT_ERR(gateway_attach(&gw), XOUS_ERR_ACCESS_DENIED);
}

START_TEST(only_the_daemons_user_attaches) {
        char dir[128];
        struct proc p;

        snprintf(dir, sizeof(dir), "%s", harness_socket_path());
        *strrchr(dir, '/') = '\0';
        EXPECT(chmod(dir, 0755) == 0);
        proc_start(&p, "nobody", attach_as_nobody, NULL);
        proc_wait_exit(&p, 0);
}
END_TEST

/* Exported names registered before the gateway came are claimed first (no
 * one waits: ticket 0), each before the event that ends them; the others
 * stay this host's. */
START_TEST(existing_names_exported_first) {
        struct gateway gw;
        struct proc p, q;
        xous_sid_t sid;

        proc_start(&p, "registrar", register_and_report, "svc.early");
        EXPECT_ERR(proc_recv_u32(&p), XOUS_OK);
        sid = proc_recv_sid(&p);
        proc_start(&q, "registrar", register_and_report, "local.early");
        EXPECT_ERR(proc_recv_u32(&q), XOUS_OK);
        proc_recv_sid(&q);
        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        EXPECT_EQ(gw.n_existing, 1);
        EXPECT(strcmp(gw.existing[0].name.str, "svc.early") == 0);
        EXPECT(memcmp(gw.existing[0].sid.w, sid.w, sizeof(sid.w)) == 0);
        proc_send_u32(&p, 1);
        proc_send_u32(&q, 1);
        proc_wait_exit(&p, 0);
        proc_wait_exit(&q, 0);
        gateway_detach(&gw);
}
END_TEST

/* Every SID xnsd makes carries its tag. */
START_TEST(sids_carry_the_tag) {
        struct gateway gw;
        struct proc p;
        xous_sid_t sid;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        EXPECT_OK(xous_create_server(&sid));
        EXPECT_EQ(sid.w[0], gw.tag);
        proc_start(&p, "registrar", register_and_report, "local.name");
        EXPECT_ERR(proc_recv_u32(&p), XOUS_OK);
        EXPECT_EQ(proc_recv_sid(&p).w[0], gw.tag);
        proc_send_u32(&p, 1);
        proc_wait_exit(&p, 0);
        gateway_detach(&gw);
}
END_TEST

/* An exported name waits for the cluster's word; a refusal frees it here. */
START_TEST(exported_name_waits_for_the_claim) {
        struct gateway gw;
        struct xns_gateway_event e;
        struct proc p, q;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        proc_start(&p, "registrar", register_and_report, "svc.claimed");
        e = gateway_event(&gw);
        EXPECT_EQ(e.what, XNS_GATEWAY_CLAIM);
        EXPECT(e.ticket != 0);
        EXPECT(strcmp(e.name.str, "svc.claimed") == 0);
        EXPECT_EQ(e.sid.w[0], gw.tag);
        /* not the cluster's yet: nobody may connect, and the registrant waits */
        proc_start(&q, "lookup", lookup_and_report, "svc.claimed");
        e = gateway_event(&gw);         /* the lookup goes to the cluster too */
        EXPECT_EQ(e.what, XNS_GATEWAY_LOOKUP);
        gateway_answer(&gw, e.ticket, XOUS_ERR_SERVER_NOT_FOUND, NULL);
        EXPECT_ERR(proc_recv_u32(&q), XOUS_ERR_SERVER_NOT_FOUND);
        proc_wait_exit(&q, 0);
        EXPECT(proc_recv_timeout(&p, &(uint32_t){ 0 }, 4, 100) == 0);
        gateway_detach(&gw);
        /* the gateway went: the claim fails UNAVAILABLE */
        EXPECT_ERR(proc_recv_u32(&p), XOUS_ERR_UNAVAILABLE);
        proc_recv_sid(&p);
        proc_send_u32(&p, 1);
        proc_wait_exit(&p, 0);
}
END_TEST

START_TEST(claim_refused_or_granted) {
        struct gateway gw;
        struct xns_gateway_event e;
        struct proc p, q, r;
        xous_sid_t sid;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        proc_start(&p, "registrar", register_and_report, "svc.taken");
        e = gateway_event(&gw);
        gateway_answer(&gw, e.ticket, XOUS_ERR_SERVER_EXISTS, &e.sid);
        EXPECT_ERR(proc_recv_u32(&p), XOUS_ERR_SERVER_EXISTS);
        proc_recv_sid(&p);
        proc_send_u32(&p, 1);
        proc_wait_exit(&p, 0);
        /* the name is free here again; this time the cluster agrees */
        proc_start(&q, "registrar", register_and_report, "svc.taken");
        e = gateway_event(&gw);
        EXPECT_EQ(e.what, XNS_GATEWAY_CLAIM);
        gateway_answer(&gw, e.ticket, XOUS_OK, &e.sid);
        EXPECT_ERR(proc_recv_u32(&q), XOUS_OK);
        sid = proc_recv_sid(&q);
        EXPECT(memcmp(sid.w, e.sid.w, sizeof(sid.w)) == 0);
        /* now it is found here, without asking the gateway */
        proc_start(&r, "lookup", lookup_and_report, "svc.taken");
        EXPECT_ERR(proc_recv_u32(&r), XOUS_OK);
        proc_wait_exit(&r, 0);
        do      /* its end, and no lookup before it */
                e = gateway_event_of(&gw, true);
        while (e.what == XNS_GATEWAY_GONE && e.pid != (uint32_t)r.pid);
        EXPECT_EQ(e.what, XNS_GATEWAY_GONE);
        /* its owner goes: the cluster hears the release */
        proc_send_u32(&q, 1);
        proc_wait_exit(&q, 0);
        e = gateway_event(&gw);
        EXPECT_EQ(e.what, XNS_GATEWAY_RELEASE);
        EXPECT(strcmp(e.name.str, "svc.taken") == 0);
        /* and that the process is gone, for the sessions standing in for it */
        e = gateway_event_of(&gw, true);
        EXPECT_EQ(e.what, XNS_GATEWAY_GONE);
        EXPECT_EQ(e.pid, q.pid);
        gateway_detach(&gw);
}
END_TEST

/* A lookup the cluster answers with a proxy the gateway made. */
START_TEST(lookup_answered_with_a_proxy) {
        struct gateway gw;
        struct xns_gateway_event e;
        struct xns_request req = { .op = XNS_OP_CREATE_SERVER };
        struct xns_reply reply;
        struct xns_sid sid;
        struct proc p;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        proc_start(&p, "lookup", lookup_and_report, "svc.far");
        e = gateway_event(&gw);
        EXPECT_EQ(e.what, XNS_GATEWAY_LOOKUP);
        EXPECT(strcmp(e.name.str, "svc.far") == 0);
        EXPECT_EQ(e.pid, p.pid);
        EXPECT_EQ(e.uid, getuid());
        /* the proxy: a SID of another host; ours is refused */
        sid = foreign_sid(&gw);
        req.create_server = (typeof(req.create_server)){ .has_sid = true, .sid = sid };
        reply = gateway_call(&gw, &req);
        EXPECT_ERR(reply.error, XOUS_OK);
        EXPECT(xns_sid_equal(&reply.sid, &sid));
        reply = gateway_call(&gw, &req);
        EXPECT_ERR(reply.error, XOUS_ERR_SERVER_EXISTS);
        req.create_server.sid.w[0] = gw.tag;
        reply = gateway_call(&gw, &req);
        EXPECT_ERR(reply.error, XOUS_ERR_INVALID_ARGUMENT);
        gateway_answer(&gw, e.ticket, XOUS_OK, &sid);
        EXPECT_ERR(proc_recv_u32(&p), XOUS_OK);
        EXPECT(proc_recv_u32(&p) >= 2);
        proc_wait_exit(&p, 0);
        gateway_detach(&gw);
}
END_TEST

/* Only the gateway names SIDs, opens remote sessions and fails messages. */
START_TEST(gateway_powers_are_the_gateways) {
        struct xns_request req = { .seq = 2, .op = XNS_OP_CREATE_SERVER };
        struct xns_origin o = { .host = "far", .pid = 4242, .uid = 1000 };
        struct xns_reply reply;
        struct gateway gw;
        uint32_t e;
        int fd;

        fd = link_hello(&o, NULL, &e);          /* no gateway at all */
        EXPECT_ERR(e, XOUS_ERR_ACCESS_DENIED);
        close(fd);
        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        fd = link_hello(NULL, NULL, &e);        /* a client, not the gateway */
        EXPECT_ERR(e, XOUS_OK);
        req.create_server = (typeof(req.create_server)){ .has_sid = true, .sid = foreign_sid(&gw) };
        send_req(fd, &req);
        recv_reply(fd, &reply);
        EXPECT_ERR(reply.error, XOUS_ERR_ACCESS_DENIED);
        close(fd);
        gateway_detach(&gw);
}
END_TEST

static void serve_one_and_report(void *arg) {
        xous_envelope_t *env = NULL;
        xous_sid_t sid;

        EXPECT_OK(xous_register_name("local.srv", 0, &sid));
        parent_send_sid(sid);
        EXPECT_OK(xous_receive_message(sid, &env));
        parent_send_u32(xous_envelope_sender_pid(env));
        EXPECT_OK(xous_return_scalar(env, 77));
        xous_envelope_drop(env);
}

/* A remote process's session: its pid is what the gateway says. */
START_TEST(remote_session_calls_as_its_origin) {
        struct xns_origin o = { .host = "far", .pid = 4242, .uid = getuid() };
        struct xns_request req = { .seq = 2, .op = XNS_OP_REQUEST_CONNECTION };
        struct xns_reply reply;
        struct gateway gw;
        struct proc server;
        uint32_t e, cid;
        int fd;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        proc_start(&server, "server", serve_one_and_report, NULL);
        proc_recv_sid(&server);
        fd = link_hello(&o, NULL, &e);
        EXPECT_ERR(e, XOUS_OK);
        req.request_connection.name = (struct xns_name){ .len = 9, .str = "local.srv" };
        send_req(fd, &req);
        recv_reply(fd, &reply);
        EXPECT_ERR(reply.error, XOUS_OK);
        cid = reply.cid;
        req = (struct xns_request){ .seq = 3, .op = XNS_OP_SEND,
                                    .send = { .cid = cid, .kind = XNS_KIND_BLOCKING_SCALAR, .id = 1 } };
        send_req(fd, &req);
        EXPECT_EQ(proc_recv_u32(&server), 4242);
        recv_reply(fd, &reply);
        EXPECT_ERR(reply.error, XOUS_OK);
        EXPECT_EQ(reply.scalar.v[0], 77);
        proc_wait_exit(&server, 0);
        close(fd);
        gateway_detach(&gw);
}
END_TEST

static void call_proxy(void *arg) {
        xous_sid_t sid = parent_recv_sid();
        xous_scalar_reply_t reply;
        xous_cid_t cid;

        EXPECT_OK(xous_connect(sid, &cid));
        parent_send_u32(1);
        parent_send_u32(xous_blocking_scalar(cid, 5, 1, 2, 3, 4, &reply));
}

/* A proxy's message failed by the gateway: its caller hears the error; a
 * proxy destroyed while a caller waits wakes it with SERVER_NOT_FOUND. */
START_TEST(proxy_failures_reach_callers) {
        struct xns_request req = { .op = XNS_OP_CREATE_SERVER };
        struct xns_reply reply;
        struct gateway gw;
        struct xns_sid sid;
        xous_sid_t xsid;
        struct proc c1, c2;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        sid = foreign_sid(&gw);
        req.create_server = (typeof(req.create_server)){ .has_sid = true, .sid = sid };
        reply = gateway_call(&gw, &req);
        EXPECT_ERR(reply.error, XOUS_OK);
        memcpy(xsid.w, sid.w, sizeof(xsid.w));
        proc_start(&c1, "caller", call_proxy, NULL);
        proc_send_sid(&c1, xsid);
        proc_recv_u32(&c1);
        req = (struct xns_request){ .op = XNS_OP_RECEIVE, .receive = { .sid = sid } };
        reply = gateway_call(&gw, &req);
        EXPECT_EQ(reply.body, XNS_BODY_DELIVERY);
        EXPECT_EQ(reply.delivery.kind, XNS_KIND_BLOCKING_SCALAR);
        EXPECT_EQ(reply.delivery.sender_pid, c1.pid);
        EXPECT_EQ(reply.delivery.sender_uid, getuid());
        req = (struct xns_request){ .op = XNS_OP_RETURN,
                                    .ret = { .handle = reply.delivery.handle, .gen = reply.delivery.gen,
                                             .how = XNS_RETURN_FAILED, .error = XOUS_ERR_TIMEOUT } };
        send_req(gw.fd, &req);
        EXPECT_ERR(proc_recv_u32(&c1), XOUS_ERR_TIMEOUT);
        proc_wait_exit(&c1, 0);
        /* delivered, unanswered, then the proxy goes */
        proc_start(&c2, "caller", call_proxy, NULL);
        proc_send_sid(&c2, xsid);
        proc_recv_u32(&c2);
        req = (struct xns_request){ .op = XNS_OP_RECEIVE, .receive = { .sid = sid } };
        reply = gateway_call(&gw, &req);
        EXPECT_EQ(reply.body, XNS_BODY_DELIVERY);
        req = (struct xns_request){ .op = XNS_OP_DESTROY_SERVER, .sid = sid };
        reply = gateway_call(&gw, &req);
        EXPECT_ERR(reply.error, XOUS_OK);
        EXPECT_ERR(proc_recv_u32(&c2), XOUS_ERR_SERVER_NOT_FOUND);
        proc_wait_exit(&c2, 0);
        gateway_detach(&gw);
}
END_TEST

static void order_server(void *arg) {
        xous_sid_t sid;
        uint32_t want, got = 0;

        EXPECT_OK(xous_register_name("local.order", 0, &sid));
        parent_send_sid(sid);
        want = parent_recv_u32();
        while (got < want) {
                xous_envelope_t *env = NULL;

                EXPECT_OK(xous_receive_message(sid, &env));
                EXPECT_MSG(xous_envelope_args(env)[0] == got, "got %u, want %u", xous_envelope_args(env)[0], got);
                got++;
                xous_envelope_drop(env);
        }
        parent_send_u32(got);
}

/* A remote session's Scalars, sent one after the other on several links
 * of it, some waiting for room, reach the server in the order sent. */
START_TEST(remote_session_keeps_order) {
        struct xns_origin o = { .host = "far", .pid = 4242, .uid = getuid() };
        uint8_t token[XNS_TOKEN_LEN];
        struct xns_request req;
        struct xns_reply reply;
        struct gateway gw;
        struct proc server;
        int fds[4];
        uint32_t e, cid, n = 300;

        EXPECT_ERR(gateway_attach(&gw), XOUS_OK);
        proc_start(&server, "server", order_server, NULL);
        proc_recv_sid(&server);
        fds[0] = link_hello(&o, token, &e);
        EXPECT_ERR(e, XOUS_OK);
        for (int i = 1; i < 4; i++) {
                struct xns_request hello = { .seq = 1, .op = XNS_OP_HELLO,
                                             .hello = { .version = XNS_PROTOCOL_VERSION, .has_token = true } };

                fds[i] = raw_connect();
                memcpy(hello.hello.token, token, XNS_TOKEN_LEN);
                send_req(fds[i], &hello);
                recv_reply(fds[i], &reply);
                EXPECT_ERR(reply.error, XOUS_OK);
        }
        req = (struct xns_request){ .seq = 2, .op = XNS_OP_REQUEST_CONNECTION,
                                    .request_connection = { .name = { .len = 11, .str = "local.order" } } };
        send_req(fds[0], &req);
        recv_reply(fds[0], &reply);
        EXPECT_ERR(reply.error, XOUS_OK);
        cid = reply.cid;
        /* the first 64 fill the queue; then each waits for room, which the
         * server makes once told to start (after the first one stalls) */
        for (uint32_t i = 0; i < n; i++) {
                int fd = fds[i % 4];

                req = (struct xns_request){ .seq = 10 + i, .op = XNS_OP_SEND,
                                            .send = { .cid = cid, .kind = XNS_KIND_SCALAR, .id = 1, .a = { i } } };
                send_req(fd, &req);
                if (i == 64)    /* this one waits for room */
                        proc_send_u32(&server, n);
                recv_reply(fd, &reply);
                EXPECT_ERR(reply.error, XOUS_OK);
        }
        EXPECT_EQ(proc_recv_u32(&server), n);
        proc_wait_exit(&server, 0);
        for (int i = 0; i < 4; i++)
                close(fds[i]);
        gateway_detach(&gw);
}
END_TEST

int main(void) {
        Suite *s = suite_create("gateway");

        HARNESS_ADD(s, one_gateway_at_a_time);
        HARNESS_ADD(s, only_the_daemons_user_attaches);
        HARNESS_ADD(s, existing_names_exported_first);
        HARNESS_ADD(s, sids_carry_the_tag);
        HARNESS_ADD(s, exported_name_waits_for_the_claim);
        HARNESS_ADD(s, claim_refused_or_granted);
        HARNESS_ADD(s, lookup_answered_with_a_proxy);
        HARNESS_ADD(s, gateway_powers_are_the_gateways);
        HARNESS_ADD(s, remote_session_calls_as_its_origin);
        HARNESS_ADD(s, proxy_failures_reach_callers);
        HARNESS_ADD(s, remote_session_keeps_order);
        return harness_run(s);
}
