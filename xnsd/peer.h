/* peer.h: one connected process: its credentials, links, CID table, servers
 * and the messages it has received and not yet answered. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"
#include "wire.h"

struct bus;
struct message;

#define PEER_CID_FIRST 2                /* CIDs 0 and 1 are never valid, as in Xous */

struct peer_cid {
        bool used;
        struct xns_sid sid;
};

struct peer {
        struct bus *bus;
        struct list bus_link;
        pid_t pid;
        uid_t uid;
        gid_t gid;
        char host[XNS_HOST_MAX + 1];    /* "": this host; else a remote process, as its gateway says */
        pid_t link_pid;                 /* SO_PEERCRED of its links: the gateway's for a remote one */
        uid_t link_uid;
        bool gateway;                   /* the attached gateway (xnsgw): no per-process limits */
        uint8_t token[XNS_TOKEN_LEN];
        char comm[16];                  /* /proc/PID/comm when it connected */
        gid_t *gids;                    /* primary group, then supplementary (SO_PEERGROUPS) */
        size_t n_gids;

        struct list conns;
        struct list servers;

        struct peer_cid *cids;          /* index = cid - PEER_CID_FIRST */
        uint32_t n_cids;

        struct message **envelopes;     /* index = handle - 1 */
        uint32_t n_envelopes;

        uint32_t n_names, n_servers;
        struct list sent;               /* messages it sent, not finished (message.sent_link) */
        uint32_t n_sent;
        uint32_t quota_logged;          /* quota_kind bits already logged */

        bool keeps_bufs;                /* said Hello.buffers: deliveries name buffers its links keep */
        struct lent_table *kept;        /* buffers it lends, by its numbers (BufKeep) */
};

int peer_new(struct peer **out, struct bus *bus, pid_t pid, uid_t uid, gid_t gid);
struct peer *peer_free(struct peer *peer);
int peer_read_groups(struct peer *peer, int fd);

int peer_cid_add(struct peer *peer, const struct xns_sid *sid, uint32_t max, uint32_t *cid);
const struct xns_sid *peer_cid_lookup(const struct peer *peer, uint32_t cid);
int peer_cid_remove(struct peer *peer, uint32_t cid);

int peer_envelope_add(struct peer *peer, struct message *m, uint32_t gen);
struct message *peer_envelope_get(const struct peer *peer, uint32_t handle, uint32_t gen);
void peer_envelope_remove(struct peer *peer, struct message *m);
