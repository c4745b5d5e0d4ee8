/* service.h: xnsd as a systemd service (sd-daemon): the socket systemd hands
 * over, readiness and live status, the watchdog. Without systemd (no
 * LISTEN_FDS, no NOTIFY_SOCKET) all of it does nothing. The loop owns the
 * timers that call service_refresh() and service_watchdog(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct bus;

struct service {
        struct bus *bus;
        bool notify;                    /* systemd listens (NOTIFY_SOCKET) */
        uint64_t watchdog_usec;         /* 0: no watchdog */
        char status[128];               /* the last STATUS= sent */
};

#define SERVICE_STATUS_INTERVAL_S 1

int service_listen_fd(int *out);
void service_init(struct service *svc, struct bus *bus);
void service_ready(struct service *svc);
void service_refresh(struct service *svc);
void service_watchdog(struct service *svc);
void service_stopping(struct service *svc);
