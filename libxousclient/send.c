/* send.c: sending the five kinds of message, and the answers the blocking ones wait for. */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "xous-internal.h"

static struct xns_request send_request(xous_cid_t cid, xous_msg_kind_t kind, uint32_t id) {
        return (struct xns_request){
                .op = XNS_OP_SEND,
                .send = { .cid = cid, .kind = kind, .id = id },
        };
}

static void send_set_args(struct xns_request *req, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4) {
        req->send.a[0] = a1;
        req->send.a[1] = a2;
        req->send.a[2] = a3;
        req->send.a[3] = a4;
}

static void send_set_buf(struct xns_request *req, const xous_buf_t *buf, uint32_t offset, uint32_t valid) {
        req->send.len = (uint32_t)buf->len;
        req->send.offset = offset;
        req->send.valid = valid;
}

/*
 * send_nonblocking() - a Scalar or a Move (also the forwards that are fresh
 * sends). The daemon answers once the message is queued, so a full queue
 * makes this wait for room (try_: SERVER_QUEUE_FULL instead, also while
 * the thread's own posted Scalars wait for room in a full queue, which it
 * may not overtake). A CID this process was never granted fails without a
 * round trip, but only once the daemon is known to be there: without one
 * every call is UNAVAILABLE.
 */
int send_nonblocking(struct xns_request *req, int fd) {
        struct xns_reply reply;
        struct link *l;
        int r;

        r = session_link(&l);
        if (r != 0)
                return r;
        if (!session_has_cid(req->send.cid))
                return XOUS_ERR_SERVER_NOT_FOUND;
        if (req->send.try_) {
                r = session_drain_posted(l, deadline_ms(0));
                if (r == -ETIMEDOUT)
                        return XOUS_ERR_SERVER_QUEUE_FULL;
                if (r < 0)
                        return r;
        }
        return session_call(l, req, fd, &reply, NULL);
}

static bool buf_usable(const xous_buf_t *buf) {
        return buf && buf->data && buf->fd >= 0 && buf->ro_fd >= 0;
}

/* A buffer that can be lent or sent now: INVALID_ARGUMENT, MEMORY_IN_USE
 * (a lend of it timed out and its server still has it), or 0. */
static int validate_buf(xous_buf_t *buf) {
        if (!buf_usable(buf))
                return XOUS_ERR_INVALID_ARGUMENT;
        if (buf_busy(buf))
                return XOUS_ERR_MEMORY_IN_USE;
        return 0;
}

/* A blocking call on the thread's link, giving up after timeout_ms
 * (UINT32_MAX: never); release_fd as session_call_timeout(). */
static int send_call(struct xns_request *req, int fd, struct xns_reply *reply, uint32_t timeout_ms,
                     int *release_fd) {
        struct link *l;
        int r;

        if (release_fd)
                *release_fd = -1;
        r = session_link(&l);
        if (r != 0)
                return r;
        return session_call_timeout(l, req, fd, reply, NULL, timeout_ms, release_fd);
}

/*
 * xous_send_scalar() - four words, posted: returns once the frame is on its
 * way to xnsd, without a round trip (see link_post_scalar()). If xnsd could
 * not queue an earlier Scalar of this process on cid, that error comes back
 * here instead, and this one is not sent.
 */
_public_ xous_error_t xous_send_scalar(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4) {
        struct xns_request req = send_request(cid, XOUS_MSG_SCALAR, id);
        struct link *l;
        int r;

        r = session_link(&l);
        if (r != 0)
                return xous_error_from_result(r);
        r = session_check_post(cid);
        if (r != 0)
                return xous_error_from_result(r);
        send_set_args(&req, a1, a2, a3, a4);
        return xous_error_from_result(session_post_scalar(l, &req));
}

/* xous_try_send_scalar() - as above, but SERVER_QUEUE_FULL instead of waiting for room. */
_public_ xous_error_t xous_try_send_scalar(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4) {
        struct xns_request req = send_request(cid, XOUS_MSG_SCALAR, id);

        send_set_args(&req, a1, a2, a3, a4);
        req.send.try_ = true;
        return xous_error_from_result(send_nonblocking(&req, -1));
}

/* xous_blocking_scalar_timeout() - four words, waiting up to timeout_ms
 * (UINT32_MAX: forever) for 1, 2 or 5 words back; TIMEOUT past it. */
