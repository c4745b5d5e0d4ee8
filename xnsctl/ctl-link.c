/* ctl-link.c: xnsctl's link to xnsd: one SEQPACKET connection, control
 * requests, the snapshot read from the memfd the daemon sends, and monitor
 * events. Errors print one line and return an exit code (ctl-link.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <xous/xous.h>

#include "ctl-link.h"
#include "macro.h"

#define CTL_ANSWER_TIMEOUT_MS 10000
#define CTL_SNAPSHOT_MAX (64u << 20)

/* Xous's name for an error number, e.g. "SERVER_NOT_FOUND". */
const char *ctl_error_name(uint32_t error) {
        const char *name = xns_error_name(error);

        return name ? name : "UNKNOWN_ERROR";
}

int ctl_link_open(struct ctl_link *link, const char *path) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };

        link->path = path;
        link->fd = -1;
        link->wait_mask = NULL;
        if (strlen(path) >= sizeof(addr.sun_path)) {
                fprintf(stderr, "xnsctl: socket path too long: %s\n", path);
                return EXIT_USAGE;
        }
        strcpy(addr.sun_path, path);
        link->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (link->fd < 0 || connect(link->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
                fprintf(stderr, "xnsctl: cannot reach xnsd at %s: %s\n", path, strerror(errno));
                return EXIT_UNREACHABLE;
        }
        return EXIT_OK;
}

void ctl_link_close(struct ctl_link *link) {
        link->fd = safe_close(link->fd);
}

/* Reads one reply frame; timeout_ms < 0 waits for ever (a monitor), 0 only
 * looks: -EAGAIN, quietly, when nothing is there. */
static int ctl_link_read(struct ctl_link *link, struct xns_reply *reply, int *fd, int timeout_ms) {
        uint8_t buf[XNS_FRAME_MAX];
        struct pollfd p = { .fd = link->fd, .events = POLLIN };
        struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000 };
        ssize_t n;
        int r, rfd = -1;

        r = ppoll(&p, 1, timeout_ms < 0 ? NULL : &ts, link->wait_mask);
        if (r < 0)
                return -errno;
        if (r == 0 && timeout_ms == 0)
                return -EAGAIN;
        if (r == 0) {
                fprintf(stderr, "xnsctl: xnsd at %s did not answer\n", link->path);
                return EXIT_UNREACHABLE;
        }
        n = xns_frame_recv(link->fd, buf, sizeof(buf), &rfd, false);
        if (n <= 0) {
                fprintf(stderr, "xnsctl: xnsd at %s closed the connection%s%s\n", link->path,
                        n < 0 ? ": " : "", n < 0 ? strerror((int)-n) : "");
                return EXIT_UNREACHABLE;
        }
        if (xns_reply_decode(reply, buf, (size_t)n) < 0) {
                safe_close(rfd);
                fprintf(stderr, "xnsctl: xnsd sent a malformed answer\n");
                return EXIT_FAILED;
        }
        if (fd)
                *fd = rfd;
        else
                safe_close(rfd);
        return EXIT_OK;
}

/* Sends req (its names from names) and reads the answer, as ctl_link_ask(). */
static int ctl_link_ask_req(struct ctl_link *link, struct xns_request *req, const char *const *names,
                            uint32_t n_names, struct xns_reply *reply, int *fd) {
        uint8_t buf[XNS_FRAME_MAX];
        ssize_t n;
        int r;

        *fd = -1;
        if (n_names > XNS_CONTROL_NAMES_MAX) {
                fprintf(stderr, "xnsctl: at most %d names at once\n", XNS_CONTROL_NAMES_MAX);
                return EXIT_USAGE;
        }
        for (uint32_t i = 0; i < n_names; i++) {
                size_t len = strlen(names[i]);

                if (!xns_name_valid(names[i], len)) {
                        fprintf(stderr, "xnsctl: '%s' is not a valid server name (1 to %d bytes of UTF-8)\n",
                                names[i], XNS_NAME_MAX);
                        return EXIT_USAGE;
                }
                req->control.names[i].len = len;
                memcpy(req->control.names[i].str, names[i], len);
        }
        req->control.n_names = n_names;
        n = xns_request_encode(req, buf, sizeof(buf));
        if (n < 0)
                return EXIT_USAGE;
        r = xns_frame_send(link->fd, buf, (size_t)n, -1, false);
        if (r < 0) {
                fprintf(stderr, "xnsctl: cannot talk to xnsd at %s: %s\n", link->path, strerror(-r));
                return EXIT_UNREACHABLE;
        }
        r = ctl_link_read(link, reply, fd, CTL_ANSWER_TIMEOUT_MS);
        if (r != EXIT_OK)
                return r;
        if (reply->error == XOUS_OK)
                return EXIT_OK;
        *fd = safe_close(*fd);
        if (reply->error == XOUS_ERR_ACCESS_DENIED)
                fprintf(stderr, "xnsctl: access denied: only xnsd's user or root may see other processes\n");
        else if (reply->error == XOUS_ERR_SERVER_NOT_FOUND)
                fprintf(stderr, "xnsctl: no server is registered as '%s'\n", n_names ? names[0] : "");
        else
                fprintf(stderr, "xnsctl: xnsd answered %s\n", ctl_error_name(reply->error));
        return EXIT_FAILED;
}

