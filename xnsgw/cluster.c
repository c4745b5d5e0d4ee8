/* cluster.c: the gateway's NATS connection: frames to and from other hosts, chunking, heartbeats and liveness. */
#include <errno.h>
#include <event2/event.h>
#include <nats/nats.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "chunks.h"
#include "cluster.h"
#include "list.h"
#include "macro.h"
#include "mailbox.h"

/*
 * Frames travel in NATS messages as chunks.h says: alone, in parts, or in
 * batches. Small frames to one host, of one type, that the loop sends in one
 * pass travel together as a batch; a frame of another type (another
 * subject), a big one, or a full batch sends what waited first, so a
 * receiver sees every frame of a sender in the order sent (NATS keeps the
 * order per publisher).
 *
 * Under a stream of frames nobody waits for (Scalars and Moves, and the
 * word that they are queued), a pass ends with few of them, and each NATS
 * message wakes threads of both NATS servers and the other gateway. So
 * while such a stream flows (the last send carried at least
 * CLUSTER_LINGER_MIN_ITEMS of them, less than linger_us ago), they wait
 * until linger_us after that send; a frame someone waits for (a blocking
 * call, its answer, a grant) takes them along at the end of its pass. A
 * lone Scalar, or one in a ping-pong, leaves at once. Measured here
 * (xnsbench --remote --cases remote_scalar_throughput -n 100000, five
 * runs each, alternating): 239-270k Scalars/s without, 257-306k/s with
 * 500 us, faster in each pair (13% on average) and 10-18% less CPU per
 * Scalar; 1 ms made the proxy's window of unacknowledged Scalars the limit.
 */
#define BATCH_BYTES_MAX (64u << 10)             /* a batch's payload; bigger frames go alone */
#define LINGER_US 500                           /* the default of cluster_options.linger_us */
#define CHUNK_MARGIN 64                         /* below the server's max_payload, for safety */
#define IO_BUF_BYTES (256u << 10)               /* what one read of the NATS socket takes */
#define CATCH_UP_READS 64                       /* reads before hosts' silence is judged */
#define JUDGING_PUT_OFF_MAX 1                   /* liveness ticks skipped in a row, under a flood */
#define LIVENESS_TICK_MS 100
#define HOSTS_MAX 4096                          /* hosts heard at once: more are not listened to */
#define RECONNECT_WAIT_MS 100
#define PING_INTERVAL_MS 1000                   /* a silent server is left after 3 unanswered */
#define SUBJECT_MAX 128
#define FLUSH_MS 5000
#define CLOSE_WAIT_MS 5000                      /* libnats's threads to let go of us */
#define SERVE_POLL_MS 100
/* Messages read and done with, destroyed together: libnats frees each on a
 * thread of its own, woken per natsMsg_Destroy() it did not expect, which
 * cost a gateway a tenth of its CPU under a stream of Scalars. */
#define SPENT_MAX 64
#define SPENT_BYTES_MAX (1u << 20)

struct host {
        struct list link;
        char name[FRAME_HOST_MAX + 1];
        uint32_t tag;
        uint64_t epoch;
        uint64_t heard_ms;
};

/* What libnats's thread of callbacks hands the loop: the connection was lost or is back. */
struct inbound {
        struct mailbox_item item;
        bool up;
};

/*
 * libnats's socket on our loop. libnats asks for reads and writes from the
 * loop thread, and also from its reconnect and ping threads: what it asks
 * is noted under lock and applied on the loop thread (at once, or when woken
 * through efd). A new socket (a reconnect) is a new gen: its events are new.
 */
struct nats_io {
        pthread_mutex_t lock;
        int fd;                         /* under lock: libnats's socket, -1 while detached */
        unsigned gen;                   /* under lock */
        bool want_read, want_write;     /* under lock */
        pthread_t loop_thread;
        int efd;                        /* other threads changed what is wanted */
        struct event *ev_wake, *ev_read, *ev_write;
        struct event *ev_write_soon;    /* at the end of this loop pass */
        unsigned applied_gen;
        bool reading, writing;
};

/* The batch of frames waiting for the end of the loop pass, for one host. */
struct outbox {
        struct list link;
        char host[FRAME_HOST_MAX + 1];  /* where it goes, while n > 0 */
        enum frame_type type;
        char subject[SUBJECT_MAX];
        uint8_t *buf;                   /* CHUNK_PREFIX, then the records */
        size_t len;
        uint32_t n;
        uint32_t items;                 /* things nobody waits for, in the n frames */
        bool urgent;                    /* a frame someone waits for is among them */
};

struct cluster {
        struct event_base *base;
        struct cluster_hooks hooks;
        char host[FRAME_HOST_MAX + 1];
        uint32_t tag;
        uint64_t epoch;
        natsConnection *nc;
        natsSubscription *sub_frames, *sub_hb;  /* sync: drained after each read */
        struct nats_io io;
        struct mailbox *mailbox;
        struct event *ev_drain;         /* what arrived before the loop ran */
        struct event *hb_timer, *live_timer;
        struct event *ev_flush;         /* sends the outboxes, at the end of the pass */
        struct event *ev_linger;        /* ... or later, under a stream */
        uint64_t sent_us;               /* when the outboxes were last sent */
        uint32_t sent_items;            /* and how many things nobody waits for went */
        uint32_t linger_us;
        struct list outboxes;           /* struct outbox, one per host written to */
        struct list hosts;
        size_t n_hosts;
        unsigned judging_put_off;       /* liveness ticks in a row that found the socket not dry */
        struct chunks *chunks;          /* frames arriving in parts */
        natsMsg *spent[SPENT_MAX];      /* read, to destroy (at most a liveness tick later) */
        unsigned n_spent;
        size_t spent_bytes;
        uint64_t next_msg_id;
        char url[256];

