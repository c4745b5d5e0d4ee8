/* server.c: a server (a SID) and its bounded queue: waiting messages,
 * senders waiting for room, and its threads waiting to receive. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>

#include "lent.h"
#include "macro.h"
#include "message.h"
#include "peer.h"
#include "server.h"

/* Generations make a stale handle (an answer to a message already answered
 * and a slot reused since) fail instead of answering someone else. */
static uint32_t envelope_gen;

int server_new(struct server **out, struct peer *owner, uint32_t depth, const struct server_hooks *hooks) {
        struct server *server = calloc(1, sizeof(*server));

        if (!server)
                return -ENOMEM;
        if (getrandom(server->sid.w, sizeof(server->sid.w), 0) != sizeof(server->sid.w)) {
                free(server);
                return -EIO;
        }
        server->owner = owner;
        server->depth = depth;
        server->hooks = hooks;
        server->ready_fd = -1;
        list_init(&server->queue);
        list_init(&server->stalled);
        list_init(&server->receivers);
        list_init(&server->pump_link);
        list_link_tail(&owner->servers, &server->owner_link);
        owner->n_servers++;
        *out = server;
        return 0;
}

/* Frees a server after server_fail_all() emptied it. */
struct server *server_free(struct server *server) {
        if (!server)
                return NULL;
        server->owner->n_servers--;
        list_unlink(&server->owner_link);
        list_unlink(&server->pump_link);
        safe_close(server->ready_fd);
        free(server);
        return NULL;
}

/*
 * server_show_ready() - make the watched server's timerfd say whether
 * messages wait in its queue (none of its receives is parked then, as the
 * queue and the receivers are never both non-empty once pumped). An expiry
 * in the past makes it readable at once; disarming it clears that. Called
 * wherever the queue may have changed; costs a syscall only on a change.
 */
static void server_show_ready(struct server *server) {
        static const struct itimerspec expired = { .it_value = { .tv_sec = 0, .tv_nsec = 1 } };
        static const struct itimerspec disarmed = { 0 };
        bool ready = !list_is_empty(&server->queue);

        if (server->ready_fd < 0 || ready == server->ready)
                return;
        if (timerfd_settime(server->ready_fd, TFD_TIMER_ABSTIME, ready ? &expired : &disarmed, NULL) == 0)
                server->ready = ready;
}

/*
 * server_watch() - a descriptor that polls readable while messages wait in
 * the queue (made on the first call, the same one after): returns a new
 * reference for the owner to keep, or a negative errno.
 */
