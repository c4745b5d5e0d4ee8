/* conn.c: one link (a SEQPACKET socket) from a client thread, with its wait
 * state and its queue of frames to write. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include "channel.h"
#include "conn.h"
#include "lent.h"
#include "macro.h"
#include "peer.h"
#include "ring.h"

int conn_new(struct conn **out, struct bus *bus, const struct conn_lists *lists, int fd) {
        struct conn *conn;
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        conn = calloc(1, sizeof(*conn));
        if (!conn)
                return -ENOMEM;
        conn->bus = bus;
        conn->dirty = lists->dirty;
        conn->ring_ready = lists->ring_ready;
        conn->chan_ready = lists->chan_ready;
        conn->fd = fd;
        conn->bell_in = conn->bell_out = conn->bell_client = -1;
        conn->pid = cred.pid;
        conn->uid = cred.uid;
        conn->gid = cred.gid;
        conn->max_out = CONN_MAX_OUT;
        list_init(&conn->bus_link);
        list_init(&conn->peer_link);
        list_init(&conn->wait_link);
        list_init(&conn->receiver.link);
        list_init(&conn->dirty_link);
        list_init(&conn->monitor_link);
        list_init(&conn->ring_link);
        list_init(&conn->chan_link);
        *out = conn;
        return 0;
}

/* Frees a link that the bus has already let go of (see bus_conn_disconnect). */
struct conn *conn_free(struct conn *conn) {
        if (!conn)
                return NULL;
        for (size_t i = conn->out_pos; i < conn->n_out; i++)
                safe_close(conn->out[i].fd);
        free(conn->out);
        free(conn->watch);
        ring_detach(conn);
        channel_detach(conn);
        lent_table_free(conn->given);
        list_unlink(&conn->dirty_link);
        safe_close(conn->fd);
        free(conn);
        return NULL;
}

/* The daemon's user or root: may see others' traffic, or be the gateway. */
bool conn_privileged(const struct conn *conn) {
        return conn->uid == 0 || conn->uid == geteuid();
}

void conn_mark_dirty(struct conn *conn) {
        if (!conn->dead && !list_is_linked(&conn->dirty_link))
                list_link_tail(conn->dirty, &conn->dirty_link);
}

/* Not read while it cannot take replies, or while its ring of posted
 * Scalars waits for room (what it sends next must come after those). */
bool conn_reading_paused(const struct conn *conn) {
        return conn->dead || conn->write_blocked || conn->chan_full || conn->ring_stalled;
}

static struct out_frame *conn_out_slot(struct conn *conn) {
        if (conn->out_pos == conn->n_out)
                conn->out_pos = conn->n_out = 0;
        if (conn->n_out - conn->out_pos >= conn->max_out)
                return NULL;
        if (conn->n_out == conn->out_cap) {
                size_t cap = conn->out_cap ? conn->out_cap * 2 : 2;
                struct out_frame *out = realloc(conn->out, cap * sizeof(*out));

                if (!out)
                        return NULL;
                conn->out = out;
                conn->out_cap = cap;
        }
        return &conn->out[conn->n_out];
}

/*
 * conn_queue_reply() - queue a frame for this link; fd (owned) travels with it.
 *
 * Frames are written together when the loop flushes dirty links. A link whose
 * client stops reading overflows its queue and is cut at the next flush: the
 * daemon never waits on one client.
 */
int conn_queue_reply(struct conn *conn, const struct xns_reply *reply, int fd) {
        struct out_frame *f;
        ssize_t n;

        if (conn->dead || conn->hung_up) {
                safe_close(fd);
                return -EPIPE;
        }
        f = conn_out_slot(conn);
        if (!f) {
                safe_close(fd);
                conn->overflow = true;
                conn_mark_dirty(conn);
                return -ENOBUFS;
        }
        n = xns_reply_encode(reply, f->data, sizeof(f->data));
        if (n < 0) {
                safe_close(fd);
                return (int)n;
        }
        f->len = (uint16_t)n;
        f->by_chan = conn->chan_writing;
        f->fd = fd;
        conn->n_out++;
        conn_mark_dirty(conn);
        return 0;
}

