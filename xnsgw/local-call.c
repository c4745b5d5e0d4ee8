/* local-call.c: the sessions standing in for other hosts' processes, and the
 * calls and connection grants the bridge makes in their names.
 *
 * A session's Scalars to servers it has a CID for go into the ring of a
 * link of their own, as xous_send_scalar() does: no round trip each. An op
 * of another kind behind them starts only once xnsd has taken them from the
 * ring (a Sync on that link is answered after them), so a remote thread's
 * messages to a server keep their order. A full ring makes the ops behind
 * wait, and with them the caller's host: pushback as before. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "local-internal.h"
#include "macro.h"
#include "memfd.h"

#define SESSION_LINKS_MAX 32            /* blocking calls in flight per remote process */

enum op_type {
        OP_CALL,
        OP_GRANT_NAME,
        OP_GRANT_SID,
};

/* One call or grant of a remote process, queued or running. */
struct op {
        struct list link;               /* in session->queue, then ->running */
        struct session *s;
        enum op_type type;
        struct local_call call;         /* data NULL: the bytes are in memfd */
        int memfd;                      /* memory kinds: what goes beside the Send */
        uint8_t *lent;                  /* MutableBorrow: the bytes as lent, to see what changed */
        struct xns_name name;           /* OP_GRANT_NAME */
        struct xns_sid sid;             /* the server */
        local_call_done_fn call_done;   /* OP_CALL */
        local_done_fn done;             /* grants */
        void *userdata;
        struct slink *on;               /* the link it runs on */
};

/* A link of a session, idle or carrying one op. */
struct slink {
        struct list link;               /* in session->links */
        struct session *s;
        struct llink *k;
        bool ready;                     /* its Hello was answered */
        struct op *op;
};

struct cid_entry {
        struct xns_sid sid;
        uint32_t cid;
};

/* A remote process as xnsd sees it: its own session, links and CIDs. */
struct session {
        struct list link;               /* in local->sessions */
        struct local *local;
        struct xns_origin origin;
        bool has_token;
        uint8_t token[XNS_TOKEN_LEN];
        struct list links;              /* struct slink */
        size_t n_links;
        struct list queue;              /* struct op, not started, oldest first */
        struct list running;            /* struct op */
        struct op *barrier;             /* no op starts before this one is done (or sent) */
        bool closing;                   /* its process is gone: ends once what it sent is sent
                                         * (and what comes yet joins it: its host may still
                                         * hold some in a proxy's queue) */
        struct cid_entry *cids;
        size_t n_cids;
        struct event *pump;             /* starts what can start, from the loop */

        struct llink *post;             /* the link of the ring (no op runs on it); NULL: none yet */
        struct xns_ring *ring;          /* mapped once xnsd took it; NULL until then */
        void *ring_map;
        uint32_t ring_head;             /* our copy of ring->head */
        uint32_t ring_synced;           /* every Scalar before this head is in its queue */
        bool post_failed;               /* no ring: Scalars go as Sends */
        bool syncing;                   /* a Sync waits on the post link */
        bool want_room;                 /* the ring is full: an Ack will come */
};

static void session_fail(struct session *s, uint32_t error);

/* --- ops ---------------------------------------------------------------- */

static struct op *op_free(struct op *op) {
        if (op) {
                list_unlink(&op->link);
                safe_close(op->memfd);
                free(op->lent);
                free(op);
        }
        return NULL;
}

static void session_kick(struct session *s) {
        event_active(s->pump, EV_TIMEOUT, 0);
}

/* Takes op off its link and the session; the caller then ends it. */
static void op_detach(struct op *op) {
        struct session *s = op->s;

        if (op->on)
                op->on->op = NULL;
        op->on = NULL;
        if (s->barrier == op)
                s->barrier = NULL;
        list_unlink(&op->link);
        session_kick(s);
}

/* Ends op with r (its callback runs last: it may end the session). */
static void op_finish(struct op *op, const struct local_result *r) {
        op_detach(op);
        if (op->type == OP_CALL)
                op->call_done(op->userdata, r);
        else
                op->done(op->userdata, r->error, &op->sid);
        op_free(op);
}

static void op_fail(struct op *op, uint32_t error) {
        op_finish(op, &(struct local_result){ .error = error });
}

static uint32_t session_cid(const struct session *s, const struct xns_sid *sid) {
        for (size_t i = 0; i < s->n_cids; i++)
                if (xns_sid_equal(&s->cids[i].sid, sid))
                        return s->cids[i].cid;
        return 0;
}

