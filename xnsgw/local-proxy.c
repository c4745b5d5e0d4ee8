/* local-proxy.c: the proxies, servers here with the SIDs of other hosts'
 * servers: made and destroyed on the main link, each received on a link of
 * its own; their messages go to the bridge and their answers come back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "local-internal.h"
#include "macro.h"

struct proxy {
        struct list link;               /* in local->proxies */
        struct local *local;
        struct xns_sid sid;
        bool created;                   /* xnsd answered the CreateServer */
        bool removed;                   /* before that: destroy it once made */
        struct llink *recv;             /* a link of the gateway's session, parked in Receive */
        bool receiving;                 /* a Receive is on its way */
        uint32_t held;                  /* messages without an answer the bridge still holds */
        struct list waiters;            /* struct proxy_waiter: local_proxy_add()s to tell */
};

/*
 * Messages without an answer (Scalar, Move) that the bridge may hold before
 * the proxy stops receiving: it holds each until the far side has it in its
 * server's queue (a Scalar: in its ring), so a full remote queue fills the
 * proxy's queue here and its senders wait (try_ ones hear
 * SERVER_QUEUE_FULL), as for a local one. As many as go in a NATS round
 * trip at full speed: 128 capped a stream of Scalars at ~200 000 a second.
 */
#define PROXY_WINDOW 1024

struct proxy_waiter {
        struct list link;
        local_done_fn done;
        void *userdata;
};

/* A received message while the bridge has it. */
struct proxy_msg {
        struct local_msg m;
        uint32_t handle, gen;
        void *map;                      /* the caller's memory, m.len bytes */
};

static struct proxy *proxy_find(struct local *l, const struct xns_sid *sid) {
        struct proxy *p;

        list_for_each_entry(p, &l->proxies, link)
                if (!p->removed && xns_sid_equal(&p->sid, sid))
                        return p;
        return NULL;
}

/* Tells every local_proxy_add() waiting for p, from the loop. */
static void proxy_tell_waiters(struct proxy *p, uint32_t error) {
        struct proxy_waiter *w;

        while ((w = list_first_entry(&p->waiters, struct proxy_waiter, link))) {
                list_unlink(&w->link);
                local_defer_done(p->local, w->done, w->userdata, error, &p->sid);
                free(w);
        }
}

static void proxy_forget_waiters(struct proxy *p) {
        struct proxy_waiter *w;

        while ((w = list_first_entry(&p->waiters, struct proxy_waiter, link))) {
                list_unlink(&w->link);
                free(w);
        }
}

/* Forgets p; what waits for it hears SERVER_NOT_FOUND. The proxy's server
 * in xnsd is the caller's business. */
static struct proxy *proxy_free(struct proxy *p) {
        if (p) {
                proxy_tell_waiters(p, XNS_ERR_SERVER_NOT_FOUND);
                llink_close(p->recv);
                list_unlink(&p->link);
                free(p);
        }
        return NULL;
}

void local_proxies_free(struct local *l) {
        struct proxy *p;

        while ((p = list_first_entry(&l->proxies, struct proxy, link))) {
                proxy_forget_waiters(p);        /* nobody is told at the end */
                proxy_free(p);
        }
}

static void proxy_on_destroyed(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        /* Nothing to do: SERVER_NOT_FOUND means it went already. */
}

/* Destroys p's server in xnsd (its callers hear SERVER_NOT_FOUND) and forgets p. */
static void proxy_destroy(struct proxy *p) {
        struct xns_request req = { .op = XNS_OP_DESTROY_SERVER, .sid = p->sid };

        if (p->created && !p->local->gone)
                (void)llink_request(p->local->main, &req, -1, proxy_on_destroyed, NULL);
        proxy_free(p);
}

/* --- messages ----------------------------------------------------------- */

static int msg_prot(uint32_t kind) {
        return kind == XNS_KIND_MUTABLE_BORROW ? PROT_READ | PROT_WRITE : PROT_READ;
}

/* Maps the caller's memory that came with a delivery. */
static int msg_map(struct proxy_msg *pm, int fd) {
        struct stat st;
        void *p;

        if (fd < 0 || pm->m.len == 0)
                return -EBADMSG;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size < 0 || (uint64_t)st.st_size < pm->m.len)
                return -EBADMSG;
        p = mmap(NULL, pm->m.len, msg_prot(pm->m.kind), MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        pm->map = p;
        pm->m.data = p;
        return 0;
}

