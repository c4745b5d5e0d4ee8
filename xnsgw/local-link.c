/* local-link.c: one non-blocking SEQPACKET link of the gateway to xnsd:
 * requests matched to their replies by seq, an output queue, and a close
 * that frees the link only later, from the loop (the reaper), so no
 * callback ever finds its link freed under it. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "local-internal.h"
#include "macro.h"
#include "memfd.h"

/* A frame xnsd could not take yet. */
struct llink_frame {
        struct list link;
        int fd;                         /* owned */
        size_t len;
        uint8_t buf[XNS_FRAME_MAX];
};

/* A request waiting for its reply. */
struct llink_wait {
        struct list link;
        uint32_t seq;
        bool hello;                     /* a Hello: a channel may follow */
        bool continued;                 /* its reply came; frames continuing it follow */
        llink_reply_fn fn;
        void *userdata;
};

static void llink_frame_free(struct llink_frame *f) {
        list_unlink(&f->link);
        safe_close(f->fd);
        free(f);
}

/* Closes the socket and forgets what was not sent. What waits for a reply
 * stays, for llink_break() to fail or llink_close() to drop. */
static void llink_shut(struct llink *k) {
        struct llink_frame *f;

        if (k->dead)
                return;
        k->dead = true;
        if (k->ev_read)
                event_free(k->ev_read);
        if (k->ev_write)
                event_free(k->ev_write);
        if (k->ev_bell)
                event_free(k->ev_bell);
        k->ev_read = k->ev_write = k->ev_bell = NULL;
        if (k->chan)
                munmap(k->chan, XNS_CHAN_SIZE);
        k->chan = NULL;
        k->chan_seq = 0;
        k->chan_fd = safe_close(k->chan_fd);
        k->bell_daemon = safe_close(k->bell_daemon);
        k->bell_own = safe_close(k->bell_own);
        k->fd = safe_close(k->fd);
        while ((f = list_first_entry(&k->out, struct llink_frame, link)))
                llink_frame_free(f);
}

/* The link broke: each waiting request hears r, then the owner. Anyone of
 * them may close the link meanwhile, which drops the rest silently. */
static void llink_break(struct llink *k, int r) {
        struct llink_wait *w;

        llink_shut(k);
        while ((w = list_first_entry(&k->waiting, struct llink_wait, link))) {
                llink_reply_fn fn = w->fn;
                void *userdata = w->userdata;

                list_unlink(&w->link);
                free(w);
                fn(userdata, r, NULL, NULL);
        }
        if (k->broken) {
                void (*broken)(void *, int) = k->broken;

                k->broken = NULL;
                broken(k->userdata, r);
        }
}

/*
 * llink_close() - the owner is done with k: nothing it asked is answered,
 * and the reaper frees k from the loop, so a callback of k that runs now
 * still finds it. A link that broke waits for this too.
 */
void llink_close(struct llink *k) {
        struct llink_wait *w;

        if (!k)
                return;
        k->broken = NULL;
        k->unsolicited = NULL;
        while ((w = list_first_entry(&k->waiting, struct llink_wait, link))) {
                list_unlink(&w->link);
                free(w);
        }
        llink_shut(k);
        if (!list_is_linked(&k->dead_link)) {
                list_link_tail(&k->local->dead, &k->dead_link);
                event_active(k->local->reaper, EV_TIMEOUT, 0);
        }
}

struct llink *llink_free(struct llink *k) {
        if (k) {
                llink_close(k);
                list_unlink(&k->dead_link);
                free(k);
        }
        return NULL;
}

bool llink_idle(const struct llink *k) {
        return !k->dead && list_is_empty(&k->waiting);
}

static int llink_chan_begin(struct llink *k);

/* A frame from xnsd: the reply the oldest request waits for, or one that
 * continues it (a delivery's Scalars: same seq, no body, no descriptor;
 * the request waits on until the last), or (seq 0) what the owner takes
 * unasked. Anything else breaks the link. The answer to a Hello, when
 * nothing else waits, starts the channel the owner asked for, before the
 * owner hears it: what it sends then waits for the channel. */
