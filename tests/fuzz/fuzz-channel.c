/* fuzz-channel.c: libFuzzer target for a link's channel (xnsd/channel.c,
 * proto/chan.c): what a hostile client can do to the shared memory xnsd
 * reads its frames from and writes its replies to, and to the socket
 * beside it. Two links of two processes (A and B, past Hello) set their
 * channels up through the real requests (XNS_OP_CHANNEL, _BELL); then each
 * record of the input acts as one client, and the wakeup's end follows, as
 * in the event loop (xnsd/dispatch.c). Then everything is cut and freed, so
 * LeakSanitizer and the descriptor count see what an input left.
 *
 * Input: records of
 *   byte 0      bit 0: link (A or B); bits 1-3: what the client does
 *               (enum action); bit 4: a descriptor it sends is opened
 *               read-only; bit 5: a Return, Receive-with-return or Forward
 *               gets the generation of the process's last delivery
 *   bytes 1-2   length, little-endian (at most XNS_FRAME_MAX + 1)
 *   then        the bytes (cut short at the end of the input)
 * getrandom() is a counter here, as in fuzz-route: the bus's tag is 1 (w0 of
 * every SID), A's token 2, B's 3, and the n-th server of an input gets SID
 * { 1, n + 3, 0, 0 }; the first CID granted is 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus.h"
#include "chan.h"
#include "conn.h"
#include "dispatch.h"
#include "fuzz-bus.h"
#include "log.h"
#include "peer.h"
#include "route.h"
#include "wire.h"

#define N_LINKS 2
#define SEGMENT_SIZE (2 * XNS_PAGE_SIZE)
#define SCRIBBLE_STEP (XNS_CHAN_SIZE / 256)       /* ACT_SCRIBBLE: byte 0 times this is the offset in the channel */

enum action {
        ACT_FRAME,              /* an honest record, and a ring */
        ACT_FRAME_FD,           /* the same, a segment's memfd sent ahead on the socket */
        ACT_SCRIBBLE,           /* bytes written anywhere in the channel, header included; a ring */
        ACT_DATAGRAM,           /* bytes sent as a datagram on the socket (bit 4: with a memfd); a ring */
        ACT_HANG_UP,            /* the client is gone: what it published is read, the link cut */
        ACT_TAKE,               /* the client takes its replies, honestly */
        ACT_QUIET,              /* an honest record, without a ring */
        ACT_RING,               /* a ring, nothing new */
};

enum {
        REC_LINK = 0x01,
        REC_RDONLY = 0x10,
        REC_FIX_GEN = 0x20,
};

struct link {
        struct conn *conn;      /* NULL once freed */
        int client;             /* the process's socket */
        struct xns_chan *chan;  /* the client's mapping */
        struct xns_chan_end req, rep;
        int bell_daemon, bell_own;
};

static uint32_t last_gen[N_LINKS];
static int segment_rw = -1, segment_ro = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sealed_memfd(const char *name, size_t size) {
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

        if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
                fuzz_die("fuzz-channel: memfd");
        return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char path[64];

        (void)argc;
        (void)argv;
        log_level = getenv("FUZZ_ROUTE_LOG") ? atoi(getenv("FUZZ_ROUTE_LOG")) : -1;
        segment_rw = sealed_memfd("fuzz-segment", SEGMENT_SIZE);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", segment_rw);
        segment_ro = open(path, O_RDONLY | O_CLOEXEC);
        if (segment_ro < 0)
                fuzz_die("fuzz-channel: reopen memfd");
        return 0;
}

static void link_released(struct conn *conn, void *ctx) {
        struct link *links = ctx;

        for (size_t i = 0; i < N_LINKS; i++)
                if (links[i].conn == conn)
                        links[i].conn = NULL;
}

static void wakeup_end(struct bus *bus, struct link *links) {
        struct dispatch_io io = { .release = link_released, .ctx = links };

        dispatch_flush(bus, &io);
}

/* One frame by the socket, before the channel runs: its answer's error and
 * descriptor. */
