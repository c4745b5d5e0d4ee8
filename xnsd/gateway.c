/* gateway.c: xnsd's side of the gateway to other hosts (xnsgw): what it
 * asks the cluster (claims of exported names, lookups and connects that miss
 * here), the answers, and the sessions standing in for remote processes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "conn.h"
#include "gateway.h"
#include "log.h"
#include "macro.h"
#include "name.h"
#include "peer.h"
#include "route.h"
#include "server.h"

static bool attached(const struct bus *bus) {
        return bus->gw.link != NULL;
}

static void gateway_emit(struct bus *bus, const struct xns_gateway_event *e) {
        struct xns_reply reply = { .seq = 0, .body = XNS_BODY_GATEWAY, .gateway = *e };

        conn_queue_reply(bus->gw.link, &reply, -1);
}

static uint32_t gateway_ticket(struct bus *bus) {
        if (++bus->gw.next_ticket == 0)
                bus->gw.next_ticket = 1;
        return bus->gw.next_ticket;
}

static struct xns_name name_of(const char *str) {
        struct xns_name n = { .len = strlen(str) };

        memcpy(n.str, str, n.len + 1);
        return n;
}

/* An export pattern is a name, or a prefix written NAME*. */
static bool export_matches(const struct xns_name *pattern, const char *name) {
        size_t len = pattern->len;

        if (len > 0 && pattern->str[len - 1] == '*')
                return strncmp(name, pattern->str, len - 1) == 0;
        return strcmp(name, pattern->str) == 0;
}

bool gateway_exports(const struct bus *bus, const struct peer *peer, const char *name) {
        if (!attached(bus) || peer->host[0] != '\0')
                return false;
        for (uint32_t i = 0; i < bus->gw.n_exports; i++)
                if (export_matches(&bus->gw.exports[i], name))
                        return true;
        return false;
}

static void emit_claim(struct bus *bus, uint32_t ticket, const struct name *name) {
        gateway_emit(bus, &(struct xns_gateway_event){
                .what = XNS_GATEWAY_CLAIM, .ticket = ticket, .name = name_of(name->str),
                .sid = name->server->sid, .max_conns = name->max_conns,
        });
}

/* A name that goes while the gateway is attached: the cluster forgets it,
 * unless it was never the cluster's (still claimed, or not exported). */
static void gateway_name_removed(struct bus *bus, const struct name *name) {
        if (name->claim_ticket != 0 || !gateway_exports(bus, name->server->owner, name->str))
                return;
        gateway_emit(bus, &(struct xns_gateway_event){ .what = XNS_GATEWAY_RELEASE, .name = name_of(name->str) });
}

/* A process of this host is gone: other hosts close the sessions that
 * stood in for it (what it had in flight there ends harmlessly). */
static void gateway_peer_gone(struct bus *bus, const struct peer *peer) {
        if (peer->host[0] != '\0' || peer->gateway)
                return;
        gateway_emit(bus, &(struct xns_gateway_event){ .what = XNS_GATEWAY_GONE, .pid = (uint32_t)peer->pid });
}

/* Names registered before the gateway came are exported now (ticket 0:
 * no one waits for the answer), then the gateway hears that is all: the
 * cluster's names of this host it did not hear of are stale. */
static void gateway_export_existing(struct bus *bus) {
        struct peer *peer;
        struct server *server;

        list_for_each_entry(peer, &bus->peers, bus_link)
                list_for_each_entry(server, &peer->servers, owner_link)
                        if (server->name && gateway_exports(bus, peer, server->name->str))
                                emit_claim(bus, 0, server->name);
        gateway_emit(bus, &(struct xns_gateway_event){ .what = XNS_GATEWAY_EXPORTED });
}

/*
 * gateway_attach() - a link of the daemon's user (or root) becomes the
 * gateway: one at a time. Its reply carries the bus's tag, the w0 of every
 * SID made here; then events come on it.
 */