static int llink_dispatch(struct llink *k, const struct xns_reply *reply, int *fd) {
        struct llink_wait *w;
        llink_reply_fn fn;
        void *userdata;
        int r;

        if (reply->seq == 0) {
                if (!k->unsolicited)
                        return -EBADMSG;
                return k->unsolicited(k->userdata, reply);
        }
        w = list_first_entry(&k->waiting, struct llink_wait, link);
        if (!w || w->seq != reply->seq)
                return -EBADMSG;
        if (w->continued && (reply->body != XNS_BODY_NONE || reply->n_more == 0 || *fd >= 0))
                return -EBADMSG;
        fn = w->fn;
        userdata = w->userdata;
        w->continued = reply->continued;
        if (!w->continued) {
                list_unlink(&w->link);
                if (w->hello && reply->error == XNS_OK && k->want_chan && list_is_empty(&k->waiting) &&
                    list_is_empty(&k->out)) {
                        r = llink_chan_begin(k);
                        if (r < 0) {
                                free(w);
                                return r;
                        }
                }
                free(w);
        }
        fn(userdata, 0, reply, fd);
        return 0;
}

static int llink_chan_step(struct llink *k, const struct xns_reply *reply, int *fd);

/* One frame by the socket: its length, 0 for none now, or a negative errno. */
static int llink_read_socket(struct llink *k, uint8_t *buf, int *fd) {
        ssize_t n = xns_frame_recv(k->fd, buf, XNS_FRAME_MAX, fd, true);

        if (n == -EAGAIN || n == -EINTR)
                return 0;
        return n == 0 ? -ECONNRESET : (int)n;
}

/* One frame from the channel (its descriptor off the socket): its length,
 * 0 when there is none (we sleep on the bell then), or -EBADMSG. */
static int llink_read_chan(struct llink *k, uint8_t *buf, int *fd) {
        static const uint64_t one = 1;
        uint32_t flags;
        int n;

        do
                n = xns_chan_take(&k->rep, buf, &flags);
        while (n == 0 && !xns_chan_sleep(&k->rep));
        if (n <= 0)
                return n < 0 ? -EBADMSG : 0;
        if (xns_chan_room_due(&k->rep))
                (void)!write(k->bell_daemon, &one, sizeof(one));
        if ((flags & XNS_CHAN_FD) && xns_chan_fd_recv(k->fd, fd) < 0)
                return -EBADMSG;
        return n;
}

/* Every frame there is, by the socket or the channel. */
static void llink_read(struct llink *k) {
        while (!k->dead) {
                _cleanup_close_ int fd = -1;
                uint8_t buf[XNS_FRAME_MAX];
                struct xns_reply reply;
                bool by_chan = k->chan != NULL;
                int n, r;

                n = by_chan ? llink_read_chan(k, buf, &fd) : llink_read_socket(k, buf, &fd);
                if (n == 0)
                        return;
                if (n < 0)
                        return llink_break(k, n);
                r = xns_reply_decode(&reply, buf, (size_t)n);
                if (r == 0 && k->chan_seq && reply.seq == k->chan_seq)
                        r = llink_chan_step(k, &reply, &fd);
                else if (r == 0)
                        r = llink_dispatch(k, &reply, &fd);
                if (r < 0)
                        return llink_break(k, r);
                /* Once the channel runs the socket has nothing more: what
                 * comes is read from the channel, which says we sleep on
                 * its bell when it is empty. */
        }
}

static void llink_on_read(evutil_socket_t sock, short what, void *arg) {
        llink_read(arg);
}

/* A channel's socket, edge-triggered: a descriptor for a record, or xnsd
 * gone (libevent reports a full hang-up as a read). */
static void llink_on_socket(evutil_socket_t sock, short what, void *arg) {
        struct llink *k = arg;
        struct pollfd p = { .fd = sock, .events = POLLRDHUP };

        llink_read(k);
        if (!k->dead && poll(&p, 1, 0) > 0 && p.revents)
                llink_break(k, -ECONNRESET);
}

static int llink_flush_chan(struct llink *k);

/* xnsd rang: there are replies, or room for what waits. */
static void llink_on_bell(evutil_socket_t pipe_fd, short what, void *arg) {
        struct llink *k = arg;
        uint8_t bells[64];
        ssize_t n;
        int r;

        while ((n = read(pipe_fd, bells, sizeof(bells))) == (ssize_t)sizeof(bells))
                ;
        if (n == 0)
                return llink_break(k, -ECONNRESET);     /* xnsd closed its end: it is gone */
        r = llink_flush_chan(k);
        if (r < 0)
                return llink_break(k, r);
        llink_read(k);
}

/* One frame into the channel, its descriptor first on the socket: 0,
 * -EAGAIN when there is no room yet (xnsd rings when it took some; a full
 * socket wakes the write event), or the socket's error. */
