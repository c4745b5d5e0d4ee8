/* route.h: what the daemon does with each request a link sends. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct xns_ring_slot;

int route_frame(struct conn *conn, const void *buf, size_t len, int fd);
int route_posted(struct conn *conn, const struct xns_ring_slot *s, bool last, uint32_t *error);