        /* libnats's threads are done with us: the connection closed. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool closed;
};

static int errno_from_nats(natsStatus s) {
        switch (s) {
        case NATS_OK:
                return 0;
        case NATS_NO_MEMORY:
                return -ENOMEM;
        case NATS_CONNECTION_CLOSED:
        case NATS_CONNECTION_DISCONNECTED:
        case NATS_NO_SERVER:
        case NATS_STALE_CONNECTION:
                return -ENOTCONN;
        case NATS_MAX_PAYLOAD:
                return -EMSGSIZE;
        case NATS_INSUFFICIENT_BUFFER:
                return -ENOBUFS;
        case NATS_TIMEOUT:
                return -ETIMEDOUT;
        case NATS_INVALID_ARG:
        case NATS_INVALID_SUBJECT:
                return -EINVAL;
        case NATS_SSL_ERROR:
        case NATS_NOT_PERMITTED:
                return -EACCES;
        default:
                return -EIO;
        }
}

/* --- libnats's socket on our loop ---------------------------------------------- */

/*
 * libnats runs in its event-loop mode: the loop thread reads and writes its
 * socket, and drains the (sync) subscriptions right after each read, so a
 * frame is handled on the thread that read it. With async subscriptions,
 * each frame crossed two threads (libnats's reader, a subscription's
 * deliverer) before the loop had it: two wake-ups more per frame.
 */

static void subs_drain(struct cluster *c);
static void spent_destroy(struct cluster *c);
static void on_nats_io(evutil_socket_t fd, short what, void *arg);

/* Loop thread: make the events say what libnats wants. */
static void io_apply(struct cluster *c) {
        struct nats_io *io = &c->io;
        bool rd, wr;
        unsigned gen;
        int fd;

        pthread_mutex_lock(&io->lock);
        fd = io->fd;
        gen = io->gen;
        rd = io->want_read;
        wr = io->want_write;
        pthread_mutex_unlock(&io->lock);
        if (gen != io->applied_gen) {
                if (io->ev_read)
                        event_free(io->ev_read);
                if (io->ev_write)
                        event_free(io->ev_write);
                io->ev_read = io->ev_write = NULL;
                io->reading = io->writing = false;
                io->applied_gen = gen;
        }
        if (fd < 0)
                return;
        if (!io->ev_read) {
                io->ev_read = event_new(c->base, fd, EV_READ | EV_PERSIST, on_nats_io, c);
                io->ev_write = event_new(c->base, fd, EV_WRITE | EV_PERSIST, on_nats_io, c);
                if (!io->ev_read || !io->ev_write) {
                        /* Nothing is read: libnats's pings go unanswered, and it reconnects. */
                        fprintf(stderr, "xnsgw: out of memory for the NATS socket's events\n");
                        return;
                }
        }
        if (rd != io->reading && (rd ? event_add(io->ev_read, NULL) : event_del(io->ev_read)) == 0)
                io->reading = rd;
        if (wr != io->writing && (wr ? event_add(io->ev_write, NULL) : event_del(io->ev_write)) == 0)
                io->writing = wr;
}

/* Any thread, after changing what is wanted. */
static void io_kick(struct cluster *c) {
        if (pthread_equal(pthread_self(), c->io.loop_thread))
                io_apply(c);
        else
                cluster_wake(c);
}

/*
 * Loop thread: write what libnats buffered, then wait for the socket only if
 * some is left. A publish asks for the socket; its write waits for the end
 * of the loop pass, with every other publish of the pass, and mostly needs
 * no EPOLLOUT (two epoll_ctl calls fewer per pass).
 */
static void io_write_soon(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;
        bool wr;

        pthread_mutex_lock(&c->io.lock);
        wr = c->io.want_write;
        pthread_mutex_unlock(&c->io.lock);
        if (wr && !c->io.writing)
                natsConnection_ProcessWriteEvent(c->nc);
        io_apply(c);
}

static void io_woken(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;
        uint64_t n;

        (void)!read(c->io.efd, &n, sizeof(n));
        io_write_soon(-1, 0, c);
}

static void on_nats_io(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;

        if (what & EV_WRITE)
                natsConnection_ProcessWriteEvent(c->nc);
        if (what & EV_READ) {
                natsConnection_ProcessReadEvent(c->nc);
                subs_drain(c);
        }
}

/* libnats's event-loop callbacks; "loop" is our cluster. */
static natsStatus io_attach(void **userdata, void *loop, natsConnection *nc, natsSock fd) {
        struct cluster *c = loop;

        pthread_mutex_lock(&c->io.lock);
        c->io.fd = fd;
        c->io.gen++;
        c->io.want_read = true;
        c->io.want_write = false;
        pthread_mutex_unlock(&c->io.lock);
        *userdata = c;
        io_kick(c);
        return NATS_OK;
}

static natsStatus io_want(struct cluster *c, bool *want, bool add) {
        pthread_mutex_lock(&c->io.lock);
        *want = add;
        pthread_mutex_unlock(&c->io.lock);
        io_kick(c);
        return NATS_OK;
}

static natsStatus io_read(void *userdata, bool add) {
        struct cluster *c = userdata;

        return io_want(c, &c->io.want_read, add);
}

static natsStatus io_write(void *userdata, bool add) {
        struct cluster *c = userdata;

        if (!add || !pthread_equal(pthread_self(), c->io.loop_thread))
                return io_want(c, &c->io.want_write, add);
        pthread_mutex_lock(&c->io.lock);
        c->io.want_write = true;
        pthread_mutex_unlock(&c->io.lock);
        event_active(c->io.ev_write_soon, EV_TIMEOUT, 0);
        return NATS_OK;
}

static natsStatus io_detach(void *userdata) {
        struct cluster *c = userdata;

        pthread_mutex_lock(&c->io.lock);
        c->io.fd = -1;
        c->io.gen++;
        c->io.want_read = c->io.want_write = false;
        pthread_mutex_unlock(&c->io.lock);
        io_kick(c);
        return NATS_OK;
}

static int io_init(struct cluster *c) {
        struct nats_io *io = &c->io;

        io->fd = -1;
        io->loop_thread = pthread_self();
        io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (io->efd < 0)
                return -errno;
        io->ev_wake = event_new(c->base, io->efd, EV_READ | EV_PERSIST, io_woken, c);
        io->ev_write_soon = event_new(c->base, -1, 0, io_write_soon, c);
        if (!io->ev_wake || !io->ev_write_soon || event_add(io->ev_wake, NULL) < 0)
                return -ENOMEM;
        return 0;
}

static void io_done(struct cluster *c) {
        struct nats_io *io = &c->io;

        if (io->ev_read)
                event_free(io->ev_read);
        if (io->ev_write)
                event_free(io->ev_write);
        if (io->ev_wake)
                event_free(io->ev_wake);
        if (io->ev_write_soon)
                event_free(io->ev_write_soon);
        safe_close(io->efd);
        pthread_mutex_destroy(&io->lock);
}

/*
 * cluster_serve_until() - serve the NATS socket on the loop's thread, while
 * the loop does not run, until done(arg) or limit_ms passed. For threads
 * that wait on libnats (a flush, a JetStream request) before the loop runs
 * or after it stopped. Frames arriving meanwhile wait in their
 * subscriptions. cluster_wake() from the thread makes done() be asked again.
 */
void cluster_serve_until(struct cluster *c, bool (*done)(void *arg), void *arg, unsigned limit_ms) {
        uint64_t end = now_ms() + limit_ms;

        for (;;) {
                struct pollfd p[2] = { { .fd = c->io.efd, .events = POLLIN }, { .fd = -1 } };
                uint64_t now = now_ms();
                bool rd, wr;
                uint64_t n;

                if (done(arg) || now >= end)
                        return;
                pthread_mutex_lock(&c->io.lock);
                p[1].fd = c->io.fd;
                rd = c->io.want_read;
                wr = c->io.want_write;
                pthread_mutex_unlock(&c->io.lock);
                p[1].events = (rd ? POLLIN : 0) | (wr ? POLLOUT : 0);
                if (poll(p, 2, end - now < SERVE_POLL_MS ? (int)(end - now) : SERVE_POLL_MS) < 0 && errno != EINTR)
                        return;
                if (p[0].revents)
                        (void)!read(c->io.efd, &n, sizeof(n));
                if (wr && (p[1].revents & (POLLOUT | POLLERR | POLLHUP)))
                        natsConnection_ProcessWriteEvent(c->nc);
                if (rd && (p[1].revents & (POLLIN | POLLERR | POLLHUP)))
                        natsConnection_ProcessReadEvent(c->nc);
        }
}

void cluster_wake(struct cluster *c) {
        uint64_t one = 1;

        (void)!write(c->io.efd, &one, sizeof(one));
}

/* --- libnats's thread of callbacks ------------------------------------------ */

static void inbound_drop(struct mailbox_item *item) {
        free(list_entry(&item->link, struct inbound, item.link));
}

static void post_connection(struct cluster *c, bool up) {
        struct inbound *in = calloc(1, sizeof(*in));

        if (!in)
                return;
        in->up = up;
        mailbox_post(c->mailbox, &in->item);
}

static void on_nats_disconnected(natsConnection *nc, void *closure) {
        post_connection(closure, false);
}

static void on_nats_reconnected(natsConnection *nc, void *closure) {
        post_connection(closure, true);
}

static void on_nats_closed(natsConnection *nc, void *closure) {
        struct cluster *c = closure;

        pthread_mutex_lock(&c->lock);
        c->closed = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
}

/* --- hosts ---------------------------------------------------------------- */

static struct host *host_find(struct cluster *c, const char *name) {
        struct host *h;

