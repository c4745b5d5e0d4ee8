/* kept.c: buffers kept by number: those this process lends again and again
 * (its numbers, BufKeep), and those lent to it that it keeps (xnsd's). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "xous-internal.h"

/* --- buffers this process lends ------------------------------------------ */

static struct {
        pthread_mutex_t lock;
        uint32_t next_no;               /* never 0 */
        uint64_t generation;            /* the session n counts in */
        uint32_t n;                     /* kept by xnsd, at most XNS_BUFS_MAX */
} lender = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A number for a buffer to be kept in session generation, or 0 when the
 * process keeps XNS_BUFS_MAX already. */
static uint32_t lender_reserve(uint64_t generation) {
        uint32_t no = 0;

        pthread_mutex_lock(&lender.lock);
        if (lender.generation != generation) {
                lender.generation = generation;
                lender.n = 0;
        }
        if (lender.n < XNS_BUFS_MAX) {
                lender.n++;
                if (++lender.next_no == 0)
                        lender.next_no = 1;
                no = lender.next_no;
        }
        pthread_mutex_unlock(&lender.lock);
        return no;
}

static void lender_release(uint64_t generation) {
        pthread_mutex_lock(&lender.lock);
        if (lender.generation == generation && lender.n > 0)
                lender.n--;
        pthread_mutex_unlock(&lender.lock);
}

/* Asks xnsd to keep buf's memfd fd for lends of kind, as number no; not
 * while Scalars the thread posted wait (xnsd reads the link's frames only
 * after them, and the lend may have a time limit to keep). */
static int kept_ask(struct xous_buf *buf, uint32_t kind, int fd, uint32_t no, uint64_t *generation) {
        struct xns_request req = {
                .op = XNS_OP_BUF_KEEP,
                .buf_keep = { .buf = no, .len = (uint32_t)buf->len, .kind = kind },
        };
        struct xns_reply reply;
        struct link *l;
        int r;

        r = session_link(&l);
        if (r != 0)
                return r;
        if (link_posting(l))
                return -EBUSY;
        *generation = l->generation;
        return session_call(l, &req, fd, &reply, NULL);
}

/* One first lend of a buffer asks xnsd at a time; the others meanwhile go
 * by memfd (they never wait for it). */
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;

/* Has xnsd keep buf for lends of kind (its slot i), under keep_lock: the
 * number is set before the generation that makes it valid. Not asked again
 * in this session when the daemon refused; asked again next time when the
 * process keeps XNS_BUFS_MAX already, or Scalars wait. */
static void kept_keep(struct xous_buf *buf, uint32_t kind, unsigned i, int fd, uint64_t generation) {
        uint64_t asked_in = 0;
        uint32_t no = lender_reserve(generation);
        int r;

        if (no == 0)
                return;
        r = kept_ask(buf, kind, fd, no, &asked_in);
        if (r != 0) {
                lender_release(generation);
                if (r < 0)
                        return;
                no = 0;
        }
        buf->kept_no[i] = no;
        __atomic_store_n(&buf->kept_gen[i], asked_in, __ATOMIC_RELEASE);
}

/*
 * kept_lend() - how buf goes in a lend of kind: by its number (*no, and
 * -1), once xnsd keeps it for this session; else its memfd (returned, *no 0).
 */
int kept_lend(struct xous_buf *buf, uint32_t kind, uint32_t *no) {
        unsigned i = kind == XOUS_MSG_BORROW ? 0 : 1;
        int fd = i == 0 ? buf->ro_fd : buf->fd;
        uint64_t generation = session_generation();

        *no = 0;
        if (__atomic_load_n(&buf->kept_gen[i], __ATOMIC_ACQUIRE) != generation) {
                if (pthread_mutex_trylock(&keep_lock) != 0)
                        return fd;
                if (buf->kept_gen[i] != generation)
                        kept_keep(buf, kind, i, fd, generation);
                pthread_mutex_unlock(&keep_lock);
                if (__atomic_load_n(&buf->kept_gen[i], __ATOMIC_ACQUIRE) != generation)
                        return fd;
        }
        *no = buf->kept_no[i];
        return *no ? -1 : fd;
}

/*
 * kept_forget() - buf goes: xnsd lets its numbers go (what lends it now
 * keeps it). Never waits for xnsd: when no link is ready to say so, xnsd
 * keeps it until the process ends, and it still counts against the
 * process's XNS_BUFS_MAX.
 */
void kept_forget(struct xous_buf *buf) {
        uint64_t generation = session_generation();

        for (unsigned i = 0; i < 2; i++) {
                struct xns_request req = { .op = XNS_OP_BUF_FORGET, .buf_forget = buf->kept_no[i] };

                if (buf->kept_no[i] == 0 || buf->kept_gen[i] != generation)
                        continue;
                if (session_post_nowait(&req) == 0)
                        lender_release(generation);
                buf->kept_no[i] = 0;
                buf->kept_gen[i] = 0;
        }
}

/* Before a fork: before the session's locks (a first lend takes them under keep_lock). */
void kept_fork_prepare(void) {
        pthread_mutex_lock(&keep_lock);
        pthread_mutex_lock(&lender.lock);
}

/* After a fork, in both processes (the child's session generation moves on,
 * and lender_reserve() starts its count again). */
