/* arena.c: a bump allocator over the caller's buffer, for decoding untrusted
 * bytes (with protobuf-c) without the heap. */
#include "arena.h"

void *arena_alloc(void *data, size_t size) {
        struct arena *a = data;
        size_t n = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

        if (n < size || n > a->size - a->used)
                return NULL;
        a->used += n;
        return (char *)a->buf + a->used - n;
}

void arena_free(void *data, void *ptr) {
        (void)data;
        (void)ptr;
}
