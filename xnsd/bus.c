/* bus.c: the daemon's whole state (processes, servers by SID, names, limits)
 * and the lifecycle rules that tie them together. */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>


#include "bus.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "message.h"
#include "peer.h"
#include "quota.h"
#include "ring.h"
#include "server.h"

static int server_compare(const void *a, const void *b) {
        return memcmp(&((const struct server *)a)->sid, &((const struct server *)b)->sid,
                      sizeof(struct xns_sid));
}

void bus_init(struct bus *bus, const struct bus_options *opt) {
        *bus = (struct bus){ .opt = *opt, .started_us = clock_us(CLOCK_MONOTONIC) };
        while (bus->tag == 0)   /* w0 of every SID made here: 0 is no host's */
                if (getrandom(&bus->tag, sizeof(bus->tag), 0) != sizeof(bus->tag))
                        bus->tag = (uint32_t)bus->started_us | 1;
        list_init(&bus->gw.waiters);
        list_init(&bus->monitors);
        list_init(&bus->pumps);
        list_init(&bus->ring_ready);
        list_init(&bus->chan_ready);
        list_init(&bus->conns);
        list_init(&bus->peers);
        list_init(&bus->name_waiters);
        list_init(&bus->sid_waiters);
        list_init(&bus->dirty);
        list_init(&bus->dead);
}

/* Releases everything; the loop has disconnected every conn before. */
void bus_deinit(struct bus *bus) {
        free(bus->gw.view);
        name_registry_deinit(&bus->names);
        users_deinit(&bus->users);
        message_pool_drain();
}

/* A session the gateway opens for a process of another host: that
 * process's pid and uid as its host says, no groups. */
static int peer_new_remote(struct peer **out, struct bus *bus, struct conn *conn, const struct xns_origin *o) {
        int r = peer_new(out, bus, (pid_t)o->pid, (uid_t)o->uid, (gid_t)-1);

        if (r < 0)
                return r;
        (*out)->link_pid = conn->pid;
        (*out)->link_uid = conn->uid;
        memcpy((*out)->host, o->host, sizeof((*out)->host));
        snprintf((*out)->comm, sizeof((*out)->comm), "?");
        return 0;
}

/*
 * bus_peer_attach() - tie a new link to its process.
 *
 * No token: the first link of a new process (origin: a remote process's,
 * the gateway's link vouching for it). A token: a further link of a known
 * process, which must come from the same pid and uid.
 */
int bus_peer_attach(struct bus *bus, struct conn *conn, const uint8_t *token, const struct xns_origin *origin) {
        struct peer *peer;
        int r;

        if (!token && origin) {
                r = peer_new_remote(&peer, bus, conn, origin);
                if (r < 0)
                        return r;
                list_link_tail(&bus->peers, &peer->bus_link);
                bus->n_peers++;
                log_debug("host %s pid %u: new remote process", origin->host, origin->pid);
        } else if (!token) {
                r = peer_new(&peer, bus, conn->pid, conn->uid, conn->gid);
                if (r < 0)
                        return r;
                r = peer_read_groups(peer, conn->fd);
                if (r < 0) {
                        peer_free(peer);
                        return r;
                }
                list_link_tail(&bus->peers, &peer->bus_link);
                bus->n_peers++;
                log_debug("pid %d: new process", (int)peer->pid);
        } else {
                peer = NULL;
                for (struct list *i = bus->peers.next; i != &bus->peers; i = i->next) {
                        struct peer *p = list_entry(i, struct peer, bus_link);

                        if (memcmp(p->token, token, XNS_TOKEN_LEN) == 0) {
                                peer = p;
                                break;
                        }
                }
                if (!peer || peer->link_pid != conn->pid || peer->link_uid != conn->uid)
                        return -EACCES;
        }
        conn->peer = peer;
        list_link_tail(&peer->conns, &conn->peer_link);
        return 0;
}

