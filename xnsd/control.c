/* control.c: the control part of the protocol, what xnsctl asks: a snapshot
 * of the daemon (status, names, processes) in a sealed memfd, and the live
 * monitor trace of routed messages. */
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "bus.h"
#include "clock.h"
#include "conn.h"
#include "control.h"
#include "control.pb-c.h"
#include "log.h"
#include "macro.h"
#include "memfd.h"
#include "message.h"
#include "name.h"
#include "peer.h"
#include "server.h"
#include "utf8.h"

#define SID_HEX_LEN 33

static void sid_hex(const struct xns_sid *sid, char out[static SID_HEX_LEN]) {
        snprintf(out, SID_HEX_LEN, "%08x%08x%08x%08x", sid->w[0], sid->w[1], sid->w[2], sid->w[3]);
}

/* Every string in a snapshot lives in this arena until the snapshot is packed. */
struct snapshot {
        Xns__Snapshot pb;
        Xns__Status status;
        Xns__ClusterView *view;         /* the gateway's, unpacked for this snapshot */
        void **blocks;
        size_t n_blocks;
        bool oom;
};

static void *snapshot_alloc(struct snapshot *s, size_t n, size_t size) {
        void **blocks;
        void *p;

        if (s->oom)
                return NULL;
        blocks = reallocarray(s->blocks, s->n_blocks + 1, sizeof(*blocks));
        p = calloc(n ? n : 1, size);
        if (!blocks || !p) {
                if (blocks)
                        s->blocks = blocks;
                free(p);
                s->oom = true;
                return NULL;
        }
        s->blocks = blocks;
        s->blocks[s->n_blocks++] = p;
        return p;
}

static char *snapshot_strdup(struct snapshot *s, const char *str) {
        char *p = snapshot_alloc(s, strlen(str) + 1, 1);

        return p ? strcpy(p, str) : (char *)"";
}

static void snapshot_free(struct snapshot *s) {
        if (s->view)
                xns__cluster_view__free_unpacked(s->view, NULL);
        for (size_t i = 0; i < s->n_blocks; i++)
                free(s->blocks[i]);
        free(s->blocks);
}

static void snapshot_status(struct snapshot *s, struct bus *bus) {
        struct bus_counts counts;

        bus_count(bus, &counts);
        xns__status__init(&s->status);
        s->status.version = (char *)XNS_VERSION;
        s->status.pid = (uint32_t)getpid();
        s->status.uptime_us = clock_us(CLOCK_MONOTONIC) - bus->started_us;
        s->status.names = counts.names;
        s->status.servers = counts.servers;
        s->status.processes = counts.processes;
        s->status.links = counts.links;
        s->status.pending_calls = counts.pending_calls;
        s->status.queue_depth = bus->opt.queue_depth;
        s->status.max_cids = bus->opt.max_cids;
        s->status.frame_max = XNS_FRAME_MAX;
        s->status.max_names = bus->opt.max_names;
        s->status.max_servers = bus->opt.max_servers;
        s->status.max_queued = bus->opt.max_queued;
        s->status.max_links_per_uid = bus->opt.max_links_per_uid;
        s->status.max_shm_mb = bus->opt.max_shm_mb;
        s->status.tag = bus->tag;
        s->status.gateway_host = bus->gw.link ? snapshot_strdup(s, bus->gw.host) : (char *)"";
        s->status.gateway_pid = bus->gw.link ? (uint32_t)bus->gw.link->pid : 0;
        if (bus->gw.view)
                s->view = xns__cluster_view__unpack(NULL, bus->gw.view_len, bus->gw.view);
        if (s->view) {
                s->status.nats_url = s->view->nats_url;
                s->status.n_hosts = s->view->n_hosts;
                s->status.hosts = s->view->hosts;
        }
        s->pb.status = &s->status;
}

