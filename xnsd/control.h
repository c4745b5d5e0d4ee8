/* control.h: the control part of the protocol (xnsctl): snapshots of the
 * daemon and the live monitor trace. */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "wire.h"

struct conn;
struct message;

void control_request(struct conn *conn, const struct xns_request *req);
void control_monitor_message(struct bus *bus, const struct message *m, uint32_t error,
                             const struct xns_reply *answer);

/* Cheap enough for the hot path: nothing happens while no monitor listens. */
static inline void control_monitor(struct bus *bus, const struct message *m, uint32_t error,
                                   const struct xns_reply *answer) {
        if (bus->n_monitors > 0)
                control_monitor_message(bus, m, error, answer);
}
