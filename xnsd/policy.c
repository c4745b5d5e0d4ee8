/* policy.c: the optional policy file (--policy FILE): which users or groups
 * may register a name, and which may connect to it by name. Without a rule
 * for a name, anyone who may connect to xnsd may do either.
 *
 * One rule per line; '#' starts a comment:
 *
 *   own     NAME WHO...    only WHO may register NAME
 *   connect NAME WHO...    only WHO may connect to NAME by name
 *
 * NAME is a server name, in double quotes when it holds spaces; a final '*'
 * makes it a prefix ("audio.*"). WHO is uid=N, user=LOGIN, gid=N or
 * group=GROUP (a process's primary and supplementary groups count), all of
 * this host's processes only, or host=NAME: every process of that host of
 * the cluster (xnsgw), whose uid is only what its host says. When several
 * rules match a name, being named by any of them is enough. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse.h"
#include "policy.h"

#define POLICY_LINE_MAX 1024

DEFINE_CLEANUP(FILE *, fclose);
#define POLICY_TOKENS_MAX (2 + POLICY_WHO_MAX)

/* Splits a line into tokens in place: blanks separate, "..." keeps blanks. */
static int tokenize(char *line, char **tok, size_t max, size_t *n) {
        char *p = line;

        *n = 0;
        for (;;) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p || *p == '#' || *p == '\n')
                        return 0;
                if (*n == max)
                        return -E2BIG;
                if (*p == '"') {
                        tok[(*n)++] = ++p;
                        p = strchr(p, '"');
                        if (!p)
                                return -EINVAL;
                        *p++ = '\0';
                        if (*p && *p != ' ' && *p != '\t' && *p != '\n')
                                return -EINVAL;
                        continue;
                }
                tok[(*n)++] = p;
                p += strcspn(p, " \t\n");
                if (*p)
                        *p++ = '\0';
        }
}

static int parse_who(const char *s, struct policy_who *who, char *why, size_t why_size) {
        const char *v = strchr(s, '=');
        size_t key = v ? (size_t)(v - s) : 0;

        if (!v) {
                snprintf(why, why_size, "'%s' is not uid=, user=, gid=, group= or host=", s);
                return -EINVAL;
        }
        v++;
        if (key == 4 && !strncmp(s, "host", 4)) {
                if (!xns_host_valid(v, strlen(v))) {
                        snprintf(why, why_size, "'%s' is not a host name (letters, digits, '-', '_')", v);
                        return -EINVAL;
                }
                *who = (struct policy_who){ .host = true };
                memcpy(who->host_name, v, strlen(v) + 1);
                return 0;
        }
        if ((key == 3 && !strncmp(s, "uid", 3)) || (key == 3 && !strncmp(s, "gid", 3))) {
                who->group = s[0] == 'g';
                if (parse_u32(v, &who->id) == 0 && who->id != UINT32_MAX)     /* (uid_t)-1: no one */
                        return 0;
                snprintf(why, why_size, "'%s' is not a number", v);
                return -EINVAL;
        }
        if (key == 4 && !strncmp(s, "user", 4)) {
                struct passwd *pw = getpwnam(v);

                if (pw) {
                        *who = (struct policy_who){ .group = false, .id = pw->pw_uid };
                        return 0;
                }
                snprintf(why, why_size, "no user '%s'", v);
                return -ENOENT;
        }
        if (key == 5 && !strncmp(s, "group", 5)) {
                struct group *gr = getgrnam(v);

                if (gr) {
                        *who = (struct policy_who){ .group = true, .id = gr->gr_gid };
                        return 0;
                }
                snprintf(why, why_size, "no group '%s'", v);
                return -ENOENT;
        }
        snprintf(why, why_size, "'%.*s' is not uid, user, gid, group or host", (int)key, s);
        return -EINVAL;
}