static bool peer_holds_sid(const struct peer *peer, const struct xns_sid *sid) {
        for (uint32_t i = 0; i < peer->n_cids; i++)
                if (peer->cids[i].used && xns_sid_equal(&peer->cids[i].sid, sid))
                        return true;
        return false;
}

static void snapshot_name(struct snapshot *s, struct bus *bus, const struct name *name, bool detail) {
        const struct server *server = name->server;
        Xns__NameInfo *info = snapshot_alloc(s, 1, sizeof(*info));
        char sid[SID_HEX_LEN];
        struct message *m;
        struct peer *peer;

        if (!info)
                return;
        xns__name_info__init(info);
        sid_hex(&server->sid, sid);
        info->name = snapshot_strdup(s, name->str);
        info->sid = snapshot_strdup(s, sid);
        info->host = snapshot_strdup(s, bus->gw.link ? bus->gw.host : "");
        info->pid = (uint32_t)server->owner->pid;
        info->command = snapshot_strdup(s, server->owner->comm);
        info->conns = name->granted;
        info->max_conns = name->max_conns;
        info->queue_depth = server->depth;
        info->queued = server->used;
        info->served = server->served;
        list_for_each_entry(m, (struct list *)&server->stalled, link)
                info->stalled++;
        info->receivers = 0;
        for (struct list *i = server->receivers.next; i != &server->receivers; i = i->next)
                info->receivers++;
        if (detail) {
                info->clients = snapshot_alloc(s, bus->n_peers, sizeof(uint32_t));
                list_for_each_entry(peer, &bus->peers, bus_link)
                        if (info->clients && peer_holds_sid(peer, &server->sid))
                                info->clients[info->n_clients++] = (uint32_t)peer->pid;
        }
        s->pb.names[s->pb.n_names++] = info;
}

struct name_walk {
        struct snapshot *s;
        struct bus *bus;
};

static void name_visit(const void *node, VISIT which, void *data) {
        struct name_walk *w = data;

        if (which == postorder || which == leaf)
                snapshot_name(w->s, w->bus, *(struct name *const *)node, false);
}

/* A name another host exports, as the gateway last told. */
static void snapshot_remote_name(struct snapshot *s, const Xns__ClusterName *n) {
        Xns__NameInfo *info = snapshot_alloc(s, 1, sizeof(*info));

        if (!info)
                return;
        xns__name_info__init(info);
        info->name = n->name;
        info->host = n->host;
        info->sid = n->sid;
        info->max_conns = n->max_conns;
        s->pb.names[s->pb.n_names++] = info;
}

/* Every name, sorted (the registry is a search tree); then those of other
 * hosts, as the gateway sees them. */
static void snapshot_names(struct snapshot *s, struct bus *bus) {
        struct name_walk w = { s, bus };
        size_t n_remote = s->view ? s->view->n_names : 0;

        s->pb.names = snapshot_alloc(s, bus->names.count + n_remote, sizeof(*s->pb.names));
        if (!s->pb.names)
                return;
        twalk_r(bus->names.root, name_visit, &w);
        for (size_t i = 0; i < n_remote; i++)
                if (strcmp(s->view->names[i]->host, bus->gw.host) != 0)
                        snapshot_remote_name(s, s->view->names[i]);
}

