/* cluster.c: the gateway's NATS connection: frames to and from other hosts, chunking, heartbeats and liveness. */
#include <errno.h>
#include <event2/event.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cluster.h"
#include "list.h"
#include "macro.h"
#include "mailbox.h"

/*
 * Every NATS message we send starts with a chunk prefix, little-endian:
 *   u64 message id (per sender, counting up), u32 index, u32 count.
 * A frame that fits is one message with index 0, count 1; a bigger one is
 * count messages with the same id and indices 0..count-1, published back to
 * back from the loop thread, so a receiver sees them in order and never
 * interleaved with another frame of the same sender (NATS keeps the order
 * per publisher).
 *
 * Small frames to one host, of one type, that the loop sends in one pass
 * travel together: count 0 marks a batch, whose payload is records of u32
 * length and a frame's bytes, in the order sent. A frame of another type
 * (another subject), a big one, or a full batch sends what waited first,
 * so a receiver sees every frame of a sender in the order sent.
 */
#define CHUNK_PREFIX 16
#define BATCH_BYTES_MAX (64u << 10)             /* a batch's payload; bigger frames go alone */
#define BATCH_RECORD 4
#define CHUNK_MARGIN 64                         /* below the server's max_payload, for safety */
#define CHUNK_FRAME_MAX (FRAME_DATA_MAX + 4096) /* a reassembled frame: payload and head */
#define REASSEMBLY_BYTES_MAX (256u << 20)       /* all partial frames together */
#define REASSEMBLY_TIMEOUT_MS 5000
#define INBOUND_BYTES_MAX (256u << 20)          /* messages waiting for the loop thread */
#define LIVENESS_TICK_MS 100
#define HOSTS_MAX 4096                          /* hosts heard at once: more are not listened to */
#define RECONNECT_WAIT_MS 100
#define PING_INTERVAL_MS 1000                   /* a silent server is left after 3 unanswered */
#define SUBJECT_MAX 128
#define FLUSH_MS 5000
#define CLOSE_WAIT_MS 5000                      /* libnats's threads to let go of us */

struct host {
        struct list link;
        char name[FRAME_HOST_MAX + 1];
        uint32_t tag;
        uint64_t epoch;
        uint64_t heard_ms;
};

/* The chunks of one frame so far, from one sender: at most one per sender. */
struct reassembly {
        struct list link;
        char from[FRAME_HOST_MAX + 1];
        enum frame_type type;
        uint64_t id;
        uint32_t next, count;
        uint8_t *buf;
        size_t len, size;
        uint64_t started_ms;
};

/* What a libnats thread hands the loop: a message, or a change of the connection. */
struct inbound {
        struct mailbox_item item;
        natsMsg *msg;                   /* NULL: a connection event */
        size_t bytes;
        uint64_t arrived_ms;            /* when libnats handed it over */
        bool up;
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
};

struct cluster {
        struct event_base *base;
        struct cluster_hooks hooks;
        char host[FRAME_HOST_MAX + 1];
        uint32_t tag;
        uint64_t epoch;
        natsConnection *nc;
        natsSubscription *sub_frames, *sub_hb;
        uint64_t seen_ms;               /* arrival of the last message the loop handled */
        struct mailbox *mailbox;
        struct event *hb_timer, *live_timer;
        struct event *ev_flush;         /* sends the outboxes, at the end of the pass */
        struct list outboxes;           /* struct outbox, one per host written to */
        struct list hosts;
        size_t n_hosts;
        struct list reassemblies;
        size_t reassembly_bytes;
        atomic_size_t inbound_bytes;    /* libnats threads add, the loop takes off */
        uint64_t next_msg_id;
        char url[256];

        /* libnats's threads are done with us: each subscription completed, the connection closed. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned subs_live;
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

static void put_le(uint8_t *p, uint64_t v, unsigned bytes) {
        for (unsigned i = 0; i < bytes; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes) {
        uint64_t v = 0;

        for (unsigned i = 0; i < bytes; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* --- libnats threads: hand everything to the loop ------------------------- */

static void inbound_drop(struct mailbox_item *item) {
        struct inbound *in = list_entry(&item->link, struct inbound, item.link);

        natsMsg_Destroy(in->msg);
        free(in);
}

static void on_nats_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
        struct cluster *c = closure;
        size_t bytes = (size_t)natsMsg_GetDataLength(msg);
        struct inbound *in;

