/* loop.h: the daemon's event loop (libevent): accepts links, reads their
 * frames, writes replies out together once per wakeup. */
#pragma once

#include <stdbool.h>

struct bus;
struct event;
struct event_base;
struct service;

struct loop {
        struct event_base *base;
        struct bus *bus;
        int listen_fd;
        bool stop;
        struct event *ev_listen;
        struct event *ev_accept_retry;
        struct event *ev_sigterm;
        struct event *ev_sigint;
        struct service *svc;
        struct event *ev_status;        /* STATUS= refresh, while systemd listens */
        struct event *ev_watchdog;      /* WATCHDOG=1 at half systemd's interval */
};

int loop_init(struct loop *loop, struct bus *bus, int listen_fd, struct service *svc);
int loop_run(struct loop *loop);
void loop_shutdown(struct loop *loop);
void loop_deinit(struct loop *loop);
