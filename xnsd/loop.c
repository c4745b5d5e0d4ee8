/* loop.c: the daemon's event loop (libevent): accepts links, watches them,
 * and hands each wakeup to dispatch.c: the frames of readable links, then
 * one flush of what they queued. Callbacks only hand off. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>


#include "bus.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "macro.h"
#include "route.h"
#include "service.h"

#define LOOP_ACCEPTS_PER_WAKEUP 64

struct conn_io {
        struct loop *loop;
        struct event *read;             /* while reading */
        struct event *closed;           /* while paused: notices the client hanging up */
        struct event *write;            /* while the socket is full */
        struct event *bell;             /* its channel's bell, once frames come by it */
        bool paused;
};

static void conn_io_free(struct conn *conn) {
        struct conn_io *io = conn->io;

        if (!io)
                return;
        if (io->read)
                event_free(io->read);
        if (io->closed)
                event_free(io->closed);
        if (io->write)
                event_free(io->write);
        if (io->bell)
                event_free(io->bell);
        free(io);
        conn->io = NULL;
}

static void on_conn_write(evutil_socket_t fd, short what, void *data);

static void on_conn_bell(evutil_socket_t fd, short what, void *data) {
        dispatch_channel(data, false);
}

/* A channel's socket, edge-triggered: a descriptor came for a record, or
 * the client hung up, which libevent reports as a read (EV_CLOSED is not
 * reported for a full hang-up): what it published before is read first. */
static void on_conn_socket(evutil_socket_t fd, short what, void *data) {
        struct pollfd p = { .fd = fd, .events = POLLRDHUP };

        if (poll(&p, 1, 0) > 0 && p.revents) {
                dispatch_channel(data, true);
                route_link_gone(data);
                return;
        }
        dispatch_channel(data, false);
}

/* Frames come by the link's channel now: its bell is watched and of its
 * socket the descriptors and the hang-up, both edge-triggered (each ring,
 * each datagram is an event; the eventfd is never read, and a datagram is
 * taken with its record). */
static int conn_io_to_channel(struct conn *conn) {
        struct conn_io *io = conn->io;
        struct event_base *base = io->loop->base;

        event_free(io->read);
        event_free(io->closed);
        event_free(io->write);
        io->closed = NULL;
        io->read = event_new(base, conn->fd, EV_READ | EV_PERSIST | EV_ET, on_conn_socket, conn);
        io->write = event_new(base, conn->fd, EV_WRITE | EV_ET, on_conn_write, conn);
        io->bell = event_new(base, conn->bell_in, EV_READ | EV_PERSIST | EV_ET, on_conn_bell, conn);
        if (!io->read || !io->write || !io->bell || event_add(io->read, NULL) < 0 || event_add(io->bell, NULL) < 0)
                return -ENOMEM;
        return 0;
}

/* Matches the link's watchers to its state: read it, or only watch for a
 * hang-up while it is paused; wait for room when its socket is full. A
 * link with a channel has its bell watched instead, always. */
static void conn_io_update(struct conn *conn) {
        struct conn_io *io = conn->io;
        bool paused = conn_reading_paused(conn);

        if (conn->chan_reading && !io->bell && conn_io_to_channel(conn) < 0) {
                log_error("pid %d: cannot watch a link's channel, disconnecting it", (int)conn->pid);
                route_link_gone(conn);
                return;
        }
        if (!conn->chan_reading && paused != io->paused) {
                event_del(paused ? io->read : io->closed);
                event_add(paused ? io->closed : io->read, NULL);
                io->paused = paused;
        }
        if (conn->write_blocked)
                event_add(io->write, NULL);
}

static void conn_io_updated(struct conn *conn, void *ctx) {
        conn_io_update(conn);
}

static void conn_io_released(struct conn *conn, void *ctx) {
        conn_io_free(conn);
}

static const struct dispatch_io loop_io = { .update = conn_io_updated, .release = conn_io_released };