        list_for_each_entry(h, &c->hosts, link)
                if (!strcmp(h->name, name))
                        return h;
        return NULL;
}

/* A heartbeat from another host: up when new or with a new epoch (after a
 * down for the old one). */
static void host_heard(struct cluster *c, const struct frame_heartbeat *hb) {
        struct host *h = host_find(c, hb->host);
        uint64_t old_epoch;

        if (h && h->epoch == hb->epoch) {
                h->heard_ms = now_ms();
                h->tag = hb->tag;
                return;
        }
        if (h) {
                old_epoch = h->epoch;
                h->epoch = hb->epoch;
                h->tag = hb->tag;
                h->heard_ms = now_ms();
                chunks_forget(c->chunks, h->name);
                if (c->hooks.host_down)
                        c->hooks.host_down(c->hooks.userdata, h->name, old_epoch);
        } else {
                if (c->n_hosts >= HOSTS_MAX)
                        return;
                h = calloc(1, sizeof(*h));
                if (!h)
                        return;
                c->n_hosts++;
                STR_COPY(h->name, hb->host);
                h->tag = hb->tag;
                h->epoch = hb->epoch;
                h->heard_ms = now_ms();
                list_link_tail(&c->hosts, &h->link);
        }
        if (c->hooks.host_up)
                c->hooks.host_up(c->hooks.userdata, h->name, h->tag, h->epoch);
}

/* Reads what waits in the NATS socket, up to CATCH_UP_READS reads: true
 * when nothing is left. */
static bool io_catch_up(struct cluster *c) {
        struct pollfd p = { .events = POLLIN };

        for (unsigned i = 0; i < CATCH_UP_READS; i++) {
                p.fd = c->io.reading ? event_get_fd(c->io.ev_read) : -1;
                if (p.fd < 0 || poll(&p, 1, 0) <= 0)
                        return true;
                natsConnection_ProcessReadEvent(c->nc);
                subs_drain(c);
        }
        return false;
}

/*
 * Hosts silent for CLUSTER_DEAD_MS are down and forgotten; partial frames
 * older than REASSEMBLY_TIMEOUT_MS are dropped. What waits in the socket is
 * read first: after a busy spell of the loop, a heartbeat among it is not
 * missed. Under a flood the socket may not run dry in CATCH_UP_READS
 * reads: then nobody is judged this tick, for JUDGING_PUT_OFF_MAX ticks at
 * most (a dead host is still found within a second).
 */
static void liveness_check(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;
        struct list *pos, *next;
        uint64_t clock;

        chunks_expire(c->chunks, now_ms());
        spent_destroy(c);
        if (!io_catch_up(c) && ++c->judging_put_off <= JUDGING_PUT_OFF_MAX)
                return;
        c->judging_put_off = 0;
        clock = now_ms();
        for (pos = c->hosts.next; pos != &c->hosts; pos = next) {
                struct host *h = list_entry(pos, struct host, link);
                char name[FRAME_HOST_MAX + 1];
                uint64_t epoch = h->epoch;

                next = pos->next;
                if (clock <= h->heard_ms || clock - h->heard_ms <= CLUSTER_DEAD_MS)
                        continue;
                STR_COPY(name, h->name);
                chunks_forget(c->chunks, name);
                list_unlink(&h->link);
                free(h);
                c->n_hosts--;
                if (c->hooks.host_down)
                        c->hooks.host_down(c->hooks.userdata, name, epoch);
        }
}

/* --- sending ---------------------------------------------------------------- */

/* Publishes buf as one or more chunks on subject. */
static int publish_chunked(struct cluster *c, const char *subject, const uint8_t *buf, size_t len) {
        int64_t max_payload = natsConnection_GetMaxPayload(c->nc);
        _cleanup_free_ uint8_t *msg = NULL;
        size_t chunk, count;
        uint64_t id = ++c->next_msg_id;

        if (max_payload < CHUNK_PREFIX + CHUNK_MARGIN + 1024)
                return -EMSGSIZE;
        chunk = (size_t)max_payload - CHUNK_PREFIX - CHUNK_MARGIN;
        count = len == 0 ? 1 : (len + chunk - 1) / chunk;
        if (count > UINT32_MAX)
                return -EMSGSIZE;
        msg = malloc(CHUNK_PREFIX + (len < chunk ? len : chunk));
        if (!msg)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                size_t off = i * chunk, n = len - off < chunk ? len - off : chunk;
                natsStatus s;

                chunk_prefix_put(msg, id, (uint32_t)i, (uint32_t)count);
                if (n > 0)
                        memcpy(msg + CHUNK_PREFIX, buf + off, n);
                s = natsConnection_Publish(c->nc, subject, msg, (int)(CHUNK_PREFIX + n));
                if (s != NATS_OK)
                        return errno_from_nats(s);
        }
        return 0;
}

