/* route.c: what the daemon does with each request a link sends: names,
 * servers and connections, and the routing of messages between processes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>


#include "bus.h"
#include "clock.h"
#include "conn.h"
#include "control.h"
#include "gateway.h"
#include "lent.h"
#include "log.h"
#include "macro.h"
#include "memfd.h"
#include "message.h"
#include "name.h"
#include "peer.h"
#include "policy.h"
#include "quota.h"
#include "channel.h"
#include "ring.h"
#include "route.h"
#include "server.h"

static void reply_sid(struct conn *conn, uint32_t seq, const struct xns_sid *sid) {
        struct xns_reply reply = { .seq = seq, .body = XNS_BODY_SID, .sid = *sid };

        conn_queue_reply(conn, &reply, -1);
}

static void reply_cid(struct conn *conn, uint32_t seq, uint32_t cid) {
        struct xns_reply reply = { .seq = seq, .body = XNS_BODY_CID, .cid = cid };

        conn_queue_reply(conn, &reply, -1);
}

/*
 * validate_segment() - check a memfd a client wants to lend or move.
 *
 * It must be sealed against shrinking (else the sender could truncate it
 * under the server, which would then fault), hold len bytes, and be opened
 * read-only for a Borrow, read-write otherwise.
 */
static int validate_segment(int fd, uint32_t kind, uint32_t len) {
        int r;

        if (fd < 0)
                return -EINVAL;
        if (len == 0 || len % XNS_PAGE_SIZE != 0)
                return -EDOM;
        r = memfd_check(fd, F_SEAL_SHRINK, len, UINT64_MAX, kind == XNS_KIND_BORROW ? O_RDONLY : O_RDWR);
        return r < 0 ? ring_memfd_result(r) : 0;
}

/* The server behind a CID of this process, or NULL. */
static struct server *route_cid_server(struct conn *conn, uint32_t cid) {
        const struct xns_sid *sid = peer_cid_lookup(conn->peer, cid);

        return sid ? bus_server_find(conn->bus, sid) : NULL;
}

/* A CID for the server, within the process's limit (the gateway has none). */
int route_cid_add(struct bus *bus, struct peer *peer, const struct xns_sid *sid, uint32_t *cid) {
        int r = peer_cid_add(peer, sid, peer->gateway ? UINT32_MAX - PEER_CID_FIRST : bus->opt.max_cids, cid);

        if (r == -ENOSPC)
                quota_hit(NULL, peer, peer->pid, QUOTA_CIDS);
        return r;
}

/* What the policy file says about this process and this name. */
static bool route_policy_allows(struct conn *conn, enum policy_action action, const char *name) {
        struct peer *peer = conn->peer;

        if (policy_allows(conn->bus->policy, action, name, peer->host, peer->uid, peer->gids, peer->n_gids))
                return true;
        log_info("%s%s%spid %d (uid %u) may not %s '%s' (policy)", peer->host[0] ? "host " : "", peer->host,
                 peer->host[0] ? " " : "", (int)peer->pid, (unsigned)peer->uid, action == POLICY_OWN ? "register" : "connect to", name);
        return false;
}

/* Grants a connection to a name: counted against its limit. */
static int route_grant_name(struct conn *conn, struct name *name, uint32_t *cid) {
        int r;

        if (!route_policy_allows(conn, POLICY_CONNECT, name->str))
                return -EACCES;
        if (name_full(name))
                return -EACCES;
        r = route_cid_add(conn->bus, conn->peer, &name->server->sid, cid);
        if (r < 0)
                return r;
        name_grant(&conn->bus->names, name);
        return 0;
}

/* Answers a link parked for a connection: its CID, or why not. */
static void wake_with_cid(struct conn *c, int r, uint32_t cid) {
        if (r < 0)
                return conn_wake_result(c, r);
        conn_wake(c, &(struct xns_reply){ .body = XNS_BODY_CID, .cid = cid }, -1);
}

