/* ring.h: a link's ring of posted Scalars, shared with its client. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct conn;
struct list;

uint32_t ring_attach(struct conn *conn, int fd);
void ring_detach(struct conn *conn);
int ring_drain(struct conn *conn);
void ring_drain_last(struct conn *conn);
void ring_resume(struct conn *conn, uint32_t error, uint32_t cid);
void ring_drain_ready(struct list *ready);