/* The subject of frames of type from us to host. */
static void frame_subject(const struct cluster *c, char subject[SUBJECT_MAX], const char *host, enum frame_type type) {
        snprintf(subject, SUBJECT_MAX, "xns.%s.%s.%s", host, c->host, frame_type_name(type));
}

/* Publishes what box holds, as one frame or a batch, and empties it. */
static int outbox_flush(struct cluster *c, struct outbox *box) {
        int r = 0;
        natsStatus s;

        if (box->n == 1) {
                r = publish_chunked(c, box->subject, box->buf + CHUNK_PREFIX + CHUNK_RECORD,
                                    box->len - CHUNK_PREFIX - CHUNK_RECORD);
        } else if (box->n > 1) {
                chunk_prefix_put(box->buf, ++c->next_msg_id, 0, 0);
                s = natsConnection_Publish(c->nc, box->subject, box->buf, (int)box->len);
                r = errno_from_nats(s);
        }
        if (r < 0)
                fprintf(stderr, "xnsgw: %u frames to %s lost: %s\n", box->n, box->subject, strerror(-r));
        box->n = 0;
        box->len = 0;
        box->items = 0;
        box->urgent = false;
        return r;
}

static void outboxes_flush(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;
        struct outbox *box;

        c->sent_items = 0;
        list_for_each_entry(box, &c->outboxes, link) {
                c->sent_items += box->items;
                (void)outbox_flush(c, box);
        }
        c->sent_us = clock_us(CLOCK_MONOTONIC);
        if (c->ev_linger)
                event_del(c->ev_linger);
}

