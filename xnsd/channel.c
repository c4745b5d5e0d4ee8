/* channel.c: a link's frames both ways in shared memory (proto/chan.h):
 * mapped when the client hands it over, read by dispatch.c in place of the
 * socket, written by conn_flush(). The client can write anything there at
 * any time: chan.c checks every index and copies every record. */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "macro.h"
#include "memfd.h"
#include "ring.h"

/*
 * channel_attach() - XNS_OP_CHANNEL: a sealed, read-write memfd of exactly
 * XNS_CHAN_SIZE bytes, mapped here, and the two bells made; *bell is the
 * one for the client to ring us by. -EBUSY when the link has one already.
 */
int channel_attach(struct conn *conn, int memfd, int *bell) {
        int pipe_fds[2];
        void *p;
        int r;

        if (conn->chan)
                return -EBUSY;
        r = memfd_check(memfd, F_SEAL_SHRINK | F_SEAL_GROW, XNS_CHAN_SIZE, XNS_CHAN_SIZE, O_RDWR);
        if (r < 0)
                return ring_memfd_result(r);
        conn->bell_in = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (conn->bell_in < 0)
                return -errno;
        if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
                r = -errno;
                conn->bell_in = safe_close(conn->bell_in);
                return r;
        }
        conn->bell_client = pipe_fds[0];
        conn->bell_out = pipe_fds[1];
        *bell = fcntl(conn->bell_in, F_DUPFD_CLOEXEC, 3);
        p = mmap(NULL, XNS_CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (*bell < 0 || p == MAP_FAILED) {
                *bell = safe_close(*bell);
                channel_detach(conn);
                return -ENOMEM;
        }
        conn->chan = p;
        xns_chan_end_init(&conn->chan_in, conn->chan, true);
        xns_chan_end_init(&conn->chan_out, conn->chan, false);
        return 0;
}

/*
 * channel_start() - XNS_OP_CHANNEL_BELL: *bell is the client's bell, to go
 * with the answer, which is the last frame by the socket: what is queued
 * after it goes by the channel, and the link's next frame comes by it.
 */
int channel_start(struct conn *conn, int *bell) {
        if (!conn->chan || conn->bell_client < 0)
                return -EINVAL;
        *bell = TAKE_FD(conn->bell_client);
        conn->chan_reading = true;
        conn->chan_asleep = xns_chan_sleep(&conn->chan_in);    /* rang for its first frame */
        if (!conn->chan_asleep)
                channel_ready(conn);
        return 0;
}

void channel_detach(struct conn *conn) {
        if (conn->chan)
                munmap(conn->chan, XNS_CHAN_SIZE);
        conn->chan = NULL;
        conn->chan_reading = conn->chan_writing = false;
        conn->bell_in = safe_close(conn->bell_in);
        conn->bell_out = safe_close(conn->bell_out);
        conn->bell_client = safe_close(conn->bell_client);
        list_unlink(&conn->chan_link);
}

/* Rings the client: a full pipe has rings enough, a closed one a client
 * gone (its socket says so too). */
static void channel_ring(struct conn *conn) {
        static const uint8_t byte = 1;

        (void)!write(conn->bell_out, &byte, 1);
}

/*
 * channel_take() - the link's next frame: its length (and *fd, the
 * descriptor its client sent ahead of it on the socket, or -1), 0 when
 * there is none (the client will ring), or -EPROTO for a record or a
 * descriptor its client could not have written honestly.
 */
int channel_take(struct conn *conn, void *buf, int *fd) {
        uint32_t flags;
        int n;

        *fd = -1;
        for (;;) {
                n = xns_chan_take(&conn->chan_in, buf, &flags);
                if (n != 0)
                        break;
                if (xns_chan_sleep(&conn->chan_in)) {
                        conn->chan_asleep = true;
                        break;
                }
        }
        if (n <= 0)
                return n;
        if (xns_chan_room_due(&conn->chan_in))
                channel_ring(conn);
        if ((flags & XNS_CHAN_FD) && xns_chan_fd_recv(conn->fd, fd) < 0)
                return -EPROTO;
        return n;
}

/* channel_due() - a pass is due when the link may be read again: records
 * are waiting, or the last pass ended without telling the client we sleep
 * (it was paused, or long), so its next frame would not ring. */
bool channel_due(struct conn *conn) {
        return conn->chan_reading && (!conn->chan_asleep || xns_chan_pending(&conn->chan_in));
}

/* channel_ready() - another pass at the end of this wakeup, without a ring. */
void channel_ready(struct conn *conn) {
        if (!list_is_linked(&conn->chan_link))
                list_link_tail(conn->chan_ready, &conn->chan_link);
}

/*
 * channel_put() - one frame into the reply ring, its descriptor (not
 * taken) first on the socket: 0, -ENOSPC when the ring has no room (the
 * client rings when it takes), -EAGAIN when the socket is full, or the
 * socket's error.
 */
int channel_put(struct conn *conn, const void *frame, uint16_t len, int fd) {
        int r;

        if (!xns_chan_fits(&conn->chan_out, len) && xns_chan_ask_room(&conn->chan_out, len))
                return -ENOSPC;
        if (fd >= 0) {
                r = xns_chan_fd_send(conn->fd, fd, true);
                if (r < 0)
                        return r;
        }
        /* It fitted: only a client that moved its tail back makes it not. */
        return xns_chan_put(&conn->chan_out, frame, len, fd >= 0 ? XNS_CHAN_FD : 0) ? 0 : -EPROTO;
}

/* channel_ring_client() - after publishing: rings the client if it sleeps. */
void channel_ring_client(struct conn *conn) {
        if (xns_chan_ring_due(&conn->chan_out))
                channel_ring(conn);
}