/* A name or a server just appeared: answer the links parked waiting for it. */
void route_wake_waiters(struct bus *bus, struct server *server) {
        struct conn *c, *tmp;
        uint32_t cid = 0;
        int r;

        list_for_each_entry_safe(c, tmp, &bus->name_waiters, wait_link) {
                if (!server->name || server->name->claim_ticket != 0 || strcmp(c->wait_name.str, server->name->str) != 0)
                        continue;
                r = route_grant_name(c, server->name, &cid);
                wake_with_cid(c, r, cid);
        }
        list_for_each_entry_safe(c, tmp, &bus->sid_waiters, wait_link) {
                if (!xns_sid_equal(&c->wait_sid, &server->sid))
                        continue;
                r = route_cid_add(bus, c->peer, &server->sid, &cid);
                wake_with_cid(c, r, cid);
        }
}

static void route_register_name(struct conn *conn, const struct xns_request *req) {
        const struct xns_name *n = &req->register_name.name;
        struct server *server;
        struct name *name;
        int r;

        if (!xns_name_valid(n->str, n->len))
                return conn_reply_result(conn, req->seq, -EILSEQ);
        if (!route_policy_allows(conn, POLICY_OWN, n->str))
                return conn_reply_result(conn, req->seq, -EACCES);
        if (name_registry_find(&conn->bus->names, n->str))
                return conn_reply_result(conn, req->seq, -EEXIST);
        if (conn->peer->n_names >= conn->bus->opt.max_names) {
                quota_hit(NULL, conn->peer, conn->pid, QUOTA_NAMES);
                return conn_reply_result(conn, req->seq, -ENOMEM);
        }
        r = bus_server_create(conn->bus, conn->peer, NULL, &server);
        if (r < 0)
                return conn_reply_result(conn, req->seq, r);
        r = name_registry_add(&conn->bus->names, n->str, req->register_name.max_conns, server, &name);
        if (r < 0) {
                bus_server_destroy(conn->bus, server, -ENOENT);
                return conn_reply_result(conn, req->seq, r);
        }
        server->name = name;
        conn->peer->n_names++;
        log_debug("pid %d: registered '%s'", (int)conn->pid, name->str);
        if (gateway_exports(conn->bus, conn->peer, name->str))
                return gateway_claim(conn, req->seq, server);   /* the cluster decides */
        reply_sid(conn, req->seq, &server->sid);
        route_wake_waiters(conn->bus, server);
}

static void route_request_connection(struct conn *conn, const struct xns_request *req) {
        const struct xns_name *n = &req->request_connection.name;
        struct name *name;
        uint32_t cid = 0;
        int r;

        if (!xns_name_valid(n->str, n->len))
                return conn_reply_result(conn, req->seq, -EILSEQ);
        name = name_registry_find(&conn->bus->names, n->str);
        if (name && name->claim_ticket != 0)
                name = NULL;    /* not the cluster's yet */
        if (!name && route_policy_allows(conn, POLICY_CONNECT, n->str) &&
            gateway_lookup(conn, req->seq, n, req->request_connection.wait))
                return;         /* asks other hosts too */
        if (!name && req->request_connection.wait) {
                conn->wait_name = *n;
                conn_park_on(conn, CONN_WAIT_NAME, req->seq, &conn->bus->name_waiters);
                return;
        }
        if (!name)
                return conn_reply_result(conn, req->seq, -ENOENT);
        r = route_grant_name(conn, name, &cid);
        if (r < 0)
                return conn_reply_result(conn, req->seq, r);
        reply_cid(conn, req->seq, cid);
}

/* A new anonymous server; or the gateway's proxy, with the SID of a server
 * of another host (whose tag is not ours). */
static void route_create_server(struct conn *conn, const struct xns_request *req) {
        const struct xns_sid *sid = req->create_server.has_sid ? &req->create_server.sid : NULL;
        struct server *server;
        int r;

        if (sid && !conn->peer->gateway)
                return conn_reply_result(conn, req->seq, -EACCES);
        if (sid && sid->w[0] == conn->bus->tag)
                return conn_reply_result(conn, req->seq, -EINVAL);
        r = bus_server_create(conn->bus, conn->peer, sid, &server);
        if (r < 0)
                return conn_reply_result(conn, req->seq, r);
        reply_sid(conn, req->seq, &server->sid);
        route_wake_waiters(conn->bus, server);
}

/* The gateway's proxy goes while callers wait on it: they hear
 * SERVER_NOT_FOUND, as when a server's process dies. */
