/* name.h: the registry of server names (xous-names): unique names, each with
 * its connection limit for Xous's trust-on-first-use model. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct server;

struct name {
        char str[XNS_NAME_MAX + 1];
        struct server *server;
        uint32_t max_conns;             /* 0 = unlimited */
        uint32_t granted;
        uint32_t claim_ticket;          /* not 0: the cluster has not yet said it is ours */
};

struct name_registry {
        void *root;                     /* tsearch tree of struct name, by str */
        uint32_t count;
        uint32_t limited_open;          /* limited names not yet full */
};

#define NAME_REGISTRY_INIT { 0 }

void name_registry_deinit(struct name_registry *reg);
int name_registry_add(struct name_registry *reg, const char *str, uint32_t max_conns,
                      struct server *server, struct name **out);
struct name *name_registry_find(struct name_registry *reg, const char *str);
void name_registry_remove(struct name_registry *reg, struct name *name);
bool name_full(const struct name *name);
int name_grant(struct name_registry *reg, struct name *name);
bool name_registry_trusted_init_done(const struct name_registry *reg);
