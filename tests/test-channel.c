/* test-channel.c: unit tests of a link's channel: the two rings of
 * proto/chan.c on their own (an honest producer and consumer, and every lie
 * a consumer must catch), then xnsd's side (xnsd/channel.c, through
 * dispatch.c) on a real link: set up by its requests, frames both ways,
 * doorbells rung only for a sleeper, and a client that lies cut. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus.h"
#include "chan.h"
#include "conn.h"
#include "dispatch.h"
#include "peer.h"
#include "route.h"
#include "test-util.h"

/* --- the rings ------------------------------------------------------------ */

static struct xns_chan *chan_new(void) {
        struct xns_chan *c = calloc(1, sizeof(*c));

        ck_assert_ptr_nonnull(c);
        return c;
}

START_TEST(test_ring_round_trip_and_wrap) {
        struct xns_chan *c = chan_new();
        struct xns_chan_end prod, cons;
        uint8_t frame[XNS_FRAME_MAX], out[XNS_FRAME_MAX];
        uint32_t flags;

        xns_chan_end_init(&prod, c, true);
        xns_chan_end_init(&cons, c, true);
        /* 300 bytes at a time: a 2 KiB ring wraps every few records. */
        for (unsigned i = 0; i < 100; i++) {
                memset(frame, (int)i, 300);
                ck_assert(xns_chan_put(&prod, frame, 300, i % 2 ? XNS_CHAN_FD : 0));
                ck_assert_int_eq(xns_chan_take(&cons, out, &flags), 300);
                ck_assert_mem_eq(out, frame, 300);
                ck_assert_uint_eq(flags, i % 2 ? XNS_CHAN_FD : 0);
        }
        ck_assert_int_eq(xns_chan_take(&cons, out, &flags), 0);
        free(c);
}
END_TEST

START_TEST(test_ring_full_and_room) {
        struct xns_chan *c = chan_new();
        struct xns_chan_end prod, cons;
        uint8_t frame[XNS_FRAME_MAX] = { 0 }, out[XNS_FRAME_MAX];
        uint32_t flags;
        unsigned n = 0;

        xns_chan_end_init(&prod, c, false);
        xns_chan_end_init(&cons, c, false);
        while (xns_chan_put(&prod, frame, 1000, 0))
                n++;
        ck_assert_uint_eq(n, XNS_CHAN_REP_SIZE / 1008);
        ck_assert(!xns_chan_fits(&prod, 1000));
        ck_assert(xns_chan_ask_room(&prod, 1000));      /* still full: the consumer will ring */
        ck_assert_int_eq(xns_chan_take(&cons, out, &flags), 1000);
        ck_assert(xns_chan_room_due(&cons));           /* taken once */
        ck_assert(!xns_chan_room_due(&cons));
        ck_assert(xns_chan_put(&prod, frame, 1000, 0));
        /* Too big, or nothing, is never published. */
        ck_assert(!xns_chan_put(&prod, frame, XNS_FRAME_MAX + 1, 0));
        ck_assert(!xns_chan_put(&prod, frame, 0, 0));
        free(c);
}
END_TEST

START_TEST(test_ring_bell_only_for_a_sleeper) {
        struct xns_chan *c = chan_new();
        struct xns_chan_end prod, cons;
        uint8_t frame[16] = { 1 }, out[XNS_FRAME_MAX];
        uint32_t flags;

        xns_chan_end_init(&prod, c, true);
        xns_chan_end_init(&cons, c, true);
        ck_assert(xns_chan_put(&prod, frame, sizeof(frame), 0));
        ck_assert(!xns_chan_ring_due(&prod));          /* the consumer is awake */
        ck_assert(!xns_chan_sleep(&cons));             /* a record is there: no sleep */
        ck_assert_int_eq(xns_chan_take(&cons, out, &flags), 16);
        ck_assert(xns_chan_sleep(&cons));
        ck_assert(xns_chan_put(&prod, frame, sizeof(frame), 0));
        ck_assert(xns_chan_ring_due(&prod));           /* once */
        ck_assert(!xns_chan_ring_due(&prod));
        free(c);
}
END_TEST