static void msg_free(struct proxy_msg *pm) {
        if (pm->map)
                munmap(pm->map, pm->m.len);
        free(pm);
}

static int msg_new(struct proxy *p, const struct xns_delivery *d, int fd, struct proxy_msg **out) {
        struct proxy_msg *pm;
        int r;

        if (d->kind >= _XNS_KIND_MAX)
                return -EBADMSG;
        pm = calloc(1, sizeof(*pm));
        if (!pm)
                return -ENOMEM;
        pm->m = (struct local_msg){
                .sid = p->sid,
                .blocking = d->handle != 0 && xns_kind_blocks(d->kind),
                .kind = d->kind, .id = d->id,
                .a = { d->a[0], d->a[1], d->a[2], d->a[3] },
                .offset = d->offset, .valid = d->valid,
                .sender_pid = d->sender_pid, .sender_uid = d->sender_uid,
        };
        pm->handle = d->handle;
        pm->gen = d->gen;
        if (!pm->m.blocking)
                p->held++;
        if (xns_kind_is_memory(d->kind)) {
                pm->m.len = d->len;
                r = msg_map(pm, fd);
                if (r < 0) {
                        p->held -= !pm->m.blocking;
                        free(pm);
                        return r;
                }
        }
        *out = pm;
        return 0;
}

static int proxy_receive(struct proxy *p);

/* A message without an answer is let go: its proxy may take more. */
static void proxy_release(struct local *l, const struct xns_sid *sid) {
        struct proxy *p = proxy_find(l, sid);

        if (!p || p->held == 0)
                return;
        p->held--;
        if (!p->receiving && p->created && p->recv && p->held < PROXY_WINDOW && proxy_receive(p) < 0)
                proxy_destroy(p);
}

/* Ends the bridge's hold on m; a blocking one is answered with ret first,
 * after its memory is unmapped. */
static void msg_end(struct local *l, struct local_msg *m, struct xns_return *ret) {
        struct proxy_msg *pm = (struct proxy_msg *)m;
        bool answer = pm->m.blocking;

        if (!answer)
                proxy_release(l, &pm->m.sid);
        if (answer) {
                ret->handle = pm->handle;
                ret->gen = pm->gen;
        }
        msg_free(pm);
        if (answer)
                local_post_return(l, ret);
}

/* The answer of a caller whose message the bridge lets go unanswered:
 * memory back unchanged, a BlockingScalar dropped. */
static struct xns_return msg_default_return(const struct local_msg *m) {
        if (xns_kind_is_memory(m->kind))
                return (struct xns_return){ .how = XNS_RETURN_MEMORY, .offset = m->offset, .valid = m->valid };
        return (struct xns_return){ .how = XNS_RETURN_DROPPED };
}

/* A delivery we cannot hand to the bridge: its caller must not wait. */
static void msg_refuse(struct local *l, const struct xns_delivery *d) {
        struct xns_return ret = { .handle = d->handle, .gen = d->gen, .how = XNS_RETURN_FAILED,
                                  .error = XNS_ERR_INTERNAL_ERROR };

        if (d->handle != 0 && xns_kind_blocks(d->kind))
                local_post_return(l, &ret);
}

/* local_msg_done() - lets m go: a caller still waiting gets the default answer. */
void local_msg_done(struct local *l, struct local_msg *m) {
        struct xns_return ret = msg_default_return(m);

        msg_end(l, m, &ret);
}

void local_msg_answer_scalar(struct local *l, struct local_msg *m, uint32_t count, const uint32_t v[5]) {
        struct xns_return ret = { .how = XNS_RETURN_SCALAR, .count = count };

        if (m->kind != XNS_KIND_BLOCKING_SCALAR)
                return local_msg_done(l, m);
        if (count != 1 && count != 2 && count != 5)
                return local_msg_fail(l, m, XNS_ERR_INVALID_ARGUMENT);
        memcpy(ret.v, v, count * sizeof(uint32_t));
        msg_end(l, m, &ret);
}

/* MutableBorrow: data goes into the caller's buffer at offset at (what
 * would not fit in its m->len bytes is dropped); the rest stays as lent. */
