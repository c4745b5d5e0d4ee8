/* test-server.c: unit tests of a server's bounded queue and of the bus
 * rules around it: real links (socketpairs), real messages, real peers.
 * What a link is sent is read back from the process's end of its socket. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#include "bus.h"
#include "clock.h"
#include "conn.h"
#include "message.h"
#include "name.h"
#include "peer.h"
#include "ring.h"
#include "route.h"
#include "server.h"
#include "test-util.h"

/* --- fixture ------------------------------------------------------------ */

/* One link: the daemon's conn and the client's end of its socket. */
struct link {
        struct conn *conn;
        int client;
};

static void bus_start(struct bus *bus, uint32_t depth) {
        struct bus_options opt = BUS_OPTIONS_DEFAULT;

        opt.queue_depth = depth;
        bus_init(bus, &opt);
}

/* Opens a link; the first link of a new process, or one more link of the
 * process that `of` belongs to. */
static void link_open(struct bus *bus, struct link *l, const struct link *of) {
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(conn_new(&l->conn, bus, &(struct conn_lists){ &bus->dirty, &bus->ring_ready, &bus->chan_ready }, sv[0]), 0);
        bus_conn_add(bus, l->conn);
        ck_assert_int_eq(bus_peer_attach(bus, l->conn, of ? of->conn->peer->token : NULL, NULL), 0);
        l->client = sv[1];
}

/* Writes every link's queued frames, as the loop does once per wakeup. */
static void flush(struct bus *bus) {
        while (!list_is_empty(&bus->dirty)) {
                struct conn *c = list_first_entry(&bus->dirty, struct conn, dirty_link);

                list_unlink(&c->dirty_link);
                ck_assert_int_eq(conn_flush(c), 0);
        }
}

/* Frees links that died, as the loop does after flushing. */
static void free_dead(struct bus *bus) {
        while (!list_is_empty(&bus->dead)) {
                struct conn *c = list_first_entry(&bus->dead, struct conn, dirty_link);

                list_unlink(&c->dirty_link);
                conn_free(c);
        }
}

/* Disconnects every link, which must release every process and server. */
static void bus_stop(struct bus *bus, struct link *links, size_t n) {
        while (!list_is_empty(&bus->conns))
                route_link_gone(list_first_entry(&bus->conns, struct conn, bus_link));
        ck_assert_uint_eq(bus->n_conns, 0);
        ck_assert(list_is_empty(&bus->peers));
        ck_assert_uint_eq(bus->n_servers, 0);
        ck_assert_ptr_null(bus->servers);
        free_dead(bus);
        bus_deinit(bus);
        for (size_t i = 0; i < n; i++)
                close(links[i].client);
}

/* The next frame sent to the link; returns the descriptor that came with it. */
static int expect_reply(struct bus *bus, const struct link *l, struct xns_reply *reply) {
        uint8_t buf[XNS_FRAME_MAX];
        int fd = -1;
        ssize_t n;

        flush(bus);
        n = xns_frame_recv(l->client, buf, sizeof(buf), &fd, true);
        ck_assert_msg(n > 0, "no frame for the link: %zd", n);
        ck_assert_int_eq(xns_reply_decode(reply, buf, (size_t)n), 0);
        return fd;
}

static void expect_quiet(struct bus *bus, const struct link *l) {
        uint8_t buf[XNS_FRAME_MAX];
        int fd = -1;

        flush(bus);
        ck_assert_int_eq(xns_frame_recv(l->client, buf, sizeof(buf), &fd, true), -EAGAIN);
}

/* The receiver's next delivery: checks it and returns it. */
/* The Scalars that came behind the last delivery (xns_reply.more). */
static uint32_t last_n_more;
static struct xns_scalar last_more[XNS_DELIVERY_MORE_MAX];

static struct xns_delivery expect_delivery(struct bus *bus, const struct link *l, uint32_t seq, uint32_t id) {
        struct xns_reply reply;
        int fd = expect_reply(bus, l, &reply);

        last_n_more = reply.n_more;
        memcpy(last_more, reply.more, sizeof(last_more));
        ck_assert_uint_eq(reply.seq, seq);
        ck_assert_uint_eq(reply.error, XNS_OK);
        ck_assert_int_eq(reply.body, XNS_BODY_DELIVERY);
        ck_assert_uint_eq(reply.delivery.id, id);
        ck_assert_uint_eq(reply.delivery.a[0], id * 10 + 1);
        ck_assert_uint_eq(reply.delivery.a[3], id * 10 + 4);
        ck_assert_uint_eq(reply.delivery.sender_pid, (uint32_t)getpid());
        ck_assert_int_eq(fd >= 0, xns_kind_is_memory(reply.delivery.kind));
        if (fd >= 0) {
                char text[8] = { 0 };

                ck_assert_int_eq(pread(fd, text, 4, 0), 4);
                ck_assert_str_eq(text, "page");
                close(fd);
        }
        return reply.delivery;
}

static void expect_error(struct bus *bus, const struct link *l, uint32_t seq, uint32_t error) {
        struct xns_reply reply;
        int fd = expect_reply(bus, l, &reply);

        ck_assert_int_eq(fd, -1);
        ck_assert_uint_eq(reply.seq, seq);
        ck_assert_uint_eq(reply.error, error);
        ck_assert_int_eq(reply.body, XNS_BODY_NONE);
}

static struct message *msg_new(uint32_t kind, uint32_t id) {
        struct message *m = message_new();

        ck_assert_ptr_nonnull(m);
        m->kind = kind;
        m->id = id;
        for (uint32_t i = 0; i < 4; i++)
                m->a[i] = id * 10 + 1 + i;
        m->sender_pid = (uint32_t)getpid();
        if (xns_kind_is_memory(kind)) {
                m->len = XNS_PAGE_SIZE;
                m->fd = memfd_create("test-server", MFD_CLOEXEC);
                ck_assert_int_ge(m->fd, 0);
                ck_assert_int_eq(ftruncate(m->fd, XNS_PAGE_SIZE), 0);
                ck_assert_int_eq(pwrite(m->fd, "page", 4, 0), 4);
        }
        return m;
}