/* Writes a record head at byte off of the request ring. */
static void put_head(struct xns_chan *c, uint32_t off, uint32_t len, uint32_t flags) {
        struct xns_chan_rec rec = { .len = len, .flags = flags };

        memcpy(c->req_data + off, &rec, sizeof(rec));
}

/* Each lie of a producer the consumer must refuse, by index i. */
START_TEST(test_ring_lies_refused) {
        struct xns_chan *c = chan_new();
        struct xns_chan_end cons;
        uint8_t out[XNS_FRAME_MAX];
        uint32_t flags;

        xns_chan_end_init(&cons, c, true);
        switch (_i) {
        case 0:         /* more published than the ring holds */
                c->req.head = XNS_CHAN_REQ_SIZE + 8;
                break;
        case 1:         /* a head off the 8-byte grid */
                c->req.head = 12;
                break;
        case 2:         /* a frame longer than any frame */
                put_head(c, 0, XNS_FRAME_MAX + 1, 0);
                c->req.head = 1040;
                break;
        case 3:         /* a record longer than what was published */
                put_head(c, 0, 100, 0);
                c->req.head = 64;
                break;
        case 4:         /* a flag no one defined */
                put_head(c, 0, 8, 4);
                c->req.head = 16;
                break;
        case 5:         /* a wrap where the ring starts */
                put_head(c, 0, 0, XNS_CHAN_WRAP);
                c->req.head = 8;
                break;
        case 6:         /* an empty record */
                put_head(c, 0, 0, 0);
                c->req.head = 8;
                break;
        }
        ck_assert_int_eq(xns_chan_take(&cons, out, &flags), -EPROTO);
        free(c);
}
END_TEST

/* --- xnsd's side, on a real link -------------------------------------------- */

struct client {
        struct conn *conn;
        int sock;
        struct xns_chan *chan;
        struct xns_chan_end req, rep;
        int bell_daemon, bell_own;
};

static void wakeup_end(struct bus *bus) {
        dispatch_flush(bus, &(struct dispatch_io){ 0 });
}

/* One request by the socket, before the channel: its answer's error, and
 * the descriptor beside it in *fd. */
static uint32_t socket_call(struct bus *bus, struct client *cl, enum xns_op op, int fd, int *rfd) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request req = { .seq = 7, .op = op };
        struct xns_reply reply;
        ssize_t n = xns_request_encode(&req, buf, sizeof(buf));

        ck_assert_int_gt(n, 0);
        dispatch_frame(cl->conn, buf, n, fd);
        wakeup_end(bus);
        n = xns_frame_recv(cl->sock, buf, sizeof(buf), rfd, true);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(xns_reply_decode(&reply, buf, (size_t)n), 0);
        ck_assert_uint_eq(reply.seq, 7);
        return reply.error;
}

