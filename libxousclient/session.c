/* session.c: the process's session with xnsd: per-thread links, token, CIDs, reset and fork. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xous-internal.h"

/*
 * Links are never closed while their session lives: the daemon ties the
 * process's servers and CIDs to them and releases the process when the last
 * one closes. A thread keeps its link until it exits, then the link waits in
 * the pool for the next new thread. When any link finds the daemon gone the
 * generation moves on: the token and CIDs are forgotten, and every link of
 * the old generation is closed when next touched, so calls work again once a
 * daemon is back (as a new process to it).
 */
static struct {
        pthread_mutex_t lock;           /* guards everything below */
        uint64_t generation;            /* written under lock, read with __atomic */
        bool has_token;
        uint8_t token[XNS_TOKEN_LEN];
        struct list links;              /* every link of the process */
        struct list pool;               /* idle links of this generation */
        struct cid_set cids;            /* granted to this process */
        size_t n_post_errors;           /* failed posted Scalars, one per CID, oldest first */
        struct post_error {
                uint32_t cid;
                int error;
        } post_errors[8];
        bool key_ok;
        pthread_key_t key;              /* returns a thread's link at exit */
} session = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .generation = 1,
        .links = LIST_INIT(session.links),
        .pool = LIST_INIT(session.pool),
        .cids = CID_SET_INIT,
};

/* Held across the HELLO that obtains the token, so a process gets one. */
static pthread_mutex_t hello_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t session_once = PTHREAD_ONCE_INIT;
static __thread struct link *thread_link;

uint64_t session_generation(void) {
        return __atomic_load_n(&session.generation, __ATOMIC_ACQUIRE);
}

/* Starts a new generation: forgets the token and the CIDs, closes idle links. */
static void session_reset_locked(void) {
        struct link *l;

        __atomic_store_n(&session.generation, session.generation + 1, __ATOMIC_RELEASE);
        session.has_token = false;
        memset(session.token, 0, sizeof(session.token));
        cid_set_clear(&session.cids);
        session.n_post_errors = 0;
        held_drop_all();
        while ((l = list_first_entry(&session.pool, struct link, pool_link))) {
                list_unlink(&l->pool_link);
                list_unlink(&l->registry_link);
                link_free(l);
        }
}

/* A link that hung up means the daemon that issued our token is gone. One
 * ready link of this generation is enough to ask: they all share a daemon. */
static void session_check_alive_locked(void) {
        struct link *l;

        list_for_each_entry(l, &session.links, registry_link) {
                struct pollfd p = { .fd = l->fd, .events = POLLIN };

                if (!l->ready || l->generation != session.generation)
                        continue;
                if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
                        session_reset_locked();
                return;
        }
}

static void thread_link_set(struct link *l) {
        thread_link = l;
        if (session.key_ok)
                pthread_setspecific(session.key, l);
}

static void link_discard(struct link *l) {
        pthread_mutex_lock(&session.lock);
        list_unlink(&l->registry_link);
        pthread_mutex_unlock(&session.lock);
        link_free(l);
}

/* Thread exit: the link goes back to the pool, or is closed if stale. */
static void session_link_release(void *p) {
        struct link *l = p;

        if (thread_link == l)
                thread_link = NULL;
        pthread_mutex_lock(&session.lock);
        if (l->generation == session.generation && l->ready && !l->broken)
                list_link_front(&session.pool, &TAKE_PTR(l)->pool_link);
        else
                list_unlink(&l->registry_link);
        pthread_mutex_unlock(&session.lock);
        link_free(l);
}

static void session_atfork_prepare(void) {
        kept_fork_prepare();
        pthread_mutex_lock(&hello_lock);
        pthread_mutex_lock(&session.lock);
        held_fork_prepare();
        given_fork_prepare();
}

static void session_atfork_parent(void) {
        given_fork_done();
        held_fork_parent();
        pthread_mutex_unlock(&session.lock);
        pthread_mutex_unlock(&hello_lock);
        kept_fork_done();
}

/* The child shares the parent's sockets: close its copies, without sending
 * anything, and start with no link, no token and no CIDs. */
