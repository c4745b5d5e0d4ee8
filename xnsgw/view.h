/* view.h: what the gateway tells xnsd of the cluster for xnsctl (a
 * ClusterView of control.proto), built from plain structs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct view_host {
        const char *name;
        uint32_t tag;
};

struct view_name {
        const char *name, *host;
        struct xns_sid sid;
        uint32_t max_conns;
};

struct view {
        const char *nats_url;
        size_t n_hosts, n_names;
        const struct view_host *hosts;
        const struct view_name *names;
};

/* Packs v into a malloc'd buffer; 0 or -ENOMEM. */
int view_pack(const struct view *v, uint8_t **out, size_t *len);
