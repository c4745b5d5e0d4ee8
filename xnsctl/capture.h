/* capture.h: xnsctl capture's output: monitor events as pcapng blocks. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define CAPTURE_SNAPLEN_DEFAULT 64u
#define CAPTURE_SNAPLEN_MAX (256u << 10)

int capture_write_header(int out);
int capture_write_event(int out, const struct xns_event *e, const uint8_t *payload, uint32_t n_payload);
