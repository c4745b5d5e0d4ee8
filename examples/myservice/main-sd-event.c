/* main-sd-event.c: myservice-server-sd-event, the service in an sd-event loop: two SIDs, one thread. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>
#include <unistd.h>
#include <xous/xous.h>

#include "api.h"
#include "serve.h"

static int loop_drain(sd_event_source *source, xous_sid_t sid, struct service *svc) {
        bool quit;
        xous_error_t e = service_drain(svc, sid, &quit);

        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server-sd-event: receive: %s\n", xous_strerror(e));
                return sd_event_exit(sd_event_source_get_event(source), 1);
        }
        return quit ? sd_event_exit(sd_event_source_get_event(source), 0) : 0;
}

/* Level-triggered: called again while a message waits. */
static int on_service_readable(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct service *svc = userdata;

        (void)fd, (void)revents;
        return loop_drain(source, svc->sid, svc);
}

static int on_ticks_readable(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct service *svc = userdata;

        (void)fd, (void)revents;
        return loop_drain(source, svc->tick_sid, svc);
}

static int on_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        (void)userdata;
        say("%s: leaving the loop", strsignal((int)si->ssi_signo));
        return sd_event_exit(sd_event_source_get_event(source), 0);
}

static int loop_watch_server(sd_event *ev, xous_sid_t sid, sd_event_io_handler_t cb, struct service *svc) {
        int fd, r;
        xous_error_t e = xous_server_get_fd(sid, &fd);

        if (e != XOUS_OK) {
                fprintf(stderr, "myservice-server-sd-event: xous_server_get_fd: %s\n", xous_strerror(e));
                return -1;
        }
        r = sd_event_add_io(ev, NULL, fd, EPOLLIN, cb, svc);
        if (r < 0) {
                fprintf(stderr, "myservice-server-sd-event: sd_event_add_io: %s\n", strerror(-r));
                return -1;
        }
        return 0;
}

static int loop_watch_signal(sd_event *ev, int sig) {
        int r = sd_event_add_signal(ev, NULL, sig, on_signal, NULL);

        if (r < 0) {
                fprintf(stderr, "myservice-server-sd-event: sd_event_add_signal(%s): %s\n", strsignal(sig),
                        strerror(-r));
                return -1;
        }
        return 0;
}

/* The sources float: the loop owns them and frees them with itself, before the service's
 * servers, whose descriptors they watch, are destroyed. */
static int loop_run(struct service *svc) {
        __attribute__((cleanup(sd_event_unrefp))) sd_event *ev = NULL;
        int r = sd_event_new(&ev);

        if (r < 0) {
                fprintf(stderr, "myservice-server-sd-event: sd_event_new: %s\n", strerror(-r));
                return 1;
        }
        if (loop_watch_server(ev, svc->sid, on_service_readable, svc) < 0 ||
            loop_watch_server(ev, svc->tick_sid, on_ticks_readable, svc) < 0 || loop_watch_signal(ev, SIGINT) < 0 ||
            loop_watch_signal(ev, SIGTERM) < 0)
                return 1;
        r = sd_event_loop(ev);
        if (r < 0) {
                fprintf(stderr, "myservice-server-sd-event: sd_event_loop: %s\n", strerror(-r));
                return 1;
        }
        return r;         /* sd_event_exit()'s code */
}

/* sd_event_add_signal() reads signals through a signalfd: blocked in every thread, so blocked
 * before the ticker's thread starts. */
static int block_signals(void) {
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int main(void) {
        static struct service svc;
        int r;

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = block_signals();
        if (r < 0) {
                fprintf(stderr, "myservice-server-sd-event: block SIGINT and SIGTERM: %s\n", strerror(-r));
                return 1;
        }
        if (service_init_private_ticks(&svc) < 0)
                return 1;
        say("registered \"%s\" (pid %d), serving it and the ticker's server from one sd-event loop",
            SERVER_NAME_MYSERVICE, (int)getpid());
        r = loop_run(&svc);
        service_deinit(&svc);
        say("unregistered, exiting");
        return r;
}