/* Writes every dirty link's frames, then frees links that died. Runs once
 * per wakeup, after every ready link was read: replies go out together. */
static void loop_flush(struct loop *loop) {
        dispatch_flush(loop->bus, &loop_io);
}

static void on_conn_read(evutil_socket_t fd, short what, void *data) {
        dispatch_readable(data);
}

/* A paused link's client hung up: what it still had queued cannot be read
 * before its turn, so the link goes now. */
static void on_conn_closed(evutil_socket_t fd, short what, void *data) {
        route_link_gone(data);
}

static void on_conn_write(evutil_socket_t fd, short what, void *data) {
        conn_mark_dirty(data);
}

static int conn_io_new(struct loop *loop, struct conn *conn) {
        struct conn_io *io = calloc(1, sizeof(*io));

        if (!io)
                return -ENOMEM;
        conn->io = io;
        io->loop = loop;
        io->read = event_new(loop->base, conn->fd, EV_READ | EV_PERSIST, on_conn_read, conn);
        io->closed = event_new(loop->base, conn->fd, EV_CLOSED | EV_PERSIST, on_conn_closed, conn);
        io->write = event_new(loop->base, conn->fd, EV_WRITE, on_conn_write, conn);
        if (!io->read || !io->closed || !io->write)
                return -ENOMEM;
        if (event_add(io->read, NULL) < 0)
                return -ENOMEM;
        return 0;
}

static void loop_accept_one(struct loop *loop, int fd) {
        const struct conn_lists lists = {
                .dirty = &loop->bus->dirty, .ring_ready = &loop->bus->ring_ready, .chan_ready = &loop->bus->chan_ready,
        };
        struct conn *conn;
        int r;

        r = conn_new(&conn, loop->bus, &lists, fd);
        if (r < 0) {
                log_error("cannot take a new link: %s", strerror(-r));
                safe_close(fd);
                return;
        }
        r = conn_io_new(loop, conn);
        if (r < 0) {
                log_error("cannot watch a new link: %s", strerror(-r));
                conn_io_free(conn);
                conn_free(conn);
                return;
        }
        r = bus_conn_add(loop->bus, conn);
        if (r < 0) {
                if (r != -EDQUOT)
                        log_error("cannot take a new link: %s", strerror(-r));
                conn_io_free(conn);
                conn_free(conn);
        }
}

static void on_accept(evutil_socket_t lfd, short what, void *data) {
        struct loop *loop = data;

        for (int i = 0; i < LOOP_ACCEPTS_PER_WAKEUP; i++) {
                int fd = accept4(loop->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd >= 0) {
                        loop_accept_one(loop, fd);
                        continue;
                }
                if (errno == EAGAIN || errno == EINTR)
                        return;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        /* Out of descriptors: stop accepting for a moment
                         * instead of spinning on a listen socket that stays
                         * readable; everyone connected keeps being served. */
                        struct timeval retry = { .tv_sec = 1 };

                        log_error("cannot accept a link: %s; pausing accept for 1 s", strerror(errno));
                        event_del(loop->ev_listen);
                        event_add(loop->ev_accept_retry, &retry);
                        return;
                }
        }
}

