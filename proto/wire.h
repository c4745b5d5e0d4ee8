/* wire.h: the xns wire layer: frames as plain C structs, their checked
 * encoding (protobuf-c, hidden here), and frame I/O over SEQPACKET with
 * SCM_RIGHTS. Shared by xnsd and libxousclient; no protobuf type leaks out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xous-codes.h"

#define XNS_PROTOCOL_VERSION 2
#define XNS_FRAME_MAX 1024              /* largest frame either side accepts */
#define XNS_TOKEN_LEN 16
#define XNS_NAME_MAX 63                 /* bytes of UTF-8 */
#define XNS_PAGE_SIZE 4096u
#define XNS_DELIVERY_MORE_MAX 32        /* Scalars riding in one delivery frame */
#define XNS_DELIVERY_FRAMES_MAX 4       /* frames one delivery may take (xns_reply.continued) */
#define XNS_HOST_MAX 32                 /* a host's name in a cluster: [A-Za-z0-9_-] */
#define XNS_EXPORTS_MAX 12              /* export patterns of a gateway */
#define XNS_BUFS_MAX 16                 /* buffers a process keeps lent by number, each way (BufKeep) */

struct xns_sid {
        uint32_t w[4];
};

enum xns_op {
        XNS_OP_NONE,
        XNS_OP_HELLO,
        XNS_OP_REGISTER_NAME,
        XNS_OP_UNREGISTER_SERVER,
        XNS_OP_REQUEST_CONNECTION,
        XNS_OP_TRUSTED_INIT_DONE,
        XNS_OP_CREATE_SERVER,
        XNS_OP_DESTROY_SERVER,
        XNS_OP_CONNECT,
        XNS_OP_DISCONNECT,
        XNS_OP_SEND,
        XNS_OP_RECEIVE,
        XNS_OP_RETURN,
        XNS_OP_FORWARD,
        XNS_OP_CONTROL,
        XNS_OP_RING,                    /* memfd of a struct xns_ring beside the frame */
        XNS_OP_KICK,
        XNS_OP_GATEWAY_ATTACH,          /* the gateway: from the daemon's uid or root */
        XNS_OP_GATEWAY_ANSWER,
        XNS_OP_GATEWAY_VIEW,            /* memfd of a ClusterView beside the frame */
        XNS_OP_CANCEL,                  /* seq 0; a pipe's write end may come beside the frame */
        XNS_OP_WATCH_SERVER,            /* answered with the server's readiness timerfd beside */
        XNS_OP_CHANNEL,                 /* memfd of a struct xns_chan beside; answered with xnsd's bell */
        XNS_OP_CHANNEL_BELL,            /* answered with the client's bell; the channel carries what follows */
        XNS_OP_BUF_KEEP,                /* memfd of a buffer beside, kept under the process's number */
        XNS_OP_BUF_FORGET,              /* seq 0, no reply */
};

/* What a control request asks (xns_request.control.what). */
enum xns_control {
        XNS_CONTROL_STATUS = 1,
        XNS_CONTROL_LIST = 2,
        XNS_CONTROL_PEERS = 3,          /* daemon's uid or root */
        XNS_CONTROL_SHOW = 4,
        XNS_CONTROL_MONITOR = 5,        /* daemon's uid or root */
        _XNS_CONTROL_MAX,
};

#define XNS_CONTROL_NAMES_MAX 8         /* names in one control request */

/* How a received message is answered (xns_return.how). */
enum xns_return_how {
        XNS_RETURN_MEMORY = 0,          /* Borrow / MutableBorrow given back */
        XNS_RETURN_SCALAR = 1,          /* BlockingScalar answered */
        XNS_RETURN_DROPPED = 2,         /* BlockingScalar dropped unanswered */
        XNS_RETURN_FAILED = 3,          /* the gateway only: the caller hears error */
};

