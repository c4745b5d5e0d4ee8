/* fuzz-route.c: libFuzzer target for the daemon's frame decoding and
 * dispatch. Each input is a sequence of frames that real links (socketpairs)
 * send to a fresh bus through route_frame(), as the event loop would; the
 * replies are written and read back. Then everything is disconnected and
 * freed, so nothing carries over to the next input and LeakSanitizer sees
 * every object the input made.
 *
 * Input: records of
 *   byte 0      bits 0-1: link (0..3); bit 2: a memfd comes with the frame
 *               (bit 3: opened read-only, as a Borrow needs); bit 4: the
 *               client hangs up this link instead of sending the frame;
 *               bit 5: a Return, Receive-with-return or Forward in the frame
 *               gets the generation of the last message the link's process
 *               received (the daemon's generations run on across inputs);
 *               bit 6: with bit 2, the memfd is (a dup of) the link's ring
 *               instead of the segment, so that an XNS_OP_RING frame can
 *               attach it (with bit 3 too: the ring reopened read-only);
 *               bit 7: no frame is sent: its bytes are written into the
 *               link's ring (byte 0 times 64, modulo XNS_RING_SIZE, is the
 *               offset, the rest is copied there, clipped to the ring), then
 *               xnsd looks at the ring as before the link's next frame
 *               (with bit 4: the client hangs up right after writing, and
 *               only the last look at disconnection sees it)
 *   bytes 1-2   frame length, little-endian (at most XNS_FRAME_MAX + 1)
 *   then        the frame (cut short at the end of the input)
 * Links 0 and 1 are two processes A and B, link 2 a second link of A, all
 * three past Hello; link 3 is new and must say Hello (or ask for Control).
 * Each link has a ring of posted Scalars for the input (a sealed memfd of
 * XNS_RING_SIZE, mapped here), whatever xnsd makes of it.
 *
 * The harness drives xnsd through the same code as its event loop
 * (xnsd/dispatch.c): a link's ring before each of its frames (a broken ring
 * cuts the link), no frame routed while the link's reading is paused (the
 * frame is dropped: it would wait in the socket), and after each record a
 * wakeup's end: rings waiting for another pass, posted Scalars to hand out,
 * then the writes.
 *
 * getrandom() is replaced by a counter, so tokens and SIDs are predictable
 * within an input: the bus's tag (w0 of every SID) is 1, A's token starts
 * with byte 2, B's with 3, and the n-th server of the input gets SID
 * { 1, n + 3, 0, 0 }.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus.h"
#include "conn.h"
#include "dispatch.h"
#include "fuzz-bus.h"
#include "log.h"
#include "peer.h"
#include "ring.h"
#include "route.h"
#include "server.h"
#include "wire.h"

#define N_LINKS 4
#define SEGMENT_SIZE (2 * XNS_PAGE_SIZE)

enum {
        REC_LINK_MASK = 0x03,
        REC_MEMFD = 0x04,
        REC_MEMFD_RDONLY = 0x08,
        REC_HANG_UP = 0x10,
        REC_FIX_GEN = 0x20,
        REC_RING = 0x40,
        REC_RING_WRITE = 0x80,
};

#define RING_WRITE_STEP 64      /* REC_RING_WRITE offsets: a cache line (one index) */

/* The process of each link: A, B, A, and whoever link 3 becomes. */
static const unsigned link_process[N_LINKS] = { 0, 1, 0, 2 };

struct link {
        struct conn *conn;      /* NULL once freed */
        int client;             /* the process's end */
        int ring_fd;            /* the process's ring memfd for this link */
        uint8_t *ring;          /* and its mapping, as the client writes it */
};

static uint32_t last_gen[3];            /* per process: of its last delivery */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int segment_rw = -1, segment_ro = -1;

/* A sealed memfd of two pages, and the same opened read-only: what a
 * caller lends or moves. Made once; each frame carries a dup. */
