/* ring.h: a link's ring of posted Scalars, shared with its client. Passive:
 * route.c takes the Scalars and routes them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct conn;

int ring_memfd_result(int r);
int ring_attach(struct conn *conn, int fd);
void ring_detach(struct conn *conn);
int ring_available(struct conn *conn);
uint32_t ring_left(const struct conn *conn);
void ring_take(struct conn *conn, struct xns_ring_slot *out);
void ring_fail(struct conn *conn, int result, uint32_t cid);
void ring_pass_end(struct conn *conn);
void ring_ready(struct conn *conn);
void ring_resume(struct conn *conn, int result, uint32_t cid);