static void route_fail_unanswered(struct peer *peer, struct server *server) {
        for (uint32_t i = 0; i < peer->n_envelopes && server->unanswered > 0; i++) {
                struct message *m = peer->envelopes[i];

                if (!m || m->server != server)
                        continue;
                bus_observe(peer->bus, m, -ENOENT, NULL);
                if (m->caller)
                        conn_wake_result(m->caller, -ENOENT);
                m->caller = NULL;
                server_answered(server, m);
                message_free(m);
        }
}

/* destroy_server and unregister_server: only the owner, only with no
 * received message left unanswered (Xous answers ServerQueueFull then),
 * but for the gateway's proxies. */
static void route_destroy_server(struct conn *conn, const struct xns_request *req) {
        struct server *server = bus_server_find(conn->bus, &req->sid);

        if (!server)
                return conn_reply_result(conn, req->seq, -ENOENT);
        if (server->owner != conn->peer)
                return conn_reply_result(conn, req->seq, -EACCES);
        if (server->unanswered > 0 && conn->peer->gateway)
                route_fail_unanswered(conn->peer, server);
        if (server->unanswered > 0)
                return conn_reply_result(conn, req->seq, -EAGAIN);
        bus_server_destroy(conn->bus, server, -ENOENT);
        conn_reply_result(conn, req->seq, 0);
}

/* route_watch_server() - the owner asks for its server's readiness
 * descriptor, to poll beside its other descriptors. */
static void route_watch_server(struct conn *conn, const struct xns_request *req) {
        struct server *server = bus_server_find(conn->bus, &req->sid);
        struct xns_reply reply = { .seq = req->seq };
        int fd;

        if (!server)
                return conn_reply_result(conn, req->seq, -ENOENT);
        if (server->owner != conn->peer)
                return conn_reply_result(conn, req->seq, -EACCES);
        fd = server_watch(server);
        if (fd < 0)
                return conn_reply_result(conn, req->seq, fd);
        conn_queue_reply(conn, &reply, fd);
}

static void route_connect(struct conn *conn, const struct xns_request *req) {
        struct server *server = bus_server_find(conn->bus, &req->connect.sid);
        uint32_t cid;
        int r;

        if (!server && gateway_connect(conn, req->seq, &req->connect.sid, req->connect.wait))
                return;         /* a server of another host */
        if (!server && req->connect.wait) {
                conn->wait_sid = req->connect.sid;
                conn_park_on(conn, CONN_WAIT_SERVER, req->seq, &conn->bus->sid_waiters);
                return;
        }
        if (!server)
                return conn_reply_result(conn, req->seq, -ENOENT);
        r = route_cid_add(conn->bus, conn->peer, &server->sid, &cid);
        if (r < 0)
                return conn_reply_result(conn, req->seq, r);
        reply_cid(conn, req->seq, cid);
}

static void route_disconnect(struct conn *conn, const struct xns_request *req) {
        int r = peer_cid_remove(conn->peer, req->cid);

        conn_reply_result(conn, req->seq, r < 0 ? -EINVAL : 0);
}

static void route_trusted_init_done(struct conn *conn, const struct xns_request *req) {
        struct xns_reply reply = {
                .seq = req->seq, .body = XNS_BODY_DONE,
                .done = name_registry_trusted_init_done(&conn->bus->names),
        };

        conn_queue_reply(conn, &reply, -1);
}

/* Checks a message's descriptor against its kind; takes ownership of *fd. */
static int validate_message_fd(uint32_t kind, uint32_t len, int fd) {
        if (!xns_kind_is_memory(kind))
                return fd < 0 ? 0 : -EINVAL;
        return validate_segment(fd, kind, len);
}

/*
 * route_charge() - count a new message against its sender's limits.
 *
 * Messages in flight per process (SERVER_QUEUE_FULL when over: the sender
 * has enough queued already) and shared memory in flight per user
 * (OUT_OF_MEMORY). What is charged here is given back by message_free().
 */
static int route_charge(struct conn *conn, struct message *m) {
        struct bus *bus = conn->bus;
        struct peer *peer = conn->peer;

        if (peer->n_sent >= bus->opt.max_queued) {
                quota_hit(NULL, peer, conn->pid, QUOTA_QUEUED);
                return -EAGAIN;
        }
        if (m->len > 0) {
                if (conn->user->shm + m->len > (uint64_t)bus->opt.max_shm_mb << 20) {
                        quota_hit(conn->user, NULL, conn->pid, QUOTA_SHM);
                        return -ENOMEM;
                }
                conn->user->shm += m->len;
                conn->user->n_refs++;
                m->user = conn->user;
        }
        m->from = peer;
        peer->n_sent++;
        list_link_tail(&peer->sent, &m->sent_link);
        return 0;
}