/* Sends the outboxes at the end of this pass, or later when box may
 * linger (see the top of this file). */
static void outboxes_flush_soon(struct cluster *c, const struct outbox *box) {
        uint64_t now;

        if (!box->urgent && event_pending(c->ev_linger, EV_TIMEOUT, NULL))
                return;                 /* the timer sends it with the others */
        if (!box->urgent && c->sent_items >= CLUSTER_LINGER_MIN_ITEMS) {
                now = clock_us(CLOCK_MONOTONIC);
                if (now - c->sent_us < c->linger_us) {
                        uint64_t wait = c->sent_us + c->linger_us - now;
                        struct timeval tv = { (time_t)(wait / 1000000), (suseconds_t)(wait % 1000000) };

                        if (event_add(c->ev_linger, &tv) == 0)
                                return;
                }
        }
        event_active(c->ev_flush, EV_TIMEOUT, 0);
}

/* How many things nobody waits for f carries: Scalars and Moves, or the
 * word that they are queued; 0 for a frame someone waits for. */
static uint32_t frame_items(const struct frame *f) {
        if (f->type == FRAME_CALL)
                return !xns_kind_blocks(f->call.kind);
        if (f->type == FRAME_ANSWER && f->answer.call == 0)
                return f->answer.n_queued;
        return 0;
}

/* The outbox of host, made when there is none. */
static struct outbox *outbox_get(struct cluster *c, const char *host) {
        struct outbox *box;

        list_for_each_entry(box, &c->outboxes, link)
                if (box->n > 0 && !strcmp(box->host, host))
                        return box;
        list_for_each_entry(box, &c->outboxes, link)
                if (box->n == 0)
                        return box;
        box = calloc(1, sizeof(*box));
        if (!box)
                return NULL;
        box->buf = malloc(CHUNK_PREFIX + BATCH_BYTES_MAX);
        if (!box->buf) {
                free(box);
                return NULL;
        }
        list_link_tail(&c->outboxes, &box->link);
        return box;
}

static void outboxes_free(struct cluster *c) {
        while (!list_is_empty(&c->outboxes)) {
                struct outbox *box = list_first_entry(&c->outboxes, struct outbox, link);

                list_unlink(&box->link);
                free(box->buf);
                free(box);
        }
}

/* Adds a frame of len bytes for host to box, sending what waited first
 * when it must: another type (subject), or no room. */
static int outbox_add(struct cluster *c, struct outbox *box, const char *host, const struct frame *f,
                      const uint8_t *buf, size_t len) {
        enum frame_type type = f->type;
        uint32_t items = frame_items(f);

        if (box->n > 0 && (box->type != type || box->len + CHUNK_RECORD + len > CHUNK_PREFIX + BATCH_BYTES_MAX))
                (void)outbox_flush(c, box);
        if (box->n == 0) {
                STR_COPY(box->host, host);
                box->type = type;
                frame_subject(c, box->subject, host, type);
                box->len = CHUNK_PREFIX;
        }
        chunk_record_put(box->buf + box->len, buf, len);
        box->len += CHUNK_RECORD + len;
        box->n++;
        box->items += items;
        box->urgent |= items == 0;
        outboxes_flush_soon(c, box);
        return 0;
}

/*
 * cluster_send() - send a frame to the gateway of host.
 *
 * Publishing never waits for an answer; while libnats reconnects, it
 * buffers (up to its reconnect buffer, 8 MiB: -ENOBUFS past it). A small
 * frame waits for the end of the loop pass, to leave with the others to
 * host (see the top of this file).
 */
int cluster_send(struct cluster *c, const char *host, const struct frame *f) {
        _cleanup_free_ uint8_t *buf = NULL;
        char subject[SUBJECT_MAX];
        struct outbox *box;
        size_t len;
        int r;

        if (!frame_host_valid(host) || f->type == FRAME_HEARTBEAT || !frame_type_name(f->type))
                return -EINVAL;
        r = frame_encode(f, &buf, &len);
        if (r < 0)
                return r;
        box = outbox_get(c, host);
        if (!box)
                return -ENOMEM;
        if (CHUNK_RECORD + len <= BATCH_BYTES_MAX)
                return outbox_add(c, box, host, f, buf, len);
        (void)outbox_flush(c, box);
        frame_subject(c, subject, host, f->type);
        return publish_chunked(c, subject, buf, len);
}

