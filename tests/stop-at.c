/* stop-at.c: an LD_PRELOAD shim for the start-up tests of test-systemd.c.
 * With XNS_STOP_AT=listen or XNS_STOP_AT=event_base_new, the process stops
 * itself (SIGSTOP) on entering that function, so that the test can look at
 * xnsd, and signal it, at that point of its start-up, then let it go on
 * (SIGCONT). */
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct event_base;

int listen(int fd, int backlog);
struct event_base *event_base_new(void);

static void stop_at(const char *function) {
        const char *at = getenv("XNS_STOP_AT");

        if (at && !strcmp(at, function))
                raise(SIGSTOP);
}

int listen(int fd, int backlog) {
        int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");

        stop_at("listen");
        return real(fd, backlog);
}

struct event_base *event_base_new(void) {
        struct event_base *(*real)(void) = (struct event_base * (*)(void))dlsym(RTLD_NEXT, "event_base_new");

        stop_at("event_base_new");
        return real();
}
