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

/*
 * kept_lend() - how buf goes in a lend of kind: by its number (*no, and
 * -1), once xnsd keeps it for this session; else its memfd (returned, *no
 * 0), when xnsd will not keep it: the process keeps XNS_BUFS_MAX already,
 * or Scalars wait (both: asked again next time), or the daemon refused
 * (not asked again in this session).
 */
int kept_lend(struct xous_buf *buf, uint32_t kind, uint32_t *no) {
        unsigned i = kind == XOUS_MSG_BORROW ? 0 : 1;
        int fd = i == 0 ? buf->ro_fd : buf->fd;
        uint64_t generation = session_generation();
        int r;

        *no = 0;
        if (buf->kept_gen[i] == generation) {
                *no = buf->kept_no[i];
                return *no ? -1 : fd;
        }
        buf->kept_no[i] = lender_reserve(generation);
        if (buf->kept_no[i] == 0)
                return fd;
        r = kept_ask(buf, kind, fd, buf->kept_no[i], &buf->kept_gen[i]);
        if (r != 0) {
                lender_release(generation);
                buf->kept_no[i] = 0;
                if (r < 0)
                        buf->kept_gen[i] = 0;
                return fd;
        }
        *no = buf->kept_no[i];
        return -1;
}

/* kept_forget() - buf goes: xnsd lets its numbers go (what lends it now keeps it). */
void kept_forget(struct xous_buf *buf) {
        uint64_t generation = session_generation();

        for (unsigned i = 0; i < 2; i++) {
                struct xns_request req = { .op = XNS_OP_BUF_FORGET, .buf_forget = buf->kept_no[i] };

                if (buf->kept_no[i] == 0 || buf->kept_gen[i] != generation)
                        continue;
                (void)xns_post(&req, -1);
                lender_release(generation);
                buf->kept_no[i] = 0;
        }
}

/* --- buffers lent to this process ------------------------------------------ */

/* One that xnsd gave this process to keep: mapped once, inaccessible
 * (PROT_NONE) while no envelope uses it. */
struct given {
        struct list link;               /* in given_list; unlinked once forgotten */
        uint64_t generation;
        uint32_t no;
        int fd;
        void *data;
        size_t len;
        int prot;                       /* while an envelope uses it */
        unsigned users;                 /* envelopes using it */
};

static pthread_mutex_t given_lock = PTHREAD_MUTEX_INITIALIZER;
static struct list given_list = LIST_INIT(given_list);

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

static struct given *given_find_locked(uint64_t generation, uint32_t no) {
        struct given *g;

        list_for_each_entry(g, &given_list, link)
                if (g->no == no && g->generation == generation)
                        return g;
        return NULL;
}

/* A memfd to keep as number no: mapped with prot, in use by one envelope. */
static int given_add_locked(uint64_t generation, uint32_t no, int *fd, size_t len, int prot, struct given **out) {
        struct given *g, *old = given_find_locked(generation, no);
        struct stat st;

        if (fstat(*fd, &st) < 0)
                return -errno;
        if (st.st_size < 0 || (uint64_t)st.st_size < len)
                return -EBADMSG;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->data = mmap(NULL, len, prot, MAP_SHARED, *fd, 0);
        if (g->data == MAP_FAILED) {
                free(g);
                return -errno;
        }
        if (old)                        /* xnsd's number came round again */
                given_forget_locked(old);
        g->generation = generation;
        g->no = no;
        g->fd = TAKE_FD(*fd);
        g->len = len;
        g->prot = prot;
        list_link_tail(&given_list, &g->link);
        *out = g;
        return 0;
}

/* Kept number no, made accessible with prot for one more envelope. */
static int given_use_locked(uint64_t generation, uint32_t no, size_t len, int prot, struct given **out) {
        struct given *g = given_find_locked(generation, no);

        if (!g || g->prot != prot || len > g->len)
                return -EBADMSG;
        if (g->users == 0 && mprotect(g->data, g->len, prot) < 0)
                return -errno;
        *out = g;
        return 0;
}

/* given_forget() - xnsd says kept buffer no may go (once no envelope uses it). */
void given_forget(uint64_t generation, uint32_t no) {
        struct given *g;

        pthread_mutex_lock(&given_lock);
        g = given_find_locked(generation, no);
        if (g)
                given_forget_locked(g);
        pthread_mutex_unlock(&given_lock);
}

/*
 * given_map() - a delivery's memory that names a kept buffer (d->buf):
 * with a memfd *fd beside it (taken), kept from now on. Sets env->data,
 * env->fd (not env's to close) and env->given.
 */
int given_map(xous_envelope_t *env, const struct xns_delivery *d, int *fd, int prot) {
        struct given *g = NULL;
        int r;

        pthread_mutex_lock(&given_lock);
        if (*fd >= 0)
                r = given_add_locked(env->generation, d->buf, fd, env->len, prot, &g);
        else
                r = given_use_locked(env->generation, d->buf, env->len, prot, &g);
        if (r == 0) {
                g->users++;
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

static void given_drop_all_locked(void) {
        struct given *g;

        while ((g = list_first_entry(&given_list, struct given, link)))
                given_forget_locked(g);
}

/* given_drop_all() - a new session: xnsd's numbers mean nothing any more. */
void given_drop_all(void) {
        pthread_mutex_lock(&given_lock);
        given_drop_all_locked();
        pthread_mutex_unlock(&given_lock);
}

void given_fork_prepare(void) {
        pthread_mutex_lock(&given_lock);
}

void given_fork_parent(void) {
        pthread_mutex_unlock(&given_lock);
}

void given_fork_child(void) {
        given_drop_all_locked();
        pthread_mutex_unlock(&given_lock);
}
