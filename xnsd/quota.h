/* quota.h: limits and the accounting behind them: per user (links, shared
 * memory in flight) and per process (names, servers, CIDs, messages sent and
 * not yet finished). A limit that is hit fails one call with a documented
 * error and is logged once per offender; everyone else goes on. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct peer;

enum quota_kind {
        QUOTA_LINKS,            /* links per uid */
        QUOTA_SHM,              /* bytes of memory messages in flight per uid */
        QUOTA_NAMES,            /* names per process */
        QUOTA_SERVERS,          /* servers per process */
        QUOTA_CIDS,             /* connections per process */
        QUOTA_QUEUED,           /* messages in flight per sending process */
        _QUOTA_MAX,
};

/* Every uid with a link or a message in flight. */
struct users {
        void *root;                     /* tsearch tree of struct user, by uid */
};

/* One uid's usage; kept while a link or a message refers to it. */
struct user {
        struct users *users;
        uid_t uid;
        uint32_t n_refs;
        uint32_t links;
        uint64_t shm;
        uint32_t logged;        /* quota_kind bits already logged */
};

int user_ref(struct users *users, uid_t uid, struct user **out);
struct user *user_unref(struct user *user);
void users_deinit(struct users *users);

void quota_hit(struct user *user, struct peer *peer, pid_t pid, enum quota_kind kind);