/* A sent message's memory: its memfd *fd (checked against its kind), or
 * a buffer the process keeps (*lent). */
static int route_message_memory(struct conn *conn, const struct xns_send *s, int fd, struct lent_buf **lent) {
        struct lent_buf *b;

        *lent = NULL;
        if (s->buf == 0)
                return validate_message_fd(s->kind, s->len, fd);
        b = lent_find(conn->peer->kept, s->buf);
        if (!b || fd >= 0 || b->kind != s->kind || s->len != b->len)  /* the whole of it */
                return -EINVAL;
        *lent = b;
        return 0;
}

static struct message *message_from_send(const struct xns_send *s, struct conn *conn, uint32_t seq, int *fd,
                                         struct lent_buf *lent) {
        struct message *m = message_new();

        if (!m)
                return NULL;
        m->kind = s->kind;
        m->id = s->id;
        memcpy(m->a, s->a, sizeof(m->a));
        m->len = xns_kind_is_memory(s->kind) ? s->len : 0;
        m->offset = s->offset;
        m->valid = s->valid;
        m->fd = TAKE_FD(*fd);
        m->lent = lent ? lent_ref(lent) : NULL;
        m->sender_pid = (uint32_t)conn->peer->pid;   /* a remote process's, for its session */
        m->sender_uid = (uint32_t)conn->peer->uid;
        if (conn->bus->n_monitors > 0)
                m->sent_us = clock_us(CLOCK_MONOTONIC);
        m->keep_fd = m->fd >= 0 && conn->bus->n_payload_monitors > 0;
        if (xns_kind_blocks(s->kind)) {
                m->caller = conn;
                m->caller_seq = seq;
        }
        return m;
}

/* A sent message, checked and charged, and the server it goes to; or why
 * the sender may not send it. Takes *fd on success. */
static int route_new_message(struct conn *conn, const struct xns_send *s, uint32_t seq, int *fd,
                             struct server **server, struct message **m) {
        struct lent_buf *lent;
        int r;

        *server = route_cid_server(conn, s->cid);
        if (!*server)
                return -ENOENT;
        r = route_message_memory(conn, s, *fd, &lent);
        if (r < 0)
                return r;
        *m = message_from_send(s, conn, seq, fd, lent);
        if (!*m)
                return -ENOMEM;
        r = route_charge(conn, *m);
        if (r < 0)
                *m = message_free(*m);
        return r;
}

/* Slots taken per pass before other links get their turn. */
#define RING_SLOTS_PER_PASS XNS_RING_SLOTS

/*
 * route_posted() - a Scalar from the link's ring (ring.c): no reply.
 *
 * Returns 0 when queued or failed (the failure goes into the ring's next
 * Ack), and 1 when it waits for room: the ring then waits with it (it is
 * credited back through ring_resume()), unless the link is going (last),
 * when it simply waits.
 */
static int route_posted(struct conn *conn, const struct xns_ring_slot *s, bool last) {
        struct xns_send send = {
                .cid = s->cid, .kind = XNS_KIND_SCALAR, .id = s->id,
                .a = { s->a[0], s->a[1], s->a[2], s->a[3] },
        };
        struct server *server;
        struct message *m;
        int no_fd = -1, r;

        r = route_new_message(conn, &send, 0, &no_fd, &server, &m);
        if (r < 0) {
                ring_fail(conn, r, s->cid);
                return 0;
        }
        if (server_submit_later(server, m, &conn->bus->pumps) == SERVER_QUEUED)
                return 0;
        if (!last) {
                m->sender = conn;
                m->posted = true;
                m->cid = s->cid;
                conn->ring_stalled = m;
        }
        return 1;
}

/*
 * route_ring_pass() - route what the link's client published in its ring,
 * up to a pass's worth.
 *
 * Stops at a Scalar that must wait for room: the link is then not read
 * either, until ring_resume(). Returns 1 when a pass ended with Scalars
 * left (another pass is due: the link's next frame must wait for it), 0
 * otherwise, and -EPROTO for a ring whose head is impossible.
 */
