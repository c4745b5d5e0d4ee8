/* held.c: the receives of one process on one server: Scalars that xnsd
 * handed over behind a delivery (xns_reply.more), kept in order until the
 * next receives on the server take them, and the gate that decides which
 * receive may take Scalars along.
 *
 * A receive may take Scalars along only when it is the process's only
 * receive on the server, and while it is on its way no other receive goes
 * to xnsd. So Scalars are held here only while no thread of the process
 * waits in xnsd: a thread that waits for a message either waits in xnsd,
 * where every new message reaches it, or here, for that one receive, and
 * takes what it brought. What one thread receives comes in the order sent:
 * what is held is older than anything still queued in xnsd.
 *
 * A watched server (xous_server_get_fd()) has a descriptor here that polls
 * readable while a receive would find a message: an epoll set of xnsd's
 * readiness timerfd (messages queued there), an eventfd of ours (Scalars
 * held here) and an idle link to xnsd (it hangs up when xnsd goes away,
 * and a receive then says so). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "xous-internal.h"

struct held {
        struct xns_sid sid;
        uint64_t generation;            /* session the Scalars came in */
        struct xns_scalar *v;           /* v[head..n) wait, oldest first */
        size_t head, n, cap;
        uint32_t receiving;             /* threads in a receive on sid */
        bool batching;                  /* a receive that takes Scalars along is on its way */
        bool batching_nowait;           /* ... and it will not wait in xnsd */
        int poll_fd;                    /* watched: the user's epoll set; -1 if not */
        int ready_fd;                   /* watched: xnsd's timerfd, in poll_fd */
        int link_fd;                    /* watched: the idle link that asked for it, in poll_fd */
        int held_fd;                    /* watched: eventfd in poll_fd, readable while Scalars are held */
        bool held_shown;                /* held_fd is readable */
        struct list link;               /* in held_list */
};

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t held_cond = PTHREAD_COND_INITIALIZER;
static struct list held_list = LIST_INIT(held_list);

static struct held *held_find_locked(const struct xns_sid *sid) {
        struct held *h;

        list_for_each_entry(h, &held_list, link)
                if (xns_sid_equal(&h->sid, sid))
                        return h;
        return NULL;
}

/* Makes held_fd say whether Scalars are held (a watched server). */
static void held_show(struct held *h) {
        bool any = h->head < h->n;
        eventfd_t v;

        if (h->held_fd < 0 || any == h->held_shown)
                return;
        if (any ? eventfd_write(h->held_fd, 1) == 0 : eventfd_read(h->held_fd, &v) == 0 || errno == EAGAIN)
                h->held_shown = any;
}

static void held_clear(struct held *h) {
        free(h->v);
        h->v = NULL;
        h->head = h->n = h->cap = 0;
        held_show(h);
}

static void held_unwatch(struct held *h) {
        h->poll_fd = safe_close(h->poll_fd);
        h->ready_fd = safe_close(h->ready_fd);
        h->link_fd = safe_close(h->link_fd);
        h->held_fd = safe_close(h->held_fd);
        h->held_shown = false;
}

/* Forgets an entry that holds nothing, that no receive uses and that is not watched. */
static void held_forget_idle_locked(struct held *h) {
        if (h->head < h->n || h->receiving > 0 || h->poll_fd >= 0)
                return;
        list_unlink(&h->link);
        free(h->v);
        free(h);
}

/* The entry for sid, made (last in held_list) if there is none. */
static struct held *held_get_locked(const struct xns_sid *sid) {
        struct held *h = held_find_locked(sid);

