/* registry.c: the cluster-wide names in the JetStream KV bucket xns-names, off the loop thread. */
#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cluster.h"
#include "list.h"
#include "macro.h"
#include "mailbox.h"
#include "registry.h"

/*
 * Threads: a worker runs claims, releases and lookups one at a time, in the
 * order they were asked, each retried until it has an answer or
 * REGISTRY_CLAIM_MS passed; a watcher drains a KV watch of the whole bucket.
 * Both hand their results to the loop through the mailbox. Each thread has
 * its own JetStream context and bucket handle on the shared connection.
 */
#define STREAM "KV_" REGISTRY_BUCKET
#define SUBJECT_PREFIX "$KV." REGISTRY_BUCKET "."
#define KEY_MAX (2 * XNS_NAME_MAX)
#define JS_WAIT_MS 2000                 /* one JetStream request */
#define RETRY_MS 50                     /* between attempts of one operation */
#define WATCH_POLL_MS 100               /* the watcher looks at stopping this often */
#define WATCH_RETRY_MS 250

enum op_kind {
        OP_CLAIM,
        OP_RELEASE,
        OP_LOOKUP,
        OP_DROP_STALE,                  /* release name if a previous gateway of ours holds it */
        OP_CHANGED,                     /* from the watcher: a put or a delete */
};

/* One operation: queued for the worker, then posted back with its result. */
struct op {
        struct mailbox_item item;       /* its link is the worker queue's, then the mailbox's */
        enum op_kind kind;
        char name[XNS_NAME_MAX + 1];
        struct registry_entry entry;    /* claim: ours; after: the holder or what was found */
        char take_from[FRAME_HOST_MAX + 1]; /* claim: a host whose entry may be replaced ("": none) */
        bool has_entry;
        int result;
        registry_done_fn done;
        void *userdata;
};

struct cache_entry {
        struct list link;
        struct registry_entry e;
};

/* A thread's own view of the bucket. */
struct bucket {
        jsCtx *js;
        kvStore *kv;
};

struct registry {
        struct registry_hooks hooks;
        char host[FRAME_HOST_MAX + 1];
        struct cluster *cluster;
        natsConnection *nc;
        struct mailbox *mailbox;
        pthread_t worker, watcher;
        bool worker_started, watcher_started;

        pthread_mutex_t lock;           /* guards queue and stopping */
        pthread_cond_t cond;
        struct list queue;
        bool stopping;
        unsigned running;               /* threads not yet at their end */

        struct list cache;              /* loop thread: every name the watch has shown */
        struct {                        /* loop thread: registry_drop_stale() */
                uint64_t epoch;         /* ours; 0: not asked (yet) */
                registry_done_fn done;
                void *userdata;
        } stale;
};

/* What the stream's leader holds for a key. */
enum leader_state {
        KEY_ABSENT,
        KEY_DELETED,
        KEY_PRESENT,
};

/* --- keys and values ------------------------------------------------------ */

