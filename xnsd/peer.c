/* peer.c: one connected process: its credentials, links, CID table, servers
 * and the messages it has received and not yet answered. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lent.h"
#include "message.h"
#include "peer.h"
#include "utf8.h"

/* The process's command name, for xnsctl, as valid UTF-8; "?" when it
 * cannot be read. */
static void read_comm(pid_t pid, char comm[static 16]) {
        char path[32];
        ssize_t n = -1;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                n = read(fd, comm, 15);
                close(fd);
        }
        if (n <= 0)
                n = snprintf(comm, 16, "?");
        comm[n] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
        utf8_sanitize(comm);
}

int peer_new(struct peer **out, struct bus *bus, pid_t pid, uid_t uid, gid_t gid) {
        struct peer *peer = calloc(1, sizeof(*peer));

        if (!peer)
                return -ENOMEM;
        if (getrandom(peer->token, sizeof(peer->token), 0) != sizeof(peer->token)) {
                free(peer);
                return -EIO;
        }
        peer->bus = bus;
        peer->pid = pid;
        peer->uid = uid;
        peer->gid = gid;
        peer->link_pid = pid;
        peer->link_uid = uid;
        read_comm(pid, peer->comm);
        list_init(&peer->bus_link);
        list_init(&peer->conns);
        list_init(&peer->servers);
        list_init(&peer->sent);
        *out = peer;
        return 0;
}

/* Frees a peer whose links, servers and envelopes the bus has released. */
struct peer *peer_free(struct peer *peer) {
        if (!peer)
                return NULL;
        list_unlink(&peer->bus_link);
        free(peer->cids);
        free(peer->envelopes);
        free(peer->gids);
        lent_table_free(lent_forget_all(peer->kept));
        free(peer);
        return NULL;
}

/* The process's groups, as the kernel saw them when its link connected:
 * its primary group first, then SO_PEERGROUPS. */
int peer_read_groups(struct peer *peer, int fd) {
        socklen_t len = 32 * sizeof(gid_t);

        for (;;) {
                gid_t *gids = realloc(peer->gids, sizeof(gid_t) + len);
                socklen_t got = len;

                if (!gids)
                        return -ENOMEM;
                peer->gids = gids;
                gids[0] = peer->gid;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gids + 1, &got) == 0) {
                        peer->n_gids = 1 + got / sizeof(gid_t);
                        return 0;
                }
                if (errno != ERANGE || got <= len) {
                        peer->n_gids = 1;       /* an old kernel: the primary group only */
                        return 0;
                }
                len = got;
        }
}

/* Grows an array of n elements of size sz to at least want elements. */
static int grow(void *array, uint32_t *n, size_t sz, uint32_t want) {
        uint32_t cap = *n ? *n : 8;
        void *p;

        while (cap < want)
                cap *= 2;
        p = realloc(*(void **)array, (size_t)cap * sz);
        if (!p)
                return -ENOMEM;
        memset((char *)p + (size_t)*n * sz, 0, (size_t)(cap - *n) * sz);
        *(void **)array = p;
        *n = cap;
        return 0;
}

/*
 * peer_cid_add() - the CID for a server, new or the one already held.
 *
 * Connecting twice to one SID gives the same CID, as in Xous. -ENOSPC when
 * the process already holds max CIDs.
 */
int peer_cid_add(struct peer *peer, const struct xns_sid *sid, uint32_t max, uint32_t *cid) {
        uint32_t free_slot = UINT32_MAX;
        int r;

        for (uint32_t i = 0; i < peer->n_cids; i++) {
                if (peer->cids[i].used && xns_sid_equal(&peer->cids[i].sid, sid)) {
                        *cid = i + PEER_CID_FIRST;
                        return 0;
                }
                if (!peer->cids[i].used && free_slot == UINT32_MAX)
                        free_slot = i;
        }
        if (free_slot == UINT32_MAX) {
                if (peer->n_cids >= max)
                        return -ENOSPC;
                free_slot = peer->n_cids;
                r = grow(&peer->cids, &peer->n_cids, sizeof(*peer->cids), peer->n_cids + 1);
                if (r < 0)
                        return r;
        }
        if (free_slot >= max)
                return -ENOSPC;
        peer->cids[free_slot].used = true;
        peer->cids[free_slot].sid = *sid;
        *cid = free_slot + PEER_CID_FIRST;
        return 0;
}

const struct xns_sid *peer_cid_lookup(const struct peer *peer, uint32_t cid) {
        uint32_t i = cid - PEER_CID_FIRST;

        if (cid < PEER_CID_FIRST || i >= peer->n_cids || !peer->cids[i].used)
                return NULL;
        return &peer->cids[i].sid;
}

int peer_cid_remove(struct peer *peer, uint32_t cid) {
        uint32_t i = cid - PEER_CID_FIRST;

        if (!peer_cid_lookup(peer, cid))
                return -ENOENT;
        peer->cids[i].used = false;
        return 0;
}

/* Files a received message under a handle only this peer can answer. */
int peer_envelope_add(struct peer *peer, struct message *m, uint32_t gen) {
        uint32_t i;
        int r;

        for (i = 0; i < peer->n_envelopes; i++)
                if (!peer->envelopes[i])
                        break;
        if (i == peer->n_envelopes) {
                r = grow(&peer->envelopes, &peer->n_envelopes, sizeof(*peer->envelopes), i + 1);
                if (r < 0)
                        return r;
        }
        peer->envelopes[i] = m;
        m->holder = peer;
        m->handle = i + 1;
        m->gen = gen;
        return 0;
}

struct message *peer_envelope_get(const struct peer *peer, uint32_t handle, uint32_t gen) {
        struct message *m;

        if (handle == 0 || handle > peer->n_envelopes)
                return NULL;
        m = peer->envelopes[handle - 1];
        return m && m->gen == gen ? m : NULL;
}

void peer_envelope_remove(struct peer *peer, struct message *m) {
        peer->envelopes[m->handle - 1] = NULL;
        m->holder = NULL;
        m->handle = 0;
}
