/* fuzz-wire.c: libFuzzer target for the wire layer's decoders of untrusted
 * bytes: xns_reply_decode (what libxousclient reads from xnsd) and
 * xns_request_decode (what xnsd reads from a client). The first byte picks
 * which; the rest is the frame. The decoders' own readers of a call's frames
 * and protobuf-c's must agree on every input: both refuse it, or both give
 * the same struct. What decodes and encodes again (the encoders write a
 * call's frames themselves) must decode once more, by protobuf-c, to what
 * encodes to the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void fail(const char *what) {
        fprintf(stderr, "fuzz-wire: %s\n", what);
        abort();
}

static void check_reply(const uint8_t *frame, size_t len) {
        static struct xns_reply a, b;
        uint8_t buf[XNS_FRAME_MAX], again[XNS_FRAME_MAX];
        ssize_t n, m;
        int r;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        r = xns_reply_decode(&a, frame, len);
        if ((xns_reply_decode_generic(&b, frame, len) < 0) != (r < 0) || (r == 0 && memcmp(&a, &b, sizeof(a)) != 0))
                fail("the readers of a reply disagree");
        if (r < 0)
                return;
        n = xns_reply_encode(&a, buf, sizeof(buf));
        if (n < 0)
                return;         /* e.g. a name too long: decoded to be refused */
        if (xns_reply_decode_generic(&b, buf, (size_t)n) < 0)
                fail("an encoded reply does not decode");
        m = xns_reply_encode(&b, again, sizeof(again));
        if (m != n || memcmp(buf, again, (size_t)n) != 0)
                fail("a reply changes from one round trip to the next");
}

static void check_request(const uint8_t *frame, size_t len) {
        static struct xns_request a, b;
        uint8_t buf[XNS_FRAME_MAX], again[XNS_FRAME_MAX];
        ssize_t n, m;
        int r;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        r = xns_request_decode(&a, frame, len);
        if ((xns_request_decode_generic(&b, frame, len) < 0) != (r < 0) ||
            (r == 0 && memcmp(&a, &b, sizeof(a)) != 0))
                fail("the readers of a request disagree");
        if (r < 0)
                return;
        n = xns_request_encode(&a, buf, sizeof(buf));
        if (n < 0)
                return;         /* e.g. a name too long: decoded to be refused */
        if (xns_request_decode_generic(&b, buf, (size_t)n) < 0)
                fail("an encoded request does not decode");
        m = xns_request_encode(&b, again, sizeof(again));
        if (m != n || memcmp(buf, again, (size_t)n) != 0)
                fail("a request changes from one round trip to the next");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *frame;

        if (size < 1)
                return 0;
        /* A copy of exactly the frame's size: ASan sees any read past it. */
        frame = malloc(size - 1 ? size - 1 : 1);
        if (!frame)
                abort();
        memcpy(frame, data + 1, size - 1);
        if (data[0] & 1)
                check_request(frame, size - 1);
        else
                check_reply(frame, size - 1);
        free(frame);
        return 0;
}
