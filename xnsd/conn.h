/* conn.h: one link (a SEQPACKET socket) from a client thread, with its wait
 * state and its queue of frames to write. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "list.h"
#include "server.h"
#include "wire.h"

struct bus;
struct message;
struct peer;
struct server;
struct user;

enum conn_wait {
        CONN_IDLE,
        CONN_WAIT_REPLY,        /* blocked on wait_msg's answer */
        CONN_WAIT_RECEIVE,      /* parked in wait_server->receivers (as receiver) */
        CONN_WAIT_NAME,         /* parked in bus->name_waiters for wait_name */
        CONN_WAIT_SERVER,       /* parked in bus->sid_waiters for wait_sid */
        CONN_STALLED,           /* non-blocking wait_msg waits for room */
        CONN_WAIT_GATEWAY,      /* parked in the gateway's waiters for gw_ticket's answer */
};

struct out_frame {
        uint16_t len;
        bool by_chan;                   /* into the channel, not the socket */
        int fd;
        uint8_t data[XNS_FRAME_MAX];
};

struct conn {
        struct bus *bus;
        struct list bus_link;
        struct peer *peer;              /* NULL until Hello */
        struct list peer_link;
        int fd;
        pid_t pid;                      /* SO_PEERCRED at accept */
        uid_t uid;
        gid_t gid;

        enum conn_wait wait;
        uint32_t wait_seq;
        struct message *wait_msg;
        struct server *wait_server;     /* CONN_WAIT_RECEIVE: where it waits, as receiver */
        struct server_receiver receiver;
        struct lent_table *given;       /* kept buffers it was given, by xnsd's numbers (lent.c) */
        struct list wait_link;          /* CONN_WAIT_NAME, CONN_WAIT_SERVER */
        struct xns_name wait_name;
        struct xns_sid wait_sid;
        uint32_t gw_ticket;             /* not 0: the gateway looks too (gateway.c) */
        uint32_t gw_what;               /* CONN_WAIT_GATEWAY: XNS_GATEWAY_* asked */

        struct out_frame *out;          /* frames not yet written, oldest first */
        size_t n_out, out_pos, out_cap;
        size_t max_out;                 /* unwritten frames before the link is cut */
        bool write_blocked;             /* the socket was full at the last flush */
        bool overflow;                  /* more frames than CONN_MAX_OUT: cut it */
        bool dead;
        bool hung_up;                   /* the client closed: frames to it go nowhere */
        bool over_quota;                /* opened past its user's link limit */
        struct user *user;              /* its uid's accounting */
        bool monitor;                   /* gets a MonitorEvent per routed message */
        struct list monitor_link;       /* in bus->monitors */
        uint32_t n_watch;               /* monitor: names to watch, 0 = all */
        struct xns_name *watch;
        uint32_t dropped;               /* monitor: events lost since the last one sent */
        bool payloads;                  /* monitor: memory messages' memfds beside their events */
        struct xns_ring *ring;          /* posted Scalars (ring.c), or NULL */
        uint32_t ring_tail;             /* ours; the shared copy is only written */
        struct message *ring_stalled;   /* the ring waits until it has room */
        struct list ring_link;          /* in *ring_ready */
        struct list *ring_ready;        /* where rings due a pass without a Kick gather */
        int ring_error;                 /* the last failure (negative errno), for the next Ack */
        uint32_t ring_error_cid;
        bool ring_broken;               /* its client wrote an impossible head */
        struct xns_chan *chan;          /* frames both ways (channel.c), or NULL */
        struct xns_chan_end chan_in;    /* its request ring: we take */
        struct xns_chan_end chan_out;   /* its reply ring: we fill */
        int bell_in;                    /* an eventfd the client rings us by (never read) */
        int bell_out;                   /* pipe write end: we ring the client */
        int bell_client;                /* the read end of bell_out, until handed over */
        bool chan_reading;              /* its requests come by the channel */
        bool chan_writing;              /* frames queued from now on go by the channel */
        bool chan_full;                 /* a frame waits for room in the channel */
        bool chan_asleep;               /* its client will ring for its next frame (we said we sleep) */
        struct list chan_link;          /* in *chan_ready */
        struct list *chan_ready;        /* where channels due a pass without a ring gather */
        struct list *dirty;             /* where links with work for the loop gather */
        struct list dirty_link;
        void *io;                       /* the event loop's watchers */
};

#define CONN_MAX_OUT 64                 /* unwritten frames before a client's link is cut */
#define CONN_MAX_OUT_GATEWAY 65536      /* ... and the gateway's, which hears of every claim and lookup */

static inline size_t conn_out_pending(const struct conn *conn) {
        return conn->n_out - conn->out_pos;
}

struct conn_lists {
        struct list *dirty, *ring_ready, *chan_ready;
};

int conn_new(struct conn **out, struct bus *bus, const struct conn_lists *lists, int fd);
struct conn *conn_free(struct conn *conn);

bool conn_privileged(const struct conn *conn);
void conn_mark_dirty(struct conn *conn);
bool conn_reading_paused(const struct conn *conn);
int conn_queue_reply(struct conn *conn, const struct xns_reply *reply, int fd);
void conn_reply_result(struct conn *conn, uint32_t seq, int r);
void conn_park_message(struct conn *conn, enum conn_wait wait, uint32_t seq, struct message *m);
void conn_park_receiver(struct conn *conn, uint32_t seq, struct server *server, bool batch);
void conn_park_on(struct conn *conn, enum conn_wait wait, uint32_t seq, struct list *waiters);
void conn_unpark(struct conn *conn);
void conn_wake(struct conn *conn, struct xns_reply *reply, int fd);
void conn_wake_result(struct conn *conn, int r);

int conn_flush(struct conn *conn);
