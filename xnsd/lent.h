/* lent.h: buffers a process lends again and again, kept by number: in the
 * lender's table under its own numbers, and in the table of each receiving
 * link under xnsd's, so each memfd crosses each socket once. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

/* One kept buffer: shared by its lender's table, the tables of the
 * links that were given it, and the messages that lend it. */
struct lent_buf {
        uint32_t refs;
        uint32_t no;                    /* xnsd's number: what receivers know it by */
        int fd;                         /* read-only for a Borrow's */
        uint32_t len;                   /* checked against the memfd once */
        uint32_t kind;                  /* XNS_KIND_BORROW or XNS_KIND_MUTABLE_BORROW */
        bool forgotten;                 /* its lender let it go: receivers let it go too */
};

struct lent_slot {
        uint32_t key;                   /* the lender's number, or buf->no */
        uint64_t used;                  /* receivers: when last given, for eviction */
        struct lent_buf *buf;           /* NULL: free */
};

struct lent_table {
        struct lent_slot slot[XNS_BUFS_MAX];
        uint64_t clock;
};

struct lent_buf *lent_ref(struct lent_buf *b);
struct lent_buf *lent_unref(struct lent_buf *b);

int lent_keep(struct lent_table **t, uint32_t key, int *fd, uint32_t len, uint32_t kind);
struct lent_buf *lent_find(const struct lent_table *t, uint32_t key);
int lent_forget(struct lent_table *t, uint32_t key);
int lent_give(struct lent_table **t, struct lent_buf *b, uint32_t *forget);
void lent_take_back(struct lent_table *t, uint32_t no);
struct lent_table *lent_forget_all(struct lent_table *t);
struct lent_table *lent_table_free(struct lent_table *t);