static void session_atfork_child(void) {
        struct link *l;

        held_fork_child();              /* first: the reset takes their locks */
        given_fork_done();              /* as the links go, what they keep goes */
        list_init(&session.pool);
        while ((l = list_first_entry(&session.links, struct link, registry_link))) {
                list_unlink(&l->registry_link);
                link_free(l);
        }
        session_reset_locked();
        cid_set_deinit(&session.cids);
        thread_link_set(NULL);
        pthread_mutex_unlock(&session.lock);
        pthread_mutex_unlock(&hello_lock);
        kept_fork_done();
}

static void session_setup(void) {
        session.key_ok = pthread_key_create(&session.key, session_link_release) == 0;
        pthread_atfork(session_atfork_prepare, session_atfork_parent, session_atfork_child);
}

static int session_store_token(struct link *l, const uint8_t *token) {
        int r = 0;

        pthread_mutex_lock(&session.lock);
        if (l->generation == session.generation) {
                memcpy(session.token, token, XNS_TOKEN_LEN);
                session.has_token = true;
        } else {
                r = -ECONNRESET;
        }
        pthread_mutex_unlock(&session.lock);
        return r;
}

/* HELLO for a new link: the first of a session fetches the token, under
 * hello_lock so that concurrent first calls do not start two sessions. */
static int session_link_hello(struct link *l) {
        uint8_t token[XNS_TOKEN_LEN];
        bool has_token;
        int r;

        pthread_mutex_lock(&hello_lock);
        pthread_mutex_lock(&session.lock);
        session_check_alive_locked();
        l->generation = session.generation;
        has_token = session.has_token;
        memcpy(token, session.token, sizeof(token));
        pthread_mutex_unlock(&session.lock);

        if (has_token) {
                pthread_mutex_unlock(&hello_lock);
                return link_hello(l, token, NULL);
        }
        r = link_hello(l, NULL, token);
        if (r == 0)
                r = session_store_token(l, token);
        pthread_mutex_unlock(&hello_lock);
        return r;
}

static int session_link_open(struct link **ret) {
        struct link *l;
        int r;

        r = link_new(&l);
        if (r < 0)
                return r;
        pthread_mutex_lock(&session.lock);
        list_link_front(&session.links, &l->registry_link);
        pthread_mutex_unlock(&session.lock);

        r = link_connect(l);
        if (r == 0)
                r = session_link_hello(l);
        if (r == 0) {
                r = link_chan_open(l);
                if (r > 0 || (r < 0 && !l->broken))
                        r = 0;          /* no channel: the socket carries the frames */
        }
        if (r != 0) {
                link_discard(l);
                return r;
        }
        pthread_mutex_lock(&session.lock);
        l->ready = true;
        pthread_mutex_unlock(&session.lock);
        *ret = l;
        return 0;
}

/*
 * An idle link, unless every one still has posted Scalars that xnsd has not
 * queued: xnsd reads nothing else of such a link until they are (their
 * server's queue is full), and the thread that takes it might be the one to
 * make room. Those wait in the pool; a new link is opened instead.
 */
static struct link *session_pool_take(void) {
        struct link *l, *found = NULL;

        pthread_mutex_lock(&session.lock);
        list_for_each_entry(l, &session.pool, pool_link)
                if (!link_posting(l)) {
                        found = l;
                        break;
                }
        if (found)
                list_unlink(&found->pool_link);
        pthread_mutex_unlock(&session.lock);
        return found;
}

/* An idle link from the pool, else a new one. */
static int session_link_idle(struct link **ret) {
        *ret = session_pool_take();
        return *ret ? 0 : session_link_open(ret);
}

/*
 * session_link() - the calling thread's link, ready for requests.
 *
 * Replaces a link of an old generation; takes an idle one from the pool,
 * else opens one. Returns 0, a negative errno (the daemon unreachable) or a
 * positive xous error (the daemon refused the HELLO).
 */