/*
 * ctl_link_ask() - send a control request and read its answer.
 *
 * Returns EXIT_OK with *reply (and the descriptor that came with it in *fd,
 * or -1); a daemon error is printed and gives EXIT_FAILED.
 */
int ctl_link_ask(struct ctl_link *link, uint32_t what, const char *const *names, uint32_t n_names,
                 struct xns_reply *reply, int *fd) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_CONTROL, .control = { .what = what } };

        return ctl_link_ask_req(link, &req, names, n_names, reply, fd);
}

/* Starts a monitor trace of these names (none: all); with payloads, memory
 * messages' memfds come beside their events. */
int ctl_monitor(struct ctl_link *link, const char *const *names, uint32_t n_names, bool payloads) {
        struct xns_request req = { .seq = 1, .op = XNS_OP_CONTROL,
                                   .control = { .what = XNS_CONTROL_MONITOR, .payloads = payloads } };
        struct xns_reply reply;
        int fd, r;

        r = ctl_link_ask_req(link, &req, names, n_names, &reply, &fd);
        safe_close(fd);
        return r;
}

/* Asks for a snapshot and unpacks it from the sealed memfd it comes in. */
int ctl_snapshot(struct ctl_link *link, uint32_t what, const char *name, Xns__Snapshot **out) {
        const char *names[] = { name };
        _cleanup_close_ int fd = -1;
        struct xns_reply reply;
        struct stat st;
        void *map;
        int r;

        r = ctl_link_ask(link, what, names, name ? 1 : 0, &reply, &fd);
        if (r != EXIT_OK)
                return r;
        if (reply.body != XNS_BODY_SNAPSHOT || fd < 0 || reply.snapshot > CTL_SNAPSHOT_MAX ||
            fstat(fd, &st) < 0 || st.st_size < (off_t)reply.snapshot) {
                fprintf(stderr, "xnsctl: xnsd sent no usable snapshot\n");
                return EXIT_FAILED;
        }
        map = reply.snapshot ? mmap(NULL, reply.snapshot, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
        if (map == MAP_FAILED) {
                fprintf(stderr, "xnsctl: cannot map the snapshot: %s\n", strerror(errno));
                return EXIT_FAILED;
        }
        *out = xns__snapshot__unpack(NULL, reply.snapshot, map);
        if (map)
                munmap(map, reply.snapshot);
        if (!*out || !(*out)->status) {
                fprintf(stderr, "xnsctl: xnsd sent a malformed snapshot\n");
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

/*
 * ctl_next_event() - the next monitor event, and in *fd (when fd is not
 * NULL) the descriptor beside it or -1; -EINTR when a signal came first.
 * Without wait, -EAGAIN when none is there yet.
 */
int ctl_next_event(struct ctl_link *link, struct xns_event *event, int *fd, bool wait) {
        struct xns_reply reply;
        int r, rfd;

        for (;;) {
                r = ctl_link_read(link, &reply, &rfd, wait ? -1 : 0);
                if (r != EXIT_OK)
                        return r;
                if (reply.body == XNS_BODY_EVENT) {
                        *event = reply.event;
                        if (fd)
                                *fd = rfd;
                        else
                                safe_close(rfd);
                        return EXIT_OK;
                }
                safe_close(rfd);
        }
}