void gateway_attach(struct conn *conn, const struct xns_request *req) {
        struct bus *bus = conn->bus;
        struct xns_reply reply = { .seq = req->seq, .body = XNS_BODY_TAG, .tag = bus->tag };

        if (!conn_privileged(conn) || conn->peer->host[0] != '\0')
                return conn_reply_result(conn, req->seq, -EACCES);
        if (attached(bus))
                return conn_reply_result(conn, req->seq, -EEXIST);
        bus->gw.link = conn;
        memcpy(bus->gw.host, req->gateway_attach.host, sizeof(bus->gw.host));
        bus->gw.n_exports = req->gateway_attach.n_exports;
        memcpy(bus->gw.exports, req->gateway_attach.exports, sizeof(bus->gw.exports));
        bus->name_removed = gateway_name_removed;
        bus->peer_gone = gateway_peer_gone;
        conn->peer->gateway = true;
        conn->max_out = CONN_MAX_OUT_GATEWAY;
        log_info("pid %d: gateway of host '%s' attached", (int)conn->pid, bus->gw.host);
        conn_queue_reply(conn, &reply, -1);
        gateway_export_existing(bus);
}

bool gateway_may_stand_in(const struct conn *conn) {
        const struct conn *gw = conn->bus->gw.link;

        return gw && gw->pid == conn->pid && gw->uid == conn->uid;
}

/* Parks conn until the gateway answers ticket. */
static void park_on_gateway(struct conn *conn, uint32_t seq, uint32_t what, uint32_t ticket) {
        conn_park_on(conn, CONN_WAIT_GATEWAY, seq, &conn->bus->gw.waiters);
        conn->gw_ticket = ticket;
        conn->gw_what = what;
}

/* A registration of an exported name waits for the cluster's word; until
 * then the name is taken here but nobody can connect to it. */
void gateway_claim(struct conn *conn, uint32_t seq, struct server *server) {
        uint32_t ticket = gateway_ticket(conn->bus);

        server->name->claim_ticket = ticket;
        park_on_gateway(conn, seq, XNS_GATEWAY_CLAIM, ticket);
        conn->wait_sid = server->sid;
        emit_claim(conn->bus, ticket, server->name);
}

static bool may_ask(const struct conn *conn) {
        return attached(conn->bus) && conn->peer->host[0] == '\0' && !conn->peer->gateway;
}

bool gateway_lookup(struct conn *conn, uint32_t seq, const struct xns_name *name, bool wait) {
        struct bus *bus = conn->bus;
        uint32_t ticket;

        if (!may_ask(conn))
                return false;
        ticket = gateway_ticket(bus);
        if (wait) {     /* a registration here wakes it too */
                conn->wait_name = *name;
                conn_park_on(conn, CONN_WAIT_NAME, seq, &bus->name_waiters);
                conn->gw_ticket = ticket;
        } else {
                park_on_gateway(conn, seq, XNS_GATEWAY_LOOKUP, ticket);
        }
        gateway_emit(bus, &(struct xns_gateway_event){
                .what = XNS_GATEWAY_LOOKUP, .ticket = ticket, .name = *name, .wait = wait,
                .pid = (uint32_t)conn->peer->pid, .uid = (uint32_t)conn->peer->uid,
        });
        return true;
}

bool gateway_connect(struct conn *conn, uint32_t seq, const struct xns_sid *sid, bool wait) {
        struct bus *bus = conn->bus;
        uint32_t ticket;

        if (!may_ask(conn) || sid->w[0] == bus->tag)
                return false;
        ticket = gateway_ticket(bus);
        if (wait) {     /* the proxy's creation wakes it */
                conn->wait_sid = *sid;
                conn_park_on(conn, CONN_WAIT_SERVER, seq, &bus->sid_waiters);
                conn->gw_ticket = ticket;
        } else {
                park_on_gateway(conn, seq, XNS_GATEWAY_CONNECT, ticket);
        }
        gateway_emit(bus, &(struct xns_gateway_event){
                .what = XNS_GATEWAY_CONNECT, .ticket = ticket, .sid = *sid, .wait = wait,
                .pid = (uint32_t)conn->peer->pid, .uid = (uint32_t)conn->peer->uid,
        });
        return true;
}

/* The link waiting for ticket's answer, or NULL (it went away meanwhile). */
static struct conn *ticket_waiter(struct bus *bus, uint32_t ticket) {
        struct list *lists[] = { &bus->gw.waiters, &bus->name_waiters, &bus->sid_waiters };
        struct conn *c;

        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                list_for_each_entry(c, lists[i], wait_link)
                        if (c->gw_ticket == ticket)
                                return c;
        return NULL;
}

static void wake_with_error(struct conn *c, uint32_t error) {
        conn_wake(c, &(struct xns_reply){ .error = error }, -1);
}

/* The cluster's word on a claim: the name is ours (the registrant gets its
 * SID), or the server goes again (it gets the error). */
