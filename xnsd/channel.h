/* channel.h: a link's frames both ways in shared memory (proto/chan.h),
 * with its two doorbells. Passive: dispatch.c reads it, conn.c writes it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct conn;

int channel_attach(struct conn *conn, int memfd, int *bell);
int channel_start(struct conn *conn, int *bell);
void channel_detach(struct conn *conn);
int channel_take(struct conn *conn, void *buf, int *fd);
bool channel_due(struct conn *conn);
void channel_ready(struct conn *conn);
int channel_put(struct conn *conn, const void *frame, uint16_t len, int fd);
void channel_ring_client(struct conn *conn);