/* What xnsd asks of its gateway (xns_reply.gateway.what). */
enum xns_gateway_what {
        XNS_GATEWAY_CLAIM = 1,          /* export name (sid, max_conns) to the cluster */
        XNS_GATEWAY_RELEASE = 2,        /* name is gone here */
        XNS_GATEWAY_LOOKUP = 3,         /* find name elsewhere for a process */
        XNS_GATEWAY_CONNECT = 4,        /* reach sid of another host for a process */
        XNS_GATEWAY_GONE = 5,           /* process pid of this host is gone */
        XNS_GATEWAY_EXPORTED = 6,       /* every name registered before the attach was claimed */
        _XNS_GATEWAY_MAX,
};

/* Message kinds and Xous error codes, from the one list (xous-codes.h)
 * that xous_msg_kind_t and xous_error_t come from too. */
#define XNS_KIND_ENUM_(n, name) XNS_KIND_##name = n,
enum xns_kind {
        XOUS_FOREACH_KIND(XNS_KIND_ENUM_)
        _XNS_KIND_MAX,
};
#undef XNS_KIND_ENUM_

#define XNS_ERROR_ENUM_(n, name, text) XNS_ERR_##name = n,
enum xns_error {
        XNS_OK = 0,
        XOUS_FOREACH_ERROR(XNS_ERROR_ENUM_)
        _XNS_ERROR_MAX,
};
#undef XNS_ERROR_ENUM_

struct xns_name {
        size_t len;                     /* as sent; may exceed XNS_NAME_MAX */
        char str[XNS_NAME_MAX + 1];     /* NUL-terminated when len <= XNS_NAME_MAX */
};

struct xns_send {
        uint32_t cid, kind, id;
        uint32_t a[4];
        uint32_t len, offset, valid;
        bool try_;
        uint32_t buf;                   /* a kept buffer (BufKeep), no memfd beside; 0: none */
};

struct xns_return {
        uint32_t handle, gen, how;
        uint32_t count;                 /* 1, 2 or 5 for XNS_RETURN_SCALAR */
        uint32_t v[5];
        uint32_t offset, valid;
        uint32_t error;                 /* XNS_RETURN_FAILED: a Xous error, not 0 */
};

/* A process of another host, as that host's gateway asserts it. */
struct xns_origin {
        char host[XNS_HOST_MAX + 1];
        uint32_t pid, uid;
};

struct xns_forward {
        uint32_t handle, gen, cid, id;
};

struct xns_request {
        uint32_t seq;
        enum xns_op op;
        union {
                struct {
                        uint32_t version;
                        bool has_token;
                        uint8_t token[XNS_TOKEN_LEN];
                        bool has_origin;        /* the gateway: a remote process's session */
                        struct xns_origin origin;
                        bool buffers;           /* keeps lent buffers by number (xns_delivery.buf) */
                } hello;
                struct {
                        uint32_t buf, len, kind;
                } buf_keep;
                struct {
                        bool has_sid;           /* the gateway: a proxy's SID */
                        struct xns_sid sid;
                } create_server;
                struct {
                        char host[XNS_HOST_MAX + 1];
                        uint32_t n_exports;
                        struct xns_name exports[XNS_EXPORTS_MAX];
                } gateway_attach;
                struct {
                        uint32_t ticket, error;
                        bool has_sid;
                        struct xns_sid sid;
                } gateway_answer;
                struct {
                        struct xns_name name;
                        uint32_t max_conns;
                } register_name;
                struct {
                        struct xns_name name;
                        bool wait;
                } request_connection;
                struct {
                        struct xns_sid sid;
                        bool wait;
                } connect;
                struct xns_sid sid;     /* UNREGISTER_SERVER, DESTROY_SERVER, WATCH_SERVER */
                uint32_t cid;           /* DISCONNECT */
                uint32_t cancel;        /* CANCEL: the seq abandoned */
                uint32_t buf_forget;    /* BUF_FORGET: the number let go */
                struct xns_send send;
                struct {
                        struct xns_sid sid;
                        bool nowait;
                        bool batch;     /* Scalars queued behind may come along */
                        bool has_ret;
                        struct xns_return ret;
                } receive;
                struct xns_return ret;  /* RETURN */
                struct xns_forward forward;
                struct {
                        uint32_t what;
                        uint32_t n_names;
                        struct xns_name names[XNS_CONTROL_NAMES_MAX];
                        uint32_t payloads;      /* monitor: memfds beside memory events */
                } control;
        };
};