int session_link(struct link **ret) {
        struct link *l = thread_link;
        int r;

        if (l && l->generation == session_generation()) {
                *ret = l;
                return 0;
        }
        pthread_once(&session_once, session_setup);
        if (l) {
                thread_link_set(NULL);
                link_discard(l);
        }
        r = session_link_idle(&l);
        if (r != 0)
                return r;
        thread_link_set(l);
        *ret = l;
        return 0;
}

/* The thread's link died: the daemon is gone, so is the session. */
static void session_link_broken(struct link *l) {
        if (thread_link == l)
                thread_link_set(NULL);
        pthread_mutex_lock(&session.lock);
        if (l->generation == session.generation)
                session_reset_locked();
        list_unlink(&l->registry_link);
        pthread_mutex_unlock(&session.lock);
        link_free(l);
}

/*
 * session_call_detached() - req on a new link of the session that the
 * caller keeps when it is answered 0: *link_fd is its socket, which
 * carries nothing more and hangs up when xnsd goes away. The session's
 * other links keep it alive.
 */
int session_call_detached(struct xns_request *req, struct xns_reply *reply, int *reply_fd, int *link_fd) {
        struct link *l;
        int r;

        pthread_once(&session_once, session_setup);
        r = session_link_open(&l);
        if (r != 0)
                return r;
        r = link_call(l, req, -1, reply, reply_fd);
        if (l->broken) {
                session_link_broken(l);
                return r;
        }
        if (r != 0) {           /* a refusal: the link joins the pool (it may be the session's only one) */
                pthread_mutex_lock(&session.lock);
                if (l->generation == session.generation)
                        list_link_front(&session.pool, &TAKE_PTR(l)->pool_link);
                pthread_mutex_unlock(&session.lock);
                if (l)
                        link_discard(l);
                return r;
        }
        *link_fd = TAKE_FD(l->fd);
        link_discard(l);
        return 0;
}

/*
 * session_link_aside() - for a receive that must not wait behind the
 * thread's posted Scalars (xnsd reads nothing else of a link while they
 * wait for room in a full queue, which the receive may be the one to
 * empty): another link, idle from the pool or new, is the thread's until
 * session_link_aside_end(). *aside is it, *own the thread's own.
 */
int session_link_aside(struct link **aside, struct link **own) {
        struct link *l;
        int r;

        r = session_link_idle(&l);
        if (r != 0)
                return r;
        *own = thread_link;
        thread_link_set(l);
        *aside = l;
        return 0;
}

/* The aside link back to the pool (it is gone already if it broke, and
 * with it the session), and the thread's own link back to the thread. */
void session_link_aside_end(struct link *aside, struct link *own) {
        if (thread_link == aside)
                session_link_release(aside);
        thread_link_set(own);
}

/* The result of a call on the thread's link l, which is gone if it broke. */
static int session_after(struct link *l, int r) {
        if (l->broken)
                session_link_broken(l);
        return r;
}

/* link_call() and the like on the thread's link l; l is gone if the link broke. */
int session_call(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd) {
        return session_after(l, link_call(l, req, fd, reply, reply_fd));
}

/* session_call() giving up after timeout_ms (UINT32_MAX: never); see link_call_timeout(). */
int session_call_timeout(struct link *l, struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd,
                         uint32_t timeout_ms, int *release_fd) {
        if (timeout_ms == UINT32_MAX) {
                if (release_fd)
                        *release_fd = -1;
                return session_call(l, req, fd, reply, reply_fd);
        }
        return session_after(l, link_call_timeout(l, req, fd, reply, reply_fd, timeout_ms, release_fd));
}

int session_post(struct link *l, struct xns_request *req, int fd) {
        return session_after(l, link_post(l, req, fd));
}

int session_read_continued(struct link *l, uint32_t seq, struct xns_reply *reply) {
        return session_after(l, link_read_continued(l, seq, reply));
}

/* link_ring_drain() on the thread's link l, which is gone if it broke. */
int session_drain_posted(struct link *l, uint64_t deadline) {
        return session_after(l, link_ring_drain(l, deadline));
}

int session_post_scalar(struct link *l, struct xns_request *req) {
        return session_after(l, link_post_scalar(l, req));
}

