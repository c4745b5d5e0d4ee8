/* mailbox.h: hands items from libnats's and our worker threads to the loop
 * thread: a mutex-protected FIFO plus an eventfd the loop watches. Needs no
 * evthread_use_pthreads(): the eventfd is the only cross-thread wake-up. */
#pragma once

#include "list.h"

struct event_base;
struct mailbox;

/* Embedded in whatever is posted. */
struct mailbox_item {
        struct list link;
};

/* handle runs on the loop thread and owns the item; drop frees an item that
 * was never handled (at mailbox_free). */
typedef void (*mailbox_handle_fn)(void *userdata, struct mailbox_item *item);
typedef void (*mailbox_drop_fn)(struct mailbox_item *item);

int mailbox_new(struct mailbox **out, struct event_base *base, mailbox_handle_fn handle, mailbox_drop_fn drop,
                void *userdata);
/* Drops what is still queued; may be called from a handler. */
struct mailbox *mailbox_free(struct mailbox *mb);
/* Any thread. Never fails: the item is linked, and the eventfd counter
 * cannot overflow from a few writes of 1. */
void mailbox_post(struct mailbox *mb, struct mailbox_item *item);