int route_ring_pass(struct conn *conn) {
        uint32_t taken = 0;
        int n, r = 0;

        if (!conn->ring || conn->ring_stalled || conn->dead)
                return 0;
        while ((n = ring_available(conn)) > 0) {
                struct xns_ring_slot s;

                if (taken++ == RING_SLOTS_PER_PASS) {
                        ring_ready(conn);
                        r = 1;
                        break;
                }
                ring_take(conn, &s);
                if (route_posted(conn, &s, false) > 0) {
                        conn_mark_dirty(conn);  /* the loop stops reading it */
                        break;
                }
        }
        if (n < 0)
                return n;
        ring_pass_end(conn);
        return r;
}

/* The link is going: what its client published was sent, and is routed
 * whatever the queues' state (a full one holds it among the stalled). */
static void route_ring_last(struct conn *conn) {
        for (uint32_t n = ring_left(conn); n > 0; n--) {
                struct xns_ring_slot s;

                ring_take(conn, &s);
                route_posted(conn, &s, true);
        }
}

/*
 * route_link_gone() - a link is gone (EOF, error, or cut for misbehaving):
 * the one way links end. What its ring still holds was sent before, and
 * is routed first; then the bus lets the link go.
 */
void route_link_gone(struct conn *conn) {
        if (conn->dead)
                return;
        if (conn->peer)
                route_ring_last(conn);
        gateway_link_gone(conn);
        bus_conn_disconnect(conn);
}

/* route_ring_turn() - a pass over the link's ring, as route_ring_pass();
 * a link whose client wrote an impossible head is cut. */
int route_ring_turn(struct conn *conn) {
        int r = route_ring_pass(conn);

        if (r < 0) {
                log_info("pid %d: broken ring, disconnecting link", (int)conn->pid);
                route_link_gone(conn);
        }
        return r;
}

/* route_rings_ready() - the links whose rings wait for a pass: after a
 * stall, or a long one. */
void route_rings_ready(struct bus *bus) {
        struct list due = LIST_INIT(due);

        while (!list_is_empty(&bus->ring_ready)) {
                struct conn *conn = list_first_entry(&bus->ring_ready, struct conn, ring_link);

                list_unlink(&conn->ring_link);
                list_link_tail(&due, &conn->ring_link);
        }
        while (!list_is_empty(&due)) {
                struct conn *conn = list_first_entry(&due, struct conn, ring_link);

                list_unlink(&conn->ring_link);
                if (route_ring_turn(conn) == 0 && conn->chan_reading)
                        conn_mark_dirty(conn);  /* its channel waited for the ring: dispatch_flush() looks */
        }
}

/*
 * route_send() - a caller sends a message on a CID.
 *
 * Blocking kinds park the caller's link until the server answers. A
 * non-blocking send is answered once its message is queued: a full queue
 * parks it until there is room (try_ answers SERVER_QUEUE_FULL instead).
 */
static void route_send(struct conn *conn, const struct xns_request *req, int *fd) {
        const struct xns_send *s = &req->send;
        struct server *server;
        struct message *m;
        bool blocks;
        int r;

        r = route_new_message(conn, s, req->seq, fd, &server, &m);
        if (r < 0)
                return conn_reply_result(conn, req->seq, r);
        blocks = m->caller != NULL;
        if (blocks) {
                conn_park_message(conn, CONN_WAIT_REPLY, req->seq, m);
        }
        r = server_submit(server, m, s->try_);
        if (r == -EAGAIN) {
                conn_unpark(conn);
                m->server = server;
                bus_observe(conn->bus, m, -EAGAIN, NULL);
                message_free(m);
                return conn_reply_result(conn, req->seq, -EAGAIN);
        }
        if (blocks)
                return;         /* the answer, or an error, comes later */
        if (r == SERVER_STALLED) {      /* m is ours until it leaves the stalled list */
                m->sender = conn;
                conn_park_message(conn, CONN_STALLED, req->seq, m);
                return;
        }
        conn_reply_result(conn, req->seq, 0);
}