void kept_fork_done(void) {
        pthread_mutex_unlock(&lender.lock);
        pthread_mutex_unlock(&keep_lock);
}

/* --- buffers lent to this process ------------------------------------------ */

/* One that xnsd gave a link of this process to keep: mapped once,
 * inaccessible (PROT_NONE) while no envelope uses it. Each link keeps its
 * own, as xnsd counts them: a link's deliveries are read in order, so one
 * that names a buffer comes after the one that brought it. */
struct given {
        struct list link;               /* in its link's list; unlinked once forgotten */
        uint32_t no;
        int fd;
        void *data;                     /* NULL until mapped */
        size_t len;
        int prot;                       /* while an envelope uses it */
        unsigned users;                 /* envelopes using it */
};

/* Guards every link's list and every given: envelopes are dropped on any thread. */
static pthread_mutex_t given_lock = PTHREAD_MUTEX_INITIALIZER;

static void given_free(struct given *g) {
        if (g->data)
                munmap(g->data, g->len);
        safe_close(g->fd);
        free(g);
}

/* Lets g go: now, or when its last envelope is dropped. */
static void given_forget_locked(struct given *g) {
        list_unlink(&g->link);
        list_init(&g->link);
        if (g->users == 0)
                given_free(g);
}

static struct given *given_find_locked(struct link *l, uint32_t no) {
        struct given *g;

        list_for_each_entry(g, &l->given, link)
                if (g->no == no)
                        return g;
        return NULL;
}

/* A memfd *fd (taken) that l keeps as number no, len bytes lent as a
 * memory kind; mapped inaccessible until an envelope uses it. */
static int given_add_locked(struct link *l, uint32_t no, int *fd, size_t len, int prot) {
        struct given *g, *old = given_find_locked(l, no);
        struct stat st;

        if (len == 0 || fstat(*fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size < len)
                return -EBADMSG;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        if (old)                        /* xnsd's number came round again */
                given_forget_locked(old);
        g->data = mmap(NULL, len, PROT_NONE, MAP_SHARED, *fd, 0);
        if (g->data == MAP_FAILED)
                g->data = NULL;         /* mapped when first used */
        g->no = no;
        g->fd = TAKE_FD(*fd);
        g->len = len;
        g->prot = prot;
        list_link_tail(&l->given, &g->link);
        return 0;
}

/* g made accessible for one more envelope of len bytes. */
static int given_use_locked(struct given *g, size_t len, int prot) {
        void *p;

        if (g->prot != prot || len != g->len)
                return -EBADMSG;
        if (!g->data) {
                p = mmap(NULL, g->len, prot, MAP_SHARED, g->fd, 0);
                if (p == MAP_FAILED)
                        return -errno;
                g->data = p;
        } else if (g->users == 0 && mprotect(g->data, g->len, prot) < 0) {
                return -errno;
        }
        g->users++;
        return 0;
}

/*
 * given_take() - what a delivery on l says of kept buffers, before anything
 * else is done with it: one l may let go (d->forget), and one it keeps from
 * now on (d->buf, with its memfd *fd, taken) even if the delivery itself
 * goes no further, for xnsd counts it kept.
 */
void given_take(struct link *l, const struct xns_delivery *d, int *fd, int prot) {
        struct given *g;

        pthread_mutex_lock(&given_lock);
        if (d->forget && (g = given_find_locked(l, d->forget)))
                given_forget_locked(g);
        if (d->buf && *fd >= 0 && xns_kind_is_memory(d->kind))
                (void)given_add_locked(l, d->buf, fd, d->len, prot);
        pthread_mutex_unlock(&given_lock);
}

/*
 * given_map() - a delivery's memory that names buffer d->buf, kept by l:
 * sets env->data, env->fd (not env's to close) and env->given.
 */
int given_map(struct link *l, xous_envelope_t *env, const struct xns_delivery *d, int prot) {
        struct given *g;
        int r = -EBADMSG;

        pthread_mutex_lock(&given_lock);
        g = given_find_locked(l, d->buf);
        if (g)
                r = given_use_locked(g, env->len, prot);
        if (r == 0) {
                env->data = g->data;
                env->fd = g->fd;
                env->given = g;
        }
        pthread_mutex_unlock(&given_lock);
        return r;
}

/* given_unmap() - env is done with its kept buffer: inaccessible again once
 * no envelope uses it, or gone if forgotten meanwhile. */
void given_unmap(xous_envelope_t *env) {
        struct given *g = env->given;

        pthread_mutex_lock(&given_lock);
        if (--g->users == 0) {
                if (!list_is_linked(&g->link))
                        given_free(g);
                else
                        (void)mprotect(g->data, g->len, PROT_NONE);
        }
        pthread_mutex_unlock(&given_lock);
        env->given = NULL;
        env->data = NULL;
        env->fd = -1;
}

/* given_drop_link() - l closes: what it keeps goes (once no envelope uses it). */
void given_drop_link(struct link *l) {
        struct given *g;

        pthread_mutex_lock(&given_lock);
        while ((g = list_first_entry(&l->given, struct given, link)))
                given_forget_locked(g);
        pthread_mutex_unlock(&given_lock);
}

void given_fork_prepare(void) {
        pthread_mutex_lock(&given_lock);
}

void given_fork_done(void) {
        pthread_mutex_unlock(&given_lock);
}