/* A blocking caller waits on its link for m's answer (as route_send sets up). */
static struct message *msg_call(uint32_t kind, uint32_t id, const struct link *caller, uint32_t seq) {
        struct message *m = msg_new(kind, id);

        ck_assert(xns_kind_blocks(kind));
        m->caller = caller->conn;
        m->caller_seq = seq;
        caller->conn->wait = CONN_WAIT_REPLY;
        caller->conn->wait_seq = seq;
        caller->conn->wait_msg = m;
        return m;
}

/* A stalled non-blocking send pauses its sender's link (as route_send does). */
#define STALL_SEQ 900

/* A non-blocking send found the queue full: its sender waits (as route_send
 * parks it) for the answer that comes when the message gets in. */
static void msg_stall_sender(struct message *m, const struct link *sender) {
        ck_assert_int_eq(m->state, MESSAGE_STALLED);
        m->sender = sender->conn;
        sender->conn->wait = CONN_STALLED;
        sender->conn->wait_seq = STALL_SEQ;
        sender->conn->wait_msg = m;
}

/* The server answers a delivered blocking message (as route_return does):
 * value comes back as the scalar, or as the lent buffer's valid count. */
static void answer(struct server *server, struct message *m, uint32_t value) {
        struct xns_reply reply = { .body = XNS_BODY_SCALAR, .scalar = { 1, { value } } };

        if (xns_kind_is_memory(m->kind))
                reply = (struct xns_reply){ .body = XNS_BODY_MEMORY, .memory = { 0, value } };
        if (m->caller)
                conn_wake(m->caller, &reply, -1);
        server_answered(server, m);
        message_free(m);
}

static void expect_answer(struct bus *bus, const struct link *l, uint32_t seq, uint32_t value) {
        struct xns_reply reply;

        ck_assert_int_eq(expect_reply(bus, l, &reply), -1);
        ck_assert_uint_eq(reply.seq, seq);
        ck_assert_uint_eq(reply.error, XNS_OK);
        if (reply.body == XNS_BODY_MEMORY) {
                ck_assert_uint_eq(reply.memory.valid, value);
        } else {
                ck_assert_int_eq(reply.body, XNS_BODY_SCALAR);
                ck_assert_uint_eq(reply.scalar.v[0], value);
        }
}

/* What route.c does for a Receive request. */
static void park_receiver(struct server *srv, struct conn *conn, uint32_t seq, bool batch) {
        conn_park_receiver(conn, seq, srv, batch);
        server_park_receiver(srv, &conn->receiver);
}

static struct server *server_make(struct bus *bus, const struct link *owner) {
        struct server *s = NULL;

        ck_assert_int_eq(bus_server_create(bus, owner->conn->peer, NULL, &s), 0);
        ck_assert_ptr_eq(bus_server_find(bus, &s->sid), s);
        return s;
}

/* --- submitting --------------------------------------------------------- */

START_TEST(test_submit_room_and_full) {
        struct bus bus;
        struct link o;
        struct server *srv;
        struct message *m[5];

        bus_start(&bus, 2);
        link_open(&bus, &o, NULL);
        srv = server_make(&bus, &o);
        ck_assert_uint_eq(srv->depth, 2);

        m[0] = msg_new(XNS_KIND_SCALAR, 0);
        ck_assert_int_eq(server_submit(srv, m[0], false), 0);
        ck_assert_uint_eq(srv->used, 1);
        ck_assert_int_eq(m[0]->state, MESSAGE_QUEUED);
        ck_assert_ptr_eq(m[0]->server, srv);
        m[1] = msg_new(XNS_KIND_MOVE, 1);
        ck_assert_int_eq(server_submit(srv, m[1], true), 0);      /* try_ with room: queued */
        ck_assert_uint_eq(srv->used, 2);
        ck_assert_ptr_eq(list_first_entry(&srv->queue, struct message, link), m[0]);

        /* full: try_send is refused and the message stays the caller's */
        m[2] = msg_new(XNS_KIND_SCALAR, 2);
        ck_assert_int_eq(server_submit(srv, m[2], true), -EAGAIN);
        ck_assert(!list_is_linked(&m[2]->link));
        ck_assert_uint_eq(srv->used, 2);
        message_free(m[2]);

        /* full: send waits for room */
        m[3] = msg_new(XNS_KIND_SCALAR, 3);
        ck_assert_int_eq(server_submit(srv, m[3], false), 1);
        ck_assert_int_eq(m[3]->state, MESSAGE_STALLED);
        m[4] = msg_new(XNS_KIND_BLOCKING_SCALAR, 4);
        ck_assert_int_eq(server_submit(srv, m[4], false), 1);
        ck_assert_uint_eq(srv->used, 2);
        ck_assert_ptr_eq(list_first_entry(&srv->stalled, struct message, link), m[3]);
        ck_assert_ptr_eq(m[3]->link.next, &m[4]->link);

        bus_stop(&bus, &o, 1);  /* the queued and stalled messages go with the server */
}
END_TEST

/* --- a link's ring of posted Scalars ------------------------------------ */