static void snapshot_peer(struct snapshot *s, struct bus *bus, struct peer *peer) {
        Xns__PeerInfo *info = snapshot_alloc(s, 1, sizeof(*info));
        struct server *server;
        struct conn *conn;
        size_t n_servers = 0;
        char sid[SID_HEX_LEN];

        if (!info)
                return;
        xns__peer_info__init(info);
        info->pid = (uint32_t)peer->pid;
        info->uid = (uint32_t)peer->uid;
        info->host = snapshot_strdup(s, peer->host);
        info->command = snapshot_strdup(s, peer->comm);
        list_for_each_entry(conn, &peer->conns, peer_link) {
                info->links++;
                info->blocked_calls += conn->wait == CONN_WAIT_REPLY || conn->wait == CONN_STALLED;
        }
        info->cids = snapshot_alloc(s, peer->n_cids, sizeof(*info->cids));
        for (uint32_t i = 0; info->cids && i < peer->n_cids; i++) {
                Xns__CidInfo *c;
                struct server *target;

                if (!peer->cids[i].used || !(c = snapshot_alloc(s, 1, sizeof(*c))))
                        continue;
                xns__cid_info__init(c);
                c->cid = i + PEER_CID_FIRST;
                target = bus_server_find(bus, &peer->cids[i].sid);
                sid_hex(&peer->cids[i].sid, sid);
                c->server = snapshot_strdup(s, target && target->name ? target->name->str : sid);
                info->cids[info->n_cids++] = c;
        }
        list_for_each_entry(server, &peer->servers, owner_link)
                n_servers++;
        info->servers = snapshot_alloc(s, n_servers, sizeof(*info->servers));
        list_for_each_entry(server, &peer->servers, owner_link) {
                Xns__ServerInfo *si;

                if (!info->servers || !(si = snapshot_alloc(s, 1, sizeof(*si))))
                        break;
                xns__server_info__init(si);
                sid_hex(&server->sid, sid);
                si->sid = snapshot_strdup(s, sid);
                si->name = snapshot_strdup(s, server->name ? server->name->str : "");
                info->servers[info->n_servers++] = si;
        }
        s->pb.peers[s->pb.n_peers++] = info;
}

static void snapshot_peers(struct snapshot *s, struct bus *bus) {
        struct peer *peer;

        s->pb.peers = snapshot_alloc(s, bus->n_peers, sizeof(*s->pb.peers));
        if (!s->pb.peers)
                return;
        list_for_each_entry(peer, &bus->peers, bus_link)
                snapshot_peer(s, bus, peer);
}

/* Packs the snapshot into a sealed memfd: the reader cannot change it. */
static int snapshot_seal(struct snapshot *s, int *out_fd, uint32_t *out_len) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = xns__snapshot__get_packed_size(&s->pb);
        int r;

        if (len > UINT32_MAX || !(buf = malloc(len ? len : 1)))
                return -ENOMEM;
        xns__snapshot__pack(&s->pb, buf);
        r = memfd_new_sealed("xns-snapshot", buf, len, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL,
                             out_fd);
        if (r < 0)
                return r;
        *out_len = (uint32_t)len;
        return 0;
}

static void control_snapshot(struct conn *conn, const struct xns_request *req) {
        struct bus *bus = conn->bus;
        struct snapshot s = { .pb = XNS__SNAPSHOT__INIT };
        struct xns_reply reply = { .seq = req->seq, .body = XNS_BODY_SNAPSHOT };
        uint32_t what = req->control.what;
        int fd = -1, r;

        snapshot_status(&s, bus);
        if (what == XNS_CONTROL_LIST)
                snapshot_names(&s, bus);
        if (what == XNS_CONTROL_PEERS)
                snapshot_peers(&s, bus);
        if (what == XNS_CONTROL_SHOW) {
                const struct xns_name *n = &req->control.names[0];
                struct name *name;

                if (req->control.n_names != 1 || !xns_name_valid(n->str, n->len))
                        return snapshot_free(&s), conn_reply_result(conn, req->seq, -EILSEQ);
                name = name_registry_find(&bus->names, n->str);
                if (!name)
                        return snapshot_free(&s), conn_reply_result(conn, req->seq, -ENOENT);
                s.pb.names = snapshot_alloc(&s, 1, sizeof(*s.pb.names));
                if (s.pb.names)
                        snapshot_name(&s, bus, name, true);
        }
        r = s.oom ? -ENOMEM : snapshot_seal(&s, &fd, &reply.snapshot);
        snapshot_free(&s);
        if (r < 0) {
                log_error("pid %d: cannot build a control snapshot: %s", (int)conn->pid, strerror(-r));
                return conn_reply_result(conn, req->seq, -ENOMEM);
        }
        conn_queue_reply(conn, &reply, fd);
}

