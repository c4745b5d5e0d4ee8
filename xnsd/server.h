/* server.h: a server (a SID) and its bounded queue: waiting messages,
 * senders waiting for room, and its threads waiting to receive. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "list.h"
#include "wire.h"

struct lent_table;

struct conn;
struct message;
struct name;
struct peer;
struct server;

/* A thread waiting to receive on a server: part of its link, which lives in
 * a layer above; the server sees only this. */
struct server_receiver {
        struct list link;               /* in server->receivers */
        struct peer *peer;              /* its process, which will hold what it receives */
        struct lent_table **given;      /* kept buffers its link holds (lent.c), or NULL: it keeps none */
        bool batch;                     /* the Scalars queued behind may come along */
};

/*
 * What a server does to those who wait on it, who live in the layers above
 * (links, the monitor): the bus provides these. A link here is only a
 * handle: the message's caller or sender.
 */
struct server_hooks {
        /* A receiver gets its delivery (fd travels with it) ... */
        void (*deliver)(struct server_receiver *r, struct xns_reply *reply, int fd);
        /* ... and the frames that continue it, with the same seq. */
        void (*deliver_more)(struct server_receiver *r, struct xns_reply *reply);
        /* A receiver is told result (a negative errno) instead. */
        void (*refuse)(struct server_receiver *r, int result);
        /* A blocked caller, or a sender waiting for room, hears result (0:
         * its message is queued now; else a negative errno). */
        void (*wake)(struct conn *link, int result);
        /* A posted Scalar that waited for room got in (0) or failed. */
        void (*posted)(struct conn *link, int result, uint32_t cid);
        /* A message reached its end here: for observers. */
        void (*observe)(const struct server *server, const struct message *m, int result);
};

struct server {
        struct peer *owner;
        struct list owner_link;
        struct xns_sid sid;
        struct name *name;              /* registered name, NULL for an anonymous server */

        struct list queue;              /* MESSAGE_QUEUED, oldest first */
        struct list stalled;            /* MESSAGE_STALLED, waiting for room */
        struct list receivers;          /* struct server_receiver, longest waiting first */
        struct list pump_link;          /* in bus->pumps: deliver at the end of the wakeup */
        uint32_t depth;                 /* slots */
        uint32_t used;                  /* queued + delivered blocking, unanswered */
        uint32_t unanswered;            /* delivered blocking, unanswered */
        uint64_t served;                /* messages delivered */
        int ready_fd;                   /* timerfd, expired while messages wait: -1 until watched */
        bool ready;                     /* what ready_fd says now */
        const struct server_hooks *hooks;
};

int server_new(struct server **out, struct peer *owner, uint32_t depth, const struct server_hooks *hooks);
struct server *server_free(struct server *server);

/* server_submit()'s results besides a negative errno. */
enum {
        SERVER_QUEUED = 0,              /* in the queue */
        SERVER_STALLED = 1,             /* waiting for room: its sender waits too */
};

int server_submit(struct server *server, struct message *m, bool try_);
int server_submit_later(struct server *server, struct message *m, struct list *pumps);
void server_pump_later(struct list *pumps);
void server_park_receiver(struct server *server, struct server_receiver *r);
void server_pump(struct server *server);
void server_answered(struct server *server, struct message *m);
void server_fail_all(struct server *server, int result);
int server_watch(struct server *server);
