/* quota.c: limits and the accounting behind them: per user (links, shared
 * memory in flight) and per process (names, servers, CIDs, messages sent and
 * not yet finished). A limit that is hit fails one call with a documented
 * error and is logged once per offender; everyone else goes on. */
#include <errno.h>
#include <search.h>
#include <stdlib.h>

#include "log.h"
#include "peer.h"
#include "quota.h"

static const struct {
        const char *what;
        const char *option;
} quota_names[_QUOTA_MAX] = {
        [QUOTA_LINKS] = { "links per user", "--max-links-per-uid" },
        [QUOTA_SHM] = { "shared memory in flight per user", "--max-shm-mb" },
        [QUOTA_NAMES] = { "names per process", "--max-names" },
        [QUOTA_SERVERS] = { "servers per process", "--max-servers" },
        [QUOTA_CIDS] = { "connections per process", "--max-cids" },
        [QUOTA_QUEUED] = { "messages in flight per process", "--max-queued" },
};

static int user_compare(const void *a, const void *b) {
        uid_t x = ((const struct user *)a)->uid, y = ((const struct user *)b)->uid;

        return x < y ? -1 : x > y;
}

int user_ref(struct users *users, uid_t uid, struct user **out) {
        struct user key = { .uid = uid }, *user, **slot;

        slot = tfind(&key, &users->root, user_compare);
        if (slot) {
                (*slot)->n_refs++;
                *out = *slot;
                return 0;
        }
        user = calloc(1, sizeof(*user));
        if (!user)
                return -ENOMEM;
        user->users = users;
        user->uid = uid;
        user->n_refs = 1;
        if (!tsearch(user, &users->root, user_compare)) {
                free(user);
                return -ENOMEM;
        }
        *out = user;
        return 0;
}

struct user *user_unref(struct user *user) {
        if (!user || --user->n_refs > 0)
                return NULL;
        tdelete(user, &user->users->root, user_compare);
        free(user);
        return NULL;
}

static void user_free(void *user) {
        free(user);
}

void users_deinit(struct users *users) {
        tdestroy(users->root, user_free);
        users->root = NULL;
}

/* Logs one line the first time this user or process hits this limit. */
void quota_hit(struct user *user, struct peer *peer, pid_t pid, enum quota_kind kind) {
        uint32_t bit = 1u << kind, *logged = peer ? &peer->quota_logged : &user->logged;

        if (*logged & bit)
                return;
        *logged |= bit;
        log_info("pid %d (uid %u) hit the limit of %s (%s); further hits are not logged", (int)pid,
                 user ? (unsigned)user->uid : peer ? (unsigned)peer->uid : 0u, quota_names[kind].what,
                 quota_names[kind].option);
}