static int session_add_cid(struct session *s, const struct xns_sid *sid, uint32_t cid) {
        struct cid_entry *c;

        for (size_t i = 0; i < s->n_cids; i++)
                if (xns_sid_equal(&s->cids[i].sid, sid)) {
                        s->cids[i].cid = cid;
                        return 0;
                }
        c = realloc(s->cids, (s->n_cids + 1) * sizeof(*c));
        if (!c)
                return -ENOMEM;
        s->cids = c;
        s->cids[s->n_cids++] = (struct cid_entry){ .sid = *sid, .cid = cid };
        return 0;
}

/* The pages of now that differ from was (len bytes, whole pages): from the
 * first changed one to the last, in r; none when none changed. */
static void changed_pages(const uint8_t *now, const uint8_t *was, size_t len, struct local_result *r) {
        size_t first = 0, end = len;

        while (first < len && memcmp(now + first, was + first, XNS_PAGE_SIZE) == 0)
                first += XNS_PAGE_SIZE;
        while (end > first && memcmp(now + end - XNS_PAGE_SIZE, was + end - XNS_PAGE_SIZE, XNS_PAGE_SIZE) == 0)
                end -= XNS_PAGE_SIZE;
        r->data = now + first;
        r->data_len = end - first;
        r->data_at = (uint32_t)first;
}

/* The server's answer to a MutableBorrow: the pages it changed, mapped for
 * the callback (the others need not cross to the caller's host again). */
static void op_finish_memory(struct op *op, const struct xns_reply *reply) {
        struct local_result r = { .offset = reply->memory.offset, .valid = reply->memory.valid };
        size_t len = op->call.len;      /* op is gone after op_finish() */
        void *p = MAP_FAILED;

        if (op->call.kind == XNS_KIND_MUTABLE_BORROW) {
                p = mmap(NULL, len, PROT_READ, MAP_SHARED, op->memfd, 0);
                if (p == MAP_FAILED)
                        r.error = XNS_ERR_OUT_OF_MEMORY;
                else
                        changed_pages(p, op->lent, len, &r);
        }
        op_finish(op, &r);
        if (p != MAP_FAILED)
                munmap(p, len);
}

static bool reply_fits_kind(const struct xns_reply *reply, uint32_t kind) {
        if (kind == XNS_KIND_BLOCKING_SCALAR)
                return reply->body == XNS_BODY_SCALAR && reply->scalar.count >= 1 && reply->scalar.count <= 5;
        if (kind == XNS_KIND_BORROW || kind == XNS_KIND_MUTABLE_BORROW)
                return reply->body == XNS_BODY_MEMORY;
        return true;
}

static void op_on_sent(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct op *op = userdata;
        struct local_result res = { 0 };

        if (r < 0)
                return op_fail(op, XNS_ERR_UNAVAILABLE);
        if (reply->error != XNS_OK)
                return op_fail(op, reply->error);
        if (!reply_fits_kind(reply, op->call.kind))
                return op_fail(op, XNS_ERR_INTERNAL_ERROR);
        if (xns_kind_is_memory(op->call.kind) && op->call.kind != XNS_KIND_MOVE)
                return op_finish_memory(op, reply);
        if (op->call.kind == XNS_KIND_BLOCKING_SCALAR) {
                res.count = reply->scalar.count;
                memcpy(res.v, reply->scalar.v, res.count * sizeof(uint32_t));
        }
        op_finish(op, &res);
}

/* The Send itself. A blocking one lets the next op start; a Scalar or a
 * Move holds it back until xnsd has queued it. */
static void op_send(struct op *op, uint32_t cid) {
        const struct local_call *c = &op->call;
        struct xns_request req = {
                .op = XNS_OP_SEND,
                .send = {
                        .cid = cid, .kind = c->kind, .id = c->id,
                        .a = { c->a[0], c->a[1], c->a[2], c->a[3] },
                        .len = c->len, .offset = c->offset, .valid = c->valid,
                },
        };
        int r;

        r = llink_request(op->on->k, &req, op->memfd, op_on_sent, op);
        if (r < 0)
                return op_fail(op, xns_error_from_errno(r));
        if (c->kind == XNS_KIND_MOVE)
                op->memfd = safe_close(op->memfd);
        if (!xns_kind_blocks(c->kind)) {
                op->s->barrier = op;
                return;
        }
        if (op->s->barrier == op)
                op->s->barrier = NULL;
        session_kick(op->s);
}