void local_msg_answer_memory(struct local *l, struct local_msg *m, const uint8_t *data, size_t data_len,
                             uint32_t at, uint32_t offset, uint32_t valid) {
        struct proxy_msg *pm = (struct proxy_msg *)m;
        struct xns_return ret = { .how = XNS_RETURN_MEMORY, .offset = offset, .valid = valid };

        if (m->kind != XNS_KIND_MUTABLE_BORROW && m->kind != XNS_KIND_BORROW)
                return local_msg_done(l, m);
        if (m->kind == XNS_KIND_MUTABLE_BORROW && data && pm->map && at < m->len)
                memcpy((uint8_t *)pm->map + at, data, data_len < m->len - at ? data_len : m->len - at);
        msg_end(l, m, &ret);
}

/* local_msg_fail() - the caller wakes with error (0 reads as UNKNOWN_ERROR). */
void local_msg_fail(struct local *l, struct local_msg *m, uint32_t error) {
        struct xns_return ret = { .how = XNS_RETURN_FAILED, .error = error ?: XNS_ERR_UNKNOWN_ERROR };

        msg_end(l, m, &ret);
}

/* --- receiving ---------------------------------------------------------- */

static void proxy_on_receive(void *userdata, int r, const struct xns_reply *reply, int *fd);

/* The proxy's only receive: Scalars queued behind a message come along. */
static int proxy_receive(struct proxy *p) {
        struct xns_request req = { .op = XNS_OP_RECEIVE, .receive = { .sid = p->sid, .batch = true } };
        int r = llink_request(p->recv, &req, -1, proxy_on_receive, p);

        p->receiving = r == 0;
        return r;
}

/* The proxy cannot receive any more: it goes, and its callers hear SERVER_NOT_FOUND. */
static void proxy_lost(struct proxy *p) {
        proxy_destroy(p);
}

/* Makes the messages of the Scalars that came behind a delivery (or in a
 * frame continuing it), after the n in pms; one that cannot be made is
 * lost, as a send that fails. */
static uint32_t msgs_add_more(struct proxy *p, const struct xns_reply *reply, struct proxy_msg **pms, uint32_t n) {
        for (uint32_t i = 0; i < reply->n_more; i++) {
                const struct xns_scalar *sc = &reply->more[i];
                struct xns_delivery d = {
                        .kind = XNS_KIND_SCALAR, .id = sc->id, .a = { sc->a[0], sc->a[1], sc->a[2], sc->a[3] },
                        .sender_pid = sc->sender_pid, .sender_uid = sc->sender_uid,
                };

                if (msg_new(p, &d, -1, &pms[n]) == 0)
                        n++;
        }
        return n;
}

/* Hands the bridge messages made before: it may remove their proxy as it
 * takes one, so nothing here touches it. */
static void msgs_hand_over(struct local *l, struct proxy_msg **pms, uint32_t n) {
        for (uint32_t i = 0; i < n; i++) {
                if (l->hooks.message)
                        l->hooks.message(l->hooks.userdata, &pms[i]->m);
                else
                        local_msg_done(l, &pms[i]->m);
        }
}

/* A delivery and the Scalars behind it, in order. */
static void proxy_deliver(struct proxy *p, const struct xns_reply *reply, int fd) {
        struct proxy_msg *pms[1 + XNS_DELIVERY_MORE_MAX];
        struct local *l = p->local;
        uint32_t n = 0;

        if (msg_new(p, &reply->delivery, fd, &pms[0]) == 0)
                n = 1;
        else
                msg_refuse(l, &reply->delivery);
        n = msgs_add_more(p, reply, pms, n);
        msgs_hand_over(l, pms, n);
}

/* A frame continuing a delivery: more Scalars. */
static void proxy_deliver_more(struct proxy *p, const struct xns_reply *reply) {
        struct proxy_msg *pms[XNS_DELIVERY_MORE_MAX];
        uint32_t n = msgs_add_more(p, reply, pms, 0);

        msgs_hand_over(p->local, pms, n);
}

/* A delivery (with the Scalars behind it, and frames continuing it), or
 * the end of the proxy (SERVER_NOT_FOUND: it was destroyed). */
static void proxy_on_receive(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct proxy *p = userdata;
        _cleanup_close_ int mem = -1;

        if (r == 0 && reply->error == XNS_OK && reply->body == XNS_BODY_NONE && reply->n_more > 0)
                return proxy_deliver_more(p, reply);    /* a frame continuing the delivery */
        p->receiving = false;
        if (r < 0)
                return proxy_lost(p);
        if (reply->error == XNS_ERR_SERVER_NOT_FOUND) {
                p->created = false;     /* gone in xnsd already */
                return proxy_lost(p);
        }
        if (reply->error != XNS_OK || reply->body != XNS_BODY_DELIVERY)
                return proxy_lost(p);
        mem = TAKE_FD(*fd);
        /* first: the bridge may remove p; not while it holds a window's worth */
        r = p->held + !xns_kind_blocks(reply->delivery.kind) + reply->n_more < PROXY_WINDOW ? proxy_receive(p) : 0;
        if (r < 0) {
                msg_refuse(p->local, &reply->delivery);
                return proxy_lost(p);
        }
        proxy_deliver(p, reply, mem);
}