/* Answers request seq with a result alone: 0, or a negative errno that the
 * wire turns into the Xous error the client hears. */
void conn_reply_result(struct conn *conn, uint32_t seq, int r) {
        struct xns_reply reply = { .seq = seq, .error = xns_error_from_errno(r) };

        conn_queue_reply(conn, &reply, -1);
}

/*
 * The link's wait state is written here and nowhere else: its request seq
 * parks until answered, waiting for m's answer or for room for m
 * (conn_park_message), to receive on server (conn_park_receiver), or on a
 * list of the bus for a name or a SID to appear (conn_park_on).
 */
void conn_park_message(struct conn *conn, enum conn_wait wait, uint32_t seq, struct message *m) {
        conn->wait = wait;
        conn->wait_seq = seq;
        conn->wait_msg = m;
}

void conn_park_receiver(struct conn *conn, uint32_t seq, struct server *server, bool batch) {
        conn->wait = CONN_WAIT_RECEIVE;
        conn->wait_seq = seq;
        conn->wait_server = server;
        conn->receiver.peer = conn->peer;
        conn->receiver.given = conn->peer->keeps_bufs ? &conn->given : NULL;
        conn->receiver.batch = batch;
}

void conn_park_on(struct conn *conn, enum conn_wait wait, uint32_t seq, struct list *waiters) {
        conn->wait = wait;
        conn->wait_seq = seq;
        list_link_tail(waiters, &conn->wait_link);
}

/* conn_unpark() - the link waits for nothing any more. */
void conn_unpark(struct conn *conn) {
        list_unlink(&conn->wait_link);
        list_unlink(&conn->receiver.link);
        conn->wait = CONN_IDLE;
        conn->wait_msg = NULL;
        conn->wait_server = NULL;
        conn->gw_ticket = 0;
}

/* Answers the request this link is parked on. */
void conn_wake(struct conn *conn, struct xns_reply *reply, int fd) {
        reply->seq = conn->wait_seq;
        conn_unpark(conn);
        conn_queue_reply(conn, reply, fd);
}

/* Answers the request this link is parked on with a result alone. */
void conn_wake_result(struct conn *conn, int r) {
        struct xns_reply reply = { .error = xns_error_from_errno(r) };

        conn_wake(conn, &reply, -1);
}

/* The client closed its end: what is queued for it is dropped, while what
 * it sent before closing is still read, up to EOF. */
static void conn_hang_up(struct conn *conn) {
        for (size_t i = conn->out_pos; i < conn->n_out; i++)
                conn->out[i].fd = safe_close(conn->out[i].fd);
        conn->out_pos = conn->n_out = 0;
        conn->hung_up = true;
}

/* One frame out, by the socket or the channel: 0, -EAGAIN when there is
 * no room (the socket is full: write_blocked; the channel: chan_full), or
 * another negative errno. */
static int conn_write_frame(struct conn *conn, struct out_frame *f) {
        int r;

        if (!f->by_chan) {
                r = xns_frame_send(conn->fd, f->data, f->len, f->fd, true);
                if (r == -EAGAIN)
                        conn->write_blocked = true;
                return r;
        }
        r = channel_put(conn, f->data, f->len, f->fd);
        if (r == -ENOSPC) {
                conn->chan_full = true;
                return -EAGAIN;
        }
        if (r == -EAGAIN)
                conn->write_blocked = true;
        return r;
}

/* Writes queued frames: 0 when all are out (or the client has closed),
 * -EAGAIN when the socket or the channel is full, another negative errno
 * when the link is broken. */
int conn_flush(struct conn *conn) {
        size_t first = conn->out_pos;
        int r = 0;

        conn->write_blocked = false;
        conn->chan_full = false;
        while (conn->out_pos < conn->n_out) {
                struct out_frame *f = &conn->out[conn->out_pos];

                r = conn_write_frame(conn, f);
                if (r == -EPIPE || r == -ECONNRESET) {
                        conn_hang_up(conn);
                        return 0;
                }
                if (r < 0)
                        break;
                f->fd = safe_close(f->fd);
                conn->out_pos++;
        }
        if (conn->out_pos != first && conn->chan)
                channel_ring_client(conn);
        return r;
}