/* A ring as a client makes it, attached to the link; returns our mapping. */
static struct xns_ring *ring_open(struct link *l) {
        struct xns_ring *ring;
        int fd = memfd_create("test-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, XNS_RING_SIZE), 0);
        ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
        ring = mmap(NULL, XNS_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(ring, MAP_FAILED);
        ck_assert_int_eq(ring_attach(l->conn, fd), 0);
        close(fd);
        return ring;
}

static void ring_publish(struct xns_ring *ring, uint32_t cid, uint32_t id) {
        uint32_t head = ring->head;

        ring->slot[head % XNS_RING_SLOTS] = (struct xns_ring_slot){
                .cid = cid, .id = id, .a = { id * 10 + 1, id * 10 + 2, id * 10 + 3, id * 10 + 4 },
        };
        __atomic_store_n(&ring->head, head + 1, __ATOMIC_SEQ_CST);
}

/* A Scalar that finds the queue full stops the ring and the link; the tail
 * the client sees leaves it in the ring until it is queued. */
START_TEST(test_ring_stalls_and_resumes) {
        struct bus bus;
        struct link links[2], *o = &links[0], *c = &links[1];
        struct xns_ring *ring;
        struct server *srv;
        uint32_t cid;

        bus_start(&bus, 2);
        link_open(&bus, o, NULL);
        link_open(&bus, c, NULL);
        srv = server_make(&bus, o);
        ck_assert_int_eq(peer_cid_add(c->conn->peer, &srv->sid, 8, &cid), 0);
        ring = ring_open(c);
        ck_assert_uint_eq(ring->kick, 1);               /* xnsd is not looking */
        for (uint32_t id = 1; id <= 4; id++)
                ring_publish(ring, cid, id);
        ck_assert_int_eq(route_ring_pass(c->conn), 0);
        ck_assert_uint_eq(srv->used, 2);                /* 1 and 2 queued */
        ck_assert_ptr_nonnull(c->conn->ring_stalled);   /* 3 waits for room */
        ck_assert(conn_reading_paused(c->conn));
        ck_assert_uint_eq(ring->tail, 2);               /* 3 and 4 still count as in the ring */
        ck_assert_uint_eq(ring->stalled, 1);            /* and the client can tell why */
        ck_assert_int_eq(route_ring_pass(c->conn), 0);       /* nothing moves while it waits */
        ck_assert_uint_eq(ring->tail, 2);

        ring->want_room = 1;
        park_receiver(srv, o->conn, 90, true);         /* 1 and 2 go: 3 gets in */
        ck_assert_ptr_null(c->conn->ring_stalled);
        ck_assert(list_is_linked(&c->conn->ring_link)); /* a pass is due */
        route_rings_ready(&bus);
        ck_assert_uint_eq(ring->tail, 4);
        ck_assert_uint_eq(ring->stalled, 0);
        ck_assert_uint_eq(ring->want_room, 0);
        ck_assert_uint_eq(ring->kick, 1);
        expect_delivery(&bus, o, 90, 1);
        ck_assert_uint_eq(last_n_more, 2);              /* 2, and 3 as it got in */
        ck_assert_uint_eq(last_more[0].id, 2);
        ck_assert_uint_eq(last_more[1].id, 3);
        ck_assert_uint_eq(srv->used, 1);                /* 4, from the pass */
        {
                struct xns_reply reply;

                ck_assert_int_eq(expect_reply(&bus, c, &reply), -1);
                ck_assert_int_eq(reply.body, XNS_BODY_ACK);     /* room */
                ck_assert_uint_eq(reply.ack.error, XNS_OK);
        }

        /* a CID it does not hold: dropped, and told with its CID */
        ring_publish(ring, 77, 5);
        ck_assert_int_eq(route_ring_pass(c->conn), 0);
        {
                struct xns_reply reply;

                ck_assert_int_eq(expect_reply(&bus, c, &reply), -1);
                ck_assert_int_eq(reply.body, XNS_BODY_ACK);
                ck_assert_uint_eq(reply.ack.error, XNS_ERR_SERVER_NOT_FOUND);
                ck_assert_uint_eq(reply.ack.cid, 77);
        }
        /* an impossible head */
        ring->head = ring->tail + XNS_RING_SLOTS + 1;
        ck_assert_int_eq(route_ring_pass(c->conn), -EPROTO);
        ring->head = ring->tail;
        munmap(ring, XNS_RING_SIZE);
        bus_stop(&bus, links, 2);
}
END_TEST

/* A client publishing as fast as it can, kicking when told to, while xnsd
 * drains: a pass that ends with Scalars left says so (the loop must then
 * not read the link's next frame before another pass), and only then. */
static struct xns_ring *racing_ring;
static int racing_stop;

static void *racing_client(void *arg) {
        uint32_t head = 0;

        (void)arg;
        while (!__atomic_load_n(&racing_stop, __ATOMIC_SEQ_CST)) {
                if (head - __atomic_load_n(&racing_ring->tail, __ATOMIC_SEQ_CST) >= XNS_RING_SLOTS) {
                        sched_yield();
                        continue;
                }
                racing_ring->slot[head % XNS_RING_SLOTS] = (struct xns_ring_slot){ .cid = 999, .id = head };
                __atomic_store_n(&racing_ring->head, ++head, __ATOMIC_SEQ_CST);
                if (__atomic_load_n(&racing_ring->kick, __ATOMIC_SEQ_CST))
                        __atomic_exchange_n(&racing_ring->kick, 0, __ATOMIC_SEQ_CST);
                for (volatile int i = 0; i < (int)(head % 7) * 20; i++)
                        ;                       /* uneven pace: xnsd catches up now and then */
        }
        return NULL;
}

START_TEST(test_ring_pass_with_scalars_left_says_so) {
        struct bus bus;
        struct link links[1], *c = &links[0];
        uint32_t passes = 0;
        pthread_t t;

        bus_start(&bus, 4);
        link_open(&bus, c, NULL);
        racing_ring = ring_open(c);
        ck_assert_int_eq(pthread_create(&t, NULL, racing_client, NULL), 0);
        for (uint64_t end = now_ms() + 1000; now_ms() < end; passes++) {
                int r;

                list_unlink(&c->conn->ring_link);
                r = route_ring_pass(c->conn);
                ck_assert_int_ge(r, 0);
                ck_assert_int_eq(r == 1, list_is_linked(&c->conn->ring_link));
                c->conn->n_out = c->conn->out_pos = 0;  /* the Acks, as if read */
                c->conn->overflow = false;
        }
        __atomic_store_n(&racing_stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(t, NULL);
        ck_assert_uint_gt(passes, 0);
        munmap(racing_ring, XNS_RING_SIZE);
        bus_stop(&bus, links, 1);
}
END_TEST

/* --- receiving ---------------------------------------------------------- */

/* Scalars ride behind a delivery only up to the next other kind, only when
 * the receive asks for them, and not at all while another thread of the
 * server waits to receive (a pool). */
START_TEST(test_more_only_scalars_and_not_for_pools) {
        struct bus bus;
        struct link links[2], *o = &links[0], *o2 = &links[1];
        struct server *srv;
        struct xns_delivery d;

        bus_start(&bus, 8);
        link_open(&bus, o, NULL);
        link_open(&bus, o2, o);
        srv = server_make(&bus, o);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, 9), false), 0);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, 1), false), 0);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, 2), false), 0);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_MOVE, 3), false), 0);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, 4), false), 0);

        park_receiver(srv, o->conn, 69, false);  /* another of its receives is on its way */
        expect_delivery(&bus, o, 69, 9);
        ck_assert_uint_eq(last_n_more, 0);
        park_receiver(srv, o->conn, 70, true);
        expect_delivery(&bus, o, 70, 1);
        ck_assert_uint_eq(last_n_more, 1);              /* 2, and the Move stops it */
        ck_assert_uint_eq(last_more[0].id, 2);
        park_receiver(srv, o->conn, 71, true);
        d = expect_delivery(&bus, o, 71, 3);
        ck_assert_uint_eq(d.kind, XNS_KIND_MOVE);
        ck_assert_uint_eq(last_n_more, 1);              /* a Move may lead */
        ck_assert_uint_eq(last_more[0].id, 4);

        /* two threads wait, and the queue fills before either is answered:
         * the first gets one message, the last one the rest */
        park_receiver(srv, o->conn, 72, true);
        park_receiver(srv, o2->conn, 73, true);
        for (uint32_t id = 5; id <= 7; id++) {
                struct message *m = msg_new(XNS_KIND_SCALAR, id);

                m->server = srv;
                m->state = MESSAGE_QUEUED;
                srv->used++;
                list_link_tail(&srv->queue, &m->link);
        }
        server_pump(srv);
        expect_delivery(&bus, o, 72, 5);
        ck_assert_uint_eq(last_n_more, 0);
        expect_delivery(&bus, o2, 73, 6);
        ck_assert_uint_eq(last_n_more, 1);
        ck_assert_uint_eq(last_more[0].id, 7);
        ck_assert_uint_eq(srv->used, 0);
        bus_stop(&bus, links, 2);
}
END_TEST

