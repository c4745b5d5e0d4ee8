/* mailbox.c: a FIFO from any thread to the loop thread, woken through an eventfd. */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mailbox.h"
#include "macro.h"

struct mailbox {
        pthread_mutex_t lock;
        struct list items;              /* under lock */
        int efd;
        struct event *ev;
        mailbox_handle_fn handle;
        mailbox_drop_fn drop;
        void *userdata;
        bool dispatching;
        bool dead;                      /* freed by a handler: the dispatcher finishes the job */
};

static struct mailbox_item *mailbox_pop(struct mailbox *mb) {
        struct mailbox_item *item;

        pthread_mutex_lock(&mb->lock);
        item = list_first_entry(&mb->items, struct mailbox_item, link);
        if (item)
                list_unlink(&item->link);
        pthread_mutex_unlock(&mb->lock);
        return item;
}

static void mailbox_destroy(struct mailbox *mb) {
        struct mailbox_item *item;

        if (mb->ev)
                event_free(mb->ev);
        while ((item = mailbox_pop(mb)))
                mb->drop(item);
        safe_close(mb->efd);
        pthread_mutex_destroy(&mb->lock);
        free(mb);
}

/* The eventfd is read first, so an item posted while we work wakes us
 * again. A handler may free the mailbox: then we stop at once. */
static void mailbox_dispatch(evutil_socket_t fd, short what, void *arg) {
        struct mailbox *mb = arg;
        struct mailbox_item *item;
        uint64_t n;

        if (read(mb->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                return;
        mb->dispatching = true;
        while (!mb->dead && (item = mailbox_pop(mb)))
                mb->handle(mb->userdata, item);
        mb->dispatching = false;
        if (mb->dead)
                mailbox_destroy(mb);
}

int mailbox_new(struct mailbox **out, struct event_base *base, mailbox_handle_fn handle, mailbox_drop_fn drop,
                void *userdata) {
        struct mailbox *mb = calloc(1, sizeof(*mb));

        if (!mb)
                return -ENOMEM;
        pthread_mutex_init(&mb->lock, NULL);
        list_init(&mb->items);
        mb->handle = handle;
        mb->drop = drop;
        mb->userdata = userdata;
        mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (mb->efd < 0) {
                int r = -errno;

                mailbox_free(mb);
                return r;
        }
        mb->ev = event_new(base, mb->efd, EV_READ | EV_PERSIST, mailbox_dispatch, mb);
        if (!mb->ev || event_add(mb->ev, NULL) < 0) {
                mailbox_free(mb);
                return -ENOMEM;
        }
        *out = mb;
        return 0;
}

/* No thread may post any more (the callers stop their threads first). From
 * a handler, the dispatcher frees it once the handler returns. */
struct mailbox *mailbox_free(struct mailbox *mb) {
        if (!mb)
                return NULL;
        if (mb->dispatching)
                mb->dead = true;
        else
                mailbox_destroy(mb);
        return NULL;
}

/* Only the first item of a burst rings: the dispatcher reads the eventfd
 * before it takes items, and takes them until none is left. */
void mailbox_post(struct mailbox *mb, struct mailbox_item *item) {
        uint64_t one = 1;
        bool was_empty;

        pthread_mutex_lock(&mb->lock);
        was_empty = list_is_empty(&mb->items);
        list_link_tail(&mb->items, &item->link);
        pthread_mutex_unlock(&mb->lock);
        /* Fails only when the counter would overflow: the loop wakes anyway. */
        if (was_empty)
                (void)!write(mb->efd, &one, sizeof(one));
}
