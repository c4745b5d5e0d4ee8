/* chunks.h: what goes around frames in the NATS messages between gateways:
 * the prefix in front of each message, batches of small frames, parts of
 * big ones; written for sending, taken apart (and big frames put together
 * again) on arrival. No NATS and no loop here: every byte that arrives is
 * checked, and tests/fuzz/fuzz-frame drives it with any bytes at all.
 *
 * The prefix, little-endian: u64 message id (per sender, counting up), u32
 * index, u32 count. A frame that fits is one message with index 0, count 1;
 * a bigger one is count messages with the same id and indices 0..count-1,
 * in order. Count 0 (index 0) marks a batch: records of u32 length and a
 * frame's bytes, in the order sent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define CHUNK_PREFIX 16
#define CHUNK_RECORD 4                          /* a batch record's length */
#define CHUNK_FRAME_MAX (FRAME_DATA_MAX + 4096) /* a frame put together: payload and head */
#define CHUNK_REASSEMBLY_BYTES_MAX (256u << 20) /* all partial frames together */
#define CHUNK_REASSEMBLY_MS 5000                /* a frame's parts must come within this */

struct chunks;

/* A whole frame: buf is valid during the call only. It must not free the chunks. */
typedef void (*chunks_frame_fn)(void *userdata, const uint8_t *buf, size_t len);

int chunks_new(struct chunks **out);
struct chunks *chunks_free(struct chunks *ch);

/* Writing: the prefix at p; a batch record (len, then the frame) at p. */
void chunk_prefix_put(uint8_t *p, uint64_t id, uint32_t index, uint32_t count);
void chunk_record_put(uint8_t *p, const uint8_t *frame, size_t len);

/*
 * chunks_arrived() - one NATS message's payload from host from, on a
 * subject of frame type type: each whole frame in it goes to fn, in order.
 * single_only: only a frame in one message is accepted (heartbeats).
 * Whatever does not parse is dropped, with the parts gathered from that
 * sender so far. now: ms, for chunks_expire().
 */
void chunks_arrived(struct chunks *ch, const char *from, enum frame_type type, bool single_only, const uint8_t *p,
                    size_t len, uint64_t now, chunks_frame_fn fn, void *userdata);
/* Drops the parts that waited longer than CHUNK_REASSEMBLY_MS. */
void chunks_expire(struct chunks *ch, uint64_t now);
/* Drops what from sent so far (it went, or started again). */
void chunks_forget(struct chunks *ch, const char *from);