static int llink_chan_put(struct llink *k, const uint8_t *buf, size_t len, int fd) {
        static const uint64_t one = 1;
        int r;

        if (!xns_chan_fits(&k->req, (uint32_t)len) && xns_chan_ask_room(&k->req, (uint32_t)len))
                return -EAGAIN;
        if (fd >= 0) {
                r = xns_chan_fd_send(k->fd, fd, true);
                if (r == -EAGAIN)
                        event_add(k->ev_write, NULL);
                if (r < 0)
                        return r;
        }
        if (!xns_chan_put(&k->req, buf, (uint32_t)len, fd >= 0 ? XNS_CHAN_FD : 0))
                return -EBADMSG;        /* it fitted: only xnsd moving its tail back makes it not */
        if (xns_chan_ring_due(&k->req))
                (void)!write(k->bell_daemon, &one, sizeof(one));
        return 0;
}

/* What waits in the output queue into the channel, while there is room. */
static int llink_flush_chan(struct llink *k) {
        struct llink_frame *f;

        while (k->chan && (f = list_first_entry(&k->out, struct llink_frame, link))) {
                int r = llink_chan_put(k, f->buf, f->len, f->fd);

                if (r == -EAGAIN)
                        return 0;
                if (r < 0)
                        return r;
                llink_frame_free(f);
        }
        return 0;
}

/* Sends what waits in the output queue, until the socket is full again. */
static void llink_on_write(evutil_socket_t sock, short what, void *arg) {
        struct llink *k = arg;
        struct llink_frame *f;

        if (k->chan) {
                int r = llink_flush_chan(k);

                if (r < 0)
                        llink_break(k, r);
                return;
        }
        while ((f = list_first_entry(&k->out, struct llink_frame, link))) {
                int r = xns_frame_send(k->fd, f->buf, f->len, f->fd, true);

                if (r == -EAGAIN)
                        return;
                if (r < 0)
                        return llink_break(k, r);
                llink_frame_free(f);
        }
        event_del(k->ev_write);
}