/* The answer to a blocking message, for its caller. */
static void reply_fill_answer(struct xns_reply *reply, const struct message *m, const struct xns_return *ret) {
        switch (ret->how) {
        case XNS_RETURN_SCALAR:
                reply->body = XNS_BODY_SCALAR;
                reply->scalar.count = ret->count;
                memcpy(reply->scalar.v, ret->v, sizeof(reply->scalar.v));
                break;
        case XNS_RETURN_DROPPED:        /* no answer: INTERNAL_ERROR, as libxousclient(3) says */
                reply->error = xns_error_from_errno(-EIO);
                break;
        case XNS_RETURN_FAILED:         /* the gateway's: the far side's error */
                reply->error = ret->error;
                break;
        default:
                reply->body = XNS_BODY_MEMORY;
                reply->memory.offset = m->kind == XNS_KIND_MUTABLE_BORROW ? ret->offset : m->offset;
                reply->memory.valid = m->kind == XNS_KIND_MUTABLE_BORROW ? ret->valid : m->valid;
                break;
        }
}

/*
 * route_return() - a server answers a message it received.
 *
 * Only the process that received the message holds its handle; the
 * generation makes a second answer fail. A caller that died meanwhile is
 * simply not there to wake: the answer goes nowhere, harmlessly.
 */
static void route_return(struct conn *conn, const struct xns_return *ret) {
        struct message *m = peer_envelope_get(conn->peer, ret->handle, ret->gen);
        bool scalar_answer;

        if (!m) {
                log_debug("pid %d: return for unknown message %u", (int)conn->pid, ret->handle);
                return;
        }
        scalar_answer = ret->how == XNS_RETURN_SCALAR || ret->how == XNS_RETURN_DROPPED;
        if (ret->how == XNS_RETURN_FAILED ? !conn->peer->gateway
                                          : scalar_answer != (m->kind == XNS_KIND_BLOCKING_SCALAR)) {
                log_debug("pid %d: wrong kind of return for message %u", (int)conn->pid, ret->handle);
                return;
        }
        if (m->caller || conn->bus->n_monitors > 0) {
                struct xns_reply reply = { 0 };

                reply_fill_answer(&reply, m, ret);
                bus_observe(conn->bus, m, ret->how == XNS_RETURN_DROPPED ? -EIO
                                          : ret->how == XNS_RETURN_FAILED ? -EHOSTUNREACH : 0, &reply);
                if (m->caller)
                        conn_wake(m->caller, &reply, -1);
        }
        server_answered(m->server, m);
        message_free(m);
}

/*
 * route_forward() - a server passes a received message on to another server.
 *
 * The message keeps its caller, who now waits on the new server. Memory
 * kinds bring their descriptor again, checked like a send. A server must
 * never block, so a full target answers SERVER_QUEUE_FULL.
 */
static void route_forward(struct conn *conn, const struct xns_request *req, int *fd) {
        const struct xns_forward *f = &req->forward;
        struct message *m = peer_envelope_get(conn->peer, f->handle, f->gen);
        struct server *target = route_cid_server(conn, f->cid);
        int r;

        if (!m)
                return conn_reply_result(conn, req->seq, -EALREADY);
        if (!target)
                return conn_reply_result(conn, req->seq, -ENOENT);
        r = validate_message_fd(m->kind, m->len, *fd);
        if (r < 0)
                return conn_reply_result(conn, req->seq, r);
        if (target->used >= target->depth)
                return conn_reply_result(conn, req->seq, -EAGAIN);
        server_answered(m->server, m);
        m->id = f->id;
        m->lent = lent_unref(m->lent);
        m->fd = TAKE_FD(*fd);
        m->keep_fd = m->fd >= 0 && conn->bus->n_payload_monitors > 0;
        if (server_submit(target, m, true) < 0) {
                if (m->caller)
                        conn_wake_result(m->caller, -EAGAIN);
                message_free(m);
        }
        conn_reply_result(conn, req->seq, 0);
}

/* A call's caller gave up: the message stays where it is (queued or
 * delivered) without it, as when a caller dies, and monitors see it end
 * now, with TIMEOUT, as its caller does; nothing it does later shows. */
static void route_abandon_call(struct conn *conn, struct message *m, int *fd) {
        m->caller = NULL;
        if (xns_kind_is_memory(m->kind) && m->release_fd < 0)
                m->release_fd = TAKE_FD(*fd);
        bus_observe(conn->bus, m, -ETIMEDOUT, NULL);
        m->timed_out = true;
}