/* More Scalars than one frame holds continue in further frames of the same
 * seq, up to XNS_DELIVERY_FRAMES_MAX; the ones waiting for room move up. */
START_TEST(test_more_continues_in_frames) {
        enum { N = XNS_DELIVERY_MORE_MAX * XNS_DELIVERY_FRAMES_MAX + 10, DEPTH = 100 };
        struct bus bus;
        struct link links[1], *o = &links[0];
        struct server *srv;
        struct xns_reply reply;
        uint32_t next = 2;

        bus_start(&bus, DEPTH);
        link_open(&bus, o, NULL);
        srv = server_make(&bus, o);
        for (uint32_t id = 1; id <= N; id++)
                ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, id), false), id > DEPTH);
        park_receiver(srv, o->conn, 80, true);
        expect_delivery(&bus, o, 80, 1);
        ck_assert_uint_eq(last_n_more, XNS_DELIVERY_MORE_MAX);
        for (uint32_t i = 0; i < last_n_more; i++)
                ck_assert_uint_eq(last_more[i].id, next++);
        for (int frame = 1; frame < XNS_DELIVERY_FRAMES_MAX; frame++) {
                ck_assert_int_eq(expect_reply(&bus, o, &reply), -1);
                ck_assert_uint_eq(reply.seq, 80);
                ck_assert_int_eq(reply.body, XNS_BODY_NONE);
                ck_assert_uint_eq(reply.n_more, XNS_DELIVERY_MORE_MAX);
                ck_assert_int_eq(reply.continued, frame < XNS_DELIVERY_FRAMES_MAX - 1);
                for (uint32_t i = 0; i < reply.n_more; i++)
                        ck_assert_uint_eq(reply.more[i].id, next++);
        }
        expect_quiet(&bus, o);
        /* the rest, stalled ones included, is queued in order */
        ck_assert_uint_eq(srv->used, N - next + 1);
        ck_assert(list_is_empty(&srv->stalled));
        park_receiver(srv, o->conn, 81, true);
        expect_delivery(&bus, o, 81, next++);
        ck_assert_uint_eq(last_n_more, N - next + 1);
        ck_assert_uint_eq(last_more[last_n_more - 1].id, N);
        bus_stop(&bus, links, 1);
}
END_TEST

START_TEST(test_receiver_gets_oldest) {
        struct bus bus;
        struct link links[2], *o = &links[0], *c = &links[1];
        struct server *srv;
        struct xns_delivery d;

        bus_start(&bus, 4);
        link_open(&bus, o, NULL);
        link_open(&bus, c, NULL);
        srv = server_make(&bus, o);
        for (uint32_t id = 1; id <= 3; id++)
                ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, id), false), 0);
        ck_assert_uint_eq(srv->used, 3);
        expect_quiet(&bus, o);

        park_receiver(srv, o->conn, 50, true);
        ck_assert_int_eq(o->conn->wait, CONN_IDLE);
        d = expect_delivery(&bus, o, 50, 1);
        ck_assert_uint_eq(d.kind, XNS_KIND_SCALAR);
        ck_assert_uint_eq(d.handle, 0);                 /* a Scalar needs no answer */
        /* the Scalars queued behind it come in the same frame, in order */
        ck_assert_uint_eq(last_n_more, 2);
        for (uint32_t i = 0; i < 2; i++) {
                ck_assert_uint_eq(last_more[i].id, i + 2);
                ck_assert_uint_eq(last_more[i].a[0], (i + 2) * 10 + 1);
                ck_assert_uint_eq(last_more[i].a[3], (i + 2) * 10 + 4);
                ck_assert_uint_eq(last_more[i].sender_pid, (uint32_t)getpid());
        }
        ck_assert_uint_eq(srv->used, 0);                /* and leave their slots at once */
        expect_quiet(&bus, o);

        /* nothing left: the receiver waits, and the next message goes straight to it */
        park_receiver(srv, o->conn, 53, true);
        ck_assert_int_eq(o->conn->wait, CONN_WAIT_RECEIVE);
        ck_assert_ptr_eq(o->conn->wait_server, srv);
        expect_quiet(&bus, o);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_MOVE, 4), false), 0);
        d = expect_delivery(&bus, o, 53, 4);
        ck_assert_uint_eq(d.kind, XNS_KIND_MOVE);
        ck_assert_uint_eq(d.len, XNS_PAGE_SIZE);
        ck_assert_uint_eq(srv->used, 0);
        ck_assert_uint_eq(srv->served, 4);
        expect_quiet(&bus, c);
        bus_stop(&bus, links, 2);
}
END_TEST

