/* xous-internal.h: what the libxousclient sources share and never export. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "list.h"
#include "macro.h"
#include "wire.h"
#include "xous/xous.h"

#define _public_ __attribute__((visibility("default")))

/*
 * Internal results: 0 for success, a negative errno for a local failure, or
 * a positive xous_error_t that the daemon (or a local check standing in for
 * it) answered. xous_error_from_result() turns one into the public code.
 */
xous_error_t xous_error_from_result(int r);

/* One socket to xnsd; used by one thread at a time (link.c). */
struct link {
        int fd;
        uint32_t seq;                   /* last seq used; never 0 on the wire */
        struct xns_ring *ring;          /* posted Scalars, shared with xnsd; NULL until the first */
        uint32_t ring_head;             /* our copy of ring->head */
        struct xns_chan *chan;          /* frames both ways once set up (chan.h); NULL: the socket */
        struct xns_chan_end req, rep;   /* its request ring (ours to fill), reply ring (ours to take) */
        int bell_daemon;                /* an eventfd: rings xnsd */
        int bell_own;                   /* a pipe's read end: xnsd rings us */
        uint64_t generation;            /* session it belongs to */
        bool ready;                     /* HELLO answered; set under the session lock */
        bool broken;                    /* I/O failed or the daemon misbehaved */
        bool spin;                      /* this wait for an answer may spin first (link.c) */
        uint64_t answer_ns;             /* how long answers took lately (a moving average) */
        struct list registry_link;      /* in the session's list of every link */
        struct list pool_link;          /* in its pool, while idle */
        struct list given;              /* kept buffers lent to us on this link (kept.c) */
};
#define LINK_INIT { .fd = -1, .bell_daemon = -1, .bell_own = -1 }

int link_new(struct link **ret);
struct link *link_free(struct link *l);
int link_connect(struct link *l);
int link_hello(struct link *l, const uint8_t *token, uint8_t *token_out);
int link_chan_open(struct link *l);
int link_call(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd);
int link_call_timeout(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd,
                      uint32_t timeout_ms, int *release_fd);
int link_post(struct link *l, struct xns_request *req, int fd);
int link_post_scalar(struct link *l, struct xns_request *req);
bool link_posting(const struct link *l);
int link_ring_drain(struct link *l, uint64_t deadline);
int link_read_continued(struct link *l, uint32_t seq, struct xns_reply *reply);

/* A sorted set of CIDs (cid-set.c); the session guards its own. */
struct cid_set {
        uint32_t *v;
        size_t n, cap;
};
#define CID_SET_INIT { .v = NULL, .n = 0, .cap = 0 }

bool cid_set_contains(const struct cid_set *set, uint32_t cid);
int cid_set_add(struct cid_set *set, uint32_t cid);
void cid_set_remove(struct cid_set *set, uint32_t cid);
void cid_set_clear(struct cid_set *set);
void cid_set_deinit(struct cid_set *set);

/*
 * The process's session with xnsd (session.c): the calling thread's link,
 * the token, the set of granted CIDs, and their reset when the daemon goes
 * away or the process forks.
 */
int session_link(struct link **ret);
uint64_t session_generation(void);
int session_call(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd);
int session_call_timeout(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd,
                         uint32_t timeout_ms, int *release_fd);
int session_post(struct link *l, struct xns_request *req, int fd);
int session_post_scalar(struct link *l, struct xns_request *req);
int session_drain_posted(struct link *l, uint64_t deadline);
int session_link_aside(struct link **aside, struct link **own);
void session_link_aside_end(struct link *aside, struct link *own);
int session_read_continued(struct link *l, uint32_t seq, struct xns_reply *reply);
int session_call_detached(struct xns_request *req, struct xns_reply *reply, int *reply_fd, int *link_fd);
int xns_call(struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd);
int xns_post(struct xns_request *req, int fd);
int session_post_nowait(struct xns_request *req);

bool session_has_cid(uint32_t cid);
int session_check_post(uint32_t cid);
void session_note_post_error(uint64_t generation, uint32_t cid, int error);
int session_add_cid(uint64_t generation, uint32_t cid);
void session_remove_cid(uint32_t cid);

static inline struct xns_sid xous_sid_to_wire(xous_sid_t sid) {
        return (struct xns_sid){ .w = { sid.w[0], sid.w[1], sid.w[2], sid.w[3] } };
}

/* Buffers (buf.c). */
struct xous_buf {
        void *data;
        size_t len;
        int fd;                         /* read-write memfd: MutableBorrow, Move */
        int ro_fd;                      /* read-only reopening: Borrow */
        int busy_fd;                    /* a lend timed out: EOF here once the server gave it back */
        uint32_t kept_no[2];            /* xnsd keeps it for Borrows [0], MutableBorrows [1] (kept.c) */
        uint64_t kept_gen[2];           /* in this session generation */
};
#define XOUS_BUF_INIT { .fd = -1, .ro_fd = -1, .busy_fd = -1 }

bool buf_busy(xous_buf_t *buf);

/* Buffers kept by number (kept.c): lent by this process, and lent to it. */
struct given;
int kept_lend(struct xous_buf *buf, uint32_t kind, uint32_t *no);
void kept_forget(struct xous_buf *buf);
void kept_fork_prepare(void);
void kept_fork_done(void);
void given_take(struct link *l, const struct xns_delivery *d, int *fd, int prot);
int given_map(struct link *l, xous_envelope_t *env, const struct xns_delivery *d, int prot);
void given_unmap(xous_envelope_t *env);
void given_drop_link(struct link *l);
void given_fork_prepare(void);
void given_fork_done(void);

/* A received message (envelope.c, receive.c). */
struct xous_envelope {
        uint64_t generation;            /* session it was received in */
        uint32_t handle, gen;           /* handle 0: no answer expected */
        xous_msg_kind_t kind;
        uint32_t id;
        uint32_t args[4];
        uint32_t offset, valid;
        uint32_t sender_pid;
        void *data;                     /* memory kinds: our mapping */
        size_t len;
        int fd;                         /* memory kinds: the segment, for forward */
        struct given *given;            /* a kept buffer's mapping and fd (not ours to close) */
        bool answered;                  /* BlockingScalar: answer recorded */
        bool finished;                  /* forwarded: nothing left to send */
        uint32_t count;
        uint32_t v[5];
};

void envelope_unmap(xous_envelope_t *env);
bool envelope_build_return(const xous_envelope_t *env, struct xns_return *ret);
xous_envelope_t *envelope_free(xous_envelope_t *env);

/* Receives per server, and the Scalars handed over behind a delivery (held.c). */
int held_enter(uint64_t generation, const struct xns_sid *sid, bool nowait, bool wait, uint64_t deadline,
               struct xns_scalar *out, bool *batch);
int held_put(uint64_t generation, const struct xns_sid *sid, const struct xns_scalar *v, size_t n);
void held_leave(const struct xns_sid *sid, bool batch);
void held_drop(const struct xns_sid *sid);
void held_drop_all(void);
int held_watch(const struct xns_sid *sid, int *ready_fd, int *link_fd, int *fd);
void held_fork_prepare(void);
void held_fork_parent(void);
void held_fork_child(void);

/* Sending (send.c). */
int send_nonblocking(struct xns_request *req, int fd);
