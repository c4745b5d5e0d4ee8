/* message.c: one message in flight between a caller and a server. */
#include <stdlib.h>

#include "macro.h"
#include "message.h"

struct message *message_new(void) {
        struct message *m = calloc(1, sizeof(*m));

        if (!m)
                return NULL;
        list_init(&m->link);
        m->fd = -1;
        return m;
}

/* Frees a message that is on no list, closing the descriptor it still owns. */
struct message *message_free(struct message *m) {
        if (!m)
                return NULL;
        safe_close(m->fd);
        free(m);
        return NULL;
}