static void proxy_on_hello(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct proxy *p = userdata;

        if (r == 0 && reply->error != XNS_OK)
                r = -EPROTO;
        if (r == 0)
                r = proxy_receive(p);
        if (r < 0)
                proxy_lost(p);
}

static void proxy_on_recv_broken(void *userdata, int r) {
        /* Its waiting Receive heard it already. */
}

/* A further link of the gateway's session, to receive p's messages on. */
static int proxy_open_receiver(struct proxy *p) {
        struct local *l = p->local;
        struct xns_request req = {
                .op = XNS_OP_HELLO,
                .hello = { .version = XNS_PROTOCOL_VERSION, .has_token = true },
        };
        int r;

        memcpy(req.hello.token, l->token, XNS_TOKEN_LEN);
        r = llink_open(l, &p->recv);
        if (r < 0)
                return r;
        p->recv->broken = proxy_on_recv_broken;
        p->recv->userdata = p;
        p->recv->want_chan = true;      /* its receives and returns go by a channel */
        return llink_request(p->recv, &req, -1, proxy_on_hello, p);
}

static void proxy_on_created(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct proxy *p = userdata;
        uint32_t error;

        if (r < 0)
                error = XNS_ERR_UNAVAILABLE;
        else if (reply->error != XNS_OK)
                error = reply->error;
        else if (reply->body != XNS_BODY_SID || !xns_sid_equal(&reply->sid, &p->sid))
                error = XNS_ERR_INTERNAL_ERROR;
        else
                error = XNS_OK;
        if (p->removed) {
                p->created = error == XNS_OK;
                return proxy_destroy(p);
        }
        if (error != XNS_OK) {
                proxy_tell_waiters(p, error);
                proxy_free(p);
                return;
        }
        p->created = true;
        proxy_tell_waiters(p, XNS_OK);
        if (proxy_open_receiver(p) < 0)
                proxy_destroy(p);
}

/*
 * local_proxy_add() - a server here with another host's SID. done hears 0
 * once xnsd made it (at once if it is there), or the error; never before
 * this returns. -EINVAL for a SID of this host, -ESHUTDOWN once xnsd is gone.
 */
int local_proxy_add(struct local *l, const struct xns_sid *sid, local_done_fn done, void *userdata) {
        struct xns_request req = { .op = XNS_OP_CREATE_SERVER, .create_server = { .has_sid = true, .sid = *sid } };
        struct proxy_waiter *w;
        struct proxy *p;
        int r;

        if (l->gone)
                return -ESHUTDOWN;
        if (sid->w[0] == l->tag)
                return -EINVAL;
        p = proxy_find(l, sid);
        if (p && p->created) {
                local_defer_done(l, done, userdata, XNS_OK, sid);
                return 0;
        }
        w = malloc(sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (struct proxy_waiter){ .done = done, .userdata = userdata };
        if (!p) {
                p = calloc(1, sizeof(*p));
                if (!p) {
                        free(w);
                        return -ENOMEM;
                }
                *p = (struct proxy){ .local = l, .sid = *sid };
                list_init(&p->waiters);
                r = llink_request(l->main, &req, -1, proxy_on_created, p);
                if (r < 0) {
                        free(p);
                        free(w);
                        return r;
                }
                list_link_tail(&l->proxies, &p->link);
        }
        list_link_tail(&p->waiters, &w->link);
        return 0;
}

/* local_proxy_remove() - the proxy goes; its callers hear SERVER_NOT_FOUND. */
void local_proxy_remove(struct local *l, const struct xns_sid *sid) {
        struct proxy *p = proxy_find(l, sid);

        if (!p)
                return;
        if (!p->created) {
                /* Its CreateServer is on the way: the answer finds it removed. */
                proxy_tell_waiters(p, XNS_ERR_SERVER_NOT_FOUND);
                p->removed = true;
                return;
        }
        proxy_destroy(p);
}

bool local_proxy_exists(struct local *l, const struct xns_sid *sid) {
        struct proxy *p = proxy_find(l, sid);

        return p && p->created;
}
