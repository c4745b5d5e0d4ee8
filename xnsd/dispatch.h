/* dispatch.h: what xnsd does on each wakeup, apart from the event library:
 * the frames of a readable link (its ring first), and at the end of the
 * wakeup the rings due a pass, the posted Scalars to hand out, the frames
 * to write, the links to cut and to free. loop.c calls it from libevent's
 * callbacks; the fuzzer calls it the same way. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "chan.h"

struct bus;
struct conn;

#define DISPATCH_FRAMES_PER_WAKEUP 32   /* per link, so one client cannot starve others */
#define DISPATCH_CHAN_FRAMES_MAX (XNS_CHAN_REQ_SIZE / 16)  /* records a request ring can hold */

/* What the loop does with a link's watchers: match them to its state after
 * a flush, and let them go before the link is freed. Either may be NULL. */
struct dispatch_io {
        void (*update)(struct conn *conn, void *ctx);
        void (*release)(struct conn *conn, void *ctx);
        void *ctx;
};

bool dispatch_may_read(struct conn *conn);
bool dispatch_frame(struct conn *conn, const void *buf, ssize_t n, int fd);
void dispatch_readable(struct conn *conn);
void dispatch_channel(struct conn *conn, bool to_end);
void dispatch_flush(struct bus *bus, const struct dispatch_io *io);
bool dispatch_work_left(const struct bus *bus);