static void claim_answered(struct bus *bus, struct server *server, uint32_t error, struct conn *waiter) {
        if (error != XNS_OK) {
                log_info("'%s' not registered: the cluster answered %s", server->name->str,
                         xns_error_name(error) ?: "?");
                bus_server_destroy(bus, server, -ENOENT);       /* claim_ticket set: no release */
                if (waiter)
                        wake_with_error(waiter, error);
                return;
        }
        server->name->claim_ticket = 0;
        if (waiter)
                conn_wake(waiter, &(struct xns_reply){ .body = XNS_BODY_SID, .sid = server->sid }, -1);
        route_wake_waiters(bus, server);
}

/* The cluster's word on a lookup or connect: the proxy's SID, or an error.
 * A blocking lookup that hears "not found" goes on waiting here. */
static void lookup_answered(struct bus *bus, struct conn *waiter, uint32_t error, const struct xns_sid *sid) {
        struct server *server = sid ? bus_server_find(bus, sid) : NULL;
        uint32_t cid = 0;
        int r;

        if (error == XNS_ERR_SERVER_NOT_FOUND && waiter->wait != CONN_WAIT_GATEWAY) {
                waiter->gw_ticket = 0;
                return;
        }
        if (error != XNS_OK)
                return wake_with_error(waiter, error);
        if (!server)
                return wake_with_error(waiter, XNS_ERR_SERVER_NOT_FOUND);
        r = route_cid_add(bus, waiter->peer, &server->sid, &cid);
        if (r < 0)
                return conn_wake_result(waiter, r);
        conn_wake(waiter, &(struct xns_reply){ .body = XNS_BODY_CID, .cid = cid }, -1);
}

/* gateway_answer() - the gateway answers one of its events (seq 0, no reply). */
void gateway_answer(struct conn *conn, const struct xns_request *req) {
        struct bus *bus = conn->bus;
        uint32_t ticket = req->gateway_answer.ticket, error = req->gateway_answer.error;
        const struct xns_sid *sid = req->gateway_answer.has_sid ? &req->gateway_answer.sid : NULL;
        struct server *server = sid ? bus_server_find(bus, sid) : NULL;
        struct conn *waiter;

        if (conn != bus->gw.link)
                return;
        if (ticket == 0) {      /* an export of a name registered before the gateway came */
                if (error != XNS_OK && server && server->name)
                        log_info("'%s' stays local: the cluster answered %s", server->name->str,
                                 xns_error_name(error) ?: "?");
                return;
        }
        waiter = ticket_waiter(bus, ticket);
        if (server && server->name && server->name->claim_ticket == ticket)
                return claim_answered(bus, server, error, waiter);
        if (waiter && waiter->gw_what != XNS_GATEWAY_CLAIM)
                lookup_answered(bus, waiter, error, sid);
}

/* Claims that lost their gateway: their servers go (UNAVAILABLE). */
static void fail_pending_claims(struct bus *bus) {
        struct peer *peer;
        struct server *server, *tmp;

        list_for_each_entry(peer, &bus->peers, bus_link)
                list_for_each_entry_safe(server, tmp, &peer->servers, owner_link)
                        if (server->name && server->name->claim_ticket != 0)
                                claim_answered(bus, server, XNS_ERR_UNAVAILABLE,
                                               ticket_waiter(bus, server->name->claim_ticket));
}

/*
 * gateway_link_gone() - the gateway's link ends: what waited for it hears
 * SERVER_NOT_FOUND (a lookup) or UNAVAILABLE (a claim); blocking lookups go
 * on waiting for a name registered here. Names are local again.
 */
void gateway_link_gone(struct conn *conn) {
        struct bus *bus = conn->bus;
        struct conn *c, *tmp;

        if (conn != bus->gw.link)
                return;
        log_info("pid %d: gateway of host '%s' gone", (int)conn->pid, bus->gw.host);
        fail_pending_claims(bus);
        list_for_each_entry_safe(c, tmp, &bus->gw.waiters, wait_link)
                wake_with_error(c, XNS_ERR_SERVER_NOT_FOUND);
        list_for_each_entry(c, &bus->name_waiters, wait_link)
                c->gw_ticket = 0;
        list_for_each_entry(c, &bus->sid_waiters, wait_link)
                c->gw_ticket = 0;
        if (conn->peer)
                conn->peer->gateway = false;
        bus->name_removed = NULL;
        bus->peer_gone = NULL;
        bus->gw.link = NULL;
        bus->gw.n_exports = 0;
        free(bus->gw.view);
        bus->gw.view = NULL;
        bus->gw.view_len = 0;
}
