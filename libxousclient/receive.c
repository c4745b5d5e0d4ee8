/* receive.c: receiving: a delivery from xnsd becomes an envelope, its memory mapped in place. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "clock.h"
#include "xous-internal.h"

#define RECEIVE_FOREVER UINT64_MAX

DEFINE_CLEANUP(xous_envelope_t *, envelope_free)

static int envelope_prot(xous_msg_kind_t kind) {
        return kind == XOUS_MSG_BORROW ? PROT_READ : PROT_READ | PROT_WRITE;
}

/* Maps a memory message's segment; takes *fd on success. Never populates:
 * receiving costs the same at every size. A Borrow is mapped read-only, so
 * a server that writes to it faults. */
static int envelope_map(xous_envelope_t *env, int *fd) {
        struct stat st;
        void *p;

        if (*fd < 0 || env->len == 0)
                return -EBADMSG;
        if (fstat(*fd, &st) < 0)
                return -errno;
        if (st.st_size < 0 || (uint64_t)st.st_size < env->len)
                return -EBADMSG;
        p = mmap(NULL, env->len, envelope_prot(env->kind), MAP_SHARED, *fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        env->data = p;
        env->fd = TAKE_FD(*fd);
        return 0;
}

/* The envelope of delivery d on l: its memory mapped from memfd *fd (taken),
 * or a buffer l keeps (given_take() has seen d already). */
static int envelope_new(struct link *l, const struct xns_delivery *d, int *fd, xous_envelope_t **ret) {
        _cleanup_(envelope_freep) xous_envelope_t *env = NULL;
        int r;

        env = calloc(1, sizeof(*env));
        if (!env)
                return -ENOMEM;
        *env = (struct xous_envelope){
                .generation = l->generation,
                .handle = d->handle, .gen = d->gen,
                .kind = (xous_msg_kind_t)d->kind, .id = d->id,
                .args = { d->a[0], d->a[1], d->a[2], d->a[3] },
                .offset = d->offset, .valid = d->valid,
                .sender_pid = d->sender_pid,
                .fd = -1,
        };
        if (xns_kind_is_memory(d->kind)) {
                env->len = d->len;
                r = d->buf ? given_map(l, env, d, envelope_prot(env->kind)) : envelope_map(env, fd);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

/* A delivery we cannot hand to the server: answer it at once, so its
 * caller does not wait forever (memory back unchanged, or a dropped scalar). */
static void receive_refuse(struct link *l, const struct xns_delivery *d) {
        struct xns_request req = {
                .op = XNS_OP_RETURN,
                .ret = {
                        .handle = d->handle, .gen = d->gen,
                        .how = xns_kind_is_memory(d->kind) ? XNS_RETURN_MEMORY : XNS_RETURN_DROPPED,
                        .offset = d->offset, .valid = d->valid,
                },
        };

        if (d->handle != 0 && xns_kind_blocks(d->kind))
                (void)session_post(l, &req, -1);
}

/* The answer that reply_and_receive_next() carries goes out on its own,
 * as a RETURN, when the receive does not go to xnsd at once. */
static int receive_send_return(struct link *l, struct xns_request *req) {
        struct xns_request ret_req = { .op = XNS_OP_RETURN, .ret = req->receive.ret };

        if (!req->receive.has_ret)
                return 0;
        req->receive.has_ret = false;
        return session_post(l, &ret_req, -1);
}

/* The next message from what xnsd handed over earlier. */
static int receive_held(struct link *l, struct xns_request *req, const struct xns_scalar *s,
                        xous_envelope_t **ret) {
        struct xns_delivery d = {
                .kind = XOUS_MSG_SCALAR, .id = s->id,
                .a = { s->a[0], s->a[1], s->a[2], s->a[3] },
                .sender_pid = s->sender_pid,
        };
        int no_fd = -1, r;

        r = receive_send_return(l, req);
        if (r != 0)
                return r;
        return envelope_new(l, &d, &no_fd, ret);
}

/* Keeps the Scalars that came behind a delivery, in its frame and in the
 * frames that continue it. Under memory pressure they are lost, as a send
 * would fail. The delivery itself is in *reply still when this returns 0. */
static int receive_more(struct link *l, struct xns_request *req, const struct xns_reply *reply) {
        struct xns_reply cont;
        bool continued = reply->continued;
        uint64_t generation = l->generation;
        int r;

        if (reply->n_more > 0)
                (void)held_put(generation, &req->receive.sid, reply->more, reply->n_more);
        while (continued) {
                r = session_read_continued(l, req->seq, &cont);
                if (r < 0)
                        return r;
                (void)held_put(generation, &req->receive.sid, cont.more, cont.n_more);
                continued = cont.continued;
        }
        return 0;
}

/* What is left until deadline, as a timeout for a call (UINT32_MAX: none). */
static uint32_t receive_timeout_left(uint64_t deadline) {
        uint64_t now;

        if (deadline == RECEIVE_FOREVER)
                return UINT32_MAX;
        now = now_ms();
        if (now >= deadline)
                return 0;
        return deadline - now >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)(deadline - now);
}

static int receive_from_daemon(struct link *l, struct xns_request *req, uint64_t deadline, xous_envelope_t **ret) {
        _cleanup_close_ int fd = -1;
        struct xns_reply reply;
        int r;

        r = session_call_timeout(l, req, -1, &reply, &fd, receive_timeout_left(deadline), NULL);
        if (r != 0)
                return r;
        if (reply.body == XNS_BODY_NONE && req->receive.nowait)
                return 0;
        if (reply.body != XNS_BODY_DELIVERY || (!req->receive.batch && (reply.n_more > 0 || reply.continued)))
                return -EBADMSG;
        given_take(l, &reply.delivery, &fd, envelope_prot((xous_msg_kind_t)reply.delivery.kind));
        r = receive_more(l, req, &reply);
        if (r < 0)
                return r;
        r = envelope_new(l, &reply.delivery, &fd, ret);
        if (r < 0) {
                receive_refuse(l, &reply.delivery);
                return r == -ENOMEM ? r : XOUS_ERR_INTERNAL_ERROR;
        }
        return 0;
}

/*
 * receive_on_free_link() - receive_from_daemon() on the thread's link l,
 * unless Scalars the thread posted there wait for room in a full queue:
 * xnsd reads nothing else of l meanwhile, so a receive there would wait
 * for as long (for ever, if this receive is what makes the room). Then it
 * goes on another link of the session. Only then: a Scalar the thread
 * posted to its own server and that xnsd has queued is found by the
 * receive that follows it, as before.
 */
static int receive_on_free_link(struct link *l, struct xns_request *req, uint64_t deadline, xous_envelope_t **ret) {
        struct link *aside, *own;
        int r;

        r = session_drain_posted(l, now_ms());  /* no time to spare: stalled, or drained */
        if (r == 0)
                return receive_from_daemon(l, req, deadline, ret);
        if (r != -ETIMEDOUT)
                return r;                       /* l is gone if it broke */
        r = session_link_aside(&aside, &own);
        if (r != 0)
                return r;
        r = receive_from_daemon(aside, req, deadline, ret);
        session_link_aside_end(aside, own);
        return r;
}

/*
 * receive_call() - a held Scalar, or a receive from xnsd once held.c lets
 * it go. A receive that must wait for another thread's sends its answer
 * first, so that its caller is not kept waiting meanwhile. A nowait receive
 * while another thread waits in xnsd for what it takes along finds nothing.
 * Past deadline (ms on CLOCK_MONOTONIC; RECEIVE_FOREVER: none):
 * XOUS_ERR_TIMEOUT.
 */
static int receive_call(struct xns_request *req, uint64_t deadline, xous_envelope_t **ret) {
        const struct xns_sid *sid = &req->receive.sid;
        struct xns_scalar s;
        struct link *l;
        bool batch = false;
        int r;

        r = session_link(&l);
        if (r != 0)
                return r;
        r = held_enter(l->generation, sid, req->receive.nowait, !req->receive.has_ret, deadline, &s, &batch);
        if (r == -EAGAIN && req->receive.has_ret) {
                r = receive_send_return(l, req);
                if (r != 0)
                        return r;
                r = held_enter(l->generation, sid, req->receive.nowait, true, deadline, &s, &batch);
        }
        if (r == -EAGAIN)
                return 0;
        if (r == -ETIMEDOUT)
                return XOUS_ERR_TIMEOUT;
        if (r < 0)
                return r;
        if (r == 1)
                return receive_held(l, req, &s, ret);
        req->receive.batch = batch;
        r = receive_on_free_link(l, req, deadline, ret);
        held_leave(sid, batch);
        return r;
}

static struct xns_request receive_request(xous_sid_t sid, bool nowait) {
        return (struct xns_request){
                .op = XNS_OP_RECEIVE,
                .receive = { .sid = xous_sid_to_wire(sid), .nowait = nowait },
        };
}

/* xous_receive_message() - wait, using no CPU, for the next message to a server of this process. */
_public_ xous_error_t xous_receive_message(xous_sid_t sid, xous_envelope_t **env) {
        struct xns_request req = receive_request(sid, false);

        if (!env)
                return XOUS_ERR_INVALID_ARGUMENT;
        *env = NULL;
        return xous_error_from_result(receive_call(&req, RECEIVE_FOREVER, env));
}

/*
 * xous_receive_message_timeout() - as xous_receive_message(), for up to
 * timeout_ms (0: only what is there now; UINT32_MAX: forever); TIMEOUT with
 * *env NULL past it. A message that arrives as time runs out is taken,
 * never lost.
 */
_public_ xous_error_t xous_receive_message_timeout(xous_sid_t sid, xous_envelope_t **env, uint32_t timeout_ms) {
        struct xns_request req = receive_request(sid, timeout_ms == 0);
        xous_error_t e;

        if (!env)
                return XOUS_ERR_INVALID_ARGUMENT;
        *env = NULL;
        e = xous_error_from_result(receive_call(&req, timeout_ms == UINT32_MAX ? RECEIVE_FOREVER
                                                                               : deadline_ms(timeout_ms), env));
        if (e == XOUS_OK && !*env)
                e = XOUS_ERR_TIMEOUT;
        return e;
}

/* xous_try_receive_message() - the next message if one is queued, else XOUS_OK with *env NULL. */
_public_ xous_error_t xous_try_receive_message(xous_sid_t sid, xous_envelope_t **env) {
        struct xns_request req = receive_request(sid, true);

        if (!env)
                return XOUS_ERR_INVALID_ARGUMENT;
        *env = NULL;
        return xous_error_from_result(receive_call(&req, RECEIVE_FOREVER, env));
}

/*
 * xous_reply_and_receive_next() - drop *env (if set) and wait for the next message.
 *
 * The answer rides in the RECEIVE frame: one round trip instead of two. The
 * envelope is unmapped before the frame leaves, as a drop does.
 */
_public_ xous_error_t xous_reply_and_receive_next(xous_sid_t sid, xous_envelope_t **env) {
        struct xns_request req = receive_request(sid, false);

        if (!env)
                return XOUS_ERR_INVALID_ARGUMENT;
        if (*env) {
                req.receive.has_ret = envelope_build_return(*env, &req.receive.ret);
                envelope_free(TAKE_PTR(*env));
        }
        return xous_error_from_result(receive_call(&req, RECEIVE_FOREVER, env));
}

/*
 * xous_server_get_fd() - a descriptor that polls readable (level-triggered)
 * while a receive on sid would find a message: queued in xnsd, or held here
 * behind one received before; and for good once xnsd is gone (a receive
 * then answers why). It asks xnsd on a link of its own, kept idle. Made on the first call for sid (the server
 * must be this process's), the same one after; the library owns it and
 * closes it when the server is destroyed. Readable without a message only
 * briefly (another thread took it): xous_try_receive_message() then answers
 * *env NULL, and the descriptor is quiet again.
 */
_public_ xous_error_t xous_server_get_fd(xous_sid_t sid, int *fd) {
        struct xns_request req = { .op = XNS_OP_WATCH_SERVER, .sid = xous_sid_to_wire(sid) };
        _cleanup_close_ int ready_fd = -1, link_fd = -1;
        struct xns_reply reply;
        int r;

        if (!fd)
                return XOUS_ERR_INVALID_ARGUMENT;
        r = held_watch(&req.sid, NULL, NULL, fd);
        if (r != -ENOENT)
                return xous_error_from_result(r);
        r = session_call_detached(&req, &reply, &ready_fd, &link_fd);
        if (r == 0 && ready_fd < 0)
                r = -EBADMSG;
        if (r == 0)
                r = held_watch(&req.sid, &ready_fd, &link_fd, fd);
        return xous_error_from_result(r);
}
