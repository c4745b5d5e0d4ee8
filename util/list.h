/* list.h: intrusive circular doubly-linked lists (in the manner of c-list). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct list {
        struct list *next, *prev;
};

#define LIST_INIT(name) { &(name), &(name) }

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list *l) {
        l->next = l->prev = l;
}

/* A node not on any list points at itself; list_unlink() leaves it so. */
static inline bool list_is_linked(const struct list *n) {
        return n->next != n;
}

static inline bool list_is_empty(const struct list *l) {
        return l->next == l;
}

static inline void list_link_tail(struct list *l, struct list *n) {
        n->prev = l->prev;
        n->next = l;
        l->prev->next = n;
        l->prev = n;
}

static inline void list_link_front(struct list *l, struct list *n) {
        n->next = l->next;
        n->prev = l;
        l->next->prev = n;
        l->next = n;
}

static inline void list_unlink(struct list *n) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        list_init(n);
}

static inline struct list *list_first(struct list *l) {
        return list_is_empty(l) ? NULL : l->next;
}

#define list_first_entry(l, type, member) \
        (list_is_empty(l) ? NULL : list_entry((l)->next, type, member))

#define list_for_each_entry(pos, l, member)                                        \
        for (pos = list_entry((l)->next, __typeof__(*pos), member);               \
             &pos->member != (l);                                                  \
             pos = list_entry(pos->member.next, __typeof__(*pos), member))

/* Iterates safely against unlinking the current entry. */
#define list_for_each_entry_safe(pos, tmp, l, member)                             \
        for (pos = list_entry((l)->next, __typeof__(*pos), member),               \
             tmp = list_entry(pos->member.next, __typeof__(*pos), member);        \
             &pos->member != (l);                                                  \
             pos = tmp, tmp = list_entry(tmp->member.next, __typeof__(*pos), member))
