/* fuzz-bus.h: what the daemon's fuzz targets (fuzz-route, fuzz-channel)
 * share: a counter standing in for getrandom(), so that tokens and SIDs
 * are predictable within an input; the descriptors a process has open; a
 * frame given the generation of a process's last delivery; and the walk
 * over an input's records. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern uint8_t fuzz_random_counter;     /* getrandom()'s next, less one; 0 at each input */

_Noreturn void fuzz_die(const char *what);
int fuzz_count_fds(void);
bool fuzz_fix_gen(uint32_t gen, const uint8_t *frame, size_t *len, uint8_t *out);

/* Records of byte 0 (ctl), bytes 1-2 (a length, little-endian, at most
 * XNS_FRAME_MAX + 1) and that many bytes (cut short at the input's end):
 * feed hears each. */
void fuzz_records(const uint8_t *data, size_t size,
                  void (*feed)(uint8_t ctl, const uint8_t *bytes, size_t len, void *ctx), void *ctx);