static void control_monitor_start(struct conn *conn, const struct xns_request *req) {
        struct bus *bus = conn->bus;
        uint32_t n = req->control.n_names;

        for (uint32_t i = 0; i < n; i++)
                if (!xns_name_valid(req->control.names[i].str, req->control.names[i].len))
                        return conn_reply_result(conn, req->seq, -EILSEQ);
        if (conn->monitor)
                return conn_reply_result(conn, req->seq, -EINVAL);
        if (n > 0) {
                conn->watch = calloc(n, sizeof(*conn->watch));
                if (!conn->watch)
                        return conn_reply_result(conn, req->seq, -ENOMEM);
                memcpy(conn->watch, req->control.names, n * sizeof(*conn->watch));
                conn->n_watch = n;
        }
        conn->monitor = true;
        conn->payloads = req->control.payloads != 0;
        list_link_tail(&bus->monitors, &conn->monitor_link);
        bus->n_monitors++;
        bus->n_payload_monitors += conn->payloads;
        bus->observer = control_monitor_message;
        log_debug("pid %d: monitoring%s", (int)conn->pid, conn->payloads ? " with payloads" : "");
        conn_reply_result(conn, req->seq, 0);
}

#define CLUSTER_VIEW_MAX (4u << 20)    /* bytes of a gateway's view */