/* Several threads of the server process receive on one SID: the one that
 * has waited longest gets the next message. */
START_TEST(test_receiver_pool) {
        struct bus bus;
        struct link links[3];
        struct server *srv;

        bus_start(&bus, 4);
        link_open(&bus, &links[0], NULL);
        link_open(&bus, &links[1], &links[0]);
        link_open(&bus, &links[2], &links[0]);
        ck_assert_ptr_eq(links[1].conn->peer, links[0].conn->peer);
        srv = server_make(&bus, &links[0]);

        park_receiver(srv, links[2].conn, 72, true);
        park_receiver(srv, links[0].conn, 70, true);
        park_receiver(srv, links[1].conn, 71, true);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, 1), false), 0);
        ck_assert_int_eq(server_submit(srv, msg_new(XNS_KIND_SCALAR, 2), false), 0);
        expect_delivery(&bus, &links[2], 72, 1);
        expect_delivery(&bus, &links[0], 70, 2);
        expect_quiet(&bus, &links[1]);
        ck_assert_int_eq(links[1].conn->wait, CONN_WAIT_RECEIVE);
        bus_stop(&bus, links, 3);
}
END_TEST

/* Blocking kinds keep their slot from delivery until answered; the others
 * free it on delivery. Loop index: the message kind. */
START_TEST(test_slot_held_until_answered) {
        const uint32_t kind = (uint32_t)_i;
        struct bus bus;
        struct link links[3], *o = &links[0], *c = &links[1], *s = &links[2];
        struct server *srv;
        struct message *m, *next;
        struct xns_delivery d;
        bool blocks = xns_kind_blocks(kind);

        bus_start(&bus, 1);
        link_open(&bus, o, NULL);
        link_open(&bus, c, NULL);
        link_open(&bus, s, c);
        srv = server_make(&bus, o);

        m = blocks ? msg_call(kind, 7, c, 9) : msg_new(kind, 7);
        ck_assert_int_eq(server_submit(srv, m, false), 0);
        park_receiver(srv, o->conn, 20, true);
        d = expect_delivery(&bus, o, 20, 7);
        ck_assert_uint_eq(d.kind, kind);
        ck_assert_uint_eq(srv->served, 1);
        if (!blocks) {
                ck_assert_uint_eq(d.handle, 0);
                ck_assert_uint_eq(srv->used, 0);
                next = msg_new(XNS_KIND_SCALAR, 8);
                ck_assert_int_eq(server_submit(srv, next, true), 0);
                bus_stop(&bus, links, 3);
                return;
        }

        /* delivered, unanswered: the slot stays taken; the handle reaches it */
        ck_assert_uint_ne(d.handle, 0);
        ck_assert_uint_eq(srv->used, 1);
        ck_assert_uint_eq(srv->unanswered, 1);
        ck_assert_int_eq(m->state, MESSAGE_DELIVERED);
        ck_assert_ptr_eq(m->holder, o->conn->peer);
        ck_assert_ptr_eq(peer_envelope_get(o->conn->peer, d.handle, d.gen), m);
        expect_quiet(&bus, c);                          /* the caller still waits */

        next = msg_new(XNS_KIND_SCALAR, 8);
        ck_assert_int_eq(server_submit(srv, next, true), -EAGAIN);
        message_free(next);
        next = msg_new(XNS_KIND_SCALAR, 8);
        ck_assert_int_eq(server_submit(srv, next, false), 1);
        msg_stall_sender(next, s);

        answer(srv, m, 0xabcd);
        expect_answer(&bus, c, 9, 0xabcd);
        ck_assert_ptr_null(peer_envelope_get(o->conn->peer, d.handle, d.gen)); /* answered once only */
        ck_assert_uint_eq(srv->unanswered, 0);
        ck_assert_uint_eq(srv->used, 1);                /* the stalled Scalar took the slot */
        ck_assert_int_eq(next->state, MESSAGE_QUEUED);
        ck_assert_int_eq(s->conn->wait, CONN_IDLE);
        park_receiver(srv, o->conn, 21, true);
        expect_delivery(&bus, o, 21, 8);
        ck_assert_uint_eq(srv->used, 0);
        bus_stop(&bus, links, 3);
}
END_TEST

/* Messages that waited for room enter the queue in the order sent, and
 * each waiting sender is answered only when its message got in. */
