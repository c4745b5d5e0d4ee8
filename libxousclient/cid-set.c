/* cid-set.c: a sorted set of CIDs: the connections this process holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xous-internal.h"

/* Binary search; *pos is where cid is or would go. */
static bool cid_set_find(const struct cid_set *set, uint32_t cid, size_t *pos) {
        size_t lo = 0, hi = set->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (set->v[mid] == cid) {
                        *pos = mid;
                        return true;
                }
                if (set->v[mid] < cid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *pos = lo;
        return false;
}

bool cid_set_contains(const struct cid_set *set, uint32_t cid) {
        size_t pos;

        return cid_set_find(set, cid, &pos);
}

static int cid_set_grow(struct cid_set *set) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        uint32_t *v = reallocarray(set->v, cap, sizeof(*v));

        if (!v)
                return -ENOMEM;
        set->v = v;
        set->cap = cap;
        return 0;
}

int cid_set_add(struct cid_set *set, uint32_t cid) {
        size_t pos;
        int r;

        if (cid_set_find(set, cid, &pos))
                return 0;
        if (set->n == set->cap) {
                r = cid_set_grow(set);
                if (r < 0)
                        return r;
        }
        memmove(set->v + pos + 1, set->v + pos, (set->n - pos) * sizeof(*set->v));
        set->v[pos] = cid;
        set->n++;
        return 0;
}

void cid_set_remove(struct cid_set *set, uint32_t cid) {
        size_t pos;

        if (!cid_set_find(set, cid, &pos))
                return;
        memmove(set->v + pos, set->v + pos + 1, (set->n - pos - 1) * sizeof(*set->v));
        set->n--;
}

void cid_set_clear(struct cid_set *set) {
        set->n = 0;
}

void cid_set_deinit(struct cid_set *set) {
        free(set->v);
        *set = (struct cid_set)CID_SET_INIT;
}