static void heartbeat_send(struct cluster *c) {
        struct frame f = { .type = FRAME_HEARTBEAT };
        _cleanup_free_ uint8_t *buf = NULL;
        char subject[SUBJECT_MAX];
        size_t len;

        if (!cluster_connected(c))
                return;
        STR_COPY(f.hb.host, c->host);
        f.hb.epoch = c->epoch;
        f.hb.tag = c->tag;
        if (frame_encode(&f, &buf, &len) < 0)
                return;
        snprintf(subject, sizeof(subject), "xns.hb.%s", c->host);
        (void)publish_chunked(c, subject, buf, len);
}

static void heartbeat_tick(evutil_socket_t fd, short what, void *arg) {
        heartbeat_send(arg);
}

/* --- receiving (loop thread) ---------------------------------------------- */

/* The parts of a subject we accept: xns.hb.<host>, or xns.<us>.<from>.<type>. */
struct route {
        char from[FRAME_HOST_MAX + 1];
        enum frame_type type;
};

static int route_parse(struct cluster *c, const char *subject, struct route *rt) {
        char buf[SUBJECT_MAX], *tok[5], *save = NULL, *t;
        unsigned n = 0;

        if (!subject || strlen(subject) >= sizeof(buf))
                return -EBADMSG;
        strcpy(buf, subject);
        for (t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save)) {
                if (n == ELEMENTSOF(tok))
                        return -EBADMSG;
                tok[n++] = t;
        }
        if (n < 3 || strcmp(tok[0], "xns"))
                return -EBADMSG;
        if (n == 3 && !strcmp(tok[1], "hb")) {
                if (!frame_host_valid(tok[2]))
                        return -EBADMSG;
                STR_COPY(rt->from, tok[2]);
                rt->type = FRAME_HEARTBEAT;
                return 0;
        }
        if (n != 4 || strcmp(tok[1], c->host) || !frame_host_valid(tok[2]) ||
            frame_type_from_name(tok[3], &rt->type) < 0 || rt->type == FRAME_HEARTBEAT)
                return -EBADMSG;
        STR_COPY(rt->from, tok[2]);
        return 0;
}

/* A whole frame's bytes arrived: decode and hand it up. Nothing of c is
 * touched after a hook ran. */
static void frame_arrived(struct cluster *c, const struct route *rt, const uint8_t *buf, size_t len) {
        struct frame f;

        if (frame_decode(&f, rt->type, buf, len) < 0)
                return;
        if (rt->type == FRAME_HEARTBEAT) {
                /* The subject names the sender; the frame must agree. We do not hear ourselves. */
                if (strcmp(f.hb.host, rt->from) || !strcmp(f.hb.host, c->host))
                        return;
                host_heard(c, &f.hb);
                return;
        }
        if (c->hooks.frame)
                c->hooks.frame(c->hooks.userdata, rt->from, &f);
}

/* A whole frame of a message on the subject rt names. */
struct arrival {
        struct cluster *c;
        const struct route *rt;
};

static void arrival_frame(void *userdata, const uint8_t *buf, size_t len) {
        const struct arrival *a = userdata;

        frame_arrived(a->c, a->rt, buf, len);
}

static void msg_arrived(struct cluster *c, natsMsg *msg) {
        struct route rt;
        struct arrival a = { .c = c, .rt = &rt };

        if (route_parse(c, natsMsg_GetSubject(msg), &rt) < 0)
                return;
        chunks_arrived(c->chunks, rt.from, rt.type, rt.type == FRAME_HEARTBEAT, (const uint8_t *)natsMsg_GetData(msg),
                       (size_t)natsMsg_GetDataLength(msg), now_ms(), arrival_frame, &a);
}

static void spent_destroy(struct cluster *c) {
        for (unsigned i = 0; i < c->n_spent; i++)
                natsMsg_Destroy(c->spent[i]);
        c->n_spent = 0;
        c->spent_bytes = 0;
}

/* msg is done with: destroyed with others (see SPENT_MAX). */
static void spent_add(struct cluster *c, natsMsg *msg) {
        c->spent[c->n_spent++] = msg;
        c->spent_bytes += (size_t)natsMsg_GetDataLength(msg);
        if (c->n_spent == SPENT_MAX || c->spent_bytes >= SPENT_BYTES_MAX)
                spent_destroy(c);
}

/* Every message the last read brought, heartbeats first. */
static void subs_drain(struct cluster *c) {
        natsSubscription *subs[] = { c->sub_hb, c->sub_frames };
        natsMsg *msg;

        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                while (subs[i] && natsSubscription_NextMsg(&msg, subs[i], 0) == NATS_OK) {
                        msg_arrived(c, msg);
                        spent_add(c, msg);
                }
}

static void drain_once(evutil_socket_t fd, short what, void *arg) {
        subs_drain(arg);
}

static void inbound_handle(void *userdata, struct mailbox_item *item) {
        struct inbound *in = list_entry(&item->link, struct inbound, item.link);
        struct cluster *c = userdata;

        if (in->up)
                heartbeat_send(c);
        if (c->hooks.connection)
                c->hooks.connection(c->hooks.userdata, in->up);
        inbound_drop(item);
}

/* --- setup ------------------------------------------------------------------ */

/* The comma-separated URLs into opts. */
static natsStatus options_set_servers(natsOptions *opts, const char *urls) {
        _cleanup_free_ char *copy = strdup(urls);
        const char *servers[16];
        char *save = NULL, *t;
        int n = 0;

        if (!copy)
                return NATS_NO_MEMORY;
        for (t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
                if (n == (int)ELEMENTSOF(servers))
                        return NATS_INVALID_ARG;
                servers[n++] = t;
        }
        if (n == 0)
                return NATS_INVALID_ARG;
        return natsOptions_SetServers(opts, servers, n);
}

