/* message.c: one message in flight between a caller and a server. Freed
 * messages are kept for reuse, so routing a message allocates nothing once
 * the daemon has warmed up. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "lent.h"
#include "message.h"
#include "peer.h"
#include "quota.h"

/* Freed messages kept for reuse; none under AddressSanitizer, so that a use
 * after free is still caught there. */
#ifndef __has_feature
#define __has_feature(x) 0      /* GCC: __SANITIZE_ADDRESS__ says it; clang < 16 only this */
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define MESSAGE_POOL_KEEPS false
#else
#define MESSAGE_POOL_KEEPS true
#endif
#define MESSAGE_POOL_MAX 1024

/* The daemon is single-threaded: one pool for all. */
static struct {
        struct message *free[MESSAGE_POOL_MAX];
        size_t n;
} pool;

struct message *message_new(void) {
        struct message *m = pool.n ? pool.free[--pool.n] : malloc(sizeof(*m));

        if (!m)
                return NULL;
        memset(m, 0, sizeof(*m));
        list_init(&m->link);
        list_init(&m->sent_link);
        m->fd = -1;
        m->release_fd = -1;
        return m;
}

/* Frees a message that is on no list, closing the descriptor it still owns. */
struct message *message_free(struct message *m) {
        if (!m)
                return NULL;
        safe_close(m->fd);
        m->lent = lent_unref(m->lent);
        safe_close(m->release_fd);
        if (m->from) {
                m->from->n_sent--;
                list_unlink(&m->sent_link);
        }
        if (m->user) {
                m->user->shm -= m->len;
                user_unref(m->user);
        }
        if (MESSAGE_POOL_KEEPS && pool.n < MESSAGE_POOL_MAX)
                pool.free[pool.n++] = m;
        else
                free(m);
        return NULL;
}

/* message_fd() - the memory's memfd (the message's own or its kept
 * buffer's; not to be closed), or -1. */
int message_fd(const struct message *m) {
        return m->fd >= 0 || !m->lent ? m->fd : m->lent->fd;
}

/* Returns the pool's memory (at exit, so leak checkers see nothing). */
void message_pool_drain(void) {
        while (pool.n)
                free(pool.free[--pool.n]);
}
