/* lent.c: buffers kept by number, for lenders and for the processes they lend to. */
#include <errno.h>
#include <stdlib.h>

#include "lent.h"
#include "macro.h"

/* xnsd-wide, never 0; a receiver holds at most XNS_BUFS_MAX of them, so a
 * number that wraps around cannot meet an old one still held by anyone who
 * could mistake it (the table is searched by buffer, not by number). */
static uint32_t next_no;

struct lent_buf *lent_ref(struct lent_buf *b) {
        b->refs++;
        return b;
}

struct lent_buf *lent_unref(struct lent_buf *b) {
        if (b && --b->refs == 0) {
                safe_close(b->fd);
                free(b);
        }
        return NULL;
}

static int table_get(struct lent_table **t) {
        if (!*t)
                *t = calloc(1, sizeof(**t));
        return *t ? 0 : -ENOMEM;
}

static struct lent_slot *slot_of(const struct lent_table *t, uint32_t key) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(t->slot); i++)
                if (t->slot[i].buf && t->slot[i].key == key)
                        return (struct lent_slot *)&t->slot[i];
        return NULL;
}

static void slot_clear(struct lent_slot *s) {
        s->buf = lent_unref(s->buf);
        s->key = 0;
}

/*
 * lent_keep() - the lender's buffer key (not 0), a checked memfd *fd (taken)
 * of len bytes to be lent as kind, kept in its table *t: 0; -ENOSPC when
 * it keeps XNS_BUFS_MAX already; -EINVAL for key 0. A key kept already is
 * replaced (messages lending the old one keep it).
 */
int lent_keep(struct lent_table **t, uint32_t key, int *fd, uint32_t len, uint32_t kind) {
        struct lent_slot *s;
        struct lent_buf *b;

        if (key == 0)
                return -EINVAL;
        if (table_get(t) < 0)
                return -ENOMEM;
        lent_forget(*t, key);
        s = NULL;
        for (size_t i = 0; !s && i < ELEMENTSOF((*t)->slot); i++)
                if (!(*t)->slot[i].buf)
                        s = &(*t)->slot[i];
        if (!s)
                return -ENOSPC;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        if (++next_no == 0)
                next_no = 1;
        *b = (struct lent_buf){ .refs = 1, .no = next_no, .fd = TAKE_FD(*fd), .len = len, .kind = kind };
        *s = (struct lent_slot){ .key = key, .buf = b };
        return 0;
}

/* lent_find() - the lender's buffer key, or NULL. */
struct lent_buf *lent_find(const struct lent_table *t, uint32_t key) {
        struct lent_slot *s = key ? slot_of(t, key) : NULL;

        return s ? s->buf : NULL;
}

/*
 * lent_forget() - the lender let buffer key go: 0, or -ENOENT. Messages
 * lending it keep it; receivers let it go at their next delivery.
 */
int lent_forget(struct lent_table *t, uint32_t key) {
        struct lent_slot *s = key ? slot_of(t, key) : NULL;

        if (!s)
                return -ENOENT;
        s->buf->forgotten = true;
        slot_clear(s);
        return 0;
}

/* lent_take_back() - a receiver was not given buffer no after all. */
void lent_take_back(struct lent_table *t, uint32_t no) {
        struct lent_slot *s = no ? slot_of(t, no) : NULL;

        if (s)
                slot_clear(s);
}

/*
 * lent_give() - b goes to the link of table *t in a delivery: 1 when it
 * keeps b already (the delivery names it), 0 when it is to keep it now
 * (the memfd goes along), -ENOMEM. *forget: a buffer it may let go, or 0:
 * one whose lender forgot it, else, to make room, the one given longest ago.
 */
int lent_give(struct lent_table **t, struct lent_buf *b, uint32_t *forget) {
        struct lent_slot *s, *free_slot = NULL, *oldest = NULL;

        *forget = 0;
        if (table_get(t) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF((*t)->slot); i++) {
                s = &(*t)->slot[i];
                if (s->buf && s->buf != b && s->buf->forgotten && *forget == 0) {
                        *forget = s->key;
                        slot_clear(s);
                }
                if (!s->buf)
                        free_slot = free_slot ? free_slot : s;
                else if (!oldest || s->used < oldest->used)
                        oldest = s;
        }
        s = slot_of(*t, b->no);
        if (s && s->buf == b) {
                s->used = ++(*t)->clock;
                return 1;
        }
        if (s) {                        /* a number come round again: the new one replaces it */
                slot_clear(s);
                free_slot = s;
        }
        if (!free_slot && *forget == 0) {
                *forget = oldest->key;
                slot_clear(oldest);
                free_slot = oldest;
        }
        if (!free_slot)
                return -ENOMEM;         /* a forgotten one went, but no room: next time */
        *free_slot = (struct lent_slot){ .key = b->no, .used = ++(*t)->clock, .buf = lent_ref(b) };
        return 0;
}

/* lent_forget_all() - the lender of table t is gone: those it was given
 * let its buffers go at their next delivery, as if it had forgotten each. */
struct lent_table *lent_forget_all(struct lent_table *t) {
        for (size_t i = 0; t && i < ELEMENTSOF(t->slot); i++)
                if (t->slot[i].buf)
                        t->slot[i].buf->forgotten = true;
        return t;
}

/* lent_table_free() - lets every buffer of the table go. */
struct lent_table *lent_table_free(struct lent_table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(t->slot); i++)
                if (t->slot[i].buf)
                        slot_clear(&t->slot[i]);
        free(t);
        return NULL;
}