static void key_from_name(char key[KEY_MAX + 1], const char *name) {
        static const char hex[] = "0123456789abcdef";
        size_t i;

        for (i = 0; name[i] && i < XNS_NAME_MAX; i++) {
                key[2 * i] = hex[(uint8_t)name[i] >> 4];
                key[2 * i + 1] = hex[(uint8_t)name[i] & 15];
        }
        key[2 * i] = 0;
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* A key from the bucket (untrusted) back to a valid name. */
static int name_from_key(char name[XNS_NAME_MAX + 1], const char *key) {
        size_t len = key ? strnlen(key, KEY_MAX + 1) : 0;

        if (len == 0 || len > KEY_MAX || len % 2)
                return -EBADMSG;
        for (size_t i = 0; i < len / 2; i++) {
                int hi = hex_digit(key[2 * i]), lo = hex_digit(key[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -EBADMSG;
                name[i] = (char)(hi << 4 | lo);
        }
        name[len / 2] = 0;
        return xns_name_valid(name, len / 2) ? 0 : -EBADMSG;
}

static int entry_decode(struct registry_entry *e, const char *name, const void *data, int len) {
        struct frame_name_entry v;

        if (len < 0 || frame_name_entry_decode(&v, data, (size_t)len) < 0)
                return -EBADMSG;
        memset(e, 0, sizeof(*e));
        snprintf(e->name, sizeof(e->name), "%s", name);
        memcpy(e->host, v.host, sizeof(e->host));
        e->sid = v.sid;
        e->max_conns = v.max_conns;
        e->epoch = v.epoch;
        return 0;
}

static int entry_encode(const struct registry_entry *e, uint8_t **out, size_t *len) {
        struct frame_name_entry v = { .sid = e->sid, .max_conns = e->max_conns, .epoch = e->epoch };

        memcpy(v.host, e->host, sizeof(v.host));
        return frame_name_entry_encode(&v, out, len);
}

/* --- thread helpers --------------------------------------------------------- */

static bool stopping(struct registry *reg) {
        bool s;

        pthread_mutex_lock(&reg->lock);
        s = reg->stopping;
        pthread_mutex_unlock(&reg->lock);
        return s;
}

/* Sleeps ms unless the registry stops first: true when it does. */
static bool pause_ms(struct registry *reg, unsigned ms) {
        struct timespec until;
        bool s;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(ms % 1000) * 1000000;
        until.tv_sec += ms / 1000 + until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        pthread_mutex_lock(&reg->lock);
        while (!reg->stopping && pthread_cond_timedwait(&reg->cond, &reg->lock, &until) != ETIMEDOUT)
                ;
        s = reg->stopping;
        pthread_mutex_unlock(&reg->lock);
        return s;
}

static void bucket_close(struct bucket *b) {
        kvStore_Destroy(b->kv);
        jsCtx_Destroy(b->js);
        *b = (struct bucket){ 0 };
}

/* Whether a failed create asked for more replicas than the cluster has
 * nodes (nats-server 2.9 answers "insufficient resources", or "replicas > 1
 * not supported in non-clustered mode" when alone). */
static bool too_many_replicas(void) {
        const char *text = nats_GetLastError(NULL);

        return text && (strcasestr(text, "insufficient resources") || strcasestr(text, "replicas") ||
                        strcasestr(text, "no suitable peers"));
}

static natsStatus bucket_create(struct bucket *b) {
        natsStatus s = NATS_ERR;
        kvConfig cfg;

        for (int replicas = 3; replicas >= 1; replicas--) {
                kvConfig_Init(&cfg);
                cfg.Bucket = REGISTRY_BUCKET;
                cfg.History = 1;
                cfg.Replicas = replicas;
                s = js_CreateKeyValue(&b->kv, b->js, &cfg);
                if (s == NATS_OK || !too_many_replicas())
                        break;
        }
        return s;
}

/* Binds the bucket, making it when absent: 0, or -EAGAIN to try again. */
static int bucket_open(struct registry *reg, struct bucket *b) {
        jsOptions o;
        natsStatus s;

        if (b->kv)
                return 0;
        if (!b->js) {
                jsOptions_Init(&o);
                o.Wait = JS_WAIT_MS;
                if (natsConnection_JetStream(&b->js, reg->nc, &o) != NATS_OK)
                        return -EAGAIN;
        }
        s = js_KeyValue(&b->kv, b->js, REGISTRY_BUCKET);
        if (s == NATS_NOT_FOUND && bucket_create(b) != NATS_OK)
                /* another gateway may have made it meanwhile */
                s = js_KeyValue(&b->kv, b->js, REGISTRY_BUCKET);
        else if (s == NATS_NOT_FOUND)
                s = NATS_OK;
        return s == NATS_OK ? 0 : -EAGAIN;
}

/* --- the operations (worker thread) ----------------------------------------- */

/* The key as the stream's leader has it (a direct get may be answered by a
 * lagging replica): 0 with *state, *seq and (present, when it decodes) e;
 * or -EAGAIN. */
static int leader_read(struct bucket *b, const char *name, const char *key, enum leader_state *state, uint64_t *seq,
                       struct registry_entry *e, bool *has_entry) {
        char subject[sizeof(SUBJECT_PREFIX) + KEY_MAX];
        const char *op = NULL;
        natsMsg *msg = NULL;
        natsStatus s;

        *has_entry = false;
        snprintf(subject, sizeof(subject), SUBJECT_PREFIX "%s", key);
        s = js_GetLastMsg(&msg, b->js, STREAM, subject, NULL, NULL);
        if (s == NATS_NOT_FOUND) {
                *state = KEY_ABSENT;
                *seq = 0;
                return 0;
        }
        if (s != NATS_OK)
                return -EAGAIN;
        *seq = natsMsg_GetSequence(msg);
        if (natsMsgHeader_Get(msg, "KV-Operation", &op) == NATS_OK && op &&
            (!strcmp(op, "DEL") || !strcmp(op, "PURGE"))) {
                *state = KEY_DELETED;
        } else {
                *state = KEY_PRESENT;
                *has_entry = entry_decode(e, name, natsMsg_GetData(msg), natsMsg_GetDataLength(msg)) == 0;
        }
        natsMsg_Destroy(msg);
        return 0;
}

/* One attempt at a claim: 0 / -EEXIST when answered, -EAGAIN otherwise. */
static int claim_once(struct registry *reg, struct bucket *b, struct op *op, const char *key, const uint8_t *val,
                      size_t len) {
        struct registry_entry holder;
        enum leader_state state;
        bool has_holder;
        uint64_t seq;

        if (kvStore_Create(NULL, b->kv, key, val, (int)len) == NATS_OK)
                return 0;
        /* Taken, or the answer was lost: the leader knows which. */
        if (leader_read(b, op->name, key, &state, &seq, &holder, &has_holder) < 0)
                return -EAGAIN;
        if (state == KEY_ABSENT)
                return -EAGAIN;
        if (state == KEY_PRESENT &&
            !(has_holder && (!strcmp(holder.host, reg->host) || (op->take_from[0] && !strcmp(holder.host, op->take_from))))) {
                op->entry = holder;
                op->has_entry = has_holder;
                return -EEXIST;
        }
        /* Deleted, our own previous incarnation's (or our lost create), or
         * the silent host's we were told to replace: take it at its revision. */
        return kvStore_Update(NULL, b->kv, key, val, (int)len, seq) == NATS_OK ? 0 : -EAGAIN;
}

static int op_claim(struct registry *reg, struct bucket *b, struct op *op, const char *key) {
        uint64_t deadline = now_ms() + REGISTRY_CLAIM_MS;
        _cleanup_free_ uint8_t *val = NULL;
        size_t len;
        int r;

        snprintf(op->entry.host, sizeof(op->entry.host), "%s", reg->host);
        r = entry_encode(&op->entry, &val, &len);
        if (r < 0)
                return r;
        do {
                r = bucket_open(reg, b);
                if (r >= 0)
                        r = claim_once(reg, b, op, key, val, len);
                if (r != -EAGAIN)
                        return r;
        } while (now_ms() < deadline && !pause_ms(reg, RETRY_MS));
        return -ESHUTDOWN;
}

/* Always the leader's answer: a direct get (kvStore_Get) may come from a
 * lagging replica, whose miss hides a fresh claim and whose hit shows a
 * released name or a previous holder's SID (both seen in test runs). */
static int op_lookup_once(struct registry *reg, struct bucket *b, struct op *op, const char *key) {
        enum leader_state state;
        uint64_t seq;

        if (leader_read(b, op->name, key, &state, &seq, &op->entry, &op->has_entry) < 0)
                return -EAGAIN;
        return state == KEY_PRESENT && op->has_entry ? 0 : -ENOENT;
}

/* Deletes key if it is still at revision seq. */
static natsStatus delete_at(struct bucket *b, const char *key, uint64_t seq) {
        char subject[sizeof(SUBJECT_PREFIX) + KEY_MAX];
        natsMsg *msg = NULL;
        jsPubOptions po;
        natsStatus s;

        snprintf(subject, sizeof(subject), SUBJECT_PREFIX "%s", key);
        s = natsMsg_Create(&msg, subject, NULL, NULL, 0);
        if (s == NATS_OK)
                s = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
        if (s == NATS_OK) {
                jsPubOptions_Init(&po);
                po.ExpectLastSubjectSeq = seq;
                s = js_PublishMsg(NULL, b->js, msg, &po, NULL);
        }
        natsMsg_Destroy(msg);
        return s;
}

/* Deletes the name only while it is ours: 0; -ENOENT when there is none;
 * -EEXIST (holder in op) when another host's; -EAGAIN to try again. */
static int op_release_once(struct registry *reg, struct bucket *b, struct op *op, const char *key) {
        enum leader_state state;
        uint64_t seq;

        if (leader_read(b, op->name, key, &state, &seq, &op->entry, &op->has_entry) < 0)
                return -EAGAIN;
        if (state != KEY_PRESENT)
                return -ENOENT;
        if (!op->has_entry || strcmp(op->entry.host, reg->host))
                return -EEXIST;
        op->has_entry = false;
        return delete_at(b, key, seq) == NATS_OK ? 0 : -EAGAIN;
}

/* Deletes the name while a previous incarnation of our gateway holds it
 * (op->entry.epoch is ours): 0 when it did, -ENOENT when there was nothing
 * to do, -EAGAIN to try again. */
static int op_drop_stale_once(struct registry *reg, struct bucket *b, struct op *op, const char *key) {
        struct registry_entry holder;
        enum leader_state state;
        bool has_holder;
        uint64_t seq;

        if (leader_read(b, op->name, key, &state, &seq, &holder, &has_holder) < 0)
                return -EAGAIN;
        if (state != KEY_PRESENT || !has_holder || strcmp(holder.host, reg->host) || holder.epoch == op->entry.epoch)
                return -ENOENT;
        if (delete_at(b, key, seq) != NATS_OK)
                return -EAGAIN;
        op->entry = holder;
        op->has_entry = true;
        return 0;
}

static int op_once(struct registry *reg, struct bucket *b, struct op *op, const char *key) {
        switch (op->kind) {
        case OP_LOOKUP:
                return op_lookup_once(reg, b, op, key);
        case OP_RELEASE:
                return op_release_once(reg, b, op, key);
        default:
                return op_drop_stale_once(reg, b, op, key);
        }
}

static int op_run(struct registry *reg, struct bucket *b, struct op *op) {
        uint64_t deadline = now_ms() + REGISTRY_CLAIM_MS;
        char key[KEY_MAX + 1];
        int r;

        key_from_name(key, op->name);
        if (op->kind == OP_CLAIM)
                return op_claim(reg, b, op, key);
        do {
                r = bucket_open(reg, b);
                if (r >= 0)
                        r = op_once(reg, b, op, key);
                if (r != -EAGAIN)
                        return r;
        } while (now_ms() < deadline && !pause_ms(reg, RETRY_MS));
        return -ESHUTDOWN;
}

/* The loop's thread may be serving the socket for us (registry_free). */
static void thread_ends(struct registry *reg) {
        pthread_mutex_lock(&reg->lock);
        reg->running--;
        pthread_mutex_unlock(&reg->lock);
        cluster_wake(reg->cluster);
}

static struct op *queue_next(struct registry *reg) {
        struct op *op = NULL;

        pthread_mutex_lock(&reg->lock);
        while (!reg->stopping && list_is_empty(&reg->queue))
                pthread_cond_wait(&reg->cond, &reg->lock);
        if (!reg->stopping) {
                op = list_first_entry(&reg->queue, struct op, item.link);
                list_unlink(&op->item.link);
        }
        pthread_mutex_unlock(&reg->lock);
        return op;
}

static void *worker_main(void *arg) {
        struct registry *reg = arg;
        struct bucket b = { 0 };
        struct op *op;

        while ((op = queue_next(reg))) {
                op->result = op_run(reg, &b, op);
                mailbox_post(reg->mailbox, &op->item);
        }
        bucket_close(&b);
        thread_ends(reg);
        return NULL;
}

/* --- the watch (watcher thread) ------------------------------------------- */

/* A put or delete as the watch shows it, to the loop; anything that does not
 * parse (a key or a value nobody of ours wrote) is ignored. */
static void watch_post(struct registry *reg, kvEntry *e) {
        struct op *op;
        kvOperation kind = kvEntry_Operation(e);

        op = calloc(1, sizeof(*op));
        if (!op)
                return;
        op->kind = OP_CHANGED;
        if (name_from_key(op->name, kvEntry_Key(e)) < 0)
                goto ignore;
        if (kind == kvOp_Put) {
                if (entry_decode(&op->entry, op->name, kvEntry_Value(e), kvEntry_ValueLen(e)) < 0)
                        goto ignore;
                op->has_entry = true;
        } else if (kind != kvOp_Delete && kind != kvOp_Purge) {
                goto ignore;
        }
        mailbox_post(reg->mailbox, &op->item);
        return;
ignore:
        free(op);
}

static void *watcher_main(void *arg) {
        struct registry *reg = arg;
        struct bucket b = { 0 };
        kvWatcher *w = NULL;

        while (!stopping(reg)) {
                kvEntry *e = NULL;
                natsStatus s;

                if (!w && (bucket_open(reg, &b) < 0 || kvStore_WatchAll(&w, b.kv, NULL) != NATS_OK)) {
                        w = NULL;
                        pause_ms(reg, WATCH_RETRY_MS);
                        continue;
                }
                s = kvWatcher_Next(&e, w, WATCH_POLL_MS);
                if (s == NATS_TIMEOUT)
                        continue;
                if (s != NATS_OK) {
                        /* A broken watch: a new one replays every key, which the cache absorbs. */
                        kvWatcher_Destroy(w);
                        w = NULL;
                        continue;
                }
                if (e)          /* NULL marks the end of the initial values */
                        watch_post(reg, e);
                kvEntry_Destroy(e);
        }
        kvWatcher_Destroy(w);
        bucket_close(&b);
        thread_ends(reg);
        return NULL;
}

/* --- the loop thread ---------------------------------------------------------- */

static struct cache_entry *cache_find(struct registry *reg, const char *name) {
        struct cache_entry *c;

        list_for_each_entry(c, &reg->cache, link)
                if (!strcmp(c->e.name, name))
                        return c;
        return NULL;
}

static void cache_update(struct registry *reg, const char *name, const struct registry_entry *e) {
        struct cache_entry *c = cache_find(reg, name);

        if (!e) {
                if (c) {
                        list_unlink(&c->link);
                        free(c);
                }
                return;
        }
        if (!c) {
                c = calloc(1, sizeof(*c));
                if (!c)
                        return;
                list_link_tail(&reg->cache, &c->link);
        }
        c->e = *e;
}

static int op_queue(struct registry *reg, enum op_kind kind, const char *name, const struct registry_entry *e,
                    const char *take_from, registry_done_fn done, void *userdata) {
        struct op *op;

        if (!name || !xns_name_valid(name, strnlen(name, XNS_NAME_MAX + 1)))
                return -EINVAL;
        op = calloc(1, sizeof(*op));
        if (!op)
                return -ENOMEM;
        op->kind = kind;
        snprintf(op->name, sizeof(op->name), "%s", name);
        if (e)
                op->entry = *e;
        snprintf(op->entry.name, sizeof(op->entry.name), "%s", name);
        snprintf(op->take_from, sizeof(op->take_from), "%s", take_from ? take_from : "");
        op->done = done;
        op->userdata = userdata;
        pthread_mutex_lock(&reg->lock);
        list_link_tail(&reg->queue, &op->item.link);
        pthread_cond_broadcast(&reg->cond);
        pthread_mutex_unlock(&reg->lock);
        return 0;
}

/* Once asked to, each name the watch shows held by a previous gateway of
 * ours is released. */
static void stale_check(struct registry *reg, const struct registry_entry *e) {
        struct registry_entry ours = { .epoch = reg->stale.epoch };

        if (reg->stale.epoch == 0 || strcmp(e->host, reg->host) || e->epoch == reg->stale.epoch)
                return;
        (void)op_queue(reg, OP_DROP_STALE, e->name, &ours, NULL, reg->stale.done, reg->stale.userdata);
}

static void op_free(struct mailbox_item *item) {
        free(list_entry(&item->link, struct op, item.link));
}

static void op_finished(void *userdata, struct mailbox_item *item) {
        struct op *op = list_entry(&item->link, struct op, item.link);
        struct registry *reg = userdata;

        if (op->kind == OP_CHANGED) {
                cache_update(reg, op->name, op->has_entry ? &op->entry : NULL);
                if (op->has_entry)
                        stale_check(reg, &op->entry);
                if (reg->hooks.changed)
                        reg->hooks.changed(reg->hooks.userdata, op->name, op->has_entry ? &op->entry : NULL);
        } else if (op->done) {
                op->done(op->userdata, op->result, op->has_entry ? &op->entry : NULL);
        }
        free(op);
}

/*
 * registry_claim() - make e->name ours, cluster-wide (e->host is set to
 * ours). An entry of our own host (a previous incarnation) is taken over.
 */
int registry_claim(struct registry *reg, const struct registry_entry *e, registry_done_fn done, void *userdata) {
        return op_queue(reg, OP_CLAIM, e->name, e, NULL, done, userdata);
}

/*
 * registry_claim_from() - registry_claim(), taking the name over from host
 * from too if it is still from's (its gateway fell silent): the entry is
 * replaced at the revision read, so a claim that raced it in wins.
 */
int registry_claim_from(struct registry *reg, const struct registry_entry *e, const char *from, registry_done_fn done,
                        void *userdata) {
        return op_queue(reg, OP_CLAIM, e->name, e, from, done, userdata);
}

/* registry_release() - delete name if we hold it: 0; -ENOENT when nobody
 * does; -EEXIST (e: the holder) when another host does. */
int registry_release(struct registry *reg, const char *name, registry_done_fn done, void *userdata) {
        return op_queue(reg, OP_RELEASE, name, NULL, NULL, done, userdata);
}

/* registry_lookup() - who holds name, as the bucket's stream leader says. */
int registry_lookup(struct registry *reg, const char *name, registry_done_fn done, void *userdata) {
        return op_queue(reg, OP_LOOKUP, name, NULL, NULL, done, userdata);
}

/*
 * registry_drop_stale() - releases every name held by a previous gateway of
 * this host (an epoch other than ours), now and as the watch shows them:
 * names its host let go while no gateway was there to say so. Call it once
 * every name of the host was claimed anew (the operations run in order, so
 * once those claims are asked is enough). done hears 0 and the entry
 * dropped for each name released, -ENOENT for one not stale after all.
 */
void registry_drop_stale(struct registry *reg, uint64_t epoch, registry_done_fn done, void *userdata) {
        struct cache_entry *c;

        reg->stale.epoch = epoch;
        reg->stale.done = done;
        reg->stale.userdata = userdata;
        list_for_each_entry(c, &reg->cache, link)
                stale_check(reg, &c->e);
}

size_t registry_each(struct registry *reg, void (*each)(void *userdata, const struct registry_entry *e),
                     void *userdata) {
        struct cache_entry *c;
        size_t n = 0;

        list_for_each_entry(c, &reg->cache, link) {
                if (each)
                        each(userdata, &c->e);
                n++;
        }
        return n;
}

static int threads_start(struct registry *reg) {
        int r;

        reg->running = 2;
        r = pthread_create(&reg->worker, NULL, worker_main, reg);
        if (r) {
                reg->running = 0;
                return -r;
        }
        reg->worker_started = true;
        r = pthread_create(&reg->watcher, NULL, watcher_main, reg);
        if (r) {
                thread_ends(reg);
                return -r;
        }
        reg->watcher_started = true;
        return 0;
}

/*
 * registry_new() - the registry of host, on the cluster's connection. The
 * bucket is bound (or made) by the threads, in the background: operations
 * asked before wait for it.
 */
int registry_new(struct registry **out, struct event_base *base, struct cluster *cluster, const char *host,
                 const struct registry_hooks *hooks) {
        struct registry *reg;
        int r;

        if (!frame_host_valid(host))
                return -EINVAL;
        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->hooks = *hooks;
        snprintf(reg->host, sizeof(reg->host), "%s", host);
        reg->cluster = cluster;
        reg->nc = cluster_nats(cluster);
        pthread_mutex_init(&reg->lock, NULL);
        pthread_cond_init(&reg->cond, NULL);
        list_init(&reg->queue);
        list_init(&reg->cache);
        r = mailbox_new(&reg->mailbox, base, op_finished, op_free, reg);
        if (r >= 0)
                r = threads_start(reg);
        if (r < 0) {
                registry_free(reg);
                return r;
        }
        *out = reg;
        return 0;
}

static bool threads_ended(void *arg) {
        struct registry *reg = arg;
        bool ended;

        pthread_mutex_lock(&reg->lock);
        ended = reg->running == 0;
        pthread_mutex_unlock(&reg->lock);
        return ended;
}

/*
 * registry_free() - stop the threads (an operation under way is abandoned
 * at its next retry, within JS_WAIT_MS) and drop every pending operation:
 * no callback runs after this returns. Call it from the loop's thread
 * (the loop need not run): it serves the NATS socket until the threads end.
 */
struct registry *registry_free(struct registry *reg) {
        if (!reg)
                return NULL;
        pthread_mutex_lock(&reg->lock);
        reg->stopping = true;
        pthread_cond_broadcast(&reg->cond);
        pthread_mutex_unlock(&reg->lock);
        cluster_serve_until(reg->cluster, threads_ended, reg, 2 * JS_WAIT_MS);
        if (reg->worker_started)
                pthread_join(reg->worker, NULL);
        if (reg->watcher_started)
                pthread_join(reg->watcher, NULL);
        while (!list_is_empty(&reg->queue)) {
                struct op *op = list_first_entry(&reg->queue, struct op, item.link);

                list_unlink(&op->item.link);
                free(op);
        }
        mailbox_free(reg->mailbox);
        while (!list_is_empty(&reg->cache))
                cache_update(reg, list_first_entry(&reg->cache, struct cache_entry, link)->e.name, NULL);
        pthread_cond_destroy(&reg->cond);
        pthread_mutex_destroy(&reg->lock);
        free(reg);
        return NULL;
}
