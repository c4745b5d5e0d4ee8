/* registry.h: the names exported to the whole cluster, in a JetStream KV
 * bucket (xns-names): claims, releases, lookups, and a watch of every change.
 * Blocking JetStream calls run on a worker thread; results come back on the
 * loop thread. */
#pragma once

#include <stdint.h>

#include "frame.h"

struct event_base;
struct cluster;
struct registry;

#define REGISTRY_BUCKET "xns-names"
#define REGISTRY_CLAIM_MS 15000         /* past it a claim fails with -ESHUTDOWN */

struct registry_entry {
        char name[XNS_NAME_MAX + 1];
        char host[FRAME_HOST_MAX + 1];
        struct xns_sid sid;
        uint32_t max_conns;
        uint64_t epoch;                 /* the owner gateway's */
};

struct registry_hooks {
        void *userdata;
        /* A name was put (e != NULL) or deleted (e == NULL, name given) anywhere. */
        void (*changed)(void *userdata, const char *name, const struct registry_entry *e);
};

typedef void (*registry_done_fn)(void *userdata, int result, const struct registry_entry *e);

int registry_new(struct registry **out, struct event_base *base, struct cluster *cluster,
                 const char *host, const struct registry_hooks *hooks);
struct registry *registry_free(struct registry *reg);

/* Each calls done once, on the loop thread: claim with 0 / -EEXIST (e: the
 * holder, when known) / -ESHUTDOWN; lookup with 0 and e / -ENOENT / -ESHUTDOWN;
 * release with 0 or an error (done may be NULL). 0 or -ENOMEM from the call. */
int registry_claim(struct registry *reg, const struct registry_entry *e, registry_done_fn done, void *userdata);
int registry_claim_from(struct registry *reg, const struct registry_entry *e, const char *from, registry_done_fn done,
                        void *userdata);
int registry_release(struct registry *reg, const char *name, registry_done_fn done, void *userdata);
int registry_lookup(struct registry *reg, const char *name, registry_done_fn done, void *userdata);
/* Releases, now and from now on, names a previous gateway of ours (any epoch
 * but this one) holds; done hears each (0: released, -ENOENT: not stale). */
void registry_drop_stale(struct registry *reg, uint64_t epoch, registry_done_fn done, void *userdata);
/* Every entry the watch has seen so far (the cache), for xnsctl list. */
size_t registry_each(struct registry *reg, void (*each)(void *userdata, const struct registry_entry *e),
                     void *userdata);