static natsStatus options_build(struct cluster *c, const struct cluster_options *opt, natsOptions **out) {
        natsOptions *opts = NULL;
        char inbox[16 + FRAME_HOST_MAX];
        natsStatus s;

        snprintf(inbox, sizeof(inbox), "_INBOX_%s", c->host);
        s = natsOptions_Create(&opts);
        if (s == NATS_OK)
                s = options_set_servers(opts, opt->urls);
        if (s == NATS_OK)
                s = natsOptions_SetSendAsap(opts, true);
        if (s == NATS_OK)
                s = natsOptions_SetEventLoop(opts, c, io_attach, io_read, io_write, io_detach);
        if (s == NATS_OK)
                s = natsOptions_SetIOBufSize(opts, IO_BUF_BYTES);
        if (s == NATS_OK)
                s = natsOptions_SetMaxReconnect(opts, -1);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectWait(opts, RECONNECT_WAIT_MS);
        if (s == NATS_OK)
                s = natsOptions_SetPingInterval(opts, PING_INTERVAL_MS);
        if (s == NATS_OK)
                s = natsOptions_SetCustomInboxPrefix(opts, inbox);
        if (s == NATS_OK)
                s = natsOptions_SetDisconnectedCB(opts, on_nats_disconnected, c);
        if (s == NATS_OK)
                s = natsOptions_SetReconnectedCB(opts, on_nats_reconnected, c);
        if (s == NATS_OK)
                s = natsOptions_SetClosedCB(opts, on_nats_closed, c);
        if (s == NATS_OK && opt->creds_file)
                s = natsOptions_SetUserCredentialsFromFiles(opts, opt->creds_file, NULL);
        if (s == NATS_OK && opt->tls_ca_file)
                s = natsOptions_LoadCATrustedCertificates(opts, opt->tls_ca_file);
        if (s == NATS_OK && opt->tls_ca_file)
                s = natsOptions_SetSecure(opts, true);
        if (s != NATS_OK) {
                natsOptions_Destroy(opts);
                return s;
        }
        *out = opts;
        return NATS_OK;
}

static natsStatus subscribe(struct cluster *c, natsSubscription **sub, const char *subject) {
        natsStatus s;

        s = natsConnection_SubscribeSync(sub, c->nc, subject);
        if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(*sub, -1, -1);
        return s;
}

/* A flush on a thread of its own, the socket served here meanwhile. */
struct flush {
        struct cluster *c;
        natsStatus s;
        atomic_bool done;
};

static void *flush_main(void *arg) {
        struct flush *f = arg;

        f->s = natsConnection_FlushTimeout(f->c->nc, FLUSH_MS);
        atomic_store(&f->done, true);
        cluster_wake(f->c);
        return NULL;
}

static bool flush_done(void *arg) {
        struct flush *f = arg;

        return atomic_load(&f->done);
}

/* Blocks until the server answered a ping: it has all we sent before. */
static natsStatus flush_before_loop(struct cluster *c) {
        struct flush f = { .c = c, .s = NATS_TIMEOUT };
        pthread_t t;

        atomic_init(&f.done, false);
        if (pthread_create(&t, NULL, flush_main, &f) != 0)
                return NATS_NO_MEMORY;
        cluster_serve_until(c, flush_done, &f, FLUSH_MS + 1000);
        pthread_join(t, NULL);
        return f.s;
}

static int connect_and_subscribe(struct cluster *c, const struct cluster_options *opt, char *why, size_t why_size) {
        natsOptions *opts = NULL;
        char subject[SUBJECT_MAX];
        natsStatus s;

        s = options_build(c, opt, &opts);
        if (s == NATS_OK) {
                s = natsConnection_Connect(&c->nc, opts);
                natsOptions_Destroy(opts);
        }
        snprintf(subject, sizeof(subject), "xns.%s.>", c->host);
        if (s == NATS_OK)
                s = subscribe(c, &c->sub_frames, subject);
        if (s == NATS_OK)
                s = subscribe(c, &c->sub_hb, "xns.hb.*");
        /* The server has our interest before we say we are up. */
        if (s == NATS_OK)
                s = flush_before_loop(c);
        if (s != NATS_OK) {
                const char *text = nats_GetLastError(NULL);

                snprintf(why, why_size, "NATS %s: %s", opt->urls, text && *text ? text : natsStatus_GetText(s));
                return errno_from_nats(s) ?: -EIO;
        }
        return 0;
}

static int timers_start(struct cluster *c) {
        struct timeval hb = { 0, CLUSTER_HEARTBEAT_MS * 1000 }, live = { 0, LIVENESS_TICK_MS * 1000 };

        c->hb_timer = event_new(c->base, -1, EV_PERSIST, heartbeat_tick, c);
        c->live_timer = event_new(c->base, -1, EV_PERSIST, liveness_check, c);
        c->ev_flush = event_new(c->base, -1, 0, outboxes_flush, c);
        c->ev_linger = evtimer_new(c->base, outboxes_flush, c);
        c->ev_drain = event_new(c->base, -1, 0, drain_once, c);
        if (!c->hb_timer || !c->live_timer || !c->ev_flush || !c->ev_linger || !c->ev_drain ||
            event_add(c->hb_timer, &hb) < 0 || event_add(c->live_timer, &live) < 0)
                return -ENOMEM;
        return 0;
}