static int parse_rule(char *line, struct policy_rule *rule, char *why, size_t why_size) {
        char *tok[POLICY_TOKENS_MAX + 1];
        size_t n, len;
        int r;

        r = tokenize(line, tok, ELEMENTSOF(tok), &n);
        if (r == -E2BIG) {
                snprintf(why, why_size, "more than %d users and groups in one rule", POLICY_WHO_MAX);
                return r;
        }
        if (r < 0) {
                snprintf(why, why_size, "a quoted name is not closed, or runs into the next word");
                return r;
        }
        if (n == 0)
                return 0;               /* blank or comment */
        if (strcmp(tok[0], "own") == 0)
                rule->action = POLICY_OWN;
        else if (strcmp(tok[0], "connect") == 0)
                rule->action = POLICY_CONNECT;
        else {
                snprintf(why, why_size, "'%s' is not 'own' or 'connect'", tok[0]);
                return -EINVAL;
        }
        if (n < 3) {
                snprintf(why, why_size, "a rule is: %s NAME WHO...", tok[0]);
                return -EINVAL;
        }
        len = strlen(tok[1]);
        rule->prefix = len > 0 && tok[1][len - 1] == '*';
        if (rule->prefix)
                tok[1][--len] = '\0';
        if ((!rule->prefix || len > 0) && !xns_name_valid(tok[1], len)) {
                snprintf(why, why_size, "'%s' is not a server name (1 to %d bytes of UTF-8)", tok[1], XNS_NAME_MAX);
                return -EINVAL;
        }
        memcpy(rule->name, tok[1], len + 1);
        rule->n_who = n - 2;
        for (size_t i = 2; i < n; i++) {
                r = parse_who(tok[i], &rule->who[i - 2], why, why_size);
                if (r < 0)
                        return r;
        }
        return 1;
}

/*
 * policy_load() - read a policy file.
 *
 * Returns 0, or a negative errno with why naming the file, line and fault;
 * p is left empty on failure.
 */
int policy_load(struct policy *p, const char *path, char *why, size_t why_size) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[POLICY_LINE_MAX + 2], fault[256];
        unsigned lineno = 0;
        int r;

        *p = (struct policy)POLICY_INIT;
        if (!f) {
                r = -errno;
                snprintf(why, why_size, "%s: %s", path, strerror(-r));
                return r;
        }
        while (fgets(line, sizeof(line), f)) {
                struct policy_rule rule = { 0 }, *rules;

                lineno++;
                if (strlen(line) > POLICY_LINE_MAX) {
                        snprintf(why, why_size, "%s:%u: line longer than %d bytes", path, lineno, POLICY_LINE_MAX);
                        policy_deinit(p);
                        return -EINVAL;
                }
                r = parse_rule(line, &rule, fault, sizeof(fault));
                if (r < 0) {
                        snprintf(why, why_size, "%s:%u: %s", path, lineno, fault);
                        policy_deinit(p);
                        return r;
                }
                if (r == 0)
                        continue;
                rules = reallocarray(p->rules, p->n_rules + 1, sizeof(*rules));
                if (!rules) {
                        snprintf(why, why_size, "%s: out of memory", path);
                        policy_deinit(p);
                        return -ENOMEM;
                }
                p->rules = rules;
                p->rules[p->n_rules++] = rule;
        }
        return 0;
}

void policy_deinit(struct policy *p) {
        free(p->rules);
        *p = (struct policy)POLICY_INIT;
}

static bool rule_matches(const struct policy_rule *rule, enum policy_action action, const char *name) {
        if (rule->action != action)
                return false;
        if (rule->prefix)
                return strncmp(name, rule->name, strlen(rule->name)) == 0;
        return strcmp(name, rule->name) == 0;
}

static bool rule_names(const struct policy_rule *rule, const char *host, uid_t uid, const gid_t *gids,
                       size_t n_gids) {
        for (size_t i = 0; i < rule->n_who; i++) {
                if (rule->who[i].host || host[0] != '\0') {
                        if (rule->who[i].host && strcmp(rule->who[i].host_name, host) == 0)
                                return true;
                        continue;
                }
                if (!rule->who[i].group && rule->who[i].id == uid)
                        return true;
                for (size_t k = 0; rule->who[i].group && k < n_gids; k++)
                        if (rule->who[i].id == gids[k])
                                return true;
        }
        return false;
}

/* True when no rule for action covers name, or one that does names the
 * process (of host, "" for this one). */
bool policy_allows(const struct policy *p, enum policy_action action, const char *name, const char *host, uid_t uid,
                   const gid_t *gids, size_t n_gids) {
        bool covered = false;

        for (size_t i = 0; p && i < p->n_rules; i++) {
                if (!rule_matches(&p->rules[i], action, name))
                        continue;
                if (rule_names(&p->rules[i], host, uid, gids, n_gids))
                        return true;
                covered = true;
        }
        return !covered;
}
