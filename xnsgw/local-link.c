/* local-link.c: one non-blocking SEQPACKET link of the gateway to xnsd:
 * requests matched to their replies by seq, an output queue, and a close
 * that frees the link only later, from the loop (the reaper), so no
 * callback ever finds its link freed under it. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "local-internal.h"
#include "macro.h"

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
        k->ev_read = k->ev_write = NULL;
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

/* A frame from xnsd: the reply the oldest request waits for, or one that
 * continues it (a delivery's Scalars: same seq, no body, no descriptor;
 * the request waits on until the last), or (seq 0) what the owner takes
 * unasked. Anything else breaks the link. */
static int llink_dispatch(struct llink *k, const struct xns_reply *reply, int *fd) {
        struct llink_wait *w;
        llink_reply_fn fn;
        void *userdata;

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
                free(w);
        }
        fn(userdata, 0, reply, fd);
        return 0;
}

static void llink_on_read(evutil_socket_t sock, short what, void *arg) {
        struct llink *k = arg;

        while (!k->dead) {
                _cleanup_close_ int fd = -1;
                uint8_t buf[XNS_FRAME_MAX];
                struct xns_reply reply;
                ssize_t n;
                int r;

                n = xns_frame_recv(k->fd, buf, sizeof(buf), &fd, true);
                if (n == -EAGAIN || n == -EINTR)
                        return;
                if (n <= 0)
                        return llink_break(k, n == 0 ? -ECONNRESET : (int)n);
                r = xns_reply_decode(&reply, buf, (size_t)n);
                if (r == 0)
                        r = llink_dispatch(k, &reply, &fd);
                if (r < 0)
                        return llink_break(k, r);
        }
}

/* Sends what waits in the output queue, until the socket is full again. */
static void llink_on_write(evutil_socket_t sock, short what, void *arg) {
        struct llink *k = arg;
        struct llink_frame *f;

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
        k->fd = -1;
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
        if (!list_is_empty(&k->out))
                return llink_enqueue(k, buf, (size_t)n, fd);
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
        *w = (struct llink_wait){ .seq = req->seq, .fn = fn, .userdata = userdata };
        list_link_tail(&k->waiting, &w->link);
        return 0;
}

/* llink_post() - a request without a reply (seq 0): Return, GatewayAnswer. */
int llink_post(struct llink *k, struct xns_request *req, int fd) {
        req->seq = 0;
        return llink_send(k, req, fd);
}
