/* ctl-link.h: xnsctl's link to xnsd: the control requests and their answers. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "wire.h"

/* Exit codes scripts can rely on (xnsctl(1)). */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,        /* the daemon said no, or the operation failed */
        EXIT_USAGE = 2,
        EXIT_UNREACHABLE = 3,   /* no xnsd answers on the socket */
};

struct ctl_link {
        int fd;
        const char *path;
        const sigset_t *wait_mask;      /* signal mask while waiting for xnsd (ppoll), or NULL */
};

int ctl_link_open(struct ctl_link *link, const char *path);
void ctl_link_close(struct ctl_link *link);
int ctl_link_ask(struct ctl_link *link, uint32_t what, const char *const *names, uint32_t n_names,
                 struct xns_reply *reply, int *fd);
int ctl_snapshot(struct ctl_link *link, uint32_t what, const char *name, Xns__Snapshot **out);
int ctl_monitor(struct ctl_link *link, const char *const *names, uint32_t n_names, bool payloads);
int ctl_next_event(struct ctl_link *link, struct xns_event *event, int *fd, bool wait);

const char *ctl_error_name(uint32_t error);