/* A setup request of the channel, by the socket, ahead of what waits. */
static int llink_chan_request(struct llink *k, enum xns_op op, int fd) {
        struct xns_request req = { .op = op };
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;

        if (++k->seq == 0)
                k->seq = 1;
        req.seq = k->chan_seq = k->seq;
        n = xns_request_encode(&req, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        return xns_frame_send(k->fd, buf, (size_t)n, fd, true);
}

/* After Hello, with nothing else sent or queued: hands xnsd a channel (as
 * libxousclient does). Until it runs the owner's frames wait in the output
 * queue. A channel that cannot be made, or asked for now, is done without. */
static int llink_chan_begin(struct llink *k) {
        int r;

        r = memfd_new_sealed("xnsgw-chan", NULL, XNS_CHAN_SIZE, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL,
                             &k->chan_fd);
        if (r < 0)
                return 0;
        r = llink_chan_request(k, XNS_OP_CHANNEL, k->chan_fd);
        if (r == -EAGAIN) {
                k->chan_seq = 0;
                k->chan_fd = safe_close(k->chan_fd);
                return 0;
        }
        return r;
}

/* The channel's watchers: the bell, and of the socket descriptors and the
 * hang-up, edge-triggered; a full socket (a descriptor waits) too. */
static int llink_chan_watch(struct llink *k) {
        struct event_base *base = k->local->base;

        event_free(k->ev_read);
        event_free(k->ev_write);
        k->ev_read = event_new(base, k->fd, EV_READ | EV_PERSIST | EV_ET, llink_on_socket, k);
        k->ev_write = event_new(base, k->fd, EV_WRITE | EV_ET, llink_on_write, k);
        k->ev_bell = event_new(base, k->bell_own, EV_READ | EV_PERSIST, llink_on_bell, k);
        if (!k->ev_read || !k->ev_write || !k->ev_bell || event_add(k->ev_read, NULL) < 0 ||
            event_add(k->ev_bell, NULL) < 0)
                return -ENOMEM;
        return 0;
}

/*
 * The answer to a setup request: to Channel, xnsd's bell (a refusal
 * leaves the link on its socket); to ChannelBell, ours, and the channel
 * runs: what waited goes into it.
 */
static int llink_chan_step(struct llink *k, const struct xns_reply *reply, int *fd) {
        void *p;
        int r;

        k->chan_seq = 0;
        if (k->bell_daemon < 0) {
                if (reply->error != XNS_OK || *fd < 0) {
                        k->chan_fd = safe_close(k->chan_fd);
                        if (!list_is_empty(&k->out))
                                event_add(k->ev_write, NULL);
                        return 0;
                }
                k->bell_daemon = TAKE_FD(*fd);
                return llink_chan_request(k, XNS_OP_CHANNEL_BELL, -1);
        }
        if (reply->error != XNS_OK || *fd < 0)
                return -EBADMSG;
        k->bell_own = TAKE_FD(*fd);
        p = mmap(NULL, XNS_CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, k->chan_fd, 0);
        k->chan_fd = safe_close(k->chan_fd);
        if (p == MAP_FAILED)
                return -errno;
        k->chan = p;
        xns_chan_end_init(&k->req, k->chan, true);
        xns_chan_end_init(&k->rep, k->chan, false);
        r = llink_chan_watch(k);
        if (r < 0)
                return r;
        return llink_flush_chan(k);
}

static int llink_connect(struct llink *k, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);

        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);
        k->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (k->fd < 0)
                return -errno;
        if (connect(k->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

/*
 * llink_open() - a new link to xnsd, connected, not yet introduced (the
 * owner says Hello first). A full listen queue is -EAGAIN: try later.
 */
int llink_open(struct local *l, struct llink **out) {
        struct llink *k;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->local = l;
        k->fd = k->chan_fd = k->bell_daemon = k->bell_own = -1;
        list_init(&k->out);
        list_init(&k->waiting);
        list_init(&k->dead_link);
        r = llink_connect(k, l->socket_path);
        if (r == 0) {
                k->ev_read = event_new(l->base, k->fd, EV_READ | EV_PERSIST, llink_on_read, k);
                k->ev_write = event_new(l->base, k->fd, EV_WRITE | EV_PERSIST, llink_on_write, k);
                if (!k->ev_read || !k->ev_write || event_add(k->ev_read, NULL) < 0)
                        r = -ENOMEM;
        }
        if (r < 0) {
                k->dead = true;         /* never was on the dead list */
                if (k->ev_read)
                        event_free(k->ev_read);
                if (k->ev_write)
                        event_free(k->ev_write);
                safe_close(k->fd);
                free(k);
                return r;
        }
        *out = k;
        return 0;
}

/* Queues the encoded frame behind others, with a copy of fd. */
static int llink_enqueue(struct llink *k, const uint8_t *buf, size_t len, int fd) {
        struct llink_frame *f;

        f = malloc(sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->fd = -1;
        if (fd >= 0) {
                f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (f->fd < 0) {
                        free(f);
                        return -errno;
                }
        }
        memcpy(f->buf, buf, len);
        f->len = len;
        list_link_tail(&k->out, &f->link);
        if (!k->chan_seq && !k->chan)
                event_add(k->ev_write, NULL);
        return 0;
}

/* Sends req now, or queues it; fd stays the caller's. A failed send is
 * returned; the read side sees the link end and breaks it. */
static int llink_send(struct llink *k, const struct xns_request *req, int fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;
        int r;

        if (k->dead)
                return -ECONNRESET;
        n = xns_request_encode(req, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        if (k->chan_seq || !list_is_empty(&k->out))
                return llink_enqueue(k, buf, (size_t)n, fd);
        if (k->chan) {
                r = llink_chan_put(k, buf, (size_t)n, fd);
                return r == -EAGAIN ? llink_enqueue(k, buf, (size_t)n, fd) : r;
        }
        r = xns_frame_send(k->fd, buf, (size_t)n, fd, true);
        if (r == -EAGAIN)
                return llink_enqueue(k, buf, (size_t)n, fd);
        return r;
}

/*
 * llink_request() - sends req with a fresh seq; fn hears its reply, or
 * that the link broke first. fd (or -1) goes beside the frame and stays
 * the caller's. On an error returned here fn is never called.
 */
int llink_request(struct llink *k, struct xns_request *req, int fd, llink_reply_fn fn, void *userdata) {
        struct llink_wait *w;
        int r;

        w = malloc(sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (++k->seq == 0)
                k->seq = 1;
        req->seq = k->seq;
        r = llink_send(k, req, fd);
        if (r < 0) {
                free(w);
                return r;
        }
        *w = (struct llink_wait){ .seq = req->seq, .hello = req->op == XNS_OP_HELLO, .fn = fn, .userdata = userdata };
        list_link_tail(&k->waiting, &w->link);
        return 0;
}

/* llink_post() - a request without a reply (seq 0): Return, GatewayAnswer. */
int llink_post(struct llink *k, struct xns_request *req, int fd) {
        req->seq = 0;
        return llink_send(k, req, fd);
}