static int sealed_memfd(size_t size) {
        int fd = memfd_create("test-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
        return fd;
}

/* A link of a new process with its channel set up, as libxousclient does. */
static void client_open(struct bus *bus, struct client *cl) {
        int sv[2], fd;
        void *p;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        ck_assert_int_eq(conn_new(&cl->conn, bus, &(struct conn_lists){ &bus->dirty, &bus->ring_ready,
                                                                       &bus->chan_ready }, sv[0]), 0);
        bus_conn_add(bus, cl->conn);
        ck_assert_int_eq(bus_peer_attach(bus, cl->conn, NULL, NULL), 0);
        cl->sock = sv[1];
        fd = sealed_memfd(XNS_CHAN_SIZE);
        p = mmap(NULL, XNS_CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(p, MAP_FAILED);
        cl->chan = p;
        xns_chan_end_init(&cl->req, cl->chan, true);
        xns_chan_end_init(&cl->rep, cl->chan, false);
        ck_assert_uint_eq(socket_call(bus, cl, XNS_OP_CHANNEL, fd, &cl->bell_daemon), XNS_OK);
        ck_assert_int_ge(cl->bell_daemon, 0);
        ck_assert_uint_eq(socket_call(bus, cl, XNS_OP_CHANNEL_BELL, -1, &cl->bell_own), XNS_OK);
        ck_assert_int_ge(cl->bell_own, 0);
        ck_assert(cl->conn->chan_reading && cl->conn->chan_writing);
}

static void client_close(struct client *cl) {
        munmap(cl->chan, XNS_CHAN_SIZE);
        close(cl->sock);
        close(cl->bell_daemon);
        close(cl->bell_own);
}

static void bus_stop(struct bus *bus) {
        while (!list_is_empty(&bus->conns))
                route_link_gone(list_first_entry(&bus->conns, struct conn, bus_link));
        wakeup_end(bus);
        ck_assert_uint_eq(bus->n_conns, 0);
        bus_deinit(bus);
}

/* A request into the channel, and the wakeup its ring makes. */
static void client_send(struct bus *bus, struct client *cl, struct xns_request req) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n = xns_request_encode(&req, buf, sizeof(buf));

        ck_assert_int_gt(n, 0);
        ck_assert(xns_chan_put(&cl->req, buf, (uint32_t)n, 0));
        ck_assert_msg(xns_chan_ring_due(&cl->req), "xnsd said it looks, but it sleeps");
        dispatch_channel(cl->conn, false);
        wakeup_end(bus);
}

static bool bell_rang(int pipe_fd) {
        uint8_t b[64];

        return read(pipe_fd, b, sizeof(b)) > 0;
}

START_TEST(test_frames_both_ways) {
        struct xns_name name = { .len = 4, .str = "none" };
        struct bus bus;
        struct client cl;
        struct xns_reply reply;
        uint8_t buf[XNS_FRAME_MAX];
        uint32_t flags;
        int n, fd;

        bus_init(&bus, &(struct bus_options)BUS_OPTIONS_DEFAULT);
        client_open(&bus, &cl);
        ck_assert(xns_chan_sleep(&cl.rep));            /* we wait for the answer */
        client_send(&bus, &cl, (struct xns_request){ .seq = 9, .op = XNS_OP_REQUEST_CONNECTION,
                                                    .request_connection = { .name = name } });
        ck_assert_msg(bell_rang(cl.bell_own), "xnsd did not ring a sleeping client");
        n = xns_chan_take(&cl.rep, buf, &flags);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(xns_reply_decode(&reply, buf, (size_t)n), 0);
        ck_assert_uint_eq(reply.seq, 9);
        ck_assert_uint_eq(reply.error, XNS_ERR_SERVER_NOT_FOUND);
        /* Awake, the client is not rung. */
        client_send(&bus, &cl, (struct xns_request){ .seq = 10, .op = XNS_OP_REQUEST_CONNECTION,
                                                    .request_connection = { .name = name } });
        ck_assert(!bell_rang(cl.bell_own));
        ck_assert_int_gt(xns_chan_take(&cl.rep, buf, &flags), 0);
        /* Nothing came by the socket. */
        ck_assert_int_eq(xns_frame_recv(cl.sock, buf, sizeof(buf), &fd, true), -EAGAIN);
        bus_stop(&bus);
        client_close(&cl);
}
END_TEST

/* What a lying client does, by index: each cuts its link and only it. */
START_TEST(test_lying_client_cut) {
        struct bus bus;
        struct client cl, other;
        uint8_t junk[4] = { 1, 2, 3, 4 };

        bus_init(&bus, &(struct bus_options)BUS_OPTIONS_DEFAULT);
        client_open(&bus, &cl);
        client_open(&bus, &other);
        switch (_i) {
        case 0:         /* a head past the ring */
                __atomic_store_n(&cl.chan->req.head, XNS_CHAN_REQ_SIZE * 2, __ATOMIC_SEQ_CST);
                break;
        case 1:         /* a record that says a descriptor came, and none did */
                ck_assert(xns_chan_put(&cl.req, junk, sizeof(junk), XNS_CHAN_FD));
                break;
        case 2:         /* a frame where the socket only carries descriptors */
                ck_assert_int_eq(xns_frame_send(cl.sock, junk, sizeof(junk), -1, false), 0);
                ck_assert(xns_chan_put(&cl.req, junk, sizeof(junk), XNS_CHAN_FD));
                break;
        case 3:         /* a record that is no frame */
                ck_assert(xns_chan_put(&cl.req, junk, sizeof(junk), 0));
                break;
        }
        dispatch_channel(cl.conn, false);
        ck_assert_msg(cl.conn->dead, "xnsd kept a link whose client lied");
        ck_assert(!other.conn->dead);
        wakeup_end(&bus);
        ck_assert_uint_eq(bus.n_conns, 1);
        bus_stop(&bus);
        client_close(&cl);
        client_close(&other);
}
END_TEST

/* A channel of the wrong size is refused, and a second one too. */
START_TEST(test_bad_channel_refused) {
        struct bus bus;
        struct client cl;
        int bell = -1, fd;

        bus_init(&bus, &(struct bus_options)BUS_OPTIONS_DEFAULT);
        client_open(&bus, &cl);
        fd = sealed_memfd(XNS_CHAN_SIZE);
        /* The channel runs: a request by the socket is not read, so ask through it. */
        {
                uint8_t buf[XNS_FRAME_MAX];
                struct xns_request req = { .seq = 3, .op = XNS_OP_CHANNEL };
                struct xns_reply reply;
                uint32_t flags;
                ssize_t n = xns_request_encode(&req, buf, sizeof(buf));

                ck_assert_int_eq(xns_chan_fd_send(cl.sock, fd, false), 0);
                ck_assert(xns_chan_put(&cl.req, buf, (uint32_t)n, XNS_CHAN_FD));
                dispatch_channel(cl.conn, false);
                wakeup_end(&bus);
                n = xns_chan_take(&cl.rep, buf, &flags);
                ck_assert_int_gt(n, 0);
                ck_assert_int_eq(xns_reply_decode(&reply, buf, (size_t)n), 0);
                ck_assert_uint_eq(reply.error, XNS_ERR_MEMORY_IN_USE);
        }
        close(fd);
        bus_stop(&bus);
        client_close(&cl);

        /* A memfd of another size, on a fresh link. */
        bus_init(&bus, &(struct bus_options)BUS_OPTIONS_DEFAULT);
        {
                int sv[2];

                ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
                ck_assert_int_eq(conn_new(&cl.conn, &bus, &(struct conn_lists){ &bus.dirty, &bus.ring_ready,
                                                                               &bus.chan_ready }, sv[0]), 0);
                bus_conn_add(&bus, cl.conn);
                ck_assert_int_eq(bus_peer_attach(&bus, cl.conn, NULL, NULL), 0);
                cl.sock = sv[1];
        }
        ck_assert_uint_eq(socket_call(&bus, &cl, XNS_OP_CHANNEL, sealed_memfd(XNS_CHAN_SIZE * 2), &bell),
                          XNS_ERR_BAD_ADDRESS);
        ck_assert_int_eq(bell, -1);
        ck_assert(!cl.conn->chan_reading);
        bus_stop(&bus);
        close(cl.sock);
}
END_TEST

static Suite *channel_suite(void) {
        Suite *s = suite_create("channel");
        TCase *tc = tcase_create("rings");

        tcase_add_test(tc, test_ring_round_trip_and_wrap);
        tcase_add_test(tc, test_ring_full_and_room);
        tcase_add_test(tc, test_ring_bell_only_for_a_sleeper);
        tcase_add_loop_test(tc, test_ring_lies_refused, 0, 7);
        suite_add_tcase(s, tc);

        tc = tcase_create("xnsd");
        tcase_add_test(tc, test_frames_both_ways);
        tcase_add_loop_test(tc, test_lying_client_cut, 0, 4);
        tcase_add_test(tc, test_bad_channel_refused);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(channel_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