        if (!h) {
                h = calloc(1, sizeof(*h));
                if (!h)
                        return NULL;
                h->sid = *sid;
                h->poll_fd = h->ready_fd = h->link_fd = h->held_fd = -1;
                list_link_tail(&held_list, &h->link);
        }
        return h;
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

/* The oldest Scalar held in this session, if any; those of an older one are dropped. */
static bool held_pop(struct held *h, uint64_t generation, struct xns_scalar *out) {
        if (h->head < h->n && h->generation != generation)
                held_clear(h);
        if (h->head == h->n)
                return false;
        *out = h->v[h->head++];
        if (h->head == h->n)
                held_clear(h);
        return true;
}

/* Waits for held_cond (h stays: the caller counts in it), until deadline
 * at most; ETIMEDOUT once it has passed. held_cond runs on CLOCK_REALTIME. */
static int held_wait_locked(uint64_t deadline) {
        struct timespec ts;
        uint64_t now = now_ms(), ns;

        if (deadline == UINT64_MAX)
                return pthread_cond_wait(&held_cond, &held_lock);
        if (now >= deadline)
                return ETIMEDOUT;
        clock_gettime(CLOCK_REALTIME, &ts);
        ns = (uint64_t)ts.tv_nsec + (deadline - now) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        return pthread_cond_timedwait(&held_cond, &held_lock, &ts);
}

/*
 * held_enter() - start a receive on sid.
 *
 * Returns 1 with *out set to the oldest Scalar held for sid, or 0 when the
 * receive must go to xnsd, *batch saying whether it may take Scalars along
 * (then held_leave() must follow it), or -EAGAIN when another receive that
 * takes Scalars along is on its way and wait is false: a receive that waits
 * in xnsd for (nowait), or one that must send something first (!nowait).
 * Otherwise it waits here until that receive is back, or until deadline
 * (ms on CLOCK_MONOTONIC; UINT64_MAX: none) has passed: -ETIMEDOUT.
 */
int held_enter(uint64_t generation, const struct xns_sid *sid, bool nowait, bool wait, uint64_t deadline,
               struct xns_scalar *out, bool *batch) {
        struct held *h;
        int r;