enum xns_body {
        XNS_BODY_NONE,
        XNS_BODY_TOKEN,
        XNS_BODY_SID,
        XNS_BODY_CID,
        XNS_BODY_DONE,
        XNS_BODY_DELIVERY,
        XNS_BODY_SCALAR,
        XNS_BODY_MEMORY,
        XNS_BODY_SNAPSHOT,
        XNS_BODY_EVENT,
        XNS_BODY_ACK,
        XNS_BODY_TAG,
        XNS_BODY_GATEWAY,
};

/* What xnsd asks its gateway (XNS_BODY_GATEWAY, seq 0). */
struct xns_gateway_event {
        uint32_t what, ticket;
        struct xns_name name;
        struct xns_sid sid;
        uint32_t max_conns;
        bool wait;
        uint32_t pid, uid;
};

struct xns_delivery {
        uint32_t handle, gen;           /* handle 0: no answer expected */
        uint32_t kind, id;
        uint32_t a[4];
        uint32_t len, offset, valid;
        uint32_t sender_pid, sender_uid;
        uint32_t buf;                   /* xnsd's number of the memory (with a memfd: keep it); 0: none */
        uint32_t forget;                /* a kept buffer to let go; 0: none */
};

/* A Scalar handed over behind a delivery (xns_reply.more). */
struct xns_scalar {
        uint32_t id;
        uint32_t a[4];
        uint32_t sender_pid;
        uint32_t sender_uid;            /* as xnsd knows it (for the gateway's proxies) */
};

/* About a link's ring: room again, or the error of a Scalar sent on cid. */
struct xns_ack {
        uint32_t error, cid;
};

/*
 * The ring of posted Scalars a link shares with xnsd (XNS_OP_RING): the
 * client produces at head, xnsd consumes at tail; both count up forever and
 * wrap. Each index sits on a cache line of its own. The memfd is sealed
 * against resizing, so neither side can make the other's mapping fault;
 * xnsd trusts nothing it reads here beyond one slot's copy.
 */
#define XNS_RING_SLOTS 256

struct xns_ring_slot {
        uint32_t cid, id;
        uint32_t a[4];
};

struct xns_ring {
        uint32_t head;                  /* client: slots published */
        uint32_t pad0[15];
        uint32_t tail;                  /* xnsd: slots taken */
        uint32_t pad1[15];
        uint32_t kick;                  /* xnsd: 1 = not looking, send XNS_OP_KICK */
        uint32_t want_room;             /* client: 1 = waiting for an Ack */
        uint32_t stalled;               /* xnsd: 1 = the Scalar at tail waits for room */
        uint32_t pad2[13];
        struct xns_ring_slot slot[XNS_RING_SLOTS];
};

#define XNS_RING_SIZE 8192              /* bytes of the memfd: whole pages */
_Static_assert(sizeof(struct xns_ring) <= XNS_RING_SIZE, "ring fits its memfd");

/* The producer's side of a ring (libxousclient's links, xnsgw's sessions);
 * head is the producer's own count of the slots it published. */
bool xns_ring_full(const struct xns_ring *r, uint32_t head);
bool xns_ring_pending(const struct xns_ring *r, uint32_t head);  /* published, not yet taken */
bool xns_ring_ask_room(struct xns_ring *r, uint32_t head);     /* true: still full, an Ack will come */
void xns_ring_publish(struct xns_ring *r, uint32_t *head, uint32_t cid, uint32_t id, const uint32_t a[4]);
bool xns_ring_take_kick(struct xns_ring *r);                    /* true: send XNS_OP_KICK now */

/* One routed message, for a monitor link. */
struct xns_event {
        uint64_t time_us;
        uint32_t pid;
        struct xns_name server;         /* len 0: a server without a name */
        struct xns_sid sid;
        uint32_t kind, id;
        uint32_t a[4];
        uint32_t len, error;
        uint32_t count;                 /* reply words, 0..5 */
        uint32_t v[5];
        uint32_t latency_us, dropped;
        char host[XNS_HOST_MAX + 1];    /* "": the caller is of this host */
};

