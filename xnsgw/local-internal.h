/* local-internal.h: what the files of the gateway's xnsd side share: the
 * non-blocking link to xnsd (local-link.c), the struct local, and the
 * sessions standing in for remote processes (local-call.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "list.h"
#include "local.h"
#include "wire.h"

struct event;

/*
 * A reply to a request of ours (r 0, reply set; fd: the descriptor that came
 * with it, or -1, which the callback may take by setting *fd to -1), or the
 * link broke before it came (r negative errno, reply NULL). A reply with
 * continued set is followed by the frames that continue it, each to the
 * same callback.
 */
typedef void (*llink_reply_fn)(void *userdata, int r, const struct xns_reply *reply, int *fd);

/* One SEQPACKET link to xnsd, non-blocking on the loop. */
struct llink {
        struct local *local;
        int fd;
        struct event *ev_read, *ev_write;
        uint32_t seq;
        bool dead;                      /* its socket closed */
        bool want_chan;                 /* the owner's choice: a channel after Hello */
        uint32_t chan_seq;              /* not 0: the setup request in flight (frames wait in out) */
        int chan_fd;                    /* during setup: the memfd */
        struct xns_chan *chan;          /* frames both ways once set up (proto/chan.h), or NULL */
        struct xns_chan_end req, rep;
        int bell_daemon, bell_own;      /* xnsd's eventfd, the pipe it rings us by */
        struct event *ev_bell;
        struct list out;                /* struct llink_frame: not yet sent */
        struct list waiting;            /* struct llink_wait: requests, oldest first */
        struct list dead_link;          /* in local->dead once its owner closed it */
        /* Frames with seq 0 (gateway events on the main link): 0, or negative
         * errno to break the link; NULL: none are expected. */
        int (*unsolicited)(void *userdata, const struct xns_reply *reply);
        /* The link broke (after every waiting request heard r). */
        void (*broken)(void *userdata, int r);
        void *userdata;
};

int llink_open(struct local *l, struct llink **out);
int llink_request(struct llink *k, struct xns_request *req, int fd, llink_reply_fn fn, void *userdata);
int llink_post(struct llink *k, struct xns_request *req, int fd);
void llink_close(struct llink *k);
struct llink *llink_free(struct llink *k);
bool llink_idle(const struct llink *k);

struct local {
        struct event_base *base;
        struct local_hooks hooks;
        char socket_path[108];
        char host[XNS_HOST_MAX + 1];
        uint32_t tag;
        uint8_t token[XNS_TOKEN_LEN];   /* the gateway's own session */
        struct llink *main;
        struct list proxies;            /* struct proxy */
        struct list sessions;           /* struct session (local-call.c) */
        struct list dead;               /* struct llink closed, to free */
        struct event *reaper;
        bool gone;                      /* the main link ended */
};

/* local-proxy.c */
void local_proxies_free(struct local *l);

/* local-call.c */
void local_sessions_free(struct local *l);

/* local.c */
/* done(userdata, error, sid) from the loop, soon: never inside the call
 * that asked for it. */
void local_defer_done(struct local *l, local_done_fn done, void *userdata, uint32_t error, const struct xns_sid *sid);
/* Return (seq 0) on the gateway's main link, unless it is gone. */
void local_post_return(struct local *l, const struct xns_return *ret);
