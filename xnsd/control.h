/* control.h: the control part of the protocol (xnsctl): snapshots of the
 * daemon and the live monitor trace. */
#pragma once

#include <stdint.h>

#include "bus.h"
#include "wire.h"

struct conn;
struct message;

void control_request(struct conn *conn, const struct xns_request *req);
void control_gateway_view(struct conn *conn, int fd);
void control_monitor_message(struct bus *bus, const struct message *m, int result,
                             const struct xns_reply *answer);