START_TEST(test_stalled_in_order) {
        struct bus bus;
        struct link links[5], *o = &links[0];
        struct server *srv;
        struct message *m[4];

        bus_start(&bus, 1);
        link_open(&bus, o, NULL);
        link_open(&bus, &links[1], NULL);
        for (int i = 2; i < 5; i++)
                link_open(&bus, &links[i], &links[1]);
        srv = server_make(&bus, o);

        m[0] = msg_new(XNS_KIND_SCALAR, 0);
        ck_assert_int_eq(server_submit(srv, m[0], false), 0);
        for (uint32_t i = 1; i < 4; i++) {
                m[i] = msg_new(XNS_KIND_SCALAR, i);
                ck_assert_int_eq(server_submit(srv, m[i], false), 1);
                msg_stall_sender(m[i], &links[i + 1]);
                        ck_assert_int_eq(links[i + 1].conn->wait, CONN_STALLED);
        }
        flush(&bus);

        park_receiver(srv, o->conn, 100, true);
        /* id 0 went out, id 1 moved in, its sender resumes; the others wait */
        ck_assert_int_eq(m[1]->state, MESSAGE_QUEUED);
        ck_assert_ptr_null(m[1]->sender);
        ck_assert_int_eq(links[2].conn->wait, CONN_IDLE);
        ck_assert(list_is_linked(&links[2].conn->dirty_link));  /* its answer is queued */
        ck_assert_int_eq(m[2]->state, MESSAGE_STALLED);
        ck_assert_int_eq(links[3].conn->wait, CONN_STALLED);
        ck_assert_int_eq(links[4].conn->wait, CONN_STALLED);
        expect_delivery(&bus, o, 100, 0);

        /* after id i went out, ids up to i + 1 are in; later senders still wait */
        for (uint32_t i = 1; i < 4; i++) {
                park_receiver(srv, o->conn, 100 + i, true);
                expect_delivery(&bus, o, 100 + i, i);
                for (uint32_t j = 1; j < 4; j++)
                        ck_assert_int_eq(links[j + 1].conn->wait == CONN_STALLED, j > i + 1);
        }
        ck_assert(list_is_empty(&srv->stalled));
        ck_assert(list_is_empty(&srv->queue));
        ck_assert_uint_eq(srv->used, 0);
        expect_quiet(&bus, &links[1]);                  /* queued at once: route answers that */
        for (int i = 2; i < 5; i++) {
                expect_error(&bus, &links[i], STALL_SEQ, XNS_OK);      /* in, once room came */
                expect_quiet(&bus, &links[i]);
        }
        bus_stop(&bus, links, 5);
}
END_TEST

/* Blocking and non-blocking messages share one stall queue and one order;
 * a blocking one that got in holds its slot again. */
START_TEST(test_stalled_mixed) {
        struct bus bus;
        struct link links[7], *o = &links[0], *c1 = &links[1], *c2 = &links[2], *c3 = &links[3];
        struct link *s1 = &links[4], *s2 = &links[5], *o2 = &links[6];
        struct server *srv;
        struct message *b1, *b2, *x, *y, *z;

        bus_start(&bus, 2);
        link_open(&bus, o, NULL);
        link_open(&bus, o2, o);
        link_open(&bus, c1, NULL);
        for (int i = 2; i < 6; i++)
                link_open(&bus, &links[i], c1);
        srv = server_make(&bus, o);

        b1 = msg_call(XNS_KIND_BLOCKING_SCALAR, 1, c1, 11);
        b2 = msg_call(XNS_KIND_MUTABLE_BORROW, 2, c2, 12);
        ck_assert_int_eq(server_submit(srv, b1, false), 0);
        ck_assert_int_eq(server_submit(srv, b2, false), 0);
        park_receiver(srv, o->conn, 201, true);
        park_receiver(srv, o2->conn, 202, true);
        expect_delivery(&bus, o, 201, 1);
        expect_delivery(&bus, o2, 202, 2);
        ck_assert_uint_eq(srv->used, 2);

        x = msg_new(XNS_KIND_SCALAR, 3);
        y = msg_call(XNS_KIND_BLOCKING_SCALAR, 4, c3, 14);
        z = msg_new(XNS_KIND_MOVE, 5);
        ck_assert_int_eq(server_submit(srv, x, false), 1);
        msg_stall_sender(x, s1);
        ck_assert_int_eq(server_submit(srv, y, false), 1);
        ck_assert_int_eq(server_submit(srv, z, false), 1);
        msg_stall_sender(z, s2);

        answer(srv, b2, 2);                             /* answered out of order */
        expect_answer(&bus, c2, 12, 2);
        expect_error(&bus, s1, STALL_SEQ, XNS_OK);     /* x got in: its sender goes on */
        ck_assert_int_eq(x->state, MESSAGE_QUEUED);
        ck_assert_int_eq(y->state, MESSAGE_STALLED);
        park_receiver(srv, o->conn, 203, true);
        expect_delivery(&bus, o, 203, 3);               /* x; its slot frees, y moves in */
        ck_assert_int_eq(y->state, MESSAGE_QUEUED);
        park_receiver(srv, o->conn, 204, true);
        expect_delivery(&bus, o, 204, 4);               /* y, holding its slot */
        ck_assert_int_eq(y->state, MESSAGE_DELIVERED);
        ck_assert_int_eq(z->state, MESSAGE_STALLED);
        ck_assert_int_eq(s2->conn->wait, CONN_STALLED);
        park_receiver(srv, o->conn, 205, true);
        expect_quiet(&bus, o);

        answer(srv, b1, 1);
        expect_answer(&bus, c1, 11, 1);
        expect_delivery(&bus, o, 205, 5);               /* z went straight to the waiting receiver */
        ck_assert_int_eq(s2->conn->wait, CONN_IDLE);
        expect_error(&bus, s2, STALL_SEQ, XNS_OK);
        answer(srv, y, 4);
        expect_answer(&bus, c3, 14, 4);
        ck_assert_uint_eq(srv->used, 0);
        bus_stop(&bus, links, 7);
}
END_TEST

/* --- a server going away ------------------------------------------------ */

