/* chan.c: the two rings of a link's channel (chan.h), either side. The
 * other side may write anything at any time: every index read back is
 * checked against the one we keep, every record copied before use. */
#include <errno.h>
#include <string.h>

#include "chan.h"
#include "macro.h"

#define REC_HEAD ((uint32_t)sizeof(struct xns_chan_rec))

static uint32_t rec_size(uint32_t len) {
        return REC_HEAD + ((len + 7u) & ~7u);
}

void xns_chan_end_init(struct xns_chan_end *e, struct xns_chan *c, bool requests) {
        *e = (struct xns_chan_end){
                .ring = requests ? &c->req : &c->rep,
                .data = requests ? c->req_data : c->rep_data,
                .size = requests ? XNS_CHAN_REQ_SIZE : XNS_CHAN_REP_SIZE,
        };
}

/* Bytes the consumer has not taken, as it says; more than the ring holds
 * is a lie, and counts as a full ring. */
static uint32_t chan_used(const struct xns_chan_end *e) {
        uint32_t used = e->pos - __atomic_load_n(&e->ring->tail, __ATOMIC_SEQ_CST);

        return used > e->size ? e->size : used;
}

/* The bytes a record of len takes from pos on, with a wrap record first
 * when it would run over the end. */
static uint32_t chan_need(const struct xns_chan_end *e, uint32_t len) {
        uint32_t off = e->pos % e->size, need = rec_size(len);

        return off + need > e->size ? e->size - off + need : need;
}

static void chan_write_rec(struct xns_chan_end *e, uint32_t len, uint32_t flags, const void *frame) {
        struct xns_chan_rec rec = { .len = len, .flags = flags };
        uint8_t *p = e->data + e->pos % e->size;

        memcpy(p, &rec, REC_HEAD);
        if (len)
                memcpy(p + REC_HEAD, frame, len);
}

bool xns_chan_put(struct xns_chan_end *e, const void *frame, uint32_t len, uint32_t flags) {
        uint32_t off = e->pos % e->size;

        if (len == 0 || len > XNS_FRAME_MAX || !xns_chan_fits(e, len))
                return false;
        if (off + rec_size(len) > e->size) {
                chan_write_rec(e, 0, XNS_CHAN_WRAP, NULL);
                e->pos += e->size - off;
        }
        chan_write_rec(e, len, flags & XNS_CHAN_FD, frame);
        e->pos += rec_size(len);
        __atomic_store_n(&e->ring->head, e->pos, __ATOMIC_SEQ_CST);
        return true;
}

bool xns_chan_ring_due(struct xns_chan_end *e) {
        return __atomic_load_n(&e->ring->bell, __ATOMIC_SEQ_CST) &&
               __atomic_exchange_n(&e->ring->bell, 0, __ATOMIC_SEQ_CST);
}

bool xns_chan_ask_room(struct xns_chan_end *e, uint32_t len) {
        __atomic_store_n(&e->ring->room, 1, __ATOMIC_SEQ_CST);
        if (xns_chan_fits(e, len)) {
                __atomic_store_n(&e->ring->room, 0, __ATOMIC_SEQ_CST);
                return false;
        }
        return true;
}

/* What the producer published and we have not taken: -EPROTO for a head
 * that cannot be. */
static int chan_avail(const struct xns_chan_end *e, uint32_t *avail) {
        uint32_t head = __atomic_load_n(&e->ring->head, __ATOMIC_ACQUIRE);

        *avail = head - e->pos;
        return *avail > e->size || *avail % 8 ? -EPROTO : 0;
}

int xns_chan_take(struct xns_chan_end *e, void *buf, uint32_t *flags) {
        struct xns_chan_rec rec;
        uint32_t avail, off, size;
        int r;

        r = chan_avail(e, &avail);
        if (r < 0)
                return r;
        if (avail == 0)
                return 0;
        off = e->pos % e->size;
        memcpy(&rec, e->data + off, REC_HEAD);
        if (rec.flags == XNS_CHAN_WRAP && rec.len == 0) {
                if (off == 0 || avail < e->size - off)
                        return -EPROTO;
                e->pos += e->size - off;
                __atomic_store_n(&e->ring->tail, e->pos, __ATOMIC_SEQ_CST);
                return xns_chan_take(e, buf, flags);
        }
        if (rec.len == 0 || rec.len > XNS_FRAME_MAX || (rec.flags & ~XNS_CHAN_FD))
                return -EPROTO;
        size = rec_size(rec.len);
        if (size > avail || off + size > e->size)
                return -EPROTO;
        memcpy(buf, e->data + off + REC_HEAD, rec.len);
        *flags = rec.flags;
        e->pos += size;
        __atomic_store_n(&e->ring->tail, e->pos, __ATOMIC_SEQ_CST);
        return (int)rec.len;
}

bool xns_chan_room_due(struct xns_chan_end *e) {
        return __atomic_load_n(&e->ring->room, __ATOMIC_SEQ_CST) &&
               __atomic_exchange_n(&e->ring->room, 0, __ATOMIC_SEQ_CST);
}

bool xns_chan_pending(const struct xns_chan_end *e) {
        return __atomic_load_n(&e->ring->head, __ATOMIC_SEQ_CST) != e->pos;
}

bool xns_chan_sleep(struct xns_chan_end *e) {
        __atomic_store_n(&e->ring->bell, 1, __ATOMIC_SEQ_CST);
        if (!xns_chan_pending(e))
                return true;
        __atomic_exchange_n(&e->ring->bell, 0, __ATOMIC_SEQ_CST);
        return false;
}

bool xns_chan_fits(const struct xns_chan_end *e, uint32_t len) {
        return chan_used(e) + chan_need(e, len) <= e->size;
}

int xns_chan_fd_send(int sock, int fd, bool nonblock) {
        static const uint8_t byte = 0;

        return xns_frame_send(sock, &byte, 1, fd, nonblock);
}

int xns_chan_fd_recv(int sock, int *fd) {
        uint8_t byte[2];
        ssize_t n = xns_frame_recv(sock, byte, sizeof(byte), fd, true);

        if (n == 1 && *fd >= 0)
                return 0;
        if (n > 0)
                *fd = safe_close(*fd);
        return -EPROTO;
}