/* A CID for the op: from RequestConnection or Connect. */
static void op_on_cid(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct op *op = userdata;

        if (r < 0)
                return op_fail(op, XNS_ERR_UNAVAILABLE);
        if (reply->error != XNS_OK)
                return op_fail(op, reply->error);
        if (reply->body != XNS_BODY_CID || reply->cid == 0)
                return op_fail(op, XNS_ERR_INTERNAL_ERROR);
        r = session_add_cid(op->s, &op->sid, reply->cid);
        if (r < 0)
                return op_fail(op, XNS_ERR_OUT_OF_MEMORY);
        if (op->type == OP_CALL)
                return op_send(op, reply->cid);
        op_finish(op, &(struct local_result){ .error = XNS_OK });
}

static int op_request_cid(struct op *op) {
        struct xns_request req = { 0 };

        if (op->type == OP_GRANT_NAME) {
                req.op = XNS_OP_REQUEST_CONNECTION;
                req.request_connection.name = op->name;
        } else {
                req.op = XNS_OP_CONNECT;
                req.connect.sid = op->sid;
        }
        return llink_request(op->on->k, &req, -1, op_on_cid, op);
}

/* Starts op on sl: it holds the next one back until it has its CID. */
static void op_start(struct op *op, struct slink *sl) {
        struct session *s = op->s;
        uint32_t cid = op->type == OP_CALL ? session_cid(s, &op->sid) : 0;
        int r;

        list_unlink(&op->link);
        list_link_tail(&s->running, &op->link);
        sl->op = op;
        op->on = sl;
        if (cid != 0)
                return op_send(op, cid);
        s->barrier = op;
        r = op_request_cid(op);
        if (r < 0)
                op_fail(op, xns_error_from_errno(r));
}

/* --- links of a session ------------------------------------------------- */

static struct slink *slink_free(struct slink *sl) {
        if (sl) {
                if (sl->op)
                        sl->op->on = NULL;
                llink_close(sl->k);
                list_unlink(&sl->link);
                sl->s->n_links--;
                free(sl);
        }
        return NULL;
}

static void slink_on_broken(void *userdata, int r) {
        struct slink *sl = userdata;

        session_fail(sl->s, XNS_ERR_UNAVAILABLE);
}

static void slink_on_hello(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct slink *sl = userdata;
        struct session *s = sl->s;

        if (r < 0)
                return;                 /* slink_on_broken() follows */
        if (reply->error != XNS_OK)
                return session_fail(s, reply->error);
        if (!s->has_token) {
                if (reply->body != XNS_BODY_TOKEN)
                        return session_fail(s, XNS_ERR_INTERNAL_ERROR);
                memcpy(s->token, reply->token, XNS_TOKEN_LEN);
                s->has_token = true;
        }
        sl->ready = true;
        session_kick(s);
}

/* A new link: the first says Hello with the origin, the others with the token. */
static int session_open_link(struct session *s) {
        struct xns_request req = { .op = XNS_OP_HELLO, .hello.version = XNS_PROTOCOL_VERSION };
        struct slink *sl;
        int r;

        if (s->has_token) {
                req.hello.has_token = true;
                memcpy(req.hello.token, s->token, XNS_TOKEN_LEN);
        } else {
                req.hello.has_origin = true;
                req.hello.origin = s->origin;
        }
        sl = calloc(1, sizeof(*sl));
        if (!sl)
                return -ENOMEM;
        sl->s = s;
        list_link_tail(&s->links, &sl->link);
        s->n_links++;
        r = llink_open(s->local, &sl->k);
        if (r == 0) {
                sl->k->broken = slink_on_broken;
                sl->k->userdata = sl;
                sl->k->want_chan = true;        /* its calls go by a channel */
                r = llink_request(sl->k, &req, -1, slink_on_hello, sl);
        }
        if (r < 0)
                slink_free(sl);
        return r;
}

/* An idle link; NULL if none, after opening one when that is allowed and
 * none is being opened already. */
static struct slink *session_link(struct session *s, int *error) {
        struct slink *sl;
        bool opening = false;

        *error = 0;
        list_for_each_entry(sl, &s->links, link) {
                if (sl->ready && !sl->op)
                        return sl;
                opening |= !sl->ready;
        }
        if (!opening && s->n_links < SESSION_LINKS_MAX)
                *error = session_open_link(s);
        return NULL;
}

/* --- the ring of posted Scalars ------------------------------------------ */

