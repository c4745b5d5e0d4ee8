/* server.h: a server (a SID) and its bounded queue: waiting messages,
 * senders waiting for room, and its threads waiting to receive. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "list.h"
#include "wire.h"

struct bus;
struct conn;
struct message;
struct name;
struct peer;

struct server {
        struct peer *owner;
        struct list owner_link;
        struct xns_sid sid;
        struct name *name;              /* registered name, NULL for an anonymous server */

        struct list queue;              /* MESSAGE_QUEUED, oldest first */
        struct list stalled;            /* MESSAGE_STALLED, waiting for room */
        struct list receivers;          /* conns in CONN_WAIT_RECEIVE */
        struct list pump_link;          /* in bus->pumps: deliver at the end of the wakeup */
        uint32_t depth;                 /* slots */
        uint32_t used;                  /* queued + delivered blocking, unanswered */
        uint32_t unanswered;            /* delivered blocking, unanswered */
        uint64_t served;                /* messages delivered */
};

int server_new(struct server **out, struct peer *owner, uint32_t depth);
struct server *server_free(struct server *server);

int server_submit(struct server *server, struct message *m, bool try_);
int server_submit_later(struct server *server, struct message *m, struct list *pumps);
void server_pump_later(struct list *pumps);
void server_park_receiver(struct server *server, struct conn *conn, uint32_t seq, bool batch);
void server_pump(struct server *server);
void server_answered(struct server *server, struct message *m);
void server_fail_all(struct server *server, uint32_t error);