/*
 * route_cancel() - the link's client gave up waiting on request seq.
 *
 * A call's message loses its caller (route_abandon_call()): the server's
 * answer goes nowhere. A receive stops waiting. Either way the request is
 * answered once, now, with TIMEOUT. A Cancel that comes after the answer
 * went out (the two crossed), or for a wait that cannot be abandoned, does
 * nothing: the client reads the one answer there is. The pipe end that may
 * come with it stays with the message until the message is done
 * (message_free()).
 */
static void route_cancel(struct conn *conn, const struct xns_request *req, int *fd) {
        if (conn->wait_seq != req->cancel)
                return;
        switch (conn->wait) {
        case CONN_WAIT_REPLY:
                route_abandon_call(conn, conn->wait_msg, fd);
                break;
        case CONN_WAIT_RECEIVE:
                break;
        default:
                return;
        }
        conn_wake_result(conn, -ETIMEDOUT);
}

static void route_receive(struct conn *conn, const struct xns_request *req) {
        struct server *server;

        if (req->receive.has_ret)
                route_return(conn, &req->receive.ret);
        server = bus_server_find(conn->bus, &req->receive.sid);
        if (!server)
                return conn_reply_result(conn, req->seq, -ENOENT);
        if (server->owner != conn->peer)
                return conn_reply_result(conn, req->seq, -EACCES);
        if (req->receive.nowait && list_is_empty(&server->queue))
                return conn_reply_result(conn, req->seq, 0);
        conn_park_receiver(conn, req->seq, server, req->receive.batch);
        server_park_receiver(server, &conn->receiver);
}

static int route_hello(struct conn *conn, const struct xns_request *req) {
        struct xns_reply reply = { .seq = req->seq, .body = XNS_BODY_TOKEN };
        int r;

        if (req->hello.version != XNS_PROTOCOL_VERSION) {
                conn_reply_result(conn, req->seq, -EINVAL);
                return 0;
        }
        if (conn->over_quota) {         /* logged when the link was opened */
                conn_reply_result(conn, req->seq, -ENOMEM);
                return 0;
        }
        if (req->hello.has_origin && !gateway_may_stand_in(conn)) {
                log_info("pid %d: refused a remote process's session: not the gateway", (int)conn->pid);
                conn_reply_result(conn, req->seq, -EACCES);
                return 0;
        }
        r = bus_peer_attach(conn->bus, conn, req->hello.has_token ? req->hello.token : NULL,
                            req->hello.has_origin ? &req->hello.origin : NULL);
        if (r < 0) {
                log_info("pid %d: refused link with a foreign process token", (int)conn->pid);
                conn_reply_result(conn, req->seq, r);
                return 0;
        }
        if (!req->hello.has_token)
                conn->peer->keeps_bufs = req->hello.buffers;
        memcpy(reply.token, conn->peer->token, XNS_TOKEN_LEN);
        return conn_queue_reply(conn, &reply, -1);
}

/* A buffer the process will lend again and again (lent.c): checked once,
 * then named by its lends. */
static void route_buf_keep(struct conn *conn, const struct xns_request *req, int *fd) {
        uint32_t kind = req->buf_keep.kind;
        int r;

        if (kind != XNS_KIND_BORROW && kind != XNS_KIND_MUTABLE_BORROW)
                return conn_reply_result(conn, req->seq, -EINVAL);
        r = validate_segment(*fd, kind, req->buf_keep.len);
        if (r == 0)
                r = lent_keep(&conn->peer->kept, req->buf_keep.buf, fd, req->buf_keep.len, kind);
        conn_reply_result(conn, req->seq, r);
}

/* The link's channel (channel.c): answered with the bell the client rings
 * us by. */
static void route_channel(struct conn *conn, const struct xns_request *req, int *fd) {
        struct xns_reply reply = { .seq = req->seq };
        int bell = -1;
        int r;

        r = channel_attach(conn, *fd, &bell);
        reply.error = xns_error_from_errno(r);
        conn_queue_reply(conn, &reply, bell);
}

/* Answered, by the socket, with the bell we ring the client by; every frame
 * after this answer goes by the channel, both ways. */