/* A Scalar to a server the session has a CID for: it may go into the ring. */
static bool op_rings(const struct op *op) {
        return op->type == OP_CALL && op->call.kind == XNS_KIND_SCALAR && session_cid(op->s, &op->sid) != 0;
}

/* Scalars posted that xnsd may not have queued yet. */
static bool ring_pending(const struct session *s) {
        return s->ring && s->ring_synced != s->ring_head && xns_ring_pending(s->ring, s->ring_head);
}

/* Tells xnsd to look at the ring, unless it looks already. */
static void ring_kick(struct session *s) {
        struct xns_request req = { .op = XNS_OP_KICK };

        if (xns_ring_take_kick(s->ring))
                (void)llink_post(s->post, &req, -1);
}

/* No slot free: ask for an Ack when xnsd has taken some. true while so. */
static bool ring_full(struct session *s) {
        if (!xns_ring_full(s->ring, s->ring_head) || !xns_ring_ask_room(s->ring, s->ring_head))
                return false;
        s->want_room = true;
        ring_kick(s);
        return true;
}

/*
 * Posts the Scalars at the head of the queue while the ring has room, then
 * tells their callers they are sent. Those callbacks never end the session
 * (they answer the caller's host), and the pump comes back for the rest.
 */
static void ring_post_queued(struct session *s) {
        struct list posted = LIST_INIT(posted);
        struct op *op;

        while ((op = list_first_entry(&s->queue, struct op, link)) && op_rings(op) && !ring_full(s)) {
                xns_ring_publish(s->ring, &s->ring_head, session_cid(s, &op->sid), op->call.id, op->call.a);
                list_unlink(&op->link);
                list_link_tail(&posted, &op->link);
        }
        if (!list_is_empty(&posted))
                ring_kick(s);
        if (!s->want_room)
                session_kick(s);
        while ((op = list_first_entry(&posted, struct op, link))) {
                list_unlink(&op->link);
                op->call_done(op->userdata, &(struct local_result){ .error = XNS_OK });
                op_free(op);
        }
}

static void post_on_sync(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct session *s = userdata;

        if (r < 0)
                return;                 /* post_on_broken() follows */
        s->syncing = false;
        s->ring_synced = s->ring_head;  /* the pump posted nothing since the Sync */
        session_kick(s);
}

/* The op at the head waits until xnsd has queued what the ring holds: a
 * request on the post link is read after the ring. */
static void ring_sync(struct session *s) {
        struct xns_request req = { .op = XNS_OP_TRUSTED_INIT_DONE };

        if (s->syncing)
                return;
        if (llink_request(s->post, &req, -1, post_on_sync, s) < 0)
                return session_fail(s, XNS_ERR_UNAVAILABLE);
        s->syncing = true;
}

/* An Ack on the post link: room again, and/or a Scalar xnsd could not queue
 * (its caller was told it was sent: it is lost, as a posted Scalar is). */
static int post_on_unsolicited(void *userdata, const struct xns_reply *reply) {
        struct session *s = userdata;

        if (reply->body != XNS_BODY_ACK)
                return -EBADMSG;
        if (s->want_room) {
                s->want_room = false;
                session_kick(s);
        }
        return 0;
}

static void post_on_broken(void *userdata, int r) {
        session_fail(userdata, XNS_ERR_UNAVAILABLE);
}

/* No ring for the session: its Scalars go as Sends. */
static void post_fail(struct session *s) {
        s->post_failed = true;
        session_kick(s);
}

static void post_on_ring(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct session *s = userdata;

        if (r < 0)
                return;
        if (reply->error != XNS_OK)
                return post_fail(s);
        s->ring = s->ring_map;
        session_kick(s);
}

/* Hands xnsd the ring: a sealed memfd, mapped here. */
static void post_on_hello(void *userdata, int r, const struct xns_reply *reply, int *fd) {
        struct session *s = userdata;
        struct xns_request req = { .op = XNS_OP_RING };
        _cleanup_close_ int mem = -1;
        void *p;

        if (r < 0)
                return;
        if (reply->error != XNS_OK ||
            memfd_new_sealed("xnsgw-ring", NULL, XNS_RING_SIZE, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, &mem) < 0)
                return post_fail(s);
        p = mmap(NULL, XNS_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mem, 0);
        if (p == MAP_FAILED)
                return post_fail(s);
        s->ring_map = p;
        if (llink_request(s->post, &req, mem, post_on_ring, s) < 0)
                post_fail(s);
}

/* Opens the post link (the session has its token: it has a CID); the
 * Scalars wait for its ring. A failure sends them as Sends. */