static uint32_t setup_call(struct bus *bus, struct link *links, struct link *l, enum xns_op op, int fd, int *rfd) {
        uint8_t buf[XNS_FRAME_MAX];
        struct xns_request req = { .seq = 1, .op = op };
        struct xns_reply reply;
        ssize_t n = xns_request_encode(&req, buf, sizeof(buf));

        if (n < 0)
                abort();
        dispatch_frame(l->conn, buf, n, fd);
        wakeup_end(bus, links);
        n = xns_frame_recv(l->client, buf, sizeof(buf), rfd, true);
        if (n <= 0 || xns_reply_decode(&reply, buf, (size_t)n) < 0 || reply.seq != 1)
                abort();
        return reply.error;
}

/* As libxousclient's link_chan_open(). */
static void link_open(struct bus *bus, struct link *links, struct link *l, const struct link *of) {
        int sv[2], fd;
        void *p;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
            conn_new(&l->conn, bus, &(struct conn_lists){ &bus->dirty, &bus->ring_ready, &bus->chan_ready },
                     sv[0]) < 0)
                fuzz_die("fuzz-channel: link");
        bus_conn_add(bus, l->conn);
        l->client = sv[1];
        if (bus_peer_attach(bus, l->conn, of ? of->conn->peer->token : NULL, NULL) < 0)
                abort();
        fd = sealed_memfd("fuzz-chan", XNS_CHAN_SIZE);
        p = mmap(NULL, XNS_CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                fuzz_die("fuzz-channel: mmap");
        l->chan = p;
        xns_chan_end_init(&l->req, l->chan, true);
        xns_chan_end_init(&l->rep, l->chan, false);
        if (setup_call(bus, links, l, XNS_OP_CHANNEL, fd, &l->bell_daemon) != 0 ||
            setup_call(bus, links, l, XNS_OP_CHANNEL_BELL, -1, &l->bell_own) != 0 || l->bell_own < 0)
                abort();
}

static void link_close(struct link *l) {
        if (munmap(l->chan, XNS_CHAN_SIZE) < 0)
                fuzz_die("fuzz-channel: munmap");
        close(l->client);
        close(l->bell_daemon);
        close(l->bell_own);
}

static int segment_dup(uint8_t ctl) {
        int fd = fcntl(ctl & REC_RDONLY ? segment_ro : segment_rw, F_DUPFD_CLOEXEC, 3);

        if (fd < 0)
                fuzz_die("fuzz-channel: dup");
        return fd;
}

/* What an honest client does with a frame: its descriptor ahead on the
 * socket, then the record, if there is room (else it would wait). */
static void client_publish(struct link *l, uint8_t ctl, const uint8_t *frame, size_t len, bool with_fd) {
        if (len == 0 || len > XNS_FRAME_MAX || !xns_chan_fits(&l->req, (uint32_t)len))
                return;
        if (with_fd) {
                int fd = segment_dup(ctl);

                if (xns_chan_fd_send(l->client, fd, true) < 0) {
                        close(fd);
                        return;
                }
                close(fd);
        }
        xns_chan_put(&l->req, frame, (uint32_t)len, with_fd ? XNS_CHAN_FD : 0);
}

/* The client takes what xnsd wrote it: every frame must decode. */
static void client_take(struct link *l, unsigned process) {
        uint8_t buf[XNS_FRAME_MAX], bells[64];
        struct xns_reply reply;
        uint32_t flags;
        int n, fd;

        while (read(l->bell_own, bells, sizeof(bells)) > 0)
                ;
        while ((n = xns_chan_take(&l->rep, buf, &flags)) > 0) {
                fd = -1;
                if ((flags & XNS_CHAN_FD) && xns_chan_fd_recv(l->client, &fd) < 0) {
                        fprintf(stderr, "fuzz-channel: a record's descriptor is missing\n");
                        abort();
                }
                if (fd >= 0)
                        close(fd);
                if (xns_reply_decode(&reply, buf, (size_t)n) < 0) {
                        fprintf(stderr, "fuzz-channel: xnsd wrote a reply that does not decode\n");
                        abort();
                }
                if (log_level >= 2)
                        fprintf(stderr, "fuzz-channel: process %u: reply seq %u error %u body %d (%u)%s\n", process,
                                reply.seq, reply.error, (int)reply.body, reply.sid.w[0],
                                fd >= 0 ? ", with a descriptor" : "");
                if (reply.body == XNS_BODY_DELIVERY && reply.delivery.handle != 0)
                        last_gen[process] = reply.delivery.gen;
        }
        if (n < 0) {
                fprintf(stderr, "fuzz-channel: xnsd wrote a broken reply ring\n");
                abort();
        }
        if (xns_chan_room_due(&l->rep) && l->conn)
                dispatch_channel(l->conn, false);
}

