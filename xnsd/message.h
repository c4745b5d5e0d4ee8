/* message.h: one message in flight between a caller and a server. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "list.h"

struct conn;
struct lent_buf;
struct peer;
struct server;
struct user;

enum message_state {
        MESSAGE_STALLED,        /* waiting for room in the server's queue */
        MESSAGE_QUEUED,         /* in the server's queue */
        MESSAGE_DELIVERED,      /* received by the server, awaiting its answer */
};

struct message {
        struct list link;               /* server->queue or server->stalled */
        struct server *server;
        enum message_state state;

        struct conn *caller;            /* blocked caller awaiting the answer, or NULL */
        uint32_t caller_seq;
        bool timed_out;                 /* its caller gave up (Cancel): monitors saw it end then */
        struct conn *sender;            /* STALLED non-blocking send: its link */
        bool posted;                    /* sender is not waiting: credit it with an ack */
        uint32_t cid;                   /* posted: the CID it was sent on, for the ack */
        uint32_t sender_pid, sender_uid;

        uint32_t kind, id;
        uint32_t a[4];
        uint32_t len, offset, valid;
        int fd;                         /* memfd for memory kinds, else -1 */
        struct lent_buf *lent;          /* or a kept buffer's (then fd is -1) */
        bool keep_fd;                   /* a monitor wants the memfd: delivery passes a copy */
        int release_fd;                 /* a caller that timed out: closed when the message is done */

        uint64_t sent_us;               /* CLOCK_MONOTONIC, only while a monitor watches */

        struct peer *from;              /* the sending process, while it lives */
        struct list sent_link;          /* in from->sent */
        struct user *user;              /* memory kinds: whose shared memory is in flight */

        struct peer *holder;            /* DELIVERED: the process that must answer */
        uint32_t handle, gen;
};

struct message *message_new(void);
struct message *message_free(struct message *m);
int message_fd(const struct message *m);
void message_pool_drain(void);
