/* arena.h: a bump allocator over the caller's buffer, for decoding untrusted
 * bytes (with protobuf-c) without the heap: what would need more than the
 * buffer is malformed. */
#pragma once

#include <stddef.h>

struct arena {
        size_t used, size;
        max_align_t *buf;
};

#define ARENA_INIT(storage) { .used = 0, .size = sizeof(storage), .buf = (storage) }

/* protobuf-c's ProtobufCAllocator callbacks, data being the arena: nothing
 * is freed before the arena goes. */
void *arena_alloc(void *data, size_t size);
void arena_free(void *data, void *ptr);