_public_ xous_error_t xous_blocking_scalar_timeout(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2,
                                                   uint32_t a3, uint32_t a4, xous_scalar_reply_t *reply,
                                                   uint32_t timeout_ms) {
        struct xns_request req = send_request(cid, XOUS_MSG_BLOCKING_SCALAR, id);
        struct xns_reply r_reply;
        int r;

        if (!reply)
                return XOUS_ERR_INVALID_ARGUMENT;
        send_set_args(&req, a1, a2, a3, a4);
        r = send_call(&req, -1, &r_reply, timeout_ms, NULL);
        if (r == 0 && (r_reply.body != XNS_BODY_SCALAR || r_reply.scalar.count == 0))
                r = -EBADMSG;
        if (r != 0)
                return xous_error_from_result(r);
        *reply = (xous_scalar_reply_t){ .count = r_reply.scalar.count };
        memcpy(reply->v, r_reply.scalar.v, r_reply.scalar.count * sizeof(uint32_t));
        return XOUS_OK;
}

/* xous_blocking_scalar() - four words, waiting for 1, 2 or 5 words back. */
_public_ xous_error_t xous_blocking_scalar(xous_cid_t cid, uint32_t id, uint32_t a1, uint32_t a2, uint32_t a3,
                                           uint32_t a4, xous_scalar_reply_t *reply) {
        return xous_blocking_scalar_timeout(cid, id, a1, a2, a3, a4, reply, UINT32_MAX);
}

/* xous_send() - Move: the buffer goes to the server and, on XOUS_OK, is freed here. */
_public_ xous_error_t xous_send(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t offset, uint32_t valid) {
        struct xns_request req = send_request(cid, XOUS_MSG_MOVE, id);
        int r;

        r = validate_buf(buf);
        if (r != 0)
                return r;
        send_set_buf(&req, buf, offset, valid);
        r = send_nonblocking(&req, buf->fd);
        if (r == 0)
                xous_buf_free(buf);
        return xous_error_from_result(r);
}

/* A lend that timed out leaves the buffer with the server until it returns it. */
static int lend_call(struct xns_request *req, xous_buf_t *buf, int fd, struct xns_reply *reply,
                     uint32_t timeout_ms) {
        int release_fd, r;

        r = send_call(req, fd, reply, timeout_ms, &release_fd);
        if (r == XOUS_ERR_TIMEOUT && release_fd >= 0)
                buf->busy_fd = release_fd;
        return r;
}

/* xous_lend_timeout() - Borrow, waiting up to timeout_ms (UINT32_MAX:
 * forever) for it to come back; past it TIMEOUT, and the buffer is busy. */
_public_ xous_error_t xous_lend_timeout(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t offset,
                                        uint32_t valid, uint32_t timeout_ms) {
        struct xns_request req = send_request(cid, XOUS_MSG_BORROW, id);
        struct xns_reply reply;
        int r;

        r = validate_buf(buf);
        if (r != 0)
                return r;
        send_set_buf(&req, buf, offset, valid);
        return xous_error_from_result(lend_call(&req, buf, kept_lend(buf, XOUS_MSG_BORROW, &req.send.buf), &reply,
                                                timeout_ms));
}

/* xous_lend() - Borrow: the server sees the buffer read-only until it drops the envelope. */
_public_ xous_error_t xous_lend(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t offset, uint32_t valid) {
        return xous_lend_timeout(cid, id, buf, offset, valid, UINT32_MAX);
}

/* xous_lend_mut_timeout() - MutableBorrow, waiting up to timeout_ms
 * (UINT32_MAX: forever); past it TIMEOUT, *offset and *valid unchanged,
 * and the buffer busy. */
_public_ xous_error_t xous_lend_mut_timeout(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t *offset,
                                            uint32_t *valid, uint32_t timeout_ms) {
        struct xns_request req = send_request(cid, XOUS_MSG_MUTABLE_BORROW, id);
        struct xns_reply reply;
        int r;

        if (!offset || !valid)
                return XOUS_ERR_INVALID_ARGUMENT;
        r = validate_buf(buf);
        if (r != 0)
                return r;
        send_set_buf(&req, buf, *offset, *valid);
        r = lend_call(&req, buf, kept_lend(buf, XOUS_MSG_MUTABLE_BORROW, &req.send.buf), &reply, timeout_ms);
        if (r == 0 && reply.body != XNS_BODY_MEMORY)
                r = -EBADMSG;
        if (r != 0)
                return xous_error_from_result(r);
        *offset = reply.memory.offset;
        *valid = reply.memory.valid;
        return XOUS_OK;
}

/* xous_lend_mut() - MutableBorrow: the server may write the buffer and
 * change *offset and *valid, which come back here. */
_public_ xous_error_t xous_lend_mut(xous_cid_t cid, uint32_t id, xous_buf_t *buf, uint32_t *offset, uint32_t *valid) {
        return xous_lend_mut_timeout(cid, id, buf, offset, valid, UINT32_MAX);
}
