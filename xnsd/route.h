/* route.h: what the daemon does with each request a link sends. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus;
struct conn;

int route_frame(struct conn *conn, const void *buf, size_t len, int fd);
int route_ring_pass(struct conn *conn);
int route_ring_turn(struct conn *conn);
void route_rings_ready(struct bus *bus);
void route_link_gone(struct conn *conn);

struct peer;
struct server;
struct xns_sid;
int route_cid_add(struct bus *bus, struct peer *peer, const struct xns_sid *sid, uint32_t *cid);
void route_wake_waiters(struct bus *bus, struct server *server);
