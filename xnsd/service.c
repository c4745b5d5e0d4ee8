/* service.c: xnsd as a systemd service (sd-daemon): the socket systemd hands
 * over, readiness and live status, the watchdog. Without systemd (no
 * LISTEN_FDS, no NOTIFY_SOCKET) all of it does nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "bus.h"
#include "log.h"
#include "service.h"

/*
 * service_listen_fd() - the listening socket systemd passed, if any.
 *
 * Returns 0 when xnsd was not socket-activated, 1 with *out set when it
 * was, or a negative errno when what systemd passed is not one listening
 * AF_UNIX SOCK_SEQPACKET socket.
 */
int service_listen_fd(int *out) {
        int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START, flags;

        if (n <= 0)
                return n;
        if (n > 1) {
                log_error("systemd passed %d sockets; xnsd serves exactly one", n);
                return -EINVAL;
        }
        if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
                log_error("the socket systemd passed is not a listening AF_UNIX SOCK_SEQPACKET socket");
                return -EINVAL;
        }
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        *out = fd;
        return 1;
}

static void service_format_status(struct service *svc, char *buf, size_t size) {
        struct bus_counts c;

        bus_count(svc->bus, &c);
        snprintf(buf, size, "%u names, %u processes, %u pending calls", c.names, c.processes, c.pending_calls);
}

void service_init(struct service *svc, struct bus *bus) {
        const char *notify = getenv("NOTIFY_SOCKET");
        uint64_t usec = 0;

        *svc = (struct service){ .bus = bus, .notify = notify && *notify };
        if (svc->notify && sd_watchdog_enabled(0, &usec) > 0)
                svc->watchdog_usec = usec;
}

/* Tells systemd xnsd serves, with its first STATUS=. */
void service_ready(struct service *svc) {
        if (!svc->notify)
                return;
        service_format_status(svc, svc->status, sizeof(svc->status));
        sd_notifyf(0, "READY=1\nSTATUS=%s", svc->status);
}

/* Sends STATUS= again when the counts changed since the last one. */
void service_refresh(struct service *svc) {
        char status[sizeof(svc->status)];

        service_format_status(svc, status, sizeof(status));
        if (strcmp(status, svc->status) == 0)
                return;
        memcpy(svc->status, status, sizeof(status));
        sd_notifyf(0, "STATUS=%s", status);
}

/* Runs on the event loop: a loop that hangs stops feeding the watchdog. */
void service_watchdog(struct service *svc) {
        sd_notify(0, "WATCHDOG=1");
}

void service_stopping(struct service *svc) {
        if (svc->notify)
                sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