        pthread_mutex_lock(&held_lock);
        h = held_get_locked(sid);
        if (!h) {
                pthread_mutex_unlock(&held_lock);
                return -ENOMEM;
        }
        h->receiving++;
        for (;;) {
                if (held_pop(h, generation, out)) {
                        r = 1;
                        break;
                }
                if (!h->batching) {
                        *batch = h->receiving == 1;
                        h->batching = *batch;
                        h->batching_nowait = *batch && nowait;
                        pthread_mutex_unlock(&held_lock);
                        return 0;
                }
                if (!wait || (nowait && !h->batching_nowait)) {
                        r = -EAGAIN;
                        break;
                }
                if (held_wait_locked(deadline) == ETIMEDOUT) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        h->receiving--;
        held_forget_idle_locked(h);
        pthread_mutex_unlock(&held_lock);
        return r;
}

/* held_put() - keep n Scalars for sid, after any it already holds; from the
 * receive that held_enter() let take them, before its held_leave(). */
int held_put(uint64_t generation, const struct xns_sid *sid, const struct xns_scalar *v, size_t n) {
        struct held *h;
        int r;

        pthread_mutex_lock(&held_lock);
        h = held_find_locked(sid);
        if (!h) {
                pthread_mutex_unlock(&held_lock);
                return -ESRCH;
        }
        if (h->head < h->n && h->generation != generation)
                held_clear(h);
        h->generation = generation;
        r = held_reserve(h, n);
        if (r == 0) {
                memcpy(h->v + h->n, v, n * sizeof(v[0]));
                h->n += n;
                held_show(h);
        }
        pthread_mutex_unlock(&held_lock);
        return r;
}

/* held_leave() - the receive that held_enter() let through is back. */
void held_leave(const struct xns_sid *sid, bool batch) {
        struct held *h;

        pthread_mutex_lock(&held_lock);
        h = held_find_locked(sid);
        if (h) {
                h->receiving--;
                if (batch) {
                        h->batching = false;
                        pthread_cond_broadcast(&held_cond);
                }
                held_forget_idle_locked(h);
        }
        pthread_mutex_unlock(&held_lock);
}

/* held_drop() - the server is gone: what it held goes with it, as queued
 * Scalars do in xnsd, and so does its descriptor. */
void held_drop(const struct xns_sid *sid) {
        struct held *h;

        pthread_mutex_lock(&held_lock);
        h = held_find_locked(sid);
        if (h) {
                held_clear(h);
                held_unwatch(h);
                held_forget_idle_locked(h);
        }
        pthread_mutex_unlock(&held_lock);
}

/* held_drop_all() - the session ended (xnsd went away): its servers too.
 * A watched server's descriptor stays open, for the user holds it, and
 * polls readable from now on: a receive there answers why. */
void held_drop_all(void) {
        struct held *h, *tmp;

        pthread_mutex_lock(&held_lock);
        list_for_each_entry_safe(h, tmp, &held_list, link) {
                held_clear(h);
                if (h->held_fd >= 0 && eventfd_write(h->held_fd, 1) == 0)
                        h->held_shown = true;
                held_forget_idle_locked(h);
        }
        pthread_mutex_unlock(&held_lock);
}

/* Around fork(): the lock is taken, and a child holds nothing of its
 * parent's servers and runs none of its receives. */
void held_fork_prepare(void) {
        pthread_mutex_lock(&held_lock);
}

void held_fork_parent(void) {
        pthread_mutex_unlock(&held_lock);
}

void held_fork_child(void) {
        struct held *h, *tmp;

        list_for_each_entry_safe(h, tmp, &held_list, link) {
                held_unwatch(h);
                free(h->v);
                free(h);
        }
        list_init(&held_list);
        pthread_cond_init(&held_cond, NULL);
        pthread_mutex_unlock(&held_lock);
}

/* The epoll set of ready_fd, link_fd and a new eventfd: h's descriptor. */
static int held_watch_locked(struct held *h, int ready_fd, int link_fd) {
        _cleanup_close_ int poll_fd = -1, held_fd = -1;
        struct epoll_event ev = { .events = EPOLLIN };

        poll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (poll_fd < 0)
                return -errno;
        held_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (held_fd < 0)
                return -errno;
        if (epoll_ctl(poll_fd, EPOLL_CTL_ADD, ready_fd, &ev) < 0 ||
            epoll_ctl(poll_fd, EPOLL_CTL_ADD, link_fd, &ev) < 0 ||
            epoll_ctl(poll_fd, EPOLL_CTL_ADD, held_fd, &ev) < 0)
                return -errno;
        h->poll_fd = TAKE_FD(poll_fd);
        h->held_fd = TAKE_FD(held_fd);
        h->ready_fd = ready_fd;
        h->link_fd = link_fd;
        h->held_shown = false;
        held_show(h);
        return 0;
}

/*
 * held_watch() - the descriptor of a watched sid: *fd is the one made
 * before (return 0), or, when there is none yet, a new one of *ready_fd
 * (xnsd's timerfd for sid) and *link_fd (the link that asked for it), both
 * taken on success. -ENOENT when there is none and ready_fd is NULL: ask
 * xnsd and come again.
 */
int held_watch(const struct xns_sid *sid, int *ready_fd, int *link_fd, int *fd) {
        struct held *h;
        int r = 0;

        pthread_mutex_lock(&held_lock);
        h = held_find_locked(sid);
        if (!h || h->poll_fd < 0) {
                if (!ready_fd)
                        r = -ENOENT;
                else if (!(h = held_get_locked(sid)))
                        r = -ENOMEM;
                else {
                        r = held_watch_locked(h, *ready_fd, *link_fd);
                        if (r == 0)
                                *ready_fd = *link_fd = -1;
                        else
                                held_forget_idle_locked(h);
                }
        }
        if (r == 0)
                *fd = h->poll_fd;
        pthread_mutex_unlock(&held_lock);
        return r;
}