/* Valid UTF-8 (xnsctl prints them) and SIDs of 32 hex digits. */
static bool text_valid(const char *s) {
        for (size_t i = 0, len = strlen(s); i < len;) {
                size_t n = utf8_sequence_len(s + i, len - i);

                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

static bool cluster_view_valid(const Xns__ClusterView *v) {
        if (!text_valid(v->nats_url))
                return false;
        for (size_t i = 0; i < v->n_hosts; i++)
                if (!xns_host_valid(v->hosts[i]->name, strlen(v->hosts[i]->name)))
                        return false;
        for (size_t i = 0; i < v->n_names; i++) {
                const Xns__ClusterName *n = v->names[i];

                if (!xns_name_valid(n->name, strlen(n->name)) || !xns_host_valid(n->host, strlen(n->host)) ||
                    strlen(n->sid) != SID_HEX_LEN - 1 || strspn(n->sid, "0123456789abcdef") != SID_HEX_LEN - 1)
                        return false;
        }
        return true;
}

/*
 * control_gateway_view() - the gateway tells what it sees of the cluster
 * (a ClusterView in a sealed memfd), for xnsctl: kept as it came, once it
 * parsed and checked. Anything else is ignored with a log line.
 */
void control_gateway_view(struct conn *conn, int fd) {
        struct bus *bus = conn->bus;
        _cleanup_free_ uint8_t *buf = NULL;
        Xns__ClusterView *view;
        struct stat st;

        if (conn != bus->gw.link || memfd_check(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, 0, CLUSTER_VIEW_MAX,
                                                O_RDWR) < 0 || fstat(fd, &st) < 0)
                return log_info("pid %d: a cluster view not from the gateway, or not sealed", (int)conn->pid);
        buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
                return;
        view = xns__cluster_view__unpack(NULL, (size_t)st.st_size, buf);
        if (!view || !cluster_view_valid(view)) {
                if (view)
                        xns__cluster_view__free_unpacked(view, NULL);
                return log_info("pid %d: the gateway sent a malformed cluster view", (int)conn->pid);
        }
        xns__cluster_view__free_unpacked(view, NULL);
        free(bus->gw.view);
        bus->gw.view = TAKE_PTR(buf);
        bus->gw.view_len = (size_t)st.st_size;
}

void control_request(struct conn *conn, const struct xns_request *req) {
        uint32_t what = req->control.what;

        /* Peers and monitor show other people's traffic. */
        if ((what == XNS_CONTROL_PEERS || what == XNS_CONTROL_MONITOR) && !conn_privileged(conn))
                return conn_reply_result(conn, req->seq, -EACCES);
        if (what == XNS_CONTROL_MONITOR)
                return control_monitor_start(conn, req);
        control_snapshot(conn, req);
}

static bool monitor_watches(const struct conn *conn, const struct server *server) {
        if (conn->n_watch == 0)
                return true;
        if (!server->name)
                return false;
        for (uint32_t i = 0; i < conn->n_watch; i++)
                if (strcmp(conn->watch[i].str, server->name->str) == 0)
                        return true;
        return false;
}

/*
 * The message's memfd for a monitor that wants payloads, or -1. A
 * MutableBorrow's is the caller's read-write one: the monitor gets the file
 * opened again read-only, so that reading what went by cannot scribble on
 * a caller's buffer by mistake. That guards against accidents only: the
 * file's mode lets whoever holds it open it read-write again, and a monitor
 * is xnsd's user or root anyway. If the file cannot be opened again (its
 * owner took the mode away), the monitor gets the descriptor as it is,
 * rather than no payload.
 */
static int monitor_payload_fd(const struct conn *conn, const struct message *m) {
        int mfd = message_fd(m), flags, fd;

        if (!conn->payloads || mfd < 0)
                return -1;
        flags = fcntl(mfd, F_GETFL);
        if (flags >= 0 && (flags & O_ACCMODE) != O_RDONLY) {
                fd = memfd_open_read_only(mfd);
                if (fd >= 0)
                        return fd;
        }
        return fcntl(mfd, F_DUPFD_CLOEXEC, 3);
}

/*
 * control_monitor_message() - tell every monitor about a finished message.
 *
 * Called once per message: answered, delivered (kinds without an answer) or
 * failed; m->server is still set. A call whose caller timed out has been
 * told then (route.c): what becomes of it later is not. A monitor that
 * does not keep up loses events (counted in the next one it gets) rather
 * than slowing the bus.
 * One that asked for payloads gets a memory message's memfd (read-only
 * where it can be) beside its event, for it to read: xnsd never maps it.
 */
void control_monitor_message(struct bus *bus, const struct message *m, int result,
                             const struct xns_reply *answer) {
        const struct server *server = m->server;
        struct xns_reply reply = { .body = XNS_BODY_EVENT };
        struct xns_event *e = &reply.event;
        struct conn *conn;

        if (m->timed_out)
                return;
        *e = (struct xns_event){
                .time_us = clock_us(CLOCK_REALTIME), .pid = m->sender_pid, .sid = server->sid,
                .kind = m->kind, .id = m->id, .a = { m->a[0], m->a[1], m->a[2], m->a[3] },
                .len = m->len, .error = xns_error_from_errno(result),
                .latency_us = m->sent_us ? (uint32_t)(clock_us(CLOCK_MONOTONIC) - m->sent_us) : 0,
        };
        if (server->name) {
                e->server.len = strlen(server->name->str);
                memcpy(e->server.str, server->name->str, e->server.len);
        }
        if (m->from)            /* while the caller lives: a remote one's host */
                memcpy(e->host, m->from->host, sizeof(e->host));
        if (answer && answer->body == XNS_BODY_SCALAR) {
                e->count = answer->scalar.count;
                memcpy(e->v, answer->scalar.v, sizeof(e->v));
        }
        list_for_each_entry(conn, &bus->monitors, monitor_link) {
                if (!monitor_watches(conn, server))
                        continue;
                if (conn_out_pending(conn) >= CONN_MAX_OUT / 2) {
                        conn->dropped++;
                        continue;
                }
                e->dropped = conn->dropped;
                if (conn_queue_reply(conn, &reply, monitor_payload_fd(conn, m)) == 0)
                        conn->dropped = 0;
        }
}