static int validate_options(const struct cluster_options *opt, char *why, size_t why_size) {
        if (!opt->urls || !*opt->urls) {
                snprintf(why, why_size, "no NATS server URL");
                return -EINVAL;
        }
        if (!frame_host_valid(opt->host)) {
                snprintf(why, why_size, "host name '%s' is not 1..%d of [A-Za-z0-9_-]", opt->host ?: "",
                         FRAME_HOST_MAX);
                return -EINVAL;
        }
        return 0;
}

/*
 * cluster_new() - connect to NATS as host, subscribe, start heartbeats.
 *
 * Blocks until connected and the subscriptions are known to the server
 * (before the loop runs); fails when no server of opt->urls answers.
 */
int cluster_new(struct cluster **out, struct event_base *base, const struct cluster_options *opt,
                const struct cluster_hooks *hooks, uint64_t epoch, char *why, size_t why_size) {
        struct cluster *c;
        int r;

        r = validate_options(opt, why, why_size);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->base = base;
        c->hooks = *hooks;
        c->tag = opt->tag;
        c->linger_us = opt->linger_us ?: LINGER_US;
        c->epoch = epoch;
        STR_COPY(c->host, opt->host);
        list_init(&c->hosts);
        list_init(&c->outboxes);
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        pthread_mutex_init(&c->io.lock, NULL);
        c->io.efd = -1;
        r = chunks_new(&c->chunks);
        if (r >= 0)
                r = io_init(c);
        if (r >= 0)
                r = mailbox_new(&c->mailbox, base, inbound_handle, inbound_drop, c);
        if (r >= 0)
                r = connect_and_subscribe(c, opt, why, why_size);
        if (r >= 0)
                r = timers_start(c);
        if (r < 0) {
                if (r == -ENOMEM && !*why)
                        snprintf(why, why_size, "out of memory");
                cluster_free(c);
                return r;
        }
        heartbeat_send(c);
        event_active(c->ev_drain, EV_TIMEOUT, 0);
        *out = c;
        return 0;
}

/* Waits (bounded) until libnats's threads no longer call into c. */
static void wait_released(struct cluster *c) {
        struct timespec deadline;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += CLOSE_WAIT_MS / 1000;
        pthread_mutex_lock(&c->lock);
        while (!c->closed &&
               pthread_cond_timedwait(&c->cond, &c->lock, &deadline) != ETIMEDOUT)
                ;
        pthread_mutex_unlock(&c->lock);
}

/*
 * cluster_free() - close the connection and forget everything; no hook is
 * called from here on. Free the registry (which shares the connection)
 * first.
 */
struct cluster *cluster_free(struct cluster *c) {
        if (!c)
                return NULL;
        if (c->hb_timer)
                event_free(c->hb_timer);
        if (c->live_timer)
                event_free(c->live_timer);
        if (c->ev_flush) {
                outboxes_flush(-1, 0, c);       /* what the last pass sent */
                io_write_soon(-1, 0, c);
                event_free(c->ev_flush);
        }
        if (c->ev_linger)
                event_free(c->ev_linger);
        if (c->ev_drain)
                event_free(c->ev_drain);
        outboxes_free(c);
        spent_destroy(c);
        if (c->nc) {
                natsConnection_Close(c->nc);
                wait_released(c);
                natsSubscription_Destroy(c->sub_frames);
                natsSubscription_Destroy(c->sub_hb);
                natsConnection_Destroy(c->nc);
        }
        io_done(c);
        mailbox_free(c->mailbox);
        chunks_free(c->chunks);
        while (!list_is_empty(&c->hosts)) {
                struct host *h = list_first_entry(&c->hosts, struct host, link);

                list_unlink(&h->link);
                free(h);
        }
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

/* --- queries ------------------------------------------------------------------ */

size_t cluster_hosts(struct cluster *c, void (*each)(void *userdata, const char *host, uint32_t tag, uint64_t epoch),
                     void *userdata) {
        struct host *h;
        size_t n = 0;

        list_for_each_entry(h, &c->hosts, link) {
                if (each)
                        each(userdata, h->name, h->tag, h->epoch);
                n++;
        }
        return n;
}

/* Tag 0 is no xnsd's: a gateway not attached yet sends it. */
const char *cluster_host_by_tag(struct cluster *c, uint32_t tag) {
        struct host *h;

        if (tag == 0)
                return NULL;
        if (tag == c->tag)
                return c->host;
        list_for_each_entry(h, &c->hosts, link)
                if (h->tag == tag)
                        return h->name;
        return NULL;
}

bool cluster_host_alive(struct cluster *c, const char *host) {
        return host && host_find(c, host) != NULL;
}

const char *cluster_server_url(struct cluster *c) {
        if (natsConnection_GetConnectedUrl(c->nc, c->url, sizeof(c->url)) != NATS_OK)
                c->url[0] = 0;
        return c->url;
}

bool cluster_connected(struct cluster *c) {
        return natsConnection_Status(c->nc) == NATS_CONN_STATUS_CONNECTED;
}

struct __natsConnection *cluster_nats(struct cluster *c) {
        return c->nc;
}