static void session_open_post(struct session *s) {
        struct xns_request req = { .op = XNS_OP_HELLO, .hello = { .version = XNS_PROTOCOL_VERSION, .has_token = true } };

        if (s->post)
                return;
        memcpy(req.hello.token, s->token, XNS_TOKEN_LEN);
        if (llink_open(s->local, &s->post) < 0) {
                s->post = NULL;
                return post_fail(s);
        }
        s->post->unsolicited = post_on_unsolicited;
        s->post->broken = post_on_broken;
        s->post->userdata = s;
        if (llink_request(s->post, &req, -1, post_on_hello, s) < 0)
                post_fail(s);
}

/* Starts the next queued op if it may start and has a link, and comes back
 * for the one after it: op_start() may end the session (a callback). */
static void session_pump(evutil_socket_t fd, short what, void *arg) {
        struct session *s = arg;
        struct op *op = list_first_entry(&s->queue, struct op, link);
        struct slink *sl;
        int r;

        if (s->closing && !op && !s->barrier)
                return session_fail(s, XNS_ERR_SERVER_NOT_FOUND);
        if (s->barrier || !op)
                return;
        if (op_rings(op) && s->ring)
                return ring_post_queued(s);
        if (op_rings(op) && !s->post_failed)
                return session_open_post(s);    /* the pump comes back once it is there */
        if (ring_pending(s))
                return ring_sync(s);
        sl = session_link(s, &r);
        if (r < 0 && s->n_links == 0)
                return session_fail(s, xns_error_from_errno(r));
        if (!sl)
                return;
        session_kick(s);
        op_start(op, sl);
}

/* --- sessions ----------------------------------------------------------- */

static struct session *session_free(struct session *s) {
        struct slink *sl;
        struct op *op;

        if (!s)
                return NULL;
        while ((sl = list_first_entry(&s->links, struct slink, link)))
                slink_free(sl);
        while ((op = list_first_entry(&s->queue, struct op, link)))
                op_free(op);
        while ((op = list_first_entry(&s->running, struct op, link)))
                op_free(op);
        if (s->pump)
                event_free(s->pump);
        llink_close(s->post);
        if (s->ring_map)
                munmap(s->ring_map, XNS_RING_SIZE);
        list_unlink(&s->link);
        free(s->cids);
        free(s);
        return NULL;
}

/* The session ends: its links close, then every op hears error. */
static void session_fail(struct session *s, uint32_t error) {
        struct slink *sl;
        struct op *op;

        list_unlink(&s->link);          /* a callback may open a new one for the origin */
        while ((sl = list_first_entry(&s->links, struct slink, link)))
                slink_free(sl);
        llink_close(TAKE_PTR(s->post)); /* xnsd still takes what its ring holds */
        while ((op = list_first_entry(&s->running, struct op, link)) ||
               (op = list_first_entry(&s->queue, struct op, link)))
                op_fail(op, error);
        session_free(s);
}

void local_sessions_free(struct local *l) {
        struct session *s;

        while ((s = list_first_entry(&l->sessions, struct session, link)))
                session_free(s);
}

static struct session *session_find(struct local *l, const char *host, uint32_t pid) {
        struct session *s;

        list_for_each_entry(s, &l->sessions, link)
                if (s->origin.pid == pid && strcmp(s->origin.host, host) == 0)
                        return s;
        return NULL;
}

/* The session of o, made when it has none. */
static int session_get(struct local *l, const struct xns_origin *o, struct session **out) {
        struct session *s = session_find(l, o->host, o->pid);

        if (l->gone)
                return -ESHUTDOWN;
        if (!xns_host_valid(o->host, strnlen(o->host, sizeof(o->host))) || strcmp(o->host, l->host) == 0)
                return -EINVAL;
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                s->local = l;
                s->origin = *o;
                list_init(&s->links);
                list_init(&s->queue);
                list_init(&s->running);
                s->pump = event_new(l->base, -1, 0, session_pump, s);
                if (!s->pump) {
                        free(s);
                        return -ENOMEM;
                }
                list_link_tail(&l->sessions, &s->link);
        }
        *out = s;
        return 0;
}

static int op_new(struct local *l, const struct xns_origin *o, enum op_type type, const struct xns_sid *sid,
                  struct op **out) {
        struct session *s;
        struct op *op;
        int r;

        r = session_get(l, o, &s);
        if (r < 0)
                return r;
        op = calloc(1, sizeof(*op));
        if (!op)
                return -ENOMEM;
        op->s = s;
        op->type = type;
        op->sid = *sid;
        op->memfd = -1;
        list_init(&op->link);
        *out = op;
        return 0;
}