START_TEST(test_fail_all_wakes_callers) {
        struct bus bus;
        struct link links[5], *o = &links[0], *c1 = &links[1], *c2 = &links[2], *c3 = &links[3], *s1 = &links[4];
        struct server *srv;
        struct message *x;
        struct xns_sid sid;
        int fds_before;

        bus_start(&bus, 2);
        link_open(&bus, o, NULL);
        link_open(&bus, c1, NULL);
        for (int i = 2; i < 5; i++)
                link_open(&bus, &links[i], c1);
        srv = server_make(&bus, o);
        sid = srv->sid;

        fds_before = count_open_fds();
        ck_assert_int_eq(server_submit(srv, msg_call(XNS_KIND_BLOCKING_SCALAR, 1, c1, 11), false), 0);
        ck_assert_int_eq(server_submit(srv, msg_call(XNS_KIND_BORROW, 2, c2, 12), false), 0);
        x = msg_new(XNS_KIND_MOVE, 3);
        ck_assert_int_eq(server_submit(srv, x, false), 1);
        msg_stall_sender(x, s1);
        ck_assert_int_eq(server_submit(srv, msg_call(XNS_KIND_MUTABLE_BORROW, 4, c3, 13), false), 1);
        flush(&bus);

        server_fail_all(srv, -ENOENT);
        ck_assert(list_is_empty(&srv->queue));
        ck_assert(list_is_empty(&srv->stalled));
        ck_assert_uint_eq(srv->used, 0);
        ck_assert(list_is_linked(&s1->conn->dirty_link));       /* the waiting sender is answered */
        ck_assert_int_eq(count_open_fds(), fds_before);         /* lent and moved memory let go */

        expect_error(&bus, c1, 11, XNS_ERR_SERVER_NOT_FOUND);
        expect_error(&bus, c2, 12, XNS_ERR_SERVER_NOT_FOUND);
        expect_error(&bus, c3, 13, XNS_ERR_SERVER_NOT_FOUND);
        expect_error(&bus, s1, STALL_SEQ, XNS_ERR_SERVER_NOT_FOUND);
        for (int i = 1; i < 5; i++) {
                ck_assert_int_eq(links[i].conn->wait, CONN_IDLE);
                expect_quiet(&bus, &links[i]);                  /* exactly one answer each */
        }

        bus_server_destroy(&bus, srv, -ENOENT);
        ck_assert_ptr_null(bus_server_find(&bus, &sid));
        ck_assert_uint_eq(bus.n_servers, 0);
        expect_quiet(&bus, o);
        bus_stop(&bus, links, 5);
}
END_TEST

/* Waiting receivers wake with the error too; a message already delivered
 * stays with its holder, still answerable. */
START_TEST(test_fail_all_wakes_receivers) {
        struct bus bus;
        struct link links[4], *o1 = &links[0], *o2 = &links[1], *o3 = &links[2], *c = &links[3];
        struct server *srv;
        struct message *b;
        struct xns_delivery d;

        bus_start(&bus, 2);
        link_open(&bus, o1, NULL);
        link_open(&bus, o2, o1);
        link_open(&bus, o3, o1);
        link_open(&bus, c, NULL);
        srv = server_make(&bus, o1);

        b = msg_call(XNS_KIND_BLOCKING_SCALAR, 1, c, 5);
        ck_assert_int_eq(server_submit(srv, b, false), 0);
        park_receiver(srv, o3->conn, 30, true);
        d = expect_delivery(&bus, o3, 30, 1);
        park_receiver(srv, o1->conn, 31, true);
        park_receiver(srv, o2->conn, 32, true);

        server_fail_all(srv, -ENOENT);
        ck_assert(list_is_empty(&srv->receivers));
        expect_error(&bus, o1, 31, XNS_ERR_SERVER_NOT_FOUND);
        expect_error(&bus, o2, 32, XNS_ERR_SERVER_NOT_FOUND);
        ck_assert_int_eq(o1->conn->wait, CONN_IDLE);
        ck_assert_ptr_null(o1->conn->wait_server);

        ck_assert_uint_eq(srv->unanswered, 1);
        ck_assert_uint_eq(srv->used, 1);
        ck_assert_ptr_eq(peer_envelope_get(o1->conn->peer, d.handle, d.gen), b);
        expect_quiet(&bus, c);
        answer(srv, b, 77);
        expect_answer(&bus, c, 5, 77);
        ck_assert_uint_eq(srv->used, 0);
        bus_stop(&bus, links, 4);
}
END_TEST

/* The last link of a process going away releases its servers: names and
 * SIDs are forgotten and every caller waiting on them wakes with
 * SERVER_NOT_FOUND, whether its message was queued or already received. */
START_TEST(test_disconnect_releases_servers) {
        struct bus bus;
        struct link links[5], *p1 = &links[0], *p2 = &links[1], *c1 = &links[2], *c2 = &links[3], *c3 = &links[4];
        struct server *named, *anon;
        struct name *name;
        struct xns_sid named_sid, anon_sid;
        struct message *queued, *received;

        bus_start(&bus, 4);
        link_open(&bus, p1, NULL);
        link_open(&bus, p2, p1);
        link_open(&bus, c1, NULL);
        link_open(&bus, c2, c1);
        link_open(&bus, c3, c1);
        named = server_make(&bus, p1);
        anon = server_make(&bus, p2);
        named_sid = named->sid;
        anon_sid = anon->sid;
        ck_assert_int_eq(name_registry_add(&bus.names, "svc", 0, named, &name), 0);
        named->name = name;

        received = msg_call(XNS_KIND_BLOCKING_SCALAR, 1, c2, 22);
        ck_assert_int_eq(server_submit(named, received, false), 0);
        park_receiver(named, p2->conn, 40, true);
        expect_delivery(&bus, p2, 40, 1);
        queued = msg_call(XNS_KIND_BORROW, 2, c1, 21);
        ck_assert_int_eq(server_submit(named, queued, false), 0);
        park_receiver(anon, p1->conn, 41, true);

        /* one link of the server process goes: nothing else changes */
        route_link_gone(p1->conn);
        ck_assert(p1->conn->dead);
        ck_assert_ptr_eq(bus_server_find(&bus, &named_sid), named);
        ck_assert_ptr_eq(bus_server_find(&bus, &anon_sid), anon);
        ck_assert(list_is_empty(&anon->receivers));     /* a dead link receives nothing */
        ck_assert_int_eq(server_submit(anon, msg_new(XNS_KIND_SCALAR, 3), false), 0);
        ck_assert_uint_eq(anon->used, 1);
        free_dead(&bus);
        expect_quiet(&bus, c1);
        expect_quiet(&bus, c2);

        /* the last one goes: the process is released */
        route_link_gone(p2->conn);
        ck_assert_ptr_null(bus_server_find(&bus, &named_sid));
        ck_assert_ptr_null(bus_server_find(&bus, &anon_sid));
        ck_assert_ptr_null(name_registry_find(&bus.names, "svc"));
        ck_assert_uint_eq(bus.n_servers, 0);
        ck_assert_ptr_eq(list_first_entry(&bus.peers, struct peer, bus_link), c1->conn->peer);
        ck_assert_ptr_eq(bus.peers.next->next, &bus.peers);
        expect_error(&bus, c1, 21, XNS_ERR_SERVER_NOT_FOUND);
        expect_error(&bus, c2, 22, XNS_ERR_SERVER_NOT_FOUND);
        expect_quiet(&bus, c3);
        ck_assert_int_eq(c1->conn->wait, CONN_IDLE);
        ck_assert_int_eq(c2->conn->wait, CONN_IDLE);

        /* the name is free for someone else */
        ck_assert_int_eq(name_registry_add(&bus.names, "svc", 0, NULL, &name), 0);
        name_registry_remove(&bus.names, name);
        free_dead(&bus);
        bus_stop(&bus, links, 5);
}
END_TEST

