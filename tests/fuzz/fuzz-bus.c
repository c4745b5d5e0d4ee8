/* fuzz-bus.c: what the daemon's fuzz targets share (fuzz-bus.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "fuzz-bus.h"
#include "wire.h"

uint8_t fuzz_random_counter;

/* Deterministic stand-in for the daemon's tag, tokens and SIDs: byte 0
 * counts, and byte 4 too (a SID's w1: w0 is the bus's tag). */
ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
        (void)flags;
        memset(buf, 0, len);
        if (len > 0)
                ((uint8_t *)buf)[0] = ++fuzz_random_counter;
        if (len > 4)
                ((uint8_t *)buf)[4] = fuzz_random_counter;
        return (ssize_t)len;
}

_Noreturn void fuzz_die(const char *what) {
        perror(what);
        abort();
}

/* Descriptors open now: none may be left over from an input. */
int fuzz_count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        if (!d)
                fuzz_die("fuzz: /proc/self/fd");
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n - 1;           /* not the directory's own */
}

/* The frame re-encoded into out with generation gen, when it answers a
 * message (a Return, a Receive with one, a Forward); false otherwise. */
bool fuzz_fix_gen(uint32_t gen, const uint8_t *frame, size_t *len, uint8_t *out) {
        struct xns_request req;
        ssize_t n;

        if (xns_request_decode(&req, frame, *len) < 0)
                return false;
        if (req.op == XNS_OP_RETURN)
                req.ret.gen = gen;
        else if (req.op == XNS_OP_RECEIVE && req.receive.has_ret)
                req.receive.ret.gen = gen;
        else if (req.op == XNS_OP_FORWARD)
                req.forward.gen = gen;
        else
                return false;
        n = xns_request_encode(&req, out, XNS_FRAME_MAX);
        if (n < 0)
                return false;
        *len = (size_t)n;
        return true;
}

void fuzz_records(const uint8_t *data, size_t size,
                  void (*feed)(uint8_t ctl, const uint8_t *bytes, size_t len, void *ctx), void *ctx) {
        while (size >= 3) {
                uint8_t ctl = data[0];
                size_t len = (size_t)data[1] | (size_t)data[2] << 8;

                data += 3;
                size -= 3;
                if (len > XNS_FRAME_MAX + 1)
                        len = XNS_FRAME_MAX + 1;
                if (len > size)
                        len = size;
                feed(ctl, data, len, ctx);
                data += len;
                size -= len;
        }
}
