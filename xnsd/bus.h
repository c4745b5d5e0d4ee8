/* bus.h: the daemon's whole state (processes, servers by SID, names, limits)
 * and the lifecycle rules that tie them together. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"
#include "name.h"
#include "wire.h"

struct conn;
struct peer;
struct server;

struct bus_options {
        uint32_t queue_depth;           /* slots per server queue */
        uint32_t max_cids;              /* CIDs per process */
};

#define BUS_OPTIONS_DEFAULT { .queue_depth = 64, .max_cids = 4096 }

struct bus {
        struct bus_options opt;
        struct list conns;              /* every link, before and after Hello */
        struct list peers;
        void *servers;                  /* tsearch tree of struct server, by SID */
        uint32_t n_servers;
        struct name_registry names;
        struct list name_waiters;       /* conns in CONN_WAIT_NAME */
        struct list sid_waiters;        /* conns in CONN_WAIT_SERVER */
        struct list dirty;              /* conns with frames to write or new I/O state */
        struct list dead;               /* disconnected conns for the loop to free */
        struct list monitors;           /* conns that asked for a monitor trace */
        uint32_t n_conns;
        uint32_t n_peers;
        uint32_t n_monitors;
        uint64_t started_us;            /* CLOCK_MONOTONIC */
};

struct bus_counts {
        uint32_t names, servers, processes, links, pending_calls;
};

void bus_init(struct bus *bus, const struct bus_options *opt);
void bus_deinit(struct bus *bus);

int bus_peer_attach(struct bus *bus, struct conn *conn, const uint8_t *token);
int bus_server_create(struct bus *bus, struct peer *owner, struct server **out);
struct server *bus_server_find(struct bus *bus, const struct xns_sid *sid);
void bus_server_destroy(struct bus *bus, struct server *server, uint32_t error);
void bus_conn_add(struct bus *bus, struct conn *conn);
void bus_conn_disconnect(struct conn *conn);
void bus_count(struct bus *bus, struct bus_counts *out);
uint64_t clock_us(int clock);