int server_watch(struct server *server) {
        int fd;

        if (server->ready_fd < 0) {
                server->ready_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                if (server->ready_fd < 0)
                        return -errno;
                server->ready = false;
                server_show_ready(server);
        }
        fd = fcntl(server->ready_fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -errno : fd;
}

static void server_enqueue(struct server *server, struct message *m) {
        m->server = server;
        m->state = MESSAGE_QUEUED;
        server->used++;
        list_link_tail(&server->queue, &m->link);
}

/* A slot free, and no one waiting for one ahead. */
static bool server_has_room(const struct server *server) {
        return server->used < server->depth && list_is_empty(&server->stalled);
}

/*
 * server_submit() - queue a message, or hold it until there is room.
 *
 * Returns SERVER_QUEUED, SERVER_STALLED (the sender waits for room: its
 * answer comes when the message moves into the queue), or -EAGAIN when full
 * and try_ is set.
 */
int server_submit(struct server *server, struct message *m, bool try_) {
        if (server_has_room(server)) {
                server_enqueue(server, m);
                server_pump(server);
                return SERVER_QUEUED;
        }
        if (try_)
                return -EAGAIN;
        m->server = server;
        m->state = MESSAGE_STALLED;
        list_link_tail(&server->stalled, &m->link);
        return SERVER_STALLED;
}

/*
 * server_submit_later() - queue a posted Scalar, handing it out only at the
 * end of this wakeup (server_pump_later()), so that the Scalars a sender
 * wrote together reach a waiting receiver together, in one frame. As
 * server_submit() otherwise (never try_).
 */
int server_submit_later(struct server *server, struct message *m, struct list *pumps) {
        if (server_has_room(server)) {
                server_enqueue(server, m);
                if (!list_is_empty(&server->receivers) && !list_is_linked(&server->pump_link))
                        list_link_tail(pumps, &server->pump_link);
                server_show_ready(server);
                return SERVER_QUEUED;
        }
        return server_submit(server, m, false);
}

/* Hands out what server_submit_later() queued. */
void server_pump_later(struct list *pumps) {
        while (!list_is_empty(pumps)) {
                struct server *server = list_first_entry(pumps, struct server, pump_link);

                list_unlink(&server->pump_link);
                server_pump(server);
        }
}

/* A thread waits to receive; r->batch: the Scalars queued behind its
 * message may come along (its library has no other receive on the server
 * on its way). */
void server_park_receiver(struct server *server, struct server_receiver *r) {
        list_link_tail(&server->receivers, &r->link);
        server_pump(server);
}

static void server_unstall(struct server *server) {
        while (server->used < server->depth && !list_is_empty(&server->stalled)) {
                struct message *m = list_first_entry(&server->stalled, struct message, link);
                struct conn *sender = m->sender;

                list_unlink(&m->link);
                m->sender = NULL;
                server_enqueue(server, m);
                if (sender && m->posted)
                        server->hooks->posted(sender, 0, m->cid);
                else if (sender)
                        server->hooks->wake(sender, 0);
        }
}

static void delivery_fill(struct xns_delivery *d, const struct message *m) {
        *d = (struct xns_delivery){
                .handle = m->handle, .gen = m->gen, .kind = m->kind, .id = m->id,
                .a = { m->a[0], m->a[1], m->a[2], m->a[3] },
                .len = m->len, .offset = m->offset, .valid = m->valid,
                .sender_pid = m->sender_pid, .sender_uid = m->sender_uid,
        };
}

/* A kept buffer's memfd for a receiver whose link keeps what it is given:
 * none when the link has it already (d names it), else a copy it keeps from
 * now on; a copy for any other receiver. Links, not processes, keep them:
 * a link reads its deliveries in order, so the one that names a buffer
 * always comes after the one that brought its memfd. -1 when there is no
 * descriptor to spare (the server refuses the delivery: its caller hears
 * an error). */
static int server_give_lent(struct lent_buf *b, struct server_receiver *to, struct xns_delivery *d) {
        int r = -1, fd;

        if (to->given)
                r = lent_give(to->given, b, &d->forget);
        if (r == 1) {
                d->buf = b->no;
                return -1;
        }
        fd = fcntl(b->fd, F_DUPFD_CLOEXEC, 3);
        if (r == 0 && fd >= 0)
                d->buf = b->no;
        else if (r == 0)
                lent_take_back(*to->given, b->no);
        return fd;
}

/* The memfd the server gets; a copy when a monitor wants the message's
 * payload (the message keeps the original for its event), else the message's
 * own. Without a descriptor to spare, the monitor goes without. */
static int server_take_fd(struct message *m, struct server_receiver *to, struct xns_delivery *d) {
        int fd;

        if (m->lent)
                return server_give_lent(m->lent, to, d);
        if (!m->keep_fd || m->fd < 0)
                return TAKE_FD(m->fd);
        fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
        return fd >= 0 ? fd : TAKE_FD(m->fd);
}

/* A message that needs no answer has reached its server: it is done. */
static void server_done(struct server *server, struct message *m) {
        server->served++;
        server->hooks->observe(server, m, 0);
        server->used--;
        message_free(m);
}

#define DELIVERY_SCALARS_MAX (XNS_DELIVERY_MORE_MAX * XNS_DELIVERY_FRAMES_MAX)

/*
 * server_take_scalars() - the Scalars queued right behind a delivery ride
 * along with it (up to XNS_DELIVERY_FRAMES_MAX frames) when the receiver
 * asked for them, which its library does only when no other receive of the
 * process on the server is on its way, and no other thread waits here: a
 * pool shares the work one message at a time. Those waiting for room move
 * up as slots free. The client keeps them in order for the next receives on
 * the server.
 */
static uint32_t server_take_scalars(struct server *server, struct server_receiver *receiver,
                                    struct xns_scalar *out) {
        uint32_t n = 0;

        if (!receiver->batch || receiver->link.next != &server->receivers)
                return 0;
        while (n < DELIVERY_SCALARS_MAX) {
                struct message *m = list_first_entry(&server->queue, struct message, link);

                if (!m || m->kind != XNS_KIND_SCALAR)
                        break;
                list_unlink(&m->link);
                out[n++] = (struct xns_scalar){
                        .id = m->id, .a = { m->a[0], m->a[1], m->a[2], m->a[3] },
                        .sender_pid = m->sender_pid, .sender_uid = m->sender_uid,
                };
                server_done(server, m);
                server_unstall(server);
        }
        return n;
}

/* Splits n Scalars over the delivery frame and the frames that continue it. */
static void reply_set_more(struct xns_reply *reply, const struct xns_scalar *v, uint32_t n) {
        reply->n_more = n < XNS_DELIVERY_MORE_MAX ? n : XNS_DELIVERY_MORE_MAX;
        memcpy(reply->more, v, reply->n_more * sizeof(v[0]));
        reply->continued = n > reply->n_more;
}

/* Hands the oldest message to the longest-waiting receiver. */
static void server_deliver_one(struct server *server) {
        struct message *m = list_first_entry(&server->queue, struct message, link);
        struct server_receiver *receiver = list_first_entry(&server->receivers, struct server_receiver, link);
        struct xns_reply reply = { .body = XNS_BODY_DELIVERY };
        struct xns_scalar more[DELIVERY_SCALARS_MAX];
        bool blocks = xns_kind_blocks(m->kind);
        uint32_t n;
        int fd;

        if (blocks && peer_envelope_add(receiver->peer, m, ++envelope_gen) < 0) {
                list_unlink(&receiver->link);
                server->hooks->refuse(receiver, -ENOMEM);
                return;
        }
        list_unlink(&m->link);
        delivery_fill(&reply.delivery, m);
        fd = server_take_fd(m, receiver, &reply.delivery);
        if (blocks) {
                server->served++;
                m->state = MESSAGE_DELIVERED;
                server->unanswered++;
        } else {
                server_done(server, m);
        }
        n = server_take_scalars(server, receiver, more);
        reply_set_more(&reply, more, n);
        list_unlink(&receiver->link);
        server->hooks->deliver(receiver, &reply, fd);
        for (uint32_t off = reply.n_more; off < n;) {
                struct xns_reply cont = { .seq = reply.seq };

                reply_set_more(&cont, more + off, n - off);
                off += cont.n_more;
                server->hooks->deliver_more(receiver, &cont);
        }
}

/* Moves messages along: stalled ones into free slots, queued ones to
 * waiting receivers, until neither can move. */
void server_pump(struct server *server) {
        for (;;) {
                server_unstall(server);
                if (list_is_empty(&server->queue) || list_is_empty(&server->receivers))
                        break;
                server_deliver_one(server);
        }
        server_show_ready(server);
}

/* A delivered message was answered or taken elsewhere: its slot is free. */
void server_answered(struct server *server, struct message *m) {
        if (m->holder)
                peer_envelope_remove(m->holder, m);
        server->unanswered--;
        server->used--;
        m->server = NULL;
        server_pump(server);
}

static void message_fail(struct server *server, struct message *m, int result) {
        list_unlink(&m->link);
        server->hooks->observe(server, m, result);
        if (m->caller)
                server->hooks->wake(m->caller, result);
        if (m->sender && m->posted)
                server->hooks->posted(m->sender, result, m->cid);
        else if (m->sender)
                server->hooks->wake(m->sender, result);
        message_free(m);
}

/*
 * server_fail_all() - empty a server that is going away.
 *
 * Every queued or stalled caller, stalled sender and waiting receiver wakes
 * with result (a negative errno). Messages already delivered belong to
 * their holder's envelope table and are failed by whoever releases it.
 */
void server_fail_all(struct server *server, int result) {
        struct message *m, *mtmp;
        struct server_receiver *r, *rtmp;

        list_for_each_entry_safe(r, rtmp, &server->receivers, link) {
                list_unlink(&r->link);
                server->hooks->refuse(r, result);
        }
        list_for_each_entry_safe(m, mtmp, &server->queue, link)
                message_fail(server, m, result);
        list_for_each_entry_safe(m, mtmp, &server->stalled, link)
                message_fail(server, m, result);
        server->used = server->unanswered;
        server_show_ready(server);
}
