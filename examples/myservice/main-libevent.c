/* main-libevent.c: myservice-server-libevent, the service in a libevent loop: two SIDs, one thread. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xous/xous.h>

#include "api.h"
#include "serve.h"

/* What the loop watches: the service's server, the ticker's private one, SIGINT and SIGTERM. */
enum { WATCH_SERVICE, WATCH_TICKS, WATCH_SIGINT, WATCH_SIGTERM, WATCH_MAX };

struct loop {
        struct service *svc;
        struct event_base *base;
        struct event *events[WATCH_MAX];
        int status;                     /* main's exit status once the loop breaks */
};

static void loop_leave(struct loop *lp, int status) {
        lp->status = status;
        event_base_loopbreak(lp->base);
}

static void loop_drain(struct loop *lp, xous_sid_t sid) {
        bool quit;
        xous_error_t e = service_drain(lp->svc, sid, &quit);

        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server-libevent: receive: %s\n", xous_strerror(e));
                loop_leave(lp, 1);
        } else if (quit)
                loop_leave(lp, 0);
}

/* Level-triggered: called again while a message waits. */
static void on_service_readable(evutil_socket_t fd, short what, void *arg) {
        struct loop *lp = arg;

        (void)fd, (void)what;
        loop_drain(lp, lp->svc->sid);
}

static void on_ticks_readable(evutil_socket_t fd, short what, void *arg) {
        struct loop *lp = arg;

        (void)fd, (void)what;
        loop_drain(lp, lp->svc->tick_sid);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
        (void)what;
        say("%s: leaving the loop", strsignal(sig));
        loop_leave(arg, 0);
}

static int loop_watch_server(struct loop *lp, int watch, xous_sid_t sid, event_callback_fn cb) {
        int fd;
        xous_error_t e = xous_server_get_fd(sid, &fd);

        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server-libevent: xous_server_get_fd: %s\n", xous_strerror(e));
                return -1;
        }
        lp->events[watch] = event_new(lp->base, fd, EV_READ | EV_PERSIST, cb, lp);
        return lp->events[watch] ? 0 : -1;
}

static int loop_watch_signal(struct loop *lp, int watch, int sig) {
        lp->events[watch] = evsignal_new(lp->base, sig, on_signal, lp);
        return lp->events[watch] ? 0 : -1;
}

static void loop_deinit(struct loop *lp) {
        for (int i = 0; i < WATCH_MAX; i++)
                if (lp->events[i])
                        event_free(lp->events[i]);
        if (lp->base)
                event_base_free(lp->base);
}

/* The events are freed before the service's servers, whose descriptors they watch. */
static int loop_init(struct loop *lp, struct service *svc) {
        *lp = (struct loop){ .svc = svc };
        lp->base = event_base_new();
        if (!lp->base || loop_watch_server(lp, WATCH_SERVICE, svc->sid, on_service_readable) < 0 ||
            loop_watch_server(lp, WATCH_TICKS, svc->tick_sid, on_ticks_readable) < 0 ||
            loop_watch_signal(lp, WATCH_SIGINT, SIGINT) < 0 || loop_watch_signal(lp, WATCH_SIGTERM, SIGTERM) < 0)
                goto fail;
        for (int i = 0; i < WATCH_MAX; i++)
                if (event_add(lp->events[i], NULL) < 0)
                        goto fail;
        return 0;
fail:
        fprintf(stderr, "myservice-server-libevent: cannot set up the event loop\n");
        loop_deinit(lp);
        return -1;
}

static int loop_run(struct service *svc) {
        struct loop lp;

        if (loop_init(&lp, svc) < 0)
                return 1;
        if (event_base_dispatch(lp.base) < 0) {
                fprintf(stderr, "myservice-server-libevent: event_base_dispatch failed\n");
                lp.status = 1;
        }
        loop_deinit(&lp);
        return lp.status;
}

int main(void) {
        static struct service svc;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (service_init_private_ticks(&svc) < 0)
                return 1;
        say("registered \"%s\" (pid %d), serving it and the ticker's server from one libevent loop",
            SERVER_NAME_MYSERVICE, (int)getpid());
        r = loop_run(&svc);
        service_deinit(&svc);
        say("unregistered, exiting");
        return r;
}