/* How a server wakes those who wait on it: they are links. */
static struct conn *receiver_conn(struct server_receiver *r) {
        return list_entry(r, struct conn, receiver);
}

static void server_deliver(struct server_receiver *r, struct xns_reply *reply, int fd) {
        conn_wake(receiver_conn(r), reply, fd);
}

static void server_deliver_more(struct server_receiver *r, struct xns_reply *reply) {
        conn_queue_reply(receiver_conn(r), reply, -1);
}

static void server_refuse(struct server_receiver *r, int result) {
        conn_wake_result(receiver_conn(r), result);
}

static void server_observe(const struct server *server, const struct message *m, int result) {
        bus_observe(server->owner->bus, m, result, NULL);
}

static const struct server_hooks bus_server_hooks = {
        .deliver = server_deliver,
        .deliver_more = server_deliver_more,
        .refuse = server_refuse,
        .wake = conn_wake_result,
        .posted = ring_resume,
        .observe = server_observe,
};

/*
 * bus_server_create() - a new server for owner: with a new SID (random, its
 * w0 the bus's tag, so that other hosts know where it lives), or with sid
 * (the gateway's proxy of another host's server). -EDQUOT when owner has
 * as many as it may, -EEXIST when sid exists.
 */
int bus_server_create(struct bus *bus, struct peer *owner, const struct xns_sid *sid, struct server **out) {
        struct server *server;
        void *slot;
        int r;

        if (owner->n_servers >= bus->opt.max_servers && !owner->gateway) {
                quota_hit(NULL, owner, owner->pid, QUOTA_SERVERS);
                return -EDQUOT;
        }
        r = server_new(&server, owner, bus->opt.queue_depth, &bus_server_hooks);
        if (r < 0)
                return r;
        if (sid)
                server->sid = *sid;
        else
                server->sid.w[0] = bus->tag;
        slot = tsearch(server, &bus->servers, server_compare);
        if (!slot || *(struct server **)slot != server) {
                server_free(server);
                return slot ? -EEXIST : -ENOMEM;
        }
        bus->n_servers++;
        *out = server;
        return 0;
}

struct server *bus_server_find(struct bus *bus, const struct xns_sid *sid) {
        struct server key = { .sid = *sid };
        void *slot = tfind(&key, &bus->servers, server_compare);

        return slot ? *(struct server **)slot : NULL;
}

/* Wakes everyone waiting on the server with result and forgets it: its name,
 * its SID, its queue. Other processes' CIDs to it now find nothing. */
void bus_server_destroy(struct bus *bus, struct server *server, int result) {
        server_fail_all(server, result);
        if (server->name && bus->name_removed)
                bus->name_removed(bus, server->name);
        if (server->name) {
                name_registry_remove(&bus->names, server->name);
                server->owner->n_names--;
        }
        tdelete(server, &bus->servers, server_compare);
        bus->n_servers--;
        server_free(server);
}

/* A link's parked request can no longer be answered: forget it. */
static void conn_cancel_wait(struct conn *conn) {
        switch (conn->wait) {
        case CONN_WAIT_REPLY:
                conn->wait_msg->caller = NULL;
                break;
        case CONN_STALLED:
                conn->wait_msg->sender = NULL;
                break;
        default:
                break;
        }
        conn_unpark(conn);
}

/*
 * peer_release() - a process is gone: fail what waits on it, free what it had.
 *
 * First its servers stop taking messages (queued and waiting senders wake
 * with SERVER_NOT_FOUND), then the messages it received and never answered
 * are failed the same way, then its servers and names go. Messages it sent
 * stay queued: they were sent before it died.
 */