static void scribble(struct link *l, const uint8_t *bytes, size_t len) {
        size_t off, n;

        if (len == 0)
                return;
        off = (size_t)bytes[0] * SCRIBBLE_STEP % XNS_CHAN_SIZE;
        n = len - 1 < XNS_CHAN_SIZE - off ? len - 1 : XNS_CHAN_SIZE - off;
        memcpy((uint8_t *)l->chan + off, bytes + 1, n);
}

static void datagram(struct link *l, uint8_t ctl, const uint8_t *bytes, size_t len) {
        int fd = ctl & REC_RDONLY ? segment_dup(ctl) : -1;

        (void)xns_frame_send(l->client, len ? bytes : (const uint8_t *)"", len, fd, true);
        if (fd >= 0)
                close(fd);
}

static void feed_client(struct link *links, uint8_t ctl, const uint8_t *bytes, size_t len) {
        unsigned process = ctl & REC_LINK;
        struct link *l = &links[process];
        uint8_t fixed[XNS_FRAME_MAX];

        if (!l->conn)
                return;
        if ((ctl & REC_FIX_GEN) && fuzz_fix_gen(last_gen[process], bytes, &len, fixed))
                bytes = fixed;
        switch ((enum action)(ctl >> 1 & 7)) {
        case ACT_FRAME:
        case ACT_FRAME_FD:
                client_publish(l, ctl, bytes, len, (ctl >> 1 & 7) == ACT_FRAME_FD);
                break;
        case ACT_SCRIBBLE:
                scribble(l, bytes, len);
                break;
        case ACT_DATAGRAM:
                datagram(l, ctl, bytes, len);
                break;
        case ACT_HANG_UP:
                dispatch_channel(l->conn, true);
                route_link_gone(l->conn);
                return;
        case ACT_TAKE:
                client_take(l, process);
                return;
        case ACT_QUIET:
                client_publish(l, ctl, bytes, len, false);
                return;
        case ACT_RING:
                break;
        }
        dispatch_channel(l->conn, false);
}

struct input {
        struct bus *bus;
        struct link *links;
};

/* One record, then the end of a wakeup. */
static void feed_record(uint8_t ctl, const uint8_t *bytes, size_t len, void *ctx) {
        struct input *in = ctx;

        feed_client(in->links, ctl, bytes, len);
        wakeup_end(in->bus, in->links);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct bus_options opt = BUS_OPTIONS_DEFAULT;
        struct link links[N_LINKS];
        struct bus bus;
        int fds = fuzz_count_fds();

        opt.queue_depth = 4;
        opt.max_cids = 8;
        fuzz_random_counter = 0;
        memset(last_gen, 0, sizeof(last_gen));
        bus_init(&bus, &opt);
        for (size_t i = 0; i < N_LINKS; i++)
                links[i] = (struct link){ .client = -1, .bell_daemon = -1, .bell_own = -1 };
        link_open(&bus, links, &links[0], NULL);
        link_open(&bus, links, &links[1], NULL);

        fuzz_records(data, size, feed_record, &(struct input){ &bus, links });

        while (!list_is_empty(&bus.conns))
                route_link_gone(list_first_entry(&bus.conns, struct conn, bus_link));
        wakeup_end(&bus, links);
        if (bus.n_conns || bus.n_peers || bus.n_servers || !list_is_empty(&bus.peers) ||
            !list_is_empty(&bus.ring_ready) || !list_is_empty(&bus.chan_ready) || !list_is_empty(&bus.pumps)) {
                fprintf(stderr, "fuzz-channel: state left after every link was cut\n");
                abort();
        }
        bus_deinit(&bus);
        for (size_t i = 0; i < N_LINKS; i++)
                link_close(&links[i]);
        if (fuzz_count_fds() != fds) {
                fprintf(stderr, "fuzz-channel: %d descriptors open before the input, %d after\n", fds, fuzz_count_fds());
                abort();
        }
        return 0;
}