/* A caller process that dies leaves its messages behind: the server still
 * receives and answers them, and the answer goes nowhere. A paused
 * sender's message likewise still gets in when room frees. */
START_TEST(test_dying_caller) {
        struct bus bus;
        struct link links[4], *o = &links[0], *c = &links[1], *c2 = &links[2], *s = &links[3];
        struct server *srv;
        struct message *queued, *received, *stalled;
        struct xns_delivery d;

        bus_start(&bus, 2);
        link_open(&bus, o, NULL);
        link_open(&bus, c, NULL);
        link_open(&bus, c2, c);
        link_open(&bus, s, c);
        srv = server_make(&bus, o);

        received = msg_call(XNS_KIND_MUTABLE_BORROW, 1, c, 11);
        ck_assert_int_eq(server_submit(srv, received, false), 0);
        park_receiver(srv, o->conn, 60, true);
        d = expect_delivery(&bus, o, 60, 1);
        queued = msg_call(XNS_KIND_BLOCKING_SCALAR, 2, c2, 12); /* another thread's call */
        ck_assert_int_eq(server_submit(srv, queued, false), 0);
        stalled = msg_new(XNS_KIND_SCALAR, 3);
        ck_assert_int_eq(server_submit(srv, stalled, false), 1);
        msg_stall_sender(stalled, s);

        route_link_gone(c->conn);
        route_link_gone(c2->conn);
        route_link_gone(s->conn);
        free_dead(&bus);                                /* nothing may point at them now */
        ck_assert_ptr_null(received->caller);
        ck_assert_ptr_null(queued->caller);
        ck_assert_ptr_null(stalled->sender);
        ck_assert_int_eq(queued->state, MESSAGE_QUEUED);
        ck_assert_uint_eq(srv->used, 2);

        ck_assert_ptr_eq(peer_envelope_get(o->conn->peer, d.handle, d.gen), received);
        answer(srv, received, 1);                       /* frees a slot: the stalled one gets in */
        ck_assert_int_eq(stalled->state, MESSAGE_QUEUED);
        park_receiver(srv, o->conn, 61, true);
        d = expect_delivery(&bus, o, 61, 2);
        ck_assert_ptr_eq(peer_envelope_get(o->conn->peer, d.handle, d.gen), queued);
        ck_assert_uint_eq(last_n_more, 1);              /* the stalled Scalar rides along */
        ck_assert_uint_eq(last_more[0].id, 3);
        answer(srv, queued, 2);
        ck_assert_uint_eq(srv->used, 0);
        bus_stop(&bus, links, 4);
}
END_TEST

/* A further link joins a process only with that process's token, from the
 * same pid and uid. */
START_TEST(test_attach_token) {
        struct bus bus;
        struct link links[2];
        struct conn *stranger;
        uint8_t forged[XNS_TOKEN_LEN];
        int sv[2];

        bus_start(&bus, 4);
        link_open(&bus, &links[0], NULL);
        link_open(&bus, &links[1], &links[0]);
        ck_assert_ptr_eq(links[1].conn->peer, links[0].conn->peer);

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(conn_new(&stranger, &bus, &(struct conn_lists){ &bus.dirty, &bus.ring_ready, &bus.chan_ready }, sv[0]), 0);
        bus_conn_add(&bus, stranger);
        memcpy(forged, links[0].conn->peer->token, XNS_TOKEN_LEN);
        forged[0] ^= 1;
        ck_assert_int_eq(bus_peer_attach(&bus, stranger, forged, NULL), -EACCES);
        stranger->pid = getpid() + 1;                   /* another process with a stolen token */
        ck_assert_int_eq(bus_peer_attach(&bus, stranger, links[0].conn->peer->token, NULL), -EACCES);
        ck_assert_ptr_null(stranger->peer);
        route_link_gone(stranger);
        close(sv[1]);
        bus_stop(&bus, links, 2);
}
END_TEST

static Suite *server_suite(void) {
        Suite *s = suite_create("server");
        TCase *tc;

        tc = tcase_create("queue");
        tcase_add_test(tc, test_submit_room_and_full);
        tcase_add_test(tc, test_receiver_gets_oldest);
        tcase_add_test(tc, test_receiver_pool);
        tcase_add_loop_test(tc, test_slot_held_until_answered, 0, _XNS_KIND_MAX);
        tcase_add_test(tc, test_stalled_in_order);
        tcase_add_test(tc, test_stalled_mixed);
        suite_add_tcase(s, tc);

        tc = tcase_create("teardown");
        tcase_add_test(tc, test_fail_all_wakes_callers);
        tcase_add_test(tc, test_fail_all_wakes_receivers);
        tcase_add_test(tc, test_disconnect_releases_servers);
        tcase_add_test(tc, test_dying_caller);
        tcase_add_test(tc, test_more_only_scalars_and_not_for_pools);
        tcase_add_test(tc, test_more_continues_in_frames);
        tcase_add_test(tc, test_ring_stalls_and_resumes);
        tcase_add_test(tc, test_ring_pass_with_scalars_left_says_so);
        tcase_add_test(tc, test_attach_token);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(server_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
