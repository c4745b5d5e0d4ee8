/* bus.h: the daemon's whole state (processes, servers by SID, names, limits)
 * and the lifecycle rules that tie them together. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"
#include "name.h"
#include "quota.h"
#include "wire.h"

struct conn;
struct message;
struct peer;
struct policy;
struct server;

struct bus_options {
        uint32_t queue_depth;           /* slots per server queue */
        uint32_t max_cids;              /* CIDs per process */
        uint32_t max_links_per_uid;     /* links (client threads) per user */
        uint32_t max_names;             /* names per process */
        uint32_t max_servers;           /* servers per process, named or not */
        uint32_t max_queued;            /* messages a process sent that are not finished */
        uint32_t max_shm_mb;            /* MiB of memory messages in flight per user */
};

#define BUS_OPTIONS_DEFAULT                                                                     \
        { .queue_depth = 64, .max_cids = 4096, .max_links_per_uid = 4096, .max_names = 64,     \
          .max_servers = 256, .max_queued = 1024, .max_shm_mb = 1024 }

/* Links a user may open beyond its limit, to be told so at Hello; past
 * these the daemon closes new links at once (its descriptors are finite). */
#define BUS_LINKS_GRACE 64

/* The gateway to other hosts (xnsgw), while one is attached (gateway.c). */
struct bus_gateway {
        struct conn *link;              /* its events go here; NULL: none attached */
        char host[XNS_HOST_MAX + 1];
        uint32_t n_exports;             /* names matching one are unique in the cluster */
        struct xns_name exports[XNS_EXPORTS_MAX];
        uint32_t next_ticket;
        struct list waiters;            /* conns in CONN_WAIT_GATEWAY */
        uint8_t *view;                  /* its last ClusterView, packed (control.c) */
        size_t view_len;
};

struct bus {
        struct bus_options opt;
        struct list conns;              /* every link, before and after Hello */
        struct list peers;
        void *servers;                  /* tsearch tree of struct server, by SID */
        struct users users;
        uint32_t n_servers;
        struct name_registry names;
        struct list name_waiters;       /* conns in CONN_WAIT_NAME */
        struct list sid_waiters;        /* conns in CONN_WAIT_SERVER */
        struct list dirty;              /* conns with frames to write or new I/O state */
        struct list dead;               /* disconnected conns for the loop to free */
        struct list monitors;           /* conns that asked for a monitor trace */
        struct list pumps;              /* servers with posted Scalars to hand out */
        struct list ring_ready;         /* conns whose ring needs a pass without a Kick */
        struct list chan_ready;         /* conns whose channel needs a pass without a ring */
        uint32_t n_conns;
        uint32_t n_peers;
        uint32_t n_monitors;
        uint32_t n_payload_monitors;    /* ... that asked for memory messages' memfds */
        uint64_t started_us;            /* CLOCK_MONOTONIC */
        uint32_t tag;                   /* w0 of the SIDs made here, never 0 */
        struct bus_gateway gw;
        const struct policy *policy;    /* NULL: no policy file */
        /* Told of every message that ends, while n_monitors > 0, with its
         * result (0 or a negative errno) and the answer its caller got (or
         * NULL): what a monitor shows. Set by the control part with the first. */
        void (*observer)(struct bus *bus, const struct message *m, int result,
                         const struct xns_reply *answer);
        /* Told of a name that goes away, and of a process that is gone,
         * while a gateway is attached. */
        void (*name_removed)(struct bus *bus, const struct name *name);
        void (*peer_gone)(struct bus *bus, const struct peer *peer);
};

struct bus_counts {
        uint32_t names, servers, processes, links, pending_calls;
};

void bus_init(struct bus *bus, const struct bus_options *opt);
void bus_deinit(struct bus *bus);

int bus_peer_attach(struct bus *bus, struct conn *conn, const uint8_t *token, const struct xns_origin *origin);
int bus_server_create(struct bus *bus, struct peer *owner, const struct xns_sid *sid, struct server **out);
struct server *bus_server_find(struct bus *bus, const struct xns_sid *sid);
void bus_server_destroy(struct bus *bus, struct server *server, int result);
int bus_conn_add(struct bus *bus, struct conn *conn);
void bus_conn_disconnect(struct conn *conn);
void bus_count(struct bus *bus, struct bus_counts *out);

/* Cheap enough for the hot path: nothing happens while no monitor listens. */
static inline void bus_observe(struct bus *bus, const struct message *m, int result,
                               const struct xns_reply *answer) {
        if (bus->n_monitors > 0 && bus->observer)
                bus->observer(bus, m, result, answer);
}
