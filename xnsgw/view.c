/* view.c: what the gateway tells xnsd of the cluster for xnsctl (a
 * ClusterView of control.proto), built from plain structs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "control.pb-c.h"
#include "macro.h"
#include "view.h"

int view_pack(const struct view *v, uint8_t **out, size_t *len) {
        Xns__ClusterView pb = XNS__CLUSTER_VIEW__INIT;
        _cleanup_free_ Xns__ClusterHost *hosts = calloc(v->n_hosts + 1, sizeof(*hosts));
        _cleanup_free_ Xns__ClusterHost **host_ptrs = calloc(v->n_hosts + 1, sizeof(*host_ptrs));
        _cleanup_free_ Xns__ClusterName *names = calloc(v->n_names + 1, sizeof(*names));
        _cleanup_free_ Xns__ClusterName **name_ptrs = calloc(v->n_names + 1, sizeof(*name_ptrs));
        _cleanup_free_ char *sids = calloc(v->n_names + 1, 33);

        if (!hosts || !host_ptrs || !names || !name_ptrs || !sids)
                return -ENOMEM;
        pb.nats_url = (char *)v->nats_url;
        for (size_t i = 0; i < v->n_hosts; i++) {
                xns__cluster_host__init(&hosts[i]);
                hosts[i].name = (char *)v->hosts[i].name;
                hosts[i].tag = v->hosts[i].tag;
                host_ptrs[i] = &hosts[i];
        }
        for (size_t i = 0; i < v->n_names; i++) {
                const struct xns_sid *s = &v->names[i].sid;
                char *sid = sids + i * 33;

                snprintf(sid, 33, "%08x%08x%08x%08x", s->w[0], s->w[1], s->w[2], s->w[3]);
                xns__cluster_name__init(&names[i]);
                names[i].name = (char *)v->names[i].name;
                names[i].host = (char *)v->names[i].host;
                names[i].sid = sid;
                names[i].max_conns = v->names[i].max_conns;
                name_ptrs[i] = &names[i];
        }
        pb.n_hosts = v->n_hosts;
        pb.hosts = host_ptrs;
        pb.n_names = v->n_names;
        pb.names = name_ptrs;
        *len = xns__cluster_view__get_packed_size(&pb);
        *out = malloc(*len ? *len : 1);
        if (!*out)
                return -ENOMEM;
        xns__cluster_view__pack(&pb, *out);
        return 0;
}
