/* capture.c: xnsctl capture's output: a pcapng file (one Section Header, one
 * Interface Description, one Enhanced Packet per monitor event), each block
 * written whole with one write(2), so a reader of a live file never sees half
 * of one. Contrib/wireshark/xns.lua dissects it.
 *
 * The interface's link type is LINKTYPE_USER0 (147). Each packet is one
 * event record, little-endian, version 1:
 *
 *   offset  size  field
 *        0     4  magic "xnsc"
 *        4     2  version (1)
 *        6     2  header length (108): where host, server and payload begin
 *        8     8  time_us       CLOCK_REALTIME when the message ended, in µs
 *       16     4  pid           the caller
 *       20     4  kind          0 MutableBorrow, 1 Borrow, 2 Move, 3 Scalar,
 *                               4 BlockingScalar
 *       24     4  id            the opcode
 *       28    16  a[4]          the scalar arguments
 *       44     4  len           a memory message's buffer size, else 0
 *       48     4  error         xous_error_t; 0: answered, delivered
 *       52     4  count         reply words, 0..5
 *       56    20  v[5]          the reply words (count of them are meant)
 *       76     4  latency_us    from send to answer (or delivery)
 *       80     4  dropped       events lost just before this one
 *       84    16  sid[4]        the server's SID, as four words
 *      100     2  host_len      bytes of the caller's host ("": this one)
 *      102     2  server_len    bytes of the server's name ("": anonymous)
 *      104     4  payload_len   bytes of the buffer that follow
 *      108        host, server name (UTF-8, no NUL), then the first
 *                 payload_len bytes of the buffer
 *
 * A later version may add fields before the strings: readers skip to the
 * header length. The packet's original length counts the whole buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "macro.h"

#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_BYTE_ORDER 0x1A2B3C4Du
#define LINKTYPE_USER0 147u

#define RECORD_MAGIC "xnsc"
#define RECORD_VERSION 1u
#define RECORD_HEADER_LEN 108u
#define EPB_OVERHEAD 32u        /* block header, interface, time, lengths; trailing length */

static uint8_t *put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
        return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v) {
        p = put32(p, (uint32_t)v);
        return put32(p, (uint32_t)(v >> 32));
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n) {
        if (n)
                memcpy(p, src, n);
        return p + n;
}

/* Writes all of buf, going on after signals; 0 or a negative errno. */
static int write_all(int out, const uint8_t *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(out, buf, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/*
 * capture_write_header() - the Section Header and the one Interface
 * Description (LINKTYPE_USER0, no snapshot limit, microsecond times).
 */
int capture_write_header(int out) {
        uint8_t buf[28 + 20], *p = buf;

        p = put32(p, PCAPNG_SHB);
        p = put32(p, 28);
        p = put32(p, PCAPNG_BYTE_ORDER);
        p = put16(p, 1);                /* version 1.0 */
        p = put16(p, 0);
        p = put64(p, UINT64_MAX);       /* section length: not given */
        p = put32(p, 28);

        p = put32(p, PCAPNG_IDB);
        p = put32(p, 20);
        p = put16(p, LINKTYPE_USER0);
        p = put16(p, 0);
        p = put32(p, 0);                /* snaplen: none */
        p = put32(p, 20);
        return write_all(out, buf, (size_t)(p - buf));
}

static uint8_t *put_record(uint8_t *p, const struct xns_event *e, size_t host_len, const uint8_t *payload,
                           uint32_t n_payload) {
        p = put_bytes(p, RECORD_MAGIC, 4);
        p = put16(p, RECORD_VERSION);
        p = put16(p, RECORD_HEADER_LEN);
        p = put64(p, e->time_us);
        p = put32(p, e->pid);
        p = put32(p, e->kind);
        p = put32(p, e->id);
        for (int i = 0; i < 4; i++)
                p = put32(p, e->a[i]);
        p = put32(p, e->len);
        p = put32(p, e->error);
        p = put32(p, e->count);
        for (int i = 0; i < 5; i++)
                p = put32(p, i < (int)e->count ? e->v[i] : 0);
        p = put32(p, e->latency_us);
        p = put32(p, e->dropped);
        for (int i = 0; i < 4; i++)
                p = put32(p, e->sid.w[i]);
        p = put16(p, (uint16_t)host_len);
        p = put16(p, (uint16_t)e->server.len);
        p = put32(p, n_payload);
        p = put_bytes(p, e->host, host_len);
        p = put_bytes(p, e->server.str, e->server.len);
        return put_bytes(p, payload, n_payload);
}

/*
 * capture_write_event() - one Enhanced Packet: the event's record with the
 * first n_payload bytes of its buffer.
 */
int capture_write_event(int out, const struct xns_event *e, const uint8_t *payload, uint32_t n_payload) {
        size_t host_len = strnlen(e->host, sizeof(e->host));
        size_t server_len = e->server.len < sizeof(e->server.str) ? e->server.len : 0;
        size_t rec_len = RECORD_HEADER_LEN + host_len + server_len + n_payload;
        size_t padded = (rec_len + 3) & ~(size_t)3;
        size_t block_len = EPB_OVERHEAD + padded;
        _cleanup_free_ uint8_t *buf = NULL;
        struct xns_event copy = *e;
        uint8_t *p;

        if (n_payload > CAPTURE_SNAPLEN_MAX)
                return -EINVAL;
        buf = calloc(1, block_len);
        if (!buf)
                return -ENOMEM;
        copy.server.len = server_len;
        p = put32(buf, PCAPNG_EPB);
        p = put32(p, (uint32_t)block_len);
        p = put32(p, 0);                /* the interface */
        p = put32(p, (uint32_t)(e->time_us >> 32));
        p = put32(p, (uint32_t)e->time_us);
        p = put32(p, (uint32_t)rec_len);
        p = put32(p, (uint32_t)(rec_len - n_payload + (e->len > n_payload ? e->len : n_payload)));
        put_record(p, &copy, host_len, payload, n_payload);
        put32(buf + block_len - 4, (uint32_t)block_len);
        return write_all(out, buf, block_len);
}
