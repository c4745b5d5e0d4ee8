/* dispatch.c: what xnsd does on each wakeup, apart from the event library:
 * the frames of a readable link (its ring first), and at the end of the
 * wakeup the rings due a pass, the posted Scalars to hand out, the frames
 * to write, the links to cut and to free. */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "channel.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "macro.h"
#include "route.h"
#include "server.h"

/*
 * dispatch_may_read() - before each frame of a readable link: what its
 * ring holds was sent before that frame, so the ring goes first. False
 * when no frame may be read now: the link was cut, is paused (its ring
 * waits for room, or it does not take its replies), or its ring is due
 * another pass.
 */
bool dispatch_may_read(struct conn *conn) {
        return route_ring_turn(conn) == 0 && !conn_reading_paused(conn);
}

/*
 * dispatch_frame() - what was read from a link: n bytes of a frame (fd, owned,
 * came with it), or a negative errno. False when the link is not to be read
 * further in this wakeup: it was cut, or it now waits for an answer (it
 * sends nothing more until it has it).
 */
bool dispatch_frame(struct conn *conn, const void *buf, ssize_t n, int fd) {
        /* ECONNRESET: the peer closed with frames of ours unread. The error
         * comes before the frames it sent first, which are still there to
         * read and route; EOF follows them. */
        if (n <= 0)
                safe_close(fd);
        if (n == -ECONNRESET)
                return true;
        if (n <= 0) {
                if (n < 0)
                        log_info("pid %d: bad frame (%s), disconnecting link", (int)conn->pid,
                                 n == -EMSGSIZE ? "too large" :
                                 n == -EPROTO ? "bad descriptors" : strerror((int)-n));
                route_link_gone(conn);
                return false;
        }
        if (route_frame(conn, buf, (size_t)n, fd) < 0) {
                log_info("pid %d: protocol violation, disconnecting link", (int)conn->pid);
                route_link_gone(conn);
                return false;
        }
        return conn->wait == CONN_IDLE;
}

/* dispatch_readable() - a link's socket is readable: up to a wakeup's worth
 * of its frames. */
void dispatch_readable(struct conn *conn) {
        for (int i = 0; i < DISPATCH_FRAMES_PER_WAKEUP; i++) {
                uint8_t buf[XNS_FRAME_MAX];
                ssize_t n;
                int rfd;

                if (conn->chan_reading || !dispatch_may_read(conn))
                        break;
                n = xns_frame_recv(conn->fd, buf, sizeof(buf), &rfd, true);
                if (n == -EAGAIN || !dispatch_frame(conn, buf, n, rfd))
                        break;
        }
}

/*
 * dispatch_channel() - a link's channel rang, or is due a pass: up to a
 * wakeup's worth of its frames, or with to_end (its client hung up, and
 * what it sent before is read first) as many as its ring can hold, which
 * bounds the pass even for a client that goes on publishing. A ring may
 * also have been for room in its replies.
 */
void dispatch_channel(struct conn *conn, bool to_end) {
        int max = to_end ? DISPATCH_CHAN_FRAMES_MAX : DISPATCH_FRAMES_PER_WAKEUP;

        conn->chan_asleep = false;      /* it rang, which takes the flag */
        if (conn->chan_full)
                conn_mark_dirty(conn);
        for (int i = 0; i < max; i++) {
                uint8_t buf[XNS_FRAME_MAX];
                int fd, n;

                if (!dispatch_may_read(conn))
                        return;
                n = channel_take(conn, buf, &fd);
                if (n == 0)
                        return;
                if (n < 0) {
                        log_info("pid %d: broken channel, disconnecting link", (int)conn->pid);
                        route_link_gone(conn);
                        return;
                }
                dispatch_frame(conn, buf, n, fd);
                if (conn->dead)
                        return;
        }
        channel_ready(conn);
}

/* The channels due a pass: after a long one, or a pause. */
static void dispatch_channels_ready(struct bus *bus) {
        struct list due = LIST_INIT(due);

        while (!list_is_empty(&bus->chan_ready)) {
                struct conn *conn = list_first_entry(&bus->chan_ready, struct conn, chan_link);

                list_unlink(&conn->chan_link);
                list_link_tail(&due, &conn->chan_link);
        }
        while (!list_is_empty(&due)) {
                struct conn *conn = list_first_entry(&due, struct conn, chan_link);

                list_unlink(&conn->chan_link);
                dispatch_channel(conn, false);
        }
}

/*
 * dispatch_flush() - the end of a wakeup, after every ready link was read:
 * another pass over the rings that wait for one, the posted Scalars queued
 * during the wakeup handed out, the dirty links' frames written together
 * (cutting those that overflowed or broke), then dead links freed.
 */
void dispatch_flush(struct bus *bus, const struct dispatch_io *io) {
        dispatch_channels_ready(bus);
        route_rings_ready(bus);
        server_pump_later(&bus->pumps);
        while (!list_is_empty(&bus->dirty)) {
                struct conn *conn = list_first_entry(&bus->dirty, struct conn, dirty_link);
                int r;

                list_unlink(&conn->dirty_link);
                if (conn->overflow) {
                        log_info("pid %d: link does not read its replies, disconnecting it", (int)conn->pid);
                        route_link_gone(conn);
                        continue;
                }
                r = conn_flush(conn);
                if (r < 0 && r != -EAGAIN) {
                        route_link_gone(conn);
                        continue;
                }
                if (!conn_reading_paused(conn) && channel_due(conn))
                        channel_ready(conn);
                if (io->update)
                        io->update(conn, io->ctx);
        }
        while (!list_is_empty(&bus->dead)) {
                struct conn *conn = list_first_entry(&bus->dead, struct conn, dirty_link);

                list_unlink(&conn->dirty_link);
                if (io->release)
                        io->release(conn, io->ctx);
                conn_free(conn);
        }
}

/* dispatch_work_left() - work the flush left for the next wakeup: rings due
 * another pass, and Scalars queued for a waiting receiver when a link was
 * cut while writing. The loop must not sleep then. */
bool dispatch_work_left(const struct bus *bus) {
        return !list_is_empty(&bus->ring_ready) || !list_is_empty(&bus->chan_ready) ||
               !list_is_empty(&bus->pumps);
}
