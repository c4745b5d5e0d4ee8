/* message.c: one message in flight between a caller and a server. Freed
 * messages are kept for reuse, so routing a message allocates nothing once
 * the daemon has warmed up. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "message.h"

/* Freed messages kept for reuse; none under AddressSanitizer, so that a use
 * after free is still caught there. */
#if defined(__SANITIZE_ADDRESS__)
#define MESSAGE_POOL_MAX 1
#else
#define MESSAGE_POOL_MAX 1024
#endif

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
        m->fd = -1;
        return m;
}

/* Frees a message that is on no list, closing the descriptor it still owns. */
struct message *message_free(struct message *m) {
        if (!m)
                return NULL;
        safe_close(m->fd);
        if (pool.n < MESSAGE_POOL_MAX - 1)
                pool.free[pool.n++] = m;
        else
                free(m);
        return NULL;
}

/* Returns the pool's memory (at exit, so leak checkers see nothing). */
void message_pool_drain(void) {
        while (pool.n)
                free(pool.free[--pool.n]);
}
