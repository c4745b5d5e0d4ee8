/* chan.h: a link's channel: its frames both ways in shared memory, two byte
 * rings of records, each record one encoded frame. Shared by xnsd and
 * libxousclient; each side trusts nothing the other writes here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/*
 * The memfd a client hands xnsd with XNS_OP_CHANNEL, sealed against
 * resizing: a header page, then the request ring (client to xnsd), then
 * the reply ring (xnsd to client). Each ring counts bytes up forever (u32,
 * wrapping); a record is an 8-byte head (struct xns_chan_rec) and the
 * frame, padded to 8, and never runs over the ring's end: the producer
 * skips to the start with a record of flag XNS_CHAN_WRAP. A record of flag
 * XNS_CHAN_FD had its descriptor sent before it on the link's socket, as a
 * 1-byte datagram: the socket carries nothing else once the channel runs.
 *
 * xnsd makes both doorbells: an eventfd the client writes, which xnsd
 * watches edge-triggered and never reads, and a pipe xnsd writes and the
 * client reads; nothing the client does to either can block xnsd. Each
 * side rings the other only when the other said it sleeps (bell = 1) or
 * waits for room (room = 1), taking the flag with an exchange, so a wake-up
 * is never lost and rarely sent for nothing.
 *
 * Each ring holds two of the largest records: wherever the producer stands,
 * a wrap record and a frame of XNS_FRAME_MAX fit in a ring with nothing
 * else in it.
 */
#define XNS_CHAN_REQ_SIZE 4096u
#define XNS_CHAN_REP_SIZE 4096u
#define XNS_CHAN_SIZE 12288u

#define XNS_CHAN_FD 1u                  /* its descriptor came first, on the socket */
#define XNS_CHAN_WRAP 2u                /* no frame: the ring goes on at its start */

struct xns_chan_rec {
        uint32_t len;                   /* frame bytes; 0 for XNS_CHAN_WRAP */
        uint32_t flags;
};

struct xns_chan_ring {
        uint32_t head;                  /* producer: bytes published */
        uint32_t pad0[15];
        uint32_t tail;                  /* consumer: bytes taken */
        uint32_t pad1[15];
        uint32_t bell;                  /* consumer: 1 = asleep, ring me after publishing */
        uint32_t room;                  /* producer: 1 = waiting for room, ring me after taking */
        uint32_t pad2[14];
};

struct xns_chan {
        struct xns_chan_ring req;       /* client produces, xnsd consumes */
        struct xns_chan_ring rep;       /* xnsd produces, client consumes */
        uint8_t pad[XNS_CHAN_SIZE - XNS_CHAN_REQ_SIZE - XNS_CHAN_REP_SIZE - 2 * sizeof(struct xns_chan_ring)];
        uint8_t req_data[XNS_CHAN_REQ_SIZE];
        uint8_t rep_data[XNS_CHAN_REP_SIZE];
};
_Static_assert(sizeof(struct xns_chan) == XNS_CHAN_SIZE, "channel fills its memfd");
_Static_assert(XNS_CHAN_REQ_SIZE >= 2 * (8 + XNS_FRAME_MAX) && XNS_CHAN_REP_SIZE >= 2 * (8 + XNS_FRAME_MAX),
               "any frame fits in an empty ring, wherever it stands");

/* One side's view of one ring: where it is (its own count, never read back
 * from shared memory) and which ring. */
struct xns_chan_end {
        struct xns_chan_ring *ring;
        uint8_t *data;
        uint32_t size;
        uint32_t pos;                   /* producer: our head; consumer: our tail */
};

void xns_chan_end_init(struct xns_chan_end *e, struct xns_chan *c, bool requests);

/*
 * The producer's side. xns_chan_put(): the frame published (true), or no
 * room for it (false: nothing written). xns_chan_ring_due(): after
 * publishing, whether the consumer sleeps and must be rung (the flag is
 * taken). xns_chan_ask_room(): before sleeping on a full ring; false when
 * there is room after all.
 */
bool xns_chan_put(struct xns_chan_end *e, const void *frame, uint32_t len, uint32_t flags);
bool xns_chan_ring_due(struct xns_chan_end *e);
bool xns_chan_ask_room(struct xns_chan_end *e, uint32_t len);

/*
 * The consumer's side. xns_chan_take(): copies the next frame into buf
 * (XNS_FRAME_MAX bytes) and returns its length with *flags, 0 when the
 * ring is empty, or -EPROTO for anything the producer could not have
 * written honestly. xns_chan_room_due(): after taking, whether the
 * producer waits for room and must be rung (the flag is taken).
 * xns_chan_sleep(): before sleeping: says so (bell = 1), and false when a
 * record came meanwhile (the flag is taken back, or a spurious ring
 * follows).
 */
int xns_chan_take(struct xns_chan_end *e, void *buf, uint32_t *flags);
bool xns_chan_room_due(struct xns_chan_end *e);
bool xns_chan_sleep(struct xns_chan_end *e);
bool xns_chan_pending(const struct xns_chan_end *e);
bool xns_chan_fits(const struct xns_chan_end *e, uint32_t len);

/* A record's descriptor on the link's socket: one byte with it, sent
 * first (0 or a negative errno), taken when its record is (0 with *fd, or
 * -EPROTO when anything else or nothing is there). */
int xns_chan_fd_send(int sock, int fd, bool nonblock);
int xns_chan_fd_recv(int sock, int *fd);