static void on_accept_retry(evutil_socket_t fd, short what, void *data) {
        struct loop *loop = data;

        event_add(loop->ev_listen, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *data) {
        struct loop *loop = data;

        log_info("%s received, exiting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        service_stopping(loop->svc);
        loop->stop = true;
        event_base_loopbreak(loop->base);
}

static void on_status(evutil_socket_t fd, short what, void *data) {
        service_refresh(data);
}

static void on_watchdog(evutil_socket_t fd, short what, void *data) {
        service_watchdog(data);
}

/* The timers systemd wants: none without systemd, so the loop sleeps. */
static int loop_service_timers(struct loop *loop) {
        struct service *svc = loop->svc;
        struct timeval status = { .tv_sec = SERVICE_STATUS_INTERVAL_S };
        struct timeval half = { .tv_sec = (time_t)(svc->watchdog_usec / 2 / 1000000),
                                .tv_usec = (suseconds_t)(svc->watchdog_usec / 2 % 1000000) };

        if (!svc->notify)
                return 0;
        loop->ev_status = event_new(loop->base, -1, EV_PERSIST, on_status, svc);
        if (!loop->ev_status || event_add(loop->ev_status, &status) < 0)
                return -ENOMEM;
        if (svc->watchdog_usec == 0)
                return 0;
        loop->ev_watchdog = event_new(loop->base, -1, EV_PERSIST, on_watchdog, svc);
        if (!loop->ev_watchdog || event_add(loop->ev_watchdog, &half) < 0)
                return -ENOMEM;
        return 0;
}

int loop_init(struct loop *loop, struct bus *bus, int listen_fd, struct service *svc) {
        *loop = (struct loop){ .bus = bus, .listen_fd = listen_fd, .svc = svc };
        loop->base = event_base_new();
        if (!loop->base)
                return -ENOMEM;
        if (!(event_base_get_features(loop->base) & EV_FEATURE_ET))
                return -ENOTSUP;        /* channels' doorbells are edge-triggered (EVENT_NOEPOLL set?) */
        loop->ev_listen = event_new(loop->base, listen_fd, EV_READ | EV_PERSIST, on_accept, loop);
        loop->ev_accept_retry = evtimer_new(loop->base, on_accept_retry, loop);
        loop->ev_sigterm = evsignal_new(loop->base, SIGTERM, on_signal, loop);
        loop->ev_sigint = evsignal_new(loop->base, SIGINT, on_signal, loop);
        if (!loop->ev_listen || !loop->ev_accept_retry || !loop->ev_sigterm || !loop->ev_sigint)
                return -ENOMEM;
        if (event_add(loop->ev_listen, NULL) < 0 || event_add(loop->ev_sigterm, NULL) < 0 ||
            event_add(loop->ev_sigint, NULL) < 0)
                return -ENOMEM;
        return loop_service_timers(loop);
}

/* One wakeup: run every ready callback, then flush. Blocks (no CPU) while
 * nothing is ready and no work is left over: there are no timers. */
int loop_run(struct loop *loop) {
        while (!loop->stop) {
                int flags = EVLOOP_ONCE | (dispatch_work_left(loop->bus) ? EVLOOP_NONBLOCK : 0);

                if (event_base_loop(loop->base, flags) < 0)
                        return -EIO;
                loop_flush(loop);
        }
        return 0;
}

/* The daemon is stopping: accept no one new, and answer every parked request
 * (blocked callers, waiting receivers, name waiters) with UNAVAILABLE so that
 * no client waits for an answer that will never come. */
void loop_shutdown(struct loop *loop) {
        struct bus *bus = loop->bus;
        struct conn *conn;

        event_del(loop->ev_listen);
        event_del(loop->ev_accept_retry);
        list_for_each_entry(conn, &bus->conns, bus_link)
                if (conn->wait != CONN_IDLE)
                        conn_reply_result(conn, conn->wait_seq, -ESHUTDOWN);
        loop_flush(loop);
}

/* Disconnects every link (so every process is released) and frees the loop. */
void loop_deinit(struct loop *loop) {
        struct bus *bus = loop->bus;
        struct event **events[] = { &loop->ev_listen, &loop->ev_accept_retry,
                                    &loop->ev_sigterm, &loop->ev_sigint,
                                    &loop->ev_status, &loop->ev_watchdog };

        while (!list_is_empty(&bus->conns))
                route_link_gone(list_first_entry(&bus->conns, struct conn, bus_link));
        loop_flush(loop);
        for (size_t i = 0; i < ELEMENTSOF(events); i++)
                if (*events[i])
                        event_free(TAKE_PTR(*events[i]));
        if (loop->base)
                event_base_free(TAKE_PTR(loop->base));
}
