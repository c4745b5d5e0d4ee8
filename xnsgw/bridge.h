/* bridge.h: the gateway itself: what xnsd asks of the cluster, messages to
 * proxies carried to their hosts, calls from other hosts carried into the
 * servers here, and what happens when a host falls silent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct bridge;

struct bridge_options {
        const char *socket_path;        /* the local xnsd */
        const char *nats_urls;
        const char *host;
        const char *const *exports;
        size_t n_exports;
        const char *creds_file;
        const char *tls_ca_file;
};

/* Attaches to xnsd and joins the cluster; negative errno, why says why. */
int bridge_new(struct bridge **out, struct event_base *base, const struct bridge_options *opt, char *why,
               size_t why_size);
/* Releases the names this host exported, then everything. */
struct bridge *bridge_free(struct bridge *b);
/* Set once xnsd is gone: the loop should end (the gateway exits with 1). */
bool bridge_failed(const struct bridge *b);
