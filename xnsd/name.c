/* name.c: the registry of server names (xous-names): unique names, each with
 * its connection limit for Xous's trust-on-first-use model. */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

static int name_compare(const void *a, const void *b) {
        return strcmp(((const struct name *)a)->str, ((const struct name *)b)->str);
}

static bool name_is_open(const struct name *name) {
        return name->max_conns > 0 && name->granted < name->max_conns;
}

void name_registry_deinit(struct name_registry *reg) {
        tdestroy(reg->root, free);
        *reg = (struct name_registry)NAME_REGISTRY_INIT;
}

/* Adds a name (already checked by xns_name_valid); -EEXIST if taken. */
int name_registry_add(struct name_registry *reg, const char *str, uint32_t max_conns,
                      struct server *server, struct name **out) {
        struct name *name = calloc(1, sizeof(*name));
        struct name **slot;

        if (!name)
                return -ENOMEM;
        strncpy(name->str, str, XNS_NAME_MAX);
        name->server = server;
        name->max_conns = max_conns;
        slot = tsearch(name, &reg->root, name_compare);
        if (!slot) {
                free(name);
                return -ENOMEM;
        }
        if (*slot != name) {
                free(name);
                return -EEXIST;
        }
        reg->count++;
        if (name_is_open(name))
                reg->limited_open++;
        *out = name;
        return 0;
}

struct name *name_registry_find(struct name_registry *reg, const char *str) {
        struct name key;
        struct name **slot;

        strncpy(key.str, str, XNS_NAME_MAX);
        key.str[XNS_NAME_MAX] = '\0';
        slot = tfind(&key, &reg->root, name_compare);
        return slot ? *slot : NULL;
}

void name_registry_remove(struct name_registry *reg, struct name *name) {
        if (name_is_open(name))
                reg->limited_open--;
        tdelete(name, &reg->root, name_compare);
        reg->count--;
        free(name);
}

bool name_full(const struct name *name) {
        return name->max_conns > 0 && name->granted >= name->max_conns;
}

/* Counts one more connection handed out for the name; -EACCES when full. */
int name_grant(struct name_registry *reg, struct name *name) {
        if (name_full(name))
                return -EACCES;
        name->granted++;
        if (name->max_conns > 0 && name->granted == name->max_conns)
                reg->limited_open--;
        return 0;
}

/* True when every name registered with a limit has handed out all its
 * connections: the trusted processes have connected first. */
bool name_registry_trusted_init_done(const struct name_registry *reg) {
        return reg->limited_open == 0;
}