struct xns_reply {
        uint32_t seq;
        uint32_t error;                 /* xous_error_t */
        enum xns_body body;
        union {
                uint8_t token[XNS_TOKEN_LEN];
                struct xns_sid sid;
                uint32_t cid;
                uint32_t done;
                struct xns_delivery delivery;
                struct {
                        uint32_t count;
                        uint32_t v[5];
                } scalar;
                struct {
                        uint32_t offset, valid;
                } memory;
                uint32_t snapshot;      /* length of the snapshot in the memfd beside the frame */
                struct xns_event event;
                struct xns_ack ack;
                uint32_t tag;           /* GatewayAttach: w0 of this xnsd's SIDs */
                struct xns_gateway_event gateway;
        };
        uint32_t n_more;                /* DELIVERY, or a continuation: Scalars queued behind it */
        struct xns_scalar more[XNS_DELIVERY_MORE_MAX];
        bool continued;                 /* another frame of this delivery follows */
};

/* Encoding: returns the frame length, or -EMSGSIZE / -EINVAL. */
ssize_t xns_request_encode(const struct xns_request *req, void *buf, size_t size);
ssize_t xns_reply_encode(const struct xns_reply *reply, void *buf, size_t size);

/* Decoding of untrusted bytes: 0, or -EBADMSG for anything malformed. */
int xns_request_decode(struct xns_request *req, const void *buf, size_t len);
int xns_reply_decode(struct xns_reply *reply, const void *buf, size_t len);
/* The same through protobuf-c alone, which the two above use for all but
 * the frames of a call in protobuf-c's own shape (for fuzz-wire). */
int xns_request_decode_generic(struct xns_request *req, const void *buf, size_t len);
int xns_reply_decode_generic(struct xns_reply *reply, const void *buf, size_t len);

/* Frame I/O on a SOCK_SEQPACKET socket. send: 0 or negative errno (-EAGAIN
 * when non-blocking and full). recv: frame length, 0 at EOF, or negative
 * errno; -EPROTO for a frame with more than one descriptor or a truncated
 * control message, -EMSGSIZE for an oversized frame. *fd receives the
 * descriptor that came with the frame, or -1. */
int xns_frame_send(int sock, const void *buf, size_t len, int fd, bool nonblock);
ssize_t xns_frame_recv(int sock, void *buf, size_t size, int *fd, bool nonblock);

/* Xous's name of an error number ("SERVER_NOT_FOUND"), NULL when unknown. */
const char *xns_error_name(uint32_t error);
/*
 * The daemon's results are 0 or a negative errno; a client hears the Xous
 * error this maps one to, at the wire and nowhere else:
 *   -ENOENT SERVER_NOT_FOUND   -EEXIST SERVER_EXISTS    -EACCES ACCESS_DENIED
 *   -ENOMEM, -ENOSPC, -EDQUOT OUT_OF_MEMORY            -EAGAIN SERVER_QUEUE_FULL
 *   -EINVAL INVALID_ARGUMENT   -EDOM BAD_ALIGNMENT      -EFAULT BAD_ADDRESS
 *   -EPERM SHARE_VIOLATION (a descriptor opened for the wrong use)
 *   -EBUSY MEMORY_IN_USE       -EALREADY DOUBLE_FREE    -EILSEQ INVALID_STRING
 *   -ESHUTDOWN UNAVAILABLE     anything else INTERNAL_ERROR
 */
uint32_t xns_error_from_errno(int r);

/* Valid server name: 1..XNS_NAME_MAX bytes of UTF-8, no NUL. */
bool xns_name_valid(const char *s, size_t len);
/* Valid host name of a cluster: 1..XNS_HOST_MAX of [A-Za-z0-9_-]. */
bool xns_host_valid(const char *s, size_t len);

/* True for a kind that blocks its caller until answered. */
static inline bool xns_kind_blocks(uint32_t kind) {
        return kind == XNS_KIND_MUTABLE_BORROW || kind == XNS_KIND_BORROW ||
               kind == XNS_KIND_BLOCKING_SCALAR;
}

static inline bool xns_kind_is_memory(uint32_t kind) {
        return kind <= XNS_KIND_MOVE;
}

static inline bool xns_sid_equal(const struct xns_sid *a, const struct xns_sid *b) {
        return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}