        /* The loop is far behind: drop, as NATS drops for a slow consumer. */
        if (atomic_load(&c->inbound_bytes) + bytes > INBOUND_BYTES_MAX)
                goto drop;
        in = calloc(1, sizeof(*in));
        if (!in)
                goto drop;
        in->msg = msg;
        in->bytes = bytes;
        in->arrived_ms = now_ms();
        atomic_fetch_add(&c->inbound_bytes, bytes);
        mailbox_post(c->mailbox, &in->item);
        return;
drop:
        natsMsg_Destroy(msg);
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

static void on_sub_complete(void *closure) {
        struct cluster *c = closure;

        pthread_mutex_lock(&c->lock);
        c->subs_live--;
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

static struct reassembly *reassembly_find(struct cluster *c, const char *from) {
        struct reassembly *r;

        list_for_each_entry(r, &c->reassemblies, link)
                if (!strcmp(r->from, from))
                        return r;
        return NULL;
}

static void reassembly_free(struct cluster *c, struct reassembly *r) {
        if (!r)
                return;
        list_unlink(&r->link);
        c->reassembly_bytes -= r->size;
        free(r->buf);
        free(r);
}

/* A heartbeat from another host: up when new or with a new epoch (after a
 * down for the old one). */
static void host_heard(struct cluster *c, const struct frame_heartbeat *hb) {
        struct host *h = host_find(c, hb->host);
        uint64_t old_epoch;

        if (h && h->epoch == hb->epoch) {
                h->heard_ms = c->seen_ms;
                h->tag = hb->tag;
                return;
        }
        if (h) {
                old_epoch = h->epoch;
                h->epoch = hb->epoch;
                h->tag = hb->tag;
                h->heard_ms = c->seen_ms;
                reassembly_free(c, reassembly_find(c, h->name));
                if (c->hooks.host_down)
                        c->hooks.host_down(c->hooks.userdata, h->name, old_epoch);
        } else {
                if (c->n_hosts >= HOSTS_MAX)
                        return;
                h = calloc(1, sizeof(*h));
                if (!h)
                        return;
                c->n_hosts++;
                snprintf(h->name, sizeof(h->name), "%s", hb->host);
                h->tag = hb->tag;
                h->epoch = hb->epoch;
                h->heard_ms = c->seen_ms;
                list_link_tail(&c->hosts, &h->link);
        }
        if (c->hooks.host_up)
                c->hooks.host_up(c->hooks.userdata, h->name, h->tag, h->epoch);
}

/*
 * Hosts silent for CLUSTER_DEAD_MS are down and forgotten; partial frames
 * older than REASSEMBLY_TIMEOUT_MS are dropped. Silence is counted in the
 * time of arrival: while messages wait for the loop (a burst on a busy
 * machine), a heartbeat among them is not missed, so the clock is the
 * arrival of the last one handled; with none waiting, now.
 */
static void liveness_check(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;
        uint64_t now = now_ms();
        uint64_t clock = atomic_load(&c->inbound_bytes) > 0 ? c->seen_ms : now;
        struct reassembly *r;
        struct list *pos, *next;

        for (pos = c->reassemblies.next; pos != &c->reassemblies; pos = next) {
                next = pos->next;
                r = list_entry(pos, struct reassembly, link);
                if (now - r->started_ms > REASSEMBLY_TIMEOUT_MS)
                        reassembly_free(c, r);
        }
        for (pos = c->hosts.next; pos != &c->hosts; pos = next) {
                struct host *h = list_entry(pos, struct host, link);
                char name[FRAME_HOST_MAX + 1];
                uint64_t epoch = h->epoch;

                next = pos->next;
                if (clock <= h->heard_ms || clock - h->heard_ms <= CLUSTER_DEAD_MS)
                        continue;
                snprintf(name, sizeof(name), "%s", h->name);
                reassembly_free(c, reassembly_find(c, name));
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

                put_le(msg, id, 8);
                put_le(msg + 8, i, 4);
                put_le(msg + 12, count, 4);
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
                r = publish_chunked(c, box->subject, box->buf + CHUNK_PREFIX + BATCH_RECORD,
                                    box->len - CHUNK_PREFIX - BATCH_RECORD);
        } else if (box->n > 1) {
                put_le(box->buf, ++c->next_msg_id, 8);
                put_le(box->buf + 8, 0, 4);
                put_le(box->buf + 12, 0, 4);
                s = natsConnection_Publish(c->nc, box->subject, box->buf, (int)box->len);
                r = errno_from_nats(s);
        }
        if (r < 0)
                fprintf(stderr, "xnsgw: %u frames to %s lost: %s\n", box->n, box->subject, strerror(-r));
        box->n = 0;
        box->len = 0;
        return r;
}

static void outboxes_flush(evutil_socket_t fd, short what, void *arg) {
        struct cluster *c = arg;
        struct outbox *box;

        list_for_each_entry(box, &c->outboxes, link)
                (void)outbox_flush(c, box);
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
static int outbox_add(struct cluster *c, struct outbox *box, const char *host, enum frame_type type,
                      const uint8_t *buf, size_t len) {
        if (box->n > 0 && (box->type != type || box->len + BATCH_RECORD + len > CHUNK_PREFIX + BATCH_BYTES_MAX))
                (void)outbox_flush(c, box);
        if (box->n == 0) {
                snprintf(box->host, sizeof(box->host), "%s", host);
                box->type = type;
                frame_subject(c, box->subject, host, type);
                box->len = CHUNK_PREFIX;
        }
        put_le(box->buf + box->len, len, BATCH_RECORD);
        memcpy(box->buf + box->len + BATCH_RECORD, buf, len);
        box->len += BATCH_RECORD + len;
        box->n++;
        event_active(c->ev_flush, EV_TIMEOUT, 0);
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
        if (BATCH_RECORD + len <= BATCH_BYTES_MAX)
                return outbox_add(c, box, host, f->type, buf, len);
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
        snprintf(f.hb.host, sizeof(f.hb.host), "%s", c->host);
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
                snprintf(rt->from, sizeof(rt->from), "%s", tok[2]);
                rt->type = FRAME_HEARTBEAT;
                return 0;
        }
        if (n != 4 || strcmp(tok[1], c->host) || !frame_host_valid(tok[2]) ||
            frame_type_from_name(tok[3], &rt->type) < 0 || rt->type == FRAME_HEARTBEAT)
                return -EBADMSG;
        snprintf(rt->from, sizeof(rt->from), "%s", tok[2]);
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

static int reassembly_start(struct cluster *c, const struct route *rt, uint64_t id, uint32_t count,
                            struct reassembly **out) {
        struct reassembly *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        snprintf(r->from, sizeof(r->from), "%s", rt->from);
        r->type = rt->type;
        r->id = id;
        r->count = count;
        r->started_ms = now_ms();
        list_link_tail(&c->reassemblies, &r->link);
        *out = r;
        return 0;
}

/* Appends n bytes, within the per-frame and overall bounds. */
static int reassembly_append(struct cluster *c, struct reassembly *r, const uint8_t *p, size_t n) {
        size_t want = r->len + n, size;
        uint8_t *buf;

        if (n > CHUNK_FRAME_MAX - r->len)
                return -EMSGSIZE;
        if (want > r->size) {
                size = r->size ? r->size : 1u << 20;
                while (size < want)
                        size *= 2;
                if (size > CHUNK_FRAME_MAX)
                        size = CHUNK_FRAME_MAX;
                if (size - r->size > REASSEMBLY_BYTES_MAX - c->reassembly_bytes)
                        return -ENOBUFS;
                buf = realloc(r->buf, size);
                if (!buf)
                        return -ENOMEM;
                c->reassembly_bytes += size - r->size;
                r->buf = buf;
                r->size = size;
        }
        memcpy(r->buf + r->len, p, n);
        r->len += n;
        return 0;
}

/* One chunk of a frame sent in count > 1 parts. They come in order: a gap,
 * another id or a type change drops what was gathered. */
static void chunk_arrived(struct cluster *c, const struct route *rt, uint64_t id, uint32_t index, uint32_t count,
                          const uint8_t *p, size_t n) {
        struct reassembly *r = reassembly_find(c, rt->from);

        if (r && (r->id != id || r->next != index || r->count != count || r->type != rt->type)) {
                reassembly_free(c, r);
                r = NULL;
        }
        if (!r && (index != 0 || reassembly_start(c, rt, id, count, &r) < 0))
                return;
        if (n == 0 || reassembly_append(c, r, p, n) < 0) {
                reassembly_free(c, r);
                return;
        }
        if (++r->next < r->count)
                return;
        /* Complete: off the list before the hook runs (it may free c). */
        list_unlink(&r->link);
        c->reassembly_bytes -= r->size;
        frame_arrived(c, rt, r->buf, r->len);
        free(r->buf);
        free(r);
}

/* The frames of a batch, in order; a record that does not fit ends it. */
static void batch_arrived(struct cluster *c, const struct route *rt, const uint8_t *p, size_t len) {
        while (len >= BATCH_RECORD) {
                size_t n = (size_t)get_le(p, BATCH_RECORD);

                if (n > len - BATCH_RECORD)
                        return;
                frame_arrived(c, rt, p + BATCH_RECORD, n);
                p += BATCH_RECORD + n;
                len -= BATCH_RECORD + n;
        }
}

static void msg_arrived(struct cluster *c, natsMsg *msg) {
        const uint8_t *p = (const uint8_t *)natsMsg_GetData(msg);
        size_t len = (size_t)natsMsg_GetDataLength(msg);
        uint32_t index, count;
        struct route rt;
        uint64_t id;

        if (route_parse(c, natsMsg_GetSubject(msg), &rt) < 0 || len < CHUNK_PREFIX || !p)
                return;
        id = get_le(p, 8);
        index = (uint32_t)get_le(p + 8, 4);
        count = (uint32_t)get_le(p + 12, 4);
        if (count == 0 && index == 0 && rt.type != FRAME_HEARTBEAT) {
                batch_arrived(c, &rt, p + CHUNK_PREFIX, len - CHUNK_PREFIX);
                return;
        }
        if (count == 0 || index >= count || (rt.type == FRAME_HEARTBEAT && count != 1))
                return;
        if (count == 1) {
                frame_arrived(c, &rt, p + CHUNK_PREFIX, len - CHUNK_PREFIX);
                return;
        }
        chunk_arrived(c, &rt, id, index, count, p + CHUNK_PREFIX, len - CHUNK_PREFIX);
}

static void inbound_handle(void *userdata, struct mailbox_item *item) {
        struct inbound *in = list_entry(&item->link, struct inbound, item.link);
        struct cluster *c = userdata;

        if (in->msg) {
                atomic_fetch_sub(&c->inbound_bytes, in->bytes);
                c->seen_ms = in->arrived_ms;
                msg_arrived(c, in->msg);
        } else {
                if (in->up)
                        heartbeat_send(c);
                if (c->hooks.connection)
                        c->hooks.connection(c->hooks.userdata, in->up);
        }
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

        s = natsConnection_Subscribe(sub, c->nc, subject, on_nats_msg, c);
        if (s != NATS_OK)
                return s;
        pthread_mutex_lock(&c->lock);
        c->subs_live++;
        pthread_mutex_unlock(&c->lock);
        s = natsSubscription_SetOnCompleteCB(*sub, on_sub_complete, c);
        if (s == NATS_OK)
                s = natsSubscription_SetPendingLimits(*sub, -1, -1);
        return s;
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
                s = natsConnection_FlushTimeout(c->nc, FLUSH_MS);
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
        if (!c->hb_timer || !c->live_timer || !c->ev_flush || event_add(c->hb_timer, &hb) < 0 ||
            event_add(c->live_timer, &live) < 0)
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
        c->epoch = epoch;
        snprintf(c->host, sizeof(c->host), "%s", opt->host);
        list_init(&c->hosts);
        list_init(&c->reassemblies);
        list_init(&c->outboxes);
        atomic_init(&c->inbound_bytes, 0);
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
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
        *out = c;
        return 0;
}

/* Waits (bounded) until libnats's threads no longer call into c. */
static void wait_released(struct cluster *c) {
        struct timespec deadline;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += CLOSE_WAIT_MS / 1000;
        pthread_mutex_lock(&c->lock);
        while ((c->subs_live > 0 || !c->closed) &&
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
                event_free(c->ev_flush);
        }
        outboxes_free(c);
        if (c->nc) {
                natsConnection_Close(c->nc);
                wait_released(c);
                natsSubscription_Destroy(c->sub_frames);
                natsSubscription_Destroy(c->sub_hb);
                natsConnection_Destroy(c->nc);
        }
        mailbox_free(c->mailbox);
        while (!list_is_empty(&c->reassemblies))
                reassembly_free(c, list_first_entry(&c->reassemblies, struct reassembly, link));
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
