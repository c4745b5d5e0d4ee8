/* gateway.h: xnsd's side of the gateway to other hosts (xnsgw): what it
 * asks the cluster (claims of exported names, lookups and connects that miss
 * here), the answers, and the sessions standing in for remote processes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct bus;
struct conn;
struct peer;
struct server;

void gateway_attach(struct conn *conn, const struct xns_request *req);
void gateway_answer(struct conn *conn, const struct xns_request *req);
void gateway_link_gone(struct conn *conn);

/* May this link open a session for a remote process (Hello with origin)? */
bool gateway_may_stand_in(const struct conn *conn);

/* A name the cluster must agree on before it is registered here. */
bool gateway_exports(const struct bus *bus, const struct peer *peer, const char *name);
void gateway_claim(struct conn *conn, uint32_t seq, struct server *server);
/* Asks the cluster for what is not here, parking conn: false when there is
 * no one to ask (no gateway, or conn is itself a remote process's session). */
bool gateway_lookup(struct conn *conn, uint32_t seq, const struct xns_name *name, bool wait);
bool gateway_connect(struct conn *conn, uint32_t seq, const struct xns_sid *sid, bool wait);
