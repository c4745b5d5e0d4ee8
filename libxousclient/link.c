/* link.c: one SOCK_SEQPACKET link to xnsd: connect, HELLO, request/reply. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "xous-internal.h"

/* Errors from sendmsg() that mean the daemon is gone. */
static bool errno_is_disconnect(int r) {
        return r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN;
}

/* $XOUS_SOCKET, else the system socket. Ignored in setuid programs. */
static const char *link_socket_path(void) {
        const char *p = secure_getenv("XOUS_SOCKET");

        return p && *p ? p : XNS_DEFAULT_SOCKET;
}

int link_new(struct link **ret) {
        struct link *l;

        l = malloc(sizeof(*l));
        if (!l)
                return -ENOMEM;
        *l = (struct link)LINK_INIT;
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
                safe_close(l->fd);
                free(l);
        }
        return NULL;
}

int link_connect(struct link *l) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = link_socket_path();
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

static int link_send(struct link *l, const struct xns_request *req, int fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;
        int r;

        n = xns_request_encode(req, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        r = xns_frame_send(l->fd, buf, (size_t)n, fd, false);
        if (errno_is_disconnect(r))
                l->broken = true;
        return r;
}

/* A daemon error, clamped into the range of xous_error_t. */
static int reply_error(uint32_t error) {
        return error <= XOUS_ERR_SECURITY_ERROR ? (int)error : XOUS_ERR_UNKNOWN_ERROR;
}

/* Reads frames until the reply to seq; anything else is stale and dropped
 * together with its descriptor. The link is unusable after any failure
 * here: a lost or garbled frame may have been the awaited reply. */
static int link_wait_reply(struct link *l, uint32_t seq, struct xns_reply *reply, int *reply_fd) {
        uint8_t buf[XNS_FRAME_MAX];

        for (;;) {
                _cleanup_close_ int fd = -1;
                ssize_t n;

                n = xns_frame_recv(l->fd, buf, sizeof(buf), &fd, false);
                if (n <= 0) {
                        l->broken = true;
                        return n == 0 ? -ECONNRESET : (int)n;
                }
                if (xns_reply_decode(reply, buf, (size_t)n) < 0) {
                        l->broken = true;
                        return -EBADMSG;
                }
                if (reply->seq != seq)
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
        int r;

        if (reply_fd)
                *reply_fd = -1;
        req->seq = link_next_seq(l);
        r = link_send(l, req, fd);
        if (r < 0)
                return r;
        return link_wait_reply(l, req->seq, reply, reply_fd);
}

/* Sends a fire-and-forget request (seq 0, no reply). */
int link_post(struct link *l, struct xns_request *req, int fd) {
        req->seq = 0;
        return link_send(l, req, fd);
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
