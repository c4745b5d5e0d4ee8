/* link.c: one SOCK_SEQPACKET link to xnsd: connect, HELLO, request/reply. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "memfd.h"
#include "parse.h"
#include "socket-path.h"
#include "xous-internal.h"

#define LINK_FOREVER UINT64_MAX

/* Errors from sendmsg() that mean the daemon is gone. */
static bool errno_is_disconnect(int r) {
        return r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN;
}

int link_new(struct link **ret) {
        struct link *l;

        l = malloc(sizeof(*l));
        if (!l)
                return -ENOMEM;
        *l = (struct link)LINK_INIT;
        list_init(&l->registry_link);
        list_init(&l->pool_link);
        list_init(&l->given);
        l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (l->fd < 0) {
                free(l);
                return -errno;
        }
        *ret = l;
        return 0;
}

struct link *link_free(struct link *l) {
        if (l) {
                given_drop_link(l);
                if (l->ring)
                        munmap(l->ring, XNS_RING_SIZE);
                if (l->chan)
                        munmap(l->chan, XNS_CHAN_SIZE);
                safe_close(l->bell_daemon);
                safe_close(l->bell_own);
                safe_close(l->fd);
                free(l);
        }
        return NULL;
}

int link_connect(struct link *l) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = xns_socket_path();
        size_t len = strlen(path);

        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);
        while (connect(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static uint32_t link_next_seq(struct link *l) {
        if (++l->seq == 0)
                l->seq = 1;
        return l->seq;
}

/* Rings xnsd's bell, an eventfd it watches edge-triggered and never reads:
 * each write wakes it. */
static void link_ring_daemon(struct link *l) {
        static const uint64_t one = 1;

        if (write(l->bell_daemon, &one, sizeof(one)) < 0 && errno != EAGAIN && errno != EINTR)
                l->broken = true;
}

/* Waits until fd is readable or deadline (ms on CLOCK_MONOTONIC,
 * LINK_FOREVER: none) has passed: 0, or -ETIMEDOUT. */
static int link_poll(int fd, uint64_t deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        if (deadline == LINK_FOREVER)
                return 0;
        for (;;) {
                uint64_t now = now_ms();
                int n;

                if (now >= deadline)
                        return -ETIMEDOUT;
                n = poll(&p, 1, deadline - now > INT32_MAX ? INT32_MAX : (int)(deadline - now));
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

/* Waits for xnsd to ring our bell, a pipe of which xnsd holds the only
 * write end: 0 (the rings are taken; the caller looks again), -ETIMEDOUT,
 * or -ECONNRESET at its end of file, xnsd gone. */
static int link_chan_wait(struct link *l, uint64_t deadline) {
        uint8_t bytes[64];
        ssize_t n;
        int r;

        r = link_poll(l->bell_own, deadline);
        if (r < 0)
                return r;
        do
                n = read(l->bell_own, bytes, sizeof(bytes));
        while (n < 0 && errno == EINTR);
        if (n == 0)
                return -ECONNRESET;
        return n < 0 ? -errno : 0;
}

/* A frame into the channel: its descriptor first, on the socket. Waits
 * for room in the ring as a full socket would. */
static int link_chan_send(struct link *l, const void *frame, size_t len, int fd) {
        int r;

        while (!xns_chan_fits(&l->req, (uint32_t)len)) {
                if (!xns_chan_ask_room(&l->req, (uint32_t)len))
                        break;
                r = link_chan_wait(l, LINK_FOREVER);
                if (r < 0)
                        return r;
        }
        if (fd >= 0) {
                r = xns_chan_fd_send(l->fd, fd, false);
                if (r < 0)
                        return r;
        }
        if (!xns_chan_put(&l->req, frame, (uint32_t)len, fd >= 0 ? XNS_CHAN_FD : 0))
                return -EBADMSG;        /* it fitted: only xnsd moving its tail back makes it not */
        if (xns_chan_ring_due(&l->req))
                link_ring_daemon(l);
        return 0;
}

static int link_send(struct link *l, const struct xns_request *req, int fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;
        int r;

        n = xns_request_encode(req, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        if (l->chan)
                r = link_chan_send(l, buf, (size_t)n, fd);
        else
                r = xns_frame_send(l->fd, buf, (size_t)n, fd, false);
        if (errno_is_disconnect(r))
                l->broken = true;
        return r;
}

/* A daemon error, clamped into the range of xous_error_t. */
static int reply_error(uint32_t error) {
        return error <= XOUS_ERR_SECURITY_ERROR ? (int)error : XOUS_ERR_UNKNOWN_ERROR;
}

/* An ack says there is room in the ring, or reports a failed Scalar. */
static void link_take_ack(struct link *l, const struct xns_ack *ack) {
        if (ack->error != XOUS_OK)
                session_note_post_error(l->generation, ack->cid, reply_error(ack->error));
}

/*
 * Spinning before sleeping, for the answer to a BlockingScalar.
 *
 * Where processes float over CPUs, each sleep and wake-up across them costs
 * this 2-CPU VM 20-40 us, more than the rest of a BlockingScalar's way
 * through xnsd. So a caller waiting for a BlockingScalar's answer first
 * watches its reply ring for up to spin_ns (XNS_SPIN_NS, default SPIN_NS):
 * an answer that comes meanwhile needs no ring from xnsd and no wake-up.
 * Bounded, and only where it pays: never in a process that may run on one
 * CPU only (it would hold up xnsd and the server there), never while
 * receiving (an idle server does not spin), and only on a link whose
 * answers came within spin_ns lately (a moving average), so callers of
 * slow servers, or of a daemon busy with many clients, sleep at once.
 * Measured (xnsbench, unpinned): blocking_scalar 55-59 us without, 29-34
 * us with; its CPU per call (every process's) 56-60 us without, 63-71 us
 * with. Lends do not spin: spinning through the server's two page-table
 * changes per lend made lend_mut_4k 92 us instead of 55-63, at 180 us of
 * CPU instead of 68.
 */
#define SPIN_NS 100000u
#define SPIN_NS_MAX 1000000u

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#else
        __asm__ __volatile__("" ::: "memory");
#endif
}

/* How long a wait for an answer may spin: from the environment and the
 * CPUs this process may run on, looked at once. */
static uint64_t spin_ns(void) {
        static _Atomic int64_t cached = -1;
        int64_t v = atomic_load_explicit(&cached, memory_order_relaxed);
        const char *env;
        cpu_set_t set;
        uint64_t ns = SPIN_NS;

        if (v >= 0)
                return (uint64_t)v;
        env = secure_getenv("XNS_SPIN_NS");
        if (env && *env && parse_u64(env, &ns) < 0)
                ns = SPIN_NS;
        if (ns > SPIN_NS_MAX)
                ns = SPIN_NS_MAX;
        if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 2)
                ns = 0;
        atomic_store_explicit(&cached, (int64_t)ns, memory_order_relaxed);
        return ns;
}

/* Watches the reply ring for up to spin_ns, once per wait: true when
 * something came. */
static bool link_spin(struct link *l) {
        uint64_t budget = spin_ns(), t0 = clock_ns(CLOCK_MONOTONIC);

        l->spin = false;
        do {
                for (unsigned i = 0; i < 64; i++) {
                        if (xns_chan_pending(&l->rep))
                                return true;
                        cpu_relax();
                }
        } while (clock_ns(CLOCK_MONOTONIC) - t0 < budget);
        return false;
}

/* Before waiting for the answer to req: may the wait spin? The time it
 * was sent, for link_spin_done(), or 0 where waits never spin. */
static uint64_t link_spin_arm(struct link *l, const struct xns_request *req) {
        uint64_t budget = spin_ns();

        if (budget == 0 || req->op != XNS_OP_SEND || req->send.kind != XNS_KIND_BLOCKING_SCALAR || !l->chan)
                return 0;
        l->spin = l->answer_ns <= budget;
        return clock_ns(CLOCK_MONOTONIC);
}

/* After the answer (or the error): how long answers take lately. */
static void link_spin_done(struct link *l, uint64_t sent_ns) {
        if (sent_ns)
                l->answer_ns = (3 * l->answer_ns + (clock_ns(CLOCK_MONOTONIC) - sent_ns)) / 4;
        l->spin = false;
}

/* The next frame from the channel, by deadline; its descriptor comes off
 * the socket. A hung-up xnsd may have written our answer before it went. */
static ssize_t link_chan_recv(struct link *l, uint64_t deadline, void *buf, int *fd) {
        uint32_t flags;
        int n, r;

        for (;;) {
                n = xns_chan_take(&l->rep, buf, &flags);
                if (n < 0)
                        return -EBADMSG;
                if (n > 0)
                        break;
                if (l->spin && link_spin(l))
                        continue;
                if (!xns_chan_sleep(&l->rep))
                        continue;
                r = link_chan_wait(l, deadline);
                if (r == -ECONNRESET) {
                        n = xns_chan_take(&l->rep, buf, &flags);
                        if (n > 0)
                                break;
                }
                if (r < 0)
                        return r;
        }
        if (xns_chan_room_due(&l->rep))
                link_ring_daemon(l);
        if ((flags & XNS_CHAN_FD) && xns_chan_fd_recv(l->fd, fd) < 0)
                return -EBADMSG;
        return n;
}

/* One frame from xnsd by deadline: its length, -ETIMEDOUT, or another
 * negative errno. */
static ssize_t link_recv(struct link *l, uint64_t deadline, void *buf, int *fd) {
        ssize_t n;

        if (l->chan)
                return link_chan_recv(l, deadline, buf, fd);
        n = link_poll(l->fd, deadline);
        if (n < 0)
                return n;
        n = xns_frame_recv(l->fd, buf, XNS_FRAME_MAX, fd, false);
        return n == 0 ? -ECONNRESET : n;
}

/* Reads one frame by deadline; acks are taken in passing (1 is returned
 * for them). */
static ssize_t link_read(struct link *l, uint64_t deadline, struct xns_reply *reply, int *fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;

        n = link_recv(l, deadline, buf, fd);
        if (n < 0)
                return n;
        if (xns_reply_decode(reply, buf, (size_t)n) < 0)
                return -EBADMSG;
        if (reply->body == XNS_BODY_ACK && reply->seq == 0) {
                link_take_ack(l, &reply->ack);
                return 1;
        }
        return 0;
}

/*
 * link_read_continued() - the frame that continues a delivery: same seq, no
 * body, more Scalars. Anything else breaks the link.
 */
int link_read_continued(struct link *l, uint32_t seq, struct xns_reply *reply) {
        _cleanup_close_ int fd = -1;
        ssize_t n;

        do
                n = link_read(l, LINK_FOREVER, reply, &fd);
        while (n == 1);
        if (n == 0 && (reply->seq != seq || reply->body != XNS_BODY_NONE || reply->n_more == 0 || fd >= 0))
                n = -EBADMSG;
        if (n < 0)
                l->broken = true;
        return (int)n;
}

/* One frame as link_read(), or none by deadline (-ETIMEDOUT, the link
 * still good). The link is unusable after any other failure here: a lost
 * or garbled frame may have been an awaited reply. */
static ssize_t link_read_by(struct link *l, uint64_t deadline, struct xns_reply *reply, int *fd) {
        ssize_t n = link_read(l, deadline, reply, fd);

        if (n < 0 && n != -ETIMEDOUT)
                l->broken = true;
        return n;
}

/* Reads frames until the reply to seq, or until deadline (-ETIMEDOUT);
 * anything else is stale and dropped together with its descriptor. */
static int link_wait_reply(struct link *l, uint32_t seq, uint64_t deadline, struct xns_reply *reply,
                           int *reply_fd) {
        for (;;) {
                _cleanup_close_ int fd = -1;
                ssize_t n;

                n = link_read_by(l, deadline, reply, &fd);
                if (n < 0)
                        return (int)n;
                if (n > 0 || reply->seq != seq)
                        continue;
                if (reply->error != XOUS_OK)
                        return reply_error(reply->error);
                if (reply_fd)
                        *reply_fd = TAKE_FD(fd);
                return 0;
        }
}

/*
 * link_call() - send a request that wants an answer and wait for it.
 *
 * Gives req a fresh seq. Returns 0 with *reply filled (and *reply_fd the
 * descriptor that came with it, or -1), a positive xous error the daemon
 * answered, or a negative errno; l->broken tells whether the link died.
 */
int link_call(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd) {
        uint64_t sent_ns;
        int r;

        if (reply_fd)
                *reply_fd = -1;
        req->seq = link_next_seq(l);
        r = link_send(l, req, fd);
        if (r < 0)
                return r;
        sent_ns = link_spin_arm(l, req);
        r = link_wait_reply(l, req->seq, LINK_FOREVER, reply, reply_fd);
        link_spin_done(l, sent_ns);
        return r;
}

/* Abandons request seq: a Cancel, with the write end of a new pipe when
 * release_fd asks for one (its read end goes there; see link_call_timeout()). */
static int link_cancel(struct link *l, uint32_t seq, int *release_fd) {
        struct xns_request req = { .op = XNS_OP_CANCEL, .cancel = seq };
        _cleanup_close_ int w = -1;
        int p[2], r;

        if (release_fd) {
                if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                        return -errno;
                *release_fd = p[0];
                w = p[1];
        }
        r = link_post(l, &req, w);
        if (r < 0 && release_fd)
                *release_fd = safe_close(*release_fd);
        return r;
}

/*
 * link_call_timeout() - link_call(), giving up after timeout_ms.
 *
 * Past the limit the request is cancelled and its one answer read: TIMEOUT
 * (XOUS_ERR_TIMEOUT is returned), or the real one if it crossed the Cancel.
 * With release_fd, a request that timed out sets it to a descriptor that
 * reads EOF once xnsd is done with the message (its server returned it or
 * is gone); else it is -1. A request that waited past the limit behind the
 * link's posted Scalars (link_ring_drain()) is not sent: TIMEOUT, and -1.
 */
int link_call_timeout(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd,
                      uint32_t timeout_ms, int *release_fd) {
        uint64_t deadline = deadline_ms(timeout_ms), sent_ns;
        int r;

        if (reply_fd)
                *reply_fd = -1;
        if (release_fd)
                *release_fd = -1;
        r = link_ring_drain(l, deadline);
        if (r == -ETIMEDOUT)
                return XOUS_ERR_TIMEOUT;
        if (r < 0)
                return r;
        req->seq = link_next_seq(l);
        r = link_send(l, req, fd);
        if (r < 0)
                return r;
        sent_ns = link_spin_arm(l, req);
        r = link_wait_reply(l, req->seq, deadline, reply, reply_fd);
        link_spin_done(l, sent_ns);
        if (r != -ETIMEDOUT)
                return r;
        r = link_cancel(l, req->seq, release_fd);
        if (r < 0)
                return r;
        r = link_wait_reply(l, req->seq, LINK_FOREVER, reply, reply_fd);
        if (r != XOUS_ERR_TIMEOUT && release_fd)
                *release_fd = safe_close(*release_fd);
        return r;
}

/* Sends a fire-and-forget request (seq 0, no reply). */
int link_post(struct link *l, struct xns_request *req, int fd) {
        req->seq = 0;
        return link_send(l, req, fd);
}

/* Shared memory to hand xnsd: a memfd of size sealed against resizing,
 * and our mapping of it. */
static int link_shared_memfd(const char *name, size_t size, int *fd, void **p) {
        int r;

        r = memfd_new_sealed(name, NULL, size, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, fd);
        if (r < 0)
                return r;
        *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
        if (*p == MAP_FAILED) {
                r = -errno;
                *fd = safe_close(*fd);
                return r;
        }
        return 0;
}

/* Hands xnsd a ring for this link's posted Scalars: a sealed memfd. */
static int link_ring_open(struct link *l) {
        _cleanup_close_ int fd = -1;
        struct xns_request req = { .op = XNS_OP_RING };
        struct xns_reply reply;
        void *p;
        int r;

        r = link_shared_memfd("xns-ring", XNS_RING_SIZE, &fd, &p);
        if (r < 0)
                return r;
        r = link_call(l, &req, fd, &reply, NULL);
        if (r != 0) {
                munmap(p, XNS_RING_SIZE);
                return r;
        }
        l->ring = p;
        l->ring_head = 0;
        return 0;
}

/* Tells xnsd to look at the ring, unless it already looks. */
static int link_ring_kick(struct link *l) {
        struct xns_request req = { .op = XNS_OP_KICK };

        if (!xns_ring_take_kick(l->ring))
                return 0;
        return link_post(l, &req, -1);
}

/* Posted Scalars that xnsd has not queued yet (a full queue holds them). */
bool link_posting(const struct link *l) {
        return l->ring && xns_ring_pending(l->ring, l->ring_head);
}

/* An Ack was asked for (want_room): kicks xnsd if it is not looking at
 * the ring, and reads one frame (an Ack is taken in passing, anything else
 * is stale), or none by deadline: 0, -ETIMEDOUT, or the link is broken. */
static int link_ring_wait_ack(struct link *l, uint64_t deadline) {
        _cleanup_close_ int fd = -1;
        struct xns_reply reply;
        ssize_t n;

        n = link_ring_kick(l);
        if (n < 0)
                return (int)n;
        n = link_read_by(l, deadline, &reply, &fd);
        return n < 0 ? (int)n : 0;
}

/* The ring is full: ask for an Ack when xnsd has taken some, and wait. */
static int link_ring_wait_room(struct link *l) {
        if (!xns_ring_ask_room(l->ring, l->ring_head))
                return 0;
        return link_ring_wait_ack(l, LINK_FOREVER);
}

/*
 * link_ring_drain() - before a request with a time limit: waits until xnsd
 * has queued every Scalar posted on the link. It takes them before the
 * link's next frame, and while one waits for room in a full queue (the
 * ring stalled) it reads no frame of the link at all: a request sent then
 * would wait unread, and so would its Cancel, past any limit. That wait
 * happens here instead, until deadline (-ETIMEDOUT: the request is not
 * sent). Until xnsd has looked at what was posted there is no limit, as
 * for any answer of xnsd: each pass it makes acks, and says if it stalled.
 */
int link_ring_drain(struct link *l, uint64_t deadline) {
        int r;

        while (link_posting(l)) {
                __atomic_store_n(&l->ring->want_room, 1, __ATOMIC_SEQ_CST);
                if (!link_posting(l))
                        break;
                r = link_ring_wait_ack(l, __atomic_load_n(&l->ring->stalled, __ATOMIC_SEQ_CST) ? deadline
                                                                                             : LINK_FOREVER);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * link_post_scalar() - send a Scalar without waiting for xnsd.
 *
 * It goes into the link's ring (made on first use); xnsd takes it before
 * anything the link sends after it. A full ring waits for room, so a sender
 * to a full queue ends up waiting, XNS_RING_SLOTS Scalars later.
 */
int link_post_scalar(struct link *l, struct xns_request *req) {
        int r;

        if (!l->ring) {
                r = link_ring_open(l);
                if (r != 0)
                        return r;
        }
        while (xns_ring_full(l->ring, l->ring_head)) {
                r = link_ring_wait_room(l);
                if (r != 0)
                        return r;
        }
        xns_ring_publish(l->ring, &l->ring_head, req->send.cid, req->send.id, req->send.a);
        return link_ring_kick(l);
}

/*
 * link_hello() - introduce a new link to the daemon.
 *
 * With token NULL the link starts a new process session and the daemon's
 * token is stored in token_out; otherwise the link joins the session the
 * token names.
 */
int link_hello(struct link *l, const uint8_t *token, uint8_t *token_out) {
        struct xns_request req = {
                .op = XNS_OP_HELLO,
                .hello.version = XNS_PROTOCOL_VERSION,
                .hello.has_token = token != NULL,
                .hello.buffers = true,
        };
        struct xns_reply reply;
        int r;

        if (token)
                memcpy(req.hello.token, token, XNS_TOKEN_LEN);
        r = link_call(l, &req, -1, &reply, NULL);
        if (r != 0)
                return r;
        if (!token) {
                if (reply.body != XNS_BODY_TOKEN)
                        return -EBADMSG;
                memcpy(token_out, reply.token, XNS_TOKEN_LEN);
        }
        return 0;
}

/*
 * link_chan_open() - move the link's frames into a channel (chan.h): a
 * sealed memfd for xnsd to map, and the two bells it answers with. A
 * positive xous error (xnsd refused), or a failure here before xnsd heard
 * of it (l->broken clear): the link goes on by its socket.
 */
int link_chan_open(struct link *l) {
        _cleanup_close_ int fd = -1, bell_daemon = -1, bell_own = -1;
        struct xns_request req = { .op = XNS_OP_CHANNEL };
        struct xns_reply reply;
        void *p;
        int r;

        r = link_shared_memfd("xns-chan", XNS_CHAN_SIZE, &fd, &p);
        if (r < 0)
                return r;
        r = link_call(l, &req, fd, &reply, &bell_daemon);
        if (r == 0 && bell_daemon >= 0) {
                req = (struct xns_request){ .op = XNS_OP_CHANNEL_BELL };
                r = link_call(l, &req, -1, &reply, &bell_own);
        }
        if (r == 0 && (bell_daemon < 0 || bell_own < 0)) {
                l->broken = true;
                r = -EBADMSG;
        }
        if (r != 0) {
                munmap(p, XNS_CHAN_SIZE);
                return r;
        }
        l->chan = p;
        xns_chan_end_init(&l->req, l->chan, true);
        xns_chan_end_init(&l->rep, l->chan, false);
        l->bell_daemon = TAKE_FD(bell_daemon);
        l->bell_own = TAKE_FD(bell_own);
        if (fcntl(l->bell_own, F_SETFL, 0) < 0) {       /* read blocks until a ring */
                l->broken = true;
                return -errno;
        }
        return 0;
}