static void peer_release(struct bus *bus, struct peer *peer) {
        struct server *server;

        log_debug("pid %d: process gone", (int)peer->pid);
        /* Its servers take nothing more: a sender waiting for room hears
         * SERVER_NOT_FOUND now, rather than OK from a queue about to go. */
        list_for_each_entry(server, &peer->servers, owner_link)
                server_fail_all(server, -ENOENT);
        for (uint32_t i = 0; i < peer->n_envelopes; i++) {
                struct message *m = peer->envelopes[i];

                if (!m)
                        continue;
                bus_observe(bus, m, -ENOENT, NULL);
                if (m->caller)
                        conn_wake_result(m->caller, -ENOENT);
                m->caller = NULL;
                server_answered(m->server, m);
                message_free(m);
        }
        while (!list_is_empty(&peer->servers))
                bus_server_destroy(bus, list_first_entry(&peer->servers, struct server, owner_link),
                                   -ENOENT);
        while (!list_is_empty(&peer->sent)) {
                struct message *m = list_first_entry(&peer->sent, struct message, sent_link);

                list_unlink(&m->sent_link);     /* still delivered, no longer counted */
                m->from = NULL;
        }
        peer->n_sent = 0;
        if (bus->peer_gone)
                bus->peer_gone(bus, peer);
        bus->n_peers--;
        peer_free(peer);
}

/*
 * bus_conn_add() - a new link, counted against its user's limit.
 *
 * A link over the limit is kept long enough to hear so at Hello; one far
 * over it (BUS_LINKS_GRACE) is refused with -EDQUOT, for the loop to close.
 */
int bus_conn_add(struct bus *bus, struct conn *conn) {
        uint32_t max = bus->opt.max_links_per_uid;
        int r;

        r = user_ref(&bus->users, conn->uid, &conn->user);
        if (r < 0)
                return r;
        if (conn->user->links >= max) {
                quota_hit(conn->user, NULL, conn->pid, QUOTA_LINKS);
                if (conn->user->links >= max + BUS_LINKS_GRACE) {
                        conn->user = user_unref(conn->user);
                        return -EDQUOT;
                }
                conn->over_quota = true;
        }
        conn->user->links++;
        list_link_tail(&bus->conns, &conn->bus_link);
        bus->n_conns++;
        return 0;
}

/*
 * bus_conn_disconnect() - a link is gone (EOF, error, or cut for misbehaving).
 *
 * The conn is marked dead and handed to the loop to free once nothing refers
 * to it; the last link of a process releases the process. What its ring
 * still held was routed before (route_link_gone()).
 */
void bus_conn_disconnect(struct conn *conn) {
        struct bus *bus = conn->bus;
        struct peer *peer = conn->peer;

        if (conn->dead)
                return;
        conn_cancel_wait(conn);
        if (conn->monitor) {
                list_unlink(&conn->monitor_link);
                bus->n_monitors--;
                bus->n_payload_monitors -= conn->payloads;
        }
        conn->dead = true;
        list_unlink(&conn->dirty_link);
        list_link_tail(&bus->dead, &conn->dirty_link);
        list_unlink(&conn->bus_link);
        bus->n_conns--;
        conn->user->links--;
        conn->user = user_unref(conn->user);
        if (peer) {
                struct message *m;

                /* Its posted Scalars still waiting for room stay: they were
                 * sent. There is no ring left to resume. */
                list_for_each_entry(m, &peer->sent, sent_link)
                        if (m->sender == conn)
                                m->sender = NULL;
                conn->ring_stalled = NULL;
                list_unlink(&conn->peer_link);
                conn->peer = NULL;
                if (list_is_empty(&peer->conns))
                        peer_release(bus, peer);
        }
}

/* A link blocked in a send: its caller waits for an answer or for room. */
static bool conn_blocked_in_call(const struct conn *conn) {
        return conn->wait == CONN_WAIT_REPLY || conn->wait == CONN_STALLED;
}

void bus_count(struct bus *bus, struct bus_counts *out) {
        struct conn *conn;

        *out = (struct bus_counts){
                .names = bus->names.count, .servers = bus->n_servers,
                .processes = bus->n_peers, .links = bus->n_conns,
        };
        list_for_each_entry(conn, &bus->conns, bus_link)
                out->pending_calls += conn_blocked_in_call(conn);
}
