/* policy.h: the optional policy file (--policy FILE): which users or groups
 * may register a name, and which may connect to it by name. Without a rule
 * for a name, anyone who may connect to xnsd may do either. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "wire.h"

enum policy_action {
        POLICY_OWN,                     /* xous_register_name */
        POLICY_CONNECT,                 /* xous_request_connection */
};

struct policy_who {
        bool group;                     /* gid, else uid */
        bool host;                      /* every process of host_name instead */
        unsigned id;
        char host_name[XNS_HOST_MAX + 1];
};

#define POLICY_WHO_MAX 16

struct policy_rule {
        enum policy_action action;
        char name[XNS_NAME_MAX + 1];    /* exact name, or a prefix when prefix is set */
        bool prefix;                    /* written NAME* */
        size_t n_who;
        struct policy_who who[POLICY_WHO_MAX];
};

struct policy {
        struct policy_rule *rules;
        size_t n_rules;
};

#define POLICY_INIT { 0 }

int policy_load(struct policy *p, const char *path, char *why, size_t why_size);
void policy_deinit(struct policy *p);
bool policy_allows(const struct policy *p, enum policy_action action, const char *name, const char *host, uid_t uid,
                   const gid_t *gids, size_t n_gids);
