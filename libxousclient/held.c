/* held.c: Scalars that xnsd handed over behind a delivery (xns_reply.more),
 * kept in order per server until the next receives on it take them. Any
 * thread of the process may take them, as it may receive on the server. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xous-internal.h"

struct held {
        struct xns_sid sid;
        uint64_t generation;            /* session they came in */
        struct xns_scalar *v;           /* v[head..n) wait, oldest first */
        size_t head, n, cap;
        struct held *next;
};

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct held *held_list;

static struct held **held_find_locked(const struct xns_sid *sid) {
        struct held **h;

        for (h = &held_list; *h; h = &(*h)->next)
                if (xns_sid_equal(&(*h)->sid, sid))
                        return h;
        return h;
}

static void held_unlink_locked(struct held **h) {
        struct held *dead = *h;

        __atomic_store_n(h, dead->next, __ATOMIC_RELAXED);
        free(dead->v);
        free(dead);
}

/* Room for n more at the end of h->v, moving what waits to the front. */
static int held_reserve(struct held *h, size_t n) {
        struct xns_scalar *v;
        size_t cap;

        if (h->head > 0) {
                memmove(h->v, h->v + h->head, (h->n - h->head) * sizeof(h->v[0]));
                h->n -= h->head;
                h->head = 0;
        }
        if (h->n + n <= h->cap)
                return 0;
        cap = h->n + n > 2 * h->cap ? h->n + n : 2 * h->cap;
        v = realloc(h->v, cap * sizeof(v[0]));
        if (!v)
                return -ENOMEM;
        h->v = v;
        h->cap = cap;
        return 0;
}

/* held_put() - keep n Scalars for sid, after any it already holds. */
int held_put(uint64_t generation, const struct xns_sid *sid, const struct xns_scalar *v, size_t n) {
        struct held **slot, *h;
        int r;

        pthread_mutex_lock(&held_lock);
        slot = held_find_locked(sid);
        h = *slot;
        if (h && h->generation != generation) {
                held_unlink_locked(slot);
                h = NULL;
        }
        if (!h) {
                h = calloc(1, sizeof(*h));
                if (!h) {
                        pthread_mutex_unlock(&held_lock);
                        return -ENOMEM;
                }
                h->sid = *sid;
                h->generation = generation;
                h->next = *slot;
                __atomic_store_n(slot, h, __ATOMIC_RELAXED);
        }
        r = held_reserve(h, n);
        if (r == 0) {
                memcpy(h->v + h->n, v, n * sizeof(v[0]));
                h->n += n;
        }
        pthread_mutex_unlock(&held_lock);
        return r;
}

/* held_take() - the oldest Scalar held for sid in this session, if any. */
bool held_take(uint64_t generation, const struct xns_sid *sid, struct xns_scalar *out) {
        struct held **slot;
        bool found = false;

        if (!__atomic_load_n(&held_list, __ATOMIC_RELAXED))
                return false;           /* the common case, without the lock */
        pthread_mutex_lock(&held_lock);
        slot = held_find_locked(sid);
        if (*slot && (*slot)->generation != generation)
                held_unlink_locked(slot);
        else if (*slot) {
                struct held *h = *slot;

                *out = h->v[h->head++];
                found = true;
                if (h->head == h->n)
                        held_unlink_locked(slot);
        }
        pthread_mutex_unlock(&held_lock);
        return found;
}

/* held_drop() - the server is gone: what it held goes with it, as queued
 * Scalars do in xnsd. */
void held_drop(const struct xns_sid *sid) {
        struct held **slot;

        pthread_mutex_lock(&held_lock);
        slot = held_find_locked(sid);
        if (*slot)
                held_unlink_locked(slot);
        pthread_mutex_unlock(&held_lock);
}

/* held_drop_all() - the session ended (xnsd went away): its servers too. */
void held_drop_all(void) {
        pthread_mutex_lock(&held_lock);
        while (held_list)
                held_unlink_locked(&held_list);
        pthread_mutex_unlock(&held_lock);
}

/* Around fork(): the lock is taken, and a child holds nothing of its
 * parent's servers. */
void held_fork_prepare(void) {
        pthread_mutex_lock(&held_lock);
}

void held_fork_parent(void) {
        pthread_mutex_unlock(&held_lock);
}

void held_fork_child(void) {
        while (held_list)
                held_unlink_locked(&held_list);
        pthread_mutex_unlock(&held_lock);
}