/* A request that wants an answer, on the calling thread's link. */
int xns_call(struct xns_request *req, int fd, struct xns_reply *reply, int *reply_fd) {
        struct link *l;
        int r;

        if (reply_fd)
                *reply_fd = -1;
        r = session_link(&l);
        if (r != 0)
                return r;
        return session_call(l, req, fd, reply, reply_fd);
}

/* A fire-and-forget request, on the calling thread's link. */
int xns_post(struct xns_request *req, int fd) {
        struct link *l;
        int r;

        r = session_link(&l);
        if (r != 0)
                return r;
        return session_post(l, req, fd);
}

/*
 * session_post_nowait() - a fire-and-forget request on a link that is ready
 * already: the thread's, else an idle one. Never opens a link, so never
 * waits for xnsd to answer: -ENOTCONN when there is none.
 */
int session_post_nowait(struct xns_request *req) {
        struct link *l = thread_link;
        int r;

        if (l && l->generation == session_generation())
                return session_post(l, req, -1);
        l = session_pool_take();
        if (!l)
                return -ENOTCONN;
        r = link_post(l, req, -1);
        if (l->broken)
                session_link_broken(l);
        else
                session_link_release(l);
        return r;
}

/* Finds cid's failure, or the end of the list. */
static size_t post_error_find_locked(uint32_t cid) {
        size_t i;

        for (i = 0; i < session.n_post_errors && session.post_errors[i].cid != cid; i++)
                ;
        return i;
}

static void post_error_remove_locked(size_t i) {
        if (i == session.n_post_errors)
                return;
        memmove(session.post_errors + i, session.post_errors + i + 1,
                (session.n_post_errors - i - 1) * sizeof(session.post_errors[0]));
        session.n_post_errors--;
}

/* A posted Scalar on cid could not be queued: the next send on cid says
 * so. With more CIDs failing than there are slots, the oldest is forgotten. */
void session_note_post_error(uint64_t generation, uint32_t cid, int error) {
        size_t i;

        pthread_mutex_lock(&session.lock);
        if (generation == session.generation && cid_set_contains(&session.cids, cid)) {
                i = post_error_find_locked(cid);
                if (i == ELEMENTSOF(session.post_errors)) {
                        post_error_remove_locked(0);
                        i = session.n_post_errors;
                }
                if (i == session.n_post_errors)
                        session.n_post_errors++;
                session.post_errors[i] = (struct post_error){ .cid = cid, .error = error };
        }
        pthread_mutex_unlock(&session.lock);
}

/* Before posting on cid: SERVER_NOT_FOUND for a CID never granted, else a
 * failure of an earlier Scalar on it (reported once), else 0. */
int session_check_post(uint32_t cid) {
        int r = 0;
        size_t i;

        pthread_mutex_lock(&session.lock);
        if (!cid_set_contains(&session.cids, cid)) {
                r = XOUS_ERR_SERVER_NOT_FOUND;
        } else if ((i = post_error_find_locked(cid)) < session.n_post_errors) {
                r = session.post_errors[i].error;
                post_error_remove_locked(i);
        }
        pthread_mutex_unlock(&session.lock);
        return r;
}

bool session_has_cid(uint32_t cid) {
        bool found;

        pthread_mutex_lock(&session.lock);
        found = cid_set_contains(&session.cids, cid);
        pthread_mutex_unlock(&session.lock);
        return found;
}

/* Records a CID granted in the given generation, unless that has ended. */
int session_add_cid(uint64_t generation, uint32_t cid) {
        int r = 0;

        pthread_mutex_lock(&session.lock);
        if (generation == session.generation) {
                post_error_remove_locked(post_error_find_locked(cid));
                r = cid_set_add(&session.cids, cid);
        }
        pthread_mutex_unlock(&session.lock);
        return r;
}

void session_remove_cid(uint32_t cid) {
        pthread_mutex_lock(&session.lock);
        post_error_remove_locked(post_error_find_locked(cid));
        cid_set_remove(&session.cids, cid);
        pthread_mutex_unlock(&session.lock);
}