static void op_queue(struct op *op) {
        list_link_tail(&op->s->queue, &op->link);
        session_kick(op->s);
}

/* local_grant_name() - RequestConnection {name} in o's session; sid is
 * the name's SID, under which the CID is kept for its calls. */
int local_grant_name(struct local *l, const struct xns_origin *o, const char *name, const struct xns_sid *sid,
                     local_done_fn done, void *userdata) {
        size_t len = strlen(name);
        struct op *op;
        int r;

        if (!xns_name_valid(name, len))
                return -EINVAL;
        r = op_new(l, o, OP_GRANT_NAME, sid, &op);
        if (r < 0)
                return r;
        op->name.len = len;
        memcpy(op->name.str, name, len + 1);
        op->done = done;
        op->userdata = userdata;
        op_queue(op);
        return 0;
}

/* local_grant_sid() - Connect {sid} in o's session. */
int local_grant_sid(struct local *l, const struct xns_origin *o, const struct xns_sid *sid, local_done_fn done,
                    void *userdata) {
        struct op *op;
        int r;

        r = op_new(l, o, OP_GRANT_SID, sid, &op);
        if (r < 0)
                return r;
        op->done = done;
        op->userdata = userdata;
        op_queue(op);
        return 0;
}

/* The caller's memory: a sealed memfd holding c's bytes, read-only for a Borrow. */
static int call_memfd(const struct local_call *c, int *out) {
        _cleanup_close_ int fd = -1;
        int r;

        r = memfd_new_sealed("xnsgw-call", c->data, c->len, F_SEAL_SHRINK | F_SEAL_GROW, &fd);
        if (r < 0)
                return r;
        if (c->kind == XNS_KIND_BORROW) {
                r = memfd_open_read_only(fd);
                if (r < 0)
                        return r;
                *out = r;
                return 0;
        }
        *out = TAKE_FD(fd);
        return 0;
}

static int validate_call(const struct local_call *c) {
        if (c->kind >= _XNS_KIND_MAX)
                return -EINVAL;
        if (xns_kind_is_memory(c->kind) && (c->len == 0 || c->len % XNS_PAGE_SIZE != 0))
                return -EINVAL;
        return 0;
}

/*
 * local_call() - c into its server, in the name of c->origin; its bytes are
 * copied before this returns. done runs once, never before this returns:
 * for a blocking kind with the answer, for Scalar and Move once queued, or
 * with the error. Negative errno: c was not taken, done never runs.
 */
int local_call(struct local *l, const struct local_call *c, local_call_done_fn done, void *userdata) {
        struct op *op;
        int r;

        r = validate_call(c);
        if (r < 0)
                return r;
        r = op_new(l, &c->origin, OP_CALL, &c->sid, &op);
        if (r < 0)
                return r;
        op->call = *c;
        op->call.data = NULL;
        op->call_done = done;
        op->userdata = userdata;
        if (xns_kind_is_memory(c->kind)) {
                r = call_memfd(c, &op->memfd);
                if (r == 0 && c->kind == XNS_KIND_MUTABLE_BORROW) {
                        op->lent = malloc(c->len);
                        r = op->lent ? 0 : -ENOMEM;
                }
                if (r < 0) {
                        op_free(op);
                        return r;
                }
                if (op->lent)
                        memcpy(op->lent, c->data, c->len);
        } else {
                op->call.len = op->call.offset = op->call.valid = 0;
        }
        op_queue(op);
        return 0;
}

/*
 * local_origin_gone() - the remote process is gone. What it sent before is
 * still sent, in order, as xnsd keeps a dead process's messages queued; then
 * its session's links close, xnsd lets go of what it had, and its calls
 * still waiting for an answer end with SERVER_NOT_FOUND (nobody waits for
 * them any more).
 */
void local_origin_gone(struct local *l, const char *host, uint32_t pid) {
        struct session *s = session_find(l, host, pid);

        if (s) {
                s->closing = true;
                session_kick(s);
        }
}

/* local_host_gone() - the same for every process of host. */
void local_host_gone(struct local *l, const char *host) {
        struct session *s;
        bool found;

        do {
                found = false;
                list_for_each_entry(s, &l->sessions, link)
                        if (strcmp(s->origin.host, host) == 0) {
                                session_fail(s, XNS_ERR_SERVER_NOT_FOUND);
                                found = true;
                                break;
                        }
        } while (found);
}