static void route_channel_bell(struct conn *conn, const struct xns_request *req) {
        struct xns_reply reply = { .seq = req->seq };
        int bell = -1;
        int r;

        r = channel_start(conn, &bell);
        reply.error = xns_error_from_errno(r);
        conn_queue_reply(conn, &reply, bell);
        conn->chan_writing = r == 0;
}

static void route_request(struct conn *conn, const struct xns_request *req, int *fd) {
        switch (req->op) {
        case XNS_OP_REGISTER_NAME:
                return route_register_name(conn, req);
        case XNS_OP_UNREGISTER_SERVER:
        case XNS_OP_DESTROY_SERVER:
                return route_destroy_server(conn, req);
        case XNS_OP_REQUEST_CONNECTION:
                return route_request_connection(conn, req);
        case XNS_OP_TRUSTED_INIT_DONE:
                return route_trusted_init_done(conn, req);
        case XNS_OP_CREATE_SERVER:
                return route_create_server(conn, req);
        case XNS_OP_CONNECT:
                return route_connect(conn, req);
        case XNS_OP_DISCONNECT:
                return route_disconnect(conn, req);
        case XNS_OP_SEND:
                return route_send(conn, req, fd);
        case XNS_OP_RECEIVE:
                return route_receive(conn, req);
        case XNS_OP_RETURN:
                return route_return(conn, &req->ret);
        case XNS_OP_FORWARD:
                return route_forward(conn, req, fd);
        case XNS_OP_CONTROL:
                return control_request(conn, req);
        case XNS_OP_RING:
                return conn_reply_result(conn, req->seq, ring_attach(conn, *fd));
        case XNS_OP_KICK:
                if (route_ring_pass(conn) < 0)
                        conn->ring_broken = true;
                return;
        case XNS_OP_CHANNEL:
                return route_channel(conn, req, fd);
        case XNS_OP_CHANNEL_BELL:
                return route_channel_bell(conn, req);
        case XNS_OP_GATEWAY_ATTACH:
                return gateway_attach(conn, req);
        case XNS_OP_GATEWAY_ANSWER:
                return gateway_answer(conn, req);
        case XNS_OP_GATEWAY_VIEW:
                return control_gateway_view(conn, *fd);
        case XNS_OP_CANCEL:
                return route_cancel(conn, req, fd);
        case XNS_OP_WATCH_SERVER:
                return route_watch_server(conn, req);
        case XNS_OP_BUF_KEEP:
                return route_buf_keep(conn, req, fd);
        case XNS_OP_BUF_FORGET:
                (void)lent_forget(conn->peer->kept, req->buf_forget);
                return;
        default:
                return;
        }
}

/* A descriptor may only come with a memory send or a forward. */
static bool request_may_carry_fd(const struct xns_request *req) {
        return (req->op == XNS_OP_SEND && xns_kind_is_memory(req->send.kind)) || req->op == XNS_OP_FORWARD ||
               req->op == XNS_OP_RING || req->op == XNS_OP_CHANNEL || req->op == XNS_OP_GATEWAY_VIEW ||
               req->op == XNS_OP_CANCEL || req->op == XNS_OP_BUF_KEEP;
}

/*
 * route_frame() - handle one frame from a link; fd (owned) came with it.
 *
 * Returns 0, or -EPROTO when the client broke the protocol: the caller then
 * disconnects that link, and only that link.
 */
int route_frame(struct conn *conn, const void *buf, size_t len, int fd) {
        _cleanup_close_ int owned_fd = fd;
        struct xns_request req;

        if (xns_request_decode(&req, buf, len) < 0)
                return -EPROTO;
        if (conn->wait != CONN_IDLE && req.op != XNS_OP_CANCEL)
                return -EPROTO;         /* one request at a time per link */
        if (owned_fd >= 0 && !request_may_carry_fd(&req))
                return -EPROTO;
        if (req.op == XNS_OP_HELLO)
                return conn->peer ? -EPROTO : route_hello(conn, &req);
        if (req.op == XNS_OP_CONTROL) {         /* xnsctl needs no process session */
                control_request(conn, &req);
                return 0;
        }
        if (!conn->peer)
                return -EPROTO;
        route_request(conn, &req, &owned_fd);
        return conn->ring_broken ? -EPROTO : 0;
}
