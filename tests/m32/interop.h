/* interop.h: what interop-server and interop-client share: the name, the
 * opcodes, and the byte patterns and hash both sides compute. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define INTEROP_NAME "xns.interop"

/* Opcodes of the interop server. Every answer is a function of what the
 * server received, so the caller checks both directions of every word. */
enum interop_opcode {
        OP_SCALAR = 1,          /* Scalar (a1..a4): kept for OP_LAST_SCALAR */
        OP_ECHO1,               /* BlockingScalar: answers a1 + a2 + a3 + a4 (mod 2^32) */
        OP_ECHO2,               /* BlockingScalar: answers (~a1, a2 ^ a3 ^ a4) */
        OP_ECHO5,               /* BlockingScalar: answers (a4, a3, a2, a1, sender pid) */
        OP_DROP,                /* BlockingScalar: dropped unanswered (caller gets INTERNAL_ERROR) */
        OP_MOVE,                /* Move: hashed, kept for OP_LAST_MEMORY */
        OP_BORROW,              /* Borrow: hashed, kept for OP_LAST_MEMORY */
        OP_MUT_BORROW,          /* MutableBorrow: hashed, then overwritten with
                                 * pattern_fill(SERVER_SEED), returns (offset + 4096, ~valid) */
        OP_LAST_SCALAR,         /* BlockingScalar: answers (scalars seen, a1, a2, a3, a4 of the last) */
        OP_LAST_MEMORY,         /* BlockingScalar: answers (kind, len, offset, valid, hash) of the last memory message */
        OP_SUBSCRIBE,           /* Scalar (sid0..sid3): the server connects to that SID and
                                 * pushes OP_PUSH_* to it (below) */
        OP_LAST_SUBSCRIBE,      /* BlockingScalar: answers (errors of the last OP_SUBSCRIBE,
                                 * its ping answer, mut offset, mut valid, mut hash) */
        OP_QUIT,                /* BlockingScalar: answers (messages seen, errors); the server exits */
};

/* Opcodes of the client's own anonymous server, pushed by the interop server. */
enum interop_push {
        OP_PUSH_TICK = 100,     /* Scalar: the subscriber's SID, words reversed */
        OP_PUSH_PING,           /* BlockingScalar (a1..a4): answered a1 ^ a2 ^ a3 ^ a4 */
        OP_PUSH_BORROW,         /* Borrow, 2 pages of pattern_fill(SERVER_SEED), offset 7, valid 8000 */
        OP_PUSH_MUT_BORROW,     /* MutableBorrow, 3 pages: the client overwrites it with
                                 * pattern_fill(CLIENT_SEED), returns (offset ^ valid, 0x80000001) */
};

#define CLIENT_SEED 0x5eed0c1eu
#define SERVER_SEED 0x5eed5e4bu

/* Bytes that differ with the position and the seed, page after page. */
static inline uint8_t pattern_byte(uint32_t seed, size_t i) {
        uint32_t x = seed ^ (uint32_t)i * 2654435761u;

        x ^= x >> 15;
        return (uint8_t)(x ^ (uint32_t)(i >> 12));
}

static inline void pattern_fill(void *p, size_t len, uint32_t seed) {
        uint8_t *b = p;

        for (size_t i = 0; i < len; i++)
                b[i] = pattern_byte(seed, i);
}

/* FNV-1a, 32-bit: the same number in every word size. */
static inline uint32_t hash_bytes(const void *p, size_t len) {
        const uint8_t *b = p;
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < len; i++)
                h = (h ^ b[i]) * 16777619u;
        return h;
}
