/* chunks.c: the prefix, batches and parts around frames in NATS messages between gateways (see chunks.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "macro.h"
#include "list.h"

/* The parts of one frame so far, from one sender: at most one per sender. */
struct reassembly {
        struct list link;
        char from[FRAME_HOST_MAX + 1];
        enum frame_type type;
        uint64_t id;
        uint32_t next, count;
        uint8_t *buf;
        size_t len, size;
        uint64_t started_ms;
};

struct chunks {
        struct list reassemblies;
        size_t bytes;                   /* of every reassembly's buffer */
};

static void put_le(uint8_t *p, uint64_t v, unsigned bytes) {
        for (unsigned i = 0; i < bytes; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned bytes) {
        uint64_t v = 0;

        for (unsigned i = 0; i < bytes; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

void chunk_prefix_put(uint8_t *p, uint64_t id, uint32_t index, uint32_t count) {
        put_le(p, id, 8);
        put_le(p + 8, index, 4);
        put_le(p + 12, count, 4);
}

void chunk_record_put(uint8_t *p, const uint8_t *frame, size_t len) {
        put_le(p, len, CHUNK_RECORD);
        memcpy(p + CHUNK_RECORD, frame, len);
}

int chunks_new(struct chunks **out) {
        struct chunks *ch = calloc(1, sizeof(*ch));

        if (!ch)
                return -ENOMEM;
        list_init(&ch->reassemblies);
        *out = ch;
        return 0;
}

static struct reassembly *reassembly_find(struct chunks *ch, const char *from) {
        struct reassembly *r;

        list_for_each_entry(r, &ch->reassemblies, link)
                if (!strcmp(r->from, from))
                        return r;
        return NULL;
}

static void reassembly_free(struct chunks *ch, struct reassembly *r) {
        if (!r)
                return;
        list_unlink(&r->link);
        ch->bytes -= r->size;
        free(r->buf);
        free(r);
}

struct chunks *chunks_free(struct chunks *ch) {
        if (!ch)
                return NULL;
        while (!list_is_empty(&ch->reassemblies))
                reassembly_free(ch, list_first_entry(&ch->reassemblies, struct reassembly, link));
        free(ch);
        return NULL;
}

void chunks_expire(struct chunks *ch, uint64_t now) {
        struct reassembly *r, *tmp;

        list_for_each_entry_safe(r, tmp, &ch->reassemblies, link)
                if (now - r->started_ms > CHUNK_REASSEMBLY_MS)
                        reassembly_free(ch, r);
}

void chunks_forget(struct chunks *ch, const char *from) {
        reassembly_free(ch, reassembly_find(ch, from));
}

static int reassembly_start(struct chunks *ch, const char *from, enum frame_type type, uint64_t id, uint32_t count,
                            uint64_t now, struct reassembly **out) {
        struct reassembly *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        STR_COPY(r->from, from);
        r->type = type;
        r->id = id;
        r->count = count;
        r->started_ms = now;
        list_link_tail(&ch->reassemblies, &r->link);
        *out = r;
        return 0;
}

/* Appends n bytes, within the per-frame and overall bounds. */
static int reassembly_append(struct chunks *ch, struct reassembly *r, const uint8_t *p, size_t n) {
        size_t want = r->len + n, size;
        uint8_t *buf;

        if (n > CHUNK_FRAME_MAX - r->len)
                return -EMSGSIZE;
        if (want > r->size) {
                size = r->size ? r->size : 1u << 20;
                while (size < want)
                        size *= 2;
                if (size > CHUNK_FRAME_MAX)
                        size = CHUNK_FRAME_MAX;
                if (size - r->size > CHUNK_REASSEMBLY_BYTES_MAX - ch->bytes)
                        return -ENOBUFS;
                buf = realloc(r->buf, size);
                if (!buf)
                        return -ENOMEM;
                ch->bytes += size - r->size;
                r->buf = buf;
                r->size = size;
        }
        memcpy(r->buf + r->len, p, n);
        r->len += n;
        return 0;
}

/* One part of a frame sent in count > 1 parts. They come in order: a gap,
 * another id or a type change drops what was gathered. */
static void part_arrived(struct chunks *ch, const char *from, enum frame_type type, uint64_t id, uint32_t index,
                         uint32_t count, const uint8_t *p, size_t n, uint64_t now, chunks_frame_fn fn,
                         void *userdata) {
        struct reassembly *r = reassembly_find(ch, from);

        if (r && (r->id != id || r->next != index || r->count != count || r->type != type)) {
                reassembly_free(ch, r);
                r = NULL;
        }
        if (!r && (index != 0 || reassembly_start(ch, from, type, id, count, now, &r) < 0))
                return;
        if (n == 0 || reassembly_append(ch, r, p, n) < 0) {
                reassembly_free(ch, r);
                return;
        }
        if (++r->next < r->count)
                return;
        list_unlink(&r->link);
        ch->bytes -= r->size;
        fn(userdata, r->buf, r->len);
        free(r->buf);
        free(r);
}

/* The frames of a batch, in order; a record that does not fit ends it. */
static void batch_arrived(const uint8_t *p, size_t len, chunks_frame_fn fn, void *userdata) {
        while (len >= CHUNK_RECORD) {
                size_t n = (size_t)get_le(p, CHUNK_RECORD);

                if (n > len - CHUNK_RECORD)
                        return;
                fn(userdata, p + CHUNK_RECORD, n);
                p += CHUNK_RECORD + n;
                len -= CHUNK_RECORD + n;
        }
}

void chunks_arrived(struct chunks *ch, const char *from, enum frame_type type, bool single_only, const uint8_t *p,
                    size_t len, uint64_t now, chunks_frame_fn fn, void *userdata) {
        uint32_t index, count;
        uint64_t id;

        if (len < CHUNK_PREFIX || !p)
                return;
        id = get_le(p, 8);
        index = (uint32_t)get_le(p + 8, 4);
        count = (uint32_t)get_le(p + 12, 4);
        p += CHUNK_PREFIX;
        len -= CHUNK_PREFIX;
        if (count == 1 && index == 0)
                fn(userdata, p, len);
        else if (single_only)
                return;
        else if (count == 0 && index == 0)
                batch_arrived(p, len, fn, userdata);
        else if (index < count)
                part_arrived(ch, from, type, id, index, count, p, len, now, fn, userdata);
}
