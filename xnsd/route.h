/* route.h: what the daemon does with each request a link sends. */
#pragma once

struct conn;

int route_frame(struct conn *conn, const void *buf, size_t len, int fd);