static void make_segments(void) {
        char path[64];

        segment_rw = memfd_create("fuzz-segment", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (segment_rw < 0 || ftruncate(segment_rw, SEGMENT_SIZE) < 0 ||
            fcntl(segment_rw, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
                perror("fuzz-route: memfd");
                abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", segment_rw);
        segment_ro = open(path, O_RDONLY | O_CLOEXEC);
        if (segment_ro < 0) {
                perror("fuzz-route: reopen memfd");
                abort();
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        /* Not even errors: the inputs are meant to be bad. FUZZ_ROUTE_LOG=2
         * shows what the daemon did with an input (debug level). */
        log_level = getenv("FUZZ_ROUTE_LOG") ? atoi(getenv("FUZZ_ROUTE_LOG")) : -1;
        make_segments();
        return 0;
}

static void link_open(struct bus *bus, struct link *l) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
            conn_new(&l->conn, bus, &(struct conn_lists){ &bus->dirty, &bus->ring_ready, &bus->chan_ready }, sv[0]) < 0) {
                perror("fuzz-route: link");
                abort();
        }
        bus_conn_add(bus, l->conn);
        l->client = sv[1];
}

/* The link's ring as a client makes it: a read-write memfd of exactly
 * XNS_RING_SIZE, sealed against resizing, mapped shared. */
static void link_ring_open(struct link *l) {
        void *p;

        l->ring_fd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (l->ring_fd < 0 || ftruncate(l->ring_fd, XNS_RING_SIZE) < 0 ||
            fcntl(l->ring_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
                perror("fuzz-route: ring memfd");
                abort();
        }
        p = mmap(NULL, XNS_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, l->ring_fd, 0);
        if (p == MAP_FAILED) {
                perror("fuzz-route: ring mmap");
                abort();
        }
        l->ring = p;
}

static void link_ring_close(struct link *l) {
        if (munmap(l->ring, XNS_RING_SIZE) < 0 || close(l->ring_fd) < 0) {
                perror("fuzz-route: ring close");
                abort();
        }
        l->ring = NULL;
        l->ring_fd = -1;
}

/* REC_RING_WRITE: the client writes into its ring, anything anywhere. */
static void link_ring_write(struct link *l, const uint8_t *bytes, size_t len) {
        size_t off, n;

        if (len == 0)
                return;
        off = (size_t)bytes[0] * RING_WRITE_STEP % XNS_RING_SIZE;
        n = len - 1 < XNS_RING_SIZE - off ? len - 1 : XNS_RING_SIZE - off;
        memcpy(l->ring + off, bytes + 1, n);
}

static void link_attach(struct bus *bus, struct link *l, const struct link *of) {
        if (bus_peer_attach(bus, l->conn, of ? of->conn->peer->token : NULL, NULL) < 0)
                abort();
}

/* Reads what the daemon wrote to the process's end: every frame must
 * decode; deliveries' generations are kept for REC_FIX_GEN. */
static void link_drain(struct link *l, unsigned process) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_reply reply;
        ssize_t n;
        int fd;

        while ((n = xns_frame_recv(l->client, buf, sizeof(buf), &fd, true)) > 0) {
                if (fd >= 0)
                        close(fd);
                if (xns_reply_decode(&reply, buf, (size_t)n) < 0) {
                        fprintf(stderr, "fuzz-route: xnsd wrote a reply that does not decode\n");
                        abort();
                }
                if (log_level >= 2)
                        fprintf(stderr, "fuzz-route: process %u: reply seq %u error %u body %d, %u more%s\n",
                                process, reply.seq, reply.error, (int)reply.body, reply.n_more,
                                fd >= 0 ? ", with a descriptor" : "");
                if (log_level >= 2 && reply.body == XNS_BODY_ACK)
                        fprintf(stderr, "fuzz-route: process %u: ack error %u cid %u\n", process, reply.ack.error,
                                reply.ack.cid);
                if (reply.body == XNS_BODY_DELIVERY && reply.delivery.handle != 0)
                        last_gen[process] = reply.delivery.gen;
        }
}

/* A link the daemon frees is gone from the harness too. */
static void link_released(struct conn *conn, void *ctx) {
        struct link *links = ctx;

        for (size_t i = 0; i < N_LINKS; i++)
                if (links[i].conn == conn)
                        links[i].conn = NULL;
}

/* The end of a wakeup, as the event loop has it (dispatch.c), then what the
 * processes read. */
static void loop_flush(struct bus *bus, struct link *links) {
        struct dispatch_io io = { .release = link_released, .ctx = links };

        dispatch_flush(bus, &io);
        for (size_t i = 0; i < N_LINKS; i++)
                link_drain(&links[i], link_process[i]);
}

static int frame_fd(const struct link *l, uint8_t ctl) {
        char path[64];
        int fd;

        if (!(ctl & REC_MEMFD))
                return -1;
        if ((ctl & (REC_RING | REC_MEMFD_RDONLY)) == (REC_RING | REC_MEMFD_RDONLY)) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", l->ring_fd);
                fd = open(path, O_RDONLY | O_CLOEXEC);
        } else if (ctl & REC_RING) {
                fd = fcntl(l->ring_fd, F_DUPFD_CLOEXEC, 3);
        } else {
                fd = fcntl(ctl & REC_MEMFD_RDONLY ? segment_ro : segment_rw, F_DUPFD_CLOEXEC, 3);
        }
        if (fd < 0) {
                perror("fuzz-route: frame descriptor");
                abort();
        }
        return fd;
}

struct input {
        struct bus *bus;
        struct link *links;
};

static void feed_frame(struct bus *bus, struct link *links, uint8_t ctl, const uint8_t *frame, size_t len) {
        uint8_t fixed[XNS_FRAME_MAX];
        struct link *l = &links[ctl & REC_LINK_MASK];
        uint8_t *copy;

        if (!l->conn)
                return;
        if (ctl & REC_RING_WRITE) {
                link_ring_write(l, frame, len);
                /* Hung up at once: noticed while the link is paused, or
                 * after a pass; either way the last look sees the rest. */
                if (ctl & REC_HANG_UP)
                        route_link_gone(l->conn);
                else
                        route_ring_turn(l->conn);
                return;
        }
        if (ctl & REC_HANG_UP) {
                /* What the ring holds was sent before the hang-up. */
                if (route_ring_turn(l->conn) >= 0)
                        route_link_gone(l->conn);
                return;
        }
        /* As the loop before each frame (dispatch.c): the ring first; a
         * paused link, or one whose ring is due another pass, is not read. */
        if (!dispatch_may_read(l->conn))
                return;
        if ((ctl & REC_FIX_GEN) && fuzz_fix_gen(last_gen[link_process[ctl & REC_LINK_MASK]], frame, &len, fixed))
                frame = fixed;
        /* A copy of its own size, so that ASan sees a read past the frame.
         * route_frame owns the descriptor; a violation cuts the link. */
        copy = malloc(len ? len : 1);
        if (!copy)
                abort();
        memcpy(copy, frame, len);
        dispatch_frame(l->conn, copy, (ssize_t)len, frame_fd(l, ctl));
        free(copy);
}

/* One record, then the end of a wakeup. */
static void feed_record(uint8_t ctl, const uint8_t *bytes, size_t len, void *ctx) {
        struct input *in = ctx;

        feed_frame(in->bus, in->links, ctl, bytes, len);
        loop_flush(in->bus, in->links);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct bus_options opt = BUS_OPTIONS_DEFAULT;
        struct link links[N_LINKS];
        struct bus bus;
        int fds = fuzz_count_fds();

        /* Small limits, so that full queues and tables are within reach. */
        opt.queue_depth = 4;
        opt.max_cids = 8;
        fuzz_random_counter = 0;
        memset(last_gen, 0, sizeof(last_gen));
        bus_init(&bus, &opt);
        for (size_t i = 0; i < N_LINKS; i++) {
                link_open(&bus, &links[i]);
                link_ring_open(&links[i]);
        }
        link_attach(&bus, &links[0], NULL);
        links[0].conn->peer->keeps_bufs = true;         /* A keeps buffers it is given, as a library's process */
        link_attach(&bus, &links[1], NULL);
        link_attach(&bus, &links[2], &links[0]);

        fuzz_records(data, size, feed_record, &(struct input){ &bus, links });

        while (!list_is_empty(&bus.conns))
                route_link_gone(list_first_entry(&bus.conns, struct conn, bus_link));
        loop_flush(&bus, links);
        if (bus.n_conns || bus.n_peers || bus.n_servers || !list_is_empty(&bus.peers) ||
            !list_is_empty(&bus.ring_ready) || !list_is_empty(&bus.pumps)) {
                fprintf(stderr, "fuzz-route: state left after every link was cut\n");
                abort();
        }
        bus_deinit(&bus);
        for (size_t i = 0; i < N_LINKS; i++) {
                close(links[i].client);
                link_ring_close(&links[i]);
        }
        if (fuzz_count_fds() != fds) {
                fprintf(stderr, "fuzz-route: %d descriptors open before the input, %d after\n", fds, fuzz_count_fds());
                abort();
        }
        return 0;
}
